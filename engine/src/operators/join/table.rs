//! The built side of a hash join: its rows in one batch, reordered so the rows of
//! each key are contiguous, and a hash table from each key to its range of rows.
//! A probe row's matches are then one range: emitting them is a sequential copy,
//! not a walk along a chain of rows scattered over the batch (a key with 600 rows
//! cost 600 cache misses per probe row that way). Rows whose keys hold a NULL are
//! in no range (SQL equality never holds); they sit after all ranges.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, Int64Array, UInt32Array};
use arrow::compute::{concat, concat_batches, interleave, take};
use arrow::datatypes::SchemaRef;
use arrow::datatypes::{DataType, Int64Type};
use arrow::record_batch::{RecordBatch, RecordBatchOptions};
use arrow::row::{RowConverter, Rows, SortField};
use datafusion_physical_expr::PhysicalExpr;
use hashbrown::HashTable;

use crate::error::{TaskError, TaskResult};
use crate::memory::size::batch_bytes;
use crate::operators::compact::{compact_views, Compact};
use crate::operators::evaluate;
use crate::operators::float_keys::normalized;
use crate::operators::hash::{hash_u64, stable_hash};

/// A key's rows in the built batch: `[first row, row count]`. `[0, 0]` is no match.
pub(super) type KeyRange = [u32; 2];

/// The build side's keys: a single 64-bit integer column is hashed and compared as
/// integers (most equi-joins on surrogate keys); anything else is row-encoded.
enum BuildKeys {
    Int64(Int64Array),
    Encoded { converter: RowConverter, rows: Rows },
}

impl BuildKeys {
    /// With `nulls_equal`, keys are row-encoded, where a NULL is a value of its own
    /// (an integer column's NULL slots hold arbitrary values).
    fn new(columns: &[ArrayRef], nulls_equal: bool) -> TaskResult<Self> {
        Ok(match columns {
            [single] if single.data_type() == &DataType::Int64 && !nulls_equal => {
                BuildKeys::Int64(single.as_primitive::<Int64Type>().clone())
            }
            _ => {
                let fields = columns
                    .iter()
                    .map(|c| SortField::new(c.data_type().clone()))
                    .collect();
                let converter = RowConverter::new(fields)?;
                let rows = converter.convert_columns(columns)?;
                BuildKeys::Encoded { converter, rows }
            }
        })
    }

    /// Runs `with` over this side's hash and equality functions (row against row).
    fn with_functions<T>(
        &self,
        with: impl FnOnce(&dyn Fn(usize) -> u64, &dyn Fn(usize, usize) -> bool) -> T,
    ) -> T {
        match self {
            BuildKeys::Int64(values) => {
                let values = values.values();
                with(&|row| hash_u64(values[row] as u64), &|a, b| {
                    values[a] == values[b]
                })
            }
            BuildKeys::Encoded { rows, .. } => {
                with(&|row| stable_hash(rows.row(row).as_ref()), &|a, b| {
                    rows.row(a) == rows.row(b)
                })
            }
        }
    }

    fn memory_bytes(&self) -> usize {
        match self {
            BuildKeys::Int64(values) => values.get_array_memory_size(),
            BuildKeys::Encoded { rows, .. } => rows.size(),
        }
    }
}

/// The built side: its rows grouped by key and a hash table over the keys.
pub struct JoinTable {
    pub(super) batch: RecordBatch,
    /// The keys of `batch`'s rows (in its order).
    keys: BuildKeys,
    /// Each distinct key's range of rows, found by the key at the range's first row.
    ranges: HashTable<KeyRange>,
    /// Whether any build row has a NULL key (NOT IN then returns nothing).
    pub(super) has_null_key: bool,
    /// NULL keys equal each other (INTERSECT, EXCEPT).
    nulls_equal: bool,
    /// Rows of the whole build side, when this table holds one spill partition of it
    /// (NOT IN needs to know whether the whole side was empty).
    pub(super) total_rows: usize,
}

impl JoinTable {
    /// Builds the table from every batch of the build side; with `nulls_equal`, NULL
    /// keys match each other.
    pub fn build(
        schema: SchemaRef,
        batches: &[RecordBatch],
        keys: &[Arc<dyn PhysicalExpr>],
        nulls_equal: bool,
    ) -> TaskResult<Self> {
        let key_columns = concat_keys(&schema, keys, batches)?;
        let key_columns = normalized(&key_columns).into_owned();
        let num_rows: usize = batches.iter().map(RecordBatch::num_rows).sum();
        let valid = if nulls_equal {
            None
        } else {
            all_valid(&key_columns, num_rows)
        };
        let input_keys = BuildKeys::new(&key_columns, nulls_equal)?;
        let grouped = input_keys.with_functions(|hash_of, equal| {
            Grouped::new(num_rows, valid.as_deref(), hash_of, equal)
        });
        let in_order = grouped
            .order
            .iter()
            .enumerate()
            .all(|(slot, &row)| slot == row as usize);
        // One copy of the rows, in key order (with unique keys, the input order);
        // probe batches then take from it many times: one buffer per string column.
        let (batch, keys) = if in_order {
            (concat_batches(&schema, batches)?, input_keys)
        } else {
            let order = UInt32Array::from(grouped.order);
            let key_columns = key_columns
                .iter()
                .map(|column| Ok(take(column.as_ref(), &order, None)?))
                .collect::<TaskResult<Vec<_>>>()?;
            (
                reorder(&schema, batches, order.values())?,
                BuildKeys::new(&key_columns, nulls_equal)?,
            )
        };
        let batch = compact_views(&batch, Compact::ToOneBuffer)?;
        Ok(JoinTable {
            keys,
            ranges: grouped.ranges,
            has_null_key: grouped.null_rows > 0,
            nulls_equal,
            total_rows: batch.num_rows(),
            batch,
        })
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
    /// batches themselves: their reordered copy, the keys, the grouping and the
    /// hash table.
    pub fn build_overhead(batch_bytes: usize, rows: usize) -> usize {
        batch_bytes + rows * 32
    }

    pub fn memory_bytes(&self) -> usize {
        batch_bytes(&self.batch) + self.keys.memory_bytes() + self.ranges.capacity() * 9
    }

    /// For each probe row, the range of build rows with an equal key; `[0, 0]` when
    /// there is none or the probe key holds a NULL.
    pub(super) fn ranges(
        &self,
        probe_keys: &[ArrayRef],
        num_rows: usize,
    ) -> TaskResult<Vec<KeyRange>> {
        let valid = if self.nulls_equal {
            None
        } else {
            all_valid(probe_keys, num_rows)
        };
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
                self.find_ranges(
                    valid.as_deref(),
                    num_rows,
                    |row| hash_u64(probe[row] as u64),
                    |row, first| probe[row] == build[first],
                )
            }
            BuildKeys::Encoded { converter, rows } => {
                let probe = converter
                    .convert_columns(&normalized(probe_keys))
                    .map_err(|e| mismatch(e.to_string()))?;
                self.find_ranges(
                    valid.as_deref(),
                    num_rows,
                    |row| stable_hash(probe.row(row).as_ref()),
                    |row, first| probe.row(row) == rows.row(first),
                )
            }
        })
    }

    fn find_ranges(
        &self,
        valid: Option<&[bool]>,
        num_rows: usize,
        hash_of: impl Fn(usize) -> u64,
        equal: impl Fn(usize, usize) -> bool,
    ) -> Vec<KeyRange> {
        (0..num_rows)
            .map(|row| {
                if !valid.is_none_or(|v| v[row]) {
                    return [0, 0];
                }
                self.ranges
                    .find(hash_of(row), |range| equal(row, range[0] as usize))
                    .copied()
                    .unwrap_or([0, 0])
            })
            .collect()
    }
}

/// The build rows grouped by key: the order that makes each key's rows contiguous
/// (input order within a key; NULL-key rows last) and each key's range in it.
struct Grouped {
    order: Vec<u32>,
    ranges: HashTable<KeyRange>,
    null_rows: usize,
}

impl Grouped {
    fn new(
        num_rows: usize,
        valid: Option<&[bool]>,
        hash_of: &dyn Fn(usize) -> u64,
        equal: &dyn Fn(usize, usize) -> bool,
    ) -> Grouped {
        const NO_GROUP: u32 = u32::MAX;
        // Entries are [first input row, group] while grouping, [start, length] after.
        let mut ranges: HashTable<[u32; 2]> = HashTable::with_capacity(num_rows);
        let mut lengths: Vec<u32> = Vec::new();
        let mut group_of = vec![NO_GROUP; num_rows];
        let mut null_rows = 0;
        for (row, group) in group_of.iter_mut().enumerate() {
            if !valid.is_none_or(|v| v[row]) {
                null_rows += 1;
                continue;
            }
            let hash = hash_of(row);
            match ranges.find(hash, |entry| equal(row, entry[0] as usize)) {
                Some(entry) => *group = entry[1],
                None => {
                    *group = lengths.len() as u32;
                    lengths.push(0);
                    ranges.insert_unique(hash, [row as u32, *group], |entry| {
                        hash_of(entry[0] as usize)
                    });
                }
            }
            lengths[*group as usize] += 1;
        }
        let mut starts = Vec::with_capacity(lengths.len());
        let mut next = 0u32;
        for length in &lengths {
            starts.push(next);
            next += length;
        }
        let mut null_slot = next as usize;
        let mut slots = starts.clone();
        let mut order = vec![0u32; num_rows];
        for (row, &group) in group_of.iter().enumerate() {
            let slot = if group == NO_GROUP {
                null_slot += 1;
                null_slot - 1
            } else {
                slots[group as usize] += 1;
                slots[group as usize] as usize - 1
            };
            order[slot] = row as u32;
        }
        for entry in ranges.iter_mut() {
            let group = entry[1] as usize;
            *entry = [starts[group], lengths[group]];
        }
        Grouped {
            order,
            ranges,
            null_rows,
        }
    }
}

/// The join keys of every batch, one array per key over all rows.
fn concat_keys(
    schema: &SchemaRef,
    keys: &[Arc<dyn PhysicalExpr>],
    batches: &[RecordBatch],
) -> TaskResult<Vec<ArrayRef>> {
    let per_batch = batches
        .iter()
        .map(|batch| evaluate(keys, batch))
        .collect::<TaskResult<Vec<_>>>()?;
    (0..keys.len())
        .map(|key| {
            let arrays: Vec<&dyn Array> = per_batch.iter().map(|k| k[key].as_ref()).collect();
            if arrays.is_empty() {
                let data_type = keys[key].data_type(schema)?;
                return Ok(arrow::array::new_empty_array(&data_type));
            }
            Ok(concat(&arrays)?)
        })
        .collect()
}

/// The rows of `batches` (numbered across them) in `order`, as one batch.
fn reorder(schema: &SchemaRef, batches: &[RecordBatch], order: &[u32]) -> TaskResult<RecordBatch> {
    let options = RecordBatchOptions::new().with_row_count(Some(order.len()));
    match batches {
        [] => return Ok(RecordBatch::new_empty(Arc::clone(schema))),
        [batch] => {
            let order = UInt32Array::from(order.to_vec());
            let columns = batch
                .columns()
                .iter()
                .map(|column| Ok(take(column.as_ref(), &order, None)?))
                .collect::<TaskResult<Vec<_>>>()?;
            return Ok(RecordBatch::try_new_with_options(
                Arc::clone(schema),
                columns,
                &options,
            )?);
        }
        _ => {}
    }
    let mut starts = Vec::with_capacity(batches.len());
    let mut total = 0;
    for batch in batches {
        starts.push(total);
        total += batch.num_rows();
    }
    let locations: Vec<(usize, usize)> = order
        .iter()
        .map(|&row| {
            let row = row as usize;
            let batch = starts.partition_point(|&start| start <= row) - 1;
            (batch, row - starts[batch])
        })
        .collect();
    let columns = (0..schema.fields().len())
        .map(|column| {
            let arrays: Vec<&dyn Array> =
                batches.iter().map(|b| b.column(column).as_ref()).collect();
            Ok(interleave(&arrays, &locations)?)
        })
        .collect::<TaskResult<Vec<_>>>()?;
    Ok(RecordBatch::try_new_with_options(
        Arc::clone(schema),
        columns,
        &options,
    )?)
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
