//! A worker's endpoints: what a stream reads and writes through (a
//! socket or a serial port), a connected stream and a datagram socket, and
//! the one place their traffic is counted and logged.

use super::*;

/// What a stream endpoint reads and writes: a socket, or a serial port
/// (a terminal: read and write, but no socket calls).
pub(super) enum Io {
    Socket(Socket),
    Tty(crate::engine::serial::Tty),
}

impl Io {
    pub(super) fn fd(&self) -> std::os::fd::RawFd {
        match self {
            Io::Socket(s) => s.as_raw_fd(),
            Io::Tty(t) => t.fd(),
        }
    }

    /// The socket, for the calls only sockets have.
    pub(super) fn socket(&self) -> Option<&Socket> {
        match self {
            Io::Socket(s) => Some(s),
            Io::Tty(_) => None,
        }
    }

    pub(super) fn recv(&self, buf: &mut [MaybeUninit<u8>]) -> io::Result<usize> {
        match self {
            Io::Socket(s) => s.recv(buf),
            Io::Tty(t) => t.read_uninit(buf),
        }
    }

    pub(super) fn write(&self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Io::Socket(s) => (&*s).write(buf),
            Io::Tty(t) => t.write(buf),
        }
    }

    pub(super) fn is_tty(&self) -> bool {
        matches!(self, Io::Tty(_))
    }
}

/// How a stream's descriptor is registered with the poller.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Registration {
    /// Not at all: a manual session reads on request.
    Manual,
    /// For reads.
    Read,
    /// For reads and writes (only while the queue holds bytes).
    ReadWrite,
}

/// A connected stream endpoint: the client's socket, a server's child, a
/// socketpair end or a serial port.
pub(super) struct Conn {
    pub(super) id: SessionId,
    pub(super) io: Io,
    pub(super) peer: Addr,
    /// How its fd is registered with the poller.
    pub(super) reg: Registration,
    /// The queue, each direction and how it is ending (no I/O in there).
    pub(super) st: StreamState,
    pub(super) counters: Counters,
    pub(super) stats_dirty: bool,
    pub(super) meter: Meter,
    pub(super) last_rx: Instant,
    pub(super) responder: Responder,
    pub(super) framer: Framer,
    /// Replies held for the session's reply delay, oldest first.
    pub(super) delayed: VecDeque<(Instant, Reply, Outgoing)>,
    /// Their bytes: they count against the send queue, like queued ones.
    pub(super) delayed_bytes: usize,
    pub(super) script: Script,
    /// TLS over this stream: records in and out of the socket, plaintext
    /// in the log.
    pub(super) layer: Option<Box<dyn Transport>>,
    /// When an unfinished TLS or WebSocket handshake is given up.
    pub(super) handshake_deadline: Option<Instant>,
    /// A WebSocket close frame went out: the stream closes with this
    /// reason once the peer's close answers it, or at this instant.
    pub(super) ws_closing: Option<(Instant, CloseReason)>,
    /// Cuts what arrives into messages, when the session frames them.
    pub(super) deframer: Option<crate::engine::framing::Deframer>,
    /// A relay's upstream leg whose non-blocking connect is under way,
    /// given up at this instant (kind/relay.rs).
    pub(super) connecting: Option<Instant>,
    /// A relay leg's rules' state for what it forwards to its partner
    /// (none while the relay has no rules).
    pub(super) flow: Option<Box<crate::engine::rules::Flow>>,
}

/// Counts one send or receive in its direction and logs it: the one
/// place a stream's or a datagram socket's traffic is tallied.
fn tally(
    sink: &mut Sink,
    id: SessionId,
    counters: &mut Counters,
    stats_dirty: &mut bool,
    entry: LogEntry,
) {
    let n = entry.data.len() as u64;
    match entry.dir {
        Direction::In => {
            counters.bytes_in += n;
            counters.msgs_in += 1;
        }
        Direction::Out => {
            counters.bytes_out += n;
            counters.msgs_out += 1;
        }
    }
    *stats_dirty = true;
    sink.log(id, entry);
}

impl Conn {
    /// Bytes the kernel took: counted and logged (`requested`: a send
    /// that wrote fewer bytes than it offered; `ws`: the message they were).
    pub(super) fn sent(
        &mut self,
        sink: &mut Sink,
        data: Vec<u8>,
        requested: Option<usize>,
        ws: Option<WsMeta>,
    ) {
        let entry = LogEntry {
            dir: Direction::Out,
            peer: Some(self.peer.clone()),
            data,
            requested,
            truncated_from: None,
            ws,
            framed: None,
        };
        tally(
            sink,
            self.id,
            &mut self.counters,
            &mut self.stats_dirty,
            entry,
        );
    }

    /// What a message layer framed and sent: each frame logged.
    pub(super) fn sent_frames(&mut self, sink: &mut Sink, frames: Vec<(Vec<u8>, WsMeta)>) {
        for (data, meta) in frames {
            self.sent(sink, data, None, Some(meta));
        }
    }

    /// Bytes (or a message) the application received: counted, seen by
    /// the script, logged.
    pub(super) fn received(&mut self, sink: &mut Sink, data: Vec<u8>, ws: Option<WsMeta>) {
        self.received_as(sink, data, ws, None)
    }

    /// A message cut by the session's framing: logged with its chunks.
    pub(super) fn received_framed(&mut self, sink: &mut Sink, data: Vec<u8>, framed: Framed) {
        self.received_as(sink, data, None, Some(framed))
    }

    /// What is left of a message when the stream ends: logged as partial.
    pub(super) fn flush_partial(&mut self, sink: &mut Sink) {
        if let Some((data, framed)) = self.deframer.as_mut().and_then(|d| d.finish()) {
            self.received_framed(sink, data, framed);
        }
    }

    fn received_as(
        &mut self,
        sink: &mut Sink,
        data: Vec<u8>,
        ws: Option<WsMeta>,
        framed: Option<Framed>,
    ) {
        self.script.rx_seen = true;
        let entry = LogEntry {
            dir: Direction::In,
            peer: Some(self.peer.clone()),
            data,
            requested: None,
            truncated_from: None,
            ws,
            framed,
        };
        tally(
            sink,
            self.id,
            &mut self.counters,
            &mut self.stats_dirty,
            entry,
        );
    }
}

/// A datagram socket (UDP or Unix).
pub(super) struct Dgram {
    pub(super) id: SessionId,
    pub(super) sock: Socket,
    pub(super) connected: Option<Addr>,
    pub(super) counters: Counters,
    pub(super) stats_dirty: bool,
    pub(super) meter: Meter,
    pub(super) last_rx: Instant,
    pub(super) script: Script,
    pub(super) closed: Option<CloseReason>,
    /// Replies held for the reply delay, with the datagram's source.
    pub(super) delayed: VecDeque<(Instant, Reply, SockAddr)>,
    pub(super) delayed_dropped: bool,
    /// The responder's state: reply count and the current source.
    pub(super) framer: Framer,
}

impl Dgram {
    /// A datagram socket, set up and reported, as `id` (`steps`: its script).
    pub(super) fn new(
        id: SessionId,
        sock: Socket,
        connected: Option<Addr>,
        steps: Vec<Step>,
    ) -> Dgram {
        Dgram {
            id,
            sock,
            connected,
            counters: Counters::default(),
            stats_dirty: false,
            meter: Meter::new(),
            last_rx: now(),
            script: Script::new(steps),
            closed: None,
            delayed: VecDeque::new(),
            delayed_dropped: false,
            framer: Framer::default(),
        }
    }

    /// A datagram the kernel took: counted and logged.
    pub(super) fn sent(
        &mut self,
        sink: &mut Sink,
        data: Vec<u8>,
        to: Option<Addr>,
        requested: Option<usize>,
    ) {
        let entry = LogEntry {
            dir: Direction::Out,
            peer: to,
            data,
            requested,
            truncated_from: None,
            ws: None,
            framed: None,
        };
        tally(
            sink,
            self.id,
            &mut self.counters,
            &mut self.stats_dirty,
            entry,
        );
    }

    /// A datagram received (`truncated_from`: its size when larger than
    /// what was kept): counted, seen by the script, logged.
    pub(super) fn received(
        &mut self,
        sink: &mut Sink,
        data: Vec<u8>,
        from: Addr,
        truncated_from: Option<usize>,
    ) {
        self.script.rx_seen = true;
        let entry = LogEntry {
            dir: Direction::In,
            peer: Some(from),
            data,
            requested: None,
            truncated_from,
            ws: None,
            framed: None,
        };
        tally(
            sink,
            self.id,
            &mut self.counters,
            &mut self.stats_dirty,
            entry,
        );
    }
}
