//! The System sockets view at scale: `cargo bench --bench sockets`.
//!
//! Opens 1,000, 10,000 and 50,000 loopback connections in this process
//! (100,000 sockets at the top), then at each level measures one refresh
//! (the netlink dump and the /proc scan) against iproute2's `ss` listing
//! the same sockets in the same run (`ss -tanp`: with processes, as the
//! view; `ss -tan`: without), and the app's side: taking a snapshot into
//! the view's table on the UI thread, and the frame time of the real view
//! drawn on an egui context (layout and tessellation, no GPU) for 4
//! seconds while its refresher thread refreshes every second.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use sockscope::engine::system;
use sockscope::ui::app::install_fonts;
use sockscope::ui::system_view::SystemView;

const ROUNDS: usize = 5;

fn median(mut v: Vec<Duration>) -> f64 {
    v.sort();
    v[v.len() / 2].as_secs_f64() * 1000.0
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1000.0
}

/// Raises the descriptor limit as far as root may (100,000 sockets need
/// more than the usual 20,000 hard limit); returns the soft limit.
fn raise_nofile(want: u64) -> u64 {
    let lim = libc::rlimit {
        rlim_cur: want,
        rlim_max: want,
    };
    // SAFETY: a plain struct passed by pointer to setrlimit/getrlimit.
    unsafe {
        libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        let mut got = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut got);
        got.rlim_cur
    }
}

fn ss(args: &str) -> Option<Duration> {
    let t = Instant::now();
    let st = Command::new("ss")
        .arg(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .ok()?;
    st.success().then(|| t.elapsed())
}

fn main() {
    let limit = raise_nofile(260_000);
    let mut levels: Vec<usize> = vec![1_000, 10_000, 50_000];
    let most = (limit as usize).saturating_sub(1_000) / 2;
    if levels.iter().any(|&n| n > most) {
        println!("descriptor limit {limit}: levels above {most} connections are left out");
        levels.retain(|&n| n <= most);
    }
    // Two listeners: one destination takes at most ~28,000 ephemeral
    // ports from one source address.
    let listeners: Vec<TcpListener> = (0..2)
        .map(|_| {
            let s =
                socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
            s.bind(&"127.0.0.1:0".parse::<SocketAddr>().unwrap().into())
                .unwrap();
            s.listen(4096).unwrap();
            s.into()
        })
        .collect();
    let mut held: Vec<TcpStream> = Vec::new();
    println!("# System sockets at scale\n");
    println!(
        "| sockets listed | refresh (dump + /proc) ms | dump ms | /proc ms | ss -tanp ms | ss -tan ms | ratio to ss -tanp | into the table (UI thread) ms | frame p50 / p99 / max ms while refreshing |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    for &n in &levels {
        while held.len() / 2 < n {
            let l = &listeners[(held.len() / 2) % listeners.len()];
            let c = TcpStream::connect(l.local_addr().unwrap()).unwrap();
            let (s, _) = l.accept().unwrap();
            held.push(c);
            held.push(s);
        }
        let mut total = Vec::new();
        let mut dump = Vec::new();
        let mut procs = Vec::new();
        let mut listed = 0;
        let mut snap = None;
        for _ in 0..ROUNDS {
            let t = Instant::now();
            let s = system::snapshot();
            total.push(t.elapsed());
            dump.push(s.dump_time);
            procs.push(s.procs_time);
            listed = s.sockets.len();
            snap = Some(s);
        }
        let ssp: Vec<Duration> = (0..ROUNDS).filter_map(|_| ss("-tanp")).collect();
        let sst: Vec<Duration> = (0..ROUNDS).filter_map(|_| ss("-tan")).collect();
        let (ssp_ms, sst_ms) = if ssp.is_empty() {
            (f64::NAN, f64::NAN)
        } else {
            (median(ssp), median(sst))
        };
        // The view's side: a snapshot into the table, then real frames.
        let snap = Arc::new(snap.unwrap());
        let mut ingest = Vec::new();
        let mut view = SystemView::default();
        for _ in 0..ROUNDS {
            let t = Instant::now();
            view.ingest(snap.clone());
            ingest.push(t.elapsed());
        }
        let ctx = egui::Context::default();
        install_fonts(&ctx);
        let raw = egui::RawInput {
            screen_rect: Some(egui::Rect::from_min_size(
                egui::pos2(0.0, 0.0),
                egui::vec2(1280.0, 800.0),
            )),
            ..Default::default()
        };
        let mut frames = Vec::new();
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(4) {
            let t = Instant::now();
            let out = ctx.run_ui(raw.clone(), |ui| {
                let _ = view.ui(ui);
            });
            let _ = ctx.tessellate(out.shapes, out.pixels_per_point);
            let took = t.elapsed();
            frames.push(took);
            std::thread::sleep(Duration::from_millis(16).saturating_sub(took));
        }
        let refreshes = view.snapshots();
        view.hide();
        frames.sort();
        let refresh = median(total);
        println!(
            "| {listed} | {refresh:.0} | {:.0} | {:.0} | {ssp_ms:.0} | {sst_ms:.0} | {:.2}x | {:.0} | {:.1} / {:.1} / {:.1} ({} frames, {} refreshes) |",
            median(dump),
            median(procs),
            refresh / ssp_ms,
            median(ingest),
            percentile(&frames, 0.5),
            percentile(&frames, 0.99),
            frames.last().unwrap().as_secs_f64() * 1000.0,
            frames.len(),
            refreshes.saturating_sub(ROUNDS as u64),
        );
    }
    println!(
        "\nGoals: a refresh of 100,000 sockets under 1 s; p99 frame under 16 ms while it refreshes. Medians of {ROUNDS}; ss is iproute2's, run as a child process with its output to /dev/null."
    );
}
