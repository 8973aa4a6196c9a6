//! Step mode: the socket API one call at a time, on real sockets, with the
//! kernel's answer for each. Calls run on the session's own thread as real
//! (possibly blocking) syscalls; a blocking call is cancelled by a signal,
//! which makes the syscall return EINTR, the way a C program would do it,
//! without touching the socket's state.

use std::collections::HashMap;
use std::io::{self, Read};
use std::mem::MaybeUninit;
use std::net::{Shutdown, SocketAddr};
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use socket2::{Domain, SockAddr, SockRef, Socket, Type};

use super::error::OpError;
use super::options::{self, OptName, SockOpt};
use super::protocol::Addr;

/// The address family of `socket()`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Family {
    /// AF_INET
    Inet,
    /// AF_INET6
    Inet6,
    /// AF_UNIX
    Unix,
}

/// The type of `socket()`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SockType {
    /// SOCK_STREAM
    Stream,
    /// SOCK_DGRAM
    Dgram,
}

/// `shutdown(how)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum How {
    /// SHUT_RD
    Read,
    /// SHUT_WR
    Write,
    /// SHUT_RDWR
    Both,
}

/// An address argument: literal, or `@var` for the sockname another socket
/// reported (a server bound to port 0).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AddrArg(pub String);

/// One call of the socket API, on the socket named `var`.
#[derive(Clone, Debug, PartialEq)]
pub enum Call {
    /// `var = socket(family, type)`
    Socket {
        /// Variable.
        var: String,
        /// AF_*.
        family: Family,
        /// SOCK_*.
        ty: SockType,
    },
    /// `var.setsockopt(...)`
    SetSockOpt {
        /// Variable.
        var: String,
        /// Option and value.
        opt: SockOpt,
    },
    /// `var.getsockopt(...)`
    GetSockOpt {
        /// Variable.
        var: String,
        /// Which option.
        opt: OptName,
    },
    /// `var.settimeout(secs)`: None blocks forever, 0 is non-blocking.
    SetTimeout {
        /// Variable.
        var: String,
        /// Seconds.
        secs: Option<f64>,
    },
    /// `var.gettimeout()`
    GetTimeout {
        /// Variable.
        var: String,
    },
    /// `var.setblocking(flag)`
    SetBlocking {
        /// Variable.
        var: String,
        /// Blocking?
        flag: bool,
    },
    /// `var.bind(addr)`
    Bind {
        /// Variable.
        var: String,
        /// Address.
        addr: AddrArg,
    },
    /// `var.listen(backlog)`
    Listen {
        /// Variable.
        var: String,
        /// Backlog.
        backlog: i32,
    },
    /// `into, addr = var.accept()`
    Accept {
        /// Listening variable.
        var: String,
        /// Variable for the accepted socket.
        into: String,
    },
    /// `var.connect(addr)`
    Connect {
        /// Variable.
        var: String,
        /// Address.
        addr: AddrArg,
    },
    /// `var.connect_ex(addr)`: the errno instead of an error.
    ConnectEx {
        /// Variable.
        var: String,
        /// Address.
        addr: AddrArg,
    },
    /// `var.send(data)`: one call, may write less.
    Send {
        /// Variable.
        var: String,
        /// Bytes.
        data: Vec<u8>,
    },
    /// `var.sendall(data)`
    SendAll {
        /// Variable.
        var: String,
        /// Bytes.
        data: Vec<u8>,
    },
    /// `var.sendto(data, addr)`
    SendTo {
        /// Variable.
        var: String,
        /// Bytes.
        data: Vec<u8>,
        /// Destination.
        addr: AddrArg,
    },
    /// `var.recv(n)`
    Recv {
        /// Variable.
        var: String,
        /// Buffer size.
        n: usize,
    },
    /// `var.recvfrom(n)` (MSG_TRUNC tells a datagram's real size)
    RecvFrom {
        /// Variable.
        var: String,
        /// Buffer size.
        n: usize,
    },
    /// `var.shutdown(how)`
    Shutdown {
        /// Variable.
        var: String,
        /// Which side.
        how: How,
    },
    /// `var.close()`
    Close {
        /// Variable.
        var: String,
    },
    /// `var.getsockname()`
    GetSockName {
        /// Variable.
        var: String,
    },
    /// `var.getpeername()`
    GetPeerName {
        /// Variable.
        var: String,
    },
    /// `var.fileno()`
    FileNo {
        /// Variable.
        var: String,
    },
    /// asyncio `readexactly(n)`: recv until n bytes or EOF.
    ReadExactly {
        /// Variable.
        var: String,
        /// Bytes wanted.
        n: usize,
    },
    /// asyncio `readuntil(sep)`: recv until the separator.
    ReadUntil {
        /// Variable.
        var: String,
        /// Separator.
        sep: Vec<u8>,
    },
    /// The connections a listening socket has queued (not yet accepted),
    /// as the kernel reports them in /proc/net/tcp{,6}.
    Backlog {
        /// Listening variable.
        var: String,
    },
}

impl Call {
    /// The socket variable the call is on.
    pub fn var(&self) -> &str {
        match self {
            Call::Socket { var, .. }
            | Call::SetSockOpt { var, .. }
            | Call::GetSockOpt { var, .. }
            | Call::SetTimeout { var, .. }
            | Call::GetTimeout { var }
            | Call::SetBlocking { var, .. }
            | Call::Bind { var, .. }
            | Call::Listen { var, .. }
            | Call::Accept { var, .. }
            | Call::Connect { var, .. }
            | Call::ConnectEx { var, .. }
            | Call::Send { var, .. }
            | Call::SendAll { var, .. }
            | Call::SendTo { var, .. }
            | Call::Recv { var, .. }
            | Call::RecvFrom { var, .. }
            | Call::Shutdown { var, .. }
            | Call::Close { var }
            | Call::GetSockName { var }
            | Call::GetPeerName { var }
            | Call::FileNo { var }
            | Call::ReadExactly { var, .. }
            | Call::ReadUntil { var, .. }
            | Call::Backlog { var } => var,
        }
    }

    /// The call's name as the seed's table writes it.
    pub fn name(&self) -> &'static str {
        match self {
            Call::Socket { .. } => "socket",
            Call::SetSockOpt { .. } => "setsockopt",
            Call::GetSockOpt { .. } => "getsockopt",
            Call::SetTimeout { .. } => "settimeout",
            Call::GetTimeout { .. } => "gettimeout",
            Call::SetBlocking { .. } => "setblocking",
            Call::Bind { .. } => "bind",
            Call::Listen { .. } => "listen",
            Call::Accept { .. } => "accept",
            Call::Connect { .. } => "connect",
            Call::ConnectEx { .. } => "connect_ex",
            Call::Send { .. } => "send",
            Call::SendAll { .. } => "sendall",
            Call::SendTo { .. } => "sendto",
            Call::Recv { .. } => "recv",
            Call::RecvFrom { .. } => "recvfrom",
            Call::Shutdown { .. } => "shutdown",
            Call::Close { .. } => "close",
            Call::GetSockName { .. } => "getsockname",
            Call::GetPeerName { .. } => "getpeername",
            Call::FileNo { .. } => "fileno",
            Call::ReadExactly { .. } => "readexactly",
            Call::ReadUntil { .. } => "readuntil",
            Call::Backlog { .. } => "backlog",
        }
    }

    /// The arguments as the user would write them (for the log and JSON).
    pub fn args(&self) -> Vec<String> {
        let bytes = |d: &[u8]| py_bytes(d);
        match self {
            Call::Socket { family, ty, .. } => vec![
                match family {
                    Family::Inet => "AF_INET",
                    Family::Inet6 => "AF_INET6",
                    Family::Unix => "AF_UNIX",
                }
                .into(),
                match ty {
                    SockType::Stream => "SOCK_STREAM",
                    SockType::Dgram => "SOCK_DGRAM",
                }
                .into(),
            ],
            Call::SetSockOpt { opt, .. } => {
                vec![opt.name().c_name(false).to_string(), opt.value_text()]
            }
            Call::GetSockOpt { opt, .. } => vec![opt.c_name(false).to_string()],
            Call::SetTimeout { secs, .. } => vec![match secs {
                None => "None".into(),
                Some(s) => s.to_string(),
            }],
            Call::SetBlocking { flag, .. } => vec![if *flag { "True" } else { "False" }.into()],
            Call::Bind { addr, .. } | Call::Connect { addr, .. } | Call::ConnectEx { addr, .. } => {
                vec![addr.0.clone()]
            }
            Call::Listen { backlog, .. } => vec![backlog.to_string()],
            Call::Send { data, .. } | Call::SendAll { data, .. } => vec![bytes(data)],
            Call::SendTo { data, addr, .. } => vec![bytes(data), addr.0.clone()],
            Call::Recv { n, .. } | Call::RecvFrom { n, .. } | Call::ReadExactly { n, .. } => {
                vec![n.to_string()]
            }
            Call::ReadUntil { sep, .. } => vec![bytes(sep)],
            Call::Shutdown { how, .. } => vec![
                match how {
                    How::Read => "SHUT_RD",
                    How::Write => "SHUT_WR",
                    How::Both => "SHUT_RDWR",
                }
                .into(),
            ],
            Call::Accept { .. }
            | Call::GetTimeout { .. }
            | Call::Close { .. }
            | Call::GetSockName { .. }
            | Call::GetPeerName { .. }
            | Call::FileNo { .. }
            | Call::Backlog { .. } => Vec::new(),
        }
    }

    /// Whether every value in the call is one the kernel takes as meant:
    /// the one check for calls from a file, the panel and the engine
    /// itself (which refuses a bad call rather than panic on it).
    pub fn check(&self) -> Result<(), String> {
        let ident = |v: &str| {
            let ok = v
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                && v.len() <= 64
                && v.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            if ok {
                Ok(())
            } else {
                Err(format!(
                    "'{}' is not a variable name (letters, digits, _; at most 64)",
                    crate::engine::codec::excerpt(v, 40)
                ))
            }
        };
        ident(self.var())?;
        match self {
            Call::Accept { into, .. } => ident(into),
            Call::SetSockOpt { opt, .. } => opt.check(),
            Call::SetTimeout { secs: Some(s), .. } => {
                if s.is_finite() && (*s == 0.0 || (1e-6..=31_536_000.0).contains(s)) {
                    Ok(())
                } else {
                    Err(format!(
                        "settimeout takes None, 0 (non-blocking) or 0.000001 to 31536000 seconds; {s} is out of range"
                    ))
                }
            }
            Call::Listen { backlog, .. } if !(0..=65_535).contains(backlog) => Err(format!(
                "listen takes a backlog from 0 to 65535; {backlog} is out of range"
            )),
            Call::Recv { n, .. } | Call::RecvFrom { n, .. } | Call::ReadExactly { n, .. }
                if !(1..=MAX_RECV).contains(n) =>
            {
                Err(format!(
                    "{} takes a byte count from 1 to {MAX_RECV}; {n} is out of range",
                    self.name()
                ))
            }
            Call::ReadUntil { sep, .. } if sep.is_empty() => {
                Err("readuntil needs a separator of at least one byte".into())
            }
            _ => Ok(()),
        }
    }

    /// The call as one line of Python-like text: `srv.bind(127.0.0.1:0)`.
    pub fn text(&self) -> String {
        let args = self.args().join(", ");
        match self {
            Call::Socket { var, .. } => format!("{var} = socket({args})"),
            Call::Accept { var, into } => format!("{into}, addr = {var}.accept()"),
            other => format!("{}.{}({args})", other.var(), other.name()),
        }
    }
}

/// The most bytes one recv, recvfrom or readexactly asks for.
pub const MAX_RECV: usize = 16 * 1024 * 1024;

/// Bytes as a Python literal: `b'GET / HTTP/1.0\r\n'`.
pub fn py_bytes(d: &[u8]) -> String {
    let mut s = String::from("b'");
    for &b in d {
        match b {
            b'\\' => s.push_str("\\\\"),
            b'\'' => s.push_str("\\'"),
            b'\r' => s.push_str("\\r"),
            b'\n' => s.push_str("\\n"),
            b'\t' => s.push_str("\\t"),
            0x20..=0x7e => s.push(b as char),
            _ => s.push_str(&format!("\\x{b:02x}")),
        }
    }
    s.push('\'');
    s
}

/// What a call returned.
#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    /// Nothing (Python's None).
    Nothing,
    /// A number (bytes written, fd, errno from connect_ex, count).
    Int(i64),
    /// Text (an option value, a timeout).
    Text(String),
    /// An address.
    Addr(Addr),
    /// Bytes received (`b''` is EOF).
    Bytes(Vec<u8>),
    /// A datagram and its source; `truncated_from` when it did not fit.
    BytesFrom {
        /// What fitted.
        data: Vec<u8>,
        /// Source.
        from: Addr,
        /// Real size (MSG_TRUNC).
        truncated_from: Option<usize>,
    },
    /// A new socket (accept), with the peer.
    Accepted {
        /// Its variable.
        var: String,
        /// getpeername.
        peer: Addr,
        /// Its fd.
        fd: i32,
    },
}

impl Outcome {
    /// As Python would print it.
    pub fn text(&self) -> String {
        match self {
            Outcome::Nothing => "None".into(),
            Outcome::Int(n) => n.to_string(),
            Outcome::Text(t) => t.clone(),
            Outcome::Addr(a) => a.to_string(),
            Outcome::Bytes(b) => py_bytes(b),
            Outcome::BytesFrom {
                data,
                from,
                truncated_from,
            } => {
                let mut s = format!("({}, {from})", py_bytes(data));
                if let Some(n) = truncated_from {
                    s.push_str(&format!(" MSG_TRUNC: the datagram had {n} bytes"));
                }
                s
            }
            Outcome::Accepted { var, peer, fd } => format!("{var} (fd {fd}) from {peer}"),
        }
    }
}

/// One call and what the kernel said.
#[derive(Clone, Debug, PartialEq)]
pub struct CallRecord {
    /// The call.
    pub call: Call,
    /// Its result.
    pub result: Result<Outcome, OpError>,
    /// Whether the error was a timeout expiring (EAGAIN on a blocking socket).
    pub timed_out: bool,
    /// How long the call took.
    pub took: Duration,
}

impl CallRecord {
    /// Roughly the bytes it holds (for the event channel's byte bound).
    pub fn weight(&self) -> usize {
        let call = match &self.call {
            Call::Send { data, .. } | Call::SendAll { data, .. } | Call::SendTo { data, .. } => {
                data.len()
            }
            _ => 64,
        };
        let result = match &self.result {
            Ok(Outcome::Bytes(b)) => b.len(),
            Ok(Outcome::Text(t)) => t.len(),
            Ok(_) => 32,
            Err(e) => e.weight(),
        };
        call + result
    }
}

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
        return super::spec::unix_addr(s).map_err(|e| format!("'{s}': {e}"));
    }
    let hp = super::spec::HostPort::parse(s)?;
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

/// Runs a step-mode session on its own thread: the script's calls, then
/// (when kept open) each `Command::Step` as it comes.
pub(crate) fn run_session(
    top: super::SessionId,
    spec: super::SessionSpec,
    shared: Arc<super::sink::Shared>,
    cmds: crossbeam_channel::Receiver<super::Command>,
    canceller: Canceller,
) {
    use super::protocol::{CloseReason, Command, Counters, EventKind};
    use super::spec::SessionKind;
    let mut sink = super::sink::Sink::new(shared);
    sink.control(
        top,
        EventKind::Opened {
            name: spec.name.clone(),
            kind: spec.kind.kind(),
        },
    );
    let SessionKind::Script { calls, keep_open } = spec.kind else {
        return;
    };
    let mut st = Stepper::new(canceller);
    let mut index = 0usize;
    let mut step = |st: &mut Stepper, sink: &mut super::sink::Sink, call: &Call| {
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
        step(&mut st, &mut sink, c);
    }
    let reason = if !keep_open {
        CloseReason::ScriptDone
    } else {
        loop {
            match cmds.recv() {
                Ok(Command::Step { call, .. }) => step(&mut st, &mut sink, &call),
                Ok(Command::Close { .. }) | Ok(Command::Abort { .. }) => break CloseReason::Local,
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
    sink.control(
        top,
        EventKind::Closed {
            reason,
            counters: Counters::default(),
        },
    );
    sink.finish(Duration::from_secs(2));
}
