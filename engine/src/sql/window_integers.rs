//! `row_number()`, `rank()`, `dense_rank()` and `ntile()` count rows, and DataFusion
//! types their result as an unsigned 64-bit integer, which PostgreSQL does not have:
//! on the wire it went out as `numeric`, so drivers handed users a decimal
//! (`Decimal('1')` in psycopg) where PostgreSQL's `bigint` gives an integer. Each
//! select list that reads one casts it to `bigint` (before the analyzer, which types
//! what reads it). The window's own column stays as it is: a projection inserted
//! right above it would hide the grouping id that `grouping()` above it reads.

use arrow::datatypes::DataType;
use datafusion_common::tree_node::{Transformed, TreeNode};
use datafusion_common::{DFSchema, Result};
use datafusion_expr::{cast, Expr, LogicalPlan};

/// The window functions whose result is an unsigned count.
const COUNTING: [&str; 4] = ["row_number(", "rank(", "dense_rank(", "ntile("];

/// `plan` with every select list reading a counting window's result as `bigint`.
pub fn as_bigint(plan: LogicalPlan) -> Result<LogicalPlan> {
    plan.transform_up_with_subqueries(|node| {
        let LogicalPlan::Projection(projection) = &node else {
            return Ok(Transformed::no(node));
        };
        let input = std::sync::Arc::clone(projection.input.schema());
        if !projection.expr.iter().any(|expr| {
            expr.exists(|expr| Ok(counted(expr, &input)))
                .unwrap_or(false)
        }) {
            return Ok(Transformed::no(node));
        }
        node.map_expressions(|expr| {
            // The select list's names stay as they were.
            let (qualifier, name) = match &expr {
                Expr::Column(column) => (column.relation.clone(), column.name.clone()),
                expr => (None, expr.schema_name().to_string()),
            };
            let cast_reads = expr.transform_up(|expr| {
                Ok(if counted(&expr, &input) {
                    Transformed::yes(cast(expr, DataType::Int64))
                } else {
                    Transformed::no(expr)
                })
            })?;
            if !cast_reads.transformed {
                return Ok(cast_reads);
            }
            Ok(cast_reads.update_data(|expr| match expr {
                Expr::Alias(_) => expr,
                expr => expr.alias_qualified(qualifier, name),
            }))
        })?
        .map_data(|node| node.recompute_schema())
    })
    .map(|transformed| transformed.data)
}

/// Whether `expr` is a column of `input` holding a counting window's result.
fn counted(expr: &Expr, input: &DFSchema) -> bool {
    let Expr::Column(column) = expr else {
        return false;
    };
    let Ok((_, field)) = input.qualified_field_from_column(column) else {
        return false;
    };
    *field.data_type() == DataType::UInt64
        && COUNTING
            .iter()
            .any(|function| field.name().starts_with(function))
}
