//! Lists as PostgreSQL arrays: text `{1,2,NULL}` with elements quoted where
//! PostgreSQL quotes them (`{"a b","",x}`), and the binary array form (dimensions,
//! element OID, then each element's binary value). A list whose elements have no
//! array type of their own (a list of lists, say) is text, `{{1,2},{3}}`, as its
//! type OID says.

use std::ops::Range;

use arrow::array::{Array, ArrayRef, AsArray};
use arrow::datatypes::DataType;
use bytes::{BufMut, BytesMut};

/// The values array a list's elements are in, or `None` for a type that is not a
/// list.
pub(super) fn element_values(array: &ArrayRef) -> Option<&ArrayRef> {
    match array.data_type() {
        DataType::List(_) => Some(array.as_list::<i32>().values()),
        DataType::LargeList(_) => Some(array.as_list::<i64>().values()),
        DataType::FixedSizeList(..) => Some(array.as_fixed_size_list().values()),
        _ => None,
    }
}

/// Where row `row`'s elements are in [`element_values`].
pub(super) fn element_range(array: &ArrayRef, row: usize) -> Range<usize> {
    let range = |start: usize, end: usize| start..end;
    match array.data_type() {
        DataType::List(_) => {
            let offsets = array.as_list::<i32>().value_offsets();
            range(offsets[row] as usize, offsets[row + 1] as usize)
        }
        DataType::LargeList(_) => {
            let offsets = array.as_list::<i64>().value_offsets();
            range(offsets[row] as usize, offsets[row + 1] as usize)
        }
        DataType::FixedSizeList(_, size) => {
            let size = *size as usize;
            range(row * size, (row + 1) * size)
        }
        _ => 0..0,
    }
}

/// `{e1,e2,..}`, each element written by `write_element` and quoted unless it is a
/// nested array.
pub(super) fn write_text(
    elements: &ArrayRef,
    range: Range<usize>,
    out: &mut BytesMut,
    mut write_element: impl FnMut(usize, &mut BytesMut),
) {
    let nested = element_values(elements).is_some();
    out.put_u8(b'{');
    for (position, index) in range.enumerate() {
        if position > 0 {
            out.put_u8(b',');
        }
        if elements.is_null(index) || elements.data_type() == &DataType::Null {
            out.put_slice(b"NULL");
            continue;
        }
        let start = out.len();
        write_element(index, out);
        if !nested {
            quote_if_needed(out, start);
        }
    }
    out.put_u8(b'}');
}

/// PostgreSQL's binary array: one dimension (none when empty), the NULL flag, the
/// element OID, the length and lower bound 1, then each element with its length.
pub(super) fn write_binary(
    elements: &ArrayRef,
    element_oid: u32,
    range: Range<usize>,
    out: &mut BytesMut,
    mut write_element: impl FnMut(usize, &mut BytesMut),
) {
    let has_nulls = range.clone().any(|index| elements.is_null(index));
    out.put_i32(i32::from(!range.is_empty()));
    out.put_i32(i32::from(has_nulls));
    out.put_u32(element_oid);
    if !range.is_empty() {
        out.put_i32(range.len() as i32);
        out.put_i32(1);
    }
    for index in range {
        if elements.is_null(index) {
            out.put_i32(-1);
            continue;
        }
        let start = out.len();
        out.put_i32(0);
        write_element(index, out);
        let length = (out.len() - start - 4) as i32;
        out[start..start + 4].copy_from_slice(&length.to_be_bytes());
    }
}

/// Quotes the element written from `start` on where PostgreSQL would: empty, the
/// word NULL, or holding braces, commas, quotes, backslashes or white space.
fn quote_if_needed(out: &mut BytesMut, start: usize) {
    let element = &out[start..];
    let needs_quotes = element.is_empty()
        || element.eq_ignore_ascii_case(b"NULL")
        || element.iter().any(|byte| {
            matches!(byte, b'{' | b'}' | b',' | b'"' | b'\\') || byte.is_ascii_whitespace()
        });
    if !needs_quotes {
        return;
    }
    let element = out.split_off(start);
    out.put_u8(b'"');
    for &byte in element.iter() {
        if matches!(byte, b'"' | b'\\') {
            out.put_u8(b'\\');
        }
        out.put_u8(byte);
    }
    out.put_u8(b'"');
}

#[cfg(test)]
mod tests {
    use super::quote_if_needed;
    use bytes::{BufMut, BytesMut};

    #[test]
    fn elements_are_quoted_as_postgresql_quotes_them() {
        for (element, written) in [
            ("abc", "abc"),
            ("", "\"\""),
            ("null", "\"null\""),
            ("a b", "\"a b\""),
            ("a,b", "\"a,b\""),
            ("say \"hi\"", "\"say \\\"hi\\\"\""),
            ("back\\slash", "\"back\\\\slash\""),
            ("{x}", "\"{x}\""),
        ] {
            let mut out = BytesMut::from(&b"{"[..]);
            out.put_slice(element.as_bytes());
            quote_if_needed(&mut out, 1);
            assert_eq!(&out[1..], written.as_bytes(), "{element}");
        }
    }
}
