//! The open form's WebSocket rows: a client's address, extra headers and
//! subprotocols, a server's path, and whether pings are answered. What
//! they make is checked by the preset loader, like every other kind.

use std::net::SocketAddr;

use crate::engine::spec::SessionKind;
use crate::engine::ws::WsUrl;

use super::labels as L;
use super::tls_form::list;
use crate::t;

/// The WebSocket rows as typed.
#[derive(Clone, Debug)]
pub struct WsForm {
    /// `ws://` or `wss://` address (client).
    pub url: String,
    /// Extra request headers, one `Name: value` a line (client).
    pub headers: String,
    /// Subprotocols, comma-separated: offered (client) or accepted (server).
    pub subprotocols: String,
    /// The path a server answers.
    pub path: String,
    /// Answer pings.
    pub auto_pong: bool,
}

impl Default for WsForm {
    fn default() -> Self {
        WsForm {
            url: "ws://127.0.0.1:8765/".into(),
            headers: String::new(),
            subprotocols: String::new(),
            path: "/".into(),
            auto_pong: true,
        }
    }
}

impl WsForm {
    /// The rows from a spec (Duplicate).
    pub fn load(kind: &SessionKind) -> WsForm {
        let mut f = WsForm::default();
        match kind {
            SessionKind::WsClient {
                url,
                headers,
                subprotocols,
                auto_pong,
            } => {
                f.url = url.to_string();
                f.headers = headers
                    .iter()
                    .map(|(k, v)| format!("{k}: {v}"))
                    .collect::<Vec<_>>()
                    .join("\n");
                f.subprotocols = subprotocols.join(", ");
                f.auto_pong = *auto_pong;
            }
            SessionKind::WsServer {
                path,
                subprotocols,
                auto_pong,
                ..
            } => {
                f.path = path.clone();
                f.subprotocols = subprotocols.join(", ");
                f.auto_pong = *auto_pong;
            }
            _ => {}
        }
        f
    }

    /// Whether the address asks for TLS (its trust settings then show).
    pub fn secure(&self) -> bool {
        self.url.trim_start().starts_with("wss://")
    }

    /// A client's kind, or the row's problem. Header and subprotocol
    /// names are the preset loader's to check.
    pub fn client(&self) -> Result<SessionKind, (&'static str, String)> {
        let url = WsUrl::parse(&self.url).map_err(|m| (L::WS_URL.0, m))?;
        let mut headers = Vec::new();
        for line in self
            .headers
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
        {
            let Some((k, v)) = line.split_once(':') else {
                return Err((
                    L::WS_HEADERS.0,
                    t!(
                        "ws-header-no-colon",
                        line = crate::engine::codec::excerpt(line, 40).to_string()
                    ),
                ));
            };
            headers.push((k.trim().to_string(), v.trim().to_string()));
        }
        Ok(SessionKind::WsClient {
            url,
            headers,
            subprotocols: list(&self.subprotocols),
            auto_pong: self.auto_pong,
        })
    }

    /// A server's kind on `local`.
    pub fn server(&self, local: SocketAddr) -> SessionKind {
        SessionKind::WsServer {
            local,
            path: self.path.trim().to_string(),
            subprotocols: list(&self.subprotocols),
            auto_pong: self.auto_pong,
        }
    }

    /// The row a preset field's error belongs to.
    pub fn label_of(field: &str) -> Option<&'static str> {
        Some(match field {
            "url" => L::WS_URL.0,
            "headers" => L::WS_HEADERS.0,
            "subprotocols" => L::WS_SUBPROTOCOLS.0,
            "path" => L::WS_PATH.0,
            _ => return None,
        })
    }

    /// Draws the rows into the form's grid; `err` shows a row's problem.
    pub fn ui(
        &mut self,
        ui: &mut egui::Ui,
        server: bool,
        err: &dyn Fn(&mut egui::Ui, &'static str),
    ) {
        let text_row = |ui: &mut egui::Ui, v: &mut String, label: L::Key, hint: &str| {
            let l = ui.label(label);
            ui.vertical(|ui| {
                ui.add(
                    egui::TextEdit::singleline(v)
                        .desired_width(super::form::FIELD_WIDTH)
                        .hint_text(hint)
                        .id_salt(label),
                )
                .labelled_by(l.id);
                err(ui, label.0);
            });
            ui.end_row();
        };
        if server {
            text_row(ui, &mut self.path, L::WS_PATH, "/");
        } else {
            text_row(ui, &mut self.url, L::WS_URL, "ws://127.0.0.1:8765/");
            let l = ui.label(L::WS_HEADERS);
            ui.vertical(|ui| {
                ui.add(
                    egui::TextEdit::multiline(&mut self.headers)
                        .desired_rows(2)
                        .desired_width(super::form::FIELD_WIDTH)
                        .hint_text("Authorization: Bearer …")
                        .id_salt(L::WS_HEADERS),
                )
                .labelled_by(l.id);
                err(ui, L::WS_HEADERS.0);
            });
            ui.end_row();
        }
        text_row(
            ui,
            &mut self.subprotocols,
            L::WS_SUBPROTOCOLS,
            if server {
                t!("ws-subprotocols-accepted")
            } else {
                t!("ws-subprotocols-offered")
            },
        );
        ui.label(L::WS_AUTO_PONG);
        ui.checkbox(&mut self.auto_pong, t!("ws-answer-pings"))
            .on_hover_text(t!("ws-answer-pings-help"));
        ui.end_row();
    }
}
