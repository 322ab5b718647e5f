//! The per-core runtime: one pinned glommio executor per core, tasks per (stage,
//! partition), exchanges over bounded channels. Operators run synchronously inside
//! tasks; tasks yield between batches so exchanges, other tasks and cancellation are
//! served on the same core.

mod aggregate;
mod csv_scan;
mod exchange;
mod exchange_filters;
mod join;
mod nested_loop;
mod operator_memory;
mod pace;
mod parquet_filter_first;
mod parquet_prune;
mod parquet_scan;
mod partition_spill;
pub mod query;
pub mod remote;
pub mod runtime;
mod runtime_filters;
mod series_scan;
pub mod skew;
mod sort;
pub mod statement_cancel;
pub mod stats;
pub mod stream;
pub mod table_sink;
pub mod task;
pub mod topology;
mod unnest;
pub mod uring_probe;
mod window;

use crate::operators::output_limit::OutputLimit;

/// Execution settings shared by every task of a query.
#[derive(Debug, Clone, Copy)]
pub struct ExecConfig {
    /// Rows per batch that operators emit (scans slice table batches to it).
    pub batch_rows: usize,
    /// Bytes an operator whose output outgrows its input (joins) puts in one batch;
    /// with wide rows this bound, not `batch_rows`, sizes its batches.
    pub batch_bytes: usize,
    /// Batches an exchange channel holds per consumer before its producers wait.
    pub exchange_buffer_batches: usize,
    /// Skew joins spread hot keys (the session's `percore.skew_join`).
    pub spread_hot_keys: bool,
    /// Each task waits `slowdown - 1` times the time its operators worked (a test
    /// setting that makes this node a straggler; 1 waits nothing).
    pub slowdown: u32,
}

impl Default for ExecConfig {
    fn default() -> Self {
        ExecConfig {
            batch_rows: 8192,
            batch_bytes: 4 << 20,
            exchange_buffer_batches: 4,
            spread_hot_keys: true,
            slowdown: 1,
        }
    }
}

impl ExecConfig {
    /// The bound on each batch an operator emits.
    pub fn output_limit(&self) -> OutputLimit {
        OutputLimit::new(self.batch_rows, self.batch_bytes)
    }
}
