//! Runs a distributed plan: wires the exchange channels, hands every task to its
//! core, and streams the final stage's batches to the caller. A failure anywhere
//! cancels the whole query; the first error is the one reported.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};

use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;

use percore_net::StreamId;

use super::exchange::{Charged, ExchangeInput};
use super::exchange_filters::ExchangeFilters;
use super::remote::Transport;
use super::runtime::Runtime;
use super::skew::{HotKeyVote, SkewBoard};
use super::stats::TaskStats;
use super::table_sink::{KeptPartitions, TableSink};
use super::task::{cancelled, Target, TaskOutput, TaskSpec};
use super::topology::{stage_tasks, Topology};
use super::ExecConfig;
use crate::error::{QueryError, QueryResult, TaskError, TaskLocation, TaskResult};
use crate::memory::admission::Admitted;
use crate::memory::{MemoryPool, QueryMemory, SpillSpace};
use crate::plan::{DistributedPlan, ExchangeId, SkewRole, StageOutput};

/// State every task of one query shares: the cancel flag and the first error.
/// Touched once per batch (the flag) and once per task end, never per row.
pub(crate) struct QueryState {
    cancelled: AtomicBool,
    first_error: Mutex<Option<TaskError>>,
    stats: Mutex<Vec<TaskStats>>,
    running_tasks: AtomicUsize,
    all_finished: flume::Sender<()>,
    /// This node's share of the query's memory and its spill directory; dropped (spill
    /// files removed) when the last task and the result stream are gone.
    memory: Arc<QueryMemory>,
    /// Hot keys of the skew joins, published by probe producers, awaited by build ones.
    skew: SkewBoard,
    /// Joins' build keys, for the producers of the exchanges under their probe sides.
    exchange_filters: ExchangeFilters,
}

impl QueryState {
    /// A query with no task yet; `all_finished` hears when the last one ends.
    fn new(
        all_finished: flume::Sender<()>,
        memory: Arc<QueryMemory>,
        skew: SkewBoard,
        exchange_filters: ExchangeFilters,
    ) -> Arc<QueryState> {
        Arc::new(QueryState {
            memory,
            skew,
            exchange_filters,
            cancelled: AtomicBool::new(false),
            first_error: Mutex::new(None),
            stats: Mutex::new(Vec::new()),
            running_tasks: AtomicUsize::new(0),
            all_finished,
        })
    }

    /// State for work outside a planned query (the exchange benchmark).
    pub(crate) fn standalone(cores: usize) -> Arc<QueryState> {
        let pool = Arc::new(MemoryPool::new(cores, usize::MAX));
        let memory = QueryMemory::unadmitted(&pool, SpillSpace::disabled());
        QueryState::new(
            flume::bounded(1).0,
            memory,
            SkewBoard::new([]),
            ExchangeFilters::default(),
        )
    }

    pub fn skew(&self) -> &SkewBoard {
        &self.skew
    }

    pub fn exchange_filters(&self) -> &ExchangeFilters {
        &self.exchange_filters
    }

    pub fn memory(&self) -> &Arc<QueryMemory> {
        &self.memory
    }

    pub fn check_cancelled(&self) -> TaskResult<()> {
        if self.cancelled.load(Ordering::Relaxed) {
            return Err(cancelled());
        }
        Ok(())
    }

    pub fn cancel(&self) {
        if !self.cancelled.swap(true, Ordering::Relaxed) {
            self.skew.abandon();
        }
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

    pub fn record_stats(&self, stats: TaskStats) {
        self.stats
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(stats);
    }

    /// A task ended. The last one signals after letting go of the query, so whoever
    /// waits for the signal finds the tasks' memory returned.
    pub fn task_finished(self: Arc<Self>) {
        if self.running_tasks.fetch_sub(1, Ordering::AcqRel) == 1 {
            let signal = self.all_finished.clone();
            drop(self);
            let _ = signal.send(());
        }
    }

    fn take_error(&self) -> Option<TaskError> {
        self.first_error
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
    }
}

/// This node's part of a query that spans several nodes.
#[derive(Clone)]
pub struct RemoteParts {
    pub transport: Arc<Transport>,
    /// Unique in the cluster; names the query's streams on the wire.
    pub query_id: u64,
    /// The node that runs the coordinator stages and returns results.
    pub coordinator: usize,
}

/// A consumer task of an exchange, before a producer task gets its own copy.
enum TargetSlot {
    Local(flume::Sender<Charged>),
    Remote(usize),
}

/// A query wired but not started: its inbound streams are registered, so peers may
/// send as soon as any node starts. Dropping it abandons the query.
pub struct PreparedQuery {
    tasks: Vec<(usize, TaskSpec)>,
    stream: Option<QueryStream>,
    votes_hot_keys: bool,
}

/// Wires every exchange of `plan` for the tasks this node runs. Nothing runs yet.
///
/// # Errors
/// A plan too large for the wire format, or a multi-node topology without transport.
pub fn prepare(
    plan: &DistributedPlan,
    config: ExecConfig,
    topology: Topology,
    remote: Option<RemoteParts>,
    admitted: Admitted,
) -> QueryResult<PreparedQuery> {
    let partitions = plan.partitions;
    if partitions != topology.partitions() {
        return Err(QueryError::internal(format!(
            "plan for {partitions} partitions on a cluster of {}",
            topology.partitions()
        )));
    }
    if partitions > usize::from(u16::MAX) || plan.exchanges.len() > u32::MAX as usize {
        return Err(QueryError::unsupported(format!(
            "{partitions} partitions (at most {})",
            u16::MAX
        )));
    }
    if remote.is_none() && topology.nodes > 1 {
        return Err(QueryError::internal(
            "a multi-node query without a transport",
        ));
    }
    let me = topology.node;
    let coordinator = remote.as_ref().map_or(me, |r| r.coordinator);
    let query_id = remote.as_ref().map_or(0, |r| r.query_id);
    let capacity = config.exchange_buffer_batches.max(1);
    // inputs[exchange][target task], targets[exchange][target task]
    let mut inputs: Vec<Vec<Option<ExchangeInput>>> = Vec::new();
    let mut targets: Vec<Vec<TargetSlot>> = Vec::new();
    for exchange in &plan.exchanges {
        let source = plan.stages[exchange.source.0].placement;
        let remote_sources = stage_tasks(source, partitions)
            .filter(|&task| topology.task_node(source, task, coordinator) != me)
            .count();
        let target = plan.stages[exchange.target.0].placement;
        let (mut exchange_inputs, mut exchange_targets) = (Vec::new(), Vec::new());
        for task in stage_tasks(target, partitions) {
            let node = topology.task_node(target, task, coordinator);
            if node != me {
                exchange_inputs.push(None);
                exchange_targets.push(TargetSlot::Remote(node));
                continue;
            }
            let (sender, local) = flume::bounded(capacity);
            let remote_input = match (&remote, remote_sources) {
                (_, 0) => None,
                (Some(parts), _) => {
                    // Bounded by the remote sources' credit windows, not by the channel.
                    let (sender, receiver) = flume::unbounded();
                    parts.transport.register_inbound(
                        query_id,
                        exchange.id.0 as u32,
                        task as u16,
                        sender,
                        remote_sources,
                        (
                            Arc::clone(&admitted.memory),
                            topology.task_core(target, task),
                        ),
                    );
                    Some(receiver)
                }
                (None, _) => return Err(QueryError::internal("remote sources without transport")),
            };
            exchange_inputs.push(Some(ExchangeInput {
                local,
                remote: remote_input,
            }));
            exchange_targets.push(TargetSlot::Local(sender));
        }
        inputs.push(exchange_inputs);
        targets.push(exchange_targets);
    }
    let (client_sender, client_receiver) = flume::bounded(capacity);
    let table = plan.store.as_ref().map(|_| TableSink::new(partitions));
    let (all_finished, finished_signal) = flume::bounded(1);
    // Every node gets the same setting with the query, so all agree on the joins.
    let spread_hot_keys = config.spread_hot_keys && partitions > 1;
    let skew = SkewBoard::new(plan.exchanges.iter().filter_map(|exchange| {
        let (true, Some(SkewRole::Spread { .. })) = (spread_hot_keys, exchange.skew) else {
            return None;
        };
        let source = plan.stages[exchange.source.0].placement;
        let here = stage_tasks(source, partitions)
            .filter(|&task| topology.task_node(source, task, coordinator) == me)
            .count();
        Some((exchange.id, here))
    }));
    let query = QueryState::new(
        all_finished,
        Arc::clone(&admitted.memory),
        skew,
        ExchangeFilters::of(plan),
    );
    let mut tasks = Vec::new();
    for stage in &plan.stages {
        let stage_arc = Arc::new(stage.clone());
        for task in stage_tasks(stage.placement, partitions) {
            if topology.task_node(stage.placement, task, coordinator) != me {
                continue;
            }
            let task_inputs = plan
                .exchanges
                .iter()
                .filter(|exchange| exchange.target == stage.id)
                .map(|exchange| {
                    let input = inputs[exchange.id.0][task]
                        .take()
                        .expect("one input per local task");
                    (exchange.id, input)
                })
                .collect();
            let output = match stage.output {
                StageOutput::Client => TaskOutput::Client(client_sender.clone()),
                StageOutput::Store => match &table {
                    Some(table) => TaskOutput::Store(Arc::clone(table)),
                    None => return Err(QueryError::internal("a Store stage without a table")),
                },
                StageOutput::Exchange(id) => TaskOutput::Exchange {
                    id,
                    kind: plan.exchanges[id.0].kind.clone(),
                    targets: targets[id.0]
                        .iter()
                        .enumerate()
                        .map(|(target, slot)| match slot {
                            TargetSlot::Local(sender) => Target::Local(sender.clone()),
                            TargetSlot::Remote(node) => Target::Remote {
                                node: *node,
                                stream: StreamId {
                                    query: query_id,
                                    exchange: id.0 as u32,
                                    source_partition: task as u16,
                                    target_partition: target as u16,
                                },
                            },
                        })
                        .collect(),
                    schema: Arc::clone(&plan.exchanges[id.0].schema),
                    skew: plan.exchanges[id.0]
                        .skew
                        .filter(|_| spread_hot_keys)
                        .map(|role| (id, role)),
                },
            };
            let core = topology.task_core(stage.placement, task);
            let spec = TaskSpec {
                query: Arc::clone(&query),
                stage: Arc::clone(&stage_arc),
                location: TaskLocation {
                    node: me,
                    core,
                    stage: stage.id.0,
                    partition: task,
                },
                inputs: task_inputs,
                output,
                config,
                transport: remote.as_ref().map(|r| Arc::clone(&r.transport)),
            };
            tasks.push((core, spec));
        }
    }
    query.running_tasks.store(tasks.len(), Ordering::Release);
    let stream = QueryStream {
        schema: Arc::clone(&plan.schema),
        results: client_receiver,
        finished_signal,
        query,
        done: false,
        table,
        _timeout: None,
        _admitted: admitted,
        remote: remote.map(|r| RemoteStreams {
            transport: r.transport,
            query_id: r.query_id,
        }),
    };
    Ok(PreparedQuery {
        tasks,
        stream: Some(stream),
        votes_hot_keys: false,
    })
}

impl PreparedQuery {
    /// For a query over several nodes: where this node's hot keys of each skew join
    /// go (the coordinator); the decision comes back through
    /// [`QueryCanceller::decide_hot_keys`].
    pub fn vote_hot_keys_with(&mut self, vote: HotKeyVote) {
        if let Some(stream) = &self.stream {
            stream.query.skew().vote_with(vote);
            self.votes_hot_keys = true;
        }
    }

    /// The query's handle for other threads, before it starts.
    pub fn canceller(&self) -> Option<QueryCanceller> {
        self.stream.as_ref().map(QueryStream::canceller)
    }

    /// Whether the plan has skew joins whose hot keys the nodes must agree on.
    pub fn has_skew_joins(&self) -> bool {
        self.stream
            .as_ref()
            .is_some_and(|stream| !stream.query.skew().is_empty())
    }

    /// Hands every task to its core. On a node that is not the coordinator the stream
    /// has no rows: reading it waits for this node's tasks and reports their error.
    ///
    /// # Errors
    /// When an executor has stopped.
    pub fn start(mut self, runtime: &Runtime) -> QueryResult<QueryStream> {
        let stream = self.stream.take().expect("started once");
        let skew = stream.query.skew();
        if stream.remote.is_some() && !skew.is_empty() && !self.votes_hot_keys {
            return Err(QueryError::internal(
                "a skew join over several nodes without a way to vote on hot keys",
            ));
        }
        skew.publish_empty_groups();
        if self.tasks.is_empty() {
            let _ = stream.query.all_finished.send(());
        }
        for (core, spec) in self.tasks.drain(..) {
            if let Err(error) = runtime.submit(core, spec) {
                // Dropping the stream cancels the tasks already submitted.
                stream.query.cancel();
                return Err(error);
            }
        }
        Ok(stream)
    }
}

/// A multi-node query's handle on its inbound streams.
#[derive(Clone)]
struct RemoteStreams {
    transport: Arc<Transport>,
    query_id: u64,
}

impl RemoteStreams {
    /// Closes the query's inbound streams, waking the tasks that read them.
    fn forget(&self) {
        self.transport.forget_query(self.query_id);
    }
}

/// Stops a query from another thread: a peer failed, the client went away.
#[derive(Clone)]
pub struct QueryCanceller {
    query: Arc<QueryState>,
    remote: Option<RemoteStreams>,
}

impl QueryCanceller {
    /// Fails the query with `error` (unless a task failed first) and wakes every task.
    pub fn fail(&self, error: QueryError) {
        self.query.fail(TaskError::from(error));
        if let Some(remote) = &self.remote {
            remote.forget();
        }
    }

    /// The cluster's hot keys of the skew join probed through `exchange`, as the
    /// coordinator unioned them from every node's vote.
    pub fn decide_hot_keys(&self, exchange: ExchangeId, hashes: Vec<u64>) {
        self.query.skew().decide(exchange, hashes);
    }

    /// Decides hot keys without keeping the query alive, for whatever the query
    /// itself holds: the coordinator's tally is reached through the query's vote, so
    /// a strong handle there would be a cycle and the query's memory never returned.
    pub fn hot_key_decider(&self) -> HotKeyDecider {
        HotKeyDecider {
            query: Arc::downgrade(&self.query),
        }
    }
}

/// [`QueryCanceller::decide_hot_keys`] through a weak handle: a query that has ended
/// needs no decision.
pub struct HotKeyDecider {
    query: Weak<QueryState>,
}

impl HotKeyDecider {
    pub fn decide(&self, exchange: ExchangeId, hashes: Vec<u64>) {
        if let Some(query) = self.query.upgrade() {
            query.skew().decide(exchange, hashes);
        }
    }
}

/// The result of a running query, batch by batch. Dropping it cancels the query.
pub struct QueryStream {
    schema: SchemaRef,
    results: flume::Receiver<Charged>,
    finished_signal: flume::Receiver<()>,
    query: Arc<QueryState>,
    done: bool,
    /// Set for a multi-node query: its inbound streams are dropped when it ends.
    remote: Option<RemoteStreams>,
    /// For `CREATE TABLE .. AS`: the partitions this node's tasks kept.
    table: Option<Arc<TableSink>>,
    /// Stops the statement-timeout watcher when the stream goes.
    _timeout: Option<std::sync::mpsc::Sender<()>>,
    /// Lists the query in SHOW QUERIES while the stream lives.
    _admitted: Admitted,
}

impl QueryStream {
    pub fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }

    /// What every task of this node did; complete once the stream has ended.
    pub fn stats(&self) -> Vec<TaskStats> {
        self.query
            .stats
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    pub fn canceller(&self) -> QueryCanceller {
        QueryCanceller {
            query: Arc::clone(&self.query),
            remote: self.remote.clone(),
        }
    }

    /// The next result batch; `None` at the end. Blocks the calling thread, which must
    /// not be one of the executors.
    pub fn next_batch(&mut self) -> Option<QueryResult<RecordBatch>> {
        if self.done {
            return None;
        }
        if let Ok(charged) = self.results.recv() {
            if self.query.cancelled.load(Ordering::Relaxed) {
                return self.finish();
            }
            return Some(Ok(charged.batch));
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
        if let Some(remote) = &self.remote {
            remote.forget();
        }
        self.query
            .take_error()
            .map(|error| Err(QueryError::from(error)))
    }

    /// Cancels the query (on every node, through the usual failure path) if it still
    /// runs after `timeout`: 57014, as PostgreSQL's `statement_timeout`. A watcher
    /// thread waits; it ends when the stream is dropped.
    pub fn cancel_after(&mut self, timeout: std::time::Duration) {
        let (stop, stopped) = std::sync::mpsc::channel::<()>();
        let canceller = self.canceller();
        let spawned = std::thread::Builder::new()
            .name("percore-timeout".into())
            .spawn(move || {
                if stopped.recv_timeout(timeout) == Err(std::sync::mpsc::RecvTimeoutError::Timeout)
                {
                    canceller.fail(QueryError::new(
                        crate::error::ErrorCode::Cancelled,
                        "canceling statement due to statement timeout",
                    ));
                }
            });
        if spawned.is_ok() {
            self._timeout = Some(stop);
        }
    }

    /// For a load that ended without error: this node's partitions of the new table
    /// (every partition index; empty where other nodes hold the rows).
    pub fn take_table(&mut self) -> Option<KeptPartitions> {
        if !self.done {
            return None;
        }
        self.table.as_ref().map(|table| table.take())
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
            if let Some(remote) = &self.remote {
                remote.forget();
            }
        }
    }
}
