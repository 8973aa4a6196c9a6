//! The step-mode panel: one button per call of the socket API, the
//! arguments they take, the typical next steps highlighted, cancel for a
//! blocking call, replay, and export as Python or Rust.

use std::collections::VecDeque;

use crate::engine::SessionId;
use crate::engine::options::{OptName, SockOpt};
use crate::engine::stepper::{AddrArg, Call, Family, How, SockType};

use super::labels as L;
use super::model::SessionInfo;
use crate::t;

/// What the panel asks the app to do.
#[derive(Debug)]
pub enum StepAction {
    /// Run one call in the session.
    Call(SessionId, Box<Call>),
    /// Interrupt the blocking call in progress.
    Cancel(SessionId),
    /// Open a new step-mode session running these calls (empty: a blank one).
    Replay(Vec<Call>),
    /// Put text on the clipboard.
    Copy(String),
}

/// The panel's fields.
pub struct StepperPanel {
    /// Socket variable the next call is on.
    pub var: String,
    /// Variable for `accept`.
    pub into: String,
    family: Family,
    ty: SockType,
    /// Address argument.
    pub addr: String,
    /// listen()'s backlog.
    pub backlog: String,
    /// recv()/recvfrom()/readexactly()'s byte count.
    pub bufsize: String,
    /// settimeout()'s seconds (`None` for none).
    pub timeout: String,
    /// setblocking()'s flag.
    pub blocking: bool,
    /// shutdown()'s side.
    pub how: How,
    /// Data argument (escapes allowed).
    pub data: String,
    opt: OptName,
    /// Option value.
    pub opt_value: String,
    queue: VecDeque<Call>,
    error: Option<String>,
}

impl Default for StepperPanel {
    fn default() -> Self {
        StepperPanel {
            var: "s".into(),
            into: "conn".into(),
            family: Family::Inet,
            ty: SockType::Stream,
            addr: "127.0.0.1:0".into(),
            backlog: "5".into(),
            bufsize: "1024".into(),
            timeout: "None".into(),
            blocking: false,
            how: How::Write,
            data: "hello\\r\\n".into(),
            opt: OptName::ReuseAddress,
            opt_value: "1".into(),
            queue: VecDeque::new(),
            error: None,
        }
    }
}

/// Calls that usually come next after `last` and what it returned (the
/// panel highlights them): after a failed call, what makes sense then
/// (a refused connect suggests connecting again or closing, not send).
pub fn typical_next(last: Option<(&Call, bool)>, ty: SockType) -> &'static [&'static str] {
    let last = match last {
        Some((call, false)) => {
            return match call {
                Call::Connect { .. } | Call::ConnectEx { .. } => {
                    &["connect", "connect_ex", "close"]
                }
                Call::Bind { .. } => &["setsockopt", "bind", "close"],
                Call::Socket { .. } => &["socket"],
                Call::Close { .. } => &["socket"],
                Call::Accept { .. } | Call::Recv { .. } | Call::RecvFrom { .. } => {
                    &["settimeout", "setblocking", "close"]
                }
                _ => &["close"],
            };
        }
        Some((call, true)) => Some(call),
        None => None,
    };
    match last {
        None => &["socket"],
        Some(Call::Socket { .. }) => &["setsockopt", "bind", "connect", "connect_ex", "sendto"],
        Some(Call::SetSockOpt { .. }) | Some(Call::GetSockOpt { .. }) => {
            &["bind", "connect", "getsockopt"]
        }
        Some(Call::Bind { .. }) if ty == SockType::Dgram => &["recvfrom", "sendto", "getsockname"],
        Some(Call::Bind { .. }) => &["listen", "getsockname"],
        Some(Call::Listen { .. }) => &["accept", "backlog", "getsockname"],
        Some(Call::Accept { .. }) | Some(Call::Connect { .. }) => {
            &["send", "sendall", "recv", "getpeername", "settimeout"]
        }
        Some(Call::ConnectEx { .. }) => &["close", "connect_ex"],
        Some(Call::Send { .. }) | Some(Call::SendAll { .. }) => &["recv", "send", "shutdown"],
        Some(Call::Recv { .. }) | Some(Call::ReadExactly { .. }) | Some(Call::ReadUntil { .. }) => {
            &["send", "recv", "shutdown", "close"]
        }
        Some(Call::SendTo { .. }) | Some(Call::RecvFrom { .. }) => &["recvfrom", "sendto", "close"],
        Some(Call::SetTimeout { .. }) | Some(Call::SetBlocking { .. }) => {
            &["recv", "accept", "connect"]
        }
        Some(Call::Shutdown { .. }) => &["recv", "close"],
        Some(Call::Close { .. }) => &["socket"],
        Some(_) => &[],
    }
}

impl StepperPanel {
    /// A whole number typed in `field` (`what` names it in the message).
    fn whole(field: &str, what: &str) -> Result<i64, String> {
        field
            .trim()
            .parse::<i64>()
            .map_err(|_| t!("step-not-whole", what = what, value = field.trim()))
    }

    fn count(&self) -> Result<usize, String> {
        usize::try_from(Self::whole(&self.bufsize, "bufsize")?)
            .map_err(|_| t!("step-bufsize-range").to_string())
    }

    fn bytes(&self) -> Result<Vec<u8>, String> {
        crate::engine::codec::parse_escaped(&self.data, crate::engine::codec::Encoding::Utf8)
            .map_err(|e| e.to_string())
    }

    fn option(&self) -> Result<SockOpt, String> {
        SockOpt::parse(self.opt, &self.opt_value)
    }

    /// Draws the panel for a step-mode session.
    pub fn ui(&mut self, ui: &mut egui::Ui, info: &SessionInfo) -> Vec<StepAction> {
        let mut out = Vec::new();
        let id = info.id;
        let busy = info.pending_calls > 0;
        let var = self.var.trim().to_string();
        let last_on_var = info
            .calls
            .iter()
            .rev()
            .find(|r| r.call.var() == var)
            .map(|r| (&r.call, r.result.is_ok()));
        let next = typical_next(last_on_var, self.ty);
        ui.horizontal_wrapped(|ui| {
            let l = ui.label(L::STEP_VAR);
            ui.add(egui::TextEdit::singleline(&mut self.var).desired_width(70.0))
                .labelled_by(l.id);
            let l = ui.label(L::STEP_INTO);
            ui.add(egui::TextEdit::singleline(&mut self.into).desired_width(70.0))
                .labelled_by(l.id);
        });
        // Each call's own argument, named as Python names it.
        ui.horizontal_wrapped(|ui| {
            let l = ui.label(L::STEP_BACKLOG);
            ui.add(egui::TextEdit::singleline(&mut self.backlog).desired_width(50.0))
                .labelled_by(l.id)
                .on_hover_text("listen(backlog)");
            let l = ui.label(L::STEP_BUFSIZE);
            ui.add(egui::TextEdit::singleline(&mut self.bufsize).desired_width(70.0))
                .labelled_by(l.id)
                .on_hover_text("recv(bufsize), recvfrom(bufsize), readexactly(n)");
            let l = ui.label(L::STEP_TIMEOUT);
            ui.add(egui::TextEdit::singleline(&mut self.timeout).desired_width(50.0))
                .labelled_by(l.id)
                .on_hover_text(t!("step-timeout-help"));
        });
        ui.horizontal_wrapped(|ui| {
            ui.label(L::STEP_BLOCKING);
            ui.selectable_value(&mut self.blocking, true, "True");
            ui.selectable_value(&mut self.blocking, false, "False");
            ui.separator();
            ui.label(L::STEP_HOW);
            ui.selectable_value(&mut self.how, How::Read, "SHUT_RD");
            ui.selectable_value(&mut self.how, How::Write, "SHUT_WR");
            ui.selectable_value(&mut self.how, How::Both, "SHUT_RDWR");
        });
        ui.horizontal_wrapped(|ui| {
            let l = ui.label(L::STEP_ADDR);
            ui.add(
                egui::TextEdit::singleline(&mut self.addr)
                    .hint_text("127.0.0.1:7788, @srv, /tmp/x.sock")
                    .desired_width(200.0),
            )
            .labelled_by(l.id);
            let l = ui.label(L::STEP_DATA);
            ui.add(egui::TextEdit::singleline(&mut self.data).desired_width(200.0))
                .labelled_by(l.id)
                .on_hover_text(t!("step-data-help"));
        });
        ui.horizontal_wrapped(|ui| {
            super::option_picker(
                ui,
                "step-opt",
                L::STEP_OPTION.text(),
                false,
                None,
                &mut self.opt,
                &mut self.opt_value,
            );
        });
        ui.horizontal_wrapped(|ui| {
            ui.selectable_value(&mut self.family, Family::Inet, "AF_INET");
            ui.selectable_value(&mut self.family, Family::Inet6, "AF_INET6");
            ui.selectable_value(&mut self.family, Family::Unix, "AF_UNIX");
            ui.separator();
            ui.selectable_value(&mut self.ty, SockType::Stream, "SOCK_STREAM");
            ui.selectable_value(&mut self.ty, SockType::Dgram, "SOCK_DGRAM");
        });
        let mut picked: Option<Result<Call, String>> = None;
        ui.horizontal_wrapped(|ui| {
            let button = |ui: &mut egui::Ui, name: &'static str| {
                let label = format!("{name}()");
                let text = if next.contains(&name) {
                    egui::RichText::new(label)
                        .strong()
                        .color(ui.visuals().hyperlink_color)
                } else {
                    egui::RichText::new(label)
                };
                ui.add_enabled(!busy, egui::Button::new(text)).clicked()
            };
            let v = var.clone();
            let addr = AddrArg(self.addr.trim().to_string());
            for name in [
                "socket",
                "setsockopt",
                "getsockopt",
                "settimeout",
                "gettimeout",
                "setblocking",
                "bind",
                "listen",
                "accept",
                "connect",
                "connect_ex",
                "send",
                "sendall",
                "sendto",
                "recv",
                "recvfrom",
                "readexactly",
                "readline",
                "shutdown",
                "close",
                "getsockname",
                "getpeername",
                "fileno",
                "backlog",
            ] {
                if !button(ui, name) {
                    continue;
                }
                let v = v.clone();
                let call = match name {
                    "socket" => Ok(Call::Socket {
                        var: v,
                        family: self.family,
                        ty: self.ty,
                    }),
                    "setsockopt" => self.option().map(|opt| Call::SetSockOpt { var: v, opt }),
                    "getsockopt" => Ok(Call::GetSockOpt {
                        var: v,
                        opt: self.opt,
                    }),
                    "settimeout" => {
                        let t = self.timeout.trim();
                        if t.eq_ignore_ascii_case("none") || t.is_empty() {
                            Ok(Call::SetTimeout { var: v, secs: None })
                        } else {
                            t.parse::<f64>()
                                .map_err(|_| t!("step-bad-timeout", value = t))
                                .map(|s| Call::SetTimeout {
                                    var: v,
                                    secs: Some(s),
                                })
                        }
                    }
                    "gettimeout" => Ok(Call::GetTimeout { var: v }),
                    "setblocking" => Ok(Call::SetBlocking {
                        var: v,
                        flag: self.blocking,
                    }),
                    "bind" => Ok(Call::Bind {
                        var: v,
                        addr: addr.clone(),
                    }),
                    "listen" => Self::whole(&self.backlog, "backlog").map(|n| Call::Listen {
                        var: v,
                        // Out of range stays out of range, for the check to say.
                        backlog: i32::try_from(n).unwrap_or(i32::MAX),
                    }),
                    "accept" => Ok(Call::Accept {
                        var: v,
                        into: self.into.trim().to_string(),
                    }),
                    "connect" => Ok(Call::Connect {
                        var: v,
                        addr: addr.clone(),
                    }),
                    "connect_ex" => Ok(Call::ConnectEx {
                        var: v,
                        addr: addr.clone(),
                    }),
                    "send" => self.bytes().map(|data| Call::Send { var: v, data }),
                    "sendall" => self.bytes().map(|data| Call::SendAll { var: v, data }),
                    "sendto" => self.bytes().map(|data| Call::SendTo {
                        var: v,
                        data,
                        addr: addr.clone(),
                    }),
                    "recv" => self.count().map(|n| Call::Recv { var: v, n }),
                    "recvfrom" => self.count().map(|n| Call::RecvFrom { var: v, n }),
                    "readexactly" => self.count().map(|n| Call::ReadExactly { var: v, n }),
                    "readline" => Ok(Call::ReadUntil {
                        var: v,
                        sep: b"\n".to_vec(),
                    }),
                    "shutdown" => Ok(Call::Shutdown {
                        var: v,
                        how: self.how,
                    }),
                    "close" => Ok(Call::Close { var: v }),
                    "getsockname" => Ok(Call::GetSockName { var: v }),
                    "getpeername" => Ok(Call::GetPeerName { var: v }),
                    "fileno" => Ok(Call::FileNo { var: v }),
                    _ => Ok(Call::Backlog { var: v }),
                };
                // The engine's own check: the panel and a file agree.
                picked = Some(call.and_then(|c| c.check().map(|()| c)));
            }
        });
        match picked {
            Some(Ok(call)) => {
                self.error = None;
                out.push(StepAction::Call(id, Box::new(call)));
            }
            Some(Err(e)) => self.error = Some(e),
            None => {}
        }
        if let Some(e) = &self.error {
            ui.colored_label(
                ui.visuals().error_fg_color,
                t!("step-nothing-called", why = e.clone()),
            );
        }
        ui.horizontal_wrapped(|ui| {
            if ui
                .add_enabled(busy, egui::Button::new(L::STEP_CANCEL))
                .clicked()
            {
                out.push(StepAction::Cancel(id));
            }
            let script = portable_script(&info.calls);
            if ui
                .add_enabled(!script.is_empty(), egui::Button::new(L::STEP_REPLAY))
                .clicked()
            {
                out.push(StepAction::Replay(script.clone()));
            }
            if ui
                .add_enabled(
                    !script.is_empty(),
                    egui::Button::new(L::STEP_REPLAY_STEPWISE),
                )
                .clicked()
            {
                self.queue = script.clone().into();
                out.push(StepAction::Replay(Vec::new()));
            }
            if let Some(next) = self.queue.front()
                && ui
                    .add_enabled(
                        !busy,
                        egui::Button::new(format!("{} {}", L::STEP_NEXT, next.text())),
                    )
                    .clicked()
                && let Some(c) = self.queue.pop_front()
            {
                out.push(StepAction::Call(id, Box::new(c)));
            }
            if ui
                .add_enabled(!script.is_empty(), egui::Button::new(L::COPY_PYTHON))
                .clicked()
            {
                out.push(StepAction::Copy(crate::export::python(&info.name, &script)));
            }
            if ui
                .add_enabled(!script.is_empty(), egui::Button::new(L::COPY_RUST))
                .clicked()
            {
                out.push(StepAction::Copy(crate::export::rust(&info.name, &script)));
            }
        });
        out
    }
}

/// The calls made, as a script that runs again on its own (replayed or
/// exported): an address the kernel gave one of the script's own sockets
/// (an ephemeral port from bind to port 0) becomes a reference to it
/// (`@srv`), so the replay talks to its new socket, not the old one; a
/// blocking call the user cancelled gets a 5 s timeout first, so the
/// program ends instead of hanging.
pub fn portable_script(records: &[crate::engine::stepper::CallRecord]) -> Vec<Call> {
    use crate::engine::stepper::Outcome;
    let mut known: Vec<(String, String)> = Vec::new();
    let mut out = Vec::new();
    for r in records {
        let mut call = r.call.clone();
        let refer = |a: &AddrArg, known: &[(String, String)], me: &str| {
            known
                .iter()
                .find(|(addr, var)| *addr == a.0 && var != me)
                .map(|(_, var)| AddrArg(format!("@{var}")))
        };
        match &mut call {
            Call::Connect { var, addr }
            | Call::ConnectEx { var, addr }
            | Call::SendTo { var, addr, .. } => {
                if let Some(a) = refer(addr, &known, var) {
                    *addr = a;
                }
            }
            _ => {}
        }
        if let (Call::GetSockName { var }, Ok(Outcome::Addr(a))) = (&r.call, &r.result) {
            known.retain(|(_, v)| v != var);
            known.push((a.to_string(), var.clone()));
        }
        let cancelled = r.result.as_ref().err().is_some_and(|e| e.is(libc::EINTR));
        let blocks = matches!(
            call,
            Call::Recv { .. }
                | Call::RecvFrom { .. }
                | Call::Accept { .. }
                | Call::ReadExactly { .. }
                | Call::ReadUntil { .. }
                | Call::Connect { .. }
        );
        if cancelled && blocks {
            out.push(Call::SetTimeout {
                var: call.var().to_string(),
                secs: Some(5.0),
            });
        }
        out.push(call);
    }
    out
}

/// How many of the newest calls the list draws.
const SHOWN_CALLS: usize = 500;

/// The calls of a step-mode session, one row each: the call as written,
/// what the kernel answered, how long it took.
pub fn calls_ui(ui: &mut egui::Ui, info: &SessionInfo) -> Option<StepAction> {
    let mut action = None;
    // A call in progress is said first, where it is always in view, with
    // how long it has blocked and a way out.
    if info.pending_calls > 0 {
        ui.horizontal_wrapped(|ui| {
            ui.spinner();
            let waited = info
                .pending_since
                .map_or(0.0, |t| t.elapsed().as_secs_f64());
            ui.label(t!("step-in-progress", secs = format!("{waited:.1}")));
            if ui.button(L::STEP_CANCEL).clicked() {
                action = Some(StepAction::Cancel(info.id));
            }
        });
        ui.ctx()
            .request_repaint_after(std::time::Duration::from_millis(100));
    }
    if info.calls.is_empty() {
        ui.weak(t!("step-no-calls"));
        return action;
    }
    // Rows wrap, so an error is read whole (errno, text and hint), not cut
    // before its errno; wrapped rows have no fixed height, so the newest
    // SHOWN_CALLS are drawn (a script by hand is far shorter).
    let first = info.calls.len().saturating_sub(SHOWN_CALLS);
    egui::ScrollArea::vertical()
        .id_salt("calls")
        .auto_shrink([false, false])
        .stick_to_bottom(true)
        .show(ui, |ui| {
            if first > 0 {
                ui.weak(t!("step-earlier", n = first));
            }
            for i in first..info.calls.len() {
                let r = &info.calls[i];
                let (text, color) = match &r.result {
                    Ok(o) => (
                        format!(
                            "{} -> {}",
                            r.call.text(),
                            super::i18n::engine_text(&o.text())
                        ),
                        ui.visuals().text_color(),
                    ),
                    Err(e) => {
                        let what = if r.timed_out {
                            t!("step-timed-out")
                        } else {
                            t!("step-error")
                        };
                        (
                            format!("{} -> {what}: {}", r.call.text(), super::i18n::op_error(e)),
                            ui.visuals().error_fg_color,
                        )
                    }
                };
                ui.horizontal_top(|ui| {
                    ui.monospace(format!("{i:>3}"));
                    ui.weak(format!("{:>9.3} ms", r.took.as_secs_f64() * 1000.0));
                    ui.add(
                        egui::Label::new(egui::RichText::new(text).monospace().color(color)).wrap(),
                    );
                });
            }
        });
    action
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::error::OpError;
    use crate::engine::protocol::Addr;
    use crate::engine::stepper::{CallRecord, Outcome};

    fn rec(call: Call, result: Result<Outcome, OpError>) -> CallRecord {
        CallRecord {
            call,
            result,
            timed_out: false,
            took: std::time::Duration::ZERO,
        }
    }

    /// Workbench G27: Copy as Python hard-coded the ephemeral port the
    /// user typed (the program connected to the app's still-open
    /// listener), and a cancelled blocking recv became a plain recv (the
    /// program hung). The port becomes `@srv`; the recv gets a timeout.
    #[test]
    fn exported_scripts_refer_to_their_own_sockets_and_always_end() {
        let sa: std::net::SocketAddr = "127.0.0.1:41234".parse().unwrap();
        let records = vec![
            rec(
                Call::GetSockName { var: "srv".into() },
                Ok(Outcome::Addr(Addr::Inet(sa))),
            ),
            rec(
                Call::Connect {
                    var: "cli".into(),
                    addr: AddrArg("127.0.0.1:41234".into()),
                },
                Ok(Outcome::Nothing),
            ),
            rec(
                Call::Recv {
                    var: "cli".into(),
                    n: 10,
                },
                Err(OpError::io(
                    "recv",
                    &std::io::Error::from_raw_os_error(libc::EINTR),
                )),
            ),
        ];
        let script = portable_script(&records);
        assert_eq!(
            script[1],
            Call::Connect {
                var: "cli".into(),
                addr: AddrArg("@srv".into())
            }
        );
        assert_eq!(
            script[2],
            Call::SetTimeout {
                var: "cli".into(),
                secs: Some(5.0)
            }
        );
        assert!(matches!(script[3], Call::Recv { .. }));
        let py = crate::export::python("g27", &script);
        assert!(py.contains("names['srv']"), "{py}");
        assert!(py.contains("settimeout(5.0)"), "{py}");
    }
}
