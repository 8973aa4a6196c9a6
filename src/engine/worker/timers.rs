//! Time in the loop: when the next timer is due, and what is due then
//! (script waits, read timeouts, held replies, TLS handshake deadlines).

use super::*;

impl Worker {
    pub(super) fn next_timeout(&self) -> Option<Duration> {
        if !self.ready_again.is_empty() {
            return Some(Duration::ZERO);
        }
        let t = now();
        let mut next: Option<Instant> = self.accept_retry_at;
        let mut consider = |i: Instant| {
            next = Some(next.map_or(i, |n| n.min(i)));
        };
        let rt = if self.spec.auto_read {
            self.spec.read_timeout
        } else {
            None
        };
        for c in self.conns.values() {
            if let Some(w) = c.script.wait_until {
                consider(w);
            }
            if let Some((w, _, _)) = c.delayed.front() {
                consider(*w);
            }
            if let Some(w) = c.handshake_deadline {
                consider(w);
            }
            if let Some(w) = c.connecting {
                consider(w);
            }
            if let Some(w) = c.flow.as_ref().and_then(|f| f.next_due()) {
                consider(w);
            }
            if let Some((w, _)) = &c.ws_closing {
                consider(*w);
            }
            // Silence counts only while we read.
            if let Some(rt) = rt
                && c.st.read == ReadSide::Open
            {
                consider(c.last_rx + rt);
            }
            // A connection that keeps receiving reports on those turns; a
            // turn of its own is for the figures after traffic stops. (A
            // deadline per period made a busy echo server at 10,000
            // connections take more turns for stats than round trips.)
            if c.stats_dirty || c.meter.moving {
                consider(self.last_stats.max(c.last_rx) + STATS_EVERY);
            }
        }
        if let Some(d) = &self.dgram {
            if let Some(w) = d.script.wait_until {
                consider(w);
            }
            if let Some((w, _, _)) = d.delayed.front() {
                consider(*w);
            }
            if let Some(rt) = rt {
                consider(d.last_rx + rt);
            }
            if d.stats_dirty || d.meter.moving {
                consider(self.last_stats.max(d.last_rx) + STATS_EVERY);
            }
        }
        if let Some(w) = self.udp_next_due() {
            consider(w);
        }
        if self.cx.sink.has_pending() {
            consider(t + Duration::from_millis(10));
        }
        next.map(|n| n.saturating_duration_since(t))
    }

    pub(super) fn timers(&mut self) {
        let t = now();
        let due: Vec<u32> = self
            .conns
            .iter()
            .filter(|(_, c)| c.delayed.front().is_some_and(|(w, _, _)| t >= *w))
            .map(|(k, _)| *k)
            .collect();
        for child in due {
            while let Some(c) = self.conns.get_mut(&child)
                && !c.st.is_closing()
                && c.delayed.front().is_some_and(|(w, _, _)| t >= *w)
                && let Some((_, r, kind)) = c.delayed.pop_front()
            {
                c.delayed_bytes -= r.data.len();
                self.send_reply(child, r, kind);
            }
            self.flush_conn(child);
        }
        while let Some(d) = &mut self.dgram
            && d.delayed.front().is_some_and(|(w, _, _)| t >= *w)
            && let Some((_, r, to)) = d.delayed.pop_front()
        {
            self.send_dgram_to(r.data.into_bytes(), Some(to));
        }
        let children: Vec<u32> = self
            .conns
            .iter()
            .filter(|(_, c)| c.script.wait_until.is_some_and(|w| t >= w))
            .map(|(k, _)| *k)
            .collect();
        for c in children {
            self.advance_script_conn(c);
        }
        if self
            .dgram
            .as_ref()
            .is_some_and(|d| d.script.wait_until.is_some_and(|w| t >= w))
        {
            self.advance_script_dgram();
        }
        self.handshake_timeouts(t);
        self.connect_timeouts(t);
        self.release_held(t);
        self.udp_release_held(t);
        self.udp_close(t, None);
        self.close_waits(t);
        let Some(rt) = self.spec.read_timeout.filter(|_| self.spec.auto_read) else {
            return;
        };
        let close = self.spec.close_on_read_timeout;
        let timeout_reason = || {
            CloseReason::Error(
                OpError::plain("recv", format!("nothing received for {}", ms(rt))).with_hint(
                    "the read timeout expired; raise it or turn close_on_read_timeout off",
                ),
            )
        };
        for c in self.conns.values_mut() {
            if c.st.reading() && t >= c.last_rx + rt {
                c.last_rx = t;
                self.cx.sink.control(
                    c.id,
                    EventKind::Timeout {
                        op: "recv",
                        after: rt,
                    },
                );
                if close {
                    c.st.close(timeout_reason());
                }
            }
        }
        if let Some(d) = &mut self.dgram
            && t >= d.last_rx + rt
        {
            d.last_rx = t;
            self.cx.sink.control(
                d.id,
                EventKind::Timeout {
                    op: "recv",
                    after: rt,
                },
            );
            if close {
                self.end = Some(timeout_reason());
            }
        }
    }

    /// Ends WebSocket connections whose peer has not answered our close
    /// frame in time.
    pub(super) fn close_waits(&mut self, t: Instant) {
        for c in self.conns.values_mut() {
            if let Some((w, _)) = &c.ws_closing
                && t >= *w
                && let Some((_, r)) = c.ws_closing.take()
            {
                self.cx.sink.control(
                    c.id,
                    EventKind::Warning {
                        code: "close_unanswered",
                        message: format!(
                            "the peer did not answer our close frame within {}; the connection is closed anyway",
                            ms(WS_CLOSE_WAIT)
                        ),
                    },
                );
                c.st.close(r);
            }
        }
    }

    /// Ends connections whose TLS or WebSocket handshake has not finished
    /// in time.
    pub(super) fn handshake_timeouts(&mut self, t: Instant) {
        let limit = self
            .spec
            .tls
            .as_ref()
            .map_or(crate::engine::tls::DEFAULT_HANDSHAKE_TIMEOUT, |s| {
                s.handshake_timeout()
            });
        let (op, hint) = if self.spec.kind.is_websocket() {
            (
                "websocket handshake",
                "the peer connected but did not finish the WebSocket upgrade; is it a WebSocket endpoint?",
            )
        } else {
            (
                "tls handshake",
                "the peer connected but did not complete TLS; raise handshake_timeout if it is only slow",
            )
        };
        for c in self.conns.values_mut() {
            let Some(w) = c.handshake_deadline else {
                continue;
            };
            if c.layer.as_ref().is_none_or(|s| s.ready()) || c.st.is_closing() {
                c.handshake_deadline = None;
            } else if t >= w {
                c.handshake_deadline = None;
                self.cx
                    .sink
                    .control(c.id, EventKind::Timeout { op, after: limit });
                c.st.close(CloseReason::Error(
                    OpError::plain(
                        op,
                        format!("the handshake did not finish within {}", ms(limit)),
                    )
                    .with_hint(hint),
                ));
            }
        }
    }
}
