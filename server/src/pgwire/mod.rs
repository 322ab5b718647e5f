//! The PostgreSQL wire protocol, version 3: simple and extended queries, on the
//! `pgwire` crate's message codecs. The server lets `psql`, drivers and tools run SQL
//! on any node; the client backs `percore sql --connect` and the cluster tests.

mod array_values;
mod authenticate;
pub mod client;
mod codec;
mod connection;
mod copy_out;
mod extended;
mod params;
pub mod passwords;
mod scram;
pub mod server;
mod sessions;
mod statement;
mod values;

pub use sessions::Sessions;
