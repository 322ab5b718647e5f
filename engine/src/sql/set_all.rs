//! `INTERSECT ALL` and `EXCEPT ALL` with their counts. DataFusion's planner makes
//! them a semi (anti) join of the left rows against the right: a value twice on the
//! left and once on the right came out twice from `INTERSECT ALL` (SQL says once,
//! the smaller count) and not at all from `EXCEPT ALL` (SQL says once, the
//! difference). Numbering each side's copies of a row (1, 2, ...) and joining on the
//! number too gives both: the left's k-th copy meets the right's k-th copy.

use std::sync::Arc;

use datafusion_common::tree_node::{Transformed, TreeNode};
use datafusion_common::{Column, NullEquality, Result};
use datafusion_expr::{
    col, Distinct, Expr, ExprFunctionExt, Join, JoinType, LogicalPlan, LogicalPlanBuilder,
};
use datafusion_functions_window::expr_fn::row_number;

/// The column numbering a side's copies of a row.
const COPY: &str = "__set_copy";

/// Rewrites every `INTERSECT ALL` and `EXCEPT ALL` in `plan`, which comes straight
/// from the SQL planner: no other semi or anti join exists yet (subqueries become
/// joins later, in the optimizer).
pub fn with_counts(plan: LogicalPlan) -> Result<LogicalPlan> {
    plan.transform_up(|node| match node {
        LogicalPlan::Join(join) if is_set_all(&join) => counted(join).map(Transformed::yes),
        other => Ok(Transformed::no(other)),
    })
    .map(|transformed| transformed.data)
}

/// The join the planner builds for `INTERSECT ALL` / `EXCEPT ALL`: NULLs equal, on
/// every column, over a left side that is not made distinct (as for plain
/// `INTERSECT` / `EXCEPT`).
fn is_set_all(join: &Join) -> bool {
    matches!(join.join_type, JoinType::LeftSemi | JoinType::LeftAnti)
        && join.null_equality == NullEquality::NullEqualsNull
        && join.filter.is_none()
        && !join.null_aware
        && join.on.len() == join.left.schema().fields().len()
        && !matches!(join.left.as_ref(), LogicalPlan::Distinct(Distinct::All(_)))
}

fn counted(join: Join) -> Result<LogicalPlan> {
    let left_columns: Vec<Column> = join.left.schema().columns();
    let left = numbered(Arc::unwrap_or_clone(join.left), "l")?;
    let right = numbered(Arc::unwrap_or_clone(join.right), "r")?;
    let (mut left_keys, mut right_keys): (Vec<Expr>, Vec<Expr>) = join.on.into_iter().unzip();
    left_keys.push(col(format!("{COPY}_l")));
    right_keys.push(col(format!("{COPY}_r")));
    LogicalPlanBuilder::from(left)
        .join_with_expr_keys(right, join.join_type, (left_keys, right_keys), None)?
        .project(left_columns.into_iter().map(Expr::Column))?
        .build()
        .and_then(|plan| with_null_equality(plan, NullEquality::NullEqualsNull))
}

/// `plan` with a column numbering the copies of each of its rows.
fn numbered(plan: LogicalPlan, side: &str) -> Result<LogicalPlan> {
    let columns: Vec<Expr> = plan
        .schema()
        .columns()
        .into_iter()
        .map(Expr::Column)
        .collect();
    let order = columns.iter().map(|c| c.clone().sort(true, true)).collect();
    let copy = row_number()
        .partition_by(columns)
        .order_by(order)
        .build()?
        .alias(format!("{COPY}_{side}"));
    LogicalPlanBuilder::from(plan).window(vec![copy])?.build()
}

/// Sets the null equality of the join under the projection `plan`.
fn with_null_equality(plan: LogicalPlan, null_equality: NullEquality) -> Result<LogicalPlan> {
    let LogicalPlan::Projection(mut projection) = plan else {
        return Ok(plan);
    };
    if let LogicalPlan::Join(join) = Arc::make_mut(&mut projection.input) {
        join.null_equality = null_equality;
    }
    Ok(LogicalPlan::Projection(projection))
}
