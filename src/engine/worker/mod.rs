//! One worker thread per session: a mio readiness loop that owns the
//! session's sockets (a server's listener and all its children, a client's
//! stream, a datagram socket, or both ends of a socketpair).
//!
//! A thread per connection would not hold 10,000 children on two cores, so
//! children share their server's loop. Sockets are plain `socket2::Socket`s
//! registered by fd, which keeps TCP and Unix on one code path.
//!
//! This file holds the types, the loop and the commands; the rest is split
//! by concern: `setup` (sockets, binding, connecting), `stream` (the send
//! queue, flushing, reading, accepting), `dgram`, `script`, `timers` and
//! `live` (what a user asks of a live socket).

use std::collections::{HashMap, VecDeque};
use std::io::{self, Write};
use std::mem::MaybeUninit;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, Shutdown, SocketAddr, ToSocketAddrs};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crossbeam_channel::TryRecvError;
use mio::{Events, Interest, Poll, Token};
use socket2::{Domain, SockAddr, SockRef, Socket, Type};

use super::error::OpError;
use super::framing::{Deframer, Framed, Framing};
use super::options::{self, OptName, OptValue, SockOpt};
use super::protocol::{
    Addr, CloseReason, Command, Counters, Direction, EventKind, LogEntry, SendMode, SessionId, Side,
};
use super::reactor::{Doorbell, Handoff, Reg};
use super::respond::{Framer, Reply};
use super::session::{Context, End, React};
use super::sink::Sink;
use super::spec::{Family, HostPort, Responder, SessionKind, SessionSpec, StalePolicy, Step};
use super::stream::{Crossing, ReadSide, StreamState, WriteSide};
use super::tls::TlsSetup;
use super::transport::{AtEof, Fed, Transport};
use super::ws::{Opcode, Outgoing, Stack, WsLayer, WsMeta};
use endpoint::{Conn, Dgram, Io, Registration};

mod dgram;
mod endpoint;
mod kind;
mod live;
mod react;
mod script;
mod setup;
mod spread;
mod stream;
mod timers;

// A session's own tokens are 32 bits (engine/reactor.rs puts the
// session's slot above them): child ids count up from 0, these count down.
const WAKE: Token = Token(u32::MAX as usize);
const LISTENER: Token = Token(u32::MAX as usize - 1);
const DGRAM: Token = Token(u32::MAX as usize - 2);
const CONNECTING: Token = Token(u32::MAX as usize - 3);

/// Reads per connection per readiness event before others get a turn.
const READS_PER_TURN: usize = 16;
/// Datagrams per turn.
const DGRAMS_PER_TURN: usize = 1024;
const STATS_EVERY: Duration = Duration::from_millis(250);
/// How long the peer has to answer our WebSocket close frame (its own
/// close) before the connection is closed anyway.
const WS_CLOSE_WAIT: Duration = Duration::from_secs(5);
/// SO_RCVBUF asked for UDP sessions that do not set one: the kernel's
/// default (about 200 KiB) drops datagrams of a loopback burst while the
/// loop is descheduled for a moment; a capture tool should not.
pub(crate) const DEFAULT_UDP_RCVBUF: usize = 4 * 1024 * 1024;

/// Sockets a blocked manual `recv` may be sitting in: the engine handle
/// shuts them down to unblock the worker on close.
pub(crate) type Interrupts = Arc<Mutex<Vec<Socket>>>;

struct Script {
    steps: Vec<Step>,
    idx: usize,
    wait_until: Option<Instant>,
    rx_seen: bool,
}

impl Script {
    fn new(steps: Vec<Step>) -> Script {
        Script {
            steps,
            idx: 0,
            wait_until: None,
            rx_seen: false,
        }
    }
}

/// Turns counter snapshots into rates for `Stats` events.
struct Meter {
    at: Instant,
    bytes_in: u64,
    bytes_out: u64,
    moving: bool,
}

impl Meter {
    fn new() -> Meter {
        Meter {
            at: now(),
            bytes_in: 0,
            bytes_out: 0,
            moving: false,
        }
    }

    /// A Stats event when counters changed, or one with zero rates when
    /// they just stopped changing.
    fn report(&mut self, c: &Counters, dirty: bool, t: Instant) -> Option<EventKind> {
        if !dirty && !self.moving {
            return None;
        }
        let dt = t.duration_since(self.at).as_secs_f64().max(1e-3);
        let rate_in = (c.bytes_in - self.bytes_in) as f64 / dt;
        let rate_out = (c.bytes_out - self.bytes_out) as f64 / dt;
        self.at = t;
        self.bytes_in = c.bytes_in;
        self.bytes_out = c.bytes_out;
        self.moving = dirty;
        Some(EventKind::Stats {
            counters: *c,
            rate_in,
            rate_out,
        })
    }
}

pub(crate) struct Worker {
    /// Its id, events and commands. The lifecycle wrapper and the reactor
    /// reach it through `React::cx` even after a panic here, so what was
    /// logged is still delivered.
    cx: Context,
    /// Shared with a server's children (each would otherwise carry a copy
    /// of the whole spec); changed only through `Arc::make_mut`.
    spec: Arc<SessionSpec>,
    /// Its kind of socket session, decided once (kind/).
    shape: kind::Shape,
    /// Its own poll while it is set up (and for good when it keeps its
    /// thread), then its reactor's.
    poll: Reg,
    listener: Option<Socket>,
    /// A Unix path this session bound: unlinked when the session ends,
    /// if the file there is still the socket it bound.
    owned_path: Option<OwnedPath>,
    /// Boxed: a server's child holds exactly one, and a map's smallest
    /// table has four slots (3.7 KiB of 928-byte conns, each child).
    conns: HashMap<u32, Box<Conn>>,
    /// Boxed, as the TLS identity below: most units (a server's 10,000
    /// children) have neither, and each Worker is kept whole per unit.
    dgram: Option<Box<Dgram>>,
    next_child: u32,
    ready_again: VecDeque<u32>,
    accept_retry_at: Option<Instant>,
    last_emfile_report: Option<Instant>,
    rx: RecvBuf,
    end: Option<CloseReason>,
    interrupts: Interrupts,
    last_stats: Instant,
    /// Counters of the session's own stream, kept for its Closed event.
    end_counters: Counters,
    /// The session's TLS configuration, when it speaks TLS.
    tls: Option<TlsSetup>,
    /// A TLS server's certificate, reported once it listens.
    tls_identity: Option<Box<crate::engine::tls::TlsIdentityInfo>>,
    /// How the engine rings this session (its children ring it too).
    bell: Arc<Doorbell>,
    /// The reactors children may be spread over.
    handoff: Handoff,
    /// A whole session, or one server's child apart from it (spread.rs).
    role: spread::Role,
    /// A UDP relay's upstream sockets (kind/udp_relay.rs).
    udp: Option<kind::UdpRelay>,
    /// A relay's TLS towards its target (`tls` is towards its clients).
    upstream_tls: Option<TlsSetup>,
    /// The options the last socket read back, handed out again while the
    /// next ones read back the same.
    last_options: Option<Arc<[crate::engine::options::OptionReport]>>,
}

/// Replies one connection may hold for the reply delay; a peer sending
/// faster than that cannot grow our memory without bound.
const MAX_DELAYED: usize = 10_000;

fn delayed_overflow(delay: Duration) -> OpError {
    OpError::plain(
        "reply",
        format!("more than {MAX_DELAYED} replies waiting out the {} reply delay; the newest are dropped", ms(delay)),
    )
    .with_hint("the peer sends faster than the delay lets replies go; shorten reply_delay")
}

fn now() -> Instant {
    Instant::now()
}

fn ms(d: Duration) -> String {
    format!("{}s", d.as_secs_f64())
}

impl Worker {
    /// The socket kinds (TCP, UDP, Unix stream and datagram, socketpair,
    /// serial): one readiness loop over the session's descriptors, on its
    /// own poll until it is set up.
    pub(crate) fn new(
        spec: SessionSpec,
        poll: Poll,
        interrupts: Interrupts,
        cx: Context,
        bell: Arc<Doorbell>,
        handoff: Handoff,
    ) -> Worker {
        Worker::with(
            Arc::new(spec),
            Reg::Own(poll),
            interrupts,
            cx,
            bell,
            handoff,
        )
    }

    fn with(
        spec: Arc<SessionSpec>,
        poll: Reg,
        interrupts: Interrupts,
        cx: Context,
        bell: Arc<Doorbell>,
        handoff: Handoff,
    ) -> Worker {
        let buf_len = spec.limits.recv_buffer.max(1);
        // session::pick sends only socket kinds here; a kind without a
        // shape fails its setup with a clear error (kind/mod.rs).
        let shape = kind::Shape::of(&spec.kind).unwrap_or(kind::Shape::Client);
        Worker {
            cx,
            shape,
            spec,
            poll,
            listener: None,
            owned_path: None,
            conns: HashMap::new(),
            dgram: None,
            next_child: 1,
            ready_again: VecDeque::new(),
            accept_retry_at: None,
            last_emfile_report: None,
            rx: RecvBuf::new(buf_len),
            end: None,
            interrupts,
            last_stats: now(),
            end_counters: Counters::default(),
            tls: None,
            tls_identity: None,
            bell,
            handoff,
            role: spread::Role::session(),
            udp: None,
            upstream_tls: None,
            last_options: None,
        }
    }
}

fn errno_of(e: &io::Error) -> i32 {
    e.raw_os_error().unwrap_or(0)
}

fn family_name(d: Domain) -> &'static str {
    if d == Domain::IPV4 {
        "AF_INET"
    } else if d == Domain::IPV6 {
        "AF_INET6"
    } else {
        "AF_UNIX"
    }
}

fn register(poll: &Reg, sock: &Socket, token: Token, interest: Interest) -> io::Result<()> {
    poll.register(sock.as_raw_fd(), token, interest)
}

fn local_of(sock: &Socket) -> Addr {
    sock.local_addr()
        .map(|a| Addr::from_sockaddr(&a))
        .unwrap_or(Addr::Unnamed)
}

fn peer_of(sock: &Socket) -> Option<Addr> {
    sock.peer_addr().ok().map(|a| Addr::from_sockaddr(&a))
}

thread_local! {
    /// The receive buffer a thread lends to the unit whose turn it is.
    static SPARE: std::cell::Cell<Vec<u8>> = const { std::cell::Cell::new(Vec::new()) };
}

/// The loop's receive buffer. A read that fills most of it (bulk streams)
/// is handed to the log without a copy and a fresh buffer takes its place;
/// a small read is copied out, so a 10-byte message does not pin a 64 KiB
/// allocation in the log.
struct RecvBuf {
    buf: Vec<u8>,
    cap: usize,
}

impl RecvBuf {
    fn new(cap: usize) -> RecvBuf {
        // Borrowed from the thread at the first read of a turn and given
        // back at its end: a reactor holds one buffer for all its sessions
        // (and a server's 10,000 children), not 64 KiB each.
        RecvBuf {
            buf: Vec::new(),
            cap,
        }
    }

    fn spare(&mut self) -> &mut [MaybeUninit<u8>] {
        if self.buf.capacity() < self.cap {
            let lent = SPARE.take();
            if lent.capacity() > self.buf.capacity() {
                self.buf = lent;
            }
        }
        self.buf.clear();
        self.buf.reserve(self.cap);
        &mut self.buf.spare_capacity_mut()[..self.cap]
    }

    /// Gives the buffer back to the thread, for the next unit's turn.
    fn give_back(&mut self) {
        if self.buf.capacity() == 0 {
            return;
        }
        let mine = std::mem::take(&mut self.buf);
        let held = SPARE.take();
        SPARE.set(if held.capacity() >= mine.capacity() {
            held
        } else {
            mine
        });
    }

    /// The first `n` bytes of the last read (`n` <= cap).
    fn take(&mut self, n: usize) -> Vec<u8> {
        let n = n.min(self.cap);
        // SAFETY: the recv call that returned `n` initialised the first `n`
        // bytes of the spare capacity handed out by `spare`.
        unsafe { self.buf.set_len(n) };
        if n >= self.cap / 2 {
            std::mem::take(&mut self.buf)
        } else {
            self.buf.clone()
        }
    }
}

fn uninit_as_bytes(buf: &[MaybeUninit<u8>], n: usize) -> Vec<u8> {
    // SAFETY: the kernel initialised the first `n` bytes of `buf` in the
    // recv call that returned `n` (and n <= buf.len() is checked by callers).
    unsafe { std::slice::from_raw_parts(buf.as_ptr().cast::<u8>(), n) }.to_vec()
}

enum After {
    Nothing,
    Close(CloseReason),
}

impl Worker {
    /// The session's own loop, on its own poll: while it keeps its thread.
    fn event_loop(&mut self) {
        let mut events = Events::with_capacity(1024);
        while self.end.is_none() {
            let timeout = self.next_timeout();
            let Some(poll) = self.poll.own() else {
                return;
            };
            if let Err(e) = poll.poll(&mut events, timeout)
                && e.kind() != io::ErrorKind::Interrupted
            {
                self.end = Some(CloseReason::Error(OpError::io("epoll_wait", &e)));
                break;
            }
            for ev in events.iter() {
                self.on_ready(ev.token(), ev);
            }
            self.after_turn();
        }
    }

    /// One readiness event, under the session's own token.
    fn on_ready(&mut self, token: Token, ev: &mio::event::Event) {
        match token {
            WAKE => self.drain_commands(),
            LISTENER => self.accept_all(),
            DGRAM => self.recv_dgrams(),
            Token(t) => {
                let child = t as u32;
                if ev.is_readable() || ev.is_read_closed() || ev.is_error() {
                    // A FIN or an error must be read to the end;
                    // plain data may stop at a short read.
                    let drain = ev.is_read_closed() || ev.is_error();
                    self.read_conn(child, !drain);
                }
                if ev.is_writable() || ev.is_error() {
                    self.flush_conn(child);
                }
            }
        }
    }

    /// The end of every turn: what waits for another turn, timers,
    /// reaping, stats and delivering events.
    fn after_turn(&mut self) {
        // Connections that still had data when their turn ended.
        for _ in 0..self.ready_again.len() {
            if let Some(child) = self.ready_again.pop_front() {
                self.read_conn(child, false);
            }
        }
        if self.accept_retry_at.is_some_and(|t| now() >= t) {
            self.accept_retry_at = None;
            self.accept_all();
        }
        self.timers();
        self.reap_conns();
        self.stats();
        self.rx.give_back();
        self.cx.sink.flush();
        self.cx.sink.wake();
        if self.cx.sink.consumer_gone() && self.end.is_none() {
            self.end = Some(CloseReason::EngineStopped);
        }
    }

    fn drain_commands(&mut self) {
        loop {
            match self.cx.cmds.try_recv() {
                Ok(cmd) => self.command(cmd),
                Err(TryRecvError::Empty) => return,
                Err(TryRecvError::Disconnected) => {
                    self.end = Some(self.reason_without_commands());
                    return;
                }
            }
        }
    }

    fn no_such(&mut self, target: SessionId, what: &str) {
        self.cx.sink.control(
            self.cx.top,
            EventKind::Error(OpError::plain(
                what.to_string(),
                format!("session {target} is not open (already closed, or never existed)"),
            )),
        );
    }

    fn command(&mut self, cmd: Command) {
        let Some(cmd) = self.route(cmd) else {
            return;
        };
        let target = cmd.target();
        // Commands for the session itself land on its own socket: the
        // stream of a client (child 0), the datagram socket, the listener.
        match cmd {
            Command::Close { target } if target == self.cx.top && !self.shape.has_own_stream() => {
                self.end = Some(CloseReason::Local);
            }
            Command::Abort { target } if target == self.cx.top && !self.shape.has_own_stream() => {
                self.end = Some(CloseReason::Local);
            }
            Command::Close { .. } => match self.conns.contains_key(&target.child) {
                true => self.close_stream(target.child, CloseReason::Local),
                false => self.no_such(target, "close"),
            },
            Command::Abort { .. } => match self.conns.contains_key(&target.child) {
                true => self.abort_conn(target.child),
                false => self.no_such(target, "abort"),
            },
            Command::ShutdownWrite { .. } => match self.conns.get_mut(&target.child) {
                Some(c) => {
                    c.st.shutdown_write();
                    self.flush_conn(target.child);
                }
                None => self.no_such(target, "shutdown"),
            },
            Command::Message { kind, data, .. } => {
                if !self.spec.kind.is_websocket() {
                    self.cx.sink.control(
                        target,
                        EventKind::Error(OpError::plain(
                            format!("send {}", kind.label()),
                            "messages and control frames are sent on WebSocket sessions only",
                        )),
                    );
                } else if self.conns.contains_key(&target.child) {
                    self.send_conn_as(target.child, data, SendMode::All, false, kind);
                } else {
                    self.no_such(target, "send");
                }
            }
            Command::Send { data, mode, to, .. } => {
                if self.shape == kind::Shape::Datagram && target == self.cx.top {
                    self.send_dgram(data, to.as_deref());
                } else if self.conns.contains_key(&target.child) {
                    if to.is_some() {
                        self.cx.sink.control(
                            target,
                            EventKind::Error(OpError::plain(
                                "send",
                                "a stream is connected to one peer; a destination applies to datagram sessions only",
                            )),
                        );
                        return;
                    }
                    self.send_conn(target.child, data, mode);
                } else if self.shape.listens() && target == self.cx.top {
                    self.cx.sink.control(
                        target,
                        EventKind::Error(OpError::plain(
                            "send",
                            "a listening socket cannot send; pick one of its connections, or send to all",
                        )),
                    );
                } else {
                    self.no_such(target, "send");
                }
            }
            Command::SendToChildren { data, .. } => {
                let mut children: Vec<u32> = self.conns.keys().copied().collect();
                children.sort_unstable();
                if children.is_empty() && self.remote_count() == 0 {
                    self.cx.sink.control(
                        self.cx.top,
                        EventKind::Error(OpError::plain("send to all", "no open connections")),
                    );
                }
                for c in children {
                    self.send_conn(c, data.clone(), SendMode::All);
                }
            }
            Command::SetOption { option, .. } => self.set_option(target, option),
            Command::Multicast { group, join, .. } => self.multicast(group, join),
            Command::Recv { max, .. } => self.manual_recv(target, max),
            Command::TcpInfo { .. } => self.tcp_info(target),
            Command::SetLines { dtr, rts, .. } => self.serial(target, |t| {
                EventKind::Modem(t.set_lines(dtr, rts).and_then(|()| t.modem()))
            }),
            Command::Break { .. } => self.serial(target, |t| match t.send_break() {
                Ok(()) => EventKind::BreakSent,
                Err(e) => EventKind::Error(e),
            }),
            Command::ReadModem { .. } => self.serial(target, |t| EventKind::Modem(t.modem())),
            Command::SetRule { index, enabled, .. } => self.set_rule(index, enabled),
            Command::Release { id, verdict, .. } => self.release(target, id, verdict),
            #[cfg(feature = "fault-injection")]
            Command::InjectPanic { .. } => panic!("injected fault"),
            Command::Step { .. } => self.cx.sink.control(
                target,
                EventKind::Error(OpError::plain(
                    "step",
                    "calls one by one go to step-mode sessions; open one from the Step mode panel",
                )),
            ),
        }
    }

    /// Closes a stream with RST (SO_LINGER 0), what is queued thrown away.
    fn abort_conn(&mut self, child: u32) {
        let Some(c) = self.conns.get_mut(&child) else {
            return;
        };
        c.st.queue.clear();
        // RST only comes from SO_LINGER 0: if it cannot be set, the close
        // is a plain FIN and must say so.
        let linger = match c.io.socket() {
            Some(s) => s.set_linger(Some(Duration::ZERO)),
            None => Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "a serial port has no RST",
            )),
        };
        c.st.close(match linger {
            Ok(()) => CloseReason::Aborted,
            Err(e) => {
                self.cx.sink.control(
                    c.id,
                    EventKind::Error(OpError::io("setsockopt SO_LINGER=0", &e).with_hint(
                        "without it no RST can be sent; the connection was closed with FIN",
                    )),
                );
                CloseReason::Local
            }
        });
    }

    fn stats(&mut self) {
        if self.last_stats.elapsed() < STATS_EVERY {
            return;
        }
        let t = now();
        self.last_stats = t;
        for c in self.conns.values_mut() {
            if let Some(kind) = c.meter.report(&c.counters, c.stats_dirty, t) {
                c.stats_dirty = false;
                self.cx.sink.latest(c.id, kind);
            }
        }
        if let Some(d) = &mut self.dgram
            && let Some(kind) = d.meter.report(&d.counters, d.stats_dirty, t)
        {
            d.stats_dirty = false;
            self.cx.sink.latest(d.id, kind);
        }
    }

    /// Removes connections marked closed and reports them. A client's own
    /// connection (child 0) ends the session; a socketpair ends when both
    /// ends have.
    fn reap_conns(&mut self) {
        // Again until none is left: a relayed leg's end closes its partner.
        loop {
            let done: Vec<u32> = self
                .conns
                .iter()
                .filter(|(_, c)| c.st.is_closing())
                .map(|(k, _)| *k)
                .collect();
            if done.is_empty() {
                return;
            }
            for child in done {
                let Some(mut c) = self.conns.remove(&child) else {
                    continue;
                };
                let reason = c.st.reason().cloned().unwrap_or(CloseReason::Local);
                // What rules still hold for the partner outlives this leg.
                let flow = c.flow.take();
                self.close_conn(c, reason.clone());
                if self.shape == kind::Shape::Relay {
                    self.relay_ended(child, &reason, flow);
                }
                let pair_done = self.shape == kind::Shape::Pair && self.conns.is_empty();
                let unit_done = self.is_child_unit() && self.conns.is_empty();
                if child == 0 || pair_done || unit_done {
                    self.end = Some(reason);
                }
            }
        }
    }

    fn close_conn(&mut self, mut c: Box<Conn>, reason: CloseReason) {
        // An unfinished message is shown before the end.
        c.flush_partial(&mut self.cx.sink);
        if let Some(t) = c.layer.as_mut()
            && t.ready()
            && !matches!(
                reason,
                CloseReason::Aborted | CloseReason::PeerReset | CloseReason::Error(_)
            )
        {
            // Best effort: a TLS peer learns the end was deliberate, not a truncation.
            t.close();
            if let Some(mut s) = c.io.socket() {
                let _ = t.write_to(&mut s);
            }
        }
        if c.reg != Registration::Manual {
            let _ = self.poll.deregister(c.io.fd());
        }
        let id = c.id;
        let counters = c.counters;
        drop(c);
        if id.child == 0 {
            // The session's own Closed is sent by shutdown_all with this reason.
            self.end_counters = counters;
            return;
        }
        self.cx
            .sink
            .control(id, EventKind::Closed { reason, counters });
    }

    /// Ends the session: children first, then says how the session itself
    /// ended (the wrapper sends its `Closed`).
    fn shutdown_all(&mut self) -> End {
        let reason = self.end.clone().unwrap_or(CloseReason::EngineStopped);
        let child_reason = match reason {
            CloseReason::EngineStopped => CloseReason::EngineStopped,
            _ if self.shape.listens() => CloseReason::ParentClosed,
            _ => reason.clone(),
        };
        let mut rest: Vec<u32> = self.conns.keys().copied().collect();
        rest.sort_unstable();
        for child in rest {
            if let Some(c) = self.conns.remove(&child) {
                let r =
                    c.st.reason()
                        .cloned()
                        .unwrap_or_else(|| child_reason.clone());
                self.close_conn(c, r);
            }
        }
        self.udp_close(now(), Some(child_reason));
        let mut counters = self.end_counters;
        if let Some(d) = self.dgram.take() {
            counters = d.counters;
        }
        self.listener = None;
        if let Some(p) = self.owned_path.take() {
            p.remove();
        }
        if let Ok(mut v) = self.interrupts.lock() {
            v.clear();
        }
        End { reason, counters }
    }
}

/// The socket file a session bound, known by device and inode: a file put
/// at the same path later (a user's file, another instance's socket) is
/// not ours and is never deleted.
struct OwnedPath {
    path: PathBuf,
    dev: u64,
    ino: u64,
}

impl OwnedPath {
    /// Right after bind: what is at `path` now is the socket we made.
    fn record(path: PathBuf) -> Option<OwnedPath> {
        use std::os::unix::fs::MetadataExt;
        let m = std::fs::symlink_metadata(&path).ok()?;
        Some(OwnedPath {
            dev: m.dev(),
            ino: m.ino(),
            path,
        })
    }

    /// Unlinks the path only if it is still that socket.
    fn remove(self) {
        use std::os::unix::fs::{FileTypeExt, MetadataExt};
        if let Ok(m) = std::fs::symlink_metadata(&self.path)
            && m.file_type().is_socket()
            && m.dev() == self.dev
            && m.ino() == self.ino
        {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// The error event for a blocking mode that could not be set.
fn blocking_error(blocking: bool, e: &io::Error) -> EventKind {
    EventKind::Error(
        OpError::io(
            format!("setblocking({})", if blocking { "True" } else { "False" }),
            e,
        )
        .with_hint(
            "the socket stays in its previous mode; calls may block or say EAGAIN unlike asked",
        ),
    )
}

#[cfg(test)]
mod tests {
    /// Every child of a server is a whole unit (10,000 of them for 10,000
    /// connections): what is rare stays boxed, so that each costs about a
    /// kilobyte, not the 2,256 bytes it was.
    #[test]
    fn a_unit_stays_small() {
        let size = std::mem::size_of::<super::Worker>();
        assert!(size <= 1024, "Worker grew to {size} bytes");
    }
}
