//! Compacting string views before a batch is kept and taken from many times.
//!
//! A string-view column references its data buffers whole. A scan slice of a large
//! generated or loaded batch references every buffer of that batch, and
//! concatenating N such slices references N copies of the list. `take` copies the
//! list of buffers into every batch it produces (and dropping that batch walks it
//! again), so a join build side made of slices made each probe batch pay for
//! thousands of buffer handles: Q10 at SF 1 spent 70% of its time there.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, GenericByteViewArray};
use arrow::datatypes::{ByteViewType, DataType};
use arrow::error::ArrowError;
use arrow::record_batch::RecordBatch;

/// A copy of `batch` whose string and binary view columns each hold their bytes in
/// one buffer of exactly the bytes their rows use. Other columns are shared.
pub fn compact_views(batch: RecordBatch) -> Result<RecordBatch, ArrowError> {
    if !batch.columns().iter().any(needs_compaction) {
        return Ok(batch);
    }
    let columns = batch
        .columns()
        .iter()
        .map(|column| match column.data_type() {
            DataType::Utf8View if needs_compaction(column) => {
                Arc::new(column.as_string_view().gc()) as ArrayRef
            }
            DataType::BinaryView if needs_compaction(column) => {
                Arc::new(column.as_binary_view().gc()) as ArrayRef
            }
            _ => Arc::clone(column),
        })
        .collect();
    RecordBatch::try_new(batch.schema(), columns)
}

fn needs_compaction(column: &ArrayRef) -> bool {
    match column.data_type() {
        DataType::Utf8View => views_need_compaction(column.as_string_view()),
        DataType::BinaryView => views_need_compaction(column.as_binary_view()),
        _ => false,
    }
}

/// More than one buffer, or a buffer holding more than the rows use.
fn views_need_compaction<T: ByteViewType + ?Sized>(array: &GenericByteViewArray<T>) -> bool {
    match array.data_buffers() {
        [] => false,
        [only] => only.len() > array.total_buffer_bytes_used() * 2,
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use arrow::compute::concat_batches;
    use arrow::datatypes::{Field, Schema};

    use super::*;

    fn strings(rows: usize) -> RecordBatch {
        let values = (0..rows).map(|i| format!("a value longer than twelve bytes {i}"));
        let column = arrow::array::StringViewArray::from_iter_values(values);
        let schema = Schema::new(vec![Field::new("s", DataType::Utf8View, false)]);
        RecordBatch::try_new(Arc::new(schema), vec![Arc::new(column)]).unwrap()
    }

    #[test]
    fn concatenated_slices_end_up_in_one_buffer_with_the_same_rows() {
        let whole = strings(100_000);
        let slices: Vec<_> = (0..10).map(|i| whole.slice(i * 1000, 1000)).collect();
        let concatenated = concat_batches(&whole.schema(), &slices).unwrap();
        let buffers = |batch: &RecordBatch| batch.column(0).as_string_view().data_buffers().len();
        assert!(buffers(&concatenated) > 10, "{}", buffers(&concatenated));

        let compact = compact_views(concatenated.clone()).unwrap();
        assert_eq!(buffers(&compact), 1);
        assert_eq!(compact, concatenated);
        let used = compact.column(0).as_string_view().total_buffer_bytes_used();
        assert_eq!(
            compact.column(0).as_string_view().data_buffers()[0].len(),
            used
        );
    }

    #[test]
    fn compact_columns_are_shared_not_copied() {
        let batch = compact_views(strings(10)).unwrap();
        let again = compact_views(batch.clone()).unwrap();
        assert!(Arc::ptr_eq(batch.column(0), again.column(0)));
    }
}
