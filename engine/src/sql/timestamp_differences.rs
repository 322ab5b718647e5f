//! `timestamp - timestamp` is an interval in PostgreSQL, of days and a time of day
//! (`'2020-03-02 06:00' - '2020-03-01 00:00'` is `1 day 06:00:00`, never months),
//! and so is a timestamp minus a date or a date minus a timestamp (the date read as
//! its midnight). DataFusion answers a duration instead, which no interval
//! arithmetic, comparison or cast then accepts (`(ts - ts) * 2`, `d - (ts - ts)`,
//! `(ts - ts) < interval '1 day'`); here the difference is planned as a call that
//! answers PostgreSQL's interval.

use std::sync::Arc;

use arrow::array::{AsArray, IntervalMonthDayNanoArray};
use arrow::datatypes::IntervalUnit::MonthDayNano;
use arrow::datatypes::{DataType, IntervalMonthDayNano, TimeUnit, TimestampNanosecondType};
use arrow::error::ArrowError;
use datafusion_common::{exec_err, DFSchema, DataFusionError, Result};
use datafusion_expr::expr::ScalarFunction;
use datafusion_expr::planner::{ExprPlanner, PlannerResult, RawBinaryExpr};
use datafusion_expr::{
    cast, ColumnarValue, Expr, ExprSchemable, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl,
    Signature, Volatility,
};
use sqlparser::ast::BinaryOperator;

use super::call_values::Arguments;

const NAME: &str = "timestamp_difference";
const NANOS_PER_DAY: i64 = 86_400_000_000_000;
const TIMESTAMP: DataType = DataType::Timestamp(TimeUnit::Nanosecond, None);

/// Plans `a - b` as an interval where one side is a timestamp without time zone and
/// the other a timestamp or a date.
#[derive(Debug)]
pub struct TimestampDifferencePlanner;

impl ExprPlanner for TimestampDifferencePlanner {
    fn plan_binary_op(
        &self,
        expr: RawBinaryExpr,
        schema: &DFSchema,
    ) -> Result<PlannerResult<RawBinaryExpr>> {
        let kind = |side: &Expr| match side.get_type(schema) {
            Ok(DataType::Timestamp(_, None)) => Some(true),
            Ok(DataType::Date32 | DataType::Date64) => Some(false),
            _ => None,
        };
        let subtracts_times = expr.op == BinaryOperator::Minus
            && matches!(
                (kind(&expr.left), kind(&expr.right)),
                (Some(true), Some(_)) | (Some(_), Some(true))
            );
        if !subtracts_times {
            return Ok(PlannerResult::Original(expr));
        }
        let args = vec![cast(expr.left, TIMESTAMP), cast(expr.right, TIMESTAMP)];
        Ok(PlannerResult::Planned(Expr::ScalarFunction(
            ScalarFunction::new_udf(function(), args),
        )))
    }
}

/// The function, for the registry.
pub fn function() -> Arc<ScalarUDF> {
    Arc::new(ScalarUDF::from(TimestampDifference {
        signature: Signature::exact(vec![TIMESTAMP, TIMESTAMP], Volatility::Immutable),
    }))
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct TimestampDifference {
    signature: Signature,
}

impl ScalarUDFImpl for TimestampDifference {
    fn name(&self) -> &str {
        NAME
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _args: &[DataType]) -> Result<DataType> {
        Ok(DataType::Interval(MonthDayNano))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let arguments = Arguments::of(&args.args)?;
        let [ends, starts] = arguments.arrays.as_slice() else {
            return exec_err!("{NAME} takes two timestamps");
        };
        let ends = ends.as_primitive::<TimestampNanosecondType>();
        let starts = starts.as_primitive::<TimestampNanosecondType>();
        let mut differences = Vec::with_capacity(ends.len());
        for (end, start) in ends.iter().zip(starts.iter()) {
            differences.push(match (end, start) {
                (Some(end), Some(start)) => Some(difference(end, start)?),
                _ => None,
            });
        }
        arguments.answer(Arc::new(IntervalMonthDayNanoArray::from(differences)))
    }
}

/// PostgreSQL's `timestamp_mi`: the time between, whole days of 24 hours counted
/// as days (`interval_justify_hours`), the rest, of the same sign, as time.
fn difference(end: i64, start: i64) -> Result<IntervalMonthDayNano> {
    let out_of_range = || {
        DataFusionError::from(ArrowError::ArithmeticOverflow(
            "interval out of range".into(),
        ))
    };
    let nanos = end.checked_sub(start).ok_or_else(out_of_range)?;
    let days = i32::try_from(nanos / NANOS_PER_DAY).map_err(|_| out_of_range())?;
    Ok(IntervalMonthDayNano::new(0, days, nanos % NANOS_PER_DAY))
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: i64 = 3_600_000_000_000;

    #[test]
    fn whole_days_are_days_and_the_rest_keeps_its_sign() {
        // PostgreSQL 15: '2020-03-02 06:00' - '2020-03-01' = '1 day 06:00:00'
        assert_eq!(
            difference(30 * HOUR, 0).ok(),
            Some(IntervalMonthDayNano::new(0, 1, 6 * HOUR))
        );
        // '2020-03-01' - '2020-03-02 06:00' = '-1 days -06:00:00'
        assert_eq!(
            difference(0, 30 * HOUR).ok(),
            Some(IntervalMonthDayNano::new(0, -1, -6 * HOUR))
        );
        assert_eq!(
            difference(5 * HOUR, 5 * HOUR).ok(),
            Some(IntervalMonthDayNano::new(0, 0, 0))
        );
    }

    #[test]
    fn a_difference_past_the_range_is_an_error() {
        assert!(difference(i64::MAX, -1).is_err());
    }
}
