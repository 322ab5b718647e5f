//! What each task did, for EXPLAIN ANALYZE: rows, where its output went (within the
//! node or to other nodes), bytes, and time spent waiting for input or for room
//! downstream. Counted per batch on the task's own core; collected when it ends.

use std::cell::{Cell, RefCell};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::operators::heavy_hitters::HotKey;

/// One task's counters, as reported to the coordinator.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TaskStats {
    pub stage: usize,
    pub task: usize,
    pub node: usize,
    pub core: usize,
    pub rows_out: u64,
    pub wall_us: u64,
    /// Waiting for exchange input of any kind.
    pub input_wait_us: u64,
    /// Of that, waits that ended with a batch from (or the end of) another node.
    pub network_wait_us: u64,
    /// Waiting for room in a consumer's channel or for network credit.
    pub send_wait_us: u64,
    /// Rows sent to each consumer task of the output exchange.
    pub rows_per_target: Vec<u64>,
    pub rows_to_other_nodes: u64,
    /// Arrow in-memory bytes handed to consumers on this node.
    pub bytes_within_node: u64,
    /// Bytes written to the network (frames with Arrow IPC payloads).
    pub bytes_to_other_nodes: u64,
    /// The most the query held on this task's core at once (as of the task's end).
    pub core_peak_reserved: u64,
    /// What each memory-holding operator of the task reserved and spilled.
    pub operators: Vec<OperatorStats>,
    /// For a task feeding a hash exchange: the hottest keys of the rows it sampled,
    /// and how many it sampled.
    #[serde(default)]
    pub hot_keys: Vec<HotKey>,
    #[serde(default)]
    pub sampled_rows: u64,
    /// For a side of a skew join: the hot keys it spread (probe) or replicated
    /// (build), and the rows of those keys it sent round-robin or everywhere.
    #[serde(default)]
    pub skew_keys: u64,
    #[serde(default)]
    pub skew_rows: u64,
    /// The network wait by the partition whose batch (or end) ended each wait: who
    /// this task waited for.
    #[serde(default)]
    pub network_wait_by_source_us: Vec<(usize, u64)>,
}

/// Memory and spilling of one operator in one task.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct OperatorStats {
    pub operator: String,
    pub peak_reserved: u64,
    /// Spill files written.
    pub spills: u64,
    pub spilled_bytes: u64,
    pub read_back_bytes: u64,
    /// For scans of Parquet files: row groups read, and skipped by their statistics.
    #[serde(default)]
    pub row_groups_read: u64,
    #[serde(default)]
    pub row_groups_skipped: u64,
    /// Row groups whose statistics hold none of a hash join's build keys.
    #[serde(default)]
    pub row_groups_skipped_by_join_keys: u64,
    /// Rows of the row groups read that the page index ruled out (never decoded).
    #[serde(default)]
    pub rows_skipped_by_pages: u64,
    /// Row groups read filters-first (the other columns decoded only for the rows
    /// that passed).
    #[serde(default)]
    pub row_groups_filtered_first: u64,
    /// Bytes a file scan read from its files.
    #[serde(default)]
    pub bytes_read: u64,
    /// For hash joins: rows the scans under the probe side tested against the build
    /// keys, and rows that passed.
    #[serde(default)]
    pub runtime_filter_tested: u64,
    #[serde(default)]
    pub runtime_filter_passed: u64,
}

/// The live counters of a running task, shared by its streams on one core.
#[derive(Default)]
pub(crate) struct TaskCounters {
    pub rows_out: Cell<u64>,
    pub input_wait: Cell<Duration>,
    pub network_wait: Cell<Duration>,
    pub send_wait: Cell<Duration>,
    pub rows_per_target: RefCell<Vec<u64>>,
    pub rows_to_other_nodes: Cell<u64>,
    pub bytes_within_node: Cell<u64>,
    pub bytes_to_other_nodes: Cell<u64>,
    pub operators: RefCell<Vec<OperatorStats>>,
    pub hot_keys: RefCell<(Vec<HotKey>, u64)>,
    pub skew_keys: Cell<u64>,
    pub skew_rows: Cell<u64>,
    pub network_wait_by_source: RefCell<std::collections::BTreeMap<usize, Duration>>,
}

pub(crate) fn add(cell: &Cell<u64>, value: u64) {
    cell.set(cell.get() + value);
}

pub(crate) fn add_time(cell: &Cell<Duration>, value: Duration) {
    cell.set(cell.get() + value);
}

impl TaskCounters {
    /// Counts a wait for the network that partition `source` ended.
    pub fn waited_for(&self, source: usize, waited: Duration) {
        add_time(&self.network_wait, waited);
        *self
            .network_wait_by_source
            .borrow_mut()
            .entry(source)
            .or_default() += waited;
    }

    pub fn sent_to(&self, target: usize, rows: usize) {
        let mut per_target = self.rows_per_target.borrow_mut();
        if per_target.len() <= target {
            per_target.resize(target + 1, 0);
        }
        per_target[target] += rows as u64;
    }
}
