//! A Bind message's parameter values as SQL literals, by their declared type and
//! format (text or binary). Every node plans from SQL text, so a bound statement is
//! its text with each `$n` replaced by a literal; a value that does not fit its type
//! is an error naming the parameter, never text spliced into the statement.

use bytes::Bytes;
use percore_engine::catalog::pg_types::{ARRAY_TYPES, TYPES};
use percore_engine::error::{ErrorCode, QueryError, QueryResult};
use percore_engine::sql::placeholders::quoted;

use super::values::{
    BOOL, BYTEA, DATE, FLOAT4, FLOAT8, INT2, INT4, INT8, INTERVAL, NUMERIC, TEXT, TIMESTAMP,
    TIMESTAMPTZ, VARCHAR,
};

/// Days from 0001-01-01 (chrono's day 1) to 2000-01-01, PostgreSQL's epoch.
const EPOCH_DAYS_FROM_CE: i32 = 730_120;

/// The literal for parameter `index` (0-based) of `oid` in `format` (0 text, 1 binary).
///
/// # Errors
/// A value that is not of its declared type, a binary format this server does not
/// read, or a type it does not know.
pub(crate) fn literal(
    index: usize,
    oid: u32,
    format: i16,
    value: Option<&Bytes>,
) -> QueryResult<String> {
    let Some(value) = value else {
        return Ok("NULL".to_string());
    };
    let bad = |why: &str| {
        QueryError::new(
            ErrorCode::DataException,
            format!("parameter ${}: {why}", index + 1),
        )
    };
    if format == 1 {
        return binary_literal(oid, value).map_err(|why| bad(&why));
    }
    let text = std::str::from_utf8(value).map_err(|_| bad("not valid UTF-8"))?;
    Ok(match oid {
        BOOL => match text.trim().to_ascii_lowercase().as_str() {
            "t" | "true" | "yes" | "on" | "1" => "TRUE".into(),
            "f" | "false" | "no" | "off" | "0" => "FALSE".into(),
            _ => return Err(bad(&format!("{text:?} is not a boolean"))),
        },
        INT2 | INT4 | INT8 => {
            let number: i64 = text
                .trim()
                .parse()
                .map_err(|_| bad(&format!("{text:?} is not an integer")))?;
            number.to_string()
        }
        NUMERIC => {
            let trimmed = text.trim();
            if !is_decimal(trimmed) {
                return Err(bad(&format!("{text:?} is not a number")));
            }
            trimmed.to_string()
        }
        FLOAT4 | FLOAT8 => {
            let number: f64 = text
                .trim()
                .parse()
                .map_err(|_| bad(&format!("{text:?} is not a number")))?;
            if number.is_finite() {
                format!("CAST({number:e} AS DOUBLE)")
            } else {
                format!("CAST({} AS DOUBLE)", quoted(text.trim()))
            }
        }
        DATE => format!("DATE {}", quoted(text)),
        TIMESTAMP | TIMESTAMPTZ => format!("TIMESTAMP {}", quoted(text)),
        INTERVAL => format!("INTERVAL {}", quoted(text)),
        // PostgreSQL's input forms (`\x6162`, or escapes), read as a cast reads them.
        BYTEA => format!("CAST({} AS BYTEA)", quoted(text)),
        // Unknown (0), text and varchar: a string, which the planner coerces where
        // the context wants another type (`int_column = '5'`).
        0 | TEXT | VARCHAR => quoted(text),
        other => match array_element_type(other) {
            // Arrays are compared element by element (`x = ANY ($1)`); their text
            // form is kept for the planner to read, each element cast to its type.
            Some(Some(element)) => format!("CAST({} AS {element}[])", quoted(text)),
            Some(None) => quoted(text),
            None => {
                return Err(bad(&format!(
                    "type OID {other} is not known; send it as text"
                )))
            }
        },
    })
}

/// For an array type's OID, the SQL type of its elements; `Some(None)` for numeric,
/// text and varchar arrays, whose elements stay untyped literals the comparison
/// types (a numeric's scale is the value's own).
fn array_element_type(oid: u32) -> Option<Option<&'static str>> {
    let (element, _) = ARRAY_TYPES.iter().find(|(_, array)| *array == oid)?;
    if matches!(*element, TEXT | VARCHAR | NUMERIC) {
        return Some(None);
    }
    TYPES
        .iter()
        .find(|(type_oid, ..)| type_oid == element)
        .map(|(.., sql_name)| Some(*sql_name))
}

fn is_decimal(text: &str) -> bool {
    let digits = text.strip_prefix(['-', '+']).unwrap_or(text);
    let mut parts = digits.splitn(2, '.');
    let whole = parts.next().unwrap_or("");
    let fraction = parts.next().unwrap_or("");
    (!whole.is_empty() || !fraction.is_empty())
        && whole.bytes().all(|b| b.is_ascii_digit())
        && fraction.bytes().all(|b| b.is_ascii_digit())
}

fn binary_literal(oid: u32, value: &[u8]) -> Result<String, String> {
    let fixed = |n: usize| -> Result<&[u8], String> {
        if value.len() == n {
            Ok(value)
        } else {
            Err(format!("{} bytes for a {n}-byte binary value", value.len()))
        }
    };
    Ok(match oid {
        BOOL => if fixed(1)?[0] != 0 { "TRUE" } else { "FALSE" }.to_string(),
        INT2 => i16::from_be_bytes(fixed(2)?.try_into().unwrap_or_default()).to_string(),
        INT4 => i32::from_be_bytes(fixed(4)?.try_into().unwrap_or_default()).to_string(),
        INT8 => i64::from_be_bytes(fixed(8)?.try_into().unwrap_or_default()).to_string(),
        FLOAT4 => {
            let number = f32::from_be_bytes(fixed(4)?.try_into().unwrap_or_default());
            format!("CAST({} AS DOUBLE)", float_text(f64::from(number)))
        }
        FLOAT8 => {
            let number = f64::from_be_bytes(fixed(8)?.try_into().unwrap_or_default());
            format!("CAST({} AS DOUBLE)", float_text(number))
        }
        NUMERIC => numeric_text(value)?,
        DATE => {
            let days = i32::from_be_bytes(fixed(4)?.try_into().unwrap_or_default());
            let date = days
                .checked_add(EPOCH_DAYS_FROM_CE)
                .and_then(chrono::NaiveDate::from_num_days_from_ce_opt)
                .ok_or("a date out of range")?;
            format!("DATE '{date}'")
        }
        TIMESTAMP | TIMESTAMPTZ => {
            let micros = i64::from_be_bytes(fixed(8)?.try_into().unwrap_or_default());
            let epoch = chrono::NaiveDate::from_ymd_opt(2000, 1, 1)
                .and_then(|d| d.and_hms_opt(0, 0, 0))
                .ok_or("no epoch")?;
            let time = epoch
                .checked_add_signed(chrono::TimeDelta::microseconds(micros))
                .ok_or("a timestamp out of range")?;
            format!("TIMESTAMP '{}'", time.format("%Y-%m-%d %H:%M:%S%.6f"))
        }
        0 | TEXT | VARCHAR => quoted(std::str::from_utf8(value).map_err(|_| "not valid UTF-8")?),
        BYTEA => {
            let mut hex = String::with_capacity(3 + value.len() * 2);
            hex.push_str("X'");
            for byte in value.iter() {
                use std::fmt::Write as _;
                let _ = write!(hex, "{byte:02x}");
            }
            hex.push('\'');
            hex
        }
        other if array_element_type(other).is_some() => binary_array(value)?,
        other => {
            return Err(format!(
                "binary values of type OID {other} are not read; send text"
            ))
        }
    })
}

/// A one-dimensional array in PostgreSQL's binary form (dimensions, a flag, the
/// element type, each dimension's length and lower bound, then each element as a
/// length, -1 for NULL, and its bytes) as `ARRAY[..]` of the elements' literals.
/// Lengths are checked against the bytes there are before anything is allocated.
fn binary_array(value: &[u8]) -> Result<String, String> {
    fn int(rest: &mut &[u8], what: &str) -> Result<i32, String> {
        let (head, tail) = rest
            .split_first_chunk::<4>()
            .ok_or_else(|| format!("a binary array cut short in its {what}"))?;
        *rest = tail;
        Ok(i32::from_be_bytes(*head))
    }
    let mut rest = value;
    let dimensions = int(&mut rest, "dimensions")?;
    let _has_nulls = int(&mut rest, "null flag")?;
    let element_oid = int(&mut rest, "element type")? as u32;
    if dimensions == 0 {
        return Ok("'{}'".to_string());
    }
    if dimensions != 1 {
        return Err(format!(
            "an array of {dimensions} dimensions (one is supported)"
        ));
    }
    let length = int(&mut rest, "length")?;
    let _lower_bound = int(&mut rest, "lower bound")?;
    let mut elements = Vec::new();
    for _ in 0..length.max(0) {
        let size = int(&mut rest, "element length")?;
        if size < 0 {
            elements.push("NULL".to_string());
            continue;
        }
        let size = size as usize;
        if size > rest.len() {
            return Err("a binary array element longer than the value".into());
        }
        let (element, tail) = rest.split_at(size);
        rest = tail;
        elements.push(binary_literal(element_oid, element)?);
    }
    if !rest.is_empty() {
        return Err("bytes after a binary array's last element".into());
    }
    Ok(format!("ARRAY[{}]", elements.join(", ")))
}

/// A float as a literal the SQL parser reads back exactly (or a quoted special).
fn float_text(number: f64) -> String {
    if number.is_finite() {
        format!("{number:e}")
    } else {
        quoted(&number.to_string())
    }
}

/// PostgreSQL's binary NUMERIC (base-10000 digits) as decimal text.
fn numeric_text(value: &[u8]) -> Result<String, String> {
    let word = |at: usize| -> Result<u16, String> {
        value
            .get(at..at + 2)
            .map(|b| u16::from_be_bytes([b[0], b[1]]))
            .ok_or_else(|| "a truncated numeric".to_string())
    };
    let digits = usize::from(word(0)?);
    let weight = word(2)? as i16;
    let sign = word(4)?;
    let scale = usize::from(word(6)?);
    if value.len() != 8 + 2 * digits {
        return Err("a numeric whose length does not match its digits".into());
    }
    match sign {
        0xC000 => return Ok("CAST('NaN' AS DOUBLE)".into()),
        0x0000 | 0x4000 => {}
        _ => return Err("a numeric with an unknown sign".into()),
    }
    let groups: Vec<u16> = (0..digits)
        .map(|i| word(8 + 2 * i))
        .collect::<Result<_, _>>()?;
    if groups.iter().any(|&g| g > 9999) {
        return Err("a numeric digit above 9999".into());
    }
    // Digit i stands for groups[i] * 10000^(weight - i).
    let group_at = |power: i32| -> u16 {
        usize::try_from(i32::from(weight) - power)
            .ok()
            .and_then(|i| groups.get(i))
            .copied()
            .unwrap_or(0)
    };
    let mut whole = String::new();
    let mut fraction = String::new();
    for power in (0..=i32::from(weight).max(0)).rev() {
        let group = group_at(power);
        if whole.is_empty() {
            if group != 0 {
                whole = group.to_string();
            }
        } else {
            whole.push_str(&format!("{group:04}"));
        }
    }
    if whole.is_empty() {
        whole.push('0');
    }
    let mut power = -1i32;
    while fraction.len() < scale {
        fraction.push_str(&format!("{:04}", group_at(power)));
        power -= 1;
    }
    fraction.truncate(scale);
    let sign = if sign == 0x4000 { "-" } else { "" };
    Ok(if scale > 0 {
        format!("{sign}{whole}.{fraction}")
    } else {
        format!("{sign}{whole}")
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::BytesMut;

    fn binary_numeric(unscaled: i128, scale: i8) -> String {
        let mut out = BytesMut::new();
        super::super::values::numeric(unscaled, scale, &mut out);
        numeric_text(&out).unwrap()
    }

    #[test]
    fn numerics_round_trip_through_the_binary_form() {
        assert_eq!(binary_numeric(15_756_213, 2), "157562.13");
        assert_eq!(binary_numeric(-5, 2), "-0.05");
        assert_eq!(binary_numeric(0, 2), "0.00");
        assert_eq!(binary_numeric(10_000, 0), "10000");
        assert_eq!(binary_numeric(12_345, 8), "0.00012345");
        assert_eq!(binary_numeric(-123_456_789_012, 3), "-123456789.012");
    }

    #[test]
    fn values_become_literals_of_their_type_or_are_refused() {
        let text =
            |oid: u32, value: &str| literal(0, oid, 0, Some(&Bytes::from(value.to_string())));
        assert_eq!(text(INT4, " 42").unwrap(), "42");
        assert!(text(INT4, "42; drop table t").is_err());
        assert_eq!(text(NUMERIC, "30.5").unwrap(), "30.5");
        assert!(text(NUMERIC, "1e5").is_err());
        assert_eq!(text(0, "it's").unwrap(), "'it''s'");
        assert_eq!(text(DATE, "1995-01-01").unwrap(), "DATE '1995-01-01'");
        assert_eq!(literal(1, INT4, 0, None).unwrap(), "NULL");
        let days = Bytes::from((-1i32).to_be_bytes().to_vec());
        assert_eq!(
            literal(0, DATE, 1, Some(&days)).unwrap(),
            "DATE '1999-12-31'"
        );
        let short = Bytes::from(vec![0u8; 3]);
        let error = literal(2, INT4, 1, Some(&short)).unwrap_err();
        assert!(error.message.contains("$3"), "{error}");
        // bytea: raw bytes in binary, PostgreSQL's input text (read by the cast) in text.
        let bytes = Bytes::from(vec![0x61, 0x00, 0xff]);
        assert_eq!(literal(0, BYTEA, 1, Some(&bytes)).unwrap(), "X'6100ff'");
        assert_eq!(
            text(BYTEA, "\\x6100ff").unwrap(),
            "CAST('\\x6100ff' AS BYTEA)"
        );
        assert_eq!(text(BYTEA, "it's").unwrap(), "CAST('it''s' AS BYTEA)");
    }

    /// PostgreSQL's binary form of a one-dimensional int8 array.
    fn int8_array(elements: &[Option<i64>], claimed_length: i32) -> Bytes {
        let mut out = BytesMut::new();
        for header in [1, 0, INT8 as i32, claimed_length, 1] {
            out.extend_from_slice(&header.to_be_bytes());
        }
        for element in elements {
            match element {
                Some(value) => {
                    out.extend_from_slice(&8i32.to_be_bytes());
                    out.extend_from_slice(&value.to_be_bytes());
                }
                None => out.extend_from_slice(&(-1i32).to_be_bytes()),
            }
        }
        out.freeze()
    }

    #[test]
    fn arrays_become_element_lists_and_bad_ones_are_refused() {
        let binary = |value: Bytes| literal(0, 1016, 1, Some(&value));
        assert_eq!(
            binary(int8_array(&[Some(45), None, Some(-1)], 3)).unwrap(),
            "ARRAY[45, NULL, -1]"
        );
        // A length off the wire larger than the bytes sent allocates nothing.
        assert!(binary(int8_array(&[Some(1)], i32::MAX)).is_err());
        assert!(binary(int8_array(&[Some(1), Some(2)], 1)).is_err());
        assert!(binary(Bytes::from_static(&[0, 0, 0, 1])).is_err());
        let text =
            |oid: u32, value: &str| literal(0, oid, 0, Some(&Bytes::from(value.to_string())));
        assert_eq!(text(1016, "{1,2}").unwrap(), "CAST('{1,2}' AS bigint[])");
        assert_eq!(text(1231, "{1.5}").unwrap(), "'{1.5}'");
        assert!(text(2277, "{1}").is_err());
    }
}
