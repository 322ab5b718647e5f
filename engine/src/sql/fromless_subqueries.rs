//! `(select n.n_nationkey + 1)`: a scalar subquery with no FROM is its one
//! expression, over the outer row. DataFusion decorrelates no subquery that reads
//! the outer row in its select list, so this was refused; here it becomes the
//! expression itself.

use datafusion_common::tree_node::{Transformed, TreeNode};
use datafusion_common::{DFSchema, Result};
use datafusion_expr::{EmptyRelation, Expr, LogicalPlan, Subquery};

use super::lateral_joins::has_subquery;

/// The expression `subquery` computes, reading `schema`'s columns (the outer row)
/// where it read them as outer references; `None` for any other subquery.
pub(super) fn inlined(subquery: &Subquery, schema: &DFSchema) -> Result<Option<Expr>> {
    let LogicalPlan::Projection(projection) = subquery.subquery.as_ref() else {
        return Ok(None);
    };
    let LogicalPlan::EmptyRelation(EmptyRelation {
        produce_one_row: true,
        ..
    }) = projection.input.as_ref()
    else {
        return Ok(None);
    };
    let [expr] = projection.expr.as_slice() else {
        return Ok(None);
    };
    if has_subquery(expr) {
        return Ok(None);
    }
    // A column of a query further out stays an outer reference: the subquery
    // holding this one reads it then, as if written there.
    let inlined = expr
        .clone()
        .unalias()
        .transform_up(|expr| match expr {
            Expr::OuterReferenceColumn(_, column) if schema.has_column(&column) => {
                Ok(Transformed::yes(Expr::Column(column)))
            }
            other => Ok(Transformed::no(other)),
        })?
        .data;
    Ok(Some(inlined))
}
