//! `date ± interval` keeps the interval's hours, minutes and seconds. DataFusion
//! answers a date for it and drops them (`date '2020-01-01' - interval '1 second'`
//! was 2020-01-01; PostgreSQL: 2019-12-31 23:59:59). Here the date becomes a
//! timestamp first, as PostgreSQL types `date + interval`, unless the interval is a
//! constant of whole days and months: those keep the date type, whose value is the
//! same instant, so `l_shipdate <= date '1998-12-01' - interval '90' day` still
//! compares dates (and prunes by date statistics). `date ± n` for an integer `n`
//! adds days.

use arrow::datatypes::{DataType, IntervalUnit, TimeUnit};
use datafusion_common::tree_node::Transformed;

use super::expr_rewrite::retyped;
use datafusion_common::{DFSchema, Result, ScalarValue};
use datafusion_expr::expr::{BinaryExpr, Cast};
use datafusion_expr::{Expr, ExprSchemable, LogicalPlan, Operator};

/// Rewrites every expression of `plan` (before the analyzer: the new types are
/// coerced like any other).
pub fn with_time_of_day(plan: LogicalPlan) -> Result<LogicalPlan> {
    retyped(plan, timestamped)
}

fn timestamped(expr: Expr, schema: &DFSchema) -> Result<Transformed<Expr>> {
    let Expr::BinaryExpr(BinaryExpr {
        mut left,
        op,
        mut right,
    }) = expr
    else {
        return Ok(Transformed::no(expr));
    };
    let is_date = |side: &Expr| {
        side.get_type(schema)
            .is_ok_and(|kind| matches!(kind, DataType::Date32 | DataType::Date64))
    };
    let is_interval = |side: &Expr| {
        side.get_type(schema)
            .is_ok_and(|kind| matches!(kind, DataType::Interval(_)))
    };
    let is_integer = |side: &Expr| side.get_type(schema).is_ok_and(|kind| kind.is_integer());
    match op {
        Operator::Plus | Operator::Minus if is_date(&left) && is_integer(&right) => {
            return Ok(Transformed::yes(Expr::BinaryExpr(BinaryExpr {
                left,
                op,
                right: Box::new(as_days(*right)),
            })));
        }
        Operator::Plus if is_integer(&left) && is_date(&right) => {
            return Ok(Transformed::yes(Expr::BinaryExpr(BinaryExpr {
                left: Box::new(as_days(*left)),
                op,
                right,
            })));
        }
        _ => {}
    }
    let date_side = match op {
        Operator::Plus | Operator::Minus
            if is_date(&left) && is_interval(&right) && !whole_days(&right) =>
        {
            Some(&mut left)
        }
        Operator::Plus if is_interval(&left) && is_date(&right) && !whole_days(&left) => {
            Some(&mut right)
        }
        _ => None,
    };
    let transformed = match date_side {
        Some(date) => {
            let inner = std::mem::replace(date.as_mut(), Expr::Literal(ScalarValue::Null, None));
            **date = as_timestamp(inner);
            true
        }
        None => false,
    };
    Ok(Transformed::new_transformed(
        Expr::BinaryExpr(BinaryExpr { left, op, right }),
        transformed,
    ))
}

/// A constant interval without a time of day (`interval '90' day`, `'1 month'`).
fn whole_days(expr: &Expr) -> bool {
    match expr {
        Expr::Literal(ScalarValue::IntervalYearMonth(_), _) => true,
        Expr::Literal(ScalarValue::IntervalDayTime(Some(value)), _) => value.milliseconds == 0,
        Expr::Literal(ScalarValue::IntervalMonthDayNano(Some(value)), _) => value.nanoseconds == 0,
        _ => false,
    }
}

/// A number of days as an interval, as the analyzer would type `date + n` but here,
/// before it: its rewrite renamed the expression, and inside ROLLUP, CUBE or GROUPING
/// SETS that hid the key's output column (`group by rollup (d + 4)` failed).
fn as_days(days: Expr) -> Expr {
    let seconds = Expr::Cast(Cast::new(
        Box::new(days * Expr::Literal(ScalarValue::Int64(Some(86_400)), None)),
        DataType::Duration(TimeUnit::Second),
    ));
    Expr::Cast(Cast::new(
        Box::new(seconds),
        DataType::Interval(IntervalUnit::MonthDayNano),
    ))
}

fn as_timestamp(expr: Expr) -> Expr {
    Expr::Cast(Cast::new(
        Box::new(expr),
        DataType::Timestamp(TimeUnit::Nanosecond, None),
    ))
}
