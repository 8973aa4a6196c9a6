//! The app's file I/O for presets and the workspace, on its own thread so
//! the UI thread never waits on the disk.

use super::i18n::{self, Lang};
use std::path::PathBuf;

use crossbeam_channel::{Receiver, Sender, TrySendError};

use crate::engine::{SessionSpec, WakeFn};
use crate::preset::{self, PresetError, WorkspaceFile};
use crate::store::{Store, StoreError, UserPreset};

/// What the UI asks of the store.
#[derive(Debug)]
pub enum StoreRequest {
    /// Read the preset list.
    List,
    /// Save a session as a preset.
    Save {
        /// The session.
        spec: Box<SessionSpec>,
        /// Replace one of the same name.
        replace: bool,
    },
    /// Delete a preset (its bytes come back for undo).
    Delete(String),
    /// Put a deleted preset back.
    Restore {
        /// Its name.
        name: String,
        /// Its file's bytes.
        bytes: Vec<u8>,
    },
    /// Rename a preset.
    Rename {
        /// Old name.
        old: String,
        /// New name.
        new: String,
    },
    /// Save every session in a file as presets.
    Import(PathBuf),
    /// Write a session to a file.
    Export {
        /// The session.
        spec: Box<SessionSpec>,
        /// The file.
        path: PathBuf,
    },
    /// Read the last workspace.
    LoadWorkspace,
}

/// What the store answers.
#[derive(Debug)]
pub enum StoreReply {
    /// The preset list.
    Listed(Vec<UserPreset>),
    /// A save found a preset of the same name: ask before replacing.
    NameTaken(Box<SessionSpec>),
    /// A preset was deleted; its bytes allow undo.
    Deleted {
        /// Its name.
        name: String,
        /// Its bytes.
        bytes: Vec<u8>,
    },
    /// The last workspace (None: there was none).
    Workspace(Result<Option<WorkspaceFile>, PresetError>),
    /// Something finished; tell the user.
    Done(String),
    /// Something failed; tell the user.
    Failed(String),
}

/// The UI's end of the store thread.
pub struct StoreClient {
    /// Each request with the language its replies are worded in.
    tx: Sender<(Lang, StoreRequest)>,
    rx: Receiver<StoreReply>,
    /// Where files go, for messages.
    pub root: PathBuf,
}

impl StoreClient {
    /// Starts the store thread; `wake` repaints the UI when a reply is ready.
    pub fn spawn(store: Store, wake: WakeFn) -> std::io::Result<StoreClient> {
        let (tx, req_rx) = crossbeam_channel::bounded::<(Lang, StoreRequest)>(64);
        let (reply_tx, rx) = crossbeam_channel::bounded::<StoreReply>(64);
        let root = store.root().to_path_buf();
        std::thread::Builder::new()
            .name("sockscope-store".into())
            .spawn(move || {
                // A dropped sender (the app closed) ends the loop.
                while let Ok((lang, req)) = req_rx.recv() {
                    // Worded as the app speaks when it asked.
                    i18n::set(lang);
                    for reply in handle(&store, req) {
                        if reply_tx.send(reply).is_err() {
                            return;
                        }
                    }
                    wake();
                }
            })?;
        Ok(StoreClient { tx, rx, root })
    }

    /// Queues a request; false when the store is busy (64 waiting). Its
    /// replies are worded in the calling thread's language.
    pub fn ask(&self, req: StoreRequest) -> bool {
        !matches!(
            self.tx.try_send((i18n::current(), req)),
            Err(TrySendError::Full(_))
        )
    }

    /// Replies ready now.
    pub fn replies(&self) -> Vec<StoreReply> {
        self.rx.try_iter().collect()
    }
}

fn saved_words(name: &str, s: &crate::store::Saved) -> String {
    match &s.moved_aside {
        Some(a) => crate::t!(
            "store-saved-aside",
            name = name,
            aside = a.display().to_string()
        ),
        None => crate::t!(
            "store-saved",
            name = name,
            path = s.path.display().to_string()
        ),
    }
}

fn handle(store: &Store, req: StoreRequest) -> Vec<StoreReply> {
    let list = |out: &mut Vec<StoreReply>| out.push(StoreReply::Listed(store.list()));
    let mut out = Vec::new();
    match req {
        StoreRequest::List => list(&mut out),
        StoreRequest::Save { spec, replace } => match store.save(&spec, replace) {
            Ok(s) => {
                out.push(StoreReply::Done(saved_words(&spec.name, &s)));
                list(&mut out);
            }
            Err(StoreError::NameTaken(_)) => out.push(StoreReply::NameTaken(spec)),
            Err(e) => out.push(StoreReply::Failed(e.to_string())),
        },
        StoreRequest::Delete(name) => match store.delete(&name) {
            Ok(bytes) => {
                out.push(StoreReply::Deleted { name, bytes });
                list(&mut out);
            }
            Err(e) => out.push(StoreReply::Failed(e.to_string())),
        },
        StoreRequest::Restore { name, bytes } => match store.restore(&name, &bytes) {
            Ok(_) => {
                out.push(StoreReply::Done(crate::t!("store-restored", name = name)));
                list(&mut out);
            }
            Err(e) => out.push(StoreReply::Failed(e.to_string())),
        },
        StoreRequest::Rename { old, new } => match store.rename(&old, &new) {
            Ok(_) => {
                out.push(StoreReply::Done(crate::t!(
                    "store-renamed",
                    old = old,
                    new = new
                )));
                list(&mut out);
            }
            Err(e) => out.push(StoreReply::Failed(e.to_string())),
        },
        StoreRequest::Import(path) => match preset::load_file(&path) {
            Ok(specs) => {
                let mut saved = 0;
                for spec in specs {
                    match store.save(&spec, false) {
                        Ok(_) => saved += 1,
                        Err(e) => out.push(StoreReply::Failed(e.to_string())),
                    }
                }
                out.push(StoreReply::Done(crate::t!(
                    "store-imported",
                    n = saved,
                    path = path.display().to_string()
                )));
                list(&mut out);
            }
            Err(e) => out.push(StoreReply::Failed(e.to_string())),
        },
        StoreRequest::Export { spec, path } => {
            let r = preset::session_to_ron(&preset::from_spec(&spec))
                .map_err(|e| e.to_string())
                .and_then(|t| {
                    // Never over a file that is there: the user picks the name.
                    crate::fsutil::write_new(&path, t.as_bytes()).map_err(|e| {
                        if e.kind() == std::io::ErrorKind::AlreadyExists {
                            crate::t!("store-exists", path = path.display().to_string())
                        } else {
                            crate::t!(
                                "store-write-failed",
                                path = path.display().to_string(),
                                why = e.to_string()
                            )
                        }
                    })
                });
            out.push(match r {
                Ok(()) => StoreReply::Done(crate::t!(
                    "store-exported",
                    name = spec.name.clone(),
                    path = path.display().to_string()
                )),
                Err(e) => StoreReply::Failed(e),
            });
        }
        StoreRequest::LoadWorkspace => out.push(StoreReply::Workspace(store.load_workspace())),
    }
    out
}
