//! `interval * number`, `number * interval` and `interval / number`, as PostgreSQL
//! computes them (`interval '1 day' * 3` is `3 days`, `interval '1 month' * 1.5` is
//! `1 mon 15 days`). Arrow has no kernel for them and DataFusion refuses them at
//! planning ("Invalid interval arithmetic operation"); here they become a call of
//! one function that scales each field and carries fractions of months down to days
//! (30 to a month) and of days down to time (24 hours to a day), never up, as
//! PostgreSQL's `interval_mul` does. The operands are told apart by their types as
//! the operator is planned (an expression planner), so an interval column scales
//! like a literal.

use std::sync::Arc;

use arrow::array::{AsArray, IntervalMonthDayNanoArray};
use arrow::datatypes::IntervalUnit::MonthDayNano;
use arrow::datatypes::{DataType, Float64Type, IntervalMonthDayNano, IntervalMonthDayNanoType};
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

const MULTIPLY: &str = "interval_mul";
const DIVIDE: &str = "interval_div";
const DAYS_PER_MONTH: f64 = 30.0;
const NANOS_PER_DAY: f64 = 86_400e9;

/// Plans a product or quotient of an interval and a number as a call.
#[derive(Debug)]
pub struct IntervalScalingPlanner;

impl ExprPlanner for IntervalScalingPlanner {
    fn plan_binary_op(
        &self,
        expr: RawBinaryExpr,
        schema: &DFSchema,
    ) -> Result<PlannerResult<RawBinaryExpr>> {
        let kind = |side: &Expr| match side.get_type(schema) {
            Ok(DataType::Interval(MonthDayNano)) => Operand::Interval,
            Ok(data_type) if data_type.is_numeric() || data_type == DataType::Null => {
                Operand::Number
            }
            _ => Operand::Other,
        };
        let (left_kind, right_kind) = (kind(&expr.left), kind(&expr.right));
        let RawBinaryExpr { op, left, right } = expr;
        let (divide, interval, factor) = match (&op, left_kind, right_kind) {
            (BinaryOperator::Multiply, Operand::Interval, Operand::Number) => (false, left, right),
            (BinaryOperator::Multiply, Operand::Number, Operand::Interval) => (false, right, left),
            (BinaryOperator::Divide, Operand::Interval, Operand::Number) => (true, left, right),
            _ => return Ok(PlannerResult::Original(RawBinaryExpr { op, left, right })),
        };
        let udf = Arc::new(ScalarUDF::from(IntervalScaling::new(divide)));
        let args = vec![interval, cast(factor, DataType::Float64)];
        Ok(PlannerResult::Planned(Expr::ScalarFunction(
            ScalarFunction::new_udf(udf, args),
        )))
    }
}

#[derive(Clone, Copy)]
enum Operand {
    Interval,
    Number,
    Other,
}

/// The two functions, for the registry (a user may also call them by name).
pub fn functions() -> [Arc<ScalarUDF>; 2] {
    [false, true].map(|divide| Arc::new(ScalarUDF::from(IntervalScaling::new(divide))))
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct IntervalScaling {
    divide: bool,
    signature: Signature,
}

impl IntervalScaling {
    fn new(divide: bool) -> Self {
        IntervalScaling {
            divide,
            signature: Signature::exact(
                vec![DataType::Interval(MonthDayNano), DataType::Float64],
                Volatility::Immutable,
            ),
        }
    }
}

impl ScalarUDFImpl for IntervalScaling {
    fn name(&self) -> &str {
        if self.divide {
            DIVIDE
        } else {
            MULTIPLY
        }
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _args: &[DataType]) -> Result<DataType> {
        Ok(DataType::Interval(MonthDayNano))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let arguments = Arguments::of(&args.args)?;
        let [intervals, factors] = arguments.arrays.as_slice() else {
            return exec_err!("{} takes an interval and a number", self.name());
        };
        let intervals = intervals.as_primitive::<IntervalMonthDayNanoType>();
        let factors = factors.as_primitive::<Float64Type>();
        let mut scaled = Vec::with_capacity(intervals.len());
        for (interval, factor) in intervals.iter().zip(factors.iter()) {
            scaled.push(match (interval, factor) {
                (Some(interval), Some(factor)) => Some(self.apply(interval, factor)?),
                _ => None,
            });
        }
        arguments.answer(Arc::new(IntervalMonthDayNanoArray::from(scaled)))
    }
}

impl IntervalScaling {
    fn apply(&self, interval: IntervalMonthDayNano, factor: f64) -> Result<IntervalMonthDayNano> {
        if self.divide {
            if factor == 0.0 {
                return Err(DataFusionError::from(ArrowError::DivideByZero));
            }
            scale(interval, |field| field / factor)
        } else {
            scale(interval, |field| field * factor)
        }
    }
}

/// PostgreSQL's `interval_mul`: each field scaled, then carried down.
fn scale(interval: IntervalMonthDayNano, by: impl Fn(f64) -> f64) -> Result<IntervalMonthDayNano> {
    from_fractions(
        by(f64::from(interval.months)),
        by(f64::from(interval.days)),
        by(interval.nanoseconds as f64),
    )
}

/// An interval of fractional fields as PostgreSQL's `interval_mul` and
/// `interval_div` make one: the fraction of months carried into days and the
/// fraction of days into time, each rounded to the microsecond, as is the time.
pub(super) fn from_fractions(months: f64, days: f64, nanos: f64) -> Result<IntervalMonthDayNano> {
    let whole_months = months.trunc();
    let carried_days = micro_rounded((months - whole_months) * DAYS_PER_MONTH);
    let mut whole_days = days.trunc() + carried_days.trunc();
    let mut carried_nanos =
        micro_rounded((days - days.trunc() + carried_days.fract()) * 86_400.0) * 1e9;
    if carried_nanos.abs() >= NANOS_PER_DAY {
        let extra_days = (carried_nanos / NANOS_PER_DAY).trunc();
        whole_days += extra_days;
        carried_nanos -= extra_days * NANOS_PER_DAY;
    }
    let nanos = ((nanos + carried_nanos) / 1e3).round_ties_even() * 1e3;
    let in_range = |value: f64, limit: f64| value.is_finite() && value.abs() <= limit;
    if !in_range(whole_months, f64::from(i32::MAX))
        || !in_range(whole_days, f64::from(i32::MAX))
        || !in_range(nanos, 9.2e18)
    {
        return Err(DataFusionError::from(ArrowError::ArithmeticOverflow(
            "interval out of range".to_string(),
        )));
    }
    Ok(IntervalMonthDayNano::new(
        whole_months as i32,
        whole_days as i32,
        nanos as i64,
    ))
}

/// PostgreSQL's `TSROUND`: to the nearest microsecond of a second count.
fn micro_rounded(value: f64) -> f64 {
    (value * 1e6).round_ties_even() / 1e6
}

#[cfg(test)]
mod tests {
    use super::*;

    fn times(months: i32, days: i32, seconds: f64, factor: f64) -> (i32, i32, f64) {
        let interval = IntervalMonthDayNano::new(months, days, (seconds * 1e9) as i64);
        let scaled = scale(interval, |field| field * factor).expect("in range");
        (scaled.months, scaled.days, scaled.nanoseconds as f64 / 1e9)
    }

    #[test]
    fn fractions_carry_down_as_in_postgresql() {
        // PostgreSQL 16: interval '1 month' * 1.5 = '1 mon 15 days'
        assert_eq!(times(1, 0, 0.0, 1.5), (1, 15, 0.0));
        // interval '1 day' * 1.5 = '1 day 12:00:00'
        assert_eq!(times(0, 1, 0.0, 1.5), (0, 1, 43_200.0));
        // interval '1 mon 1 day 1 hour' * 3 = '3 mons 3 days 03:00:00'
        assert_eq!(times(1, 1, 3600.0, 3.0), (3, 3, 10_800.0));
        // interval '1 month' * 0.1 = '3 days'
        assert_eq!(times(1, 0, 0.0, 0.1), (0, 3, 0.0));
        // interval '-1 day -2 hours' * 0.5 = '-13:00:00'
        assert_eq!(times(0, -1, -7200.0, 0.5), (0, 0, -46_800.0));
        // interval '2 microseconds' / 3 = '00:00:00.000001' (time rounds to microseconds)
        assert_eq!(times(0, 0, 2e-6, 1.0 / 3.0), (0, 0, 1e-6));
    }

    #[test]
    fn out_of_range_is_an_error() {
        let interval = IntervalMonthDayNano::new(i32::MAX, 0, 0);
        assert!(scale(interval, |field| field * 2.0).is_err());
    }
}
