//! Stream servers (TCP and Unix): bind and listen, accept with a back-off
//! when descriptors run out, and the children (spread over the reactors
//! by worker/spread.rs); a server's end closes its children first.

use super::*;

impl Worker {
    pub(in crate::engine::worker) fn setup_tcp_server(
        &mut self,
        local: SocketAddr,
        backlog: i32,
    ) -> Result<(), CloseReason> {
        let domain = Domain::for_address(local);
        let sock = self.new_socket(domain, Type::STREAM)?;
        // Servers take SO_REUSEADDR unless told otherwise, as the
        // seed's servers and most tools do: a restarted server
        // must not fail for a minute over connections in TIME_WAIT.
        // (It never lets two listeners share a port.)
        if !self
            .spec
            .options
            .iter()
            .any(|o| o.name() == OptName::ReuseAddress)
        {
            Arc::make_mut(&mut self.spec)
                .options
                .insert(0, SockOpt::flag(OptName::ReuseAddress, true));
        }
        self.apply_options(&sock, self.cx.top);
        sock.bind(&local.into())
            .map_err(|e| CloseReason::Error(OpError::io(format!("bind {local}"), &e)))?;
        self.listen(sock, backlog, None)
    }

    pub(in crate::engine::worker) fn setup_unix_server(
        &mut self,
        path: PathBuf,
        backlog: i32,
        stale: StalePolicy,
    ) -> Result<(), CloseReason> {
        self.check_stale(&path, stale)?;
        let sock = self.new_socket(Domain::UNIX, Type::STREAM)?;
        self.apply_options(&sock, self.cx.top);
        let addr = crate::engine::spec::unix_addr(&path)
            .map_err(|e| CloseReason::Error(OpError::io(format!("bind {}", path.display()), &e)))?;
        sock.bind(&addr)
            .map_err(|e| CloseReason::Error(OpError::io(format!("bind {}", path.display()), &e)))?;
        self.listen(sock, backlog, Some(path))
    }

    pub(in crate::engine::worker) fn accept_all(&mut self) {
        // An ended server waiting for its children accepts no more.
        if self.end.is_some() {
            return;
        }
        loop {
            let Some(l) = &self.listener else { return };
            match l.accept() {
                Ok((sock, _)) => {
                    let child = self.next_child;
                    self.next_child += 1;
                    let id = self.cx.top.child(child);
                    let local = local_of(&sock);
                    let peer = peer_of(&sock).unwrap_or(Addr::Unnamed);
                    self.cx.sink.control(
                        self.cx.top,
                        EventKind::Accepted {
                            child: id,
                            local,
                            peer,
                            fd: sock.as_raw_fd(),
                        },
                    );
                    match self.add_stream(sock, id, false) {
                        // A relayed client and its upstream share a unit.
                        Ok(()) if self.shape == Shape::Relay => self.open_upstream(child),
                        Ok(()) => self.spread(child),
                        Err(r) => self.cx.sink.control(
                            id,
                            EventKind::Closed {
                                reason: r,
                                counters: Counters::default(),
                            },
                        ),
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    let n = errno_of(&e);
                    if matches!(
                        n,
                        libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM
                    ) {
                        // The connection stays queued in the kernel; with
                        // edge-triggered readiness nothing would wake us
                        // again for it, so retry on a timer.
                        self.accept_retry_at = Some(now() + Duration::from_millis(100));
                        let quiet = self
                            .last_emfile_report
                            .is_some_and(|t| t.elapsed() < Duration::from_secs(1));
                        if !quiet {
                            self.last_emfile_report = Some(now());
                            self.cx
                                .sink
                                .control(self.cx.top, EventKind::Error(OpError::io("accept", &e)));
                        }
                        return;
                    }
                    self.cx
                        .sink
                        .control(self.cx.top, EventKind::Error(OpError::io("accept", &e)));
                    if n != libc::ECONNABORTED {
                        self.accept_retry_at = Some(now() + Duration::from_millis(100));
                        return;
                    }
                }
            }
        }
    }

    pub(in crate::engine::worker) fn check_stale(
        &mut self,
        path: &Path,
        stale: StalePolicy,
    ) -> Result<(), CloseReason> {
        use std::os::unix::fs::FileTypeExt;
        let Ok(meta) = std::fs::symlink_metadata(path) else {
            return Ok(());
        };
        let op = format!("bind {}", path.display());
        if !meta.file_type().is_socket() {
            return Err(CloseReason::Error(OpError::plain(
                op,
                "a file that is not a socket is in the way; Sockscope never deletes it, choose another path",
            )));
        }
        // Stale means both a stream and a datagram connect were refused:
        // any other answer (it accepted, EACCES, EPROTOTYPE from a
        // seqpacket listener) means something may live there.
        let refused = |r: io::Result<()>| {
            r.err()
                .is_some_and(|e| e.raw_os_error() == Some(libc::ECONNREFUSED))
        };
        let stale_stream = refused(std::os::unix::net::UnixStream::connect(path).map(|_| ()));
        let stale_dgram =
            refused(std::os::unix::net::UnixDatagram::unbound().and_then(|d| d.connect(path)));
        if !(stale_stream && stale_dgram) {
            return Err(CloseReason::Error(OpError::plain(
                op,
                "a socket at this path may be live (it did not refuse a connection): another server may be running; choose another path",
            )));
        }
        match stale {
            StalePolicy::Fail => Err(CloseReason::Error(OpError::plain(
                op,
                "a stale socket file from an earlier run is in the way (nothing listens on it); set `stale: RemoveIfStale` to remove it, or delete it yourself",
            ))),
            StalePolicy::RemoveIfStale => {
                // Only the file we just found stale, not one put there since.
                use std::os::unix::fs::MetadataExt;
                let same = std::fs::symlink_metadata(path)
                    .is_ok_and(|m| m.dev() == meta.dev() && m.ino() == meta.ino());
                if !same {
                    return Err(CloseReason::Error(OpError::plain(
                        op,
                        "the socket file changed while it was checked; try again",
                    )));
                }
                std::fs::remove_file(path).map_err(|e| {
                    CloseReason::Error(OpError::io(format!("unlink {}", path.display()), &e))
                })?;
                self.cx.sink.control(
                    self.cx.top,
                    EventKind::Step {
                        index: 0,
                        what: format!("removed stale socket file {}", path.display()),
                    },
                );
                Ok(())
            }
        }
    }

    pub(in crate::engine::worker) fn listen(
        &mut self,
        sock: Socket,
        backlog: i32,
        unix_path: Option<PathBuf>,
    ) -> Result<(), CloseReason> {
        let local = local_of(&sock);
        sock.listen(backlog)
            .map_err(|e| CloseReason::Error(OpError::io(format!("listen {local}"), &e)))?;
        let inet = sock.local_addr().ok().and_then(|a| a.as_socket());
        sock.set_nonblocking(true)
            .map_err(|e| CloseReason::Error(OpError::io("fcntl O_NONBLOCK", &e)))?;
        register(&self.poll, &sock, LISTENER, Interest::READABLE)
            .map_err(|e| CloseReason::Error(OpError::io("epoll_ctl", &e)))?;
        self.cx.sink.control(
            self.cx.top,
            EventKind::Listening {
                local,
                fd: sock.as_raw_fd(),
                backlog,
            },
        );
        if let Some(a) = inet
            && a.ip().is_unspecified()
        {
            self.warn_all_interfaces(a, "listens");
        }
        self.snapshot(&sock, self.cx.top);
        if let Some(id) = self.tls_identity.take() {
            self.cx
                .sink
                .control(self.cx.top, EventKind::TlsIdentity(id));
        }
        self.listener = Some(sock);
        self.owned_path = unix_path.and_then(OwnedPath::record);
        Ok(())
    }
}
