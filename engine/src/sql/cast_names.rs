//! Two expressions that differ only by a cast, as arguments of aggregates (`select
//! sum(x), sum(cast(x as real))`) or as GROUP BY keys (`group by cast(x as text),
//! x`): DataFusion names a cast after its input alone, so both aggregates are named
//! `sum(t.x)` and planning fails with "Schema contains duplicate unqualified field
//! name". So are two scalar subqueries as GROUP BY keys, each named after its
//! column (`max(m.a)`). When planning fails so, the statement is planned again with
//! every cast marked `typed_as(cast(x AS REAL), 'REAL')` and every scalar subquery
//! `typed_as((select ..), '<its text>')`, an identity function whose name carries
//! what sets the expression apart, and the marks are taken out of the planned
//! expressions again (their names kept), so nothing of them is evaluated.

use std::ops::ControlFlow;
use std::sync::Arc;

use arrow::datatypes::DataType;
use datafusion_common::tree_node::Transformed;
use datafusion_common::{exec_err, Result};
use datafusion_expr::expr::ScalarFunction;
use datafusion_expr::{
    ColumnarValue, Expr, LogicalPlan, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature,
    Volatility,
};
use sqlparser::ast::{visit_expressions_mut, Expr as SqlExpr, Statement, Value};

use super::expr_rewrite::map_keeping_names;
use super::pg_compat::function_call;

const MARK: &str = "typed_as";

/// Whether planning failed (`message`) because two columns got one name (in an
/// aggregate's or a projection's schema: `group by cast(x as text), x`).
pub fn collided(message: &str) -> bool {
    message.contains("Schema contains duplicate unqualified field name")
        || message.contains("require unique expression names")
}

/// Marks every cast and scalar subquery of `statement`; whether there was any.
pub fn marked(statement: &mut Statement) -> bool {
    let mut any = false;
    let _ = visit_expressions_mut(statement, |expr| {
        let mark = match expr {
            SqlExpr::Cast { data_type, .. } => data_type.to_string(),
            // named after its one column, so two subqueries of `max(x)` collide
            SqlExpr::Subquery(query) => query.to_string(),
            _ => return ControlFlow::Continue(()),
        };
        let marked = std::mem::replace(expr, SqlExpr::value(Value::Null));
        *expr = mark_call(marked, mark);
        any = true;
        ControlFlow::<()>::Continue(())
    });
    any
}

fn mark_call(marked: SqlExpr, mark: String) -> SqlExpr {
    function_call(
        MARK,
        vec![marked, SqlExpr::value(Value::SingleQuotedString(mark))],
    )
}

/// `plan` without the marks (each marked expression keeps its name).
pub fn unmarked(plan: LogicalPlan) -> Result<LogicalPlan> {
    plan.transform_up_with_subqueries(|node| {
        map_keeping_names(node, |expr, _| match expr {
            Expr::ScalarFunction(ScalarFunction { func, mut args }) if func.name() == MARK => {
                Ok(Transformed::yes(args.swap_remove(0)))
            }
            other => Ok(Transformed::no(other)),
        })
    })
    .map(|transformed| transformed.data)
}

/// The marking function, for the function registry.
pub fn mark_function() -> Arc<ScalarUDF> {
    Arc::new(ScalarUDF::from(TypedAs {
        signature: Signature::any(2, Volatility::Immutable),
    }))
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct TypedAs {
    signature: Signature,
}

impl ScalarUDFImpl for TypedAs {
    fn name(&self) -> &str {
        MARK
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, args: &[DataType]) -> Result<DataType> {
        Ok(args.first().cloned().unwrap_or(DataType::Null))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        match args.args.into_iter().next() {
            Some(value) => Ok(value),
            None => exec_err!("{MARK} takes a value"),
        }
    }
}
