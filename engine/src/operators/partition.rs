//! Splits a batch by hash of its key columns for a hash exchange.

use std::sync::Arc;

use arrow::array::{ArrayRef, UInt32Array};
use arrow::compute::take_record_batch;
use arrow::record_batch::RecordBatch;
use arrow::row::{RowConverter, SortField};
use arrow::util::display::{ArrayFormatter, FormatOptions};
use datafusion_physical_expr::PhysicalExpr;

use super::evaluate;
use super::hash::{partition_of, stable_hash};
use super::heavy_hitters::{HeavyHitters, HotKey};
use crate::error::TaskResult;

/// Routes rows to `partitions` targets by the hash of `keys`.
pub struct HashPartitioner {
    keys: Vec<Arc<dyn PhysicalExpr>>,
    partitions: usize,
    converter: Option<RowConverter>,
    /// `None` for exchanges; for spill partitioning, which bits of the hash to use.
    spill_level: Option<u32>,
    /// For exchanges: the hottest keys of the first batches.
    sketch: Option<HeavyHitters>,
}

impl HashPartitioner {
    pub fn new(keys: Vec<Arc<dyn PhysicalExpr>>, partitions: usize) -> Self {
        HashPartitioner {
            keys,
            partitions,
            converter: None,
            spill_level: None,
            sketch: Some(HeavyHitters::default()),
        }
    }

    /// A partitioner for spilling at recursion `level`: it routes by other hash bits
    /// than the exchange (whose rows all share this task's exchange partition) and
    /// than every other level (whose rows all share a spill partition).
    pub fn for_spill(keys: Vec<Arc<dyn PhysicalExpr>>, partitions: usize, level: u32) -> Self {
        HashPartitioner {
            spill_level: Some(level),
            sketch: None,
            ..HashPartitioner::new(keys, partitions)
        }
    }

    /// The hottest keys of the rows sampled, and how many rows were sampled.
    pub fn hot_keys(&self) -> (Vec<HotKey>, u64) {
        self.sketch
            .as_ref()
            .map_or((Vec::new(), 0), |sketch| (sketch.hot_keys(), sketch.rows()))
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
        let mut sketch = self.sketch.as_mut().filter(|s| s.wants_batch());
        for (row_idx, row) in rows.iter().enumerate() {
            let hash = stable_hash(row.as_ref());
            if let Some(sketch) = sketch.as_deref_mut() {
                if let Some(slot) = sketch.add(hash) {
                    sketch.name(slot, key_text(&columns, row_idx));
                }
            }
            let target = match self.spill_level {
                None => partition_of(hash, self.partitions),
                // The exchange uses the high 32 bits; levels take rotations of the rest.
                Some(level) => partition_of(hash.rotate_left(32 + 7 * level), self.partitions),
            };
            indices[target].push(row_idx as u32);
        }
        if let Some(sketch) = sketch {
            sketch.batch_done();
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

/// Row `row` of the key columns as text, `a, b` for several.
fn key_text(columns: &[ArrayRef], row: usize) -> String {
    let options = FormatOptions::default().with_null("NULL");
    columns
        .iter()
        .map(|column| {
            ArrayFormatter::try_new(column.as_ref(), &options)
                .map_or_else(|_| "?".to_string(), |f| f.value(row).to_string())
        })
        .collect::<Vec<_>>()
        .join(", ")
}
