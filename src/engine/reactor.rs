//! The shared reactor: a small fixed pool of threads, about one per core,
//! each running one mio poll over the sockets of many sessions.
//!
//! A session is set up on a thread of its own (resolving a name and
//! connecting may block), then handed to the least loaded reactor, which
//! registers its sockets in its own poll and drives it from then on. So a
//! process holding 10,000 event-driven sessions runs a few threads, and a
//! session costs only its own sockets in descriptors (no epoll instance or
//! eventfd each, which is what stopped a workspace at 4,999 sessions).
//!
//! Tokens carry the session's slot in their high 32 bits and the session's
//! own token (a child id, or one of its named tokens) in the low 32, so a
//! session's code is the same on its own poll and on a reactor's. Deadlines
//! live in one heap per reactor; a session is asked for its next deadline
//! only after a turn of its own, not every time anything happens.
//!
//! Commands reach a session through its channel and its [`Doorbell`]: on a
//! reactor, ringing puts the slot on the reactor's mail list once and wakes
//! it, so a reactor never scans its sessions to find the one with mail.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::io;
use std::os::fd::RawFd;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Instant;

use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Registry, Token};

use super::protocol::CloseReason;
use super::session::{self, End, React};

// A token holds a slot and a session's own 32-bit token.
const _: () = assert!(usize::BITS >= 64, "tokens need a 64-bit usize");
const SLOT_SHIFT: u32 = 32;
const LOCAL_MASK: usize = u32::MAX as usize;
/// The reactor's own waker (slot u32::MAX is never handed out).
const REACTOR_WAKE: Token = Token(usize::MAX);
/// Readiness events taken per poll call; more stay ready in the kernel
/// for the next call.
const EVENTS_PER_POLL: usize = 1024;

/// Where a session registers its sockets: its own poll (while it is set
/// up, and for sessions that keep their thread), or a reactor's.
pub(crate) enum Reg {
    /// The session's own poll; its tokens are used as they are.
    Own(Poll),
    /// Nowhere yet: a server's child on its way to a reactor.
    Unplaced,
    /// A reactor's poll; tokens are offset by the session's slot.
    Shared {
        /// The reactor's registry.
        registry: Arc<Registry>,
        /// The slot, already shifted into the high bits.
        base: usize,
    },
}

impl Reg {
    fn parts(&self) -> io::Result<(&Registry, usize)> {
        match self {
            Reg::Own(p) => Ok((p.registry(), 0)),
            Reg::Shared { registry, base } => Ok((registry, *base)),
            Reg::Unplaced => Err(io::Error::other("not on a reactor yet")),
        }
    }

    /// Watches `fd` under the session's token `t`.
    pub fn register(&self, fd: RawFd, t: Token, interest: Interest) -> io::Result<()> {
        let (r, base) = self.parts()?;
        r.register(
            &mut SourceFd(&fd),
            Token(base | (t.0 & LOCAL_MASK)),
            interest,
        )
    }

    /// Changes what `fd` is watched for.
    pub fn reregister(&self, fd: RawFd, t: Token, interest: Interest) -> io::Result<()> {
        let (r, base) = self.parts()?;
        r.reregister(
            &mut SourceFd(&fd),
            Token(base | (t.0 & LOCAL_MASK)),
            interest,
        )
    }

    /// Stops watching `fd`.
    pub fn deregister(&self, fd: RawFd) -> io::Result<()> {
        self.parts()?.0.deregister(&mut SourceFd(&fd))
    }

    /// The session's own poll, if it has one.
    pub fn own(&mut self) -> Option<&mut Poll> {
        match self {
            Reg::Own(p) => Some(p),
            _ => None,
        }
    }

    /// It is a reactor's poll.
    pub fn is_shared(&self) -> bool {
        matches!(self, Reg::Shared { .. })
    }
}

/// How the engine handle tells a session that a command waits.
pub(crate) struct Doorbell {
    bell: Mutex<Bell>,
    /// The slot is on its reactor's mail list already.
    queued: AtomicBool,
}

enum Bell {
    /// Not on a reactor yet: commands wait in the channel, and arriving
    /// on a reactor looks at them.
    Unplaced,
    /// The session's own poll's waker.
    Own(mio::Waker),
    /// A reactor's mail list.
    Reactor { reactor: Arc<Shared>, slot: u32 },
}

impl Doorbell {
    /// A doorbell that wakes the session's own poll.
    pub fn own(waker: mio::Waker) -> Doorbell {
        Doorbell {
            bell: Mutex::new(Bell::Own(waker)),
            queued: AtomicBool::new(false),
        }
    }

    /// A doorbell for a unit on its way to a reactor.
    pub fn unplaced() -> Doorbell {
        Doorbell {
            bell: Mutex::new(Bell::Unplaced),
            queued: AtomicBool::new(false),
        }
    }

    /// Rings: the session looks at its commands soon.
    pub fn ring(&self) {
        let Ok(bell) = self.bell.lock() else {
            return;
        };
        match &*bell {
            Bell::Unplaced => {}
            Bell::Own(w) => {
                let _ = w.wake();
            }
            Bell::Reactor { reactor, slot } => {
                if !self.queued.swap(true, Ordering::AcqRel) {
                    reactor.mail(*slot);
                }
            }
        }
    }

    /// From now on rings the reactor; the session's own waker (an eventfd)
    /// is closed.
    fn move_to(&self, reactor: Arc<Shared>, slot: u32) {
        if let Ok(mut bell) = self.bell.lock() {
            self.queued.store(false, Ordering::Release);
            *bell = Bell::Reactor { reactor, slot };
        }
    }
}

/// What the engine handle and the sessions' setup threads share with one
/// reactor thread.
pub(crate) struct Shared {
    waker: mio::Waker,
    registry: Arc<Registry>,
    inbox: Mutex<Inbox>,
    /// Sessions on this reactor, for picking the least loaded.
    load: AtomicUsize,
}

/// Bounded by what exists: each arriving session is a session the engine
/// opened, and a slot is on the mail list at most once.
#[derive(Default)]
struct Inbox {
    arriving: Vec<(Box<dyn React>, Arc<Doorbell>)>,
    mail: Vec<u32>,
    quit: bool,
}

impl Shared {
    fn mail(&self, slot: u32) {
        if let Ok(mut inbox) = self.inbox.lock() {
            inbox.mail.push(slot);
        }
        let _ = self.waker.wake();
    }
}

/// The reactor threads of one engine.
pub(crate) struct Pool {
    reactors: Vec<Arc<Shared>>,
    threads: Vec<JoinHandle<()>>,
}

/// The part of the pool a setup thread needs to hand its session over.
#[derive(Clone)]
pub(crate) struct Handoff {
    reactors: Arc<[Arc<Shared>]>,
}

impl Handoff {
    /// There is more than one reactor to spread work over.
    pub fn spreads(&self) -> bool {
        self.reactors.len() > 1
    }

    /// Gives a set-up session to the least loaded reactor.
    pub fn adopt(&self, unit: Box<dyn React>, bell: Arc<Doorbell>) {
        let Some(r) = self
            .reactors
            .iter()
            .min_by_key(|r| r.load.load(Ordering::Relaxed))
        else {
            return;
        };
        r.load.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut inbox) = r.inbox.lock() {
            inbox.arriving.push((unit, bell));
        }
        let _ = r.waker.wake();
    }
}

impl Pool {
    /// Starts `n` reactor threads (at least one).
    pub fn start(n: usize) -> io::Result<Pool> {
        let mut pool = Pool {
            reactors: Vec::new(),
            threads: Vec::new(),
        };
        for i in 0..n.max(1) {
            let poll = Poll::new()?;
            let waker = mio::Waker::new(poll.registry(), REACTOR_WAKE)?;
            let registry = Arc::new(poll.registry().try_clone()?);
            let shared = Arc::new(Shared {
                waker,
                registry,
                inbox: Mutex::new(Inbox::default()),
                load: AtomicUsize::new(0),
            });
            let s = shared.clone();
            let thread = std::thread::Builder::new()
                .name(format!("sockscope-reactor-{i}"))
                .spawn(move || Reactor::new(s, poll).run())?;
            pool.reactors.push(shared);
            pool.threads.push(thread);
        }
        Ok(pool)
    }

    /// What setup threads hand sessions to.
    pub fn handoff(&self) -> Handoff {
        Handoff {
            reactors: self.reactors.clone().into(),
        }
    }

    /// Stops the threads once their sessions have ended, and joins them.
    pub fn shut_down(&mut self) {
        for r in &self.reactors {
            if let Ok(mut inbox) = r.inbox.lock() {
                inbox.quit = true;
            }
            let _ = r.waker.wake();
        }
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        self.shut_down();
    }
}

/// One session on a reactor.
struct Entry {
    unit: Box<dyn React>,
    bell: Arc<Doorbell>,
    /// The deadline this entry has in the heap, if any.
    armed: Option<Instant>,
    /// Tells this occupant of the slot from earlier ones in the heap.
    generation: u64,
    /// On this turn's list already.
    touched: bool,
    /// It panicked; it is closed at the end of the turn.
    panicked: Option<String>,
}

impl Entry {
    /// Runs `f` on the session; a panic marks it for closing instead of
    /// taking the reactor's other sessions down with it.
    fn guard(&mut self, f: impl FnOnce(&mut dyn React)) {
        if self.panicked.is_some() {
            return;
        }
        let unit = &mut *self.unit;
        if let Err(p) = catch_unwind(AssertUnwindSafe(|| f(unit))) {
            self.panicked = Some(session::panic_message(&*p));
        }
    }
}

struct Reactor {
    shared: Arc<Shared>,
    poll: Poll,
    slots: Vec<Option<Entry>>,
    free: Vec<u32>,
    heap: BinaryHeap<Reverse<(Instant, u32, u64)>>,
    generation: u64,
    touched: Vec<u32>,
}

impl Reactor {
    fn new(shared: Arc<Shared>, poll: Poll) -> Reactor {
        Reactor {
            shared,
            poll,
            slots: Vec::new(),
            free: Vec::new(),
            heap: BinaryHeap::new(),
            generation: 0,
            touched: Vec::new(),
        }
    }

    fn touch(touched: &mut Vec<u32>, e: &mut Entry, slot: u32) {
        if !e.touched {
            e.touched = true;
            touched.push(slot);
        }
    }

    fn run(mut self) {
        let mut events = Events::with_capacity(EVENTS_PER_POLL);
        loop {
            let timeout = self
                .heap
                .peek()
                .map(|Reverse((t, _, _))| t.saturating_duration_since(Instant::now()));
            if let Err(e) = self.poll.poll(&mut events, timeout)
                && e.kind() != io::ErrorKind::Interrupted
            {
                // epoll_wait fails only on a broken descriptor; nothing
                // here can go on, so every session says why it ends.
                self.end_all(CloseReason::Error(super::error::OpError::io(
                    "epoll_wait",
                    &e,
                )));
                return;
            }
            for ev in events.iter() {
                if ev.token() == REACTOR_WAKE {
                    continue;
                }
                let slot = (ev.token().0 >> SLOT_SHIFT) as u32;
                let local = (ev.token().0 & LOCAL_MASK) as u32;
                if let Some(Some(e)) = self.slots.get_mut(slot as usize) {
                    e.guard(|u| u.ready(local, ev));
                    Self::touch(&mut self.touched, e, slot);
                }
            }
            let inbox = match self.shared.inbox.lock() {
                Ok(mut i) => std::mem::take(&mut *i),
                Err(_) => Inbox::default(),
            };
            for (unit, bell) in inbox.arriving {
                self.arrive(unit, bell);
            }
            for slot in inbox.mail {
                if let Some(Some(e)) = self.slots.get_mut(slot as usize) {
                    e.bell.queued.store(false, Ordering::Release);
                    e.guard(|u| u.mail());
                    Self::touch(&mut self.touched, e, slot);
                }
            }
            let now = Instant::now();
            while let Some(Reverse((t, slot, generation))) = self.heap.peek().copied() {
                if t > now {
                    break;
                }
                self.heap.pop();
                if let Some(Some(e)) = self.slots.get_mut(slot as usize)
                    && e.generation == generation
                    && e.armed == Some(t)
                {
                    e.armed = None;
                    // An entry armed before the session's last turns may be
                    // earlier than what it waits for now (a busy connection
                    // moves its stats deadline on each turn): then it is
                    // armed again instead of given a turn with nothing due.
                    // At 10,000 connections those turns were about as many
                    // as the round trips.
                    match e.unit.deadline() {
                        // Compared with the clock now: `deadline` reads it
                        // after `now` was taken, and a session with something
                        // due at once says so with the time it read.
                        Some(d) if d > Instant::now() && !e.touched && e.panicked.is_none() => {
                            e.armed = Some(d);
                            self.heap.push(Reverse((d, slot, e.generation)));
                        }
                        _ => Self::touch(&mut self.touched, e, slot),
                    }
                }
            }
            let touched = std::mem::take(&mut self.touched);
            for &slot in &touched {
                self.after(slot);
            }
            self.touched = touched;
            self.touched.clear();
            if inbox.quit && self.slots.iter().all(Option::is_none) {
                return;
            }
            if inbox.quit {
                // The engine is gone: its sessions have no one to tell.
                self.end_all(CloseReason::EngineStopped);
                return;
            }
        }
    }

    /// Takes in a set-up session: its sockets move to this poll, its
    /// doorbell to this mail list, and it looks at commands that came
    /// while it moved.
    fn arrive(&mut self, unit: Box<dyn React>, bell: Arc<Doorbell>) {
        let slot = match self.free.pop() {
            Some(s) => s,
            None => {
                self.slots.push(None);
                (self.slots.len() - 1) as u32
            }
        };
        self.generation += 1;
        let mut e = Entry {
            unit,
            bell,
            armed: None,
            generation: self.generation,
            touched: false,
            panicked: None,
        };
        let reg = Reg::Shared {
            registry: self.shared.registry.clone(),
            base: (slot as usize) << SLOT_SHIFT,
        };
        e.bell.move_to(self.shared.clone(), slot);
        e.guard(|u| {
            u.attach(reg);
            u.mail();
        });
        Self::touch(&mut self.touched, &mut e, slot);
        self.slots[slot as usize] = Some(e);
    }

    /// The end of a session's turn: its timers and bookkeeping, then
    /// either its next deadline or its end.
    fn after(&mut self, slot: u32) {
        let Some(Some(e)) = self.slots.get_mut(slot as usize) else {
            return;
        };
        e.touched = false;
        e.guard(|u| u.after());
        if e.panicked.is_none() && !e.unit.ended() {
            if let Some(d) = e.unit.deadline()
                && e.armed.is_none_or(|a| d < a)
            {
                // A later deadline keeps the earlier entry: it fires early,
                // finds nothing due and arms the later one then.
                e.armed = Some(d);
                self.heap.push(Reverse((d, slot, e.generation)));
            }
            return;
        }
        if let Some(Some(e)) = self.slots.get_mut(slot as usize).map(Option::take) {
            self.free.push(slot);
            self.shared.load.fetch_sub(1, Ordering::Relaxed);
            Self::close(e);
        }
    }

    /// Ends a session: it closes what it holds, then the lifecycle's one
    /// `Closed`.
    fn close(mut e: Entry) {
        let mut end = None;
        if e.panicked.is_none() {
            e.guard(|u| end = Some(u.finish()));
        }
        let id = e.unit.id();
        let end = match (e.panicked.take(), end) {
            (Some(msg), _) => End::uncounted(CloseReason::Panicked(msg)),
            (None, Some(Some(end))) => end,
            // A server's child apart from it: its own `Closed` is sent.
            (None, Some(None)) => return session::close_part(e.unit.cx()),
            (None, None) => End::uncounted(CloseReason::EngineStopped),
        };
        session::close(e.unit.cx(), id, end);
    }

    fn end_all(&mut self, reason: CloseReason) {
        for slot in 0..self.slots.len() {
            if let Some(mut e) = self.slots[slot].take() {
                e.guard(|u| u.stop(reason.clone()));
                Self::close(e);
            }
        }
        // Sessions still arriving end too, so none is left without `Closed`.
        let arriving = match self.shared.inbox.lock() {
            Ok(mut i) => std::mem::take(&mut i.arriving),
            Err(_) => Vec::new(),
        };
        for (unit, bell) in arriving {
            let mut e = Entry {
                unit,
                bell,
                armed: None,
                generation: 0,
                touched: false,
                panicked: None,
            };
            e.guard(|u| u.stop(reason.clone()));
            Self::close(e);
        }
    }
}
