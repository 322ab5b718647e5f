//! `ceil` and `floor` of a decimal are whole numbers of scale 0, as in PostgreSQL
//! (`ceil(9.5)` is 10). DataFusion answers in the argument's type, DECIMAL(2,1)
//! here, which cannot hold 10.0, and fails with "Decimal overflow" on every value
//! that carries into a new digit. The argument is widened by one digit before the
//! call and the result cast to scale 0.
//!
//! `sign` of a decimal is a decimal too (-1, 0 or 1); DataFusion answered a float,
//! so `sign(x) * y` became a float product (`-0` where PostgreSQL answers 0.0).

use arrow::datatypes::DataType;
use datafusion_common::tree_node::Transformed;
use datafusion_common::{DFSchema, Result};
use datafusion_expr::expr::{Cast, ScalarFunction};
use datafusion_expr::{Expr, ExprSchemable, LogicalPlan};

use super::expr_rewrite::retyped;

/// Rewrites every expression of `plan` (before the analyzer: the new types are
/// coerced like any other).
pub fn whole(plan: LogicalPlan) -> Result<LogicalPlan> {
    retyped(plan, widened)
}

fn widened(expr: Expr, schema: &DFSchema) -> Result<Transformed<Expr>> {
    let Expr::ScalarFunction(ScalarFunction { func, mut args }) = expr else {
        return Ok(Transformed::no(expr));
    };
    if func.name() == "signum" {
        return Ok(signed(func, args, schema));
    }
    let rounds_to_whole = matches!(func.name(), "ceil" | "floor");
    let argument_type = match args.as_slice() {
        [argument] if rounds_to_whole => argument.get_type(schema).ok(),
        _ => None,
    };
    let Some(DataType::Decimal128(precision, scale)) =
        argument_type.filter(|kind| matches!(kind, DataType::Decimal128(_, scale) if *scale > 0))
    else {
        return Ok(Transformed::no(Expr::ScalarFunction(ScalarFunction {
            func,
            args,
        })));
    };
    let wider = DataType::Decimal128(precision.saturating_add(1).min(38), scale);
    let argument = args.remove(0);
    let call = Expr::ScalarFunction(ScalarFunction {
        func,
        args: vec![Expr::Cast(Cast::new(Box::new(argument), wider))],
    });
    let digits = (i16::from(precision) - i16::from(scale) + 1).clamp(1, 38) as u8;
    Ok(Transformed::yes(Expr::Cast(Cast::new(
        Box::new(call),
        DataType::Decimal128(digits, 0),
    ))))
}

/// `sign(x)` of a decimal `x` as DECIMAL(1, 0).
fn signed(
    func: std::sync::Arc<datafusion_expr::ScalarUDF>,
    args: Vec<Expr>,
    schema: &DFSchema,
) -> Transformed<Expr> {
    let decimal = matches!(
        args.as_slice(),
        [argument] if matches!(argument.get_type(schema), Ok(DataType::Decimal128(..)))
    );
    let call = Expr::ScalarFunction(ScalarFunction { func, args });
    if !decimal {
        return Transformed::no(call);
    }
    Transformed::yes(Expr::Cast(Cast::new(
        Box::new(call),
        DataType::Decimal128(1, 0),
    )))
}
