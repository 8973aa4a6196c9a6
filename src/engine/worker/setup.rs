//! Setting a session up: its sockets, options, binding, listening,
//! resolving and connecting, before the event loop runs.

use super::*;

impl Worker {
    pub(super) fn stop_requested_during_setup(&mut self) -> bool {
        loop {
            match self.cx.cmds.try_recv() {
                Ok(Command::Close { target }) | Ok(Command::Abort { target })
                    if target == self.cx.top =>
                {
                    return true;
                }
                Ok(other) => self.cx.sink.control(
                    other.target(),
                    EventKind::Error(OpError::plain(
                        "command",
                        "the session is still being set up; try again once it is open",
                    )),
                ),
                Err(TryRecvError::Empty) => return false,
                Err(TryRecvError::Disconnected) => return true,
            }
        }
    }

    pub(super) fn new_socket(&mut self, domain: Domain, ty: Type) -> Result<Socket, CloseReason> {
        let sock = Socket::new(domain, ty, None)
            .map_err(|e| CloseReason::Error(OpError::io("socket", &e)))?;
        self.cx.sink.control(
            self.cx.top,
            EventKind::SocketCreated {
                fd: sock.as_raw_fd(),
                family: family_name(domain),
                socktype: if ty == Type::STREAM {
                    "SOCK_STREAM"
                } else {
                    "SOCK_DGRAM"
                },
            },
        );
        Ok(sock)
    }

    /// Applies the spec's options; a failing option is reported and the
    /// session goes on (the snapshot shows what the kernel kept).
    pub(super) fn apply_options(&mut self, sock: &Socket, id: SessionId) {
        let r = SockRef::from(sock);
        let shape = options::SocketShape::of(&r).ok();
        for opt in self.spec.options.clone() {
            if let Some(shape) = shape
                && !opt.name().applies(shape)
            {
                continue;
            }
            if let Err(e) = options::apply(&r, opt) {
                self.cx
                    .sink
                    .control(id, EventKind::Error(options::refused(&opt, &r, &e)));
            }
        }
        if let Some(t) = self.spec.read_timeout
            && let Err(e) = r.set_read_timeout(Some(t))
        {
            self.cx.sink.control(
                id,
                EventKind::Error(OpError::io(
                    format!("setsockopt SO_RCVTIMEO={:.3}s", t.as_secs_f64()),
                    &e,
                )),
            );
        }
    }

    pub(super) fn snapshot(&mut self, sock: &Socket, id: SessionId) {
        let mut requested = self.spec.options.clone();
        if let Some(t) = self.spec.read_timeout {
            requested.push(SockOpt::maybe_secs(OptName::ReadTimeout, Some(t)));
        }
        let snap = options::snapshot(&SockRef::from(sock), &requested);
        self.cx.sink.control(id, EventKind::Options(snap));
    }

    pub(super) fn setup(&mut self) -> Result<(), CloseReason> {
        if let Some(t) = &self.spec.tls {
            // Files and the form refuse this; a spec built in code must not
            // reach direct writes that would bypass the record layer.
            if !self.spec.auto_read {
                return Err(CloseReason::Error(OpError::plain(
                    "tls setup",
                    "TLS needs automatic reads (the record layer reads for you)",
                )));
            }
            let host = match &self.spec.kind {
                SessionKind::TcpClient { remote, .. } => Some(remote.host.clone()),
                _ => None,
            };
            let (setup, identity) =
                TlsSetup::build(t, host.as_deref()).map_err(CloseReason::Error)?;
            self.tls = Some(setup);
            self.tls_identity = identity;
        }
        match self.spec.kind.clone() {
            SessionKind::TcpClient { remote, local } => self.setup_tcp_client(&remote, local),
            SessionKind::TcpServer { local, backlog } => {
                let domain = Domain::for_address(local);
                let sock = self.new_socket(domain, Type::STREAM)?;
                // Servers take SO_REUSEADDR unless told otherwise, as the
                // seed's servers and most tools do: a restarted server
                // must not fail for a minute over connections in TIME_WAIT.
                // (It never lets two listeners share a port.)
                if !self
                    .spec
                    .options
                    .iter()
                    .any(|o| o.name() == OptName::ReuseAddress)
                {
                    self.spec
                        .options
                        .insert(0, SockOpt::flag(OptName::ReuseAddress, true));
                }
                self.apply_options(&sock, self.cx.top);
                sock.bind(&local.into())
                    .map_err(|e| CloseReason::Error(OpError::io(format!("bind {local}"), &e)))?;
                self.listen(sock, backlog, None)
            }
            SessionKind::UnixServer {
                path,
                backlog,
                stale,
            } => {
                self.check_stale(&path, stale)?;
                let sock = self.new_socket(Domain::UNIX, Type::STREAM)?;
                self.apply_options(&sock, self.cx.top);
                let addr = crate::engine::spec::unix_addr(&path).map_err(|e| {
                    CloseReason::Error(OpError::io(format!("bind {}", path.display()), &e))
                })?;
                sock.bind(&addr).map_err(|e| {
                    CloseReason::Error(OpError::io(format!("bind {}", path.display()), &e))
                })?;
                self.listen(sock, backlog, Some(path))
            }
            SessionKind::UnixClient { path } => {
                let sock = self.new_socket(Domain::UNIX, Type::STREAM)?;
                self.apply_options(&sock, self.cx.top);
                let op = format!("connect {}", path.display());
                self.cx.sink.control(
                    self.cx.top,
                    EventKind::Connecting {
                        addr: Addr::Path(path.display().to_string()),
                    },
                );
                let addr = crate::engine::spec::unix_addr(&path)
                    .map_err(|e| CloseReason::Error(OpError::io(&op, &e)))?;
                sock.connect(&addr)
                    .map_err(|e| CloseReason::Error(OpError::io(&op, &e)))?;
                self.add_stream(sock, self.cx.top, true)?;
                self.advance_script_conn(0);
                Ok(())
            }
            SessionKind::Udp {
                local,
                connect,
                join,
            } => self.setup_udp(local, connect.as_ref(), &join),
            SessionKind::UnixDatagram { local, connect } => {
                let sock = self.new_socket(Domain::UNIX, Type::DGRAM)?;
                self.apply_options(&sock, self.cx.top);
                if let Some(p) = &local {
                    self.check_stale(p, StalePolicy::Fail)?;
                    let op = format!("bind {}", p.display());
                    let a = crate::engine::spec::unix_addr(p)
                        .map_err(|e| CloseReason::Error(OpError::io(&op, &e)))?;
                    sock.bind(&a)
                        .map_err(|e| CloseReason::Error(OpError::io(&op, &e)))?;
                }
                if let Some(p) = &connect {
                    let op = format!("connect {}", p.display());
                    let a = crate::engine::spec::unix_addr(p)
                        .map_err(|e| CloseReason::Error(OpError::io(&op, &e)))?;
                    sock.connect(&a)
                        .map_err(|e| CloseReason::Error(OpError::io(&op, &e)))?;
                }
                self.add_dgram(sock, local)
            }
            SessionKind::Serial(serial) => {
                self.setup_serial(&serial)?;
                self.advance_script_conn(0);
                Ok(())
            }
            SessionKind::Script { .. } | SessionKind::Burst(_) => Err(CloseReason::Error(
                OpError::plain("open", "step-mode sessions run on their own thread"),
            )),
            SessionKind::SocketPair => {
                let (a, b) = Socket::pair(Domain::UNIX, Type::STREAM, None)
                    .map_err(|e| CloseReason::Error(OpError::io("socketpair", &e)))?;
                for (i, s) in [a, b].into_iter().enumerate() {
                    let id = self.cx.top.child(i as u32 + 1);
                    self.cx.sink.control(
                        id,
                        EventKind::SocketCreated {
                            fd: s.as_raw_fd(),
                            family: "AF_UNIX",
                            socktype: "SOCK_STREAM",
                        },
                    );
                    self.apply_options(&s, id);
                    self.add_stream(s, id, i == 0)?;
                }
                self.next_child = 3;
                // Scripts start once both ends exist.
                self.advance_script_conn(1);
                Ok(())
            }
        }
    }

    /// The blocking mode asked for (the last `blocking` option; default on,
    /// as Python sockets are).
    pub(super) fn requested_blocking(&self) -> bool {
        self.spec
            .options
            .iter()
            .rev()
            .find(|o| o.name() == OptName::Blocking)
            .map(|o| o.value() == OptValue::Flag(true))
            .unwrap_or(true)
    }

    /// Groups are joined on the multicast interface the options name (so a
    /// loopback-only setup stays on loopback); otherwise the kernel picks.
    pub(super) fn multicast_interfaces(&self) -> (Ipv4Addr, u32) {
        let mut v4 = Ipv4Addr::UNSPECIFIED;
        let mut v6 = 0;
        for o in &self.spec.options {
            match (o.name(), o.value()) {
                (OptName::MulticastIfV4, OptValue::Ipv4(a)) => v4 = a,
                (OptName::MulticastIfV6, OptValue::Int(i)) => v6 = i as u32,
                _ => {}
            }
        }
        (v4, v6)
    }

    pub(super) fn check_stale(
        &mut self,
        path: &Path,
        stale: StalePolicy,
    ) -> Result<(), CloseReason> {
        use std::os::unix::fs::FileTypeExt;
        let Ok(meta) = std::fs::symlink_metadata(path) else {
            return Ok(());
        };
        let op = format!("bind {}", path.display());
        if !meta.file_type().is_socket() {
            return Err(CloseReason::Error(OpError::plain(
                op,
                "a file that is not a socket is in the way; Sockscope never deletes it, choose another path",
            )));
        }
        // Stale means both a stream and a datagram connect were refused:
        // any other answer (it accepted, EACCES, EPROTOTYPE from a
        // seqpacket listener) means something may live there.
        let refused = |r: io::Result<()>| {
            r.err()
                .is_some_and(|e| e.raw_os_error() == Some(libc::ECONNREFUSED))
        };
        let stale_stream = refused(std::os::unix::net::UnixStream::connect(path).map(|_| ()));
        let stale_dgram =
            refused(std::os::unix::net::UnixDatagram::unbound().and_then(|d| d.connect(path)));
        if !(stale_stream && stale_dgram) {
            return Err(CloseReason::Error(OpError::plain(
                op,
                "a socket at this path may be live (it did not refuse a connection): another server may be running; choose another path",
            )));
        }
        match stale {
            StalePolicy::Fail => Err(CloseReason::Error(OpError::plain(
                op,
                "a stale socket file from an earlier run is in the way (nothing listens on it); set `stale: RemoveIfStale` to remove it, or delete it yourself",
            ))),
            StalePolicy::RemoveIfStale => {
                // Only the file we just found stale, not one put there since.
                use std::os::unix::fs::MetadataExt;
                let same = std::fs::symlink_metadata(path)
                    .is_ok_and(|m| m.dev() == meta.dev() && m.ino() == meta.ino());
                if !same {
                    return Err(CloseReason::Error(OpError::plain(
                        op,
                        "the socket file changed while it was checked; try again",
                    )));
                }
                std::fs::remove_file(path).map_err(|e| {
                    CloseReason::Error(OpError::io(format!("unlink {}", path.display()), &e))
                })?;
                self.cx.sink.control(
                    self.cx.top,
                    EventKind::Step {
                        index: 0,
                        what: format!("removed stale socket file {}", path.display()),
                    },
                );
                Ok(())
            }
        }
    }

    pub(super) fn listen(
        &mut self,
        sock: Socket,
        backlog: i32,
        unix_path: Option<PathBuf>,
    ) -> Result<(), CloseReason> {
        let local = local_of(&sock);
        sock.listen(backlog)
            .map_err(|e| CloseReason::Error(OpError::io(format!("listen {local}"), &e)))?;
        let inet = sock.local_addr().ok().and_then(|a| a.as_socket());
        sock.set_nonblocking(true)
            .map_err(|e| CloseReason::Error(OpError::io("fcntl O_NONBLOCK", &e)))?;
        register(&self.poll, &sock, LISTENER, Interest::READABLE)
            .map_err(|e| CloseReason::Error(OpError::io("epoll_ctl", &e)))?;
        self.cx.sink.control(
            self.cx.top,
            EventKind::Listening {
                local,
                fd: sock.as_raw_fd(),
                backlog,
            },
        );
        if let Some(a) = inet
            && a.ip().is_unspecified()
        {
            self.warn_all_interfaces(a, "listens");
        }
        self.snapshot(&sock, self.cx.top);
        if let Some(id) = self.tls_identity.take() {
            self.cx
                .sink
                .control(self.cx.top, EventKind::TlsIdentity(Box::new(id)));
        }
        self.listener = Some(sock);
        self.owned_path = unix_path.and_then(OwnedPath::record);
        Ok(())
    }

    pub(super) fn resolve(&mut self, hp: &HostPort) -> Result<Vec<SocketAddr>, OpError> {
        let literal = hp.host.parse::<IpAddr>().is_ok();
        if !literal {
            self.cx.sink.control(
                self.cx.top,
                EventKind::Resolving {
                    host: hp.host.clone(),
                },
            );
        }
        let op = format!("resolve {}", hp.host);
        let addrs: Vec<SocketAddr> = (hp.host.as_str(), hp.port)
            .to_socket_addrs()
            .map_err(|e| {
                OpError::plain(&op, format!("{e}")).with_hint("check the spelling of the host name")
            })?
            .filter(|a| match self.spec.family {
                Family::Auto => true,
                Family::V4 => a.is_ipv4(),
                Family::V6 => a.is_ipv6(),
            })
            .collect();
        if addrs.is_empty() {
            return Err(OpError::plain(
                op,
                format!("no {:?} address for this name", self.spec.family),
            )
            .with_hint("choose family Auto, or the other IP version"));
        }
        if !literal {
            self.cx.sink.control(
                self.cx.top,
                EventKind::Resolved {
                    host: hp.host.clone(),
                    addrs: addrs.clone(),
                },
            );
        }
        Ok(addrs)
    }

    pub(super) fn setup_tcp_client(
        &mut self,
        remote: &HostPort,
        local: Option<SocketAddr>,
    ) -> Result<(), CloseReason> {
        let addrs = self.resolve(remote).map_err(CloseReason::Error)?;
        let mut last_err = None;
        for addr in addrs {
            if self.stop_requested_during_setup() {
                return Err(CloseReason::Local);
            }
            match self.connect_one(addr, local) {
                Ok(Some(sock)) => {
                    self.add_stream(sock, self.cx.top, true)?;
                    self.advance_script_conn(0);
                    return Ok(());
                }
                Ok(None) => return Err(CloseReason::Local),
                Err(e) => {
                    self.cx
                        .sink
                        .control(self.cx.top, EventKind::ConnectFailed(e.clone()));
                    last_err = Some(e);
                }
            }
        }
        Err(CloseReason::Error(last_err.unwrap_or_else(|| {
            OpError::plain(format!("connect {remote}"), "no address to try")
        })))
    }

    /// One non-blocking connect with a deadline; commands are still heard
    /// (a Close stops the attempt). Ok(None): stopped by the user.
    pub(super) fn connect_one(
        &mut self,
        addr: SocketAddr,
        local: Option<SocketAddr>,
    ) -> Result<Option<Socket>, OpError> {
        let op = format!("connect {addr}");
        let sock = self
            .new_socket(Domain::for_address(addr), Type::STREAM)
            .map_err(|r| match r {
                CloseReason::Error(e) => e,
                other => OpError::plain("socket", other.to_string()),
            })?;
        self.apply_options(&sock, self.cx.top);
        if let Some(l) = local {
            sock.bind(&l.into())
                .map_err(|e| OpError::io(format!("bind {l}"), &e))?;
        }
        sock.set_nonblocking(true)
            .map_err(|e| OpError::io("fcntl O_NONBLOCK", &e))?;
        self.cx.sink.control(
            self.cx.top,
            EventKind::Connecting {
                addr: Addr::Inet(addr),
            },
        );
        match sock.connect(&addr.into()) {
            Ok(()) => return Ok(Some(sock)),
            Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => {}
            Err(e) => return Err(OpError::io(op, &e)),
        }
        register(&self.poll, &sock, CONNECTING, Interest::WRITABLE)
            .map_err(|e| OpError::io("epoll_ctl", &e))?;
        let deadline = self.spec.connect_timeout.map(|t| now() + t);
        let mut events = Events::with_capacity(4);
        let result = loop {
            let timeout = deadline.map(|d| d.saturating_duration_since(now()));
            if timeout == Some(Duration::ZERO) {
                let t = self.spec.connect_timeout.unwrap_or_default();
                self.cx.sink.control(
                    self.cx.top,
                    EventKind::Timeout {
                        op: "connect",
                        after: t,
                    },
                );
                break Err(OpError::io(op.clone(), &io::Error::from_raw_os_error(libc::ETIMEDOUT))
                    .with_hint(format!(
                        "no answer within the connect timeout ({}); check the address or raise connect_timeout",
                        ms(t)
                    )));
            }
            // Setup always runs on the session's own poll.
            let Some(poll) = self.poll.own() else {
                break Err(OpError::plain("connect", "no poll of its own to wait on"));
            };
            if let Err(e) = poll.poll(&mut events, timeout)
                && e.kind() != io::ErrorKind::Interrupted
            {
                break Err(OpError::io("epoll_wait", &e));
            }
            let mut writable = false;
            for ev in events.iter() {
                if ev.token() == WAKE && self.stop_requested_during_setup() {
                    let _ = self.poll.deregister(sock.as_raw_fd());
                    return Ok(None);
                }
                if ev.token() == CONNECTING {
                    writable = true;
                }
            }
            if writable {
                match sock.take_error() {
                    Ok(Some(e)) => break Err(OpError::io(op.clone(), &e)),
                    Err(e) => break Err(OpError::io(op.clone(), &e)),
                    Ok(None) => match sock.peer_addr() {
                        Ok(_) => break Ok(()),
                        Err(e) if e.raw_os_error() == Some(libc::ENOTCONN) => continue,
                        Err(e) => break Err(OpError::io(op.clone(), &e)),
                    },
                }
            }
        };
        let _ = self.poll.deregister(sock.as_raw_fd());
        result.map(|()| Some(sock))
    }

    /// Takes over a connected stream as `id`; `script` says whether the
    /// session's script runs on it.
    pub(super) fn add_stream(
        &mut self,
        sock: Socket,
        id: SessionId,
        script: bool,
    ) -> Result<(), CloseReason> {
        let local = local_of(&sock);
        let peer = peer_of(&sock).unwrap_or(Addr::Unnamed);
        let auto = self.spec.auto_read;
        if auto {
            sock.set_nonblocking(true)
                .map_err(|e| CloseReason::Error(OpError::io("fcntl O_NONBLOCK", &e)))?;
            // Write readiness is watched only while bytes wait in the queue:
            // an echo that writes at once never needs it, and watching it
            // always costs a wakeup per round trip.
            register(
                &self.poll,
                &sock,
                Token(id.child as usize),
                Interest::READABLE,
            )
            .map_err(|e| CloseReason::Error(OpError::io("epoll_ctl", &e)))?;
        } else {
            // Manual reads: the socket keeps the blocking mode the user asked.
            let blocking = self.requested_blocking();
            if let Err(e) = sock.set_nonblocking(!blocking) {
                self.cx.sink.control(id, blocking_error(blocking, &e));
            }
            if let Ok(clone) = sock.try_clone()
                && let Ok(mut v) = self.interrupts.lock()
            {
                v.push(clone);
            }
        }
        self.cx.sink.control(
            id,
            EventKind::Connected {
                local,
                peer: peer.clone(),
                fd: sock.as_raw_fd(),
            },
        );
        self.snapshot(&sock, id);
        self.adopt(Io::Socket(sock), id, peer, script, auto)
    }

    /// Takes over a stream endpoint, set up and reported, as `id`.
    pub(super) fn adopt(
        &mut self,
        io: Io,
        id: SessionId,
        peer: Addr,
        script: bool,
        auto: bool,
    ) -> Result<(), CloseReason> {
        let tls = match &self.tls {
            Some(setup) => {
                Some(Box::new(setup.start().map_err(CloseReason::Error)?) as Box<dyn Transport>)
            }
            None => None,
        };
        let client_tls = tls.is_some() && !self.spec.kind.is_server();
        let peer_text = peer.to_string();
        let (responder, steps) = match self.spec.kind {
            // The script drives end 1; the responder answers on end 2.
            SessionKind::SocketPair if script => (Responder::None, self.spec.steps.clone()),
            SessionKind::SocketPair => (self.spec.responder.clone(), Vec::new()),
            _ if script => (self.spec.responder.clone(), self.spec.steps.clone()),
            _ => (self.spec.responder.clone(), Vec::new()),
        };
        self.conns.insert(
            id.child,
            Conn {
                id,
                io,
                peer,
                reg: if auto {
                    Registration::Read
                } else {
                    Registration::Manual
                },
                st: StreamState::default(),
                counters: Counters::default(),
                stats_dirty: false,
                meter: Meter::new(),
                last_rx: now(),
                responder,
                framer: Framer::for_peer(peer_text),
                delayed: VecDeque::new(),
                delayed_bytes: 0,
                script: Script::new(steps),
                handshake_deadline: tls.as_ref().and(
                    self.spec
                        .tls
                        .as_ref()
                        .map(|t| now() + t.handshake_timeout()),
                ),
                layer: tls,
            },
        );
        if client_tls {
            // The ClientHello goes out at once.
            self.flush_conn(id.child);
        }
        Ok(())
    }

    pub(super) fn setup_udp(
        &mut self,
        local: Option<SocketAddr>,
        connect: Option<&HostPort>,
        join: &[IpAddr],
    ) -> Result<(), CloseReason> {
        let target = match connect {
            Some(hp) => Some(self.resolve(hp).map_err(CloseReason::Error)?),
            None => None,
        };
        let named = local.is_some();
        let local = local.unwrap_or_else(|| {
            let v6 = match self.spec.family {
                Family::V6 => true,
                Family::V4 => false,
                Family::Auto => target
                    .as_ref()
                    .and_then(|t| t.first())
                    .is_some_and(|a| a.is_ipv6()),
            };
            // A socket that answers binds loopback unless told otherwise,
            // as the form's listeners do: a responder on every interface
            // would answer the LAN. One that only sends is bound as the
            // kernel binds it on a first sendto (Python's way), so it can
            // still reach a device on the LAN; so is one that must reach a
            // non-loopback peer or join a group.
            let loopback_only = target
                .as_ref()
                .is_none_or(|t| t.iter().all(|a| a.ip().is_loopback()));
            let answers = self.spec.responder.is_active();
            match (v6, answers && loopback_only && join.is_empty()) {
                (true, true) => SocketAddr::new(IpAddr::V6(Ipv6Addr::LOCALHOST), 0),
                (false, true) => SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0),
                (true, false) => SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), 0),
                (false, false) => SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0),
            }
        });
        let sock = self.new_socket(Domain::for_address(local), Type::DGRAM)?;
        if !self
            .spec
            .options
            .iter()
            .any(|o| o.name() == OptName::RecvBuffer)
        {
            self.spec.options.insert(
                0,
                SockOpt::int(OptName::RecvBuffer, DEFAULT_UDP_RCVBUF as u64),
            );
        }
        self.apply_options(&sock, self.cx.top);
        sock.bind(&local.into())
            .map_err(|e| CloseReason::Error(OpError::io(format!("bind {local}"), &e)))?;
        if let Some(addrs) = target {
            let v6 = local.is_ipv6();
            let addr = addrs
                .iter()
                .find(|a| a.is_ipv6() == v6)
                .copied()
                .unwrap_or(addrs[0]);
            sock.connect(&addr.into())
                .map_err(|e| CloseReason::Error(OpError::io(format!("connect {addr}"), &e)))?;
        }
        let sock_ref = SockRef::from(&sock);
        let (if4, if6) = self.multicast_interfaces();
        for g in join {
            let r = match g {
                IpAddr::V4(g) => sock_ref.join_multicast_v4(g, &if4),
                IpAddr::V6(g) => sock_ref.join_multicast_v6(g, if6),
            };
            match r {
                Ok(()) => self.cx.sink.control(
                    self.cx.top,
                    EventKind::Multicast {
                        group: *g,
                        joined: true,
                    },
                ),
                Err(e) => self.cx.sink.control(
                    self.cx.top,
                    EventKind::Error(OpError::io(format!("join multicast {g}"), &e)),
                ),
            }
        }
        let bound = sock.local_addr().ok().and_then(|a| a.as_socket());
        self.add_dgram(sock, None)?;
        // Receiving on a port the user picked, or answering, on every
        // interface is worth saying; a sender the kernel bound is not.
        if let Some(a) = bound
            && a.ip().is_unspecified()
            && ((named && a.port() != 0) || self.spec.responder.is_active())
        {
            let what = if self.spec.responder.is_active() {
                "answers"
            } else {
                "receives"
            };
            self.warn_all_interfaces(a, what);
        }
        Ok(())
    }

    /// Says that a socket can be reached from other machines.
    pub(super) fn warn_all_interfaces(&mut self, a: SocketAddr, what: &str) {
        let lo = if a.is_ipv6() { "::1" } else { "127.0.0.1" };
        self.cx.sink.control(
            self.cx.top,
            EventKind::Warning {
                code: "all_interfaces",
                message: format!(
                    "{a} {what} on every interface: other machines on the network can reach it; bind {lo} to keep it on this one"
                ),
            },
        );
    }

    pub(super) fn add_dgram(
        &mut self,
        sock: Socket,
        unix_path: Option<PathBuf>,
    ) -> Result<(), CloseReason> {
        if self.spec.auto_read {
            sock.set_nonblocking(true)
                .map_err(|e| CloseReason::Error(OpError::io("fcntl O_NONBLOCK", &e)))?;
            register(&self.poll, &sock, DGRAM, Interest::READABLE)
                .map_err(|e| CloseReason::Error(OpError::io("epoll_ctl", &e)))?;
        } else {
            let blocking = self.requested_blocking();
            if let Err(e) = sock.set_nonblocking(!blocking) {
                self.cx
                    .sink
                    .control(self.cx.top, blocking_error(blocking, &e));
            }
            if let Ok(clone) = sock.try_clone()
                && let Ok(mut v) = self.interrupts.lock()
            {
                v.push(clone);
            }
        }
        let connected = peer_of(&sock);
        self.cx.sink.control(
            self.cx.top,
            EventKind::Bound {
                local: local_of(&sock),
                fd: sock.as_raw_fd(),
                peer: connected.clone(),
            },
        );
        self.snapshot(&sock, self.cx.top);
        // A bound Unix datagram path is ours to remove at close.
        if let Some(p) = unix_path {
            self.owned_path = OwnedPath::record(p);
        }
        self.dgram = Some(Dgram {
            id: self.cx.top,
            sock,
            connected,
            counters: Counters::default(),
            stats_dirty: false,
            meter: Meter::new(),
            last_rx: now(),
            script: Script::new(self.spec.steps.clone()),
            closed: None,
            delayed: VecDeque::new(),
            delayed_dropped: false,
            framer: Framer::default(),
        });
        self.advance_script_dgram();
        Ok(())
    }
}
