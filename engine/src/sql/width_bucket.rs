//! `width_bucket(operand, low, high, count)`: which of `count` equal-width buckets
//! between `low` and `high` holds `operand`, 0 below the range and `count + 1` at or
//! above its end (reversed when `low > high`), as PostgreSQL's float8 version; the
//! histogram function analysts reach for, which DataFusion lacks.

use std::sync::Arc;

use arrow::array::{Array, AsArray, Float64Array, Int32Array};
use arrow::datatypes::{DataType, Float64Type};
use datafusion_common::{exec_err, Result};
use datafusion_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};

use super::call_values::Arguments;
use crate::error::{ErrorCode, TaskError};

/// The function, for the registry.
pub fn function() -> Arc<ScalarUDF> {
    Arc::new(ScalarUDF::new_from_impl(WidthBucket {
        signature: Signature::uniform(4, vec![DataType::Float64], Volatility::Immutable),
    }))
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct WidthBucket {
    signature: Signature,
}

impl ScalarUDFImpl for WidthBucket {
    fn name(&self) -> &str {
        "width_bucket"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _args: &[DataType]) -> Result<DataType> {
        Ok(DataType::Int32)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let arguments = Arguments::of(&args.args)?;
        let [operand, low, high, count] = arguments.arrays.as_slice() else {
            return exec_err!("width_bucket takes four arguments");
        };
        let columns: [&Float64Array; 4] = [
            operand.as_primitive::<Float64Type>(),
            low.as_primitive::<Float64Type>(),
            high.as_primitive::<Float64Type>(),
            count.as_primitive::<Float64Type>(),
        ];
        let buckets = (0..operand.len())
            .map(|row| {
                if columns.iter().any(|column| column.is_null(row)) {
                    return Ok(None);
                }
                let [operand, low, high, count] = columns.map(|column| column.value(row));
                bucket(operand, low, high, count).map(Some)
            })
            .collect::<Result<Int32Array>>()?;
        arguments.answer(Arc::new(buckets))
    }
}

fn bucket(operand: f64, low: f64, high: f64, count: f64) -> Result<i32> {
    if count <= 0.0 || count.fract() != 0.0 || count >= f64::from(i32::MAX) {
        return invalid("count must be a whole number greater than zero");
    }
    if operand.is_nan() || low.is_nan() || high.is_nan() {
        return invalid("operand, lower bound, and upper bound cannot be NaN");
    }
    if !low.is_finite() || !high.is_finite() {
        return invalid("lower and upper bounds must be finite");
    }
    if low == high {
        return invalid("lower bound cannot equal upper bound");
    }
    let (below, at_or_beyond, offset, width) = if low < high {
        (operand < low, operand >= high, operand - low, high - low)
    } else {
        (operand > low, operand <= high, low - operand, low - high)
    };
    let whole = count as i32;
    Ok(if below {
        0
    } else if at_or_beyond {
        whole + 1
    } else {
        // Rounding can land an operand just below the end on `count`; it is the
        // last bucket then.
        ((count * (offset / width)) as i32 + 1).min(whole)
    })
}

fn invalid(message: &str) -> Result<i32> {
    Err(TaskError::new(ErrorCode::DataException, message).into())
}

#[cfg(test)]
mod tests {
    use super::bucket;

    /// PostgreSQL 16's answers.
    #[test]
    fn buckets_match_postgresql() {
        let cases = [
            (5.35, 0.024, 10.06, 5.0, 3),
            (0.0, 0.024, 10.06, 5.0, 0),
            (10.06, 0.024, 10.06, 5.0, 6),
            (5.35, 10.06, 0.024, 5.0, 3),
            (-1.0, 10.06, 0.024, 5.0, 6),
            (11.0, 10.06, 0.024, 5.0, 0),
            (0.024, 0.024, 10.06, 5.0, 1),
        ];
        for (operand, low, high, count, expected) in cases {
            assert_eq!(
                bucket(operand, low, high, count).unwrap(),
                expected,
                "{operand} {low} {high} {count}"
            );
        }
        assert!(bucket(1.0, 1.0, 1.0, 5.0).is_err());
        assert!(bucket(1.0, 0.0, 2.0, 0.0).is_err());
    }
}
