//! Datagram sockets: receiving, destinations and sending.

use super::*;

impl Worker {
    pub(super) fn recv_dgrams(&mut self) {
        if self.shape == kind::Shape::Relay {
            return self.udp_from_clients();
        }
        let cap = self.rx.cap;
        let responder = &self.spec.responder;
        let Some(d) = &mut self.dgram else { return };
        if !self.spec.auto_read {
            return;
        }
        let mut replies: Vec<(Reply, SockAddr)> = Vec::new();
        let mut more = false;
        for i in 0..=DGRAMS_PER_TURN {
            if i == DGRAMS_PER_TURN {
                more = true;
                break;
            }
            match d
                .sock
                .recv_from_with_flags(self.rx.spare(), libc::MSG_TRUNC)
            {
                Ok((n, from)) => {
                    let kept = n.min(cap);
                    let data = self.rx.take(kept);
                    d.last_rx = now();
                    if responder.is_active() {
                        // Each datagram is one message: no framing across them.
                        d.framer
                            .datagram_from(Addr::from_sockaddr(&from).to_string());
                        for r in responder.respond(&mut d.framer, &data) {
                            replies.push((r, from.clone()));
                        }
                    }
                    let src = Addr::from_sockaddr(&from);
                    d.received(&mut self.cx.sink, data, src, (n > cap).then_some(n));
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    // ICMP errors (port unreachable) surface here on a
                    // connected socket; the socket itself is fine.
                    let op = match &d.connected {
                        Some(p) => format!("recv from {p}"),
                        None => "recvfrom".to_string(),
                    };
                    self.cx
                        .sink
                        .control(d.id, EventKind::Error(OpError::io(op, &e)));
                }
            }
        }
        match (self.spec.reply_delay, &mut self.dgram) {
            (Some(delay), Some(d)) => {
                let due = now() + delay;
                for (r, to) in replies {
                    if d.delayed.len() < MAX_DELAYED {
                        d.delayed.push_back((due, r, to));
                    } else if !d.delayed_dropped {
                        d.delayed_dropped = true;
                        self.cx
                            .sink
                            .control(d.id, EventKind::Error(delayed_overflow(delay)));
                    }
                }
            }
            _ => {
                for (r, to) in replies {
                    self.send_dgram_to(r.data.into_bytes(), Some(to));
                }
            }
        }
        if more {
            // Re-arm by reading again on the next turn.
            self.ready_again_dgram();
        }
        self.advance_script_dgram();
    }

    pub(super) fn ready_again_dgram(&mut self) {
        // The datagram socket is read again after one poll round: a zero
        // timeout poll round lets commands in between.
        if let Some(d) = &self.dgram {
            let _ = self
                .poll
                .reregister(d.sock.as_raw_fd(), DGRAM, Interest::READABLE);
        }
    }

    pub(super) fn dgram_dest(&mut self, to: &str) -> Result<SockAddr, OpError> {
        let Some(d) = &self.dgram else {
            return Err(OpError::plain("sendto", "no datagram socket"));
        };
        let unix = d.sock.domain().map(|x| x == Domain::UNIX).unwrap_or(false);
        if unix {
            return crate::engine::spec::unix_addr(to)
                .map_err(|e| OpError::io(format!("sendto {to}"), &e));
        }
        let v6 = d.sock.domain().map(|x| x == Domain::IPV6).unwrap_or(false);
        let hp = HostPort::parse(to).map_err(|m| OpError::plain(format!("sendto {to}"), m))?;
        let addrs = self.resolve(&hp)?;
        let pick = addrs
            .iter()
            .find(|a| a.is_ipv6() == v6)
            .copied()
            .or_else(|| {
                // An IPv6 socket reaches IPv4 peers through mapped addresses.
                addrs.iter().find_map(|a| match (v6, a) {
                    (true, SocketAddr::V4(v4)) => Some(SocketAddr::new(
                        IpAddr::V6(v4.ip().to_ipv6_mapped()),
                        v4.port(),
                    )),
                    _ => None,
                })
            });
        match pick {
            Some(a) => Ok(a.into()),
            None => Err(OpError::plain(
                format!("sendto {to}"),
                "this is an IPv6 name and the socket is IPv4",
            )
            .with_hint("bind the session to an IPv6 address (e.g. [::]:0)")),
        }
    }

    pub(super) fn send_dgram(&mut self, data: Vec<u8>, to: Option<&str>) {
        let dest = match to {
            Some(t) => match self.dgram_dest(t) {
                Ok(a) => Some(a),
                Err(e) => {
                    self.cx.sink.control(self.cx.top, EventKind::Error(e));
                    return;
                }
            },
            None => None,
        };
        self.send_dgram_to(data, dest);
    }

    pub(super) fn send_dgram_to(&mut self, data: Vec<u8>, to: Option<SockAddr>) {
        let Some(d) = &mut self.dgram else { return };
        let (res, peer) = match &to {
            Some(a) => (d.sock.send_to(&data, a), Some(Addr::from_sockaddr(a))),
            None if d.connected.is_some() => (d.sock.send(&data), d.connected.clone()),
            None => {
                self.cx.sink.control(
                    d.id,
                    EventKind::Error(OpError::plain(
                        "sendto",
                        "no destination: give one (host:port or a path) or connect the socket to a default peer",
                    )),
                );
                return;
            }
        };
        let target = peer.as_ref().map(|p| p.to_string()).unwrap_or_default();
        match res {
            Ok(n) => {
                let requested = (n < data.len()).then_some(data.len());
                let mut data = data;
                data.truncate(n);
                d.sent(&mut self.cx.sink, data, peer, requested);
            }
            Err(e) => self.cx.sink.control(
                d.id,
                EventKind::Error(OpError::io(format!("sendto {target}"), &e)),
            ),
        }
    }

    // ---- scripts and timers --------------------------------------------
}
