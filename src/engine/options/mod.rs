//! Socket options: applied with socket2 before bind/connect/listen, changed
//! on live sockets, and always read back with getsockopt, because the kernel
//! has the last word (Linux doubles SO_RCVBUF, clamps TTLs, ...).
//!
//! Each option is one [`OptDef`] in `defs.rs`: its C name, level, the
//! sockets it applies to, its value type, how it is set and read, its key
//! in preset files, its form field and how the exporters write it. This
//! module holds what is common to all of them: values, parsing, checking
//! and display by value type, and the calls that apply, read and report.

mod defs;
mod value;

use std::io;
use std::time::Duration;

use socket2::{Domain, SockRef, Type};

pub use defs::OPTIONS;
pub use value::{IfName, OptValue, Ty};

static VARIANTS: std::sync::LazyLock<Vec<&'static str>> = std::sync::LazyLock::new(|| {
    OPTIONS
        .iter()
        .map(|d| &*Box::leak(format!("{:?}", d.name).into_boxed_str()))
        .collect()
});

/// The options Sockscope knows; `OPTIONS` has one entry for each, in this
/// order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[allow(missing_docs)]
pub enum OptName {
    ReuseAddress,
    ReusePort,
    KeepAlive,
    KeepAliveIdle,
    KeepAliveInterval,
    KeepAliveCount,
    NoDelay,
    UserTimeout,
    MaxSeg,
    QuickAck,
    RecvBuffer,
    SendBuffer,
    Linger,
    BindDevice,
    Broadcast,
    Ttl,
    Tos,
    Priority,
    OnlyV6,
    MulticastTtl,
    MulticastLoop,
    MulticastIfV4,
    MulticastIfV6,
    ReadTimeout,
    WriteTimeout,
    Blocking,
}

/// The setsockopt level, as the Python exporter names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Level {
    /// SOL_SOCKET
    Socket,
    /// IPPROTO_TCP
    Tcp,
    /// IPPROTO_IP
    Ip,
    /// IPPROTO_IPV6
    Ipv6,
}

impl Level {
    /// Python's name for the level.
    pub fn python(self) -> &'static str {
        match self {
            Level::Socket => "socket.SOL_SOCKET",
            Level::Tcp => "socket.IPPROTO_TCP",
            Level::Ip => "socket.IPPROTO_IP",
            Level::Ipv6 => "socket.IPPROTO_IPV6",
        }
    }
}

/// Which sockets an option means anything on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Applies {
    /// Every socket.
    Any,
    /// IPv4 and IPv6 sockets.
    Inet,
    /// TCP.
    InetStream,
    /// Stream sockets, Unix ones too.
    Stream,
    /// UDP.
    InetDgram,
    /// UDP over IPv4.
    Ipv4Dgram,
    /// UDP over IPv6.
    Ipv6Dgram,
    /// IPv6 sockets.
    Ipv6,
}

/// How the open form offers an option.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Widget {
    /// A checkbox under the addresses (on, or left to the default).
    Check,
    /// default / on / off, among the more options.
    Tri,
    /// A text field among the more options, with this hint (a unit or
    /// an example short enough to show whole).
    Text(&'static str),
    /// Not in the form (a session field covers it).
    None,
}

/// How the Python exporter sets and reads an option.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Python {
    /// `setsockopt(level, socket.NAME, value)` / `getsockopt(...)`.
    SockOpt,
    /// `setblocking(...)` / `getblocking()`.
    Blocking,
}

/// One socket option, everything about it in one place.
pub struct OptDef {
    /// Which option.
    pub name: OptName,
    /// The C name (`SO_RCVBUF`).
    pub c: &'static str,
    /// The C name on IPv6 sockets, where it differs.
    pub c_v6: Option<&'static str>,
    /// The setsockopt level (of the IPv4 name).
    pub level: Level,
    /// The sockets it applies to.
    pub applies: Applies,
    /// The value's type.
    pub ty: Ty,
    /// The key in a preset's `options: (...)`, if files set it there.
    pub key: Option<&'static str>,
    /// The form's label for it.
    pub label: &'static str,
    /// How the form offers it.
    pub widget: Widget,
    /// What it does, in a line (the form's and the picker's hover text).
    pub help: &'static str,
    /// Likely fixes for errnos the kernel answers setsockopt with.
    pub refused: &'static [(i32, &'static str)],
    /// Applies the value (the flag says the socket is IPv6).
    pub set: fn(&SockRef<'_>, OptValue, bool) -> io::Result<()>,
    /// Reads the value back.
    pub get: fn(&SockRef<'_>, bool) -> io::Result<OptValue>,
    /// The socket2 setter with `{}` for the value, for the Rust exporter.
    pub rust_set: &'static str,
    /// The socket2 getter call, for the Rust exporter.
    pub rust_get: &'static str,
    /// How the Python exporter writes it.
    pub python: Python,
}

impl OptName {
    /// Every option, in the order reports list them.
    pub fn all() -> impl Iterator<Item = OptName> {
        OPTIONS.iter().map(|d| d.name)
    }

    /// Everything about the option.
    pub fn def(self) -> &'static OptDef {
        &OPTIONS[self as usize]
    }

    /// The variant a script file writes (`SetSockOpt(var: "s", option:
    /// NoDelay(true))`): the option's own name here.
    pub fn variant(self) -> &'static str {
        VARIANTS[self as usize]
    }

    /// Every variant a script file may write, for its parser.
    pub fn variants() -> &'static [&'static str] {
        &VARIANTS
    }

    /// The C name (IPv6 sockets get their IPv6 names).
    pub fn c_name(self, v6: bool) -> &'static str {
        let d = self.def();
        match d.c_v6 {
            Some(c) if v6 => c,
            _ => d.c,
        }
    }

    /// The option with this C name (either family's).
    pub fn from_c_name(c: &str) -> Option<OptName> {
        OPTIONS
            .iter()
            .find(|d| d.c == c || d.c_v6 == Some(c))
            .map(|d| d.name)
    }

    /// The option a preset file sets under this key.
    pub fn from_key(key: &str) -> Option<OptName> {
        OPTIONS.iter().find(|d| d.key == Some(key)).map(|d| d.name)
    }

    /// Whether the option means anything on a socket of this kind.
    pub fn applies(self, shape: SocketShape) -> bool {
        let SocketShape { inet, v6, stream } = shape;
        match self.def().applies {
            Applies::Any => true,
            Applies::Inet => inet,
            Applies::InetStream => inet && stream,
            Applies::Stream => stream,
            Applies::InetDgram => inet && !stream,
            Applies::Ipv4Dgram => inet && !v6 && !stream,
            Applies::Ipv6Dgram => v6 && !stream,
            Applies::Ipv6 => v6,
        }
    }
}

/// One option with the value a user asked for.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SockOpt {
    name: OptName,
    value: OptValue,
}

impl SockOpt {
    /// An option and its value. A time given to an option that may be off
    /// is taken as "on, for this long". `check` says whether it fits.
    pub fn new(name: OptName, value: OptValue) -> SockOpt {
        let value = match (name.def().ty, value) {
            (Ty::Linger | Ty::Timeout, OptValue::Secs(d)) => OptValue::MaybeSecs(Some(d)),
            _ => value,
        };
        SockOpt { name, value }
    }

    /// A flag option.
    pub fn flag(name: OptName, on: bool) -> SockOpt {
        SockOpt::new(name, OptValue::Flag(on))
    }

    /// A number option.
    pub fn int(name: OptName, n: u64) -> SockOpt {
        SockOpt::new(name, OptValue::Int(n))
    }

    /// A time option.
    pub fn secs(name: OptName, d: Duration) -> SockOpt {
        SockOpt::new(name, OptValue::Secs(d))
    }

    /// A time option that may be off.
    pub fn maybe_secs(name: OptName, d: Option<Duration>) -> SockOpt {
        SockOpt::new(name, OptValue::MaybeSecs(d))
    }

    /// Which option this sets.
    pub fn name(&self) -> OptName {
        self.name
    }

    /// The value asked for.
    pub fn value(&self) -> OptValue {
        self.value
    }

    /// Everything about the option.
    pub fn def(&self) -> &'static OptDef {
        self.name.def()
    }

    /// Whether the value is one the kernel takes as meant. Every option a
    /// file, a form or a script call sets is checked here, so none can
    /// wrap, truncate or mean the opposite (SO_LINGER 0.5 s would be sent
    /// as 0, an RST; a 0 timeout means "wait forever" to the kernel).
    pub fn check(&self) -> Result<(), String> {
        let def = self.def();
        let c = def.c;
        def.ty
            .fits(self.value)
            .map_err(|want| format!("{c} takes {want}"))?;
        let whole = |d: Duration, lo: u64, hi: u64| {
            if d.subsec_nanos() != 0 || d.as_secs() < lo || d.as_secs() > hi {
                Err(format!(
                    "{c} takes whole seconds from {lo} to {hi}; {} s is not one",
                    d.as_secs_f64()
                ))
            } else {
                Ok(())
            }
        };
        match (def.ty, self.value) {
            (Ty::Int { lo, hi, what }, OptValue::Int(n)) if !(lo..=hi).contains(&n) => Err(
                format!("{c} takes {what} from {lo} to {hi}; {n} is out of range"),
            ),
            (Ty::WholeSecs { lo, hi }, OptValue::Secs(d)) => whole(d, lo, hi),
            (Ty::Linger, OptValue::MaybeSecs(Some(d))) => whole(d, 0, 65_535),
            (Ty::Timeout, OptValue::MaybeSecs(Some(d)))
                if d < Duration::from_micros(1) || d > Duration::from_secs(31_536_000) =>
            {
                Err(format!(
                    "{c} takes 0.000001 to 31536000 seconds (0 would mean wait forever; leave it out for no timeout)"
                ))
            }
            _ => Ok(()),
        }
    }

    /// Parses a value typed for an option (see [`Ty::parse`]) and checks it.
    pub fn parse(name: OptName, value: &str) -> Result<SockOpt, String> {
        let opt = SockOpt::new(name, name.def().ty.parse(value)?);
        opt.check()?;
        Ok(opt)
    }

    /// The requested value in the same words `read` uses.
    pub fn value_text(&self) -> String {
        self.def().ty.show(self.value)
    }

    /// The value as typed into a form.
    pub fn input_text(&self) -> String {
        self.def().ty.input(self.value)
    }
}

/// What kind of socket an option is applied to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SocketShape {
    /// AF_INET or AF_INET6.
    pub inet: bool,
    /// AF_INET6.
    pub v6: bool,
    /// SOCK_STREAM.
    pub stream: bool,
}

impl SocketShape {
    /// Asks the kernel what the socket is.
    pub fn of(sock: &SockRef<'_>) -> io::Result<SocketShape> {
        let domain = sock.domain()?;
        let ty = sock.r#type()?;
        Ok(SocketShape {
            inet: domain == Domain::IPV4 || domain == Domain::IPV6,
            v6: domain == Domain::IPV6,
            stream: ty == Type::STREAM,
        })
    }
}

/// An option as the kernel reports it, beside what was asked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OptionReport {
    /// The C name (`SO_RCVBUF`).
    pub name: &'static str,
    /// What the user asked for, if anything.
    pub requested: Option<String>,
    /// What getsockopt returned, or why it could not be read.
    pub actual: Result<String, String>,
}

impl OptionReport {
    /// Whether the kernel reports something other than what was asked.
    pub fn differs(&self) -> bool {
        match (&self.requested, &self.actual) {
            (Some(r), Ok(a)) => r != a,
            _ => false,
        }
    }
}

fn is_v6(sock: &SockRef<'_>) -> bool {
    sock.domain().map(|d| d == Domain::IPV6).unwrap_or(false)
}

/// Sets one option on a socket. A value that does not fit its option is
/// refused here, before any syscall.
pub fn apply(sock: &SockRef<'_>, opt: SockOpt) -> io::Result<()> {
    opt.check()
        .map_err(|m| io::Error::new(io::ErrorKind::InvalidInput, m))?;
    (opt.def().set)(sock, opt.value, is_v6(sock))
}

/// The error for a setsockopt the kernel refused: the call, its errno,
/// and the option's own hint for that errno where it has one.
pub fn refused(opt: &SockOpt, sock: &SockRef<'_>, e: &io::Error) -> super::error::OpError {
    let err = super::error::OpError::io(
        format!(
            "setsockopt {}={}",
            opt.name.c_name(is_v6(sock)),
            opt.value_text()
        ),
        e,
    );
    match opt
        .def()
        .refused
        .iter()
        .find(|(n, _)| e.raw_os_error() == Some(*n))
    {
        Some((_, hint)) => err.with_hint(*hint),
        None => err,
    }
}

/// Reads one option back with getsockopt, formatted like `value_text`.
pub fn read(sock: &SockRef<'_>, name: OptName) -> io::Result<String> {
    let d = name.def();
    Ok(d.ty.show((d.get)(sock, is_v6(sock))?))
}

/// Reads one option back and pairs it with what was requested.
pub fn report(sock: &SockRef<'_>, name: OptName, requested: Option<&SockOpt>) -> OptionReport {
    OptionReport {
        name: name.c_name(is_v6(sock)),
        requested: requested.map(SockOpt::value_text),
        actual: read(sock, name)
            .map_err(|e| super::error::OpError::io("getsockopt", &e).to_string()),
    }
}

/// Reads back every option that applies to this socket, with the requested
/// values beside them (the last request wins when one was given twice).
pub fn snapshot(sock: &SockRef<'_>, requested: &[SockOpt]) -> Vec<OptionReport> {
    let Ok(shape) = SocketShape::of(sock) else {
        return Vec::new();
    };
    OptName::all()
        .filter(|n| n.applies(shape))
        .map(|n| report(sock, n, requested.iter().rev().find(|o| o.name() == n)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use socket2::Socket;

    #[test]
    fn the_table_has_one_entry_per_option_in_order_with_unique_names() {
        let mut keys = std::collections::HashSet::new();
        for (i, d) in OPTIONS.iter().enumerate() {
            assert_eq!(d.name as usize, i, "{} is out of place", d.c);
            assert_eq!(OptName::from_c_name(d.c), Some(d.name), "{} twice", d.c);
            if let Some(k) = d.key {
                assert!(keys.insert(k), "key {k} twice");
            }
        }
        assert_eq!(OPTIONS.len(), OptName::Blocking as usize + 1);
    }

    #[test]
    fn kernel_doubles_rcvbuf_and_report_shows_both() {
        let s = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
        let r = SockRef::from(&s);
        let want = SockOpt::int(OptName::RecvBuffer, 65536);
        apply(&r, want).unwrap();
        let rep = report(&r, OptName::RecvBuffer, Some(&want));
        assert_eq!(rep.name, "SO_RCVBUF");
        assert_eq!(rep.requested.as_deref(), Some("65536"));
        assert_eq!(rep.actual.as_deref(), Ok("131072"));
        assert!(rep.differs());
    }

    #[test]
    fn snapshot_lists_only_what_applies() {
        let s = Socket::new(Domain::IPV6, Type::DGRAM, None).unwrap();
        let snap = snapshot(&SockRef::from(&s), &[SockOpt::flag(OptName::OnlyV6, true)]);
        let names: Vec<_> = snap.iter().map(|r| r.name).collect();
        assert!(names.contains(&"IPV6_UNICAST_HOPS"));
        assert!(names.contains(&"IPV6_MULTICAST_LOOP"));
        assert!(names.contains(&"IPV6_TCLASS"));
        assert!(names.contains(&"IPV6_MULTICAST_IF"));
        assert!(!names.contains(&"IP_MULTICAST_IF"));
        assert!(!names.contains(&"TCP_NODELAY"));
        let v6only = snap.iter().find(|r| r.name == "IPV6_V6ONLY").unwrap();
        assert_eq!(v6only.requested.as_deref(), Some("true"));
    }

    #[test]
    fn linger_and_timeouts_read_back() {
        let s = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
        let r = SockRef::from(&s);
        apply(&r, SockOpt::secs(OptName::Linger, Duration::ZERO)).unwrap();
        apply(
            &r,
            SockOpt::secs(OptName::ReadTimeout, Duration::from_millis(1500)),
        )
        .unwrap();
        apply(&r, SockOpt::flag(OptName::Blocking, false)).unwrap();
        assert_eq!(read(&r, OptName::Linger).unwrap(), "0s");
        assert_eq!(read(&r, OptName::ReadTimeout).unwrap(), "1.5s");
        assert_eq!(read(&r, OptName::Blocking).unwrap(), "false");
    }

    /// The six options added with the table, each set and read back on a
    /// real socket under its C name.
    #[test]
    fn the_new_options_apply_and_read_back() {
        let s = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
        let r = SockRef::from(&s);
        for (name, text, back) in [
            (OptName::Priority, "5", "5"),
            (OptName::Tos, "0x10", "16"),
            (OptName::UserTimeout, "1500", "1500"),
            (OptName::MaxSeg, "1000", "1000"),
            (OptName::QuickAck, "1", "true"),
            (OptName::BindDevice, "lo", "lo"),
        ] {
            let opt = SockOpt::parse(name, text).unwrap();
            match apply(&r, opt) {
                Ok(()) => assert_eq!(read(&r, name).unwrap(), back, "{}", name.c_name(false)),
                // Binding to a device needs CAP_NET_RAW on older kernels.
                Err(e) if name == OptName::BindDevice && e.raw_os_error() == Some(libc::EPERM) => {}
                Err(e) => panic!("{}: {e}", name.c_name(false)),
            }
        }
        let s6 = Socket::new(Domain::IPV6, Type::DGRAM, None).unwrap();
        let r6 = SockRef::from(&s6);
        apply(&r6, SockOpt::int(OptName::Tos, 0xb8)).unwrap();
        let rep = report(&r6, OptName::Tos, None);
        assert_eq!(
            (rep.name, rep.actual.as_deref()),
            ("IPV6_TCLASS", Ok("184"))
        );
    }

    #[test]
    fn values_that_do_not_fit_are_refused_before_any_syscall() {
        for (name, text, says) in [
            (OptName::Tos, "256", "0 to 255"),
            (OptName::MaxSeg, "10", "88 to 65535"),
            (OptName::UserTimeout, "-1", "not a whole number"),
            (OptName::BindDevice, "a/b", "not an interface name"),
            (
                OptName::BindDevice,
                "sixteen-letters0",
                "not an interface name",
            ),
            (OptName::Priority, "4294967296", "0 to 4294967295"),
        ] {
            let e = SockOpt::parse(name, text).unwrap_err();
            assert!(e.contains(says), "{text}: {e}");
        }
        let s = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
        let wrong = SockOpt::int(OptName::NoDelay, 5);
        let e = apply(&SockRef::from(&s), wrong).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
        assert!(
            e.to_string().contains("TCP_NODELAY takes true or false"),
            "{e}"
        );
    }

    #[test]
    fn a_refused_bind_device_says_what_would_let_it() {
        let opt = SockOpt::parse(OptName::BindDevice, "eth0").unwrap();
        let s = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
        let s = &SockRef::from(&s);
        let e = refused(&opt, s, &io::Error::from_raw_os_error(libc::EPERM)).to_string();
        assert!(
            e.starts_with("setsockopt SO_BINDTODEVICE=eth0: EPERM"),
            "{e}"
        );
        assert!(e.contains("CAP_NET_RAW"), "{e}");
        let e = refused(&opt, s, &io::Error::from_raw_os_error(libc::ENODEV));
        assert!(e.to_string().contains("ip link"), "{e}");
    }
}
