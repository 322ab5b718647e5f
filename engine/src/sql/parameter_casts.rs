//! Parameter types written into the statement: `$1::bigint[]`, `CAST($2 AS date)`.
//! The planner infers a parameter's type from what it is compared with; one that is
//! only cast (an array compared element by element, `x = ANY ($1::bigint[])`) takes
//! the cast's type, so a driver is told to send a `bigint[]`.

use std::collections::HashMap;
use std::ops::ControlFlow;

use arrow::datatypes::DataType;
use datafusion_sql::planner::{ContextProvider, SqlToRel};
use sqlparser::ast::{visit_expressions, Expr, Statement as SqlStatement, Value};

use super::parse_statement;

/// The type each cast parameter (`$n`) of `statement` is cast to, where the planner
/// can type it (the first cast of a parameter cast twice).
pub fn cast_types<S: ContextProvider>(
    statement: &SqlStatement,
    planner: &SqlToRel<'_, S>,
) -> HashMap<String, DataType> {
    let mut casts = HashMap::new();
    let _ = visit_expressions(statement, |expr| {
        if let Expr::Cast {
            expr, data_type, ..
        } = expr
        {
            if let Expr::Value(value) = expr.as_ref() {
                if let Value::Placeholder(name) = &value.value {
                    casts
                        .entry(name.clone())
                        .or_insert_with(|| data_type.clone());
                }
            }
        }
        ControlFlow::<()>::Continue(())
    });
    casts
        .into_iter()
        .filter_map(|(name, sql_type)| {
            let probe = parse_statement(&format!("SELECT CAST(NULL AS {sql_type})")).ok()?;
            let plan = planner
                .sql_statement_to_plan(probe.into_plannable().ok()?)
                .ok()?;
            Some((name, plan.schema().field(0).data_type().clone()))
        })
        .collect()
}
