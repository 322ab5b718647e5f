//! One task: a stage's operator tree for one partition, on that partition's core. The
//! task boundary catches errors and panics, records the first one for the query, and
//! cancels the rest of the query.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use futures_lite::FutureExt;
use percore_net::StreamId;

use super::exchange::TaskInputs;
use super::query::QueryState;
use super::remote::{RemoteSender, Transport};
use super::stream::{build_stream, StreamContext};
use super::ExecConfig;
use crate::error::{ErrorCode, TaskError, TaskLocation, TaskResult};
use crate::operators::partition::HashPartitioner;
use crate::plan::{ExchangeKind, Stage};

/// One consumer task of an exchange, as the producer sees it.
pub(crate) enum Target {
    Local(flume::Sender<RecordBatch>),
    /// On another node: a stream over the network, opened when the task starts.
    Remote {
        node: usize,
        stream: StreamId,
    },
}

/// Where a task's output rows go.
pub(crate) enum TaskOutput {
    /// To the consumers of an exchange; `targets[t]` is consumer task `t`.
    Exchange {
        kind: ExchangeKind,
        targets: Vec<Target>,
        schema: SchemaRef,
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
    pub inputs: TaskInputs,
    pub output: TaskOutput,
    pub config: ExecConfig,
    /// The data plane, when the query spans nodes.
    pub transport: Option<Arc<Transport>>,
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
        transport,
    } = spec;
    let context = StreamContext {
        query: Arc::clone(&query),
        config,
        location,
    };
    let mut inputs = inputs;
    let mut root = build_stream(&stage.root, &mut inputs, &context)?;
    let mut sink = OutputSink::open(output, transport.as_ref()).await?;
    while let Some(batch) = root.next().await? {
        query.check_cancelled()?;
        if batch.num_rows() == 0 {
            continue;
        }
        if !sink.send(batch, &query).await? {
            // Every consumer is gone (a LIMIT upstream was satisfied): stop early.
            break;
        }
        glommio::yield_if_needed().await;
    }
    sink.finish().await
}

/// Sends a task's output batches; a consumer that hung up is skipped from then on.
struct OutputSink {
    kind: Option<ExchangeKind>,
    slots: Vec<Slot>,
    partitioner: Option<HashPartitioner>,
}

enum Slot {
    Local(Option<flume::Sender<RecordBatch>>),
    Remote {
        sender: Box<RemoteSender>,
        open: bool,
    },
}

impl Slot {
    fn is_open(&self) -> bool {
        match self {
            Slot::Local(sender) => sender.is_some(),
            Slot::Remote { open, .. } => *open,
        }
    }

    /// Waits for room (backpressure); forgets a consumer that hung up.
    async fn send(&mut self, batch: RecordBatch, query: &QueryState) -> TaskResult<()> {
        match self {
            Slot::Local(slot) => {
                if let Some(sender) = slot {
                    if sender.send_async(batch).await.is_err() {
                        *slot = None;
                    }
                }
            }
            Slot::Remote { sender, open } => {
                if *open {
                    *open = sender.send(&batch, query).await?;
                }
            }
        }
        Ok(())
    }
}

impl OutputSink {
    async fn open(output: TaskOutput, transport: Option<&Arc<Transport>>) -> TaskResult<Self> {
        let (kind, targets, schema) = match output {
            TaskOutput::Client(sender) => {
                return Ok(OutputSink {
                    kind: None,
                    slots: vec![Slot::Local(Some(sender))],
                    partitioner: None,
                })
            }
            TaskOutput::Exchange {
                kind,
                targets,
                schema,
            } => (kind, targets, schema),
        };
        let partitioner = match &kind {
            ExchangeKind::Hash { keys } => Some(HashPartitioner::new(keys.clone(), targets.len())),
            _ => None,
        };
        let mut slots = Vec::with_capacity(targets.len());
        for target in targets {
            slots.push(match target {
                Target::Local(sender) => Slot::Local(Some(sender)),
                Target::Remote { node, stream } => {
                    let transport = transport.ok_or_else(|| {
                        TaskError::internal("a remote exchange target without a transport")
                    })?;
                    Slot::Remote {
                        sender: Box::new(
                            RemoteSender::open(transport, node, stream, &schema).await?,
                        ),
                        open: true,
                    }
                }
            });
        }
        Ok(OutputSink {
            kind: Some(kind),
            slots,
            partitioner,
        })
    }

    /// Returns false once no consumer is left.
    async fn send(&mut self, batch: RecordBatch, query: &QueryState) -> TaskResult<bool> {
        match (&self.kind, &mut self.partitioner) {
            (Some(ExchangeKind::Hash { .. }), Some(partitioner)) => {
                let pieces = partitioner.split(&batch)?;
                for (target, piece) in pieces.into_iter().enumerate() {
                    if let Some(piece) = piece {
                        self.slots[target].send(piece, query).await?;
                    }
                }
            }
            (Some(ExchangeKind::Broadcast), _) => {
                for slot in &mut self.slots {
                    slot.send(batch.clone(), query).await?;
                }
            }
            _ => self.slots[0].send(batch, query).await?,
        }
        Ok(self.slots.iter().any(Slot::is_open))
    }

    /// Tells remote consumers this source is done (local ones see the channel close).
    async fn finish(&mut self) -> TaskResult<()> {
        for slot in &mut self.slots {
            if let Slot::Remote { sender, .. } = slot {
                sender.finish().await?;
            }
        }
        Ok(())
    }
}

/// The error a task returns when it stops because the query was cancelled.
pub(crate) fn cancelled() -> TaskError {
    TaskError::new(ErrorCode::Cancelled, "query cancelled")
}
