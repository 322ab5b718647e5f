//! Parameter types written into the statement: `$1::bigint[]`, `CAST($2 AS date)`.
//! The planner infers a parameter's type from what it is compared with; one that is
//! only cast (an array compared element by element, `x = ANY ($1::bigint[])`) takes
//! the cast's type, so a driver is told to send a `bigint[]`. One compared element
//! by element without a cast (`x = ANY ($1)`) is typed as an array of what its
//! elements are compared with.

use std::collections::{HashMap, HashSet};
use std::ops::ControlFlow;

use arrow::datatypes::DataType;
use datafusion_sql::planner::{ContextProvider, SqlToRel};
use sqlparser::ast::{
    visit_expressions, visit_expressions_mut, Expr, Statement as SqlStatement, Value,
};

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

/// Rewrites each `x op ANY ($n)` / `ALL ($n)` / `LIKE ANY ($n)` of `statement` into
/// `x op $n` (`x LIKE $n`), so the planner types `$n` as one element; the names of
/// those parameters, whose type is then a list of it.
pub fn compared_by_element(statement: &mut SqlStatement) -> HashSet<String> {
    let mut arrays = HashSet::new();
    let _ = visit_expressions_mut(statement, |expr| {
        let placeholder = |array: &Expr| match array {
            Expr::Value(value) => match &value.value {
                Value::Placeholder(name) => Some(name.clone()),
                _ => None,
            },
            _ => None,
        };
        match expr {
            Expr::AnyOp {
                left,
                compare_op,
                right,
                ..
            }
            | Expr::AllOp {
                left,
                compare_op,
                right,
            } => {
                if let Some(name) = placeholder(right) {
                    arrays.insert(name);
                    *expr = Expr::BinaryOp {
                        left: left.clone(),
                        op: compare_op.clone(),
                        right: right.clone(),
                    };
                }
            }
            Expr::Like { any, pattern, .. } | Expr::ILike { any, pattern, .. } => {
                if let Some(name) = placeholder(pattern) {
                    arrays.insert(name);
                    *any = false;
                }
            }
            _ => {}
        }
        ControlFlow::<()>::Continue(())
    });
    arrays
}
