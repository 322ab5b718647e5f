//! The shell's backslash commands, psql's where psql has one.

use std::path::PathBuf;

use crate::output::Format;

#[derive(Debug, PartialEq, Eq)]
pub enum Meta {
    Quit,
    Help,
    /// A command answered by a statement (`\d` is SHOW TABLES).
    Sql(String),
    /// `\timing [on|off]`: `None` toggles.
    Timing(Option<bool>),
    /// `\x [on|off]`: `None` toggles.
    Expanded(Option<bool>),
    /// `\o FILE` sends results there; `\o` alone back to the terminal.
    Output(Option<PathBuf>),
    Format(Format),
    MaxRows(usize),
}

pub const HELP: &str = "\
  \\q                quit (also quit, exit, Ctrl-D)
  \\d, \\dt           list tables
  \\d NAME           describe a table's columns
  \\timing [on|off]  show each statement's rows and time
  \\x [on|off]       expanded display: one block per record
  \\o [FILE]         write results to FILE (\\o alone: back to the terminal)
  \\format NAME      table, csv, tsv, json, ndjson or markdown (also \\pset format NAME)
  \\maxrows N        rows a table shows (0: all)
  \\?                this list
Statements end with ';' and may span lines; Ctrl-C clears the statement being typed.";

/// The command on `line`, `None` when the line is not one, or an error naming what
/// is wrong with it.
pub fn parse(line: &str) -> Option<Result<Meta, String>> {
    let line = line.trim().trim_end_matches(';').trim();
    let rest = line.strip_prefix('\\')?;
    let (command, argument) = match rest.split_once(char::is_whitespace) {
        Some((command, argument)) => (command, argument.trim()),
        None => (rest, ""),
    };
    Some(match (command, argument) {
        ("q", "") => Ok(Meta::Quit),
        ("?", "") => Ok(Meta::Help),
        ("d" | "dt", "") => Ok(Meta::Sql("SHOW TABLES".to_string())),
        ("d", name) => Ok(Meta::Sql(format!("DESCRIBE {name}"))),
        ("timing", switch) => on_off(switch).map(Meta::Timing),
        ("x", switch) => on_off(switch).map(Meta::Expanded),
        ("o", "") => Ok(Meta::Output(None)),
        ("o", path) => Ok(Meta::Output(Some(PathBuf::from(path)))),
        ("format", name) => format(name),
        ("pset", setting) => match setting.split_once(char::is_whitespace) {
            Some(("format", name)) => format(name.trim()),
            _ => Err(format!(
                "\\pset {setting}: only \\pset format NAME is known"
            )),
        },
        ("maxrows", count) => count
            .parse()
            .map(Meta::MaxRows)
            .map_err(|_| format!("\\maxrows takes a number of rows, not `{count}`")),
        _ => Err(format!("unknown command \\{rest}; \\? lists the commands")),
    })
}

fn on_off(switch: &str) -> Result<Option<bool>, String> {
    match switch.to_ascii_lowercase().as_str() {
        "" => Ok(None),
        "on" => Ok(Some(true)),
        "off" => Ok(Some(false)),
        other => Err(format!("expected on or off, not `{other}`")),
    }
}

fn format(name: &str) -> Result<Meta, String> {
    Format::named(name)
        .map(Meta::Format)
        .ok_or_else(|| format!("unknown format `{name}` (table, csv, tsv, json, ndjson, markdown)"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_parse_and_mistakes_are_named() {
        assert_eq!(parse("select 1"), None);
        assert_eq!(parse("\\q"), Some(Ok(Meta::Quit)));
        assert_eq!(
            parse("\\d orders;"),
            Some(Ok(Meta::Sql("DESCRIBE orders".into())))
        );
        assert_eq!(parse("\\dt"), Some(Ok(Meta::Sql("SHOW TABLES".into()))));
        assert_eq!(parse("\\timing"), Some(Ok(Meta::Timing(None))));
        assert_eq!(parse("\\x on"), Some(Ok(Meta::Expanded(Some(true)))));
        assert_eq!(
            parse("\\o /tmp/out"),
            Some(Ok(Meta::Output(Some("/tmp/out".into()))))
        );
        assert_eq!(
            parse("\\pset format csv"),
            Some(Ok(Meta::Format(Format::Csv)))
        );
        assert_eq!(parse("\\maxrows 0"), Some(Ok(Meta::MaxRows(0))));
        assert!(parse("\\x maybe")
            .unwrap()
            .unwrap_err()
            .contains("on or off"));
        assert!(parse("\\format xml")
            .unwrap()
            .unwrap_err()
            .contains("unknown format"));
        assert!(parse("\\zz").unwrap().unwrap_err().contains("\\? lists"));
    }
}
