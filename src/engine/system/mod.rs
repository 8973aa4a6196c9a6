//! Every socket on the machine, not only ours: what the kernel lists
//! through netlink sock_diag (`diag`), with the processes that hold each
//! one found in `/proc/*/fd` (`procs`), filtered by words or `ss`-style
//! expressions (`filter`) and refreshed on a named thread for the app
//! (`watch`). The headless `sockscope sockets` and the app's System
//! sockets view draw from the same `snapshot`.

pub mod diag;
pub mod filter;
pub mod procs;
pub mod table;
pub mod watch;

use std::net::SocketAddr;
use std::time::{Duration, Instant, SystemTime};

use serde::Serialize;

use super::tcp_info::TcpInfo;

/// Most sockets one snapshot keeps; past it the rest are counted, not
/// stored (a runaway program must not make the view take gigabytes).
pub const MAX_SOCKETS: usize = 1_000_000;

/// The kind of socket, named as `ss` names it in its Netid column.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SockKind {
    Tcp,
    Udp,
    /// A Unix stream socket (`u_str`).
    UnixStream,
    /// A Unix datagram socket (`u_dgr`).
    UnixDgram,
    /// A Unix seqpacket socket (`u_seq`).
    UnixSeqpacket,
}

impl SockKind {
    /// Every kind, in the order the view lists them.
    pub const ALL: [SockKind; 5] = [
        SockKind::Tcp,
        SockKind::Udp,
        SockKind::UnixStream,
        SockKind::UnixDgram,
        SockKind::UnixSeqpacket,
    ];

    /// The `ss` Netid: tcp, udp, u_str, u_dgr, u_seq.
    pub fn netid(self) -> &'static str {
        match self {
            SockKind::Tcp => "tcp",
            SockKind::Udp => "udp",
            SockKind::UnixStream => "u_str",
            SockKind::UnixDgram => "u_dgr",
            SockKind::UnixSeqpacket => "u_seq",
        }
    }

    /// Whether it is a Unix-domain socket.
    pub fn is_unix(self) -> bool {
        matches!(
            self,
            SockKind::UnixStream | SockKind::UnixDgram | SockKind::UnixSeqpacket
        )
    }
}

/// Which address family a socket belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Family {
    V4,
    V6,
    Unix,
}

/// One end of a socket: an IP address and port, or a Unix name.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Endpoint {
    /// An IPv4 or IPv6 address and port (`0.0.0.0:0` for unbound / none).
    Inet(SocketAddr),
    /// A Unix socket bound to a path in the file system.
    Path(String),
    /// A Unix socket in the abstract namespace (shown as `@name`).
    Abstract(String),
    /// A Unix socket with no name; for a connected one, the peer's inode.
    Unnamed { peer_inode: Option<u32> },
}

impl Endpoint {
    /// The port, for an IP endpoint.
    pub fn port(&self) -> Option<u16> {
        match self {
            Endpoint::Inet(a) => Some(a.port()),
            _ => None,
        }
    }

    /// The IP address, for an IP endpoint.
    pub fn ip(&self) -> Option<std::net::IpAddr> {
        match self {
            Endpoint::Inet(a) => Some(a.ip()),
            _ => None,
        }
    }
}

impl std::fmt::Display for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            // As ss writes them: a port of 0 (no peer, unbound) is `*`.
            Endpoint::Inet(a) if a.port() == 0 => match a.ip() {
                std::net::IpAddr::V4(ip) => write!(f, "{ip}:*"),
                std::net::IpAddr::V6(ip) => write!(f, "[{ip}]:*"),
            },
            Endpoint::Inet(a) => write!(f, "{a}"),
            Endpoint::Path(p) => f.write_str(p),
            Endpoint::Abstract(n) => write!(f, "@{n}"),
            Endpoint::Unnamed {
                peer_inode: Some(i),
            } => write!(f, "* {i}"),
            Endpoint::Unnamed { peer_inode: None } => f.write_str("*"),
        }
    }
}

/// A timer the kernel runs for a TCP socket, as `ss -o` shows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TimerKind {
    /// Retransmitting unacknowledged data.
    Retransmit,
    /// Waiting to send a keepalive probe.
    Keepalive,
    /// The TIME_WAIT period, before the socket is freed.
    TimeWait,
    /// Probing a zero window.
    Probe,
}

impl TimerKind {
    /// The name `ss -o` gives it.
    pub fn name(self) -> &'static str {
        match self {
            TimerKind::Retransmit => "on",
            TimerKind::Keepalive => "keepalive",
            TimerKind::TimeWait => "timewait",
            TimerKind::Probe => "persist",
        }
    }
}

/// A running timer and how long it has left.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Timer {
    pub kind: TimerKind,
    /// Milliseconds until it fires.
    pub left_ms: u32,
    /// Retransmissions or probes sent so far.
    pub retrans: u8,
}

/// The socket's memory as the kernel accounts it (`ss -m` skmem: r, rb,
/// t, tb, f, w, o, bl, d).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct SkMem {
    /// Memory held by received data (`r`).
    pub rmem_alloc: u32,
    /// The receive buffer's size (`rb`, SO_RCVBUF).
    pub rcvbuf: u32,
    /// Memory held by data sent and not yet freed (`t`).
    pub wmem_alloc: u32,
    /// The send buffer's size (`tb`, SO_SNDBUF).
    pub sndbuf: u32,
    /// Memory reserved ahead (`f`).
    pub fwd_alloc: u32,
    /// Memory queued for sending (`w`).
    pub wmem_queued: u32,
    /// Memory for options (`o`).
    pub optmem: u32,
    /// The backlog queue (`bl`).
    pub backlog: u32,
    /// Packets dropped before they reached the socket (`d`).
    pub drops: u32,
}

/// A process that holds the socket (it may be several: a fork shares it).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Owner {
    pub pid: u32,
    /// The short name (`/proc/PID/comm`).
    pub name: String,
    /// The command line, arguments joined by spaces (cut at 4 KiB).
    pub cmdline: String,
    /// The process's user, by name where it has one, else its uid.
    pub user: String,
    /// How many of its descriptors point at this socket.
    pub fds: u32,
}

/// Who holds a socket, as far as this process can tell.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "found")]
pub enum Owners {
    /// The processes that hold it.
    Known { processes: Vec<Owner> },
    /// No process holds it: a TIME_WAIT socket, one being closed, or one
    /// only the kernel holds (inode 0).
    Kernel,
    /// Not found, and some processes' descriptors could not be read:
    /// another user's process may hold it (root, or CAP_SYS_PTRACE and
    /// CAP_DAC_READ_SEARCH, can see it).
    Hidden,
}

/// One socket on the machine.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SysSocket {
    pub kind: SockKind,
    pub family: Family,
    /// The state as the kernel names it (ESTABLISHED, LISTEN, TIME_WAIT,
    /// ...); `UNCONN` for an unconnected datagram socket, as `ss` says.
    pub state: &'static str,
    pub local: Endpoint,
    pub remote: Endpoint,
    /// Bytes waiting to be read; for a listener, connections waiting to
    /// be accepted.
    pub recv_q: u32,
    /// Bytes not yet acknowledged by the peer; for a listener, the accept
    /// queue's limit (the backlog).
    pub send_q: u32,
    /// The socket's inode (as `/proc/PID/fd` links name it: `socket:[N]`).
    pub inode: u32,
    /// The kernel's cookie, unique for the socket's life.
    pub cookie: u64,
    /// The uid that created it (IP sockets; None for Unix).
    pub uid: Option<u32>,
    /// Its user, by name where the uid has one.
    pub user: Option<String>,
    pub owners: Owners,
    pub timer: Option<Timer>,
    pub skmem: Option<SkMem>,
    /// The congestion control algorithm (TCP).
    pub congestion: Option<String>,
    /// TCP_INFO as the kernel reports it over netlink (TCP, not TIME_WAIT).
    pub tcp_info: Option<TcpInfo>,
    /// What was shut down: `SHUT_RD`, `SHUT_WR`, `SHUT_RDWR`.
    pub shutdown: Option<&'static str>,
    /// The interface the socket is bound to (SO_BINDTODEVICE), by index.
    pub interface: Option<u32>,
    /// For a Unix listener: the inodes of connections not yet accepted.
    pub pending: Vec<u32>,
}

/// Identifies a socket across snapshots (a cookie is unique while the
/// kernel runs; the kind keeps Unix and IP cookies apart).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SockKey {
    pub kind: SockKind,
    pub cookie: u64,
    pub inode: u32,
}

impl SysSocket {
    /// A socket with what every kind has; the rest empty, for the reader
    /// of each family to fill.
    pub fn new(
        kind: SockKind,
        family: Family,
        state: &'static str,
        local: Endpoint,
        remote: Endpoint,
        inode: u32,
        cookie: u64,
    ) -> SysSocket {
        SysSocket {
            kind,
            family,
            state,
            local,
            remote,
            recv_q: 0,
            send_q: 0,
            inode,
            cookie,
            uid: None,
            user: None,
            owners: Owners::Kernel,
            timer: None,
            skmem: None,
            congestion: None,
            tcp_info: None,
            shutdown: None,
            interface: None,
            pending: Vec::new(),
        }
    }

    /// The holders as `name/pid`, joined by `sep`; None when none is
    /// known (the caller says why: the kernel's, or no access).
    pub fn holders(&self, sep: &str) -> Option<String> {
        match &self.owners {
            Owners::Known { processes } => Some(
                processes
                    .iter()
                    .map(|p| format!("{}/{}", p.name, p.pid))
                    .collect::<Vec<_>>()
                    .join(sep),
            ),
            _ => None,
        }
    }

    /// The key that follows this socket from one snapshot to the next.
    pub fn key(&self) -> SockKey {
        SockKey {
            kind: self.kind,
            cookie: self.cookie,
            inode: self.inode,
        }
    }

    /// The processes that hold it (empty when none is known).
    pub fn processes(&self) -> &[Owner] {
        match &self.owners {
            Owners::Known { processes } => processes,
            _ => &[],
        }
    }

    /// Whether this is a listening socket (TCP or Unix).
    pub fn is_listener(&self) -> bool {
        self.state == "LISTEN"
    }

    /// An `ss` command line that shows this socket and nothing else (the
    /// cookie is not an `ss` filter; the four-tuple, or the path, is).
    pub fn ss_command(&self) -> String {
        let flags = match self.kind {
            SockKind::Tcp => "-tanpie",
            SockKind::Udp => "-uanpie",
            SockKind::UnixStream => "-xanpe -A unix_stream",
            SockKind::UnixDgram => "-xanpe -A unix_dgram",
            SockKind::UnixSeqpacket => "-xanpe -A unix_seqpacket",
        };
        let mut cmd = format!("ss {flags}");
        let mut cond = Vec::new();
        match &self.local {
            Endpoint::Inet(a) => {
                if !a.ip().is_unspecified() {
                    cond.push(format!("src {}", ss_host(a.ip())));
                }
                cond.push(format!("sport = :{}", a.port()));
            }
            Endpoint::Path(p) => cond.push(format!("src {}", ss_unix_name(p))),
            Endpoint::Abstract(n) => cond.push(format!("src {}", ss_unix_name(&format!("@{n}")))),
            Endpoint::Unnamed { .. } => {}
        }
        if let Endpoint::Inet(a) = &self.remote
            && !(a.ip().is_unspecified() && a.port() == 0)
        {
            cond.push(format!("dst {}", ss_host(a.ip())));
            cond.push(format!("dport = :{}", a.port()));
        }
        if !cond.is_empty() {
            // One argument for the whole expression, quoted for a POSIX
            // shell: a Unix path can hold anything.
            cmd.push(' ');
            cmd.push_str(&crate::engine::codec::shell_quote(&cond.join(" and ")));
        }
        cmd
    }
}

/// A Unix name as `ss`'s filter takes it. Its lexer has no quoting: a
/// name with a space, a bracket, a quote or an operator in it is cut there
/// and matched as a prefix (`ss` globs `*`), which may list a neighbour
/// too, but never fails to parse.
fn ss_unix_name(p: &str) -> String {
    let bad = |c: char| c.is_whitespace() || c.is_control() || "()!&|=<>\"'\\".contains(c);
    match p.find(bad) {
        Some(i) => format!("{}*", &p[..i]),
        None => p.to_string(),
    }
}

/// An IP as `ss` filters take it (brackets round IPv6).
fn ss_host(ip: std::net::IpAddr) -> String {
    match ip {
        std::net::IpAddr::V4(v4) => v4.to_string(),
        std::net::IpAddr::V6(v6) => format!("[{v6}]"),
    }
}

/// Every socket the kernel listed at one moment, with how long it took.
#[derive(Clone, Debug, Default)]
pub struct Snapshot {
    pub sockets: Vec<SysSocket>,
    /// When it was taken.
    pub at: Option<SystemTime>,
    /// How long the netlink dump took.
    pub dump_time: Duration,
    /// How long finding the processes took.
    pub procs_time: Duration,
    /// Sockets past `MAX_SOCKETS`, not kept.
    pub dropped: usize,
    /// Processes whose descriptors could not be read (another user's,
    /// without privileges).
    pub hidden_processes: usize,
    /// What could not be listed, in words (a family the kernel lacks, a
    /// netlink error); the rest is still shown.
    pub problems: Vec<String>,
}

/// Lists every socket and finds who holds each one.
pub fn snapshot() -> Snapshot {
    let t0 = Instant::now();
    let at = SystemTime::now();
    let mut dump = diag::dump_all(MAX_SOCKETS);
    let dump_time = t0.elapsed();
    let t1 = Instant::now();
    let mut table = procs::scan();
    let mut users = procs::Users::default();
    for s in &mut dump.sockets {
        s.user = s.uid.map(|u| users.name(u));
        s.owners = table.owners_of(s.inode, &mut users);
        // unix_diag gives no uid: the holder's user is the best answer.
        if s.user.is_none()
            && let Some(p) = s.processes().first()
        {
            s.user = Some(p.user.clone());
        }
    }
    Snapshot {
        sockets: dump.sockets,
        at: Some(at),
        dump_time,
        procs_time: t1.elapsed(),
        dropped: dump.dropped,
        hidden_processes: table.hidden,
        problems: dump.problems,
    }
}

/// Where a client reaches a listener: its own address, or loopback when
/// it listens on every interface.
fn reachable(a: SocketAddr) -> SocketAddr {
    match a.ip() {
        std::net::IpAddr::V4(ip) if ip.is_unspecified() => {
            SocketAddr::new(std::net::Ipv4Addr::LOCALHOST.into(), a.port())
        }
        std::net::IpAddr::V6(ip) if ip.is_unspecified() => {
            SocketAddr::new(std::net::Ipv6Addr::LOCALHOST.into(), a.port())
        }
        _ => a,
    }
}

/// A Sockscope session that talks to this socket: a TCP or Unix client
/// to a listener, a UDP socket aimed at a bound UDP one. None for what
/// has no address to reach (a connection, an unnamed Unix socket).
pub fn client_spec(s: &SysSocket) -> Option<crate::engine::SessionSpec> {
    use crate::engine::spec::{HostPort, SessionKind};
    let kind = match (&s.kind, &s.local) {
        (SockKind::Tcp, Endpoint::Inet(a)) if s.is_listener() => {
            let to = reachable(*a);
            SessionKind::TcpClient {
                remote: HostPort {
                    host: to.ip().to_string(),
                    port: to.port(),
                },
                local: None,
            }
        }
        (SockKind::Udp, Endpoint::Inet(a)) if s.state == "UNCONN" && a.port() != 0 => {
            let to = reachable(*a);
            SessionKind::Udp {
                local: None,
                connect: Some(HostPort {
                    host: to.ip().to_string(),
                    port: to.port(),
                }),
                join: Vec::new(),
            }
        }
        (SockKind::UnixStream, Endpoint::Path(p)) if s.is_listener() => {
            SessionKind::UnixClient { path: p.into() }
        }
        (SockKind::UnixDgram, Endpoint::Path(p)) => SessionKind::UnixDatagram {
            local: None,
            connect: Some(p.into()),
        },
        _ => return None,
    };
    let who = s.processes().first().map_or_else(
        || s.local.to_string(),
        |p| format!("{} {}", p.name, s.local),
    );
    Some(crate::engine::SessionSpec::new(format!("to {who}"), kind))
}

/// A Sockscope server like this listener (same kind, address and
/// backlog) on a free port, or a UDP socket bound like this one.
pub fn server_spec_like(s: &SysSocket) -> Option<crate::engine::SessionSpec> {
    use crate::engine::spec::SessionKind;
    let kind = match (&s.kind, &s.local) {
        (SockKind::Tcp, Endpoint::Inet(a)) if s.is_listener() => SessionKind::TcpServer {
            local: SocketAddr::new(a.ip(), 0),
            backlog: (s.send_q as i32).clamp(1, 65535),
        },
        (SockKind::Udp, Endpoint::Inet(a)) => SessionKind::Udp {
            local: Some(SocketAddr::new(a.ip(), 0)),
            connect: None,
            join: Vec::new(),
        },
        _ => return None,
    };
    Some(crate::engine::SessionSpec::new(
        format!("like {}", s.local),
        kind,
    ))
}
