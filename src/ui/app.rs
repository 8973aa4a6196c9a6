//! The app: owns the engine, the log store, the session model and the
//! panels; drains engine events under a time budget and applies what the
//! panels ask for after drawing them.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};

use crate::engine::log::{Ingested, LogBudget, LogStore};
use crate::engine::protocol::{CloseReason, Command, Event, EventKind, Kind};
use crate::engine::start::StartQueue;
use crate::engine::{Engine, EngineConfig, SessionId, SessionSpec};

use super::composer::{Composer, ComposerAction};
use super::form::{FormAction, OpenForm};
use super::i18n::{self, Lang};
use super::inspector::{Inspector, InspectorAction};
use super::labels as L;
use super::log_view::{LogAction, LogView, Scope};
use super::model::Model;
use super::presets::{PresetAction, PresetsPanel};
use super::sessions::{ListAction, SessionList};
use super::stepper_panel::{StepAction, StepperPanel};
use super::store_worker::{StoreClient, StoreReply, StoreRequest};
use crate::preset::{self, LayoutFile, WorkspaceFile};
use crate::store::Store;
use crate::t;

/// Time spent draining engine events per frame before yielding.
const EVENT_BUDGET: Duration = Duration::from_millis(10);

/// The keyboard's shortcuts, as the Shortcuts window lists them (keys
/// and the catalogue key of what they do).
pub const SHORTCUTS: &[(&str, L::Key)] = &[
    ("Enter", L::Key("shortcut-send")),
    ("Enter", L::Key("shortcut-open")),
    ("Ctrl+E", L::Key("shortcut-payload")),
    ("Ctrl+L", L::Key("shortcut-clear")),
    ("Ctrl+P", L::Key("shortcut-pause")),
    ("Esc", L::Key("shortcut-cancel")),
    ("Ctrl+Q", L::Key("shortcut-quit")),
    ("F1", L::Key("shortcut-help")),
];

/// How often the selected TCP connection's TCP_INFO is read.
const TCP_INFO_EVERY: Duration = Duration::from_millis(250);

/// The side panels' first widths, before the user drags them.
const LEFT_WIDTH: f32 = 300.0;
const RIGHT_WIDTH: f32 = 280.0;
/// Narrowest a side panel is restored to.
const MIN_PANEL: f32 = 160.0;

/// How long a message stays on the status line.
const STATUS_TTL: Duration = Duration::from_secs(12);
/// Past messages kept for the Messages list.
const MESSAGES_KEPT: usize = 200;

/// The Sockscope window.
pub struct App {
    engine: Engine,
    store: LogStore,
    model: Model,
    form: OpenForm,
    list: SessionList,
    log: LogView,
    composer: Composer,
    /// A capture to a file in progress.
    capture: Option<super::capture::Capture>,
    selected: Option<SessionId>,
    /// The latest message (text, is an error, when it came); it expires.
    status: Option<(String, bool, Instant)>,
    /// Past messages, newest last, kept for the Messages list.
    messages: std::collections::VecDeque<(std::time::SystemTime, String, bool)>,
    show_messages: bool,
    show_shortcuts: bool,
    /// Light, dark or the system's; saved with the workspace.
    theme: preset::ThemeFile,
    /// English, Chinese or the system locale's; saved with the workspace.
    language: preset::LanguageFile,
    /// The language the system's locale asks for (read once at start).
    system_lang: Lang,
    /// Text size; saved with the workspace.
    text_size: preset::TextSizeFile,
    /// The side panels' widths as last drawn (left, right), saved with the
    /// workspace.
    panel_widths: [f32; 2],
    /// Widths from a workspace, applied on the next frame.
    pending_panels: Option<[Option<f32>; 2]>,
    /// When TCP_INFO was last asked for.
    tcp_info_at: Instant,
    /// What was last applied to the context (set only on a change).
    applied_look: Option<(preset::ThemeFile, preset::TextSizeFile)>,
    /// How long a message stays on the status line.
    status_ttl: Duration,
    /// An export's outcome in words, and whether it failed.
    export_tx: Sender<(String, bool)>,
    export_rx: Receiver<(String, bool)>,
    /// Open the form section on the next frame (after Duplicate).
    show_form: bool,
    /// Sessions given at start, opened in order as each gets ready.
    start: StartQueue,
    presets: PresetsPanel,
    config: Option<Store>,
    store_client: Option<StoreClient>,
    /// A layout from the last workspace, applied once its sessions are open.
    pending_layout: Option<LayoutFile>,
    stepper: StepperPanel,
    steppers_opened: u32,
    inspector: Inspector,
    /// Quitting with live sessions waits for a yes: these would close.
    confirm_quit: Option<Vec<SessionId>>,
    /// The user said yes (or nothing was open): the next close goes ahead.
    quit_confirmed: bool,
    /// Our sessions, or every socket on the machine.
    main_view: MainView,
    system: super::system_view::SystemView,
}

/// What fills the window below the top bar.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum MainView {
    /// Our sessions: the form, the list, the log, the inspector.
    #[default]
    Sessions,
    /// Every socket on the machine.
    System,
}

/// Installs egui's fonts plus a CJK fallback, so `你好` renders as glyphs,
/// and DejaVu's symbols (a subset: Latin-1 signs, punctuation, ℃ and the
/// letterlike block, arrows, math, box drawing, blocks, shapes, dingbats),
/// so `℃ ± → ✓ ┌─┐` render in both proportional and monospace text.
pub fn install_fonts(ctx: &egui::Context) {
    let mut fonts = egui::FontDefinitions::default();
    for (name, bytes) in [
        (
            "droid-sans-fallback",
            &include_bytes!("../../assets/fonts/DroidSansFallback.ttf")[..],
        ),
        (
            "dejavu-symbols",
            &include_bytes!("../../assets/fonts/DejaVuSans-Symbols.ttf")[..],
        ),
        (
            "dejavu-mono-symbols",
            &include_bytes!("../../assets/fonts/DejaVuSansMono-Symbols.ttf")[..],
        ),
    ] {
        fonts
            .font_data
            .insert(name.into(), Arc::new(egui::FontData::from_static(bytes)));
    }
    // Symbols right after each family's main font, so they look like text
    // (not like the emoji fonts that follow); CJK last.
    // (DejaVu Sans Mono lacks a few, such as ℃: Sans fills in for them.)
    for (family, symbols) in [
        (egui::FontFamily::Proportional, &["dejavu-symbols"][..]),
        (
            egui::FontFamily::Monospace,
            &["dejavu-mono-symbols", "dejavu-symbols"][..],
        ),
    ] {
        let list = fonts.families.entry(family).or_default();
        let at = list.len().min(1);
        for (i, s) in symbols.iter().enumerate() {
            list.insert(at + i, (*s).into());
        }
        list.push("droid-sans-fallback".into());
    }
    ctx.set_fonts(fonts);
}

impl App {
    /// Builds the app; events wake `ctx` so an idle app does not repaint.
    /// Presets and the last workspace live in `store` (None: nothing is
    /// read or saved).
    pub fn new(ctx: &egui::Context, open: Vec<SessionSpec>, store: Option<Store>) -> App {
        install_fonts(ctx);
        let waker_ctx = ctx.clone();
        let engine = Engine::new(
            EngineConfig::default(),
            Some(Arc::new(move || waker_ctx.request_repaint())),
        );
        let (export_tx, export_rx) = crossbeam_channel::bounded(16);
        let mut log = LogView::default();
        log.start_wall = engine.started().1;
        let mut app = App {
            engine,
            store: LogStore::new(LogBudget::default()),
            model: Model::default(),
            form: OpenForm::default(),
            list: SessionList::default(),
            log,
            composer: Composer::default(),
            capture: None,
            selected: None,
            status: None,
            messages: std::collections::VecDeque::new(),
            show_messages: false,
            show_shortcuts: false,
            theme: preset::ThemeFile::System,
            language: preset::LanguageFile::System,
            system_lang: Lang::from_env(),
            text_size: preset::TextSizeFile::Normal,
            panel_widths: [LEFT_WIDTH, RIGHT_WIDTH],
            pending_panels: None,
            tcp_info_at: Instant::now(),
            applied_look: None,
            status_ttl: STATUS_TTL,
            export_tx,
            export_rx,
            show_form: false,
            start: StartQueue::new(open),
            presets: PresetsPanel::default(),
            store_client: None,
            config: store,
            pending_layout: None,
            stepper: StepperPanel::default(),
            steppers_opened: 0,
            inspector: Inspector::default(),
            confirm_quit: None,
            quit_confirmed: false,
            main_view: MainView::Sessions,
            system: Default::default(),
        };
        // Set before the first frame: whatever this thread words from now
        // on (a test's labels included) is in the app's language.
        i18n::set(app.lang());
        if let Some(store) = app.config.clone() {
            let waker_ctx = ctx.clone();
            match StoreClient::spawn(store, Arc::new(move || waker_ctx.request_repaint())) {
                Ok(client) => {
                    client.ask(StoreRequest::List);
                    client.ask(StoreRequest::LoadWorkspace);
                    app.store_client = Some(client);
                    app.presets.has_store = true;
                }
                Err(e) => app.error(t!("store-cannot-start", why = e.to_string())),
            }
        }
        app.open_queued(ctx);
        app
    }

    /// The presets panel (tests look at it).
    pub fn presets(&self) -> &PresetsPanel {
        &self.presets
    }

    /// The workspace as it stands: open sessions, the reopen choice, the layout.
    pub fn workspace(&self) -> WorkspaceFile {
        let open = self.model.open_sessions();
        let sessions: Vec<_> = open
            .iter()
            .filter_map(|id| self.model.get(*id).and_then(|i| i.spec.as_ref()))
            .map(preset::from_spec)
            .collect();
        WorkspaceFile {
            version: preset::FORMAT_VERSION,
            sessions,
            reopen: self.presets.reopen_next_time,
            layout: LayoutFile {
                selected: self
                    .selected
                    .and_then(|s| open.iter().position(|id| id.session == s.session)),
                hex: self.log.hex,
                wall_clock: self.log.wall,
                follow: self.log.follow,
                theme: self.theme,
                language: self.language,
                text_size: self.text_size,
                left_panel: Some(self.panel_widths[0].round()),
                right_panel: Some(self.panel_widths[1].round()),
            },
        }
    }

    /// Writes the workspace now (the app calls it on exit).
    pub fn save_workspace(&mut self) {
        let Some(store) = &self.config else { return };
        let ws = self.workspace();
        match store.save_workspace(&ws) {
            Ok(saved) => {
                if let Some(a) = saved.moved_aside {
                    self.error(t!("workspace-kept-aside", path = a.display().to_string()));
                }
            }
            Err(e) => self.error(t!("workspace-cannot-save", why = e.to_string())),
        }
    }

    fn on_store_reply(&mut self, r: StoreReply) {
        match r {
            StoreReply::Listed(list) => self.presets.user = list,
            StoreReply::NameTaken(spec) => {
                self.info(t!("preset-name-taken", name = spec.name.clone()));
                self.presets.pending_replace = Some(spec);
            }
            StoreReply::Deleted { name, bytes } => {
                self.info(t!("preset-deleted", name = name.clone()));
                self.presets.last_deleted = Some((name, bytes));
            }
            StoreReply::Workspace(Ok(Some(ws))) => {
                self.presets.reopen_next_time = ws.reopen;
                // The look is the user's, whether or not sessions reopen.
                self.theme = ws.layout.theme;
                self.language = ws.layout.language;
                self.text_size = ws.layout.text_size;
                self.pending_panels = Some([ws.layout.left_panel, ws.layout.right_panel]);
                let specs: Vec<SessionSpec> = ws
                    .sessions
                    .into_iter()
                    .filter_map(|f| preset::to_spec(f).ok())
                    .collect();
                if ws.reopen {
                    self.pending_layout = Some(ws.layout);
                    self.start.extend(specs);
                } else {
                    self.presets.last_workspace = specs;
                }
            }
            StoreReply::Workspace(Ok(None)) => {}
            StoreReply::Workspace(Err(e)) => {
                self.error(t!("workspace-does-not-load", why = e.to_string()))
            }
            StoreReply::Done(msg) => self.info(msg),
            StoreReply::Failed(msg) => self.error(msg),
        }
    }

    fn ask_store(&mut self, req: StoreRequest) {
        match &self.store_client {
            Some(c) => {
                if !c.ask(req) {
                    self.error(t!("store-busy"));
                }
            }
            None => self.error(t!("store-none")),
        }
    }

    fn open_stepper(&mut self, calls: Vec<crate::engine::stepper::Call>) {
        self.steppers_opened += 1;
        let spec = SessionSpec::new(
            t!("stepper-name", n = self.steppers_opened),
            crate::engine::spec::SessionKind::Script {
                calls,
                keep_open: true,
            },
        );
        self.open(spec);
    }

    fn apply_step(&mut self, ctx: &egui::Context, a: StepAction) {
        match a {
            StepAction::Call(target, call) => {
                self.model.call_sent(target);
                self.command(Command::Step {
                    target,
                    call: *call,
                });
            }
            StepAction::Cancel(target) => self.engine.cancel(target),
            StepAction::Replay(calls) => self.open_stepper(calls),
            StepAction::Copy(code) => {
                ctx.copy_text(code);
                self.info(t!("copied-program"));
            }
        }
    }

    fn apply_preset(&mut self, a: PresetAction) {
        match a {
            PresetAction::Open(specs) => self.start.extend(specs),
            PresetAction::Store(req) => self.ask_store(req),
        }
    }

    fn open_queued(&mut self, ctx: &egui::Context) {
        while let Some(r) = self.start.poll(&mut self.engine) {
            match r {
                Ok((id, spec)) => {
                    self.model.opened(id, spec);
                    self.select(id);
                }
                Err((e, spec)) => self.error(t!(
                    "cannot-open",
                    name = spec.name.clone(),
                    why = e.to_string()
                )),
            }
        }
        if let Some(t) = self.start.deadline() {
            ctx.request_repaint_after(t.saturating_duration_since(Instant::now()));
        }
    }

    /// The session model (tests look at it).
    pub fn model(&self) -> &Model {
        &self.model
    }

    /// The selected session or child.
    pub fn selected(&self) -> Option<SessionId> {
        self.selected
    }

    /// Rows in the log view.
    pub fn log_rows(&self) -> usize {
        self.log.row_count()
    }

    /// Rows in the log view that carry data (not lifecycle rows).
    pub fn log_data_rows(&self) -> usize {
        self.log.data_row_count(&self.store)
    }

    /// Entries and memory held by the log store.
    pub fn log_size(&self) -> (usize, usize) {
        self.store.size()
    }

    /// The status line text.
    pub fn status(&self) -> Option<&str> {
        self.status
            .as_ref()
            .filter(|(_, _, at)| at.elapsed() < self.status_ttl)
            .map(|(s, _, _)| s.as_str())
    }

    /// The form as filled in.
    pub fn form(&self) -> &OpenForm {
        &self.form
    }

    /// The composer as filled in.
    pub fn composer(&self) -> &Composer {
        &self.composer
    }

    /// Theme and text size, applied when they change.
    fn apply_look(&mut self, ctx: &egui::Context) {
        let look = (self.theme, self.text_size);
        if self.applied_look == Some(look) {
            return;
        }
        self.applied_look = Some(look);
        ctx.set_theme(match self.theme {
            preset::ThemeFile::System => egui::ThemePreference::System,
            preset::ThemeFile::Light => egui::ThemePreference::Light,
            preset::ThemeFile::Dark => egui::ThemePreference::Dark,
        });
        ctx.set_zoom_factor(self.text_size.zoom());
    }

    /// The language chosen (System: the locale's).
    pub fn language(&self) -> preset::LanguageFile {
        self.language
    }

    /// Switches the language; the next frame is drawn in it.
    pub fn set_language(&mut self, language: preset::LanguageFile) {
        self.language = language;
        i18n::set(self.lang());
    }

    /// The language the app speaks now.
    pub fn lang(&self) -> Lang {
        match self.language {
            preset::LanguageFile::System => self.system_lang,
            preset::LanguageFile::English => Lang::En,
            preset::LanguageFile::Chinese => Lang::Zh,
        }
    }

    /// The theme and text size chosen.
    pub fn look(&self) -> (preset::ThemeFile, preset::TextSizeFile) {
        (self.theme, self.text_size)
    }

    /// The keyboard's shortcuts (listed in SHORTCUTS and the README).
    fn shortcuts(&mut self, ctx: &egui::Context) {
        use egui::{Key, Modifiers};
        let (clear, pause, focus, help) = ctx.input_mut(|i| {
            (
                i.consume_key(Modifiers::COMMAND, Key::L),
                i.consume_key(Modifiers::COMMAND, Key::P),
                i.consume_key(Modifiers::COMMAND, Key::E),
                i.consume_key(Modifiers::NONE, Key::F1),
            )
        });
        if clear {
            let top = self.selected.map(|s| s.session);
            self.apply_log(ctx, LogAction::Clear(top));
            self.info(t!("log-cleared"));
        }
        if pause {
            self.log.set_paused(!self.log.paused);
        }
        if focus {
            self.composer.focus_payload = true;
        }
        if help {
            self.show_shortcuts = !self.show_shortcuts;
        }
        // Esc cancels a blocking step-mode call, only while one runs (it
        // still closes menus otherwise).
        if let Some(id) = self.selected
            && self
                .model
                .get(id)
                .is_some_and(|i| i.kind == Kind::Script && i.pending_calls > 0)
            && ctx.input_mut(|i| i.consume_key(Modifiers::NONE, Key::Escape))
        {
            self.engine.cancel(id);
            self.info(t!("call-cancelled"));
        }
    }

    /// Whether the user confirmed quitting (tests look at it).
    pub fn quitting(&self) -> bool {
        self.quit_confirmed
    }

    /// Ctrl+Q and the window's close button: with live sessions, say what
    /// will close and ask; with none, quit.
    fn quit_requests(&mut self, ctx: &egui::Context) {
        let key = ctx.input_mut(|i| i.consume_key(egui::Modifiers::COMMAND, egui::Key::Q));
        let window = ctx.input(|i| i.viewport().close_requested());
        if !(key || window) || self.quit_confirmed {
            return;
        }
        let live = self.model.open_sessions();
        if live.is_empty() {
            self.quit_confirmed = true;
            if key {
                ctx.send_viewport_cmd(egui::ViewportCommand::Close);
            }
            return;
        }
        if window {
            ctx.send_viewport_cmd(egui::ViewportCommand::CancelClose);
        }
        self.confirm_quit = Some(live);
    }

    fn quit_dialog(&mut self, ctx: &egui::Context) {
        let Some(live) = &self.confirm_quit else {
            return;
        };
        let mut answer = None;
        let names: Vec<String> = live
            .iter()
            .filter_map(|id| self.model.get(*id))
            .map(|i| format!("{} {} ({})", i.id, i.name, i.state.label()))
            .collect();
        let children: usize = live
            .iter()
            .filter_map(|id| self.model.get(*id))
            .map(|i| {
                i.children
                    .iter()
                    .filter(|c| self.model.get(**c).is_some_and(|c| !c.state.is_closed()))
                    .count()
            })
            .sum();
        egui::Modal::new(egui::Id::unique("quit-dialog")).show(ctx, |ui| {
            ui.heading(L::QUIT_TITLE);
            ui.label(t!("quit-open", sessions = names.len(), children = children));
            for n in names.iter().take(12) {
                ui.monospace(n);
            }
            if names.len() > 12 {
                ui.weak(t!("quit-more", n = names.len() - 12));
            }
            ui.horizontal(|ui| {
                if ui.button(L::QUIT_AND_CLOSE).clicked() {
                    answer = Some(true);
                }
                if ui.button(L::CANCEL_QUIT).clicked() {
                    answer = Some(false);
                }
            });
        });
        match answer {
            Some(true) => {
                self.confirm_quit = None;
                self.quit_confirmed = true;
                self.engine.close_all();
                ctx.send_viewport_cmd(egui::ViewportCommand::Close);
            }
            Some(false) => self.confirm_quit = None,
            None => {}
        }
    }

    /// Opens a session and selects it.
    pub fn open(&mut self, spec: SessionSpec) {
        match self.engine.open(spec.clone()) {
            Ok(id) => {
                self.model.opened(id, spec);
                self.select(id);
            }
            Err(e) => self.error(e.to_string()),
        }
    }

    fn select(&mut self, id: SessionId) {
        self.selected = Some(id);
        self.log.scope = Scope::Session(id.session);
    }

    /// Asks for the selected TCP connection's TCP_INFO (or a serial
    /// port's modem lines) a few times a second while the inspector shows
    /// it.
    fn poll_tcp_info(&mut self, ctx: &egui::Context) {
        let Some(id) = self.selected else { return };
        let Some(info) = self.model.get(id) else {
            return;
        };
        let top_kind = self.model.get(SessionId::top(id.session)).map(|i| i.kind);
        let tcp = self.model.is_tcp_connection(id);
        // A serial port's modem lines are polled the same way, unless the
        // device said it has none.
        let serial = top_kind == Some(Kind::Serial) && !matches!(info.modem, Some(Err(_)));
        if !(tcp || serial) || info.state.is_closed() || info.peer.is_none() {
            return;
        }
        let now = Instant::now();
        if now.duration_since(self.tcp_info_at) >= TCP_INFO_EVERY {
            self.tcp_info_at = now;
            self.command(if serial {
                Command::ReadModem { target: id }
            } else {
                Command::TcpInfo { target: id }
            });
        }
        ctx.request_repaint_after(TCP_INFO_EVERY);
    }

    /// Puts a message on the status line and in the Messages list.
    fn say(&mut self, msg: String, error: bool) {
        self.messages
            .push_back((std::time::SystemTime::now(), msg.clone(), error));
        while self.messages.len() > MESSAGES_KEPT {
            self.messages.pop_front();
        }
        self.status = Some((msg, error, Instant::now()));
    }

    /// How long messages stay on the status line (tests shorten it).
    pub fn set_status_ttl(&mut self, ttl: Duration) {
        self.status_ttl = ttl;
    }

    fn info(&mut self, msg: impl Into<String>) {
        self.say(msg.into(), false);
    }

    fn error(&mut self, msg: impl Into<String>) {
        self.say(msg.into(), true);
    }

    fn command(&mut self, cmd: Command) {
        if let Err(e) = self.engine.send(cmd) {
            self.error(e.to_string());
        }
    }

    /// Takes in one event as if the engine had sent it (benchmarks feed
    /// synthetic floods through here; the app's own events take the same path).
    pub fn feed_event(&mut self, ev: Event) {
        self.on_event(ev);
    }

    fn on_event(&mut self, ev: Event) {
        self.start.observe(&ev);
        self.model.apply(&ev);
        if let Some(c) = &mut self.capture {
            let top = SessionId::top(ev.session.session);
            let enc = self.model.get(top).map(|i| i.encoding).unwrap_or_default();
            let model = &self.model;
            c.offer(&ev, enc, || {
                super::log_view::session_name(model, ev.session)
            });
        }
        let ev = match self.store.ingest(ev) {
            Ingested::Logged { top, abs } => {
                self.log.on_logged(&self.store, &self.model, top, abs);
                return;
            }
            Ingested::Noted { top, abs, ev } => {
                self.log.on_logged(&self.store, &self.model, top, abs);
                ev
            }
            Ingested::Other(ev) => ev,
        };
        {
            match &ev.kind {
                EventKind::Error(e) | EventKind::ConnectFailed(e) => {
                    self.error(t!(
                        "session-said",
                        id = ev.session.to_string(),
                        what = i18n::op_error(e)
                    ));
                }
                EventKind::ErrorRepeated { error, times } => {
                    self.error(t!(
                        "session-error-repeated",
                        id = ev.session.to_string(),
                        what = i18n::op_error(error),
                        times = *times
                    ));
                }
                EventKind::Warning { message, .. } => {
                    self.info(t!(
                        "session-said",
                        id = ev.session.to_string(),
                        what = i18n::engine_text(message).into_owned()
                    ));
                }
                EventKind::Closed {
                    reason: reason @ (CloseReason::Error(_) | CloseReason::Panicked(_)),
                    ..
                } => self.error(t!(
                    "session-ended",
                    id = ev.session.to_string(),
                    reason = i18n::close_reason(reason)
                )),
                EventKind::Timeout { op, after } => self.info(t!(
                    "session-timed-out",
                    id = ev.session.to_string(),
                    op = *op,
                    secs = format!("{:.3}", after.as_secs_f64())
                )),
                _ => {}
            }
        }
    }

    /// Drains engine events under a time budget; asks for another frame if
    /// more are waiting. Never blocks.
    pub fn logic(&mut self, ctx: &egui::Context) {
        i18n::set(self.lang());
        let start = Instant::now();
        let mut n = 0u32;
        while let Ok(ev) = self.engine.events().try_recv() {
            self.on_event(ev);
            n += 1;
            if n.is_multiple_of(64) && start.elapsed() >= EVENT_BUDGET {
                ctx.request_repaint();
                break;
            }
        }
        self.engine.reap();
        self.open_queued(ctx);
        let replies = self
            .store_client
            .as_ref()
            .map(StoreClient::replies)
            .unwrap_or_default();
        for r in replies {
            self.on_store_reply(r);
        }
        if self.start.is_empty()
            && let Some(layout) = self.pending_layout.take()
        {
            self.log.hex = layout.hex;
            self.log.wall = layout.wall_clock;
            self.log.follow = layout.follow;
            let open = self.model.open_sessions();
            if let Some(id) = layout.selected.and_then(|i| open.get(i).copied()) {
                self.select(id);
            }
        }
        // A capture that failed (a name taken, a full disk) says so once
        // and stops.
        if let Some(e) = self.capture.as_ref().and_then(|c| c.status().error) {
            self.capture = None;
            self.error(t!("capture-stopped-error", why = e));
        }
        while let Ok((msg, failed)) = self.export_rx.try_recv() {
            self.say(msg, failed);
        }
        self.poll_tcp_info(ctx);
        let model = &self.model;
        let live = |id| model.get(id).is_some_and(|i| !i.state.is_closed());
        for a in self.composer.tick(ctx, live) {
            self.apply_composer(a);
        }
    }

    fn apply_composer(&mut self, a: ComposerAction) {
        match a {
            ComposerAction::Send {
                target,
                data,
                mode,
                to,
            } => self.command(Command::Send {
                target,
                data,
                mode,
                to,
            }),
            ComposerAction::Message { target, kind, data } => {
                self.command(Command::Message { target, kind, data })
            }
            ComposerAction::SendAll { server, data } => {
                self.command(Command::SendToChildren { server, data })
            }
            ComposerAction::Shutdown(target) => self.command(Command::ShutdownWrite { target }),
            ComposerAction::Close(target) => self.command(Command::Close { target }),
            ComposerAction::Abort(target) => self.command(Command::Abort { target }),
            ComposerAction::SaveSnippet { session, snippet } => {
                let name = snippet.name.clone();
                if self.model.add_snippet(session, snippet) {
                    self.info(t!("snippet-kept", name = name));
                } else {
                    self.error(t!("snippet-cannot-keep"));
                }
            }
            ComposerAction::EditSnippet { session, edit } => {
                if let Err(e) = self.model.edit_snippet(session, &edit) {
                    self.error(e);
                }
            }
            ComposerAction::Status(s) => self.info(s),
        }
    }

    fn apply_system(&mut self, ctx: &egui::Context, a: super::system_view::SystemAction) {
        use super::system_view::SystemAction;
        match a {
            SystemAction::ToForm(spec) => {
                self.form.load(&spec);
                self.show_form = true;
                self.main_view = MainView::Sessions;
                self.info(t!("sys-to-form", name = spec.name.clone()));
            }
            SystemAction::Copy(text) => {
                ctx.copy_text(text.clone());
                self.info(t!("sys-copied-ss", cmd = text));
            }
            SystemAction::Say(text, true) => self.error(text),
            SystemAction::Say(text, false) => self.info(text),
        }
    }

    /// The view shown below the top bar.
    pub fn main_view(&self) -> MainView {
        self.main_view
    }

    /// The System sockets view (tests read what it shows).
    pub fn system_view(&self) -> &super::system_view::SystemView {
        &self.system
    }

    /// The System sockets view, to set its filter as typing would.
    pub fn system_view_mut(&mut self) -> &mut super::system_view::SystemView {
        &mut self.system
    }

    fn apply_list(&mut self, a: ListAction) {
        match a {
            ListAction::Select(id) => self.select(id),
            ListAction::Close(target) => self.command(Command::Close { target }),
            ListAction::CloseAll => self.engine.close_all(),
            ListAction::Reopen(id) => {
                if let Some(spec) = self.model.get(id).and_then(|i| i.spec.clone()) {
                    self.open(spec);
                }
            }
            ListAction::Duplicate(id) => {
                if let Some(spec) = self.model.get(id).and_then(|i| i.spec.clone()) {
                    self.form.load(&spec);
                    self.show_form = true;
                    self.info(t!("form-holds-copy"));
                }
            }
            ListAction::Forget(id) => {
                self.model.remove(id);
                self.store.forget(id.session);
                if self.selected.is_some_and(|s| s.session == id.session) {
                    self.selected = None;
                    self.log.scope = Scope::All;
                }
                self.log.rebuild(&self.store, &self.model);
            }
        }
    }

    fn apply_log(&mut self, ctx: &egui::Context, a: LogAction) {
        match a {
            LogAction::Copy(text) => ctx.copy_text(text),
            LogAction::Clear(Some(top)) => {
                self.store.clear(top);
                self.log.rebuild(&self.store, &self.model);
            }
            LogAction::Clear(None) => {
                for t in self.store.tops() {
                    self.store.clear(t);
                }
                self.log.rebuild(&self.store, &self.model);
            }
            LogAction::Status(s) => self.info(s),
            LogAction::Resend { target, data, to } => {
                // A datagram goes back to the peer its row names; a stream
                // has one peer.
                let dgram = self.model.get(target).is_some_and(|i| i.kind.is_datagram());
                let to = to.filter(|_| dgram).map(|a| a.to_string());
                let n = data.len();
                self.command(Command::Send {
                    target,
                    data,
                    mode: crate::engine::protocol::SendMode::All,
                    to,
                });
                self.info(t!("resent", n = n, id = target.to_string()));
            }
            LogAction::Capture(super::capture::CaptureAction::Start(spec)) => {
                match super::capture::Capture::start(spec) {
                    Ok(c) => {
                        let what = match c.spec().session {
                            Some(s) => t!("capture-session", id = s.to_string()),
                            None => t!("capture-every-session").into(),
                        };
                        self.info(t!(
                            "capturing",
                            format = c.spec().format.name(),
                            what = what,
                            path = c.spec().path.display().to_string()
                        ));
                        self.capture = Some(c);
                    }
                    Err(e) => self.error(e),
                }
            }
            LogAction::Capture(super::capture::CaptureAction::Stop) => {
                if let Some(c) = self.capture.take() {
                    let st = c.status();
                    let dropped = if st.dropped > 0 {
                        t!("capture-dropped", n = st.dropped.to_string())
                    } else {
                        String::new()
                    };
                    self.info(t!(
                        "capture-stopped",
                        bytes = st.written.to_string(),
                        files = st.files,
                        dropped = dropped
                    ));
                }
            }
            LogAction::SetEncoding(top, enc) => {
                let old = self.model.set_encoding(top, enc);
                // The composer follows the session's encoding unless the
                // user picked another for it.
                if old.is_some_and(|o| o.name() == self.composer.encoding) {
                    self.composer.encoding = enc.name().to_string();
                }
                self.log.rebuild(&self.store, &self.model);
                self.info(t!("shown-as", id = top.to_string(), encoding = enc.name()));
            }
        }
    }

    /// Draws one frame.
    pub fn ui(&mut self, ui: &mut egui::Ui) {
        // Everything drawn (and every message worded) from here on is in
        // the chosen language; a switch in the View menu shows next frame.
        i18n::set(self.lang());
        let ctx = ui.ctx().clone();
        self.quit_requests(&ctx);
        self.shortcuts(&ctx);
        self.apply_look(&ctx);
        // A singleline field gives up focus on Enter; which one had it
        // decides whether Enter opens the form.
        let focused_before = ctx.memory(|m| m.focused());
        let enter = ctx.input(|i| i.key_pressed(egui::Key::Enter));
        egui::Panel::top("status").show(ui, |ui| {
            ui.horizontal(|ui| {
                ui.strong("Sockscope");
                ui.separator();
                // The two views first, where a click never moves them.
                ui.selectable_value(&mut self.main_view, MainView::Sessions, L::VIEW_SESSIONS);
                ui.selectable_value(&mut self.main_view, MainView::System, L::VIEW_SYSTEM);
                ui.separator();
                // The list button first, so a long message cannot push it
                // out of reach.
                ui.menu_button(L::VIEW, |ui| {
                    ui.label(L::LANGUAGE);
                    ui.horizontal(|ui| {
                        let system = t!("language-system", name = self.system_lang.native_name());
                        ui.selectable_value(
                            &mut self.language,
                            preset::LanguageFile::System,
                            system,
                        );
                        for (l, lang) in [
                            (preset::LanguageFile::English, Lang::En),
                            (preset::LanguageFile::Chinese, Lang::Zh),
                        ] {
                            ui.selectable_value(&mut self.language, l, lang.native_name());
                        }
                    });
                    ui.label(t!("theme"));
                    ui.horizontal(|ui| {
                        for (t, name) in [
                            (preset::ThemeFile::System, t!("theme-system")),
                            (preset::ThemeFile::Light, t!("theme-light")),
                            (preset::ThemeFile::Dark, t!("theme-dark")),
                        ] {
                            ui.selectable_value(&mut self.theme, t, name);
                        }
                    });
                    ui.label(t!("text-size"));
                    ui.horizontal(|ui| {
                        for (t, name) in [
                            (preset::TextSizeFile::Small, "90%"),
                            (preset::TextSizeFile::Normal, "100%"),
                            (preset::TextSizeFile::Large, "120%"),
                            (preset::TextSizeFile::Larger, "140%"),
                        ] {
                            ui.selectable_value(&mut self.text_size, t, name);
                        }
                    });
                });
                if ui.button(L::SHORTCUTS).clicked() {
                    self.show_shortcuts = !self.show_shortcuts;
                }
                let label = t!("messages-n", n = self.messages.len());
                if ui
                    .add_enabled(!self.messages.is_empty(), egui::Button::new(label))
                    .clicked()
                {
                    self.show_messages = !self.show_messages;
                }
                // A message expires: a stale error must not sit there long
                // after the sessions are fine. Past ones are in the list.
                let current = self
                    .status
                    .as_ref()
                    .filter(|(_, _, at)| at.elapsed() < self.status_ttl);
                match current {
                    Some((s, true, _)) => {
                        let text = egui::RichText::new(s).color(ui.visuals().error_fg_color);
                        ui.add(egui::Label::new(text).truncate()).on_hover_text(s);
                    }
                    Some((s, false, _)) => {
                        ui.add(egui::Label::new(s).truncate()).on_hover_text(s);
                    }
                    None => {
                        ui.weak(t!("status-idle"));
                    }
                }
                if let Some((_, _, at)) = &self.status {
                    let left = self.status_ttl.saturating_sub(at.elapsed());
                    if !left.is_zero() {
                        ctx.request_repaint_after(left);
                    }
                }
            });
        });
        if self.show_shortcuts {
            let mut open = true;
            egui::Window::new(L::SHORTCUTS)
                .open(&mut open)
                .show(&ctx, |ui| {
                    egui::Grid::new("shortcuts-grid").show(ui, |ui| {
                        for (keys, what) in SHORTCUTS {
                            ui.monospace(*keys);
                            ui.label(*what);
                            ui.end_row();
                        }
                    });
                });
            self.show_shortcuts = open;
        }
        if self.show_messages {
            let mut open = true;
            egui::Window::new(L::MESSAGES)
                .open(&mut open)
                .default_width(520.0)
                .show(&ctx, |ui| {
                    egui::ScrollArea::vertical()
                        .max_height(320.0)
                        .stick_to_bottom(true)
                        .show(ui, |ui| {
                            for (at, text, error) in &self.messages {
                                let when = super::log_view::fmt_wall(*at);
                                let t = format!("{when}  {text}");
                                let t = if *error {
                                    egui::RichText::new(t).color(ui.visuals().error_fg_color)
                                } else {
                                    egui::RichText::new(t)
                                };
                                ui.add(egui::Label::new(t).wrap());
                            }
                        });
                });
            self.show_messages = open;
        }
        if self.main_view == MainView::System {
            let actions = self.system.ui(ui);
            self.quit_dialog(&ctx);
            for a in actions {
                self.apply_system(&ctx, a);
            }
            return;
        }
        // Hidden, the view's refresher stops; what it showed stays.
        self.system.hide();
        let mut list_actions = Vec::new();
        let mut preset_actions = Vec::new();
        let mut new_stepper = false;
        let mut step_actions = Vec::new();
        let mut form_action = None;
        // Side panels leave the log at least half the window; a width from
        // the workspace is taken for one frame, then the user drags it.
        let width = ctx.content_rect().width();
        let pending = self.pending_panels.take();
        let saved = |i: usize, max: f32| {
            pending
                .and_then(|p| p[i])
                .filter(|w| w.is_finite())
                .map(|w| w.clamp(MIN_PANEL, max))
        };
        let left_max = (width * 0.32).max(260.0);
        let mut left = egui::Panel::left("left")
            .resizable(true)
            .default_size(LEFT_WIDTH)
            .max_size(left_max);
        if let Some(w) = saved(0, left_max) {
            left = left.exact_size(w);
        }
        let left = left.show(ui, |ui| {
            let mut header = egui::CollapsingHeader::new(L::NEW_SESSION).default_open(true);
            if std::mem::take(&mut self.show_form) {
                header = header.open(Some(true));
            }
            let form = header.show(ui, |ui| {
                let fields = egui::ScrollArea::vertical()
                    .id_salt("form-scroll")
                    .max_height(ui.available_height() * 0.6)
                    .show(ui, |ui| self.form.fields_ui(ui));
                form_action = self.form.open_ui(ui);
                fields.inner_rect
            });
            // Enter in one of the form's fields opens, as the button.
            // (A multiline field keeps the focus and its new line.)
            let gave_up_focus = ctx.memory(|m| m.focused()) != focused_before;
            if let Some(rect) = form.body_returned
                && enter
                && gave_up_focus
                && form_action.is_none()
                && focused_before
                    .and_then(|id| ctx.read_response(id))
                    .is_some_and(|r| rect.intersects(r.rect))
                && let (Some(spec), _) = self.form.validate()
            {
                form_action = Some(FormAction::Open(spec));
            }
            let current = self
                .selected
                .map(|s| SessionId::top(s.session))
                .and_then(|id| self.model.get(id))
                .and_then(|i| i.spec.as_ref());
            if ui.button(L::NEW_STEPPER).clicked() {
                new_stepper = true;
            }
            egui::CollapsingHeader::new(L::PRESETS)
                .default_open(false)
                .show(ui, |ui| {
                    // The presets take what the sessions below do not
                    // need (they keep at least half), so neither is cut
                    // with empty space under it.
                    let avail = ui.available_height();
                    let list = self.list.need().min(avail * 0.5);
                    egui::ScrollArea::vertical()
                        .id_salt("presets-scroll")
                        .max_height((avail - list - 24.0).max(avail * 0.3))
                        .show(ui, |ui| preset_actions = self.presets.ui(ui, current));
                });
            ui.separator();
            list_actions = self.list.ui(ui, &self.model, self.selected);
        });
        self.panel_widths[0] = left.response.rect.width();
        let mut composer_actions = Vec::new();
        let mut copied = false;
        let mut set_option = None;
        let mut serial_cmd = None;
        let mut reset_counters = None;
        let right_max = (width * 0.3).max(240.0);
        let mut right = egui::Panel::right("inspector")
            .resizable(true)
            .default_size(RIGHT_WIDTH)
            .max_size(right_max);
        if let Some(w) = saved(1, right_max) {
            right = right.exact_size(w);
        }
        let right = right.show(ui, |ui| {
            egui::ScrollArea::vertical()
                .id_salt("inspector-scroll")
                .show(ui, |ui| {
                    match self.selected.and_then(|id| self.model.get(id)) {
                        Some(info) => {
                            let spec = self
                                .model
                                .get(SessionId::top(info.id.session))
                                .and_then(|i| i.spec.as_ref());
                            let tcp = self.model.is_tcp_connection(info.id);
                            match self.inspector.ui(ui, info, spec, tcp) {
                                Some(InspectorAction::Copy(code)) => {
                                    ui.ctx().copy_text(code);
                                    copied = true;
                                }
                                Some(InspectorAction::SetOption(o)) => {
                                    set_option = Some((info.id, o));
                                }
                                Some(InspectorAction::ResetCounters(id)) => {
                                    reset_counters = Some(id);
                                }
                                Some(InspectorAction::SetLines { dtr, rts }) => {
                                    serial_cmd = Some(Command::SetLines {
                                        target: info.id,
                                        dtr,
                                        rts,
                                    });
                                }
                                Some(InspectorAction::Break) => {
                                    serial_cmd = Some(Command::Break { target: info.id });
                                }
                                Some(InspectorAction::Release {
                                    target,
                                    id,
                                    verdict,
                                }) => {
                                    serial_cmd = Some(Command::Release {
                                        target,
                                        id,
                                        verdict,
                                    });
                                }
                                Some(InspectorAction::SetRule { index, enabled }) => {
                                    serial_cmd = Some(Command::SetRule {
                                        target: info.id,
                                        index,
                                        enabled,
                                    });
                                }
                                None => {}
                            }
                        }
                        None => {
                            ui.weak(t!("inspector-none"));
                        }
                    }
                });
        });
        self.panel_widths[1] = right.response.rect.width();
        let stepping = self
            .selected
            .and_then(|id| self.model.get(id))
            .is_some_and(|i| i.kind == Kind::Script);
        if stepping && let Some(info) = self.selected.and_then(|id| self.model.get(id)) {
            let stepper = &mut self.stepper;
            egui::Panel::bottom("stepper")
                .resizable(true)
                .show(ui, |ui| {
                    ui.strong(L::STEP_MODE);
                    step_actions = stepper.ui(ui, info);
                });
        } else if let Some(info) = self
            .selected
            .and_then(|id| self.model.get(id))
            .filter(|i| i.kind != Kind::Burst)
        {
            let composer = &mut self.composer;
            // The composer takes at most about half the height, and
            // scrolls past that, so the log keeps rows at 1024x700.
            let max = (ctx.content_rect().height() * 0.48).max(200.0);
            egui::Panel::bottom("composer")
                .resizable(false)
                .show(ui, |ui| {
                    let snippets = self
                        .model
                        .get(SessionId::top(info.id.session))
                        .and_then(|i| i.spec.as_ref())
                        .map(|s| s.snippets.as_slice())
                        .unwrap_or(&[]);
                    // A server's live connections, for the target picker.
                    let children: Vec<(SessionId, String)> = info
                        .children
                        .iter()
                        .filter_map(|c| self.model.get(*c))
                        .filter(|c| !c.state.is_closed())
                        .map(|c| {
                            let peer = c.peer.as_ref().map(|p| p.to_string()).unwrap_or_default();
                            (c.id, format!("{} {} ({peer})", c.id, c.name))
                        })
                        .collect();
                    composer.children = children;
                    egui::ScrollArea::vertical()
                        .id_salt("composer-scroll")
                        .max_height(max)
                        // The panel grows to the content (up to `max`)
                        // instead of staying at its first, tiny height.
                        .min_scrolled_height(max)
                        .show(ui, |ui| {
                            composer_actions = composer.ui(ui, info, snippets);
                        });
                });
        }
        let mut log_actions = Vec::new();
        let mut reopen_last = false;
        egui::CentralPanel::default().show(ui, |ui| {
            // After a restart, the last workspace is offered where the eye
            // is, not only inside the collapsed Presets section.
            if self.model.sessions().is_empty() && !self.presets.last_workspace.is_empty() {
                ui.group(|ui| {
                    let names: Vec<&str> = self
                        .presets
                        .last_workspace
                        .iter()
                        .map(|s| s.name.as_str())
                        .collect();
                    ui.label(t!(
                        "last-workspace",
                        n = names.len(),
                        names = names.join(", ")
                    ));
                    if ui.button(L::REOPEN_LAST).clicked() {
                        reopen_last = true;
                    }
                });
            }
            match self.selected.and_then(|id| self.model.get(id)) {
                Some(info) if stepping => {
                    if let Some(a) = super::stepper_panel::calls_ui(ui, info) {
                        step_actions.push(a);
                    }
                }
                Some(info) if info.kind == Kind::Burst => super::burst_view::ui(ui, info),
                _ => {
                    let capture = self.capture.as_ref().map(|c| (c.spec(), c.status()));
                    log_actions =
                        self.log
                            .ui(ui, &self.store, &self.model, &self.export_tx, capture)
                }
            }
        });
        if reopen_last {
            let specs = std::mem::take(&mut self.presets.last_workspace);
            self.start.extend(specs);
        }
        self.quit_dialog(&ctx);
        if let Some(FormAction::Open(spec)) = form_action {
            self.open(spec);
        }
        for a in list_actions {
            self.apply_list(a);
        }
        for a in preset_actions {
            self.apply_preset(a);
        }
        if copied {
            self.info(t!("copied-session-program"));
        }
        if let Some(id) = reset_counters {
            self.model.reset_counters(id);
        }
        if let Some((target, option)) = set_option {
            self.command(Command::SetOption { target, option });
        }
        if let Some(c) = serial_cmd {
            self.command(c);
        }
        for a in step_actions {
            self.apply_step(&ctx, a);
        }
        if new_stepper {
            self.open_stepper(Vec::new());
        }
        // A .ron file dropped on the window is imported as presets.
        let dropped: Vec<std::path::PathBuf> = ctx.input(|i| {
            i.raw
                .dropped_files
                .iter()
                .map(|f| f.path().to_path_buf())
                .filter(|p| !p.as_os_str().is_empty())
                .collect()
        });
        for path in dropped {
            if path.extension().is_some_and(|e| e == "ron") {
                self.ask_store(StoreRequest::Import(path));
            } else {
                self.error(t!("not-a-ron", path = path.display().to_string()));
            }
        }
        for a in composer_actions {
            self.apply_composer(a);
        }
        for a in log_actions {
            self.apply_log(&ctx, a);
        }
    }
}

impl eframe::App for App {
    fn logic(&mut self, ctx: &egui::Context, _frame: &mut eframe::Frame) {
        App::logic(self, ctx);
    }

    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        App::ui(self, ui);
    }

    fn on_exit(&mut self, _gl: Option<&eframe::glow::Context>) {
        // Closing the window: a small synchronous write is fine here.
        self.save_workspace();
        // The end of a running capture goes to its file before the
        // process ends (within a few seconds, even on a slow disk).
        if let Some(c) = self.capture.take() {
            c.finish(Duration::from_secs(3));
        }
    }
}
