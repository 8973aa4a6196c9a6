//! A stream endpoint's state, with no I/O: the send queue and its water
//! marks, each direction's state and how the endpoint is ending, as enums
//! rather than the eight booleans they replace. The worker does the
//! syscalls and asks this state what follows; the rules are tested here
//! without a socket (as quinn-proto keeps a connection's state apart from
//! its sockets).

use std::collections::VecDeque;

use super::protocol::CloseReason;
use super::ws::Outgoing;

/// Bytes accepted for sending and not yet taken by the kernel, oldest
/// first, each chunk with what a message layer sends it as.
#[derive(Debug, Default)]
pub(crate) struct SendQueue {
    chunks: VecDeque<(Vec<u8>, Outgoing)>,
    /// How much of the first chunk the kernel has taken.
    off: usize,
    /// Bytes not yet taken, over all chunks.
    len: usize,
}

impl SendQueue {
    /// Queues bytes after what is there, as a message of this kind. Only a chunk of plain bytes can be
    /// empty and dropped: an empty message or ping is still sent.
    pub fn push_as(&mut self, data: Vec<u8>, kind: Outgoing) {
        if data.is_empty() && kind == Outgoing::Auto {
            return;
        }
        self.len += data.len();
        self.chunks.push_back((data, kind));
    }

    /// The unsent part of the oldest chunk: what one write offers.
    pub fn front(&self) -> Option<&[u8]> {
        self.chunks.front().map(|c| &c.0[self.off..])
    }

    /// What the oldest chunk is to a message layer.
    pub fn front_kind(&self) -> Outgoing {
        self.chunks.front().map_or(Outgoing::Auto, |c| c.1)
    }

    /// The kernel took `n` bytes of [`front`](Self::front).
    pub fn advance(&mut self, n: usize) {
        let Some((first, _)) = self.chunks.front() else {
            return;
        };
        let n = n.min(first.len() - self.off);
        self.off += n;
        self.len -= n;
        if self.off == first.len() {
            self.chunks.pop_front();
            self.off = 0;
        }
    }

    /// Drops everything queued (an abort).
    pub fn clear(&mut self) {
        self.chunks.clear();
        self.off = 0;
        self.len = 0;
    }

    /// Bytes waiting.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether nothing waits.
    pub fn is_empty(&self) -> bool {
        // An empty message still waits to be sent.
        self.chunks.is_empty()
    }
}

/// Our receiving side.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub(crate) enum ReadSide {
    /// Reading.
    #[default]
    Open,
    /// Not reading for now: the replies to what was read wait in the send
    /// queue past its high-water mark, so the peer's window closes and it
    /// slows down, as a TCP peer's would.
    Held,
    /// The peer's FIN (or EOF) arrived; nothing more will.
    Eof,
}

/// Our sending side.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub(crate) enum WriteSide {
    /// Sending.
    #[default]
    Open,
    /// shutdown(SHUT_WR) was asked for; it happens once the queue drains.
    ShutdownPending,
    /// Shut: the peer has read our FIN (or will).
    Shut,
}

/// How the endpoint is ending.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub(crate) enum Ending {
    /// Not ending.
    #[default]
    No,
    /// Closes once the send queue has drained, for this reason.
    AfterFlush(CloseReason),
    /// Closes this turn, for this reason.
    Now(CloseReason),
}

/// Whether sends are past the high-water mark (a `write_paused` event was
/// sent and no `write_resumed` yet).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub(crate) enum Water {
    /// Below the high-water mark, or back under the low one.
    #[default]
    Flowing,
    /// Past the high-water mark.
    Paused,
}

/// A water-mark crossing to report.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Crossing {
    /// The queue reached the high-water mark.
    Paused,
    /// It fell back to the low-water mark.
    Resumed,
}

/// Everything about a stream endpoint that is not I/O.
#[derive(Debug, Default)]
pub(crate) struct StreamState {
    /// What waits to be sent.
    pub queue: SendQueue,
    /// Our receiving side.
    pub read: ReadSide,
    /// Our sending side.
    pub write: WriteSide,
    /// How it is ending.
    pub ending: Ending,
    /// The water marks' state.
    pub water: Water,
}

impl StreamState {
    /// Whether it closes this turn.
    pub fn is_closing(&self) -> bool {
        matches!(self.ending, Ending::Now(_))
    }

    /// Closes this turn; the first reason given stands.
    pub fn close(&mut self, reason: CloseReason) {
        if !self.is_closing() {
            self.ending = Ending::Now(reason);
        }
    }

    /// Closes once everything waiting has gone out: the queue, and what
    /// the caller still holds (delayed replies, TLS records), which is why
    /// this never closes at once; [`flushed`](Self::flushed) says when.
    pub fn close_after_flush(&mut self, reason: CloseReason) {
        if !self.is_closing() {
            self.ending = Ending::AfterFlush(reason);
        }
    }

    /// Closes now if nothing is queued, else once the queue drains (the
    /// user's Close, a script's `Close`).
    pub fn close_once_sent(&mut self, reason: CloseReason) {
        if self.queue.is_empty() {
            self.close(reason);
        } else {
            self.close_after_flush(reason);
        }
    }

    /// The reason to close now that the queue has drained, if one waits.
    pub fn flushed(&mut self) -> Option<CloseReason> {
        if !self.queue.is_empty() {
            return None;
        }
        match std::mem::take(&mut self.ending) {
            Ending::AfterFlush(r) => Some(r),
            other => {
                self.ending = other;
                None
            }
        }
    }

    /// Why it ends, once it does.
    pub fn reason(&self) -> Option<&CloseReason> {
        match &self.ending {
            Ending::Now(r) => Some(r),
            _ => None,
        }
    }

    /// Asks for shutdown(SHUT_WR) once the queue drains.
    pub fn shutdown_write(&mut self) {
        if self.write == WriteSide::Open {
            self.write = WriteSide::ShutdownPending;
        }
    }

    /// Whether shutdown(SHUT_WR) is due now (asked for, queue drained).
    pub fn shutdown_due(&self) -> bool {
        self.write == WriteSide::ShutdownPending && self.queue.is_empty()
    }

    /// Whether new bytes may still be queued.
    pub fn can_send(&self) -> bool {
        self.write == WriteSide::Open
    }

    /// The peer's FIN arrived.
    pub fn peer_eof(&mut self) {
        self.read = ReadSide::Eof;
    }

    /// Stops reading while replies wait (not once EOF came).
    pub fn hold_reads(&mut self) {
        if self.read == ReadSide::Open {
            self.read = ReadSide::Held;
        }
    }

    /// Reads again after a hold; true when they were held.
    pub fn release_reads(&mut self) -> bool {
        if self.read == ReadSide::Held {
            self.read = ReadSide::Open;
            true
        } else {
            false
        }
    }

    /// Whether a read would be taken now.
    pub fn reading(&self) -> bool {
        self.read == ReadSide::Open && !self.is_closing()
    }

    /// Checks the queue against the water marks; says when it crosses one
    /// (with hysteresis: paused at `high`, resumed at `low`).
    pub fn water_marks(&mut self, high: usize, low: usize) -> Option<Crossing> {
        let q = self.queue.len();
        match self.water {
            Water::Flowing if q >= high => {
                self.water = Water::Paused;
                Some(Crossing::Paused)
            }
            Water::Paused if q <= low => {
                self.water = Water::Flowing;
                Some(Crossing::Resumed)
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_queue_counts_partial_writes_across_chunks() {
        let mut q = SendQueue::default();
        q.push_as(b"hello".to_vec(), Outgoing::Auto);
        q.push_as(Vec::new(), Outgoing::Auto);
        q.push_as(b" world".to_vec(), Outgoing::Auto);
        assert_eq!(q.len(), 11);
        assert_eq!(q.front(), Some(&b"hello"[..]));
        q.advance(3);
        assert_eq!(q.front(), Some(&b"lo"[..]));
        assert_eq!(q.len(), 8);
        // A write never takes more than the front offered.
        q.advance(100);
        assert_eq!(q.front(), Some(&b" world"[..]));
        assert_eq!(q.len(), 6);
        q.advance(6);
        assert!(q.is_empty());
        assert_eq!(q.front(), None);
        q.advance(1);
        assert_eq!(q.len(), 0);
    }

    #[test]
    fn an_empty_message_waits_its_turn_with_its_kind() {
        let mut q = SendQueue::default();
        q.push_as(b"hi".to_vec(), Outgoing::Binary);
        q.push_as(Vec::new(), Outgoing::Ping);
        q.push_as(Vec::new(), Outgoing::Auto);
        assert_eq!(q.front_kind(), Outgoing::Binary);
        q.advance(2);
        assert!(!q.is_empty(), "the empty ping still waits");
        assert_eq!(
            (q.front(), q.front_kind()),
            (Some(&b""[..]), Outgoing::Ping)
        );
        q.advance(0);
        assert!(q.is_empty());
        assert_eq!(q.front_kind(), Outgoing::Auto);
    }

    #[test]
    fn water_marks_pause_at_high_and_resume_at_low_once_each() {
        let mut s = StreamState::default();
        s.queue.push_as(vec![0; 100], Outgoing::Auto);
        assert_eq!(s.water_marks(100, 10), Some(Crossing::Paused));
        assert_eq!(s.water_marks(100, 10), None, "said once");
        s.queue.advance(50);
        assert_eq!(s.water_marks(100, 10), None, "between the marks");
        s.queue.advance(40);
        assert_eq!(s.water_marks(100, 10), Some(Crossing::Resumed));
        assert_eq!(s.water_marks(100, 10), None);
    }

    #[test]
    fn shutdown_waits_for_the_queue_and_closes_sending() {
        let mut s = StreamState::default();
        s.queue.push_as(b"bye".to_vec(), Outgoing::Auto);
        s.shutdown_write();
        assert!(!s.can_send());
        assert!(!s.shutdown_due(), "the queue goes out first");
        s.queue.advance(3);
        assert!(s.shutdown_due());
        s.write = WriteSide::Shut;
        s.shutdown_write();
        assert_eq!(s.write, WriteSide::Shut, "shut stays shut");
    }

    #[test]
    fn a_close_after_flush_waits_and_the_first_reason_stands() {
        let mut s = StreamState::default();
        s.queue.push_as(b"last words".to_vec(), Outgoing::Auto);
        s.close_after_flush(CloseReason::PeerClosed);
        assert!(!s.is_closing());
        assert_eq!(s.flushed(), None, "bytes still wait");
        s.queue.advance(10);
        assert_eq!(s.flushed(), Some(CloseReason::PeerClosed));
        assert_eq!(s.ending, Ending::No);
        // Closing now wins over a later request, and keeps its reason.
        s.close(CloseReason::PeerReset);
        s.close(CloseReason::Local);
        s.close_after_flush(CloseReason::ScriptDone);
        assert_eq!(s.reason(), Some(&CloseReason::PeerReset));
        // With nothing queued, a close after the flush still waits for the
        // caller's say (replies it holds back count too)...
        let mut s = StreamState::default();
        s.close_after_flush(CloseReason::PeerClosed);
        assert!(!s.is_closing());
        assert_eq!(s.flushed(), Some(CloseReason::PeerClosed));
        // ...and a user's close is at once.
        let mut s = StreamState::default();
        s.close_once_sent(CloseReason::Local);
        assert_eq!(s.reason(), Some(&CloseReason::Local));
        let mut s = StreamState::default();
        s.queue.push_as(b"x".to_vec(), Outgoing::Auto);
        s.close_once_sent(CloseReason::Local);
        assert_eq!(s.ending, Ending::AfterFlush(CloseReason::Local));
    }

    #[test]
    fn reads_hold_and_release_but_eof_is_final() {
        let mut s = StreamState::default();
        assert!(s.reading());
        s.hold_reads();
        assert!(!s.reading());
        assert!(s.release_reads());
        assert!(!s.release_reads(), "nothing to release");
        s.peer_eof();
        s.hold_reads();
        assert_eq!(s.read, ReadSide::Eof);
        assert!(!s.release_reads());
        assert!(!s.reading());
    }
}
