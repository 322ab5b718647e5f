//! The distributed physical plan, as plain data: stages of operators joined by
//! exchanges. Nothing here executes; `exec` runs it and `planner` builds it.

pub mod analyze;
pub mod cardinality;
pub mod distribution;
pub mod explain;
pub mod node;
pub mod planner;
pub mod skew;

use arrow::datatypes::SchemaRef;
use datafusion_physical_expr::PhysicalExpr;
use std::sync::Arc;

use crate::output_files::FileTarget;

pub use node::{AggregateMode, JoinKind, Node};

/// Index of a stage in [`DistributedPlan::stages`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct StageId(pub usize);

/// Index of an exchange in [`DistributedPlan::exchanges`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ExchangeId(pub usize);

/// Which partitions run a stage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placement {
    /// One task per partition.
    AllPartitions,
    /// One task, on partition 0 (the coordinator's first core).
    Coordinator,
}

/// How an exchange routes each source task's rows to the consumer tasks.
#[derive(Debug, Clone)]
pub enum ExchangeKind {
    /// Row goes to partition `hash(keys) % partitions`.
    Hash { keys: Vec<Arc<dyn PhysicalExpr>> },
    /// Every row goes to every consumer.
    Broadcast,
    /// Every row goes to the single consumer on the coordinator.
    Gather,
}

impl ExchangeKind {
    pub fn name(&self) -> &'static str {
        match self {
            ExchangeKind::Hash { .. } => "hash",
            ExchangeKind::Broadcast => "broadcast",
            ExchangeKind::Gather => "gather",
        }
    }
}

/// A cut in the plan: data moves from `source` stage tasks to `target` stage tasks.
#[derive(Debug, Clone)]
pub struct Exchange {
    pub id: ExchangeId,
    pub kind: ExchangeKind,
    pub source: StageId,
    pub target: StageId,
    pub schema: SchemaRef,
    /// Why the planner could not avoid this exchange, for EXPLAIN.
    pub reason: String,
    /// For the two hash exchanges into a join that may spread hot keys at run time.
    pub skew: Option<SkewRole>,
}

/// A side of a join whose hot keys may be spread at run time (a "skew join"): its
/// probe side sends the rows of keys it finds hot round-robin to every partition,
/// and its build side sends the rows of those keys to every partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SkewRole {
    /// The probe side: samples its first rows, publishes the keys it will spread.
    Spread { build: ExchangeId },
    /// The build side: waits for the probe side's hot keys, then replicates their rows.
    Replicate { probe: ExchangeId },
}

/// Where a stage's output goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StageOutput {
    Exchange(ExchangeId),
    /// The final stage streams to the client.
    Client,
    /// The final stage's tasks keep their rows: they become partitions of a new
    /// table (`CREATE TABLE .. AS`), one per task.
    Store,
}

/// A pipeline tree that runs as one task per partition of its placement.
#[derive(Debug, Clone)]
pub struct Stage {
    pub id: StageId,
    pub root: Node,
    pub placement: Placement,
    pub output: StageOutput,
}

/// Shuffles the planner avoided, and why, for EXPLAIN.
#[derive(Debug, Clone)]
pub struct AvoidedExchange {
    pub operator: String,
    pub reason: String,
}

/// The table a plan's `Store` stage fills, and how its rows are laid out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreTarget {
    pub name: String,
    pub partitioning: crate::catalog::TablePartitioning,
    pub if_not_exists: bool,
    pub or_replace: bool,
    /// Where the kept rows go once every node's part ended well.
    pub destination: StoreDestination,
}

/// What a load's kept rows become.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreDestination {
    /// A table in the catalog.
    Table,
    /// Files, one per partition, written by the node holding it (`COPY .. TO 'dir/'`).
    Files(FileTarget),
}

/// A query's whole distributed plan. Stages are in dependency order: every stage's
/// inputs come from stages with smaller ids; the last stage is the client's.
#[derive(Debug, Clone)]
pub struct DistributedPlan {
    pub stages: Vec<Stage>,
    pub exchanges: Vec<Exchange>,
    pub avoided: Vec<AvoidedExchange>,
    pub partitions: usize,
    pub schema: SchemaRef,
    /// The planner's estimate of the rows the plan returns (or stores).
    pub estimated_rows: f64,
    /// For `CREATE TABLE .. AS`: the table the final stage fills.
    pub store: Option<StoreTarget>,
    /// For `COPY (query) TO 'file'`: the file the coordinator writes the results to.
    pub copy_to: Option<FileTarget>,
}
