//! Running one statement for a client, in either protocol: transaction control is
//! answered by the session (Percore has nothing to commit, but drivers open
//! transactions), everything else runs on the cluster. What comes back is rows (a
//! query's stream, or a statement's small answer) to send as the protocol says.

use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use arrow::record_batch::RecordBatch;
use percore_engine::error::{ErrorCode, QueryError, QueryResult};
use percore_engine::exec::statement_cancel::StatementCancel;
use percore_engine::settings::SessionSettings;
use percore_engine::sql::copy_out::{ClientFormat, CopyToClient};
use percore_engine::sql::cursor::CursorCommand;
use percore_engine::sql::transaction::TransactionCommand;
use percore_engine::sql::{ParsedStatement, SessionStatement};
use pgwire::messages::response::TransactionStatus;

use super::server::Client;
use crate::coordinator::{ClusterQuery, Outcome};

/// Where a client's session stands, as ReadyForQuery reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Transaction {
    Idle,
    Open,
    /// A statement failed inside the transaction: only COMMIT or ROLLBACK run.
    Failed,
}

impl Transaction {
    pub fn status(self) -> TransactionStatus {
        match self {
            Transaction::Idle => TransactionStatus::Idle,
            Transaction::Open => TransactionStatus::Transaction,
            Transaction::Failed => TransactionStatus::Error,
        }
    }

    /// A statement failed: inside a transaction, the transaction is now failed.
    pub fn failed(&mut self) {
        if *self != Transaction::Idle {
            *self = Transaction::Failed;
        }
    }
}

/// What a statement produced.
pub(crate) enum Produced {
    /// Rows with their schema: a query's stream or a statement's answer.
    Rows(SchemaRef, RowSource),
    /// No rows: only the CommandComplete tag.
    Command(String),
    /// `COPY .. TO STDOUT`: rows to send as CopyData in this form.
    CopyOut(ClientFormat, SchemaRef, RowSource),
}

/// Rows to send, possibly over several Execute messages (a row limit): the rest of a
/// batch the limit cut, and how many rows went out before.
pub(crate) struct RowSource {
    source: Source,
    pending: Option<RecordBatch>,
    handed_out: usize,
    /// The CommandComplete tag's verb: `SELECT n`, or `FETCH n` from a cursor.
    pub verb: &'static str,
}

enum Source {
    Query(Box<ClusterQuery>),
    Batches(std::vec::IntoIter<RecordBatch>),
}

impl RowSource {
    fn query(query: ClusterQuery) -> RowSource {
        RowSource {
            source: Source::Query(Box::new(query)),
            pending: None,
            handed_out: 0,
            verb: "SELECT",
        }
    }

    fn batches(batches: Vec<RecordBatch>, verb: &'static str) -> RowSource {
        RowSource {
            source: Source::Batches(batches.into_iter()),
            pending: None,
            handed_out: 0,
            verb,
        }
    }

    /// Up to `limit` more rows (all when `None`), as batches; the rest stay.
    fn take_rows(&mut self, limit: Option<usize>) -> QueryResult<Vec<RecordBatch>> {
        let mut taken = Vec::new();
        let mut count = 0;
        while let Some(batch) = self.next_piece(limit.map(|limit| limit - count)) {
            let batch = batch?;
            count += batch.num_rows();
            taken.push(batch);
        }
        Ok(taken)
    }

    /// The next batch, of at most `room` rows when given (the rest of a batch it cuts
    /// comes first next time); `None` at the end, or when `room` is 0.
    pub fn next_piece(&mut self, room: Option<usize>) -> Option<QueryResult<RecordBatch>> {
        if room == Some(0) {
            return None;
        }
        let batch = match self.pending.take() {
            Some(batch) => batch,
            None => match self.next_batch()? {
                Ok(batch) => batch,
                Err(error) => return Some(Err(error)),
            },
        };
        let rows = batch.num_rows();
        let piece = match room {
            Some(room) if room < rows => {
                self.pending = Some(batch.slice(room, rows - room));
                batch.slice(0, room)
            }
            _ => batch,
        };
        self.handed_out += piece.num_rows();
        Some(Ok(piece))
    }

    fn next_batch(&mut self) -> Option<QueryResult<RecordBatch>> {
        match &mut self.source {
            Source::Query(query) => query.next_batch(),
            Source::Batches(batches) => batches.next().map(Ok),
        }
    }

    /// Rows handed out so far, over every Execute.
    pub fn handed_out(&self) -> usize {
        self.handed_out
    }

    /// The query's canceller, for a client's cancel request while rows stream.
    pub fn canceller(&self) -> Option<percore_engine::exec::query::QueryCanceller> {
        match &self.source {
            Source::Query(query) => Some(query.canceller()),
            Source::Batches(_) => None,
        }
    }
}

/// Runs one statement of a session; `cancel` reaches it at any point.
///
/// # Errors
/// The statement's error; also 25P02 in a failed transaction and 25006 for a
/// statement that writes inside a transaction (it could not be rolled back).
pub(crate) fn run(
    client: &mut Client,
    sql: &str,
    cancel: &StatementCancel,
) -> QueryResult<Produced> {
    if let Some(command) = CursorCommand::of(sql)? {
        return cursor(client, command, cancel);
    }
    if let Some(copy) = CopyToClient::of(sql)? {
        let Produced::Rows(schema, rows) = run(client, &copy.query, cancel)? else {
            return Err(QueryError::internal("COPY's query answered with no rows"));
        };
        return Ok(Produced::CopyOut(copy.format, schema, rows));
    }
    if let Some(name) = deallocated(sql) {
        match name {
            None => client.prepared.clear(),
            Some(name) => {
                client.prepared.remove(&name).ok_or_else(|| {
                    QueryError::new(
                        ErrorCode::Semantic,
                        format!("prepared statement \"{name}\" does not exist"),
                    )
                })?;
            }
        }
        return Ok(Produced::Command("DEALLOCATE".into()));
    }
    let Client {
        node,
        settings,
        transaction,
        cursors,
        ..
    } = client;
    if let Some(command) = TransactionCommand::of(sql) {
        if command != TransactionCommand::Begin && command != TransactionCommand::Characteristics {
            // The transaction ends: its cursors go, unless declared WITH HOLD.
            cursors.retain(|_, cursor| cursor.hold);
        }
        let tag = match (command, *transaction) {
            (TransactionCommand::Begin, _) => {
                if *transaction == Transaction::Idle {
                    *transaction = Transaction::Open;
                }
                command.tag()
            }
            // COMMIT of a failed transaction rolls it back, and says so.
            (TransactionCommand::Commit, Transaction::Failed) => "ROLLBACK",
            (TransactionCommand::Commit | TransactionCommand::Rollback, _) => {
                *transaction = Transaction::Idle;
                command.tag()
            }
            (TransactionCommand::Characteristics, _) => command.tag(),
        };
        if tag == "ROLLBACK" {
            *transaction = Transaction::Idle;
        }
        return Ok(Produced::Command(tag.to_string()));
    }
    if *transaction == Transaction::Failed {
        return Err(QueryError::new(
            ErrorCode::FailedTransaction,
            "current transaction is aborted, commands ignored until end of transaction block",
        ));
    }
    if *transaction == Transaction::Open {
        if let Some(what) = writes(&node.cluster.parse(sql)?) {
            return Err(QueryError::new(
                ErrorCode::ReadOnlyTransaction,
                format!(
                    "{what} inside a transaction: Percore cannot roll it back; COMMIT \
                     first, or run it in autocommit mode"
                ),
            ));
        }
    }
    Ok(match node.run_in(sql, settings, cancel)? {
        Outcome::Rows(query) => Produced::Rows(query.schema(), RowSource::query(query)),
        Outcome::Explain(batch) => {
            Produced::Rows(batch.schema(), RowSource::batches(vec![batch], "SELECT"))
        }
    })
}

/// A cursor a session declared: the running query and what it has not yet handed out.
pub(crate) struct Cursor {
    pub schema: SchemaRef,
    rows: RowSource,
    hold: bool,
}

fn cursor(
    client: &mut Client,
    command: CursorCommand,
    cancel: &StatementCancel,
) -> QueryResult<Produced> {
    match command {
        CursorCommand::Declare { name, query, hold } => {
            if client.cursors.contains_key(&name) {
                return Err(QueryError::new(
                    ErrorCode::Semantic,
                    format!("cursor \"{name}\" already exists"),
                ));
            }
            let Produced::Rows(schema, rows) = run(client, &query, cancel)? else {
                return Err(QueryError::new(
                    ErrorCode::Syntax,
                    "DECLARE .. CURSOR FOR needs a query that returns rows",
                ));
            };
            client.cursors.insert(name, Cursor { schema, rows, hold });
            Ok(Produced::Command("DECLARE CURSOR".into()))
        }
        CursorCommand::Fetch { name, rows } => {
            let cursor = client
                .cursors
                .get_mut(&name)
                .ok_or_else(|| no_cursor(&name))?;
            if let Some(query) = cursor.rows.canceller() {
                cancel.attach(query);
            }
            let batches = cursor.rows.take_rows(rows)?;
            Ok(Produced::Rows(
                std::sync::Arc::clone(&cursor.schema),
                RowSource::batches(batches, "FETCH"),
            ))
        }
        CursorCommand::Close { name: Some(name) } => {
            client
                .cursors
                .remove(&name)
                .ok_or_else(|| no_cursor(&name))?;
            Ok(Produced::Command("CLOSE CURSOR".into()))
        }
        CursorCommand::Close { name: None } => {
            client.cursors.clear();
            Ok(Produced::Command("CLOSE CURSOR ALL".into()))
        }
    }
}

/// `DEALLOCATE [PREPARE] name | ALL`: `Some(None)` for all, `Some(Some(name))`.
fn deallocated(sql: &str) -> Option<Option<String>> {
    let mut words = sql.trim().trim_end_matches(';').split_whitespace();
    if !words.next()?.eq_ignore_ascii_case("deallocate") {
        return None;
    }
    let mut name = words.next()?;
    if name.eq_ignore_ascii_case("prepare") {
        name = words.next()?;
    }
    if name.eq_ignore_ascii_case("all") {
        return Some(None);
    }
    Some(Some(
        match name.strip_prefix('"').and_then(|n| n.strip_suffix('"')) {
            Some(quoted) => quoted.to_string(),
            None => name.to_ascii_lowercase(),
        },
    ))
}

fn no_cursor(name: &str) -> QueryError {
    QueryError::new(
        ErrorCode::Semantic,
        format!("cursor \"{name}\" does not exist"),
    )
}

/// What a statement changes, if anything: it must not run inside a transaction.
fn writes(parsed: &ParsedStatement) -> Option<&'static str> {
    use sqlparser::ast::Statement;
    match parsed {
        ParsedStatement::Session(SessionStatement::CreateExternalTable { .. }) => {
            Some("CREATE EXTERNAL TABLE")
        }
        ParsedStatement::Session(SessionStatement::DropTable { .. }) => Some("DROP TABLE"),
        ParsedStatement::Plannable(statement) => match statement.as_ref() {
            Statement::CreateTable(_) => Some("CREATE TABLE"),
            Statement::Copy { .. } => Some("COPY"),
            _ => None,
        },
        ParsedStatement::Session(_) => None,
    }
}

/// The columns a statement will answer with, without running anything that changes
/// state: `None` when it answers with no rows (transaction control).
///
/// # Errors
/// The statement's planning error.
pub(crate) fn describe(client: &Client, sql: &str) -> QueryResult<Option<SchemaRef>> {
    use percore_engine::session::StatementKind;
    use sqlparser::ast::Statement;
    if TransactionCommand::of(sql).is_some() {
        return Ok(None);
    }
    match CursorCommand::of(sql)? {
        Some(CursorCommand::Fetch { name, .. }) => {
            let cursor = client.cursors.get(&name).ok_or_else(|| no_cursor(&name))?;
            return Ok(Some(std::sync::Arc::clone(&cursor.schema)));
        }
        Some(_) => return Ok(None),
        None => {}
    }
    let node = &client.node;
    let text = |name: &str| {
        Some(Arc::new(Schema::new(vec![Field::new(
            name,
            DataType::Utf8,
            false,
        )])))
    };
    Ok(match node.cluster.parse(sql)? {
        ParsedStatement::Session(SessionStatement::Set { .. }) => text("setting"),
        ParsedStatement::Session(statement) if statement.changes_catalog() => text("result"),
        ParsedStatement::Session(statement) => {
            // SHOW and DESCRIBE only read: their answer's schema is what they return.
            let batch = node
                .cluster
                .session_statement(&statement, &mut SessionSettings::default())?;
            Some(batch.schema())
        }
        ParsedStatement::Plannable(statement) => match *statement {
            // Its rows go as CopyData, not DataRows: no RowDescription (as PostgreSQL).
            Statement::Copy {
                target: sqlparser::ast::CopyTarget::Stdout,
                ..
            } => None,
            Statement::CreateTable(_) | Statement::Copy { .. } => text("result"),
            statement => {
                let (plan, kind) = node.cluster.plan_parsed_for_columns(statement)?;
                match kind {
                    StatementKind::Query => Some(plan.schema),
                    _ => text(if kind == StatementKind::CopyTo {
                        "result"
                    } else {
                        "plan"
                    }),
                }
            }
        },
    })
}
