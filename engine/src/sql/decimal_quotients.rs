//! Decimal quotients with PostgreSQL's significant digits. DataFusion types `a / b`
//! over decimals with the dividend's scale + 4, so `1 / 300000.0` was `0.0000`,
//! `1 / 3.0` `0.3333` and a share `count(*) * 1.0 / count(*)` kept five digits;
//! PostgreSQL gives a quotient at least 16 significant digits (and no fewer decimals
//! than either operand). Its scale depends on the values; a column's type cannot, so
//! a quotient gets 16 decimals (or more, by the operands' scales) wherever its type
//! still holds every integer digit the operands allow (38 digits in all), and never
//! fewer than DataFusion's scale. The dividend is cast to the scale that makes the
//! division come out at that scale: exact (zeros appended), and the quotient is
//! rounded by our decimal division as before. Products of such quotients would
//! outgrow 38 digits; `decimal_products` bounds them.

use arrow::datatypes::{DataType, DECIMAL128_MAX_PRECISION};
use datafusion_common::tree_node::Transformed;
use datafusion_common::{DFSchema, Result};
use datafusion_expr::expr::{BinaryExpr, Cast};
use datafusion_expr::{Expr, ExprSchemable, LogicalPlan, Operator};

use super::decimal_products::{self, DecimalOperands};
use super::expr_rewrite::retyped;

/// Decimal digits of a Decimal128.
const MAX_DIGITS: i32 = DECIMAL128_MAX_PRECISION as i32;
/// PostgreSQL's NUMERIC_MIN_SIG_DIGITS: a quotient no less accurate than a double.
pub(super) const SIGNIFICANT_DIGITS: i32 = 16;
/// The scale DataFusion's division adds to the dividend's.
const DATAFUSION_EXTRA_SCALE: i32 = 4;

/// Widens every decimal division of `plan`, and reduces the products that would
/// not fit (`decimal_products`), bottom-up, so an operand's new type is known where
/// it is used (before the analyzer: the new types are coerced and propagated like
/// any other).
pub fn widened(plan: LogicalPlan) -> Result<LogicalPlan> {
    retyped(plan, widen)
}

fn widen(expr: Expr, schema: &DFSchema) -> Result<Transformed<Expr>> {
    let Expr::BinaryExpr(BinaryExpr { left, op, right }) = &expr else {
        return Ok(Transformed::no(expr));
    };
    if !matches!(op, Operator::Divide | Operator::Multiply) {
        return Ok(Transformed::no(expr));
    }
    // Outer references of a correlated subquery are not in `schema`; such an
    // expression keeps DataFusion's type.
    let (Ok(left_type), Ok(right_type)) = (left.get_type(schema), right.get_type(schema)) else {
        return Ok(Transformed::no(expr));
    };
    let Some(types) = decimal_operands(&left_type, &right_type) else {
        return Ok(Transformed::no(expr));
    };
    if *op == Operator::Multiply {
        return Ok(match decimal_products::reduced(left, right, types) {
            Some(call) => Transformed::yes(call),
            None => Transformed::no(expr),
        });
    }
    let ((p1, s1), (_, s2)) = types;
    let Some(dividend) = dividend_type(i32::from(p1), i32::from(s1), i32::from(s2)) else {
        return Ok(Transformed::no(expr));
    };
    let Expr::BinaryExpr(BinaryExpr { left, op, right }) = expr else {
        unreachable!("matched above");
    };
    Ok(Transformed::yes(Expr::BinaryExpr(BinaryExpr::new(
        Box::new(Expr::Cast(Cast::new(left, dividend))),
        op,
        right,
    ))))
}

/// The Decimal128 (precision, scale) pairs DataFusion coerces the operands of an
/// arithmetic operator to, when one is a Decimal128 and the other a decimal or an
/// integer (as wide as the integer's largest value). Worked out here: DataFusion's
/// coercer also types the result, and fails where the product needs `numeric_mul`.
fn decimal_operands(left: &DataType, right: &DataType) -> Option<DecimalOperands> {
    fn as_decimal(data_type: &DataType) -> Option<(u8, i8)> {
        Some(match data_type {
            DataType::Decimal128(precision, scale) => (*precision, *scale),
            DataType::Int8 | DataType::UInt8 => (3, 0),
            DataType::Int16 | DataType::UInt16 => (5, 0),
            DataType::Int32 | DataType::UInt32 => (10, 0),
            DataType::Int64 | DataType::UInt64 => (20, 0),
            _ => return None,
        })
    }
    if !matches!(left, DataType::Decimal128(..)) && !matches!(right, DataType::Decimal128(..)) {
        return None;
    }
    Some((as_decimal(left)?, as_decimal(right)?))
}

/// The type to cast a Decimal128(`p1`, `s1`) dividend to, over a divisor of scale
/// `s2`, so the quotient's scale is PostgreSQL-like; `None` where DataFusion's
/// scale is already as wide as fits.
fn dividend_type(p1: i32, s1: i32, s2: i32) -> Option<DataType> {
    let datafusion_scale = (s1 + DATAFUSION_EXTRA_SCALE).min(MAX_DIGITS);
    let wanted = SIGNIFICANT_DIGITS.max(s1 + DATAFUSION_EXTRA_SCALE).max(s2);
    // The quotient's integer digits: the dividend's, plus the divisor's decimals
    // (dividing by 0.01 multiplies by 100).
    let integer_digits = p1 - s1 + s2;
    let scale = wanted.min(MAX_DIGITS - integer_digits);
    if scale <= datafusion_scale {
        return None;
    }
    // Arrow's division adds 4 to the dividend's scale.
    let dividend_scale = scale - DATAFUSION_EXTRA_SCALE;
    let precision = p1 - s1 + dividend_scale;
    Some(DataType::Decimal128(
        u8::try_from(precision).ok()?,
        i8::try_from(dividend_scale).ok()?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotients_get_sixteen_decimals_where_their_integer_digits_allow() {
        // An integer over one decimal (1 / 3.0): 16 decimals, so the dividend 12.
        assert_eq!(dividend_type(20, 0, 1), Some(DataType::Decimal128(32, 12)));
        // Money over money: 16 decimals.
        assert_eq!(dividend_type(15, 2, 2), Some(DataType::Decimal128(25, 12)));
        // A sum over a sum (25 digits, scale 2): what fits, 13 decimals.
        assert_eq!(dividend_type(25, 2, 2), Some(DataType::Decimal128(32, 9)));
        // A divisor with many decimals asks for as many in the quotient: 18.
        assert_eq!(dividend_type(2, 0, 18), Some(DataType::Decimal128(16, 14)));
    }

    #[test]
    fn wide_operands_keep_datafusion_scale() {
        // 38 integer digits already: nothing to give.
        assert_eq!(dividend_type(38, 4, 4), None);
        // A dividend already at 16 decimals or more.
        assert_eq!(dividend_type(30, 20, 2), None);
    }
}
