//! Tables made by `CREATE TABLE .. AS`: the partitions a load's tasks kept, laid out
//! as the statement asked, held in memory like generated tables.

use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;

use super::{Table, TablePartitioning, TableStatistics};
use crate::plan::StoreTarget;

/// Rows this node's partitions hold: a replicated table's rows once (every partition
/// holds all of them), otherwise every partition's.
pub fn loaded_rows(store: &StoreTarget, partitions: &[Vec<RecordBatch>]) -> usize {
    let rows = partitions
        .iter()
        .map(|batches| batches.iter().map(RecordBatch::num_rows).sum::<usize>());
    match store.partitioning {
        TablePartitioning::Replicated => rows.max().unwrap_or(0),
        _ => rows.sum(),
    }
}

/// The table a load made. `row_count` is the whole cluster's (every node must plan
/// with the same number); `partitions` are this node's, empty where others hold them.
pub fn loaded_table(
    store: &StoreTarget,
    schema: SchemaRef,
    partitions: Vec<Vec<RecordBatch>>,
    row_count: usize,
) -> Table {
    let partitions = match store.partitioning {
        // Every slot holds the rows, also those of partitions on other nodes: a task
        // placed on the coordinator reads partition 0 wherever it runs.
        TablePartitioning::Replicated => {
            let copy = partitions
                .iter()
                .max_by_key(|batches| batches.iter().map(RecordBatch::num_rows).sum::<usize>())
                .cloned()
                .unwrap_or_default();
            vec![copy; partitions.len()]
        }
        _ => partitions,
    };
    Table {
        name: store.name.clone(),
        schema,
        partitioning: store.partitioning.clone(),
        partitions,
        row_count,
        statistics: TableStatistics::default(),
        parquet: None,
        csv: None,
    }
}

/// What `CREATE TABLE .. AS` answers.
pub fn loaded_summary(table: &Table) -> String {
    format!(
        "created table {}: {} rows, {}",
        table.name,
        table.row_count,
        table.partitioning.describe()
    )
}
