//! Join keys of fixed-width integer columns (integers, dates, timestamps) packed into
//! one or two 64-bit lanes per row, so a key is hashed and compared as one or two
//! words kept inline in the hash table's entries. Row-encoding such keys cost a
//! buffer per probe batch, a byte hash and a `memcmp` per lookup: TPC-H's
//! `(l_partkey, l_suppkey)` and `(l_orderkey, l_suppkey)` joins, and TPC-DS's
//! 32-bit surrogate keys, spent most of their probe time there.

use arrow::array::{Array, ArrayRef, AsArray};
use arrow::datatypes::{
    ArrowPrimitiveType, DataType, Date32Type, Date64Type, Int16Type, Int32Type, Int64Type,
    Int8Type, TimeUnit, TimestampMicrosecondType, TimestampMillisecondType,
    TimestampNanosecondType, TimestampSecondType, UInt16Type, UInt32Type, UInt64Type, UInt8Type,
};

use crate::operators::hash::hash_u64;

/// Where each key column's bits go: its lane and the shift within it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Layout {
    types: Vec<DataType>,
    places: Vec<(usize, u32)>,
}

impl Layout {
    /// The packing of columns of `types` into at most `lanes` 64-bit words (each
    /// column into the first lane with room for it), or `None` when a type is not a
    /// fixed-width integer or the columns need more lanes.
    pub fn of(types: &[DataType], lanes: usize) -> Option<Layout> {
        let mut used = vec![0u32; lanes];
        let places = types
            .iter()
            .map(|data_type| {
                let bits = bits_of(data_type)?;
                let lane = used.iter().position(|&u| u + bits <= 64)?;
                used[lane] += bits;
                Some((lane, used[lane] - bits))
            })
            .collect::<Option<Vec<_>>>()?;
        Some(Layout {
            types: types.to_vec(),
            places,
        })
    }

    /// Whether `columns` have this layout's types (a probe side against its build side).
    pub fn fits(&self, columns: &[ArrayRef]) -> bool {
        columns.len() == self.types.len()
            && columns
                .iter()
                .zip(&self.types)
                .all(|(column, data_type)| column.data_type() == data_type)
    }

    /// Every row's key as `N` words. A NULL slot packs whatever value it holds: such
    /// rows are kept out of the table and out of lookups by their validity.
    pub fn pack<const N: usize>(&self, columns: &[ArrayRef], num_rows: usize) -> Vec<[u64; N]> {
        let mut words = vec![[0u64; N]; num_rows];
        for (column, &(lane, shift)) in columns.iter().zip(&self.places) {
            let column = column.as_ref();
            match column.data_type() {
                DataType::Int8 => {
                    or_into::<Int8Type, N>(&mut words, column, lane, shift, |v| u64::from(v as u8))
                }
                DataType::Int16 => or_into::<Int16Type, N>(&mut words, column, lane, shift, |v| {
                    u64::from(v as u16)
                }),
                DataType::Int32 => or_into::<Int32Type, N>(&mut words, column, lane, shift, |v| {
                    u64::from(v as u32)
                }),
                DataType::Date32 => {
                    or_into::<Date32Type, N>(&mut words, column, lane, shift, |v| {
                        u64::from(v as u32)
                    })
                }
                DataType::Int64 => {
                    or_into::<Int64Type, N>(&mut words, column, lane, shift, |v| v as u64)
                }
                DataType::Date64 => {
                    or_into::<Date64Type, N>(&mut words, column, lane, shift, |v| v as u64)
                }
                DataType::UInt8 => {
                    or_into::<UInt8Type, N>(&mut words, column, lane, shift, u64::from)
                }
                DataType::UInt16 => {
                    or_into::<UInt16Type, N>(&mut words, column, lane, shift, u64::from)
                }
                DataType::UInt32 => {
                    or_into::<UInt32Type, N>(&mut words, column, lane, shift, u64::from)
                }
                DataType::UInt64 => {
                    or_into::<UInt64Type, N>(&mut words, column, lane, shift, |v| v)
                }
                DataType::Timestamp(unit, _) => {
                    let to_bits = |v: i64| v as u64;
                    match unit {
                        TimeUnit::Second => or_into::<TimestampSecondType, N>(
                            &mut words, column, lane, shift, to_bits,
                        ),
                        TimeUnit::Millisecond => or_into::<TimestampMillisecondType, N>(
                            &mut words, column, lane, shift, to_bits,
                        ),
                        TimeUnit::Microsecond => or_into::<TimestampMicrosecondType, N>(
                            &mut words, column, lane, shift, to_bits,
                        ),
                        TimeUnit::Nanosecond => or_into::<TimestampNanosecondType, N>(
                            &mut words, column, lane, shift, to_bits,
                        ),
                    }
                }
                other => unreachable!("Layout::of admits no {other}"),
            }
        }
        words
    }
}

/// Hashes a packed key; one lane hashes as the single-integer keys always did.
pub(super) fn hash_words<const N: usize>(words: &[u64; N]) -> u64 {
    let (first, rest) = words.split_first().expect("a key has at least one lane");
    rest.iter()
        .fold(hash_u64(*first), |hash, &word| hash_u64(hash ^ word))
}

/// The width of a type's values in bits, for those that pack.
fn bits_of(data_type: &DataType) -> Option<u32> {
    Some(match data_type {
        DataType::Int8 | DataType::UInt8 => 8,
        DataType::Int16 | DataType::UInt16 => 16,
        DataType::Int32 | DataType::UInt32 | DataType::Date32 => 32,
        DataType::Int64 | DataType::UInt64 | DataType::Date64 | DataType::Timestamp(_, _) => 64,
        _ => return None,
    })
}

/// ORs each value of `column`, zero-extended to 64 bits, into its row's `lane` at
/// `shift`.
fn or_into<T: ArrowPrimitiveType, const N: usize>(
    words: &mut [[u64; N]],
    column: &dyn Array,
    lane: usize,
    shift: u32,
    to_bits: impl Fn(T::Native) -> u64,
) {
    let values = column.as_primitive::<T>().values();
    for (word, &value) in words.iter_mut().zip(values.iter()) {
        word[lane] |= to_bits(value) << shift;
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{Int16Array, Int32Array, Int64Array, StringArray};

    use super::*;

    #[test]
    fn columns_take_the_first_lane_with_room() {
        let layout = Layout::of(&[DataType::Int32, DataType::Int64, DataType::Int32], 2)
            .expect("128 bits fit two lanes");
        assert_eq!(layout.places, vec![(0, 0), (1, 0), (0, 32)]);
        assert!(Layout::of(&[DataType::Int64, DataType::Int64], 1).is_none());
        assert!(Layout::of(&[DataType::Int64, DataType::Int8, DataType::Int64], 2).is_none());
        assert!(Layout::of(&[DataType::Utf8], 2).is_none());
        assert!(Layout::of(&[DataType::Float64], 2).is_none());
    }

    #[test]
    fn equal_keys_pack_equal_and_different_keys_differ() {
        let columns: Vec<ArrayRef> = vec![
            Arc::new(Int32Array::from(vec![-1, -1, 1, 0])),
            Arc::new(Int64Array::from(vec![7, 7, 7, -1])),
            Arc::new(Int16Array::from(vec![3, 3, 3, -3])),
        ];
        let types: Vec<DataType> = columns.iter().map(|c| c.data_type().clone()).collect();
        let layout = Layout::of(&types, 2).expect("112 bits fit two lanes");
        let words = layout.pack::<2>(&columns, 4);
        assert_eq!(words[0], words[1]);
        assert_ne!(words[0], words[2]);
        assert_ne!(words[2], words[3]);
        // -1 as a 32-bit value must not spill its sign into the column beside it.
        assert_eq!(words[0][0], 0x3_ffff_ffff);
        assert_eq!(words[3][0], 0xfffd_0000_0000);
        assert_eq!(words[3][1], u64::MAX);
        assert_ne!(hash_words(&words[0]), hash_words(&words[2]));
    }

    #[test]
    fn probe_columns_must_have_the_build_types() {
        let layout = Layout::of(&[DataType::Int64], 1).expect("one lane");
        let int64: ArrayRef = Arc::new(Int64Array::from(vec![1]));
        let int32: ArrayRef = Arc::new(Int32Array::from(vec![1]));
        let text: ArrayRef = Arc::new(StringArray::from(vec!["a"]));
        assert!(layout.fits(&[Arc::clone(&int64)]));
        assert!(!layout.fits(&[int32]));
        assert!(!layout.fits(&[text]));
        assert!(!layout.fits(&[Arc::clone(&int64), int64]));
    }
}
