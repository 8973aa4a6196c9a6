//! Streams: sending and the send queue, flushing, replies, reading,
//! manual recv and accepting connections.

use super::*;

impl Worker {
    pub(super) fn send_conn(&mut self, child: u32, data: Vec<u8>, mode: SendMode) {
        self.send_conn_as(child, data, mode, false, Outgoing::Auto)
    }

    /// `reply`: the responder's bytes, queued whatever the queue holds;
    /// `kind`: what a message layer sends them as.
    pub(super) fn send_conn_as(
        &mut self,
        child: u32,
        data: Vec<u8>,
        mode: SendMode,
        reply: bool,
        kind: Outgoing,
    ) {
        let limits = self.spec.limits;
        let auto = self.spec.auto_read;
        let Some(c) = self.conns.get_mut(&child) else {
            return;
        };
        if !c.st.can_send() {
            self.cx.sink.control(
                c.id,
                EventKind::Error(OpError::io(
                    "send",
                    &io::Error::from_raw_os_error(libc::EPIPE),
                )
                .with_hint("this side was shut down for writing (shutdown SHUT_WR); nothing more can be sent")),
            );
            return;
        }
        if data.is_empty() && kind == Outgoing::Auto {
            return;
        }
        // Over TLS every write goes through the record layer's queue.
        let mode = if c.layer.is_some() {
            SendMode::All
        } else {
            mode
        };
        if !auto {
            // Manual sessions: the call happens now, in the socket's own mode.
            let after = direct_send(&mut self.cx.sink, c, &data, mode);
            self.apply_after(child, after);
            return;
        }
        match mode {
            SendMode::Once => {
                if !c.st.queue.is_empty() {
                    self.cx.sink.control(
                        c.id,
                        EventKind::Error(OpError::plain(
                            "send",
                            format!(
                                "{} bytes from an earlier sendall are still queued; a single send now would jump ahead of them (use sendall)",
                                c.st.queue.len()
                            ),
                        )),
                    );
                    return;
                }
                let after = direct_send(&mut self.cx.sink, c, &data, SendMode::Once);
                self.apply_after(child, after);
            }
            SendMode::All => {
                if !reply && c.st.queue.len() + data.len() > limits.send_queue {
                    self.cx.sink.control(
                        c.id,
                        EventKind::Error(OpError::plain(
                            "sendall",
                            format!(
                                "send queue full: {} bytes wait for the peer to read (limit {}); these {} bytes were not queued",
                                c.st.queue.len(),
                                limits.send_queue,
                                data.len()
                            ),
                        )
                        .with_hint("the peer is not reading; wait for write_resumed, or raise the send queue limit")),
                    );
                    return;
                }
                if matches!(kind, Outgoing::Close(_)) && c.ws_closing.is_none() {
                    c.ws_closing = Some((now() + WS_CLOSE_WAIT, CloseReason::Local));
                }
                c.st.queue.push_as(data, kind);
                c.counters.queued_out = c.st.queue.len() as u64;
                self.flush_conn(child);
            }
        }
    }

    /// Closes a stream gracefully: once its queue is sent, and on a
    /// WebSocket after the closing handshake (our close frame, 1000, then
    /// the peer's), which is given [`WS_CLOSE_WAIT`]. Asked again while
    /// it waits, it closes once the queue is sent.
    pub(super) fn close_stream(&mut self, child: u32, reason: CloseReason) {
        let Some(c) = self.conns.get_mut(&child) else {
            return;
        };
        let handshake = self.spec.kind.is_websocket()
            && c.layer.as_ref().is_some_and(|t| t.ready())
            && c.ws_closing.is_none()
            && c.st.can_send();
        if !handshake {
            c.st.close_once_sent(reason);
            return;
        }
        self.send_conn_as(
            child,
            Vec::new(),
            SendMode::All,
            true,
            Outgoing::Close(1000),
        );
        if let Some(c) = self.conns.get_mut(&child) {
            c.ws_closing = Some((now() + WS_CLOSE_WAIT, reason));
        }
    }

    pub(super) fn apply_after(&mut self, child: u32, after: After) {
        if let After::Close(r) = after
            && let Some(c) = self.conns.get_mut(&child)
        {
            c.st.close(r);
        }
    }

    /// Writes queued data as far as the kernel takes it, then handles the
    /// water marks, a pending shutdown and a close waiting for the flush.
    pub(super) fn flush_conn(&mut self, child: u32) {
        let limits = self.spec.limits;
        let Some(c) = self.conns.get_mut(&child) else {
            return;
        };
        if c.st.is_closing() || (c.connecting.is_some() && !self.connect_done(child)) {
            return;
        }
        let Some(c) = self.conns.get_mut(&child) else {
            return;
        };
        let mut after = After::Nothing;
        // The layer is taken out while it works, so the stream's own
        // bookkeeping (`Conn::sent`) can run beside it; it goes back after.
        if let Some(mut t) = c.layer.take() {
            // Plaintext waits in our queue until the handshake is done, so
            // "sent" means encrypted and handed to the kernel.
            loop {
                let mut moved = 0;
                while t.ready()
                    && let Some(chunk) = c.st.queue.front()
                {
                    let kind = c.st.queue.front_kind();
                    let Some(n) = t.take(chunk, kind) else {
                        break;
                    };
                    let data = chunk[..n].to_vec();
                    c.st.queue.advance(n);
                    moved += 1;
                    // A message layer says what it framed; a byte layer's
                    // sends are the bytes it took.
                    match t.sent() {
                        Some(frames) => c.sent_frames(&mut self.cx.sink, frames),
                        None => c.sent(&mut self.cx.sink, data, None, None),
                    }
                }
                if c.st.shutdown_due() {
                    t.close();
                }
                match c.io.socket().map_or(Ok(()), |mut s| t.write_to(&mut s)) {
                    Ok(()) => {}
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) => {
                        after = After::Close(write_error_reason(&e));
                        break;
                    }
                }
                if moved == 0 {
                    break;
                }
            }
            c.layer = Some(t);
        }
        let tls_pending = c.layer.as_ref().is_some_and(|t| t.wants_write());
        let plain_ready = c.layer.as_ref().is_none_or(|t| t.ready());
        while c.layer.is_none()
            && let Some(chunk) = c.st.queue.front()
        {
            match c.io.write(chunk) {
                Ok(n) => {
                    let requested = (n < chunk.len()).then_some(chunk.len());
                    let data = chunk[..n].to_vec();
                    c.st.queue.advance(n);
                    c.sent(&mut self.cx.sink, data, requested, None);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    after = After::Close(write_error_reason(&e));
                    break;
                }
            }
        }
        let queued = c.st.queue.len();
        c.counters.queued_out = queued as u64;
        let want = tls_pending || (queued > 0 && plain_ready);
        let now_reg = if want {
            Registration::ReadWrite
        } else {
            Registration::Read
        };
        if c.reg != Registration::Manual && c.reg != now_reg {
            let interest = if want {
                Interest::READABLE | Interest::WRITABLE
            } else {
                Interest::READABLE
            };
            if self
                .poll
                .reregister(c.io.fd(), Token(child as usize), interest)
                .is_ok()
            {
                c.reg = now_reg;
            }
        }
        match c.st.water_marks(limits.high_water, limits.low_water) {
            Some(Crossing::Paused) => self
                .cx
                .sink
                .control(c.id, EventKind::WritePaused { queued }),
            Some(Crossing::Resumed) => self
                .cx
                .sink
                .control(c.id, EventKind::WriteResumed { queued }),
            None => {}
        }
        if queued + c.delayed_bytes <= limits.low_water
            && c.delayed.len() < MAX_DELAYED / 2
            && c.st.release_reads()
        {
            self.ready_again.push_back(child);
        }
        if c.st.shutdown_due() && !tls_pending {
            let shut = match c.io.socket() {
                Some(s) => s.shutdown(Shutdown::Write),
                None => Err(io::Error::new(
                    io::ErrorKind::Unsupported,
                    "a serial port has no half-close; close it instead",
                )),
            };
            match shut {
                Ok(()) => {
                    c.st.write = WriteSide::Shut;
                    self.cx
                        .sink
                        .control(c.id, EventKind::HalfClosed { by: Side::Local });
                    if c.st.read == ReadSide::Eof {
                        after = After::Close(CloseReason::Local);
                    }
                }
                Err(e) => {
                    // Not shut: sending goes on.
                    c.st.write = WriteSide::Open;
                    self.cx
                        .sink
                        .control(c.id, EventKind::Error(OpError::io("shutdown SHUT_WR", &e)))
                }
            }
        }
        // A held reply still counts as unsent: the peer's FIN must not
        // close the connection before the delayed answer goes out.
        if c.delayed.is_empty()
            && !tls_pending
            && let Some(r) = c.st.flushed()
        {
            after = After::Close(r);
        }
        self.apply_after(child, after);
        if self.shape == kind::Shape::Relay {
            self.relay_release(child);
        }
    }

    pub(super) fn send_reply(&mut self, child: u32, r: Reply, kind: Outgoing) {
        self.queue_reply(child, r, kind);
        self.flush_conn(child);
    }

    /// Queues a reply without writing yet. The replies of one read turn
    /// are all queued before the one flush: flushing after each let the
    /// first one empty the queue and fire a close waiting for the peer's
    /// FIN, and the rest of the turn's replies were lost.
    /// `kind`: what a message layer sends it as (a WebSocket reply goes
    /// in the kind of the message it answers).
    pub(super) fn queue_reply(&mut self, child: u32, r: Reply, kind: Outgoing) {
        let Some(c) = self.conns.get_mut(&child) else {
            return;
        };
        if c.st.is_closing() {
            return;
        }
        if !c.st.can_send() || !self.spec.auto_read {
            // send_conn_as says why a shut side cannot send, and a manual
            // session writes at once, in its socket's own mode.
            self.send_conn_as(child, r.data.into_bytes(), SendMode::All, true, kind);
        } else if !r.data.is_empty() {
            // A reply is never refused for a full queue: reading stops
            // instead (see `read_conn`), so the queue stays near its
            // high-water mark.
            c.st.queue.push_as(r.data.into_bytes(), kind);
            c.counters.queued_out = c.st.queue.len() as u64;
        }
        if r.close
            && let Some(c) = self.conns.get_mut(&child)
        {
            // The reply goes out first, then FIN.
            c.st.close_after_flush(CloseReason::Local);
        }
    }

    /// Reads what a readable connection has. `short_read_ends`: a recv
    /// that returns less than the buffer emptied the socket, and epoll
    /// (edge-triggered) reports anything that arrives after it as a new
    /// event, so the recv that would only say EAGAIN is skipped: one
    /// syscall less per message, a third of an echo round trip's.
    pub(super) fn read_conn(&mut self, child: u32, short_read_ends: bool) {
        if self.shape == kind::Shape::Relay {
            return self.relay_read(child);
        }
        let keep_open = self.spec.keep_open_after_peer_fin;
        let Some(c) = self.conns.get_mut(&child) else {
            return;
        };
        if !c.st.reading() || c.reg == Registration::Manual {
            return;
        }
        let mut replies: Vec<(Reply, Outgoing)> = Vec::new();
        let mut reply_bytes = 0;
        let mut more = false;
        let high_water = self.spec.limits.high_water;
        let mut after = After::Nothing;
        let mut reads = 0;
        let cap = self.rx.cap;
        loop {
            if reads == READS_PER_TURN {
                self.ready_again.push_back(child);
                break;
            }
            reads += 1;
            match c.io.recv(self.rx.spare()) {
                // A terminal has no FIN: no data and end of file means the
                // far end hung up (a pseudo-terminal's master closed).
                Ok(0) if c.io.is_tty() => {
                    c.flush_partial(&mut self.cx.sink);
                    after = After::Close(CloseReason::HangUp);
                    break;
                }
                Err(e) if c.io.is_tty() && e.raw_os_error() == Some(libc::EIO) => {
                    c.flush_partial(&mut self.cx.sink);
                    after = After::Close(CloseReason::HangUp);
                    break;
                }
                Ok(0) => {
                    // A message the peer's FIN cut short is still shown,
                    // and answered: the peer sent those bytes.
                    if let Some((m, f)) = c.deframer.as_mut().and_then(|d| d.finish()) {
                        answer(c, &m, Outgoing::Auto, &mut replies, &mut reply_bytes);
                        c.received_framed(&mut self.cx.sink, m, f);
                    }
                    // The layer says what a FIN means to it (a TLS
                    // handshake cut short fails; a bare FIN after one may
                    // have cut the data).
                    match c.layer.as_ref().map(|t| t.at_eof()) {
                        Some(AtEof::Fails(e)) => {
                            after = After::Close(CloseReason::Error(e));
                            break;
                        }
                        Some(AtEof::Cut(e)) => self.cx.sink.control(c.id, EventKind::Error(e)),
                        None => {}
                    }
                    after = peer_eof(&mut self.cx.sink, c, keep_open);
                    break;
                }
                Ok(n) => {
                    let emptied = short_read_ends && n < cap;
                    let mut data = self.rx.take(n);
                    let mut peer_closed = false;
                    if let Some(mut t) = c.layer.take() {
                        let fed = t.feed(&data);
                        // Pongs and close replies the layer sent itself,
                        // logged after what they answer.
                        let own = t.sent().unwrap_or_default();
                        let fed = fed.unwrap_or_else(|e| Fed {
                            failed: Some(e),
                            ..Fed::default()
                        });
                        for ev in fed.events {
                            self.cx.sink.control(c.id, ev);
                        }
                        peer_closed = fed.closed;
                        data = fed.plain;
                        let messages = fed.messages;
                        if let Some(e) = fed.failed {
                            // What the layer queued (a TLS alert, a
                            // WebSocket close frame) goes out first, and
                            // the frames that came with the fault are shown.
                            if let Some(mut s) = c.io.socket() {
                                let _ = t.write_to(&mut s);
                            }
                            c.layer = Some(t);
                            for (m, meta) in messages {
                                c.received(&mut self.cx.sink, m, Some(meta));
                            }
                            c.sent_frames(&mut self.cx.sink, own);
                            after = After::Close(CloseReason::Error(e));
                            break;
                        }
                        c.layer = Some(t);
                        if !messages.is_empty() {
                            c.last_rx = now();
                        }
                        for (m, meta) in messages {
                            // Responders answer messages, in their kind;
                            // control frames are the layer's business.
                            let kind = match meta.opcode {
                                Opcode::Text => Some(Outgoing::Text),
                                Opcode::Binary | Opcode::Continuation => Some(Outgoing::Binary),
                                _ => None,
                            };
                            if let Some(kind) = kind {
                                answer(c, &m, kind, &mut replies, &mut reply_bytes);
                            }
                            c.received(&mut self.cx.sink, m, Some(meta));
                        }
                        c.sent_frames(&mut self.cx.sink, own);
                        if data.is_empty() {
                            if peer_closed {
                                after = layer_end(&mut self.cx.sink, c, keep_open);
                                break;
                            }
                            if emptied {
                                break;
                            }
                            continue;
                        }
                    }
                    c.last_rx = now();
                    // With framing, rows and replies are per message.
                    let msgs = match c.deframer.as_mut() {
                        Some(d) => d
                            .push(&data)
                            .into_iter()
                            .map(|(m, f)| (m, Some(f)))
                            .collect(),
                        None => vec![(data, None)],
                    };
                    for (m, framed) in msgs {
                        answer(c, &m, Outgoing::Auto, &mut replies, &mut reply_bytes);
                        match framed {
                            Some(f) => c.received_framed(&mut self.cx.sink, m, f),
                            None => c.received(&mut self.cx.sink, m, None),
                        }
                    }
                    if peer_closed {
                        // close_notify: the TLS stream's end of data.
                        after = layer_end(&mut self.cx.sink, c, keep_open);
                        break;
                    }
                    if emptied {
                        break;
                    }
                    if c.st.queue.len() + c.delayed_bytes + reply_bytes >= high_water
                        || c.delayed.len() + replies.len() >= MAX_DELAYED
                    {
                        // Hand the replies over before reading more; what
                        // the queue holds then decides whether to go on.
                        more = true;
                        break;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    after = After::Close(read_error_reason(&e));
                    break;
                }
            }
        }
        self.apply_after(child, after);
        match self.spec.reply_delay {
            Some(d) if !replies.is_empty() => {
                if let Some(c) = self.conns.get_mut(&child) {
                    let due = now() + d;
                    for (r, kind) in replies {
                        c.delayed_bytes += r.data.len();
                        c.delayed.push_back((due, r, kind));
                    }
                }
            }
            _ => {
                for (r, kind) in replies {
                    // "Close after this reply": nothing after it goes out.
                    let close = r.close;
                    self.queue_reply(child, r, kind);
                    if close {
                        break;
                    }
                }
            }
        }
        // One flush for the turn's replies; a close waiting for the flush
        // may then be due (peer FIN, nothing queued).
        self.flush_conn(child);
        if more && let Some(c) = self.conns.get_mut(&child) {
            if c.st.queue.len() + c.delayed_bytes >= high_water || c.delayed.len() >= MAX_DELAYED {
                // `flush_conn` or `timers` resume reading once it drains.
                c.st.hold_reads();
            } else {
                self.ready_again.push_back(child);
            }
        }
        self.advance_script_conn(child);
    }

    /// One real recv for manual sessions, honouring blocking mode and
    /// SO_RCVTIMEO.
    pub(super) fn manual_recv(&mut self, target: SessionId, max: usize) {
        if self.spec.auto_read {
            self.cx.sink.control(
                target,
                EventKind::Error(OpError::plain(
                    "recv",
                    "this session reads automatically; open it with auto_read off to call recv yourself",
                )),
            );
            return;
        }
        let max = max.clamp(1, 16 * 1024 * 1024);
        let mut buf = vec![MaybeUninit::<u8>::uninit(); max];
        let started = now();
        if let Some(c) = self.conns.get_mut(&target.child) {
            let op = format!("recv({max})");
            let after = match c.io.recv(&mut buf) {
                Ok(0) => {
                    c.st.peer_eof();
                    self.cx
                        .sink
                        .control(c.id, EventKind::HalfClosed { by: Side::Peer });
                    After::Nothing
                }
                Ok(n) => {
                    c.received(&mut self.cx.sink, uninit_as_bytes(&buf, n), None);
                    After::Nothing
                }
                Err(e) => {
                    report_manual_error(&mut self.cx.sink, c.id, c.io.socket(), &op, &e, started);
                    if matches!(errno_of(&e), libc::ECONNRESET) {
                        After::Close(CloseReason::PeerReset)
                    } else {
                        After::Nothing
                    }
                }
            };
            self.apply_after(target.child, after);
            return;
        }
        if target == self.cx.top
            && let Some(d) = &mut self.dgram
        {
            let op = format!("recvfrom({max})");
            match d.sock.recv_from_with_flags(&mut buf, libc::MSG_TRUNC) {
                Ok((n, from)) => {
                    let kept = n.min(max);
                    let data = uninit_as_bytes(&buf, kept);
                    let src = Addr::from_sockaddr(&from);
                    d.received(&mut self.cx.sink, data, src, (n > max).then_some(n));
                }
                Err(e) => {
                    report_manual_error(&mut self.cx.sink, d.id, Some(&d.sock), &op, &e, started)
                }
            }
            return;
        }
        self.no_such(target, "recv");
    }

    // ---- servers -------------------------------------------------------

    // ---- datagrams -----------------------------------------------------
}

/// The peer's end of data (FIN, or TLS close_notify) on a stream.
pub(super) fn peer_eof(sink: &mut Sink, c: &mut Conn, keep_open: bool) -> After {
    c.st.peer_eof();
    sink.control(c.id, EventKind::HalfClosed { by: Side::Peer });
    if c.st.write == WriteSide::Shut {
        After::Close(CloseReason::PeerClosed)
    } else {
        if !keep_open {
            c.st.close_after_flush(CloseReason::PeerClosed);
        }
        After::Nothing
    }
}

/// What the responder says to one message, held for the turn's one flush
/// (`kind`: what a message layer sends the replies as).
fn answer(
    c: &mut Conn,
    msg: &[u8],
    kind: Outgoing,
    replies: &mut Vec<(Reply, Outgoing)>,
    bytes: &mut usize,
) {
    if c.responder.is_active() {
        for r in c.responder.respond(&mut c.framer, msg) {
            *bytes += r.data.len();
            replies.push((r, kind));
        }
    }
}

/// The peer ended its side inside the layer (TLS close_notify, a
/// WebSocket close frame): as a FIN, but a closing handshake we began
/// ends with our reason.
fn layer_end(sink: &mut Sink, c: &mut Conn, keep_open: bool) -> After {
    let after = peer_eof(sink, c, keep_open);
    if let Some((_, r)) = c.ws_closing.take() {
        c.st.close_after_flush(r);
    }
    after
}

pub(super) fn read_error_reason(e: &io::Error) -> CloseReason {
    match errno_of(e) {
        libc::ECONNRESET => CloseReason::PeerReset,
        _ => CloseReason::Error(OpError::io("recv", e)),
    }
}

pub(super) fn write_error_reason(e: &io::Error) -> CloseReason {
    match errno_of(e) {
        libc::ECONNRESET => CloseReason::PeerReset,
        _ => CloseReason::Error(OpError::io("send", e)),
    }
}

/// A send done right now in the socket's own mode (manual sessions, and
/// `send` on automatic ones).
pub(super) fn direct_send(sink: &mut Sink, c: &mut Conn, data: &[u8], mode: SendMode) -> After {
    let mut off = 0;
    while off < data.len() {
        let chunk = &data[off..];
        match c.io.write(chunk) {
            Ok(n) => {
                c.sent(
                    sink,
                    chunk[..n].to_vec(),
                    (n < chunk.len()).then_some(chunk.len()),
                    None,
                );
                off += n;
                if mode == SendMode::Once {
                    break;
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                let call = if mode == SendMode::Once {
                    "send"
                } else {
                    "sendall"
                };
                sink.control(
                    c.id,
                    EventKind::Error(OpError::io(
                        format!("{call} ({} of {} bytes written)", off, data.len()),
                        &e,
                    )),
                );
                return After::Nothing;
            }
            Err(e) => return After::Close(write_error_reason(&e)),
        }
    }
    After::Nothing
}

pub(super) fn report_manual_error(
    sink: &mut Sink,
    id: SessionId,
    sock: Option<&Socket>,
    op: &str,
    e: &io::Error,
    started: Instant,
) {
    let blocking = sock.and_then(|s| s.nonblocking().ok()).is_none_or(|nb| !nb);
    if e.kind() == io::ErrorKind::WouldBlock && blocking {
        // A blocking socket only says EAGAIN when SO_RCVTIMEO expired.
        sink.control(
            id,
            EventKind::Timeout {
                op: "recv",
                after: started.elapsed(),
            },
        );
        return;
    }
    sink.control(id, EventKind::Error(OpError::io(op, e)));
}
