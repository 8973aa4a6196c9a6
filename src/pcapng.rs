//! What sessions saw, as a pcapng file for Wireshark. Sockscope sees the
//! socket API, not packets, so the packets are made up from the events,
//! consistently: a TCP connection gets its three-way handshake, each send
//! and receive a segment with the right sequence and acknowledgement
//! numbers (and the other side's ACK), a half-close its FIN, an abort its
//! RST; a datagram is one UDP packet. Follow TCP Stream then shows
//! exactly the bytes of each connection in order, and Wireshark's
//! analysis has nothing to flag.
//!
//! The bytes are the application's: plaintext on a TLS session, message
//! payloads on a WebSocket. Unix sockets become IPv4 loopback flows of
//! made-up addresses (127.1.x.x for ours, 127.2.x.x for the peer) with
//! the real paths in a packet comment, so the same tools work on them.
//! One interface block per session, named after it. Headers by
//! etherparse, blocks by pcap-file.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::io::{self, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, SystemTime};

use etherparse::PacketBuilder;
use pcap_file::DataLink;
use pcap_file::pcapng::PcapNgWriter;
use pcap_file::pcapng::blocks::enhanced_packet::{EnhancedPacketBlock, EnhancedPacketOption};
use pcap_file::pcapng::blocks::interface_description::{
    InterfaceDescriptionBlock, InterfaceDescriptionOption,
};

use crate::engine::SessionId;
use crate::engine::protocol::{Addr, CloseReason, Direction, EventKind, Kind, LogEntry, Side};

/// The largest TCP payload put in one made-up segment (an IPv6 header and
/// a TCP header stay within 65,535 bytes of IP payload).
const SEGMENT: usize = 65_000;
/// The window every made-up segment advertises.
const WINDOW: u16 = 65_535;

/// One connection's made-up TCP state.
struct Flow {
    local: SocketAddr,
    peer: SocketAddr,
    /// The next sequence number each side sends.
    ours: u32,
    theirs: u32,
    /// A FIN went each way.
    fin_ours: bool,
    fin_theirs: bool,
}

/// A pcapng stream being written from a session's events.
pub struct Pcap<W: Write> {
    w: PcapNgWriter<W>,
    /// Interface id by top-level session.
    interfaces: HashMap<u32, u32>,
    /// A top-level session's name and kind, from its `opened`.
    opened: HashMap<u32, (String, Kind)>,
    /// Children a server accepted: their peer opened the connection.
    accepted: HashSet<SessionId>,
    flows: HashMap<SessionId, Flow>,
    /// Datagram sessions' own addresses.
    bound: HashMap<SessionId, SocketAddr>,
    /// The last timestamp written, so packets of one event stay in order.
    last: Duration,
    packets: u64,
}

impl<W: Write> Pcap<W> {
    /// Starts a file (its section header) on `w`.
    pub fn new(w: W) -> io::Result<Pcap<W>> {
        Ok(Pcap {
            w: PcapNgWriter::new(w).map_err(pcap_err)?,
            interfaces: HashMap::new(),
            opened: HashMap::new(),
            accepted: HashSet::new(),
            flows: HashMap::new(),
            bound: HashMap::new(),
            last: Duration::ZERO,
            packets: 0,
        })
    }

    /// Packets written so far.
    pub fn packets(&self) -> u64 {
        self.packets
    }

    /// The writer, flushed.
    pub fn finish(self) -> io::Result<W> {
        let mut w = self.w.into_inner();
        w.flush()?;
        Ok(w)
    }

    /// One event of session `id`, at `at`.
    pub fn event(&mut self, id: SessionId, at: SystemTime, kind: &EventKind) -> io::Result<()> {
        let t = at
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default();
        match kind {
            EventKind::Opened { name, kind } => {
                self.opened.insert(id.session, (name.clone(), *kind));
            }
            EventKind::Accepted { child, .. } => {
                self.accepted.insert(*child);
            }
            EventKind::Bound { local, .. } => {
                if let Some(a) = inet_or_made_up(local, id, true) {
                    self.bound.insert(id, a);
                }
            }
            EventKind::Connected { local, peer, .. } if self.exported(id) => {
                self.connected(id, t, local, peer)?;
            }
            EventKind::Log(e) => self.data(id, t, e)?,
            EventKind::HalfClosed { by } => {
                if let Some(f) = self.flows.get(&id)
                    && !(match by {
                        Side::Local => f.fin_ours,
                        Side::Peer => f.fin_theirs,
                    })
                {
                    self.fin(id, t, *by == Side::Local)?;
                }
            }
            EventKind::Closed { reason, .. } => self.closed(id, t, reason)?,
            _ => {}
        }
        Ok(())
    }

    /// Serial ports, step mode and bursts have no connection of their own
    /// to show (a serial port is no socket at all).
    fn exported(&self, id: SessionId) -> bool {
        !matches!(
            self.opened.get(&id.session).map(|o| o.1),
            Some(Kind::Serial | Kind::Script | Kind::Burst)
        )
    }

    fn interface(&mut self, id: SessionId) -> io::Result<u32> {
        if let Some(i) = self.interfaces.get(&id.session) {
            return Ok(*i);
        }
        let (name, kind) = self
            .opened
            .get(&id.session)
            .map(|(n, k)| (n.clone(), k.label()))
            .unwrap_or_else(|| (format!("session {}", id.session), "session"));
        let idb = InterfaceDescriptionBlock {
            linktype: DataLink::RAW,
            snaplen: 0,
            options: vec![
                InterfaceDescriptionOption::IfName(Cow::Owned(format!("{} {name}", id.session))),
                InterfaceDescriptionOption::IfDescription(Cow::Owned(format!(
                    "Sockscope session {} ({kind}), packets made up from its socket calls",
                    id.session
                ))),
                // pcap-file writes timestamps in nanoseconds.
                InterfaceDescriptionOption::IfTsResol(9),
            ],
        };
        self.w.write_pcapng_block(idb).map_err(pcap_err)?;
        let n = self.interfaces.len() as u32;
        self.interfaces.insert(id.session, n);
        Ok(n)
    }

    fn packet(
        &mut self,
        id: SessionId,
        t: Duration,
        data: Vec<u8>,
        comment: Option<String>,
    ) -> io::Result<()> {
        let interface_id = self.interface(id)?;
        // Strictly increasing, so the packets of one event keep their order.
        let t = t.max(self.last + Duration::from_nanos(1));
        self.last = t;
        let epb = EnhancedPacketBlock {
            interface_id,
            timestamp: t,
            original_len: data.len() as u32,
            data: Cow::Owned(data),
            options: comment
                .map(|c| vec![EnhancedPacketOption::Comment(Cow::Owned(c))])
                .unwrap_or_default(),
        };
        self.w.write_pcapng_block(epb).map_err(pcap_err)?;
        self.packets += 1;
        Ok(())
    }

    fn connected(
        &mut self,
        id: SessionId,
        t: Duration,
        local: &Addr,
        peer: &Addr,
    ) -> io::Result<()> {
        let (Some(l), Some(p)) = (
            inet_or_made_up(local, id, true),
            inet_or_made_up(peer, id, false),
        ) else {
            return Ok(());
        };
        let (l, p) = same_family(l, p);
        // Initial sequence numbers: any will do; these read well.
        self.flows.insert(
            id,
            Flow {
                local: l,
                peer: p,
                ours: 1_000,
                theirs: 5_000,
                fin_ours: false,
                fin_theirs: false,
            },
        );
        let unix = !matches!(local, Addr::Inet(_));
        let comment = unix.then(|| format!("Unix stream socket: ours {local}, peer {peer}"));
        // Whoever connected sends the SYN.
        let we_connected = !self.accepted.contains(&id);
        self.segment(id, t, we_connected, Flags::SYN, &[], comment)?;
        self.segment(id, t, !we_connected, Flags::SYN_ACK, &[], None)?;
        self.segment(id, t, we_connected, Flags::ACK, &[], None)
    }

    fn data(&mut self, id: SessionId, t: Duration, e: &LogEntry) -> io::Result<()> {
        if e.data.is_empty() {
            return Ok(());
        }
        let ours = e.dir == Direction::Out;
        if self.flows.contains_key(&id) {
            for chunk in e.data.chunks(SEGMENT) {
                self.segment(id, t, ours, Flags::PSH_ACK, chunk, None)?;
                self.segment(id, t, !ours, Flags::ACK, &[], None)?;
            }
            return Ok(());
        }
        // A datagram: our bound address, and its source or destination.
        let Some(local) = self.bound.get(&id).copied() else {
            return Ok(());
        };
        let Some(peer) = e.peer.as_ref().and_then(|p| inet_or_made_up(p, id, false)) else {
            return Ok(());
        };
        let (local, peer) = same_family(local, peer);
        let (src, dst) = if ours { (local, peer) } else { (peer, local) };
        let unix = !matches!(e.peer, Some(Addr::Inet(_)));
        let comment = unix.then(|| {
            format!(
                "Unix datagram {}: {}",
                if ours { "to" } else { "from" },
                e.peer.as_ref().map(|p| p.to_string()).unwrap_or_default()
            )
        });
        let mut buf = Vec::new();
        ip(src, dst)
            .udp(src.port(), dst.port())
            .write(&mut buf, &e.data[..e.data.len().min(65_000)])
            .map_err(io::Error::other)?;
        self.packet(id, t, buf, comment)
    }

    fn fin(&mut self, id: SessionId, t: Duration, ours: bool) -> io::Result<()> {
        self.segment(id, t, ours, Flags::FIN_ACK, &[], None)?;
        self.segment(id, t, !ours, Flags::ACK, &[], None)?;
        if let Some(f) = self.flows.get_mut(&id) {
            if ours {
                f.fin_ours = true;
            } else {
                f.fin_theirs = true;
            }
        }
        Ok(())
    }

    fn closed(&mut self, id: SessionId, t: Duration, reason: &CloseReason) -> io::Result<()> {
        let Some(f) = self.flows.get(&id) else {
            self.bound.remove(&id);
            return Ok(());
        };
        let (fin_ours, fin_theirs) = (f.fin_ours, f.fin_theirs);
        match reason {
            CloseReason::Aborted => self.segment(id, t, true, Flags::RST_ACK, &[], None)?,
            CloseReason::PeerReset => self.segment(id, t, false, Flags::RST_ACK, &[], None)?,
            // The side that closed first sends its FIN first.
            CloseReason::PeerClosed => {
                if !fin_theirs {
                    self.fin(id, t, false)?;
                }
                if !fin_ours {
                    self.fin(id, t, true)?;
                }
            }
            _ => {
                if !fin_ours {
                    self.fin(id, t, true)?;
                }
                if !fin_theirs {
                    self.fin(id, t, false)?;
                }
            }
        }
        self.flows.remove(&id);
        Ok(())
    }

    /// One made-up segment of the flow, from our side (`ours`) or the
    /// peer's, advancing that side's sequence number.
    fn segment(
        &mut self,
        id: SessionId,
        t: Duration,
        ours: bool,
        flags: Flags,
        payload: &[u8],
        comment: Option<String>,
    ) -> io::Result<()> {
        let Some(f) = self.flows.get_mut(&id) else {
            return Ok(());
        };
        let (src, dst, seq, ack) = if ours {
            (f.local, f.peer, f.ours, f.theirs)
        } else {
            (f.peer, f.local, f.theirs, f.ours)
        };
        let mut b = ip(src, dst).tcp(src.port(), dst.port(), seq, WINDOW);
        if flags.0 & Flags::SYN.0 != 0 {
            b = b.syn();
        }
        if flags.0 & Flags::FIN.0 != 0 {
            b = b.fin();
        }
        if flags.0 & Flags::RST.0 != 0 {
            b = b.rst();
        }
        if flags.0 & Flags::PSH.0 != 0 {
            b = b.psh();
        }
        // A SYN from whoever opened carries no ACK; every other segment does.
        let opening = flags.0 == Flags::SYN.0;
        if !opening {
            b = b.ack(ack);
        }
        let mut buf = Vec::with_capacity(b.size(payload.len()));
        b.write(&mut buf, payload).map_err(io::Error::other)?;
        // SYN and FIN take a sequence number; data its length.
        let used = payload.len() as u32 + u32::from(flags.0 & (Flags::SYN.0 | Flags::FIN.0) != 0);
        if ours {
            f.ours = f.ours.wrapping_add(used);
        } else {
            f.theirs = f.theirs.wrapping_add(used);
        }
        self.packet(id, t, buf, comment)
    }
}

/// TCP flags of a made-up segment.
#[derive(Clone, Copy)]
struct Flags(u8);

impl Flags {
    const FIN: Flags = Flags(1);
    const SYN: Flags = Flags(2);
    const RST: Flags = Flags(4);
    const PSH: Flags = Flags(8);
    const ACK: Flags = Flags(16);
    const SYN_ACK: Flags = Flags(2 | 16);
    const PSH_ACK: Flags = Flags(8 | 16);
    const FIN_ACK: Flags = Flags(1 | 16);
    const RST_ACK: Flags = Flags(4 | 16);
}

fn ip(src: SocketAddr, dst: SocketAddr) -> etherparse::PacketBuilderStep<etherparse::IpHeaders> {
    match (src.ip(), dst.ip()) {
        (IpAddr::V4(a), IpAddr::V4(b)) => PacketBuilder::ipv4(a.octets(), b.octets(), 64),
        (a, b) => PacketBuilder::ipv6(v6(a).octets(), v6(b).octets(), 64),
    }
}

fn v6(a: IpAddr) -> std::net::Ipv6Addr {
    match a {
        IpAddr::V4(a) => a.to_ipv6_mapped(),
        IpAddr::V6(a) => a,
    }
}

/// Both ends in one family (an IPv4 peer of an IPv6 socket as mapped).
fn same_family(a: SocketAddr, b: SocketAddr) -> (SocketAddr, SocketAddr) {
    if a.is_ipv4() == b.is_ipv4() {
        return (a, b);
    }
    (
        SocketAddr::new(IpAddr::V6(v6(a.ip())), a.port()),
        SocketAddr::new(IpAddr::V6(v6(b.ip())), b.port()),
    )
}

/// An address as a packet can carry it: an inet address as it is, a Unix
/// one as a made-up loopback address per session (ours 127.1.x.x, the
/// peer's 127.2.x.x; the port tells the children apart).
fn inet_or_made_up(a: &Addr, id: SessionId, ours: bool) -> Option<SocketAddr> {
    match a {
        Addr::Inet(s) => Some(*s),
        Addr::Path(_) | Addr::Abstract(_) | Addr::Unnamed => {
            let [_, _, hi, lo] = id.session.to_be_bytes();
            let net = if ours { 1 } else { 2 };
            let port = 10_000u16.wrapping_add(id.child as u16);
            Some(SocketAddr::new(
                IpAddr::V4(Ipv4Addr::new(127, net, hi, lo)),
                port,
            ))
        }
    }
}

fn pcap_err(e: pcap_file::PcapError) -> io::Error {
    io::Error::other(e.to_string())
}
