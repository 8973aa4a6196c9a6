//! The kernel's list of sockets through netlink sock_diag: inet_diag for
//! TCP and UDP over IPv4 and IPv6, unix_diag for Unix sockets, and
//! SOCK_DESTROY to close a connection that another program holds. The
//! packet types come from `netlink-packet-sock-diag`; this file only asks
//! and reads the answers into [`SysSocket`]s.

use std::net::SocketAddr;

use netlink_packet_core::{
    NLM_F_ACK, NLM_F_DUMP, NLM_F_REQUEST, NetlinkHeader, NetlinkMessage, NetlinkPayload,
    NetlinkSerializable,
};
use netlink_packet_sock_diag::{
    SockDiagMessage,
    constants::*,
    inet::{self, ExtensionFlags, InetRequest, SocketId, StateFlags},
    message::SockDiagDestroy,
    unix::{self, ShowFlags, UnixRequest},
};
use netlink_sys::{Socket, SocketAddr as NlAddr, protocols::NETLINK_SOCK_DIAG};

use super::{Endpoint, Family, SkMem, SockKind, SysSocket, Timer, TimerKind};
use crate::engine::error::OpError;
use crate::engine::tcp_info;

/// What one dump of every family gave.
#[derive(Debug, Default)]
pub struct Dump {
    pub sockets: Vec<SysSocket>,
    /// Sockets past the limit, counted and not kept.
    pub dropped: usize,
    /// What could not be listed, in words.
    pub problems: Vec<String>,
}

/// One request of the dump: which family and protocol, and its name in
/// messages.
#[derive(Clone, Copy)]
enum Ask {
    Inet { family: u8, protocol: u8 },
    Unix,
}

impl Ask {
    fn name(self) -> &'static str {
        match self {
            Ask::Inet {
                family: AF_INET,
                protocol: IPPROTO_TCP,
            } => "tcp4",
            Ask::Inet {
                family: _,
                protocol: IPPROTO_TCP,
            } => "tcp6",
            Ask::Inet {
                family: AF_INET,
                protocol: _,
            } => "udp4",
            Ask::Inet { .. } => "udp6",
            Ask::Unix => "unix",
        }
    }
}

/// Lists every TCP, UDP and Unix socket, keeping at most `max`.
pub fn dump_all(max: usize) -> Dump {
    let mut out = Dump::default();
    let asks = [
        Ask::Inet {
            family: AF_INET,
            protocol: IPPROTO_TCP,
        },
        Ask::Inet {
            family: AF_INET6,
            protocol: IPPROTO_TCP,
        },
        Ask::Inet {
            family: AF_INET,
            protocol: IPPROTO_UDP,
        },
        Ask::Inet {
            family: AF_INET6,
            protocol: IPPROTO_UDP,
        },
        Ask::Unix,
    ];
    for ask in asks {
        if let Err(e) = dump_one(ask, max, &mut out) {
            out.problems.push(e.to_string());
        }
    }
    out
}

/// A netlink socket for sock_diag, bound and connected to the kernel.
fn open(op: &str) -> Result<Socket, OpError> {
    let mut sock =
        Socket::new(NETLINK_SOCK_DIAG).map_err(|e| OpError::io(format!("{op}: socket"), &e))?;
    sock.bind_auto()
        .map_err(|e| OpError::io(format!("{op}: bind"), &e))?;
    sock.connect(&NlAddr::new(0, 0))
        .map_err(|e| OpError::io(format!("{op}: connect"), &e))?;
    // The kernel answers at once; a reply that never comes must not stop
    // the view's refresher (or `sockscope sockets`) for good.
    socket2::SockRef::from(&sock)
        .set_read_timeout(Some(std::time::Duration::from_secs(5)))
        .map_err(|e| OpError::io(format!("{op}: SO_RCVTIMEO"), &e))?;
    Ok(sock)
}

/// Serialises a request (a dump's `SockDiagMessage` or a
/// `SockDiagDestroy`) into a buffer ready to send.
fn request<T: NetlinkSerializable>(msg: T, flags: u16) -> Vec<u8> {
    let mut hdr = NetlinkHeader::default();
    hdr.flags = flags;
    let mut packet = NetlinkMessage::new(hdr, NetlinkPayload::InnerMessage(msg));
    packet.finalize();
    let mut buf = vec![0; packet.buffer_len()];
    packet.serialize(&mut buf);
    buf
}

fn all_inet_states() -> StateFlags {
    // Every TCP state including NEW_SYN_RECV (12), which the crate's flags
    // do not name; UDP sockets report TCP_CLOSE or TCP_ESTABLISHED.
    StateFlags::from_bits_retain(u32::MAX)
}

fn dump_one(ask: Ask, max: usize, out: &mut Dump) -> Result<(), OpError> {
    let op = format!("sock_diag dump {}", ask.name());
    let sock = open(&op)?;
    let msg = match ask {
        Ask::Inet { family, protocol } => {
            let extensions = if protocol == IPPROTO_TCP {
                ExtensionFlags::INFO
                    | ExtensionFlags::CONG
                    | ExtensionFlags::SKMEMINFO
                    | ExtensionFlags::SHUTDOWN
            } else {
                ExtensionFlags::SKMEMINFO | ExtensionFlags::SHUTDOWN
            };
            SockDiagMessage::InetRequest(InetRequest {
                family,
                protocol,
                extensions,
                states: all_inet_states(),
                socket_id: if family == AF_INET {
                    SocketId::new_v4()
                } else {
                    SocketId::new_v6()
                },
            })
        }
        Ask::Unix => SockDiagMessage::UnixRequest(UnixRequest {
            state_flags: unix::StateFlags::from_bits_retain(u32::MAX),
            inode: 0,
            show_flags: ShowFlags::NAME
                | ShowFlags::PEER
                | ShowFlags::ICONS
                | ShowFlags::RQLEN
                | ShowFlags::MEMINFO,
            cookie: [0; 8],
        }),
    };
    let req = request(msg, NLM_F_REQUEST | NLM_F_DUMP);
    sock.send(&req, 0)
        .map_err(|e| OpError::io(format!("{op}: send"), &e))?;
    // The kernel fills each read with as many messages as fit in what it
    // allocates for a dump (32 KiB today); a larger buffer costs nothing.
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = sock
            .recv(&mut &mut buf[..], 0)
            .map_err(|e| OpError::io(format!("{op}: recv"), &e))?;
        if n == 0 {
            return Err(OpError::plain(
                op,
                "the kernel ended the dump without saying done",
            ));
        }
        if n > buf.len() {
            return Err(OpError::plain(
                op,
                format!("a reply of {n} bytes did not fit the buffer"),
            ));
        }
        let mut off = 0;
        while off + 16 <= n {
            let len =
                u32::from_ne_bytes([buf[off], buf[off + 1], buf[off + 2], buf[off + 3]]) as usize;
            if len < 16 || off + len > n {
                return Err(OpError::plain(op, "a reply was cut short"));
            }
            let bytes = &buf[off..off + len];
            off += (len + 3) & !3;
            let msg = match NetlinkMessage::<SockDiagMessage>::deserialize(bytes) {
                Ok(m) => m,
                Err(e) => {
                    out.problems
                        .push(format!("{op}: a reply did not parse: {e}"));
                    continue;
                }
            };
            match msg.payload {
                NetlinkPayload::Done(_) => return Ok(()),
                NetlinkPayload::Error(e) => {
                    return Err(OpError::io(op, &e.to_io()));
                }
                NetlinkPayload::InnerMessage(m) => {
                    if out.sockets.len() >= max {
                        out.dropped += 1;
                        continue;
                    }
                    match m {
                        SockDiagMessage::InetResponse(r) => {
                            let udp = matches!(
                                ask,
                                Ask::Inet {
                                    protocol: IPPROTO_UDP,
                                    ..
                                }
                            );
                            out.sockets.push(from_inet(&r, udp, inet_expires(bytes)));
                        }
                        SockDiagMessage::UnixResponse(r) => {
                            if let Some(s) = from_unix(&r) {
                                out.sockets.push(s);
                            }
                        }
                        _ => {}
                    }
                }
                _ => {}
            }
        }
    }
}

/// `idiag_expires` of an inet_diag_msg, read from the message itself:
/// the crate keeps it for every timer but TIME_WAIT's, and how long a
/// TIME_WAIT socket has left is what a user waiting for a port asks.
/// (16 bytes of netlink header, then family, state, timer, retrans and
/// the 48-byte socket id.)
fn inet_expires(msg: &[u8]) -> u32 {
    const AT: usize = 16 + 4 + 48;
    msg.get(AT..AT + 4)
        .map_or(0, |b| u32::from_ne_bytes([b[0], b[1], b[2], b[3]]))
}

/// The name `ss` gives an unconnected datagram socket.
const UNCONN: &str = "UNCONN";

/// One inet_diag answer; `udp` says which protocol was asked for (the
/// answer does not say it on every kernel).
fn from_inet(r: &inet::InetResponse, udp: bool, expires_ms: u32) -> SysSocket {
    use inet::nlas::Nla;
    let h = &r.header;
    let kind = if udp { SockKind::Udp } else { SockKind::Tcp };
    let id = &h.socket_id;
    let family = if h.family == AF_INET6 {
        Family::V6
    } else {
        Family::V4
    };
    let local = Endpoint::Inet(SocketAddr::new(id.source_address, id.source_port));
    let remote = Endpoint::Inet(SocketAddr::new(id.destination_address, id.destination_port));
    let mut state = tcp_info::state_name(h.state);
    if kind == SockKind::Udp && state == "CLOSE" {
        state = UNCONN;
    }
    let timer = h.timer.as_ref().map(|t| match t {
        inet::Timer::Retransmit(d, n) => Timer {
            kind: TimerKind::Retransmit,
            left_ms: d.as_millis().min(u32::MAX as u128) as u32,
            retrans: *n,
        },
        inet::Timer::KeepAlive(d) => Timer {
            kind: TimerKind::Keepalive,
            left_ms: d.as_millis().min(u32::MAX as u128) as u32,
            retrans: 0,
        },
        inet::Timer::TimeWait => Timer {
            kind: TimerKind::TimeWait,
            left_ms: expires_ms,
            retrans: 0,
        },
        inet::Timer::Probe(d) => Timer {
            kind: TimerKind::Probe,
            left_ms: d.as_millis().min(u32::MAX as u128) as u32,
            retrans: 0,
        },
    });
    let mut s = SysSocket::new(
        kind,
        family,
        state,
        local,
        remote,
        h.inode,
        u64::from_ne_bytes(id.cookie),
    );
    s.recv_q = h.recv_queue;
    s.send_q = h.send_queue;
    s.uid = Some(h.uid);
    s.timer = timer;
    s.interface = (id.interface_id != 0).then_some(id.interface_id);
    for n in &r.nlas {
        match n {
            Nla::MemInfo(m) => {
                s.skmem = Some(SkMem {
                    rmem_alloc: m.receive_queue,
                    rcvbuf: m.receive_queue_max,
                    // The crate's names follow its own reading of the
                    // kernel's SK_MEMINFO_* order; these are the kernel's.
                    wmem_alloc: m.bottom_send_queues,
                    sndbuf: m.send_queue_max,
                    fwd_alloc: m.cache,
                    wmem_queued: m.send_queue,
                    optmem: m.options,
                    backlog: m.backlog_queue_length,
                    drops: m.drops,
                })
            }
            Nla::Congestion(c) => s.congestion = Some(c.clone()),
            Nla::TcpInfo(bytes) => s.tcp_info = Some(tcp_info::from_bytes(bytes)),
            Nla::Shutdown(b) => s.shutdown = shutdown_name(*b),
            _ => {}
        }
    }
    s
}

fn shutdown_name(b: u8) -> Option<&'static str> {
    match b & 3 {
        1 => Some("SHUT_RD"),
        2 => Some("SHUT_WR"),
        3 => Some("SHUT_RDWR"),
        _ => None,
    }
}

fn from_unix(r: &unix::UnixResponse) -> Option<SysSocket> {
    use unix::nlas::{Nla, UnixDiagName};
    let h = &r.header;
    let kind = match i32::from(h.kind) {
        libc::SOCK_STREAM => SockKind::UnixStream,
        libc::SOCK_DGRAM => SockKind::UnixDgram,
        libc::SOCK_SEQPACKET => SockKind::UnixSeqpacket,
        _ => return None,
    };
    let mut name = None;
    let mut peer = None;
    let state = match h.state {
        1 => "ESTABLISHED",
        10 => "LISTEN",
        _ => UNCONN,
    };
    let unnamed = || Endpoint::Unnamed { peer_inode: None };
    let mut s = SysSocket::new(
        kind,
        Family::Unix,
        state,
        unnamed(),
        unnamed(),
        h.inode,
        u64::from_ne_bytes(h.cookie),
    );
    for n in &r.nlas {
        match n {
            Nla::Name(UnixDiagName::Pathname(p)) => {
                name = Some(Endpoint::Path(p.to_string_lossy().into_owned()))
            }
            Nla::Name(UnixDiagName::Abstract(a)) => {
                name = Some(Endpoint::Abstract(String::from_utf8_lossy(a).into_owned()))
            }
            Nla::Peer(i) => peer = Some(*i),
            Nla::PendingConnections(v) => s.pending = v.iter().copied().take(4096).collect(),
            Nla::ReceiveQueueLength(r, w) => {
                s.recv_q = *r;
                s.send_q = *w;
            }
            Nla::MemInfo(m) => s.skmem = Some(unix_skmem(m)),
            Nla::Shutdown(b) => s.shutdown = shutdown_name(*b),
            _ => {}
        }
    }
    s.local = name.unwrap_or(Endpoint::Unnamed { peer_inode: None });
    s.remote = Endpoint::Unnamed { peer_inode: peer };
    Some(s)
}

/// SK_MEMINFO for a Unix socket: the crate keeps three of the nine
/// numbers (the receive buffer, the send buffer and what is queued); the
/// others read as 0.
fn unix_skmem(m: &unix::nlas::MemInfo) -> SkMem {
    SkMem {
        rcvbuf: m.so_rcvbuf,
        sndbuf: m.max_datagram_size,
        wmem_queued: m.alloc,
        ..SkMem::default()
    }
}

/// Why a socket cannot be closed from here, before asking the kernel.
pub fn destroy_refusal(s: &SysSocket) -> Option<&'static str> {
    if s.kind.is_unix() {
        return Some("the kernel closes only TCP and UDP sockets from outside (SOCK_DESTROY)");
    }
    if s.state == "TIME_WAIT" {
        return Some("a TIME_WAIT socket is already closed; it goes when its timer ends");
    }
    if s.state == "LISTEN" && s.kind == SockKind::Tcp {
        // The kernel allows it, but a listener closed from outside leaves
        // its program without warning; the action is for connections.
        return Some("a listener is closed by the program that holds it, not from here");
    }
    None
}

/// Closes a TCP connection (or UDP socket) that any program holds, as
/// `ss -K` does: SOCK_DESTROY with the socket's exact id and cookie. Its
/// program sees ECONNABORTED. Needs CAP_NET_ADMIN and a kernel built
/// with CONFIG_INET_DIAG_DESTROY.
pub fn destroy(s: &SysSocket) -> Result<(), OpError> {
    let op = format!(
        "SOCK_DESTROY {} {} -> {}",
        s.kind.netid(),
        s.local,
        s.remote
    );
    if let Some(why) = destroy_refusal(s) {
        return Err(OpError::plain(op, why));
    }
    let (Endpoint::Inet(l), Endpoint::Inet(r)) = (&s.local, &s.remote) else {
        return Err(OpError::plain(op, "not an IP socket"));
    };
    let family = if s.family == Family::V6 {
        AF_INET6
    } else {
        AF_INET
    };
    let mut id = if family == AF_INET {
        SocketId::new_v4()
    } else {
        SocketId::new_v6()
    };
    id.source_address = l.ip();
    id.source_port = l.port();
    id.destination_address = r.ip();
    id.destination_port = r.port();
    id.interface_id = s.interface.unwrap_or(0);
    id.cookie = s.cookie.to_ne_bytes();
    let msg = SockDiagMessage::InetRequest(InetRequest {
        family,
        protocol: if s.kind == SockKind::Udp {
            IPPROTO_UDP
        } else {
            IPPROTO_TCP
        },
        extensions: ExtensionFlags::empty(),
        states: all_inet_states(),
        socket_id: id,
    });
    let req = request(SockDiagDestroy::new(msg), NLM_F_REQUEST | NLM_F_ACK);
    let sock = open(&op)?;
    sock.send(&req, 0)
        .map_err(|e| OpError::io(format!("{op}: send"), &e))?;
    let mut buf = vec![0u8; 8192];
    let n = sock
        .recv(&mut &mut buf[..], 0)
        .map_err(|e| OpError::io(format!("{op}: recv"), &e))?;
    let reply = NetlinkMessage::<SockDiagMessage>::deserialize(&buf[..n.min(buf.len())])
        .map_err(|e| OpError::plain(op.clone(), format!("the reply did not parse: {e}")))?;
    match reply.payload {
        NetlinkPayload::Error(e) if e.code.is_none() => Ok(()),
        NetlinkPayload::Error(e) => {
            let err = OpError::io(op, &e.to_io());
            Err(match err.errno {
                Some(libc::EPERM) | Some(libc::EACCES) => err.with_hint(
                    "closing another program's socket needs CAP_NET_ADMIN: run Sockscope as root",
                ),
                Some(libc::EOPNOTSUPP) => err.with_hint(
                    "this kernel was built without CONFIG_INET_DIAG_DESTROY; it cannot close sockets from outside",
                ),
                Some(libc::ENOENT) => err.with_hint("the socket is gone already"),
                _ => err,
            })
        }
        _ => Err(OpError::plain(op, "the kernel did not answer as expected")),
    }
}
