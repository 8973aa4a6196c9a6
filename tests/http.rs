//! HTTP over a session against real servers on loopback: python3's
//! http.server, and a Sockscope server answering with a chunked reply.

mod common;

use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use sockscope::engine::SessionSpec;
use sockscope::engine::protocol::{Direction, EventKind, SendMode};
use sockscope::engine::respond::{Reply, Responder};
use sockscope::engine::spec::{HostPort, SessionKind, Step};
use sockscope::http::{Request, ResponseParser};

/// Runs a client session that sends `request` and logs until the server
/// closes; returns the response as the session received it.
fn exchange(
    h: &mut Harness,
    addr: std::net::SocketAddr,
    request: Vec<u8>,
    head: bool,
) -> ResponseParser {
    let mut spec = SessionSpec::new(
        "http",
        SessionKind::TcpClient {
            remote: HostPort::parse(&addr.to_string()).unwrap(),
            local: None,
        },
    );
    spec.steps = vec![Step::Send {
        data: request.into(),
        to: None,
        mode: SendMode::All,
    }];
    let id = h.open(spec);
    h.closed(id);
    let mut p = ResponseParser::new(head);
    for e in h.seen.iter().filter(|e| e.session == id) {
        if let EventKind::Log(l) = &e.kind
            && l.dir == Direction::In
        {
            p.feed(&l.data);
        }
    }
    p.eof();
    p
}

#[test]
fn get_and_head_against_python_http_server() {
    let dir = tempfile::tempdir().unwrap();
    let content = "你好 from a file\n".repeat(500);
    std::fs::write(dir.path().join("hello.txt"), &content).unwrap();
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut server = common::KillOnDrop(
        Command::new("python3")
            .args([
                "-m",
                "http.server",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
            ])
            .current_dir(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("python3 is needed for this test"),
    );
    let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let deadline = Instant::now() + DEADLINE;
    while std::net::TcpStream::connect(addr).is_err() {
        assert!(Instant::now() < deadline, "http.server did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    let mut h = Harness::new();
    let get = Request::get("/hello.txt")
        .to_bytes(&addr.to_string())
        .unwrap();
    let p = exchange(&mut h, addr, get, false);
    let r = p.response();
    assert!(p.error().is_none(), "{:?}", p.error());
    assert_eq!(r.status, 200, "{r}");
    assert!(r.complete);
    assert_eq!(r.body, content.as_bytes());
    assert_eq!(
        r.header("content-length"),
        Some(content.len().to_string().as_str())
    );
    let mut head = Request::get("/hello.txt");
    head.method = "HEAD".into();
    let p = exchange(
        &mut h,
        addr,
        head.to_bytes(&addr.to_string()).unwrap(),
        true,
    );
    assert_eq!(p.response().status, 200);
    assert!(p.response().body.is_empty() && p.response().complete);
    let missing = Request::get("/nope").to_bytes(&addr.to_string()).unwrap();
    assert_eq!(
        exchange(&mut h, addr, missing, false).response().status,
        404
    );
    let _ = server.kill();
    let _ = server.wait();
}

#[test]
fn a_sockscope_server_with_a_canned_chunked_reply() {
    let mut h = Harness::new();
    let mut spec = server("127.0.0.1:0");
    spec.responder = Responder::Fixed(Reply {
        data: b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Type: text/plain\r\n\r\n7\r\nnihao, \r\n5\r\nworld\r\n0\r\n\r\n".to_vec().into(),
        close: true,
        template: false,
        checksum: Default::default(),
    });
    let srv = h.open(spec);
    let addr = h.listening(srv);
    let req = Request::get("/").to_bytes(&addr.to_string()).unwrap();
    let p = exchange(&mut h, addr, req, false);
    let r = p.response();
    assert_eq!(r.status, 200);
    assert!(r.chunked && r.complete);
    assert_eq!(r.body, b"nihao, world");
    assert_eq!(r.header("content-type"), Some("text/plain"));
}
