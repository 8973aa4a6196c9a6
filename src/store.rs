//! Where presets and the last workspace live: the platform config dir
//! (`~/.config/sockscope/` on Linux), or `--config-dir`, or
//! `SOCKSCOPE_CONFIG_DIR`.
//!
//! One file per preset, written atomically: two instances saving different
//! presets never touch the same file, and a crash mid-save leaves the old
//! file or the new one, never half of one. A file that does not parse is
//! never overwritten: saving over it first moves it aside with a timestamp.

use std::io;
use std::path::{Path, PathBuf};

use crate::engine::SessionSpec;
use crate::preset::{self, PresetError, SessionFile, WorkspaceFile};

/// The environment variable that overrides the config dir.
pub const CONFIG_ENV: &str = "SOCKSCOPE_CONFIG_DIR";

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A preset with that name (or file name) exists and replacing was not asked.
    #[error("a preset named '{}' already exists; replace it, or pick another name", crate::engine::codec::excerpt(.0, 60))]
    NameTaken(String),
    /// No preset has that name.
    #[error("no saved preset is named '{}'", crate::engine::codec::excerpt(.0, 60))]
    NotFound(String),
    /// The name cannot become a file name.
    #[error("'{}' cannot be a preset name: use letters, digits, spaces, '-', '_' or '.', at most {NAME_MAX_BYTES} bytes (a CJK character takes 3)", crate::engine::codec::excerpt(.0, 60))]
    BadName(String),
    /// The platform has no config dir and none was given.
    #[error("no config directory: set {CONFIG_ENV} or pass --config-dir")]
    NoConfigDir,
    /// A file operation failed.
    #[error("{op} {}: {err}", path.display())]
    Io {
        /// What was being done.
        op: &'static str,
        /// On which file.
        path: PathBuf,
        /// The error.
        err: io::Error,
    },
    /// The preset could not be written as RON.
    #[error("cannot write the preset: {0}")]
    Serialize(String),
}

/// Deletes the preset file that was read (`id`), and says so when another
/// file took its name in between (that one is left).
fn remove_read(path: &Path, id: (u64, u64)) -> Result<(), StoreError> {
    match crate::fsutil::remove_if_same(path, id) {
        Ok(true) => Ok(()),
        Ok(false) => Err(StoreError::Io {
            op: "delete",
            path: path.to_path_buf(),
            err: io::Error::other("another file took its name while it was read; left as it is"),
        }),
        Err(e) => Err(io_err("delete", path)(e)),
    }
}

fn io_err<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> StoreError + 'a {
    move |err| StoreError::Io {
        op,
        path: path.to_path_buf(),
        err,
    }
}

/// A preset found in the store.
#[derive(Debug, Clone)]
pub struct UserPreset {
    /// Its name (from the file, or the file name when it does not parse).
    pub name: String,
    /// Its file.
    pub path: PathBuf,
    /// The preset, or why it could not be read.
    pub loaded: Result<SessionSpec, PresetError>,
}

/// What a save did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Saved {
    /// The file written.
    pub path: PathBuf,
    /// A file that did not parse and was moved aside instead of overwritten.
    pub moved_aside: Option<PathBuf>,
}

/// The store rooted at a config dir.
#[derive(Debug, Clone)]
pub struct Store {
    root: PathBuf,
}

/// The longest preset name, in bytes of UTF-8.
pub const NAME_MAX_BYTES: usize = 200;

/// Turns a preset name into a file stem: letters (any script), digits,
/// `-`, `_`, `.`; spaces become `-`.
pub fn file_stem(name: &str) -> Result<String, StoreError> {
    let trimmed = name.trim();
    let stem: String = trimmed
        .chars()
        .map(|c| if c == ' ' { '-' } else { c })
        .collect();
    // File names hold 255 bytes, and the temp file a save writes first
    // adds about 30 to the stem: the limit is in bytes, not characters.
    let ok = !stem.is_empty()
        && stem.len() <= NAME_MAX_BYTES
        && !stem.starts_with('.')
        && stem
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(stem)
    } else {
        Err(StoreError::BadName(name.to_string()))
    }
}

fn timestamp() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs()
}

impl Store {
    /// Finds the config dir: the flag, then the environment, then the platform's.
    pub fn locate(flag: Option<&Path>) -> Result<Store, StoreError> {
        if let Some(f) = flag {
            return Ok(Store::at(f));
        }
        if let Some(env) = std::env::var_os(CONFIG_ENV).filter(|v| !v.is_empty()) {
            return Ok(Store::at(Path::new(&env)));
        }
        directories::ProjectDirs::from("", "", "sockscope")
            .map(|d| Store::at(d.config_dir()))
            .ok_or(StoreError::NoConfigDir)
    }

    /// A store rooted at `root`.
    pub fn at(root: &Path) -> Store {
        Store {
            root: root.to_path_buf(),
        }
    }

    /// The config dir.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn presets_dir(&self) -> PathBuf {
        self.root.join("presets")
    }

    /// Where the last workspace is kept.
    pub fn workspace_path(&self) -> PathBuf {
        self.root.join("workspace.ron")
    }

    fn path_of(&self, name: &str) -> Result<PathBuf, StoreError> {
        Ok(self.presets_dir().join(format!("{}.ron", file_stem(name)?)))
    }

    /// Every preset file, sorted by name; broken ones are listed with why.
    pub fn list(&self) -> Vec<UserPreset> {
        let dir = self.presets_dir();
        let Ok(entries) = std::fs::read_dir(&dir) else {
            return Vec::new();
        };
        let mut out: Vec<UserPreset> = entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| {
                p.extension().is_some_and(|e| e == "ron")
                    && !p
                        .file_name()
                        .is_some_and(|n| n.to_string_lossy().starts_with('.'))
            })
            .map(|path| read_preset(&path))
            .collect();
        out.sort_by_key(|p| p.name.to_lowercase());
        out
    }

    /// The saved preset with this name.
    /// A saved preset by its file name, or else by the name inside it (a
    /// file `fname.ron` holding `name: "other-name"` is listed as
    /// other-name, so that name finds it too).
    pub fn find(&self, name: &str) -> Option<UserPreset> {
        if let Ok(path) = self.path_of(name)
            && path.exists()
        {
            return Some(read_preset(&path));
        }
        self.list().into_iter().find(|p| p.name == name)
    }

    /// Saves a session as a preset named by its `name`.
    pub fn save(&self, spec: &SessionSpec, replace: bool) -> Result<Saved, StoreError> {
        let file = preset::from_spec(spec);
        self.save_file(&file, replace)
    }

    /// Saves a preset in its file form.
    pub fn save_file(&self, file: &SessionFile, replace: bool) -> Result<Saved, StoreError> {
        let path = self.path_of(&file.name)?;
        let text =
            preset::session_to_ron(file).map_err(|e| StoreError::Serialize(e.to_string()))?;
        let dir = self.presets_dir();
        std::fs::create_dir_all(&dir).map_err(io_err("create", &dir))?;
        let moved_aside = place(&path, text.as_bytes(), replace, &file.name, |p| {
            read_preset(p).loaded.is_ok()
        })?;
        Ok(Saved { path, moved_aside })
    }

    /// Deletes a preset; returns its bytes so the caller can offer undo.
    pub fn delete(&self, name: &str) -> Result<Vec<u8>, StoreError> {
        let path = self.path_of(name)?;
        // The file whose bytes are read (and offered back) is the one
        // deleted, not one put under its name meanwhile.
        let id = crate::fsutil::identity(&path).map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => StoreError::NotFound(name.to_string()),
            _ => io_err("read", &path)(e),
        })?;
        let bytes = crate::fsutil::read_capped(&path, crate::fsutil::PRESET_MAX, "a preset")
            .map_err(|e| match e {
                crate::fsutil::ReadError::Io(e) if e.kind() == io::ErrorKind::NotFound => {
                    StoreError::NotFound(name.to_string())
                }
                crate::fsutil::ReadError::Io(err) => StoreError::Io {
                    op: "read",
                    path: path.clone(),
                    err,
                },
                other => StoreError::Io {
                    op: "read",
                    path: path.clone(),
                    err: io::Error::other(other.to_string()),
                },
            })?;
        remove_read(&path, id)?;
        Ok(bytes)
    }

    /// Puts a deleted preset's bytes back (undo).
    pub fn restore(&self, name: &str, bytes: &[u8]) -> Result<PathBuf, StoreError> {
        let path = self.path_of(name)?;
        let dir = self.presets_dir();
        std::fs::create_dir_all(&dir).map_err(io_err("create", &dir))?;
        crate::fsutil::write_new(&path, bytes).map_err(|e| {
            if e.kind() == io::ErrorKind::AlreadyExists {
                StoreError::NameTaken(name.to_string())
            } else {
                io_err("write", &path)(e)
            }
        })?;
        Ok(path)
    }

    /// Renames a preset (its file and the name inside it).
    pub fn rename(&self, old: &str, new: &str) -> Result<Saved, StoreError> {
        let old_path = self.path_of(old)?;
        let old_id = crate::fsutil::identity(&old_path).ok();
        let p = read_preset(&old_path);
        let spec = match p.loaded {
            Ok(s) => s,
            Err(_) if !old_path.exists() => return Err(StoreError::NotFound(old.to_string())),
            Err(e) => {
                return Err(StoreError::Serialize(format!(
                    "the preset does not parse, so it is not rewritten: {e}"
                )));
            }
        };
        let mut spec = spec;
        spec.name = new.trim().to_string();
        let new_path = self.path_of(new)?;
        if new_path == old_path {
            return self.save(&spec, true);
        }
        let saved = self.save(&spec, false)?;
        // It was read above, so it existed then.
        if let Some(id) = old_id {
            remove_read(&old_path, id)?;
        }
        Ok(saved)
    }

    /// Reads the last workspace, if there is one.
    pub fn load_workspace(&self) -> Result<Option<WorkspaceFile>, PresetError> {
        let path = self.workspace_path();
        if std::fs::symlink_metadata(&path).is_err_and(|e| e.kind() == io::ErrorKind::NotFound) {
            return Ok(None);
        }
        let text = preset::read_text(&path, "a workspace")?;
        preset::parse_workspace(&path, &text).map(Some)
    }

    /// Writes the workspace; a workspace file that does not parse is moved
    /// aside first, never overwritten.
    pub fn save_workspace(&self, ws: &WorkspaceFile) -> Result<Saved, StoreError> {
        let path = self.workspace_path();
        let text =
            preset::workspace_to_ron(ws).map_err(|e| StoreError::Serialize(e.to_string()))?;
        std::fs::create_dir_all(&self.root).map_err(io_err("create", &self.root))?;
        let moved_aside = place(&path, text.as_bytes(), true, "workspace", |_| {
            self.load_workspace().is_ok()
        })?;
        Ok(Saved { path, moved_aside })
    }
}

/// Puts `bytes` at `path`. The bytes are staged first, so a full disk
/// changes nothing. A file there that parses is replaced only if
/// `replace` (else `NameTaken`); one that does not parse is moved aside
/// under a name nothing holds, never overwritten. With nothing there the
/// file is created without replacing, so of two savers racing for a name
/// exactly one wins and the other is told the name is taken.
fn place(
    path: &Path,
    bytes: &[u8],
    replace: bool,
    name: &str,
    parses: impl Fn(&Path) -> bool,
) -> Result<Option<PathBuf>, StoreError> {
    let staged = crate::fsutil::stage(path, bytes).map_err(io_err("write", path))?;
    let mut moved_aside = None;
    if std::fs::symlink_metadata(path).is_ok() {
        if parses(path) {
            if !replace {
                return Err(StoreError::NameTaken(name.to_string()));
            }
            staged.replace(path).map_err(io_err("write", path))?;
            return Ok(None);
        }
        let tag = format!("corrupt-{}", timestamp());
        moved_aside =
            Some(crate::fsutil::move_aside(path, &tag).map_err(io_err("move aside", path))?);
    }
    match staged.create(path) {
        Ok(()) => Ok(moved_aside),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            Err(StoreError::NameTaken(name.to_string()))
        }
        Err(e) => Err(io_err("write", path)(e)),
    }
}

fn read_preset(path: &Path) -> UserPreset {
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let loaded = preset::read_text(path, "a preset")
        .and_then(|text| preset::parse_session(path, &text).map(|(_, s)| s));
    UserPreset {
        name: loaded.as_ref().map(|s| s.name.clone()).unwrap_or(stem),
        path: path.to_path_buf(),
        loaded,
    }
}

/// What a name on the command line refers to.
pub fn resolve(store: Option<&Store>, what: &str) -> Result<Vec<SessionSpec>, String> {
    let path = Path::new(what);
    // Anything that looks like a path is a path, so a typo is reported as
    // an unreadable file rather than an unknown name.
    if path.exists() || what.contains('/') || what.ends_with(".ron") {
        return preset::load_file(path).map_err(|e| e.to_string());
    }
    if let Some(s) = store
        && let Some(p) = s.find(what)
    {
        return p.loaded.map(|s| vec![s]).map_err(|e| e.to_string());
    }
    for (stem, spec) in preset::builtins() {
        let named = spec.as_ref().is_ok_and(|s| s.name == what);
        if stem == what || named {
            return spec.map(|s| vec![s]).map_err(|e| e.to_string());
        }
    }
    Err(format!(
        "no file, saved preset or built-in example is named '{}'; `sockscope presets list` shows them",
        crate::engine::codec::excerpt(what, 60)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::spec::SessionKind;

    fn spec(name: &str) -> SessionSpec {
        SessionSpec::new(name, SessionKind::SocketPair)
    }

    /// Regression (hostile input, item 11): the name limit counted
    /// characters, so 100 CJK characters failed with "File name too long";
    /// and a file whose `name` differs from its file name was listed by
    /// that name but could not be found by it.
    #[test]
    fn names_are_limited_in_bytes_and_found_by_the_name_inside() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::locate(Some(dir.path())).unwrap();
        let long = "你".repeat(66);
        assert!(long.len() <= NAME_MAX_BYTES);
        let mut spec = crate::engine::SessionSpec::new(
            long.clone(),
            crate::engine::spec::SessionKind::SocketPair,
        );
        store.save(&spec, false).unwrap();
        assert_eq!(store.find(&long).unwrap().name, long);
        spec.name = "你".repeat(100);
        let e = store.save(&spec, false).unwrap_err();
        assert!(e.to_string().contains("at most 200 bytes"), "{e}");
        std::fs::write(
            dir.path().join("presets/fname.ron"),
            r#"(name: "other-name", kind: SocketPair)"#,
        )
        .unwrap();
        assert!(store.list().iter().any(|p| p.name == "other-name"));
        let found = store.find("other-name").expect("found by the name inside");
        assert!(found.path.ends_with("fname.ron"));
        let specs = resolve(Some(&store), "other-name").unwrap();
        assert_eq!(specs[0].name, "other-name");
    }

    #[test]
    fn save_list_rename_delete_restore() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::at(dir.path());
        s.save(&spec("pair one"), false).unwrap();
        assert!(matches!(
            s.save(&spec("pair one"), false),
            Err(StoreError::NameTaken(_))
        ));
        s.save(&spec("pair one"), true).unwrap();
        s.save(&spec("你好"), false).unwrap();
        let names: Vec<String> = s.list().into_iter().map(|p| p.name).collect();
        assert_eq!(names, vec!["pair one", "你好"]);
        s.rename("pair one", "pair two").unwrap();
        assert!(s.find("pair one").is_none());
        assert_eq!(s.find("pair two").unwrap().loaded.unwrap().name, "pair two");
        let bytes = s.delete("pair two").unwrap();
        assert!(s.find("pair two").is_none());
        s.restore("pair two", &bytes).unwrap();
        assert!(s.find("pair two").unwrap().loaded.is_ok());
        assert!(matches!(file_stem("../etc"), Err(StoreError::BadName(_))));
        assert!(matches!(file_stem(".hidden"), Err(StoreError::BadName(_))));
    }

    #[test]
    fn a_broken_file_is_listed_with_its_position_and_never_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::at(dir.path());
        std::fs::create_dir_all(dir.path().join("presets")).unwrap();
        let broken = dir.path().join("presets/mine.ron");
        let garbage = b"(\n  name: \"mine\",\n  kind: TcpServer(local: 7),\n)";
        std::fs::write(&broken, garbage).unwrap();
        let listed = s.list();
        let e = listed[0].loaded.as_ref().unwrap_err();
        assert_eq!(e.line, 3, "{e}");
        // Saving over it moves it aside with its bytes intact.
        let saved = s.save(&spec("mine"), true).unwrap();
        let aside = saved.moved_aside.unwrap();
        assert_eq!(std::fs::read(&aside).unwrap(), garbage);
        assert!(s.find("mine").unwrap().loaded.is_ok());
    }

    #[test]
    fn workspace_round_trip_and_broken_workspace_kept() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::at(dir.path());
        assert!(s.load_workspace().unwrap().is_none());
        let ws = WorkspaceFile {
            version: 1,
            sessions: vec![preset::from_spec(&spec("a"))],
            reopen: true,
            layout: Default::default(),
        };
        s.save_workspace(&ws).unwrap();
        assert_eq!(s.load_workspace().unwrap().unwrap(), ws);
        std::fs::write(s.workspace_path(), b"\xff\xfe garbage").unwrap();
        assert!(s.load_workspace().is_err());
        let saved = s.save_workspace(&ws).unwrap();
        assert_eq!(
            std::fs::read(saved.moved_aside.unwrap()).unwrap(),
            b"\xff\xfe garbage"
        );
    }
}
