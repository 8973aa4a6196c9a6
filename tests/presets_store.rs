//! Presets on disk through the real binary: broken files are reported and
//! kept byte for byte, a killed save never leaves half a file, concurrent
//! saves of different presets both land.

use std::path::Path;
use std::process::{Command, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_sockscope");

fn sockscope(config: &Path, args: &[&str]) -> std::process::Output {
    Command::new(BIN)
        .arg("--config-dir")
        .arg(config)
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn broken_presets_are_reported_with_position_and_never_rewritten() {
    let dir = tempfile::tempdir().unwrap();
    let presets = dir.path().join("presets");
    std::fs::create_dir_all(&presets).unwrap();
    let cases: [(&str, &[u8]); 3] = [
        (
            "truncated",
            b"(\n  name: \"truncated\",\n  kind: TcpServer(local: \"127.0.0.1:7",
        ),
        ("wrong-types", b"(\n  name: 42,\n  kind: SocketPair,\n)"),
        ("garbage", b"\x00\xff\xfe\x13\x37 not ron at all \x80\x81"),
    ];
    for (name, bytes) in &cases {
        std::fs::write(presets.join(format!("{name}.ron")), bytes).unwrap();
    }
    let out = sockscope(dir.path(), &["presets", "list"]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("built-in  echo-server"), "{text}");
    assert!(text.contains("broken    truncated"), "{text}");
    assert!(text.contains("truncated.ron:3:"), "{text}");
    assert!(text.contains("wrong-types.ron:2:"), "{text}");
    assert!(text.contains("not UTF-8"), "{text}");
    // Running a broken preset by name says why, and runs nothing.
    let out = sockscope(dir.path(), &["run", "wrong-types"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("wrong-types.ron:2:"));
    // Saving another preset leaves them alone.
    let good = dir.path().join("good.ron");
    std::fs::write(&good, "(name: \"good\", kind: SocketPair)").unwrap();
    assert!(
        sockscope(dir.path(), &["presets", "import", good.to_str().unwrap()])
            .status
            .success()
    );
    for (name, bytes) in &cases {
        assert_eq!(
            &std::fs::read(presets.join(format!("{name}.ron"))).unwrap(),
            bytes
        );
    }
    // Saving over a broken one keeps its bytes aside.
    let out = sockscope(
        dir.path(),
        &[
            "presets",
            "import",
            good.to_str().unwrap(),
            "--name",
            "garbage",
            "--replace",
        ],
    );
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("did not parse; it was kept"));
    let aside: Vec<_> = std::fs::read_dir(&presets)
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with("garbage.ron.corrupt-")
        })
        .collect();
    assert_eq!(aside.len(), 1);
    assert_eq!(std::fs::read(aside[0].path()).unwrap(), cases[2].1);
}

/// The `save_loop` example: `cargo test` builds examples next to the tests;
/// a filtered run (`--test presets_store`) builds it here.
fn save_loop_exe() -> std::path::PathBuf {
    let me = std::env::current_exe().unwrap();
    let debug = me.parent().and_then(Path::parent).unwrap();
    let exe = debug.join("examples").join("save_loop");
    if !exe.exists() {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let st = Command::new(cargo)
            .args(["build", "--example", "save_loop"])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .status()
            .unwrap();
        assert!(st.success());
    }
    exe
}

#[test]
fn a_save_killed_midway_never_leaves_a_truncated_preset() {
    let exe = save_loop_exe();
    assert!(
        exe.exists(),
        "cargo test builds examples: {}",
        exe.display()
    );
    let dir = tempfile::tempdir().unwrap();
    let store = sockscope::store::Store::at(dir.path());
    let mut mid_write = 0;
    let rounds = 30u64;
    for i in 0..rounds {
        let mut child = Command::new(&exe)
            .arg(dir.path())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        if i % 2 == 0 {
            // Kill at a moment spread over several saves.
            std::thread::sleep(std::time::Duration::from_millis(30 + (i * 53) % 400));
        } else {
            // Kill the moment a temp file appears: mid-write, where a
            // non-atomic save would leave half a preset.
            let temp = dir
                .path()
                .join(format!("presets/.crash.ron.tmp-{}", child.id()));
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
            while !temp.exists() && std::time::Instant::now() < deadline {
                std::hint::spin_loop();
            }
        }
        child.kill().unwrap();
        let status = child.wait().unwrap();
        assert!(
            status.code().is_none(),
            "the writer was killed, not finished"
        );
        // Before the first save the folder may not exist yet.
        let temps: Vec<_> = std::fs::read_dir(dir.path().join("presets"))
            .into_iter()
            .flatten()
            .filter_map(Result::ok)
            .filter(|e| {
                e.file_name()
                    .to_string_lossy()
                    .starts_with(".crash.ron.tmp")
            })
            .collect();
        if !temps.is_empty() {
            mid_write += 1;
            for t in temps {
                std::fs::remove_file(t.path()).unwrap();
            }
        }
        if let Some(p) = store.find("crash") {
            let spec = p.loaded.unwrap_or_else(|e| panic!("round {i}: {e}"));
            assert_eq!(spec.snippets.len(), 64, "round {i}");
        }
    }
    eprintln!("{mid_write} of {rounds} kills landed while a temp file was being written");
    assert!(mid_write > 0, "some kills interrupted a write");
}

#[test]
fn two_processes_saving_different_presets_both_survive() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a.ron");
    let b = dir.path().join("b.ron");
    for round in 0..10 {
        std::fs::write(
            &a,
            format!(
                "(name: \"alpha\", kind: SocketPair, recv_buffer: {})",
                100 + round
            ),
        )
        .unwrap();
        std::fs::write(
            &b,
            format!(
                "(name: \"beta\", kind: SocketPair, recv_buffer: {})",
                200 + round
            ),
        )
        .unwrap();
        let spawn = |f: &Path| {
            Command::new(BIN)
                .arg("--config-dir")
                .arg(dir.path())
                .args(["presets", "import", f.to_str().unwrap(), "--replace"])
                .stdout(Stdio::null())
                .spawn()
                .unwrap()
        };
        let (mut x, mut y) = (spawn(&a), spawn(&b));
        assert!(x.wait().unwrap().success());
        assert!(y.wait().unwrap().success());
        let list = String::from_utf8(sockscope(dir.path(), &["presets", "list"]).stdout).unwrap();
        assert!(list.contains("saved     alpha"), "{list}");
        assert!(list.contains("saved     beta"), "{list}");
        let text = std::fs::read_to_string(dir.path().join("presets/alpha.ron")).unwrap();
        assert!(
            text.contains(&format!("recv_buffer: {}", 100 + round)),
            "{text}"
        );
    }
}

#[test]
fn export_and_run_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let out_file = dir.path().join("socketpair-copy.ron");
    let out = sockscope(
        dir.path(),
        &[
            "presets",
            "export",
            "socketpair",
            out_file.to_str().unwrap(),
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = sockscope(
        dir.path(),
        &[
            "presets",
            "import",
            out_file.to_str().unwrap(),
            "--name",
            "pair",
        ],
    );
    assert!(out.status.success());
    let out = sockscope(dir.path(), &["run", "pair"]);
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("\"data\":\"hello world.\""), "{text}");
    let out = sockscope(dir.path(), &["run", "no-such-preset"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("presets list"));
    let out = sockscope(dir.path(), &["presets", "delete", "pair"]);
    assert!(out.status.success());
    assert!(!dir.path().join("presets/pair.ron").exists());
}

/// Regression (hostile input, item 6): `presets export` wrote over any
/// file without asking, even a broken preset inside presets/.
#[test]
fn export_never_writes_over_a_file_unless_asked_and_never_over_a_non_preset() {
    let dir = tempfile::tempdir().unwrap();
    let notes = dir.path().join("notes.txt");
    std::fs::write(&notes, b"my notes").unwrap();
    let n = notes.to_str().unwrap();
    let out = sockscope(dir.path(), &["presets", "export", "echo-server", n]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--replace"));
    let out = sockscope(
        dir.path(),
        &["presets", "export", "echo-server", n, "--replace"],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("does not parse"));
    assert_eq!(std::fs::read(&notes).unwrap(), b"my notes");
    // A broken preset in presets/ is not written over either.
    let presets = dir.path().join("presets");
    std::fs::create_dir_all(&presets).unwrap();
    let broken = presets.join("b.ron");
    std::fs::write(&broken, b"(name: \"b\", kind: Nope)").unwrap();
    let b = broken.to_str().unwrap();
    let out = sockscope(
        dir.path(),
        &["presets", "export", "echo-server", b, "--replace"],
    );
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        std::fs::read(&broken).unwrap(),
        b"(name: \"b\", kind: Nope)"
    );
    // A new file, then over a preset when asked.
    let new = dir.path().join("e.ron");
    let e = new.to_str().unwrap();
    assert!(
        sockscope(dir.path(), &["presets", "export", "echo-server", e])
            .status
            .success()
    );
    assert_eq!(
        sockscope(dir.path(), &["presets", "export", "tcp-client", e])
            .status
            .code(),
        Some(2)
    );
    assert!(
        sockscope(
            dir.path(),
            &["presets", "export", "tcp-client", e, "--replace"]
        )
        .status
        .success()
    );
    assert!(
        std::fs::read_to_string(&new)
            .unwrap()
            .contains("tcp-client")
    );
}

/// Regression (hostile input, item 6): two concurrent `presets import
/// --name same` without --replace both reported success (in 183 of 200
/// rounds), one silently replacing the other. Creating is atomic now:
/// exactly one wins, the other is told the name is taken.
#[test]
fn concurrent_imports_of_one_name_have_exactly_one_winner() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a.ron");
    let b = dir.path().join("b.ron");
    std::fs::write(&a, r#"(name: "a", kind: SocketPair)"#).unwrap();
    std::fs::write(&b, r#"(name: "b", kind: SocketPair, responder: Echo)"#).unwrap();
    for round in 0..40 {
        let name = format!("same{round}");
        let spawn = |f: &Path| {
            Command::new(BIN)
                .arg("--config-dir")
                .arg(dir.path())
                .args(["presets", "import"])
                .arg(f)
                .args(["--name", &name])
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        };
        let (pa, pb) = (spawn(&a), spawn(&b));
        let (oa, ob) = (
            pa.wait_with_output().unwrap(),
            pb.wait_with_output().unwrap(),
        );
        let wins = [&oa, &ob].iter().filter(|o| o.status.success()).count();
        assert_eq!(wins, 1, "round {round}: {wins} winners");
        let loser = if oa.status.success() { &ob } else { &oa };
        assert!(
            String::from_utf8_lossy(&loser.stderr).contains("already exists"),
            "{}",
            String::from_utf8_lossy(&loser.stderr)
        );
    }
}

/// Regression (hostile input, item 11): on a full disk a broken file was
/// moved aside, then the write failed and the preset vanished from the
/// list. The new bytes are written first now, so a failed write changes
/// nothing. (RLIMIT_FSIZE stands in for a full disk: writes past it fail.)
#[test]
fn a_write_that_fails_leaves_the_broken_file_where_it_was() {
    use std::os::unix::process::CommandExt;
    let dir = tempfile::tempdir().unwrap();
    let presets = dir.path().join("presets");
    std::fs::create_dir_all(&presets).unwrap();
    let broken = presets.join("x.ron");
    std::fs::write(&broken, b"(name: \"x\", kind: Nope)").unwrap();
    let src = dir.path().join("new.ron");
    std::fs::write(&src, r#"(name: "x", kind: SocketPair, responder: Echo)"#).unwrap();
    let mut cmd = Command::new(BIN);
    cmd.arg("--config-dir")
        .arg(dir.path())
        .args(["presets", "import"])
        .arg(&src);
    // SAFETY: signal and setrlimit are async-signal-safe; only the child's
    // limit changes, and SIGXFSZ is ignored so the write fails with EFBIG.
    unsafe {
        cmd.pre_exec(|| {
            libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
            let lim = libc::rlimit {
                rlim_cur: 8,
                rlim_max: 8,
            };
            libc::setrlimit(libc::RLIMIT_FSIZE, &lim);
            Ok(())
        });
    }
    let out = cmd.output().unwrap();
    assert_eq!(out.status.code(), Some(2), "the write must fail");
    assert_eq!(
        std::fs::read(&broken).unwrap(),
        b"(name: \"x\", kind: Nope)"
    );
    let names: Vec<String> = std::fs::read_dir(&presets)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        names,
        vec!["x.ron".to_string()],
        "nothing moved, no temp left"
    );
}
