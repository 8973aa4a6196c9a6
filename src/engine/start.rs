//! Opening several sessions in order: each waits until the one before it is
//! ready (listening, bound, connected) or has ended, so a workspace with a
//! server and its client does not race the client against the listen().

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use super::protocol::{Event, EventKind};
use super::{Engine, EngineError, SessionId, SessionSpec};

/// How long to wait for a session to get ready before opening the next
/// anyway (a client to a dead host may take its whole connect timeout).
pub const READY_WAIT: Duration = Duration::from_secs(3);

/// Specs waiting to be opened.
pub struct StartQueue {
    pending: VecDeque<SessionSpec>,
    waiting: Option<(u32, Instant)>,
}

impl StartQueue {
    /// A queue that opens `specs` in order.
    pub fn new(specs: Vec<SessionSpec>) -> StartQueue {
        StartQueue {
            pending: specs.into(),
            waiting: None,
        }
    }

    /// Adds specs to open after the ones already waiting.
    pub fn extend(&mut self, specs: Vec<SessionSpec>) {
        self.pending.extend(specs);
    }

    /// Whether anything is left to open.
    pub fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }

    /// Notes events that make the awaited session ready.
    pub fn observe(&mut self, ev: &Event) {
        if let Some((s, _)) = self.waiting
            && ev.session.session == s
            && matches!(
                ev.kind,
                EventKind::Listening { .. }
                    | EventKind::Bound { .. }
                    | EventKind::Connected { .. }
                    | EventKind::Closed { .. }
            )
        {
            self.waiting = None;
        }
    }

    /// Opens the next spec if the previous one is ready; returns what it
    /// opened (or the error, with the spec, when the engine refused).
    pub fn poll(
        &mut self,
        engine: &mut Engine,
    ) -> Option<Result<(SessionId, SessionSpec), (EngineError, SessionSpec)>> {
        if let Some((_, since)) = self.waiting
            && since.elapsed() < READY_WAIT
        {
            return None;
        }
        let spec = self.pending.pop_front()?;
        match engine.open(spec.clone()) {
            Ok(id) => {
                self.waiting = Some((id.session, Instant::now()));
                Some(Ok((id, spec)))
            }
            Err(e) => Some(Err((e, spec))),
        }
    }

    /// When the next spec may be opened at the latest (for repaint timers).
    pub fn deadline(&self) -> Option<Instant> {
        if self.pending.is_empty() {
            return None;
        }
        self.waiting.map(|(_, since)| since + READY_WAIT)
    }
}
