//! One query's share of a node's memory: what it reserved on each core, the most it
//! may reserve there, and the minimum it was admitted with (held from admission to
//! the end, so an admitted query can always make progress).

use std::fmt;
use std::sync::{Arc, Mutex};

use arrow::record_batch::RecordBatch;

use super::pool::MemoryPool;
use super::size::batch_bytes;
use super::spill::SpillSpace;
use super::table_memory::TableMemory;
use super::ByteSize;
use crate::error::{ErrorCode, TaskError};

pub struct QueryMemory {
    pool: Arc<MemoryPool>,
    limit_per_core: usize,
    min_per_core: usize,
    cores: Vec<Mutex<Ledger>>,
    spill: SpillSpace,
    /// Where a load keeps the table it makes.
    tables: Arc<TableMemory>,
}

#[derive(Default, Clone, Copy)]
struct Ledger {
    used: usize,
    peak: usize,
}

impl QueryMemory {
    /// A query's ledger holding `min_per_core` on every core, or `None` when some
    /// core cannot give that much now (admission waits and retries).
    pub(crate) fn try_admit(
        pool: &Arc<MemoryPool>,
        limit_per_core: usize,
        min_per_core: usize,
        spill: SpillSpace,
        tables: &Arc<TableMemory>,
        force: bool,
    ) -> Option<Arc<QueryMemory>> {
        let limit_per_core = limit_per_core.min(pool.budget_per_core());
        let min_per_core = min_per_core.min(limit_per_core);
        for core in 0..pool.cores() {
            if force {
                pool.force_take(core, min_per_core);
            } else if !pool.try_take(core, min_per_core) {
                for taken in 0..core {
                    pool.undo_take(taken, min_per_core);
                }
                return None;
            }
        }
        Some(Arc::new(QueryMemory {
            pool: Arc::clone(pool),
            limit_per_core,
            min_per_core,
            cores: (0..pool.cores())
                .map(|_| Mutex::new(Ledger::default()))
                .collect(),
            spill,
            tables: Arc::clone(tables),
        }))
    }

    /// A ledger for work outside admission (tests, the exchange benchmark): the
    /// node's whole budget, nothing held up front.
    pub fn unadmitted(pool: &Arc<MemoryPool>, spill: SpillSpace) -> Arc<QueryMemory> {
        let tables = TableMemory::unbounded(pool.cores());
        QueryMemory::try_admit(pool, usize::MAX, 0, spill, &tables, true).expect("forced")
    }

    pub fn spill(&self) -> &SpillSpace {
        &self.spill
    }

    pub fn tables(&self) -> &Arc<TableMemory> {
        &self.tables
    }

    /// Bytes this query holds on `core` (its admitted minimum counts only when used).
    pub fn used(&self, core: usize) -> usize {
        self.ledger(core).used
    }

    /// Bytes this query holds on all cores.
    pub fn used_total(&self) -> usize {
        (0..self.cores.len()).map(|core| self.used(core)).sum()
    }

    /// The most this query held on `core` at once.
    pub fn peak(&self, core: usize) -> usize {
        self.ledger(core).peak
    }

    fn ledger(&self, core: usize) -> std::sync::MutexGuard<'_, Ledger> {
        self.cores[core].lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Adds `bytes` to the query's use of `core`. Beyond the admitted minimum the node's
    /// budget must have room, unless `force` (memory that already exists).
    fn grow(&self, core: usize, bytes: usize, force: bool) -> bool {
        let mut ledger = self.ledger(core);
        let used = ledger.used + bytes;
        if !force && used > self.limit_per_core {
            return false;
        }
        let extra = used.max(self.min_per_core) - ledger.used.max(self.min_per_core);
        if extra > 0 {
            if force {
                self.pool.force_take(core, extra);
            } else if !self.pool.try_take(core, extra) {
                return false;
            }
        }
        ledger.used = used;
        ledger.peak = ledger.peak.max(used);
        true
    }

    fn shrink(&self, core: usize, bytes: usize) {
        let mut ledger = self.ledger(core);
        let used = ledger.used.saturating_sub(bytes);
        let freed = ledger.used.max(self.min_per_core) - used.max(self.min_per_core);
        ledger.used = used;
        if freed > 0 {
            self.pool.give_back(core, freed);
        }
    }
}

impl Drop for QueryMemory {
    fn drop(&mut self) {
        for core in 0..self.cores.len() {
            let used = self.ledger(core).used;
            self.pool.give_back(core, used.max(self.min_per_core));
        }
    }
}

/// Bytes one operator holds on one core, given back when dropped. It may be dropped
/// on another core (a batch handed over an exchange carries its reservation).
pub struct Reservation {
    memory: Arc<QueryMemory>,
    core: usize,
    bytes: usize,
    peak: usize,
}

impl Reservation {
    pub fn new(memory: &Arc<QueryMemory>, core: usize) -> Reservation {
        Reservation {
            memory: Arc::clone(memory),
            core,
            bytes: 0,
            peak: 0,
        }
    }

    /// Charges `batch`, which exists already and cannot be spilled, to `core`: forced,
    /// so operators on that core spill sooner instead.
    pub fn for_batch(memory: &Arc<QueryMemory>, core: usize, batch: &RecordBatch) -> Reservation {
        let mut reservation = Reservation::new(memory, core);
        reservation.grow_forced(batch_bytes(batch));
        reservation
    }

    pub fn size(&self) -> usize {
        self.bytes
    }

    /// The most this reservation held at once.
    pub fn peak(&self) -> usize {
        self.peak
    }

    pub fn core(&self) -> usize {
        self.core
    }

    /// Reserves `bytes` more if the query's and the core's budgets allow.
    pub fn try_grow(&mut self, bytes: usize) -> bool {
        // Nothing more is always granted, also on a core others pushed over budget.
        let granted = bytes == 0 || self.memory.grow(self.core, bytes, false);
        if granted {
            self.bytes += bytes;
            self.peak = self.peak.max(self.bytes);
        }
        granted
    }

    /// Counts `bytes` that are already allocated and cannot be spilled.
    pub fn grow_forced(&mut self, bytes: usize) {
        self.memory.grow(self.core, bytes, true);
        self.bytes += bytes;
        self.peak = self.peak.max(self.bytes);
    }

    pub fn shrink(&mut self, bytes: usize) {
        let bytes = bytes.min(self.bytes);
        self.memory.shrink(self.core, bytes);
        self.bytes -= bytes;
    }

    /// Sets the reservation to `bytes`; `false` (and unchanged) when growing fails.
    pub fn try_resize(&mut self, bytes: usize) -> bool {
        if bytes >= self.bytes {
            self.try_grow(bytes - self.bytes)
        } else {
            self.shrink(self.bytes - bytes);
            true
        }
    }

    pub fn free(&mut self) {
        self.shrink(self.bytes);
    }

    /// The error when `operator` needs `request` more bytes and has nothing left to
    /// spill.
    pub fn exhausted(&self, operator: &str, request: usize) -> TaskError {
        TaskError::new(
            ErrorCode::ResourcesExhausted,
            MemoryExhausted {
                operator,
                core: self.core,
                request,
                held: self.bytes,
                query_used: self.memory.used(self.core),
                limit: self.memory.limit_per_core,
                core_used: self.memory.pool.used(self.core),
                budget: self.memory.pool.budget_per_core(),
            }
            .to_string(),
        )
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        self.free();
    }
}

struct MemoryExhausted<'a> {
    operator: &'a str,
    core: usize,
    request: usize,
    held: usize,
    query_used: usize,
    limit: usize,
    core_used: usize,
    budget: usize,
}

impl fmt::Display for MemoryExhausted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "memory exhausted: {} on core {} needs {} more and cannot spill further \
             (it holds {}; the query holds {} of its {} per core; the core has {} of {} reserved)",
            self.operator,
            self.core,
            ByteSize(self.request),
            ByteSize(self.held),
            ByteSize(self.query_used),
            ByteSize(self.limit),
            ByteSize(self.core_used),
            ByteSize(self.budget),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(pool: &Arc<MemoryPool>, limit: usize, min: usize) -> Option<Arc<QueryMemory>> {
        QueryMemory::try_admit(
            pool,
            limit,
            min,
            SpillSpace::disabled(),
            &TableMemory::unbounded(pool.cores()),
            false,
        )
    }

    #[test]
    fn reservations_respect_the_query_limit_and_the_core_budget() {
        let pool = Arc::new(MemoryPool::new(1, 1000));
        let a = query(&pool, 600, 100).unwrap();
        assert_eq!(pool.used(0), 100, "the minimum is held from admission");
        let mut first = Reservation::new(&a, 0);
        assert!(first.try_grow(80), "within the minimum: no new budget");
        assert_eq!(pool.used(0), 100);
        assert!(first.try_grow(500));
        assert!(!first.try_grow(21), "600 is the query's limit");
        assert_eq!(pool.used(0), 580);
        let b = query(&pool, 1000, 400).unwrap();
        let mut second = Reservation::new(&b, 0);
        assert!(second.try_grow(400), "b's minimum is its own");
        assert!(!second.try_grow(21), "the core is full");
        assert!(query(&pool, 1000, 21).is_none(), "no room to admit a third");
        drop(first);
        assert_eq!(pool.used(0), 500, "a's minimum stays until a ends");
        drop(a);
        assert_eq!(pool.used(0), 400);
        second.free();
        assert_eq!(pool.used(0), 400, "b's minimum stays while b lives");
        drop((second, b));
        assert_eq!(pool.used(0), 0);
    }

    #[test]
    fn a_reservation_released_on_another_thread_returns_to_its_core() {
        let pool = Arc::new(MemoryPool::new(2, 1000));
        let memory = query(&pool, 1000, 0).unwrap();
        let mut reservation = Reservation::new(&memory, 1);
        reservation.grow_forced(2000);
        assert_eq!(pool.used(1), 2000, "forced growth counts past the budget");
        std::thread::spawn(move || drop(reservation))
            .join()
            .unwrap();
        assert_eq!(pool.used(1), 0);
        assert_eq!(memory.peak(1), 2000);
    }
}
