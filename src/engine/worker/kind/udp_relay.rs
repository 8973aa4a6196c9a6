//! UDP relays: the relay's own socket (the session's datagram socket)
//! takes datagrams from clients; each source address gets its own
//! upstream socket, connected to the target, as child `2k` (the `k`th
//! source; `2k-1` is left for the client side, which has no socket of its
//! own). What the target answers on it goes back to that source. An
//! upstream quiet for [`UDP_IDLE`] is closed, as a NAT forgets a mapping.
//! UDP has no backpressure: a datagram the kernel does not take is
//! reported and lost, as it would be on the wire.
//!
//! Rules run on each datagram as on a stream relay's chunks, one flow per
//! source and way (engine/rules.rs). What a stream has and a datagram has
//! not is refused when the relay is checked (reset, slow close). A limit
//! closes the source's upstream once reached: its next datagram opens a
//! new one, as a NAT that dropped a mapping would. Datagrams held by rules
//! count against one bound for the relay ([`MAX_UDP_HELD`]); past it the
//! newest is lost and said so, as a full router queue drops.

use super::*;
use crate::engine::protocol::Release;
use crate::engine::rules::{Flow, INTERCEPT_TIMEOUT, MAX_INTERCEPTED, Rule};
use crate::engine::spec::RelayEnd;

/// How long an upstream socket lives without traffic either way.
pub(in crate::engine::worker) const UDP_IDLE: Duration = Duration::from_secs(60);
/// Upstream sockets one UDP relay keeps at once (sources past it are
/// refused, and said so): each is a descriptor.
const MAX_UDP_UPSTREAMS: usize = 4096;
/// Bytes of datagrams one UDP relay's rules may hold at once, over all
/// sources and both ways (delays, throttles, intercepts): UDP cannot slow
/// a sender down, so past it the newest datagram is lost.
const MAX_UDP_HELD: usize = 16 << 20;

/// One source's upstream socket.
pub(in crate::engine::worker) struct UdpUp {
    /// Where its answers go back to.
    src: SockAddr,
    /// The socket, logged and counted as a datagram socket.
    d: Dgram,
    /// Traffic either way, for the idle timeout.
    last: Instant,
    /// The rules' state for what this source sends (even intercept ids).
    up: Flow,
    /// And for what comes back to it (odd ids).
    down: Flow,
}

impl UdpUp {
    fn flow(&mut self, to_server: bool) -> &mut Flow {
        if to_server {
            &mut self.up
        } else {
            &mut self.down
        }
    }

    fn holds_anything(&self) -> bool {
        !self.up.is_idle() || !self.down.is_idle()
    }
}

/// A UDP relay's upstreams, by child and by source.
#[derive(Default)]
pub(in crate::engine::worker) struct UdpRelay {
    ups: HashMap<u32, UdpUp>,
    by_src: HashMap<Vec<u8>, u32>,
    /// What the rules of all upstreams hold, in bytes (kept by `recount`).
    held: usize,
}

impl UdpRelay {
    fn held_by(&self, child: u32) -> usize {
        self.ups
            .get(&child)
            .map_or(0, |u| u.up.held_bytes + u.down.held_bytes)
    }
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
            if let Some(up) = self.udp.as_mut().and_then(|u| u.ups.get_mut(&child)) {
                up.last = now();
            }
            self.udp_forward(child, true, data);
        }
    }

    /// Sends one datagram on its way: to the target from the source's
    /// upstream, or back to the source from the relay's socket.
    fn udp_send(&mut self, child: u32, to_server: bool, data: Vec<u8>) {
        let Some(up) = self.udp.as_mut().and_then(|u| u.ups.get_mut(&child)) else {
            return;
        };
        if !to_server {
            let src = up.src.clone();
            return self.send_dgram_to(data, Some(src));
        }
        let target = up.d.connected.clone();
        match up.d.sock.send(&data) {
            Ok(n) => {
                let requested = (n < data.len()).then_some(data.len());
                let mut data = data;
                data.truncate(n);
                up.d.sent(&mut self.cx.sink, data, target, requested);
            }
            Err(e) => {
                self.cx.sink.control(
                    up.d.id,
                    EventKind::Error(OpError::io("send", &e).with_hint(
                        "UDP has no backpressure: this datagram is lost, as on the wire",
                    )),
                )
            }
        }
    }

    /// One datagram through the rules of its way (`to_server` or back):
    /// sent now, held (delay, throttle, slice, intercept) or dropped.
    fn udp_forward(&mut self, child: u32, to_server: bool, data: Vec<u8>) {
        let rules: &[Rule] = match &self.spec.kind {
            SessionKind::Relay { rules, .. } => rules,
            _ => &[],
        };
        let t = now();
        let Some(relay) = self.udp.as_mut() else {
            return;
        };
        let total = relay.held;
        let before = relay.held_by(child);
        let Some(up) = relay.ups.get_mut(&child) else {
            return;
        };
        let id = up.d.id;
        let flow = up.flow(to_server);
        if rules.is_empty() && flow.is_idle() {
            return self.udp_send(child, to_server, data);
        }
        if total + data.len() > MAX_UDP_HELD {
            let held = total;
            self.cx.sink.control(
                id,
                EventKind::Warning {
                    code: "held_full",
                    message: format!(
                        "rules hold {held} bytes of datagrams already; this one ({} bytes) is lost, as a full queue drops",
                        data.len()
                    ),
                },
            );
            return;
        }
        if flow.blocked() {
            // Order is kept: nothing overtakes a datagram the user holds.
            flow.wait_behind(data);
            return self.udp_recount(child, before);
        }
        let v = flow.apply(rules, to_server, data, t);
        let mut ready = flow.hold(v.send, t);
        if let Some(d) = v.intercepted {
            if flow.intercepted.len() >= MAX_INTERCEPTED {
                self.cx.sink.control(
                    id,
                    EventKind::Warning {
                        code: "intercept_full",
                        message: format!(
                            "{MAX_INTERCEPTED} chunks are already held on this leg; this one ({} bytes) goes on as it is",
                            d.len()
                        ),
                    },
                );
                ready.extend(flow.hold(vec![(t, d)], t));
            } else {
                let n = flow.intercept(d.clone(), t);
                self.cx.sink.control(
                    id,
                    EventKind::Intercepted {
                        id: n,
                        data: d,
                        timeout: INTERCEPT_TIMEOUT,
                    },
                );
            }
        }
        flow.close_when_sent |= v.close;
        for (index, what) in v.acted {
            self.cx.sink.control(
                id,
                EventKind::Rule {
                    index,
                    what,
                    enabled: None,
                },
            );
        }
        self.udp_recount(child, before);
        for d in ready {
            self.udp_send(child, to_server, d);
        }
        self.udp_limit_reached(child);
    }

    /// Brings the relay's held total up to date after upstream `child`'s
    /// flows changed from holding `before` bytes.
    fn udp_recount(&mut self, child: u32, before: usize) {
        if let Some(r) = self.udp.as_mut() {
            r.held = (r.held + r.held_by(child)).saturating_sub(before);
        }
    }

    /// A limit was reached on one of the upstream's ways and nothing is
    /// held any more: the upstream closes (the source's next datagram
    /// opens a new one).
    fn udp_limit_reached(&mut self, child: u32) {
        let Some(relay) = self.udp.as_mut() else {
            return;
        };
        let done = relay.ups.get(&child).is_some_and(|u| {
            (u.up.close_when_sent || u.down.close_when_sent) && !u.holds_anything()
        });
        if !done {
            return;
        }
        let Some(up) = relay.ups.remove(&child) else {
            return;
        };
        relay.by_src.remove(&key(&up.src));
        let _ = self.poll.deregister(up.d.sock.as_raw_fd());
        self.cx.sink.control(
            up.d.id,
            EventKind::Step {
                index: 0,
                what: format!(
                    "limit reached: this upstream is closed; the next datagram from {} opens a new one",
                    Addr::from_sockaddr(&up.src)
                ),
            },
        );
        self.cx.sink.control(
            up.d.id,
            EventKind::Closed {
                reason: CloseReason::Local,
                counters: up.d.counters,
            },
        );
    }

    /// Sends what the rules held and is due, lets go of intercepted
    /// datagrams nobody answered in time, and closes upstreams whose limit
    /// was reached.
    pub(in crate::engine::worker) fn udp_release_held(&mut self, t: Instant) {
        let Some(relay) = self.udp.as_ref() else {
            return;
        };
        let mut work: Vec<(u32, bool)> = relay
            .ups
            .iter()
            .flat_map(|(k, u)| [(*k, true, &u.up), (*k, false, &u.down)])
            .filter(|(_, _, f)| f.next_due().is_some_and(|w| w <= t))
            .map(|(k, w, _)| (k, w))
            .collect();
        work.sort_unstable();
        for (child, to_server) in work {
            let late = self
                .udp
                .as_mut()
                .and_then(|u| u.ups.get_mut(&child))
                .and_then(|u| {
                    let (id, _, w) = u.flow(to_server).intercepted.front()?;
                    (*w <= t).then_some(*id)
                });
            if let Some(id) = late {
                self.udp_let_go(child, id, Release::Forward(None), true);
            }
            let Some(relay) = self.udp.as_mut() else {
                return;
            };
            let before = relay.held_by(child);
            let ready = match relay.ups.get_mut(&child) {
                Some(u) => u.flow(to_server).due(t),
                None => continue,
            };
            self.udp_recount(child, before);
            for d in ready {
                self.udp_send(child, to_server, d);
            }
            self.udp_limit_reached(child);
        }
    }

    /// Lets intercepted datagrams go as the user says; false when
    /// `target` is not one of this UDP relay's upstreams.
    pub(in crate::engine::worker) fn udp_release(
        &mut self,
        target: SessionId,
        id: u64,
        verdict: &Release,
    ) -> bool {
        let Some(relay) = self.udp.as_ref() else {
            return false;
        };
        if matches!(verdict, Release::ForwardAll) {
            let mut held: Vec<(u32, u64)> = relay
                .ups
                .iter()
                .flat_map(|(k, u)| {
                    u.up.intercepted
                        .iter()
                        .chain(u.down.intercepted.iter())
                        .map(move |(i, _, _)| (*k, *i))
                })
                .collect();
            held.sort_unstable();
            for (child, id) in held {
                self.udp_let_go(child, id, Release::Forward(None), false);
            }
            return true;
        }
        let Some(up) = relay.ups.get(&target.child) else {
            return false;
        };
        if !up.up.holds(id) && !up.down.holds(id) {
            self.cx.sink.control(
                target,
                EventKind::Error(OpError::plain(
                    "release",
                    format!("no chunk {id} is held on {target} (already let go, or timed out)"),
                )),
            );
            return true;
        }
        self.udp_let_go(target.child, id, verdict.clone(), false);
        true
    }

    /// One intercepted datagram sent on (edited or not) or dropped, then
    /// what waited behind it through the rules.
    fn udp_let_go(&mut self, child: u32, id: u64, verdict: Release, late: bool) {
        let Some(relay) = self.udp.as_mut() else {
            return;
        };
        let before = relay.held_by(child);
        let Some(up) = relay.ups.get_mut(&child) else {
            return;
        };
        let cid = up.d.id;
        let to_server = up.up.holds(id);
        let Some(d) = up.flow(to_server).take_intercepted(id) else {
            return;
        };
        self.udp_recount(child, before);
        let (send, how) = match verdict {
            _ if late => (Some(d), "timed out: forwarded as it was"),
            Release::Forward(Some(e)) => (Some(e), "forwarded edited"),
            Release::Drop => (None, "dropped"),
            _ => (Some(d), "forwarded"),
        };
        let sent = send.as_ref().map_or(0, Vec::len);
        if let Some(d) = send.filter(|d| !d.is_empty()) {
            self.udp_send(child, to_server, d);
        }
        self.cx
            .sink
            .control(cid, EventKind::Released { id, how, sent });
        loop {
            let before = self.udp.as_ref().map_or(0, |u| u.held_by(child));
            let Some(next) = self
                .udp
                .as_mut()
                .and_then(|u| u.ups.get_mut(&child))
                .and_then(|u| u.flow(to_server).next_behind())
            else {
                break;
            };
            self.udp_recount(child, before);
            self.udp_forward(child, to_server, next);
        }
        self.udp_limit_reached(child);
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
                up: Flow::interleaved(false),
                down: Flow::interleaved(true),
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
                    up.d.received(
                        &mut self.cx.sink,
                        data.clone(),
                        Addr::from_sockaddr(&from),
                        (n > cap).then_some(n),
                    );
                    self.udp_forward(child, false, data);
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

    /// When the next upstream goes idle, or something its rules hold is
    /// due.
    pub(in crate::engine::worker) fn udp_next_due(&self) -> Option<Instant> {
        self.udp
            .as_ref()?
            .ups
            .values()
            .flat_map(|u| {
                let idle = (!u.holds_anything()).then_some(u.last + UDP_IDLE);
                [idle, u.up.next_due(), u.down.next_due()]
            })
            .flatten()
            .min()
    }

    /// The relay is ending: what the rules still hold for this upstream
    /// goes at once, both ways, rather than being lost with its timers.
    fn udp_send_held(&mut self, child: u32) {
        let Some(relay) = self.udp.as_mut() else {
            return;
        };
        let before = relay.held_by(child);
        let Some(up) = relay.ups.get_mut(&child) else {
            return;
        };
        let id = up.d.id;
        let held = [(true, up.up.drain_all()), (false, up.down.drain_all())];
        self.udp_recount(child, before);
        let bytes: usize = held.iter().flat_map(|(_, v)| v).map(Vec::len).sum();
        if bytes == 0 {
            return;
        }
        self.cx.sink.control(
            id,
            EventKind::Step {
                index: 0,
                what: format!(
                    "the relay ended with {bytes} bytes of datagrams still held by rules: sent on at once"
                ),
            },
        );
        for (to_server, all) in held {
            for d in all {
                self.udp_send(child, to_server, d);
            }
        }
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
            // What rules still hold keeps an upstream open.
            .filter(|(_, u)| reason.is_some() || (u.last + UDP_IDLE <= t && !u.holds_anything()))
            .map(|(k, _)| *k)
            .collect();
        done.sort_unstable();
        for child in done {
            if reason.is_some() {
                self.udp_send_held(child);
            }
            let Some(relay) = self.udp.as_mut() else {
                return;
            };
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
