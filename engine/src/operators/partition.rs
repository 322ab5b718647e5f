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
}

impl HashPartitioner {
    pub fn new(keys: Vec<Arc<dyn PhysicalExpr>>, partitions: usize) -> Self {
        HashPartitioner {
            keys,
            partitions,
            converter: None,
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
            let target = partition_of(stable_hash(row.as_ref()), self.partitions);
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
