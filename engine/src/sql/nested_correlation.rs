//! A subquery inside a subquery that reads a column of a query further out than the
//! one around it (`exists (select .. from region r where .. and exists (select ..
//! from supplier s where s.s_nationkey = n.n_nationkey))`, `n` two levels out) is
//! not decorrelated: DataFusion's rewrite fails with "No field named n.n_nationkey",
//! which reads as the user's mistake (or, when its decorrelation succeeds, leaves a
//! join condition reading a column its inputs do not have). Such a plan is refused
//! before the optimizer, naming what is unsupported.

use datafusion_common::tree_node::{TreeNode, TreeNodeRecursion};
use datafusion_common::{not_impl_err, Column, Result};
use datafusion_expr::expr::{Exists, InSubquery};
use datafusion_expr::{Expr, LogicalPlan};

use super::expr_rewrite::input_schema;
use super::lateral_joins::lateral_reads;

/// Fails for a `plan` (before optimizing) with a subquery correlated past the query
/// around it.
///
/// # Errors
/// Unsupported, naming the column read from afar.
pub fn refused(plan: &LogicalPlan) -> Result<()> {
    match column_from_afar(plan) {
        Some(column) => not_impl_err!(
            "a subquery that reads {column} of a query more than one level out \
             (correlated through an enclosing subquery)"
        ),
        None => Ok(()),
    }
}

/// An outer column of a subquery that the query around the subquery does not have.
fn column_from_afar(plan: &LogicalPlan) -> Option<String> {
    let mut found = None;
    let _ = plan.apply_with_subqueries(|node| {
        let scope = input_schema(node);
        node.apply_expressions(|expr| {
            expr.apply(|expr| {
                let subquery = match expr {
                    Expr::Exists(Exists { subquery, .. })
                    | Expr::InSubquery(InSubquery { subquery, .. })
                    | Expr::ScalarSubquery(subquery) => subquery,
                    _ => return Ok(TreeNodeRecursion::Continue),
                };
                let bound = lateral_columns(&subquery.subquery);
                let afar = subquery
                    .outer_ref_columns
                    .iter()
                    .find_map(|outer| match outer {
                        Expr::OuterReferenceColumn(_, column)
                            if !scope.has_column(column) && !bound.contains(column) =>
                        {
                            Some(column.to_string())
                        }
                        _ => None,
                    });
                Ok(match afar {
                    Some(column) => {
                        found = Some(column);
                        TreeNodeRecursion::Stop
                    }
                    None => TreeNodeRecursion::Continue,
                })
            })
        })
    });
    found
}

/// The columns LATERAL subqueries inside `plan` read from their join's left input:
/// DataFusion lists them among the outer columns of the subquery around, but they
/// are that subquery's own.
fn lateral_columns(plan: &LogicalPlan) -> Vec<Column> {
    let mut bound = Vec::new();
    let _ = plan.apply_with_subqueries(|node| {
        if let LogicalPlan::Join(join) = node {
            if let Some((own, _)) = lateral_reads(join) {
                bound.extend(own);
            }
        }
        Ok(TreeNodeRecursion::Continue)
    });
    bound
}
