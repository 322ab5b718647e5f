//! Writes result batches as a table, CSV or JSON.

use std::io::Write;

use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum Format {
    Table,
    Csv,
    Json,
}

/// Prints one statement's result to stdout.
///
/// # Errors
/// When formatting or writing fails (a closed pipe, say).
pub fn print(format: Format, schema: &SchemaRef, batches: &[RecordBatch]) -> Result<(), String> {
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    match format {
        Format::Table => {
            let table = if batches.is_empty() {
                let empty = RecordBatch::new_empty(schema.clone());
                arrow::util::pretty::pretty_format_batches(&[empty])
            } else {
                arrow::util::pretty::pretty_format_batches(batches)
            }
            .map_err(|e| e.to_string())?;
            writeln!(out, "{table}").map_err(|e| e.to_string())
        }
        Format::Csv => {
            let mut writer = arrow::csv::WriterBuilder::new()
                .with_header(true)
                .build(&mut out);
            if batches.is_empty() {
                let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
                return writeln!(writer.into_inner(), "{}", names.join(","))
                    .map_err(|e| e.to_string());
            }
            for batch in batches {
                writer.write(batch).map_err(|e| e.to_string())?;
            }
            Ok(())
        }
        Format::Json => {
            let mut writer = arrow::json::ArrayWriter::new(&mut out);
            let refs: Vec<&RecordBatch> = batches.iter().collect();
            writer.write_batches(&refs).map_err(|e| e.to_string())?;
            writer.finish().map_err(|e| e.to_string())?;
            writeln!(out).map_err(|e| e.to_string())
        }
    }
}
