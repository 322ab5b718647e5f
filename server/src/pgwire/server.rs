//! Serves PostgreSQL clients: startup (SCRAM-SHA-256 when the node has a password
//! file; otherwise the cluster trusts its network), then simple and extended queries. Each statement runs on
//! the whole cluster with this node coordinating; rows are sent as the final stage
//! makes them. Messages are the `pgwire` crate's; what they mean is here.

use std::collections::HashMap;
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;

use arrow::datatypes::Schema;
use bytes::BytesMut;
use percore_engine::error::{ErrorCode, QueryError, QueryResult};
use percore_engine::exec::statement_cancel::StatementCancel;
use percore_engine::settings::SessionSettings;
use percore_engine::sql::split_statements;
use pgwire::messages::data::{DataRow, FieldDescription, RowDescription};
use pgwire::messages::response::{
    CommandComplete, EmptyQueryResponse, ErrorResponse, ReadyForQuery,
};
use pgwire::messages::startup::{BackendKeyData, ParameterStatus, SecretKey};
use pgwire::messages::{PgWireBackendMessage as Backend, PgWireFrontendMessage as Frontend};

use super::authenticate::authenticate;
use super::connection::Connection;
use super::copy_out::copy_out;
use super::extended::{Extended, Prepared};
use super::sessions::{CancelKey, Session};
use super::statement::{self, Cursor, Produced, RowSource, Transaction};
use super::values::{pg_type, RowEncoder};
use crate::node::{peer_name, Node};

pub(crate) fn accept_clients(node: &Arc<Node>, listener: &TcpListener) {
    for connection in listener.incoming() {
        let Ok(connection) = connection else { continue };
        let node = Arc::clone(node);
        let _ = std::thread::Builder::new()
            .name("percore-client".into())
            .spawn(move || {
                let peer = peer_name(&connection);
                if let Err(error) = serve_client(&node, connection, &peer) {
                    if error.kind() != std::io::ErrorKind::UnexpectedEof {
                        eprintln!("percore: client {peer} dropped: {error}");
                    }
                }
            });
    }
}

/// One client's session: its settings, transaction state and prepared statements.
pub(crate) struct Client {
    pub node: Arc<Node>,
    pub session: Arc<Session>,
    pub settings: SessionSettings,
    pub transaction: Transaction,
    pub cursors: HashMap<String, Cursor>,
    /// Statements named by the extended protocol's Parse.
    pub prepared: HashMap<String, Prepared>,
}

/// How long a client may take from connecting to being signed in (PostgreSQL's
/// `authentication_timeout`): a client that connects and says nothing must not hold
/// a thread forever.
const STARTUP_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

fn serve_client(node: &Arc<Node>, stream: TcpStream, peer: &str) -> std::io::Result<()> {
    let mut connection = Connection::new(stream)?;
    connection.set_read_timeout(Some(STARTUP_TIMEOUT))?;
    let Some(session) = startup(node, &mut connection, peer)? else {
        return Ok(());
    };
    connection.set_read_timeout(None)?;
    let _registered = SessionGuard {
        node,
        key: session.key,
    };
    let mut client = Client {
        node: Arc::clone(node),
        session,
        settings: node.config.session_defaults,
        transaction: Transaction::Idle,
        cursors: HashMap::new(),
        prepared: HashMap::new(),
    };
    let mut extended = Extended::default();
    loop {
        let message = match connection.receive() {
            Err(error) if error.kind() == std::io::ErrorKind::InvalidData => {
                let _ = protocol_violation(&mut connection, &error);
                return Err(error);
            }
            other => other?,
        };
        if message.is_extended_query() {
            extended.handle(&mut client, &mut connection, message)?;
            continue;
        }
        match message {
            Frontend::Query(query) => {
                simple_query(&mut client, &mut connection, &query.query)?;
                ready(&mut connection, client.transaction)?;
            }
            Frontend::Terminate(_) => return Ok(()),
            // What a client still sends of a COPY FROM that failed: PostgreSQL
            // ignores it, per the protocol.
            Frontend::CopyData(_) | Frontend::CopyDone(_) | Frontend::CopyFail(_) => {}
            other => {
                let error = QueryError::new(
                    ErrorCode::Internal,
                    format!("unexpected protocol message {other:?}"),
                );
                error_response(&mut connection, &error)?;
                connection.flush()?;
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
    connection: &mut Connection,
    peer: &str,
) -> std::io::Result<Option<Arc<Session>>> {
    use pgwire::messages::SslNegotiationMetaMessage as Ssl;
    let user = loop {
        match connection.receive()? {
            Frontend::SslNegotiation(Ssl::PostgresSsl(_) | Ssl::PostgresGss(_)) => {
                connection.send_raw(b"N");
                connection.flush()?;
                connection.ssl_settled();
            }
            Frontend::SslNegotiation(Ssl::None) => connection.ssl_settled(),
            Frontend::CancelRequest(cancel) => {
                // psql's Ctrl-C: a new connection naming the session by its key.
                if let SecretKey::I32(secret) = cancel.secret_key {
                    node.sessions().cancel(CancelKey {
                        connection: cancel.pid,
                        secret,
                    });
                }
                return Ok(None);
            }
            Frontend::Startup(startup) if startup.protocol_number_major == 3 => {
                break startup.parameters.get("user").cloned()
            }
            Frontend::Startup(startup) => {
                let error = QueryError::unsupported(format!(
                    "protocol version {}.{} (Percore speaks 3.0)",
                    startup.protocol_number_major, startup.protocol_number_minor
                ));
                error_response(connection, &error)?;
                connection.flush()?;
                return Ok(None);
            }
            other => {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!("{other:?} before startup"),
                ))
            }
        }
    };
    connection.started();
    if let Some(passwords) = &node.config.client_passwords {
        if !authenticate(connection, passwords, user.as_deref(), peer)? {
            return Ok(None);
        }
    }
    connection.send(Backend::Authentication(
        pgwire::messages::startup::Authentication::Ok,
    ))?;
    for (name, value) in percore_engine::settings::SERVER_PARAMETERS {
        connection.send(Backend::ParameterStatus(ParameterStatus::new(
            name.to_string(),
            value.to_string(),
        )))?;
    }
    let session = node.sessions().begin(connection.terminator()?);
    connection.send(Backend::BackendKeyData(BackendKeyData::new(
        session.key.connection,
        SecretKey::I32(session.key.secret),
    )))?;
    ready(connection, Transaction::Idle)?;
    Ok(Some(session))
}

pub(crate) fn ready(connection: &mut Connection, transaction: Transaction) -> std::io::Result<()> {
    connection.send(Backend::ReadyForQuery(ReadyForQuery::new(
        transaction.status(),
    )))?;
    connection.flush()
}

/// Runs each statement of a simple query; the first error ends the message, as in
/// PostgreSQL.
fn simple_query(
    client: &mut Client,
    connection: &mut Connection,
    sql: &str,
) -> std::io::Result<()> {
    let statements = split_statements(sql);
    if statements.is_empty() {
        return connection.send(Backend::EmptyQueryResponse(EmptyQueryResponse::new()));
    }
    for statement in statements {
        let cancel = client.session.begin_statement();
        let outcome = simple_statement(client, connection, &statement, &cancel);
        client.session.end_statement();
        if let Err(error) = outcome? {
            client.transaction.failed();
            client.node.metrics.error_sent(error.code.sqlstate());
            return error_response(connection, &error);
        }
    }
    Ok(())
}

/// Runs one statement of a simple query and sends its rows or command tag.
fn simple_statement(
    client: &mut Client,
    connection: &mut Connection,
    sql: &str,
    cancel: &StatementCancel,
) -> std::io::Result<QueryResult<()>> {
    match statement::run(client, sql, cancel) {
        Ok(Produced::Command(tag)) => {
            connection.send(Backend::CommandComplete(CommandComplete::new(tag)))?;
            Ok(Ok(()))
        }
        Ok(Produced::CopyOut(format, schema, mut rows)) => {
            copy_out(connection, &format, &schema, &mut rows)
        }
        Ok(Produced::Rows(schema, mut rows)) => {
            row_description(connection, &schema, &[])?;
            match send_rows(connection, &mut rows, &[], None)? {
                Ok(Sent::All(count)) => {
                    command_complete(connection, rows.verb, count)?;
                    Ok(Ok(()))
                }
                Ok(Sent::Suspended) => Ok(Ok(())),
                Err(error) => Ok(Err(error)),
            }
        }
        Err(error) => Ok(Err(error)),
    }
}

/// The RowDescription for `schema`, each column in text or (where `binary` says)
/// binary format.
pub(crate) fn row_description(
    connection: &mut Connection,
    schema: &Schema,
    binary: &[bool],
) -> std::io::Result<()> {
    let fields = schema
        .fields()
        .iter()
        .enumerate()
        .map(|(index, field)| {
            let (oid, size) = pg_type(field.data_type());
            let format = i16::from(binary.get(index).copied().unwrap_or(false));
            FieldDescription::new(field.name().clone(), 0, 0, oid, size, -1, format)
        })
        .collect();
    connection.send(Backend::RowDescription(RowDescription::new(fields)))
}

pub(crate) fn command_complete(
    connection: &mut Connection,
    verb: &str,
    rows: usize,
) -> std::io::Result<()> {
    connection.send(Backend::CommandComplete(CommandComplete::new(format!(
        "{verb} {rows}"
    ))))
}

/// How far a row stream got.
pub(crate) enum Sent {
    /// Every row; how many.
    All(usize),
    /// The row limit was reached with rows left.
    Suspended,
}

/// Streams rows as DataRows, up to `limit` rows when given; rows of a batch cut by
/// the limit wait in `rows` for the next call. A query error after rows were sent is
/// returned as the error.
pub(crate) fn send_rows(
    connection: &mut Connection,
    rows: &mut RowSource,
    binary: &[bool],
    limit: Option<usize>,
) -> std::io::Result<Result<Sent, QueryError>> {
    let options = percore_engine::catalog::pg_types::text_format("");
    let mut sent = 0usize;
    let mut body = BytesMut::new();
    loop {
        let room = limit.map(|limit| limit - sent);
        if room == Some(0) {
            return Ok(Ok(Sent::Suspended));
        }
        let batch = match rows.next_piece(room) {
            None => return Ok(Ok(Sent::All(rows.handed_out()))),
            Some(Err(error)) => return Ok(Err(error)),
            Some(Ok(batch)) => batch,
        };
        let encoder = match RowEncoder::new(&batch, binary, &options) {
            Ok(encoder) => encoder,
            Err(error) => return Ok(Err(error)),
        };
        for row in 0..batch.num_rows() {
            body.clear();
            encoder.row(row, &mut body);
            connection.send(Backend::DataRow(DataRow::new(
                body.split(),
                batch.num_columns() as i16,
            )))?;
        }
        sent += batch.num_rows();
    }
}

/// PostgreSQL's answer to a message it cannot read (08P01), before it closes the
/// connection: the client learns why instead of seeing a reset.
fn protocol_violation(connection: &mut Connection, error: &std::io::Error) -> std::io::Result<()> {
    connection.send(Backend::ErrorResponse(fatal_response(
        "08P01",
        &format!("protocol violation: {error}"),
    )))?;
    connection.flush()
}

/// An error that ends the connection (PostgreSQL's severity FATAL).
pub(crate) fn fatal_response(sqlstate: &str, message: &str) -> ErrorResponse {
    ErrorResponse::new(vec![
        (b'S', "FATAL".to_string()),
        (b'V', "FATAL".to_string()),
        (b'C', sqlstate.to_string()),
        (b'M', message.to_string()),
    ])
}

pub(crate) fn error_response(
    connection: &mut Connection,
    error: &QueryError,
) -> std::io::Result<()> {
    let mut fields = vec![
        (b'S', "ERROR".to_string()),
        (b'V', "ERROR".to_string()),
        (b'C', error.code.sqlstate().to_string()),
        (b'M', error.message.clone()),
    ];
    // Where a task raised it, as PostgreSQL's context ("CONTEXT:" in psql).
    if let Some(origin) = &error.origin {
        fields.push((b'W', origin.to_string()));
    }
    connection.send(Backend::ErrorResponse(ErrorResponse::new(fields)))
}
