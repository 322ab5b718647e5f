//! Decimal division rounded, not truncated. Arrow divides Decimal128 values at the
//! result's scale (the dividend's scale + 4, the type DataFusion gives the division;
//! `sql/decimal_quotients` casts the dividend so that this keeps 16 decimals) by
//! truncating: `2.0 / 3` came out `0.66666` and TPC-DS q66's ratio `0.075248` for
//! `0.0752490982...`. PostgreSQL rounds (half away from zero); so does this, at the
//! same result type. The quotient is computed in 256-bit integers, so no scaling of
//! the dividend overflows; a result beyond the type's precision is an error, as in
//! Arrow.

use std::fmt;
use std::hash::Hash;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, Decimal128Array};
use arrow::buffer::ScalarBuffer;
use arrow::datatypes::{i256, DataType, Decimal128Type, Schema};
use arrow::error::ArrowError;
use arrow::record_batch::RecordBatch;
use datafusion_common::{DataFusionError, Result};
use datafusion_expr::{ColumnarValue, Operator};
use datafusion_physical_expr::expressions::BinaryExpr;
use datafusion_physical_expr::PhysicalExpr;

/// `left / right` over Decimal128 operands, rounded to the result's scale.
#[derive(Debug, Eq)]
pub struct DecimalDivide {
    left: Arc<dyn PhysicalExpr>,
    right: Arc<dyn PhysicalExpr>,
    /// The power of ten the dividend is multiplied by: result scale - left scale +
    /// right scale (the divisor's when negative).
    shift: i32,
    precision: u8,
    scale: i8,
    /// The division it replaces (display, equality, nullability).
    exact: Arc<dyn PhysicalExpr>,
}

impl PartialEq for DecimalDivide {
    fn eq(&self, other: &Self) -> bool {
        self.exact.eq(&other.exact)
    }
}

impl Hash for DecimalDivide {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.exact.hash(state);
    }
}

impl DecimalDivide {
    /// The rounded division standing for `expr`, when it divides decimals.
    pub(super) fn try_new(expr: &Arc<dyn PhysicalExpr>, schema: &Schema) -> Result<Option<Self>> {
        let Some(binary) = expr.downcast_ref::<BinaryExpr>() else {
            return Ok(None);
        };
        if *binary.op() != Operator::Divide {
            return Ok(None);
        }
        let types = (
            binary.left().data_type(schema)?,
            binary.right().data_type(schema)?,
            expr.data_type(schema)?,
        );
        let (
            DataType::Decimal128(_, left_scale),
            DataType::Decimal128(_, right_scale),
            DataType::Decimal128(precision, scale),
        ) = types
        else {
            return Ok(None);
        };
        Ok(Some(DecimalDivide {
            left: Arc::clone(binary.left()),
            right: Arc::clone(binary.right()),
            shift: i32::from(scale) - i32::from(left_scale) + i32::from(right_scale),
            precision,
            scale,
            exact: Arc::clone(expr),
        }))
    }

    fn divide(&self, dividend: i128, divisor: i128) -> Result<i128> {
        rounded_quotient(dividend, divisor, self.shift, self.precision)
    }
}

/// `dividend / divisor` as decimals: the dividend multiplied by 10^`shift` (the
/// divisor by 10^-`shift` when negative), the quotient rounded half away from zero
/// and checked against `precision` digits. Constants are folded with it too, so a
/// constant quotient rounds as a column's does.
///
/// # Errors
/// Division by zero, or a quotient (or scaled operand) too large.
pub(crate) fn rounded_quotient(
    dividend: i128,
    divisor: i128,
    shift: i32,
    precision: u8,
) -> Result<i128> {
    let ten = i256::from_i128(10);
    let power = |exponent: i32| {
        ten.checked_pow(exponent.unsigned_abs())
            .ok_or_else(|| overflow("a scale beyond 256 bits"))
    };
    let (mut dividend, mut divisor) = (i256::from_i128(dividend), i256::from_i128(divisor));
    if shift >= 0 {
        dividend = dividend
            .checked_mul(power(shift)?)
            .ok_or_else(|| overflow("the scaled dividend"))?;
    } else {
        divisor = divisor
            .checked_mul(power(shift)?)
            .ok_or_else(|| overflow("the scaled divisor"))?;
    }
    if divisor == i256::ZERO {
        return Err(DataFusionError::ArrowError(
            Box::new(ArrowError::DivideByZero),
            None,
        ));
    }
    let rounded = divided_half_away_from_zero(dividend, divisor);
    let limit = power(i32::from(precision))?;
    if rounded.wrapping_abs() >= limit {
        return Err(overflow(&format!(
            "the quotient, beyond {precision} digits"
        )));
    }
    rounded
        .to_i128()
        .ok_or_else(|| overflow("the quotient, beyond 128 bits"))
}

/// `dividend / divisor` (not zero) rounded half away from zero.
pub(crate) fn divided_half_away_from_zero(dividend: i256, divisor: i256) -> i256 {
    let quotient = dividend.wrapping_div(divisor);
    let remainder = dividend.wrapping_rem(divisor);
    // |remainder| * 2 >= |divisor| moves one unit outwards.
    let doubled = remainder.wrapping_abs().wrapping_mul(i256::from_i128(2));
    if doubled < divisor.wrapping_abs() {
        return quotient;
    }
    if dividend.is_negative() != divisor.is_negative() {
        quotient.wrapping_sub(i256::ONE)
    } else {
        quotient.wrapping_add(i256::ONE)
    }
}

fn overflow(what: &str) -> DataFusionError {
    DataFusionError::ArrowError(
        Box::new(ArrowError::ComputeError(format!(
            "decimal division overflows: {what}"
        ))),
        None,
    )
}

impl PhysicalExpr for DecimalDivide {
    fn data_type(&self, _schema: &Schema) -> Result<DataType> {
        Ok(DataType::Decimal128(self.precision, self.scale))
    }

    fn nullable(&self, schema: &Schema) -> Result<bool> {
        self.exact.nullable(schema)
    }

    fn evaluate(&self, batch: &RecordBatch) -> Result<ColumnarValue> {
        let rows = batch.num_rows();
        let left = self.left.evaluate(batch)?.into_array(rows)?;
        let right = self.right.evaluate(batch)?.into_array(rows)?;
        let (Some(left), Some(right)) = (
            left.as_primitive_opt::<Decimal128Type>(),
            right.as_primitive_opt::<Decimal128Type>(),
        ) else {
            return self.exact.evaluate(batch);
        };
        let nulls = arrow::buffer::NullBuffer::union(left.nulls(), right.nulls());
        let mut values = Vec::with_capacity(rows);
        for row in 0..rows {
            let valid = nulls.as_ref().is_none_or(|n| n.is_valid(row));
            values.push(if valid {
                self.divide(left.value(row), right.value(row))?
            } else {
                0
            });
        }
        let array = Decimal128Array::new(ScalarBuffer::from(values), nulls)
            .with_precision_and_scale(self.precision, self.scale)?;
        Ok(ColumnarValue::Array(Arc::new(array) as ArrayRef))
    }

    fn children(&self) -> Vec<&Arc<dyn PhysicalExpr>> {
        vec![&self.left, &self.right]
    }

    fn with_new_children(
        self: Arc<Self>,
        children: Vec<Arc<dyn PhysicalExpr>>,
    ) -> Result<Arc<dyn PhysicalExpr>> {
        let (left, right, exact) = super::decimal::rebuilt(&self.exact, children)?;
        Ok(Arc::new(DecimalDivide {
            left,
            right,
            shift: self.shift,
            precision: self.precision,
            scale: self.scale,
            exact,
        }))
    }

    fn fmt_sql(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.exact.fmt_sql(f)
    }
}

impl fmt::Display for DecimalDivide {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.exact, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::datatypes::Field;
    use datafusion_physical_expr::expressions::Column;

    fn divide(left: (i128, u8, i8), right: (i128, u8, i8)) -> Result<String> {
        let schema = Arc::new(Schema::new(vec![
            Field::new("l", DataType::Decimal128(left.1, left.2), true),
            Field::new("r", DataType::Decimal128(right.1, right.2), true),
        ]));
        let batch = RecordBatch::try_new(
            Arc::clone(&schema),
            vec![
                Arc::new(
                    Decimal128Array::from(vec![left.0]).with_precision_and_scale(left.1, left.2)?,
                ),
                Arc::new(
                    Decimal128Array::from(vec![right.0])
                        .with_precision_and_scale(right.1, right.2)?,
                ),
            ],
        )?;
        let exact: Arc<dyn PhysicalExpr> = Arc::new(BinaryExpr::new(
            Arc::new(Column::new("l", 0)),
            Operator::Divide,
            Arc::new(Column::new("r", 1)),
        ));
        let rounded = DecimalDivide::try_new(&exact, &schema)?.expect("decimals divide");
        let result = rounded.evaluate(&batch)?.into_array(1)?;
        Ok(arrow::util::display::array_value_to_string(&result, 0)?)
    }

    #[test]
    fn quotients_round_half_away_from_zero() {
        // 2.0 / 3 at scale 5: 0.666666... rounds up (Arrow's kernel gives 0.66666).
        assert_eq!(divide((20, 2, 1), (3, 20, 0)).unwrap(), "0.66667");
        assert_eq!(divide((-20, 2, 1), (3, 20, 0)).unwrap(), "-0.66667");
        assert_eq!(divide((10, 2, 1), (3, 20, 0)).unwrap(), "0.33333");
        // Exactly half: away from zero.
        assert_eq!(divide((1, 2, 1), (16, 20, 0)).unwrap(), "0.00625");
        assert_eq!(divide((5, 2, 0), (-8, 20, 0)).unwrap(), "-0.6250");
        assert!(divide((1, 2, 1), (0, 20, 0)).is_err());
    }
}
