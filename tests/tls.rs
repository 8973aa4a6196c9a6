//! TLS sessions on loopback: Sockscope against itself and against
//! `openssl s_server` / `s_client`, with certificates made here by rcgen.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command as Proc, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::*;
use sockscope::engine::SessionId;
use sockscope::engine::protocol::{CloseReason, Direction, EventKind, SendMode};
use sockscope::engine::spec::{Responder, SessionSpec, Step};
use sockscope::engine::tls::{
    Identity, Roots, TlsClientSpec, TlsInfo, TlsServerSpec, TlsSpec, Verification,
};

/// A CA and a leaf it issued for localhost and 127.0.0.1, as PEM files.
struct Pki {
    _dir: tempfile::TempDir,
    ca: PathBuf,
    leaf: PathBuf,
    key: PathBuf,
    other_ca: PathBuf,
}

fn write_ca(
    dir: &Path,
    name: &str,
    cn: &str,
) -> (PathBuf, rcgen::CertifiedIssuer<'static, rcgen::KeyPair>) {
    let mut p = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    p.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    p.distinguished_name.push(rcgen::DnType::CommonName, cn);
    let ca = rcgen::CertifiedIssuer::self_signed(p, rcgen::KeyPair::generate().unwrap()).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, ca.pem()).unwrap();
    (path, ca)
}

fn pki() -> Pki {
    let dir = tempfile::tempdir().unwrap();
    let (ca, issuer) = write_ca(dir.path(), "ca.pem", "Sockscope Test CA");
    let (other_ca, _) = write_ca(dir.path(), "other-ca.pem", "Some Other CA");
    let mut p =
        rcgen::CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()])
            .unwrap();
    p.distinguished_name
        .push(rcgen::DnType::CommonName, "test leaf");
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = p.signed_by(&key, &*issuer).unwrap();
    let leaf = dir.path().join("leaf.pem");
    let key_path = dir.path().join("leaf.key");
    std::fs::write(&leaf, cert.pem()).unwrap();
    std::fs::write(&key_path, key.serialize_pem()).unwrap();
    Pki {
        _dir: dir,
        ca,
        leaf,
        key: key_path,
        other_ca,
    }
}

fn tls_server(pki: &Pki, alpn: &[&str]) -> SessionSpec {
    let mut spec = server("127.0.0.1:0");
    spec.responder = Responder::Echo;
    spec.tls = Some(TlsSpec::Server(TlsServerSpec {
        identity: Identity::Files {
            cert: pki.leaf.clone(),
            key: pki.key.clone(),
        },
        alpn: alpn.iter().map(|s| s.to_string()).collect(),
        handshake_timeout: None,
    }));
    spec
}

fn tls_client(to: SocketAddr, c: TlsClientSpec, payload: &[u8]) -> SessionSpec {
    let mut spec = client(to);
    spec.tls = Some(TlsSpec::Client(c));
    spec.steps = vec![
        Step::Send {
            data: payload.to_vec().into(),
            to: None,
            mode: SendMode::All,
        },
        Step::WaitRecv(Duration::from_secs(5)),
        Step::Close,
    ];
    spec
}

fn trusting(ca: &Path) -> TlsClientSpec {
    TlsClientSpec {
        server_name: Some("localhost".into()),
        roots: Roots::None,
        ca_file: Some(ca.to_path_buf()),
        ..Default::default()
    }
}

fn tls_info(h: &mut Harness, id: SessionId) -> TlsInfo {
    let ev = h.find_any("tls handshake", |e| {
        e.session == id && matches!(e.kind, EventKind::Tls(_))
    });
    match ev.kind {
        EventKind::Tls(i) => *i,
        _ => unreachable!(),
    }
}

fn error_of(reason: CloseReason) -> String {
    match reason {
        CloseReason::Error(e) => e.to_string(),
        other => panic!("expected an error, got {other:?}"),
    }
}

#[test]
fn a_sockscope_client_verifies_a_sockscope_server_and_both_report_the_handshake() {
    let pki = pki();
    let mut h = Harness::new();
    let srv = h.open(tls_server(&pki, &["h2", "http/1.1"]));
    let addr = h.listening(srv);
    let mut c = trusting(&pki.ca);
    c.alpn = vec!["http/1.1".into()];
    let cli = h.open(tls_client(addr, c, "你好 over TLS\n".as_bytes()));
    let (child, _) = h.accepted(srv);

    let info = tls_info(&mut h, cli);
    assert_eq!(info.version, "TLS 1.3");
    assert!(info.suite.starts_with("TLS13_"), "{}", info.suite);
    assert_eq!(info.alpn.as_deref(), Some("http/1.1"));
    assert_eq!(info.sni.as_deref(), Some("localhost"));
    assert_eq!(info.verification, Verification::Verified);
    assert!(info.trust.contains("ca.pem (1)"), "{}", info.trust);
    assert_eq!(info.certs.len(), 1);
    let leaf = &info.certs[0];
    assert_eq!(leaf.subject, "CN=test leaf");
    assert_eq!(leaf.issuer, "CN=Sockscope Test CA");
    assert_eq!(leaf.sans, vec!["localhost", "127.0.0.1"]);
    assert!(leaf.valid_now);

    // The log holds plaintext on both sides; the reply came back through TLS.
    assert_eq!(h.received(cli).0, "你好 over TLS\n".as_bytes());
    assert_eq!(h.closed(cli), CloseReason::ScriptDone);
    let sinfo = tls_info(&mut h, child);
    assert_eq!(
        sinfo.sni.as_deref(),
        Some("localhost"),
        "the server saw our SNI"
    );
    assert_eq!(sinfo.alpn.as_deref(), Some("http/1.1"));
    assert_eq!(sinfo.verification, Verification::NoClientAuth);
    assert!(
        h.seen.iter().any(|e| e.session == child
            && matches!(&e.kind, EventKind::Log(l) if l.dir == Direction::In && l.data == "你好 over TLS\n".as_bytes())),
        "the server child logs the plaintext it decrypted"
    );
    // Our close sends close_notify: the server reads it as the end of data.
    assert_eq!(h.closed_any(child), CloseReason::PeerClosed);
}

#[test]
fn a_generated_certificate_is_reported_with_its_pem_and_can_be_trusted() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = Harness::new();
    let mut spec = server("127.0.0.1:0");
    spec.responder = Responder::Echo;
    spec.tls = Some(TlsSpec::Server(TlsServerSpec::default()));
    let srv = h.open(spec);
    let addr = h.listening(srv);
    let ev = h.find_any("tls identity", |e| {
        e.session == srv && matches!(e.kind, EventKind::TlsIdentity(_))
    });
    let EventKind::TlsIdentity(id) = ev.kind else {
        unreachable!()
    };
    assert!(id.generated);
    assert_eq!(id.cert.subject, "CN=Sockscope self-signed");
    assert_eq!(id.cert.sans, vec!["localhost", "127.0.0.1", "::1"]);
    let pem = dir.path().join("server.pem");
    std::fs::write(&pem, &id.pem).unwrap();

    // Verified by name (localhost) and by IP address (127.0.0.1, no SNI).
    for name in ["localhost", "127.0.0.1"] {
        let mut c = trusting(&pem);
        c.server_name = Some(name.into());
        let cli = h.open(tls_client(addr, c, b"ping"));
        let info = tls_info(&mut h, cli);
        assert_eq!(info.verification, Verification::Verified, "{name}");
        assert_eq!(info.certs[0].sha256, id.cert.sha256);
        assert_eq!(info.sni.is_some(), name == "localhost");
        assert_eq!(h.received(cli).0, b"ping");
    }
}

#[test]
fn a_certificate_from_an_unknown_ca_fails_in_words_on_both_sides() {
    let pki = pki();
    let mut h = Harness::new();
    let srv = h.open(tls_server(&pki, &[]));
    let addr = h.listening(srv);
    let cli = h.open(tls_client(addr, trusting(&pki.other_ca), b"secret"));
    let (child, _) = h.accepted(srv);
    let msg = error_of(h.closed(cli));
    assert!(msg.contains("not issued by a CA we trust"), "{msg}");
    assert!(msg.contains("ca_file"), "the hint says what to do: {msg}");
    assert!(
        !h.seen
            .iter()
            .any(|e| e.session == cli && matches!(e.kind, EventKind::Tls(_))),
        "no handshake is reported"
    );
    assert!(
        !h.seen
            .iter()
            .any(|e| matches!(&e.kind, EventKind::Log(l) if l.data == b"secret")),
        "nothing was sent in the clear or otherwise"
    );
    let smsg = error_of(h.closed_any(child));
    assert!(smsg.contains("alert"), "{smsg}");
    assert!(smsg.contains("did not trust our certificate"), "{smsg}");
}

#[test]
fn a_name_the_certificate_does_not_list_fails_with_that_reason() {
    let pki = pki();
    let mut h = Harness::new();
    let srv = h.open(tls_server(&pki, &[]));
    let addr = h.listening(srv);
    let mut c = trusting(&pki.ca);
    c.server_name = Some("example.com".into());
    let cli = h.open(tls_client(addr, c, b"x"));
    let msg = error_of(h.closed(cli));
    assert!(msg.contains("not valid for the name"), "{msg}");
    assert!(msg.contains("server_name"), "{msg}");
}

#[test]
fn accepting_invalid_certificates_is_flagged_with_what_verification_would_say() {
    let pki = pki();
    let mut h = Harness::new();
    let srv = h.open(tls_server(&pki, &[]));
    let addr = h.listening(srv);
    let c = TlsClientSpec {
        server_name: Some("localhost".into()),
        roots: Roots::None,
        insecure: true,
        ..Default::default()
    };
    let cli = h.open(tls_client(addr, c, b"anyway"));
    let info = tls_info(&mut h, cli);
    match &info.verification {
        Verification::NotVerified { would_fail } => {
            let w = would_fail.as_deref().unwrap_or_default();
            assert!(w.contains("no trusted roots"), "{w}");
        }
        v => panic!("expected NotVerified, got {v:?}"),
    }
    assert!(info.trust.contains("NOT VERIFIED"), "{}", info.trust);
    assert_eq!(h.received(cli).0, b"anyway");

    // With the right CA in the store, the flag stays and the complaint goes.
    let mut c = trusting(&pki.ca);
    c.insecure = true;
    let cli = h.open(tls_client(addr, c, b"again"));
    let info = tls_info(&mut h, cli);
    assert_eq!(
        info.verification,
        Verification::NotVerified { would_fail: None }
    );
}

#[test]
fn plain_bytes_on_a_tls_port_and_tls_to_a_plain_port_say_the_peer_is_not_tls() {
    let pki = pki();
    let mut h = Harness::new();
    let srv = h.open(tls_server(&pki, &[]));
    let addr = h.listening(srv);
    let mut plain = TcpStream::connect(addr).unwrap();
    plain.set_read_timeout(Some(DEADLINE)).unwrap();
    plain.write_all(b"GET / HTTP/1.0\r\n\r\n").unwrap();
    let (child, _) = h.accepted(srv);
    let msg = error_of(h.closed(child));
    assert!(msg.contains("not TLS"), "{msg}");
    // rustls answered with an alert record and closed.
    let mut got = Vec::new();
    let _ = plain.read_to_end(&mut got);
    assert_eq!(
        got.first(),
        Some(&0x15),
        "an alert record (content type 21)"
    );

    let mut echo = server("127.0.0.1:0");
    echo.responder = Responder::Echo;
    let esrv = h.open(echo);
    let eaddr = h.listening(esrv);
    let cli = h.open(tls_client(eaddr, trusting(&pki.ca), b"x"));
    let msg = error_of(h.closed(cli));
    assert!(
        msg.contains("answered out of turn") && msg.contains("plain echo server"),
        "{msg}"
    );
}

#[test]
fn a_megabyte_each_way_survives_the_record_layer_in_order() {
    let pki = pki();
    let mut h = Harness::new();
    let srv = h.open(tls_server(&pki, &[]));
    let addr = h.listening(srv);
    let data: Vec<u8> = (0..1024 * 1024u32).map(|i| (i * 7 % 251) as u8).collect();
    let mut spec = tls_client(addr, trusting(&pki.ca), &data);
    spec.steps = vec![Step::Send {
        data: data.clone().into(),
        to: None,
        mode: SendMode::All,
    }];
    let cli = h.open(spec);
    let got = h.received_bytes(cli, data.len());
    assert_eq!(got.len(), data.len());
    assert!(got == data, "the echo came back byte for byte");
    h.send(sockscope::engine::protocol::Command::Close { target: cli });
    assert_eq!(h.closed(cli), CloseReason::Local);
}

// ---- openssl interop -------------------------------------------------

fn openssl() -> Proc {
    assert!(
        Proc::new("openssl")
            .arg("version")
            .output()
            .is_ok_and(|o| o.status.success()),
        "these tests need the openssl command (Debian package openssl; .ci/run installs it)"
    );
    Proc::new("openssl")
}

/// Lines a child prints, read on a thread so waits have deadlines.
fn lines_of(r: impl Read + Send + 'static) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::sync_channel(1024);
    std::thread::spawn(move || {
        for line in BufReader::new(r).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

fn wait_line(rx: &mpsc::Receiver<String>, what: &str, pred: impl Fn(&str) -> bool) -> String {
    let end = Instant::now() + DEADLINE;
    let mut seen = Vec::new();
    while Instant::now() < end {
        if let Ok(l) = rx.recv_timeout(Duration::from_millis(100)) {
            if pred(&l) {
                return l;
            }
            seen.push(l);
        }
    }
    panic!("no line with {what}; saw {seen:?}");
}

#[test]
fn a_sockscope_client_talks_to_openssl_s_server_over_tls_1_2_and_1_3() {
    let pki = pki();
    for (flag, version) in [("-tls1_2", "TLS 1.2"), ("-tls1_3", "TLS 1.3")] {
        let port = free_port();
        let mut s = KillOnDrop(
            openssl()
                .args(["s_server", "-accept"])
                .arg(format!("127.0.0.1:{port}"))
                .arg("-cert")
                .arg(&pki.leaf)
                .arg("-key")
                .arg(&pki.key)
                .args([flag, "-rev", "-alpn", "http/1.1"])
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .spawn()
                .unwrap(),
        );
        let out = lines_of(s.stdout.take().unwrap());
        wait_line(&out, "ACCEPT", |l| l.contains("ACCEPT"));
        let mut h = Harness::new();
        let mut c = trusting(&pki.ca);
        c.alpn = vec!["http/1.1".into()];
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let cli = h.open(tls_client(addr, c, b"sockscope\n"));
        let info = tls_info(&mut h, cli);
        assert_eq!(info.version, version);
        assert_eq!(info.verification, Verification::Verified);
        assert_eq!(info.alpn.as_deref(), Some("http/1.1"));
        assert_eq!(info.certs[0].issuer, "CN=Sockscope Test CA");
        // s_server -rev answers each line reversed.
        let (got, _) = h.received(cli);
        assert_eq!(String::from_utf8_lossy(&got).trim_end(), "epocskcos");
        assert_eq!(h.closed(cli), CloseReason::ScriptDone);
    }
}

#[test]
fn openssl_s_client_verifies_a_sockscope_server_and_gets_its_echo() {
    let pki = pki();
    let mut h = Harness::new();
    let srv = h.open(tls_server(&pki, &["http/1.1"]));
    let addr = h.listening(srv);
    let mut c = KillOnDrop(
        openssl()
            .args(["s_client", "-connect"])
            .arg(addr.to_string())
            .args([
                "-servername",
                "localhost",
                "-verify_return_error",
                "-alpn",
                "http/1.1",
            ])
            .arg("-CAfile")
            .arg(&pki.ca)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let out = lines_of(c.stdout.take().unwrap());
    wait_line(&out, "verification OK", |l| {
        l.contains("Verify return code: 0 (ok)")
    });
    let (child, _) = h.accepted(srv);
    let sinfo = tls_info(&mut h, child);
    assert_eq!(sinfo.sni.as_deref(), Some("localhost"));
    assert_eq!(sinfo.alpn.as_deref(), Some("http/1.1"));
    c.stdin
        .as_mut()
        .unwrap()
        .write_all(b"ping from openssl\n")
        .unwrap();
    c.stdin.as_mut().unwrap().flush().unwrap();
    wait_line(&out, "the echo", |l| l == "ping from openssl");
    assert_eq!(h.received(child).0, b"ping from openssl\n");
    drop(c);
    h.closed_any(child);
}

#[test]
fn https_over_a_tls_session_with_a_reply_that_closes_the_connection() {
    let pki = pki();
    let mut h = Harness::new();
    let mut spec = tls_server(&pki, &["http/1.1"]);
    let body = "nihao over https";
    spec.responder = Responder::Fixed(sockscope::engine::respond::Reply {
        data: format!(
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .into_bytes()
        .into(),
        close: true,
        template: false,
        checksum: Default::default(),
    });
    let srv = h.open(spec);
    let addr = h.listening(srv);
    let req = sockscope::http::Request::get("/")
        .to_bytes("localhost")
        .unwrap();
    let mut c = tls_client(addr, trusting(&pki.ca), &req);
    c.steps.pop(); // no Close of our own: the server ends it
    let cli = h.open(c);
    let mut got = Vec::new();
    let mut parser = sockscope::http::ResponseParser::new(false);
    while !parser.response().complete {
        let (chunk, _) = h.received(cli);
        parser.feed(&chunk);
        got.extend(chunk);
    }
    assert_eq!(parser.response().status, 200);
    assert_eq!(parser.response().body, body.as_bytes());
    // The server closes after its reply (close_notify, then FIN).
    assert_eq!(h.closed(cli), CloseReason::PeerClosed);
    let child = srv.child(1);
    assert_eq!(h.closed_any(child), CloseReason::Local);
    assert!(String::from_utf8_lossy(&got).starts_with("HTTP/1.1 200 OK"));
}

#[test]
fn a_tls_spec_with_manual_reads_is_refused_rather_than_sent_in_the_clear() {
    let pki = pki();
    let mut h = Harness::new();
    let srv = h.open(tls_server(&pki, &[]));
    let addr = h.listening(srv);
    let mut spec = tls_client(addr, trusting(&pki.ca), b"secret");
    spec.auto_read = false;
    let cli = h.open(spec);
    let msg = error_of(h.closed(cli));
    assert!(msg.contains("automatic reads"), "{msg}");
    assert!(
        !h.seen
            .iter()
            .any(|e| matches!(&e.kind, EventKind::Log(l) if l.data == b"secret")),
        "nothing was sent"
    );
}

#[test]
fn a_peer_that_ends_with_a_bare_fin_is_flagged_and_close_notify_is_not() {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let pki = pki();
    let certs: Vec<CertificateDer> = CertificateDer::pem_file_iter(&pki.leaf)
        .unwrap()
        .map(|c| c.unwrap())
        .collect();
    let key = PrivateKeyDer::from_pem_file(&pki.key).unwrap();
    let config = std::sync::Arc::new(
        rustls::ServerConfig::builder_with_provider(std::sync::Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .unwrap(),
    );
    // A server that answers, then closes TCP without close_notify.
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    let server = std::thread::spawn(move || {
        let (mut sock, _) = l.accept().unwrap();
        sock.set_read_timeout(Some(DEADLINE)).unwrap();
        let mut conn = rustls::ServerConnection::new(config).unwrap();
        let mut tls = rustls::Stream::new(&mut conn, &mut sock);
        let mut ping = [0u8; 4];
        tls.read_exact(&mut ping).unwrap();
        tls.write_all(b"cut here").unwrap();
        tls.flush().unwrap();
        sock.shutdown(std::net::Shutdown::Both).unwrap();
        ping
    });
    let mut h = Harness::new();
    let mut c = tls_client(addr, trusting(&pki.ca), b"ping");
    c.steps.pop(); // wait for the server to end it
    let cli = h.open(c);
    assert_eq!(h.received(cli).0, b"cut here");
    assert_eq!(h.closed(cli), CloseReason::PeerClosed);
    assert_eq!(&server.join().unwrap(), b"ping");
    let flagged = |h: &Harness, id: SessionId| {
        h.seen.iter().any(|e| {
            e.session == id
                && matches!(&e.kind, EventKind::Error(err) if err.to_string().contains("without TLS close_notify"))
        })
    };
    assert!(flagged(&h, cli), "a bare FIN on a TLS stream is flagged");

    // Sockscope's own close sends close_notify: its peer sees no flag.
    let srv = h.open(tls_server(&pki, &[]));
    let saddr = h.listening(srv);
    let cli2 = h.open(tls_client(saddr, trusting(&pki.ca), b"x"));
    assert_eq!(h.closed(cli2), CloseReason::ScriptDone);
    let child = srv.child(1);
    assert_eq!(h.closed_any(child), CloseReason::PeerClosed);
    assert!(!flagged(&h, child));
}

/// Regression (hostile input, item 4): TLS handshakes never timed out, so
/// 50 half-finished handshakes stayed open until shutdown. Each now ends
/// after handshake_timeout with a `timeout` event (op "tls handshake").
#[test]
fn half_finished_handshakes_time_out() {
    let pki = pki();
    let mut h = Harness::new();
    let mut spec = tls_server(&pki, &[]);
    if let Some(TlsSpec::Server(s)) = &mut spec.tls {
        s.handshake_timeout = Some(Duration::from_millis(300));
    }
    let srv = h.open(spec);
    let addr = h.listening(srv);
    // 50 peers connect; half send the start of a ClientHello, none finish.
    let peers: Vec<TcpStream> = (0..50)
        .map(|i| {
            let mut c = TcpStream::connect(addr).unwrap();
            if i % 2 == 0 {
                c.write_all(&[0x16, 0x03, 0x01, 0x02, 0x00, 0x01]).unwrap();
            }
            c
        })
        .collect();
    let started = Instant::now();
    let mut timed_out = std::collections::HashSet::new();
    let mut closed = std::collections::HashSet::new();
    while closed.len() < 50 {
        let ev = h.wait("handshake timeouts", |e| {
            e.session.is_child()
                && matches!(
                    e.kind,
                    EventKind::Timeout {
                        op: "tls handshake",
                        ..
                    } | EventKind::Closed { .. }
                )
        });
        match ev.kind {
            EventKind::Timeout { after, .. } => {
                assert_eq!(after, Duration::from_millis(300));
                timed_out.insert(ev.session);
            }
            EventKind::Closed {
                reason: CloseReason::Error(e),
                ..
            } => {
                assert!(e.message.contains("did not finish"), "{e}");
                assert!(
                    timed_out.contains(&ev.session),
                    "closed before its timeout event"
                );
                closed.insert(ev.session);
            }
            other => panic!("{other:?}"),
        }
    }
    assert!(started.elapsed() >= Duration::from_millis(250));
    // The peers see the connections end.
    for mut p in peers {
        p.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut buf = [0u8; 64];
        loop {
            match p.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
        }
    }
    // A client whose server never answers the ClientHello times out too.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let mut c = TlsClientSpec {
        handshake_timeout: Some(Duration::from_millis(200)),
        ..trusting(&pki.ca)
    };
    c.server_name = Some("localhost".into());
    let cli = h.open(tls_client(silent.local_addr().unwrap(), c, b"x"));
    let (_held, _) = silent.accept().unwrap();
    h.find_any("client handshake timeout", |e| {
        e.session == cli
            && matches!(
                e.kind,
                EventKind::Timeout {
                    op: "tls handshake",
                    ..
                }
            )
    });
    assert!(matches!(h.closed(cli), CloseReason::Error(_)));
}
