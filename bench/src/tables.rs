//! Small tables for tests: rows of (k, v), dealt round-robin over the partitions.

use std::sync::Arc;

use arrow::array::{Int64Array, RecordBatch};
use arrow::datatypes::{DataType, Field, Schema};
use percore_engine::catalog::Table;

/// A table `name(k BIGINT NULL, v BIGINT)`: row `i` goes to partition `i % partitions`,
/// each partition in batches of at most `batch_rows` rows.
pub fn key_value_table(
    name: &str,
    partitions: usize,
    batch_rows: usize,
    rows: &[(Option<i64>, i64)],
) -> Table {
    let schema = Arc::new(Schema::new(vec![
        Field::new("k", DataType::Int64, true),
        Field::new("v", DataType::Int64, false),
    ]));
    let mut dealt: Vec<Vec<(Option<i64>, i64)>> = vec![Vec::new(); partitions];
    for (i, row) in rows.iter().enumerate() {
        dealt[i % partitions].push(*row);
    }
    let partitions = dealt
        .into_iter()
        .map(|rows| {
            rows.chunks(batch_rows.max(1))
                .map(|chunk| {
                    let keys: Int64Array = chunk.iter().map(|r| r.0).collect();
                    let values = Int64Array::from_iter_values(chunk.iter().map(|r| r.1));
                    RecordBatch::try_new(
                        Arc::clone(&schema),
                        vec![Arc::new(keys), Arc::new(values)],
                    )
                    .expect("columns match the schema")
                })
                .collect()
        })
        .collect();
    Table::unkeyed(name, schema, partitions)
}
