//! Intervals as PostgreSQL writes them (its default `IntervalStyle`, `postgres`):
//! `1 year 2 mons 3 days 04:05:06.5`, `-1 days +02:00:00`, `00:00:00`. Arrow's
//! display wrote `1 days 2 hours`, and a difference of timestamps (a Duration) as
//! `PT43200S`, which drivers do not read as an interval.

use std::fmt::{self, Write};

const MICROS_PER_SECOND: i64 = 1_000_000;
const MICROS_PER_MINUTE: i64 = 60 * MICROS_PER_SECOND;
const MICROS_PER_HOUR: i64 = 60 * MICROS_PER_MINUTE;
const MICROS_PER_DAY: i64 = 24 * MICROS_PER_HOUR;

/// Writes an interval of `months`, `days` and `micros`.
///
/// # Errors
/// Only those of `out`.
pub fn write_interval(out: &mut impl Write, months: i32, days: i32, micros: i64) -> fmt::Result {
    let mut parts = Parts::default();
    parts.add(out, i64::from(months / 12), "year")?;
    parts.add(out, i64::from(months % 12), "mon")?;
    parts.add(out, i64::from(days), "day")?;
    if parts.none || micros != 0 {
        let sign = if micros < 0 {
            "-"
        } else if parts.last_negative {
            "+"
        } else {
            ""
        };
        let space = if parts.none { "" } else { " " };
        let micros = micros.unsigned_abs();
        let hours = micros / MICROS_PER_HOUR.unsigned_abs();
        let minutes = micros / MICROS_PER_MINUTE.unsigned_abs() % 60;
        let seconds = micros / MICROS_PER_SECOND.unsigned_abs() % 60;
        write!(out, "{space}{sign}{hours:02}:{minutes:02}:{seconds:02}")?;
        let fraction = micros % MICROS_PER_SECOND.unsigned_abs();
        if fraction != 0 {
            let digits = format!("{fraction:06}");
            write!(out, ".{}", digits.trim_end_matches('0'))?;
        }
    }
    Ok(())
}

/// Writes the difference of two timestamps, as PostgreSQL's `timestamp - timestamp`
/// gives it: whole days, then the time of day (with the days' sign).
///
/// # Errors
/// Only those of `out`.
pub fn write_duration(out: &mut impl Write, micros: i64) -> fmt::Result {
    let days = micros / MICROS_PER_DAY;
    let days = i32::try_from(days).unwrap_or(if days < 0 { i32::MIN } else { i32::MAX });
    write_interval(out, 0, days, micros % MICROS_PER_DAY)
}

/// The fields written so far, for PostgreSQL's spacing and its `+` after a
/// negative field.
struct Parts {
    none: bool,
    last_negative: bool,
}

impl Default for Parts {
    fn default() -> Self {
        Parts {
            none: true,
            last_negative: false,
        }
    }
}

impl Parts {
    fn add(&mut self, out: &mut impl Write, value: i64, unit: &str) -> fmt::Result {
        if value == 0 {
            return Ok(());
        }
        let space = if self.none { "" } else { " " };
        let plus = if self.last_negative && value > 0 {
            "+"
        } else {
            ""
        };
        let plural = if value == 1 { "" } else { "s" };
        write!(out, "{space}{plus}{value} {unit}{plural}")?;
        self.last_negative = value < 0;
        self.none = false;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn interval(months: i32, days: i32, micros: i64) -> String {
        let mut text = String::new();
        write_interval(&mut text, months, days, micros).unwrap();
        text
    }

    fn duration(micros: i64) -> String {
        let mut text = String::new();
        write_duration(&mut text, micros).unwrap();
        text
    }

    /// What PostgreSQL 16 answers for the same intervals.
    #[test]
    fn intervals_are_written_as_postgresql_writes_them() {
        let hour = MICROS_PER_HOUR;
        assert_eq!(interval(0, 1, 2 * hour), "1 day 02:00:00");
        assert_eq!(
            interval(14, 3, 4 * hour + 5 * 60_000_000 + 6_500_000),
            "1 year 2 mons 3 days 04:05:06.5"
        );
        assert_eq!(interval(0, 0, 0), "00:00:00");
        assert_eq!(interval(12, 0, 0), "1 year");
        assert_eq!(interval(0, -1, 2 * hour), "-1 days +02:00:00");
        assert_eq!(interval(0, 2, -hour), "2 days -01:00:00");
        assert_eq!(interval(-1, 0, 0), "-1 mons");
        assert_eq!(interval(0, 0, 1), "00:00:00.000001");
        assert_eq!(interval(0, 0, 30 * hour), "30:00:00");
        // timestamp '2024-01-02 01:00:00.5' - timestamp '2023-12-31 12:00:00'
        assert_eq!(duration(37 * hour + 500_000), "1 day 13:00:00.5");
        assert_eq!(duration(-37 * hour), "-1 days -13:00:00");
        assert_eq!(duration(12 * hour), "12:00:00");
    }
}
