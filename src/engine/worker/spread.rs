//! A busy server on every core: on a reactor, each accepted child leaves
//! its server's unit for a unit of its own on the least loaded reactor, so
//! 1,000 children of one server are served by every reactor thread, not
//! by the one its listener is on.
//!
//! The server's unit (the parent) keeps the listener and routes commands
//! for a child to the child's unit (each has a small command channel and a
//! doorbell). A child's unit reports its own events under the child's id
//! and its own `Closed`; the parent sends its `Closed` only once every
//! child's unit has ended, so a server's children still close before it.
//!
//! A child is kept in its parent's unit, as before, when the session runs
//! on its own thread, when there is only one reactor, or when the parent
//! has events waiting for room in the channel (the child's own events must
//! not overtake its `accepted`).

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use crossbeam_channel::{Sender, TrySendError};

use super::*;
use crate::engine::reactor::Doorbell;

/// Commands a child's unit may hold: they come at a user's pace and the
/// child takes them on its next turn, and the channel allocates all its
/// slots at once (88 bytes each, for each of 10,000 children).
const CHILD_COMMANDS: usize = 4;

/// What a server shares with the children that run apart from it.
pub(super) struct Family {
    /// Set once the parent has ended; `parent_end` says why.
    parent_ended: AtomicBool,
    parent_end: Mutex<Option<CloseReason>>,
    /// Children's units alive.
    live: AtomicUsize,
    /// Children that ended since the parent last looked.
    ended: Mutex<Vec<u32>>,
    /// Rings the parent when a child ends.
    parent_bell: Arc<Doorbell>,
}

/// A child's unit's tie to its family: dropping it (after the child's
/// `Closed`, or after a panic) tells the parent.
pub(super) struct Membership {
    family: Arc<Family>,
    child: u32,
}

impl Drop for Membership {
    fn drop(&mut self) {
        if let Ok(mut v) = self.family.ended.lock() {
            v.push(self.child);
        }
        self.family.live.fetch_sub(1, Ordering::AcqRel);
        self.family.parent_bell.ring();
    }
}

/// A child running apart, as its parent reaches it.
pub(super) struct Remote {
    tx: Sender<Command>,
    bell: Arc<Doorbell>,
}

/// What a worker is: a whole session (with the children it sent apart, if
/// it is a server on a reactor), or one child of a server.
pub(super) enum Role {
    Session {
        family: Option<Arc<Family>>,
        remote: HashMap<u32, Remote>,
    },
    Child(Membership),
}

impl Drop for Role {
    /// A server dropped without ending its children (it panicked) still
    /// tells them, so none outlives it unnoticed.
    fn drop(&mut self) {
        if let Role::Session {
            family: Some(f),
            remote,
        } = self
            && !f.parent_ended.swap(true, Ordering::AcqRel)
        {
            if let Ok(mut e) = f.parent_end.lock() {
                *e = Some(CloseReason::ParentClosed);
            }
            for r in remote.values() {
                r.bell.ring();
            }
        }
    }
}

impl Role {
    pub(super) fn session() -> Role {
        Role::Session {
            family: None,
            remote: HashMap::new(),
        }
    }
}

impl Worker {
    /// The id whose `Closed` this unit's driver sends.
    pub(super) fn unit_id(&self) -> SessionId {
        match &self.role {
            Role::Session { .. } => self.cx.top,
            Role::Child(m) => self.cx.top.child(m.child),
        }
    }

    pub(super) fn is_child_unit(&self) -> bool {
        matches!(self.role, Role::Child(_))
    }

    /// Sends a just-accepted child to a unit of its own, where it pays.
    pub(super) fn spread(&mut self, child: u32) {
        if !(self.poll.is_shared()
            && self.handoff.spreads()
            && self.spec.auto_read
            && !self.cx.sink.has_pending())
        {
            return;
        }
        let Role::Session { family, remote } = &mut self.role else {
            return;
        };
        let Some(conn) = self.conns.remove(&child) else {
            return;
        };
        let _ = self.poll.deregister(conn.io.fd());
        let family = family
            .get_or_insert_with(|| {
                Arc::new(Family {
                    parent_ended: AtomicBool::new(false),
                    parent_end: Mutex::new(None),
                    live: AtomicUsize::new(0),
                    ended: Mutex::new(Vec::new()),
                    parent_bell: self.bell.clone(),
                })
            })
            .clone();
        family.live.fetch_add(1, Ordering::AcqRel);
        let (tx, rx) = crossbeam_channel::bounded(CHILD_COMMANDS);
        let bell = Arc::new(Doorbell::unplaced());
        let cx = Context {
            top: self.cx.top,
            sink: Sink::new(self.cx.sink.shared()),
            cmds: rx,
            done: Arc::new(AtomicBool::new(false)),
        };
        let mut part = Worker::with(
            self.spec.clone(),
            Reg::Unplaced,
            self.interrupts.clone(),
            cx,
            bell.clone(),
            self.handoff.clone(),
        );
        part.role = Role::Child(Membership { family, child });
        part.conns.insert(child, conn);
        remote.insert(
            child,
            Remote {
                tx,
                bell: bell.clone(),
            },
        );
        self.handoff.adopt(Box::new(part), bell);
    }

    /// Hands a command for a child that runs apart to it; gives it back
    /// when the child is this unit's own.
    pub(super) fn route(&mut self, cmd: Command) -> Option<Command> {
        let Role::Session { remote, .. } = &mut self.role else {
            return Some(cmd);
        };
        let target = cmd.target();
        if let Command::SendToChildren { .. } = &cmd {
            let mut gone = Vec::new();
            for (child, r) in remote.iter() {
                match r.tx.try_send(cmd.clone()) {
                    Ok(()) => r.bell.ring(),
                    Err(TrySendError::Full(_)) => self.cx.sink.control(
                        self.cx.top.child(*child),
                        EventKind::Error(OpError::plain(
                            "send to all",
                            "this connection's command queue is full; try again in a moment",
                        )),
                    ),
                    Err(TrySendError::Disconnected(_)) => gone.push(*child),
                }
            }
            for c in gone {
                remote.remove(&c);
            }
            // The parent's own children (if any) are sent to by the caller.
            return Some(cmd);
        }
        if let Command::TcpInfo { .. } = &cmd
            && target == self.cx.top
        {
            // Asked of the server: every connection answers.
            for (child, r) in remote.iter() {
                let one = Command::TcpInfo {
                    target: self.cx.top.child(*child),
                };
                if r.tx.try_send(one).is_ok() {
                    r.bell.ring();
                }
            }
            return Some(cmd);
        }
        if target.child == 0 {
            return Some(cmd);
        }
        let Some(r) = remote.get(&target.child) else {
            return Some(cmd);
        };
        match r.tx.try_send(cmd) {
            Ok(()) => {
                r.bell.ring();
                None
            }
            Err(TrySendError::Full(_)) => {
                self.cx.sink.control(
                    target,
                    EventKind::Error(OpError::plain(
                        "command",
                        "this connection's command queue is full; try again in a moment",
                    )),
                );
                None
            }
            Err(TrySendError::Disconnected(cmd)) => {
                remote.remove(&target.child);
                Some(cmd)
            }
        }
    }

    /// Each turn: a parent forgets children that ended and, once it has
    /// ended itself, ends them; a child ends when its parent has.
    pub(super) fn family_turn(&mut self) {
        match &mut self.role {
            Role::Session {
                family: Some(f),
                remote,
            } => {
                if let Ok(mut v) = f.ended.lock() {
                    for c in v.drain(..) {
                        remote.remove(&c);
                    }
                }
                if let Some(reason) = &self.end
                    && !f.parent_ended.load(Ordering::Acquire)
                {
                    let for_children = match reason {
                        CloseReason::EngineStopped => CloseReason::EngineStopped,
                        _ => CloseReason::ParentClosed,
                    };
                    if let Ok(mut e) = f.parent_end.lock() {
                        *e = Some(for_children);
                    }
                    f.parent_ended.store(true, Ordering::Release);
                    for r in remote.values() {
                        r.bell.ring();
                    }
                }
            }
            Role::Session { family: None, .. } => {}
            Role::Child(m) => {
                if self.end.is_none() && m.family.parent_ended.load(Ordering::Acquire) {
                    self.end = Some(self.reason_without_commands());
                }
            }
        }
    }

    /// Why the unit ends when its command channel is gone: for a session,
    /// the engine stopped it; for a child apart, its server is gone.
    pub(super) fn reason_without_commands(&self) -> CloseReason {
        match &self.role {
            Role::Session { .. } => CloseReason::EngineStopped,
            Role::Child(m) => m
                .family
                .parent_end
                .lock()
                .ok()
                .and_then(|e| e.clone())
                .unwrap_or(CloseReason::ParentClosed),
        }
    }

    /// Children running apart that a command can still reach.
    pub(super) fn remote_count(&self) -> usize {
        match &self.role {
            Role::Session { remote, .. } => remote.len(),
            Role::Child(_) => 0,
        }
    }

    /// A parent may finish only once its children's units have.
    pub(super) fn children_apart(&self) -> usize {
        match &self.role {
            Role::Session {
                family: Some(f), ..
            } => f.live.load(Ordering::Acquire),
            _ => 0,
        }
    }
}
