//! The tests that drive the `percore` binary (nodes, shell, clients, generator), one
//! binary: each test binary links the server crate, so the modules share one.

mod chaos;
mod clients;
mod cluster;
mod cluster_tables;
mod cluster_tpcds;
mod common;
mod drivers;
mod gen;
mod metrics;
mod release;
mod shell;
