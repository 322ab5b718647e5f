//! Runs a distributed plan: wires the exchange channels, hands every task to its
//! core, and streams the final stage's batches to the caller. A failure anywhere
//! cancels the whole query; the first error is the one reported.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;

use super::runtime::Runtime;
use super::task::{cancelled, TaskOutput, TaskSpec};
use super::ExecConfig;
use crate::error::{QueryError, QueryResult, TaskError, TaskLocation, TaskResult};
use crate::plan::{DistributedPlan, Placement, StageOutput};

/// State every task of one query shares: the cancel flag and the first error.
/// Touched once per batch (the flag) and once per task end, never per row.
pub(crate) struct QueryState {
    cancelled: AtomicBool,
    first_error: Mutex<Option<TaskError>>,
    running_tasks: AtomicUsize,
    all_finished: flume::Sender<()>,
}

impl QueryState {
    pub fn check_cancelled(&self) -> TaskResult<()> {
        if self.cancelled.load(Ordering::Relaxed) {
            return Err(cancelled());
        }
        Ok(())
    }

    pub fn cancel(&self) {
        self.cancelled.store(true, Ordering::Relaxed);
    }

    /// Records a task's failure (the first one wins) and cancels the query.
    pub fn fail(&self, error: TaskError) {
        let mut first = self.first_error.lock().unwrap_or_else(|e| e.into_inner());
        if first.is_none() {
            *first = Some(error);
        }
        drop(first);
        self.cancel();
    }

    pub fn task_finished(&self) {
        if self.running_tasks.fetch_sub(1, Ordering::AcqRel) == 1 {
            let _ = self.all_finished.send(());
        }
    }

    fn take_error(&self) -> Option<TaskError> {
        self.first_error
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
    }
}

/// The partitions a stage's tasks run on.
fn task_partitions(placement: Placement, partitions: usize) -> std::ops::Range<usize> {
    match placement {
        Placement::AllPartitions => 0..partitions,
        Placement::Coordinator => 0..1,
    }
}

/// Starts every task of `plan` on `runtime`; results arrive through the stream.
///
/// # Errors
/// When an executor has stopped.
pub fn execute(
    runtime: &Runtime,
    plan: &DistributedPlan,
    config: ExecConfig,
) -> QueryResult<QueryStream> {
    let partitions = plan.partitions;
    let capacity = config.exchange_buffer_batches.max(1);
    // receivers[exchange][target task], senders[exchange][target task]
    let mut receivers: Vec<Vec<Option<flume::Receiver<RecordBatch>>>> = Vec::new();
    let mut senders: Vec<Vec<flume::Sender<RecordBatch>>> = Vec::new();
    for exchange in &plan.exchanges {
        let targets = task_partitions(plan.stages[exchange.target.0].placement, partitions).len();
        let (tx, rx): (Vec<_>, Vec<_>) = (0..targets).map(|_| flume::bounded(capacity)).unzip();
        senders.push(tx);
        receivers.push(rx.into_iter().map(Some).collect());
    }
    let (client_sender, client_receiver) = flume::bounded(capacity);
    let task_count: usize = plan
        .stages
        .iter()
        .map(|s| task_partitions(s.placement, partitions).len())
        .sum();
    let (all_finished, finished_signal) = flume::bounded(1);
    let query = Arc::new(QueryState {
        cancelled: AtomicBool::new(false),
        first_error: Mutex::new(None),
        running_tasks: AtomicUsize::new(task_count),
        all_finished,
    });
    let stream = QueryStream {
        schema: Arc::clone(&plan.schema),
        results: client_receiver,
        finished_signal,
        query: Arc::clone(&query),
        done: false,
    };
    for stage in &plan.stages {
        let stage_arc = Arc::new(stage.clone());
        for partition in task_partitions(stage.placement, partitions) {
            let inputs = plan
                .exchanges
                .iter()
                .filter(|exchange| exchange.target == stage.id)
                .map(|exchange| {
                    let receiver = receivers[exchange.id.0][partition]
                        .take()
                        .expect("one receiver per task");
                    (exchange.id, receiver)
                })
                .collect();
            let output = match stage.output {
                StageOutput::Client => TaskOutput::Client(client_sender.clone()),
                StageOutput::Exchange(id) => TaskOutput::Exchange {
                    kind: plan.exchanges[id.0].kind.clone(),
                    senders: senders[id.0].clone(),
                },
            };
            let core = partition % runtime.cores();
            let spec = TaskSpec {
                query: Arc::clone(&query),
                stage: Arc::clone(&stage_arc),
                location: TaskLocation {
                    core,
                    stage: stage.id.0,
                    partition,
                },
                inputs,
                output,
                config,
            };
            if let Err(error) = runtime.submit(core, spec) {
                query.cancel();
                return Err(error);
            }
        }
    }
    Ok(stream)
}

/// The result of a running query, batch by batch. Dropping it cancels the query.
pub struct QueryStream {
    schema: SchemaRef,
    results: flume::Receiver<RecordBatch>,
    finished_signal: flume::Receiver<()>,
    query: Arc<QueryState>,
    done: bool,
}

impl QueryStream {
    pub fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }

    /// The next result batch; `None` at the end. Blocks the calling thread, which must
    /// not be one of the executors.
    pub fn next_batch(&mut self) -> Option<QueryResult<RecordBatch>> {
        if self.done {
            return None;
        }
        if let Ok(batch) = self.results.recv() {
            if self.query.cancelled.load(Ordering::Relaxed) {
                return self.finish();
            }
            return Some(Ok(batch));
        }
        self.finish()
    }

    /// After the final stage ends, waits for every task and reports the first error.
    fn finish(&mut self) -> Option<QueryResult<RecordBatch>> {
        self.done = true;
        // Hang up first, so a final task blocked on a full result channel can end.
        let (_, closed) = flume::bounded(1);
        drop(std::mem::replace(&mut self.results, closed));
        let _ = self.finished_signal.recv();
        self.query
            .take_error()
            .map(|error| Err(QueryError::from(error)))
    }

    /// Reads every batch.
    ///
    /// # Errors
    /// The first error any task raised.
    pub fn collect(mut self) -> QueryResult<Vec<RecordBatch>> {
        let mut batches = Vec::new();
        while let Some(batch) = self.next_batch() {
            batches.push(batch?);
        }
        Ok(batches)
    }
}

impl Drop for QueryStream {
    fn drop(&mut self) {
        if !self.done {
            self.query.cancel();
        }
    }
}
