//! A layer between the application's bytes and the socket's, on top of a
//! stream's state (`stream.rs`): TLS today, WebSocket next. A transport
//! does no I/O of its own: it is fed what was read, takes what the
//! application sends, and writes what it has when the worker hands it the
//! socket, so it is tested without one (rustls' own core works this way).
//! Plain streams have no layer: the worker writes the queue directly.

use std::io;

use super::error::OpError;
use super::protocol::EventKind;

/// What one batch of bytes read from the socket gave.
#[derive(Default)]
pub(crate) struct Fed {
    /// The application data they carried.
    pub plain: Vec<u8>,
    /// Something to report (the TLS handshake finished: `EventKind::Tls`).
    pub event: Option<EventKind>,
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

    /// Takes as much application data as it can buffer (0: not now).
    fn take(&mut self, plain: &[u8]) -> usize;

    /// Whether it holds bytes for the socket.
    fn wants_write(&self) -> bool;

    /// Writes what it holds until the socket would block.
    fn write_to(&mut self, out: &mut dyn io::Write) -> io::Result<()>;

    /// Starts an orderly end of our side (TLS close_notify), once.
    fn close(&mut self);

    /// What the peer's FIN means now.
    fn at_eof(&self) -> AtEof;
}
