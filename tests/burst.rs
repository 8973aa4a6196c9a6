//! Bursts against real servers on loopback: every request accounted for,
//! and the seed's sequential-versus-concurrent comparison.

mod common;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use common::*;
use sockscope::engine::SessionSpec;
use sockscope::engine::burst::{self, BurstSpec, WaitFor};
use sockscope::engine::protocol::EventKind;
use sockscope::engine::spec::{Responder, SessionKind};

#[test]
fn a_thousand_connections_to_an_echo_server_all_accounted_for() {
    let mut h = Harness::new();
    let mut spec = server("127.0.0.1:0");
    spec.responder = Responder::Echo;
    let srv = h.open(spec);
    let addr = h.listening(srv);
    let b = h.open(SessionSpec::new(
        "burst",
        SessionKind::Burst(BurstSpec {
            target: addr,
            count: 1000,
            concurrency: 50,
            payload: b"ping".to_vec(),
            wait: WaitFor::Reply,
            timeout: Duration::from_secs(5),
            udp: false,
            compare: false,
        }),
    ));
    let ev = h.wait("burst report", |e| {
        e.session == b && matches!(e.kind, EventKind::BurstDone(_))
    });
    let EventKind::BurstDone(r) = ev.kind else {
        unreachable!()
    };
    let failed: u32 = r.errors.values().sum();
    assert_eq!(r.ok + failed, 1000, "every request is counted: {r:?}");
    assert_eq!(r.ok, 1000, "errors: {:?}", r.errors);
    assert!(r.percentile_ms(0.5) <= r.percentile_ms(0.99));
    h.closed(b);
    // Progress counts went through the byte budget like every event: once
    // all is taken the budget is given back, not overdrawn (it wrapped
    // around when progress was sent past it).
    h.settle(Duration::from_millis(200));
    let held = h.engine.events().bytes_in_flight();
    assert!(held < 1 << 20, "bytes in flight after draining: {held}");
}

/// A server that answers each connection after a delay, like a slow site.
fn slow_server(delay: Duration) -> std::net::SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    std::thread::spawn(move || {
        for s in l.incoming().map_while(Result::ok) {
            std::thread::spawn(move || {
                let mut s = s;
                let mut buf = [0u8; 256];
                let _ = s.read(&mut buf);
                std::thread::sleep(delay);
                let _ = s.write_all(b"HTTP/1.0 200 OK\r\n\r\nslow");
            });
        }
    });
    addr
}

#[test]
fn concurrent_beats_sequential_as_in_the_seed() {
    let addr = slow_server(Duration::from_millis(50));
    let spec = BurstSpec {
        target: addr,
        count: 20,
        concurrency: 20,
        payload: b"GET / HTTP/1.0\r\n\r\n".to_vec(),
        wait: WaitFor::Eof,
        timeout: Duration::from_secs(5),
        udp: false,
        compare: true,
    };
    let stop = AtomicBool::new(false);
    let seq = burst::run(&spec, 1, &stop, &|_| {});
    let conc = burst::run(&spec, 20, &stop, &|_| {});
    assert_eq!((seq.ok, conc.ok), (20, 20));
    assert!(
        seq.total >= Duration::from_millis(20 * 50),
        "{:?}",
        seq.total
    );
    assert!(
        conc.total * 5 < seq.total,
        "20 at once ({:?}) vs one at a time ({:?})",
        conc.total,
        seq.total
    );
}

#[test]
fn refused_and_timed_out_requests_are_counted_by_kind() {
    let closed = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let spec = BurstSpec {
        target: closed,
        count: 10,
        concurrency: 5,
        payload: b"x".to_vec(),
        wait: WaitFor::Reply,
        timeout: Duration::from_millis(300),
        udp: false,
        compare: false,
    };
    let stop = AtomicBool::new(false);
    let r = burst::run(&spec, 5, &stop, &|_| {});
    assert_eq!(r.ok, 0);
    assert_eq!(r.errors.get("ECONNREFUSED"), Some(&10), "{:?}", r.errors);
    // A server that accepts and never answers: timeouts.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let spec = BurstSpec {
        target: silent.local_addr().unwrap(),
        count: 3,
        ..spec
    };
    let r = burst::run(&spec, 3, &stop, &|_| {});
    assert_eq!(r.errors.get("timeout"), Some(&3), "{:?}", r.errors);
}
