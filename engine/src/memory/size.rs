//! The memory a batch stands for. Arrow's `get_array_memory_size` counts every buffer
//! an array references, whole: each slice of one large batch, and each piece a hash
//! partitioner cut from it (string views share their data buffers), would count the
//! whole batch again, and a budget would be spent many times over on the same bytes.
//! This counts the bytes of the rows a batch holds instead; what slices keep alive
//! beyond that is the untracked overhead the accounting test bounds.

use arrow::array::{Array, ArrayRef, AsArray};
use arrow::datatypes::DataType;
use arrow::record_batch::RecordBatch;

/// Bytes of the rows `batch` holds: values, offsets, validity, string data.
pub fn batch_bytes(batch: &RecordBatch) -> usize {
    batch.columns().iter().map(array_bytes).sum()
}

fn array_bytes(array: &ArrayRef) -> usize {
    let validity = array.nulls().map_or(0, |_| array.len().div_ceil(8));
    match array.data_type() {
        DataType::Utf8View => validity + view_bytes(array.as_string_view().views()),
        DataType::BinaryView => validity + view_bytes(array.as_binary_view().views()),
        _ => array
            .to_data()
            .get_slice_memory_size()
            .unwrap_or_else(|_| array.get_array_memory_size()),
    }
}

/// 16 bytes per view, plus the out-of-line bytes of values longer than 12 bytes.
fn view_bytes(views: &[u128]) -> usize {
    views
        .iter()
        .map(|&view| {
            let length = view as u32 as usize;
            16 + if length > 12 { length } else { 0 }
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{Int64Array, StringViewArray};
    use arrow::datatypes::{Field, Schema};

    use super::*;

    #[test]
    fn slices_count_their_own_rows_not_the_shared_buffers() {
        let long = "a string well over twelve bytes";
        let strings = StringViewArray::from_iter_values((0..1000).map(|_| long));
        let numbers = Int64Array::from_iter_values(0..1000);
        let schema = Arc::new(Schema::new(vec![
            Field::new("s", DataType::Utf8View, false),
            Field::new("n", DataType::Int64, false),
        ]));
        let batch =
            RecordBatch::try_new(schema, vec![Arc::new(strings), Arc::new(numbers)]).unwrap();
        let whole = batch_bytes(&batch);
        assert_eq!(whole, 1000 * (16 + long.len()) + 1000 * 8);
        let tenth = batch_bytes(&batch.slice(0, 100));
        assert_eq!(tenth * 10, whole);
        assert!(
            batch.slice(0, 100).get_array_memory_size() > whole / 2,
            "arrow counts it whole"
        );
    }
}
