//! One worker thread per session: a mio readiness loop that owns the
//! session's sockets (a server's listener and all its children, a client's
//! stream, a datagram socket, or both ends of a socketpair).
//!
//! A thread per connection would not hold 10,000 children on two cores, so
//! children share their server's loop. Sockets are plain `socket2::Socket`s
//! registered by fd, which keeps TCP and Unix on one code path.

use std::collections::{HashMap, VecDeque};
use std::io::{self, Write};
use std::mem::MaybeUninit;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, Shutdown, SocketAddr, ToSocketAddrs};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, TryRecvError};
use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token};
use socket2::{Domain, SockAddr, SockRef, Socket, Type};

use super::error::OpError;
use super::options::{self, SockOpt};
use super::protocol::{
    Addr, CloseReason, Command, Counters, Direction, EventKind, LogEntry, SendMode, SessionId, Side,
};
use super::respond::{Framer, Reply};
use super::sink::{Shared, Sink};
use super::spec::{Family, HostPort, Responder, SessionKind, SessionSpec, StalePolicy, Step};
use super::tls::{TlsConn, TlsSetup};

const WAKE: Token = Token(usize::MAX);
const LISTENER: Token = Token(usize::MAX - 1);
const DGRAM: Token = Token(usize::MAX - 2);
const CONNECTING: Token = Token(usize::MAX - 3);

/// Reads per connection per readiness event before others get a turn.
const READS_PER_TURN: usize = 16;
/// Datagrams per turn.
const DGRAMS_PER_TURN: usize = 1024;
const STATS_EVERY: Duration = Duration::from_millis(250);
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

/// A connected stream endpoint: the client's socket, a server's child or a
/// socketpair end.
struct Conn {
    id: SessionId,
    sock: Socket,
    peer: Addr,
    registered: bool,
    /// Registered for write readiness (only while the queue is not empty).
    watching_writes: bool,
    out: VecDeque<Vec<u8>>,
    out_off: usize,
    queued: usize,
    paused: bool,
    read_eof: bool,
    write_shut: bool,
    shutdown_pending: bool,
    close_after_flush: Option<CloseReason>,
    closed: Option<CloseReason>,
    counters: Counters,
    stats_dirty: bool,
    meter: Meter,
    last_rx: Instant,
    responder: Responder,
    framer: Framer,
    /// Replies held for the session's reply delay, oldest first.
    delayed: VecDeque<(Instant, Reply)>,
    /// Their bytes: they count against the send queue, like queued ones.
    delayed_bytes: usize,
    /// Reading stopped because the responder's replies wait for the peer
    /// to read (the send queue is past its high-water mark): the peer's
    /// window closes and it blocks, as a TCP peer's would.
    read_held: bool,
    script: Script,
    /// TLS over this stream: records in and out of the socket, plaintext
    /// in the log.
    tls: Option<Box<TlsConn>>,
    /// When an unfinished TLS handshake is given up.
    handshake_deadline: Option<Instant>,
}

/// A datagram socket (UDP or Unix).
struct Dgram {
    id: SessionId,
    sock: Socket,
    connected: Option<Addr>,
    counters: Counters,
    stats_dirty: bool,
    meter: Meter,
    last_rx: Instant,
    script: Script,
    closed: Option<CloseReason>,
    /// Replies held for the reply delay, with the datagram's source.
    delayed: VecDeque<(Instant, Reply, SockAddr)>,
    delayed_dropped: bool,
    /// The responder's state: reply count and the current source.
    framer: Framer,
}

pub(crate) struct Worker {
    top: SessionId,
    spec: SessionSpec,
    poll: Poll,
    cmds: Receiver<Command>,
    sink: Sink,
    listener: Option<Socket>,
    /// A Unix path this session bound: unlinked when the session ends,
    /// if the file there is still the socket it bound.
    owned_path: Option<OwnedPath>,
    conns: HashMap<u32, Conn>,
    dgram: Option<Dgram>,
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
    tls_identity: Option<super::tls::TlsIdentityInfo>,
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

/// Runs a session to its end. Called on the session's own named thread.
pub(crate) fn run(
    top: SessionId,
    spec: SessionSpec,
    shared: Arc<Shared>,
    cmds: Receiver<Command>,
    poll: Poll,
    interrupts: Interrupts,
) {
    let mut sink = Sink::new(shared);
    sink.control(
        top,
        EventKind::Opened {
            name: spec.name.clone(),
            kind: spec.kind.kind(),
        },
    );
    let buf_len = spec.limits.recv_buffer.max(1);
    let mut w = Worker {
        top,
        spec,
        poll,
        cmds,
        sink,
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
    };
    match w.setup() {
        Ok(()) => w.event_loop(),
        Err(reason) => w.end = Some(reason),
    }
    w.shutdown_all();
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

fn register(poll: &Poll, sock: &Socket, token: Token, interest: Interest) -> io::Result<()> {
    poll.registry()
        .register(&mut SourceFd(&sock.as_raw_fd()), token, interest)
}

fn local_of(sock: &Socket) -> Addr {
    sock.local_addr()
        .map(|a| Addr::from_sockaddr(&a))
        .unwrap_or(Addr::Unnamed)
}

fn peer_of(sock: &Socket) -> Option<Addr> {
    sock.peer_addr().ok().map(|a| Addr::from_sockaddr(&a))
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
        RecvBuf {
            buf: Vec::with_capacity(cap),
            cap,
        }
    }

    fn spare(&mut self) -> &mut [MaybeUninit<u8>] {
        self.buf.clear();
        self.buf.reserve(self.cap);
        &mut self.buf.spare_capacity_mut()[..self.cap]
    }

    /// The first `n` bytes of the last read (`n` <= cap).
    fn take(&mut self, n: usize) -> Vec<u8> {
        let n = n.min(self.cap);
        // SAFETY: the recv call that returned `n` initialised the first `n`
        // bytes of the spare capacity handed out by `spare`.
        unsafe { self.buf.set_len(n) };
        if n >= self.cap / 2 {
            std::mem::replace(&mut self.buf, Vec::with_capacity(self.cap))
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

impl Worker {
    fn stop_requested_during_setup(&mut self) -> bool {
        loop {
            match self.cmds.try_recv() {
                Ok(Command::Close { target }) | Ok(Command::Abort { target })
                    if target == self.top =>
                {
                    return true;
                }
                Ok(other) => self.sink.control(
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

    fn new_socket(&mut self, domain: Domain, ty: Type) -> Result<Socket, CloseReason> {
        let sock = Socket::new(domain, ty, None)
            .map_err(|e| CloseReason::Error(OpError::io("socket", &e)))?;
        self.sink.control(
            self.top,
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
    fn apply_options(&mut self, sock: &Socket, id: SessionId) {
        let r = SockRef::from(sock);
        let shape = options::SocketShape::of(&r).ok();
        for opt in self.spec.options.clone() {
            if let Some(shape) = shape
                && !opt.name().applies(shape)
            {
                continue;
            }
            if let Err(e) = options::apply(&r, opt) {
                let name = opt.name().c_name(shape.is_some_and(|s| s.v6));
                self.sink.control(
                    id,
                    EventKind::Error(OpError::io(
                        format!("setsockopt {name}={}", opt.value_text()),
                        &e,
                    )),
                );
            }
        }
        if let Some(t) = self.spec.read_timeout
            && let Err(e) = r.set_read_timeout(Some(t))
        {
            self.sink.control(
                id,
                EventKind::Error(OpError::io(
                    format!("setsockopt SO_RCVTIMEO={:.3}s", t.as_secs_f64()),
                    &e,
                )),
            );
        }
    }

    fn snapshot(&mut self, sock: &Socket, id: SessionId) {
        let mut requested = self.spec.options.clone();
        if let Some(t) = self.spec.read_timeout {
            requested.push(SockOpt::ReadTimeout(Some(t)));
        }
        let snap = options::snapshot(&SockRef::from(sock), &requested);
        self.sink.control(id, EventKind::Options(snap));
    }

    fn setup(&mut self) -> Result<(), CloseReason> {
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
                _ => None,
            };
            let (setup, identity) =
                TlsSetup::build(t, host.as_deref()).map_err(CloseReason::Error)?;
            self.tls = Some(setup);
            self.tls_identity = identity;
        }
        match self.spec.kind.clone() {
            SessionKind::TcpClient { remote, local } => self.setup_tcp_client(&remote, local),
            SessionKind::TcpServer { local, backlog } => {
                let domain = Domain::for_address(local);
                let sock = self.new_socket(domain, Type::STREAM)?;
                // Servers take SO_REUSEADDR unless told otherwise, as the
                // seed's servers and most tools do: a restarted server
                // must not fail for a minute over connections in TIME_WAIT.
                // (It never lets two listeners share a port.)
                if !self
                    .spec
                    .options
                    .iter()
                    .any(|o| matches!(o, SockOpt::ReuseAddress(_)))
                {
                    self.spec.options.insert(0, SockOpt::ReuseAddress(true));
                }
                self.apply_options(&sock, self.top);
                sock.bind(&local.into())
                    .map_err(|e| CloseReason::Error(OpError::io(format!("bind {local}"), &e)))?;
                self.listen(sock, backlog, None)
            }
            SessionKind::UnixServer {
                path,
                backlog,
                stale,
            } => {
                self.check_stale(&path, stale)?;
                let sock = self.new_socket(Domain::UNIX, Type::STREAM)?;
                self.apply_options(&sock, self.top);
                let addr = super::spec::unix_addr(&path).map_err(|e| {
                    CloseReason::Error(OpError::io(format!("bind {}", path.display()), &e))
                })?;
                sock.bind(&addr).map_err(|e| {
                    CloseReason::Error(OpError::io(format!("bind {}", path.display()), &e))
                })?;
                self.listen(sock, backlog, Some(path))
            }
            SessionKind::UnixClient { path } => {
                let sock = self.new_socket(Domain::UNIX, Type::STREAM)?;
                self.apply_options(&sock, self.top);
                let op = format!("connect {}", path.display());
                self.sink.control(
                    self.top,
                    EventKind::Connecting {
                        addr: Addr::Path(path.display().to_string()),
                    },
                );
                let addr = super::spec::unix_addr(&path)
                    .map_err(|e| CloseReason::Error(OpError::io(&op, &e)))?;
                sock.connect(&addr)
                    .map_err(|e| CloseReason::Error(OpError::io(&op, &e)))?;
                self.add_stream(sock, self.top, true)?;
                self.advance_script_conn(0);
                Ok(())
            }
            SessionKind::Udp {
                local,
                connect,
                join,
            } => self.setup_udp(local, connect.as_ref(), &join),
            SessionKind::UnixDatagram { local, connect } => {
                let sock = self.new_socket(Domain::UNIX, Type::DGRAM)?;
                self.apply_options(&sock, self.top);
                if let Some(p) = &local {
                    self.check_stale(p, StalePolicy::Fail)?;
                    let op = format!("bind {}", p.display());
                    let a = super::spec::unix_addr(p)
                        .map_err(|e| CloseReason::Error(OpError::io(&op, &e)))?;
                    sock.bind(&a)
                        .map_err(|e| CloseReason::Error(OpError::io(&op, &e)))?;
                }
                if let Some(p) = &connect {
                    let op = format!("connect {}", p.display());
                    let a = super::spec::unix_addr(p)
                        .map_err(|e| CloseReason::Error(OpError::io(&op, &e)))?;
                    sock.connect(&a)
                        .map_err(|e| CloseReason::Error(OpError::io(&op, &e)))?;
                }
                self.add_dgram(sock, local)
            }
            SessionKind::Script { .. } | SessionKind::Burst(_) => Err(CloseReason::Error(
                OpError::plain("open", "step-mode sessions run on their own thread"),
            )),
            SessionKind::SocketPair => {
                let (a, b) = Socket::pair(Domain::UNIX, Type::STREAM, None)
                    .map_err(|e| CloseReason::Error(OpError::io("socketpair", &e)))?;
                for (i, s) in [a, b].into_iter().enumerate() {
                    let id = self.top.child(i as u32 + 1);
                    self.sink.control(
                        id,
                        EventKind::SocketCreated {
                            fd: s.as_raw_fd(),
                            family: "AF_UNIX",
                            socktype: "SOCK_STREAM",
                        },
                    );
                    self.apply_options(&s, id);
                    self.add_stream(s, id, i == 0)?;
                }
                self.next_child = 3;
                // Scripts start once both ends exist.
                self.advance_script_conn(1);
                Ok(())
            }
        }
    }

    /// The blocking mode asked for (the last `blocking` option; default on,
    /// as Python sockets are).
    fn requested_blocking(&self) -> bool {
        self.spec
            .options
            .iter()
            .rev()
            .find_map(|o| match o {
                SockOpt::Blocking(b) => Some(*b),
                _ => None,
            })
            .unwrap_or(true)
    }

    /// Groups are joined on the multicast interface the options name (so a
    /// loopback-only setup stays on loopback); otherwise the kernel picks.
    fn multicast_interfaces(&self) -> (Ipv4Addr, u32) {
        let mut v4 = Ipv4Addr::UNSPECIFIED;
        let mut v6 = 0;
        for o in &self.spec.options {
            match o {
                SockOpt::MulticastIfV4(a) => v4 = *a,
                SockOpt::MulticastIfV6(i) => v6 = *i,
                _ => {}
            }
        }
        (v4, v6)
    }

    fn check_stale(&mut self, path: &Path, stale: StalePolicy) -> Result<(), CloseReason> {
        use std::os::unix::fs::FileTypeExt;
        let Ok(meta) = std::fs::symlink_metadata(path) else {
            return Ok(());
        };
        let op = format!("bind {}", path.display());
        if !meta.file_type().is_socket() {
            return Err(CloseReason::Error(OpError::plain(
                op,
                "a file that is not a socket is in the way; Sockscope never deletes it, choose another path",
            )));
        }
        // Stale means both a stream and a datagram connect were refused:
        // any other answer (it accepted, EACCES, EPROTOTYPE from a
        // seqpacket listener) means something may live there.
        let refused = |r: io::Result<()>| {
            r.err()
                .is_some_and(|e| e.raw_os_error() == Some(libc::ECONNREFUSED))
        };
        let stale_stream = refused(std::os::unix::net::UnixStream::connect(path).map(|_| ()));
        let stale_dgram =
            refused(std::os::unix::net::UnixDatagram::unbound().and_then(|d| d.connect(path)));
        if !(stale_stream && stale_dgram) {
            return Err(CloseReason::Error(OpError::plain(
                op,
                "a socket at this path may be live (it did not refuse a connection): another server may be running; choose another path",
            )));
        }
        match stale {
            StalePolicy::Fail => Err(CloseReason::Error(OpError::plain(
                op,
                "a stale socket file from an earlier run is in the way (nothing listens on it); set `stale: RemoveIfStale` to remove it, or delete it yourself",
            ))),
            StalePolicy::RemoveIfStale => {
                // Only the file we just found stale, not one put there since.
                use std::os::unix::fs::MetadataExt;
                let same = std::fs::symlink_metadata(path)
                    .is_ok_and(|m| m.dev() == meta.dev() && m.ino() == meta.ino());
                if !same {
                    return Err(CloseReason::Error(OpError::plain(
                        op,
                        "the socket file changed while it was checked; try again",
                    )));
                }
                std::fs::remove_file(path).map_err(|e| {
                    CloseReason::Error(OpError::io(format!("unlink {}", path.display()), &e))
                })?;
                self.sink.control(
                    self.top,
                    EventKind::Step {
                        index: 0,
                        what: format!("removed stale socket file {}", path.display()),
                    },
                );
                Ok(())
            }
        }
    }

    fn listen(
        &mut self,
        sock: Socket,
        backlog: i32,
        unix_path: Option<PathBuf>,
    ) -> Result<(), CloseReason> {
        let local = local_of(&sock);
        sock.listen(backlog)
            .map_err(|e| CloseReason::Error(OpError::io(format!("listen {local}"), &e)))?;
        let inet = sock.local_addr().ok().and_then(|a| a.as_socket());
        sock.set_nonblocking(true)
            .map_err(|e| CloseReason::Error(OpError::io("fcntl O_NONBLOCK", &e)))?;
        register(&self.poll, &sock, LISTENER, Interest::READABLE)
            .map_err(|e| CloseReason::Error(OpError::io("epoll_ctl", &e)))?;
        self.sink.control(
            self.top,
            EventKind::Listening {
                local,
                fd: sock.as_raw_fd(),
                backlog,
            },
        );
        if let Some(a) = inet
            && a.ip().is_unspecified()
        {
            self.warn_all_interfaces(a, "listens");
        }
        self.snapshot(&sock, self.top);
        if let Some(id) = self.tls_identity.take() {
            self.sink
                .control(self.top, EventKind::TlsIdentity(Box::new(id)));
        }
        self.listener = Some(sock);
        self.owned_path = unix_path.and_then(OwnedPath::record);
        Ok(())
    }

    fn resolve(&mut self, hp: &HostPort) -> Result<Vec<SocketAddr>, OpError> {
        let literal = hp.host.parse::<IpAddr>().is_ok();
        if !literal {
            self.sink.control(
                self.top,
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
            self.sink.control(
                self.top,
                EventKind::Resolved {
                    host: hp.host.clone(),
                    addrs: addrs.clone(),
                },
            );
        }
        Ok(addrs)
    }

    fn setup_tcp_client(
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
                    self.add_stream(sock, self.top, true)?;
                    self.advance_script_conn(0);
                    return Ok(());
                }
                Ok(None) => return Err(CloseReason::Local),
                Err(e) => {
                    self.sink
                        .control(self.top, EventKind::ConnectFailed(e.clone()));
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
    fn connect_one(
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
        self.apply_options(&sock, self.top);
        if let Some(l) = local {
            sock.bind(&l.into())
                .map_err(|e| OpError::io(format!("bind {l}"), &e))?;
        }
        sock.set_nonblocking(true)
            .map_err(|e| OpError::io("fcntl O_NONBLOCK", &e))?;
        self.sink.control(
            self.top,
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
                self.sink.control(
                    self.top,
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
            if let Err(e) = self.poll.poll(&mut events, timeout)
                && e.kind() != io::ErrorKind::Interrupted
            {
                break Err(OpError::io("epoll_wait", &e));
            }
            let mut writable = false;
            for ev in events.iter() {
                if ev.token() == WAKE && self.stop_requested_during_setup() {
                    let _ = self
                        .poll
                        .registry()
                        .deregister(&mut SourceFd(&sock.as_raw_fd()));
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
        let _ = self
            .poll
            .registry()
            .deregister(&mut SourceFd(&sock.as_raw_fd()));
        result.map(|()| Some(sock))
    }

    /// Takes over a connected stream as `id`; `script` says whether the
    /// session's script runs on it.
    fn add_stream(&mut self, sock: Socket, id: SessionId, script: bool) -> Result<(), CloseReason> {
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
                self.sink.control(id, blocking_error(blocking, &e));
            }
            if let Ok(clone) = sock.try_clone()
                && let Ok(mut v) = self.interrupts.lock()
            {
                v.push(clone);
            }
        }
        self.sink.control(
            id,
            EventKind::Connected {
                local,
                peer: peer.clone(),
                fd: sock.as_raw_fd(),
            },
        );
        self.snapshot(&sock, id);
        let tls = match &self.tls {
            Some(setup) => Some(Box::new(setup.start().map_err(CloseReason::Error)?)),
            None => None,
        };
        let client_tls = tls.is_some() && !self.spec.kind.is_server();
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
            Conn {
                id,
                sock,
                peer,
                registered: auto,
                watching_writes: false,
                out: VecDeque::new(),
                out_off: 0,
                queued: 0,
                paused: false,
                read_eof: false,
                write_shut: false,
                shutdown_pending: false,
                close_after_flush: None,
                closed: None,
                counters: Counters::default(),
                stats_dirty: false,
                meter: Meter::new(),
                last_rx: now(),
                responder,
                framer: Framer::for_peer(peer_text),
                delayed: VecDeque::new(),
                delayed_bytes: 0,
                read_held: false,
                script: Script::new(steps),
                handshake_deadline: tls.as_ref().and(
                    self.spec
                        .tls
                        .as_ref()
                        .map(|t| now() + t.handshake_timeout()),
                ),
                tls,
            },
        );
        if client_tls {
            // The ClientHello goes out at once.
            self.flush_conn(id.child);
        }
        Ok(())
    }

    fn setup_udp(
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
            .any(|o| matches!(o, SockOpt::RecvBuffer(_)))
        {
            self.spec
                .options
                .insert(0, SockOpt::RecvBuffer(DEFAULT_UDP_RCVBUF));
        }
        self.apply_options(&sock, self.top);
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
                Ok(()) => self.sink.control(
                    self.top,
                    EventKind::Multicast {
                        group: *g,
                        joined: true,
                    },
                ),
                Err(e) => self.sink.control(
                    self.top,
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

    /// Says that a socket can be reached from other machines.
    fn warn_all_interfaces(&mut self, a: SocketAddr, what: &str) {
        let lo = if a.is_ipv6() { "::1" } else { "127.0.0.1" };
        self.sink.control(
            self.top,
            EventKind::Warning {
                code: "all_interfaces",
                message: format!(
                    "{a} {what} on every interface: other machines on the network can reach it; bind {lo} to keep it on this one"
                ),
            },
        );
    }

    fn add_dgram(&mut self, sock: Socket, unix_path: Option<PathBuf>) -> Result<(), CloseReason> {
        if self.spec.auto_read {
            sock.set_nonblocking(true)
                .map_err(|e| CloseReason::Error(OpError::io("fcntl O_NONBLOCK", &e)))?;
            register(&self.poll, &sock, DGRAM, Interest::READABLE)
                .map_err(|e| CloseReason::Error(OpError::io("epoll_ctl", &e)))?;
        } else {
            let blocking = self.requested_blocking();
            if let Err(e) = sock.set_nonblocking(!blocking) {
                self.sink.control(self.top, blocking_error(blocking, &e));
            }
            if let Ok(clone) = sock.try_clone()
                && let Ok(mut v) = self.interrupts.lock()
            {
                v.push(clone);
            }
        }
        let connected = peer_of(&sock);
        self.sink.control(
            self.top,
            EventKind::Bound {
                local: local_of(&sock),
                fd: sock.as_raw_fd(),
                peer: connected.clone(),
            },
        );
        self.snapshot(&sock, self.top);
        // A bound Unix datagram path is ours to remove at close.
        if let Some(p) = unix_path {
            self.owned_path = OwnedPath::record(p);
        }
        self.dgram = Some(Dgram {
            id: self.top,
            sock,
            connected,
            counters: Counters::default(),
            stats_dirty: false,
            meter: Meter::new(),
            last_rx: now(),
            script: Script::new(self.spec.steps.clone()),
            closed: None,
            delayed: VecDeque::new(),
            delayed_dropped: false,
            framer: Framer::default(),
        });
        self.advance_script_dgram();
        Ok(())
    }
}

/// What a conn needs done after an I/O step, decided while it is borrowed.
enum After {
    Nothing,
    Close(CloseReason),
}

impl Worker {
    fn event_loop(&mut self) {
        let mut events = Events::with_capacity(1024);
        while self.end.is_none() {
            let timeout = self.next_timeout();
            if let Err(e) = self.poll.poll(&mut events, timeout)
                && e.kind() != io::ErrorKind::Interrupted
            {
                self.end = Some(CloseReason::Error(OpError::io("epoll_wait", &e)));
                break;
            }
            for ev in events.iter() {
                match ev.token() {
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
            self.sink.flush();
            self.sink.wake();
            if self.sink.consumer_gone() && self.end.is_none() {
                self.end = Some(CloseReason::EngineStopped);
            }
        }
    }

    fn next_timeout(&self) -> Option<Duration> {
        if !self.ready_again.is_empty() {
            return Some(Duration::ZERO);
        }
        let t = now();
        let mut next: Option<Instant> = self.accept_retry_at;
        let mut consider = |i: Instant| {
            next = Some(next.map_or(i, |n| n.min(i)));
        };
        let rt = if self.spec.auto_read {
            self.spec.read_timeout
        } else {
            None
        };
        for c in self.conns.values() {
            if let Some(w) = c.script.wait_until {
                consider(w);
            }
            if let Some((w, _)) = c.delayed.front() {
                consider(*w);
            }
            if let Some(w) = c.handshake_deadline {
                consider(w);
            }
            if let Some(rt) = rt
                && !c.read_eof
                && !c.read_held
            {
                consider(c.last_rx + rt);
            }
            if c.stats_dirty || c.meter.moving {
                consider(self.last_stats + STATS_EVERY);
            }
        }
        if let Some(d) = &self.dgram {
            if let Some(w) = d.script.wait_until {
                consider(w);
            }
            if let Some((w, _, _)) = d.delayed.front() {
                consider(*w);
            }
            if let Some(rt) = rt {
                consider(d.last_rx + rt);
            }
            if d.stats_dirty || d.meter.moving {
                consider(self.last_stats + STATS_EVERY);
            }
        }
        if self.sink.has_pending() {
            consider(t + Duration::from_millis(10));
        }
        next.map(|n| n.saturating_duration_since(t))
    }

    fn drain_commands(&mut self) {
        loop {
            match self.cmds.try_recv() {
                Ok(cmd) => self.command(cmd),
                Err(TryRecvError::Empty) => return,
                Err(TryRecvError::Disconnected) => {
                    self.end = Some(CloseReason::EngineStopped);
                    return;
                }
            }
        }
    }

    fn no_such(&mut self, target: SessionId, what: &str) {
        self.sink.control(
            self.top,
            EventKind::Error(OpError::plain(
                what.to_string(),
                format!("session {target} is not open (already closed, or never existed)"),
            )),
        );
    }

    fn command(&mut self, cmd: Command) {
        let target = cmd.target();
        // Commands for the session itself land on its own socket: the
        // stream of a client (child 0), the datagram socket, the listener.
        match cmd {
            Command::Close { target } if target == self.top && !self.conns.contains_key(&0) => {
                self.end = Some(CloseReason::Local);
            }
            Command::Abort { target } if target == self.top && !self.conns.contains_key(&0) => {
                self.end = Some(CloseReason::Local);
            }
            Command::Close { .. } => match self.conns.get_mut(&target.child) {
                Some(c) => {
                    if c.queued == 0 {
                        c.closed = Some(CloseReason::Local);
                    } else {
                        c.close_after_flush = Some(CloseReason::Local);
                    }
                }
                None => self.no_such(target, "close"),
            },
            Command::Abort { .. } => match self.conns.get_mut(&target.child) {
                Some(c) => {
                    c.out.clear();
                    c.queued = 0;
                    // RST only comes from SO_LINGER 0: if it cannot be set,
                    // the close is a plain FIN and must say so.
                    c.closed = Some(match c.sock.set_linger(Some(Duration::ZERO)) {
                        Ok(()) => CloseReason::Aborted,
                        Err(e) => {
                            self.sink.control(
                                c.id,
                                EventKind::Error(
                                    OpError::io("setsockopt SO_LINGER=0", &e).with_hint(
                                        "without it no RST can be sent; the connection was closed with FIN",
                                    ),
                                ),
                            );
                            CloseReason::Local
                        }
                    });
                }
                None => self.no_such(target, "abort"),
            },
            Command::ShutdownWrite { .. } => match self.conns.get_mut(&target.child) {
                Some(c) => {
                    c.shutdown_pending = true;
                    self.flush_conn(target.child);
                }
                None => self.no_such(target, "shutdown"),
            },
            Command::Send { data, mode, to, .. } => {
                if self.dgram.is_some() && target == self.top {
                    self.send_dgram(data, to.as_deref());
                } else if self.conns.contains_key(&target.child) {
                    if to.is_some() {
                        self.sink.control(
                            target,
                            EventKind::Error(OpError::plain(
                                "send",
                                "a stream is connected to one peer; a destination applies to datagram sessions only",
                            )),
                        );
                        return;
                    }
                    self.send_conn(target.child, data, mode);
                } else if self.listener.is_some() && target == self.top {
                    self.sink.control(
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
                if children.is_empty() {
                    self.sink.control(
                        self.top,
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
            #[cfg(feature = "fault-injection")]
            Command::InjectPanic { .. } => panic!("injected fault"),
            Command::Step { .. } => self.sink.control(
                target,
                EventKind::Error(OpError::plain(
                    "step",
                    "calls one by one go to step-mode sessions; open one from the Step mode panel",
                )),
            ),
        }
    }

    /// One `tcp_info` event per connection asked for: the one named, or
    /// every connection of a server asked by its own id.
    fn tcp_info(&mut self, target: SessionId) {
        if !matches!(
            self.spec.kind,
            SessionKind::TcpClient { .. } | SessionKind::TcpServer { .. }
        ) {
            self.sink.control(
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
        } else if target == self.top {
            self.conns.keys().copied().collect()
        } else {
            self.no_such(target, "getsockopt TCP_INFO");
            return;
        };
        for child in ids {
            let Some(c) = self.conns.get(&child) else {
                continue;
            };
            if c.closed.is_some() {
                continue;
            }
            let kind = match super::tcp_info::read(c.sock.as_raw_fd()) {
                Ok(info) => EventKind::TcpInfo(Box::new(info)),
                Err(e) => EventKind::Error(OpError::io("getsockopt TCP_INFO", &e)),
            };
            self.sink.control(c.id, kind);
        }
    }

    fn socket_of(&self, target: SessionId) -> Option<&Socket> {
        if let Some(c) = self.conns.get(&target.child) {
            return Some(&c.sock);
        }
        if target == self.top {
            if let Some(d) = &self.dgram {
                return Some(&d.sock);
            }
            if let Some(l) = &self.listener {
                return Some(l);
            }
        }
        None
    }

    fn set_option(&mut self, target: SessionId, opt: SockOpt) {
        let Some(sock) = self.socket_of(target) else {
            self.no_such(target, "setsockopt");
            return;
        };
        let r = SockRef::from(sock);
        if matches!(opt, SockOpt::Blocking(_)) && self.spec.auto_read {
            self.sink.control(
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
            Ok(()) => self.sink.control(target, EventKind::OptionChanged(report)),
            Err(e) => self.sink.control(
                target,
                EventKind::Error(OpError::io(
                    format!("setsockopt {}={}", report.name, opt.value_text()),
                    &e,
                )),
            ),
        }
    }

    fn multicast(&mut self, group: IpAddr, join: bool) {
        let Some(d) = &self.dgram else {
            self.sink.control(
                self.top,
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
        self.sink.control(self.top, kind);
    }

    // ---- streams -------------------------------------------------------

    fn send_conn(&mut self, child: u32, data: Vec<u8>, mode: SendMode) {
        self.send_conn_as(child, data, mode, false)
    }

    /// `reply`: the responder's bytes, queued whatever the queue holds.
    fn send_conn_as(&mut self, child: u32, data: Vec<u8>, mode: SendMode, reply: bool) {
        let limits = self.spec.limits;
        let auto = self.spec.auto_read;
        let Some(c) = self.conns.get_mut(&child) else {
            return;
        };
        if c.write_shut || c.shutdown_pending {
            self.sink.control(
                c.id,
                EventKind::Error(OpError::io(
                    "send",
                    &io::Error::from_raw_os_error(libc::EPIPE),
                )
                .with_hint("this side was shut down for writing (shutdown SHUT_WR); nothing more can be sent")),
            );
            return;
        }
        if data.is_empty() {
            return;
        }
        // Over TLS every write goes through the record layer's queue.
        let mode = if c.tls.is_some() { SendMode::All } else { mode };
        if !auto {
            // Manual sessions: the call happens now, in the socket's own mode.
            let after = direct_send(&mut self.sink, c, &data, mode);
            self.apply_after(child, after);
            return;
        }
        match mode {
            SendMode::Once => {
                if c.queued > 0 {
                    self.sink.control(
                        c.id,
                        EventKind::Error(OpError::plain(
                            "send",
                            format!(
                                "{} bytes from an earlier sendall are still queued; a single send now would jump ahead of them (use sendall)",
                                c.queued
                            ),
                        )),
                    );
                    return;
                }
                let after = direct_send(&mut self.sink, c, &data, SendMode::Once);
                self.apply_after(child, after);
            }
            SendMode::All => {
                if !reply && c.queued + data.len() > limits.send_queue {
                    self.sink.control(
                        c.id,
                        EventKind::Error(OpError::plain(
                            "sendall",
                            format!(
                                "send queue full: {} bytes wait for the peer to read (limit {}); these {} bytes were not queued",
                                c.queued,
                                limits.send_queue,
                                data.len()
                            ),
                        )
                        .with_hint("the peer is not reading; wait for write_resumed, or raise the send queue limit")),
                    );
                    return;
                }
                c.queued += data.len();
                c.counters.queued_out = c.queued as u64;
                c.out.push_back(data);
                self.flush_conn(child);
            }
        }
    }

    fn apply_after(&mut self, child: u32, after: After) {
        if let After::Close(r) = after
            && let Some(c) = self.conns.get_mut(&child)
            && c.closed.is_none()
        {
            c.closed = Some(r);
        }
    }

    /// Writes queued data as far as the kernel takes it, then handles the
    /// water marks, a pending shutdown and a close waiting for the flush.
    fn flush_conn(&mut self, child: u32) {
        let limits = self.spec.limits;
        let Some(c) = self.conns.get_mut(&child) else {
            return;
        };
        if c.closed.is_some() {
            return;
        }
        let mut after = After::Nothing;
        if let Some(t) = c.tls.as_mut() {
            // Plaintext waits in our queue until the handshake is done, so
            // "sent" means encrypted and handed to the kernel.
            loop {
                let mut moved = 0;
                while t.is_established()
                    && let Some(front) = c.out.front()
                {
                    let chunk = &front[c.out_off..];
                    let n = t.write_plain(chunk);
                    if n == 0 {
                        break;
                    }
                    moved += n;
                    c.counters.bytes_out += n as u64;
                    c.counters.msgs_out += 1;
                    c.stats_dirty = true;
                    c.queued -= n;
                    let entry = LogEntry {
                        dir: Direction::Out,
                        peer: Some(c.peer.clone()),
                        data: chunk[..n].to_vec(),
                        requested: None,
                        truncated_from: None,
                    };
                    c.out_off += n;
                    if c.out_off == front.len() {
                        c.out.pop_front();
                        c.out_off = 0;
                    }
                    self.sink.log(c.id, entry);
                }
                if c.queued == 0 && c.shutdown_pending && !c.write_shut {
                    t.close_notify();
                }
                match t.write_to(&c.sock) {
                    Ok(()) => {}
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) => {
                        after = After::Close(write_error_reason(&e));
                        break;
                    }
                }
                if moved == 0 {
                    break;
                }
            }
        }
        let tls_pending = c.tls.as_ref().is_some_and(|t| t.wants_write());
        let plain_ready = c.tls.as_ref().is_none_or(|t| t.is_established());
        while c.tls.is_none()
            && let Some(front) = c.out.front()
        {
            let chunk = &front[c.out_off..];
            match (&c.sock).write(chunk) {
                Ok(n) => {
                    let requested = (n < chunk.len()).then_some(chunk.len());
                    let entry = LogEntry {
                        dir: Direction::Out,
                        peer: Some(c.peer.clone()),
                        data: chunk[..n].to_vec(),
                        requested,
                        truncated_from: None,
                    };
                    c.counters.bytes_out += n as u64;
                    c.counters.msgs_out += 1;
                    c.stats_dirty = true;
                    c.queued -= n;
                    c.out_off += n;
                    if c.out_off == front.len() {
                        c.out.pop_front();
                        c.out_off = 0;
                    }
                    self.sink.log(c.id, entry);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    after = After::Close(write_error_reason(&e));
                    break;
                }
            }
        }
        c.counters.queued_out = c.queued as u64;
        let want = tls_pending || (c.queued > 0 && plain_ready);
        if c.registered && want != c.watching_writes {
            let interest = if want {
                Interest::READABLE | Interest::WRITABLE
            } else {
                Interest::READABLE
            };
            if self
                .poll
                .registry()
                .reregister(
                    &mut SourceFd(&c.sock.as_raw_fd()),
                    Token(child as usize),
                    interest,
                )
                .is_ok()
            {
                c.watching_writes = want;
            }
        }
        if !c.paused && c.queued >= limits.high_water {
            c.paused = true;
            self.sink
                .control(c.id, EventKind::WritePaused { queued: c.queued });
        } else if c.paused && c.queued <= limits.low_water {
            c.paused = false;
            self.sink
                .control(c.id, EventKind::WriteResumed { queued: c.queued });
        }
        if c.read_held
            && c.queued + c.delayed_bytes <= limits.low_water
            && c.delayed.len() < MAX_DELAYED / 2
        {
            c.read_held = false;
            self.ready_again.push_back(child);
        }
        if c.queued == 0 && c.shutdown_pending && !c.write_shut && !tls_pending {
            c.shutdown_pending = false;
            match c.sock.shutdown(Shutdown::Write) {
                Ok(()) => {
                    c.write_shut = true;
                    self.sink
                        .control(c.id, EventKind::HalfClosed { by: Side::Local });
                    if c.read_eof {
                        after = After::Close(CloseReason::Local);
                    }
                }
                Err(e) => self
                    .sink
                    .control(c.id, EventKind::Error(OpError::io("shutdown SHUT_WR", &e))),
            }
        }
        // A held reply still counts as unsent: the peer's FIN must not
        // close the connection before the delayed answer goes out.
        if c.queued == 0
            && c.delayed.is_empty()
            && !tls_pending
            && let Some(r) = c.close_after_flush.take()
        {
            after = After::Close(r);
        }
        self.apply_after(child, after);
    }

    fn send_reply(&mut self, child: u32, r: Reply) {
        self.queue_reply(child, r);
        self.flush_conn(child);
    }

    /// Queues a reply without writing yet. The replies of one read turn
    /// are all queued before the one flush: flushing after each let the
    /// first one empty the queue and fire a close waiting for the peer's
    /// FIN, and the rest of the turn's replies were lost.
    fn queue_reply(&mut self, child: u32, r: Reply) {
        let Some(c) = self.conns.get_mut(&child) else {
            return;
        };
        if c.closed.is_some() {
            return;
        }
        if c.write_shut || c.shutdown_pending || !self.spec.auto_read {
            // send_conn_as says why a shut side cannot send, and a manual
            // session writes at once, in its socket's own mode.
            self.send_conn_as(child, r.data.into_bytes(), SendMode::All, true);
        } else if !r.data.is_empty() {
            // A reply is never refused for a full queue: reading stops
            // instead (see `read_conn`), so the queue stays near its
            // high-water mark.
            let data = r.data.into_bytes();
            c.queued += data.len();
            c.counters.queued_out = c.queued as u64;
            c.out.push_back(data);
        }
        if r.close
            && let Some(c) = self.conns.get_mut(&child)
            && c.closed.is_none()
        {
            // The reply goes out first, then FIN.
            c.close_after_flush = Some(CloseReason::Local);
        }
    }

    /// Reads what a readable connection has. `short_read_ends`: a recv
    /// that returns less than the buffer emptied the socket, and epoll
    /// (edge-triggered) reports anything that arrives after it as a new
    /// event, so the recv that would only say EAGAIN is skipped: one
    /// syscall less per message, a third of an echo round trip's.
    fn read_conn(&mut self, child: u32, short_read_ends: bool) {
        let keep_open = self.spec.keep_open_after_peer_fin;
        let Some(c) = self.conns.get_mut(&child) else {
            return;
        };
        if c.closed.is_some() || c.read_eof || !c.registered || c.read_held {
            return;
        }
        let mut replies: Vec<Reply> = Vec::new();
        let mut reply_bytes = 0;
        let mut more = false;
        let high_water = self.spec.limits.high_water;
        let mut after = After::Nothing;
        let mut reads = 0;
        let cap = self.rx.cap;
        loop {
            if reads == READS_PER_TURN {
                self.ready_again.push_back(child);
                break;
            }
            reads += 1;
            match c.sock.recv(self.rx.spare()) {
                Ok(0) => {
                    if c.tls.as_ref().is_some_and(|t| !t.is_established()) {
                        after = After::Close(CloseReason::Error(
                            OpError::plain(
                                "tls handshake",
                                "the peer closed the connection during the TLS handshake",
                            )
                            .with_hint(
                                "the peer may not speak TLS, or refused us without an alert",
                            ),
                        ));
                        break;
                    }
                    if c.tls.is_some() {
                        // close_notify would have ended the stream before
                        // this read; a bare FIN could be a cut.
                        self.sink.control(
                            c.id,
                            EventKind::Error(
                                OpError::plain(
                                    "tls",
                                    "the peer closed the connection without TLS close_notify: what arrived may be cut short",
                                )
                                .with_hint("many servers skip close_notify after a body with a known length; a truncation attack looks the same"),
                            ),
                        );
                    }
                    after = peer_eof(&mut self.sink, c, keep_open);
                    break;
                }
                Ok(n) => {
                    let emptied = short_read_ends && n < cap;
                    let mut data = self.rx.take(n);
                    let mut peer_closed = false;
                    if let Some(t) = c.tls.as_mut() {
                        match t.feed(&data) {
                            Ok(fed) => {
                                if let Some(info) = fed.established {
                                    self.sink.control(c.id, EventKind::Tls(Box::new(info)));
                                }
                                peer_closed = fed.closed;
                                data = fed.plain;
                            }
                            Err(e) => {
                                // rustls queued an alert; it goes out before the close.
                                let _ = t.write_to(&c.sock);
                                after = After::Close(CloseReason::Error(e));
                                break;
                            }
                        }
                        if data.is_empty() {
                            if peer_closed {
                                after = peer_eof(&mut self.sink, c, keep_open);
                                break;
                            }
                            if emptied {
                                break;
                            }
                            continue;
                        }
                    }
                    let n = data.len();
                    c.counters.bytes_in += n as u64;
                    c.counters.msgs_in += 1;
                    c.stats_dirty = true;
                    c.last_rx = now();
                    c.script.rx_seen = true;
                    if c.responder.is_active() {
                        for r in c.responder.respond(&mut c.framer, &data) {
                            reply_bytes += r.data.len();
                            replies.push(r);
                        }
                    }
                    self.sink.log(
                        c.id,
                        LogEntry {
                            dir: Direction::In,
                            peer: Some(c.peer.clone()),
                            data,
                            requested: None,
                            truncated_from: None,
                        },
                    );
                    if peer_closed {
                        // close_notify: the TLS stream's end of data.
                        after = peer_eof(&mut self.sink, c, keep_open);
                        break;
                    }
                    if emptied {
                        break;
                    }
                    if c.queued + c.delayed_bytes + reply_bytes >= high_water
                        || c.delayed.len() + replies.len() >= MAX_DELAYED
                    {
                        // Hand the replies over before reading more; what
                        // the queue holds then decides whether to go on.
                        more = true;
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
        match self.spec.reply_delay {
            Some(d) if !replies.is_empty() => {
                if let Some(c) = self.conns.get_mut(&child) {
                    let due = now() + d;
                    for r in replies {
                        c.delayed_bytes += r.data.len();
                        c.delayed.push_back((due, r));
                    }
                }
            }
            _ => {
                for r in replies {
                    // "Close after this reply": nothing after it goes out.
                    let close = r.close;
                    self.queue_reply(child, r);
                    if close {
                        break;
                    }
                }
            }
        }
        // One flush for the turn's replies; a close waiting for the flush
        // may then be due (peer FIN, nothing queued).
        self.flush_conn(child);
        if more && let Some(c) = self.conns.get_mut(&child) {
            if c.queued + c.delayed_bytes >= high_water || c.delayed.len() >= MAX_DELAYED {
                // `flush_conn` or `timers` resume reading once it drains.
                c.read_held = true;
            } else {
                self.ready_again.push_back(child);
            }
        }
        self.advance_script_conn(child);
    }

    /// One real recv for manual sessions, honouring blocking mode and
    /// SO_RCVTIMEO.
    fn manual_recv(&mut self, target: SessionId, max: usize) {
        if self.spec.auto_read {
            self.sink.control(
                target,
                EventKind::Error(OpError::plain(
                    "recv",
                    "this session reads automatically; open it with auto_read off to call recv yourself",
                )),
            );
            return;
        }
        let max = max.clamp(1, 16 * 1024 * 1024);
        let mut buf = vec![MaybeUninit::<u8>::uninit(); max];
        let started = now();
        if let Some(c) = self.conns.get_mut(&target.child) {
            let op = format!("recv({max})");
            let after = match c.sock.recv(&mut buf) {
                Ok(0) => {
                    c.read_eof = true;
                    self.sink
                        .control(c.id, EventKind::HalfClosed { by: Side::Peer });
                    After::Nothing
                }
                Ok(n) => {
                    let data = uninit_as_bytes(&buf, n);
                    c.counters.bytes_in += n as u64;
                    c.counters.msgs_in += 1;
                    c.stats_dirty = true;
                    c.script.rx_seen = true;
                    self.sink.log(
                        c.id,
                        LogEntry {
                            dir: Direction::In,
                            peer: Some(c.peer.clone()),
                            data,
                            requested: None,
                            truncated_from: None,
                        },
                    );
                    After::Nothing
                }
                Err(e) => {
                    report_manual_error(&mut self.sink, c.id, &c.sock, &op, &e, started);
                    if matches!(errno_of(&e), libc::ECONNRESET) {
                        After::Close(CloseReason::PeerReset)
                    } else {
                        After::Nothing
                    }
                }
            };
            self.apply_after(target.child, after);
            return;
        }
        if target == self.top
            && let Some(d) = &mut self.dgram
        {
            let op = format!("recvfrom({max})");
            match d.sock.recv_from_with_flags(&mut buf, libc::MSG_TRUNC) {
                Ok((n, from)) => {
                    let kept = n.min(max);
                    let data = uninit_as_bytes(&buf, kept);
                    d.counters.bytes_in += kept as u64;
                    d.counters.msgs_in += 1;
                    d.stats_dirty = true;
                    d.script.rx_seen = true;
                    self.sink.log(
                        d.id,
                        LogEntry {
                            dir: Direction::In,
                            peer: Some(Addr::from_sockaddr(&from)),
                            data,
                            requested: None,
                            truncated_from: (n > max).then_some(n),
                        },
                    );
                }
                Err(e) => report_manual_error(&mut self.sink, d.id, &d.sock, &op, &e, started),
            }
            return;
        }
        self.no_such(target, "recv");
    }

    // ---- servers -------------------------------------------------------

    fn accept_all(&mut self) {
        loop {
            let Some(l) = &self.listener else { return };
            match l.accept() {
                Ok((sock, _)) => {
                    let child = self.next_child;
                    self.next_child += 1;
                    let id = self.top.child(child);
                    let local = local_of(&sock);
                    let peer = peer_of(&sock).unwrap_or(Addr::Unnamed);
                    self.sink.control(
                        self.top,
                        EventKind::Accepted {
                            child: id,
                            local,
                            peer,
                            fd: sock.as_raw_fd(),
                        },
                    );
                    if let Err(r) = self.add_stream(sock, id, false) {
                        self.sink.control(
                            id,
                            EventKind::Closed {
                                reason: r,
                                counters: Counters::default(),
                            },
                        );
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    let n = errno_of(&e);
                    if matches!(
                        n,
                        libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM
                    ) {
                        // The connection stays queued in the kernel; with
                        // edge-triggered readiness nothing would wake us
                        // again for it, so retry on a timer.
                        self.accept_retry_at = Some(now() + Duration::from_millis(100));
                        let quiet = self
                            .last_emfile_report
                            .is_some_and(|t| t.elapsed() < Duration::from_secs(1));
                        if !quiet {
                            self.last_emfile_report = Some(now());
                            self.sink
                                .control(self.top, EventKind::Error(OpError::io("accept", &e)));
                        }
                        return;
                    }
                    self.sink
                        .control(self.top, EventKind::Error(OpError::io("accept", &e)));
                    if n != libc::ECONNABORTED {
                        self.accept_retry_at = Some(now() + Duration::from_millis(100));
                        return;
                    }
                }
            }
        }
    }

    // ---- datagrams -----------------------------------------------------

    fn recv_dgrams(&mut self) {
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
                    d.counters.bytes_in += kept as u64;
                    d.counters.msgs_in += 1;
                    d.stats_dirty = true;
                    d.last_rx = now();
                    d.script.rx_seen = true;
                    if responder.is_active() {
                        // Each datagram is one message: no framing across them.
                        d.framer
                            .datagram_from(Addr::from_sockaddr(&from).to_string());
                        for r in responder.respond(&mut d.framer, &data) {
                            replies.push((r, from.clone()));
                        }
                    }
                    self.sink.log(
                        d.id,
                        LogEntry {
                            dir: Direction::In,
                            peer: Some(Addr::from_sockaddr(&from)),
                            data,
                            requested: None,
                            truncated_from: (n > cap).then_some(n),
                        },
                    );
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
                    self.sink
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
                        self.sink
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

    fn ready_again_dgram(&mut self) {
        // The datagram socket is read again after one poll round: a zero
        // timeout poll round lets commands in between.
        if let Some(d) = &self.dgram {
            let _ = self.poll.registry().reregister(
                &mut SourceFd(&d.sock.as_raw_fd()),
                DGRAM,
                Interest::READABLE,
            );
        }
    }

    fn dgram_dest(&mut self, to: &str) -> Result<SockAddr, OpError> {
        let Some(d) = &self.dgram else {
            return Err(OpError::plain("sendto", "no datagram socket"));
        };
        let unix = d.sock.domain().map(|x| x == Domain::UNIX).unwrap_or(false);
        if unix {
            return super::spec::unix_addr(to).map_err(|e| OpError::io(format!("sendto {to}"), &e));
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

    fn send_dgram(&mut self, data: Vec<u8>, to: Option<&str>) {
        let dest = match to {
            Some(t) => match self.dgram_dest(t) {
                Ok(a) => Some(a),
                Err(e) => {
                    self.sink.control(self.top, EventKind::Error(e));
                    return;
                }
            },
            None => None,
        };
        self.send_dgram_to(data, dest);
    }

    fn send_dgram_to(&mut self, data: Vec<u8>, to: Option<SockAddr>) {
        let Some(d) = &mut self.dgram else { return };
        let (res, peer) = match &to {
            Some(a) => (d.sock.send_to(&data, a), Some(Addr::from_sockaddr(a))),
            None if d.connected.is_some() => (d.sock.send(&data), d.connected.clone()),
            None => {
                self.sink.control(
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
                d.counters.bytes_out += n as u64;
                d.counters.msgs_out += 1;
                d.stats_dirty = true;
                let requested = (n < data.len()).then_some(data.len());
                let mut data = data;
                data.truncate(n);
                self.sink.log(
                    d.id,
                    LogEntry {
                        dir: Direction::Out,
                        peer,
                        data,
                        requested,
                        truncated_from: None,
                    },
                );
            }
            Err(e) => self.sink.control(
                d.id,
                EventKind::Error(OpError::io(format!("sendto {target}"), &e)),
            ),
        }
    }

    // ---- scripts and timers --------------------------------------------

    fn advance_script_conn(&mut self, child: u32) {
        loop {
            let Some(c) = self.conns.get_mut(&child) else {
                return;
            };
            if c.closed.is_some() {
                return;
            }
            let Some(step) = c.script.steps.get(c.script.idx).cloned() else {
                return;
            };
            let index = c.script.idx;
            let id = c.id;
            match step {
                Step::Wait(d) => match c.script.wait_until {
                    None => {
                        c.script.wait_until = Some(now() + d);
                        return;
                    }
                    Some(t) if now() < t => return,
                    Some(_) => c.script.wait_until = None,
                },
                Step::WaitRecv(d) => match c.script.wait_until {
                    None => {
                        c.script.rx_seen = false;
                        c.script.wait_until = Some(now() + d);
                        if !c.registered {
                            // Manual sessions: waiting means one real recv.
                            let max = self.spec.limits.recv_buffer;
                            self.manual_recv(id, max);
                            if let Some(c) = self.conns.get_mut(&child) {
                                c.script.wait_until = None;
                                c.script.idx += 1;
                            }
                            continue;
                        }
                        return;
                    }
                    Some(t) => {
                        if !c.script.rx_seen {
                            if now() < t && !c.read_eof {
                                return;
                            }
                            if !c.read_eof {
                                self.sink.control(
                                    id,
                                    EventKind::Timeout {
                                        op: "recv",
                                        after: d,
                                    },
                                );
                            }
                        }
                        if let Some(c) = self.conns.get_mut(&child) {
                            c.script.wait_until = None;
                        }
                    }
                },
                Step::Send { data, mode, .. } => {
                    self.send_conn(child, data.into_bytes(), mode);
                }
                Step::ShutdownWrite => {
                    if let Some(c) = self.conns.get_mut(&child) {
                        c.shutdown_pending = true;
                    }
                    self.flush_conn(child);
                }
                Step::Close => {
                    if let Some(c) = self.conns.get_mut(&child) {
                        if c.queued == 0 {
                            c.closed = Some(CloseReason::ScriptDone);
                        } else {
                            c.close_after_flush = Some(CloseReason::ScriptDone);
                        }
                    }
                }
            }
            self.sink.control(
                id,
                EventKind::Step {
                    index,
                    what: describe_step(&self.spec.steps, index),
                },
            );
            if let Some(c) = self.conns.get_mut(&child) {
                c.script.idx += 1;
            }
        }
    }

    fn advance_script_dgram(&mut self) {
        loop {
            let Some(d) = &mut self.dgram else { return };
            if d.closed.is_some() {
                return;
            }
            let Some(step) = d.script.steps.get(d.script.idx).cloned() else {
                return;
            };
            let index = d.script.idx;
            let id = d.id;
            match step {
                Step::Wait(t) => match d.script.wait_until {
                    None => {
                        d.script.wait_until = Some(now() + t);
                        return;
                    }
                    Some(u) if now() < u => return,
                    Some(_) => d.script.wait_until = None,
                },
                Step::WaitRecv(t) => match d.script.wait_until {
                    None => {
                        d.script.rx_seen = false;
                        d.script.wait_until = Some(now() + t);
                        if !self.spec.auto_read {
                            let max = self.spec.limits.recv_buffer;
                            self.manual_recv(id, max);
                            if let Some(d) = &mut self.dgram {
                                d.script.wait_until = None;
                                d.script.idx += 1;
                            }
                            continue;
                        }
                        return;
                    }
                    Some(u) => {
                        if !d.script.rx_seen {
                            if now() < u {
                                return;
                            }
                            self.sink.control(
                                id,
                                EventKind::Timeout {
                                    op: "recv",
                                    after: t,
                                },
                            );
                        }
                        if let Some(d) = &mut self.dgram {
                            d.script.wait_until = None;
                        }
                    }
                },
                Step::Send { data, to, .. } => self.send_dgram(data.into_bytes(), to.as_deref()),
                Step::ShutdownWrite => {
                    if let Err(e) = d.sock.shutdown(Shutdown::Write) {
                        self.sink
                            .control(id, EventKind::Error(OpError::io("shutdown SHUT_WR", &e)));
                    }
                }
                Step::Close => {
                    d.closed = Some(CloseReason::ScriptDone);
                    self.end = Some(CloseReason::ScriptDone);
                }
            }
            self.sink.control(
                id,
                EventKind::Step {
                    index,
                    what: describe_step(&self.spec.steps, index),
                },
            );
            if let Some(d) = &mut self.dgram {
                d.script.idx += 1;
            }
        }
    }

    fn timers(&mut self) {
        let t = now();
        let due: Vec<u32> = self
            .conns
            .iter()
            .filter(|(_, c)| c.delayed.front().is_some_and(|(w, _)| t >= *w))
            .map(|(k, _)| *k)
            .collect();
        for child in due {
            while let Some(c) = self.conns.get_mut(&child)
                && c.closed.is_none()
                && c.delayed.front().is_some_and(|(w, _)| t >= *w)
                && let Some((_, r)) = c.delayed.pop_front()
            {
                c.delayed_bytes -= r.data.len();
                self.send_reply(child, r);
            }
            self.flush_conn(child);
        }
        while let Some(d) = &mut self.dgram
            && d.delayed.front().is_some_and(|(w, _, _)| t >= *w)
            && let Some((_, r, to)) = d.delayed.pop_front()
        {
            self.send_dgram_to(r.data.into_bytes(), Some(to));
        }
        let children: Vec<u32> = self
            .conns
            .iter()
            .filter(|(_, c)| c.script.wait_until.is_some_and(|w| t >= w))
            .map(|(k, _)| *k)
            .collect();
        for c in children {
            self.advance_script_conn(c);
        }
        if self
            .dgram
            .as_ref()
            .is_some_and(|d| d.script.wait_until.is_some_and(|w| t >= w))
        {
            self.advance_script_dgram();
        }
        self.handshake_timeouts(t);
        let Some(rt) = self.spec.read_timeout.filter(|_| self.spec.auto_read) else {
            return;
        };
        let close = self.spec.close_on_read_timeout;
        let timeout_reason = || {
            CloseReason::Error(
                OpError::plain("recv", format!("nothing received for {}", ms(rt))).with_hint(
                    "the read timeout expired; raise it or turn close_on_read_timeout off",
                ),
            )
        };
        for c in self.conns.values_mut() {
            if c.closed.is_none() && !c.read_eof && !c.read_held && t >= c.last_rx + rt {
                c.last_rx = t;
                self.sink.control(
                    c.id,
                    EventKind::Timeout {
                        op: "recv",
                        after: rt,
                    },
                );
                if close {
                    c.closed = Some(timeout_reason());
                }
            }
        }
        if let Some(d) = &mut self.dgram
            && t >= d.last_rx + rt
        {
            d.last_rx = t;
            self.sink.control(
                d.id,
                EventKind::Timeout {
                    op: "recv",
                    after: rt,
                },
            );
            if close {
                self.end = Some(timeout_reason());
            }
        }
    }

    /// Ends connections whose TLS handshake has not finished in time.
    fn handshake_timeouts(&mut self, t: Instant) {
        let limit = self
            .spec
            .tls
            .as_ref()
            .map_or(super::tls::DEFAULT_HANDSHAKE_TIMEOUT, |s| {
                s.handshake_timeout()
            });
        for c in self.conns.values_mut() {
            let Some(w) = c.handshake_deadline else {
                continue;
            };
            if c.tls.as_ref().is_none_or(|s| s.is_established()) || c.closed.is_some() {
                c.handshake_deadline = None;
            } else if t >= w {
                c.handshake_deadline = None;
                self.sink.control(
                    c.id,
                    EventKind::Timeout {
                        op: "tls handshake",
                        after: limit,
                    },
                );
                c.closed = Some(CloseReason::Error(
                    OpError::plain(
                        "tls handshake",
                        format!("the handshake did not finish within {}", ms(limit)),
                    )
                    .with_hint("the peer connected but did not complete TLS; raise handshake_timeout if it is only slow"),
                ));
            }
        }
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
                self.sink.latest(c.id, kind);
            }
        }
        if let Some(d) = &mut self.dgram
            && let Some(kind) = d.meter.report(&d.counters, d.stats_dirty, t)
        {
            d.stats_dirty = false;
            self.sink.latest(d.id, kind);
        }
    }

    /// Removes connections marked closed and reports them. A client's own
    /// connection (child 0) ends the session; a socketpair ends when both
    /// ends have.
    fn reap_conns(&mut self) {
        let done: Vec<u32> = self
            .conns
            .iter()
            .filter(|(_, c)| c.closed.is_some())
            .map(|(k, _)| *k)
            .collect();
        for child in done {
            let Some(c) = self.conns.remove(&child) else {
                continue;
            };
            let reason = c.closed.clone().unwrap_or(CloseReason::Local);
            self.close_conn(c, reason.clone());
            let pair_done =
                matches!(self.spec.kind, SessionKind::SocketPair) && self.conns.is_empty();
            if child == 0 || pair_done {
                self.end = Some(reason);
            }
        }
    }

    fn close_conn(&mut self, mut c: Conn, reason: CloseReason) {
        if let Some(t) = c.tls.as_mut()
            && t.is_established()
            && !matches!(
                reason,
                CloseReason::Aborted | CloseReason::PeerReset | CloseReason::Error(_)
            )
        {
            // Best effort: a TLS peer learns the end was deliberate, not a truncation.
            t.close_notify();
            let _ = t.write_to(&c.sock);
        }
        if c.registered {
            let _ = self
                .poll
                .registry()
                .deregister(&mut SourceFd(&c.sock.as_raw_fd()));
        }
        let id = c.id;
        let counters = c.counters;
        drop(c);
        if id.child == 0 {
            // The session's own Closed is sent by shutdown_all with this reason.
            self.end_counters = counters;
            return;
        }
        self.sink
            .control(id, EventKind::Closed { reason, counters });
    }

    /// Ends the session: children first, then the session itself.
    fn shutdown_all(&mut self) {
        let reason = self.end.clone().unwrap_or(CloseReason::EngineStopped);
        let child_reason = match reason {
            CloseReason::EngineStopped => CloseReason::EngineStopped,
            _ if self.listener.is_some() => CloseReason::ParentClosed,
            _ => reason.clone(),
        };
        let mut rest: Vec<u32> = self.conns.keys().copied().collect();
        rest.sort_unstable();
        for child in rest {
            if let Some(c) = self.conns.remove(&child) {
                let r = c.closed.clone().unwrap_or_else(|| child_reason.clone());
                self.close_conn(c, r);
            }
        }
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
        self.sink
            .control(self.top, EventKind::Closed { reason, counters });
        self.sink.finish(Duration::from_secs(2));
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

fn describe_step(steps: &[Step], index: usize) -> String {
    match steps.get(index) {
        Some(Step::Send { data, to, mode }) => {
            let call = if *mode == SendMode::Once {
                "send"
            } else {
                "sendall"
            };
            match to {
                Some(t) => format!("sendto {} bytes to {t}", data.len()),
                None => format!("{call} {} bytes", data.len()),
            }
        }
        Some(Step::Wait(d)) => format!("waited {}", ms(*d)),
        Some(Step::WaitRecv(d)) => format!("waited for data (up to {})", ms(*d)),
        Some(Step::ShutdownWrite) => "shutdown(SHUT_WR)".into(),
        Some(Step::Close) => "close".into(),
        None => String::new(),
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

/// The peer's end of data (FIN, or TLS close_notify) on a stream.
fn peer_eof(sink: &mut Sink, c: &mut Conn, keep_open: bool) -> After {
    c.read_eof = true;
    sink.control(c.id, EventKind::HalfClosed { by: Side::Peer });
    if c.write_shut {
        After::Close(CloseReason::PeerClosed)
    } else {
        if !keep_open {
            c.close_after_flush = Some(CloseReason::PeerClosed);
        }
        After::Nothing
    }
}

fn read_error_reason(e: &io::Error) -> CloseReason {
    match errno_of(e) {
        libc::ECONNRESET => CloseReason::PeerReset,
        _ => CloseReason::Error(OpError::io("recv", e)),
    }
}

fn write_error_reason(e: &io::Error) -> CloseReason {
    match errno_of(e) {
        libc::ECONNRESET => CloseReason::PeerReset,
        _ => CloseReason::Error(OpError::io("send", e)),
    }
}

/// A send done right now in the socket's own mode (manual sessions, and
/// `send` on automatic ones).
fn direct_send(sink: &mut Sink, c: &mut Conn, data: &[u8], mode: SendMode) -> After {
    let mut off = 0;
    while off < data.len() {
        let chunk = &data[off..];
        match (&c.sock).write(chunk) {
            Ok(n) => {
                c.counters.bytes_out += n as u64;
                c.counters.msgs_out += 1;
                c.stats_dirty = true;
                sink.log(
                    c.id,
                    LogEntry {
                        dir: Direction::Out,
                        peer: Some(c.peer.clone()),
                        data: chunk[..n].to_vec(),
                        requested: (n < chunk.len()).then_some(chunk.len()),
                        truncated_from: None,
                    },
                );
                off += n;
                if mode == SendMode::Once {
                    break;
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                let call = if mode == SendMode::Once {
                    "send"
                } else {
                    "sendall"
                };
                sink.control(
                    c.id,
                    EventKind::Error(OpError::io(
                        format!("{call} ({} of {} bytes written)", off, data.len()),
                        &e,
                    )),
                );
                return After::Nothing;
            }
            Err(e) => return After::Close(write_error_reason(&e)),
        }
    }
    After::Nothing
}

fn report_manual_error(
    sink: &mut Sink,
    id: SessionId,
    sock: &Socket,
    op: &str,
    e: &io::Error,
    started: Instant,
) {
    let blocking = sock.nonblocking().map(|nb| !nb).unwrap_or(true);
    if e.kind() == io::ErrorKind::WouldBlock && blocking {
        // A blocking socket only says EAGAIN when SO_RCVTIMEO expired.
        sink.control(
            id,
            EventKind::Timeout {
                op: "recv",
                after: started.elapsed(),
            },
        );
        return;
    }
    sink.control(id, EventKind::Error(OpError::io(op, e)));
}
