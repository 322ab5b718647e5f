//! The SQL shell: splits input into statements, runs each, prints results or errors.
//! An error ends the statement, never the shell.

use std::io::{BufRead, IsTerminal, Write};
use std::time::Instant;

use std::sync::Arc;

use arrow::array::{ArrayRef, StringArray};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use arrow::record_batch::RecordBatch;
use percore_engine::session::{Cluster, StatementOutput};
use percore_engine::settings::SessionSettings;
use percore_engine::sql::split_statements;
use percore_server::pgwire::client::{Client, Reply};

use crate::output::{print, Format};

/// Where statements run: an embedded cluster, or a node over the PostgreSQL protocol.
pub trait Backend {
    /// Runs one statement; the error is the text to show.
    fn run(&mut self, sql: &str) -> Result<(SchemaRef, Vec<RecordBatch>), String>;
}

/// An embedded cluster and the shell's session settings.
pub struct Embedded<'a> {
    pub cluster: &'a Cluster,
    pub settings: SessionSettings,
}

impl Backend for Embedded<'_> {
    fn run(&mut self, sql: &str) -> Result<(SchemaRef, Vec<RecordBatch>), String> {
        let output = self
            .cluster
            .run_in(sql, &mut self.settings)
            .map_err(|e| e.to_string())?;
        match output {
            StatementOutput::Explain(batch) => Ok((batch.schema(), vec![batch])),
            StatementOutput::Rows(stream) => {
                let schema = stream.schema();
                Ok((schema, stream.collect().map_err(|e| e.to_string())?))
            }
        }
    }
}

impl Backend for Client {
    fn run(&mut self, sql: &str) -> Result<(SchemaRef, Vec<RecordBatch>), String> {
        let replies = self
            .query(sql)
            .map_err(|e| format!("error: connection to the node failed: {e}"))?;
        let mut result = None;
        for reply in replies {
            match reply {
                Reply::Error { sqlstate, message } => {
                    return Err(format!("ERROR {sqlstate}: {message}"))
                }
                Reply::Rows { columns, rows } => {
                    result = Some(text_batch(&columns, &rows).map_err(|e| e.to_string())?);
                }
                Reply::Command(_) | Reply::Empty => {}
            }
        }
        let empty = Arc::new(Schema::empty());
        Ok(result.unwrap_or((empty, Vec::new())))
    }
}

/// A result that arrived as text, as one batch of string columns.
fn text_batch(
    columns: &[percore_server::pgwire::client::Column],
    rows: &[Vec<Option<String>>],
) -> Result<(SchemaRef, Vec<RecordBatch>), arrow::error::ArrowError> {
    let schema = Arc::new(Schema::new(
        columns
            .iter()
            .map(|c| Field::new(&c.name, DataType::Utf8, true))
            .collect::<Vec<_>>(),
    ));
    let arrays: Vec<ArrayRef> = (0..columns.len())
        .map(|i| {
            Arc::new(
                rows.iter()
                    .map(|row| row.get(i).cloned().flatten())
                    .collect::<StringArray>(),
            ) as ArrayRef
        })
        .collect();
    let batch = RecordBatch::try_new(Arc::clone(&schema), arrays)?;
    Ok((schema, vec![batch]))
}

pub struct Options {
    pub format: Format,
    pub timing: bool,
}

/// Runs every `;`-separated statement in `script`; returns false if any failed.
pub fn run_script(backend: &mut dyn Backend, script: &str, options: &Options) -> bool {
    let mut ok = true;
    for statement in split_statements(script) {
        ok &= run_statement(backend, &statement, options);
    }
    ok
}

/// Reads statements from stdin until end of input or `\q`.
pub fn interactive(backend: &mut dyn Backend, options: &Options) {
    let stdin = std::io::stdin();
    let prompt = stdin.is_terminal();
    let mut buffer = String::new();
    let mut lines = stdin.lock().lines();
    loop {
        if prompt {
            print!(
                "{}",
                if buffer.trim().is_empty() {
                    "percore> "
                } else {
                    "    ...> "
                }
            );
            let _ = std::io::stdout().flush();
        }
        let Some(Ok(line)) = lines.next() else { break };
        let trimmed = line.trim();
        if buffer.trim().is_empty() && matches!(trimmed, "\\q" | "quit" | "exit") {
            break;
        }
        if buffer.trim().is_empty() {
            if let Some(statement) = meta_command(trimmed) {
                run_statement(backend, &statement, options);
                continue;
            }
        }
        buffer.push_str(&line);
        buffer.push('\n');
        if trimmed.ends_with(';') {
            for statement in split_statements(&buffer) {
                run_statement(backend, &statement, options);
            }
            buffer.clear();
        }
    }
    if !buffer.trim().is_empty() {
        run_script(backend, &buffer, options);
    }
}

/// psql's `\d` (the tables) and `\d name` (a table's columns), as statements.
fn meta_command(line: &str) -> Option<String> {
    let rest = line.strip_prefix("\\d")?;
    let name = rest.trim().trim_end_matches(';').trim();
    if !rest.is_empty() && !rest.starts_with(char::is_whitespace) {
        return None;
    }
    Some(if name.is_empty() {
        "SHOW TABLES".to_string()
    } else {
        format!("DESCRIBE {name}")
    })
}

fn run_statement(backend: &mut dyn Backend, sql: &str, options: &Options) -> bool {
    let started = Instant::now();
    let result = backend.run(sql);
    match result {
        Ok((schema, batches)) => {
            if let Err(error) = print(options.format, &schema, &batches) {
                eprintln!("error: cannot write the result: {error}");
                return false;
            }
            if options.timing {
                let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
                eprintln!(
                    "({rows} rows, {:.1} ms)",
                    started.elapsed().as_secs_f64() * 1e3
                );
            }
            true
        }
        Err(error) => {
            eprintln!("{error}");
            false
        }
    }
}
