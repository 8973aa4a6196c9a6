//! UDP relays: the relay's own socket (the session's datagram socket)
//! takes datagrams from clients; each source address gets its own
//! upstream socket, connected to the target, as child `2k` (the `k`th
//! source; `2k-1` is left for the client side, which has no socket of its
//! own). What the target answers on it goes back to that source. An
//! upstream quiet for [`UDP_IDLE`] is closed, as a NAT forgets a mapping.
//! UDP has no backpressure: a datagram the kernel does not take is
//! reported and lost, as it would be on the wire.

use super::*;
use crate::engine::spec::RelayEnd;

/// How long an upstream socket lives without traffic either way.
pub(in crate::engine::worker) const UDP_IDLE: Duration = Duration::from_secs(60);
/// Upstream sockets one UDP relay keeps at once (sources past it are
/// refused, and said so): each is a descriptor.
const MAX_UDP_UPSTREAMS: usize = 4096;

/// One source's upstream socket.
pub(in crate::engine::worker) struct UdpUp {
    /// Where its answers go back to.
    src: SockAddr,
    /// The socket, logged and counted as a datagram socket.
    d: Dgram,
    /// Traffic either way, for the idle timeout.
    last: Instant,
}

/// A UDP relay's upstreams, by child and by source.
#[derive(Default)]
pub(in crate::engine::worker) struct UdpRelay {
    ups: HashMap<u32, UdpUp>,
    by_src: HashMap<Vec<u8>, u32>,
}

fn key(a: &SockAddr) -> Vec<u8> {
    // SAFETY: as_ptr points at len() initialised bytes of the address.
    unsafe { std::slice::from_raw_parts(a.as_ptr().cast::<u8>(), a.len() as usize) }.to_vec()
}

impl Worker {
    fn udp_target(&self) -> Option<SocketAddr> {
        match &self.spec.kind {
            SessionKind::Relay {
                target: RelayEnd::Udp(a),
                ..
            } => Some(*a),
            _ => None,
        }
    }

    /// Whether `child` is one of this UDP relay's upstream sockets.
    pub(in crate::engine::worker) fn is_udp_up(&self, child: u32) -> bool {
        self.udp
            .as_ref()
            .is_some_and(|u| u.ups.contains_key(&child))
    }

    /// Datagrams from clients: each logged on the relay and sent on its
    /// source's upstream (opened on its first datagram).
    pub(in crate::engine::worker) fn udp_from_clients(&mut self) {
        let cap = self.rx.cap;
        for _ in 0..DGRAMS_PER_TURN {
            let Some(d) = &mut self.dgram else { return };
            let (data, from) = match d
                .sock
                .recv_from_with_flags(self.rx.spare(), libc::MSG_TRUNC)
            {
                Ok((n, from)) => {
                    let data = self.rx.take(n.min(cap));
                    d.last_rx = now();
                    let src = Addr::from_sockaddr(&from);
                    d.received(&mut self.cx.sink, data.clone(), src, (n > cap).then_some(n));
                    (data, from)
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    let id = d.id;
                    self.cx
                        .sink
                        .control(id, EventKind::Error(OpError::io("recvfrom", &e)));
                    continue;
                }
            };
            let known = self
                .udp
                .get_or_insert_with(Default::default)
                .by_src
                .get(&key(&from))
                .copied();
            let Some(child) = known.or_else(|| self.open_udp_up(&from)) else {
                continue;
            };
            let Some(up) = self.udp.as_mut().and_then(|u| u.ups.get_mut(&child)) else {
                continue;
            };
            up.last = now();
            let target = up.d.connected.clone();
            match up.d.sock.send(&data) {
                Ok(n) => {
                    let requested = (n < data.len()).then_some(data.len());
                    let mut data = data;
                    data.truncate(n);
                    up.d.sent(&mut self.cx.sink, data, target, requested);
                }
                Err(e) => self.cx.sink.control(
                    up.d.id,
                    EventKind::Error(OpError::io("send", &e).with_hint(
                        "UDP has no backpressure: this datagram is lost, as on the wire",
                    )),
                ),
            }
        }
    }

    /// A new source's upstream socket: bound by the kernel, connected to
    /// the target, reported as `bound` with the target as its peer.
    fn open_udp_up(&mut self, src: &SockAddr) -> Option<u32> {
        let target = self.udp_target()?;
        if self
            .udp
            .as_ref()
            .is_some_and(|u| u.ups.len() >= MAX_UDP_UPSTREAMS)
        {
            self.cx.sink.control(
                self.cx.top,
                EventKind::Error(OpError::plain(
                    "relay",
                    format!(
                        "{MAX_UDP_UPSTREAMS} sources are relayed already; a datagram from {} was not forwarded",
                        Addr::from_sockaddr(src)
                    ),
                )),
            );
            return None;
        }
        // The `k`th source's upstream is child 2k, as a stream relay's is.
        let child = self.next_child + 1;
        self.next_child += 2;
        let id = self.cx.top.child(child);
        let opened = (|| {
            let sock = self.new_socket_as(id, Domain::for_address(target), Type::DGRAM)?;
            self.apply_options(&sock, id);
            let op = format!("connect {target}");
            sock.connect(&target.into())
                .map_err(|e| CloseReason::Error(OpError::io(&op, &e)))?;
            sock.set_nonblocking(true)
                .map_err(|e| CloseReason::Error(OpError::io("fcntl O_NONBLOCK", &e)))?;
            register(&self.poll, &sock, Token(child as usize), Interest::READABLE)
                .map_err(|e| CloseReason::Error(OpError::io("epoll_ctl", &e)))?;
            Ok(sock)
        })();
        let sock = match opened {
            Ok(s) => s,
            Err(reason) => {
                self.cx.sink.control(
                    id,
                    EventKind::Closed {
                        reason,
                        counters: Counters::default(),
                    },
                );
                return None;
            }
        };
        let connected = peer_of(&sock);
        self.cx.sink.control(
            id,
            EventKind::Bound {
                local: local_of(&sock),
                fd: sock.as_raw_fd(),
                peer: connected.clone(),
            },
        );
        self.cx.sink.control(
            id,
            EventKind::Step {
                index: 0,
                what: format!(
                    "upstream for {}: closed after {} s without traffic",
                    Addr::from_sockaddr(src),
                    UDP_IDLE.as_secs()
                ),
            },
        );
        let relay = self.udp.get_or_insert_with(Default::default);
        relay.by_src.insert(key(src), child);
        relay.ups.insert(
            child,
            UdpUp {
                src: src.clone(),
                d: Dgram::new(id, sock, connected, Vec::new()),
                last: now(),
            },
        );
        Some(child)
    }

    /// What the target answers on an upstream: logged there, sent back to
    /// its source from the relay's own socket.
    pub(in crate::engine::worker) fn udp_from_server(&mut self, child: u32) {
        let cap = self.rx.cap;
        for _ in 0..DGRAMS_PER_TURN {
            let Some(up) = self.udp.as_mut().and_then(|u| u.ups.get_mut(&child)) else {
                return;
            };
            match up
                .d
                .sock
                .recv_from_with_flags(self.rx.spare(), libc::MSG_TRUNC)
            {
                Ok((n, from)) => {
                    let data = self.rx.take(n.min(cap));
                    up.last = now();
                    let src = up.src.clone();
                    up.d.received(
                        &mut self.cx.sink,
                        data.clone(),
                        Addr::from_sockaddr(&from),
                        (n > cap).then_some(n),
                    );
                    self.send_dgram_to(data, Some(src));
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    // An ICMP port unreachable from the target lands here.
                    let id = up.d.id;
                    self.cx
                        .sink
                        .control(id, EventKind::Error(OpError::io("recv", &e)));
                    return;
                }
            }
        }
        self.ready_again.push_back(child);
    }

    /// When the next upstream goes idle.
    pub(in crate::engine::worker) fn udp_next_idle(&self) -> Option<Instant> {
        self.udp
            .as_ref()?
            .ups
            .values()
            .map(|u| u.last + UDP_IDLE)
            .min()
    }

    /// Closes upstreams idle since `t - UDP_IDLE` (all of them when
    /// `reason` is given: the relay is ending).
    pub(in crate::engine::worker) fn udp_close(&mut self, t: Instant, reason: Option<CloseReason>) {
        let Some(relay) = self.udp.as_mut() else {
            return;
        };
        let mut done: Vec<u32> = relay
            .ups
            .iter()
            .filter(|(_, u)| reason.is_some() || u.last + UDP_IDLE <= t)
            .map(|(k, _)| *k)
            .collect();
        done.sort_unstable();
        for child in done {
            let Some(up) = relay.ups.remove(&child) else {
                continue;
            };
            relay.by_src.remove(&key(&up.src));
            let _ = self.poll.deregister(up.d.sock.as_raw_fd());
            let why = match &reason {
                Some(r) => r.clone(),
                None => {
                    self.cx.sink.control(
                        up.d.id,
                        EventKind::Timeout {
                            op: "recv",
                            after: UDP_IDLE,
                        },
                    );
                    CloseReason::Local
                }
            };
            self.cx.sink.control(
                up.d.id,
                EventKind::Closed {
                    reason: why,
                    counters: up.d.counters,
                },
            );
        }
    }
}
