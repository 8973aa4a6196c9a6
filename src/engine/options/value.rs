//! Option values by type: what a value is, how it is typed, checked and
//! shown. Every option's `Ty` in `defs.rs` picks one of these.

use std::net::Ipv4Addr;
use std::time::Duration;

/// An option's value, in the shape its [`Ty`] gives.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum OptValue {
    /// On or off.
    Flag(bool),
    /// A whole number (count, size, TTL, milliseconds, index).
    Int(u64),
    /// A time.
    Secs(Duration),
    /// A time, or off.
    MaybeSecs(Option<Duration>),
    /// An IPv4 address.
    Ipv4(Ipv4Addr),
    /// An interface name (empty: none).
    Name(IfName),
}

impl OptValue {
    pub(super) fn flag(self) -> bool {
        matches!(self, OptValue::Flag(true))
    }
    pub(super) fn int(self) -> u64 {
        match self {
            OptValue::Int(n) => n,
            _ => 0,
        }
    }
    pub(super) fn secs(self) -> Duration {
        match self {
            OptValue::Secs(d) | OptValue::MaybeSecs(Some(d)) => d,
            _ => Duration::ZERO,
        }
    }
    pub(super) fn maybe_secs(self) -> Option<Duration> {
        match self {
            OptValue::Secs(d) => Some(d),
            OptValue::MaybeSecs(d) => d,
            _ => None,
        }
    }
    pub(super) fn ipv4(self) -> Ipv4Addr {
        match self {
            OptValue::Ipv4(a) => a,
            _ => Ipv4Addr::UNSPECIFIED,
        }
    }
    pub(super) fn name(self) -> IfName {
        match self {
            OptValue::Name(n) => n,
            _ => IfName::NONE,
        }
    }
}

/// A network interface name as SO_BINDTODEVICE takes it: at most 15 bytes
/// (IFNAMSIZ less the NUL), printable ASCII without `/` or spaces. Empty
/// means "no device". Kept inline so an option stays `Copy`.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct IfName {
    len: u8,
    bytes: [u8; 15],
}

impl IfName {
    /// No device.
    pub const NONE: IfName = IfName {
        len: 0,
        bytes: [0; 15],
    };

    /// Checks a name; `off` and the empty name mean no device.
    pub fn new(s: &str) -> Result<IfName, String> {
        let s = s.trim();
        if s.is_empty() || s == "off" {
            return Ok(IfName::NONE);
        }
        let b = s.as_bytes();
        if b.len() > 15 || !b.iter().all(|c| c.is_ascii_graphic() && *c != b'/') {
            return Err(format!(
                "'{}' is not an interface name (up to 15 letters, digits and ._-:, e.g. lo or eth0; `ip link` lists them)",
                crate::engine::codec::excerpt(s, 40)
            ));
        }
        let mut bytes = [0; 15];
        bytes[..b.len()].copy_from_slice(b);
        Ok(IfName {
            len: b.len() as u8,
            bytes,
        })
    }

    /// The name's bytes (empty: none).
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len as usize]
    }

    /// The name (checked ASCII).
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(self.as_bytes()).unwrap_or("")
    }
}

impl std::fmt::Debug for IfName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", self.as_str())
    }
}

/// The type of an option's value: how it is typed, checked and shown.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ty {
    /// 1/0, true/false, on/off.
    Flag,
    /// A whole number in `lo..=hi`; `what` names it in messages.
    Int {
        /// Smallest value the kernel takes as meant.
        lo: u64,
        /// Largest.
        hi: u64,
        /// "a size in bytes", "a TTL", ...
        what: &'static str,
    },
    /// Whole seconds in `lo..=hi`.
    WholeSecs {
        /// Fewest.
        lo: u64,
        /// Most.
        hi: u64,
    },
    /// SO_LINGER: off, or whole seconds from 0 (0 = RST on close).
    Linger,
    /// A timeout: off, or 1 µs up to a year (0 would mean "forever").
    Timeout,
    /// An IPv4 address.
    Ipv4,
    /// An interface name.
    IfName,
}

impl Ty {
    /// Parses a value as typed in a form, a picker or a step: `1`/`0` (or
    /// true/false, on/off) for flags, a whole number (or 0x hex) for
    /// numbers, seconds (with or without a trailing `s`) for times, empty
    /// or `off` for "no linger", "no timeout" and "no device".
    pub fn parse(self, value: &str) -> Result<OptValue, String> {
        let v = value.trim();
        let off = v.is_empty() || v == "off";
        let secs = || {
            v.strip_suffix('s')
                .unwrap_or(v)
                .trim()
                .parse::<f64>()
                .ok()
                .filter(|s| s.is_finite() && (0.0..=31_536_000.0).contains(s))
                .map(Duration::from_secs_f64)
                .ok_or_else(|| format!("'{v}' is not a number of seconds"))
        };
        Ok(match self {
            Ty::Flag => OptValue::Flag(match v {
                "1" | "true" | "True" | "on" => true,
                "0" | "false" | "False" | "off" => false,
                _ => return Err(format!("'{v}' is not 1 or 0")),
            }),
            Ty::Int { .. } => {
                let n = match v.strip_prefix("0x").or_else(|| v.strip_prefix("0X")) {
                    Some(h) => u64::from_str_radix(h, 16),
                    None => v.parse::<u64>(),
                };
                OptValue::Int(n.map_err(|_| format!("'{v}' is not a whole number"))?)
            }
            Ty::WholeSecs { .. } => OptValue::Secs(secs()?),
            Ty::Linger | Ty::Timeout if off => OptValue::MaybeSecs(None),
            Ty::Linger | Ty::Timeout => OptValue::MaybeSecs(Some(secs()?)),
            Ty::Ipv4 => OptValue::Ipv4(
                v.parse()
                    .map_err(|_| format!("'{v}' is not an IPv4 address (e.g. 127.0.0.1)"))?,
            ),
            Ty::IfName => OptValue::Name(IfName::new(v)?),
        })
    }

    /// A short example of what to type, for empty fields.
    pub fn hint(self) -> &'static str {
        match self {
            Ty::Flag => "1 or 0",
            Ty::Int { .. } => "number",
            Ty::WholeSecs { .. } => "seconds",
            Ty::Linger | Ty::Timeout => "s or off",
            Ty::Ipv4 => "a.b.c.d",
            Ty::IfName => "e.g. lo",
        }
    }

    /// The value in the words reports use (and `read` returns).
    pub fn show(self, v: OptValue) -> String {
        match v {
            OptValue::Flag(b) => b.to_string(),
            OptValue::Int(n) => n.to_string(),
            OptValue::Secs(d) => secs(d),
            OptValue::MaybeSecs(None) => "off".into(),
            OptValue::MaybeSecs(Some(d)) => secs(d),
            OptValue::Ipv4(a) => a.to_string(),
            OptValue::Name(n) if n.len == 0 => "off".into(),
            OptValue::Name(n) => n.as_str().to_string(),
        }
    }

    /// The value as one would type it back into a form.
    pub fn input(self, v: OptValue) -> String {
        match v {
            OptValue::Flag(true) => "on".into(),
            OptValue::Flag(false) => "off".into(),
            OptValue::Secs(d) | OptValue::MaybeSecs(Some(d)) => d.as_secs_f64().to_string(),
            other => self.show(other),
        }
    }

    /// Whether a value has this type's shape (a time for a time, ...), and
    /// if not, the value the type expects, for messages.
    pub(super) fn fits(self, v: OptValue) -> Result<(), &'static str> {
        let ok = matches!(
            (self, v),
            (Ty::Flag, OptValue::Flag(_))
                | (Ty::Int { .. }, OptValue::Int(_))
                | (Ty::WholeSecs { .. }, OptValue::Secs(_))
                | (Ty::Linger | Ty::Timeout, OptValue::MaybeSecs(_))
                | (Ty::Ipv4, OptValue::Ipv4(_))
                | (Ty::IfName, OptValue::Name(_))
        );
        if ok {
            return Ok(());
        }
        Err(match self {
            Ty::Flag => "true or false",
            Ty::Int { what, .. } => what,
            Ty::WholeSecs { .. } | Ty::Linger | Ty::Timeout => "seconds",
            Ty::Ipv4 => "an IPv4 address",
            Ty::IfName => "an interface name",
        })
    }
}

pub(super) fn secs(d: Duration) -> String {
    format!("{}s", d.as_secs_f64())
}
