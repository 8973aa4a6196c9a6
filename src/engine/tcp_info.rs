//! What the kernel thinks of a TCP connection: `getsockopt(TCP_INFO)`,
//! which no peer tool shows. Read on request (the inspector a few times a
//! second while it is visible, `sockscope run --tcp-info SECS`), never on
//! a timer of its own.

use std::io;
use std::os::fd::RawFd;

/// One reading of `struct tcp_info`. Times are in microseconds, sizes in
/// bytes or segments as the kernel counts them. Fields an older kernel
/// does not fill (it returns a shorter struct) are None.
#[derive(Clone, Debug, PartialEq, Eq, Default, serde::Serialize)]
pub struct TcpInfo {
    /// `tcpi_state` by name: ESTABLISHED, FIN_WAIT1, CLOSE_WAIT, ...
    pub state: &'static str,
    /// Smoothed round-trip time.
    pub rtt_us: u32,
    /// Its variation.
    pub rttvar_us: u32,
    /// Congestion window, in segments.
    pub cwnd: u32,
    /// Slow-start threshold (segments; a huge value means not set yet).
    pub ssthresh: u32,
    /// Retransmissions of the current segment (`tcpi_retransmits`).
    pub retrans: u8,
    /// Retransmitted segments over the connection's life.
    pub total_retrans: u32,
    /// Segments thought lost.
    pub lost: u32,
    /// Sent and not yet acknowledged.
    pub unacked: u32,
    /// Selectively acknowledged.
    pub sacked: u32,
    /// Path MTU.
    pub pmtu: u32,
    /// Sender's maximum segment size.
    pub snd_mss: u32,
    /// The receive buffer space the kernel offers the peer.
    pub rcv_space: u32,
    /// Bytes the peer acknowledged.
    pub bytes_acked: Option<u64>,
    /// Bytes received from the peer.
    pub bytes_received: Option<u64>,
    /// Bytes written but not yet sent (`tcpi_notsent_bytes`).
    pub notsent_bytes: Option<u32>,
    /// Smallest round-trip time seen.
    pub min_rtt_us: Option<u32>,
    /// Delivery rate, bytes per second.
    pub delivery_rate: Option<u64>,
    /// Time spent sending data.
    pub busy_us: Option<u64>,
    /// Time the peer's receive window limited sending.
    pub rwnd_limited_us: Option<u64>,
    /// Time our send buffer limited sending.
    pub sndbuf_limited_us: Option<u64>,
}

/// The name of a `tcpi_state` value (the kernel's `TCP_*` states).
pub fn state_name(s: u8) -> &'static str {
    match s {
        1 => "ESTABLISHED",
        2 => "SYN_SENT",
        3 => "SYN_RECV",
        4 => "FIN_WAIT1",
        5 => "FIN_WAIT2",
        6 => "TIME_WAIT",
        7 => "CLOSE",
        8 => "CLOSE_WAIT",
        9 => "LAST_ACK",
        10 => "LISTEN",
        11 => "CLOSING",
        12 => "NEW_SYN_RECV",
        _ => "UNKNOWN",
    }
}

/// Reads TCP_INFO of a TCP socket.
pub fn read(fd: RawFd) -> io::Result<TcpInfo> {
    // SAFETY: tcp_info is plain old data; zero is a valid value of it.
    let mut raw: libc::tcp_info = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::tcp_info>() as libc::socklen_t;
    // SAFETY: the pointer and length describe `raw`, which outlives the
    // call; the kernel writes at most `len` bytes and says how many.
    let rc = unsafe {
        libc::getsockopt(
            fd,
            libc::IPPROTO_TCP,
            libc::TCP_INFO,
            (&mut raw as *mut libc::tcp_info).cast(),
            &mut len,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(from_raw(&raw, len as usize))
}

/// Reads a `struct tcp_info` as the kernel hands it over netlink
/// (`INET_DIAG_INFO`), which may be shorter (an older kernel) or longer (a
/// newer one) than ours: what is missing reads as None, what is extra is
/// ignored.
pub fn from_bytes(bytes: &[u8]) -> TcpInfo {
    // SAFETY: tcp_info is plain old data; zero is a valid value of it.
    let mut raw: libc::tcp_info = unsafe { std::mem::zeroed() };
    let len = bytes.len().min(std::mem::size_of::<libc::tcp_info>());
    // SAFETY: at most size_of::<tcp_info>() bytes are copied into `raw`,
    // from a slice that holds at least that many; any bit pattern is a
    // valid tcp_info (integers only).
    unsafe {
        std::ptr::copy_nonoverlapping(
            bytes.as_ptr(),
            (&mut raw as *mut libc::tcp_info).cast::<u8>(),
            len,
        );
    }
    from_raw(&raw, len)
}

/// The fields of `raw`, of which the kernel filled the first `len` bytes.
fn from_raw(raw: &libc::tcp_info, len: usize) -> TcpInfo {
    // A field counts only when the kernel's struct reached its end.
    macro_rules! filled {
        ($field:ident) => {{
            let end =
                std::mem::offset_of!(libc::tcp_info, $field) + std::mem::size_of_val(&raw.$field);
            (len >= end).then_some(raw.$field)
        }};
    }
    TcpInfo {
        state: state_name(raw.tcpi_state),
        rtt_us: raw.tcpi_rtt,
        rttvar_us: raw.tcpi_rttvar,
        cwnd: raw.tcpi_snd_cwnd,
        ssthresh: raw.tcpi_snd_ssthresh,
        retrans: raw.tcpi_retransmits,
        total_retrans: raw.tcpi_total_retrans,
        lost: raw.tcpi_lost,
        unacked: raw.tcpi_unacked,
        sacked: raw.tcpi_sacked,
        pmtu: raw.tcpi_pmtu,
        snd_mss: raw.tcpi_snd_mss,
        rcv_space: raw.tcpi_rcv_space,
        bytes_acked: filled!(tcpi_bytes_acked),
        bytes_received: filled!(tcpi_bytes_received),
        notsent_bytes: filled!(tcpi_notsent_bytes),
        min_rtt_us: filled!(tcpi_min_rtt),
        delivery_rate: filled!(tcpi_delivery_rate),
        busy_us: filled!(tcpi_busy_time),
        rwnd_limited_us: filled!(tcpi_rwnd_limited),
        sndbuf_limited_us: filled!(tcpi_sndbuf_limited),
    }
}
