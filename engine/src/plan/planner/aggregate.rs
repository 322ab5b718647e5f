//! Aggregation planning: aggregate where the rows lie when the groups are already
//! co-located, otherwise aggregate partially on every partition before the exchange,
//! so only one row per group and partition crosses it.

use std::sync::Arc;

use arrow::datatypes::{Schema, SchemaRef};
use datafusion_expr::logical_plan::{Aggregate, LogicalPlan};
use datafusion_expr::physical_planning_context::PhysicalPlanningContext;
use datafusion_expr::Expr;
use datafusion_physical_expr::aggregate::{AggregateFunctionExpr, LoweredAggregateBuilder};
use datafusion_physical_expr::expressions::Column;
use datafusion_physical_expr::PhysicalExpr;

use super::{
    arrow_schema, column_position, distinct_floats, ordered_aggregates, reject_subqueries, Planned,
    Planner,
};
use crate::error::{QueryError, QueryResult};
use crate::operators::aggregate::state_schema;
use crate::operators::decimal::with_own_kernels;
use crate::plan::node::{AggregateMode, AggregateNode, Node};

impl Planner<'_> {
    pub(super) fn plan_aggregate(&mut self, aggregate: &Aggregate) -> QueryResult<Planned> {
        let input = self.plan(&aggregate.input)?;
        let input_schema = aggregate.input.schema();
        // Group i passes input column group_columns[i] through, if it is a plain column.
        let (group_exprs, group_columns) = match aggregate.group_expr.as_slice() {
            [Expr::GroupingSet(set)] => return self.plan_grouping_sets(input, set, aggregate),
            group_expr if group_expr.iter().any(|e| matches!(e, Expr::GroupingSet(_))) => {
                return Err(QueryError::unsupported(
                    "grouping sets beside other GROUP BY expressions",
                ));
            }
            group_expr => {
                let columns: Vec<Option<usize>> = group_expr
                    .iter()
                    .map(|expr| column_position(expr, input_schema))
                    .collect();
                (self.physical_exprs(group_expr, input_schema)?, columns)
            }
        };
        let output_schema = arrow_schema(&aggregate.schema);
        let group_count = group_exprs.len();
        let (aggregates, filters) =
            self.lower_aggregates(aggregate, &output_schema, group_count)?;
        let rows = self
            .cardinality
            .rows(&LogicalPlan::Aggregate(aggregate.clone()));
        let describe = describe(aggregate);

        let co_located = group_count > 0 && input.dist.partitioned_within(&group_columns);
        if !input.dist.is_partitioned() || co_located {
            if co_located {
                self.avoided(
                    describe,
                    format!(
                        "groups are co-located: input partitioned on {}",
                        input.dist.describe()
                    ),
                );
            }
            let dist = input
                .dist
                .remap(|column| group_columns.iter().position(|g| *g == Some(column)));
            let node = Node::Aggregate(AggregateNode {
                input: Box::new(input.node),
                mode: AggregateMode::Single,
                group_exprs,
                aggregates,
                filters,
                seed_groups: None,
                state_offsets: Vec::new(),
                schema: output_schema,
            });
            return Ok(Planned { node, dist, rows });
        }

        let partial_schema = state_schema(&output_schema, group_count, &aggregates)?;
        let partial = Planned {
            node: Node::Aggregate(AggregateNode {
                input: Box::new(input.node),
                mode: AggregateMode::Partial,
                group_exprs,
                aggregates: aggregates.clone(),
                filters,
                seed_groups: None,
                state_offsets: Vec::new(),
                schema: Arc::clone(&partial_schema),
            }),
            // Partial states are laid out as the output is: an input partitioned on a
            // column the aggregate does not group by is partitioned on no output key.
            dist: input
                .dist
                .remap(|column| group_columns.iter().position(|g| *g == Some(column))),
            rows: rows * 2.0,
        };
        let group_keys: Vec<Arc<dyn PhysicalExpr>> = (0..group_count)
            .map(|i| {
                Arc::new(Column::new(partial_schema.field(i).name(), i)) as Arc<dyn PhysicalExpr>
            })
            .collect();
        let exchanged = if group_count == 0 {
            self.gather(
                partial,
                format!("{describe}: one global group; partitions send partial states"),
            )
        } else {
            let reason = format!(
                "{describe}: input not partitioned on the groups; partitions send partial states"
            );
            self.hash_partition(partial, group_keys.clone(), reason)
        };
        final_aggregate(exchanged, group_keys, aggregates, output_schema, rows)
    }

    /// `aggregate`'s aggregate expressions as physical aggregates over its input,
    /// named as in `output_schema` (whose first `group_count` fields are the groups),
    /// each with its `FILTER (WHERE ..)`.
    pub(super) fn lower_aggregates(
        &self,
        aggregate: &Aggregate,
        output_schema: &Schema,
        group_count: usize,
    ) -> QueryResult<LoweredAggregates> {
        let input_schema = aggregate.input.schema();
        let mut aggregates = Vec::with_capacity(aggregate.aggr_expr.len());
        let mut filters = Vec::with_capacity(aggregate.aggr_expr.len());
        for (i, expr) in aggregate.aggr_expr.iter().enumerate() {
            reject_subqueries(expr)?;
            let expr = ordered_aggregates::plannable(expr)?;
            let expr = distinct_floats::without_negative_zero(expr, input_schema);
            let lowered = LoweredAggregateBuilder::new(
                &expr,
                input_schema,
                input_schema.as_arrow(),
                &self.props,
                &PhysicalPlanningContext::default(),
            )
            .with_name(output_schema.field(group_count + i).name())
            .build()?;
            // string_agg's second argument is its delimiter, not a value.
            let values = match lowered.aggregate.fun().name() {
                "string_agg" => 1,
                _ => lowered.aggregate.expressions().len(),
            };
            if lowered.aggregate.is_distinct() && values > 1 {
                // DataFusion's accumulators refuse it only once rows arrive.
                return Err(QueryError::unsupported(format!(
                    "DISTINCT over several arguments in {}",
                    lowered.aggregate.name()
                )));
            }
            filters.push(lowered.filter.clone());
            let own_arithmetic = |argument| with_own_kernels(argument, input_schema.as_arrow());
            let arguments = lowered
                .aggregate
                .expressions()
                .into_iter()
                .map(own_arithmetic)
                .collect::<Result<Vec<_>, _>>()?;
            let ordering = lowered
                .aggregate
                .order_bys()
                .iter()
                .map(|sort| own_arithmetic(Arc::clone(&sort.expr)))
                .collect::<Result<Vec<_>, _>>()?;
            let aggregate = match lowered.aggregate.with_new_expressions(arguments, ordering) {
                Some(fast) => Arc::new(fast),
                None => lowered.aggregate,
            };
            aggregates.push(aggregate);
        }
        Ok((aggregates, filters))
    }
}

/// How EXPLAIN names an aggregation in the reasons of its exchanges.
pub(super) fn describe(aggregate: &Aggregate) -> String {
    format!(
        "aggregate by [{}]",
        aggregate
            .group_expr
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    )
}

/// Physical aggregates, and each one's `FILTER (WHERE ..)`.
pub(super) type LoweredAggregates = (
    Vec<Arc<AggregateFunctionExpr>>,
    Vec<Option<Arc<dyn PhysicalExpr>>>,
);

/// The final aggregate over `states` (partial states with the group keys first):
/// merges each group's states and evaluates the aggregates.
pub(super) fn final_aggregate(
    states: Planned,
    group_keys: Vec<Arc<dyn PhysicalExpr>>,
    aggregates: Vec<Arc<AggregateFunctionExpr>>,
    output_schema: SchemaRef,
    rows: f64,
) -> QueryResult<Planned> {
    let state_offsets = state_offsets(&aggregates, group_keys.len())?;
    let node = Node::Aggregate(AggregateNode {
        input: Box::new(states.node),
        mode: AggregateMode::Final,
        group_exprs: group_keys,
        filters: vec![None; aggregates.len()],
        seed_groups: None,
        aggregates,
        state_offsets,
        schema: output_schema,
    });
    Ok(Planned {
        node,
        dist: states.dist,
        rows,
    })
}

/// Where each aggregate's state starts in rows of `group_count` group keys and then
/// the states.
pub(super) fn state_offsets(
    aggregates: &[Arc<AggregateFunctionExpr>],
    group_count: usize,
) -> QueryResult<Vec<usize>> {
    let mut state_offsets = Vec::with_capacity(aggregates.len());
    let mut offset = group_count;
    for aggregate in aggregates {
        state_offsets.push(offset);
        offset += aggregate.state_fields()?.len();
    }
    Ok(state_offsets)
}
