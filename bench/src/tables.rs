//! Small tables for tests: rows of (k, v), dealt round-robin over the partitions or
//! replicated on every one.

use std::sync::Arc;

use arrow::array::{Int64Array, RecordBatch};
use arrow::datatypes::{DataType, Field, Schema};
use percore_engine::catalog::{Table, TablePartitioning};

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

/// A table `name(k BIGINT NULL, v BIGINT)` held whole by every partition, as small
/// dimension tables are: joins and aggregations over it must count its rows once.
pub fn replicated_key_value_table(
    name: &str,
    partitions: usize,
    batch_rows: usize,
    rows: &[(Option<i64>, i64)],
) -> Table {
    let whole = key_value_table(name, 1, batch_rows, rows);
    let copy = whole.partitions[0].clone();
    let mut table = Table::unkeyed(name, whole.schema, vec![copy; partitions]);
    table.partitioning = TablePartitioning::Replicated;
    table.row_count = rows.len();
    table
}
