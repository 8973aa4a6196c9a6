//! How a worker is driven: the [`React`] calls a reactor (or its own
//! thread) makes, and moving what it watches to a reactor's poll.

use super::*;

impl Worker {
    /// Registers what the session watches in a new poll (a reactor's).
    fn attach_to(&mut self, reg: Reg) -> io::Result<()> {
        // Dropping the old poll closes it, and what was registered there
        // with it; registering in the new one reports what is ready now.
        self.poll = reg;
        if let Some(l) = &self.listener {
            self.poll
                .register(l.as_raw_fd(), LISTENER, Interest::READABLE)?;
        }
        if let Some(d) = &self.dgram {
            self.poll
                .register(d.sock.as_raw_fd(), DGRAM, Interest::READABLE)?;
        }
        for (child, c) in &self.conns {
            let interest = match c.reg {
                Registration::Manual => continue,
                Registration::Read => Interest::READABLE,
                Registration::ReadWrite => Interest::READABLE | Interest::WRITABLE,
            };
            self.poll
                .register(c.io.fd(), Token(*child as usize), interest)?;
        }
        Ok(())
    }
}

impl React for Worker {
    fn cx(&mut self) -> &mut Context {
        &mut self.cx
    }

    fn id(&self) -> SessionId {
        self.unit_id()
    }

    fn start(&mut self) {
        if let Err(reason) = self.setup() {
            self.end = Some(reason);
        }
    }

    fn keeps_thread(&self) -> bool {
        // A manual recv or send on a blocking socket is a real blocking
        // call, as in step mode: it must not hold up other sessions.
        !self.spec.auto_read
    }

    fn run_here(&mut self) {
        self.event_loop();
    }

    fn attach(&mut self, reg: Reg) {
        if let Err(e) = self.attach_to(reg) {
            self.end = Some(CloseReason::Error(
                OpError::io("epoll_ctl", &e)
                    .with_hint("the system's limit of watched descriptors (fs.epoll.max_user_watches) may be reached"),
            ));
        }
    }

    fn ready(&mut self, token: u32, ev: &mio::event::Event) {
        self.on_ready(Token(token as usize), ev);
        // The read is done with the thread's buffer: give it back now, not
        // at the end of the turn. A reactor serves up to a poll's worth of
        // units before any turn ends, and each one that found the buffer
        // lent out made its own 64 KiB: 10,000 held connections reached
        // 137 MiB, most of it buffers freed into a heap that stayed big.
        self.rx.give_back();
    }

    fn mail(&mut self) {
        self.drain_commands();
    }

    fn after(&mut self) {
        self.after_turn();
        self.family_turn();
    }

    fn deadline(&self) -> Option<Instant> {
        self.next_timeout().map(|d| now() + d)
    }

    fn ended(&self) -> bool {
        // A server ends once the children it spread over other units have.
        self.end.is_some() && self.children_apart() == 0
    }

    fn stop(&mut self, reason: CloseReason) {
        self.end.get_or_insert(reason);
    }

    fn finish(&mut self) -> Option<End> {
        let end = self.shutdown_all();
        (!self.is_child_unit()).then_some(end)
    }
}
