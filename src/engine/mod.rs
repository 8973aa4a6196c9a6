//! The socket engine: sessions driven by [`Command`]s and reporting
//! [`Event`]s over one bounded channel. Event-driven sessions share a few
//! reactor threads (engine/reactor.rs); step mode and bursts, which make
//! blocking calls on purpose, keep a named thread each. Nothing here knows
//! about egui; the UI and the headless runner are both just consumers.

pub mod burst;
pub mod checksum;
pub mod codec;
pub mod error;
pub mod framing;
pub mod log;
pub mod options;
pub mod protocol;
mod reactor;
pub mod relay;
pub mod respond;
pub mod rules;
pub mod serial;
mod session;
mod sink;
pub mod spec;
pub mod start;
pub mod stepper;
mod stream;
pub mod system;
pub mod tcp_info;
pub mod tls;
mod transport;
mod worker;
pub mod written;
pub mod ws;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Instant, SystemTime};

use crossbeam_channel::{Sender, TrySendError};

pub use protocol::{Command, Event, EventKind, SessionId};
pub use sink::WakeFn;
pub use spec::SessionSpec;

use sink::Shared;

/// Engine-wide settings.
#[derive(Clone, Copy, Debug)]
pub struct EngineConfig {
    /// Capacity of the worker -> consumer event channel. When it is full,
    /// log entries are counted instead of queued.
    pub event_capacity: usize,
    /// The same channel's bound in bytes: past it, log entries are counted
    /// instead of queued (control events still wait their turn).
    pub event_bytes: usize,
    /// Capacity of each session's command channel.
    pub command_capacity: usize,
    /// Log entries wait for room in the channel instead of being counted
    /// as dropped: a slow consumer slows the sessions (they stop reading,
    /// so their peers block) and nothing it is given is lost. For a
    /// recorder (`sockscope run`); the app keeps its sockets at full speed
    /// and counts what its view could not take.
    pub lossless: bool,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            // The channel writes every slot when it is made (208 bytes
            // each): 65,536 were 13 MiB resident from the start. 16,384
            // hold 80 ms of a 10,000-connection echo's events; past that
            // the byte bound and the drop counts do their work as before.
            event_capacity: 16_384,
            event_bytes: 64 * 1024 * 1024,
            // A bounded channel allocates all its slots up front (about
            // 90 bytes each): 1,024 of them cost 90 KiB a session, 900 MiB
            // for a workspace of 10,000. Commands come at a user's or a
            // script's pace, and a full queue says `Busy`.
            command_capacity: 64,
            lossless: false,
        }
    }
}

/// Why a command could not be handed to a session.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum EngineError {
    /// No such session.
    #[error("session {0} is not open (already closed, or never existed)")]
    NoSuchSession(SessionId),
    /// The session's command queue is full.
    #[error("session {0} is busy: its command queue is full; try again in a moment")]
    Busy(SessionId),
    /// A thread could not be started.
    #[error("could not start a worker thread: {0}")]
    Spawn(String),
}

struct Handle {
    tx: Sender<Command>,
    bell: Arc<reactor::Doorbell>,
    /// Its `Closed` has been delivered.
    done: Arc<AtomicBool>,
    /// The thread it was set up on (and ran on, if it keeps one).
    thread: Option<JoinHandle<()>>,
    interrupts: worker::Interrupts,
    canceller: stepper::Canceller,
}

impl Handle {
    fn is_done(&self) -> bool {
        self.done.load(Ordering::Acquire)
    }

    fn interrupt(&self) {
        self.canceller.cancel();
        if let Ok(v) = self.interrupts.lock() {
            for s in v.iter() {
                let _ = s.shutdown(std::net::Shutdown::Both);
            }
        }
    }
}

/// The engine handle. Dropping it stops every session and joins its thread.
pub struct Engine {
    shared: Arc<Shared>,
    events: sink::EventRx,
    sessions: HashMap<u32, Handle>,
    next_id: u32,
    config: EngineConfig,
    /// The reactor threads, started with the first session.
    pool: Option<reactor::Pool>,
}

impl Engine {
    /// An engine whose events wake the consumer through `wake` (the UI
    /// passes a repaint request; headless passes None).
    pub fn new(config: EngineConfig, wake: Option<WakeFn>) -> Engine {
        let (tx, rx) = crossbeam_channel::bounded(config.event_capacity.max(16));
        let in_flight = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let bell = Arc::new(sink::ConsumerBell::default());
        let byte_budget = config.event_bytes.max(1024 * 1024);
        let room = config.lossless.then(|| Arc::new(sink::RoomBell::default()));
        Engine {
            shared: Arc::new(Shared {
                events: tx,
                in_flight: in_flight.clone(),
                byte_budget,
                room: room.clone(),
                wake,
                bell: bell.clone(),
                start: Instant::now(),
                start_wall: SystemTime::now(),
            }),
            events: sink::EventRx::new(
                rx,
                in_flight,
                bell,
                room.map(|r| (r, sink::resume_below(byte_budget))),
            ),
            sessions: HashMap::new(),
            next_id: 1,
            config,
            pool: None,
        }
    }

    /// The event stream. Drain it; when it is full, workers count what
    /// they could not deliver instead of blocking their sockets (or, when
    /// lossless, wait for it).
    pub fn events(&self) -> &sink::EventRx {
        &self.events
    }

    /// The instant the engine's monotonic stamps count from.
    pub fn started(&self) -> (Instant, SystemTime) {
        (self.shared.start, self.shared.start_wall)
    }

    /// Opens a session on its own thread and returns its id at once; the
    /// outcome arrives as events.
    ///
    /// A session that cannot start (no descriptor for its poller, no
    /// thread) is still a session: it reports `Opened` and then `Closed`
    /// with the error, so a resource limit ends that session, not the run.
    pub fn open(&mut self, spec: SessionSpec) -> Result<SessionId, EngineError> {
        let id = SessionId::top(self.next_id);
        self.next_id += 1;
        let name = spec.name.clone();
        let kind = spec.kind.kind();
        if let Err((op, e)) = self.start(id, spec) {
            for kind in session::not_started(name, kind, op, &e) {
                self.events.inject(Event {
                    session: id,
                    at: self.shared.stamp(),
                    kind,
                });
            }
            if let Some(w) = &self.shared.wake {
                w();
            }
        }
        Ok(id)
    }

    fn start(
        &mut self,
        id: SessionId,
        spec: SessionSpec,
    ) -> Result<(), (&'static str, std::io::Error)> {
        if self.pool.is_none() {
            // About one reactor per core: more only share the same cores.
            let n = std::thread::available_parallelism().map_or(2, |n| n.get().min(8));
            self.pool =
                Some(reactor::Pool::start(n).map_err(|e| ("start the reactor threads", e))?);
        }
        let handoff = match &self.pool {
            Some(p) => p.handoff(),
            None => unreachable!("started above"),
        };
        // The session's own poll and waker serve while it is set up; both
        // are closed when it moves to a reactor.
        let poll = mio::Poll::new().map_err(|e| ("epoll_create", e))?;
        let waker = mio::Waker::new(poll.registry(), mio::Token(u32::MAX as usize))
            .map_err(|e| ("eventfd (session waker)", e))?;
        let bell = Arc::new(reactor::Doorbell::own(waker));
        let done = Arc::new(AtomicBool::new(false));
        let (tx, rx) = crossbeam_channel::bounded(self.config.command_capacity.max(1));
        let interrupts: worker::Interrupts = Arc::new(Mutex::new(Vec::new()));
        let shared = self.shared.clone();
        let canceller = stepper::Canceller::default();
        let resources = session::Resources {
            poll,
            interrupts: interrupts.clone(),
            canceller: canceller.clone(),
            bell: bell.clone(),
            handoff,
        };
        let d = done.clone();
        let thread = std::thread::Builder::new()
            .name(format!("sockscope-session-{}", id.session))
            .spawn(move || session::run(id, spec, resources, shared, rx, d))
            .map_err(|e| ("start a session thread", e))?;
        self.sessions.insert(
            id.session,
            Handle {
                tx,
                bell,
                done,
                thread: Some(thread),
                interrupts,
                canceller,
            },
        );
        Ok(())
    }

    /// Hands a command to its session.
    pub fn send(&mut self, cmd: Command) -> Result<(), EngineError> {
        let target = cmd.target();
        let Some(h) = self.sessions.get(&target.session) else {
            return Err(EngineError::NoSuchSession(target));
        };
        if h.is_done() {
            self.reap();
            return Err(EngineError::NoSuchSession(target));
        }
        // A blocked manual recv would not see a close; unblock it.
        if matches!(cmd, Command::Close { .. } | Command::Abort { .. }) && !target.is_child() {
            h.interrupt();
        }
        match h.tx.try_send(cmd) {
            Ok(()) => {
                h.bell.ring();
                Ok(())
            }
            Err(TrySendError::Full(_)) => Err(EngineError::Busy(target)),
            Err(TrySendError::Disconnected(_)) => Err(EngineError::NoSuchSession(target)),
        }
    }

    /// Interrupts a blocking step-mode call in progress (it returns EINTR).
    pub fn cancel(&self, target: SessionId) {
        if let Some(h) = self.sessions.get(&target.session) {
            h.canceller.cancel();
        }
    }

    /// Asks every session to close.
    pub fn close_all(&mut self) {
        let ids: Vec<u32> = self.sessions.keys().copied().collect();
        for id in ids {
            let _ = self.send(Command::Close {
                target: SessionId::top(id),
            });
        }
    }

    /// Ids of sessions that have not ended yet.
    pub fn running(&self) -> Vec<SessionId> {
        let mut v: Vec<SessionId> = self
            .sessions
            .iter()
            .filter(|(_, h)| !h.is_done())
            .map(|(k, _)| SessionId::top(*k))
            .collect();
        v.sort();
        v
    }

    /// Forgets sessions that have ended, joining their threads.
    pub fn reap(&mut self) {
        let done: Vec<u32> = self
            .sessions
            .iter()
            .filter(|(_, h)| h.is_done())
            .map(|(k, _)| *k)
            .collect();
        for k in done {
            if let Some(mut h) = self.sessions.remove(&k)
                && let Some(t) = h.thread.take()
            {
                let _ = t.join();
            }
        }
    }
}

impl Engine {
    /// Tells every session to stop now (a dropped command channel means
    /// "stop"); each still reports its `Closed` (`engine_stopped`). The
    /// consumer keeps draining events until they arrive.
    pub fn stop_all(&mut self) {
        // The doorbell makes each session notice at once.
        for h in self.sessions.values_mut() {
            let (dead_tx, _) = crossbeam_channel::bounded(1);
            h.tx = dead_tx;
            h.interrupt();
            h.bell.ring();
        }
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        self.stop_all();
        // Workers may wait briefly for room to deliver their last events.
        while self.events.try_recv().is_ok() {}
        for h in self.sessions.values_mut() {
            while !h.is_done() {
                while self.events.try_recv().is_ok() {}
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
            if let Some(t) = h.thread.take() {
                let _ = t.join();
            }
        }
        if let Some(mut p) = self.pool.take() {
            p.shut_down();
        }
    }
}
