//! Echo round trips against real peers, side by side in one run:
//! `cargo bench --bench peers` (needs socat, ncat and python3; a missing
//! peer is reported and skipped). Writes BENCHMARKS.md's echo table to
//! stdout and to target/peers.md.
//!
//! Each server echoes 64-byte messages on loopback; a mio load generator
//! keeps C connections busy (one message in flight per connection) for a
//! fixed time and records every round trip's latency.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use std::os::fd::AsRawFd;

use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token};

use sockscope::engine::log::{LogBudget, LogStore};
use sockscope::engine::protocol::{Addr, EventKind};
use sockscope::engine::spec::{Responder, SessionKind};
use sockscope::engine::{Engine, EngineConfig, SessionSpec};

const MSG: usize = 64;
const RUN: Duration = Duration::from_secs(3);

struct Result {
    rps: f64,
    p50_us: f64,
    p99_us: f64,
    errors: usize,
}

/// Keeps `conns` connections each with one 64-byte message in flight.
fn load(addr: SocketAddr, conns: usize) -> Result {
    let mut poll = Poll::new().unwrap();
    let mut socks = Vec::with_capacity(conns);
    let mut errors = 0;
    for i in 0..conns {
        match TcpStream::connect(addr) {
            Ok(s) => {
                s.set_nodelay(true).unwrap();
                s.set_nonblocking(true).unwrap();
                poll.registry()
                    .register(&mut SourceFd(&s.as_raw_fd()), Token(i), Interest::READABLE)
                    .unwrap();
                socks.push(Some(s));
            }
            Err(_) => {
                errors += 1;
                socks.push(None);
            }
        }
    }
    let payload = [0x42u8; MSG];
    let mut sent_at: HashMap<usize, Instant> = HashMap::new();
    let mut got: Vec<usize> = vec![0; conns];
    let mut lat: Vec<u32> = Vec::with_capacity(1 << 20);
    let start = Instant::now();
    for (i, s) in socks.iter_mut().enumerate() {
        if let Some(s) = s {
            if s.write_all(&payload).is_ok() {
                sent_at.insert(i, Instant::now());
            } else {
                errors += 1;
            }
        }
    }
    let mut events = Events::with_capacity(1024);
    let mut buf = [0u8; 4096];
    while start.elapsed() < RUN {
        poll.poll(&mut events, Some(Duration::from_millis(100)))
            .unwrap();
        for ev in events.iter() {
            let i = ev.token().0;
            let Some(s) = socks[i].as_mut() else { continue };
            let mut dead = false;
            loop {
                match s.read(&mut buf) {
                    Ok(0) => {
                        dead = true;
                        break;
                    }
                    Ok(n) => {
                        got[i] += n;
                        while got[i] >= MSG {
                            got[i] -= MSG;
                            if let Some(t) = sent_at.remove(&i) {
                                lat.push(t.elapsed().as_micros().min(u32::MAX as u128) as u32);
                            }
                            if start.elapsed() < RUN && s.write_all(&payload).is_ok() {
                                sent_at.insert(i, Instant::now());
                            }
                        }
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                    Err(_) => {
                        dead = true;
                        break;
                    }
                }
            }
            if dead {
                errors += 1;
                socks[i] = None;
            }
        }
    }
    let secs = start.elapsed().as_secs_f64();
    lat.sort_unstable();
    let pct = |p: f64| {
        if lat.is_empty() {
            0.0
        } else {
            lat[((lat.len() - 1) as f64 * p) as usize] as f64
        }
    };
    Result {
        rps: lat.len() as f64 / secs,
        p50_us: pct(0.5),
        p99_us: pct(0.99),
        errors,
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn wait_listening(addr: SocketAddr) -> bool {
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        if TcpStream::connect(addr).is_ok() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

/// The floor: one thread per connection, read and write back.
fn rust_floor() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    std::thread::spawn(move || {
        for s in l.incoming().map_while(std::result::Result::ok) {
            std::thread::spawn(move || {
                let mut s = s;
                let _ = s.set_nodelay(true);
                let mut buf = [0u8; 4096];
                while let Ok(n) = s.read(&mut buf) {
                    if n == 0 || s.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
            });
        }
    });
    addr
}

const PY_ECHO: &str = r#"
import asyncio, sys
class Echo(asyncio.Protocol):
    def connection_made(self, transport):
        self.transport = transport
    def data_received(self, data):
        self.transport.write(data)
async def main(port):
    loop = asyncio.get_running_loop()
    server = await loop.create_server(Echo, '127.0.0.1', port, backlog=4096)
    async with server:
        await server.serve_forever()
asyncio.run(main(int(sys.argv[1])))
"#;

/// Builds the command that starts a peer listening on a port.
type PeerCommand = Box<dyn Fn(u16) -> Command>;

fn spawn(cmd: &mut Command) -> Option<Child> {
    cmd.stdout(Stdio::null()).stderr(Stdio::null()).spawn().ok()
}

fn main() {
    let _ = sockscope::sys::raise_fd_limit();
    let mut rows: Vec<(String, Vec<Option<Result>>)> = Vec::new();
    let levels = [1usize, 100, 1000];
    let run_all = |addr: SocketAddr| -> Vec<Option<Result>> {
        levels.iter().map(|&c| Some(load(addr, c))).collect()
    };

    // Sockscope: an echo server session, its events drained into a log
    // store as the app does (logging on).
    let mut engine = Engine::new(EngineConfig::default(), None);
    let mut spec = SessionSpec::new(
        "echo",
        SessionKind::TcpServer {
            local: "127.0.0.1:0".parse().unwrap(),
            backlog: 4096,
        },
    );
    spec.responder = Responder::Echo;
    spec.options = vec![sockscope::engine::options::SockOpt::flag(
        sockscope::engine::options::OptName::NoDelay,
        true,
    )];
    engine.open(spec).unwrap();
    let mut addr = None;
    while addr.is_none() {
        if let Ok(ev) = engine.events().recv_timeout(Duration::from_secs(5))
            && let EventKind::Listening {
                local: Addr::Inet(a),
                ..
            } = ev.kind
        {
            addr = Some(a);
        }
    }
    let events = engine.events().clone();
    let drain = std::thread::spawn(move || {
        let mut store = LogStore::new(LogBudget::default());
        while let Ok(ev) = events.recv_timeout(Duration::from_secs(2)) {
            store.ingest(ev);
        }
    });
    rows.push((
        "Sockscope echo session (logging on)".into(),
        run_all(addr.unwrap()),
    ));
    drop(engine);
    let _ = drain.join();

    rows.push((
        "Rust thread per connection (floor)".into(),
        run_all(rust_floor()),
    ));

    let peers: Vec<(&str, PeerCommand)> = vec![
        (
            "socat (fork + cat)",
            Box::new(|p| {
                let mut c = Command::new("socat");
                c.arg(format!(
                    "TCP-LISTEN:{p},bind=127.0.0.1,fork,reuseaddr,backlog=4096"
                ))
                .arg("EXEC:cat");
                c
            }),
        ),
        (
            "ncat -k --exec cat",
            Box::new(|p| {
                let mut c = Command::new("ncat");
                // -m: ncat refuses more than 100 connections by default.
                c.args([
                    "-l",
                    "-k",
                    "-m",
                    "10000",
                    "127.0.0.1",
                    &p.to_string(),
                    "--exec",
                    "/bin/cat",
                ]);
                c
            }),
        ),
        (
            "python3 asyncio echo (the seed's)",
            Box::new(|p| {
                let mut c = Command::new("python3");
                c.args(["-c", PY_ECHO, &p.to_string()]);
                c
            }),
        ),
    ];
    // PEERS_ONLY=python,socat runs a subset of the peers.
    let only: Option<Vec<String>> = std::env::var("PEERS_ONLY")
        .ok()
        .map(|v| v.split(',').map(str::to_string).collect());
    for (name, make) in peers {
        if only
            .as_ref()
            .is_some_and(|o| !o.iter().any(|w| name.contains(w.as_str())))
        {
            continue;
        }
        let port = free_port();
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        match spawn(&mut make(port)) {
            Some(mut child) if wait_listening(addr) => {
                rows.push((name.to_string(), run_all(addr)));
                let _ = child.kill();
                let _ = child.wait();
            }
            Some(mut child) => {
                let _ = child.kill();
                let _ = child.wait();
                rows.push((
                    format!("{name}: did not start listening"),
                    vec![None, None, None],
                ));
            }
            None => rows.push((format!("{name}: not installed"), vec![None, None, None])),
        }
    }

    let mut md = String::new();
    md.push_str(&format!(
        "Echo of {MSG}-byte messages on loopback, one message in flight per connection, {} s per cell; round trips/s (p50 / p99 latency), errors when connections failed.\n\n",
        RUN.as_secs()
    ));
    md.push_str(
        "| server | 1 connection | 100 connections | 1,000 connections |\n|---|---|---|---|\n",
    );
    for (name, cells) in &rows {
        md.push_str(&format!("| {name} |"));
        for c in cells {
            match c {
                Some(r) => md.push_str(&format!(
                    " {:.0}/s ({:.0} / {:.0} µs){} |",
                    r.rps,
                    r.p50_us,
                    r.p99_us,
                    if r.errors > 0 {
                        format!(", {} errors", r.errors)
                    } else {
                        String::new()
                    }
                )),
                None => md.push_str(" n/a |"),
            }
        }
        md.push('\n');
    }
    let ours = &rows[0].1;
    let floor = &rows[1].1;
    md.push_str("\nSockscope / floor: ");
    let ratios: Vec<String> = levels
        .iter()
        .zip(ours.iter().zip(floor.iter()))
        .map(|(c, (o, f))| match (o, f) {
            (Some(o), Some(f)) if f.rps > 0.0 => format!("{c}: {:.0}%", o.rps / f.rps * 100.0),
            _ => format!("{c}: n/a"),
        })
        .collect();
    md.push_str(&ratios.join(", "));
    md.push('\n');
    println!("{md}");
    write_into_benchmarks_md(&md);
}

/// Replaces the echo section of BENCHMARKS.md (between its markers) with
/// this run's table, stamped with the machine, versions and date.
fn write_into_benchmarks_md(table: &str) {
    let version = |cmd: &str, arg: &str| {
        Command::new(cmd)
            .arg(arg)
            .output()
            .ok()
            .map(|o| {
                let text = String::from_utf8_lossy(&o.stdout).to_string()
                    + &String::from_utf8_lossy(&o.stderr);
                text.lines().next().unwrap_or("").trim().to_string()
            })
            .unwrap_or_else(|| "not installed".into())
    };
    let date = Command::new("date")
        .args(["-u", "+%Y-%m-%d %H:%M UTC"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let stamp = format!(
        "Run on {date}: {cores} cores, Linux {}, {}; {}; {}.\n\n",
        kernel.trim(),
        version("socat", "-V").replace(
            "socat by Gerhard Rieger and contributors - see www.dest-unreach.org",
            "socat"
        ),
        version("ncat", "--version"),
        version("python3", "--version"),
    );
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("BENCHMARKS.md");
    let Ok(doc) = std::fs::read_to_string(&path) else {
        return;
    };
    let (begin, end) = ("<!-- echo:begin -->", "<!-- echo:end -->");
    if let (Some(b), Some(e)) = (doc.find(begin), doc.find(end)) {
        let new = format!("{}{begin}\n{stamp}{table}{}", &doc[..b], &doc[e..]);
        if let Err(e) = sockscope::fsutil::write_atomic(&path, new.as_bytes()) {
            eprintln!("could not update BENCHMARKS.md: {e}");
        }
    }
}
