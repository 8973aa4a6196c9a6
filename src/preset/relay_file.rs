//! The relay kind as files write it: `Relay(listen: "127.0.0.1:9300",
//! target: "127.0.0.1:7788")` (either end may be `unix:/path`), checked
//! here for files and the form alike.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{
    FieldError, ResponderFile, Secs, SessionFile, TlsFile, default_true, field_err, is_true,
};
use crate::engine::codec::Encoding;
use crate::engine::respond::{BytesRegex, Match};
use crate::engine::rules::{Action, MAX_HOLD, MAX_RULES, Rule, Way};
use crate::engine::spec::{RelayEnd, SessionKind};
use crate::engine::written::{Payload, Typed};

/// One rule as files write it: `(to: Server, match: Contains(Text("GET")),
/// action: Delay(0.2, jitter: 0.05))`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleFile {
    /// `Server` (what clients send), `Client` (what comes back) or `Both`.
    #[serde(default)]
    pub to: WayFile,
    /// Which chunks; every chunk when left out.
    #[serde(rename = "match", default, skip_serializing_if = "Option::is_none")]
    pub matching: Option<MatchFile>,
    /// What to do to them.
    pub action: ActionFile,
    /// Off: kept, but does nothing until switched on.
    #[serde(default = "default_true", skip_serializing_if = "is_true")]
    pub enabled: bool,
}

/// Which way a rule works, in files.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum WayFile {
    /// Towards the server.
    Server,
    /// Towards the client.
    Client,
    /// Both ways.
    #[default]
    Both,
}

/// Which chunks a rule takes, in files.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum MatchFile {
    /// The whole chunk is this.
    Equals(Payload),
    /// The chunk starts with this.
    StartsWith(Payload),
    /// This occurs in the chunk.
    Contains(Payload),
    /// A regular expression over the chunk's bytes.
    Regex(String),
}

/// What a rule does, in files.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum ActionFile {
    /// Replace what matched (with a Regex match, `$1` is its first group).
    Rewrite(Payload),
    /// Throw the chunk away.
    Drop,
    /// Hold each chunk this many seconds (plus up to `jitter` more).
    Delay(
        Secs,
        #[serde(default, skip_serializing_if = "Option::is_none")] Option<Secs>,
    ),
    /// At most this many bytes per second.
    Throttle(u64),
    /// Writes of `size` bytes, `pause` seconds apart.
    Slice {
        /// Bytes per write.
        size: usize,
        /// Seconds between writes.
        pause: Secs,
    },
    /// Reset both sides.
    Reset,
    /// Pass a FIN on this many seconds after it came.
    SlowClose(Secs),
    /// Close both sides after this many bytes went this way.
    Limit(u64),
    /// Forward nothing more this way; stay open.
    BlackHole,
    /// Hold each matching chunk for the user to forward (edited or not)
    /// or drop; after 60 s unanswered it goes on as it is.
    Intercept,
}

fn hold(key: &str, s: Secs) -> Result<Duration, FieldError> {
    if s.0 > MAX_HOLD {
        return Err(field_err(
            key,
            format!(
                "at most {} seconds: held chunks wait in memory",
                MAX_HOLD.as_secs()
            ),
        ));
    }
    Ok(s.0)
}

/// The rules of a file, checked.
pub(super) fn rules(files: &[RuleFile], enc: Encoding) -> Result<Vec<Rule>, FieldError> {
    if files.len() > MAX_RULES {
        return Err(field_err("rules", format!("at most {MAX_RULES} rules")));
    }
    let mut out = Vec::new();
    for (i, r) in files.iter().enumerate() {
        let bytes = |p: &Payload| {
            Typed::parse(p.clone(), enc).map_err(|e| field_err("rules", format!("rule {i}: {e}")))
        };
        let matching = match &r.matching {
            None => None,
            Some(MatchFile::Equals(p)) => Some((Match::Exact, bytes(p)?)),
            Some(MatchFile::StartsWith(p)) => Some((Match::Prefix, bytes(p)?)),
            Some(MatchFile::Contains(p)) => Some((Match::Contains, bytes(p)?)),
            Some(MatchFile::Regex(src)) => Some((
                Match::Regex(BytesRegex::new(src).map_err(|e| {
                    field_err(
                        "rules",
                        format!("rule {i}: not a valid regular expression: {e}"),
                    )
                })?),
                Typed::default(),
            )),
        };
        let action = match &r.action {
            ActionFile::Rewrite(p) => Action::Rewrite(bytes(p)?),
            ActionFile::Drop => Action::Drop,
            ActionFile::Delay(fixed, jitter) => Action::Delay {
                fixed: hold("rules", *fixed)?,
                jitter: hold("rules", jitter.unwrap_or(Secs(Duration::ZERO)))?,
            },
            ActionFile::Throttle(0) => {
                return Err(field_err(
                    "rules",
                    format!(
                        "rule {i}: a throttle lets at least 1 byte per second through (for none, use BlackHole)"
                    ),
                ));
            }
            ActionFile::Throttle(b) => Action::Throttle(*b),
            ActionFile::Slice { size: 0, .. } => {
                return Err(field_err(
                    "rules",
                    format!("rule {i}: a slice is at least 1 byte"),
                ));
            }
            ActionFile::Slice { size, pause } => Action::Slice {
                size: *size,
                pause: hold("rules", *pause)?,
            },
            ActionFile::Reset => Action::Reset,
            ActionFile::SlowClose(d) => Action::SlowClose(hold("rules", *d)?),
            ActionFile::Limit(n) => Action::Limit(*n),
            ActionFile::BlackHole => Action::BlackHole,
            ActionFile::Intercept => Action::Intercept,
        };
        out.push(Rule {
            way: match r.to {
                WayFile::Server => Way::ToServer,
                WayFile::Client => Way::ToClient,
                WayFile::Both => Way::Both,
            },
            matching,
            action,
            enabled: r.enabled,
        });
    }
    Ok(out)
}

/// The rules as a file writes them: the inverse of [`rules`].
pub(super) fn rules_file(rules: &[Rule], enc: Encoding) -> Vec<RuleFile> {
    let secs = |d: Duration| Secs(d);
    rules
        .iter()
        .map(|r| RuleFile {
            to: match r.way {
                Way::ToServer => WayFile::Server,
                Way::ToClient => WayFile::Client,
                Way::Both => WayFile::Both,
            },
            matching: r.matching.as_ref().map(|(m, p)| match m {
                Match::Exact => MatchFile::Equals(p.payload(enc)),
                Match::Prefix => MatchFile::StartsWith(p.payload(enc)),
                Match::Contains => MatchFile::Contains(p.payload(enc)),
                Match::Regex(re) => MatchFile::Regex(re.as_str().to_string()),
            }),
            action: match &r.action {
                Action::Rewrite(t) => ActionFile::Rewrite(t.payload(enc)),
                Action::Drop => ActionFile::Drop,
                Action::Delay { fixed, jitter } => {
                    ActionFile::Delay(secs(*fixed), (!jitter.is_zero()).then(|| secs(*jitter)))
                }
                Action::Throttle(b) => ActionFile::Throttle(*b),
                Action::Slice { size, pause } => ActionFile::Slice {
                    size: *size,
                    pause: secs(*pause),
                },
                Action::Reset => ActionFile::Reset,
                Action::SlowClose(d) => ActionFile::SlowClose(secs(*d)),
                Action::Limit(n) => ActionFile::Limit(*n),
                Action::BlackHole => ActionFile::BlackHole,
                Action::Intercept => ActionFile::Intercept,
            },
            enabled: r.enabled,
        })
        .collect()
}

/// The kind, and what a relay refuses: it forwards, so it has no
/// responder, script or framing of its own, and reads for itself.
pub(super) fn kind(
    listen: &str,
    target: &str,
    rule_files: &[RuleFile],
    target_tls: Option<&TlsFile>,
    f: &SessionFile,
) -> Result<SessionKind, FieldError> {
    let listen = RelayEnd::parse(listen).map_err(|m| field_err("listen", m))?;
    let target = RelayEnd::parse(target).map_err(|m| field_err("target", m))?;
    if let RelayEnd::Tcp(a) | RelayEnd::Udp(a) = &target
        && (a.port() == 0 || a.ip().is_unspecified())
    {
        return Err(field_err(
            "target",
            "the target needs a real address and port to connect to",
        ));
    }
    let udp = |e: &RelayEnd| matches!(e, RelayEnd::Udp(_));
    if udp(&listen) != udp(&target) {
        return Err(field_err(
            "target",
            "a UDP relay listens on udp: and forwards to udp:; streams relay to streams",
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
    if matches!(f.tls, Some(TlsFile::Client { .. })) {
        return Err(field_err(
            "tls",
            "on a relay, tls: Server(...) is TLS towards clients; TLS towards the target is Relay(..., target_tls: Client(...))",
        ));
    }
    let target_tls = match (target_tls, &target) {
        (None, _) => None,
        (Some(_), RelayEnd::Udp(_)) => {
            return Err(field_err("target_tls", "TLS runs over streams, not UDP"));
        }
        (Some(TlsFile::Server { .. }), _) => {
            return Err(field_err(
                "target_tls",
                "towards the target the relay is a client: target_tls: Client(...)",
            ));
        }
        (Some(t), _) => {
            // Checked as a TCP client's TLS, which each upstream is.
            let as_client = SessionKind::TcpClient {
                remote: crate::engine::spec::HostPort {
                    host: "relay-target".into(),
                    port: 1,
                },
                local: None,
            };
            let spec = super::tls_spec(t.clone(), &as_client, f.auto_read)
                .map_err(|(_, m)| field_err("target_tls", m))?;
            Some(spec)
        }
    };
    if !f.auto_read {
        return refuse("auto_read", "manual reads (it reads both sides for you)");
    }
    let rules = rules(rule_files, f.encoding.map(|e| e.0).unwrap_or_default())?;
    if udp(&listen)
        && let Some((i, why)) = rules
            .iter()
            .enumerate()
            .find_map(|(i, r)| Some((i, r.action.not_for_datagrams()?)))
    {
        return Err(field_err(
            "rules",
            format!("rule {i}: {why} (a UDP relay takes every other rule)"),
        ));
    }
    Ok(SessionKind::Relay {
        listen,
        target,
        rules,
        target_tls,
    })
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
                rules: Vec::new(),
                target_tls: None,
            }
        );
        assert_eq!(to_spec(from_spec(&spec)).unwrap(), spec);
        let spec = to_spec(parse(
            r#"(name: "r", kind: Relay(listen: "unix:/tmp/a.sock", target: "[::1]:7788"))"#,
        ))
        .unwrap();
        assert_eq!(to_spec(from_spec(&spec)).unwrap(), spec);
        let spec = to_spec(parse(
            r#"(name: "r", kind: Relay(listen: "udp:127.0.0.1:9300", target: "udp:[::1]:7788"))"#,
        ))
        .unwrap();
        assert!(matches!(
            &spec.kind,
            SessionKind::Relay {
                listen: RelayEnd::Udp(_),
                target: RelayEnd::Udp(_),
                ..
            }
        ));
        assert_eq!(to_spec(from_spec(&spec)).unwrap(), spec);
        // TLS on both sides.
        let spec = to_spec(parse(
            r#"(name: "r", kind: Relay(listen: "127.0.0.1:1", target: "127.0.0.1:2",
                target_tls: Client(accept_invalid_certs: true)), tls: Server())"#,
        ))
        .unwrap();
        assert!(matches!(
            &spec.kind,
            SessionKind::Relay {
                target_tls: Some(_),
                ..
            }
        ));
        assert!(spec.tls.is_some());
        assert_eq!(to_spec(from_spec(&spec)).unwrap(), spec);
        // Every kind of rule loads and writes back as it was.
        let spec = to_spec(parse(
            r#"(name: "r", kind: Relay(listen: "127.0.0.1:1", target: "127.0.0.1:2", rules: [
                (to: Server, match: Regex("GET (\\S+)"), action: Rewrite(Text("GET /b$1"))),
                (to: Client, match: Contains(Hex("ff 00")), action: Drop, enabled: false),
                (action: Delay(0.2, Some(0.05))),
                (match: StartsWith(Text("x")), action: Throttle(1000)),
                (match: Equals(Text("y")), action: Slice(size: 1, pause: 0.01)),
                (action: Reset, enabled: false),
                (action: SlowClose(1.5)),
                (to: Server, action: Limit(100)),
                (action: BlackHole, enabled: false),
                (to: Server, match: Contains(Text("POST")), action: Intercept),
            ]))"#,
        ))
        .unwrap();
        let SessionKind::Relay { rules, .. } = &spec.kind else {
            unreachable!()
        };
        assert_eq!(rules.len(), 10);
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
            (
                r#"kind: Relay(listen: "127.0.0.1:1", target: "127.0.0.1:2", rules: [(match: Regex("("), action: Drop)])"#,
                "rules",
            ),
            (
                r#"kind: Relay(listen: "127.0.0.1:1", target: "127.0.0.1:2", rules: [(action: Delay(9999.0))])"#,
                "rules",
            ),
            (
                r#"kind: Relay(listen: "127.0.0.1:1", target: "127.0.0.1:2", rules: [(action: Throttle(0))])"#,
                "rules",
            ),
            (
                r#"kind: Relay(listen: "udp:127.0.0.1:1", target: "127.0.0.1:2")"#,
                "target",
            ),
            (
                r#"kind: Relay(listen: "udp:127.0.0.1:1", target: "udp:127.0.0.1:2", rules: [(action: Drop), (action: Reset)])"#,
                "rules",
            ),
            (
                r#"kind: Relay(listen: "udp:127.0.0.1:1", target: "udp:127.0.0.1:2", rules: [(action: SlowClose(1.0))])"#,
                "rules",
            ),
            (
                r#"kind: Relay(listen: "udp:localhost:1", target: "udp:127.0.0.1:2")"#,
                "listen",
            ),
            (
                r#"kind: Relay(listen: "127.0.0.1:1", target: "127.0.0.1:2"), tls: Client()"#,
                "tls",
            ),
            (
                r#"kind: Relay(listen: "127.0.0.1:1", target: "127.0.0.1:2", target_tls: Server())"#,
                "target_tls",
            ),
            (
                r#"kind: Relay(listen: "udp:127.0.0.1:1", target: "udp:127.0.0.1:2", target_tls: Client())"#,
                "target_tls",
            ),
        ] {
            let e = to_spec(parse(&format!("(name: \"r\", {src})"))).unwrap_err();
            assert_eq!(e.0, field, "{src}: {e:?}");
        }
    }

    #[test]
    fn a_udp_relay_takes_every_rule_a_datagram_can_have() {
        let src = r#"(name: "r", kind: Relay(listen: "udp:127.0.0.1:9300", target: "udp:127.0.0.1:7788", rules: [
            (to: Server, match: Contains(Text("x")), action: Rewrite(Text("y"))),
            (action: Drop, enabled: false), (action: Delay(0.1, Some(0.05))), (action: Throttle(1000)),
            (action: Slice(size: 4, pause: 0.01)), (action: Limit(100)), (action: BlackHole, enabled: false),
            (to: Client, action: Intercept),
        ]))"#;
        let spec = to_spec(parse(src)).unwrap();
        let SessionKind::Relay { rules, .. } = &spec.kind else {
            panic!("{:?}", spec.kind)
        };
        assert_eq!(rules.len(), 8);
        let e = to_spec(parse(&src.replace("Throttle(1000)", "Reset"))).unwrap_err();
        assert_eq!(
            e.1,
            "rule 3: UDP has no connection to reset (a UDP relay takes every other rule)"
        );
        assert_eq!(from_spec(&spec).kind, parse(src).kind, "round trip");
    }
}
