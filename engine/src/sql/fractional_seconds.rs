//! `extract(second from ts)` keeps the second's fraction, as in PostgreSQL
//! (`extract(second from timestamp '.. 00:00:01.5')` is 1.500000; DataFusion
//! answered the integer 1), and `extract(milliseconds ..)` the millisecond's
//! (1500.000). Both are read from the microseconds (seconds included) and scaled as
//! exact decimals.

use std::str::FromStr;
use std::sync::Arc;

use arrow::compute::kernels::cast_utils::IntervalUnit;
use arrow::datatypes::DataType;
use datafusion_common::tree_node::Transformed;
use datafusion_common::{Result, ScalarValue};
use datafusion_expr::expr::{BinaryExpr, Cast, ScalarFunction};
use datafusion_expr::{Expr, LogicalPlan, Operator, ScalarUDF};

use super::expr_rewrite::retyped;

/// Rewrites every `date_part('second' | 'millisecond', x)` of `plan` (before the
/// analyzer: the new decimal type is coerced like any other).
pub fn kept(plan: LogicalPlan) -> Result<LogicalPlan> {
    retyped(plan, |expr, _| scaled(expr))
}

fn scaled(expr: Expr) -> Result<Transformed<Expr>> {
    let Expr::ScalarFunction(ScalarFunction { func, args }) = &expr else {
        return Ok(Transformed::no(expr));
    };
    let part = match args.as_slice() {
        [Expr::Literal(ScalarValue::Utf8(Some(part)) | ScalarValue::Utf8View(Some(part)), _), _]
            if func.name() == "date_part" =>
        {
            IntervalUnit::from_str(part.trim_matches(|c| c == '\'' || c == '"')).ok()
        }
        _ => None,
    };
    // The unit's size in microseconds, as the scale of a decimal.
    let scale = match part {
        Some(IntervalUnit::Second) => 6,
        Some(IntervalUnit::Millisecond) => 3,
        _ => return Ok(Transformed::no(expr)),
    };
    let Expr::ScalarFunction(ScalarFunction { func, mut args }) = expr else {
        return Ok(Transformed::no(expr));
    };
    let value = args.swap_remove(1);
    let micros = Expr::ScalarFunction(ScalarFunction::new_udf(
        Arc::<ScalarUDF>::clone(&func),
        vec![
            Expr::Literal(ScalarValue::Utf8(Some("microsecond".to_string())), None),
            value,
        ],
    ));
    let whole = Expr::Cast(Cast::new(Box::new(micros), DataType::Decimal128(10, 0)));
    let unit = Expr::Literal(
        ScalarValue::Decimal128(Some(1), scale + 1, scale as i8),
        None,
    );
    Ok(Transformed::yes(Expr::BinaryExpr(BinaryExpr::new(
        Box::new(whole),
        Operator::Multiply,
        Box::new(unit),
    ))))
}
