//! Casts of decimals and floats to integers round, as in PostgreSQL
//! (`cast(3.99 as integer)` is 4, `cast(-2.5 as integer)` is -3); Arrow's casts
//! truncate (3 and -2). A decimal goes through scale 0, which Arrow's cast rounds
//! half away from zero as PostgreSQL does for numeric; a float rounds its halves to
//! even (`cast(2.5::float8 as integer)` is 2), as PostgreSQL's `rint` does.

use arrow::datatypes::{DataType, FieldRef};
use datafusion_common::tree_node::Transformed;
use datafusion_common::{DFSchema, Result};
use datafusion_expr::expr::{Cast, TryCast};
use datafusion_expr::{Expr, ExprSchemable, LogicalPlan};

use super::expr_rewrite::each_expression;
use super::round_half_even::round_half_even;

/// Rewrites the casts in every expression of `plan` (typed: after the analyzer).
pub fn rounding(plan: LogicalPlan) -> Result<LogicalPlan> {
    each_expression(plan, rounded)
}

fn rounded(expr: Expr, schema: &DFSchema) -> Result<Transformed<Expr>> {
    let (inner, target, try_cast) = match expr {
        Expr::Cast(Cast { expr, field }) if field.data_type().is_integer() => (expr, field, false),
        Expr::TryCast(TryCast { expr, field }) if field.data_type().is_integer() => {
            (expr, field, true)
        }
        other => return Ok(Transformed::no(other)),
    };
    let Ok(source) = inner.get_type(schema) else {
        return Ok(Transformed::no(rebuild(inner, target, try_cast)));
    };
    let whole = match source {
        DataType::Decimal128(precision, scale) if scale > 0 => {
            let digits = (i16::from(precision) - i16::from(scale) + 1).clamp(1, 38) as u8;
            Expr::Cast(Cast::new(inner, DataType::Decimal128(digits, 0)))
        }
        DataType::Float16 | DataType::Float32 | DataType::Float64 => round_half_even(*inner),
        _ => return Ok(Transformed::no(rebuild(inner, target, try_cast))),
    };
    Ok(Transformed::yes(rebuild(Box::new(whole), target, try_cast)))
}

fn rebuild(inner: Box<Expr>, target: FieldRef, try_cast: bool) -> Expr {
    if try_cast {
        Expr::TryCast(TryCast::new_from_field(inner, target))
    } else {
        Expr::Cast(Cast::new_from_field(inner, target))
    }
}
