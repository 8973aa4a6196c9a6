//! The `sockscope` binary: parse the command line and hand off.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};

use sockscope::engine::codec::{excerpt, for_terminal};
use sockscope::headless::{self, Outcome, RunOptions};
use sockscope::preset;
use sockscope::store::{self, Store};

#[derive(Parser)]
#[command(
    name = "sockscope",
    version,
    about = "Open sockets, watch every byte and every call"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Cmd>,
    /// Start the app with these sessions open: a `.ron` file, a saved
    /// preset's name or a built-in example's name (repeatable).
    #[arg(long, value_name = "NAME|FILE")]
    open: Vec<String>,
    /// Where presets and the last workspace live (default: the platform
    /// config dir, or $SOCKSCOPE_CONFIG_DIR).
    #[arg(long, value_name = "DIR", global = true)]
    config_dir: Option<PathBuf>,
}

#[derive(Subcommand)]
enum Cmd {
    /// Open the sessions of a preset or workspace and print every event as
    /// a JSON line until they end.
    Run {
        /// A `.ron` file (one session, or a workspace `sessions: [...]`), a
        /// saved preset's name or a built-in example's name.
        file: String,
        /// Close every session cleanly after this many seconds.
        #[arg(long = "for", value_name = "SECS", value_parser = parse_secs)]
        duration: Option<Duration>,
        /// Also print `stats` lines (counters, a few times a second).
        #[arg(long)]
        stats: bool,
        /// Show at most this many payload bytes per line in `data`/`hex`
        /// (`len` stays exact, `data_truncated` marks a cut line); `all`
        /// shows every byte. Default: 256.
        #[arg(long, value_name = "BYTES|all", value_parser = parse_data_limit)]
        data_limit: Option<DataLimit>,
        /// Print a `tcp_info` line (getsockopt TCP_INFO: rtt, cwnd,
        /// retransmits, ...) per TCP connection every SECS seconds (0.05 or more).
        #[arg(long = "tcp-info", value_name = "SECS", value_parser = parse_tcp_info_period)]
        tcp_info: Option<Duration>,
        /// Print a `modem` line (DTR, RTS, CTS, DSR, RI, CD) per serial port
        /// every SECS seconds (0.05 or more).
        #[arg(long = "modem", value_name = "SECS", value_parser = parse_modem_period)]
        modem: Option<Duration>,
        /// Also write what the sessions saw as a pcapng file for Wireshark
        /// (made-up packets with consistent TCP numbers; never over a file
        /// that exists).
        #[arg(long = "pcapng", value_name = "FILE")]
        pcapng: Option<std::path::PathBuf>,
        /// When stdout cannot keep up, count the lines it could not take in
        /// `dropped` lines and keep the sockets at full speed. Without
        /// this every line is printed and the sessions wait for stdout
        /// (they stop reading, so their peers slow down).
        #[arg(long = "drop-when-behind")]
        drop_when_behind: bool,
    },
    /// Check a preset or workspace and print what it would open.
    Check {
        /// A `.ron` file, a saved preset's name or a built-in example's name.
        file: String,
    },
    /// Print a step-mode script as code that makes the same calls.
    Export {
        /// python (the socket module, as the seed) or rust (socket2).
        #[arg(value_enum)]
        lang: Lang,
        /// A `.ron` file with `kind: Script(calls: [...])`, a saved
        /// preset's name or a built-in example's name.
        file: String,
    },
    /// Every TCP, UDP and Unix socket on the machine, with its process,
    /// queues, timers, memory and TCP_INFO (as `ss -tuxanpie`, readable).
    Sockets {
        /// One JSON object per socket per line (fields in the README).
        #[arg(long)]
        json: bool,
        /// List again every SECS seconds (0.1 or more); with --json each
        /// line says its round and whether the socket is new, present or
        /// gone.
        #[arg(long, value_name = "SECS", value_parser = parse_watch_period)]
        watch: Option<Duration>,
        /// With --watch: stop after this many lists.
        #[arg(long, value_name = "N", requires = "watch")]
        count: Option<u64>,
        /// Which sockets: words (`nginx`, `:8080`, `listen`, `udp`) or an
        /// ss expression (`state established '( sport = :8080 )'`).
        filter: Vec<String>,
    },
    /// Built-in and saved presets.
    Presets {
        #[command(subcommand)]
        action: PresetCmd,
    },
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum Lang {
    Python,
    Rust,
}

#[derive(Subcommand)]
enum PresetCmd {
    /// List the built-in examples and your saved presets.
    List,
    /// Save the session in a `.ron` file as a preset.
    Import {
        /// The file (one session).
        file: PathBuf,
        /// Save it under this name instead of the one in the file.
        #[arg(long)]
        name: Option<String>,
        /// Replace a preset of the same name.
        #[arg(long)]
        replace: bool,
    },
    /// Write a saved or built-in preset to a file (never over an existing
    /// file unless --replace, and never over one that is not a preset).
    Export {
        /// The preset's name.
        name: String,
        /// The file to write.
        file: PathBuf,
        /// Write over an existing preset file.
        #[arg(long)]
        replace: bool,
    },
    /// Delete a saved preset.
    Delete {
        /// The preset's name.
        name: String,
    },
}

fn parse_tcp_info_period(s: &str) -> Result<Duration, String> {
    poll_period(s, "TCP_INFO")
}

/// `--data-limit`: a number of bytes, or `all`.
#[derive(Clone, Copy, Debug)]
struct DataLimit(Option<usize>);

fn parse_data_limit(s: &str) -> Result<DataLimit, String> {
    if s.eq_ignore_ascii_case("all") {
        return Ok(DataLimit(None));
    }
    s.parse()
        .map(|n| DataLimit(Some(n)))
        .map_err(|_| format!("'{s}' is not a number of bytes or 'all'"))
}

fn parse_watch_period(s: &str) -> Result<Duration, String> {
    let d = parse_secs(s)?;
    if d < Duration::from_millis(100) {
        return Err(format!("'{s}' is too often; list every 0.1 s or more"));
    }
    Ok(d)
}

fn parse_modem_period(s: &str) -> Result<Duration, String> {
    poll_period(s, "the modem lines")
}

fn poll_period(s: &str, what: &str) -> Result<Duration, String> {
    let d = parse_secs(s)?;
    if d < Duration::from_millis(50) {
        return Err(format!(
            "'{s}' is too often; read {what} every 0.05 s or more"
        ));
    }
    Ok(d)
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

/// Everything this binary prints to a terminal that a file, a peer or a
/// user wrote goes through `for_terminal` (or `excerpt`, bounded): a name
/// holding ESC [2J must not clear the screen.
fn fail(msg: impl std::fmt::Display) -> ExitCode {
    eprintln!("sockscope: {}", bounded(&msg.to_string()));
    ExitCode::from(2)
}

/// A message for stderr: escaped, and at most a few KiB (a message that
/// quotes a huge value is cut, with its size said).
fn bounded(msg: &str) -> String {
    excerpt(msg, 4096)
}

fn presets(store: Result<Store, store::StoreError>, action: PresetCmd) -> ExitCode {
    let mut out = std::io::stdout().lock();
    match action {
        PresetCmd::List => {
            for (stem, spec) in preset::builtins() {
                let kind = spec.as_ref().map_or("broken", |s| s.kind.label());
                let _ = writeln!(out, "built-in  {stem:<22} {kind}");
            }
            match store {
                Ok(s) => {
                    for p in s.list() {
                        match &p.loaded {
                            Ok(spec) => {
                                let _ = writeln!(
                                    out,
                                    "saved     {:<22} {}  ({})",
                                    excerpt(&p.name, 100),
                                    spec.kind.label(),
                                    for_terminal(&p.path.display().to_string())
                                );
                            }
                            Err(e) => {
                                let _ = writeln!(
                                    out,
                                    "broken    {:<22} {}",
                                    excerpt(&p.name, 100),
                                    bounded(&e.to_string())
                                );
                            }
                        }
                    }
                }
                Err(e) => eprintln!("sockscope: {}", bounded(&e.to_string())),
            }
            ExitCode::SUCCESS
        }
        PresetCmd::Import {
            file,
            name,
            replace,
        } => {
            let store = match store {
                Ok(s) => s,
                Err(e) => return fail(e),
            };
            let specs = match preset::load_file(&file) {
                Ok(s) => s,
                Err(e) => return fail(e),
            };
            let [spec] = specs.as_slice() else {
                return fail(format!(
                    "{} holds {} sessions; a preset is one session",
                    file.display(),
                    specs.len()
                ));
            };
            let mut spec = spec.clone();
            if let Some(n) = name {
                spec.name = n;
            }
            match store.save(&spec, replace) {
                Ok(saved) => {
                    if let Some(a) = saved.moved_aside {
                        eprintln!(
                            "sockscope: the old file did not parse; it was kept as {}",
                            for_terminal(&a.display().to_string())
                        );
                    }
                    let _ = writeln!(
                        out,
                        "saved {}",
                        for_terminal(&saved.path.display().to_string())
                    );
                    ExitCode::SUCCESS
                }
                Err(e) => fail(e),
            }
        }
        PresetCmd::Export {
            name,
            file,
            replace,
        } => {
            let specs = match store::resolve(store.as_ref().ok(), &name) {
                Ok(s) => s,
                Err(e) => return fail(e),
            };
            let text = specs
                .first()
                .map(|s| preset::session_to_ron(&preset::from_spec(s)));
            match text {
                Some(Ok(text)) => export_preset(&file, text.as_bytes(), replace),
                Some(Err(e)) => fail(e),
                None => fail("nothing to export"),
            }
        }
        PresetCmd::Delete { name } => match store.and_then(|s| s.delete(&name)) {
            Ok(_) => ExitCode::SUCCESS,
            Err(e) => fail(e),
        },
    }
}

/// Writes an exported preset: a new file, or over an existing one only
/// when asked and only if it is a preset itself (a file that does not
/// parse is never written over).
fn export_preset(file: &std::path::Path, bytes: &[u8], replace: bool) -> ExitCode {
    let shown = for_terminal(&file.display().to_string());
    let written = if std::fs::symlink_metadata(file).is_ok() {
        if !replace {
            return fail(format!("{shown} exists; add --replace to write over it"));
        }
        if let Err(e) = preset::load_file(file) {
            return fail(format!(
                "{shown} exists and does not parse as a preset, so it is never written over ({e})"
            ));
        }
        sockscope::fsutil::write_atomic(file, bytes)
    } else {
        sockscope::fsutil::write_new(file, bytes)
    };
    match written {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            fail(format!("{shown} exists; add --replace to write over it"))
        }
        Err(e) => fail(format!("write {shown}: {e}")),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // Servers need many descriptors; the hard limit is ours to use.
    let _ = sockscope::sys::raise_fd_limit();
    let store = Store::locate(cli.config_dir.as_deref());
    match cli.command {
        Some(Cmd::Run {
            file,
            duration,
            stats,
            data_limit,
            tcp_info,
            modem,
            pcapng,
            drop_when_behind,
        }) => {
            let specs = match store::resolve(store.as_ref().ok(), &file) {
                Ok(s) => s,
                Err(e) => return fail(e),
            };
            let opts = RunOptions {
                duration,
                stats,
                data_limit: data_limit.map_or(Some(headless::DEFAULT_DATA_LIMIT), |d| d.0),
                tcp_info,
                modem,
                pcapng,
                drop_when_behind,
            };
            let stdout = std::io::stdout();
            // Written once per batch of events; a busy server fills it.
            let mut out = std::io::BufWriter::with_capacity(64 * 1024, stdout.lock());
            match headless::run(specs, &opts, &mut out) {
                Ok(Outcome::Clean) => ExitCode::SUCCESS,
                Ok(Outcome::SessionFailed) | Ok(Outcome::Incomplete) => ExitCode::from(1),
                Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("sockscope: {}", bounded(&e.to_string()));
                    ExitCode::from(1)
                }
            }
        }
        Some(Cmd::Check { file }) => match store::resolve(store.as_ref().ok(), &file) {
            Ok(specs) => {
                let mut out = std::io::stdout().lock();
                for s in specs {
                    let _ = writeln!(
                        out,
                        "{}: {} ({})",
                        excerpt(&s.name, 100),
                        s.kind.label(),
                        excerpt(&format!("{:?}", s.kind), 300)
                    );
                }
                ExitCode::SUCCESS
            }
            Err(e) => fail(e),
        },
        Some(Cmd::Presets { action }) => presets(store, action),
        Some(Cmd::Sockets {
            json,
            watch,
            count,
            filter,
        }) => {
            let filter = match sockscope::engine::system::filter::parse(&filter.join(" ")) {
                Ok(f) => f,
                Err(e) => return fail(format!("the filter: {e}")),
            };
            let opts = sockscope::sockets::Options { json, watch, count };
            let stdout = std::io::stdout();
            let mut out = std::io::BufWriter::new(stdout.lock());
            match sockscope::sockets::run(&filter, &opts, &mut out, &mut std::io::stderr()) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
                Err(e) => fail(e),
            }
        }
        Some(Cmd::Export { lang, file }) => {
            let specs = match store::resolve(store.as_ref().ok(), &file) {
                Ok(s) => s,
                Err(e) => return fail(e),
            };
            let mut out = std::io::stdout().lock();
            for s in &specs {
                let calls = sockscope::export::calls_for_spec(s);
                if calls.is_empty() {
                    return fail(format!(
                        "'{}' is a {} session, which has no equivalent in the socket call table",
                        excerpt(&s.name, 100),
                        s.kind.label()
                    ));
                }
                let code = match lang {
                    Lang::Python => sockscope::export::python(&s.name, &calls),
                    Lang::Rust => sockscope::export::rust(&s.name, &calls),
                };
                let code = sockscope::export::with_caveats(
                    code,
                    &sockscope::export::not_exported(s),
                    matches!(lang, Lang::Python),
                );
                let _ = out.write_all(code.as_bytes());
            }
            ExitCode::SUCCESS
        }
        None => {
            let mut specs = Vec::new();
            for what in &cli.open {
                match store::resolve(store.as_ref().ok(), what) {
                    Ok(s) => specs.extend(s),
                    Err(e) => return fail(e),
                }
            }
            match sockscope::ui::run(specs, store.ok()) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => fail(e),
            }
        }
    }
}
