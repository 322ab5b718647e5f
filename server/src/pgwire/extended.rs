//! The extended query protocol: Parse names a statement with `$n` parameters, Bind
//! gives them values (text or binary) and makes a portal, Describe says what either
//! takes and returns, Execute runs a portal (up to a row limit, then PortalSuspended
//! and the rest on the next Execute), Close forgets, Sync ends the batch. After an
//! error everything up to Sync is skipped, as PostgreSQL does.

use std::collections::HashMap;

use arrow::datatypes::SchemaRef;
use percore_engine::error::{ErrorCode, QueryError, QueryResult};
use percore_engine::exec::statement_cancel::StatementCancel;
use percore_engine::sql::placeholders;
use pgwire::messages::data::{NoData, ParameterDescription};
use pgwire::messages::extendedquery::{
    Bind, BindComplete, Close, CloseComplete, Describe, Execute, Parse, ParseComplete,
    PortalSuspended,
};
use pgwire::messages::response::CommandComplete;
use pgwire::messages::{PgWireBackendMessage as Backend, PgWireFrontendMessage as Frontend};

use super::connection::Connection;
use super::copy_out::copy_out;
use super::params;
use super::server::{
    command_complete, error_response, ready, row_description, send_rows, Client, Sent,
};
use super::statement::{self, Produced, RowSource, Transaction};
use super::values::TEXT;
use percore_engine::catalog::pg_types::pg_type;

/// Prepared statements and portals of one connection.
#[derive(Default)]
pub(crate) struct Extended {
    portals: HashMap<String, Portal>,
    /// An error happened: messages are skipped until Sync.
    skipping: bool,
}

/// A statement Parse named, with its parameters' declared types.
pub(crate) struct Prepared {
    sql: String,
    /// Each parameter's type OID as the client declared it (0: unspecified).
    types: Vec<u32>,
}

struct Portal {
    sql: String,
    /// Bind's result format codes (none: all text; one: all columns; else each).
    formats: Vec<i16>,
    state: PortalState,
}

enum PortalState {
    Fresh,
    Running { rows: RowSource, binary: Vec<bool> },
    Done,
}

/// Why a step failed: the client hears the query error; a socket error ends the
/// connection.
enum Failure {
    Query(QueryError),
    Io(std::io::Error),
}

impl From<QueryError> for Failure {
    fn from(error: QueryError) -> Self {
        Failure::Query(error)
    }
}

impl From<std::io::Error> for Failure {
    fn from(error: std::io::Error) -> Self {
        Failure::Io(error)
    }
}

impl Extended {
    /// Handles one extended-protocol message.
    ///
    /// # Errors
    /// Socket errors only; query errors go to the client.
    pub fn handle(
        &mut self,
        client: &mut Client,
        connection: &mut Connection,
        message: Frontend,
    ) -> std::io::Result<()> {
        match message {
            Frontend::Sync(_) => {
                self.skipping = false;
                if client.transaction == Transaction::Idle {
                    // The implicit transaction ends: its portals go (and their queries).
                    self.portals.clear();
                }
                ready(connection, client.transaction)
            }
            Frontend::Flush(_) => connection.flush(),
            _ if self.skipping => Ok(()),
            message => match self.step(client, connection, message) {
                Ok(()) => Ok(()),
                Err(Failure::Io(error)) => Err(error),
                Err(Failure::Query(error)) => {
                    self.skipping = true;
                    client.transaction.failed();
                    client.node.metrics.error_sent(error.code.sqlstate());
                    error_response(connection, &error)
                }
            },
        }
    }

    fn step(
        &mut self,
        client: &mut Client,
        connection: &mut Connection,
        message: Frontend,
    ) -> Result<(), Failure> {
        match message {
            Frontend::Parse(parse) => self.parse(parse, client, connection),
            Frontend::Bind(bind) => self.bind(bind, client, connection),
            Frontend::Describe(describe) => self.describe(&describe, client, connection),
            Frontend::Execute(execute) => self.execute(&execute, client, connection),
            Frontend::Close(close) => self.close(&close, client, connection),
            other => Err(Failure::Query(QueryError::unsupported(format!(
                "protocol message {other:?}"
            )))),
        }
    }

    fn parse(
        &mut self,
        parse: Parse,
        client: &mut Client,
        connection: &mut Connection,
    ) -> Result<(), Failure> {
        let name = parse.name.unwrap_or_default();
        if !name.is_empty() && client.prepared.contains_key(&name) {
            return Err(QueryError::new(
                ErrorCode::Semantic,
                format!("prepared statement \"{name}\" already exists"),
            )
            .into());
        }
        let count = placeholders::count(&parse.query)?.max(parse.type_oids.len());
        let mut types = parse.type_oids;
        types.resize(count, 0);
        if types.contains(&0) {
            // Types the client left open come from where the parameters are used; a
            // statement that does not plan yet (an unknown table) fails at Bind.
            let inferred = client
                .node
                .cluster
                .parameter_types(&parse.query)
                .unwrap_or_default();
            for (oid, data_type) in types.iter_mut().zip(inferred) {
                if let (0, Some(data_type)) = (*oid, data_type) {
                    *oid = pg_type(&data_type).0;
                }
            }
        }
        client.prepared.insert(
            name,
            Prepared {
                sql: parse.query,
                types,
            },
        );
        connection.send(Backend::ParseComplete(ParseComplete::new()))?;
        Ok(())
    }

    fn bind(
        &mut self,
        bind: Bind,
        client: &Client,
        connection: &mut Connection,
    ) -> Result<(), Failure> {
        let name = bind.statement_name.unwrap_or_default();
        let prepared = client.prepared.get(&name).ok_or_else(|| {
            QueryError::new(
                ErrorCode::Semantic,
                format!("prepared statement \"{name}\" does not exist"),
            )
        })?;
        if bind.parameters.len() != prepared.types.len() {
            return Err(QueryError::new(
                ErrorCode::Syntax,
                format!(
                    "bind message supplies {} parameters, but prepared statement \"{name}\" \
                     requires {}",
                    bind.parameters.len(),
                    prepared.types.len()
                ),
            )
            .into());
        }
        let formats = &bind.parameter_format_codes;
        let literals = bind
            .parameters
            .iter()
            .enumerate()
            .map(|(index, value)| {
                let format = match formats.len() {
                    0 => 0,
                    1 => formats[0],
                    _ => formats.get(index).copied().unwrap_or(0),
                };
                params::literal(index, prepared.types[index], format, value.as_ref())
            })
            .collect::<QueryResult<Vec<_>>>()?;
        let sql = if literals.is_empty() {
            prepared.sql.clone()
        } else {
            placeholders::bind(&prepared.sql, &literals)?
        };
        self.portals.insert(
            bind.portal_name.unwrap_or_default(),
            Portal {
                sql,
                formats: bind.result_column_format_codes,
                state: PortalState::Fresh,
            },
        );
        connection.send(Backend::BindComplete(BindComplete::new()))?;
        Ok(())
    }

    fn describe(
        &mut self,
        describe: &Describe,
        client: &Client,
        connection: &mut Connection,
    ) -> Result<(), Failure> {
        let name = describe.name.clone().unwrap_or_default();
        if describe.target_type == b'S' {
            let prepared = client.prepared.get(&name).ok_or_else(|| {
                QueryError::new(
                    ErrorCode::Semantic,
                    format!("prepared statement \"{name}\" does not exist"),
                )
            })?;
            let types: Vec<u32> = prepared
                .types
                .iter()
                .map(|&oid| if oid == 0 { TEXT } else { oid })
                .collect();
            // The result's columns, with every parameter NULL: types that depend on a
            // parameter's value are not known before Bind.
            let nulls = vec!["NULL".to_string(); types.len()];
            let sql = if nulls.is_empty() {
                prepared.sql.clone()
            } else {
                placeholders::bind(&prepared.sql, &nulls)?
            };
            connection.send(Backend::ParameterDescription(ParameterDescription::new(
                types,
            )))?;
            let schema = statement::describe(client, &sql)?;
            return describe_rows(connection, schema.as_ref(), &[]);
        }
        if !self.portals.contains_key(&name) {
            // A cursor is a portal too: psycopg describes its named cursors so.
            if let Some(cursor) = client.cursors.get(&name) {
                return describe_rows(connection, Some(&cursor.schema), &[]);
            }
        }
        let portal = self.portal(&name)?;
        let schema = statement::describe(client, &portal.sql)?;
        let binary = schema
            .as_ref()
            .map(|schema| binary_columns(&portal.formats, schema.fields().len()))
            .unwrap_or_default();
        describe_rows(connection, schema.as_ref(), &binary)
    }

    fn execute(
        &mut self,
        execute: &Execute,
        client: &mut Client,
        connection: &mut Connection,
    ) -> Result<(), Failure> {
        let cancel = client.session.begin_statement();
        let executed = self.execute_portal(execute, client, connection, &cancel);
        client.session.end_statement();
        executed
    }

    /// Runs a portal's statement (on its first Execute) and sends its next rows.
    fn execute_portal(
        &mut self,
        execute: &Execute,
        client: &mut Client,
        connection: &mut Connection,
        cancel: &StatementCancel,
    ) -> Result<(), Failure> {
        let name = execute.name.clone().unwrap_or_default();
        let portal = self.portal(&name)?;
        if let PortalState::Fresh = portal.state {
            let produced = statement::run(client, &portal.sql, cancel)?;
            match produced {
                Produced::Command(tag) => {
                    portal.state = PortalState::Done;
                    connection.send(Backend::CommandComplete(CommandComplete::new(tag)))?;
                    return Ok(());
                }
                Produced::Rows(schema, rows) => {
                    let binary = binary_columns(&portal.formats, schema.fields().len());
                    portal.state = PortalState::Running { rows, binary };
                }
                // A COPY runs whole in one Execute, whatever its row limit.
                Produced::CopyOut(format, schema, mut rows) => {
                    portal.state = PortalState::Done;
                    if let Some(query) = rows.canceller() {
                        cancel.attach(query);
                    }
                    copy_out(connection, &format, &schema, &mut rows)??;
                    return Ok(());
                }
            }
        }
        let PortalState::Running { rows, binary } = &mut portal.state else {
            command_complete(connection, "SELECT", 0)?;
            return Ok(());
        };
        let limit = usize::try_from(execute.max_rows).ok().filter(|&n| n > 0);
        // A portal's query runs across Executes: each one's cancel reaches it.
        if let Some(query) = rows.canceller() {
            cancel.attach(query);
        }
        match send_rows(connection, rows, binary, limit)?? {
            Sent::All(count) => {
                command_complete(connection, rows.verb, count)?;
                portal.state = PortalState::Done;
            }
            Sent::Suspended => connection.send(Backend::PortalSuspended(PortalSuspended::new()))?,
        }
        Ok(())
    }

    fn close(
        &mut self,
        close: &Close,
        client: &mut Client,
        connection: &mut Connection,
    ) -> Result<(), Failure> {
        let name = close.name.clone().unwrap_or_default();
        if close.target_type == b'S' {
            client.prepared.remove(&name);
        } else {
            self.portals.remove(&name);
        }
        connection.send(Backend::CloseComplete(CloseComplete::new()))?;
        Ok(())
    }

    fn portal(&mut self, name: &str) -> QueryResult<&mut Portal> {
        self.portals.get_mut(name).ok_or_else(|| {
            QueryError::new(
                ErrorCode::Semantic,
                format!("portal \"{name}\" does not exist"),
            )
        })
    }
}

fn describe_rows(
    connection: &mut Connection,
    schema: Option<&SchemaRef>,
    binary: &[bool],
) -> Result<(), Failure> {
    match schema {
        Some(schema) => row_description(connection, schema, binary)?,
        None => connection.send(Backend::NoData(NoData::new()))?,
    }
    Ok(())
}

/// Which result columns a client wants in binary, from Bind's format codes.
fn binary_columns(formats: &[i16], columns: usize) -> Vec<bool> {
    match formats {
        [] => vec![false; columns],
        [one] => vec![*one == 1; columns],
        each => (0..columns)
            .map(|c| each.get(c).copied() == Some(1))
            .collect(),
    }
}
