//! A Percore node: the process behind `percore node`. It owns this node's partitions and
//! executors, talks to its peers over a control channel (query dispatch, plan
//! fingerprints, cancel, heartbeats, completion) and the engine's data plane, and
//! serves clients over the PostgreSQL simple-query protocol.

mod bound_relations;
pub mod config;
pub mod control;
pub mod coordinator;
mod ddl;
mod hot_keys;
pub mod local;
pub mod membership;
pub mod metrics;
pub mod node;
pub mod pgwire;
mod worker;

pub use config::NodeConfig;
pub use node::Node;
