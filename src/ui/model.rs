//! What the app knows about each session, built from engine events. Plain
//! data: no egui here, so it is tested on its own.

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use crate::engine::codec::Encoding;
use crate::engine::error::OpError;
use crate::engine::options::OptionReport;
use crate::engine::protocol::{
    Addr, CloseReason, Counters, Event, EventKind, Kind, SessionId, Side,
};
use crate::engine::spec::SessionSpec;

/// Rate samples kept per session for the throughput plot (at 4 per second:
/// the last five minutes).
pub const RATE_HISTORY: usize = 1200;

/// Where a session is in its life, for the badge.
#[derive(Clone, Debug, PartialEq)]
pub enum State {
    /// Created, nothing reported yet.
    Opening,
    /// Resolving a host name.
    Resolving,
    /// A connect is in progress.
    Connecting,
    /// A stream is connected.
    Connected,
    /// One direction was shut down.
    HalfClosed(Side),
    /// A server is listening.
    Listening,
    /// A datagram socket is bound.
    Bound,
    /// Ended.
    Closed(CloseReason),
}

impl State {
    /// The badge text.
    pub fn label(&self) -> &'static str {
        super::i18n::tr(match self {
            State::Opening => "state-opening",
            State::Resolving => "state-resolving",
            State::Connecting => "state-connecting",
            State::Connected => "state-connected",
            State::HalfClosed(Side::Local) => "state-write-shut",
            State::HalfClosed(Side::Peer) => "state-peer-fin",
            State::Listening => "state-listening",
            State::Bound => "state-bound",
            // How it ended, at a glance: a peer's FIN, an RST, an error
            // and our own close look different.
            State::Closed(CloseReason::Error(_)) => "state-error",
            State::Closed(CloseReason::Panicked(_)) => "state-panicked",
            State::Closed(CloseReason::PeerClosed) => "state-peer-closed",
            State::Closed(CloseReason::PeerReset) => "state-peer-reset",
            State::Closed(CloseReason::Aborted) => "state-aborted",
            State::Closed(CloseReason::ParentClosed) => "state-server-closed",
            State::Closed(CloseReason::ScriptDone) => "state-done",
            State::Closed(CloseReason::EngineStopped) => "state-stopped",
            State::Closed(CloseReason::Local) => "state-closed",
            State::Closed(CloseReason::HangUp) => "state-hung-up",
        })
    }
    /// Whether the session has ended.
    pub fn is_closed(&self) -> bool {
        matches!(self, State::Closed(_))
    }
}

/// TCP_INFO readings kept per connection for the plot (a minute at four
/// a second).
const TCP_HISTORY: usize = 240;

/// Everything shown about one session or child.
#[derive(Clone, Debug)]
pub struct SessionInfo {
    /// Its id.
    pub id: SessionId,
    /// The user's name (children: the parent's name).
    pub name: String,
    /// Kind label (`tcp-server`, ... ; children: `accepted`, `socketpair end`).
    pub kind: Kind,
    /// The spec it was opened from (top-level sessions only).
    pub spec: Option<SessionSpec>,
    /// Encoding for showing payloads.
    pub encoding: Encoding,
    /// A relay's chunks held for the user (intercept): the leg that
    /// holds each, its id there, its bytes. Oldest first.
    pub held: Vec<(SessionId, u64, Vec<u8>)>,
    /// Current state.
    pub state: State,
    /// fd, when known.
    pub fd: Option<i32>,
    /// AF_* name.
    pub family: Option<&'static str>,
    /// SOCK_* name.
    pub socktype: Option<&'static str>,
    /// getsockname.
    pub local: Option<Addr>,
    /// getpeername.
    pub peer: Option<Addr>,
    /// Addresses a name resolved to.
    pub resolved: Vec<std::net::SocketAddr>,
    /// Options as read back (latest value per name).
    pub options: Vec<OptionReport>,
    /// The last TCP_INFO read, and when (seconds since the engine
    /// started).
    pub tcp_info: Option<(f64, crate::engine::tcp_info::TcpInfo)>,
    /// (seconds, rtt in ms, cwnd) of recent TCP_INFO reads, oldest first,
    /// for the inspector's plot.
    pub tcp_history: std::collections::VecDeque<(f64, f64, f64)>,
    /// A serial port's modem lines as last read, or why they cannot be.
    pub modem: Option<Result<crate::engine::serial::ModemLines, String>>,
    /// Exact counters.
    pub counters: Counters,
    /// Latest rates, bytes/s.
    pub rate_in: f64,
    /// Latest rates, bytes/s.
    pub rate_out: f64,
    /// (seconds since engine start, in, out) samples.
    pub rates: VecDeque<(f64, f64, f64)>,
    /// When `opened` arrived.
    pub opened_at: Option<Duration>,
    /// How long the connect took (connecting -> connected).
    pub connect_time: Option<Duration>,
    connecting_at: Option<Duration>,
    /// When the stream connected (or was accepted).
    pub connected_at: Option<Duration>,
    /// When the first and the latest bytes arrived.
    pub first_rx: Option<Duration>,
    /// See `first_rx`.
    pub last_rx: Option<Duration>,
    /// The HTTP response being received, when the stream speaks HTTP.
    pub http: Option<crate::http::ResponseParser>,
    /// The last error reported (the session may go on).
    pub last_error: Option<OpError>,
    /// Warnings the engine gave (a listener on every interface, say).
    pub warnings: Vec<String>,
    /// The counters when the user last reset them (what is shown counts
    /// from there; the engine's own stay exact).
    pub counters_base: Counters,
    /// When the user reset the counters.
    pub counters_reset_at: Option<std::time::Instant>,
    /// Children, in accept order.
    pub children: Vec<SessionId>,
    /// Unsent bytes queued, and whether writing is paused.
    pub write_paused: bool,
    /// Last datagram source, a default destination for replies.
    pub last_source: Option<Addr>,
    /// Step mode: every call and what it returned.
    pub calls: Vec<crate::engine::stepper::CallRecord>,
    /// Step mode: calls sent and not answered yet.
    pub pending_calls: usize,
    /// When the oldest call still in progress was sent.
    pub pending_since: Option<std::time::Instant>,
    /// Bursts: requests done in the run in progress, and finished runs.
    pub burst_done: u32,
    /// See `burst_done`.
    pub bursts: Vec<crate::engine::burst::BurstReport>,
    /// The TLS handshake's outcome, once it finished.
    pub tls: Option<Box<crate::engine::tls::TlsInfo>>,
    /// The WebSocket opening handshake, once it finished.
    pub ws_handshake: Option<Box<crate::engine::ws::WsHandshake>>,
    /// A TLS server's own certificate.
    pub tls_identity: Option<Box<crate::engine::tls::TlsIdentityInfo>>,
}

impl SessionInfo {
    /// The counters as shown: since the user's last reset.
    pub fn shown_counters(&self) -> Counters {
        let (c, b) = (self.counters, self.counters_base);
        Counters {
            bytes_in: c.bytes_in.saturating_sub(b.bytes_in),
            bytes_out: c.bytes_out.saturating_sub(b.bytes_out),
            msgs_in: c.msgs_in.saturating_sub(b.msgs_in),
            msgs_out: c.msgs_out.saturating_sub(b.msgs_out),
            queued_out: c.queued_out,
        }
    }

    fn new(id: SessionId, name: String, kind: Kind, encoding: Encoding) -> SessionInfo {
        SessionInfo {
            id,
            name,
            kind,
            spec: None,
            encoding,
            held: Vec::new(),
            state: State::Opening,
            fd: None,
            family: None,
            socktype: None,
            local: None,
            peer: None,
            resolved: Vec::new(),
            options: Vec::new(),
            tcp_info: None,
            tcp_history: std::collections::VecDeque::new(),
            modem: None,
            counters: Counters::default(),
            rate_in: 0.0,
            rate_out: 0.0,
            rates: VecDeque::new(),
            opened_at: None,
            connect_time: None,
            connecting_at: None,
            connected_at: None,
            first_rx: None,
            last_rx: None,
            http: None,
            last_error: None,
            warnings: Vec::new(),
            counters_base: Counters::default(),
            counters_reset_at: None,
            children: Vec::new(),
            write_paused: false,
            last_source: None,
            calls: Vec::new(),
            pending_calls: 0,
            pending_since: None,
            burst_done: 0,
            bursts: Vec::new(),
            tls: None,
            ws_handshake: None,
            tls_identity: None,
        }
    }
}

/// All sessions, in the order they were opened.
#[derive(Default)]
pub struct Model {
    infos: HashMap<SessionId, SessionInfo>,
    order: Vec<SessionId>,
}

impl Model {
    /// Records a session the app just opened, before any event about it.
    pub fn opened(&mut self, id: SessionId, spec: SessionSpec) {
        let mut info = SessionInfo::new(id, spec.name.clone(), spec.kind.kind(), spec.encoding);
        info.spec = Some(spec);
        self.infos.insert(id, info);
        self.order.push(id);
    }

    /// Top-level sessions in order.
    pub fn sessions(&self) -> &[SessionId] {
        &self.order
    }

    /// One session or child.
    pub fn get(&self, id: SessionId) -> Option<&SessionInfo> {
        self.infos.get(&id)
    }

    /// Whether `id` is a TCP connection whose TCP_INFO the inspector
    /// reads: a TCP client, or a connection a TCP server accepted.
    pub fn is_tcp_connection(&self, id: SessionId) -> bool {
        match (
            id.is_child(),
            self.get(SessionId::top(id.session)).map(|i| i.kind),
        ) {
            (false, Some(k)) => k == Kind::TcpClient,
            (true, Some(k)) => k == Kind::TcpServer,
            _ => false,
        }
    }

    /// Adds (or replaces, by name) a snippet of a top-level session.
    pub fn add_snippet(&mut self, top: SessionId, snippet: crate::engine::spec::Snippet) -> bool {
        let Some(spec) = self.infos.get_mut(&top).and_then(|i| i.spec.as_mut()) else {
            return false;
        };
        spec.snippets.retain(|s| s.name != snippet.name);
        spec.snippets.push(snippet);
        true
    }

    /// Renames, removes or re-times a snippet of a top-level session.
    pub fn edit_snippet(
        &mut self,
        top: SessionId,
        edit: &super::composer::SnippetEdit,
    ) -> Result<(), String> {
        use super::composer::SnippetEdit;
        let Some(spec) = self.infos.get_mut(&top).and_then(|i| i.spec.as_mut()) else {
            return Err(crate::t!("snippet-no-spec").into());
        };
        let find = |name: &str| spec.snippets.iter().position(|s| s.name == name);
        match edit {
            SnippetEdit::Rename { from, to } => {
                if find(to).is_some() {
                    return Err(crate::t!("snippet-exists", name = to.clone()));
                }
                let i = find(from).ok_or_else(|| crate::t!("snippet-none", name = from.clone()))?;
                spec.snippets[i].name = to.clone();
            }
            SnippetEdit::Remove { name } => {
                let i = find(name).ok_or_else(|| crate::t!("snippet-none", name = name.clone()))?;
                spec.snippets.remove(i);
            }
            SnippetEdit::Period { name, period } => {
                let i = find(name).ok_or_else(|| crate::t!("snippet-none", name = name.clone()))?;
                spec.snippets[i].period = *period;
            }
        }
        Ok(())
    }

    /// Notes a step-mode call sent and not answered yet.
    pub fn call_sent(&mut self, id: SessionId) {
        if let Some(i) = self.infos.get_mut(&id) {
            i.pending_calls += 1;
            i.pending_since.get_or_insert_with(std::time::Instant::now);
        }
    }

    /// Forgets a closed session and its children.
    pub fn remove(&mut self, id: SessionId) {
        if let Some(info) = self.infos.remove(&id) {
            for c in info.children {
                self.infos.remove(&c);
            }
        }
        self.order.retain(|x| *x != id);
    }

    /// Top-level sessions that are still open.
    /// Counts a session's shown RX/TX from zero again.
    pub fn reset_counters(&mut self, id: SessionId) {
        if let Some(info) = self.infos.get_mut(&id) {
            info.counters_base = info.counters;
            info.counters_reset_at = Some(std::time::Instant::now());
        }
    }

    /// Shows a session's payloads in `enc` from now on; returns the old one.
    pub fn set_encoding(&mut self, top: u32, enc: Encoding) -> Option<Encoding> {
        let info = self.infos.get_mut(&SessionId::top(top))?;
        // Saved with the session (as a preset or in the workspace), too.
        if let Some(spec) = info.spec.as_mut() {
            spec.encoding = enc;
        }
        Some(std::mem::replace(&mut info.encoding, enc))
    }

    /// Top-level sessions that have not ended.
    pub fn open_sessions(&self) -> Vec<SessionId> {
        self.order
            .iter()
            .copied()
            .filter(|id| self.infos.get(id).is_some_and(|i| !i.state.is_closed()))
            .collect()
    }

    fn child_entry(&mut self, id: SessionId) -> &mut SessionInfo {
        if !self.infos.contains_key(&id) {
            let parent = self.infos.get(&SessionId::top(id.session));
            let (name, enc, kind) = match parent {
                // A relay's children come in pairs: client k's two legs.
                Some(p) if p.kind == Kind::Relay => (
                    format!(
                        "{} #{} {}",
                        p.name,
                        id.child.div_ceil(2),
                        crate::engine::protocol::Leg::of(id.child).label()
                    ),
                    p.encoding,
                    Kind::RelayLeg,
                ),
                Some(p) => (
                    format!("{} #{}", p.name, id.child),
                    p.encoding,
                    if p.kind == Kind::SocketPair {
                        Kind::PairEnd
                    } else {
                        Kind::Accepted
                    },
                ),
                None => (id.to_string(), Encoding::Utf8, Kind::Accepted),
            };
            self.infos.insert(id, SessionInfo::new(id, name, kind, enc));
            if let Some(p) = self.infos.get_mut(&SessionId::top(id.session))
                && !p.children.contains(&id)
            {
                p.children.push(id);
            }
        }
        self.infos.get_mut(&id).expect("inserted above")
    }

    /// Updates the model from one event.
    pub fn apply(&mut self, ev: &Event) {
        let id = ev.session;
        let t = ev.at.mono;
        if !self.infos.contains_key(&id) && !id.is_child() {
            // A session opened elsewhere (tests, runner): learn it from its
            // `opened`, which the engine always sends first.
            let (name, kind) = match &ev.kind {
                EventKind::Opened { name, kind } => (name.clone(), *kind),
                _ => return,
            };
            self.infos
                .insert(id, SessionInfo::new(id, name, kind, Encoding::Utf8));
            self.order.push(id);
        }
        // A relay's held chunks are listed on the relay, whichever leg holds them.
        if let Some(top) = self.infos.get_mut(&SessionId::top(id.session)) {
            match &ev.kind {
                EventKind::Intercepted { id: n, data, .. } => top.held.push((id, *n, data.clone())),
                EventKind::Released { id: n, .. } => {
                    top.held.retain(|(l, i, _)| !(*l == id && i == n))
                }
                EventKind::Closed { .. } if id.is_child() => top.held.retain(|(l, _, _)| *l != id),
                _ => {}
            }
        }
        let info = self.child_entry(id);
        match &ev.kind {
            EventKind::Opened { .. } => info.opened_at = Some(t),
            EventKind::Modem(m) => info.modem = Some(m.clone().map_err(|e| e.to_string())),
            EventKind::Resolving { .. } => info.state = State::Resolving,
            EventKind::Resolved { addrs, .. } => info.resolved = addrs.clone(),
            EventKind::SocketCreated {
                fd,
                family,
                socktype,
            } => {
                info.fd = Some(*fd);
                info.family = Some(family);
                info.socktype = Some(socktype);
            }
            EventKind::Connecting { addr } => {
                info.state = State::Connecting;
                info.peer = Some(addr.clone());
                info.connecting_at = Some(t);
            }
            EventKind::ConnectFailed(e)
            | EventKind::Error(e)
            | EventKind::ErrorRepeated { error: e, .. } => info.last_error = Some(e.clone()),
            EventKind::Warning { message, .. } => {
                if !info.warnings.contains(message) {
                    info.warnings.push(message.clone());
                }
            }
            EventKind::Connected { local, peer, fd } => {
                info.connected_at = Some(t);
                info.state = State::Connected;
                info.local = Some(local.clone());
                info.peer = Some(peer.clone());
                info.fd = Some(*fd);
                info.connect_time = info.connecting_at.map(|c| t.saturating_sub(c));
                // A serial port has no socket family or type.
                if info.family.is_none() && info.kind != Kind::Serial {
                    info.family = Some(match local {
                        Addr::Inet(a) if a.is_ipv6() => "AF_INET6",
                        Addr::Inet(_) => "AF_INET",
                        _ => "AF_UNIX",
                    });
                    info.socktype = Some("SOCK_STREAM");
                }
            }
            EventKind::Bound { local, fd, peer } => {
                info.state = State::Bound;
                info.local = Some(local.clone());
                info.fd = Some(*fd);
                info.peer = peer.clone();
            }
            EventKind::Listening { local, fd, .. } => {
                info.state = State::Listening;
                info.local = Some(local.clone());
                info.fd = Some(*fd);
            }
            EventKind::Accepted { child, .. } => {
                let child = *child;
                self.child_entry(child);
            }
            EventKind::Tls(t) => info.tls = Some(t.clone()),
            EventKind::WsHandshake(h) => info.ws_handshake = Some(h.clone()),
            EventKind::TlsIdentity(t) => info.tls_identity = Some(t.clone()),
            EventKind::Options(list) => info.options = list.to_vec(),
            EventKind::TcpInfo(i) => {
                info.tcp_history.push_back((
                    t.as_secs_f64(),
                    f64::from(i.rtt_us) / 1000.0,
                    f64::from(i.cwnd),
                ));
                while info.tcp_history.len() > TCP_HISTORY {
                    info.tcp_history.pop_front();
                }
                info.tcp_info = Some((t.as_secs_f64(), (**i).clone()));
            }
            EventKind::OptionChanged(r) => {
                match info.options.iter_mut().find(|o| o.name == r.name) {
                    Some(o) => *o = r.clone(),
                    None => info.options.push(r.clone()),
                }
            }
            EventKind::Log(entry) => {
                use crate::engine::protocol::Direction;
                let datagram = info.kind.is_datagram();
                if datagram && entry.dir == Direction::In {
                    info.last_source = entry.peer.clone();
                }
                if entry.dir == Direction::In {
                    info.first_rx.get_or_insert(t);
                    info.last_rx = Some(t);
                }
                if !datagram {
                    follow_http(info, entry);
                }
            }
            EventKind::HalfClosed { by } => info.state = State::HalfClosed(*by),
            EventKind::WritePaused { .. } => info.write_paused = true,
            EventKind::WriteResumed { .. } => info.write_paused = false,
            EventKind::Stats {
                counters,
                rate_in,
                rate_out,
            } => {
                info.counters = *counters;
                info.rate_in = *rate_in;
                info.rate_out = *rate_out;
                if info.rates.len() == RATE_HISTORY {
                    info.rates.pop_front();
                }
                info.rates.push_back((t.as_secs_f64(), *rate_in, *rate_out));
            }
            EventKind::Closed { reason, counters } => {
                if let Some(p) = &mut info.http {
                    p.eof();
                }
                info.state = State::Closed(reason.clone());
                info.counters = *counters;
                info.rate_in = 0.0;
                info.rate_out = 0.0;
            }
            EventKind::Call { index, record } => {
                if info.calls.is_empty() {
                    info.state = State::Connected;
                }
                info.pending_calls = info.pending_calls.saturating_sub(1);
                if info.pending_calls == 0 {
                    info.pending_since = None;
                }
                info.calls.push((**record).clone());
                // Calls made by hand join the session's script, so saving
                // it as a preset keeps them.
                if let Some(crate::engine::spec::SessionSpec {
                    kind: crate::engine::spec::SessionKind::Script { calls, .. },
                    ..
                }) = info.spec.as_mut()
                    && *index >= calls.len()
                {
                    calls.push(record.call.clone());
                }
            }
            EventKind::BurstProgress { done } => {
                info.state = State::Connected;
                info.burst_done = *done;
            }
            EventKind::BurstDone(r) => {
                info.burst_done = 0;
                info.bursts.push((**r).clone());
            }
            EventKind::Rule {
                index,
                enabled: Some(on),
                ..
            } => {
                // The engine's word on a switched rule is what the app shows.
                if let Some(crate::engine::spec::SessionKind::Relay { rules, .. }) =
                    info.spec.as_mut().map(|s| &mut s.kind)
                    && let Some(r) = rules.get_mut(*index)
                {
                    r.enabled = *on;
                }
            }
            EventKind::Timeout { .. }
            | EventKind::Multicast { .. }
            | EventKind::BreakSent
            | EventKind::Rule { enabled: None, .. }
            | EventKind::Intercepted { .. }
            | EventKind::Released { .. }
            | EventKind::Step { .. }
            | EventKind::Dropped { .. } => {}
        }
    }
}

/// Reads the HTTP a stream carries: a request we send starts a new
/// response to follow; received bytes feed it.
fn follow_http(info: &mut SessionInfo, entry: &crate::engine::protocol::LogEntry) {
    use crate::engine::protocol::Direction;
    const METHODS: [&[u8]; 8] = [
        b"GET ",
        b"HEAD ",
        b"POST ",
        b"PUT ",
        b"DELETE ",
        b"OPTIONS ",
        b"PATCH ",
        b"TRACE ",
    ];
    match entry.dir {
        Direction::Out => {
            if METHODS.iter().any(|m| entry.data.starts_with(m)) {
                info.http = Some(crate::http::ResponseParser::new(
                    entry.data.starts_with(b"HEAD "),
                ));
            }
        }
        Direction::In => {
            if info.http.is_none() && entry.data.starts_with(b"HTTP/") {
                // A response we did not see the request for (sent elsewhere).
                info.http = Some(crate::http::ResponseParser::new(false));
            }
            // A stream that answers something other than HTTP (an echo of
            // the request, say) is not speaking HTTP: stop following it.
            let answered = info
                .http
                .as_ref()
                .is_some_and(|p| p.response().status != 0 || p.error().is_some());
            if !answered && !entry.data.starts_with(b"HTTP/") {
                info.http = None;
            }
            if let Some(p) = &mut info.http {
                p.feed(&entry.data);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::protocol::Stamp;
    use crate::engine::spec::SessionKind;
    use std::time::SystemTime;

    fn ev(session: SessionId, kind: EventKind) -> Event {
        Event {
            session,
            at: Stamp {
                mono: Duration::from_millis(5),
                wall: SystemTime::UNIX_EPOCH,
            },
            kind,
        }
    }

    #[test]
    fn an_echoed_request_is_not_mistaken_for_an_http_response() {
        use crate::engine::protocol::{Direction, LogEntry};
        let mut m = Model::default();
        let id = SessionId::top(1);
        let log = |dir, data: &[u8]| {
            ev(
                id,
                EventKind::Log(LogEntry {
                    dir,
                    peer: None,
                    data: data.to_vec(),
                    requested: None,
                    truncated_from: None,
                    ws: None,
                    framed: None,
                }),
            )
        };
        m.apply(&ev(
            id,
            EventKind::Opened {
                name: "c".into(),
                kind: Kind::TcpClient,
            },
        ));
        m.apply(&log(Direction::Out, b"GET / HTTP/1.0\r\n\r\n"));
        assert!(m.get(id).unwrap().http.is_some());
        m.apply(&log(Direction::In, b"GET / HTTP/1.0\r\n\r\n"));
        assert!(m.get(id).unwrap().http.is_none(), "an echo is not HTTP");
        m.apply(&log(Direction::Out, b"GET / HTTP/1.0\r\n\r\n"));
        m.apply(&log(
            Direction::In,
            b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok",
        ));
        let p = m.get(id).unwrap().http.as_ref().unwrap();
        assert_eq!(p.response().status, 200);
        assert!(p.response().complete);
    }

    #[test]
    fn children_nest_under_their_server() {
        let mut m = Model::default();
        let top = SessionId::top(1);
        m.opened(
            top,
            SessionSpec::new(
                "srv",
                SessionKind::TcpServer {
                    local: "127.0.0.1:0".parse().unwrap(),
                    backlog: 1,
                },
            ),
        );
        let child = top.child(1);
        m.apply(&ev(
            top,
            EventKind::Accepted {
                child,
                local: Addr::Unnamed,
                peer: Addr::Unnamed,
                fd: 7,
            },
        ));
        assert_eq!(m.get(top).unwrap().children, vec![child]);
        assert_eq!(m.get(child).unwrap().name, "srv #1");
        m.apply(&ev(
            child,
            EventKind::Closed {
                reason: CloseReason::PeerReset,
                counters: Counters::default(),
            },
        ));
        assert_eq!(m.get(child).unwrap().state.label(), "peer reset");
        assert_eq!(m.open_sessions(), vec![top]);
    }
}
