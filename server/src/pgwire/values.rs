//! Arrow values as PostgreSQL sees them: each Arrow type's type OID, and each value
//! in the text format or (where a client asks) the binary one.

use arrow::array::{Array, ArrayRef, AsArray};
use arrow::datatypes::{
    DataType, Date32Type, Date64Type, Decimal128Type, Float16Type, Float32Type, Float64Type,
    Int16Type, Int32Type, Int64Type, Int8Type, IntervalDayTimeType, IntervalMonthDayNanoType,
    IntervalUnit, IntervalYearMonthType, TimeUnit, UInt16Type, UInt32Type, UInt64Type, UInt8Type,
};
use arrow::record_batch::RecordBatch;
use arrow::util::display::{ArrayFormatter, FormatOptions};
use bytes::{BufMut, BytesMut};
use percore_engine::catalog::pg_bytea_text::write_bytea;
use percore_engine::catalog::pg_float_text::{write_float4, write_float8};
use percore_engine::catalog::pg_interval_text::{write_duration, write_interval};
use percore_engine::catalog::pg_timestamp_text::write_timestamp;
use percore_engine::error::{QueryError, QueryResult};

use super::array_values;

pub(crate) use percore_engine::catalog::pg_types::{
    pg_type, BOOL, BYTEA, DATE, FLOAT4, FLOAT8, INT2, INT4, INT8, INTERVAL, NUMERIC, TEXT,
    TIMESTAMP, TIMESTAMPTZ, VARCHAR,
};

/// Days from 1970-01-01 (Arrow's epoch) to 2000-01-01 (PostgreSQL's).
const EPOCH_DAYS: i64 = 10_957;
const EPOCH_MICROS: i64 = EPOCH_DAYS * 86_400_000_000;

/// Writes the rows of `batch` as DataRow bodies, one per row: each value as text, or
/// as binary where `binary[column]` says so.
pub(crate) struct RowEncoder<'a> {
    columns: Vec<ColumnEncoder<'a>>,
}

struct ColumnEncoder<'a> {
    array: &'a ArrayRef,
    binary: bool,
    text: ArrayFormatter<'a>,
    /// A list's elements, encoded alike.
    elements: Option<Box<ColumnEncoder<'a>>>,
}

impl<'a> ColumnEncoder<'a> {
    fn new(array: &'a ArrayRef, binary: bool, options: &'a FormatOptions<'a>) -> QueryResult<Self> {
        let elements = array_values::element_values(array)
            .map(|values| ColumnEncoder::new(values, binary, options).map(Box::new))
            .transpose()?;
        Ok(ColumnEncoder {
            array,
            binary,
            text: ArrayFormatter::try_new(array.as_ref(), options)?,
            elements,
        })
    }
}

impl<'a> RowEncoder<'a> {
    /// # Errors
    /// A column that cannot be shown as text, or binary asked of a type that has no
    /// binary form here.
    pub fn new(
        batch: &'a RecordBatch,
        binary: &[bool],
        options: &'a FormatOptions<'a>,
    ) -> QueryResult<Self> {
        let columns = batch
            .columns()
            .iter()
            .enumerate()
            .map(|(index, array)| {
                let binary = binary.get(index).copied().unwrap_or(false);
                if binary && !has_binary_form(array.data_type()) {
                    return Err(QueryError::unsupported(format!(
                        "binary results of type {} (ask for text)",
                        array.data_type()
                    )));
                }
                ColumnEncoder::new(array, binary, options)
            })
            .collect::<QueryResult<Vec<_>>>()?;
        Ok(RowEncoder { columns })
    }

    /// One row's DataRow body (the values, after the field count).
    pub fn row(&self, row: usize, out: &mut BytesMut) {
        for column in &self.columns {
            // A NullArray (the type of `coalesce(null, null)`) has no validity
            // bitmap: `is_null` says false for its rows.
            if column.array.is_null(row) || column.array.data_type() == &DataType::Null {
                out.put_i32(-1);
                continue;
            }
            let start = out.len();
            out.put_i32(0);
            if column.binary {
                binary_value(column, row, out);
            } else {
                text_value(column, row, out);
            }
            let length = (out.len() - start - 4) as i32;
            out[start..start + 4].copy_from_slice(&length.to_be_bytes());
        }
    }
}

impl RowEncoder<'_> {
    /// One row's values as PostgreSQL's text, each handed to `cell` with its column
    /// (`None` for NULL); `scratch` holds each value in turn.
    pub fn text_cells(
        &self,
        row: usize,
        scratch: &mut BytesMut,
        mut cell: impl FnMut(usize, Option<&[u8]>),
    ) {
        for (index, column) in self.columns.iter().enumerate() {
            if column.array.is_null(row) || column.array.data_type() == &DataType::Null {
                cell(index, None);
                continue;
            }
            scratch.clear();
            text_value(column, row, scratch);
            cell(index, Some(scratch));
        }
    }
}

fn text_value(column: &ColumnEncoder<'_>, row: usize, out: &mut BytesMut) {
    use std::fmt::Write as _;
    let array = column.array;
    if let Some(elements) = &column.elements {
        let range = array_values::element_range(array, row);
        array_values::write_text(elements.array, range, out, |index, out| {
            text_value(elements, index, out);
        });
        return;
    }
    match array.data_type() {
        DataType::Boolean => out.put_u8(if array.as_boolean().value(row) {
            b't'
        } else {
            b'f'
        }),
        DataType::Binary | DataType::LargeBinary | DataType::BinaryView => {
            let bytes: &[u8] = match array.data_type() {
                DataType::Binary => array.as_binary::<i32>().value(row),
                DataType::LargeBinary => array.as_binary::<i64>().value(row),
                _ => array.as_binary_view().value(row),
            };
            let _ = write_bytea(&mut HexWriter(out), bytes);
        }
        DataType::Float64 => {
            let _ = write_float8(
                &mut HexWriter(out),
                array.as_primitive::<Float64Type>().value(row),
            );
        }
        DataType::Float32 => {
            let _ = write_float4(
                &mut HexWriter(out),
                array.as_primitive::<Float32Type>().value(row),
            );
        }
        DataType::Interval(unit) => {
            let (months, days, micros) = interval_parts(array, row, *unit);
            let _ = write_interval(&mut HexWriter(out), months, days, micros);
        }
        DataType::Timestamp(unit, None) => {
            let _ = write_timestamp(&mut HexWriter(out), timestamp_value(array, row, *unit));
        }
        DataType::Duration(unit) => {
            let _ = write_duration(&mut HexWriter(out), duration_micros(array, row, *unit));
        }
        DataType::Float16 => {
            let value = array.as_primitive::<Float16Type>().value(row).to_f32();
            let _ = write_float4(&mut HexWriter(out), value);
        }
        _ => {
            let _ = write!(HexWriter(out), "{}", column.text.value(row));
        }
    }
}

/// `fmt::Write` into the output buffer, so text values are not built as Strings.
struct HexWriter<'a>(&'a mut BytesMut);

impl std::fmt::Write for HexWriter<'_> {
    fn write_str(&mut self, text: &str) -> std::fmt::Result {
        self.0.put_slice(text.as_bytes());
        Ok(())
    }
}

fn has_binary_form(data_type: &DataType) -> bool {
    if let DataType::List(element)
    | DataType::LargeList(element)
    | DataType::FixedSizeList(element, _) = data_type
    {
        return pg_type(data_type).0 == TEXT || has_binary_form(element.data_type());
    }
    matches!(
        data_type,
        DataType::Boolean
            | DataType::Int8
            | DataType::Int16
            | DataType::Int32
            | DataType::Int64
            | DataType::UInt8
            | DataType::UInt16
            | DataType::UInt32
            | DataType::UInt64
            | DataType::Float16
            | DataType::Float32
            | DataType::Float64
            | DataType::Decimal128(..)
            | DataType::Utf8
            | DataType::LargeUtf8
            | DataType::Utf8View
            | DataType::Binary
            | DataType::LargeBinary
            | DataType::BinaryView
            | DataType::Date32
            | DataType::Date64
            | DataType::Timestamp(..)
            | DataType::Interval(_)
            | DataType::Duration(_)
    )
}

fn binary_value(column: &ColumnEncoder<'_>, row: usize, out: &mut BytesMut) {
    let array = column.array;
    if let Some(elements) = &column.elements {
        // A list without an array type is text, whose binary form is its text.
        match pg_type(array.data_type()).0 {
            TEXT => text_value(column, row, out),
            _ => {
                let range = array_values::element_range(array, row);
                let element_oid = pg_type(elements.array.data_type()).0;
                array_values::write_binary(
                    elements.array,
                    element_oid,
                    range,
                    out,
                    |index, out| {
                        binary_value(elements, index, out);
                    },
                );
            }
        }
        return;
    }
    match array.data_type() {
        DataType::Boolean => out.put_u8(u8::from(array.as_boolean().value(row))),
        DataType::Int8 => out.put_i16(i16::from(array.as_primitive::<Int8Type>().value(row))),
        DataType::Int16 => out.put_i16(array.as_primitive::<Int16Type>().value(row)),
        DataType::UInt8 => out.put_i16(i16::from(array.as_primitive::<UInt8Type>().value(row))),
        DataType::Int32 => out.put_i32(array.as_primitive::<Int32Type>().value(row)),
        DataType::UInt16 => out.put_i32(i32::from(array.as_primitive::<UInt16Type>().value(row))),
        DataType::Int64 => out.put_i64(array.as_primitive::<Int64Type>().value(row)),
        DataType::UInt32 => out.put_i64(i64::from(array.as_primitive::<UInt32Type>().value(row))),
        DataType::UInt64 => numeric(
            i128::from(array.as_primitive::<UInt64Type>().value(row)),
            0,
            out,
        ),
        DataType::Float16 => out.put_f32(array.as_primitive::<Float16Type>().value(row).to_f32()),
        DataType::Float32 => out.put_f32(array.as_primitive::<Float32Type>().value(row)),
        DataType::Float64 => out.put_f64(array.as_primitive::<Float64Type>().value(row)),
        DataType::Decimal128(_, scale) => {
            numeric(
                array.as_primitive::<Decimal128Type>().value(row),
                *scale,
                out,
            );
        }
        DataType::Utf8 => out.put_slice(array.as_string::<i32>().value(row).as_bytes()),
        DataType::LargeUtf8 => out.put_slice(array.as_string::<i64>().value(row).as_bytes()),
        DataType::Utf8View => out.put_slice(array.as_string_view().value(row).as_bytes()),
        DataType::Binary => out.put_slice(array.as_binary::<i32>().value(row)),
        DataType::LargeBinary => out.put_slice(array.as_binary::<i64>().value(row)),
        DataType::BinaryView => out.put_slice(array.as_binary_view().value(row)),
        DataType::Date32 => {
            let days = i64::from(array.as_primitive::<Date32Type>().value(row));
            out.put_i32((days - EPOCH_DAYS) as i32);
        }
        DataType::Date64 => {
            let days = array
                .as_primitive::<Date64Type>()
                .value(row)
                .div_euclid(86_400_000);
            out.put_i32((days - EPOCH_DAYS) as i32);
        }
        DataType::Timestamp(unit, _) => {
            let value = timestamp_value(array, row, *unit);
            out.put_i64(value.saturating_sub(EPOCH_MICROS));
        }
        DataType::Interval(unit) => {
            let (months, days, micros) = interval_parts(array, row, *unit);
            out.put_i64(micros);
            out.put_i32(days);
            out.put_i32(months);
        }
        DataType::Duration(unit) => {
            // As PostgreSQL's `timestamp - timestamp`: whole days, then the rest.
            let micros = duration_micros(array, row, *unit);
            out.put_i64(micros % MICROS_PER_DAY);
            out.put_i32((micros / MICROS_PER_DAY).clamp(i32::MIN.into(), i32::MAX.into()) as i32);
            out.put_i32(0);
        }
        _ => {}
    }
}

const MICROS_PER_DAY: i64 = 86_400_000_000;

/// An interval's months, days and microseconds.
fn interval_parts(array: &ArrayRef, row: usize, unit: IntervalUnit) -> (i32, i32, i64) {
    match unit {
        IntervalUnit::YearMonth => (
            array.as_primitive::<IntervalYearMonthType>().value(row),
            0,
            0,
        ),
        IntervalUnit::DayTime => {
            let value = array.as_primitive::<IntervalDayTimeType>().value(row);
            (0, value.days, i64::from(value.milliseconds) * 1000)
        }
        IntervalUnit::MonthDayNano => {
            let value = array.as_primitive::<IntervalMonthDayNanoType>().value(row);
            (value.months, value.days, value.nanoseconds / 1000)
        }
    }
}

/// A duration in microseconds (PostgreSQL's resolution; nanoseconds truncated).
fn duration_micros(array: &ArrayRef, row: usize, unit: TimeUnit) -> i64 {
    use arrow::datatypes::{
        DurationMicrosecondType, DurationMillisecondType, DurationNanosecondType,
        DurationSecondType,
    };
    match unit {
        TimeUnit::Second => array
            .as_primitive::<DurationSecondType>()
            .value(row)
            .saturating_mul(1_000_000),
        TimeUnit::Millisecond => array
            .as_primitive::<DurationMillisecondType>()
            .value(row)
            .saturating_mul(1000),
        TimeUnit::Microsecond => array.as_primitive::<DurationMicrosecondType>().value(row),
        TimeUnit::Nanosecond => array.as_primitive::<DurationNanosecondType>().value(row) / 1000,
    }
}

fn timestamp_value(array: &ArrayRef, row: usize, unit: TimeUnit) -> i64 {
    use arrow::datatypes::{
        TimestampMicrosecondType, TimestampMillisecondType, TimestampNanosecondType,
        TimestampSecondType,
    };
    match unit {
        TimeUnit::Second => array
            .as_primitive::<TimestampSecondType>()
            .value(row)
            .saturating_mul(1_000_000),
        TimeUnit::Millisecond => array
            .as_primitive::<TimestampMillisecondType>()
            .value(row)
            .saturating_mul(1000),
        TimeUnit::Microsecond => array.as_primitive::<TimestampMicrosecondType>().value(row),
        TimeUnit::Nanosecond => array.as_primitive::<TimestampNanosecondType>().value(row) / 1000,
    }
}

/// PostgreSQL's binary NUMERIC: base-10000 digits, a weight (the first digit's power
/// of 10000), a sign and the display scale.
pub(crate) fn numeric(unscaled: i128, scale: i8, out: &mut BytesMut) {
    let (unscaled, scale) = if scale < 0 {
        (
            unscaled.saturating_mul(10i128.saturating_pow(u32::from(scale.unsigned_abs()))),
            0u32,
        )
    } else {
        (unscaled, u32::from(scale.unsigned_abs()))
    };
    let negative = unscaled < 0;
    let mut text = unscaled.unsigned_abs().to_string();
    let scale = scale as usize;
    if text.len() <= scale {
        text = format!("{}{text}", "0".repeat(scale + 1 - text.len()));
    }
    let (integer, fraction) = text.split_at(text.len() - scale);
    let integer = integer.trim_start_matches('0');
    let mut digits: Vec<i16> = Vec::new();
    // Integer groups from the right, so the first group may be short.
    let head = integer.len() % 4;
    let mut groups: Vec<&str> = Vec::new();
    if head > 0 {
        groups.push(&integer[..head]);
    }
    groups.extend(
        integer.as_bytes()[head..]
            .chunks(4)
            .map(|c| std::str::from_utf8(c).unwrap_or("0")),
    );
    let mut weight = groups.len() as i16 - 1;
    digits.extend(groups.iter().map(|g| g.parse::<i16>().unwrap_or(0)));
    for chunk in fraction.as_bytes().chunks(4) {
        let mut group = std::str::from_utf8(chunk).unwrap_or("0").to_string();
        while group.len() < 4 {
            group.push('0');
        }
        digits.push(group.parse::<i16>().unwrap_or(0));
    }
    while digits.first() == Some(&0) {
        digits.remove(0);
        weight -= 1;
    }
    while digits.last() == Some(&0) {
        digits.pop();
    }
    if digits.is_empty() {
        weight = 0;
    }
    out.put_i16(digits.len() as i16);
    out.put_i16(weight);
    out.put_u16(if negative && !digits.is_empty() {
        0x4000
    } else {
        0
    });
    out.put_u16(scale as u16);
    for digit in digits {
        out.put_i16(digit);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encoded(unscaled: i128, scale: i8) -> Vec<i16> {
        let mut out = BytesMut::new();
        numeric(unscaled, scale, &mut out);
        out.chunks(2)
            .map(|c| i16::from_be_bytes([c[0], c[1]]))
            .collect()
    }

    #[test]
    fn numerics_encode_as_postgresql_does() {
        // 157562.13: digits 15 7562 1300, weight 1, scale 2.
        assert_eq!(encoded(15_756_213, 2), [3, 1, 0, 2, 15, 7562, 1300]);
        // -0.05: digit 500 at weight -1.
        assert_eq!(encoded(-5, 2), [1, -1, 0x4000, 2, 500]);
        assert_eq!(encoded(0, 2), [0, 0, 0, 2]);
        // 10000: one digit 1 at weight 1.
        assert_eq!(encoded(10_000, 0), [1, 1, 0, 0, 1]);
        // 0.00012345: weight -1 is 0001, then 2345.
        assert_eq!(encoded(12_345, 8), [2, -1, 0, 8, 1, 2345]);
    }

    /// Text rows: NULLs of a NullArray (`coalesce(null, null)`) are NULL, not ''; a
    /// timestamp is written with a space, and floats and intervals, as PostgreSQL
    /// writes them.
    #[test]
    fn nulls_timestamps_and_floats_in_text_rows() {
        use arrow::array::{
            DurationNanosecondArray, Float32Array, Float64Array, NullArray,
            TimestampMicrosecondArray,
        };
        use arrow::datatypes::{Field, Schema};
        use std::sync::Arc;
        let schema = Schema::new(vec![
            Field::new("n", DataType::Null, true),
            Field::new("t", DataType::Timestamp(TimeUnit::Microsecond, None), true),
            Field::new("d", DataType::Float64, true),
            Field::new("r", DataType::Float32, true),
            Field::new("i", DataType::Duration(TimeUnit::Nanosecond), true),
        ]);
        let batch = RecordBatch::try_new(
            Arc::new(schema),
            vec![
                Arc::new(NullArray::new(1)),
                Arc::new(TimestampMicrosecondArray::from(vec![1_577_872_800_000_000])),
                Arc::new(Float64Array::from(vec![f64::INFINITY])),
                Arc::new(Float32Array::from(vec![1e-5])),
                // timestamp '2024-01-02 01:00:00.5' - timestamp '2023-12-31 12:00:00'
                Arc::new(DurationNanosecondArray::from(vec![133_200_500_000_000])),
            ],
        )
        .unwrap();
        let options = percore_engine::catalog::pg_types::text_format("");
        let encoder = RowEncoder::new(&batch, &[], &options).unwrap();
        let mut out = BytesMut::new();
        encoder.row(0, &mut out);
        let mut expected = (-1i32).to_be_bytes().to_vec();
        for value in [
            "2020-01-01 10:00:00",
            "Infinity",
            "1e-05",
            "1 day 13:00:00.5",
        ] {
            expected.extend((value.len() as i32).to_be_bytes());
            expected.extend(value.as_bytes());
        }
        assert_eq!(&out[..], &expected[..]);
    }
}
