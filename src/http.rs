//! HTTP/1.x over a plain socket, as the seed's "模拟http" does it by hand:
//! a request builder, and an incremental response parser for the bytes a
//! session receives (status line, headers, a body framed by
//! Content-Length, chunked encoding or the server's close). Every byte
//! still travels through the normal session log; this only reads it.
//!
//! A peer's bytes are hostile: sizes are bounded and malformed input is an
//! error that says where, never a panic.

use std::fmt;

/// Limits for what a response may hold.
pub const MAX_HEAD: usize = 64 * 1024;
/// Headers counted at most.
pub const MAX_HEADERS: usize = 200;
/// Body bytes kept at most (the rest is counted, not kept).
pub const MAX_BODY: usize = 16 * 1024 * 1024;

/// A request to write on a socket.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    /// GET, HEAD, POST, ...
    pub method: String,
    /// `/` or `/path?query`.
    pub path: String,
    /// Extra headers, in order.
    pub headers: Vec<(String, String)>,
    /// The body (POST).
    pub body: Vec<u8>,
    /// `Connection: keep-alive` instead of `close`.
    pub keep_alive: bool,
}

impl Request {
    /// A GET of `path`.
    pub fn get(path: &str) -> Request {
        Request {
            method: "GET".into(),
            path: path.into(),
            headers: Vec::new(),
            body: Vec::new(),
            keep_alive: false,
        }
    }

    /// The bytes, with `Host` (from `host` unless a header gives it),
    /// `Content-Length` for a body, and `Connection`.
    pub fn to_bytes(&self, host: &str) -> Result<Vec<u8>, String> {
        let bad = |s: &str| s.contains(['\r', '\n']);
        if self.method.is_empty() || !self.method.chars().all(|c| c.is_ascii_uppercase()) {
            return Err(format!(
                "'{}' is not an HTTP method (GET, HEAD, POST, ...)",
                self.method
            ));
        }
        if !self.path.starts_with('/') && self.path != "*"
            || self.path.contains(' ')
            || bad(&self.path)
        {
            return Err(format!(
                "'{}' is not a request path: start with / and leave out spaces",
                self.path
            ));
        }
        let mut out = format!("{} {} HTTP/1.1\r\n", self.method, self.path);
        let has = |name: &str| {
            self.headers
                .iter()
                .any(|(k, _)| k.eq_ignore_ascii_case(name))
        };
        if !has("host") {
            out.push_str(&format!("Host: {host}\r\n"));
        }
        for (k, v) in &self.headers {
            if k.is_empty() || k.contains([':', ' ']) || bad(k) || bad(v) {
                return Err(format!("'{k}: {v}' is not a header line"));
            }
            out.push_str(&format!("{k}: {v}\r\n"));
        }
        if !self.body.is_empty() && !has("content-length") {
            out.push_str(&format!("Content-Length: {}\r\n", self.body.len()));
        }
        if !has("connection") {
            out.push_str(if self.keep_alive {
                "Connection: keep-alive\r\n"
            } else {
                "Connection: close\r\n"
            });
        }
        out.push_str("\r\n");
        let mut bytes = out.into_bytes();
        bytes.extend_from_slice(&self.body);
        Ok(bytes)
    }
}

/// Why a response could not be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("HTTP response, byte {at}: {message}")]
pub struct HttpError {
    /// Offset into the response where it went wrong.
    pub at: usize,
    /// What is wrong.
    pub message: String,
}

/// A parsed response.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Response {
    /// `HTTP/1.1`
    pub version: String,
    /// 200
    pub status: u16,
    /// `OK`
    pub reason: String,
    /// Headers in order, as received.
    pub headers: Vec<(String, String)>,
    /// The body, de-chunked (at most MAX_BODY bytes kept).
    pub body: Vec<u8>,
    /// Body bytes received (exact, also beyond what was kept).
    pub body_len: u64,
    /// Whether it came chunked.
    pub chunked: bool,
    /// Whether the body is complete (by length, last chunk or close).
    pub complete: bool,
}

impl Response {
    /// A header's value (first match, any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Framing {
    None,
    Length(u64),
    Chunked,
    UntilClose,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum State {
    Head,
    Body,
    ChunkSize,
    ChunkData(u64),
    ChunkEnd,
    Trailers,
    Done,
    Failed(HttpError),
}

/// Reads a response from bytes as they arrive.
#[derive(Debug, Clone)]
pub struct ResponseParser {
    head_request: bool,
    buf: Vec<u8>,
    consumed: usize,
    state: State,
    framing: Framing,
    resp: Response,
}

impl fmt::Display for Response {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} {}", self.version, self.status, self.reason)
    }
}

impl ResponseParser {
    /// A parser for the answer to a request; `head_request` when it was a
    /// HEAD (its answer has no body whatever the headers say).
    pub fn new(head_request: bool) -> ResponseParser {
        ResponseParser {
            head_request,
            buf: Vec::new(),
            consumed: 0,
            state: State::Head,
            framing: Framing::None,
            resp: Response::default(),
        }
    }

    /// The response so far (headers once they are in).
    pub fn response(&self) -> &Response {
        &self.resp
    }

    /// Whether the status line and headers have been read.
    pub fn has_head(&self) -> bool {
        !matches!(self.state, State::Head | State::Failed(_)) || self.resp.status != 0
    }

    /// The error, if the bytes were not HTTP.
    pub fn error(&self) -> Option<&HttpError> {
        match &self.state {
            State::Failed(e) => Some(e),
            _ => None,
        }
    }

    fn fail(&mut self, at: usize, message: impl Into<String>) {
        self.state = State::Failed(HttpError {
            at,
            message: message.into(),
        });
    }

    fn keep_body(&mut self, data: &[u8]) {
        self.resp.body_len += data.len() as u64;
        let room = MAX_BODY.saturating_sub(self.resp.body.len());
        self.resp
            .body
            .extend_from_slice(&data[..data.len().min(room)]);
    }

    /// Takes the next bytes received.
    pub fn feed(&mut self, data: &[u8]) {
        if matches!(self.state, State::Done | State::Failed(_)) {
            return;
        }
        self.buf.extend_from_slice(data);
        self.run();
    }

    /// The peer closed: a body framed by the close is now complete.
    pub fn eof(&mut self) {
        match self.state {
            State::Body if self.framing == Framing::UntilClose => {
                self.resp.complete = true;
                self.state = State::Done;
            }
            State::Done | State::Failed(_) => {}
            _ => {
                let at = self.consumed + self.buf.len();
                self.fail(at, "the connection closed before the response was complete");
            }
        }
    }

    fn line(&mut self) -> Option<Vec<u8>> {
        let pos = memchr::memmem::find(&self.buf, b"\r\n")?;
        let line: Vec<u8> = self.buf.drain(..pos + 2).take(pos).collect();
        self.consumed += pos + 2;
        Some(line)
    }

    fn run(&mut self) {
        loop {
            match self.state.clone() {
                State::Head => {
                    let Some(end) = memchr::memmem::find(&self.buf, b"\r\n\r\n") else {
                        if self.buf.len() > MAX_HEAD {
                            self.fail(
                                self.consumed,
                                format!("no end of the headers within {MAX_HEAD} bytes"),
                            );
                        } else if !self.buf.is_empty()
                            && !b"HTTP/".starts_with(&self.buf[..self.buf.len().min(5)])
                        {
                            self.fail(
                                self.consumed,
                                "does not start with HTTP/ (is this an HTTP server?)",
                            );
                        }
                        return;
                    };
                    let head: Vec<u8> = self.buf.drain(..end + 4).collect();
                    let base = self.consumed;
                    self.consumed += end + 4;
                    if let Err((at, m)) = self.parse_head(&head[..end]) {
                        self.fail(base + at, m);
                        return;
                    }
                }
                State::Body => match self.framing {
                    Framing::Length(left) => {
                        let take = (self.buf.len() as u64).min(left) as usize;
                        let data: Vec<u8> = self.buf.drain(..take).collect();
                        self.consumed += take;
                        self.keep_body(&data);
                        let left = left - take as u64;
                        self.framing = Framing::Length(left);
                        if left == 0 {
                            self.resp.complete = true;
                            self.state = State::Done;
                        }
                        return;
                    }
                    Framing::UntilClose => {
                        let data = std::mem::take(&mut self.buf);
                        self.consumed += data.len();
                        self.keep_body(&data);
                        return;
                    }
                    Framing::Chunked => self.state = State::ChunkSize,
                    Framing::None => {
                        self.resp.complete = true;
                        self.state = State::Done;
                    }
                },
                State::ChunkSize => {
                    let at = self.consumed;
                    let Some(line) = self.line() else {
                        if self.buf.len() > 1024 {
                            self.fail(at, "a chunk size line longer than 1024 bytes");
                        }
                        return;
                    };
                    let text = String::from_utf8_lossy(&line);
                    let size_text = text.split(';').next().unwrap_or("").trim();
                    match u64::from_str_radix(size_text, 16) {
                        Ok(0) => self.state = State::Trailers,
                        Ok(n) if n <= 1 << 40 => self.state = State::ChunkData(n),
                        _ => {
                            self.fail(
                                at,
                                format!("'{size_text}' is not a chunk size (hex digits)"),
                            );
                            return;
                        }
                    }
                }
                State::ChunkData(left) => {
                    if self.buf.is_empty() {
                        return;
                    }
                    let take = (self.buf.len() as u64).min(left) as usize;
                    let data: Vec<u8> = self.buf.drain(..take).collect();
                    self.consumed += take;
                    self.keep_body(&data);
                    let left = left - take as u64;
                    self.state = if left == 0 {
                        State::ChunkEnd
                    } else {
                        State::ChunkData(left)
                    };
                }
                State::ChunkEnd => {
                    if self.buf.len() < 2 {
                        return;
                    }
                    if &self.buf[..2] != b"\r\n" {
                        let at = self.consumed;
                        self.fail(at, "a chunk does not end with CRLF");
                        return;
                    }
                    self.buf.drain(..2);
                    self.consumed += 2;
                    self.state = State::ChunkSize;
                }
                State::Trailers => {
                    let Some(line) = self.line() else { return };
                    if line.is_empty() {
                        self.resp.complete = true;
                        self.state = State::Done;
                    }
                }
                State::Done | State::Failed(_) => return,
            }
        }
    }

    fn parse_head(&mut self, head: &[u8]) -> Result<(), (usize, String)> {
        let text = String::from_utf8_lossy(head);
        let mut lines = text.split("\r\n");
        let status = lines.next().unwrap_or("");
        let mut parts = status.splitn(3, ' ');
        let version = parts.next().unwrap_or("");
        if !version.starts_with("HTTP/1.") {
            return Err((0, format!("'{version}' is not HTTP/1.x")));
        }
        let code = parts.next().unwrap_or("");
        let status = code
            .parse::<u16>()
            .ok()
            .filter(|c| (100..=999).contains(c))
            .ok_or((version.len() + 1, format!("'{code}' is not a status code")))?;
        self.resp.version = version.into();
        self.resp.status = status;
        self.resp.reason = parts.next().unwrap_or("").into();
        let mut at = text.find("\r\n").map_or(head.len(), |p| p + 2);
        for line in lines {
            if self.resp.headers.len() == MAX_HEADERS {
                return Err((at, format!("more than {MAX_HEADERS} headers")));
            }
            let Some((k, v)) = line.split_once(':') else {
                return Err((at, format!("'{line}' is not a header line (name: value)")));
            };
            self.resp.headers.push((k.trim().into(), v.trim().into()));
            at += line.len() + 2;
        }
        let chunked = self
            .resp
            .header("transfer-encoding")
            .is_some_and(|t| t.to_ascii_lowercase().contains("chunked"));
        let length = self
            .resp
            .header("content-length")
            .map(|l| l.trim().to_string());
        self.framing = if self.head_request || status / 100 == 1 || status == 204 || status == 304 {
            Framing::None
        } else if chunked {
            self.resp.chunked = true;
            Framing::Chunked
        } else if let Some(l) = length {
            Framing::Length(
                l.parse()
                    .map_err(|_| (0, format!("Content-Length '{l}' is not a number")))?,
            )
        } else {
            Framing::UntilClose
        };
        self.state = State::Body;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_all(bytes: &[u8], head: bool) -> ResponseParser {
        let mut p = ResponseParser::new(head);
        p.feed(bytes);
        p
    }

    #[test]
    fn request_has_host_length_and_connection() {
        let mut r = Request::get("/index.html");
        r.method = "POST".into();
        r.body = b"a=1".to_vec();
        let b = String::from_utf8(r.to_bytes("127.0.0.1:8000").unwrap()).unwrap();
        assert_eq!(
            b,
            "POST /index.html HTTP/1.1\r\nHost: 127.0.0.1:8000\r\nContent-Length: 3\r\nConnection: close\r\n\r\na=1"
        );
        r.headers.push(("X-Bad".into(), "a\r\nInjected: 1".into()));
        assert!(r.to_bytes("h").is_err(), "no header injection");
        assert!(Request::get("no-slash").to_bytes("h").is_err());
    }

    #[test]
    fn content_length_chunked_close_and_head() {
        let p = parse_all(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", false);
        let r = p.response();
        assert_eq!(
            (r.status, r.body.as_slice(), r.complete),
            (200, &b"hello"[..], true)
        );
        let p = parse_all(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;x=y\r\nhello\r\n6\r\n world\r\n0\r\nX-T: 1\r\n\r\n",
            false,
        );
        assert_eq!(p.response().body, b"hello world");
        assert!(p.response().chunked && p.response().complete);
        let mut p = parse_all(b"HTTP/1.0 200 OK\r\n\r\nuntil close", false);
        assert!(!p.response().complete);
        p.eof();
        assert!(p.response().complete);
        assert_eq!(p.response().body, b"until close");
        let p = parse_all(b"HTTP/1.1 200 OK\r\nContent-Length: 999\r\n\r\n", true);
        assert!(p.response().complete, "HEAD has no body");
    }

    #[test]
    fn garbage_is_an_error_with_a_position() {
        let p = parse_all(b"SSH-2.0-OpenSSH\r\n", false);
        assert!(p.error().unwrap().message.contains("HTTP/"));
        let p = parse_all(b"HTTP/1.1 200 OK\r\nbroken\r\n\r\n", false);
        assert_eq!(p.error().unwrap().at, 17);
        let p = parse_all(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
            false,
        );
        assert!(p.error().unwrap().message.contains("chunk size"));
        let mut p = parse_all(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort", false);
        p.eof();
        assert!(p.error().unwrap().message.contains("closed before"));
    }

    #[test]
    fn byte_by_byte_equals_all_at_once() {
        let text =
            b"HTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n";
        let whole = parse_all(text, false);
        let mut p = ResponseParser::new(false);
        for b in text.iter() {
            p.feed(std::slice::from_ref(b));
        }
        assert_eq!(p.response(), whole.response());
        assert_eq!(p.response().status, 404);
    }
}
