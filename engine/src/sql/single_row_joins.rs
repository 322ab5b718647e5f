//! An uncorrelated scalar subquery compared with a column, `d_month_seq = (SELECT ..)`,
//! reaches the plan as a LEFT join of everything else with the subquery's one row,
//! and the comparison as a filter above that join. Joins are ordered below it
//! (`join_order`), so the filter ran last: TPC-DS q06 joined all of store_sales with
//! customers, items and every date before keeping one month.
//!
//! A left join without condition to a side that always yields exactly one row (an
//! aggregate without GROUP BY) keeps every left row once, as an inner join does; so
//! it becomes one, and the filter's equalities between the two sides become its keys.
//! The subquery's row is then one more input of the join region, joined first with
//! the table whose column it is compared with, and the month filters the dates
//! before any fact row is read past them.

use std::sync::Arc;

use datafusion_common::tree_node::{Transformed, TreeNode};
use datafusion_common::{DFSchema, NullEquality, Result};
use datafusion_expr::logical_plan::{Filter, Join, JoinConstraint, JoinType, LogicalPlan};
use datafusion_expr::utils::{conjunction, split_conjunction};
use datafusion_expr::{BinaryExpr, Expr, Operator};

/// Rewrites every such filter over a left join with one row.
pub fn apply(plan: LogicalPlan) -> Result<LogicalPlan> {
    plan.transform_up(|node| {
        let LogicalPlan::Filter(filter) = &node else {
            return Ok(Transformed::no(node));
        };
        let LogicalPlan::Join(join) = filter.input.as_ref() else {
            return Ok(Transformed::no(node));
        };
        if join.join_type != JoinType::Left
            || !join.on.is_empty()
            || join.filter.is_some()
            || !yields_one_row(&join.right)
        {
            return Ok(Transformed::no(node));
        }
        let (left, right) = (join.left.schema(), join.right.schema());
        let mut on = Vec::new();
        let mut rest = Vec::new();
        for conjunct in split_conjunction(&filter.predicate) {
            match keys_across(conjunct, left, right) {
                Some(pair) => on.push(pair),
                None => rest.push(conjunct.clone()),
            }
        }
        if on.is_empty() {
            return Ok(Transformed::no(node));
        }
        let inner = LogicalPlan::Join(Join::try_new(
            Arc::clone(&join.left),
            Arc::clone(&join.right),
            on,
            None,
            JoinType::Inner,
            JoinConstraint::On,
            NullEquality::NullEqualsNothing,
            false,
        )?);
        Ok(Transformed::yes(match conjunction(rest) {
            Some(predicate) => LogicalPlan::Filter(Filter::try_new(predicate, Arc::new(inner))?),
            None => inner,
        }))
    })
    .map(|rewritten| rewritten.data)
}

/// `a = b` with `a` reading only the left side and `b` only the right, as a join key
/// pair `(a, b)` (either way round as written). `=` is false for NULL, as an inner
/// join's keys compare.
fn keys_across(conjunct: &Expr, left: &DFSchema, right: &DFSchema) -> Option<(Expr, Expr)> {
    let Expr::BinaryExpr(BinaryExpr {
        left: a,
        op: Operator::Eq,
        right: b,
    }) = conjunct
    else {
        return None;
    };
    let reads_only = |expr: &Expr, schema: &DFSchema| {
        let columns = expr.column_refs();
        !columns.is_empty() && columns.iter().all(|c| schema.has_column(c)) && !expr.is_volatile()
    };
    if reads_only(a, left) && reads_only(b, right) {
        Some((a.as_ref().clone(), b.as_ref().clone()))
    } else if reads_only(b, left) && reads_only(a, right) {
        Some((b.as_ref().clone(), a.as_ref().clone()))
    } else {
        None
    }
}

/// Whether `plan` always yields exactly one row: an aggregate without groups, under
/// renames and projections (which keep its row count).
fn yields_one_row(plan: &LogicalPlan) -> bool {
    match plan {
        LogicalPlan::Aggregate(aggregate) => aggregate.group_expr.is_empty(),
        LogicalPlan::SubqueryAlias(alias) => yields_one_row(&alias.input),
        LogicalPlan::Projection(projection) => yields_one_row(&projection.input),
        _ => false,
    }
}
