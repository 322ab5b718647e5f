//! The embedded cluster a user talks to: a catalog, a runtime of per-core executors,
//! and the path from SQL text to result batches.

mod catalog_change;
mod recursion;
mod restore;
mod shared_ctes;

pub use recursion::{recursion_limit, BoundStatement};

use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::time::{Duration, Instant};

use arrow::array::{ArrayRef, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use arrow::record_batch::RecordBatch;

use crate::catalog::bound::computed_first;
use crate::catalog::data_dir::{DataDir, Placement as DataPlacement};
use crate::catalog::{tpch, Catalog, Table};
use crate::error::{ErrorCode, QueryError, QueryResult};
use crate::exec::query::{prepare, PreparedQuery, QueryStream, RemoteParts};
use crate::exec::remote::Transport;
use crate::exec::runtime::Runtime;
use crate::exec::statement_cancel::StatementCancel;
use crate::exec::stats::TaskStats;
use crate::exec::topology::Topology;
use crate::exec::ExecConfig;
use crate::memory::admission::{Admission, AdmissionRequest, Admitted, QueryInfo};
use crate::memory::{MemorySettings, NodeMemory};
use crate::output_files::{copied_summary, write_file};
use crate::plan::analyze::{self, RunSummary};
use crate::plan::explain::explain;
use crate::plan::node::Node;
use crate::plan::planner::{plan_load, plan_query, PlannerSettings};
use crate::plan::{DistributedPlan, StoreDestination, StoreTarget};
use crate::settings::SessionSettings;
use crate::sql::{
    parse_statement, plan_isolated, plan_parsed, CreateTarget, FunctionRegistry, LoadLayout,
    ParsedStatement, SessionStatement, Statement,
};

/// How to start an embedded cluster.
#[derive(Debug, Clone)]
pub struct ClusterConfig {
    /// Executors (and partitions) in this process.
    pub cores: usize,
    pub exec: ExecConfig,
    pub memory: MemorySettings,
    /// Where the catalog and loaded tables are kept across restarts; in memory only
    /// when `None`.
    pub data_dir: Option<std::path::PathBuf>,
}

impl ClusterConfig {
    pub fn new(cores: usize) -> Self {
        ClusterConfig {
            cores,
            exec: ExecConfig::default(),
            memory: MemorySettings::default(),
            data_dir: None,
        }
    }

    pub fn with_data_dir(mut self, dir: Option<std::path::PathBuf>) -> Self {
        self.data_dir = dir;
        self
    }

    pub fn with_memory_per_core(mut self, bytes: usize) -> Self {
        self.memory.per_core = bytes;
        self
    }

    pub fn with_table_memory_per_core(mut self, bytes: usize) -> Self {
        self.memory.table_memory_per_core = bytes;
        self
    }

    pub fn with_spill_dir(mut self, dir: std::path::PathBuf) -> Self {
        self.memory.spill_dir = dir;
        self
    }

    pub fn with_batch_rows(mut self, batch_rows: usize) -> Self {
        self.exec.batch_rows = batch_rows.max(1);
        self
    }

    pub fn with_exchange_buffer_batches(mut self, batches: usize) -> Self {
        self.exec.exchange_buffer_batches = batches.max(1);
        self
    }

    /// Makes every task take `factor` times as long (see [`ExecConfig::slowdown`]).
    pub fn with_slowdown(mut self, factor: u32) -> Self {
        self.exec.slowdown = factor.max(1);
        self
    }
}

/// A local cluster: one executor per core, each owning one partition of every table.
pub struct Cluster {
    /// Swapped whole when a table is added: a running query keeps the snapshot it
    /// was planned against.
    catalog: RwLock<Arc<Catalog>>,
    /// Shared with the planning threads.
    functions: Arc<FunctionRegistry>,
    runtime: Runtime,
    config: ClusterConfig,
    /// Where this process sits in the cluster; one node unless started by a node.
    topology: Topology,
    transport: Option<Arc<Transport>>,
    memory: NodeMemory,
    /// Held while a DDL statement changes the catalog (on a cluster, on every node
    /// from its first step to its commit), so two never interleave.
    ddl: Mutex<()>,
    data_dir: Option<DataDir>,
}

/// What a statement asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatementKind {
    Query,
    Explain,
    /// Run the query, then show the plan with what each stage did.
    ExplainAnalyze,
    /// `CREATE TABLE .. AS`: run the query, keep its rows as a table (or, for `COPY
    /// .. TO 'dir/'`, write each partition's rows to a file where they are).
    CreateTable,
    /// `COPY (query) TO 'file'`: run the query, the coordinator writes the results.
    CopyTo,
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
        let data_dir = match &config.data_dir {
            Some(root) => Some(DataDir::open(
                root,
                DataPlacement {
                    node: topology.node,
                    nodes: topology.nodes,
                    cores_per_node: topology.cores_per_node,
                },
            )?),
            None => None,
        };
        let runtime = Runtime::start_at(config.cores, topology.node * config.cores)?;
        let cluster = Cluster {
            data_dir,
            memory: NodeMemory::new(config.cores, config.memory.clone()),
            catalog: RwLock::new(catalog),
            functions: Arc::new(FunctionRegistry::new()),
            runtime,
            config,
            topology,
            transport,
            ddl: Mutex::new(()),
        };
        for warning in cluster.restore() {
            eprintln!("percore: {warning}");
        }
        Ok(cluster)
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

    /// This node's memory budgets, spill disk and admission queue.
    pub fn memory(&self) -> &NodeMemory {
        &self.memory
    }

    /// Waits until the query's minimum reservation fits (see [`Admission`]), or
    /// `cancel` is requested. With `force`, takes it at once: a peer's part of a query
    /// its coordinator admitted.
    ///
    /// # Errors
    /// The admission queue is full, the wait timed out or was cancelled.
    pub fn admit(
        &self,
        sql: &str,
        plan: &DistributedPlan,
        settings: &SessionSettings,
        force: bool,
        cancel: Option<&StatementCancel>,
    ) -> QueryResult<Admitted> {
        let limit = settings
            .memory_per_core
            .unwrap_or(self.memory.settings.per_core);
        let request = AdmissionRequest {
            limit_per_core: limit,
            min_per_core: minimum_reservation(plan, limit),
            force,
            statement_timeout: settings.statement_timeout,
        };
        Admission::admit(&self.memory, sql, request, cancel)
    }

    /// Wires this node's part of an admitted query; see [`PreparedQuery::start`].
    ///
    /// # Errors
    /// A plan that does not fit this cluster.
    pub fn prepare(
        &self,
        plan: &DistributedPlan,
        remote: Option<RemoteParts>,
        admitted: Admitted,
        settings: &SessionSettings,
    ) -> QueryResult<PreparedQuery> {
        let config = ExecConfig {
            spread_hot_keys: self.config.exec.spread_hot_keys && settings.spreads_hot_keys(),
            ..self.config.exec
        };
        prepare(plan, config, self.topology, remote, admitted)
    }

    /// Admits, prepares and starts a single-node query.
    fn execute(
        &self,
        sql: &str,
        plan: &DistributedPlan,
        settings: &SessionSettings,
    ) -> QueryResult<QueryStream> {
        let admitted = self.admit(sql, plan, settings, false, None)?;
        let waited = admitted.waited;
        let mut stream = self
            .prepare(plan, None, admitted, settings)?
            .start(&self.runtime)?;
        if let Some(timeout) = settings.statement_timeout {
            stream.cancel_after(timeout.saturating_sub(waited));
        }
        Ok(stream)
    }

    /// Guards and parses one statement, once: it is then either run by the session
    /// ([`Cluster::session_statement`]) or planned ([`Cluster::plan_parsed`]).
    ///
    /// # Errors
    /// Limits (54001 for statements too complex), syntax errors, bad SET values.
    pub fn parse(&self, sql: &str) -> QueryResult<ParsedStatement> {
        parse_statement(sql)
    }

    /// Runs `SET` and `SHOW QUERIES`.
    ///
    /// # Errors
    /// Bad settings.
    pub fn session_statement(
        &self,
        statement: &SessionStatement,
        settings: &mut SessionSettings,
    ) -> QueryResult<RecordBatch> {
        match statement {
            SessionStatement::Set { name, value } => {
                lines_batch("setting", &settings.set(name, value.as_deref())?)
            }
            SessionStatement::ShowQueries => queries_batch(&self.memory.admission.queries()),
            SessionStatement::ShowSetting { name: Some(name) } => {
                lines_batch(name, &settings.show(name)?)
            }
            SessionStatement::ShowSetting { name: None } => settings_batch(&settings.all()),
            SessionStatement::ShowTables => tables_batch(&self.catalog()),
            SessionStatement::Describe { name } => {
                let catalog = self.catalog();
                let table = catalog.table(name).ok_or_else(|| {
                    QueryError::new(ErrorCode::Semantic, format!("table '{name}' not found"))
                })?;
                columns_batch(&table.schema)
            }
            SessionStatement::ShowStats { name } => {
                let catalog = self.catalog();
                let table = catalog.table(name).ok_or_else(|| {
                    QueryError::new(ErrorCode::Semantic, format!("table '{name}' not found"))
                })?;
                stats_batch(table)
            }
            SessionStatement::CreateExternalTable { .. } | SessionStatement::DropTable { .. } => {
                self.refuse_ddl_across_nodes(statement)?;
                let _ddl = self.lock_ddl()?;
                let change = self.prepare_change(statement)?;
                lines_batch("result", &self.apply_change(change)?)
            }
        }
    }

    /// Waits (a little) until no other DDL statement runs on this node.
    ///
    /// # Errors
    /// `Busy` when another one still runs after a few seconds.
    pub fn lock_ddl(&self) -> QueryResult<MutexGuard<'_, ()>> {
        let deadline = Instant::now() + DDL_WAIT;
        loop {
            match self.ddl.try_lock() {
                Ok(guard) => return Ok(guard),
                Err(std::sync::TryLockError::Poisoned(poisoned)) => {
                    return Ok(poisoned.into_inner())
                }
                Err(std::sync::TryLockError::WouldBlock) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(10));
                }
                Err(std::sync::TryLockError::WouldBlock) => {
                    return Err(QueryError::new(
                        ErrorCode::Busy,
                        format!(
                            "another statement is changing the catalog on node {}; retry",
                            self.topology.node
                        ),
                    ))
                }
            }
        }
    }

    /// Whether a table may be created under `name`: `Ok(None)` to go on, `Ok(Some)`
    /// with the message to answer when it exists and `IF NOT EXISTS` says to do
    /// nothing.
    ///
    /// # Errors
    /// The name is taken and neither `IF NOT EXISTS` nor `OR REPLACE` was given.
    pub fn check_new_table(&self, store: &StoreTarget) -> QueryResult<Option<String>> {
        if store.destination != StoreDestination::Table {
            return Ok(None);
        }
        self.check_table_name(&store.name, store.if_not_exists, store.or_replace)
    }

    /// As [`Cluster::check_new_table`], for a table named `name`.
    ///
    /// # Errors
    /// As [`Cluster::check_new_table`].
    pub fn check_table_name(
        &self,
        name: &str,
        if_not_exists: bool,
        or_replace: bool,
    ) -> QueryResult<Option<String>> {
        if self.catalog().table(name).is_none() || or_replace {
            return Ok(None);
        }
        if if_not_exists {
            return Ok(Some(format!("table {name} exists")));
        }
        Err(QueryError::new(
            ErrorCode::Semantic,
            format!("table {name} already exists"),
        ))
    }

    /// DDL changes one node's catalog at a time: on a cluster, the coordinator runs it
    /// on every node ([`Cluster::prepare_change`], then [`Cluster::apply_change`]).
    fn refuse_ddl_across_nodes(&self, statement: &SessionStatement) -> QueryResult<()> {
        if self.topology.nodes > 1 {
            return Err(QueryError::internal(format!(
                "{statement:?} reached one node of a cluster; DDL runs through the coordinator"
            )));
        }
        Ok(())
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
        Arc::make_mut(&mut self.functions).register_scalar(udf);
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
    /// Syntax, name and unsupported-feature errors; session statements.
    pub fn plan(&self, sql: &str) -> QueryResult<(DistributedPlan, StatementKind)> {
        self.plan_parsed(self.parse(sql)?.into_plannable()?)
    }

    /// The types the planner infers for a query's parameters (`$1` first), `None`
    /// where their use does not say; empty for statements that are not queries.
    ///
    /// # Errors
    /// Syntax and name errors.
    pub fn parameter_types(&self, sql: &str) -> QueryResult<Vec<Option<DataType>>> {
        let ParsedStatement::Plannable(mut statement) = self.parse(sql)? else {
            return Ok(Vec::new());
        };
        if let Some(types) = self.recursive_parameter_types(&mut statement)? {
            return Ok(types);
        }
        self.parameter_types_with(*statement, &[])
    }

    /// The types of a statement's parameters, planned with `relations` bound.
    fn parameter_types_with(
        &self,
        statement: sqlparser::ast::Statement,
        relations: &[crate::catalog::bound::BoundRelation],
    ) -> QueryResult<Vec<Option<DataType>>> {
        let catalog = self.catalog_with(relations)?;
        let functions = Arc::clone(&self.functions);
        plan_isolated(move || crate::sql::parameter_types(statement, &catalog, &functions))
    }

    /// Plans a parsed statement on a planning thread (a deep stack, panics caught, a
    /// deadline; see [`plan_isolated`]).
    ///
    /// # Errors
    /// Name and unsupported-feature errors, planner panics, the planning deadline.
    pub fn plan_parsed(
        &self,
        statement: sqlparser::ast::Statement,
    ) -> QueryResult<(DistributedPlan, StatementKind)> {
        self.plan_parsed_with(statement, &[])
    }

    /// Like [`Cluster::plan_parsed`], with a statement's bound relations in front of
    /// the catalog.
    ///
    /// # Errors
    /// As [`Cluster::plan_parsed`].
    pub fn plan_parsed_with(
        &self,
        statement: sqlparser::ast::Statement,
        relations: &[crate::catalog::bound::BoundRelation],
    ) -> QueryResult<(DistributedPlan, StatementKind)> {
        let catalog = self.catalog_with(relations)?;
        let functions = Arc::clone(&self.functions);
        let settings = PlannerSettings::new(self.topology.partitions());
        plan_isolated(move || {
            let (logical, kind) = match plan_parsed(statement, &catalog, &functions)? {
                Statement::CreateTableAs {
                    plan,
                    target,
                    explain,
                } => {
                    let kind = if explain {
                        StatementKind::Explain
                    } else {
                        StatementKind::CreateTable
                    };
                    return Ok((plan_load(&plan, &catalog, &settings, &target)?, kind));
                }
                Statement::CopyTo {
                    plan,
                    target,
                    explain,
                } => {
                    let kind = if explain {
                        StatementKind::Explain
                    } else if target.parts {
                        StatementKind::CreateTable
                    } else {
                        StatementKind::CopyTo
                    };
                    let distributed = if target.parts {
                        let load = CreateTarget {
                            name: target.path.display().to_string(),
                            layout: LoadLayout::AsComputed,
                            if_not_exists: false,
                            or_replace: true,
                        };
                        let mut distributed = plan_load(&plan, &catalog, &settings, &load)?;
                        if let Some(store) = distributed.store.as_mut() {
                            store.destination = StoreDestination::Files(target);
                        }
                        distributed
                    } else {
                        let mut distributed = plan_query(&plan, &catalog, &settings)?;
                        distributed.copy_to = Some(target);
                        distributed
                    };
                    return Ok((distributed, kind));
                }
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
            Ok((plan_query(&logical, &catalog, &settings)?, kind))
        })
    }

    /// Runs one statement with the default session settings.
    ///
    /// # Errors
    /// Planning errors; execution errors arrive through the stream.
    pub fn run(&self, sql: &str) -> QueryResult<StatementOutput> {
        self.run_in(sql, &mut SessionSettings::default())
    }

    /// Runs one statement of a session (`SET` changes `settings`).
    ///
    /// # Errors
    /// Planning errors; execution errors arrive through the stream.
    pub fn run_in(
        &self,
        sql: &str,
        settings: &mut SessionSettings,
    ) -> QueryResult<StatementOutput> {
        let statement = match self.parse(sql)? {
            ParsedStatement::Session(statement) => {
                let batch = self.session_statement(&statement, settings)?;
                return Ok(StatementOutput::Explain(batch));
            }
            ParsedStatement::Plannable(statement) => statement,
        };
        let deadline = settings.deadline();
        let step_settings = *settings;
        let mut run_step = |sql: &str, relations: &[_], limit| {
            self.run_step(sql, relations, limit, &step_settings, deadline)
        };
        let limit = recursion_limit(self, settings);
        let (bound, plan, kind) = self.plan_statement(*statement, limit, &mut run_step)?;
        // The steps of a recursion spent part of the statement's time.
        let settings = &settings.until(deadline);
        match kind {
            StatementKind::Explain => Ok(StatementOutput::Explain(explain_batch(&plan)?)),
            StatementKind::Query => Ok(StatementOutput::Rows(self.execute(sql, &plan, settings)?)),
            StatementKind::CreateTable => Ok(StatementOutput::Explain(
                self.create_table_as(sql, &plan, settings)?,
            )),
            StatementKind::CopyTo => {
                let target = plan
                    .copy_to
                    .clone()
                    .ok_or_else(|| QueryError::internal("COPY without a target"))?;
                let mut stream = self.execute(sql, &plan, settings)?;
                let batches = std::iter::from_fn(|| stream.next_batch());
                let rows = write_file(&target.path, target.format, &plan.schema, batches)?;
                Ok(StatementOutput::Explain(lines_batch(
                    "result",
                    &copied_summary(rows, &target),
                )?))
            }
            StatementKind::ExplainAnalyze => {
                let started = Instant::now();
                let mut stream = self.execute(sql, &plan, settings)?;
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
                let relations = bound.map(|bound| bound.relations).unwrap_or_default();
                let text =
                    computed_first(&relations) + &analyze::render(&plan, &stream.stats(), summary);
                Ok(StatementOutput::Explain(text_batch(&text)?))
            }
        }
    }

    /// Runs a single-node `CREATE TABLE .. AS` and registers the table it made.
    fn create_table_as(
        &self,
        sql: &str,
        plan: &DistributedPlan,
        settings: &SessionSettings,
    ) -> QueryResult<RecordBatch> {
        let store = plan
            .store
            .as_ref()
            .ok_or_else(|| QueryError::internal("CREATE TABLE without a target"))?;
        let _ddl = self.lock_ddl()?;
        if let Some(done) = self.check_new_table(store)? {
            return lines_batch("result", &done);
        }
        let mut stream = self.execute(sql, plan, settings)?;
        while let Some(batch) = stream.next_batch() {
            batch?;
        }
        let kept = stream
            .take_table()
            .ok_or_else(|| QueryError::internal("a load that kept no partitions"))?;
        let profile = kept.profile(&store.partitioning);
        let staged = self.stage_load(store, &plan.schema, &kept.partitions)?;
        let change = self.loaded_change(
            store,
            Arc::clone(&plan.schema),
            kept.partitions,
            &profile,
            staged,
        );
        lines_batch("result", &self.apply_change(change)?)
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
        self.sql_in(sql, &mut SessionSettings::default())
    }

    /// Like [`Cluster::sql_with_stats`], in a session.
    ///
    /// # Errors
    /// Any planning or execution error.
    pub fn sql_in(
        &self,
        sql: &str,
        settings: &mut SessionSettings,
    ) -> QueryResult<(Vec<RecordBatch>, Vec<TaskStats>)> {
        match self.run_in(sql, settings)? {
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

/// How long a DDL statement waits for another one to finish before giving up.
const DDL_WAIT: Duration = Duration::from_secs(5);

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
    lines_batch("plan", text)
}

/// Text as a one-column batch named `column`, one row per line.
pub fn lines_batch(column: &str, text: &str) -> QueryResult<RecordBatch> {
    let lines: StringArray = text.lines().map(Some).collect();
    let schema = Arc::new(Schema::new(vec![Field::new(column, DataType::Utf8, false)]));
    Ok(RecordBatch::try_new(schema, vec![Arc::new(lines)])?)
}

/// SHOW ALL's result, with PostgreSQL's column names.
fn settings_batch(rows: &[(String, String, String)]) -> QueryResult<RecordBatch> {
    let column = |pick: fn(&(String, String, String)) -> &str| -> StringArray {
        rows.iter().map(|row| Some(pick(row))).collect()
    };
    let schema = Arc::new(Schema::new(
        ["name", "setting", "description"]
            .map(|name| Field::new(name, DataType::Utf8, false))
            .to_vec(),
    ));
    Ok(RecordBatch::try_new(
        schema,
        vec![
            Arc::new(column(|row| &row.0)),
            Arc::new(column(|row| &row.1)),
            Arc::new(column(|row| &row.2)),
        ],
    )?)
}

/// DESCRIBE's result: each column's name, type and whether it may be NULL.
fn columns_batch(schema: &Schema) -> QueryResult<RecordBatch> {
    use arrow::array::BooleanArray;
    let names: StringArray = schema
        .fields()
        .iter()
        .map(|f| Some(f.name().as_str()))
        .collect();
    let types: StringArray = schema
        .fields()
        .iter()
        .map(|f| Some(f.data_type().to_string()))
        .collect();
    let nullable: BooleanArray = schema
        .fields()
        .iter()
        .map(|f| Some(f.is_nullable()))
        .collect();
    Ok(RecordBatch::try_from_iter_with_nullable([
        ("column", Arc::new(names) as ArrayRef, false),
        ("type", Arc::new(types), false),
        ("nullable", Arc::new(nullable), false),
    ])?)
}

/// SHOW STATS' result: each column's distinct values and range, as the planner sees
/// them (NULL where it knows nothing).
fn stats_batch(table: &Table) -> QueryResult<RecordBatch> {
    use arrow::array::{Float64Array, UInt64Array};
    let fields = table.schema.fields();
    let names: StringArray = fields.iter().map(|f| Some(f.name().as_str())).collect();
    let distinct: UInt64Array = fields
        .iter()
        .map(|f| {
            let count = table.statistics.distinct(&[f.name().as_str()])?;
            Some(count.round() as u64)
        })
        .collect();
    let ranges: Vec<Option<(f64, f64)>> = fields
        .iter()
        .map(|f| table.statistics.range(f.name()))
        .collect();
    let min: Float64Array = ranges.iter().map(|r| r.map(|(min, _)| min)).collect();
    let max: Float64Array = ranges.iter().map(|r| r.map(|(_, max)| max)).collect();
    Ok(RecordBatch::try_from_iter_with_nullable([
        ("column", Arc::new(names) as ArrayRef, false),
        ("distinct", Arc::new(distinct), true),
        ("min", Arc::new(min), true),
        ("max", Arc::new(max), true),
    ])?)
}

/// SHOW TABLES' result: name, rows, columns and source of each table.
fn tables_batch(catalog: &Catalog) -> QueryResult<RecordBatch> {
    use arrow::array::UInt64Array;
    let tables: Vec<_> = catalog.tables().collect();
    let names: StringArray = tables.iter().map(|t| Some(t.name.as_str())).collect();
    let rows: UInt64Array = tables.iter().map(|t| Some(t.row_count as u64)).collect();
    let columns: UInt64Array = tables
        .iter()
        .map(|t| Some(t.schema.fields().len() as u64))
        .collect();
    let sources: StringArray = tables
        .iter()
        .map(|t| {
            Some(match (&t.parquet, &t.csv) {
                (Some(source), _) => format!(
                    "parquet: {} file(s), {} row group(s)",
                    source.files.len(),
                    source.row_groups()
                ),
                (None, Some(source)) => format!("csv: {} file(s)", source.files.len()),
                (None, None) => format!("memory, {}", t.partitioning.describe()),
            })
        })
        .collect();
    Ok(RecordBatch::try_from_iter_with_nullable([
        ("table", Arc::new(names) as ArrayRef, false),
        ("rows", Arc::new(rows), false),
        ("columns", Arc::new(columns), false),
        ("source", Arc::new(sources), false),
    ])?)
}

/// Memory one operator needs to make progress while spilling: a few batches.
const OPERATOR_MINIMUM: usize = 4 << 20;

/// What a query must hold on each core to run at all: a few batches for each of its
/// memory-holding operators, at most a quarter of its limit (so a query is never kept
/// waiting for more than it may use).
fn minimum_reservation(plan: &DistributedPlan, limit: usize) -> usize {
    fn count(node: &Node) -> usize {
        let own = match node {
            Node::Aggregate(aggregate) => usize::from(!aggregate.mode.emits_states()),
            Node::Sort { .. } | Node::HashJoin(_) | Node::NestedLoopJoin(_) | Node::Window(_) => 1,
            _ => 0,
        };
        own + node.children().into_iter().map(count).sum::<usize>()
    }
    let operators: usize = plan.stages.iter().map(|stage| count(&stage.root)).sum();
    (operators * OPERATOR_MINIMUM).min(limit / 4)
}

/// SHOW QUERIES' result.
fn queries_batch(queries: &[QueryInfo]) -> QueryResult<RecordBatch> {
    use arrow::array::UInt64Array;
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::UInt64, false),
        Field::new("state", DataType::Utf8, false),
        Field::new("elapsed_ms", DataType::UInt64, false),
        Field::new("reserved_bytes", DataType::UInt64, false),
        Field::new("sql", DataType::Utf8, false),
    ]));
    let columns: Vec<arrow::array::ArrayRef> = vec![
        Arc::new(UInt64Array::from_iter_values(queries.iter().map(|q| q.id))),
        Arc::new(StringArray::from_iter_values(
            queries.iter().map(|q| q.state),
        )),
        Arc::new(UInt64Array::from_iter_values(
            queries.iter().map(|q| q.elapsed.as_millis() as u64),
        )),
        Arc::new(UInt64Array::from_iter_values(
            queries.iter().map(|q| q.reserved as u64),
        )),
        Arc::new(StringArray::from_iter_values(
            queries.iter().map(|q| q.sql.as_str()),
        )),
    ];
    Ok(RecordBatch::try_new(schema, columns)?)
}
