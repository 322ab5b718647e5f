//! What the logical rewrites of `sql/` share: visiting every expression of every
//! node of a plan (subqueries too), read against the node's input columns, while
//! keeping each expression's output name, since aggregates and windows are named
//! after their expressions and the nodes above refer to them by those names.

use datafusion_common::tree_node::{Transformed, TreeNode};
use datafusion_common::{DFSchema, Result};
use datafusion_expr::expr_rewriter::NamePreserver;
use datafusion_expr::utils::merge_schema;
use datafusion_expr::{Expr, GroupingSet, LogicalPlan};

/// The columns a node's expressions read: its inputs' (a leaf's own).
pub fn input_schema(node: &LogicalPlan) -> DFSchema {
    match node.inputs().as_slice() {
        [] => node.schema().as_ref().clone(),
        inputs => merge_schema(inputs),
    }
}

/// Rewrites `node`'s expressions bottom-up with `rewrite`, each keeping its name.
pub fn map_keeping_names(
    node: LogicalPlan,
    mut rewrite: impl FnMut(Expr, &DFSchema) -> Result<Transformed<Expr>>,
) -> Result<Transformed<LogicalPlan>> {
    let schema = input_schema(&node);
    let names = NamePreserver::new(&node);
    let mut keeping_name = |expr: Expr| -> Result<Transformed<Expr>> {
        let name = names.save(&expr);
        let rewritten = expr.transform_up(|expr| rewrite(expr, &schema))?;
        Ok(Transformed::new_transformed(
            name.restore(rewritten.data),
            rewritten.transformed,
        ))
    };
    node.map_expressions(|expr| match expr {
        // ROLLUP, CUBE and GROUPING SETS name their output columns after the
        // expressions inside; an alias around the whole set would hide it as one.
        Expr::GroupingSet(set) => {
            let mut changed = false;
            let set = map_grouping_keys(set, |expr| {
                let rewritten = keeping_name(expr)?;
                changed |= rewritten.transformed;
                Ok(rewritten.data)
            })?;
            Ok(Transformed::new_transformed(
                Expr::GroupingSet(set),
                changed,
            ))
        }
        expr => keeping_name(expr),
    })
}

/// `set` with each of its keys (in every set of GROUPING SETS) rewritten by `rewrite`.
pub fn map_grouping_keys(
    set: GroupingSet,
    mut rewrite: impl FnMut(Expr) -> Result<Expr>,
) -> Result<GroupingSet> {
    let mut each = |keys: Vec<Expr>| keys.into_iter().map(&mut rewrite).collect::<Result<_>>();
    Ok(match set {
        GroupingSet::Rollup(keys) => GroupingSet::Rollup(each(keys)?),
        GroupingSet::Cube(keys) => GroupingSet::Cube(each(keys)?),
        GroupingSet::GroupingSets(sets) => {
            GroupingSet::GroupingSets(sets.into_iter().map(&mut each).collect::<Result<_>>()?)
        }
    })
}

/// Rewrites every expression of `plan`, subqueries too, with `rewrite` (names kept),
/// for rewrites that keep each expression's type (the nodes' schemas stay valid).
pub fn each_expression(
    plan: LogicalPlan,
    rewrite: impl Fn(Expr, &DFSchema) -> Result<Transformed<Expr>>,
) -> Result<LogicalPlan> {
    plan.transform_up_with_subqueries(|node| map_keeping_names(node, &rewrite))
        .map(|transformed| transformed.data)
}

/// Rewrites every expression of `plan`, subqueries too, with `rewrite` (names kept),
/// and recomputes the schema of each node it changed: for rewrites that change an
/// expression's type, run before the analyzer so the new types are coerced like any
/// other.
pub fn retyped(
    plan: LogicalPlan,
    rewrite: impl Fn(Expr, &DFSchema) -> Result<Transformed<Expr>>,
) -> Result<LogicalPlan> {
    plan.transform_up_with_subqueries(|node| {
        let rewritten = map_keeping_names(node, &rewrite)?;
        if rewritten.transformed {
            rewritten.map_data(|node| node.recompute_schema())
        } else {
            Ok(rewritten)
        }
    })
    .map(|transformed| transformed.data)
}
