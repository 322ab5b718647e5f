//! The built side of a hash join: its rows in one batch and a chained hash table over
//! their keys. Rows whose keys hold a NULL are in no chain (SQL equality never holds).

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, Int64Array};
use arrow::compute::concat_batches;
use arrow::datatypes::SchemaRef;
use arrow::datatypes::{DataType, Int64Type};
use arrow::record_batch::RecordBatch;
use arrow::row::{RowConverter, Rows, SortField};
use datafusion_physical_expr::PhysicalExpr;
use hashbrown::HashTable;

use crate::error::{TaskError, TaskResult};
use crate::memory::size::batch_bytes;
use crate::operators::compact::{compact_views, Compact};
use crate::operators::evaluate;
use crate::operators::hash::{hash_u64, stable_hash};

/// The end of a chain; also "no match" for a probe row.
pub(super) const NO_ROW: u32 = u32::MAX;

/// The build side's keys: a single 64-bit integer column is hashed and compared as
/// integers (most equi-joins on surrogate keys); anything else is row-encoded.
enum BuildKeys {
    Int64(Int64Array),
    Encoded { converter: RowConverter, rows: Rows },
}

/// The built side: its rows and a chained hash table over their keys.
pub struct JoinTable {
    pub(super) batch: RecordBatch,
    keys: BuildKeys,
    /// First build row of each distinct key (by hash, then equal keys).
    heads: HashTable<u32>,
    /// Next build row with the same key, or `NO_ROW`.
    next: Vec<u32>,
    /// Whether any build row has a NULL key (NOT IN then returns nothing).
    pub(super) has_null_key: bool,
    /// Rows of the whole build side, when this table holds one spill partition of it
    /// (NOT IN needs to know whether the whole side was empty).
    pub(super) total_rows: usize,
}

impl JoinTable {
    /// Builds the table from every batch of the build side.
    pub fn build(
        schema: SchemaRef,
        batches: &[RecordBatch],
        keys: &[Arc<dyn PhysicalExpr>],
    ) -> TaskResult<Self> {
        // Probe batches take from this batch many times: one buffer per string column.
        let batch = compact_views(&concat_batches(&schema, batches)?, Compact::ToOneBuffer)?;
        let key_columns = evaluate(keys, &batch)?;
        let valid = all_valid(&key_columns, batch.num_rows());
        let keys = match key_columns.as_slice() {
            [single] if single.data_type() == &DataType::Int64 => {
                BuildKeys::Int64(single.as_primitive::<Int64Type>().clone())
            }
            _ => {
                let fields = key_columns
                    .iter()
                    .map(|c| SortField::new(c.data_type().clone()))
                    .collect();
                let converter = RowConverter::new(fields)?;
                let rows = converter.convert_columns(&key_columns)?;
                BuildKeys::Encoded { converter, rows }
            }
        };
        let mut table = JoinTable {
            heads: HashTable::with_capacity(batch.num_rows()),
            next: vec![NO_ROW; batch.num_rows()],
            batch,
            keys,
            has_null_key: false,
            total_rows: 0,
        };
        table.total_rows = table.batch.num_rows();
        match &table.keys {
            BuildKeys::Int64(values) => {
                let values = values.values();
                table.has_null_key = insert_chains(
                    &mut table.heads,
                    &mut table.next,
                    valid.as_deref(),
                    |row| hash_u64(values[row] as u64),
                    |a, b| values[a] == values[b],
                );
            }
            BuildKeys::Encoded { rows, .. } => {
                table.has_null_key = insert_chains(
                    &mut table.heads,
                    &mut table.next,
                    valid.as_deref(),
                    |row| stable_hash(rows.row(row).as_ref()),
                    |a, b| rows.row(a) == rows.row(b),
                );
            }
        }
        Ok(table)
    }

    pub fn num_rows(&self) -> usize {
        self.batch.num_rows()
    }

    /// Makes this table (one partition of a spilled build side) answer NOT IN for
    /// the whole side: whether any of its keys was NULL, and how many rows it had.
    pub fn with_whole_side(mut self, has_null_key: bool, total_rows: usize) -> Self {
        self.has_null_key |= has_null_key;
        self.total_rows = total_rows;
        self
    }

    /// What building a table over `rows` rows of `batch_bytes` needs beyond the
    /// batches themselves: their concatenated copy, the keys, and the chains.
    pub fn build_overhead(batch_bytes: usize, rows: usize) -> usize {
        batch_bytes + rows * 32
    }

    pub fn memory_bytes(&self) -> usize {
        let keys = match &self.keys {
            BuildKeys::Int64(values) => values.get_array_memory_size(),
            BuildKeys::Encoded { rows, .. } => rows.size(),
        };
        batch_bytes(&self.batch) + keys + self.heads.capacity() * 4 + self.next.len() * 4
    }

    /// For each probe row, the first build row with an equal key (the head of its
    /// chain), or [`NO_ROW`] when there is none or the probe key holds a NULL.
    pub(super) fn heads(&self, probe_keys: &[ArrayRef], num_rows: usize) -> TaskResult<Vec<u32>> {
        let valid = all_valid(probe_keys, num_rows);
        let mismatch = |error: String| {
            TaskError::internal(format!(
                "join keys of different types on the two sides: {error}"
            ))
        };
        Ok(match &self.keys {
            BuildKeys::Int64(build) => {
                let [probe] = probe_keys else {
                    return Err(mismatch(format!("{} probe keys for 1", probe_keys.len())));
                };
                let probe = probe
                    .as_primitive_opt::<Int64Type>()
                    .ok_or_else(|| mismatch(format!("{} probes Int64", probe.data_type())))?
                    .values();
                let build = build.values();
                self.find_heads(
                    valid.as_deref(),
                    num_rows,
                    |row| hash_u64(probe[row] as u64),
                    |row, head| probe[row] == build[head],
                )
            }
            BuildKeys::Encoded { converter, rows } => {
                let probe = converter
                    .convert_columns(probe_keys)
                    .map_err(|e| mismatch(e.to_string()))?;
                self.find_heads(
                    valid.as_deref(),
                    num_rows,
                    |row| stable_hash(probe.row(row).as_ref()),
                    |row, head| probe.row(row) == rows.row(head),
                )
            }
        })
    }

    fn find_heads(
        &self,
        valid: Option<&[bool]>,
        num_rows: usize,
        hash_of: impl Fn(usize) -> u64,
        equal: impl Fn(usize, usize) -> bool,
    ) -> Vec<u32> {
        (0..num_rows)
            .map(|row| {
                if !valid.is_none_or(|v| v[row]) {
                    return NO_ROW;
                }
                self.heads
                    .find(hash_of(row), |&head| equal(row, head as usize))
                    .copied()
                    .unwrap_or(NO_ROW)
            })
            .collect()
    }

    /// The build row after `row` in its key's chain, or [`NO_ROW`].
    pub(super) fn next(&self, row: u32) -> u32 {
        self.next[row as usize]
    }
}

/// Links every valid build row into the chain of its key, keeping rows in input
/// order along each chain. Returns whether some row had a NULL key.
fn insert_chains(
    heads: &mut HashTable<u32>,
    next: &mut [u32],
    valid: Option<&[bool]>,
    hash_of: impl Fn(usize) -> u64,
    equal: impl Fn(usize, usize) -> bool,
) -> bool {
    let mut has_null_key = false;
    for row in (0..next.len()).rev() {
        if !valid.is_none_or(|v| v[row]) {
            has_null_key = true;
            continue;
        }
        let hash = hash_of(row);
        match heads.find_mut(hash, |&head| equal(row, head as usize)) {
            Some(head) => {
                next[row] = *head;
                *head = row as u32;
            }
            None => {
                heads.insert_unique(hash, row as u32, |&head| hash_of(head as usize));
            }
        }
    }
    has_null_key
}

/// Per-row validity across all key columns; `None` when no key has nulls.
pub(super) fn all_valid(columns: &[ArrayRef], num_rows: usize) -> Option<Vec<bool>> {
    if columns.iter().all(|c| c.null_count() == 0) {
        return None;
    }
    Some(
        (0..num_rows)
            .map(|row| columns.iter().all(|c| c.is_valid(row)))
            .collect(),
    )
}
