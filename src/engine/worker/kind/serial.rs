//! Serial ports in the loop: opening and setting up the terminal, and
//! the modem-line and break commands. Reading and writing it is the
//! stream path's (see `Io`).

use super::*;

impl Worker {
    /// Serial ports: open and set up the terminal, report the settings as
    /// tcgetattr reads them back and the modem lines, then read and write
    /// it as a stream.
    pub(in crate::engine::worker) fn setup_serial(
        &mut self,
        spec: &crate::engine::serial::SerialSpec,
    ) -> Result<(), CloseReason> {
        if self.tls.is_some() {
            return Err(CloseReason::Error(OpError::plain(
                "tls setup",
                "TLS runs over TCP, not over a serial port",
            )));
        }
        if !self.spec.auto_read {
            return Err(CloseReason::Error(OpError::plain(
                "serial",
                "a serial session reads automatically (auto_read: true)",
            )));
        }
        let tty = crate::engine::serial::Tty::open(spec).map_err(CloseReason::Error)?;
        self.poll
            .register(tty.fd(), Token(0), Interest::READABLE)
            .map_err(|e| CloseReason::Error(OpError::io("epoll_ctl", &e)))?;
        let local = Addr::Path(spec.path.display().to_string());
        let peer = Addr::Path(tty.device.display().to_string());
        self.cx.sink.control(
            self.cx.top,
            EventKind::Connected {
                local,
                peer: peer.clone(),
                fd: tty.fd(),
            },
        );
        self.cx
            .sink
            .control(self.cx.top, EventKind::Options(tty.settings(spec).into()));
        self.cx
            .sink
            .control(self.cx.top, EventKind::Modem(tty.modem()));
        self.adopt(Io::Tty(tty), self.cx.top, peer, true, true)
    }

    /// Runs a serial-port call and reports what it says: the modem lines,
    /// a break sent, or why the call failed. Other sessions have no port.
    pub(in crate::engine::worker) fn serial(
        &mut self,
        target: SessionId,
        call: impl FnOnce(&crate::engine::serial::Tty) -> EventKind,
    ) {
        let kind = match self.conns.get(&target.child).map(|c| &c.io) {
            Some(Io::Tty(t)) => call(t),
            _ => EventKind::Error(OpError::plain(
                "modem lines",
                "DTR, RTS, break and the modem lines belong to serial sessions",
            )),
        };
        match kind {
            EventKind::Modem(_) => self.cx.sink.latest(target, kind),
            _ => self.cx.sink.control(target, kind),
        }
    }
}
