//! Socket errors as users need to read them: the operation, the errno name
//! and number, the OS text, and a hint where a likely fix is known.

use std::fmt;
use std::io;

use serde::Serialize;

/// A failed socket operation, ready to show.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct OpError {
    /// What was attempted, with its argument: `connect 127.0.0.1:7788`.
    pub op: String,
    /// The raw errno, when the OS gave one.
    pub errno: Option<i32>,
    /// The errno's symbolic name (`ECONNREFUSED`).
    pub errno_name: Option<String>,
    /// The OS text (`Connection refused`) or our own words.
    pub message: String,
    /// A likely fix, when one is known.
    pub hint: Option<String>,
}

impl OpError {
    /// Builds an error from an I/O error raised by `op`.
    pub fn io(op: impl Into<String>, err: &io::Error) -> OpError {
        let op = op.into();
        match err.raw_os_error() {
            Some(n) => {
                let errno = nix::errno::Errno::from_raw(n);
                OpError {
                    hint: hint_for(n, &op),
                    op,
                    errno: Some(n),
                    errno_name: Some(format!("{errno:?}")),
                    message: errno.desc().to_string(),
                }
            }
            None => OpError {
                op,
                errno: None,
                errno_name: None,
                message: err.to_string(),
                hint: None,
            },
        }
    }

    /// Builds an error that has no errno (a timeout we measured, a bad name).
    pub fn plain(op: impl Into<String>, message: impl Into<String>) -> OpError {
        OpError {
            op: op.into(),
            errno: None,
            errno_name: None,
            message: message.into(),
            hint: None,
        }
    }

    /// Roughly the bytes it holds (for the event channel's byte bound).
    pub fn weight(&self) -> usize {
        self.op.len() + self.message.len() + self.hint.as_ref().map_or(0, |h| h.len())
    }

    /// Adds or replaces the hint.
    pub fn with_hint(mut self, hint: impl Into<String>) -> OpError {
        self.hint = Some(hint.into());
        self
    }

    /// Whether this error is the given errno.
    pub fn is(&self, errno: i32) -> bool {
        self.errno == Some(errno)
    }
}

impl fmt::Display for OpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: ", self.op)?;
        match (&self.errno_name, self.errno) {
            (Some(name), Some(n)) => write!(f, "{name} ({n}) {}", self.message)?,
            _ => f.write_str(&self.message)?,
        }
        if let Some(h) = &self.hint {
            write!(f, " (hint: {h})")?;
        }
        Ok(())
    }
}

impl std::error::Error for OpError {}

fn hint_for(errno: i32, op: &str) -> Option<String> {
    let h = match errno {
        libc::EADDRINUSE => {
            "another socket holds this address; enable SO_REUSEADDR (reuse_address) to rebind over TIME_WAIT, SO_REUSEPORT to share it, or pick another port"
        }
        libc::ECONNREFUSED if op.starts_with("recv") || op.starts_with("send") => {
            "the peer answered with ICMP port unreachable: nothing listens at the destination"
        }
        libc::ECONNREFUSED => "nothing is listening there; start a server on that port first",
        libc::EACCES if op.starts_with("bind") => {
            "ports below 1024 need privileges; pick a port of 1024 or above"
        }
        libc::EACCES if op.starts_with("send") => {
            "sending to a broadcast address needs SO_BROADCAST (broadcast: true)"
        }
        libc::EADDRNOTAVAIL => {
            "that address is not on any local interface; use 127.0.0.1, ::1 or an address this machine has"
        }
        libc::ETIMEDOUT => {
            "no answer in time; check the address and any firewall, or raise the timeout"
        }
        libc::EAGAIN => {
            "the socket is non-blocking (or its timeout expired) and the call could not complete now"
        }
        libc::EMFILE | libc::ENFILE => {
            "out of file descriptors; close some sessions or raise the limit (ulimit -n)"
        }
        libc::ENOENT if op.starts_with("connect") => {
            "no socket file at that path; start the server first"
        }
        libc::EMSGSIZE => "the datagram is larger than the socket can send in one piece",
        libc::EPIPE => "the peer has closed the connection; nothing more can be written",
        libc::ECONNRESET => {
            "the peer reset the connection (RST): it closed with unread data or aborted"
        }
        libc::ENETUNREACH | libc::EHOSTUNREACH => "no route to that address from this machine",
        libc::EINVAL if op.starts_with("listen") => "listen needs a bound stream socket",
        libc::ENOTCONN => "the socket is not connected; connect first or give a destination",
        libc::EAFNOSUPPORT => "the address family does not match the socket's (IPv4 vs IPv6)",
        _ => return None,
    };
    Some(h.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_like_the_style_guide() {
        let e = OpError::io(
            "connect 127.0.0.1:7788",
            &io::Error::from_raw_os_error(libc::ECONNREFUSED),
        );
        let s = e.to_string();
        assert!(
            s.starts_with("connect 127.0.0.1:7788: ECONNREFUSED (111) Connection refused"),
            "{s}"
        );
        assert!(s.contains("nothing is listening"), "{s}");
        let e = OpError::io(
            "bind 127.0.0.1:1",
            &io::Error::from_raw_os_error(libc::EADDRINUSE),
        );
        assert!(e.hint.unwrap().contains("SO_REUSEADDR"));
    }
}
