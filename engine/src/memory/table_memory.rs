//! Memory for loaded tables: each core keeps its partitions of `CREATE TABLE .. AS`
//! tables in memory up to its table budget, and the rest in files on its local disk,
//! read back by scans. The budget is apart from the query budget, so the node's peak
//! is bounded by both together however large the tables grow, and a loaded table
//! never starves the queries that read it.

use std::sync::Arc;

use super::pool::MemoryPool;
use super::spill::{SpillDisk, SpillSpace};

/// A node's table budgets and the directory where rows beyond them go.
pub struct TableMemory {
    pool: Arc<MemoryPool>,
    files: SpillSpace,
}

impl TableMemory {
    /// `per_core` bytes of table rows on each of `cores`; the rest in files under the
    /// spill directory, counted against the spill disk's cap.
    pub fn new(cores: usize, per_core: usize, disk: &Arc<SpillDisk>) -> Arc<TableMemory> {
        Arc::new(TableMemory {
            pool: Arc::new(MemoryPool::new(cores, per_core)),
            files: SpillSpace::named(disk, "tables"),
        })
    }

    /// Tables kept in memory whatever their size (tests and tools without a node).
    pub fn unbounded(cores: usize) -> Arc<TableMemory> {
        Arc::new(TableMemory {
            pool: Arc::new(MemoryPool::new(cores, usize::MAX)),
            files: SpillSpace::disabled(),
        })
    }

    pub fn budget_per_core(&self) -> usize {
        self.pool.budget_per_core()
    }

    /// Bytes of table rows in memory on `core`.
    pub fn used(&self, core: usize) -> usize {
        self.pool.used(core)
    }

    /// Where rows that do not fit go: files that outlive the load's query.
    pub fn files(&self) -> &SpillSpace {
        &self.files
    }

    /// Holds `bytes` on `core` for a table if they fit its table budget.
    pub fn try_hold(self: &Arc<Self>, core: usize, bytes: usize) -> Option<TableMemoryHold> {
        let core = core.min(self.pool.cores().saturating_sub(1));
        self.pool.try_take(core, bytes).then(|| TableMemoryHold {
            memory: Arc::clone(self),
            core,
            bytes,
        })
    }
}

/// Table memory held on one core while a table keeps rows there; given back when the
/// table is dropped or replaced.
pub struct TableMemoryHold {
    memory: Arc<TableMemory>,
    core: usize,
    bytes: usize,
}

impl TableMemoryHold {
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Adds `other`'s bytes to this hold (both on the same core).
    pub fn absorb(&mut self, mut other: TableMemoryHold) {
        if other.core == self.core && Arc::ptr_eq(&other.memory, &self.memory) {
            self.bytes += std::mem::take(&mut other.bytes);
        }
    }
}

impl std::fmt::Debug for TableMemoryHold {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "TableMemoryHold({} bytes on core {})",
            self.bytes, self.core
        )
    }
}

impl Drop for TableMemoryHold {
    fn drop(&mut self) {
        if self.bytes > 0 {
            self.memory.pool.give_back(self.core, self.bytes);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holds_stay_within_the_budget_and_are_given_back_when_dropped() {
        let disk = SpillDisk::new(std::env::temp_dir(), 1 << 20);
        let memory = TableMemory::new(2, 100, &disk);
        let mut first = memory.try_hold(0, 60).expect("fits");
        assert!(memory.try_hold(0, 41).is_none(), "60 + 41 > 100");
        first.absorb(memory.try_hold(0, 40).expect("fits"));
        assert_eq!(first.bytes(), 100);
        assert!(
            memory.try_hold(1, 100).is_some(),
            "cores have their own budget"
        );
        drop(first);
        assert_eq!(memory.used(0), 0);
    }
}
