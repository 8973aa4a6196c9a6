//! TCP sessions on real loopback sockets, against real std peers.

mod common;

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

use common::*;
use socket2::{Domain, Socket, Type};
use sockscope::engine::log::{LogBudget, LogStore};
use sockscope::engine::options::{OptName, SockOpt};
use sockscope::engine::protocol::{
    Addr, CloseReason, Command, Direction, EventKind, SendMode, Side,
};
use sockscope::engine::spec::{HostPort, Responder, SessionKind, Step};

fn connect(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(DEADLINE)).unwrap();
    s
}

fn read_exact(s: &mut TcpStream, n: usize) -> Vec<u8> {
    let mut buf = vec![0; n];
    s.read_exact(&mut buf).unwrap();
    buf
}

#[test]
fn echo_server_round_trip_ipv4_and_ipv6() {
    for bind in ["127.0.0.1:0", "[::1]:0"] {
        let mut h = Harness::new();
        let mut spec = server(bind);
        spec.responder = Responder::Echo;
        let srv = h.open(spec);
        let addr = h.listening(srv);
        assert_ne!(addr.port(), 0, "the real port is read back");
        let mut c = connect(addr);
        c.write_all("你好 hello".as_bytes()).unwrap();
        assert_eq!(read_exact(&mut c, 12), "你好 hello".as_bytes());
        let (child, peer) = h.accepted(srv);
        assert_eq!(peer, Addr::Inet(c.local_addr().unwrap()));
        assert_eq!(h.received(child).0, "你好 hello".as_bytes());
        // The echo is logged like any other send.
        h.wait("echo logged", |e| {
            e.session == child
                && matches!(&e.kind, EventKind::Log(l) if l.dir == Direction::Out && l.data == "你好 hello".as_bytes())
        });
    }
}

/// The app and `sockscope run --tcp-info` ask every connected session for
/// TCP_INFO on a timer, and a session is shown connected before its setup
/// ends: a poll that lands during setup is asked again by the next tick,
/// not answered with an error (the app showed "the session is still being
/// set up" in English on its Chinese screen).
#[test]
fn a_tcp_info_poll_during_setup_is_not_an_error() {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let mut h = Harness::new();
    let id = h.open(client(l.local_addr().unwrap()));
    for _ in 0..3 {
        h.send(Command::TcpInfo { target: id });
    }
    let (_s, _) = l.accept().unwrap();
    h.connected(id);
    // Polled as the app does, until the open session answers.
    let start = Instant::now();
    while !h
        .seen
        .iter()
        .any(|e| e.session == id && matches!(e.kind, EventKind::TcpInfo(_)))
    {
        assert!(start.elapsed() < DEADLINE, "no TCP_INFO once open");
        h.send(Command::TcpInfo { target: id });
        h.settle(Duration::from_millis(50));
    }
    let errors: Vec<_> = h
        .seen
        .iter()
        .filter(|e| matches!(e.kind, EventKind::Error(_)))
        .collect();
    assert!(errors.is_empty(), "{errors:?}");
}

#[test]
fn client_session_talks_to_a_real_server_and_reports_names() {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let mut h = Harness::new();
    let mut spec = client(l.local_addr().unwrap());
    spec.steps = vec![
        Step::Send {
            data: b"ping".to_vec().into(),
            to: None,
            mode: SendMode::All,
        },
        Step::WaitRecv(Duration::from_secs(5)),
        Step::Close,
    ];
    let id = h.open(spec);
    let (mut s, from) = l.accept().unwrap();
    s.set_read_timeout(Some(DEADLINE)).unwrap();
    assert_eq!(read_exact(&mut s, 4), b"ping");
    s.write_all(b"pong").unwrap();
    let (local, peer) = h.connected(id);
    assert_eq!(local, Addr::Inet(from), "getsockname is the ephemeral port");
    assert_eq!(peer, Addr::Inet(l.local_addr().unwrap()));
    assert_eq!(h.received(id).0, b"pong");
    assert_eq!(h.closed(id), CloseReason::ScriptDone);
    let mut rest = Vec::new();
    s.read_to_end(&mut rest).unwrap();
    assert!(rest.is_empty(), "the client closed with FIN");
    let names = h.names_of(id);
    let pos = |n: &str| names.iter().position(|x| *x == n).unwrap();
    assert!(pos("opened") < pos("socket"));
    assert!(pos("socket") < pos("connecting"));
    assert!(pos("connecting") < pos("connected"));
    assert!(pos("connected") < pos("options"));
    assert!(pos("options") < pos("sent"));
    assert_eq!(names.last(), Some(&"closed"));
    assert_eq!(names.iter().filter(|n| **n == "closed").count(), 1);
}

#[test]
fn hostnames_resolve_and_every_address_is_shown() {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let mut h = Harness::new();
    let spec = sockscope::engine::SessionSpec::new(
        "by name",
        SessionKind::TcpClient {
            remote: HostPort::parse(&format!("localhost:{port}")).unwrap(),
            local: None,
        },
    );
    let id = h.open(spec);
    let ev = h.wait("resolved", |e| {
        e.session == id && matches!(e.kind, EventKind::Resolved { .. })
    });
    let EventKind::Resolved { addrs, .. } = ev.kind else {
        unreachable!()
    };
    assert!(addrs.contains(&format!("127.0.0.1:{port}").parse().unwrap()));
    let _ = l.accept().unwrap();
    let (_, peer) = h.connected(id);
    assert_eq!(
        peer,
        Addr::Inet(format!("127.0.0.1:{port}").parse().unwrap())
    );
}

#[test]
fn server_children_are_addressed_one_by_one_and_all_together() {
    let mut h = Harness::new();
    let srv = h.open(server("127.0.0.1:0"));
    let addr = h.listening(srv);
    let mut clients = Vec::new();
    let mut children = Vec::new();
    for _ in 0..3 {
        let c = connect(addr);
        let (child, peer) = h.accepted(srv);
        assert_eq!(peer, Addr::Inet(c.local_addr().unwrap()));
        clients.push(c);
        children.push(child);
    }
    assert_eq!(
        children.iter().map(|c| c.to_string()).collect::<Vec<_>>(),
        vec!["1.1", "1.2", "1.3"]
    );
    for (i, child) in children.iter().enumerate() {
        h.send(send(*child, format!("to {i}").as_bytes()));
    }
    for (i, c) in clients.iter_mut().enumerate() {
        assert_eq!(read_exact(c, 4), format!("to {i}").as_bytes());
    }
    h.send(Command::SendToChildren {
        server: srv,
        data: b"all".to_vec(),
    });
    for c in clients.iter_mut() {
        assert_eq!(read_exact(c, 3), b"all");
    }
    // Closing one child leaves the others open.
    h.send(Command::Close {
        target: children[1],
    });
    assert_eq!(h.closed(children[1]), CloseReason::Local);
    let mut rest = Vec::new();
    clients[1].read_to_end(&mut rest).unwrap();
    h.send(send(children[2], b"still"));
    assert_eq!(read_exact(&mut clients[2], 5), b"still");
    // A listener cannot send; the error says so.
    h.send(send(srv, b"x"));
    h.wait("error for send on listener", |e| {
        e.session == srv
            && matches!(&e.kind, EventKind::Error(err) if err.message.contains("listening socket"))
    });
    // Closing the server closes its children first.
    h.send(Command::Close { target: srv });
    assert_eq!(h.closed(children[0]), CloseReason::ParentClosed);
    assert_eq!(h.closed(srv), CloseReason::Local);
}

#[test]
fn rcvbuf_is_reported_as_the_kernel_set_it() {
    let mut h = Harness::new();
    let mut spec = server("127.0.0.1:0");
    spec.options = vec![
        SockOpt::int(OptName::RecvBuffer, 65536),
        SockOpt::flag(OptName::NoDelay, true),
    ];
    let srv = h.open(spec);
    let ev = h.wait("options", |e| {
        e.session == srv && matches!(e.kind, EventKind::Options(_))
    });
    let EventKind::Options(opts) = ev.kind else {
        unreachable!()
    };
    let rcv = opts.iter().find(|o| o.name == "SO_RCVBUF").unwrap();
    assert_eq!(rcv.requested.as_deref(), Some("65536"));
    assert_eq!(
        rcv.actual.as_deref(),
        Ok("131072"),
        "Linux doubles SO_RCVBUF"
    );
    assert!(rcv.differs());
    let nd = opts.iter().find(|o| o.name == "TCP_NODELAY").unwrap();
    assert_eq!(nd.actual.as_deref(), Ok("true"));
    // Live change on the listener, logged with its read-back value.
    h.send(Command::SetOption {
        target: srv,
        option: SockOpt::int(OptName::RecvBuffer, 8192),
    });
    let ev = h.wait("option changed", |e| {
        e.session == srv && matches!(e.kind, EventKind::OptionChanged(_))
    });
    let EventKind::OptionChanged(r) = ev.kind else {
        unreachable!()
    };
    assert_eq!(r.actual.as_deref(), Ok("16384"));
}

fn free_port() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap()
}

#[test]
fn connection_refused_is_reported_with_errno_and_hint() {
    let addr = free_port();
    let mut h = Harness::new();
    let id = h.open(client(addr));
    let ev = h.wait("connect failed", |e| {
        e.session == id && matches!(e.kind, EventKind::ConnectFailed(_))
    });
    let EventKind::ConnectFailed(err) = ev.kind else {
        unreachable!()
    };
    assert_eq!(err.errno_name.as_deref(), Some("ECONNREFUSED"));
    assert!(
        err.to_string().starts_with(&format!(
            "connect {addr}: ECONNREFUSED (111) Connection refused"
        )),
        "{err}"
    );
    assert!(err.hint.is_some());
    match h.closed(id) {
        CloseReason::Error(e) => assert!(e.is(libc::ECONNREFUSED)),
        other => panic!("{other:?}"),
    }
}

/// Leaves a connection in TIME_WAIT on the port of a closed listener, as a
/// server restarted right after a connection leaves it. The old listener
/// used SO_REUSEADDR too (as the seed's server does): Linux lets a new bind
/// over TIME_WAIT only when both sides asked for it.
fn time_wait_on_port() -> SocketAddr {
    let l = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    l.set_reuse_address(true).unwrap();
    l.bind(&"127.0.0.1:0".parse::<SocketAddr>().unwrap().into())
        .unwrap();
    l.listen(1).unwrap();
    let addr = l.local_addr().unwrap().as_socket().unwrap();
    let c = TcpStream::connect(addr).unwrap();
    let (s, _) = l.accept().unwrap();
    // The side that closes first keeps TIME_WAIT: make it the server's.
    drop(s);
    let mut c = c;
    let mut buf = [0u8; 1];
    let _ = c.read(&mut buf);
    drop(c);
    drop(l);
    addr
}

#[test]
fn eaddrinuse_without_reuseaddr_and_success_with_it() {
    let addr = time_wait_on_port();
    let mut h = Harness::new();
    // Servers take SO_REUSEADDR unless told not to.
    let mut spec = server(&addr.to_string());
    spec.options = vec![SockOpt::flag(OptName::ReuseAddress, false)];
    let srv = h.open(spec);
    match h.closed(srv) {
        CloseReason::Error(e) => {
            assert_eq!(e.errno_name.as_deref(), Some("EADDRINUSE"), "{e}");
            assert!(e.op.starts_with("bind"), "{e}");
            assert!(e.hint.as_deref().unwrap().contains("SO_REUSEADDR"));
        }
        other => panic!("expected EADDRINUSE, got {other:?}"),
    }
    // The default: a restarted server binds over TIME_WAIT at once.
    let srv2 = h.open(server(&addr.to_string()));
    assert_eq!(h.listening(srv2), addr);
    // A live listener still excludes us, even with SO_REUSEADDR.
    let live = TcpListener::bind("127.0.0.1:0").unwrap();
    let mut spec = server(&live.local_addr().unwrap().to_string());
    spec.options = vec![SockOpt::flag(OptName::ReuseAddress, true)];
    let srv3 = h.open(spec);
    assert!(matches!(h.closed(srv3), CloseReason::Error(e) if e.is(libc::EADDRINUSE)));
}

#[test]
fn read_timeout_fires_when_nothing_arrives() {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let mut h = Harness::new();
    let mut spec = client(l.local_addr().unwrap());
    spec.read_timeout = Some(Duration::from_millis(300));
    spec.close_on_read_timeout = true;
    let id = h.open(spec);
    let _peer = l.accept().unwrap();
    h.connected(id);
    let started = Instant::now();
    let ev = h.wait("timeout", |e| {
        e.session == id && matches!(e.kind, EventKind::Timeout { .. })
    });
    assert!(started.elapsed() >= Duration::from_millis(250));
    assert!(matches!(ev.kind, EventKind::Timeout { op: "recv", .. }));
    match h.closed(id) {
        CloseReason::Error(e) => assert!(e.message.contains("nothing received"), "{e}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn manual_recv_blocking_times_out_and_non_blocking_says_eagain() {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let mut h = Harness::new();
    // Blocking with SO_RCVTIMEO: the recv really waits, then times out.
    let mut spec = client(l.local_addr().unwrap());
    spec.auto_read = false;
    spec.read_timeout = Some(Duration::from_millis(400));
    let blocking = h.open(spec);
    let (mut peer1, _) = l.accept().unwrap();
    h.connected(blocking);
    let t = Instant::now();
    h.send(Command::Recv {
        target: blocking,
        max: 1024,
    });
    let ev = h.wait("blocking timeout", |e| {
        e.session == blocking && matches!(e.kind, EventKind::Timeout { .. })
    });
    let EventKind::Timeout { after, .. } = ev.kind else {
        unreachable!()
    };
    assert!(after >= Duration::from_millis(350), "{after:?}");
    assert!(t.elapsed() >= Duration::from_millis(350));
    // Data that is there is returned by the next recv, one entry per call.
    peer1.write_all(b"abc").unwrap();
    h.send(Command::Recv {
        target: blocking,
        max: 2,
    });
    assert_eq!(h.received(blocking).0, b"ab");
    // Non-blocking: EAGAIN at once.
    let mut spec = client(l.local_addr().unwrap());
    spec.auto_read = false;
    spec.options = vec![SockOpt::flag(OptName::Blocking, false)];
    let nb = h.open(spec);
    let _peer2 = l.accept().unwrap();
    h.connected(nb);
    let t = Instant::now();
    h.send(Command::Recv {
        target: nb,
        max: 1024,
    });
    let ev = h.wait("EAGAIN", |e| {
        e.session == nb && matches!(e.kind, EventKind::Error(_))
    });
    assert!(t.elapsed() < Duration::from_millis(300));
    let EventKind::Error(err) = ev.kind else {
        unreachable!()
    };
    assert_eq!(err.errno_name.as_deref(), Some("EAGAIN"), "{err}");
    // setblocking on an automatic session is refused in words.
    let auto = h.open(client(l.local_addr().unwrap()));
    let _peer3 = l.accept().unwrap();
    h.connected(auto);
    h.send(Command::SetOption {
        target: auto,
        option: SockOpt::flag(OptName::Blocking, true),
    });
    h.wait("setblocking refused", |e| {
        e.session == auto && matches!(&e.kind, EventKind::Error(er) if er.op == "setblocking")
    });
}

#[test]
fn peer_half_close_is_seen_and_our_echo_still_goes_out() {
    let mut h = Harness::new();
    let mut spec = server("127.0.0.1:0");
    spec.responder = Responder::Echo;
    let srv = h.open(spec);
    let addr = h.listening(srv);
    let mut c = connect(addr);
    c.write_all(b"last words").unwrap();
    c.shutdown(Shutdown::Write).unwrap();
    let mut back = Vec::new();
    c.read_to_end(&mut back).unwrap();
    assert_eq!(back, b"last words");
    let (child, _) = h.accepted(srv);
    h.wait("peer FIN", |e| {
        e.session == child && e.kind == EventKind::HalfClosed { by: Side::Peer }
    });
    assert_eq!(h.closed(child), CloseReason::PeerClosed);
}

/// Replies read in the same turn as the peer's FIN were lost: the first
/// reply flushed at once, the close waiting for an empty queue fired, and
/// the rest of the turn's replies went to a closed connection. (Seen as
/// 47,616 bytes missing at the end of an 8 MB echo.)
#[test]
fn every_echo_read_in_the_turn_of_the_peers_fin_goes_out() {
    let mut h = Harness::new();
    let mut spec = server("127.0.0.1:0");
    spec.responder = Responder::Echo;
    // Small reads: one turn reads many chunks, then the FIN.
    spec.limits.recv_buffer = 1024;
    let srv = h.open(spec);
    let addr = h.listening(srv);
    for round in 0..20 {
        let mut c = connect(addr);
        let data: Vec<u8> = (0..12 * 1024u32).map(|i| (i * 7 + round) as u8).collect();
        // All of it and the FIN are in the server's buffer before it wakes.
        c.write_all(&data).unwrap();
        c.shutdown(Shutdown::Write).unwrap();
        let mut back = Vec::new();
        c.read_to_end(&mut back).unwrap();
        assert_eq!(back.len(), data.len(), "round {round}");
        assert_eq!(back, data, "round {round}");
    }
}

#[test]
fn our_half_close_lets_the_peer_answer_after_eof() {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let mut h = Harness::new();
    let mut spec = client(l.local_addr().unwrap());
    spec.steps = vec![
        Step::Send {
            data: b"request".to_vec().into(),
            to: None,
            mode: SendMode::All,
        },
        Step::ShutdownWrite,
    ];
    let id = h.open(spec);
    let (mut s, _) = l.accept().unwrap();
    s.set_read_timeout(Some(DEADLINE)).unwrap();
    let mut req = Vec::new();
    s.read_to_end(&mut req).unwrap();
    assert_eq!(req, b"request", "EOF arrives after the data");
    h.wait("local half close", |e| {
        e.session == id && e.kind == EventKind::HalfClosed { by: Side::Local }
    });
    s.write_all(b"response").unwrap();
    drop(s);
    assert_eq!(h.received_bytes(id, 8), b"response");
    h.wait("peer FIN", |e| {
        e.session == id && e.kind == EventKind::HalfClosed { by: Side::Peer }
    });
    assert_eq!(h.closed(id), CloseReason::PeerClosed);
}

#[test]
fn linger_zero_close_sends_rst_and_abort_does_too() {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let mut h = Harness::new();
    let mut spec = client(l.local_addr().unwrap());
    spec.options = vec![SockOpt::secs(OptName::Linger, Duration::ZERO)];
    let id = h.open(spec);
    let (mut s, _) = l.accept().unwrap();
    s.set_read_timeout(Some(DEADLINE)).unwrap();
    h.connected(id);
    h.send(Command::Close { target: id });
    h.closed(id);
    let mut buf = [0u8; 8];
    let err = s.read(&mut buf).unwrap_err();
    assert_eq!(
        err.kind(),
        ErrorKind::ConnectionReset,
        "peer sees RST, not FIN"
    );

    let id = h.open(client(l.local_addr().unwrap()));
    let (mut s, _) = l.accept().unwrap();
    s.set_read_timeout(Some(DEADLINE)).unwrap();
    h.connected(id);
    h.send(Command::Abort { target: id });
    assert_eq!(h.closed(id), CloseReason::Aborted);
    let err = s.read(&mut buf).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ConnectionReset);
}

#[test]
fn peer_reset_is_told_apart_from_peer_fin() {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let mut h = Harness::new();
    let id = h.open(client(l.local_addr().unwrap()));
    let (s, _) = l.accept().unwrap();
    h.connected(id);
    // The peer vanishes mid-stream: it closes with our data unread, which
    // makes its kernel answer with RST.
    h.send(send(id, b"you will never read this"));
    let deadline = Instant::now() + DEADLINE;
    loop {
        let mut n = 0;
        nix_ioctl_fionread(&s, &mut n);
        if n > 0 || Instant::now() > deadline {
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    drop(s);
    assert_eq!(h.closed(id), CloseReason::PeerReset);
}

fn nix_ioctl_fionread(s: &TcpStream, n: &mut i32) {
    use std::os::fd::AsRawFd;
    // SAFETY: FIONREAD writes one int to the pointer we pass.
    unsafe {
        libc::ioctl(s.as_raw_fd(), libc::FIONREAD, n as *mut i32);
    }
}

#[test]
fn backpressure_is_reported_with_water_marks_and_bounded_queue() {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let mut h = Harness::new();
    let mut spec = client(l.local_addr().unwrap());
    spec.limits.send_queue = 8 * 1024 * 1024;
    let id = h.open(spec);
    let (mut s, _) = l.accept().unwrap();
    s.set_read_timeout(Some(DEADLINE)).unwrap();
    h.connected(id);
    // The peer does not read: the kernel buffers fill, then our queue.
    let chunk = vec![0x55u8; 1024 * 1024];
    for _ in 0..6 {
        h.send(send(id, &chunk));
    }
    h.wait("write paused", |e| {
        e.session == id && matches!(e.kind, EventKind::WritePaused { .. })
    });
    // Beyond the bound the send is refused, not queued.
    for _ in 0..6 {
        h.send(send(id, &chunk));
    }
    h.wait("queue full", |e| {
        e.session == id
            && matches!(&e.kind, EventKind::Error(er) if er.message.contains("send queue full"))
    });
    // The peer starts reading: the queue drains and writing resumes.
    let reader = std::thread::spawn(move || {
        let mut total = 0usize;
        let mut buf = vec![0u8; 256 * 1024];
        while let Ok(n) = s.read(&mut buf) {
            if n == 0 {
                break;
            }
            total += n;
        }
        total
    });
    h.wait("write resumed", |e| {
        e.session == id && matches!(e.kind, EventKind::WriteResumed { .. })
    });
    h.send(Command::Close { target: id });
    let reason = h.closed(id);
    assert_eq!(reason, CloseReason::Local);
    let total = reader.join().unwrap();
    let sent: usize = h
        .seen
        .iter()
        .filter(|e| e.session == id)
        .filter_map(|e| match &e.kind {
            EventKind::Log(l) if l.dir == Direction::Out => Some(l.data.len()),
            _ => None,
        })
        .sum();
    assert_eq!(total, sent, "every logged write reached the peer");
    assert!(sent >= 6 * 1024 * 1024);
}

#[test]
fn a_single_send_shows_a_partial_write() {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let mut h = Harness::new();
    let mut spec = client(l.local_addr().unwrap());
    spec.options = vec![SockOpt::int(OptName::SendBuffer, 4096)];
    let id = h.open(spec);
    let (_s, _) = l.accept().unwrap();
    h.connected(id);
    let big = vec![1u8; 4 * 1024 * 1024];
    h.send(Command::Send {
        target: id,
        data: big.clone(),
        mode: SendMode::Once,
        to: None,
    });
    let ev = h.wait("partial send", |e| {
        e.session == id && matches!(&e.kind, EventKind::Log(l) if l.dir == Direction::Out)
    });
    let EventKind::Log(entry) = ev.kind else {
        unreachable!()
    };
    assert!(entry.data.len() < big.len());
    assert_eq!(entry.requested, Some(big.len()));
}

#[test]
fn eviction_keeps_counters_exact() {
    let mut h = Harness::new();
    let mut spec = server("127.0.0.1:0");
    spec.responder = Responder::Echo;
    let srv = h.open(spec);
    let addr = h.listening(srv);
    let mut c = connect(addr);
    let (child, _) = h.accepted(srv);
    let mut total = 0usize;
    for i in 0..200 {
        let msg = format!("message number {i}\n");
        c.write_all(msg.as_bytes()).unwrap();
        total += msg.len();
        // Read the echo so every message is its own round trip.
        read_exact(&mut c, msg.len());
    }
    drop(c);
    h.closed(child);
    let mut store = LogStore::new(LogBudget {
        entries_per_session: 10,
        bytes_per_session: 1 << 20,
        entries_total: 10,
        bytes_total: 1 << 20,
    });
    for ev in &h.seen {
        store.ingest(ev.clone());
    }
    let counters = store.counters(child);
    assert_eq!(counters.bytes_in, total as u64);
    assert_eq!(counters.bytes_out, total as u64);
    assert_eq!(store.records(1).unwrap().len(), 10);
    let ev = store.evicted(1);
    assert!(ev.entries > 0);
    // Lifecycle events (accepted, closed, ...) are rows of the log too.
    let lifecycle = h
        .seen
        .iter()
        .filter(|e| e.session.session == 1 && sockscope::engine::log::is_lifecycle(&e.kind))
        .count() as u64;
    assert_eq!(
        ev.entries + 10,
        counters.msgs_in + counters.msgs_out + lifecycle,
        "every entry is either kept or counted as evicted"
    );
}

#[test]
fn slow_consumer_makes_the_engine_count_not_block() {
    let mut h = Harness::with(sockscope::engine::EngineConfig {
        event_capacity: 64,
        command_capacity: 64,
        ..Default::default()
    });
    let mut spec = server("127.0.0.1:0");
    spec.limits.recv_buffer = 64;
    let srv = h.open(spec);
    // Not draining: read the listening event straight from the channel.
    let addr = h.listening(srv);
    let mut c = connect(addr);
    let payload = vec![7u8; 64 * 1000];
    c.write_all(&payload).unwrap();
    c.shutdown(Shutdown::Write).unwrap();
    // The worker keeps reading while nobody drains; wait for its FIN.
    let mut rest = Vec::new();
    c.read_to_end(&mut rest).unwrap();
    let (child, _) = h.accepted(srv);
    let ev = h.wait("closed child", |e| {
        e.session == child && matches!(e.kind, EventKind::Closed { .. })
    });
    let EventKind::Closed { counters, .. } = ev.kind else {
        unreachable!()
    };
    assert_eq!(
        counters.bytes_in,
        payload.len() as u64,
        "counters are exact"
    );
    let dropped: u64 = h
        .seen
        .iter()
        .filter(|e| e.session == child)
        .filter_map(|e| match e.kind {
            EventKind::Dropped { entries, .. } => Some(entries),
            _ => None,
        })
        .sum();
    assert!(dropped > 0, "a 64-event channel cannot hold 1000 entries");
    let delivered = h
        .seen
        .iter()
        .filter(|e| e.session == child && matches!(e.kind, EventKind::Log(_)))
        .count() as u64;
    assert_eq!(delivered + dropped, counters.msgs_in);
}

#[test]
fn dual_stack_listener_shows_ipv4_mapped_peers() {
    let mut h = Harness::new();
    let mut spec = server("[::]:0");
    spec.options = vec![SockOpt::flag(OptName::OnlyV6, false)];
    let srv = h.open(spec);
    let addr = h.listening(srv);
    let _c = connect(format!("127.0.0.1:{}", addr.port()).parse().unwrap());
    let (_, peer) = h.accepted(srv);
    let Addr::Inet(SocketAddr::V6(p)) = peer else {
        panic!("{peer:?}")
    };
    assert_eq!(p.ip().to_ipv4_mapped(), Some(std::net::Ipv4Addr::LOCALHOST));
    // With IPV6_V6ONLY the IPv4 client is refused.
    let mut spec = server("[::]:0");
    spec.options = vec![SockOpt::flag(OptName::OnlyV6, true)];
    let srv = h.open(spec);
    let addr = h.listening(srv);
    let r = TcpStream::connect(format!("127.0.0.1:{}", addr.port()));
    assert_eq!(r.unwrap_err().kind(), ErrorKind::ConnectionRefused);
}

#[test]
fn connect_timeout_fires_against_a_full_backlog() {
    // A listener with backlog 0 that never accepts stops answering SYNs
    // once its queue is full: connect then hangs until our timeout.
    let l = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    l.bind(&"127.0.0.1:0".parse::<SocketAddr>().unwrap().into())
        .unwrap();
    l.listen(0).unwrap();
    let addr = l.local_addr().unwrap().as_socket().unwrap();
    let mut fillers = Vec::new();
    for _ in 0..4 {
        let s = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
        s.set_nonblocking(true).unwrap();
        let _ = s.connect(&addr.into());
        fillers.push(s);
    }
    std::thread::sleep(Duration::from_millis(100));
    let mut h = Harness::new();
    let mut spec = client(addr);
    spec.connect_timeout = Some(Duration::from_millis(500));
    let id = h.open(spec);
    let t = Instant::now();
    let reason = h.closed(id);
    match reason {
        CloseReason::Error(e) => {
            assert_eq!(e.errno_name.as_deref(), Some("ETIMEDOUT"), "{e}");
            assert!(t.elapsed() >= Duration::from_millis(400));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn stats_carry_exact_counters_and_rates_that_fall_to_zero() {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let mut h = Harness::new();
    let id = h.open(client(l.local_addr().unwrap()));
    let (mut s, _) = l.accept().unwrap();
    h.connected(id);
    h.send(send(id, &[1u8; 10_000]));
    let mut buf = vec![0u8; 10_000];
    s.read_exact(&mut buf).unwrap();
    let ev = h.wait("stats", |e| {
        e.session == id && matches!(e.kind, EventKind::Stats { .. })
    });
    let EventKind::Stats {
        counters, rate_out, ..
    } = ev.kind
    else {
        unreachable!()
    };
    assert_eq!(counters.bytes_out, 10_000);
    assert!(rate_out > 0.0);
    let ev = h.wait("idle stats", |e| {
        e.session == id && matches!(e.kind, EventKind::Stats { .. })
    });
    assert!(matches!(ev.kind, EventKind::Stats { rate_out, .. } if rate_out == 0.0));
}

/// Engine v2, item 8: TCP_INFO of every connection of a server, asked by
/// the server's id; a UDP session says it has none.
#[test]
fn tcp_info_answers_once_per_connection_of_a_server() {
    let mut h = Harness::new();
    let srv = h.open(server("127.0.0.1:0"));
    let addr = h.listening(srv);
    let mut a = connect(addr);
    let _b = connect(addr);
    let (c1, _) = h.accepted(srv);
    let (c2, _) = h.accepted(srv);
    a.write_all(b"12345").unwrap();
    h.received(c1);
    h.send(Command::TcpInfo { target: srv });
    let mut seen = Vec::new();
    for _ in 0..2 {
        let ev = h.wait("tcp_info", |e| matches!(e.kind, EventKind::TcpInfo(_)));
        let EventKind::TcpInfo(i) = &ev.kind else {
            unreachable!()
        };
        assert_eq!(i.state, "ESTABLISHED");
        if ev.session == c1 {
            assert_eq!(i.bytes_received, Some(5));
        }
        seen.push(ev.session);
    }
    seen.sort_by_key(|s| s.child);
    assert_eq!(seen, vec![c1, c2]);
    let u = h.open(sockscope::engine::SessionSpec::new(
        "u",
        SessionKind::Udp {
            local: Some("127.0.0.1:0".parse().unwrap()),
            connect: None,
            join: Vec::new(),
        },
    ));
    h.bound(u);
    h.send(Command::TcpInfo { target: u });
    h.wait("refused", |e| {
        e.session == u && matches!(&e.kind, EventKind::Error(o) if o.op == "getsockopt TCP_INFO")
    });
}

/// Engine v2, item 4: the options added as one table entry each are set
/// before connect, read back in the `options` event under their C names,
/// and a live change answers with its read-back value.
#[test]
fn the_tables_new_options_are_set_and_read_back_under_their_c_names() {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let mut h = Harness::new();
    let mut spec = client(l.local_addr().unwrap());
    // IP_TOS sets the priority from the TOS byte (0x10 makes it 6), so
    // the priority goes after it, as files and the form order them.
    spec.options = [
        (OptName::Tos, "0x10"),
        (OptName::Priority, "5"),
        (OptName::UserTimeout, "1500"),
        (OptName::MaxSeg, "1000"),
        (OptName::BindDevice, "lo"),
    ]
    .iter()
    .map(|(n, v)| SockOpt::parse(*n, v).unwrap())
    .collect();
    let id = h.open(spec);
    let (_peer, _) = l.accept().unwrap();
    let ev = h.wait("options", |e| {
        e.session == id && matches!(e.kind, EventKind::Options(_))
    });
    let EventKind::Options(opts) = ev.kind else {
        unreachable!()
    };
    let actual = |c: &str| {
        let o = opts.iter().find(|o| o.name == c).unwrap_or_else(|| {
            panic!("{c} is not reported: {opts:?}");
        });
        o.actual.clone().unwrap()
    };
    assert_eq!(actual("SO_PRIORITY"), "5");
    assert_eq!(actual("IP_TOS"), "16");
    assert_eq!(actual("TCP_USER_TIMEOUT"), "1500");
    assert_eq!(actual("SO_BINDTODEVICE"), "lo");
    // Once connected the kernel reports the segment size in use: ours
    // (loopback's MTU allows far more) less the TCP options each segment
    // carries (12 bytes of timestamps where they are on).
    let mss: u32 = actual("TCP_MAXSEG").parse().unwrap();
    assert!((960..=1000).contains(&mss), "TCP_MAXSEG {mss}");
    // TCP_QUICKACK is read too, whatever the kernel's mode is now.
    assert!(["true", "false"].contains(&actual("TCP_QUICKACK").as_str()));
    h.send(Command::SetOption {
        target: id,
        option: SockOpt::parse(OptName::Tos, "0xb8").unwrap(),
    });
    let ev = h.wait("option changed", |e| {
        e.session == id && matches!(e.kind, EventKind::OptionChanged(_))
    });
    let EventKind::OptionChanged(r) = ev.kind else {
        unreachable!()
    };
    assert_eq!((r.name, r.actual.as_deref()), ("IP_TOS", Ok("184")));
    // A device that does not exist is refused with the errno and a hint,
    // and the session goes on.
    h.send(Command::SetOption {
        target: id,
        option: SockOpt::parse(OptName::BindDevice, "nosuchdev0").unwrap(),
    });
    let ev = h.wait("error", |e| {
        e.session == id && matches!(e.kind, EventKind::Error(_))
    });
    let EventKind::Error(e) = ev.kind else {
        unreachable!()
    };
    let text = e.to_string();
    assert!(
        text.starts_with("setsockopt SO_BINDTODEVICE=nosuchdev0: ENODEV"),
        "{text}"
    );
    assert!(text.contains("ip link"), "{text}");
    h.send(Command::Close { target: id });
    assert_eq!(h.closed(id), CloseReason::Local);
}

/// WebSocket issue, item 5: a plain stream framed as messages. What the
/// peer writes in pieces comes out as whole lines, each with the recvs
/// that made it; the echo answers per line; what the FIN cut short is
/// shown as partial.
#[test]
fn framing_cuts_a_stream_into_messages_with_the_recvs_that_made_them() {
    use sockscope::engine::framing::Framing;
    let mut h = Harness::new();
    let mut spec = server("127.0.0.1:0");
    spec.responder = Responder::Echo;
    spec.framing = Framing::Delimiter(b"\n".to_vec().into());
    let srv = h.open(spec);
    let addr = h.listening(srv);
    let mut c = TcpStream::connect(addr).unwrap();
    c.set_nodelay(true).unwrap();
    c.set_read_timeout(Some(DEADLINE)).unwrap();
    // Pauses between the pieces, so the server's recvs end between them.
    for piece in [&b"hel"[..], b"lo\nworld\nby", b"e\ntail"] {
        c.write_all(piece).unwrap();
        std::thread::sleep(Duration::from_millis(100));
    }
    c.shutdown(Shutdown::Write).unwrap();
    let mut echoed = Vec::new();
    c.read_to_end(&mut echoed).unwrap();
    assert_eq!(
        echoed, b"hello\nworld\nbye\ntail",
        "the echo answers each message"
    );
    let (child, _) = h.accepted(srv);
    h.closed(child);
    let rows: Vec<(Vec<u8>, Vec<usize>, bool)> = h
        .seen
        .iter()
        .filter(|e| e.session == child)
        .filter_map(|e| match &e.kind {
            EventKind::Log(l) if l.dir == Direction::In => {
                let f = l.framed.clone().expect("framed rows");
                Some((l.data.clone(), f.chunks, f.partial))
            }
            _ => None,
        })
        .collect();
    let texts: Vec<&[u8]> = rows.iter().map(|r| &r.0[..]).collect();
    assert_eq!(texts, [&b"hello\n"[..], b"world\n", b"bye\n", b"tail"]);
    for (data, chunks, _) in &rows {
        assert_eq!(chunks.iter().sum::<usize>(), data.len(), "{chunks:?}");
    }
    assert!(
        rows.iter().any(|r| r.1.len() > 1),
        "a message that came in pieces says so: {rows:?}"
    );
    assert_eq!(
        rows.iter().map(|r| r.2).collect::<Vec<_>>(),
        [false, false, false, true],
        "only the tail the FIN cut is partial"
    );
}

/// A lossless engine (what `sockscope run` uses) loses nothing to a slow
/// consumer: while nobody drains, the worker stops reading, so the peer's
/// writes block instead of entries being counted as dropped, and the
/// channel stays within its byte bound. Once drained, every byte the peer
/// wrote is in a log entry, in order. Both bounds are tried: the count (64
/// events of 64-byte reads) and the bytes (1 MiB of 64 KiB reads). The
/// socket buffers are fixed small so that what the kernel holds is known.
#[test]
fn a_lossless_engine_slows_the_peer_instead_of_dropping() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    let budget = 1024 * 1024;
    for (capacity, read_size, total) in [(64, 64, 4 << 20), (4096, 64 * 1024, 16 << 20)] {
        let mut h = Harness::with(sockscope::engine::EngineConfig {
            event_capacity: capacity,
            event_bytes: budget,
            lossless: true,
            ..Default::default()
        });
        let mut spec = server("127.0.0.1:0");
        spec.limits.recv_buffer = read_size;
        spec.options = vec![SockOpt::int(OptName::RecvBuffer, 64 * 1024)];
        let srv = h.open(spec);
        let addr = h.listening(srv);
        let written = Arc::new(AtomicUsize::new(0));
        let progress = written.clone();
        let writer = std::thread::spawn(move || {
            let mut c = connect(addr);
            socket2::SockRef::from(&c)
                .set_send_buffer_size(64 * 1024)
                .unwrap();
            let chunk: Vec<u8> = (0..64 * 1024).map(|i| (i % 251) as u8).collect();
            let mut left: usize = total;
            while left > 0 {
                let n = left.min(chunk.len());
                c.write_all(&chunk[..n]).unwrap();
                progress.fetch_add(n, Ordering::Relaxed);
                left -= n;
            }
            c.shutdown(Shutdown::Write).unwrap();
            let mut rest = Vec::new();
            c.read_to_end(&mut rest).unwrap();
        });
        // Nobody drains for a while: the peer must be held back.
        std::thread::sleep(Duration::from_millis(1000));
        let held_at = written.load(Ordering::Relaxed);
        let in_flight = h.engine.events().bytes_in_flight();
        // What the channel may hold, plus the two socket buffers (doubled
        // by Linux) and a chunk in the writer's hand.
        let may_hold = budget.min(capacity * read_size) + read_size + 4 * 128 * 1024;
        assert!(
            held_at <= may_hold,
            "the peer wrote {held_at} of {total} bytes while nobody drained (read size \
             {read_size}); at most {may_hold} fit"
        );
        // One entry past the byte bound at most.
        assert!(
            in_flight <= budget + read_size + 1024,
            "{in_flight} bytes in flight against a bound of {budget}"
        );
        let (child, _) = h.accepted(srv);
        let ev = h.wait("closed child", |e| {
            e.session == child && matches!(e.kind, EventKind::Closed { .. })
        });
        writer.join().unwrap();
        let EventKind::Closed { counters, .. } = ev.kind else {
            unreachable!()
        };
        assert_eq!(counters.bytes_in, total as u64);
        let mut got = Vec::with_capacity(total);
        for e in h.seen.iter().filter(|e| e.session == child) {
            match &e.kind {
                EventKind::Log(l) => got.extend_from_slice(&l.data),
                EventKind::Dropped { entries, bytes } => {
                    panic!("{entries} entries ({bytes} bytes) dropped in a lossless engine")
                }
                _ => {}
            }
        }
        assert_eq!(got.len(), total, "read size {read_size}");
        assert!(
            got.iter()
                .enumerate()
                .all(|(i, b)| *b == ((i % (64 * 1024)) % 251) as u8),
            "the entries hold the bytes in order"
        );
        eprintln!(
            "read size {read_size}: the peer was held at {held_at} of {total} bytes \
             ({may_hold} may fit); {in_flight} bytes in flight"
        );
    }
}
