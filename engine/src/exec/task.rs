//! One task: a stage's operator tree for one partition, on that partition's core. The
//! task boundary catches errors and panics, records the first one for the query, and
//! cancels the rest of the query.

use std::panic::AssertUnwindSafe;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use futures_lite::FutureExt;
use percore_net::StreamId;

use super::exchange::{Charged, TaskInputs};
use super::query::QueryState;
use super::remote::{RemoteSender, Transport};
use super::stats::{self, TaskCounters, TaskStats};
use super::stream::{build_stream, StreamContext};
use super::table_sink::{PartitionWriter, TableSink};
use super::ExecConfig;
use crate::error::{ErrorCode, TaskError, TaskLocation, TaskResult};
use crate::operators::partition::HashPartitioner;
use crate::plan::{ExchangeKind, Stage};

/// One consumer task of an exchange, as the producer sees it.
pub(crate) enum Target {
    Local(flume::Sender<Charged>),
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
    Client(flume::Sender<Charged>),
    /// Kept as this task's partition of a table being loaded.
    Store(Arc<TableSink>),
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
    /// The node this task runs on, for its statistics.
    pub node: usize,
}

/// Runs a task to completion and reports its outcome to the query.
pub(crate) async fn run_task(spec: TaskSpec) {
    let query = Arc::clone(&spec.query);
    let location = spec.location;
    let node = spec.node;
    let counters = Rc::new(TaskCounters::default());
    let started = Instant::now();
    let outcome = AssertUnwindSafe(drive(spec, Rc::clone(&counters)))
        .catch_unwind()
        .await;
    let error = match outcome {
        Ok(Ok(())) => None,
        Ok(Err(error)) => Some(error),
        Err(panic) => Some(TaskError::internal(format!(
            "operator panicked: {}",
            crate::error::panic_message(panic.as_ref())
        ))),
    };
    if let Some(error) = error {
        query.fail(error.at(location));
    }
    let (hot_keys, sampled_rows) = counters.hot_keys.take();
    query.record_stats(TaskStats {
        stage: location.stage,
        task: location.partition,
        node,
        core: location.core,
        rows_out: counters.rows_out.get(),
        wall_us: micros(started.elapsed()),
        input_wait_us: micros(counters.input_wait.get()),
        network_wait_us: micros(counters.network_wait.get()),
        send_wait_us: micros(counters.send_wait.get()),
        rows_per_target: counters.rows_per_target.take(),
        rows_to_other_nodes: counters.rows_to_other_nodes.get(),
        bytes_within_node: counters.bytes_within_node.get(),
        bytes_to_other_nodes: counters.bytes_to_other_nodes.get(),
        core_peak_reserved: query.memory().peak(location.core) as u64,
        operators: counters.operators.take(),
        hot_keys,
        sampled_rows,
    });
    query.task_finished();
}

fn micros(duration: Duration) -> u64 {
    u64::try_from(duration.as_micros()).unwrap_or(u64::MAX)
}

async fn drive(spec: TaskSpec, counters: Rc<TaskCounters>) -> TaskResult<()> {
    let TaskSpec {
        query,
        stage,
        location,
        inputs,
        output,
        config,
        transport,
        node: _,
    } = spec;
    let context = StreamContext {
        query: Arc::clone(&query),
        config,
        location,
        counters: Rc::clone(&counters),
    };
    let mut inputs = inputs;
    let mut root = build_stream(&stage.root, &mut inputs, &context)?;
    if let TaskOutput::Store(table) = output {
        let mut writer = PartitionWriter::new(
            stage.root.schema(),
            config.batch_rows,
            query.memory(),
            location.core,
        );
        while let Some(batch) = root.next().await? {
            query.check_cancelled()?;
            stats::add(&counters.rows_out, batch.num_rows() as u64);
            writer.push(batch).await?;
            glommio::yield_if_needed().await;
        }
        return writer.finish(&table, location.partition).await;
    }
    let mut sink = OutputSink::open(
        output,
        transport.as_ref(),
        Rc::clone(&counters),
        location.core,
    )
    .await?;
    while let Some(batch) = root.next().await? {
        query.check_cancelled()?;
        if batch.num_rows() == 0 {
            continue;
        }
        stats::add(&counters.rows_out, batch.num_rows() as u64);
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
    counters: Rc<TaskCounters>,
    /// The task's core, charged for the batches it leaves in channels.
    core: usize,
}

enum Slot {
    Local(Option<flume::Sender<Charged>>),
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
    async fn send(
        &mut self,
        batch: RecordBatch,
        query: &QueryState,
        counters: &TaskCounters,
        core: usize,
    ) -> TaskResult<()> {
        let waiting = Instant::now();
        match self {
            Slot::Local(slot) => {
                if let Some(sender) = slot {
                    let charged = Charged::new(batch, query.memory(), core);
                    let bytes = charged.bytes() as u64;
                    if sender.send_async(charged).await.is_err() {
                        *slot = None;
                    } else {
                        stats::add(&counters.bytes_within_node, bytes);
                    }
                }
            }
            Slot::Remote { sender, open } => {
                if *open {
                    let rows = batch.num_rows() as u64;
                    let (still_open, bytes) = sender.send(&batch, query).await?;
                    *open = still_open;
                    stats::add(&counters.rows_to_other_nodes, rows);
                    stats::add(&counters.bytes_to_other_nodes, bytes);
                }
            }
        }
        stats::add_time(&counters.send_wait, waiting.elapsed());
        Ok(())
    }
}

impl OutputSink {
    async fn open(
        output: TaskOutput,
        transport: Option<&Arc<Transport>>,
        counters: Rc<TaskCounters>,
        core: usize,
    ) -> TaskResult<Self> {
        let (kind, targets, schema) = match output {
            TaskOutput::Store(_) => {
                return Err(TaskError::internal("a load's output is kept, not sent"))
            }
            TaskOutput::Client(sender) => {
                return Ok(OutputSink {
                    kind: None,
                    slots: vec![Slot::Local(Some(sender))],
                    partitioner: None,
                    counters,
                    core,
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
            counters,
            core,
        })
    }

    /// Returns false once no consumer is left.
    async fn send(&mut self, batch: RecordBatch, query: &QueryState) -> TaskResult<bool> {
        match (&self.kind, &mut self.partitioner) {
            (Some(ExchangeKind::Hash { .. }), Some(partitioner)) => {
                let pieces = partitioner.split(&batch)?;
                for (target, piece) in pieces.into_iter().enumerate() {
                    if let Some(piece) = piece {
                        self.send_to(target, piece, query).await?;
                    }
                }
            }
            (Some(ExchangeKind::Broadcast), _) => {
                for target in 0..self.slots.len() {
                    self.send_to(target, batch.clone(), query).await?;
                }
            }
            _ => self.send_to(0, batch, query).await?,
        }
        Ok(self.slots.iter().any(Slot::is_open))
    }

    async fn send_to(
        &mut self,
        target: usize,
        batch: RecordBatch,
        query: &QueryState,
    ) -> TaskResult<()> {
        self.counters.sent_to(target, batch.num_rows());
        self.slots[target]
            .send(batch, query, &self.counters, self.core)
            .await
    }

    /// Tells remote consumers this source is done (local ones see the channel close).
    async fn finish(&mut self) -> TaskResult<()> {
        if let Some(partitioner) = &self.partitioner {
            *self.counters.hot_keys.borrow_mut() = partitioner.hot_keys();
        }
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
