//! Writing results to files: `COPY (query) TO 'path'`. One file is written by the
//! coordinator from the result stream; a directory gets one file per partition,
//! written by the node that holds it. Files are written under a temporary name and
//! renamed when complete, so a failed statement leaves no partial file behind.

use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};

use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;

use crate::catalog::stored_rows::PartitionRows;
use crate::csv_writer::CsvWriter;
use crate::error::{ErrorCode, QueryError, QueryResult};

/// What the files hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputFormat {
    Parquet,
    Csv { header: bool, delimiter: u8 },
}

impl OutputFormat {
    fn extension(self) -> &'static str {
        match self {
            OutputFormat::Parquet => "parquet",
            OutputFormat::Csv { .. } => "csv",
        }
    }
}

/// Where `COPY .. TO` writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileTarget {
    pub path: PathBuf,
    pub format: OutputFormat,
    /// One file per partition in the directory `path` (written where the rows are),
    /// rather than one file written by the coordinator.
    pub parts: bool,
}

impl FileTarget {
    /// For EXPLAIN and the statement's answer.
    pub fn describe(&self) -> String {
        let format = self.format.extension();
        if self.parts {
            format!("{format} part files in {}", self.path.display())
        } else {
            format!("{format} file {}", self.path.display())
        }
    }
}

/// What `COPY .. TO` answers.
pub fn copied_summary(rows: u64, target: &FileTarget) -> String {
    format!("wrote {rows} rows to {}", target.describe())
}

/// Writes batches to one file, then renames it into place; the rows written.
///
/// # Errors
/// A batch's error (the file is then removed), or a file that cannot be written.
pub fn write_file(
    target: &Path,
    format: OutputFormat,
    schema: &SchemaRef,
    batches: impl Iterator<Item = QueryResult<RecordBatch>>,
) -> QueryResult<u64> {
    let staging = staging_name(target);
    let outcome = write_staged(&staging, format, schema, batches);
    match outcome {
        Ok(rows) => {
            std::fs::rename(&staging, target).map_err(|e| failed(target, &e))?;
            Ok(rows)
        }
        Err(error) => {
            let _ = std::fs::remove_file(&staging);
            Err(error)
        }
    }
}

/// Writes each of `partitions` (those this node holds) as `part-<p>.<ext>` in `dir`;
/// the rows written.
///
/// # Errors
/// A file that cannot be written, named.
pub fn write_parts(
    dir: &Path,
    format: OutputFormat,
    schema: &SchemaRef,
    partitions: &[(usize, PartitionRows)],
) -> QueryResult<u64> {
    std::fs::create_dir_all(dir).map_err(|e| failed(dir, &e))?;
    let mut rows = 0;
    for (partition, kept) in partitions {
        let path = dir.join(format!("part-{partition}.{}", format.extension()));
        rows += write_file(&path, format, schema, kept.read_batches())?;
    }
    Ok(rows)
}

fn write_staged(
    staging: &Path,
    format: OutputFormat,
    schema: &SchemaRef,
    batches: impl Iterator<Item = QueryResult<RecordBatch>>,
) -> QueryResult<u64> {
    let file = File::create(staging).map_err(|e| failed(staging, &e))?;
    let mut rows = 0u64;
    match format {
        OutputFormat::Parquet => {
            let properties = WriterProperties::builder()
                .set_compression(Compression::SNAPPY)
                .build();
            let mut writer =
                ArrowWriter::try_new(BufWriter::new(file), schema.clone(), Some(properties))
                    .map_err(|e| failed(staging, &e))?;
            for batch in batches {
                let batch = batch?;
                rows += batch.num_rows() as u64;
                writer.write(&batch).map_err(|e| failed(staging, &e))?;
            }
            let out = writer.into_inner().map_err(|e| failed(staging, &e))?;
            let file = out
                .into_inner()
                .map_err(|e| failed(staging, &e.into_error()))?;
            file.sync_all().map_err(|e| failed(staging, &e))?;
        }
        OutputFormat::Csv { header, delimiter } => {
            let mut writer = CsvWriter::new(BufWriter::new(file), header, delimiter);
            for batch in batches {
                let batch = batch?;
                rows += batch.num_rows() as u64;
                writer.write(&batch).map_err(|e| failed(staging, &e))?;
            }
            let file = writer
                .into_inner()
                .into_inner()
                .map_err(|e| failed(staging, &e.into_error()))?;
            file.sync_all().map_err(|e| failed(staging, &e))?;
        }
    }
    Ok(rows)
}

fn staging_name(target: &Path) -> PathBuf {
    let name = target
        .file_name()
        .map_or_else(|| "out".into(), |n| n.to_string_lossy().to_string());
    target.with_file_name(format!(".{name}.tmp-{}", std::process::id()))
}

fn failed(path: &Path, error: &dyn std::fmt::Display) -> QueryError {
    QueryError::new(
        ErrorCode::ResourcesExhausted,
        format!("cannot write {}: {error}", path.display()),
    )
}
