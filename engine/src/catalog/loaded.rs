//! Tables made by `CREATE TABLE .. AS`: the partitions a load's tasks kept, laid out
//! as the statement asked; each partition's first rows in memory, the rest on disk.

use std::sync::Arc;

use arrow::datatypes::SchemaRef;

use super::profile::TableProfile;
use super::stored_rows::{LoadedStorage, PartitionRows};
use super::{Table, TablePartitioning};
use crate::memory::ByteSize;
use crate::plan::StoreTarget;

/// The table a load made. `profile` is the whole cluster's (every node must plan
/// with the same rows and statistics); `partitions` are this node's, empty where
/// others hold them.
pub fn loaded_table(
    store: &StoreTarget,
    schema: SchemaRef,
    partitions: Vec<PartitionRows>,
    profile: &TableProfile,
) -> Table {
    let count = partitions.len();
    let mut partitions = partitions;
    if store.partitioning == TablePartitioning::Replicated {
        // Every slot holds the rows, also those of partitions on other nodes: a task
        // placed on the coordinator reads partition 0 wherever it runs. The copies
        // the other partitions received are dropped (and their memory given back).
        let fullest = partitions
            .iter()
            .enumerate()
            .max_by_key(|(_, rows)| rows.rows())
            .map_or(0, |(index, _)| index);
        let copy = if partitions.is_empty() {
            PartitionRows::default()
        } else {
            partitions.swap_remove(fullest)
        };
        partitions = (0..count)
            .map(|_| PartitionRows {
                batches: copy.batches.clone(),
                on_disk: copy.on_disk.clone(),
                memory: None,
            })
            .collect();
        partitions[0].memory = copy.memory;
    }
    let mut batches = Vec::with_capacity(count);
    let mut storage = LoadedStorage::default();
    for rows in partitions {
        batches.push(rows.batches);
        storage.on_disk.push(rows.on_disk);
        storage.memory.extend(rows.memory);
    }
    Table {
        name: store.name.clone(),
        schema,
        partitioning: store.partitioning.clone(),
        partitions: batches,
        row_count: usize::try_from(profile.rows).unwrap_or(usize::MAX),
        statistics: profile.statistics(),
        parquet: None,
        csv: None,
        series: None,
        stored: Some(Arc::new(storage)),
    }
}

/// What `CREATE TABLE .. AS` answers: what the table holds and, on this node, where.
pub fn loaded_summary(table: &Table) -> String {
    let mut summary = format!(
        "created table {}: {} rows, {}",
        table.name,
        table.row_count,
        table.partitioning.describe()
    );
    if let Some(stored) = &table.stored {
        let (memory, disk) = stored.bytes();
        if disk > 0 {
            summary.push_str(&format!(
                " ({} in memory and {} on disk on this node)",
                ByteSize(memory),
                ByteSize(usize::try_from(disk).unwrap_or(usize::MAX))
            ));
        }
    }
    summary
}
