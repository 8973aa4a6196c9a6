//! WebSocket kinds as files write them: `WsClient(url: ..., headers: [...],
//! subprotocols: [...])` and `WsServer(local: ..., path: "/")`, checked
//! here for files and the form alike.

use std::net::SocketAddr;

use super::{FieldError, TlsFile, field_err};
use crate::engine::spec::SessionKind;
use crate::engine::ws::{self, WsUrl};

/// Headers a client may add: more is a mistake, not a use.
const MAX_HEADERS: usize = 64;
/// Subprotocols offered or accepted.
const MAX_SUBPROTOCOLS: usize = 32;

pub(super) fn default_path() -> String {
    "/".into()
}

/// Whether `tls: Client(...)` fits the kind: a TCP client, or a client of
/// a `wss://` address (whose trust settings it then sets).
pub(super) fn takes_tls_client(kind: &SessionKind) -> bool {
    match kind {
        SessionKind::TcpClient { .. } => true,
        SessionKind::WsClient { url, .. } => url.secure,
        _ => false,
    }
}

fn common(auto_read: bool, subprotocols: &[String]) -> Result<(), FieldError> {
    if !auto_read {
        return Err(field_err(
            "auto_read",
            "a WebSocket reads automatically (frames are read for you); leave auto_read out",
        ));
    }
    if subprotocols.len() > MAX_SUBPROTOCOLS {
        return Err(field_err(
            "subprotocols",
            format!("at most {MAX_SUBPROTOCOLS} subprotocols"),
        ));
    }
    for p in subprotocols {
        ws::check_subprotocol(p).map_err(|m| field_err("subprotocols", m))?;
    }
    Ok(())
}

pub(super) fn client(
    url: &str,
    headers: Vec<(String, String)>,
    subprotocols: Vec<String>,
    auto_pong: bool,
    auto_read: bool,
    tls: Option<&TlsFile>,
) -> Result<SessionKind, FieldError> {
    let url = WsUrl::parse(url).map_err(|m| field_err("url", m))?;
    common(auto_read, &subprotocols)?;
    if headers.len() > MAX_HEADERS {
        return Err(field_err(
            "headers",
            format!("at most {MAX_HEADERS} headers"),
        ));
    }
    for (k, v) in &headers {
        ws::check_header(k, v).map_err(|m| field_err("headers", m))?;
    }
    if !url.secure && matches!(tls, Some(TlsFile::Client { .. })) {
        return Err(field_err(
            "tls",
            "tls: Client(...) is for wss:// addresses; this one is ws://",
        ));
    }
    Ok(SessionKind::WsClient {
        url,
        headers,
        subprotocols,
        auto_pong,
    })
}

pub(super) fn server(
    local: SocketAddr,
    path: String,
    subprotocols: Vec<String>,
    auto_pong: bool,
    auto_read: bool,
) -> Result<SessionKind, FieldError> {
    ws::check_path(&path).map_err(|m| field_err("path", m))?;
    common(auto_read, &subprotocols)?;
    Ok(SessionKind::WsServer {
        local,
        path,
        subprotocols,
        auto_pong,
    })
}

#[cfg(test)]
mod tests {
    use crate::preset::{SessionFile, from_spec, to_spec};

    fn parse(src: &str) -> Result<SessionFile, ron::error::SpannedError> {
        crate::preset::ron_options().from_str(src)
    }

    #[test]
    fn websocket_kinds_load_check_and_round_trip() {
        let src = r#"(name: "c", kind: WsClient(url: "ws://127.0.0.1:8765/chat",
            headers: [("Authorization", "Bearer x")], subprotocols: ["chat"]))"#;
        let spec = to_spec(parse(src).unwrap()).unwrap();
        assert_eq!(to_spec(from_spec(&spec)).unwrap(), spec);
        let spec = to_spec(parse(r#"(name: "s", kind: WsServer(local: "127.0.0.1:0"))"#).unwrap())
            .unwrap();
        assert_eq!(to_spec(from_spec(&spec)).unwrap(), spec);
        for (src, field) in [
            (r#"(name: "c", kind: WsClient(url: "http://x/"))"#, "url"),
            (
                r#"(name: "c", kind: WsClient(url: "ws://h/", headers: [("X", "a\r\nB: c")]))"#,
                "headers",
            ),
            (
                r#"(name: "c", kind: WsClient(url: "ws://h/", subprotocols: ["a b"]))"#,
                "subprotocols",
            ),
            (
                r#"(name: "c", kind: WsClient(url: "ws://h/"), tls: Client())"#,
                "tls",
            ),
            (
                r#"(name: "c", kind: WsClient(url: "wss://h/"), tls: Server())"#,
                "tls",
            ),
            (
                r#"(name: "c", kind: WsClient(url: "ws://h/"), auto_read: false)"#,
                "auto_read",
            ),
            (
                r#"(name: "s", kind: WsServer(local: "127.0.0.1:0", path: "x"))"#,
                "path",
            ),
        ] {
            let e = to_spec(parse(src).unwrap()).unwrap_err();
            assert_eq!(e.0, field, "{src}: {e:?}");
        }
        // A wss client may carry its trust settings.
        assert!(
            to_spec(
                parse(r#"(name: "c", kind: WsClient(url: "wss://h/"), tls: Client(accept_invalid_certs: true))"#)
                    .unwrap()
            )
            .is_ok()
        );
    }
}
