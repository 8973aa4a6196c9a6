//! Relays: a listener (TCP or Unix) whose every accepted client gets its
//! own connection to the target. The `k`th client is child `2k-1`, the
//! leg towards it; its upstream is child `2k`, the leg towards the server
//! ([`Leg`]). Both legs live in the listener's unit (they are never spread
//! apart: forwarding is a move from one leg's reads into the other's send
//! queue, with no lock and no copy across threads).
//!
//! Flow: a leg reads only while its partner's send queue is under the
//! high-water mark, so a slow reader on one side slows the writer on the
//! other down through TCP's own window instead of growing our memory.
//! Ends are passed on as they came: a FIN becomes `shutdown(SHUT_WR)` on
//! the other leg, an RST (or an abort from the user) an abort, and any
//! other end closes the other leg once what it holds is sent.

use super::*;
use crate::engine::protocol::{Leg, Release};
use crate::engine::rules::{INTERCEPT_TIMEOUT, MAX_INTERCEPTED};
use crate::engine::spec::RelayEnd;
use crate::engine::worker::stream::{peer_eof, read_error_reason};

/// How long an upstream connect may take when the session sets no
/// connect timeout.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

impl Worker {
    pub(in crate::engine::worker) fn setup_relay(
        &mut self,
        listen: RelayEnd,
    ) -> Result<(), CloseReason> {
        match listen {
            RelayEnd::Tcp(a) => self.setup_tcp_server(a, 128),
            RelayEnd::Unix(p) => self.setup_unix_server(p, 128, StalePolicy::Fail),
            RelayEnd::Udp(a) => self.setup_udp(Some(a), None, &[]),
        }
    }

    fn target(&self) -> Option<RelayEnd> {
        match &self.spec.kind {
            SessionKind::Relay { target, .. } => Some(target.clone()),
            _ => None,
        }
    }

    /// Starts the upstream leg of the client leg `client`: a non-blocking
    /// connect, finished in `connect_done` when the socket turns writable.
    /// Until then what the client sends waits in the upstream's queue.
    pub(in crate::engine::worker) fn open_upstream(&mut self, client: u32) {
        let child = Leg::partner(client);
        self.next_child = self.next_child.max(child + 1);
        let id = self.cx.top.child(child);
        let Some(target) = self.target() else {
            return;
        };
        let (domain, addr, shown) = match &target {
            RelayEnd::Tcp(a) | RelayEnd::Udp(a) => (
                Domain::for_address(*a),
                Ok(SockAddr::from(*a)),
                Addr::Inet(*a),
            ),
            RelayEnd::Unix(p) => (
                Domain::UNIX,
                crate::engine::spec::unix_addr(p),
                Addr::Path(p.display().to_string()),
            ),
        };
        let op = format!("connect {target}");
        let started = (|| {
            let sock = self.new_socket_as(id, domain, Type::STREAM)?;
            self.apply_options(&sock, id);
            sock.set_nonblocking(true)
                .map_err(|e| CloseReason::Error(OpError::io("fcntl O_NONBLOCK", &e)))?;
            let addr = addr.map_err(|e| CloseReason::Error(OpError::io(&op, &e)))?;
            self.cx.sink.control(
                id,
                EventKind::Connecting {
                    addr: shown.clone(),
                },
            );
            match sock.connect(&addr) {
                Ok(()) => {}
                Err(e)
                    if e.raw_os_error() == Some(libc::EINPROGRESS)
                        || e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(CloseReason::Error(OpError::io(&op, &e))),
            }
            // Writable says the connect is done (or failed).
            register(
                &self.poll,
                &sock,
                Token(child as usize),
                Interest::READABLE | Interest::WRITABLE,
            )
            .map_err(|e| CloseReason::Error(OpError::io("epoll_ctl", &e)))?;
            self.adopt(Io::Socket(sock), id, shown.clone(), false, true)?;
            Ok(())
        })();
        match started {
            Ok(()) => {
                if let Some(c) = self.conns.get_mut(&child) {
                    c.reg = Registration::ReadWrite;
                    c.connecting =
                        Some(now() + self.spec.connect_timeout.unwrap_or(CONNECT_TIMEOUT));
                }
            }
            Err(r) => {
                self.upstream_failed(client, &r);
                self.cx.sink.control(
                    id,
                    EventKind::Closed {
                        reason: r,
                        counters: Counters::default(),
                    },
                );
            }
        }
    }

    /// Whether the upstream leg `child`'s connect has finished; reports
    /// it (`connected`, the options read back) or closes the leg with the
    /// kernel's answer. False while it is still under way.
    pub(in crate::engine::worker) fn connect_done(&mut self, child: u32) -> bool {
        let Some(c) = self.conns.get_mut(&child) else {
            return false;
        };
        let Some(sock) = c.io.socket() else {
            return false;
        };
        let op = format!("connect {}", c.peer);
        let failed = match sock.take_error() {
            Ok(Some(e)) | Err(e) => Some(e),
            Ok(None) => match sock.peer_addr() {
                Ok(_) => None,
                Err(e) if e.raw_os_error() == Some(libc::ENOTCONN) => return false,
                Err(e) => Some(e),
            },
        };
        if let Some(e) = failed {
            c.st.close(CloseReason::Error(OpError::io(op, &e)));
            return false;
        }
        c.connecting = None;
        let local = local_of(sock);
        let peer = peer_of(sock).unwrap_or_else(|| c.peer.clone());
        let fd = sock.as_raw_fd();
        c.peer = peer.clone();
        c.framer = Framer::for_peer(peer.to_string());
        let id = c.id;
        self.cx
            .sink
            .control(id, EventKind::Connected { local, peer, fd });
        if let Some(c) = self.conns.get(&child)
            && let Some(sock) = c.io.socket()
            && let Ok(clone) = sock.try_clone()
        {
            self.snapshot(&clone, id);
        }
        // What the client sent meanwhile goes now; reads begin.
        self.ready_again.push_back(child);
        true
    }

    /// Gives up upstream connects that took too long.
    pub(in crate::engine::worker) fn connect_timeouts(&mut self, t: Instant) {
        let limit = self.spec.connect_timeout.unwrap_or(CONNECT_TIMEOUT);
        for c in self.conns.values_mut() {
            if c.connecting.is_some_and(|w| t >= w) {
                c.connecting = None;
                self.cx.sink.control(
                    c.id,
                    EventKind::Timeout {
                        op: "connect",
                        after: limit,
                    },
                );
                c.st.close(CloseReason::Error(
                    OpError::io(
                        format!("connect {}", c.peer),
                        &io::Error::from_raw_os_error(libc::ETIMEDOUT),
                    )
                    .with_hint(format!(
                        "the target did not answer within {}; check it runs, or raise connect_timeout",
                        ms(limit)
                    )),
                ));
            }
        }
    }

    /// Reads a leg and queues what it read on its partner. Nothing is
    /// read while the partner's queue is past the high-water mark, or
    /// while the leg's own upstream connect is under way.
    pub(in crate::engine::worker) fn relay_read(&mut self, child: u32) {
        if self.is_udp_up(child) {
            return self.udp_from_server(child);
        }
        let high = self.spec.limits.high_water;
        let partner = Leg::partner(child);
        let mut after = After::Nothing;
        let mut moved = false;
        let mut layered = false;
        for reads in 0.. {
            if reads == READS_PER_TURN {
                self.ready_again.push_back(child);
                break;
            }
            let held = self.held_for_partner(child);
            let room = self
                .conns
                .get(&partner)
                .map(|p| p.st.can_send() && p.st.queue.len() + held < high);
            let Some(c) = self.conns.get_mut(&child) else {
                return;
            };
            if !c.st.reading() || c.connecting.is_some() {
                break;
            }
            match room {
                // Its partner is gone: this leg's end is on its way
                // (relay_ended); reading more would have nowhere to go.
                None => break,
                Some(false) => {
                    c.st.hold_reads();
                    break;
                }
                Some(true) => {}
            }
            match c.io.recv(self.rx.spare()) {
                Ok(0) => {
                    // A TLS leg: a FIN inside a handshake fails it; a bare
                    // FIN after one may have cut the data (said, then a FIN).
                    match c.layer.as_ref().map(|t| t.at_eof()) {
                        Some(AtEof::Fails(e)) => {
                            after = After::Close(CloseReason::Error(e));
                            break;
                        }
                        Some(AtEof::Cut(e)) => self.cx.sink.control(c.id, EventKind::Error(e)),
                        None => {}
                    }
                    // Kept open: our side ends when the partner's FIN comes.
                    after = peer_eof(&mut self.cx.sink, c, true);
                    // The FIN is passed on once what came before it is sent.
                    self.pass_fin(child);
                    moved = true;
                    break;
                }
                Ok(n) => {
                    let mut data = self.rx.take(n);
                    let mut peer_closed = false;
                    // A TLS leg: records in, plaintext on to the partner;
                    // what the layer must answer (handshake) is flushed below.
                    if let Some(mut t) = c.layer.take() {
                        let fed = t.feed(&data);
                        let fed = fed.unwrap_or_else(|e| Fed {
                            failed: Some(e),
                            ..Fed::default()
                        });
                        for ev in fed.events {
                            self.cx.sink.control(c.id, ev);
                        }
                        if let Some(e) = fed.failed {
                            if let Some(mut s) = c.io.socket() {
                                let _ = t.write_to(&mut s);
                            }
                            c.layer = Some(t);
                            after = After::Close(CloseReason::Error(e));
                            break;
                        }
                        c.layer = Some(t);
                        layered = true;
                        peer_closed = fed.closed;
                        data = fed.plain;
                    }
                    c.last_rx = now();
                    if !data.is_empty() {
                        c.received(&mut self.cx.sink, data.clone(), None);
                        moved = true;
                        if !self.forward(child, data) {
                            break;
                        }
                    }
                    if peer_closed {
                        // close_notify: the TLS stream's end, passed on as a FIN.
                        if let Some(c) = self.conns.get_mut(&child) {
                            after = peer_eof(&mut self.cx.sink, c, true);
                        }
                        self.pass_fin(child);
                        moved = true;
                        break;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    after = After::Close(read_error_reason(&e));
                    break;
                }
            }
        }
        self.apply_after(child, after);
        if layered {
            self.flush_conn(child);
        }
        if moved {
            self.flush_conn(partner);
        }
    }

    /// After a leg's flush: its partner reads again once this queue is
    /// back under the low-water mark.
    pub(in crate::engine::worker) fn relay_release(&mut self, child: u32) {
        let low = self.spec.limits.low_water;
        let held = self.held_for_partner(Leg::partner(child));
        let drained = self
            .conns
            .get(&child)
            .is_some_and(|c| c.st.queue.len() + held <= low);
        if drained
            && let Some(p) = self.conns.get_mut(&Leg::partner(child))
            && p.st.release_reads()
        {
            self.ready_again.push_back(Leg::partner(child));
        }
    }

    /// A leg has ended (its `closed` is out): the other leg is ended the
    /// same way. An RST (or the user's abort) resets the other side; any
    /// other end closes it once what it still holds is sent.
    /// What rules still held for the partner (`flow`) is sent at once,
    /// not lost: its leg is gone, and with it the timers that held it.
    pub(in crate::engine::worker) fn relay_ended(
        &mut self,
        child: u32,
        reason: &CloseReason,
        flow: Option<Box<crate::engine::rules::Flow>>,
    ) {
        let partner = Leg::partner(child);
        let Some(p) = self.conns.get_mut(&partner) else {
            return;
        };
        if p.st.is_closing() {
            return;
        }
        let id = p.id;
        let way = match Leg::of(child) {
            Leg::Client => "the client",
            Leg::Server => "the server",
        };
        match reason {
            CloseReason::PeerReset | CloseReason::Aborted => {
                self.cx.sink.control(
                    id,
                    EventKind::Step {
                        index: 0,
                        what: format!("{way}'s leg was reset ({reason}); resetting this one"),
                    },
                );
                self.abort_conn(partner);
            }
            CloseReason::Error(_) if Leg::of(child) == Leg::Server => {
                self.upstream_failed(partner, reason);
            }
            _ => {
                let held = flow.map(|mut f| f.drain_all()).unwrap_or_default();
                if !held.is_empty() && p.st.can_send() {
                    let bytes: usize = held.iter().map(Vec::len).sum();
                    for d in held {
                        p.st.queue.push_as(d, Outgoing::Auto);
                    }
                    p.counters.queued_out = p.st.queue.len() as u64;
                    self.cx.sink.control(
                        id,
                        EventKind::Step {
                            index: 0,
                            what: format!(
                                "{way}'s leg ended with {bytes} bytes still held by rules: sent on at once"
                            ),
                        },
                    );
                }
                if let Some(p) = self.conns.get_mut(&partner) {
                    p.st.close_once_sent(CloseReason::Local);
                }
                self.flush_conn(partner);
            }
        }
    }

    /// The upstream of client leg `client` failed: the client is told in
    /// words and its connection closed (a FIN, as socat and Toxiproxy do).
    fn upstream_failed(&mut self, client: u32, reason: &CloseReason) {
        let Some(c) = self.conns.get_mut(&client) else {
            return;
        };
        let e = match reason {
            CloseReason::Error(e) => e.clone(),
            other => OpError::plain("relay", other.to_string()),
        };
        self.cx.sink.control(
            c.id,
            EventKind::Error(
                OpError::plain("relay", format!("the connection to the target ended: {e}"))
                    .with_hint("closing this client's connection too"),
            ),
        );
        c.st.close_once_sent(CloseReason::Local);
        self.flush_conn(client);
    }
}

impl Worker {
    /// Bytes a leg holds back for its partner (delays, throttles).
    pub(in crate::engine::worker) fn held_for_partner(&self, child: u32) -> usize {
        self.conns
            .get(&child)
            .and_then(|c| c.flow.as_ref())
            .map_or(0, |f| f.held_bytes)
    }

    /// Sends what leg `child` read on to its partner, through the rules.
    /// False when the rules ended the connection (a reset).
    fn forward(&mut self, child: u32, data: Vec<u8>) -> bool {
        let partner = Leg::partner(child);
        let t = now();
        let rules: &[crate::engine::rules::Rule] = match &self.spec.kind {
            SessionKind::Relay { rules, .. } => rules,
            _ => &[],
        };
        let (ready, reset, close, id) = {
            let Some(c) = self.conns.get_mut(&child) else {
                return false;
            };
            let flow = c.flow.get_or_insert_with(Default::default);
            if rules.is_empty() && !flow.blocked() {
                (vec![data], false, false, c.id)
            } else if flow.blocked() {
                // Order is kept: nothing overtakes a chunk the user holds.
                flow.wait_behind(data);
                return true;
            } else {
                let v = flow.apply(rules, Leg::of(child) == Leg::Client, data, t);
                let mut ready = flow.hold(v.send, t);
                if let Some(d) = v.intercepted {
                    if flow.intercepted.len() >= MAX_INTERCEPTED {
                        self.cx.sink.control(
                            c.id,
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
                        let id = flow.intercept(d.clone(), t);
                        self.cx.sink.control(
                            c.id,
                            EventKind::Intercepted {
                                id,
                                data: d,
                                timeout: INTERCEPT_TIMEOUT,
                            },
                        );
                    }
                }
                flow.close_when_sent |= v.close;
                for (index, what) in v.acted {
                    self.cx.sink.control(
                        c.id,
                        EventKind::Rule {
                            index,
                            what,
                            enabled: None,
                        },
                    );
                }
                (ready, v.reset, v.close, c.id)
            }
        };
        if reset {
            self.cx.sink.control(
                id,
                EventKind::Step {
                    index: 0,
                    what: "a rule resets both sides".into(),
                },
            );
            self.abort_conn(child);
            self.abort_conn(partner);
            return false;
        }
        if let Some(p) = self.conns.get_mut(&partner) {
            for d in ready {
                p.st.queue.push_as(d, Outgoing::Auto);
            }
            p.counters.queued_out = p.st.queue.len() as u64;
        }
        if close {
            self.close_if_sent(child);
        }
        true
    }

    /// A limit was reached on what `child` forwards: once nothing of it is
    /// held, both legs close after sending what they have.
    fn close_if_sent(&mut self, child: u32) {
        let done = self
            .conns
            .get(&child)
            .and_then(|c| c.flow.as_ref())
            .is_some_and(|f| f.close_when_sent && f.held.is_empty());
        if !done {
            return;
        }
        for leg in [child, Leg::partner(child)] {
            if let Some(c) = self.conns.get_mut(&leg) {
                c.st.close_once_sent(CloseReason::Local);
            }
            self.flush_conn(leg);
        }
    }

    /// Leg `child` read the peer's FIN: it is passed on at once, or after
    /// what the rules hold back (and a slow close) has gone.
    fn pass_fin(&mut self, child: u32) {
        let to_server = Leg::of(child) == Leg::Client;
        let t = now();
        let rules: &[crate::engine::rules::Rule] = match &self.spec.kind {
            SessionKind::Relay { rules, .. } => rules,
            _ => &[],
        };
        if let Some(c) = self.conns.get_mut(&child)
            && let Some(f) = c.flow.as_mut()
            && let Some(at) = f.fin(rules, to_server, t)
        {
            f.fin_at = Some(at);
            return;
        }
        if let Some(p) = self.conns.get_mut(&Leg::partner(child)) {
            p.st.shutdown_write();
        }
    }

    /// Lets intercepted chunks go as the user says (`Command::Release`).
    pub(in crate::engine::worker) fn release(
        &mut self,
        target: SessionId,
        id: u64,
        verdict: Release,
    ) {
        if self.udp_release(target, id, &verdict) {
            return;
        }
        let how = match verdict {
            Release::ForwardAll => {
                let mut held: Vec<(u32, u64)> = self
                    .conns
                    .iter()
                    .filter_map(|(k, c)| Some((*k, c.flow.as_ref()?)))
                    .flat_map(|(k, f)| f.intercepted.iter().map(move |(i, _, _)| (k, *i)))
                    .collect();
                held.sort_unstable();
                for (child, id) in held {
                    self.let_go(child, id, LetGo::AsItIs);
                }
                return;
            }
            Release::Forward(None) => LetGo::AsItIs,
            Release::Forward(Some(d)) => LetGo::Edited(d),
            Release::Drop => LetGo::Drop,
        };
        let held = self
            .conns
            .get(&target.child)
            .and_then(|c| c.flow.as_ref())
            .is_some_and(|f| f.intercepted.iter().any(|(i, _, _)| *i == id));
        if !held {
            self.cx.sink.control(
                target,
                EventKind::Error(OpError::plain(
                    "release",
                    format!("no chunk {id} is held on {target} (already let go, or timed out)"),
                )),
            );
            return;
        }
        self.let_go(target.child, id, how);
    }

    /// Sends one intercepted chunk on (or not), then what waited behind it.
    fn let_go(&mut self, child: u32, id: u64, how: LetGo) {
        let partner = Leg::partner(child);
        let Some(c) = self.conns.get_mut(&child) else {
            return;
        };
        let cid = c.id;
        let Some(d) = c.flow.as_mut().and_then(|f| f.take_intercepted(id)) else {
            return;
        };
        let (send, word) = match how {
            LetGo::AsItIs => (Some(d), "forwarded"),
            LetGo::Edited(e) => (Some(e), "forwarded edited"),
            LetGo::Drop => (None, "dropped"),
            LetGo::TimedOut => (Some(d), "timed out: forwarded as it was"),
        };
        let sent = send.as_ref().map_or(0, Vec::len);
        if let Some(p) = self.conns.get_mut(&partner)
            && let Some(d) = send
            && p.st.can_send()
            && !d.is_empty()
        {
            p.st.queue.push_as(d, Outgoing::Auto);
            p.counters.queued_out = p.st.queue.len() as u64;
        }
        self.cx.sink.control(
            cid,
            EventKind::Released {
                id,
                how: word,
                sent,
            },
        );
        // What waited behind it goes through the rules now, in order,
        // until one is held again.
        while let Some(next) = self
            .conns
            .get_mut(&child)
            .and_then(|c| c.flow.as_mut())
            .and_then(|f| f.next_behind())
        {
            if !self.forward(child, next) {
                return;
            }
        }
        self.flush_conn(partner);
        self.release_held(now());
    }

    /// Sends on what the rules held back and is due now, then FINs and
    /// closes that waited for it.
    pub(in crate::engine::worker) fn release_held(&mut self, t: Instant) {
        // Chunks the user did not answer in time go on as they were.
        let late: Vec<(u32, u64)> = self
            .conns
            .iter()
            .filter_map(|(k, c)| {
                let (id, _, w) = c.flow.as_ref()?.intercepted.front()?;
                (*w <= t).then_some((*k, *id))
            })
            .collect();
        for (child, id) in late {
            self.let_go(child, id, LetGo::TimedOut);
        }
        let due: Vec<u32> = self
            .conns
            .iter()
            .filter(|(_, c)| {
                c.flow
                    .as_ref()
                    .and_then(|f| f.next_due())
                    .is_some_and(|w| w <= t)
            })
            .map(|(k, _)| *k)
            .collect();
        for child in due {
            let partner = Leg::partner(child);
            let Some(f) = self.conns.get_mut(&child).and_then(|c| c.flow.as_mut()) else {
                continue;
            };
            let ready = f.due(t);
            let fin = f.held.is_empty()
                && !f.blocked()
                && f.behind.is_empty()
                && f.fin_at.is_some_and(|w| w <= t);
            if fin {
                f.fin_at = None;
            }
            if let Some(p) = self.conns.get_mut(&partner) {
                for d in ready {
                    if p.st.can_send() {
                        p.st.queue.push_as(d, Outgoing::Auto);
                    }
                }
                p.counters.queued_out = p.st.queue.len() as u64;
                if fin {
                    p.st.shutdown_write();
                }
            }
            self.flush_conn(partner);
            self.close_if_sent(child);
        }
    }

    /// Switches a rule on or off, live, for every connection.
    pub(in crate::engine::worker) fn set_rule(&mut self, index: usize, enabled: bool) {
        let top = self.cx.top;
        let SessionKind::Relay { rules, .. } = &mut Arc::make_mut(&mut self.spec).kind else {
            self.cx.sink.control(
                top,
                EventKind::Error(OpError::plain("set rule", "rules belong to relay sessions")),
            );
            return;
        };
        let Some(r) = rules.get_mut(index) else {
            let n = rules.len();
            self.cx.sink.control(
                top,
                EventKind::Error(OpError::plain(
                    "set rule",
                    format!("there is no rule {index}; this relay has {n} (counted from 0)"),
                )),
            );
            return;
        };
        r.enabled = enabled;
        let what = format!(
            "switched {}: {}",
            if enabled { "on" } else { "off" },
            r.describe()
        );
        self.cx.sink.control(
            top,
            EventKind::Rule {
                index,
                what,
                enabled: Some(enabled),
            },
        );
    }
}

/// What becomes of one intercepted chunk.
enum LetGo {
    AsItIs,
    Edited(Vec<u8>),
    Drop,
    TimedOut,
}
