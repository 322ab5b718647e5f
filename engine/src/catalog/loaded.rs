//! Tables made by `CREATE TABLE .. AS`: the partitions a load's tasks kept, laid out
//! as the statement asked, held in memory like generated tables.

use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;

use super::profile::TableProfile;
use super::{Table, TablePartitioning};
use crate::plan::StoreTarget;

/// The table a load made. `profile` is the whole cluster's (every node must plan
/// with the same rows and statistics); `partitions` are this node's, empty where
/// others hold them.
pub fn loaded_table(
    store: &StoreTarget,
    schema: SchemaRef,
    partitions: Vec<Vec<RecordBatch>>,
    profile: &TableProfile,
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
        row_count: usize::try_from(profile.rows).unwrap_or(usize::MAX),
        statistics: profile.statistics(),
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
