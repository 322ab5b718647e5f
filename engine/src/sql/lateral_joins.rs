//! What the LATERAL rewrites (`lateral_apply`, `lateral_projections`) and the
//! checks around them share: which joins are LATERAL, and what a plan or an
//! expression reads.

use datafusion_common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion_common::{Column, Result, TableReference};
use datafusion_expr::{Expr, Join, JoinConstraint, JoinType, LogicalPlan, Subquery, SubqueryAlias};

/// `plan` with `rewrite` applied to each join, inner ones first; `rewrite` numbers
/// the hidden columns it adds from the counter it is given.
pub(super) fn each_join(
    plan: LogicalPlan,
    mut rewrite: impl FnMut(Join, &mut usize) -> Result<Transformed<LogicalPlan>>,
) -> Result<LogicalPlan> {
    let mut hidden_names = 0usize;
    plan.transform_up_with_subqueries(|node| match node {
        LogicalPlan::Join(join) => rewrite(join, &mut hidden_names),
        other => Ok(Transformed::no(other)),
    })
    .map(|transformed| transformed.data)
}

/// The LATERAL subquery on the right of `join`, and its alias: only inner and LEFT
/// joins take one (USING, which no LATERAL has, is left alone).
pub(super) fn lateral_subquery(join: &Join) -> Option<(Option<TableReference>, &Subquery)> {
    if !matches!(join.join_type, JoinType::Inner | JoinType::Left)
        || join.join_constraint == JoinConstraint::Using
    {
        return None;
    }
    match join.right.as_ref() {
        LogicalPlan::Subquery(subquery) => Some((None, subquery)),
        LogicalPlan::SubqueryAlias(SubqueryAlias { input, alias, .. }) => match input.as_ref() {
            LogicalPlan::Subquery(subquery) => Some((Some(alias.clone()), subquery)),
            _ => None,
        },
        _ => None,
    }
}

/// The outer columns the LATERAL subquery on the right of `join` reads (in it or in
/// a subquery inside it), split into those the join's left input holds (the
/// LATERAL's own, though DataFusion lists them among the outer columns of any
/// subquery around) and those of a query further out.
pub(super) fn lateral_reads(join: &Join) -> Option<(Vec<Column>, Vec<Column>)> {
    let (_, lateral) = lateral_subquery(join)?;
    let left = join.left.schema();
    Some(
        outer_references(&lateral.subquery)
            .into_iter()
            .filter_map(|read| match read {
                Expr::OuterReferenceColumn(_, column) => Some(column),
                _ => None,
            })
            .partition(|column| left.has_column(column)),
    )
}

/// Whether `plan` or a subquery in it reads a column of a query around it.
pub(crate) fn reads_outer_row(plan: &LogicalPlan) -> bool {
    let mut reads = false;
    let _ = plan.apply_with_subqueries(|node| {
        reads = node.contains_outer_reference();
        Ok(if reads {
            TreeNodeRecursion::Stop
        } else {
            TreeNodeRecursion::Continue
        })
    });
    reads
}

/// Every read of a column of a query around `plan`, in `plan` and in the subqueries
/// inside it (a nested subquery's read keeps it correlated too).
pub(super) fn outer_references(plan: &LogicalPlan) -> Vec<Expr> {
    let mut read = Vec::new();
    let _ = plan.apply_with_subqueries(|node| {
        node.apply_expressions(|expr| {
            expr.apply(|expr| {
                if let Expr::OuterReferenceColumn(..) = expr {
                    read.push(expr.clone());
                }
                Ok(TreeNodeRecursion::Continue)
            })
        })
    });
    read
}

/// Whether `expr` reads a column of the query around.
pub(super) fn expr_reads_outer_row(expr: &Expr) -> bool {
    expr.exists(|expr| Ok(matches!(expr, Expr::OuterReferenceColumn(..))))
        .unwrap_or(true)
}

/// Whether `expr` holds a subquery.
pub(super) fn has_subquery(expr: &Expr) -> bool {
    expr.exists(|expr| {
        Ok(matches!(
            expr,
            Expr::ScalarSubquery(_) | Expr::Exists(_) | Expr::InSubquery(_)
        ))
    })
    .unwrap_or(true)
}
