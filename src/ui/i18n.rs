//! The app's words in English and 简体中文: one catalogue of Fluent files
//! (`assets/i18n/*.ftl`, built into the binary), looked up by key.
//!
//! The language is per thread: the app sets it at the start of each frame
//! from its own setting, so a switch takes effect on the next frame, and
//! tests that drive apps in two languages side by side do not disturb each
//! other. Threads that never set it speak English; the app's workers
//! (the preset store, exports, captures) are handed the app's language
//! with their work. JSON Lines, preset files and the command line are
//! interfaces and never go through here.

use std::borrow::Cow;
use std::cell::Cell;
use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::sync::{Mutex, OnceLock};

use fluent_bundle::concurrent::FluentBundle;
use fluent_bundle::{FluentArgs, FluentResource};

pub use fluent_bundle::FluentArgs as Args;

/// A language the app speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Lang {
    /// English.
    En,
    /// Simplified Chinese.
    Zh,
}

impl Lang {
    /// Every language, in the order the menu lists them.
    pub const ALL: [Lang; 2] = [Lang::En, Lang::Zh];

    /// The language's name in itself (never translated: a reader looks
    /// for their own language's name).
    pub fn native_name(self) -> &'static str {
        match self {
            Lang::En => "English",
            Lang::Zh => "简体中文",
        }
    }

    /// The catalogue file's text.
    pub fn source(self) -> &'static str {
        match self {
            Lang::En => include_str!("../../assets/i18n/en.ftl"),
            Lang::Zh => include_str!("../../assets/i18n/zh-CN.ftl"),
        }
    }

    fn tag(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::Zh => "zh-CN",
        }
    }

    /// The language a POSIX locale name asks for (`zh_CN.UTF-8`,
    /// `zh_SG`, `zh`), None for one we do not speak. Traditional Chinese
    /// locales (`zh_TW`, `zh_HK`) get Simplified: closer to what they read
    /// than English.
    pub fn from_locale(locale: &str) -> Option<Lang> {
        let lang = locale.split(['_', '.', '@', '-']).next().unwrap_or("");
        match lang {
            "zh" => Some(Lang::Zh),
            "en" | "C" | "POSIX" => Some(Lang::En),
            _ => None,
        }
    }

    /// The language of the system's locale, as POSIX orders it: LC_ALL,
    /// then LC_MESSAGES, then LANG (the first that is set and not empty
    /// decides); English when none is set or it names another language.
    pub fn from_env() -> Lang {
        Self::from_vars(|name| std::env::var(name).ok())
    }

    /// As [`from_env`](Self::from_env), reading variables through `get`.
    pub fn from_vars(get: impl Fn(&str) -> Option<String>) -> Lang {
        ["LC_ALL", "LC_MESSAGES", "LANG"]
            .iter()
            .filter_map(|v| get(v).filter(|s| !s.is_empty()))
            .map(|s| Lang::from_locale(&s).unwrap_or(Lang::En))
            .next()
            .unwrap_or(Lang::En)
    }
}

thread_local! {
    static CURRENT: Cell<Lang> = const { Cell::new(Lang::En) };
}

/// Makes `lang` this thread's language.
pub fn set(lang: Lang) {
    CURRENT.with(|c| c.set(lang));
}

/// This thread's language.
pub fn current() -> Lang {
    CURRENT.with(|c| c.get())
}

struct Catalogue {
    bundle: FluentBundle<FluentResource>,
    /// Messages whose text is not one literal piece, formatted once.
    formatted: Mutex<HashMap<&'static str, &'static str>>,
}

fn catalogue(lang: Lang) -> &'static Catalogue {
    static CATALOGUES: OnceLock<[Catalogue; 2]> = OnceLock::new();
    let all = CATALOGUES.get_or_init(|| Lang::ALL.map(build));
    &all[lang as usize]
}

fn build(lang: Lang) -> Catalogue {
    // The files are part of the binary and a unit test parses both, so a
    // syntax error cannot ship; should one slip through, the entries that
    // did parse are still used.
    let res = FluentResource::try_new(lang.source().to_string()).unwrap_or_else(|(r, _)| r);
    let id = lang.tag().parse().expect("a valid language tag");
    let mut bundle = FluentBundle::new_concurrent(vec![id]);
    // Unicode isolation marks around placeables would show as boxes.
    bundle.set_use_isolating(false);
    let _ = bundle.add_resource(res);
    Catalogue {
        bundle,
        formatted: Mutex::new(HashMap::new()),
    }
}

/// Keys asked for that a catalogue lacks (tests assert there are none).
fn missing_set() -> &'static Mutex<BTreeSet<String>> {
    static MISSING: OnceLock<Mutex<BTreeSet<String>>> = OnceLock::new();
    MISSING.get_or_init(|| Mutex::new(BTreeSet::new()))
}

/// The keys looked up so far that a catalogue did not have, as
/// `lang:key`.
pub fn missing() -> Vec<String> {
    missing_set()
        .lock()
        .map(|m| m.iter().cloned().collect())
        .unwrap_or_default()
}

fn note_missing(lang: Lang, key: &str) {
    if let Ok(mut m) = missing_set().lock() {
        m.insert(format!("{}:{key}", lang.tag()));
    }
}

fn format(lang: Lang, key: &str, args: Option<&FluentArgs>) -> Option<Cow<'static, str>> {
    let cat = catalogue(lang);
    let pattern = cat.bundle.get_message(key)?.value()?;
    let mut errors = Vec::new();
    let text = cat.bundle.format_pattern(pattern, args, &mut errors);
    if !errors.is_empty() {
        note_missing(lang, &format!("{key} (arguments)"));
    }
    Some(text)
}

/// The text of the message `key` in this thread's language. A key the
/// language lacks falls back to English, one English lacks shows as
/// itself; both are recorded for [`missing`].
pub fn tr(key: &str) -> &'static str {
    let lang = current();
    for l in [lang, Lang::En] {
        match format(l, key, None) {
            Some(Cow::Borrowed(s)) => return s,
            Some(Cow::Owned(s)) => {
                let cat = catalogue(l);
                let mut done = cat.formatted.lock().unwrap_or_else(|e| e.into_inner());
                if let Some(s) = done.get(key) {
                    return s;
                }
                // Bounded: one string per key of the catalogue.
                let key: &'static str = Box::leak(key.to_string().into_boxed_str());
                let text: &'static str = Box::leak(s.into_boxed_str());
                done.insert(key, text);
                return text;
            }
            None if l == lang => note_missing(lang, key),
            None => {}
        }
    }
    // A key no catalogue has shows as itself; made 'static once, not on
    // every frame it is drawn.
    static UNKNOWN: OnceLock<Mutex<HashMap<String, &'static str>>> = OnceLock::new();
    let mut unknown = UNKNOWN
        .get_or_init(|| Mutex::new(HashMap::new()))
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    if let Some(s) = unknown.get(key) {
        return s;
    }
    let shown: &'static str = Box::leak(key.to_string().into_boxed_str());
    unknown.insert(key.to_string(), shown);
    shown
}

/// The text of the message `key` with its arguments filled in.
pub fn tr_args(key: &str, args: &FluentArgs) -> String {
    let lang = current();
    if let Some(s) = format(lang, key, Some(args)) {
        return s.into_owned();
    }
    note_missing(lang, key);
    format(Lang::En, key, Some(args))
        .map(Cow::into_owned)
        .unwrap_or_else(|| key.to_string())
}

/// `t!("key")` is the key's text; `t!("key", n = 3, name = s)` fills in
/// arguments (numbers select plural forms; anything else pass as a
/// string).
#[macro_export]
macro_rules! t {
    ($key:literal) => {
        $crate::ui::i18n::tr($key)
    };
    ($key:literal, $($name:ident = $val:expr),+ $(,)?) => {{
        let mut args = $crate::ui::i18n::Args::new();
        $(args.set(stringify!($name), $val);)+
        $crate::ui::i18n::tr_args($key, &args)
    }};
}

/// A message of the catalogue that a widget shows and a test looks for:
/// the same key finds the widget in either language.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Key(pub &'static str);

impl Key {
    /// The text in this thread's language.
    pub fn text(self) -> &'static str {
        tr(self.0)
    }
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.text())
    }
}

impl From<Key> for egui::WidgetText {
    fn from(k: Key) -> Self {
        k.text().into()
    }
}

impl From<Key> for egui::RichText {
    fn from(k: Key) -> Self {
        egui::RichText::new(k.text())
    }
}

impl From<Key> for String {
    fn from(k: Key) -> Self {
        k.text().to_string()
    }
}

/// Whether the catalogue has a message `key` (English has every key).
pub fn has(key: &str) -> bool {
    catalogue(Lang::En).bundle.has_message(key)
}

/// An option's label in this thread's language: its C name (as the
/// engine's definition has it) or, for one named in words, the
/// catalogue's `option-<key>`.
pub fn option_label(def: &crate::engine::options::OptDef) -> &'static str {
    let id = format!("option-{}", option_id(def));
    if has(&id) { tr(&id) } else { def.label }
}

/// An option's help in this thread's language (`option-<key>-help`).
pub fn option_help(def: &crate::engine::options::OptDef) -> &'static str {
    let id = format!("option-{}-help", option_id(def));
    if has(&id) { tr(&id) } else { def.help }
}

/// An option's part of its catalogue keys: its preset key, or for one
/// that has none (the session carries it), its label.
fn option_id(def: &crate::engine::options::OptDef) -> String {
    match def.key {
        Some(k) => k.replace('_', "-"),
        None => def.label.to_lowercase().replace(' ', "-"),
    }
}

/// The message ids of a catalogue file, in file order.
pub fn ids(source: &str) -> Vec<String> {
    use fluent_syntax::ast::Entry;
    let res = match fluent_syntax::parser::parse(source) {
        Ok(r) => r,
        Err((r, _)) => r,
    };
    res.body
        .iter()
        .filter_map(|e| match e {
            Entry::Message(m) => Some(m.id.name.to_string()),
            _ => None,
        })
        .collect()
}

/// Text the engine wrote (an error's hint, a close reason, a warning, a
/// rule's action) in this thread's language. A catalogue entry whose
/// English is exactly `english` (ids `engine-…`, `close-…`, `rule-…`)
/// gives the translation; a sentence with values in it is matched by
/// one of [`PHRASES`]; anything else (an address, an OS message we have
/// no words for) stays as it is.
pub fn engine_text(english: &str) -> Cow<'_, str> {
    if current() == Lang::En {
        return Cow::Borrowed(english);
    }
    static BY_ENGLISH: OnceLock<HashMap<&'static str, String>> = OnceLock::new();
    let map = BY_ENGLISH.get_or_init(|| {
        let en = catalogue(Lang::En);
        ids(Lang::En.source())
            .into_iter()
            .filter(|id| {
                ["engine-", "close-", "rule-"]
                    .iter()
                    .any(|p| id.starts_with(p))
            })
            .filter_map(|id| {
                let msg = en.bundle.get_message(&id)?;
                let mut errors = Vec::new();
                let text = en.bundle.format_pattern(msg.value()?, None, &mut errors);
                match text {
                    Cow::Borrowed(s) if errors.is_empty() => Some((s, id)),
                    _ => None,
                }
            })
            .collect()
    });
    if let Some(id) = map.get(english) {
        return Cow::Borrowed(tr(id));
    }
    match phrase(english) {
        Some(s) => Cow::Owned(s),
        None => Cow::Borrowed(english),
    }
}

/// The engine's sentences that carry values: a pattern, the catalogue key
/// and the names of its captures (each capture is itself translated, so
/// a rule's words or a close reason inside a sentence are too). The
/// patterns follow the engine's `format!` strings; `phrases_match_the_
/// engine` below holds one of each as the engine writes it.
pub const PHRASES: &[(&str, &str, &[&str])] = &[
    // The preset loader's checks, which the form goes through too.
    (
        r"^handshake_timeout ([\d.]+) s is out of range: 0\.001 to 3600 seconds$",
        "phrase-p-handshake-range",
        &["secs"],
    ),
    (
        r#"^ALPN protocol '(.*)' must be 1 to 255 bytes, e\.g\. "http/1\.1" or "h2"$"#,
        "phrase-p-alpn",
        &["name"],
    ),
    (
        r"^server_name '(.*)' is not a DNS name or IP address$",
        "phrase-p-server-name",
        &["name"],
    ),
    (
        r"^'(.*)' is not a DNS name or IP address for the certificate$",
        "phrase-p-cert-name",
        &["name"],
    ),
    (
        r"^group (\S+) and local address (\S+) are different IP versions$",
        "phrase-p-group-version",
        &["group", "local"],
    ),
    (
        r"^a reply delay of ([\d.]+) s is too long; give at most (\d+) seconds$",
        "phrase-p-delay-long",
        &["secs", "max"],
    ),
    (
        r"^rule (\d+): the request is not a valid regular expression: (.+)$",
        "phrase-p-regex",
        &["i", "why"],
    ),
    (
        r"^rule (\d+): an empty request matches everything; give some text$",
        "phrase-p-empty-request",
        &["i"],
    ),
    // Option values (engine::options), as the form and files check them.
    (
        r"^(\S+) takes (.+) from (-?\d+) to (-?\d+); (-?\d+) is out of range$",
        "phrase-opt-range",
        &["option", "what", "lo", "hi", "n"],
    ),
    (
        r"^(\S+) takes whole seconds from (\d+) to (\d+); ([\d.]+) s is not one$",
        "phrase-opt-whole-secs",
        &["option", "lo", "hi", "n"],
    ),
    (
        r"^'(.*)' is not a number of seconds$",
        "phrase-not-secs",
        &["value"],
    ),
    (r"^'(.*)' is not 1 or 0$", "phrase-not-flag", &["value"]),
    (
        r"^'(.*)' is not a whole number$",
        "phrase-not-whole",
        &["value"],
    ),
    (
        r"^'(.*)' is not an IPv4 address \(e\.g\. 127\.0\.0\.1\)$",
        "phrase-not-ipv4",
        &["value"],
    ),
    (
        r"^'(.*)' is not an interface name \(up to 15 letters, digits and \._-:, e\.g\. lo or eth0; `ip link` lists them\)$",
        "phrase-not-ifname",
        &["value"],
    ),
    (
        r"^backlog (\d+) is out of range; use 0 to 65535 \(the seed uses 128\)$",
        "phrase-backlog-range",
        &["n"],
    ),
    // Step mode (engine::stepper).
    (
        r"^(\d+) connection\(s\) queued, not yet accepted \(listen\((\d+)\): Linux queues up to (\d+) before it stops answering\)$",
        "phrase-backlog-limit",
        &["queued", "backlog", "limit"],
    ),
    (
        r"^(\d+) connection\(s\) queued, not yet accepted$",
        "phrase-backlog",
        &["queued"],
    ),
    (
        r"^timed out after ([\d.]+) s: the socket's timeout expired \(Python raises socket\.timeout\)$",
        "phrase-step-timed-out",
        &["secs"],
    ),
    // The form's address fields (engine::spec).
    (
        r"^'(.*)' has no port; write host:port, e\.g\. 127\.0\.0\.1:7788 or \[::1\]:7788$",
        "phrase-no-port",
        &["value"],
    ),
    (
        r"^'(.*)': an IPv6 address needs brackets before the port, e\.g\. \[::1\]:7788$",
        "phrase-v6-brackets",
        &["value"],
    ),
    (
        r"^'(.*)' has no host before the port$",
        "phrase-no-host",
        &["value"],
    ),
    (
        r"^'(.*)' is not a valid host name or IP address$",
        "phrase-bad-host",
        &["value"],
    ),
    (
        r"^port (\d+) is out of range; ports go from 0 to 65535$",
        "phrase-port-range",
        &["port"],
    ),
    (
        r"^port '(.*)' is not a number; ports go from 0 to 65535$",
        "phrase-port-nan",
        &["port"],
    ),
    (
        r"^the socket path is (\d+) bytes; Unix socket paths hold at most 107, use a shorter one$",
        "phrase-path-long",
        &["n"],
    ),
    (
        r"^'(.*)' is not an IP address; a local address must be a literal like 127\.0\.0\.1, ::1, 0\.0\.0\.0 or ::$",
        "phrase-not-ip",
        &["value"],
    ),
    (
        r"^'(.*)' is not an address: write udp:ip:port, e\.g\. udp:127\.0\.0\.1:9300$",
        "phrase-bad-udp-end",
        &["value"],
    ),
    (
        r"^'(.*)' is not an address: write ip:port \(127\.0\.0\.1:9300, \[::1\]:9300\) or unix:/path$",
        "phrase-bad-end",
        &["value"],
    ),
    (
        r"^system store \((\d+) roots\)$",
        "phrase-tls-system-store",
        &["n"],
    ),
    (
        r"^bundled Mozilla roots \((\d+); the system store had none\)$",
        "phrase-tls-bundled-none",
        &["n"],
    ),
    (
        r"^bundled Mozilla roots \((\d+)\)$",
        "phrase-tls-bundled",
        &["n"],
    ),
    (
        r"^the certificate is not valid for the name we asked for \((.+)\)$",
        "phrase-tls-not-for-name",
        &["detail"],
    ),
    (
        r"^the certificate was refused: (.+)$",
        "phrase-tls-refused",
        &["detail"],
    ),
    (
        r"^the peer ended the handshake with the alert '(.+)'$",
        "phrase-tls-alert",
        &["alert"],
    ),
    (
        r"^the peer's bytes are not TLS \((.+)\)$",
        "phrase-tls-not-tls",
        &["detail"],
    ),
    (
        r"^the peer answered out of turn: (.+)$",
        "phrase-tls-out-of-turn",
        &["detail"],
    ),
    (
        r"^the peer has no TLS version or cipher suite in common with us \((.+)\)$",
        "phrase-tls-incompatible",
        &["detail"],
    ),
    (
        r"^the peer broke the TLS protocol \((.+)\)$",
        "phrase-tls-misbehaved",
        &["detail"],
    ),
    (
        r"^rewrote (\d+) bytes to (\d+)$",
        "phrase-rewrote",
        &["before", "after"],
    ),
    (r"^dropped (\d+) bytes$", "phrase-dropped", &["n"]),
    (r"^held ([\d.]+) ms$", "phrase-held-ms", &["ms"]),
    (
        r"^throttled: held ([\d.]+) ms$",
        "phrase-throttled",
        &["ms"],
    ),
    (
        r"^limit of (\d+) bytes reached: closing both sides$",
        "phrase-limit-reached",
        &["n"],
    ),
    (r"^held (\d+) bytes for you$", "phrase-held-for-you", &["n"]),
    (
        r"^black hole: (\d+) bytes and all after swallowed$",
        "phrase-black-hole",
        &["n"],
    ),
    (r"^sliced into (\d+) writes$", "phrase-sliced", &["n"]),
    (r"^switched on: (.+)$", "phrase-switched-on", &["rule"]),
    (r"^switched off: (.+)$", "phrase-switched-off", &["rule"]),
    // An action's words never hold " (", a match's may: `what` is the
    // shortest, `on` the rest.
    (
        r"^(to server|to client|both ways): (.+?) \((.+)\)$",
        "rule-text",
        &["way", "what", "on"],
    ),
    (r"^rewrite to (\d+) bytes$", "rule-rewrite", &["n"]),
    (r"^delay ([\d.]+)s$", "rule-delay", &["secs"]),
    (
        r"^delay ([\d.]+)s ± ([\d.]+)s$",
        "rule-delay-jitter",
        &["secs", "jitter"],
    ),
    (r"^throttle (\d+) B/s$", "rule-throttle", &["n"]),
    (
        r"^slice (\d+) B every ([\d.]+)s$",
        "rule-slice",
        &["n", "secs"],
    ),
    (r"^slow close ([\d.]+)s$", "rule-slow-close", &["secs"]),
    (r"^limit (\d+) B$", "rule-limit", &["n"]),
    (r"^matches (.*)$", "rule-matches", &["what"]),
    (r"^equals (.*)$", "phrase-equals", &["what"]),
    (r"^starts with (.*)$", "phrase-starts-with", &["what"]),
    (r"^contains (.*)$", "phrase-contains", &["what"]),
    (
        r"^(the client|the server)'s leg was reset \((.+)\); resetting this one$",
        "phrase-leg-reset",
        &["way", "reason"],
    ),
    (
        r"^(the client|the server)'s leg ended with (\d+) bytes still held by rules: sent on at once$",
        "phrase-leg-ended-held",
        &["way", "n"],
    ),
    (
        r"^upstream for (.+): closed after (\d+) s without traffic$",
        "phrase-upstream-idle",
        &["source", "secs"],
    ),
    (
        r"^removed stale socket file (.+)$",
        "phrase-removed-stale",
        &["path"],
    ),
    (
        r"^(\S+) (listens|answers|receives) on every interface: other machines on the network can reach it; bind (\S+) to keep it on this one$",
        "phrase-all-interfaces",
        &["addr", "what", "lo"],
    ),
    (
        r"^the peer did not answer our close frame within (\S+); the connection is closed anyway$",
        "phrase-close-unanswered",
        &["wait"],
    ),
    (
        r"^(\d+) chunks are already held on this leg; this one \((\d+) bytes\) goes on as it is$",
        "phrase-intercept-full",
        &["max", "n"],
    ),
    (
        r"^rules hold (\d+) bytes of datagrams already; this one \((\d+) bytes\) is lost, as a full queue drops$",
        "phrase-held-full",
        &["held", "n"],
    ),
    (
        r"^limit reached: this upstream is closed; the next datagram from (.+) opens a new one$",
        "phrase-udp-limit",
        &["source"],
    ),
    (
        r"^the relay ended with (\d+) bytes of datagrams still held by rules: sent on at once$",
        "phrase-udp-ended-held",
        &["n"],
    ),
    (
        r"^rule (\d+): (UDP has no connection to reset|UDP has no FIN to hold back) \(a UDP relay takes every other rule\)$",
        "phrase-udp-rule",
        &["i", "why"],
    ),
    (
        r"^sendto (\d+) bytes to (.+)$",
        "phrase-step-sendto",
        &["n", "to"],
    ),
    (
        r"^(send|sendall) (\d+) bytes$",
        "phrase-step-send",
        &["call", "n"],
    ),
    (r"^waited (\S+)$", "phrase-step-waited", &["time"]),
    (
        r"^waited for data \(up to (\S+)\)$",
        "phrase-step-waited-data",
        &["time"],
    ),
];

fn phrase(english: &str) -> Option<String> {
    // One pass over the text finds which pattern matches (the first, in
    // table order); only that one is run again for its captures.
    static COMPILED: OnceLock<(regex::RegexSet, Vec<regex::Regex>)> = OnceLock::new();
    let (set, res) = COMPILED.get_or_init(|| {
        let patterns = PHRASES.iter().map(|(p, _, _)| *p);
        (
            regex::RegexSet::new(patterns.clone()).expect("valid patterns"),
            patterns
                .map(|p| regex::Regex::new(p).expect("a valid pattern"))
                .collect(),
        )
    });
    let i = set.matches(english).into_iter().next()?;
    let caps = res[i].captures(english)?;
    let (_, key, names) = PHRASES[i];
    let mut args = FluentArgs::new();
    for (n, name) in names.iter().enumerate() {
        let v = caps.get(n + 1).map_or("", |m| m.as_str());
        args.set(*name, engine_text(v).into_owned());
    }
    Some(tr_args(key, &args))
}

/// An engine error in words, in this thread's language: the operation
/// (socket API, as written), the errno, the OS text and the hint.
pub fn op_error(e: &crate::engine::error::OpError) -> String {
    let mut s = format!("{}: ", e.op);
    match (&e.errno_name, e.errno) {
        (Some(name), Some(n)) => {
            let message = errno_text(name).unwrap_or(e.message.as_str());
            s.push_str(&format!("{name} ({n}) {message}"));
        }
        _ => s.push_str(&engine_text(&e.message)),
    }
    if let Some(h) = &e.hint {
        s.push_str(&t!("error-hint", hint = engine_text(h).into_owned()));
    }
    s
}

/// Why a session closed, in this thread's language (`close-<code>`; an
/// error in its words).
pub fn close_reason(r: &crate::engine::protocol::CloseReason) -> String {
    use crate::engine::protocol::CloseReason;
    match r {
        CloseReason::Error(e) => op_error(e),
        CloseReason::Panicked(m) => t!("close-panicked", message = m.clone()),
        _ => tr(&format!("close-{}", r.code().replace('_', "-"))).to_string(),
    }
}

/// A session kind's name: its stable name in English (`tcp-server`, as
/// JSON Lines has it), words in Chinese (`kind-name-<name>`).
pub fn kind_name(kind: crate::engine::protocol::Kind) -> &'static str {
    if current() == Lang::En {
        return kind.label();
    }
    tr(&format!("kind-name-{}", kind.label().replace(' ', "-")))
}

/// A relay rule in words: the engine's `Rule::describe`, through the
/// same phrases as the engine's "switched on: …" rows, so a rule reads
/// the same in the inspector and in the log.
pub fn rule_text(rule: &crate::engine::rules::Rule) -> String {
    engine_text(&rule.describe()).into_owned()
}

/// The OS's words for an errno, in Chinese where the catalogue has them.
fn errno_text(name: &str) -> Option<&'static str> {
    let key = format!("errno-{name}");
    (current() != Lang::En && has(&key)).then(|| tr(&key))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_catalogues_parse_and_hold_the_same_keys() {
        for lang in Lang::ALL {
            if let Err((_, errors)) = fluent_syntax::parser::parse(lang.source()) {
                panic!("{}: {errors:?}", lang.tag());
            }
        }
        let en: BTreeSet<_> = ids(Lang::En.source()).into_iter().collect();
        let zh: BTreeSet<_> = ids(Lang::Zh.source()).into_iter().collect();
        let only_en: Vec<_> = en.difference(&zh).collect();
        let only_zh: Vec<_> = zh.difference(&en).collect();
        assert!(only_en.is_empty(), "missing in zh-CN.ftl: {only_en:?}");
        assert!(only_zh.is_empty(), "missing in en.ftl: {only_zh:?}");
        assert!(en.len() > 100, "{} keys", en.len());
        let dups = ids(Lang::En.source()).len() - en.len();
        assert_eq!(dups, 0, "a key is defined twice in en.ftl");
    }

    #[test]
    fn a_chinese_text_is_chinese_and_arguments_fill_in() {
        set(Lang::Zh);
        assert_eq!(tr("open"), "打开");
        assert!(t!("messages-n", n = 3).contains('3'));
        set(Lang::En);
        assert_eq!(tr("open"), "Open");
        assert_eq!(t!("messages-n", n = 3), "Messages (3)");
    }

    #[test]
    fn the_locale_picks_the_language() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                pairs
                    .iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| v.to_string())
            }
        };
        assert_eq!(Lang::from_vars(env(&[("LANG", "zh_CN.UTF-8")])), Lang::Zh);
        assert_eq!(Lang::from_vars(env(&[("LANG", "en_GB.UTF-8")])), Lang::En);
        assert_eq!(Lang::from_vars(env(&[])), Lang::En);
        // LC_ALL wins over LANG, an empty one does not count.
        assert_eq!(
            Lang::from_vars(env(&[("LC_ALL", "C"), ("LANG", "zh_CN.UTF-8")])),
            Lang::En
        );
        assert_eq!(
            Lang::from_vars(env(&[("LC_ALL", ""), ("LANG", "zh_CN.GB18030")])),
            Lang::Zh
        );
        assert_eq!(
            Lang::from_vars(env(&[("LC_MESSAGES", "zh_SG"), ("LANG", "de_DE")])),
            Lang::Zh
        );
        assert_eq!(Lang::from_vars(env(&[("LANG", "de_DE.UTF-8")])), Lang::En);
    }

    #[test]
    fn every_option_has_its_words_in_the_catalogue() {
        for def in crate::engine::options::OPTIONS.iter() {
            let id = format!("option-{}-help", option_id(def));
            assert!(has(&id), "no {id}");
            // A label in words (not a C name such as SO_RCVBUF) is translated.
            if def.label.chars().any(|c| c.is_ascii_lowercase()) {
                let id = format!("option-{}", option_id(def));
                assert!(has(&id), "no {id}");
            }
        }
    }

    #[test]
    fn engine_words_are_translated_and_the_rest_kept() {
        set(Lang::Zh);
        let e = crate::engine::error::OpError::io(
            "connect 127.0.0.1:7788",
            &std::io::Error::from_raw_os_error(libc::ECONNREFUSED),
        );
        let s = op_error(&e);
        assert!(
            s.starts_with("connect 127.0.0.1:7788: ECONNREFUSED (111) "),
            "{s}"
        );
        assert!(!s.contains("Connection refused"), "{s}");
        assert!(!s.contains("nothing is listening"), "{s}");
        assert_eq!(engine_text("127.0.0.1:80"), "127.0.0.1:80");
        set(Lang::En);
        assert_eq!(op_error(&e), e.to_string());
    }

    #[test]
    fn phrases_match_the_engine() {
        set(Lang::Zh);
        // Constants of the socket API, preset keys and quoted values stay
        // as they are.
        let constant =
            regex::Regex::new(r"\b[A-Za-z][A-Za-z0-9]*_[A-Za-z0-9_]+\b|“[^”]*”").unwrap();
        // One of each, as the engine writes them.
        for english in [
            "rewrote 5 bytes to 7",
            "dropped 9 bytes",
            "held 200.0 ms",
            "throttled: held 12.5 ms",
            "limit of 100 bytes reached: closing both sides",
            "held 4 bytes for you",
            "black hole: 3 bytes and all after swallowed",
            "sliced into 4 writes",
            "switched off: to server: drop (contains secret)",
            "switched on: both ways: delay 0.2s ± 0.05s (every chunk)",
            "to client: throttle 1024 B/s (starts with GET)",
            "to server: slice 10 B every 0.5s (matches Host: (\\S+))",
            "the client's leg was reset (peer reset the connection (RST)); resetting this one",
            "the server's leg ended with 12 bytes still held by rules: sent on at once",
            "upstream for 127.0.0.1:5000: closed after 60 s without traffic",
            "removed stale socket file /tmp/x.sock",
            "0.0.0.0:7788 listens on every interface: other machines on the network can reach it; bind 127.0.0.1 to keep it on this one",
            "the peer did not answer our close frame within 2s; the connection is closed anyway",
            "64 chunks are already held on this leg; this one (10 bytes) goes on as it is",
            "rules hold 65536 bytes of datagrams already; this one (10 bytes) is lost, as a full queue drops",
            "limit reached: this upstream is closed; the next datagram from 127.0.0.1:5000 opens a new one",
            "the relay ended with 12 bytes of datagrams still held by rules: sent on at once",
            "rule 3: UDP has no connection to reset (a UDP relay takes every other rule)",
            "rule 0: UDP has no FIN to hold back (a UDP relay takes every other rule)",
            "sendto 5 bytes to 127.0.0.1:9",
            "sendall 5 bytes",
            "waited 0.5s",
            "waited for data (up to 2s)",
            "a ping was not answered: automatic pong is off",
            "a rule resets both sides",
            "reset both sides",
            "handshake_timeout 9000 s is out of range: 0.001 to 3600 seconds",
            "a reply delay of 100 s is too long; give at most 60 seconds",
            "SO_RCVBUF takes a size in bytes from 1 to 2147483647; 0 is out of range",
            "TCP_KEEPCNT takes a count from 1 to 127; 200 is out of range",
            "'lots' is not a whole number",
            "backlog 70000 is out of range; use 0 to 65535 (the seed uses 128)",
            "1 connection(s) queued, not yet accepted (listen(5): Linux queues up to 6 before it stops answering)",
            "timed out after 0.507 s: the socket's timeout expired (Python raises socket.timeout)",
            "the socket is non-blocking and the call could not complete now (Python raises BlockingIOError)",
            "'x' has no port; write host:port, e.g. 127.0.0.1:7788 or [::1]:7788",
            "port 70000 is out of range; ports go from 0 to 65535",
            "'abc' is not an address: write ip:port (127.0.0.1:9300, [::1]:9300) or unix:/path",
            "system store (145 roots)",
            "bundled Mozilla roots (150; the system store had none)",
            "the certificate was not issued by a CA we trust (unknown issuer)",
            "the peer ended the handshake with the alert 'HandshakeFailure'",
        ] {
            let zh = engine_text(english);
            assert_ne!(zh, english, "not translated: {english}");
            let zh = constant.replace_all(&zh, " ");
            let words: Vec<&str> = zh
                .split(|c: char| !c.is_ascii_alphabetic())
                .filter(|w| {
                    w.len() > 3
                        && ![
                            "secret",
                            "Host",
                            "sock",
                            "sendto",
                            "sendall",
                            "ping",
                            "pong",
                            "Mozilla",
                            "HandshakeFailure",
                            "Linux",
                            "Python",
                            "timeout",
                            "BlockingIOError",
                            "accept",
                            "listen",
                            "socket",
                            "backlog",
                            "unix",
                        ]
                        .contains(w)
                })
                .collect();
            assert!(words.is_empty(), "{english} -> {zh}");
        }
        assert!(missing().is_empty(), "{:?}", missing());
        set(Lang::En);
    }

    /// Every key the code names literally (`t!("…")`, `tr("…")`,
    /// `Key("…")`) is in both files, whether or not a test ever draws the
    /// screen it is on.
    #[test]
    fn every_key_the_code_names_is_in_both_catalogues() {
        let re = regex::Regex::new(r#"(?:t!\(|\btr\(|Key\()\s*"([a-z][a-z0-9-]*)""#).unwrap();
        let en: BTreeSet<_> = ids(Lang::En.source()).into_iter().collect();
        let zh: BTreeSet<_> = ids(Lang::Zh.source()).into_iter().collect();
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/ui");
        let mut n = 0;
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let src = std::fs::read_to_string(&path).unwrap();
            for c in re.captures_iter(&src) {
                let key = &c[1];
                if key == "key" {
                    continue; // the macro's own documentation
                }
                n += 1;
                assert!(
                    en.contains(key),
                    "{}: {key} is not in en.ftl",
                    path.display()
                );
                assert!(
                    zh.contains(key),
                    "{}: {key} is not in zh-CN.ftl",
                    path.display()
                );
            }
        }
        assert!(n > 400, "{n} keys named");
    }

    /// The preset loader's fixed messages (the form shows them too) each
    /// have their words: a new one without an entry fails here.
    #[test]
    fn every_fixed_preset_message_is_in_the_catalogue() {
        let src = include_str!("../preset.rs");
        let re = regex::Regex::new(r#"field_err\(\s*"[^"]*",\s*"((?:[^"\\]|\\.)*)""#).unwrap();
        let en = catalogue(Lang::En);
        let texts: BTreeSet<String> = ids(Lang::En.source())
            .into_iter()
            .filter(|id| id.starts_with("engine-"))
            .filter_map(|id| {
                let p = en.bundle.get_message(&id)?.value()?;
                Some(
                    en.bundle
                        .format_pattern(p, None, &mut Vec::new())
                        .into_owned(),
                )
            })
            .collect();
        let mut n = 0;
        for c in re.captures_iter(src) {
            let m = c[1].replace("\\\"", "\"").replace("\\\\", "\\");
            if m.len() < 12 {
                continue; // a field's name, not a message
            }
            n += 1;
            assert!(texts.contains(&m), "no engine- entry for: {m}");
        }
        assert!(n > 10, "{n} messages found");
    }

    #[test]
    fn every_hint_the_engine_gives_is_in_the_catalogue() {
        let en: Vec<String> = {
            let cat = catalogue(Lang::En);
            ids(Lang::En.source())
                .into_iter()
                .filter(|id| id.starts_with("engine-"))
                .filter_map(|id| {
                    let p = cat.bundle.get_message(&id)?.value()?;
                    Some(
                        cat.bundle
                            .format_pattern(p, None, &mut Vec::new())
                            .into_owned(),
                    )
                })
                .collect()
        };
        let mut seen = BTreeSet::new();
        for errno in 1..150 {
            for op in [
                "recv x",
                "send x",
                "bind x",
                "connect x",
                "listen x",
                "other",
            ] {
                let e = crate::engine::error::OpError::io(
                    op,
                    &std::io::Error::from_raw_os_error(errno),
                );
                if let Some(h) = e.hint {
                    seen.insert(h);
                }
            }
        }
        assert!(seen.len() > 10);
        for h in seen {
            assert!(
                en.contains(&h),
                "hint not in en.ftl as an engine- entry: {h}"
            );
        }
    }
}
