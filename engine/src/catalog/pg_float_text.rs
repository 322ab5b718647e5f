//! Floats as PostgreSQL writes them: the shortest digits that read back to the same
//! value, in exponent form (`1e+20`, `1e-05`) outside the range where fixed notation
//! stays short, and `Infinity`, `NaN`, `-0`. Arrow's display wrote `inf`, which the
//! PostgreSQL JDBC driver (Java's `Double.parseDouble`) cannot read, and `1e15` as
//! `1000000000000000.0`.

use std::fmt::{self, Write};

/// Writes a `double precision` value.
///
/// # Errors
/// Only those of `out`.
pub fn write_float8(out: &mut impl Write, value: f64) -> fmt::Result {
    if let Some(special) = special(value) {
        return out.write_str(special);
    }
    let mut scientific = StackText::default();
    write!(scientific, "{value:e}")?;
    write_shortest(out, scientific.as_str(), 15)
}

/// Writes a `real` value.
///
/// # Errors
/// Only those of `out`.
pub fn write_float4(out: &mut impl Write, value: f32) -> fmt::Result {
    if let Some(special) = special(f64::from(value)) {
        return out.write_str(special);
    }
    let mut scientific = StackText::default();
    write!(scientific, "{value:e}")?;
    write_shortest(out, scientific.as_str(), 6)
}

fn special(value: f64) -> Option<&'static str> {
    if value.is_nan() {
        Some("NaN")
    } else if value.is_infinite() {
        Some(if value > 0.0 { "Infinity" } else { "-Infinity" })
    } else if value == 0.0 {
        Some(if value.is_sign_negative() { "-0" } else { "0" })
    } else {
        None
    }
}

/// Rewrites Rust's shortest scientific form (`-1.2345e17`) in PostgreSQL's: fixed
/// notation when the decimal exponent is in `-4..fixed_below`, else `d.ddde+XX`.
fn write_shortest(out: &mut impl Write, scientific: &str, fixed_below: i32) -> fmt::Result {
    let (mantissa, exponent) = scientific.split_once('e').ok_or(fmt::Error)?;
    let exponent: i32 = exponent.parse().map_err(|_| fmt::Error)?;
    let (sign, mantissa) = match mantissa.strip_prefix('-') {
        Some(rest) => ("-", rest),
        None => ("", mantissa),
    };
    let (first, rest) = mantissa.split_at(1);
    let rest = rest.strip_prefix('.').unwrap_or("");
    out.write_str(sign)?;
    if !(-4..fixed_below).contains(&exponent) {
        out.write_str(first)?;
        if !rest.is_empty() {
            write!(out, ".{rest}")?;
        }
        let exponent_sign = if exponent < 0 { '-' } else { '+' };
        return write!(out, "e{exponent_sign}{:02}", exponent.unsigned_abs());
    }
    if exponent < 0 {
        out.write_str("0.")?;
        for _ in 1..exponent.unsigned_abs() {
            out.write_char('0')?;
        }
        return write!(out, "{first}{rest}");
    }
    let whole = exponent.unsigned_abs() as usize;
    out.write_str(first)?;
    if rest.len() <= whole {
        out.write_str(rest)?;
        for _ in rest.len()..whole {
            out.write_char('0')?;
        }
        return Ok(());
    }
    write!(out, "{}.{}", &rest[..whole], &rest[whole..])
}

/// Room for any float's scientific form (`-1.7976931348623157e308` is 23 bytes),
/// without a heap allocation per value.
#[derive(Default)]
struct StackText {
    bytes: [u8; 32],
    len: usize,
}

impl StackText {
    fn as_str(&self) -> &str {
        std::str::from_utf8(&self.bytes[..self.len]).unwrap_or("")
    }
}

impl Write for StackText {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        let end = self.len + text.len();
        self.bytes
            .get_mut(self.len..end)
            .ok_or(fmt::Error)?
            .copy_from_slice(text.as_bytes());
        self.len = end;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn float8(value: f64) -> String {
        let mut text = String::new();
        write_float8(&mut text, value).unwrap();
        text
    }

    fn float4(value: f32) -> String {
        let mut text = String::new();
        write_float4(&mut text, value).unwrap();
        text
    }

    /// What PostgreSQL 16 answers for `select v::float8` and `v::real`.
    #[test]
    fn floats_are_written_as_postgresql_writes_them() {
        let cases8 = [
            (1e20, "1e+20"),
            (1e15, "1e+15"),
            (1e14, "100000000000000"),
            (123456789012345678.0, "1.2345678901234568e+17"),
            (1e-5, "1e-05"),
            (0.0001, "0.0001"),
            (0.00012345, "0.00012345"),
            (1.5e300, "1.5e+300"),
            (-2.5e-300, "-2.5e-300"),
            (0.1, "0.1"),
            (1.0 / 3.0, "0.3333333333333333"),
            (-42.0, "-42"),
            (123.456, "123.456"),
            (f64::INFINITY, "Infinity"),
            (f64::NEG_INFINITY, "-Infinity"),
            (f64::NAN, "NaN"),
            (-0.0, "-0"),
            (0.0, "0"),
            (f64::MAX, "1.7976931348623157e+308"),
        ];
        for (value, expected) in cases8 {
            assert_eq!(float8(value), expected, "{value:e}");
        }
        let cases4 = [
            (0.1f32, "0.1"),
            (123456.0, "123456"),
            (1e6, "1e+06"),
            (1234567.0, "1.234567e+06"),
            (1e-5, "1e-05"),
            (f32::INFINITY, "Infinity"),
        ];
        for (value, expected) in cases4 {
            assert_eq!(float4(value), expected, "{value:e}");
        }
    }
}
