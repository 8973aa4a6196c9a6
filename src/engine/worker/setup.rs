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
                // A timer's poll (the app's, `run --tcp-info`): a session
                // shows connected before its setup ends, and the next tick
                // asks again once it is open. An error for each would be
                // noise, in English on any screen.
                Ok(Command::TcpInfo { .. }) => {}
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
        self.new_socket_as(self.cx.top, domain, ty)
    }

    /// A socket, its `socket()` reported under `id` (a relay's upstream leg).
    pub(super) fn new_socket_as(
        &mut self,
        id: SessionId,
        domain: Domain,
        ty: Type,
    ) -> Result<Socket, CloseReason> {
        let sock = Socket::new(domain, ty, None)
            .map_err(|e| CloseReason::Error(OpError::io("socket", &e)))?;
        self.cx.sink.control(
            id,
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
        let shared = match &self.last_options {
            Some(last) if **last == *snap => last.clone(),
            _ => {
                let new: Arc<[options::OptionReport]> = snap.into();
                self.last_options = Some(new.clone());
                new
            }
        };
        self.cx.sink.control(id, EventKind::Options(shared));
    }

    pub(super) fn setup(&mut self) -> Result<(), CloseReason> {
        // wss:// needs no tls: Client(...) of its own: the defaults verify
        // the server against the system's roots.
        if self.spec.tls.is_none()
            && let SessionKind::WsClient { url, .. } = &self.spec.kind
            && url.secure
        {
            Arc::make_mut(&mut self.spec).tls =
                Some(crate::engine::tls::TlsSpec::Client(Default::default()));
        }
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
                SessionKind::WsClient { url, .. } => Some(url.host.host.clone()),
                _ => None,
            };
            let (setup, identity) =
                TlsSetup::build(t, host.as_deref()).map_err(CloseReason::Error)?;
            self.tls = Some(setup);
            self.tls_identity = identity.map(Box::new);
        }
        if let SessionKind::Relay {
            target_tls: Some(t),
            target,
            ..
        } = &self.spec.kind
        {
            // The target is an address: the name checked is its IP unless
            // server_name says otherwise.
            let host = match target {
                crate::engine::spec::RelayEnd::Tcp(a) => Some(a.ip().to_string()),
                _ => None,
            };
            let (setup, _) = TlsSetup::build(t, host.as_deref()).map_err(CloseReason::Error)?;
            self.upstream_tls = Some(setup);
        }
        self.setup_kind()
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
        let layer = self.start_layer(id)?;
        // A client's layer speaks first (a ClientHello, a WebSocket request).
        let speaks_first = layer.as_ref().is_some_and(|t| t.wants_write());
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
            Box::new(Conn {
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
                handshake_deadline: layer.as_ref().map(|_| {
                    now()
                        + self
                            .spec
                            .tls
                            .as_ref()
                            .map_or(crate::engine::tls::DEFAULT_HANDSHAKE_TIMEOUT, |t| {
                                t.handshake_timeout()
                            })
                }),
                layer,
                ws_closing: None,
                deframer: (self.spec.framing != Framing::None && !self.spec.kind.is_websocket())
                    .then(|| Deframer::new(self.spec.framing.clone())),
                connecting: None,
                flow: None,
            }),
        );
        if speaks_first {
            self.flush_conn(id.child);
        }
        Ok(())
    }

    /// The layers a new stream gets: TLS, WebSocket, or WebSocket on TLS.
    fn start_layer(&self, id: SessionId) -> Result<Option<Box<dyn Transport>>, CloseReason> {
        // A relay's upstream legs are TLS clients of the target.
        let setup = match self.shape {
            kind::Shape::Relay
                if crate::engine::protocol::Leg::of(id.child)
                    == crate::engine::protocol::Leg::Server =>
            {
                &self.upstream_tls
            }
            _ => &self.tls,
        };
        let tls = match setup {
            Some(setup) => {
                Some(Box::new(setup.start().map_err(CloseReason::Error)?) as Box<dyn Transport>)
            }
            None => None,
        };
        let ws: Option<Box<dyn Transport>> = match &self.spec.kind {
            SessionKind::WsClient {
                url,
                headers,
                subprotocols,
                auto_pong,
            } => Some(Box::new(
                WsLayer::client(url, headers, subprotocols, *auto_pong)
                    .map_err(CloseReason::Error)?,
            )),
            SessionKind::WsServer {
                path,
                subprotocols,
                auto_pong,
                ..
            } => Some(Box::new(WsLayer::server(path, subprotocols, *auto_pong))),
            _ => None,
        };
        Ok(match (tls, ws) {
            (Some(t), Some(w)) => Some(Box::new(Stack::new(t, w))),
            (t, None) => t,
            (None, w) => w,
        })
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
}
