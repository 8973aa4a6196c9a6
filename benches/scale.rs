//! Scale benchmark: the engine against a plain loop, measured in one run.
//!
//! `cargo bench --bench scale` (options after `--`, see `--help`):
//! 1. hold: N concurrent connections (default 10,000) to an echo server
//!    session, one round trip each before and after an idle period;
//!    RSS and CPU while idle.
//! 2. sink: one TCP stream of G GiB into a server session (logging on, the
//!    default budget) vs a plain `read()` loop with the same buffer size.
//! 3. udp: a burst of N 100-byte datagrams sent as fast as a loopback
//!    sender can, captured by a UDP session vs a plain `recv_from` loop,
//!    and vs Packet Sender's GUI server under Xvfb when it is installed.
//!
//! The clients of the hold test run in a child process (this binary again),
//! so each side has its own descriptor limit.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::time::{Duration, Instant};

use clap::Parser;
use sockscope::engine::log::{Ingested, LogBudget, LogStore};
use sockscope::engine::protocol::{Addr, EventKind};
use sockscope::engine::spec::{Responder, SessionKind};
use sockscope::engine::{Command, Engine, EngineConfig, SessionId, SessionSpec};

#[derive(Parser, Debug)]
#[command(about = "Sockscope scale benchmark")]
struct Args {
    /// Connections for the hold test.
    #[arg(long, default_value_t = 10_000)]
    conns: usize,
    /// Idle seconds between the two round trips of the hold test.
    #[arg(long, default_value_t = 10.0)]
    idle: f64,
    /// GiB for the sink test.
    #[arg(long, default_value_t = 4.0)]
    sink_gib: f64,
    /// Datagrams for the UDP test.
    #[arg(long, default_value_t = 100_000)]
    datagrams: usize,
    /// Which tests to run (hold, sink, udp); all by default.
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
    /// Internal: act as the client process of the hold test.
    #[arg(long, hide = true)]
    clients_for: Option<SocketAddr>,
    /// Cargo passes --bench to bench targets.
    #[arg(long, hide = true)]
    bench: bool,
}

fn main() {
    let args = Args::parse();
    let _ = sockscope::sys::raise_fd_limit();
    if let Some(addr) = args.clients_for {
        hold_clients(addr, args.conns, args.idle);
        return;
    }
    let want = |t: &str| args.only.is_empty() || args.only.iter().any(|o| o == t);
    println!("# Sockscope scale benchmark\n");
    println!("{}\n", machine());
    println!("| test | Sockscope | plain loop | ratio | goal | result |");
    println!("|---|---|---|---|---|---|");
    if want("hold") {
        hold(&args);
    }
    if want("sink") {
        sink(args.sink_gib);
    }
    if want("udp") {
        udp(args.datagrams);
    }
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_default();
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    format!(
        "Machine: {} cores ({cpu}), Linux {}, sockscope {}, release build.",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        kernel.trim(),
        env!("CARGO_PKG_VERSION"),
    )
}

/// A consumer like the app's: drains events into a log store with the
/// default budget.
fn consumer(
    engine: &Engine,
    store: &mut LogStore,
    mut until: impl FnMut(&EventKind, SessionId) -> bool,
) {
    loop {
        match engine.events().recv_timeout(Duration::from_secs(60)) {
            Ok(ev) => {
                // Lifecycle events come back as Noted (they are log rows
                // too), the rest as Other.
                if let Ingested::Other(ev) | Ingested::Noted { ev, .. } = store.ingest(ev)
                    && until(&ev.kind, ev.session)
                {
                    return;
                }
            }
            Err(_) => panic!("no event for 60 s"),
        }
    }
}

fn cpu_ticks() -> u64 {
    // utime + stime of this process, in clock ticks.
    std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|s| {
            let after = s.rsplit(')').next()?.to_string();
            let f: Vec<&str> = after.split_whitespace().collect();
            Some(f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?)
        })
        .unwrap_or(0)
}

fn hold(args: &Args) {
    let mut engine = Engine::new(EngineConfig::default(), None);
    let mut spec = SessionSpec::new(
        "hold",
        SessionKind::TcpServer {
            local: "127.0.0.1:0".parse().unwrap(),
            backlog: 4096,
        },
    );
    spec.responder = Responder::Echo;
    let srv = engine.open(spec).unwrap();
    let mut store = LogStore::new(LogBudget::default());
    let mut addr = None;
    consumer(&engine, &mut store, |k, _| {
        if let EventKind::Listening {
            local: Addr::Inet(a),
            ..
        } = k
        {
            addr = Some(*a);
            true
        } else {
            false
        }
    });
    let addr = addr.unwrap();
    let exe = std::env::current_exe().unwrap();
    let mut child = std::process::Command::new(exe)
        .args([
            "--clients-for",
            &addr.to_string(),
            "--conns",
            &args.conns.to_string(),
            "--idle",
            &args.idle.to_string(),
        ])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Drain events while the clients work. The child announces its phases
    // on stdout; RSS and CPU are sampled over its idle window.
    let out = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::sync_channel::<String>(64);
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(out).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let started = Instant::now();
    let (mut first_ok, mut second_ok) = (0usize, 0usize);
    let mut idle_mark: Option<(Instant, u64)> = None;
    let mut idle_cpu = 0.0;
    let mut idle_rss_max = 0u64;
    let mut connect_time = 0.0;
    let mut finished = false;
    while !finished {
        while let Ok(ev) = engine.events().try_recv() {
            store.ingest(ev);
        }
        if idle_mark.is_some() {
            idle_rss_max = idle_rss_max.max(sockscope::sys::rss_kib());
        }
        match rx.recv_timeout(Duration::from_millis(20)) {
            Ok(line) => {
                let mut it = line.split_whitespace();
                match (it.next(), it.next()) {
                    (Some("first"), Some(n)) => {
                        first_ok = n.parse().unwrap_or(0);
                        connect_time = started.elapsed().as_secs_f64();
                    }
                    (Some("idle-start"), _) => idle_mark = Some((Instant::now(), cpu_ticks())),
                    (Some("idle-end"), _) => {
                        if let Some((t, c)) = idle_mark.take() {
                            idle_cpu = (cpu_ticks() - c) as f64 / 100.0 / t.elapsed().as_secs_f64();
                        }
                    }
                    (Some("second"), Some(n)) => {
                        second_ok = n.parse().unwrap_or(0);
                        finished = true;
                    }
                    _ => {}
                }
            }
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
            Err(_) => finished = true,
        }
    }
    let _ = child.wait();
    let n = args.conns;
    let ok = first_ok == n && second_ok == n;
    // What the log store holds is part of that RSS: every connection's
    // lifecycle rows and data entries (the app's path keeps them).
    let (entries, stored) = store.size();
    println!(
        "| hold {n} connections, one round trip each before and after {}s idle | {first_ok}/{n} then {second_ok}/{n} (connect + first round {connect_time:.1} s); RSS {:.1} MiB (of which the log store counts {entries} entries, {:.1} MiB), CPU {:.1}% while idle | n/a | n/a | all succeed | {} |",
        args.idle,
        idle_rss_max as f64 / 1024.0,
        stored as f64 / 1048576.0,
        idle_cpu * 100.0,
        if ok { "met" } else { "MISSED" }
    );
    let _ = engine.send(Command::Close { target: srv });
}

fn hold_clients(addr: SocketAddr, n: usize, idle: f64) {
    let mut conns = Vec::with_capacity(n);
    for _ in 0..n {
        match TcpStream::connect(addr) {
            Ok(s) => {
                let _ = s.set_read_timeout(Some(Duration::from_secs(10)));
                conns.push(s);
            }
            Err(e) => {
                eprintln!("connect failed after {}: {e}", conns.len());
                break;
            }
        }
    }
    let round = |conns: &mut Vec<TcpStream>| -> usize {
        let mut ok = 0;
        for (i, c) in conns.iter_mut().enumerate() {
            let msg = (i as u64).to_le_bytes();
            let mut back = [0u8; 8];
            if c.write_all(&msg).is_ok() && c.read_exact(&mut back).is_ok() && back == msg {
                ok += 1;
            }
        }
        ok
    };
    let first = round(&mut conns);
    println!("first {first}");
    println!("idle-start");
    std::thread::sleep(Duration::from_secs_f64(idle));
    println!("idle-end");
    let second = round(&mut conns);
    println!("second {second}");
}

fn sink(gib: f64) {
    let total = (gib * 1024.0 * 1024.0 * 1024.0) as u64;
    const CHUNK: usize = 64 * 1024;
    let sender = |addr: SocketAddr| {
        std::thread::Builder::new()
            .name("bench-sender".into())
            .spawn(move || {
                let mut s = TcpStream::connect(addr).unwrap();
                let buf = vec![0xabu8; CHUNK];
                let mut left = total;
                while left > 0 {
                    let n = left.min(CHUNK as u64) as usize;
                    s.write_all(&buf[..n]).unwrap();
                    left -= n as u64;
                }
            })
            .unwrap()
    };
    // Plain loop.
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let t0 = Instant::now();
    let tx = sender(l.local_addr().unwrap());
    let (mut s, _) = l.accept().unwrap();
    let mut buf = vec![0u8; CHUNK];
    let mut got = 0u64;
    loop {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => got += n as u64,
            Err(e) => panic!("{e}"),
        }
    }
    let plain = t0.elapsed().as_secs_f64();
    tx.join().unwrap();
    assert_eq!(got, total);
    // Engine server session with logging on (default budget).
    let mut engine = Engine::new(EngineConfig::default(), None);
    let srv = engine
        .open(SessionSpec::new(
            "sink",
            SessionKind::TcpServer {
                local: "127.0.0.1:0".parse().unwrap(),
                backlog: 16,
            },
        ))
        .unwrap();
    let mut store = LogStore::new(LogBudget::default());
    let mut addr = None;
    consumer(&engine, &mut store, |k, _| match k {
        EventKind::Listening {
            local: Addr::Inet(a),
            ..
        } => {
            addr = Some(*a);
            true
        }
        _ => false,
    });
    let t0 = Instant::now();
    let tx = sender(addr.unwrap());
    let mut bytes = 0;
    consumer(&engine, &mut store, |k, id| match k {
        EventKind::Closed { counters, .. } if id.is_child() => {
            bytes = counters.bytes_in;
            true
        }
        _ => false,
    });
    let ours = t0.elapsed().as_secs_f64();
    tx.join().unwrap();
    assert_eq!(bytes, total);
    let (entries, stored) = store.size();
    let ev = store.evicted(srv.session);
    let mbs = |secs: f64| total as f64 / secs / 1e6;
    let ratio = plain / ours;
    println!(
        "| sink {gib} GiB over one TCP stream, 64 KiB reads | {:.0} MB/s (log kept {entries} entries / {:.0} MiB, evicted {}, undelivered {}) | {:.0} MB/s | {:.0}% | >= 80% | {} |",
        mbs(ours),
        stored as f64 / 1048576.0,
        ev.entries,
        ev.undelivered,
        mbs(plain),
        ratio * 100.0,
        if ratio >= 0.8 { "met" } else { "MISSED" }
    );
    drop(engine);
    // The same stream into `sockscope run`, as users run it: stdout to a
    // file, with default flags and with `--data-limit 64`.
    // `--data-limit all` (every byte as text and hex, the old default)
    // writes about 7 bytes per byte received: only on small runs, where
    // it shows both ways of falling behind: the peer slowed to stdout's
    // pace (the default), or lines counted as dropped.
    let mut variants = vec![&[][..], &["--data-limit", "64"][..]];
    if gib <= 1.0 {
        variants.push(&["--data-limit", "all"][..]);
        variants.push(&["--data-limit", "all", "--drop-when-behind"][..]);
    }
    for flags in variants {
        match runner_sink(flags, &sender) {
            Ok((secs, out_bytes, printed)) => {
                let ratio = plain / secs;
                println!(
                    "| sink {gib} GiB into `sockscope run {}` > file | {:.0} MB/s ({:.0} MiB of JSON Lines; lines printed for {:.1}% of the bytes, the rest counted as dropped) | {:.0} MB/s | {:.0}% | >= 80% | {} |",
                    flags.join(" "),
                    mbs(secs),
                    out_bytes as f64 / 1048576.0,
                    printed as f64 * 100.0 / total as f64,
                    mbs(plain),
                    ratio * 100.0,
                    if ratio >= 0.8 { "met" } else { "MISSED" }
                );
            }
            Err(e) => println!(
                "| sink into `sockscope run {}` | failed: {e} | | | | |",
                flags.join(" ")
            ),
        }
    }
}

/// Streams `total` bytes into a server session of the real `sockscope
/// run` binary writing to a file; returns the seconds from connect until
/// the connection's `closed` line is in the file, and the file's size.
fn runner_sink(
    flags: &[&str],
    sender: &dyn Fn(SocketAddr) -> std::thread::JoinHandle<()>,
) -> Result<(f64, u64, u64), String> {
    use std::io::{Read, Seek, SeekFrom};
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let preset = dir.path().join("sink.ron");
    std::fs::write(
        &preset,
        r#"(version: 1, name: "sink", kind: TcpServer(local: "127.0.0.1:0", backlog: 16))"#,
    )
    .map_err(|e| e.to_string())?;
    let out_path = dir.path().join("out.jsonl");
    let out = std::fs::File::create(&out_path).map_err(|e| e.to_string())?;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_sockscope"))
        .arg("run")
        .arg(&preset)
        .args(flags)
        .stdout(out)
        .stderr(std::process::Stdio::null())
        .spawn()
        .map_err(|e| e.to_string())?;
    let mut file = std::fs::File::open(&out_path).map_err(|e| e.to_string())?;
    let mut seen = String::new();
    // Only the file's new bytes are read each turn: it grows to gigabytes.
    let tail = |file: &mut std::fs::File, keep: &mut String| -> usize {
        let mut buf = Vec::new();
        let _ = file.read_to_end(&mut buf);
        let n = buf.len();
        let text = String::from_utf8_lossy(&buf);
        keep.push_str(&text);
        // Keep a little for a line cut between two reads.
        if keep.len() > 1 << 20 {
            let cut = keep.len() - (1 << 16);
            let cut = (cut..keep.len())
                .find(|&i| keep.is_char_boundary(i))
                .unwrap_or(0);
            keep.drain(..cut);
        }
        n
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    let port = loop {
        tail(&mut file, &mut seen);
        if let Some(i) = seen.find(r#""event":"listening""#) {
            let line = &seen[i..];
            let line = &line[..line.find('\n').unwrap_or(line.len())];
            let p = line
                .split("127.0.0.1:")
                .nth(1)
                .and_then(|r| r.split('"').next())
                .and_then(|p| p.parse::<u16>().ok());
            if let Some(p) = p {
                break p;
            }
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            return Err("no listening line".into());
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    seen.clear();
    let t0 = Instant::now();
    let tx = sender(SocketAddr::from(([127, 0, 0, 1], port)));
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        if tail(&mut file, &mut seen) == 0 {
            std::thread::sleep(Duration::from_millis(5));
        }
        // The accepted connection's `closed` line ("session":"1.1").
        if seen.contains(r#""session":"1.1","event":"closed""#) {
            break;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            return Err("no closed line in 600 s".into());
        }
    }
    let secs = t0.elapsed().as_secs_f64();
    let _ = tx.join();
    let _ = child.kill();
    let _ = child.wait();
    let size = file.seek(SeekFrom::End(0)).unwrap_or(0);
    // What the lines account for: a line the runner could not print in
    // time is counted in a `dropped` line instead.
    let mut printed = 0u64;
    let text = std::fs::File::open(&out_path).map_err(|e| e.to_string())?;
    for line in std::io::BufRead::lines(std::io::BufReader::new(text)).map_while(Result::ok) {
        if line.contains(r#""session":"1.1","event":"received""#)
            && let Ok(v) = serde_json::from_str::<serde_json::Value>(&line)
        {
            printed += v["len"].as_u64().unwrap_or(0);
        }
    }
    Ok((secs, size, printed))
}

fn udp(n: usize) {
    let payload = [0x5au8; 100];
    let burst = move |to: SocketAddr| {
        std::thread::Builder::new()
            .name("bench-udp-sender".into())
            .spawn(move || {
                let s = UdpSocket::bind("127.0.0.1:0").unwrap();
                let t = Instant::now();
                let mut sent = 0;
                for _ in 0..n {
                    if s.send_to(&payload, to).is_ok() {
                        sent += 1;
                    }
                }
                (sent, t.elapsed())
            })
            .unwrap()
    };
    // Plain loop, same receive buffer as the engine gets by default.
    let r = UdpSocket::bind("127.0.0.1:0").unwrap();
    r.set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let tx = burst(r.local_addr().unwrap());
    let mut buf = [0u8; 2048];
    let mut plain = 0usize;
    while r.recv_from(&mut buf).is_ok() {
        plain += 1;
    }
    let (sent_plain, send_time) = tx.join().unwrap();
    // Engine session.
    let mut engine = Engine::new(EngineConfig::default(), None);
    let id = engine
        .open(SessionSpec::new(
            "udp",
            SessionKind::Udp {
                local: Some("127.0.0.1:0".parse().unwrap()),
                connect: None,
                join: Vec::new(),
            },
        ))
        .unwrap();
    let mut store = LogStore::new(LogBudget::default());
    let mut addr = None;
    consumer(&engine, &mut store, |k, _| match k {
        EventKind::Bound {
            local: Addr::Inet(a),
            ..
        } => {
            addr = Some(*a);
            true
        }
        _ => false,
    });
    let tx = burst(addr.unwrap());
    let (sent_ours, _) = tx.join().unwrap();
    // Let the session drain, then close and read its exact counters.
    let quiet_until = Instant::now() + Duration::from_millis(500);
    while Instant::now() < quiet_until {
        while let Ok(ev) = engine.events().try_recv() {
            store.ingest(ev);
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    engine.send(Command::Close { target: id }).unwrap();
    let mut ours = 0;
    consumer(&engine, &mut store, |k, sid| match k {
        EventKind::Closed { counters, .. } if sid == id => {
            ours = counters.msgs_in as usize;
            true
        }
        _ => false,
    });
    let share = |got: usize, sent: usize| got as f64 / sent.max(1) as f64 * 100.0;
    let ratio = share(ours, sent_ours) / share(plain, sent_plain).max(1e-9);
    println!(
        "| udp burst {n} x 100 B (sender took {:.0} ms) | {ours}/{sent_ours} = {:.2}% | {plain}/{sent_plain} = {:.2}% | {:.0}% | >= 99.9% captured | {} |",
        send_time.as_secs_f64() * 1000.0,
        share(ours, sent_ours),
        share(plain, sent_plain),
        ratio * 100.0,
        if share(ours, sent_ours) >= 99.9 {
            "met"
        } else {
            "MISSED"
        }
    );
    match packetsender(&burst) {
        Ok((got, sent)) => println!(
            "| udp burst {n} x 100 B into Packet Sender's GUI server (Xvfb) | {ours}/{sent_ours} = {:.2}% | Packet Sender {got}/{sent} = {:.2}% | {:.0}x | >= 99.9% captured | Sockscope {} |",
            share(ours, sent_ours),
            share(got, sent),
            share(ours, sent_ours) / share(got, sent).max(1e-9),
            if share(ours, sent_ours) >= 99.9 {
                "met"
            } else {
                "MISSED"
            }
        ),
        Err(why) => {
            println!("| udp burst into Packet Sender's GUI server | not measured: {why} | | | | |")
        }
    }
}

/// A UDP socket's receive queue and drop count, from /proc/net/udp.
fn udp_socket_stats(port: u16) -> Option<(u64, u64)> {
    let text = std::fs::read_to_string("/proc/net/udp").ok()?;
    for line in text.lines().skip(1) {
        let f: Vec<&str> = line.split_whitespace().collect();
        let local_port = f.get(1)?.rsplit(':').next()?;
        if u16::from_str_radix(local_port, 16).ok()? == port {
            let rx = u64::from_str_radix(f.get(4)?.split(':').nth(1)?, 16).ok()?;
            let drops = f.get(12)?.parse().ok()?;
            return Some((rx, drops));
        }
    }
    None
}

/// The UDP port a process has bound, found through its fds' socket inodes.
fn udp_port_of(pid: u32) -> Option<u16> {
    let inodes: Vec<String> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .ok()?
        .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
        .filter_map(|l| {
            let l = l.to_string_lossy().into_owned();
            l.strip_prefix("socket:[")?
                .strip_suffix(']')
                .map(str::to_string)
        })
        .collect();
    let text = std::fs::read_to_string("/proc/net/udp").ok()?;
    text.lines().skip(1).find_map(|line| {
        let f: Vec<&str> = line.split_whitespace().collect();
        if inodes.iter().any(|i| f.get(9) == Some(&i.as_str())) {
            u16::from_str_radix(f.get(1)?.rsplit(':').next()?, 16).ok()
        } else {
            None
        }
    })
}

/// Kills a child this benchmark started, when it goes out of scope.
struct Child(std::process::Child);
impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The same burst into Packet Sender (Debian's packetsender) in its GUI
/// server mode under Xvfb. What it captured is what the kernel did not
/// drop on its socket (`drops` in /proc/net/udp), read once its queue
/// has drained; the count in its own "Clear Log (N)" button agrees.
fn packetsender(
    burst: &dyn Fn(SocketAddr) -> std::thread::JoinHandle<(usize, Duration)>,
) -> Result<(usize, usize), String> {
    use std::process::{Command as Proc, Stdio};
    let have = |c: &str| {
        Proc::new("sh")
            .args(["-c", &format!("command -v {c}")])
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    for tool in ["packetsender", "Xvfb", "xrandr"] {
        if !have(tool) {
            return Err(format!(
                "{tool} is missing (apt-get install packetsender xvfb x11-xserver-utils; Packet Sender checks the display with xrandr)"
            ));
        }
    }
    let display = 150 + std::process::id() % 100;
    let _xvfb = Child(
        Proc::new("Xvfb")
            .args([
                format!(":{display}"),
                "-screen".into(),
                "0".into(),
                "1280x800x24".into(),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("Xvfb: {e}"))?,
    );
    let sock = format!("/tmp/.X11-unix/X{display}");
    let until = Instant::now() + Duration::from_secs(10);
    while !std::path::Path::new(&sock).exists() && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(50));
    }
    // A home of its own: fresh settings, nothing written to the user's.
    let home = std::env::temp_dir().join(format!("sockscope-bench-ps-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&home);
    let ps = Child(
        Proc::new("packetsender")
            .env("DISPLAY", format!(":{display}"))
            .env("HOME", &home)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("packetsender: {e}"))?,
    );
    let until = Instant::now() + Duration::from_secs(20);
    let port = loop {
        if let Some(p) = udp_port_of(ps.0.id()) {
            break p;
        }
        if Instant::now() > until {
            return Err("Packet Sender did not bind a UDP port within 20 s".into());
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let (_, drops_before) = udp_socket_stats(port).ok_or("its socket vanished")?;
    let to: SocketAddr = format!("127.0.0.1:{port}")
        .parse()
        .expect("a literal address");
    let (sent, _) = burst(to).join().map_err(|_| "the sender panicked")?;
    let until = Instant::now() + Duration::from_secs(60);
    let drops = loop {
        let (rx, drops) = udp_socket_stats(port).ok_or("its socket vanished")?;
        if rx == 0 || Instant::now() > until {
            break drops;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    drop(ps);
    let _ = std::fs::remove_dir_all(&home);
    Ok((sent - (drops - drops_before) as usize, sent))
}
