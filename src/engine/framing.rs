//! Message framing for plain streams: what a TCP, Unix or serial peer
//! sends, cut into the messages of its protocol (lines, length-prefixed
//! records, fixed-size frames) rather than into whatever each recv
//! returned. No I/O: it is fed what was read and hands back whole
//! messages, each with the recv chunks that made it.

use super::checksum::ByteOrder;

/// How a stream's bytes are cut into messages.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Framing {
    /// Not at all: a row per recv.
    #[default]
    None,
    /// A message ends with these bytes (kept in the message).
    Delimiter(super::written::Typed),
    /// A length header, then that many bytes.
    LengthPrefix {
        /// The header's size: 1, 2 or 4 bytes.
        bytes: u8,
        /// Its byte order.
        order: ByteOrder,
        /// The length counts the header too.
        counts_header: bool,
    },
    /// Every message is this many bytes.
    Fixed(usize),
}

/// The largest message kept whole; past it what has come is handed over
/// as a partial message (a peer that never sends the delimiter must not
/// grow memory without bound).
pub const MAX_MESSAGE: usize = 16 * 1024 * 1024;

impl Framing {
    /// Checks the values a file or the form gave.
    pub fn check(&self) -> Result<(), String> {
        match self {
            Framing::None => Ok(()),
            Framing::Delimiter(d) if d.is_empty() => {
                Err("a delimiter needs at least one byte, e.g. Escaped(\"\\n\")".into())
            }
            Framing::Delimiter(d) if d.len() > 64 => Err("a delimiter is at most 64 bytes".into()),
            Framing::Delimiter(_) => Ok(()),
            Framing::LengthPrefix { bytes, .. } if ![1, 2, 4].contains(bytes) => {
                Err(format!("a length header is 1, 2 or 4 bytes, not {bytes}"))
            }
            Framing::LengthPrefix { .. } => Ok(()),
            Framing::Fixed(n) if *n == 0 || *n > MAX_MESSAGE => {
                Err(format!("a fixed message size is 1 to {MAX_MESSAGE} bytes"))
            }
            Framing::Fixed(_) => Ok(()),
        }
    }

    /// A few words for the log and the inspector.
    pub fn describe(&self) -> String {
        match self {
            Framing::None => "none".into(),
            Framing::Delimiter(d) => format!(
                "ends with {}",
                super::codec::Encoding::Utf8.decode_escaped(d, true)
            ),
            Framing::LengthPrefix {
                bytes,
                order,
                counts_header,
            } => format!(
                "{bytes}-byte {} length{}",
                match order {
                    ByteOrder::Big => "big-endian",
                    ByteOrder::Little => "little-endian",
                },
                if *counts_header {
                    ", header counted"
                } else {
                    ""
                }
            ),
            Framing::Fixed(n) => format!("{n} bytes each"),
        }
    }
}

/// A message cut from the stream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Framed {
    /// How many of its bytes each recv gave, in order (more than one: the
    /// message came in pieces).
    pub chunks: Vec<usize>,
    /// Not whole: the stream ended first, or it outgrew [`MAX_MESSAGE`],
    /// or its length header was impossible (shorter than the header).
    pub partial: bool,
}

/// Cuts a stream into messages as its bytes arrive.
#[derive(Debug)]
pub(crate) struct Deframer {
    framing: Framing,
    buf: Vec<u8>,
    /// How many bytes of `buf` each recv gave.
    chunks: Vec<usize>,
    /// Where the next delimiter search starts in `buf`.
    searched: usize,
}

impl Deframer {
    pub(crate) fn new(framing: Framing) -> Deframer {
        Deframer {
            framing,
            buf: Vec::new(),
            chunks: Vec::new(),
            searched: 0,
        }
    }

    /// The bytes of one recv; the messages they complete.
    pub(crate) fn push(&mut self, data: &[u8]) -> Vec<(Vec<u8>, Framed)> {
        let mut out = Vec::new();
        if data.is_empty() {
            return out;
        }
        self.buf.extend_from_slice(data);
        self.chunks.push(data.len());
        while let Some((end, partial)) = self.next_end() {
            out.push(self.take(end, partial));
        }
        if let Framing::Delimiter(d) = &self.framing {
            // No delimiter starts before here: the next search begins
            // where one split across recvs could (a long line in small
            // pieces is searched once, not again at every recv).
            self.searched = self.buf.len().saturating_sub(d.len() - 1);
        }
        if self.buf.len() > MAX_MESSAGE {
            let n = self.buf.len();
            out.push(self.take(n, true));
        }
        out
    }

    /// What is left when the stream ends: a partial message, if any.
    pub(crate) fn finish(&mut self) -> Option<(Vec<u8>, Framed)> {
        (!self.buf.is_empty()).then(|| {
            let n = self.buf.len();
            self.take(n, true)
        })
    }

    /// Where the next message ends in `buf`, and whether it is partial.
    fn next_end(&self) -> Option<(usize, bool)> {
        let from = self.searched.min(self.buf.len());
        match &self.framing {
            Framing::None => (!self.buf.is_empty()).then_some((self.buf.len(), false)),
            Framing::Delimiter(d) => {
                memchr::memmem::find(&self.buf[from..], d).map(|i| (from + i + d.len(), false))
            }
            Framing::Fixed(n) => (self.buf.len() >= *n).then_some((*n, false)),
            Framing::LengthPrefix {
                bytes,
                order,
                counts_header,
            } => {
                let h = usize::from(*bytes);
                let head = self.buf.get(..h)?;
                let mut len: u64 = 0;
                for i in 0..h {
                    let b = match order {
                        ByteOrder::Big => head[i],
                        ByteOrder::Little => head[h - 1 - i],
                    };
                    len = (len << 8) | u64::from(b);
                }
                let total = if *counts_header {
                    match usize::try_from(len) {
                        // A length shorter than its own header is no
                        // message: the header alone is handed over.
                        Ok(t) if t < h => return Some((h, true)),
                        Ok(t) => t,
                        Err(_) => usize::MAX,
                    }
                } else {
                    usize::try_from(len).map_or(usize::MAX, |l| l.saturating_add(h))
                };
                if total > MAX_MESSAGE {
                    // Never whole: cut at what fits, so memory stays bound.
                    return (self.buf.len() > MAX_MESSAGE).then_some((MAX_MESSAGE, true));
                }
                (self.buf.len() >= total).then_some((total, false))
            }
        }
    }

    /// Takes the first `n` bytes of `buf` as a message, with its chunks.
    fn take(&mut self, n: usize, partial: bool) -> (Vec<u8>, Framed) {
        self.searched = 0;
        let rest = self.buf.split_off(n);
        let msg = std::mem::replace(&mut self.buf, rest);
        let mut chunks = Vec::new();
        let mut need = n;
        while need > 0 {
            let Some(first) = self.chunks.first_mut() else {
                break;
            };
            let part = (*first).min(need);
            chunks.push(part);
            need -= part;
            *first -= part;
            if *first == 0 {
                self.chunks.remove(0);
            }
        }
        (msg, Framed { chunks, partial })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cut(framing: Framing, recvs: &[&[u8]]) -> Vec<(Vec<u8>, Vec<usize>, bool)> {
        let mut d = Deframer::new(framing);
        let mut out: Vec<_> = recvs
            .iter()
            .flat_map(|r| d.push(r))
            .map(|(m, f)| (m, f.chunks, f.partial))
            .collect();
        out.extend(d.finish().map(|(m, f)| (m, f.chunks, f.partial)));
        out
    }

    #[test]
    fn lines_come_whole_with_the_recvs_that_made_them() {
        let got = cut(
            Framing::Delimiter(b"\r\n".to_vec().into()),
            &[b"hel", b"lo\r", b"\nwor", b"ld\r\nbye\r\nhalf"],
        );
        assert_eq!(
            got,
            [
                (b"hello\r\n".to_vec(), vec![3, 3, 1], false),
                (b"world\r\n".to_vec(), vec![3, 4], false),
                (b"bye\r\n".to_vec(), vec![5], false),
                (b"half".to_vec(), vec![4], true),
            ]
        );
    }

    #[test]
    fn length_prefixes_in_each_size_order_and_counting() {
        let be2 = Framing::LengthPrefix {
            bytes: 2,
            order: ByteOrder::Big,
            counts_header: false,
        };
        let got = cut(be2, &[b"\x00", b"\x03ab", b"c\x00\x01z"]);
        assert_eq!(
            got,
            [
                (b"\x00\x03abc".to_vec(), vec![1, 3, 1], false),
                (b"\x00\x01z".to_vec(), vec![3], false),
            ]
        );
        let le4_counted = Framing::LengthPrefix {
            bytes: 4,
            order: ByteOrder::Little,
            counts_header: true,
        };
        let got = cut(le4_counted, &[b"\x06\x00\x00\x00hi\x02\x00"]);
        assert_eq!(got[0], (b"\x06\x00\x00\x00hi".to_vec(), vec![6], false));
        // Two bytes of a header, then the stream ends: partial.
        assert_eq!(got[1], (b"\x02\x00".to_vec(), vec![2], true));
        // A counted length shorter than the header: the header alone, partial.
        let one = Framing::LengthPrefix {
            bytes: 1,
            order: ByteOrder::Big,
            counts_header: true,
        };
        assert_eq!(cut(one, &[b"\x00x"])[0], (b"\x00".to_vec(), vec![1], true));
    }

    #[test]
    fn fixed_sizes_and_a_bound_on_what_never_ends() {
        let got = cut(Framing::Fixed(4), &[b"abcdef", b"gh", b"i"]);
        assert_eq!(
            got,
            [
                (b"abcd".to_vec(), vec![4], false),
                (b"efgh".to_vec(), vec![2, 2], false),
                (b"i".to_vec(), vec![1], true),
            ]
        );
        // A delimiter that never comes: cut at the bound, memory stays bound.
        let mut d = Deframer::new(Framing::Delimiter(b"\n".to_vec().into()));
        let big = vec![b'x'; 1 << 20];
        let mut cut_off = Vec::new();
        for _ in 0..17 {
            cut_off.extend(d.push(&big));
        }
        assert_eq!(cut_off.len(), 1);
        assert!(cut_off[0].1.partial);
        assert_eq!(cut_off[0].0.len(), 17 << 20);
        // A header that announces more than the bound.
        let mut d = Deframer::new(Framing::LengthPrefix {
            bytes: 4,
            order: ByteOrder::Big,
            counts_header: false,
        });
        let mut got = d.push(b"\xff\xff\xff\xff");
        for _ in 0..17 {
            got.extend(d.push(&big));
        }
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].0.len(), MAX_MESSAGE);
        assert!(got[0].1.partial);
    }

    #[test]
    fn impossible_settings_are_refused_in_words() {
        assert!(Framing::Delimiter(Vec::new().into()).check().is_err());
        assert!(Framing::Fixed(0).check().is_err());
        let three = Framing::LengthPrefix {
            bytes: 3,
            order: ByteOrder::Big,
            counts_header: false,
        };
        assert!(three.check().unwrap_err().contains("1, 2 or 4"));
        assert!(Framing::Fixed(16).check().is_ok());
    }
}
