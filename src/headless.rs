//! `sockscope run`: the engine without a window. Every event becomes one
//! JSON object on its own line (JSON Lines); the schema is documented in the
//! README and kept stable.

use std::collections::{HashMap, HashSet};
use std::io::{self, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Map, Value, json};

use crate::engine::SessionId;
use crate::engine::codec::{self, Encoding};
use crate::engine::error::OpError;
use crate::engine::options::OptionReport;
use crate::engine::protocol::{Addr, CloseReason, Command, Counters, Event, EventKind, Kind, Side};
use crate::engine::start::StartQueue;
use crate::engine::tls::{CertInfo, Verification};
use crate::engine::{Engine, EngineConfig, SessionSpec};

/// Payload bytes a `sent`/`received` line shows unless told otherwise
/// (`len` stays exact and `data_truncated` marks a cut line). Printing
/// every byte of every read as text and as hex wrote up to seven bytes
/// per byte received, and the engine had to count most lines as dropped
/// because the runner could not print them as fast as loopback delivers.
/// Measured with 1 GiB at full loopback speed: at 4096 bytes a line most
/// lines were still dropped, at 1024 60% of binary ones, at 256 none (see
/// BENCHMARKS.md). `--data-limit all` prints everything, as before.
pub const DEFAULT_DATA_LIMIT: usize = 256;

/// How the runner behaves.
#[derive(Clone, Debug, Default)]
pub struct RunOptions {
    /// Stop (close every session cleanly) after this long.
    pub duration: Option<Duration>,
    /// Print `stats` events too.
    pub stats: bool,
    /// Show at most this many payload bytes per line in `data`/`hex`
    /// (None: all of them). The command line's default is
    /// [`DEFAULT_DATA_LIMIT`].
    pub data_limit: Option<usize>,
    /// Ask every TCP session for TCP_INFO this often (`tcp_info` lines).
    pub tcp_info: Option<Duration>,
    /// Read every serial port's modem lines this often (`modem` lines).
    pub modem: Option<Duration>,
    /// Also write what the sessions saw to this new pcapng file.
    pub pcapng: Option<std::path::PathBuf>,
    /// Count the data lines `out` could not take in time (`dropped`)
    /// instead of making the sessions wait for it.
    pub drop_when_behind: bool,
}

/// Sessions asked for a reading every period (`--tcp-info`, `--modem`).
struct Poller {
    every: Option<Duration>,
    next: Instant,
    ids: HashSet<u32>,
    ask: fn(SessionId) -> Command,
}

impl Poller {
    fn new(every: Option<Duration>, ask: fn(SessionId) -> Command) -> Poller {
        Poller {
            every,
            next: Instant::now(),
            ids: HashSet::new(),
            ask,
        }
    }

    /// Asks every open session once the period is up.
    fn tick(&mut self, engine: &mut Engine, open: &HashSet<u32>) {
        let Some(every) = self.every else { return };
        if Instant::now() < self.next {
            return;
        }
        self.next = Instant::now() + every;
        for s in self.ids.iter().filter(|s| open.contains(s)) {
            // A session that ended meanwhile just does not answer.
            let _ = engine.send((self.ask)(SessionId::top(*s)));
        }
    }
}

/// How a run ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Every session ended without error (or the duration/signal ended them).
    Clean,
    /// At least one session ended with an error.
    SessionFailed,
    /// Some session's `closed` line could not be printed (said on stderr).
    Incomplete,
}

fn addr(a: &Addr) -> Value {
    Value::String(a.to_string())
}

fn error_fields(m: &mut Map<String, Value>, e: &OpError) {
    m.insert("op".into(), json!(e.op));
    if let Some(n) = e.errno {
        m.insert("errno".into(), json!(n));
    }
    if let Some(n) = &e.errno_name {
        m.insert("errno_name".into(), json!(n));
    }
    m.insert("message".into(), json!(e.message));
    if let Some(h) = &e.hint {
        m.insert("hint".into(), json!(h));
    }
    m.insert("error".into(), json!(e.to_string()));
}

fn option_json(r: &OptionReport) -> Value {
    let mut m = Map::new();
    m.insert("name".into(), json!(r.name));
    if let Some(req) = &r.requested {
        m.insert("requested".into(), json!(req));
    }
    match &r.actual {
        Ok(v) => m.insert("actual".into(), json!(v)),
        Err(e) => m.insert("error".into(), json!(e)),
    };
    Value::Object(m)
}

fn counters_fields(m: &mut Map<String, Value>, c: &Counters) {
    m.insert("bytes_in".into(), json!(c.bytes_in));
    m.insert("bytes_out".into(), json!(c.bytes_out));
    m.insert("msgs_in".into(), json!(c.msgs_in));
    m.insert("msgs_out".into(), json!(c.msgs_out));
    m.insert("queued_out".into(), json!(c.queued_out));
}

fn cert_json(c: &CertInfo) -> Value {
    json!({
        "subject": c.subject,
        "issuer": c.issuer,
        "not_before": c.not_before,
        "not_after": c.not_after,
        "valid_now": c.valid_now,
        "sans": c.sans,
        "serial": c.serial,
        "sha256": c.sha256,
    })
}

/// An event's `t`: seconds since the engine started, to the microsecond.
fn line_time(ev: &Event) -> f64 {
    (ev.at.mono.as_secs_f64() * 1e6).round() / 1e6
}

/// Writes an event's JSON line, newline included, into `line` (cleared
/// first). The same bytes as serializing [`event_json`]; data lines, which
/// a busy server makes by the hundred thousand a second, are written field
/// by field instead of through a `Value` map (building the map, its keys and
/// its strings was most of the runner's CPU per line).
pub fn write_line(line: &mut Vec<u8>, ev: &Event, enc: Encoding, data_limit: Option<usize>) {
    line.clear();
    match &ev.kind {
        EventKind::Log(e) if e.ws.is_none() && e.framed.is_none() => {
            // Serializing into a Vec cannot fail.
            let _ = write_data_line(line, ev, e, enc, data_limit);
        }
        _ => {
            let _ = serde_json::to_writer(&mut *line, &event_json(ev, enc, data_limit));
        }
    }
    line.push(b'\n');
}

/// The `sent`/`received` line of [`event_json`], key by key in its order.
fn write_data_line(
    out: &mut Vec<u8>,
    ev: &Event,
    e: &crate::engine::protocol::LogEntry,
    enc: Encoding,
    data_limit: Option<usize>,
) -> serde_json::Result<()> {
    out.extend_from_slice(b"{\"t\":");
    serde_json::to_writer(&mut *out, &line_time(ev))?;
    // A session id is digits and a dot: nothing to escape. Digits by
    // `itoa`: the formatter was a fifth of a line's cost with the peer's.
    let mut digits = itoa::Buffer::new();
    out.extend_from_slice(b",\"session\":\"");
    out.extend_from_slice(digits.format(ev.session.session).as_bytes());
    if ev.session.child != 0 {
        out.push(b'.');
        out.extend_from_slice(digits.format(ev.session.child).as_bytes());
    }
    out.push(b'"');
    out.extend_from_slice(b",\"event\":");
    serde_json::to_writer(&mut *out, ev.kind.name())?;
    if let Some(p) = &e.peer {
        out.extend_from_slice(b",\"peer\":");
        match p {
            // Digits, dots, colons, brackets and a scope id: nothing to
            // escape. A Unix path may hold anything and is escaped.
            Addr::Inet(std::net::SocketAddr::V4(a)) => {
                out.push(b'"');
                for (i, o) in a.ip().octets().into_iter().enumerate() {
                    if i > 0 {
                        out.push(b'.');
                    }
                    out.extend_from_slice(digits.format(o).as_bytes());
                }
                out.push(b':');
                out.extend_from_slice(digits.format(a.port()).as_bytes());
                out.push(b'"');
            }
            Addr::Inet(a) => {
                let _ = write!(out, "\"{a}\"");
            }
            _ => serde_json::to_writer(&mut *out, &p.to_string())?,
        }
    }
    out.extend_from_slice(b",\"len\":");
    serde_json::to_writer(&mut *out, &e.data.len())?;
    let shown = match data_limit {
        Some(n) if e.data.len() > n => {
            out.extend_from_slice(b",\"data_truncated\":true");
            &e.data[..n]
        }
        _ => &e.data[..],
    };
    out.extend_from_slice(b",\"data\":");
    match unescaped_text(enc, shown) {
        Some(text) => {
            out.push(b'"');
            out.extend_from_slice(text);
            out.push(b'"');
        }
        None => serde_json::to_writer(&mut *out, &enc.decode_escaped(shown, false))?,
    }
    // Hex digits and spaces: nothing to escape.
    out.extend_from_slice(b",\"hex\":\"");
    codec::push_hex(out, shown);
    out.push(b'"');
    if let Some(r) = e.requested {
        out.extend_from_slice(b",\"requested\":");
        serde_json::to_writer(&mut *out, &r)?;
    }
    if let Some(t) = e.truncated_from {
        out.extend_from_slice(b",\"truncated_from\":");
        serde_json::to_writer(&mut *out, &t)?;
    }
    out.push(b'}');
    Ok(())
}

/// The payload as `data` shows it when neither escape changes it: UTF-8
/// text without a backslash (which `decode_escaped` doubles), a quote or a
/// control character (which JSON escapes). Most text payloads are, and
/// both passes (and the `String` between them) were a third of a line's
/// cost.
fn unescaped_text(enc: Encoding, bytes: &[u8]) -> Option<&[u8]> {
    if !matches!(enc, Encoding::Utf8) || bytes.iter().any(|&b| b < 0x20 || b == b'"' || b == b'\\')
    {
        return None;
    }
    std::str::from_utf8(bytes).ok().map(str::as_bytes)
}

/// Turns an event into its JSON line object.
pub fn event_json(ev: &Event, enc: Encoding, data_limit: Option<usize>) -> Value {
    let mut m = Map::new();
    m.insert("t".into(), json!(line_time(ev)));
    m.insert("session".into(), json!(ev.session.to_string()));
    m.insert("event".into(), json!(ev.kind.name()));
    match &ev.kind {
        EventKind::Opened { name, kind } => {
            m.insert("name".into(), json!(name));
            m.insert("kind".into(), json!(kind.label()));
        }
        EventKind::Resolving { host } => {
            m.insert("host".into(), json!(host));
        }
        EventKind::Resolved { host, addrs } => {
            m.insert("host".into(), json!(host));
            let list: Vec<String> = addrs.iter().map(|a| a.to_string()).collect();
            m.insert("addrs".into(), json!(list));
        }
        EventKind::SocketCreated {
            fd,
            family,
            socktype,
        } => {
            m.insert("fd".into(), json!(fd));
            m.insert("family".into(), json!(family));
            m.insert("type".into(), json!(socktype));
        }
        EventKind::Connecting { addr: a } => {
            m.insert("addr".into(), addr(a));
        }
        EventKind::ConnectFailed(e) | EventKind::Error(e) => error_fields(&mut m, e),
        EventKind::Modem(Ok(l)) => {
            for (k, v) in [
                ("dtr", l.dtr),
                ("rts", l.rts),
                ("cts", l.cts),
                ("dsr", l.dsr),
                ("ri", l.ri),
                ("cd", l.cd),
            ] {
                m.insert(k.into(), json!(v));
            }
        }
        EventKind::Modem(Err(e)) => error_fields(&mut m, e),
        EventKind::BreakSent => {}
        EventKind::Rule {
            index,
            what,
            enabled,
        } => {
            m.insert("index".into(), json!(index));
            m.insert("what".into(), json!(what));
            if let Some(on) = enabled {
                m.insert("enabled".into(), json!(on));
            }
        }
        EventKind::ErrorRepeated { error, times } => {
            error_fields(&mut m, error);
            m.insert("repeated".into(), json!(times));
        }
        EventKind::Warning { code, message } => {
            m.insert("code".into(), json!(code));
            m.insert("message".into(), json!(message));
        }
        EventKind::Connected { local, peer, fd } => {
            m.insert("local".into(), addr(local));
            m.insert("peer".into(), addr(peer));
            m.insert("fd".into(), json!(fd));
        }
        EventKind::Bound { local, fd, peer } => {
            m.insert("local".into(), addr(local));
            m.insert("fd".into(), json!(fd));
            if let Some(p) = peer {
                m.insert("peer".into(), addr(p));
            }
        }
        EventKind::Listening { local, fd, backlog } => {
            m.insert("local".into(), addr(local));
            m.insert("fd".into(), json!(fd));
            m.insert("backlog".into(), json!(backlog));
        }
        EventKind::Accepted {
            child,
            local,
            peer,
            fd,
        } => {
            m.insert("child".into(), json!(child.to_string()));
            m.insert("local".into(), addr(local));
            m.insert("peer".into(), addr(peer));
            m.insert("fd".into(), json!(fd));
        }
        EventKind::Tls(info) => {
            m.insert("version".into(), json!(info.version));
            m.insert("suite".into(), json!(info.suite));
            m.insert("kx".into(), json!(info.kx));
            m.insert("alpn".into(), json!(info.alpn));
            m.insert("sni".into(), json!(info.sni));
            let (verified, would_fail) = match &info.verification {
                Verification::Verified => (json!(true), Value::Null),
                Verification::NotVerified { would_fail } => (json!(false), json!(would_fail)),
                Verification::NoClientAuth => (json!("no_client_auth"), Value::Null),
            };
            m.insert("verified".into(), verified);
            if !would_fail.is_null() {
                m.insert("would_fail".into(), would_fail);
            }
            if !info.trust.is_empty() {
                m.insert("trust".into(), json!(info.trust));
            }
            let certs: Vec<Value> = info.certs.iter().map(cert_json).collect();
            m.insert("certs".into(), Value::Array(certs));
        }
        EventKind::TlsIdentity(id) => {
            m.insert("generated".into(), json!(id.generated));
            m.insert("cert".into(), cert_json(&id.cert));
            m.insert("pem".into(), json!(id.pem));
        }
        EventKind::Options(list) => {
            let v: Vec<Value> = list.iter().map(option_json).collect();
            m.insert("options".into(), Value::Array(v));
        }
        EventKind::TcpInfo(i) => {
            m.insert("state".into(), json!(i.state));
            for (k, v) in [
                ("rtt_us", u64::from(i.rtt_us)),
                ("rttvar_us", u64::from(i.rttvar_us)),
                ("cwnd", u64::from(i.cwnd)),
                ("ssthresh", u64::from(i.ssthresh)),
                ("retrans", u64::from(i.retrans)),
                ("total_retrans", u64::from(i.total_retrans)),
                ("lost", u64::from(i.lost)),
                ("unacked", u64::from(i.unacked)),
                ("sacked", u64::from(i.sacked)),
                ("pmtu", u64::from(i.pmtu)),
                ("snd_mss", u64::from(i.snd_mss)),
                ("rcv_space", u64::from(i.rcv_space)),
            ] {
                m.insert(k.into(), json!(v));
            }
            // Fields an older kernel does not fill are left out.
            for (k, v) in [
                ("bytes_acked", i.bytes_acked),
                ("bytes_received", i.bytes_received),
                ("notsent_bytes", i.notsent_bytes.map(u64::from)),
                ("min_rtt_us", i.min_rtt_us.map(u64::from)),
                ("delivery_rate", i.delivery_rate),
                ("busy_us", i.busy_us),
                ("rwnd_limited_us", i.rwnd_limited_us),
                ("sndbuf_limited_us", i.sndbuf_limited_us),
            ] {
                if let Some(v) = v {
                    m.insert(k.into(), json!(v));
                }
            }
        }
        EventKind::OptionChanged(r) => {
            if let Value::Object(o) = option_json(r) {
                m.extend(o);
            }
        }
        EventKind::Log(e) => {
            if let Some(p) = &e.peer {
                m.insert("peer".into(), addr(p));
            }
            m.insert("len".into(), json!(e.data.len()));
            let shown = match data_limit {
                Some(n) if e.data.len() > n => {
                    m.insert("data_truncated".into(), json!(true));
                    &e.data[..n]
                }
                _ => &e.data[..],
            };
            m.insert("data".into(), json!(enc.decode_escaped(shown, false)));
            m.insert("hex".into(), json!(codec::to_hex(shown)));
            if let Some(r) = e.requested {
                m.insert("requested".into(), json!(r));
            }
            if let Some(t) = e.truncated_from {
                m.insert("truncated_from".into(), json!(t));
            }
            if let Some(w) = &e.ws {
                m.insert("opcode".into(), json!(w.opcode.label()));
                m.insert("fin".into(), json!(w.fin));
                m.insert("masked".into(), json!(w.masked));
                if let Some(c) = w.close_code {
                    m.insert("close_code".into(), json!(c));
                }
                if w.fragments.len() > 1 {
                    m.insert("fragments".into(), json!(w.fragments));
                }
                if w.invalid_utf8 {
                    m.insert("invalid_utf8".into(), json!(true));
                }
            }
            if let Some(f) = &e.framed {
                m.insert("chunks".into(), json!(f.chunks));
                if f.partial {
                    m.insert("partial".into(), json!(true));
                }
            }
        }
        EventKind::WsHandshake(h) => {
            m.insert("role".into(), json!(h.role));
            m.insert("status".into(), json!(h.status));
            m.insert("request".into(), json!(h.request));
            m.insert("response".into(), json!(h.response));
            m.insert("subprotocol".into(), json!(h.subprotocol));
            m.insert("extensions".into(), json!(h.extensions));
        }
        EventKind::HalfClosed { by } => {
            m.insert(
                "by".into(),
                json!(match by {
                    Side::Local => "local",
                    Side::Peer => "peer",
                }),
            );
        }
        EventKind::WritePaused { queued } | EventKind::WriteResumed { queued } => {
            m.insert("queued".into(), json!(queued));
        }
        EventKind::Intercepted { id, data, timeout } => {
            m.insert("id".into(), json!(id));
            m.insert("len".into(), json!(data.len()));
            m.insert("data".into(), json!(enc.decode_escaped(data, false)));
            m.insert("hex".into(), json!(codec::to_hex(data)));
            m.insert("timeout".into(), json!(timeout.as_secs_f64()));
        }
        EventKind::Released { id, how, sent } => {
            m.insert("id".into(), json!(id));
            m.insert("how".into(), json!(how));
            m.insert("sent".into(), json!(sent));
        }
        EventKind::Timeout { op, after } => {
            m.insert("op".into(), json!(op));
            m.insert("after".into(), json!(after.as_secs_f64()));
        }
        EventKind::Multicast { group, joined } => {
            m.insert("group".into(), json!(group.to_string()));
            m.insert("joined".into(), json!(joined));
        }
        EventKind::Call { index, record } => {
            use crate::engine::stepper::Outcome;
            m.insert("index".into(), json!(index));
            m.insert("call".into(), json!(record.call.name()));
            m.insert("var".into(), json!(record.call.var()));
            m.insert("args".into(), json!(record.call.args()));
            m.insert("text".into(), json!(record.call.text()));
            match &record.result {
                Ok(o) => {
                    m.insert("ok".into(), json!(true));
                    m.insert("result".into(), json!(o.text()));
                    match o {
                        Outcome::Int(n) => {
                            m.insert("value".into(), json!(n));
                        }
                        Outcome::Bytes(b) => {
                            m.insert("len".into(), json!(b.len()));
                            m.insert("data".into(), json!(enc.decode_escaped(b, false)));
                            m.insert("hex".into(), json!(codec::to_hex(b)));
                        }
                        Outcome::BytesFrom {
                            data,
                            from,
                            truncated_from,
                        } => {
                            m.insert("len".into(), json!(data.len()));
                            m.insert("data".into(), json!(enc.decode_escaped(data, false)));
                            m.insert("hex".into(), json!(codec::to_hex(data)));
                            m.insert("peer".into(), addr(from));
                            if let Some(t) = truncated_from {
                                m.insert("truncated_from".into(), json!(t));
                            }
                        }
                        Outcome::Addr(a) => {
                            m.insert("addr".into(), addr(a));
                        }
                        Outcome::Accepted { var, peer, fd } => {
                            m.insert("into".into(), json!(var));
                            m.insert("peer".into(), addr(peer));
                            m.insert("fd".into(), json!(fd));
                        }
                        Outcome::Nothing | Outcome::Text(_) => {}
                    }
                }
                Err(e) => {
                    m.insert("ok".into(), json!(false));
                    error_fields(&mut m, e);
                    m.insert("timed_out".into(), json!(record.timed_out));
                }
            }
            m.insert(
                "ms".into(),
                json!((record.took.as_secs_f64() * 1e6).round() / 1e3),
            );
        }
        EventKind::BurstProgress { done } => {
            m.insert("done".into(), json!(done));
        }
        EventKind::BurstDone(r) => {
            m.insert("concurrency".into(), json!(r.concurrency));
            m.insert("count".into(), json!(r.count));
            m.insert("ok".into(), json!(r.ok));
            m.insert("errors".into(), json!(r.errors));
            m.insert(
                "total_s".into(),
                json!((r.total.as_secs_f64() * 1e6).round() / 1e6),
            );
            m.insert("rps".into(), json!((r.rps * 10.0).round() / 10.0));
            for (k, p) in [("p50_ms", 0.5), ("p90_ms", 0.9), ("p99_ms", 0.99)] {
                m.insert(
                    k.into(),
                    json!((r.percentile_ms(p) * 1000.0).round() / 1000.0),
                );
            }
        }
        EventKind::Step { index, what } => {
            m.insert("index".into(), json!(index));
            m.insert("what".into(), json!(what));
        }
        EventKind::Stats {
            counters,
            rate_in,
            rate_out,
        } => {
            counters_fields(&mut m, counters);
            m.insert("rate_in".into(), json!(rate_in.round()));
            m.insert("rate_out".into(), json!(rate_out.round()));
        }
        EventKind::Dropped { entries, bytes } => {
            m.insert("entries".into(), json!(entries));
            m.insert("bytes".into(), json!(bytes));
        }
        EventKind::Closed { reason, counters } => {
            m.insert("reason".into(), json!(reason.code()));
            m.insert("detail".into(), json!(reason.to_string()));
            if let CloseReason::Error(e) = reason {
                let mut em = Map::new();
                error_fields(&mut em, e);
                for k in ["op", "errno", "errno_name", "hint"] {
                    if let Some(v) = em.remove(k) {
                        m.insert(k.into(), v);
                    }
                }
            }
            counters_fields(&mut m, counters);
        }
    }
    Value::Object(m)
}

/// Opens whatever the queue lets through now.
fn open_next(
    engine: &mut Engine,
    queue: &mut StartQueue,
    open: &mut HashSet<u32>,
    encodings: &mut HashMap<u32, Encoding, FastHash>,
) -> io::Result<()> {
    while let Some(r) = queue.poll(engine) {
        let (id, spec) = r.map_err(|(e, _)| io::Error::other(e.to_string()))?;
        encodings.insert(id.session, spec.encoding);
        open.insert(id.session);
    }
    Ok(())
}

type FastHash = foldhash::fast::RandomState;

/// Events the runner takes from the engine before it writes them out.
const BATCH: usize = 4096;
/// The same bound in bytes: what the runner holds off the channel while it
/// writes is outside the channel's own bound (4,096 reads of 64 KiB were
/// 256 MiB held behind a slow stdout).
const BATCH_BYTES: usize = 1024 * 1024;
/// After a batch smaller than this, the runner waits [`GATHER`] before it
/// looks again (the peers bench's stand-in for the app does the same).
pub const GATHER_BELOW: usize = 256;
/// See [`GATHER_BELOW`].
pub const GATHER: Duration = Duration::from_millis(1);
/// How long sessions get to close by themselves after a stop before the
/// engine is told to end them.
const CLOSE_GRACE: Duration = Duration::from_secs(5);
/// How long, after a stop, the runner goes on printing with nothing new
/// arriving before it gives up on the `closed` lines still missing.
const SILENCE_LIMIT: Duration = Duration::from_secs(10);

/// Runs the sessions until they end, the duration passes or SIGINT/SIGTERM
/// arrives; prints JSON Lines to `out`.
///
/// Every session (and child) that printed anything prints exactly one
/// `closed` line: after a stop the runner keeps printing until each has
/// one, however slowly `out` drains. If some cannot be had (the engine
/// stopped answering), it says which on stderr and the run fails.
/// A new pcapng file at `path`, never one that exists.
fn open_pcap(
    path: &std::path::Path,
) -> io::Result<crate::pcapng::Pcap<io::BufWriter<std::fs::File>>> {
    let shown = codec::for_terminal(&path.display().to_string());
    let file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .map_err(|e| {
            let why = if e.kind() == io::ErrorKind::AlreadyExists {
                "it exists; nothing was written over it (pick another name)".to_string()
            } else {
                e.to_string()
            };
            io::Error::new(e.kind(), format!("pcapng file {shown}: {why}"))
        })?;
    crate::pcapng::Pcap::new(io::BufWriter::new(file))
}

pub fn run(specs: Vec<SessionSpec>, opts: &RunOptions, out: &mut dyn Write) -> io::Result<Outcome> {
    // The capture file first: a name that is taken stops the run before
    // any socket opens (nothing is ever written over a file).
    let mut pcap = match &opts.pcapng {
        Some(path) => Some((path, open_pcap(path)?)),
        None => None,
    };
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(sig, stop.clone())?;
    }
    let config = EngineConfig {
        // What waits for a slow stdout is bounded by this, and a stop
        // prints all of it before the last `closed` lines.
        event_bytes: 16 * 1024 * 1024,
        // A recorder prints every line: a slow `out` slows the sessions.
        lossless: !opts.drop_when_behind,
        ..EngineConfig::default()
    };
    let mut engine = Engine::new(config, None);
    // Looked up (and `live` written) for every event: with SipHash they
    // were a tenth of this thread at 10,000 connections. The keys are our
    // own session ids, not a peer's bytes.
    let mut encodings: HashMap<u32, Encoding, FastHash> = HashMap::default();
    let mut open: HashSet<u32> = HashSet::new();
    // Every id that printed something and has not printed `closed` yet.
    let mut live: HashSet<SessionId, FastHash> = HashSet::default();
    // Sessions open in file order, each once the one before is ready.
    let mut queue = StartQueue::new(specs);
    open_next(&mut engine, &mut queue, &mut open, &mut encodings)?;
    let started = Instant::now();
    let mut closing_since: Option<Instant> = None;
    let mut told_engine_to_stop = false;
    let mut last_event = Instant::now();
    let mut outcome = Outcome::Clean;
    // TCP sessions asked for TCP_INFO, serial ports for their modem lines.
    let mut tcp = Poller::new(opts.tcp_info, |target| Command::TcpInfo { target });
    let mut serial = Poller::new(opts.modem, |target| Command::ReadModem { target });
    // One line's bytes, reused: a busy server prints lines by the million.
    let mut line = Vec::with_capacity(1024);
    while !open.is_empty() || !queue.is_empty() || !live.is_empty() {
        if closing_since.is_none() {
            open_next(&mut engine, &mut queue, &mut open, &mut encodings)?;
        }
        if closing_since.is_none() {
            tcp.tick(&mut engine, &open);
            serial.tick(&mut engine, &open);
        }
        let must_stop =
            stop.load(Ordering::Relaxed) || opts.duration.is_some_and(|d| started.elapsed() >= d);
        if must_stop && closing_since.is_none() {
            closing_since = Some(Instant::now());
            // The silence that ends the wait counts from the stop: sessions
            // idle for longer than the limit before it still get to print
            // their `closed` (1,000 idle socketpairs printed none).
            last_event = Instant::now();
            // Sessions not yet opened never will be.
            queue = StartQueue::new(Vec::new());
            engine.close_all();
        }
        if let Some(t) = closing_since {
            // Sessions get a grace period to close; then the engine ends
            // the rest (each still reports its `closed`).
            if !told_engine_to_stop && t.elapsed() > CLOSE_GRACE {
                told_engine_to_stop = true;
                engine.stop_all();
            }
            if last_event.elapsed() > SILENCE_LIMIT {
                break;
            }
        }
        // Nothing more can come: every worker ended and nothing waits.
        if queue.is_empty() && engine.running().is_empty() && engine.events().is_empty() {
            break;
        }
        let first = match engine.events().recv_timeout(Duration::from_millis(50)) {
            Ok(ev) => ev,
            Err(_) => continue,
        };
        last_event = Instant::now();
        let mut held = first.weight();
        let mut batch = vec![first];
        while batch.len() < BATCH && held < BATCH_BYTES {
            match engine.events().try_recv() {
                Ok(ev) => {
                    held += ev.weight();
                    batch.push(ev);
                }
                Err(_) => break,
            }
        }
        // A batch cut short by its byte bound is a busy stream, not a
        // quiet moment.
        let few = batch.len() < GATHER_BELOW && held < BATCH_BYTES;
        for ev in batch {
            queue.observe(&ev);
            if let EventKind::Opened { kind, .. } = &ev.kind
                && matches!(kind, Kind::TcpClient | Kind::TcpServer)
            {
                tcp.ids.insert(ev.session.session);
            }
            if let EventKind::Opened {
                kind: Kind::Serial, ..
            } = &ev.kind
            {
                serial.ids.insert(ev.session.session);
            }
            // A device without modem lines (a pty) says so once; asking
            // again would print the same error every period.
            if let EventKind::Modem(Err(_)) = &ev.kind {
                serial.ids.remove(&ev.session.session);
            }
            if let EventKind::Closed { .. } = &ev.kind {
                live.remove(&ev.session);
            } else {
                live.insert(ev.session);
            }
            if matches!(ev.kind, EventKind::Stats { .. }) && !opts.stats {
                continue;
            }
            if let EventKind::Closed { reason, .. } = &ev.kind
                && !ev.session.is_child()
            {
                open.remove(&ev.session.session);
                let failed = matches!(reason, CloseReason::Error(_) | CloseReason::Panicked(_));
                // A stop we asked for is not a failure.
                if failed && closing_since.is_none() {
                    outcome = Outcome::SessionFailed;
                }
            }
            if let EventKind::Warning { message, .. } = &ev.kind {
                // Said where a person sees it, too, not only in the JSON.
                eprintln!(
                    "sockscope: session {}: {}",
                    ev.session,
                    codec::for_terminal(message)
                );
            }
            let enc = encodings
                .get(&ev.session.session)
                .copied()
                .unwrap_or_default();
            write_line(&mut line, &ev, enc, opts.data_limit);
            out.write_all(&line)?;
            if let Some((path, p)) = pcap.as_mut()
                && let Err(e) = p.event(ev.session, ev.at.wall, &ev.kind)
            {
                eprintln!(
                    "sockscope: pcapng {}: {}; nothing more is written to it",
                    codec::for_terminal(&path.display().to_string()),
                    codec::for_terminal(&e.to_string())
                );
                pcap = None;
            }
        }
        out.flush()?;
        if few {
            // A few lines at a time cost a wake-up of this thread and a
            // write each: a busy server's lines are gathered for a moment
            // instead, so there are at most about a thousand of each a
            // second. Lines wait that long at most; the sockets do not
            // wait at all.
            std::thread::sleep(GATHER);
        }
    }
    out.flush()?;
    if let Some((_, p)) = pcap {
        p.finish()?;
    }
    if !live.is_empty() {
        let mut ids: Vec<String> = live.iter().map(|id| id.to_string()).collect();
        ids.sort();
        let shown = ids.iter().take(20).cloned().collect::<Vec<_>>().join(", ");
        eprintln!(
            "sockscope: {} session(s) ended without a `closed` line in time: {shown}{}",
            ids.len(),
            if ids.len() > 20 { ", ..." } else { "" }
        );
        return Ok(Outcome::Incomplete);
    }
    Ok(outcome)
}
