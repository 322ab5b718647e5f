//! Writes result batches as a table (optionally expanded, one record per block),
//! CSV, TSV, JSON, newline-delimited JSON or a Markdown table.

use std::io::Write;

use arrow::array::Array;
use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use arrow::util::display::ArrayFormatter;
use percore_engine::csv_writer::CsvWriter;

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Table,
    Csv,
    Tsv,
    Json,
    Ndjson,
    Markdown,
}

impl Format {
    /// The format named `name` (as `--format` spells it).
    pub fn named(name: &str) -> Option<Format> {
        <Format as clap::ValueEnum>::from_str(name, true).ok()
    }
}

/// How results are shown.
#[derive(Clone, Debug)]
pub struct Display {
    pub format: Format,
    /// The most rows a table shows (0: all); the footer says how many there were.
    pub max_rows: usize,
    /// Tables as one block per record, `column | value` per line (psql's `\x`).
    pub expanded: bool,
}

/// Writes one statement's result to `out`.
///
/// # Errors
/// When formatting or writing fails (a closed pipe, say).
pub fn print(
    out: &mut dyn Write,
    display: &Display,
    schema: &SchemaRef,
    batches: &[RecordBatch],
) -> Result<(), String> {
    let failed = |e: &dyn std::fmt::Display| e.to_string();
    let rows: usize = batches.iter().map(RecordBatch::num_rows).sum();
    match display.format {
        Format::Table if display.expanded => expanded(out, schema, batches, display.max_rows),
        Format::Table => {
            let shown = shown_rows(batches, display.max_rows);
            let table = if shown.is_empty() {
                arrow::util::pretty::pretty_format_batches(&[RecordBatch::new_empty(
                    schema.clone(),
                )])
            } else {
                arrow::util::pretty::pretty_format_batches(&shown)
            }
            .map_err(|e| failed(&e))?;
            writeln!(out, "{table}").map_err(|e| failed(&e))?;
            footer(out, rows, display.max_rows)
        }
        Format::Csv | Format::Tsv => {
            let delimiter = if display.format == Format::Tsv {
                b'\t'
            } else {
                b','
            };
            if batches.is_empty() {
                let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
                let separator = char::from(delimiter).to_string();
                return writeln!(out, "{}", names.join(&separator)).map_err(|e| failed(&e));
            }
            let mut writer = CsvWriter::new(out, true, delimiter);
            for batch in batches {
                writer.write(batch).map_err(|e| failed(&e))?;
            }
            Ok(())
        }
        Format::Json => {
            let mut writer = arrow::json::ArrayWriter::new(&mut *out);
            let refs: Vec<&RecordBatch> = batches.iter().collect();
            writer.write_batches(&refs).map_err(|e| failed(&e))?;
            writer.finish().map_err(|e| failed(&e))?;
            writeln!(out).map_err(|e| failed(&e))
        }
        Format::Ndjson => {
            let mut writer = arrow::json::LineDelimitedWriter::new(&mut *out);
            let refs: Vec<&RecordBatch> = batches.iter().collect();
            writer.write_batches(&refs).map_err(|e| failed(&e))?;
            writer.finish().map_err(|e| failed(&e))
        }
        Format::Markdown => markdown(out, schema, batches),
    }
}

/// The first `max_rows` rows of `batches` (all when 0).
fn shown_rows(batches: &[RecordBatch], max_rows: usize) -> Vec<RecordBatch> {
    if max_rows == 0 {
        return batches.to_vec();
    }
    let mut left = max_rows;
    let mut shown = Vec::new();
    for batch in batches {
        if left == 0 {
            break;
        }
        let take = batch.num_rows().min(left);
        shown.push(batch.slice(0, take));
        left -= take;
    }
    shown
}

fn footer(out: &mut dyn Write, rows: usize, max_rows: usize) -> Result<(), String> {
    let text = match rows {
        1 => "(1 row)".to_string(),
        _ if max_rows > 0 && rows > max_rows => {
            format!("({rows} rows, {max_rows} shown; --maxrows 0 or \\maxrows 0 shows all)")
        }
        _ => format!("({rows} rows)"),
    };
    writeln!(out, "{text}").map_err(|e| e.to_string())
}

/// Every cell of `batch` as display text, row by row.
fn cells(batch: &RecordBatch) -> Result<Vec<Vec<String>>, String> {
    let options = percore_engine::catalog::pg_types::text_format("NULL");
    let formatters = batch
        .columns()
        .iter()
        .map(|column| ArrayFormatter::try_new(column.as_ref() as &dyn Array, &options))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| e.to_string())?;
    Ok((0..batch.num_rows())
        .map(|row| {
            formatters
                .iter()
                .map(|f| f.value(row).to_string())
                .collect()
        })
        .collect())
}

fn expanded(
    out: &mut dyn Write,
    schema: &SchemaRef,
    batches: &[RecordBatch],
    max_rows: usize,
) -> Result<(), String> {
    let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    let width = names
        .iter()
        .map(|name| name.chars().count())
        .max()
        .unwrap_or(0);
    let mut record = 0;
    for batch in shown_rows(batches, max_rows) {
        for row in cells(&batch)? {
            record += 1;
            writeln!(out, "-[ RECORD {record} ]-").map_err(|e| e.to_string())?;
            for (name, value) in names.iter().zip(row) {
                writeln!(out, "{name:<width$} | {value}").map_err(|e| e.to_string())?;
            }
        }
    }
    let rows = batches.iter().map(RecordBatch::num_rows).sum();
    footer(out, rows, max_rows)
}

fn markdown(
    out: &mut dyn Write,
    schema: &SchemaRef,
    batches: &[RecordBatch],
) -> Result<(), String> {
    let escape = |text: &str| text.replace('|', "\\|").replace('\n', " ");
    let names: Vec<String> = schema.fields().iter().map(|f| escape(f.name())).collect();
    let mut text = format!(
        "| {} |\n|{}|\n",
        names.join(" | "),
        vec!["---"; names.len()].join("|")
    );
    for batch in batches {
        for row in cells(batch)? {
            let row: Vec<String> = row.iter().map(|cell| escape(cell)).collect();
            text.push_str(&format!("| {} |\n", row.join(" | ")));
        }
    }
    out.write_all(text.as_bytes()).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{Int64Array, StringArray};
    use arrow::datatypes::{DataType, Field, Schema};

    use super::*;

    fn sample() -> (SchemaRef, Vec<RecordBatch>) {
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("name", DataType::Utf8, true),
        ]));
        let batch = RecordBatch::try_new(
            Arc::clone(&schema),
            vec![
                Arc::new(Int64Array::from(vec![1, 2, 3])),
                Arc::new(StringArray::from(vec![Some("a|b"), None, Some("c")])),
            ],
        )
        .unwrap();
        (schema, vec![batch])
    }

    fn printed(format: Format, max_rows: usize, expanded: bool) -> String {
        let (schema, batches) = sample();
        let mut out = Vec::new();
        let display = Display {
            format,
            max_rows,
            expanded,
        };
        print(&mut out, &display, &schema, &batches).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn each_format_writes_every_row_or_says_how_many_it_left_out() {
        let table = printed(Format::Table, 2, false);
        assert!(
            table.contains("| 2  |") && !table.contains("| 3  |"),
            "{table}"
        );
        assert!(table.contains("(3 rows, 2 shown;"), "{table}");
        assert!(printed(Format::Table, 0, false).ends_with("(3 rows)\n"));
        let expanded = printed(Format::Table, 0, true);
        assert!(
            expanded.contains("-[ RECORD 2 ]-\nid   | 2\nname | NULL\n"),
            "{expanded}"
        );
        assert_eq!(
            printed(Format::Tsv, 40, false),
            "id\tname\n1\ta|b\n2\t\n3\tc\n"
        );
        assert_eq!(
            printed(Format::Markdown, 40, false),
            "| id | name |\n|---|---|\n| 1 | a\\|b |\n| 2 | NULL |\n| 3 | c |\n"
        );
        let lines = printed(Format::Ndjson, 40, false);
        assert_eq!(lines.lines().count(), 3, "{lines}");
        assert!(lines.starts_with("{\"id\":1,\"name\":\"a|b\"}"), "{lines}");
    }
}
