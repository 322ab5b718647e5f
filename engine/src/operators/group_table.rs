//! Group keys -> dense group indices, for hash aggregation. One `Int64` key (the
//! surrogate keys most GROUP BYs use) is hashed and compared as an integer. A few short
//! keys (integers, dates, strings of at most 12 bytes, no NULLs: flags, statuses,
//! years) are packed into one 16-byte word per column. Anything else is row-encoded
//! (arrow-row) into one growing buffer and compared as bytes; short keys switch to
//! that for good when a batch brings a long string or a NULL.

use std::ops::Range;
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, Date32Array, Int32Array, Int64Array, StringViewArray,
};
use arrow::buffer::NullBuffer;
use arrow::datatypes::{DataType, Date32Type, Int32Type, Int64Type};
use arrow::row::{RowConverter, Rows, SortField};
use hashbrown::HashTable;

use super::hash::{hash_u64, stable_hash};
use crate::error::TaskResult;

pub struct GroupTable {
    keys: GroupKeys,
    table: HashTable<Slot>,
    count: usize,
    /// Group index of each row of the last batch assigned.
    indices: Vec<usize>,
}

enum GroupKeys {
    /// No key column seen yet (the first batch decides), or a global aggregate.
    Undecided,
    Int64 {
        values: Vec<i64>,
        /// The group of NULL keys; it stays out of the hash table.
        null_group: Option<usize>,
    },
    /// Short keys: `values[group * types.len() + column]` is the packed value.
    Short {
        types: Vec<DataType>,
        values: Vec<u128>,
    },
    Encoded {
        converter: RowConverter,
        rows: Rows,
    },
}

/// At most this many short key columns are packed (wider keys are row-encoded).
const SHORT_COLUMNS_MAX: usize = 4;

impl GroupTable {
    /// `global`: no key columns, one group that exists even before any row.
    pub fn new(global: bool) -> Self {
        GroupTable {
            keys: GroupKeys::Undecided,
            table: HashTable::new(),
            count: usize::from(global),
            indices: Vec::new(),
        }
    }

    pub fn count(&self) -> usize {
        self.count
    }

    /// The group of each row passed to the last [`GroupTable::assign`].
    pub fn indices(&self) -> &[usize] {
        &self.indices
    }

    /// Maps every row of `columns` to its group, creating groups as needed.
    pub fn assign(&mut self, columns: &[ArrayRef], num_rows: usize) -> TaskResult<()> {
        let normalized = super::float_keys::normalized(columns);
        let columns: &[ArrayRef] = &normalized;
        self.indices.clear();
        if columns.is_empty() {
            self.count = 1;
            self.indices.resize(num_rows, 0);
            return Ok(());
        }
        if matches!(self.keys, GroupKeys::Undecided) {
            self.keys = GroupKeys::for_columns(columns)?;
        }
        if matches!(self.keys, GroupKeys::Short { .. }) && !are_short(columns) {
            self.encode_groups()?;
        }
        match &mut self.keys {
            GroupKeys::Undecided => unreachable!("decided above"),
            GroupKeys::Short { types, values } => {
                let packed = pack(columns, num_rows);
                let groups = Groups {
                    table: &mut self.table,
                    count: &mut self.count,
                    indices: &mut self.indices,
                };
                match types.len() {
                    1 => groups.assign_short::<1>(values, &packed),
                    2 => groups.assign_short::<2>(values, &packed),
                    3 => groups.assign_short::<3>(values, &packed),
                    4 => groups.assign_short::<4>(values, &packed),
                    width => unreachable!("at most {SHORT_COLUMNS_MAX} short columns, not {width}"),
                }
            }
            GroupKeys::Int64 { values, null_group } => {
                let column = columns[0].as_primitive::<Int64Type>();
                // Rows sorted or clustered by the key (a table loaded in key order, a
                // fact table's lines per order) repeat the previous row's key: that
                // row's group needs no lookup.
                let mut previous: Option<(i64, usize)> = None;
                for (row, &value) in column.values().iter().enumerate() {
                    let group = if column.is_null(row) {
                        *null_group.get_or_insert_with(|| {
                            values.push(0);
                            self.count += 1;
                            self.count - 1
                        })
                    } else if let Some((_, group)) = previous.filter(|&(key, _)| key == value) {
                        group
                    } else {
                        let group = group_of(
                            &mut self.table,
                            &mut self.count,
                            values,
                            hash_u64(value as u64),
                            |values, g| values[g] == value,
                            |values| values.push(value),
                        );
                        previous = Some((value, group));
                        group
                    };
                    self.indices.push(group);
                }
            }
            GroupKeys::Encoded {
                converter,
                rows: keys,
            } => {
                let rows = converter.convert_columns(columns)?;
                let mut previous: Option<(&[u8], usize)> = None;
                for row in rows.iter() {
                    let bytes = row.data();
                    let group = match previous {
                        Some((last, group)) if last == bytes => group,
                        _ => {
                            let group = group_of(
                                &mut self.table,
                                &mut self.count,
                                keys,
                                stable_hash(bytes),
                                |keys, g| keys.row(g).as_ref() == bytes,
                                |keys| keys.push(row),
                            );
                            previous = Some((bytes, group));
                            group
                        }
                    };
                    self.indices.push(group);
                }
            }
        }
        Ok(())
    }

    /// The key columns of groups `range`.
    pub fn key_columns(&self, range: Range<usize>) -> TaskResult<Vec<ArrayRef>> {
        match &self.keys {
            GroupKeys::Undecided => Ok(Vec::new()),
            GroupKeys::Int64 { values, null_group } => {
                let nulls = null_group
                    .filter(|group| range.contains(group))
                    .map(|group| NullBuffer::from_iter(range.clone().map(|g| g != group)));
                let values = values[range].to_vec();
                Ok(vec![
                    Arc::new(Int64Array::new(values.into(), nulls)) as ArrayRef
                ])
            }
            GroupKeys::Short { types, values } => types
                .iter()
                .enumerate()
                .map(|(column, data_type)| {
                    let packed = range.clone().map(|g| values[g * types.len() + column]);
                    unpack(data_type, packed)
                })
                .collect(),
            GroupKeys::Encoded { converter, rows } => {
                Ok(converter.convert_rows(range.map(|group| rows.row(group)))?)
            }
        }
    }

    /// Moves every group's key from packed words to row-encoding (a batch brought a key
    /// that does not pack), and re-hashes them.
    fn encode_groups(&mut self) -> TaskResult<()> {
        let GroupKeys::Short { types, .. } = &self.keys else {
            return Ok(());
        };
        let fields = types.iter().map(|t| SortField::new(t.clone())).collect();
        let converter = RowConverter::new(fields)?;
        let columns = self.key_columns(0..self.count)?;
        let rows = converter.convert_columns(&columns)?;
        self.table.clear();
        for group in 0..self.count {
            let slot = Slot::new(group, stable_hash(rows.row(group).as_ref()));
            self.table
                .insert_unique(slot.table_hash(), slot, Slot::table_hash);
        }
        self.keys = GroupKeys::Encoded { converter, rows };
        Ok(())
    }

    /// Bytes of the keys and the hash table.
    pub fn memory_bytes(&self) -> usize {
        let keys = match &self.keys {
            GroupKeys::Undecided => 0,
            GroupKeys::Int64 { values, .. } => values.capacity() * 8,
            GroupKeys::Short { values, .. } => values.capacity() * 16,
            GroupKeys::Encoded { rows, .. } => rows.size(),
        };
        keys + self.table.capacity() * size_of::<Slot>() + self.indices.capacity() * 8
    }
}

/// A group in the hash table, with half of its key's hash: growing the table
/// re-hashes every group from it, without reading the keys again (for wide keys, a
/// random read and a hash of their bytes per group).
#[derive(Clone, Copy)]
struct Slot {
    group: u32,
    hash: u32,
}

impl Slot {
    fn new(group: usize, hash: u64) -> Slot {
        Slot {
            group: group as u32,
            hash: (hash ^ (hash >> 32)) as u32,
        }
    }

    /// The hash the table places the slot by: the stored half twice, so that the
    /// table's bucket bits (low) and tag bits (high) both come from it.
    fn table_hash(&self) -> u64 {
        (u64::from(self.hash) << 32) | u64::from(self.hash)
    }
}

/// The group of the key with `hash` (equal to group `g`'s when `is_key(keys, g)`),
/// a new one after `push(keys)` when there is none. The key store is passed to each
/// closure rather than captured, so that reading and appending can share it.
fn group_of<K>(
    table: &mut HashTable<Slot>,
    count: &mut usize,
    keys: &mut K,
    hash: u64,
    is_key: impl Fn(&K, usize) -> bool,
    push: impl FnOnce(&mut K),
) -> usize {
    let probe = Slot::new(0, hash);
    let found = table.find(probe.table_hash(), |slot| {
        slot.hash == probe.hash && is_key(keys, slot.group as usize)
    });
    if let Some(slot) = found {
        return slot.group as usize;
    }
    push(keys);
    let group = *count;
    *count += 1;
    let slot = Slot::new(group, hash);
    table.insert_unique(slot.table_hash(), slot, Slot::table_hash);
    group
}

/// The parts of a [`GroupTable`] that assigning packed short keys updates.
struct Groups<'a> {
    table: &'a mut HashTable<Slot>,
    count: &'a mut usize,
    indices: &'a mut Vec<usize>,
}

impl Groups<'_> {
    /// Assigns keys of `N` packed words each. `N` is a constant so that comparing two
    /// keys is `N` word compares, not a call to `memcmp`.
    fn assign_short<const N: usize>(self, values: &mut Vec<u128>, packed: &[u128]) {
        let key_of = |values: &Vec<u128>, g: usize| -> [u128; N] {
            values[g * N..(g + 1) * N].try_into().expect("N words")
        };
        let mut previous: Option<([u128; N], usize)> = None;
        for key in packed.chunks_exact(N) {
            let key: [u128; N] = key.try_into().expect("chunks of N words");
            let group = match previous {
                Some((last, group)) if last == key => group,
                _ => {
                    let group = group_of(
                        self.table,
                        self.count,
                        values,
                        hash_short(&key),
                        |values, g| key_of(values, g) == key,
                        |values| values.extend_from_slice(&key),
                    );
                    previous = Some((key, group));
                    group
                }
            };
            self.indices.push(group);
        }
    }
}

impl GroupKeys {
    fn for_columns(columns: &[ArrayRef]) -> TaskResult<Self> {
        if let [single] = columns {
            if single.data_type() == &DataType::Int64 {
                return Ok(GroupKeys::Int64 {
                    values: Vec::new(),
                    null_group: None,
                });
            }
        }
        if columns.len() <= SHORT_COLUMNS_MAX && are_short(columns) {
            return Ok(GroupKeys::Short {
                types: columns.iter().map(|c| c.data_type().clone()).collect(),
                values: Vec::new(),
            });
        }
        let fields = columns
            .iter()
            .map(|c| SortField::new(c.data_type().clone()))
            .collect();
        let converter = RowConverter::new(fields)?;
        let rows = converter.empty_rows(64, 1024);
        Ok(GroupKeys::Encoded { converter, rows })
    }
}

/// Whether every value of `columns` packs into a word: integers and dates, strings of
/// at most 12 bytes (held inside their view), and no NULLs.
fn are_short(columns: &[ArrayRef]) -> bool {
    columns.iter().all(|column| {
        column.null_count() == 0
            && match column.data_type() {
                DataType::Int64 | DataType::Int32 | DataType::Date32 => true,
                DataType::Utf8View => column
                    .as_string_view()
                    .views()
                    .iter()
                    .all(|&view| view as u32 <= 12),
                _ => false,
            }
    })
}

/// Row-major packed keys: `columns.len()` words per row.
fn pack(columns: &[ArrayRef], num_rows: usize) -> Vec<u128> {
    let width = columns.len();
    let mut packed = vec![0u128; num_rows * width];
    for (position, column) in columns.iter().enumerate() {
        let slots = packed.iter_mut().skip(position).step_by(width);
        match column.data_type() {
            DataType::Int64 => {
                let values = column.as_primitive::<Int64Type>().values();
                slots
                    .zip(values)
                    .for_each(|(slot, &v)| *slot = u128::from(v as u64));
            }
            DataType::Int32 => {
                let values = column.as_primitive::<Int32Type>().values();
                slots
                    .zip(values)
                    .for_each(|(slot, &v)| *slot = u128::from(v as u32));
            }
            DataType::Date32 => {
                let values = column.as_primitive::<Date32Type>().values();
                slots
                    .zip(values)
                    .for_each(|(slot, &v)| *slot = u128::from(v as u32));
            }
            DataType::Utf8View => {
                let views = column.as_string_view().views();
                slots
                    .zip(views.iter())
                    .for_each(|(slot, &view)| *slot = inline_view(view));
            }
            other => unreachable!("are_short admits no {other}"),
        }
    }
    packed
}

/// An inline string view (length, then up to 12 bytes) with the bytes past the
/// length cleared, so that equal strings are equal words.
fn inline_view(view: u128) -> u128 {
    view & INLINE_MASKS[(view as u32).min(12) as usize]
}

/// By string length: the bits of an inline view that hold the length and the string.
const INLINE_MASKS: [u128; 13] = {
    let mut masks = [0u128; 13];
    let mut length = 0;
    while length < 12 {
        masks[length] = (1u128 << (32 + 8 * length)) - 1;
        length += 1;
    }
    masks[12] = u128::MAX;
    masks
};

fn unpack(data_type: &DataType, packed: impl Iterator<Item = u128>) -> TaskResult<ArrayRef> {
    Ok(match data_type {
        DataType::Int64 => Arc::new(Int64Array::from_iter_values(
            packed.map(|v| v as u64 as i64),
        )),
        DataType::Int32 => Arc::new(Int32Array::from_iter_values(
            packed.map(|v| v as u32 as i32),
        )),
        DataType::Date32 => Arc::new(Date32Array::from_iter_values(
            packed.map(|v| v as u32 as i32),
        )),
        DataType::Utf8View => Arc::new(StringViewArray::try_new(
            packed.collect::<Vec<_>>().into(),
            vec![],
            None,
        )?),
        other => unreachable!("are_short admits no {other}"),
    })
}

fn hash_short(key: &[u128]) -> u64 {
    key.iter().fold(0x51_7cc1_b727_220a, |hash, &word| {
        hash_u64(hash ^ (word as u64) ^ ((word >> 64) as u64).rotate_left(29))
    })
}

#[cfg(test)]
mod tests {
    use arrow::array::StringArray;

    use super::*;

    fn assign(table: &mut GroupTable, column: ArrayRef) -> Vec<usize> {
        let rows = column.len();
        table.assign(&[column], rows).unwrap();
        table.indices().to_vec()
    }

    #[test]
    fn integer_keys_group_equal_values_and_nulls_once() {
        let mut table = GroupTable::new(false);
        let first = Arc::new(Int64Array::from(vec![Some(7), None, Some(-3), Some(7)]));
        assert_eq!(assign(&mut table, first), vec![0, 1, 2, 0]);
        let second = Arc::new(Int64Array::from(vec![None, Some(-3), Some(0)]));
        assert_eq!(assign(&mut table, second), vec![1, 2, 3]);
        assert_eq!(table.count(), 4);

        let keys = table.key_columns(0..4).unwrap();
        let expected = Int64Array::from(vec![Some(7), None, Some(-3), Some(0)]);
        assert_eq!(keys[0].as_primitive::<Int64Type>(), &expected);
        let tail = table.key_columns(2..4).unwrap();
        assert_eq!(tail[0].null_count(), 0);
    }

    #[test]
    fn short_keys_are_packed_until_a_long_string_or_null_arrives() {
        let mut table = GroupTable::new(false);
        let flags =
            |values: Vec<Option<&str>>| -> ArrayRef { Arc::new(StringViewArray::from(values)) };
        let years = |values: Vec<i32>| -> ArrayRef { Arc::new(Int32Array::from(values)) };
        let first = [
            flags(vec![Some("A"), Some("N"), Some("A")]),
            years(vec![1995, 1995, 1995]),
        ];
        table.assign(&first, 3).unwrap();
        assert!(matches!(table.keys, GroupKeys::Short { .. }));
        assert_eq!(table.indices(), &[0, 1, 0]);
        // A string of 12 bytes still fits in its view.
        let second = [
            flags(vec![Some("twelve bytes"), Some("N")]),
            years(vec![1996, 1995]),
        ];
        table.assign(&second, 2).unwrap();
        assert_eq!(table.indices(), &[2, 1]);
        // A long string moves every group to row-encoding; old groups stay found.
        let third = [
            flags(vec![Some("a string over twelve bytes"), Some("A"), None]),
            years(vec![1, 1995, 1995]),
        ];
        table.assign(&third, 3).unwrap();
        assert!(matches!(table.keys, GroupKeys::Encoded { .. }));
        assert_eq!(table.indices(), &[3, 0, 4]);
        let keys = table.key_columns(0..5).unwrap();
        let expected = StringViewArray::from(vec![
            Some("A"),
            Some("N"),
            Some("twelve bytes"),
            Some("a string over twelve bytes"),
            None,
        ]);
        assert_eq!(keys[0].as_string_view(), &expected);
        assert_eq!(
            keys[1].as_primitive::<Int32Type>(),
            &Int32Array::from(vec![1995, 1995, 1996, 1, 1995])
        );
    }

    #[test]
    fn runs_of_a_repeated_key_join_the_group_it_already_has() {
        // Each key type, with runs (the previous-row shortcut) and a key that comes
        // back after others (the hash lookup); the groups must not depend on which.
        let ints: ArrayRef = Arc::new(Int64Array::from(vec![5, 5, 9, 9, 9, 5, 5]));
        let mut table = GroupTable::new(false);
        assert_eq!(assign(&mut table, ints.clone()), vec![0, 0, 1, 1, 1, 0, 0]);
        assert_eq!(assign(&mut table, ints.slice(2, 4)), vec![1, 1, 1, 0]);

        let flags: ArrayRef = Arc::new(StringViewArray::from(vec!["R", "R", "A", "R", "N"]));
        let years: ArrayRef = Arc::new(Int32Array::from(vec![1, 1, 1, 1, 1]));
        let days: ArrayRef = Arc::new(Date32Array::from(vec![3, 3, 3, 4, 4]));
        let mut table = GroupTable::new(false);
        table.assign(&[flags.clone(), years, days], 5).unwrap();
        assert!(matches!(table.keys, GroupKeys::Short { .. }));
        assert_eq!(table.indices(), &[0, 0, 1, 2, 3]);

        let names: ArrayRef = Arc::new(StringArray::from(vec![
            Some("x"),
            Some("x"),
            None,
            None,
            Some("x"),
        ]));
        let mut table = GroupTable::new(false);
        table.assign(&[names, flags], 5).unwrap();
        assert!(matches!(table.keys, GroupKeys::Encoded { .. }));
        assert_eq!(table.indices(), &[0, 0, 1, 2, 3]);
        assert_eq!(table.count(), 4);
    }

    #[test]
    fn inline_views_compare_equal_whatever_their_padding() {
        let clean = inline_view(StringViewArray::from(vec!["ab"]).views()[0]);
        let dirty = clean | (0xff << 100);
        assert_eq!(inline_view(dirty), clean);
    }

    #[test]
    fn other_keys_are_row_encoded() {
        let mut table = GroupTable::new(false);
        let strings = Arc::new(StringArray::from(vec![
            Some("a"),
            None,
            Some("a"),
            Some("b"),
        ]));
        assert_eq!(assign(&mut table, strings), vec![0, 1, 0, 2]);
        let keys = table.key_columns(0..3).unwrap();
        let expected = StringArray::from(vec![Some("a"), None, Some("b")]);
        assert_eq!(keys[0].as_string::<i32>(), &expected);
    }
}
