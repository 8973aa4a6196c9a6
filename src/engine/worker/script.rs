//! A session's script (send, wait, shut down, close), run as it connects
//! or binds.

use super::*;

impl Worker {
    pub(super) fn advance_script_conn(&mut self, child: u32) {
        loop {
            let Some(c) = self.conns.get_mut(&child) else {
                return;
            };
            if c.st.is_closing() {
                return;
            }
            let Some(step) = c.script.steps.get(c.script.idx).cloned() else {
                return;
            };
            let index = c.script.idx;
            let id = c.id;
            match step {
                Step::Wait(d) => match c.script.wait_until {
                    None => {
                        c.script.wait_until = Some(now() + d);
                        return;
                    }
                    Some(t) if now() < t => return,
                    Some(_) => c.script.wait_until = None,
                },
                Step::WaitRecv(d) => match c.script.wait_until {
                    None => {
                        c.script.rx_seen = false;
                        c.script.wait_until = Some(now() + d);
                        if c.reg == Registration::Manual {
                            // Manual sessions: waiting means one real recv.
                            let max = self.spec.limits.recv_buffer;
                            self.manual_recv(id, max);
                            if let Some(c) = self.conns.get_mut(&child) {
                                c.script.wait_until = None;
                                c.script.idx += 1;
                            }
                            continue;
                        }
                        return;
                    }
                    Some(t) => {
                        if !c.script.rx_seen {
                            if now() < t && c.st.read != ReadSide::Eof {
                                return;
                            }
                            if c.st.read != ReadSide::Eof {
                                self.cx.sink.control(
                                    id,
                                    EventKind::Timeout {
                                        op: "recv",
                                        after: d,
                                    },
                                );
                            }
                        }
                        if let Some(c) = self.conns.get_mut(&child) {
                            c.script.wait_until = None;
                        }
                    }
                },
                Step::Send { data, mode, .. } => {
                    self.send_conn(child, data.into_bytes(), mode);
                }
                Step::ShutdownWrite => {
                    if let Some(c) = self.conns.get_mut(&child) {
                        c.st.shutdown_write();
                    }
                    self.flush_conn(child);
                }
                Step::Close => self.close_stream(child, CloseReason::ScriptDone),
            }
            self.cx.sink.control(
                id,
                EventKind::Step {
                    index,
                    what: describe_step(&self.spec.steps, index),
                },
            );
            if let Some(c) = self.conns.get_mut(&child) {
                c.script.idx += 1;
            }
        }
    }

    pub(super) fn advance_script_dgram(&mut self) {
        loop {
            let Some(d) = &mut self.dgram else { return };
            if d.closed.is_some() {
                return;
            }
            let Some(step) = d.script.steps.get(d.script.idx).cloned() else {
                return;
            };
            let index = d.script.idx;
            let id = d.id;
            match step {
                Step::Wait(t) => match d.script.wait_until {
                    None => {
                        d.script.wait_until = Some(now() + t);
                        return;
                    }
                    Some(u) if now() < u => return,
                    Some(_) => d.script.wait_until = None,
                },
                Step::WaitRecv(t) => match d.script.wait_until {
                    None => {
                        d.script.rx_seen = false;
                        d.script.wait_until = Some(now() + t);
                        if !self.spec.auto_read {
                            let max = self.spec.limits.recv_buffer;
                            self.manual_recv(id, max);
                            if let Some(d) = &mut self.dgram {
                                d.script.wait_until = None;
                                d.script.idx += 1;
                            }
                            continue;
                        }
                        return;
                    }
                    Some(u) => {
                        if !d.script.rx_seen {
                            if now() < u {
                                return;
                            }
                            self.cx.sink.control(
                                id,
                                EventKind::Timeout {
                                    op: "recv",
                                    after: t,
                                },
                            );
                        }
                        if let Some(d) = &mut self.dgram {
                            d.script.wait_until = None;
                        }
                    }
                },
                Step::Send { data, to, .. } => self.send_dgram(data.into_bytes(), to.as_deref()),
                Step::ShutdownWrite => {
                    if let Err(e) = d.sock.shutdown(Shutdown::Write) {
                        self.cx
                            .sink
                            .control(id, EventKind::Error(OpError::io("shutdown SHUT_WR", &e)));
                    }
                }
                Step::Close => {
                    d.closed = Some(CloseReason::ScriptDone);
                    self.end = Some(CloseReason::ScriptDone);
                }
            }
            self.cx.sink.control(
                id,
                EventKind::Step {
                    index,
                    what: describe_step(&self.spec.steps, index),
                },
            );
            if let Some(d) = &mut self.dgram {
                d.script.idx += 1;
            }
        }
    }
}

pub(super) fn describe_step(steps: &[Step], index: usize) -> String {
    match steps.get(index) {
        Some(Step::Send { data, to, mode }) => {
            let call = if *mode == SendMode::Once {
                "send"
            } else {
                "sendall"
            };
            match to {
                Some(t) => format!("sendto {} bytes to {t}", data.len()),
                None => format!("{call} {} bytes", data.len()),
            }
        }
        Some(Step::Wait(d)) => format!("waited {}", ms(*d)),
        Some(Step::WaitRecv(d)) => format!("waited for data (up to {})", ms(*d)),
        Some(Step::ShutdownWrite) => "shutdown(SHUT_WR)".into(),
        Some(Step::Close) => "close".into(),
        None => String::new(),
    }
}
