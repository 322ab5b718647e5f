//! Compacting string views. A string-view column references its data buffers whole,
//! so a slice of a large batch (a scan slice, a top-k, a hash partition's piece)
//! keeps and carries all of them. That costs in two places:
//! - Arrow IPC writes every referenced buffer whole: a top-100 slice of a big join
//!   sent 12 GB for 100 rows (TPC-H Q2 on two nodes), and spill files grew alike.
//! - `take` copies the list of buffers into every batch it produces (and dropping the
//!   batch walks it again). A join build side concatenated from N scan slices holds
//!   N copies of the list, and each probe batch paid for thousands of buffer handles:
//!   Q10 at SF 1 spent 70% of its time there.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, GenericByteViewArray};
use arrow::datatypes::{ByteViewType, DataType};
use arrow::error::ArrowError;
use arrow::record_batch::{RecordBatch, RecordBatchOptions};

/// When a view column is copied into one compact buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compact {
    /// Its buffers hold more than twice the bytes its rows use (before writing IPC).
    Wasteful,
    /// Also when it references more than one buffer (before taking from it often).
    ToOneBuffer,
}

/// `batch` with its string and binary view columns copied compactly where `when`
/// says so; other columns, and batches needing nothing, are shared, not copied.
pub fn compact_views(batch: &RecordBatch, when: Compact) -> Result<RecordBatch, ArrowError> {
    if !batch.columns().iter().any(|c| needs_compaction(c, when)) {
        return Ok(batch.clone());
    }
    let columns = batch
        .columns()
        .iter()
        .map(|column| compact_view_column(column, when))
        .collect();
    let options = RecordBatchOptions::new().with_row_count(Some(batch.num_rows()));
    RecordBatch::try_new_with_options(batch.schema(), columns, &options)
}

/// `column` copied compactly if it is a string or binary view column that `when`
/// says needs it; otherwise shared.
pub fn compact_view_column(column: &ArrayRef, when: Compact) -> ArrayRef {
    match column.data_type() {
        DataType::Utf8View if needs_compaction(column, when) => {
            Arc::new(column.as_string_view().gc())
        }
        DataType::BinaryView if needs_compaction(column, when) => {
            Arc::new(column.as_binary_view().gc())
        }
        _ => Arc::clone(column),
    }
}

fn needs_compaction(column: &ArrayRef, when: Compact) -> bool {
    match column.data_type() {
        DataType::Utf8View => views_need_compaction(column.as_string_view(), when),
        DataType::BinaryView => views_need_compaction(column.as_binary_view(), when),
        _ => false,
    }
}

fn views_need_compaction<T: ByteViewType + ?Sized>(
    array: &GenericByteViewArray<T>,
    when: Compact,
) -> bool {
    let buffers = array.data_buffers();
    let held: usize = buffers.iter().map(|b| b.len()).sum();
    let wasteful = held > 2 * array.total_buffer_bytes_used() + 4096;
    wasteful || (when == Compact::ToOneBuffer && buffers.len() > 1)
}

#[cfg(test)]
mod tests {
    use arrow::array::StringViewArray;
    use arrow::compute::concat_batches;
    use arrow::datatypes::{Field, Schema};

    use super::*;

    fn strings(rows: usize) -> RecordBatch {
        let values = (0..rows).map(|i| format!("a value longer than twelve bytes {i}"));
        let column = StringViewArray::from_iter_values(values);
        let schema = Schema::new(vec![Field::new("s", DataType::Utf8View, false)]);
        RecordBatch::try_new(Arc::new(schema), vec![Arc::new(column)]).unwrap()
    }

    fn buffers(batch: &RecordBatch) -> usize {
        batch.column(0).as_string_view().data_buffers().len()
    }

    fn held(batch: &RecordBatch) -> usize {
        let column = batch.column(0).as_string_view();
        column.data_buffers().iter().map(|b| b.len()).sum()
    }

    #[test]
    fn a_small_slice_does_not_carry_the_whole_buffer() {
        let batch = strings(10_000);
        assert!(held(&batch) > 250_000);
        let slice = batch.slice(100, 10);
        let compact = compact_views(&slice, Compact::Wasteful).unwrap();
        assert_eq!(compact, slice, "same values");
        assert!(held(&compact) < 1_000, "{} bytes", held(&compact));
        // A batch that uses its buffers is left as it is.
        let whole = compact_views(&batch, Compact::Wasteful).unwrap();
        assert!(Arc::ptr_eq(whole.column(0), batch.column(0)));
    }

    #[test]
    fn concatenated_slices_end_up_in_one_buffer_with_the_same_rows() {
        let whole = strings(100_000);
        let slices: Vec<_> = (0..10).map(|i| whole.slice(i * 10_000, 10_000)).collect();
        let concatenated = concat_batches(&whole.schema(), &slices).unwrap();
        assert!(buffers(&concatenated) > 10, "{}", buffers(&concatenated));

        let compact = compact_views(&concatenated, Compact::ToOneBuffer).unwrap();
        assert_eq!(buffers(&compact), 1);
        assert_eq!(compact, concatenated);
        let used = compact.column(0).as_string_view().total_buffer_bytes_used();
        assert_eq!(held(&compact), used);
        let again = compact_views(&compact, Compact::ToOneBuffer).unwrap();
        assert!(Arc::ptr_eq(again.column(0), compact.column(0)));
    }
}
