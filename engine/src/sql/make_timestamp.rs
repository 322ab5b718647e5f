//! `make_timestamp(year, month, day, hour, min, sec)`: a timestamp from its fields,
//! as PostgreSQL builds it. A negative year is BC (-44 is 44 BC; there is no year
//! 0), `sec` may carry a fraction (rounded to the microsecond, halves to even), and
//! 24:00:00 or 60 seconds roll over into the next day or minute. Fields that name no
//! date or time fail with 22008 and PostgreSQL's message. DataFusion has only
//! `make_date`.

use std::sync::Arc;

use arrow::array::{Array, AsArray, TimestampMicrosecondBuilder};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Float64Type, Int64Type, TimeUnit};
use chrono::NaiveDate;
use datafusion_common::{exec_err, plan_err, Result};
use datafusion_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};

use super::call_values::Arguments;
use crate::error::{ErrorCode, TaskError};

const MICROS_PER_SECOND: f64 = 1_000_000.0;

/// The function, for the registry.
pub fn function() -> Arc<ScalarUDF> {
    Arc::new(ScalarUDF::new_from_impl(MakeTimestamp {
        signature: Signature::any(6, Volatility::Immutable),
    }))
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct MakeTimestamp {
    signature: Signature,
}

impl ScalarUDFImpl for MakeTimestamp {
    fn name(&self) -> &str {
        "make_timestamp"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, args: &[DataType]) -> Result<DataType> {
        let numeric = |t: &DataType| t.is_numeric() || t.is_null();
        if args.len() != 6 || !args.iter().all(numeric) {
            return plan_err!(
                "make_timestamp takes six numbers (year, month, day, hour, min, sec), not {args:?}"
            );
        }
        Ok(DataType::Timestamp(TimeUnit::Microsecond, None))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let arguments = Arguments::of(&args.args)?;
        let [year, month, day, hour, minute, second] = arguments.arrays.as_slice() else {
            return exec_err!("make_timestamp takes year, month, day, hour, min and sec");
        };
        let integers = [year, month, day, hour, minute]
            .map(|array| cast(array, &DataType::Int64))
            .into_iter()
            .collect::<Result<Vec<_>, _>>()?;
        let integers: Vec<_> = integers
            .iter()
            .map(|a| a.as_primitive::<Int64Type>())
            .collect();
        let seconds = cast(second, &DataType::Float64)?;
        let seconds = seconds.as_primitive::<Float64Type>();
        let mut out = TimestampMicrosecondBuilder::with_capacity(seconds.len());
        for row in 0..seconds.len() {
            if seconds.is_null(row) || integers.iter().any(|a| a.is_null(row)) {
                out.append_null();
                continue;
            }
            let field = |index: usize| integers[index].value(row);
            let micros = timestamp_micros(
                [field(0), field(1), field(2), field(3), field(4)],
                seconds.value(row),
            )
            .map_err(|message| TaskError::new(ErrorCode::DatetimeFieldOverflow, message))?;
            out.append_value(micros);
        }
        arguments.answer(Arc::new(out.finish()))
    }
}

/// Microseconds since 1970 of the timestamp with these fields, or PostgreSQL's
/// complaint.
fn timestamp_micros(
    [year, month, day, hour, minute]: [i64; 5],
    second: f64,
) -> Result<i64, String> {
    let date_error = || format!("date field value out of range: {year}-{month:02}-{day:02}");
    // Astronomical numbering: 1 BC is year 0.
    let astronomical = match year {
        0 => return Err(date_error()),
        y if y < 0 => y + 1,
        y => y,
    };
    let date = i32::try_from(astronomical)
        .ok()
        .zip(u32::try_from(month).ok())
        .zip(u32::try_from(day).ok())
        .and_then(|((y, m), d)| NaiveDate::from_ymd_opt(y, m, d))
        .ok_or_else(date_error)?;
    let time_valid = (0..=24).contains(&hour)
        && (0..60).contains(&minute)
        && (0.0..=60.0).contains(&second)
        && (hour < 24 || (minute == 0 && second == 0.0));
    if !time_valid {
        return Err(format!(
            "time field value out of range: {hour}:{minute:02}:{}",
            seconds_text(second)
        ));
    }
    let midnight = date
        .and_hms_opt(0, 0, 0)
        .expect("midnight exists")
        .and_utc()
        .timestamp_micros();
    let time = (hour * 60 + minute) * 60 * 1_000_000
        + (second * MICROS_PER_SECOND).round_ties_even() as i64;
    midnight
        .checked_add(time)
        .ok_or_else(|| "timestamp out of range".to_string())
}

/// Seconds as C's `%02g` writes them in PostgreSQL's message.
fn seconds_text(second: f64) -> String {
    if second.is_nan() {
        "NaN".to_string()
    } else if second.fract() == 0.0 && second.abs() < 1e15 {
        format!("{:02}", second as i64)
    } else {
        second.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shown(fields: [i64; 5], second: f64) -> Result<String, String> {
        timestamp_micros(fields, second).map(|micros| {
            chrono::DateTime::from_timestamp_micros(micros)
                .unwrap()
                .naive_utc()
                .to_string()
        })
    }

    /// Each case as PostgreSQL 15 answers it.
    #[test]
    fn fields_roll_over_and_fail_as_in_postgresql() {
        assert_eq!(
            shown([2024, 1, 1, 12, 30], 15.5).unwrap(),
            "2024-01-01 12:30:15.500"
        );
        assert_eq!(
            shown([2024, 1, 1, 12, 30], 60.0).unwrap(),
            "2024-01-01 12:31:00"
        );
        assert_eq!(
            shown([2024, 1, 1, 24, 0], 0.0).unwrap(),
            "2024-01-02 00:00:00"
        );
        assert_eq!(
            shown([2024, 1, 1, 23, 59], 59.9999999).unwrap(),
            "2024-01-02 00:00:00"
        );
        assert_eq!(
            shown([-44, 3, 15, 0, 0], 0.0).unwrap(),
            "-0043-03-15 00:00:00"
        );
        assert_eq!(
            shown([2024, 2, 30, 12, 30], 1.0).unwrap_err(),
            "date field value out of range: 2024-02-30"
        );
        assert_eq!(
            shown([0, 1, 1, 0, 0], 0.0).unwrap_err(),
            "date field value out of range: 0-01-01"
        );
        assert_eq!(
            shown([2024, 1, 1, 12, 30], -1.0).unwrap_err(),
            "time field value out of range: 12:30:-1"
        );
        assert_eq!(
            shown([2024, 1, 1, 1, 60], 0.0).unwrap_err(),
            "time field value out of range: 1:60:00"
        );
        assert_eq!(
            shown([2024, 1, 1, 12, 30], f64::NAN).unwrap_err(),
            "time field value out of range: 12:30:NaN"
        );
    }
}
