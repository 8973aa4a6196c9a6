//! Relays on real loopback sockets: std clients in front, std servers (in
//! their own threads) behind, the relay in between.

mod common;

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::os::unix::net::{UnixListener, UnixStream};
use std::thread;
use std::time::Duration;

use common::*;
use sockscope::engine::SessionId;
use sockscope::engine::protocol::{CloseReason, Direction, EventKind, Leg, Side};
use sockscope::engine::spec::{RelayEnd, SessionKind, SessionSpec};

fn relay(listen: &str, target: RelayEnd) -> SessionSpec {
    SessionSpec::new(
        "relay",
        SessionKind::Relay {
            listen: RelayEnd::parse(listen).unwrap(),
            target,
        },
    )
}

fn tcp(a: SocketAddr) -> RelayEnd {
    RelayEnd::Tcp(a)
}

fn connect(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(DEADLINE)).unwrap();
    s
}

/// Everything `id` logged in direction `dir`, joined.
fn logged(h: &Harness, id: SessionId, dir: Direction) -> Vec<u8> {
    h.seen
        .iter()
        .filter(|e| e.session == id)
        .filter_map(|e| match &e.kind {
            EventKind::Log(l) if l.dir == dir => Some(l.data.clone()),
            _ => None,
        })
        .flatten()
        .collect()
}

/// How `id` closed, whether or not its `closed` came after the cursor
/// (the two legs of a connection close in either order).
fn closed_any(h: &mut Harness, id: SessionId) -> CloseReason {
    match h
        .find_any("closed", |e| {
            e.session == id && matches!(e.kind, EventKind::Closed { .. })
        })
        .kind
    {
        EventKind::Closed { reason, .. } => reason,
        _ => unreachable!(),
    }
}

fn closed_count(h: &Harness, id: SessionId) -> usize {
    h.seen
        .iter()
        .filter(|e| e.session == id && matches!(e.kind, EventKind::Closed { .. }))
        .count()
}

#[test]
fn legs_pair_up_as_documented() {
    assert_eq!(Leg::of(1), Leg::Client);
    assert_eq!(Leg::of(2), Leg::Server);
    assert_eq!(Leg::partner(1), 2);
    assert_eq!(Leg::partner(6), 5);
    assert_eq!(Leg::Client.way(Direction::In), "client→server");
    assert_eq!(Leg::Server.way(Direction::Out), "client→server");
    assert_eq!(Leg::Server.way(Direction::In), "server→client");
}

#[test]
fn a_relay_forwards_both_ways_and_passes_each_fin_on() {
    let upstream = TcpListener::bind("127.0.0.1:0").unwrap();
    let target = upstream.local_addr().unwrap();
    // The server reads to the client's FIN, answers, then sends its own.
    let server = thread::spawn(move || {
        let (mut s, _) = upstream.accept().unwrap();
        s.set_read_timeout(Some(DEADLINE)).unwrap();
        let mut got = Vec::new();
        s.read_to_end(&mut got).unwrap();
        s.write_all(b"answer to ").unwrap();
        s.write_all(&got).unwrap();
        got
    });
    let mut h = Harness::new();
    let r = h.open(relay("127.0.0.1:0", tcp(target)));
    let addr = h.listening(r);
    let mut c = connect(addr);
    c.write_all("hello 你好".as_bytes()).unwrap();
    c.shutdown(Shutdown::Write).unwrap();
    let mut back = Vec::new();
    c.read_to_end(&mut back).unwrap();
    assert_eq!(server.join().unwrap(), "hello 你好".as_bytes());
    assert_eq!(back, "answer to hello 你好".as_bytes());

    let (client_leg, _) = h.accepted(r);
    assert_eq!(client_leg, r.child(1));
    let server_leg = r.child(2);
    let (_, peer) = h.connected(server_leg);
    assert_eq!(peer.to_string(), target.to_string());
    closed_any(&mut h, client_leg);
    closed_any(&mut h, server_leg);
    // Both legs in one log, each way twice: as read and as forwarded.
    assert_eq!(
        logged(&h, client_leg, Direction::In),
        "hello 你好".as_bytes()
    );
    assert_eq!(
        logged(&h, server_leg, Direction::Out),
        "hello 你好".as_bytes()
    );
    assert_eq!(
        logged(&h, server_leg, Direction::In),
        "answer to hello 你好".as_bytes()
    );
    assert_eq!(
        logged(&h, client_leg, Direction::Out),
        "answer to hello 你好".as_bytes()
    );
    // The client's FIN came first and became our shutdown towards the
    // server; the server's FIN then became ours towards the client.
    let halves: Vec<(SessionId, Side)> = h
        .seen
        .iter()
        .filter_map(|e| match e.kind {
            EventKind::HalfClosed { by } => Some((e.session, by)),
            _ => None,
        })
        .collect();
    assert_eq!(
        halves,
        vec![
            (client_leg, Side::Peer),
            (server_leg, Side::Local),
            (server_leg, Side::Peer),
            (client_leg, Side::Local),
        ]
    );
    h.settle(Duration::from_millis(100));
    assert_eq!(closed_count(&h, client_leg), 1);
    assert_eq!(closed_count(&h, server_leg), 1);
}

#[test]
fn an_rst_from_either_side_resets_the_other() {
    for server_resets in [true, false] {
        let upstream = TcpListener::bind("127.0.0.1:0").unwrap();
        let target = upstream.local_addr().unwrap();
        let mut h = Harness::new();
        let r = h.open(relay("127.0.0.1:0", tcp(target)));
        let addr = h.listening(r);
        let mut c = connect(addr);
        let (mut s, _) = upstream.accept().unwrap();
        s.set_read_timeout(Some(DEADLINE)).unwrap();
        c.write_all(b"x").unwrap();
        let mut one = [0u8; 1];
        s.read_exact(&mut one).unwrap();
        let (reset, mut other) = if server_resets { (s, c) } else { (c, s) };
        // Closing a SO_LINGER 0 socket sends RST; the other end must see
        // one too, not a FIN.
        socket2::SockRef::from(&reset)
            .set_linger(Some(Duration::ZERO))
            .unwrap();
        drop(reset);
        let mut buf = [0u8; 16];
        match other.read(&mut buf) {
            Err(e) if e.kind() == ErrorKind::ConnectionReset => {}
            r => panic!("server_resets={server_resets}: {r:?} instead of an RST"),
        }
        let (reset_leg, other_leg) = if server_resets {
            (r.child(2), r.child(1))
        } else {
            (r.child(1), r.child(2))
        };
        assert_eq!(closed_any(&mut h, reset_leg), CloseReason::PeerReset);
        assert_eq!(closed_any(&mut h, other_leg), CloseReason::Aborted);
    }
}

#[test]
fn a_target_that_refuses_closes_the_client_and_says_why() {
    let target: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let mut h = Harness::new();
    let r = h.open(relay("127.0.0.1:0", tcp(target)));
    let addr = h.listening(r);
    let mut c = connect(addr);
    let mut rest = Vec::new();
    c.read_to_end(&mut rest).unwrap();
    assert!(rest.is_empty());
    match h.closed(r.child(2)) {
        CloseReason::Error(e) => assert!(e.to_string().contains("refused"), "{e}"),
        other => panic!("{other:?}"),
    }
    let said = h.find_any("the client leg told", |e| {
        e.session == r.child(1) && matches!(&e.kind, EventKind::Error(_))
    });
    let EventKind::Error(e) = said.kind else {
        unreachable!()
    };
    assert!(e.to_string().contains("target"), "{e}");
    closed_any(&mut h, r.child(1));
    // The relay itself stays up for the next client.
    let names = h.names_of(r);
    assert!(!names.contains(&"closed"), "{names:?}");
}

#[test]
fn clients_each_get_their_own_upstream_and_inject_reaches_either_side() {
    let upstream = TcpListener::bind("127.0.0.1:0").unwrap();
    let target = upstream.local_addr().unwrap();
    let mut h = Harness::new();
    let r = h.open(relay("127.0.0.1:0", tcp(target)));
    let addr = h.listening(r);
    let mut pairs = Vec::new();
    for k in 1..=3u32 {
        let mut c = connect(addr);
        let (mut s, _) = upstream.accept().unwrap();
        s.set_read_timeout(Some(DEADLINE)).unwrap();
        let msg = format!("client {k}");
        c.write_all(msg.as_bytes()).unwrap();
        let mut buf = vec![0; msg.len()];
        s.read_exact(&mut buf).unwrap();
        assert_eq!(buf, msg.as_bytes());
        h.connected(r.child(2 * k));
        pairs.push((c, s));
    }
    // Inject: towards the client of pair 2, and towards its server.
    h.send(send(r.child(3), b"to the client"));
    h.send(send(r.child(4), b"to the server"));
    let (c, s) = &mut pairs[1];
    let mut buf = [0u8; 13];
    c.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"to the client");
    s.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"to the server");
    // The user closes one leg: the whole relayed connection ends.
    h.send(sockscope::engine::protocol::Command::Close { target: r.child(5) });
    let (c, s) = &mut pairs[2];
    let mut rest = Vec::new();
    c.read_to_end(&mut rest).unwrap();
    s.read_to_end(&mut rest).unwrap();
    assert!(rest.is_empty());
    closed_any(&mut h, r.child(5));
    closed_any(&mut h, r.child(6));
    // Closing the relay closes every leg left, each once.
    h.send(sockscope::engine::protocol::Command::Close { target: r });
    h.closed(r);
    for child in 1..=6 {
        assert_eq!(closed_count(&h, r.child(child)), 1, "child {child}");
    }
}

#[test]
fn a_server_that_does_not_read_slows_the_client_down() {
    let upstream = TcpListener::bind("127.0.0.1:0").unwrap();
    let target = upstream.local_addr().unwrap();
    let mut h = Harness::new();
    let mut spec = relay("127.0.0.1:0", tcp(target));
    spec.limits.high_water = 256 * 1024;
    spec.limits.low_water = 64 * 1024;
    let r = h.open(spec);
    let addr = h.listening(r);
    let mut c = connect(addr);
    let (mut s, _) = upstream.accept().unwrap();
    c.set_nonblocking(true).unwrap();
    // Write until the relay stops taking: what is in flight is bounded by
    // the kernel's buffers and our high-water mark, not by what we offer.
    let pattern: Vec<u8> = (0..65536u32).map(|i| (i * 7 % 251) as u8).collect();
    let mut written = 0usize;
    let mut stalls = 0;
    while written < 256 * 1024 * 1024 {
        let off = written % pattern.len();
        match c.write(&pattern[off..]) {
            Ok(n) => {
                written += n;
                stalls = 0;
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                stalls += 1;
                if stalls > 20 {
                    break;
                }
                thread::sleep(Duration::from_millis(20));
            }
            Err(e) => panic!("{e}"),
        }
    }
    // At most two sockets' worth of kernel buffers each way, the queue
    // up to its mark and one read: far less than was offered.
    let max_of = |f: &str| -> usize {
        std::fs::read_to_string(f)
            .ok()
            .and_then(|s| s.split_whitespace().last()?.parse().ok())
            .unwrap_or(8 << 20)
    };
    let bound = 2 * max_of("/proc/sys/net/ipv4/tcp_rmem")
        + 2 * max_of("/proc/sys/net/ipv4/tcp_wmem")
        + 256 * 1024
        + 1024 * 1024;
    eprintln!("in flight when the client stalled: {written} bytes (bound {bound})");
    assert!(
        written <= bound.min(200 << 20),
        "the relay took {written} bytes from a client whose server reads nothing"
    );
    // The server reads it all now: every byte, in order.
    c.set_nonblocking(false).unwrap();
    c.shutdown(Shutdown::Write).unwrap();
    s.set_read_timeout(Some(DEADLINE)).unwrap();
    let mut got = Vec::new();
    s.read_to_end(&mut got).unwrap();
    assert_eq!(got.len(), written);
    for (i, chunk) in got.chunks(pattern.len()).enumerate() {
        assert!(chunk == &pattern[..chunk.len()], "chunk {i} differs");
    }
    // Reads were held rather than the queue grown past its mark.
    let most_queued = h
        .seen
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::WritePaused { queued } | EventKind::WriteResumed { queued } => Some(*queued),
            _ => None,
        })
        .max()
        .unwrap_or(0);
    assert!(most_queued < 256 * 1024 + 256 * 1024, "{most_queued}");
}

#[test]
fn unix_paths_on_either_end() {
    let dir = tempfile::tempdir().unwrap();
    let back = dir.path().join("server.sock");
    let front = dir.path().join("relay.sock");
    let upstream = UnixListener::bind(&back).unwrap();
    let server = thread::spawn(move || {
        let (mut s, _) = upstream.accept().unwrap();
        let mut got = Vec::new();
        s.read_to_end(&mut got).unwrap();
        s.write_all(&got).unwrap();
    });
    let mut h = Harness::new();
    let r = h.open(relay(
        &format!("unix:{}", front.display()),
        RelayEnd::Unix(back.clone()),
    ));
    h.listening_path(r);
    let mut c = UnixStream::connect(&front).unwrap();
    c.set_read_timeout(Some(DEADLINE)).unwrap();
    c.write_all(b"over unix").unwrap();
    c.shutdown(Shutdown::Write).unwrap();
    let mut got = Vec::new();
    c.read_to_end(&mut got).unwrap();
    assert_eq!(got, b"over unix");
    server.join().unwrap();
    closed_any(&mut h, r.child(1));
    closed_any(&mut h, r.child(2));
    h.send(sockscope::engine::protocol::Command::Close { target: r });
    h.closed(r);
    assert!(!front.exists(), "the relay's own socket file is removed");
    assert!(back.exists(), "the server's is not the relay's to remove");
}
