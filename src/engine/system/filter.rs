//! What the System sockets view and `sockscope sockets` show: plain
//! words (`nginx`, `:8080`, `listen`, `udp`) or the expressions `ss`
//! takes (`state established '( sport = :8080 or dport = :443 )'`), so
//! those who know `ss` need learn nothing and those who do not can type a
//! port or a program's name. Words side by side must all match (`and`).
//!
//! Grammar (words are case-insensitive):
//! ```text
//! filter := { ("state" | "exclude") STATE } [expr]
//! expr   := and { ("or" | "|" | "||") and }
//! and    := unary { ["and" | "&" | "&&"] unary }
//! unary  := ("not" | "!") unary | "(" expr ")" | term
//! term   := ("sport" | "dport" | "port") [op] PORT
//!         | ("src" | "dst") ENDPOINT
//!         | ("pid" | "uid" | "inode") [op] NUMBER
//!         | ("process" | "proc" | "user") WORD
//!         | "state" STATE | KIND | STATE | ":"PORT | NUMBER | WORD
//! op     := "=" | "==" | "eq" | "!=" | "ne" | "neq" | "<" | "lt" | ">" | "gt"
//!         | "<=" | "le" | ">=" | "ge"
//! ```

use std::net::IpAddr;

use super::{Endpoint, Family, SockKind, SysSocket};

/// Longest filter taken (it is typed, or a command-line argument).
const MAX_LEN: usize = 4096;
/// Deepest nesting of parentheses and `not`.
const MAX_DEPTH: usize = 64;

/// A parsed filter; the empty one matches every socket.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Filter {
    /// States to keep (bit per state name index); None: every state.
    states: Option<u32>,
    expr: Option<Expr>,
}

/// Why a filter does not parse, in words, with where.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct FilterError {
    pub message: String,
}

fn err<T>(message: impl Into<String>) -> Result<T, FilterError> {
    Err(FilterError {
        message: message.into(),
    })
}

#[derive(Clone, Debug, PartialEq)]
enum Expr {
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
    Not(Box<Expr>),
    Term(Term),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Side {
    Local,
    Remote,
    Either,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    Eq,
    Ne,
    Lt,
    Gt,
    Le,
    Ge,
}

impl Op {
    fn test<T: PartialOrd>(self, a: T, b: T) -> bool {
        match self {
            Op::Eq => a == b,
            Op::Ne => a != b,
            Op::Lt => a < b,
            Op::Gt => a > b,
            Op::Le => a <= b,
            Op::Ge => a >= b,
        }
    }
}

/// An address to match: an IP network with an optional port, or a Unix
/// name (a trailing `*` matches any name that starts so).
#[derive(Clone, Debug, PartialEq)]
enum Host {
    Net {
        ip: Option<(IpAddr, u8)>,
        port: Option<u16>,
    },
    Unix(String),
}

#[derive(Clone, Debug, PartialEq)]
enum Term {
    Kinds(Vec<SockKind>),
    Family(Family),
    States(u32),
    Port(Side, Op, u16),
    Host(Side, Host),
    Pid(Op, u32),
    Uid(Op, u32),
    Inode(Op, u32),
    Process(String),
    User(String),
    /// A port on either side, or a pid.
    Number(u32),
    Text(String),
}

/// The state names a socket can have, in bit order.
const STATES: [&str; 13] = [
    "ESTABLISHED",
    "SYN_SENT",
    "SYN_RECV",
    "FIN_WAIT1",
    "FIN_WAIT2",
    "TIME_WAIT",
    "CLOSE",
    "CLOSE_WAIT",
    "LAST_ACK",
    "LISTEN",
    "CLOSING",
    "NEW_SYN_RECV",
    "UNCONN",
];

fn state_bit(name: &str) -> u32 {
    STATES.iter().position(|s| *s == name).map_or(0, |i| 1 << i)
}

fn bits(names: &[&str]) -> u32 {
    names.iter().map(|n| state_bit(n)).fold(0, |a, b| a | b)
}

/// A state name or `ss` state group as a set of states.
fn states_named(word: &str) -> Option<u32> {
    let w = word.to_ascii_lowercase().replace('_', "-");
    let all = (1u32 << STATES.len()) - 1;
    let bucket = bits(&["SYN_RECV", "NEW_SYN_RECV", "TIME_WAIT"]);
    let connected = all & !bits(&["LISTEN", "CLOSE", "UNCONN"]);
    Some(match w.as_str() {
        "established" | "estab" => bits(&["ESTABLISHED"]),
        "syn-sent" => bits(&["SYN_SENT"]),
        "syn-recv" => bits(&["SYN_RECV", "NEW_SYN_RECV"]),
        "fin-wait-1" | "fin-wait1" => bits(&["FIN_WAIT1"]),
        "fin-wait-2" | "fin-wait2" => bits(&["FIN_WAIT2"]),
        "time-wait" => bits(&["TIME_WAIT"]),
        "closed" | "close" => bits(&["CLOSE", "UNCONN"]),
        "close-wait" => bits(&["CLOSE_WAIT"]),
        "last-ack" => bits(&["LAST_ACK"]),
        "listening" | "listen" => bits(&["LISTEN"]),
        "closing" => bits(&["CLOSING"]),
        "unconn" | "unconnected" => bits(&["UNCONN"]),
        "all" => all,
        "connected" => connected,
        "synchronized" => connected & !bits(&["SYN_SENT"]),
        "bucket" => bucket,
        "big" => all & !bucket,
        _ => return None,
    })
}

fn kinds_named(word: &str) -> Option<Term> {
    use SockKind::*;
    Some(match word.to_ascii_lowercase().as_str() {
        "tcp" => Term::Kinds(vec![Tcp]),
        "udp" => Term::Kinds(vec![Udp]),
        "unix" | "x" => Term::Kinds(vec![UnixStream, UnixDgram, UnixSeqpacket]),
        "u_str" | "unix_stream" => Term::Kinds(vec![UnixStream]),
        "u_dgr" | "unix_dgram" => Term::Kinds(vec![UnixDgram]),
        "u_seq" | "unix_seqpacket" => Term::Kinds(vec![UnixSeqpacket]),
        "inet" | "ip" => Term::Kinds(vec![Tcp, Udp]),
        "inet4" | "ipv4" | "v4" | "-4" => Term::Family(Family::V4),
        "inet6" | "ipv6" | "v6" | "-6" => Term::Family(Family::V6),
        _ => return None,
    })
}

fn op_named(word: &str) -> Option<Op> {
    Some(match word.to_ascii_lowercase().as_str() {
        "=" | "==" | "eq" => Op::Eq,
        "!=" | "ne" | "neq" => Op::Ne,
        "<" | "lt" => Op::Lt,
        ">" | "gt" => Op::Gt,
        "<=" | "le" => Op::Le,
        ">=" | "ge" => Op::Ge,
        _ => return None,
    })
}

/// Splits into words, parentheses and operators (`sport=:80` is three).
fn tokens(input: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut chars = input.chars().peekable();
    let flush = |cur: &mut String, out: &mut Vec<String>| {
        if !cur.is_empty() {
            out.push(std::mem::take(cur));
        }
    };
    while let Some(c) = chars.next() {
        match c {
            c if c.is_whitespace() => flush(&mut cur, &mut out),
            '(' | ')' => {
                flush(&mut cur, &mut out);
                out.push(c.to_string());
            }
            '=' | '!' | '<' | '>' | '&' | '|' => {
                flush(&mut cur, &mut out);
                let mut op = c.to_string();
                if let Some(&n) = chars.peek()
                    && matches!(
                        (c, n),
                        ('=', '=') | ('!' | '<' | '>', '=') | ('&', '&') | ('|', '|')
                    )
                {
                    op.push(n);
                    chars.next();
                }
                out.push(op);
            }
            c => cur.push(c),
        }
    }
    flush(&mut cur, &mut out);
    out
}

struct Parser {
    toks: Vec<String>,
    at: usize,
    depth: usize,
}

impl Parser {
    fn peek(&self) -> Option<&str> {
        self.toks.get(self.at).map(String::as_str)
    }

    fn next(&mut self) -> Option<String> {
        let t = self.toks.get(self.at).cloned();
        self.at += 1;
        t
    }

    fn need(&mut self, what: &str) -> Result<String, FilterError> {
        match self.next() {
            Some(t) => Ok(t),
            None => err(format!("the filter ends where {what} was expected")),
        }
    }

    fn expr(&mut self) -> Result<Expr, FilterError> {
        let mut left = self.and()?;
        while matches!(
            self.peek().map(str::to_ascii_lowercase).as_deref(),
            Some("or" | "|" | "||")
        ) {
            self.next();
            let right = self.and()?;
            left = Expr::Or(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Expr, FilterError> {
        let mut left = self.unary()?;
        loop {
            match self.peek().map(str::to_ascii_lowercase).as_deref() {
                None | Some(")" | "or" | "|" | "||") => return Ok(left),
                Some("and" | "&" | "&&") => {
                    self.next();
                }
                Some(_) => {}
            }
            let right = self.unary()?;
            left = Expr::And(Box::new(left), Box::new(right));
        }
    }

    fn unary(&mut self) -> Result<Expr, FilterError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return err("the filter nests too deeply");
        }
        let t = self.need("a condition")?;
        let e = match t.to_ascii_lowercase().as_str() {
            "not" | "!" => Expr::Not(Box::new(self.unary()?)),
            "(" => {
                let e = self.expr()?;
                match self.next().as_deref() {
                    Some(")") => e,
                    _ => return err("a '(' is not closed"),
                }
            }
            ")" => return err("a ')' has no '(' before it"),
            _ => Expr::Term(self.term(t)?),
        };
        self.depth -= 1;
        Ok(e)
    }

    /// An optional comparison before a value.
    fn op(&mut self) -> Op {
        match self.peek().and_then(op_named) {
            Some(op) => {
                self.next();
                op
            }
            None => Op::Eq,
        }
    }

    fn term(&mut self, t: String) -> Result<Term, FilterError> {
        let lower = t.to_ascii_lowercase();
        let side = match lower.as_str() {
            "sport" | "src" => Some(Side::Local),
            "dport" | "dst" => Some(Side::Remote),
            "port" => Some(Side::Either),
            _ => None,
        };
        match lower.as_str() {
            "sport" | "dport" | "port" => {
                let op = self.op();
                let v = self.need("a port")?;
                Ok(Term::Port(side.unwrap_or(Side::Either), op, port(&v)?))
            }
            "src" | "dst" => {
                let v = self.need("an address")?;
                Ok(Term::Host(side.unwrap_or(Side::Either), host(&v)?))
            }
            "pid" | "uid" | "inode" | "ino" => {
                let op = self.op();
                let v = self.need("a number")?;
                let n: u32 = v
                    .parse()
                    .or_else(|_| err(format!("'{v}' is not a number")))?;
                Ok(match lower.as_str() {
                    "pid" => Term::Pid(op, n),
                    "uid" => Term::Uid(op, n),
                    _ => Term::Inode(op, n),
                })
            }
            "process" | "proc" | "program" => {
                Ok(Term::Process(self.need("a process name")?.to_lowercase()))
            }
            "user" => Ok(Term::User(self.need("a user")?.to_lowercase())),
            "state" => {
                let v = self.need("a state")?;
                states_named(&v)
                    .map(Term::States)
                    .ok_or_else(|| unknown_state(&v))
            }
            _ => {
                if let Some(k) = kinds_named(&lower) {
                    return Ok(k);
                }
                if let Some(s) = states_named(&lower) {
                    return Ok(Term::States(s));
                }
                if let Some(p) = t.strip_prefix(':') {
                    return Ok(Term::Port(Side::Either, Op::Eq, port(p)?));
                }
                if let Ok(n) = t.parse::<u32>() {
                    return Ok(Term::Number(n));
                }
                if op_named(&lower).is_some() {
                    return err(format!("'{t}' compares, but nothing stands before it"));
                }
                Ok(Term::Text(t.to_lowercase()))
            }
        }
    }
}

fn unknown_state(v: &str) -> FilterError {
    FilterError {
        message: format!(
            "'{v}' is not a state; try established, syn-sent, syn-recv, fin-wait-1, fin-wait-2, \
             time-wait, closed, close-wait, last-ack, listening, closing, unconn, or a group: \
             all, connected, synchronized, bucket, big"
        ),
    }
}

/// `:8080`, `8080` or `*:8080` as a port.
fn port(v: &str) -> Result<u16, FilterError> {
    let p = v.trim_start_matches('*').trim_start_matches(':');
    p.parse()
        .or_else(|_| err(format!("'{v}' is not a port (0 to 65535)")))
}

/// An address as `src`/`dst` take it: `127.0.0.1`, `127.0.0.1:80`,
/// `[::1]:80`, `::1`, `*:80`, `:80`, `10.0.0.0/8`, `/run/x.sock`, `@name`,
/// `unix:/path`.
fn host(v: &str) -> Result<Host, FilterError> {
    if let Some(p) = v.strip_prefix("unix:") {
        return Ok(Host::Unix(p.to_string()));
    }
    if v.starts_with('/') || v.starts_with('@') {
        return Ok(Host::Unix(v.to_string()));
    }
    let bad = || FilterError {
        message: format!(
            "'{v}' is not an address (e.g. 127.0.0.1:80, [::1], 10.0.0.0/8, /run/x.sock)"
        ),
    };
    // The address part and an optional port.
    let (addr, port) = if let Some(rest) = v.strip_prefix('[') {
        let (a, after) = rest.split_once(']').ok_or_else(bad)?;
        let port = match after.strip_prefix(':') {
            Some(p) => Some(self::port(p)?),
            None if after.is_empty() => None,
            None => return Err(bad()),
        };
        (a.to_string(), port)
    } else if v.matches(':').count() == 1 {
        let (a, p) = v.split_once(':').ok_or_else(bad)?;
        (a.to_string(), Some(self::port(p)?))
    } else {
        (v.to_string(), None)
    };
    let ip = if addr.is_empty() || addr == "*" {
        None
    } else {
        let (a, prefix) = match addr.split_once('/') {
            Some((a, p)) => (a, Some(p.parse::<u8>().map_err(|_| bad())?)),
            None => (addr.as_str(), None),
        };
        let ip: IpAddr = a.parse().map_err(|_| bad())?;
        let max = if ip.is_ipv4() { 32 } else { 128 };
        let prefix = prefix.unwrap_or(max);
        if prefix > max {
            return Err(bad());
        }
        Some((ip, prefix))
    };
    Ok(Host::Net { ip, port })
}

fn in_net(ip: IpAddr, net: IpAddr, prefix: u8) -> bool {
    // An IPv4-mapped IPv6 address (a dual-stack socket's view of an IPv4
    // peer) matches the IPv4 network too.
    let ip = match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    };
    match (ip, net) {
        (IpAddr::V4(a), IpAddr::V4(n)) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
            u32::from(a) & mask == u32::from(n) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(n)) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
            u128::from(a) & mask == u128::from(n) & mask
        }
        _ => false,
    }
}

/// Parses a filter; the empty text is the filter that keeps everything.
pub fn parse(input: &str) -> Result<Filter, FilterError> {
    if input.len() > MAX_LEN {
        return err(format!("a filter is at most {MAX_LEN} bytes"));
    }
    let mut p = Parser {
        toks: tokens(input),
        at: 0,
        depth: 0,
    };
    let mut states: Option<u32> = None;
    // Leading `state X` / `exclude X` clauses add up, as in ss.
    loop {
        match p.peek().map(str::to_ascii_lowercase).as_deref() {
            Some("state") => {
                p.next();
                let v = p.need("a state")?;
                let s = states_named(&v).ok_or_else(|| unknown_state(&v))?;
                states = Some(states.unwrap_or(0) | s);
            }
            Some("exclude" | "excl") => {
                p.next();
                let v = p.need("a state")?;
                let s = states_named(&v).ok_or_else(|| unknown_state(&v))?;
                let all = (1u32 << STATES.len()) - 1;
                states = Some(states.unwrap_or(all) & !s);
            }
            _ => break,
        }
    }
    let expr = if p.peek().is_some() {
        let e = p.expr()?;
        match p.peek() {
            Some(")") => return err("a ')' has no '(' before it"),
            Some(t) => return err(format!("'{t}' is not expected here")),
            None => {}
        }
        Some(e)
    } else {
        None
    };
    Ok(Filter { states, expr })
}

impl Filter {
    /// Whether it keeps every socket.
    pub fn is_empty(&self) -> bool {
        self.states.is_none() && self.expr.is_none()
    }

    /// Whether the socket passes.
    pub fn matches(&self, s: &SysSocket) -> bool {
        if let Some(mask) = self.states
            && state_bit(s.state) & mask == 0
        {
            return false;
        }
        self.expr.as_ref().is_none_or(|e| eval(e, s))
    }
}

fn eval(e: &Expr, s: &SysSocket) -> bool {
    match e {
        Expr::And(a, b) => eval(a, s) && eval(b, s),
        Expr::Or(a, b) => eval(a, s) || eval(b, s),
        Expr::Not(a) => !eval(a, s),
        Expr::Term(t) => term(t, s),
    }
}

fn sides(side: Side, s: &SysSocket) -> impl Iterator<Item = &Endpoint> {
    let (l, r) = match side {
        Side::Local => (Some(&s.local), None),
        Side::Remote => (None, Some(&s.remote)),
        Side::Either => (Some(&s.local), Some(&s.remote)),
    };
    l.into_iter().chain(r)
}

fn term(t: &Term, s: &SysSocket) -> bool {
    match t {
        Term::Kinds(k) => k.contains(&s.kind),
        Term::Family(f) => s.family == *f,
        Term::States(mask) => state_bit(s.state) & mask != 0,
        Term::Port(side, op, p) => {
            sides(*side, s).any(|e| e.port().is_some_and(|x| op.test(x, *p)))
        }
        Term::Host(side, Host::Net { ip, port }) => sides(*side, s).any(|e| {
            let (Some(eip), Some(eport)) = (e.ip(), e.port()) else {
                return false;
            };
            ip.is_none_or(|(net, prefix)| in_net(eip, net, prefix))
                && port.is_none_or(|p| p == eport)
        }),
        Term::Host(side, Host::Unix(name)) => sides(*side, s).any(|e| {
            let shown = match e {
                Endpoint::Path(p) => p.clone(),
                Endpoint::Abstract(a) => format!("@{a}"),
                _ => return false,
            };
            match name.strip_suffix('*') {
                Some(prefix) => shown.starts_with(prefix),
                None => &shown == name,
            }
        }),
        Term::Pid(op, n) => s.processes().iter().any(|p| op.test(p.pid, *n)),
        Term::Uid(op, n) => s.uid.is_some_and(|u| op.test(u, *n)),
        Term::Inode(op, n) => op.test(s.inode, *n),
        Term::Process(name) => s.processes().iter().any(|p| {
            p.name.to_lowercase().contains(name.as_str())
                || p.cmdline.to_lowercase().contains(name.as_str())
        }),
        Term::User(u) => {
            s.user.as_ref().is_some_and(|n| n.to_lowercase() == *u)
                || s.processes().iter().any(|p| p.user.to_lowercase() == *u)
        }
        Term::Number(n) => {
            (u16::try_from(*n)
                .is_ok_and(|p| s.local.port() == Some(p) || s.remote.port() == Some(p)))
                || s.processes().iter().any(|p| p.pid == *n)
        }
        Term::Text(w) => {
            s.kind.netid().contains(w.as_str())
                || s.state.to_lowercase().contains(w.as_str())
                || s.local.to_string().to_lowercase().contains(w.as_str())
                || s.remote.to_string().to_lowercase().contains(w.as_str())
                || s.user
                    .as_ref()
                    .is_some_and(|u| u.to_lowercase().contains(w.as_str()))
                || s.processes().iter().any(|p| {
                    p.name.to_lowercase().contains(w.as_str())
                        || p.cmdline.to_lowercase().contains(w.as_str())
                        || p.user.to_lowercase().contains(w.as_str())
                })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::system::{Owner, Owners};
    use std::net::SocketAddr;

    fn sock(kind: SockKind, state: &'static str, local: &str, remote: &str) -> SysSocket {
        let ep = |a: &str| match a.parse::<SocketAddr>() {
            Ok(a) => Endpoint::Inet(a),
            Err(_) => Endpoint::Path(a.to_string()),
        };
        let family = if local.starts_with('[') {
            Family::V6
        } else if kind.is_unix() {
            Family::Unix
        } else {
            Family::V4
        };
        let mut s = SysSocket::new(kind, family, state, ep(local), ep(remote), 42, 1);
        s.uid = Some(1000);
        s.user = Some("alice".into());
        s.owners = Owners::Known {
            processes: vec![Owner {
                pid: 4321,
                name: "nginx".into(),
                cmdline: "nginx: worker process".into(),
                user: "www-data".into(),
                fds: 1,
            }],
        };
        s
    }

    fn keeps(f: &str, s: &SysSocket) -> bool {
        parse(f).unwrap_or_else(|e| panic!("{f}: {e}")).matches(s)
    }

    #[test]
    fn ss_expressions_match_as_ss_means_them() {
        let web = sock(
            SockKind::Tcp,
            "ESTABLISHED",
            "10.0.0.5:8080",
            "192.168.1.9:51000",
        );
        let lst = sock(SockKind::Tcp, "LISTEN", "0.0.0.0:8080", "0.0.0.0:0");
        assert!(keeps("sport = :8080", &web));
        assert!(keeps("sport == 8080", &web));
        assert!(keeps("sport=:8080", &web), "operators glued to words");
        assert!(!keeps("dport = :8080", &web));
        assert!(keeps("dport > :50000", &web));
        assert!(!keeps("dport lt :50000", &web));
        assert!(keeps("state established", &web));
        assert!(!keeps("state established", &lst));
        assert!(keeps("state listening", &lst));
        assert!(
            keeps("state established state listening", &lst),
            "states add up"
        );
        assert!(keeps("exclude listening", &web) && !keeps("exclude listening", &lst));
        assert!(keeps(
            "state connected '( sport = :8080 )'"
                .replace('\'', "")
                .as_str(),
            &web
        ));
        assert!(keeps("( sport = :1 or dport = :51000 )", &web));
        assert!(!keeps("sport = :8080 and not state established", &web));
        assert!(keeps("! dport = :1", &web));
        assert!(keeps("src 10.0.0.0/8", &web));
        assert!(!keeps("src 10.0.0.0/8", &lst));
        assert!(keeps("dst 192.168.1.9:51000", &web));
        assert!(!keeps("dst 192.168.1.9:51001", &web));
        assert!(keeps("src *:8080", &lst));
        assert!(keeps("sport = :8080 && dport != :22 || pid = 1", &web));
    }

    #[test]
    fn plain_words_find_ports_processes_states_and_kinds() {
        let web = sock(
            SockKind::Tcp,
            "ESTABLISHED",
            "10.0.0.5:8080",
            "192.168.1.9:51000",
        );
        let dns = sock(SockKind::Udp, "UNCONN", "127.0.0.53:53", "0.0.0.0:0");
        let ux = sock(SockKind::UnixStream, "LISTEN", "/run/docker.sock", "/x");
        assert!(keeps("nginx", &web) && keeps("NGINX", &web) && keeps("worker", &web));
        assert!(keeps(":8080", &web) && keeps("8080", &web) && keeps("4321", &web));
        assert!(keeps("tcp", &web) && !keeps("tcp", &dns) && keeps("udp", &dns));
        assert!(keeps("unix", &ux) && keeps("u_str", &ux) && !keeps("u_dgr", &ux));
        assert!(keeps("listen", &ux) && !keeps("listen", &web));
        assert!(keeps("unconn", &dns) && keeps("closed", &dns));
        assert!(keeps("docker", &ux));
        assert!(keeps("src /run/docker.sock", &ux) && keeps("src /run/*", &ux));
        assert!(!keeps("src /tmp/*", &ux));
        assert!(
            keeps("tcp nginx :8080", &web),
            "words side by side: all must match"
        );
        assert!(!keeps("udp nginx", &web));
        assert!(keeps("user alice", &web) && keeps("user www-data", &web));
        assert!(keeps("uid = 1000", &web) && !keeps("uid < 1000", &web));
        assert!(keeps("v4", &web) && !keeps("v6", &web));
        assert!(keeps("", &web), "the empty filter keeps all");
    }

    #[test]
    fn ipv6_and_mapped_addresses() {
        let s = sock(
            SockKind::Tcp,
            "ESTABLISHED",
            "[::ffff:127.0.0.1]:80",
            "[::1]:9",
        );
        assert!(
            keeps("src 127.0.0.0/8", &s),
            "a mapped IPv4 is in the IPv4 net"
        );
        assert!(keeps("dst [::1]:9", &s) && keeps("dst ::1", &s));
        assert!(!keeps("dst [::1]:10", &s));
    }

    #[test]
    fn mistakes_are_said_in_words_not_panics() {
        for (f, says) in [
            ("sport = :99999", "not a port"),
            ("state bogus", "not a state"),
            ("( tcp", "not closed"),
            ("tcp )", "no '('"),
            ("src 300.1.1.1", "not an address"),
            ("src 10.0.0.0/40", "not an address"),
            ("pid = x", "not a number"),
            ("sport", "ends where"),
            ("= 3", "compares"),
        ] {
            let e = parse(f).expect_err(f);
            assert!(e.message.contains(says), "{f}: {}", e.message);
        }
        let deep = "(".repeat(500) + "tcp" + &")".repeat(500);
        assert!(parse(&deep).unwrap_err().message.contains("deeply"));
        assert!(parse(&"x".repeat(MAX_LEN + 1)).is_err());
        assert!(parse(&"not ".repeat(1000)).is_err());
    }
}
