//! `'ab'::bytea || 'c'`: PostgreSQL types the untyped literal by the other operand,
//! so this joins two byteas (`\x616263`). DataFusion coerces both sides to text and
//! answered `\x6162c`, the bytea's text form with a `c` after it. Here such a
//! literal is cast to bytea before the analyzer (`bytea_text` then reads it as
//! PostgreSQL's bytea input). A literal typed as text (`'c'::text`) stays text, as
//! in PostgreSQL.

use arrow::datatypes::DataType;
use datafusion_common::tree_node::Transformed;
use datafusion_common::{DFSchema, Result, ScalarValue};
use datafusion_expr::{cast, BinaryExpr, Expr, ExprSchemable, LogicalPlan, Operator};

use super::expr_rewrite::retyped;

/// Rewrites every such concatenation in `plan` (planned, not yet analyzed).
pub fn typed_by_the_bytea(plan: LogicalPlan) -> Result<LogicalPlan> {
    retyped(plan, concatenation)
}

fn concatenation(expr: Expr, schema: &DFSchema) -> Result<Transformed<Expr>> {
    let Expr::BinaryExpr(BinaryExpr {
        left,
        op: Operator::StringConcat,
        right,
    }) = expr
    else {
        return Ok(Transformed::no(expr));
    };
    let is_bytea = |side: &Expr| {
        side.get_type(schema)
            .is_ok_and(|data_type| data_type == DataType::Binary)
    };
    let (left, right) = match (is_bytea(&left), is_bytea(&right)) {
        (true, false) if is_text_literal(&right) => {
            (left, Box::new(cast(*right, DataType::Binary)))
        }
        (false, true) if is_text_literal(&left) => (Box::new(cast(*left, DataType::Binary)), right),
        _ => {
            return Ok(Transformed::no(Expr::BinaryExpr(BinaryExpr {
                left,
                op: Operator::StringConcat,
                right,
            })))
        }
    };
    Ok(Transformed::yes(Expr::BinaryExpr(BinaryExpr {
        left,
        op: Operator::StringConcat,
        right,
    })))
}

/// A string literal as written, not cast to a type.
fn is_text_literal(expr: &Expr) -> bool {
    matches!(
        expr,
        Expr::Literal(
            ScalarValue::Utf8(Some(_)) | ScalarValue::Utf8View(Some(_)),
            _
        )
    )
}
