//! What a user asks of a live socket: TCP_INFO, an option, a multicast
//! group.

use super::*;

impl Worker {
    /// One `tcp_info` event per connection asked for: the one named, or
    /// every connection of a server asked by its own id.
    pub(super) fn tcp_info(&mut self, target: SessionId) {
        if !matches!(
            self.spec.kind,
            SessionKind::TcpClient { .. } | SessionKind::TcpServer { .. }
        ) {
            self.cx.sink.control(
                target,
                EventKind::Error(OpError::plain(
                    "getsockopt TCP_INFO",
                    "TCP_INFO is read from TCP connections; this session has none",
                )),
            );
            return;
        }
        let ids: Vec<u32> = if self.conns.contains_key(&target.child) {
            vec![target.child]
        } else if target == self.cx.top {
            self.conns.keys().copied().collect()
        } else {
            self.no_such(target, "getsockopt TCP_INFO");
            return;
        };
        for child in ids {
            let Some(c) = self.conns.get(&child) else {
                continue;
            };
            if c.st.is_closing() {
                continue;
            }
            let kind = match crate::engine::tcp_info::read(c.io.fd()) {
                Ok(info) => EventKind::TcpInfo(Box::new(info)),
                Err(e) => EventKind::Error(OpError::io("getsockopt TCP_INFO", &e)),
            };
            self.cx.sink.control(c.id, kind);
        }
    }

    pub(super) fn socket_of(&self, target: SessionId) -> Option<&Socket> {
        if let Some(c) = self.conns.get(&target.child) {
            return c.io.socket();
        }
        if target == self.cx.top {
            if let Some(d) = &self.dgram {
                return Some(&d.sock);
            }
            if let Some(l) = &self.listener {
                return Some(l);
            }
        }
        None
    }

    pub(super) fn set_option(&mut self, target: SessionId, opt: SockOpt) {
        if self.conns.get(&target.child).is_some_and(|c| c.io.is_tty()) {
            self.cx.sink.control(
                target,
                EventKind::Error(OpError::plain(
                    "setsockopt",
                    "a serial port has no socket options; its settings are the port's (baud, framing, flow)",
                )),
            );
            return;
        }
        let Some(sock) = self.socket_of(target) else {
            self.no_such(target, "setsockopt");
            return;
        };
        let r = SockRef::from(sock);
        if opt.name() == OptName::Blocking && self.spec.auto_read {
            self.cx.sink.control(
                target,
                EventKind::Error(OpError::plain(
                    "setblocking",
                    "this session reads automatically, so its socket stays non-blocking; open it with auto_read off to try blocking calls",
                )),
            );
            return;
        }
        let result = options::apply(&r, opt);
        let report = options::report(&r, opt.name(), Some(&opt));
        match result {
            Ok(()) => self
                .cx
                .sink
                .control(target, EventKind::OptionChanged(report)),
            Err(e) => self
                .cx
                .sink
                .control(target, EventKind::Error(options::refused(&opt, &r, &e))),
        }
    }

    pub(super) fn multicast(&mut self, group: IpAddr, join: bool) {
        let Some(d) = &self.dgram else {
            self.cx.sink.control(
                self.cx.top,
                EventKind::Error(OpError::plain(
                    "multicast",
                    "multicast groups apply to UDP sessions",
                )),
            );
            return;
        };
        let r = SockRef::from(&d.sock);
        let (if4, if6) = self.multicast_interfaces();
        let res = match (group, join) {
            (IpAddr::V4(g), true) => r.join_multicast_v4(&g, &if4),
            (IpAddr::V4(g), false) => r.leave_multicast_v4(&g, &if4),
            (IpAddr::V6(g), true) => r.join_multicast_v6(&g, if6),
            (IpAddr::V6(g), false) => r.leave_multicast_v6(&g, if6),
        };
        let kind = match res {
            Ok(()) => EventKind::Multicast {
                group,
                joined: join,
            },
            Err(e) => EventKind::Error(OpError::io(
                format!("{} multicast {group}", if join { "join" } else { "leave" }),
                &e,
            )),
        };
        self.cx.sink.control(self.cx.top, kind);
    }

    // ---- streams -------------------------------------------------------
}
