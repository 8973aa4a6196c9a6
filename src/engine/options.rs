//! Socket options: applied with socket2 before bind/connect/listen, changed
//! on live sockets, and always read back with getsockopt, because the kernel
//! has the last word (Linux doubles SO_RCVBUF, clamps TTLs, ...).

use std::io;
use std::net::Ipv4Addr;
use std::time::Duration;

use socket2::{Domain, SockRef, TcpKeepalive, Type};

/// One option with the value a user asked for.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum SockOpt {
    /// SO_REUSEADDR.
    ReuseAddress(bool),
    /// SO_REUSEPORT.
    ReusePort(bool),
    /// SO_KEEPALIVE.
    KeepAlive(bool),
    /// TCP_KEEPIDLE: idle time before the first probe.
    KeepAliveIdle(Duration),
    /// TCP_KEEPINTVL: time between probes.
    KeepAliveInterval(Duration),
    /// TCP_KEEPCNT: probes before the connection is dropped.
    KeepAliveCount(u32),
    /// TCP_NODELAY (Nagle off).
    NoDelay(bool),
    /// SO_RCVBUF in bytes (Linux reports double).
    RecvBuffer(usize),
    /// SO_SNDBUF in bytes (Linux reports double).
    SendBuffer(usize),
    /// SO_LINGER: None = off, Some(0) = RST on close.
    Linger(Option<Duration>),
    /// SO_BROADCAST.
    Broadcast(bool),
    /// IP_TTL, or IPV6_UNICAST_HOPS on IPv6 sockets.
    Ttl(u32),
    /// IPV6_V6ONLY (false makes a dual-stack listener).
    OnlyV6(bool),
    /// IP_MULTICAST_TTL / IPV6_MULTICAST_HOPS.
    MulticastTtl(u32),
    /// IP_MULTICAST_LOOP / IPV6_MULTICAST_LOOP.
    MulticastLoop(bool),
    /// IP_MULTICAST_IF: the local address multicast leaves from (and the
    /// interface groups are joined on).
    MulticastIfV4(Ipv4Addr),
    /// IPV6_MULTICAST_IF: the interface index multicast leaves from.
    MulticastIfV6(u32),
    /// SO_RCVTIMEO (Python's settimeout applies it to reads and writes).
    ReadTimeout(Option<Duration>),
    /// SO_SNDTIMEO.
    WriteTimeout(Option<Duration>),
    /// Blocking (true) or non-blocking (false), as `setblocking`.
    Blocking(bool),
}

/// The options Sockscope knows, by their C names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum OptName {
    /// SO_REUSEADDR
    ReuseAddress,
    /// SO_REUSEPORT
    ReusePort,
    /// SO_KEEPALIVE
    KeepAlive,
    /// TCP_KEEPIDLE
    KeepAliveIdle,
    /// TCP_KEEPINTVL
    KeepAliveInterval,
    /// TCP_KEEPCNT
    KeepAliveCount,
    /// TCP_NODELAY
    NoDelay,
    /// SO_RCVBUF
    RecvBuffer,
    /// SO_SNDBUF
    SendBuffer,
    /// SO_LINGER
    Linger,
    /// SO_BROADCAST
    Broadcast,
    /// IP_TTL / IPV6_UNICAST_HOPS
    Ttl,
    /// IPV6_V6ONLY
    OnlyV6,
    /// IP_MULTICAST_TTL / IPV6_MULTICAST_HOPS
    MulticastTtl,
    /// IP_MULTICAST_LOOP / IPV6_MULTICAST_LOOP
    MulticastLoop,
    /// IP_MULTICAST_IF / IPV6_MULTICAST_IF
    MulticastIf,
    /// SO_RCVTIMEO
    ReadTimeout,
    /// SO_SNDTIMEO
    WriteTimeout,
    /// O_NONBLOCK (inverted)
    Blocking,
}

impl OptName {
    /// Every option, in the order reports list them.
    pub const ALL: [OptName; 19] = [
        OptName::ReuseAddress,
        OptName::ReusePort,
        OptName::KeepAlive,
        OptName::KeepAliveIdle,
        OptName::KeepAliveInterval,
        OptName::KeepAliveCount,
        OptName::NoDelay,
        OptName::RecvBuffer,
        OptName::SendBuffer,
        OptName::Linger,
        OptName::Broadcast,
        OptName::Ttl,
        OptName::OnlyV6,
        OptName::MulticastTtl,
        OptName::MulticastLoop,
        OptName::MulticastIf,
        OptName::ReadTimeout,
        OptName::WriteTimeout,
        OptName::Blocking,
    ];

    /// The C name (IPv6 sockets get their IPv6 names).
    pub fn c_name(self, v6: bool) -> &'static str {
        match self {
            OptName::ReuseAddress => "SO_REUSEADDR",
            OptName::ReusePort => "SO_REUSEPORT",
            OptName::KeepAlive => "SO_KEEPALIVE",
            OptName::KeepAliveIdle => "TCP_KEEPIDLE",
            OptName::KeepAliveInterval => "TCP_KEEPINTVL",
            OptName::KeepAliveCount => "TCP_KEEPCNT",
            OptName::NoDelay => "TCP_NODELAY",
            OptName::RecvBuffer => "SO_RCVBUF",
            OptName::SendBuffer => "SO_SNDBUF",
            OptName::Linger => "SO_LINGER",
            OptName::Broadcast => "SO_BROADCAST",
            OptName::Ttl if v6 => "IPV6_UNICAST_HOPS",
            OptName::Ttl => "IP_TTL",
            OptName::OnlyV6 => "IPV6_V6ONLY",
            OptName::MulticastTtl if v6 => "IPV6_MULTICAST_HOPS",
            OptName::MulticastTtl => "IP_MULTICAST_TTL",
            OptName::MulticastLoop if v6 => "IPV6_MULTICAST_LOOP",
            OptName::MulticastLoop => "IP_MULTICAST_LOOP",
            OptName::MulticastIf if v6 => "IPV6_MULTICAST_IF",
            OptName::MulticastIf => "IP_MULTICAST_IF",
            OptName::ReadTimeout => "SO_RCVTIMEO",
            OptName::WriteTimeout => "SO_SNDTIMEO",
            OptName::Blocking => "blocking",
        }
    }

    /// Whether the option means anything on a socket of this kind.
    pub fn applies(self, shape: SocketShape) -> bool {
        let SocketShape { inet, v6, stream } = shape;
        match self {
            OptName::ReuseAddress | OptName::ReusePort | OptName::Ttl => inet,
            OptName::KeepAlive
            | OptName::KeepAliveIdle
            | OptName::KeepAliveInterval
            | OptName::KeepAliveCount
            | OptName::NoDelay => inet && stream,
            OptName::Linger => stream,
            OptName::Broadcast
            | OptName::MulticastTtl
            | OptName::MulticastLoop
            | OptName::MulticastIf => inet && !stream,
            OptName::OnlyV6 => v6,
            OptName::RecvBuffer
            | OptName::SendBuffer
            | OptName::ReadTimeout
            | OptName::WriteTimeout
            | OptName::Blocking => true,
        }
    }
}

impl SockOpt {
    /// Which option this sets.
    pub fn name(&self) -> OptName {
        match self {
            SockOpt::ReuseAddress(_) => OptName::ReuseAddress,
            SockOpt::ReusePort(_) => OptName::ReusePort,
            SockOpt::KeepAlive(_) => OptName::KeepAlive,
            SockOpt::KeepAliveIdle(_) => OptName::KeepAliveIdle,
            SockOpt::KeepAliveInterval(_) => OptName::KeepAliveInterval,
            SockOpt::KeepAliveCount(_) => OptName::KeepAliveCount,
            SockOpt::NoDelay(_) => OptName::NoDelay,
            SockOpt::RecvBuffer(_) => OptName::RecvBuffer,
            SockOpt::SendBuffer(_) => OptName::SendBuffer,
            SockOpt::Linger(_) => OptName::Linger,
            SockOpt::Broadcast(_) => OptName::Broadcast,
            SockOpt::Ttl(_) => OptName::Ttl,
            SockOpt::OnlyV6(_) => OptName::OnlyV6,
            SockOpt::MulticastTtl(_) => OptName::MulticastTtl,
            SockOpt::MulticastLoop(_) => OptName::MulticastLoop,
            SockOpt::MulticastIfV4(_) | SockOpt::MulticastIfV6(_) => OptName::MulticastIf,
            SockOpt::ReadTimeout(_) => OptName::ReadTimeout,
            SockOpt::WriteTimeout(_) => OptName::WriteTimeout,
            SockOpt::Blocking(_) => OptName::Blocking,
        }
    }

    /// Whether the value is one the kernel takes as meant. Every option a
    /// file, a form or a script call sets is checked here, so none can
    /// wrap, truncate or mean the opposite (SO_LINGER 0.5 s would be sent
    /// as 0, an RST; a 0 timeout means "wait forever" to the kernel).
    pub fn check(&self) -> Result<(), String> {
        let c = self.name().c_name(false);
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
        let range = |n: u64, lo: u64, hi: u64, what: &str| {
            if (lo..=hi).contains(&n) {
                Ok(())
            } else {
                Err(format!(
                    "{c} takes {what} from {lo} to {hi}; {n} is out of range"
                ))
            }
        };
        match *self {
            SockOpt::KeepAliveIdle(d) | SockOpt::KeepAliveInterval(d) => whole(d, 1, 32_767),
            SockOpt::KeepAliveCount(n) => range(n.into(), 1, 127, "a count"),
            SockOpt::RecvBuffer(n) | SockOpt::SendBuffer(n) => {
                range(n as u64, 1, 1 << 30, "a size in bytes")
            }
            SockOpt::Linger(Some(d)) => whole(d, 0, 65_535),
            SockOpt::Ttl(n) => range(n.into(), 1, 255, "a TTL"),
            SockOpt::MulticastTtl(n) => range(n.into(), 0, 255, "a TTL"),
            SockOpt::MulticastIfV6(i) => range(i.into(), 0, i32::MAX as u64, "an interface index"),
            SockOpt::ReadTimeout(Some(d)) | SockOpt::WriteTimeout(Some(d)) => {
                if d < Duration::from_micros(1) || d > Duration::from_secs(31_536_000) {
                    Err(format!(
                        "{c} takes 0.000001 to 31536000 seconds (0 would mean wait forever; leave it out for no timeout)"
                    ))
                } else {
                    Ok(())
                }
            }
            _ => Ok(()),
        }
    }

    /// Parses a value typed for an option: `1`/`0` (or true/false) for
    /// flags, a whole number for sizes and counts, seconds for times, an
    /// empty value or `off` for "no linger" and "no timeout".
    pub fn parse(name: OptName, value: &str) -> Result<SockOpt, String> {
        let v = value.trim();
        let b = || match v {
            "1" | "true" | "True" | "on" => Ok(true),
            "0" | "false" | "False" | "off" => Ok(false),
            _ => Err(format!("'{v}' is not 1 or 0")),
        };
        let n = || {
            v.parse::<u32>()
                .map_err(|_| format!("'{v}' is not a whole number"))
        };
        let secs = || {
            v.parse::<f64>()
                .ok()
                .filter(|s| s.is_finite() && (0.0..=31_536_000.0).contains(s))
                .map(Duration::from_secs_f64)
                .ok_or_else(|| format!("'{v}' is not a number of seconds"))
        };
        let off = v.is_empty() || v == "off";
        let opt = match name {
            OptName::ReuseAddress => SockOpt::ReuseAddress(b()?),
            OptName::ReusePort => SockOpt::ReusePort(b()?),
            OptName::KeepAlive => SockOpt::KeepAlive(b()?),
            OptName::NoDelay => SockOpt::NoDelay(b()?),
            OptName::Broadcast => SockOpt::Broadcast(b()?),
            OptName::OnlyV6 => SockOpt::OnlyV6(b()?),
            OptName::MulticastLoop => SockOpt::MulticastLoop(b()?),
            OptName::Blocking => SockOpt::Blocking(b()?),
            OptName::RecvBuffer => SockOpt::RecvBuffer(n()? as usize),
            OptName::SendBuffer => SockOpt::SendBuffer(n()? as usize),
            OptName::Ttl => SockOpt::Ttl(n()?),
            OptName::MulticastTtl => SockOpt::MulticastTtl(n()?),
            OptName::KeepAliveCount => SockOpt::KeepAliveCount(n()?),
            OptName::KeepAliveIdle => SockOpt::KeepAliveIdle(secs()?),
            OptName::KeepAliveInterval => SockOpt::KeepAliveInterval(secs()?),
            OptName::Linger if off => SockOpt::Linger(None),
            OptName::Linger => SockOpt::Linger(Some(secs()?)),
            OptName::ReadTimeout if off => SockOpt::ReadTimeout(None),
            OptName::ReadTimeout => SockOpt::ReadTimeout(Some(secs()?)),
            OptName::WriteTimeout if off => SockOpt::WriteTimeout(None),
            OptName::WriteTimeout => SockOpt::WriteTimeout(Some(secs()?)),
            OptName::MulticastIf => match v.parse::<Ipv4Addr>() {
                Ok(a) => SockOpt::MulticastIfV4(a),
                Err(_) => SockOpt::MulticastIfV6(n()?),
            },
        };
        opt.check()?;
        Ok(opt)
    }

    /// The requested value in the same words `read_back` uses.
    pub fn value_text(&self) -> String {
        match *self {
            SockOpt::ReuseAddress(b)
            | SockOpt::ReusePort(b)
            | SockOpt::KeepAlive(b)
            | SockOpt::NoDelay(b)
            | SockOpt::Broadcast(b)
            | SockOpt::OnlyV6(b)
            | SockOpt::MulticastLoop(b)
            | SockOpt::Blocking(b) => b.to_string(),
            SockOpt::KeepAliveIdle(d) | SockOpt::KeepAliveInterval(d) => secs(d),
            SockOpt::KeepAliveCount(n) | SockOpt::Ttl(n) | SockOpt::MulticastTtl(n) => {
                n.to_string()
            }
            SockOpt::RecvBuffer(n) | SockOpt::SendBuffer(n) => n.to_string(),
            SockOpt::MulticastIfV4(a) => a.to_string(),
            SockOpt::MulticastIfV6(i) => i.to_string(),
            SockOpt::Linger(l) | SockOpt::ReadTimeout(l) | SockOpt::WriteTimeout(l) => opt_secs(l),
        }
    }
}

fn secs(d: Duration) -> String {
    format!("{}s", d.as_secs_f64())
}

fn opt_secs(d: Option<Duration>) -> String {
    match d {
        None => "off".into(),
        Some(d) => secs(d),
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

/// Sets one option on a socket.
pub fn apply(sock: &SockRef<'_>, opt: SockOpt) -> io::Result<()> {
    let v6 = sock.domain().map(|d| d == Domain::IPV6).unwrap_or(false);
    match opt {
        SockOpt::ReuseAddress(b) => sock.set_reuse_address(b),
        SockOpt::ReusePort(b) => sock.set_reuse_port(b),
        SockOpt::KeepAlive(b) => sock.set_keepalive(b),
        SockOpt::KeepAliveIdle(d) => sock.set_tcp_keepalive(&TcpKeepalive::new().with_time(d)),
        SockOpt::KeepAliveInterval(d) => {
            sock.set_tcp_keepalive(&TcpKeepalive::new().with_interval(d))
        }
        SockOpt::KeepAliveCount(n) => sock.set_tcp_keepalive(&TcpKeepalive::new().with_retries(n)),
        SockOpt::NoDelay(b) => sock.set_tcp_nodelay(b),
        SockOpt::RecvBuffer(n) => sock.set_recv_buffer_size(n),
        SockOpt::SendBuffer(n) => sock.set_send_buffer_size(n),
        SockOpt::Linger(l) => sock.set_linger(l),
        SockOpt::Broadcast(b) => sock.set_broadcast(b),
        SockOpt::Ttl(n) if v6 => sock.set_unicast_hops_v6(n),
        SockOpt::Ttl(n) => sock.set_ttl_v4(n),
        SockOpt::OnlyV6(b) => sock.set_only_v6(b),
        SockOpt::MulticastTtl(n) if v6 => sock.set_multicast_hops_v6(n),
        SockOpt::MulticastTtl(n) => sock.set_multicast_ttl_v4(n),
        SockOpt::MulticastLoop(b) if v6 => sock.set_multicast_loop_v6(b),
        SockOpt::MulticastLoop(b) => sock.set_multicast_loop_v4(b),
        SockOpt::MulticastIfV4(a) => sock.set_multicast_if_v4(&a),
        SockOpt::MulticastIfV6(i) => sock.set_multicast_if_v6(i),
        SockOpt::ReadTimeout(d) => sock.set_read_timeout(d),
        SockOpt::WriteTimeout(d) => sock.set_write_timeout(d),
        SockOpt::Blocking(b) => sock.set_nonblocking(!b),
    }
}

/// Reads one option back with getsockopt, formatted like `value_text`.
pub fn read(sock: &SockRef<'_>, name: OptName) -> io::Result<String> {
    let v6 = sock.domain().map(|d| d == Domain::IPV6).unwrap_or(false);
    Ok(match name {
        OptName::ReuseAddress => sock.reuse_address()?.to_string(),
        OptName::ReusePort => sock.reuse_port()?.to_string(),
        OptName::KeepAlive => sock.keepalive()?.to_string(),
        OptName::KeepAliveIdle => secs(sock.tcp_keepalive_time()?),
        OptName::KeepAliveInterval => secs(sock.tcp_keepalive_interval()?),
        OptName::KeepAliveCount => sock.tcp_keepalive_retries()?.to_string(),
        OptName::NoDelay => sock.tcp_nodelay()?.to_string(),
        OptName::RecvBuffer => sock.recv_buffer_size()?.to_string(),
        OptName::SendBuffer => sock.send_buffer_size()?.to_string(),
        OptName::Linger => opt_secs(sock.linger()?),
        OptName::Broadcast => sock.broadcast()?.to_string(),
        OptName::Ttl if v6 => sock.unicast_hops_v6()?.to_string(),
        OptName::Ttl => sock.ttl_v4()?.to_string(),
        OptName::OnlyV6 => sock.only_v6()?.to_string(),
        OptName::MulticastTtl if v6 => sock.multicast_hops_v6()?.to_string(),
        OptName::MulticastTtl => sock.multicast_ttl_v4()?.to_string(),
        OptName::MulticastLoop if v6 => sock.multicast_loop_v6()?.to_string(),
        OptName::MulticastLoop => sock.multicast_loop_v4()?.to_string(),
        OptName::MulticastIf if v6 => sock.multicast_if_v6()?.to_string(),
        OptName::MulticastIf => sock.multicast_if_v4()?.to_string(),
        OptName::ReadTimeout => opt_secs(sock.read_timeout()?),
        OptName::WriteTimeout => opt_secs(sock.write_timeout()?),
        OptName::Blocking => (!sock.nonblocking()?).to_string(),
    })
}

/// Reads one option back and pairs it with what was requested.
pub fn report(sock: &SockRef<'_>, name: OptName, requested: Option<&SockOpt>) -> OptionReport {
    let v6 = sock.domain().map(|d| d == Domain::IPV6).unwrap_or(false);
    OptionReport {
        name: name.c_name(v6),
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
    OptName::ALL
        .iter()
        .filter(|n| n.applies(shape))
        .map(|&n| report(sock, n, requested.iter().rev().find(|o| o.name() == n)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use socket2::Socket;

    #[test]
    fn kernel_doubles_rcvbuf_and_report_shows_both() {
        let s = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
        let r = SockRef::from(&s);
        apply(&r, SockOpt::RecvBuffer(65536)).unwrap();
        let rep = report(&r, OptName::RecvBuffer, Some(&SockOpt::RecvBuffer(65536)));
        assert_eq!(rep.name, "SO_RCVBUF");
        assert_eq!(rep.requested.as_deref(), Some("65536"));
        assert_eq!(rep.actual.as_deref(), Ok("131072"));
        assert!(rep.differs());
    }

    #[test]
    fn snapshot_lists_only_what_applies() {
        let s = Socket::new(Domain::IPV6, Type::DGRAM, None).unwrap();
        let snap = snapshot(&SockRef::from(&s), &[SockOpt::OnlyV6(true)]);
        let names: Vec<_> = snap.iter().map(|r| r.name).collect();
        assert!(names.contains(&"IPV6_UNICAST_HOPS"));
        assert!(names.contains(&"IPV6_MULTICAST_LOOP"));
        assert!(!names.contains(&"TCP_NODELAY"));
        let v6only = snap.iter().find(|r| r.name == "IPV6_V6ONLY").unwrap();
        assert_eq!(v6only.requested.as_deref(), Some("true"));
    }

    #[test]
    fn linger_and_timeouts_read_back() {
        let s = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
        let r = SockRef::from(&s);
        apply(&r, SockOpt::Linger(Some(Duration::ZERO))).unwrap();
        apply(&r, SockOpt::ReadTimeout(Some(Duration::from_millis(1500)))).unwrap();
        apply(&r, SockOpt::Blocking(false)).unwrap();
        assert_eq!(read(&r, OptName::Linger).unwrap(), "0s");
        assert_eq!(read(&r, OptName::ReadTimeout).unwrap(), "1.5s");
        assert_eq!(read(&r, OptName::Blocking).unwrap(), "false");
    }
}
