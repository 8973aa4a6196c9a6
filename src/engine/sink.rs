//! The worker side of the bounded event channel. Control events (state,
//! errors, closed) are never dropped: when the channel is full they wait in
//! a small local queue, and when that is full too the worker waits for the
//! consumer (so it stops reading and accepting, and peers slow down). Log
//! entries are dropped and counted instead, so a socket is never blocked on
//! a slow consumer for data. The channel is bounded in bytes as well as in
//! events: a count of 64 KiB chunks is not a memory bound.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering, fence};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant, SystemTime};

use crossbeam_channel::{
    Receiver, RecvTimeoutError, SendTimeoutError, Sender, TryRecvError, TrySendError,
};

use super::error::OpError;
use super::protocol::{Event, EventKind, LogEntry, SessionId, Stamp};

/// Control events that may wait in a worker before it waits itself.
const PENDING_EVENTS: usize = 1024;
/// The same bound in bytes (a step-mode call record can carry 16 MiB).
const PENDING_BYTES: usize = 8 * 1024 * 1024;
/// How often a coalesced error's count is reported while it repeats.
const REPEAT_REPORT: Duration = Duration::from_secs(1);

/// Roughly what an event holds in memory, for the byte bounds.
pub(crate) fn weight(ev: &Event) -> usize {
    const BASE: usize = std::mem::size_of::<Event>();
    BASE + match &ev.kind {
        EventKind::Log(e) => e.data.len(),
        EventKind::Call { record, .. } => record.weight(),
        EventKind::Error(e) | EventKind::ConnectFailed(e) => e.weight(),
        EventKind::ErrorRepeated { error, .. } => error.weight(),
        EventKind::Closed { reason, .. } => match reason {
            super::protocol::CloseReason::Error(e) => e.weight(),
            super::protocol::CloseReason::Panicked(m) => m.len(),
            _ => 0,
        },
        EventKind::Tls(_) | EventKind::TlsIdentity(_) | EventKind::BurstDone(_) => 4096,
        EventKind::Options(v) => v.len() * 64,
        EventKind::Warning { message, .. } => message.len(),
        _ => 0,
    }
}

/// Wakes a consumer waiting in [`EventRx::recv_timeout`]. The channel's
/// own blocking receive spins and calls `sched_yield` before it sleeps
/// (1.45 yields per round trip in an echo server under `sockscope run`),
/// taking a core from the sockets' threads and the peers on a small
/// machine; this one sleeps at once, and workers ring it once per turn
/// (from [`Sink::wake`]), not once per event.
#[derive(Default)]
pub(crate) struct ConsumerBell {
    /// The consumer is in [`ConsumerBell::wait`]; ringing is a load of
    /// this flag while it is not.
    sleeping: AtomicBool,
    /// Rung since the consumer went to sleep: later rings before it wakes
    /// make no system call (a condition variable's notify always does).
    rung: AtomicBool,
    lock: Mutex<()>,
    cv: Condvar,
}

impl ConsumerBell {
    /// Called after sending: wakes the consumer if it sleeps.
    pub fn ring(&self) {
        // Pairs with the fence in `wait`: either this load sees the
        // consumer asleep, or the consumer's check sees what was sent.
        fence(Ordering::SeqCst);
        if self.sleeping.load(Ordering::Relaxed) && !self.rung.swap(true, Ordering::AcqRel) {
            // Taking the lock waits until the consumer is in `wait_*` (or
            // has not checked `rung` yet), so the notification is not lost.
            let _held = self.lock.lock();
            self.cv.notify_all();
        }
    }

    /// Sleeps until rung or `timeout`, unless `ready` says there is
    /// something to take already.
    fn wait(&self, timeout: Duration, ready: impl Fn() -> bool) {
        let Ok(held) = self.lock.lock() else {
            return;
        };
        self.sleeping.store(true, Ordering::Relaxed);
        fence(Ordering::SeqCst);
        if !self.rung.load(Ordering::Acquire) && !ready() {
            let _ = self
                .cv
                .wait_timeout_while(held, timeout, |()| !self.rung.load(Ordering::Acquire));
        }
        self.sleeping.store(false, Ordering::Relaxed);
        self.rung.store(false, Ordering::Release);
    }
}

/// The consumer's end of the event channel: it gives back each event's
/// bytes to the budget the workers send against.
#[derive(Clone)]
pub struct EventRx {
    rx: Receiver<Event>,
    in_flight: Arc<AtomicUsize>,
    bell: Arc<ConsumerBell>,
    /// Events the engine handle made itself (a session that could not
    /// start): the consumer's own thread puts them here, so they cannot
    /// wait on a full channel. One pair per failed `open`, so as bounded
    /// as the consumer's own calls.
    local: Arc<std::sync::Mutex<VecDeque<Event>>>,
}

impl EventRx {
    pub(crate) fn new(
        rx: Receiver<Event>,
        in_flight: Arc<AtomicUsize>,
        bell: Arc<ConsumerBell>,
    ) -> EventRx {
        EventRx {
            rx,
            in_flight,
            bell,
            local: Arc::default(),
        }
    }

    pub(crate) fn inject(&self, ev: Event) {
        if let Ok(mut q) = self.local.lock() {
            q.push_back(ev);
        }
    }

    fn local_next(&self) -> Option<Event> {
        self.local.lock().ok().and_then(|mut q| q.pop_front())
    }

    fn took(&self, ev: Event) -> Event {
        self.in_flight.fetch_sub(weight(&ev), Ordering::Relaxed);
        ev
    }

    /// The next event, if one is waiting.
    pub fn try_recv(&self) -> Result<Event, TryRecvError> {
        if let Some(ev) = self.local_next() {
            return Ok(ev);
        }
        self.rx.try_recv().map(|e| self.took(e))
    }

    /// The next event, waiting up to `timeout`.
    pub fn recv_timeout(&self, timeout: Duration) -> Result<Event, RecvTimeoutError> {
        let deadline = Instant::now() + timeout;
        loop {
            match self.try_recv() {
                Ok(ev) => return Ok(ev),
                Err(TryRecvError::Disconnected) => return Err(RecvTimeoutError::Disconnected),
                Err(TryRecvError::Empty) => {}
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(RecvTimeoutError::Timeout);
            }
            self.bell.wait(left, || !self.rx.is_empty());
        }
    }

    /// Events waiting now.
    pub fn len(&self) -> usize {
        self.rx.len() + self.local.lock().map_or(0, |q| q.len())
    }

    /// Whether no event waits.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bytes the channel holds now (events waiting for the consumer).
    pub fn bytes_in_flight(&self) -> usize {
        self.in_flight.load(Ordering::Relaxed)
    }
}

/// Wakes the consumer (the UI's repaint request, or nothing headless).
pub type WakeFn = Arc<dyn Fn() + Send + Sync>;

/// What every worker shares with the engine handle.
pub(crate) struct Shared {
    pub events: Sender<Event>,
    /// Bytes sent into `events` and not yet taken (see [`EventRx`]).
    pub in_flight: Arc<AtomicUsize>,
    /// Log entries are dropped (and counted) past this many bytes in flight.
    pub byte_budget: usize,
    pub wake: Option<WakeFn>,
    /// Wakes a consumer sleeping in [`EventRx::recv_timeout`].
    pub bell: Arc<ConsumerBell>,
    pub start: Instant,
    pub start_wall: SystemTime,
}

impl Shared {
    /// Sends an event that may be lost when the channel is full (a
    /// progress count a later one replaces), from a helper thread that has
    /// no [`Sink`], and wakes the consumer.
    pub fn send_latest(&self, ev: Event) {
        if self.try_send(ev).is_err() {
            return;
        }
        self.bell.ring();
        if let Some(w) = &self.wake {
            w();
        }
    }

    /// Sends if there is room, with the event's weight counted in the
    /// bytes in flight while it waits (the consumer takes it off).
    // The event comes back by value when there is no room, as the channel
    // gives it: boxing it would allocate for every full channel.
    #[allow(clippy::result_large_err)]
    fn try_send(&self, ev: Event) -> Result<(), TrySendError<Event>> {
        let w = weight(&ev);
        self.in_flight.fetch_add(w, Ordering::Relaxed);
        self.events.try_send(ev).inspect_err(|_| {
            self.in_flight.fetch_sub(w, Ordering::Relaxed);
        })
    }

    pub fn stamp(&self) -> Stamp {
        let mono = self.start.elapsed();
        Stamp {
            mono,
            wall: self.start_wall + mono,
        }
    }
}

/// An error that keeps happening: reported once, then counted.
struct Repeat {
    error: OpError,
    times: u64,
    since: Instant,
}

pub(crate) struct Sink {
    shared: Arc<Shared>,
    pending: VecDeque<Event>,
    pending_bytes: usize,
    repeats: HashMap<SessionId, Repeat>,
    dropped: HashMap<SessionId, (u64, u64)>,
    sent_since_wake: bool,
    gone: bool,
}

impl Sink {
    /// The engine-wide state this sink sends into (for a helper thread of
    /// the session's that reports on its own).
    pub fn shared(&self) -> Arc<Shared> {
        self.shared.clone()
    }

    pub fn new(shared: Arc<Shared>) -> Sink {
        Sink {
            shared,
            pending: VecDeque::new(),
            pending_bytes: 0,
            repeats: HashMap::new(),
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
        !self.pending.is_empty()
            || !self.dropped.is_empty()
            || self.repeats.values().any(|r| r.times > 0)
    }

    /// Sends if there is room; gives the event back when there is not.
    fn try_send(&mut self, ev: Event) -> Option<Event> {
        match self.shared.try_send(ev) {
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

    /// An event that must arrive, in order. Identical errors in a row are
    /// reported once, then counted (`ErrorRepeated`).
    pub fn control(&mut self, session: SessionId, kind: EventKind) {
        if let EventKind::Error(e) = &kind {
            if let Some(r) = self.repeats.get_mut(&session)
                && r.error == *e
            {
                r.times += 1;
                return;
            }
            self.report_repeats(session);
            self.repeats.insert(
                session,
                Repeat {
                    error: e.clone(),
                    times: 0,
                    since: Instant::now(),
                },
            );
        } else if self.repeats.contains_key(&session) {
            self.report_repeats(session);
            self.repeats.remove(&session);
        }
        self.control_now(session, kind);
    }

    /// Reports how often `session`'s last error repeated, if it did.
    fn report_repeats(&mut self, session: SessionId) {
        let Some(r) = self.repeats.get_mut(&session) else {
            return;
        };
        if r.times == 0 {
            return;
        }
        let kind = EventKind::ErrorRepeated {
            error: r.error.clone(),
            times: r.times,
        };
        r.times = 0;
        r.since = Instant::now();
        self.control_now(session, kind);
    }

    fn control_now(&mut self, session: SessionId, kind: EventKind) {
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
        let ev = if self.pending.is_empty() {
            match self.try_send(ev) {
                None => return,
                Some(ev) => ev,
            }
        } else {
            ev
        };
        self.pending_bytes += weight(&ev);
        self.pending.push_back(ev);
        if self.pending.len() > PENDING_EVENTS || self.pending_bytes > PENDING_BYTES {
            self.wait_for_room();
        }
    }

    /// The local queue is full: wait for the consumer to take events until
    /// it is half empty. The worker does nothing else meanwhile, so its
    /// sockets stop being read and its listener stops accepting: the peers
    /// feel the consumer's pace instead of memory growing.
    fn wait_for_room(&mut self) {
        self.wake_now();
        while self.pending.len() > PENDING_EVENTS / 2 || self.pending_bytes > PENDING_BYTES / 2 {
            let Some(ev) = self.pending.pop_front() else {
                break;
            };
            let w = weight(&ev);
            self.shared.in_flight.fetch_add(w, Ordering::Relaxed);
            match self
                .shared
                .events
                .send_timeout(ev, Duration::from_millis(100))
            {
                Ok(()) => {
                    self.pending_bytes -= w;
                    self.sent_since_wake = true;
                    self.wake_now();
                }
                Err(SendTimeoutError::Timeout(ev)) => {
                    self.shared.in_flight.fetch_sub(w, Ordering::Relaxed);
                    self.pending.push_front(ev);
                    self.wake_now();
                }
                Err(SendTimeoutError::Disconnected(_)) => {
                    self.shared.in_flight.fetch_sub(w, Ordering::Relaxed);
                    self.gone = true;
                    self.pending.clear();
                    self.pending_bytes = 0;
                    return;
                }
            }
        }
    }

    fn wake_now(&mut self) {
        self.sent_since_wake = true;
        self.wake();
    }

    /// A log entry: delivered if there is room, otherwise counted.
    pub fn log(&mut self, session: SessionId, entry: LogEntry) {
        let len = entry.data.len() as u64;
        let over_budget = self.shared.in_flight.load(Ordering::Relaxed) + entry.data.len()
            > self.shared.byte_budget;
        if over_budget || !self.pending.is_empty() || !self.flush_dropped_of(session) {
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
        // Asked before every log entry: the usual answer without hashing.
        if self.dropped.is_empty() {
            return true;
        }
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
        let due: Vec<SessionId> = self
            .repeats
            .iter()
            .filter(|(_, r)| r.times > 0 && r.since.elapsed() >= REPEAT_REPORT)
            .map(|(k, _)| *k)
            .collect();
        for id in due {
            self.report_repeats(id);
        }
        while let Some(ev) = self.pending.pop_front() {
            let w = weight(&ev);
            if let Some(ev) = self.try_send(ev) {
                self.pending.push_front(ev);
                return;
            }
            self.pending_bytes -= w;
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
            self.shared.bell.ring();
            if let Some(w) = &self.shared.wake {
                w();
            }
        }
    }

    /// At the end of a worker: deliver what waited, so the final `Closed`
    /// events arrive. It waits as long as the consumer exists (a dropped
    /// engine drains the channel, so this always ends); `grace` is only
    /// how long each wait for room lasts before the waker is rung again.
    pub fn finish(&mut self, grace: Duration) {
        let ids: Vec<SessionId> = self.repeats.keys().copied().collect();
        for id in ids {
            self.report_repeats(id);
        }
        self.repeats.clear();
        let step = grace.clamp(Duration::from_millis(10), Duration::from_millis(200));
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
            let w = weight(&ev);
            self.shared.in_flight.fetch_add(w, Ordering::Relaxed);
            match self.shared.events.send_timeout(ev, step) {
                Ok(()) => {
                    self.pending_bytes = self.pending_bytes.saturating_sub(w);
                    self.sent_since_wake = true;
                }
                Err(SendTimeoutError::Timeout(ev)) => {
                    self.shared.in_flight.fetch_sub(w, Ordering::Relaxed);
                    self.pending.push_front(ev);
                    self.sent_since_wake = true;
                }
                Err(SendTimeoutError::Disconnected(_)) => {
                    self.shared.in_flight.fetch_sub(w, Ordering::Relaxed);
                    break;
                }
            }
            self.wake();
        }
        self.wake();
    }
}
