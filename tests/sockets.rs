//! The System sockets view's data and `sockscope sockets`: the suite
//! opens its own sockets (a listener with a known backlog and connections
//! waiting in it, established pairs with unread bytes, a half-closed
//! pair, TIME_WAIT, IPv6, UDP, Unix stream and datagram), finds each in
//! the snapshot and in the binary's JSON with the right process, state,
//! queues and addresses, and compares the same sockets with iproute2's
//! `ss` as a real peer.

use std::collections::{BTreeSet, HashMap};
use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::os::unix::net::{UnixDatagram, UnixListener, UnixStream};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;
use sockscope::engine::system::{self, Endpoint, Owners, SockKind, SysSocket, diag};

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_sockscope")
}

/// Sockets this test holds open, and what it expects of them.
struct Fixture {
    _dir: tempfile::TempDir,
    listener: TcpListener,
    /// Connected, not accepted: they wait in the listener's queue.
    _waiting: Vec<TcpStream>,
    /// An established pair; `b` holds 1000 unread bytes.
    a: TcpStream,
    b: TcpStream,
    /// Half closed: `hc` shut its write side (FIN_WAIT2), `hs` got the
    /// FIN and has not closed (CLOSE_WAIT).
    hc: TcpStream,
    hs: TcpStream,
    /// The addresses (local, peer) of a connection now in TIME_WAIT.
    tw: (SocketAddr, SocketAddr),
    v6: Option<TcpListener>,
    udp: UdpSocket,
    ux_listener: UnixListener,
    ux_path: String,
    _ux_client: UnixStream,
    _ux_server: UnixStream,
    ux_dgram: UnixDatagram,
    ux_dgram_path: String,
}

fn listen_with_backlog(backlog: i32) -> TcpListener {
    let s = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    s.bind(&"127.0.0.1:0".parse::<SocketAddr>().unwrap().into())
        .unwrap();
    s.listen(backlog).unwrap();
    s.into()
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let listener = listen_with_backlog(5);
    let addr = listener.local_addr().unwrap();
    let mut waiting: Vec<TcpStream> = (0..2).map(|_| TcpStream::connect(addr).unwrap()).collect();
    // The established pair and the half-closed one come from another
    // listener, so the first keeps exactly two waiting connections.
    let other = TcpListener::bind("127.0.0.1:0").unwrap();
    let a = TcpStream::connect(other.local_addr().unwrap()).unwrap();
    let (b, _) = other.accept().unwrap();
    (&a).write_all(&[7u8; 1000]).unwrap();
    let hc = TcpStream::connect(other.local_addr().unwrap()).unwrap();
    let (hs, _) = other.accept().unwrap();
    hc.shutdown(Shutdown::Write).unwrap();
    // TIME_WAIT: the side that closes first keeps it.
    let tw = TcpStream::connect(other.local_addr().unwrap()).unwrap();
    let (mut tws, _) = other.accept().unwrap();
    let tw_addrs = (tw.local_addr().unwrap(), tw.peer_addr().unwrap());
    let tw_port = tw_addrs.0.port();
    drop(tw);
    let mut buf = [0u8; 8];
    assert_eq!(tws.read(&mut buf).unwrap(), 0);
    drop(tws);
    drop(other);
    let v6 = TcpListener::bind("[::1]:0").ok();
    let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
    let ux_path = dir.path().join("s.sock").to_str().unwrap().to_string();
    let ux_listener = UnixListener::bind(&ux_path).unwrap();
    let ux_client = UnixStream::connect(&ux_path).unwrap();
    let (ux_server, _) = ux_listener.accept().unwrap();
    let ux_dgram_path = dir.path().join("d.sock").to_str().unwrap().to_string();
    let ux_dgram = UnixDatagram::bind(&ux_dgram_path).unwrap();
    // Sockets settle (the FIN is acknowledged) before anyone looks.
    let hc_port = hc.local_addr().unwrap().port();
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        let snap = system::snapshot();
        let state = |p: u16| {
            snap.sockets
                .iter()
                .find(|s| s.kind == SockKind::Tcp && s.local.port() == Some(p))
                .map(|s| s.state)
        };
        if state(hc_port) == Some("FIN_WAIT2") && state(tw_port) == Some("TIME_WAIT") {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    waiting.shrink_to_fit();
    Fixture {
        _dir: dir,
        listener,
        _waiting: waiting,
        a,
        b,
        hc,
        hs,
        tw: tw_addrs,
        v6,
        udp,
        ux_listener,
        ux_path,
        _ux_client: ux_client,
        _ux_server: ux_server,
        ux_dgram,
        ux_dgram_path,
    }
}

fn port(s: &TcpStream) -> u16 {
    s.local_addr().unwrap().port()
}

fn find(snap: &[SysSocket], kind: SockKind, local_port: u16) -> Vec<&SysSocket> {
    snap.iter()
        .filter(|s| s.kind == kind && s.local.port() == Some(local_port))
        .collect()
}

/// A connection by both ports (accepted ones share the listener's).
fn conn<'a>(snap: &'a [SysSocket], local: &TcpStream) -> &'a SysSocket {
    let l = local.local_addr().unwrap();
    let r = local.peer_addr().unwrap();
    let v: Vec<&SysSocket> = snap
        .iter()
        .filter(|s| {
            s.kind == SockKind::Tcp && s.local == Endpoint::Inet(l) && s.remote == Endpoint::Inet(r)
        })
        .collect();
    assert_eq!(v.len(), 1, "{l} -> {r}: {v:#?}");
    v[0]
}

/// The listening socket on a port.
fn listening(snap: &[SysSocket], port: u16) -> &SysSocket {
    let v: Vec<&SysSocket> = find(snap, SockKind::Tcp, port)
        .into_iter()
        .filter(|s| s.state == "LISTEN")
        .collect();
    assert_eq!(v.len(), 1, "listener on {port}: {v:#?}");
    v[0]
}

fn ours(s: &SysSocket) {
    let me = std::process::id();
    match &s.owners {
        Owners::Known { processes } => {
            assert!(
                processes.iter().any(|p| p.pid == me && !p.name.is_empty()),
                "{s:#?}"
            );
        }
        o => panic!("no process found for {s:#?}: {o:?}"),
    }
}

#[test]
fn the_snapshot_finds_each_socket_with_its_state_queues_and_process() {
    let f = fixture();
    let snap = system::snapshot();
    assert!(
        snap.problems.is_empty()
            || snap
                .problems
                .iter()
                .all(|p| p.contains("tcp6") || p.contains("udp6")),
        "{:?}",
        snap.problems
    );
    let s = &snap.sockets;

    let l = listening(s, f.listener.local_addr().unwrap().port());
    assert_eq!(l.state, "LISTEN");
    assert_eq!(
        (l.recv_q, l.send_q),
        (2, 5),
        "two waiting, backlog 5: {l:#?}"
    );
    ours(l);

    let b = conn(s, &f.b);
    assert_eq!(b.state, "ESTABLISHED");
    assert_eq!(b.recv_q, 1000, "{b:#?}");
    assert_eq!(b.remote.port(), Some(port(&f.a)));
    ours(b);
    let ti = b.tcp_info.as_ref().expect("TCP_INFO over netlink");
    assert_eq!(ti.state, "ESTABLISHED");
    assert_eq!(ti.bytes_received, Some(1000));
    assert!(b.congestion.as_deref().is_some_and(|c| !c.is_empty()));
    let mem = b.skmem.expect("skmem");
    assert!(mem.rmem_alloc > 0 && mem.rcvbuf > 0, "{mem:?}");
    let a = conn(s, &f.a);
    assert_eq!(a.tcp_info.as_ref().and_then(|t| t.bytes_acked), Some(1001));

    let hc = conn(s, &f.hc);
    assert_eq!(hc.state, "FIN_WAIT2", "{hc:#?}");
    assert_eq!(hc.shutdown, Some("SHUT_WR"));
    let hs = conn(s, &f.hs);
    assert_eq!(hs.state, "CLOSE_WAIT", "{hs:#?}");

    let tw = s
        .iter()
        .find(|x| x.local == Endpoint::Inet(f.tw.0) && x.remote == Endpoint::Inet(f.tw.1))
        .expect("the TIME_WAIT socket");
    assert_eq!(tw.state, "TIME_WAIT");
    assert_eq!(
        tw.owners,
        Owners::Kernel,
        "no process holds a TIME_WAIT socket"
    );
    let t = tw.timer.expect("a TIME_WAIT timer");
    assert_eq!(t.kind, system::TimerKind::TimeWait);
    assert!(t.left_ms > 0 && t.left_ms <= 60_000, "{t:?}");

    if let Some(v6) = &f.v6 {
        let l6 = listening(s, v6.local_addr().unwrap().port());
        assert_eq!(l6.family, system::Family::V6);
        assert_eq!(l6.local, Endpoint::Inet(v6.local_addr().unwrap()));
        ours(l6);
    }

    let u = s
        .iter()
        .find(|x| x.kind == SockKind::Udp && x.local == Endpoint::Inet(f.udp.local_addr().unwrap()))
        .expect("the UDP socket");
    assert_eq!(u.state, "UNCONN");
    ours(u);

    let ux: Vec<&SysSocket> = s
        .iter()
        .filter(|x| x.local == Endpoint::Path(f.ux_path.clone()))
        .collect();
    let ul = ux
        .iter()
        .find(|x| x.state == "LISTEN")
        .expect("unix listener");
    assert_eq!(ul.kind, SockKind::UnixStream);
    assert!(ul.send_q > 0, "a listener's backlog: {ul:#?}");
    ours(ul);
    let _ = &f.ux_listener;
    let ud = s
        .iter()
        .find(|x| x.local == Endpoint::Path(f.ux_dgram_path.clone()))
        .expect("unix datagram");
    assert_eq!((ud.kind, ud.state), (SockKind::UnixDgram, "UNCONN"));
    ours(ud);
    let _ = &f.ux_dgram;
    drop(f.hs);
}

/// `ss -H` columns for the sockets on these ports: (state, recv-q,
/// send-q, local, peer), with ss's state names turned into the kernel's.
/// (local, peer) as ss writes them: a missing peer is `0.0.0.0:*`.
type Tuples = std::collections::HashSet<(String, String)>;

fn tuple(local: SocketAddr, peer: Option<SocketAddr>) -> (String, String) {
    (
        local.to_string(),
        peer.map_or("0.0.0.0:*".to_string(), |p| p.to_string()),
    )
}

fn ss_rows(args: &[&str], ours: &Tuples) -> BTreeSet<(String, u32, u32, String, String)> {
    let out = Command::new("ss")
        .args(args)
        .output()
        .expect("ss (iproute2) runs");
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8_lossy(&out.stdout);
    let mut rows = BTreeSet::new();
    for line in text.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() < 5 {
            continue;
        }
        let (state, rq, sq, local, peer) = (f[0], f[1], f[2], f[3], f[4]);
        if !ours.contains(&(local.replace('*', "0.0.0.0"), peer.to_string())) {
            continue;
        }
        let state = match state {
            "ESTAB" => "ESTABLISHED".to_string(),
            "UNCONN" => "UNCONN".to_string(),
            s => s.replace('-', "_").replace("FIN_WAIT_", "FIN_WAIT"),
        };
        rows.insert((
            state,
            rq.parse().unwrap(),
            sq.parse().unwrap(),
            local.replace('*', "0.0.0.0"),
            peer.to_string(),
        ));
    }
    rows
}

/// The same columns from `sockscope sockets --json`.
fn our_rows(
    lines: &[Value],
    kind: &str,
    ours: &Tuples,
) -> BTreeSet<(String, u32, u32, String, String)> {
    lines
        .iter()
        .filter(|l| l["kind"] == kind)
        .map(|l| {
            let peer = l["remote"].as_str().unwrap().to_string();
            // ss writes a missing peer as `0.0.0.0:*` / `[::]:*`.
            let peer = if l["remote_port"] == 0 {
                peer.trim_end_matches(":0").to_string() + ":*"
            } else {
                peer
            };
            (
                l["state"].as_str().unwrap().to_string(),
                l["recv_q"].as_u64().unwrap() as u32,
                l["send_q"].as_u64().unwrap() as u32,
                l["local"].as_str().unwrap().to_string(),
                peer,
            )
        })
        .filter(|r| ours.contains(&(r.3.clone(), r.4.clone())))
        .collect()
}

fn json_lines(args: &[&str]) -> Vec<Value> {
    let out = Command::new(bin())
        .arg("sockets")
        .arg("--json")
        .args(args)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

#[test]
fn sockscope_sockets_json_agrees_with_ss() {
    let f = fixture();
    // Our sockets by their addresses (other tests running meanwhile
    // reuse the same ports for sockets of their own).
    let mut tcp = Tuples::new();
    let lsn = f.listener.local_addr().unwrap();
    tcp.insert(tuple(lsn, None));
    for c in f._waiting.iter().chain([&f.a, &f.b, &f.hc, &f.hs]) {
        let (l, p) = (c.local_addr().unwrap(), c.peer_addr().unwrap());
        tcp.insert(tuple(l, Some(p)));
        tcp.insert(tuple(p, Some(l)));
    }
    tcp.insert(tuple(f.tw.0, Some(f.tw.1)));
    let mut udp = Tuples::new();
    udp.insert(tuple(f.udp.local_addr().unwrap(), None));
    let lines = json_lines(&[]);
    // The sockets stay as they are while both look (nothing is sent), so
    // the two lists must be the same set with the same numbers.
    let theirs = ss_rows(&["-Htan4"], &tcp);
    let mine = our_rows(&lines, "tcp", &tcp);
    assert_eq!(mine, theirs);
    assert_eq!(
        mine.len(),
        1 + 2 * 2 + 2 + 2 + 1,
        "listener, 2 waiting (both ends), the pair, the half-closed pair, TIME_WAIT: {mine:#?}"
    );
    assert_eq!(our_rows(&lines, "udp", &udp), ss_rows(&["-Huan4"], &udp));
    assert_eq!(our_rows(&lines, "udp", &udp).len(), 1);
    if let Some(v6) = &f.v6 {
        let mut t6 = Tuples::new();
        let a = v6.local_addr().unwrap();
        t6.insert((a.to_string(), "[::]:*".to_string()));
        let theirs = ss_rows(&["-Htan6"], &t6);
        assert_eq!(our_rows(&lines, "tcp", &t6), theirs);
        assert_eq!(theirs.len(), 1, "the IPv6 listener: {theirs:?}");
    }

    // Every field the README documents is there, with our process.
    let me = std::process::id() as u64;
    let b = lines
        .iter()
        .find(|l| {
            l["kind"] == "tcp" && l["local_port"] == port(&f.b) && l["remote_port"] == port(&f.a)
        })
        .unwrap();
    for key in [
        "kind",
        "family",
        "state",
        "local",
        "local_port",
        "remote",
        "remote_port",
        "recv_q",
        "send_q",
        "inode",
        "cookie",
        "uid",
        "user",
        "processes",
        "processes_hidden",
        "skmem",
        "congestion",
        "tcp_info",
    ] {
        assert!(b.get(key).is_some(), "{key} missing: {b}");
    }
    assert_eq!(b["processes"][0]["pid"], me);
    assert_eq!(b["recv_q"], 1000);
    assert_eq!(b["tcp_info"]["bytes_received"], 1000);
    assert_eq!(b["family"], "v4");

    // Unix: the same inodes and queues as `ss -x`.
    let ss = Command::new("ss").args(["-Hxanp"]).output().unwrap();
    let ss = String::from_utf8_lossy(&ss.stdout);
    let mut ss_unix: HashMap<u64, (String, String)> = HashMap::new();
    // Netid State Recv-Q Send-Q Local Inode Peer Inode [Process]
    let mut ss_queues: HashMap<u64, (u64, u64)> = HashMap::new();
    for line in ss.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() >= 6
            && let Ok(ino) = f[5].parse::<u64>()
        {
            ss_unix.insert(ino, (f[0].to_string(), f[1].to_string()));
            ss_queues.insert(ino, (f[2].parse().unwrap(), f[3].parse().unwrap()));
        }
    }
    for path in [&f.ux_path, &f.ux_dgram_path] {
        let l = lines
            .iter()
            .find(|l| l["local"] == path.as_str() && l["state"] != "ESTABLISHED")
            .unwrap_or_else(|| panic!("{path} not listed"));
        let ino = l["inode"].as_u64().unwrap();
        let (netid, state) = ss_unix
            .get(&ino)
            .unwrap_or_else(|| panic!("ss has no inode {ino}: {ss}"));
        assert_eq!(l["kind"].as_str().unwrap(), netid);
        let state = if state == "ESTAB" {
            "ESTABLISHED"
        } else {
            state.as_str()
        };
        assert_eq!(l["state"].as_str().unwrap(), state);
        assert_eq!(l["processes"][0]["pid"], me);
        let (rq, sq) = ss_queues[&ino];
        assert_eq!(
            (l["recv_q"].as_u64().unwrap(), l["send_q"].as_u64().unwrap()),
            (rq, sq)
        );
    }
    drop(f);
}

#[test]
fn filters_pick_sockets_as_ss_would() {
    let f = fixture();
    let lport = f.listener.local_addr().unwrap().port();
    let lines = json_lines(&[&format!("sport = :{lport}")]);
    assert!(!lines.is_empty());
    assert!(lines.iter().all(|l| l["local_port"] == lport), "{lines:?}");
    let lines = json_lines(&["state", "listening", &format!("( sport = :{lport} )")]);
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert_eq!(lines[0]["state"], "LISTEN");
    // Words side by side: the port on either side, TCP, established.
    let pa = port(&f.a);
    let lines = json_lines(&[&format!(":{pa}"), "tcp", "established"]);
    assert!(
        lines
            .iter()
            .all(|l| (l["local_port"] == pa || l["remote_port"] == pa)
                && l["kind"] == "tcp"
                && l["state"] == "ESTABLISHED"),
        "{lines:?}"
    );
    let me = std::process::id();
    let ends = lines
        .iter()
        .filter(|l| l["processes"][0]["pid"] == me)
        .filter(|l| {
            (l["local_port"] == pa && l["remote_port"] == port(&f.b))
                || (l["local_port"] == port(&f.b) && l["remote_port"] == pa)
        })
        .count();
    assert_eq!(ends, 2, "both ends of the pair: {lines:?}");
    let lines = json_lines(&["src", &f.ux_path]);
    assert!(lines.iter().all(|l| l["local"] == f.ux_path.as_str()) && !lines.is_empty());
    let lines = json_lines(&["pid", "=", &std::process::id().to_string(), "udp"]);
    assert!(
        lines
            .iter()
            .any(|l| l["local_port"] == f.udp.local_addr().unwrap().port())
    );

    // A filter that does not parse says why and exits 2.
    let out = Command::new(bin())
        .args(["sockets", "state", "bogus"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("'bogus' is not a state"));
}

#[test]
fn the_table_lists_our_sockets_with_the_process() {
    let f = fixture();
    let lport = f.listener.local_addr().unwrap().port();
    let out = Command::new(bin())
        .args(["sockets", &format!("sport = :{lport}")])
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let mut lines = text.lines();
    assert!(lines.next().unwrap().starts_with("Netid"));
    let row = lines.next().expect("a row");
    let cols: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(&cols[..4], &["tcp", "LISTEN", "2", "5"], "{row}");
    assert_eq!(cols[4], format!("127.0.0.1:{lport}"));
    assert_eq!(cols[5], "0.0.0.0:*");
    let me = format!("/{}", std::process::id());
    assert!(cols[6].ends_with(&me), "{row}");
}

#[test]
fn watch_says_which_sockets_are_new_and_which_are_gone() {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let lport = l.local_addr().unwrap().port();
    let mut child = Command::new(bin())
        .args(["sockets", "--json", "--watch", "0.3", "--count", "3"])
        .arg(format!("sport = :{lport} or dport = :{lport}"))
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = child.stdout.take().unwrap();
    // The first round sees only the listener; then a connection comes,
    // then it goes.
    let mut seen = String::new();
    let mut buf = [0u8; 4096];
    while !seen.contains("\"round\":1") {
        let n = out.read(&mut buf).unwrap();
        assert!(n > 0, "{seen}");
        seen.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    let c = TcpStream::connect(l.local_addr().unwrap()).unwrap();
    let (s, _) = l.accept().unwrap();
    let cport = port(&c);
    while !seen.contains("\"round\":2") {
        let n = out.read(&mut buf).unwrap();
        assert!(n > 0, "{seen}");
        seen.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    // RST on close (linger 0): no TIME_WAIT to keep the port listed.
    socket2::SockRef::from(&c)
        .set_linger(Some(Duration::ZERO))
        .unwrap();
    socket2::SockRef::from(&s)
        .set_linger(Some(Duration::ZERO))
        .unwrap();
    drop(c);
    drop(s);
    out.read_to_string(&mut seen).unwrap();
    assert!(child.wait().unwrap().success());
    let lines: Vec<Value> = seen
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let at = |round: u64, p: u16| -> Option<&str> {
        lines
            .iter()
            .find(|l| l["round"] == round && l["local_port"] == p)
            .and_then(|l| l["change"].as_str())
    };
    assert_eq!(at(1, lport), Some("present"));
    assert_eq!(at(2, lport), Some("present"));
    assert_eq!(at(2, cport), Some("new"), "{seen}");
    assert_eq!(at(3, cport), Some("gone"), "{seen}");
}

#[test]
fn sock_destroy_closes_a_connection_another_part_holds() {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let c = TcpStream::connect(l.local_addr().unwrap()).unwrap();
    let (mut s, _) = l.accept().unwrap();
    let snap = system::snapshot();
    let target = conn(&snap.sockets, &c).clone();
    assert_eq!(diag::destroy_refusal(&target), None);
    match diag::destroy(&target) {
        Ok(()) => {
            // The holder learns of it: its socket is aborted, the peer
            // gets a reset.
            let mut buf = [0u8; 4];
            let e = (&c).read(&mut buf).unwrap_err();
            assert_eq!(e.raw_os_error(), Some(libc::ECONNABORTED), "{e}");
            s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            let r = s.read(&mut buf);
            assert!(matches!(r, Ok(0)) || r.is_err(), "{r:?}");
            let after = system::snapshot();
            assert!(!after.sockets.iter().any(|x| x.key() == target.key()));
        }
        Err(e) => {
            // Not root, or a kernel without CONFIG_INET_DIAG_DESTROY:
            // the words say which.
            assert!(
                e.hint.as_deref().is_some_and(
                    |h| h.contains("CAP_NET_ADMIN") || h.contains("CONFIG_INET_DIAG_DESTROY")
                ),
                "{e}"
            );
        }
    }
    // Unix sockets and listeners are refused before the kernel is asked.
    let lsock = listening(&snap.sockets, l.local_addr().unwrap().port());
    assert!(
        diag::destroy(lsock)
            .unwrap_err()
            .to_string()
            .contains("listener")
    );
}

#[test]
fn without_privileges_the_process_column_says_so() {
    // Run the binary as nobody: our (root's) sockets' processes cannot be
    // read, and the JSON says so instead of leaving them empty.
    if unsafe { libc::geteuid() } != 0 || Command::new("setpriv").arg("--version").output().is_err()
    {
        eprintln!("skipped: needs root and setpriv to drop privileges");
        return;
    }
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let lport = l.local_addr().unwrap().port();
    let out = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
        .arg(bin())
        .args(["sockets", "--json", &format!("sport = :{lport}")])
        .env_remove("SOCKSCOPE_CONFIG_DIR")
        .output()
        .unwrap();
    if !out.status.success() && String::from_utf8_lossy(&out.stderr).contains("Permission denied") {
        eprintln!("skipped: the binary is not reachable for nobody here");
        return;
    }
    assert!(out.status.success(), "{out:?}");
    let lines: Vec<Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert_eq!(lines[0]["processes_hidden"], true, "{}", lines[0]);
    assert_eq!(lines[0]["processes"], Value::Array(vec![]));
    assert_eq!(
        lines[0]["state"], "LISTEN",
        "the socket itself is still listed"
    );
}

#[test]
fn the_copied_ss_command_lists_that_socket() {
    // What "Copy as ss command" gives, run by a real shell and a real ss,
    // finds the socket it was copied from (a TCP listener, one end of a
    // connection, a Unix listener whose path needs quoting).
    let f = fixture();
    let dir = tempfile::tempdir().unwrap();
    let odd = dir.path().join("it's a $(path).sock");
    let _odd = UnixListener::bind(&odd).unwrap();
    let snap = system::snapshot();
    let lport = f.listener.local_addr().unwrap().port();
    let odd_s = snap
        .sockets
        .iter()
        .find(|s| s.local == Endpoint::Path(odd.to_str().unwrap().to_string()))
        .expect("the oddly named socket");
    for (s, expect) in [
        (
            listening(&snap.sockets, lport),
            format!("127.0.0.1:{lport}"),
        ),
        (
            conn(&snap.sockets, &f.a),
            format!("127.0.0.1:{}", port(&f.a)),
        ),
        (odd_s, odd.to_str().unwrap().to_string()),
    ] {
        let cmd = s.ss_command();
        let out = Command::new("bash").args(["-c", &cmd]).output().unwrap();
        assert!(out.status.success(), "{cmd}: {out:?}");
        let text = String::from_utf8_lossy(&out.stdout);
        let rows: Vec<&str> = text
            .lines()
            .skip(1)
            .filter(|l| !l.starts_with('\t') && !l.trim().is_empty())
            .collect();
        assert!(
            rows.iter().any(|r| r.contains(&expect)),
            "{cmd} did not list {expect}:\n{text}"
        );
        assert!(
            rows.iter()
                .all(|r| r.contains(&expect) || r.starts_with(' ')),
            "{cmd} listed others:\n{text}"
        );
    }
}
