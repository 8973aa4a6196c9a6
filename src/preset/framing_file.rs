//! Message framing as files write it: `framing: Delimiter(Escaped("\r\n"))`,
//! `LengthPrefix(bytes: 2, order: Big, counts_header: false)` or
//! `Fixed(16)`, checked here for files and the form alike.

use serde::{Deserialize, Serialize};

use super::{ByteOrderFile, FieldError, Payload, Typed, field_err};
use crate::engine::checksum::ByteOrder;
use crate::engine::codec::Encoding;
use crate::engine::framing::Framing;
use crate::engine::spec::SessionKind;

/// Framing as written in a file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub enum FramingFile {
    /// Messages end with these bytes.
    Delimiter(Payload),
    /// A length header, then the body.
    LengthPrefix {
        /// 1, 2 or 4 (default 2).
        #[serde(default = "two")]
        bytes: u8,
        /// `Big` (default) or `Little`.
        #[serde(default, skip_serializing_if = "ByteOrderFile::is_big")]
        order: ByteOrderFile,
        /// The length counts the header too (default false).
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        counts_header: bool,
    },
    /// Every message is this many bytes.
    Fixed(usize),
}

fn two() -> u8 {
    2
}

pub(super) fn to_spec(
    f: FramingFile,
    kind: &SessionKind,
    auto_read: bool,
    enc: Encoding,
) -> Result<Framing, FieldError> {
    let stream = matches!(
        kind,
        SessionKind::TcpClient { .. }
            | SessionKind::TcpServer { .. }
            | SessionKind::UnixClient { .. }
            | SessionKind::UnixServer { .. }
            | SessionKind::SocketPair
            | SessionKind::Serial(_)
    );
    if !stream {
        return Err(field_err(
            "framing",
            "framing cuts a stream into messages: TCP, Unix stream, socketpair and serial sessions \
             (a datagram is a message already; a WebSocket has its own frames)",
        ));
    }
    if !auto_read {
        return Err(field_err(
            "framing",
            "framing needs automatic reads; remove auto_read: false",
        ));
    }
    let framing = match f {
        FramingFile::Delimiter(p) => Framing::Delimiter(
            Typed::parse(p, enc).map_err(|e| field_err("framing", format!("delimiter: {e}")))?,
        ),
        FramingFile::LengthPrefix {
            bytes,
            order,
            counts_header,
        } => Framing::LengthPrefix {
            bytes,
            order: match order {
                ByteOrderFile::Big => ByteOrder::Big,
                ByteOrderFile::Little => ByteOrder::Little,
            },
            counts_header,
        },
        FramingFile::Fixed(n) => Framing::Fixed(n),
    };
    framing.check().map_err(|m| field_err("framing", m))?;
    Ok(framing)
}

pub(super) fn from_spec(f: &Framing, enc: Encoding) -> Option<FramingFile> {
    Some(match f {
        Framing::None => return None,
        Framing::Delimiter(d) => FramingFile::Delimiter(d.payload(enc)),
        Framing::LengthPrefix {
            bytes,
            order,
            counts_header,
        } => FramingFile::LengthPrefix {
            bytes: *bytes,
            order: match order {
                ByteOrder::Big => ByteOrderFile::Big,
                ByteOrder::Little => ByteOrderFile::Little,
            },
            counts_header: *counts_header,
        },
        Framing::Fixed(n) => FramingFile::Fixed(*n),
    })
}

#[cfg(test)]
mod tests {
    use crate::engine::framing::Framing;
    use crate::preset::{SessionFile, from_spec, to_spec};

    fn parse(src: &str) -> SessionFile {
        crate::preset::ron_options().from_str(src).unwrap()
    }

    #[test]
    fn framing_loads_checks_and_round_trips() {
        for fr in [
            r#"Delimiter(Escaped("\r\n"))"#,
            "LengthPrefix(bytes: 4, order: Little, counts_header: true)",
            "LengthPrefix()",
            "Fixed(16)",
        ] {
            let src =
                format!(r#"(name: "s", kind: TcpServer(local: "127.0.0.1:0"), framing: {fr})"#);
            let spec = to_spec(parse(&src)).unwrap_or_else(|e| panic!("{fr}: {e:?}"));
            assert_ne!(spec.framing, Framing::None);
            assert_eq!(to_spec(from_spec(&spec)).unwrap(), spec, "{fr}");
        }
        let spec = to_spec(parse(r#"(name: "s", kind: SocketPair)"#)).unwrap();
        assert_eq!(spec.framing, Framing::None);
        assert!(
            from_spec(&spec).framing.is_none(),
            "old files stay as they were"
        );
        for (src, says) in [
            (r#"(name: "u", kind: Udp(), framing: Fixed(4))"#, "datagram"),
            (
                r#"(name: "w", kind: WsClient(url: "ws://h/"), framing: Fixed(4))"#,
                "WebSocket",
            ),
            (
                r#"(name: "t", kind: TcpClient(remote: "h:1"), framing: Delimiter(Text("")))"#,
                "at least one byte",
            ),
            (
                r#"(name: "t", kind: TcpClient(remote: "h:1"), framing: LengthPrefix(bytes: 3))"#,
                "1, 2 or 4",
            ),
            (
                r#"(name: "t", kind: TcpClient(remote: "h:1"), framing: Fixed(0))"#,
                "fixed message size",
            ),
            (
                r#"(name: "t", kind: TcpClient(remote: "h:1"), auto_read: false, framing: Fixed(2))"#,
                "automatic reads",
            ),
        ] {
            let (field, msg) = to_spec(parse(src)).unwrap_err();
            assert_eq!(field, "framing", "{src}");
            assert!(msg.contains(says), "{src}: {msg}");
        }
    }
}
