//! The WebSocket layer with no socket: two layers talk through byte
//! buffers, alone and stacked on TLS (`wss` as two layers), as the TLS
//! layer's own test does.

use super::*;
use crate::engine::protocol::EventKind;
use crate::engine::tls::{TlsClientSpec, TlsServerSpec, TlsSetup, TlsSpec};
use crate::engine::transport::{AtEof, Fed, Transport};

/// What one side writes, the other is fed.
fn pump(from: &mut dyn Transport, to: &mut dyn Transport) -> Fed {
    let mut wire = Vec::new();
    from.write_to(&mut wire).unwrap();
    to.feed(&wire).unwrap()
}

fn url() -> WsUrl {
    WsUrl::parse("ws://127.0.0.1:8765/chat").unwrap()
}

/// Shakes hands; returns the events each side reported.
fn connect(c: &mut dyn Transport, s: &mut dyn Transport) -> Vec<EventKind> {
    let mut events = Vec::new();
    for _ in 0..6 {
        events.extend(pump(c, s).events);
        events.extend(pump(s, c).events);
    }
    assert!(c.ready() && s.ready(), "both sides are open");
    events
}

fn opcodes(sent: &[(Vec<u8>, WsMeta)]) -> Vec<Opcode> {
    sent.iter().map(|(_, m)| m.opcode).collect()
}

#[test]
fn messages_and_control_frames_cross_with_what_they_were() {
    let mut c = WsLayer::client(
        &url(),
        &[("X-Test".into(), "1".into())],
        &["chat".into()],
        true,
    )
    .unwrap();
    let mut s = WsLayer::server("/chat", &["chat".into()], true);
    let events = connect(&mut c, &mut s);
    let hs: Vec<&WsHandshake> = events
        .iter()
        .filter_map(|e| match e {
            EventKind::WsHandshake(h) => Some(&**h),
            _ => None,
        })
        .collect();
    assert_eq!(hs.len(), 2, "each side reports the handshake once");
    for h in &hs {
        assert_eq!(h.status, 101);
        assert_eq!(h.subprotocol.as_deref(), Some("chat"));
        assert!(h.request.starts_with("GET /chat HTTP/1.1"), "{}", h.request);
        // Header names go as http writes them: lower case.
        assert!(h.request.contains("x-test: 1"), "{}", h.request);
        assert!(h.response.starts_with("HTTP/1.1 101"), "{}", h.response);
    }
    // Text (Auto: UTF-8), binary, a ping: each arrives as what it was.
    assert_eq!(c.take("你好".as_bytes(), Outgoing::Auto), Some(6));
    assert_eq!(c.take(b"\xff\x00", Outgoing::Auto), Some(2));
    assert_eq!(c.take(b"ab", Outgoing::Binary), Some(2));
    assert_eq!(c.take(b"p", Outgoing::Ping), Some(1));
    let sent = c.sent().unwrap();
    assert_eq!(
        opcodes(&sent),
        [Opcode::Text, Opcode::Binary, Opcode::Binary, Opcode::Ping]
    );
    assert!(
        sent.iter().all(|(_, m)| m.masked),
        "client frames are masked"
    );
    let fed = pump(&mut c, &mut s);
    let got: Vec<(Opcode, &[u8])> = fed
        .messages
        .iter()
        .map(|(d, m)| (m.opcode, &d[..]))
        .collect();
    assert_eq!(
        got,
        [
            (Opcode::Text, "你好".as_bytes()),
            (Opcode::Binary, &b"\xff\x00"[..]),
            (Opcode::Binary, b"ab"),
            (Opcode::Ping, b"p"),
        ]
    );
    // The server answered the ping by itself, unmasked.
    let own = s.sent().unwrap();
    assert_eq!(opcodes(&own), [Opcode::Pong]);
    assert!(!own[0].1.masked);
    let fed = pump(&mut s, &mut c);
    assert_eq!(fed.messages[0].1.opcode, Opcode::Pong);
    // A close with a code and reason ends both sides' data.
    assert_eq!(c.take(b"bye", Outgoing::Close(4000)), Some(3));
    let fed = pump(&mut c, &mut s);
    assert_eq!(fed.messages[0].1.close_code, Some(4000));
    assert_eq!(fed.messages[0].0, b"bye");
    assert!(fed.closed, "the server has seen the close and answered it");
    let fed = pump(&mut s, &mut c);
    assert_eq!(fed.messages[0].1.opcode, Opcode::Close);
    assert!(fed.closed, "the client's close was answered");
}

#[test]
fn with_automatic_pong_off_a_ping_goes_unanswered_and_says_so() {
    let mut c = WsLayer::client(&url(), &[], &[], true).unwrap();
    let mut s = WsLayer::server("/chat", &[], false);
    connect(&mut c, &mut s);
    c.take(b"are you there", Outgoing::Ping);
    let fed = pump(&mut c, &mut s);
    assert!(
        fed.events
            .iter()
            .any(|e| matches!(e, EventKind::Warning { code, .. } if *code == "pong_withheld"))
    );
    assert!(s.sent().unwrap().is_empty(), "no pong was sent");
    assert!(!s.wants_write());
    // A pong asked for by hand still goes.
    s.take(b"late", Outgoing::Pong);
    assert_eq!(opcodes(&s.sent().unwrap()), [Opcode::Pong]);
}

#[test]
fn a_wrong_path_is_refused_with_404_and_a_fin_mid_handshake_fails() {
    let mut c = WsLayer::client(&url(), &[], &[], true).unwrap();
    let mut s = WsLayer::server("/other", &[], true);
    let mut wire = Vec::new();
    c.write_to(&mut wire).unwrap();
    let e = s.feed(&wire).err().expect("refused");
    assert!(e.to_string().contains("404"), "{e}");
    let mut answer = Vec::new();
    s.write_to(&mut answer).unwrap();
    assert!(
        answer.starts_with(b"HTTP/1.1 404"),
        "the refusal still goes out"
    );
    let e = c.feed(&answer).err().expect("the client fails");
    assert!(e.to_string().contains("404"), "{e}");
    let fresh = WsLayer::server("/", &[], true);
    assert!(matches!(fresh.at_eof(), AtEof::Fails(_)));
}

#[test]
fn a_fragmented_message_keeps_its_fragments_and_bad_utf8_fails_with_1007() {
    let mut c = WsLayer::client(&url(), &[], &[], true).unwrap();
    let mut s = WsLayer::server("/chat", &[], true);
    connect(&mut c, &mut s);
    // Server frames (unmasked) written by hand: "hel" + "lo", then a
    // text frame that is not UTF-8.
    let mut wire = vec![0x01, 3];
    wire.extend_from_slice(b"hel");
    wire.extend_from_slice(&[0x80, 2]);
    wire.extend_from_slice(b"lo");
    let fed = c.feed(&wire).unwrap();
    let (data, meta) = &fed.messages[0];
    assert_eq!(data, b"hello");
    assert_eq!(meta.fragments, [3, 2]);
    assert!(meta.fin && !meta.masked);
    let fed = c.feed(&[0x81, 2, 0xff, 0xfe]).unwrap();
    let e = fed.failed.expect("the connection fails");
    assert!(e.to_string().contains("1007"), "{e}");
    assert!(
        fed.messages[0].1.invalid_utf8,
        "the frame is shown, flagged"
    );
    let close = c.sent().unwrap();
    assert_eq!(close.last().unwrap().1.close_code, Some(1007));
}

#[test]
fn wss_is_websocket_stacked_on_tls_through_buffers() {
    let (server, _) = TlsSetup::build(&TlsSpec::Server(TlsServerSpec::default()), None).unwrap();
    let client_spec = TlsClientSpec {
        insecure: true,
        ..Default::default()
    };
    let (client, _) = TlsSetup::build(&TlsSpec::Client(client_spec), Some("localhost")).unwrap();
    let wss = WsUrl::parse("wss://localhost:8765/chat").unwrap();
    let mut c = Stack::new(
        Box::new(client.start().unwrap()),
        Box::new(WsLayer::client(&wss, &[], &[], true).unwrap()),
    );
    let mut s = Stack::new(
        Box::new(server.start().unwrap()),
        Box::new(WsLayer::server("/chat", &[], true)),
    );
    let events = connect(&mut c, &mut s);
    let tls = events
        .iter()
        .filter(|e| matches!(e, EventKind::Tls(_)))
        .count();
    let ws = events
        .iter()
        .filter(|e| matches!(e, EventKind::WsHandshake(_)))
        .count();
    assert_eq!((tls, ws), (2, 2), "each layer on each side reports once");
    assert_eq!(c.take("over tls 你好".as_bytes(), Outgoing::Text), Some(15));
    assert_eq!(opcodes(&c.sent().unwrap()), [Opcode::Text]);
    let fed = pump(&mut c, &mut s);
    assert_eq!(fed.messages[0].0, "over tls 你好".as_bytes());
    assert_eq!(fed.messages[0].1.opcode, Opcode::Text);
    // A bare FIN now: the upper layer's word (no close frame) is given.
    match c.at_eof() {
        AtEof::Cut(e) => assert!(e.to_string().contains("close frame"), "{e}"),
        AtEof::Fails(e) => panic!("{e}"),
    }
}
