//! A relay's cost, against socat's TCP relay in the same run:
//! `cargo bench --bench relay` (needs socat; without it the ratios are
//! left out and the bench says so). Writes its table to stdout and into
//! BENCHMARKS.md between the relay markers.
//!
//! Three measures, each through Sockscope's relay as users run it
//! (`sockscope run`, stdout to /dev/null, with default flags and with
//! `--data-limit 64`), and through `socat TCP-LISTEN:...,fork TCP:...`:
//!
//! - one stream of `RELAY_BENCH_GIB` GiB (default 4) through the relay into
//!   a server that reads and discards it, MB/s (a direct connection beside);
//! - 100 echo connections through the relay, each a thread of this process
//!   in lockstep (write 64 bytes, read 64 bytes), round trips/s, against
//!   the relays being separate processes;
//! - the latency one connection's round trip gains, p50 and p99, against a
//!   direct connection to the same echo server, measured twice: as the
//!   machine is, and with every core kept awake by a spinning thread of
//!   the lowest class (`SCHED_IDLE`, which any other thread preempts at
//!   once). On a VM a core that goes idle halts, and waking it costs tens
//!   of microseconds: the direct path (two threads of an idle process)
//!   pays it on every round trip while a relay's busy process keeps a core
//!   warm, so only the second measure compares the paths on equal terms.
//!
//! The servers behind are plain Rust, a thread per connection, in this
//! process; they are the same for every relay.

mod common;
use common::{free_port, wait_listening};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

const MSG: usize = 64;
const RUN: Duration = Duration::from_secs(3);

/// A server of one thread per connection running `serve` on each.
fn server(serve: fn(TcpStream)) -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    std::thread::spawn(move || {
        for s in l.incoming().map_while(Result::ok) {
            std::thread::spawn(move || serve(s));
        }
    });
    addr
}

fn echo(mut s: TcpStream) {
    let _ = s.set_nodelay(true);
    let mut buf = [0u8; 4096];
    while let Ok(n) = s.read(&mut buf) {
        if n == 0 || s.write_all(&buf[..n]).is_err() {
            break;
        }
    }
}

/// Reads to the end and says how much it read, as one 8-byte answer.
fn sink(mut s: TcpStream) {
    let mut buf = vec![0u8; 256 * 1024];
    let mut total: u64 = 0;
    while let Ok(n) = s.read(&mut buf) {
        if n == 0 {
            break;
        }
        total += n as u64;
    }
    let _ = s.write_all(&total.to_le_bytes());
}

/// One stream of `bytes` into `addr`: MB/s, once the sink says it has all.
fn stream(addr: SocketAddr, bytes: u64) -> Option<f64> {
    let mut s = TcpStream::connect(addr).ok()?;
    let buf = vec![0x5au8; 256 * 1024];
    let start = Instant::now();
    let mut sent = 0u64;
    while sent < bytes {
        let n = (bytes - sent).min(buf.len() as u64) as usize;
        s.write_all(&buf[..n]).ok()?;
        sent += n as u64;
    }
    s.shutdown(std::net::Shutdown::Write).ok()?;
    let mut answer = [0u8; 8];
    s.read_exact(&mut answer).ok()?;
    let secs = start.elapsed().as_secs_f64();
    (u64::from_le_bytes(answer) == bytes).then_some(bytes as f64 / secs / 1e6)
}

struct Echo {
    rps: f64,
    p50_us: f64,
    p99_us: f64,
}

/// `conns` threads, each one connection in lockstep, for [`RUN`].
fn lockstep(addr: SocketAddr, conns: usize) -> Option<Echo> {
    let stop = Arc::new(AtomicBool::new(false));
    let start = Arc::new(Barrier::new(conns + 1));
    let mut threads = Vec::new();
    for _ in 0..conns {
        let (stop, start) = (stop.clone(), start.clone());
        threads.push(std::thread::spawn(move || {
            let mut lat = Vec::new();
            let s = TcpStream::connect(addr);
            start.wait();
            let Ok(mut s) = s else { return None };
            s.set_nodelay(true).ok()?;
            let msg = [7u8; MSG];
            let mut back = [0u8; MSG];
            while !stop.load(Ordering::Relaxed) {
                let t = Instant::now();
                s.write_all(&msg).ok()?;
                s.read_exact(&mut back).ok()?;
                lat.push(t.elapsed().as_micros() as u32);
            }
            Some(lat)
        }));
    }
    start.wait();
    let began = Instant::now();
    std::thread::sleep(RUN);
    stop.store(true, Ordering::Relaxed);
    let mut lat = Vec::new();
    for t in threads {
        lat.extend(t.join().ok()??);
    }
    let secs = began.elapsed().as_secs_f64();
    lat.sort_unstable();
    let pct = |p: f64| lat[((lat.len() - 1) as f64 * p) as usize] as f64;
    (!lat.is_empty()).then(|| Echo {
        rps: lat.len() as f64 / secs,
        p50_us: pct(0.5),
        p99_us: pct(0.99),
    })
}

/// Runs `f` with one spinning `SCHED_IDLE` thread per core, so no core
/// halts while `f` measures (see the module's notes). The spinners take
/// only time nothing else wants.
fn cores_awake<T>(f: impl FnOnce() -> T) -> T {
    let stop = Arc::new(AtomicBool::new(false));
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let spinners: Vec<_> = (0..cores)
        .map(|i| {
            let stop = stop.clone();
            std::thread::Builder::new()
                .name(format!("bench-awake-{i}"))
                .spawn(move || {
                    let param = libc::sched_param { sched_priority: 0 };
                    // SAFETY: sets this thread's own policy; param is valid.
                    let ok = unsafe { libc::sched_setscheduler(0, libc::SCHED_IDLE, &param) } == 0;
                    while ok && !stop.load(Ordering::Relaxed) {
                        std::hint::spin_loop();
                    }
                    ok
                })
                .expect("a spinner thread")
        })
        .collect();
    let out = f();
    stop.store(true, Ordering::Relaxed);
    for s in spinners {
        assert!(s.join().unwrap_or(false), "SCHED_IDLE was refused");
    }
    out
}

/// A relay process listening on a free port in front of `target`.
struct Relay {
    child: Child,
    addr: SocketAddr,
}

impl Drop for Relay {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn sockscope(target: SocketAddr, flags: &[&str]) -> Option<Relay> {
    let port = free_port();
    let dir = std::env::temp_dir().join(format!("sockscope-relay-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).ok()?;
    let preset = dir.join(format!("relay-{port}.ron"));
    std::fs::write(
        &preset,
        format!(
            "(version: 1, name: \"relay\", kind: Relay(listen: \"127.0.0.1:{port}\", target: \"{target}\"), \
             options: (nodelay: true))"
        ),
    )
    .ok()?;
    let child = Command::new(env!("CARGO_BIN_EXE_sockscope"))
        .arg("run")
        .arg(&preset)
        .args(flags)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().ok()?;
    let r = Relay { child, addr };
    wait_listening(addr).then_some(r)
}

fn socat(target: SocketAddr) -> Option<Relay> {
    let port = free_port();
    let child = Command::new("socat")
        .arg(format!(
            "TCP-LISTEN:{port},bind=127.0.0.1,fork,reuseaddr,nodelay"
        ))
        .arg(format!("TCP:{target},nodelay"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().ok()?;
    let r = Relay { child, addr };
    wait_listening(addr).then_some(r)
}

/// The kinds of path measured, in the order of the table.
#[derive(Clone, Copy, PartialEq)]
enum Path {
    Direct,
    Socat,
    Sockscope,
    SockscopeLimited,
}

impl Path {
    fn name(self) -> &'static str {
        match self {
            Path::Direct => "direct (no relay)",
            Path::Socat => "socat TCP-LISTEN,fork TCP",
            Path::Sockscope => "Sockscope relay, `sockscope run` (default flags)",
            Path::SockscopeLimited => "Sockscope relay, `sockscope run --data-limit 64`",
        }
    }

    /// Where to connect for `target`, and the relay process to drop after.
    fn start(self, target: SocketAddr) -> Option<(SocketAddr, Option<Relay>)> {
        let r = match self {
            Path::Direct => return Some((target, None)),
            Path::Socat => socat(target)?,
            Path::Sockscope => sockscope(target, &[])?,
            Path::SockscopeLimited => sockscope(target, &["--data-limit", "64"])?,
        };
        Some((r.addr, Some(r)))
    }
}

/// One path's figures of one round.
#[derive(Default, Clone)]
struct Cells {
    stream: Vec<f64>,
    echo: Vec<f64>,
    p50: Vec<f64>,
    p99: Vec<f64>,
    /// The same with every core kept awake.
    awake_p50: Vec<f64>,
    awake_p99: Vec<f64>,
}

fn median(v: &[f64]) -> Option<f64> {
    let mut v = v.to_vec();
    v.sort_by(|a, b| a.total_cmp(b));
    v.get(v.len() / 2).copied()
}

fn main() {
    let gib: u64 = std::env::var("RELAY_BENCH_GIB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(4);
    let rounds: usize = std::env::var("RELAY_BENCH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3);
    let bytes = gib << 30;
    let sink_addr = server(sink);
    let echo_addr = server(echo);
    let paths = [
        Path::Direct,
        Path::Socat,
        Path::Sockscope,
        Path::SockscopeLimited,
    ];
    let mut cells = vec![Cells::default(); paths.len()];
    let socat_there = socat(echo_addr).is_some();
    // Rounds interleave the paths, so a slow moment of this shared machine
    // falls on every path alike; the table gives each path's median.
    for _ in 0..rounds {
        for (i, p) in paths.iter().enumerate() {
            if let Some((addr, relay)) = p.start(sink_addr) {
                cells[i].stream.extend(stream(addr, bytes));
                drop(relay);
            }
            if let Some((addr, relay)) = p.start(echo_addr) {
                if let Some(e) = lockstep(addr, 100) {
                    cells[i].echo.push(e.rps);
                }
                if let Some(o) = lockstep(addr, 1) {
                    cells[i].p50.push(o.p50_us);
                    cells[i].p99.push(o.p99_us);
                }
                if let Some(o) = cores_awake(|| lockstep(addr, 1)) {
                    cells[i].awake_p50.push(o.p50_us);
                    cells[i].awake_p99.push(o.p99_us);
                }
                drop(relay);
            }
        }
    }
    let mut md = format!(
        "Median of {rounds} interleaved rounds. One stream of {gib} GiB into a reading server \
         (MB/s), 100 echo connections in lockstep (64 bytes, a thread each in the bench process, \
         {}s), and one connection's round trip (p50 / p99, {}s; as the machine is, then with every \
         core kept awake by a `SCHED_IDLE` spinner), through each relay as a separate \
         process; the servers behind are the same Rust thread-per-connection servers for all.\n\n\
         | path | {gib} GiB stream | 100 echo connections | 1 connection p50 / p99 | same, cores awake |\n|---|---|---|---|---|\n",
        RUN.as_secs(),
        RUN.as_secs()
    );
    let show =
        |v: Option<f64>, unit: &str| v.map_or("failed".to_string(), |v| format!("{v:.0}{unit}"));
    for (p, c) in paths.iter().zip(&cells) {
        md += &format!(
            "| {} | {} | {} | {} / {} µs | {} / {} µs |\n",
            p.name(),
            show(median(&c.stream), " MB/s"),
            show(median(&c.echo), "/s"),
            show(median(&c.p50), ""),
            show(median(&c.p99), ""),
            show(median(&c.awake_p50), ""),
            show(median(&c.awake_p99), ""),
        );
    }
    md.push('\n');
    let ratio = |a: Option<f64>, b: Option<f64>| match (a, b) {
        (Some(a), Some(b)) if b > 0.0 => format!("{:.2}×", a / b),
        _ => "-".into(),
    };
    // Each round's figure, so the spread between rounds is in view.
    let rounds = |v: &[f64]| {
        v.iter()
            .map(|x| format!("{x:.0}"))
            .collect::<Vec<_>>()
            .join(", ")
            + " µs"
    };
    let (direct, socat_c) = (&cells[0], &cells[1]);
    for (p, c) in paths.iter().zip(&cells).skip(2) {
        let added = |mine: &[f64], base: &[f64]| match (median(mine), median(base)) {
            (Some(a), Some(b)) => format!("{:+.0} µs", a - b),
            _ => "-".into(),
        };
        md += &format!(
            "- {}: stream {} of socat, echo {} of socat (goal: at least 0.8×); stream {} of direct; \
             latency added to a round trip, cores awake: p50 {}, p99 {} (as the machine is: p50 {}, p99 {}); \
             p50 cores awake by round: {} (direct: {})\n",
            p.name(),
            ratio(median(&c.stream), median(&socat_c.stream)),
            ratio(median(&c.echo), median(&socat_c.echo)),
            ratio(median(&c.stream), median(&direct.stream)),
            added(&c.awake_p50, &direct.awake_p50),
            added(&c.awake_p99, &direct.awake_p99),
            added(&c.p50, &direct.p50),
            added(&c.p99, &direct.p99),
            rounds(&c.awake_p50),
            rounds(&direct.awake_p50),
        );
    }
    if !socat_there {
        md += "- socat is not installed: no ratios against it (apt-get install socat)\n";
    }
    println!("{md}");
    write_into_benchmarks_md(&md);
}

/// Replaces the relay section of BENCHMARKS.md (between its markers).
fn write_into_benchmarks_md(table: &str) {
    let date = Command::new("date")
        .args(["-u", "+%Y-%m-%d %H:%M UTC"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    let socat = Command::new("socat")
        .arg("-V")
        .output()
        .ok()
        .and_then(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .find(|l| l.contains("version"))
                .map(|l| l.trim().to_string())
        })
        .unwrap_or_else(|| "socat not installed".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let stamp = format!("Run on {date}: {cores} cores, {socat}.\n\n");
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("BENCHMARKS.md");
    let Ok(doc) = std::fs::read_to_string(&path) else {
        return;
    };
    let (begin, end) = ("<!-- relay:begin -->", "<!-- relay:end -->");
    if let (Some(b), Some(e)) = (doc.find(begin), doc.find(end)) {
        let new = format!("{}{begin}\n{stamp}{table}{}", &doc[..b], &doc[e..]);
        if let Err(e) = sockscope::fsutil::write_atomic(&path, new.as_bytes()) {
            eprintln!("could not update BENCHMARKS.md: {e}");
        }
    }
}
