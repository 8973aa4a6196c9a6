//! Bytes <-> text: the encodings a user can pick, the escape grammar shared by
//! the composer and the log, and hex parsing.
//!
//! Escape grammar (used both ways, so a logged payload can be pasted back):
//! `\\` backslash, `\r` `\n` `\t` `\0`, `\xNN` one raw byte, `\"` quote.
//! Any other character stands for itself and is encoded in the chosen
//! encoding.

use std::fmt;

/// A text encoding a session can use to show and compose payloads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Encoding {
    /// UTF-8, the default.
    #[default]
    Utf8,
    /// UTF-16 little endian (encoding_rs decodes but does not encode it).
    Utf16Le,
    /// UTF-16 big endian.
    Utf16Be,
    /// True ISO-8859-1: byte N is U+00NN. encoding_rs maps the label to
    /// windows-1252, which is not what a byte-level tool should show.
    Latin1,
    /// Any other WHATWG encoding (GBK, GB18030, Big5, Shift_JIS, ...).
    Whatwg(&'static encoding_rs::Encoding),
}

/// The encodings offered in pickers, by their canonical label.
pub const COMMON_ENCODINGS: &[&str] = &[
    "UTF-8",
    "GBK",
    "GB18030",
    "Big5",
    "Shift_JIS",
    "EUC-KR",
    "ISO-8859-1",
    "windows-1252",
    "UTF-16LE",
    "UTF-16BE",
];

impl Encoding {
    /// Looks an encoding up by label (case-insensitive, WHATWG labels plus
    /// `latin-1`/`iso-8859-1` as true Latin-1).
    pub fn for_label(label: &str) -> Option<Encoding> {
        let l = label.trim().to_ascii_lowercase();
        match l.as_str() {
            "utf-8" | "utf8" => return Some(Encoding::Utf8),
            "utf-16le" | "utf16le" | "utf-16" => return Some(Encoding::Utf16Le),
            "utf-16be" | "utf16be" => return Some(Encoding::Utf16Be),
            "latin-1" | "latin1" | "iso-8859-1" | "iso8859-1" | "l1" => {
                return Some(Encoding::Latin1);
            }
            _ => {}
        }
        encoding_rs::Encoding::for_label(l.as_bytes()).map(|e| {
            if e == encoding_rs::UTF_8 {
                Encoding::Utf8
            } else {
                Encoding::Whatwg(e)
            }
        })
    }

    /// The canonical name shown to users and written to presets.
    pub fn name(&self) -> &'static str {
        match self {
            Encoding::Utf8 => "UTF-8",
            Encoding::Utf16Le => "UTF-16LE",
            Encoding::Utf16Be => "UTF-16BE",
            Encoding::Latin1 => "ISO-8859-1",
            Encoding::Whatwg(e) => e.name(),
        }
    }

    /// Encodes text; fails on the first character the encoding cannot hold.
    pub fn encode(&self, text: &str) -> Result<Vec<u8>, CodecError> {
        match self {
            Encoding::Utf8 => Ok(text.as_bytes().to_vec()),
            Encoding::Utf16Le => Ok(text.encode_utf16().flat_map(u16::to_le_bytes).collect()),
            Encoding::Utf16Be => Ok(text.encode_utf16().flat_map(u16::to_be_bytes).collect()),
            Encoding::Latin1 => text
                .chars()
                .enumerate()
                .map(|(i, c)| {
                    u8::try_from(u32::from(c)).map_err(|_| CodecError::Unencodable {
                        ch: c,
                        at: i,
                        encoding: self.name(),
                    })
                })
                .collect(),
            Encoding::Whatwg(e) => {
                let mut encoder = e.new_encoder();
                let mut out = Vec::with_capacity(text.len() * 2);
                let mut src = text;
                let mut consumed_chars = 0usize;
                loop {
                    out.reserve(
                        encoder
                            .max_buffer_length_from_utf8_without_replacement(src.len())
                            .unwrap_or(src.len() * 4 + 16),
                    );
                    let (res, read) =
                        encoder.encode_from_utf8_to_vec_without_replacement(src, &mut out, true);
                    match res {
                        encoding_rs::EncoderResult::InputEmpty => return Ok(out),
                        encoding_rs::EncoderResult::OutputFull => {
                            consumed_chars += src[..read].chars().count();
                            src = &src[read..];
                        }
                        encoding_rs::EncoderResult::Unmappable(ch) => {
                            let at = consumed_chars + src[..read].chars().count() - 1;
                            return Err(CodecError::Unencodable {
                                ch,
                                at,
                                encoding: self.name(),
                            });
                        }
                    }
                }
            }
        }
    }

    /// Decodes bytes for display. Undecodable bytes become `\xNN` and a
    /// literal backslash becomes `\\`, so nothing is hidden or ambiguous.
    /// With `escape_controls`, control characters are escaped too (for
    /// one-line views); JSON output leaves them to the JSON encoder.
    pub fn decode_escaped(&self, bytes: &[u8], escape_controls: bool) -> String {
        let mut out = String::with_capacity(bytes.len() + 8);
        match self {
            Encoding::Latin1 => {
                for &b in bytes {
                    push_char(&mut out, char::from(b), escape_controls, *self);
                }
            }
            Encoding::Utf16Le | Encoding::Utf16Be => {
                let le = matches!(self, Encoding::Utf16Le);
                let units = bytes.chunks(2);
                let mut pending: Vec<(u16, [u8; 2])> = Vec::new();
                for chunk in units {
                    if chunk.len() == 1 {
                        flush_utf16(&mut out, &mut pending, escape_controls, *self);
                        push_byte(&mut out, chunk[0]);
                        continue;
                    }
                    let raw = [chunk[0], chunk[1]];
                    let u = if le {
                        u16::from_le_bytes(raw)
                    } else {
                        u16::from_be_bytes(raw)
                    };
                    pending.push((u, raw));
                }
                flush_utf16(&mut out, &mut pending, escape_controls, *self);
            }
            Encoding::Utf8 => {
                for chunk in bytes.utf8_chunks() {
                    push_str(&mut out, chunk.valid(), escape_controls, *self);
                    for &b in chunk.invalid() {
                        push_byte(&mut out, b);
                    }
                }
            }
            Encoding::Whatwg(e) => {
                let mut decoder = e.new_decoder_without_bom_handling();
                let mut src = bytes;
                let mut buf = String::with_capacity(bytes.len() * 3 + 16);
                loop {
                    buf.clear();
                    buf.reserve(
                        decoder
                            .max_utf8_buffer_length_without_replacement(src.len())
                            .unwrap_or(src.len() * 3 + 16),
                    );
                    let (res, read) =
                        decoder.decode_to_string_without_replacement(src, &mut buf, true);
                    push_str(&mut out, &buf, escape_controls, *self);
                    match res {
                        encoding_rs::DecoderResult::InputEmpty => break,
                        encoding_rs::DecoderResult::OutputFull => src = &src[read..],
                        encoding_rs::DecoderResult::Malformed(bad, extra) => {
                            let end = read.saturating_sub(usize::from(extra));
                            let start = end.saturating_sub(usize::from(bad));
                            for &b in &src[start..end] {
                                push_byte(&mut out, b);
                            }
                            // Bytes consumed after the malformed sequence are
                            // valid on their own: decode them again.
                            src = &src[end..];
                            decoder = e.new_decoder_without_bom_handling();
                        }
                    }
                }
            }
        }
        out
    }
}

fn flush_utf16(out: &mut String, pending: &mut Vec<(u16, [u8; 2])>, esc: bool, enc: Encoding) {
    let units: Vec<u16> = pending.iter().map(|(u, _)| *u).collect();
    let mut idx = 0;
    for r in char::decode_utf16(units.iter().copied()) {
        match r {
            Ok(c) => {
                push_char(out, c, esc, enc);
                idx += c.len_utf16();
            }
            Err(_) => {
                for &b in &pending[idx].1 {
                    push_byte(out, b);
                }
                idx += 1;
            }
        }
    }
    pending.clear();
}

fn push_byte(out: &mut String, b: u8) {
    use fmt::Write;
    let _ = write!(out, "\\x{b:02x}");
}

/// [`push_char`] for each character of `s`, with the runs that need no
/// escape copied whole (the runner decodes every read it prints).
fn push_str(out: &mut String, s: &str, escape_controls: bool, enc: Encoding) {
    // Every character `push_char` changes is ASCII, so a byte that needs it
    // is a whole character and the runs between are on char boundaries.
    let needs = |b: u8| b == b'\\' || (escape_controls && (b < 0x20 || b == 0x7f));
    let mut run = 0;
    for (i, b) in s.bytes().enumerate() {
        if needs(b) {
            out.push_str(&s[run..i]);
            push_char(out, char::from(b), escape_controls, enc);
            run = i + 1;
        }
    }
    out.push_str(&s[run..]);
}

fn push_char(out: &mut String, c: char, escape_controls: bool, enc: Encoding) {
    match c {
        '\\' => out.push_str("\\\\"),
        '\r' if escape_controls => out.push_str("\\r"),
        '\n' if escape_controls => out.push_str("\\n"),
        '\t' if escape_controls => out.push_str("\\t"),
        '\0' if escape_controls => out.push_str("\\0"),
        // C0 controls and DEL only: C1 controls (U+0080..) are real
        // characters in Latin-1 and escaping them as \xNN would not parse
        // back to the same bytes in UTF-8.
        // Other controls are shown as the bytes that encode them, so the
        // text parses back to the same bytes (two of them in UTF-16).
        c if escape_controls && (u32::from(c) < 0x20 || c == '\x7f') => {
            let mut buf = [0u8; 4];
            let bytes = enc
                .encode(c.encode_utf8(&mut buf))
                .unwrap_or_else(|_| vec![u32::from(c) as u8]);
            for b in bytes {
                push_byte(out, b);
            }
        }
        c => out.push(c),
    }
}

/// Why a payload could not be turned into bytes. Positions are 0-based
/// character offsets into what the user typed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CodecError {
    /// A character the chosen encoding has no bytes for.
    #[error(
        "character {ch:?} at position {at} cannot be encoded in {encoding}; pick an encoding that has it (e.g. UTF-8) or send it as \\x escapes"
    )]
    Unencodable {
        /// The character.
        ch: char,
        /// Character offset.
        at: usize,
        /// Encoding name.
        encoding: &'static str,
    },
    /// A character in hex input that is not a hex digit or separator.
    #[error(
        "hex: {found:?} at position {at} is not a hex digit; use pairs like 'de ad be ef' (spaces, ':' and '-' may separate bytes)"
    )]
    BadHexDigit {
        /// The offending character.
        found: char,
        /// Character offset.
        at: usize,
    },
    /// Hex input with an odd number of digits in a group.
    #[error(
        "hex: a lone digit {digit:?} at position {at}; every byte needs two digits (write 0{digit} for one)"
    )]
    OddHex {
        /// The lone digit.
        digit: char,
        /// Character offset.
        at: usize,
    },
    /// A backslash escape that the grammar does not know.
    #[error(
        "escape at position {at}: {message}; known escapes are \\\\ \\r \\n \\t \\0 \\\" and \\xNN"
    )]
    BadEscape {
        /// Character offset of the backslash.
        at: usize,
        /// What is wrong.
        message: String,
    },
}

/// Parses hex such as `de ad be ef`, `DEADBEEF`, `de:ad`, `0xde 0xad`.
/// Text safe to print on a terminal: control characters (ESC, CR, BEL,
/// ...), line and paragraph separators and bidi controls appear as
/// `\u{..}` escapes, so a name cannot clear the screen, move the cursor or
/// rewrite what was printed before it. Everything printed to a terminal
/// that a file, a peer or a user wrote goes through here.
pub fn for_terminal(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        let hidden = c.is_control()
            || matches!(
                c,
                '\u{200e}' | '\u{200f}' | '\u{2028}' | '\u{2029}' | '\u{feff}'
                    | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}'
            );
        if hidden {
            o.push_str(&format!("\\u{{{:x}}}", c as u32));
        } else {
            o.push(c);
        }
    }
    o
}

/// One shell word for any text, for a command line the user copies and
/// pastes: as it is when it holds only characters no shell treats
/// specially, in single quotes otherwise (a quote inside as `'\''`), and
/// as `$'..'` with `\xHH` escapes when it holds control characters, so
/// pasting a hostile Unix path can neither run anything nor drive the
/// terminal.
pub fn shell_quote(s: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "_@%+=:,./-".contains(c);
    if !s.is_empty() && s.chars().all(plain) {
        return s.to_string();
    }
    if for_terminal(s) == s {
        return format!("'{}'", s.replace('\'', "'\\''"));
    }
    let mut o = String::from("$'");
    for b in s.bytes() {
        match b {
            b'\'' | b'\\' => {
                o.push('\\');
                o.push(b as char);
            }
            0x20..=0x7e => o.push(b as char),
            _ => o.push_str(&format!("\\x{b:02x}")),
        }
    }
    o.push('\'');
    o
}

/// A bounded excerpt of a value for a message: at most `max` characters,
/// shown as [`for_terminal`] would, with the full size said when cut. An
/// error about an 8 MB string quotes its start, not all of it.
pub fn excerpt(s: &str, max: usize) -> String {
    let mut cut: String = s.chars().take(max).collect();
    if cut.len() < s.len() {
        cut.push_str(&format!("... ({} bytes in all)", s.len()));
    }
    for_terminal(&cut)
}

pub fn parse_hex(input: &str) -> Result<Vec<u8>, CodecError> {
    let mut out = Vec::with_capacity(input.len() / 2);
    let chars: Vec<char> = input.chars().collect();
    let mut i = 0;
    let mut high: Option<(char, usize)> = None;
    while i < chars.len() {
        let c = chars[i];
        if c == '0'
            && high.is_none()
            && matches!(chars.get(i + 1), Some('x' | 'X'))
            && chars.get(i + 2).is_some_and(|c| c.is_ascii_hexdigit())
        {
            i += 2;
            continue;
        }
        if let Some(v) = c.to_digit(16) {
            match high.take() {
                None => high = Some((c, i)),
                Some((h, _)) => {
                    let hv = h.to_digit(16).unwrap_or(0);
                    out.push((hv * 16 + v) as u8);
                }
            }
        } else if c.is_whitespace() || c == ':' || c == '-' || c == ',' {
            if let Some((digit, at)) = high {
                return Err(CodecError::OddHex { digit, at });
            }
        } else {
            return Err(CodecError::BadHexDigit { found: c, at: i });
        }
        i += 1;
    }
    if let Some((digit, at)) = high {
        return Err(CodecError::OddHex { digit, at });
    }
    Ok(out)
}

/// Formats bytes as lowercase hex pairs separated by spaces.
pub fn to_hex(bytes: &[u8]) -> String {
    let mut v = Vec::with_capacity(bytes.len() * 3);
    push_hex(&mut v, bytes);
    // Hex digits and spaces are ASCII.
    String::from_utf8(v).unwrap_or_default()
}

/// [`to_hex`], appended to bytes being written (a JSON line).
pub fn push_hex(out: &mut Vec<u8>, bytes: &[u8]) {
    // By table, not `write!("{b:02x}")`: the runner prints every read in
    // hex, and the formatter was a tenth of its CPU at 10,000 connections.
    // Written in place (the spaces first), not pushed byte by byte.
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let Some(len) = (bytes.len() * 3).checked_sub(1) else {
        return;
    };
    let start = out.len();
    out.resize(start + len, b' ');
    for (pair, b) in out[start..].chunks_mut(3).zip(bytes) {
        pair[0] = DIGITS[usize::from(b >> 4)];
        pair[1] = DIGITS[usize::from(b & 0xf)];
    }
}

/// Parses escaped text: characters (also those written as `\r`, `\n`,
/// `\t`, `\0`, `\\`, `\"`) are encoded with `encoding`; `\xNN` inserts
/// one raw byte.
pub fn parse_escaped(input: &str, encoding: Encoding) -> Result<Vec<u8>, CodecError> {
    let mut out = Vec::with_capacity(input.len());
    let mut literal = String::new();
    let mut literal_start = 0usize;
    let chars: Vec<char> = input.chars().collect();
    let mut i = 0;
    let flush = |lit: &mut String, start: usize, out: &mut Vec<u8>| -> Result<(), CodecError> {
        if !lit.is_empty() {
            let bytes = encoding.encode(lit).map_err(|e| match e {
                CodecError::Unencodable { ch, at, encoding } => CodecError::Unencodable {
                    ch,
                    at: at + start,
                    encoding,
                },
                other => other,
            })?;
            out.extend_from_slice(&bytes);
            lit.clear();
        }
        Ok(())
    };
    while i < chars.len() {
        let c = chars[i];
        if c != '\\' {
            if literal.is_empty() {
                literal_start = i;
            }
            literal.push(c);
            i += 1;
            continue;
        }
        let Some(&e) = chars.get(i + 1) else {
            return Err(CodecError::BadEscape {
                at: i,
                message: "a lone backslash at the end (write \\\\ for a backslash)".into(),
            });
        };
        // Character escapes stand for characters and are encoded like any
        // other (a newline is 0a 00 in UTF-16); \xNN is one raw byte.
        let ch = match e {
            '\\' => Some('\\'),
            'r' => Some('\r'),
            'n' => Some('\n'),
            't' => Some('\t'),
            '0' => Some('\0'),
            '"' => Some('"'),
            'x' => None,
            other => {
                return Err(CodecError::BadEscape {
                    at: i,
                    message: format!("unknown escape \\{other}"),
                });
            }
        };
        match ch {
            Some(c) => {
                if literal.is_empty() {
                    literal_start = i;
                }
                literal.push(c);
            }
            None => {
                flush(&mut literal, literal_start, &mut out)?;
                let h = chars.get(i + 2).and_then(|c| c.to_digit(16));
                let l = chars.get(i + 3).and_then(|c| c.to_digit(16));
                match (h, l) {
                    (Some(h), Some(l)) => {
                        out.push((h * 16 + l) as u8);
                        i += 2;
                    }
                    _ => {
                        return Err(CodecError::BadEscape {
                            at: i,
                            message: "\\x needs exactly two hex digits (e.g. \\x0d)".into(),
                        });
                    }
                }
            }
        }
        i += 2;
    }
    flush(&mut literal, literal_start, &mut out)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    #[test]
    fn shell_quote_gives_back_the_same_bytes_through_a_real_shell() {
        // The System sockets view copies `ss` command lines holding Unix
        // paths; whatever a path holds must reach the program unchanged
        // and run nothing.
        for s in [
            "/run/app.sock",
            "",
            "a b",
            "it's",
            "$(touch /tmp/pwned)",
            "`id`; rm -rf x",
            "line\nbreak",
            "tab\there",
            "esc \u{1b}[2J clear",
            "back\\slash'quote",
            "中文 路径",
            "@abstract name",
        ] {
            let q = super::shell_quote(s);
            let out = std::process::Command::new("bash")
                .args(["-c", &format!("printf %s {q}")])
                .output()
                .expect("bash runs");
            assert_eq!(String::from_utf8_lossy(&out.stdout), s, "{q}");
            assert!(
                !q.chars().any(|c| c.is_control()),
                "no raw control character in {q:?}"
            );
        }
        assert_eq!(super::shell_quote("/run/x.sock"), "/run/x.sock");
    }

    use super::*;

    #[test]
    fn gbk_round_trip_and_bad_bytes_escaped() {
        let gbk = Encoding::for_label("gbk").unwrap();
        let bytes = gbk.encode("你好").unwrap();
        assert_eq!(bytes, vec![0xc4, 0xe3, 0xba, 0xc3]);
        assert_eq!(gbk.decode_escaped(&bytes, true), "你好");
        // A truncated double-byte sequence and a 0xff are shown, not hidden.
        let mut bad = bytes.clone();
        bad.push(0xff);
        assert_eq!(gbk.decode_escaped(&bad, true), "你好\\xff");
        assert_eq!(gbk.decode_escaped(&[0xc4], true), "\\xc4");
    }

    #[test]
    fn utf8_invalid_and_controls() {
        let e = Encoding::Utf8;
        assert_eq!(
            e.decode_escaped(b"a\\b\r\n\xe4\xbd", true),
            "a\\\\b\\r\\n\\xe4\\xbd"
        );
        assert_eq!(e.decode_escaped(b"a\r\n", false), "a\r\n");
    }

    #[test]
    fn latin1_is_bytes_not_windows_1252() {
        let e = Encoding::for_label("latin-1").unwrap();
        assert_eq!(e.decode_escaped(&[0x80, 0xe9], false), "\u{80}é");
        assert!(e.encode("你").is_err());
    }

    #[test]
    fn utf16_both_ways() {
        let le = Encoding::Utf16Le;
        let bytes = le.encode("hé你").unwrap();
        assert_eq!(le.decode_escaped(&bytes, false), "hé你");
        assert_eq!(le.decode_escaped(&[0x41, 0x00, 0x42], false), "A\\x42");
        let be = Encoding::Utf16Be;
        assert_eq!(be.decode_escaped(&be.encode("A").unwrap(), false), "A");
    }

    #[test]
    fn hex_forms() {
        assert_eq!(
            parse_hex("de ad:BE-ef").unwrap(),
            vec![0xde, 0xad, 0xbe, 0xef]
        );
        assert_eq!(parse_hex("0x01 0x02").unwrap(), vec![1, 2]);
        assert_eq!(parse_hex("0102").unwrap(), vec![1, 2]);
        assert_eq!(
            parse_hex("01 2 03"),
            Err(CodecError::OddHex { digit: '2', at: 3 })
        );
        assert_eq!(
            parse_hex("zz"),
            Err(CodecError::BadHexDigit { found: 'z', at: 0 })
        );
        assert_eq!(to_hex(&[0, 255]), "00 ff");
        let every: Vec<u8> = (0..=255).collect();
        let by_fmt: Vec<String> = every.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(to_hex(&every), by_fmt.join(" "));
        assert_eq!(parse_hex(&to_hex(&every)).unwrap(), every);
    }

    #[test]
    fn escapes() {
        let gbk = Encoding::for_label("gbk").unwrap();
        assert_eq!(
            parse_escaped("你\\r\\n\\x00\\\\", gbk).unwrap(),
            vec![0xc4, 0xe3, b'\r', b'\n', 0, b'\\']
        );
        assert!(matches!(
            parse_escaped("ab\\q", Encoding::Utf8),
            Err(CodecError::BadEscape { at: 2, .. })
        ));
        assert!(matches!(
            parse_escaped("\\x4", Encoding::Utf8),
            Err(CodecError::BadEscape { at: 0, .. })
        ));
        assert!(matches!(
            parse_escaped("ok 你", Encoding::Latin1),
            Err(CodecError::Unencodable { at: 3, .. })
        ));
    }

    #[test]
    fn character_escapes_follow_the_encoding() {
        // Found by the property test: in UTF-16 a newline is two bytes.
        assert_eq!(
            parse_escaped("a\\n\\0", Encoding::Utf16Le).unwrap(),
            vec![b'a', 0, b'\n', 0, 0, 0]
        );
        let shown = Encoding::Utf16Le.decode_escaped(&[0, 0, 0x0a, 0], true);
        assert_eq!(shown, "\\0\\n");
        assert_eq!(
            parse_escaped(&shown, Encoding::Utf16Le).unwrap(),
            vec![0, 0, 0x0a, 0]
        );
    }

    #[test]
    fn decoded_log_text_parses_back_to_the_same_bytes() {
        let bytes = b"GET /\r\n\x00\xff\\ok";
        let shown = Encoding::Utf8.decode_escaped(bytes, true);
        assert_eq!(
            parse_escaped(&shown, Encoding::Utf8).unwrap(),
            bytes.to_vec()
        );
    }
}
