//! Serves PostgreSQL clients: startup without authentication (the cluster trusts its
//! network, as configured), then simple queries. Each statement runs on the whole
//! cluster with this node coordinating; rows are sent as the final stage makes them.

use std::io::{BufWriter, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;

use arrow::array::{Array, BooleanArray};
use arrow::datatypes::{DataType, Schema};
use arrow::record_batch::RecordBatch;
use arrow::util::display::{ArrayFormatter, FormatOptions};
use percore_engine::error::{ErrorCode, QueryError};
use percore_engine::sql::split_statements;

use super::codec::{read_body, read_message, BodyReader, MessageBuilder};
use super::sessions::{CancelKey, Session};
use crate::coordinator::Outcome;
use crate::node::{peer_name, Node};
use percore_engine::settings::SessionSettings;

const PROTOCOL_3: i32 = 196_608;
const SSL_REQUEST: i32 = 80_877_103;
const GSS_REQUEST: i32 = 80_877_104;
const CANCEL_REQUEST: i32 = 80_877_102;
/// Startup packets carry a few parameters; PostgreSQL itself caps them at 10000 bytes.
const MAX_STARTUP_BYTES: u32 = 10_000;

pub(crate) fn accept_clients(node: &Arc<Node>, listener: &TcpListener) {
    for connection in listener.incoming() {
        let Ok(connection) = connection else { continue };
        let node = Arc::clone(node);
        let _ = std::thread::Builder::new()
            .name("percore-client".into())
            .spawn(move || {
                let peer = peer_name(&connection);
                if let Err(error) = serve_client(&node, connection) {
                    if error.kind() != std::io::ErrorKind::UnexpectedEof {
                        eprintln!("percore: client {peer} dropped: {error}");
                    }
                }
            });
    }
}

fn serve_client(node: &Arc<Node>, connection: TcpStream) -> std::io::Result<()> {
    let _ = connection.set_nodelay(true);
    let mut reader = connection.try_clone()?;
    let mut writer = BufWriter::new(connection);
    let Some(session) = startup(node, &mut reader, &mut writer)? else {
        return Ok(());
    };
    let _registered = SessionGuard {
        node,
        key: session.key,
    };
    // After an error in the extended protocol, everything up to Sync is skipped.
    let mut skipping_to_sync = false;
    let mut settings = SessionSettings::default();
    loop {
        let (kind, body) = read_message(&mut reader)?;
        match kind {
            b'Q' => {
                let sql = BodyReader::new(&body).cstr()?;
                simple_query(node, &session, &mut settings, &sql, &mut writer)?;
                ready(&mut writer)?;
            }
            b'X' => return Ok(()),
            b'S' => {
                skipping_to_sync = false;
                ready(&mut writer)?;
            }
            b'P' | b'B' | b'D' | b'E' | b'C' | b'H' | b'F' => {
                if !skipping_to_sync {
                    skipping_to_sync = true;
                    let error = QueryError::unsupported(
                        "the extended query protocol (prepared statements); send simple queries",
                    );
                    error_response(&mut writer, &error)?;
                    writer.flush()?;
                }
            }
            other => {
                let error = QueryError::new(
                    ErrorCode::Internal,
                    format!("unexpected protocol message {:?}", other as char),
                );
                error_response(&mut writer, &error)?;
                writer.flush()?;
                return Ok(());
            }
        }
    }
}

/// Removes a client session from the node's cancel table when its connection ends.
struct SessionGuard<'a> {
    node: &'a Node,
    key: CancelKey,
}

impl Drop for SessionGuard<'_> {
    fn drop(&mut self) {
        self.node.sessions().end(self.key);
    }
}

/// Negotiates the session; `None` when the client only wanted to cancel or gave up.
fn startup(
    node: &Node,
    reader: &mut TcpStream,
    writer: &mut BufWriter<TcpStream>,
) -> std::io::Result<Option<Arc<Session>>> {
    loop {
        let mut length = [0u8; 4];
        reader.read_exact(&mut length)?;
        let length = u32::from_be_bytes(length);
        if length > MAX_STARTUP_BYTES {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("startup packet of {length} bytes"),
            ));
        }
        let body = read_body(reader, length)?;
        let mut fields = BodyReader::new(&body);
        match fields.i32()? {
            SSL_REQUEST | GSS_REQUEST => {
                writer.write_all(b"N")?;
                writer.flush()?;
            }
            CANCEL_REQUEST => {
                // psql's Ctrl-C: a new connection naming the session by its key.
                let key = CancelKey {
                    connection: fields.i32()?,
                    secret: fields.i32()?,
                };
                node.sessions().cancel(key);
                return Ok(None);
            }
            PROTOCOL_3 => break,
            version => {
                let error = QueryError::unsupported(format!(
                    "protocol version {}.{} (Percore speaks 3.0)",
                    version >> 16,
                    version & 0xffff
                ));
                error_response(writer, &error)?;
                writer.flush()?;
                return Ok(None);
            }
        }
    }
    MessageBuilder::new(b'R').i32(0).write_to(writer)?;
    for (name, value) in [
        ("server_version", "16.0 (Percore)"),
        ("server_encoding", "UTF8"),
        ("client_encoding", "UTF8"),
        ("DateStyle", "ISO, MDY"),
        ("integer_datetimes", "on"),
        ("standard_conforming_strings", "on"),
    ] {
        MessageBuilder::new(b'S')
            .cstr(name)
            .cstr(value)
            .write_to(writer)?;
    }
    let session = node.sessions().begin();
    MessageBuilder::new(b'K')
        .i32(session.key.connection)
        .i32(session.key.secret)
        .write_to(writer)?;
    ready(writer)?;
    Ok(Some(session))
}

fn ready(writer: &mut BufWriter<TcpStream>) -> std::io::Result<()> {
    MessageBuilder::new(b'Z').bytes(b"I").write_to(writer)?;
    writer.flush()
}

/// Runs each statement of a simple query; the first error ends the message, as in
/// PostgreSQL.
fn simple_query(
    node: &Arc<Node>,
    session: &Session,
    settings: &mut SessionSettings,
    sql: &str,
    writer: &mut BufWriter<TcpStream>,
) -> std::io::Result<()> {
    let statements = split_statements(sql);
    if statements.is_empty() {
        return MessageBuilder::new(b'I').write_to(writer);
    }
    for statement in statements {
        let outcome = node.run_in(&statement, settings);
        let result = match outcome {
            Ok(Outcome::Explain(batch)) => {
                send_rows(writer, &batch.schema(), std::iter::once(Ok(batch)))
            }
            Ok(Outcome::Rows(mut query)) => {
                session.running(Some(query.canceller()));
                let schema = query.schema();
                let sent = send_rows(writer, &schema, std::iter::from_fn(|| query.next_batch()));
                session.running(None);
                sent
            }
            Err(error) => Ok(Err(error)),
        }?;
        if let Err(error) = result {
            return error_response(writer, &error);
        }
    }
    Ok(())
}

/// Streams rows; a query error after rows were sent still ends in an ErrorResponse.
fn send_rows(
    writer: &mut BufWriter<TcpStream>,
    schema: &Schema,
    batches: impl Iterator<Item = Result<RecordBatch, QueryError>>,
) -> std::io::Result<Result<(), QueryError>> {
    let mut description = MessageBuilder::new(b'T').i16(schema.fields().len() as i16);
    for field in schema.fields() {
        let (oid, size) = pg_type(field.data_type());
        description = description
            .cstr(field.name())
            .i32(0)
            .i16(0)
            .i32(oid)
            .i16(size)
            .i32(-1)
            .i16(0);
    }
    description.write_to(writer)?;
    let mut rows = 0usize;
    for batch in batches {
        let batch = match batch {
            Ok(batch) => batch,
            Err(error) => return Ok(Err(error)),
        };
        if let Err(error) = send_batch(writer, &batch) {
            return match error {
                SendError::Io(error) => Err(error),
                SendError::Format(error) => Ok(Err(error)),
            };
        }
        rows += batch.num_rows();
    }
    MessageBuilder::new(b'C')
        .cstr(&format!("SELECT {rows}"))
        .write_to(writer)?;
    Ok(Ok(()))
}

enum SendError {
    Io(std::io::Error),
    Format(QueryError),
}

fn send_batch(writer: &mut BufWriter<TcpStream>, batch: &RecordBatch) -> Result<(), SendError> {
    let options = FormatOptions::default();
    let formatters = batch
        .columns()
        .iter()
        .map(|column| ArrayFormatter::try_new(column.as_ref(), &options))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| SendError::Format(QueryError::from(e)))?;
    let mut cell = String::new();
    for row in 0..batch.num_rows() {
        let mut message = MessageBuilder::new(b'D').i16(batch.num_columns() as i16);
        for (column, formatter) in batch.columns().iter().zip(&formatters) {
            if column.is_null(row) {
                message = message.i32(-1);
                continue;
            }
            cell.clear();
            if let Some(booleans) = column.as_any().downcast_ref::<BooleanArray>() {
                cell.push(if booleans.value(row) { 't' } else { 'f' });
            } else {
                use std::fmt::Write as _;
                let _ = write!(cell, "{}", formatter.value(row));
            }
            message = message.i32(cell.len() as i32).bytes(cell.as_bytes());
        }
        message.write_to(writer).map_err(SendError::Io)?;
    }
    Ok(())
}

/// The PostgreSQL type OID and size a client sees for an Arrow type; values travel as
/// text either way.
fn pg_type(data_type: &DataType) -> (i32, i16) {
    match data_type {
        DataType::Boolean => (16, 1),
        DataType::Int8 | DataType::Int16 | DataType::UInt8 => (21, 2),
        DataType::Int32 | DataType::UInt16 => (23, 4),
        DataType::Int64 | DataType::UInt32 => (20, 8),
        DataType::Float16 | DataType::Float32 => (700, 4),
        DataType::Float64 => (701, 8),
        DataType::UInt64
        | DataType::Decimal32(..)
        | DataType::Decimal64(..)
        | DataType::Decimal128(..)
        | DataType::Decimal256(..) => (1700, -1),
        DataType::Date32 | DataType::Date64 => (1082, 4),
        DataType::Timestamp(_, None) => (1114, 8),
        DataType::Timestamp(_, Some(_)) => (1184, 8),
        DataType::Interval(_) => (1186, 16),
        _ => (25, -1),
    }
}

fn error_response(writer: &mut BufWriter<TcpStream>, error: &QueryError) -> std::io::Result<()> {
    MessageBuilder::new(b'E')
        .bytes(b"S")
        .cstr("ERROR")
        .bytes(b"V")
        .cstr("ERROR")
        .bytes(b"C")
        .cstr(error.code.sqlstate())
        .bytes(b"M")
        .cstr(&error.message)
        .bytes(&[0])
        .write_to(writer)
}
