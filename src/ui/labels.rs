//! Every label a test clicks or looks for, in one place, so kittest finds
//! widgets by the same words the user sees.

pub const OPEN: &str = "Open";
pub const NEW_SESSION: &str = "New session";
pub const KIND: &str = "Kind";
pub const FAMILY: &str = "Family";
pub const LOCAL: &str = "Local address";
pub const REMOTE: &str = "Remote host:port";
pub const PATH: &str = "Socket path";
pub const MORE_OPTIONS: &str = "More options";
pub const ENCODING: &str = "Encoding";
pub const RESPONDER_ECHO: &str = "Echo replies";
pub const REUSE_ADDRESS: &str = "SO_REUSEADDR";
pub const NODELAY: &str = "TCP_NODELAY";
pub const KEEPALIVE: &str = "SO_KEEPALIVE";

pub const SESSIONS: &str = "Sessions";
pub const CLOSE: &str = "Close";
pub const CLOSE_SOCKET: &str = "Close socket";
pub const CLOSE_ALL: &str = "Close all";
pub const REOPEN: &str = "Reopen";
pub const DUPLICATE: &str = "Duplicate";
pub const FORGET: &str = "Remove";

pub const SEND: &str = "Send";
pub const SEND_ALL: &str = "Send to all connections";
pub const SHUTDOWN: &str = "Shutdown write";
pub const ABORT: &str = "Abort (RST)";
pub const PAYLOAD: &str = "Payload";
pub const DESTINATION: &str = "Destination";
pub const MODE_TEXT: &str = "Text";
pub const MODE_HEX: &str = "Hex";
pub const MODE_ESCAPED: &str = "Escaped";
pub const REPEAT: &str = "Repeat";
pub const SEND_FILE: &str = "Send file";

pub const LOG_SEARCH: &str = "Search";
pub const SHOW_IN: &str = "In";
pub const SHOW_OUT: &str = "Out";
pub const FOLLOW: &str = "Follow";
pub const PAUSE: &str = "Pause";
pub const CLEAR: &str = "Clear";
pub const AS_HEX: &str = "Hex view";
pub const WALL_CLOCK: &str = "Wall clock";
pub const ALL_SESSIONS: &str = "All sessions";
pub const COPY: &str = "Copy rows";
pub const EXPORT_TEXT: &str = "Export text";
pub const EXPORT_JSONL: &str = "Export JSON Lines";

pub const INSPECTOR: &str = "Inspector";
pub const OPTIONS: &str = "Options (read back)";

pub const PRESETS: &str = "Presets";
pub const OPEN_LAST_WORKSPACE: &str = "Open them";
pub const REOPEN_NEXT_TIME: &str = "Reopen the open sessions next time";
pub const PRESET_NAME: &str = "Preset name";
pub const SAVE_PRESET: &str = "Save as preset";
pub const REPLACE: &str = "Replace";
pub const CANCEL: &str = "Cancel";
pub const RENAME: &str = "Rename";
pub const COPY_PRESET: &str = "Copy";
pub const DELETE: &str = "Delete";
pub const CONFIRM_DELETE: &str = "Really delete";
pub const UNDO: &str = "Undo";
pub const PRESET_FILE: &str = "File";
pub const IMPORT: &str = "Import";
pub const EXPORT: &str = "Export";
pub const OPEN_PICKED: &str = "Open picked";
pub const SNIPPETS: &str = "Snippets";
pub const SNIPPET_NAME: &str = "Snippet";
pub const SAVE_SNIPPET: &str = "Keep as snippet";
pub const STEP_MODE: &str = "Step mode";
pub const NEW_STEPPER: &str = "New step-mode session";
pub const STEP_VAR: &str = "Socket";
pub const STEP_INTO: &str = "accept() into";
pub const STEP_ADDR: &str = "Address";
pub const STEP_NUMBER: &str = "Number";
pub const STEP_DATA: &str = "Data";
pub const STEP_OPTION: &str = "Option";
pub const STEP_CANCEL: &str = "Cancel call";
pub const STEP_REPLAY: &str = "Replay all";
pub const STEP_REPLAY_STEPWISE: &str = "Replay step by step";
pub const STEP_NEXT: &str = "Next:";
pub const COPY_PYTHON: &str = "Copy as Python";
pub const COPY_RUST: &str = "Copy as Rust";
pub const COPY_SESSION_PYTHON: &str = "Session as Python";
pub const COPY_SESSION_RUST: &str = "Session as Rust";
