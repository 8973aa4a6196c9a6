//! pcapng captures read by the real reader: `sockscope run --pcapng`
//! while real peers talk to it, then tshark (`.ci/run` installs it) says
//! what Wireshark would: the streams hold exactly the bytes each side
//! sent, in order, and TCP analysis flags nothing.

mod common;

use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream, UdpSocket};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_sockscope");
const DEADLINE: Duration = Duration::from_secs(10);

/// Runs `sockscope run FILE --pcapng OUT` until it prints `listening` or
/// `bound`; the rest of its output is read on a thread, so a full pipe
/// never holds it up.
fn run_with_capture(file: &Path, out: &Path) -> common::KillOnDrop {
    use std::io::BufRead;
    let mut child = common::KillOnDrop(
        Command::new(BIN)
            .arg("run")
            .arg(file)
            .arg("--pcapng")
            .arg(out)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let mut lines = std::io::BufReader::new(child.0.stdout.take().unwrap()).lines();
    for line in lines.by_ref() {
        let line = line.unwrap();
        if line.contains("\"listening\"") || line.contains("\"bound\"") {
            break;
        }
    }
    std::thread::spawn(move || lines.for_each(drop));
    child
}

/// SIGTERM, then waits: the runner closes its sessions and the file.
fn stop(child: &mut Child) {
    // SAFETY: plain kill(2) on our own child's pid.
    unsafe {
        libc::kill(child.id() as i32, libc::SIGTERM);
    }
    let start = Instant::now();
    while child.try_wait().unwrap().is_none() {
        assert!(start.elapsed() < DEADLINE, "sockscope did not exit");
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn tshark(args: &[&str]) -> String {
    let out = Command::new("tshark")
        .args(args)
        .output()
        .expect("tshark runs (.ci/run installs it: apt-get install tshark)");
    assert!(
        out.status.success(),
        "tshark {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// What `follow,tcp,raw` (or udp) says each side sent: node 0's bytes,
/// node 1's bytes.
fn follow(file: &Path, proto: &str, stream: usize) -> (Vec<u8>, Vec<u8>) {
    let text = tshark(&[
        "-r",
        file.to_str().unwrap(),
        "-q",
        "-z",
        &format!("follow,{proto},raw,{stream}"),
    ]);
    let (mut a, mut b) = (Vec::new(), Vec::new());
    let mut body = false;
    for line in text.lines() {
        if line.starts_with("Node 1:") {
            body = true;
            continue;
        }
        if !body || line.starts_with("====") || line.trim().is_empty() {
            continue;
        }
        let (to, hex) = match line.strip_prefix('\t') {
            Some(h) => (&mut b, h),
            None => (&mut a, line),
        };
        for i in (0..hex.len()).step_by(2) {
            to.push(u8::from_str_radix(&hex[i..i + 2], 16).unwrap());
        }
    }
    (a, b)
}

fn no_analysis_flags(file: &Path) {
    let flagged = tshark(&[
        "-r",
        file.to_str().unwrap(),
        "-Y",
        "tcp.analysis.flags && !tcp.analysis.window_update",
    ]);
    assert_eq!(flagged.trim(), "", "TCP analysis flagged:\n{flagged}");
}

#[test]
fn a_tcp_echo_capture_follows_byte_for_byte_with_nothing_flagged() {
    let dir = tempfile::tempdir().unwrap();
    let port = common::free_port();
    let file = dir.path().join("echo.ron");
    std::fs::write(
        &file,
        format!(r#"(name: "echo", kind: TcpServer(local: "127.0.0.1:{port}"), responder: Echo)"#),
    )
    .unwrap();
    let cap = dir.path().join("echo.pcapng");
    let mut child = run_with_capture(&file, &cap);
    let mut c = TcpStream::connect(("127.0.0.1", port)).unwrap();
    c.set_read_timeout(Some(DEADLINE)).unwrap();
    // Small, and larger than one made-up segment, every byte value.
    let mut sent = "你好 hello\n".as_bytes().to_vec();
    sent.extend((0..200_000u32).map(|i| (i % 251) as u8));
    c.write_all(&sent).unwrap();
    let mut back = vec![0u8; sent.len()];
    c.read_exact(&mut back).unwrap();
    assert_eq!(back, sent);
    c.shutdown(Shutdown::Write).unwrap();
    assert_eq!(
        c.read(&mut [0u8; 1]).unwrap(),
        0,
        "the server closes after our FIN"
    );
    // A second connection that ends with RST.
    let r = socket2::Socket::from(TcpStream::connect(("127.0.0.1", port)).unwrap());
    (&r).write_all(b"x").unwrap();
    let mut one = [0u8; 1];
    (&TcpStream::from(r.try_clone().unwrap()))
        .read_exact(&mut one)
        .unwrap();
    r.set_linger(Some(Duration::ZERO)).unwrap();
    drop(r);
    std::thread::sleep(Duration::from_millis(200));
    stop(&mut child.0);
    let (to_server, to_client) = follow(&cap, "tcp", 0);
    assert_eq!(to_server.len(), sent.len());
    assert!(to_server == sent, "the client's bytes, in order");
    assert!(to_client == sent, "the echo, in order");
    no_analysis_flags(&cap);
    let summary = tshark(&[
        "-r",
        cap.to_str().unwrap(),
        "-T",
        "fields",
        "-e",
        "tcp.flags.str",
    ]);
    assert!(
        summary.contains("R"),
        "the second connection ends with RST:\n{summary}"
    );
    let names = tshark(&[
        "-r",
        cap.to_str().unwrap(),
        "-T",
        "fields",
        "-e",
        "frame.interface_name",
    ]);
    assert!(
        names.lines().all(|n| n == "1 echo"),
        "one interface, named after the session"
    );
    // Never over a file that exists.
    let out = Command::new(BIN)
        .args([
            "run",
            file.to_str().unwrap(),
            "--pcapng",
            cap.to_str().unwrap(),
            "--for",
            "0.1",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("nothing was written over it"));
}

#[test]
fn datagrams_and_unix_streams_are_captured_too() {
    let dir = tempfile::tempdir().unwrap();
    // UDP: each datagram one UDP packet, both ways.
    let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = udp.local_addr().unwrap().port();
    drop(udp);
    let file = dir.path().join("udp.ron");
    std::fs::write(
        &file,
        format!(r#"(name: "udp", kind: Udp(local: "127.0.0.1:{port}"), responder: Echo)"#),
    )
    .unwrap();
    let cap = dir.path().join("udp.pcapng");
    let mut child = run_with_capture(&file, &cap);
    let c = UdpSocket::bind("127.0.0.1:0").unwrap();
    c.set_read_timeout(Some(DEADLINE)).unwrap();
    for d in [&b"one"[..], "二".as_bytes()] {
        c.send_to(d, ("127.0.0.1", port)).unwrap();
        let mut buf = [0u8; 16];
        let (n, _) = c.recv_from(&mut buf).unwrap();
        assert_eq!(&buf[..n], d);
    }
    stop(&mut child.0);
    let payloads = tshark(&[
        "-r",
        cap.to_str().unwrap(),
        "-T",
        "fields",
        "-e",
        "udp.payload",
    ]);
    assert_eq!(
        payloads.lines().collect::<Vec<_>>(),
        ["6f6e65", "6f6e65", "e4ba8c", "e4ba8c"],
        "each datagram and its echo"
    );
    // A Unix stream: made-up loopback addresses, the path in a comment.
    let path = dir.path().join("echo.sock");
    let file = dir.path().join("unix.ron");
    std::fs::write(
        &file,
        format!(
            r#"(name: "unix", kind: UnixServer(path: "{}"), responder: Echo)"#,
            path.display()
        ),
    )
    .unwrap();
    let cap = dir.path().join("unix.pcapng");
    let mut child = run_with_capture(&file, &cap);
    let mut u = UnixStream::connect(&path).unwrap();
    u.set_read_timeout(Some(DEADLINE)).unwrap();
    u.write_all(b"over a path").unwrap();
    let mut back = [0u8; 11];
    u.read_exact(&mut back).unwrap();
    drop(u);
    std::thread::sleep(Duration::from_millis(200));
    stop(&mut child.0);
    let (a, b) = follow(&cap, "tcp", 0);
    assert_eq!(
        (a.as_slice(), b.as_slice()),
        (&b"over a path"[..], &b"over a path"[..])
    );
    let comments = tshark(&[
        "-r",
        cap.to_str().unwrap(),
        "-T",
        "fields",
        "-e",
        "frame.comment",
    ]);
    assert!(
        comments.contains(&path.display().to_string()),
        "the socket's path is in a comment:\n{comments}"
    );
    no_analysis_flags(&cap);
}

/// Relay issue: a relay's capture holds both legs as two TCP streams, each
/// with the bytes of its own side, in order, and nothing flagged.
#[test]
fn a_relays_two_legs_are_two_streams_in_the_capture() {
    let upstream = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let target = upstream.local_addr().unwrap();
    let server = std::thread::spawn(move || {
        let (mut s, _) = upstream.accept().unwrap();
        let mut got = Vec::new();
        s.read_to_end(&mut got).unwrap();
        s.write_all(b"answer: ").unwrap();
        s.write_all(&got).unwrap();
    });
    let dir = tempfile::tempdir().unwrap();
    let port = common::free_port();
    let file = dir.path().join("relay.ron");
    std::fs::write(
        &file,
        format!(r#"(name: "relay", kind: Relay(listen: "127.0.0.1:{port}", target: "{target}"))"#),
    )
    .unwrap();
    let cap = dir.path().join("relay.pcapng");
    let mut child = run_with_capture(&file, &cap);
    let mut c = TcpStream::connect(("127.0.0.1", port)).unwrap();
    c.set_read_timeout(Some(DEADLINE)).unwrap();
    let sent: Vec<u8> = (0..50_000u32).map(|i| (i % 253) as u8).collect();
    c.write_all(&sent).unwrap();
    c.shutdown(Shutdown::Write).unwrap();
    let mut back = Vec::new();
    c.read_to_end(&mut back).unwrap();
    server.join().unwrap();
    let answer = [&b"answer: "[..], &sent].concat();
    assert!(back == answer);
    std::thread::sleep(Duration::from_millis(200));
    stop(&mut child.0);
    for stream in [0, 1] {
        let (a, b) = follow(&cap, "tcp", stream);
        // Whichever node tshark puts first, one side sent the client's
        // bytes and the other the answer.
        let (to_server, to_client) = if a.len() == sent.len() {
            (a, b)
        } else {
            (b, a)
        };
        assert!(to_server == sent, "stream {stream}: the client's bytes");
        assert!(to_client == answer, "stream {stream}: the answer");
    }
    no_analysis_flags(&cap);
}
