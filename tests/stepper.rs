//! Step mode on real loopback sockets: calls and the kernel's answers,
//! replay, the exported Python program run with python3, cancellation.

mod common;

use std::io::{Read, Write};
use std::net::{TcpListener, UdpSocket};
use std::process::Command;
use std::time::{Duration, Instant};

use common::*;
use serde_json::Value;
use sockscope::engine::SessionSpec;
use sockscope::engine::protocol::{Command as EngineCommand, EventKind};
use sockscope::engine::spec::{Responder, SessionKind};
use sockscope::engine::stepper::{
    AddrArg, Call, CallRecord, Family, How, Outcome, SockType, Stepper,
};

const BIN: &str = env!("CARGO_BIN_EXE_sockscope");

fn tcp(var: &str) -> Call {
    Call::Socket {
        var: var.into(),
        family: Family::Inet,
        ty: SockType::Stream,
    }
}

fn ok(r: &CallRecord) -> &Outcome {
    match &r.result {
        Ok(o) => o,
        Err(e) => panic!("{} failed: {e}", r.call.text()),
    }
}

fn errno(r: &CallRecord) -> i32 {
    match &r.result {
        Err(e) => e.errno.unwrap_or(-1),
        Ok(o) => panic!("{} succeeded: {}", r.call.text(), o.text()),
    }
}

#[test]
fn two_steppers_hold_a_whole_conversation() {
    let mut server = Stepper::default();
    let mut client = Stepper::default();
    ok(&server.call(&tcp("srv")));
    ok(&server.call(&Call::Bind {
        var: "srv".into(),
        addr: AddrArg("127.0.0.1:0".into()),
    }));
    ok(&server.call(&Call::Listen {
        var: "srv".into(),
        backlog: 1,
    }));
    let Outcome::Addr(addr) = ok(&server.call(&Call::GetSockName { var: "srv".into() })).clone()
    else {
        panic!()
    };
    ok(&client.call(&tcp("cli")));
    ok(&client.call(&Call::Connect {
        var: "cli".into(),
        addr: AddrArg(addr.to_string()),
    }));
    // Connected but not accepted: the kernel holds it in the backlog.
    let Outcome::Text(q) = ok(&server.call(&Call::Backlog { var: "srv".into() })).clone() else {
        panic!()
    };
    assert!(q.starts_with("1 connection(s) queued"), "{q}");
    let Outcome::Accepted { var, peer, .. } = ok(&server.call(&Call::Accept {
        var: "srv".into(),
        into: "conn".into(),
    }))
    .clone() else {
        panic!()
    };
    assert_eq!(var, "conn");
    let Outcome::Addr(cli_name) =
        ok(&client.call(&Call::GetSockName { var: "cli".into() })).clone()
    else {
        panic!()
    };
    assert_eq!(
        peer, cli_name,
        "accept's address is the client's getsockname"
    );
    // send returns how many bytes the kernel took.
    assert_eq!(
        ok(&client.call(&Call::Send {
            var: "cli".into(),
            data: b"hello".to_vec(),
        })),
        &Outcome::Int(5)
    );
    assert_eq!(
        ok(&server.call(&Call::ReadExactly {
            var: "conn".into(),
            n: 5,
        })),
        &Outcome::Bytes(b"hello".to_vec())
    );
    ok(&server.call(&Call::SendAll {
        var: "conn".into(),
        data: b"line one\nline two\n".to_vec(),
    }));
    assert_eq!(
        ok(&client.call(&Call::ReadUntil {
            var: "cli".into(),
            sep: b"\n".to_vec(),
        })),
        &Outcome::Bytes(b"line one\n".to_vec()),
        "nothing after the separator is consumed"
    );
    assert_eq!(
        ok(&client.call(&Call::Recv {
            var: "cli".into(),
            n: 100,
        })),
        &Outcome::Bytes(b"line two\n".to_vec())
    );
    ok(&client.call(&Call::Shutdown {
        var: "cli".into(),
        how: How::Write,
    }));
    assert_eq!(
        ok(&server.call(&Call::Recv {
            var: "conn".into(),
            n: 100,
        })),
        &Outcome::Bytes(Vec::new()),
        "EOF after the peer's SHUT_WR"
    );
    // A call on a closed socket says so, it does not crash.
    ok(&server.call(&Call::Close { var: "conn".into() }));
    assert_eq!(
        errno(&server.call(&Call::Recv {
            var: "conn".into(),
            n: 1
        })),
        libc::EBADF
    );
}

#[test]
fn timeouts_eagain_connect_ex_and_reset() {
    let mut st = Stepper::default();
    // connect_ex to a closed port returns ECONNREFUSED's number.
    let closed = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    ok(&st.call(&tcp("probe")));
    assert_eq!(
        ok(&st.call(&Call::ConnectEx {
            var: "probe".into(),
            addr: AddrArg(closed.to_string()),
        })),
        &Outcome::Int(libc::ECONNREFUSED.into())
    );
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    ok(&st.call(&tcp("c")));
    ok(&st.call(&Call::Connect {
        var: "c".into(),
        addr: AddrArg(l.local_addr().unwrap().to_string()),
    }));
    let (peer, _) = l.accept().unwrap();
    // A blocking recv with a timeout really waits, then times out.
    ok(&st.call(&Call::SetTimeout {
        var: "c".into(),
        secs: Some(0.3),
    }));
    let r = st.call(&Call::Recv {
        var: "c".into(),
        n: 10,
    });
    assert_eq!(errno(&r), libc::EAGAIN);
    assert!(r.timed_out);
    assert!(r.took >= Duration::from_millis(250), "{:?}", r.took);
    // Non-blocking: EAGAIN at once.
    ok(&st.call(&Call::SetBlocking {
        var: "c".into(),
        flag: false,
    }));
    let r = st.call(&Call::Recv {
        var: "c".into(),
        n: 10,
    });
    assert_eq!(errno(&r), libc::EAGAIN);
    assert!(!r.timed_out);
    assert!(r.took < Duration::from_millis(50));
    ok(&st.call(&Call::SetBlocking {
        var: "c".into(),
        flag: true,
    }));
    // The peer resets (closes with unread data): send fails with EPIPE or ECONNRESET.
    ok(&st.call(&Call::SendAll {
        var: "c".into(),
        data: b"unread".to_vec(),
    }));
    std::thread::sleep(Duration::from_millis(50));
    drop(peer);
    let mut last = 0;
    for _ in 0..5 {
        let r = st.call(&Call::Send {
            var: "c".into(),
            data: b"more".to_vec(),
        });
        if let Err(e) = &r.result {
            last = e.errno.unwrap_or(0);
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        last == libc::EPIPE || last == libc::ECONNRESET,
        "errno {last}"
    );
}

#[test]
fn recvfrom_with_a_small_buffer_reports_truncation() {
    let mut st = Stepper::default();
    ok(&st.call(&Call::Socket {
        var: "u".into(),
        family: Family::Inet,
        ty: SockType::Dgram,
    }));
    ok(&st.call(&Call::Bind {
        var: "u".into(),
        addr: AddrArg("127.0.0.1:0".into()),
    }));
    let Outcome::Addr(a) = ok(&st.call(&Call::GetSockName { var: "u".into() })).clone() else {
        panic!()
    };
    let sender = UdpSocket::bind("127.0.0.1:0").unwrap();
    sender.send_to(&[7u8; 100], a.inet().unwrap()).unwrap();
    let Outcome::BytesFrom {
        data,
        from,
        truncated_from,
    } = ok(&st.call(&Call::RecvFrom {
        var: "u".into(),
        n: 10,
    }))
    .clone()
    else {
        panic!()
    };
    assert_eq!(data.len(), 10);
    assert_eq!(truncated_from, Some(100));
    assert_eq!(from.inet(), Some(sender.local_addr().unwrap()));
}

fn outcomes_of_run(target: &str) -> Vec<(String, String)> {
    let out = Command::new(BIN).args(["run", target]).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|v| v["event"] == "call")
        .map(|v| {
            let class = if v["ok"] == true {
                match v["call"].as_str() {
                    Some("connect_ex") => format!("ok {}", v["value"]),
                    _ => "ok".to_string(),
                }
            } else if v["timed_out"] == true {
                "timeout".to_string()
            } else {
                format!("errno {}", v["errno"])
            };
            (v["call"].as_str().unwrap().to_string(), class)
        })
        .collect()
}

#[test]
fn api_tour_walks_the_whole_table_and_replays_the_same() {
    let first = outcomes_of_run("api-tour");
    let find = |name: &str, nth: usize| {
        first
            .iter()
            .filter(|(c, _)| c == name)
            .nth(nth)
            .unwrap_or_else(|| panic!("no {name} #{nth}"))
            .1
            .clone()
    };
    assert_eq!(find("connect_ex", 0), format!("ok {}", libc::ECONNREFUSED));
    assert_eq!(find("recv", 2), "timeout");
    assert_eq!(find("recv", 3), format!("errno {}", libc::EAGAIN));
    // Save the script, load it back, run it again: the same results.
    let dir = tempfile::tempdir().unwrap();
    let (_, spec) = sockscope::preset::builtins()
        .into_iter()
        .find(|(s, _)| *s == "api-tour")
        .unwrap();
    let text =
        sockscope::preset::session_to_ron(&sockscope::preset::from_spec(&spec.unwrap())).unwrap();
    let saved = dir.path().join("tour.ron");
    std::fs::write(&saved, text).unwrap();
    assert_eq!(outcomes_of_run(saved.to_str().unwrap()), first);
}

fn python3() -> Option<&'static str> {
    Command::new("python3")
        .arg("--version")
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|_| "python3")
}

#[test]
fn exported_python_makes_the_same_calls_with_the_same_results() {
    let py = python3().expect("python3 is needed for this test (.ci/run installs it)");
    let ours = outcomes_of_run("api-tour");
    let code = Command::new(BIN)
        .args(["export", "python", "api-tour"])
        .output()
        .unwrap();
    assert!(code.status.success());
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("tour.py");
    std::fs::write(&file, &code.stdout).unwrap();
    let run = Command::new(py).arg(&file).output().unwrap();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let theirs: Vec<(String, String)> = String::from_utf8(run.stdout)
        .unwrap()
        .lines()
        .map(|l| {
            let mut it = l.splitn(3, ' ');
            let call = it.next().unwrap().to_string();
            let class = match (it.next(), it.next()) {
                (Some("ok"), Some(v)) if call == "connect_ex" => format!("ok {v}"),
                (Some("ok"), _) => "ok".into(),
                (Some("timeout"), _) => "timeout".into(),
                (Some("errno"), Some(rest)) => {
                    format!("errno {}", rest.split(' ').next().unwrap())
                }
                other => panic!("unexpected line {l:?}: {other:?}"),
            };
            (call, class)
        })
        .collect();
    assert_eq!(theirs, ours);
}

#[test]
fn exported_python_client_talks_to_a_sockscope_server() {
    let py = python3().expect("python3 is needed for this test");
    let mut h = Harness::new();
    let mut spec = server("127.0.0.1:0");
    spec.responder = Responder::Echo;
    let srv = h.open(spec);
    let addr = h.listening(srv);
    let calls = vec![
        tcp("c"),
        Call::Connect {
            var: "c".into(),
            addr: AddrArg(addr.to_string()),
        },
        Call::SendAll {
            var: "c".into(),
            data: "你好 python".as_bytes().to_vec(),
        },
        Call::ReadExactly {
            var: "c".into(),
            n: "你好 python".len(),
        },
        Call::Close { var: "c".into() },
    ];
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("client.py");
    std::fs::write(&file, sockscope::export::python("client", &calls)).unwrap();
    let run = Command::new(py).arg(&file).output().unwrap();
    let text = String::from_utf8(run.stdout).unwrap();
    assert!(
        text.contains(r"readexactly ok b'\xe4\xbd\xa0\xe5\xa5\xbd python'"),
        "{text}"
    );
    let (child, _) = h.accepted(srv);
    assert_eq!(h.received_bytes(child, 13), "你好 python".as_bytes());
}

#[test]
fn a_blocking_call_is_cancelled_without_closing_the_socket() {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let mut h = Harness::new();
    let spec = SessionSpec::new(
        "step",
        SessionKind::Script {
            calls: vec![
                tcp("c"),
                Call::Connect {
                    var: "c".into(),
                    addr: AddrArg(l.local_addr().unwrap().to_string()),
                },
            ],
            keep_open: true,
        },
    );
    let id = h.open(spec);
    let (mut peer, _) = l.accept().unwrap();
    h.wait("connected", |e| {
        matches!(&e.kind, EventKind::Call { index: 1, .. })
    });
    // A recv with no timeout blocks...
    h.send(EngineCommand::Step {
        target: id,
        call: Call::Recv {
            var: "c".into(),
            n: 64,
        },
    });
    std::thread::sleep(Duration::from_millis(200));
    let t = Instant::now();
    h.engine.cancel(id);
    let ev = h.wait("cancelled", |e| {
        matches!(&e.kind, EventKind::Call { index: 2, .. })
    });
    assert!(t.elapsed() < Duration::from_secs(1));
    let EventKind::Call { record, .. } = ev.kind else {
        unreachable!()
    };
    assert_eq!(errno(&record), libc::EINTR);
    // ...and the socket still works afterwards.
    peer.write_all(b"after").unwrap();
    h.send(EngineCommand::Step {
        target: id,
        call: Call::Recv {
            var: "c".into(),
            n: 64,
        },
    });
    let ev = h.wait("recv", |e| {
        matches!(&e.kind, EventKind::Call { index: 3, .. })
    });
    let EventKind::Call { record, .. } = ev.kind else {
        unreachable!()
    };
    assert_eq!(ok(&record), &Outcome::Bytes(b"after".to_vec()));
    h.send(EngineCommand::Close { target: id });
    h.closed(id);
    let mut rest = Vec::new();
    peer.set_read_timeout(Some(DEADLINE)).unwrap();
    peer.read_to_end(&mut rest).unwrap();
    assert!(rest.is_empty(), "closing the session closed its socket");
}

#[test]
fn exported_rust_builds_and_makes_the_same_calls() {
    // A throwaway crate next to our target dir; socket2 comes from the
    // registry cache this project already uses (--offline).
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/export-check");
    std::fs::create_dir_all(root.join("src")).unwrap();
    std::fs::write(
        root.join("Cargo.toml"),
        "[package]\nname = \"export-check\"\nversion = \"0.0.0\"\nedition = \"2021\"\n\n[workspace]\n\n[dependencies]\nsocket2 = { version = \"0.6\", features = [\"all\"] }\n",
    )
    .unwrap();
    let code = Command::new(BIN)
        .args(["export", "rust", "api-tour"])
        .output()
        .unwrap();
    assert!(code.status.success());
    std::fs::write(root.join("src/main.rs"), &code.stdout).unwrap();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let run = Command::new(cargo)
        .args(["run", "--quiet", "--offline"])
        .current_dir(&root)
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let calls: Vec<String> = String::from_utf8(run.stdout)
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with(' '))
        .map(|l| {
            let mut it = l.split(' ');
            let call = it.next().unwrap();
            let class = match it.next() {
                Some("ok") if call == "connect_ex" => format!("ok {}", it.next().unwrap()),
                Some("ok") => "ok".into(),
                Some("errno") => format!("errno {}", it.next().unwrap()),
                other => panic!("{l}: {other:?}"),
            };
            format!("{call} {class}")
        })
        .collect();
    // socket2 has no separate timeout error: a timed-out recv is EAGAIN.
    let ours: Vec<String> = outcomes_of_run("api-tour")
        .into_iter()
        .map(|(c, class)| {
            let class = if class == "timeout" {
                format!("errno {}", libc::EAGAIN)
            } else {
                class
            };
            format!("{c} {class}")
        })
        .collect();
    assert_eq!(calls, ours);
}

#[test]
fn any_session_exports_as_python_that_talks_like_it() {
    let py = python3().expect("python3 is needed for this test");
    let builtin = |name: &str| {
        sockscope::preset::builtins()
            .into_iter()
            .find(|(s, _)| *s == name)
            .unwrap()
            .1
            .unwrap()
    };
    let mut h = Harness::new();
    let mut srv = builtin("chat-server");
    srv.kind = SessionKind::TcpServer {
        local: "127.0.0.1:0".parse().unwrap(),
        backlog: 8,
    };
    let id = h.open(srv);
    let addr = h.listening(id);
    let mut cli = builtin("chat-client");
    cli.kind = SessionKind::TcpClient {
        remote: sockscope::engine::spec::HostPort::parse(&addr.to_string()).unwrap(),
        local: None,
    };
    let calls = sockscope::export::calls_for_spec(&cli);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("chat.py");
    std::fs::write(&file, sockscope::export::python(&cli.name, &calls)).unwrap();
    let run = Command::new(py).arg(&file).output().unwrap();
    let text = String::from_utf8(run.stdout).unwrap();
    let replies: Vec<&str> = text.lines().filter(|l| l.starts_with("recv ok")).collect();
    assert_eq!(
        replies,
        vec![
            "recv ok b'nihao'",
            "recv ok b'Fine, thank you.'",
            "recv ok b'Bye'"
        ],
        "{text}"
    );
}

/// Regression (hostile input, item 10): `SetTimeout(1e20)` panicked the
/// worker ("cannot convert float seconds to Duration") and 1e-10 became
/// "no timeout", so the next recv blocked forever (Python times out at
/// once). Both are refused with the range, by the loader and by the
/// engine's own check of a call built in code; the smallest timeout
/// allowed is a real one.
#[test]
fn timeouts_out_of_range_neither_panic_nor_block_forever() {
    let mut s = Stepper::default();
    ok(&s.call(&Call::Socket {
        var: "u".into(),
        family: Family::Inet,
        ty: SockType::Dgram,
    }));
    ok(&s.call(&Call::Bind {
        var: "u".into(),
        addr: AddrArg("127.0.0.1:0".into()),
    }));
    let r = s.call(&Call::SetTimeout {
        var: "u".into(),
        secs: Some(1e20),
    });
    let e = r.result.unwrap_err();
    assert!(e.message.contains("out of range"), "{e}");
    let r = s.call(&Call::SetTimeout {
        var: "u".into(),
        secs: Some(1e-10),
    });
    assert!(r.result.unwrap_err().message.contains("0.000001 to"));
    // The smallest timeout there is: the recv times out at once.
    ok(&s.call(&Call::SetTimeout {
        var: "u".into(),
        secs: Some(1e-6),
    }));
    let started = Instant::now();
    let r = s.call(&Call::Recv {
        var: "u".into(),
        n: 10,
    });
    assert!(r.timed_out, "{:?}", r.result);
    assert!(started.elapsed() < Duration::from_secs(2));
    let r = s.call(&Call::Listen {
        var: "u".into(),
        backlog: i32::MAX,
    });
    assert!(r.result.unwrap_err().message.contains("0 to 65535"));
    let r = s.call(&Call::ReadExactly {
        var: "u".into(),
        n: usize::MAX,
    });
    assert!(r.result.unwrap_err().message.contains("out of range"));
}

/// Engine v2, item 4: every option is exported from its table entry, so
/// the Python program sets and reads each one as the stepper does, with
/// the same values (structs such as linger and timeval unpacked).
#[test]
fn exported_python_sets_and_reads_every_option_as_the_stepper_does() {
    use sockscope::engine::options::{OptName, SockOpt};
    let py = python3().expect("python3 is needed for this test");
    let mut calls = vec![tcp("s")];
    for (name, value) in [
        (OptName::ReuseAddress, "1"),
        (OptName::KeepAliveIdle, "30"),
        (OptName::KeepAliveCount, "4"),
        (OptName::NoDelay, "1"),
        (OptName::UserTimeout, "1500"),
        (OptName::MaxSeg, "1000"),
        (OptName::SendBuffer, "32768"),
        (OptName::Linger, "3"),
        (OptName::Priority, "5"),
        (OptName::BindDevice, "lo"),
        (OptName::Ttl, "17"),
        (OptName::Tos, "0x10"),
        (OptName::WriteTimeout, "1.5"),
    ] {
        calls.push(Call::SetSockOpt {
            var: "s".into(),
            opt: SockOpt::parse(name, value).unwrap(),
        });
        calls.push(Call::GetSockOpt {
            var: "s".into(),
            opt: name,
        });
    }
    let mut ours = Vec::new();
    let mut st = Stepper::default();
    for c in &calls {
        let r = st.call(c);
        if let Call::GetSockOpt { opt, .. } = c {
            let Outcome::Text(t) = ok(&r) else {
                panic!("{:?}", r.result)
            };
            ours.push((opt.c_name(false), t.clone()));
        } else {
            ok(&r);
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("opts.py");
    std::fs::write(&file, sockscope::export::python("opts", &calls)).unwrap();
    let run = Command::new(py).arg(&file).output().unwrap();
    let text = String::from_utf8(run.stdout).unwrap();
    let theirs: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("getsockopt ok "))
        .collect();
    assert_eq!(theirs.len(), ours.len(), "{text}");
    for ((c, ours), theirs) in ours.iter().zip(theirs) {
        // Python's value in our words: ints as they are, a linger or a
        // timeval as seconds, a device name without quotes.
        let theirs_as_ours = match *c {
            "SO_LINGER" => {
                let secs = theirs.trim_matches(|c| c == '(' || c == ')');
                format!("{}s", secs.split(", ").nth(1).unwrap())
            }
            "SO_SNDTIMEO" => {
                let t = theirs.trim_matches(|c| c == '(' || c == ')');
                let (s, us) = t.split_once(", ").unwrap();
                let secs = s.parse::<f64>().unwrap() + us.parse::<f64>().unwrap() / 1e6;
                format!("{secs}s")
            }
            "SO_BINDTODEVICE" => theirs.trim_matches('\'').to_string(),
            "TCP_KEEPIDLE" => format!("{theirs}s"),
            "SO_REUSEADDR" | "TCP_NODELAY" => (theirs != "0").to_string(),
            _ => theirs.to_string(),
        };
        assert_eq!(&theirs_as_ours, ours, "{c}: python says {theirs}");
    }
}
