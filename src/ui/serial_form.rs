//! The open form's serial-port rows: the port (typed, or picked from the
//! machine's ports with their USB names), the speed and the framing.
//! What they make is checked by the preset loader, like every other kind.

use crate::engine::serial::{self, Flow, Parity, PortInfo, SerialSpec};

use super::labels as L;
use crate::t;

/// The serial rows as set.
#[derive(Clone, Debug)]
pub struct SerialForm {
    /// The device path as typed.
    pub path: String,
    /// Bits per second.
    pub baud: u32,
    /// 5 to 8.
    pub data_bits: u8,
    /// Parity.
    pub parity: Parity,
    /// 1 or 2.
    pub stop_bits: u8,
    /// Flow control.
    pub flow: Flow,
    /// The machine's ports, read when the list is opened or refreshed.
    ports: Option<Vec<PortInfo>>,
}

impl Default for SerialForm {
    fn default() -> Self {
        SerialForm {
            path: "/tmp/sockscope-tty".into(),
            baud: 115_200,
            data_bits: 8,
            parity: Parity::None,
            stop_bits: 1,
            flow: Flow::None,
            ports: None,
        }
    }
}

impl SerialForm {
    /// The rows from a spec (Duplicate).
    pub fn load(s: &SerialSpec) -> SerialForm {
        SerialForm {
            path: s.path.display().to_string(),
            baud: s.baud,
            data_bits: s.data_bits,
            parity: s.parity,
            stop_bits: s.stop_bits,
            flow: s.flow,
            ports: None,
        }
    }

    /// The spec the rows make; the preset loader checks it.
    pub fn spec(&self) -> SerialSpec {
        SerialSpec {
            path: self.path.trim().into(),
            baud: self.baud,
            data_bits: self.data_bits,
            parity: self.parity,
            stop_bits: self.stop_bits,
            flow: self.flow,
        }
    }

    /// The row a preset field's error belongs to.
    pub fn label_of(field: &str) -> Option<&'static str> {
        Some(match field {
            "path" => L::SERIAL_PORT.0,
            "baud" => L::BAUD.0,
            "data_bits" => L::DATA_BITS.0,
            "stop_bits" => L::STOP_BITS.0,
            _ => return None,
        })
    }

    /// Draws the rows into the form's grid; `err` shows a row's problem.
    pub fn ui(&mut self, ui: &mut egui::Ui, err: &dyn Fn(&mut egui::Ui, &'static str)) {
        let label = ui.label(L::SERIAL_PORT);
        ui.vertical(|ui| {
            ui.horizontal(|ui| {
                ui.add(
                    egui::TextEdit::singleline(&mut self.path)
                        .desired_width(120.0)
                        .hint_text("/dev/ttyUSB0"),
                )
                .labelled_by(label.id);
                let list = egui::ComboBox::from_id_salt("serial-ports")
                    .width(24.0)
                    .selected_text("")
                    .show_ui(ui, |ui| {
                        let ports = self.ports.get_or_insert_with(serial::ports);
                        if ports.is_empty() {
                            ui.weak(t!("serial-none-found"));
                        }
                        for p in ports.iter() {
                            let path = p.path.display().to_string();
                            if ui
                                .selectable_label(self.path == path, p.describe())
                                .clicked()
                            {
                                self.path = path;
                            }
                        }
                        if ui.small_button(L::REFRESH_PORTS).clicked() {
                            self.ports = Some(serial::ports());
                        }
                    });
                list.response.on_hover_text(L::SERIAL_PORTS);
            });
            err(ui, L::SERIAL_PORT.0);
        });
        ui.end_row();
        let label = ui.label(L::BAUD);
        ui.vertical(|ui| {
            egui::ComboBox::from_id_salt("serial-baud")
                .selected_text(self.baud.to_string())
                .show_ui(ui, |ui| {
                    for b in serial::COMMON_BAUDS {
                        ui.selectable_value(&mut self.baud, *b, b.to_string());
                    }
                    ui.separator();
                    for b in serial::bauds().filter(|b| !serial::COMMON_BAUDS.contains(b)) {
                        ui.selectable_value(&mut self.baud, b, b.to_string());
                    }
                })
                .response
                .labelled_by(label.id);
            err(ui, L::BAUD.0);
        });
        ui.end_row();
        ui.label(L::DATA_BITS);
        ui.horizontal(|ui| {
            for b in 5..=8u8 {
                ui.selectable_value(&mut self.data_bits, b, b.to_string());
            }
        });
        ui.end_row();
        ui.label(L::PARITY);
        ui.horizontal(|ui| {
            ui.selectable_value(&mut self.parity, Parity::None, t!("serial-parity-none"));
            ui.selectable_value(&mut self.parity, Parity::Odd, t!("serial-parity-odd"));
            ui.selectable_value(&mut self.parity, Parity::Even, t!("serial-parity-even"));
        });
        ui.end_row();
        ui.label(L::STOP_BITS);
        ui.horizontal(|ui| {
            ui.selectable_value(&mut self.stop_bits, 1, "1");
            ui.selectable_value(&mut self.stop_bits, 2, "2");
        });
        ui.end_row();
        let label = ui.label(L::FLOW);
        // A list, as the baud rate: the three choices side by side were
        // wider than the left panel and widened it.
        let flow_name = |f: Flow| match f {
            Flow::None => t!("serial-flow-none"),
            Flow::Hardware => "RTS/CTS",
            Flow::Software => "XON/XOFF",
        };
        egui::ComboBox::from_id_salt("serial-flow")
            .selected_text(flow_name(self.flow))
            .show_ui(ui, |ui| {
                for f in [Flow::None, Flow::Hardware, Flow::Software] {
                    ui.selectable_value(&mut self.flow, f, flow_name(f));
                }
            })
            .response
            .labelled_by(label.id);
        ui.end_row();
    }
}
