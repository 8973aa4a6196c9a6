//! The composer: text, hex or escaped payloads in any encoding, with a
//! preview of the exact bytes, history, repeat, file sending, and the
//! shutdown/close/abort buttons.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use crossbeam_channel::Receiver;

use crate::engine::SessionId;
use crate::engine::checksum::Trailer;
use crate::engine::codec::{self, COMMON_ENCODINGS, Encoding};
use crate::engine::protocol::{Kind, SendMode};
use crate::engine::spec::Snippet;
use crate::engine::written::{Payload, Typed};
use crate::engine::ws::Outgoing;

use super::labels as L;
use super::model::SessionInfo;
use crate::t;

/// How the payload text is read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Characters, encoded in the chosen encoding.
    Text,
    /// Hex pairs.
    Hex,
    /// Text with `\r`, `\n`, `\t`, `\0`, `\\`, `\xNN`.
    Escaped,
}

/// A line ending added to text payloads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ending {
    /// Nothing added.
    None,
    /// `\n`
    Lf,
    /// `\r\n`
    CrLf,
}

/// What the composer asks the app to do.
#[derive(Debug, PartialEq)]
pub enum ComposerAction {
    /// Send bytes.
    Send {
        /// Session or child.
        target: SessionId,
        /// Bytes.
        data: Vec<u8>,
        /// send vs sendall.
        mode: SendMode,
        /// Datagram destination.
        to: Option<String>,
    },
    /// Send to every connection of a server.
    SendAll {
        /// The server.
        server: SessionId,
        /// Bytes.
        data: Vec<u8>,
    },
    /// shutdown(SHUT_WR)
    Shutdown(SessionId),
    /// close
    Close(SessionId),
    /// close with RST
    Abort(SessionId),
    /// Keep the payload as a named snippet of the session (saved with its preset).
    SaveSnippet {
        /// The top-level session.
        session: SessionId,
        /// The snippet.
        snippet: Snippet,
    },
    /// Rename, remove or re-time one of the session's snippets.
    EditSnippet {
        /// The top-level session.
        session: SessionId,
        /// What changes.
        edit: SnippetEdit,
    },
    /// On a WebSocket: a message or control frame of a chosen kind.
    Message {
        /// Session or child.
        target: SessionId,
        /// Text, binary, ping, pong or close with a code.
        kind: Outgoing,
        /// The payload (a close: its reason).
        data: Vec<u8>,
    },
    /// Tell the user something.
    Status(String),
}

/// Largest file the composer sends (it goes through the send queue).
pub const FILE_LIMIT: u64 = crate::fsutil::SEND_FILE_MAX;
const HISTORY: usize = 50;

struct Repeat {
    target: SessionId,
    data: Vec<u8>,
    to: Option<String>,
    left: u32,
    every: Duration,
    next: Instant,
}

/// Where a send goes.
#[derive(Clone, Debug, PartialEq)]
enum Route {
    /// One session or connection (a datagram to `to`, or its peer).
    One {
        target: SessionId,
        to: Option<String>,
    },
    /// Every connection of a server.
    AllOf(SessionId),
}

impl Route {
    fn action(&self, data: Vec<u8>) -> ComposerAction {
        match self {
            Route::One { target, to } => ComposerAction::Send {
                target: *target,
                data,
                mode: SendMode::All,
                to: to.clone(),
            },
            Route::AllOf(server) => ComposerAction::SendAll {
                server: *server,
                data,
            },
        }
    }

    fn session(&self) -> SessionId {
        match self {
            Route::One { target, .. } => *target,
            Route::AllOf(s) => *s,
        }
    }
}

/// A snippet being sent every so often from the quick-send panel.
struct Periodic {
    /// The session whose snippet it is.
    top: SessionId,
    name: String,
    route: Route,
    data: Vec<u8>,
    every: Duration,
    next: Instant,
    sent: u64,
}

/// A change to a session's snippets from the quick-send panel.
#[derive(Debug, PartialEq)]
pub enum SnippetEdit {
    /// A new name.
    Rename {
        /// The old name.
        from: String,
        /// The new one.
        to: String,
    },
    /// Forget it.
    Remove {
        /// Its name.
        name: String,
    },
    /// Its period (None: no period).
    Period {
        /// Its name.
        name: String,
        /// The period.
        period: Option<Duration>,
    },
}

/// A period as typed: empty for none, else seconds in the allowed range.
fn parse_period(text: &str) -> Result<Option<Duration>, String> {
    let t = text.trim();
    if t.is_empty() {
        return Ok(None);
    }
    let (min, max) = (crate::preset::MIN_PERIOD, crate::preset::MAX_PERIOD);
    match t.parse::<f64>() {
        Ok(v) if v.is_finite() && (min.as_secs_f64()..=max.as_secs_f64()).contains(&v) => {
            Ok(Some(Duration::from_secs_f64(v)))
        }
        _ => Err(t!(
            "period-bad",
            value = t,
            min = min.as_secs_f64(),
            max = max.as_secs()
        )),
    }
}

struct FileSend {
    target: SessionId,
    to: Option<String>,
    /// The target's bytes_out when the file was picked, for progress.
    base: u64,
    rx: Receiver<Result<Vec<u8>, String>>,
}

/// The composer's state.
pub struct Composer {
    /// Payload mode.
    pub mode: Mode,
    /// The text typed.
    pub text: String,
    /// Encoding label.
    pub encoding: String,
    /// Line ending for text modes.
    pub ending: Ending,
    /// Datagram destination.
    pub destination: String,
    /// One send() call instead of sendall.
    pub single_send: bool,
    /// Repeat count.
    pub repeat_count: String,
    /// Repeat interval, ms.
    pub repeat_ms: String,
    /// File to send.
    pub file_path: String,
    history: VecDeque<(Mode, String)>,
    repeat: Option<Repeat>,
    file: Option<FileSend>,
    /// (target, bytes_out at start, file size) of the last file sent.
    pub file_progress: Option<(SessionId, u64, u64)>,
    last_target: Option<SessionId>,
    /// Name for "save as snippet".
    pub snippet_name: String,
    http: HttpForm,
    /// Put the keyboard in the payload on the next frame (Ctrl+E).
    pub focus_payload: bool,
    /// Enter was pressed in the payload: send this frame.
    send_now: bool,
    /// A checksum appended to what is sent (before the line end).
    pub checksum: crate::engine::checksum::Checksum,
    /// Its byte order.
    pub checksum_order: crate::engine::checksum::ByteOrder,
    /// A server's live connections (id, label), set by the app each frame.
    pub children: Vec<(SessionId, String)>,
    /// Where a server's composer sends: one connection, or None for all.
    pub server_target: Option<SessionId>,
    /// On a WebSocket: what a send goes as (a close takes `ws_code`).
    pub ws_kind: Outgoing,
    /// A close frame's status code, as typed.
    pub ws_code: String,
    /// What was typed for each session the user left: its text and mode
    /// belong to it, not to whichever session is selected next.
    drafts: std::collections::HashMap<SessionId, Draft>,
    /// Snippets being sent every so often; they go on while other
    /// sessions are looked at.
    periodic: Vec<Periodic>,
    /// Quick-send period fields as typed, by session and snippet name.
    period_text: std::collections::HashMap<(SessionId, String), String>,
    /// Quick-send rename fields as typed.
    rename_text: std::collections::HashMap<(SessionId, String), String>,
}

/// A session's unsent input.
#[derive(Clone)]
struct Draft {
    mode: Mode,
    text: String,
    encoding: String,
    ending: Ending,
    destination: String,
}

/// The HTTP request builder's fields.
struct HttpForm {
    method: String,
    path: String,
    headers: String,
    body: String,
    keep_alive: bool,
    error: Option<String>,
}

impl Default for HttpForm {
    fn default() -> Self {
        HttpForm {
            method: "GET".into(),
            path: "/".into(),
            headers: "User-Agent: sockscope".into(),
            body: String::new(),
            keep_alive: false,
            error: None,
        }
    }
}

impl Default for Composer {
    fn default() -> Self {
        Composer {
            mode: Mode::Text,
            text: String::new(),
            encoding: "UTF-8".into(),
            ending: Ending::None,
            destination: String::new(),
            single_send: false,
            repeat_count: "10".into(),
            repeat_ms: "1000".into(),
            file_path: String::new(),
            history: VecDeque::new(),
            repeat: None,
            file: None,
            file_progress: None,
            last_target: None,
            snippet_name: String::new(),
            http: HttpForm::default(),
            focus_payload: false,
            send_now: false,
            children: Vec::new(),
            server_target: None,
            ws_kind: Outgoing::Auto,
            ws_code: "1000".into(),
            checksum: Default::default(),
            checksum_order: Default::default(),
            drafts: std::collections::HashMap::new(),
            periodic: Vec::new(),
            period_text: std::collections::HashMap::new(),
            rename_text: std::collections::HashMap::new(),
        }
    }
}

impl Composer {
    /// The payload as typed, before the checksum and the line end.
    fn bytes_without_checksum(&self) -> Result<Vec<u8>, String> {
        let enc = Encoding::for_label(&self.encoding)
            .ok_or_else(|| t!("unknown-encoding", name = self.encoding.clone()))?;
        match self.mode {
            Mode::Text => enc.encode(&self.text),
            Mode::Hex => codec::parse_hex(&self.text),
            Mode::Escaped => codec::parse_escaped(&self.text, enc),
        }
        .map_err(|e| e.to_string())
    }

    /// The exact bytes the current input stands for, or why there are none.
    pub fn bytes(&self) -> Result<Vec<u8>, String> {
        let mut data = self.bytes_without_checksum()?;
        // The checksum covers the payload; a line end (Modbus ASCII's CR
        // LF, say) goes after it.
        let sum = self.checksum.of(&data, self.checksum_order);
        data.extend_from_slice(&sum);
        if self.mode != Mode::Hex {
            match self.ending {
                Ending::None => {}
                Ending::Lf => data.push(b'\n'),
                Ending::CrLf => data.extend_from_slice(b"\r\n"),
            }
        }
        Ok(data)
    }

    /// How many snippets are being sent periodically now.
    pub fn periodic_sends(&self) -> usize {
        self.periodic.len()
    }

    /// What a snippet saved now keeps: the bytes as typed (hex stays
    /// hex), and the checksum, which is computed again at each send.
    pub fn snippet_parts(&self) -> Result<(Typed, Trailer), String> {
        let enc = Encoding::for_label(&self.encoding)
            .ok_or_else(|| t!("unknown-encoding", name = self.encoding.clone()))?;
        let as_typed = match self.mode {
            Mode::Text => Payload::Text(self.text.clone()),
            Mode::Hex => Payload::Hex(self.text.clone()),
            Mode::Escaped => Payload::Escaped(self.text.clone()),
        };
        let trailer = Trailer {
            checksum: self.checksum,
            order: self.checksum_order,
        };
        let ending = self.mode != Mode::Hex && self.ending != Ending::None;
        if !trailer.is_none() {
            if ending {
                return Err(t!("snippet-checksum-end").into());
            }
            let typed = Typed::parse(as_typed, enc).map_err(|e| e.to_string())?;
            return Ok((typed, trailer));
        }
        let data = self.bytes()?;
        // A line end adds bytes to what was typed: escaped text keeps
        // them readable, other modes fall back to the shortest form.
        let typed = if as_typed.to_bytes(enc).is_ok_and(|b| b == data) {
            Typed::parse(as_typed, enc).map_err(|e| e.to_string())?
        } else {
            Typed::from(data)
        };
        Ok((typed, Trailer::default()))
    }

    fn remember(&mut self) {
        let item = (self.mode, self.text.clone());
        self.history.retain(|h| *h != item);
        self.history.push_front(item);
        self.history.truncate(HISTORY);
    }

    fn destination(&self) -> Option<String> {
        let d = self.destination.trim();
        (!d.is_empty()).then(|| d.to_string())
    }

    /// Work that happens over time: repeats, periodic snippets and a file
    /// being read. `live` says whether a session can still be sent to;
    /// repeats and periodic sends to a closed one stop.
    pub fn tick(
        &mut self,
        ctx: &egui::Context,
        live: impl Fn(SessionId) -> bool,
    ) -> Vec<ComposerAction> {
        let mut out = Vec::new();
        let now = Instant::now();
        self.periodic.retain(|p| live(p.route.session()));
        for p in &mut self.periodic {
            if now >= p.next {
                out.push(p.route.action(p.data.clone()));
                p.sent += 1;
                // On a slow frame the next send keeps its rhythm instead
                // of sending a backlog in one burst.
                p.next = (p.next + p.every).max(now);
            }
            ctx.request_repaint_after(p.next.saturating_duration_since(now));
        }
        if self.repeat.as_ref().is_some_and(|r| !live(r.target)) {
            self.repeat = None;
        }
        if let Some(r) = &mut self.repeat {
            let now = Instant::now();
            if now >= r.next {
                out.push(ComposerAction::Send {
                    target: r.target,
                    data: r.data.clone(),
                    mode: SendMode::All,
                    to: r.to.clone(),
                });
                r.left -= 1;
                r.next = now + r.every;
            }
            if r.left == 0 {
                self.repeat = None;
            } else {
                ctx.request_repaint_after(r.next.saturating_duration_since(now));
            }
        }
        if let Some(f) = &self.file {
            match f.rx.try_recv() {
                Ok(Ok(data)) => {
                    let (target, to, base) = (f.target, f.to.clone(), f.base);
                    self.file = None;
                    out.push(ComposerAction::Status(t!("sending-file", n = data.len())));
                    self.file_progress = Some((target, base, data.len() as u64));
                    for chunk in data.chunks(64 * 1024) {
                        out.push(ComposerAction::Send {
                            target,
                            data: chunk.to_vec(),
                            mode: SendMode::All,
                            to: to.clone(),
                        });
                    }
                }
                Ok(Err(e)) => {
                    self.file = None;
                    out.push(ComposerAction::Status(e));
                }
                Err(crossbeam_channel::TryRecvError::Empty) => {
                    ctx.request_repaint_after(Duration::from_millis(50));
                }
                Err(_) => self.file = None,
            }
        }
        out
    }

    fn start_file(
        &mut self,
        target: SessionId,
        to: Option<String>,
        base: u64,
    ) -> Option<ComposerAction> {
        let path = PathBuf::from(self.file_path.trim());
        if self.file_path.trim().is_empty() {
            return Some(ComposerAction::Status(t!("give-file-path").into()));
        }
        let (tx, rx) = crossbeam_channel::bounded(1);
        // Reading a file is I/O: never on the UI thread.
        // The thread words its messages as the app speaks now.
        let lang = super::i18n::current();
        let spawned = std::thread::Builder::new()
            .name("sockscope-file-read".into())
            .spawn(move || {
                super::i18n::set(lang);
                let r =
                    crate::fsutil::read_capped(&path, FILE_LIMIT, "a file to send").map_err(|e| {
                        t!(
                            "cannot-send-file",
                            path = path.display().to_string(),
                            why = e.to_string()
                        )
                    });
                let _ = tx.send(r);
            });
        match spawned {
            Ok(_) => {
                self.file = Some(FileSend {
                    target,
                    to,
                    base,
                    rx,
                });
                None
            }
            Err(e) => Some(ComposerAction::Status(t!(
                "cannot-start-reading",
                why = e.to_string()
            ))),
        }
    }

    /// Draws the composer for the selected session or child.
    /// `snippets` are the named payloads of the session (or its parent).
    pub fn ui(
        &mut self,
        ui: &mut egui::Ui,
        info: &SessionInfo,
        snippets: &[Snippet],
    ) -> Vec<ComposerAction> {
        let mut out = Vec::new();
        let id = info.id;
        if self.last_target != Some(id) {
            // Keep what was typed for the session left, and bring back
            // what was typed for this one (a new one starts empty, in its
            // own encoding).
            if let Some(old) = self.last_target {
                self.drafts.insert(
                    old,
                    Draft {
                        mode: self.mode,
                        text: std::mem::take(&mut self.text),
                        encoding: self.encoding.clone(),
                        ending: self.ending,
                        destination: std::mem::take(&mut self.destination),
                    },
                );
            }
            self.last_target = Some(id);
            match self.drafts.remove(&id) {
                Some(d) => {
                    self.mode = d.mode;
                    self.text = d.text;
                    self.encoding = d.encoding;
                    self.ending = d.ending;
                    self.destination = d.destination;
                }
                None => {
                    self.mode = Mode::Text;
                    self.encoding = info.encoding.name().to_string();
                    self.ending = Ending::None;
                }
            }
        }
        let payload_label = ui
            .horizontal_wrapped(|ui| {
                // A label moves to the next line whole ("Line end" split
                // in two at 1024 px).
                ui.style_mut().wrap_mode = Some(egui::TextWrapMode::Extend);
                let label = ui.label(L::PAYLOAD);
                self.mode_row(ui);
                label
            })
            .inner;
        super::checksum_picker::show(
            ui,
            "composer-checksum",
            L::CHECKSUM.text(),
            &mut self.checksum,
            &mut self.checksum_order,
        );
        // Enter sends (Shift+Enter is a new line), as in chat and in the
        // tools people come from.
        let payload = ui
            .add(
                egui::TextEdit::multiline(&mut self.text)
                    .id_salt(L::PAYLOAD)
                    .desired_rows(3)
                    .desired_width(f32::INFINITY)
                    .font(egui::TextStyle::Monospace)
                    .return_key(egui::KeyboardShortcut::new(
                        egui::Modifiers::SHIFT,
                        egui::Key::Enter,
                    ))
                    .hint_text(match self.mode {
                        Mode::Text => t!("payload-hint"),
                        Mode::Hex => "de ad be ef",
                        Mode::Escaped => "GET / HTTP/1.0\\r\\n\\r\\n",
                    }),
            )
            .labelled_by(payload_label.id);
        if std::mem::take(&mut self.focus_payload) {
            payload.request_focus();
        }
        self.send_now = payload.has_focus()
            && ui.input(|i| i.key_pressed(egui::Key::Enter) && !i.modifiers.shift);
        self.snippets_ui(ui, info, snippets, &mut out);
        let stream_client = !matches!(
            info.kind,
            Kind::Udp | Kind::UnixDatagram | Kind::TcpServer | Kind::UnixServer | Kind::Script
        ) || info.id.is_child();
        if stream_client {
            self.http_ui(ui, info);
        }
        self.rest_ui(ui, info, &mut out);
        out
    }

    /// The HTTP request builder: it writes the request into the payload,
    /// so it is sent (and logged) like anything else.
    fn http_ui(&mut self, ui: &mut egui::Ui, info: &SessionInfo) {
        egui::CollapsingHeader::new(L::HTTP_REQUEST)
            .default_open(false)
            .show(ui, |ui| {
                let f = &mut self.http;
                ui.horizontal_wrapped(|ui| {
                    for m in ["GET", "HEAD", "POST", "PUT", "DELETE"] {
                        ui.selectable_value(&mut f.method, m.to_string(), m);
                    }
                    let l = ui.label(L::WS_PATH);
                    ui.add(egui::TextEdit::singleline(&mut f.path).desired_width(160.0))
                        .labelled_by(l.id);
                    ui.checkbox(&mut f.keep_alive, "keep-alive");
                });
                let l = ui.label(t!("http-headers"));
                ui.add(
                    egui::TextEdit::multiline(&mut f.headers)
                        .desired_rows(2)
                        .desired_width(f32::INFINITY),
                )
                .labelled_by(l.id);
                if f.method == "POST" || f.method == "PUT" {
                    let l = ui.label(L::HTTP_BODY);
                    ui.add(
                        egui::TextEdit::multiline(&mut f.body)
                            .desired_rows(2)
                            .desired_width(f32::INFINITY),
                    )
                    .labelled_by(l.id);
                }
                if ui.button(L::HTTP_FILL).clicked() {
                    let mut headers = Vec::new();
                    let mut bad = None;
                    for line in f.headers.lines().map(str::trim).filter(|l| !l.is_empty()) {
                        match line.split_once(':') {
                            Some((k, v)) => {
                                headers.push((k.trim().to_string(), v.trim().to_string()))
                            }
                            None => bad = Some(t!("http-bad-header", line = line)),
                        }
                    }
                    let host = info
                        .peer
                        .as_ref()
                        .map(|p| p.to_string())
                        .unwrap_or_else(|| "localhost".into());
                    let req = crate::http::Request {
                        method: f.method.clone(),
                        path: f.path.trim().to_string(),
                        headers,
                        body: f.body.as_bytes().to_vec(),
                        keep_alive: f.keep_alive,
                    };
                    match bad.map(Err).unwrap_or_else(|| req.to_bytes(&host)) {
                        Ok(bytes) => {
                            f.error = None;
                            self.mode = Mode::Escaped;
                            self.ending = Ending::None;
                            self.encoding = "UTF-8".into();
                            self.text = Encoding::Utf8.decode_escaped(&bytes, true);
                        }
                        Err(e) => f.error = Some(e),
                    }
                }
                if let Some(e) = &self.http.error {
                    ui.colored_label(ui.visuals().error_fg_color, format!("! {e}"));
                }
            });
    }

    fn snippets_ui(
        &mut self,
        ui: &mut egui::Ui,
        info: &SessionInfo,
        snippets: &[Snippet],
        out: &mut Vec<ComposerAction>,
    ) {
        if !snippets.is_empty() {
            self.quick_send_ui(ui, info, snippets, out);
        }
        ui.horizontal_wrapped(|ui| {
            let l = ui.label(L::SNIPPET_NAME);
            ui.add(
                egui::TextEdit::singleline(&mut self.snippet_name)
                    .hint_text(t!("snippet-name-hint"))
                    .desired_width(90.0),
            )
            .labelled_by(l.id);
            let parts = self.snippet_parts();
            let ok = !self.snippet_name.trim().is_empty()
                && parts.as_ref().is_ok_and(|(b, _)| !b.is_empty());
            let why = match &parts {
                Err(e) => e.clone(),
                Ok(_) => t!("snippet-give-name").to_string(),
            };
            if ui
                .add_enabled(ok, egui::Button::new(L::SAVE_SNIPPET))
                .on_disabled_hover_text(why)
                .clicked()
                && let Ok((data, checksum)) = parts
            {
                out.push(ComposerAction::SaveSnippet {
                    session: SessionId::top(info.id.session),
                    snippet: Snippet {
                        checksum,
                        ..Snippet::new(self.snippet_name.trim(), data)
                    },
                });
                self.snippet_name.clear();
            }
        });
    }

    /// The session's snippets as one-click buttons (NetAssist's and
    /// Packet Sender's quick send), each with a period it can be sent at.
    fn quick_send_ui(
        &mut self,
        ui: &mut egui::Ui,
        info: &SessionInfo,
        snippets: &[Snippet],
        out: &mut Vec<ComposerAction>,
    ) {
        let top = SessionId::top(info.id.session);
        let closed = info.state.is_closed();
        let route = self.route(info);
        let enc = Encoding::for_label(&self.encoding).unwrap_or(info.encoding);
        ui.label(L::QUICK_SEND);
        // Start and Stop the same width: the one replaces the other under
        // the cursor.
        let toggle = egui::vec2(
            ui.fonts_mut(|f| {
                [L::START_PERIODIC, L::STOP_PERIODIC]
                    .iter()
                    .map(|t| {
                        f.layout_no_wrap(
                            t.to_string(),
                            egui::TextStyle::Button.resolve(ui.style()),
                            egui::Color32::WHITE,
                        )
                        .size()
                        .x
                    })
                    .fold(0.0, f32::max)
            }) + 2.0 * ui.spacing().button_padding.x,
            0.0,
        );
        egui::Grid::new("quick-send")
            .num_columns(6)
            .spacing([6.0, 4.0])
            .show(ui, |ui| {
                for s in snippets {
                    // The preview is made from the first bytes only: a
                    // snippet may be megabytes, and this runs every frame.
                    // The bytes to send are made when it is sent.
                    let sum_len = s.checksum.checksum.of(&[], s.checksum.order).len();
                    let len = s.data.len() + sum_len;
                    let head = &s.data[..s.data.len().min(48)];
                    let preview = t!(
                        "bytes-preview",
                        n = len,
                        hex = format!(
                            "{}{}{}",
                            codec::to_hex(head),
                            if s.data.len() > 48 { " …" } else { "" },
                            if sum_len > 0 {
                                format!(" + {}", s.checksum.checksum.name())
                            } else {
                                String::new()
                            }
                        )
                    );
                    // A long name is cut on the button, whole on hover.
                    let shown: String = if s.name.chars().count() > 24 {
                        s.name.chars().take(23).chain(['…']).collect()
                    } else {
                        s.name.clone()
                    };
                    if ui
                        .add_enabled(!closed, egui::Button::new(shown))
                        .on_hover_text(format!("{}\n{preview}", s.name))
                        .on_disabled_hover_text(t!("session-is-closed"))
                        .clicked()
                    {
                        out.push(route.action(s.wire_bytes()));
                    }
                    let key = (top, s.name.clone());
                    let every = ui.label(L::EVERY);
                    let text = self.period_text.entry(key.clone()).or_insert_with(|| {
                        s.period
                            .map(|p| p.as_secs_f64().to_string())
                            .unwrap_or_default()
                    });
                    let parsed = parse_period(text);
                    let mut field = egui::TextEdit::singleline(text)
                        .desired_width(44.0)
                        .hint_text("s");
                    if parsed.is_err() {
                        field = field.text_color(ui.visuals().error_fg_color);
                    }
                    let r = ui.add(field).labelled_by(every.id);
                    let r = match &parsed {
                        Err(e) => r.on_hover_text(e.as_str()),
                        Ok(_) => r,
                    };
                    // A typed period counts when the field is left, not
                    // only on Enter.
                    if r.lost_focus()
                        && let Ok(p) = parsed
                        && p != s.period
                    {
                        out.push(ComposerAction::EditSnippet {
                            session: top,
                            edit: SnippetEdit::Period {
                                name: s.name.clone(),
                                period: p,
                            },
                        });
                    }
                    let running = self
                        .periodic
                        .iter()
                        .position(|p| p.top == top && p.name == s.name);
                    match running {
                        Some(i) => {
                            if ui
                                .add(egui::Button::new(L::STOP_PERIODIC).min_size(toggle))
                                .clicked()
                            {
                                self.periodic.remove(i);
                            }
                        }
                        None => {
                            let period = parsed.as_ref().ok().copied().flatten();
                            if ui
                                .add_enabled(
                                    !closed && period.is_some(),
                                    egui::Button::new(L::START_PERIODIC).min_size(toggle),
                                )
                                .on_disabled_hover_text(t!("period-give"))
                                .clicked()
                                && let Some(every) = period
                            {
                                if Some(every) != s.period {
                                    out.push(ComposerAction::EditSnippet {
                                        session: top,
                                        edit: SnippetEdit::Period {
                                            name: s.name.clone(),
                                            period: Some(every),
                                        },
                                    });
                                }
                                self.periodic.push(Periodic {
                                    top,
                                    name: s.name.clone(),
                                    route: route.clone(),
                                    data: s.wire_bytes(),
                                    every,
                                    next: Instant::now(),
                                    sent: 0,
                                });
                            }
                        }
                    }
                    // A text field inside: only a click outside closes it.
                    let config = egui::containers::menu::MenuConfig::new()
                        .close_behavior(egui::PopupCloseBehavior::CloseOnClickOutside);
                    egui::containers::menu::MenuButton::new("…")
                        .config(config)
                        .ui(ui, |ui| {
                            if ui.button(L::LOAD_SNIPPET).clicked() {
                                (self.mode, self.text) = match s.data.payload(enc) {
                                    Payload::Text(t) => (Mode::Text, t),
                                    Payload::Escaped(t) => (Mode::Escaped, t),
                                    Payload::Hex(t) => (Mode::Hex, t),
                                };
                                self.ending = Ending::None;
                                self.checksum = s.checksum.checksum;
                                self.checksum_order = s.checksum.order;
                                ui.close();
                            }
                            ui.separator();
                            let new = self
                                .rename_text
                                .entry(key.clone())
                                .or_insert_with(|| s.name.clone());
                            let l = ui.label(L::RENAME_TO);
                            ui.add(egui::TextEdit::singleline(new).desired_width(140.0))
                                .labelled_by(l.id);
                            let to = new.trim().to_string();
                            let taken = snippets.iter().any(|o| o.name == to && o.name != s.name);
                            if ui
                                .add_enabled(
                                    !to.is_empty() && to != s.name && !taken,
                                    egui::Button::new(L::RENAME_SNIPPET),
                                )
                                .on_disabled_hover_text(if taken {
                                    t!("snippet-name-taken")
                                } else {
                                    t!("snippet-type-name")
                                })
                                .clicked()
                            {
                                self.rename_text.remove(&key);
                                if let Some(t) = self.period_text.remove(&key) {
                                    self.period_text.insert((top, to.clone()), t);
                                }
                                for p in &mut self.periodic {
                                    if p.top == top && p.name == s.name {
                                        p.name = to.clone();
                                    }
                                }
                                out.push(ComposerAction::EditSnippet {
                                    session: top,
                                    edit: SnippetEdit::Rename {
                                        from: s.name.clone(),
                                        to,
                                    },
                                });
                                ui.close();
                            }
                            ui.separator();
                            if ui.button(L::REMOVE_SNIPPET).clicked() {
                                self.periodic
                                    .retain(|p| !(p.top == top && p.name == s.name));
                                self.period_text.remove(&key);
                                self.rename_text.remove(&key);
                                out.push(ComposerAction::EditSnippet {
                                    session: top,
                                    edit: SnippetEdit::Remove {
                                        name: s.name.clone(),
                                    },
                                });
                                ui.close();
                            }
                        });
                    // The count goes last, so its growing moves nothing.
                    match self
                        .periodic
                        .iter()
                        .find(|p| p.top == top && p.name == s.name)
                    {
                        Some(p) => ui.weak(t!("n-sent", n = p.sent.to_string())),
                        None => ui.label(""),
                    };
                    ui.end_row();
                }
            });
    }

    /// Where a send from the composer goes now: the selected session or
    /// child, a datagram's destination, or a server's chosen connection
    /// (all of them by default).
    fn route(&self, info: &SessionInfo) -> Route {
        let is_server = !info.id.is_child() && info.kind.is_server();
        let is_dgram = info.kind.is_datagram();
        match (is_server, self.server_target) {
            (true, None) => Route::AllOf(info.id),
            (true, Some(t)) => Route::One {
                target: t,
                to: None,
            },
            (false, _) => Route::One {
                target: info.id,
                to: if is_dgram { self.destination() } else { None },
            },
        }
    }

    /// Rewrites what is typed for the mode just chosen, so the bytes stay
    /// the same: text `AB` becomes hex `41 42` and back. Text that does
    /// not parse in the old mode is left as typed (its error shows).
    /// A WebSocket's "send as" row: always the same widgets, so nothing
    /// moves when the choice changes (the code field is greyed out unless
    /// a close is chosen). Returns the kind to send, or why it cannot be.
    fn ws_row(&mut self, ui: &mut egui::Ui) -> Result<Outgoing, String> {
        let code = self.ws_code.trim().parse::<u16>();
        let close = matches!(self.ws_kind, Outgoing::Close(_));
        ui.horizontal_wrapped(|ui| {
            ui.label(L::WS_SEND_AS);
            for (kind, text, help) in [
                (Outgoing::Auto, "auto", t!("ws-out-auto")),
                (Outgoing::Text, "text", t!("ws-out-text")),
                (Outgoing::Binary, "binary", t!("ws-out-binary")),
                (Outgoing::Ping, "ping", t!("ws-out-ping")),
                (Outgoing::Pong, "pong", t!("ws-out-pong")),
                (Outgoing::Close(1000), "close", t!("ws-out-close")),
            ] {
                let on = match (self.ws_kind, kind) {
                    (Outgoing::Close(_), Outgoing::Close(_)) => true,
                    (a, b) => a == b,
                };
                if ui.selectable_label(on, text).on_hover_text(help).clicked() {
                    self.ws_kind = kind;
                }
            }
            let l = ui.label(L::WS_CLOSE_CODE);
            ui.add_enabled(
                close,
                egui::TextEdit::singleline(&mut self.ws_code)
                    .desired_width(48.0)
                    .id_salt(L::WS_CLOSE_CODE),
            )
            .labelled_by(l.id)
            .on_hover_text(t!("ws-close-codes"));
            if close && code.is_err() {
                ui.colored_label(ui.visuals().error_fg_color, t!("ws-code-not-number"));
            }
        });
        match self.ws_kind {
            Outgoing::Close(_) => match code {
                Ok(c) => {
                    self.ws_kind = Outgoing::Close(c);
                    Ok(Outgoing::Close(c))
                }
                Err(_) => Err(t!(
                    "ws-bad-close-code",
                    code = codec::excerpt(self.ws_code.trim(), 12).to_string()
                )),
            },
            k => Ok(k),
        }
    }

    fn convert_from(&mut self, from: Mode) {
        let Some(enc) = Encoding::for_label(&self.encoding) else {
            return;
        };
        let bytes = match from {
            Mode::Text => enc.encode(&self.text),
            Mode::Hex => codec::parse_hex(&self.text),
            Mode::Escaped => codec::parse_escaped(&self.text, enc),
        };
        let Ok(bytes) = bytes else {
            return;
        };
        self.text = match self.mode {
            Mode::Hex => codec::to_hex(&bytes),
            Mode::Escaped => enc.decode_escaped(&bytes, true),
            Mode::Text => {
                let shown = enc.decode_escaped(&bytes, false);
                if enc.encode(&shown).ok().as_deref() == Some(bytes.as_slice()) {
                    shown
                } else {
                    // Bytes that are not text in this encoding: say them
                    // as escapes rather than change them.
                    self.mode = Mode::Escaped;
                    enc.decode_escaped(&bytes, true)
                }
            }
        };
    }

    fn mode_row(&mut self, ui: &mut egui::Ui) {
        {
            let before = self.mode;
            ui.selectable_value(&mut self.mode, Mode::Text, L::MODE_TEXT);
            ui.selectable_value(&mut self.mode, Mode::Hex, L::MODE_HEX);
            ui.selectable_value(&mut self.mode, Mode::Escaped, L::MODE_ESCAPED);
            if self.mode != before {
                self.convert_from(before);
            }
            let enc_label = ui.label(L::ENCODING);
            egui::ComboBox::from_id_salt("composer-encoding")
                .selected_text(self.encoding.clone())
                .show_ui(ui, |ui| {
                    for e in COMMON_ENCODINGS {
                        ui.selectable_value(&mut self.encoding, (*e).to_string(), *e);
                    }
                })
                .response
                .labelled_by(enc_label.id);
            if self.mode != Mode::Hex {
                let end_label = ui.label(t!("line-end"));
                egui::ComboBox::from_id_salt("composer-ending")
                    .selected_text(match self.ending {
                        Ending::None => t!("no-line-end"),
                        Ending::Lf => "+ \\n",
                        Ending::CrLf => "+ \\r\\n",
                    })
                    .show_ui(ui, |ui| {
                        ui.selectable_value(&mut self.ending, Ending::None, t!("no-line-end"));
                        ui.selectable_value(&mut self.ending, Ending::Lf, "+ \\n");
                        ui.selectable_value(&mut self.ending, Ending::CrLf, "+ \\r\\n");
                    })
                    .response
                    .labelled_by(end_label.id);
            }
            if !self.history.is_empty() {
                egui::ComboBox::from_id_salt("composer-history")
                    .selected_text(t!("history"))
                    .show_ui(ui, |ui| {
                        let mut pick = None;
                        for (i, (m, t)) in self.history.iter().enumerate() {
                            let short: String = t.chars().take(40).collect();
                            if ui
                                .selectable_label(false, format!("{m:?}: {short}"))
                                .clicked()
                            {
                                pick = Some(i);
                            }
                        }
                        if let Some(i) = pick
                            && let Some((m, t)) = self.history.get(i).cloned()
                        {
                            self.mode = m;
                            self.text = t;
                        }
                    });
            }
        }
    }

    fn rest_ui(&mut self, ui: &mut egui::Ui, info: &SessionInfo, out: &mut Vec<ComposerAction>) {
        let id = info.id;
        let closed = info.state.is_closed();
        let is_server = !id.is_child() && info.kind.is_server();
        let is_dgram = info.kind.is_datagram();
        let bytes = self.bytes();
        match &bytes {
            Ok(b) => {
                let shown = &b[..b.len().min(48)];
                ui.monospace(t!(
                    "bytes-preview",
                    n = b.len(),
                    hex = format!(
                        "{}{}",
                        codec::to_hex(shown),
                        if b.len() > 48 { " …" } else { "" }
                    )
                ));
                if self.checksum != crate::engine::checksum::Checksum::None {
                    // Which bytes the checksum is, in the preview.
                    let body = self.bytes_without_checksum().unwrap_or_default();
                    ui.monospace(format!(
                        "{} {}",
                        self.checksum.name(),
                        codec::to_hex(&self.checksum.of(&body, self.checksum_order))
                    ));
                }
            }
            Err(e) => {
                ui.colored_label(
                    ui.visuals().error_fg_color,
                    t!("nothing-is-sent", why = e.clone()),
                );
            }
        }
        if is_dgram {
            ui.horizontal(|ui| {
                let label = ui.label(L::DESTINATION);
                let hint = info
                    .peer
                    .as_ref()
                    .or(info.last_source.as_ref())
                    .map(|p| p.to_string())
                    .unwrap_or_else(|| t!("destination-hint").into());
                ui.add(
                    egui::TextEdit::singleline(&mut self.destination)
                        .hint_text(hint)
                        .id_salt(L::DESTINATION),
                )
                .labelled_by(label.id);
                if self.destination.trim().is_empty()
                    && info.peer.is_none()
                    && let Some(src) = &info.last_source
                    && ui.small_button(t!("reply-to-last-source")).clicked()
                {
                    self.destination = src.to_string();
                }
            });
        }
        let ws = matches!(info.kind, Kind::WsClient) || info.ws_handshake.is_some();
        let ws_kind = if ws {
            self.ws_row(ui)
        } else {
            Ok(Outgoing::Auto)
        };
        // An empty ping, pong, close or message is still a frame.
        let framed = ws && self.ws_kind != Outgoing::Auto;
        let ok =
            bytes.as_ref().is_ok_and(|b| framed || !b.is_empty()) && ws_kind.is_ok() && !closed;
        let to = if is_dgram { self.destination() } else { None };
        ui.horizontal_wrapped(|ui| {
            let send_now = std::mem::take(&mut self.send_now) && ok;
            if is_server {
                // All connections, or one of them by name and peer (as
                // NetAssist does), without leaving the server.
                if self
                    .server_target
                    .is_some_and(|t| !self.children.iter().any(|(c, _)| *c == t))
                {
                    self.server_target = None;
                }
                let shown = self
                    .server_target
                    .and_then(|t| self.children.iter().find(|(c, _)| *c == t))
                    .map_or(L::ALL_CONNECTIONS.to_string(), |(_, l)| l.clone());
                let l = ui.label(L::SEND_TARGET);
                egui::ComboBox::from_id_salt("server-target")
                    .selected_text(shown)
                    .show_ui(ui, |ui| {
                        ui.selectable_value(&mut self.server_target, None, L::ALL_CONNECTIONS);
                        for (c, label) in &self.children {
                            ui.selectable_value(&mut self.server_target, Some(*c), label);
                        }
                    })
                    .response
                    .labelled_by(l.id);
                let (button, target) = match self.server_target {
                    None => (L::SEND_ALL, None),
                    Some(t) => (L::SEND, Some(t)),
                };
                if (ui.add_enabled(ok, egui::Button::new(button)).clicked() || send_now)
                    && let Ok(data) = &bytes
                {
                    out.push(match target {
                        None => ComposerAction::SendAll {
                            server: id,
                            data: data.clone(),
                        },
                        Some(t) => ComposerAction::Send {
                            target: t,
                            data: data.clone(),
                            mode: SendMode::All,
                            to: None,
                        },
                    });
                    self.remember();
                }
            } else {
                if (ui.add_enabled(ok, egui::Button::new(L::SEND)).clicked() || send_now)
                    && let Ok(data) = &bytes
                {
                    out.push(match ws_kind {
                        Ok(kind) if framed => ComposerAction::Message {
                            target: id,
                            kind,
                            data: data.clone(),
                        },
                        _ => ComposerAction::Send {
                            target: id,
                            data: data.clone(),
                            mode: if self.single_send {
                                SendMode::Once
                            } else {
                                SendMode::All
                            },
                            to: to.clone(),
                        },
                    });
                    self.remember();
                }
                if !is_dgram && !ws {
                    ui.checkbox(&mut self.single_send, t!("single-send"));
                }
            }
            // A serial port has no half-close and no RST.
            if !is_server && !is_dgram && info.kind != Kind::Serial {
                if ui
                    .add_enabled(!closed, egui::Button::new(L::SHUTDOWN))
                    .clicked()
                {
                    out.push(ComposerAction::Shutdown(id));
                }
                if ui
                    .add_enabled(!closed, egui::Button::new(L::ABORT))
                    .clicked()
                {
                    out.push(ComposerAction::Abort(id));
                }
            }
            if ui
                .add_enabled(!closed, egui::Button::new(L::CLOSE_SOCKET))
                .clicked()
            {
                out.push(ComposerAction::Close(id));
            }
        });
        if !is_server {
            ui.horizontal(|ui| {
                let l = ui.label(L::REPEAT);
                ui.add(egui::TextEdit::singleline(&mut self.repeat_count).desired_width(40.0))
                    .labelled_by(l.id);
                let l = ui.label(t!("times-every"));
                ui.add(egui::TextEdit::singleline(&mut self.repeat_ms).desired_width(50.0))
                    .labelled_by(l.id);
                ui.label(t!("ms"));
                let count = self
                    .repeat_count
                    .trim()
                    .parse::<u32>()
                    .ok()
                    .filter(|n| (1..=1_000_000).contains(n));
                let every = self
                    .repeat_ms
                    .trim()
                    .parse::<u64>()
                    .ok()
                    .filter(|n| (1..=86_400_000).contains(n));
                if self.repeat.is_some() {
                    // Stop where Start was, so a second click on the same
                    // spot stops it; what is left comes after.
                    let left = self.repeat.as_ref().map_or(0, |r| r.left);
                    if ui.button(L::REPEAT_STOP).clicked() {
                        self.repeat = None;
                    }
                    ui.label(t!("n-left", n = left));
                } else if ui
                    .add_enabled(
                        ok && count.is_some() && every.is_some(),
                        egui::Button::new(L::REPEAT_START),
                    )
                    .on_disabled_hover_text(t!("repeat-give"))
                    .clicked()
                    && let (Ok(data), Some(n), Some(ms)) = (&bytes, count, every)
                {
                    self.repeat = Some(Repeat {
                        target: id,
                        data: data.clone(),
                        to: to.clone(),
                        left: n,
                        every: Duration::from_millis(ms),
                        next: Instant::now(),
                    });
                }
            });
            ui.horizontal(|ui| {
                let l = ui.label(L::PRESET_FILE);
                ui.add(
                    egui::TextEdit::singleline(&mut self.file_path)
                        .hint_text(t!("file-path-hint"))
                        .desired_width(200.0),
                )
                .labelled_by(l.id);
                if ui
                    .add_enabled(
                        !closed && self.file.is_none(),
                        egui::Button::new(L::SEND_FILE),
                    )
                    .clicked()
                    && let Some(a) = self.start_file(id, to, info.counters.bytes_out)
                {
                    out.push(a);
                }
                if self.file.is_some() {
                    ui.spinner();
                }
                if let Some((t, base, size)) = self.file_progress
                    && t == id
                    && size > 0
                {
                    let done = info.counters.bytes_out.saturating_sub(base).min(size);
                    ui.add(
                        egui::ProgressBar::new(done as f32 / size as f32)
                            .desired_width(120.0)
                            .text(format!("{done}/{size}")),
                    );
                }
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_snippet_keeps_the_mode_it_was_typed_in() {
        use crate::engine::checksum::{ByteOrder, Checksum};
        let gbk = Encoding::for_label("GBK").unwrap();
        let mut c = Composer {
            text: "aa 55".into(),
            mode: Mode::Hex,
            encoding: "GBK".into(),
            ..Composer::default()
        };
        let (typed, sum) = c.snippet_parts().unwrap();
        assert_eq!(typed.payload(gbk), Payload::Hex("aa 55".into()));
        assert!(sum.is_none());
        c.mode = Mode::Escaped;
        c.text = "\\xAA\\x55".into();
        assert_eq!(
            c.snippet_parts().unwrap().0.payload(gbk),
            Payload::Escaped("\\xAA\\x55".into())
        );
        // The checksum is kept apart from the bytes, to be computed at
        // each send; with a line end it has no single place to go.
        c.checksum = Checksum::Crc16Modbus;
        c.checksum_order = ByteOrder::Little;
        let (typed, sum) = c.snippet_parts().unwrap();
        assert_eq!(typed.bytes(), [0xaa, 0x55]);
        assert_eq!(sum.checksum, Checksum::Crc16Modbus);
        assert_eq!(sum.order, ByteOrder::Little);
        c.ending = Ending::CrLf;
        assert!(c.snippet_parts().unwrap_err().contains("line end"));
        c.checksum = Checksum::None;
        c.mode = Mode::Text;
        c.text = "hi".into();
        assert_eq!(c.snippet_parts().unwrap().0.bytes(), b"hi\r\n");
    }

    #[test]
    fn bytes_in_every_mode() {
        let mut c = Composer {
            text: "你好".into(),
            encoding: "GBK".into(),
            ending: Ending::CrLf,
            ..Composer::default()
        };
        assert_eq!(
            c.bytes().unwrap(),
            vec![0xc4, 0xe3, 0xba, 0xc3, b'\r', b'\n']
        );
        c.mode = Mode::Hex;
        c.text = "00 ff".into();
        assert_eq!(c.bytes().unwrap(), vec![0, 255]);
        c.text = "0 ff".into();
        assert!(c.bytes().unwrap_err().contains("position 0"));
        c.mode = Mode::Escaped;
        c.ending = Ending::None;
        c.text = "a\\x00b".into();
        assert_eq!(c.bytes().unwrap(), b"a\0b");
    }
}
