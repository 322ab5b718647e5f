//! One task: a stage's operator tree for one partition, on that partition's core. The
//! task boundary catches errors and panics, records the first one for the query, and
//! cancels the rest of the query.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use arrow::record_batch::RecordBatch;
use futures_lite::FutureExt;

use super::query::QueryState;
use super::stream::{build_stream, StreamContext};
use super::ExecConfig;
use crate::error::{ErrorCode, TaskError, TaskLocation, TaskResult};
use crate::operators::partition::HashPartitioner;
use crate::plan::{ExchangeId, ExchangeKind, Stage};

/// Where a task's output rows go.
pub(crate) enum TaskOutput {
    /// To the consumers of an exchange; `senders[t]` feeds consumer task `t`.
    Exchange {
        kind: ExchangeKind,
        senders: Vec<flume::Sender<RecordBatch>>,
    },
    /// Straight to the client.
    Client(flume::Sender<RecordBatch>),
}

/// Everything a core needs to run one task.
pub(crate) struct TaskSpec {
    pub query: Arc<QueryState>,
    pub stage: Arc<Stage>,
    pub location: TaskLocation,
    /// Receivers of the exchanges this stage reads, for this partition.
    pub inputs: Vec<(ExchangeId, flume::Receiver<RecordBatch>)>,
    pub output: TaskOutput,
    pub config: ExecConfig,
}

/// Runs a task to completion and reports its outcome to the query.
pub(crate) async fn run_task(spec: TaskSpec) {
    let query = Arc::clone(&spec.query);
    let location = spec.location;
    let outcome = AssertUnwindSafe(drive(spec)).catch_unwind().await;
    let error = match outcome {
        Ok(Ok(())) => None,
        Ok(Err(error)) => Some(error),
        Err(panic) => {
            let message = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".to_string());
            Some(TaskError::internal(format!("operator panicked: {message}")))
        }
    };
    if let Some(error) = error {
        query.fail(error.at(location));
    }
    query.task_finished();
}

async fn drive(spec: TaskSpec) -> TaskResult<()> {
    let TaskSpec {
        query,
        stage,
        location,
        inputs,
        output,
        config,
    } = spec;
    let context = StreamContext {
        query: Arc::clone(&query),
        config,
        location,
    };
    let mut inputs = inputs;
    let mut root = build_stream(&stage.root, &mut inputs, &context)?;
    let mut sink = OutputSink::new(output);
    while let Some(batch) = root.next().await? {
        query.check_cancelled()?;
        if batch.num_rows() == 0 {
            continue;
        }
        if !sink.send(batch).await? {
            // Every consumer is gone (a LIMIT upstream was satisfied): stop early.
            break;
        }
        glommio::yield_if_needed().await;
    }
    Ok(())
}

/// Sends a task's output batches; a consumer that hung up is dropped from the list.
struct OutputSink {
    kind: Option<ExchangeKind>,
    senders: Vec<Option<flume::Sender<RecordBatch>>>,
    partitioner: Option<HashPartitioner>,
}

impl OutputSink {
    fn new(output: TaskOutput) -> Self {
        match output {
            TaskOutput::Client(sender) => OutputSink {
                kind: None,
                senders: vec![Some(sender)],
                partitioner: None,
            },
            TaskOutput::Exchange { kind, senders } => {
                let partitioner = match &kind {
                    ExchangeKind::Hash { keys } => {
                        Some(HashPartitioner::new(keys.clone(), senders.len()))
                    }
                    _ => None,
                };
                OutputSink {
                    kind: Some(kind),
                    senders: senders.into_iter().map(Some).collect(),
                    partitioner,
                }
            }
        }
    }

    /// Returns false once no consumer is left.
    async fn send(&mut self, batch: RecordBatch) -> TaskResult<bool> {
        match (&self.kind, &mut self.partitioner) {
            (Some(ExchangeKind::Hash { .. }), Some(partitioner)) => {
                let pieces = partitioner.split(&batch)?;
                for (target, piece) in pieces.into_iter().enumerate() {
                    if let Some(piece) = piece {
                        send_to(&mut self.senders[target], piece).await;
                    }
                }
            }
            (Some(ExchangeKind::Broadcast), _) => {
                for sender in &mut self.senders {
                    send_to(sender, batch.clone()).await;
                }
            }
            _ => send_to(&mut self.senders[0], batch).await,
        }
        Ok(self.senders.iter().any(Option::is_some))
    }
}

/// Waits for room in the channel (backpressure); forgets a consumer that hung up.
async fn send_to(slot: &mut Option<flume::Sender<RecordBatch>>, batch: RecordBatch) {
    if let Some(sender) = slot {
        if sender.send_async(batch).await.is_err() {
            *slot = None;
        }
    }
}

/// The error a task returns when it stops because the query was cancelled.
pub(crate) fn cancelled() -> TaskError {
    TaskError::new(ErrorCode::Cancelled, "query cancelled")
}
