//! Shared helpers for engine tests: an engine with its events collected,
//! waits with deadlines (never bare sleeps), and small spec builders.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use sockscope::engine::protocol::{Addr, CloseReason, Command, Direction, Event, EventKind};
use sockscope::engine::spec::{HostPort, SessionKind, SessionSpec};
use sockscope::engine::{Engine, EngineConfig, SessionId};

pub const DEADLINE: Duration = Duration::from_secs(10);

pub struct Harness {
    pub engine: Engine,
    pub seen: Vec<Event>,
    cursor: usize,
}

impl Harness {
    pub fn new() -> Harness {
        Harness::with(EngineConfig::default())
    }

    pub fn with(config: EngineConfig) -> Harness {
        Harness {
            engine: Engine::new(config, None),
            seen: Vec::new(),
            cursor: 0,
        }
    }

    pub fn open(&mut self, spec: SessionSpec) -> SessionId {
        self.engine.open(spec).expect("open session")
    }

    pub fn send(&mut self, cmd: Command) {
        self.engine.send(cmd).expect("command accepted");
    }

    fn pump(&mut self, until: Instant) -> bool {
        let left = until.saturating_duration_since(Instant::now());
        match self
            .engine
            .events()
            .recv_timeout(left.min(Duration::from_millis(50)))
        {
            Ok(ev) => {
                self.seen.push(ev);
                while let Ok(ev) = self.engine.events().try_recv() {
                    self.seen.push(ev);
                }
                true
            }
            Err(_) => false,
        }
    }

    /// Waits for the first event after the cursor that matches, and moves
    /// the cursor past it.
    pub fn wait(&mut self, what: &str, pred: impl Fn(&Event) -> bool) -> Event {
        let deadline = Instant::now() + DEADLINE;
        loop {
            if let Some(pos) = self.seen[self.cursor..].iter().position(&pred) {
                let idx = self.cursor + pos;
                self.cursor = idx + 1;
                return self.seen[idx].clone();
            }
            if Instant::now() >= deadline {
                let dump: Vec<String> = self
                    .seen
                    .iter()
                    .map(|e| format!("{} {:?}", e.session, e.kind))
                    .collect();
                panic!("timed out waiting for {what}; events:\n{}", dump.join("\n"));
            }
            self.pump(deadline);
        }
    }

    /// Like `wait` but searches from the start, leaving the cursor alone.
    pub fn find_any(&mut self, what: &str, pred: impl Fn(&Event) -> bool) -> Event {
        let deadline = Instant::now() + DEADLINE;
        loop {
            if let Some(e) = self.seen.iter().find(|e| pred(e)) {
                return e.clone();
            }
            if Instant::now() >= deadline {
                panic!("timed out waiting for {what}; saw {:#?}", self.seen);
            }
            self.pump(deadline);
        }
    }

    /// Collects events for a while (for asserting that something does NOT happen).
    pub fn settle(&mut self, d: Duration) {
        let until = Instant::now() + d;
        while Instant::now() < until {
            self.pump(until);
        }
    }

    pub fn listening(&mut self, id: SessionId) -> SocketAddr {
        match self
            .wait("listening", |e| {
                e.session == id && matches!(e.kind, EventKind::Listening { .. })
            })
            .kind
        {
            EventKind::Listening {
                local: Addr::Inet(a),
                ..
            } => a,
            other => panic!("not an inet listener: {other:?}"),
        }
    }

    /// Waits for a Unix listener and returns its path.
    pub fn listening_path(&mut self, id: SessionId) -> String {
        match self
            .wait("listening", |e| {
                e.session == id && matches!(e.kind, EventKind::Listening { .. })
            })
            .kind
        {
            EventKind::Listening {
                local: Addr::Path(p),
                ..
            } => p,
            other => panic!("not a Unix listener: {other:?}"),
        }
    }

    pub fn bound(&mut self, id: SessionId) -> Addr {
        match self
            .wait("bound", |e| {
                e.session == id && matches!(e.kind, EventKind::Bound { .. })
            })
            .kind
        {
            EventKind::Bound { local, .. } => local,
            _ => unreachable!(),
        }
    }

    pub fn accepted(&mut self, server: SessionId) -> (SessionId, Addr) {
        match self
            .wait("accepted", |e| {
                e.session == server && matches!(e.kind, EventKind::Accepted { .. })
            })
            .kind
        {
            EventKind::Accepted { child, peer, .. } => (child, peer),
            _ => unreachable!(),
        }
    }

    pub fn received(&mut self, id: SessionId) -> (Vec<u8>, Option<Addr>) {
        match self
            .wait("received", |e| {
                e.session == id && matches!(&e.kind, EventKind::Log(l) if l.dir == Direction::In)
            })
            .kind
        {
            EventKind::Log(l) => (l.data, l.peer),
            _ => unreachable!(),
        }
    }

    /// Waits until `n` bytes have been received by `id`, across recv calls.
    pub fn received_bytes(&mut self, id: SessionId, n: usize) -> Vec<u8> {
        let mut got = Vec::new();
        while got.len() < n {
            got.extend(self.received(id).0);
        }
        got
    }

    pub fn closed(&mut self, id: SessionId) -> CloseReason {
        match self
            .wait("closed", |e| {
                e.session == id && matches!(e.kind, EventKind::Closed { .. })
            })
            .kind
        {
            EventKind::Closed { reason, .. } => reason,
            _ => unreachable!(),
        }
    }

    /// How `id` closed, wherever its `closed` is in the history, the
    /// cursor left alone (a server's child, or a relay's two legs, may
    /// close in either order).
    pub fn closed_any(&mut self, id: SessionId) -> CloseReason {
        match self
            .find_any("closed", |e| {
                e.session == id && matches!(e.kind, EventKind::Closed { .. })
            })
            .kind
        {
            EventKind::Closed { reason, .. } => reason,
            _ => unreachable!(),
        }
    }

    pub fn connected(&mut self, id: SessionId) -> (Addr, Addr) {
        match self
            .wait("connected", |e| {
                e.session == id && matches!(e.kind, EventKind::Connected { .. })
            })
            .kind
        {
            EventKind::Connected { local, peer, .. } => (local, peer),
            _ => unreachable!(),
        }
    }

    /// All events of one id, for assertions on order.
    pub fn names_of(&self, id: SessionId) -> Vec<&'static str> {
        self.seen
            .iter()
            .filter(|e| e.session == id)
            .map(|e| e.kind.name())
            .collect()
    }
}

pub fn server(addr: &str) -> SessionSpec {
    SessionSpec::new(
        "server",
        SessionKind::TcpServer {
            local: addr.parse().unwrap(),
            backlog: 128,
        },
    )
}

pub fn client(to: SocketAddr) -> SessionSpec {
    SessionSpec::new(
        "client",
        SessionKind::TcpClient {
            remote: HostPort::parse(&to.to_string()).unwrap(),
            local: None,
        },
    )
}

/// A TCP port free on 127.0.0.1 right now (for servers that take a port
/// number, not a listener).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub fn send(target: SessionId, data: &[u8]) -> Command {
    Command::Send {
        target,
        data: data.to_vec(),
        mode: Default::default(),
        to: None,
    }
}

/// A child process, killed if a failed assertion leaves it behind (an
/// orphan would hold the test's pipes open and its port bound).
pub struct KillOnDrop(pub std::process::Child);

impl std::ops::Deref for KillOnDrop {
    type Target = std::process::Child;
    fn deref(&self) -> &std::process::Child {
        &self.0
    }
}
impl std::ops::DerefMut for KillOnDrop {
    fn deref_mut(&mut self) -> &mut std::process::Child {
        &mut self.0
    }
}
impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}
