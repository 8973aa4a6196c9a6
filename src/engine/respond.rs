//! Automatic replies: echo, a fixed reply, the current time, and a table of
//! request -> reply (the seed's echo, "thank you !", time and chat servers).
//! A responder sees each received chunk (or datagram), or, with a
//! delimiter, each complete message; every reply is sent and logged like
//! any other send.

use super::checksum::Trailer;
use super::written::Typed;

/// How a request is compared with a rule's pattern.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Match {
    /// The whole message equals the pattern.
    Exact,
    /// The message starts with the pattern.
    Prefix,
    /// The pattern occurs anywhere in the message.
    Contains,
    /// A regular expression over the message's bytes; the reply may use
    /// `$1`, `${name}` for capture groups (`$$` for a dollar sign).
    Regex(BytesRegex),
}

impl Match {
    /// Whether `msg` matches `pattern` (a regex carries its own).
    pub fn hit(&self, msg: &[u8], pattern: &[u8]) -> bool {
        match self {
            Match::Exact => msg == pattern,
            Match::Prefix => msg.starts_with(pattern),
            Match::Contains => memchr::memmem::find(msg, pattern).is_some(),
            Match::Regex(re) => re.0.is_match(msg),
        }
    }

    /// `msg` with what matched replaced by `with`: every occurrence (a
    /// regex's `$1`, `${name}` filled from its captures), the prefix, or
    /// the whole message.
    pub fn rewrite(&self, msg: &[u8], pattern: &[u8], with: &[u8]) -> Vec<u8> {
        match self {
            Match::Exact => with.to_vec(),
            Match::Prefix if msg.starts_with(pattern) => [with, &msg[pattern.len()..]].concat(),
            Match::Prefix => msg.to_vec(),
            Match::Contains if pattern.is_empty() => msg.to_vec(),
            Match::Contains => {
                let mut out = Vec::with_capacity(msg.len());
                let mut last = 0;
                for at in memchr::memmem::find_iter(msg, pattern) {
                    if at < last {
                        continue;
                    }
                    out.extend_from_slice(&msg[last..at]);
                    out.extend_from_slice(with);
                    last = at + pattern.len();
                }
                out.extend_from_slice(&msg[last..]);
                out
            }
            Match::Regex(re) => re.0.replace_all(msg, with).into_owned(),
        }
    }

    /// `equals`, `starts with`, `contains`, `matches`.
    pub fn label(&self) -> &'static str {
        match self {
            Match::Exact => "equals",
            Match::Prefix => "starts with",
            Match::Contains => "contains",
            Match::Regex(_) => "matches",
        }
    }
}

/// A compiled regular expression, compared by its source text so a
/// responder stays comparable and printable.
#[derive(Clone, Debug)]
pub struct BytesRegex(regex::bytes::Regex);

impl BytesRegex {
    /// Longest compiled program we accept: a preset file is untrusted input
    /// and a pathological pattern must not eat memory.
    const SIZE_LIMIT: usize = 1 << 20;

    /// Compiles `source`, or says what is wrong with it.
    pub fn new(source: &str) -> Result<BytesRegex, String> {
        regex::bytes::RegexBuilder::new(source)
            .size_limit(Self::SIZE_LIMIT)
            .build()
            .map(BytesRegex)
            .map_err(|e| e.to_string())
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }
}

impl PartialEq for BytesRegex {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str()
    }
}
impl Eq for BytesRegex {}

/// One reply, and whether to close after sending it.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Reply {
    /// The bytes to send.
    pub data: Typed,
    /// Close the connection once the reply is sent (the chat server's "Bye").
    pub close: bool,
    /// `data` is a template: `{counter}`, `{time}`, `{peer}` and `{len}`
    /// are filled in when the reply is sent (`{{` and `}}` for braces).
    pub template: bool,
    /// A checksum appended to the reply as sent (after the template and
    /// any capture groups are filled in).
    pub checksum: Trailer,
}

/// The fields a reply template may use.
pub const TEMPLATE_FIELDS: [&str; 4] = ["counter", "time", "peer", "len"];

/// Checks a template: every `{` opens a known field or is doubled, every
/// `}` closes one or is doubled.
pub fn check_template(t: &[u8]) -> Result<(), String> {
    let mut i = 0;
    while i < t.len() {
        match t[i] {
            b'{' if t.get(i + 1) == Some(&b'{') => i += 2,
            b'}' if t.get(i + 1) == Some(&b'}') => i += 2,
            b'{' => {
                let Some(end) = t[i..].iter().position(|&b| b == b'}') else {
                    return Err(format!(
                        "'{{' at byte {i} is not closed; write {{{{ for a literal brace"
                    ));
                };
                let name = &t[i + 1..i + end];
                if !TEMPLATE_FIELDS.iter().any(|f| f.as_bytes() == name) {
                    return Err(format!(
                        "unknown template field {{{}}}; the fields are {{{}}} (write {{{{ for a literal brace)",
                        String::from_utf8_lossy(name),
                        TEMPLATE_FIELDS.join("}, {")
                    ));
                }
                i += end + 1;
            }
            b'}' => {
                return Err(format!(
                    "'}}' at byte {i} closes nothing; write }}}} for a literal brace"
                ));
            }
            _ => i += 1,
        }
    }
    Ok(())
}

/// Fills a checked template (unknown fields are left as written).
fn render(t: &[u8], counter: u64, peer: &str, len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(t.len() + 16);
    let mut i = 0;
    while i < t.len() {
        match t[i] {
            b'{' | b'}' if t.get(i + 1) == Some(&t[i]) => {
                out.push(t[i]);
                i += 2;
            }
            b'{' => {
                let end = t[i..]
                    .iter()
                    .position(|&b| b == b'}')
                    .unwrap_or(t.len() - i);
                let name = &t[i + 1..(i + end).min(t.len())];
                match name {
                    b"counter" => out.extend_from_slice(counter.to_string().as_bytes()),
                    b"time" => out.extend_from_slice(local_time_text().as_bytes()),
                    b"peer" => out.extend_from_slice(peer.as_bytes()),
                    b"len" => out.extend_from_slice(len.to_string().as_bytes()),
                    _ => out.extend_from_slice(&t[i..(i + end + 1).min(t.len())]),
                }
                i += end + 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    out
}

/// One row of a canned-reply table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rule {
    /// How to compare.
    pub matching: Match,
    /// What to look for.
    pub pattern: Typed,
    /// What to answer.
    pub reply: Reply,
}

/// A request -> reply table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Canned {
    /// Rules, first match wins.
    pub rules: Vec<Rule>,
    /// The answer when no rule matches (None: stay silent).
    pub default: Option<Reply>,
    /// Messages end with this (e.g. `\n`); None: each received chunk is one message.
    pub delimiter: Option<Typed>,
}

/// Automatic replies of a session.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub enum Responder {
    /// Do not reply.
    #[default]
    None,
    /// Send every chunk (or datagram, to its source) straight back.
    Echo,
    /// The same reply to every message.
    Fixed(Reply),
    /// The local time as `YYYY-MM-DD HH:MM:SS`, as the seed's time server.
    Time,
    /// A table of request -> reply.
    Canned(Canned),
}

/// Longest message kept while waiting for a delimiter; beyond it the bytes
/// are answered as one message so a peer cannot grow our memory.
pub const MAX_FRAME: usize = 64 * 1024;

/// Per-connection state a responder needs: the partial message, the
/// replies sent so far and the peer, for templates.
#[derive(Default, Debug)]
pub struct Framer {
    partial: Vec<u8>,
    /// Replies made on this connection (or datagram socket).
    pub replies: u64,
    /// The peer's address as text (a datagram's source, per datagram).
    pub peer: String,
}

impl Framer {
    /// A framer for a connection to `peer`.
    pub fn for_peer(peer: String) -> Framer {
        Framer {
            peer,
            ..Framer::default()
        }
    }

    /// Starts a new datagram from `peer`: framing never spans datagrams.
    pub fn datagram_from(&mut self, peer: String) {
        self.partial.clear();
        self.peer = peer;
    }

    /// Counts a reply and fills its template.
    fn emit(&mut self, r: &Reply, msg_len: usize) -> Reply {
        self.replies += 1;
        if !r.template {
            return r.clone();
        }
        Reply {
            data: render(&r.data, self.replies, &self.peer, msg_len).into(),
            template: false,
            ..r.clone()
        }
    }
}

impl Responder {
    /// Whether it ever replies.
    pub fn is_active(&self) -> bool {
        !matches!(self, Responder::None)
    }

    /// The replies to one received chunk, checksums appended.
    pub fn respond(&self, framer: &mut Framer, chunk: &[u8]) -> Vec<Reply> {
        let mut out = self.replies(framer, chunk);
        for r in &mut out {
            if !r.checksum.is_none() {
                r.data = r.checksum.applied(&r.data).into();
                r.checksum = Trailer::default();
            }
        }
        out
    }

    fn replies(&self, framer: &mut Framer, chunk: &[u8]) -> Vec<Reply> {
        match self {
            Responder::None => Vec::new(),
            Responder::Echo => {
                framer.replies += 1;
                vec![Reply {
                    data: chunk.into(),
                    ..Reply::default()
                }]
            }
            Responder::Fixed(r) => vec![framer.emit(r, chunk.len())],
            Responder::Time => {
                framer.replies += 1;
                vec![Reply {
                    data: local_time_text().into_bytes().into(),
                    ..Reply::default()
                }]
            }
            Responder::Canned(c) => match &c.delimiter {
                None => c.answer(chunk, framer).into_iter().collect(),
                Some(d) if d.is_empty() => c.answer(chunk, framer).into_iter().collect(),
                Some(d) => {
                    framer.partial.extend_from_slice(chunk);
                    let mut out = Vec::new();
                    while let Some(pos) = memchr::memmem::find(&framer.partial, d) {
                        let msg: Vec<u8> = framer.partial.drain(..pos + d.len()).collect();
                        if let Some(r) = c.answer(&msg[..pos], framer) {
                            out.push(r);
                        }
                    }
                    if framer.partial.len() > MAX_FRAME {
                        let msg = std::mem::take(&mut framer.partial);
                        if let Some(r) = c.answer(&msg, framer) {
                            out.push(r);
                        }
                    }
                    out
                }
            },
        }
    }
}

impl Canned {
    fn answer(&self, msg: &[u8], framer: &mut Framer) -> Option<Reply> {
        for r in &self.rules {
            let hit = match &r.matching {
                Match::Regex(re) => {
                    if let Some(caps) = re.0.captures(msg) {
                        // Template fields first, then capture groups: a
                        // peer's captured bytes are never read as a template.
                        let filled = framer.emit(&r.reply, msg.len());
                        let mut data = Vec::new();
                        caps.expand(&filled.data, &mut data);
                        return Some(Reply {
                            data: data.into(),
                            ..filled
                        });
                    }
                    false
                }
                m => m.hit(msg, &r.pattern),
            };
            if hit {
                return Some(framer.emit(&r.reply, msg.len()));
            }
        }
        self.default.as_ref().map(|d| framer.emit(d, msg.len()))
    }
}

/// The local time as the seed's time server prints it
/// (`str(datetime.now())[:19]`).
pub fn local_time_text() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs() as libc::time_t;
    // SAFETY: localtime_r fills the tm we own from a valid time_t.
    let tm = unsafe {
        let mut tm: libc::tm = std::mem::zeroed();
        if libc::localtime_r(&now, &mut tm).is_null() {
            return String::new();
        }
        tm
    };
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
        tm.tm_year + 1900,
        tm.tm_mon + 1,
        tm.tm_mday,
        tm.tm_hour,
        tm.tm_min,
        tm.tm_sec
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(s: &str, close: bool) -> Reply {
        Reply {
            data: s.as_bytes().to_vec().into(),
            close,
            template: false,
            checksum: Default::default(),
        }
    }

    fn chat(delimiter: Option<&str>) -> Responder {
        Responder::Canned(Canned {
            rules: vec![
                Rule {
                    matching: Match::Exact,
                    pattern: b"Hello".to_vec().into(),
                    reply: reply("nihao", false),
                },
                Rule {
                    matching: Match::Prefix,
                    pattern: b"How".to_vec().into(),
                    reply: reply("Fine, thank you.", false),
                },
                Rule {
                    matching: Match::Exact,
                    pattern: b"Bye".to_vec().into(),
                    reply: reply("Bye", true),
                },
            ],
            default: Some(reply("Sorry", false)),
            delimiter: delimiter.map(|d| d.as_bytes().into()),
        })
    }

    #[test]
    fn chat_server_answers_per_chunk() {
        let r = chat(None);
        let mut f = Framer::default();
        assert_eq!(r.respond(&mut f, b"Hello"), vec![reply("nihao", false)]);
        assert_eq!(
            r.respond(&mut f, b"How are you?"),
            vec![reply("Fine, thank you.", false)]
        );
        assert_eq!(r.respond(&mut f, b"what?"), vec![reply("Sorry", false)]);
        assert_eq!(r.respond(&mut f, b"Bye"), vec![reply("Bye", true)]);
    }

    #[test]
    fn delimiter_frames_split_and_joined_messages() {
        let r = chat(Some("\n"));
        let mut f = Framer::default();
        assert!(r.respond(&mut f, b"Hel").is_empty());
        assert_eq!(
            r.respond(&mut f, b"lo\nBye\nHo"),
            vec![reply("nihao", false), reply("Bye", true)]
        );
        // A peer that never sends the delimiter cannot grow the buffer.
        let big = vec![b'x'; MAX_FRAME + 1];
        assert_eq!(r.respond(&mut f, &big), vec![reply("Sorry", false)]);
        assert!(f.partial.is_empty());
    }

    #[test]
    fn a_regex_rule_fills_its_reply_from_capture_groups() {
        let r = Responder::Canned(Canned {
            rules: vec![Rule {
                matching: Match::Regex(BytesRegex::new(r"^(?P<verb>[A-Z]+) (\S+)").unwrap()),
                pattern: Vec::new().into(),
                reply: reply("${verb} of $2 ok, $$1 stays", false),
            }],
            default: None,
            delimiter: None,
        });
        let mut f = Framer::default();
        assert_eq!(
            r.respond(&mut f, b"PUT /x HTTP/1.0"),
            vec![reply("PUT of /x ok, $1 stays", false)]
        );
        // Bytes that are not UTF-8 neither match nor panic.
        assert!(r.respond(&mut f, b"\xff\xfe put").is_empty());
        assert!(BytesRegex::new("(").is_err());
    }

    #[test]
    fn templates_fill_counter_peer_and_length_and_keep_doubled_braces() {
        let t = b"#{counter} to {peer}: {len} bytes {{ok}}".to_vec();
        assert_eq!(check_template(&t), Ok(()));
        let r = Responder::Fixed(Reply {
            data: t.into(),
            close: false,
            template: true,
            checksum: Default::default(),
        });
        let mut f = Framer::for_peer("127.0.0.1:5000".into());
        assert_eq!(
            r.respond(&mut f, b"abc")[0].data.bytes(),
            b"#1 to 127.0.0.1:5000: 3 bytes {ok}"
        );
        assert_eq!(
            r.respond(&mut f, b"hello")[0].data.bytes(),
            b"#2 to 127.0.0.1:5000: 5 bytes {ok}"
        );
        let t = Responder::Fixed(Reply {
            data: b"now {time}".to_vec().into(),
            close: false,
            template: true,
            checksum: Default::default(),
        });
        let out = t.respond(&mut f, b"x").remove(0).data;
        assert_eq!(out.len(), 4 + 19, "{}", String::from_utf8_lossy(&out));
        // Without the flag braces are plain bytes.
        let plain = Responder::Fixed(reply("{counter}", false));
        assert_eq!(plain.respond(&mut f, b"x")[0].data.bytes(), b"{counter}");
        assert!(
            check_template(b"{nope}")
                .unwrap_err()
                .contains("unknown template field {nope}")
        );
        assert!(
            check_template(b"{counter")
                .unwrap_err()
                .contains("not closed")
        );
        assert!(
            check_template(b"a } b")
                .unwrap_err()
                .contains("closes nothing")
        );
    }

    #[test]
    fn a_regex_reply_fills_templates_before_captures() {
        let r = Responder::Canned(Canned {
            rules: vec![Rule {
                matching: Match::Regex(BytesRegex::new(r"^GET (\S+)").unwrap()),
                pattern: Vec::new().into(),
                reply: Reply {
                    data: b"{counter}:$1".to_vec().into(),
                    close: false,
                    template: true,
                    checksum: Default::default(),
                },
            }],
            default: None,
            delimiter: None,
        });
        let mut f = Framer::for_peer("p".into());
        // A capture that looks like a template stays as the peer sent it.
        assert_eq!(
            r.respond(&mut f, b"GET {peer}")[0].data.bytes(),
            b"1:{peer}"
        );
    }

    #[test]
    fn time_looks_like_the_seed() {
        let t = local_time_text();
        assert_eq!(t.len(), 19, "{t}");
        assert_eq!(&t[4..5], "-");
        assert_eq!(&t[10..11], " ");
    }

    #[test]
    fn a_checksum_covers_the_reply_as_filled_in() {
        use crate::engine::checksum::{ByteOrder, Checksum, Trailer};
        let sum = Trailer {
            checksum: Checksum::Sum8,
            order: ByteOrder::Big,
        };
        let t = Responder::Fixed(Reply {
            data: b"#{counter}".to_vec().into(),
            close: false,
            template: true,
            checksum: sum,
        });
        let mut f = Framer::for_peer("p".into());
        let out = t.respond(&mut f, b"x").remove(0).data;
        assert_eq!(out.bytes(), [b'#', b'1', b'#'.wrapping_add(b'1')]);
        // A regex reply: the checksum is over the capture as sent.
        let r = Responder::Canned(Canned {
            rules: vec![Rule {
                matching: Match::Regex(BytesRegex::new("^GET (.*)").unwrap()),
                pattern: Typed::default(),
                reply: Reply {
                    data: b"$1".to_vec().into(),
                    checksum: sum,
                    ..Reply::default()
                },
            }],
            default: None,
            delimiter: None,
        });
        let out = r.respond(&mut f, b"GET ab").remove(0).data;
        assert_eq!(out.bytes(), [b'a', b'b', b'a'.wrapping_add(b'b')]);
    }
}
