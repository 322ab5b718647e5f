//! A subquery in a join's ON clause (`join b on a.k = b.k and b.x in (select ..)`)
//! moves into a filter where DataFusion's decorrelation finds it; in the join's own
//! condition it stayed a subquery and the statement was refused. Over an inner join
//! the filter goes right above the join, which keeps the same rows whatever joins
//! surround it. Over an outer join, a condition that reads only the side whose
//! unmatched rows are dropped (the right of a LEFT join) filters that side's input
//! instead: an input row it rejects could only have been unmatched. Other
//! subqueries in an outer join's condition are still refused.

use std::sync::Arc;

use datafusion_common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion_common::{DFSchema, Result};
use datafusion_expr::expr::{Exists, InSubquery};
use datafusion_expr::utils::{conjunction, split_conjunction_owned};
use datafusion_expr::{Expr, Filter, JoinType, LogicalPlan};

/// Rewrites every inner join of `plan` whose condition holds a subquery (typed:
/// after the analyzer, before the optimizer decorrelates).
pub fn lifted(plan: LogicalPlan) -> Result<LogicalPlan> {
    plan.transform_up_with_subqueries(|node| {
        let LogicalPlan::Join(mut join) = node else {
            return Ok(Transformed::no(node));
        };
        let filter = match join.filter.take() {
            Some(filter) if has_subquery(&filter) => filter,
            filter => {
                join.filter = filter;
                return Ok(Transformed::no(LogicalPlan::Join(join)));
            }
        };
        // Where a conjunct with a subquery may go: above the join, or onto the input
        // on the side that loses its unmatched rows.
        let (above, left, right) = match join.join_type {
            JoinType::Inner => (true, false, false),
            JoinType::Left | JoinType::LeftSemi | JoinType::LeftAnti => (false, false, true),
            JoinType::Right | JoinType::RightSemi | JoinType::RightAnti => (false, true, false),
            _ => (false, false, false),
        };
        let mut lifted = Vec::new();
        let mut onto_left = Vec::new();
        let mut onto_right = Vec::new();
        let mut kept = Vec::new();
        for conjunct in split_conjunction_owned(filter) {
            if !has_subquery(&conjunct) {
                kept.push(conjunct);
            } else if above {
                lifted.push(conjunct);
            } else if left && reads_only(&conjunct, join.left.schema()) {
                onto_left.push(conjunct);
            } else if right && reads_only(&conjunct, join.right.schema()) {
                onto_right.push(conjunct);
            } else {
                kept.push(conjunct);
            }
        }
        let transformed = !(lifted.is_empty() && onto_left.is_empty() && onto_right.is_empty());
        join.filter = conjunction(kept);
        if let Some(predicate) = conjunction(onto_left) {
            join.left = Arc::new(LogicalPlan::Filter(Filter::try_new(predicate, join.left)?));
        }
        if let Some(predicate) = conjunction(onto_right) {
            join.right = Arc::new(LogicalPlan::Filter(Filter::try_new(predicate, join.right)?));
        }
        let join = LogicalPlan::Join(join);
        let node = match conjunction(lifted) {
            Some(predicate) => LogicalPlan::Filter(Filter::try_new(predicate, Arc::new(join))?),
            None => join,
        };
        Ok(Transformed::new_transformed(node, transformed))
    })
    .map(|transformed| transformed.data)
}

/// Whether every column `expr` reads, in its subqueries' references to the outer
/// query too, is one of `schema`'s.
fn reads_only(expr: &Expr, schema: &DFSchema) -> bool {
    let mut inside = true;
    let _ = expr.apply(|expr| {
        let outer = match expr {
            Expr::ScalarSubquery(subquery) | Expr::Exists(Exists { subquery, .. }) => {
                &subquery.outer_ref_columns[..]
            }
            Expr::InSubquery(InSubquery { subquery, .. }) => &subquery.outer_ref_columns[..],
            Expr::Column(column) => {
                inside &= schema.has_column(column);
                &[]
            }
            _ => &[],
        };
        for reference in outer {
            if let Expr::OuterReferenceColumn(_, column) = reference {
                inside &= schema.has_column(column);
            }
        }
        Ok(TreeNodeRecursion::Continue)
    });
    inside
}

fn has_subquery(expr: &Expr) -> bool {
    expr.exists(|expr| {
        Ok(matches!(
            expr,
            Expr::ScalarSubquery(_) | Expr::Exists(_) | Expr::InSubquery(_)
        ))
    })
    .unwrap_or(false)
}
