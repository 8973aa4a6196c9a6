//! The WebSocket layer: tungstenite's handshake and frame code run over
//! two byte buffers (a `Pipe` that reads what the socket gave and keeps
//! what tungstenite wrote), so the layer does no I/O and works the same
//! over a socket or over TLS.
//!
//! tungstenite hands over whole messages; the log also wants frames. The
//! bytes on each side are therefore read a second time, headers only,
//! with tungstenite's own `FrameHeader::parse`, and each message is paired
//! with the frames that made it (its fragments, whether they were masked).
//! Our own output is parsed the same way, so what is logged as sent is
//! what went on the wire, automatic pongs and close replies included.

use std::collections::VecDeque;
use std::io::{self, Cursor, Read, Write};
use std::sync::{Arc, Mutex, MutexGuard};

use tungstenite::handshake::client::ClientHandshake;
use tungstenite::handshake::server::{self, Callback, ServerHandshake};
use tungstenite::handshake::{HandshakeError, MidHandshake};
use tungstenite::protocol::WebSocketConfig;
use tungstenite::protocol::frame::coding::{Control, Data, OpCode};
use tungstenite::protocol::frame::{CloseFrame, Frame, FrameHeader};
use tungstenite::{Bytes, Message, WebSocket};

use super::{Opcode, Outgoing, WsHandshake, WsMeta, WsUrl};
use crate::engine::error::OpError;
use crate::engine::protocol::EventKind;
use crate::engine::transport::{AtEof, Fed, Transport};

/// What tungstenite reads from and writes to: shared with the layer so
/// that bytes written by a handshake that then fails (a 404 response) can
/// still be sent.
#[derive(Default)]
struct Bufs {
    rx: Vec<u8>,
    rpos: usize,
    tx: Vec<u8>,
}

#[derive(Clone, Default)]
struct Pipe(Arc<Mutex<Bufs>>);

impl Pipe {
    fn lock(&self) -> MutexGuard<'_, Bufs> {
        // Only this thread holds it; a poisoned lock still has whole buffers.
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Read for Pipe {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let mut b = self.lock();
        let left = b.rx.len() - b.rpos;
        if left == 0 {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        let n = left.min(buf.len());
        let start = b.rpos;
        buf[..n].copy_from_slice(&b.rx[start..start + n]);
        b.rpos += n;
        if b.rpos == b.rx.len() {
            b.rx.clear();
            b.rpos = 0;
        }
        Ok(n)
    }
}

impl Write for Pipe {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.lock().tx.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// The largest message or frame taken from a peer (tungstenite closes
/// with 1009 past it): the send queue's own limit.
const MAX_MESSAGE: usize = 16 * 1024 * 1024;
/// Wire bytes the layer holds for the socket before it takes no more.
const OUT_HIGH: usize = 256 * 1024;
/// The largest handshake head kept for the `ws_handshake` event.
const HEAD_MAX: usize = 64 * 1024;

fn config() -> WebSocketConfig {
    WebSocketConfig::default()
        .max_message_size(Some(MAX_MESSAGE))
        .max_frame_size(Some(MAX_MESSAGE))
}

/// What a server's handshake saw, filled in by its callback.
#[derive(Default)]
struct Seen {
    refused: Option<String>,
    subprotocol: Option<String>,
}

/// Checks the path asked for and picks a subprotocol.
struct Accept {
    path: String,
    protocols: Vec<String>,
    seen: Arc<Mutex<Seen>>,
}

impl Callback for Accept {
    fn on_request(
        self,
        req: &server::Request,
        mut resp: server::Response,
    ) -> Result<server::Response, server::ErrorResponse> {
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        let asked = req.uri().path();
        if asked != self.path {
            let msg = format!(
                "the client asked for {}; this server answers {}",
                crate::engine::codec::excerpt(asked, 80),
                self.path
            );
            seen.refused = Some(msg.clone());
            let mut r = server::ErrorResponse::new(Some(format!("{msg}\n")));
            *r.status_mut() = tungstenite::http::StatusCode::NOT_FOUND;
            return Err(r);
        }
        let offered: Vec<String> = req
            .headers()
            .get_all("sec-websocket-protocol")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(',').map(|p| p.trim().to_string()))
            .collect();
        if let Some(p) = offered.iter().find(|p| self.protocols.contains(p))
            && let Ok(v) = p.parse()
        {
            resp.headers_mut().insert("sec-websocket-protocol", v);
            seen.subprotocol = Some(p.clone());
        }
        Ok(resp)
    }
}

type ClientMid = MidHandshake<ClientHandshake<Pipe>>;
type ServerMid = MidHandshake<ServerHandshake<Pipe, Accept>>;

enum Phase {
    Client(ClientMid),
    Server(ServerMid, Arc<Mutex<Seen>>),
    Open(Box<WebSocket<Pipe>>),
    /// The handshake failed or the connection was failed; nothing more
    /// is read or written but what is already in `out`.
    Done,
}

/// A frame seen on the wire, not yet paired with its message.
struct WireFrame {
    opcode: Opcode,
    fin: bool,
    masked: bool,
    payload: Vec<u8>,
}

/// Frames read, headers only, from a copy of one side's bytes.
#[derive(Default)]
struct Shadow {
    buf: Vec<u8>,
    /// The copy stopped making sense (a header tungstenite refuses too).
    lost: bool,
}

impl Shadow {
    fn push(&mut self, bytes: &[u8]) {
        if !self.lost {
            self.buf.extend_from_slice(bytes);
        }
    }

    /// The next whole frame, with its payload unmasked and its wire bytes.
    fn next(&mut self) -> Option<(WireFrame, Vec<u8>)> {
        if self.lost {
            return None;
        }
        let mut cur = Cursor::new(&self.buf[..]);
        let (hdr, len) = match FrameHeader::parse(&mut cur) {
            Ok(Some(h)) => h,
            Ok(None) => return None,
            Err(_) => {
                self.lost = true;
                self.buf.clear();
                return None;
            }
        };
        let start = cur.position() as usize;
        let end = start.checked_add(usize::try_from(len).ok()?)?;
        if self.buf.len() < end {
            return None;
        }
        let mut payload = self.buf[start..end].to_vec();
        if let Some(m) = hdr.mask {
            // The XOR of RFC 6455 section 5.3, for the log's copy only.
            for (i, b) in payload.iter_mut().enumerate() {
                *b ^= m[i % 4];
            }
        }
        let wire: Vec<u8> = self.buf.drain(..end).collect();
        let opcode = match hdr.opcode {
            OpCode::Data(Data::Continue) => Opcode::Continuation,
            OpCode::Data(Data::Text) => Opcode::Text,
            OpCode::Data(Data::Binary) => Opcode::Binary,
            OpCode::Control(Control::Close) => Opcode::Close,
            OpCode::Control(Control::Ping) => Opcode::Ping,
            OpCode::Control(Control::Pong) => Opcode::Pong,
            // Reserved opcodes: tungstenite fails the connection.
            _ => Opcode::Binary,
        };
        let frame = WireFrame {
            opcode,
            fin: hdr.is_final,
            masked: hdr.mask.is_some(),
            payload,
        };
        Some((frame, wire))
    }
}

fn close_code_of(opcode: Opcode, payload: &[u8]) -> Option<u16> {
    (opcode == Opcode::Close && payload.len() >= 2)
        .then(|| u16::from_be_bytes([payload[0], payload[1]]))
}

fn meta(frames: &[WireFrame]) -> WsMeta {
    let first = &frames[0];
    WsMeta {
        opcode: first.opcode,
        fin: frames.last().is_some_and(|f| f.fin),
        masked: first.masked,
        close_code: close_code_of(first.opcode, &first.payload),
        fragments: frames.iter().map(|f| f.payload.len()).collect(),
        invalid_utf8: false,
    }
}

/// A WebSocket over a stream.
pub(crate) struct WsLayer {
    phase: Phase,
    pipe: Pipe,
    role: &'static str,
    auto_pong: bool,
    /// Pongs the user asked for that our output has not shown yet.
    user_pongs: usize,
    /// Wire bytes for the socket.
    out: Vec<u8>,
    out_off: usize,
    /// Copies of each side's frames, for the log.
    seen_in: Shadow,
    seen_out: Shadow,
    /// Incoming frames waiting for tungstenite to hand over their message.
    pending: VecDeque<WireFrame>,
    /// Frames we sent, for the worker to log.
    sent: Vec<(Vec<u8>, WsMeta)>,
    /// Handshake heads as they went each way.
    head_in: Vec<u8>,
    head_out: Vec<u8>,
    /// A close frame went each way.
    close_sent: bool,
    close_received: bool,
}

impl WsLayer {
    /// A client that asks for `url` with these extra headers and
    /// subprotocols; its request goes out at once.
    pub(crate) fn client(
        url: &WsUrl,
        headers: &[(String, String)],
        subprotocols: &[String],
        auto_pong: bool,
    ) -> Result<WsLayer, OpError> {
        use tungstenite::client::IntoClientRequest;
        let hs_err =
            |e: &dyn std::fmt::Display| OpError::plain("websocket handshake", e.to_string());
        let mut req = url
            .to_string()
            .into_client_request()
            .map_err(|e| hs_err(&e))?;
        for (k, v) in headers {
            let name =
                tungstenite::http::HeaderName::from_bytes(k.as_bytes()).map_err(|e| hs_err(&e))?;
            let value = v.parse().map_err(|e| hs_err(&e))?;
            req.headers_mut().append(name, value);
        }
        if !subprotocols.is_empty() {
            let v = subprotocols.join(", ").parse().map_err(|e| hs_err(&e))?;
            req.headers_mut().insert("sec-websocket-protocol", v);
        }
        let pipe = Pipe::default();
        let mid =
            ClientHandshake::start(pipe.clone(), req, Some(config())).map_err(|e| hs_err(&e))?;
        let mut layer = WsLayer::new(Phase::Done, pipe, "client", auto_pong);
        // The first round writes the request into the pipe.
        layer.phase = match mid.handshake() {
            Err(HandshakeError::Interrupted(m)) => Phase::Client(m),
            Err(HandshakeError::Failure(e)) => return Err(hs_err(&e)),
            Ok(_) => return Err(hs_err(&"the handshake ended before the server answered")),
        };
        layer.drain_out();
        Ok(layer)
    }

    /// A server's side of one accepted connection: answers a request for
    /// `path`, picking the first of the client's subprotocols it knows.
    pub(crate) fn server(path: &str, subprotocols: &[String], auto_pong: bool) -> WsLayer {
        let pipe = Pipe::default();
        let seen = Arc::new(Mutex::new(Seen::default()));
        let accept = Accept {
            path: path.to_string(),
            protocols: subprotocols.to_vec(),
            seen: seen.clone(),
        };
        let mid = ServerHandshake::start(pipe.clone(), accept, Some(config()));
        WsLayer::new(Phase::Server(mid, seen), pipe, "server", auto_pong)
    }

    fn new(phase: Phase, pipe: Pipe, role: &'static str, auto_pong: bool) -> WsLayer {
        WsLayer {
            phase,
            pipe,
            role,
            auto_pong,
            user_pongs: 0,
            out: Vec::new(),
            out_off: 0,
            seen_in: Shadow::default(),
            seen_out: Shadow::default(),
            pending: VecDeque::new(),
            sent: Vec::new(),
            head_in: Vec::new(),
            head_out: Vec::new(),
            close_sent: false,
            close_received: false,
        }
    }

    /// Moves what tungstenite wrote to the socket's buffer: the handshake
    /// as it is, frames one by one (logged, and a pong dropped when
    /// automatic pongs are off and nobody asked for it).
    fn drain_out(&mut self) -> Vec<EventKind> {
        let tx = std::mem::take(&mut self.pipe.lock().tx);
        let mut events = Vec::new();
        if tx.is_empty() {
            return events;
        }
        if !matches!(self.phase, Phase::Open(_)) {
            let room = HEAD_MAX.saturating_sub(self.head_out.len());
            self.head_out.extend_from_slice(&tx[..tx.len().min(room)]);
            self.out.extend_from_slice(&tx);
            return events;
        }
        self.seen_out.push(&tx);
        while let Some((frame, wire)) = self.seen_out.next() {
            if frame.opcode == Opcode::Pong {
                if self.user_pongs > 0 {
                    self.user_pongs -= 1;
                } else if !self.auto_pong {
                    events.push(EventKind::Warning {
                        code: "pong_withheld",
                        message: "a ping was not answered: automatic pong is off".into(),
                    });
                    continue;
                }
            }
            if frame.opcode == Opcode::Close {
                self.close_sent = true;
            }
            self.out.extend_from_slice(&wire);
            let m = meta(std::slice::from_ref(&frame));
            let data = match frame.opcode {
                Opcode::Close => frame.payload.get(2..).unwrap_or_default().to_vec(),
                _ => frame.payload,
            };
            self.sent.push((data, m));
        }
        events
    }

    /// Handshake rounds with what arrived; true once it is done.
    fn handshake(&mut self, fed: &mut Fed) -> Result<(), OpError> {
        let phase = std::mem::replace(&mut self.phase, Phase::Done);
        let hs_err = |msg: String| OpError::plain("websocket handshake", msg);
        match phase {
            Phase::Client(mid) => match mid.handshake() {
                Err(HandshakeError::Interrupted(m)) => self.phase = Phase::Client(m),
                Err(HandshakeError::Failure(e)) => {
                    return Err(match e {
                        tungstenite::Error::Http(r) => hs_err(format!(
                            "the server answered {} instead of 101 Switching Protocols",
                            r.status()
                        ))
                        .with_hint("check the path and the headers the server wants (the response is in the log)"),
                        e => hs_err(e.to_string()),
                    });
                }
                Ok((ws, resp)) => {
                    let head_end = head_len(&self.head_in);
                    let tail = self.head_in.get(head_end..).unwrap_or_default().to_vec();
                    self.seen_in.push(&tail);
                    let header = |n: &str| {
                        resp.headers()
                            .get(n)
                            .and_then(|v| v.to_str().ok())
                            .map(str::to_string)
                    };
                    let info = WsHandshake {
                        role: self.role,
                        request: head_text(&self.head_out),
                        response: head_text(&self.head_in[..head_end.min(self.head_in.len())]),
                        status: resp.status().as_u16(),
                        subprotocol: header("sec-websocket-protocol"),
                        extensions: header("sec-websocket-extensions"),
                    };
                    fed.events.push(EventKind::WsHandshake(Box::new(info)));
                    self.phase = Phase::Open(Box::new(ws));
                }
            },
            Phase::Server(mid, seen) => match mid.handshake() {
                Err(HandshakeError::Interrupted(m)) => self.phase = Phase::Server(m, seen),
                Err(HandshakeError::Failure(e)) => {
                    // A refusal's response is in the pipe: it goes out first.
                    self.drain_out();
                    let refused = seen.lock().ok().and_then(|s| s.refused.clone());
                    return Err(match refused {
                        Some(why) => hs_err(format!("refused with 404: {why}")),
                        None => hs_err(format!("not a WebSocket request: {e}")),
                    });
                }
                Ok(ws) => {
                    self.drain_out();
                    let sub = seen.lock().ok().and_then(|s| s.subprotocol.clone());
                    let info = WsHandshake {
                        role: self.role,
                        request: head_text(&self.head_in),
                        response: head_text(&self.head_out),
                        status: 101,
                        subprotocol: sub,
                        extensions: None,
                    };
                    fed.events.push(EventKind::WsHandshake(Box::new(info)));
                    self.phase = Phase::Open(Box::new(ws));
                }
            },
            other => self.phase = other,
        }
        Ok(())
    }

    /// Pairs a message tungstenite handed over with its frames.
    fn paired(&mut self, msg: Message) -> Option<(Vec<u8>, WsMeta)> {
        let control = matches!(msg, Message::Ping(_) | Message::Pong(_) | Message::Close(_));
        let frames: Vec<WireFrame> = if control {
            let i = self.pending.iter().position(|f| f.opcode.is_control())?;
            self.pending.remove(i).into_iter().collect()
        } else {
            let mut frames = Vec::new();
            while let Some(i) = self.pending.iter().position(|f| !f.opcode.is_control()) {
                let f = self.pending.remove(i)?;
                let fin = f.fin;
                frames.push(f);
                if fin {
                    break;
                }
            }
            frames
        };
        let mut m = if frames.is_empty() {
            // The copy lost track; what tungstenite says still stands.
            WsMeta {
                opcode: Opcode::Binary,
                fin: true,
                masked: self.role == "server",
                close_code: None,
                fragments: Vec::new(),
                invalid_utf8: false,
            }
        } else {
            meta(&frames)
        };
        let data = match msg {
            Message::Text(t) => {
                m.opcode = Opcode::Text;
                t.as_bytes().to_vec()
            }
            Message::Binary(b) => {
                m.opcode = Opcode::Binary;
                b.to_vec()
            }
            Message::Ping(b) => {
                m.opcode = Opcode::Ping;
                b.to_vec()
            }
            Message::Pong(b) => {
                m.opcode = Opcode::Pong;
                b.to_vec()
            }
            Message::Close(c) => {
                m.opcode = Opcode::Close;
                self.close_received = true;
                m.close_code = c.as_ref().map(|c| u16::from(c.code));
                c.map(|c| c.reason.as_bytes().to_vec()).unwrap_or_default()
            }
            Message::Frame(f) => f.into_payload().to_vec(),
        };
        Some((data, m))
    }

    /// Fails the connection for what tungstenite refused: the frames that
    /// came with it are logged as they were, and a close frame with the
    /// code RFC 6455 gives goes out.
    fn fail(&mut self, e: tungstenite::Error, fed: &mut Fed) -> OpError {
        let (code, what): (u16, String) = match &e {
            tungstenite::Error::Utf8(_) => (1007, "a text message is not valid UTF-8".into()),
            tungstenite::Error::Capacity(c) => (1009, format!("the message is too big: {c}")),
            tungstenite::Error::Protocol(p) => (1002, format!("protocol violation: {p}")),
            e => (1011, e.to_string()),
        };
        let utf8 = code == 1007;
        for f in self.pending.drain(..) {
            let mut m = meta(std::slice::from_ref(&f));
            m.invalid_utf8 = utf8 && matches!(f.opcode, Opcode::Text | Opcode::Continuation);
            fed.messages.push((f.payload, m));
        }
        if let Phase::Open(ws) = &mut self.phase {
            let mut reason = what.clone();
            reason.truncate(120);
            while !reason.is_char_boundary(reason.len()) {
                reason.pop();
            }
            let frame = CloseFrame {
                code: code.into(),
                reason: reason.into(),
            };
            let _ = ws.close(Some(frame));
        }
        fed.events.extend(self.drain_out());
        self.phase = Phase::Done;
        OpError::plain("websocket", format!("{what}; closed with {code}"))
    }

    fn pending_out(&self) -> usize {
        self.out.len() - self.out_off
    }
}

/// Where a handshake head ends (after its blank line), or all of it.
fn head_len(b: &[u8]) -> usize {
    memchr::memmem::find(b, b"\r\n\r\n").map_or(b.len(), |i| i + 4)
}

/// A head as text for the event (the event's consumers escape it).
fn head_text(b: &[u8]) -> String {
    String::from_utf8_lossy(&b[..head_len(b)])
        .trim_end()
        .to_string()
}

impl Transport for WsLayer {
    fn feed(&mut self, wire: &[u8]) -> Result<Fed, OpError> {
        let mut fed = Fed::default();
        if matches!(self.phase, Phase::Done) {
            return Ok(fed);
        }
        let handshaking = !matches!(self.phase, Phase::Open(_));
        if handshaking {
            if self.head_in.len() + wire.len() > HEAD_MAX {
                self.phase = Phase::Done;
                return Err(OpError::plain(
                    "websocket handshake",
                    format!("the handshake head is over {HEAD_MAX} bytes"),
                ));
            }
            self.head_in.extend_from_slice(wire);
        } else {
            self.seen_in.push(wire);
        }
        self.pipe.lock().rx.extend_from_slice(wire);
        if handshaking {
            self.handshake(&mut fed)?;
        }
        loop {
            while let Some((f, _)) = self.seen_in.next() {
                self.pending.push_back(f);
            }
            let Phase::Open(ws) = &mut self.phase else {
                break;
            };
            match ws.read() {
                Ok(msg) => {
                    if let Some(m) = self.paired(msg) {
                        fed.messages.push(m);
                    }
                }
                Err(tungstenite::Error::Io(e)) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(tungstenite::Error::ConnectionClosed | tungstenite::Error::AlreadyClosed) => {
                    fed.closed = true;
                    break;
                }
                Err(e) => {
                    fed.failed = Some(self.fail(e, &mut fed));
                    return Ok(fed);
                }
            }
        }
        if let Phase::Open(ws) = &mut self.phase {
            // Pongs and a close reply tungstenite queued while reading.
            match ws.flush() {
                Ok(()) | Err(tungstenite::Error::ConnectionClosed) => {}
                Err(tungstenite::Error::AlreadyClosed) => {}
                Err(e) => {
                    fed.failed = Some(self.fail(e, &mut fed));
                    return Ok(fed);
                }
            }
        }
        fed.events.extend(self.drain_out());
        if self.close_received && self.close_sent {
            // The closing handshake is complete: no more data comes.
            fed.closed = true;
        }
        Ok(fed)
    }

    fn ready(&self) -> bool {
        matches!(self.phase, Phase::Open(_))
    }

    fn take(&mut self, plain: &[u8], kind: Outgoing) -> Option<usize> {
        if self.pending_out() > OUT_HIGH {
            return None;
        }
        let Phase::Open(ws) = &mut self.phase else {
            // Failed or closed: what is left can never go; it is dropped
            // (the session is ending) rather than held forever.
            return Some(plain.len());
        };
        if !ws.can_write() {
            return Some(plain.len());
        }
        let bytes = Bytes::copy_from_slice(plain);
        let text = match kind {
            Outgoing::Auto => std::str::from_utf8(plain).is_ok(),
            _ => kind == Outgoing::Text,
        };
        let msg = match kind {
            Outgoing::Auto | Outgoing::Text | Outgoing::Binary => {
                // A frame rather than Message::Text, so a text frame that is
                // not UTF-8 can be sent on purpose, to test a peer.
                let op = if text { Data::Text } else { Data::Binary };
                Message::Frame(Frame::message(bytes, OpCode::Data(op), true))
            }
            Outgoing::Ping => Message::Ping(bytes),
            Outgoing::Pong => {
                self.user_pongs += 1;
                Message::Pong(bytes)
            }
            Outgoing::Close(code) => Message::Close(Some(CloseFrame {
                code: code.into(),
                reason: String::from_utf8_lossy(plain).into_owned().into(),
            })),
        };
        let _ = ws.write(msg);
        let _ = ws.flush();
        let events = self.drain_out();
        debug_assert!(events.is_empty() || !self.auto_pong);
        Some(plain.len())
    }

    fn wants_write(&self) -> bool {
        self.pending_out() > 0
    }

    fn write_to(&mut self, out: &mut dyn io::Write) -> io::Result<()> {
        while self.out_off < self.out.len() {
            match out.write(&self.out[self.out_off..]) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => self.out_off += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        self.out.clear();
        self.out_off = 0;
        Ok(())
    }

    fn close(&mut self) {
        if let Phase::Open(ws) = &mut self.phase
            && ws.can_write()
        {
            let _ = ws.close(Some(CloseFrame {
                code: 1000.into(),
                reason: "".into(),
            }));
            self.drain_out();
        }
    }

    fn at_eof(&self) -> AtEof {
        match self.phase {
            Phase::Client(_) | Phase::Server(..) => AtEof::Fails(
                OpError::plain(
                    "websocket handshake",
                    "the peer closed the connection during the WebSocket handshake",
                )
                .with_hint("the peer may not speak WebSocket on this port or path"),
            ),
            _ => AtEof::Cut(
                OpError::plain(
                    "websocket",
                    "the peer closed the connection without a WebSocket close frame (1006, abnormal closure)",
                )
                .with_hint("a clean end sends a close frame first; the peer may have crashed or been killed"),
            ),
        }
    }

    fn sent(&mut self) -> Option<Vec<(Vec<u8>, WsMeta)>> {
        Some(std::mem::take(&mut self.sent))
    }
}
