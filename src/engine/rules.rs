//! A relay's rules: what happens to each chunk on its way from one side
//! to the other (Toxiproxy's toxics, plus match and rewrite). Pure logic:
//! a chunk and the time go in, what to send when comes out; the relay
//! (engine/worker/kind/relay.rs) does the I/O.
//!
//! Rules run in order on every chunk going their way. A rule whose match
//! fails is skipped; the rest still run, on the chunk as earlier rules left
//! it (a rewrite, then a delay). Rules are switched on and off live.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use super::respond::Match;
use super::written::Typed;

/// Longest delay, pause or slow close a rule may ask for: held chunks
/// wait in memory.
pub const MAX_HOLD: Duration = Duration::from_secs(600);
/// Rules one relay may have.
pub const MAX_RULES: usize = 64;
/// Chunks one connection's way may hold for the user (intercept); past
/// it, a chunk is forwarded as it is, and said so.
pub const MAX_INTERCEPTED: usize = 64;
/// How long an intercepted chunk waits for the user before it goes on
/// as it is.
pub const INTERCEPT_TIMEOUT: Duration = Duration::from_secs(60);

/// Which way a rule works.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Way {
    /// What clients send.
    ToServer,
    /// What the server sends back.
    ToClient,
    /// Both.
    Both,
}

impl Way {
    /// Whether a chunk going to the server (`to_server`) or back is this way.
    pub fn covers(self, to_server: bool) -> bool {
        match self {
            Way::Both => true,
            Way::ToServer => to_server,
            Way::ToClient => !to_server,
        }
    }

    /// `to server`, `to client`, `both ways`.
    pub fn label(self) -> &'static str {
        match self {
            Way::ToServer => "to server",
            Way::ToClient => "to client",
            Way::Both => "both ways",
        }
    }
}

/// What a rule does to a chunk it matches.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Replace what matched (a regex's `$1`, `${name}` may be used).
    Rewrite(Typed),
    /// Throw the chunk away.
    Drop,
    /// Hold it this long, plus up to `jitter` more (order is kept).
    Delay {
        /// Always.
        fixed: Duration,
        /// Up to this much more, at random.
        jitter: Duration,
    },
    /// At most this many bytes per second.
    Throttle(u64),
    /// Send it in writes of `size` bytes, `pause` apart.
    Slice {
        /// Bytes per write.
        size: usize,
        /// Between writes.
        pause: Duration,
    },
    /// Reset both sides (RST).
    Reset,
    /// Pass a FIN on only this long after it came.
    SlowClose(Duration),
    /// Forward this many bytes in all, then close both sides.
    Limit(u64),
    /// Forward nothing more this way from the first match on; stay open.
    BlackHole,
    /// Hold the chunk for the user, who forwards it (edited or not) or
    /// drops it; what comes after waits behind it.
    Intercept,
}

impl Action {
    /// Why a UDP relay cannot do this (None: it can): a datagram has no
    /// connection to reset and no FIN to hold back.
    pub fn not_for_datagrams(&self) -> Option<&'static str> {
        match self {
            Action::Reset => Some("UDP has no connection to reset"),
            Action::SlowClose(_) => Some("UDP has no FIN to hold back"),
            _ => None,
        }
    }

    /// A short name, as the log says it.
    pub fn label(&self) -> &'static str {
        match self {
            Action::Rewrite(_) => "rewrite",
            Action::Drop => "drop",
            Action::Delay { .. } => "delay",
            Action::Throttle(_) => "throttle",
            Action::Slice { .. } => "slice",
            Action::Reset => "reset",
            Action::SlowClose(_) => "slow close",
            Action::Limit(_) => "limit",
            Action::BlackHole => "black hole",
            Action::Intercept => "intercept",
        }
    }
}

/// One rule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rule {
    /// Which way.
    pub way: Way,
    /// Which chunks (None: every chunk).
    pub matching: Option<(Match, Typed)>,
    /// What to do.
    pub action: Action,
    /// Switched on (rules can be switched live).
    pub enabled: bool,
}

impl Rule {
    fn hits(&self, chunk: &[u8]) -> bool {
        match &self.matching {
            None => true,
            Some((m, pattern)) => m.hit(chunk, pattern),
        }
    }

    /// The rule in a few words, for the log and the app.
    pub fn describe(&self) -> String {
        let what = match &self.action {
            Action::Rewrite(t) => format!("rewrite to {} bytes", t.len()),
            Action::Delay { fixed, jitter } if jitter.is_zero() => {
                format!("delay {}s", fixed.as_secs_f64())
            }
            Action::Delay { fixed, jitter } => {
                format!("delay {}s ± {}s", fixed.as_secs_f64(), jitter.as_secs_f64())
            }
            Action::Throttle(b) => format!("throttle {b} B/s"),
            Action::Slice { size, pause } => {
                format!("slice {size} B every {}s", pause.as_secs_f64())
            }
            Action::SlowClose(d) => format!("slow close {}s", d.as_secs_f64()),
            Action::Limit(n) => format!("limit {n} B"),
            a => a.label().to_string(),
        };
        let on = match &self.matching {
            None => "every chunk".to_string(),
            Some((Match::Regex(re), _)) => {
                format!("matches {}", super::codec::excerpt(re.as_str(), 24))
            }
            Some((m, p)) => format!(
                "{} {}",
                m.label(),
                super::codec::excerpt(&String::from_utf8_lossy(p), 24)
            ),
        };
        format!("{}: {what} ({on})", self.way.label())
    }
}

/// What the rules made of a chunk.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Verdict {
    /// Pieces to send, each not before its instant (in order).
    pub send: Vec<(Instant, Vec<u8>)>,
    /// Reset both sides now.
    pub reset: bool,
    /// Close both sides once what is held is sent.
    pub close: bool,
    /// Rules that acted, by index, and what they did in words.
    pub acted: Vec<(usize, String)>,
    /// An intercept rule took the chunk (as earlier rules left it): it
    /// waits for the user.
    pub intercepted: Option<Vec<u8>>,
}

/// One way's state between chunks.
#[derive(Debug, Default)]
pub struct Flow {
    /// Chunks held back, each until its instant, oldest first.
    pub held: VecDeque<(Instant, Vec<u8>)>,
    /// Their bytes (they count against the partner's send queue).
    pub held_bytes: usize,
    /// Bytes let through so far (for `Limit`).
    passed: u64,
    /// When the throttle has room again.
    throttle_free: Option<Instant>,
    /// A black hole swallowed this way.
    swallowed: bool,
    /// The FIN to pass on, held until then (slow close, or behind held data).
    pub fin_at: Option<Instant>,
    /// A limit was reached: both sides close once what is held is sent.
    pub close_when_sent: bool,
    /// Jitter's random state.
    seed: u64,
    /// Chunks held for the user, oldest first: id, bytes, when they go on
    /// as they are.
    pub intercepted: VecDeque<(u64, Vec<u8>, Instant)>,
    /// Chunks that came while one is held, waiting (rules not yet run).
    pub behind: VecDeque<Vec<u8>>,
    /// The last intercepted chunk's id.
    next_id: u64,
    /// How far apart ids are (0 counts as 1): two flows that share one
    /// leg's events (a UDP relay's upstream) take turns, odd and even.
    id_step: u64,
}

impl Flow {
    /// A flow whose intercepted chunks have ids of their own: even for
    /// `second == false`, odd otherwise, so two flows on one leg never
    /// give the same id (and `Leg::held_way` tells their ways apart).
    pub fn interleaved(second: bool) -> Flow {
        Flow {
            next_id: u64::from(second),
            id_step: 2,
            ..Flow::default()
        }
    }

    /// Whether the user holds chunk `id` here.
    pub fn holds(&self, id: u64) -> bool {
        self.intercepted.iter().any(|(i, _, _)| *i == id)
    }

    /// Whether anything is held: delayed, for the user, or behind.
    pub fn is_idle(&self) -> bool {
        self.held.is_empty() && self.intercepted.is_empty() && self.behind.is_empty()
    }

    /// The next instant something held is due.
    pub fn next_due(&self) -> Option<Instant> {
        [
            self.held.front().map(|(t, _)| *t),
            // A FIN behind a chunk the user holds waits for the user.
            self.fin_at.filter(|_| !self.blocked()),
            self.intercepted.front().map(|(_, _, t)| *t),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Holds a chunk for the user; its id.
    pub fn intercept(&mut self, data: Vec<u8>, now: Instant) -> u64 {
        self.next_id += self.id_step.max(1);
        self.held_bytes += data.len();
        self.intercepted
            .push_back((self.next_id, data, now + INTERCEPT_TIMEOUT));
        self.next_id
    }

    /// Takes the held chunk `id` back (to forward or drop it).
    pub fn take_intercepted(&mut self, id: u64) -> Option<Vec<u8>> {
        let at = self.intercepted.iter().position(|(i, _, _)| *i == id)?;
        let (_, d, _) = self.intercepted.remove(at)?;
        self.held_bytes -= d.len();
        Some(d)
    }

    /// Everything held, in the order it would have gone: delayed chunks,
    /// then those held for the user, then those waiting behind them.
    pub fn drain_all(&mut self) -> Vec<Vec<u8>> {
        self.held_bytes = 0;
        let held = self.held.drain(..).map(|(_, d)| d);
        let user = self.intercepted.drain(..).map(|(_, d, _)| d);
        held.chain(user).chain(self.behind.drain(..)).collect()
    }

    /// Whether chunks must wait behind one the user holds.
    pub fn blocked(&self) -> bool {
        !self.intercepted.is_empty()
    }

    /// Puts a chunk behind the held ones.
    pub fn wait_behind(&mut self, data: Vec<u8>) {
        self.held_bytes += data.len();
        self.behind.push_back(data);
    }

    /// The next chunk that waited behind, once nothing is held.
    pub fn next_behind(&mut self) -> Option<Vec<u8>> {
        if self.blocked() {
            return None;
        }
        let d = self.behind.pop_front()?;
        self.held_bytes -= d.len();
        Some(d)
    }

    /// Takes what is due at `now`, in order.
    pub fn due(&mut self, now: Instant) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        while self.held.front().is_some_and(|(t, _)| *t <= now) {
            if let Some((_, d)) = self.held.pop_front() {
                self.held_bytes -= d.len();
                out.push(d);
            }
        }
        out
    }

    /// Holds what a verdict sends; false when it can all go at once.
    pub fn hold(&mut self, send: Vec<(Instant, Vec<u8>)>, now: Instant) -> Vec<Vec<u8>> {
        let mut now_out = Vec::new();
        for (t, d) in send {
            // Order is kept: nothing overtakes what is held.
            if t <= now && self.held.is_empty() {
                now_out.push(d);
            } else {
                self.held_bytes += d.len();
                self.held.push_back((t, d));
            }
        }
        now_out
    }

    /// A small random number for jitter (xorshift; no secret depends on it).
    fn random_below(&mut self, n: u128) -> u128 {
        if self.seed == 0 {
            self.seed = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0x9E37_79B9_7F4A_7C15, |d| d.as_nanos() as u64)
                | 1;
        }
        let mut x = self.seed;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.seed = x;
        if n == 0 { 0 } else { u128::from(x) % n }
    }

    /// When a FIN that came at `now` should be passed on: after what is
    /// held, and after the slow close rules this way. None: at once.
    pub fn fin(&self, rules: &[Rule], to_server: bool, now: Instant) -> Option<Instant> {
        let wait = rules
            .iter()
            .filter(|r| r.enabled && r.way.covers(to_server))
            .filter_map(|r| match r.action {
                Action::SlowClose(d) => Some(d),
                _ => None,
            })
            .max();
        let last = self.held.back().map(|(t, _)| *t);
        if wait.is_none() && last.is_none() && !self.blocked() && self.behind.is_empty() {
            return None;
        }
        Some(last.unwrap_or(now).max(now + wait.unwrap_or_default()))
    }

    /// Runs the rules on one chunk going `to_server` (or back).
    pub fn apply(
        &mut self,
        rules: &[Rule],
        to_server: bool,
        chunk: Vec<u8>,
        now: Instant,
    ) -> Verdict {
        let mut v = Verdict::default();
        // Swallowed while a black hole this way stays switched on.
        if self.swallowed
            && rules
                .iter()
                .any(|r| r.enabled && r.way.covers(to_server) && r.action == Action::BlackHole)
        {
            return v;
        }
        self.swallowed = false;
        let mut data = chunk;
        // Pieces go no earlier than what is already held.
        let mut at = self.held.back().map_or(now, |(t, _)| (*t).max(now));
        let mut slice: Option<(usize, Duration)> = None;
        for (i, r) in rules.iter().enumerate() {
            if !r.enabled || !r.way.covers(to_server) || !r.hits(&data) {
                continue;
            }
            match &r.action {
                Action::Rewrite(with) => {
                    let before = data.len();
                    data = match &r.matching {
                        Some((m, pattern)) => m.rewrite(&data, pattern, with),
                        None => with.to_vec(),
                    };
                    v.acted
                        .push((i, format!("rewrote {before} bytes to {}", data.len())));
                }
                Action::Drop => {
                    v.acted.push((i, format!("dropped {} bytes", data.len())));
                    return v;
                }
                Action::Delay { fixed, jitter } => {
                    let extra = self.random_below(jitter.as_nanos());
                    let d = *fixed + Duration::from_nanos(extra as u64);
                    at += d;
                    v.acted
                        .push((i, format!("held {:.1} ms", d.as_secs_f64() * 1000.0)));
                }
                Action::Throttle(rate) => {
                    let rate = (*rate).max(1);
                    let start = self.throttle_free.map_or(at, |f| f.max(at));
                    let took = Duration::from_secs_f64(data.len() as f64 / rate as f64);
                    self.throttle_free = Some(start + took);
                    if start > at {
                        v.acted.push((
                            i,
                            format!(
                                "throttled: held {:.1} ms",
                                (start - at).as_secs_f64() * 1000.0
                            ),
                        ));
                    }
                    at = start;
                }
                Action::Slice { size, pause } => slice = Some(((*size).max(1), *pause)),
                Action::Reset => {
                    v.acted.push((i, "reset both sides".into()));
                    v.reset = true;
                    return v;
                }
                // Applies to the FIN, not to data (see `fin`).
                Action::SlowClose(_) => {}
                Action::Limit(n) => {
                    let room = n.saturating_sub(self.passed);
                    if data.len() as u64 >= room {
                        data.truncate(room as usize);
                        v.close = true;
                        v.acted
                            .push((i, format!("limit of {n} bytes reached: closing both sides")));
                    }
                }
                Action::Intercept => {
                    v.acted
                        .push((i, format!("held {} bytes for you", data.len())));
                    v.intercepted = Some(data);
                    return v;
                }
                Action::BlackHole => {
                    self.swallowed = true;
                    v.acted.push((
                        i,
                        format!("black hole: {} bytes and all after swallowed", data.len()),
                    ));
                    return v;
                }
            }
        }
        self.passed += data.len() as u64;
        if data.is_empty() {
            return v;
        }
        match slice {
            Some((size, pause)) if data.len() > size => {
                let n = data.len().div_ceil(size);
                for (k, piece) in data.chunks(size).enumerate() {
                    v.send.push((at + pause * k as u32, piece.to_vec()));
                }
                if let Some((i, _)) = rules
                    .iter()
                    .enumerate()
                    .find(|(_, r)| matches!(r.action, Action::Slice { .. }))
                {
                    v.acted.push((i, format!("sliced into {n} writes")));
                }
            }
            _ => v.send.push((at, data)),
        }
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::respond::BytesRegex;

    fn rule(way: Way, matching: Option<(Match, Typed)>, action: Action) -> Rule {
        Rule {
            way,
            matching,
            action,
            enabled: true,
        }
    }

    #[test]
    fn rules_run_in_order_on_their_way_only() {
        let now = Instant::now();
        let rules = vec![
            rule(
                Way::ToServer,
                Some((
                    Match::Regex(BytesRegex::new("GET (\\S+)").unwrap()),
                    Typed::default(),
                )),
                Action::Rewrite(b"GET /other$1".to_vec().into()),
            ),
            rule(
                Way::Both,
                None,
                Action::Delay {
                    fixed: Duration::from_millis(100),
                    jitter: Duration::ZERO,
                },
            ),
        ];
        let mut f = Flow::default();
        let v = f.apply(&rules, true, b"GET /x HTTP/1.0".to_vec(), now);
        assert_eq!(
            v.send,
            vec![(
                now + Duration::from_millis(100),
                b"GET /other/x HTTP/1.0".to_vec()
            )]
        );
        assert_eq!(v.acted.len(), 2);
        // Back to the client: only the delay.
        let mut back = Flow::default();
        let v = back.apply(&rules, false, b"GET /y".to_vec(), now);
        assert_eq!(v.send[0].1, b"GET /y");
        // Switched off, a rule does nothing.
        let mut off = rules.clone();
        off[0].enabled = false;
        off[1].enabled = false;
        let v = Flow::default().apply(&off, true, b"GET /x".to_vec(), now);
        assert_eq!(v.send, vec![(now, b"GET /x".to_vec())]);
    }

    #[test]
    fn held_chunks_keep_their_order_and_come_out_when_due() {
        let now = Instant::now();
        let rules = vec![rule(
            Way::ToServer,
            Some((Match::Contains, b"slow".to_vec().into())),
            Action::Delay {
                fixed: Duration::from_millis(50),
                jitter: Duration::ZERO,
            },
        )];
        let mut f = Flow::default();
        let v = f.apply(&rules, true, b"slow one".to_vec(), now);
        assert!(f.hold(v.send, now).is_empty());
        // Not delayed itself, but it must not overtake the held one.
        let v = f.apply(&rules, true, b"fast".to_vec(), now);
        assert!(f.hold(v.send, now).is_empty());
        assert_eq!(f.held_bytes, 12);
        assert!(f.due(now).is_empty());
        let later = now + Duration::from_millis(50);
        assert_eq!(f.due(later), vec![b"slow one".to_vec(), b"fast".to_vec()]);
        assert_eq!(f.held_bytes, 0);
    }

    #[test]
    fn drop_reset_limit_black_hole_throttle_slice_and_slow_close() {
        let now = Instant::now();
        let one = |a: Action| vec![rule(Way::Both, None, a)];
        let mut f = Flow::default();
        assert!(
            f.apply(&one(Action::Drop), true, b"x".to_vec(), now)
                .send
                .is_empty()
        );
        assert!(f.apply(&one(Action::Reset), true, b"x".to_vec(), now).reset);

        let mut f = Flow::default();
        let limit = one(Action::Limit(5));
        let v = f.apply(&limit, true, b"abc".to_vec(), now);
        assert!(!v.close);
        let v = f.apply(&limit, true, b"defgh".to_vec(), now);
        assert_eq!(v.send, vec![(now, b"de".to_vec())]);
        assert!(v.close);

        let mut f = Flow::default();
        let hole = vec![rule(
            Way::Both,
            Some((Match::Prefix, b"!".to_vec().into())),
            Action::BlackHole,
        )];
        assert_eq!(f.apply(&hole, true, b"a".to_vec(), now).send.len(), 1);
        assert!(f.apply(&hole, true, b"!b".to_vec(), now).send.is_empty());
        assert!(
            f.apply(&hole, true, b"c".to_vec(), now).send.is_empty(),
            "all after"
        );

        let mut f = Flow::default();
        let slow = one(Action::Throttle(100));
        let v = f.apply(&slow, true, vec![0; 50], now);
        assert_eq!(v.send[0].0, now);
        let v = f.apply(&slow, true, vec![0; 50], now);
        assert_eq!(v.send[0].0, now + Duration::from_millis(500));

        let mut f = Flow::default();
        let v = f.apply(
            &one(Action::Slice {
                size: 2,
                pause: Duration::from_millis(10),
            }),
            true,
            b"abcde".to_vec(),
            now,
        );
        let pieces: Vec<_> = v.send.iter().map(|(t, d)| (*t - now, d.clone())).collect();
        assert_eq!(
            pieces,
            vec![
                (Duration::ZERO, b"ab".to_vec()),
                (Duration::from_millis(10), b"cd".to_vec()),
                (Duration::from_millis(20), b"e".to_vec()),
            ]
        );

        let f = Flow::default();
        let close = one(Action::SlowClose(Duration::from_secs(1)));
        assert_eq!(f.fin(&close, true, now), Some(now + Duration::from_secs(1)));
        assert_eq!(Flow::default().fin(&[], true, now), None);
    }

    #[test]
    fn jitter_stays_in_its_range() {
        let now = Instant::now();
        let rules = vec![rule(
            Way::Both,
            None,
            Action::Delay {
                fixed: Duration::from_millis(10),
                jitter: Duration::from_millis(5),
            },
        )];
        let mut seen = std::collections::HashSet::new();
        for _ in 0..200 {
            let mut f = Flow::default();
            let t = f.apply(&rules, true, b"x".to_vec(), now).send[0].0 - now;
            assert!(
                t >= Duration::from_millis(10) && t < Duration::from_millis(15),
                "{t:?}"
            );
            seen.insert(t);
        }
        assert!(seen.len() > 1, "jitter varies");
    }
}
