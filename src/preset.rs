//! Presets on disk: RON types as users write them, checked while parsing so
//! every error names the file, line, column and field, then turned into the
//! engine's [`SessionSpec`].
//!
//! A file holds one session (a preset) or several (`sessions: [...]`, a
//! workspace). Format version 1; see the README for a commented example.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::de::{self, Deserializer};
use serde::{Deserialize, Serialize, Serializer};

use crate::engine::checksum::{ByteOrder, Checksum, Trailer};
use crate::engine::codec::{self, Encoding};
use crate::engine::options::{OptName, OptValue};
use crate::engine::protocol::SendMode;
use crate::engine::respond::{BytesRegex, Canned, Match, Reply, Rule};
use crate::engine::spec::{
    self, Family, HostPort, Limits, Responder, SessionKind, SessionSpec, Snippet, StalePolicy, Step,
};
use crate::engine::stepper::Call;
use crate::engine::tls::{Identity, Roots, TlsClientSpec, TlsServerSpec, TlsSpec};
pub use crate::engine::written::{Payload, Typed, payload_for};

mod framing_file;
mod options_file;
mod relay_file;
pub use relay_file::{ActionFile, MatchFile as RelayMatchFile, RuleFile as RelayRuleFile, WayFile};
mod ws_file;
pub use options_file::{OptValueFile, OptionsFile};

/// The built-in examples (file stem, text), compiled in so they are always
/// there, read-only, whatever the working directory.
pub const BUILTIN: &[(&str, &str)] = &[
    ("api-tour", include_str!("../assets/presets/api-tour.ron")),
    ("burst-20", include_str!("../assets/presets/burst-20.ron")),
    (
        "asyncio-echo-client",
        include_str!("../assets/presets/asyncio-echo-client.ron"),
    ),
    (
        "asyncio-echo-server",
        include_str!("../assets/presets/asyncio-echo-server.ron"),
    ),
    (
        "chat-client",
        include_str!("../assets/presets/chat-client.ron"),
    ),
    (
        "chat-server",
        include_str!("../assets/presets/chat-server.ron"),
    ),
    (
        "echo-server",
        include_str!("../assets/presets/echo-server.ron"),
    ),
    ("http-get", include_str!("../assets/presets/http-get.ron")),
    (
        "serial-echo",
        include_str!("../assets/presets/serial-echo.ron"),
    ),
    ("http-head", include_str!("../assets/presets/http-head.ron")),
    ("relay", include_str!("../assets/presets/relay.ron")),
    (
        "relay-faults",
        include_str!("../assets/presets/relay-faults.ron"),
    ),
    (
        "ws-echo-server",
        include_str!("../assets/presets/ws-echo-server.ron"),
    ),
    ("ws-client", include_str!("../assets/presets/ws-client.ron")),
    (
        "socketpair",
        include_str!("../assets/presets/socketpair.ron"),
    ),
    (
        "tcp-client",
        include_str!("../assets/presets/tcp-client.ron"),
    ),
    (
        "thank-you-server",
        include_str!("../assets/presets/thank-you-server.ron"),
    ),
    (
        "udp-client",
        include_str!("../assets/presets/udp-client.ron"),
    ),
    (
        "udp-sender",
        include_str!("../assets/presets/udp-sender.ron"),
    ),
    (
        "udp-server",
        include_str!("../assets/presets/udp-server.ron"),
    ),
    (
        "udp-time-client",
        include_str!("../assets/presets/udp-time-client.ron"),
    ),
    (
        "udp-time-server",
        include_str!("../assets/presets/udp-time-server.ron"),
    ),
    (
        "tls-client",
        include_str!("../assets/presets/tls-client.ron"),
    ),
    (
        "tls-server",
        include_str!("../assets/presets/tls-server.ron"),
    ),
    ("unix-echo", include_str!("../assets/presets/unix-echo.ron")),
];

/// The built-in examples, parsed.
pub fn builtins() -> Vec<(&'static str, Result<SessionSpec, PresetError>)> {
    BUILTIN
        .iter()
        .map(|(stem, text)| {
            let path = PathBuf::from(format!("builtin:{stem}.ron"));
            (*stem, parse_session(&path, text).map(|(_, s)| s))
        })
        .collect()
}

/// The preset format this build writes and reads.
pub const FORMAT_VERSION: u32 = 1;

/// Why a preset file could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}:{line}:{col}: {}{message}", file.display(), field.as_ref().map(|f| format!("field `{f}`: ")).unwrap_or_default())]
pub struct PresetError {
    /// The file.
    pub file: PathBuf,
    /// 1-based line (0 when unknown).
    pub line: usize,
    /// 1-based column (0 when unknown).
    pub col: usize,
    /// The field at fault, when known.
    pub field: Option<String>,
    /// What is wrong and how to fix it.
    pub message: String,
}

macro_rules! text_newtype {
    ($name:ident, $inner:ty, $parse:expr, $show:expr) => {
        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                let f: fn(&str) -> Result<$inner, String> = $parse;
                f(&s).map($name).map_err(de::Error::custom)
            }
        }
        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                let f: fn(&$inner) -> String = $show;
                s.serialize_str(&f(&self.0))
            }
        }
    };
}

/// A local address to bind: an IP literal and a port.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BindAddr(pub SocketAddr);
text_newtype!(BindAddr, SocketAddr, spec::parse_bind_addr, |a| a
    .to_string());

/// A remote `host:port`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Remote(pub HostPort);
text_newtype!(Remote, HostPort, HostPort::parse, |h| h.to_string());

/// A multicast group.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Group(pub IpAddr);
text_newtype!(
    Group,
    IpAddr,
    |s| {
        let ip: IpAddr = s
            .trim()
            .parse()
            .map_err(|_| format!("'{}' is not an IP address", codec::excerpt(s, 60)))?;
        if ip.is_multicast() {
            Ok(ip)
        } else {
            Err(format!(
                "{ip} is not a multicast address (IPv4 224.0.0.0/4, IPv6 ff00::/8)"
            ))
        }
    },
    |g| g.to_string()
);

/// An IPv4 address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ipv4Text(pub Ipv4Addr);
text_newtype!(
    Ipv4Text,
    Ipv4Addr,
    |s| s.trim().parse().map_err(|_| format!(
        "'{}' is not an IPv4 address (e.g. 127.0.0.1)",
        codec::excerpt(s, 60)
    )),
    |a| a.to_string()
);

/// An encoding label.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EncodingName(pub Encoding);
text_newtype!(
    EncodingName,
    Encoding,
    |s| Encoding::for_label(s).ok_or_else(|| format!(
        "unknown encoding '{}'; try one of {}",
        codec::excerpt(s, 40),
        codec::COMMON_ENCODINGS.join(", ")
    )),
    |e| e.name().to_string()
);

/// Seconds as a number, checked to be finite and sensible.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Secs(pub Duration);

impl<'de> Deserialize<'de> for Secs {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = f64::deserialize(d)?;
        if !v.is_finite() || !(0.0..=86_400.0 * 365.0).contains(&v) {
            return Err(de::Error::custom(format!(
                "{v} is not a valid duration; give seconds from 0 up to a year, e.g. 2.5"
            )));
        }
        Ok(Secs(Duration::from_secs_f64(v)))
    }
}

impl Serialize for Secs {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(self.0.as_secs_f64())
    }
}

/// Session kinds as written in files.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub enum KindFile {
    /// `TcpClient(remote: "127.0.0.1:7788")`
    TcpClient {
        /// Where to connect.
        remote: Remote,
        /// Optional local address to bind first.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        local: Option<BindAddr>,
    },
    /// `TcpServer(local: "127.0.0.1:7788", backlog: 128)`
    TcpServer {
        /// Address to listen on.
        local: BindAddr,
        /// listen() backlog.
        #[serde(default = "default_backlog")]
        backlog: i32,
    },
    /// `Udp(local: "127.0.0.1:7788")`
    Udp {
        /// Bind address (default: an ephemeral port).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        local: Option<BindAddr>,
        /// Default peer.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        connect: Option<Remote>,
        /// Multicast groups to join.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        join: Vec<Group>,
    },
    /// `UnixClient(path: "/tmp/x.sock")`
    UnixClient {
        /// Socket path.
        path: PathBuf,
    },
    /// `UnixServer(path: "/tmp/x.sock")`
    UnixServer {
        /// Socket path.
        path: PathBuf,
        /// listen() backlog.
        #[serde(default = "default_backlog")]
        backlog: i32,
        /// What to do with a stale socket file.
        #[serde(default)]
        stale: StaleFile,
    },
    /// `UnixDatagram(local: "/tmp/a.sock", connect: "/tmp/b.sock")`
    UnixDatagram {
        /// Path to bind.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        local: Option<PathBuf>,
        /// Default peer path.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        connect: Option<PathBuf>,
    },
    /// `SocketPair`
    SocketPair,
    /// `Script(calls: [...])`: the socket API one call at a time.
    Script {
        /// The calls, in order.
        calls: Vec<CallFile>,
    },
    /// `Burst(target: "127.0.0.1:8000", count: 20, concurrency: 20, ...)`
    Burst {
        /// The one target (`ip:port`).
        target: BindAddr,
        /// Requests in all (1 to 100,000).
        count: u32,
        /// In flight at once (1 to 1,000).
        #[serde(default = "one")]
        concurrency: u32,
        /// What each request sends.
        payload: Payload,
        /// `Reply` (first bytes) or `Eof` (the server closes).
        #[serde(default)]
        wait: WaitFile,
        /// Seconds per request (default 5).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        timeout: Option<Secs>,
        /// Datagrams instead of connections.
        #[serde(default, skip_serializing_if = "is_false")]
        udp: bool,
        /// Run it one at a time first, for the comparison.
        #[serde(default, skip_serializing_if = "is_false")]
        compare: bool,
    },
    /// `Serial(path: "/dev/ttyUSB0", baud: 115200, data_bits: 8, parity:
    /// None, stop_bits: 1, flow: None)`
    Serial {
        /// The device, or a link to one.
        path: PathBuf,
        /// Bits per second (default 115200).
        #[serde(default = "default_baud")]
        baud: u32,
        /// 5 to 8 (default 8).
        #[serde(default = "default_data_bits")]
        data_bits: u8,
        /// `None`, `Odd` or `Even`.
        #[serde(default)]
        parity: ParityFile,
        /// 1 or 2 (default 1).
        #[serde(default = "default_stop_bits")]
        stop_bits: u8,
        /// `None`, `Hardware` (RTS/CTS) or `Software` (XON/XOFF).
        #[serde(default)]
        flow: FlowFile,
    },
    /// `WsClient(url: "ws://127.0.0.1:8765/", headers: [("Authorization",
    /// "Bearer x")], subprotocols: ["chat"])`
    WsClient {
        /// `ws://` or `wss://` address.
        url: String,
        /// Extra request headers, `(name, value)` in order.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        headers: Vec<(String, String)>,
        /// Subprotocols offered, in order of preference.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        subprotocols: Vec<String>,
        /// Answer pings (default true).
        #[serde(default = "default_true", skip_serializing_if = "is_true")]
        auto_pong: bool,
    },
    /// `WsServer(local: "127.0.0.1:8765", path: "/")`
    WsServer {
        /// Address to listen on.
        local: BindAddr,
        /// The path it answers (default `/`); other paths get 404.
        #[serde(default = "ws_file::default_path")]
        path: String,
        /// Subprotocols it accepts.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        subprotocols: Vec<String>,
        /// Answer pings (default true).
        #[serde(default = "default_true", skip_serializing_if = "is_true")]
        auto_pong: bool,
    },
    /// `Relay(listen: "127.0.0.1:9300", target: "127.0.0.1:7788")`: each
    /// client that connects to `listen` is relayed to `target` (either may
    /// be `unix:/path`).
    Relay {
        /// Where clients connect.
        listen: String,
        /// Where the relay connects for each client.
        target: String,
        /// What happens to chunks on their way, in order:
        /// `[(to: Server, match: Contains(Text("GET")), action: Delay(0.2))]`.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        rules: Vec<relay_file::RuleFile>,
        /// TLS towards the target: `Client(accept_invalid_certs: true)`
        /// (`tls: Server(...)` on the session is TLS towards clients).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        target_tls: Option<TlsFile>,
    },
}

fn default_baud() -> u32 {
    115_200
}

fn default_data_bits() -> u8 {
    8
}

fn default_stop_bits() -> u8 {
    1
}

/// A serial port's parity, in files.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum ParityFile {
    /// No parity bit.
    #[default]
    None,
    /// Odd.
    Odd,
    /// Even.
    Even,
}

/// A serial port's flow control, in files.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum FlowFile {
    /// None.
    #[default]
    None,
    /// RTS/CTS.
    Hardware,
    /// XON/XOFF.
    Software,
}

fn one() -> u32 {
    1
}

/// When a burst request is done, in files.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum WaitFile {
    /// The first bytes of a reply.
    #[default]
    Reply,
    /// The server closing the connection.
    Eof,
}

/// `socket()` family in files.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum FamilyArg {
    /// AF_INET
    Inet,
    /// AF_INET6
    Inet6,
    /// AF_UNIX
    Unix,
}

/// `socket()` type in files.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum TypeArg {
    /// SOCK_STREAM
    Stream,
    /// SOCK_DGRAM
    Dgram,
}

/// `shutdown()` side in files.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum HowArg {
    /// SHUT_RD
    Read,
    /// SHUT_WR
    Write,
    /// SHUT_RDWR
    Both,
}

/// One call of a script as written in files (see the README).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[allow(missing_docs)]
pub enum CallFile {
    Socket {
        var: String,
        family: FamilyArg,
        #[serde(rename = "type")]
        ty: TypeArg,
    },
    SetSockOpt {
        var: String,
        option: OptValueFile,
    },
    GetSockOpt {
        var: String,
        option: String,
    },
    SetTimeout {
        var: String,
        secs: Option<f64>,
    },
    GetTimeout {
        var: String,
    },
    SetBlocking {
        var: String,
        flag: bool,
    },
    Bind {
        var: String,
        addr: String,
    },
    Listen {
        var: String,
        backlog: i32,
    },
    Accept {
        var: String,
        into: String,
    },
    Connect {
        var: String,
        addr: String,
    },
    ConnectEx {
        var: String,
        addr: String,
    },
    Send {
        var: String,
        data: Payload,
    },
    SendAll {
        var: String,
        data: Payload,
    },
    SendTo {
        var: String,
        data: Payload,
        addr: String,
    },
    Recv {
        var: String,
        n: usize,
    },
    RecvFrom {
        var: String,
        n: usize,
    },
    Shutdown {
        var: String,
        how: HowArg,
    },
    Close {
        var: String,
    },
    GetSockName {
        var: String,
    },
    GetPeerName {
        var: String,
    },
    FileNo {
        var: String,
    },
    ReadExactly {
        var: String,
        n: usize,
    },
    ReadUntil {
        var: String,
        sep: Payload,
    },
    ReadLine {
        var: String,
    },
    Backlog {
        var: String,
    },
}

fn calls_spec(calls: &[CallFile], enc: Encoding) -> Result<Vec<Call>, FieldError> {
    use crate::engine::stepper::{AddrArg, Family as F, How, SockType};
    let mut out = Vec::new();
    for (i, c) in calls.iter().enumerate() {
        let err = |m: String| field_err("calls", format!("call {i}: {m}"));
        let bytes = |p: &Payload| p.to_bytes(enc).map_err(|e| err(e.to_string()));
        let addr = |a: &str| -> Result<AddrArg, FieldError> {
            if a.starts_with('/') || a.starts_with('.') {
                spec::check_unix_path(Path::new(a)).map_err(err)?;
                return Ok(AddrArg(a.to_string()));
            }
            if a.starts_with('@') {
                return Ok(AddrArg(a.to_string()));
            }
            spec::parse_bind_addr(a).map_err(err)?;
            Ok(AddrArg(a.to_string()))
        };
        let var_ok = |v: &str| -> Result<String, FieldError> {
            let ok = v
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                && v.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            if ok {
                Ok(v.to_string())
            } else {
                Err(err(format!(
                    "'{}' is not a variable name (letters, digits, _)",
                    codec::excerpt(v, 40)
                )))
            }
        };
        let call = match c {
            CallFile::Socket { var, family, ty } => Call::Socket {
                var: var_ok(var)?,
                family: match family {
                    FamilyArg::Inet => F::Inet,
                    FamilyArg::Inet6 => F::Inet6,
                    FamilyArg::Unix => F::Unix,
                },
                ty: match ty {
                    TypeArg::Stream => SockType::Stream,
                    TypeArg::Dgram => SockType::Dgram,
                },
            },
            CallFile::SetSockOpt { var, option } => Call::SetSockOpt {
                var: var_ok(var)?,
                opt: option.0,
            },
            CallFile::GetSockOpt { var, option } => Call::GetSockOpt {
                var: var_ok(var)?,
                opt: OptName::from_c_name(option).ok_or_else(|| {
                    err(format!(
                        "unknown option '{}' (e.g. SO_RCVBUF, TCP_NODELAY)",
                        codec::excerpt(option, 40)
                    ))
                })?,
            },
            CallFile::SetTimeout { var, secs } => {
                if secs.is_some_and(|s| !s.is_finite() || s < 0.0) {
                    return Err(err(
                        "a timeout is None, 0 (non-blocking) or positive seconds".into(),
                    ));
                }
                Call::SetTimeout {
                    var: var_ok(var)?,
                    secs: *secs,
                }
            }
            CallFile::GetTimeout { var } => Call::GetTimeout { var: var_ok(var)? },
            CallFile::SetBlocking { var, flag } => Call::SetBlocking {
                var: var_ok(var)?,
                flag: *flag,
            },
            CallFile::Bind { var, addr: a } => Call::Bind {
                var: var_ok(var)?,
                addr: addr(a)?,
            },
            CallFile::Listen { var, backlog } => Call::Listen {
                var: var_ok(var)?,
                backlog: *backlog,
            },
            CallFile::Accept { var, into } => Call::Accept {
                var: var_ok(var)?,
                into: var_ok(into)?,
            },
            CallFile::Connect { var, addr: a } => Call::Connect {
                var: var_ok(var)?,
                addr: addr(a)?,
            },
            CallFile::ConnectEx { var, addr: a } => Call::ConnectEx {
                var: var_ok(var)?,
                addr: addr(a)?,
            },
            CallFile::Send { var, data } => Call::Send {
                var: var_ok(var)?,
                data: bytes(data)?,
            },
            CallFile::SendAll { var, data } => Call::SendAll {
                var: var_ok(var)?,
                data: bytes(data)?,
            },
            CallFile::SendTo { var, data, addr: a } => Call::SendTo {
                var: var_ok(var)?,
                data: bytes(data)?,
                addr: addr(a)?,
            },
            CallFile::Recv { var, n } => Call::Recv {
                var: var_ok(var)?,
                n: *n,
            },
            CallFile::RecvFrom { var, n } => Call::RecvFrom {
                var: var_ok(var)?,
                n: *n,
            },
            CallFile::Shutdown { var, how } => Call::Shutdown {
                var: var_ok(var)?,
                how: match how {
                    HowArg::Read => How::Read,
                    HowArg::Write => How::Write,
                    HowArg::Both => How::Both,
                },
            },
            CallFile::Close { var } => Call::Close { var: var_ok(var)? },
            CallFile::GetSockName { var } => Call::GetSockName { var: var_ok(var)? },
            CallFile::GetPeerName { var } => Call::GetPeerName { var: var_ok(var)? },
            CallFile::FileNo { var } => Call::FileNo { var: var_ok(var)? },
            CallFile::ReadExactly { var, n } => Call::ReadExactly {
                var: var_ok(var)?,
                n: *n,
            },
            CallFile::ReadUntil { var, sep } => Call::ReadUntil {
                var: var_ok(var)?,
                sep: bytes(sep)?,
            },
            CallFile::ReadLine { var } => Call::ReadUntil {
                var: var_ok(var)?,
                sep: b"\n".to_vec(),
            },
            CallFile::Backlog { var } => Call::Backlog { var: var_ok(var)? },
        };
        call.check().map_err(err)?;
        out.push(call);
    }
    Ok(out)
}

/// Writes calls the way a user would.
pub fn calls_file(calls: &[Call], enc: Encoding) -> Vec<CallFile> {
    use crate::engine::stepper::{Family as F, How, SockType};
    calls
        .iter()
        .map(|c| {
            let var = c.var().to_string();
            let p = |d: &[u8]| payload_for(d, enc);
            match c {
                Call::Socket { family, ty, .. } => CallFile::Socket {
                    var,
                    family: match family {
                        F::Inet => FamilyArg::Inet,
                        F::Inet6 => FamilyArg::Inet6,
                        F::Unix => FamilyArg::Unix,
                    },
                    ty: match ty {
                        SockType::Stream => TypeArg::Stream,
                        SockType::Dgram => TypeArg::Dgram,
                    },
                },
                Call::SetSockOpt { opt, .. } => CallFile::SetSockOpt {
                    var,
                    option: OptValueFile(*opt),
                },
                Call::GetSockOpt { opt, .. } => CallFile::GetSockOpt {
                    var,
                    option: opt.c_name(false).to_string(),
                },
                Call::SetTimeout { secs, .. } => CallFile::SetTimeout { var, secs: *secs },
                Call::GetTimeout { .. } => CallFile::GetTimeout { var },
                Call::SetBlocking { flag, .. } => CallFile::SetBlocking { var, flag: *flag },
                Call::Bind { addr, .. } => CallFile::Bind {
                    var,
                    addr: addr.0.clone(),
                },
                Call::Listen { backlog, .. } => CallFile::Listen {
                    var,
                    backlog: *backlog,
                },
                Call::Accept { into, .. } => CallFile::Accept {
                    var,
                    into: into.clone(),
                },
                Call::Connect { addr, .. } => CallFile::Connect {
                    var,
                    addr: addr.0.clone(),
                },
                Call::ConnectEx { addr, .. } => CallFile::ConnectEx {
                    var,
                    addr: addr.0.clone(),
                },
                Call::Send { data, .. } => CallFile::Send { var, data: p(data) },
                Call::SendAll { data, .. } => CallFile::SendAll { var, data: p(data) },
                Call::SendTo { data, addr, .. } => CallFile::SendTo {
                    var,
                    data: p(data),
                    addr: addr.0.clone(),
                },
                Call::Recv { n, .. } => CallFile::Recv { var, n: *n },
                Call::RecvFrom { n, .. } => CallFile::RecvFrom { var, n: *n },
                Call::Shutdown { how, .. } => CallFile::Shutdown {
                    var,
                    how: match how {
                        How::Read => HowArg::Read,
                        How::Write => HowArg::Write,
                        How::Both => HowArg::Both,
                    },
                },
                Call::Close { .. } => CallFile::Close { var },
                Call::GetSockName { .. } => CallFile::GetSockName { var },
                Call::GetPeerName { .. } => CallFile::GetPeerName { var },
                Call::FileNo { .. } => CallFile::FileNo { var },
                Call::ReadExactly { n, .. } => CallFile::ReadExactly { var, n: *n },
                Call::ReadUntil { sep, .. } => CallFile::ReadUntil { var, sep: p(sep) },
                Call::Backlog { .. } => CallFile::Backlog { var },
            }
        })
        .collect()
}

fn default_backlog() -> i32 {
    128
}

/// Stale-file policy as written in files.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum StaleFile {
    /// Refuse to start, saying why.
    #[default]
    Fail,
    /// Remove a socket file nobody listens on.
    RemoveIfStale,
}

/// One script step as written in files.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum StepFile {
    /// sendall
    Send(Payload),
    /// one send() call
    SendOnce(Payload),
    /// sendto a datagram destination
    SendTo(String, Payload),
    /// sleep, seconds
    Wait(Secs),
    /// wait for data, at most this many seconds
    WaitRecv(Secs),
    /// shutdown(SHUT_WR)
    ShutdownWrite,
    /// close
    Close,
}

/// Responders as written in files.
#[derive(Clone, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum ResponderFile {
    /// No automatic replies.
    #[default]
    None,
    /// Echo every chunk or datagram back.
    Echo,
    /// `Fixed(reply: Text("thank you !"))`: the same reply to every message.
    Fixed {
        /// The reply.
        reply: Payload,
        /// Close after replying.
        #[serde(default, skip_serializing_if = "is_false")]
        close_after: bool,
        /// The reply is a template: `{counter}`, `{time}`, `{peer}`, `{len}`.
        #[serde(default, skip_serializing_if = "is_false")]
        template: bool,
        /// A checksum appended to the reply.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        checksum: Option<ChecksumFile>,
    },
    /// The local time, `YYYY-MM-DD HH:MM:SS`.
    Time,
    /// `Canned(rules: [...], default: Text("Sorry"))`: request -> reply.
    Canned {
        /// First match wins.
        rules: Vec<RuleFile>,
        /// Reply when nothing matches.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        default: Option<Payload>,
        /// Message delimiter; each received chunk is a message without one.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        delimiter: Option<Payload>,
        /// Every reply (and the default) is a template.
        #[serde(default, skip_serializing_if = "is_false")]
        template: bool,
        /// A checksum appended to every reply (and the default).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        checksum: Option<ChecksumFile>,
    },
}

/// `checksum: (kind: Crc16Modbus, order: Little)`: appended to what is
/// sent, over the bytes sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChecksumFile {
    /// Which one.
    pub kind: ChecksumKindFile,
    /// Byte order (default Big; Modbus RTU sends its CRC Little).
    #[serde(default, skip_serializing_if = "ByteOrderFile::is_big")]
    pub order: ByteOrderFile,
}

/// The checksums a file may name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ChecksumKindFile {
    /// Sum of the bytes mod 256.
    Sum8,
    /// XOR of the bytes.
    Xor8,
    /// Modbus ASCII's LRC.
    Lrc,
    /// CRC-16/MODBUS.
    Crc16Modbus,
    /// CRC-16/CCITT-FALSE.
    Crc16CcittFalse,
    /// CRC-32 (ISO-HDLC).
    Crc32,
}

/// A checksum's byte order as written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum ByteOrderFile {
    /// Most significant byte first.
    #[default]
    Big,
    /// Least significant byte first.
    Little,
}

impl ByteOrderFile {
    fn is_big(&self) -> bool {
        *self == ByteOrderFile::Big
    }
}

impl ChecksumFile {
    /// The engine's trailer.
    pub fn trailer(self) -> Trailer {
        use ChecksumKindFile as K;
        Trailer {
            checksum: match self.kind {
                K::Sum8 => Checksum::Sum8,
                K::Xor8 => Checksum::Xor8,
                K::Lrc => Checksum::Lrc,
                K::Crc16Modbus => Checksum::Crc16Modbus,
                K::Crc16CcittFalse => Checksum::Crc16CcittFalse,
                K::Crc32 => Checksum::Crc32,
            },
            order: match self.order {
                ByteOrderFile::Big => ByteOrder::Big,
                ByteOrderFile::Little => ByteOrder::Little,
            },
        }
    }

    /// As written, or None for no checksum.
    pub fn of(t: Trailer) -> Option<ChecksumFile> {
        use ChecksumKindFile as K;
        let kind = match t.checksum {
            Checksum::None => return None,
            Checksum::Sum8 => K::Sum8,
            Checksum::Xor8 => K::Xor8,
            Checksum::Lrc => K::Lrc,
            Checksum::Crc16Modbus => K::Crc16Modbus,
            Checksum::Crc16CcittFalse => K::Crc16CcittFalse,
            Checksum::Crc32 => K::Crc32,
        };
        Some(ChecksumFile {
            kind,
            order: match t.order {
                ByteOrder::Big => ByteOrderFile::Big,
                ByteOrder::Little => ByteOrderFile::Little,
            },
        })
    }
}

impl ResponderFile {
    fn is_none(&self) -> bool {
        *self == ResponderFile::None
    }
}

impl FamilyFile {
    fn is_auto(&self) -> bool {
        *self == FamilyFile::Auto
    }
}

impl OptionsFile {
    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// How a canned rule matches, as written in files.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum MatchFile {
    /// Whole message.
    #[default]
    Exact,
    /// Message starts with it.
    Prefix,
    /// Anywhere in the message.
    Contains,
    /// A regular expression (the request must be `Text`); the reply may
    /// use `$1` or `${name}`.
    Regex,
}

impl From<&Match> for MatchFile {
    fn from(m: &Match) -> MatchFile {
        match m {
            Match::Exact => MatchFile::Exact,
            Match::Prefix => MatchFile::Prefix,
            Match::Contains => MatchFile::Contains,
            Match::Regex(_) => MatchFile::Regex,
        }
    }
}

/// One canned rule: `(request: Text("Hello"), reply: Text("nihao"))`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleFile {
    /// How to compare.
    #[serde(rename = "match", default)]
    pub matching: MatchFile,
    /// What to look for.
    pub request: Payload,
    /// What to answer.
    pub reply: Payload,
    /// Close after answering.
    #[serde(default, skip_serializing_if = "is_false")]
    pub close: bool,
}

/// TLS as written in files: `Client(server_name: "localhost", ca_file:
/// "ca.pem")` on a TCP client, `Server(cert: SelfSigned(names: [...]))` or
/// `Server(cert: Files(cert: "c.pem", key: "k.pem"))` on a TCP server.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum TlsFile {
    /// TLS client.
    Client {
        /// SNI and the name checked; default: the host connected to.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        server_name: Option<String>,
        /// ALPN protocols offered.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        alpn: Vec<String>,
        /// Trusted roots: System (default), Bundled or None.
        #[serde(default, skip_serializing_if = "RootsFile::is_system")]
        roots: RootsFile,
        /// Extra CA certificates (PEM).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        ca_file: Option<PathBuf>,
        /// Accept any certificate (flagged on every connection).
        #[serde(default, skip_serializing_if = "is_false")]
        accept_invalid_certs: bool,
        /// Seconds the handshake may take (default 10).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        handshake_timeout: Option<Secs>,
    },
    /// TLS server.
    Server {
        /// The certificate presented; default: self-signed for localhost,
        /// 127.0.0.1 and ::1.
        #[serde(default, skip_serializing_if = "CertFile::is_default")]
        cert: CertFile,
        /// ALPN protocols accepted.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        alpn: Vec<String>,
        /// Seconds each connection's handshake may take (default 10).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        handshake_timeout: Option<Secs>,
    },
}

fn handshake_timeout(t: Option<Secs>) -> Result<Option<Duration>, FieldError> {
    match t {
        None => Ok(None),
        Some(Secs(d)) if d >= Duration::from_millis(1) && d <= Duration::from_secs(3600) => {
            Ok(Some(d))
        }
        Some(Secs(d)) => Err(field_err(
            "tls",
            format!(
                "handshake_timeout {} s is out of range: 0.001 to 3600 seconds",
                d.as_secs_f64()
            ),
        )),
    }
}

/// Trusted roots as written in files.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum RootsFile {
    /// The system's store (the bundled roots when it is empty).
    #[default]
    System,
    /// The Mozilla roots built in.
    Bundled,
    /// Only `ca_file`.
    None,
}

impl RootsFile {
    fn is_system(&self) -> bool {
        *self == RootsFile::System
    }
}

/// A TLS server's certificate as written in files.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum CertFile {
    /// Generated at start for these names.
    SelfSigned {
        /// DNS names or IP literals.
        names: Vec<String>,
    },
    /// PEM files.
    Files {
        /// Certificate chain, leaf first.
        cert: PathBuf,
        /// Private key.
        key: PathBuf,
    },
}

impl Default for CertFile {
    fn default() -> Self {
        match Identity::default() {
            Identity::SelfSigned { names } => CertFile::SelfSigned { names },
            Identity::Files { cert, key } => CertFile::Files { cert, key },
        }
    }
}

impl CertFile {
    fn is_default(&self) -> bool {
        *self == CertFile::default()
    }
}

fn check_alpn(alpn: &[String]) -> Result<(), FieldError> {
    for p in alpn {
        if p.is_empty() || p.len() > 255 {
            return Err(field_err(
                "tls",
                format!(
                    "ALPN protocol '{}' must be 1 to 255 bytes, e.g. \"http/1.1\" or \"h2\"",
                    codec::excerpt(p, 40)
                ),
            ));
        }
    }
    Ok(())
}

pub(crate) fn tls_spec(
    t: TlsFile,
    kind: &SessionKind,
    auto_read: bool,
) -> Result<TlsSpec, FieldError> {
    if !auto_read {
        return Err(field_err(
            "tls",
            "TLS needs automatic reads (the record layer reads for you); remove auto_read: false",
        ));
    }
    match t {
        TlsFile::Client {
            server_name,
            alpn,
            roots,
            ca_file,
            accept_invalid_certs,
            handshake_timeout: hs,
        } => {
            if !ws_file::takes_tls_client(kind) {
                return Err(field_err(
                    "tls",
                    "tls: Client(...) goes on a TcpClient or wss:// WsClient session; a server takes tls: Server(...)",
                ));
            }
            check_alpn(&alpn)?;
            if let Some(n) = &server_name
                && rustls::pki_types::ServerName::try_from(n.as_str()).is_err()
            {
                return Err(field_err(
                    "tls",
                    format!(
                        "server_name '{}' is not a DNS name or IP address",
                        codec::excerpt(n, 60)
                    ),
                ));
            }
            if ca_file.as_ref().is_some_and(|p| p.as_os_str().is_empty()) {
                return Err(field_err(
                    "tls",
                    "ca_file is empty; give a PEM file's path or leave it out",
                ));
            }
            if roots == RootsFile::None && ca_file.is_none() && !accept_invalid_certs {
                return Err(field_err(
                    "tls",
                    "roots: None trusts nothing; give a ca_file, or use System or Bundled roots",
                ));
            }
            Ok(TlsSpec::Client(TlsClientSpec {
                server_name,
                alpn,
                roots: match roots {
                    RootsFile::System => Roots::System,
                    RootsFile::Bundled => Roots::Bundled,
                    RootsFile::None => Roots::None,
                },
                ca_file,
                insecure: accept_invalid_certs,
                handshake_timeout: handshake_timeout(hs)?,
            }))
        }
        TlsFile::Server {
            cert,
            alpn,
            handshake_timeout: hs,
        } => {
            let stream_relay = matches!(
                kind,
                SessionKind::Relay { listen, .. } if !matches!(listen, crate::engine::spec::RelayEnd::Udp(_))
            );
            if !matches!(
                kind,
                SessionKind::TcpServer { .. } | SessionKind::WsServer { .. }
            ) && !stream_relay
            {
                return Err(field_err(
                    "tls",
                    "tls: Server(...) goes on a TcpServer, WsServer or stream Relay session; a client takes tls: Client(...)",
                ));
            }
            check_alpn(&alpn)?;
            let identity = match cert {
                CertFile::SelfSigned { names } => {
                    if names.is_empty() {
                        return Err(field_err(
                            "tls",
                            "SelfSigned needs at least one name, e.g. [\"localhost\", \"127.0.0.1\"]",
                        ));
                    }
                    for n in &names {
                        if rustls::pki_types::ServerName::try_from(n.as_str()).is_err() {
                            return Err(field_err(
                                "tls",
                                format!(
                                    "'{}' is not a DNS name or IP address for the certificate",
                                    codec::excerpt(n, 60)
                                ),
                            ));
                        }
                    }
                    Identity::SelfSigned { names }
                }
                CertFile::Files { cert, key } => {
                    if cert.as_os_str().is_empty() || key.as_os_str().is_empty() {
                        return Err(field_err("tls", "Files needs both a cert and a key path"));
                    }
                    Identity::Files { cert, key }
                }
            };
            Ok(TlsSpec::Server(TlsServerSpec {
                identity,
                alpn,
                handshake_timeout: handshake_timeout(hs)?,
            }))
        }
    }
}

fn tls_file(t: &TlsSpec) -> TlsFile {
    match t {
        TlsSpec::Client(c) => TlsFile::Client {
            server_name: c.server_name.clone(),
            alpn: c.alpn.clone(),
            roots: match c.roots {
                Roots::System => RootsFile::System,
                Roots::Bundled => RootsFile::Bundled,
                Roots::None => RootsFile::None,
            },
            ca_file: c.ca_file.clone(),
            accept_invalid_certs: c.insecure,
            handshake_timeout: c.handshake_timeout.map(Secs),
        },
        TlsSpec::Server(s) => TlsFile::Server {
            cert: match &s.identity {
                Identity::SelfSigned { names } => CertFile::SelfSigned {
                    names: names.clone(),
                },
                Identity::Files { cert, key } => CertFile::Files {
                    cert: cert.clone(),
                    key: key.clone(),
                },
            },
            alpn: s.alpn.clone(),
            handshake_timeout: s.handshake_timeout.map(Secs),
        },
    }
}

/// Address family as written in files.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum FamilyFile {
    /// Any.
    #[default]
    Auto,
    /// IPv4 only.
    V4,
    /// IPv6 only.
    V6,
}

fn default_true() -> bool {
    true
}
fn is_true(b: &bool) -> bool {
    *b
}
fn is_false(b: &bool) -> bool {
    !*b
}

/// One session as written in a file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionFile {
    /// Format version (1).
    #[serde(default = "default_version")]
    pub version: u32,
    /// A name for people.
    pub name: String,
    /// What to open.
    pub kind: KindFile,
    /// Family filter for names.
    #[serde(default, skip_serializing_if = "FamilyFile::is_auto")]
    pub family: FamilyFile,
    /// Socket options.
    #[serde(default, skip_serializing_if = "OptionsFile::is_empty")]
    pub options: OptionsFile,
    /// Seconds a connect may take (default 10; 0: no timeout of our own).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connect_timeout: Option<Secs>,
    /// Seconds of silence before a `timeout` event (and SO_RCVTIMEO).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_timeout: Option<Secs>,
    /// Close when the read timeout fires.
    #[serde(default, skip_serializing_if = "is_false")]
    pub close_on_read_timeout: bool,
    /// Read automatically (default) or only on request.
    #[serde(default = "default_true", skip_serializing_if = "is_true")]
    pub auto_read: bool,
    /// Payload encoding (default UTF-8).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encoding: Option<EncodingName>,
    /// Automatic replies.
    #[serde(default, skip_serializing_if = "ResponderFile::is_none")]
    pub responder: ResponderFile,
    /// Seconds to hold each automatic reply (up to 60).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_delay: Option<Secs>,
    /// Script.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub steps: Vec<StepFile>,
    /// Stay open after the peer's FIN.
    #[serde(default, skip_serializing_if = "is_false")]
    pub keep_open_after_peer_fin: bool,
    /// Bytes per recv call (default 65536; the seed uses 1024).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recv_buffer: Option<usize>,
    /// Unsent bytes queued per connection (default 16 MiB).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub send_queue: Option<usize>,
    /// write_paused threshold (default 64 KiB).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub high_water: Option<usize>,
    /// write_resumed threshold (default 16 KiB).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub low_water: Option<usize>,
    /// Named payloads for the composer.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub snippets: Vec<SnippetFile>,
    /// TLS over the stream.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<TlsFile>,
    /// How a plain stream's received bytes are cut into messages:
    /// `Delimiter(Escaped("\r\n"))`, `LengthPrefix(bytes: 2)`, `Fixed(16)`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub framing: Option<framing_file::FramingFile>,
}

/// A named payload: `(name: "greeting", payload: Text("你好"))`, with an
/// optional checksum and a period for the quick-send panel
/// (`period: 1.0` sends it every second once started).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SnippetFile {
    /// Its name.
    pub name: String,
    /// The bytes.
    pub payload: Payload,
    /// A checksum appended when it is sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checksum: Option<ChecksumFile>,
    /// Seconds between sends when sent periodically.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub period: Option<Secs>,
}

/// What the app shows, saved with a workspace.
#[derive(Clone, Debug, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LayoutFile {
    /// Index of the selected session.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub selected: Option<usize>,
    /// Log payloads as hex.
    pub hex: bool,
    /// Log times as wall clock.
    pub wall_clock: bool,
    /// Log follows the tail.
    pub follow: bool,
    /// Light, dark or the system's.
    #[serde(skip_serializing_if = "ThemeFile::is_system")]
    pub theme: ThemeFile,
    /// The app's language (System: the locale's, LANG / LC_ALL).
    #[serde(skip_serializing_if = "LanguageFile::is_system")]
    pub language: LanguageFile,
    /// How large text (and the widgets around it) is drawn.
    #[serde(skip_serializing_if = "TextSizeFile::is_normal")]
    pub text_size: TextSizeFile,
    /// Width of the sessions panel on the left, in points, as the user
    /// dragged it (the app keeps it within what the window allows).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub left_panel: Option<f32>,
    /// Width of the inspector on the right, in points.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub right_panel: Option<f32>,
}

/// The app's theme as saved.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum ThemeFile {
    /// Follow the system's light or dark setting.
    #[default]
    System,
    /// Light.
    Light,
    /// Dark.
    Dark,
}

impl ThemeFile {
    fn is_system(&self) -> bool {
        *self == ThemeFile::System
    }
}

/// The app's language as saved.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum LanguageFile {
    /// Follow the system's locale (`zh_*`: Chinese, else English).
    #[default]
    System,
    /// English.
    English,
    /// Simplified Chinese.
    Chinese,
}

impl LanguageFile {
    fn is_system(&self) -> bool {
        *self == LanguageFile::System
    }
}

/// The app's text size as saved.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum TextSizeFile {
    /// 90 %.
    Small,
    /// 100 %.
    #[default]
    Normal,
    /// 120 %.
    Large,
    /// 140 %.
    Larger,
}

impl TextSizeFile {
    fn is_normal(&self) -> bool {
        *self == TextSizeFile::Normal
    }

    /// The zoom factor it stands for.
    pub fn zoom(self) -> f32 {
        match self {
            TextSizeFile::Small => 0.9,
            TextSizeFile::Normal => 1.0,
            TextSizeFile::Large => 1.2,
            TextSizeFile::Larger => 1.4,
        }
    }
}

fn default_version() -> u32 {
    FORMAT_VERSION
}

/// Several sessions in one file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkspaceFile {
    /// Format version (1).
    #[serde(default = "default_version")]
    pub version: u32,
    /// The sessions, opened in order.
    pub sessions: Vec<SessionFile>,
    /// The app reopens these sessions at start (else it only lists them).
    #[serde(default, skip_serializing_if = "is_false")]
    pub reopen: bool,
    /// What the app showed.
    #[serde(default)]
    pub layout: LayoutFile,
}

#[derive(Deserialize)]
struct Probe {
    #[serde(default)]
    sessions: Option<de::IgnoredAny>,
}

pub(super) fn ron_options() -> ron::Options {
    ron::Options::default().with_default_extension(ron::extensions::Extensions::IMPLICIT_SOME)
}

/// Finds the line and column of `field:` in the source, for errors found
/// after parsing. Falls back to line 1.
fn locate(src: &str, field: &str, nth_session: Option<usize>) -> (usize, usize) {
    let mut seen_names = 0usize;
    let mut in_target = nth_session.is_none();
    for (i, line) in src.lines().enumerate() {
        let t = line.trim_start();
        if let Some(n) = nth_session
            && t.starts_with("name:")
        {
            in_target = seen_names == n;
            seen_names += 1;
        }
        if in_target && let Some(pos) = line.find(&format!("{field}:")).or_else(|| line.find(field))
        {
            let before = &line[..pos];
            let ok_start = before
                .chars()
                .last()
                .is_none_or(|c| !c.is_alphanumeric() && c != '_');
            if ok_start && !t.starts_with("//") {
                return (i + 1, pos + 1);
            }
        }
    }
    (1, 1)
}

impl PresetError {
    fn at(file: &Path, src: &str, session: Option<usize>, field: &str, msg: String) -> Self {
        let (line, col) = locate(src, field, session);
        PresetError {
            file: file.to_path_buf(),
            line,
            col,
            field: Some(field.to_string()),
            message: msg,
        }
    }
}

/// Reads a preset or workspace file as text: through
/// [`crate::fsutil::read_capped`] (a regular file, opened without blocking,
/// at most 16 MiB) and as UTF-8, with the line of the first bad byte. The
/// loader, the store's list and the workspace all read through here.
pub fn read_text(path: &Path, what: &'static str) -> Result<String, PresetError> {
    let bytes = crate::fsutil::read_capped(path, crate::fsutil::PRESET_MAX, what).map_err(|e| {
        PresetError {
            file: path.to_path_buf(),
            line: 0,
            col: 0,
            field: None,
            message: format!("cannot read the file: {e}"),
        }
    })?;
    String::from_utf8(bytes).map_err(|e| {
        let upto = &e.as_bytes()[..e.utf8_error().valid_up_to()];
        let line = upto.iter().filter(|b| **b == b'\n').count() + 1;
        PresetError {
            file: path.to_path_buf(),
            line,
            col: 0,
            field: None,
            message: "the file is not UTF-8 text (is it a preset file?)".into(),
        }
    })
}

/// Reads a preset or workspace file into session specs.
pub fn load_file(path: &Path) -> Result<Vec<SessionSpec>, PresetError> {
    parse_str(path, &read_text(path, "a preset or workspace")?)
}

/// Parses preset or workspace text (the path is only for messages).
pub fn parse_str(path: &Path, src: &str) -> Result<Vec<SessionSpec>, PresetError> {
    // Editors on Windows start UTF-8 files with a byte order mark; it is
    // no part of the preset (columns are counted after it).
    let src = without_bom(src);
    let opts = ron_options();
    let is_workspace = opts
        .from_str::<Probe>(src)
        .map(|p| p.sessions.is_some())
        .unwrap_or(false);
    let spanned = |e| ron_error(path, src, e);
    let files: Vec<SessionFile> = if is_workspace {
        let w: WorkspaceFile = opts.from_str(src).map_err(spanned)?;
        check_version(path, src, w.version)?;
        if w.sessions.is_empty() {
            return Err(PresetError::at(
                path,
                src,
                None,
                "sessions",
                "the workspace lists no sessions".into(),
            ));
        }
        w.sessions
    } else {
        vec![opts.from_str(src).map_err(spanned)?]
    };
    let many = files.len() > 1 || is_workspace;
    files
        .into_iter()
        .enumerate()
        .map(|(i, f)| {
            check_version(path, src, f.version)?;
            to_spec(f)
                .map_err(|(field, msg)| PresetError::at(path, src, many.then_some(i), &field, msg))
        })
        .collect()
}

fn check_version(path: &Path, src: &str, v: u32) -> Result<(), PresetError> {
    if v == 0 || v > FORMAT_VERSION {
        return Err(PresetError::at(
            path,
            src,
            None,
            "version",
            format!(
                "format version {v} is not supported by this build (it reads 1 to {FORMAT_VERSION}); update Sockscope"
            ),
        ));
    }
    Ok(())
}

/// The `name:` written last before a position on its line, so a parse
/// error can say which field it is in.
fn field_before(src: &str, line: usize, col: usize) -> Option<String> {
    let text = src.lines().nth(line.checked_sub(1)?)?;
    let upto: String = text.chars().take(col.saturating_sub(1)).collect();
    let colon = upto.rfind(':')?;
    let name: String = upto[..colon]
        .chars()
        .rev()
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    (!name.is_empty() && !name.chars().next().is_some_and(|c| c.is_ascii_digit())).then_some(name)
}

/// Editors on Windows start UTF-8 files with a byte order mark; it is no
/// part of the preset (and positions are counted after it).
fn without_bom(src: &str) -> &str {
    src.strip_prefix('\u{feff}').unwrap_or(src)
}

/// A RON syntax error at its position, with the field it is in.
fn ron_error(path: &Path, src: &str, e: ron::error::SpannedError) -> PresetError {
    PresetError {
        file: path.to_path_buf(),
        line: e.span.start.line,
        col: e.span.start.col,
        // Text after the end belongs to no field.
        field: if matches!(e.code, ron::Error::TrailingCharacters) {
            None
        } else {
            field_before(src, e.span.start.line, e.span.start.col)
        },
        message: explain_ron(&e.code),
    }
}

fn explain_ron(code: &ron::Error) -> String {
    // Speak of the file's words, not our type names.
    let s = code
        .to_string()
        .replace("`OptionsFile`", "`options`")
        .replace("`KindFile`", "`kind`")
        .replace("`SessionFile`", "the session")
        .replace("`WorkspaceFile`", "the workspace")
        .replace("`StepFile`", "`steps`")
        .replace("`ResponderFile`", "`responder`")
        .replace("`FamilyFile`", "`family`")
        .replace("`StaleFile`", "`stale`");
    match code {
        ron::Error::NoSuchStructField { .. } => {
            format!("{s} (check the spelling; the README lists every field)")
        }
        ron::Error::TrailingCharacters => "there is more text after the preset's closing parenthesis; a file holds one preset, or a workspace `(sessions: [...])`".into(),
        _ => s,
    }
}

pub(crate) type FieldError = (String, String);

fn field_err(field: &str, msg: impl Into<String>) -> FieldError {
    (field.to_string(), msg.into())
}

/// Checks what cannot be checked field by field and builds the spec.
pub fn to_spec(f: SessionFile) -> Result<SessionSpec, FieldError> {
    if f.name.trim().is_empty() {
        return Err(field_err("name", "give the session a name"));
    }
    let kind = match f.kind {
        KindFile::TcpClient { remote, local } => SessionKind::TcpClient {
            remote: remote.0,
            local: local.map(|l| l.0),
        },
        KindFile::TcpServer { local, backlog } => SessionKind::TcpServer {
            local: local.0,
            backlog: check_backlog(backlog)?,
        },
        KindFile::Udp {
            local,
            connect,
            join,
        } => {
            if let (Some(l), Some(g)) = (local, join.first())
                && l.0.is_ipv4() != g.0.is_ipv4()
            {
                return Err(field_err(
                    "join",
                    format!(
                        "group {} and local address {} are different IP versions",
                        g.0, l.0
                    ),
                ));
            }
            SessionKind::Udp {
                local: local.map(|l| l.0),
                connect: connect.map(|c| c.0),
                join: join.into_iter().map(|g| g.0).collect(),
            }
        }
        KindFile::UnixClient { path } => SessionKind::UnixClient {
            path: check_path(path)?,
        },
        KindFile::UnixServer {
            path,
            backlog,
            stale,
        } => SessionKind::UnixServer {
            path: check_path(path)?,
            backlog: check_backlog(backlog)?,
            stale: match stale {
                StaleFile::Fail => StalePolicy::Fail,
                StaleFile::RemoveIfStale => StalePolicy::RemoveIfStale,
            },
        },
        KindFile::UnixDatagram { local, connect } => SessionKind::UnixDatagram {
            local: local.map(check_path).transpose()?,
            connect: connect.map(check_path).transpose()?,
        },
        KindFile::SocketPair => SessionKind::SocketPair,
        KindFile::Serial {
            path,
            baud,
            data_bits,
            parity,
            stop_bits,
            flow,
        } => {
            use crate::engine::serial::{Flow, Parity, SerialSpec};
            let s = SerialSpec {
                path,
                baud,
                data_bits,
                parity: match parity {
                    ParityFile::None => Parity::None,
                    ParityFile::Odd => Parity::Odd,
                    ParityFile::Even => Parity::Even,
                },
                stop_bits,
                flow: match flow {
                    FlowFile::None => Flow::None,
                    FlowFile::Hardware => Flow::Hardware,
                    FlowFile::Software => Flow::Software,
                },
            };
            s.check().map_err(|(field, m)| field_err(field, m))?;
            if !f.auto_read {
                return Err(field_err(
                    "auto_read",
                    "a serial session reads automatically; leave auto_read out",
                ));
            }
            if f.tls.is_some() {
                return Err(field_err(
                    "tls",
                    "TLS runs over TCP, not over a serial port",
                ));
            }
            SessionKind::Serial(s)
        }
        KindFile::WsClient {
            url,
            headers,
            subprotocols,
            auto_pong,
        } => ws_file::client(
            &url,
            headers,
            subprotocols,
            auto_pong,
            f.auto_read,
            f.tls.as_ref(),
        )?,
        KindFile::WsServer {
            local,
            path,
            subprotocols,
            auto_pong,
        } => ws_file::server(local.0, path, subprotocols, auto_pong, f.auto_read)?,
        KindFile::Relay {
            ref listen,
            ref target,
            ref rules,
            ref target_tls,
        } => relay_file::kind(listen, target, rules, target_tls.as_ref(), &f)?,
        KindFile::Script { calls } => SessionKind::Script {
            calls: calls_spec(&calls, f.encoding.map(|e| e.0).unwrap_or_default())?,
            keep_open: false,
        },
        KindFile::Burst {
            target,
            count,
            concurrency,
            payload,
            wait,
            timeout,
            udp,
            compare,
        } => {
            use crate::engine::burst;
            if !(1..=burst::MAX_COUNT).contains(&count) {
                return Err(field_err(
                    "count",
                    format!("a burst makes 1 to {} requests", burst::MAX_COUNT),
                ));
            }
            if !(1..=burst::MAX_CONCURRENCY).contains(&concurrency) {
                return Err(field_err(
                    "concurrency",
                    format!("1 to {} requests in flight", burst::MAX_CONCURRENCY),
                ));
            }
            if target.0.port() == 0 || target.0.ip().is_unspecified() {
                return Err(field_err(
                    "target",
                    "a burst needs one real address and port to send to",
                ));
            }
            if timeout.is_some_and(|t| t.0 < Duration::from_millis(1)) {
                return Err(field_err(
                    "timeout",
                    "a request's timeout goes from 0.001 seconds up (0 would fail every request)",
                ));
            }
            SessionKind::Burst(burst::BurstSpec {
                target: target.0,
                count,
                concurrency,
                payload: payload
                    .to_bytes(f.encoding.map(|e| e.0).unwrap_or_default())
                    .map_err(|e| field_err("payload", e.to_string()))?,
                wait: match wait {
                    WaitFile::Reply => burst::WaitFor::Reply,
                    WaitFile::Eof => burst::WaitFor::Eof,
                },
                timeout: timeout.map_or(Duration::from_secs(5), |t| t.0),
                udp,
                compare,
            })
        }
    };
    let encoding = f.encoding.map(|e| e.0).unwrap_or_default();
    let options = f.options.0.clone();
    for opt in &options {
        // The key the option has in files, so the error points at it.
        let key = opt.def().key.unwrap_or("options");
        opt.check().map_err(|m| field_err(key, m))?;
    }
    if f.options.get(OptName::Blocking).is_some() && f.auto_read {
        return Err(field_err(
            "blocking",
            "blocking applies to manual reads; add `auto_read: false` (sessions that read automatically are always non-blocking)",
        ));
    }
    if kind.is_server() && !f.steps.is_empty() {
        return Err(field_err(
            "steps",
            "a listening socket has no peer to run a script against; use a responder, or a client session",
        ));
    }
    let mut steps = Vec::new();
    for (i, s) in f.steps.into_iter().enumerate() {
        let bytes = |p: &Payload| {
            Typed::parse(p.clone(), encoding)
                .map_err(|e| field_err("steps", format!("step {i}: {e}")))
        };
        steps.push(match s {
            StepFile::Send(p) => Step::Send {
                data: bytes(&p)?,
                to: None,
                mode: SendMode::All,
            },
            StepFile::SendOnce(p) => Step::Send {
                data: bytes(&p)?,
                to: None,
                mode: SendMode::Once,
            },
            StepFile::SendTo(to, p) => {
                if !kind.is_datagram() {
                    return Err(field_err(
                        "steps",
                        format!("step {i}: SendTo is for datagram sessions; use Send on streams"),
                    ));
                }
                if matches!(kind, SessionKind::Udp { .. }) {
                    HostPort::parse(&to)
                        .map_err(|m| field_err("steps", format!("step {i}: {m}")))?;
                }
                Step::Send {
                    data: bytes(&p)?,
                    to: Some(to),
                    mode: SendMode::All,
                }
            }
            StepFile::Wait(s) => Step::Wait(s.0),
            StepFile::WaitRecv(s) => Step::WaitRecv(s.0),
            StepFile::ShutdownWrite => Step::ShutdownWrite,
            StepFile::Close => Step::Close,
        });
    }
    let mut limits = Limits::default();
    if let Some(n) = f.recv_buffer {
        if !(1..=16 * 1024 * 1024).contains(&n) {
            return Err(field_err(
                "recv_buffer",
                "bytes per recv go from 1 to 16777216 (the seed uses 1024)",
            ));
        }
        limits.recv_buffer = n;
    }
    if let Some(n) = f.send_queue {
        if !(1..=1 << 30).contains(&n) {
            return Err(field_err(
                "send_queue",
                "a send queue holds 1 to 1073741824 bytes",
            ));
        }
        limits.send_queue = n;
    }
    if let Some(n) = f.high_water {
        limits.high_water = n;
    }
    if let Some(n) = f.low_water {
        limits.low_water = n;
    }
    if limits.low_water > limits.high_water {
        return Err(field_err(
            "low_water",
            format!(
                "low_water ({}) must not exceed high_water ({})",
                limits.low_water, limits.high_water
            ),
        ));
    }
    if limits.high_water > limits.send_queue {
        return Err(field_err(
            "high_water",
            format!(
                "high_water ({}) must not exceed send_queue ({})",
                limits.high_water, limits.send_queue
            ),
        ));
    }
    let mut spec = SessionSpec::new(f.name, kind);
    spec.family = match f.family {
        FamilyFile::Auto => Family::Auto,
        FamilyFile::V4 => Family::V4,
        FamilyFile::V6 => Family::V6,
    };
    spec.options = options;
    if let Some(t) = f.connect_timeout {
        // 0 means no timeout of our own: the kernel's (about two minutes).
        spec.connect_timeout = (!t.0.is_zero()).then_some(t.0);
    }
    if f.read_timeout
        .is_some_and(|t| t.0 < Duration::from_millis(1))
    {
        return Err(field_err(
            "read_timeout",
            "a read timeout goes from 0.001 seconds up; leave it out for none (0 would fire on every turn)",
        ));
    }
    spec.read_timeout = f.read_timeout.map(|t| t.0);
    spec.close_on_read_timeout = f.close_on_read_timeout;
    spec.auto_read = f.auto_read;
    spec.encoding = encoding;
    spec.responder = responder_spec(f.responder, encoding)?;
    if let Some(d) = f.reply_delay {
        if d.0 > MAX_REPLY_DELAY {
            return Err(field_err(
                "reply_delay",
                format!(
                    "a reply delay of {} s is too long; give at most {} seconds",
                    d.0.as_secs_f64(),
                    MAX_REPLY_DELAY.as_secs()
                ),
            ));
        }
        if matches!(spec.responder, Responder::None) {
            return Err(field_err(
                "reply_delay",
                "reply_delay needs a responder; add one (e.g. responder: Echo) or remove the delay",
            ));
        }
        spec.reply_delay = (!d.0.is_zero()).then_some(d.0);
    }
    if let Some(t) = f.tls {
        spec.tls = Some(tls_spec(t, &spec.kind, spec.auto_read)?);
    }
    if let Some(fr) = f.framing {
        spec.framing = framing_file::to_spec(fr, &spec.kind, spec.auto_read, encoding)?;
    }
    spec.steps = steps;
    spec.keep_open_after_peer_fin = f.keep_open_after_peer_fin;
    spec.limits = limits;
    for (i, sn) in f.snippets.iter().enumerate() {
        let data = Typed::parse(sn.payload.clone(), encoding)
            .map_err(|e| field_err("snippets", format!("snippet {i} ({}): {e}", sn.name)))?;
        if let Some(p) = sn.period
            && !(MIN_PERIOD..=MAX_PERIOD).contains(&p.0)
        {
            return Err(field_err(
                "snippets",
                format!(
                    "snippet {i} ({}): a period is from {} s to {} s",
                    sn.name,
                    MIN_PERIOD.as_secs_f64(),
                    MAX_PERIOD.as_secs()
                ),
            ));
        }
        spec.snippets.push(Snippet {
            name: sn.name.clone(),
            data,
            checksum: sn.checksum.map(ChecksumFile::trailer).unwrap_or_default(),
            period: sn.period.map(|p| p.0),
        });
    }
    Ok(spec)
}

/// Longest reply delay a preset may ask for: replies wait in memory.
pub(crate) const MAX_REPLY_DELAY: Duration = Duration::from_secs(60);

/// Shortest period a snippet may be sent at: the UI sends it, and a
/// faster flood belongs to a burst.
pub const MIN_PERIOD: Duration = Duration::from_millis(10);
/// Longest period (a day).
pub const MAX_PERIOD: Duration = Duration::from_secs(86_400);

fn opt_secs_file(d: Option<Duration>) -> Option<Secs> {
    d.map(Secs)
}

/// A relay's rules from text written as in files (`[(action: Drop)]`;
/// empty: none), checked as a file's are.
pub fn relay_rules_from_text(
    text: &str,
    enc: codec::Encoding,
) -> Result<Vec<crate::engine::rules::Rule>, String> {
    if text.trim().is_empty() {
        return Ok(Vec::new());
    }
    relay_rules_from_files(&relay_rule_files_from_text(text)?, enc)
}

/// Rules as a file writes them, read from text but not yet checked (the
/// form's rule list is made from them).
pub fn relay_rule_files_from_text(text: &str) -> Result<Vec<RelayRuleFile>, String> {
    if text.trim().is_empty() {
        return Ok(Vec::new());
    }
    ron_options()
        .from_str(text)
        .map_err(|e| format!("not a list of rules: {e}"))
}

/// Rules as a file writes them, checked as a file's are.
pub fn relay_rules_from_files(
    files: &[RelayRuleFile],
    enc: codec::Encoding,
) -> Result<Vec<crate::engine::rules::Rule>, String> {
    relay_file::rules(files, enc).map_err(|(_, m)| m)
}

/// Rules as files write them, as [`relay_rule_files_from_text`] reads them.
pub fn relay_rule_files_text(files: &[RelayRuleFile]) -> String {
    if files.is_empty() {
        return String::new();
    }
    ron::ser::to_string_pretty(
        &files,
        ron::ser::PrettyConfig::default().struct_names(false),
    )
    .unwrap_or_default()
}

/// The rules as files write them: the inverse of [`relay_rules_from_files`].
pub fn relay_rule_files(
    rules: &[crate::engine::rules::Rule],
    enc: codec::Encoding,
) -> Vec<RelayRuleFile> {
    relay_file::rules_file(rules, enc)
}

/// A relay's rules as the text [`relay_rules_from_text`] reads.
pub fn relay_rules_text(rules: &[crate::engine::rules::Rule], enc: codec::Encoding) -> String {
    relay_rule_files_text(&relay_file::rules_file(rules, enc))
}

/// Writes a spec the way a user would: the inverse of [`to_spec`].
pub fn from_spec(spec: &SessionSpec) -> SessionFile {
    let enc = spec.encoding;
    let kind = match &spec.kind {
        SessionKind::TcpClient { remote, local } => KindFile::TcpClient {
            remote: Remote(remote.clone()),
            local: local.map(BindAddr),
        },
        SessionKind::TcpServer { local, backlog } => KindFile::TcpServer {
            local: BindAddr(*local),
            backlog: *backlog,
        },
        SessionKind::Udp {
            local,
            connect,
            join,
        } => KindFile::Udp {
            local: local.map(BindAddr),
            connect: connect.clone().map(Remote),
            join: join.iter().map(|g| Group(*g)).collect(),
        },
        SessionKind::UnixClient { path } => KindFile::UnixClient { path: path.clone() },
        SessionKind::UnixServer {
            path,
            backlog,
            stale,
        } => KindFile::UnixServer {
            path: path.clone(),
            backlog: *backlog,
            stale: match stale {
                StalePolicy::Fail => StaleFile::Fail,
                StalePolicy::RemoveIfStale => StaleFile::RemoveIfStale,
            },
        },
        SessionKind::UnixDatagram { local, connect } => KindFile::UnixDatagram {
            local: local.clone(),
            connect: connect.clone(),
        },
        SessionKind::SocketPair => KindFile::SocketPair,
        SessionKind::WsClient {
            url,
            headers,
            subprotocols,
            auto_pong,
        } => KindFile::WsClient {
            url: url.to_string(),
            headers: headers.clone(),
            subprotocols: subprotocols.clone(),
            auto_pong: *auto_pong,
        },
        SessionKind::WsServer {
            local,
            path,
            subprotocols,
            auto_pong,
        } => KindFile::WsServer {
            local: BindAddr(*local),
            path: path.clone(),
            subprotocols: subprotocols.clone(),
            auto_pong: *auto_pong,
        },
        SessionKind::Relay {
            listen,
            target,
            rules,
            target_tls,
        } => KindFile::Relay {
            listen: listen.to_string(),
            target: target.to_string(),
            rules: relay_file::rules_file(rules, enc),
            target_tls: target_tls.as_ref().map(tls_file),
        },
        SessionKind::Serial(s) => {
            use crate::engine::serial::{Flow, Parity};
            KindFile::Serial {
                path: s.path.clone(),
                baud: s.baud,
                data_bits: s.data_bits,
                parity: match s.parity {
                    Parity::None => ParityFile::None,
                    Parity::Odd => ParityFile::Odd,
                    Parity::Even => ParityFile::Even,
                },
                stop_bits: s.stop_bits,
                flow: match s.flow {
                    Flow::None => FlowFile::None,
                    Flow::Hardware => FlowFile::Hardware,
                    Flow::Software => FlowFile::Software,
                },
            }
        }
        SessionKind::Script { calls, .. } => KindFile::Script {
            calls: calls_file(calls, enc),
        },
        SessionKind::Burst(b) => KindFile::Burst {
            target: BindAddr(b.target),
            count: b.count,
            concurrency: b.concurrency,
            payload: payload_for(&b.payload, enc),
            wait: match b.wait {
                crate::engine::burst::WaitFor::Reply => WaitFile::Reply,
                crate::engine::burst::WaitFor::Eof => WaitFile::Eof,
            },
            timeout: Some(Secs(b.timeout)),
            udp: b.udp,
            compare: b.compare,
        },
    };
    let mut o = OptionsFile::default();
    for opt in &spec.options {
        // Options without a key (SO_RCVTIMEO: the session-level
        // read_timeout carries it) are not written twice.
        if opt.def().key.is_some() && opt.value() != OptValue::MaybeSecs(None) {
            o.set(*opt);
        }
    }
    let steps = spec
        .steps
        .iter()
        .map(|s| match s {
            Step::Send { data, to, mode } => match (to, mode) {
                (Some(t), _) => StepFile::SendTo(t.clone(), data.payload(enc)),
                (None, SendMode::Once) => StepFile::SendOnce(data.payload(enc)),
                (None, SendMode::All) => StepFile::Send(data.payload(enc)),
            },
            Step::Wait(d) => StepFile::Wait(Secs(*d)),
            Step::WaitRecv(d) => StepFile::WaitRecv(Secs(*d)),
            Step::ShutdownWrite => StepFile::ShutdownWrite,
            Step::Close => StepFile::Close,
        })
        .collect();
    let responder = match &spec.responder {
        Responder::None => ResponderFile::None,
        Responder::Echo => ResponderFile::Echo,
        Responder::Time => ResponderFile::Time,
        Responder::Fixed(r) => ResponderFile::Fixed {
            reply: r.data.payload(enc),
            close_after: r.close,
            template: r.template,
            checksum: ChecksumFile::of(r.checksum),
        },
        Responder::Canned(c) => ResponderFile::Canned {
            rules: c
                .rules
                .iter()
                .map(|r| RuleFile {
                    matching: MatchFile::from(&r.matching),
                    request: match &r.matching {
                        Match::Regex(re) => Payload::Text(re.as_str().to_string()),
                        _ => r.pattern.payload(enc),
                    },
                    reply: r.reply.data.payload(enc),
                    close: r.reply.close,
                })
                .collect(),
            default: c.default.as_ref().map(|d| d.data.payload(enc)),
            delimiter: c.delimiter.as_ref().map(|d| d.payload(enc)),
            // One checksum covers every reply of a table (the form and
            // the file both set it once).
            checksum: c
                .rules
                .iter()
                .map(|r| &r.reply)
                .chain(c.default.as_ref())
                .find_map(|r| ChecksumFile::of(r.checksum)),
            template: c.rules.iter().any(|r| r.reply.template)
                || c.default.as_ref().is_some_and(|d| d.template),
        },
    };
    let defaults = Limits::default();
    let l = spec.limits;
    SessionFile {
        version: FORMAT_VERSION,
        name: spec.name.clone(),
        kind,
        family: match spec.family {
            Family::Auto => FamilyFile::Auto,
            Family::V4 => FamilyFile::V4,
            Family::V6 => FamilyFile::V6,
        },
        options: o,
        // The default (10 s) is left out; no timeout is written as 0.
        connect_timeout: match spec.connect_timeout {
            None => Some(Secs(Duration::ZERO)),
            t if t == SessionSpec::new("", SessionKind::SocketPair).connect_timeout => None,
            t => opt_secs_file(t),
        },
        read_timeout: opt_secs_file(spec.read_timeout),
        close_on_read_timeout: spec.close_on_read_timeout,
        reply_delay: opt_secs_file(spec.reply_delay),
        auto_read: spec.auto_read,
        encoding: (enc != Encoding::Utf8).then_some(EncodingName(enc)),
        responder,
        steps,
        keep_open_after_peer_fin: spec.keep_open_after_peer_fin,
        recv_buffer: (l.recv_buffer != defaults.recv_buffer).then_some(l.recv_buffer),
        send_queue: (l.send_queue != defaults.send_queue).then_some(l.send_queue),
        high_water: (l.high_water != defaults.high_water).then_some(l.high_water),
        low_water: (l.low_water != defaults.low_water).then_some(l.low_water),
        snippets: spec
            .snippets
            .iter()
            .map(|s| SnippetFile {
                name: s.name.clone(),
                payload: s.data.payload(enc),
                checksum: ChecksumFile::of(s.checksum),
                period: s.period.map(Secs),
            })
            .collect(),
        tls: spec.tls.as_ref().map(tls_file),
        framing: framing_file::from_spec(&spec.framing, enc),
    }
}

fn pretty() -> ron::ser::PrettyConfig {
    ron::ser::PrettyConfig::new()
        .depth_limit(6)
        .struct_names(false)
        .extensions(ron::extensions::Extensions::IMPLICIT_SOME)
}

/// A session as pretty, hand-editable RON.
pub fn session_to_ron(file: &SessionFile) -> Result<String, ron::Error> {
    ron::ser::to_string_pretty(file, pretty()).map(|s| s + "\n")
}

/// A workspace as pretty, hand-editable RON.
pub fn workspace_to_ron(file: &WorkspaceFile) -> Result<String, ron::Error> {
    ron::ser::to_string_pretty(file, pretty()).map(|s| s + "\n")
}

/// Parses a workspace file (one session files are read as a workspace of one).
pub fn parse_workspace(path: &Path, src: &str) -> Result<WorkspaceFile, PresetError> {
    let src = without_bom(src);
    let opts = ron_options();
    let spanned = |e| ron_error(path, src, e);
    let w: WorkspaceFile = opts.from_str(src).map_err(spanned)?;
    check_version(path, src, w.version)?;
    for (i, f) in w.sessions.iter().enumerate() {
        to_spec(f.clone())
            .map_err(|(field, msg)| PresetError::at(path, src, Some(i), &field, msg))?;
    }
    Ok(w)
}

/// Parses one session file, keeping the file form (for saving back).
pub fn parse_session(path: &Path, src: &str) -> Result<(SessionFile, SessionSpec), PresetError> {
    let src = without_bom(src);
    let opts = ron_options();
    let f: SessionFile = opts.from_str(src).map_err(|e| ron_error(path, src, e))?;
    check_version(path, src, f.version)?;
    let spec =
        to_spec(f.clone()).map_err(|(field, msg)| PresetError::at(path, src, None, &field, msg))?;
    Ok((f, spec))
}

pub(crate) fn responder_spec(r: ResponderFile, enc: Encoding) -> Result<Responder, FieldError> {
    let bytes = |p: &Payload, what: &str| {
        Typed::parse(p.clone(), enc).map_err(|e| field_err("responder", format!("{what}: {e}")))
    };
    let reply = |p: &Payload, what: &str, close: bool, template: bool, checksum: Trailer| {
        let data = bytes(p, what)?;
        if template {
            crate::engine::respond::check_template(&data)
                .map_err(|e| field_err("responder", format!("{what}: {e}")))?;
        }
        Ok::<Reply, FieldError>(Reply {
            data,
            close,
            template,
            checksum,
        })
    };
    Ok(match r {
        ResponderFile::None => Responder::None,
        ResponderFile::Echo => Responder::Echo,
        ResponderFile::Time => Responder::Time,
        ResponderFile::Fixed {
            reply: r,
            close_after,
            template,
            checksum,
        } => Responder::Fixed(reply(
            &r,
            "reply",
            close_after,
            template,
            checksum.map(ChecksumFile::trailer).unwrap_or_default(),
        )?),
        ResponderFile::Canned {
            rules,
            default,
            delimiter,
            template,
            checksum,
        } => {
            let checksum = checksum.map(ChecksumFile::trailer).unwrap_or_default();
            let mut out = Vec::new();
            for (i, r) in rules.iter().enumerate() {
                let pattern = bytes(&r.request, &format!("rule {i} request"))?;
                let matching = match (r.matching, &r.request) {
                    (MatchFile::Exact, _) => Match::Exact,
                    (MatchFile::Prefix, _) => Match::Prefix,
                    (MatchFile::Contains, _) => Match::Contains,
                    (MatchFile::Regex, Payload::Text(src)) => {
                        Match::Regex(BytesRegex::new(src).map_err(|e| {
                            field_err(
                                "responder",
                                format!(
                                    "rule {i}: the request is not a valid regular expression: {e}"
                                ),
                            )
                        })?)
                    }
                    (MatchFile::Regex, _) => {
                        return Err(field_err(
                            "responder",
                            format!(
                                "rule {i}: a Regex request is written as Text(\"...\"); \
                                 match raw bytes inside it with (?-u:\\xNN)"
                            ),
                        ));
                    }
                };
                if pattern.is_empty() && r.matching != MatchFile::Exact {
                    return Err(field_err(
                        "responder",
                        format!("rule {i}: an empty request matches everything; give some text"),
                    ));
                }
                out.push(Rule {
                    matching,
                    pattern,
                    reply: reply(
                        &r.reply,
                        &format!("rule {i} reply"),
                        r.close,
                        template,
                        checksum,
                    )?,
                });
            }
            Responder::Canned(Canned {
                rules: out,
                default: default
                    .map(|d| reply(&d, "default", false, template, checksum))
                    .transpose()?,
                delimiter: delimiter.map(|d| bytes(&d, "delimiter")).transpose()?,
            })
        }
    })
}

fn check_backlog(b: i32) -> Result<i32, FieldError> {
    if (0..=65535).contains(&b) {
        Ok(b)
    } else {
        Err(field_err(
            "backlog",
            format!("backlog {b} is out of range; use 0 to 65535 (the seed uses 128)"),
        ))
    }
}

fn check_path(p: PathBuf) -> Result<PathBuf, FieldError> {
    spec::check_unix_path(&p).map_err(|m| field_err("path", m))?;
    Ok(p)
}

impl fmt::Display for Payload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Payload::Text(s) => write!(f, "Text({s:?})"),
            Payload::Hex(s) => write!(f, "Hex({s:?})"),
            Payload::Escaped(s) => write!(f, "Escaped({s:?})"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(src: &str) -> Result<Vec<SessionSpec>, PresetError> {
        parse_str(Path::new("t.ron"), src)
    }

    /// Regression (hostile input, item 10): `SetTimeout(secs: 1e20)` passed
    /// `check` and then panicked the worker; 1e-10 silently became "no
    /// timeout". Every number is range-checked at load, with the range in
    /// the message.
    #[test]
    fn numbers_out_of_range_are_refused_at_load_with_the_range() {
        let script = |call: &str| {
            parse(&format!(
                r#"(name: "s", kind: Script(calls: [Socket(var: "s", family: Inet, type: Stream), {call}]))"#
            ))
        };
        for (call, says) in [
            ("SetTimeout(var: \"s\", secs: 1e20)", "0.000001 to 31536000"),
            (
                "SetTimeout(var: \"s\", secs: 1e-10)",
                "0.000001 to 31536000",
            ),
            ("Listen(var: \"s\", backlog: 2147483647)", "0 to 65535"),
            ("ReadExactly(var: \"s\", n: 1000000000000)", "1 to 16777216"),
            ("Recv(var: \"s\", n: 0)", "1 to 16777216"),
            (
                "SetSockOpt(var: \"s\", option: Ttl(4294967295))",
                "1 to 255",
            ),
            (
                "SetSockOpt(var: \"s\", option: RecvBuffer(4294967296))",
                "1 to 1073741824",
            ),
        ] {
            let e = script(call).unwrap_err();
            assert!(e.message.contains(says), "{call}: {e}");
        }
        assert!(script("SetTimeout(var: \"s\", secs: 0.5)").is_ok());
        assert!(script("SetTimeout(var: \"s\", secs: 0)").is_ok());
        let opts = |o: &str| parse(&format!(r#"(name: "o", kind: SocketPair, options: ({o}))"#));
        for (o, says) in [
            ("linger: 0.5", "whole seconds"),
            ("keepalive_idle: 1.5", "whole seconds"),
            ("keepalive_count: 1000", "1 to 127"),
            ("rcvbuf: 4294967296", "1 to 1073741824"),
            ("write_timeout: 0", "wait forever"),
            ("multicast_if_v6: 4294967295", "interface index"),
        ] {
            let e = opts(o).unwrap_err();
            assert!(e.message.contains(says), "{o}: {e}");
        }
        assert!(opts("linger: 2, keepalive_count: 9").is_ok());
        let e = parse(r#"(name: "r", kind: SocketPair, read_timeout: 0)"#).unwrap_err();
        assert!(e.message.contains("0.001"), "{e}");
        let e = parse(r#"(name: "q", kind: SocketPair, send_queue: 18446744073709551615)"#)
            .unwrap_err();
        assert!(e.message.contains("1073741824"), "{e}");
    }

    /// Regression (hostile input, item 11): a leading BOM was refused
    /// without saying why, and trailing junk was blamed on field `kind`.
    #[test]
    fn a_bom_is_skipped_and_trailing_text_is_named_as_such() {
        let specs = parse("\u{feff}(name: \"b\", kind: SocketPair)").unwrap();
        assert_eq!(specs[0].name, "b");
        let e = parse("(name: \"t\", kind: SocketPair)\n(name: \"u\")").unwrap_err();
        assert_eq!(e.field, None, "{e}");
        assert!(e.message.contains("more text after"), "{e}");
    }

    #[test]
    fn tls_handshake_timeout_is_read_checked_and_written_back() {
        let specs = parse(
            r#"(name: "t", kind: TcpServer(local: "127.0.0.1:0"), tls: Server(handshake_timeout: 2.5))"#,
        )
        .unwrap();
        let t = specs[0].tls.as_ref().unwrap();
        assert_eq!(t.handshake_timeout(), Duration::from_millis(2500));
        let text = session_to_ron(&from_spec(&specs[0])).unwrap();
        assert!(text.contains("handshake_timeout: 2.5"), "{text}");
        let e = parse(
            r#"(name: "t", kind: TcpClient(remote: "127.0.0.1:1"), tls: Client(handshake_timeout: 0))"#,
        )
        .unwrap_err();
        assert!(e.message.contains("0.001 to 3600"), "{e}");
        let plain =
            parse(r#"(name: "t", kind: TcpClient(remote: "127.0.0.1:1"), tls: Client())"#).unwrap();
        assert_eq!(
            plain[0].tls.as_ref().unwrap().handshake_timeout(),
            crate::engine::tls::DEFAULT_HANDSHAKE_TIMEOUT
        );
    }

    #[test]
    fn bytes_typed_as_hex_or_escapes_are_saved_as_typed() {
        // In GBK, AA 55 decodes to one character; a file must still say
        // what the user wrote, in every place a file holds bytes.
        let src = r#"(name: "t", kind: TcpServer(local: "127.0.0.1:0"), encoding: "GBK",
            responder: Canned(rules: [(request: Escaped("\\xAA\\x55"), reply: Hex("aa 55 01"))],
                default: Escaped("\\xAA\\x55"), delimiter: Hex("0d 0a")),
            snippets: [(name: "frame", payload: Hex("aa 55")), (name: "hi", payload: Text("你好"))])"#;
        let specs = parse(src).unwrap();
        let text = session_to_ron(&from_spec(&specs[0])).unwrap();
        for written in [
            r#"request: Escaped("\\xAA\\x55")"#,
            r#"reply: Hex("aa 55 01")"#,
            r#"default: Escaped("\\xAA\\x55")"#,
            r#"delimiter: Hex("0d 0a")"#,
            r#"payload: Hex("aa 55")"#,
            r#"payload: Text("你好")"#,
        ] {
            assert!(text.contains(written), "{written} in\n{text}");
        }
        assert!(!text.contains('猆'), "{text}");
        let (_, again) = parse_session(Path::new("x.ron"), &text).unwrap();
        assert_eq!(again, specs[0]);
        // Steps of a client keep their spelling too.
        let client = parse(
            r#"(name: "c", kind: TcpClient(remote: "127.0.0.1:1"), encoding: "GBK",
                steps: [Send(Hex("aa 55"))])"#,
        )
        .unwrap();
        let text = session_to_ron(&from_spec(&client[0])).unwrap();
        assert!(text.contains(r#"Send(Hex("aa 55"))"#), "{text}");
    }

    #[test]
    fn checksums_and_periods_round_trip_and_periods_are_checked() {
        let src = r#"(name: "t", kind: TcpServer(local: "127.0.0.1:0"),
            responder: Canned(rules: [(request: Text("a"), reply: Text("b"))], default: Text("c"),
                checksum: (kind: Crc16Modbus, order: Little)),
            snippets: [(name: "s", payload: Hex("01"), checksum: (kind: Lrc), period: 0.5)])"#;
        let spec = &parse(src).unwrap()[0];
        let Responder::Canned(c) = &spec.responder else {
            panic!()
        };
        assert_eq!(
            c.rules[0].reply.checksum.checksum,
            crate::engine::checksum::Checksum::Crc16Modbus
        );
        assert_eq!(
            c.default.as_ref().unwrap().checksum,
            c.rules[0].reply.checksum
        );
        assert_eq!(spec.snippets[0].period, Some(Duration::from_millis(500)));
        assert_eq!(spec.snippets[0].wire_bytes(), vec![0x01, 0xff]);
        let text = session_to_ron(&from_spec(spec)).unwrap();
        let (_, again) = parse_session(Path::new("x.ron"), &text).unwrap();
        assert_eq!(&again, spec, "{text}");
        for bad in ["0.001", "100000"] {
            let e = parse(&format!(
                r#"(name: "t", kind: TcpClient(remote: "127.0.0.1:1"),
                    snippets: [(name: "s", payload: Hex("01"), period: {bad})])"#
            ))
            .unwrap_err();
            assert!(
                e.message.contains("a period is from 0.01 s to 86400 s"),
                "{e}"
            );
        }
    }

    #[test]
    fn minimal_server() {
        let specs = parse(
            r#"(name: "echo", kind: TcpServer(local: "127.0.0.1:7788"), responder: Echo,
                options: (reuse_address: true))"#,
        )
        .unwrap();
        assert_eq!(specs.len(), 1);
        assert_eq!(specs[0].responder, Responder::Echo);
        assert_eq!(
            specs[0].options,
            vec![crate::engine::options::SockOpt::flag(
                OptName::ReuseAddress,
                true
            )]
        );
    }

    #[test]
    fn bad_port_names_line_and_column() {
        let e = parse("(\n  name: \"x\",\n  kind: TcpClient(remote: \"127.0.0.1:99999\"),\n)")
            .unwrap_err();
        assert_eq!(e.line, 3, "{e}");
        assert!(e.message.contains("out of range"), "{e}");
    }

    /// Engine v2, item 4: options come from the option table, so the new
    /// ones load by key and by script variant, keep their meaning through a
    /// save, and old spellings (`Linger(Some(0))`) still load.
    #[test]
    fn options_from_the_table_load_save_and_load_again() {
        use crate::engine::options::{OptValue, SockOpt};
        use crate::engine::stepper::Call;
        let src = r#"(name: "o", kind: TcpClient(remote: "127.0.0.1:1"),
            options: (priority: 2, tos: 16, user_timeout: 900, maxseg: 1400,
                      quickack: false, bind_device: "lo", linger: 0, nodelay: true),
        )"#;
        let spec = parse(src).unwrap().remove(0);
        let get = |n: OptName| {
            spec.options
                .iter()
                .find(|o| o.name() == n)
                .map(|o| o.value())
        };
        assert_eq!(get(OptName::Tos), Some(OptValue::Int(16)));
        assert_eq!(get(OptName::QuickAck), Some(OptValue::Flag(false)));
        assert_eq!(
            get(OptName::Linger),
            Some(OptValue::MaybeSecs(Some(Duration::ZERO)))
        );
        let text = session_to_ron(&from_spec(&spec)).unwrap();
        assert!(text.contains("bind_device: \"lo\""), "{text}");
        assert!(text.contains("user_timeout: 900"), "{text}");
        let again = parse(&text).unwrap().remove(0);
        assert_eq!(again.options, spec.options);
        let script = r#"(name: "s", kind: Script(calls: [
            Socket(var: "s", family: Inet, type: Stream),
            SetSockOpt(var: "s", option: Linger(Some(0))),
            SetSockOpt(var: "s", option: Linger(None)),
            SetSockOpt(var: "s", option: Tos(184)),
            SetSockOpt(var: "s", option: BindDevice("lo")),
            SetSockOpt(var: "s", option: KeepAliveIdle(30)),
            GetSockOpt(var: "s", option: "IPV6_TCLASS"),
        ]))"#;
        let spec = parse(script).unwrap().remove(0);
        let SessionKind::Script { calls, .. } = &spec.kind else {
            panic!()
        };
        let opts: Vec<SockOpt> = calls
            .iter()
            .filter_map(|c| match c {
                Call::SetSockOpt { opt, .. } => Some(*opt),
                _ => None,
            })
            .collect();
        assert_eq!(opts[0].value(), OptValue::MaybeSecs(Some(Duration::ZERO)));
        assert_eq!(opts[1].value(), OptValue::MaybeSecs(None));
        assert_eq!(opts[2], SockOpt::int(OptName::Tos, 184));
        assert_eq!(opts[3].value_text(), "lo");
        assert!(matches!(
            calls[6],
            Call::GetSockOpt {
                opt: OptName::Tos,
                ..
            }
        ));
        let again = parse(&session_to_ron(&from_spec(&spec)).unwrap())
            .unwrap()
            .remove(0);
        assert_eq!(again.kind, spec.kind);
        let e = parse(
            r#"(name: "s", kind: Script(calls: [Socket(var: "s", family: Inet, type: Stream),
               SetSockOpt(var: "s", option: NoSuchThing(1))]))"#,
        )
        .unwrap_err();
        assert!(e.message.contains("NoSuchThing"), "{e}");
        assert!(e.message.contains("BindDevice"), "lists what is known: {e}");
    }

    #[test]
    fn unknown_option_is_an_error_with_position() {
        let e = parse("(\n name: \"x\",\n kind: SocketPair,\n options: (reuse_adress: true),\n)")
            .unwrap_err();
        assert_eq!(e.line, 4, "{e}");
        assert!(e.message.contains("reuse_adress"), "{e}");
    }

    #[test]
    fn cross_field_errors_point_at_the_field() {
        let e = parse(
            "(\n name: \"x\",\n kind: TcpClient(remote: \"127.0.0.1:1\"),\n options: (blocking: false),\n)",
        )
        .unwrap_err();
        assert_eq!(e.field.as_deref(), Some("blocking"));
        assert_eq!(e.line, 4);
        let e = parse("(name: \"x\", kind: SocketPair, steps: [Send(Hex(\"zz\"))])").unwrap_err();
        assert!(e.message.contains("not a hex digit"), "{e}");
    }

    #[test]
    fn workspace_of_two() {
        let specs = parse(
            r#"(version: 1, sessions: [
                (name: "a", kind: SocketPair),
                (name: "b", kind: Udp(local: "127.0.0.1:0")),
            ])"#,
        )
        .unwrap();
        assert_eq!(specs.len(), 2);
        assert_eq!(specs[1].name, "b");
    }

    #[test]
    fn every_builtin_round_trips_through_save_and_load() {
        let dir = std::path::Path::new("assets/presets");
        let on_disk = std::fs::read_dir(dir).unwrap().count();
        assert_eq!(
            BUILTIN.len(),
            on_disk,
            "every file in assets/presets is built in"
        );
        for (stem, spec) in builtins() {
            let spec = spec.unwrap_or_else(|e| panic!("{stem}: {e}"));
            let text = session_to_ron(&from_spec(&spec)).unwrap();
            let (_, again) = parse_session(Path::new("x.ron"), &text)
                .unwrap_or_else(|e| panic!("{stem}: {e}\n{text}"));
            assert_eq!(again, spec, "{stem}:\n{text}");
        }
    }

    #[test]
    fn tls_is_checked_against_the_kind_and_round_trips() {
        let specs =
            parse(r#"(name: "s", kind: TcpServer(local: "127.0.0.1:0"), tls: Server())"#).unwrap();
        assert_eq!(
            specs[0].tls,
            Some(TlsSpec::Server(TlsServerSpec::default())),
            "Server() takes the generated certificate"
        );
        let src = r#"(name: "c", kind: TcpClient(remote: "127.0.0.1:1"),
            tls: Client(server_name: "localhost", alpn: ["h2"], roots: None, ca_file: "ca.pem"))"#;
        let spec = parse(src).unwrap().remove(0);
        let text = session_to_ron(&from_spec(&spec)).unwrap();
        assert!(text.contains("ca_file: \"ca.pem\""), "{text}");
        assert_eq!(parse(&text).unwrap().remove(0), spec);

        let cases = [
            (
                r#"(name: "x", kind: TcpServer(local: "127.0.0.1:0"), tls: Client())"#,
                "goes on a TcpClient",
            ),
            (
                r#"(name: "x", kind: Udp(local: "127.0.0.1:0"), tls: Server())"#,
                "goes on a TcpServer",
            ),
            (
                r#"(name: "x", kind: TcpClient(remote: "127.0.0.1:1"), tls: Client(roots: None))"#,
                "trusts nothing",
            ),
            (
                r#"(name: "x", kind: TcpClient(remote: "127.0.0.1:1"), auto_read: false, tls: Client())"#,
                "automatic reads",
            ),
            (
                r#"(name: "x", kind: TcpClient(remote: "127.0.0.1:1"), tls: Client(alpn: [""]))"#,
                "1 to 255 bytes",
            ),
            (
                r#"(name: "x", kind: TcpClient(remote: "127.0.0.1:1"), tls: Client(server_name: "a b"))"#,
                "not a DNS name",
            ),
            (
                r#"(name: "x", kind: TcpServer(local: "127.0.0.1:0"), tls: Server(cert: SelfSigned(names: [])))"#,
                "at least one name",
            ),
            (
                r#"(name: "x", kind: TcpServer(local: "127.0.0.1:0"), tls: Server(cert: Files(cert: "c.pem")))"#,
                "key",
            ),
        ];
        for (src, want) in cases {
            let e = parse(src).unwrap_err();
            assert!(e.message.contains(want), "{src}: {e}");
        }
    }

    #[test]
    fn a_regex_rule_round_trips() {
        let text = r#"(version: 1, name: "kv", kind: TcpServer(local: "127.0.0.1:0"),
            responder: Canned(rules: [(match: Regex, request: Text("^GET (\\w+)$"), reply: Text("got $1"))]))"#;
        let (_, spec) = parse_session(Path::new("x.ron"), text).unwrap();
        let Responder::Canned(c) = &spec.responder else {
            panic!("{:?}", spec.responder)
        };
        assert!(matches!(&c.rules[0].matching, Match::Regex(re) if re.as_str() == r"^GET (\w+)$"));
        let saved = session_to_ron(&from_spec(&spec)).unwrap();
        assert!(saved.contains("Regex"), "{saved}");
        let (_, again) = parse_session(Path::new("x.ron"), &saved).unwrap();
        assert_eq!(again, spec, "{saved}");
    }

    #[test]
    fn payloads_are_written_readably() {
        let utf8 = Encoding::Utf8;
        assert_eq!(
            payload_for("你好".as_bytes(), utf8),
            Payload::Text("你好".into())
        );
        // Control characters are fine in text: RON writes them as \r \n.
        assert_eq!(
            payload_for(b"GET /\r\n", utf8),
            Payload::Text("GET /\r\n".into())
        );
        assert_eq!(
            payload_for(&[0xff, 0xfe, 0, 1], utf8),
            Payload::Hex("ff fe 00 01".into())
        );
        assert_eq!(
            payload_for(b"C:\\temp\\x", utf8),
            Payload::Escaped("C:\\\\temp\\\\x".into())
        );
    }

    #[test]
    fn newer_version_is_refused_in_words() {
        let e = parse("(version: 9, name: \"a\", kind: SocketPair)").unwrap_err();
        assert!(e.message.contains("update Sockscope"), "{e}");
    }

    #[test]
    fn unencodable_text_is_reported() {
        let e = parse(
            r#"(name: "a", kind: SocketPair, encoding: "latin-1", steps: [Send(Text("你好"))])"#,
        )
        .unwrap_err();
        assert!(e.message.contains("cannot be encoded"), "{e}");
    }
}
