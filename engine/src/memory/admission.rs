//! Admission control: a query starts only when its minimum reservation fits on every
//! core of the node, so a burst of heavy queries queues (first come, first served,
//! bounded, with a timeout) instead of starving the queries already running. The
//! queued and running queries are what `SHOW QUERIES` lists.

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use super::query::QueryMemory;
use super::spill::SpillSpace;
use super::{ByteSize, NodeMemory};
use crate::error::{ErrorCode, QueryError, QueryResult};

/// How often a queued query looks for room again.
const POLL: Duration = Duration::from_millis(5);

#[derive(Default)]
pub struct Admission {
    next_id: AtomicU64,
    queue: Mutex<VecDeque<u64>>,
    queries: Mutex<BTreeMap<u64, Entry>>,
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
}

/// An admitted query's memory; it leaves `SHOW QUERIES` when dropped.
pub struct Admitted {
    pub memory: Arc<QueryMemory>,
    admission: Arc<Admission>,
    id: u64,
}

impl Drop for Admitted {
    fn drop(&mut self) {
        self.admission.forget(self.id);
    }
}

impl Admission {
    /// Waits until `request` fits, then returns the query's memory.
    ///
    /// # Errors
    /// `ResourcesExhausted` when the queue is full or the wait times out.
    pub fn admit(node: &NodeMemory, sql: &str, request: AdmissionRequest) -> QueryResult<Admitted> {
        let this = &node.admission;
        let id = this.next_id.fetch_add(1, Ordering::Relaxed);
        let admitted = |memory: Arc<QueryMemory>| {
            this.lock_queries().insert(
                id,
                Entry {
                    sql: sql.to_string(),
                    since: Instant::now(),
                    memory: Some(Arc::downgrade(&memory)),
                },
            );
            Admitted {
                memory,
                admission: Arc::clone(this),
                id,
            }
        };
        let attempt = |force| {
            QueryMemory::try_admit(
                &node.pool,
                request.limit_per_core,
                request.min_per_core,
                SpillSpace::new(&node.disk),
                &node.tables,
                force,
            )
        };
        if request.force {
            return Ok(admitted(attempt(true).expect("forced admission")));
        }
        {
            let mut queue = this.lock_queue();
            if queue.is_empty() {
                if let Some(memory) = attempt(false) {
                    drop(queue);
                    return Ok(admitted(memory));
                }
            }
            if queue.len() >= node.settings.admission_queue {
                return Err(QueryError::new(
                    ErrorCode::ResourcesExhausted,
                    format!(
                        "admission queue full: {} queries already wait for memory",
                        queue.len()
                    ),
                ));
            }
            queue.push_back(id);
        }
        this.lock_queries().insert(
            id,
            Entry {
                sql: sql.to_string(),
                since: Instant::now(),
                memory: None,
            },
        );
        let started = Instant::now();
        let outcome = loop {
            if this.lock_queue().front() == Some(&id) {
                if let Some(memory) = attempt(false) {
                    break Ok(memory);
                }
            }
            if started.elapsed() >= node.settings.admission_timeout {
                break Err(QueryError::new(
                    ErrorCode::ResourcesExhausted,
                    format!(
                        "waited {:.1} s for {} per core of memory to start the query; \
                         the running queries still hold it (see SHOW QUERIES)",
                        started.elapsed().as_secs_f64(),
                        ByteSize(request.min_per_core),
                    ),
                ));
            }
            std::thread::sleep(POLL);
        };
        this.lock_queue().retain(|&queued| queued != id);
        this.forget(id);
        outcome.map(admitted)
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

    fn lock_queue(&self) -> std::sync::MutexGuard<'_, VecDeque<u64>> {
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn lock_queries(&self) -> std::sync::MutexGuard<'_, BTreeMap<u64, Entry>> {
        self.queries.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory::MemorySettings;

    fn node_memory(budget: usize, timeout_ms: u64) -> NodeMemory {
        NodeMemory::new(
            1,
            MemorySettings {
                per_core: budget,
                admission_timeout: Duration::from_millis(timeout_ms),
                admission_queue: 1,
                ..MemorySettings::default()
            },
        )
    }

    fn request(min: usize) -> AdmissionRequest {
        AdmissionRequest {
            limit_per_core: usize::MAX,
            min_per_core: min,
            force: false,
        }
    }

    #[test]
    fn a_query_waits_until_the_running_one_ends_and_times_out_otherwise() {
        let node = node_memory(100, 5_000);
        let first = Admission::admit(&node, "first", request(80)).unwrap();
        let waiter = {
            let node = node.clone();
            std::thread::spawn(move || Admission::admit(&node, "second", request(80)).map(|_| ()))
        };
        let deadline = Instant::now() + Duration::from_secs(5);
        while node.admission.queries().len() < 2 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
        }
        let states: Vec<_> = node.admission.queries().iter().map(|q| q.state).collect();
        assert_eq!(states, ["running", "queued"]);
        let third = Admission::admit(&node, "third", request(80)).err().unwrap();
        assert!(third.message.contains("queue full"), "{third}");
        drop(first);
        waiter
            .join()
            .unwrap()
            .expect("admitted once the first ended");
        assert!(node.admission.queries().is_empty());

        let impatient = node_memory(100, 50);
        let _hog = Admission::admit(&impatient, "hog", request(100)).unwrap();
        let error = Admission::admit(&impatient, "late", request(1))
            .err()
            .unwrap();
        assert_eq!(error.code, ErrorCode::ResourcesExhausted);
        assert!(error.message.contains("SHOW QUERIES"), "{error}");
    }
}
