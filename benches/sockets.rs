//! The System sockets view at scale: `cargo bench --bench sockets`.
//!
//! Opens 1,000, 10,000 and 50,000 loopback connections (100,000 sockets
//! at the top), held by python3 child processes of at most 8,000
//! connections each (a process here may hold 20,000 descriptors), then at each level measures one refresh
//! (the netlink dump and the /proc scan) against iproute2's `ss` listing
//! the same sockets in the same run (`ss -tanp`: with processes, as the
//! view; `ss -tan`: without), and the app's side: building the view's
//! table from a snapshot (on the refresher's thread), handing it to the
//! UI thread, and the frame time of the real view
//! drawn on an egui context (layout and tessellation, no GPU) for 4
//! seconds while its refresher thread refreshes every second.

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

/// A python3 process that opens `pairs` connections to a listener of its
/// own and holds both ends until its stdin closes.
const HOLDER: &str = r#"
import socket, sys
k = int(sys.argv[1])
l = socket.socket()
l.bind(("127.0.0.1", 0))
l.listen(4096)
keep = []
for _ in range(k):
    c = socket.create_connection(l.getsockname())
    s, _ = l.accept()
    keep += [c, s]
print("ready", flush=True)
sys.stdin.read()
"#;

/// Most connections one holder opens (two descriptors each).
const PER_HOLDER: usize = 8_000;

fn holder(pairs: usize) -> std::process::Child {
    use std::io::BufRead;
    let mut c = Command::new("python3")
        .args(["-c", HOLDER, &pairs.to_string()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3 runs");
    let mut line = String::new();
    std::io::BufReader::new(c.stdout.as_mut().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(line.trim(), "ready", "the holder opened its connections");
    c
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
    let levels: Vec<usize> = vec![1_000, 10_000, 50_000];
    let mut holders: Vec<std::process::Child> = Vec::new();
    let mut opened = 0usize;
    println!("# System sockets at scale\n");
    println!(
        "| sockets listed | refresh (dump + /proc) ms | dump ms | /proc ms | ss -tanp ms | ss -tan ms | ratio to ss -tanp | table built (refresher thread) ms | handed to the UI ms | frame p50 / p99 / max ms while refreshing |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    for &n in &levels {
        while opened < n {
            let k = (n - opened).min(PER_HOLDER);
            holders.push(holder(k));
            opened += k;
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
        // The view's side: the table built from a snapshot (matched,
        // filtered, sorted) on the refresher's thread, then handed to the
        // UI thread, then real frames.
        let snap = snap.unwrap();
        let mut build = Vec::new();
        let mut swap = Vec::new();
        let mut table = system::table::Table::default();
        let mut view = SystemView::default();
        for _ in 0..ROUNDS {
            let t = Instant::now();
            table.ingest(snap.clone(), Instant::now());
            let v = Arc::new(table.view());
            build.push(t.elapsed());
            let t = Instant::now();
            let old = view.take(v);
            swap.push(t.elapsed());
            // The app hands the old table back to the refresher to free.
            drop(old);
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
            "| {listed} | {refresh:.0} | {:.0} | {:.0} | {ssp_ms:.0} | {sst_ms:.0} | {:.2}x | {:.0} | {:.3} | {:.1} / {:.1} / {:.1} ({} frames, {} refreshes) |",
            median(dump),
            median(procs),
            refresh / ssp_ms,
            median(build),
            median(swap),
            percentile(&frames, 0.5),
            percentile(&frames, 0.99),
            frames.last().unwrap().as_secs_f64() * 1000.0,
            frames.len(),
            refreshes,
        );
    }
    // Closing their stdin ends the holders.
    for mut h in holders {
        drop(h.stdin.take());
        let _ = h.wait();
    }
    println!(
        "\nGoals: a refresh of 100,000 sockets under 1 s; p99 frame under 16 ms while it refreshes. Medians of {ROUNDS}; ss is iproute2's, run as a child process with its output to /dev/null."
    );
}
