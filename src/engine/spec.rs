//! A validated description of one session: what the engine opens. Presets
//! on disk are parsed into this (see `crate::preset`); the UI builds it from
//! its form.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use super::codec::Encoding;
use super::options::SockOpt;
use super::written::Typed;

/// One end of a relay: a TCP address or a Unix stream socket path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RelayEnd {
    /// An IP address and port (no host names: a relay connects for each
    /// client without blocking, and a name would be resolved each time).
    Tcp(SocketAddr),
    /// A Unix stream socket path.
    Unix(PathBuf),
    /// A UDP address and port (both ends of a relay, or neither).
    Udp(SocketAddr),
}

impl RelayEnd {
    /// Parses `127.0.0.1:9300`, `[::1]:9300`, `unix:/path/to.sock` or
    /// `udp:127.0.0.1:9300`.
    pub fn parse(s: &str) -> Result<RelayEnd, String> {
        let s = s.trim();
        if let Some(a) = s.strip_prefix("udp:") {
            return a.parse::<SocketAddr>().map(RelayEnd::Udp).map_err(|_| {
                format!(
                    "'{}' is not an address: write udp:ip:port, e.g. udp:127.0.0.1:9300",
                    super::codec::excerpt(s, 60)
                )
            });
        }
        if let Some(path) = s.strip_prefix("unix:") {
            if path.is_empty() {
                return Err(
                    "'unix:' needs a socket path after it, e.g. unix:/tmp/relay.sock".into(),
                );
            }
            let p = PathBuf::from(path);
            check_unix_path(&p)?;
            return Ok(RelayEnd::Unix(p));
        }
        s.parse::<SocketAddr>().map(RelayEnd::Tcp).map_err(|_| {
            format!(
                "'{}' is not an address: write ip:port (127.0.0.1:9300, [::1]:9300) or unix:/path",
                super::codec::excerpt(s, 60)
            )
        })
    }
}

impl std::fmt::Display for RelayEnd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RelayEnd::Tcp(a) => write!(f, "{a}"),
            RelayEnd::Unix(p) => write!(f, "unix:{}", p.display()),
            RelayEnd::Udp(a) => write!(f, "udp:{a}"),
        }
    }
}

/// A host name or IP literal with a port, resolved when the session opens.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostPort {
    /// Name or literal (IPv6 without brackets).
    pub host: String,
    /// Port.
    pub port: u16,
}

impl HostPort {
    /// Parses `host:port`, `[v6]:port` or `v4:port`.
    pub fn parse(s: &str) -> Result<HostPort, String> {
        let s = s.trim();
        // Messages quote a bounded, escaped excerpt of what was given.
        let q = super::codec::excerpt(s, 60);
        if let Ok(sa) = s.parse::<SocketAddr>() {
            return Ok(HostPort {
                host: sa.ip().to_string(),
                port: sa.port(),
            });
        }
        let Some((host, port)) = s.rsplit_once(':') else {
            return Err(format!(
                "'{q}' has no port; write host:port, e.g. 127.0.0.1:7788 or [::1]:7788"
            ));
        };
        if host.contains(':') && !host.starts_with('[') {
            return Err(format!(
                "'{q}': an IPv6 address needs brackets before the port, e.g. [::1]:7788"
            ));
        }
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if host.is_empty() {
            return Err(format!("'{q}' has no host before the port"));
        }
        if !host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | ':' | '%'))
        {
            return Err(format!(
                "'{}' is not a valid host name or IP address",
                super::codec::excerpt(host, 60)
            ));
        }
        let port = parse_port(port)?;
        Ok(HostPort {
            host: host.to_string(),
            port,
        })
    }
}

impl std::fmt::Display for HostPort {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

/// Parses a port number with a message that says what range is allowed.
pub fn parse_port(s: &str) -> Result<u16, String> {
    let s = s.trim();
    match s.parse::<u64>() {
        Ok(n) if n <= 65535 => Ok(n as u16),
        Ok(n) => Err(format!(
            "port {n} is out of range; ports go from 0 to 65535"
        )),
        Err(_) => Err(format!(
            "port '{}' is not a number; ports go from 0 to 65535",
            super::codec::excerpt(s, 20)
        )),
    }
}

/// Parses a local bind address `ip:port` (no names: binding needs a literal).
/// Whether `p` can name a Unix socket: not empty, at most 107 bytes
/// (sun_path holds 108 with its NUL) and no NUL inside, which the kernel
/// would take as the end and bind a cut-short path.
pub fn check_unix_path(p: &std::path::Path) -> Result<(), String> {
    let bytes = p.as_os_str().as_encoded_bytes();
    if bytes.is_empty() {
        return Err("the socket path is empty".into());
    }
    if bytes.contains(&0) {
        return Err("the socket path holds a NUL byte, which would cut it short".into());
    }
    if bytes.len() > 107 {
        return Err(format!(
            "the socket path is {} bytes; Unix socket paths hold at most 107, use a shorter one",
            bytes.len()
        ));
    }
    Ok(())
}

/// The address of a Unix socket path, checked by [`check_unix_path`]:
/// every bind, connect and sendto on a path goes through here.
pub fn unix_addr(p: impl AsRef<std::path::Path>) -> std::io::Result<socket2::SockAddr> {
    let p = p.as_ref();
    check_unix_path(p).map_err(|m| std::io::Error::new(std::io::ErrorKind::InvalidInput, m))?;
    socket2::SockAddr::unix(p)
}

pub fn parse_bind_addr(s: &str) -> Result<SocketAddr, String> {
    let hp = HostPort::parse(s)?;
    let ip: IpAddr = hp.host.parse().map_err(|_| {
        format!(
            "'{}' is not an IP address; a local address must be a literal like 127.0.0.1, ::1, 0.0.0.0 or ::",
            hp.host
        )
    })?;
    Ok(SocketAddr::new(ip, hp.port))
}

/// Which address family to use when resolving names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Family {
    /// Whatever the name resolves to, in resolver order.
    #[default]
    Auto,
    /// IPv4 only.
    V4,
    /// IPv6 only.
    V6,
}

/// What to do when a Unix server's path already exists.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum StalePolicy {
    /// Fail with a message that says whether a server still answers there.
    #[default]
    Fail,
    /// Remove the file, but only if it is a socket nobody listens on.
    RemoveIfStale,
}

/// The kinds of session and what each needs.
#[derive(Clone, Debug, PartialEq)]
pub enum SessionKind {
    /// Connect to `remote`, optionally from `local`.
    TcpClient {
        /// Where to connect.
        remote: HostPort,
        /// Optional local bind before connect.
        local: Option<SocketAddr>,
    },
    /// Listen on `local`; each accepted connection is a child session.
    TcpServer {
        /// Address to bind (port 0: the kernel picks).
        local: SocketAddr,
        /// listen() backlog.
        backlog: i32,
    },
    /// A UDP socket.
    Udp {
        /// Bind address; None binds an ephemeral port: on loopback when the
        /// session answers (a responder), else on the unspecified address as
        /// the kernel binds a first sendto.
        local: Option<SocketAddr>,
        /// Optional default peer (`connect`).
        connect: Option<HostPort>,
        /// Multicast groups to join after bind.
        join: Vec<IpAddr>,
    },
    /// Connect to a Unix stream socket.
    UnixClient {
        /// Socket path.
        path: PathBuf,
    },
    /// Listen on a Unix stream socket path.
    UnixServer {
        /// Socket path.
        path: PathBuf,
        /// listen() backlog.
        backlog: i32,
        /// What to do with an existing file at `path`.
        stale: StalePolicy,
    },
    /// A Unix datagram socket.
    UnixDatagram {
        /// Path to bind, or None for an unbound socket.
        local: Option<PathBuf>,
        /// Optional default peer path.
        connect: Option<PathBuf>,
    },
    /// Two connected Unix stream ends, children `.1` and `.2`.
    SocketPair,
    /// A timed burst of connections or datagrams to one target (see `burst`).
    Burst(super::burst::BurstSpec),
    /// A serial port (a terminal device), read and written as a stream.
    Serial(super::serial::SerialSpec),
    /// A WebSocket client: TCP to the URL's host (TLS under it for
    /// `wss`), then the opening handshake; each message is a log row.
    WsClient {
        /// `ws://` or `wss://` address.
        url: super::ws::WsUrl,
        /// Extra request headers, in order.
        headers: Vec<(String, String)>,
        /// Subprotocols offered, in order of preference.
        subprotocols: Vec<String>,
        /// Answer pings (on by default; off to watch a keepalive fail).
        auto_pong: bool,
    },
    /// A WebSocket server: a TCP listener whose connections shake hands
    /// for `path`; `tls: Server(...)` makes it `wss`.
    WsServer {
        /// Address to bind.
        local: SocketAddr,
        /// The path it answers (others get 404).
        path: String,
        /// Subprotocols it accepts, the first the client offers wins.
        subprotocols: Vec<String>,
        /// Answer pings.
        auto_pong: bool,
    },
    /// A relay: listens on `listen`; each client it accepts gets its own
    /// connection to `target`, and what either side sends is forwarded to
    /// the other. The two legs are children `2k-1` (towards the client)
    /// and `2k` (towards the server) of the session, see [`Leg`].
    ///
    /// [`Leg`]: super::protocol::Leg
    Relay {
        /// Where clients connect.
        listen: RelayEnd,
        /// Where each client's upstream connection goes.
        target: RelayEnd,
        /// What happens to chunks on their way, in order (engine/rules.rs).
        rules: Vec<super::rules::Rule>,
        /// TLS towards the target (a `Client` spec), each upstream its own
        /// session; the session's `tls: Server(...)` is towards clients.
        target_tls: Option<super::tls::TlsSpec>,
    },
    /// Step mode: the socket API call by call (see `stepper`). The calls
    /// run in order when the session opens; more come as `Command::Step`.
    Script {
        /// Calls to run at once.
        calls: Vec<super::stepper::Call>,
        /// Stay open for more calls after them (the app); else the session
        /// ends when they are done (`sockscope run`).
        keep_open: bool,
    },
}

impl SessionKind {
    /// A short stable label.
    pub fn label(&self) -> &'static str {
        self.kind().label()
    }

    /// What it is, as events carry it.
    pub fn kind(&self) -> super::protocol::Kind {
        use super::protocol::Kind;
        match self {
            SessionKind::TcpClient { .. } => Kind::TcpClient,
            SessionKind::TcpServer { .. } => Kind::TcpServer,
            SessionKind::Udp { .. } => Kind::Udp,
            SessionKind::UnixClient { .. } => Kind::UnixClient,
            SessionKind::UnixServer { .. } => Kind::UnixServer,
            SessionKind::UnixDatagram { .. } => Kind::UnixDatagram,
            SessionKind::SocketPair => Kind::SocketPair,
            SessionKind::Script { .. } => Kind::Script,
            SessionKind::Burst(_) => Kind::Burst,
            SessionKind::Serial(_) => Kind::Serial,
            SessionKind::WsClient { .. } => Kind::WsClient,
            SessionKind::WsServer { .. } => Kind::WsServer,
            SessionKind::Relay { .. } => Kind::Relay,
        }
    }
    /// Whether the session speaks WebSocket.
    pub fn is_websocket(&self) -> bool {
        matches!(
            self,
            SessionKind::WsClient { .. } | SessionKind::WsServer { .. }
        )
    }
    /// Whether the session's own socket is a listener.
    pub fn is_server(&self) -> bool {
        matches!(
            self,
            SessionKind::TcpServer { .. }
                | SessionKind::UnixServer { .. }
                | SessionKind::WsServer { .. }
                | SessionKind::Relay { .. }
        )
    }
    /// Whether the session's own socket is a datagram socket.
    pub fn is_datagram(&self) -> bool {
        matches!(
            self,
            SessionKind::Udp { .. } | SessionKind::UnixDatagram { .. }
        )
    }
}

pub use super::respond::Responder;

/// One step of a session script, run once the session is connected or bound.
#[derive(Clone, Debug, PartialEq)]
pub enum Step {
    /// Send bytes (datagrams: to `to`, or the connected peer).
    Send {
        /// The bytes, already encoded.
        data: Typed,
        /// Datagram destination.
        to: Option<String>,
        /// send vs sendall.
        mode: super::protocol::SendMode,
    },
    /// Wait a fixed time.
    Wait(Duration),
    /// Wait until something is received, at most this long.
    WaitRecv(Duration),
    /// `shutdown(SHUT_WR)`.
    ShutdownWrite,
    /// Close gracefully.
    Close,
}

/// A named payload kept with a session (the composer offers them).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Snippet {
    /// Its name.
    pub name: String,
    /// The bytes.
    pub data: Typed,
    /// A checksum appended when it is sent.
    pub checksum: super::checksum::Trailer,
    /// Send it again every so often, once started from the quick-send
    /// panel.
    pub period: Option<Duration>,
}

impl Snippet {
    /// A snippet of these bytes, no checksum, no period.
    pub fn new(name: impl Into<String>, data: impl Into<Typed>) -> Snippet {
        Snippet {
            name: name.into(),
            data: data.into(),
            checksum: Default::default(),
            period: None,
        }
    }

    /// The bytes a send of it puts on the wire.
    pub fn wire_bytes(&self) -> Vec<u8> {
        self.checksum.applied(&self.data)
    }
}

/// Log and queue limits for one session.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Bytes per recv call (the seed uses 1024).
    pub recv_buffer: usize,
    /// Unsent bytes queued per connection before sends are refused.
    pub send_queue: usize,
    /// Queue size at which `write_paused` is reported.
    pub high_water: usize,
    /// Queue size at which `write_resumed` is reported.
    pub low_water: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            recv_buffer: 64 * 1024,
            send_queue: 16 * 1024 * 1024,
            high_water: 64 * 1024,
            low_water: 16 * 1024,
        }
    }
}

/// Everything needed to open one session.
#[derive(Clone, Debug, PartialEq)]
pub struct SessionSpec {
    /// A name for people.
    pub name: String,
    /// What to open.
    pub kind: SessionKind,
    /// Family filter for name resolution.
    pub family: Family,
    /// Options, applied in order before bind/connect/listen.
    pub options: Vec<SockOpt>,
    /// How long a connect may take (per address tried).
    pub connect_timeout: Option<Duration>,
    /// Report `timeout` when nothing arrives for this long (SO_RCVTIMEO is
    /// set too, and governs manual `Recv` calls).
    pub read_timeout: Option<Duration>,
    /// Close the session when the read timeout fires.
    pub close_on_read_timeout: bool,
    /// Read whatever arrives (true) or only on `Recv` commands (false, the
    /// socket then keeps the blocking mode the options asked for).
    pub auto_read: bool,
    /// How payloads are shown.
    pub encoding: Encoding,
    /// Automatic replies.
    pub responder: Responder,
    /// Hold each automatic reply this long before sending it (a slow
    /// device, a timeout test); None sends at once.
    pub reply_delay: Option<Duration>,
    /// Script to run once connected or bound.
    pub steps: Vec<Step>,
    /// After the peer's FIN, keep the session open so we can still send.
    pub keep_open_after_peer_fin: bool,
    /// Buffers and water marks.
    pub limits: Limits,
    /// Saved payloads, for the composer.
    pub snippets: Vec<Snippet>,
    /// TLS over the stream (TCP client or server only).
    pub tls: Option<super::tls::TlsSpec>,
    /// How a plain stream's received bytes are cut into messages (log
    /// rows and what responders answer).
    pub framing: super::framing::Framing,
}

impl SessionSpec {
    /// A spec with defaults for everything but the kind.
    pub fn new(name: impl Into<String>, kind: SessionKind) -> SessionSpec {
        SessionSpec {
            name: name.into(),
            kind,
            family: Family::Auto,
            options: Vec::new(),
            connect_timeout: Some(Duration::from_secs(10)),
            read_timeout: None,
            close_on_read_timeout: false,
            auto_read: true,
            encoding: Encoding::Utf8,
            responder: Responder::None,
            reply_delay: None,
            steps: Vec::new(),
            keep_open_after_peer_fin: false,
            limits: Limits::default(),
            snippets: Vec::new(),
            tls: None,
            framing: Default::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_port_forms() {
        assert_eq!(
            HostPort::parse("localhost:80").unwrap(),
            HostPort {
                host: "localhost".into(),
                port: 80
            }
        );
        assert_eq!(HostPort::parse("[::1]:7788").unwrap().host, "::1");
        assert!(
            HostPort::parse("::1:7788")
                .unwrap_err()
                .contains("brackets")
        );
        assert!(
            HostPort::parse("127.0.0.1:70000")
                .unwrap_err()
                .contains("out of range")
        );
        assert!(
            HostPort::parse("127.0.0.1")
                .unwrap_err()
                .contains("no port")
        );
        assert!(
            parse_bind_addr("localhost:1")
                .unwrap_err()
                .contains("literal")
        );
        assert_eq!(HostPort::parse("[::1]:1").unwrap().to_string(), "[::1]:1");
    }
}
