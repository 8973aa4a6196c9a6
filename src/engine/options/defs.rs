//! Every socket option Sockscope knows, one entry each. The form, the
//! preset format, the inspector, the option pickers and both exporters
//! draw from this list, so adding an option is one `OptName` variant and
//! one entry here. Entries are in `OptName`'s order (a test checks it).

use std::io;
use std::time::Duration;

use socket2::TcpKeepalive;

use super::{Applies, IfName, Level, OptDef, OptName, OptValue, Python, Ty, Widget};

const FLAG: Ty = Ty::Flag;
const BYTES: Ty = Ty::Int {
    lo: 1,
    hi: 1 << 30,
    what: "a size in bytes",
};
const TTL: Ty = Ty::Int {
    lo: 1,
    hi: 255,
    what: "a TTL",
};
const SOCKOPT: Python = Python::SockOpt;

/// The options, in `OptName` order.
pub static OPTIONS: [OptDef; 26] = [
    OptDef {
        name: OptName::ReuseAddress,
        c: "SO_REUSEADDR",
        c_v6: None,
        level: Level::Socket,
        applies: Applies::Inet,
        ty: FLAG,
        key: Some("reuse_address"),
        label: "SO_REUSEADDR",
        widget: Widget::Check,
        help: "bind a port still in TIME_WAIT (servers take it by default)",
        refused: &[],
        set: |s, v, _| s.set_reuse_address(v.flag()),
        get: |s, _| Ok(OptValue::Flag(s.reuse_address()?)),
        rust_set: "set_reuse_address({})",
        rust_get: "reuse_address()",
        python: SOCKOPT,
    },
    OptDef {
        name: OptName::ReusePort,
        c: "SO_REUSEPORT",
        c_v6: None,
        level: Level::Socket,
        applies: Applies::Inet,
        ty: FLAG,
        key: Some("reuse_port"),
        label: "SO_REUSEPORT",
        widget: Widget::Tri,
        help: "let several sockets bind one port; the kernel spreads connections over them",
        refused: &[],
        set: |s, v, _| s.set_reuse_port(v.flag()),
        get: |s, _| Ok(OptValue::Flag(s.reuse_port()?)),
        rust_set: "set_reuse_port({})",
        rust_get: "reuse_port()",
        python: SOCKOPT,
    },
    OptDef {
        name: OptName::KeepAlive,
        c: "SO_KEEPALIVE",
        c_v6: None,
        level: Level::Socket,
        applies: Applies::InetStream,
        ty: FLAG,
        key: Some("keepalive"),
        label: "SO_KEEPALIVE",
        widget: Widget::Check,
        help: "probe an idle connection so a dead peer is noticed",
        refused: &[],
        set: |s, v, _| s.set_keepalive(v.flag()),
        get: |s, _| Ok(OptValue::Flag(s.keepalive()?)),
        rust_set: "set_keepalive({})",
        rust_get: "keepalive()",
        python: SOCKOPT,
    },
    OptDef {
        name: OptName::KeepAliveIdle,
        c: "TCP_KEEPIDLE",
        c_v6: None,
        level: Level::Tcp,
        applies: Applies::InetStream,
        ty: Ty::WholeSecs { lo: 1, hi: 32_767 },
        key: Some("keepalive_idle"),
        label: "Keepalive idle",
        widget: Widget::Text("seconds"),
        help: "idle time before the first keepalive probe",
        refused: &[],
        set: |s, v, _| s.set_tcp_keepalive(&TcpKeepalive::new().with_time(v.secs())),
        get: |s, _| Ok(OptValue::Secs(s.tcp_keepalive_time()?)),
        rust_set: "set_tcp_keepalive(&socket2::TcpKeepalive::new().with_time({}))",
        rust_get: "tcp_keepalive_time()",
        python: SOCKOPT,
    },
    OptDef {
        name: OptName::KeepAliveInterval,
        c: "TCP_KEEPINTVL",
        c_v6: None,
        level: Level::Tcp,
        applies: Applies::InetStream,
        ty: Ty::WholeSecs { lo: 1, hi: 32_767 },
        key: Some("keepalive_interval"),
        label: "Keepalive interval",
        widget: Widget::Text("seconds"),
        help: "time between keepalive probes",
        refused: &[],
        set: |s, v, _| s.set_tcp_keepalive(&TcpKeepalive::new().with_interval(v.secs())),
        get: |s, _| Ok(OptValue::Secs(s.tcp_keepalive_interval()?)),
        rust_set: "set_tcp_keepalive(&socket2::TcpKeepalive::new().with_interval({}))",
        rust_get: "tcp_keepalive_interval()",
        python: SOCKOPT,
    },
    OptDef {
        name: OptName::KeepAliveCount,
        c: "TCP_KEEPCNT",
        c_v6: None,
        level: Level::Tcp,
        applies: Applies::InetStream,
        ty: Ty::Int {
            lo: 1,
            hi: 127,
            what: "a count",
        },
        key: Some("keepalive_count"),
        label: "Keepalive count",
        widget: Widget::Text("probes"),
        help: "unanswered probes before the connection is dropped",
        refused: &[],
        set: |s, v, _| s.set_tcp_keepalive(&TcpKeepalive::new().with_retries(v.int() as u32)),
        get: |s, _| Ok(OptValue::Int(s.tcp_keepalive_retries()?.into())),
        rust_set: "set_tcp_keepalive(&socket2::TcpKeepalive::new().with_retries({}))",
        rust_get: "tcp_keepalive_retries()",
        python: SOCKOPT,
    },
    OptDef {
        name: OptName::NoDelay,
        c: "TCP_NODELAY",
        c_v6: None,
        level: Level::Tcp,
        applies: Applies::InetStream,
        ty: FLAG,
        key: Some("nodelay"),
        label: "TCP_NODELAY",
        widget: Widget::Check,
        help: "send small writes at once instead of coalescing them (Nagle off)",
        refused: &[],
        set: |s, v, _| s.set_tcp_nodelay(v.flag()),
        get: |s, _| Ok(OptValue::Flag(s.tcp_nodelay()?)),
        rust_set: "set_tcp_nodelay({})",
        rust_get: "tcp_nodelay()",
        python: SOCKOPT,
    },
    OptDef {
        name: OptName::UserTimeout,
        c: "TCP_USER_TIMEOUT",
        c_v6: None,
        level: Level::Tcp,
        applies: Applies::InetStream,
        // Milliseconds data may stay unacknowledged before the kernel
        // drops the connection (ETIMEDOUT); 0 is the system's default.
        ty: Ty::Int {
            lo: 0,
            hi: i32::MAX as u64,
            what: "milliseconds",
        },
        key: Some("user_timeout"),
        label: "User timeout",
        widget: Widget::Text("ms"),
        help: "how long sent data may stay unacknowledged before the connection is dropped with ETIMEDOUT; 0 is the system default",
        refused: &[],
        set: |s, v, _| s.set_tcp_user_timeout(Some(Duration::from_millis(v.int()))),
        get: |s, _| {
            let t = s.tcp_user_timeout()?;
            Ok(OptValue::Int(t.map_or(0, |d| d.as_millis() as u64)))
        },
        rust_set: "set_tcp_user_timeout(Some(Duration::from_millis({})))",
        rust_get: "tcp_user_timeout()",
        python: SOCKOPT,
    },
    OptDef {
        name: OptName::MaxSeg,
        c: "TCP_MAXSEG",
        c_v6: None,
        level: Level::Tcp,
        applies: Applies::InetStream,
        // Linux takes 88 (TCP_MIN_MSS) to 65535; set it before connect or
        // listen for it to shape the handshake's MSS.
        ty: Ty::Int {
            lo: 88,
            hi: 65_535,
            what: "a segment size in bytes",
        },
        key: Some("maxseg"),
        label: "TCP_MAXSEG",
        widget: Widget::Text("bytes"),
        help: "the largest segment to send (MSS), 88 to 65535; set before connect or listen to shape the handshake",
        refused: &[],
        set: |s, v, _| s.set_tcp_mss(v.int() as u32),
        get: |s, _| Ok(OptValue::Int(s.tcp_mss()?.into())),
        rust_set: "set_tcp_mss({})",
        rust_get: "tcp_mss()",
        python: SOCKOPT,
    },
    OptDef {
        name: OptName::QuickAck,
        c: "TCP_QUICKACK",
        c_v6: None,
        level: Level::Tcp,
        applies: Applies::InetStream,
        // Not sticky: the kernel leaves quick-ack mode on its own, so a
        // read back may say false a moment later.
        ty: FLAG,
        key: Some("quickack"),
        label: "TCP_QUICKACK",
        widget: Widget::Tri,
        help: "acknowledge at once instead of delaying ACKs; the kernel leaves this mode on its own",
        refused: &[],
        set: |s, v, _| s.set_tcp_quickack(v.flag()),
        get: |s, _| Ok(OptValue::Flag(s.tcp_quickack()?)),
        rust_set: "set_tcp_quickack({})",
        rust_get: "tcp_quickack()",
        python: SOCKOPT,
    },
    OptDef {
        name: OptName::RecvBuffer,
        c: "SO_RCVBUF",
        c_v6: None,
        level: Level::Socket,
        applies: Applies::Any,
        ty: BYTES,
        key: Some("rcvbuf"),
        label: "SO_RCVBUF",
        widget: Widget::Text("bytes"),
        help: "the kernel's receive buffer (Linux doubles what is asked)",
        refused: &[],
        set: |s, v, _| s.set_recv_buffer_size(v.int() as usize),
        get: |s, _| Ok(OptValue::Int(s.recv_buffer_size()? as u64)),
        rust_set: "set_recv_buffer_size({})",
        rust_get: "recv_buffer_size()",
        python: SOCKOPT,
    },
    OptDef {
        name: OptName::SendBuffer,
        c: "SO_SNDBUF",
        c_v6: None,
        level: Level::Socket,
        applies: Applies::Any,
        ty: BYTES,
        key: Some("sndbuf"),
        label: "SO_SNDBUF",
        widget: Widget::Text("bytes"),
        help: "the kernel's send buffer (Linux doubles what is asked)",
        refused: &[],
        set: |s, v, _| s.set_send_buffer_size(v.int() as usize),
        get: |s, _| Ok(OptValue::Int(s.send_buffer_size()? as u64)),
        rust_set: "set_send_buffer_size({})",
        rust_get: "send_buffer_size()",
        python: SOCKOPT,
    },
    OptDef {
        name: OptName::Linger,
        c: "SO_LINGER",
        c_v6: None,
        level: Level::Socket,
        applies: Applies::Stream,
        ty: Ty::Linger,
        key: Some("linger"),
        label: "SO_LINGER",
        widget: Widget::Text("s; 0 = RST"),
        help: "how long close() waits for unsent data; 0 resets the connection (RST) instead of FIN; a server's connections inherit it",
        refused: &[],
        set: |s, v, _| s.set_linger(v.maybe_secs()),
        get: |s, _| Ok(OptValue::MaybeSecs(s.linger()?)),
        rust_set: "set_linger({})",
        rust_get: "linger()",
        python: SOCKOPT,
    },
    OptDef {
        name: OptName::BindDevice,
        c: "SO_BINDTODEVICE",
        c_v6: None,
        level: Level::Socket,
        applies: Applies::Inet,
        ty: Ty::IfName,
        key: Some("bind_device"),
        label: "Bind to device",
        widget: Widget::Text("e.g. lo"),
        help: "send and receive only through this interface (`ip link` lists them)",
        refused: &[
            (
                libc::EPERM,
                "binding to a device needs CAP_NET_RAW (run as root or `setcap cap_net_raw+ep`) on kernels before 5.7, and on any kernel to change a device once set",
            ),
            (
                libc::ENODEV,
                "no interface has that name; `ip link` lists this machine's",
            ),
        ],
        set: |s, v, _| {
            let n = v.name();
            s.bind_device((!n.as_bytes().is_empty()).then(|| n.as_bytes()))
        },
        get: |s, _| {
            let d = s.device()?.unwrap_or_default();
            let name = IfName::new(&String::from_utf8_lossy(&d)).map_err(io::Error::other)?;
            Ok(OptValue::Name(name))
        },
        rust_set: "bind_device({})",
        rust_get: "device()",
        python: SOCKOPT,
    },
    OptDef {
        name: OptName::Broadcast,
        c: "SO_BROADCAST",
        c_v6: None,
        level: Level::Socket,
        applies: Applies::InetDgram,
        ty: FLAG,
        key: Some("broadcast"),
        label: "SO_BROADCAST",
        widget: Widget::Tri,
        help: "allow sending to broadcast addresses",
        refused: &[],
        set: |s, v, _| s.set_broadcast(v.flag()),
        get: |s, _| Ok(OptValue::Flag(s.broadcast()?)),
        rust_set: "set_broadcast({})",
        rust_get: "broadcast()",
        python: SOCKOPT,
    },
    OptDef {
        name: OptName::Ttl,
        c: "IP_TTL",
        c_v6: Some("IPV6_UNICAST_HOPS"),
        level: Level::Ip,
        applies: Applies::Inet,
        ty: TTL,
        key: Some("ttl"),
        label: "TTL",
        widget: Widget::Text("default 64"),
        help: "hops a packet may take (IPV6_UNICAST_HOPS on IPv6)",
        refused: &[],
        set: |s, v, v6| {
            let n = v.int() as u32;
            if v6 {
                s.set_unicast_hops_v6(n)
            } else {
                s.set_ttl_v4(n)
            }
        },
        get: |s, v6| {
            let n = if v6 {
                s.unicast_hops_v6()?
            } else {
                s.ttl_v4()?
            };
            Ok(OptValue::Int(n.into()))
        },
        rust_set: "set_ttl_v4({})",
        rust_get: "ttl_v4()",
        python: SOCKOPT,
    },
    OptDef {
        name: OptName::Tos,
        c: "IP_TOS",
        c_v6: Some("IPV6_TCLASS"),
        level: Level::Ip,
        applies: Applies::Inet,
        // The whole byte: DSCP in the top six bits, ECN in the low two
        // (0xb8 is DSCP EF).
        ty: Ty::Int {
            lo: 0,
            hi: 255,
            what: "a TOS byte",
        },
        key: Some("tos"),
        label: "TOS / traffic class",
        widget: Widget::Text("e.g. 0xb8"),
        help: "the TOS / traffic class byte: DSCP in the top six bits, ECN in the low two; 0xb8 is DSCP EF. It also sets SO_PRIORITY",
        refused: &[],
        set: |s, v, v6| {
            let n = v.int() as u32;
            if v6 {
                s.set_tclass_v6(n)
            } else {
                s.set_tos_v4(n)
            }
        },
        get: |s, v6| {
            let n = if v6 { s.tclass_v6()? } else { s.tos_v4()? };
            Ok(OptValue::Int(n.into()))
        },
        rust_set: "set_tos_v4({})",
        rust_get: "tos_v4()",
        python: SOCKOPT,
    },
    OptDef {
        name: OptName::Priority,
        c: "SO_PRIORITY",
        c_v6: None,
        level: Level::Socket,
        applies: Applies::Any,
        // The queueing priority of what the socket sends (0 to 6 for
        // anyone; more with CAP_NET_ADMIN). After IP_TOS in this table,
        // since setting the TOS also sets the priority from it (0xb8 makes
        // it 4): applied in this order, a priority asked for stands.
        ty: Ty::Int {
            lo: 0,
            hi: u32::MAX as u64,
            what: "a priority",
        },
        key: Some("priority"),
        label: "SO_PRIORITY",
        widget: Widget::Text("0 to 6"),
        help: "the queueing priority of what this socket sends; above 6 needs CAP_NET_ADMIN",
        refused: &[(
            libc::EPERM,
            "priorities above 6 need CAP_NET_ADMIN; pick 0 to 6 or run with that capability",
        )],
        set: |s, v, _| s.set_priority(v.int() as u32),
        get: |s, _| Ok(OptValue::Int(s.priority()?.into())),
        rust_set: "set_priority({})",
        rust_get: "priority()",
        python: SOCKOPT,
    },
    OptDef {
        name: OptName::OnlyV6,
        c: "IPV6_V6ONLY",
        c_v6: None,
        level: Level::Ipv6,
        applies: Applies::Ipv6,
        ty: FLAG,
        key: Some("only_v6"),
        label: "IPV6_V6ONLY",
        widget: Widget::Tri,
        help: "an IPv6 socket takes IPv6 only (off on [::] makes it dual-stack)",
        refused: &[],
        set: |s, v, _| s.set_only_v6(v.flag()),
        get: |s, _| Ok(OptValue::Flag(s.only_v6()?)),
        rust_set: "set_only_v6({})",
        rust_get: "only_v6()",
        python: SOCKOPT,
    },
    OptDef {
        name: OptName::MulticastTtl,
        c: "IP_MULTICAST_TTL",
        c_v6: Some("IPV6_MULTICAST_HOPS"),
        level: Level::Ip,
        applies: Applies::InetDgram,
        ty: Ty::Int {
            lo: 0,
            hi: 255,
            what: "a TTL",
        },
        key: Some("multicast_ttl"),
        label: "Multicast TTL",
        widget: Widget::Text("0: this host"),
        help: "hops a multicast datagram may take; 0 keeps it on this host",
        refused: &[],
        set: |s, v, v6| {
            let n = v.int() as u32;
            if v6 {
                s.set_multicast_hops_v6(n)
            } else {
                s.set_multicast_ttl_v4(n)
            }
        },
        get: |s, v6| {
            let n = if v6 {
                s.multicast_hops_v6()?
            } else {
                s.multicast_ttl_v4()?
            };
            Ok(OptValue::Int(n.into()))
        },
        rust_set: "set_multicast_ttl_v4({})",
        rust_get: "multicast_ttl_v4()",
        python: SOCKOPT,
    },
    OptDef {
        name: OptName::MulticastLoop,
        c: "IP_MULTICAST_LOOP",
        c_v6: Some("IPV6_MULTICAST_LOOP"),
        level: Level::Ip,
        applies: Applies::InetDgram,
        ty: FLAG,
        key: Some("multicast_loop"),
        label: "Multicast loop",
        widget: Widget::Tri,
        help: "deliver our own multicast to sockets on this host",
        refused: &[],
        set: |s, v, v6| {
            if v6 {
                s.set_multicast_loop_v6(v.flag())
            } else {
                s.set_multicast_loop_v4(v.flag())
            }
        },
        get: |s, v6| {
            let b = if v6 {
                s.multicast_loop_v6()?
            } else {
                s.multicast_loop_v4()?
            };
            Ok(OptValue::Flag(b))
        },
        rust_set: "set_multicast_loop_v4({})",
        rust_get: "multicast_loop_v4()",
        python: SOCKOPT,
    },
    OptDef {
        name: OptName::MulticastIfV4,
        c: "IP_MULTICAST_IF",
        c_v6: None,
        level: Level::Ip,
        applies: Applies::Ipv4Dgram,
        // The local address multicast leaves from, and the interface
        // groups are joined on.
        ty: Ty::Ipv4,
        key: Some("multicast_if"),
        label: "Multicast interface",
        widget: Widget::Text("e.g. 127.0.0.1"),
        help: "the local address multicast leaves from; groups are joined on it too",
        refused: &[],
        set: |s, v, _| s.set_multicast_if_v4(&v.ipv4()),
        get: |s, _| Ok(OptValue::Ipv4(s.multicast_if_v4()?)),
        rust_set: "set_multicast_if_v4({})",
        rust_get: "multicast_if_v4()",
        python: SOCKOPT,
    },
    OptDef {
        name: OptName::MulticastIfV6,
        c: "IPV6_MULTICAST_IF",
        c_v6: None,
        level: Level::Ipv6,
        applies: Applies::Ipv6Dgram,
        ty: Ty::Int {
            lo: 0,
            hi: i32::MAX as u64,
            what: "an interface index",
        },
        key: Some("multicast_if_v6"),
        label: "IPv6 multicast interface",
        widget: Widget::None,
        help: "the interface index IPv6 multicast leaves from",
        refused: &[],
        set: |s, v, _| s.set_multicast_if_v6(v.int() as u32),
        get: |s, _| Ok(OptValue::Int(s.multicast_if_v6()?.into())),
        rust_set: "set_multicast_if_v6({})",
        rust_get: "multicast_if_v6()",
        python: SOCKOPT,
    },
    OptDef {
        name: OptName::ReadTimeout,
        c: "SO_RCVTIMEO",
        c_v6: None,
        level: Level::Socket,
        applies: Applies::Any,
        ty: Ty::Timeout,
        // The session's own read_timeout carries it in files and forms.
        key: None,
        label: "Read timeout",
        widget: Widget::None,
        help: "how long a blocking recv waits",
        refused: &[],
        set: |s, v, _| s.set_read_timeout(v.maybe_secs()),
        get: |s, _| Ok(OptValue::MaybeSecs(s.read_timeout()?)),
        rust_set: "set_read_timeout({})",
        rust_get: "read_timeout()",
        python: SOCKOPT,
    },
    OptDef {
        name: OptName::WriteTimeout,
        c: "SO_SNDTIMEO",
        c_v6: None,
        level: Level::Socket,
        applies: Applies::Any,
        ty: Ty::Timeout,
        key: Some("write_timeout"),
        label: "Write timeout",
        widget: Widget::Text("seconds"),
        help: "how long a blocking send waits",
        refused: &[],
        set: |s, v, _| s.set_write_timeout(v.maybe_secs()),
        get: |s, _| Ok(OptValue::MaybeSecs(s.write_timeout()?)),
        rust_set: "set_write_timeout({})",
        rust_get: "write_timeout()",
        python: SOCKOPT,
    },
    OptDef {
        name: OptName::Blocking,
        c: "blocking",
        c_v6: None,
        level: Level::Socket,
        applies: Applies::Any,
        // O_NONBLOCK inverted, as Python's setblocking. Sessions that
        // read automatically are always non-blocking.
        ty: FLAG,
        key: Some("blocking"),
        label: "Blocking",
        widget: Widget::None,
        help: "blocking calls wait; non-blocking ones fail with EAGAIN",
        refused: &[],
        set: |s, v, _| s.set_nonblocking(!v.flag()),
        get: |s, _| Ok(OptValue::Flag(!s.nonblocking()?)),
        rust_set: "set_nonblocking(!{})",
        rust_get: "nonblocking()",
        python: Python::Blocking,
    },
];
