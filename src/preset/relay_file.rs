//! The relay kind as files write it: `Relay(listen: "127.0.0.1:9300",
//! target: "127.0.0.1:7788")` (either end may be `unix:/path`), checked
//! here for files and the form alike.

use super::{FieldError, ResponderFile, SessionFile, field_err};
use crate::engine::spec::{RelayEnd, SessionKind};

/// The kind, and what a relay refuses: it forwards, so it has no
/// responder, script or framing of its own, and reads for itself.
pub(super) fn kind(listen: &str, target: &str, f: &SessionFile) -> Result<SessionKind, FieldError> {
    let listen = RelayEnd::parse(listen).map_err(|m| field_err("listen", m))?;
    let target = RelayEnd::parse(target).map_err(|m| field_err("target", m))?;
    if let RelayEnd::Tcp(a) = &target
        && (a.port() == 0 || a.ip().is_unspecified())
    {
        return Err(field_err(
            "target",
            "the target needs a real address and port to connect to",
        ));
    }
    if listen == target {
        return Err(field_err(
            "target",
            "the relay would connect to itself; the target is where the real server listens",
        ));
    }
    let refuse = |key: &str, what: &str| {
        Err(field_err(
            key,
            format!("a relay forwards what each side sends; it takes no {what}"),
        ))
    };
    if f.responder != ResponderFile::None {
        return refuse("responder", "responder (the server behind it answers)");
    }
    if f.reply_delay.is_some() {
        return refuse("reply_delay", "reply delay");
    }
    if f.framing.is_some() {
        return refuse("framing", "framing (it forwards bytes as they come)");
    }
    if f.tls.is_some() {
        return refuse("tls", "TLS settings yet (TLS on either side is not built)");
    }
    if !f.auto_read {
        return refuse("auto_read", "manual reads (it reads both sides for you)");
    }
    Ok(SessionKind::Relay { listen, target })
}

#[cfg(test)]
mod tests {
    use crate::engine::spec::{RelayEnd, SessionKind};
    use crate::preset::{SessionFile, from_spec, to_spec};

    fn parse(src: &str) -> SessionFile {
        crate::preset::ron_options().from_str(src).unwrap()
    }

    #[test]
    fn relays_load_check_and_round_trip() {
        let spec = to_spec(parse(
            r#"(name: "r", kind: Relay(listen: "127.0.0.1:9300", target: "127.0.0.1:7788"))"#,
        ))
        .unwrap();
        assert_eq!(
            spec.kind,
            SessionKind::Relay {
                listen: RelayEnd::Tcp("127.0.0.1:9300".parse().unwrap()),
                target: RelayEnd::Tcp("127.0.0.1:7788".parse().unwrap()),
            }
        );
        assert_eq!(to_spec(from_spec(&spec)).unwrap(), spec);
        let spec = to_spec(parse(
            r#"(name: "r", kind: Relay(listen: "unix:/tmp/a.sock", target: "[::1]:7788"))"#,
        ))
        .unwrap();
        assert_eq!(to_spec(from_spec(&spec)).unwrap(), spec);
        for (src, field) in [
            (
                r#"kind: Relay(listen: "localhost:1", target: "127.0.0.1:2")"#,
                "listen",
            ),
            (
                r#"kind: Relay(listen: "127.0.0.1:1", target: "0.0.0.0:2")"#,
                "target",
            ),
            (
                r#"kind: Relay(listen: "127.0.0.1:1", target: "127.0.0.1:0")"#,
                "target",
            ),
            (
                r#"kind: Relay(listen: "127.0.0.1:1", target: "127.0.0.1:1")"#,
                "target",
            ),
            (
                r#"kind: Relay(listen: "unix:", target: "127.0.0.1:2")"#,
                "listen",
            ),
            (
                r#"kind: Relay(listen: "127.0.0.1:1", target: "127.0.0.1:2"), responder: Echo"#,
                "responder",
            ),
            (
                r#"kind: Relay(listen: "127.0.0.1:1", target: "127.0.0.1:2"), auto_read: false"#,
                "auto_read",
            ),
            (
                r#"kind: Relay(listen: "127.0.0.1:1", target: "127.0.0.1:2"), steps: [Close]"#,
                "steps",
            ),
        ] {
            let e = to_spec(parse(&format!("(name: \"r\", {src})"))).unwrap_err();
            assert_eq!(e.0, field, "{src}: {e:?}");
        }
    }
}
