//! The System sockets table as the view shows it, built off the UI
//! thread: each snapshot is matched against the last by cookie (new ones
//! marked, vanished ones kept a few seconds to fade), then filtered and
//! sorted, and handed over as one finished, shared order. At 100,000
//! sockets that work takes tens of milliseconds; on the UI thread it was
//! a frame that long.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::filter::Filter;
use super::{Snapshot, SockKey, SysSocket};

/// How long a vanished socket stays listed (fading) and a new one marked.
pub const MARK_FOR: Duration = Duration::from_secs(3);

/// What the table can be sorted by.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum SortKey {
    #[default]
    Kind,
    State,
    RecvQ,
    SendQ,
    Local,
    Remote,
    Process,
    User,
    Rtt,
}

impl SortKey {
    /// Every column, in the order the view shows them.
    pub const ALL: [SortKey; 9] = [
        SortKey::Kind,
        SortKey::State,
        SortKey::RecvQ,
        SortKey::SendQ,
        SortKey::Local,
        SortKey::Remote,
        SortKey::Process,
        SortKey::User,
        SortKey::Rtt,
    ];
}

/// One row as shown: the socket, and when it appeared or went.
#[derive(Clone, Debug)]
pub struct Row {
    pub sock: Arc<SysSocket>,
    /// When it first appeared (None: it was there at the first look).
    pub new_at: Option<Instant>,
    /// When it vanished (it fades until `MARK_FOR` has passed).
    pub gone_at: Option<Instant>,
}

/// The finished table: rows that pass the filter, in order.
#[derive(Clone, Debug, Default)]
pub struct TableView {
    pub rows: Vec<Row>,
    /// Sockets known (including those fading out), filtered or not.
    pub total: usize,
    /// Snapshots taken in so far.
    pub snapshots: u64,
    /// The last snapshot's figures (its sockets moved into the rows).
    pub dump_time: Duration,
    pub procs_time: Duration,
    pub hidden_processes: usize,
    pub dropped: usize,
    pub problems: Vec<String>,
    /// How long matching, filtering and sorting took (off the UI thread).
    pub build_time: Duration,
    /// When the last new or vanished row shown stops being marked (the
    /// view repaints until then, without walking the rows each frame).
    pub marked_until: Option<Instant>,
}

/// The rows behind the view, kept by the refresher thread.
pub struct Table {
    rows: Vec<Row>,
    index: HashMap<SockKey, usize>,
    filter: Filter,
    sort: (SortKey, bool),
    snapshots: u64,
    last: Snapshot,
}

impl Default for Table {
    fn default() -> Self {
        Table {
            rows: Vec::new(),
            index: HashMap::new(),
            filter: Filter::default(),
            // By kind, ascending, as the view first shows it.
            sort: (SortKey::Kind, true),
            snapshots: 0,
            last: Snapshot::default(),
        }
    }
}

fn rtt_us(s: &SysSocket) -> Option<u32> {
    s.tcp_info.as_ref().map(|t| t.rtt_us).filter(|&r| r > 0)
}

/// The first holder's name and pid, which the process column sorts by.
fn first_process(s: &SysSocket) -> Option<(&str, u32)> {
    s.processes().first().map(|p| (p.name.as_str(), p.pid))
}

impl Table {
    /// Sets the filter (applied at the next `view`).
    pub fn set_filter(&mut self, f: Filter) {
        self.filter = f;
    }

    /// Sets the sort column and direction (true: ascending).
    pub fn set_sort(&mut self, key: SortKey, ascending: bool) {
        self.sort = (key, ascending);
    }

    /// Takes in a snapshot: rows matched by cookie, new ones marked,
    /// vanished ones kept until they have faded.
    pub fn ingest(&mut self, mut snap: Snapshot, now: Instant) {
        let first = self.snapshots == 0;
        self.snapshots += 1;
        let mut seen = vec![false; self.rows.len()];
        for s in std::mem::take(&mut snap.sockets) {
            let key = s.key();
            match self.index.get(&key) {
                Some(&i) => {
                    self.rows[i].sock = Arc::new(s);
                    self.rows[i].gone_at = None;
                    seen[i] = true;
                }
                None => {
                    self.index.insert(key, self.rows.len());
                    self.rows.push(Row {
                        sock: Arc::new(s),
                        new_at: (!first).then_some(now),
                        gone_at: None,
                    });
                    seen.push(true);
                }
            }
        }
        for (row, seen) in self.rows.iter_mut().zip(&seen) {
            if !seen && row.gone_at.is_none() {
                row.gone_at = Some(now);
            }
            if row
                .new_at
                .is_some_and(|n| now.duration_since(n) >= MARK_FOR)
            {
                row.new_at = None;
            }
        }
        let before = self.rows.len();
        self.rows
            .retain(|r| r.gone_at.is_none_or(|g| now.duration_since(g) < MARK_FOR));
        if self.rows.len() != before {
            self.index = self
                .rows
                .iter()
                .enumerate()
                .map(|(i, r)| (r.sock.key(), i))
                .collect();
        }
        self.last = snap;
    }

    /// The rows that pass the filter, sorted.
    pub fn view(&self) -> TableView {
        let t = Instant::now();
        let rows = &self.rows;
        let mut shown: Vec<usize> = if self.filter.is_empty() {
            (0..rows.len()).collect()
        } else {
            (0..rows.len())
                .filter(|&i| self.filter.matches(&rows[i].sock))
                .collect()
        };
        let (key, asc) = self.sort;
        shown.sort_by(|&a, &b| {
            let (x, y) = (&*rows[a].sock, &*rows[b].sock);
            let o = match key {
                SortKey::Kind => x.kind.cmp(&y.kind),
                SortKey::State => x.state.cmp(y.state),
                SortKey::RecvQ => x.recv_q.cmp(&y.recv_q),
                SortKey::SendQ => x.send_q.cmp(&y.send_q),
                SortKey::Local => x.local.cmp(&y.local),
                SortKey::Remote => x.remote.cmp(&y.remote),
                SortKey::Process => first_process(x).cmp(&first_process(y)),
                SortKey::User => x.user.cmp(&y.user),
                SortKey::Rtt => rtt_us(x).cmp(&rtt_us(y)),
            };
            // Ties keep one order from one refresh to the next.
            let o = o.then_with(|| x.local.cmp(&y.local).then(x.key().cmp(&y.key())));
            if asc { o } else { o.reverse() }
        });
        let marked_until = shown
            .iter()
            .filter_map(|&i| rows[i].gone_at.max(rows[i].new_at))
            .max()
            .map(|t| t + MARK_FOR);
        TableView {
            marked_until,
            rows: shown.into_iter().map(|i| rows[i].clone()).collect(),
            total: rows.len(),
            snapshots: self.snapshots,
            dump_time: self.last.dump_time,
            procs_time: self.last.procs_time,
            hidden_processes: self.last.hidden_processes,
            dropped: self.last.dropped,
            problems: self.last.problems.clone(),
            build_time: t.elapsed(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::system::{Endpoint, Family, SockKind, filter};

    fn sock(port: u16, cookie: u64, recv_q: u32) -> SysSocket {
        let mut s = SysSocket::new(
            SockKind::Tcp,
            Family::V4,
            "ESTABLISHED",
            Endpoint::Inet(format!("127.0.0.1:{port}").parse().unwrap()),
            Endpoint::Inet("127.0.0.1:9".parse().unwrap()),
            cookie as u32,
            cookie,
        );
        s.recv_q = recv_q;
        s
    }

    fn snap(socks: Vec<SysSocket>) -> Snapshot {
        Snapshot {
            sockets: socks,
            ..Snapshot::default()
        }
    }

    fn ports(v: &TableView) -> Vec<u16> {
        v.rows
            .iter()
            .map(|r| r.sock.local.port().unwrap())
            .collect()
    }

    #[test]
    fn new_sockets_are_marked_gone_ones_fade_then_leave() {
        let mut t = Table::default();
        let t0 = Instant::now();
        t.ingest(snap(vec![sock(1, 1, 0), sock(2, 2, 0)]), t0);
        let v = t.view();
        assert!(
            v.rows.iter().all(|r| r.new_at.is_none()),
            "the first look marks nothing"
        );
        // 2 goes, 3 comes; 1 is updated in place.
        let t1 = t0 + Duration::from_secs(1);
        t.ingest(snap(vec![sock(1, 1, 50), sock(3, 3, 0)]), t1);
        let v = t.view();
        assert_eq!(ports(&v), vec![1, 2, 3]);
        let row = |p: u16| {
            v.rows
                .iter()
                .find(|r| r.sock.local.port() == Some(p))
                .unwrap()
        };
        assert_eq!(row(1).sock.recv_q, 50);
        assert_eq!(row(2).gone_at, Some(t1));
        assert_eq!(row(3).new_at, Some(t1));
        assert_eq!(v.marked_until, Some(t1 + MARK_FOR));
        // Past the fade, the gone one leaves and the new one is plain.
        let t2 = t1 + MARK_FOR;
        t.ingest(snap(vec![sock(1, 1, 0), sock(3, 3, 0)]), t2);
        let v = t.view();
        assert_eq!(ports(&v), vec![1, 3]);
        assert!(
            v.rows
                .iter()
                .all(|r| r.new_at.is_none() && r.gone_at.is_none())
        );
        assert_eq!(v.snapshots, 3);
    }

    #[test]
    fn a_reused_port_with_a_new_cookie_is_a_new_socket() {
        let mut t = Table::default();
        let t0 = Instant::now();
        t.ingest(snap(vec![sock(7, 1, 0)]), t0);
        t.ingest(snap(vec![sock(7, 2, 0)]), t0 + Duration::from_secs(1));
        let v = t.view();
        assert_eq!(v.rows.len(), 2, "the old one fades, the new one is marked");
        assert_eq!(v.rows.iter().filter(|r| r.new_at.is_some()).count(), 1);
        assert_eq!(v.rows.iter().filter(|r| r.gone_at.is_some()).count(), 1);
    }

    #[test]
    fn filter_and_sort_apply_to_the_view() {
        let mut t = Table::default();
        t.ingest(
            snap(vec![sock(30, 1, 5), sock(10, 2, 7), sock(20, 3, 1)]),
            Instant::now(),
        );
        assert_eq!(ports(&t.view()), vec![10, 20, 30]);
        t.set_sort(SortKey::RecvQ, false);
        assert_eq!(ports(&t.view()), vec![10, 30, 20]);
        t.set_filter(filter::parse("sport > :15").unwrap());
        let v = t.view();
        assert_eq!(ports(&v), vec![30, 20]);
        assert_eq!(v.total, 3);
    }
}
