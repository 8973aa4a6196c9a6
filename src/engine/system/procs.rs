//! Which process holds which socket: every `/proc/PID/fd/N` link that
//! reads `socket:[INODE]` (through the `procfs` crate), with the
//! process's name, command line and user. A process whose descriptors
//! this user may not read is counted, so the view can say "needs
//! privileges" instead of showing an empty column.

use std::collections::HashMap;
use std::io::Read;

use super::{Owner, Owners};

/// Most bytes of a command line kept (a process can have megabytes of
/// arguments; the view needs the start).
const CMDLINE_MAX: u64 = 4096;

/// Socket inodes and the processes that hold them, from one pass over
/// `/proc`.
#[derive(Debug, Default)]
pub struct Table {
    /// Inode -> (index into `procs`, descriptors on it).
    by_inode: HashMap<u64, Vec<(u32, u32)>>,
    procs: Vec<Proc>,
    /// Processes whose descriptors could not be read.
    pub hidden: usize,
}

#[derive(Debug)]
struct Proc {
    pid: u32,
    uid: Option<u32>,
    /// Name and command line, read the first time a socket asks.
    words: Option<(String, String)>,
}

/// Reads every process's descriptors once.
pub fn scan() -> Table {
    let mut t = Table::default();
    let Ok(all) = procfs::process::all_processes() else {
        return t;
    };
    let mut per_inode: HashMap<u64, u32> = HashMap::new();
    for p in all.flatten() {
        let fds = match p.fd() {
            Ok(f) => f,
            Err(_) => {
                // Another user's process (or one that just ended: those
                // are not worth telling apart for a count).
                t.hidden += 1;
                continue;
            }
        };
        per_inode.clear();
        let mut read = 0usize;
        for fd in fds.flatten() {
            read += 1;
            if let procfs::process::FDTarget::Socket(inode) = fd.target {
                *per_inode.entry(inode).or_default() += 1;
            }
        }
        // The iterator skips links it may not read (a sandbox can deny
        // even root): fewer read than listed means some are hidden. (A
        // process opening descriptors meanwhile can tip this either way;
        // it only decides between "-" and "hidden" for unfound sockets.)
        if p.fd_count().is_ok_and(|n| n > read) {
            t.hidden += 1;
        }
        if per_inode.is_empty() {
            continue;
        }
        let idx = t.procs.len() as u32;
        t.procs.push(Proc {
            pid: p.pid() as u32,
            uid: p.uid().ok(),
            words: None,
        });
        for (&inode, &n) in &per_inode {
            t.by_inode.entry(inode).or_default().push((idx, n));
        }
    }
    t
}

impl Table {
    /// Who holds the socket with this inode.
    pub fn owners_of(&mut self, inode: u32, users: &mut Users) -> Owners {
        if inode == 0 {
            return Owners::Kernel;
        }
        let Some(holders) = self.by_inode.get(&u64::from(inode)) else {
            return if self.hidden > 0 {
                Owners::Hidden
            } else {
                Owners::Kernel
            };
        };
        let mut processes = Vec::with_capacity(holders.len());
        for &(idx, fds) in holders {
            let p = &mut self.procs[idx as usize];
            let (name, cmdline) = p.words.get_or_insert_with(|| words(p.pid)).clone();
            processes.push(Owner {
                pid: p.pid,
                name,
                cmdline,
                user: p.uid.map_or_else(|| "?".to_string(), |u| users.name(u)),
                fds,
            });
        }
        processes.sort_by_key(|o| o.pid);
        Owners::Known { processes }
    }
}

/// A process's short name and command line, each read with a bound.
fn words(pid: u32) -> (String, String) {
    let comm = read_capped(&format!("/proc/{pid}/comm"), 64);
    let comm = String::from_utf8_lossy(&comm).trim_end().to_string();
    let cmd = read_capped(&format!("/proc/{pid}/cmdline"), CMDLINE_MAX);
    let cmd: Vec<String> = cmd
        .split(|b| *b == 0)
        .filter(|a| !a.is_empty())
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect();
    (comm, cmd.join(" "))
}

/// At most `max` bytes of a /proc file (empty when it cannot be read: the
/// process ended, or is another user's).
fn read_capped(path: &str, max: u64) -> Vec<u8> {
    let mut out = Vec::new();
    if let Ok(f) = std::fs::File::open(path) {
        let _ = f.take(max).read_to_end(&mut out);
    }
    out
}

/// User names by uid, looked up once each.
#[derive(Debug, Default)]
pub struct Users {
    names: HashMap<u32, String>,
}

impl Users {
    /// The name of a uid, or the number where it has none.
    pub fn name(&mut self, uid: u32) -> String {
        self.names
            .entry(uid)
            .or_insert_with(|| {
                nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(uid))
                    .ok()
                    .flatten()
                    .map_or_else(|| uid.to_string(), |u| u.name)
            })
            .clone()
    }
}
