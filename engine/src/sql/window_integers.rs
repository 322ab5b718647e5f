//! `row_number()`, `rank()`, `dense_rank()` and `ntile()` count rows, and DataFusion
//! types their result as an unsigned 64-bit integer, which PostgreSQL does not have:
//! on the wire it went out as `numeric`, so drivers handed users a decimal
//! (`Decimal('1')` in psycopg) where PostgreSQL's `bigint` gives an integer. Right
//! above each window they become `bigint`, before the analyzer types what reads them.

use std::sync::Arc;

use arrow::datatypes::DataType;
use datafusion_common::tree_node::Transformed;
use datafusion_common::{Column, Result};
use datafusion_expr::{cast, Expr, LogicalPlan, Projection};

/// `plan` with every unsigned window result read as `bigint`.
pub fn as_bigint(plan: LogicalPlan) -> Result<LogicalPlan> {
    plan.transform_up_with_subqueries(|node| {
        let LogicalPlan::Window(window) = &node else {
            return Ok(Transformed::no(node));
        };
        let computed = window.input.schema().fields().len();
        let unsigned = |index: usize, data_type: &DataType| {
            index >= computed && *data_type == DataType::UInt64
        };
        if !window
            .schema
            .fields()
            .iter()
            .enumerate()
            .any(|(index, field)| unsigned(index, field.data_type()))
        {
            return Ok(Transformed::no(node));
        }
        let exprs = window
            .schema
            .iter()
            .enumerate()
            .map(|(index, (qualifier, field))| {
                let column = Expr::Column(Column::new(qualifier.cloned(), field.name()));
                if unsigned(index, field.data_type()) {
                    cast(column, DataType::Int64).alias_qualified(qualifier.cloned(), field.name())
                } else {
                    column
                }
            })
            .collect();
        let projection = Projection::try_new(exprs, Arc::new(node))?;
        Ok(Transformed::yes(LogicalPlan::Projection(projection)))
    })
    .map(|transformed| transformed.data)
}
