//! The worker side of the bounded event channel. Control events (state,
//! errors, closed) are never dropped: when the channel is full they wait in
//! a small local queue, and when that is full too the worker waits for the
//! consumer (so it stops reading and accepting, and peers slow down). Log
//! entries are dropped and counted instead, so a socket is never blocked on
//! a slow consumer for data (the app: a view may lag, the sockets do not);
//! a lossless engine (`sockscope run`, a recorder) makes them wait like
//! control events instead, so the consumer's pace slows the peers. The
//! channel is bounded in bytes as well as in events: a count of 64 KiB
//! chunks is not a memory bound.

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

impl Event {
    /// Roughly what the event holds in memory: what the channel's byte
    /// bound counts, for a consumer that holds events a while.
    pub fn weight(&self) -> usize {
        weight(self)
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

/// Wakes workers of a lossless engine that wait for the consumer to take
/// bytes off the channel (see [`Sink::log`]). Rung by the consumer as it
/// takes events, which costs a fence and a load while nobody waits.
#[derive(Default)]
pub(crate) struct RoomBell {
    waiters: AtomicUsize,
    lock: Mutex<()>,
    cv: Condvar,
}

impl RoomBell {
    /// Called after taking an event when `room` is true (the bytes in
    /// flight are down to where waiting workers go on).
    fn ring(&self, room: bool) {
        // Pairs with the fence in `wait`: either this load sees the waiter,
        // or the waiter's check sees the bytes taken.
        fence(Ordering::SeqCst);
        if room && self.waiters.load(Ordering::Relaxed) > 0 {
            // Taking the lock waits until the waiter is in `wait_timeout`,
            // so the notification is not lost.
            let _held = self.lock.lock();
            self.cv.notify_all();
        }
    }

    /// Sleeps until rung or `timeout`, unless `ready` says there is room.
    fn wait(&self, timeout: Duration, ready: impl Fn() -> bool) {
        let Ok(held) = self.lock.lock() else {
            return;
        };
        self.waiters.fetch_add(1, Ordering::Relaxed);
        fence(Ordering::SeqCst);
        if !ready() {
            let _ = self.cv.wait_timeout(held, timeout);
        }
        self.waiters.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Where a lossless engine's workers go on after waiting for room: a
/// quarter of the byte bound below it, so a waiting worker is woken once
/// per few megabytes taken, not once per event.
pub(crate) fn resume_below(budget: usize) -> usize {
    budget / 4 * 3
}

/// The consumer's end of the event channel: it gives back each event's
/// bytes to the budget the workers send against.
#[derive(Clone)]
pub struct EventRx {
    rx: Receiver<Event>,
    in_flight: Arc<AtomicUsize>,
    bell: Arc<ConsumerBell>,
    /// A lossless engine's waiting workers, and the bytes at which they
    /// go on.
    room: Option<(Arc<RoomBell>, usize)>,
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
        room: Option<(Arc<RoomBell>, usize)>,
    ) -> EventRx {
        EventRx {
            rx,
            in_flight,
            bell,
            room,
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
        let w = weight(&ev);
        let before = self.in_flight.fetch_sub(w, Ordering::Relaxed);
        if let Some((room, resume)) = &self.room {
            room.ring(before - w <= *resume);
        }
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
    /// Log entries are dropped (and counted) past this many bytes in flight;
    /// in a lossless engine the worker waits there instead.
    pub byte_budget: usize,
    /// Lossless: log entries wait for room (the worker stops reading, its
    /// peers slow down) instead of being dropped.
    pub room: Option<Arc<RoomBell>>,
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
        // Drops this session had go before anything newer about it (asked
        // for every entry of a lossless engine: the usual answer without
        // hashing).
        if !self.dropped.is_empty()
            && let Some((entries, bytes)) = self.dropped.remove(&session)
        {
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
        self.wait_for_room_until(PENDING_EVENTS / 2, PENDING_BYTES / 2);
    }

    /// Waits for the consumer until at most `events` and `bytes` wait here.
    fn wait_for_room_until(&mut self, events: usize, bytes: usize) {
        self.wake_now();
        while self.pending.len() > events || self.pending_bytes > bytes {
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

    /// A log entry: delivered if there is room, otherwise counted; in a
    /// lossless engine, delivered after waiting for room.
    pub fn log(&mut self, session: SessionId, entry: LogEntry) {
        if self.shared.room.is_some() {
            return self.log_waiting(session, entry);
        }
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

    /// A lossless engine's log entry. It waits for the bytes in flight to
    /// come down first, so they pass the bound by one entry at most, then
    /// goes in order behind control events that wait, and the worker waits
    /// until none does: nothing piles up per session (a reactor thread
    /// serves thousands), and while the worker waits its sockets are not
    /// read, so the peers feel the consumer's pace.
    fn log_waiting(&mut self, session: SessionId, entry: LogEntry) {
        self.wait_below_budget();
        self.control_now(session, EventKind::Log(entry));
        if !self.pending.is_empty() {
            self.wait_for_room_until(0, 0);
        }
    }

    fn wait_below_budget(&mut self) {
        let Some(room) = self.shared.room.clone() else {
            return;
        };
        let in_flight = self.shared.in_flight.clone();
        if in_flight.load(Ordering::Relaxed) <= self.shared.byte_budget {
            return;
        }
        let resume = resume_below(self.shared.byte_budget);
        // A dropped engine drains the channel, so this ends when the
        // consumer goes away too.
        while in_flight.load(Ordering::Relaxed) > resume {
            self.wake_now();
            room.wait(Duration::from_millis(100), || {
                in_flight.load(Ordering::Relaxed) <= resume
            });
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
