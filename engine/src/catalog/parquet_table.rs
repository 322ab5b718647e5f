//! External Parquet tables: files queried where they lie. Creating the table reads
//! every file's footer once (schema, row groups, row counts) and deals the row groups
//! to the partitions (`row_group_parts`), so every node computes the same assignment
//! from the same files. Scans read their partition's row groups, or parts of large
//! ones, at query time (`exec::parquet_scan`).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use parquet::arrow::arrow_reader::statistics::StatisticsConverter;
use parquet::arrow::arrow_reader::{ArrowReaderMetadata, ArrowReaderOptions};
use parquet::file::metadata::{PageIndexPolicy, ParquetMetaDataReader};

use super::parquet_sample::sampled_distinct;
use super::profile::as_numbers;
use super::row_group_parts::{deal, RowGroupPart};
use super::{Table, TablePartitioning, TableStatistics};
use crate::error::{ErrorCode, QueryError, QueryResult};

/// One Parquet file of a table, with its footer.
#[derive(Debug)]
pub struct ParquetFile {
    pub path: PathBuf,
    pub size: u64,
    /// The footer, and the Arrow schema the table reads it as.
    pub metadata: ArrowReaderMetadata,
}

impl ParquetFile {
    /// Reads `column`'s statistics from the row groups' metadata, if the file has
    /// the column.
    pub fn statistics(&self, column: &str) -> Option<StatisticsConverter<'_>> {
        StatisticsConverter::try_new(
            column,
            self.metadata.schema(),
            self.metadata.metadata().file_metadata().schema_descr(),
        )
        .ok()
    }
}

/// The files of an external table and which rows of which row groups each partition
/// reads.
#[derive(Debug)]
pub struct ParquetSource {
    pub files: Vec<ParquetFile>,
    /// Per partition: its parts of row groups, in file order.
    pub assignments: Vec<Vec<RowGroupPart>>,
}

impl ParquetSource {
    pub fn row_groups(&self) -> usize {
        self.files
            .iter()
            .map(|file| file.metadata.metadata().num_row_groups())
            .sum()
    }
}

/// Opens the Parquet files at `location` (a file, a directory of `.parquet` files, or
/// a path whose file name has `*` wildcards) as table `name` over `partitions`.
///
/// # Errors
/// A location that matches no file, a file that cannot be read or is not Parquet,
/// and files whose schemas differ; each names the file.
pub fn open_parquet_table(name: &str, location: &str, partitions: usize) -> QueryResult<Table> {
    let paths = list_files(location, "parquet")?;
    let mut files = Vec::with_capacity(paths.len());
    for path in paths {
        files.push(read_footer(&path)?);
    }
    let schema = Arc::clone(files[0].metadata.schema());
    if let Some(other) = files
        .iter()
        .find(|f| f.metadata.schema().fields() != schema.fields())
    {
        return Err(QueryError::new(
            ErrorCode::Semantic,
            format!(
                "the files of table {name} disagree on the schema: {} has {}, {} has {}",
                files[0].path.display(),
                describe_schema(&schema),
                other.path.display(),
                describe_schema(other.metadata.schema())
            ),
        ));
    }
    let mut groups = Vec::new();
    for (index, file) in files.iter().enumerate() {
        for (group, meta) in file.metadata.metadata().row_groups().iter().enumerate() {
            groups.push((index, group, meta.num_rows().max(0) as usize));
        }
    }
    let row_count = groups.iter().map(|&(_, _, rows)| rows).sum();
    let assignments = deal(&groups, partitions);
    let partitions = assignments.len();
    let sampled = sampled_distinct(&schema, &files, row_count);
    let statistics = footer_statistics(&schema, &files, row_count, &sampled);
    Ok(Table {
        name: name.to_string(),
        schema,
        partitioning: TablePartitioning::Unkeyed,
        partitions: vec![Vec::new(); partitions],
        row_count,
        statistics,
        parquet: Some(Arc::new(ParquetSource { files, assignments })),
        csv: None,
        series: None,
        stored: None,
    })
}

fn describe_schema(schema: &Schema) -> String {
    let fields: Vec<String> = schema
        .fields()
        .iter()
        .map(|f| format!("{} {}", f.name(), f.data_type()))
        .collect();
    format!("({})", fields.join(", "))
}

fn location_error(message: String) -> QueryError {
    QueryError::new(ErrorCode::Semantic, message)
}

/// The files `location` names (in a directory, those ending in `.extension`), sorted
/// by path: the same list on every node.
pub(super) fn list_files(location: &str, extension: &str) -> QueryResult<Vec<PathBuf>> {
    let path = Path::new(location);
    let mut files = if path.is_dir() {
        let entries = std::fs::read_dir(path)
            .map_err(|e| location_error(format!("cannot list {location}: {e}")))?;
        entries
            .flatten()
            .map(|entry| entry.path())
            .filter(|p| p.is_file() && p.extension().is_some_and(|e| e == extension))
            .collect::<Vec<_>>()
    } else if path
        .file_name()
        .is_some_and(|n| n.to_string_lossy().contains('*'))
    {
        let pattern = path
            .file_name()
            .expect("checked")
            .to_string_lossy()
            .to_string();
        let dir = path
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let entries = std::fs::read_dir(dir)
            .map_err(|e| location_error(format!("cannot list {}: {e}", dir.display())))?;
        entries
            .flatten()
            .map(|entry| entry.path())
            .filter(|p| {
                p.is_file()
                    && p.file_name()
                        .is_some_and(|n| wildcard_match(&pattern, &n.to_string_lossy()))
            })
            .collect()
    } else if path.is_file() {
        vec![path.to_path_buf()]
    } else {
        return Err(location_error(format!(
            "LOCATION {location}: no such file or directory"
        )));
    };
    files.sort();
    if files.is_empty() {
        return Err(location_error(format!(
            "LOCATION {location} matches no .{extension} file"
        )));
    }
    Ok(files)
}

/// Whether `name` matches `pattern`, where `*` matches any run of characters.
fn wildcard_match(pattern: &str, name: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if parts.len() == 1 {
        return pattern == name;
    }
    if !name.starts_with(first) || name.len() < first.len() + last.len() || !name.ends_with(last) {
        return false;
    }
    let mut rest = &name[first.len()..name.len() - last.len()];
    for middle in &parts[1..parts.len() - 1] {
        match rest.find(middle) {
            Some(at) => rest = &rest[at + middle.len()..],
            None => return false,
        }
    }
    true
}

/// Reads a file's footer. Strings and binaries are read as views, as Percore's own
/// tables hold them.
pub(super) fn read_footer(path: &Path) -> QueryResult<ParquetFile> {
    let file_error = |what: String| {
        QueryError::new(
            ErrorCode::Semantic,
            format!("cannot read Parquet file {}: {what}", path.display()),
        )
    };
    let file = std::fs::File::open(path).map_err(|e| file_error(e.to_string()))?;
    let size = file
        .metadata()
        .map_err(|e| file_error(e.to_string()))?
        .len();
    // The page index (per-page min/max and offsets), where the writer wrote one, lets
    // scans skip the pages of a row group that no filtered row can be on.
    let metadata = ParquetMetaDataReader::new()
        .with_page_index_policy(PageIndexPolicy::Optional)
        .parse_and_finish(&file)
        .map_err(|e| file_error(e.to_string()))?;
    let metadata = Arc::new(metadata);
    let plain = ArrowReaderMetadata::try_new(Arc::clone(&metadata), ArrowReaderOptions::new())
        .map_err(|e| file_error(e.to_string()))?;
    let viewed = with_views(plain.schema());
    let metadata =
        ArrowReaderMetadata::try_new(metadata, ArrowReaderOptions::new().with_schema(viewed))
            .map_err(|e| file_error(e.to_string()))?;
    Ok(ParquetFile {
        path: path.to_path_buf(),
        size,
        metadata,
    })
}

pub(super) fn with_views(schema: &SchemaRef) -> SchemaRef {
    let fields: Vec<Field> = schema
        .fields()
        .iter()
        .map(|field| {
            let data_type = match field.data_type() {
                DataType::Utf8 | DataType::LargeUtf8 => DataType::Utf8View,
                DataType::Binary | DataType::LargeBinary => DataType::BinaryView,
                other => other.clone(),
            };
            field.as_ref().clone().with_data_type(data_type)
        })
        .collect();
    Arc::new(Schema::new(fields))
}

/// Statistics from the files' footers and the sample: each numeric or date column's
/// range (from the row groups' min/max), and each column's distinct count as sampled,
/// for integer and date columns at most the range's width (exact for dense keys, and
/// the guess where the sample could not be read). Every node reads the same files, so
/// plans agree.
fn footer_statistics(
    schema: &Schema,
    files: &[ParquetFile],
    rows: usize,
    sampled: &[Option<f64>],
) -> TableStatistics {
    let mut statistics = TableStatistics::default();
    for (field, sampled) in schema.fields().iter().zip(sampled) {
        let mut distinct = *sampled;
        if let Some((min, max, nulls)) = column_range(field.name(), files) {
            statistics = statistics.with_range(field.name(), min, max);
            let discrete = field.data_type().is_integer()
                || matches!(field.data_type(), DataType::Date32 | DataType::Date64);
            if discrete {
                let values = rows.saturating_sub(nulls) as f64;
                let width = (max - min + 1.0).max(1.0).min(values.max(1.0));
                distinct = Some(distinct.map_or(width, |d| d.min(width)));
            }
        }
        if let Some(distinct) = distinct {
            statistics = statistics.with_distinct(&[field.name()], distinct);
        }
    }
    statistics
}

/// The column's smallest and largest value over every row group, as `f64` (dates in
/// days), and its null count; `None` when some row group has no statistics for it.
fn column_range(name: &str, files: &[ParquetFile]) -> Option<(f64, f64, usize)> {
    use arrow::array::Array;
    let (mut min, mut max, mut nulls) = (f64::INFINITY, f64::NEG_INFINITY, 0usize);
    for file in files {
        let metadata = file.metadata.metadata();
        let converter = file.statistics(name)?;
        let groups = metadata.row_groups();
        if groups.is_empty() {
            continue;
        }
        let mins = as_numbers(&converter.row_group_mins(groups.iter()).ok()?)?;
        let maxes = as_numbers(&converter.row_group_maxes(groups.iter()).ok()?)?;
        if mins.null_count() > 0 || maxes.null_count() > 0 {
            return None;
        }
        min = mins.values().iter().copied().fold(min, f64::min);
        max = maxes.values().iter().copied().fold(max, f64::max);
        let counts = converter.row_group_null_counts(groups.iter()).ok()?;
        nulls += counts
            .iter()
            .map(|c| c.unwrap_or(0) as usize)
            .sum::<usize>();
    }
    (min <= max).then_some((min, max, nulls))
}

#[cfg(test)]
mod tests {
    use super::wildcard_match;

    #[test]
    fn wildcards_match_runs_of_characters() {
        assert!(wildcard_match("*.parquet", "part-1.parquet"));
        assert!(wildcard_match("part-*-x*.parquet", "part-1-x2.parquet"));
        assert!(!wildcard_match("*.parquet", "part-1.csv"));
        assert!(!wildcard_match("a*a", "a"));
        assert!(wildcard_match("exact", "exact"));
    }
}
