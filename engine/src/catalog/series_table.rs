//! `generate_series(start, stop [, step])` in FROM, as in PostgreSQL: integers
//! (step 1 by default), or timestamps (and dates, read as midnight) stepped by an
//! interval. The series is a table of one column, `generate_series`, split like any
//! table: partition `p` of `P` generates the `p`-th of `P` contiguous runs of it, in
//! batches as the scan asks, so a long series is never held whole.
//!
//! A step with months is added again and again as PostgreSQL does (from January
//! 31st, one month on is February 29th and then March 29th), so such a series is
//! walked rather than computed; timestamps between years 1677 and 2262 bound it.

use std::ops::Range;
use std::sync::Arc;

use arrow::array::timezone::Tz;
use arrow::array::{ArrayRef, Int64Array, TimestampNanosecondArray};
use arrow::datatypes::{
    DataType, Field, IntervalMonthDayNano, Schema, SchemaRef, TimeUnit, TimestampNanosecondType,
};
use datafusion_common::{plan_err, Result, ScalarValue};

use super::Table;

/// The table function's name, and its column's.
pub const NAME: &str = "generate_series";

/// The most rows a series stepped by months may have (it is walked when planned).
const MAX_WALKED_ROWS: u64 = 10_000_000;

const NANOS_PER_DAY: i128 = 86_400_000_000_000;

#[derive(Debug, Clone, Copy, PartialEq)]
enum Step {
    /// Added as a number: the integer step, or a timestamp step in nanoseconds.
    Fixed(i64),
    /// An interval with months, added one step at a time.
    Calendar(IntervalMonthDayNano),
}

/// One series: its first value, its step and its length.
#[derive(Debug, Clone, PartialEq)]
pub struct SeriesSource {
    timestamps: bool,
    start: i64,
    step: Step,
    len: u64,
}

/// The table `generate_series(args)` reads, over `partitions`.
///
/// # Errors
/// Other than two or three arguments, arguments of other types (numeric series are
/// not supported), and a step of zero.
pub fn series_table(args: &[ScalarValue], partitions: usize) -> Result<Table> {
    let source = match args {
        [start, stop] if start.data_type().is_integer() => integer_series(start, stop, None)?,
        [start, stop, step] if start.data_type().is_integer() => {
            integer_series(start, stop, Some(step))?
        }
        [start, stop, step] if is_time(start) => timestamp_series(start, stop, step)?,
        [start, _] if is_time(start) => {
            return plan_err!("generate_series of timestamps needs an interval step");
        }
        [start, ..] if args.len() <= 3 => {
            return plan_err!(
                "generate_series of {} is not supported: integers, or timestamps and dates \
                 with an interval step",
                start.data_type()
            );
        }
        _ => return plan_err!("generate_series takes 2 or 3 arguments, not {}", args.len()),
    };
    let kind = if source.timestamps {
        DataType::Timestamp(TimeUnit::Nanosecond, None)
    } else {
        DataType::Int64
    };
    let schema: SchemaRef = Arc::new(Schema::new(vec![Field::new(NAME, kind, false)]));
    let mut table = Table::unkeyed(NAME, schema, vec![Vec::new(); partitions.max(1)]);
    table.row_count = usize::try_from(source.len).unwrap_or(usize::MAX);
    table.series = Some(Arc::new(source));
    Ok(table)
}

fn is_time(value: &ScalarValue) -> bool {
    matches!(
        value.data_type(),
        DataType::Timestamp(_, _) | DataType::Date32 | DataType::Date64
    )
}

fn integer_series(
    start: &ScalarValue,
    stop: &ScalarValue,
    step: Option<&ScalarValue>,
) -> Result<SeriesSource> {
    let as_integer = |value: &ScalarValue| -> Result<Option<i64>> {
        if !value.data_type().is_integer() && !value.is_null() {
            return plan_err!(
                "generate_series of integers takes integer arguments, not {}",
                value.data_type()
            );
        }
        match value.cast_to(&DataType::Int64)? {
            ScalarValue::Int64(v) => Ok(v),
            other => plan_err!("generate_series argument {other} is not an integer"),
        }
    };
    let step = match step {
        Some(step) => as_integer(step)?,
        None => Some(1),
    };
    let (Some(start), Some(stop), Some(step)) = (as_integer(start)?, as_integer(stop)?, step)
    else {
        return Ok(SeriesSource::empty(false));
    };
    fixed_series(false, start, stop, step)
}

fn timestamp_series(
    start: &ScalarValue,
    stop: &ScalarValue,
    step: &ScalarValue,
) -> Result<SeriesSource> {
    let nanos = DataType::Timestamp(TimeUnit::Nanosecond, None);
    let as_nanos = |value: &ScalarValue| -> Result<Option<i64>> {
        match value.cast_to(&nanos)? {
            ScalarValue::TimestampNanosecond(v, _) => Ok(v),
            other => plan_err!("generate_series argument {other} is not a timestamp"),
        }
    };
    let step = match step.cast_to(&DataType::Interval(
        arrow::datatypes::IntervalUnit::MonthDayNano,
    )) {
        Ok(ScalarValue::IntervalMonthDayNano(step)) => step,
        _ => {
            return plan_err!(
                "generate_series of timestamps takes an interval step, not {}",
                step.data_type()
            )
        }
    };
    let (Some(start), Some(stop), Some(step)) = (as_nanos(start)?, as_nanos(stop)?, step) else {
        return Ok(SeriesSource::empty(true));
    };
    if step.months == 0 {
        let nanos = i128::from(step.days) * NANOS_PER_DAY + i128::from(step.nanoseconds);
        let Ok(nanos) = i64::try_from(nanos) else {
            return plan_err!("generate_series step is out of range");
        };
        return fixed_series(true, start, stop, nanos);
    }
    let direction = (i128::from(step.months) * 30 + i128::from(step.days)) * NANOS_PER_DAY
        + i128::from(step.nanoseconds);
    if direction == 0 {
        return plan_err!("generate_series step size cannot equal zero");
    }
    let mut source = SeriesSource {
        timestamps: true,
        start,
        step: Step::Calendar(step),
        len: 0,
    };
    let mut value = Some(start);
    while let Some(current) = value.filter(|v| {
        if direction > 0 {
            *v <= stop
        } else {
            *v >= stop
        }
    }) {
        source.len += 1;
        if source.len > MAX_WALKED_ROWS {
            return plan_err!(
                "generate_series stepped by months has more than {MAX_WALKED_ROWS} rows"
            );
        }
        value = source.next_value(current);
    }
    Ok(source)
}

fn fixed_series(timestamps: bool, start: i64, stop: i64, step: i64) -> Result<SeriesSource> {
    if step == 0 {
        return plan_err!("generate_series step size cannot equal zero");
    }
    let distance = i128::from(stop) - i128::from(start);
    let len = if distance == 0 || (distance > 0) == (step > 0) {
        u64::try_from(distance / i128::from(step) + 1).unwrap_or(0)
    } else {
        0
    };
    Ok(SeriesSource {
        timestamps,
        start,
        step: Step::Fixed(step),
        len,
    })
}

impl SeriesSource {
    fn empty(timestamps: bool) -> Self {
        SeriesSource {
            timestamps,
            start: 0,
            step: Step::Fixed(1),
            len: 0,
        }
    }

    /// Rows in the whole series.
    pub fn row_count(&self) -> u64 {
        self.len
    }

    /// The positions partition `partition` of `partitions` generates.
    pub fn share(&self, partition: usize, partitions: usize) -> Range<u64> {
        let partitions = partitions.max(1) as u128;
        let at = |p: u128| u64::try_from(u128::from(self.len) * p / partitions).unwrap_or(0);
        at(partition as u128)..at(partition as u128 + 1)
    }

    /// The value at `position` (which is within the series).
    pub fn value_at(&self, position: u64) -> i64 {
        match self.step {
            Step::Fixed(step) => {
                // Within the series, so between start and stop: no overflow.
                (i128::from(self.start) + i128::from(position) * i128::from(step)) as i64
            }
            Step::Calendar(_) => {
                let mut value = self.start;
                for _ in 0..position {
                    value = self.next_value(value).unwrap_or(value);
                }
                value
            }
        }
    }

    /// The value after `value`: `None` past the end of the timestamp range.
    pub fn next_value(&self, value: i64) -> Option<i64> {
        match self.step {
            Step::Fixed(step) => value.checked_add(step),
            Step::Calendar(step) => {
                let utc: Tz = "+00:00".parse().ok()?;
                TimestampNanosecondType::add_month_day_nano(value, step, utc)
            }
        }
    }

    /// `values` as the series' column.
    pub fn column(&self, values: Vec<i64>) -> ArrayRef {
        if self.timestamps {
            Arc::new(TimestampNanosecondArray::from(values))
        } else {
            Arc::new(Int64Array::from(values))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source(args: &[ScalarValue]) -> SeriesSource {
        let table = series_table(args, 3).unwrap();
        (*table.series.unwrap()).clone()
    }

    fn all_values(source: &SeriesSource) -> Vec<i64> {
        let mut values = Vec::new();
        for partition in 0..3 {
            let share = source.share(partition, 3);
            let mut value = source.value_at(share.start);
            for _ in share {
                values.push(value);
                value = source.next_value(value).unwrap_or(value);
            }
        }
        values
    }

    #[test]
    fn integer_series_follow_their_step_to_the_stop_inclusive() {
        let int = |v: i64| ScalarValue::Int64(Some(v));
        assert_eq!(all_values(&source(&[int(1), int(5)])), [1, 2, 3, 4, 5]);
        assert_eq!(all_values(&source(&[int(1), int(10), int(4)])), [1, 5, 9]);
        assert_eq!(all_values(&source(&[int(5), int(1), int(-2)])), [5, 3, 1]);
        assert_eq!(all_values(&source(&[int(5), int(1)])), Vec::<i64>::new());
        assert_eq!(all_values(&source(&[int(7), int(7)])), [7]);
        let near_max = source(&[int(i64::MAX - 2), int(i64::MAX)]);
        assert_eq!(near_max.row_count(), 3);
        assert_eq!(near_max.value_at(2), i64::MAX);
        assert_eq!(source(&[ScalarValue::Int64(None), int(3)]).row_count(), 0);
        assert!(series_table(&[int(1), int(3), int(0)], 3).is_err());
        assert!(series_table(&[int(1)], 3).is_err());
    }

    #[test]
    fn month_steps_are_added_one_after_another() {
        let day = |text: &str| {
            ScalarValue::Utf8(Some(text.to_string()))
                .cast_to(&DataType::Timestamp(TimeUnit::Nanosecond, None))
                .unwrap()
        };
        let month = ScalarValue::IntervalMonthDayNano(Some(IntervalMonthDayNano::new(1, 0, 0)));
        let series = source(&[day("2024-01-31"), day("2024-05-01"), month]);
        let as_text: Vec<String> = all_values(&series)
            .into_iter()
            .map(|v| {
                ScalarValue::TimestampNanosecond(Some(v), None)
                    .cast_to(&DataType::Utf8)
                    .unwrap()
                    .to_string()
            })
            .collect();
        assert_eq!(
            as_text,
            [
                "2024-01-31T00:00:00",
                "2024-02-29T00:00:00",
                "2024-03-29T00:00:00",
                "2024-04-29T00:00:00"
            ]
        );
    }
}
