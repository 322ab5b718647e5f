//! The embedded cluster a user talks to: a catalog, a runtime of per-core executors,
//! and the path from SQL text to result batches.

use std::sync::{Arc, RwLock};
use std::time::Instant;

use arrow::array::StringArray;
use arrow::datatypes::{DataType, Field, Schema};
use arrow::record_batch::RecordBatch;

use crate::catalog::{tpch, Catalog, Table};
use crate::error::{ErrorCode, QueryError, QueryResult};
use crate::exec::query::{execute, prepare, PreparedQuery, QueryStream, RemoteParts};
use crate::exec::remote::Transport;
use crate::exec::runtime::Runtime;
use crate::exec::stats::TaskStats;
use crate::exec::topology::Topology;
use crate::exec::ExecConfig;
use crate::plan::analyze::{self, RunSummary};
use crate::plan::explain::explain;
use crate::plan::planner::{plan_query, PlannerSettings};
use crate::plan::DistributedPlan;
use crate::sql::{plan_statement, FunctionRegistry, Statement};

/// How to start an embedded cluster.
#[derive(Debug, Clone)]
pub struct ClusterConfig {
    /// Executors (and partitions) in this process.
    pub cores: usize,
    pub exec: ExecConfig,
}

impl ClusterConfig {
    pub fn new(cores: usize) -> Self {
        ClusterConfig {
            cores,
            exec: ExecConfig::default(),
        }
    }

    pub fn with_batch_rows(mut self, batch_rows: usize) -> Self {
        self.exec.batch_rows = batch_rows.max(1);
        self
    }

    pub fn with_exchange_buffer_batches(mut self, batches: usize) -> Self {
        self.exec.exchange_buffer_batches = batches.max(1);
        self
    }
}

/// A local cluster: one executor per core, each owning one partition of every table.
pub struct Cluster {
    /// Swapped whole when a table is added: a running query keeps the snapshot it
    /// was planned against.
    catalog: RwLock<Arc<Catalog>>,
    functions: FunctionRegistry,
    runtime: Runtime,
    config: ClusterConfig,
    /// Where this process sits in the cluster; one node unless started by a node.
    topology: Topology,
    transport: Option<Arc<Transport>>,
}

/// What a statement asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatementKind {
    Query,
    Explain,
    /// Run the query, then show the plan with what each stage did.
    ExplainAnalyze,
}

/// What running a statement produced.
pub enum StatementOutput {
    /// A query's result, streaming.
    Rows(QueryStream),
    /// EXPLAIN text, one line per row.
    Explain(RecordBatch),
}

impl Cluster {
    /// Starts a cluster over an existing catalog.
    ///
    /// # Errors
    /// When the executors cannot start (io_uring or locked memory unavailable).
    pub fn start(catalog: Arc<Catalog>, config: ClusterConfig) -> QueryResult<Cluster> {
        let topology = Topology::single(config.cores);
        Cluster::start_node(catalog, config, topology, None)
    }

    /// Starts this node's executors as part of a multi-node cluster: the catalog holds
    /// this node's partitions (of `topology.partitions()`), `transport` moves data to
    /// and from the other nodes.
    ///
    /// # Errors
    /// A catalog that does not fit the topology, or executors that cannot start.
    pub fn start_node(
        catalog: Arc<Catalog>,
        config: ClusterConfig,
        topology: Topology,
        transport: Option<Arc<Transport>>,
    ) -> QueryResult<Cluster> {
        if catalog.partition_count() != topology.partitions()
            || topology.cores_per_node != config.cores
        {
            return Err(QueryError::internal(format!(
                "catalog has {} partitions for {} nodes of {} cores",
                catalog.partition_count(),
                topology.nodes,
                config.cores
            )));
        }
        let runtime = Runtime::start_at(config.cores, topology.node * config.cores)?;
        Ok(Cluster {
            catalog: RwLock::new(catalog),
            functions: FunctionRegistry::new(),
            runtime,
            config,
            topology,
            transport,
        })
    }

    pub fn runtime(&self) -> &Runtime {
        &self.runtime
    }

    pub fn topology(&self) -> Topology {
        self.topology
    }

    pub fn config(&self) -> &ClusterConfig {
        &self.config
    }

    /// Wires this node's part of a planned query; see [`PreparedQuery::start`].
    ///
    /// # Errors
    /// A plan that does not fit this cluster.
    pub fn prepare(
        &self,
        plan: &DistributedPlan,
        remote: Option<RemoteParts>,
    ) -> QueryResult<PreparedQuery> {
        prepare(plan, self.config.exec, self.topology, remote)
    }

    /// Generates TPC-H at `scale_factor`, one part per core, and starts the cluster.
    ///
    /// # Errors
    /// A bad scale factor, or executors that cannot start.
    pub fn start_tpch(scale_factor: f64, config: ClusterConfig) -> QueryResult<Cluster> {
        if config.cores == 0 {
            return Err(QueryError::new(
                ErrorCode::Semantic,
                "--cores must be at least 1",
            ));
        }
        let catalog = tpch::generate(scale_factor, config.cores, config.exec.batch_rows.max(1024))?;
        Cluster::start(Arc::new(catalog), config)
    }

    /// The current catalog snapshot.
    pub fn catalog(&self) -> Arc<Catalog> {
        Arc::clone(&self.catalog.read().unwrap_or_else(|e| e.into_inner()))
    }

    /// Adds a scalar function that SQL can call by name from now on.
    pub fn register_scalar_function(&mut self, udf: Arc<datafusion_expr::ScalarUDF>) {
        self.functions.register_scalar(udf);
    }

    /// Adds (or replaces) a table; queries planned afterwards see it.
    ///
    /// # Errors
    /// When the table's partition count differs from the cluster's.
    pub fn register_table(&self, table: Table) -> QueryResult<()> {
        if table.partitions.len() != self.topology.partitions() {
            return Err(QueryError::new(
                ErrorCode::Semantic,
                format!(
                    "table {} has {} partitions, the cluster {}",
                    table.name,
                    table.partitions.len(),
                    self.topology.partitions()
                ),
            ));
        }
        let mut catalog = self.catalog.write().unwrap_or_else(|e| e.into_inner());
        let mut updated = Catalog::clone(&catalog);
        updated.insert(table);
        *catalog = Arc::new(updated);
        Ok(())
    }

    /// Plans a statement into its distributed plan without running it.
    ///
    /// # Errors
    /// Syntax, name and unsupported-feature errors.
    pub fn plan(&self, sql: &str) -> QueryResult<(DistributedPlan, StatementKind)> {
        let catalog = self.catalog();
        let (logical, kind) = match plan_statement(sql, &catalog, &self.functions)? {
            Statement::Query(plan) => (plan, StatementKind::Query),
            Statement::Explain { plan, analyze } => (
                plan,
                if analyze {
                    StatementKind::ExplainAnalyze
                } else {
                    StatementKind::Explain
                },
            ),
        };
        let settings = PlannerSettings::new(self.topology.partitions());
        Ok((plan_query(&logical, &catalog, &settings)?, kind))
    }

    /// Runs one statement.
    ///
    /// # Errors
    /// Planning errors; execution errors arrive through the stream.
    pub fn run(&self, sql: &str) -> QueryResult<StatementOutput> {
        let (plan, kind) = self.plan(sql)?;
        match kind {
            StatementKind::Explain => Ok(StatementOutput::Explain(explain_batch(&plan)?)),
            StatementKind::Query => Ok(StatementOutput::Rows(execute(
                &self.runtime,
                &plan,
                self.config.exec,
            )?)),
            StatementKind::ExplainAnalyze => {
                let started = Instant::now();
                let mut stream = execute(&self.runtime, &plan, self.config.exec)?;
                let mut rows = 0;
                while let Some(batch) = stream.next_batch() {
                    rows += batch?.num_rows() as u64;
                }
                let summary = RunSummary {
                    nodes: self.topology.nodes,
                    cores_per_node: self.topology.cores_per_node,
                    rows,
                    elapsed: started.elapsed(),
                };
                let text = analyze::render(&plan, &stream.stats(), summary);
                Ok(StatementOutput::Explain(text_batch(&text)?))
            }
        }
    }

    /// The data plane of a multi-node cluster.
    pub fn transport(&self) -> Option<&Arc<Transport>> {
        self.transport.as_ref()
    }

    /// Runs one statement and collects every result batch.
    ///
    /// # Errors
    /// Any planning or execution error.
    pub fn sql(&self, sql: &str) -> QueryResult<Vec<RecordBatch>> {
        self.sql_with_stats(sql).map(|(batches, _)| batches)
    }

    /// Like [`Cluster::sql`], with what every task did (none for EXPLAIN).
    ///
    /// # Errors
    /// Any planning or execution error.
    pub fn sql_with_stats(&self, sql: &str) -> QueryResult<(Vec<RecordBatch>, Vec<TaskStats>)> {
        match self.run(sql)? {
            StatementOutput::Rows(mut stream) => {
                let mut batches = Vec::new();
                while let Some(batch) = stream.next_batch() {
                    batches.push(batch?);
                }
                Ok((batches, stream.stats()))
            }
            StatementOutput::Explain(batch) => Ok((vec![batch], Vec::new())),
        }
    }
}

/// EXPLAIN's output: the plan text, one row per line.
///
/// # Errors
/// Never in practice (the batch is built from a valid schema).
pub fn explain_batch(plan: &DistributedPlan) -> QueryResult<RecordBatch> {
    text_batch(&explain(plan))
}

/// Text as a one-column batch, one row per line.
///
/// # Errors
/// Never in practice (the batch is built from a valid schema).
pub fn text_batch(text: &str) -> QueryResult<RecordBatch> {
    let lines: StringArray = text.lines().map(Some).collect();
    let schema = Arc::new(Schema::new(vec![Field::new("plan", DataType::Utf8, false)]));
    Ok(RecordBatch::try_new(schema, vec![Arc::new(lines)])?)
}
