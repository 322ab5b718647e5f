//! `round(decimal, n)` with one result type from planning to execution. DataFusion
//! types the call by whether `n` is a literal when it looks: scale `n` for a
//! literal, the argument's scale otherwise. Type coercion wraps the literal in a
//! cast and simplification folds it back, so the planner coerced a comparison for
//! one type and the kernel returned the other: `round(x, 1) = round(x, 0)` failed
//! with "Invalid comparison operation: Decimal128(15, 1) == Decimal128(15, 0)".
//! Here the type is decided once, before the analyzer, and carried by the call: as
//! in PostgreSQL, scale `n` for a constant `n` (0 when negative), the argument's
//! scale for a column, and one more integer digit for the carry (`round(9.5)` is
//! 10). Halves round away from zero, as PostgreSQL rounds numeric.

use std::sync::Arc;

use arrow::array::{Array, AsArray, Decimal128Array};
use arrow::buffer::ScalarBuffer;
use arrow::datatypes::{i256, DataType, Decimal128Type, Int64Type, DECIMAL128_MAX_PRECISION};
use datafusion_common::tree_node::Transformed;
use datafusion_common::{exec_err, DFSchema, DataFusionError, Result, ScalarValue};
use datafusion_expr::expr::ScalarFunction;
use datafusion_expr::{
    ColumnarValue, Expr, ExprSchemable, LogicalPlan, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl,
    Signature, Volatility,
};

use super::call_values::Arguments;
use super::decimal_products;
use super::expr_rewrite::retyped;
use crate::operators::divided_half_away_from_zero;

const MAX_DIGITS: i32 = DECIMAL128_MAX_PRECISION as i32;

/// Rewrites every `round` of a decimal in `plan` (before the analyzer: the new
/// types are coerced like any other).
pub fn typed_once(plan: LogicalPlan) -> Result<LogicalPlan> {
    retyped(plan, rewritten)
}

fn rewritten(expr: Expr, schema: &DFSchema) -> Result<Transformed<Expr>> {
    let Expr::ScalarFunction(ScalarFunction { func, args }) = expr else {
        return Ok(Transformed::no(expr));
    };
    let argument_type = match args.as_slice() {
        [argument] | [argument, _] if func.name() == "round" => argument.get_type(schema).ok(),
        _ => None,
    };
    let Some(DataType::Decimal128(precision, scale)) = argument_type else {
        return Ok(Transformed::no(Expr::ScalarFunction(ScalarFunction {
            func,
            args,
        })));
    };
    let digits = match args.get(1) {
        None => Some(0),
        Some(digits) => constant_integer(digits),
    };
    let (precision, scale) = result_type(precision, scale, digits);
    let mut args = args;
    if args.len() == 1 {
        args.push(Expr::Literal(ScalarValue::Int64(Some(0)), None));
    }
    let call = RoundDecimal {
        signature: Signature::any(2, Volatility::Immutable),
        output: DataType::Decimal128(precision, scale),
    };
    Ok(Transformed::yes(Expr::ScalarFunction(
        ScalarFunction::new_udf(Arc::new(ScalarUDF::new_from_impl(call)), args),
    )))
}

/// The value of an integer literal (or a negated one).
fn constant_integer(expr: &Expr) -> Option<i64> {
    match expr {
        Expr::Literal(value, _) => match value.cast_to(&DataType::Int64).ok()? {
            ScalarValue::Int64(digits) => digits,
            _ => None,
        },
        Expr::Negative(inner) => constant_integer(inner)?.checked_neg(),
        _ => None,
    }
}

/// The type of `round(Decimal128(precision, scale), digits)`; `digits` is `None`
/// when it is not a constant.
fn result_type(precision: u8, scale: i8, digits: Option<i64>) -> (u8, i8) {
    let scale = i32::from(scale);
    let wanted = match digits {
        Some(digits) => digits.clamp(0, i64::from(MAX_DIGITS)) as i32,
        None => scale.max(0),
    };
    let integer_digits = (i32::from(precision) - scale).max(1);
    // The carry digit goes first, then decimals, when 38 digits do not hold all.
    let with_carry = (integer_digits + 1).min(MAX_DIGITS);
    let kept_integer = if with_carry + wanted <= MAX_DIGITS {
        with_carry
    } else {
        integer_digits.min(MAX_DIGITS)
    };
    let kept_scale = wanted.min(MAX_DIGITS - kept_integer);
    ((kept_integer + kept_scale) as u8, kept_scale as i8)
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct RoundDecimal {
    signature: Signature,
    output: DataType,
}

impl ScalarUDFImpl for RoundDecimal {
    fn name(&self) -> &str {
        "round"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _args: &[DataType]) -> Result<DataType> {
        Ok(self.output.clone())
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let DataType::Decimal128(precision, output_scale) = self.output else {
            return exec_err!("round of a decimal returns a decimal");
        };
        let arguments = Arguments::of(&args.args)?;
        let [values, digits] = arguments.arrays.as_slice() else {
            return exec_err!("round takes a decimal and a number of digits");
        };
        let DataType::Decimal128(_, scale) = *values.data_type() else {
            return exec_err!("round of a decimal got {}", values.data_type());
        };
        let digits = arrow::compute::cast(digits, &DataType::Int64)?;
        let (values, digits) = (
            values.as_primitive::<Decimal128Type>(),
            digits.as_primitive::<Int64Type>(),
        );
        let nulls = arrow::buffer::NullBuffer::union(values.nulls(), digits.nulls());
        let limit = ten_to(u32::from(precision));
        let mut rounded = Vec::with_capacity(values.len());
        for row in 0..values.len() {
            if nulls.as_ref().is_some_and(|n| n.is_null(row)) {
                rounded.push(0);
                continue;
            }
            let value = round_value(values.value(row), scale, digits.value(row), output_scale);
            if value.wrapping_abs() >= limit {
                return Err(overflow());
            }
            rounded.push(value.to_i128().ok_or_else(overflow)?);
        }
        let array = Decimal128Array::new(ScalarBuffer::from(rounded), nulls)
            .with_precision_and_scale(precision, output_scale)?;
        arguments.answer(Arc::new(array))
    }
}

/// `value` (of scale `scale`) rounded half away from zero to `digits` decimals,
/// at scale `output_scale`.
pub(super) fn round_value(value: i128, scale: i8, digits: i64, output_scale: i8) -> i256 {
    let scale = i64::from(scale);
    let value = i256::from_i128(value);
    // Digits beyond 76 places are past any Decimal128: everything or nothing rounds.
    let kept = digits.clamp(scale - 76, scale);
    let dropped = ten_to((scale - kept) as u32);
    let at_scale = divided_half_away_from_zero(value, dropped).wrapping_mul(dropped);
    let shift = i64::from(output_scale) - scale;
    if shift >= 0 {
        at_scale.wrapping_mul(ten_to(shift as u32))
    } else {
        divided_half_away_from_zero(at_scale, ten_to((-shift) as u32))
    }
}

fn ten_to(exponent: u32) -> i256 {
    i256::from_i128(10).wrapping_pow(exponent.min(76))
}

fn overflow() -> DataFusionError {
    decimal_products::overflow("the rounded value has more than 38 digits")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constant_digits_set_the_scale_and_a_carry_digit_is_kept() {
        assert_eq!(result_type(15, 2, Some(0)), (14, 0));
        assert_eq!(result_type(15, 2, Some(1)), (15, 1));
        assert_eq!(result_type(15, 2, Some(4)), (18, 4));
        assert_eq!(result_type(15, 2, Some(-2)), (14, 0));
        assert_eq!(result_type(15, 2, None), (16, 2));
        assert_eq!(result_type(38, 10, Some(10)), (38, 10));
        assert_eq!(result_type(38, 0, Some(5)), (38, 0));
    }

    #[test]
    fn halves_round_away_from_zero_at_any_number_of_digits() {
        let round = |value: i128, digits: i64, output_scale: i8| {
            round_value(value, 2, digits, output_scale)
                .to_i128()
                .unwrap()
        };
        assert_eq!(round(875, 0, 0), 9); // 8.75 -> 9
        assert_eq!(round(-875, 0, 0), -9);
        assert_eq!(round(-850, 0, 0), -9); // -8.50 -> -9
        assert_eq!(round(875, 1, 1), 88); // 8.75 -> 8.8
        assert_eq!(round(875, 1, 2), 880); // at the argument's scale
        assert_eq!(round(123_456, -2, 0), 1200); // 1234.56 -> 1200
        assert_eq!(round(875, 5, 5), 875_000);
        assert_eq!(round(875, -40, 0), 0);
    }
}
