//! A socketpair: both ends in one session, children 1 and 2; the script
//! drives end 1 and the responder answers on end 2; the session ends when
//! both ends have.

use super::*;

impl Worker {
    pub(in crate::engine::worker) fn setup_pair(&mut self) -> Result<(), CloseReason> {
        let (a, b) = Socket::pair(Domain::UNIX, Type::STREAM, None)
            .map_err(|e| CloseReason::Error(OpError::io("socketpair", &e)))?;
        for (i, s) in [a, b].into_iter().enumerate() {
            let id = self.cx.top.child(i as u32 + 1);
            self.cx.sink.control(
                id,
                EventKind::SocketCreated {
                    fd: s.as_raw_fd(),
                    family: "AF_UNIX",
                    socktype: "SOCK_STREAM",
                },
            );
            self.apply_options(&s, id);
            self.add_stream(s, id, i == 0)?;
        }
        self.next_child = 3;
        // Scripts start once both ends exist.
        self.advance_script_conn(1);
        Ok(())
    }
}
