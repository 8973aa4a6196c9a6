//! The open form's framing row: how a plain stream's received bytes are
//! cut into messages (log rows and what responders answer). What it makes
//! is checked by the preset loader, like every other field.

use crate::engine::checksum::ByteOrder;
use crate::engine::codec::Encoding;
use crate::engine::framing::Framing;
use crate::engine::written::{Payload, Typed};

use super::labels as L;
use crate::t;

/// Which framing, as picked.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Choice {
    /// A row per recv.
    #[default]
    None,
    /// Messages end with a delimiter.
    Delimiter,
    /// A length header, then the body.
    Length,
    /// Fixed-size messages.
    Fixed,
}

/// The framing row as typed.
#[derive(Clone, Debug)]
pub struct FramingForm {
    /// Which framing.
    pub choice: Choice,
    /// The delimiter, as escaped text (`\r\n`).
    pub delimiter: String,
    /// The length header's size.
    pub bytes: u8,
    /// Its byte order.
    pub order: ByteOrder,
    /// The length counts the header.
    pub counts_header: bool,
    /// A fixed size, as typed.
    pub fixed: String,
}

impl Default for FramingForm {
    fn default() -> Self {
        FramingForm {
            choice: Choice::None,
            delimiter: "\\n".into(),
            bytes: 2,
            order: ByteOrder::Big,
            counts_header: false,
            fixed: "16".into(),
        }
    }
}

impl FramingForm {
    /// The row from a spec (Duplicate).
    pub fn load(f: &Framing, enc: Encoding) -> FramingForm {
        let mut form = FramingForm::default();
        match f {
            Framing::None => {}
            Framing::Delimiter(d) => {
                form.choice = Choice::Delimiter;
                form.delimiter = d.escaped_text(enc);
            }
            Framing::LengthPrefix {
                bytes,
                order,
                counts_header,
            } => {
                form.choice = Choice::Length;
                form.bytes = *bytes;
                form.order = *order;
                form.counts_header = *counts_header;
            }
            Framing::Fixed(n) => {
                form.choice = Choice::Fixed;
                form.fixed = n.to_string();
            }
        }
        form
    }

    /// The framing the row makes (its ranges are the preset loader's to
    /// check), or what cannot be read.
    pub fn framing(&self, enc: Encoding) -> Result<Framing, String> {
        Ok(match self.choice {
            Choice::None => Framing::None,
            Choice::Delimiter => Framing::Delimiter(
                Typed::parse(Payload::Escaped(self.delimiter.clone()), enc)
                    .map_err(|e| t!("framing-bad-delimiter", why = e.to_string()))?,
            ),
            Choice::Length => Framing::LengthPrefix {
                bytes: self.bytes,
                order: self.order,
                counts_header: self.counts_header,
            },
            Choice::Fixed => Framing::Fixed(self.fixed.trim().parse().map_err(|_| {
                t!(
                    "framing-bad-size",
                    size = crate::engine::codec::excerpt(self.fixed.trim(), 16).to_string()
                )
            })?),
        })
    }

    /// Draws the row into the form's grid; `err` shows its problem.
    pub fn ui(&mut self, ui: &mut egui::Ui, err: &dyn Fn(&mut egui::Ui, &'static str)) {
        let label = ui.label(L::FRAMING).on_hover_text(t!("framing-help"));
        ui.vertical(|ui| {
            egui::ComboBox::from_id_salt("framing")
                .selected_text(match self.choice {
                    Choice::None => L::FRAMING_NONE,
                    Choice::Delimiter => L::FRAMING_DELIMITER,
                    Choice::Length => L::FRAMING_LENGTH,
                    Choice::Fixed => L::FRAMING_FIXED,
                })
                .show_ui(ui, |ui| {
                    ui.selectable_value(&mut self.choice, Choice::None, L::FRAMING_NONE);
                    ui.selectable_value(&mut self.choice, Choice::Delimiter, L::FRAMING_DELIMITER);
                    ui.selectable_value(&mut self.choice, Choice::Length, L::FRAMING_LENGTH);
                    ui.selectable_value(&mut self.choice, Choice::Fixed, L::FRAMING_FIXED);
                })
                .response
                .labelled_by(label.id);
            ui.horizontal_wrapped(|ui| match self.choice {
                Choice::None => {}
                Choice::Delimiter => {
                    let l = ui.label(L::FRAMING_ENDS_WITH);
                    ui.add(
                        egui::TextEdit::singleline(&mut self.delimiter)
                            .desired_width(60.0)
                            .hint_text("\\r\\n")
                            .id_salt(L::FRAMING_ENDS_WITH),
                    )
                    .labelled_by(l.id);
                }
                Choice::Length => {
                    for b in [1u8, 2, 4] {
                        ui.selectable_value(&mut self.bytes, b, format!("{b} B"));
                    }
                    ui.selectable_value(&mut self.order, ByteOrder::Big, "BE");
                    ui.selectable_value(&mut self.order, ByteOrder::Little, "LE");
                    ui.checkbox(&mut self.counts_header, t!("framing-counts-header"));
                }
                Choice::Fixed => {
                    let l = ui.label(L::FRAMING_SIZE);
                    ui.add(
                        egui::TextEdit::singleline(&mut self.fixed)
                            .desired_width(60.0)
                            .id_salt(L::FRAMING_SIZE),
                    )
                    .labelled_by(l.id);
                    ui.label(t!("form-bytes-hint"));
                }
            });
            err(ui, L::FRAMING.0);
        });
        ui.end_row();
    }
}
