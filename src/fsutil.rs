//! Files read and written safely. Reads: every file Sockscope reads (a
//! preset, a workspace, an import, a TLS file, a file to send) goes through
//! [`read_capped`], which never blocks on a FIFO, refuses what is not a
//! regular file and caps the size. Writes: a crash or a full disk never
//! leaves a half-written file where a good one was.

use std::io::{Read, Write};
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::Path;

/// The largest preset or workspace file read (a preset can carry payloads).
pub const PRESET_MAX: u64 = 16 * 1024 * 1024;
/// The largest certificate, key or CA file read.
pub const TLS_FILE_MAX: u64 = 1024 * 1024;
/// The largest file the composer sends.
pub const SEND_FILE_MAX: u64 = 8 * 1024 * 1024;

/// Why a file could not be read, in words.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// open/read failed.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// Not a regular file (a FIFO, a device, a directory, a socket).
    #[error("not a regular file (it is {0}); only regular files are read")]
    NotRegular(&'static str),
    /// Over the cap.
    #[error("the file is over the {} limit for {what}", human(*.limit))]
    TooLarge {
        /// What the file was for.
        what: &'static str,
        /// The cap in bytes.
        limit: u64,
    },
}

fn human(n: u64) -> String {
    if n >= 1024 * 1024 && n.is_multiple_of(1024 * 1024) {
        format!("{} MiB", n / (1024 * 1024))
    } else if n >= 1024 && n.is_multiple_of(1024) {
        format!("{} KiB", n / 1024)
    } else {
        format!("{n} bytes")
    }
}

/// Reads a whole regular file of at most `limit` bytes. The open does not
/// block (O_NONBLOCK: a FIFO with no writer would otherwise hang), does not
/// make a terminal ours (O_NOCTTY), and follows symlinks only to check what
/// they point at: a link to `/dev/zero` is a character device and refused.
/// The size is checked before reading and again while reading, since a
/// file can grow in between.
pub fn read_capped(path: &Path, limit: u64, what: &'static str) -> Result<Vec<u8>, ReadError> {
    let f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY | libc::O_CLOEXEC)
        .open(path)?;
    let meta = f.metadata()?;
    let ft = meta.file_type();
    if !ft.is_file() {
        return Err(ReadError::NotRegular(if ft.is_dir() {
            "a directory"
        } else if ft.is_fifo() {
            "a FIFO"
        } else if ft.is_char_device() {
            "a character device"
        } else if ft.is_block_device() {
            "a block device"
        } else if ft.is_socket() {
            "a socket"
        } else {
            "not a file"
        }));
    }
    if meta.len() > limit {
        return Err(ReadError::TooLarge { what, limit });
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    f.take(limit + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > limit {
        return Err(ReadError::TooLarge { what, limit });
    }
    Ok(bytes)
}

/// Writes `bytes` to `path` atomically: a temp file in the same directory,
/// fsync, then rename over the target (and fsync the directory).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let (dir, tmp, id) = write_temp(path, bytes)?;
    finish(&dir, &tmp, id, std::fs::rename(&tmp, path))
}

/// Like [`write_atomic`] but never replaces: if anything is at `path` the
/// write fails with `AlreadyExists` and nothing changes. Of two writers
/// racing for one name exactly one wins.
pub fn write_new(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let (dir, tmp, id) = write_temp(path, bytes)?;
    finish(&dir, &tmp, id, rename_noreplace(&tmp, path))
}

/// Moves `from` to `to` unless something is at `to` already (then
/// `AlreadyExists`): renameat2(RENAME_NOREPLACE), or link + unlink where
/// the file system has no such rename.
pub fn rename_noreplace(from: &Path, to: &Path) -> std::io::Result<()> {
    use std::os::unix::ffi::OsStrExt;
    let c = |p: &Path| {
        std::ffi::CString::new(p.as_os_str().as_bytes())
            .map_err(|_| std::io::Error::other("a path holds a NUL byte"))
    };
    let (f, t) = (c(from)?, c(to)?);
    // SAFETY: two valid NUL-terminated paths relative to the cwd.
    let r = unsafe {
        libc::renameat2(
            libc::AT_FDCWD,
            f.as_ptr(),
            libc::AT_FDCWD,
            t.as_ptr(),
            libc::RENAME_NOREPLACE,
        )
    };
    if r == 0 {
        return Ok(());
    }
    let e = std::io::Error::last_os_error();
    match e.raw_os_error() {
        Some(libc::EINVAL) | Some(libc::ENOSYS) => {
            // link() never replaces either. The old name goes only if it
            // is still the file just linked.
            let id = identity(from)?;
            std::fs::hard_link(from, to)?;
            remove_if_same(from, id).map(|_| ())
        }
        _ => Err(e),
    }
}

/// The file at `path` as it is now, to delete later with [`remove_if_same`].
pub fn identity(path: &Path) -> std::io::Result<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::symlink_metadata(path)?;
    Ok((m.dev(), m.ino()))
}

/// Unlinks `path` only if it is still the file `id` (device and inode,
/// from [`identity`] or the file's own metadata), not one put there since:
/// Sockscope deletes only what it made or read. False when it was not.
pub fn remove_if_same(path: &Path, id: (u64, u64)) -> std::io::Result<bool> {
    match identity(path) {
        Ok(now) if now == id => std::fs::remove_file(path).map(|()| true),
        Ok(_) => Ok(false),
        Err(e) => Err(e),
    }
}

/// A name beside `path` that nothing holds yet, for a file moved aside:
/// `NAME.ron.corrupt-<secs>`, then `-2`, `-3`, ... Taken with
/// [`rename_noreplace`], so two moves in one second never share one.
pub fn move_aside(path: &Path, tag: &str) -> std::io::Result<std::path::PathBuf> {
    let name = path
        .file_name()
        .ok_or_else(|| std::io::Error::other("the path names no file"))?
        .to_string_lossy()
        .into_owned();
    for n in 1..1000 {
        let aside = if n == 1 {
            path.with_file_name(format!("{name}.{tag}"))
        } else {
            path.with_file_name(format!("{name}.{tag}-{n}"))
        };
        match rename_noreplace(path, &aside) {
            Ok(()) => return Ok(aside),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
    Err(std::io::Error::other("no free name to move the file aside"))
}

/// Bytes written and synced to a temp file beside their target, waiting
/// to be moved into place; dropped unplaced, the temp file goes. Staging
/// first means a full disk fails before anything else changes.
pub struct Staged {
    dir: std::path::PathBuf,
    tmp: Option<std::path::PathBuf>,
    /// The temp file's device and inode, so only it is ever unlinked.
    id: (u64, u64),
}

/// Stages `bytes` for `path`.
pub fn stage(path: &Path, bytes: &[u8]) -> std::io::Result<Staged> {
    let (dir, tmp, id) = write_temp(path, bytes)?;
    Ok(Staged {
        dir,
        tmp: Some(tmp),
        id,
    })
}

impl Staged {
    /// Moves the bytes to `path`, replacing what is there.
    pub fn replace(mut self, path: &Path) -> std::io::Result<()> {
        let tmp = self.tmp.take().expect("staged once");
        finish(&self.dir, &tmp, self.id, std::fs::rename(&tmp, path))
    }

    /// Moves the bytes to `path` only if nothing is there (`AlreadyExists`).
    pub fn create(mut self, path: &Path) -> std::io::Result<()> {
        let tmp = self.tmp.take().expect("staged once");
        finish(&self.dir, &tmp, self.id, rename_noreplace(&tmp, path))
    }
}

impl Drop for Staged {
    fn drop(&mut self) {
        if let Some(t) = self.tmp.take() {
            let _ = remove_if_same(&t, self.id);
        }
    }
}

/// Writes `bytes` to a new temp file beside `path` and syncs it; gives
/// its folder, its path and its device and inode.
fn write_temp(
    path: &Path,
    bytes: &[u8],
) -> std::io::Result<(std::path::PathBuf, std::path::PathBuf, (u64, u64))> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => std::env::current_dir()?,
    };
    let name = path
        .file_name()
        .ok_or_else(|| std::io::Error::other("the path names no file"))?;
    let mut n = 0;
    loop {
        let tmp = if n == 0 {
            dir.join(format!(
                ".{}.tmp-{}",
                name.to_string_lossy(),
                std::process::id()
            ))
        } else {
            dir.join(format!(
                ".{}.tmp-{}-{n}",
                name.to_string_lossy(),
                std::process::id()
            ))
        };
        // create_new: never follows a link or reuses another writer's file.
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)
        {
            Ok(mut f) => {
                use std::os::unix::fs::MetadataExt;
                let m = f.metadata()?;
                let id = (m.dev(), m.ino());
                let r = f.write_all(bytes).and_then(|()| f.sync_all());
                if let Err(e) = r {
                    let _ = remove_if_same(&tmp, id);
                    return Err(e);
                }
                return Ok((dir, tmp, id));
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && n < 1000 => n += 1,
            Err(e) => return Err(e),
        }
    }
}

fn finish(
    dir: &Path,
    tmp: &Path,
    id: (u64, u64),
    moved: std::io::Result<()>,
) -> std::io::Result<()> {
    match moved {
        Ok(()) => {
            if let Ok(d) = std::fs::File::open(dir) {
                let _ = d.sync_all();
            }
            Ok(())
        }
        Err(e) => {
            let _ = remove_if_same(tmp, id);
            Err(e)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Regression (hostile input, item 7): `check` on a FIFO blocked
    /// forever and `/dev/zero` was read until memory ran out.
    #[test]
    fn special_files_are_refused_without_blocking() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo.ron");
        let c = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).unwrap();
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        let e = read_capped(&fifo, PRESET_MAX, "a preset").unwrap_err();
        assert!(e.to_string().contains("a FIFO"), "{e}");
        let e = read_capped(Path::new("/dev/zero"), PRESET_MAX, "a preset").unwrap_err();
        assert!(e.to_string().contains("character device"), "{e}");
        let link = dir.path().join("zero.ron");
        std::os::unix::fs::symlink("/dev/zero", &link).unwrap();
        let e = read_capped(&link, PRESET_MAX, "a preset").unwrap_err();
        assert!(e.to_string().contains("character device"), "{e}");
        let e = read_capped(dir.path(), PRESET_MAX, "a preset").unwrap_err();
        assert!(e.to_string().contains("directory"), "{e}");
        let big = dir.path().join("big.ron");
        std::fs::write(&big, vec![b' '; 2049]).unwrap();
        let e = read_capped(&big, 2048, "a test").unwrap_err();
        assert_eq!(e.to_string(), "the file is over the 2 KiB limit for a test");
        std::fs::write(&big, b"ok").unwrap();
        assert_eq!(read_capped(&big, 2048, "a test").unwrap(), b"ok");
    }

    /// Regression (hostile input, item 6): two files moved aside within
    /// one second got the same name and the first was overwritten.
    #[test]
    fn moved_aside_names_are_unique_and_never_replace() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.ron");
        let mut asides = Vec::new();
        for i in 0..3 {
            std::fs::write(&p, format!("broken {i}")).unwrap();
            asides.push(move_aside(&p, "corrupt-1").unwrap());
        }
        for (i, a) in asides.iter().enumerate() {
            assert_eq!(std::fs::read_to_string(a).unwrap(), format!("broken {i}"));
        }
        assert!(!p.exists());
        write_new(&p, b"one").unwrap();
        let e = write_new(&p, b"two").unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::AlreadyExists);
        assert_eq!(std::fs::read(&p).unwrap(), b"one");
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(names.len(), 4, "no temp file left");
    }

    #[test]
    fn replaces_whole_files_and_leaves_no_temp() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("out.txt");
        write_atomic(&p, b"first").unwrap();
        write_atomic(&p, b"second").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"second");
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(names.len(), 1);
        assert!(write_atomic(&dir.path().join("missing/x"), b"y").is_err());
    }

    #[test]
    fn remove_if_same_leaves_a_file_put_in_its_place() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x");
        std::fs::write(&p, b"ours").unwrap();
        let ours = identity(&p).unwrap();
        // Replaced by another file under the same name (a new inode).
        let other = dir.path().join("y");
        std::fs::write(&other, b"theirs").unwrap();
        std::fs::rename(&other, &p).unwrap();
        assert!(!remove_if_same(&p, ours).unwrap());
        assert_eq!(std::fs::read(&p).unwrap(), b"theirs");
        let theirs = identity(&p).unwrap();
        assert!(remove_if_same(&p, theirs).unwrap());
        assert!(!p.exists());
    }
}
