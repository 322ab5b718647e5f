//! Decimal products whose exact scale leaves too few integer digits. Arrow types
//! `a * b` over decimals with scale s1 + s2 and at most 38 digits: two quotients of
//! 16 decimals multiplied had 6 integer digits left (`1453.55 * 1453.55` overflowed)
//! and a third factor failed to plan (scale 48). PostgreSQL's numeric has no limit;
//! within 38 digits the rule is Spark's: the product keeps every integer digit its
//! operands allow where it can, and gives up decimals down to no fewer than
//! min(s1 + s2, 16) where it cannot. Such a product is `numeric_mul(a, b)`, computed
//! exactly in 256 bits and rounded half away from zero to its scale; a result past 38
//! digits is an error (22003), never a wrapped value. Products that fit keep Arrow's
//! type and kernel.

use std::sync::Arc;

use arrow::array::{Array, AsArray, Decimal128Array};
use arrow::buffer::{NullBuffer, ScalarBuffer};
use arrow::datatypes::{i256, DataType, Decimal128Type, DECIMAL128_MAX_PRECISION};
use arrow::error::ArrowError;
use datafusion_common::{exec_err, DataFusionError, Result};
use datafusion_expr::expr::{Cast, ScalarFunction};
use datafusion_expr::{
    ColumnarValue, Expr, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};

use super::call_values::Arguments;
// A product keeps at least as many decimals as a quotient gets (if its operands
// have as many).
use super::decimal_quotients::SIGNIFICANT_DIGITS;
use crate::operators::divided_half_away_from_zero;

/// Decimal digits of a Decimal128.
const MAX_DIGITS: i32 = DECIMAL128_MAX_PRECISION as i32;

/// The (precision, scale) of two Decimal128 operands, as coerced.
pub type DecimalOperands = ((u8, i8), (u8, i8));

/// `left * right` as `numeric_mul` when their coerced types, `types`, would give an
/// exact product type that loses integer digits; `None` when Arrow's type serves.
pub fn reduced(left: &Expr, right: &Expr, types: DecimalOperands) -> Option<Expr> {
    product_type(types.0, types.1)?;
    let operand = |expr: &Expr, (precision, scale): (u8, i8)| {
        Expr::Cast(Cast::new(
            Box::new(expr.clone()),
            DataType::Decimal128(precision, scale),
        ))
    };
    Some(Expr::ScalarFunction(ScalarFunction::new_udf(
        Arc::new(ScalarUDF::new_from_impl(NumericMultiply::new())),
        vec![operand(left, types.0), operand(right, types.1)],
    )))
}

/// The reduced type of a product of Decimal128(p1, s1) and Decimal128(p2, s2);
/// `None` when the exact one (precision p1 + p2 + 1, scale s1 + s2) has room.
fn product_type((p1, s1): (u8, i8), (p2, s2): (u8, i8)) -> Option<(u8, i8)> {
    let exact_scale = i32::from(s1) + i32::from(s2);
    let integer_digits = i32::from(p1) - i32::from(s1) + i32::from(p2) - i32::from(s2) + 1;
    let kept = (MAX_DIGITS - integer_digits).max(exact_scale.min(SIGNIFICANT_DIGITS));
    if kept >= exact_scale || s1 < 0 || s2 < 0 {
        return None;
    }
    Some((MAX_DIGITS as u8, i8::try_from(kept).ok()?))
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct NumericMultiply {
    signature: Signature,
}

impl NumericMultiply {
    fn new() -> Self {
        NumericMultiply {
            signature: Signature::any(2, Volatility::Immutable),
        }
    }
}

impl ScalarUDFImpl for NumericMultiply {
    fn name(&self) -> &str {
        "numeric_mul"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, args: &[DataType]) -> Result<DataType> {
        match args {
            [DataType::Decimal128(p1, s1), DataType::Decimal128(p2, s2)] => {
                let (precision, scale) = product_type((*p1, *s1), (*p2, *s2))
                    .unwrap_or(((p1 + p2 + 1).min(MAX_DIGITS as u8), s1 + s2));
                Ok(DataType::Decimal128(precision, scale))
            }
            _ => exec_err!("numeric_mul takes two decimals, not {args:?}"),
        }
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let DataType::Decimal128(precision, scale) = *args.return_field.data_type() else {
            return exec_err!("numeric_mul returns a decimal");
        };
        let arguments = Arguments::of(&args.args)?;
        let [left, right] = arguments.arrays.as_slice() else {
            return exec_err!("numeric_mul takes two arguments");
        };
        let exact_scale = match (left.data_type(), right.data_type()) {
            (DataType::Decimal128(_, s1), DataType::Decimal128(_, s2)) => {
                i32::from(*s1) + i32::from(*s2)
            }
            other => return exec_err!("numeric_mul takes two decimals, not {other:?}"),
        };
        let rounding = Rounding::new(exact_scale - i32::from(scale), precision)?;
        let (left, right) = (
            left.as_primitive::<Decimal128Type>(),
            right.as_primitive::<Decimal128Type>(),
        );
        let nulls = NullBuffer::union(left.nulls(), right.nulls());
        let mut values = Vec::with_capacity(left.len());
        for row in 0..left.len() {
            let valid = nulls.as_ref().is_none_or(|n| n.is_valid(row));
            values.push(if valid {
                rounding.product(left.value(row), right.value(row))?
            } else {
                0
            });
        }
        let array = Decimal128Array::new(ScalarBuffer::from(values), nulls)
            .with_precision_and_scale(precision, scale)?;
        arguments.answer(Arc::new(array))
    }
}

/// Rounds exact products to fewer decimals and checks they fit the precision.
struct Rounding {
    divisor: i256,
    limit: i256,
}

impl Rounding {
    fn new(dropped_decimals: i32, precision: u8) -> Result<Self> {
        let ten = i256::from_i128(10);
        let power = |exponent: u32| {
            ten.checked_pow(exponent)
                .ok_or_else(|| overflow("a scale beyond 256 bits"))
        };
        Ok(Rounding {
            divisor: power(dropped_decimals.max(0).unsigned_abs())?,
            limit: power(u32::from(precision))?,
        })
    }

    fn product(&self, left: i128, right: i128) -> Result<i128> {
        // Two 128-bit factors: the product fits 256 bits.
        let exact = i256::from_i128(left).wrapping_mul(i256::from_i128(right));
        let rounded = divided_half_away_from_zero(exact, self.divisor);
        if rounded.wrapping_abs() >= self.limit {
            return Err(overflow("the product has more than 38 digits"));
        }
        rounded
            .to_i128()
            .ok_or_else(|| overflow("the product has more than 38 digits"))
    }
}

pub(super) fn overflow(what: &str) -> DataFusionError {
    DataFusionError::ArrowError(
        Box::new(ArrowError::ComputeError(format!(
            "numeric field overflow: {what}"
        ))),
        None,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn products_that_fit_keep_arrow_type() {
        // TPC-H's l_extendedprice * (1 - l_discount) * (1 + l_tax).
        assert_eq!(product_type((32, 4), (17, 2)), None);
        assert_eq!(product_type((38, 4), (15, 2)), None);
        assert_eq!(product_type((10, 2), (10, 2)), None);
    }

    #[test]
    fn wide_products_keep_integer_digits_or_sixteen_decimals() {
        // Two quotients of 16 decimals: 31 integer digits would leave 7 decimals;
        // 16 are kept.
        assert_eq!(product_type((31, 16), (31, 16)), Some((38, 16)));
        // Scale 48 cannot be typed at all.
        assert_eq!(product_type((38, 16), (31, 16)), Some((38, 16)));
        // Few integer digits: as many decimals as fit.
        assert_eq!(product_type((20, 18), (20, 18)), Some((38, 33)));
    }

    #[test]
    fn products_round_half_away_from_zero_and_overflow_is_an_error() {
        // 1.5 * 0.5 = 0.75 at scale 2, rounded to scale 1.
        let rounding = Rounding::new(1, 38).unwrap();
        assert_eq!(rounding.product(15, 5).unwrap(), 8);
        assert_eq!(rounding.product(-15, 5).unwrap(), -8);
        assert_eq!(rounding.product(14, 5).unwrap(), 7);
        let narrow = Rounding::new(0, 3).unwrap();
        assert_eq!(narrow.product(31, 32).unwrap(), 992);
        assert!(narrow.product(32, 32).is_err());
        let wide = Rounding::new(16, 38).unwrap();
        assert!(wide.product(i128::MAX, i128::MAX).is_err());
    }
}
