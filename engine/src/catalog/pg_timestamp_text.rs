//! Timestamps without time zone as PostgreSQL writes them: `2020-02-29 06:45:00`,
//! and a fraction only as long as it needs (`.25`, where chrono's `%.f` wrote `.250`
//! and PostgreSQL's clients compared text that was not PostgreSQL's).

use std::fmt::{self, Write};

const MICROS_PER_SECOND: i64 = 1_000_000;

/// Writes the timestamp `micros` microseconds after 1970-01-01 00:00:00.
///
/// # Errors
/// Those of `out`, and a timestamp past chrono's range.
pub fn write_timestamp(out: &mut impl Write, micros: i64) -> fmt::Result {
    let seconds = micros.div_euclid(MICROS_PER_SECOND);
    let fraction = micros.rem_euclid(MICROS_PER_SECOND);
    let time = chrono::DateTime::from_timestamp(seconds, 0).ok_or(fmt::Error)?;
    write!(out, "{}", time.naive_utc().format("%Y-%m-%d %H:%M:%S"))?;
    if fraction != 0 {
        let digits = format!("{fraction:06}");
        write!(out, ".{}", digits.trim_end_matches('0'))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(micros: i64) -> String {
        let mut out = String::new();
        write_timestamp(&mut out, micros).expect("in range");
        out
    }

    #[test]
    fn timestamps_are_written_as_postgresql_writes_them() {
        assert_eq!(text(1_582_958_700_000_000), "2020-02-29 06:45:00");
        assert_eq!(text(1_582_958_700_250_000), "2020-02-29 06:45:00.25");
        assert_eq!(text(1_582_958_700_000_001), "2020-02-29 06:45:00.000001");
        assert_eq!(text(-1), "1969-12-31 23:59:59.999999");
    }
}
