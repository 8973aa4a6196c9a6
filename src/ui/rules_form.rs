//! The open form's relay rules: a list to edit rule by rule (which way,
//! what to match, what to do and its numbers), or the same rules as the
//! text a preset file writes. Either way the rules become `RuleFile`s and
//! are checked by the preset loader, as a file's are: one validation path.

use std::time::Duration;

use crate::engine::codec::Encoding;
use crate::engine::rules::{MAX_RULES, Rule};
use crate::engine::written::Payload;
use crate::preset::{
    ActionFile, RelayMatchFile as MatchFile, RelayRuleFile as RuleFile, Secs, WayFile,
};

use super::labels as L;
use crate::t;

/// How a payload field reads what is typed in it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum PayloadKind {
    /// As text, in the session's encoding.
    #[default]
    Text,
    /// With escapes (`\r\n`, `\x00`).
    Escaped,
    /// As hex pairs.
    Hex,
}

impl PayloadKind {
    const ALL: [PayloadKind; 3] = [PayloadKind::Text, PayloadKind::Escaped, PayloadKind::Hex];

    fn label(self) -> &'static str {
        match self {
            PayloadKind::Text => L::MODE_TEXT.text(),
            PayloadKind::Escaped => L::MODE_ESCAPED.text(),
            PayloadKind::Hex => L::MODE_HEX.text(),
        }
    }

    fn of(p: &Payload) -> (PayloadKind, String) {
        match p {
            Payload::Text(s) => (PayloadKind::Text, s.clone()),
            Payload::Escaped(s) => (PayloadKind::Escaped, s.clone()),
            Payload::Hex(s) => (PayloadKind::Hex, s.clone()),
        }
    }

    fn payload(self, s: &str) -> Payload {
        match self {
            PayloadKind::Text => Payload::Text(s.to_string()),
            PayloadKind::Escaped => Payload::Escaped(s.to_string()),
            PayloadKind::Hex => Payload::Hex(s.to_string()),
        }
    }
}

/// Which chunks a rule takes, as picked.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum MatchChoice {
    /// Every chunk.
    #[default]
    Every,
    /// The whole chunk is the pattern.
    Equals,
    /// It starts with the pattern.
    StartsWith,
    /// The pattern occurs in it.
    Contains,
    /// A regular expression over its bytes.
    Regex,
}

impl MatchChoice {
    const ALL: [MatchChoice; 5] = [
        MatchChoice::Every,
        MatchChoice::Equals,
        MatchChoice::StartsWith,
        MatchChoice::Contains,
        MatchChoice::Regex,
    ];

    fn label(self) -> &'static str {
        match self {
            MatchChoice::Every => L::RULE_MATCH_EVERY.text(),
            MatchChoice::Equals => L::RULE_MATCH_EQUALS.text(),
            MatchChoice::StartsWith => L::RULE_MATCH_STARTS_WITH.text(),
            MatchChoice::Contains => L::RULE_MATCH_CONTAINS.text(),
            MatchChoice::Regex => L::RULE_MATCH_REGEX.text(),
        }
    }
}

/// What a rule does, as picked (its numbers are typed beside it).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum ActionChoice {
    /// Replace what matched.
    Rewrite,
    /// Throw it away.
    #[default]
    Drop,
    /// Hold it (seconds, jitter).
    Delay,
    /// Bytes per second.
    Throttle,
    /// Writes of a size, a pause apart.
    Slice,
    /// Reset both sides.
    Reset,
    /// Pass the FIN on late.
    SlowClose,
    /// Close after this many bytes.
    Limit,
    /// Forward nothing more.
    BlackHole,
    /// Hold it for the user.
    Intercept,
}

impl ActionChoice {
    const ALL: [ActionChoice; 10] = [
        ActionChoice::Rewrite,
        ActionChoice::Drop,
        ActionChoice::Delay,
        ActionChoice::Throttle,
        ActionChoice::Slice,
        ActionChoice::Reset,
        ActionChoice::SlowClose,
        ActionChoice::Limit,
        ActionChoice::BlackHole,
        ActionChoice::Intercept,
    ];

    fn label(self) -> &'static str {
        match self {
            ActionChoice::Rewrite => L::RULE_DO_REWRITE.text(),
            ActionChoice::Drop => L::RULE_DO_DROP.text(),
            ActionChoice::Delay => L::RULE_DO_DELAY.text(),
            ActionChoice::Throttle => L::RULE_DO_THROTTLE.text(),
            ActionChoice::Slice => L::RULE_DO_SLICE.text(),
            ActionChoice::Reset => L::RULE_DO_RESET.text(),
            ActionChoice::SlowClose => L::RULE_DO_SLOW_CLOSE.text(),
            ActionChoice::Limit => L::RULE_DO_LIMIT.text(),
            ActionChoice::BlackHole => L::RULE_DO_BLACK_HOLE.text(),
            ActionChoice::Intercept => L::RULE_DO_INTERCEPT.text(),
        }
    }

    /// The words before its one or two number fields (none: it has none).
    fn fields(self) -> [Option<L::Key>; 2] {
        match self {
            ActionChoice::Delay => [Some(L::RULE_SECONDS), Some(L::RULE_JITTER)],
            ActionChoice::Throttle => [Some(L::RULE_BYTES_PER_SEC), None],
            ActionChoice::Slice => [Some(L::RULE_SLICE_SIZE), Some(L::RULE_PAUSE)],
            ActionChoice::SlowClose => [Some(L::RULE_SECONDS), None],
            ActionChoice::Limit => [Some(L::RULE_LIMIT_BYTES), None],
            _ => [None, None],
        }
    }
}

/// One rule as typed: every field kept as text until it is checked, so
/// nothing typed is lost to a parse.
#[derive(Clone, Debug, PartialEq)]
pub struct RuleRow {
    /// Switched on.
    pub enabled: bool,
    /// Which way.
    pub way: WayFile,
    /// Which chunks.
    pub matching: MatchChoice,
    /// The pattern (a regex's source, or a payload).
    pub pattern: String,
    /// How the pattern reads.
    pub pattern_kind: PayloadKind,
    /// What to do.
    pub action: ActionChoice,
    /// A rewrite's replacement.
    pub with: String,
    /// How the replacement reads.
    pub with_kind: PayloadKind,
    /// The action's first number (seconds, bytes/s, size, bytes).
    pub a: String,
    /// Its second (jitter, pause).
    pub b: String,
}

impl Default for RuleRow {
    fn default() -> Self {
        RuleRow {
            enabled: true,
            way: WayFile::Both,
            matching: MatchChoice::Every,
            pattern: String::new(),
            pattern_kind: PayloadKind::Text,
            action: ActionChoice::Delay,
            with: String::new(),
            with_kind: PayloadKind::Text,
            a: "0.2".into(),
            b: String::new(),
        }
    }
}

fn secs_text(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s.fract() == 0.0 {
        format!("{s:.1}")
    } else {
        s.to_string()
    }
}

impl RuleRow {
    /// The row a file's rule is shown as.
    pub fn of(f: &RuleFile) -> RuleRow {
        let mut r = RuleRow {
            enabled: f.enabled,
            way: f.to,
            a: String::new(),
            ..RuleRow::default()
        };
        let pattern = match &f.matching {
            None => None,
            Some(MatchFile::Regex(src)) => {
                r.pattern = src.clone();
                Some((MatchChoice::Regex, None))
            }
            Some(MatchFile::Equals(p)) => Some((MatchChoice::Equals, Some(p))),
            Some(MatchFile::StartsWith(p)) => Some((MatchChoice::StartsWith, Some(p))),
            Some(MatchFile::Contains(p)) => Some((MatchChoice::Contains, Some(p))),
        };
        if let Some((choice, payload)) = pattern {
            r.matching = choice;
            if let Some(p) = payload {
                (r.pattern_kind, r.pattern) = PayloadKind::of(p);
            }
        }
        r.action = match &f.action {
            ActionFile::Rewrite(p) => {
                (r.with_kind, r.with) = PayloadKind::of(p);
                ActionChoice::Rewrite
            }
            ActionFile::Drop => ActionChoice::Drop,
            ActionFile::Delay(fixed, jitter) => {
                r.a = secs_text(fixed.0);
                r.b = jitter.map(|j| secs_text(j.0)).unwrap_or_default();
                ActionChoice::Delay
            }
            ActionFile::Throttle(n) => {
                r.a = n.to_string();
                ActionChoice::Throttle
            }
            ActionFile::Slice { size, pause } => {
                r.a = size.to_string();
                r.b = secs_text(pause.0);
                ActionChoice::Slice
            }
            ActionFile::Reset => ActionChoice::Reset,
            ActionFile::SlowClose(d) => {
                r.a = secs_text(d.0);
                ActionChoice::SlowClose
            }
            ActionFile::Limit(n) => {
                r.a = n.to_string();
                ActionChoice::Limit
            }
            ActionFile::BlackHole => ActionChoice::BlackHole,
            ActionFile::Intercept => ActionChoice::Intercept,
        };
        r
    }

    /// The rule as a file writes it; rule `i`'s number that is not one
    /// says so, in the words the loader uses.
    pub fn file(&self, i: usize) -> Result<RuleFile, String> {
        let secs = |s: &str, optional: bool| -> Result<Option<Secs>, String> {
            let s = s.trim();
            if s.is_empty() && optional {
                return Ok(None);
            }
            match s.parse::<f64>() {
                Ok(v) if v.is_finite() && (0.0..=86_400.0 * 365.0).contains(&v) => {
                    Ok(Some(Secs(Duration::from_secs_f64(v))))
                }
                _ => Err(format!("rule {i}: '{s}' is not a number of seconds")),
            }
        };
        let whole = |s: &str| -> Result<u64, String> {
            let s = s.trim();
            s.parse::<u64>()
                .map_err(|_| format!("rule {i}: '{s}' is not a whole number"))
        };
        let must = |v: Option<Secs>| v.unwrap_or(Secs(Duration::ZERO));
        let matching = match self.matching {
            MatchChoice::Every => None,
            MatchChoice::Regex => Some(MatchFile::Regex(self.pattern.clone())),
            m => {
                let p = self.pattern_kind.payload(&self.pattern);
                Some(match m {
                    MatchChoice::Equals => MatchFile::Equals(p),
                    MatchChoice::StartsWith => MatchFile::StartsWith(p),
                    _ => MatchFile::Contains(p),
                })
            }
        };
        let action = match self.action {
            ActionChoice::Rewrite => ActionFile::Rewrite(self.with_kind.payload(&self.with)),
            ActionChoice::Drop => ActionFile::Drop,
            ActionChoice::Delay => {
                ActionFile::Delay(must(secs(&self.a, false)?), secs(&self.b, true)?)
            }
            ActionChoice::Throttle => ActionFile::Throttle(whole(&self.a)?),
            ActionChoice::Slice => ActionFile::Slice {
                size: whole(&self.a)? as usize,
                pause: must(secs(&self.b, false)?),
            },
            ActionChoice::Reset => ActionFile::Reset,
            ActionChoice::SlowClose => ActionFile::SlowClose(must(secs(&self.a, false)?)),
            ActionChoice::Limit => ActionFile::Limit(whole(&self.a)?),
            ActionChoice::BlackHole => ActionFile::BlackHole,
            ActionChoice::Intercept => ActionFile::Intercept,
        };
        Ok(RuleFile {
            to: self.way,
            matching,
            action,
            enabled: self.enabled,
        })
    }
}

/// The rules as the user edits them.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RulesForm {
    /// One row a rule (the list view).
    pub rows: Vec<RuleRow>,
    /// Edited as text instead (the file syntax).
    pub as_text: bool,
    /// The text, while edited as text.
    pub text: String,
    /// Why the last switch between list and text was refused.
    switch_problem: Option<String>,
}

impl RulesForm {
    /// The form's rules from a spec's (Duplicate).
    pub fn load(rules: &[Rule], enc: Encoding) -> RulesForm {
        let files = crate::preset::relay_rule_files(rules, enc);
        RulesForm {
            rows: files.iter().map(RuleRow::of).collect(),
            as_text: false,
            text: crate::preset::relay_rule_files_text(&files),
            switch_problem: None,
        }
    }

    /// The rules as files write them, from whichever view is shown.
    pub fn files(&self) -> Result<Vec<RuleFile>, String> {
        if self.as_text {
            return crate::preset::relay_rule_files_from_text(&self.text);
        }
        self.rows
            .iter()
            .enumerate()
            .map(|(i, r)| r.file(i))
            .collect()
    }

    /// The rules, checked as a file's are.
    pub fn rules(&self, enc: Encoding) -> Result<Vec<Rule>, String> {
        crate::preset::relay_rules_from_files(&self.files()?, enc)
    }

    /// Switches between the list and the text; refused (and said why)
    /// while what is shown does not read, so nothing typed is lost.
    pub fn switch(&mut self) {
        match self.files() {
            Ok(files) => {
                if self.as_text {
                    self.rows = files.iter().map(RuleRow::of).collect();
                } else {
                    self.text = crate::preset::relay_rule_files_text(&files);
                }
                self.as_text = !self.as_text;
                self.switch_problem = None;
            }
            Err(e) => self.switch_problem = Some(e),
        }
    }

    /// Draws the list (or the text) with its buttons. `problem` is the
    /// form's check of the rules (in the user's words already), shown
    /// under them.
    pub fn show(&mut self, ui: &mut egui::Ui, problem: Option<&str>) {
        ui.vertical(|ui| {
            // The buttons sit above the list, where a row added or a view
            // switched does not move them from under the cursor.
            let label = ui
                .horizontal(|ui| {
                    let label = ui.label(L::RELAY_RULES);
                    if !self.as_text {
                        label
                            .clone()
                            .on_hover_text(t!("rules-count", n = self.rows.len()));
                        if ui
                            .add_enabled(
                                self.rows.len() < MAX_RULES,
                                egui::Button::new(L::RULE_ADD),
                            )
                            .clicked()
                        {
                            self.rows.push(RuleRow::default());
                        }
                    }
                    let switch = if self.as_text {
                        L::RULES_AS_LIST
                    } else {
                        L::RULES_AS_TEXT
                    };
                    if ui.button(switch).clicked() {
                        self.switch();
                    }
                    label.id
                })
                .inner;
            if self.as_text {
                self.show_text(ui, label);
            } else {
                self.show_rows(ui);
            }
            let red = ui.visuals().error_fg_color;
            let switch = self.switch_problem.as_deref().map(super::i18n::engine_text);
            for m in switch.as_deref().into_iter().chain(problem) {
                ui.add(egui::Label::new(egui::RichText::new(format!("! {m}")).color(red)).wrap());
            }
        });
    }

    fn show_text(&mut self, ui: &mut egui::Ui, label: egui::Id) {
        ui.add(
            egui::TextEdit::multiline(&mut self.text)
                .desired_width(320.0)
                .desired_rows(3)
                .code_editor()
                .hint_text(t!("form-rules-hint")),
        )
        .on_hover_text(format!(
            "{}\n{RULES_HELP}\n{}",
            t!("form-rules-help-top"),
            t!("form-rules-help-bottom")
        ))
        .labelled_by(label);
    }

    fn show_rows(&mut self, ui: &mut egui::Ui) {
        if self.rows.is_empty() {
            ui.weak(t!("rules-none"));
        }
        let mut act: Option<(usize, RowAction)> = None;
        let n = self.rows.len();
        for (i, r) in self.rows.iter_mut().enumerate() {
            ui.push_id(("rule", i), |ui| {
                ui.group(|ui| {
                    // Rows as wide as the panel, aligned, whatever they hold.
                    ui.set_min_width(ui.available_width());
                    if let Some(a) = r.show(ui, i, n) {
                        act = Some((i, a));
                    }
                });
            });
        }
        match act {
            Some((i, RowAction::Up)) if i > 0 => self.rows.swap(i, i - 1),
            Some((i, RowAction::Down)) if i + 1 < n => self.rows.swap(i, i + 1),
            Some((i, RowAction::Remove)) => {
                self.rows.remove(i);
            }
            _ => {}
        }
    }
}

/// What a row's buttons ask of the list.
enum RowAction {
    Up,
    Down,
    Remove,
}

fn combo<T: Copy + PartialEq>(
    ui: &mut egui::Ui,
    salt: &str,
    value: &mut T,
    all: &[T],
    label: impl Fn(T) -> &'static str,
    width: f32,
) -> egui::Response {
    egui::ComboBox::from_id_salt(salt)
        .selected_text(label(*value))
        .width(width)
        .height(f32::INFINITY)
        .show_ui(ui, |ui| {
            for v in all {
                ui.selectable_value(value, *v, label(*v));
            }
        })
        .response
}

impl RuleRow {
    fn show(&mut self, ui: &mut egui::Ui, i: usize, n: usize) -> Option<RowAction> {
        let mut act = None;
        // Lines short enough for the form's column at 1024 px; the combo
        // boxes read as words ("to client", "delay", "contains"), so they
        // need no label on screen, only a name for screen readers.
        ui.horizontal(|ui| {
            ui.strong(format!("{i}."));
            ui.checkbox(&mut self.enabled, L::RULE_ON);
            combo(
                ui,
                "way",
                &mut self.way,
                &[WayFile::Server, WayFile::Client, WayFile::Both],
                |w| match w {
                    WayFile::Server => L::RULE_WAY_SERVER.text(),
                    WayFile::Client => L::RULE_WAY_CLIENT.text(),
                    WayFile::Both => L::RULE_WAY_BOTH.text(),
                },
                88.0,
            )
            .accessible_name(L::RULE_WAY.text());
            if ui
                .add_enabled(i > 0, egui::Button::new("↑"))
                .on_hover_text(L::RULE_MOVE_UP.text())
                .accessible_name(L::RULE_MOVE_UP.text())
                .clicked()
            {
                act = Some(RowAction::Up);
            }
            if ui
                .add_enabled(i + 1 < n, egui::Button::new("↓"))
                .on_hover_text(L::RULE_MOVE_DOWN.text())
                .accessible_name(L::RULE_MOVE_DOWN.text())
                .clicked()
            {
                act = Some(RowAction::Down);
            }
            if ui
                .button("×")
                .on_hover_text(L::RULE_REMOVE.text())
                .accessible_name(L::RULE_REMOVE.text())
                .clicked()
            {
                act = Some(RowAction::Remove);
            }
        });
        let before = self.action;
        ui.horizontal(|ui| {
            combo(
                ui,
                "action",
                &mut self.action,
                &ActionChoice::ALL,
                ActionChoice::label,
                92.0,
            )
            .accessible_name(L::RULE_ACTION.text());
            if let [Some(key), _] = self.action.fields() {
                let label = ui.label(key);
                ui.add(egui::TextEdit::singleline(&mut self.a).desired_width(56.0))
                    .labelled_by(label.id);
            }
        });
        if self.action != before {
            // Numbers meant for another action would mislead.
            (self.a, self.b) = match self.action {
                ActionChoice::Delay | ActionChoice::SlowClose => ("0.2".into(), String::new()),
                ActionChoice::Throttle => ("1024".into(), String::new()),
                ActionChoice::Slice => ("1".into(), "0.01".into()),
                ActionChoice::Limit => ("1000".into(), String::new()),
                _ => (String::new(), String::new()),
            };
        }
        if let [_, Some(key)] = self.action.fields() {
            ui.horizontal(|ui| {
                let label = ui.label(key);
                ui.add(egui::TextEdit::singleline(&mut self.b).desired_width(56.0))
                    .labelled_by(label.id);
            });
        }
        if self.action == ActionChoice::Rewrite {
            ui.horizontal(|ui| {
                let with = ui.label(L::RULE_REWRITE_WITH);
                ui.add(egui::TextEdit::singleline(&mut self.with).desired_width(90.0))
                    .labelled_by(with.id);
                combo(
                    ui,
                    "with-kind",
                    &mut self.with_kind,
                    &PayloadKind::ALL,
                    PayloadKind::label,
                    64.0,
                )
                .accessible_name(L::RULE_WITH_AS.text());
            });
        }
        ui.horizontal(|ui| {
            combo(
                ui,
                "match",
                &mut self.matching,
                &MatchChoice::ALL,
                MatchChoice::label,
                92.0,
            )
            .accessible_name(L::RULE_MATCH.text());
            if self.matching != MatchChoice::Every {
                let hint = if self.matching == MatchChoice::Regex {
                    "GET (\\S+)"
                } else {
                    "GET"
                };
                ui.add(
                    egui::TextEdit::singleline(&mut self.pattern)
                        .desired_width(80.0)
                        .hint_text(hint),
                )
                .accessible_name(L::RULE_PATTERN.text());
                if self.matching != MatchChoice::Regex {
                    combo(
                        ui,
                        "pattern-kind",
                        &mut self.pattern_kind,
                        &PayloadKind::ALL,
                        PayloadKind::label,
                        64.0,
                    )
                    .accessible_name(L::RULE_PATTERN_AS.text());
                }
            }
        });
        act
    }
}

/// The rules field's help: the file syntax, which it is (a preset file's
/// words, so not translated; the lines around it are).
const RULES_HELP: &str = "[\n\
  (to: Server, match: Contains(Text(\"GET\")), action: Delay(0.2, Some(0.05))),\n\
  (to: Client, match: Regex(\"Host: (\\\\S+)\"), action: Rewrite(Text(\"Host: x\"))),\n\
  (action: Throttle(1024), enabled: false),\n\
]\n\
to: Server, Client, Both. match: Equals, StartsWith, Contains, Regex.\n\
action: Rewrite, Drop, Delay(secs, Some(jitter)), Throttle(bytes/s), Slice(size:, pause:),\n\
Reset, SlowClose(secs), Limit(bytes), BlackHole, Intercept.";

#[cfg(test)]
mod tests {
    use super::*;

    /// Every rule a file can hold comes back the same through a row.
    #[test]
    fn a_file_rule_and_its_row_round_trip() {
        let text = r#"[
            (to: Server, match: Regex("GET (\\S+)"), action: Rewrite(Text("GET /v2$1"))),
            (to: Client, match: Contains(Hex("de ad")), action: Delay(0.25, Some(0.05))),
            (match: Equals(Escaped("a\\r\\n")), action: Drop, enabled: false),
            (action: Throttle(1024)), (action: Slice(size: 3, pause: 0.01)),
            (action: Reset), (to: Server, action: SlowClose(2.0)), (action: Limit(100)),
            (match: StartsWith(Text("!")), action: BlackHole), (action: Intercept),
        ]"#;
        let files = crate::preset::relay_rule_files_from_text(text).unwrap();
        assert_eq!(files.len(), 10);
        for (i, f) in files.iter().enumerate() {
            assert_eq!(&RuleRow::of(f).file(i).unwrap(), f, "rule {i}");
        }
        // And through the list and the text views.
        let mut form = RulesForm {
            as_text: true,
            text: text.into(),
            ..RulesForm::default()
        };
        form.switch();
        assert!(!form.as_text);
        assert_eq!(form.rows.len(), 10);
        assert_eq!(form.files().unwrap(), files);
        form.switch();
        assert_eq!(
            crate::preset::relay_rule_files_from_text(&form.text).unwrap(),
            files
        );
    }

    /// A number that does not read keeps the view (nothing typed is lost)
    /// and says which rule; the loader's own checks come after.
    #[test]
    fn a_bad_number_is_named_and_keeps_the_list() {
        let mut form = RulesForm {
            rows: vec![RuleRow::default(), RuleRow::default()],
            ..RulesForm::default()
        };
        form.rows[1].a = "0.2x".into();
        assert_eq!(
            form.files().unwrap_err(),
            "rule 1: '0.2x' is not a number of seconds"
        );
        form.switch();
        assert!(!form.as_text, "refused");
        assert_eq!(form.rows[1].a, "0.2x", "kept as typed");
        form.rows[1].a = "9999".into();
        let e = form.rules(Encoding::default()).unwrap_err();
        assert!(e.contains("at most 600 seconds"), "{e}");
        form.rows[1].action = ActionChoice::Throttle;
        form.rows[1].a = "-1".into();
        assert_eq!(
            form.files().unwrap_err(),
            "rule 1: '-1' is not a whole number"
        );
    }
}
