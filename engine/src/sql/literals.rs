//! Numeric literals, typed as PostgreSQL and DuckDB users expect. With DataFusion's
//! `parse_float_as_decimal`, `0.1` is the exact DECIMAL(1,1), so `0.1 + 0.2 = 0.3` holds
//! and `price = 157562.13` finds the row that has it. Exponent notation is the one
//! exception: DataFusion turns `1e3` into a decimal of negative scale, which its casts
//! divide by zero on (a panic), and `1e300` into an error. Those literals are doubles
//! here, as in DuckDB.

use std::ops::ControlFlow;

use sqlparser::ast::{CastKind, DataType, Expr, Statement, Value};

/// Rewrites every numeric literal written with an exponent into a DOUBLE.
pub fn exponents_as_doubles(statement: &mut Statement) {
    let _ = sqlparser::ast::visit_expressions_mut(statement, |expr| {
        if let Expr::Value(value) = expr {
            if let Value::Number(text, _) = &value.value {
                if text.contains(['e', 'E']) {
                    let text = Value::SingleQuotedString(text.clone());
                    *expr = Expr::Cast {
                        kind: CastKind::Cast,
                        expr: Box::new(Expr::Value(text.into())),
                        data_type: DataType::DoublePrecision,
                        array: false,
                        format: None,
                    };
                }
            }
        }
        ControlFlow::<()>::Continue(())
    });
}
