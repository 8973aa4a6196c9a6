//! Echo round trips against real peers, side by side in one run:
//! `cargo bench --bench peers` (needs socat, ncat and python3; a missing
//! peer is reported and skipped). Writes BENCHMARKS.md's echo section and
//! draws its charts (`benches/charts/echo-*.png`).
//!
//! Every server runs in a process of its own (Sockscope's app path, the
//! thread-per-connection floor and the tokio echo are this bench run again
//! with `PEERS_SERVER` set), so its memory and CPU are its own. Each echoes
//! 64-byte messages on loopback, one message in flight per connection, for
//! a fixed time, with every round trip's latency recorded, by two load
//! generators: a mio loop in this process (its one thread is the whole
//! client side, which favours single-threaded servers), and independent
//! clients: a separate process (`PEERS_CLIENT`) with one thread per
//! connection, each in lockstep (write 64 bytes, read 64 bytes), as real
//! clients are.
//!
//! Right after each window, while every connection is still open, the
//! server's memory is read (PSS summed over its processes, so socat's and
//! ncat's forks count once per page) and its CPU over the window (user +
//! system, summed over its processes; 200% is both cores).
//!
//! Each cell is the median of `PEERS_TRIALS` (3) trials, interleaved over
//! every server and level. `PEERS_LEVELS=1,100` and
//! `PEERS_ONLY=tokio,Sockscope` run a subset.

mod common;
use common::{free_port, wait_listening};
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
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
const BACKLOG: i32 = 4096;

/// One cell: a server at one concurrency with one load generator.
#[derive(Clone, Copy, Default)]
struct Cell {
    rps: f64,
    p50_us: f64,
    p99_us: f64,
    errors: usize,
    /// The server's memory right after the window, MiB (PSS).
    mem_mib: f64,
    /// The server's CPU over the window, percent of one core.
    cpu_pct: f64,
    /// `sockscope run` to a file: data lines it counted as `dropped`
    /// instead of printing (its output could not keep up).
    dropped: u64,
}

/// Data lines `sockscope run` reported as dropped (the `entries` of its
/// `dropped` lines) in what it wrote to `path` after `from`; moves `from`
/// to the end. Lines still being written are counted with the next level.
fn dropped_since(path: &std::path::Path, from: &mut u64) -> u64 {
    use std::io::{Seek, SeekFrom};
    let Ok(mut f) = std::fs::File::open(path) else {
        return 0;
    };
    if f.seek(SeekFrom::Start(*from)).is_err() {
        return 0;
    }
    let mut dropped = 0;
    let mut r = BufReader::with_capacity(1 << 20, f);
    let mut line = Vec::new();
    while let Ok(n) = r.read_until(b'\n', &mut line) {
        if n == 0 || line.last() != Some(&b'\n') {
            break;
        }
        *from += n as u64;
        let needle = b"\"event\":\"dropped\"";
        if line.windows(needle.len()).any(|w| w == needle)
            && let Ok(v) = serde_json::from_slice::<serde_json::Value>(&line)
        {
            dropped += v["entries"].as_u64().unwrap_or(0);
        }
        line.clear();
    }
    dropped
}

/// The server's processes: `root` and every descendant (socat and ncat
/// fork one per connection).
fn tree_pids(root: u32) -> Vec<u32> {
    let mut parent: Vec<(u32, u32)> = Vec::new();
    if let Ok(dir) = std::fs::read_dir("/proc") {
        for e in dir.flatten() {
            let Some(pid) = e.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else {
                continue;
            };
            let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
                continue;
            };
            let ppid = stat
                .rsplit(')')
                .next()
                .and_then(|r| r.split_whitespace().nth(1)?.parse().ok())
                .unwrap_or(0);
            parent.push((pid, ppid));
        }
    }
    let mut tree = vec![root];
    let mut i = 0;
    while i < tree.len() {
        let p = tree[i];
        tree.extend(parent.iter().filter(|(_, pp)| *pp == p).map(|(c, _)| *c));
        i += 1;
    }
    tree
}

/// CPU ticks (user + system) the processes have used so far.
fn cpu_ticks(pids: &[u32]) -> u64 {
    pids.iter()
        .filter_map(|pid| {
            let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            let f: Vec<&str> = s.rsplit(')').next()?.split_whitespace().collect();
            Some(f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?)
        })
        .sum()
}

/// The processes' proportional set size in KiB (shared pages counted once).
fn pss_kib(pids: &[u32]) -> u64 {
    pids.iter()
        .filter_map(|pid| {
            let s = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).ok()?;
            s.lines()
                .find(|l| l.starts_with("Pss:"))?
                .split_whitespace()
                .nth(1)?
                .parse::<u64>()
                .ok()
        })
        .sum()
}

/// Measures the server `pid` over a window: call `start` when the load is
/// on and `finish` right after it, with every connection still open.
struct Meter {
    pid: u32,
    at: Option<(Instant, u64)>,
}

impl Meter {
    fn new(pid: u32) -> Self {
        Meter { pid, at: None }
    }
    fn start(&mut self) {
        self.at = Some((Instant::now(), cpu_ticks(&tree_pids(self.pid))));
    }
    /// (memory MiB, CPU percent).
    fn finish(&self) -> (f64, f64) {
        let pids = tree_pids(self.pid);
        let ticks = cpu_ticks(&pids);
        let mem = pss_kib(&pids) as f64 / 1024.0;
        let cpu = self.at.map_or(0.0, |(t, c)| {
            ticks.saturating_sub(c) as f64 / 100.0 / t.elapsed().as_secs_f64() * 100.0
        });
        (mem, cpu)
    }
}

/// Keeps `conns` connections each with one 64-byte message in flight.
fn load(addr: SocketAddr, conns: usize, pid: u32) -> Cell {
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
    let mut meter = Meter::new(pid);
    meter.start();
    let start = Instant::now();
    for (i, s) in socks.iter_mut().enumerate() {
        if let Some(s) = s {
            let t = Instant::now();
            if s.write_all(&payload).is_ok() {
                sent_at.insert(i, t);
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
                            // The clock is read before the write: on
                            // loopback the echo can be back before the
                            // write returns (the floor's p50 read 0 µs).
                            let t = Instant::now();
                            if t - start < RUN && s.write_all(&payload).is_ok() {
                                sent_at.insert(i, t);
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
    let (mem_mib, cpu_pct) = meter.finish();
    Cell {
        mem_mib,
        cpu_pct,
        ..summarise(lat, secs, errors)
    }
}

/// The independent clients, in the process this bench starts for them:
/// `PEERS_CLIENT=addr,conns,secs`. Once every thread has connected it
/// sets a window; says `go` when the window starts and `stop` when it
/// ends, then waits for a line on stdin before it closes the connections
/// and prints `rps p50 p99 errors`.
fn client_process(spec: &str) {
    let mut parts = spec.split(',');
    let addr: SocketAddr = parts.next().unwrap().parse().unwrap();
    let conns: usize = parts.next().unwrap().parse().unwrap();
    let secs: f64 = parts.next().unwrap().parse().unwrap();
    let server: Option<u32> = parts.next().and_then(|p| p.parse().ok());
    let _ = sockscope::sys::raise_fd_limit();
    // The window is set once every thread has connected, and each thread
    // counts only the round trips inside it: with 10,000 runnable threads
    // this process's main thread may run seconds late, so it must not be
    // the one that says when the window starts (it once counted work done
    // before its clock started: 1.35 million round trips/s).
    let connected = std::sync::Arc::new(std::sync::Barrier::new(conns + 1));
    let window: std::sync::Arc<std::sync::OnceLock<(Instant, Instant)>> = Default::default();
    let set = std::sync::Arc::new(std::sync::Barrier::new(conns + 1));
    // The server's CPU ticks at the window's start and end are read here,
    // by the first thread to see each moment, and `go` and `stop` said by
    // it. Not by the bench, nor by this main thread: with 10,000 client
    // threads and the floor's 10,000 on two cores, a process that sleeps
    // (the bench waiting for a line, this thread in `sleep`) woke 6 s late,
    // after the window, and the floor's CPU read 0% (measured over nothing).
    let said: std::sync::Arc<[Mark; 2]> = Default::default();
    let threads: Vec<_> = (0..conns)
        .map(|_| {
            let (connected, window, set) = (connected.clone(), window.clone(), set.clone());
            let said = said.clone();
            std::thread::Builder::new()
                .name("peers-client".into())
                .stack_size(128 * 1024)
                .spawn(move || {
                    let mut lat: Vec<u32> = Vec::new();
                    let conn = TcpStream::connect(addr).and_then(|s| {
                        s.set_nodelay(true)?;
                        s.set_read_timeout(Some(Duration::from_secs(10)))?;
                        Ok(s)
                    });
                    connected.wait();
                    set.wait();
                    let Some(&(from, until)) = window.get() else {
                        return (lat, true, None);
                    };
                    let Ok(mut s) = conn else {
                        return (lat, true, None);
                    };
                    let msg = [0x42u8; MSG];
                    let mut buf = [0u8; MSG];
                    loop {
                        let t = Instant::now();
                        if t >= from {
                            say(&said[0], "go", server);
                        }
                        if t >= until {
                            say(&said[1], "stop", server);
                            break;
                        }
                        if s.write_all(&msg)
                            .and_then(|()| s.read_exact(&mut buf))
                            .is_err()
                        {
                            return (lat, true, None);
                        }
                        let done = Instant::now();
                        if t >= from && done <= until {
                            lat.push((done - t).as_micros() as u32);
                        }
                    }
                    // Kept open until the server's memory has been read.
                    (lat, false, Some(s))
                })
                .unwrap()
        })
        .collect();
    connected.wait();
    let from = Instant::now() + Duration::from_millis(300);
    let until = from + Duration::from_secs_f64(secs);
    let _ = window.set((from, until));
    set.wait();
    let mut lat = Vec::new();
    let mut errors = 0;
    let mut open = Vec::with_capacity(conns);
    for t in threads {
        let (l, failed, s) = t.join().unwrap_or_default();
        lat.extend(l);
        errors += usize::from(failed);
        open.extend(s);
    }
    // No thread got as far (every connection failed).
    say(&said[0], "go", server);
    say(&said[1], "stop", server);
    let mut out = std::io::stdout();
    let mut line = String::new();
    let _ = std::io::stdin().read_line(&mut line);
    drop(open);
    let r = summarise(lat, secs, errors);
    // The server's CPU over the window, in percent of one core.
    let cpu = match (said[0].get(), said[1].get()) {
        (Some((t0, c0)), Some((t1, c1))) if *t1 > *t0 => {
            c1.saturating_sub(*c0) as f64 / 100.0 / (*t1 - *t0).as_secs_f64() * 100.0
        }
        _ => 0.0,
    };
    let _ = writeln!(
        out,
        "{} {} {} {} {}",
        r.rps, r.p50_us, r.p99_us, r.errors, cpu
    );
}

/// When a moment of the window was seen, and the server's CPU ticks then.
type Mark = std::sync::OnceLock<(Instant, u64)>;

/// Marks the moment and prints `line`, once per process: whichever thread
/// gets here first.
fn say(mark: &Mark, line: &str, server: Option<u32>) {
    if mark.get().is_some() {
        return;
    }
    let mut first = false;
    mark.get_or_init(|| {
        first = true;
        let pids = server.map(tree_pids).unwrap_or_default();
        (Instant::now(), cpu_ticks(&pids))
    });
    if first {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{line}");
        let _ = out.flush();
    }
}

/// Runs the independent clients against `addr` in a process of their own.
fn load_independent(addr: SocketAddr, conns: usize, pid: u32) -> Cell {
    let failed = Cell {
        errors: conns,
        ..Cell::default()
    };
    let Ok(exe) = std::env::current_exe() else {
        return failed;
    };
    let child = Command::new(exe)
        .env(
            "PEERS_CLIENT",
            format!("{addr},{conns},{},{pid}", RUN.as_secs_f64()),
        )
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn();
    let Ok(mut child) = child else { return failed };
    let (Some(mut stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
        return failed;
    };
    let mut lines = BufReader::new(stdout)
        .lines()
        .map_while(std::result::Result::ok);
    // The CPU comes from the client (see `client_process`); the memory is
    // read here at `stop`, with every connection still open.
    let mut mem_mib = 0.0;
    let mut result = None;
    for line in lines.by_ref() {
        match line.as_str() {
            "go" => {}
            "stop" => {
                mem_mib = pss_kib(&tree_pids(pid)) as f64 / 1024.0;
                let _ = writeln!(stdin, "done");
                let _ = stdin.flush();
            }
            other => {
                result = Some(other.to_string());
                break;
            }
        }
    }
    drop(stdin);
    let _ = child.wait();
    let f: Vec<f64> = result
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|w| w.parse().ok())
        .collect();
    match f.as_slice() {
        [rps, p50, p99, errors, cpu] => Cell {
            rps: *rps,
            p50_us: *p50,
            p99_us: *p99,
            errors: *errors as usize,
            mem_mib,
            // The client's reading: it is there when the window starts and
            // ends; the bench may not be.
            cpu_pct: *cpu,
            dropped: 0,
        },
        _ => failed,
    }
}

fn summarise(mut lat: Vec<u32>, secs: f64, errors: usize) -> Cell {
    lat.sort_unstable();
    let pct = |p: f64| {
        if lat.is_empty() {
            0.0
        } else {
            lat[((lat.len() - 1) as f64 * p) as usize] as f64
        }
    };
    Cell {
        rps: lat.len() as f64 / secs,
        p50_us: pct(0.5),
        p99_us: pct(0.99),
        errors,
        ..Cell::default()
    }
}

/// A listener on 127.0.0.1 with the same backlog every server gets.
fn listener() -> TcpListener {
    let s = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    s.set_reuse_address(true).unwrap();
    let addr: SocketAddr = "127.0.0.1:0".parse().unwrap();
    s.bind(&addr.into()).unwrap();
    s.listen(BACKLOG).unwrap();
    s.into()
}

/// The servers this bench hosts in a process of its own:
/// `PEERS_SERVER=app|floor|tokio`. Prints the port, serves until stdin
/// closes.
fn server_process(which: &str) {
    let _ = sockscope::sys::raise_fd_limit();
    std::thread::Builder::new()
        .name("peers-server-stdin".into())
        .spawn(|| {
            let _ = std::io::copy(&mut std::io::stdin(), &mut std::io::sink());
            std::process::exit(0);
        })
        .unwrap();
    match which {
        "app" => app_server(),
        "floor" => floor_server(),
        "tokio" => tokio_server(),
        other => panic!("no server {other}"),
    }
}

fn say_port(port: u16) {
    let mut out = std::io::stdout();
    let _ = writeln!(out, "{port}");
    let _ = out.flush();
}

/// Sockscope through the app's path: an echo server session, its events
/// drained into a log store as the app does (logging on).
fn app_server() {
    let mut engine = Engine::new(EngineConfig::default(), None);
    let mut spec = SessionSpec::new(
        "echo",
        SessionKind::TcpServer {
            local: "127.0.0.1:0".parse().unwrap(),
            backlog: BACKLOG,
        },
    );
    spec.responder = Responder::Echo;
    spec.options = vec![sockscope::engine::options::SockOpt::flag(
        sockscope::engine::options::OptName::NoDelay,
        true,
    )];
    engine.open(spec).unwrap();
    let mut store = LogStore::new(LogBudget::default());
    let mut said = false;
    loop {
        let first = match engine.events().recv_timeout(Duration::from_secs(1)) {
            Ok(ev) => ev,
            Err(e) if e.is_timeout() => continue,
            Err(_) => return,
        };
        // Everything waiting, as the app's frame takes it, then (after a
        // small batch) a millisecond before the next look: the app looks
        // once a frame, `sockscope run` waits the same millisecond.
        let mut took = 0;
        for ev in
            std::iter::once(first).chain(std::iter::from_fn(|| engine.events().try_recv().ok()))
        {
            if !said
                && let EventKind::Listening {
                    local: Addr::Inet(a),
                    ..
                } = &ev.kind
            {
                say_port(a.port());
                said = true;
            }
            store.ingest(ev);
            took += 1;
        }
        if took < sockscope::headless::GATHER_BELOW {
            std::thread::sleep(sockscope::headless::GATHER);
        }
    }
}

/// The floor: one thread per connection, read and write back.
fn floor_server() {
    let l = listener();
    say_port(l.local_addr().unwrap().port());
    for s in l.incoming().map_while(std::result::Result::ok) {
        // Small stacks, as the clients' (10,000 threads at the top level);
        // a thread that cannot start drops its connection, which the
        // clients count as an error, instead of ending the accept loop.
        let _ = std::thread::Builder::new()
            .stack_size(64 * 1024)
            .spawn(move || {
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
}

/// The strongest peer: tokio's multi-thread runtime (a worker per core),
/// a task per connection copying what it reads back.
fn tokio_server() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_io()
        .build()
        .unwrap();
    rt.block_on(async {
        let std_listener = listener();
        std_listener.set_nonblocking(true).unwrap();
        let l = tokio::net::TcpListener::from_std(std_listener).unwrap();
        say_port(l.local_addr().unwrap().port());
        loop {
            let Ok((mut s, _)) = l.accept().await else {
                continue;
            };
            let _ = s.set_nodelay(true);
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                loop {
                    match s.read(&mut buf).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => {
                            if s.write_all(&buf[..n]).await.is_err() {
                                break;
                            }
                        }
                    }
                }
            });
        }
    });
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

/// A server under test, stopped when dropped.
struct Server {
    child: Child,
    addr: SocketAddr,
    /// Kept so that a server of ours stops when it closes.
    _stdin: Option<ChildStdin>,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// This bench as a server (`PEERS_SERVER`), which says its port.
fn ours(which: &str) -> Option<Server> {
    let mut child = Command::new(std::env::current_exe().ok()?)
        .env("PEERS_SERVER", which)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .ok()?;
    let stdin = child.stdin.take();
    let stdout: ChildStdout = child.stdout.take()?;
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).ok()?;
    let port: u16 = line.trim().parse().ok()?;
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().ok()?;
    Some(Server {
        child,
        addr,
        _stdin: stdin,
    })
}

/// A program that listens on the port it is given.
fn external(mut cmd: Command, port: u16) -> std::result::Result<Server, String> {
    let child = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|_| "not installed".to_string())?;
    listening(child, port)
}

/// The server `child` once it accepts on `port` (stopped if it does not).
fn listening(child: Child, port: u16) -> std::result::Result<Server, String> {
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let server = Server {
        child,
        addr,
        _stdin: None,
    };
    if wait_listening(addr) {
        Ok(server)
    } else {
        Err("did not start listening".into())
    }
}

/// `sockscope run` with an echo server, its JSON Lines to `out`.
fn headless(out: Stdio) -> std::result::Result<Server, String> {
    let port = free_port();
    let dir = preset_dir();
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let preset = dir.join(format!("echo-{port}.ron"));
    std::fs::write(
        &preset,
        format!(
            "(version: 1, name: \"echo\", kind: TcpServer(local: \"127.0.0.1:{port}\", backlog: {BACKLOG}), \
             options: (nodelay: true), responder: Echo)"
        ),
    )
    .map_err(|e| e.to_string())?;
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_sockscope"));
    cmd.arg("run").arg(&preset).stdin(Stdio::null());
    let child = cmd
        .stdout(out)
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| e.to_string());
    let server = child.and_then(|c| listening(c, port));
    // The runner read its preset when it started; the file is not needed
    // after that, and the folder goes when it is empty (end of the bench).
    let _ = std::fs::remove_file(&preset);
    server
}

/// The folder `headless` writes its presets in.
fn preset_dir() -> std::path::PathBuf {
    std::env::temp_dir().join(format!("sockscope-peers-{}", std::process::id()))
}

/// One server's cells: per concurrency level, with each load generator.
struct Row {
    name: String,
    /// Ours: compared with the floor and the best peer.
    ours: bool,
    floor: bool,
    mio: Vec<Option<Cell>>,
    independent: Vec<Option<Cell>>,
}

/// The trial whose round trips/s is the median (its latency, memory and
/// CPU with it).
fn median(mut trials: Vec<Cell>) -> Option<Cell> {
    trials.sort_by(|a, b| a.rps.total_cmp(&b.rps));
    trials.get(trials.len() / 2).copied()
}

fn missing(name: String, levels: &[usize]) -> Row {
    Row {
        name,
        ours: false,
        floor: false,
        mio: vec![None; levels.len()],
        independent: vec![None; levels.len()],
    }
}

fn main() {
    if let Ok(spec) = std::env::var("PEERS_CLIENT") {
        client_process(&spec);
        return;
    }
    if let Ok(which) = std::env::var("PEERS_SERVER") {
        server_process(&which);
        return;
    }
    let _ = sockscope::sys::raise_fd_limit();
    let levels: Vec<usize> = std::env::var("PEERS_LEVELS")
        .ok()
        .map(|v| v.split(',').filter_map(|w| w.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![1, 10, 100, 1000, 10_000]);
    // PEERS_ONLY=python,socat runs a subset of the servers.
    let only: Option<Vec<String>> = std::env::var("PEERS_ONLY")
        .ok()
        .map(|v| v.split(',').map(str::to_string).collect());
    let wanted = |name: &str| {
        only.as_ref()
            .is_none_or(|o| o.iter().any(|w| name.contains(w.as_str())))
    };
    // PEERS_TRIALS: each cell is the median of this many trials, taken
    // in turn over every server and level (interleaved, so that a slow
    // minute of this shared machine falls on all of them).
    let trials: usize = std::env::var("PEERS_TRIALS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3)
        .max(1);
    // Every server is started afresh for each trial and stopped after it,
    // so its memory at a level is what that level and the ones before it
    // in this trial made it hold, not the last trial's 10,000.
    let out_file =
        std::env::temp_dir().join(format!("sockscope-peers-{}.jsonl", std::process::id()));
    let to_file = out_file.clone();
    let mut servers: Vec<(&str, Starter)> = vec![
        (
            "Sockscope engine + log store (the app's path)",
            Box::new(|| ours("app").ok_or_else(|| "did not start".into())),
        ),
        (
            "Sockscope `sockscope run`, stdout to /dev/null",
            Box::new(|| headless(Stdio::null())),
        ),
        (
            "Sockscope `sockscope run`, stdout to a file",
            Box::new(move || {
                let out = std::fs::File::create(&to_file)
                    .map(Stdio::from)
                    .map_err(|e| e.to_string())?;
                headless(out)
            }),
        ),
        (
            "Rust thread per connection (floor)",
            Box::new(|| ours("floor").ok_or_else(|| "did not start".into())),
        ),
        (
            "tokio echo, multi-thread runtime (the strongest peer)",
            Box::new(|| ours("tokio").ok_or_else(|| "did not start".into())),
        ),
    ];
    let externals: Vec<(&str, PeerCommand)> = vec![
        ("socat (fork + cat)", |p| {
            let mut c = Command::new("socat");
            c.arg(format!(
                "TCP-LISTEN:{p},bind=127.0.0.1,fork,reuseaddr,backlog={BACKLOG}"
            ))
            .arg("EXEC:cat");
            c
        }),
        ("ncat -k --exec cat", |p| {
            let mut c = Command::new("ncat");
            // -m: ncat refuses more than 100 connections by default.
            c.args([
                "-l",
                "-k",
                "-m",
                "20000",
                "127.0.0.1",
                &p.to_string(),
                "--exec",
                "/bin/cat",
            ]);
            c
        }),
        ("python3 asyncio echo (the seed's)", |p| {
            let mut c = Command::new("python3");
            c.args(["-c", PY_ECHO, &p.to_string()]);
            c
        }),
    ];
    for (name, make) in externals {
        servers.push((
            name,
            Box::new(move || {
                let port = free_port();
                external(make(port), port)
            }),
        ));
    }
    servers.retain(|(name, _)| wanted(name));

    // Per server, per level: the trials of each load generator.
    type Trials = (Vec<Cell>, Vec<Cell>);
    let mut cells: Vec<Vec<Trials>> = servers
        .iter()
        .map(|_| levels.iter().map(|_| (Vec::new(), Vec::new())).collect())
        .collect();
    let mut failed: Vec<Option<String>> = servers.iter().map(|_| None).collect();
    // socat and ncat fork a process (and cat another) per connection:
    // 10,000 connections are 20,000 processes that start one by one, and
    // ncat took minutes to take them in. PEERS_FORK_LIMIT raises it.
    let fork_limit: usize = std::env::var("PEERS_FORK_LIMIT")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000);
    for t in 1..=trials {
        for (i, (name, start)) in servers.iter().enumerate() {
            let server = match start() {
                Ok(s) => s,
                Err(why) => {
                    failed[i] = Some(why);
                    continue;
                }
            };
            let pid = server.child.id();
            let forks = name.starts_with("socat") || name.starts_with("ncat");
            // Where the last level's lines of `sockscope run` to a file end.
            let mut printed = 0u64;
            for (j, &c) in levels.iter().enumerate() {
                if forks && c > fork_limit {
                    continue;
                }
                eprintln!("trial {t}/{trials}: {name}: {c} connections");
                let to_file = name.contains("to a file");
                for (k, independent) in [false, true].into_iter().enumerate() {
                    let mut cell = if independent {
                        load_independent(server.addr, c, pid)
                    } else {
                        load(server.addr, c, pid)
                    };
                    if to_file {
                        cell.dropped = dropped_since(&out_file, &mut printed);
                    }
                    if k == 0 {
                        cells[i][j].0.push(cell);
                    } else {
                        cells[i][j].1.push(cell);
                    }
                }
            }
        }
    }
    let rows: Vec<Row> = servers
        .iter()
        .zip(cells)
        .zip(failed)
        .map(|(((name, _), cells), failed)| match failed {
            None => {
                let (mio, independent) = cells
                    .into_iter()
                    .map(|(m, i)| (median(m), median(i)))
                    .unzip();
                Row {
                    name: name.to_string(),
                    ours: name.starts_with("Sockscope"),
                    floor: name.contains("(floor)"),
                    mio,
                    independent,
                }
            }
            Some(why) => missing(format!("{name}: {why}"), &levels),
        })
        .collect();
    let _ = std::fs::remove_file(&out_file);
    // Only if empty: nothing in it but what `headless` wrote and removed.
    let _ = std::fs::remove_dir(preset_dir());
    let mut md = report(&rows, &levels, trials);
    if levels.iter().any(|&c| c > fork_limit) {
        md.push_str(&format!(
            "\nn/a: socat and ncat fork two processes per connection and are run up to {} connections (`PEERS_FORK_LIMIT`).\n",
            thousands(fork_limit)
        ));
    }
    println!("{md}");
    write_into_benchmarks_md(&md);
    draw_charts(&rows, &levels);
}

fn thousands(n: usize) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, ch) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

type Pick = fn(&Row) -> &Vec<Option<Cell>>;

/// Builds the command that starts a peer listening on a port.
type PeerCommand = fn(u16) -> Command;

/// Starts one server under test (stopped when the `Server` drops).
type Starter = Box<dyn Fn() -> std::result::Result<Server, String>>;

/// A chart's panel: its title and the figure it plots.
type Metric = (&'static str, fn(&Cell) -> f64);

fn report(rows: &[Row], levels: &[usize], trials: usize) -> String {
    let mut md = String::new();
    md.push_str(&format!(
        "Echo of {MSG}-byte messages on loopback, one message in flight per connection, {} s per cell, each cell the median of {trials} interleaved trials (by round trips/s; that trial's other figures with it); round trips/s (p50 / p99 latency), errors when connections failed, and for `sockscope run` to a file the data lines it counted in `dropped` lines instead of printing (to /dev/null they cannot be counted). Each server runs in a process of its own; its memory (PSS, summed over its processes) is read right after the window with every connection open, its CPU (user + system over the window; 200% is both cores) alongside.\n",
        RUN.as_secs()
    ));
    let header = |md: &mut String| {
        md.push_str("| server |");
        for c in levels {
            md.push_str(&format!(
                " {} connection{} |",
                thousands(*c),
                if *c == 1 { "" } else { "s" }
            ));
        }
        md.push_str("\n|---|");
        for _ in levels {
            md.push_str("---|");
        }
        md.push('\n');
    };
    let table = |md: &mut String, title: &str, pick: Pick| {
        md.push_str(&format!("\n{title}\n\n"));
        header(md);
        for row in rows {
            md.push_str(&format!("| {} |", row.name));
            for c in pick(row) {
                match c {
                    Some(r) => md.push_str(&format!(
                        " {:.0}/s ({:.0} / {:.0} µs){} |",
                        r.rps,
                        r.p50_us,
                        r.p99_us,
                        match (r.errors, r.dropped) {
                            (0, 0) => String::new(),
                            (e, 0) => format!(", {e} errors"),
                            (0, d) => format!(", {d} lines dropped"),
                            (e, d) => format!(", {e} errors, {d} lines dropped"),
                        }
                    )),
                    None => md.push_str(" n/a |"),
                }
            }
            md.push('\n');
        }
        md.push_str("\nServer memory MiB / CPU %:\n\n");
        header(md);
        for row in rows {
            md.push_str(&format!("| {} |", row.name));
            for c in pick(row) {
                match c {
                    Some(r) => md.push_str(&format!(" {:.1} / {:.0}% |", r.mem_mib, r.cpu_pct)),
                    None => md.push_str(" n/a |"),
                }
            }
            md.push('\n');
        }
        // Each Sockscope row against the floor and the best peer, by level.
        let floor = rows.iter().find(|r| r.floor);
        let peers: Vec<&Row> = rows.iter().filter(|r| !r.ours && !r.floor).collect();
        md.push('\n');
        for ours in rows.iter().filter(|r| r.ours) {
            let cells: Vec<String> = levels
                .iter()
                .enumerate()
                .map(|(i, c)| {
                    let rps = |r: &Row| pick(r)[i].as_ref().map_or(0.0, |x| x.rps);
                    let o = rps(ours);
                    let f = floor.map_or(0.0, rps);
                    let best = peers
                        .iter()
                        .map(|p| (rps(p), p.name.split_whitespace().next().unwrap_or("")))
                        .fold((0.0, ""), |a, b| if b.0 > a.0 { b } else { a });
                    let ratio = |d: f64| {
                        if d > 0.0 {
                            let r = o / d;
                            format!("{r:.2}×")
                        } else {
                            "n/a".into()
                        }
                    };
                    let met = o >= best.0 && o >= 0.8 * f && f > 0.0;
                    format!(
                        "{}: {} floor, {} best peer ({}){}",
                        thousands(*c),
                        ratio(f),
                        ratio(best.0),
                        best.1,
                        if met { "" } else { " **missed**" }
                    )
                })
                .collect();
            md.push_str(&format!("- {}: {}\n", ours.name, cells.join("; ")));
        }
    };
    table(
        &mut md,
        "In-process mio load generator (one thread drives every connection):",
        |r| &r.mio,
    );
    table(
        &mut md,
        "Independent clients (a separate process, one thread per connection, lockstep):",
        |r| &r.independent,
    );
    md.push_str(
        "\nCharts of the same run (round trips/s, p99 latency and server memory against connections, both axes logarithmic): `benches/charts/echo-independent.png`, `benches/charts/echo-mio.png`.\n",
    );
    md
}

/// Draws round trips/s, p99 and memory against connections, one chart per
/// load generator, into `benches/charts/`.
fn draw_charts(rows: &[Row], levels: &[usize]) {
    use plotters::prelude::*;
    use plotters::style::{FontStyle, register_font};
    if register_font(
        "sans-serif",
        FontStyle::Normal,
        epaint_default_fonts::UBUNTU_LIGHT,
    )
    .is_err()
    {
        eprintln!("charts: the font did not load");
        return;
    }
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/charts");
    if std::fs::create_dir_all(&dir).is_err() {
        return;
    }
    let colors = [
        RGBColor(0xd6, 0x27, 0x28),
        RGBColor(0xff, 0x7f, 0x0e),
        RGBColor(0x8c, 0x56, 0x4b),
        RGBColor(0x33, 0x33, 0x33),
        RGBColor(0x1f, 0x77, 0xb4),
        RGBColor(0x2c, 0xa0, 0x2c),
        RGBColor(0x94, 0x67, 0xbd),
        RGBColor(0x17, 0xbe, 0xcf),
    ];
    let charts: [(&str, &str, Pick); 2] = [
        (
            "echo-independent.png",
            "independent clients (a process, a thread per connection)",
            |r| &r.independent,
        ),
        ("echo-mio.png", "in-process mio load generator", |r| &r.mio),
    ];
    let x_max = *levels.iter().max().unwrap_or(&1) as f64;
    for (file, title, pick) in charts {
        let path = dir.join(file);
        let root = BitMapBackend::new(&path, (1800, 640)).into_drawing_area();
        if root.fill(&WHITE).is_err() {
            continue;
        }
        let root = root
            .titled(
                &format!("Echo, 64-byte messages, {title}"),
                ("sans-serif", 26),
            )
            .unwrap_or(root);
        let panels = root.split_evenly((1, 3));
        let metrics: [Metric; 3] = [
            ("round trips/s", |c| c.rps),
            ("p99 latency, µs", |c| c.p99_us),
            ("server memory, MiB (PSS)", |c| c.mem_mib),
        ];
        for (panel, (label, value)) in panels.iter().zip(metrics) {
            let points = |row: &Row| -> Vec<(f64, f64)> {
                levels
                    .iter()
                    .zip(pick(row))
                    .filter_map(|(l, c)| c.as_ref().map(|c| (*l as f64, value(c))))
                    .filter(|(_, v)| *v > 0.0)
                    .collect()
            };
            let all: Vec<f64> = rows.iter().flat_map(points).map(|p| p.1).collect();
            let lo = all.iter().copied().fold(f64::MAX, f64::min).max(1e-3);
            let hi = all.iter().copied().fold(0.0, f64::max).max(lo * 10.0);
            let Ok(mut chart) = ChartBuilder::on(panel)
                .caption(label, ("sans-serif", 22))
                .margin(14)
                .x_label_area_size(40)
                .y_label_area_size(70)
                .build_cartesian_2d(
                    (0.8f64..x_max * 1.25).log_scale(),
                    (lo / 1.5..hi * 1.5).log_scale(),
                )
            else {
                continue;
            };
            let _ = chart
                .configure_mesh()
                .x_desc("connections")
                .x_label_formatter(&|x| thousands(x.round() as usize))
                .y_labels(8)
                .y_label_formatter(&|y| {
                    if *y >= 10.0 {
                        thousands(y.round() as usize)
                    } else {
                        format!("{y:.1}")
                    }
                })
                .label_style(("sans-serif", 15))
                .draw();
            for (i, row) in rows.iter().enumerate() {
                let color = colors[i % colors.len()];
                let width = if row.ours { 3 } else { 2 };
                let style = color.stroke_width(width);
                let pts = points(row);
                if let Ok(series) = chart.draw_series(LineSeries::new(pts.clone(), style)) {
                    series.label(short_name(&row.name)).legend(move |(x, y)| {
                        PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(3))
                    });
                }
                let _ = chart.draw_series(pts.iter().map(|p| Circle::new(*p, 3, color.filled())));
            }
            // In the latency panel's upper left: latency at few connections
            // is low, so no point lies under it (in the round-trips panel
            // it covered the 1-connection points).
            if label.starts_with("p99") {
                let _ = chart
                    .configure_series_labels()
                    .position(SeriesLabelPosition::UpperLeft)
                    .background_style(WHITE.mix(0.85))
                    .border_style(BLACK.mix(0.3))
                    .label_font(("sans-serif", 14))
                    .draw();
            }
        }
        if root.present().is_err() {
            eprintln!("charts: could not write {}", path.display());
        }
    }
}

/// The name a chart's legend has room for.
fn short_name(name: &str) -> String {
    let cut = name.find(" (").unwrap_or(name.len());
    name[..cut].replace('`', "")
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
        "Run on {date}: {cores} cores, Linux {}, {}; {}; {}; tokio {}.\n\n",
        kernel.trim(),
        version("socat", "-V").replace(
            "socat by Gerhard Rieger and contributors - see www.dest-unreach.org",
            "socat"
        ),
        version("ncat", "--version"),
        version("python3", "--version"),
        locked_version("tokio"),
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

/// The version of `package` that Cargo.lock pins.
fn locked_version(package: &str) -> String {
    let lock = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.lock"),
    )
    .unwrap_or_default();
    let name = format!("name = \"{package}\"");
    let mut lines = lock.lines();
    while let Some(l) = lines.next() {
        if l == name
            && let Some(v) = lines.next().and_then(|v| v.strip_prefix("version = "))
        {
            return v.trim_matches('"').to_string();
        }
    }
    "?".into()
}
