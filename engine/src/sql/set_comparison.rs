//! `x > ALL (SELECT ...)` and `x = ANY (SELECT ...)` with a subquery over the same
//! table as the outer query (`FROM orders WHERE o_totalprice > ALL (SELECT
//! o_totalprice FROM orders WHERE ...)`). DataFusion rewrites the comparison into
//! EXISTS subqueries that compare the outer value with the subquery's column; with
//! both named `orders.o_totalprice`, decorrelation compared the subquery's column
//! with itself and answered no rows. Naming the subquery's output apart keeps the
//! two sides distinct, as PostgreSQL's scoping does. Only subqueries whose column
//! is named like an outer one are renamed: the new name would stop DataFusion from
//! pulling a correlated predicate up through it.

use std::sync::Arc;

use datafusion_common::tree_node::{Transformed, TreeNode};
use datafusion_common::Result;
use datafusion_common::{Column, DFSchema};
use datafusion_expr::expr::SetComparison;
use datafusion_expr::utils::merge_schema;
use datafusion_expr::{Expr, LogicalPlan, SubqueryAlias};

/// Renames the output of every `ANY` / `ALL` subquery in `plan`.
pub fn with_distinct_names(plan: LogicalPlan) -> Result<LogicalPlan> {
    let mut count = 0;
    plan.transform_up_with_subqueries(|node| {
        let outer = merge_schema(&node.inputs());
        node.map_expressions(|expr| {
            expr.transform_up(|expr| match expr {
                Expr::SetComparison(mut comparison) if named_like_outer(&comparison, &outer) => {
                    count += 1;
                    let inner = Arc::clone(&comparison.subquery.subquery);
                    let alias = SubqueryAlias::try_new(inner, format!("__any_all_{count}"))?;
                    comparison.subquery.subquery = Arc::new(LogicalPlan::SubqueryAlias(alias));
                    Ok(Transformed::yes(Expr::SetComparison(comparison)))
                }
                other => Ok(Transformed::no(other)),
            })
        })
    })
    .map(|transformed| transformed.data)
}

/// Whether the subquery's column has the qualified name of a column of `outer`.
fn named_like_outer(comparison: &SetComparison, outer: &DFSchema) -> bool {
    let schema = comparison.subquery.subquery.schema();
    schema.fields().len() == 1 && outer.has_column(&Column::from(schema.qualified_field(0)))
}
