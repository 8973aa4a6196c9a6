//! Sockscope: a socket inspector. The engine opens real sockets on worker
//! threads and reports every call and byte; the headless runner and the
//! desktop app are two consumers of the same engine.

pub mod engine;
pub mod export;
pub mod fsutil;
pub mod headless;
pub mod http;
pub mod pcapng;
pub mod preset;
pub mod sockets;
pub mod store;
pub mod sys;
pub mod ui;
