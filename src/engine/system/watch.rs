//! The System sockets view's refresher: a named thread that takes a
//! snapshot about once a second (or when asked), builds the table from it
//! (matched, filtered, sorted: `table`), keeps only the newest for the UI
//! (a slow frame never queues tables up), and closes sockets when asked,
//! all off the UI thread.

use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};

use super::filter::Filter;
use super::table::{SortKey, Table, TableView};
use super::{SysSocket, diag};
use crate::engine::WakeFn;
use crate::engine::error::OpError;

/// How often a snapshot is taken unless told otherwise.
pub const DEFAULT_PERIOD: Duration = Duration::from_secs(1);

/// What the view asks of the refresher.
#[derive(Debug)]
pub enum WatchCmd {
    /// Take a snapshot now.
    Refresh,
    /// Stop (true) or go on (false) taking snapshots on the timer.
    Pause(bool),
    /// Show only what passes this filter.
    Filter(Box<Filter>),
    /// Sort by this column (true: ascending).
    Sort(SortKey, bool),
    /// Close this socket (SOCK_DESTROY), then take a snapshot.
    Destroy(Box<SysSocket>),
    /// A table the UI is done with, dropped here: freeing 100,000 sockets
    /// takes tens of milliseconds, which the UI thread cannot spare.
    Recycle(Arc<TableView>),
}

/// What the refresher says back, besides snapshots.
#[derive(Debug)]
pub enum WatchReply {
    /// A socket was closed; its description.
    Destroyed(String),
    /// Closing it failed.
    DestroyFailed(OpError),
}

/// A running refresher; dropping it stops and joins the thread.
pub struct Watch {
    cmd: Option<Sender<WatchCmd>>,
    replies: Receiver<WatchReply>,
    latest: Arc<Mutex<Option<Arc<TableView>>>>,
    thread: Option<JoinHandle<()>>,
}

impl Watch {
    /// Starts the refresher; it takes a first snapshot at once and calls
    /// `wake` after each one.
    pub fn spawn(wake: WakeFn) -> std::io::Result<Watch> {
        let (cmd_tx, cmd_rx) = crossbeam_channel::bounded(16);
        let (reply_tx, reply_rx) = crossbeam_channel::bounded(16);
        let latest = Arc::new(Mutex::new(None));
        let slot = latest.clone();
        let thread = std::thread::Builder::new()
            .name("sockscope-system-sockets".into())
            .spawn(move || run(cmd_rx, reply_tx, slot, wake))?;
        Ok(Watch {
            cmd: Some(cmd_tx),
            replies: reply_rx,
            latest,
            thread: Some(thread),
        })
    }

    /// Asks the refresher for something; false when it is gone or busy
    /// with 16 requests already.
    pub fn send(&self, cmd: WatchCmd) -> bool {
        self.cmd.as_ref().is_some_and(|c| c.try_send(cmd).is_ok())
    }

    /// The newest table not yet taken, if any.
    pub fn take(&self) -> Option<Arc<TableView>> {
        self.latest.lock().ok().and_then(|mut s| s.take())
    }

    /// Replies not yet read.
    pub fn replies(&self) -> Vec<WatchReply> {
        self.replies.try_iter().collect()
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        // A disconnected command channel means stop.
        self.cmd = None;
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn run(
    cmds: Receiver<WatchCmd>,
    replies: Sender<WatchReply>,
    slot: Arc<Mutex<Option<Arc<TableView>>>>,
    wake: WakeFn,
) {
    let period = DEFAULT_PERIOD;
    let mut table = Table::default();
    let publish = |table: &Table| {
        let view = Arc::new(table.view());
        if let Ok(mut s) = slot.lock() {
            *s = Some(view);
        }
        wake();
    };
    let mut paused = false;
    let mut due = Instant::now();
    loop {
        let now = Instant::now();
        let take = if !paused && now >= due {
            true
        } else {
            let wait = if paused {
                Duration::from_secs(3600)
            } else {
                due - now
            };
            match cmds.recv_timeout(wait) {
                Ok(WatchCmd::Refresh) => true,
                Ok(WatchCmd::Pause(p)) => {
                    paused = p;
                    due = Instant::now();
                    false
                }
                Ok(WatchCmd::Recycle(old)) => {
                    drop(old);
                    false
                }
                Ok(WatchCmd::Filter(f)) => {
                    table.set_filter(*f);
                    publish(&table);
                    false
                }
                Ok(WatchCmd::Sort(k, asc)) => {
                    table.set_sort(k, asc);
                    publish(&table);
                    false
                }
                Ok(WatchCmd::Destroy(s)) => {
                    let what = format!("{} {} -> {}", s.kind.netid(), s.local, s.remote);
                    let r = match diag::destroy(&s) {
                        Ok(()) => WatchReply::Destroyed(what),
                        Err(e) => WatchReply::DestroyFailed(e),
                    };
                    let _ = replies.try_send(r);
                    true
                }
                Err(RecvTimeoutError::Timeout) => !paused,
                Err(RecvTimeoutError::Disconnected) => return,
            }
        };
        if take {
            table.ingest(super::snapshot(), Instant::now());
            publish(&table);
            due = Instant::now() + period;
        }
    }
}
