//! The "new session" form: every option the engine supports, checked as the
//! user types, with the reason shown beside the field and on the Open button.

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::engine::codec::{COMMON_ENCODINGS, Encoding};
use std::collections::BTreeMap;

use crate::engine::options::{OPTIONS, OptName, OptValue, SockOpt, SocketShape, Widget};
use crate::engine::spec::{
    self, Family, HostPort, Responder, SessionKind, SessionSpec, StalePolicy,
};

use super::i18n::Key;
use super::labels as L;
use super::responder_form::ResponderForm;
use super::tls_form::TlsForm;
use crate::t;

/// A form field's width: room for its label beside it in the left panel
/// at its default width (at 180 points a long label, UDP's "Local
/// address" with its field, widened the panel, and the log's toolbar moved).
pub(super) const FIELD_WIDTH: f32 = 150.0;

/// The kinds offered, in menu order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KindChoice {
    /// TCP client
    TcpClient,
    /// TCP server
    TcpServer,
    /// UDP
    Udp,
    /// Unix stream client
    UnixClient,
    /// Unix stream server
    UnixServer,
    /// Unix datagram
    UnixDatagram,
    /// socketpair
    SocketPair,
    /// serial port
    Serial,
    /// WebSocket client
    WsClient,
    /// WebSocket server
    WsServer,
    /// relay between clients and a server
    Relay,
}

impl KindChoice {
    pub const ALL: [KindChoice; 11] = [
        KindChoice::TcpClient,
        KindChoice::TcpServer,
        KindChoice::Udp,
        KindChoice::UnixClient,
        KindChoice::UnixServer,
        KindChoice::UnixDatagram,
        KindChoice::SocketPair,
        KindChoice::Serial,
        KindChoice::WsClient,
        KindChoice::WsServer,
        KindChoice::Relay,
    ];
    /// Menu text.
    pub fn label(self) -> &'static str {
        match self {
            KindChoice::TcpClient => L::KIND_TCP_CLIENT.text(),
            KindChoice::TcpServer => L::KIND_TCP_SERVER.text(),
            KindChoice::Udp => "UDP",
            KindChoice::UnixClient => L::KIND_UNIX_CLIENT.text(),
            KindChoice::UnixServer => L::KIND_UNIX_SERVER.text(),
            KindChoice::UnixDatagram => L::KIND_UNIX_DATAGRAM.text(),
            KindChoice::SocketPair => "socketpair",
            KindChoice::Serial => L::KIND_SERIAL.text(),
            KindChoice::WsClient => L::KIND_WS_CLIENT.text(),
            KindChoice::WsServer => L::KIND_WS_SERVER.text(),
            KindChoice::Relay => L::KIND_RELAY.text(),
        }
    }
}

/// A boolean option that may be left to the kernel.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Tri {
    /// Not set: the kernel default.
    #[default]
    Default,
    /// Set to true.
    On,
    /// Set to false.
    Off,
}

impl Tri {
    /// The choice a flag option's text stands for.
    fn of_text(s: &str) -> Tri {
        match s.trim() {
            "on" | "1" | "true" => Tri::On,
            "off" | "0" | "false" => Tri::Off,
            _ => Tri::Default,
        }
    }
    /// The text the form keeps for the choice.
    fn text(self) -> &'static str {
        match self {
            Tri::Default => "",
            Tri::On => "on",
            Tri::Off => "off",
        }
    }
}

/// What the form asks the app to do.
#[derive(Debug)]
pub enum FormAction {
    /// Open this session.
    Open(SessionSpec),
}

/// The form's fields, as typed.
#[derive(Clone, Debug)]
pub struct OpenForm {
    pub kind: KindChoice,
    pub name: String,
    pub family: Family,
    pub local: String,
    pub remote: String,
    pub path: String,
    pub peer_path: String,
    pub backlog: String,
    pub remove_stale: bool,
    pub join: String,
    /// Socket options as typed, by option: text for numbers and times,
    /// `on`/`off` for flags, empty or absent for the kernel's default.
    pub options: BTreeMap<OptName, String>,
    pub connect_timeout: String,
    pub read_timeout: String,
    pub close_on_read_timeout: bool,
    pub auto_read: bool,
    pub blocking: bool,
    pub recv_buffer: String,
    pub encoding: String,
    pub keep_open: bool,
    /// Automatic replies.
    pub responder: ResponderForm,
    /// TLS (TCP client and server).
    pub tls: TlsForm,
    /// The serial port's rows.
    pub serial: super::serial_form::SerialForm,
    /// The WebSocket rows.
    pub ws: super::ws_form::WsForm,
    /// How a plain stream's bytes are cut into messages.
    pub framing: super::framing_form::FramingForm,
    /// A script kept from a duplicated session.
    pub kept_steps: Vec<crate::engine::spec::Step>,
    /// A relay's rules, as a list or as the text files write.
    pub relay_rules: super::rules_form::RulesForm,
    /// A relay's TLS towards its target (`tls` is towards its clients).
    pub relay_target_tls: TlsForm,
    /// This frame's validation, shared by the fields and the Open button.
    checked: Option<(Option<SessionSpec>, Problems)>,
    /// The last responder checked and its outcome: the form is checked
    /// every frame, and a regex rule is compiled only when it changes.
    responder_cache: std::cell::RefCell<Option<(ResponderForm, Encoding, ResponderChecked)>>,
}

type ResponderChecked = Result<(Responder, Option<Duration>), String>;

impl Default for OpenForm {
    fn default() -> Self {
        OpenForm {
            kind: KindChoice::TcpClient,
            name: String::new(),
            family: Family::Auto,
            // A client has no local address unless the user gives one (the
            // same address on both ends connected the socket to itself).
            local: String::new(),
            remote: "127.0.0.1:7788".into(),
            path: "/tmp/sockscope.sock".into(),
            peer_path: String::new(),
            backlog: "128".into(),
            remove_stale: false,
            join: String::new(),
            options: BTreeMap::new(),
            connect_timeout: "10".into(),
            read_timeout: String::new(),
            close_on_read_timeout: false,
            auto_read: true,
            blocking: true,
            recv_buffer: "65536".into(),
            encoding: "UTF-8".into(),
            keep_open: false,
            responder: ResponderForm::default(),
            tls: TlsForm::default(),
            serial: Default::default(),
            ws: Default::default(),
            framing: Default::default(),
            kept_steps: Vec::new(),
            relay_rules: Default::default(),
            relay_target_tls: TlsForm::default(),
            checked: None,
            responder_cache: Default::default(),
        }
    }
}

/// Problems found in the form, by field: the catalogue key of the field's
/// label (an option's: its preset key), so they hold in either language.
#[derive(Default, Debug, Clone)]
pub struct Problems(pub Vec<(&'static str, String)>);

impl Problems {
    /// Records a problem; the engine's and the preset loader's words
    /// (English, as files and the CLI keep them) are translated here, once
    /// for every place that shows it.
    fn add(&mut self, field: &'static str, msg: impl Into<String>) {
        let msg = msg.into();
        let shown = super::i18n::engine_text(&msg).into_owned();
        self.0.push((field, shown));
    }
    /// The message for a field, if any.
    pub fn of(&self, field: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(f, _)| *f == field)
            .map(|(_, m)| m.as_str())
    }
}

/// The form field a preset field's error belongs to (an option's error
/// names its C name).
fn form_field(field: &str) -> &'static str {
    match field {
        "backlog" => BACKLOG.0,
        "recv_buffer" => RECV_BUFFER.0,
        "read_timeout" => READ_TIMEOUT.0,
        "connect_timeout" => CONNECT_TIMEOUT.0,
        "name" => NAME.0,
        "encoding" => L::ENCODING.0,
        "local" => L::LOCAL.0,
        "remote" | "connect" => L::REMOTE.0,
        "path" => L::PATH.0,
        "responder" | "reply_delay" => L::RESPONDER.0,
        "tls" => L::TLS.0,
        "framing" => L::FRAMING.0,
        "listen" => L::RELAY_LISTEN.0,
        "rules" => L::RELAY_RULES.0,
        "target_tls" => L::RELAY_TLS_TARGET.0,
        "target" => L::RELAY_TARGET.0,
        // An option's error names its key; the option's own label shows it.
        key => OptName::from_key(key)
            .and_then(|n| n.def().key)
            .unwrap_or(OPTIONS_FIELD.0),
    }
}

/// A problem's field (a catalogue key, or an option's key) in words.
pub fn field_name(field: &'static str) -> &'static str {
    match OptName::from_key(field) {
        Some(n) => super::i18n::option_label(n.def()),
        None if super::i18n::has(field) => super::i18n::tr(field),
        None => field,
    }
}

const BACKLOG: Key = Key("form-backlog");
const RECV_BUFFER: Key = Key("form-recv-buffer");
const READ_TIMEOUT: Key = Key("form-read-timeout");
const CONNECT_TIMEOUT: Key = Key("form-connect-timeout");
const NAME: Key = Key("form-name");
const OPTIONS_FIELD: Key = Key("form-options");
const JOIN_GROUPS: Key = Key("form-join-groups");
const PEER_PATH: Key = Key("form-peer-path");

fn opt_num<T: std::str::FromStr>(
    p: &mut Problems,
    field: &'static str,
    s: &str,
    ok: impl Fn(&T) -> bool,
    what: &str,
) -> Option<T> {
    let s = s.trim();
    if s.is_empty() {
        return None;
    }
    match s.parse::<T>() {
        Ok(v) if ok(&v) => Some(v),
        _ => {
            p.add(field, t!("form-not-a", value = s, what = what));
            None
        }
    }
}

fn opt_secs(p: &mut Problems, field: &'static str, s: &str) -> Option<Duration> {
    opt_num::<f64>(
        p,
        field,
        s,
        |v| v.is_finite() && (0.0..=31_536_000.0).contains(v),
        t!("form-seconds"),
    )
    .map(Duration::from_secs_f64)
}

fn check_path(p: &mut Problems, field: &'static str, s: &str) -> Option<PathBuf> {
    let s = s.trim();
    if s.is_empty() {
        p.add(field, t!("form-give-path"));
        return None;
    }
    // The preset loader's own check, so a form and a file agree.
    let path = PathBuf::from(s);
    if let Err(m) = crate::engine::spec::check_unix_path(&path) {
        p.add(field, m);
        return None;
    }
    Some(path)
}

impl OpenForm {
    /// Fills the form from a spec (Duplicate).
    pub fn load(&mut self, spec: &SessionSpec) {
        let mut f = OpenForm {
            name: format!("{} (copy)", spec.name),
            family: spec.family,
            encoding: spec.encoding.name().to_string(),
            responder: ResponderForm::load(&spec.responder, spec.reply_delay, spec.encoding),
            tls: TlsForm::load(spec.tls.as_ref()),
            framing: super::framing_form::FramingForm::load(&spec.framing, spec.encoding),
            kept_steps: spec.steps.clone(),
            keep_open: spec.keep_open_after_peer_fin,
            auto_read: spec.auto_read,
            close_on_read_timeout: spec.close_on_read_timeout,
            recv_buffer: spec.limits.recv_buffer.to_string(),
            connect_timeout: spec
                .connect_timeout
                .map(|d| d.as_secs_f64().to_string())
                .unwrap_or_default(),
            read_timeout: spec
                .read_timeout
                .map(|d| d.as_secs_f64().to_string())
                .unwrap_or_default(),
            ..OpenForm::default()
        };
        match &spec.kind {
            SessionKind::TcpClient { remote, local } => {
                f.kind = KindChoice::TcpClient;
                f.remote = remote.to_string();
                f.local = local.map(|l| l.to_string()).unwrap_or_default();
            }
            SessionKind::TcpServer { local, backlog } => {
                f.kind = KindChoice::TcpServer;
                f.local = local.to_string();
                f.backlog = backlog.to_string();
                // What the engine does when the spec does not say.
                f.options.insert(OptName::ReuseAddress, "on".into());
            }
            SessionKind::Udp {
                local,
                connect,
                join,
            } => {
                f.kind = KindChoice::Udp;
                f.local = local.map(|l| l.to_string()).unwrap_or_default();
                f.remote = connect.as_ref().map(|c| c.to_string()).unwrap_or_default();
                f.join = join
                    .iter()
                    .map(|g| g.to_string())
                    .collect::<Vec<_>>()
                    .join(", ");
            }
            SessionKind::UnixClient { path } => {
                f.kind = KindChoice::UnixClient;
                f.path = path.display().to_string();
            }
            SessionKind::UnixServer {
                path,
                backlog,
                stale,
            } => {
                f.kind = KindChoice::UnixServer;
                f.path = path.display().to_string();
                f.backlog = backlog.to_string();
                f.remove_stale = *stale == StalePolicy::RemoveIfStale;
            }
            SessionKind::UnixDatagram { local, connect } => {
                f.kind = KindChoice::UnixDatagram;
                f.path = local
                    .as_ref()
                    .map(|p| p.display().to_string())
                    .unwrap_or_default();
                f.peer_path = connect
                    .as_ref()
                    .map(|p| p.display().to_string())
                    .unwrap_or_default();
            }
            SessionKind::SocketPair => f.kind = KindChoice::SocketPair,
            SessionKind::WsClient { .. } => {
                f.kind = KindChoice::WsClient;
                f.ws = super::ws_form::WsForm::load(&spec.kind);
            }
            SessionKind::WsServer { local, .. } => {
                f.kind = KindChoice::WsServer;
                f.local = local.to_string();
                f.ws = super::ws_form::WsForm::load(&spec.kind);
            }
            SessionKind::Relay {
                listen,
                target,
                rules,
                ..
            } => {
                f.kind = KindChoice::Relay;
                f.local = listen.to_string();
                f.remote = target.to_string();
                f.relay_rules = super::rules_form::RulesForm::load(rules, spec.encoding);
                if let SessionKind::Relay { target_tls, .. } = &spec.kind {
                    f.relay_target_tls = TlsForm::load(target_tls.as_ref());
                }
            }
            SessionKind::Serial(s) => {
                f.kind = KindChoice::Serial;
                f.serial = super::serial_form::SerialForm::load(s);
            }
            // Step mode has its own panel; the form keeps its defaults.
            SessionKind::Script { .. } | SessionKind::Burst(_) => {}
        }
        for o in &spec.options {
            match o.name() {
                OptName::Blocking => f.blocking = o.value() == OptValue::Flag(true),
                // The session's read timeout field carries it.
                OptName::ReadTimeout => {}
                n => {
                    f.options.insert(n, o.input_text());
                }
            }
        }
        *self = f;
    }

    /// Resets the fields whose meaning changes with the kind: a server's
    /// local address is where it listens, a client's is an optional bind
    /// before connect; servers take SO_REUSEADDR by default.
    fn kind_changed(&mut self, before: KindChoice) {
        let server = |k| {
            matches!(
                k,
                KindChoice::TcpServer
                    | KindChoice::UnixServer
                    | KindChoice::WsServer
                    | KindChoice::Relay
            )
        };
        match self.kind {
            // The built-in example's ports: the echo server's behind it.
            KindChoice::Relay if before != KindChoice::Relay => {
                self.local = "127.0.0.1:9300".into();
                self.remote = "127.0.0.1:7788".into();
            }
            KindChoice::WsServer if !server(before) || self.local.trim().is_empty() => {
                self.local = "127.0.0.1:8765".into();
            }
            KindChoice::TcpServer if !server(before) || self.local.trim().is_empty() => {
                // Listen where the client was about to connect.
                self.local = HostPort::parse(&self.remote)
                    .ok()
                    .and_then(|h| {
                        h.host
                            .parse::<std::net::IpAddr>()
                            .ok()
                            .map(|ip| (ip, h.port))
                    })
                    .map(|(ip, port)| std::net::SocketAddr::new(ip, port).to_string())
                    .unwrap_or_else(|| "127.0.0.1:7788".into());
            }
            KindChoice::TcpServer | KindChoice::WsServer => {}
            _ if server(before) => self.local.clear(),
            _ => {}
        }
        let reuse = if server(self.kind) { "on" } else { "" };
        self.options.insert(OptName::ReuseAddress, reuse.into());
        // From a listening kind to one that is not (or back), replies
        // start off, as in a fresh form: "Echo replies" picked for a TCP
        // server stayed on for a UDP socket with a default peer, and
        // against a peer that echoes too the two echoed each other without
        // end. What was typed for a responder (a fixed reply, rules) is
        // kept for when it is picked again.
        if server(before) != server(self.kind) {
            self.responder.kind = super::responder_form::ReplyKind::None;
        }
    }

    /// Whether the form offers an option for its kind and family (both
    /// families' options while the family is left to the addresses).
    fn offers(&self, name: OptName) -> bool {
        // A serial port is no socket: termios, not setsockopt.
        if self.kind == KindChoice::Serial {
            return false;
        }
        let inet = self.is_inet();
        let stream = !matches!(self.kind, KindChoice::Udp | KindChoice::UnixDatagram);
        let families: &[bool] = match self.family {
            Family::V4 => &[false],
            Family::V6 => &[true],
            Family::Auto => &[false, true],
        };
        families.iter().any(|&v6| {
            name.applies(SocketShape {
                inet,
                v6: v6 && inet,
                stream,
            })
        })
    }

    /// What the form holds for an option, trimmed.
    fn option_text(&self, name: OptName) -> &str {
        self.options.get(&name).map_or("", |s| s.trim())
    }

    fn is_inet(&self) -> bool {
        matches!(
            self.kind,
            KindChoice::TcpClient
                | KindChoice::TcpServer
                | KindChoice::Udp
                | KindChoice::WsClient
                | KindChoice::WsServer
                | KindChoice::Relay
        )
    }

    /// Checks every field; returns the spec when all are valid.
    pub fn validate(&self) -> (Option<SessionSpec>, Problems) {
        let mut p = Problems::default();
        let mut backlog_v = 128;
        if matches!(self.kind, KindChoice::TcpServer | KindChoice::UnixServer) {
            // Its range is the preset's to check (below), as for a file.
            match self.backlog.trim().parse::<i32>() {
                Ok(b) => backlog_v = b,
                _ => p.add(BACKLOG.0, t!("form-backlog-range")),
            }
        }
        let local_opt = |p: &mut Problems, required: bool| {
            let s = self.local.trim();
            if s.is_empty() {
                if required {
                    p.add(L::LOCAL.0, t!("form-give-bind"));
                }
                return None;
            }
            match spec::parse_bind_addr(s) {
                Ok(a) => Some(a),
                Err(e) => {
                    p.add(L::LOCAL.0, e);
                    None
                }
            }
        };
        let remote = |p: &mut Problems, required: bool| {
            let s = self.remote.trim();
            if s.is_empty() {
                if required {
                    p.add(L::REMOTE.0, t!("form-give-remote"));
                }
                return None;
            }
            match HostPort::parse(s) {
                Ok(h) => Some(h),
                Err(e) => {
                    p.add(L::REMOTE.0, e);
                    None
                }
            }
        };
        let kind = match self.kind {
            KindChoice::TcpClient => {
                let r = remote(&mut p, true);
                let l = local_opt(&mut p, false);
                r.map(|remote| SessionKind::TcpClient { remote, local: l })
            }
            KindChoice::TcpServer => local_opt(&mut p, true).map(|local| SessionKind::TcpServer {
                local,
                backlog: backlog_v,
            }),
            KindChoice::Udp => {
                let l = local_opt(&mut p, false);
                let c = remote(&mut p, false);
                let mut join = Vec::new();
                for g in self
                    .join
                    .split(',')
                    .map(str::trim)
                    .filter(|g| !g.is_empty())
                {
                    match g.parse::<IpAddr>() {
                        Ok(ip) if ip.is_multicast() => join.push(ip),
                        _ => p.add(JOIN_GROUPS.0, t!("form-not-multicast", group = g)),
                    }
                }
                Some(SessionKind::Udp {
                    local: l,
                    connect: c,
                    join,
                })
            }
            KindChoice::UnixClient => check_path(&mut p, L::PATH.0, &self.path)
                .map(|path| SessionKind::UnixClient { path }),
            KindChoice::UnixServer => {
                check_path(&mut p, L::PATH.0, &self.path).map(|path| SessionKind::UnixServer {
                    path,
                    backlog: backlog_v,
                    stale: if self.remove_stale {
                        StalePolicy::RemoveIfStale
                    } else {
                        StalePolicy::Fail
                    },
                })
            }
            KindChoice::UnixDatagram => {
                let local = if self.path.trim().is_empty() {
                    None
                } else {
                    check_path(&mut p, L::PATH.0, &self.path)
                };
                let connect = if self.peer_path.trim().is_empty() {
                    None
                } else {
                    check_path(&mut p, PEER_PATH.0, &self.peer_path)
                };
                Some(SessionKind::UnixDatagram { local, connect })
            }
            KindChoice::SocketPair => Some(SessionKind::SocketPair),
            KindChoice::Serial => Some(SessionKind::Serial(self.serial.spec())),
            KindChoice::WsClient => match self.ws.client() {
                Ok(k) => Some(k),
                Err((field, m)) => {
                    p.add(field, m);
                    None
                }
            },
            KindChoice::WsServer => local_opt(&mut p, true).map(|local| self.ws.server(local)),
            KindChoice::Relay => {
                let mut end = |label: &'static str, text: &str| match spec::RelayEnd::parse(text) {
                    Ok(e) => Some(e),
                    Err(m) => {
                        p.add(label, m);
                        None
                    }
                };
                let listen = end(L::RELAY_LISTEN.0, &self.local);
                let target = end(L::RELAY_TARGET.0, &self.remote);
                let rules = match self
                    .relay_rules
                    .rules(Encoding::for_label(&self.encoding).unwrap_or_default())
                {
                    Ok(r) => Some(r),
                    Err(m) => {
                        p.add(L::RELAY_RULES.0, m);
                        None
                    }
                };
                match (listen, target, rules) {
                    (Some(listen), Some(target), Some(rules)) => Some(SessionKind::Relay {
                        listen,
                        target,
                        rules,
                        target_tls: None,
                    }),
                    _ => None,
                }
            }
        };
        let mut opts = Vec::new();
        for def in OPTIONS.iter() {
            let text = self.option_text(def.name);
            // Blocking and SO_RCVTIMEO have fields of their own.
            if text.is_empty()
                || matches!(def.name, OptName::Blocking | OptName::ReadTimeout)
                || !self.offers(def.name)
            {
                continue;
            }
            match SockOpt::parse(def.name, text) {
                Ok(o) => opts.push(o),
                Err(m) => p.add(def.key.unwrap_or(def.label), m),
            }
        }
        if matches!(
            self.kind,
            KindChoice::TcpServer | KindChoice::WsServer | KindChoice::Relay
        ) && self.option_text(OptName::ReuseAddress).is_empty()
        {
            // Said, since a server without the option takes it.
            opts.push(SockOpt::flag(OptName::ReuseAddress, false));
        }
        // A serial port always reads automatically.
        let auto_read = self.auto_read || self.kind == KindChoice::Serial;
        if !auto_read {
            opts.push(SockOpt::flag(OptName::Blocking, self.blocking));
        }
        let connect_timeout = opt_secs(&mut p, CONNECT_TIMEOUT.0, &self.connect_timeout);
        let read_timeout = opt_secs(&mut p, READ_TIMEOUT.0, &self.read_timeout);
        let recv_buffer = opt_num::<usize>(
            &mut p,
            RECV_BUFFER.0,
            &self.recv_buffer,
            |_| true,
            t!("form-whole-bytes"),
        );
        let encoding = Encoding::for_label(&self.encoding);
        if encoding.is_none() {
            p.add(
                L::ENCODING.0,
                t!("form-unknown-encoding", list = COMMON_ENCODINGS.join(", ")),
            );
        }
        let Some(kind) = kind else {
            return (None, p);
        };
        let responder = if self.takes_responder() {
            match self.responder_checked(encoding.unwrap_or_default()) {
                Ok(r) => Some(r),
                Err(m) => {
                    p.add(L::RESPONDER.0, m);
                    None
                }
            }
        } else {
            Some((Responder::None, None))
        };
        let tls = if self.takes_tls() {
            match self.tls.validate(&kind, self.auto_read) {
                Ok(t) => t,
                Err(m) => {
                    p.add(L::TLS.0, m);
                    None
                }
            }
        } else {
            None
        };
        if !p.0.is_empty() {
            return (None, p);
        }
        let name = if self.name.trim().is_empty() {
            default_name(&kind)
        } else {
            self.name.trim().to_string()
        };
        let mut spec = SessionSpec::new(name, kind);
        spec.family = self.family;
        spec.options = opts;
        spec.connect_timeout = connect_timeout;
        spec.read_timeout = read_timeout;
        spec.close_on_read_timeout = self.close_on_read_timeout;
        spec.auto_read = auto_read;
        spec.encoding = encoding.unwrap_or_default();
        let (responder, reply_delay) = responder.unwrap_or_default();
        spec.responder = responder;
        spec.reply_delay = reply_delay;
        spec.tls = tls;
        if let SessionKind::Relay {
            listen, target_tls, ..
        } = &mut spec.kind
        {
            // Each side checked as the TLS of what it is: a server towards
            // clients, a client towards the target.
            let towards_clients = SessionKind::TcpServer {
                local: std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
                backlog: 1,
            };
            let towards_target = SessionKind::TcpClient {
                remote: HostPort {
                    host: "relay-target".into(),
                    port: 1,
                },
                local: None,
            };
            let udp = matches!(listen, spec::RelayEnd::Udp(_));
            if udp && (self.tls.on || self.relay_target_tls.on) {
                p.add(L::RELAY_TLS_CLIENTS.0, t!("form-tls-not-udp"));
                return (None, p);
            }
            match self.tls.validate(&towards_clients, auto_read) {
                Ok(t) => spec.tls = t,
                Err(m) => p.add(L::RELAY_TLS_CLIENTS.0, m),
            }
            match self.relay_target_tls.validate(&towards_target, auto_read) {
                Ok(t) => *target_tls = t,
                Err(m) => p.add(L::RELAY_TLS_TARGET.0, m),
            }
            if !p.0.is_empty() {
                return (None, p);
            }
        }
        if self.takes_framing() {
            match self.framing.framing(spec.encoding) {
                Ok(f) => spec.framing = f,
                Err(m) => {
                    p.add(L::FRAMING.0, m);
                    return (None, p);
                }
            }
        }
        spec.steps = self.kept_steps.clone();
        spec.keep_open_after_peer_fin = self.keep_open;
        if let Some(n) = recv_buffer {
            spec.limits.recv_buffer = n;
        }
        // One validation path: what the form built is checked by the very
        // code that checks a preset file (written as one, then read back),
        // so a form and a file can never disagree on what is valid.
        if let Err((field, msg)) = crate::preset::to_spec(crate::preset::from_spec(&spec)) {
            let label = match self.kind {
                KindChoice::Serial => super::serial_form::SerialForm::label_of(&field),
                KindChoice::WsClient | KindChoice::WsServer => {
                    super::ws_form::WsForm::label_of(&field)
                }
                _ => None,
            };
            p.add(label.unwrap_or_else(|| form_field(&field)), msg);
            return (None, p);
        }
        (Some(spec), p)
    }

    /// Whether the local address binds every interface (flagged in the UI).
    pub fn binds_all_interfaces(&self) -> bool {
        spec::parse_bind_addr(&self.local).is_ok_and(|a| a.ip().is_unspecified())
    }

    /// Who can reach what the local address binds, as the line under the
    /// field says it (and whether it is a warning).
    fn reach_note(&self) -> (&'static str, &'static str, bool) {
        if self.local.trim().is_empty() {
            return (t!("reach-kernel"), t!("reach-kernel-why"), false);
        }
        match spec::parse_bind_addr(&self.local) {
            Ok(a) if a.ip().is_unspecified() => (t!("reach-every"), t!("reach-every-why"), true),
            Ok(a) if a.ip().is_loopback() => {
                (t!("reach-loopback"), t!("reach-loopback-why"), false)
            }
            Ok(_) => (t!("reach-one"), t!("reach-one-why"), false),
            Err(_) => (" ", "", false),
        }
    }

    /// Draws the form; returns an action when Open was clicked.
    pub fn ui(&mut self, ui: &mut egui::Ui) -> Option<FormAction> {
        self.fields_ui(ui);
        self.open_ui(ui)
    }

    /// Draws the fields (the app puts them in a scroll area and keeps
    /// Open below it, always in view however long the form grows).
    pub fn fields_ui(&mut self, ui: &mut egui::Ui) {
        let (spec, problems) = self.validate();
        // A field in error gets a red frame and its reason on hover; the
        // reason is also beside Open. No line is added under the field, so
        // a message never pushes the widgets below it.
        let err = |ui: &mut egui::Ui, widget: &egui::Response, field: &str| {
            if let Some(m) = problems.of(field) {
                let red = ui.visuals().error_fg_color;
                ui.painter().rect_stroke(
                    widget.rect.expand(1.0),
                    2.0,
                    egui::Stroke::new(1.5, red),
                    egui::StrokeKind::Outside,
                );
                widget.clone().on_hover_text(format!("! {m}"));
            }
        };
        // The Kind box is on a row of its own, above the grid: in the grid
        // it moved sideways with the labels' column, which is as wide as
        // the longest label of the kind picked.
        ui.horizontal(|ui| {
            let label = ui.label(L::KIND);
            let before = self.kind;
            egui::ComboBox::from_id_salt("kind")
                .selected_text(self.kind.label())
                // Every kind in view at once: the default height hid the
                // last ones behind a scroll bar.
                .height(f32::INFINITY)
                .show_ui(ui, |ui| {
                    for k in KindChoice::ALL {
                        ui.selectable_value(&mut self.kind, k, k.label());
                    }
                })
                .response
                .labelled_by(label.id);
            if self.kind != before {
                self.kind_changed(before);
            }
        });
        egui::Grid::new("form-grid")
            .num_columns(2)
            .spacing([8.0, 4.0])
            .show(ui, |ui| {
                let label = ui.label(NAME);
                ui.add(
                    egui::TextEdit::singleline(&mut self.name)
                        .desired_width(FIELD_WIDTH)
                        .hint_text(t!("form-name-hint")),
                )
                .labelled_by(label.id);
                ui.end_row();
                // A relay's ends are addresses, not names: no family to pick.
                if self.is_inet() && self.kind != KindChoice::Relay {
                    ui.label(L::FAMILY);
                    ui.horizontal(|ui| {
                        ui.selectable_value(&mut self.family, Family::Auto, t!("form-auto"));
                        ui.selectable_value(&mut self.family, Family::V4, "IPv4");
                        ui.selectable_value(&mut self.family, Family::V6, "IPv6");
                    });
                    ui.end_row();
                }
                let needs_local = matches!(
                    self.kind,
                    KindChoice::TcpClient
                        | KindChoice::TcpServer
                        | KindChoice::Udp
                        | KindChoice::WsServer
                );
                if needs_local {
                    let label = ui.label(L::LOCAL);
                    ui.vertical(|ui| {
                        let field = ui
                            .add(
                                egui::TextEdit::singleline(&mut self.local)
                                    .desired_width(FIELD_WIDTH)
                                    .hint_text(if self.kind == KindChoice::TcpServer {
                                        "127.0.0.1:7788"
                                    } else if self.kind == KindChoice::WsServer {
                                        "127.0.0.1:8765"
                                    } else {
                                        t!("form-local-hint")
                                    }),
                            )
                            .labelled_by(label.id);
                        err(ui, &field, L::LOCAL.0);
                        // Always one line under the field, whatever it
                        // says, so typing an address never moves the
                        // fields below it.
                        let (text, why, warn) = self.reach_note();
                        let text = if warn {
                            egui::RichText::new(text).color(ui.visuals().warn_fg_color)
                        } else {
                            egui::RichText::new(text).weak()
                        };
                        let note = ui.add(egui::Label::new(text).truncate());
                        if !why.is_empty() {
                            note.on_hover_text(why);
                        }
                    });
                    ui.end_row();
                }
                if matches!(self.kind, KindChoice::TcpClient | KindChoice::Udp) {
                    let label = ui.label(if self.kind == KindChoice::Udp {
                        t!("form-default-peer")
                    } else {
                        L::REMOTE.text()
                    });
                    ui.vertical(|ui| {
                        let field = ui
                            .add(
                                egui::TextEdit::singleline(&mut self.remote)
                                    .desired_width(FIELD_WIDTH)
                                    .id_salt(L::REMOTE),
                            )
                            .labelled_by(label.id);
                        err(ui, &field, L::REMOTE.0);
                    });
                    ui.end_row();
                }
                if self.kind == KindChoice::Relay {
                    for (name, text, hint) in [
                        (L::RELAY_LISTEN, &mut self.local, t!("form-listen-hint")),
                        (L::RELAY_TARGET, &mut self.remote, t!("form-target-hint")),
                    ] {
                        let label = ui.label(name);
                        let field = ui
                            .add(
                                egui::TextEdit::singleline(text)
                                    .desired_width(FIELD_WIDTH)
                                    .hint_text(hint)
                                    .id_salt(name),
                            )
                            .labelled_by(label.id);
                        err(ui, &field, name.0);
                        ui.end_row();
                    }
                }
                if self.kind == KindChoice::Udp {
                    let label = ui.label(JOIN_GROUPS);
                    ui.vertical(|ui| {
                        let field = ui
                            .add(
                                egui::TextEdit::singleline(&mut self.join)
                                    .desired_width(FIELD_WIDTH)
                                    .hint_text("239.1.2.3, ff02::1234"),
                            )
                            .labelled_by(label.id);
                        err(ui, &field, JOIN_GROUPS.0);
                    });
                    ui.end_row();
                }
                if matches!(
                    self.kind,
                    KindChoice::UnixClient | KindChoice::UnixServer | KindChoice::UnixDatagram
                ) {
                    let label = ui.label(L::PATH);
                    ui.vertical(|ui| {
                        let field = ui
                            .add(
                                egui::TextEdit::singleline(&mut self.path)
                                    .desired_width(FIELD_WIDTH),
                            )
                            .labelled_by(label.id);
                        err(ui, &field, L::PATH.0);
                    });
                    ui.end_row();
                }
                if self.kind == KindChoice::Serial {
                    let p = &problems;
                    self.serial.ui(ui, &|ui, label| {
                        if let Some(m) = p.of(label) {
                            ui.colored_label(ui.visuals().error_fg_color, format!("! {m}"));
                        }
                    });
                }
                if matches!(self.kind, KindChoice::WsClient | KindChoice::WsServer) {
                    let p = &problems;
                    let server = self.kind == KindChoice::WsServer;
                    self.ws.ui(ui, server, &|ui, label| {
                        if let Some(m) = p.of(label) {
                            ui.colored_label(ui.visuals().error_fg_color, format!("! {m}"));
                        }
                    });
                }
                if self.kind == KindChoice::UnixDatagram {
                    let label = ui.label(PEER_PATH);
                    ui.vertical(|ui| {
                        let field = ui
                            .add(
                                egui::TextEdit::singleline(&mut self.peer_path)
                                    .desired_width(FIELD_WIDTH)
                                    .hint_text(t!("form-optional")),
                            )
                            .labelled_by(label.id);
                        err(ui, &field, PEER_PATH.0);
                    });
                    ui.end_row();
                }
                if matches!(self.kind, KindChoice::TcpServer | KindChoice::UnixServer) {
                    let label = ui.label(BACKLOG);
                    ui.vertical(|ui| {
                        let field = ui
                            .add(egui::TextEdit::singleline(&mut self.backlog).desired_width(60.0))
                            .labelled_by(label.id);
                        err(ui, &field, BACKLOG.0);
                    });
                    ui.end_row();
                }
                if self.takes_framing() {
                    let p = &problems;
                    self.framing.ui(ui, &|ui, label| {
                        if let Some(m) = p.of(label) {
                            ui.colored_label(ui.visuals().error_fg_color, format!("! {m}"));
                        }
                    });
                }
            });
        if self.kind == KindChoice::UnixServer {
            // Below the grid, where its long text wraps to the panel: in
            // the grid's narrow column it widened the panel.
            ui.checkbox(&mut self.remove_stale, t!("form-remove-stale"))
                .on_hover_text(t!("form-stale-file"));
        }
        ui.horizontal_wrapped(|ui| {
            for def in OPTIONS.iter() {
                if def.widget != Widget::Check || !self.offers(def.name) {
                    continue;
                }
                let mut on = Tri::of_text(self.option_text(def.name)) == Tri::On;
                if ui
                    .checkbox(&mut on, super::i18n::option_label(def))
                    .changed()
                {
                    let t = if on { Tri::On } else { Tri::Default };
                    self.options.insert(def.name, t.text().into());
                }
            }
        });
        if self.takes_responder() {
            self.responder.ui(ui, problems.of(L::RESPONDER.0));
        }
        if self.takes_tls() {
            let client = matches!(self.kind, KindChoice::TcpClient | KindChoice::WsClient);
            let title = match self.kind {
                KindChoice::WsClient => L::WSS_TRUST,
                KindChoice::WsServer => L::USE_TLS_WSS,
                _ => L::USE_TLS,
            };
            self.tls.ui(ui, client, title, problems.of(L::TLS.0));
        }
        if self.kind == KindChoice::Relay {
            // Below the grid: a rule's row needs the panel's whole width.
            self.relay_rules.show(ui, problems.of(L::RELAY_RULES.0));
            self.tls.ui(
                ui,
                false,
                L::RELAY_TLS_CLIENTS,
                problems.of(L::RELAY_TLS_CLIENTS.0),
            );
            self.relay_target_tls.ui(
                ui,
                true,
                L::RELAY_TLS_TARGET,
                problems.of(L::RELAY_TLS_TARGET.0),
            );
        }
        if !self.kept_steps.is_empty() {
            ui.horizontal_wrapped(|ui| {
                ui.label(t!("form-kept-steps", n = self.kept_steps.len()));
                if ui.small_button(t!("form-drop-steps")).clicked() {
                    self.kept_steps.clear();
                }
            });
        }
        egui::CollapsingHeader::new(L::MORE_OPTIONS)
            .default_open(false)
            .show(ui, |ui| self.more_options(ui, &problems));
        self.checked = Some((spec, problems));
    }

    /// Draws Open and why it is disabled; returns an action when clicked.
    pub fn open_ui(&mut self, ui: &mut egui::Ui) -> Option<FormAction> {
        let (spec, problems) = self.checked.take().unwrap_or_else(|| self.validate());
        let all: Vec<String> = problems
            .0
            .iter()
            .map(|(f, m)| format!("{}: {}", field_name(f), super::i18n::engine_text(m)))
            .collect();
        let clicked = ui
            .add_enabled(spec.is_some(), egui::Button::new(L::OPEN))
            .on_disabled_hover_text(all.join("\n"))
            .clicked();
        // Under Open, a space of two lines that is always there: the reason
        // Open is disabled, or a hint when it is not. Nothing moves as the
        // form turns valid or invalid, and the reason is not cut to one
        // line (it wraps; past two lines the rest is on hover).
        let (text, color) = match problems.0.first() {
            Some((f, m)) if spec.is_none() => (
                t!(
                    "form-open-disabled",
                    why = super::i18n::engine_text(m).into_owned(),
                    field = field_name(f)
                ),
                ui.visuals().error_fg_color,
            ),
            _ => (
                t!("form-enter-opens").to_string(),
                ui.visuals().weak_text_color(),
            ),
        };
        let font = egui::TextStyle::Body.resolve(ui.style());
        let rows = 2.0;
        let height = ui.fonts_mut(|f| f.row_height(&font)) * rows;
        let width = ui.available_width();
        let mut job = egui::text::LayoutJob::simple(text, font, color, width);
        job.wrap.max_rows = rows as usize;
        job.wrap.overflow_character = Some('…');
        // Exactly this much room, whatever the text turns out to be.
        let (rect, _) = ui.allocate_exact_size(egui::vec2(width, height), egui::Sense::hover());
        let r = ui
            .new_child(
                egui::UiBuilder::new()
                    .max_rect(rect)
                    .layout(egui::Layout::top_down(egui::Align::Min)),
            )
            .add(egui::Label::new(job));
        if spec.is_none() {
            r.on_hover_text(all.join("\n"));
        }
        match (clicked, spec) {
            (true, Some(spec)) => Some(FormAction::Open(spec)),
            _ => None,
        }
    }

    fn more_options(&mut self, ui: &mut egui::Ui, problems: &Problems) {
        let tri = |ui: &mut egui::Ui, v: &mut Tri, label: &str, help: &str| {
            ui.label(label).on_hover_text(help);
            ui.horizontal(|ui| {
                ui.selectable_value(v, Tri::Default, t!("tri-default"));
                ui.selectable_value(v, Tri::On, t!("tri-on"));
                ui.selectable_value(v, Tri::Off, t!("tri-off"));
            });
            ui.end_row();
        };
        let text =
            |ui: &mut egui::Ui, v: &mut String, label: &'static str, hint: &str, help: &str| {
                let l = ui.label(field_name(label)).on_hover_text(help);
                ui.vertical(|ui| {
                    ui.add(
                        egui::TextEdit::singleline(v)
                            .hint_text(hint)
                            .desired_width(120.0)
                            .id_salt(label),
                    )
                    .labelled_by(l.id);
                    if let Some(m) = problems.of(label) {
                        ui.colored_label(ui.visuals().error_fg_color, format!("! {m}"));
                    }
                });
                ui.end_row();
            };
        egui::Grid::new("more-options")
            .num_columns(2)
            .show(ui, |ui| {
                let tcp = matches!(self.kind, KindChoice::TcpClient | KindChoice::TcpServer);
                for def in OPTIONS.iter() {
                    if !self.offers(def.name) {
                        continue;
                    }
                    let help = format!("{}: {}", def.c, super::i18n::option_help(def));
                    match def.widget {
                        Widget::Tri => {
                            let v = self.options.entry(def.name).or_default();
                            let mut t = Tri::of_text(v);
                            tri(ui, &mut t, super::i18n::option_label(def), &help);
                            if t != Tri::of_text(v) {
                                *v = t.text().into();
                            }
                        }
                        Widget::Text(hint) => text(
                            ui,
                            self.options.entry(def.name).or_default(),
                            def.key.unwrap_or(def.label),
                            &super::i18n::engine_text(hint),
                            &help,
                        ),
                        Widget::Check | Widget::None => {}
                    }
                }
                if tcp {
                    text(
                        ui,
                        &mut self.connect_timeout,
                        CONNECT_TIMEOUT.0,
                        t!("form-seconds-hint"),
                        t!("form-connect-timeout-help"),
                    );
                }
                text(
                    ui,
                    &mut self.read_timeout,
                    READ_TIMEOUT.0,
                    t!("form-seconds-hint"),
                    t!("form-read-timeout-help"),
                );
                ui.label("");
                ui.checkbox(&mut self.close_on_read_timeout, t!("form-close-on-timeout"))
                    .on_hover_text(t!("form-close-on-timeout-help"));
                ui.end_row();
                text(
                    ui,
                    &mut self.recv_buffer,
                    RECV_BUFFER.0,
                    t!("form-bytes-hint"),
                    t!("form-recv-buffer-help"),
                );
                let label = ui.label(L::ENCODING);
                ui.vertical(|ui| {
                    egui::ComboBox::from_id_salt("form-encoding")
                        .selected_text(self.encoding.clone())
                        .show_ui(ui, |ui| {
                            for e in COMMON_ENCODINGS {
                                ui.selectable_value(&mut self.encoding, (*e).to_string(), *e);
                            }
                        })
                        .response
                        .labelled_by(label.id);
                    if let Some(m) = problems.of(L::ENCODING.0) {
                        ui.colored_label(ui.visuals().error_fg_color, format!("! {m}"));
                    }
                });
                ui.end_row();
                if self.kind != KindChoice::Serial {
                    ui.label(t!("form-reading"));
                    ui.vertical(|ui| {
                        ui.checkbox(&mut self.auto_read, t!("form-auto-read"))
                            .on_hover_text(t!("form-auto-read-help"));
                        if !self.auto_read {
                            ui.checkbox(&mut self.blocking, t!("form-blocking"))
                                .on_hover_text(t!("form-blocking-help"));
                        }
                    });
                    ui.end_row();
                }
                if !matches!(
                    self.kind,
                    KindChoice::Udp | KindChoice::UnixDatagram | KindChoice::Serial
                ) {
                    ui.label(t!("form-peer-fin"));
                    ui.checkbox(&mut self.keep_open, t!("form-half-open"))
                        .on_hover_text(t!("form-half-open-help"));
                    ui.end_row();
                }
            });
    }

    fn responder_checked(&self, enc: Encoding) -> ResponderChecked {
        let mut cache = self.responder_cache.borrow_mut();
        if let Some((form, e, result)) = cache.as_ref()
            && *form == self.responder
            && *e == enc
        {
            return result.clone();
        }
        let result = self.responder.validate(enc);
        *cache = Some((self.responder.clone(), enc, result.clone()));
        result
    }

    /// Sessions that answer what they receive: servers, datagram sockets
    /// and socketpairs (clients run scripts instead).
    fn takes_responder(&self) -> bool {
        !matches!(
            self.kind,
            KindChoice::TcpClient
                | KindChoice::UnixClient
                | KindChoice::WsClient
                | KindChoice::Relay
        )
    }

    /// Plain streams: TCP, Unix stream, socketpair and serial (datagrams
    /// are messages already; a WebSocket has frames of its own).
    fn takes_framing(&self) -> bool {
        matches!(
            self.kind,
            KindChoice::TcpClient
                | KindChoice::TcpServer
                | KindChoice::UnixClient
                | KindChoice::UnixServer
                | KindChoice::SocketPair
                | KindChoice::Serial
        ) && self.auto_read
    }

    /// TCP clients and servers, WebSocket servers (TLS makes them wss),
    /// and clients of a wss:// address (their trust settings).
    fn takes_tls(&self) -> bool {
        match self.kind {
            KindChoice::TcpClient | KindChoice::TcpServer | KindChoice::WsServer => true,
            KindChoice::WsClient => self.ws.secure(),
            _ => false,
        }
    }
}

fn default_name(kind: &SessionKind) -> String {
    match kind {
        SessionKind::TcpClient { remote, .. } => format!("client {remote}"),
        SessionKind::TcpServer { local, .. } => format!("server {local}"),
        SessionKind::Udp { local, .. } => match local {
            Some(l) => format!("udp {l}"),
            None => "udp".into(),
        },
        SessionKind::UnixClient { path } => format!("unix client {}", path.display()),
        SessionKind::UnixServer { path, .. } => format!("unix server {}", path.display()),
        SessionKind::UnixDatagram { .. } => "unix datagram".into(),
        SessionKind::SocketPair => "socketpair".into(),
        SessionKind::Serial(s) => format!("serial {} {}", s.path.display(), s.framing()),
        SessionKind::Script { .. } => "script".into(),
        SessionKind::Burst(b) => format!("burst to {}", b.target),
        SessionKind::WsClient { url, .. } => format!("ws client {url}"),
        SessionKind::WsServer { local, path, .. } => format!("ws server {local}{path}"),
        SessionKind::Relay { listen, target, .. } => format!("relay {listen} → {target}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_copied_relay_keeps_its_rules_and_both_tls_sides() {
        let src = r#"(name: "r", kind: Relay(listen: "127.0.0.1:9300", target: "127.0.0.1:7788",
            rules: [(to: Server, action: Drop)],
            target_tls: Client(accept_invalid_certs: true)), tls: Server())"#;
        let file = crate::preset::ron_options().from_str(src).unwrap();
        let spec = crate::preset::to_spec(file).unwrap();
        let mut f = OpenForm::default();
        f.load(&spec);
        assert_eq!(f.kind, KindChoice::Relay);
        let (got, p) = f.validate();
        assert!(p.0.is_empty(), "{p:?}");
        let got = got.unwrap();
        assert_eq!(got.kind, spec.kind, "rules and target TLS kept");
        assert_eq!(got.tls, spec.tls, "TLS towards clients kept");
    }

    #[test]
    fn defaults_make_a_loopback_client() {
        let f = OpenForm::default();
        let (spec, p) = f.validate();
        assert!(p.0.is_empty(), "{p:?}");
        let spec = spec.unwrap();
        assert!(matches!(spec.kind, SessionKind::TcpClient { .. }));
    }

    #[test]
    fn bad_fields_are_named() {
        let f = OpenForm {
            kind: KindChoice::TcpServer,
            local: "127.0.0.1:70000".into(),
            options: [(OptName::RecvBuffer, "lots".to_string())].into(),
            ..OpenForm::default()
        };
        let (spec, p) = f.validate();
        assert!(spec.is_none());
        assert!(p.of(L::LOCAL.0).unwrap().contains("out of range"));
        assert!(p.of("rcvbuf").unwrap().contains("not a whole number"));
        assert_eq!(field_name("rcvbuf"), "SO_RCVBUF");
    }

    /// Engine v2, item 5: the form re-implemented the preset's checks and
    /// the two drifted (keepalive_count 1..=127 in the form only). Now a
    /// form and a file get the same verdict and the same words.
    #[test]
    fn a_form_and_a_file_agree_on_what_is_valid() {
        // `kind` goes inside TcpServer(...), `rest` after it.
        let file_says = |kind: &str, rest: &str| {
            crate::preset::parse_str(
                std::path::Path::new("t.ron"),
                &format!(r#"(name: "s", kind: TcpServer(local: "127.0.0.1:0"{kind}){rest})"#),
            )
            .unwrap_err()
            .message
        };
        let form = |f: OpenForm| {
            let (spec, p) = OpenForm {
                kind: KindChoice::TcpServer,
                local: "127.0.0.1:0".into(),
                ..f
            }
            .validate();
            assert!(spec.is_none(), "{p:?}");
            p
        };
        for (name, key, value, label) in [
            (
                OptName::KeepAliveCount,
                "keepalive_count",
                "200",
                "Keepalive count",
            ),
            (OptName::Tos, "tos", "256", "TOS / traffic class"),
            (OptName::MaxSeg, "maxseg", "20", "TCP_MAXSEG"),
            (OptName::Linger, "linger", "0.5", "SO_LINGER"),
        ] {
            let p = form(OpenForm {
                options: [(name, value.to_string())].into(),
                ..OpenForm::default()
            });
            // Problems are keyed by the option's key; its label names it.
            assert_eq!(field_name(key), label);
            let m = p.of(key).expect("the field is named");
            let f = file_says("", &format!(", options: ({key}: {value})"));
            assert!(f.contains(m), "form: {m}; file: {f}");
        }
        let p = form(OpenForm {
            backlog: "70000".into(),
            ..OpenForm::default()
        });
        let m = p.of(BACKLOG.0).expect("the field is named");
        let f = file_says(", backlog: 70000", "");
        assert!(f.contains(m), "form: {m}; file: {f}");
        let p = form(OpenForm {
            recv_buffer: "0".into(),
            ..OpenForm::default()
        });
        let m = p.of(RECV_BUFFER.0).expect("the field is named");
        let f = file_says("", ", recv_buffer: 0");
        assert!(f.contains(m), "form: {m}; file: {f}");
        // And what a file accepts, the form accepts.
        let (spec, p) = OpenForm {
            kind: KindChoice::TcpServer,
            local: "127.0.0.1:0".into(),
            options: [
                (OptName::KeepAliveCount, "127".to_string()),
                (OptName::Tos, "0xb8".to_string()),
                (OptName::BindDevice, "lo".to_string()),
            ]
            .into(),
            backlog: "65535".into(),
            ..OpenForm::default()
        }
        .validate();
        assert!(spec.is_some(), "{p:?}");
    }

    #[test]
    fn duplicate_round_trips_through_the_form() {
        let mut f = OpenForm {
            kind: KindChoice::Udp,
            local: "127.0.0.1:9999".into(),
            remote: String::new(),
            join: "239.1.2.3".into(),
            options: [
                (OptName::RecvBuffer, "65536".to_string()),
                (OptName::Tos, "16".to_string()),
                (OptName::MulticastLoop, "off".to_string()),
            ]
            .into(),
            encoding: "GBK".into(),
            responder: ResponderForm {
                kind: super::super::responder_form::ReplyKind::Fixed,
                fixed: "你好 #{counter}\\n".into(),
                template: true,
                delay: "0.5".into(),
                ..Default::default()
            },
            ..OpenForm::default()
        };
        let (spec, _) = f.validate();
        let spec = spec.unwrap();
        f.load(&spec);
        let (again, p) = f.validate();
        assert!(p.0.is_empty(), "{p:?}");
        let again = again.unwrap();
        assert_eq!(again.kind, spec.kind);
        assert_eq!(again.options, spec.options);
        assert_eq!(again.encoding, spec.encoding);
        assert_eq!(again.responder, spec.responder);
        assert_eq!(again.reply_delay, Some(Duration::from_millis(500)));
        match &again.responder {
            Responder::Fixed(r) => {
                assert!(r.template);
                // GBK bytes for 你好, then the template text and a newline.
                assert_eq!(r.data.bytes(), b"\xc4\xe3\xba\xc3 #{counter}\n");
            }
            other => panic!("{other:?}"),
        }
    }
}
