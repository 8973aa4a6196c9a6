//! Stream clients (TCP and Unix): resolve, connect with a deadline (a
//! Close still heard), then the stream is child 0 and the session ends
//! with it.

use super::*;

impl Worker {
    pub(in crate::engine::worker) fn setup_unix_client(
        &mut self,
        path: &Path,
    ) -> Result<(), CloseReason> {
        let sock = self.new_socket(Domain::UNIX, Type::STREAM)?;
        self.apply_options(&sock, self.cx.top);
        let op = format!("connect {}", path.display());
        self.cx.sink.control(
            self.cx.top,
            EventKind::Connecting {
                addr: Addr::Path(path.display().to_string()),
            },
        );
        let addr = crate::engine::spec::unix_addr(path)
            .map_err(|e| CloseReason::Error(OpError::io(&op, &e)))?;
        sock.connect(&addr)
            .map_err(|e| CloseReason::Error(OpError::io(&op, &e)))?;
        self.add_stream(sock, self.cx.top, true)?;
        self.advance_script_conn(0);
        Ok(())
    }

    pub(in crate::engine::worker) fn resolve(
        &mut self,
        hp: &HostPort,
    ) -> Result<Vec<SocketAddr>, OpError> {
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

    pub(in crate::engine::worker) fn setup_tcp_client(
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
    pub(in crate::engine::worker) fn connect_one(
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
}
