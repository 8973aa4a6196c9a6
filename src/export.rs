//! Step-mode scripts as code: a Python `socket` program in the style of the
//! seed, and Rust with socket2. Both print one line per call in the same
//! form (`CALL ok ...`, `CALL errno N`, `CALL timeout`), so a run of the
//! exported program can be compared with Sockscope's own.

use std::fmt::Write;

use crate::engine::options::{OptName, OptValue, Python, SockOpt, Ty};
use crate::engine::stepper::{AddrArg, Call, Family, How, SockType, py_bytes};

// ---------------------------------------------------------------------------
// Literal writers: every user value (names, addresses, paths, payloads,
// separators, option values) reaches generated code through exactly one of
// these, so a quote, a newline or a bidi control in a preset can never end a
// literal or a comment early. Tests parse the output with Python's `ast` and
// with `syn` and compare each literal with the value it came from.

/// Whether `c` may stand as itself in generated text: printable ASCII, or a
/// printable non-ASCII character that is neither a line or paragraph
/// separator nor a bidirectional control (which can make code read
/// differently from how it runs).
fn shows_as_itself(c: char) -> bool {
    match c {
        ' '..='~' => true,
        '\u{85}' | '\u{200e}' | '\u{200f}' | '\u{2028}' | '\u{2029}' | '\u{feff}' => false,
        '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' => false,
        c => (c as u32) > 0x7f && !c.is_control(),
    }
}

/// User text for a `#` or `//` comment: one line, whatever it holds
/// (newlines and other controls appear as `\u{..}` escapes).
pub fn comment_text(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        if shows_as_itself(c) {
            o.push(c);
        } else {
            let _ = write!(o, "\\u{{{:x}}}", c as u32);
        }
    }
    o
}

/// A Python `str` literal that evaluates to exactly `s`.
pub fn py_str(s: &str) -> String {
    let mut o = String::from("'");
    for c in s.chars() {
        match c {
            '\\' => o.push_str("\\\\"),
            '\'' => o.push_str("\\'"),
            '\n' => o.push_str("\\n"),
            '\r' => o.push_str("\\r"),
            '\t' => o.push_str("\\t"),
            c if shows_as_itself(c) => o.push(c),
            c if (c as u32) < 0x100 => {
                let _ = write!(o, "\\x{:02x}", c as u32);
            }
            c if (c as u32) < 0x10000 => {
                let _ = write!(o, "\\u{:04x}", c as u32);
            }
            c => {
                let _ = write!(o, "\\U{:08x}", c as u32);
            }
        }
    }
    o.push('\'');
    o
}

/// A Python float literal (`float('inf')` and the like where there is none).
pub fn py_float(f: f64) -> String {
    if f.is_nan() {
        "float('nan')".into()
    } else if f.is_infinite() {
        if f > 0.0 {
            "float('inf')"
        } else {
            "float('-inf')"
        }
        .into()
    } else {
        format!("{f:?}")
    }
}

/// Names the Python program itself uses: a socket variable must not shadow
/// them.
const PY_RESERVED: &[&str] = &[
    "False",
    "None",
    "True",
    "and",
    "as",
    "assert",
    "async",
    "await",
    "break",
    "class",
    "continue",
    "def",
    "del",
    "elif",
    "else",
    "except",
    "finally",
    "for",
    "from",
    "global",
    "if",
    "import",
    "in",
    "is",
    "lambda",
    "nonlocal",
    "not",
    "or",
    "pass",
    "raise",
    "return",
    "try",
    "while",
    "with",
    "yield",
    "socket",
    "struct",
    "names",
    "ok",
    "failed",
    "readexactly",
    "readuntil",
    "backlog",
    "print",
    "repr",
    "isinstance",
    "OSError",
    "open",
    "len",
    "int",
    "float",
    "e",
    "addr",
    "__builtins__",
];

/// A socket variable as a Python identifier: itself when it is a plain
/// ASCII identifier that the program does not use already, otherwise a
/// mangled `_s...` name (one-to-one, so two variables never merge).
pub fn py_ident(v: &str) -> String {
    let plain = v
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && v.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !v.starts_with("_s")
        && !PY_RESERVED.contains(&v);
    if plain {
        return v.to_string();
    }
    let mut o = String::from("_s");
    for c in v.chars() {
        match c {
            c if c.is_ascii_alphanumeric() => o.push(c),
            '_' => o.push_str("__"),
            c => {
                let _ = write!(o, "_x{:x}_", c as u32);
            }
        }
    }
    o
}

/// A Rust `&str` literal that evaluates to exactly `s`.
pub fn rs_str(s: &str) -> String {
    let mut o = String::from("\"");
    for c in s.chars() {
        match c {
            '\\' => o.push_str("\\\\"),
            '"' => o.push_str("\\\""),
            '\n' => o.push_str("\\n"),
            '\r' => o.push_str("\\r"),
            '\t' => o.push_str("\\t"),
            c if shows_as_itself(c) => o.push(c),
            c => {
                let _ = write!(o, "\\u{{{:x}}}", c as u32);
            }
        }
    }
    o.push('"');
    o
}

/// A Rust `f64` literal.
pub fn rs_float(f: f64) -> String {
    if f.is_nan() {
        "f64::NAN".into()
    } else if f.is_infinite() {
        if f > 0.0 {
            "f64::INFINITY"
        } else {
            "f64::NEG_INFINITY"
        }
        .into()
    } else {
        format!("{f:?}_f64")
    }
}

fn py_addr(a: &AddrArg) -> String {
    if let Some(v) = a.0.strip_prefix('@') {
        return format!("names[{}]", py_str(v));
    }
    if a.0.starts_with('/') || a.0.starts_with('.') {
        return py_str(&a.0);
    }
    match host_port(&a.0) {
        Some((host, port)) => format!("({}, {port})", py_str(&host)),
        None => py_str(&a.0),
    }
}

/// `127.0.0.1:80`, `[::1]:80` or `localhost:80` as host and port, so a
/// name is resolved by the program as the session resolved it.
fn host_port(a: &str) -> Option<(String, u16)> {
    if let Ok(sa) = a.parse::<std::net::SocketAddr>() {
        return Some((sa.ip().to_string(), sa.port()));
    }
    let (host, port) = a.rsplit_once(':')?;
    let port = port.parse().ok()?;
    (!host.is_empty() && !host.contains(':')).then(|| (host.to_string(), port))
}

/// The value as Python passes it to setsockopt.
fn py_value(v: OptValue) -> String {
    let pack = |d: std::time::Duration| format!("{}, {}", d.as_secs(), d.subsec_micros());
    match v {
        OptValue::Flag(b) => (b as u8).to_string(),
        OptValue::Int(n) => n.to_string(),
        OptValue::Secs(d) => d.as_secs().to_string(),
        OptValue::MaybeSecs(d) => {
            let d = d.unwrap_or_default();
            format!("struct.pack('ll', {})", pack(d))
        }
        OptValue::Ipv4(a) => format!("socket.inet_aton({})", py_str(&a.to_string())),
        OptValue::Name(n) => py_bytes(n.as_bytes()),
    }
}

fn py_setsockopt(var: &str, opt: &SockOpt) -> String {
    let var = py_ident(var);
    let def = opt.def();
    let value = match (def.ty, opt.value()) {
        // SO_LINGER takes struct linger (two ints), not a timeval.
        (Ty::Linger, OptValue::MaybeSecs(l)) => match l {
            None => "struct.pack('ii', 0, 0)".into(),
            Some(d) => format!("struct.pack('ii', 1, {})", d.as_secs()),
        },
        (_, v) => py_value(v),
    };
    match def.python {
        Python::Blocking => format!(
            "{var}.setblocking({})",
            if opt.value() == OptValue::Flag(true) {
                "True"
            } else {
                "False"
            }
        ),
        Python::SockOpt => format!(
            "{var}.setsockopt({}, socket.{}, {value})",
            def.level.python(),
            def.c
        ),
    }
}

/// Python's getsockopt for an option, decoding struct values as the kernel
/// writes them.
fn py_getsockopt(var: &str, name: OptName) -> String {
    let def = name.def();
    let (level, c) = (def.level.python(), def.c);
    match (def.python, def.ty) {
        (Python::Blocking, _) => format!("{var}.getblocking()"),
        (_, Ty::Linger) => format!("struct.unpack('ii', {var}.getsockopt({level}, socket.{c}, 8))"),
        (_, Ty::Timeout) => {
            format!("struct.unpack('ll', {var}.getsockopt({level}, socket.{c}, 16))")
        }
        (_, Ty::Ipv4) => {
            format!("socket.inet_ntoa({var}.getsockopt({level}, socket.{c}, 4))")
        }
        (_, Ty::IfName) => {
            format!("{var}.getsockopt({level}, socket.{c}, 16).rstrip(b'\\0').decode()")
        }
        _ => format!("{var}.getsockopt({level}, socket.{c})"),
    }
}

/// The script as a Python program that performs the same calls.
pub fn python(name: &str, calls: &[Call]) -> String {
    let mut o = String::new();
    let _ = writeln!(
        o,
        "#!/usr/bin/env python3\n# Exported by Sockscope from \"{}\": the same socket calls, one by one.\n# Each call prints one line: CALL ok RESULT, CALL errno N, or CALL timeout.\nimport socket\nimport struct\n\nnames = {{}}  # each socket's last known address, for connect/bind to another socket\n\n\ndef ok(call, result=None):\n    print(call, 'ok', repr(result))\n    return result\n\n\ndef failed(call, e):\n    if isinstance(e, socket.timeout):\n        print(call, 'timeout')\n    else:\n        print(call, 'errno', e.errno, e.strerror)\n\n\ndef readexactly(s, n):\n    data = b''\n    while len(data) < n:\n        chunk = s.recv(n - len(data))\n        if not chunk:\n            raise OSError(None, 'EOF after %d of %d bytes' % (len(data), n))\n        data += chunk\n    return data\n\n\ndef readuntil(s, sep):\n    data = b''\n    while not data.endswith(sep):\n        chunk = s.recv(1)\n        if not chunk:\n            raise OSError(None, 'EOF before the separator')\n        data += chunk\n    return data\n\n\ndef backlog(s):\n    port = '%04X' % s.getsockname()[1]\n    for path in ('/proc/net/tcp', '/proc/net/tcp6'):\n        with open(path) as f:\n            for line in f.readlines()[1:]:\n                fields = line.split()\n                if fields[1].endswith(':' + port) and fields[3] == '0A':\n                    tx, rx = fields[4].split(':')\n                    return '%d connection(s) queued, not yet accepted' % int(rx, 16)\n    return None\n\n",
        comment_text(name)
    );
    for c in calls {
        let v = &py_ident(c.var());
        // The key a socket's address is kept under in `names`, so `@name`
        // in an address finds it.
        let key = py_str(c.var());
        let label = c.name();
        let body = match c {
            Call::Socket { family, ty, .. } => {
                let f = match family {
                    Family::Inet => "AF_INET",
                    Family::Inet6 => "AF_INET6",
                    Family::Unix => "AF_UNIX",
                };
                let t = match ty {
                    SockType::Stream => "SOCK_STREAM",
                    SockType::Dgram => "SOCK_DGRAM",
                };
                format!(
                    "{v} = socket.socket(socket.{f}, socket.{t})\n    ok('{label}', {v}.fileno())"
                )
            }
            Call::SetSockOpt { opt, .. } => format!("{}\n    ok('{label}')", py_setsockopt(v, opt)),
            Call::GetSockOpt { opt, .. } => {
                format!("ok('{label}', {})", py_getsockopt(v, *opt))
            }
            Call::SetTimeout { secs, .. } => format!(
                "{v}.settimeout({})\n    ok('{label}')",
                secs.map_or("None".to_string(), py_float)
            ),
            Call::GetTimeout { .. } => format!("ok('{label}', {v}.gettimeout())"),
            Call::SetBlocking { flag, .. } => format!(
                "{v}.setblocking({})\n    ok('{label}')",
                if *flag { "True" } else { "False" }
            ),
            Call::Bind { addr, .. } => format!(
                "{v}.bind({})\n    names[{key}] = {v}.getsockname()\n    ok('{label}')",
                py_addr(addr)
            ),
            Call::Listen { backlog, .. } => format!("{v}.listen({backlog})\n    ok('{label}')"),
            Call::Accept { into, .. } => {
                let (ikey, into) = (py_str(into), py_ident(into));
                format!(
                    "{into}, addr = {v}.accept()\n    names[{ikey}] = {into}.getsockname()\n    ok('{label}', addr)"
                )
            }
            Call::Connect { addr, .. } => format!(
                "{v}.connect({})\n    names[{key}] = {v}.getsockname()\n    ok('{label}')",
                py_addr(addr)
            ),
            Call::ConnectEx { addr, .. } => {
                format!("ok('{label}', {v}.connect_ex({}))", py_addr(addr))
            }
            Call::Send { data, .. } => format!("ok('{label}', {v}.send({}))", py_bytes(data)),
            Call::SendAll { data, .. } => format!("ok('{label}', {v}.sendall({}))", py_bytes(data)),
            Call::SendTo { data, addr, .. } => format!(
                "ok('{label}', {v}.sendto({}, {}))",
                py_bytes(data),
                py_addr(addr)
            ),
            Call::Recv { n, .. } => format!("ok('{label}', {v}.recv({n}))"),
            Call::RecvFrom { n, .. } => format!("ok('{label}', {v}.recvfrom({n}))"),
            Call::Shutdown { how, .. } => format!(
                "{v}.shutdown(socket.{})\n    ok('{label}')",
                match how {
                    How::Read => "SHUT_RD",
                    How::Write => "SHUT_WR",
                    How::Both => "SHUT_RDWR",
                }
            ),
            Call::Close { .. } => format!("{v}.close()\n    ok('{label}')"),
            Call::GetSockName { .. } => {
                format!("names[{key}] = {v}.getsockname()\n    ok('{label}', names[{key}])")
            }
            Call::GetPeerName { .. } => format!("ok('{label}', {v}.getpeername())"),
            Call::FileNo { .. } => format!("ok('{label}', {v}.fileno())"),
            Call::ReadExactly { n, .. } => format!("ok('{label}', readexactly({v}, {n}))"),
            Call::ReadUntil { sep, .. } => {
                format!("ok('{label}', readuntil({v}, {}))", py_bytes(sep))
            }
            Call::Backlog { .. } => format!("ok('{label}', backlog({v}))"),
        };
        let _ = writeln!(
            o,
            "# {}\ntry:\n    {body}\nexcept OSError as e:\n    failed('{label}', e)\n",
            comment_text(&c.text())
        );
    }
    o
}

fn rs_addr(a: &AddrArg) -> String {
    if let Some(v) = a.0.strip_prefix('@') {
        return format!("names[{}].clone()", rs_str(v));
    }
    if a.0.starts_with('/') || a.0.starts_with('.') {
        return format!("SockAddr::unix({})?", rs_str(&a.0));
    }
    match host_port(&a.0) {
        Some((host, port)) => format!(
            "SockAddr::from(std::net::ToSocketAddrs::to_socket_addrs(&({}, {port}))?.next().ok_or(\"no address\")?)",
            rs_str(&host)
        ),
        None => format!(
            "SockAddr::from({}.parse::<std::net::SocketAddr>()?)",
            rs_str(&a.0)
        ),
    }
}

/// A Rust byte-string literal (`&[u8; N]`) that evaluates to exactly `d`.
pub fn rs_bytes(d: &[u8]) -> String {
    let mut s = String::from("b\"");
    for &b in d {
        match b {
            b'\\' => s.push_str("\\\\"),
            b'"' => s.push_str("\\\""),
            b'\r' => s.push_str("\\r"),
            b'\n' => s.push_str("\\n"),
            b'\t' => s.push_str("\\t"),
            0x20..=0x7e => s.push(b as char),
            _ => s.push_str(&format!("\\x{b:02x}")),
        }
    }
    s.push('"');
    s
}

fn rs_setter(opt: &SockOpt) -> String {
    let secs =
        |d: std::time::Duration| format!("Duration::new({}, {})", d.as_secs(), d.subsec_nanos());
    let value = match opt.value() {
        OptValue::Flag(b) => b.to_string(),
        OptValue::Int(n) => n.to_string(),
        OptValue::Secs(d) => secs(d),
        OptValue::MaybeSecs(d) => d.map_or("None".to_string(), |d| format!("Some({})", secs(d))),
        OptValue::Ipv4(a) => format!(
            "&std::net::Ipv4Addr::new({})",
            a.octets().map(|o| o.to_string()).join(", ")
        ),
        OptValue::Name(n) if n.as_bytes().is_empty() => "None".into(),
        OptValue::Name(n) => format!("Some({}.as_slice())", rs_bytes(n.as_bytes())),
    };
    opt.def().rust_set.replace("{}", &value)
}

/// The script as a Rust program using socket2 (a `main.rs` for a crate that
/// depends on socket2 with the "all" feature).
pub fn rust(name: &str, calls: &[Call]) -> String {
    let mut o = String::new();
    let _ = writeln!(
        o,
        "// Exported by Sockscope from \"{}\": the same socket calls, one by one.\n// Cargo.toml: socket2 = {{ version = \"0.6\", features = [\"all\"] }}\n#![allow(unused_imports, unused_variables)]\nuse std::collections::HashMap;\nuse std::io::Read;\nuse std::mem::MaybeUninit;\nuse std::net::Shutdown;\nuse std::time::Duration;\n\nuse socket2::{{Domain, SockAddr, Socket, Type}};\n\nfn report<T: std::fmt::Debug>(call: &str, r: std::io::Result<T>) -> Option<T> {{\n    match r {{\n        Ok(v) => {{ println!(\"{{call}} ok {{v:?}}\"); Some(v) }}\n        Err(e) => {{ match e.raw_os_error() {{ Some(n) => println!(\"{{call}} errno {{n}} {{e}}\"), None => println!(\"{{call}} error {{e}}\") }}; None }}\n    }}\n}}\n\nfn main() -> Result<(), Box<dyn std::error::Error>> {{\n    let mut socks: HashMap<&str, Socket> = HashMap::new();\n    let mut names: HashMap<&str, SockAddr> = HashMap::new();\n    let _ = (&mut socks, &mut names);",
        comment_text(name)
    );
    for c in calls {
        let v = &rs_str(c.var());
        let label = c.name();
        let s = format!("socks[{v}]");
        let line = match c {
            Call::Socket { family, ty, .. } => {
                let d = match family {
                    Family::Inet => "Domain::IPV4",
                    Family::Inet6 => "Domain::IPV6",
                    Family::Unix => "Domain::UNIX",
                };
                let t = match ty {
                    SockType::Stream => "Type::STREAM",
                    SockType::Dgram => "Type::DGRAM",
                };
                format!(
                    "if let Some(s) = report(\"{label}\", Socket::new({d}, {t}, None)).map(|s| {{ use std::os::fd::AsRawFd; println!(\"  fd {{}}\", s.as_raw_fd()); s }}) {{ socks.insert({v}, s); }}"
                )
            }
            Call::SetSockOpt { opt, .. } => {
                format!("report(\"{label}\", {s}.{});", rs_setter(opt))
            }
            Call::GetSockOpt { opt, .. } => {
                format!("report(\"{label}\", {s}.{});", opt.def().rust_get)
            }
            Call::SetTimeout { secs, .. } => match secs {
                Some(t) if *t <= 0.0 => format!("report(\"{label}\", {s}.set_nonblocking(true));"),
                other => {
                    let d = other.map_or("None".to_string(), |t| {
                        format!("Some(Duration::try_from_secs_f64({})?)", rs_float(t))
                    });
                    format!(
                        "report(\"{label}\", {s}.set_nonblocking(false).and({s}.set_read_timeout({d})).and({s}.set_write_timeout({d})));"
                    )
                }
            },
            Call::GetTimeout { .. } => format!("report(\"{label}\", {s}.read_timeout());"),
            Call::SetBlocking { flag, .. } => {
                format!("report(\"{label}\", {s}.set_nonblocking({}));", !flag)
            }
            Call::Bind { addr, .. } => format!(
                "let a = {}; report(\"{label}\", {s}.bind(&a)); if let Ok(n) = {s}.local_addr() {{ names.insert({v}, n); }}",
                rs_addr(addr)
            ),
            Call::Listen { backlog, .. } => format!("report(\"{label}\", {s}.listen({backlog}));"),
            Call::Accept { into, .. } => format!(
                "if let Some((c, _)) = report(\"{label}\", {s}.accept().map(|(c, a)| (c, a.as_socket()))) {{ socks.insert({}, c); }}",
                rs_str(into)
            ),
            Call::Connect { addr, .. } => format!(
                "let a = {}; report(\"{label}\", {s}.connect(&a)); if let Ok(n) = {s}.local_addr() {{ names.insert({v}, n); }}",
                rs_addr(addr)
            ),
            Call::ConnectEx { addr, .. } => format!(
                "let a = {}; println!(\"{label} ok {{}}\", {s}.connect(&a).err().and_then(|e| e.raw_os_error()).unwrap_or(0));",
                rs_addr(addr)
            ),
            Call::Send { data, .. } => {
                format!("report(\"{label}\", {s}.send({}));", rs_bytes(data))
            }
            Call::SendAll { data, .. } => format!(
                "report(\"{label}\", {{ let d = {}; let mut off = 0; let mut r = Ok(()); while off < d.len() {{ match {s}.send(&d[off..]) {{ Ok(n) => off += n, Err(e) => {{ r = Err(e); break; }} }} }} r }});",
                rs_bytes(data)
            ),
            Call::SendTo { data, addr, .. } => format!(
                "let a = {}; report(\"{label}\", {s}.send_to({}, &a));",
                rs_addr(addr),
                rs_bytes(data)
            ),
            Call::Recv { n, .. } => format!(
                "{{ let mut buf = vec![0u8; {n}]; report(\"{label}\", (&{s}).read(&mut buf).map(|k| buf[..k].to_vec())); }}"
            ),
            Call::ReadExactly { n, .. } => format!(
                "{{ let mut buf = vec![0u8; {n}]; report(\"{label}\", (&{s}).read_exact(&mut buf).map(|()| buf.clone())); }}"
            ),
            Call::RecvFrom { n, .. } => format!(
                "{{ let mut buf = vec![MaybeUninit::<u8>::uninit(); {n}]; report(\"{label}\", {s}.recv_from(&mut buf).map(|(k, a)| (k, a.as_socket()))); }}"
            ),
            Call::ReadUntil { sep, .. } => format!(
                "{{ let sep: &[u8] = {}; let mut got = Vec::new(); let mut b = [0u8; 1]; let r = loop {{ match (&{s}).read(&mut b) {{ Ok(0) => break Err(std::io::Error::from(std::io::ErrorKind::UnexpectedEof)), Ok(_) => {{ got.push(b[0]); if got.ends_with(sep) {{ break Ok(got.clone()); }} }} Err(e) => break Err(e) }} }}; report(\"{label}\", r); }}",
                rs_bytes(sep)
            ),
            Call::Shutdown { how, .. } => format!(
                "report(\"{label}\", {s}.shutdown(Shutdown::{}));",
                match how {
                    How::Read => "Read",
                    How::Write => "Write",
                    How::Both => "Both",
                }
            ),
            Call::Close { .. } => format!("socks.remove({v}); println!(\"{label} ok None\");"),
            Call::GetSockName { .. } => format!(
                "if let Some(a) = report(\"{label}\", {s}.local_addr().map(|a| a.as_socket())) {{ let _ = a; if let Ok(n) = {s}.local_addr() {{ names.insert({v}, n); }} }}"
            ),
            Call::GetPeerName { .. } => {
                format!("report(\"{label}\", {s}.peer_addr().map(|a| a.as_socket()));")
            }
            Call::FileNo { .. } => format!(
                "{{ use std::os::fd::AsRawFd; println!(\"{label} ok {{}}\", {s}.as_raw_fd()); }}"
            ),
            Call::Backlog { .. } => {
                format!("println!(\"{label} ok (see /proc/net/tcp for {{}})\", {v});")
            }
        };
        let _ = writeln!(o, "    // {}\n    {line}", comment_text(&c.text()));
    }
    let _ = writeln!(o, "    Ok(())\n}}");
    o
}

/// What a session does that its exported calls do not: the program is
/// plain socket calls, so these are said at its top rather than left out
/// silently.
pub fn not_exported(spec: &crate::engine::SessionSpec) -> Vec<String> {
    use crate::engine::respond::Responder;
    let mut out = Vec::new();
    if spec.tls.is_some() {
        out.push(
            "TLS: the program speaks plain TCP; wrap the socket (Python: ssl.create_default_context().wrap_socket) to match"
                .to_string(),
        );
    }
    if let Some(d) = spec.reply_delay {
        out.push(format!(
            "reply_delay {} s: the program replies at once",
            d.as_secs_f64()
        ));
    }
    let templated = match &spec.responder {
        Responder::Fixed(r) => r.template,
        Responder::Canned(c) => {
            c.rules.iter().any(|r| r.reply.template)
                || c.default.as_ref().is_some_and(|d| d.template)
        }
        _ => false,
    };
    if templated {
        out.push("reply templates: the reply is sent as written, {fields} unfilled".to_string());
    }
    out
}

/// Puts `not_exported`'s lines at the top of a program as comments
/// (after a Python shebang).
pub fn with_caveats(program: String, caveats: &[String], python: bool) -> String {
    if caveats.is_empty() {
        return program;
    }
    let prefix = if python { "# " } else { "// " };
    let mut notes = format!("{prefix}Not in this program:\n");
    for c in caveats {
        notes.push_str(&format!("{prefix}- {}\n", comment_text(c)));
    }
    match program.split_once('\n') {
        Some((first, rest)) if python && first.starts_with("#!") => {
            format!("{first}\n{notes}{rest}")
        }
        _ => notes + &program,
    }
}

/// Whether a session's kind has an equivalent in the socket call table
/// (a socketpair, a serial port, a WebSocket's framing and a relay's
/// forwarding do not).
pub fn exportable(kind: &crate::engine::spec::SessionKind) -> bool {
    use crate::engine::spec::SessionKind;
    !matches!(
        kind,
        SessionKind::SocketPair
            | SessionKind::Serial(_)
            | SessionKind::WsClient { .. }
            | SessionKind::WsServer { .. }
            | SessionKind::Relay { .. }
    )
}

/// The calls a session's configuration stands for, so any session can be
/// exported: socket, its options, bind/listen/accept or connect, then its
/// script. A server answers one connection once (echo or its fixed reply).
pub fn calls_for_spec(spec: &crate::engine::SessionSpec) -> Vec<Call> {
    use crate::engine::spec::{SessionKind, Step};
    use crate::engine::stepper::AddrArg as A;
    let mut calls = Vec::new();
    let opts = |var: &str, calls: &mut Vec<Call>| {
        for o in &spec.options {
            calls.push(Call::SetSockOpt {
                var: var.into(),
                opt: *o,
            });
        }
        if let Some(t) = spec.read_timeout {
            calls.push(Call::SetTimeout {
                var: var.into(),
                secs: Some(t.as_secs_f64()),
            });
        }
    };
    let fam = |a: &std::net::SocketAddr| {
        if a.is_ipv6() {
            Family::Inet6
        } else {
            Family::Inet
        }
    };
    let n = spec.limits.recv_buffer;
    let (var, dgram) = match &spec.kind {
        SessionKind::TcpClient { remote, local } => {
            let is6 = remote.host.contains(':');
            calls.push(Call::Socket {
                var: "s".into(),
                family: if is6 { Family::Inet6 } else { Family::Inet },
                ty: SockType::Stream,
            });
            opts("s", &mut calls);
            if let Some(l) = local {
                calls.push(Call::Bind {
                    var: "s".into(),
                    addr: A(l.to_string()),
                });
            }
            calls.push(Call::Connect {
                var: "s".into(),
                addr: A(remote.to_string()),
            });
            ("s", false)
        }
        SessionKind::TcpServer { local, backlog } => {
            calls.push(Call::Socket {
                var: "srv".into(),
                family: fam(local),
                ty: SockType::Stream,
            });
            opts("srv", &mut calls);
            calls.push(Call::Bind {
                var: "srv".into(),
                addr: A(local.to_string()),
            });
            calls.push(Call::Listen {
                var: "srv".into(),
                backlog: *backlog,
            });
            calls.push(Call::Accept {
                var: "srv".into(),
                into: "conn".into(),
            });
            ("conn", false)
        }
        SessionKind::Udp { local, connect, .. } => {
            // As the engine binds it: loopback when it answers.
            let l = local.unwrap_or_else(|| {
                let any = if spec.responder.is_active() {
                    "127.0.0.1:0"
                } else {
                    "0.0.0.0:0"
                };
                any.parse().expect("a literal address")
            });
            calls.push(Call::Socket {
                var: "s".into(),
                family: fam(&l),
                ty: SockType::Dgram,
            });
            opts("s", &mut calls);
            calls.push(Call::Bind {
                var: "s".into(),
                addr: A(l.to_string()),
            });
            if let Some(c) = connect {
                calls.push(Call::Connect {
                    var: "s".into(),
                    addr: A(c.to_string()),
                });
            }
            ("s", true)
        }
        SessionKind::UnixClient { path } => {
            calls.push(Call::Socket {
                var: "s".into(),
                family: Family::Unix,
                ty: SockType::Stream,
            });
            calls.push(Call::Connect {
                var: "s".into(),
                addr: A(path.display().to_string()),
            });
            ("s", false)
        }
        SessionKind::UnixServer { path, backlog, .. } => {
            calls.push(Call::Socket {
                var: "srv".into(),
                family: Family::Unix,
                ty: SockType::Stream,
            });
            calls.push(Call::Bind {
                var: "srv".into(),
                addr: A(path.display().to_string()),
            });
            calls.push(Call::Listen {
                var: "srv".into(),
                backlog: *backlog,
            });
            calls.push(Call::Accept {
                var: "srv".into(),
                into: "conn".into(),
            });
            ("conn", false)
        }
        SessionKind::UnixDatagram { local, connect } => {
            calls.push(Call::Socket {
                var: "s".into(),
                family: Family::Unix,
                ty: SockType::Dgram,
            });
            if let Some(l) = local {
                calls.push(Call::Bind {
                    var: "s".into(),
                    addr: A(l.display().to_string()),
                });
            }
            if let Some(c) = connect {
                calls.push(Call::Connect {
                    var: "s".into(),
                    addr: A(c.display().to_string()),
                });
            }
            ("s", true)
        }
        SessionKind::Script { calls: c, .. } => return c.clone(),
        // A burst is many connections; export one of them.
        SessionKind::Burst(b) => {
            let fam = fam(&b.target);
            calls.push(Call::Socket {
                var: "s".into(),
                family: fam,
                ty: if b.udp {
                    SockType::Dgram
                } else {
                    SockType::Stream
                },
            });
            if b.udp {
                calls.push(Call::SendTo {
                    var: "s".into(),
                    data: b.payload.clone(),
                    addr: A(b.target.to_string()),
                });
                calls.push(Call::RecvFrom { var: "s".into(), n });
            } else {
                calls.push(Call::Connect {
                    var: "s".into(),
                    addr: A(b.target.to_string()),
                });
                calls.push(Call::SendAll {
                    var: "s".into(),
                    data: b.payload.clone(),
                });
                calls.push(Call::Recv { var: "s".into(), n });
            }
            calls.push(Call::Close { var: "s".into() });
            return calls;
        }
        // socket.socketpair() has no one-call equivalent in the table.
        // No socket calls make these: a socketpair has no table entry,
        // and a serial port is termios, not sockets.
        // Not `exportable`.
        SessionKind::SocketPair
        | SessionKind::Serial(_)
        | SessionKind::WsClient { .. }
        | SessionKind::WsServer { .. }
        | SessionKind::Relay { .. } => return Vec::new(),
    };
    let var = var.to_string();
    // A server's responder answers the first message.
    match &spec.responder {
        crate::engine::respond::Responder::Echo if var == "conn" => {
            calls.push(Call::Recv {
                var: var.clone(),
                n,
            });
        }
        crate::engine::respond::Responder::Fixed(r) if var == "conn" => {
            calls.push(Call::Recv {
                var: var.clone(),
                n,
            });
            calls.push(Call::SendAll {
                var: var.clone(),
                data: r.data.to_vec(),
            });
        }
        _ => {}
    }
    for s in &spec.steps {
        match s {
            Step::Send {
                data, to: Some(to), ..
            } => calls.push(Call::SendTo {
                var: var.clone(),
                data: data.to_vec(),
                addr: A(to.clone()),
            }),
            Step::Send { data, .. } => calls.push(Call::SendAll {
                var: var.clone(),
                data: data.to_vec(),
            }),
            Step::WaitRecv(_) if dgram => calls.push(Call::RecvFrom {
                var: var.clone(),
                n,
            }),
            Step::WaitRecv(_) => calls.push(Call::Recv {
                var: var.clone(),
                n,
            }),
            Step::Wait(_) => {}
            Step::ShutdownWrite => calls.push(Call::Shutdown {
                var: var.clone(),
                how: How::Write,
            }),
            Step::Close => calls.push(Call::Close { var: var.clone() }),
        }
    }
    calls
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_a_program_leaves_out_is_said_at_its_top() {
        let mut spec = crate::preset::builtins()
            .into_iter()
            .find(|(n, _)| *n == "tls-server")
            .unwrap()
            .1
            .unwrap();
        spec.reply_delay = Some(std::time::Duration::from_millis(250));
        let caveats = not_exported(&spec);
        assert_eq!(caveats.len(), 2, "{caveats:?}");
        let py = with_caveats(python(&spec.name, &calls_for_spec(&spec)), &caveats, true);
        let mut lines = py.lines();
        assert_eq!(lines.next(), Some("#!/usr/bin/env python3"));
        assert_eq!(lines.next(), Some("# Not in this program:"));
        assert!(lines.next().unwrap().starts_with("# - TLS"));
        assert_eq!(
            lines.next(),
            Some("# - reply_delay 0.25 s: the program replies at once")
        );
        let rs = with_caveats(rust(&spec.name, &calls_for_spec(&spec)), &caveats, false);
        assert!(rs.starts_with("// Not in this program:\n// - TLS"), "{rs}");
        let plain =
            crate::engine::SessionSpec::new("x", crate::engine::spec::SessionKind::SocketPair);
        assert!(not_exported(&plain).is_empty());
    }
}
