//! The responder part of the new-session form: echo, a fixed reply, the
//! time, or a table of request -> reply, with reply delay and templates.
//! What is typed is checked by the same code that checks preset files, so
//! the form and a file can never disagree on what is valid.

use std::time::Duration;

use crate::engine::checksum::{ByteOrder, Checksum, Trailer};
use crate::engine::codec::Encoding;
use crate::engine::respond::{Match, Responder, TEMPLATE_FIELDS};
use crate::engine::written::Typed;
use crate::preset::{self, ChecksumFile, MatchFile, Payload, ResponderFile, RuleFile};

use super::labels as L;
use crate::t;

/// Which responder the form builds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum ReplyKind {
    /// No automatic replies.
    #[default]
    None,
    /// Echo.
    Echo,
    /// One fixed reply.
    Fixed,
    /// The local time.
    Time,
    /// Request -> reply rules.
    Canned,
}

impl ReplyKind {
    const ALL: [(ReplyKind, L::Key); 5] = [
        (ReplyKind::None, L::RESPONDER_NONE),
        (ReplyKind::Echo, L::RESPONDER_ECHO),
        (ReplyKind::Fixed, L::RESPONDER_FIXED),
        (ReplyKind::Time, L::RESPONDER_TIME),
        (ReplyKind::Canned, L::RESPONDER_CANNED),
    ];
}

/// How a rule compares, in words (Exact, Prefix, ... in a preset file).
fn match_name(m: MatchFile) -> &'static str {
    match m {
        MatchFile::Exact => t!("match-exact"),
        MatchFile::Prefix => t!("match-prefix"),
        MatchFile::Contains => t!("match-contains"),
        MatchFile::Regex => t!("match-regex"),
    }
}

/// One row of the rules table, as typed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RuleRow {
    /// How the request is compared.
    pub matching: MatchFile,
    /// The request: escaped text (`\n`, `\xNN`), or a regular expression.
    pub request: String,
    /// The reply, escaped text.
    pub reply: String,
    /// Close after this reply.
    pub close: bool,
}

/// The responder fields, as typed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResponderForm {
    /// Which responder.
    pub kind: ReplyKind,
    /// The fixed reply (escaped text).
    pub fixed: String,
    /// Close after the fixed reply.
    pub close_after: bool,
    /// The rules.
    pub rules: Vec<RuleRow>,
    /// Reply when no rule matches (escaped text; empty: stay silent).
    pub default: String,
    /// Message delimiter (escaped text; empty: each received chunk).
    pub delimiter: String,
    /// Replies are templates.
    pub template: bool,
    /// Seconds to hold each reply.
    pub delay: String,
    /// A checksum appended to every reply.
    pub checksum: Checksum,
    /// Its byte order.
    pub checksum_order: ByteOrder,
}

impl Default for ResponderForm {
    fn default() -> Self {
        ResponderForm {
            kind: ReplyKind::None,
            fixed: "thank you !".into(),
            close_after: false,
            rules: vec![RuleRow {
                matching: MatchFile::Exact,
                request: "Hello".into(),
                reply: "nihao".into(),
                close: false,
            }],
            default: String::new(),
            delimiter: String::new(),
            template: false,
            delay: String::new(),
            checksum: Checksum::None,
            checksum_order: ByteOrder::Big,
        }
    }
}

fn escaped(s: &str) -> Payload {
    Payload::Escaped(s.to_string())
}

impl ResponderForm {
    /// Fills the form from a session's responder (Duplicate, presets).
    pub fn load(r: &Responder, delay: Option<Duration>, enc: Encoding) -> ResponderForm {
        let text = |b: &Typed| b.escaped_text(enc);
        let mut f = ResponderForm {
            delay: delay
                .map(|d| d.as_secs_f64().to_string())
                .unwrap_or_default(),
            ..ResponderForm::default()
        };
        match r {
            Responder::None => {}
            Responder::Echo => f.kind = ReplyKind::Echo,
            Responder::Time => f.kind = ReplyKind::Time,
            Responder::Fixed(r) => {
                f.kind = ReplyKind::Fixed;
                (f.checksum, f.checksum_order) = (r.checksum.checksum, r.checksum.order);
                f.fixed = text(&r.data);
                f.close_after = r.close;
                f.template = r.template;
            }
            Responder::Canned(c) => {
                f.kind = ReplyKind::Canned;
                f.rules = c
                    .rules
                    .iter()
                    .map(|r| RuleRow {
                        matching: MatchFile::from(&r.matching),
                        request: match &r.matching {
                            Match::Regex(re) => re.as_str().to_string(),
                            _ => text(&r.pattern),
                        },
                        reply: text(&r.reply.data),
                        close: r.reply.close,
                    })
                    .collect();
                f.default = c
                    .default
                    .as_ref()
                    .map(|d| text(&d.data))
                    .unwrap_or_default();
                f.delimiter = c.delimiter.as_ref().map(text).unwrap_or_default();
                if let Some(t) = c
                    .rules
                    .iter()
                    .map(|r| r.reply.checksum)
                    .chain(c.default.as_ref().map(|d| d.checksum))
                    .find(|t| !t.is_none())
                {
                    (f.checksum, f.checksum_order) = (t.checksum, t.order);
                }
                f.template = c.rules.iter().any(|r| r.reply.template)
                    || c.default.as_ref().is_some_and(|d| d.template);
            }
        }
        f
    }

    /// The responder and reply delay, or what is wrong.
    pub fn validate(&self, enc: Encoding) -> Result<(Responder, Option<Duration>), String> {
        let checksum = ChecksumFile::of(Trailer {
            checksum: self.checksum,
            order: self.checksum_order,
        });
        let file = match self.kind {
            ReplyKind::None => ResponderFile::None,
            ReplyKind::Echo => ResponderFile::Echo,
            ReplyKind::Time => ResponderFile::Time,
            ReplyKind::Fixed => ResponderFile::Fixed {
                reply: escaped(&self.fixed),
                close_after: self.close_after,
                template: self.template,
                checksum,
            },
            ReplyKind::Canned => {
                if self.rules.is_empty() && self.default.is_empty() {
                    return Err(t!("responder-add-rule").into());
                }
                ResponderFile::Canned {
                    rules: self
                        .rules
                        .iter()
                        .map(|r| RuleFile {
                            matching: r.matching,
                            request: if r.matching == MatchFile::Regex {
                                Payload::Text(r.request.clone())
                            } else {
                                escaped(&r.request)
                            },
                            reply: escaped(&r.reply),
                            close: r.close,
                        })
                        .collect(),
                    default: (!self.default.is_empty()).then(|| escaped(&self.default)),
                    delimiter: (!self.delimiter.is_empty()).then(|| escaped(&self.delimiter)),
                    template: self.template,
                    checksum,
                }
            }
        };
        let responder = preset::responder_spec(file, enc).map_err(|(_, m)| m)?;
        let delay = match self.delay.trim() {
            "" => None,
            s => match s.parse::<f64>() {
                Ok(v)
                    if v.is_finite()
                        && (0.0..=preset::MAX_REPLY_DELAY.as_secs_f64()).contains(&v) =>
                {
                    (v > 0.0).then(|| Duration::from_secs_f64(v))
                }
                _ => {
                    return Err(t!(
                        "responder-bad-delay",
                        value = s,
                        max = preset::MAX_REPLY_DELAY.as_secs()
                    ));
                }
            },
        };
        if delay.is_some() && responder == Responder::None {
            return Err(t!("responder-delay-needs").into());
        }
        Ok((responder, delay))
    }

    /// Draws the responder fields; `problem` is the validation message.
    pub fn ui(&mut self, ui: &mut egui::Ui, problem: Option<&str>) {
        ui.horizontal_wrapped(|ui| {
            ui.label(L::RESPONDER);
            for (k, label) in ReplyKind::ALL {
                ui.selectable_value(&mut self.kind, k, label);
            }
        });
        match self.kind {
            ReplyKind::None => {}
            ReplyKind::Echo | ReplyKind::Time => self.delay_row(ui),
            ReplyKind::Fixed => {
                ui.horizontal(|ui| {
                    let label = ui.label(L::REPLY);
                    ui.add(
                        egui::TextEdit::singleline(&mut self.fixed)
                            .desired_width(220.0)
                            .font(egui::TextStyle::Monospace),
                    )
                    .labelled_by(label.id);
                    ui.checkbox(&mut self.close_after, t!("responder-close-after"));
                });
                self.template_row(ui);
                self.checksum_row(ui);
                self.delay_row(ui);
            }
            ReplyKind::Canned => {
                self.rules_ui(ui);
                self.template_row(ui);
                self.checksum_row(ui);
                self.delay_row(ui);
            }
        }
        if let Some(m) = problem {
            ui.colored_label(ui.visuals().error_fg_color, format!("! {m}"));
        }
    }

    fn rules_ui(&mut self, ui: &mut egui::Ui) {
        let mut remove = None;
        // One rule per two lines: the side panel is narrow and a request
        // or reply needs the width to be readable.
        for (i, r) in self.rules.iter_mut().enumerate() {
            ui.horizontal(|ui| {
                egui::ComboBox::from_id_salt(("rule-match", i))
                    .width(80.0)
                    .selected_text(match_name(r.matching))
                    .show_ui(ui, |ui| {
                        for m in [
                            MatchFile::Exact,
                            MatchFile::Prefix,
                            MatchFile::Contains,
                            MatchFile::Regex,
                        ] {
                            ui.selectable_value(&mut r.matching, m, match_name(m));
                        }
                    });
                ui.add(
                    egui::TextEdit::singleline(&mut r.request)
                        .id_salt(("rule-req", i))
                        .desired_width(f32::INFINITY)
                        .font(egui::TextStyle::Monospace)
                        .hint_text(if r.matching == MatchFile::Regex {
                            "^GET (\\S+)"
                        } else {
                            t!("responder-request-hint")
                        }),
                );
            });
            ui.horizontal(|ui| {
                ui.label("  ->");
                ui.add(
                    egui::TextEdit::singleline(&mut r.reply)
                        .id_salt(("rule-reply", i))
                        .desired_width(ui.available_width() - 90.0)
                        .font(egui::TextStyle::Monospace)
                        .hint_text(t!("responder-reply-hint")),
                );
                ui.checkbox(&mut r.close, t!("responder-close"));
                if ui
                    .small_button("x")
                    .on_hover_text(t!("responder-remove-rule"))
                    .clicked()
                {
                    remove = Some(i);
                }
            });
        }
        if let Some(i) = remove {
            self.rules.remove(i);
        }
        ui.horizontal_wrapped(|ui| {
            if ui.button(L::ADD_RULE).clicked() {
                self.rules.push(RuleRow::default());
            }
            let label = ui.label(L::DEFAULT_REPLY);
            ui.add(
                egui::TextEdit::singleline(&mut self.default)
                    .desired_width(100.0)
                    .font(egui::TextStyle::Monospace)
                    .hint_text(t!("responder-silent")),
            )
            .labelled_by(label.id);
            let label = ui.label(L::DELIMITER);
            ui.add(
                egui::TextEdit::singleline(&mut self.delimiter)
                    .desired_width(50.0)
                    .font(egui::TextStyle::Monospace)
                    .hint_text("\\n"),
            )
            .labelled_by(label.id);
        });
        ui.weak(t!("responder-canned-help"));
    }

    fn template_row(&mut self, ui: &mut egui::Ui) {
        ui.checkbox(&mut self.template, L::REPLY_TEMPLATE)
            .on_hover_text(t!(
                "responder-template-help",
                fields = format!("{{{}}}", TEMPLATE_FIELDS.join("}, {"))
            ));
    }

    fn checksum_row(&mut self, ui: &mut egui::Ui) {
        super::checksum_picker::show(
            ui,
            "responder-checksum",
            L::REPLY_CHECKSUM.text(),
            &mut self.checksum,
            &mut self.checksum_order,
        );
    }

    fn delay_row(&mut self, ui: &mut egui::Ui) {
        ui.horizontal(|ui| {
            let label = ui.label(L::REPLY_DELAY);
            ui.add(
                egui::TextEdit::singleline(&mut self.delay)
                    .desired_width(50.0)
                    .hint_text("0"),
            )
            .labelled_by(label.id);
            ui.weak(t!("responder-delay-hint"));
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_chat_server_round_trips_through_the_form() {
        let spec = crate::preset::builtins()
            .into_iter()
            .find(|(n, _)| *n == "chat-server")
            .unwrap()
            .1
            .unwrap();
        let f = ResponderForm::load(&spec.responder, spec.reply_delay, spec.encoding);
        assert_eq!(f.kind, ReplyKind::Canned);
        assert_eq!(f.validate(spec.encoding).unwrap(), (spec.responder, None));
    }

    #[test]
    fn bad_fields_say_what_is_wrong() {
        let mut f = ResponderForm {
            kind: ReplyKind::Canned,
            ..Default::default()
        };
        f.rules[0].matching = MatchFile::Regex;
        f.rules[0].request = "(".into();
        assert!(
            f.validate(Encoding::Utf8)
                .unwrap_err()
                .contains("regular expression")
        );
        f.rules[0].matching = MatchFile::Exact;
        f.rules[0].reply = "\\xZZ".into();
        assert!(
            f.validate(Encoding::Utf8)
                .unwrap_err()
                .contains("rule 0 reply")
        );
        f.rules[0].reply = "{counter} {nope}".into();
        f.template = true;
        assert!(f.validate(Encoding::Utf8).unwrap_err().contains("{nope}"));
        f.template = false;
        assert!(
            f.validate(Encoding::Utf8).is_ok(),
            "braces are plain without templates"
        );
        f.delay = "61".into();
        assert!(f.validate(Encoding::Utf8).unwrap_err().contains("0 to 60"));
        let none = ResponderForm {
            delay: "1".into(),
            ..Default::default()
        };
        assert!(
            none.validate(Encoding::Utf8)
                .unwrap_err()
                .contains("needs a responder")
        );
    }
}
