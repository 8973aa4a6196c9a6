//! Datagram sockets (UDP and Unix): bind (loopback when it answers),
//! connect to a default peer, join multicast groups. Sending and receiving
//! are worker/dgram.rs.

use super::*;

impl Worker {
    pub(in crate::engine::worker) fn setup_unix_datagram(
        &mut self,
        local: Option<PathBuf>,
        connect: Option<PathBuf>,
    ) -> Result<(), CloseReason> {
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

    pub(in crate::engine::worker) fn setup_udp(
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
            Arc::make_mut(&mut self.spec).options.insert(
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

    pub(in crate::engine::worker) fn add_dgram(
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
        self.dgram = Some(Box::new(Dgram::new(
            self.cx.top,
            sock,
            connected,
            self.spec.steps.clone(),
        )));
        self.advance_script_dgram();
        Ok(())
    }

    /// Groups are joined on the multicast interface the options name (so a
    /// loopback-only setup stays on loopback); otherwise the kernel picks.
    pub(in crate::engine::worker) fn multicast_interfaces(&self) -> (Ipv4Addr, u32) {
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
}
