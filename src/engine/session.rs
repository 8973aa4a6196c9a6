//! One lifecycle for every kind of session. The wrapper here sends
//! `Opened`, runs the kind, catches a panic, sends exactly one `Closed`
//! and finishes the sink, so no kind can forget its `Closed` or send two.
//! A kind is one type, picked once by [`pick`] from the spec; adding a
//! kind is its own file plus one line there.
//!
//! Two shapes of kind: one that runs on its own thread from start to end
//! ([`Run`]: step mode's real blocking calls, a timed burst), and one
//! driven by readiness ([`React`]: the socket and serial kinds), which is
//! set up on its own thread and then handed to a shared reactor
//! (engine/reactor.rs), where the same `Closed` is sent by [`close`].

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crossbeam_channel::Receiver;

use super::protocol::{CloseReason, Command, Counters, EventKind, SessionId};
use super::reactor::{Doorbell, Handoff, Reg};
use super::sink::{Shared, Sink};
use super::spec::{SessionKind, SessionSpec};

/// How a session ended, for its one `Closed` event.
#[derive(Debug)]
pub(crate) struct End {
    /// Why it ended.
    pub reason: CloseReason,
    /// What it counted (a server: its own; children report their own).
    pub counters: Counters,
}

impl End {
    /// An end with nothing counted.
    pub fn uncounted(reason: CloseReason) -> End {
        End {
            reason,
            counters: Counters::default(),
        }
    }
}

/// What a running session has: its id, where its events go and where
/// its commands come from. The wrapper owns it, so a panicking kind
/// leaves the sink whole and what it logged is still delivered.
pub(crate) struct Context {
    /// The session's id.
    pub top: SessionId,
    /// Its events.
    pub sink: Sink,
    /// Its commands; disconnected means "stop".
    pub cmds: Receiver<Command>,
    /// Set once its `Closed` is delivered (the engine handle reaps it).
    pub done: Arc<AtomicBool>,
}

/// A kind that runs on its own thread: what runs between `Opened` and
/// `Closed`.
pub(crate) trait Run: Send {
    /// Runs to the end and says how it ended. `Opened` has been sent; the
    /// wrapper sends `Closed`.
    fn run(self: Box<Self>, cx: &mut Context) -> End;
}

/// A kind driven by readiness: set up on its own thread, then turned by a
/// reactor (or by itself, when it keeps its thread). It owns its
/// [`Context`]; whoever drives it sends the `Closed` through [`close`].
pub(crate) trait React: Send {
    /// Its context, for the `Closed` (also after a panic in it).
    fn cx(&mut self) -> &mut Context;
    /// Whose `Closed` its driver sends: the session's, or for a server's
    /// child running apart from it (engine/worker/spread.rs), the child's.
    fn id(&self) -> SessionId;
    /// Sets up (resolving and connecting may block); `ended` says if
    /// that failed.
    fn start(&mut self);
    /// It makes real blocking calls and must keep its own thread.
    fn keeps_thread(&self) -> bool;
    /// Runs to its end on its own thread and its own poll.
    fn run_here(&mut self);
    /// Moves what it watches to a reactor's poll.
    fn attach(&mut self, reg: Reg);
    /// A readiness event for one of its tokens.
    fn ready(&mut self, token: u32, ev: &mio::event::Event);
    /// Commands wait.
    fn mail(&mut self);
    /// The end of a turn that touched it: timers, bookkeeping, events.
    fn after(&mut self);
    /// When it next needs a turn with nothing ready.
    fn deadline(&self) -> Option<Instant>;
    /// It has ended (its `finish` is due).
    fn ended(&self) -> bool;
    /// Ends it for `reason` (unless it ended already).
    fn stop(&mut self, reason: CloseReason);
    /// Closes what it still holds and says how it ended; None for a
    /// server's child apart from it, which has sent its own `Closed`.
    fn finish(&mut self) -> Option<End>;
}

/// What each kind needs from the engine beyond its spec.
pub(crate) struct Resources {
    /// The readiness poll (event-driven kinds, while they are set up).
    pub poll: mio::Poll,
    /// Where a blocked manual recv is interrupted.
    pub interrupts: super::worker::Interrupts,
    /// Cancels a blocking step-mode call.
    pub canceller: super::stepper::Canceller,
    /// How the engine handle rings the session.
    pub bell: Arc<Doorbell>,
    /// The reactors set-up sessions move to.
    pub handoff: Handoff,
}

enum Picked {
    Run(Box<dyn Run>, Context),
    React(Box<dyn React>),
}

/// Picks the kind once, by the spec's kind.
fn pick(spec: SessionSpec, r: Resources, cx: Context) -> Picked {
    match spec.kind {
        SessionKind::Script { .. } => Picked::Run(
            Box::new(super::stepper::StepSession::new(spec, r.canceller)),
            cx,
        ),
        SessionKind::Burst(_) => Picked::Run(Box::new(super::burst::BurstSession::new(spec)), cx),
        _ => Picked::React(Box::new(super::worker::Worker::new(
            spec,
            r.poll,
            r.interrupts,
            cx,
            r.bell,
            r.handoff,
        ))),
    }
}

/// The lifecycle of a session that could not start (no descriptor for
/// its poller, no thread): still `Opened`, then `Closed` with the error,
/// so a resource limit ends that session, not the run.
pub(crate) fn not_started(
    name: String,
    kind: super::protocol::Kind,
    op: &str,
    e: &std::io::Error,
) -> [EventKind; 2] {
    [
        EventKind::Opened { name, kind },
        EventKind::Closed {
            reason: CloseReason::Error(super::error::OpError::io(op, e).with_hint(
                "the process is out of descriptors or threads; close some sessions or raise `ulimit -n`",
            )),
            counters: Counters::default(),
        },
    ]
}

/// What a panic said, for `Closed { reason: Panicked }`.
pub(crate) fn panic_message(p: &(dyn std::any::Any + Send)) -> String {
    p.downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into())
}

fn guarded<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    catch_unwind(AssertUnwindSafe(f)).map_err(|p| panic_message(&*p))
}

/// The end of every lifecycle: exactly one `Closed` (the session's, or a
/// child's that runs apart from it and panicked), the sink finished, and
/// the session marked done for the engine handle.
pub(crate) fn close(cx: &mut Context, id: SessionId, end: End) {
    cx.sink.control(
        id,
        EventKind::Closed {
            reason: end.reason,
            counters: end.counters,
        },
    );
    cx.sink.finish(Duration::from_secs(2));
    cx.done.store(true, Ordering::Release);
}

/// The end of a server's child that ran apart from it and sent its own
/// `Closed`: what it logged is delivered.
pub(crate) fn close_part(cx: &mut Context) {
    cx.sink.finish(Duration::from_secs(2));
    cx.done.store(true, Ordering::Release);
}

/// The lifecycle: `Opened`, the kind's run, exactly one `Closed` (a panic
/// is reported as `Panicked` with its message), then the sink finished.
/// An event-driven kind leaves this thread once it is set up and the rest
/// of its lifecycle runs on a reactor.
pub(crate) fn run(
    top: SessionId,
    spec: SessionSpec,
    r: Resources,
    shared: Arc<Shared>,
    cmds: Receiver<Command>,
    done: Arc<AtomicBool>,
) {
    let mut cx = Context {
        top,
        sink: Sink::new(shared),
        cmds,
        done,
    };
    cx.sink.control(
        top,
        EventKind::Opened {
            name: spec.name.clone(),
            kind: spec.kind.kind(),
        },
    );
    cx.sink.flush();
    cx.sink.wake();
    let bell = r.bell.clone();
    let handoff = r.handoff.clone();
    match pick(spec, r, cx) {
        Picked::Run(kind, mut cx) => {
            let end = guarded(|| kind.run(&mut cx))
                .unwrap_or_else(|msg| End::uncounted(CloseReason::Panicked(msg)));
            close(&mut cx, top, end);
        }
        Picked::React(mut unit) => {
            let mut outcome = guarded(|| unit.start());
            if outcome.is_ok() && !unit.ended() {
                if !unit.keeps_thread() {
                    handoff.adopt(unit, bell);
                    return;
                }
                outcome = guarded(|| unit.run_here());
            }
            // A session set up here is whole (only a reactor makes parts).
            let end = outcome
                .and_then(|()| guarded(|| unit.finish()))
                .map(|end| end.unwrap_or_else(|| End::uncounted(CloseReason::Local)))
                .unwrap_or_else(|msg| End::uncounted(CloseReason::Panicked(msg)));
            close(unit.cx(), top, end);
        }
    }
}
