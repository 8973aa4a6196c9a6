//! WebSocket (RFC 6455) as a layer on a stream: what a session asks for,
//! what the log and events say of frames, and the layer itself
//! (`layer.rs`), which drives tungstenite's handshake and frame code over
//! byte buffers and does no I/O of its own. Over TLS it stacks on the TLS
//! layer (`stack.rs`), so `wss` is two layers.

mod layer;
mod stack;

pub(crate) use layer::WsLayer;
pub(crate) use stack::Stack;

use super::spec::HostPort;

/// A frame's opcode, as the log shows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Opcode {
    /// A further fragment of a text or binary message.
    Continuation,
    /// UTF-8 text.
    Text,
    /// Bytes.
    Binary,
    /// The closing handshake.
    Close,
    /// A keepalive asking for a pong.
    Ping,
    /// The answer to a ping (or unasked, as a heartbeat).
    Pong,
}

impl Opcode {
    /// The name the JSON Lines output and the log use.
    pub fn label(self) -> &'static str {
        match self {
            Opcode::Continuation => "continuation",
            Opcode::Text => "text",
            Opcode::Binary => "binary",
            Opcode::Close => "close",
            Opcode::Ping => "ping",
            Opcode::Pong => "pong",
        }
    }

    /// A control frame (close, ping, pong): never fragmented, at most 125
    /// bytes, never given to responders.
    pub fn is_control(self) -> bool {
        matches!(self, Opcode::Close | Opcode::Ping | Opcode::Pong)
    }
}

/// What a WebSocket message in the log was.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WsMeta {
    /// The message's opcode (a fragmented message: its first frame's).
    pub opcode: Opcode,
    /// The last frame had FIN set (false only for a frame logged on its
    /// own because the connection failed before its message was whole).
    pub fin: bool,
    /// The frames were masked (every client frame must be, no server
    /// frame may be).
    pub masked: bool,
    /// A close frame's status code, when it carried one.
    pub close_code: Option<u16>,
    /// The payload length of each frame that made the message, in order:
    /// more than one for a fragmented message.
    pub fragments: Vec<usize>,
    /// A text frame whose payload is not UTF-8 (the connection fails with
    /// 1007 right after it).
    pub invalid_utf8: bool,
}

/// What to send as, on a WebSocket session: the composer's choice, and
/// what a send on the stream's queue carries along.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Outgoing {
    /// A text message if the bytes are UTF-8, else a binary one (plain
    /// sends, scripts, and replies to a message whose kind is unknown).
    #[default]
    Auto,
    /// A text message.
    Text,
    /// A binary message.
    Binary,
    /// A ping with these bytes (at most 125).
    Ping,
    /// An unasked pong with these bytes (at most 125).
    Pong,
    /// A close frame with this code and the bytes as its reason (at most
    /// 123); the session ends when the peer's close comes back.
    Close(u16),
}

impl Outgoing {
    /// The name the CLI and the composer use.
    pub fn label(self) -> &'static str {
        match self {
            Outgoing::Auto => "auto",
            Outgoing::Text => "text",
            Outgoing::Binary => "binary",
            Outgoing::Ping => "ping",
            Outgoing::Pong => "pong",
            Outgoing::Close(_) => "close",
        }
    }
}

/// The opening handshake, as both sides wrote it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WsHandshake {
    /// "client" or "server": which side we were.
    pub role: &'static str,
    /// The request's head (request line and headers), as sent or received.
    pub request: String,
    /// The response's head (status line and headers).
    pub response: String,
    /// The response's status (101 when the upgrade was accepted).
    pub status: u16,
    /// The subprotocol both sides agreed on.
    pub subprotocol: Option<String>,
    /// The extensions the response named (none is negotiated: frames are
    /// shown as they are on the wire).
    pub extensions: Option<String>,
}

/// A `ws://` or `wss://` address, checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WsUrl {
    /// `wss`: TLS under the WebSocket.
    pub secure: bool,
    /// Where to connect (the default port: 80, or 443 for wss).
    pub host: HostPort,
    /// The path and query asked for (`/` when none is given).
    pub path: String,
}

impl WsUrl {
    /// Parses `ws://host[:port][/path]` or `wss://...`.
    pub fn parse(s: &str) -> Result<WsUrl, String> {
        let s = s.trim();
        let q = super::codec::excerpt(s, 80);
        let (secure, rest) = if let Some(r) = s.strip_prefix("ws://") {
            (false, r)
        } else if let Some(r) = s.strip_prefix("wss://") {
            (true, r)
        } else {
            return Err(format!(
                "'{q}' is not a WebSocket address; write ws://host:port/path or wss://host/path"
            ));
        };
        let (authority, path) = match rest.find(['/', '?']) {
            Some(i) if rest.as_bytes()[i] == b'/' => (&rest[..i], rest[i..].to_string()),
            Some(i) => (&rest[..i], format!("/{}", &rest[i..])),
            None => (rest, "/".to_string()),
        };
        if authority.contains('@') {
            return Err(format!(
                "'{q}': user names in the address are not sent; put credentials in a header (Authorization)"
            ));
        }
        let default_port = if secure { 443 } else { 80 };
        let with_port = if authority.ends_with(']') || !authority.contains(':') {
            format!("{authority}:{default_port}")
        } else if authority.matches(':').count() > 1 && !authority.starts_with('[') {
            return Err(format!(
                "'{q}': an IPv6 address needs brackets, e.g. ws://[::1]:8765/"
            ));
        } else {
            authority.to_string()
        };
        let host = HostPort::parse(&with_port)?;
        if path.bytes().any(|b| b <= b' ' || b == 0x7f) {
            return Err(format!(
                "'{q}': the path holds spaces or control characters; percent-encode them"
            ));
        }
        Ok(WsUrl { secure, host, path })
    }
}

impl std::fmt::Display for WsUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let scheme = if self.secure { "wss" } else { "ws" };
        write!(f, "{scheme}://{}{}", self.host, self.path)
    }
}

/// Checks a request header the user adds: a valid name, a value without
/// line breaks, and none of the headers the handshake writes itself.
pub fn check_header(name: &str, value: &str) -> Result<(), String> {
    use tungstenite::http::header::{HeaderName, HeaderValue};
    let n = HeaderName::from_bytes(name.as_bytes()).map_err(|_| {
        format!(
            "'{}' is not a valid header name",
            super::codec::excerpt(name, 40)
        )
    })?;
    if HeaderValue::from_str(value).is_err() {
        return Err(format!(
            "the value of header '{n}' holds a line break or control character"
        ));
    }
    const OWN: [&str; 6] = [
        "host",
        "connection",
        "upgrade",
        "sec-websocket-key",
        "sec-websocket-version",
        "sec-websocket-protocol",
    ];
    if OWN.contains(&n.as_str()) {
        return Err(format!(
            "'{n}' is written by the handshake itself; subprotocols go in subprotocols: [...]"
        ));
    }
    Ok(())
}

/// Checks a subprotocol name: an HTTP token (RFC 6455 section 4.1).
pub fn check_subprotocol(p: &str) -> Result<(), String> {
    let token = !p.is_empty()
        && p.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
    if token {
        Ok(())
    } else {
        Err(format!(
            "'{}' is not a valid subprotocol name (letters, digits and !#$%&'*+-.^_`|~)",
            super::codec::excerpt(p, 40)
        ))
    }
}

/// Checks a server's path: it starts with `/` and has no spaces.
pub fn check_path(p: &str) -> Result<(), String> {
    if !p.starts_with('/') || p.bytes().any(|b| b <= b' ' || b == 0x7f) {
        return Err(format!(
            "the path '{}' must start with / and hold no spaces or control characters",
            super::codec::excerpt(p, 40)
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_parse_with_default_ports_and_paths() {
        let u = WsUrl::parse("ws://127.0.0.1:8765/").unwrap();
        assert_eq!((u.secure, u.host.port, u.path.as_str()), (false, 8765, "/"));
        let u = WsUrl::parse("wss://example.test/chat?room=1").unwrap();
        assert_eq!((u.secure, u.host.port), (true, 443));
        assert_eq!(u.path, "/chat?room=1");
        assert_eq!(WsUrl::parse("ws://[::1]:9").unwrap().host.host, "::1");
        assert_eq!(WsUrl::parse("ws://h?x=1").unwrap().path, "/?x=1");
        assert_eq!(
            WsUrl::parse("ws://[::1]:9/a").unwrap().to_string(),
            "ws://[::1]:9/a"
        );
        for bad in [
            "http://x/",
            "ws://",
            "ws://a b/",
            "ws://u:p@h/",
            "ws://::1/",
            "ws://h/a b",
            "ws://h:99999/",
        ] {
            assert!(WsUrl::parse(bad).is_err(), "{bad} parsed");
        }
    }

    #[test]
    fn headers_and_subprotocols_are_checked() {
        assert!(check_header("Authorization", "Bearer x").is_ok());
        assert!(check_header("X-A", "a\r\nInjected: 1").is_err());
        assert!(check_header("Bad Name", "x").is_err());
        assert!(check_header("Sec-WebSocket-Key", "x").is_err());
        assert!(check_subprotocol("chat.v2").is_ok());
        assert!(check_subprotocol("a,b").is_err());
        assert!(check_subprotocol("").is_err());
        assert!(check_path("/").is_ok());
        assert!(check_path("x").is_err());
    }
}

#[cfg(test)]
mod layer_tests;
