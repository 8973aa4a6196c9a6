//! The inspector: what the kernel says about the selected socket: fd,
//! family, type, state, sockname/peername, every option as read back (with
//! the requested value beside it when the kernel changed it), counters,
//! rates and a throughput plot.

use crate::engine::options::{OptName, SockOpt};
use crate::engine::protocol::{CloseReason, Kind};

use super::labels as L;
use super::model::{SessionInfo, State};
use super::sessions::human_bytes;
use crate::t;

fn rate(bps: f64) -> String {
    format!("{}/s", human_bytes(bps.max(0.0) as u64))
}

/// What the inspector asks the app to do.
#[derive(Debug)]
pub enum InspectorAction {
    /// Put a program on the clipboard.
    Copy(String),
    /// setsockopt on the live socket (the result is read back and logged).
    SetOption(SockOpt),
    /// Count RX/TX from zero again (what is shown; the engine's stay exact).
    ResetCounters(crate::engine::SessionId),
    /// Serial ports: raise or drop DTR / RTS.
    SetLines {
        /// Data terminal ready.
        dtr: Option<bool>,
        /// Request to send.
        rts: Option<bool>,
    },
    /// Serial ports: send a break.
    Break,
    /// Relays: let a held chunk go (`target`: the leg holding it, or the
    /// relay for all).
    Release {
        /// The leg, or the relay.
        target: crate::engine::SessionId,
        /// The chunk's id on the leg.
        id: u64,
        /// Forward (as edited), drop, or forward all.
        verdict: crate::engine::protocol::Release,
    },
    /// Relays: switch a rule on or off.
    SetRule {
        /// Its place in the list, from 0.
        index: usize,
        /// On or off.
        enabled: bool,
    },
}

/// The inspector's own fields (the live setsockopt row, a relay's held
/// chunks as the user edits them).
pub struct Inspector {
    opt: OptName,
    value: String,
    error: Option<String>,
    /// Edited held chunks, by leg and id.
    edits: std::collections::HashMap<(crate::engine::SessionId, u64), HeldEdit>,
}

/// One held chunk as the user edits it: as escaped text (the composer's
/// Escaped mode) or as hex, and why it does not parse.
struct HeldEdit {
    text: String,
    hex: bool,
    error: Option<String>,
}

impl HeldEdit {
    fn parse(&self, enc: crate::engine::codec::Encoding) -> Result<Vec<u8>, String> {
        let r = if self.hex {
            crate::engine::codec::parse_hex(&self.text)
        } else {
            crate::engine::written::Payload::Escaped(self.text.clone()).to_bytes(enc)
        };
        r.map_err(|e| e.to_string())
    }

    fn show(data: &[u8], hex: bool, enc: crate::engine::codec::Encoding) -> String {
        if hex {
            crate::engine::codec::to_hex(data)
        } else {
            enc.decode_escaped(data, true)
        }
    }
}

impl Default for Inspector {
    fn default() -> Self {
        Inspector {
            opt: OptName::NoDelay,
            value: "1".into(),
            error: None,
            edits: Default::default(),
        }
    }
}

impl Inspector {
    /// Draws the inspector for one session or child.
    pub fn ui(
        &mut self,
        ui: &mut egui::Ui,
        info: &SessionInfo,
        spec: Option<&crate::engine::SessionSpec>,
        tcp: bool,
    ) -> Option<InspectorAction> {
        let mut action = draw(ui, info, spec, tcp);
        if info.kind == Kind::Script {
            return action;
        }
        if info.kind == Kind::Serial {
            // A terminal: modem lines and a break, its settings as
            // tcgetattr reads them back; no socket options.
            if let Some(a) = modem_ui(ui, info) {
                action = Some(a);
            }
            ui.separator();
            ui.strong(L::SERIAL_SETTINGS);
            options_grid(ui, info);
            return action;
        }
        if let Some(crate::engine::spec::SessionKind::Relay { rules, .. }) = spec.map(|s| &s.kind)
            && !info.id.is_child()
            && let Some(a) = rules_ui(ui, rules)
        {
            action = Some(a);
        }
        if info.kind == Kind::Relay
            && !info.id.is_child()
            && let Some(a) = self.held_ui(ui, info)
        {
            action = Some(a);
        }
        ui.separator();
        ui.strong(L::OPTIONS);
        // The live row goes above the list, which is long (every option
        // that applies): a change is made where it can be seen.
        if !(info.state.is_closed() || info.fd.is_none()) {
            self.live_row(ui, info, &mut action);
        }
        options_grid(ui, info);
        action
    }

    /// The chunks an intercept rule holds: each editable, then forwarded
    /// or dropped; all forwarded at once.
    fn held_ui(&mut self, ui: &mut egui::Ui, info: &SessionInfo) -> Option<InspectorAction> {
        use crate::engine::protocol::{Leg, Release};
        let live: std::collections::HashSet<_> =
            info.held.iter().map(|(l, i, _)| (*l, *i)).collect();
        self.edits.retain(|k, _| live.contains(k));
        ui.separator();
        let mut action = None;
        ui.horizontal_wrapped(|ui| {
            ui.strong(format!("{} ({})", L::HELD, info.held.len()));
            if ui
                .add_enabled(!info.held.is_empty(), egui::Button::new(L::FORWARD_ALL))
                .clicked()
            {
                action = Some(InspectorAction::Release {
                    target: info.id,
                    id: 0,
                    verdict: Release::ForwardAll,
                });
            }
        });
        if info.held.is_empty() {
            ui.weak(L::HELD_NONE);
            return action;
        }
        ui.weak(t!(
            "held-rules",
            secs = crate::engine::rules::INTERCEPT_TIMEOUT.as_secs(),
            max = crate::engine::rules::MAX_INTERCEPTED
        ));
        let udp = matches!(
            info.spec.as_ref().map(|s| &s.kind),
            Some(crate::engine::spec::SessionKind::Relay {
                listen: crate::engine::spec::RelayEnd::Udp(_),
                ..
            })
        );
        for (leg, id, data) in &info.held {
            let way = Leg::held_way(udp, leg.child, *id);
            let enc = info.encoding;
            let edit = self.edits.entry((*leg, *id)).or_insert_with(|| HeldEdit {
                text: HeldEdit::show(data, false, enc),
                hex: false,
                error: None,
            });
            let label = ui.label(t!(
                "held-chunk",
                id = *id,
                leg = leg.to_string(),
                way = way,
                n = data.len()
            ));
            ui.add(
                egui::TextEdit::multiline(&mut edit.text)
                    .desired_rows(1)
                    .desired_width(f32::INFINITY)
                    .code_editor()
                    .id_salt(("held", leg.session, leg.child, *id)),
            )
            .labelled_by(label.id);
            if let Some(e) = &edit.error {
                ui.colored_label(ui.visuals().error_fg_color, format!("! {e}"));
            }
            ui.horizontal(|ui| {
                let mut hex = edit.hex;
                if ui.checkbox(&mut hex, L::HELD_HEX).changed() {
                    // What is typed is kept: converted, or left as it is
                    // with the reason when it does not parse.
                    match edit.parse(enc) {
                        Ok(b) => {
                            edit.hex = hex;
                            edit.text = HeldEdit::show(&b, hex, enc);
                            edit.error = None;
                        }
                        Err(e) => edit.error = Some(t!("held-not-converted", why = e.to_string())),
                    }
                }
                if ui.button(L::FORWARD).clicked() {
                    let unchanged = edit.text == HeldEdit::show(data, edit.hex, enc);
                    match (unchanged, edit.parse(enc)) {
                        (true, _) => {
                            action = Some(InspectorAction::Release {
                                target: *leg,
                                id: *id,
                                verdict: Release::Forward(None),
                            })
                        }
                        (false, Ok(b)) => {
                            action = Some(InspectorAction::Release {
                                target: *leg,
                                id: *id,
                                verdict: Release::Forward(Some(b)),
                            })
                        }
                        (false, Err(e)) => {
                            edit.error = Some(t!("held-not-sent", why = e.to_string()))
                        }
                    }
                }
                if ui.button(L::DROP_HELD).clicked() {
                    action = Some(InspectorAction::Release {
                        target: *leg,
                        id: *id,
                        verdict: Release::Drop,
                    });
                }
            });
        }
        action
    }

    fn live_row(
        &mut self,
        ui: &mut egui::Ui,
        info: &SessionInfo,
        action: &mut Option<InspectorAction>,
    ) {
        ui.horizontal_wrapped(|ui| {
            let v6 = info.family == Some("AF_INET6");
            let shape = match (info.family, info.socktype) {
                (Some(f), Some(t)) => Some(crate::engine::options::SocketShape {
                    inet: f != "AF_UNIX",
                    v6,
                    stream: t == "SOCK_STREAM",
                }),
                _ => None,
            };
            super::option_picker(
                ui,
                "live-opt",
                L::LIVE_OPTION.text(),
                v6,
                shape,
                &mut self.opt,
                &mut self.value,
            );
            if ui.button(L::SET_OPTION).clicked() {
                match SockOpt::parse(self.opt, &self.value) {
                    Ok(o) => {
                        self.error = None;
                        *action = Some(InspectorAction::SetOption(o));
                    }
                    Err(e) => self.error = Some(e),
                }
            }
        });
        if let Some(e) = &self.error {
            ui.colored_label(
                ui.visuals().error_fg_color,
                t!(
                    "option-not-set",
                    why = super::i18n::engine_text(e).into_owned()
                ),
            );
        }
    }
}

/// A relay's rules, each switched on and off live (for every connection).
fn rules_ui(ui: &mut egui::Ui, rules: &[crate::engine::rules::Rule]) -> Option<InspectorAction> {
    ui.separator();
    ui.strong(L::RELAY_RULES);
    if rules.is_empty() {
        ui.weak(L::NO_RULES);
        return None;
    }
    let mut action = None;
    for (index, r) in rules.iter().enumerate() {
        let mut on = r.enabled;
        let text = format!("{index}. {}", super::i18n::rule_text(r));
        if ui.checkbox(&mut on, text).changed() {
            action = Some(InspectorAction::SetRule { index, enabled: on });
        }
    }
    action
}

fn http_ui(ui: &mut egui::Ui, info: &SessionInfo, p: &crate::http::ResponseParser) {
    ui.separator();
    ui.strong(L::HTTP_RESPONSE);
    if let Some(e) = p.error() {
        ui.colored_label(ui.visuals().error_fg_color, e.to_string());
    }
    let r = p.response();
    if r.status == 0 {
        ui.weak(t!("http-waiting"));
        return;
    }
    let ms = |d: Option<std::time::Duration>| match (d, info.connected_at) {
        (Some(t), Some(c)) => format!("{:.3} ms", t.saturating_sub(c).as_secs_f64() * 1000.0),
        _ => "-".into(),
    };
    egui::Grid::new("http-grid")
        .num_columns(2)
        .striped(true)
        .show(ui, |ui| {
            ui.label(t!("http-status"));
            ui.monospace(format!("{} {} {}", r.version, r.status, r.reason));
            ui.end_row();
            ui.label(t!("http-body-row"));
            let extra = format!(
                "{}{}",
                if r.chunked { t!("http-chunked") } else { "" },
                if r.complete {
                    t!("http-complete")
                } else {
                    t!("http-incomplete")
                }
            );
            ui.monospace(t!(
                "http-body-size",
                n = r.body_len.to_string(),
                extra = extra
            ));
            ui.end_row();
            ui.label(t!("http-first-byte"));
            ui.monospace(ms(info.first_rx));
            ui.end_row();
            ui.label(t!("http-last-byte"));
            ui.monospace(ms(info.last_rx));
            ui.end_row();
            for (k, v) in r.headers.iter().take(30) {
                ui.label(k);
                ui.add(egui::Label::new(egui::RichText::new(v).monospace()).wrap());
                ui.end_row();
            }
        });
    if !r.body.is_empty() {
        egui::CollapsingHeader::new(L::HTTP_BODY).show(ui, |ui| {
            let shown = &r.body[..r.body.len().min(4096)];
            let text = info.encoding.decode_escaped(shown, false);
            ui.add(egui::Label::new(egui::RichText::new(text).monospace()).wrap());
        });
    }
}

/// One row of a two-column grid: a label and a monospace value that wraps.
fn kv_row(ui: &mut egui::Ui, k: &str, v: String) {
    ui.label(k);
    ui.add(egui::Label::new(egui::RichText::new(v).monospace()).wrap());
    ui.end_row();
}

/// What the kernel thinks of the connection (TCP_INFO), read a few times
/// a second while it is selected, with rtt and cwnd over time.
/// The System sockets view shows other programs' sockets with the same
/// grid and plots (`id` keeps each socket's widgets apart).
///
/// `None` (nothing read yet) draws the same rows with "-" and the plots
/// empty: the block has its height before the first reading, so what is
/// below it (the live option row) does not move a quarter second after a
/// connect, nor again when the plots would have appeared.
pub(super) fn tcp_info_ui(
    ui: &mut egui::Ui,
    id: impl std::hash::Hash + std::fmt::Debug + Copy,
    read: Option<&crate::engine::tcp_info::TcpInfo>,
    history: &std::collections::VecDeque<(f64, f64, f64)>,
) {
    ui.separator();
    ui.strong(L::TCP_INFO);
    let unread = crate::engine::tcp_info::TcpInfo::default();
    let t = read.unwrap_or(&unread);
    let ms = |us: u32| format!("{:.3} ms", f64::from(us) / 1000.0);
    let opt = |v: Option<u64>| v.map_or("-".to_string(), |v| v.to_string());
    let dur = |v: Option<u64>| v.map_or("-".to_string(), |us| format!("{:.3} s", us as f64 / 1e6));
    egui::Grid::new(("tcp-info", id))
        .num_columns(2)
        .striped(true)
        .show(ui, |ui| {
            for (k, v) in [
                (t!("ti-state"), t.state.to_string()),
                ("rtt", format!("{} ± {}", ms(t.rtt_us), ms(t.rttvar_us))),
                ("min rtt", t.min_rtt_us.map_or("-".into(), ms)),
                ("cwnd", t!("ti-segments", n = t.cwnd)),
                (
                    "ssthresh",
                    if t.ssthresh >= 0x7fff_ffff {
                        t!("ti-slow-start").into()
                    } else {
                        t.ssthresh.to_string()
                    },
                ),
                (
                    t!("ti-retransmits"),
                    t!("ti-retrans-now", now = t.retrans, all = t.total_retrans),
                ),
                (t!("ti-lost"), t.lost.to_string()),
                (t!("ti-unacked"), t.unacked.to_string()),
                (t!("ti-sacked"), t.sacked.to_string()),
                ("pmtu / mss", format!("{} / {}", t.pmtu, t.snd_mss)),
                ("rcv_space", t.rcv_space.to_string()),
                (t!("ti-bytes-acked"), opt(t.bytes_acked)),
                (t!("ti-bytes-received"), opt(t.bytes_received)),
                (t!("ti-not-sent"), opt(t.notsent_bytes.map(u64::from))),
                (
                    t!("ti-delivery-rate"),
                    t.delivery_rate.map_or("-".into(), |r| rate(r as f64)),
                ),
                (t!("ti-busy"), dur(t.busy_us)),
                (t!("ti-rwnd-limited"), dur(t.rwnd_limited_us)),
                (t!("ti-sndbuf-limited"), dur(t.sndbuf_limited_us)),
            ] {
                ui.label(k);
                ui.monospace(if read.is_some() { v.as_str() } else { "-" });
                ui.end_row();
            }
        });
    for (name, unit, pick) in [("rtt", "rtt ms", 0usize), ("cwnd", "cwnd", 1usize)] {
        let pts: Vec<[f64; 2]> = history
            .iter()
            .map(|(t, rtt, cwnd)| [*t, if pick == 0 { *rtt } else { *cwnd }])
            .collect();
        fixed_plot(
            egui_plot::Plot::new((name, id)).height(70.0),
            history.is_empty(),
        )
        .y_axis_label(unit)
        .show(ui, |p| p.line(egui_plot::Line::new(name, pts)));
    }
}

/// A plot drawn from the start, empty until its first figures (so it does
/// not appear later and push down what is below it), with zero at the
/// bottom as with figures (its own empty range is centred on zero), and
/// not dragged or zoomed.
fn fixed_plot(plot: egui_plot::Plot<'_>, empty: bool) -> egui_plot::Plot<'_> {
    let plot = plot.include_y(0.0);
    let plot = if empty {
        plot.include_y(1.0).include_x(0.0).include_x(1.0)
    } else {
        plot
    };
    plot.allow_drag(false).allow_zoom(false).allow_scroll(false)
}

fn tls_ui(ui: &mut egui::Ui, t: &crate::engine::tls::TlsInfo) {
    use crate::engine::tls::Verification;
    ui.separator();
    ui.strong(L::TLS);
    match &t.verification {
        Verification::Verified => {
            ui.label(t!("tls-verified"));
        }
        Verification::NotVerified { would_fail } => {
            let why = match would_fail {
                Some(w) => t!(
                    "tls-not-verified-why",
                    why = super::i18n::engine_text(w).into_owned()
                ),
                None => t!("tls-not-verified-would-pass").to_string(),
            };
            ui.add(
                egui::Label::new(
                    egui::RichText::new(why)
                        .strong()
                        .color(ui.visuals().error_fg_color),
                )
                .wrap(),
            );
        }
        Verification::NoClientAuth => {
            ui.weak(t!("tls-no-client-auth"));
        }
    }
    egui::Grid::new("tls-grid")
        .num_columns(2)
        .striped(true)
        .show(ui, |ui| {
            let mut kv = |k: &str, v: String| kv_row(ui, k, v);
            kv(t!("tls-version"), t.version.clone());
            kv(t!("tls-suite"), t.suite.clone());
            kv(t!("tls-kx"), t.kx.clone().unwrap_or_else(|| "-".into()));
            kv(
                "ALPN",
                t.alpn.clone().unwrap_or_else(|| t!("none-paren").into()),
            );
            kv(
                "SNI",
                t.sni.clone().unwrap_or_else(|| t!("none-paren").into()),
            );
            if !t.trust.is_empty() {
                kv(
                    t!("tls-trusted-roots"),
                    t.trust
                        .split(" + ")
                        .map(|p| super::i18n::engine_text(p).into_owned())
                        .collect::<Vec<_>>()
                        .join(" + "),
                );
            }
        });
    for (i, c) in t.certs.iter().enumerate() {
        let title = if i == 0 {
            t!("tls-peer-cert", subject = c.subject.clone())
        } else {
            t!("tls-chain-cert", i = i, subject = c.subject.clone())
        };
        egui::CollapsingHeader::new(title)
            .id_salt(("tls-cert", i))
            .default_open(i == 0)
            .show(ui, |ui| cert_ui(ui, ("cert", i), c));
    }
}

fn cert_ui(
    ui: &mut egui::Ui,
    salt: impl std::hash::Hash + std::fmt::Debug,
    c: &crate::engine::tls::CertInfo,
) {
    egui::Grid::new(("cert-grid", salt))
        .num_columns(2)
        .striped(true)
        .show(ui, |ui| {
            let mut kv = |k: &str, v: String| kv_row(ui, k, v);
            kv(t!("cert-subject"), c.subject.clone());
            kv(t!("cert-issuer"), c.issuer.clone());
            kv(
                t!("cert-valid"),
                format!(
                    "{}{}",
                    t!(
                        "cert-valid-range",
                        from = c.not_before.to_string(),
                        to = c.not_after.to_string()
                    ),
                    if c.valid_now {
                        ""
                    } else {
                        t!("cert-not-valid-now")
                    }
                ),
            );
            kv("SANs", c.sans.join(", "));
            kv(t!("cert-serial"), c.serial.clone());
            kv("SHA-256", c.sha256.clone());
        });
}

/// Draws what the kernel says about the socket; returns code to copy when
/// the user asked for the session as a program.
fn draw(
    ui: &mut egui::Ui,
    info: &SessionInfo,
    spec: Option<&crate::engine::SessionSpec>,
    tcp: bool,
) -> Option<InspectorAction> {
    ui.heading(format!("{} {}", L::INSPECTOR, info.id));
    let mut copy = None;
    let mut reset = false;
    // socketpair has no equivalent in the call table; everything else does.
    if let Some(spec) = spec.filter(|s| crate::export::exportable(&s.kind)) {
        ui.horizontal(|ui| {
            // The program is built only when asked for, not every frame.
            if ui.button(L::COPY_SESSION_PYTHON).clicked() {
                let calls = crate::export::calls_for_spec(spec);
                let code = crate::export::python(&spec.name, &calls);
                let caveats = crate::export::not_exported(spec);
                copy = Some(crate::export::with_caveats(code, &caveats, true));
            }
            if ui.button(L::COPY_SESSION_RUST).clicked() {
                let calls = crate::export::calls_for_spec(spec);
                let code = crate::export::rust(&spec.name, &calls);
                let caveats = crate::export::not_exported(spec);
                copy = Some(crate::export::with_caveats(code, &caveats, false));
            }
        });
    }
    if info.kind == Kind::Script {
        // A step-mode session is no socket of its own: say its sockets.
        script_sockets(ui, info);
        return copy.map(InspectorAction::Copy);
    }
    egui::Grid::new("inspector-grid")
        .num_columns(2)
        .striped(true)
        .show(ui, |ui| {
            let mut kv = |k: &str, v: String| kv_row(ui, k, v);
            kv(t!("insp-name"), info.name.clone());
            kv(
                t!("insp-kind"),
                super::i18n::kind_name(info.kind).to_string(),
            );
            kv(t!("insp-state"), info.state.label().to_string());
            kv(
                "fd (fileno)",
                info.fd.map(|f| f.to_string()).unwrap_or_else(|| "-".into()),
            );
            let serial = info.kind == Kind::Serial;
            if !serial {
                kv(t!("insp-family"), info.family.unwrap_or("-").to_string());
                kv(t!("insp-type"), info.socktype.unwrap_or("-").to_string());
            }
            if !serial {
                kv(
                    t!("insp-protocol"),
                    match (info.family, info.socktype) {
                        (Some("AF_UNIX"), _) => "0 (AF_UNIX)".into(),
                        (Some(_), Some("SOCK_STREAM")) => "IPPROTO_TCP".into(),
                        (Some(_), Some("SOCK_DGRAM")) => "IPPROTO_UDP".into(),
                        _ => "-".into(),
                    },
                );
            }
            kv(
                if serial { t!("insp-port") } else { "sockname" },
                info.local
                    .as_ref()
                    .map(|a| a.to_string())
                    .unwrap_or_else(|| "-".into()),
            );
            kv(
                if serial {
                    t!("insp-device")
                } else {
                    "peername"
                },
                info.peer
                    .as_ref()
                    .map(|a| a.to_string())
                    .unwrap_or_else(|| "-".into()),
            );
            if !info.resolved.is_empty() {
                let list: Vec<String> = info.resolved.iter().map(|a| a.to_string()).collect();
                kv(t!("insp-resolved"), list.join(", "));
            }
            if let Some(t) = info.connect_time {
                kv(
                    t!("insp-connect-time"),
                    format!("{:.3} ms", t.as_secs_f64() * 1000.0),
                );
            }
            let c = info.shown_counters();
            // A WebSocket or a framed stream counts messages, not calls.
            let messages = info.ws_handshake.is_some()
                || spec.is_some_and(|s| s.framing != crate::engine::framing::Framing::None);
            let (rx, tx) = if messages {
                (t!("insp-messages"), t!("insp-messages"))
            } else {
                (t!("insp-recv-calls"), t!("insp-send-calls"))
            };
            kv(
                t!("insp-received"),
                t!(
                    "insp-bytes-in",
                    bytes = human_bytes(c.bytes_in),
                    n = c.msgs_in,
                    calls = rx
                ),
            );
            kv(
                t!("insp-sent"),
                t!(
                    "insp-bytes-in",
                    bytes = human_bytes(c.bytes_out),
                    n = c.msgs_out,
                    calls = tx
                ),
            );
            kv(
                t!("insp-rates"),
                t!(
                    "insp-rates-value",
                    rx = rate(info.rate_in),
                    tx = rate(info.rate_out)
                ),
            );
            if c.queued_out > 0 || info.write_paused {
                kv(
                    t!("insp-queued"),
                    if info.write_paused {
                        t!("insp-queued-paused", bytes = human_bytes(c.queued_out))
                    } else {
                        human_bytes(c.queued_out)
                    },
                );
            }
            // Always a row of one line (the whole text on hover and in
            // the log): an error appearing above the live option row
            // pushed its setsockopt button down under the cursor that had
            // just clicked it.
            ui.label(t!("insp-last-error"));
            match &info.last_error {
                Some(e) if !matches!(&info.state, State::Closed(CloseReason::Error(c)) if c == e) =>
                {
                    let text = super::i18n::op_error(e);
                    ui.add(
                        egui::Label::new(
                            egui::RichText::new(&text).color(ui.visuals().error_fg_color),
                        )
                        .truncate(),
                    )
                    .on_hover_text(text);
                }
                _ => {
                    ui.weak("-");
                }
            }
            ui.end_row();
            ui.label("");
            ui.horizontal(|ui| {
                reset = ui.small_button(L::RESET_COUNTERS).clicked();
                if info.counters_reset_at.is_some() {
                    ui.weak(t!("insp-since-reset"));
                }
            });
            ui.end_row();
        });
    // Long texts go below the grid, where they can wrap.
    if let State::Closed(reason) = &info.state {
        let color = match reason {
            CloseReason::Error(_) | CloseReason::Panicked(_) => ui.visuals().error_fg_color,
            _ => ui.visuals().text_color(),
        };
        ui.add(
            egui::Label::new(
                egui::RichText::new(t!(
                    "insp-closed",
                    reason = super::i18n::close_reason(reason)
                ))
                .color(color),
            )
            .wrap(),
        );
    }
    for w in &info.warnings {
        ui.add(
            egui::Label::new(
                egui::RichText::new(format!("! {}", super::i18n::engine_text(w)))
                    .color(ui.visuals().warn_fg_color),
            )
            .wrap(),
        );
    }
    // Drawn from the start, empty until the first figures: appearing with
    // them, it pushed what is below (an intercept's Forward button, the
    // live option row) 113 points down under a cursor about to click.
    if info.kind != Kind::Script {
        let ins: Vec<[f64; 2]> = info.rates.iter().map(|(t, i, _)| [*t, *i]).collect();
        let outs: Vec<[f64; 2]> = info.rates.iter().map(|(t, _, o)| [*t, *o]).collect();
        fixed_plot(
            egui_plot::Plot::new(("rates", info.id.session, info.id.child)).height(110.0),
            info.rates.is_empty(),
        )
        .legend(egui_plot::Legend::default())
        .y_axis_label(t!("insp-bytes-per-s"))
        .show(ui, |p| {
            p.line(egui_plot::Line::new(t!("insp-in"), ins));
            p.line(egui_plot::Line::new(t!("insp-out"), outs));
        });
    }
    // A TCP connection's block is there while it may be read (from the
    // connect on), not from the first reading; one closed before any
    // reading has none.
    let read = info.tcp_info.as_ref().map(|(_, t)| t);
    if read.is_some() || (tcp && !info.state.is_closed()) {
        tcp_info_ui(
            ui,
            (info.id.session, info.id.child),
            read,
            &info.tcp_history,
        );
    }
    if let Some(t) = &info.tls {
        tls_ui(ui, t);
    }
    if let Some(h) = &info.ws_handshake {
        ws_handshake_ui(ui, info, h);
    }
    if let Some(id) = &info.tls_identity {
        ui.separator();
        ui.strong(L::TLS_IDENTITY);
        cert_ui(ui, "identity", &id.cert);
        if id.generated {
            ui.weak(t!("tls-generated"));
        }
        if ui.button(L::COPY_CERT_PEM).clicked() {
            ui.ctx().copy_text(id.pem.clone());
        }
    }
    if let Some(p) = &info.http {
        http_ui(ui, info, p);
    }
    if reset {
        return Some(InspectorAction::ResetCounters(info.id));
    }
    copy.map(InspectorAction::Copy)
}

/// The WebSocket opening handshake: the request and response heads as
/// they went, and what was agreed.
fn ws_handshake_ui(ui: &mut egui::Ui, info: &SessionInfo, h: &crate::engine::ws::WsHandshake) {
    ui.separator();
    ui.strong(L::WS_HANDSHAKE);
    egui::Grid::new(("ws-hs", info.id.session, info.id.child))
        .num_columns(2)
        .show(ui, |ui| {
            ui.label(t!("http-status"));
            ui.label(h.status.to_string());
            ui.end_row();
            ui.label(t!("ws-subprotocol"));
            ui.label(h.subprotocol.as_deref().unwrap_or(t!("none-paren")));
            ui.end_row();
            ui.label(t!("ws-extensions"));
            ui.label(h.extensions.as_deref().unwrap_or(t!("none-paren")));
            ui.end_row();
        });
    for (title, head) in [("request", &h.request), ("response", &h.response)] {
        egui::CollapsingHeader::new(if title == "request" {
            t!("ws-request")
        } else {
            t!("ws-response")
        })
        .id_salt(("ws-head", title, info.id.session, info.id.child))
        .show(ui, |ui| {
            ui.add(egui::Label::new(egui::RichText::new(head).monospace()).wrap());
        });
    }
}

/// A serial port's modem lines, live, with DTR and RTS to toggle and a
/// break to send.
fn modem_ui(ui: &mut egui::Ui, info: &SessionInfo) -> Option<InspectorAction> {
    ui.separator();
    ui.strong(L::MODEM_LINES);
    let live = !info.state.is_closed();
    let mut action = None;
    match &info.modem {
        None => {
            ui.weak(t!("not-read-yet"));
        }
        Some(Err(e)) => {
            ui.colored_label(ui.visuals().warn_fg_color, e);
        }
        Some(Ok(l)) => {
            ui.horizontal_wrapped(|ui| {
                for (name, on, theirs) in [
                    (L::DTR.text(), l.dtr, false),
                    (L::RTS.text(), l.rts, false),
                    ("CTS", l.cts, true),
                    ("DSR", l.dsr, true),
                    ("RI", l.ri, true),
                    ("CD", l.cd, true),
                ] {
                    let text = format!("{name} {}", if on { t!("tri-on") } else { t!("tri-off") });
                    if theirs {
                        let color = if on {
                            ui.visuals().strong_text_color()
                        } else {
                            ui.visuals().weak_text_color()
                        };
                        ui.colored_label(color, text)
                            .on_hover_text(t!("modem-theirs"));
                    } else if ui
                        .add_enabled(live, egui::Button::new(text).selected(on))
                        .on_hover_text(t!("modem-ours"))
                        .clicked()
                    {
                        action = Some(if name == L::DTR.text() {
                            InspectorAction::SetLines {
                                dtr: Some(!on),
                                rts: None,
                            }
                        } else {
                            InspectorAction::SetLines {
                                dtr: None,
                                rts: Some(!on),
                            }
                        });
                    }
                }
            });
        }
    }
    if ui
        .add_enabled(live, egui::Button::new(L::SEND_BREAK))
        .on_hover_text(t!("modem-break-help"))
        .clicked()
    {
        action = Some(InspectorAction::Break);
    }
    action
}

/// The options as the kernel reports them, beside what was asked.
fn options_grid(ui: &mut egui::Ui, info: &SessionInfo) {
    if info.options.is_empty() {
        ui.weak(t!("not-read-yet"));
        return;
    }
    // Two columns: what was asked for goes under the kernel's value. A
    // third column for it was cut off in the inspector's width at
    // 1024x700, and it is empty for most options.
    egui::Grid::new("options-grid")
        .num_columns(2)
        .striped(true)
        .show(ui, |ui| {
            ui.strong(t!("opts-option"));
            ui.strong(t!("opts-kernel-says"));
            ui.end_row();
            for o in &info.options {
                ui.monospace(o.name);
                let value = |ui: &mut egui::Ui| match &o.actual {
                    Ok(v) if o.differs() => {
                        ui.colored_label(ui.visuals().warn_fg_color, v)
                            .on_hover_text(t!("opts-changed"));
                    }
                    Ok(v) => {
                        ui.monospace(v);
                    }
                    Err(e) => {
                        ui.add(
                            egui::Label::new(
                                egui::RichText::new(e).color(ui.visuals().error_fg_color),
                            )
                            .wrap(),
                        );
                    }
                };
                match &o.requested {
                    // Stacked only where there is something under it, so
                    // the other values stay level with their names.
                    Some(r) => {
                        ui.vertical(|ui| {
                            value(ui);
                            ui.weak(t!("opts-asked", value = r.as_str()));
                        });
                    }
                    None => value(ui),
                }
                ui.end_row();
            }
        });
}

/// One socket a step-mode script made, as its calls left it.
#[derive(Default)]
struct ScriptSocket {
    fd: Option<i64>,
    local: Option<String>,
    peer: Option<String>,
    state: &'static str,
}

/// The sockets of a step-mode session, worked out from its calls: each
/// variable's fd, last known local and peer address, and what it is now.
fn script_sockets(ui: &mut egui::Ui, info: &SessionInfo) {
    use crate::engine::stepper::{Call, Outcome};
    let mut socks: Vec<(String, ScriptSocket)> = Vec::new();
    let get = |socks: &mut Vec<(String, ScriptSocket)>, v: &str| -> usize {
        match socks.iter().position(|(n, _)| n == v) {
            Some(i) => i,
            None => {
                socks.push((v.to_string(), ScriptSocket::default()));
                socks.len() - 1
            }
        }
    };
    for r in &info.calls {
        let Ok(out) = &r.result else { continue };
        let i = get(&mut socks, r.call.var());
        let s = &mut socks[i].1;
        match (&r.call, out) {
            (Call::Socket { .. }, Outcome::Int(fd)) => {
                *s = ScriptSocket {
                    fd: Some(*fd),
                    state: "open",
                    ..Default::default()
                };
            }
            (Call::Bind { .. }, _) => s.state = "bound",
            (Call::Listen { .. }, _) => s.state = "listening",
            (Call::Connect { .. }, _) => s.state = "connected",
            (Call::GetSockName { .. }, Outcome::Addr(a)) => s.local = Some(a.to_string()),
            (Call::GetPeerName { .. }, Outcome::Addr(a)) => s.peer = Some(a.to_string()),
            (Call::Shutdown { .. }, _) => s.state = "shut down",
            (Call::Close { .. }, _) => s.state = "closed",
            (Call::Accept { .. }, Outcome::Accepted { var, peer, fd }) => {
                let j = get(&mut socks, var);
                socks[j].1 = ScriptSocket {
                    fd: Some(i64::from(*fd)),
                    peer: Some(peer.to_string()),
                    state: "connected",
                    ..Default::default()
                };
            }
            _ => {}
        }
    }
    ui.strong(t!("script-sockets", n = socks.len()));
    if socks.is_empty() {
        ui.weak(t!("script-no-sockets"));
        return;
    }
    // Five columns with addresses are wider than the panel: they scroll
    // on their own. (Left to widen the panel, they pushed its content
    // out past its left edge, under the log.)
    egui::ScrollArea::horizontal()
        .id_salt("script-sockets-scroll")
        .show(ui, |ui| script_grid(ui, &socks));
}

fn script_grid(ui: &mut egui::Ui, socks: &[(String, ScriptSocket)]) {
    egui::Grid::new("script-sockets")
        .num_columns(5)
        .striped(true)
        .show(ui, |ui| {
            for h in [
                t!("script-col-socket"),
                "fd",
                t!("insp-state"),
                t!("script-col-local"),
                t!("script-col-peer"),
            ] {
                ui.strong(h);
            }
            ui.end_row();
            for (name, s) in socks {
                ui.monospace(name);
                ui.monospace(s.fd.map_or("-".into(), |f| f.to_string()));
                ui.label(super::i18n::tr(&format!(
                    "script-state-{}",
                    s.state.replace(' ', "-")
                )));
                ui.monospace(s.local.as_deref().unwrap_or("-"));
                ui.monospace(s.peer.as_deref().unwrap_or("-"));
                ui.end_row();
            }
        });
}
