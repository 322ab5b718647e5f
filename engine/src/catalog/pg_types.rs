//! Arrow types as PostgreSQL names them: the type OIDs the wire protocol reports and
//! the system catalog (`pg_type`, `pg_attribute`, `information_schema.columns`) lists.

use arrow::datatypes::DataType;
use arrow::util::display::FormatOptions;

/// Values as PostgreSQL writes them in text (a space, not Arrow's `T`, between date
/// and time; the zone as `+00:00`), for clients and the shell alike.
pub fn text_format(null: &'static str) -> FormatOptions<'static> {
    FormatOptions::default()
        .with_null(null)
        .with_timestamp_format(Some("%Y-%m-%d %H:%M:%S%.f"))
        .with_timestamp_tz_format(Some("%Y-%m-%d %H:%M:%S%.f%:z"))
}

pub const BOOL: u32 = 16;
pub const BYTEA: u32 = 17;
pub const INT8: u32 = 20;
pub const INT2: u32 = 21;
pub const INT4: u32 = 23;
pub const TEXT: u32 = 25;
pub const OID: u32 = 26;
pub const FLOAT4: u32 = 700;
pub const FLOAT8: u32 = 701;
pub const VARCHAR: u32 = 1043;
pub const DATE: u32 = 1082;
pub const TIMESTAMP: u32 = 1114;
pub const TIMESTAMPTZ: u32 = 1184;
pub const INTERVAL: u32 = 1186;
pub const NUMERIC: u32 = 1700;

/// Every type Percore reports: OID, `pg_type.typname`, size (-1: variable), and
/// the SQL name `format_type` gives.
pub const TYPES: [(u32, &str, i16, &str); 15] = [
    (BOOL, "bool", 1, "boolean"),
    (BYTEA, "bytea", -1, "bytea"),
    (INT8, "int8", 8, "bigint"),
    (INT2, "int2", 2, "smallint"),
    (INT4, "int4", 4, "integer"),
    (TEXT, "text", -1, "text"),
    (OID, "oid", 4, "oid"),
    (FLOAT4, "float4", 4, "real"),
    (FLOAT8, "float8", 8, "double precision"),
    (VARCHAR, "varchar", -1, "character varying"),
    (DATE, "date", 4, "date"),
    (TIMESTAMP, "timestamp", 8, "timestamp without time zone"),
    (TIMESTAMPTZ, "timestamptz", 8, "timestamp with time zone"),
    (INTERVAL, "interval", 16, "interval"),
    (NUMERIC, "numeric", -1, "numeric"),
];

/// Array types by their elements' (element OID, array OID): results' lists
/// (`array_agg`), and parameters compared element by element (`x = ANY ($1)`).
pub const ARRAY_TYPES: [(u32, u32); 14] = [
    (BOOL, 1000),
    (BYTEA, 1001),
    (INT2, 1005),
    (INT4, 1007),
    (TEXT, 1009),
    (VARCHAR, 1015),
    (INT8, 1016),
    (FLOAT4, 1021),
    (FLOAT8, 1022),
    (TIMESTAMP, 1115),
    (TIMESTAMPTZ, 1185),
    (INTERVAL, 1187),
    (DATE, 1182),
    (NUMERIC, 1231),
];

/// The PostgreSQL type OID and size a client sees for an Arrow type.
pub fn pg_type(data_type: &DataType) -> (u32, i16) {
    match data_type {
        // An array of the elements' type where PostgreSQL has one (a list of lists
        // has none: it is text).
        DataType::List(element)
        | DataType::LargeList(element)
        | DataType::FixedSizeList(element, _) => {
            let element = pg_type(element.data_type()).0;
            let array = ARRAY_TYPES
                .iter()
                .find(|(of, _)| *of == element)
                .map_or(TEXT, |(_, array)| *array);
            (array, -1)
        }
        DataType::Boolean => (BOOL, 1),
        DataType::Int8 | DataType::Int16 | DataType::UInt8 => (INT2, 2),
        DataType::Int32 | DataType::UInt16 => (INT4, 4),
        DataType::Int64 | DataType::UInt32 => (INT8, 8),
        DataType::Float16 | DataType::Float32 => (FLOAT4, 4),
        DataType::Float64 => (FLOAT8, 8),
        DataType::UInt64
        | DataType::Decimal32(..)
        | DataType::Decimal64(..)
        | DataType::Decimal128(..)
        | DataType::Decimal256(..) => (NUMERIC, -1),
        DataType::Date32 | DataType::Date64 => (DATE, 4),
        DataType::Timestamp(_, None) => (TIMESTAMP, 8),
        DataType::Timestamp(_, Some(_)) => (TIMESTAMPTZ, 8),
        DataType::Interval(_) | DataType::Duration(_) => (INTERVAL, 16),
        DataType::Binary | DataType::LargeBinary | DataType::BinaryView => (BYTEA, -1),
        _ => (TEXT, -1),
    }
}

/// The type modifier PostgreSQL keeps beside the OID: a numeric's precision and
/// scale, -1 where there is none.
pub fn type_modifier(data_type: &DataType) -> i32 {
    match data_type {
        DataType::Decimal32(precision, scale)
        | DataType::Decimal64(precision, scale)
        | DataType::Decimal128(precision, scale)
        | DataType::Decimal256(precision, scale) => {
            ((i32::from(*precision) << 16) | (i32::from(*scale) & 0xffff)) + 4
        }
        _ => -1,
    }
}

/// `format_type(oid, typmod)`: the SQL spelling of a type, `numeric(15,2)` with its
/// modifier; `None` for an OID Percore does not report.
pub fn format_type(oid: u32, modifier: i32) -> Option<String> {
    let (_, _, _, name) = TYPES.iter().find(|(known, ..)| *known == oid)?;
    if oid == NUMERIC && modifier >= 4 {
        let packed = modifier - 4;
        return Some(format!("numeric({},{})", packed >> 16, packed & 0xffff));
    }
    Some((*name).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_decimal_keeps_its_precision_and_scale_through_its_modifier() {
        let decimal = DataType::Decimal128(15, 2);
        let (oid, _) = pg_type(&decimal);
        assert_eq!(
            format_type(oid, type_modifier(&decimal)).as_deref(),
            Some("numeric(15,2)")
        );
        assert_eq!(format_type(INT8, -1).as_deref(), Some("bigint"));
        assert_eq!(format_type(12345, -1), None);
    }
}
