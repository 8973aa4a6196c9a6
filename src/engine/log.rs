//! The bounded log store a consumer keeps: entries per top-level session
//! (children's entries tagged with their id), a byte and entry budget per
//! session and overall, exact counters that eviction never touches, and a
//! count of what was evicted so views can say so.

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use super::protocol::{Counters, Direction, Event, EventKind, LogEntry, SessionId};

/// Budgets for the store.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LogBudget {
    /// Entries kept per top-level session.
    pub entries_per_session: usize,
    /// Memory kept per top-level session: payload allocations plus the
    /// bookkeeping of each entry (see [`Record::cost`]).
    pub bytes_per_session: usize,
    /// Entries kept overall.
    pub entries_total: usize,
    /// Memory kept overall, counted the same way.
    pub bytes_total: usize,
}

impl Default for LogBudget {
    fn default() -> Self {
        LogBudget {
            entries_per_session: 2_000_000,
            bytes_per_session: 256 * 1024 * 1024,
            entries_total: 4_000_000,
            bytes_total: 512 * 1024 * 1024,
        }
    }
}

/// One stored entry.
#[derive(Clone, Debug, PartialEq)]
pub struct Record {
    /// Global arrival order.
    pub seq: u64,
    /// Session or child.
    pub session: SessionId,
    /// Since engine start.
    pub mono: Duration,
    /// The entry (empty for a lifecycle record).
    pub entry: LogEntry,
    /// A lifecycle record: what happened (connected, accepted, closed,
    /// an error, ...), so the log tells the whole story, not only data.
    pub event: Option<Box<EventKind>>,
}

impl Record {
    /// What the record holds in memory, as budgets count it: the payload's
    /// allocation (not just its length), the record itself, the slot it
    /// takes in its ring, and the peer's text.
    pub fn cost(&self) -> usize {
        let peer = match &self.entry.peer {
            Some(super::protocol::Addr::Path(p) | super::protocol::Addr::Abstract(p)) => {
                p.capacity()
            }
            _ => 0,
        };
        let event = if self.event.is_some() { 256 } else { 0 };
        self.entry.data.capacity() + std::mem::size_of::<Record>() + peer + event
    }
}

/// What eviction (and channel drops) took away.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Evicted {
    /// Entries evicted by the budget.
    pub entries: u64,
    /// Their payload bytes.
    pub bytes: u64,
    /// Entries the engine could not deliver (consumer lagged).
    pub undelivered: u64,
}

#[derive(Default)]
struct SessionLog {
    records: VecDeque<Record>,
    bytes: usize,
    evicted: Evicted,
    /// Records ever removed from the front (evicted or cleared): a record's
    /// absolute index is `removed + position`, stable while it lives.
    removed: u64,
}

/// What `ingest` did with an event.
#[derive(Debug)]
pub enum Ingested {
    /// A log entry, stored at this absolute index of its top-level session.
    Logged {
        /// Top-level session number.
        top: u32,
        /// Absolute index (see [`LogStore::get`]).
        abs: u64,
    },
    /// A lifecycle event, stored as a row too and handed back.
    Noted {
        /// Top-level session number.
        top: u32,
        /// Absolute index (see [`LogStore::get`]).
        abs: u64,
        /// The event.
        ev: Event,
    },
    /// Any other event, handed back.
    Other(Event),
}

/// Whether an event is a row of the log's story (not data, not counters,
/// not a burst's progress or a step-mode call, which have views of their
/// own).
pub fn is_lifecycle(kind: &EventKind) -> bool {
    !matches!(
        kind,
        EventKind::Log(_)
            | EventKind::Stats { .. }
            | EventKind::TcpInfo(_)
            | EventKind::BurstProgress { .. }
            | EventKind::Call { .. }
    )
}

/// The empty entry a lifecycle record carries.
fn empty() -> LogEntry {
    LogEntry {
        dir: Direction::In,
        peer: None,
        data: Vec::new(),
        requested: None,
        truncated_from: None,
        ws: None,
        framed: None,
    }
}

/// The store.
#[derive(Default)]
pub struct LogStore {
    budget: LogBudget,
    sessions: HashMap<u32, SessionLog>,
    counters: HashMap<SessionId, Counters>,
    entries: usize,
    bytes: usize,
    next_seq: u64,
    removals: u64,
}

impl LogStore {
    /// An empty store with these budgets.
    pub fn new(budget: LogBudget) -> LogStore {
        LogStore {
            budget,
            ..LogStore::default()
        }
    }

    /// Takes in an event: log entries are moved in (no copy of their
    /// bytes), counters updated exactly, drop reports remembered. Other
    /// events are handed back for the caller to use.
    pub fn ingest(&mut self, ev: Event) -> Ingested {
        match ev.kind {
            EventKind::Log(entry) => {
                let c = self.counters.entry(ev.session).or_default();
                let n = entry.data.len() as u64;
                match entry.dir {
                    Direction::In => {
                        c.bytes_in += n;
                        c.msgs_in += 1;
                    }
                    Direction::Out => {
                        c.bytes_out += n;
                        c.msgs_out += 1;
                    }
                }
                let top = ev.session.session;
                let abs = self.push(ev.session, ev.at.mono, entry);
                Ingested::Logged { top, abs }
            }
            EventKind::Dropped { entries, .. } => {
                // The engine's counters include these; only the log lacks them.
                let log = self.sessions.entry(ev.session.session).or_default();
                log.evicted.undelivered += entries;
                Ingested::Other(ev)
            }
            EventKind::Stats { counters: c, .. } => {
                // The engine's counters are authoritative (they include
                // entries that were not delivered).
                self.counters.insert(ev.session, c);
                Ingested::Other(ev)
            }
            ref kind if is_lifecycle(kind) => {
                if let EventKind::Closed { counters: c, .. } = kind {
                    self.counters.insert(ev.session, *c);
                }
                let top = ev.session.session;
                let abs = self.push_record(ev.session, ev.at.mono, empty(), Some(kind.clone()));
                Ingested::Noted { top, abs, ev }
            }
            _ => Ingested::Other(ev),
        }
    }

    fn push(&mut self, session: SessionId, mono: Duration, entry: LogEntry) -> u64 {
        self.push_record(session, mono, entry, None)
    }

    fn push_record(
        &mut self,
        session: SessionId,
        mono: Duration,
        entry: LogEntry,
        event: Option<EventKind>,
    ) -> u64 {
        let seq = self.next_seq;
        self.next_seq += 1;
        let log = self.sessions.entry(session.session).or_default();
        let record = Record {
            seq,
            session,
            mono,
            entry,
            event: event.map(Box::new),
        };
        let len = record.cost();
        log.records.push_back(record);
        log.bytes += len;
        let abs = log.removed + log.records.len() as u64 - 1;
        self.entries += 1;
        self.bytes += len;
        self.enforce(session.session);
        abs
    }

    fn evict_front(&mut self, top: u32) -> bool {
        let Some(log) = self.sessions.get_mut(&top) else {
            return false;
        };
        let Some(r) = log.records.pop_front() else {
            return false;
        };
        let len = r.cost();
        log.bytes -= len;
        log.removed += 1;
        self.removals += 1;
        log.evicted.entries += 1;
        log.evicted.bytes += r.entry.data.len() as u64;
        self.entries -= 1;
        self.bytes -= len;
        true
    }

    fn enforce(&mut self, top: u32) {
        let b = self.budget;
        while self.sessions.get(&top).is_some_and(|l| {
            l.records.len() > b.entries_per_session
                || (l.bytes > b.bytes_per_session && l.records.len() > 1)
        }) {
            if !self.evict_front(top) {
                break;
            }
        }
        while self.entries > b.entries_total || (self.bytes > b.bytes_total && self.entries > 1) {
            // Evict from whichever session holds the oldest entry.
            let oldest = self
                .sessions
                .iter()
                .filter_map(|(k, l)| l.records.front().map(|r| (r.seq, *k)))
                .min();
            match oldest {
                Some((_, k)) => {
                    if !self.evict_front(k) {
                        break;
                    }
                }
                None => break,
            }
        }
    }

    /// Exact counters for a session or child.
    pub fn counters(&self, id: SessionId) -> Counters {
        self.counters.get(&id).copied().unwrap_or_default()
    }

    /// The stored records of a top-level session (children included).
    pub fn records(&self, top: u32) -> Option<&VecDeque<Record>> {
        self.sessions.get(&top).map(|l| &l.records)
    }

    /// What was evicted from a top-level session.
    pub fn evicted(&self, top: u32) -> Evicted {
        self.sessions
            .get(&top)
            .map(|l| l.evicted)
            .unwrap_or_default()
    }

    /// Entries and memory (as the budget counts it) held overall.
    pub fn size(&self) -> (usize, usize) {
        (self.entries, self.bytes)
    }

    /// Forgets a session's entries (its counters stay).
    pub fn clear(&mut self, top: u32) {
        if let Some(l) = self.sessions.get_mut(&top) {
            self.entries -= l.records.len();
            self.bytes -= l.bytes;
            l.removed += l.records.len() as u64;
            self.removals += l.records.len() as u64;
            l.records.clear();
            l.bytes = 0;
        }
    }

    /// Forgets a session entirely: its entries and its counters (a closed
    /// session the user removed). Without this, a long run of short
    /// sessions would keep a counter per session forever.
    pub fn forget(&mut self, top: u32) {
        if let Some(l) = self.sessions.remove(&top) {
            self.entries -= l.records.len();
            self.bytes -= l.bytes;
            self.removals += l.records.len() as u64;
        }
        self.counters.retain(|id, _| id.session != top);
    }

    /// The record at an absolute index, if it is still held.
    pub fn get(&self, top: u32, abs: u64) -> Option<&Record> {
        let l = self.sessions.get(&top)?;
        let pos = abs.checked_sub(l.removed)?;
        l.records.get(usize::try_from(pos).ok()?)
    }

    /// The absolute index range held for a session: `first..end`.
    pub fn span(&self, top: u32) -> std::ops::Range<u64> {
        match self.sessions.get(&top) {
            Some(l) => l.removed..l.removed + l.records.len() as u64,
            None => 0..0,
        }
    }

    /// Top-level sessions that have a log.
    pub fn tops(&self) -> Vec<u32> {
        let mut v: Vec<u32> = self.sessions.keys().copied().collect();
        v.sort_unstable();
        v
    }

    /// How many records have ever been removed (evicted or cleared); views
    /// re-check their row lists when it changes.
    pub fn removals(&self) -> u64 {
        self.removals
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::protocol::Stamp;
    use std::time::SystemTime;

    fn ev(session: SessionId, dir: Direction, data: &[u8]) -> Event {
        Event {
            session,
            at: Stamp {
                mono: Duration::ZERO,
                wall: SystemTime::UNIX_EPOCH,
            },
            kind: EventKind::Log(LogEntry {
                dir,
                peer: None,
                data: data.to_vec(),
                requested: None,
                truncated_from: None,
                ws: None,
                framed: None,
            }),
        }
    }

    #[test]
    fn byte_budget_bounds_memory_including_overhead() {
        let mut s = LogStore::new(LogBudget {
            entries_per_session: usize::MAX,
            bytes_per_session: usize::MAX,
            entries_total: usize::MAX,
            bytes_total: 100_000,
        });
        let a = SessionId::top(1);
        for _ in 0..10_000 {
            s.ingest(ev(a, Direction::In, &[0u8; 100]));
        }
        let (entries, held) = s.size();
        assert!(held <= 100_000, "{held}");
        // Each entry costs more than its 100 payload bytes.
        assert!(entries < 1000, "{entries}");
        assert_eq!(s.counters(a).msgs_in, 10_000);
    }

    #[test]
    fn budgets_evict_oldest_and_keep_counters() {
        let mut s = LogStore::new(LogBudget {
            entries_per_session: 3,
            bytes_per_session: 1000,
            entries_total: 4,
            bytes_total: 1000,
        });
        let a = SessionId::top(1);
        let b = SessionId::top(2);
        for i in 0..5u8 {
            s.ingest(ev(a, Direction::In, &[i; 10]));
        }
        assert_eq!(s.records(1).unwrap().len(), 3);
        assert_eq!(s.evicted(1).entries, 2);
        assert_eq!(s.counters(a).bytes_in, 50);
        assert_eq!(s.counters(a).msgs_in, 5);
        s.ingest(ev(b, Direction::Out, b"xy"));
        s.ingest(ev(b, Direction::Out, b"zz"));
        // Total budget 4: the oldest of session 1 goes first.
        assert_eq!(s.size().0, 4);
        assert_eq!(s.records(1).unwrap().len(), 2);
        assert_eq!(s.records(1).unwrap()[0].entry.data, vec![3; 10]);
        assert_eq!(s.counters(b).bytes_out, 4);
        // Absolute indexes stay valid across eviction.
        assert_eq!(s.span(1), 3..5);
        assert_eq!(s.get(1, 3).unwrap().entry.data, vec![3; 10]);
        assert!(s.get(1, 2).is_none());
        assert_eq!(s.removals(), 3);
        s.forget(1);
        assert_eq!(s.counters(a), Counters::default());
        assert!(s.records(1).is_none());
        assert_eq!(s.size().0, 2);
    }
}
