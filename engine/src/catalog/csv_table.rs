//! External CSV tables: files queried where they lie. The schema is inferred from
//! the first MiB of the first file (or the file, if smaller): integers, floats,
//! booleans, dates and timestamps where every sampled value parses, else strings
//! (read as views). Whole files are dealt to partitions round-robin in path order;
//! a scan decodes its files as a stream (`exec::csv_scan`).

use std::io::Read;
use std::path::PathBuf;
use std::sync::Arc;

use arrow::csv::reader::Format;

use super::parquet_table::{list_files, with_views};
use super::{Table, TablePartitioning, TableStatistics};
use crate::error::{ErrorCode, QueryError, QueryResult};

/// Bytes of the first file the schema is inferred from.
const SAMPLE_BYTES: u64 = 1 << 20;

#[derive(Debug, Clone, Copy)]
pub struct CsvOptions {
    pub header: bool,
    pub delimiter: u8,
}

impl Default for CsvOptions {
    fn default() -> Self {
        CsvOptions {
            header: true,
            delimiter: b',',
        }
    }
}

#[derive(Debug)]
pub struct CsvFile {
    pub path: PathBuf,
    pub size: u64,
}

/// The files of a CSV table and which files each partition reads.
#[derive(Debug)]
pub struct CsvSource {
    pub files: Vec<CsvFile>,
    pub options: CsvOptions,
    /// Per partition: indices into `files`.
    pub assignments: Vec<Vec<usize>>,
}

/// Opens the CSV files at `location` (a file, a directory of `.csv` files, or `*`
/// wildcards in the file name) as table `name` over `partitions`.
///
/// # Errors
/// A location that matches no file, a file that cannot be read, or a sample that
/// does not parse as CSV; each names the file.
pub fn open_csv_table(
    name: &str,
    location: &str,
    partitions: usize,
    options: CsvOptions,
) -> QueryResult<Table> {
    let paths = list_files(location, "csv")?;
    let mut files = Vec::with_capacity(paths.len());
    for path in paths {
        let size = std::fs::metadata(&path)
            .map_err(|e| file_error(&path, &e.to_string()))?
            .len();
        files.push(CsvFile { path, size });
    }
    let first = &files[0];
    let mut sample = Vec::new();
    std::fs::File::open(&first.path)
        .and_then(|file| file.take(SAMPLE_BYTES).read_to_end(&mut sample))
        .map_err(|e| file_error(&first.path, &e.to_string()))?;
    if first.size > SAMPLE_BYTES {
        // Infer from whole lines only.
        let end = sample
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(0, |at| at + 1);
        sample.truncate(end);
    }
    let (schema, records) = Format::default()
        .with_header(options.header)
        .with_delimiter(options.delimiter)
        .infer_schema(sample.as_slice(), None)
        .map_err(|e| file_error(&first.path, &e.to_string()))?;
    if schema.fields().is_empty() {
        return Err(file_error(&first.path, "no columns"));
    }
    let sample_bytes = sample.len().max(1) as f64;
    let total: u64 = files.iter().map(|f| f.size).sum();
    // Rows are estimated from the sample's bytes per record; estimates steer plans only.
    let row_count = (total as f64 * records as f64 / sample_bytes).round() as usize;
    let partitions = partitions.max(1);
    let mut assignments = vec![Vec::new(); partitions];
    for index in 0..files.len() {
        assignments[index % partitions].push(index);
    }
    Ok(Table {
        name: name.to_string(),
        schema: with_views(&Arc::new(schema)),
        partitioning: TablePartitioning::Unkeyed,
        partitions: vec![Vec::new(); partitions],
        row_count,
        statistics: TableStatistics::default(),
        parquet: None,
        csv: Some(Arc::new(CsvSource {
            files,
            options,
            assignments,
        })),
    })
}

fn file_error(path: &std::path::Path, what: &str) -> QueryError {
    QueryError::new(
        ErrorCode::Semantic,
        format!("cannot read CSV file {}: {what}", path.display()),
    )
}
