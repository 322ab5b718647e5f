//! Builds the distributed physical plan from an optimized logical plan.
//!
//! Planning is deterministic: it walks the logical plan in order and never iterates a
//! hash map, so the same SQL, catalog and settings give the same plan on every node.
//! It avoids exchanges first (co-partitioned joins and aggregations, replicated or
//! broadcast join sides, partial aggregation and top-k below every exchange) and
//! records each exchange it could not avoid with the reason.

mod aggregate;
mod distinct_floats;
mod grouping_sets;
mod join;
mod load;
mod ordered_aggregates;
mod unnest;
mod window;

use std::sync::Arc;

pub use load::plan_load;

use arrow::array::RecordBatch;
use arrow::datatypes::{Schema, SchemaRef};
use arrow::record_batch::RecordBatchOptions;
use datafusion_common::{DFSchema, ScalarValue};
use datafusion_expr::execution_props::ExecutionProps;
use datafusion_expr::logical_plan::{FetchType, SkipType};
use datafusion_expr::physical_planning_context::PhysicalPlanningContext;
use datafusion_expr::{Expr, LogicalPlan};
use datafusion_physical_expr::expressions::Column;
use datafusion_physical_expr::{
    create_physical_expr, create_physical_sort_exprs, PhysicalExpr, PhysicalSortExpr,
};

use super::cardinality::Cardinality;
use super::distribution::Distribution;
use super::node::{Node, ScanNode};
use super::{
    AvoidedExchange, DistributedPlan, Exchange, ExchangeId, ExchangeKind, Placement, Stage,
    StageId, StageOutput, StoreTarget,
};
use crate::catalog::{Catalog, TablePartitioning};
use crate::error::{QueryError, QueryResult};
use crate::operators::decimal::with_own_kernels;
use crate::sql::lateral_joins::reads_outer_row;
use crate::sql::provider::CatalogTableSource;

/// Settings that change plans; every node must use the same ones.
#[derive(Debug, Clone)]
pub struct PlannerSettings {
    pub partitions: usize,
    /// A join side estimated at or below this many rows may be broadcast.
    pub broadcast_rows_max: f64,
}

impl PlannerSettings {
    pub fn new(partitions: usize) -> Self {
        PlannerSettings {
            partitions,
            broadcast_rows_max: 1_000_000.0,
        }
    }
}

/// A physical subtree being built, with where its rows are and how many we expect.
pub(crate) struct Planned {
    pub node: Node,
    pub dist: Distribution,
    pub rows: f64,
}

/// Plans one query.
///
/// # Errors
/// `Unsupported` naming the logical construct Percore cannot run yet.
pub fn plan_query(
    logical: &LogicalPlan,
    catalog: &Catalog,
    settings: &PlannerSettings,
) -> QueryResult<DistributedPlan> {
    let mut planner = Planner::new(catalog, settings);
    let root = planner.plan(logical)?;
    let root =
        planner.complete_on_coordinator(root, "query results are returned by the coordinator");
    Ok(planner.finish(root, Placement::Coordinator, StageOutput::Client, None))
}

pub(crate) struct Planner<'a> {
    catalog: &'a Catalog,
    cardinality: Cardinality<'a>,
    settings: &'a PlannerSettings,
    props: ExecutionProps,
    stages: Vec<Stage>,
    exchanges: Vec<Exchange>,
    avoided: Vec<AvoidedExchange>,
}

impl<'a> Planner<'a> {
    fn new(catalog: &'a Catalog, settings: &'a PlannerSettings) -> Self {
        Planner {
            catalog,
            cardinality: Cardinality::new(catalog),
            settings,
            props: ExecutionProps::new(),
            stages: Vec::new(),
            exchanges: Vec::new(),
            avoided: Vec::new(),
        }
    }

    /// Adds the final stage and links every exchange to the stage reading it.
    fn finish(
        mut self,
        root: Planned,
        placement: Placement,
        output: StageOutput,
        store: Option<StoreTarget>,
    ) -> DistributedPlan {
        let Planned {
            node: root,
            rows: estimated_rows,
            ..
        } = root;
        let schema = root.schema();
        let final_stage = StageId(self.stages.len());
        self.stages.push(Stage {
            id: final_stage,
            root,
            placement,
            output,
        });
        self.link_exchange_targets();
        crate::plan::skew::mark_skew_joins(&self.stages, &mut self.exchanges);
        DistributedPlan {
            stages: self.stages,
            exchanges: self.exchanges,
            avoided: self.avoided,
            partitions: self.settings.partitions,
            schema,
            estimated_rows,
            store,
            copy_to: None,
        }
    }

    fn plan(&mut self, logical: &LogicalPlan) -> QueryResult<Planned> {
        match logical {
            LogicalPlan::TableScan(scan) => self.plan_scan(scan),
            LogicalPlan::Projection(projection) => {
                let input = self.plan(&projection.input)?;
                let input_schema = projection.input.schema();
                let exprs = self.physical_exprs(&projection.expr, input_schema)?;
                let positions: Vec<Option<usize>> = projection
                    .expr
                    .iter()
                    .map(|expr| column_position(expr, input_schema))
                    .collect();
                let dist = input
                    .dist
                    .remap(|column| positions.iter().position(|p| *p == Some(column)));
                let node = Node::Project {
                    input: Box::new(input.node),
                    exprs,
                    schema: arrow_schema(&projection.schema),
                };
                Ok(Planned {
                    node,
                    dist,
                    rows: input.rows,
                })
            }
            LogicalPlan::Filter(filter) => {
                reject_subqueries(&filter.predicate)?;
                let input = self.plan(&filter.input)?;
                let predicate = self.physical_expr(&filter.predicate, filter.input.schema())?;
                Ok(Planned {
                    node: Node::Filter {
                        input: Box::new(input.node),
                        predicate,
                    },
                    dist: input.dist,
                    rows: self.cardinality.rows(logical),
                })
            }
            LogicalPlan::SubqueryAlias(alias) => self.plan(&alias.input),
            LogicalPlan::Aggregate(aggregate) => self.plan_aggregate(aggregate),
            LogicalPlan::Join(join) => self.plan_join(join),
            LogicalPlan::Sort(sort) => self.plan_sort(sort),
            LogicalPlan::Limit(limit) => self.plan_limit(limit),
            LogicalPlan::Union(union) => self.plan_union(union),
            LogicalPlan::EmptyRelation(empty) => {
                let schema = arrow_schema(&empty.schema);
                let rows = usize::from(empty.produce_one_row);
                let options = RecordBatchOptions::new().with_row_count(Some(rows));
                let columns = schema
                    .fields()
                    .iter()
                    .map(|field| ScalarValue::try_from(field.data_type())?.to_array_of_size(rows))
                    .collect::<Result<Vec<_>, _>>()?;
                let batch =
                    RecordBatch::try_new_with_options(Arc::clone(&schema), columns, &options)?;
                Ok(Planned {
                    node: Node::Values {
                        batches: vec![batch],
                        schema,
                    },
                    dist: Distribution::Replicated,
                    rows: rows as f64,
                })
            }
            LogicalPlan::Values(values) => self.plan_values(values),
            LogicalPlan::Window(window) => self.plan_window(window),
            LogicalPlan::Distinct(_) => Err(QueryError::unsupported("DISTINCT ON")),
            LogicalPlan::Unnest(unnest) => self.plan_unnest(unnest),
            LogicalPlan::RecursiveQuery(_) => Err(QueryError::unsupported("recursive CTEs")),
            // A LATERAL subquery whose outer references the optimizer folded away
            // (`where null <= x.k`) is an ordinary join input.
            LogicalPlan::Subquery(subquery) if !reads_outer_row(&subquery.subquery) => {
                self.plan(&subquery.subquery)
            }
            // What DataFusion's decorrelation leaves of a LATERAL subquery it could not
            // turn into a join.
            LogicalPlan::Subquery(_) => Err(QueryError::unsupported(
                "this LATERAL subquery: one that reads the outer row inside a set \
                 operation (UNION, INTERSECT, EXCEPT), DISTINCT ON or the NULL \
                 side of an outer join cannot be planned yet",
            )),
            other => Err(QueryError::unsupported(format!(
                "logical operator {}",
                other.display()
            ))),
        }
    }

    fn plan_scan(
        &mut self,
        scan: &datafusion_expr::logical_plan::TableScan,
    ) -> QueryResult<Planned> {
        // A table function's table (generate_series) is only in its scan's source.
        let generated = scan
            .source
            .downcast_ref::<CatalogTableSource>()
            .filter(|source| source.table.series.is_some());
        let table = match generated {
            Some(source) => Arc::clone(&source.table),
            None => Arc::clone(self.catalog.resolve(&scan.table_name).ok_or_else(|| {
                QueryError::internal(format!("table {} vanished", scan.table_name))
            })?),
        };
        let projection: Vec<usize> = match &scan.projection {
            Some(columns) => columns.clone(),
            None => (0..table.schema.fields().len()).collect(),
        };
        let full_schema =
            DFSchema::try_from_qualified_schema(scan.table_name.clone(), &table.schema)?;
        let mut read_columns = projection.clone();
        for filter in &scan.filters {
            reject_subqueries(filter)?;
            // `column_refs` is a hash set: sort, so every node plans the same columns.
            let mut indices = filter
                .column_refs()
                .into_iter()
                .map(|column| full_schema.index_of_column(column))
                .collect::<Result<Vec<_>, _>>()?;
            indices.sort_unstable();
            for index in indices {
                if !read_columns.contains(&index) {
                    read_columns.push(index);
                }
            }
        }
        let read_schema = DFSchema::try_from_qualified_schema(
            scan.table_name.clone(),
            &table.schema.project(&read_columns)?,
        )?;
        let filters = self.physical_exprs(&scan.filters, &read_schema)?;
        let rows = self.cardinality.rows(&LogicalPlan::TableScan(scan.clone()));
        let dist = if self.settings.partitions == 1 {
            Distribution::Single
        } else {
            match &table.partitioning {
                TablePartitioning::Replicated => Distribution::Replicated,
                TablePartitioning::Unkeyed => Distribution::any(),
                TablePartitioning::KeyRange { columns, domain } => {
                    match projected_positions(&table.schema, &projection, columns) {
                        Some(columns) => Distribution::key_range(columns, domain.clone()),
                        None => Distribution::any(),
                    }
                }
                TablePartitioning::Hash { columns } => {
                    match projected_positions(&table.schema, &projection, columns) {
                        Some(columns) => Distribution::hash(columns),
                        None => Distribution::any(),
                    }
                }
            }
        };
        let node = Node::Scan(ScanNode {
            table,
            output_columns: (0..projection.len()).collect(),
            read_columns,
            filters,
            schema: arrow_schema(&scan.projected_schema),
        });
        Ok(Planned { node, dist, rows })
    }

    fn plan_sort(&mut self, sort: &datafusion_expr::logical_plan::Sort) -> QueryResult<Planned> {
        let input = self.plan(&sort.input)?;
        let exprs = self.physical_sort_exprs(&sort.expr, sort.input.schema())?;
        let rows = sort
            .fetch
            .map_or(input.rows, |fetch| input.rows.min(fetch as f64));
        if !input.dist.is_partitioned() {
            let node = Node::Sort {
                input: Box::new(input.node),
                exprs,
                fetch: sort.fetch,
            };
            return Ok(Planned {
                node,
                dist: input.dist,
                rows,
            });
        }
        let local = Planned {
            node: Node::Sort {
                input: Box::new(input.node),
                exprs: exprs.clone(),
                fetch: sort.fetch,
            },
            dist: input.dist,
            rows,
        };
        let reason = match sort.fetch {
            Some(fetch) => format!("ORDER BY .. LIMIT {fetch} needs one stream; each partition keeps its top {fetch} first"),
            None => "ORDER BY needs one ordered stream; each partition sorts first".to_string(),
        };
        let gathered = self.gather(local, reason);
        let node = Node::Sort {
            input: Box::new(gathered.node),
            exprs,
            fetch: sort.fetch,
        };
        Ok(Planned {
            node,
            dist: Distribution::Single,
            rows,
        })
    }

    fn plan_limit(&mut self, limit: &datafusion_expr::logical_plan::Limit) -> QueryResult<Planned> {
        let skip = match limit.get_skip_type()? {
            SkipType::Literal(skip) => skip,
            SkipType::UnsupportedExpr => {
                return Err(QueryError::unsupported("non-constant OFFSET"))
            }
        };
        let fetch = match limit.get_fetch_type()? {
            FetchType::Literal(fetch) => fetch,
            FetchType::UnsupportedExpr => {
                return Err(QueryError::unsupported("non-constant LIMIT"))
            }
        };
        let input = self.plan(&limit.input)?;
        let rows = fetch.map_or(input.rows, |fetch| input.rows.min(fetch as f64));
        let input = if input.dist.is_partitioned() {
            let local = Planned {
                node: Node::Limit {
                    input: Box::new(input.node),
                    skip: 0,
                    fetch: fetch.map(|f| f + skip),
                },
                dist: input.dist,
                rows,
            };
            self.gather(
                local,
                "LIMIT counts rows across partitions; each partition stops early first".into(),
            )
        } else {
            input
        };
        Ok(Planned {
            node: Node::Limit {
                input: Box::new(input.node),
                skip,
                fetch,
            },
            dist: input.dist,
            rows,
        })
    }

    fn plan_union(&mut self, union: &datafusion_expr::logical_plan::Union) -> QueryResult<Planned> {
        let inputs = union
            .inputs
            .iter()
            .map(|input| self.plan(input))
            .collect::<QueryResult<Vec<_>>>()?;
        let all_partitioned = inputs.iter().all(|input| input.dist.is_partitioned());
        let all_replicated = inputs
            .iter()
            .all(|input| input.dist == Distribution::Replicated);
        let rows = inputs.iter().map(|input| input.rows).sum();
        let (inputs, dist) = if all_partitioned {
            (inputs, Distribution::any())
        } else if all_replicated {
            (inputs, Distribution::Replicated)
        } else {
            let gathered = inputs
                .into_iter()
                .map(|input| {
                    self.complete_on_coordinator(
                        input,
                        "UNION of partitioned and unpartitioned inputs",
                    )
                })
                .collect();
            (gathered, Distribution::Single)
        };
        let node = Node::Union {
            inputs: inputs.into_iter().map(|input| input.node).collect(),
            schema: arrow_schema(&union.schema),
        };
        Ok(Planned { node, dist, rows })
    }

    fn plan_values(
        &mut self,
        values: &datafusion_expr::logical_plan::Values,
    ) -> QueryResult<Planned> {
        let schema = arrow_schema(&values.schema);
        let empty = DFSchema::empty();
        let one_row = RecordBatch::try_new_with_options(
            Arc::new(Schema::empty()),
            vec![],
            &RecordBatchOptions::new().with_row_count(Some(1)),
        )?;
        let mut columns: Vec<Vec<ScalarValue>> = vec![Vec::new(); schema.fields().len()];
        for row in &values.values {
            for (column_idx, expr) in row.iter().enumerate() {
                let value = self.physical_expr(expr, &empty)?.evaluate(&one_row)?;
                let value = match value {
                    datafusion_expr::ColumnarValue::Scalar(scalar) => scalar,
                    datafusion_expr::ColumnarValue::Array(array) => {
                        ScalarValue::try_from_array(&array, 0)?
                    }
                };
                let target = schema.field(column_idx).data_type();
                columns[column_idx].push(value.cast_to(target)?);
            }
        }
        let arrays = columns
            .into_iter()
            .zip(schema.fields())
            .map(|(values, field)| {
                if values.is_empty() {
                    Ok(arrow::array::new_empty_array(field.data_type()))
                } else {
                    ScalarValue::iter_to_array(values)
                }
            })
            .collect::<Result<Vec<_>, _>>()?;
        let options = RecordBatchOptions::new().with_row_count(Some(values.values.len()));
        let batch = RecordBatch::try_new_with_options(Arc::clone(&schema), arrays, &options)?;
        Ok(Planned {
            node: Node::Values {
                batches: vec![batch],
                schema,
            },
            dist: Distribution::Replicated,
            rows: values.values.len() as f64,
        })
    }

    pub(crate) fn physical_expr(
        &self,
        expr: &Expr,
        schema: &DFSchema,
    ) -> QueryResult<Arc<dyn PhysicalExpr>> {
        reject_subqueries(expr)?;
        let expr = create_physical_expr(
            expr,
            schema,
            &self.props,
            &PhysicalPlanningContext::default(),
        )?;
        Ok(with_own_kernels(expr, schema.as_arrow())?)
    }

    pub(crate) fn physical_sort_exprs(
        &self,
        sorts: &[datafusion_expr::SortExpr],
        schema: &DFSchema,
    ) -> QueryResult<Vec<PhysicalSortExpr>> {
        for sort in sorts {
            reject_subqueries(&sort.expr)?;
        }
        Ok(create_physical_sort_exprs(
            sorts,
            schema,
            &self.props,
            &PhysicalPlanningContext::default(),
        )?)
    }

    pub(crate) fn physical_exprs(
        &self,
        exprs: &[Expr],
        schema: &DFSchema,
    ) -> QueryResult<Vec<Arc<dyn PhysicalExpr>>> {
        exprs
            .iter()
            .map(|expr| self.physical_expr(expr, schema))
            .collect()
    }

    /// Cuts the plan below `input`: `input` becomes a stage of its own whose output
    /// goes through a new exchange; what is returned reads that exchange.
    pub(crate) fn exchange(
        &mut self,
        input: Planned,
        kind: ExchangeKind,
        dist: Distribution,
        reason: String,
    ) -> Planned {
        let source = StageId(self.stages.len());
        let id = ExchangeId(self.exchanges.len());
        let schema = input.node.schema();
        let placement = if input.dist.is_partitioned() {
            Placement::AllPartitions
        } else {
            Placement::Coordinator
        };
        self.stages.push(Stage {
            id: source,
            root: input.node,
            placement,
            output: StageOutput::Exchange(id),
        });
        self.exchanges.push(Exchange {
            id,
            kind,
            source,
            target: StageId(usize::MAX),
            schema: Arc::clone(&schema),
            reason,
            skew: None,
        });
        Planned {
            node: Node::ExchangeRead {
                exchange: id,
                schema,
            },
            dist,
            rows: input.rows,
        }
    }

    pub(crate) fn gather(&mut self, input: Planned, reason: String) -> Planned {
        self.exchange(input, ExchangeKind::Gather, Distribution::Single, reason)
    }

    /// All rows on the coordinator: free when they are already complete there.
    pub(crate) fn complete_on_coordinator(&mut self, input: Planned, reason: &str) -> Planned {
        if input.dist.is_partitioned() {
            self.gather(input, reason.to_string())
        } else {
            Planned {
                dist: Distribution::Single,
                ..input
            }
        }
    }

    /// Repartitions `input` by hash of `keys` (expressions over its output).
    pub(crate) fn hash_partition(
        &mut self,
        input: Planned,
        keys: Vec<Arc<dyn PhysicalExpr>>,
        reason: String,
    ) -> Planned {
        let key_columns: Option<Vec<usize>> = keys
            .iter()
            .map(|key| key.downcast_ref::<Column>().map(Column::index))
            .collect();
        if let Some(columns) = &key_columns {
            if input.dist.is_hashed_on(columns) {
                return input;
            }
        }
        let dist = key_columns.map_or_else(Distribution::any, Distribution::hash);
        self.exchange(input, ExchangeKind::Hash { keys }, dist, reason)
    }

    pub(crate) fn avoided(&mut self, operator: String, reason: String) {
        self.avoided.push(AvoidedExchange { operator, reason });
    }

    fn link_exchange_targets(&mut self) {
        for stage in &self.stages {
            let mut reads = Vec::new();
            collect_exchange_reads(&stage.root, &mut reads);
            for exchange in reads {
                self.exchanges[exchange.0].target = stage.id;
            }
        }
    }
}

fn collect_exchange_reads(node: &Node, reads: &mut Vec<ExchangeId>) {
    if let Node::ExchangeRead { exchange, .. } = node {
        reads.push(*exchange);
    }
    for child in node.children() {
        collect_exchange_reads(child, reads);
    }
}

/// Where the named table columns are in a scan's output; `None` if one is not read.
fn projected_positions(
    schema: &Schema,
    projection: &[usize],
    columns: &[String],
) -> Option<Vec<usize>> {
    columns
        .iter()
        .map(|name| {
            let index = schema.index_of(name).ok()?;
            projection.iter().position(|&p| p == index)
        })
        .collect()
}

/// The input position of a projection expression that only passes a column through.
fn column_position(expr: &Expr, input: &DFSchema) -> Option<usize> {
    match expr {
        Expr::Column(column) => input.index_of_column(column).ok(),
        Expr::Alias(alias) => column_position(&alias.expr, input),
        _ => None,
    }
}

pub(crate) fn arrow_schema(schema: &DFSchema) -> SchemaRef {
    Arc::new(schema.as_arrow().clone())
}

/// Subqueries the optimizer could not turn into joins cannot run.
pub(super) fn reject_subqueries(expr: &Expr) -> QueryResult<()> {
    let mut found = None;
    use datafusion_common::tree_node::TreeNode;
    expr.apply(|e| {
        match e {
            Expr::ScalarSubquery(_) => found = Some("scalar subquery"),
            Expr::Exists(_) => found = Some("EXISTS subquery"),
            Expr::InSubquery(_) => found = Some("IN subquery"),
            _ => {}
        }
        Ok(if found.is_some() {
            datafusion_common::tree_node::TreeNodeRecursion::Stop
        } else {
            datafusion_common::tree_node::TreeNodeRecursion::Continue
        })
    })?;
    match found {
        Some(kind) => Err(QueryError::unsupported(format!(
            "{kind} that could not be decorrelated into a join (correlated through a \
             condition other than an equality with the outer query, or in this position)"
        ))),
        None => Ok(()),
    }
}
