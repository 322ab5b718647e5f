//! GROUPING SETS, ROLLUP and CUBE. Every row is aggregated once, by all the group
//! expressions of every set (a partial aggregate); each group's partial states are
//! then expanded once per grouping set, its absent group columns NULL and a grouping
//! id saying which set it belongs to, and merged by the set's columns plus that id
//! (a merge aggregate); then exchanged and finished like any GROUP BY. TPC-DS q67
//! rolls 8 columns up: expanding its rows rather than its groups aggregated every
//! row 9 times. The id is DataFusion's `__grouping_id`, which its `grouping()`
//! rewrite reads: bit `n-1-i` is set when group expression `i` is absent, and bits
//! from `n` up count repeats of a set.

use std::sync::Arc;

use arrow::array::{ArrayRef, RecordBatch};
use arrow::datatypes::{DataType, Schema, SchemaRef};
use datafusion_common::ScalarValue;
use datafusion_expr::{Aggregate, Expr, GroupingSet};
use datafusion_physical_expr::aggregate::AggregateFunctionExpr;
use datafusion_physical_expr::expressions::{Column, Literal};
use datafusion_physical_expr::PhysicalExpr;

use super::aggregate::{describe, final_aggregate, state_offsets};
use super::{arrow_schema, Planned, Planner};
use crate::error::{QueryError, QueryResult};
use crate::operators::aggregate::state_schema;
use crate::plan::distribution::Distribution;
use crate::plan::node::{AggregateMode, AggregateNode, Node};

impl Planner<'_> {
    pub(super) fn plan_grouping_sets(
        &mut self,
        input: Planned,
        set: &GroupingSet,
        aggregate: &Aggregate,
    ) -> QueryResult<Planned> {
        let input_schema = aggregate.input.schema();
        let distinct: Vec<Expr> = set.distinct_expr().into_iter().cloned().collect();
        let sets = member_sets(set, &distinct)?;
        if distinct.len() > 63 {
            return Err(QueryError::unsupported(
                "grouping sets over more than 63 expressions",
            ));
        }
        // The output: the distinct group expressions, the id, the aggregates.
        let output_schema = arrow_schema(&aggregate.schema);
        let columns = distinct.len();
        let id_type = output_schema
            .field_with_name(Aggregate::INTERNAL_GROUPING_ID)
            .map_err(|_| QueryError::internal("grouping set aggregate without a grouping id"))?
            .data_type()
            .clone();
        let (aggregates, filters) =
            self.lower_aggregates(aggregate, &output_schema, columns + 1)?;
        let rows = self
            .cardinality
            .rows(&datafusion_expr::LogicalPlan::Aggregate(aggregate.clone()));

        // Every row once, by every group expression.
        let by_all = state_schema(&output_schema, columns, &aggregates)?;
        let input_dist = input.dist.clone();
        let partial = Node::Aggregate(AggregateNode {
            input: Box::new(input.node),
            mode: AggregateMode::Partial,
            group_exprs: self.physical_exprs(&distinct, input_schema)?,
            aggregates: aggregates.clone(),
            filters,
            seed_groups: None,
            state_offsets: Vec::new(),
            schema: Arc::clone(&by_all),
        });

        // Each group's states once per set: the set's columns (others NULL), the id,
        // the states.
        let merged_schema = state_schema(&output_schema, columns + 1, &aggregates)?;
        let ids = set_ids(&sets, &id_type)?;
        let states: Vec<Arc<dyn PhysicalExpr>> = (columns..by_all.fields().len())
            .map(|i| column(&by_all, i))
            .collect();
        let mut projections = Vec::with_capacity(sets.len());
        for (members, id) in sets.iter().zip(&ids) {
            let mut projection = Vec::with_capacity(merged_schema.fields().len());
            for (i, member) in members.iter().enumerate() {
                projection.push(if *member {
                    column(&by_all, i)
                } else {
                    let null = ScalarValue::try_from(by_all.field(i).data_type())?;
                    Arc::new(Literal::new(null)) as Arc<dyn PhysicalExpr>
                });
            }
            projection.push(Arc::new(Literal::new(id.clone())));
            projection.extend(states.iter().cloned());
            projections.push(projection);
        }
        let expand = Node::Expand {
            input: Box::new(partial),
            projections,
            schema: Arc::clone(&merged_schema),
        };
        let group_keys: Vec<Arc<dyn PhysicalExpr>> =
            (0..=columns).map(|i| column(&merged_schema, i)).collect();
        let grand_totals = grand_totals(&sets, &ids, &merged_schema, &aggregates)?;
        let merge = Node::Aggregate(AggregateNode {
            input: Box::new(expand),
            mode: AggregateMode::Merge,
            group_exprs: group_keys.clone(),
            filters: vec![None; aggregates.len()],
            seed_groups: grand_totals,
            state_offsets: state_offsets(&aggregates, columns + 1)?,
            aggregates: aggregates.clone(),
            schema: merged_schema,
        });
        // A group's rows come from every partition (NULLed keys): exchange unless they
        // are all on one already.
        let merged = Planned {
            node: merge,
            dist: if input_dist.is_partitioned() {
                Distribution::any()
            } else {
                input_dist
            },
            rows: rows * 2.0,
        };
        let exchanged = if merged.dist.is_partitioned() {
            let reason = format!(
                "{}: input not partitioned on the groups; partitions send partial states",
                describe(aggregate)
            );
            self.hash_partition(merged, group_keys.clone(), reason)
        } else {
            merged
        };
        final_aggregate(exchanged, group_keys, aggregates, output_schema, rows)
    }
}

fn column(schema: &Schema, index: usize) -> Arc<dyn PhysicalExpr> {
    Arc::new(Column::new(schema.field(index).name(), index))
}

/// Each set's grouping id: the bits of its absent expressions, and above them how
/// many times the same set came before. A checked cast: an id that does not fit
/// DataFusion's type is an error.
fn set_ids(sets: &[Vec<bool>], id_type: &DataType) -> QueryResult<Vec<ScalarValue>> {
    let mut seen_masks: Vec<u64> = Vec::new();
    let mut ids = Vec::with_capacity(sets.len());
    for members in sets {
        let columns = members.len();
        let mask = members
            .iter()
            .enumerate()
            .filter(|(_, member)| !**member)
            .fold(0u64, |mask, (i, _)| mask | 1 << (columns - 1 - i));
        let repeats = seen_masks.iter().filter(|&&m| m == mask).count() as u64;
        seen_masks.push(mask);
        ids.push(ScalarValue::UInt64(Some(mask | (repeats << columns))).cast_to(id_type)?);
    }
    Ok(ids)
}

/// One merge input row per empty grouping set, with the states of no rows: the grand
/// total has a row even when no input does, as in PostgreSQL.
fn grand_totals(
    sets: &[Vec<bool>],
    ids: &[ScalarValue],
    schema: &SchemaRef,
    aggregates: &[Arc<AggregateFunctionExpr>],
) -> QueryResult<Option<RecordBatch>> {
    let totals: Vec<&ScalarValue> = sets
        .iter()
        .zip(ids)
        .filter(|(members, _)| members.iter().all(|member| !member))
        .map(|(_, id)| id)
        .collect();
    if totals.is_empty() {
        return Ok(None);
    }
    let count = totals.len();
    let group_columns = schema.fields().len()
        - aggregates
            .iter()
            .map(|a| a.state_fields().map(|f| f.len()))
            .sum::<Result<usize, _>>()?;
    let mut columns: Vec<ArrayRef> = schema.fields()[..group_columns - 1]
        .iter()
        .map(|field| arrow::array::new_null_array(field.data_type(), count))
        .collect();
    columns.push(ScalarValue::iter_to_array(totals.into_iter().cloned())?);
    for aggregate in aggregates {
        let empty = aggregate.create_accumulator()?.state()?;
        for value in empty {
            columns.push(value.to_array_of_size(count)?);
        }
    }
    Ok(Some(RecordBatch::try_new(Arc::clone(schema), columns)?))
}

/// For each grouping set, which of the distinct expressions it holds.
fn member_sets(set: &GroupingSet, distinct: &[Expr]) -> QueryResult<Vec<Vec<bool>>> {
    let members =
        |exprs: &[Expr]| -> Vec<bool> { distinct.iter().map(|d| exprs.contains(d)).collect() };
    Ok(match set {
        GroupingSet::GroupingSets(sets) => sets.iter().map(|s| members(s)).collect(),
        GroupingSet::Rollup(exprs) => (0..=exprs.len())
            .rev()
            .map(|prefix| members(&exprs[..prefix]))
            .collect(),
        GroupingSet::Cube(exprs) => {
            if exprs.len() > 12 {
                return Err(QueryError::unsupported("CUBE of more than 12 expressions"));
            }
            (0..1u32 << exprs.len())
                .map(|bits| {
                    let chosen: Vec<Expr> = exprs
                        .iter()
                        .enumerate()
                        .filter(|(i, _)| bits & (1 << i) != 0)
                        .map(|(_, e)| e.clone())
                        .collect();
                    members(&chosen)
                })
                .collect()
        }
    })
}
