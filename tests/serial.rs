//! Serial sessions on real kernel terminals with no hardware: a
//! pseudo-terminal pair from openpty. The session opens the pair's slave
//! end by its path, as it would /dev/ttyUSB0; the test talks through the
//! master end, which is the device's far side.

mod common;

use std::io::{Read, Write};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use common::*;
use nix::sys::termios::{self, ControlFlags, InputFlags};
use sockscope::engine::SessionSpec;
use sockscope::engine::protocol::{CloseReason, Command, Direction, EventKind};
use sockscope::engine::serial::{Flow, Parity, SerialSpec};
use sockscope::engine::spec::{Responder, SessionKind};

/// A pseudo-terminal: the master (the far side) and the slave's path.
struct Pty {
    master: std::fs::File,
    /// Held open so the pair lives until the test is done with it.
    _slave: OwnedFd,
    path: PathBuf,
}

fn pty() -> Pty {
    let p = nix::pty::openpty(None, None).expect("openpty");
    let path = std::fs::read_link(format!("/proc/self/fd/{}", p.slave.as_raw_fd())).unwrap();
    // The far side is raw too, so what we write arrives as written.
    let mut t = termios::tcgetattr(p.master.as_fd()).unwrap();
    termios::cfmakeraw(&mut t);
    termios::tcsetattr(p.master.as_fd(), termios::SetArg::TCSANOW, &t).unwrap();
    Pty {
        master: std::fs::File::from(p.master),
        _slave: p.slave,
        path,
    }
}

fn serial(spec: SerialSpec) -> SessionSpec {
    SessionSpec::new("serial", SessionKind::Serial(spec))
}

/// Reads from the far side until `n` bytes came or the deadline passed.
fn read_n(f: &mut std::fs::File, n: usize) -> Vec<u8> {
    let fd = f.as_raw_fd();
    // SAFETY: sets O_NONBLOCK on a descriptor this test owns.
    unsafe {
        let fl = libc::fcntl(fd, libc::F_GETFL);
        libc::fcntl(fd, libc::F_SETFL, fl | libc::O_NONBLOCK);
    }
    let deadline = Instant::now() + DEADLINE;
    let mut out = Vec::new();
    let mut buf = [0u8; 256];
    while out.len() < n && Instant::now() < deadline {
        match f.read(&mut buf) {
            Ok(k) => out.extend_from_slice(&buf[..k]),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(5))
            }
            Err(e) => panic!("{e}"),
        }
    }
    out
}

#[test]
fn bytes_go_both_ways_and_an_echo_answers() {
    let mut p = pty();
    let mut spec = serial(SerialSpec::new(&p.path));
    spec.responder = Responder::Echo;
    let mut h = Harness::new();
    let id = h.open(spec);
    let (local, peer) = h.connected(id);
    assert_eq!(local.to_string(), p.path.display().to_string());
    assert!(peer.to_string().starts_with("/dev/pts/"), "{peer}");
    // The device says something; the echo responder answers it.
    p.master.write_all(b"AT\r\n\x00\xff").unwrap();
    assert_eq!(read_n(&mut p.master, 6), b"AT\r\n\x00\xff");
    let (got, _) = h.received(id);
    assert_eq!(got, b"AT\r\n\x00\xff");
    // And what the composer sends arrives on the far side.
    h.send(send(id, "你好 serial".as_bytes()));
    assert_eq!(
        read_n(&mut p.master, "你好 serial".len()),
        "你好 serial".as_bytes()
    );
    h.wait("sent", |e| {
        e.session == id
            && matches!(&e.kind, EventKind::Log(l) if l.dir == Direction::Out && l.data == "你好 serial".as_bytes())
    });
    h.send(Command::Close { target: id });
    assert_eq!(h.closed(id), CloseReason::Local);
}

#[test]
fn settings_are_set_and_read_back_with_tcgetattr() {
    let p = pty();
    let spec = SerialSpec {
        path: p.path.clone(),
        baud: 9600,
        data_bits: 7,
        parity: Parity::Even,
        stop_bits: 2,
        flow: Flow::Software,
    };
    let mut h = Harness::new();
    let id = h.open(serial(spec));
    let ev = h.wait("settings", |e| {
        e.session == id && matches!(e.kind, EventKind::Options(_))
    });
    let EventKind::Options(rows) = ev.kind else {
        unreachable!()
    };
    let got: Vec<(&str, String)> = rows
        .iter()
        .map(|r| (r.name, r.actual.clone().unwrap()))
        .collect();
    // The kernel has the last word, and the read-back shows it: Linux's
    // pty driver keeps CS8 and no parity whatever is asked (pty.c,
    // pty_set_termios), so those two rows differ from the request.
    assert_eq!(
        got,
        [
            ("baud", "9600".to_string()),
            ("data_bits", "8".into()),
            ("parity", "none".into()),
            ("stop_bits", "2".into()),
            ("flow", "software".into()),
        ]
    );
    let differs: Vec<&str> = rows
        .iter()
        .filter(|r| r.differs())
        .map(|r| r.name)
        .collect();
    assert_eq!(differs, ["data_bits", "parity"]);
    assert_eq!(rows[1].requested.as_deref(), Some("7"));
    assert_eq!(rows[2].requested.as_deref(), Some("even"));
    // The test reads the same terminal's settings on its own, through
    // the slave end it holds (the session opened the port exclusively).
    let t = termios::tcgetattr(p._slave.as_fd()).unwrap();
    let raw: libc::termios = t.clone().into();
    // SAFETY: reads the speed of a valid termios.
    assert_eq!(unsafe { libc::cfgetospeed(&raw) }, libc::B9600);
    assert_eq!(t.control_flags & ControlFlags::CSIZE, ControlFlags::CS8);
    assert!(t.control_flags.contains(ControlFlags::CSTOPB));
    assert!(!t.control_flags.contains(ControlFlags::PARENB));
    assert!(t.input_flags.contains(InputFlags::IXON | InputFlags::IXOFF));
    h.send(Command::Close { target: id });
    h.closed(id);
}

/// A pseudo-terminal has no modem lines (TIOCMGET is ENOTTY there): the
/// session says so in words, and a break still goes out (tcsendbreak).
#[test]
fn a_pty_has_no_modem_lines_and_says_so_and_a_break_is_sent() {
    let p = pty();
    let mut h = Harness::new();
    let id = h.open(serial(SerialSpec::new(&p.path)));
    let ev = h.wait("modem", |e| {
        e.session == id && matches!(e.kind, EventKind::Modem(_))
    });
    let EventKind::Modem(Err(e)) = ev.kind else {
        panic!("a pty reported modem lines: {:?}", ev.kind)
    };
    assert_eq!(e.errno, Some(libc::ENOTTY), "{e}");
    assert!(e.to_string().contains("no modem lines"), "{e}");
    h.send(Command::SetLines {
        target: id,
        dtr: Some(true),
        rts: None,
    });
    let ev = h.wait("lines", |e| {
        e.session == id
            && matches!(&e.kind, EventKind::Modem(Err(e)) if e.op.contains("TIOCMBIS DTR"))
    });
    drop(ev);
    h.send(Command::Break { target: id });
    h.wait("break", |e| {
        e.session == id && matches!(e.kind, EventKind::BreakSent)
    });
    // Socket calls are refused in words, and the session goes on.
    h.send(Command::SetOption {
        target: id,
        option: sockscope::engine::options::SockOpt::flag(
            sockscope::engine::options::OptName::NoDelay,
            true,
        ),
    });
    h.wait("setsockopt refused", |e| {
        e.session == id
            && matches!(&e.kind, EventKind::Error(e) if e.to_string().contains("no socket options"))
    });
    h.send(Command::ShutdownWrite { target: id });
    h.wait("shutdown refused", |e| {
        e.session == id
            && matches!(&e.kind, EventKind::Error(e) if e.to_string().contains("no half-close"))
    });
    h.send(Command::Close { target: id });
    h.closed(id);
}

#[test]
fn the_far_end_closing_is_a_hang_up() {
    let p = pty();
    let mut h = Harness::new();
    let id = h.open(serial(SerialSpec::new(&p.path)));
    h.connected(id);
    let Pty { master, _slave, .. } = p;
    drop(_slave);
    drop(master);
    assert_eq!(h.closed(id), CloseReason::HangUp);
}

#[test]
fn what_is_not_a_terminal_is_refused_in_words() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = Harness::new();
    let file = dir.path().join("not-a-port");
    std::fs::write(&file, b"x").unwrap();
    let id = h.open(serial(SerialSpec::new(&file)));
    match h.closed(id) {
        CloseReason::Error(e) => assert!(e.to_string().contains("not a terminal device"), "{e}"),
        other => panic!("{other:?}"),
    }
    let id = h.open(serial(SerialSpec::new(dir.path().join("gone"))));
    match h.closed(id) {
        CloseReason::Error(e) => {
            assert_eq!(e.errno, Some(libc::ENOENT), "{e}");
            assert!(e.to_string().contains("socat"), "{e}");
        }
        other => panic!("{other:?}"),
    }
}

/// The README's way to try a serial session without hardware: socat links
/// two pseudo-terminals, `sockscope run` echoes on one end, the test talks
/// on the other; socat going away is a hang-up with its own reason.
#[test]
fn sockscope_run_echoes_on_a_socat_pty_and_reports_the_hang_up() {
    use std::io::BufRead;
    use std::process::{Command as Proc, Stdio};
    let dir = tempfile::tempdir().unwrap();
    let tty = dir.path().join("tty");
    let peer = dir.path().join("tty-peer");
    let mut socat = KillOnDrop(
        Proc::new("socat")
            .arg(format!("pty,raw,echo=0,link={}", tty.display()))
            .arg(format!("pty,raw,echo=0,link={}", peer.display()))
            .stderr(Stdio::null())
            .spawn()
            .expect("socat is needed for this test (.ci/run installs it)"),
    );
    let start = Instant::now();
    while !(tty.exists() && peer.exists()) {
        assert!(start.elapsed() < DEADLINE, "socat made no ptys");
        std::thread::sleep(Duration::from_millis(10));
    }
    let preset = dir.path().join("serial.ron");
    std::fs::write(
        &preset,
        format!(
            r#"(name: "s", kind: Serial(path: "{}", baud: 57600), responder: Echo)"#,
            tty.display()
        ),
    )
    .unwrap();
    let mut run = KillOnDrop(
        Proc::new(env!("CARGO_BIN_EXE_sockscope"))
            .arg("run")
            .args(["--modem", "0.1"])
            .arg(&preset)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let (tx, rx) = std::sync::mpsc::sync_channel(1024);
    let out = run.0.stdout.take().unwrap();
    std::thread::spawn(move || {
        for l in std::io::BufReader::new(out).lines().map_while(Result::ok) {
            let v: serde_json::Value = serde_json::from_str(&l).unwrap();
            if tx.send(v).is_err() {
                break;
            }
        }
    });
    let mut seen = Vec::new();
    let wait_for = |what: &str, seen: &mut Vec<serde_json::Value>| loop {
        let v = rx
            .recv_timeout(DEADLINE)
            .unwrap_or_else(|_| panic!("no {what} line; saw {seen:#?}"));
        let hit = v["event"] == what;
        seen.push(v.clone());
        if hit {
            return v;
        }
    };
    wait_for("connected", &mut seen);
    let settings = wait_for("options", &mut seen);
    assert!(
        settings["options"]
            .as_array()
            .unwrap()
            .iter()
            .any(|o| o["name"] == "baud" && o["actual"] == "57600"),
        "{settings}"
    );
    let modem = wait_for("modem", &mut seen);
    assert_eq!(modem["errno_name"], "ENOTTY", "{modem}");
    let mut far = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&peer)
        .unwrap();
    far.write_all(b"hello\r\n").unwrap();
    assert_eq!(read_n(&mut far, 7), b"hello\r\n");
    // `--modem` polls the lines, but a pty has none and says so once (a
    // poll or two may already be on their way): not every 0.1 s for the
    // whole second, which would be ten or more.
    std::thread::sleep(Duration::from_millis(1000));
    while let Ok(v) = rx.try_recv() {
        seen.push(v);
    }
    let modems = seen.iter().filter(|v| v["event"] == "modem").count();
    assert!((1..=3).contains(&modems), "{modems} modem lines: {seen:#?}");
    drop(far);
    // socat is this test's own child.
    socat.0.kill().unwrap();
    let _ = socat.0.wait();
    let closed = wait_for("closed", &mut seen);
    assert_eq!(closed["reason"], "hangup", "{closed}");
    let status = run.0.wait().unwrap();
    assert!(
        status.code().is_some(),
        "sockscope ended by itself after the hang-up"
    );
}
