//! Pushes semi and anti joins down through inner joins. A subquery in WHERE becomes a
//! semi (IN, EXISTS) or anti (NOT EXISTS) join on top of the whole FROM list, although
//! it only filters the rows of one table: TPC-H Q18 joined all of customer, orders and
//! lineitem (6M rows, a 750k-row hash table per core) before keeping the 57 orders
//! whose lineitems sum over 300. A semi or anti join keeps or drops each left row by
//! the columns it reads from that row alone, so it may run on the one input of an
//! inner join that holds those columns, before that join.
//!
//! Moving down pays when the subquery is a small, reduced set (an aggregate or a
//! filter over one, like Q18's), not when it is a whole table: Q21's EXISTS over all
//! of lineitem, pushed below the join that keeps one nation's suppliers, ran 7x slower.
//! So only subqueries that aggregate or filter after a join or an aggregate move.

use std::sync::Arc;

use datafusion_common::tree_node::{Transformed, TreeNode};
use datafusion_common::{Column, Result};
use datafusion_expr::logical_plan::{Join, JoinType, LogicalPlan};
use datafusion_expr::Expr;

/// Pushes every semi and anti join as far down as it goes.
pub fn apply(plan: LogicalPlan) -> Result<LogicalPlan> {
    plan.transform_up(|node| match &node {
        LogicalPlan::Join(join) => Ok(match pushed_down(join)? {
            Some(plan) => Transformed::yes(plan),
            None => Transformed::no(node),
        }),
        _ => Ok(Transformed::no(node)),
    })
    .map(|transformed| transformed.data)
}

/// `join` moved below the inner join under its left input, if it may move.
fn pushed_down(join: &Join) -> Result<Option<LogicalPlan>> {
    if !matches!(join.join_type, JoinType::LeftSemi | JoinType::LeftAnti)
        || join.null_aware
        || !is_reduced(&join.right)
    {
        return Ok(None);
    }
    let read = left_columns_read(join);
    let on_left = |input: &LogicalPlan| read.iter().all(|c| input.schema().has_column(c));
    match join.left.as_ref() {
        LogicalPlan::Projection(projection) => {
            // Through a projection that passes the columns on under the same names.
            let passes = read.iter().all(|c| {
                projection
                    .expr
                    .iter()
                    .any(|e| matches!(e, Expr::Column(p) if p == c))
            });
            if !passes || !on_left(&projection.input) {
                return Ok(None);
            }
            let below = with_left(join, Arc::clone(&projection.input))?;
            let below = pushed_down(&below)?.unwrap_or(LogicalPlan::Join(below));
            let plan = join.left.as_ref();
            Ok(Some(plan.with_new_exprs(plan.expressions(), vec![below])?))
        }
        LogicalPlan::Join(inner) if inner.join_type == JoinType::Inner => {
            let (left, right) = match (on_left(&inner.left), on_left(&inner.right)) {
                (true, _) => (semi_on(join, &inner.left)?, inner.right.as_ref().clone()),
                (false, true) => (inner.left.as_ref().clone(), semi_on(join, &inner.right)?),
                (false, false) => return Ok(None),
            };
            let plan = join.left.as_ref();
            Ok(Some(
                plan.with_new_exprs(plan.expressions(), vec![left, right])?,
            ))
        }
        _ => Ok(None),
    }
}

/// Whether `plan` aggregates, or filters rows above its scans (a HAVING, a filter over
/// a join): a set much smaller than the tables it reads.
fn is_reduced(plan: &LogicalPlan) -> bool {
    plan.exists(|node| {
        Ok(matches!(
            node,
            LogicalPlan::Aggregate(_) | LogicalPlan::Filter(_)
        ))
    })
    .unwrap_or(false)
}

/// `join` applied to `input` instead of its left side, pushed further if it may.
fn semi_on(join: &Join, input: &Arc<LogicalPlan>) -> Result<LogicalPlan> {
    let moved = with_left(join, Arc::clone(input))?;
    Ok(pushed_down(&moved)?.unwrap_or(LogicalPlan::Join(moved)))
}

fn with_left(join: &Join, left: Arc<LogicalPlan>) -> Result<Join> {
    Join::try_new(
        left,
        Arc::clone(&join.right),
        join.on.clone(),
        join.filter.clone(),
        join.join_type,
        join.join_constraint,
        join.null_equality,
        join.null_aware,
    )
}

/// The left input's columns the join reads: its left keys, and the filter's columns
/// that are not the right input's.
fn left_columns_read(join: &Join) -> Vec<Column> {
    let mut columns: Vec<Column> = Vec::new();
    let mut add = |expr: &Expr| {
        for column in expr.column_refs() {
            if !join.right.schema().has_column(column) && !columns.contains(column) {
                columns.push(column.clone());
            }
        }
    };
    join.on.iter().for_each(|(left, _)| add(left));
    if let Some(filter) = &join.filter {
        add(filter);
    }
    columns
}
