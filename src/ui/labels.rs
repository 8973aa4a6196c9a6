//! Every label a test clicks or looks for, in one place, as keys of the
//! catalogue (`assets/i18n`): kittest finds widgets by the words the user
//! sees in whichever language the app speaks.

pub use super::i18n::Key;

pub const OPEN: Key = Key("open");
pub const NEW_SESSION: Key = Key("new-session");
pub const KIND: Key = Key("kind");
pub const FAMILY: Key = Key("family");
pub const LOCAL: Key = Key("local");
pub const REMOTE: Key = Key("remote");
pub const PATH: Key = Key("path");
/// A relay's listening address (ip:port or unix:/path).
pub const RELAY_LISTEN: Key = Key("relay-listen");
/// Where a relay connects for each client.
pub const RELAY_TARGET: Key = Key("relay-target");
/// A relay's TLS towards its clients (it is their TLS server).
pub const RELAY_TLS_CLIENTS: Key = Key("relay-tls-clients");
/// A relay's TLS towards its target (it is the target's TLS client).
pub const RELAY_TLS_TARGET: Key = Key("relay-tls-target");
/// A relay's rules field.
pub const RELAY_RULES: Key = Key("relay-rules");
pub const RULE_ADD: Key = Key("rule-add");
pub const RULES_AS_TEXT: Key = Key("rules-as-text");
pub const RULES_AS_LIST: Key = Key("rules-as-list");
pub const RULE_ON: Key = Key("rule-on");
pub const RULE_WAY: Key = Key("rule-way");
pub const RULE_WAY_SERVER: Key = Key("rule-way-server");
pub const RULE_WAY_CLIENT: Key = Key("rule-way-client");
pub const RULE_WAY_BOTH: Key = Key("rule-way-both");
pub const RULE_ACTION: Key = Key("rule-action");
pub const RULE_DO_REWRITE: Key = Key("rule-do-rewrite");
pub const RULE_DO_DROP: Key = Key("rule-do-drop");
pub const RULE_DO_DELAY: Key = Key("rule-do-delay");
pub const RULE_DO_THROTTLE: Key = Key("rule-do-throttle");
pub const RULE_DO_SLICE: Key = Key("rule-do-slice");
pub const RULE_DO_RESET: Key = Key("rule-do-reset");
pub const RULE_DO_SLOW_CLOSE: Key = Key("rule-do-slow-close");
pub const RULE_DO_LIMIT: Key = Key("rule-do-limit");
pub const RULE_DO_BLACK_HOLE: Key = Key("rule-do-black-hole");
pub const RULE_DO_INTERCEPT: Key = Key("rule-do-intercept");
pub const RULE_REWRITE_WITH: Key = Key("rule-rewrite-with");
pub const RULE_SECONDS: Key = Key("rule-seconds");
pub const RULE_JITTER: Key = Key("rule-jitter");
pub const RULE_BYTES_PER_SEC: Key = Key("rule-bytes-per-sec");
pub const RULE_SLICE_SIZE: Key = Key("rule-slice-size");
pub const RULE_PAUSE: Key = Key("rule-pause");
pub const RULE_LIMIT_BYTES: Key = Key("rule-limit-bytes");
pub const RULE_MATCH: Key = Key("rule-match");
pub const RULE_MATCH_EVERY: Key = Key("rule-match-every");
pub const RULE_MATCH_EQUALS: Key = Key("rule-match-equals");
pub const RULE_MATCH_STARTS_WITH: Key = Key("rule-match-starts-with");
pub const RULE_MATCH_CONTAINS: Key = Key("rule-match-contains");
pub const RULE_MATCH_REGEX: Key = Key("rule-match-regex");
pub const RULE_PATTERN: Key = Key("rule-pattern");
pub const RULE_MOVE_UP: Key = Key("rule-move-up");
pub const RULE_MOVE_DOWN: Key = Key("rule-move-down");
pub const RULE_REMOVE: Key = Key("rule-remove");
pub const RULE_PATTERN_AS: Key = Key("rule-pattern-as");
pub const RULE_WITH_AS: Key = Key("rule-with-as");
/// A relay's chunks held by intercept rules.
pub const HELD: Key = Key("held");
/// None held.
pub const HELD_NONE: Key = Key("held-none");
/// Let every held chunk go.
pub const FORWARD_ALL: Key = Key("forward-all");
/// Edit a held chunk as hex.
pub const HELD_HEX: Key = Key("held-hex");
/// Let one go (as edited).
pub const FORWARD: Key = Key("forward");
/// Throw one away.
pub const DROP_HELD: Key = Key("drop-held");
/// A relay with no rules.
pub const NO_RULES: Key = Key("no-rules");
pub const SERIAL_PORT: Key = Key("serial-port");
pub const SERIAL_PORTS: Key = Key("serial-ports");
pub const REFRESH_PORTS: Key = Key("refresh-ports");
pub const BAUD: Key = Key("baud");
pub const DATA_BITS: Key = Key("data-bits");
pub const PARITY: Key = Key("parity");
pub const STOP_BITS: Key = Key("stop-bits");
pub const FLOW: Key = Key("flow");
pub const MODEM_LINES: Key = Key("modem-lines");
pub const SERIAL_SETTINGS: Key = Key("serial-settings");
pub const DTR: Key = Key("dtr");
pub const RTS: Key = Key("rts");
pub const SEND_BREAK: Key = Key("send-break");
pub const MORE_OPTIONS: Key = Key("more-options");
pub const ENCODING: Key = Key("encoding");
pub const RESPONDER: Key = Key("responder");
pub const RESPONDER_NONE: Key = Key("responder-none");
pub const RESPONDER_ECHO: Key = Key("responder-echo");
pub const RESPONDER_FIXED: Key = Key("responder-fixed");
pub const RESPONDER_TIME: Key = Key("responder-time");
pub const RESPONDER_CANNED: Key = Key("responder-canned");
pub const REPLY: Key = Key("reply");
pub const ADD_RULE: Key = Key("add-rule");
pub const DEFAULT_REPLY: Key = Key("default-reply");
pub const DELIMITER: Key = Key("delimiter");
pub const REPLY_TEMPLATE: Key = Key("reply-template");
pub const REPLY_DELAY: Key = Key("reply-delay");
pub const REUSE_ADDRESS: Key = Key("reuse-address");
pub const NODELAY: Key = Key("nodelay");
pub const KEEPALIVE: Key = Key("keepalive");

pub const SESSIONS: Key = Key("sessions");
pub const CLOSE: Key = Key("close");
pub const CLOSE_SOCKET: Key = Key("close-socket");
pub const CLOSE_ALL: Key = Key("close-all");
pub const REOPEN: Key = Key("reopen");
pub const DUPLICATE: Key = Key("duplicate");
pub const FORGET: Key = Key("forget");

pub const SEND: Key = Key("send");
pub const SEND_ALL: Key = Key("send-all");
pub const SHUTDOWN: Key = Key("shutdown");
pub const ABORT: Key = Key("abort");
pub const PAYLOAD: Key = Key("payload");
pub const DESTINATION: Key = Key("destination");
pub const MODE_TEXT: Key = Key("mode-text");
pub const MODE_HEX: Key = Key("mode-hex");
pub const MODE_ESCAPED: Key = Key("mode-escaped");
pub const REPEAT: Key = Key("repeat");
pub const SEND_FILE: Key = Key("send-file");

pub const LOG_SEARCH: Key = Key("log-search");
pub const SHOW_IN: Key = Key("show-in");
pub const SHOW_OUT: Key = Key("show-out");
pub const FOLLOW: Key = Key("follow");
pub const PAUSE: Key = Key("pause");
pub const CLEAR: Key = Key("clear");
pub const AS_HEX: Key = Key("as-hex");
pub const WALL_CLOCK: Key = Key("wall-clock");
pub const ALL_SESSIONS: Key = Key("all-sessions");
pub const COPY: Key = Key("copy");
pub const EXPORT_TEXT: Key = Key("export-text");
pub const EXPORT_JSONL: Key = Key("export-jsonl");
pub const EXPORT_PCAPNG: Key = Key("export-pcapng");

pub const INSPECTOR: Key = Key("inspector");
pub const OPTIONS: Key = Key("options");

pub const PRESETS: Key = Key("presets");
pub const OPEN_LAST_WORKSPACE: Key = Key("open-last-workspace");
pub const REOPEN_NEXT_TIME: Key = Key("reopen-next-time");
pub const PRESET_NAME: Key = Key("preset-name");
pub const SAVE_PRESET: Key = Key("save-preset");
pub const REPLACE: Key = Key("replace");
pub const CANCEL: Key = Key("cancel");
pub const RENAME: Key = Key("rename");
pub const COPY_PRESET: Key = Key("copy-preset");
pub const DELETE: Key = Key("delete");
pub const CONFIRM_DELETE: Key = Key("confirm-delete");
pub const UNDO: Key = Key("undo");
pub const PRESET_FILE: Key = Key("preset-file");
pub const IMPORT: Key = Key("import");
pub const EXPORT: Key = Key("export");
pub const OPEN_PICKED: Key = Key("open-picked");
pub const SNIPPET_NAME: Key = Key("snippet-name");
pub const SAVE_SNIPPET: Key = Key("save-snippet");
pub const QUICK_SEND: Key = Key("quick-send");
pub const EVERY: Key = Key("every");
pub const START_PERIODIC: Key = Key("start-periodic");
pub const STOP_PERIODIC: Key = Key("stop-periodic");
pub const LOAD_SNIPPET: Key = Key("load-snippet");
pub const RENAME_TO: Key = Key("rename-to");
pub const RENAME_SNIPPET: Key = Key("rename-snippet");
pub const REMOVE_SNIPPET: Key = Key("remove-snippet");
pub const STEP_MODE: Key = Key("step-mode");
pub const NEW_STEPPER: Key = Key("new-stepper");
pub const STEP_VAR: Key = Key("step-var");
pub const STEP_INTO: Key = Key("step-into");
pub const STEP_ADDR: Key = Key("step-addr");
pub const STEP_BACKLOG: Key = Key("step-backlog");
pub const STEP_BUFSIZE: Key = Key("step-bufsize");
pub const STEP_TIMEOUT: Key = Key("step-timeout");
pub const STEP_BLOCKING: Key = Key("step-blocking");
pub const STEP_HOW: Key = Key("step-how");
pub const STEP_DATA: Key = Key("step-data");
pub const STEP_OPTION: Key = Key("step-option");
pub const STEP_CANCEL: Key = Key("step-cancel");
pub const STEP_REPLAY: Key = Key("step-replay");
pub const STEP_REPLAY_STEPWISE: Key = Key("step-replay-stepwise");
pub const STEP_NEXT: Key = Key("step-next");
pub const COPY_PYTHON: Key = Key("copy-python");
pub const COPY_RUST: Key = Key("copy-rust");
pub const COPY_SESSION_PYTHON: Key = Key("copy-session-python");
pub const COPY_SESSION_RUST: Key = Key("copy-session-rust");
pub const LIVE_OPTION: Key = Key("live-option");
pub const SET_OPTION: Key = Key("set-option");
pub const HTTP_RESPONSE: Key = Key("http-response");
pub const HTTP_BODY: Key = Key("http-body");
pub const HTTP_REQUEST: Key = Key("http-request");
pub const HTTP_FILL: Key = Key("http-fill");

pub const TLS: Key = Key("tls");
pub const TLS_IDENTITY: Key = Key("tls-identity");
pub const WS_HANDSHAKE: Key = Key("ws-handshake");
pub const COPY_CERT_PEM: Key = Key("copy-cert-pem");
pub const USE_TLS: Key = Key("use-tls");
pub const TLS_SERVER_NAME: Key = Key("tls-server-name");
pub const TLS_ALPN: Key = Key("tls-alpn");
pub const TLS_HANDSHAKE_TIMEOUT: Key = Key("tls-handshake-timeout");
pub const TLS_CA_FILE: Key = Key("tls-ca-file");
pub const TLS_ROOTS: Key = Key("tls-roots");
pub const TLS_INSECURE: Key = Key("tls-insecure");
pub const TLS_CERT_FILE: Key = Key("tls-cert-file");
pub const TLS_KEY_FILE: Key = Key("tls-key-file");
pub const TLS_SELF_SIGNED: Key = Key("tls-self-signed");

pub const REOPEN_LAST: Key = Key("reopen-last");
pub const QUIT_TITLE: Key = Key("quit-title");
pub const QUIT_AND_CLOSE: Key = Key("quit-and-close");
pub const CANCEL_QUIT: Key = Key("cancel-quit");
pub const MESSAGES: Key = Key("messages");
pub const SHORTCUTS: Key = Key("shortcuts");
pub const TEXT_AND_HEX: Key = Key("text-and-hex");
pub const SHOW_AS: Key = Key("show-as");
pub const RESET_COUNTERS: Key = Key("reset-counters");
pub const SHOW_EVENTS: Key = Key("show-events");
pub const VIEW: Key = Key("view");
pub const SEND_TARGET: Key = Key("send-target");
pub const ALL_CONNECTIONS: Key = Key("all-connections");
pub const CHECKSUM: Key = Key("checksum");
pub const REPLY_CHECKSUM: Key = Key("reply-checksum");
pub const RESEND: Key = Key("resend");
pub const CAPTURE: Key = Key("capture");
pub const EXPORT_AND_CAPTURE: Key = Key("export-and-capture");
pub const CAPTURE_TO: Key = Key("capture-to");
pub const CAPTURE_FORMAT: Key = Key("capture-format");
pub const CAPTURE_LIMIT: Key = Key("capture-limit");
pub const CAPTURE_KEEP: Key = Key("capture-keep");
pub const START_CAPTURE: Key = Key("start-capture");
pub const STOP_CAPTURE: Key = Key("stop-capture");
pub const TCP_INFO: Key = Key("tcp-info");
pub const WS_URL: Key = Key("ws-url");
pub const WS_HEADERS: Key = Key("ws-headers");
pub const WS_SUBPROTOCOLS: Key = Key("ws-subprotocols");
pub const WS_PATH: Key = Key("ws-path");
pub const WS_AUTO_PONG: Key = Key("ws-auto-pong");
pub const WS_SEND_AS: Key = Key("ws-send-as");
pub const WS_CLOSE_CODE: Key = Key("ws-close-code");
pub const WSS_TRUST: Key = Key("wss-trust");
pub const USE_TLS_WSS: Key = Key("use-tls-wss");
pub const FRAMING: Key = Key("framing");
pub const FRAMING_NONE: Key = Key("framing-none");
pub const FRAMING_DELIMITER: Key = Key("framing-delimiter");
pub const FRAMING_LENGTH: Key = Key("framing-length");
pub const FRAMING_FIXED: Key = Key("framing-fixed");
pub const FRAMING_ENDS_WITH: Key = Key("framing-ends-with");
pub const FRAMING_SIZE: Key = Key("framing-size");

/// The kinds in the form's menu (UDP and socketpair are their own names).
pub const KIND_TCP_CLIENT: Key = Key("kind-tcp-client");
pub const KIND_TCP_SERVER: Key = Key("kind-tcp-server");
pub const KIND_UNIX_CLIENT: Key = Key("kind-unix-client");
pub const KIND_UNIX_SERVER: Key = Key("kind-unix-server");
pub const KIND_UNIX_DATAGRAM: Key = Key("kind-unix-datagram");
pub const KIND_SERIAL: Key = Key("kind-serial");
pub const KIND_WS_CLIENT: Key = Key("kind-ws-client");
pub const KIND_WS_SERVER: Key = Key("kind-ws-server");
pub const KIND_RELAY: Key = Key("kind-relay");

/// The View menu's language row.
pub const LANGUAGE: Key = Key("language");
/// Start and stop a repeated send.
pub const REPEAT_START: Key = Key("repeat-start");
pub const REPEAT_STOP: Key = Key("repeat-stop");

/// The top bar's switch between our sessions and the machine's sockets.
pub const VIEW_SESSIONS: Key = Key("view-sessions");
pub const VIEW_SYSTEM: Key = Key("view-system");
/// The System sockets view.
pub const SYS_FILTER: Key = Key("sys-filter");
pub const SYS_PAUSE: Key = Key("sys-pause");
pub const SYS_RESUME: Key = Key("sys-resume");
pub const SYS_REFRESH: Key = Key("sys-refresh");
pub const SYS_OPEN_CLIENT: Key = Key("sys-open-client");
pub const SYS_SERVER_LIKE: Key = Key("sys-server-like");
pub const SYS_COPY_SS: Key = Key("sys-copy-ss");
pub const SYS_DESTROY: Key = Key("sys-destroy");
pub const SYS_DESTROY_SURE: Key = Key("sys-destroy-sure");
pub const SYS_DESTROY_CANCEL: Key = Key("sys-destroy-cancel");
pub const SYS_COL_KIND: Key = Key("sys-col-kind");
pub const SYS_COL_STATE: Key = Key("sys-col-state");
pub const SYS_COL_RECVQ: Key = Key("sys-col-recvq");
pub const SYS_COL_SENDQ: Key = Key("sys-col-sendq");
pub const SYS_COL_LOCAL: Key = Key("sys-col-local");
pub const SYS_COL_REMOTE: Key = Key("sys-col-remote");
pub const SYS_COL_PROCESS: Key = Key("sys-col-process");
pub const SYS_COL_USER: Key = Key("sys-col-user");
pub const SYS_COL_RTT: Key = Key("sys-col-rtt");
