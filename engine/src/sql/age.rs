//! `age(a, b)`: the difference of two timestamps (or dates) in years, months, days
//! and time, as PostgreSQL counts it: field by field, a negative field borrowing
//! from the next larger one, a month borrowed as the length of the earlier
//! timestamp's month (`age('2001-04-10', '1957-06-13')` is `43 years 9 mons 27
//! days`). `age(b)` is from midnight of today (`current_date`). DataFusion has no
//! such function.

use std::ops::ControlFlow;
use std::sync::Arc;

use arrow::array::{Array, AsArray, IntervalMonthDayNanoArray};
use arrow::compute::cast;
use arrow::datatypes::{DataType, IntervalMonthDayNano, TimeUnit, TimestampMicrosecondType};
use chrono::{DateTime, Datelike, NaiveDateTime, Timelike};
use datafusion_common::{exec_err, plan_err, Result};
use datafusion_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};
use sqlparser::ast::{
    visit_expressions_mut, Expr, FunctionArg, FunctionArgExpr, FunctionArguments, Statement,
};

use super::call_values::Arguments;
use super::pg_compat::function_call;

const NAME: &str = "age";

/// `age(b)` as `age(current_date, b)`, in place.
pub fn from_today(statement: &mut Statement) {
    let _ = visit_expressions_mut(statement, |expr| {
        if let Expr::Function(function) = expr {
            let named_age =
                function.over.is_none() && function.name.to_string().eq_ignore_ascii_case(NAME);
            if let (true, FunctionArguments::List(list)) = (named_age, &mut function.args) {
                if list.args.len() == 1 {
                    let today = function_call("current_date", Vec::new());
                    list.args
                        .insert(0, FunctionArg::Unnamed(FunctionArgExpr::Expr(today)));
                }
            }
        }
        ControlFlow::<()>::Continue(())
    });
}

/// The function, for the registry.
pub fn function() -> Arc<ScalarUDF> {
    Arc::new(ScalarUDF::new_from_impl(Age {
        signature: Signature::any(2, Volatility::Immutable),
    }))
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct Age {
    signature: Signature,
}

impl ScalarUDFImpl for Age {
    fn name(&self) -> &str {
        NAME
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, args: &[DataType]) -> Result<DataType> {
        let temporal = |t: &DataType| {
            matches!(
                t,
                DataType::Date32 | DataType::Date64 | DataType::Timestamp(..) | DataType::Null
            )
        };
        if args.len() != 2 || !args.iter().all(temporal) {
            return plan_err!("age takes timestamps or dates, not {args:?}");
        }
        Ok(DataType::Interval(
            arrow::datatypes::IntervalUnit::MonthDayNano,
        ))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let arguments = Arguments::of(&args.args)?;
        let [later, earlier] = arguments.arrays.as_slice() else {
            return exec_err!("age takes two arguments");
        };
        let micros = DataType::Timestamp(TimeUnit::Microsecond, None);
        let later = cast(later, &micros)?;
        let earlier = cast(earlier, &micros)?;
        let (later, earlier) = (
            later.as_primitive::<TimestampMicrosecondType>(),
            earlier.as_primitive::<TimestampMicrosecondType>(),
        );
        let ages = (0..later.len())
            .map(|row| {
                if later.is_null(row) || earlier.is_null(row) {
                    return Ok(None);
                }
                age(later.value(row), earlier.value(row)).map(Some)
            })
            .collect::<Result<IntervalMonthDayNanoArray>>()?;
        arguments.answer(Arc::new(ages))
    }
}

/// Broken-down time: year, month (1-12), day, hour, minute, second, microsecond.
type Fields = [i64; 7];

fn fields(micros: i64) -> Result<Fields> {
    let Some(time) = DateTime::from_timestamp_micros(micros).map(|t| t.naive_utc()) else {
        return exec_err!("timestamp out of range: {micros} microseconds");
    };
    let time: NaiveDateTime = time;
    Ok([
        i64::from(time.year()),
        i64::from(time.month()),
        i64::from(time.day()),
        i64::from(time.hour()),
        i64::from(time.minute()),
        i64::from(time.second()),
        i64::from(time.nanosecond() / 1000),
    ])
}

/// PostgreSQL's `timestamp_age`.
fn age(later: i64, earlier: i64) -> Result<IntervalMonthDayNano> {
    let (a, b) = (fields(later)?, fields(earlier)?);
    let negative = later < earlier;
    let sign = if negative { -1 } else { 1 };
    let mut d: Fields = std::array::from_fn(|i| sign * (a[i] - b[i]));
    let [year, month, day, hour, minute, second, micro] = [0, 1, 2, 3, 4, 5, 6];
    // Smaller fields borrow from larger ones: (field, units of it in the next).
    for (field, units) in [(micro, 1_000_000), (second, 60), (minute, 60), (hour, 24)] {
        while d[field] < 0 {
            d[field] += units;
            d[field - 1] -= 1;
        }
    }
    // A day borrows a month as long as the earlier timestamp's month (the later
    // one's when the difference is negative), as PostgreSQL does.
    let (borrow_year, borrow_month) = if negative { (a[0], a[1]) } else { (b[0], b[1]) };
    while d[day] < 0 {
        d[day] += days_in_month(borrow_year, borrow_month);
        d[month] -= 1;
    }
    while d[month] < 0 {
        d[month] += 12;
        d[year] -= 1;
    }
    let d = d.map(|value| sign * value);
    let months = d[year] * 12 + d[month];
    let micros = ((d[hour] * 60 + d[minute]) * 60 + d[second]) * 1_000_000 + d[micro];
    let (Ok(months), Ok(days)) = (i32::try_from(months), i32::try_from(d[day])) else {
        return exec_err!("interval out of range");
    };
    Ok(IntervalMonthDayNano::new(months, days, micros * 1000))
}

fn days_in_month(year: i64, month: i64) -> i64 {
    const DAYS: [i64; 12] = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
    let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    let index = usize::try_from(month - 1).unwrap_or(0).min(11);
    DAYS[index] + i64::from(leap && month == 2)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn micros(text: &str) -> i64 {
        NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S%.f")
            .unwrap()
            .and_utc()
            .timestamp_micros()
    }

    /// PostgreSQL 16's answers, as (months, days, microseconds).
    #[test]
    fn ages_match_postgresql() {
        let cases = [
            // 1 year 1 mon 17 days: January's 31 days are borrowed
            ("2024-03-01 00:00:00", "2023-01-15 00:00:00", (13, 17, 0)),
            ("2023-01-15 00:00:00", "2024-03-01 00:00:00", (-13, -17, 0)),
            // 43 years 9 mons 27 days (PostgreSQL's documented example)
            ("2001-04-10 00:00:00", "1957-06-13 00:00:00", (525, 27, 0)),
            // 1 mon 2 days 23:59:59.5
            (
                "2024-02-03 12:00:00",
                "2023-12-31 12:00:00.5",
                (1, 2, 86_399_500_000),
            ),
            ("2024-02-29 00:00:00", "2024-02-29 00:00:00", (0, 0, 0)),
        ];
        for (later, earlier, (months, days, micros_of_day)) in cases {
            let age = age(micros(later), micros(earlier)).unwrap();
            assert_eq!(
                (age.months, age.days, age.nanoseconds / 1000),
                (months, days, micros_of_day),
                "age('{later}', '{earlier}')"
            );
        }
    }
}
