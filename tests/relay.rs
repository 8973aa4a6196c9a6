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
            rules: Vec::new(),
            target_tls: None,
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
    h.closed_any(client_leg);
    h.closed_any(server_leg);
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
        assert_eq!(h.closed_any(reset_leg), CloseReason::PeerReset);
        assert_eq!(h.closed_any(other_leg), CloseReason::Aborted);
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
    h.closed_any(r.child(1));
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
    h.closed_any(r.child(5));
    h.closed_any(r.child(6));
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
    h.closed_any(r.child(1));
    h.closed_any(r.child(2));
    h.send(sockscope::engine::protocol::Command::Close { target: r });
    h.closed(r);
    assert!(!front.exists(), "the relay's own socket file is removed");
    assert!(back.exists(), "the server's is not the relay's to remove");
}

fn rules_relay(target: SocketAddr, rules: &str) -> SessionSpec {
    let kind = SessionKind::Relay {
        listen: RelayEnd::parse("127.0.0.1:0").unwrap(),
        target: tcp(target),
        rules: sockscope::preset::relay_rules_from_text(rules, Default::default()).unwrap(),
        target_tls: None,
    };
    SessionSpec::new("relay", kind)
}

/// A relay with `rules` in front of a fresh listener: the relay's address,
/// a client connected through it and the server's end.
fn through(h: &mut Harness, rules: &str) -> (SessionId, TcpStream, TcpStream) {
    let upstream = TcpListener::bind("127.0.0.1:0").unwrap();
    let r = h.open(rules_relay(upstream.local_addr().unwrap(), rules));
    let addr = h.listening(r);
    let c = connect(addr);
    let (s, _) = upstream.accept().unwrap();
    s.set_read_timeout(Some(DEADLINE)).unwrap();
    (r, c, s)
}

fn rule_events(h: &Harness, index: usize) -> Vec<String> {
    h.seen
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::Rule { index: i, what, .. } if *i == index => Some(what.clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn rules_rewrite_towards_the_server_and_delay_the_answer() {
    let mut h = Harness::new();
    let (r, mut c, mut s) = through(
        &mut h,
        r#"[(to: Server, match: Regex("GET (\\S+)"), action: Rewrite(Text("GET /v2$1"))),
            (to: Client, action: Delay(0.3))]"#,
    );
    c.write_all(b"GET /x").unwrap();
    let mut buf = [0u8; 9];
    s.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"GET /v2/x");
    let sent = std::time::Instant::now();
    s.write_all(b"ok").unwrap();
    let mut two = [0u8; 2];
    c.read_exact(&mut two).unwrap();
    assert_eq!(&two, b"ok");
    assert!(
        sent.elapsed() >= Duration::from_millis(300),
        "{:?}",
        sent.elapsed()
    );
    // The log shows the chunk as it came and as it went.
    h.wait("forwarded", |e| {
        e.session == r.child(2) && matches!(&e.kind, EventKind::Log(l) if l.dir == Direction::Out)
    });
    assert_eq!(logged(&h, r.child(1), Direction::In), b"GET /x");
    assert_eq!(logged(&h, r.child(2), Direction::Out), b"GET /v2/x");
    h.find_any("rule 1 acted", |e| {
        matches!(&e.kind, EventKind::Rule { index: 1, .. })
    });
    assert!(
        rule_events(&h, 0)[0].contains("rewrote 6 bytes to 9"),
        "{:?}",
        rule_events(&h, 0)
    );
}

#[test]
fn a_drop_rule_switched_off_live_lets_chunks_through() {
    let mut h = Harness::new();
    let (r, mut c, mut s) = through(
        &mut h,
        r#"[(to: Server, match: Contains(Text("secret")), action: Drop)]"#,
    );
    c.write_all(b"my secret").unwrap();
    h.find_any(
        "dropped",
        |e| matches!(&e.kind, EventKind::Rule { index: 0, what, .. } if what.contains("dropped 9")),
    );
    h.send(sockscope::engine::protocol::Command::SetRule {
        target: r,
        index: 0,
        enabled: false,
    });
    h.find_any("switched off", |e| {
        e.session == r
            && matches!(&e.kind, EventKind::Rule { what, .. } if what.starts_with("switched off"))
    });
    c.write_all(b"my secret again").unwrap();
    let mut buf = [0u8; 15];
    s.read_exact(&mut buf).unwrap();
    assert_eq!(
        &buf, b"my secret again",
        "only the chunk sent after the switch arrives"
    );
    // A rule that is not there is said so.
    h.send(sockscope::engine::protocol::Command::SetRule {
        target: r,
        index: 7,
        enabled: true,
    });
    h.find_any(
        "no rule 7",
        |e| matches!(&e.kind, EventKind::Error(err) if err.to_string().contains("no rule 7")),
    );
}

#[test]
fn limit_closes_both_sides_and_reset_resets_both() {
    let mut h = Harness::new();
    let (r, mut c, mut s) = through(&mut h, r#"[(to: Server, action: Limit(5))]"#);
    c.write_all(b"0123456789").unwrap();
    let mut got = Vec::new();
    s.read_to_end(&mut got).unwrap();
    assert_eq!(got, b"01234");
    let mut rest = Vec::new();
    c.read_to_end(&mut rest).unwrap();
    h.closed_any(r.child(1));
    h.closed_any(r.child(2));

    let mut h = Harness::new();
    let (r, mut c, mut s) = through(
        &mut h,
        r#"[(to: Client, match: Equals(Text("boom")), action: Reset)]"#,
    );
    s.write_all(b"boom").unwrap();
    let mut buf = [0u8; 4];
    match c.read(&mut buf) {
        Err(e) if e.kind() == ErrorKind::ConnectionReset => {}
        other => panic!("{other:?}"),
    }
    match s.read(&mut buf) {
        Err(e) if e.kind() == ErrorKind::ConnectionReset => {}
        other => panic!("{other:?}"),
    }
    assert_eq!(h.closed_any(r.child(1)), CloseReason::Aborted);
    assert_eq!(h.closed_any(r.child(2)), CloseReason::Aborted);
}

#[test]
fn slice_black_hole_and_slow_close() {
    let mut h = Harness::new();
    let (r, mut c, mut s) = through(
        &mut h,
        r#"[(to: Server, action: Slice(size: 2, pause: 0.02)),
            (to: Client, match: StartsWith(Text("!")), action: BlackHole),
            (to: Server, action: SlowClose(0.3))]"#,
    );
    c.write_all(b"abcde").unwrap();
    let mut buf = [0u8; 5];
    s.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"abcde");
    // Three writes towards the server, in order.
    for _ in 0..3 {
        h.wait("a slice", |e| {
            e.session == r.child(2)
                && matches!(&e.kind, EventKind::Log(l) if l.dir == Direction::Out)
        });
    }
    let sends: Vec<usize> = h
        .seen
        .iter()
        .filter(|e| e.session == r.child(2))
        .filter_map(|e| match &e.kind {
            EventKind::Log(l) if l.dir == Direction::Out => Some(l.data.len()),
            _ => None,
        })
        .collect();
    assert_eq!(sends, vec![2, 2, 1]);
    // Back to the client: through until the black hole swallows it all.
    s.write_all(b"fine").unwrap();
    let mut four = [0u8; 4];
    c.read_exact(&mut four).unwrap();
    s.write_all(b"!gone").unwrap();
    h.find_any("swallowed", |e| {
        matches!(&e.kind, EventKind::Rule { index: 1, .. })
    });
    s.write_all(b"also gone").unwrap();
    c.set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    assert!(
        matches!(c.read(&mut buf), Err(e) if e.kind() == ErrorKind::WouldBlock),
        "nothing comes through a black hole, and the connection stays open"
    );
    // The client's FIN reaches the server only after the slow close.
    let fin = std::time::Instant::now();
    c.shutdown(Shutdown::Write).unwrap();
    let mut rest = Vec::new();
    s.read_to_end(&mut rest).unwrap();
    assert!(rest.is_empty());
    assert!(
        fin.elapsed() >= Duration::from_millis(300),
        "{:?}",
        fin.elapsed()
    );
}

#[test]
fn intercepted_chunks_wait_for_the_user_and_what_follows_waits_behind_them() {
    use sockscope::engine::protocol::{Command, Release};
    let mut h = Harness::new();
    let (r, mut c, mut s) = through(
        &mut h,
        r#"[(to: Server, match: Contains(Text("POST")), action: Intercept)]"#,
    );
    let leg = r.child(1);
    let held = |h: &mut Harness, n: u64| match h
        .find_any("intercepted", |e| {
            e.session == leg && matches!(e.kind, EventKind::Intercepted { id, .. } if id == n)
        })
        .kind
    {
        EventKind::Intercepted { data, .. } => data,
        _ => unreachable!(),
    };
    c.write_all(b"GET a").unwrap();
    let mut five = [0u8; 5];
    s.read_exact(&mut five).unwrap();
    assert_eq!(&five, b"GET a");
    c.write_all(b"POST b").unwrap();
    assert_eq!(held(&mut h, 1), b"POST b");
    // Nothing overtakes a held chunk.
    c.write_all(b"GET c").unwrap();
    s.set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    assert!(matches!(s.read(&mut five), Err(e) if e.kind() == ErrorKind::WouldBlock));
    s.set_read_timeout(Some(DEADLINE)).unwrap();
    h.send(Command::Release {
        target: leg,
        id: 1,
        verdict: Release::Forward(Some(b"POST edited".to_vec())),
    });
    let mut got = vec![0u8; 16];
    s.read_exact(&mut got).unwrap();
    assert_eq!(got, b"POST editedGET c");
    h.find_any("released", |e| {
        matches!(
            &e.kind,
            EventKind::Released {
                id: 1,
                how: "forwarded edited",
                sent: 11
            }
        )
    });
    // Dropped: never sent; what follows goes on.
    c.write_all(b"POST d").unwrap();
    held(&mut h, 2);
    h.send(Command::Release {
        target: leg,
        id: 2,
        verdict: Release::Drop,
    });
    h.find_any("dropped", |e| {
        matches!(
            &e.kind,
            EventKind::Released {
                id: 2,
                how: "dropped",
                ..
            }
        )
    });
    c.write_all(b"GET e").unwrap();
    s.read_exact(&mut five).unwrap();
    assert_eq!(&five, b"GET e");
    // A chunk that is not held is said so.
    h.send(Command::Release {
        target: leg,
        id: 2,
        verdict: Release::Drop,
    });
    h.find_any("not held", |e| {
        matches!(&e.kind, EventKind::Error(err) if err.to_string().contains("no chunk 2 is held"))
    });
    // The client's FIN waits behind a held chunk; forward all lets both go.
    c.write_all(b"POST f").unwrap();
    held(&mut h, 3);
    c.shutdown(Shutdown::Write).unwrap();
    s.set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    assert!(matches!(s.read(&mut five), Err(e) if e.kind() == ErrorKind::WouldBlock));
    s.set_read_timeout(Some(DEADLINE)).unwrap();
    h.send(Command::Release {
        target: r,
        id: 0,
        verdict: Release::ForwardAll,
    });
    let mut rest = Vec::new();
    s.read_to_end(&mut rest).unwrap();
    assert_eq!(rest, b"POST f", "the chunk, then the FIN");
}

#[test]
fn a_udp_relay_gives_each_source_its_own_upstream() {
    use std::net::UdpSocket;
    let server = UdpSocket::bind("127.0.0.1:0").unwrap();
    let target = server.local_addr().unwrap();
    let echo = thread::spawn(move || {
        server.set_read_timeout(Some(DEADLINE)).unwrap();
        let mut froms = Vec::new();
        let mut buf = [0u8; 2048];
        for _ in 0..3 {
            let (n, from) = server.recv_from(&mut buf).unwrap();
            server
                .send_to(&[b"re: ", &buf[..n]].concat(), from)
                .unwrap();
            froms.push(from);
        }
        froms
    });
    let mut h = Harness::new();
    let r = h.open(SessionSpec::new(
        "udp relay",
        SessionKind::Relay {
            listen: RelayEnd::parse("udp:127.0.0.1:0").unwrap(),
            target: RelayEnd::Udp(target),
            rules: Vec::new(),
            target_tls: None,
        },
    ));
    let addr: SocketAddr = match h.bound(r) {
        sockscope::engine::protocol::Addr::Inet(a) => a,
        other => panic!("{other:?}"),
    };
    let a = UdpSocket::bind("127.0.0.1:0").unwrap();
    let b = UdpSocket::bind("127.0.0.1:0").unwrap();
    for s in [&a, &b] {
        s.set_read_timeout(Some(DEADLINE)).unwrap();
    }
    let mut buf = [0u8; 64];
    for (s, msg) in [(&a, &b"one"[..]), (&b, b"two"), (&a, b"three")] {
        s.send_to(msg, addr).unwrap();
        let (n, from) = s.recv_from(&mut buf).unwrap();
        assert_eq!(&buf[..n], [&b"re: "[..], msg].concat());
        assert_eq!(from, addr, "answers come from the relay's socket");
    }
    let froms = echo.join().unwrap();
    // Two sources, two upstream sockets: a's two datagrams share one.
    assert_eq!(froms[0], froms[2]);
    assert_ne!(froms[0], froms[1]);
    for child in [2, 4] {
        let bound = h.find_any("upstream bound", |e| {
            e.session == r.child(child) && matches!(e.kind, EventKind::Bound { .. })
        });
        let EventKind::Bound { peer, .. } = bound.kind else {
            unreachable!()
        };
        assert_eq!(peer.unwrap().to_string(), target.to_string());
    }
    assert_eq!(logged(&h, r.child(2), Direction::Out), b"onethree");
    assert_eq!(logged(&h, r.child(4), Direction::In), b"re: two");
    assert_eq!(logged(&h, r, Direction::In), b"onetwothree");
    h.send(sockscope::engine::protocol::Command::Close { target: r });
    h.closed(r);
    for child in [2, 4] {
        assert_eq!(closed_count(&h, r.child(child)), 1, "child {child}");
        assert_eq!(h.closed_any(r.child(child)), CloseReason::ParentClosed);
    }
}

/// TLS on both sides: a client speaks TLS to the relay (a generated
/// certificate), the relay speaks TLS to a TLS echo server (unverified,
/// as asked), and both legs log the plaintext.
#[test]
fn tls_towards_clients_and_towards_the_target() {
    use sockscope::engine::protocol::SendMode;
    use sockscope::engine::spec::{Responder, Step};
    use sockscope::engine::tls::{TlsClientSpec, TlsServerSpec, TlsSpec};
    let insecure = || {
        TlsSpec::Client(TlsClientSpec {
            insecure: true,
            ..TlsClientSpec::default()
        })
    };
    let mut h = Harness::new();
    let mut echo = server("127.0.0.1:0");
    echo.responder = Responder::Echo;
    echo.tls = Some(TlsSpec::Server(TlsServerSpec::default()));
    let e = h.open(echo);
    let target = h.listening(e);
    let mut spec = SessionSpec::new(
        "tls relay",
        SessionKind::Relay {
            listen: RelayEnd::parse("127.0.0.1:0").unwrap(),
            target: tcp(target),
            rules: Vec::new(),
            target_tls: Some(insecure()),
        },
    );
    spec.tls = Some(TlsSpec::Server(TlsServerSpec::default()));
    let r = h.open(spec);
    let addr = h.listening(r);
    let mut c = client(addr);
    c.tls = Some(insecure());
    c.steps = vec![
        Step::Send {
            data: "secret 你好".as_bytes().to_vec().into(),
            to: None,
            mode: SendMode::All,
        },
        Step::WaitRecv(Duration::from_secs(5)),
        Step::Close,
    ];
    let c = h.open(c);
    assert_eq!(h.received(c).0, "secret 你好".as_bytes());
    assert_eq!(h.closed(c), CloseReason::ScriptDone);
    for leg in [r.child(1), r.child(2)] {
        h.find_any("a handshake on each leg", |ev| {
            ev.session == leg && matches!(ev.kind, EventKind::Tls(_))
        });
        h.closed_any(leg);
    }
    // The relay sees plaintext both ways, on both legs.
    assert_eq!(
        logged(&h, r.child(1), Direction::In),
        "secret 你好".as_bytes()
    );
    assert_eq!(
        logged(&h, r.child(2), Direction::Out),
        "secret 你好".as_bytes()
    );
    assert_eq!(
        logged(&h, r.child(2), Direction::In),
        "secret 你好".as_bytes()
    );
    assert_eq!(
        logged(&h, r.child(1), Direction::Out),
        "secret 你好".as_bytes()
    );
}

/// A leg that ends while a rule still holds what it read hands that on:
/// the server already sent its FIN, the client's last chunk is delayed,
/// then the client's FIN ends the client's leg outright.
#[test]
fn chunks_a_rule_holds_are_not_lost_when_their_leg_ends() {
    let mut h = Harness::new();
    let (r, mut c, mut s) = through(&mut h, r#"[(to: Server, action: Delay(0.5))]"#);
    s.shutdown(Shutdown::Write).unwrap();
    let mut none = [0u8; 1];
    assert_eq!(
        c.read(&mut none).unwrap(),
        0,
        "the server's FIN came through"
    );
    c.write_all(b"late words").unwrap();
    c.shutdown(Shutdown::Write).unwrap();
    h.closed_any(r.child(1));
    let mut got = Vec::new();
    s.read_to_end(&mut got).unwrap();
    assert_eq!(got, b"late words");
    h.closed_any(r.child(2));
    h.find_any("said so", |e| {
        e.session == r.child(2)
            && matches!(&e.kind, EventKind::Step { what, .. } if what.contains("10 bytes still held"))
    });
}

/// A UDP relay with `rules` in front of `target`: the relay and the
/// address clients send to.
fn udp_rules_relay(h: &mut Harness, target: SocketAddr, rules: &str) -> (SessionId, SocketAddr) {
    let r = h.open(SessionSpec::new(
        "udp relay",
        SessionKind::Relay {
            listen: RelayEnd::parse("udp:127.0.0.1:0").unwrap(),
            target: RelayEnd::Udp(target),
            rules: sockscope::preset::relay_rules_from_text(rules, Default::default()).unwrap(),
            target_tls: None,
        },
    ));
    match h.bound(r) {
        sockscope::engine::protocol::Addr::Inet(a) => (r, a),
        other => panic!("{other:?}"),
    }
}

/// Rules on datagrams: a rewrite and a drop towards the server, a delay
/// back, an intercept that what follows waits behind, and a limit that
/// closes the source's upstream (its next datagram opens a new one).
#[test]
fn rules_work_on_a_udp_relays_datagrams() {
    use sockscope::engine::protocol::{Command, Release};
    use std::net::UdpSocket;
    use std::time::Instant;
    let server = UdpSocket::bind("127.0.0.1:0").unwrap();
    let target = server.local_addr().unwrap();
    let echo = thread::spawn(move || {
        server.set_read_timeout(Some(DEADLINE)).unwrap();
        let mut got = Vec::new();
        let mut buf = [0u8; 2048];
        loop {
            let (n, from) = server.recv_from(&mut buf).unwrap();
            let d = buf[..n].to_vec();
            let _ = server.send_to(&[b"re: ", &d[..]].concat(), from);
            let last = d == b"new";
            got.push((d, from));
            if last {
                return got;
            }
        }
    });
    let mut h = Harness::new();
    let (r, addr) = udp_rules_relay(
        &mut h,
        target,
        r#"[(to: Server, match: StartsWith(Text("GET")), action: Rewrite(Text("PUT"))),
            (to: Server, match: Contains(Text("secret")), action: Drop),
            (to: Client, action: Delay(0.3)),
            (to: Server, match: StartsWith(Text("HOLD")), action: Intercept),
            (to: Server, action: Limit(40))]"#,
    );
    let a = UdpSocket::bind("127.0.0.1:0").unwrap();
    a.set_read_timeout(Some(DEADLINE)).unwrap();
    let mut buf = [0u8; 64];
    let mut answer = |a: &UdpSocket| {
        let (n, from) = a.recv_from(&mut buf).unwrap();
        assert_eq!(from, addr);
        buf[..n].to_vec()
    };
    let t = Instant::now();
    a.send_to(b"GET x", addr).unwrap();
    assert_eq!(answer(&a), b"re: PUT x", "rewritten on the way in");
    assert!(
        t.elapsed() >= Duration::from_millis(300),
        "the answer was delayed"
    );
    a.send_to(b"a secret", addr).unwrap();
    h.find_any(
        "dropped",
        |e| matches!(&e.kind, EventKind::Rule { index: 1, what, .. } if what == "dropped 8 bytes"),
    );
    // Held for the user; what follows waits behind it.
    let up = r.child(2);
    a.send_to(b"HOLD 1", addr).unwrap();
    let held = h.find_any("intercepted", |e| {
        e.session == up
            && matches!(&e.kind, EventKind::Intercepted { data, .. } if data == b"HOLD 1")
    });
    let EventKind::Intercepted { id, .. } = held.kind else {
        unreachable!()
    };
    a.send_to(b"after", addr).unwrap();
    h.settle(Duration::from_millis(300));
    assert_eq!(
        logged(&h, up, Direction::Out),
        b"PUT x",
        "nothing overtook the held one"
    );
    h.send(Command::Release {
        target: up,
        id,
        verdict: Release::Forward(Some(b"HOLD edited".to_vec())),
    });
    assert_eq!(answer(&a), b"re: HOLD edited");
    assert_eq!(answer(&a), b"re: after");
    // The limit counted 10 bytes so far (the intercepted datagram left
    // the rules at its intercept, before the limit): 40 cuts this one to
    // 30 and closes the upstream once the answers it still holds are out.
    a.send_to(b"01234567890123456789012345678901234", addr)
        .unwrap();
    assert_eq!(h.closed_any(up), CloseReason::Local);
    h.find_any("limit said", |e| {
        e.session == up
            && matches!(&e.kind, EventKind::Step { what, .. } if what.starts_with("limit reached: this upstream is closed"))
    });
    a.send_to(b"new", addr).unwrap();
    assert_eq!(answer(&a), b"re: new", "a new upstream, limit afresh");
    let got = echo.join().unwrap();
    let datagrams: Vec<&[u8]> = got.iter().map(|(d, _)| &d[..]).collect();
    assert_eq!(
        datagrams,
        [
            &b"PUT x"[..],
            b"HOLD edited",
            b"after",
            b"012345678901234567890123456789",
            b"new"
        ]
    );
    assert_eq!(got[0].1, got[3].1, "one upstream until the limit");
    assert_ne!(got[3].1, got[4].1, "then another");
    h.send(Command::Close { target: r });
    h.closed(r);
    assert_eq!(closed_count(&h, up), 1, "the closed upstream closed once");
    assert_eq!(h.closed_any(r.child(4)), CloseReason::ParentClosed);
}

/// UDP cannot slow a sender down: what rules hold is bounded in bytes
/// (the newest is lost past it, and said so), and what is held when the
/// relay ends is sent on, not lost.
#[test]
fn a_udp_relays_held_datagrams_are_bounded_and_sent_on_at_its_end() {
    use sockscope::engine::protocol::Command;
    use std::net::UdpSocket;
    let server = UdpSocket::bind("127.0.0.1:0").unwrap();
    server
        .set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let target = server.local_addr().unwrap();
    let mut h = Harness::new();
    let (r, addr) = udp_rules_relay(&mut h, target, "[(to: Server, action: Delay(30.0))]");
    let a = UdpSocket::bind("127.0.0.1:0").unwrap();
    let big = vec![7u8; 60_000];
    // 600 of 60 kB is 36 MB, twice the bound; paced so the relay reads
    // them rather than the kernel dropping them.
    for i in 0..600 {
        a.send_to(&big, addr).unwrap();
        if i % 8 == 7 {
            h.settle(Duration::from_millis(2));
        }
    }
    let full = h.find_any("held_full", |e| {
        matches!(
            &e.kind,
            EventKind::Warning {
                code: "held_full",
                ..
            }
        )
    });
    let EventKind::Warning { message, .. } = full.kind else {
        unreachable!()
    };
    assert!(
        message.ends_with("is lost, as a full queue drops"),
        "{message}"
    );
    let mut buf = vec![0u8; 65_536];
    assert!(server.recv_from(&mut buf).is_err(), "all held for 30 s");
    h.send(Command::Close { target: r });
    h.closed(r);
    let said = h
        .seen
        .iter()
        .find_map(|e| match &e.kind {
            EventKind::Step { what, .. } if what.starts_with("the relay ended with ") => {
                Some(what.clone())
            }
            _ => None,
        })
        .expect("what was held is said");
    let n: usize = said["the relay ended with ".len()..]
        .split(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        n <= 16 << 20 && n > 15 << 20,
        "held {n} bytes, bound 16 MiB"
    );
    let mut got = 0;
    while let Ok((k, _)) = server.recv_from(&mut buf) {
        got += k;
    }
    // The server's own receive buffer drops most of a 16 MiB burst; what
    // it took arrived intact in size.
    assert!(got > 0 && got % 60_000 == 0, "{got}");
}
