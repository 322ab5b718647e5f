//! The SQL shell: splits input into statements, runs each, prints results or errors.
//! An error ends the statement, never the shell.

use std::io::{BufRead, IsTerminal, Write};
use std::time::Instant;

use percore_engine::session::{Cluster, StatementOutput};

use crate::output::{print, Format};

pub struct Options {
    pub format: Format,
    pub timing: bool,
}

/// Runs every `;`-separated statement in `script`; returns false if any failed.
pub fn run_script(cluster: &Cluster, script: &str, options: &Options) -> bool {
    let mut ok = true;
    for statement in split_statements(script) {
        ok &= run_statement(cluster, &statement, options);
    }
    ok
}

/// Reads statements from stdin until end of input or `\q`.
pub fn interactive(cluster: &Cluster, options: &Options) {
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
        buffer.push_str(&line);
        buffer.push('\n');
        if trimmed.ends_with(';') {
            for statement in split_statements(&buffer) {
                run_statement(cluster, &statement, options);
            }
            buffer.clear();
        }
    }
    if !buffer.trim().is_empty() {
        run_script(cluster, &buffer, options);
    }
}

fn run_statement(cluster: &Cluster, sql: &str, options: &Options) -> bool {
    let started = Instant::now();
    let result = cluster.run(sql).and_then(|output| match output {
        StatementOutput::Explain(batch) => Ok((batch.schema(), vec![batch])),
        StatementOutput::Rows(stream) => {
            let schema = stream.schema();
            Ok((schema, stream.collect()?))
        }
    });
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

/// Splits on `;` outside quotes and `--` comments; drops empty statements.
pub fn split_statements(script: &str) -> Vec<String> {
    let mut statements = Vec::new();
    let mut current = String::new();
    let mut quote: Option<char> = None;
    let mut chars = script.chars().peekable();
    while let Some(ch) = chars.next() {
        match (quote, ch) {
            (Some(open), c) if c == open => {
                quote = None;
                current.push(c);
            }
            (Some(_), c) => current.push(c),
            (None, '\'' | '"') => {
                quote = Some(ch);
                current.push(ch);
            }
            (None, '-') if chars.peek() == Some(&'-') => {
                for c in chars.by_ref() {
                    if c == '\n' {
                        current.push('\n');
                        break;
                    }
                }
            }
            (None, ';') => statements.push(std::mem::take(&mut current)),
            (None, c) => current.push(c),
        }
    }
    statements.push(current);
    statements
        .into_iter()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::split_statements;

    #[test]
    fn splits_outside_quotes_and_comments() {
        let statements = split_statements("select ';' ; -- a; comment\nselect 2;;");
        assert_eq!(statements, vec!["select ';'", "select 2"]);
    }
}
