//! Float keys compared as SQL compares floats: -0 equals 0 (IEEE says so, and
//! PostgreSQL groups and joins them as one key), and every NaN equals every other
//! (PostgreSQL's rule, so NaNs group together). Keys are row-encoded or hashed by
//! their bits, where -0.0 and 0.0 differ, and so do NaNs of different payloads:
//! `group by x` over 0.0 and -0.0 gave two groups, and a join missed the pair.
//! Group tables, join tables, hash partitioning and window partitions see keys
//! through [`normalized`].

use std::borrow::Cow;
use std::sync::Arc;

use arrow::array::{ArrayRef, AsArray};
use arrow::datatypes::{ArrowPrimitiveType, DataType, Float32Type, Float64Type};

/// `columns` with every float column's -0 made 0 and its NaNs one NaN; borrowed
/// when nothing needed it (no float column, or none holding -0 or an odd NaN).
pub fn normalized(columns: &[ArrayRef]) -> Cow<'_, [ArrayRef]> {
    let mut changed: Option<Vec<ArrayRef>> = None;
    for (index, column) in columns.iter().enumerate() {
        let canonical = match column.data_type() {
            DataType::Float64 => canonical_floats::<Float64Type>(column, |v| {
                if v == 0.0 {
                    0.0
                } else if v.is_nan() {
                    f64::NAN
                } else {
                    v
                }
            }),
            DataType::Float32 => canonical_floats::<Float32Type>(column, |v| {
                if v == 0.0 {
                    0.0
                } else if v.is_nan() {
                    f32::NAN
                } else {
                    v
                }
            }),
            _ => None,
        };
        if let Some(canonical) = canonical {
            changed.get_or_insert_with(|| columns.to_vec())[index] = canonical;
        }
    }
    match changed {
        Some(columns) => Cow::Owned(columns),
        None => Cow::Borrowed(columns),
    }
}

/// The column with `canonical` applied to each value, if that changes any value's
/// bits (a NULL slot's value included: it is never compared, and rewriting it is
/// harmless).
fn canonical_floats<T>(
    column: &ArrayRef,
    canonical: impl Fn(T::Native) -> T::Native,
) -> Option<ArrayRef>
where
    T: ArrowPrimitiveType,
    T::Native: Bits,
{
    let array = column.as_primitive::<T>();
    let needed = array
        .values()
        .iter()
        .any(|&value| value.bits() != canonical(value).bits());
    needed.then(|| Arc::new(array.unary::<_, T>(canonical)) as ArrayRef)
}

/// A float's bit pattern, to tell -0.0 from 0.0 and one NaN from another.
trait Bits: Copy {
    fn bits(self) -> u64;
}

impl Bits for f64 {
    fn bits(self) -> u64 {
        self.to_bits()
    }
}

impl Bits for f32 {
    fn bits(self) -> u64 {
        u64::from(self.to_bits())
    }
}

#[cfg(test)]
mod tests {
    use arrow::array::{Array, Float64Array, Int64Array};

    use super::*;

    #[test]
    fn negative_zero_and_nans_become_one_key_each() {
        let odd_nan = f64::from_bits(f64::NAN.to_bits() | 1);
        let floats: ArrayRef = Arc::new(Float64Array::from(vec![
            Some(-0.0),
            Some(0.0),
            Some(odd_nan),
            Some(f64::NAN),
            None,
            Some(-1.5),
        ]));
        let integers: ArrayRef = Arc::new(Int64Array::from(vec![0, 0, 1, 1, 2, 3]));
        let columns = [Arc::clone(&integers), floats];
        let keys = normalized(&columns);
        assert!(matches!(keys, Cow::Owned(_)));
        let values = keys[1].as_primitive::<Float64Type>();
        assert_eq!(values.value(0).to_bits(), 0.0f64.to_bits());
        assert_eq!(values.value(2).to_bits(), f64::NAN.to_bits());
        assert!(values.is_null(4));
        assert_eq!(values.value(5), -1.5);
        assert!(Arc::ptr_eq(&keys[0], &integers));

        let plain: ArrayRef = Arc::new(Float64Array::from(vec![1.0, 0.0, f64::NAN]));
        let columns = [plain];
        assert!(matches!(normalized(&columns), Cow::Borrowed(_)));
    }
}
