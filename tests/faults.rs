//! Peers and systems that misbehave: running out of file descriptors, a
//! flood of connections, a peer that half-closes and goes silent, a peer
//! that never reads, datagrams too large to send. The engine reports each
//! in words and goes on.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpStream, UdpSocket};
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use serde_json::Value;
use sockscope::engine::SessionSpec;
use sockscope::engine::protocol::{
    CloseReason, Command as EngineCommand, EventKind, SendMode, Side,
};
use sockscope::engine::spec::{Responder, SessionKind};

const BIN: &str = env!("CARGO_BIN_EXE_sockscope");

#[test]
fn out_of_descriptors_the_server_says_so_and_recovers() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("echo.ron");
    std::fs::write(
        &file,
        r#"(name: "echo", kind: TcpServer(local: "127.0.0.1:0", backlog: 128), responder: Echo)"#,
    )
    .unwrap();
    let mut cmd = Command::new(BIN);
    cmd.arg("run").arg(&file).stdout(Stdio::piped());
    // SAFETY: setrlimit is async-signal-safe; it only lowers this child's
    // descriptor limit before exec.
    unsafe {
        cmd.pre_exec(|| {
            let lim = libc::rlimit {
                rlim_cur: 40,
                rlim_max: 40,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &lim) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = common::KillOnDrop(cmd.spawn().unwrap());
    let (tx, rx) = std::sync::mpsc::sync_channel::<Value>(10_000);
    let out = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            if tx.send(serde_json::from_str(&line).unwrap()).is_err() {
                break;
            }
        }
    });
    let wait_for = |what: &str, pred: &dyn Fn(&Value) -> bool| -> Value {
        let deadline = Instant::now() + DEADLINE;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(v) if pred(&v) => return v,
                Ok(_) => {}
                Err(_) => panic!("no {what}"),
            }
        }
    };
    let listening = wait_for("listening", &|v| v["event"] == "listening");
    let addr: std::net::SocketAddr = listening["local"].as_str().unwrap().parse().unwrap();
    // More clients than the server has descriptors for.
    let mut clients: Vec<TcpStream> = (0..60).map(|_| TcpStream::connect(addr).unwrap()).collect();
    let err = wait_for("EMFILE", &|v| {
        v["event"] == "error" && v["errno_name"] == "EMFILE"
    });
    assert!(err["hint"].as_str().unwrap().contains("file descriptors"));
    // The ones that got in are served.
    clients[0].set_read_timeout(Some(DEADLINE)).unwrap();
    clients[0].write_all(b"still here").unwrap();
    let mut buf = [0u8; 10];
    clients[0].read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"still here");
    // Free descriptors: the queued connections are accepted and echoed.
    let last = clients.pop().unwrap();
    clients.truncate(10);
    let mut last = last;
    last.set_read_timeout(Some(DEADLINE)).unwrap();
    last.write_all(b"late").unwrap();
    let mut buf = [0u8; 4];
    last.read_exact(&mut buf).unwrap();
    assert_eq!(
        &buf, b"late",
        "the last client was accepted once descriptors were free"
    );
    // SAFETY: plain kill(2) on our own child.
    unsafe {
        libc::kill(child.id() as i32, libc::SIGTERM);
    }
    assert!(child.wait().unwrap().success());
}

#[test]
fn a_flood_of_connections_is_served_and_other_sessions_go_on() {
    let mut h = Harness::new();
    let mut spec = server("127.0.0.1:0");
    spec.responder = Responder::Echo;
    let srv = h.open(spec);
    let addr = h.listening(srv);
    let mut other = server("127.0.0.1:0");
    other.responder = Responder::Echo;
    let quiet = h.open(other);
    let quiet_addr = h.listening(quiet);
    let flood: Vec<TcpStream> = (0..2000)
        .map(|_| TcpStream::connect(addr).unwrap())
        .collect();
    // While the flood is being accepted, the other server answers.
    let mut c = TcpStream::connect(quiet_addr).unwrap();
    c.set_read_timeout(Some(DEADLINE)).unwrap();
    let t = Instant::now();
    c.write_all(b"ping").unwrap();
    let mut buf = [0u8; 4];
    c.read_exact(&mut buf).unwrap();
    assert!(t.elapsed() < Duration::from_secs(2));
    // Every flooded connection echoes.
    for (i, mut s) in flood.into_iter().enumerate() {
        s.set_read_timeout(Some(DEADLINE)).unwrap();
        let msg = (i as u32).to_le_bytes();
        s.write_all(&msg).unwrap();
        let mut back = [0u8; 4];
        s.read_exact(&mut back).unwrap();
        assert_eq!(back, msg);
    }
    let accepted = h.find_any("2000 accepted", |e| {
        matches!(&e.kind, EventKind::Accepted { child, .. } if child.session == srv.session && child.child == 2000)
    });
    assert!(matches!(accepted.kind, EventKind::Accepted { .. }));
}

#[test]
fn a_peer_that_half_closes_and_goes_silent_leaves_us_able_to_send() {
    let mut h = Harness::new();
    let mut spec = server("127.0.0.1:0");
    spec.keep_open_after_peer_fin = true;
    spec.read_timeout = Some(Duration::from_millis(300));
    let srv = h.open(spec);
    let addr = h.listening(srv);
    let mut c = TcpStream::connect(addr).unwrap();
    c.write_all(b"last words").unwrap();
    c.shutdown(std::net::Shutdown::Write).unwrap();
    let (child, _) = h.accepted(srv);
    h.wait("peer FIN", |e| {
        e.session == child && e.kind == EventKind::HalfClosed { by: Side::Peer }
    });
    // Silence afterwards is not a timeout on a half-closed stream, and we
    // can still send.
    h.settle(Duration::from_millis(500));
    assert!(!h.seen.iter().any(|e| e.session == child
        && matches!(e.kind, EventKind::Timeout { .. } | EventKind::Closed { .. })));
    h.send(send(child, b"answer after your FIN"));
    c.set_read_timeout(Some(DEADLINE)).unwrap();
    let mut buf = [0u8; 21];
    c.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"answer after your FIN");
}

#[test]
fn a_peer_that_never_reads_does_not_stall_other_sessions() {
    let mut h = Harness::new();
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let mut spec = client(l.local_addr().unwrap());
    spec.limits.send_queue = 4 * 1024 * 1024;
    let stuck = h.open(spec);
    let (_never_reads, _) = l.accept().unwrap();
    h.connected(stuck);
    let mut echo = server("127.0.0.1:0");
    echo.responder = Responder::Echo;
    let srv = h.open(echo);
    let addr = h.listening(srv);
    for _ in 0..8 {
        h.send(send(stuck, &vec![0u8; 1024 * 1024]));
    }
    h.wait("backpressure", |e| {
        e.session == stuck && matches!(e.kind, EventKind::WritePaused { .. })
    });
    let mut c = TcpStream::connect(addr).unwrap();
    c.set_read_timeout(Some(DEADLINE)).unwrap();
    for i in 0..50u8 {
        c.write_all(&[i; 16]).unwrap();
        let mut back = [0u8; 16];
        c.read_exact(&mut back).unwrap();
        assert_eq!(back, [i; 16]);
    }
    h.send(EngineCommand::Abort { target: stuck });
    assert_eq!(h.closed(stuck), CloseReason::Aborted);
}

#[test]
fn an_oversized_datagram_is_refused_with_emsgsize() {
    let mut h = Harness::new();
    let id = h.open(SessionSpec::new(
        "udp",
        SessionKind::Udp {
            local: Some("127.0.0.1:0".parse().unwrap()),
            connect: None,
            join: Vec::new(),
        },
    ));
    h.bound(id);
    let peer = UdpSocket::bind("127.0.0.1:0").unwrap();
    h.send(EngineCommand::Send {
        target: id,
        data: vec![1u8; 70_000],
        mode: SendMode::All,
        to: Some(peer.local_addr().unwrap().to_string()),
    });
    let ev = h.wait("EMSGSIZE", |e| {
        e.session == id && matches!(e.kind, EventKind::Error(_))
    });
    let EventKind::Error(err) = ev.kind else {
        unreachable!()
    };
    assert_eq!(err.errno_name.as_deref(), Some("EMSGSIZE"), "{err}");
    assert!(err.hint.is_some());
    // The socket still works.
    h.send(EngineCommand::Send {
        target: id,
        data: b"small".to_vec(),
        mode: SendMode::All,
        to: Some(peer.local_addr().unwrap().to_string()),
    });
    peer.set_read_timeout(Some(DEADLINE)).unwrap();
    let mut buf = [0u8; 16];
    let n = peer.recv(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"small");
}

#[test]
fn a_worker_that_panics_ends_its_session_and_nothing_else() {
    let mut h = Harness::new();
    let mut spec = server("127.0.0.1:0");
    spec.responder = Responder::Echo;
    let doomed = h.open(spec.clone());
    h.listening(doomed);
    let fine = h.open(spec);
    let addr = h.listening(fine);
    h.send(EngineCommand::InjectPanic { target: doomed });
    match h.closed(doomed) {
        CloseReason::Panicked(msg) => assert!(msg.contains("injected fault"), "{msg}"),
        other => panic!("{other:?}"),
    }
    let mut c = TcpStream::connect(addr).unwrap();
    c.set_read_timeout(Some(DEADLINE)).unwrap();
    c.write_all(b"alive").unwrap();
    let mut buf = [0u8; 5];
    c.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"alive");
    // The ended session refuses commands in words; the engine goes on.
    std::thread::sleep(Duration::from_millis(50));
    assert!(h.engine.send(send(doomed, b"x")).is_err());
}

#[test]
fn a_name_that_does_not_resolve_ends_the_session_in_words() {
    // In a network namespace of its own, with no network at all: the lookup
    // fails without a single packet leaving this machine.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("dns.ron");
    std::fs::write(
        &file,
        r#"(name: "dns", kind: TcpClient(remote: "no-such-host.invalid:80"))"#,
    )
    .unwrap();
    let out = Command::new("unshare")
        .arg("--net")
        .arg(BIN)
        .arg("run")
        .arg(&file)
        .output()
        .expect("unshare (util-linux) runs the binary in its own network namespace");
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(lines.iter().any(|v| v["event"] == "resolving"));
    let closed = lines.iter().find(|v| v["event"] == "closed").unwrap();
    assert_eq!(closed["reason"], "error");
    assert_eq!(closed["op"], "resolve no-such-host.invalid");
    assert!(closed["hint"].as_str().unwrap().contains("host name"));
}

/// Resident memory of another process, in KiB.
fn rss_of(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// Regression (hostile input, item 8): a peer that sends into an echo
/// server and never reads grew the server without bound (0.56 GB after
/// 2 GiB), and once the send queue was full the echo dropped data, with an
/// error event per chunk kept in an unbounded list. Now the server stops
/// reading that peer while its replies wait, so the peer's window closes:
/// memory stays flat and every byte comes back, in order.
#[test]
fn a_peer_that_never_reads_is_slowed_down_not_buffered() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("echo.ron");
    std::fs::write(
        &file,
        r#"(name: "echo", kind: TcpServer(local: "127.0.0.1:0", backlog: 16), responder: Echo)"#,
    )
    .unwrap();
    // stdout to a file, as users run it.
    let out_path = dir.path().join("out.jsonl");
    let out = std::fs::File::create(&out_path).unwrap();
    let child = Command::new(BIN)
        .args(["run", "--data-limit", "16"])
        .arg(&file)
        .stdout(out)
        .spawn()
        .unwrap();
    let server = KillOnDrop(child);
    let pid = server.0.id();
    let deadline = Instant::now() + Duration::from_secs(10);
    let addr = loop {
        let text = std::fs::read_to_string(&out_path).unwrap();
        if let Some(v) = text
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .find(|v| v["event"] == "listening")
        {
            break v["local"].as_str().unwrap().to_string();
        }
        assert!(Instant::now() < deadline, "the server did not listen");
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut c = TcpStream::connect(&addr).unwrap();
    c.set_nonblocking(true).unwrap();
    let byte = |i: u64| (i % 251) as u8;
    let mut sent: u64 = 0;
    let mut max_rss = 0;
    let rss_before = rss_of(pid);
    let chunk: Vec<u8> = (0..65536u64).map(byte).collect();
    let until = Instant::now() + Duration::from_secs(10);
    let mut last_sample = Instant::now();
    while Instant::now() < until {
        let off = (sent % 251) as usize;
        let buf = &chunk[off..off + 65536 - 251];
        match c.write(buf) {
            Ok(n) => sent += n as u64,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(2));
            }
            Err(e) => panic!("write: {e}"),
        }
        if last_sample.elapsed() > Duration::from_millis(50) {
            max_rss = max_rss.max(rss_of(pid));
            last_sample = Instant::now();
        }
    }
    let rss_blocked = rss_of(pid);
    max_rss = max_rss.max(rss_blocked);
    // Now read: every byte comes back, in order.
    c.shutdown(std::net::Shutdown::Write).unwrap();
    c.set_nonblocking(false).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut got: u64 = 0;
    let mut buf = vec![0u8; 1 << 16];
    while got < sent {
        let n = c.read(&mut buf).unwrap();
        assert!(n > 0, "EOF after {got} of {sent} bytes");
        for (k, b) in buf[..n].iter().enumerate() {
            assert_eq!(*b, byte(got + k as u64), "byte {} differs", got + k as u64);
        }
        got += n as u64;
        max_rss = max_rss.max(rss_of(pid));
    }
    eprintln!(
        "sent {sent} bytes, all {got} came back; server RSS {} KiB before, {} KiB while the peer did not read, max {} KiB",
        rss_before, rss_blocked, max_rss
    );
    assert_eq!(got, sent);
    assert!(
        max_rss < 100 * 1024,
        "server RSS reached {max_rss} KiB (limit 100 MiB)"
    );
    // The server was told to slow down, and said so.
    drop(c);
    drop(server);
    let text = std::fs::read_to_string(&out_path).unwrap();
    assert!(text.contains("\"write_paused\""), "no write_paused event");
    assert!(!text.contains("send queue full"), "a reply was refused");
}

/// Engine v2, item 1: one lifecycle wrapper sends `Opened` first and
/// exactly one `Closed` last for every kind (socket kinds, step mode, a
/// burst), whether it ends by itself, by a close or by a panic.
#[test]
fn every_kind_opens_once_and_closes_exactly_once() {
    use sockscope::engine::burst::{BurstSpec, WaitFor};
    use sockscope::engine::stepper::{Call, Family, SockType};
    let mut h = Harness::new();
    let mut echo = server("127.0.0.1:0");
    echo.responder = Responder::Echo;
    let srv = h.open(echo.clone());
    let addr = h.listening(srv);
    let cli = h.open(client(addr));
    h.connected(cli);
    let udp = h.open(SessionSpec::new(
        "udp",
        SessionKind::Udp {
            local: Some("127.0.0.1:0".parse().unwrap()),
            connect: None,
            join: Vec::new(),
        },
    ));
    h.bound(udp);
    let pair = h.open(SessionSpec::new("pair", SessionKind::SocketPair));
    let script = h.open(SessionSpec::new(
        "script",
        SessionKind::Script {
            calls: vec![Call::Socket {
                var: "s".into(),
                family: Family::Inet,
                ty: SockType::Stream,
            }],
            keep_open: false,
        },
    ));
    let burst = h.open(SessionSpec::new(
        "burst",
        SessionKind::Burst(BurstSpec {
            target: addr,
            count: 5,
            concurrency: 2,
            payload: b"hi".to_vec(),
            wait: WaitFor::Reply,
            timeout: Duration::from_secs(5),
            udp: false,
            compare: false,
        }),
    ));
    let doomed = h.open(echo);
    h.listening(doomed);
    h.send(EngineCommand::InjectPanic { target: doomed });
    for id in [udp, pair] {
        h.send(EngineCommand::Close { target: id });
    }
    let closed = |h: &mut Harness, id| {
        h.find_any("closed", |e| {
            e.session == id && matches!(e.kind, EventKind::Closed { .. })
        })
    };
    for id in [script, burst, udp, pair, doomed] {
        closed(&mut h, id);
    }
    h.send(EngineCommand::Close { target: cli });
    closed(&mut h, cli);
    h.send(EngineCommand::Close { target: srv });
    closed(&mut h, srv);
    h.settle(Duration::from_millis(300));
    for id in [srv, cli, udp, pair, script, burst, doomed] {
        let names = h.names_of(id);
        assert_eq!(names.first(), Some(&"opened"), "{id}: {names:?}");
        assert_eq!(names.last(), Some(&"closed"), "{id}: {names:?}");
        assert_eq!(
            names.iter().filter(|n| **n == "opened").count(),
            1,
            "{id}: {names:?}"
        );
        assert_eq!(
            names.iter().filter(|n| **n == "closed").count(),
            1,
            "{id}: {names:?}"
        );
    }
}
