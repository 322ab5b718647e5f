//! Validation of batches decoded from the network. Arrow's own validation checks the
//! UTF-8 of every string view one by one, which was most of the receiver's time; here
//! views are checked structurally (bounds, prefixes, padding) and their bytes in bulk:
//! when every data buffer and inline view is ASCII, every view is valid UTF-8, since
//! any slice of ASCII is. Anything else gets Arrow's full check.

use arrow::array::{Array, ArrayData};
use arrow::datatypes::DataType;
use arrow::error::ArrowError;
use arrow::record_batch::RecordBatch;
use arrow_data::validate_binary_view;

/// The high bit of each of the 12 inline bytes of a view (bytes 4..16).
const INLINE_HIGH_BITS: u128 = 0x8080_8080_8080_8080_8080_8080 << 32;

/// Checks everything Arrow's full validation checks.
///
/// # Errors
/// The first invalid column, as Arrow describes it.
pub(crate) fn validate_batch(batch: &RecordBatch) -> Result<(), ArrowError> {
    for column in batch.columns() {
        validate_array(&column.to_data())?;
    }
    Ok(())
}

fn validate_array(data: &ArrayData) -> Result<(), ArrowError> {
    if data.data_type() != &DataType::Utf8View {
        return data.validate_full();
    }
    data.validate()?;
    data.validate_nulls()?;
    let views = &data.buffers()[0].typed_data::<u128>()[data.offset()..data.offset() + data.len()];
    let buffers = &data.buffers()[1..];
    validate_binary_view(views, buffers)?;
    let all_ascii = buffers.iter().all(|buffer| buffer.as_slice().is_ascii())
        && views
            .iter()
            .all(|view| *view as u32 > 12 || view & INLINE_HIGH_BITS == 0);
    if all_ascii {
        return Ok(());
    }
    data.validate_values()
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::StringViewArray;
    use arrow::buffer::{Buffer, ScalarBuffer};
    use arrow::datatypes::{Field, Schema};

    use super::*;

    fn batch_of(array: StringViewArray) -> RecordBatch {
        let schema = Schema::new(vec![Field::new("s", DataType::Utf8View, true)]);
        RecordBatch::try_new(Arc::new(schema), vec![Arc::new(array)]).unwrap()
    }

    #[test]
    fn accepts_ascii_and_unicode_and_refuses_broken_utf8() {
        let strings = [
            "short",
            "a string longer than twelve bytes",
            "été à Zürich, long",
        ];
        let valid = StringViewArray::from_iter_values(strings);
        validate_batch(&batch_of(valid.clone())).unwrap();
        validate_batch(&batch_of(valid.slice(1, 2))).unwrap();

        // A long view pointing into the middle of a two-byte character.
        let (views, buffers, nulls) = valid.clone().into_parts();
        let mut raw: Vec<u128> = views.to_vec();
        let data = buffers[0].as_slice();
        let cut = data.iter().position(|&b| b >= 0x80).unwrap() + 1;
        let mut view = arrow::array::ByteView::from(raw[2]);
        view.offset = cut as u32;
        view.length = 13;
        view.prefix = u32::from_le_bytes(data[cut..cut + 4].try_into().unwrap());
        raw[2] = view.as_u128();
        let broken = unsafe {
            StringViewArray::new_unchecked(ScalarBuffer::from(raw), buffers.clone(), nulls.clone())
        };
        assert!(validate_batch(&batch_of(broken)).is_err());

        // An inline view holding a lone continuation byte.
        let mut raw: Vec<u128> = views.to_vec();
        raw[0] = 1 | (0x80u128 << 32);
        let broken =
            unsafe { StringViewArray::new_unchecked(ScalarBuffer::from(raw), buffers, nulls) };
        assert!(validate_batch(&batch_of(broken)).is_err());

        // A view past the end of its buffer.
        let mut view = arrow::array::ByteView::from(valid.views()[1]);
        view.offset = 1 << 20;
        let out_of_bounds = unsafe {
            StringViewArray::new_unchecked(
                ScalarBuffer::from(vec![view.as_u128()]),
                vec![Buffer::from_vec(vec![b'x'; 64])],
                None,
            )
        };
        assert!(validate_batch(&batch_of(out_of_bounds)).is_err());
    }
}
