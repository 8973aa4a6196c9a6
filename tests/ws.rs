//! WebSocket sessions on loopback against a real peer, python3's
//! `websockets` library (as client and as server), against a raw socket
//! that breaks the protocol on purpose, and against themselves over wss.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Command as Proc, Stdio};
use std::time::Duration;

use common::*;
use sockscope::engine::SessionId;
use sockscope::engine::protocol::{CloseReason, Command, Direction, Event, EventKind, LogEntry};
use sockscope::engine::spec::{Responder, SessionKind, SessionSpec};
use sockscope::engine::tls::{TlsClientSpec, TlsServerSpec, TlsSpec};
use sockscope::engine::ws::{Opcode, Outgoing, WsUrl};

fn ws_server(path: &str, auto_pong: bool) -> SessionSpec {
    let mut spec = SessionSpec::new(
        "ws server",
        SessionKind::WsServer {
            local: "127.0.0.1:0".parse().unwrap(),
            path: path.into(),
            subprotocols: vec!["chat".into()],
            auto_pong,
        },
    );
    spec.responder = Responder::Echo;
    spec
}

fn ws_client(url: &str, subprotocols: &[&str], headers: &[(&str, &str)]) -> SessionSpec {
    SessionSpec::new(
        "ws client",
        SessionKind::WsClient {
            url: WsUrl::parse(url).unwrap(),
            headers: headers
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            subprotocols: subprotocols.iter().map(|s| s.to_string()).collect(),
            auto_pong: true,
        },
    )
}

/// Runs a python3 program that uses `websockets`; its stdout, or a panic
/// with its stderr. The library is a requirement of the suite (.ci/run
/// installs it), so its absence fails loudly rather than skipping.
fn python(src: &str, args: &[&str]) -> KillOnDrop {
    let child = Proc::new("python3")
        .arg("-c")
        .arg(src)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 runs");
    KillOnDrop(child)
}

fn output(mut child: KillOnDrop) -> String {
    let mut out = String::new();
    let mut err = String::new();
    child
        .0
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    child
        .0
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    let status = child.0.wait().unwrap();
    assert!(
        status.success(),
        "python failed: {status}\nstdout:\n{out}\nstderr:\n{err}"
    );
    out
}

fn logs(h: &Harness, id: SessionId, dir: Direction) -> Vec<LogEntry> {
    h.seen
        .iter()
        .filter(|e| e.session == id)
        .filter_map(|e| match &e.kind {
            EventKind::Log(l) if l.dir == dir => Some(l.clone()),
            _ => None,
        })
        .collect()
}

fn is_log(e: &Event, id: SessionId, dir: Direction, op: Opcode) -> bool {
    e.session == id
        && matches!(&e.kind, EventKind::Log(l) if l.dir == dir && l.ws.as_ref().is_some_and(|w| w.opcode == op))
}

const PY_CLIENT: &str = r#"
import sys, json
from websockets.sync.client import connect
out = {}
with connect(sys.argv[1], subprotocols=["chat"]) as ws:
    out["subprotocol"] = ws.subprotocol
    ws.send("hi 你好"); out["text"] = ws.recv(timeout=5)
    ws.send(b"\x00\x01\xff"); out["binary"] = list(ws.recv(timeout=5))
    ws.send(["frag1 ", "frag2"]); out["fragmented"] = ws.recv(timeout=5)
    out["pong"] = ws.ping(b"pp").wait(5)
    ws.close(code=4000, reason="bye")
    out["close"] = [ws.close_code, ws.close_reason]
print(json.dumps(out))
"#;

#[test]
fn python_websockets_client_against_our_echo_server() {
    let mut h = Harness::new();
    let srv = h.open(ws_server("/", true));
    let addr = h.listening(srv);
    let out = output(python(PY_CLIENT, &[&format!("ws://{addr}/")]));
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(v["subprotocol"], "chat", "{v}");
    assert_eq!(v["text"], "hi 你好");
    assert_eq!(v["binary"], serde_json::json!([0, 1, 255]));
    assert_eq!(v["fragmented"], "frag1 frag2");
    assert_eq!(v["pong"], true, "our automatic pong answered");
    assert_eq!(v["close"], serde_json::json!([4000, "bye"]));
    let (child, _) = h.accepted(srv);
    assert_eq!(h.closed(child), CloseReason::PeerClosed);
    let hs = h.find_any("handshake", |e| {
        e.session == child && matches!(e.kind, EventKind::WsHandshake(_))
    });
    let EventKind::WsHandshake(hs) = hs.kind else {
        unreachable!()
    };
    assert_eq!((hs.status, hs.subprotocol.as_deref()), (101, Some("chat")));
    assert!(hs.request.starts_with("GET / HTTP/1.1"), "{}", hs.request);
    let rx = logs(&h, child, Direction::In);
    let kinds: Vec<(Opcode, bool)> = rx
        .iter()
        .map(|l| {
            let w = l.ws.as_ref().unwrap();
            (w.opcode, w.masked)
        })
        .collect();
    assert_eq!(
        kinds,
        [
            (Opcode::Text, true),
            (Opcode::Binary, true),
            (Opcode::Text, true),
            (Opcode::Ping, true),
            (Opcode::Close, true)
        ],
        "every client frame was masked, each message logged as what it was"
    );
    let frag = rx[2].ws.as_ref().unwrap();
    assert!(frag.fragments.len() >= 2, "{:?}", frag.fragments);
    assert_eq!(frag.fragments[..2], [6, 5]);
    assert_eq!(rx[2].data, b"frag1 frag2", "shown assembled");
    assert_eq!(rx[4].ws.as_ref().unwrap().close_code, Some(4000));
    let tx = logs(&h, child, Direction::Out);
    let sent: Vec<Opcode> = tx.iter().map(|l| l.ws.as_ref().unwrap().opcode).collect();
    assert_eq!(
        sent,
        [
            Opcode::Text,
            Opcode::Binary,
            Opcode::Text,
            Opcode::Pong,
            Opcode::Close
        ],
        "echoes in the kind they came in, our pong and our close answer"
    );
    assert!(tx.iter().all(|l| !l.ws.as_ref().unwrap().masked));
}

const PY_SERVER: &str = r#"
import sys, json, threading
from websockets.sync.server import serve
seen = {}
def handler(ws):
    seen["header"] = ws.request.headers.get("X-Test")
    seen["subprotocol"] = ws.subprotocol
    try:
        for msg in ws:
            if msg == "fragments please":
                ws.send(["x", "y", "z"])
            elif msg == "ping me":
                seen["pong"] = ws.ping(b"k").wait(5)
                ws.send("pinged")
            else:
                ws.send(msg)
    except Exception as e:
        seen["error"] = repr(e)
    seen["close"] = [ws.close_code, ws.close_reason]
with serve(handler, "127.0.0.1", 0, subprotocols=["chat"]) as server:
    print(server.socket.getsockname()[1], flush=True)
    t = threading.Thread(target=server.serve_forever, daemon=True)
    t.start()
    import time
    deadline = time.time() + 20
    while "close" not in seen and time.time() < deadline:
        time.sleep(0.02)
print(json.dumps(seen), flush=True)
"#;

/// Reads the port a python server prints on its first line.
fn first_line(child: &mut KillOnDrop) -> String {
    let out = child.0.stdout.as_mut().unwrap();
    let mut line = Vec::new();
    let mut b = [0u8; 1];
    while out.read(&mut b).unwrap() == 1 && b[0] != b'\n' {
        line.push(b[0]);
    }
    String::from_utf8(line).unwrap()
}

#[test]
fn our_client_against_a_python_websockets_server() {
    let mut py = python(PY_SERVER, &[]);
    let port = first_line(&mut py);
    let mut h = Harness::new();
    let url = format!("ws://127.0.0.1:{port}/");
    let c = h.open(ws_client(&url, &["chat"], &[("X-Test", "yes")]));
    let hs = h.wait("handshake", |e| {
        e.session == c && matches!(e.kind, EventKind::WsHandshake(_))
    });
    let EventKind::WsHandshake(hs) = hs.kind else {
        unreachable!()
    };
    assert_eq!((hs.status, hs.subprotocol.as_deref()), (101, Some("chat")));
    let msg = |kind, data: &[u8]| Command::Message {
        target: c,
        kind,
        data: data.to_vec(),
    };
    h.send(msg(Outgoing::Text, "hello 你好".as_bytes()));
    h.wait("text echo", |e| is_log(e, c, Direction::In, Opcode::Text));
    h.send(msg(Outgoing::Binary, b"\x01\x02"));
    h.wait("binary echo", |e| {
        is_log(e, c, Direction::In, Opcode::Binary)
    });
    h.send(msg(Outgoing::Text, b"fragments please"));
    let frag = h.wait("fragmented", |e| is_log(e, c, Direction::In, Opcode::Text));
    let EventKind::Log(frag) = frag.kind else {
        unreachable!()
    };
    assert_eq!(frag.data, b"xyz", "assembled");
    // websockets ends a fragmented message with an empty final frame.
    assert_eq!(frag.ws.unwrap().fragments[..3], [1, 1, 1]);
    h.send(msg(Outgoing::Text, b"ping me"));
    h.wait("their ping", |e| is_log(e, c, Direction::In, Opcode::Ping));
    h.wait("our pong", |e| is_log(e, c, Direction::Out, Opcode::Pong));
    h.wait("pinged", |e| is_log(e, c, Direction::In, Opcode::Text));
    h.send(msg(Outgoing::Close(4001), b"done"));
    h.wait("their close", |e| {
        is_log(e, c, Direction::In, Opcode::Close)
    });
    assert_eq!(
        h.closed(c),
        CloseReason::Local,
        "we began the closing handshake"
    );
    let v: serde_json::Value = serde_json::from_str(output(py).trim()).unwrap();
    assert_eq!(v["header"], "yes", "{v}");
    assert_eq!(v["subprotocol"], "chat");
    assert_eq!(v["pong"], true, "python got our pong");
    assert_eq!(v["close"], serde_json::json!([4001, "done"]), "{v}");
    let sent = logs(&h, c, Direction::Out);
    assert!(
        sent.iter().all(|l| l.ws.as_ref().unwrap().masked),
        "client frames are masked"
    );
}

/// Opens a WebSocket to our server by hand, for frames no library sends.
fn raw_handshake(addr: SocketAddr) -> TcpStream {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(DEADLINE)).unwrap();
    write!(
        s,
        "GET / HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    .unwrap();
    let mut head = Vec::new();
    let mut b = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        assert_eq!(s.read(&mut b).unwrap(), 1, "the server answers");
        head.push(b[0]);
    }
    let head = String::from_utf8(head).unwrap();
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    assert!(
        head.contains("s3pPLMBiTxaQ9kYGzzhZRbK+xOo="),
        "RFC 6455's own example key"
    );
    s
}

/// A masked client frame (the mask is zero, so the payload is as given).
fn masked(first: u8, payload: &[u8]) -> Vec<u8> {
    let mut f = vec![first];
    if payload.len() < 126 {
        f.push(0x80 | payload.len() as u8);
    } else {
        f.push(0x80 | 126);
        f.extend_from_slice(&(payload.len() as u16).to_be_bytes());
    }
    f.extend_from_slice(&[0, 0, 0, 0]);
    f.extend_from_slice(payload);
    f
}

/// Reads the close frame the server sends: its code.
fn close_code(s: &mut TcpStream) -> u16 {
    let mut all = Vec::new();
    let _ = s.read_to_end(&mut all);
    assert!(
        all.len() >= 4 && all[0] == 0x88,
        "a close frame: {all:02x?}"
    );
    u16::from_be_bytes([all[2], all[3]])
}

#[test]
fn a_peer_that_breaks_the_protocol_gets_the_right_close_code() {
    let mut h = Harness::new();
    let srv = h.open(ws_server("/", true));
    let addr = h.listening(srv);
    let cases: [(&str, Vec<u8>, u16, &str); 4] = [
        (
            "unmasked client frame",
            vec![0x81, 2, b'h', b'i'],
            1002,
            "protocol",
        ),
        (
            "bad UTF-8",
            masked(0x81, &[0xff, 0xfe, b'a']),
            1007,
            "UTF-8",
        ),
        (
            "oversized control frame",
            masked(0x89, &[b'p'; 126]),
            1002,
            "protocol",
        ),
        (
            "fragmented control frame",
            masked(0x09, b"p"),
            1002,
            "protocol",
        ),
    ];
    for (what, frame, code, says) in cases {
        let mut s = raw_handshake(addr);
        s.write_all(&frame).unwrap();
        assert_eq!(close_code(&mut s), code, "{what}");
        let (child, _) = h.accepted(srv);
        match h.closed(child) {
            CloseReason::Error(e) => {
                let text = e.to_string();
                assert!(
                    text.contains(says) && text.contains(&code.to_string()),
                    "{what}: {text}"
                );
            }
            other => panic!("{what}: closed as {other:?}"),
        }
        if code == 1007 {
            let rx = logs(&h, child, Direction::In);
            let w = rx
                .last()
                .and_then(|l| l.ws.clone())
                .expect("the bad frame is logged");
            assert!(w.invalid_utf8 && w.opcode == Opcode::Text, "{w:?}");
        }
        let tx = logs(&h, child, Direction::Out);
        assert_eq!(
            tx.last().and_then(|l| l.ws.as_ref()?.close_code),
            Some(code),
            "{what}"
        );
    }
}

const PY_PING: &str = r#"
import sys
from websockets.sync.client import connect
with connect(sys.argv[1]) as ws:
    # ping() gives an Event, set when the pong comes.
    print("pong" if ws.ping(b"hb").wait(1.0) else "no pong")
    ws.close()
"#;

#[test]
fn with_automatic_pong_off_a_python_keepalive_gets_no_answer() {
    let mut h = Harness::new();
    let srv = h.open(ws_server("/", false));
    let addr = h.listening(srv);
    let out = output(python(PY_PING, &[&format!("ws://{addr}/")]));
    assert_eq!(out.trim(), "no pong");
    let (child, _) = h.accepted(srv);
    h.wait("withheld", |e| {
        e.session == child
            && matches!(&e.kind, EventKind::Warning { code, .. } if *code == "pong_withheld")
    });
    h.closed(child);
    assert!(
        !logs(&h, child, Direction::Out)
            .iter()
            .any(|l| l.ws.as_ref().is_some_and(|w| w.opcode == Opcode::Pong)),
        "no pong was sent"
    );
}

const PY_404: &str = r#"
import sys
from websockets.sync.client import connect
from websockets.exceptions import InvalidStatus
try:
    connect(sys.argv[1])
    print("connected")
except InvalidStatus as e:
    print(e.response.status_code)
"#;

#[test]
fn a_wrong_path_is_answered_with_404_and_said_in_words() {
    let mut h = Harness::new();
    let srv = h.open(ws_server("/chat", true));
    let addr = h.listening(srv);
    let out = output(python(PY_404, &[&format!("ws://{addr}/nope")]));
    assert_eq!(out.trim(), "404");
    let (child, _) = h.accepted(srv);
    match h.closed(child) {
        CloseReason::Error(e) => {
            let t = e.to_string();
            assert!(
                t.contains("404") && t.contains("/nope") && t.contains("/chat"),
                "{t}"
            );
        }
        other => panic!("closed as {other:?}"),
    }
}

const PY_WSS: &str = r#"
import sys, ssl
from websockets.sync.client import connect
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
with connect(sys.argv[1], ssl=ctx) as ws:
    ws.send("secure 你好")
    print(ws.recv(timeout=5))
"#;

#[test]
fn wss_against_itself_and_against_python() {
    let mut h = Harness::new();
    let mut spec = ws_server("/", true);
    spec.tls = Some(TlsSpec::Server(TlsServerSpec::default()));
    let srv = h.open(spec);
    let addr = h.listening(srv);
    // Sockscope's client: TLS first, then the WebSocket on it.
    let mut spec = ws_client(&format!("wss://127.0.0.1:{}/", addr.port()), &[], &[]);
    spec.tls = Some(TlsSpec::Client(TlsClientSpec {
        insecure: true,
        ..Default::default()
    }));
    let c = h.open(spec);
    h.wait("tls", |e| {
        e.session == c && matches!(e.kind, EventKind::Tls(_))
    });
    h.wait("ws", |e| {
        e.session == c && matches!(e.kind, EventKind::WsHandshake(_))
    });
    h.send(Command::Message {
        target: c,
        kind: Outgoing::Text,
        data: "over wss 你好".as_bytes().to_vec(),
    });
    let echo = h.wait("echo", |e| is_log(e, c, Direction::In, Opcode::Text));
    let EventKind::Log(echo) = echo.kind else {
        unreachable!()
    };
    assert_eq!(echo.data, "over wss 你好".as_bytes());
    h.send(Command::Close { target: c });
    assert_eq!(h.closed(c), CloseReason::Local);
    // And python's client, with its own TLS.
    let out = output(python(
        PY_WSS,
        &[&format!("wss://127.0.0.1:{}/", addr.port())],
    ));
    assert_eq!(out.trim(), "secure 你好");
}

#[test]
fn a_plain_send_is_text_when_it_is_utf8_and_messages_need_a_websocket() {
    let mut h = Harness::new();
    let srv = h.open(ws_server("/", true));
    let addr = h.listening(srv);
    let c = h.open(ws_client(&format!("ws://{addr}/"), &[], &[]));
    h.wait("ws", |e| {
        e.session == c && matches!(e.kind, EventKind::WsHandshake(_))
    });
    h.send(send(c, "plain 你好".as_bytes()));
    h.wait("text", |e| is_log(e, c, Direction::In, Opcode::Text));
    h.send(send(c, b"\xff\xfe"));
    h.wait("binary", |e| is_log(e, c, Direction::In, Opcode::Binary));
    // An empty text message and an empty ping still go.
    h.send(Command::Message {
        target: c,
        kind: Outgoing::Ping,
        data: Vec::new(),
    });
    h.wait("pong", |e| is_log(e, c, Direction::In, Opcode::Pong));
    // A message on a plain TCP session is refused in words.
    let tcp = h.open(client(addr));
    h.connected(tcp);
    h.send(Command::Message {
        target: tcp,
        kind: Outgoing::Text,
        data: b"x".to_vec(),
    });
    h.wait("refused", |e| {
        e.session == tcp
            && matches!(&e.kind, EventKind::Error(err) if err.to_string().contains("WebSocket sessions only"))
    });
    // Close: our close frame, the server's answer, then the end.
    h.send(Command::Close { target: c });
    h.wait("their close", |e| {
        is_log(e, c, Direction::In, Opcode::Close)
    });
    assert_eq!(h.closed(c), CloseReason::Local);
    h.settle(Duration::from_millis(50));
}
