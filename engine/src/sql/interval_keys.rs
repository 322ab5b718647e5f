//! An interval as a number that sorts by the interval's length and gives the interval
//! back: `interval_key(x)` is the length in nanoseconds (a month as 30 days, a day as
//! 24 hours, as PostgreSQL compares) times 2^128 plus the interval's own three fields,
//! a 76-digit decimal; `interval_of_key(k)` takes the fields back out. `min` and `max`
//! of these keys pick the shortest and longest interval as written (`31 days`, not
//! `1 mon 1 day`), and partial aggregation merges them like any decimal.

use std::sync::Arc;

use arrow::array::{Array, AsArray, Decimal256Array, IntervalMonthDayNanoArray};
use arrow::buffer::ScalarBuffer;
use arrow::datatypes::{
    i256, DataType, Decimal256Type, IntervalMonthDayNano, IntervalMonthDayNanoType, IntervalUnit,
};
use datafusion_common::{exec_err, Result};
use datafusion_expr::expr::ScalarFunction;
use datafusion_expr::{
    ColumnarValue, Expr, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};

use super::call_values::Arguments;
use super::interval_order::length_in_nanos;

const INTERVAL: DataType = DataType::Interval(IntervalUnit::MonthDayNano);
/// The largest length (about 2^83 ns) shifted by 128 bits stays below 10^76.
const KEY: DataType = DataType::Decimal256(76, 0);

/// `interval_key(expr)`.
pub fn key(expr: Expr) -> Expr {
    call(
        IntervalKey {
            signature: Signature::exact(vec![INTERVAL], Volatility::Immutable),
        },
        expr,
    )
}

/// `interval_of_key(expr)`.
pub fn interval(expr: Expr) -> Expr {
    call(
        IntervalOfKey {
            signature: Signature::exact(vec![KEY], Volatility::Immutable),
        },
        expr,
    )
}

fn call(function: impl ScalarUDFImpl + 'static, argument: Expr) -> Expr {
    Expr::ScalarFunction(ScalarFunction::new_udf(
        Arc::new(ScalarUDF::new_from_impl(function)),
        vec![argument],
    ))
}

fn packed(interval: IntervalMonthDayNano) -> i256 {
    // Each field as its unsigned bits: the low half only has to be given back.
    let fields = (u128::from(interval.months as u32) << 96)
        | (u128::from(interval.days as u32) << 64)
        | u128::from(interval.nanoseconds as u64);
    i256::from_parts(fields, length_in_nanos(interval))
}

fn unpacked(key: i256) -> IntervalMonthDayNano {
    let (fields, _) = key.to_parts();
    IntervalMonthDayNano::new(
        (fields >> 96) as u32 as i32,
        (fields >> 64) as u32 as i32,
        fields as u64 as i64,
    )
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct IntervalKey {
    signature: Signature,
}

impl ScalarUDFImpl for IntervalKey {
    fn name(&self) -> &str {
        "interval_key"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _args: &[DataType]) -> Result<DataType> {
        Ok(KEY)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let arguments = Arguments::of(&args.args)?;
        let [intervals] = arguments.arrays.as_slice() else {
            return exec_err!("interval_key takes one interval");
        };
        let intervals = intervals.as_primitive::<IntervalMonthDayNanoType>();
        let keys: Vec<i256> = intervals.values().iter().copied().map(packed).collect();
        let array = Decimal256Array::new(ScalarBuffer::from(keys), intervals.nulls().cloned())
            .with_precision_and_scale(76, 0)?;
        arguments.answer(Arc::new(array))
    }
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct IntervalOfKey {
    signature: Signature,
}

impl ScalarUDFImpl for IntervalOfKey {
    fn name(&self) -> &str {
        "interval_of_key"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _args: &[DataType]) -> Result<DataType> {
        Ok(INTERVAL)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let arguments = Arguments::of(&args.args)?;
        let [keys] = arguments.arrays.as_slice() else {
            return exec_err!("interval_of_key takes one key");
        };
        let keys = keys.as_primitive::<Decimal256Type>();
        let intervals: Vec<IntervalMonthDayNano> =
            keys.values().iter().copied().map(unpacked).collect();
        let array =
            IntervalMonthDayNanoArray::new(ScalarBuffer::from(intervals), keys.nulls().cloned());
        arguments.answer(Arc::new(array))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_sort_by_length_and_give_the_interval_back() {
        let day = IntervalMonthDayNano::new(0, 1, 0);
        let hours_24 = IntervalMonthDayNano::new(0, 0, 86_400 * 1_000_000_000);
        let hours_25 = IntervalMonthDayNano::new(0, 0, 25 * 3_600 * 1_000_000_000);
        let month = IntervalMonthDayNano::new(1, 0, 0);
        let days_31 = IntervalMonthDayNano::new(0, 31, 0);
        let minus = IntervalMonthDayNano::new(-1, 2, -3);
        let extreme = IntervalMonthDayNano::new(i32::MIN, i32::MIN, i64::MIN);
        for interval in [day, hours_24, hours_25, month, days_31, minus, extreme] {
            assert_eq!(unpacked(packed(interval)), interval);
        }
        assert!(packed(hours_25) > packed(day) && packed(hours_25) > packed(hours_24));
        assert!(packed(days_31) > packed(month));
        assert!(packed(minus) < packed(day) && packed(extreme) < packed(minus));
        assert_ne!(packed(day), packed(hours_24));
    }
}
