//! One task: a stage's operator tree for one partition, on that partition's core. The
//! task boundary catches errors and panics, records the first one for the query, and
//! cancels the rest of the query.

use std::collections::HashSet;
use std::panic::AssertUnwindSafe;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use futures_lite::FutureExt;
use percore_net::StreamId;

use super::exchange::{Charged, TaskInputs};
use super::exchange_filters::ProducerFilters;
use super::pace::Pace;
use super::query::QueryState;
use super::remote::{RemoteSender, Transport};
use super::stats::{self, TaskCounters, TaskStats};
use super::stream::{build_stream, StreamContext};
use super::table_sink::{PartitionWriter, TableSink};
use super::ExecConfig;
use crate::error::{ErrorCode, TaskError, TaskLocation, TaskResult};
use crate::operators::partition::{HashPartitioner, HotRows};
use crate::plan::{ExchangeId, ExchangeKind, SkewRole, Stage};

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
        id: ExchangeId,
        kind: ExchangeKind,
        targets: Vec<Target>,
        schema: SchemaRef,
        /// This exchange's id and its side of a skew join, when it has one.
        skew: Option<(ExchangeId, SkewRole)>,
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
}

/// Runs a task to completion and reports its outcome to the query.
pub(crate) async fn run_task(spec: TaskSpec) {
    // Declared first, so dropped last: the query's last handle goes with it.
    let _finished = FinishOnDrop {
        query: Some(Arc::clone(&spec.query)),
        location: spec.location,
    };
    let query = Arc::clone(&spec.query);
    let location = spec.location;
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
        node: location.node,
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
        skew_keys: counters.skew_keys.get(),
        skew_rows: counters.skew_rows.get(),
        network_wait_by_source_us: counters
            .network_wait_by_source
            .take()
            .into_iter()
            .map(|(source, waited)| (source, micros(waited)))
            .collect(),
    });
}

/// Counts the task as finished however it ends, so the query never waits for a task
/// whose bookkeeping panicked after the operators' own panic boundary.
/// Its handle on the query is the task's last one: it is given up as the task counts
/// itself finished, so the query's memory is released when the last task ends.
struct FinishOnDrop {
    query: Option<Arc<QueryState>>,
    location: TaskLocation,
}

impl Drop for FinishOnDrop {
    fn drop(&mut self) {
        let Some(query) = self.query.take() else {
            return;
        };
        if std::thread::panicking() {
            query.fail(
                TaskError::internal("the task panicked after its operators finished")
                    .at(self.location),
            );
        }
        query.task_finished();
    }
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
    } = spec;
    let context = StreamContext {
        query: Arc::clone(&query),
        config,
        location,
        counters: Rc::clone(&counters),
        runtime_filters: Default::default(),
    };
    let mut inputs = inputs;
    let mut root = build_stream(&stage.root, &mut inputs, &context)?;
    let mut pace = Pace::new(config.slowdown, Rc::clone(&counters));
    if let TaskOutput::Store(table) = output {
        let mut writer = PartitionWriter::new(
            stage.root.schema(),
            config.batch_rows,
            query.memory(),
            location.core,
        );
        while let Some(batch) = pace.next(&mut root).await? {
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
        Arc::clone(&query),
        location,
        config.batch_rows,
    )
    .await?;
    while let Some(batch) = pace.next(&mut root).await? {
        query.check_cancelled()?;
        if batch.num_rows() == 0 {
            continue;
        }
        stats::add(&counters.rows_out, batch.num_rows() as u64);
        if !sink.send(batch).await? {
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
    skew: SkewState,
    query: Arc<QueryState>,
    batch_rows: usize,
    /// Joins' build keys the rows are tested against, by where they go.
    filters: Option<ProducerFilters>,
}

/// A hash exchange's part in a skew join (see `exec::skew`).
enum SkewState {
    Off,
    /// Probe side: the first batches are held, with their key hashes, until the
    /// sample is large enough to name hot keys.
    Sampling {
        group: ExchangeId,
        held: Vec<(Charged, Vec<u64>)>,
        rows: usize,
    },
    /// Probe side: rows of these keys go round-robin.
    Spreading(Arc<HashSet<u64>>),
    /// Build side, before its first batch: waits for the probe side's hot keys.
    Awaiting(ExchangeId),
    /// Build side: rows of these keys go to every partition.
    Replicating(Arc<HashSet<u64>>),
}

/// Rows a probe producer samples before it names its hot keys: enough for the
/// sketch to see a key that skews a partition, few enough to hold in memory.
const SKEW_SAMPLE_ROWS: usize = 64 * 1024;

/// A key is spread when it certainly holds this share of a producer's sampled rows
/// per partition: half of a partition's fair share.
fn spread_share(partitions: usize) -> f64 {
    1.0 / (2.0 * partitions as f64)
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
        query: Arc<QueryState>,
        location: TaskLocation,
        batch_rows: usize,
    ) -> TaskResult<Self> {
        let core = location.core;
        let (id, kind, targets, schema, skew) = match output {
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
                    skew: SkewState::Off,
                    query,
                    batch_rows,
                    filters: None,
                })
            }
            TaskOutput::Exchange {
                id,
                kind,
                targets,
                schema,
                skew,
            } => (id, kind, targets, schema, skew),
        };
        // A skew join's rows do not all go where their key hashes: left untested.
        let filters = match (&kind, &skew) {
            (ExchangeKind::Hash { .. }, None) => {
                let local: Vec<bool> = targets
                    .iter()
                    .map(|target| matches!(target, Target::Local(_)))
                    .collect();
                query.exchange_filters().for_producer(id, &local)
            }
            _ => None,
        };
        let partitioner = match &kind {
            ExchangeKind::Hash { keys } => Some(
                HashPartitioner::new(keys.clone(), targets.len())
                    .spreading_from(location.partition),
            ),
            _ => None,
        };
        let skew = match skew {
            None => SkewState::Off,
            Some((group, SkewRole::Spread { .. })) => SkewState::Sampling {
                group,
                held: Vec::new(),
                rows: 0,
            },
            Some((_, SkewRole::Replicate { probe })) => SkewState::Awaiting(probe),
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
            skew,
            query,
            batch_rows,
            filters,
        })
    }

    /// Returns false once no consumer is left.
    async fn send(&mut self, batch: RecordBatch) -> TaskResult<bool> {
        match (&self.kind, &mut self.partitioner) {
            (Some(ExchangeKind::Hash { .. }), Some(partitioner)) => {
                let hashes = partitioner.hash_rows(&batch)?;
                let (batch, hashes) = match &self.filters {
                    Some(filters) => filters.retain(batch, hashes)?,
                    None => (batch, hashes),
                };
                if batch.num_rows() > 0 {
                    self.route(batch, hashes).await?;
                }
            }
            (Some(ExchangeKind::Broadcast), _) => {
                for target in 0..self.slots.len() {
                    self.send_to(target, batch.clone()).await?;
                }
            }
            _ => self.send_to(0, batch).await?,
        }
        Ok(self.slots.iter().any(Slot::is_open))
    }

    async fn send_to(&mut self, target: usize, batch: RecordBatch) -> TaskResult<()> {
        self.counters.sent_to(target, batch.num_rows());
        self.slots[target]
            .send(batch, &self.query, &self.counters, self.core)
            .await
    }

    /// Sends a hash exchange's batch where its rows' keys go, holding it while the
    /// probe side of a skew join samples, waiting for hot keys on its build side.
    async fn route(&mut self, batch: RecordBatch, hashes: Vec<u64>) -> TaskResult<()> {
        let query = Arc::clone(&self.query);
        match &mut self.skew {
            SkewState::Sampling { held, rows, .. } => {
                *rows += batch.num_rows();
                held.push((Charged::new(batch, query.memory(), self.core), hashes));
                let sampled = *rows >= SKEW_SAMPLE_ROWS
                    || self.partitioner.as_ref().is_some_and(|p| !p.sampling());
                if sampled {
                    self.stop_sampling().await?;
                }
                return Ok(());
            }
            SkewState::Awaiting(group) => {
                let hot = query.skew().hot_keys(*group).await;
                query.check_cancelled()?;
                self.skew = SkewState::Replicating(hot);
            }
            _ => {}
        }
        let hot = match &self.skew {
            SkewState::Spreading(hot) if !hot.is_empty() => HotRows::Spread(hot),
            SkewState::Replicating(hot) if !hot.is_empty() => HotRows::Everywhere(hot),
            _ => HotRows::ByHash,
        };
        let partitioner = self.partitioner.as_mut().expect("hash exchanges partition");
        let pieces = partitioner.route(&batch, &hashes, hot)?;
        for (target, piece) in pieces.into_iter().enumerate() {
            if let Some(piece) = piece {
                self.send_to(target, piece).await?;
            }
        }
        Ok(())
    }

    /// Ends a probe producer's sample: publishes its hot keys, then sends what it held.
    async fn stop_sampling(&mut self) -> TaskResult<()> {
        let SkewState::Sampling { group, held, .. } = &mut self.skew else {
            return Ok(());
        };
        let (group, held) = (*group, std::mem::take(held));
        // Spreading less than a batch of rows would not pay for replicating build rows.
        let min_rows = self.batch_rows as u64;
        let hot = self
            .partitioner
            .as_ref()
            .map_or_else(Vec::new, |partitioner| {
                partitioner.hot_hashes(spread_share(self.slots.len()), min_rows)
            });
        self.query.skew().publish(group, &hot);
        self.skew = SkewState::Spreading(Arc::new(hot.into_iter().collect()));
        for (charged, hashes) in held {
            let batch = charged.batch.clone();
            drop(charged);
            Box::pin(self.route(batch, hashes)).await?;
        }
        Ok(())
    }

    /// Tells remote consumers this source is done (local ones see the channel close).
    async fn finish(&mut self) -> TaskResult<()> {
        self.stop_sampling().await?;
        if let Some(partitioner) = &self.partitioner {
            *self.counters.hot_keys.borrow_mut() = partitioner.hot_keys();
            if let SkewState::Spreading(hot) | SkewState::Replicating(hot) = &self.skew {
                self.counters.skew_keys.set(hot.len() as u64);
                self.counters.skew_rows.set(partitioner.moved_hot_rows());
            }
        }
        for slot in &mut self.slots {
            if let Slot::Remote { sender, .. } = slot {
                sender.finish().await?;
            }
        }
        Ok(())
    }
}

impl Drop for OutputSink {
    fn drop(&mut self) {
        // A probe producer that stops early still publishes, so no build producer
        // waits for it.
        if let SkewState::Sampling { group, .. } = self.skew {
            self.query.skew().publish(group, &[]);
        }
    }
}

/// The error a task returns when it stops because the query was cancelled.
pub(crate) fn cancelled() -> TaskError {
    TaskError::new(ErrorCode::Cancelled, "query cancelled")
}
