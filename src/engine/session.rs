//! One lifecycle for every kind of session. The wrapper here sends
//! `Opened`, runs the kind, catches a panic, sends exactly one `Closed`
//! and finishes the sink, so no kind can forget its `Closed` or send two.
//! A kind is one type implementing [`Run`], picked once by [`pick`] from
//! the spec; adding a kind is its own file plus one line there.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::time::Duration;

use crossbeam_channel::Receiver;

use super::protocol::{CloseReason, Command, Counters, EventKind, SessionId};
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
}

/// One kind of session: what runs between `Opened` and `Closed`.
pub(crate) trait Run: Send {
    /// Runs to the end and says how it ended. `Opened` has been sent; the
    /// wrapper sends `Closed`.
    fn run(self: Box<Self>, cx: &mut Context) -> End;
}

/// What each kind needs from the engine beyond its spec.
pub(crate) struct Resources {
    /// The readiness poll (event-driven kinds).
    pub poll: mio::Poll,
    /// Where a blocked manual recv is interrupted.
    pub interrupts: super::worker::Interrupts,
    /// Cancels a blocking step-mode call.
    pub canceller: super::stepper::Canceller,
}

/// Picks the kind once, by the spec's kind.
pub(crate) fn pick(spec: SessionSpec, r: Resources) -> Box<dyn Run> {
    match spec.kind {
        SessionKind::Script { .. } => Box::new(super::stepper::StepSession::new(spec, r.canceller)),
        SessionKind::Burst(_) => Box::new(super::burst::BurstSession::new(spec)),
        _ => Box::new(super::worker::SocketSession::new(
            spec,
            r.poll,
            r.interrupts,
        )),
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

/// The lifecycle: `Opened`, the kind's run, exactly one `Closed` (a panic
/// is reported as `Panicked` with its message), then the sink finished.
pub(crate) fn run(
    top: SessionId,
    spec: SessionSpec,
    r: Resources,
    shared: Arc<Shared>,
    cmds: Receiver<Command>,
) {
    let mut cx = Context {
        top,
        sink: Sink::new(shared),
        cmds,
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
    let kind = pick(spec, r);
    let end = match catch_unwind(AssertUnwindSafe(|| kind.run(&mut cx))) {
        Ok(end) => end,
        Err(p) => {
            let msg = p
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| p.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".into());
            End::uncounted(CloseReason::Panicked(msg))
        }
    };
    cx.sink.control(
        top,
        EventKind::Closed {
            reason: end.reason,
            counters: end.counters,
        },
    );
    cx.sink.finish(Duration::from_secs(2));
}
