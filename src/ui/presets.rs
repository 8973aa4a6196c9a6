//! The presets panel: built-in examples (read-only, always there) and the
//! user's own presets: open (one or several), save the selected session,
//! rename, delete with undo, import and export.

use std::collections::BTreeSet;
use std::path::PathBuf;

use crate::engine::SessionSpec;
use crate::preset;
use crate::store::UserPreset;

use super::labels as L;
use super::store_worker::StoreRequest;
use crate::t;

/// What the panel asks the app to do.
#[derive(Debug)]
pub enum PresetAction {
    /// Open these sessions, in order.
    Open(Vec<SessionSpec>),
    /// Ask the store.
    Store(StoreRequest),
}

/// The panel's state.
pub struct PresetsPanel {
    builtins: Vec<(&'static str, Result<SessionSpec, String>)>,
    /// The user's presets as last listed.
    pub user: Vec<UserPreset>,
    picked: BTreeSet<String>,
    /// Name typed for "save as preset".
    pub save_name: String,
    /// A save that needs "replace?" confirmed.
    pub pending_replace: Option<Box<SessionSpec>>,
    renaming: Option<(String, String)>,
    confirm_delete: Option<String>,
    /// The last deleted preset, for undo.
    pub last_deleted: Option<(String, Vec<u8>)>,
    /// Path for import/export.
    pub file_path: String,
    /// Sessions of the last workspace, when not reopened at start.
    pub last_workspace: Vec<SessionSpec>,
    /// Reopen the open sessions when the app starts next.
    pub reopen_next_time: bool,
    /// Whether a store is attached (no store: presets cannot be saved).
    pub has_store: bool,
}

impl Default for PresetsPanel {
    fn default() -> Self {
        PresetsPanel {
            builtins: preset::builtins()
                .into_iter()
                .map(|(stem, r)| (stem, r.map_err(|e| e.to_string())))
                .collect(),
            user: Vec::new(),
            picked: BTreeSet::new(),
            save_name: String::new(),
            pending_replace: None,
            renaming: None,
            confirm_delete: None,
            last_deleted: None,
            file_path: String::new(),
            last_workspace: Vec::new(),
            reopen_next_time: false,
            has_store: false,
        }
    }
}

impl PresetsPanel {
    /// Draws the panel; `current` is the selected session's spec.
    pub fn ui(&mut self, ui: &mut egui::Ui, current: Option<&SessionSpec>) -> Vec<PresetAction> {
        let mut out = Vec::new();
        if !self.last_workspace.is_empty() {
            ui.horizontal_wrapped(|ui| {
                ui.label(t!("presets-last-workspace", n = self.last_workspace.len()));
                if ui.button(L::OPEN_LAST_WORKSPACE).clicked() {
                    out.push(PresetAction::Open(std::mem::take(&mut self.last_workspace)));
                }
            });
        }
        if self.has_store {
            ui.checkbox(&mut self.reopen_next_time, L::REOPEN_NEXT_TIME);
            self.save_ui(ui, current, &mut out);
        } else {
            ui.weak(t!("presets-no-config"));
        }
        if self.has_store {
            ui.separator();
            ui.strong(t!("presets-yours"));
            if self.user.is_empty() {
                ui.weak(t!("presets-none-yet"));
            }
            let user = std::mem::take(&mut self.user);
            for p in &user {
                self.user_row(ui, p, &mut out);
            }
            self.user = user;
            if let Some((name, bytes)) = &self.last_deleted {
                ui.horizontal(|ui| {
                    ui.label(t!("presets-deleted", name = name.clone()));
                    if ui.button(L::UNDO).clicked() {
                        out.push(PresetAction::Store(StoreRequest::Restore {
                            name: name.clone(),
                            bytes: bytes.clone(),
                        }));
                    }
                });
                if out
                    .iter()
                    .any(|a| matches!(a, PresetAction::Store(StoreRequest::Restore { .. })))
                {
                    self.last_deleted = None;
                }
            }
            ui.separator();
            ui.horizontal_wrapped(|ui| {
                let l = ui.label(L::PRESET_FILE);
                ui.add(
                    egui::TextEdit::singleline(&mut self.file_path)
                        .hint_text(t!("presets-file-hint"))
                        .desired_width(180.0),
                )
                .labelled_by(l.id);
                let path = self.file_path.trim();
                if ui
                    .add_enabled(!path.is_empty(), egui::Button::new(L::IMPORT))
                    .clicked()
                {
                    out.push(PresetAction::Store(StoreRequest::Import(PathBuf::from(
                        path,
                    ))));
                }
            });
        }
        ui.separator();
        ui.strong(t!("presets-builtin"));
        for (stem, spec) in &self.builtins {
            ui.horizontal(|ui| {
                let key = format!("builtin:{stem}");
                let mut on = self.picked.contains(&key);
                if ui
                    .checkbox(&mut on, "")
                    .on_hover_text(t!("presets-pick"))
                    .changed()
                {
                    if on {
                        self.picked.insert(key.clone());
                    } else {
                        self.picked.remove(&key);
                    }
                }
                match spec {
                    Ok(s) => {
                        if ui.button(*stem).on_hover_text(s.kind.label()).clicked() {
                            out.push(PresetAction::Open(vec![s.clone()]));
                        }
                    }
                    Err(e) => {
                        ui.colored_label(ui.visuals().error_fg_color, format!("{stem}: {e}"));
                    }
                }
            });
        }
        let picked: Vec<SessionSpec> = self.picked.iter().filter_map(|k| self.lookup(k)).collect();
        if ui
            .add_enabled(picked.len() > 1, egui::Button::new(L::OPEN_PICKED))
            .clicked()
        {
            out.push(PresetAction::Open(picked));
            self.picked.clear();
        }
        out
    }

    fn lookup(&self, key: &str) -> Option<SessionSpec> {
        if let Some(stem) = key.strip_prefix("builtin:") {
            return self
                .builtins
                .iter()
                .find(|(s, _)| *s == stem)
                .and_then(|(_, r)| r.as_ref().ok().cloned());
        }
        let name = key.strip_prefix("user:")?;
        self.user
            .iter()
            .find(|p| p.name == name)
            .and_then(|p| p.loaded.as_ref().ok().cloned())
    }

    fn save_ui(
        &mut self,
        ui: &mut egui::Ui,
        current: Option<&SessionSpec>,
        out: &mut Vec<PresetAction>,
    ) {
        if let Some(spec) = self.pending_replace.clone() {
            ui.horizontal_wrapped(|ui| {
                ui.colored_label(
                    ui.visuals().warn_fg_color,
                    t!("presets-exists", name = spec.name.clone()),
                );
                if ui.button(L::REPLACE).clicked() {
                    out.push(PresetAction::Store(StoreRequest::Save {
                        spec: spec.clone(),
                        replace: true,
                    }));
                    self.pending_replace = None;
                }
                if ui.button(L::CANCEL).clicked() {
                    self.pending_replace = None;
                }
            });
            return;
        }
        ui.horizontal_wrapped(|ui| {
            let l = ui.label(L::PRESET_NAME);
            ui.add(
                egui::TextEdit::singleline(&mut self.save_name)
                    .hint_text(current.map_or(t!("presets-select-session"), |s| s.name.as_str()))
                    .desired_width(150.0),
            )
            .labelled_by(l.id);
            let name = if self.save_name.trim().is_empty() {
                current.map(|s| s.name.clone()).unwrap_or_default()
            } else {
                self.save_name.trim().to_string()
            };
            let valid = crate::store::file_stem(&name);
            let enabled = current.is_some() && valid.is_ok();
            let resp = ui.add_enabled(enabled, egui::Button::new(L::SAVE_PRESET));
            let resp = match (&valid, current) {
                (_, None) => resp.on_disabled_hover_text(t!("presets-select-first")),
                (Err(e), _) => resp.on_disabled_hover_text(e.to_string()),
                _ => resp,
            };
            if resp.clicked()
                && let Some(spec) = current
            {
                let mut spec = spec.clone();
                spec.name = name;
                out.push(PresetAction::Store(StoreRequest::Save {
                    spec: Box::new(spec),
                    replace: false,
                }));
                self.save_name.clear();
            }
        });
    }

    fn user_row(&mut self, ui: &mut egui::Ui, p: &UserPreset, out: &mut Vec<PresetAction>) {
        ui.horizontal_wrapped(|ui| {
            let key = format!("user:{}", p.name);
            match &p.loaded {
                Ok(spec) => {
                    let mut on = self.picked.contains(&key);
                    if ui.checkbox(&mut on, "").changed() {
                        if on {
                            self.picked.insert(key.clone());
                        } else {
                            self.picked.remove(&key);
                        }
                    }
                    if let Some((old, new)) = &mut self.renaming
                        && *old == p.name
                    {
                        ui.add(egui::TextEdit::singleline(new).desired_width(120.0));
                        if ui.small_button(L::RENAME).clicked() {
                            out.push(PresetAction::Store(StoreRequest::Rename {
                                old: old.clone(),
                                new: new.clone(),
                            }));
                            self.renaming = None;
                        } else if ui.small_button(L::CANCEL).clicked() {
                            self.renaming = None;
                        }
                        return;
                    }
                    if ui
                        .button(&p.name)
                        .on_hover_text(spec.kind.label())
                        .clicked()
                    {
                        out.push(PresetAction::Open(vec![spec.clone()]));
                    }
                    if ui.small_button(L::RENAME).clicked() {
                        self.renaming = Some((p.name.clone(), p.name.clone()));
                    }
                    if ui.small_button(L::COPY_PRESET).clicked() {
                        let mut copy = spec.clone();
                        copy.name = format!("{} copy", p.name);
                        out.push(PresetAction::Store(StoreRequest::Save {
                            spec: Box::new(copy),
                            replace: false,
                        }));
                    }
                    let path = self.file_path.trim();
                    if ui
                        .add_enabled(!path.is_empty(), egui::Button::new(L::EXPORT).small())
                        .on_disabled_hover_text(t!("presets-type-path"))
                        .clicked()
                    {
                        out.push(PresetAction::Store(StoreRequest::Export {
                            spec: Box::new(spec.clone()),
                            path: PathBuf::from(path),
                        }));
                    }
                }
                Err(e) => {
                    ui.colored_label(
                        ui.visuals().error_fg_color,
                        t!(
                            "presets-does-not-load",
                            path = p.path.display().to_string(),
                            why = e.to_string()
                        ),
                    );
                }
            }
            if self.confirm_delete.as_deref() == Some(p.name.as_str()) {
                if ui.small_button(L::CONFIRM_DELETE).clicked() {
                    out.push(PresetAction::Store(StoreRequest::Delete(p.name.clone())));
                    self.confirm_delete = None;
                }
                if ui.small_button(L::CANCEL).clicked() {
                    self.confirm_delete = None;
                }
            } else if p.loaded.is_ok() && ui.small_button(L::DELETE).clicked() {
                self.confirm_delete = Some(p.name.clone());
            }
        });
    }
}
