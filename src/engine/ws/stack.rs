//! Two layers, one on the other: `wss` is WebSocket over TLS. The lower
//! layer meets the socket; what it yields feeds the upper one, and what
//! the upper one writes is taken by the lower one once its own handshake
//! is done.

use std::io;

use super::{Outgoing, WsMeta};
use crate::engine::error::OpError;
use crate::engine::transport::{AtEof, Fed, Transport};

/// Bytes the upper layer wrote that the lower one has not taken yet,
/// before the stack takes no more application data.
const BETWEEN_HIGH: usize = 256 * 1024;

pub(crate) struct Stack {
    lower: Box<dyn Transport>,
    upper: Box<dyn Transport>,
    /// The upper layer's output the lower one has not taken.
    between: Vec<u8>,
}

impl Stack {
    pub(crate) fn new(lower: Box<dyn Transport>, upper: Box<dyn Transport>) -> Stack {
        Stack {
            lower,
            upper,
            between: Vec::new(),
        }
    }

    /// Moves the upper layer's output down, as far as the lower one takes.
    fn pump(&mut self) {
        if !self.lower.ready() {
            return;
        }
        let _ = self.upper.write_to(&mut self.between);
        while !self.between.is_empty() {
            match self.lower.take(&self.between, Outgoing::Auto) {
                Some(n) if n > 0 => {
                    self.between.drain(..n);
                }
                _ => break,
            }
        }
    }
}

impl Transport for Stack {
    fn feed(&mut self, wire: &[u8]) -> Result<Fed, OpError> {
        let mut low = self.lower.feed(wire)?;
        // The lower handshake may have just finished: the upper layer's
        // first bytes (a WebSocket request) can go now.
        self.pump();
        let mut fed = Fed {
            events: std::mem::take(&mut low.events),
            ..Fed::default()
        };
        if !low.plain.is_empty() {
            let up = self.upper.feed(&low.plain);
            self.pump();
            let up = up?;
            fed.events.extend(up.events);
            fed.plain = up.plain;
            fed.messages = up.messages;
            fed.closed = up.closed;
        }
        fed.closed |= low.closed;
        Ok(fed)
    }

    fn ready(&self) -> bool {
        self.lower.ready() && self.upper.ready()
    }

    fn take(&mut self, plain: &[u8], kind: Outgoing) -> Option<usize> {
        if self.between.len() > BETWEEN_HIGH || !self.ready() {
            return None;
        }
        let n = self.upper.take(plain, kind);
        self.pump();
        n
    }

    fn wants_write(&self) -> bool {
        self.lower.wants_write()
            || (self.lower.ready() && (self.upper.wants_write() || !self.between.is_empty()))
    }

    fn write_to(&mut self, out: &mut dyn io::Write) -> io::Result<()> {
        self.pump();
        self.lower.write_to(out)
    }

    fn close(&mut self) {
        self.upper.close();
        self.pump();
        self.lower.close();
    }

    fn at_eof(&self) -> AtEof {
        match self.lower.at_eof() {
            AtEof::Fails(e) => AtEof::Fails(e),
            AtEof::Cut(low) => match self.upper.at_eof() {
                AtEof::Fails(e) => AtEof::Fails(e),
                // The upper layer's word says more (a missing close frame).
                AtEof::Cut(up) => AtEof::Cut(if self.upper.ready() { up } else { low }),
            },
        }
    }

    fn sent(&mut self) -> Option<Vec<(Vec<u8>, WsMeta)>> {
        self.upper.sent()
    }
}
