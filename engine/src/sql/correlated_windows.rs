//! A window function over rows a subquery filters per outer row (`(select max(rn)
//! from (select l.a, row_number() over (order by l.b) rn from t l where l.a = x.a)
//! s)`) must number each outer row's rows apart. DataFusion's decorrelation pulls
//! the correlated filter up through the window instead, so the window ran over
//! every outer row's rows at once: wrong answers. LATERAL subqueries are
//! decorrelated with the window partitioned per outer row (`lateral_apply`); any
//! other such subquery is refused here, before the optimizer.

use datafusion_common::tree_node::{TreeNode, TreeNodeRecursion};
use datafusion_common::{not_impl_err, Result};
use datafusion_expr::expr::{Exists, InSubquery};
use datafusion_expr::{Expr, LogicalPlan};

/// Fails for a `plan` (before optimizing) with a subquery whose window reads rows
/// filtered by the outer row.
///
/// # Errors
/// Unsupported, naming the construct.
pub fn refused(plan: &LogicalPlan) -> Result<()> {
    let mut found = false;
    plan.apply_with_subqueries(|node| {
        if let LogicalPlan::Subquery(subquery) = node {
            found |= windows_over_outer_row(&subquery.subquery);
        }
        node.apply_expressions(|expr| {
            expr.apply(|expr| {
                if let Expr::Exists(Exists { subquery, .. })
                | Expr::InSubquery(InSubquery { subquery, .. })
                | Expr::ScalarSubquery(subquery) = expr
                {
                    found |= windows_over_outer_row(&subquery.subquery);
                }
                Ok(TreeNodeRecursion::Continue)
            })
        })?;
        Ok(if found {
            TreeNodeRecursion::Stop
        } else {
            TreeNodeRecursion::Continue
        })
    })?;
    if found {
        return not_impl_err!(
            "a window function in a subquery over rows the subquery selects by the outer \
             query's row (write it as a LATERAL join)"
        );
    }
    Ok(())
}

/// Whether a window of `plan` (not of a subquery in it) reads rows that depend on
/// the outer row.
fn windows_over_outer_row(plan: &LogicalPlan) -> bool {
    plan.exists(|node| {
        Ok(match node {
            LogicalPlan::Window(window) => window
                .input
                .exists(|below| Ok(below.contains_outer_reference()))?,
            _ => false,
        })
    })
    .unwrap_or(true)
}
