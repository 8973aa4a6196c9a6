//! UDP, Unix stream, Unix datagram and socketpair sessions on real sockets.

mod common;

use std::io::Write;
use std::net::UdpSocket;
use std::os::unix::net::{UnixDatagram, UnixListener, UnixStream};
use std::time::Duration;

use common::*;
use sockscope::engine::options::{OptName, OptValue, SockOpt};
use sockscope::engine::protocol::{Addr, CloseReason, Command, Direction, EventKind, SendMode};
use sockscope::engine::spec::{HostPort, Responder, SessionKind, StalePolicy, Step};
use sockscope::engine::{SessionId, SessionSpec};

fn udp(local: &str) -> SessionSpec {
    SessionSpec::new(
        "udp",
        SessionKind::Udp {
            local: Some(local.parse().unwrap()),
            connect: None,
            join: Vec::new(),
        },
    )
}

#[test]
fn udp_shows_the_source_of_every_datagram_v4_and_v6() {
    for (bind, peer_bind) in [("127.0.0.1:0", "127.0.0.1:0"), ("[::1]:0", "[::1]:0")] {
        let mut h = Harness::new();
        let id = h.open(udp(bind));
        let Addr::Inet(addr) = h.bound(id) else {
            panic!()
        };
        let a = UdpSocket::bind(peer_bind).unwrap();
        let b = UdpSocket::bind(peer_bind).unwrap();
        a.send_to(b"from a", addr).unwrap();
        let (data, src) = h.received(id);
        assert_eq!(data, b"from a");
        assert_eq!(src, Some(Addr::Inet(a.local_addr().unwrap())));
        b.send_to(b"from b", addr).unwrap();
        let (data, src) = h.received(id);
        assert_eq!(data, b"from b");
        assert_eq!(src, Some(Addr::Inet(b.local_addr().unwrap())));
        // send_to any address, with the destination logged.
        h.send(Command::Send {
            target: id,
            data: b"reply".to_vec(),
            mode: SendMode::All,
            to: Some(b.local_addr().unwrap().to_string()),
        });
        b.set_read_timeout(Some(DEADLINE)).unwrap();
        let mut buf = [0u8; 64];
        let (n, from) = b.recv_from(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"reply");
        assert_eq!(from, addr);
    }
}

#[test]
fn udp_echo_answers_each_source() {
    let mut h = Harness::new();
    let mut spec = udp("127.0.0.1:0");
    spec.responder = Responder::Echo;
    let id = h.open(spec);
    let Addr::Inet(addr) = h.bound(id) else {
        panic!()
    };
    let c = UdpSocket::bind("127.0.0.1:0").unwrap();
    c.set_read_timeout(Some(DEADLINE)).unwrap();
    c.send_to("你好".as_bytes(), addr).unwrap();
    let mut buf = [0u8; 64];
    let n = c.recv(&mut buf).unwrap();
    assert_eq!(&buf[..n], "你好".as_bytes());
}

#[test]
fn oversized_datagram_is_reported_as_truncated() {
    let mut h = Harness::new();
    let mut spec = udp("127.0.0.1:0");
    spec.limits.recv_buffer = 16;
    let id = h.open(spec);
    let Addr::Inet(addr) = h.bound(id) else {
        panic!()
    };
    let c = UdpSocket::bind("127.0.0.1:0").unwrap();
    c.send_to(&[9u8; 100], addr).unwrap();
    let ev = h.wait("truncated", |e| {
        e.session == id && matches!(&e.kind, EventKind::Log(l) if l.dir == Direction::In)
    });
    let EventKind::Log(l) = ev.kind else {
        unreachable!()
    };
    assert_eq!(l.data.len(), 16);
    assert_eq!(l.truncated_from, Some(100));
}

#[test]
fn connected_udp_reports_port_unreachable() {
    let gone = UdpSocket::bind("127.0.0.1:0").unwrap();
    let target = gone.local_addr().unwrap();
    drop(gone);
    let mut h = Harness::new();
    let spec = SessionSpec::new(
        "udp",
        SessionKind::Udp {
            local: Some("127.0.0.1:0".parse().unwrap()),
            connect: Some(HostPort::parse(&target.to_string()).unwrap()),
            join: Vec::new(),
        },
    );
    let id = h.open(spec);
    let ev = h.wait("bound", |e| {
        e.session == id && matches!(e.kind, EventKind::Bound { .. })
    });
    assert!(matches!(ev.kind, EventKind::Bound { peer: Some(Addr::Inet(p)), .. } if p == target));
    h.send(Command::Send {
        target: id,
        data: b"anyone?".to_vec(),
        mode: SendMode::All,
        to: None,
    });
    let ev = h.wait("ICMP error", |e| {
        e.session == id && matches!(e.kind, EventKind::Error(_))
    });
    let EventKind::Error(err) = ev.kind else {
        unreachable!()
    };
    assert_eq!(err.errno_name.as_deref(), Some("ECONNREFUSED"), "{err}");
    assert!(err.hint.unwrap().contains("port unreachable"));
    // The session is still usable.
    h.send(Command::Close { target: id });
    assert_eq!(h.closed(id), CloseReason::Local);
}

#[test]
fn udp_without_destination_says_what_to_do() {
    let mut h = Harness::new();
    let id = h.open(udp("127.0.0.1:0"));
    h.bound(id);
    h.send(Command::Send {
        target: id,
        data: b"x".to_vec(),
        mode: SendMode::All,
        to: None,
    });
    h.wait("no destination", |e| {
        e.session == id
            && matches!(&e.kind, EventKind::Error(er) if er.message.contains("no destination"))
    });
    h.send(Command::Send {
        target: id,
        data: b"x".to_vec(),
        mode: SendMode::All,
        to: Some("127.0.0.1:99999".into()),
    });
    h.wait("bad destination", |e| {
        e.session == id
            && matches!(&e.kind, EventKind::Error(er) if er.message.contains("out of range"))
    });
}

#[test]
fn broadcast_and_multicast_options_read_back() {
    let mut h = Harness::new();
    let mut spec = udp("127.0.0.1:0");
    spec.options = vec![
        SockOpt::flag(OptName::Broadcast, true),
        SockOpt::int(OptName::MulticastTtl, 4),
        SockOpt::flag(OptName::MulticastLoop, false),
        SockOpt::int(OptName::Ttl, 17),
    ];
    let id = h.open(spec);
    let ev = h.wait("options", |e| {
        e.session == id && matches!(e.kind, EventKind::Options(_))
    });
    let EventKind::Options(opts) = ev.kind else {
        unreachable!()
    };
    let get = |n: &str| {
        opts.iter()
            .find(|o| o.name == n)
            .unwrap()
            .actual
            .clone()
            .unwrap()
    };
    assert_eq!(get("SO_BROADCAST"), "true");
    assert_eq!(get("IP_MULTICAST_TTL"), "4");
    assert_eq!(get("IP_MULTICAST_LOOP"), "false");
    assert_eq!(get("IP_TTL"), "17");
    // Multicast join on the loopback-bound socket is attempted and its
    // outcome reported either way (kernels differ in routes for lo).
    h.send(Command::Multicast {
        target: id,
        group: "239.1.2.3".parse().unwrap(),
        join: true,
    });
    h.wait("multicast outcome", |e| {
        e.session == id && matches!(e.kind, EventKind::Multicast { .. } | EventKind::Error(_))
    });
}

#[test]
fn unix_stream_server_and_client_show_paths() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("echo.sock");
    let mut h = Harness::new();
    let mut spec = SessionSpec::new(
        "unix server",
        SessionKind::UnixServer {
            path: path.clone(),
            backlog: 16,
            stale: StalePolicy::Fail,
        },
    );
    spec.responder = Responder::Echo;
    let srv = h.open(spec);
    let ev = h.wait("listening", |e| {
        e.session == srv && matches!(e.kind, EventKind::Listening { .. })
    });
    assert!(
        matches!(&ev.kind, EventKind::Listening { local: Addr::Path(p), .. } if p == path.to_str().unwrap())
    );
    let mut spec = SessionSpec::new(
        "unix client",
        SessionKind::UnixClient { path: path.clone() },
    );
    spec.steps = vec![
        Step::Send {
            data: b"over unix".to_vec().into(),
            to: None,
            mode: SendMode::All,
        },
        Step::WaitRecv(Duration::from_secs(5)),
        Step::Close,
    ];
    let cli = h.open(spec);
    let (local, peer) = h.connected(cli);
    assert_eq!(local, Addr::Unnamed);
    assert_eq!(peer, Addr::Path(path.to_str().unwrap().into()));
    assert_eq!(h.received_bytes(cli, 9), b"over unix");
    assert_eq!(h.closed(cli), CloseReason::ScriptDone);
    h.send(Command::Close { target: srv });
    h.closed(srv);
    assert!(
        !path.exists(),
        "the server removes the socket file it created"
    );
}

#[test]
fn stale_socket_files_need_an_explicit_choice() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("stale.sock");
    drop(UnixListener::bind(&path).unwrap());
    assert!(path.exists());
    let mut h = Harness::new();
    let kind = |stale| SessionKind::UnixServer {
        path: path.clone(),
        backlog: 4,
        stale,
    };
    let srv = h.open(SessionSpec::new("s", kind(StalePolicy::Fail)));
    match h.closed(srv) {
        CloseReason::Error(e) => assert!(e.message.contains("stale"), "{e}"),
        other => panic!("{other:?}"),
    }
    assert!(path.exists(), "never deleted silently");
    // A live server's file is never removed, whatever the policy.
    let dir2 = tempfile::tempdir().unwrap();
    let live_path = dir2.path().join("live.sock");
    let _live = UnixListener::bind(&live_path).unwrap();
    let srv = h.open(SessionSpec::new(
        "s",
        SessionKind::UnixServer {
            path: live_path.clone(),
            backlog: 4,
            stale: StalePolicy::RemoveIfStale,
        },
    ));
    match h.closed(srv) {
        CloseReason::Error(e) => assert!(e.message.contains("may be live"), "{e}"),
        other => panic!("{other:?}"),
    }
    assert!(live_path.exists());
    // With the explicit choice, the stale file goes and the server starts.
    let srv = h.open(SessionSpec::new("s", kind(StalePolicy::RemoveIfStale)));
    h.wait("listening", |e| {
        e.session == srv && matches!(e.kind, EventKind::Listening { .. })
    });
    let mut c = UnixStream::connect(&path).unwrap();
    c.write_all(b"hi").unwrap();
    let (child, _) = h.accepted(srv);
    assert_eq!(h.received(child).0, b"hi");
    // A regular file in the way is never touched.
    let file = dir.path().join("regular");
    std::fs::write(&file, b"keep me").unwrap();
    let srv = h.open(SessionSpec::new(
        "s",
        SessionKind::UnixServer {
            path: file.clone(),
            backlog: 4,
            stale: StalePolicy::RemoveIfStale,
        },
    ));
    assert!(matches!(h.closed(srv), CloseReason::Error(_)));
    assert_eq!(std::fs::read(&file).unwrap(), b"keep me");
}

#[test]
fn unix_datagram_shows_source_paths() {
    let dir = tempfile::tempdir().unwrap();
    let ours = dir.path().join("ours.sock");
    let theirs = dir.path().join("theirs.sock");
    let peer = UnixDatagram::bind(&theirs).unwrap();
    peer.set_read_timeout(Some(DEADLINE)).unwrap();
    let mut h = Harness::new();
    let id = h.open(SessionSpec::new(
        "dgram",
        SessionKind::UnixDatagram {
            local: Some(ours.clone()),
            connect: None,
        },
    ));
    assert_eq!(h.bound(id), Addr::Path(ours.to_str().unwrap().into()));
    peer.send_to(b"ping", &ours).unwrap();
    let (data, src) = h.received(id);
    assert_eq!(data, b"ping");
    assert_eq!(src, Some(Addr::Path(theirs.to_str().unwrap().into())));
    h.send(Command::Send {
        target: id,
        data: b"pong".to_vec(),
        mode: SendMode::All,
        to: Some(theirs.to_str().unwrap().into()),
    });
    let mut buf = [0u8; 16];
    let (n, from) = peer.recv_from(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"pong");
    assert_eq!(from.as_pathname(), Some(ours.as_path()));
    h.send(Command::Close { target: id });
    h.closed(id);
    assert!(!ours.exists(), "the bound path is removed at close");
}

#[test]
fn socketpair_ends_are_two_sessions() {
    let mut h = Harness::new();
    let mut spec = SessionSpec::new("pair", SessionKind::SocketPair);
    spec.responder = Responder::Echo;
    spec.steps = vec![
        Step::Send {
            data: b"through the pair".to_vec().into(),
            to: None,
            mode: SendMode::All,
        },
        Step::WaitRecv(Duration::from_secs(5)),
    ];
    let id = h.open(spec);
    let end1 = id.child(1);
    let end2 = id.child(2);
    let (_, p1) = h.connected(end1);
    assert_eq!(p1, Addr::Unnamed);
    assert_eq!(h.received(end2).0, b"through the pair");
    assert_eq!(h.received_bytes(end1, 16), b"through the pair");
    // Each end can be sent to directly.
    h.send(Command::Send {
        target: end2,
        data: b"direct".to_vec(),
        mode: SendMode::All,
        to: None,
    });
    assert_eq!(h.received_bytes(end1, 6), b"direct");
    h.send(Command::Close { target: end1 });
    assert_eq!(h.closed(end1), CloseReason::Local);
    assert_eq!(h.closed(end2), CloseReason::PeerClosed);
    h.closed(id);
}

#[test]
fn unix_client_to_missing_path_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = Harness::new();
    let id = h.open(SessionSpec::new(
        "c",
        SessionKind::UnixClient {
            path: dir.path().join("nobody.sock"),
        },
    ));
    match h.closed(id) {
        CloseReason::Error(e) => {
            assert_eq!(e.errno_name.as_deref(), Some("ENOENT"));
            assert!(e.hint.unwrap().contains("no socket file"));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn multicast_join_receive_leave_on_loopback_only() {
    use std::net::Ipv4Addr;
    let group: std::net::IpAddr = "239.255.77.1".parse().unwrap();
    let lo = SockOpt::new(OptName::MulticastIfV4, OptValue::Ipv4(Ipv4Addr::LOCALHOST));
    let mut h = Harness::new();
    // Bound to the group address itself: nothing else reaches this socket.
    let mut rx = udp("239.255.77.1:0");
    rx.options = vec![lo, SockOpt::flag(OptName::ReuseAddress, true)];
    if let SessionKind::Udp { join, .. } = &mut rx.kind {
        join.push(group);
    }
    let r = h.open(rx);
    h.wait("joined", |e| {
        e.session == r
            && e.kind
                == EventKind::Multicast {
                    group,
                    joined: true,
                }
    });
    let Addr::Inet(raddr) = h.bound(r) else {
        panic!()
    };
    // TTL 0 keeps every datagram on this host; loop delivers it locally.
    let mut tx = udp("127.0.0.1:0");
    tx.options = vec![
        lo,
        SockOpt::int(OptName::MulticastTtl, 0),
        SockOpt::flag(OptName::MulticastLoop, true),
    ];
    let t = h.open(tx);
    h.bound(t);
    let dest = format!("{group}:{}", raddr.port());
    h.send(Command::Send {
        target: t,
        data: b"to the group".to_vec(),
        mode: SendMode::All,
        to: Some(dest.clone()),
    });
    let (data, src) = h.received(r);
    assert_eq!(data, b"to the group");
    assert!(matches!(src, Some(Addr::Inet(a)) if a.ip() == Ipv4Addr::LOCALHOST));
    h.send(Command::Multicast {
        target: r,
        group,
        join: false,
    });
    h.wait("left", |e| {
        e.session == r
            && e.kind
                == EventKind::Multicast {
                    group,
                    joined: false,
                }
    });
    h.send(Command::Send {
        target: t,
        data: b"nobody listens".to_vec(),
        mode: SendMode::All,
        to: Some(dest),
    });
    h.settle(Duration::from_millis(300));
    let after_leave = h
        .seen
        .iter()
        .filter(|e| {
            e.session == r && matches!(&e.kind, EventKind::Log(l) if l.data == b"nobody listens")
        })
        .count();
    assert_eq!(after_leave, 0, "no datagrams after leaving the group");
}

fn unix_server(path: &std::path::Path) -> SessionSpec {
    SessionSpec::new(
        "unix server",
        SessionKind::UnixServer {
            path: path.to_path_buf(),
            backlog: 16,
            stale: StalePolicy::Fail,
        },
    )
}

/// Regression (hostile input, item 5): a Unix server deleted whatever was
/// at its path when it closed: a regular file a user put there while it
/// ran, and a second instance's live socket. It now unlinks only the
/// socket it bound (same device and inode).
#[test]
fn a_unix_server_removes_only_the_socket_it_bound() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("srv.sock");
    let mut h = Harness::new();
    // A user's file put at the path while the server runs.
    let a = h.open(unix_server(&path));
    h.listening_path(a);
    std::fs::remove_file(&path).unwrap();
    std::fs::write(&path, b"the user's file").unwrap();
    h.send(Command::Close { target: a });
    h.closed(a);
    assert_eq!(std::fs::read(&path).unwrap(), b"the user's file");
    std::fs::remove_file(&path).unwrap();
    // A second instance's socket bound after the first's was unlinked.
    let first = h.open(unix_server(&path));
    h.listening_path(first);
    std::fs::remove_file(&path).unwrap();
    let second = h.open(unix_server(&path));
    h.listening_path(second);
    h.send(Command::Close { target: first });
    h.closed(first);
    assert!(path.exists(), "the second server's socket was deleted");
    std::os::unix::net::UnixStream::connect(&path).expect("the second server still answers");
    h.send(Command::Close { target: second });
    h.closed(second);
    assert!(!path.exists(), "the second server removes its own socket");
}

/// Regression (hostile input, item 5): a NUL byte in a Unix path passed
/// `check` and `run` bound a cut-short path. Refused at load and by the
/// engine itself.
#[test]
fn a_nul_byte_in_a_unix_path_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("nul.ron");
    let cut = dir.path().join("cut");
    let text = format!(
        r#"(name: "n", kind: UnixServer(path: "{}\u{{0}}rest"))"#,
        cut.display()
    );
    std::fs::write(&file, text).unwrap();
    let e = sockscope::preset::load_file(&file).unwrap_err();
    assert!(e.to_string().contains("NUL"), "{e}");
    let mut h = Harness::new();
    let mut bad = cut.as_os_str().to_owned();
    bad.push("\0rest");
    let id = h.open(unix_server(std::path::Path::new(&bad)));
    match h.closed(id) {
        CloseReason::Error(e) => assert!(e.message.contains("NUL"), "{e}"),
        other => panic!("{other:?}"),
    }
    assert!(!cut.exists(), "a cut-short path was bound");
}

fn udp_kind(local: Option<&str>) -> SessionKind {
    SessionKind::Udp {
        local: local.map(|l| l.parse().unwrap()),
        connect: None,
        join: Vec::new(),
    }
}

fn warnings(h: &Harness, id: SessionId) -> Vec<String> {
    h.seen
        .iter()
        .filter(|e| e.session == id)
        .filter_map(|e| match &e.kind {
            EventKind::Warning { code, message } => {
                assert_eq!(*code, "all_interfaces");
                Some(message.clone())
            }
            _ => None,
        })
        .collect()
}

/// Regression (hostile input, item 2): `Udp()` with no local address
/// bound 0.0.0.0 and, with a responder, answered on every interface, and
/// nothing said so. A datagram session that answers binds loopback; one
/// that only sends is bound as a first sendto would be; anything that
/// listens or answers on every interface gets a `warning`.
#[test]
fn listeners_on_every_interface_are_never_by_accident() {
    let mut h = Harness::new();
    let mut answering = SessionSpec::new("echo", udp_kind(None));
    answering.responder = Responder::Echo;
    let a = h.open(answering);
    match h.bound(a) {
        Addr::Inet(sa) => assert!(sa.ip().is_loopback(), "{sa}"),
        other => panic!("{other:?}"),
    }
    let sender = h.open(SessionSpec::new("sender", udp_kind(None)));
    match h.bound(sender) {
        Addr::Inet(sa) => assert!(sa.ip().is_unspecified(), "{sa}"),
        other => panic!("{other:?}"),
    }
    let port = free_port();
    let explicit = h.open(SessionSpec::new(
        "all",
        udp_kind(Some(&format!("0.0.0.0:{port}"))),
    ));
    h.bound(explicit);
    let mut srv = server("0.0.0.0:0");
    srv.responder = Responder::Echo;
    let tcp = h.open(srv);
    h.wait("listening", |e| {
        e.session == tcp && matches!(e.kind, EventKind::Listening { .. })
    });
    h.settle(Duration::from_millis(100));
    assert!(warnings(&h, a).is_empty());
    assert!(warnings(&h, sender).is_empty());
    let w = warnings(&h, explicit);
    assert!(
        w.len() == 1 && w[0].contains("receives on every interface"),
        "{w:?}"
    );
    let w = warnings(&h, tcp);
    assert!(
        w.len() == 1 && w[0].contains("listens on every interface"),
        "{w:?}"
    );
    assert!(w[0].contains("bind 127.0.0.1"), "{w:?}");
}
