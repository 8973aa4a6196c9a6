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
use crate::engine::protocol::Leg;
use crate::engine::spec::RelayEnd;
use crate::engine::worker::stream::read_error_reason;

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
            RelayEnd::Tcp(a) => (
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
        let high = self.spec.limits.high_water;
        let partner = Leg::partner(child);
        let mut after = After::Nothing;
        let mut moved = false;
        for reads in 0.. {
            if reads == READS_PER_TURN {
                self.ready_again.push_back(child);
                break;
            }
            let room = self
                .conns
                .get(&partner)
                .map(|p| p.st.can_send() && p.st.queue.len() < high);
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
                    c.st.peer_eof();
                    self.cx
                        .sink
                        .control(c.id, EventKind::HalfClosed { by: Side::Peer });
                    if c.st.write == WriteSide::Shut {
                        after = After::Close(CloseReason::PeerClosed);
                    }
                    // The FIN is passed on once what came before it is sent.
                    if let Some(p) = self.conns.get_mut(&partner) {
                        p.st.shutdown_write();
                    }
                    moved = true;
                    break;
                }
                Ok(n) => {
                    let data = self.rx.take(n);
                    c.last_rx = now();
                    c.received(&mut self.cx.sink, data.clone(), None);
                    if let Some(p) = self.conns.get_mut(&partner) {
                        p.st.queue.push_as(data, Outgoing::Auto);
                        p.counters.queued_out = p.st.queue.len() as u64;
                    }
                    moved = true;
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
        if moved {
            self.flush_conn(partner);
        }
    }

    /// After a leg's flush: its partner reads again once this queue is
    /// back under the low-water mark.
    pub(in crate::engine::worker) fn relay_release(&mut self, child: u32) {
        let low = self.spec.limits.low_water;
        let drained = self
            .conns
            .get(&child)
            .is_some_and(|c| c.st.queue.len() <= low);
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
    pub(in crate::engine::worker) fn relay_ended(&mut self, child: u32, reason: &CloseReason) {
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
                p.st.close_once_sent(CloseReason::Local);
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
