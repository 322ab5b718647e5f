//! Splits a batch by hash of its key columns for a hash exchange.

use std::sync::Arc;

use arrow::array::UInt32Array;
use arrow::compute::take_record_batch;
use arrow::record_batch::RecordBatch;
use arrow::row::{RowConverter, SortField};
use datafusion_physical_expr::PhysicalExpr;

use super::evaluate;
use super::hash::{partition_of, stable_hash};
use crate::error::TaskResult;

/// Routes rows to `partitions` targets by the hash of `keys`.
pub struct HashPartitioner {
    keys: Vec<Arc<dyn PhysicalExpr>>,
    partitions: usize,
    converter: Option<RowConverter>,
    /// `None` for exchanges; for spill partitioning, which bits of the hash to use.
    spill_level: Option<u32>,
}

impl HashPartitioner {
    pub fn new(keys: Vec<Arc<dyn PhysicalExpr>>, partitions: usize) -> Self {
        HashPartitioner {
            keys,
            partitions,
            converter: None,
            spill_level: None,
        }
    }

    /// A partitioner for spilling at recursion `level`: it routes by other hash bits
    /// than the exchange (whose rows all share this task's exchange partition) and
    /// than every other level (whose rows all share a spill partition).
    pub fn for_spill(keys: Vec<Arc<dyn PhysicalExpr>>, partitions: usize, level: u32) -> Self {
        HashPartitioner {
            spill_level: Some(level),
            ..HashPartitioner::new(keys, partitions)
        }
    }

    /// One entry per target partition; `None` where no row goes.
    pub fn split(&mut self, batch: &RecordBatch) -> TaskResult<Vec<Option<RecordBatch>>> {
        let columns = evaluate(&self.keys, batch)?;
        if self.converter.is_none() {
            let fields = columns
                .iter()
                .map(|c| SortField::new(c.data_type().clone()))
                .collect();
            self.converter = Some(RowConverter::new(fields)?);
        }
        let converter = self.converter.as_ref().expect("converter set above");
        let rows = converter.convert_columns(&columns)?;
        let mut indices: Vec<Vec<u32>> = vec![Vec::new(); self.partitions];
        for (row_idx, row) in rows.iter().enumerate() {
            let hash = stable_hash(row.as_ref());
            let target = match self.spill_level {
                None => partition_of(hash, self.partitions),
                // The exchange uses the high 32 bits; levels take rotations of the rest.
                Some(level) => partition_of(hash.rotate_left(32 + 7 * level), self.partitions),
            };
            indices[target].push(row_idx as u32);
        }
        indices
            .into_iter()
            .map(|rows| {
                if rows.is_empty() {
                    return Ok(None);
                }
                if rows.len() == batch.num_rows() {
                    return Ok(Some(batch.clone()));
                }
                Ok(Some(take_record_batch(batch, &UInt32Array::from(rows))?))
            })
            .collect()
    }
}
