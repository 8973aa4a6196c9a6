//! The TLS part of the new-session form. Checked by the preset loader's
//! own TLS checks, so the form and a file agree on what is valid.

use std::path::PathBuf;

use crate::engine::spec::SessionKind;
use crate::engine::tls::{Identity, Roots, TlsSpec};
use crate::preset::{self, CertFile, RootsFile, TlsFile};

use super::i18n::Key;
use super::labels as L;
use crate::t;

/// The TLS fields, as typed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsForm {
    /// TLS on or off.
    pub on: bool,
    /// Client: SNI / name to verify (empty: the host connected to).
    pub server_name: String,
    /// ALPN protocols, comma-separated.
    pub alpn: String,
    /// Client: trusted roots.
    pub roots: Roots,
    /// Client: extra CA file.
    pub ca_file: String,
    /// Client: accept any certificate.
    pub insecure: bool,
    /// Server: generate a self-signed certificate (else use files).
    pub self_signed: bool,
    /// Server: names for the generated certificate, comma-separated.
    pub names: String,
    /// Server: certificate chain file.
    pub cert: String,
    /// Server: key file.
    pub key: String,
    /// Seconds the handshake may take (empty: the default, 10).
    pub handshake_timeout: String,
}

impl Default for TlsForm {
    fn default() -> Self {
        TlsForm {
            on: false,
            server_name: String::new(),
            alpn: String::new(),
            roots: Roots::System,
            ca_file: String::new(),
            insecure: false,
            self_signed: true,
            names: "localhost, 127.0.0.1, ::1".into(),
            cert: String::new(),
            key: String::new(),
            handshake_timeout: String::new(),
        }
    }
}

/// A comma-separated list as typed: trimmed, empty items dropped.
pub(super) fn list(s: &str) -> Vec<String> {
    s.split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(str::to_string)
        .collect()
}

impl TlsForm {
    /// Fills the form from a session's TLS settings.
    pub fn load(t: Option<&TlsSpec>) -> TlsForm {
        let mut f = TlsForm::default();
        let timeout = match t {
            Some(TlsSpec::Client(c)) => c.handshake_timeout,
            Some(TlsSpec::Server(s)) => s.handshake_timeout,
            None => None,
        };
        f.handshake_timeout = timeout
            .map(|d| d.as_secs_f64().to_string())
            .unwrap_or_default();
        match t {
            None => {}
            Some(TlsSpec::Client(c)) => {
                f.on = true;
                f.server_name = c.server_name.clone().unwrap_or_default();
                f.alpn = c.alpn.join(", ");
                f.roots = c.roots;
                f.ca_file = c
                    .ca_file
                    .as_ref()
                    .map(|p| p.display().to_string())
                    .unwrap_or_default();
                f.insecure = c.insecure;
            }
            Some(TlsSpec::Server(s)) => {
                f.on = true;
                f.alpn = s.alpn.join(", ");
                match &s.identity {
                    Identity::SelfSigned { names } => f.names = names.join(", "),
                    Identity::Files { cert, key } => {
                        f.self_signed = false;
                        f.cert = cert.display().to_string();
                        f.key = key.display().to_string();
                    }
                }
            }
        }
        f
    }

    /// The TLS spec for a session of `kind` (None when TLS is off), or
    /// what is wrong.
    pub fn validate(&self, kind: &SessionKind, auto_read: bool) -> Result<Option<TlsSpec>, String> {
        if !self.on {
            return Ok(None);
        }
        let handshake_timeout = match self.handshake_timeout.trim() {
            "" => None,
            t => Some(preset::Secs(
                t.parse::<f64>()
                    .ok()
                    .and_then(|v| std::time::Duration::try_from_secs_f64(v).ok())
                    .ok_or_else(|| t!("tls-bad-timeout", value = t))?,
            )),
        };
        let file = match kind {
            SessionKind::TcpClient { .. } | SessionKind::WsClient { .. } => TlsFile::Client {
                server_name: Some(self.server_name.trim().to_string()).filter(|s| !s.is_empty()),
                alpn: list(&self.alpn),
                roots: match self.roots {
                    Roots::System => RootsFile::System,
                    Roots::Bundled => RootsFile::Bundled,
                    Roots::None => RootsFile::None,
                },
                ca_file: Some(self.ca_file.trim())
                    .filter(|s| !s.is_empty())
                    .map(PathBuf::from),
                accept_invalid_certs: self.insecure,
                handshake_timeout,
            },
            SessionKind::TcpServer { .. } | SessionKind::WsServer { .. } => TlsFile::Server {
                cert: if self.self_signed {
                    CertFile::SelfSigned {
                        names: list(&self.names),
                    }
                } else {
                    CertFile::Files {
                        cert: PathBuf::from(self.cert.trim()),
                        key: PathBuf::from(self.key.trim()),
                    }
                },
                alpn: list(&self.alpn),
                handshake_timeout,
            },
            _ => return Err(t!("tls-wrong-kind").into()),
        };
        preset::tls_spec(file, kind, auto_read)
            .map(Some)
            .map_err(|(_, m)| m)
    }

    /// Draws the TLS fields for a client (`client`) or a server, under a
    /// checkbox titled `title` (a wss client has TLS anyway: its box
    /// says that the settings are optional).
    pub fn ui(&mut self, ui: &mut egui::Ui, client: bool, title: Key, problem: Option<&str>) {
        ui.checkbox(&mut self.on, title);
        if !self.on {
            return;
        }
        let row = |ui: &mut egui::Ui, label: &str, value: &mut String, hint: &str| {
            let l = ui.label(label);
            ui.add(
                egui::TextEdit::singleline(value)
                    // As wide as the form's other fields: a wider one
                    // widened the panel at 1024 px and clipped its rows.
                    .desired_width(180.0)
                    .hint_text(hint),
            )
            .labelled_by(l.id);
            ui.end_row();
        };
        // Keyed by the title: a relay's form shows two of these.
        egui::Grid::new(("tls-form", title))
            .num_columns(2)
            .spacing([8.0, 4.0])
            .show(ui, |ui| {
                if client {
                    row(
                        ui,
                        L::TLS_SERVER_NAME.text(),
                        &mut self.server_name,
                        t!("tls-server-name-hint"),
                    );
                    let label = ui.label(L::TLS_ROOTS);
                    let name = |r: Roots| match r {
                        Roots::System => t!("tls-roots-system"),
                        Roots::Bundled => t!("tls-roots-bundled"),
                        Roots::None => t!("tls-roots-none"),
                    };
                    // A menu, not three buttons: the row fits the form at
                    // 1024 px, where the buttons were cut off.
                    egui::ComboBox::from_id_salt(("tls-roots", title))
                        .selected_text(name(self.roots))
                        .show_ui(ui, |ui| {
                            for r in [Roots::System, Roots::Bundled, Roots::None] {
                                ui.selectable_value(&mut self.roots, r, name(r));
                            }
                        })
                        .response
                        .labelled_by(label.id);
                    ui.end_row();
                    row(
                        ui,
                        L::TLS_CA_FILE.text(),
                        &mut self.ca_file,
                        t!("tls-ca-hint"),
                    );
                } else {
                    ui.label(t!("tls-certificate"));
                    ui.horizontal(|ui| {
                        ui.selectable_value(
                            &mut self.self_signed,
                            true,
                            t!("tls-self-signed-choice"),
                        )
                        .on_hover_text(t!("tls-self-signed-help"));
                        ui.selectable_value(&mut self.self_signed, false, t!("tls-from-files"));
                    });
                    ui.end_row();
                    if self.self_signed {
                        row(
                            ui,
                            L::TLS_SELF_SIGNED.text(),
                            &mut self.names,
                            "localhost, 127.0.0.1",
                        );
                    } else {
                        row(
                            ui,
                            L::TLS_CERT_FILE.text(),
                            &mut self.cert,
                            t!("tls-cert-hint"),
                        );
                        row(ui, L::TLS_KEY_FILE.text(), &mut self.key, "key.pem");
                    }
                }
                row(ui, L::TLS_ALPN.text(), &mut self.alpn, t!("tls-alpn-hint"));
                row(
                    ui,
                    L::TLS_HANDSHAKE_TIMEOUT.text(),
                    &mut self.handshake_timeout,
                    "10",
                );
            });
        if client {
            ui.checkbox(&mut self.insecure, L::TLS_INSECURE);
            if self.insecure {
                ui.colored_label(ui.visuals().error_fg_color, t!("tls-insecure-warning"));
            }
        }
        if let Some(m) = problem {
            ui.colored_label(ui.visuals().error_fg_color, format!("! {m}"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::spec::HostPort;

    #[test]
    fn a_client_and_a_server_round_trip_through_the_form() {
        let client = SessionKind::TcpClient {
            remote: HostPort::parse("127.0.0.1:8443").unwrap(),
            local: None,
        };
        let f = TlsForm {
            on: true,
            server_name: "localhost".into(),
            alpn: "h2, http/1.1".into(),
            ca_file: "ca.pem".into(),
            ..Default::default()
        };
        let spec = f.validate(&client, true).unwrap().unwrap();
        assert_eq!(TlsForm::load(Some(&spec)), f);

        let server = SessionKind::TcpServer {
            local: "127.0.0.1:0".parse().unwrap(),
            backlog: 1,
        };
        let f = TlsForm {
            on: true,
            ..Default::default()
        };
        let spec = f.validate(&server, true).unwrap().unwrap();
        assert_eq!(TlsForm::load(Some(&spec)), f);
    }

    #[test]
    fn bad_fields_say_what_is_wrong() {
        let client = SessionKind::TcpClient {
            remote: HostPort::parse("127.0.0.1:8443").unwrap(),
            local: None,
        };
        let mut f = TlsForm {
            on: true,
            roots: Roots::None,
            ..Default::default()
        };
        assert!(
            f.validate(&client, true)
                .unwrap_err()
                .contains("trusts nothing")
        );
        f.roots = Roots::System;
        assert!(
            f.validate(&client, false)
                .unwrap_err()
                .contains("automatic reads")
        );
        let server = SessionKind::TcpServer {
            local: "127.0.0.1:0".parse().unwrap(),
            backlog: 1,
        };
        f.self_signed = false;
        assert!(
            f.validate(&server, true)
                .unwrap_err()
                .contains("cert and a key")
        );
        f.on = false;
        assert_eq!(f.validate(&server, true), Ok(None));
    }
}
