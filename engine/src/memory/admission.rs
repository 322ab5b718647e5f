//! Admission control: a query starts only when its minimum reservation fits on every
//! core of the node. A query that fits starts at once, also while others wait, so a
//! burst of queries that together fit never queues. Those that do not fit wait in
//! arrival order, bounded in number and time (node settings), and every one that fits
//! starts as soon as memory comes back: the pool calls admission when a core returns
//! enough for the smallest waiter (no polling). A query that has waited
//! [`STARVATION`] is no longer overtaken, so a stream of small queries cannot starve a
//! large one. The queued and running queries are what `SHOW QUERIES` lists.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::thread::Thread;
use std::time::{Duration, Instant};

use super::pool::MemoryPool;
use super::query::QueryMemory;
use super::spill::SpillSpace;
use super::{ByteSize, NodeMemory};
use crate::error::{ErrorCode, QueryError, QueryResult};
use crate::exec::statement_cancel::StatementCancel;

/// How long a waiting query may be overtaken by newcomers that fit.
pub const STARVATION: Duration = Duration::from_secs(1);

/// The longest a waiter sleeps before it looks whether memory came back unnoticed:
/// wakeups are driven by returned memory, this only bounds the cost of a missed one.
const LOOK_AGAIN: Duration = Duration::from_secs(1);

#[derive(Default)]
pub struct Admission {
    next_id: AtomicU64,
    waiting: Mutex<Waiting>,
    /// Set when memory came back; whoever looks at the queue next clears it.
    memory_returned: AtomicBool,
    /// The waiter woken when memory comes back (the oldest); it starts every waiter
    /// that fits, itself or others.
    watcher: Mutex<Option<Thread>>,
    queries: Mutex<BTreeMap<u64, Entry>>,
}

#[derive(Default)]
struct Waiting {
    queue: VecDeque<Waiter>,
    /// Memory taken for waiters that have not picked it up yet.
    granted: HashMap<u64, Arc<QueryMemory>>,
}

struct Waiter {
    id: u64,
    request: AdmissionRequest,
    since: Instant,
    thread: Thread,
}

struct Entry {
    sql: String,
    since: Instant,
    memory: Option<Weak<QueryMemory>>,
}

/// One row of `SHOW QUERIES`.
#[derive(Debug, Clone)]
pub struct QueryInfo {
    pub id: u64,
    pub state: &'static str,
    pub elapsed: Duration,
    /// Bytes held now, summed over the node's cores.
    pub reserved: usize,
    pub sql: String,
}

/// What a query needs to be admitted.
#[derive(Debug, Clone, Copy)]
pub struct AdmissionRequest {
    pub limit_per_core: usize,
    pub min_per_core: usize,
    /// Take the minimum even when it does not fit (a peer node's part of a query its
    /// coordinator already admitted: waiting there could deadlock two coordinators).
    pub force: bool,
    /// The statement's `statement_timeout`: waiting for memory counts against it, as
    /// waiting for a lock does in PostgreSQL.
    pub statement_timeout: Option<Duration>,
}

impl AdmissionRequest {
    /// What the query holds on every core once admitted (see [`QueryMemory`]).
    fn held_per_core(&self, pool: &MemoryPool) -> usize {
        self.min_per_core
            .min(self.limit_per_core)
            .min(pool.budget_per_core())
    }
}

/// An admitted query's memory; it leaves `SHOW QUERIES` when dropped.
pub struct Admitted {
    pub memory: Arc<QueryMemory>,
    /// How long the query waited for its memory (part of its statement time).
    pub waited: Duration,
    admission: Arc<Admission>,
    id: u64,
}

impl Drop for Admitted {
    fn drop(&mut self) {
        self.admission.forget(self.id);
    }
}

impl Admission {
    /// Admission for the queries drawing on `pool`, which tells it when memory
    /// comes back.
    pub(crate) fn new(pool: &MemoryPool) -> Arc<Admission> {
        let admission = Arc::new(Admission::default());
        let weak = Arc::downgrade(&admission);
        pool.on_room(Box::new(move || {
            if let Some(admission) = weak.upgrade() {
                admission.memory_came_back();
            }
        }));
        admission
    }

    /// Waits until `request` fits, then returns the query's memory. A `cancel`
    /// request ends the wait at once.
    ///
    /// # Errors
    /// `ResourcesExhausted` when the queue is full or the wait times out; `Cancelled`
    /// when cancelled while waiting.
    pub fn admit(
        node: &NodeMemory,
        sql: &str,
        request: AdmissionRequest,
        cancel: Option<&StatementCancel>,
    ) -> QueryResult<Admitted> {
        let this = &node.admission;
        if let Some(cancel) = cancel {
            cancel.check()?;
        }
        let id = this.next_id.fetch_add(1, Ordering::Relaxed);
        if request.force {
            let memory = try_admit(node, request).expect("forced admission");
            return Ok(this.running(id, sql, memory, Duration::ZERO));
        }
        let since = Instant::now();
        {
            let mut waiting = this.lock_waiting();
            if !waiting.oldest_starves(since) {
                if let Some(memory) = try_admit(node, request) {
                    drop(waiting);
                    return Ok(this.running(id, sql, memory, Duration::ZERO));
                }
            }
            if waiting.queue.len() >= node.settings.admission_queue {
                return Err(QueryError::new(
                    ErrorCode::ResourcesExhausted,
                    format!(
                        "admission queue full: {} queries already wait for memory \
                         (admission_queue)",
                        waiting.queue.len()
                    ),
                ));
            }
            waiting.queue.push_back(Waiter {
                id,
                request,
                since,
                thread: std::thread::current(),
            });
            // Memory returned before the pool knew what this query wants is seen
            // by the first look below.
            this.watch(&waiting, &node.pool);
        }
        this.lock_queries().insert(
            id,
            Entry {
                sql: sql.to_string(),
                since,
                memory: None,
            },
        );
        let admission_deadline = since + node.settings.admission_timeout;
        let statement_deadline = request.statement_timeout.map(|timeout| since + timeout);
        let deadline = statement_deadline.map_or(admission_deadline, |statement| {
            statement.min(admission_deadline)
        });
        let mut first_look = true;
        let outcome = loop {
            {
                let mut waiting = this.lock_waiting();
                if this.memory_returned.swap(false, Ordering::AcqRel) || first_look {
                    this.start_what_fits(&mut waiting, node);
                    first_look = false;
                }
                if let Some(memory) = waiting.granted.remove(&id) {
                    break Ok(memory);
                }
                if let Some(error) = cancel.and_then(|cancel| cancel.check().err()) {
                    waiting.queue.retain(|waiter| waiter.id != id);
                    this.watch(&waiting, &node.pool);
                    break Err(error);
                }
                if Instant::now() >= deadline {
                    waiting.queue.retain(|waiter| waiter.id != id);
                    this.watch(&waiting, &node.pool);
                    if statement_deadline == Some(deadline) {
                        break Err(QueryError::new(
                            ErrorCode::Cancelled,
                            format!(
                                "canceling statement due to statement timeout (it waited \
                                 {:.1} s for {} per core of memory)",
                                since.elapsed().as_secs_f64(),
                                ByteSize(request.min_per_core),
                            ),
                        ));
                    }
                    break Err(QueryError::new(
                        ErrorCode::ResourcesExhausted,
                        format!(
                            "waited {:.1} s for {} per core of memory to start the query; \
                             the running queries still hold it (see SHOW QUERIES)",
                            since.elapsed().as_secs_f64(),
                            ByteSize(request.min_per_core),
                        ),
                    ));
                }
            }
            let timeout = deadline
                .saturating_duration_since(Instant::now())
                .min(LOOK_AGAIN);
            match cancel {
                Some(cancel) => cancel.park_timeout(timeout),
                None => std::thread::park_timeout(timeout),
            }
        };
        this.forget(id);
        outcome.map(|memory| this.running(id, sql, memory, since.elapsed()))
    }

    /// Called by the pool when a core returned memory while queries wait: wakes
    /// the watcher, once until it has looked.
    fn memory_came_back(&self) {
        if self.memory_returned.swap(true, Ordering::AcqRel) {
            return;
        }
        if let Some(watcher) = self.lock_watcher().as_ref() {
            watcher.unpark();
        }
    }

    /// Starts every waiter that fits, oldest first, until one that has waited
    /// [`STARVATION`] does not: those behind it wait for it.
    fn start_what_fits(&self, waiting: &mut Waiting, node: &NodeMemory) {
        let now = Instant::now();
        let mut index = 0;
        while let Some(waiter) = waiting.queue.get(index) {
            if let Some(memory) = try_admit(node, waiter.request) {
                let waiter = waiting.queue.remove(index).expect("looked at");
                waiting.granted.insert(waiter.id, memory);
                waiter.thread.unpark();
            } else if now.duration_since(waiter.since) >= STARVATION {
                break;
            } else {
                index += 1;
            }
        }
        self.watch(waiting, &node.pool);
    }

    /// Tells the pool what room to report (the least a waiter that may start next
    /// needs) and makes the oldest waiter the watcher.
    fn watch(&self, waiting: &Waiting, pool: &MemoryPool) {
        let now = Instant::now();
        let mut wanted = usize::MAX;
        for waiter in &waiting.queue {
            wanted = wanted.min(waiter.request.held_per_core(pool));
            if now.duration_since(waiter.since) >= STARVATION {
                break;
            }
        }
        pool.want_room(wanted);
        let mut watcher = self.lock_watcher();
        *watcher = waiting.queue.front().map(|waiter| waiter.thread.clone());
        // Memory that came back while the old watcher was leaving woke only it.
        if self.memory_returned.load(Ordering::Acquire) {
            if let Some(watcher) = watcher.as_ref() {
                watcher.unpark();
            }
        }
    }

    fn running(
        self: &Arc<Self>,
        id: u64,
        sql: &str,
        memory: Arc<QueryMemory>,
        waited: Duration,
    ) -> Admitted {
        self.lock_queries().insert(
            id,
            Entry {
                sql: sql.to_string(),
                since: Instant::now(),
                memory: Some(Arc::downgrade(&memory)),
            },
        );
        Admitted {
            memory,
            waited,
            admission: Arc::clone(self),
            id,
        }
    }

    /// Queued and running queries, oldest first.
    pub fn queries(&self) -> Vec<QueryInfo> {
        self.lock_queries()
            .iter()
            .map(|(&id, entry)| {
                let memory = entry.memory.as_ref().map(Weak::upgrade);
                QueryInfo {
                    id,
                    state: if entry.memory.is_some() {
                        "running"
                    } else {
                        "queued"
                    },
                    elapsed: entry.since.elapsed(),
                    reserved: match memory {
                        Some(Some(memory)) => memory.used_total(),
                        _ => 0,
                    },
                    sql: entry.sql.clone(),
                }
            })
            .collect()
    }

    fn forget(&self, id: u64) {
        self.lock_queries().remove(&id);
    }

    fn lock_waiting(&self) -> std::sync::MutexGuard<'_, Waiting> {
        self.waiting.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn lock_watcher(&self) -> std::sync::MutexGuard<'_, Option<Thread>> {
        self.watcher.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn lock_queries(&self) -> std::sync::MutexGuard<'_, BTreeMap<u64, Entry>> {
        self.queries.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Waiting {
    /// Whether the oldest waiter has waited so long that newcomers queue behind it.
    fn oldest_starves(&self, now: Instant) -> bool {
        self.queue
            .front()
            .is_some_and(|waiter| now.duration_since(waiter.since) >= STARVATION)
    }
}

/// Takes `request`'s minimum on every core of the node, if it fits (or is forced).
fn try_admit(node: &NodeMemory, request: AdmissionRequest) -> Option<Arc<QueryMemory>> {
    QueryMemory::try_admit(
        &node.pool,
        request.limit_per_core,
        request.min_per_core,
        SpillSpace::new(&node.disk),
        &node.tables,
        request.force,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory::MemorySettings;

    fn node_memory(budget: usize, timeout_ms: u64) -> NodeMemory {
        node_with_queue(budget, timeout_ms, 1)
    }

    fn node_with_queue(budget: usize, timeout_ms: u64, queue: usize) -> NodeMemory {
        NodeMemory::new(
            2,
            MemorySettings {
                per_core: budget,
                admission_timeout: Duration::from_millis(timeout_ms),
                admission_queue: queue,
                ..MemorySettings::default()
            },
        )
    }

    /// Admits `min` on another thread, as a client connection would.
    fn admit_in_background(
        node: &NodeMemory,
        sql: &'static str,
        min: usize,
    ) -> std::thread::JoinHandle<QueryResult<Admitted>> {
        let node = node.clone();
        std::thread::spawn(move || Admission::admit(&node, sql, request(min), None))
    }

    fn states(node: &NodeMemory) -> Vec<(String, &'static str)> {
        node.admission
            .queries()
            .into_iter()
            .map(|query| (query.sql, query.state))
            .collect()
    }

    fn wait_for_queries(node: &NodeMemory, count: usize) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while node.admission.queries().len() < count && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    fn request(min: usize) -> AdmissionRequest {
        AdmissionRequest {
            limit_per_core: usize::MAX,
            min_per_core: min,
            force: false,
            statement_timeout: None,
        }
    }

    #[test]
    fn a_query_waits_until_the_running_one_ends_and_times_out_otherwise() {
        let node = node_memory(100, 5_000);
        let first = Admission::admit(&node, "first", request(80), None).unwrap();
        let waiter = {
            let node = node.clone();
            std::thread::spawn(move || {
                Admission::admit(&node, "second", request(80), None).map(|_| ())
            })
        };
        let deadline = Instant::now() + Duration::from_secs(5);
        while node.admission.queries().len() < 2 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
        }
        let states: Vec<_> = node.admission.queries().iter().map(|q| q.state).collect();
        assert_eq!(states, ["running", "queued"]);
        let third = Admission::admit(&node, "third", request(80), None)
            .err()
            .unwrap();
        assert!(third.message.contains("queue full"), "{third}");
        drop(first);
        waiter
            .join()
            .unwrap()
            .expect("admitted once the first ended");
        assert!(node.admission.queries().is_empty());

        let impatient = node_memory(100, 50);
        let _hog = Admission::admit(&impatient, "hog", request(100), None).unwrap();
        let error = Admission::admit(&impatient, "late", request(1), None)
            .err()
            .unwrap();
        assert_eq!(error.code, ErrorCode::ResourcesExhausted);
        assert!(error.message.contains("SHOW QUERIES"), "{error}");
    }

    #[test]
    fn waiting_for_memory_counts_against_the_statement_timeout() {
        // An admission timeout far beyond the statement's: the statement's decides.
        let node = node_memory(100, 60_000);
        let _hog = Admission::admit(&node, "hog", request(100), None).unwrap();
        let started = Instant::now();
        let patient_for = Duration::from_millis(50);
        let error = Admission::admit(
            &node,
            "late",
            AdmissionRequest {
                statement_timeout: Some(patient_for),
                ..request(1)
            },
            None,
        )
        .err()
        .unwrap();
        assert_eq!(error.code, ErrorCode::Cancelled, "{error}");
        assert!(error.message.contains("statement timeout"), "{error}");
        assert!(started.elapsed() < Duration::from_secs(30));
        assert_eq!(states(&node), [("hog".to_string(), "running")]);

        let free = node_memory(100, 60_000);
        let admitted = Admission::admit(
            &free,
            "at once",
            AdmissionRequest {
                statement_timeout: Some(patient_for),
                ..request(1)
            },
            None,
        )
        .unwrap();
        assert_eq!(admitted.waited, Duration::ZERO);
    }

    /// A client's cancel ends a wait for memory at once (it used to be lost: the
    /// statement had no running query to cancel yet) and leaves the queue clean.
    #[test]
    fn a_cancel_ends_a_wait_for_memory() {
        let node = node_memory(100, 60_000);
        let _hog = Admission::admit(&node, "hog", request(100), None).unwrap();
        let cancel = Arc::new(StatementCancel::default());
        let waiter = {
            let (node, cancel) = (node.clone(), Arc::clone(&cancel));
            std::thread::spawn(move || {
                Admission::admit(&node, "waits", request(1), Some(&cancel)).map(|_| ())
            })
        };
        wait_for_queries(&node, 2);
        cancel.request();
        let error = waiter.join().unwrap().unwrap_err();
        assert_eq!(error.code, ErrorCode::Cancelled, "{error}");
        assert!(error.message.contains("user request"), "{error}");
        assert_eq!(states(&node), [("hog".to_string(), "running")]);
        assert!(node.admission.lock_waiting().queue.is_empty());
    }

    #[test]
    fn a_query_that_fits_starts_while_a_larger_one_waits_which_starts_when_an_operator_frees_memory(
    ) {
        // A timeout far beyond the test: the waiter must be woken, not time out.
        let node = node_with_queue(100, 60_000, 8);
        let running = Admission::admit(&node, "running", request(10), None).unwrap();
        let mut hash_table = crate::memory::Reservation::new(&running.memory, 1);
        assert!(hash_table.try_grow(60));
        let large = admit_in_background(&node, "large", 50);
        wait_for_queries(&node, 2);
        let small =
            Admission::admit(&node, "small", request(30), None).expect("fits beside the others");
        assert_eq!(
            states(&node),
            [
                ("running".to_string(), "running"),
                ("large".to_string(), "queued"),
                ("small".to_string(), "running"),
            ]
        );
        drop(small);
        assert_eq!(
            node.admission.queries().len(),
            2,
            "70 on core 1: still no room"
        );
        drop(hash_table);
        let large = large
            .join()
            .unwrap()
            .expect("woken when the memory came back");
        assert_eq!(large.memory.used_total(), 0);
        drop((large, running));
        assert!(node.admission.queries().is_empty());
        assert_eq!(node.pool.used(0) + node.pool.used(1), 0);
    }

    #[test]
    fn a_query_waiting_past_the_starvation_bound_is_no_longer_overtaken() {
        let node = node_with_queue(100, 60_000, 8);
        let hog = Admission::admit(&node, "hog", request(60), None).unwrap();
        let large = admit_in_background(&node, "large", 50);
        wait_for_queries(&node, 2);
        std::thread::sleep(STARVATION + Duration::from_millis(50));
        let small = admit_in_background(&node, "small", 30);
        wait_for_queries(&node, 3);
        assert_eq!(
            states(&node),
            [
                ("hog".to_string(), "running"),
                ("large".to_string(), "queued"),
                ("small".to_string(), "queued"),
            ],
            "small would fit, but large has waited too long to be overtaken"
        );
        drop(hog);
        let large = large.join().unwrap().expect("large first");
        let small = small.join().unwrap().expect("then small, beside it");
        assert_eq!(node.pool.used(0), 80);
        drop((large, small));
    }

    #[test]
    fn a_burst_of_queries_that_together_fit_all_start_at_once() {
        let node = node_with_queue(1000, 60_000, 1);
        let clients: Vec<_> = (0..50)
            .map(|_| admit_in_background(&node, "burst", 20))
            .collect();
        let admitted: Vec<_> = clients
            .into_iter()
            .map(|client| client.join().unwrap().expect("50 x 20 fit in 1000"))
            .collect();
        assert_eq!(node.pool.used(0), 1000);
        drop(admitted);
        assert_eq!(node.pool.used(0), 0);
    }
}
