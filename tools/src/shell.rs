//! The SQL shell: splits input into statements, runs each, prints results or errors.
//! An error ends the statement, never the shell.

mod editor;
mod meta;

use std::io::{BufRead, IsTerminal};
use std::time::Instant;

use std::sync::Arc;

use arrow::array::{ArrayRef, StringArray};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use arrow::record_batch::RecordBatch;
use percore_engine::session::{Cluster, StatementOutput};
use percore_engine::settings::SessionSettings;
use percore_engine::sql::split_statements;
use percore_server::pgwire::client::{Client, Reply};

use crate::output::{print, Display};

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
                Reply::Error {
                    sqlstate,
                    message,
                    context,
                } => {
                    let context = context.map_or(String::new(), |c| format!("\nCONTEXT: {c}"));
                    return Err(format!("ERROR {sqlstate}: {message}{context}"));
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

/// What the shell does with results: how they look, where they go, whether each
/// statement's time is shown.
pub struct Options {
    pub display: Display,
    pub timing: bool,
    /// `\o FILE`: results go there instead of stdout.
    pub output: Option<std::fs::File>,
}

impl Options {
    pub fn new(display: Display, timing: bool) -> Options {
        Options {
            display,
            timing,
            output: None,
        }
    }
}

/// Runs the statements and backslash commands in `script` until its end or `\q`;
/// returns false if any failed.
pub fn run_script(backend: &mut dyn Backend, script: &str, options: &mut Options) -> bool {
    let mut pending = Pending::default();
    let mut ok = true;
    for line in script.lines() {
        match pending.feed(backend, line, options) {
            Flow::Quit => return ok,
            Flow::Failed => ok = false,
            Flow::Continue | Flow::RanDdl => {}
        }
    }
    ok & pending.finish(backend, options)
}

/// What to do after a line.
enum Flow {
    Continue,
    /// A statement that may have changed the tables ran.
    RanDdl,
    Failed,
    Quit,
}

/// The statement being typed, run once a line ends with `;`.
#[derive(Default)]
struct Pending {
    text: String,
}

impl Pending {
    fn is_empty(&self) -> bool {
        self.text.trim().is_empty()
    }

    fn feed(&mut self, backend: &mut dyn Backend, line: &str, options: &mut Options) -> Flow {
        let trimmed = line.trim();
        if self.is_empty() {
            if matches!(trimmed, "quit" | "exit") {
                return Flow::Quit;
            }
            if let Some(command) = meta::parse(trimmed) {
                return run_meta(backend, command, options);
            }
        }
        self.text.push_str(line);
        self.text.push('\n');
        if !trimmed.ends_with(';') {
            return Flow::Continue;
        }
        let text = std::mem::take(&mut self.text);
        let mut flow = Flow::Continue;
        for statement in split_statements(&text) {
            let ran = run_statement(backend, &statement, options);
            flow = match (flow, ran, changes_catalog(&statement)) {
                (Flow::Failed, ..) | (_, false, _) => Flow::Failed,
                (_, true, true) | (Flow::RanDdl, true, false) => Flow::RanDdl,
                _ => Flow::Continue,
            };
        }
        flow
    }

    /// Runs what is left at the end of input (a last statement without `;`).
    fn finish(self, backend: &mut dyn Backend, options: &mut Options) -> bool {
        split_statements(&self.text)
            .iter()
            .fold(true, |ok, statement| {
                ok & run_statement(backend, statement, options)
            })
    }
}

/// Reads statements until end of input or `\q`: with line editing, history and
/// completion on a terminal, plain lines otherwise.
pub fn interactive(backend: &mut dyn Backend, options: &mut Options) {
    let stdin = std::io::stdin();
    let mut editor = if stdin.is_terminal() {
        match editor::LineEditor::new() {
            Ok(editor) => Some(editor),
            Err(error) => {
                eprintln!("no line editing ({error}); reading plain lines");
                None
            }
        }
    } else {
        None
    };
    if let Some(editor) = editor.as_mut() {
        editor.set_names(known_names(backend));
    }
    let mut plain = stdin.lock().lines();
    let mut pending = Pending::default();
    loop {
        let prompt = if pending.is_empty() {
            "percore> "
        } else {
            "    ...> "
        };
        let line = match editor.as_mut() {
            Some(editor) => match editor.read(prompt) {
                editor::Line::Text(line) => line,
                editor::Line::Interrupted => {
                    pending = Pending::default();
                    continue;
                }
                editor::Line::End => break,
            },
            None => match plain.next() {
                Some(Ok(line)) => line,
                _ => break,
            },
        };
        match pending.feed(backend, &line, options) {
            Flow::Quit => return,
            Flow::RanDdl => {
                if let Some(editor) = editor.as_mut() {
                    editor.set_names(known_names(backend));
                }
            }
            Flow::Continue | Flow::Failed => {}
        }
    }
    pending.finish(backend, options);
}

fn changes_catalog(statement: &str) -> bool {
    let first = statement.split_whitespace().next().unwrap_or("");
    first.eq_ignore_ascii_case("create") || first.eq_ignore_ascii_case("drop")
}

/// Table and column names for completion; none if the cluster cannot say.
fn known_names(backend: &mut dyn Backend) -> Vec<String> {
    let sql = "select table_name from information_schema.tables \
               union select column_name from information_schema.columns";
    let Ok((_, batches)) = backend.run(sql) else {
        return Vec::new();
    };
    let mut names: Vec<String> = batches
        .iter()
        .filter_map(|batch| {
            let column = arrow::compute::cast(batch.column(0), &DataType::Utf8).ok()?;
            let strings = column.as_any().downcast_ref::<StringArray>()?.clone();
            Some(
                strings
                    .iter()
                    .flatten()
                    .map(str::to_string)
                    .collect::<Vec<_>>(),
            )
        })
        .flatten()
        .collect();
    names.sort();
    names.dedup();
    names
}

fn run_meta(
    backend: &mut dyn Backend,
    command: Result<meta::Meta, String>,
    options: &mut Options,
) -> Flow {
    use meta::Meta;
    let command = match command {
        Ok(command) => command,
        Err(error) => {
            eprintln!("{error}");
            return Flow::Failed;
        }
    };
    match command {
        Meta::Quit => return Flow::Quit,
        Meta::Help => println!("{}", meta::HELP),
        Meta::Sql(sql) => {
            if !run_statement(backend, &sql, options) {
                return Flow::Failed;
            }
        }
        Meta::Timing(switch) => {
            options.timing = switch.unwrap_or(!options.timing);
            eprintln!("Timing is {}.", on_off(options.timing));
        }
        Meta::Expanded(switch) => {
            options.display.expanded = switch.unwrap_or(!options.display.expanded);
            eprintln!("Expanded display is {}.", on_off(options.display.expanded));
        }
        Meta::Output(None) => options.output = None,
        Meta::Output(Some(path)) => match std::fs::File::create(&path) {
            Ok(file) => options.output = Some(file),
            Err(error) => {
                eprintln!("cannot write to {}: {error}", path.display());
                return Flow::Failed;
            }
        },
        Meta::Format(format) => options.display.format = format,
        Meta::MaxRows(rows) => options.display.max_rows = rows,
    }
    Flow::Continue
}

fn on_off(flag: bool) -> &'static str {
    if flag {
        "on"
    } else {
        "off"
    }
}

fn run_statement(backend: &mut dyn Backend, sql: &str, options: &mut Options) -> bool {
    let started = Instant::now();
    let result = backend.run(sql);
    match result {
        Ok((schema, batches)) => {
            let printed = match options.output.as_mut() {
                Some(file) => print(file, &options.display, &schema, &batches),
                None => print(
                    &mut std::io::stdout().lock(),
                    &options.display,
                    &schema,
                    &batches,
                ),
            };
            if let Err(error) = printed {
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
