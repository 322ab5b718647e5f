//! Hash join kernels: a table over the build side ([`JoinTable`]) and a resumable
//! probe over it ([`HashJoinProbe`]). `exec::join` runs them under a memory budget.

mod probe;
mod table;

pub use probe::{HashJoinProbe, ProbeMode};
pub use table::JoinTable;
