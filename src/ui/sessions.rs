//! The side list of sessions: a state badge, kind, local -> peer and live
//! byte counters per row, a server's connections nested under it. Rows are
//! virtualised (a server may hold 10,000 children).

use std::collections::HashSet;

use crate::engine::SessionId;

use super::labels as L;
use super::model::{Model, SessionInfo, State};

/// What the list asks the app to do.
#[derive(Debug, PartialEq)]
pub enum ListAction {
    /// Show this session or child.
    Select(SessionId),
    /// Close it gracefully.
    Close(SessionId),
    /// Open the same spec again.
    Reopen(SessionId),
    /// Copy its spec into the form.
    Duplicate(SessionId),
    /// Forget a closed session.
    Forget(SessionId),
    /// Close every open session.
    CloseAll,
}

/// The list's own state.
#[derive(Default)]
pub struct SessionList {
    collapsed: HashSet<SessionId>,
    /// Height its rows took last frame, so the Presets list above can
    /// take the rest instead of a fixed share.
    need: f32,
}

/// A short human size: 1.2 KiB, 3.4 MiB.
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u < UNITS.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

/// The badge color for a state.
pub fn badge_color(state: &State, visuals: &egui::Visuals) -> egui::Color32 {
    match state {
        State::Connected | State::Listening | State::Bound => egui::Color32::from_rgb(60, 160, 80),
        State::Opening | State::Resolving | State::Connecting => {
            egui::Color32::from_rgb(200, 160, 40)
        }
        State::HalfClosed(_) => egui::Color32::from_rgb(90, 140, 200),
        State::Closed(crate::engine::protocol::CloseReason::Error(_))
        | State::Closed(crate::engine::protocol::CloseReason::Panicked(_)) => {
            visuals.error_fg_color
        }
        // An RST, sent or received: orange.
        State::Closed(
            crate::engine::protocol::CloseReason::PeerReset
            | crate::engine::protocol::CloseReason::Aborted,
        ) => egui::Color32::from_rgb(210, 110, 30),
        // The peer's FIN: the blue of a half-close.
        State::Closed(crate::engine::protocol::CloseReason::PeerClosed) => {
            egui::Color32::from_rgb(70, 110, 170)
        }
        State::Closed(_) => visuals.weak_text_color(),
    }
}

fn badge(ui: &mut egui::Ui, state: &State) {
    let color = badge_color(state, ui.visuals());
    ui.label(
        egui::RichText::new(state.label())
            .small()
            .color(egui::Color32::WHITE)
            .background_color(color),
    );
}

fn endpoints(info: &SessionInfo) -> String {
    let l = info
        .local
        .as_ref()
        .map(|a| a.to_string())
        .unwrap_or_else(|| "…".into());
    match &info.peer {
        Some(p) => format!("{l} -> {p}"),
        None => l,
    }
}

impl SessionList {
    /// The height the list's rows asked for last frame.
    pub fn need(&self) -> f32 {
        self.need
    }

    /// Draws the list; `selected` is highlighted.
    pub fn ui(
        &mut self,
        ui: &mut egui::Ui,
        model: &Model,
        selected: Option<SessionId>,
    ) -> Vec<ListAction> {
        let mut actions = Vec::new();
        let top = ui.cursor().top();
        ui.horizontal(|ui| {
            ui.heading(L::SESSIONS);
            if ui
                .add_enabled(
                    !model.open_sessions().is_empty(),
                    egui::Button::new(L::CLOSE_ALL),
                )
                .clicked()
            {
                actions.push(ListAction::CloseAll);
            }
        });
        ui.separator();
        // Flatten into rows so only the visible ones are laid out.
        let mut rows: Vec<SessionId> = Vec::new();
        for &id in model.sessions() {
            rows.push(id);
            if !self.collapsed.contains(&id)
                && let Some(info) = model.get(id)
            {
                rows.extend(info.children.iter().copied());
            }
        }
        // Two lines (name and badges, then addresses and buttons).
        let row_h = ui.spacing().interact_size.y * 2.0 + ui.spacing().item_spacing.y;
        if rows.is_empty() {
            ui.weak(crate::t!("sessions-none"));
            self.need = ui.cursor().top() - top;
            return actions;
        }
        let header = ui.cursor().top() - top;
        let out = egui::ScrollArea::vertical()
            .id_salt("session-list")
            .auto_shrink([false, false])
            .show_rows(ui, row_h, rows.len(), |ui, range| {
                for &id in &rows[range] {
                    let Some(info) = model.get(id) else { continue };
                    self.row(ui, info, selected == Some(id), row_h, &mut actions);
                }
            });
        // What it really took: heading and rows as laid out.
        self.need = header + out.content_size.y;
        actions
    }

    fn row(
        &mut self,
        ui: &mut egui::Ui,
        info: &SessionInfo,
        selected: bool,
        row_h: f32,
        actions: &mut Vec<ListAction>,
    ) {
        let id = info.id;
        let indent = if id.is_child() { 18.0 } else { 0.0 };
        ui.allocate_ui(egui::vec2(ui.available_width(), row_h), |ui| {
            // Every row exactly row_h tall: show_rows counts on it to
            // know which rows are in view and how tall the list is.
            ui.set_min_height(row_h);
            ui.horizontal(|ui| {
                ui.add_space(indent);
                ui.vertical(|ui| {
                    ui.horizontal(|ui| {
                        if !id.is_child() && !info.children.is_empty() {
                            let open = !self.collapsed.contains(&id);
                            if ui.small_button(if open { "-" } else { "+" }).clicked() {
                                if open {
                                    self.collapsed.insert(id);
                                } else {
                                    self.collapsed.remove(&id);
                                }
                            }
                        }
                        badge(ui, &info.state);
                        let tls = match (&info.tls, info.spec.as_ref().and_then(|s| s.tls.as_ref()))
                        {
                            (Some(t), _)
                                if matches!(
                                    t.verification,
                                    crate::engine::tls::Verification::NotVerified { .. }
                                ) =>
                            {
                                crate::t!("sessions-tls-not-verified")
                            }
                            (Some(_), _) | (None, Some(_)) => " · TLS",
                            (None, None) => "",
                        };
                        let exposed = if info.warnings.is_empty() {
                            ""
                        } else {
                            crate::t!("sessions-all-interfaces")
                        };
                        let title = format!(
                            "{} {} · {}{tls}{exposed}",
                            id,
                            info.name,
                            super::i18n::kind_name(info.kind)
                        );
                        // Cut to the panel's width (full text on hover): a
                        // long name must not widen the panel.
                        if ui
                            .add(egui::Button::selectable(selected, title.clone()).truncate())
                            .on_hover_text(title)
                            .clicked()
                        {
                            actions.push(ListAction::Select(id));
                        }
                    });
                    // Buttons keep their place at the right; the
                    // addresses take what is left, cut short if need be.
                    ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
                        if !id.is_child() && ui.small_button(L::DUPLICATE).clicked() {
                            actions.push(ListAction::Duplicate(id));
                        }
                        if !info.state.is_closed() {
                            if ui.small_button(L::CLOSE).clicked() {
                                actions.push(ListAction::Close(id));
                            }
                        } else if !id.is_child() {
                            if ui.small_button(L::FORGET).clicked() {
                                actions.push(ListAction::Forget(id));
                            }
                            if ui.small_button(L::REOPEN).clicked() {
                                actions.push(ListAction::Reopen(id));
                            }
                        }
                        let text = crate::t!(
                            "sessions-row",
                            ends = endpoints(info),
                            rx = human_bytes(info.shown_counters().bytes_in),
                            tx = human_bytes(info.shown_counters().bytes_out)
                        );
                        ui.with_layout(egui::Layout::left_to_right(egui::Align::Center), |ui| {
                            ui.add(
                                egui::Label::new(egui::RichText::new(text.clone()).weak())
                                    .truncate(),
                            )
                            .on_hover_text(text);
                        });
                    });
                });
            });
        });
    }
}
