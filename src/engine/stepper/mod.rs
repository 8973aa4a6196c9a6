//! Step mode: the socket API one call at a time, on real sockets, with the
//! kernel's answer for each. Calls run on the session's own thread as real
//! (possibly blocking) syscalls; a blocking call is cancelled by a signal,
//! which makes the syscall return EINTR, the way a C program would do it,
//! without touching the socket's state.

use std::collections::HashMap;
use std::io::{self, Read};
use std::mem::MaybeUninit;
use std::net::{Shutdown, SocketAddr};
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use socket2::{Domain, SockAddr, SockRef, Socket, Type};

use super::error::OpError;
use super::options::{self, OptName, SockOpt};
use super::protocol::Addr;

mod exec;

pub(crate) use exec::StepSession;
pub use exec::{Canceller, Stepper, backlog_of, run_script};

/// The address family of `socket()`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Family {
    /// AF_INET
    Inet,
    /// AF_INET6
    Inet6,
    /// AF_UNIX
    Unix,
}

/// The type of `socket()`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SockType {
    /// SOCK_STREAM
    Stream,
    /// SOCK_DGRAM
    Dgram,
}

/// `shutdown(how)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum How {
    /// SHUT_RD
    Read,
    /// SHUT_WR
    Write,
    /// SHUT_RDWR
    Both,
}

/// An address argument: literal, or `@var` for the sockname another socket
/// reported (a server bound to port 0).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AddrArg(pub String);

/// One call of the socket API, on the socket named `var`.
#[derive(Clone, Debug, PartialEq)]
pub enum Call {
    /// `var = socket(family, type)`
    Socket {
        /// Variable.
        var: String,
        /// AF_*.
        family: Family,
        /// SOCK_*.
        ty: SockType,
    },
    /// `var.setsockopt(...)`
    SetSockOpt {
        /// Variable.
        var: String,
        /// Option and value.
        opt: SockOpt,
    },
    /// `var.getsockopt(...)`
    GetSockOpt {
        /// Variable.
        var: String,
        /// Which option.
        opt: OptName,
    },
    /// `var.settimeout(secs)`: None blocks forever, 0 is non-blocking.
    SetTimeout {
        /// Variable.
        var: String,
        /// Seconds.
        secs: Option<f64>,
    },
    /// `var.gettimeout()`
    GetTimeout {
        /// Variable.
        var: String,
    },
    /// `var.setblocking(flag)`
    SetBlocking {
        /// Variable.
        var: String,
        /// Blocking?
        flag: bool,
    },
    /// `var.bind(addr)`
    Bind {
        /// Variable.
        var: String,
        /// Address.
        addr: AddrArg,
    },
    /// `var.listen(backlog)`
    Listen {
        /// Variable.
        var: String,
        /// Backlog.
        backlog: i32,
    },
    /// `into, addr = var.accept()`
    Accept {
        /// Listening variable.
        var: String,
        /// Variable for the accepted socket.
        into: String,
    },
    /// `var.connect(addr)`
    Connect {
        /// Variable.
        var: String,
        /// Address.
        addr: AddrArg,
    },
    /// `var.connect_ex(addr)`: the errno instead of an error.
    ConnectEx {
        /// Variable.
        var: String,
        /// Address.
        addr: AddrArg,
    },
    /// `var.send(data)`: one call, may write less.
    Send {
        /// Variable.
        var: String,
        /// Bytes.
        data: Vec<u8>,
    },
    /// `var.sendall(data)`
    SendAll {
        /// Variable.
        var: String,
        /// Bytes.
        data: Vec<u8>,
    },
    /// `var.sendto(data, addr)`
    SendTo {
        /// Variable.
        var: String,
        /// Bytes.
        data: Vec<u8>,
        /// Destination.
        addr: AddrArg,
    },
    /// `var.recv(n)`
    Recv {
        /// Variable.
        var: String,
        /// Buffer size.
        n: usize,
    },
    /// `var.recvfrom(n)` (MSG_TRUNC tells a datagram's real size)
    RecvFrom {
        /// Variable.
        var: String,
        /// Buffer size.
        n: usize,
    },
    /// `var.shutdown(how)`
    Shutdown {
        /// Variable.
        var: String,
        /// Which side.
        how: How,
    },
    /// `var.close()`
    Close {
        /// Variable.
        var: String,
    },
    /// `var.getsockname()`
    GetSockName {
        /// Variable.
        var: String,
    },
    /// `var.getpeername()`
    GetPeerName {
        /// Variable.
        var: String,
    },
    /// `var.fileno()`
    FileNo {
        /// Variable.
        var: String,
    },
    /// asyncio `readexactly(n)`: recv until n bytes or EOF.
    ReadExactly {
        /// Variable.
        var: String,
        /// Bytes wanted.
        n: usize,
    },
    /// asyncio `readuntil(sep)`: recv until the separator.
    ReadUntil {
        /// Variable.
        var: String,
        /// Separator.
        sep: Vec<u8>,
    },
    /// The connections a listening socket has queued (not yet accepted),
    /// as the kernel reports them in /proc/net/tcp{,6}.
    Backlog {
        /// Listening variable.
        var: String,
    },
}

impl Call {
    /// The socket variable the call is on.
    pub fn var(&self) -> &str {
        match self {
            Call::Socket { var, .. }
            | Call::SetSockOpt { var, .. }
            | Call::GetSockOpt { var, .. }
            | Call::SetTimeout { var, .. }
            | Call::GetTimeout { var }
            | Call::SetBlocking { var, .. }
            | Call::Bind { var, .. }
            | Call::Listen { var, .. }
            | Call::Accept { var, .. }
            | Call::Connect { var, .. }
            | Call::ConnectEx { var, .. }
            | Call::Send { var, .. }
            | Call::SendAll { var, .. }
            | Call::SendTo { var, .. }
            | Call::Recv { var, .. }
            | Call::RecvFrom { var, .. }
            | Call::Shutdown { var, .. }
            | Call::Close { var }
            | Call::GetSockName { var }
            | Call::GetPeerName { var }
            | Call::FileNo { var }
            | Call::ReadExactly { var, .. }
            | Call::ReadUntil { var, .. }
            | Call::Backlog { var } => var,
        }
    }

    /// The call's name as the seed's table writes it.
    pub fn name(&self) -> &'static str {
        match self {
            Call::Socket { .. } => "socket",
            Call::SetSockOpt { .. } => "setsockopt",
            Call::GetSockOpt { .. } => "getsockopt",
            Call::SetTimeout { .. } => "settimeout",
            Call::GetTimeout { .. } => "gettimeout",
            Call::SetBlocking { .. } => "setblocking",
            Call::Bind { .. } => "bind",
            Call::Listen { .. } => "listen",
            Call::Accept { .. } => "accept",
            Call::Connect { .. } => "connect",
            Call::ConnectEx { .. } => "connect_ex",
            Call::Send { .. } => "send",
            Call::SendAll { .. } => "sendall",
            Call::SendTo { .. } => "sendto",
            Call::Recv { .. } => "recv",
            Call::RecvFrom { .. } => "recvfrom",
            Call::Shutdown { .. } => "shutdown",
            Call::Close { .. } => "close",
            Call::GetSockName { .. } => "getsockname",
            Call::GetPeerName { .. } => "getpeername",
            Call::FileNo { .. } => "fileno",
            Call::ReadExactly { .. } => "readexactly",
            Call::ReadUntil { .. } => "readuntil",
            Call::Backlog { .. } => "backlog",
        }
    }

    /// The arguments as the user would write them (for the log and JSON).
    pub fn args(&self) -> Vec<String> {
        let bytes = |d: &[u8]| py_bytes(d);
        match self {
            Call::Socket { family, ty, .. } => vec![
                match family {
                    Family::Inet => "AF_INET",
                    Family::Inet6 => "AF_INET6",
                    Family::Unix => "AF_UNIX",
                }
                .into(),
                match ty {
                    SockType::Stream => "SOCK_STREAM",
                    SockType::Dgram => "SOCK_DGRAM",
                }
                .into(),
            ],
            Call::SetSockOpt { opt, .. } => {
                vec![opt.name().c_name(false).to_string(), opt.value_text()]
            }
            Call::GetSockOpt { opt, .. } => vec![opt.c_name(false).to_string()],
            Call::SetTimeout { secs, .. } => vec![match secs {
                None => "None".into(),
                Some(s) => s.to_string(),
            }],
            Call::SetBlocking { flag, .. } => vec![if *flag { "True" } else { "False" }.into()],
            Call::Bind { addr, .. } | Call::Connect { addr, .. } | Call::ConnectEx { addr, .. } => {
                vec![addr.0.clone()]
            }
            Call::Listen { backlog, .. } => vec![backlog.to_string()],
            Call::Send { data, .. } | Call::SendAll { data, .. } => vec![bytes(data)],
            Call::SendTo { data, addr, .. } => vec![bytes(data), addr.0.clone()],
            Call::Recv { n, .. } | Call::RecvFrom { n, .. } | Call::ReadExactly { n, .. } => {
                vec![n.to_string()]
            }
            Call::ReadUntil { sep, .. } => vec![bytes(sep)],
            Call::Shutdown { how, .. } => vec![
                match how {
                    How::Read => "SHUT_RD",
                    How::Write => "SHUT_WR",
                    How::Both => "SHUT_RDWR",
                }
                .into(),
            ],
            Call::Accept { .. }
            | Call::GetTimeout { .. }
            | Call::Close { .. }
            | Call::GetSockName { .. }
            | Call::GetPeerName { .. }
            | Call::FileNo { .. }
            | Call::Backlog { .. } => Vec::new(),
        }
    }

    /// Whether every value in the call is one the kernel takes as meant:
    /// the one check for calls from a file, the panel and the engine
    /// itself (which refuses a bad call rather than panic on it).
    pub fn check(&self) -> Result<(), String> {
        let ident = |v: &str| {
            let ok = v
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                && v.len() <= 64
                && v.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            if ok {
                Ok(())
            } else {
                Err(format!(
                    "'{}' is not a variable name (letters, digits, _; at most 64)",
                    crate::engine::codec::excerpt(v, 40)
                ))
            }
        };
        ident(self.var())?;
        match self {
            Call::Accept { into, .. } => ident(into),
            Call::SetSockOpt { opt, .. } => opt.check(),
            Call::SetTimeout { secs: Some(s), .. } => {
                if s.is_finite() && (*s == 0.0 || (1e-6..=31_536_000.0).contains(s)) {
                    Ok(())
                } else {
                    Err(format!(
                        "settimeout takes None, 0 (non-blocking) or 0.000001 to 31536000 seconds; {s} is out of range"
                    ))
                }
            }
            Call::Listen { backlog, .. } if !(0..=65_535).contains(backlog) => Err(format!(
                "listen takes a backlog from 0 to 65535; {backlog} is out of range"
            )),
            Call::Recv { n, .. } | Call::RecvFrom { n, .. } | Call::ReadExactly { n, .. }
                if !(1..=MAX_RECV).contains(n) =>
            {
                Err(format!(
                    "{} takes a byte count from 1 to {MAX_RECV}; {n} is out of range",
                    self.name()
                ))
            }
            Call::ReadUntil { sep, .. } if sep.is_empty() => {
                Err("readuntil needs a separator of at least one byte".into())
            }
            _ => Ok(()),
        }
    }

    /// The call as one line of Python-like text: `srv.bind(127.0.0.1:0)`.
    pub fn text(&self) -> String {
        let args = self.args().join(", ");
        match self {
            Call::Socket { var, .. } => format!("{var} = socket({args})"),
            Call::Accept { var, into } => format!("{into}, addr = {var}.accept()"),
            other => format!("{}.{}({args})", other.var(), other.name()),
        }
    }
}

/// The most bytes one recv, recvfrom or readexactly asks for.
pub const MAX_RECV: usize = 16 * 1024 * 1024;

/// Bytes as a Python literal: `b'GET / HTTP/1.0\r\n'`.
pub fn py_bytes(d: &[u8]) -> String {
    let mut s = String::from("b'");
    for &b in d {
        match b {
            b'\\' => s.push_str("\\\\"),
            b'\'' => s.push_str("\\'"),
            b'\r' => s.push_str("\\r"),
            b'\n' => s.push_str("\\n"),
            b'\t' => s.push_str("\\t"),
            0x20..=0x7e => s.push(b as char),
            _ => s.push_str(&format!("\\x{b:02x}")),
        }
    }
    s.push('\'');
    s
}

/// What a call returned.
#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    /// Nothing (Python's None).
    Nothing,
    /// A number (bytes written, fd, errno from connect_ex, count).
    Int(i64),
    /// Text (an option value, a timeout).
    Text(String),
    /// An address.
    Addr(Addr),
    /// Bytes received (`b''` is EOF).
    Bytes(Vec<u8>),
    /// A datagram and its source; `truncated_from` when it did not fit.
    BytesFrom {
        /// What fitted.
        data: Vec<u8>,
        /// Source.
        from: Addr,
        /// Real size (MSG_TRUNC).
        truncated_from: Option<usize>,
    },
    /// A new socket (accept), with the peer.
    Accepted {
        /// Its variable.
        var: String,
        /// getpeername.
        peer: Addr,
        /// Its fd.
        fd: i32,
    },
}

impl Outcome {
    /// As Python would print it.
    pub fn text(&self) -> String {
        match self {
            Outcome::Nothing => "None".into(),
            Outcome::Int(n) => n.to_string(),
            Outcome::Text(t) => t.clone(),
            Outcome::Addr(a) => a.to_string(),
            Outcome::Bytes(b) => py_bytes(b),
            Outcome::BytesFrom {
                data,
                from,
                truncated_from,
            } => {
                let mut s = format!("({}, {from})", py_bytes(data));
                if let Some(n) = truncated_from {
                    s.push_str(&format!(" MSG_TRUNC: the datagram had {n} bytes"));
                }
                s
            }
            Outcome::Accepted { var, peer, fd } => format!("{var} (fd {fd}) from {peer}"),
        }
    }
}

/// One call and what the kernel said.
#[derive(Clone, Debug, PartialEq)]
pub struct CallRecord {
    /// The call.
    pub call: Call,
    /// Its result.
    pub result: Result<Outcome, OpError>,
    /// Whether the error was a timeout expiring (EAGAIN on a blocking socket).
    pub timed_out: bool,
    /// How long the call took.
    pub took: Duration,
}

impl CallRecord {
    /// Roughly the bytes it holds (for the event channel's byte bound).
    pub fn weight(&self) -> usize {
        let call = match &self.call {
            Call::Send { data, .. } | Call::SendAll { data, .. } | Call::SendTo { data, .. } => {
                data.len()
            }
            _ => 64,
        };
        let result = match &self.result {
            Ok(Outcome::Bytes(b)) => b.len(),
            Ok(Outcome::Text(t)) => t.len(),
            Ok(_) => 32,
            Err(e) => e.weight(),
        };
        call + result
    }
}
