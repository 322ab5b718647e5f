//! `SELECT DISTINCT ON (keys) ... ORDER BY ...` as a window: each key's first row in
//! the query's order is the one whose `row_number() OVER (PARTITION BY keys ORDER BY
//! ...)` is 1. DataFusion's optimizer would turn it into `first_value(.. ORDER BY
//! ..)` aggregates, which Percore does not run (and its rule panics without a
//! function registry); windows run distributed, partitioned on the keys.

use std::sync::Arc;

use datafusion_common::tree_node::{Transformed, TreeNode};
use datafusion_common::Result;
use datafusion_expr::{
    col, lit, Distinct, DistinctOn, ExprFunctionExt, LogicalPlan, LogicalPlanBuilder,
};
use datafusion_functions_window::expr_fn::row_number;

/// The column holding each row's place among its key's rows.
const PLACE: &str = "__distinct_on_place";

/// Rewrites every `DISTINCT ON` in `plan`.
pub fn as_window(plan: LogicalPlan) -> Result<LogicalPlan> {
    plan.transform_up(|node| match node {
        LogicalPlan::Distinct(Distinct::On(on)) => first_rows(on).map(Transformed::yes),
        other => Ok(Transformed::no(other)),
    })
    .map(|transformed| transformed.data)
}

fn first_rows(on: DistinctOn) -> Result<LogicalPlan> {
    // Without ORDER BY any row of a key will do; row_number needs some order.
    let order = on.sort_expr.clone().unwrap_or_else(|| {
        on.on_expr
            .iter()
            .map(|key| key.clone().sort(true, false))
            .collect()
    });
    let place = row_number()
        .partition_by(on.on_expr)
        .order_by(order)
        .build()?
        .alias(PLACE);
    let mut plan = LogicalPlanBuilder::from(Arc::unwrap_or_clone(on.input))
        .window(vec![place])?
        .filter(col(PLACE).eq(lit(1u64)))?;
    if let Some(order) = on.sort_expr {
        plan = plan.sort(order)?;
    }
    let output = on
        .select_expr
        .into_iter()
        .zip(on.schema.iter())
        .map(|(expr, (qualifier, field))| expr.alias_qualified(qualifier.cloned(), field.name()));
    plan.project(output)?.build()
}
