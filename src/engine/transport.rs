//! A layer between the application's bytes and the socket's, on top of a
//! stream's state (`stream.rs`): TLS, WebSocket, or WebSocket on TLS (a
//! `ws::Stack`). A transport
//! does no I/O of its own: it is fed what was read, takes what the
//! application sends, and writes what it has when the worker hands it the
//! socket, so it is tested without one (rustls' own core works this way).
//! Plain streams have no layer: the worker writes the queue directly.

use std::io;

use super::error::OpError;
use super::protocol::EventKind;
use super::ws::{Outgoing, WsMeta};

/// What one batch of bytes read from the socket gave.
#[derive(Default)]
pub(crate) struct Fed {
    /// The application data they carried, as bytes (TLS).
    pub plain: Vec<u8>,
    /// ... or as messages, each with what it was (WebSocket).
    pub messages: Vec<(Vec<u8>, WsMeta)>,
    /// What to report (a handshake finished: `EventKind::Tls`,
    /// `EventKind::WsHandshake`), in order.
    pub events: Vec<EventKind>,
    /// The layer failed the connection after what is above (a WebSocket
    /// protocol violation): what it queued (a close frame) goes out, then
    /// the stream closes with this.
    pub failed: Option<OpError>,
    /// The peer ended its side inside the layer (TLS close_notify): no
    /// more data will come.
    pub closed: bool,
}

/// What the peer's FIN means to the layer (an orderly end inside the
/// layer, such as TLS close_notify, comes as `Fed::closed` before it).
pub(crate) enum AtEof {
    /// An end the layer did not see coming: what arrived may be cut short
    /// (TLS without close_notify). Reported, then handled as a FIN.
    Cut(OpError),
    /// The layer was not done setting up (a TLS handshake): the session
    /// fails with this.
    Fails(OpError),
}

/// A layer over a stream.
pub(crate) trait Transport: Send {
    /// Bytes read from the socket. On error the stream is closed after
    /// [`write_to`](Self::write_to) sends what the layer queued (an alert).
    fn feed(&mut self, wire: &[u8]) -> Result<Fed, OpError>;

    /// Whether application bytes can go through yet (its handshake is
    /// done); until then they wait in the send queue.
    fn ready(&self) -> bool;

    /// Takes as much application data as it can buffer (None: not now).
    /// `kind`: what a message layer sends it as; byte layers ignore it.
    fn take(&mut self, plain: &[u8], kind: Outgoing) -> Option<usize>;

    /// Whether it holds bytes for the socket.
    fn wants_write(&self) -> bool;

    /// Writes what it holds until the socket would block.
    fn write_to(&mut self, out: &mut dyn io::Write) -> io::Result<()>;

    /// Starts an orderly end of our side (TLS close_notify), once.
    fn close(&mut self);

    /// What the peer's FIN means now.
    fn at_eof(&self) -> AtEof;

    /// A message layer's account of what it sent since the last call
    /// (its own pongs and close replies too); None for byte layers, whose
    /// sends the worker logs as the bytes it handed over.
    fn sent(&mut self) -> Option<Vec<(Vec<u8>, WsMeta)>> {
        None
    }
}
