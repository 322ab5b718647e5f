//! A node's memory: one budget per core. Every query's reservations on a core draw
//! from that core's budget; a query admitted with a minimum holds it for its whole
//! run, so its operators can always make progress (spilling beyond it).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;

/// Called when memory comes back while queries wait for admission.
pub(crate) type RoomHook = Box<dyn Fn() + Send + Sync>;

/// The per-core budgets of one node. Counters are atomic because a reservation may be
/// released on another core than the one it was charged to (a batch that crossed an
/// exchange is dropped by its consumer).
pub struct MemoryPool {
    budget_per_core: usize,
    cores: Vec<CoreBudget>,
    /// The least any waiting query needs free on every core, `usize::MAX` while none
    /// waits: most returns of memory then cost one load, and admission hears only of
    /// those that may let a query start.
    room_wanted: AtomicUsize,
    on_room: OnceLock<RoomHook>,
}

#[derive(Default)]
struct CoreBudget {
    used: AtomicUsize,
    peak: AtomicUsize,
}

impl MemoryPool {
    pub fn new(cores: usize, budget_per_core: usize) -> MemoryPool {
        MemoryPool {
            budget_per_core,
            cores: (0..cores).map(|_| CoreBudget::default()).collect(),
            room_wanted: AtomicUsize::new(usize::MAX),
            on_room: OnceLock::new(),
        }
    }

    pub fn budget_per_core(&self) -> usize {
        self.budget_per_core
    }

    pub fn cores(&self) -> usize {
        self.cores.len()
    }

    /// Bytes reserved on `core` right now, by all queries.
    pub fn used(&self, core: usize) -> usize {
        self.cores[core].used.load(Ordering::Relaxed)
    }

    /// The most ever reserved on `core` at once.
    pub fn peak(&self, core: usize) -> usize {
        self.cores[core].peak.load(Ordering::Relaxed)
    }

    /// Takes `bytes` on `core` if they fit in its budget.
    pub(crate) fn try_take(&self, core: usize, bytes: usize) -> bool {
        let budget = &self.cores[core];
        let taken = budget
            .used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| {
                used.checked_add(bytes)
                    .filter(|&total| total <= self.budget_per_core)
            });
        match taken {
            Ok(before) => {
                budget.peak.fetch_max(before + bytes, Ordering::Relaxed);
                true
            }
            Err(_) => false,
        }
    }

    /// Takes `bytes` on `core` whether or not they fit: memory that exists already and
    /// cannot be spilled (a batch waiting in an exchange).
    pub(crate) fn force_take(&self, core: usize, bytes: usize) {
        let budget = &self.cores[core];
        let before = budget.used.fetch_add(bytes, Ordering::AcqRel);
        budget.peak.fetch_max(before + bytes, Ordering::Relaxed);
    }

    pub(crate) fn give_back(&self, core: usize, bytes: usize) {
        self.cores[core].used.fetch_sub(bytes, Ordering::AcqRel);
        let wanted = self.room_wanted.load(Ordering::Acquire);
        if wanted != usize::MAX && self.has_room(wanted) {
            if let Some(hook) = self.on_room.get() {
                hook();
            }
        }
    }

    /// Returns what a failed admission took, without telling admission: it happens
    /// while admission looks for room, and nothing new is free.
    pub(crate) fn undo_take(&self, core: usize, bytes: usize) {
        self.cores[core].used.fetch_sub(bytes, Ordering::AcqRel);
    }

    /// Whether every core has `bytes` free.
    pub(crate) fn has_room(&self, bytes: usize) -> bool {
        (0..self.cores.len())
            .all(|core| self.budget_per_core.saturating_sub(self.used(core)) >= bytes)
    }

    /// Admission waits for `bytes` free on every core (`usize::MAX`: for nothing).
    pub(crate) fn want_room(&self, bytes: usize) {
        self.room_wanted.store(bytes, Ordering::Release);
    }

    /// What to call when the room admission wants may have come back; set once.
    pub(crate) fn on_room(&self, hook: RoomHook) {
        let _ = self.on_room.set(hook);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_core_never_lends_beyond_its_budget() {
        let pool = MemoryPool::new(2, 100);
        assert!(pool.try_take(0, 60));
        assert!(!pool.try_take(0, 41), "60 + 41 > 100");
        assert!(pool.try_take(0, 40));
        assert!(pool.try_take(1, 100), "cores have separate budgets");
        pool.give_back(0, 60);
        assert_eq!(pool.used(0), 40);
        assert_eq!(pool.peak(0), 100);
        pool.force_take(0, 200);
        assert_eq!(pool.used(0), 240);
        assert!(!pool.try_take(0, 1));
    }
}
