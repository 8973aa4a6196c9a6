//! Continuous capture to a file (NetAssist's 接收转向文件): what a session
//! (or every session) receives and does, written as it arrives, by a
//! thread of its own so a slow disk never stalls the UI.
//!
//! Formats: the raw bytes received, a text log (the log view's rows), or
//! JSON Lines in the schema of `sockscope run`. Files rotate at a size
//! limit: `cap.log`, `cap.1.log`, `cap.2.log`, ... and only the newest
//! `keep` are kept; the ones removed are files this capture created
//! (checked by device and inode), never anything else. A name that exists
//! is never written over: the capture refuses to start on it, and a
//! rotated name that exists is skipped.
//!
//! The queue to the writer is bounded in bytes. The UI cannot slow a peer
//! down, so when the disk falls that far behind, the newest data is
//! dropped, counted and shown, and the text and JSON Lines files say
//! where the gap is.

use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use crossbeam_channel::{Receiver, Sender};

use crate::engine::codec::Encoding;
use crate::engine::protocol::Direction;
use crate::engine::protocol::{Event, EventKind};

/// Bytes that may wait for the writer before data is dropped.
pub const QUEUE_BYTES: usize = 16 * 1024 * 1024;
/// Messages that may wait (each is also counted in bytes).
const QUEUE_MESSAGES: usize = 65_536;
/// The smallest size a file may rotate at.
pub const MIN_FILE_LIMIT: u64 = 4 * 1024;
/// Most rotated files kept.
pub const MAX_KEEP: u32 = 1000;

/// What goes into the file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum CaptureFormat {
    /// The bytes received, nothing else.
    #[default]
    Raw,
    /// One line per row, as the log view shows it.
    Text,
    /// One JSON object per event, as `sockscope run` prints.
    JsonLines,
}

impl CaptureFormat {
    /// All, for pickers.
    pub const ALL: [CaptureFormat; 3] = [
        CaptureFormat::Raw,
        CaptureFormat::Text,
        CaptureFormat::JsonLines,
    ];

    /// Its name in pickers.
    pub fn name(self) -> &'static str {
        match self {
            CaptureFormat::Raw => crate::t!("capture-raw"),
            CaptureFormat::Text => crate::t!("capture-text"),
            CaptureFormat::JsonLines => "JSON Lines",
        }
    }
}

/// What to capture and where.
#[derive(Clone, Debug, PartialEq)]
pub struct CaptureSpec {
    /// The first file; rotated ones are numbered beside it.
    pub path: PathBuf,
    /// What is written.
    pub format: CaptureFormat,
    /// One top-level session (with its connections), or every session.
    pub session: Option<u32>,
    /// A file is closed and the next one started at this size.
    pub file_limit: u64,
    /// How many files are kept (the oldest are removed).
    pub keep: u32,
}

/// What the writer has done so far.
#[derive(Default)]
struct Stats {
    written: AtomicU64,
    files: AtomicU64,
    dropped: AtomicU64,
    queued: AtomicUsize,
    current: Mutex<Option<PathBuf>>,
    error: Mutex<Option<String>>,
}

/// A capture as the UI shows it.
#[derive(Clone, Debug, PartialEq)]
pub struct CaptureStatus {
    /// Bytes written to files.
    pub written: u64,
    /// Files started.
    pub files: u64,
    /// Bytes dropped because the writer fell behind.
    pub dropped: u64,
    /// The file being written.
    pub current: Option<PathBuf>,
    /// Why the capture stopped, if it did.
    pub error: Option<String>,
}

/// One event for the writer.
struct Msg {
    ev: Box<Event>,
    enc: Encoding,
    /// The session's name (text format only).
    name: String,
    /// Bytes dropped just before this one.
    gap: u64,
}

/// A running capture. Dropping it stops the writer, which flushes what it
/// has and ends on its own (the UI does not wait for the disk).
pub struct Capture {
    spec: CaptureSpec,
    tx: Option<Sender<(Msg, usize)>>,
    stats: Arc<Stats>,
    gap: u64,
    /// Closed (or sent to) when the writer has flushed and ended.
    done: Receiver<()>,
}

impl Capture {
    /// Starts the writer thread; the first file is created there, and a
    /// failure shows in [`Capture::status`].
    pub fn start(spec: CaptureSpec) -> Result<Capture, String> {
        if spec.path.as_os_str().is_empty() {
            return Err(crate::t!("capture-give-file").into());
        }
        if spec.file_limit < MIN_FILE_LIMIT {
            return Err(crate::t!(
                "capture-limit-small",
                kib = MIN_FILE_LIMIT / 1024
            ));
        }
        if !(1..=MAX_KEEP).contains(&spec.keep) {
            return Err(crate::t!("capture-keep-range", max = MAX_KEEP));
        }
        let (tx, rx) = crossbeam_channel::bounded(QUEUE_MESSAGES);
        let (done_tx, done) = crossbeam_channel::bounded(1);
        let stats = Arc::new(Stats::default());
        let writer = Writer {
            spec: spec.clone(),
            stats: stats.clone(),
            made: Vec::new(),
            file: None,
            in_file: 0,
            next_part: 0,
        };
        // The thread words its messages as the app speaks now.
        let lang = super::i18n::current();
        std::thread::Builder::new()
            .name("sockscope-capture".into())
            .spawn(move || {
                super::i18n::set(lang);
                // Says "done" however the writer ends (an error included).
                let _done = Done(done_tx);
                writer.run(rx)
            })
            .map_err(|e| crate::t!("capture-cannot-start", why = e.to_string()))?;
        Ok(Capture {
            spec,
            tx: Some(tx),
            stats,
            gap: 0,
            done,
        })
    }

    /// Stops taking events and waits, at most `wait`, for the writer to
    /// write and flush what it was given (the app does this as it quits,
    /// so the end of a capture is not lost with the process).
    pub fn finish(mut self, wait: Duration) -> CaptureStatus {
        self.tx = None;
        let _ = self.done.recv_timeout(wait);
        self.status()
    }

    /// What it captures.
    pub fn spec(&self) -> &CaptureSpec {
        &self.spec
    }

    /// Hands an event to the writer if it is one this capture wants.
    /// Never blocks: past [`QUEUE_BYTES`] waiting, the event is dropped
    /// and counted.
    pub fn offer(&mut self, ev: &Event, enc: Encoding, name: impl FnOnce() -> String) {
        if self.spec.session.is_some_and(|s| s != ev.session.session) {
            return;
        }
        // TCP_INFO is read because the inspector looks, not because the
        // session did anything.
        if matches!(ev.kind, EventKind::TcpInfo(_)) {
            return;
        }
        let cost = match (&ev.kind, self.spec.format) {
            (EventKind::Log(e), CaptureFormat::Raw) if e.dir == Direction::In => e.data.len(),
            (_, CaptureFormat::Raw) => return,
            (EventKind::Log(e), _) => e.data.len() * 4 + 128,
            _ => 256,
        };
        let Some(tx) = &self.tx else {
            return;
        };
        let queued = self.stats.queued.load(Ordering::Relaxed);
        if queued + cost > QUEUE_BYTES {
            self.gap += cost as u64;
            self.stats.dropped.fetch_add(cost as u64, Ordering::Relaxed);
            return;
        }
        let msg = Msg {
            ev: Box::new(ev.clone()),
            enc,
            name: if self.spec.format == CaptureFormat::Text {
                name()
            } else {
                String::new()
            },
            gap: self.gap,
        };
        self.stats.queued.fetch_add(cost, Ordering::Relaxed);
        match tx.try_send((msg, cost)) {
            Ok(()) => self.gap = 0,
            Err(crossbeam_channel::TrySendError::Full(_)) => {
                self.stats.queued.fetch_sub(cost, Ordering::Relaxed);
                self.gap += cost as u64;
                self.stats.dropped.fetch_add(cost as u64, Ordering::Relaxed);
            }
            Err(crossbeam_channel::TrySendError::Disconnected(_)) => {
                self.stats.queued.fetch_sub(cost, Ordering::Relaxed);
                self.tx = None;
            }
        }
    }

    /// How it is going.
    pub fn status(&self) -> CaptureStatus {
        CaptureStatus {
            written: self.stats.written.load(Ordering::Relaxed),
            files: self.stats.files.load(Ordering::Relaxed),
            dropped: self.stats.dropped.load(Ordering::Relaxed),
            current: self.stats.current.lock().ok().and_then(|c| c.clone()),
            error: self.stats.error.lock().ok().and_then(|e| e.clone()),
        }
    }
}

/// Tells the capture the writer ended when dropped.
struct Done(Sender<()>);

impl Drop for Done {
    fn drop(&mut self) {
        let _ = self.0.try_send(());
    }
}

/// The name of rotated part `n` (0 is the file asked for): `cap.log` ->
/// `cap.3.log`, `cap` -> `cap.3`.
pub fn part_name(path: &Path, n: u64) -> PathBuf {
    if n == 0 {
        return path.to_path_buf();
    }
    let stem = path.file_stem().map(|s| s.to_string_lossy().into_owned());
    let ext = path.extension().map(|s| s.to_string_lossy().into_owned());
    let name = match (stem, ext) {
        (Some(s), Some(e)) => format!("{s}.{n}.{e}"),
        (Some(s), None) => format!("{s}.{n}"),
        _ => format!("capture.{n}"),
    };
    path.with_file_name(name)
}

struct Writer {
    spec: CaptureSpec,
    stats: Arc<Stats>,
    /// Files this capture created, oldest first, with device and inode.
    made: Vec<(PathBuf, u64, u64)>,
    file: Option<std::io::BufWriter<std::fs::File>>,
    in_file: u64,
    next_part: u64,
}

impl Writer {
    fn run(mut self, rx: Receiver<(Msg, usize)>) {
        if let Err(e) = self.open_next(true) {
            self.fail(e);
            return;
        }
        loop {
            match rx.recv_timeout(Duration::from_millis(250)) {
                Ok((msg, cost)) => {
                    self.stats.queued.fetch_sub(cost, Ordering::Relaxed);
                    if let Err(e) = self.write(msg) {
                        self.fail(e);
                        return;
                    }
                }
                // Flush when idle, so the file is current when looked at.
                Err(crossbeam_channel::RecvTimeoutError::Timeout) => {
                    if let Some(f) = &mut self.file
                        && let Err(e) = f.flush()
                    {
                        self.fail(crate::t!("capture-write-failed", why = e.to_string()));
                        return;
                    }
                }
                Err(crossbeam_channel::RecvTimeoutError::Disconnected) => break,
            }
        }
        if let Some(mut f) = self.file.take()
            && let Err(e) = f.flush()
        {
            self.fail(crate::t!("capture-write-failed", why = e.to_string()));
        }
    }

    fn fail(&self, e: String) {
        if let Ok(mut slot) = self.stats.error.lock() {
            *slot = Some(e);
        }
    }

    fn write(&mut self, msg: Msg) -> Result<(), String> {
        let Msg { ev, enc, name, gap } = msg;
        let mut out = Vec::new();
        if gap > 0 {
            match self.spec.format {
                CaptureFormat::Raw => {}
                CaptureFormat::Text => {
                    out.extend_from_slice(
                        format!("** capture fell behind: {gap} bytes dropped here\n").as_bytes(),
                    );
                }
                CaptureFormat::JsonLines => {
                    let v = serde_json::json!({"event": "capture_gap", "dropped_bytes": gap});
                    out.extend_from_slice(v.to_string().as_bytes());
                    out.push(b'\n');
                }
            }
        }
        match self.spec.format {
            CaptureFormat::Raw => {
                if let EventKind::Log(e) = &ev.kind {
                    out.extend_from_slice(&e.data);
                }
            }
            CaptureFormat::Text => {
                let when = super::log_view::fmt_wall(ev.at.wall);
                let line = match &ev.kind {
                    EventKind::Log(e) => {
                        let dir = match e.dir {
                            Direction::In => "<-",
                            Direction::Out => "->",
                        };
                        let peer = e.peer.as_ref().map(|p| p.to_string()).unwrap_or_default();
                        format!(
                            "{when} {} ({name}) {dir} {peer} {} {}",
                            ev.session,
                            e.data.len(),
                            enc.decode_escaped(&e.data, true)
                        )
                    }
                    other => format!(
                        "{when} {} ({name}) ** {}",
                        ev.session,
                        super::log_view::describe(other)
                    ),
                };
                out.extend_from_slice(crate::engine::codec::for_terminal(&line).as_bytes());
                out.push(b'\n');
            }
            CaptureFormat::JsonLines => {
                let v = crate::headless::event_json(&ev, enc, None);
                out.extend_from_slice(v.to_string().as_bytes());
                out.push(b'\n');
            }
        }
        if out.is_empty() {
            return Ok(());
        }
        if self.in_file > 0 && self.in_file + out.len() as u64 > self.spec.file_limit {
            self.open_next(false)?;
        }
        let f = self.file.as_mut().ok_or(crate::t!("capture-closed"))?;
        f.write_all(&out)
            .map_err(|e| crate::t!("capture-write-failed", why = e.to_string()))?;
        self.in_file += out.len() as u64;
        self.stats
            .written
            .fetch_add(out.len() as u64, Ordering::Relaxed);
        Ok(())
    }

    /// Closes the current file and creates the next part, never over an
    /// existing file; removes the oldest parts past `keep`.
    fn open_next(&mut self, first: bool) -> Result<(), String> {
        if let Some(mut f) = self.file.take() {
            f.flush()
                .map_err(|e| crate::t!("capture-write-failed", why = e.to_string()))?;
        }
        let opened = loop {
            let path = part_name(&self.spec.path, self.next_part);
            self.next_part += 1;
            match std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&path)
            {
                Ok(f) => break (path, f),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    if first {
                        return Err(crate::t!(
                            "capture-exists",
                            path = path.display().to_string()
                        ));
                    }
                    // A rotated name taken by someone else: skip it.
                    if self.next_part > self.made.len() as u64 + 10_000 {
                        return Err(crate::t!("capture-no-free-name").into());
                    }
                }
                Err(e) => {
                    return Err(crate::t!(
                        "capture-cannot-create",
                        path = path.display().to_string(),
                        why = e.to_string()
                    ));
                }
            }
        };
        let (path, f) = opened;
        let meta = f.metadata().map_err(|e| {
            crate::t!(
                "capture-cannot-read-back",
                path = path.display().to_string(),
                why = e.to_string()
            )
        })?;
        self.made.push((path.clone(), meta.dev(), meta.ino()));
        self.file = Some(std::io::BufWriter::with_capacity(64 * 1024, f));
        self.in_file = 0;
        self.stats.files.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut c) = self.stats.current.lock() {
            *c = Some(path);
        }
        while self.made.len() > self.spec.keep as usize {
            let (old, dev, ino) = self.made.remove(0);
            // Only the very file this capture made: if it was replaced
            // since, it is someone else's now.
            let _ = crate::fsutil::remove_if_same(&old, (dev, ino));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotated_parts_are_numbered_beside_the_first() {
        let p = Path::new("/tmp/x/cap.log");
        assert_eq!(part_name(p, 0), Path::new("/tmp/x/cap.log"));
        assert_eq!(part_name(p, 3), Path::new("/tmp/x/cap.3.log"));
        assert_eq!(part_name(Path::new("raw"), 2), Path::new("raw.2"));
    }
}

/// The capture fields as typed, in the log view.
pub struct CaptureForm {
    /// The first file's name.
    pub path: String,
    /// What is written.
    pub format: CaptureFormat,
    /// MiB per file before rotating.
    pub limit_mib: String,
    /// Files kept.
    pub keep: String,
}

impl Default for CaptureForm {
    fn default() -> Self {
        CaptureForm {
            path: "sockscope-capture.bin".into(),
            format: CaptureFormat::Raw,
            limit_mib: "64".into(),
            keep: "10".into(),
        }
    }
}

/// What the capture row asks for.
#[derive(Debug, PartialEq)]
pub enum CaptureAction {
    /// Start capturing.
    Start(CaptureSpec),
    /// Stop the running capture.
    Stop,
}

impl CaptureForm {
    /// The spec typed, for `session` (None: every session), or why not.
    pub fn spec(&self, session: Option<u32>) -> Result<CaptureSpec, String> {
        let mib = self
            .limit_mib
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|v| v.is_finite() && (0.004..=1024.0 * 1024.0).contains(v))
            .ok_or_else(|| crate::t!("capture-bad-size", value = self.limit_mib.trim()))?;
        let keep = self
            .keep
            .trim()
            .parse::<u32>()
            .ok()
            .filter(|k| (1..=MAX_KEEP).contains(k))
            .ok_or_else(|| crate::t!("capture-keep-range", max = MAX_KEEP))?;
        let path = self.path.trim();
        if path.is_empty() {
            return Err(crate::t!("capture-give-file").into());
        }
        Ok(CaptureSpec {
            path: PathBuf::from(path),
            format: self.format,
            session,
            file_limit: ((mib * 1024.0 * 1024.0) as u64).max(MIN_FILE_LIMIT),
            keep,
        })
    }

    /// Draws the capture row. `running` is the capture in progress;
    /// `session` is what a new one would capture (the log's scope).
    pub fn ui(
        &mut self,
        ui: &mut egui::Ui,
        running: Option<(&CaptureSpec, CaptureStatus)>,
        session: Option<(u32, String)>,
    ) -> Option<CaptureAction> {
        use super::labels as L;
        let mut action = None;
        ui.strong(L::CAPTURE);
        if let Some((spec, st)) = &running {
            ui.horizontal_wrapped(|ui| {
                ui.colored_label(
                    ui.visuals().warn_fg_color,
                    crate::t!(
                        "capture-running",
                        format = spec.format.name(),
                        path = st
                            .current
                            .as_deref()
                            .unwrap_or(&spec.path)
                            .display()
                            .to_string()
                    ),
                );
                if ui.button(L::STOP_CAPTURE).clicked() {
                    action = Some(CaptureAction::Stop);
                }
            });
            let mut line = crate::t!(
                "capture-written",
                bytes = st.written.to_string(),
                files = st.files
            );
            if st.dropped > 0 {
                line.push_str(&crate::t!(
                    "capture-disk-behind",
                    n = st.dropped.to_string()
                ));
            }
            ui.label(line);
            return action;
        }
        ui.horizontal_wrapped(|ui| {
            let l = ui.label(L::CAPTURE_TO);
            ui.add(egui::TextEdit::singleline(&mut self.path).desired_width(200.0))
                .labelled_by(l.id);
            let l = ui.label(L::CAPTURE_FORMAT);
            egui::ComboBox::from_id_salt("capture-format")
                .selected_text(self.format.name())
                .show_ui(ui, |ui| {
                    for f in CaptureFormat::ALL {
                        ui.selectable_value(&mut self.format, f, f.name());
                    }
                })
                .response
                .labelled_by(l.id);
        });
        ui.horizontal_wrapped(|ui| {
            let l = ui.label(L::CAPTURE_LIMIT);
            ui.add(egui::TextEdit::singleline(&mut self.limit_mib).desired_width(50.0))
                .labelled_by(l.id);
            ui.label(crate::t!("capture-mib-per-file"));
            let l = ui.label(L::CAPTURE_KEEP);
            ui.add(egui::TextEdit::singleline(&mut self.keep).desired_width(40.0))
                .labelled_by(l.id);
            ui.label(crate::t!("capture-files"));
        });
        let spec = self.spec(session.as_ref().map(|(s, _)| *s));
        ui.horizontal_wrapped(|ui| {
            let what = match &session {
                Some((_, name)) => format!("{} ({name})", L::START_CAPTURE),
                None => crate::t!("capture-start-all", start = L::START_CAPTURE.text()),
            };
            let b = ui.add_enabled(spec.is_ok(), egui::Button::new(what));
            let b = match &spec {
                Err(e) => b.on_disabled_hover_text(e.as_str()),
                Ok(_) => b,
            };
            if b.clicked()
                && let Ok(s) = spec.clone()
            {
                action = Some(CaptureAction::Start(s));
            }
            if let Err(e) = &spec {
                ui.colored_label(ui.visuals().error_fg_color, format!("! {e}"));
            }
        });
        action
    }
}
