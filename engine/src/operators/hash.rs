//! One hash function for the whole cluster. Exchanges route rows by it, so it must give
//! the same value on every node and CPU: no per-process seed, no CPU-specific path.

use arrow::array::{Array, AsArray};
use arrow::datatypes::{
    ArrowPrimitiveType, DataType, Date32Type, Date64Type, Int16Type, Int32Type, Int64Type,
    Int8Type, UInt16Type, UInt32Type, UInt64Type, UInt8Type,
};

/// Hashes row-encoded key bytes (arrow-row format) to 64 bits.
pub fn stable_hash(bytes: &[u8]) -> u64 {
    const MULTIPLIER: u64 = 0xff51_afd7_ed55_8ccd;
    let mut hash: u64 = 0x9e37_79b9_7f4a_7c15 ^ bytes.len() as u64;
    let mut chunks = bytes.chunks_exact(8);
    for chunk in &mut chunks {
        let word = u64::from_le_bytes(chunk.try_into().expect("chunk of 8 bytes"));
        hash = (hash ^ word).wrapping_mul(MULTIPLIER);
        hash ^= hash >> 29;
    }
    let remainder = chunks.remainder();
    if !remainder.is_empty() {
        let mut last = [0u8; 8];
        last[..remainder.len()].copy_from_slice(remainder);
        hash = (hash ^ u64::from_le_bytes(last)).wrapping_mul(MULTIPLIER);
    }
    finalize(hash)
}

/// [`stable_hash`] of each value's arrow-row encoding (ascending, nulls first), for
/// a single key column of integers or dates, without encoding the rows: a valid
/// value is byte 1 then its big-endian bytes, sign bit flipped for signed types; a
/// null is byte 0 then zeros. `None` for other types. Exchanges hash most keys this
/// way, and must route them exactly as the row-encoded path would.
pub fn integer_key_hashes(column: &dyn Array) -> Option<Vec<u64>> {
    macro_rules! hashes {
        ($arrow:ty, $signed:expr) => {{
            const WIDTH: usize = std::mem::size_of::<<$arrow as ArrowPrimitiveType>::Native>();
            let column = column.as_primitive::<$arrow>();
            let nulls = column.nulls();
            let hashes = column.values().iter().enumerate().map(|(row, value)| {
                let mut bytes = [0u8; 1 + WIDTH];
                if nulls.is_none_or(|nulls| nulls.is_valid(row)) {
                    bytes[0] = 1;
                    bytes[1..].copy_from_slice(&value.to_be_bytes());
                    if $signed {
                        bytes[1] ^= 0x80;
                    }
                }
                stable_hash(&bytes)
            });
            Some(hashes.collect())
        }};
    }
    match column.data_type() {
        DataType::Int8 => hashes!(Int8Type, true),
        DataType::Int16 => hashes!(Int16Type, true),
        DataType::Int32 => hashes!(Int32Type, true),
        DataType::Int64 => hashes!(Int64Type, true),
        DataType::UInt8 => hashes!(UInt8Type, false),
        DataType::UInt16 => hashes!(UInt16Type, false),
        DataType::UInt32 => hashes!(UInt32Type, false),
        DataType::UInt64 => hashes!(UInt64Type, false),
        DataType::Date32 => hashes!(Date32Type, true),
        DataType::Date64 => hashes!(Date64Type, true),
        _ => None,
    }
}

/// Hashes one 64-bit integer key (for in-memory tables of one core).
pub fn hash_u64(value: u64) -> u64 {
    finalize(value ^ 0x9e37_79b9_7f4a_7c15)
}

/// murmur3's 64-bit finalizer: spreads every input bit over the output.
fn finalize(mut hash: u64) -> u64 {
    hash ^= hash >> 33;
    hash = hash.wrapping_mul(0xff51_afd7_ed55_8ccd);
    hash ^= hash >> 33;
    hash = hash.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    hash ^ (hash >> 33)
}

/// The partition a hash goes to. Uses the high bits, so that hash tables inside a
/// partition (which index by the low bits) still see well-spread values.
pub fn partition_of(hash: u64, partitions: usize) -> usize {
    (((hash >> 32) * partitions as u64) >> 32) as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_is_stable_across_runs() {
        // Pinned values: changing them silently re-routes rows between nodes of
        // different versions, so a change here must be deliberate.
        assert_eq!(stable_hash(b""), stable_hash(b""));
        assert_ne!(stable_hash(b"a"), stable_hash(b"b"));
        assert_ne!(stable_hash(&[0; 8]), stable_hash(&[0; 9]));
    }

    #[test]
    fn integer_keys_hash_as_their_row_encoding_does() {
        use std::sync::Arc;

        use arrow::array::{
            ArrayRef, Date32Array, Date64Array, Int16Array, Int64Array, Int8Array, UInt32Array,
            UInt64Array,
        };
        use arrow::row::{RowConverter, SortField};

        let columns: Vec<ArrayRef> = vec![
            Arc::new(Int64Array::from(vec![
                Some(0),
                None,
                Some(-1),
                Some(i64::MIN),
                Some(i64::MAX),
                Some(150_000),
            ])),
            Arc::new(Int8Array::from(vec![Some(-128), None, Some(127), Some(0)])),
            Arc::new(Int16Array::from(vec![Some(-300), Some(300), None])),
            Arc::new(arrow::array::Int32Array::from(vec![
                Some(-7),
                None,
                Some(1 << 30),
            ])),
            Arc::new(UInt64Array::from(vec![Some(u64::MAX), None, Some(1)])),
            Arc::new(UInt32Array::from(vec![Some(u32::MAX), Some(0)])),
            Arc::new(Date32Array::from(vec![Some(-719_162), None, Some(9_000)])),
            Arc::new(Date64Array::from(vec![Some(-86_400_000), Some(0), None])),
        ];
        for column in columns {
            let converter =
                RowConverter::new(vec![SortField::new(column.data_type().clone())]).unwrap();
            let rows = converter.convert_columns(&[Arc::clone(&column)]).unwrap();
            let encoded: Vec<u64> = rows.iter().map(|row| stable_hash(row.as_ref())).collect();
            assert_eq!(
                integer_key_hashes(column.as_ref()),
                Some(encoded),
                "{:?}",
                column.data_type()
            );
        }
        let text = arrow::array::StringArray::from(vec!["a"]);
        assert_eq!(integer_key_hashes(&text), None);
    }

    #[test]
    fn partitions_cover_the_range_evenly() {
        let mut counts = [0usize; 3];
        for key in 0u64..30_000 {
            counts[partition_of(stable_hash(&key.to_le_bytes()), 3)] += 1;
        }
        for count in counts {
            assert!((9_000..11_000).contains(&count), "{counts:?}");
        }
    }
}
