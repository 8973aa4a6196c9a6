//! The System sockets view: every socket on the machine (TCPView for
//! Linux), refreshed about once a second on the engine's refresher
//! thread, new ones in green and vanished ones fading in red, sortable,
//! filtered by words or `ss` expressions, with the selected socket's
//! details (TCP_INFO plotted over time, as our own sessions have) and
//! what can be done with it.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use egui_extras::{Column, TableBuilder};

use super::labels as L;
use crate::engine::SessionSpec;
use crate::engine::system::table::{MARK_FOR, SortKey, TableView};
use crate::engine::system::watch::{Watch, WatchCmd, WatchReply};
use crate::engine::system::{
    self, Family, Owners, SockKey, SockKind, SysSocket, TimerKind, diag,
    filter::{self, Filter},
};
use crate::t;

/// TCP_INFO readings kept for the selected socket's plots.
const HISTORY: usize = 120;

/// What the view asks the app to do.
#[derive(Debug)]
pub enum SystemAction {
    /// Put this session in the form (and show the sessions).
    ToForm(Box<SessionSpec>),
    /// Copy text to the clipboard, and say so.
    Copy(String),
    /// A message for the status line (is an error).
    Say(String, bool),
}

/// The columns' first widths (each stays resizable) for the width there
/// is: generous when it fits; when narrower, the process and kind columns
/// give way first, so addresses and states stay whole (hover shows a cut
/// cell's whole text); only past that does every column shrink.
fn column_widths(available: f32) -> [f32; 9] {
    // Kind, State, Recv-Q, Send-Q, Local, Remote, Process, User, rtt.
    let mut w = [90.0, 110.0, 55.0, 55.0, 150.0, 150.0, 140.0, 55.0, 60.0];
    // Between columns and around the table.
    let spacing = 80.0;
    let mut deficit = w.iter().sum::<f32>() + spacing - available;
    for (i, floor) in [
        (6, 80.0),
        (0, 65.0),
        (7, 45.0),
        (8, 40.0),
        (2, 40.0),
        (3, 40.0),
    ] {
        if deficit <= 0.0 {
            break;
        }
        let give = (w[i] - floor).clamp(0.0, deficit);
        w[i] -= give;
        deficit -= give;
    }
    if deficit > 0.0 {
        let total: f32 = w.iter().sum();
        let scale = ((total - deficit) / total).max(0.3);
        for x in &mut w {
            *x *= scale;
        }
    }
    w
}

/// A column's title (each column sorts the table by its `SortKey`).
fn col_label(c: SortKey) -> L::Key {
    match c {
        SortKey::Kind => L::SYS_COL_KIND,
        SortKey::State => L::SYS_COL_STATE,
        SortKey::RecvQ => L::SYS_COL_RECVQ,
        SortKey::SendQ => L::SYS_COL_SENDQ,
        SortKey::Local => L::SYS_COL_LOCAL,
        SortKey::Remote => L::SYS_COL_REMOTE,
        SortKey::Process => L::SYS_COL_PROCESS,
        SortKey::User => L::SYS_COL_USER,
        SortKey::Rtt => L::SYS_COL_RTT,
    }
}

/// The view's state; its refresher runs only while it is shown and does
/// the matching, filtering and sorting, so a frame only swaps tables.
pub struct SystemView {
    watch: Option<Watch>,
    /// The newest table from the refresher.
    table: Arc<TableView>,
    pub filter_text: String,
    filter: Result<Filter, String>,
    sort: (SortKey, bool),
    paused: bool,
    selected: Option<SockKey>,
    /// The selected socket as last listed (it may have left the filter).
    selected_sock: Option<Arc<SysSocket>>,
    /// (seconds since the view opened, rtt ms, cwnd) of the selected one.
    history: VecDeque<(f64, f64, f64)>,
    opened: Instant,
    confirm_destroy: Option<SockKey>,
    /// Whether the refresher could not start, in words.
    failed: Option<String>,
}

impl Default for SystemView {
    fn default() -> Self {
        SystemView {
            watch: None,
            table: Arc::default(),
            filter_text: String::new(),
            filter: Ok(Filter::default()),
            sort: (SortKey::Kind, true),
            paused: false,
            selected: None,
            selected_sock: None,
            history: VecDeque::new(),
            opened: Instant::now(),
            confirm_destroy: None,
            failed: None,
        }
    }
}

fn rtt_ms(s: &SysSocket) -> Option<f64> {
    s.tcp_info
        .as_ref()
        .filter(|t| t.rtt_us > 0)
        .map(|t| f64::from(t.rtt_us) / 1000.0)
}

fn kind_text(k: SockKind) -> &'static str {
    match k {
        SockKind::Tcp => "TCP",
        SockKind::Udp => "UDP",
        SockKind::UnixStream => t!("sys-kind-unix-stream"),
        SockKind::UnixDgram => t!("sys-kind-unix-dgram"),
        SockKind::UnixSeqpacket => t!("sys-kind-unix-seqpacket"),
    }
}

fn family_text(f: Family) -> &'static str {
    match f {
        Family::V4 => "IPv4",
        Family::V6 => "IPv6",
        Family::Unix => "Unix",
    }
}

/// The process column: `name/pid`, or why none shows.
fn process_text(s: &SysSocket) -> String {
    s.holders(", ").unwrap_or_else(|| match s.owners {
        Owners::Hidden => t!("sys-no-access").to_string(),
        _ => t!("sys-kernel").to_string(),
    })
}

impl SystemView {
    /// Whether the refresher is running (the view is shown).
    pub fn running(&self) -> bool {
        self.watch.is_some()
    }

    /// Snapshots taken since the view first opened.
    pub fn snapshots(&self) -> u64 {
        self.table.snapshots
    }

    /// The selected socket, as last listed.
    pub fn selected(&self) -> Option<&SysSocket> {
        self.selected_sock.as_deref()
    }

    /// The rows shown, in order.
    pub fn shown_sockets(&self) -> impl Iterator<Item = &SysSocket> {
        self.table.rows.iter().map(|r| &*r.sock)
    }

    /// Stops the refresher (the view is hidden); what it showed stays.
    pub fn hide(&mut self) {
        self.watch = None;
    }

    /// Sets the filter text and applies it (as typing it would).
    pub fn set_filter(&mut self, text: &str) {
        self.filter_text = text.to_string();
        self.filter_changed();
    }

    fn filter_changed(&mut self) {
        self.filter = filter::parse(&self.filter_text).map_err(|e| e.message);
        // A filter that does not parse leaves the last good one in force
        // (and says why under the box).
        if let (Ok(f), Some(w)) = (&self.filter, &self.watch) {
            w.send(WatchCmd::Filter(Box::new(f.clone())));
        }
    }

    fn start(&mut self, ctx: &egui::Context) {
        if self.watch.is_some() || self.failed.is_some() {
            return;
        }
        let c = ctx.clone();
        match Watch::spawn(Arc::new(move || c.request_repaint())) {
            Ok(w) => {
                // A refresher starts afresh: it is told what the view holds.
                if self.paused {
                    w.send(WatchCmd::Pause(true));
                }
                if let Ok(f) = &self.filter {
                    w.send(WatchCmd::Filter(Box::new(f.clone())));
                }
                w.send(WatchCmd::Sort(self.sort.0, self.sort.1));
                self.watch = Some(w);
            }
            Err(e) => self.failed = Some(e.to_string()),
        }
    }

    /// Takes in a table from the refresher: a swap, and the selected
    /// socket's TCP_INFO reading for its plots. Returns the old table, for
    /// the refresher to free.
    pub fn take(&mut self, table: Arc<TableView>) -> Arc<TableView> {
        let fresh = table.snapshots != self.table.snapshots;
        let old = std::mem::replace(&mut self.table, table);
        if let Some(k) = self.selected
            && let Some(r) = self.table.rows.iter().find(|r| r.sock.key() == k)
        {
            self.selected_sock = Some(r.sock.clone());
            if fresh && let Some(t) = &r.sock.tcp_info {
                let at = self.opened.elapsed().as_secs_f64();
                self.history
                    .push_back((at, f64::from(t.rtt_us) / 1000.0, f64::from(t.cwnd)));
                while self.history.len() > HISTORY {
                    self.history.pop_front();
                }
            }
        }
        old
    }

    /// Draws the view over the whole window below the top bar.
    pub fn ui(&mut self, ui: &mut egui::Ui) -> Vec<SystemAction> {
        let ctx = ui.ctx().clone();
        self.start(&ctx);
        let mut actions = Vec::new();
        let (snap, replies) = self
            .watch
            .as_ref()
            .map_or((None, Vec::new()), |w| (w.take(), w.replies()));
        if let Some(table) = snap {
            let old = self.take(table);
            if let Some(w) = &self.watch {
                // Only this view and the refresher held it; if the
                // refresher is busy, it is freed here after all.
                w.send(WatchCmd::Recycle(old));
            }
        }
        {
            for r in replies {
                actions.push(match r {
                    WatchReply::Destroyed(what) => {
                        SystemAction::Say(t!("sys-destroyed", what = what), false)
                    }
                    WatchReply::DestroyFailed(e) => SystemAction::Say(
                        super::i18n::engine_text(&e.to_string()).into_owned(),
                        true,
                    ),
                });
            }
        }
        // Marked rows need frames while they fade.
        if self.table.marked_until.is_some_and(|t| t > Instant::now()) {
            ctx.request_repaint_after(Duration::from_millis(100));
        }
        egui::Panel::right("system-details")
            .resizable(true)
            .default_size(300.0)
            .max_size((ctx.content_rect().width() * 0.4).max(260.0))
            .show(ui, |ui| {
                egui::ScrollArea::vertical()
                    .id_salt("system-details-scroll")
                    .show(ui, |ui| self.details_ui(ui, &mut actions));
            });
        egui::CentralPanel::default().show(ui, |ui| {
            self.toolbar_ui(ui);
            ui.separator();
            self.table_ui(ui);
        });
        actions
    }

    fn toolbar_ui(&mut self, ui: &mut egui::Ui) {
        ui.horizontal(|ui| {
            // The buttons first and of one width each, so neither the
            // filter's width nor their own words can move them.
            let pause = if self.paused {
                L::SYS_RESUME
            } else {
                L::SYS_PAUSE
            };
            if ui
                .add(egui::Button::new(pause).min_size(egui::vec2(80.0, 0.0)))
                .clicked()
            {
                self.paused = !self.paused;
                if let Some(w) = &self.watch {
                    w.send(WatchCmd::Pause(self.paused));
                }
            }
            if ui.button(L::SYS_REFRESH).clicked()
                && let Some(w) = &self.watch
            {
                w.send(WatchCmd::Refresh);
            }
            ui.separator();
            let label = ui.label(L::SYS_FILTER);
            let edit = egui::TextEdit::singleline(&mut self.filter_text)
                .hint_text(t!("sys-filter-hint"))
                .desired_width(ui.available_width().max(120.0));
            let r = ui.add(edit).labelled_by(label.id);
            if r.changed() {
                self.filter_changed();
            }
        });
        match &self.filter {
            Err(why) => {
                ui.colored_label(ui.visuals().error_fg_color, why);
            }
            Ok(_) => {
                let tv = &self.table;
                let ms = (tv.dump_time + tv.procs_time).as_millis() as u64;
                let hidden = tv.hidden_processes;
                let mut line = t!(
                    "sys-count",
                    shown = tv.rows.len(),
                    total = tv.total,
                    ms = ms
                );
                if self.paused {
                    line.push_str(" · ");
                    line.push_str(t!("sys-paused"));
                }
                ui.horizontal_wrapped(|ui| {
                    ui.weak(line);
                    if hidden > 0 {
                        ui.weak(t!("sys-hidden", n = hidden));
                    }
                });
            }
        }
        if let Some(f) = &self.failed {
            ui.colored_label(ui.visuals().error_fg_color, f);
        }
        for p in &self.table.problems {
            ui.colored_label(ui.visuals().warn_fg_color, p);
        }
    }

    fn table_ui(&mut self, ui: &mut egui::Ui) {
        let row_h = ui.text_style_height(&egui::TextStyle::Body) + 4.0;
        let now = Instant::now();
        let green = egui::Color32::from_rgb(40, 170, 70);
        let red = egui::Color32::from_rgb(210, 60, 60);
        let mut clicked_header = None;
        let mut clicked_row = None;
        let selected = self.selected;
        self.table_in(
            ui,
            row_h,
            now,
            green,
            red,
            &mut clicked_header,
            &mut clicked_row,
            selected,
        );
        if let Some(c) = clicked_header {
            self.sort = if self.sort.0 == c {
                (c, !self.sort.1)
            } else {
                (c, true)
            };
            if let Some(w) = &self.watch {
                w.send(WatchCmd::Sort(c, self.sort.1));
            }
        }
        if let Some(k) = clicked_row {
            self.select(k);
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn table_in(
        &self,
        ui: &mut egui::Ui,
        row_h: f32,
        now: Instant,
        green: egui::Color32,
        red: egui::Color32,
        clicked_header: &mut Option<SortKey>,
        clicked_row: &mut Option<SockKey>,
        selected: Option<SockKey>,
    ) {
        let widths = column_widths(ui.available_width());
        let mut table = TableBuilder::new(ui)
            .striped(true)
            .resizable(true)
            .sense(egui::Sense::click())
            .cell_layout(egui::Layout::left_to_right(egui::Align::Center))
            .min_scrolled_height(0.0);
        for (c, w) in SortKey::ALL.into_iter().zip(widths) {
            let col = if c == SortKey::Rtt {
                Column::remainder().at_least(36.0)
            } else {
                Column::initial(w).at_least(30.0).clip(true)
            };
            table = table.column(col);
        }
        table
            .header(row_h + 2.0, |mut header| {
                for c in SortKey::ALL {
                    header.col(|ui| {
                        let mut text = col_label(c).text().to_string();
                        if self.sort.0 == c {
                            text.push_str(if self.sort.1 { " ▲" } else { " ▼" });
                        }
                        let mut b = ui.add(
                            egui::Button::new(egui::RichText::new(text).strong()).frame(false),
                        );
                        match c {
                            SortKey::RecvQ => b = b.on_hover_text(t!("sys-col-recvq-why")),
                            SortKey::SendQ => b = b.on_hover_text(t!("sys-col-sendq-why")),
                            _ => {}
                        }
                        if b.clicked() {
                            *clicked_header = Some(c);
                        }
                    });
                }
            })
            .body(|body| {
                body.rows(row_h, self.table.rows.len(), |mut row| {
                    let r = &self.table.rows[row.index()];
                    let s = &r.sock;
                    row.set_selected(selected == Some(s.key()));
                    let color = if let Some(g) = r.gone_at {
                        let left =
                            1.0 - now.duration_since(g).as_secs_f32() / MARK_FOR.as_secs_f32();
                        Some(red.gamma_multiply(left.clamp(0.2, 1.0)))
                    } else if r.new_at.is_some_and(|n| now.duration_since(n) < MARK_FOR) {
                        Some(green)
                    } else {
                        None
                    };
                    let cell = |ui: &mut egui::Ui, text: String| {
                        let t = egui::RichText::new(text).monospace();
                        let t = match color {
                            Some(c) => t.color(c),
                            None => t,
                        };
                        ui.add(egui::Label::new(t).truncate().selectable(false));
                    };
                    row.col(|ui| cell(ui, kind_text(s.kind).to_string()));
                    row.col(|ui| cell(ui, s.state.to_string()));
                    row.col(|ui| cell(ui, s.recv_q.to_string()));
                    row.col(|ui| cell(ui, s.send_q.to_string()));
                    row.col(|ui| cell(ui, s.local.to_string()));
                    row.col(|ui| cell(ui, s.remote.to_string()));
                    row.col(|ui| cell(ui, process_text(s)));
                    row.col(|ui| cell(ui, s.user.clone().unwrap_or_default()));
                    row.col(|ui| cell(ui, rtt_ms(s).map_or(String::new(), |v| format!("{v:.3}"))));
                    if row.response().clicked() {
                        *clicked_row = Some(s.key());
                    }
                });
            });
    }

    /// Selects a socket (its TCP_INFO history starts afresh).
    pub fn select(&mut self, key: SockKey) {
        if self.selected != Some(key) {
            self.selected = Some(key);
            self.selected_sock = self
                .table
                .rows
                .iter()
                .find(|r| r.sock.key() == key)
                .map(|r| r.sock.clone());
            self.history.clear();
            self.confirm_destroy = None;
            if let Some(t) = self.selected().and_then(|s| s.tcp_info.clone()) {
                let at = self.opened.elapsed().as_secs_f64();
                self.history
                    .push_back((at, f64::from(t.rtt_us) / 1000.0, f64::from(t.cwnd)));
            }
        }
    }

    fn details_ui(&mut self, ui: &mut egui::Ui, actions: &mut Vec<SystemAction>) {
        let Some(s) = self.selected_sock.clone() else {
            ui.weak(t!("sys-none-selected"));
            return;
        };
        ui.strong(format!("{} {}", kind_text(s.kind), s.state));
        // What can be done with it, first: no scrolling to find it.
        ui.horizontal_wrapped(|ui| {
            if let Some(spec) = system::client_spec(&s)
                && ui.button(L::SYS_OPEN_CLIENT).clicked()
            {
                actions.push(SystemAction::ToForm(Box::new(spec)));
            }
            if let Some(spec) = system::server_spec_like(&s)
                && ui.button(L::SYS_SERVER_LIKE).clicked()
            {
                actions.push(SystemAction::ToForm(Box::new(spec)));
            }
            if ui.button(L::SYS_COPY_SS).clicked() {
                actions.push(SystemAction::Copy(s.ss_command()));
            }
        });
        if diag::destroy_refusal(&s).is_none() {
            ui.horizontal(|ui| {
                if self.confirm_destroy == Some(s.key()) {
                    let sure = egui::Button::new(
                        egui::RichText::new(L::SYS_DESTROY_SURE).color(ui.visuals().error_fg_color),
                    );
                    if ui.add(sure).clicked() {
                        self.confirm_destroy = None;
                        if let Some(w) = &self.watch {
                            w.send(WatchCmd::Destroy(Box::new((*s).clone())));
                        }
                    }
                    if ui.button(L::SYS_DESTROY_CANCEL).clicked() {
                        self.confirm_destroy = None;
                    }
                } else if ui
                    .button(L::SYS_DESTROY)
                    .on_hover_text(t!("sys-destroy-why"))
                    .clicked()
                {
                    self.confirm_destroy = Some(s.key());
                }
            });
        }
        ui.separator();
        let kv = |ui: &mut egui::Ui, k: &str, v: String| {
            ui.label(k);
            ui.add(egui::Label::new(egui::RichText::new(v).monospace()).wrap());
            ui.end_row();
        };
        egui::Grid::new("sys-socket")
            .num_columns(2)
            .striped(true)
            .show(ui, |ui| {
                kv(ui, t!("sys-family"), family_text(s.family).to_string());
                kv(ui, L::SYS_COL_LOCAL.text(), s.local.to_string());
                kv(ui, L::SYS_COL_REMOTE.text(), s.remote.to_string());
                kv(ui, L::SYS_COL_RECVQ.text(), s.recv_q.to_string());
                kv(ui, L::SYS_COL_SENDQ.text(), s.send_q.to_string());
                if s.is_listener() {
                    kv(
                        ui,
                        t!("sys-accept-queue"),
                        t!("sys-accept-queue-of", n = s.recv_q, max = s.send_q),
                    );
                }
                kv(ui, t!("sys-inode"), s.inode.to_string());
                kv(ui, t!("sys-cookie"), s.cookie.to_string());
                if let Some(u) = &s.user {
                    kv(
                        ui,
                        L::SYS_COL_USER.text(),
                        format!("{u} ({})", s.uid.unwrap_or(0)),
                    );
                }
                if let Some(t) = s.timer {
                    let kind = match t.kind {
                        TimerKind::Retransmit => t!("sys-timer-retransmit"),
                        TimerKind::Keepalive => t!("sys-timer-keepalive"),
                        TimerKind::TimeWait => "TIME_WAIT",
                        TimerKind::Probe => t!("sys-timer-probe"),
                    };
                    kv(
                        ui,
                        t!("sys-timer"),
                        t!(
                            "sys-timer-left",
                            kind = kind,
                            secs = format!("{:.1}", f64::from(t.left_ms) / 1000.0),
                            n = t.retrans
                        ),
                    );
                }
                if let Some(c) = &s.congestion {
                    kv(ui, t!("sys-congestion"), c.clone());
                }
                if let Some(sh) = s.shutdown {
                    kv(ui, t!("sys-shutdown"), sh.to_string());
                }
                if let Some(i) = s.interface {
                    kv(ui, t!("sys-interface"), i.to_string());
                }
                if !s.pending.is_empty() {
                    kv(ui, t!("sys-pending"), s.pending.len().to_string());
                }
                if let Some(m) = s.skmem {
                    kv(
                        ui,
                        t!("sys-mem-rcv"),
                        format!("{} / {}", m.rmem_alloc, m.rcvbuf),
                    );
                    kv(
                        ui,
                        t!("sys-mem-snd"),
                        format!("{} / {}", m.wmem_alloc, m.sndbuf),
                    );
                    kv(ui, t!("sys-mem-queued"), m.wmem_queued.to_string());
                    kv(ui, t!("sys-mem-drops"), m.drops.to_string());
                }
            });
        ui.separator();
        ui.strong(t!("sys-processes"));
        match &s.owners {
            Owners::Known { processes } => {
                for p in processes {
                    egui::Grid::new(("sys-proc", p.pid))
                        .num_columns(2)
                        .show(ui, |ui| {
                            kv(ui, t!("sys-pid"), p.pid.to_string());
                            kv(ui, t!("sys-name"), p.name.clone());
                            kv(ui, L::SYS_COL_USER.text(), p.user.clone());
                            kv(ui, t!("sys-cmdline"), p.cmdline.clone());
                        });
                }
            }
            Owners::Kernel => {
                ui.weak(t!("sys-kernel-why"));
            }
            Owners::Hidden => {
                ui.weak(t!("sys-no-access-why"));
            }
        }
        if let Some(t) = &s.tcp_info {
            super::inspector::tcp_info_ui(ui, ("sys", s.cookie), Some(t), &self.history);
        }
    }
}
