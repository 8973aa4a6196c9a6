//! The `sockscope` binary: parse the command line and hand off.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};

use sockscope::headless::{self, Outcome, RunOptions};
use sockscope::preset;

#[derive(Parser)]
#[command(
    name = "sockscope",
    version,
    about = "Open sockets, watch every byte and every call"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Cmd>,
    /// Start the app with the sessions of this preset or workspace open
    /// (repeatable).
    #[arg(long, value_name = "FILE")]
    open: Vec<PathBuf>,
}

#[derive(Subcommand)]
enum Cmd {
    /// Open the sessions described in a preset or workspace file and print
    /// every event as a JSON line until they end.
    Run {
        /// A `.ron` preset (one session) or workspace (`sessions: [...]`).
        file: PathBuf,
        /// Close every session cleanly after this many seconds.
        #[arg(long = "for", value_name = "SECS", value_parser = parse_secs)]
        duration: Option<Duration>,
        /// Also print `stats` lines (counters, a few times a second).
        #[arg(long)]
        stats: bool,
        /// Show at most this many payload bytes in `data`/`hex` (`len` stays exact).
        #[arg(long, value_name = "BYTES")]
        data_limit: Option<usize>,
    },
    /// Check a preset or workspace file and print what it would open.
    Check {
        /// The `.ron` file.
        file: PathBuf,
    },
}

fn parse_secs(s: &str) -> Result<Duration, String> {
    let v: f64 = s
        .parse()
        .map_err(|_| format!("'{s}' is not a number of seconds"))?;
    if !v.is_finite() || !(0.0..=1e9).contains(&v) {
        return Err(format!("'{s}' is not a usable number of seconds"));
    }
    Ok(Duration::from_secs_f64(v))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // Servers need many descriptors; the hard limit is ours to use.
    let _ = sockscope::sys::raise_fd_limit();
    match cli.command {
        Some(Cmd::Run {
            file,
            duration,
            stats,
            data_limit,
        }) => {
            let specs = match preset::load_file(&file) {
                Ok(s) => s,
                Err(e) => {
                    eprintln!("sockscope: {e}");
                    return ExitCode::from(2);
                }
            };
            let opts = RunOptions {
                duration,
                stats,
                data_limit,
            };
            let stdout = std::io::stdout();
            let mut out = std::io::BufWriter::new(stdout.lock());
            match headless::run(specs, &opts, &mut out) {
                Ok(Outcome::Clean) => ExitCode::SUCCESS,
                Ok(Outcome::SessionFailed) => ExitCode::from(1),
                Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("sockscope: {e}");
                    ExitCode::from(1)
                }
            }
        }
        Some(Cmd::Check { file }) => match preset::load_file(&file) {
            Ok(specs) => {
                let mut out = std::io::stdout().lock();
                for s in specs {
                    let _ = writeln!(out, "{}: {} ({:?})", s.name, s.kind.label(), s.kind);
                }
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("sockscope: {e}");
                ExitCode::from(2)
            }
        },
        None => {
            let mut specs = Vec::new();
            for file in &cli.open {
                match preset::load_file(file) {
                    Ok(s) => specs.extend(s),
                    Err(e) => {
                        eprintln!("sockscope: {e}");
                        return ExitCode::from(2);
                    }
                }
            }
            match sockscope::ui::run(specs) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("sockscope: {e}");
                    ExitCode::from(2)
                }
            }
        }
    }
}
