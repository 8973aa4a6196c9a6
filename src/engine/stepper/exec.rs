//! Running calls: the stepper that owns a script's sockets, makes each
//! call as a real syscall and cancels a blocking one; the session thread
//! that feeds it commands.

use super::*;

/// A handle that interrupts a blocking call on the stepper's thread.
#[derive(Clone, Default)]
pub struct Canceller {
    thread: Arc<AtomicU64>,
}

impl Canceller {
    /// Interrupts the call in progress (it returns EINTR); does nothing
    /// between calls.
    pub fn cancel(&self) {
        let t = self.thread.load(Ordering::SeqCst);
        if t != 0 {
            // SAFETY: t is the pthread_t of the live stepper thread, stored
            // while it runs a call; the handler installed below does nothing.
            unsafe {
                libc::pthread_kill(t as libc::pthread_t, libc::SIGUSR2);
            }
        }
    }
}

extern "C" fn on_cancel(_: libc::c_int) {}

/// Installs a do-nothing SIGUSR2 handler without SA_RESTART, so a blocked
/// syscall returns EINTR instead of being restarted.
fn install_cancel_handler() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // SAFETY: a plain sigaction with a handler that only returns.
        unsafe {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = on_cancel as *const () as usize;
            libc::sigemptyset(&mut sa.sa_mask);
            sa.sa_flags = 0;
            libc::sigaction(libc::SIGUSR2, &sa, std::ptr::null_mut());
        }
    });
}

/// The sockets of one stepper, by variable name.
pub struct Stepper {
    socks: HashMap<String, Socket>,
    /// Last known socknames, for `@var` (kept after close).
    names: HashMap<String, SockAddr>,
    /// The backlog each listening socket was given.
    backlogs: HashMap<String, i32>,
    canceller: Canceller,
}

fn parse_addr(s: &str) -> Result<SockAddr, String> {
    if s.starts_with('/') || s.starts_with('.') {
        return crate::engine::spec::unix_addr(s).map_err(|e| format!("'{s}': {e}"));
    }
    let hp = crate::engine::spec::HostPort::parse(s)?;
    let ip = hp.host.parse::<std::net::IpAddr>().map_err(|_| {
        format!(
            "'{}' is not an IP address; step mode takes literals (127.0.0.1, ::1)",
            hp.host
        )
    })?;
    Ok(SocketAddr::new(ip, hp.port).into())
}

impl Default for Stepper {
    fn default() -> Self {
        Stepper::new(Canceller::default())
    }
}

impl Stepper {
    /// A stepper whose blocking calls `canceller` can interrupt.
    pub fn new(canceller: Canceller) -> Stepper {
        install_cancel_handler();
        Stepper {
            socks: HashMap::new(),
            names: HashMap::new(),
            backlogs: HashMap::new(),
            canceller,
        }
    }

    /// The socket variables that are open.
    pub fn vars(&self) -> Vec<String> {
        let mut v: Vec<String> = self.socks.keys().cloned().collect();
        v.sort();
        v
    }

    fn sock(&self, var: &str, op: &str) -> Result<&Socket, OpError> {
        self.socks.get(var).ok_or_else(|| {
            OpError::io(op, &io::Error::from_raw_os_error(libc::EBADF)).with_hint(format!(
                "no open socket named '{var}': call socket() first (or it was closed)"
            ))
        })
    }

    fn addr(&self, a: &AddrArg, op: &str) -> Result<SockAddr, OpError> {
        if let Some(var) = a.0.strip_prefix('@') {
            return self
                .names
                .get(var)
                .cloned()
                .ok_or_else(|| OpError::plain(op, format!("'{var}' has no known address yet: call {var}.getsockname() (or bind it) first")));
        }
        parse_addr(&a.0).map_err(|m| OpError::plain(op, m))
    }

    fn remember_name(&mut self, var: &str) {
        if let Some(s) = self.socks.get(var)
            && let Ok(a) = s.local_addr()
        {
            self.names.insert(var.to_string(), a);
        }
    }

    /// Runs one call for real and reports it.
    pub fn call(&mut self, call: &Call) -> CallRecord {
        // SAFETY: pthread_self has no preconditions.
        let me = unsafe { libc::pthread_self() } as u64;
        self.canceller.thread.store(me, Ordering::SeqCst);
        let start = Instant::now();
        let result = self.run(call);
        self.canceller.thread.store(0, Ordering::SeqCst);
        let took = start.elapsed();
        // EAGAIN means "timed out" on a blocking socket (SO_RCVTIMEO or
        // SO_SNDTIMEO expired) and "not ready" on a non-blocking one.
        let blocking = self
            .socks
            .get(call.var())
            .is_some_and(|s| s.nonblocking().map(|nb| !nb).unwrap_or(false));
        let timed_out = blocking && matches!(&result, Err(e) if e.is(libc::EAGAIN));
        let result = result.map_err(|mut e| {
            if e.is(libc::EINTR) {
                e.hint = Some("cancelled: the call was interrupted (EINTR) before it finished".into());
            } else if timed_out {
                e.hint = Some(format!(
                    "timed out after {:.3} s: the socket's timeout expired (Python raises socket.timeout)",
                    took.as_secs_f64()
                ));
            } else if e.is(libc::EAGAIN) {
                e.hint = Some(
                    "the socket is non-blocking and the call could not complete now (Python raises BlockingIOError)".into(),
                );
            }
            e
        });
        CallRecord {
            call: call.clone(),
            result,
            timed_out,
            took,
        }
    }

    fn run(&mut self, call: &Call) -> Result<Outcome, OpError> {
        call.check().map_err(|m| OpError::plain(call.name(), m))?;
        let op = call.text();
        let io = |e: io::Error| OpError::io(op.clone(), &e);
        match call {
            Call::Socket { var, family, ty } => {
                let domain = match family {
                    Family::Inet => Domain::IPV4,
                    Family::Inet6 => Domain::IPV6,
                    Family::Unix => Domain::UNIX,
                };
                let t = match ty {
                    SockType::Stream => Type::STREAM,
                    SockType::Dgram => Type::DGRAM,
                };
                let s = Socket::new(domain, t, None).map_err(io)?;
                let fd = s.as_raw_fd();
                // Python closes a socket whose variable is reassigned.
                self.socks.insert(var.clone(), s);
                Ok(Outcome::Int(fd.into()))
            }
            Call::SetSockOpt { var, opt } => {
                let s = self.sock(var, &op)?;
                options::apply(&SockRef::from(s), *opt).map_err(io)?;
                Ok(Outcome::Nothing)
            }
            Call::GetSockOpt { var, opt } => {
                let s = self.sock(var, &op)?;
                options::read(&SockRef::from(s), *opt)
                    .map(Outcome::Text)
                    .map_err(io)
            }
            Call::SetTimeout { var, secs } => {
                let s = self.sock(var, &op)?;
                match secs {
                    Some(t) if *t <= 0.0 => s.set_nonblocking(true).map_err(io)?,
                    other => {
                        // The kernel's own timeouts, as a C program sets them.
                        // A value under a microsecond would be a zero
                        // timeval, which means "no timeout": Python times
                        // out at once, so the smallest real timeout it is.
                        let d = other.map(|t| {
                            Duration::try_from_secs_f64(t)
                                .unwrap_or(Duration::MAX)
                                .max(Duration::from_micros(1))
                        });
                        s.set_nonblocking(false).map_err(io)?;
                        s.set_read_timeout(d).map_err(io)?;
                        s.set_write_timeout(d).map_err(io)?;
                    }
                }
                Ok(Outcome::Nothing)
            }
            Call::GetTimeout { var } => {
                let s = self.sock(var, &op)?;
                if s.nonblocking().map_err(io)? {
                    return Ok(Outcome::Text("0.0".into()));
                }
                Ok(Outcome::Text(match s.read_timeout().map_err(io)? {
                    None => "None".into(),
                    Some(d) => d.as_secs_f64().to_string(),
                }))
            }
            Call::SetBlocking { var, flag } => {
                let s = self.sock(var, &op)?;
                s.set_nonblocking(!flag).map_err(io)?;
                if *flag {
                    // Python's setblocking(True) also clears the timeout.
                    s.set_read_timeout(None).map_err(io)?;
                    s.set_write_timeout(None).map_err(io)?;
                }
                Ok(Outcome::Nothing)
            }
            Call::Bind { var, addr } => {
                let a = self.addr(addr, &op)?;
                self.sock(var, &op)?.bind(&a).map_err(io)?;
                self.remember_name(var);
                Ok(Outcome::Nothing)
            }
            Call::Listen { var, backlog } => {
                self.sock(var, &op)?.listen(*backlog).map_err(io)?;
                self.backlogs.insert(var.clone(), *backlog);
                Ok(Outcome::Nothing)
            }
            Call::Accept { var, into } => {
                let (s, peer) = self.sock(var, &op)?.accept().map_err(io)?;
                let fd = s.as_raw_fd();
                self.socks.insert(into.clone(), s);
                self.remember_name(into);
                Ok(Outcome::Accepted {
                    var: into.clone(),
                    peer: Addr::from_sockaddr(&peer),
                    fd,
                })
            }
            Call::Connect { var, addr } => {
                let a = self.addr(addr, &op)?;
                self.sock(var, &op)?.connect(&a).map_err(io)?;
                self.remember_name(var);
                Ok(Outcome::Nothing)
            }
            Call::ConnectEx { var, addr } => {
                let a = self.addr(addr, &op)?;
                let r = self.sock(var, &op)?.connect(&a);
                self.remember_name(var);
                Ok(Outcome::Int(match r {
                    Ok(()) => 0,
                    Err(e) => e.raw_os_error().unwrap_or(-1).into(),
                }))
            }
            Call::Send { var, data } => {
                let n = self.sock(var, &op)?.send(data).map_err(io)?;
                Ok(Outcome::Int(n as i64))
            }
            Call::SendAll { var, data } => {
                let s = self.sock(var, &op)?;
                let mut off = 0;
                while off < data.len() {
                    match s.send(&data[off..]) {
                        Ok(n) => off += n,
                        Err(e) => {
                            let mut err = OpError::io(op.clone(), &e);
                            err.message = format!(
                                "{} ({off} of {} bytes were sent)",
                                err.message,
                                data.len()
                            );
                            return Err(err);
                        }
                    }
                }
                Ok(Outcome::Nothing)
            }
            Call::SendTo { var, data, addr } => {
                let a = self.addr(addr, &op)?;
                let n = self.sock(var, &op)?.send_to(data, &a).map_err(io)?;
                self.remember_name(var);
                Ok(Outcome::Int(n as i64))
            }
            Call::Recv { var, n } => {
                let mut buf = vec![0u8; (*n).clamp(1, 16 << 20)];
                let mut s: &Socket = self.sock(var, &op)?;
                let k = s.read(&mut buf).map_err(io)?;
                buf.truncate(k);
                Ok(Outcome::Bytes(buf))
            }
            Call::RecvFrom { var, n } => {
                let cap = (*n).clamp(1, 16 << 20);
                let mut buf = vec![MaybeUninit::<u8>::uninit(); cap];
                let (k, from) = self
                    .sock(var, &op)?
                    .recv_from_with_flags(&mut buf, libc::MSG_TRUNC)
                    .map_err(io)?;
                let kept = k.min(cap);
                // SAFETY: recvfrom initialised the first `kept` bytes.
                let data =
                    unsafe { std::slice::from_raw_parts(buf.as_ptr().cast::<u8>(), kept) }.to_vec();
                Ok(Outcome::BytesFrom {
                    data,
                    from: Addr::from_sockaddr(&from),
                    truncated_from: (k > cap).then_some(k),
                })
            }
            Call::Shutdown { var, how } => {
                let h = match how {
                    How::Read => Shutdown::Read,
                    How::Write => Shutdown::Write,
                    How::Both => Shutdown::Both,
                };
                self.sock(var, &op)?.shutdown(h).map_err(io)?;
                Ok(Outcome::Nothing)
            }
            Call::Close { var } => {
                self.sock(var, &op)?;
                self.socks.remove(var);
                Ok(Outcome::Nothing)
            }
            Call::GetSockName { var } => {
                let a = self.sock(var, &op)?.local_addr().map_err(io)?;
                self.names.insert(var.clone(), a.clone());
                Ok(Outcome::Addr(Addr::from_sockaddr(&a)))
            }
            Call::GetPeerName { var } => {
                let a = self.sock(var, &op)?.peer_addr().map_err(io)?;
                Ok(Outcome::Addr(Addr::from_sockaddr(&a)))
            }
            Call::FileNo { var } => Ok(Outcome::Int(self.sock(var, &op)?.as_raw_fd().into())),
            Call::ReadExactly { var, n } => {
                let mut s: &Socket = self.sock(var, &op)?;
                let mut out = Vec::with_capacity(*n);
                let mut buf = vec![0u8; (*n).clamp(1, 1 << 16)];
                while out.len() < *n {
                    let want = (*n - out.len()).min(buf.len());
                    let k = s.read(&mut buf[..want]).map_err(io)?;
                    if k == 0 {
                        return Err(OpError::plain(
                            op,
                            format!("EOF after {} of {n} bytes (IncompleteReadError)", out.len()),
                        ));
                    }
                    out.extend_from_slice(&buf[..k]);
                }
                Ok(Outcome::Bytes(out))
            }
            Call::ReadUntil { var, sep } => {
                let mut s: &Socket = self.sock(var, &op)?;
                if sep.is_empty() {
                    return Err(OpError::plain(op, "the separator is empty"));
                }
                let mut out = Vec::new();
                let mut byte = [0u8; 1];
                // Byte by byte, so nothing after the separator is consumed.
                loop {
                    let k = s.read(&mut byte).map_err(io)?;
                    if k == 0 {
                        return Err(OpError::plain(
                            op,
                            format!(
                                "EOF before the separator, after {} bytes (IncompleteReadError)",
                                out.len()
                            ),
                        ));
                    }
                    out.push(byte[0]);
                    if out.ends_with(sep) {
                        return Ok(Outcome::Bytes(out));
                    }
                    if out.len() > 1 << 20 {
                        return Err(OpError::plain(
                            op,
                            "no separator in 1 MiB (LimitOverrunError)",
                        ));
                    }
                }
            }
            Call::Backlog { var } => {
                let s = self.sock(var, &op)?;
                let local = s.local_addr().map_err(io)?;
                let given = self.backlogs.get(var).copied();
                backlog_of(&local)
                    .map(|queued| {
                        let limit = given.map_or(String::new(), |b| {
                            format!(
                                " (listen({b}): Linux queues up to {} before it stops answering)",
                                b.saturating_add(1)
                            )
                        });
                        Outcome::Text(format!(
                            "{queued} connection(s) queued, not yet accepted{limit}"
                        ))
                    })
                    .map_err(|m| OpError::plain(op, m))
            }
        }
    }
}

/// Reads a listener's accept queue from /proc/net/tcp{,6}: for a LISTEN
/// socket the kernel reports the number of queued connections as rx_queue.
pub fn backlog_of(local: &SockAddr) -> Result<u64, String> {
    let Some(sa) = local.as_socket() else {
        return Err("the backlog is read for TCP listeners only".into());
    };
    let file = if sa.is_ipv6() {
        "/proc/net/tcp6"
    } else {
        "/proc/net/tcp"
    };
    let text = std::fs::read_to_string(file).map_err(|e| format!("{file}: {e}"))?;
    let port = format!("{:04X}", sa.port());
    for line in text.lines().skip(1) {
        let f: Vec<&str> = line.split_whitespace().collect();
        // local_address is HEXIP:PORT, st 0A is LISTEN, then tx:rx.
        if f.len() > 4
            && f[1].ends_with(&format!(":{port}"))
            && f[3] == "0A"
            && let Some((_, rx)) = f[4].split_once(':')
        {
            return Ok(u64::from_str_radix(rx, 16).unwrap_or(0));
        }
    }
    Err(format!(
        "no listening socket on port {} in {file}",
        sa.port()
    ))
}

/// Runs the calls in order on a fresh stepper (replay, `sockscope run`).
pub fn run_script(calls: &[Call], mut each: impl FnMut(&CallRecord)) -> Vec<CallRecord> {
    let mut st = Stepper::default();
    calls
        .iter()
        .map(|c| {
            let r = st.call(c);
            each(&r);
            r
        })
        .collect()
}

/// A step-mode session: the script's calls, then (when kept open) each
/// `Command::Step` as it comes; one real, blocking syscall per call, on
/// the session's own thread (blocking is the point).
pub(crate) struct StepSession {
    spec: crate::engine::SessionSpec,
    canceller: Canceller,
}

impl StepSession {
    pub(crate) fn new(spec: crate::engine::SessionSpec, canceller: Canceller) -> StepSession {
        StepSession { spec, canceller }
    }
}

impl crate::engine::session::Run for StepSession {
    fn run(
        self: Box<Self>,
        cx: &mut crate::engine::session::Context,
    ) -> crate::engine::session::End {
        use crate::engine::protocol::{CloseReason, Command, EventKind};
        use crate::engine::session::End;
        use crate::engine::spec::SessionKind;
        let top = cx.top;
        let sink = &mut cx.sink;
        let SessionKind::Script { calls, keep_open } = self.spec.kind else {
            return End::uncounted(CloseReason::Error(OpError::plain(
                "step mode",
                "not a script session",
            )));
        };
        let mut st = Stepper::new(self.canceller);
        let mut index = 0usize;
        let mut step = |st: &mut Stepper, sink: &mut crate::engine::sink::Sink, call: &Call| {
            let record = st.call(call);
            sink.control(
                top,
                EventKind::Call {
                    index,
                    record: Box::new(record),
                },
            );
            sink.flush();
            sink.wake();
            index += 1;
        };
        for c in &calls {
            step(&mut st, sink, c);
        }
        let reason = if !keep_open {
            CloseReason::ScriptDone
        } else {
            loop {
                match cx.cmds.recv() {
                    Ok(Command::Step { call, .. }) => step(&mut st, sink, &call),
                    Ok(Command::Close { .. }) | Ok(Command::Abort { .. }) => {
                        break CloseReason::Local;
                    }
                    Ok(other) => {
                        sink.control(
                            top,
                            EventKind::Error(OpError::plain(
                                "command",
                                format!("a step-mode session takes calls, not {other:?}"),
                            )),
                        );
                        sink.flush();
                        sink.wake();
                    }
                    Err(_) => break CloseReason::EngineStopped,
                }
            }
        };
        // Every socket the script left open is closed with the session.
        drop(st);
        End::uncounted(reason)
    }
}
