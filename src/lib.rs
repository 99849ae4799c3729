//! ringkv: a Redis-protocol, in-memory key-value server whose network path runs on io_uring.
//! (Layout section is written once the modules settle.)

pub mod client;
pub mod cmd;
pub mod config;
pub mod engine;
pub mod glob;
pub mod protocol;
pub mod reply;
pub mod ring;
pub mod server;
pub mod session;
pub mod shared;
pub mod store;
