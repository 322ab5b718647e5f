//! Splits a batch by hash of its key columns for a hash exchange.

use std::collections::HashSet;
use std::sync::Arc;

use arrow::array::{ArrayRef, UInt32Array};
use arrow::compute::take_record_batch;
use arrow::record_batch::RecordBatch;
use arrow::row::{RowConverter, SortField};
use arrow::util::display::{ArrayFormatter, FormatOptions};
use datafusion_physical_expr::PhysicalExpr;

use super::evaluate;
use super::float_keys::normalized;
use super::hash::{integer_key_hashes, partition_of, stable_hash};
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
    /// The partition the last spread row went to.
    next_spread: usize,
    moved_hot_rows: u64,
}

impl HashPartitioner {
    pub fn new(keys: Vec<Arc<dyn PhysicalExpr>>, partitions: usize) -> Self {
        HashPartitioner {
            keys,
            partitions,
            converter: None,
            spill_level: None,
            sketch: Some(HeavyHitters::default()),
            next_spread: 0,
            moved_hot_rows: 0,
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

    /// Spread rows start at the partition after `partition`, so that producers do not
    /// all begin at the same one.
    pub fn spreading_from(mut self, partition: usize) -> Self {
        self.next_spread = partition % self.partitions.max(1);
        self
    }

    /// Whether the sketch still samples the next batch.
    pub fn sampling(&self) -> bool {
        self.sketch.as_ref().is_some_and(HeavyHitters::wants_batch)
    }

    /// The hottest keys of the rows sampled, and how many rows were sampled.
    pub fn hot_keys(&self) -> (Vec<HotKey>, u64) {
        self.sketch
            .as_ref()
            .map_or((Vec::new(), 0), |sketch| (sketch.hot_keys(), sketch.rows()))
    }

    /// One entry per target partition; `None` where no row goes.
    pub fn split(&mut self, batch: &RecordBatch) -> TaskResult<Vec<Option<RecordBatch>>> {
        let hashes = self.hash_rows(batch)?;
        self.route(batch, &hashes, HotRows::ByHash)
    }

    /// The hash of each row's key, as [`HashPartitioner::route`] takes them; the
    /// first batches feed the sketch.
    pub fn hash_rows(&mut self, batch: &RecordBatch) -> TaskResult<Vec<u64>> {
        let columns = evaluate(&self.keys, batch)?;
        let columns = normalized(&columns);
        let single_integer = match &columns[..] {
            [column] => integer_key_hashes(column.as_ref()),
            _ => None,
        };
        let hashes = match single_integer {
            Some(hashes) => hashes,
            None => {
                if self.converter.is_none() {
                    let fields = columns
                        .iter()
                        .map(|c| SortField::new(c.data_type().clone()))
                        .collect();
                    self.converter = Some(RowConverter::new(fields)?);
                }
                let converter = self.converter.as_ref().expect("converter set above");
                let rows = converter.convert_columns(&columns)?;
                rows.iter().map(|row| stable_hash(row.as_ref())).collect()
            }
        };
        if let Some(sketch) = self.sketch.as_mut().filter(|s| s.wants_batch()) {
            for (row_idx, &hash) in hashes.iter().enumerate() {
                if let Some(slot) = sketch.add(hash) {
                    sketch.name(slot, key_text(&columns, row_idx));
                }
            }
            sketch.batch_done();
        }
        Ok(hashes)
    }

    /// Hashes of the keys that certainly held at least `share` of the sampled rows,
    /// and at least `min_rows` of them.
    pub fn hot_hashes(&self, share: f64, min_rows: u64) -> Vec<u64> {
        self.sketch
            .as_ref()
            .map_or_else(Vec::new, |sketch| sketch.hashes_over(share, min_rows))
    }

    /// Splits `batch` by its rows' `hashes`; `hot` says where hot keys' rows go.
    pub fn route(
        &mut self,
        batch: &RecordBatch,
        hashes: &[u64],
        hot: HotRows<'_>,
    ) -> TaskResult<Vec<Option<RecordBatch>>> {
        let mut indices: Vec<Vec<u32>> = vec![Vec::new(); self.partitions];
        for (row_idx, &hash) in hashes.iter().enumerate() {
            let row = row_idx as u32;
            match hot {
                HotRows::Spread(keys) if keys.contains(&hash) => {
                    self.next_spread = (self.next_spread + 1) % self.partitions;
                    indices[self.next_spread].push(row);
                    self.moved_hot_rows += 1;
                    continue;
                }
                HotRows::Everywhere(keys) if keys.contains(&hash) => {
                    for target in &mut indices {
                        target.push(row);
                    }
                    self.moved_hot_rows += 1;
                    continue;
                }
                _ => {}
            }
            let target = match self.spill_level {
                None => partition_of(hash, self.partitions),
                // The exchange uses the high 32 bits; levels take rotations of the rest.
                Some(level) => partition_of(hash.rotate_left(32 + 7 * level), self.partitions),
            };
            indices[target].push(row);
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

    /// Rows of hot keys routed so far: spread round-robin, or sent everywhere.
    pub fn moved_hot_rows(&self) -> u64 {
        self.moved_hot_rows
    }
}

/// Where the rows of hot keys go (see `plan::SkewRole`).
#[derive(Clone, Copy)]
pub enum HotRows<'a> {
    /// Every row by the hash of its key.
    ByHash,
    /// Rows of these key hashes round-robin over the partitions.
    Spread(&'a HashSet<u64>),
    /// Rows of these key hashes to every partition.
    Everywhere(&'a HashSet<u64>),
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
