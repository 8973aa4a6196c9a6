//! Timed bursts: N connections (or datagrams) to one target the user typed,
//! with a concurrency limit, each sending a payload and waiting for a reply
//! or for the server to close; total time, requests per second, latency
//! percentiles and errors by kind. With `compare`, the same burst runs
//! one at a time first, as the seed compares sequential and concurrent
//! fetches. Bounded in count, concurrency and time; no scanning.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::error::OpError;

/// Most connections one burst makes.
pub const MAX_COUNT: u32 = 100_000;
/// Most in flight at once.
pub const MAX_CONCURRENCY: u32 = 1_000;
/// Longest a burst may run.
pub const MAX_TIME: Duration = Duration::from_secs(300);

/// What counts as done for one request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WaitFor {
    /// The first bytes of a reply.
    Reply,
    /// The server closing the connection (HTTP with Connection: close).
    Eof,
}

/// A burst.
#[derive(Clone, Debug, PartialEq)]
pub struct BurstSpec {
    /// The one target (an IP literal; names are resolved once, before).
    pub target: SocketAddr,
    /// Requests in all.
    pub count: u32,
    /// In flight at once.
    pub concurrency: u32,
    /// Bytes each request sends.
    pub payload: Vec<u8>,
    /// When a request is done.
    pub wait: WaitFor,
    /// Per request.
    pub timeout: Duration,
    /// Datagrams instead of connections.
    pub udp: bool,
    /// Also run it one at a time first, for the comparison.
    pub compare: bool,
}

/// What one run of a burst measured.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct BurstReport {
    /// The concurrency it ran with.
    pub concurrency: u32,
    /// Requests attempted.
    pub count: u32,
    /// Requests that completed.
    pub ok: u32,
    /// Failures by kind (errno name, `timeout`, `closed before reply`).
    pub errors: BTreeMap<String, u32>,
    /// Wall time of the whole burst.
    pub total: Duration,
    /// Completed requests per second.
    pub rps: f64,
    /// Each completed request's time, in microseconds, sorted.
    pub latencies_us: Vec<u64>,
}

impl BurstReport {
    /// A latency percentile in milliseconds (0 when nothing completed).
    pub fn percentile_ms(&self, p: f64) -> f64 {
        if self.latencies_us.is_empty() {
            return 0.0;
        }
        let i = ((self.latencies_us.len() - 1) as f64 * p).round() as usize;
        self.latencies_us[i] as f64 / 1000.0
    }
}

fn one(spec: &BurstSpec) -> Result<(), String> {
    let kind = |e: std::io::Error| match e.kind() {
        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut => "timeout".to_string(),
        _ => OpError::io("", &e)
            .errno_name
            .unwrap_or_else(|| e.to_string()),
    };
    let mut buf = [0u8; 16 * 1024];
    if spec.udp {
        let bind: SocketAddr = if spec.target.is_ipv6() {
            "[::]:0".parse().expect("a literal address")
        } else {
            "0.0.0.0:0".parse().expect("a literal address")
        };
        let s = UdpSocket::bind(bind).map_err(kind)?;
        s.set_read_timeout(Some(spec.timeout)).map_err(kind)?;
        s.send_to(&spec.payload, spec.target).map_err(kind)?;
        s.recv_from(&mut buf).map_err(kind)?;
        return Ok(());
    }
    let mut s = TcpStream::connect_timeout(&spec.target, spec.timeout).map_err(kind)?;
    s.set_read_timeout(Some(spec.timeout)).map_err(kind)?;
    s.set_write_timeout(Some(spec.timeout)).map_err(kind)?;
    let _ = s.set_nodelay(true);
    s.write_all(&spec.payload).map_err(kind)?;
    let mut got = 0;
    loop {
        match s.read(&mut buf) {
            Ok(0) if spec.wait == WaitFor::Eof => return Ok(()),
            Ok(0) if got == 0 => return Err("closed before reply".into()),
            Ok(0) => return Ok(()),
            Ok(n) => {
                got += n;
                if spec.wait == WaitFor::Reply {
                    return Ok(());
                }
            }
            Err(e) => return Err(kind(e)),
        }
    }
}

/// Runs one burst at a concurrency, calling `progress(done)` now and then.
/// `stop` ends it early (requests in flight finish or time out).
pub fn run(
    spec: &BurstSpec,
    concurrency: u32,
    stop: &AtomicBool,
    progress: &(dyn Fn(u32) + Sync),
) -> BurstReport {
    let count = spec.count.min(MAX_COUNT);
    let workers = concurrency.clamp(1, MAX_CONCURRENCY).min(count.max(1));
    let next = AtomicU32::new(0);
    let done = AtomicU32::new(0);
    let results: Mutex<(Vec<u64>, BTreeMap<String, u32>)> =
        Mutex::new((Vec::new(), BTreeMap::new()));
    let start = Instant::now();
    std::thread::scope(|scope| {
        for w in 0..workers {
            let (next, done, results) = (&next, &done, &results);
            let _ = std::thread::Builder::new()
                .name(format!("sockscope-burst-{w}"))
                .spawn_scoped(scope, move || {
                    loop {
                        if stop.load(Ordering::Relaxed) || start.elapsed() > MAX_TIME {
                            return;
                        }
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        if i >= count {
                            return;
                        }
                        let t = Instant::now();
                        let r = one(spec);
                        let us = t.elapsed().as_micros() as u64;
                        if let Ok(mut g) = results.lock() {
                            match r {
                                Ok(()) => g.0.push(us),
                                Err(k) => *g.1.entry(k).or_insert(0) += 1,
                            }
                        }
                        let d = done.fetch_add(1, Ordering::Relaxed) + 1;
                        if d % 100 == 0 || d == count {
                            progress(d);
                        }
                    }
                });
        }
    });
    let total = start.elapsed();
    let (mut lat, errors) = results.into_inner().unwrap_or_default();
    lat.sort_unstable();
    BurstReport {
        concurrency: workers,
        count,
        ok: lat.len() as u32,
        errors,
        total,
        rps: lat.len() as f64 / total.as_secs_f64().max(1e-9),
        latencies_us: lat,
    }
}

/// A burst session: the sequential run first when comparing, then the
/// concurrent one, each reported as an event.
pub(crate) struct BurstSession {
    spec: super::SessionSpec,
}

impl BurstSession {
    pub(crate) fn new(spec: super::SessionSpec) -> BurstSession {
        BurstSession { spec }
    }
}

impl super::session::Run for BurstSession {
    fn run(self: Box<Self>, cx: &mut super::session::Context) -> super::session::End {
        use super::protocol::{CloseReason, EventKind};
        use super::session::End;
        let top = cx.top;
        let shared = cx.sink.shared();
        let super::spec::SessionKind::Burst(burst) = self.spec.kind else {
            return End::uncounted(CloseReason::Error(super::error::OpError::plain(
                "burst",
                "not a burst session",
            )));
        };
        // A close command (or the engine going away) stops the burst.
        let stop = Arc::new(AtomicBool::new(false));
        let watcher = {
            let stop = stop.clone();
            let cmds = cx.cmds.clone();
            std::thread::Builder::new()
                .name(format!("sockscope-burst-stop-{}", top.session))
                .spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        match cmds.recv_timeout(Duration::from_millis(100)) {
                            Ok(super::Command::Close { .. }) | Ok(super::Command::Abort { .. }) => {
                                stop.store(true, Ordering::Relaxed)
                            }
                            Ok(_) | Err(crossbeam_channel::RecvTimeoutError::Timeout) => {}
                            Err(crossbeam_channel::RecvTimeoutError::Disconnected) => {
                                stop.store(true, Ordering::Relaxed)
                            }
                        }
                    }
                })
                .ok()
        };
        let mut runs = Vec::new();
        if burst.compare && burst.concurrency > 1 {
            runs.push(1);
        }
        runs.push(burst.concurrency);
        for c in runs {
            let progress_shared = shared.clone();
            let progress = move |done: u32| {
                progress_shared.send_latest(super::Event {
                    session: top,
                    at: progress_shared.stamp(),
                    kind: EventKind::BurstProgress { done },
                });
            };
            let report = run(&burst, c, &stop, &progress);
            cx.sink.control(top, EventKind::BurstDone(Box::new(report)));
            cx.sink.flush();
            cx.sink.wake();
            if stop.load(Ordering::Relaxed) {
                break;
            }
        }
        let reason = if stop.load(Ordering::Relaxed) {
            CloseReason::Local
        } else {
            CloseReason::ScriptDone
        };
        stop.store(true, Ordering::Relaxed);
        if let Some(w) = watcher {
            let _ = w.join();
        }
        End::uncounted(reason)
    }
}
