//! Distinct counts of an external Parquet table's columns, measured when the table is
//! created. Footers hold each row group's min/max but (from nearly every writer) no
//! distinct count, so without this a string column compared to a constant keeps a
//! tenth of the rows in the planner's eyes, whether it holds two values or a million,
//! and joins are ordered by guesses.
//!
//! A table of at most [`SAMPLE_ROWS`] rows is read whole. A larger one is sampled by
//! whole row groups spread evenly over its files, and each column's count is
//! extrapolated along the curve it followed from one row group to the whole sample
//! (`Sample::estimate`): row groups are written in the order the data came, so a
//! sorted or clustered column (dates, order numbers) brings new values in every
//! group and grows with the rows, and a column drawn from a fixed set (states, item
//! keys) brings none after the first groups and stays. Every node reads the
//! same row groups of the same files and hashes them alike, so every node plans
//! with the same numbers.

use std::panic::{catch_unwind, AssertUnwindSafe};

use arrow::datatypes::{DataType, Schema};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::ProjectionMask;

use super::parquet_table::ParquetFile;
use super::profile::TableProfile;

/// Rows read at most when a table is created: about a second of decoding on one core.
pub const SAMPLE_ROWS: usize = 1 << 20;

/// One column's distinct values as estimated for the whole table; `None` for a column
/// of a type that is not measured (nested types), or for every column when the sample
/// could not be read (a damaged file fails the first query that reads it instead,
/// naming the file, as before).
pub fn sampled_distinct(schema: &Schema, files: &[ParquetFile], rows: usize) -> Vec<Option<f64>> {
    distinct_within(schema, files, rows, SAMPLE_ROWS)
}

/// [`sampled_distinct`] reading about `budget` rows.
fn distinct_within(
    schema: &Schema,
    files: &[ParquetFile],
    rows: usize,
    budget: usize,
) -> Vec<Option<f64>> {
    let measured: Vec<usize> = schema
        .fields()
        .iter()
        .enumerate()
        .filter(|(_, field)| measurable(field.data_type()))
        .map(|(index, _)| index)
        .collect();
    let mut estimates = vec![None; schema.fields().len()];
    if measured.is_empty() || rows == 0 {
        return estimates;
    }
    // The parquet decoder may panic on a damaged page; this runs on a client's thread,
    // which must not go down with it.
    let sample = catch_unwind(AssertUnwindSafe(|| {
        read_sample(files, &measured, rows, budget)
    }));
    let Ok(Some(sample)) = sample else {
        return estimates;
    };
    for (position, &column) in measured.iter().enumerate() {
        estimates[column] = Some(sample.estimate(position, rows));
    }
    estimates
}

fn measurable(data_type: &DataType) -> bool {
    data_type.is_primitive()
        || matches!(
            data_type,
            DataType::Boolean
                | DataType::Utf8
                | DataType::LargeUtf8
                | DataType::Utf8View
                | DataType::Binary
                | DataType::LargeBinary
                | DataType::BinaryView
                | DataType::FixedSizeBinary(_)
        )
}

/// What the sampled row groups held: per group its rows and each column's distinct
/// count, and the union of all of them.
struct Sample {
    group_rows: Vec<u64>,
    group_distinct: Vec<Vec<f64>>,
    union: TableProfile,
}

impl Sample {
    /// The column's distinct values over `rows` rows, extrapolated along the curve
    /// its count follows as rows are read: from the average row group to the whole
    /// sample, the count grew as the rows to some power (1 where every group brings
    /// its own values, 0 where each holds the same ones); the table's count is the
    /// sample's grown by that power to every row.
    fn estimate(&self, column: usize, rows: usize) -> f64 {
        let profile = &self.union.columns[column];
        let seen = profile.distinct().max(1.0);
        let read = (self.union.rows as f64).max(1.0);
        let rows = rows as f64;
        let values = (rows * (1.0 - profile.nulls as f64 / read)).max(1.0);
        if read >= rows {
            return seen.min(values);
        }
        let groups = self.group_rows.len() as f64;
        let mean_rows = self.group_rows.iter().sum::<u64>() as f64 / groups;
        let mean_distinct = self.group_distinct.iter().map(|d| d[column]).sum::<f64>() / groups;
        let power = if self.group_rows.len() == 1 || mean_rows >= read {
            // One group shows no growth: its density stands in, 1 for a column of
            // unique values, near 0 for one of few.
            seen / read
        } else {
            (seen / mean_distinct.max(1.0)).ln() / (read / mean_rows.max(1.0)).ln()
        };
        (seen * (rows / read).powf(power.clamp(0.0, 1.0))).min(values)
    }
}

/// Reads the sampled row groups' `columns` and measures them; `None` if a file cannot
/// be read.
fn read_sample(
    files: &[ParquetFile],
    columns: &[usize],
    rows: usize,
    budget: usize,
) -> Option<Sample> {
    let groups: Vec<(usize, usize, usize)> = files
        .iter()
        .enumerate()
        .flat_map(|(index, file)| {
            let metadata = file.metadata.metadata();
            (0..metadata.num_row_groups())
                .map(move |group| (index, group, metadata.row_group(group).num_rows().max(0)))
        })
        .map(|(file, group, rows)| (file, group, rows as usize))
        .filter(|&(_, _, rows)| rows > 0)
        .collect();
    let chosen = spread(groups.len(), rows, budget);
    // A few huge row groups are read in part: a prefix of each.
    let per_group = if rows <= budget {
        usize::MAX
    } else {
        (budget / chosen.len()).max(1)
    };
    let schema = files.first()?.metadata.schema();
    let projected = Schema::new(
        columns
            .iter()
            .map(|&c| schema.field(c).clone())
            .collect::<Vec<_>>(),
    );
    let mut sample = Sample {
        group_rows: Vec::with_capacity(chosen.len()),
        group_distinct: Vec::with_capacity(chosen.len()),
        union: TableProfile::new(&projected),
    };
    for index in chosen {
        let (file, group, _) = groups[index];
        let file = &files[file];
        let reader = std::fs::File::open(&file.path).ok()?;
        let mask = ProjectionMask::roots(
            file.metadata.metadata().file_metadata().schema_descr(),
            columns.iter().copied(),
        );
        let batches =
            ParquetRecordBatchReaderBuilder::new_with_metadata(reader, file.metadata.clone())
                .with_row_groups(vec![group])
                .with_projection(mask)
                .with_limit(per_group)
                .build()
                .ok()?;
        let mut profile = TableProfile::new(&projected);
        for batch in batches {
            profile.add(&batch.ok()?).ok()?;
        }
        sample.group_rows.push(profile.rows);
        sample
            .group_distinct
            .push(profile.columns.iter().map(|c| c.distinct()).collect());
        sample.union.merge(&profile);
    }
    (!sample.group_rows.is_empty()).then_some(sample)
}

/// Which of `groups` row groups (of `rows` rows in all) to read for about `budget`
/// rows: all of them when they fit, else evenly spaced ones, at least two.
fn spread(groups: usize, rows: usize, budget: usize) -> Vec<usize> {
    if rows <= budget || groups <= 2 {
        return (0..groups).collect();
    }
    let wanted = (groups * budget).div_ceil(rows).clamp(2, groups);
    // The first and the last group, and the others at equal steps between them.
    (0..wanted)
        .map(|i| i * (groups - 1) / (wanted - 1))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    use std::sync::Arc;

    use arrow::array::{ArrayRef, Int64Array, RecordBatch, StringArray};
    use parquet::arrow::ArrowWriter;
    use parquet::file::properties::WriterProperties;

    use crate::catalog::parquet_table::read_footer;

    /// 100,000 rows in groups of `group_rows`: a clustered column (ten rows per value,
    /// new values in every group), one of 50 strings repeating in every group, and a
    /// unique one.
    fn write_file(path: &std::path::Path, group_rows: usize) {
        let rows = 0..100_000i64;
        let clustered: Int64Array = rows.clone().map(|row| row / 10).collect();
        let repeating: StringArray = rows
            .clone()
            .map(|row| Some(format!("s{}", row % 50)))
            .collect();
        let unique: Int64Array = rows.map(|row| row * 7).collect();
        let batch = RecordBatch::try_from_iter([
            ("clustered", Arc::new(clustered) as ArrayRef),
            ("repeating", Arc::new(repeating)),
            ("unique", Arc::new(unique)),
        ])
        .unwrap();
        let properties = WriterProperties::builder()
            .set_max_row_group_row_count(Some(group_rows))
            .build();
        let file = std::fs::File::create(path).unwrap();
        let mut writer = ArrowWriter::try_new(file, batch.schema(), Some(properties)).unwrap();
        writer.write(&batch).unwrap();
        writer.close().unwrap();
    }

    #[test]
    fn counts_of_a_sample_grow_by_the_new_values_each_group_brings() {
        let path = |name: &str| {
            std::env::temp_dir().join(format!("percore-{name}-{}.parquet", std::process::id()))
        };
        let (groups, one_group) = (path("groups"), path("one-group"));
        write_file(&groups, 1000);
        write_file(&one_group, 100_000);
        let files = vec![read_footer(&groups).unwrap()];
        let schema = Arc::clone(files[0].metadata.schema());
        let within = |expected: f64, estimate: Option<f64>| {
            let estimate = estimate.unwrap();
            assert!(
                (estimate - expected).abs() < expected * 0.05,
                "{estimate} for {expected}"
            );
        };
        for budget in [100_000, 10_000, 2_000] {
            let counts = distinct_within(&schema, &files, 100_000, budget);
            within(10_000.0, counts[0]);
            within(50.0, counts[1]);
            within(100_000.0, counts[2]);
        }
        // One group read in part scales by the part's own density: fully for unique
        // values, not at all for few. (A clustered column is underestimated: a part of
        // one group cannot tell it from a column of few values.)
        let one = vec![read_footer(&one_group).unwrap()];
        let counts = distinct_within(&schema, &one, 100_000, 10_000);
        within(50.0, counts[1]);
        within(100_000.0, counts[2]);
        // A file that is gone gives no counts rather than an error: the first query
        // that reads it names it.
        std::fs::remove_file(&groups).unwrap();
        std::fs::remove_file(&one_group).unwrap();
        assert_eq!(
            distinct_within(&schema, &files, 100_000, 2_000),
            vec![None; 3]
        );
    }

    #[test]
    fn row_groups_are_spread_over_the_table() {
        assert_eq!(spread(5, 100, 1000), vec![0, 1, 2, 3, 4]);
        assert_eq!(spread(10, 1000, 200), vec![0, 9]);
        assert_eq!(spread(10, 1000, 400), vec![0, 3, 6, 9]);
        assert_eq!(
            spread(100, 100_000, 10_000),
            (0..10).map(|i| i * 11).collect::<Vec<_>>()
        );
    }
}
