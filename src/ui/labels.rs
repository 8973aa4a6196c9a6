//! Every label a test clicks or looks for, in one place, so kittest finds
//! widgets by the same words the user sees.

pub const OPEN: &str = "Open";
pub const NEW_SESSION: &str = "New session";
pub const KIND: &str = "Kind";
pub const FAMILY: &str = "Family";
pub const LOCAL: &str = "Local address";
pub const REMOTE: &str = "Remote host:port";
pub const PATH: &str = "Socket path";
/// A relay's listening address (ip:port or unix:/path).
pub const RELAY_LISTEN: &str = "Listen on";
/// Where a relay connects for each client.
pub const RELAY_TARGET: &str = "Forward to";
/// A relay's TLS towards its clients (it is their TLS server).
pub const RELAY_TLS_CLIENTS: &str = "TLS towards clients";
/// A relay's TLS towards its target (it is the target's TLS client).
pub const RELAY_TLS_TARGET: &str = "TLS towards the target";
/// A relay's rules field.
pub const RELAY_RULES: &str = "Rules";
/// A relay's chunks held by intercept rules.
pub const HELD: &str = "Held for you";
/// None held.
pub const HELD_NONE: &str = "nothing held: an Intercept rule holds matching chunks here";
/// Let every held chunk go.
pub const FORWARD_ALL: &str = "Forward all";
/// Edit a held chunk as hex.
pub const HELD_HEX: &str = "hex";
/// Let one go (as edited).
pub const FORWARD: &str = "Forward";
/// Throw one away.
pub const DROP_HELD: &str = "Drop";
/// A relay with no rules.
pub const NO_RULES: &str = "none: everything is forwarded as it comes";
pub const SERIAL_PORT: &str = "Port";
pub const SERIAL_PORTS: &str = "this machine's serial ports";
pub const REFRESH_PORTS: &str = "Look again";
pub const BAUD: &str = "Baud rate";
pub const DATA_BITS: &str = "Data bits";
pub const PARITY: &str = "Parity";
pub const STOP_BITS: &str = "Stop bits";
pub const FLOW: &str = "Flow control";
pub const MODEM_LINES: &str = "Modem lines";
pub const SERIAL_SETTINGS: &str = "Settings (read back with tcgetattr)";
pub const DTR: &str = "DTR";
pub const RTS: &str = "RTS";
pub const SEND_BREAK: &str = "Send break";
pub const MORE_OPTIONS: &str = "More options";
pub const ENCODING: &str = "Encoding";
pub const RESPONDER: &str = "Responder";
pub const RESPONDER_NONE: &str = "No replies";
pub const RESPONDER_ECHO: &str = "Echo replies";
pub const RESPONDER_FIXED: &str = "Fixed reply";
pub const RESPONDER_TIME: &str = "Time";
pub const RESPONDER_CANNED: &str = "Canned replies";
pub const REPLY: &str = "Reply";
pub const ADD_RULE: &str = "Add rule";
pub const DEFAULT_REPLY: &str = "Default reply";
pub const DELIMITER: &str = "Delimiter";
pub const REPLY_TEMPLATE: &str = "Templates ({counter} {time} {peer} {len})";
pub const REPLY_DELAY: &str = "Reply delay";
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
pub const EXPORT_PCAPNG: &str = "Export pcapng";

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
pub const SNIPPET_NAME: &str = "Snippet";
pub const SAVE_SNIPPET: &str = "Keep as snippet";
pub const QUICK_SEND: &str = "Quick send";
pub const EVERY: &str = "every";
pub const START_PERIODIC: &str = "Start sending";
pub const STOP_PERIODIC: &str = "Stop sending";
pub const LOAD_SNIPPET: &str = "Load into the composer";
pub const RENAME_TO: &str = "New name";
pub const RENAME_SNIPPET: &str = "Rename snippet";
pub const REMOVE_SNIPPET: &str = "Remove snippet";
pub const STEP_MODE: &str = "Step mode";
pub const NEW_STEPPER: &str = "New step-mode session";
pub const STEP_VAR: &str = "Socket";
pub const STEP_INTO: &str = "accept() into";
pub const STEP_ADDR: &str = "Address";
pub const STEP_BACKLOG: &str = "backlog";
pub const STEP_BUFSIZE: &str = "bufsize";
pub const STEP_TIMEOUT: &str = "timeout (s)";
pub const STEP_BLOCKING: &str = "setblocking:";
pub const STEP_HOW: &str = "shutdown:";
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
pub const LIVE_OPTION: &str = "Change option";
pub const SET_OPTION: &str = "setsockopt";
pub const HTTP_RESPONSE: &str = "HTTP response";
pub const HTTP_BODY: &str = "Body";
pub const HTTP_REQUEST: &str = "HTTP request";
pub const HTTP_FILL: &str = "Put the request in the payload";

pub const TLS: &str = "TLS";
pub const TLS_IDENTITY: &str = "TLS certificate (this server)";
pub const WS_HANDSHAKE: &str = "WebSocket handshake";
pub const COPY_CERT_PEM: &str = "Copy certificate PEM";
pub const USE_TLS: &str = "Use TLS";
pub const TLS_SERVER_NAME: &str = "Server name (SNI)";
pub const TLS_ALPN: &str = "ALPN";
pub const TLS_HANDSHAKE_TIMEOUT: &str = "Handshake timeout (s)";
pub const TLS_CA_FILE: &str = "CA file";
pub const TLS_ROOTS: &str = "Trusted roots";
pub const TLS_INSECURE: &str = "Accept invalid certificates (INSECURE)";
pub const TLS_CERT_FILE: &str = "Certificate file";
pub const TLS_KEY_FILE: &str = "Key file";
pub const TLS_SELF_SIGNED: &str = "Self-signed for";

pub const REOPEN_LAST: &str = "Reopen the last workspace";
pub const QUIT_TITLE: &str = "Quit Sockscope?";
pub const QUIT_AND_CLOSE: &str = "Quit and close them";
pub const CANCEL_QUIT: &str = "Keep working";
pub const MESSAGES: &str = "Messages";
pub const SHORTCUTS: &str = "Shortcuts";
pub const TEXT_AND_HEX: &str = "Text + hex";
pub const SHOW_AS: &str = "Show as";
pub const RESET_COUNTERS: &str = "Reset RX/TX";
pub const SHOW_EVENTS: &str = "Events";
pub const VIEW: &str = "View";
pub const SEND_TARGET: &str = "To";
pub const ALL_CONNECTIONS: &str = "all connections";
pub const CHECKSUM: &str = "Checksum";
pub const REPLY_CHECKSUM: &str = "Reply checksum";
pub const RESEND: &str = "Resend";
pub const CAPTURE: &str = "Capture to file";
pub const EXPORT_AND_CAPTURE: &str = "Export and capture";
pub const CAPTURE_TO: &str = "Capture file";
pub const CAPTURE_FORMAT: &str = "Capture format";
pub const CAPTURE_LIMIT: &str = "Rotate at";
pub const CAPTURE_KEEP: &str = "keep";
pub const START_CAPTURE: &str = "Start capture";
pub const STOP_CAPTURE: &str = "Stop capture";
pub const TCP_INFO: &str = "TCP_INFO (the kernel's view)";
pub const WS_URL: &str = "URL";
pub const WS_HEADERS: &str = "Headers";
pub const WS_SUBPROTOCOLS: &str = "Subprotocols";
pub const WS_PATH: &str = "Path";
pub const WS_AUTO_PONG: &str = "Auto pong";
pub const WS_SEND_AS: &str = "Send as";
pub const WS_CLOSE_CODE: &str = "code";
pub const WSS_TRUST: &str = "TLS settings (else: system roots)";
pub const USE_TLS_WSS: &str = "Use TLS (wss)";
pub const FRAMING: &str = "Framing";
pub const FRAMING_NONE: &str = "a row per recv";
pub const FRAMING_DELIMITER: &str = "delimiter";
pub const FRAMING_LENGTH: &str = "length prefix";
pub const FRAMING_FIXED: &str = "fixed size";
pub const FRAMING_ENDS_WITH: &str = "ends with";
pub const FRAMING_SIZE: &str = "size";
