//! Sends a query's rows as `COPY .. TO STDOUT` does: CopyOutResponse, one CopyData
//! per row (psycopg's row reader wants exactly that, as PostgreSQL sends), CopyDone,
//! then `COPY n`. Values are the same text PostgreSQL writes for them, escaped as its
//! text or CSV format says, or its binary send forms in the binary format.

use bytes::{BufMut, Bytes, BytesMut};
use percore_engine::error::QueryError;
use percore_engine::sql::copy_out::{ClientFormat, ForceQuote};
use pgwire::messages::copy::{CopyData, CopyDone, CopyOutResponse};
use pgwire::messages::PgWireBackendMessage as Backend;

use super::connection::Connection;
use super::server::command_complete;
use super::statement::RowSource;
use super::values::RowEncoder;

/// Streams every row of `rows`; a query error after some rows is returned (the
/// client then gets an ErrorResponse instead of CopyDone, as from PostgreSQL).
///
/// # Errors
/// The socket's errors.
pub(crate) fn copy_out(
    connection: &mut Connection,
    format: &ClientFormat,
    schema: &arrow::datatypes::Schema,
    rows: &mut RowSource,
) -> std::io::Result<Result<(), QueryError>> {
    let columns = schema.fields().len();
    let binary = *format == ClientFormat::Binary;
    let code = i16::from(binary);
    connection.send(Backend::CopyOutResponse(CopyOutResponse::new(
        i8::from(binary),
        i16::try_from(columns).unwrap_or(i16::MAX),
        vec![code; columns],
    )))?;
    if binary {
        return copy_out_binary(connection, columns, rows);
    }
    let forced = forced_columns(format, schema);
    let mut line = BytesMut::new();
    if header(format) {
        // FORCE_QUOTE is for values: names are quoted only where they must be.
        for (index, name) in schema.fields().iter().map(|f| f.name()).enumerate() {
            write_cell(format, index, Some(name.as_bytes()), &[], &mut line);
        }
        send_line(connection, &mut line)?;
    }
    let mut scratch = BytesMut::new();
    let count = match each_row(rows, &[], |encoder, row| {
        encoder.text_cells(row, &mut scratch, |index, value| {
            write_cell(format, index, value, &forced, &mut line);
        });
        send_line(connection, &mut line)
    })? {
        Ok(count) => count,
        Err(error) => return Ok(Err(error)),
    };
    connection.send(Backend::CopyDone(CopyDone::new()))?;
    command_complete(connection, "COPY", count)?;
    Ok(Ok(()))
}

/// The binary form: a signature and two zero words (flags, header extension), each
/// row as a field count and length-prefixed values (a DataRow's body), and -1.
fn copy_out_binary(
    connection: &mut Connection,
    columns: usize,
    rows: &mut RowSource,
) -> std::io::Result<Result<(), QueryError>> {
    let mut data = BytesMut::new();
    data.put_slice(b"PGCOPY\n\xff\r\n\0");
    data.put_i32(0);
    data.put_i32(0);
    let count = match each_row(rows, &vec![true; columns], |encoder, row| {
        data.put_i16(i16::try_from(columns).unwrap_or(i16::MAX));
        encoder.row(row, &mut data);
        connection.send(Backend::CopyData(CopyData::new(Bytes::from(data.split()))))
    })? {
        Ok(count) => count,
        Err(error) => return Ok(Err(error)),
    };
    data.put_i16(-1);
    connection.send(Backend::CopyData(CopyData::new(Bytes::from(data.split()))))?;
    connection.send(Backend::CopyDone(CopyDone::new()))?;
    command_complete(connection, "COPY", count)?;
    Ok(Ok(()))
}

/// Hands every row of `rows` to `each` with its batch's encoder (binary where
/// `binary` says); how many rows, or the query's error.
fn each_row(
    rows: &mut RowSource,
    binary: &[bool],
    mut each: impl FnMut(&RowEncoder<'_>, usize) -> std::io::Result<()>,
) -> std::io::Result<Result<usize, QueryError>> {
    let options = percore_engine::catalog::pg_types::text_format("");
    let mut count = 0usize;
    while let Some(batch) = rows.next_piece(None) {
        let batch = match batch {
            Ok(batch) => batch,
            Err(error) => return Ok(Err(error)),
        };
        let encoder = match RowEncoder::new(&batch, binary, &options) {
            Ok(encoder) => encoder,
            Err(error) => return Ok(Err(error)),
        };
        for row in 0..batch.num_rows() {
            each(&encoder, row)?;
        }
        count += batch.num_rows();
    }
    Ok(Ok(count))
}

fn header(format: &ClientFormat) -> bool {
    match format {
        ClientFormat::Text { header, .. } | ClientFormat::Csv { header, .. } => *header,
        ClientFormat::Binary => false,
    }
}

/// Which columns CSV quotes always.
fn forced_columns(format: &ClientFormat, schema: &arrow::datatypes::Schema) -> Vec<bool> {
    let fields = schema.fields();
    match format {
        ClientFormat::Csv {
            force_quote: ForceQuote::All,
            ..
        } => vec![true; fields.len()],
        ClientFormat::Csv {
            force_quote: ForceQuote::Columns(names),
            ..
        } => fields
            .iter()
            .map(|field| names.iter().any(|name| name == field.name()))
            .collect(),
        ClientFormat::Csv { .. } | ClientFormat::Text { .. } | ClientFormat::Binary => {
            vec![false; fields.len()]
        }
    }
}

/// Ends the row and sends it as one CopyData.
fn send_line(connection: &mut Connection, line: &mut BytesMut) -> std::io::Result<()> {
    line.put_u8(b'\n');
    connection.send(Backend::CopyData(CopyData::new(Bytes::from(line.split()))))
}

/// Appends one value (after its delimiter, unless it is the first).
fn write_cell(
    format: &ClientFormat,
    index: usize,
    value: Option<&[u8]>,
    forced: &[bool],
    out: &mut BytesMut,
) {
    match format {
        ClientFormat::Text {
            delimiter, null, ..
        } => {
            if index > 0 {
                out.put_u8(*delimiter);
            }
            match value {
                None => out.put_slice(null.as_bytes()),
                Some(value) => text_escaped(value, *delimiter, out),
            }
        }
        ClientFormat::Csv {
            delimiter,
            null,
            quote,
            escape,
            ..
        } => {
            if index > 0 {
                out.put_u8(*delimiter);
            }
            let Some(value) = value else {
                out.put_slice(null.as_bytes());
                return;
            };
            let quoted = forced.get(index).copied().unwrap_or(false)
                || value == null.as_bytes()
                // A lone `\.` would read back as the end of the data.
                || value == b"\\."
                || value
                    .iter()
                    .any(|&b| b == *delimiter || b == *quote || b == b'\n' || b == b'\r');
            if !quoted {
                out.put_slice(value);
                return;
            }
            out.put_u8(*quote);
            for &byte in value {
                if byte == *quote || byte == *escape {
                    out.put_u8(*escape);
                }
                out.put_u8(byte);
            }
            out.put_u8(*quote);
        }
        ClientFormat::Binary => {}
    }
}

/// PostgreSQL's text-format escapes (`CopyAttributeOutText`): control characters
/// with a letter, and the backslash and the delimiter with a backslash.
fn text_escaped(value: &[u8], delimiter: u8, out: &mut BytesMut) {
    for &byte in value {
        let letter = match byte {
            0x08 => Some(b'b'),
            0x0c => Some(b'f'),
            b'\n' => Some(b'n'),
            b'\r' => Some(b'r'),
            b'\t' => Some(b't'),
            0x0b => Some(b'v'),
            _ => None,
        };
        if let Some(letter) = letter {
            out.put_slice(&[b'\\', letter]);
        } else if byte == b'\\' || byte == delimiter {
            out.put_slice(&[b'\\', byte]);
        } else {
            out.put_u8(byte);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(format: &ClientFormat, cells: &[Option<&str>], forced: &[bool]) -> String {
        let mut out = BytesMut::new();
        for (index, cell) in cells.iter().enumerate() {
            write_cell(format, index, cell.map(str::as_bytes), forced, &mut out);
        }
        String::from_utf8(out.to_vec()).unwrap()
    }

    #[test]
    fn text_and_csv_escape_as_postgresql_does() {
        let text = ClientFormat::Text {
            delimiter: b'\t',
            null: "\\N".into(),
            header: false,
        };
        assert_eq!(
            line(
                &text,
                &[Some("a\tb\\c\nd"), None, Some(""), Some("x,y")],
                &[]
            ),
            "a\\tb\\\\c\\nd\t\\N\t\tx,y"
        );
        let csv = ClientFormat::Csv {
            delimiter: b',',
            null: String::new(),
            header: false,
            quote: b'"',
            escape: b'"',
            force_quote: ForceQuote::None,
        };
        assert_eq!(
            line(
                &csv,
                &[
                    Some("plain"),
                    None,
                    Some(""),
                    Some("a,b"),
                    Some("say \"hi\""),
                    Some("l1\nl2"),
                    Some("\\.")
                ],
                &[]
            ),
            "plain,,\"\",\"a,b\",\"say \"\"hi\"\"\",\"l1\nl2\",\"\\.\""
        );
        assert_eq!(
            line(&csv, &[Some("1"), Some("2")], &[false, true]),
            "1,\"2\""
        );
        let semicolons = ClientFormat::Csv {
            delimiter: b';',
            null: "NULL".into(),
            header: false,
            quote: b'\'',
            escape: b'\\',
            force_quote: ForceQuote::None,
        };
        assert_eq!(
            line(
                &semicolons,
                &[None, Some("NULL"), Some("it's"), Some("a,b")],
                &[]
            ),
            "NULL;'NULL';'it\\'s';a,b"
        );
    }
}
