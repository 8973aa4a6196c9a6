//! The shared reactor (engine issue, item 2): event-driven sessions do not
//! take a thread each. A process holding 1,000 sessions of every
//! event-driven kind runs a few reactor threads, every session still does
//! its work, and each ends with exactly one `closed`.

mod common;

use std::collections::HashMap;
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::time::{Duration, Instant};

use common::{DEADLINE, client, send, server};
use sockscope::engine::protocol::{Addr, EventKind};
use sockscope::engine::spec::{Responder, SessionKind, SessionSpec};
use sockscope::engine::{Engine, EngineConfig, Event, SessionId};

/// The threads of this process now, by name.
fn thread_names() -> Vec<String> {
    std::fs::read_dir("/proc/self/task")
        .unwrap()
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
        .map(|s| s.trim().to_string())
        .collect()
}

fn sockscope_threads() -> (usize, usize) {
    let names = thread_names();
    let reactors = names
        .iter()
        .filter(|n| n.starts_with("sockscope-react"))
        .count();
    let others = names
        .iter()
        .filter(|n| n.starts_with("sockscope-") && !n.starts_with("sockscope-react"))
        .count();
    (reactors, others)
}

struct Seen {
    engine: Engine,
    events: Vec<Event>,
}

impl Seen {
    fn pump(&mut self) {
        if let Ok(ev) = self.engine.events().recv_timeout(Duration::from_millis(20)) {
            self.events.push(ev);
            while let Ok(ev) = self.engine.events().try_recv() {
                self.events.push(ev);
            }
        }
    }

    /// Waits until `done` holds of what was seen.
    fn until(&mut self, what: &str, done: impl Fn(&[Event]) -> bool) {
        let start = Instant::now();
        while !done(&self.events) {
            assert!(
                start.elapsed() < DEADLINE * 3,
                "timed out waiting for {what}"
            );
            self.pump();
        }
    }

    fn first(&self, id: SessionId, f: impl Fn(&EventKind) -> Option<SocketAddr>) -> SocketAddr {
        self.events
            .iter()
            .filter(|e| e.session == id)
            .find_map(|e| f(&e.kind))
            .unwrap_or_else(|| panic!("no address for {id}"))
    }
}

fn inet(a: &Addr) -> Option<SocketAddr> {
    match a {
        Addr::Inet(s) => Some(*s),
        _ => None,
    }
}

#[test]
fn a_thousand_sessions_share_a_few_reactor_threads_and_all_still_work() {
    let mut s = Seen {
        engine: Engine::new(EngineConfig::default(), None),
        events: Vec::new(),
    };
    const EACH: usize = 250;
    let mut servers = Vec::new();
    let mut udps = Vec::new();
    let mut pairs = Vec::new();
    for _ in 0..EACH {
        let mut spec = server("127.0.0.1:0");
        spec.responder = Responder::Echo;
        servers.push(s.engine.open(spec).unwrap());
        let mut spec = SessionSpec::new(
            "udp",
            SessionKind::Udp {
                local: Some("127.0.0.1:0".parse().unwrap()),
                connect: None,
                join: Vec::new(),
            },
        );
        spec.responder = Responder::Echo;
        udps.push(s.engine.open(spec).unwrap());
        pairs.push(
            s.engine
                .open(SessionSpec::new("pair", SessionKind::SocketPair))
                .unwrap(),
        );
    }
    s.until("every server to listen", |evs| {
        evs.iter()
            .filter(|e| matches!(e.kind, EventKind::Listening { .. }))
            .count()
            == EACH
    });
    let addrs: Vec<SocketAddr> = servers
        .iter()
        .map(|id| {
            s.first(*id, |k| match k {
                EventKind::Listening { local, .. } => inet(local),
                _ => None,
            })
        })
        .collect();
    // A Sockscope client to each server: 1,000 sessions in all.
    let clients: Vec<SessionId> = addrs
        .iter()
        .map(|a| s.engine.open(client(*a)).unwrap())
        .collect();
    s.until(
        "every client to connect and every udp socket to bind",
        |evs| {
            let connected = evs
                .iter()
                .filter(|e| !e.session.is_child() && matches!(e.kind, EventKind::Connected { .. }))
                .count();
            let bound = evs
                .iter()
                .filter(|e| matches!(e.kind, EventKind::Bound { .. }))
                .count();
            connected == EACH && bound == EACH
        },
    );

    // Setup threads leave once their session is on a reactor.
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get().min(8));
    let start = Instant::now();
    loop {
        let (reactors, others) = sockscope_threads();
        if others == 0 {
            eprintln!(
                "1,000 sessions: {reactors} reactor threads, {} threads in the process",
                thread_names().len()
            );
            assert_eq!(reactors, cores, "one reactor per core");
            break;
        }
        assert!(
            start.elapsed() < DEADLINE,
            "{others} session threads are still running: {:?}",
            thread_names()
        );
        std::thread::sleep(Duration::from_millis(20));
    }

    // Every session still does its work on the reactors: each client's
    // bytes come back from the echo server's child, each UDP socket
    // echoes a datagram from a std socket, each pair end reaches the other.
    for (i, c) in clients.iter().enumerate() {
        s.engine
            .send(send(*c, format!("hello {i}").as_bytes()))
            .unwrap();
    }
    let peer = UdpSocket::bind("127.0.0.1:0").unwrap();
    peer.set_read_timeout(Some(DEADLINE)).unwrap();
    for (i, u) in udps.iter().enumerate() {
        let at = s.first(*u, |k| match k {
            EventKind::Bound { local, .. } => inet(local),
            _ => None,
        });
        let msg = format!("datagram {i}");
        peer.send_to(msg.as_bytes(), at).unwrap();
        let mut buf = [0u8; 64];
        let (n, from) = peer.recv_from(&mut buf).unwrap();
        assert_eq!((&buf[..n], from), (msg.as_bytes(), at));
    }
    for (i, p) in pairs.iter().enumerate() {
        s.engine
            .send(send(p.child(1), format!("pair {i}").as_bytes()))
            .unwrap();
    }
    s.until("every echo and every pair's bytes", |evs| {
        let mut got: HashMap<SessionId, Vec<u8>> = HashMap::new();
        for e in evs {
            if let EventKind::Log(l) = &e.kind
                && l.dir == sockscope::engine::protocol::Direction::In
            {
                got.entry(e.session).or_default().extend_from_slice(&l.data);
            }
        }
        let clients_ok = clients
            .iter()
            .enumerate()
            .all(|(i, c)| got.get(c).map(Vec::as_slice) == Some(format!("hello {i}").as_bytes()));
        let pairs_ok = pairs.iter().enumerate().all(|(i, p)| {
            got.get(&p.child(2)).map(Vec::as_slice) == Some(format!("pair {i}").as_bytes())
        });
        clients_ok && pairs_ok
    });

    // A connection from outside lands on a reactor too.
    let mut outside = TcpStream::connect(addrs[7]).unwrap();
    outside.set_read_timeout(Some(DEADLINE)).unwrap();
    std::io::Write::write_all(&mut outside, b"from outside").unwrap();
    let mut buf = [0u8; 12];
    std::io::Read::read_exact(&mut outside, &mut buf).unwrap();
    assert_eq!(&buf, b"from outside");

    s.engine.close_all();
    let tops: Vec<SessionId> = servers
        .iter()
        .chain(&udps)
        .chain(&pairs)
        .chain(&clients)
        .copied()
        .collect();
    s.until("every session to close", |evs| {
        evs.iter()
            .filter(|e| !e.session.is_child() && matches!(e.kind, EventKind::Closed { .. }))
            .count()
            >= tops.len()
    });
    let mut closed: HashMap<SessionId, usize> = HashMap::new();
    for e in &s.events {
        if matches!(e.kind, EventKind::Closed { .. }) {
            *closed.entry(e.session).or_default() += 1;
        }
    }
    for id in &tops {
        assert_eq!(closed.get(id), Some(&1), "session {id}: one closed");
    }
    assert!(closed.values().all(|n| *n == 1), "no session closed twice");
    s.engine.reap();
    assert!(s.engine.running().is_empty());
}
