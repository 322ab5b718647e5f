//! Intervals compare and sort as PostgreSQL's do: by their length, a month as 30
//! days and a day as 24 hours, so `interval '25 hours' > interval '1 day'` and
//! `interval '24 hours' = interval '1 day'` are true. Arrow compares the (months,
//! days, nanoseconds) fields in turn, so 25 hours was less than a day, and
//! `ts2 - ts1 > interval '1 day'` (a duration of 25 hours, cast to an interval of
//! 25 hours) was false. Each comparison of two intervals (BETWEEN too) and each
//! ORDER BY key of an interval compares `interval_span(x)`, the length in
//! nanoseconds as a 38-digit decimal (every interval's fits).

use std::sync::Arc;

use arrow::array::{Array, AsArray, Decimal128Array};
use arrow::buffer::ScalarBuffer;
use arrow::datatypes::{DataType, IntervalMonthDayNano, IntervalMonthDayNanoType, IntervalUnit};
use datafusion_common::tree_node::Transformed;
use datafusion_common::{exec_err, DFSchema, Result};
use datafusion_expr::expr::{BinaryExpr, ScalarFunction};
use datafusion_expr::{
    Between, ColumnarValue, Expr, ExprSchemable, LogicalPlan, ScalarFunctionArgs, ScalarUDF,
    ScalarUDFImpl, Signature, Volatility,
};

use super::call_values::Arguments;
use super::expr_rewrite::map_keeping_names;
use super::float_peers::is_comparison;

const NANOS_PER_DAY: i128 = 86_400 * 1_000_000_000;
const SPAN: DataType = DataType::Decimal128(38, 0);

/// Rewrites every interval comparison and sort key in `plan` (typed: after the
/// analyzer).
pub fn by_length(plan: LogicalPlan) -> Result<LogicalPlan> {
    plan.transform_up_with_subqueries(|node| match node {
        LogicalPlan::Sort(mut sort) => {
            let schema = Arc::clone(sort.input.schema());
            let mut changed = false;
            for key in &mut sort.expr {
                if is_interval(&key.expr, &schema) {
                    key.expr = span(key.expr.clone());
                    changed = true;
                }
            }
            Ok(Transformed::new_transformed(
                LogicalPlan::Sort(sort),
                changed,
            ))
        }
        other => map_keeping_names(other, compared_by_length),
    })
    .map(|transformed| transformed.data)
}

fn compared_by_length(expr: Expr, schema: &DFSchema) -> Result<Transformed<Expr>> {
    match expr {
        Expr::BinaryExpr(BinaryExpr { left, op, right })
            if is_comparison(op) && is_interval(&left, schema) && is_interval(&right, schema) =>
        {
            Ok(Transformed::yes(Expr::BinaryExpr(BinaryExpr {
                left: Box::new(span(*left)),
                op,
                right: Box::new(span(*right)),
            })))
        }
        Expr::Between(Between {
            expr,
            negated,
            low,
            high,
        }) if is_interval(&expr, schema)
            && is_interval(&low, schema)
            && is_interval(&high, schema) =>
        {
            Ok(Transformed::yes(Expr::Between(Between {
                expr: Box::new(span(*expr)),
                negated,
                low: Box::new(span(*low)),
                high: Box::new(span(*high)),
            })))
        }
        other => Ok(Transformed::no(other)),
    }
}

pub(super) fn is_interval(expr: &Expr, schema: &DFSchema) -> bool {
    matches!(
        expr.get_type(schema),
        Ok(DataType::Interval(IntervalUnit::MonthDayNano))
    )
}

pub(super) fn span(expr: Expr) -> Expr {
    Expr::ScalarFunction(ScalarFunction::new_udf(
        Arc::new(ScalarUDF::new_from_impl(IntervalSpan {
            signature: Signature::exact(
                vec![DataType::Interval(IntervalUnit::MonthDayNano)],
                Volatility::Immutable,
            ),
        })),
        vec![expr],
    ))
}

/// An interval's length as PostgreSQL compares intervals: a month as 30 days, a day
/// as 24 hours.
pub(super) fn length_in_nanos(interval: IntervalMonthDayNano) -> i128 {
    (i128::from(interval.months) * 30 + i128::from(interval.days)) * NANOS_PER_DAY
        + i128::from(interval.nanoseconds)
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct IntervalSpan {
    signature: Signature,
}

impl ScalarUDFImpl for IntervalSpan {
    fn name(&self) -> &str {
        "interval_span"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _args: &[DataType]) -> Result<DataType> {
        Ok(SPAN)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let arguments = Arguments::of(&args.args)?;
        let [intervals] = arguments.arrays.as_slice() else {
            return exec_err!("interval_span takes one interval");
        };
        let intervals = intervals.as_primitive::<IntervalMonthDayNanoType>();
        let spans: Vec<i128> = intervals
            .values()
            .iter()
            .copied()
            .map(length_in_nanos)
            .collect();
        let array = Decimal128Array::new(ScalarBuffer::from(spans), intervals.nulls().cloned())
            .with_precision_and_scale(38, 0)?;
        arguments.answer(Arc::new(array))
    }
}
