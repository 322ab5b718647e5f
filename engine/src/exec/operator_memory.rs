//! An operator's reservation on its task's core and the record of what it spilled,
//! reported in the task's statistics when the operator is dropped.

use std::rc::Rc;

use super::stats::{OperatorStats, TaskCounters};
use super::stream::StreamContext;
use crate::error::{TaskError, TaskResult};
use crate::memory::spill::{SpillFile, SpillReader, SpillSpace};
use crate::memory::{QueryMemory, Reservation};
use std::sync::Arc;

pub(crate) struct OperatorMemory {
    pub reservation: Reservation,
    memory: Arc<QueryMemory>,
    stats: OperatorStats,
    counters: Rc<TaskCounters>,
}

impl OperatorMemory {
    pub fn new(operator: &str, context: &StreamContext) -> OperatorMemory {
        let memory = Arc::clone(context.query.memory());
        OperatorMemory {
            reservation: Reservation::new(&memory, context.location.core),
            memory,
            stats: OperatorStats {
                operator: operator.to_string(),
                ..OperatorStats::default()
            },
            counters: Rc::clone(&context.counters),
        }
    }

    pub fn space(&self) -> &SpillSpace {
        self.memory.spill()
    }

    /// A second reservation on the same core, for memory with its own lifetime.
    pub fn new_reservation(&self) -> Reservation {
        Reservation::new(&self.memory, self.reservation.core())
    }

    /// Reserves `bytes` more if the budgets allow.
    pub fn try_grow(&mut self, bytes: usize) -> bool {
        self.reservation.try_grow(bytes)
    }

    /// Reserves `bytes`; when they do not fit but the operator holds nothing (it has
    /// spilled all it could), takes them anyway: one batch per operator is the least
    /// that makes progress, and part of the fixed overhead beyond the budgets.
    pub fn grow_first(&mut self, bytes: usize) -> bool {
        self.hold(self.reservation.size() + bytes)
    }

    /// Sets the reservation to what the operator holds now, with the same exception
    /// as [`OperatorMemory::grow_first`]: holding nothing yet, it may take the bytes
    /// beyond the budget.
    pub fn hold(&mut self, bytes: usize) -> bool {
        if self.reservation.try_resize(bytes) {
            return true;
        }
        if self.reservation.size() == 0 {
            self.reservation.grow_forced(bytes);
            return true;
        }
        false
    }

    /// Sets the reservation to what the operator holds now, beyond the budget when it
    /// must: the bytes are there already (a table built, a batch taken in), and a
    /// reservation that told less would hide them.
    pub fn hold_exactly(&mut self, bytes: usize) {
        if !self.reservation.try_resize(bytes) {
            let extra = bytes.saturating_sub(self.reservation.size());
            self.reservation.grow_forced(extra);
        }
    }

    pub fn exhausted(&self, request: usize) -> TaskError {
        self.reservation.exhausted(&self.stats.operator, request)
    }

    /// For a file scan: row groups it will read, and skipped by their statistics.
    pub fn row_groups(&mut self, read: usize, skipped: usize) {
        self.stats.row_groups_read += read as u64;
        self.stats.row_groups_skipped += skipped as u64;
    }

    /// For a file scan: rows of a row group ruled out by its page index.
    /// A row group counted as read that a join's published keys ruled out after all.
    pub fn row_group_skipped_by_join_keys(&mut self) {
        self.stats.row_groups_read -= 1;
        self.stats.row_groups_skipped_by_join_keys += 1;
    }

    pub fn rows_skipped_by_pages(&mut self, rows: usize) {
        self.stats.rows_skipped_by_pages += rows as u64;
    }

    /// For a file scan: bytes read from its files.
    pub fn read_from_file(&mut self, bytes: usize) {
        self.stats.bytes_read += bytes as u64;
    }

    /// For a file scan: a row group read with its filters first.
    pub fn filtered_first(&mut self) {
        self.stats.row_groups_filtered_first += 1;
    }

    pub fn spilled(&mut self, file: &SpillFile) {
        self.stats.spills += 1;
        self.stats.spilled_bytes += file.bytes();
    }

    /// Opens a spill file to read it back, counting its bytes as read back.
    pub async fn read(&mut self, file: &SpillFile) -> TaskResult<SpillReader> {
        self.stats.read_back_bytes += file.bytes();
        file.reader().await
    }

    /// Opens `file` when there is one (a partition that got rows).
    pub async fn read_some(&mut self, file: Option<&SpillFile>) -> TaskResult<Option<SpillReader>> {
        match file {
            Some(file) => self.read(file).await.map(Some),
            None => Ok(None),
        }
    }
}

impl OperatorMemory {
    /// Adds what a join's runtime filters tested and kept to its statistics.
    pub fn note_runtime_filter(&mut self, tested: u64, passed: u64) {
        self.stats.runtime_filter_tested += tested;
        self.stats.runtime_filter_passed += passed;
    }
}

impl Drop for OperatorMemory {
    fn drop(&mut self) {
        self.stats.peak_reserved = self.reservation.peak() as u64;
        self.counters
            .operators
            .borrow_mut()
            .push(std::mem::take(&mut self.stats));
    }
}
