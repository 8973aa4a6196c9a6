//! The checksum picker the composer and the responder form share: which
//! checksum, and its byte order once there is one.

use crate::engine::checksum::{ByteOrder, Checksum};

/// Draws a labelled checksum combo and, when one is chosen, its byte order.
pub fn show(
    ui: &mut egui::Ui,
    id_salt: &str,
    label: &str,
    checksum: &mut Checksum,
    order: &mut ByteOrder,
) {
    ui.horizontal_wrapped(|ui| {
        let l = ui.label(label);
        egui::ComboBox::from_id_salt(id_salt)
            .selected_text(shown(*checksum))
            .show_ui(ui, |ui| {
                for c in Checksum::ALL {
                    ui.selectable_value(checksum, c, shown(c));
                }
            })
            .response
            .labelled_by(l.id);
        if *checksum != Checksum::None {
            ui.selectable_value(order, ByteOrder::Big, crate::t!("big-endian"));
            ui.selectable_value(order, ByteOrder::Little, crate::t!("little-endian"));
        }
    });
}

/// A checksum's name as picked: the algorithm's own, or "none" in words.
fn shown(c: Checksum) -> &'static str {
    match c {
        Checksum::None => crate::t!("checksum-none"),
        c => c.name(),
    }
}
