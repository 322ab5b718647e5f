//! External CSV tables: files queried where they lie. The schema is declared in the
//! statement, or inferred from the first MiB of the first file (or the file, if
//! smaller): integers, floats, booleans, dates and timestamps where every sampled
//! value parses, else strings (read as views). Files are cut into byte ranges of about an equal share of the
//! table's bytes (whole when small) and the ranges dealt to partitions round-robin in
//! path order, so one large file is read by every core: a range owns the lines that
//! start in it (`exec::csv_scan`). A value with a newline inside quotes would be cut
//! at a range's edge, so `OPTIONS (newlines_in_values = 'true')` (DataFusion's name
//! for it) keeps every file whole, read by one core.

use std::io::Read;
use std::path::PathBuf;
use std::sync::Arc;

use arrow::csv::reader::Format;
use arrow::datatypes::SchemaRef;

use super::parquet_table::{list_files, with_views};
use super::{Table, TablePartitioning, TableStatistics};
use crate::error::{ErrorCode, QueryError, QueryResult};

/// Bytes of the first file the schema is inferred from.
const SAMPLE_BYTES: u64 = 1 << 20;

/// Bytes below which a file is never cut.
const MIN_RANGE_BYTES: u64 = 4 << 20;

#[derive(Debug, Clone, Copy)]
pub struct CsvOptions {
    pub header: bool,
    pub delimiter: u8,
    /// Quoted values may hold newlines: files are not cut into ranges.
    pub newlines_in_values: bool,
}

impl Default for CsvOptions {
    fn default() -> Self {
        CsvOptions {
            header: true,
            delimiter: b',',
            newlines_in_values: false,
        }
    }
}

/// Bytes `start..end` of file `file`: its lines that start there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CsvRange {
    pub file: usize,
    pub start: u64,
    pub end: u64,
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
    /// Per partition: the byte ranges it reads.
    pub assignments: Vec<Vec<CsvRange>>,
}

/// Opens the CSV files at `location` (a file, a directory of `.csv` files, or `*`
/// wildcards in the file name) as table `name` over `partitions`, with the
/// `declared` schema or one inferred from the first file.
///
/// # Errors
/// A location that matches no file, a file that cannot be read, a sample that does
/// not parse as CSV, or one with another number of columns than declared; each
/// names the file.
pub fn open_csv_table(
    name: &str,
    location: &str,
    partitions: usize,
    options: CsvOptions,
    declared: Option<SchemaRef>,
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
    let (inferred, records) = Format::default()
        .with_header(options.header)
        .with_delimiter(options.delimiter)
        .infer_schema(sample.as_slice(), None)
        .map_err(|e| file_error(&first.path, &e.to_string()))?;
    if inferred.fields().is_empty() {
        return Err(file_error(&first.path, "no columns"));
    }
    let schema = match declared {
        Some(declared) if declared.fields().len() != inferred.fields().len() => {
            return Err(file_error(
                &first.path,
                &format!(
                    "{} columns per line, but the table declares {}",
                    inferred.fields().len(),
                    declared.fields().len()
                ),
            ))
        }
        Some(declared) => declared,
        None => Arc::new(inferred),
    };
    let sample_bytes = sample.len().max(1) as f64;
    let total: u64 = files.iter().map(|f| f.size).sum();
    // Rows are estimated from the sample's bytes per record; estimates steer plans only.
    let row_count = (total as f64 * records as f64 / sample_bytes).round() as usize;
    let partitions = partitions.max(1);
    let assignments = assign_ranges(&files, partitions, options.newlines_in_values);
    Ok(Table {
        name: name.to_string(),
        schema: with_views(&schema),
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
        series: None,
        stored: None,
    })
}

/// Cuts the files into ranges of about `total / partitions` bytes (at least
/// [`MIN_RANGE_BYTES`]; whole files when values may hold newlines) and deals them
/// round-robin, the same on every node.
fn assign_ranges(files: &[CsvFile], partitions: usize, whole: bool) -> Vec<Vec<CsvRange>> {
    let total: u64 = files.iter().map(|f| f.size).sum();
    let share = (total / partitions as u64).max(MIN_RANGE_BYTES);
    let mut ranges = Vec::new();
    for (index, file) in files.iter().enumerate() {
        let pieces = if whole {
            1
        } else {
            file.size.div_ceil(share).max(1)
        };
        let piece = file.size.div_ceil(pieces).max(1);
        let mut start = 0;
        loop {
            let end = if whole {
                file.size
            } else {
                (start + piece).min(file.size)
            };
            ranges.push(CsvRange {
                file: index,
                start,
                end,
            });
            start = end;
            if start >= file.size {
                break;
            }
        }
    }
    let mut assignments = vec![Vec::new(); partitions];
    for (at, range) in ranges.into_iter().enumerate() {
        assignments[at % partitions].push(range);
    }
    assignments
}

fn file_error(path: &std::path::Path, what: &str) -> QueryError {
    QueryError::new(
        ErrorCode::Semantic,
        format!("cannot read CSV file {}: {what}", path.display()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(size: u64) -> CsvFile {
        CsvFile {
            path: PathBuf::from("f.csv"),
            size,
        }
    }

    #[test]
    fn large_files_are_cut_into_contiguous_ranges_for_every_partition() {
        let files = [file(9 << 20), file(1000)];
        let assigned = assign_ranges(&files, 3, false);
        let mut big: Vec<CsvRange> = assigned
            .iter()
            .flatten()
            .filter(|r| r.file == 0)
            .copied()
            .collect();
        big.sort_by_key(|r| r.start);
        assert_eq!(big.len(), 3);
        assert_eq!(big[0].start, 0);
        assert!(big.windows(2).all(|w| w[0].end == w[1].start));
        assert_eq!(big[2].end, 9 << 20);
        assert!(assigned.iter().all(|ranges| !ranges.is_empty()));
        // Values with newlines: every file whole.
        let whole = assign_ranges(&files, 3, true);
        assert_eq!(whole.iter().flatten().count(), 2);
    }
}
