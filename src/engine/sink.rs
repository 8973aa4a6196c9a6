//! The worker side of the bounded event channel. Control events (state,
//! errors, closed) are never dropped: when the channel is full they wait in
//! a small local queue. Log entries are dropped and counted instead, so a
//! socket is never blocked on a slow consumer and memory stays bounded.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use crossbeam_channel::{SendTimeoutError, Sender, TrySendError};

use super::protocol::{Event, EventKind, LogEntry, SessionId, Stamp};

/// Wakes the consumer (the UI's repaint request, or nothing headless).
pub type WakeFn = Arc<dyn Fn() + Send + Sync>;

/// What every worker shares with the engine handle.
pub(crate) struct Shared {
    pub events: Sender<Event>,
    pub wake: Option<WakeFn>,
    pub start: Instant,
    pub start_wall: SystemTime,
}

impl Shared {
    pub fn stamp(&self) -> Stamp {
        let mono = self.start.elapsed();
        Stamp {
            mono,
            wall: self.start_wall + mono,
        }
    }
}

pub(crate) struct Sink {
    shared: Arc<Shared>,
    pending: VecDeque<Event>,
    dropped: HashMap<SessionId, (u64, u64)>,
    sent_since_wake: bool,
    gone: bool,
}

impl Sink {
    pub fn new(shared: Arc<Shared>) -> Sink {
        Sink {
            shared,
            pending: VecDeque::new(),
            dropped: HashMap::new(),
            sent_since_wake: false,
            gone: false,
        }
    }

    /// Whether the consumer has gone away (the engine was dropped).
    pub fn consumer_gone(&self) -> bool {
        self.gone
    }

    pub fn has_pending(&self) -> bool {
        !self.pending.is_empty() || !self.dropped.is_empty()
    }

    /// Sends if there is room; gives the event back when there is not.
    fn try_send(&mut self, ev: Event) -> Option<Event> {
        match self.shared.events.try_send(ev) {
            Ok(()) => {
                self.sent_since_wake = true;
                None
            }
            Err(TrySendError::Full(ev)) => Some(ev),
            Err(TrySendError::Disconnected(_)) => {
                self.gone = true;
                None
            }
        }
    }

    /// An event that must arrive, in order.
    pub fn control(&mut self, session: SessionId, kind: EventKind) {
        // Drops this session had go before anything newer about it.
        if let Some((entries, bytes)) = self.dropped.remove(&session) {
            self.queue_or_send(Event {
                session,
                at: self.shared.stamp(),
                kind: EventKind::Dropped { entries, bytes },
            });
        }
        self.queue_or_send(Event {
            session,
            at: self.shared.stamp(),
            kind,
        });
    }

    fn queue_or_send(&mut self, ev: Event) {
        if !self.pending.is_empty() {
            self.pending.push_back(ev);
            return;
        }
        if let Some(ev) = self.try_send(ev) {
            self.pending.push_back(ev);
        }
    }

    /// A log entry: delivered if there is room, otherwise counted.
    pub fn log(&mut self, session: SessionId, entry: LogEntry) {
        let len = entry.data.len() as u64;
        if !self.pending.is_empty() || !self.flush_dropped_of(session) {
            self.count_drop(session, len);
            return;
        }
        let ev = Event {
            session,
            at: self.shared.stamp(),
            kind: EventKind::Log(entry),
        };
        if self.try_send(ev).is_some() {
            self.count_drop(session, len);
        }
    }

    /// Latest counters: only worth sending if there is room right now.
    pub fn latest(&mut self, session: SessionId, kind: EventKind) {
        if self.pending.is_empty() {
            let ev = Event {
                session,
                at: self.shared.stamp(),
                kind,
            };
            let _ = self.try_send(ev);
        }
    }

    fn count_drop(&mut self, session: SessionId, bytes: u64) {
        let d = self.dropped.entry(session).or_insert((0, 0));
        d.0 += 1;
        d.1 += bytes;
    }

    /// Reports earlier drops for `session` before anything newer; false if
    /// there was no room to do so.
    fn flush_dropped_of(&mut self, session: SessionId) -> bool {
        let Some(&(entries, bytes)) = self.dropped.get(&session) else {
            return true;
        };
        let ev = Event {
            session,
            at: self.shared.stamp(),
            kind: EventKind::Dropped { entries, bytes },
        };
        match self.try_send(ev) {
            None => {
                self.dropped.remove(&session);
                true
            }
            Some(_) => false,
        }
    }

    /// Sends what waited, as far as there is room.
    pub fn flush(&mut self) {
        while let Some(ev) = self.pending.pop_front() {
            if let Some(ev) = self.try_send(ev) {
                self.pending.push_front(ev);
                return;
            }
        }
        let ids: Vec<SessionId> = self.dropped.keys().copied().collect();
        for id in ids {
            if !self.flush_dropped_of(id) {
                return;
            }
        }
    }

    /// Calls the consumer's waker once for everything sent since last time.
    pub fn wake(&mut self) {
        if self.sent_since_wake {
            self.sent_since_wake = false;
            if let Some(w) = &self.shared.wake {
                w();
            }
        }
    }

    /// At the end of a worker: deliver what waited, waiting a little for
    /// room, so the final `Closed` events arrive.
    pub fn finish(&mut self, grace: Duration) {
        let deadline = Instant::now() + grace;
        let dropped: Vec<_> = self.dropped.drain().collect();
        let stamp = self.shared.stamp();
        // Drop reports go before the closing events they precede.
        for (i, (session, (entries, bytes))) in dropped.into_iter().enumerate() {
            self.pending.insert(
                i,
                Event {
                    session,
                    at: stamp,
                    kind: EventKind::Dropped { entries, bytes },
                },
            );
        }
        while let Some(ev) = self.pending.pop_front() {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.shared.events.send_timeout(ev, left) {
                Ok(()) => self.sent_since_wake = true,
                Err(SendTimeoutError::Timeout(_)) | Err(SendTimeoutError::Disconnected(_)) => {
                    break;
                }
            }
            self.wake();
        }
        self.wake();
    }
}
