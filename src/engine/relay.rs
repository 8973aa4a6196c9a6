//! A relay's vocabulary, as events and commands speak it: which leg of a
//! relayed connection a child is, and what becomes of a chunk an
//! intercept rule holds. (The relay itself is engine/worker/kind/relay.rs,
//! its rules engine/rules.rs.)

use super::protocol::Direction;

/// Which leg of a relayed connection a relay's child is. The `k`th client
/// a relay accepts is child `2k-1` (the leg towards that client) and its
/// upstream connection is child `2k` (the leg towards the server).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Leg {
    /// Towards the client: what it receives went client→server.
    Client,
    /// Towards the server: what it receives went server→client.
    Server,
}

impl Leg {
    /// The leg a relay's child is.
    pub fn of(child: u32) -> Leg {
        if child % 2 == 1 {
            Leg::Client
        } else {
            Leg::Server
        }
    }

    /// The child on the other side of the same connection.
    pub fn partner(child: u32) -> u32 {
        match Leg::of(child) {
            Leg::Client => child + 1,
            Leg::Server => child - 1,
        }
    }

    /// Which way bytes this leg moved in `dir` went: `client→server` or
    /// `server→client`.
    pub fn way(self, dir: Direction) -> &'static str {
        match (self, dir) {
            (Leg::Client, Direction::In) | (Leg::Server, Direction::Out) => "client→server",
            _ => "server→client",
        }
    }

    /// The way a chunk held for the user on child `leg` was going, as
    /// `client→server` or `server→client`. A stream relay holds a chunk on
    /// the leg that read it; a UDP relay holds both ways on the source's
    /// upstream (child `2k`), telling them apart by id: even ids went to
    /// the server, odd ones back (`rules::Flow::interleaved`).
    pub fn held_way(udp: bool, leg: u32, id: u64) -> &'static str {
        let read_by = match (udp, id.is_multiple_of(2)) {
            (false, _) => Leg::of(leg),
            (true, true) => Leg::Client,
            (true, false) => Leg::Server,
        };
        read_by.way(Direction::In)
    }

    /// `client` or `server`.
    pub fn label(self) -> &'static str {
        match self {
            Leg::Client => "client",
            Leg::Server => "server",
        }
    }
}

/// What becomes of an intercepted chunk.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Release {
    /// Send it on, as it is or as these bytes.
    Forward(Option<Vec<u8>>),
    /// Throw it away.
    Drop,
    /// Send every chunk the relay holds on, as it is.
    ForwardAll,
}
