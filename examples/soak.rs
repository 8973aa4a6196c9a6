//! Soak: mixed sessions opening and closing under load for a while, with
//! the process's RSS sampled, to see whether memory grows.
//!
//! `cargo run --release --example soak -- MINUTES` (default 30)
//!
//! Every round opens an echo server, 50 clients that each send 20 messages
//! and close, a TLS echo server (a certificate generated each round) with
//! 10 TLS clients doing the same, a UDP pair exchanging 200 datagrams and a socketpair, drains
//! every event into a log store as the app does, then closes them all.

use std::time::{Duration, Instant};

use sockscope::engine::log::{LogBudget, LogStore};
use sockscope::engine::protocol::{Addr, Command, EventKind, SendMode};
use sockscope::engine::spec::{HostPort, Responder, SessionKind, Step};
use sockscope::engine::tls::{TlsClientSpec, TlsServerSpec, TlsSpec};
use sockscope::engine::{Engine, EngineConfig, SessionId, SessionSpec};

fn drain_until(
    engine: &Engine,
    store: &mut LogStore,
    mut done: impl FnMut(&EventKind, SessionId) -> bool,
) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if let Ok(ev) = engine.events().recv_timeout(Duration::from_millis(100)) {
            let (kind, id) = (ev.kind.clone(), ev.session);
            store.ingest(ev);
            if done(&kind, id) {
                return;
            }
        }
    }
    eprintln!("soak: a round did not finish in 30 s");
}

/// A client that sends 20 messages, waiting for each echo, then closes.
fn talker(name: &str, to: std::net::SocketAddr, tls: Option<TlsSpec>) -> SessionSpec {
    let mut c = SessionSpec::new(
        name,
        SessionKind::TcpClient {
            remote: HostPort::parse(&to.to_string()).unwrap(),
            local: None,
        },
    );
    c.tls = tls;
    for i in 0..20 {
        c.steps.push(Step::Send {
            data: format!("message {i} from {name}").into_bytes().into(),
            to: None,
            mode: SendMode::All,
        });
        c.steps.push(Step::WaitRecv(Duration::from_secs(5)));
    }
    c.steps.push(Step::Close);
    c
}

fn main() {
    let minutes: f64 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(30.0);
    let _ = sockscope::sys::raise_fd_limit();
    let mut engine = Engine::new(EngineConfig::default(), None);
    // A smaller budget than the app's so the plateau shows within minutes;
    // growth beyond it would be a leak.
    let mut store = LogStore::new(LogBudget {
        entries_per_session: 100_000,
        bytes_per_session: 16 << 20,
        entries_total: 400_000,
        bytes_total: 64 << 20,
    });
    let start = Instant::now();
    let end = start + Duration::from_secs_f64(minutes * 60.0);
    let mut next_sample = start;
    let mut rounds = 0u64;
    let mut first_rss = 0;
    println!("minute, rounds, rss_mib, log_entries, log_mib");
    while Instant::now() < end {
        let mut srv = SessionSpec::new(
            "soak-echo",
            SessionKind::TcpServer {
                local: "127.0.0.1:0".parse().unwrap(),
                backlog: 512,
            },
        );
        srv.responder = Responder::Echo;
        let mut tls_srv = srv.clone();
        tls_srv.name = "soak-tls-echo".into();
        tls_srv.tls = Some(TlsSpec::Server(TlsServerSpec::default()));
        let server = engine.open(srv).unwrap();
        let tls_server = engine.open(tls_srv).unwrap();
        let (mut addr, mut tls_addr) = (None, None);
        drain_until(&engine, &mut store, |k, id| {
            if let EventKind::Listening {
                local: Addr::Inet(a),
                ..
            } = k
            {
                if id == server {
                    addr = Some(*a);
                } else if id == tls_server {
                    tls_addr = Some(*a);
                }
            }
            addr.is_some() && tls_addr.is_some()
        });
        let (Some(addr), Some(tls_addr)) = (addr, tls_addr) else {
            break;
        };
        let mut open = Vec::new();
        for _ in 0..50 {
            open.push(engine.open(talker("soak-client", addr, None)).unwrap());
        }
        // TLS clients: a handshake each, then the same conversation.
        for _ in 0..10 {
            let tls = TlsSpec::Client(TlsClientSpec {
                server_name: Some("localhost".into()),
                insecure: true,
                ..Default::default()
            });
            let c = talker("soak-tls-client", tls_addr, Some(tls));
            open.push(engine.open(c).unwrap());
        }
        let mut udp_a = SessionSpec::new(
            "soak-udp-echo",
            SessionKind::Udp {
                local: Some("127.0.0.1:0".parse().unwrap()),
                connect: None,
                join: Vec::new(),
            },
        );
        udp_a.responder = Responder::Echo;
        let ua = engine.open(udp_a).unwrap();
        let mut pair = SessionSpec::new("soak-pair", SessionKind::SocketPair);
        pair.responder = Responder::Echo;
        pair.steps = vec![
            Step::Send {
                data: b"through the pair".to_vec().into(),
                to: None,
                mode: SendMode::All,
            },
            Step::WaitRecv(Duration::from_secs(5)),
            Step::Close,
        ];
        open.push(engine.open(pair).unwrap());
        let mut ua_addr = None;
        let mut left = open.len();
        drain_until(&engine, &mut store, |k, id| {
            if let EventKind::Bound {
                local: Addr::Inet(a),
                ..
            } = k
                && id == ua
            {
                ua_addr = Some(*a);
            }
            if matches!(k, EventKind::Closed { .. }) && !id.is_child() && open.contains(&id) {
                left -= 1;
            }
            left == 0
        });
        if let Some(a) = ua_addr {
            let mut b = SessionSpec::new(
                "soak-udp",
                SessionKind::Udp {
                    local: Some("127.0.0.1:0".parse().unwrap()),
                    connect: None,
                    join: Vec::new(),
                },
            );
            let mut steps = Vec::new();
            for _ in 0..200 {
                steps.push(Step::Send {
                    data: vec![7u8; 100].into(),
                    to: Some(a.to_string()),
                    mode: SendMode::All,
                });
            }
            steps.push(Step::Wait(Duration::from_millis(50)));
            steps.push(Step::Close);
            b.steps = steps;
            let ub = engine.open(b).unwrap();
            drain_until(&engine, &mut store, |k, id| {
                id == ub && matches!(k, EventKind::Closed { .. })
            });
        }
        for id in [server, tls_server, ua] {
            let _ = engine.send(Command::Close { target: id });
        }
        let mut left = 3;
        drain_until(&engine, &mut store, |k, id| {
            if matches!(k, EventKind::Closed { .. })
                && (id == server || id == tls_server || id == ua)
            {
                left -= 1;
            }
            left == 0
        });
        engine.reap();
        // Every session of the round has closed: remove them, as a user
        // clears the list. A sample just before shows the budget at work.
        let sample_due = Instant::now() >= next_sample;
        if !sample_due {
            for t in store.tops() {
                store.forget(t);
            }
        }
        rounds += 1;
        if Instant::now() >= next_sample {
            let rss = sockscope::sys::rss_kib();
            if first_rss == 0 {
                first_rss = rss;
            }
            let (entries, bytes) = store.size();
            println!(
                "{:.1}, {rounds}, {:.1}, {entries}, {:.1}",
                start.elapsed().as_secs_f64() / 60.0,
                rss as f64 / 1024.0,
                bytes as f64 / 1048576.0
            );
            next_sample += Duration::from_secs(30);
        }
    }
    let rss = sockscope::sys::rss_kib();
    println!(
        "# {rounds} rounds in {:.1} min; RSS {:.1} MiB at the first sample, {:.1} MiB at the end ({:+.1} MiB); still running: {:?}",
        start.elapsed().as_secs_f64() / 60.0,
        first_rss as f64 / 1024.0,
        rss as f64 / 1024.0,
        (rss as f64 - first_rss as f64) / 1024.0,
        engine.running()
    );
}
