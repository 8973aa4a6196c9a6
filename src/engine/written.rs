//! Bytes as a user wrote them. A preset, a form field or the composer may
//! write the same bytes as text, as escapes or as hex; the engine only needs
//! the bytes, but saving them again must write them the way they were typed
//! (`\xAA\x55` in a GBK session is two bytes, not the character they happen
//! to decode to).

use std::ops::Deref;

use serde::de::{self, Deserializer};
use serde::{Deserialize, Serialize};

use super::codec::{CodecError, Encoding, parse_escaped, parse_hex, to_hex};

/// Bytes to send, as the user wrote them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub enum Payload {
    /// Text, encoded in the session's encoding.
    Text(String),
    /// Hex pairs: `"de ad be ef"`.
    Hex(String),
    /// Text with escapes: `"GET / HTTP/1.0\\r\\n\\r\\n"`.
    Escaped(String),
}

impl<'de> Deserialize<'de> for Payload {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        enum Raw {
            Text(String),
            Hex(String),
            Escaped(String),
        }
        Ok(match Raw::deserialize(d)? {
            Raw::Text(s) => Payload::Text(s),
            Raw::Hex(s) => {
                parse_hex(&s).map_err(de::Error::custom)?;
                Payload::Hex(s)
            }
            Raw::Escaped(s) => {
                // Syntax is checked here; encodability once the encoding is known.
                parse_escaped(&s, Encoding::Utf8).map_err(de::Error::custom)?;
                Payload::Escaped(s)
            }
        })
    }
}

impl Payload {
    /// The bytes, in the given encoding.
    pub fn to_bytes(&self, enc: Encoding) -> Result<Vec<u8>, CodecError> {
        match self {
            Payload::Text(s) => enc.encode(s),
            Payload::Hex(s) => parse_hex(s),
            Payload::Escaped(s) => parse_escaped(s, enc),
        }
    }
}

/// Bytes, with how they were written when a user wrote them. Two values
/// are equal when their bytes are: the spelling is kept for saving only.
#[derive(Clone, Debug, Default, Eq)]
pub struct Typed {
    bytes: Vec<u8>,
    written: Option<Payload>,
}

impl PartialEq for Typed {
    fn eq(&self, other: &Typed) -> bool {
        self.bytes == other.bytes
    }
}

impl Deref for Typed {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.bytes
    }
}

impl From<Vec<u8>> for Typed {
    fn from(bytes: Vec<u8>) -> Typed {
        Typed {
            bytes,
            written: None,
        }
    }
}

impl From<&[u8]> for Typed {
    fn from(bytes: &[u8]) -> Typed {
        Typed::from(bytes.to_vec())
    }
}

impl Typed {
    /// The bytes `p` stands for in `enc`, remembering how they were written.
    pub fn parse(p: Payload, enc: Encoding) -> Result<Typed, CodecError> {
        Ok(Typed {
            bytes: p.to_bytes(enc)?,
            written: Some(p),
        })
    }

    /// The bytes.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The bytes, owned.
    pub fn into_bytes(self) -> Vec<u8> {
        self.bytes
    }

    /// How to write these bytes in a file: as they were typed when that
    /// still means the same bytes in `enc` (the encoding may have changed
    /// since), otherwise the shortest faithful way.
    pub fn payload(&self, enc: Encoding) -> Payload {
        match &self.written {
            Some(p) if p.to_bytes(enc).is_ok_and(|b| b == self.bytes) => p.clone(),
            _ => payload_for(&self.bytes, enc),
        }
    }

    /// The bytes as escaped text (the form's reply and pattern fields):
    /// what was typed when it was escaped text, every byte as `\xNN` when
    /// it was hex, else the text with escapes where needed.
    pub fn escaped_text(&self, enc: Encoding) -> String {
        match self.payload(enc) {
            Payload::Escaped(s) => s,
            Payload::Hex(_) => self.bytes.iter().map(|b| format!("\\x{b:02X}")).collect(),
            Payload::Text(_) => enc.decode_escaped(&self.bytes, true),
        }
    }
}

/// The shortest faithful way to write bytes: text when they decode in the
/// encoding and encode back to the same bytes, escaped text when only a
/// few bytes need escapes, hex otherwise.
pub fn payload_for(data: &[u8], enc: Encoding) -> Payload {
    let text = enc.decode_escaped(data, false);
    if !text.contains('\\') && enc.encode(&text).is_ok_and(|b| b == data) {
        return Payload::Text(text);
    }
    let escaped = enc.decode_escaped(data, true);
    // Mostly text with a few escapes reads better than hex; mostly binary does not.
    let mut escapes = 0;
    let mut chars = escaped.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            escapes += 1;
            chars.next();
        }
    }
    if escapes * 4 <= data.len() && parse_escaped(&escaped, enc).is_ok_and(|b| b == data) {
        return Payload::Escaped(escaped);
    }
    Payload::Hex(to_hex(data))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gbk() -> Encoding {
        Encoding::for_label("GBK").unwrap()
    }

    #[test]
    fn a_typed_spelling_is_kept_while_it_means_the_same_bytes() {
        let hex = Typed::parse(Payload::Hex("aa 55".into()), gbk()).unwrap();
        assert_eq!(hex.bytes(), [0xaa, 0x55]);
        assert_eq!(hex.payload(gbk()), Payload::Hex("aa 55".into()));
        assert_eq!(hex.escaped_text(gbk()), "\\xAA\\x55");
        let esc = Typed::parse(Payload::Escaped("\\xAA\\x55".into()), gbk()).unwrap();
        assert_eq!(esc.payload(gbk()), Payload::Escaped("\\xAA\\x55".into()));
        assert_eq!(esc.escaped_text(gbk()), "\\xAA\\x55");
        // Equal by bytes: the spelling does not change what is sent.
        assert_eq!(hex, esc);
        // Text typed in GBK means other bytes in UTF-8: the spelling is
        // dropped rather than saved with a new meaning.
        let text = Typed::parse(Payload::Text("你好".into()), gbk()).unwrap();
        assert_eq!(text.payload(gbk()), Payload::Text("你好".into()));
        assert_ne!(text.payload(Encoding::Utf8), Payload::Text("你好".into()));
        assert_eq!(
            text.payload(Encoding::Utf8)
                .to_bytes(Encoding::Utf8)
                .unwrap(),
            text.bytes()
        );
        // Bytes nobody typed are written the shortest faithful way.
        let plain = Typed::from(b"GET /\r\n".to_vec());
        assert_eq!(
            plain.payload(Encoding::Utf8),
            payload_for(b"GET /\r\n", Encoding::Utf8)
        );
    }
}
