//! Writes tables to files other engines read: one Parquet or CSV file per table, rows
//! in partition order (so key-range partitioned tables come out sorted by key), a
//! replicated table once.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;
use percore_engine::catalog::{Catalog, Table, TablePartitioning};
use percore_engine::csv_writer::CsvWriter;

/// Rows per Parquet row group: DuckDB's default. A row group is what one core of a
/// reader reads at a time, so lineitem at SF 1 gives 49 of them to share out.
pub const ROW_GROUP_ROWS: usize = 122_880;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileFormat {
    /// Snappy-compressed Parquet, row groups of up to [`ROW_GROUP_ROWS`] rows.
    Parquet,
    /// CSV with a header line.
    Csv,
}

impl FileFormat {
    pub fn extension(self) -> &'static str {
        match self {
            FileFormat::Parquet => "parquet",
            FileFormat::Csv => "csv",
        }
    }
}

/// Writes each of `names` to `dir/<name>.<extension>`; returns the files and their
/// total size in bytes.
///
/// # Errors
/// A missing table, or any I/O or encoding error (naming the file).
pub fn write_tables(
    catalog: &Catalog,
    names: &[&str],
    dir: &Path,
    format: FileFormat,
) -> Result<(Vec<PathBuf>, u64), String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let mut files = Vec::new();
    let mut bytes = 0;
    for name in names {
        let table = catalog
            .table(name)
            .ok_or_else(|| format!("no table {name} to write"))?;
        let path = dir.join(format!("{name}.{}", format.extension()));
        write_table(table, &path, format).map_err(|e| format!("{}: {e}", path.display()))?;
        bytes += std::fs::metadata(&path)
            .map_err(|e| format!("{}: {e}", path.display()))?
            .len();
        files.push(path);
    }
    Ok((files, bytes))
}

fn write_table(
    table: &Table,
    path: &Path,
    format: FileFormat,
) -> Result<(), Box<dyn std::error::Error>> {
    let partitions = match table.partitioning {
        TablePartitioning::Replicated => &table.partitions[..1],
        _ => &table.partitions[..],
    };
    write_batches(
        &table.schema,
        partitions.iter().flatten().cloned(),
        path,
        format,
    )
}

/// Writes `batches` (all of `schema`) to one file at `path`.
///
/// # Errors
/// Any I/O or encoding error.
pub fn write_batches(
    schema: &SchemaRef,
    batches: impl Iterator<Item = RecordBatch>,
    path: &Path,
    format: FileFormat,
) -> Result<(), Box<dyn std::error::Error>> {
    let file = BufWriter::new(File::create(path)?);
    match format {
        FileFormat::Parquet => {
            let properties = WriterProperties::builder()
                .set_compression(Compression::SNAPPY)
                .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
                .build();
            let mut writer = ArrowWriter::try_new(file, schema.clone(), Some(properties))?;
            for batch in batches {
                writer.write(&batch)?;
            }
            writer.close()?;
        }
        FileFormat::Csv => {
            let mut writer = CsvWriter::new(file, true, b',');
            for batch in batches {
                writer.write(&batch)?;
            }
            writer.into_inner().flush()?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use arrow::array::RecordBatch;
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    use percore_engine::catalog::tpch;

    use super::*;

    #[test]
    fn parquet_files_hold_every_row_once_with_the_same_values() {
        let catalog = tpch::generate(0.01, 2, 1000).unwrap();
        let dir = std::env::temp_dir().join(format!("percore-export-{}", std::process::id()));
        let (files, bytes) =
            write_tables(&catalog, &["nation", "orders"], &dir, FileFormat::Parquet).unwrap();
        assert_eq!(files.len(), 2);
        assert!(bytes > 0);
        let read = |path: &Path| -> Vec<RecordBatch> {
            ParquetRecordBatchReaderBuilder::try_new(File::open(path).unwrap())
                .unwrap()
                .build()
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap()
        };
        // nation is replicated on both partitions: written once.
        let nation: usize = read(&files[0]).iter().map(RecordBatch::num_rows).sum();
        assert_eq!(nation, 25);
        let orders = read(&files[1]);
        let table = catalog.table("orders").unwrap();
        let expected: Vec<RecordBatch> = table.partitions.iter().flatten().cloned().collect();
        let concat = |batches: &[RecordBatch]| {
            arrow::compute::concat_batches(&batches[0].schema(), batches).unwrap()
        };
        let (written, original) = (concat(&orders), concat(&expected));
        assert_eq!(written.num_rows(), original.num_rows());
        for column in 0..original.num_columns() {
            let cast =
                arrow::compute::cast(written.column(column), original.column(column).data_type())
                    .unwrap();
            assert_eq!(&cast, original.column(column), "column {column}");
        }
        std::fs::remove_dir_all(dir).unwrap();
    }
}
