//! The built side of a hash join: its rows in one batch, reordered so the rows of
//! each key are contiguous, and a hash table from each key to its range of rows.
//! A probe row's matches are then one range: emitting them is a sequential copy,
//! not a walk along a chain of rows scattered over the batch (a key with 600 rows
//! cost 600 cache misses per probe row that way). Rows whose keys hold a NULL are
//! in no range (SQL equality never holds); they sit after all ranges.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, UInt32Array};
use arrow::compute::{concat, concat_batches, interleave, take};
use arrow::datatypes::DataType;
use arrow::datatypes::SchemaRef;
use arrow::record_batch::{RecordBatch, RecordBatchOptions};
use arrow::row::{RowConverter, Rows, SortField};
use datafusion_physical_expr::PhysicalExpr;
use hashbrown::HashTable;

use crate::error::{TaskError, TaskResult};
use crate::memory::size::batch_bytes;
use crate::operators::compact::{compact_views, Compact};
use crate::operators::evaluate;
use crate::operators::float_keys::normalized;
use crate::operators::hash::stable_hash;

use super::key_presence::KeyPresence;
use super::packed_keys::{hash_words, Layout};

/// A key's rows in the built batch: `[first row, row count]`. `[0, 0]` is no match.
pub(super) type KeyRange = [u32; 2];

/// The build side's keys and the hash table from each key to its range of rows.
enum KeyIndex {
    /// Fixed-width integer keys of at most 64 bits in all (most equi-joins on
    /// surrogate keys), inline in the entries.
    Word(Packed<1>),
    /// Fixed-width integer keys of at most 128 bits (two 64-bit keys).
    Wide(Packed<2>),
    /// Anything else, and keys whose NULLs equal each other: row-encoded; an entry's
    /// range starts at a row holding its key.
    Encoded {
        converter: RowConverter,
        rows: Rows,
        ranges: HashTable<(u32, KeyRange)>,
    },
}

/// Packed keys with their ranges.
struct Packed<const N: usize> {
    layout: Layout,
    ranges: HashTable<([u64; N], KeyRange)>,
    /// The first words of the keys present, where they span a narrow range: a
    /// probe key whose first word is absent matches nothing.
    present: Option<KeyPresence>,
}

impl<const N: usize> Packed<N> {
    /// Groups the build rows by their packed keys; the order that groups them.
    fn group(
        layout: Layout,
        columns: &[ArrayRef],
        num_rows: usize,
        valid: Option<&[bool]>,
    ) -> (Self, Grouping) {
        let words = layout.pack::<N>(columns, num_rows);
        let (ranges, grouping) =
            Grouping::new(num_rows, valid, |row| words[row], hash_words, |a, b| a == b);
        let first_words = words
            .iter()
            .enumerate()
            .filter(|(row, _)| valid.is_none_or(|v| v[*row]))
            .map(|(_, word)| word[0]);
        let present = KeyPresence::of(first_words, num_rows);
        let packed = Packed {
            layout,
            ranges,
            present,
        };
        (packed, grouping)
    }

    fn find(
        &self,
        probe_keys: &[ArrayRef],
        num_rows: usize,
        valid: Option<&[bool]>,
    ) -> Option<Vec<KeyRange>> {
        if !self.layout.fits(probe_keys) {
            return None;
        }
        let words = self.layout.pack::<N>(probe_keys, num_rows);
        let lookup = |key: &[u64; N]| {
            self.ranges
                .find(hash_words(key), |entry| entry.0 == *key)
                .map(|entry| entry.1)
        };
        Some(match &self.present {
            Some(present) => find_ranges(valid, num_rows, |row| {
                let key = &words[row];
                present.contains(key[0]).then(|| lookup(key)).flatten()
            }),
            None => find_ranges(valid, num_rows, |row| lookup(&words[row])),
        })
    }

    fn memory_bytes(&self) -> usize {
        self.ranges.capacity() * (std::mem::size_of::<([u64; N], KeyRange)>() + 1)
            + self.present.as_ref().map_or(0, KeyPresence::memory_bytes)
    }
}

impl KeyIndex {
    fn memory_bytes(&self) -> usize {
        match self {
            KeyIndex::Word(packed) => packed.memory_bytes(),
            KeyIndex::Wide(packed) => packed.memory_bytes(),
            KeyIndex::Encoded { rows, ranges, .. } => {
                rows.size() + ranges.capacity() * (std::mem::size_of::<(u32, KeyRange)>() + 1)
            }
        }
    }
}

/// The built side: its rows grouped by key and a hash table over the keys.
pub struct JoinTable {
    pub(super) batch: RecordBatch,
    /// The keys of `batch`'s rows and each distinct key's range of rows.
    keys: KeyIndex,
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
        let valid = valid.as_deref();
        let types: Vec<DataType> = key_columns.iter().map(|c| c.data_type().clone()).collect();
        // A NULL slot packs an arbitrary value: NULL-equal keys are row-encoded.
        let layout = |lanes| Layout::of(&types, lanes).filter(|_| !nulls_equal);
        let (mut index, grouping) = if let Some(layout) = layout(1) {
            let (packed, grouping) = Packed::group(layout, &key_columns, num_rows, valid);
            (KeyIndex::Word(packed), grouping)
        } else if let Some(layout) = layout(2) {
            let (packed, grouping) = Packed::group(layout, &key_columns, num_rows, valid);
            (KeyIndex::Wide(packed), grouping)
        } else {
            let fields = types.iter().map(|t| SortField::new(t.clone())).collect();
            let converter = RowConverter::new(fields)?;
            let rows = converter.convert_columns(&key_columns)?;
            let (ranges, grouping) = Grouping::new(
                num_rows,
                valid,
                |row| row as u32,
                |&row| stable_hash(rows.row(row as usize).as_ref()),
                |&a, &b| rows.row(a as usize) == rows.row(b as usize),
            );
            let index = KeyIndex::Encoded {
                converter,
                rows,
                ranges,
            };
            (index, grouping)
        };
        let in_order = grouping
            .order
            .iter()
            .enumerate()
            .all(|(slot, &row)| slot == row as usize);
        // One copy of the rows, in key order (with unique keys, the input order);
        // probe batches then take from it many times: one buffer per string column.
        let batch = if in_order {
            concat_batches(&schema, batches)?
        } else {
            let order = UInt32Array::from(grouping.order);
            if let KeyIndex::Encoded {
                converter, rows, ..
            } = &mut index
            {
                let key_columns = key_columns
                    .iter()
                    .map(|column| Ok(take(column.as_ref(), &order, None)?))
                    .collect::<TaskResult<Vec<_>>>()?;
                *rows = converter.convert_columns(&key_columns)?;
            }
            reorder(&schema, batches, order.values())?
        };
        let batch = compact_views(&batch, Compact::ToOneBuffer)?;
        Ok(JoinTable {
            keys: index,
            has_null_key: grouping.null_rows > 0,
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
    /// hash table (two packed lanes and their entries are the most per row). It is
    /// counted per build batch, so it leaves out the fixed part of the keys' bitmap
    /// (`key_presence::most_bytes`; its per-row part fits in the 48 bytes): the
    /// built table then holds what it really takes.
    pub fn build_overhead(batch_bytes: usize, rows: usize) -> usize {
        batch_bytes + rows * 48
    }

    pub fn memory_bytes(&self) -> usize {
        batch_bytes(&self.batch) + self.keys.memory_bytes()
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
        let valid = valid.as_deref();
        let mismatch = |error: String| {
            TaskError::internal(format!(
                "join keys of different types on the two sides: {error}"
            ))
        };
        let packed_mismatch = || {
            let types: Vec<String> = probe_keys
                .iter()
                .map(|k| k.data_type().to_string())
                .collect();
            mismatch(format!(
                "probe keys [{}] against packed build keys",
                types.join(", ")
            ))
        };
        match &self.keys {
            KeyIndex::Word(packed) => packed
                .find(probe_keys, num_rows, valid)
                .ok_or_else(packed_mismatch),
            KeyIndex::Wide(packed) => packed
                .find(probe_keys, num_rows, valid)
                .ok_or_else(packed_mismatch),
            KeyIndex::Encoded {
                converter,
                rows,
                ranges,
            } => {
                let probe = converter
                    .convert_columns(&normalized(probe_keys))
                    .map_err(|e| mismatch(e.to_string()))?;
                Ok(find_ranges(valid, num_rows, |row| {
                    let key = probe.row(row);
                    ranges
                        .find(stable_hash(key.as_ref()), |entry| {
                            key == rows.row(entry.1[0] as usize)
                        })
                        .map(|entry| entry.1)
                }))
            }
        }
    }
}

/// Each probe row's range: `[0, 0]` for a row with a NULL key or none found.
fn find_ranges(
    valid: Option<&[bool]>,
    num_rows: usize,
    find: impl Fn(usize) -> Option<KeyRange>,
) -> Vec<KeyRange> {
    (0..num_rows)
        .map(|row| {
            if !valid.is_none_or(|v| v[row]) {
                return [0, 0];
            }
            find(row).unwrap_or([0, 0])
        })
        .collect()
}

/// The order that makes each key's build rows contiguous (input order within a key;
/// NULL-key rows last).
struct Grouping {
    order: Vec<u32>,
    null_rows: usize,
}

impl Grouping {
    /// Groups the rows by `key_of(row)`; also each distinct key's entry, holding the
    /// key of its first row and its range in the order.
    fn new<E: Copy>(
        num_rows: usize,
        valid: Option<&[bool]>,
        key_of: impl Fn(usize) -> E,
        hash: impl Fn(&E) -> u64,
        equal: impl Fn(&E, &E) -> bool,
    ) -> (HashTable<(E, KeyRange)>, Grouping) {
        const NO_GROUP: u32 = u32::MAX;
        // Entries hold [group, 0] while grouping, [start, length] after.
        let mut ranges: HashTable<(E, KeyRange)> = HashTable::with_capacity(num_rows);
        let mut lengths: Vec<u32> = Vec::new();
        let mut group_of = vec![NO_GROUP; num_rows];
        let mut null_rows = 0;
        for (row, group) in group_of.iter_mut().enumerate() {
            if !valid.is_none_or(|v| v[row]) {
                null_rows += 1;
                continue;
            }
            let key = key_of(row);
            let hashed = hash(&key);
            match ranges.find(hashed, |entry| equal(&key, &entry.0)) {
                Some(entry) => *group = entry.1[0],
                None => {
                    *group = lengths.len() as u32;
                    lengths.push(0);
                    ranges.insert_unique(hashed, (key, [*group, 0]), |entry| hash(&entry.0));
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
            let group = entry.1[0] as usize;
            entry.1 = [starts[group], lengths[group]];
        }
        (ranges, Grouping { order, null_rows })
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
