//! The socket kinds, one file each: how each is set up and what ends it.
//! The readiness loop, the stream and datagram paths and the commands are
//! shared (engine/worker/); what differs by kind is here, picked once by
//! [`Shape`]. A new socket kind is a file here plus its line in
//! `Shape::of` and in `Worker::setup_kind`.

use super::*;
pub(in crate::engine::worker) use udp_relay::UdpRelay;

mod client;
mod datagram;
mod pair;
mod relay;
mod serial;
mod server;
mod udp_relay;

/// What a socket session is, decided once from its spec.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Shape {
    /// A stream to one peer (TCP or Unix), child 0.
    Client,
    /// A listener and the connections it accepts (TCP or Unix).
    Server,
    /// One datagram socket (UDP or Unix).
    Datagram,
    /// Both ends of a socketpair, children 1 and 2.
    Pair,
    /// A serial port, child 0 (a stream with no socket calls).
    Serial,
    /// A listener whose every accepted connection (child 2k-1) is relayed
    /// over a connection of its own to the target (child 2k).
    Relay,
}

impl Shape {
    /// The shape of a socket kind; None for kinds with their own runner
    /// (step mode, bursts).
    pub(crate) fn of(kind: &SessionKind) -> Option<Shape> {
        Some(match kind {
            SessionKind::TcpClient { .. }
            | SessionKind::UnixClient { .. }
            | SessionKind::WsClient { .. } => Shape::Client,
            SessionKind::TcpServer { .. }
            | SessionKind::UnixServer { .. }
            | SessionKind::WsServer { .. } => Shape::Server,
            SessionKind::Udp { .. } | SessionKind::UnixDatagram { .. } => Shape::Datagram,
            SessionKind::SocketPair => Shape::Pair,
            SessionKind::Relay { .. } => Shape::Relay,
            SessionKind::Serial(_) => Shape::Serial,
            SessionKind::Script { .. } | SessionKind::Burst(_) => return None,
        })
    }

    /// The session's own stream is child 0: closing the session closes
    /// that stream (after what is queued is sent).
    pub(crate) fn has_own_stream(self) -> bool {
        matches!(self, Shape::Client | Shape::Serial)
    }

    /// The session's own socket is a listener, with children.
    pub(crate) fn listens(self) -> bool {
        matches!(self, Shape::Server | Shape::Relay)
    }
}

impl Worker {
    /// Sets up the session's sockets by kind.
    pub(in crate::engine::worker) fn setup_kind(&mut self) -> Result<(), CloseReason> {
        match self.spec.kind.clone() {
            SessionKind::TcpClient { remote, local } => self.setup_tcp_client(&remote, local),
            SessionKind::UnixClient { path } => self.setup_unix_client(&path),
            SessionKind::TcpServer { local, backlog } => self.setup_tcp_server(local, backlog),
            // A WebSocket is TCP with layers on the stream (see `start_layer`).
            SessionKind::WsClient { url, .. } => self.setup_tcp_client(&url.host, None),
            SessionKind::WsServer { local, .. } => self.setup_tcp_server(local, 128),
            SessionKind::UnixServer {
                path,
                backlog,
                stale,
            } => self.setup_unix_server(path, backlog, stale),
            SessionKind::Udp {
                local,
                connect,
                join,
            } => self.setup_udp(local, connect.as_ref(), &join),
            SessionKind::UnixDatagram { local, connect } => {
                self.setup_unix_datagram(local, connect)
            }
            SessionKind::SocketPair => self.setup_pair(),
            SessionKind::Relay { listen, .. } => self.setup_relay(listen),
            SessionKind::Serial(serial) => {
                self.setup_serial(&serial)?;
                self.advance_script_conn(0);
                Ok(())
            }
            SessionKind::Script { .. } | SessionKind::Burst(_) => Err(CloseReason::Error(
                OpError::plain("open", "step-mode sessions run on their own thread"),
            )),
        }
    }
}
