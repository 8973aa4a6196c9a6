//! Property tests of everything that reads untrusted text or bytes: the
//! preset loader, the hex and escape parsers, the decoders. They run a
//! bounded number of cases in CI (`PROPTEST_CASES` raises it by hand).

use std::path::Path;

use proptest::prelude::*;
use sockscope::engine::codec::{self, Encoding};
use sockscope::engine::protocol::{Addr, Direction, Event, EventKind, LogEntry, SessionId, Stamp};
use sockscope::headless;
use sockscope::preset::{self, BUILTIN};

/// Every encoding the pickers offer.
const LABELS: &[&str] = codec::COMMON_ENCODINGS;

fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases: std::env::var("PROPTEST_CASES")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(cases),
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(config(3000))]

    /// Any text: an error or a spec, never a panic.
    #[test]
    fn loader_survives_any_text(s in "\\PC{0,300}") {
        let _ = preset::parse_str(Path::new("fuzz.ron"), &s);
    }

    /// Built-in presets with bytes replaced, inserted or removed: errors
    /// point inside the file, and nothing panics.
    #[test]
    fn loader_survives_mutated_presets(
        which in 0..BUILTIN.len(),
        edits in prop::collection::vec((any::<usize>(), any::<u8>(), 0u8..3), 1..10),
    ) {
        let mut bytes = BUILTIN[which].1.as_bytes().to_vec();
        for (at, b, op) in edits {
            if bytes.is_empty() {
                break;
            }
            let at = at % bytes.len();
            match op {
                0 => bytes[at] = b,
                1 => bytes.insert(at, b),
                _ => {
                    bytes.remove(at);
                }
            }
        }
        let text = String::from_utf8_lossy(&bytes);
        if let Err(e) = preset::parse_str(Path::new("fuzz.ron"), &text) {
            let lines = text.lines().count().max(1);
            prop_assert!(e.line <= lines + 1, "line {} of {lines}: {e}", e.line);
            prop_assert!(!e.message.is_empty());
        }
    }

    /// Hex and escape parsing of anything: Ok or a positioned error.
    #[test]
    fn payload_parsers_survive_anything(s in "\\PC{0,200}", enc in 0..LABELS.len()) {
        let enc = Encoding::for_label(LABELS[enc]).unwrap();
        match codec::parse_hex(&s) {
            Ok(b) => prop_assert_eq!(codec::parse_hex(&codec::to_hex(&b)).unwrap(), b),
            Err(e) => prop_assert!(!e.to_string().is_empty()),
        }
        let _ = codec::parse_escaped(&s, enc);
        let _ = enc.encode(&s);
    }

    /// What the log shows for any bytes parses back to exactly those bytes
    /// (in the encodings where every byte string has one spelling): nothing
    /// a peer sends is hidden or changed.
    #[test]
    fn shown_bytes_parse_back_exactly(
        bytes in prop::collection::vec(any::<u8>(), 0..300),
        label in prop::sample::select(vec!["UTF-8", "ISO-8859-1", "UTF-16LE", "UTF-16BE"]),
    ) {
        let e = Encoding::for_label(label).unwrap();
        let shown = e.decode_escaped(&bytes, true);
        prop_assert_eq!(codec::parse_escaped(&shown, e).unwrap(), bytes);
    }

    /// Every encoding shows any bytes without panicking.
    #[test]
    fn every_encoding_shows_any_bytes(bytes in prop::collection::vec(any::<u8>(), 0..300), enc in 0..LABELS.len()) {
        let e = Encoding::for_label(LABELS[enc]).unwrap();
        let shown = e.decode_escaped(&bytes, true);
        prop_assert!(bytes.is_empty() || !shown.is_empty());
    }
}

proptest! {
    #![proptest_config(config(3000))]

    /// A peer's bytes never crash the HTTP reader.
    #[test]
    fn http_reader_survives_any_bytes(bytes in prop::collection::vec(any::<u8>(), 0..600), head in any::<bool>()) {
        let mut p = sockscope::http::ResponseParser::new(head);
        p.feed(&bytes);
        p.eof();
    }

    /// However the bytes are split into reads, the response is the same.
    #[test]
    fn http_reader_ignores_how_bytes_are_split(
        body in prop::collection::vec(any::<u8>(), 0..200),
        chunk in 1usize..40,
        cut in prop::collection::vec(1usize..50, 1..20),
    ) {
        let mut text = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
        for part in body.chunks(chunk) {
            text.extend_from_slice(format!("{:x}\r\n", part.len()).as_bytes());
            text.extend_from_slice(part);
            text.extend_from_slice(b"\r\n");
        }
        text.extend_from_slice(b"0\r\n\r\n");
        let mut whole = sockscope::http::ResponseParser::new(false);
        whole.feed(&text);
        let mut split = sockscope::http::ResponseParser::new(false);
        let mut at = 0;
        let mut i = 0;
        while at < text.len() {
            let n = cut[i % cut.len()].min(text.len() - at);
            split.feed(&text[at..at + n]);
            at += n;
            i += 1;
        }
        prop_assert_eq!(split.response(), whole.response());
        prop_assert_eq!(&whole.response().body, &body);
        prop_assert!(whole.response().complete);
    }
}

// ---------------------------------------------------------------------------
// The exporters: a preset is hostile input, and its values end up in a
// program the user runs. Every value goes through one literal writer per
// language; these tests prove it for arbitrary strings and bytes by parsing
// each program with the language's own parser (Python's `ast`, `syn` for
// Rust) and comparing it with the same script made of harmless placeholders:
// the two must have the same structure, and every literal must evaluate to
// the value it came from.

mod exporters {
    use proptest::prelude::*;
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    use sockscope::engine::stepper::{AddrArg, Call, Family, SockType};
    use sockscope::export;

    /// Text a hostile preset would hold: anything, or the pieces that break
    /// out of literals and comments.
    fn hostile_text() -> impl Strategy<Value = String> {
        let pieces = vec![
            "'",
            "\"",
            "\\",
            "\n",
            "\r",
            "\r\n",
            "\t",
            "\0",
            "#",
            "//",
            "*/",
            "/*",
            "{",
            "}",
            "\u{202e}",
            "\u{2066}",
            "\u{2028}",
            "\u{85}",
            "\u{feff}",
            "\u{1b}[2J",
            "''' ",
            "\"\"\"",
            "); import os; os.system('id') #",
            "\"); std::process::exit(3); (\"",
            "你好",
            "é",
            "\u{10ffff}",
            "x",
        ];
        prop_oneof![
            any::<String>(),
            prop::collection::vec(prop::sample::select(pieces), 0..8).prop_map(|v| v.concat()),
        ]
    }

    #[derive(Clone, Debug)]
    struct Values {
        name: String,
        var: String,
        into: String,
        path: String,
        at: String,
        host: String,
        caveat: String,
        data: Vec<u8>,
        sep: Vec<u8>,
        secs: f64,
    }

    fn values() -> impl Strategy<Value = Values> {
        (
            (
                hostile_text(),
                hostile_text(),
                hostile_text(),
                hostile_text(),
            ),
            (hostile_text(), hostile_text(), hostile_text()),
            prop::collection::vec(any::<u8>(), 0..64),
            prop::collection::vec(any::<u8>(), 1..8),
            0.001f64..1e6,
        )
            .prop_map(
                |((name, var, into, path), (at, host, caveat), data, sep, secs)| Values {
                    name,
                    var,
                    into,
                    path,
                    at,
                    host,
                    caveat,
                    data,
                    sep,
                    secs,
                },
            )
    }

    /// The placeholders: plain ASCII that every writer leaves as it is.
    fn placeholders() -> Values {
        Values {
            name: "PHNAME".into(),
            var: "ph1".into(),
            into: "ph2".into(),
            path: "PHPATH".into(),
            at: "PHAT".into(),
            host: "PHHOST".into(),
            caveat: "PHCAVEAT".into(),
            data: b"PHDATA".to_vec(),
            sep: b"PHSEP".to_vec(),
            secs: 1.5,
        }
    }

    /// One script that carries every kind of value to its writer.
    fn script(v: &Values) -> Vec<Call> {
        let a = |s: String| AddrArg(s);
        vec![
            Call::Socket {
                var: v.var.clone(),
                family: Family::Unix,
                ty: SockType::Stream,
            },
            Call::SetTimeout {
                var: v.var.clone(),
                secs: Some(v.secs),
            },
            Call::Bind {
                var: v.var.clone(),
                addr: a(format!("/{}", v.path)),
            },
            Call::Connect {
                var: v.var.clone(),
                addr: a(format!("@{}", v.at)),
            },
            Call::ConnectEx {
                var: v.var.clone(),
                // Never `host:port`, which is written as a tuple instead.
                addr: a(format!("h{}x", v.host)),
            },
            Call::SendTo {
                var: v.var.clone(),
                data: v.data.clone(),
                addr: a(format!("./{}", v.path)),
            },
            Call::Send {
                var: v.var.clone(),
                data: v.data.clone(),
            },
            Call::ReadUntil {
                var: v.var.clone(),
                sep: v.sep.clone(),
            },
            Call::Accept {
                var: v.var.clone(),
                into: v.into.clone(),
            },
            Call::Recv {
                var: v.into.clone(),
                n: 16,
            },
            Call::GetSockName {
                var: v.into.clone(),
            },
            Call::Backlog {
                var: v.into.clone(),
            },
            Call::Close {
                var: v.into.clone(),
            },
        ]
    }

    fn program(v: &Values, python: bool) -> String {
        let calls = script(v);
        let code = if python {
            export::python(&v.name, &calls)
        } else {
            export::rust(&v.name, &calls)
        };
        export::with_caveats(code, std::slice::from_ref(&v.caveat), python)
    }

    /// What each placeholder literal must read as in the hostile program.
    #[derive(Debug, PartialEq)]
    enum Lit {
        Str(String),
        Bytes(Vec<u8>),
        Float(f64),
        Other(String),
    }

    fn expected(ph: &Lit, v: &Values) -> Option<Lit> {
        let p = placeholders();
        Some(match ph {
            Lit::Str(s) if *s == p.var => Lit::Str(v.var.clone()),
            Lit::Str(s) if *s == p.into => Lit::Str(v.into.clone()),
            Lit::Str(s) if *s == format!("/{}", p.path) => Lit::Str(format!("/{}", v.path)),
            Lit::Str(s) if *s == format!("./{}", p.path) => Lit::Str(format!("./{}", v.path)),
            Lit::Str(s) if *s == p.at => Lit::Str(v.at.clone()),
            Lit::Str(s) if *s == format!("h{}x", p.host) => Lit::Str(format!("h{}x", v.host)),
            Lit::Bytes(b) if *b == p.data => Lit::Bytes(v.data.clone()),
            Lit::Bytes(b) if *b == p.sep => Lit::Bytes(v.sep.clone()),
            Lit::Float(f) if *f == p.secs => Lit::Float(v.secs),
            _ => return None,
        })
    }

    fn cases() -> Vec<Values> {
        let n = std::env::var("PROPTEST_CASES")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(1000);
        let mut runner = TestRunner::deterministic();
        let strategy = values();
        (0..n)
            .map(|_| strategy.new_tree(&mut runner).unwrap().current())
            .collect()
    }

    /// Python: `ast.parse` both programs in one python3 process; the dumps
    /// with every constant and name blanked must match, and each constant
    /// of the hostile program must equal the value its placeholder stands
    /// for.
    #[test]
    fn python_export_quotes_every_value() {
        let cases = cases();
        let p = placeholders();
        let benign = program(&p, true);
        let batch: Vec<String> = cases.iter().map(|v| program(v, true)).collect();
        let input = serde_json::json!({ "benign": benign, "cases": batch });
        const CHECK: &str = r#"
import ast, json, sys
inp = json.load(sys.stdin)
def blank(src):
    t = ast.parse(src)
    for n in ast.walk(t):
        if isinstance(n, ast.Constant):
            n.value = None
        elif isinstance(n, ast.Name):
            n.id = 'N'
    return ast.dump(t)
def consts(src):
    out = []
    for n in ast.walk(ast.parse(src)):
        if isinstance(n, ast.Constant):
            v = n.value
            if isinstance(v, bytes):
                out.append(['b', v.hex()])
            elif isinstance(v, str):
                out.append(['s', v])
            elif isinstance(v, float):
                out.append(['f', repr(v)])
            else:
                out.append(['o', repr(v)])
    return out
shape = blank(inp['benign'])
res = []
for src in inp['cases']:
    try:
        ok = blank(src) == shape
        res.append({'same_shape': ok, 'consts': consts(src), 'first': src.split('\n', 1)[0]})
    except SyntaxError as e:
        res.append({'syntax_error': str(e)})
res.append({'benign': consts(inp['benign'])})
json.dump(res, sys.stdout)
"#;
        let mut child = std::process::Command::new("python3")
            .args(["-c", CHECK])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("python3 runs (the tests need it)");
        {
            use std::io::Write;
            let mut stdin = child.stdin.take().unwrap();
            stdin.write_all(input.to_string().as_bytes()).unwrap();
        }
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "the checker failed");
        let res: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
        let lit = |c: &serde_json::Value| -> Lit {
            let k = c[0].as_str().unwrap();
            match k {
                "s" => Lit::Str(c[1].as_str().unwrap().to_string()),
                "b" => {
                    Lit::Bytes(sockscope::engine::codec::parse_hex(c[1].as_str().unwrap()).unwrap())
                }
                "f" => Lit::Float(c[1].as_str().unwrap().parse().unwrap()),
                _ => Lit::Other(c[1].to_string()),
            }
        };
        let benign: Vec<Lit> = res.last().unwrap()["benign"]
            .as_array()
            .unwrap()
            .iter()
            .map(lit)
            .collect();
        assert!(
            benign.contains(&Lit::Str("/PHPATH".into())),
            "the placeholders reach the program"
        );
        for (v, r) in cases.iter().zip(&res) {
            assert!(
                r.get("syntax_error").is_none(),
                "{v:?}: {}",
                r["syntax_error"]
            );
            assert_eq!(r["first"], "#!/usr/bin/env python3", "{v:?}");
            assert!(
                r["same_shape"].as_bool().unwrap(),
                "the program's shape changed: {v:?}"
            );
            let got: Vec<Lit> = r["consts"].as_array().unwrap().iter().map(lit).collect();
            assert_eq!(got.len(), benign.len(), "{v:?}");
            for (ph, g) in benign.iter().zip(&got) {
                match expected(ph, v) {
                    Some(want) => assert_eq!(*g, want, "{v:?}"),
                    None => assert_eq!(g, ph, "a fixed literal changed: {v:?}"),
                }
            }
        }
    }

    fn rust_tokens(src: &str) -> (String, Vec<Lit>) {
        use proc_macro2::{TokenStream, TokenTree};
        fn walk(ts: TokenStream, shape: &mut String, lits: &mut Vec<Lit>) {
            for t in ts {
                match t {
                    TokenTree::Group(g) => {
                        shape.push_str(&format!("{:?}(", g.delimiter()));
                        walk(g.stream(), shape, lits);
                        shape.push(')');
                    }
                    TokenTree::Literal(l) => {
                        shape.push_str("L ");
                        let parsed: syn::Lit = syn::parse2(TokenTree::Literal(l.clone()).into())
                            .expect("a literal token parses as a literal");
                        lits.push(match parsed {
                            syn::Lit::Str(s) => Lit::Str(s.value()),
                            syn::Lit::ByteStr(b) => Lit::Bytes(b.value()),
                            syn::Lit::Float(f) => Lit::Float(f.base10_parse().unwrap()),
                            _ => Lit::Other(l.to_string()),
                        });
                    }
                    other => {
                        shape.push_str(&other.to_string());
                        shape.push(' ');
                    }
                }
            }
        }
        let ts: TokenStream = src.parse().expect("the program lexes");
        let mut shape = String::new();
        let mut lits = Vec::new();
        walk(ts, &mut shape, &mut lits);
        (shape, lits)
    }

    /// Rust: every program parses as a file with `syn`; its tokens, with
    /// literals blanked, match the placeholder program's (macro arguments
    /// included), and each literal evaluates to its value.
    #[test]
    fn rust_export_quotes_every_value() {
        let p = placeholders();
        let benign_src = program(&p, false);
        syn::parse_file(&benign_src).expect("the placeholder program parses");
        let (shape, benign) = rust_tokens(&benign_src);
        assert!(benign.contains(&Lit::Str("/PHPATH".into())));
        for v in cases() {
            let src = program(&v, false);
            if let Err(e) = syn::parse_file(&src) {
                panic!("{v:?}: {e}\n{src}");
            }
            let (s, got) = rust_tokens(&src);
            assert_eq!(s, shape, "the program's shape changed: {v:?}");
            assert_eq!(got.len(), benign.len());
            for (ph, g) in benign.iter().zip(&got) {
                match expected(ph, &v) {
                    Some(want) => assert_eq!(*g, want, "{v:?}"),
                    None => assert_eq!(g, ph, "a fixed literal changed: {v:?}"),
                }
            }
        }
    }

    /// Regression: a preset `name` with a newline broke out of the header
    /// comment, and a Unix path with `'` out of its literal; running the
    /// exported Python executed the injected line.
    #[test]
    fn exported_python_does_not_run_injected_code() {
        let dir = tempfile::tempdir().unwrap();
        let marker = dir.path().join("pwned");
        let inject = format!("open({:?}, 'w').write('x')", marker.display().to_string());
        let calls = vec![
            Call::Socket {
                var: "s".into(),
                family: Family::Unix,
                ty: SockType::Stream,
            },
            Call::Bind {
                var: "s".into(),
                addr: AddrArg(format!("{}/a'); {inject}; ('", dir.path().display())),
            },
            Call::Close { var: "s".into() },
        ];
        let code = export::python(&format!("x\n{inject}\n#"), &calls);
        let file = dir.path().join("p.py");
        std::fs::write(&file, code).unwrap();
        let out = std::process::Command::new("python3")
            .arg(&file)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(!marker.exists(), "the exported program ran injected code");
        let stdout = String::from_utf8_lossy(&out.stdout);
        // The path (with its quote) reached bind() as one string.
        assert!(stdout.contains("bind errno"), "{stdout}");
    }
}

proptest! {
    #![proptest_config(config(3000))]

    /// `sockscope run` writes data lines field by field: the same bytes as
    /// serializing the line's `Value`, whatever the payload (bytes or
    /// text), encoding, data limit, session id (with a child or not), peer
    /// (IPv4, IPv6, a Unix path with quotes, controls or non-UTF-8 text)
    /// and optional fields.
    #[test]
    fn data_lines_written_field_by_field_match_the_value(
        // Any bytes, and text: printable ASCII and any UTF-8 (the runner
        // writes text that needs no escape as it is).
        data in prop_oneof![
            prop::collection::vec(any::<u8>(), 0..400),
            "[ -~]{0,300}".prop_map(String::into_bytes),
            "\\PC{0,120}".prop_map(String::into_bytes),
        ],
        enc in 0..LABELS.len(),
        limit in prop::option::of(0usize..300),
        peer in prop::option::of(prop_oneof![
            any::<std::net::SocketAddr>().prop_map(Addr::Inet),
            "\\PC{0,40}".prop_map(Addr::Path),
            "[\\x00-\\x7f]{0,20}".prop_map(Addr::Abstract),
            Just(Addr::Unnamed),
        ]),
        requested in prop::option::of(any::<usize>()),
        truncated_from in prop::option::of(any::<usize>()),
        out in any::<bool>(),
        nanos in any::<u64>(),
        ids in (any::<u32>(), prop_oneof![Just(0u32), any::<u32>()]),
    ) {
        let enc = Encoding::for_label(LABELS[enc]).unwrap();
        let ev = Event {
            session: SessionId::top(ids.0).child(ids.1),
            at: Stamp {
                mono: std::time::Duration::from_nanos(nanos),
                wall: std::time::SystemTime::UNIX_EPOCH,
            },
            kind: EventKind::Log(LogEntry {
                dir: if out { Direction::Out } else { Direction::In },
                peer,
                data,
                requested,
                truncated_from,
                ws: None,
                framed: None,
            }),
        };
        let mut want = serde_json::to_vec(&headless::event_json(&ev, enc, limit)).unwrap();
        want.push(b'\n');
        let mut line = Vec::new();
        headless::write_line(&mut line, &ev, enc, limit);
        prop_assert_eq!(String::from_utf8_lossy(&line), String::from_utf8_lossy(&want));
        prop_assert_eq!(line, want);
    }
}
