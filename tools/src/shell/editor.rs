//! Line editing for a terminal: history kept across sessions in
//! `~/.percore_history`, and Tab completing SQL keywords and the names of tables and
//! columns (asked of the cluster at start and after each CREATE or DROP).

use std::borrow::Cow;
use std::path::PathBuf;

use rustyline::completion::{Completer, Pair};
use rustyline::error::ReadlineError;
use rustyline::highlight::Highlighter;
use rustyline::hint::Hinter;
use rustyline::history::FileHistory;
use rustyline::validate::Validator;
use rustyline::{Context, Editor, Helper};

const KEYWORDS: &[&str] = &[
    "SELECT",
    "FROM",
    "WHERE",
    "GROUP BY",
    "ORDER BY",
    "HAVING",
    "LIMIT",
    "JOIN",
    "LEFT JOIN",
    "INNER JOIN",
    "ON",
    "AND",
    "OR",
    "NOT",
    "IN",
    "EXISTS",
    "BETWEEN",
    "LIKE",
    "CASE",
    "WHEN",
    "THEN",
    "ELSE",
    "END",
    "AS",
    "DISTINCT",
    "UNION ALL",
    "WITH",
    "OVER",
    "PARTITION BY",
    "CREATE TABLE",
    "CREATE EXTERNAL TABLE",
    "STORED AS",
    "LOCATION",
    "PARTITIONED BY",
    "DROP TABLE",
    "EXPLAIN",
    "EXPLAIN ANALYZE",
    "SHOW TABLES",
    "DESCRIBE",
    "COPY",
    "COUNT",
    "SUM",
    "AVG",
    "MIN",
    "MAX",
];

/// Completes the word before the cursor.
#[derive(Default)]
pub struct NameCompleter {
    /// Table and column names, sorted and without repeats.
    pub names: Vec<String>,
}

impl Completer for NameCompleter {
    type Candidate = Pair;

    fn complete(
        &self,
        line: &str,
        position: usize,
        _context: &Context<'_>,
    ) -> rustyline::Result<(usize, Vec<Pair>)> {
        let start = line[..position]
            .rfind(|c: char| !(c.is_alphanumeric() || c == '_'))
            .map_or(0, |at| at + 1);
        let word = &line[start..position];
        if word.is_empty() {
            return Ok((start, Vec::new()));
        }
        let lower = word.to_ascii_lowercase();
        let names = self
            .names
            .iter()
            .filter(|name| name.to_ascii_lowercase().starts_with(&lower))
            .map(|name| name.to_string());
        let keywords = KEYWORDS
            .iter()
            .filter(|keyword| keyword.to_ascii_lowercase().starts_with(&lower))
            .map(|keyword| {
                // Typed in lower case, completed in lower case.
                if word.chars().all(|c| !c.is_uppercase()) {
                    keyword.to_ascii_lowercase()
                } else {
                    keyword.to_string()
                }
            });
        let candidates = names
            .chain(keywords)
            .map(|text| Pair {
                display: text.clone(),
                replacement: text,
            })
            .collect();
        Ok((start, candidates))
    }
}

impl Hinter for NameCompleter {
    type Hint = String;
}

impl Highlighter for NameCompleter {
    fn highlight_prompt<'b, 's: 'b, 'p: 'b>(
        &'s self,
        prompt: &'p str,
        _default: bool,
    ) -> Cow<'b, str> {
        Cow::Borrowed(prompt)
    }
}

impl Validator for NameCompleter {}

impl Helper for NameCompleter {}

/// A terminal line reader.
pub struct LineEditor {
    editor: Editor<NameCompleter, FileHistory>,
    history: Option<PathBuf>,
}

/// What reading a line gave.
pub enum Line {
    Text(String),
    /// Ctrl-C: drop the statement being typed.
    Interrupted,
    /// Ctrl-D or the end of input.
    End,
}

impl LineEditor {
    /// # Errors
    /// When the terminal cannot be set up.
    pub fn new() -> Result<LineEditor, String> {
        let mut editor = Editor::new().map_err(|e| e.to_string())?;
        editor.set_helper(Some(NameCompleter::default()));
        let history =
            std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".percore_history"));
        if let Some(path) = &history {
            // A first session has no history yet.
            let _ = editor.load_history(path);
        }
        Ok(LineEditor { editor, history })
    }

    pub fn set_names(&mut self, names: Vec<String>) {
        if let Some(helper) = self.editor.helper_mut() {
            helper.names = names;
        }
    }

    pub fn read(&mut self, prompt: &str) -> Line {
        match self.editor.readline(prompt) {
            Ok(line) => {
                if !line.trim().is_empty() {
                    let _ = self.editor.add_history_entry(line.as_str());
                    if let Some(path) = &self.history {
                        let _ = self.editor.append_history(path);
                    }
                }
                Line::Text(line)
            }
            Err(ReadlineError::Interrupted) => Line::Interrupted,
            Err(_) => Line::End,
        }
    }
}
