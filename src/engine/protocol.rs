//! The whole UI <-> engine contract on one page: commands go down, events
//! come up. Log entries travel inside events, append-only.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, SystemTime};

use super::error::OpError;
use super::options::{OptionReport, SockOpt};
pub use super::relay::{Leg, Release};

/// Identifies a session (`3`) or one of its children (`3.12`: the 12th
/// connection accepted by server session 3, or end 2 of a socketpair).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SessionId {
    /// The top-level session number, from 1.
    pub session: u32,
    /// 0 for the session itself, otherwise the child number from 1.
    pub child: u32,
}

impl SessionId {
    /// The top-level session `n`.
    pub fn top(n: u32) -> SessionId {
        SessionId {
            session: n,
            child: 0,
        }
    }
    /// Child `c` of this session.
    pub fn child(self, c: u32) -> SessionId {
        SessionId {
            session: self.session,
            child: c,
        }
    }
    /// Whether this names a child rather than a session.
    pub fn is_child(self) -> bool {
        self.child != 0
    }
    /// Parses `3` or `3.12`.
    pub fn parse(s: &str) -> Option<SessionId> {
        let (a, b) = match s.split_once('.') {
            Some((a, b)) => (a, Some(b)),
            None => (s, None),
        };
        let session = a.parse().ok().filter(|n| *n > 0)?;
        let child = match b {
            Some(b) => b.parse().ok().filter(|n| *n > 0)?,
            None => 0,
        };
        Some(SessionId { session, child })
    }
}

impl fmt::Display for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.child == 0 {
            write!(f, "{}", self.session)
        } else {
            write!(f, "{}.{}", self.session, self.child)
        }
    }
}

/// A socket address as the kernel reports it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Addr {
    /// IPv4 or IPv6 (IPv4-mapped IPv6 addresses are kept as the kernel gave them).
    Inet(SocketAddr),
    /// A Unix socket bound to a path.
    Path(String),
    /// A Linux abstract Unix address (shown with a leading `@`).
    Abstract(String),
    /// An unbound Unix socket (socketpair ends, unbound clients).
    Unnamed,
}

impl Addr {
    /// Converts what socket2 returns.
    pub fn from_sockaddr(a: &socket2::SockAddr) -> Addr {
        if let Some(s) = a.as_socket() {
            return Addr::Inet(s);
        }
        if let Some(p) = a.as_pathname() {
            return Addr::Path(p.to_string_lossy().into_owned());
        }
        if let Some(name) = a.as_abstract_namespace() {
            return Addr::Abstract(String::from_utf8_lossy(name).into_owned());
        }
        Addr::Unnamed
    }
    /// The port for inet addresses.
    pub fn port(&self) -> Option<u16> {
        match self {
            Addr::Inet(s) => Some(s.port()),
            _ => None,
        }
    }
    /// The socket address for inet addresses.
    pub fn inet(&self) -> Option<SocketAddr> {
        match self {
            Addr::Inet(s) => Some(*s),
            _ => None,
        }
    }
}

impl fmt::Display for Addr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Addr::Inet(s) => write!(f, "{s}"),
            Addr::Path(p) => f.write_str(p),
            Addr::Abstract(n) => write!(f, "@{n}"),
            Addr::Unnamed => f.write_str("(unnamed)"),
        }
    }
}

/// Where data went or came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Direction {
    /// Received from the peer.
    In,
    /// Sent to the peer.
    Out,
}

/// One `send` or `recv` as the kernel did it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogEntry {
    /// Direction of the bytes.
    pub dir: Direction,
    /// The datagram's source or destination, or the stream's peer.
    pub peer: Option<Addr>,
    /// The bytes themselves.
    pub data: Vec<u8>,
    /// For a `send` that wrote fewer bytes than asked: how many were asked.
    pub requested: Option<usize>,
    /// For a datagram larger than the receive buffer (MSG_TRUNC): its real
    /// size; `data` holds only what fitted.
    pub truncated_from: Option<usize>,
    /// On a WebSocket: what message or frame the bytes were.
    pub ws: Option<super::ws::WsMeta>,
    /// On a stream with message framing: the recv chunks that made it.
    pub framed: Option<super::framing::Framed>,
}

/// Who ended one direction of a stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    /// We did (`shutdown(SHUT_WR)` / `write_eof`).
    Local,
    /// The peer did (we read EOF: its FIN arrived).
    Peer,
}

/// Why a session or child ended. Every session ends with exactly one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CloseReason {
    /// The user (or a script step) closed it.
    Local,
    /// Closed with SO_LINGER 0 so the kernel sent RST.
    Aborted,
    /// The peer closed (FIN) and we closed after it.
    PeerClosed,
    /// The peer reset the connection (RST).
    PeerReset,
    /// The socket failed; the error says how.
    Error(OpError),
    /// The parent (a server) closed, taking its children with it.
    ParentClosed,
    /// The script ran to its end.
    ScriptDone,
    /// The engine shut down (app quit, runner stopped).
    EngineStopped,
    /// The worker thread panicked; the message is the panic's.
    Panicked(String),
    /// A serial port hung up: the device went away, or the far end of a
    /// pseudo-terminal closed.
    HangUp,
}

impl CloseReason {
    /// A stable snake_case code for JSON and filters.
    pub fn code(&self) -> &'static str {
        match self {
            CloseReason::Local => "local",
            CloseReason::Aborted => "aborted",
            CloseReason::PeerClosed => "peer_closed",
            CloseReason::PeerReset => "peer_reset",
            CloseReason::Error(_) => "error",
            CloseReason::ParentClosed => "parent_closed",
            CloseReason::ScriptDone => "script_done",
            CloseReason::EngineStopped => "engine_stopped",
            CloseReason::Panicked(_) => "panicked",
            CloseReason::HangUp => "hangup",
        }
    }
}

impl fmt::Display for CloseReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CloseReason::Local => f.write_str("closed locally"),
            CloseReason::Aborted => f.write_str("aborted with RST (SO_LINGER 0)"),
            CloseReason::PeerClosed => f.write_str("peer closed the connection (FIN)"),
            CloseReason::PeerReset => f.write_str("peer reset the connection (RST)"),
            CloseReason::Error(e) => write!(f, "{e}"),
            CloseReason::ParentClosed => f.write_str("server closed"),
            CloseReason::ScriptDone => f.write_str("script finished"),
            CloseReason::EngineStopped => f.write_str("engine stopped"),
            CloseReason::Panicked(m) => write!(f, "worker panicked: {m}"),
            CloseReason::HangUp => f.write_str("the port hung up (device gone or far end closed)"),
        }
    }
}

/// Exact per-session counters; they survive log eviction.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    /// Bytes received.
    pub bytes_in: u64,
    /// Bytes sent (accepted by the kernel).
    pub bytes_out: u64,
    /// recv calls that returned data / datagrams received.
    pub msgs_in: u64,
    /// send calls that wrote data / datagrams sent.
    pub msgs_out: u64,
    /// Bytes waiting in our send queue for the kernel to accept.
    pub queued_out: u64,
}

/// Where a moment happened: monotonic for ordering and deltas, wall clock
/// for humans.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stamp {
    /// Since the engine started.
    pub mono: Duration,
    /// Wall clock.
    pub wall: SystemTime,
}

/// What happened, for one session or child.
#[derive(Clone, Debug, PartialEq)]
pub struct Event {
    /// Who it happened to.
    pub session: SessionId,
    /// When.
    pub at: Stamp,
    /// What.
    pub kind: EventKind,
}

/// The events a session reports, in the order they happen.
#[derive(Clone, Debug, PartialEq)]
pub enum EventKind {
    /// The session was created from its spec (name and kind).
    Opened {
        /// The user's name for it.
        name: String,
        /// What it is.
        kind: Kind,
    },
    /// A host name is being resolved.
    Resolving {
        /// The name.
        host: String,
    },
    /// Every address the name resolved to, in the order they will be tried.
    Resolved {
        /// The name.
        host: String,
        /// Addresses after the family filter.
        addrs: Vec<SocketAddr>,
    },
    /// `socket()` returned this fd (`fileno`).
    SocketCreated {
        /// The file descriptor.
        fd: i32,
        /// `AF_INET`, `AF_INET6` or `AF_UNIX`.
        family: &'static str,
        /// `SOCK_STREAM` or `SOCK_DGRAM`.
        socktype: &'static str,
    },
    /// A connect attempt started.
    Connecting {
        /// The address being tried.
        addr: Addr,
    },
    /// A connect attempt failed; the next address (if any) is tried.
    ConnectFailed(OpError),
    /// The stream is connected.
    Connected {
        /// `getsockname`.
        local: Addr,
        /// `getpeername`.
        peer: Addr,
        /// `fileno`.
        fd: i32,
    },
    /// A datagram socket is bound (explicitly or by the kernel).
    Bound {
        /// `getsockname`.
        local: Addr,
        /// `fileno`.
        fd: i32,
        /// `getpeername` when connected to a default peer.
        peer: Option<Addr>,
    },
    /// A server is listening.
    Listening {
        /// `getsockname` (shows the real port when 0 was asked).
        local: Addr,
        /// `fileno`.
        fd: i32,
        /// The backlog passed to `listen`.
        backlog: i32,
    },
    /// A server accepted a connection; `child` is its new session id.
    Accepted {
        /// The child's id.
        child: SessionId,
        /// `getsockname` of the accepted socket.
        local: Addr,
        /// `getpeername` of the accepted socket.
        peer: Addr,
        /// Its fd.
        fd: i32,
    },
    /// A TLS handshake finished (boxed: it carries the certificate chain).
    Tls(Box<super::tls::TlsInfo>),
    /// The WebSocket opening handshake is done (or was answered).
    WsHandshake(Box<super::ws::WsHandshake>),
    /// A TLS server's certificate, once it listens.
    TlsIdentity(Box<super::tls::TlsIdentityInfo>),
    /// The options as read back with getsockopt after setup. Shared: a
    /// server's connections usually read back alike, and one list then
    /// serves all of them (10,000 children, in the log store too).
    Options(std::sync::Arc<[OptionReport]>),
    /// One option changed on a live socket, with its read-back value.
    OptionChanged(OptionReport),
    /// `getsockopt(TCP_INFO)` of one TCP connection, as asked with
    /// [`Command::TcpInfo`].
    TcpInfo(Box<super::tcp_info::TcpInfo>),
    /// One send or recv.
    Log(LogEntry),
    /// One direction of a stream ended.
    HalfClosed {
        /// Who ended it.
        by: Side,
    },
    /// Our queue of unsent bytes crossed the high-water mark.
    WritePaused {
        /// Bytes queued.
        queued: usize,
    },
    /// Our queue drained below the low-water mark.
    WriteResumed {
        /// Bytes queued.
        queued: usize,
    },
    /// A timeout expired (read timeout: nothing arrived for `after`).
    Timeout {
        /// The operation (`recv`, `send`, `connect`).
        op: &'static str,
        /// How long we waited.
        after: Duration,
    },
    /// A serial port's modem lines (or why they cannot be read), at
    /// setup and on `ReadModem` / `SetLines`.
    Modem(Result<super::serial::ModemLines, OpError>),
    /// A serial port sent a break.
    BreakSent,
    /// A relay's rule acted on a chunk (or was switched on or off).
    Rule {
        /// The rule's place in the relay's list, from 0.
        index: usize,
        /// What it did, in words.
        what: String,
        /// Set when it was switched on (true) or off (false).
        enabled: Option<bool>,
    },
    /// A relay's intercept rule holds a chunk for the user (on the leg
    /// that read it); `Command::Release` lets it go.
    Intercepted {
        /// Its id on this leg.
        id: u64,
        /// The chunk, as earlier rules left it.
        data: Vec<u8>,
        /// How long it waits for an answer before it goes on as it is.
        timeout: Duration,
    },
    /// An intercepted chunk was let go.
    Released {
        /// Its id on this leg.
        id: u64,
        /// `forwarded`, `forwarded edited`, `dropped`, `timed out`.
        how: &'static str,
        /// The bytes that went on (none when dropped).
        sent: usize,
    },
    /// A multicast group was joined or left.
    Multicast {
        /// The group.
        group: IpAddr,
        /// true for join, false for leave.
        joined: bool,
    },
    /// An operation failed without ending the session.
    Error(OpError),
    /// The same error happened `times` more times since it was reported
    /// (identical errors are coalesced so a flood cannot fill memory).
    ErrorRepeated {
        /// The error, as first reported.
        error: OpError,
        /// Further occurrences, not reported one by one.
        times: u64,
    },
    /// Something the user should know that is not an error: a listener on
    /// every interface, say.
    Warning {
        /// A stable snake_case code (`all_interfaces`).
        code: &'static str,
        /// What it means, in words.
        message: String,
    },
    /// A step-mode call ran, with the kernel's answer.
    Call {
        /// Index in the session's calls, from 0.
        index: usize,
        /// The call and its result (boxed: calls are rare, events are many).
        record: Box<super::stepper::CallRecord>,
    },
    /// A burst has finished this many requests.
    BurstProgress {
        /// Requests done (completed or failed).
        done: u32,
    },
    /// A burst run finished (boxed: it carries every latency).
    BurstDone(Box<super::burst::BurstReport>),
    /// A script step ran (index and a description).
    Step {
        /// Index in the script, from 0.
        index: usize,
        /// What it did, in words.
        what: String,
    },
    /// Latest counters and rates (sent at most a few times a second while
    /// something moves, and once more when it stops).
    Stats {
        /// Exact counters.
        counters: Counters,
        /// Bytes per second received over the last interval.
        rate_in: f64,
        /// Bytes per second sent over the last interval.
        rate_out: f64,
    },
    /// The consumer lagged: this many log entries (and bytes) were not
    /// delivered. Counters still include them.
    Dropped {
        /// Entries not delivered.
        entries: u64,
        /// Their bytes.
        bytes: u64,
    },
    /// The session or child ended. Always the last event for its id.
    Closed {
        /// Why.
        reason: CloseReason,
        /// Final counters.
        counters: Counters,
    },
}

/// What a session or a child is. Matched by the compiler wherever the UI
/// or the runner treats kinds apart; `label` is the stable name the JSON
/// Lines `opened` event and the UI show.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    /// A TCP client.
    TcpClient,
    /// A TCP server (its children are [`Kind::Accepted`]).
    TcpServer,
    /// A UDP socket.
    Udp,
    /// A Unix stream client.
    UnixClient,
    /// A Unix stream server.
    UnixServer,
    /// A Unix datagram socket.
    UnixDatagram,
    /// A socketpair (its ends are [`Kind::PairEnd`]).
    SocketPair,
    /// Step mode: one socket call per command.
    Script,
    /// A burst of requests.
    Burst,
    /// A serial port.
    Serial,
    /// A WebSocket client.
    WsClient,
    /// A WebSocket server (its children are [`Kind::Accepted`]).
    WsServer,
    /// A relay (its children are [`Kind::RelayLeg`]s, in pairs).
    Relay,
    /// One leg of a relayed connection, see [`Leg`].
    RelayLeg,
    /// A connection a server accepted.
    Accepted,
    /// One end of a socketpair.
    PairEnd,
}

impl Kind {
    /// The stable name (`tcp-client`, `tcp-server`, ...).
    pub fn label(self) -> &'static str {
        match self {
            Kind::TcpClient => "tcp-client",
            Kind::TcpServer => "tcp-server",
            Kind::Udp => "udp",
            Kind::UnixClient => "unix-client",
            Kind::UnixServer => "unix-server",
            Kind::UnixDatagram => "unix-datagram",
            Kind::SocketPair => "socketpair",
            Kind::Script => "script",
            Kind::Burst => "burst",
            Kind::Serial => "serial",
            Kind::WsClient => "ws-client",
            Kind::WsServer => "ws-server",
            Kind::Relay => "relay",
            Kind::RelayLeg => "relay leg",
            Kind::Accepted => "accepted",
            Kind::PairEnd => "socketpair end",
        }
    }

    /// A listening socket with children.
    pub fn is_server(self) -> bool {
        matches!(
            self,
            Kind::TcpServer | Kind::UnixServer | Kind::WsServer | Kind::Relay
        )
    }

    /// A datagram socket.
    pub fn is_datagram(self) -> bool {
        matches!(self, Kind::Udp | Kind::UnixDatagram)
    }
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.label())
    }
}

impl EventKind {
    /// A stable snake_case name, used as the JSON `event` field.
    pub fn name(&self) -> &'static str {
        match self {
            EventKind::Opened { .. } => "opened",
            EventKind::Resolving { .. } => "resolving",
            EventKind::Resolved { .. } => "resolved",
            EventKind::SocketCreated { .. } => "socket",
            EventKind::Connecting { .. } => "connecting",
            EventKind::ConnectFailed(_) => "connect_failed",
            EventKind::Connected { .. } => "connected",
            EventKind::Bound { .. } => "bound",
            EventKind::Listening { .. } => "listening",
            EventKind::Accepted { .. } => "accepted",
            EventKind::Tls(_) => "tls",
            EventKind::WsHandshake(_) => "ws_handshake",
            EventKind::TlsIdentity(_) => "tls_identity",
            EventKind::Options(_) => "options",
            EventKind::OptionChanged(_) => "option_changed",
            EventKind::TcpInfo(_) => "tcp_info",
            EventKind::Log(e) => match e.dir {
                Direction::In => "received",
                Direction::Out => "sent",
            },
            EventKind::HalfClosed { .. } => "half_closed",
            EventKind::WritePaused { .. } => "write_paused",
            EventKind::WriteResumed { .. } => "write_resumed",
            EventKind::Timeout { .. } => "timeout",
            EventKind::Multicast { .. } => "multicast",
            EventKind::Modem(_) => "modem",
            EventKind::BreakSent => "break_sent",
            EventKind::Error(_) | EventKind::ErrorRepeated { .. } => "error",
            EventKind::Warning { .. } => "warning",
            EventKind::Step { .. } => "step",
            EventKind::Call { .. } => "call",
            EventKind::BurstProgress { .. } => "burst_progress",
            EventKind::BurstDone(_) => "burst",
            EventKind::Stats { .. } => "stats",
            EventKind::Dropped { .. } => "dropped",
            EventKind::Closed { .. } => "closed",
            EventKind::Rule { .. } => "rule",
            EventKind::Intercepted { .. } => "intercepted",
            EventKind::Released { .. } => "released",
        }
    }
}

/// How a send command writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum SendMode {
    /// Like Python's `sendall`: queue everything, write as the kernel
    /// accepts it (each write logged with its real size).
    #[default]
    All,
    /// Like Python's `send`: one write now; what the kernel does not take
    /// is reported, not retried.
    Once,
}

/// What a user (or the runner) asks of a session.
#[derive(Clone, Debug, PartialEq)]
pub enum Command {
    /// Send bytes on a stream, or a datagram to `to` (or the connected peer).
    Send {
        /// Session or child.
        target: SessionId,
        /// The bytes.
        data: Vec<u8>,
        /// send vs sendall.
        mode: SendMode,
        /// Datagram destination (`host:port` or a Unix path).
        to: Option<String>,
    },
    /// On a WebSocket: send a message or control frame of this kind (a
    /// plain `Send` goes as text when it is UTF-8, else as binary).
    Message {
        /// Session or child.
        target: SessionId,
        /// Text, binary, ping, pong or close with a code.
        kind: super::ws::Outgoing,
        /// The payload (a close: its reason).
        data: Vec<u8>,
    },
    /// Send the same bytes to every connected child of a server.
    SendToChildren {
        /// The server session.
        server: SessionId,
        /// The bytes.
        data: Vec<u8>,
    },
    /// `shutdown(SHUT_WR)`: the peer reads EOF, we can still receive.
    ShutdownWrite {
        /// Session or child.
        target: SessionId,
    },
    /// Close gracefully (FIN), after the send queue drains.
    Close {
        /// Session or child.
        target: SessionId,
    },
    /// Close with SO_LINGER 0: the kernel sends RST and drops unsent data.
    Abort {
        /// Session or child.
        target: SessionId,
    },
    /// Change an option on the live socket; the result is read back.
    SetOption {
        /// Session or child (a server's own id means its listener).
        target: SessionId,
        /// The option and value.
        option: SockOpt,
    },
    /// Serial ports: raise or drop DTR and RTS (`None` leaves one as it
    /// is). Answered with a `modem` event.
    SetLines {
        /// The serial session.
        target: SessionId,
        /// Data terminal ready.
        dtr: Option<bool>,
        /// Request to send.
        rts: Option<bool>,
    },
    /// Relays: let an intercepted chunk go (`target`: the leg that holds
    /// it; the relay itself with [`Release::ForwardAll`]).
    Release {
        /// The leg, or the relay.
        target: SessionId,
        /// The chunk's id on that leg (ignored by `ForwardAll`).
        id: u64,
        /// What to do with it.
        verdict: Release,
    },
    /// Relays: switch rule `index` on or off. Answered with a `rule` event.
    SetRule {
        /// The relay session.
        target: SessionId,
        /// The rule's place in the relay's list, from 0.
        index: usize,
        /// On or off.
        enabled: bool,
    },
    /// Serial ports: send a break.
    Break {
        /// The serial session.
        target: SessionId,
    },
    /// Serial ports: read the modem lines. Answered with a `modem` event.
    ReadModem {
        /// The serial session.
        target: SessionId,
    },
    /// Join (true) or leave (false) a multicast group on a UDP session.
    Multicast {
        /// The UDP session.
        target: SessionId,
        /// The group address.
        group: IpAddr,
        /// Join or leave.
        join: bool,
    },
    /// Make the session's worker panic (tests of fault isolation only).
    #[cfg(feature = "fault-injection")]
    InjectPanic {
        /// The session.
        target: SessionId,
    },
    /// Step mode: run one call of the socket API.
    Step {
        /// The step-mode session.
        target: SessionId,
        /// The call.
        call: super::stepper::Call,
    },
    /// Read TCP_INFO: of one connection (a child, or a client), or of
    /// every connection of a server (its own id). Answered with one
    /// `tcp_info` event per connection.
    TcpInfo {
        /// Session or child.
        target: SessionId,
    },
    /// For sessions with `auto_read: false`: one real `recv(max)` that
    /// honours the socket's blocking mode and read timeout.
    Recv {
        /// Session.
        target: SessionId,
        /// Buffer size.
        max: usize,
    },
}

impl Command {
    /// The session or child the command is for.
    pub fn target(&self) -> SessionId {
        match self {
            Command::Send { target, .. }
            | Command::Message { target, .. }
            | Command::ShutdownWrite { target }
            | Command::Close { target }
            | Command::Abort { target }
            | Command::SetOption { target, .. }
            | Command::Multicast { target, .. }
            | Command::Recv { target, .. }
            | Command::TcpInfo { target }
            | Command::SetLines { target, .. }
            | Command::SetRule { target, .. }
            | Command::Release { target, .. }
            | Command::Break { target }
            | Command::ReadModem { target }
            | Command::Step { target, .. } => *target,
            #[cfg(feature = "fault-injection")]
            Command::InjectPanic { target } => *target,
            Command::SendToChildren { server, .. } => *server,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_ids_print_and_parse() {
        let id = SessionId::top(3).child(12);
        assert_eq!(id.to_string(), "3.12");
        assert_eq!(SessionId::parse("3.12"), Some(id));
        assert_eq!(SessionId::parse("3"), Some(SessionId::top(3)));
        assert_eq!(SessionId::parse("0"), None);
        assert_eq!(SessionId::parse("3.x"), None);
    }
}
