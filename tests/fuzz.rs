//! Property tests of everything that reads untrusted text or bytes: the
//! preset loader, the hex and escape parsers, the decoders. They run a
//! bounded number of cases in CI (`PROPTEST_CASES` raises it by hand).

use std::path::Path;

use proptest::prelude::*;
use sockscope::engine::codec::{self, Encoding};
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
