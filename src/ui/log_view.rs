//! The log of the selected session (or a merged timeline of all): one row
//! per send/recv, filtered by direction and by a text or hex search, with a
//! hex dump of the selected row.
//!
//! The view keeps a list of matching rows as (session, absolute index)
//! pairs, appended as entries arrive, so a frame costs only the rows on
//! screen: the table is virtualised and nothing is formatted per entry.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime};

use egui_extras::{Column, TableBuilder};

use crate::engine::codec::{self, Encoding};
use crate::engine::log::{LogStore, Record};
use crate::engine::protocol::{CloseReason, Direction, EventKind, Side};

use super::labels as L;
use super::model::Model;
use crate::t;

/// Which sessions the view shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// One top-level session with its children.
    Session(u32),
    /// Every session, merged in arrival order.
    All,
}

/// What the view asks the app to do.
#[derive(Debug)]
pub enum LogAction {
    /// Put text on the clipboard.
    Copy(String),
    /// Forget the entries of a session (counters stay).
    Clear(Option<u32>),
    /// Tell the user something.
    Status(String),
    /// Send a row's bytes again on its session (`to`: a datagram's peer).
    Resend {
        /// The session or child the row belongs to.
        target: crate::engine::SessionId,
        /// The bytes.
        data: Vec<u8>,
        /// The row's peer.
        to: Option<crate::engine::protocol::Addr>,
    },
    /// Show a session's payloads in another encoding from now on (what
    /// is logged already is decoded again: the log keeps bytes).
    SetEncoding(u32, Encoding),
    /// Start or stop capturing to a file.
    Capture(super::capture::CaptureAction),
}

/// Export format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExportFormat {
    /// One line per row, as shown.
    Text,
    /// One JSON object per row, the `sockscope run` schema for `sent`/`received`.
    JsonLines,
    /// Made-up packets for Wireshark (every row of the sessions in view,
    /// whatever the filters: a connection needs its lifecycle rows).
    Pcapng,
}

struct Export {
    rows: Vec<(u32, u64)>,
    next: usize,
    out: String,
    /// The pcapng being made (`ExportFormat::Pcapng`).
    pcap: Option<crate::pcapng::Pcap<Vec<u8>>>,
    path: PathBuf,
    format: ExportFormat,
}

/// Rows formatted per frame while exporting, so a million rows never
/// stall a frame.
const EXPORT_ROWS_PER_FRAME: usize = 20_000;
/// Bytes of a payload shown in its row (the hex dump shows all of it).
const ROW_PREVIEW: usize = 256;

/// The log view.
pub struct LogView {
    /// Scope shown.
    pub scope: Scope,
    /// Show received entries.
    pub show_in: bool,
    /// Show sent entries.
    pub show_out: bool,
    /// Show lifecycle rows (connected, accepted, closed, errors, ...).
    pub show_events: bool,
    /// Search text (`hex:` prefix searches bytes).
    pub search: String,
    /// Show payloads as hex.
    pub hex: bool,
    /// Show payloads as text and hex side by side.
    pub both: bool,
    /// Wall clock instead of seconds since start.
    pub wall: bool,
    /// Keep the newest row in view.
    pub follow: bool,
    /// Freeze the rows; new ones wait.
    pub paused: bool,
    rows: Vec<(u32, u64)>,
    waiting: Vec<(u32, u64)>,
    applied: (Scope, bool, bool, bool, String),
    seen_removals: u64,
    last_prune: Instant,
    selected: Option<(u32, u64)>,
    /// The row to bring to the middle of the table, and for how many more
    /// frames: a selected row, once its detail has made the table shorter
    /// (`usize::MAX`: the newest, to follow again).
    scroll_to: Option<(usize, u8)>,
    needles: HashMap<u32, Option<Vec<u8>>>,
    search_error: Option<String>,
    export: Option<Export>,
    export_path: String,
    capture_form: super::capture::CaptureForm,
    /// Engine start in wall-clock time.
    pub start_wall: SystemTime,
}

impl Default for LogView {
    fn default() -> Self {
        LogView {
            scope: Scope::All,
            show_in: true,
            show_out: true,
            show_events: true,
            search: String::new(),
            hex: false,
            wall: false,
            follow: true,
            paused: false,
            both: false,
            rows: Vec::new(),
            waiting: Vec::new(),
            applied: (Scope::All, true, true, true, String::new()),
            seen_removals: 0,
            last_prune: Instant::now(),
            selected: None,
            scroll_to: None,
            needles: HashMap::new(),
            search_error: None,
            export: None,
            export_path: "sockscope-log.txt".into(),
            capture_form: Default::default(),
            start_wall: SystemTime::now(),
        }
    }
}

pub(crate) fn fmt_wall(t: SystemTime) -> String {
    let secs = t
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs_f64();
    let day = secs % 86_400.0;
    let h = (day / 3600.0) as u32;
    let m = ((day % 3600.0) / 60.0) as u32;
    let s = day % 60.0;
    format!("{h:02}:{m:02}:{s:09.6} UTC")
}

impl LogView {
    /// Number of rows currently listed.
    pub fn row_count(&self) -> usize {
        self.rows.len()
    }

    /// Pauses or resumes following (rows that came meanwhile join).
    pub fn set_paused(&mut self, paused: bool) {
        self.paused = paused;
        if !paused {
            self.rows.append(&mut self.waiting);
        }
    }

    /// Rows that carry data (lifecycle rows left out).
    pub fn data_row_count(&self, store: &LogStore) -> usize {
        self.rows
            .iter()
            .filter(|(t, a)| store.get(*t, *a).is_some_and(|r| r.event.is_none()))
            .count()
    }

    fn encoding_of(model: &Model, top: u32) -> Encoding {
        model
            .get(crate::engine::SessionId::top(top))
            .map(|i| i.encoding)
            .unwrap_or_default()
    }

    fn needle(&mut self, model: &Model, top: u32) -> Option<Vec<u8>> {
        if self.search.is_empty() {
            return None;
        }
        if let Some(n) = self.needles.get(&top) {
            return n.clone();
        }
        let n = if let Some(h) = self.search.strip_prefix("hex:") {
            match codec::parse_hex(h) {
                Ok(b) => Some(b),
                Err(e) => {
                    self.search_error = Some(e.to_string());
                    None
                }
            }
        } else {
            match Self::encoding_of(model, top).encode(&self.search) {
                Ok(b) => Some(b),
                Err(e) => {
                    self.search_error = Some(e.to_string());
                    None
                }
            }
        };
        self.needles.insert(top, n.clone());
        n
    }

    fn matches(&mut self, model: &Model, top: u32, r: &Record) -> bool {
        if let Scope::Session(s) = self.scope
            && s != top
        {
            return false;
        }
        if let Some(ev) = &r.event {
            // Lifecycle rows match a search by their words.
            return self.show_events
                && (self.search.is_empty()
                    || (!self.search.starts_with("hex:")
                        && describe(ev)
                            .to_lowercase()
                            .contains(&self.search.to_lowercase())));
        }
        let dir_ok = match r.entry.dir {
            Direction::In => self.show_in,
            Direction::Out => self.show_out,
        };
        if !dir_ok {
            return false;
        }
        if self.search.is_empty() {
            return true;
        }
        match self.needle(model, top) {
            Some(n) => memchr::memmem::find(&r.entry.data, &n).is_some(),
            // An unparsable search matches nothing (and says why).
            None => false,
        }
    }

    /// Called for every new entry the store took in.
    pub fn on_logged(&mut self, store: &LogStore, model: &Model, top: u32, abs: u64) {
        let Some(r) = store.get(top, abs) else {
            return;
        };
        if self.matches(model, top, r) {
            if self.paused {
                self.waiting.push((top, abs));
            } else {
                self.rows.push((top, abs));
            }
        }
    }

    /// Recomputes the row list (scope or filter changed).
    pub fn rebuild(&mut self, store: &LogStore, model: &Model) {
        self.needles.clear();
        self.search_error = None;
        self.rows.clear();
        self.waiting.clear();
        let scope = self.scope;
        self.rows = scoped_rows(scope, store, |top, r| self.matches(model, top, r));
        self.applied = (
            self.scope,
            self.show_in,
            self.show_out,
            self.show_events,
            self.search.clone(),
        );
        self.seen_removals = store.removals();
    }

    /// Drops rows whose entries the store evicted (at most a few times a
    /// second: it walks the list).
    fn prune(&mut self, store: &LogStore) {
        if store.removals() == self.seen_removals
            || self.last_prune.elapsed() < Duration::from_millis(250)
        {
            return;
        }
        self.last_prune = Instant::now();
        self.seen_removals = store.removals();
        // A sorted list, searched: this runs once per row of up to a million
        // rows, and a hashed lookup each made the pruning frame 10 ms long.
        let mut first: Vec<(u32, u64)> = store
            .tops()
            .into_iter()
            .map(|t| (t, store.span(t).start))
            .collect();
        first.sort_unstable();
        let alive = |(t, a): &(u32, u64)| {
            first
                .binary_search_by_key(t, |(top, _)| *top)
                .is_ok_and(|i| *a >= first[i].1)
        };
        if let Scope::Session(_) = self.scope {
            // One session's rows are in index order: the stale ones are a prefix.
            let dead = self.rows.partition_point(|r| !alive(r));
            self.rows.drain(..dead);
            let dead = self.waiting.partition_point(|r| !alive(r));
            self.waiting.drain(..dead);
        } else {
            self.rows.retain(alive);
            self.waiting.retain(alive);
        }
        if self.selected.is_some_and(|s| !alive(&s)) {
            self.selected = None;
        }
    }

    fn row_text(&self, model: &Model, r: &Record, top: u32) -> String {
        if let Some(ev) = &r.event {
            return format!(
                "{} {} ({}) ** {}",
                self.time_text(r),
                r.session,
                session_name(model, r.session),
                describe(ev)
            );
        }
        let dir = arrow(model, r.session, r.entry.dir).0;
        let peer = r
            .entry
            .peer
            .as_ref()
            .map(|p| p.to_string())
            .unwrap_or_default();
        let body = if self.hex {
            codec::to_hex(&r.entry.data)
        } else {
            Self::encoding_of(model, top).decode_escaped(&r.entry.data, true)
        };
        let body = match entry_tag(&r.entry) {
            Some(tag) => format!("{tag} {body}"),
            None => body,
        };
        format!(
            "{} {} ({}) {dir} {peer} {} {body}",
            self.time_text(r),
            r.session,
            session_name(model, r.session),
            r.entry.data.len()
        )
    }

    fn time_text(&self, r: &Record) -> String {
        if self.wall {
            fmt_wall(self.start_wall + r.mono)
        } else {
            format!("{:.6}", r.mono.as_secs_f64())
        }
    }

    fn start_export(&mut self, format: ExportFormat, store: &LogStore) {
        let path = PathBuf::from(self.export_path.trim());
        let (rows, pcap) = match format {
            ExportFormat::Pcapng => (
                self.all_rows(store),
                crate::pcapng::Pcap::new(Vec::new()).ok(),
            ),
            _ => (self.rows.clone(), None),
        };
        self.export = Some(Export {
            rows,
            next: 0,
            out: String::new(),
            pcap,
            path,
            format,
        });
    }

    /// Every row of the sessions in scope, in arrival order, filters aside.
    fn all_rows(&self, store: &LogStore) -> Vec<(u32, u64)> {
        scoped_rows(self.scope, store, |_, _| true)
    }

    /// Advances an export in progress; the file is written atomically on
    /// a thread, its outcome comes back through `done`.
    fn step_export(
        &mut self,
        store: &LogStore,
        model: &Model,
        done: &crossbeam_channel::Sender<(String, bool)>,
    ) {
        let Some(mut ex) = self.export.take() else {
            return;
        };
        let end = (ex.next + EXPORT_ROWS_PER_FRAME).min(ex.rows.len());
        for &(top, abs) in &ex.rows[ex.next..end] {
            let Some(r) = store.get(top, abs) else {
                continue;
            };
            match ex.format {
                ExportFormat::Text => {
                    ex.out.push_str(&self.row_text(model, r, top));
                    ex.out.push('\n');
                }
                ExportFormat::JsonLines => {
                    let ev = crate::engine::protocol::Event {
                        session: r.session,
                        at: crate::engine::protocol::Stamp {
                            mono: r.mono,
                            wall: self.start_wall + r.mono,
                        },
                        // The same schema as `sockscope run`, lifecycle
                        // rows included.
                        kind: match &r.event {
                            Some(ev) => (**ev).clone(),
                            None => crate::engine::protocol::EventKind::Log(r.entry.clone()),
                        },
                    };
                    let v = crate::headless::event_json(&ev, Self::encoding_of(model, top), None);
                    ex.out.push_str(&v.to_string());
                    ex.out.push('\n');
                }
                ExportFormat::Pcapng => {
                    let at = self.start_wall + r.mono;
                    let res = match (&mut ex.pcap, &r.event) {
                        (Some(p), Some(ev)) => p.event(r.session, at, ev),
                        (Some(p), None) => p.event(
                            r.session,
                            at,
                            &crate::engine::protocol::EventKind::Log(r.entry.clone()),
                        ),
                        (None, _) => Ok(()),
                    };
                    if res.is_err() {
                        ex.pcap = None;
                    }
                }
            }
        }
        ex.next = end;
        if ex.next < ex.rows.len() {
            self.export = Some(ex);
            return;
        }
        let tx = done.clone();
        let n = ex.rows.len();
        let bytes = match ex.format {
            ExportFormat::Pcapng => match ex.pcap.take().map(|p| (p.packets(), p.finish())) {
                Some((packets, Ok(b))) if packets > 0 => b,
                Some((_, Ok(_))) => {
                    let _ = done.try_send((t!("export-no-packets").into(), true));
                    return;
                }
                _ => {
                    let _ = done.try_send((t!("export-pcapng-failed").into(), true));
                    return;
                }
            },
            _ => std::mem::take(&mut ex.out).into_bytes(),
        };
        // The thread words its messages as the app speaks now.
        let lang = super::i18n::current();
        let spawned = std::thread::Builder::new()
            .name("sockscope-export".into())
            .spawn(move || {
                super::i18n::set(lang);
                // Never over a file that is there (it may not be ours).
                let path = ex.path.display().to_string();
                let msg = match crate::fsutil::write_new(&ex.path, &bytes) {
                    Ok(()) => (t!("exported-rows", n = n, path = path), false),
                    Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                        (t!("export-exists", path = path), true)
                    }
                    Err(e) => (
                        t!("export-to-failed", path = path, why = e.to_string()),
                        true,
                    ),
                };
                let _ = tx.try_send(msg);
            });
        if let Err(e) = spawned {
            let _ = done.try_send((t!("export-failed", why = e.to_string()), true));
        }
    }

    /// Draws the view.
    pub fn ui(
        &mut self,
        ui: &mut egui::Ui,
        store: &LogStore,
        model: &Model,
        export_done: &crossbeam_channel::Sender<(String, bool)>,
        capture: Option<(&super::capture::CaptureSpec, super::capture::CaptureStatus)>,
    ) -> Vec<LogAction> {
        let mut actions = Vec::new();
        self.prune(store);
        ui.horizontal_wrapped(|ui| {
            let all = self.scope == Scope::All;
            if ui.selectable_label(all, L::ALL_SESSIONS).clicked() && !all {
                self.scope = Scope::All;
            }
            ui.checkbox(&mut self.show_in, L::SHOW_IN);
            ui.checkbox(&mut self.show_out, L::SHOW_OUT);
            ui.checkbox(&mut self.show_events, L::SHOW_EVENTS);
            let label = ui.label(L::LOG_SEARCH);
            ui.add(
                egui::TextEdit::singleline(&mut self.search)
                    .hint_text(t!("log-search-hint"))
                    .desired_width(140.0)
                    .id_salt(L::LOG_SEARCH),
            )
            .labelled_by(label.id);
            ui.checkbox(&mut self.hex, L::AS_HEX);
            ui.add_enabled(
                !self.hex,
                egui::Checkbox::new(&mut self.both, L::TEXT_AND_HEX),
            );
            // The selected session's display encoding, changeable at any
            // time (NetAssist's receive settings): rows are decoded again.
            if let Scope::Session(top) = self.scope {
                let current = Self::encoding_of(model, top);
                let mut chosen = current.name().to_string();
                // One piece: CJK text would otherwise wrap between its characters.
                let l = ui.add(egui::Label::new(L::SHOW_AS).extend());
                egui::ComboBox::from_id_salt("log-encoding")
                    .selected_text(chosen.clone())
                    .show_ui(ui, |ui| {
                        for e in codec::COMMON_ENCODINGS {
                            ui.selectable_value(&mut chosen, (*e).to_string(), *e);
                        }
                    })
                    .response
                    .labelled_by(l.id);
                if chosen != current.name()
                    && let Some(e) = Encoding::for_label(&chosen)
                {
                    self.needles.clear();
                    actions.push(LogAction::SetEncoding(top, e));
                }
            }
            ui.checkbox(&mut self.wall, L::WALL_CLOCK);
            ui.checkbox(&mut self.follow, L::FOLLOW);
            if ui.checkbox(&mut self.paused, L::PAUSE).changed() && !self.paused {
                self.rows.append(&mut self.waiting);
            }
            if ui.button(L::CLEAR).clicked() {
                actions.push(LogAction::Clear(match self.scope {
                    Scope::Session(s) => Some(s),
                    Scope::All => None,
                }));
            }
            if ui.button(L::COPY).clicked() {
                let rows: Vec<(u32, u64)> = match self.selected {
                    Some(s) => vec![s],
                    None => self.rows.iter().rev().take(10_000).rev().copied().collect(),
                };
                let text: Vec<String> = rows
                    .iter()
                    .filter_map(|&(t, a)| store.get(t, a).map(|r| self.row_text(model, r, t)))
                    .collect();
                actions.push(LogAction::Copy(text.join("\n")));
                actions.push(LogAction::Status(t!("copied-rows", n = text.len())));
            }
        });
        // Export and capture share one header, closed by default: at
        // 1024x700 the log needs the rows. A running capture shows on it.
        let title = if capture.is_some() {
            format!("● {}", L::EXPORT_AND_CAPTURE)
        } else {
            L::EXPORT_AND_CAPTURE.to_string()
        };
        egui::CollapsingHeader::new(title)
            .id_salt("export-and-capture")
            .default_open(false)
            .show(ui, |ui| {
                ui.horizontal_wrapped(|ui| {
                    let l = ui.label(t!("export-to"));
                    ui.add(egui::TextEdit::singleline(&mut self.export_path).desired_width(220.0))
                        .labelled_by(l.id);
                    let busy = self.export.is_some();
                    if ui
                        .add_enabled(!busy, egui::Button::new(L::EXPORT_TEXT))
                        .clicked()
                    {
                        self.start_export(ExportFormat::Text, store);
                    }
                    if ui
                        .add_enabled(!busy, egui::Button::new(L::EXPORT_JSONL))
                        .clicked()
                    {
                        self.start_export(ExportFormat::JsonLines, store);
                    }
                    if ui
                        .add_enabled(!busy, egui::Button::new(L::EXPORT_PCAPNG))
                        .on_hover_text(t!("export-pcapng-help"))
                        .clicked()
                    {
                        self.start_export(ExportFormat::Pcapng, store);
                    }
                    if let Some(ex) = &self.export {
                        ui.spinner();
                        ui.label(t!("exporting", done = ex.next, all = ex.rows.len()));
                    }
                });
                let scope = match self.scope {
                    Scope::Session(top) => {
                        Some((top, session_name(model, crate::engine::SessionId::top(top))))
                    }
                    Scope::All => None,
                };
                if let Some(a) = self.capture_form.ui(ui, capture, scope) {
                    actions.push(LogAction::Capture(a));
                }
            });
        let want = (
            self.scope,
            self.show_in,
            self.show_out,
            self.show_events,
            self.search.clone(),
        );
        if want != self.applied {
            self.rebuild(store, model);
        }
        if let Some(e) = &self.search_error {
            ui.colored_label(
                ui.visuals().error_fg_color,
                t!("search-error", why = e.to_string()),
            );
        }
        self.step_export(store, model, export_done);
        if self.export.is_some() {
            ui.ctx().request_repaint();
        }
        // Say what is missing, and why.
        let tops = match self.scope {
            Scope::Session(s) => vec![s],
            Scope::All => store.tops(),
        };
        let (mut evicted, mut undelivered) = (0, 0);
        for t in tops {
            let e = store.evicted(t);
            evicted += e.entries;
            undelivered += e.undelivered;
        }
        if evicted > 0 || undelivered > 0 {
            ui.colored_label(
                ui.visuals().warn_fg_color,
                t!(
                    "log-evicted",
                    evicted = evicted.to_string(),
                    undelivered = undelivered.to_string()
                ),
            );
        }
        let waiting = self.waiting.len();
        ui.label(t!(
            "log-rows",
            n = self.rows.len(),
            waiting = if waiting > 0 {
                t!("log-waiting", n = waiting)
            } else {
                String::new()
            }
        ));
        self.table(ui, store, model);
        if let Some(a) = self.detail(ui, store) {
            actions.push(a);
        }
        actions
    }

    fn table(&mut self, ui: &mut egui::Ui, store: &LogStore, model: &Model) {
        let (err_color, warn_color, weak_color) = (
            ui.visuals().error_fg_color,
            ui.visuals().warn_fg_color,
            ui.visuals().weak_text_color(),
        );
        let row_h = egui::TextStyle::Monospace.resolve(ui.style()).size + 6.0;
        let detail_h = if self.selected.is_some() { 180.0 } else { 0.0 };
        let mut clicked = None;
        // Never taller than the space left: a table that overflows its
        // panel would sit on top of the composer and take its clicks.
        let avail = (ui.available_height() - detail_h - row_h).max(row_h * 2.0);
        // First widths in proportion to the room (dragged widths stay).
        let w = ui.available_width();
        let session_w = (w * 0.16).clamp(50.0, 140.0);
        let peer_w = (w * 0.18).clamp(60.0, 170.0);
        // A relay's rows say which way they went (`C→S`), wider than `<-`.
        let relayed = model.sessions().iter().any(|id| {
            model
                .get(*id)
                .is_some_and(|i| i.kind == crate::engine::protocol::Kind::Relay)
        });
        let arrow_w = if relayed { 36.0 } else { 22.0 };
        // Labels select text on a drag, so they took a click for
        // themselves: a click on a row's session, peer or data (most of a
        // row at 1024 px, where those are cut short) selected nothing. A
        // row is selected from anywhere on it; its text is copied from the
        // detail under the table or with Copy rows.
        let selectable = ui.style().interaction.selectable_labels;
        ui.style_mut().interaction.selectable_labels = false;
        // The offset is set on the table's own scroll area (`scroll_to_row`
        // scrolls every enclosing one too, and took the log's toolbar out
        // of view), within what the rows fill: the table draws only the
        // rows its offset shows.
        let row_pitch = row_h + ui.spacing().item_spacing.y;
        let end = (self.rows.len() as f32 * row_pitch - avail).max(0.0);
        let offset = self.scroll_to.map(|(i, _)| match i {
            usize::MAX => end,
            i => (i as f32 * row_pitch - (avail - row_h) / 2.0).clamp(0.0, end),
        });
        if let Some((i, frames)) = self.scroll_to {
            self.scroll_to = (frames > 1).then_some((i, frames - 1));
            ui.ctx().request_repaint();
        }
        let mut table = TableBuilder::new(ui);
        if let Some(y) = offset {
            table = table.vertical_scroll_offset(y);
        }
        // While a row is selected (its detail open under the table), the
        // view stays on it instead of following new rows: the detail made
        // the table shorter from below and, stuck to the newest rows, the
        // row just clicked went out of view while the detail spoke of it.
        table
            .id_salt("log-table")
            .striped(true)
            .resizable(true)
            .stick_to_bottom(self.follow && self.selected.is_none())
            .max_scroll_height(avail)
            .min_scrolled_height(0.0)
            .auto_shrink([false, false])
            .sense(egui::Sense::click())
            // Narrow first columns so the data gets what is left even at
            // 1024 px; each can be dragged wider.
            .column(Column::auto().at_least(84.0))
            .column(Column::initial(session_w).at_least(40.0).clip(true))
            .column(Column::exact(arrow_w))
            .column(Column::initial(peer_w).at_least(50.0).clip(true))
            .column(Column::auto().at_least(44.0))
            .column(Column::remainder().clip(true))
            .header(row_h, |mut h| {
                for t in [
                    t!("col-time"),
                    t!("col-session"),
                    "",
                    t!("col-peer"),
                    t!("col-len"),
                    t!("col-data"),
                ] {
                    h.col(|ui| {
                        ui.strong(t);
                    });
                }
            })
            .body(|body| {
                body.rows(row_h, self.rows.len(), |mut row| {
                    let (top, abs) = self.rows[row.index()];
                    row.set_selected(self.selected == Some((top, abs)));
                    let Some(r) = store.get(top, abs) else {
                        row.col(|ui| {
                            ui.weak(t!("row-evicted"));
                        });
                        return;
                    };
                    let mono = egui::TextStyle::Monospace;
                    let is_selected = self.selected == Some((top, abs));
                    let index = row.index();
                    row.col(|ui| {
                        // The time is the row's handle: a click selects it.
                        let t = egui::RichText::new(self.time_text(r)).text_style(mono.clone());
                        // Never wrapped ("113.\n184486" read as two numbers).
                        let b = egui::Button::selectable(is_selected, t)
                            .wrap_mode(egui::TextWrapMode::Extend);
                        if ui.add(b).clicked() {
                            clicked = Some((top, abs, index));
                        }
                    });
                    row.col(|ui| {
                        // The session's name (a child's is its server's
                        // with #n), so a row matches its session at a
                        // glance; the id is on hover.
                        let name = session_name(model, r.session);
                        ui.add(egui::Label::new(name).truncate())
                            .on_hover_text(t!("capture-session", id = r.session.to_string()));
                    });
                    if let Some(ev) = &r.event {
                        // A lifecycle row: a mark instead of an arrow, the
                        // story in words across peer, len and data, in
                        // italics (errors in red, warnings in orange).
                        let color = match **ev {
                            EventKind::Error(_)
                            | EventKind::ErrorRepeated { .. }
                            | EventKind::ConnectFailed(_)
                            | EventKind::Closed {
                                reason: CloseReason::Error(_) | CloseReason::Panicked(_),
                                ..
                            } => err_color,
                            EventKind::Warning { .. } | EventKind::Timeout { .. } => warn_color,
                            _ => weak_color,
                        };
                        row.col(|ui| {
                            ui.colored_label(color, "•");
                        });
                        let text = describe(ev);
                        row.col(|_| {});
                        row.col(|_| {});
                        row.col(|ui| {
                            ui.add(
                                egui::Label::new(egui::RichText::new(text).italics().color(color))
                                    .truncate(),
                            );
                        });
                        if row.response().clicked() {
                            clicked = Some((top, abs, row.index()));
                        }
                        return;
                    }
                    row.col(|ui| {
                        let (arrow, color) = arrow(model, r.session, r.entry.dir);
                        ui.colored_label(color, arrow);
                    });
                    row.col(|ui| {
                        if let Some(p) = &r.entry.peer {
                            ui.add(egui::Label::new(p.to_string()).truncate());
                        }
                    });
                    row.col(|ui| {
                        let mut t = r.entry.data.len().to_string();
                        if let Some(req) = r.entry.requested {
                            t = format!("{t}/{req}");
                        }
                        if let Some(full) = r.entry.truncated_from {
                            t = t!("len-of-full", len = t, full = full);
                        }
                        ui.label(t);
                    });
                    row.col(|ui| {
                        let shown = &r.entry.data[..r.entry.data.len().min(ROW_PREVIEW)];
                        let mut text = if self.hex {
                            codec::to_hex(shown)
                        } else if self.both {
                            format!(
                                "{}  |  {}",
                                Self::encoding_of(model, top).decode_escaped(shown, true),
                                codec::to_hex(shown)
                            )
                        } else {
                            Self::encoding_of(model, top).decode_escaped(shown, true)
                        };
                        if r.entry.data.len() > ROW_PREVIEW {
                            text.push('…');
                        }
                        if let Some(tag) = entry_tag(&r.entry) {
                            text = format!("{tag} {text}");
                        }
                        ui.add(
                            egui::Label::new(egui::RichText::new(text).text_style(mono)).truncate(),
                        );
                    });
                    if row.response().clicked() {
                        clicked = Some((top, abs, row.index()));
                    }
                });
            });
        // The detail under the table keeps its selectable text.
        ui.style_mut().interaction.selectable_labels = selectable;
        if let Some((top, abs, index)) = clicked {
            let c = (top, abs);
            self.selected = if self.selected == Some(c) {
                // Following again, from the newest row.
                if self.follow {
                    self.scroll_to = Some((usize::MAX, 2));
                }
                None
            } else {
                self.scroll_to = Some((index, 2));
                Some(c)
            };
        }
    }

    fn detail(&mut self, ui: &mut egui::Ui, store: &LogStore) -> Option<LogAction> {
        let (top, abs) = self.selected?;
        let Some(r) = store.get(top, abs) else {
            self.selected = None;
            return None;
        };
        ui.separator();
        if let Some(ev) = &r.event {
            ui.add(egui::Label::new(format!("{}  {}", self.time_text(r), describe(ev))).wrap());
            return None;
        }
        let mut action = None;
        // Send these bytes again on the same session (a datagram to the
        // peer the row names), as Packet Sender's resend does.
        if ui.button(L::RESEND).clicked() {
            action = Some(LogAction::Resend {
                target: r.session,
                data: r.entry.data.clone(),
                to: r.entry.peer.clone(),
            });
        }
        ui.label(t!(
            "row-detail",
            n = r.entry.data.len(),
            dir = match r.entry.dir {
                Direction::In => "in",
                Direction::Out => "out",
            },
            peer = r
                .entry
                .peer
                .as_ref()
                .map(|p| p.to_string())
                .unwrap_or_default(),
            time = self.time_text(r)
        ));
        if let Some(w) = &r.entry.ws {
            ws_detail(ui, w, &r.entry.data);
        }
        if let Some(f) = &r.entry.framed {
            parts_ui(
                ui,
                &t!("recv-chunks", n = f.chunks.len()),
                "recv",
                &f.chunks,
                &r.entry.data,
            );
            if f.partial {
                ui.weak(t!("row-partial"));
            }
        }
        let data = &r.entry.data;
        let lines = data.len().div_ceil(16);
        let row_h = egui::TextStyle::Monospace.resolve(ui.style()).size + 2.0;
        egui::ScrollArea::both()
            .id_salt("hexdump")
            .max_height(150.0)
            .auto_shrink([false, true])
            .show_rows(ui, row_h, lines, |ui, range| {
                for line in range {
                    let chunk = &data[line * 16..(line * 16 + 16).min(data.len())];
                    let mut hex = codec::to_hex(chunk);
                    while hex.len() < 47 {
                        hex.push(' ');
                    }
                    let ascii: String = chunk
                        .iter()
                        .map(|&b| {
                            if (0x20..0x7f).contains(&b) {
                                b as char
                            } else {
                                '.'
                            }
                        })
                        .collect();
                    let text = egui::RichText::new(format!("{:08x}  {hex}  {ascii}", line * 16))
                        .monospace();
                    ui.add(egui::Label::new(text).extend());
                }
            });
        action
    }
}

/// A session's name as the log shows it (its id when the model has none).
pub(crate) fn session_name(model: &Model, id: crate::engine::SessionId) -> String {
    model
        .get(id)
        .map(|i| i.name.clone())
        .unwrap_or_else(|| id.to_string())
}

/// The rows of the sessions in `scope` that `keep` keeps, merged back
/// into arrival order.
fn scoped_rows(
    scope: Scope,
    store: &LogStore,
    mut keep: impl FnMut(u32, &crate::engine::log::Record) -> bool,
) -> Vec<(u32, u64)> {
    let tops = match scope {
        Scope::Session(s) => vec![s],
        Scope::All => store.tops(),
    };
    let mut found: Vec<(u64, u32, u64)> = Vec::new();
    for top in tops {
        for abs in store.span(top) {
            if let Some(r) = store.get(top, abs)
                && keep(top, r)
            {
                found.push((r.seq, top, abs));
            }
        }
    }
    found.sort_unstable_by_key(|(seq, _, _)| *seq);
    found.into_iter().map(|(_, t, a)| (t, a)).collect()
}

/// What a row's data column starts with: a WebSocket message's opcode,
/// or how a framed message came (`[3 recvs]`, `[partial]`).
pub fn entry_tag(e: &crate::engine::protocol::LogEntry) -> Option<String> {
    if let Some(w) = &e.ws {
        return Some(ws_tag(w));
    }
    let f = e.framed.as_ref()?;
    match (f.chunks.len(), f.partial) {
        (n, true) if n > 1 => Some(format!("[partial, {n} recvs]")),
        (_, true) => Some("[partial]".into()),
        (n, false) if n > 1 => Some(format!("[{n} recvs]")),
        _ => None,
    }
}

/// A WebSocket row's tag: `[text]`, `[close 1000]`, `[binary ×3]` for a
/// message of three fragments, `!utf8` for a text frame that is not.
pub fn ws_tag(w: &crate::engine::ws::WsMeta) -> String {
    let mut t = format!("[{}", w.opcode.label());
    if let Some(c) = w.close_code {
        t.push_str(&format!(" {c}"));
    }
    if w.fragments.len() > 1 {
        t.push_str(&format!(" ×{}", w.fragments.len()));
    }
    if !w.fin {
        t.push_str(" no FIN");
    }
    if w.invalid_utf8 {
        t.push_str(" !utf8");
    }
    t.push(']');
    t
}

/// A WebSocket message's frame flags and, for a fragmented one, each
/// fragment's part of the assembled payload.
fn ws_detail(ui: &mut egui::Ui, w: &crate::engine::ws::WsMeta, data: &[u8]) {
    ui.label(format!(
        "WebSocket {}{}, FIN {}, {}{}",
        w.opcode.label(),
        w.close_code
            .map(|c| t!("ws-code", code = c))
            .unwrap_or_default(),
        on(w.fin),
        if w.masked {
            t!("ws-masked")
        } else {
            t!("ws-not-masked")
        },
        if w.invalid_utf8 {
            t!("ws-bad-utf8")
        } else {
            ""
        }
    ));
    if w.fragments.len() > 1 {
        parts_ui(
            ui,
            &t!("ws-fragments", n = w.fragments.len()),
            "frame",
            &w.fragments,
            data,
        );
    }
}

/// The pieces a row's bytes came in (WebSocket fragments, recv chunks),
/// one click away: each piece's size, offset and first bytes.
fn parts_ui(ui: &mut egui::Ui, title: &str, what: &str, sizes: &[usize], data: &[u8]) {
    if sizes.len() < 2 {
        return;
    }
    egui::CollapsingHeader::new(title)
        .id_salt(("row-parts", what))
        .show(ui, |ui| {
            let mut off = 0;
            for (i, n) in sizes.iter().enumerate() {
                let part = data.get(off..(off + n).min(data.len())).unwrap_or_default();
                let shown = &part[..part.len().min(ROW_PREVIEW)];
                ui.monospace(t!(
                    "row-part",
                    what = what,
                    i = format!("{:>3}", i + 1),
                    n = *n,
                    off = off,
                    hex = format!(
                        "{}{}",
                        codec::to_hex(shown),
                        if part.len() > ROW_PREVIEW { " …" } else { "" }
                    )
                ));
                off += n;
            }
        });
}

fn on(b: bool) -> &'static str {
    if b { t!("tri-on") } else { t!("tri-off") }
}

/// A lifecycle event in words, for its log row, the text export and the
/// search.
pub fn describe(kind: &EventKind) -> String {
    use super::i18n::{close_reason, engine_text, op_error};
    match kind {
        EventKind::Opened { name, kind } => {
            t!(
                "ev-opened",
                kind = super::i18n::kind_name(*kind),
                name = name.clone()
            )
        }
        EventKind::Resolving { host } => t!("ev-resolving", host = host.clone()),
        EventKind::Resolved { host, addrs } => {
            let a: Vec<String> = addrs.iter().map(|a| a.to_string()).collect();
            t!("ev-resolved", host = host.clone(), addrs = a.join(", "))
        }
        EventKind::SocketCreated {
            fd,
            family,
            socktype,
        } => format!("socket({family}, {socktype}) -> fd {fd}"),
        EventKind::Connecting { addr } => t!("ev-connecting", addr = addr.to_string()),
        EventKind::ConnectFailed(e) => t!("ev-connect-failed", error = op_error(e)),
        EventKind::Connected { local, peer, fd } => t!(
            "ev-connected",
            local = local.to_string(),
            peer = peer.to_string(),
            fd = *fd
        ),
        EventKind::Bound { local, fd, peer } => match peer {
            Some(p) => t!(
                "ev-bound-peer",
                local = local.to_string(),
                peer = p.to_string(),
                fd = *fd
            ),
            None => t!("ev-bound", local = local.to_string(), fd = *fd),
        },
        EventKind::Listening { local, fd, backlog } => t!(
            "ev-listening",
            local = local.to_string(),
            backlog = *backlog,
            fd = *fd
        ),
        EventKind::Accepted {
            child, peer, fd, ..
        } => t!(
            "ev-accepted",
            child = child.to_string(),
            peer = peer.to_string(),
            fd = *fd
        ),
        EventKind::Tls(t) => t!(
            "ev-tls",
            version = t.version.clone(),
            suite = t.suite.clone(),
            alpn = t
                .alpn
                .as_ref()
                .map(|a| format!(", ALPN {a}"))
                .unwrap_or_default(),
            unverified = match &t.verification {
                crate::engine::tls::Verification::NotVerified { .. } => t!("ev-tls-unverified"),
                _ => "",
            }
        ),
        EventKind::TlsIdentity(_) => t!("ev-tls-identity").into(),
        EventKind::WsHandshake(h) => t!(
            "ev-ws-handshake",
            role = h.role.to_string(),
            status = h.status.to_string(),
            subprotocol = h
                .subprotocol
                .as_ref()
                .map(|p| t!("ev-ws-subprotocol", name = p.clone()))
                .unwrap_or_default()
        ),
        EventKind::Options(o) => t!("ev-options", n = o.len()),
        EventKind::TcpInfo(i) => format!(
            "TCP_INFO {} rtt {:.3} ms cwnd {} retrans {}",
            i.state,
            f64::from(i.rtt_us) / 1000.0,
            i.cwnd,
            i.total_retrans
        ),
        EventKind::OptionChanged(o) => format!(
            "setsockopt {} = {} -> {}",
            o.name,
            o.requested.as_deref().unwrap_or("?"),
            match &o.actual {
                Ok(v) => v.clone(),
                Err(e) => t!("ev-error", error = engine_text(e).into_owned()),
            }
        ),
        EventKind::HalfClosed { by: Side::Local } => t!("ev-half-closed-local").into(),
        EventKind::HalfClosed { by: Side::Peer } => t!("ev-half-closed-peer").into(),
        EventKind::WritePaused { queued } => t!("ev-write-paused", n = queued.to_string()),
        EventKind::WriteResumed { queued } => t!("ev-write-resumed", n = queued.to_string()),
        EventKind::Timeout { op, after } => t!(
            "ev-timeout",
            op = *op,
            secs = format!("{:.3}", after.as_secs_f64())
        ),
        EventKind::Multicast { group, joined } => {
            if *joined {
                t!("ev-joined", group = group.to_string())
            } else {
                t!("ev-left", group = group.to_string())
            }
        }
        EventKind::Modem(Ok(l)) => format!(
            "{}: DTR {} RTS {} CTS {} DSR {} RI {} CD {}",
            L::MODEM_LINES.text(),
            on(l.dtr),
            on(l.rts),
            on(l.cts),
            on(l.dsr),
            on(l.ri),
            on(l.cd)
        ),
        EventKind::Modem(Err(e)) => format!("{}: {}", L::MODEM_LINES.text(), op_error(e)),
        EventKind::BreakSent => t!("ev-break-sent").into(),
        EventKind::Rule { index, what, .. } => t!(
            "ev-rule",
            index = *index,
            what = engine_text(what).into_owned()
        ),
        EventKind::Intercepted { id, data, timeout } => t!(
            "ev-intercepted",
            id = *id,
            n = data.len(),
            secs = timeout.as_secs()
        ),
        EventKind::Released { id, how, sent } => {
            t!(
                "ev-released",
                id = *id,
                how = engine_text(how).into_owned(),
                n = *sent
            )
        }
        EventKind::Error(e) => t!("ev-error", error = op_error(e)),
        EventKind::ErrorRepeated { error, times } => {
            t!("ev-error-repeated", times = *times, error = op_error(error))
        }
        EventKind::Warning { message, .. } => {
            t!("ev-warning", message = engine_text(message).into_owned())
        }
        EventKind::Step { what, .. } => {
            t!("ev-step", what = engine_text(what).into_owned())
        }
        EventKind::BurstDone(r) => t!("ev-burst-done", ok = r.ok, count = r.count),
        EventKind::Dropped { entries, bytes } => t!(
            "ev-dropped",
            entries = entries.to_string(),
            bytes = bytes.to_string()
        ),
        EventKind::Closed { reason, .. } => t!("ev-closed", reason = close_reason(reason)),
        EventKind::Log(e) => t!("ev-bytes", n = e.data.len()),
        EventKind::Call { record, .. } => record.call.text(),
        EventKind::BurstProgress { done } => t!("burst-done", n = *done),
        EventKind::Stats { .. } => t!("ev-stats").into(),
    }
}

/// How a row's direction is drawn: `<-` received, `->` sent; on a relay's
/// legs, which way the bytes went (`C→S`, `S→C`), in one colour per way
/// whichever leg logged them.
fn arrow(
    model: &Model,
    id: crate::engine::SessionId,
    dir: Direction,
) -> (&'static str, egui::Color32) {
    use crate::engine::protocol::Leg;
    let green = egui::Color32::from_rgb(60, 160, 80);
    let blue = egui::Color32::from_rgb(90, 140, 220);
    let relayed = model
        .get(crate::engine::SessionId::top(id.session))
        .is_some_and(|p| p.kind == crate::engine::protocol::Kind::Relay);
    // A UDP relay's own socket faces the clients, as a client leg does.
    let leg = if id.is_child() {
        Leg::of(id.child)
    } else {
        Leg::Client
    };
    match (relayed, dir) {
        (true, _) if leg.way(dir) == "client→server" => ("C→S", blue),
        (true, _) => ("S→C", green),
        (false, Direction::In) => ("<-", green),
        (false, Direction::Out) => ("->", blue),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::protocol::{Addr, Direction, Event, EventKind, LogEntry, Stamp};
    use crate::engine::{
        SessionId,
        log::{Ingested, LogBudget},
    };

    fn entry(top: u32, i: u64) -> Event {
        Event {
            session: SessionId::top(top).child(1),
            at: Stamp {
                mono: Duration::from_micros(i),
                wall: SystemTime::now(),
            },
            kind: EventKind::Log(LogEntry {
                dir: Direction::In,
                peer: Some(Addr::Inet("127.0.0.1:9".parse().unwrap())),
                data: format!("{top}:{i}").into_bytes(),
                requested: None,
                truncated_from: None,
                ws: None,
                framed: None,
            }),
        }
    }

    /// Pruning keeps exactly the rows whose entries the store still holds,
    /// in order, across sessions that evict at different rates (it once
    /// looked tops up in a HashMap per row; now a sorted list).
    #[test]
    fn pruning_keeps_exactly_the_live_rows_of_every_session() {
        let mut store = LogStore::new(LogBudget {
            entries_per_session: 10,
            ..LogBudget::default()
        });
        let model = Model::default();
        let mut view = LogView::default();
        // Session 2 logs three times as often as sessions 1 and 3.
        for i in 0..60u64 {
            for top in [1, 2, 2, 2, 3] {
                if let Ingested::Logged { top, abs } = store.ingest(entry(top, i)) {
                    view.on_logged(&store, &model, top, abs);
                }
            }
        }
        assert!(view.rows.len() > 30, "rows listed before pruning");
        view.last_prune = Instant::now() - Duration::from_secs(1);
        view.prune(&store);
        let mut want: Vec<(u32, u64)> = Vec::new();
        for top in [1, 2, 3] {
            want.extend(store.span(top).map(|a| (top, a)));
        }
        let mut got = view.rows.clone();
        assert!(
            got.windows(2).all(|w| w[0] != w[1]),
            "no row twice: {got:?}"
        );
        got.sort_unstable();
        want.sort_unstable();
        assert_eq!(got, want);
        assert_eq!(view.rows.len(), 30, "ten a session");
    }
}
