//! `sockscope sockets`: every socket on the machine, as a table or as
//! JSON Lines (one object per socket), once or every few seconds. The
//! shape of a line is documented in the README and is a promise.

use std::collections::HashSet;
use std::io::{self, Write};
use std::time::Duration;

use serde::Serialize;

use crate::engine::codec::for_terminal;
use crate::engine::system::{
    self, Endpoint, Family, Owners, SkMem, Snapshot, SockKey, SysSocket, Timer, filter::Filter,
};
use crate::engine::tcp_info::TcpInfo;

/// How `sockscope sockets` runs.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// JSON Lines instead of a table.
    pub json: bool,
    /// Take a snapshot every so often instead of once.
    pub watch: Option<Duration>,
    /// With `watch`: stop after this many snapshots.
    pub count: Option<u64>,
}

/// An endpoint as JSON and the table write it: `127.0.0.1:80`, `[::1]:80`,
/// a path, `@abstract`, or `*` for an unnamed Unix socket.
pub fn endpoint_text(e: &Endpoint) -> String {
    match e {
        Endpoint::Inet(a) => a.to_string(),
        Endpoint::Path(p) => p.clone(),
        Endpoint::Abstract(n) => format!("@{n}"),
        Endpoint::Unnamed { .. } => "*".to_string(),
    }
}

/// One process in a line.
#[derive(Serialize)]
struct ProcessLine<'a> {
    pid: u32,
    name: &'a str,
    cmdline: &'a str,
    user: &'a str,
    fds: u32,
}

/// One socket as a JSON line.
#[derive(Serialize)]
struct Line<'a> {
    /// With --watch: which snapshot (from 1).
    #[serde(skip_serializing_if = "Option::is_none")]
    round: Option<u64>,
    /// With --watch: `new` (not in the last snapshot), `present`, or
    /// `gone` (in the last, not in this one).
    #[serde(skip_serializing_if = "Option::is_none")]
    change: Option<&'static str>,
    kind: &'static str,
    family: Family,
    state: &'static str,
    local: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    local_port: Option<u16>,
    remote: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    remote_port: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    peer_inode: Option<u32>,
    recv_q: u32,
    send_q: u32,
    inode: u32,
    cookie: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    uid: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    user: Option<&'a str>,
    processes: Vec<ProcessLine<'a>>,
    /// True when no process was found and some processes' descriptors
    /// could not be read (not root).
    processes_hidden: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    timer: Option<&'a Timer>,
    #[serde(skip_serializing_if = "Option::is_none")]
    skmem: Option<&'a SkMem>,
    #[serde(skip_serializing_if = "Option::is_none")]
    congestion: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tcp_info: Option<&'a TcpInfo>,
    #[serde(skip_serializing_if = "Option::is_none")]
    shutdown: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    interface: Option<u32>,
    #[serde(skip_serializing_if = "<[u32]>::is_empty")]
    pending: &'a [u32],
}

impl<'a> Line<'a> {
    fn of(s: &'a SysSocket) -> Line<'a> {
        Line {
            round: None,
            change: None,
            kind: s.kind.netid(),
            family: s.family,
            state: s.state,
            local: endpoint_text(&s.local),
            local_port: s.local.port(),
            remote: endpoint_text(&s.remote),
            remote_port: s.remote.port(),
            peer_inode: match s.remote {
                Endpoint::Unnamed { peer_inode } => peer_inode,
                _ => None,
            },
            recv_q: s.recv_q,
            send_q: s.send_q,
            inode: s.inode,
            cookie: s.cookie,
            uid: s.uid,
            user: s.user.as_deref(),
            processes: s
                .processes()
                .iter()
                .map(|p| ProcessLine {
                    pid: p.pid,
                    name: &p.name,
                    cmdline: &p.cmdline,
                    user: &p.user,
                    fds: p.fds,
                })
                .collect(),
            processes_hidden: s.owners == Owners::Hidden,
            timer: s.timer.as_ref(),
            skmem: s.skmem.as_ref(),
            congestion: s.congestion.as_deref(),
            tcp_info: s.tcp_info.as_ref(),
            shutdown: s.shutdown,
            interface: s.interface,
            pending: &s.pending,
        }
    }
}

/// The process column of the table: `name/pid` for each holder.
pub fn process_text(s: &SysSocket) -> String {
    s.holders(",").unwrap_or_else(|| match s.owners {
        Owners::Hidden => "? (no access)".to_string(),
        _ => "-".to_string(),
    })
}

fn table(out: &mut impl Write, sockets: &[&SysSocket]) -> io::Result<()> {
    let rows: Vec<[String; 7]> = sockets
        .iter()
        .map(|s| {
            [
                s.kind.netid().to_string(),
                s.state.to_string(),
                s.recv_q.to_string(),
                s.send_q.to_string(),
                for_terminal(&s.local.to_string()),
                for_terminal(&s.remote.to_string()),
                for_terminal(&process_text(s)),
            ]
        })
        .collect();
    let head = [
        "Netid", "State", "Recv-Q", "Send-Q", "Local", "Peer", "Process",
    ];
    let mut w = head.map(|h| h.chars().count());
    for r in &rows {
        for (i, c) in r.iter().enumerate().take(6) {
            w[i] = w[i].max(c.chars().count()).min(60);
        }
    }
    let line = |out: &mut dyn Write, r: &[String]| -> io::Result<()> {
        let mut s = String::new();
        for (i, c) in r.iter().enumerate() {
            if i == 6 {
                s.push_str(c);
            } else if i == 2 || i == 3 {
                s.push_str(&format!("{:>w$} ", c, w = w[i]));
            } else {
                s.push_str(&format!("{:<w$} ", c, w = w[i]));
            }
        }
        writeln!(out, "{}", s.trim_end())
    };
    line(out, &head.map(String::from))?;
    for r in &rows {
        line(out, r)?;
    }
    Ok(())
}

fn json(
    out: &mut impl Write,
    sockets: &[&SysSocket],
    round: Option<u64>,
    change: impl Fn(&SysSocket) -> Option<&'static str>,
) -> io::Result<()> {
    for s in sockets {
        let mut l = Line::of(s);
        l.round = round;
        l.change = change(s);
        serde_json::to_writer(&mut *out, &l)?;
        out.write_all(b"\n")?;
    }
    Ok(())
}

/// The sockets of a snapshot that pass the filter, in a stable order.
pub fn kept<'a>(snap: &'a Snapshot, filter: &Filter) -> Vec<&'a SysSocket> {
    let mut v: Vec<&SysSocket> = snap.sockets.iter().filter(|s| filter.matches(s)).collect();
    v.sort_by(|a, b| {
        (a.kind, &a.local, &a.remote, a.inode).cmp(&(b.kind, &b.local, &b.remote, b.inode))
    });
    v
}

/// Runs `sockscope sockets`; problems go to `err` as words (the rest is
/// still printed).
pub fn run(
    filter: &Filter,
    opts: &Options,
    out: &mut impl Write,
    err: &mut impl Write,
) -> io::Result<()> {
    let mut last: Option<(HashSet<SockKey>, Vec<SysSocket>)> = None;
    let mut round = 0u64;
    loop {
        round += 1;
        let snap = system::snapshot();
        for p in &snap.problems {
            writeln!(err, "sockscope: {}", for_terminal(p))?;
        }
        if snap.dropped > 0 {
            writeln!(
                err,
                "sockscope: {} sockets past the first {} were not listed",
                snap.dropped,
                system::MAX_SOCKETS
            )?;
        }
        let now = kept(&snap, filter);
        match (opts.watch, opts.json) {
            (None, true) => json(out, &now, None, |_| None)?,
            (None, false) => table(out, &now)?,
            (Some(_), true) => {
                let before = last.as_ref().map(|(k, _)| k);
                json(out, &now, Some(round), |s| {
                    Some(match before {
                        Some(b) if !b.contains(&s.key()) => "new",
                        _ => "present",
                    })
                })?;
                if let Some((_, old)) = &last {
                    let keys: HashSet<SockKey> = now.iter().map(|s| s.key()).collect();
                    let gone: Vec<&SysSocket> =
                        old.iter().filter(|s| !keys.contains(&s.key())).collect();
                    json(out, &gone, Some(round), |_| Some("gone"))?;
                }
            }
            (Some(_), false) => {
                let at = snap.at.map(wall).unwrap_or_default();
                writeln!(out, "-- {at}, {} sockets", now.len())?;
                table(out, &now)?;
            }
        }
        out.flush()?;
        let Some(every) = opts.watch else {
            return Ok(());
        };
        if opts.count.is_some_and(|c| round >= c) {
            return Ok(());
        }
        last = Some((
            now.iter().map(|s| s.key()).collect(),
            now.into_iter().cloned().collect(),
        ));
        std::thread::sleep(every);
    }
}

/// A time of day as `HH:MM:SS UTC`.
fn wall(t: std::time::SystemTime) -> String {
    let secs = t
        .duration_since(std::time::SystemTime::UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs();
    let day = secs % 86_400;
    format!(
        "{:02}:{:02}:{:02} UTC",
        day / 3600,
        day % 3600 / 60,
        day % 60
    )
}
