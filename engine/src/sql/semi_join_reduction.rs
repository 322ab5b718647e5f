//! Semi-join reduction of grouped subqueries. A decorrelated subquery becomes a join
//! of the outer rows with an aggregate over the inner table grouped by the correlated
//! key (TPC-H Q17: the average quantity of every part; Q20: the shipped quantity of
//! every part and supplier; Q2: the cheapest supply cost of every part). The join
//! then keeps the groups of a few keys, but every group was computed: Q20 summed a
//! year of lineitem into 540k groups to use 6k of them.
//!
//! When the join's keys on the aggregate side are plain group columns, the aggregate's
//! input is first cut down to the keys the outer side can have: a semi join with the
//! key column of a filtered part of the outer side that reads none of the aggregate's
//! tables, the deepest such part that still holds every key value the outer side
//! holds (Q17: the parts of one brand and container, not their lineitems). That part
//! is then computed twice: its filter, and not re-reading the aggregate's (large)
//! tables, are what make that cheap beside the groups it saves.
//! Groups of other keys could never join, and a NULL key never equals anything, so
//! the result is unchanged for inner, left, semi and (not NOT IN) anti joins.

use std::sync::Arc;

use datafusion_common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion_common::{Column, NullEquality, Result};
use datafusion_expr::logical_plan::{Aggregate, Join, JoinType, LogicalPlan};
use datafusion_expr::{Expr, LogicalPlanBuilder};

/// Applies the reduction wherever it fits, bottom-up, once per join.
pub fn apply(plan: LogicalPlan) -> Result<LogicalPlan> {
    plan.transform_up(|node| match &node {
        LogicalPlan::Join(join) => match reduce(join)? {
            Some(right) => {
                let mut join = join.clone();
                join.right = Arc::new(right);
                Ok(Transformed::yes(LogicalPlan::Join(join)))
            }
            None => Ok(Transformed::no(node)),
        },
        _ => Ok(Transformed::no(node)),
    })
    .map(|transformed| transformed.data)
}

/// The join's right side with its aggregate's input reduced, if the join qualifies.
fn reduce(join: &Join) -> Result<Option<LogicalPlan>> {
    let kind_fits = matches!(
        join.join_type,
        JoinType::Inner | JoinType::Left | JoinType::LeftSemi | JoinType::LeftAnti
    ) && !join.null_aware;
    if !kind_fits || join.on.is_empty() || join.null_equality != NullEquality::NullEqualsNothing {
        return Ok(None);
    }
    let aggregate_tables = scanned_tables(&join.right);
    let left_keys: Option<Vec<Column>> = join
        .on
        .iter()
        .map(|(left, _)| left.try_as_col().cloned())
        .collect();
    let candidates = match &left_keys {
        Some(keys) => key_sources(&join.left, keys),
        None => vec![join.left.as_ref()],
    };
    let Some(key_source) = candidates.into_iter().rev().find(|source| {
        is_filtered(source)
            && !scanned_tables(source)
                .iter()
                .any(|table| aggregate_tables.contains(table))
    }) else {
        return Ok(None);
    };
    let mut group_columns = Vec::with_capacity(join.on.len());
    for (_, right_key) in &join.on {
        let Expr::Column(column) = right_key else {
            return Ok(None);
        };
        let Ok(index) = join.right.schema().index_of_column(column) else {
            return Ok(None);
        };
        match group_column(&join.right, index) {
            Some(column) => group_columns.push(column),
            None => return Ok(None),
        }
    }
    let key_names: Vec<String> = (0..join.on.len())
        .map(|i| format!("__semi_join_key_{i}"))
        .collect();
    let outer_keys = LogicalPlanBuilder::from(key_source.clone())
        .project(
            join.on
                .iter()
                .zip(&key_names)
                .map(|((left_key, _), name)| left_key.clone().alias(name)),
        )?
        .build()?;
    let right = with_reduced_aggregate(&join.right, &mut |aggregate| {
        let input = LogicalPlanBuilder::from(aggregate.input.as_ref().clone())
            .join_with_expr_keys(
                outer_keys.clone(),
                JoinType::LeftSemi,
                (
                    group_columns
                        .iter()
                        .cloned()
                        .map(Expr::Column)
                        .collect::<Vec<_>>(),
                    key_names
                        .iter()
                        .map(|name| Expr::Column(Column::from_name(name)))
                        .collect::<Vec<_>>(),
                ),
                None,
            )?
            .build()?;
        Ok(LogicalPlan::Aggregate(Aggregate::try_new(
            Arc::new(input),
            aggregate.group_expr.clone(),
            aggregate.aggr_expr.clone(),
        )?))
    })?;
    Ok(Some(right))
}

/// `plan` and the inputs below it, outermost first, whose rows hold every key value
/// `plan`'s rows hold: down through either side of an inner join, the preserved side
/// of outer, semi and anti joins, filters and projections that pass the keys on. The
/// deeper the source, the less of the outer side is computed twice: Q17's keys come
/// from the 200 parts of one brand and container, not from their 6,000 lineitems.
fn key_sources<'a>(plan: &'a LogicalPlan, keys: &[Column]) -> Vec<&'a LogicalPlan> {
    let holds = |side: &LogicalPlan| keys.iter().all(|key| side.schema().has_column(key));
    let mut path = vec![plan];
    let mut node = plan;
    loop {
        let next = match node {
            LogicalPlan::Join(join) => match join.join_type {
                JoinType::Inner if holds(&join.left) => Some(join.left.as_ref()),
                JoinType::Inner if holds(&join.right) => Some(join.right.as_ref()),
                JoinType::Left | JoinType::LeftSemi | JoinType::LeftAnti if holds(&join.left) => {
                    Some(join.left.as_ref())
                }
                JoinType::Right | JoinType::RightSemi | JoinType::RightAnti
                    if holds(&join.right) =>
                {
                    Some(join.right.as_ref())
                }
                _ => None,
            },
            LogicalPlan::Filter(filter) => Some(filter.input.as_ref()),
            LogicalPlan::Projection(projection)
                if keys
                    .iter()
                    .all(|key| projection.expr.contains(&Expr::Column(key.clone()))) =>
            {
                Some(projection.input.as_ref())
            }
            _ => None,
        };
        match next {
            Some(input) => {
                path.push(input);
                node = input;
            }
            None => return path,
        }
    }
}

/// The aggregate-input column that output column `index` of `plan` is, if `plan` is
/// an aggregate (under renames and projections) and that column is a group column.
fn group_column(plan: &LogicalPlan, index: usize) -> Option<Column> {
    match plan {
        LogicalPlan::SubqueryAlias(alias) => group_column(&alias.input, index),
        LogicalPlan::Projection(projection) => {
            let column = match projection.expr.get(index)? {
                Expr::Column(column) => column,
                Expr::Alias(alias) => match alias.expr.as_ref() {
                    Expr::Column(column) => column,
                    _ => return None,
                },
                _ => return None,
            };
            let below = projection.input.schema().index_of_column(column).ok()?;
            group_column(&projection.input, below)
        }
        LogicalPlan::Aggregate(aggregate) => match aggregate.group_expr.get(index)? {
            Expr::Column(column) => Some(column.clone()),
            _ => None,
        },
        _ => None,
    }
}

/// `plan` with the aggregate that [`group_column`] walked to replaced by `replace`'s.
fn with_reduced_aggregate(
    plan: &LogicalPlan,
    replace: &mut dyn FnMut(&Aggregate) -> Result<LogicalPlan>,
) -> Result<LogicalPlan> {
    match plan {
        LogicalPlan::Aggregate(aggregate) => replace(aggregate),
        LogicalPlan::SubqueryAlias(alias) => {
            let input = with_reduced_aggregate(&alias.input, replace)?;
            plan.with_new_exprs(plan.expressions(), vec![input])
        }
        LogicalPlan::Projection(projection) => {
            let input = with_reduced_aggregate(&projection.input, replace)?;
            plan.with_new_exprs(plan.expressions(), vec![input])
        }
        _ => unreachable!("group_column only walks aggregates, aliases and projections"),
    }
}

/// The tables `plan` reads.
fn scanned_tables(plan: &LogicalPlan) -> Vec<String> {
    let mut tables = Vec::new();
    let _ = plan.apply(|node| {
        if let LogicalPlan::TableScan(scan) = node {
            tables.push(scan.table_name.table().to_string());
        }
        Ok(TreeNodeRecursion::Continue)
    });
    tables
}

/// Whether some filter cuts `plan`'s rows: a filter node, or a scan with pushed-down
/// filters.
fn is_filtered(plan: &LogicalPlan) -> bool {
    plan.exists(|node| {
        Ok(match node {
            LogicalPlan::Filter(_) => true,
            LogicalPlan::TableScan(scan) => !scan.filters.is_empty(),
            _ => false,
        })
    })
    .unwrap_or(false)
}
