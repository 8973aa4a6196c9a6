//! Process-wide setup shared by the app and the headless runner.

/// Raises the soft RLIMIT_NOFILE to the hard limit so a server session can
/// hold thousands of connections. Returns (old soft, new soft).
pub fn raise_fd_limit() -> std::io::Result<(u64, u64)> {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE).map_err(std::io::Error::from)?;
    if soft < hard {
        setrlimit(Resource::RLIMIT_NOFILE, hard, hard).map_err(std::io::Error::from)?;
    }
    Ok((soft, hard.max(soft)))
}
