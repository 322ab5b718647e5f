//! The PostgreSQL wire protocol, version 3: the simple-query subset. The server lets
//! `psql` and drivers run SQL on any node; the client backs `percore sql --connect`
//! and the cluster tests.

pub mod client;
mod codec;
pub mod server;
mod sessions;

pub use sessions::Sessions;
