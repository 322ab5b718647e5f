//! Group keys -> dense group indices, for hash aggregation. One `Int64` key (the
//! surrogate keys most GROUP BYs use) is hashed and compared as an integer; any other
//! key list is row-encoded (arrow-row) into one growing buffer and compared as bytes.

use std::ops::Range;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, Int64Array};
use arrow::buffer::NullBuffer;
use arrow::datatypes::{DataType, Int64Type};
use arrow::row::{RowConverter, Rows, SortField};
use hashbrown::HashTable;

use super::hash::{hash_u64, stable_hash};
use crate::error::TaskResult;

pub struct GroupTable {
    keys: GroupKeys,
    table: HashTable<u32>,
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
    Encoded {
        converter: RowConverter,
        rows: Rows,
    },
}

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
        self.indices.clear();
        if columns.is_empty() {
            self.count = 1;
            self.indices.resize(num_rows, 0);
            return Ok(());
        }
        if matches!(self.keys, GroupKeys::Undecided) {
            self.keys = GroupKeys::for_columns(columns)?;
        }
        match &mut self.keys {
            GroupKeys::Undecided => unreachable!("decided above"),
            GroupKeys::Int64 { values, null_group } => {
                let column = columns[0].as_primitive::<Int64Type>();
                for (row, &value) in column.values().iter().enumerate() {
                    let group = if column.is_null(row) {
                        *null_group.get_or_insert_with(|| {
                            values.push(0);
                            self.count += 1;
                            self.count - 1
                        })
                    } else {
                        let hash = hash_u64(value as u64);
                        let found = self.table.find(hash, |&g| values[g as usize] == value);
                        match found {
                            Some(&group) => group as usize,
                            None => {
                                let group = self.count;
                                values.push(value);
                                self.count += 1;
                                self.table.insert_unique(hash, group as u32, |&g| {
                                    hash_u64(values[g as usize] as u64)
                                });
                                group
                            }
                        }
                    };
                    self.indices.push(group);
                }
            }
            GroupKeys::Encoded {
                converter,
                rows: keys,
            } => {
                let rows = converter.convert_columns(columns)?;
                for row in rows.iter() {
                    let bytes = row.as_ref();
                    let hash = stable_hash(bytes);
                    let found = self
                        .table
                        .find(hash, |&group| keys.row(group as usize).as_ref() == bytes);
                    let group = match found {
                        Some(&group) => group as usize,
                        None => {
                            let group = self.count;
                            keys.push(row);
                            self.count += 1;
                            self.table.insert_unique(hash, group as u32, |&g| {
                                stable_hash(keys.row(g as usize).as_ref())
                            });
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
            GroupKeys::Encoded { converter, rows } => {
                Ok(converter.convert_rows(range.map(|group| rows.row(group)))?)
            }
        }
    }

    /// Bytes of the keys and the hash table.
    pub fn memory_bytes(&self) -> usize {
        let keys = match &self.keys {
            GroupKeys::Undecided => 0,
            GroupKeys::Int64 { values, .. } => values.capacity() * 8,
            GroupKeys::Encoded { rows, .. } => rows.size(),
        };
        keys + self.table.capacity() * 4 + self.indices.capacity() * 8
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
        let fields = columns
            .iter()
            .map(|c| SortField::new(c.data_type().clone()))
            .collect();
        let converter = RowConverter::new(fields)?;
        let rows = converter.empty_rows(64, 1024);
        Ok(GroupKeys::Encoded { converter, rows })
    }
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
