//! A hash join's build keys, handed to the scan under its probe side once the build
//! is done: the scan drops rows whose key no build row has before it copies their
//! columns and before the probe packs and looks up their keys. TPC-H Q7 scans 1.8M
//! lineitem rows of the right years for the suppliers of two nations (8% of them),
//! and 1.5M orders for 146K of their keys.
//!
//! A filter only ever removes rows the join would drop (it is attached only where
//! unmatched probe rows produce nothing), so the answer never depends on whether it
//! was in place yet. Keys are integers (and dates): a bitmap of them where they lie
//! in a narrow range, else their range. A filter that keeps nearly every row it
//! tests stops testing.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use arrow::array::{Array, ArrayRef, AsArray, BooleanArray, PrimitiveArray, UInt32Array};
use arrow::buffer::BooleanBuffer;
use arrow::datatypes::{
    ArrowPrimitiveType, DataType, Date32Type, Date64Type, Int16Type, Int32Type, Int64Type,
    Int8Type, UInt16Type, UInt32Type, UInt8Type,
};
use arrow::record_batch::RecordBatch;

use super::conjunction::Selection;
use super::join::KeyPresence;

/// Rows a filter tests before it may give up.
const TRIAL_ROWS: u64 = 100_000;
/// A filter keeping more than this share of the rows it tested stops testing.
const USELESS_ABOVE: f64 = 0.9;
/// Below this share of a batch's rows still selected, only those are tested.
const TEST_ROWS_BELOW: f64 = 0.25;

/// `$f::<T>(args)` for the arrow type `T` of a key column's `$data_type`,
/// `$otherwise` for a type [`supports`] refuses.
macro_rules! by_key_type {
    ($data_type:expr, $f:ident($($arg:expr),*), $otherwise:expr) => {
        match $data_type {
            DataType::Int8 => $f::<Int8Type>($($arg),*),
            DataType::Int16 => $f::<Int16Type>($($arg),*),
            DataType::Int32 => $f::<Int32Type>($($arg),*),
            DataType::Int64 => $f::<Int64Type>($($arg),*),
            DataType::UInt8 => $f::<UInt8Type>($($arg),*),
            DataType::UInt16 => $f::<UInt16Type>($($arg),*),
            DataType::UInt32 => $f::<UInt32Type>($($arg),*),
            DataType::Date32 => $f::<Date32Type>($($arg),*),
            DataType::Date64 => $f::<Date64Type>($($arg),*),
            _ => $otherwise,
        }
    };
}

/// Whether a key column of this type can carry a runtime filter.
pub fn supports(data_type: &DataType) -> bool {
    // The list of types is `by_key_type!`'s: reaching this is the answer.
    #[allow(clippy::extra_unused_type_parameters)]
    fn key_type<T: ArrowPrimitiveType>() -> bool {
        true
    }
    by_key_type!(data_type, key_type(), false)
}

/// The keys of a build side, as a probe-side scan tests them.
#[derive(Debug)]
pub struct BuildKeys {
    /// `min > max` when there is no key (every build key was NULL, or none came).
    min: i64,
    max: i64,
    /// Exactly the keys (as offsets from `min`), where their range is narrow enough.
    presence: Option<KeyPresence>,
}

impl BuildKeys {
    /// The non-NULL keys of `columns` (one key column's arrays, of a type
    /// [`supports`] admits).
    /// Two passes over the keys, and no copy of them: a build side is as large as
    /// the memory budget allows.
    pub fn of(columns: &[ArrayRef]) -> Option<BuildKeys> {
        let mut range: Option<(i64, i64)> = None;
        let mut rows = 0;
        for column in columns {
            for_each_key(column.as_ref(), &mut |key| {
                rows += 1;
                range = Some(range.map_or((key, key), |(min, max)| (min.min(key), max.max(key))));
            })?;
        }
        let Some((min, max)) = range else {
            return Some(BuildKeys {
                min: 1,
                max: 0,
                presence: None,
            });
        };
        // Offsets from the smallest key, so that keys of both signs near zero are a
        // narrow range too.
        let offset = |key: i64| key.wrapping_sub(min) as u64;
        let presence = KeyPresence::spanning(0, offset(max), rows).map(|mut presence| {
            for column in columns {
                for_each_key(column.as_ref(), &mut |key| presence.insert(offset(key)));
            }
            presence
        });
        Some(BuildKeys { min, max, presence })
    }

    /// The bytes it holds.
    pub fn memory_bytes(&self) -> usize {
        self.presence.as_ref().map_or(0, KeyPresence::memory_bytes)
    }

    /// Whether some build key lies in `low..=high`.
    pub fn any_within(&self, low: i64, high: i64) -> bool {
        if self.min > self.max || high < self.min || low > self.max || low > high {
            return false;
        }
        // The smallest and the largest keys are keys: a range reaching either holds one.
        if low <= self.min || high >= self.max {
            return true;
        }
        let offset = |key: i64| key.wrapping_sub(self.min) as u64;
        self.presence
            .as_ref()
            .is_none_or(|presence| presence.any_within(offset(low), offset(high)))
    }

    /// For statistics of a probe column (`[mins[i], maxes[i]]`, of the column's
    /// type): whether each range may hold a build key (NULL where a bound is
    /// unknown). `None` for a type that does not convert to 64-bit integers.
    pub fn within_ranges(&self, mins: &ArrayRef, maxes: &ArrayRef) -> Option<BooleanArray> {
        let as_i64 = |bounds: &ArrayRef| {
            arrow::compute::cast(bounds, &DataType::Int64)
                .ok()
                .map(|bounds| bounds.as_primitive::<Int64Type>().clone())
        };
        let (mins, maxes) = (as_i64(mins)?, as_i64(maxes)?);
        Some(
            mins.iter()
                .zip(maxes.iter())
                .map(|bounds| match bounds {
                    (Some(low), Some(high)) => Some(self.any_within(low, high)),
                    _ => None,
                })
                .collect(),
        )
    }

    #[inline]
    fn contains(&self, key: i64) -> bool {
        match &self.presence {
            Some(presence) => presence.contains(key.wrapping_sub(self.min) as u64),
            None => self.min <= key && key <= self.max,
        }
    }
}

/// One key column's filter, shared between the join that fills it and the scan
/// that applies it.
#[derive(Debug, Default)]
pub struct RuntimeFilterSlot {
    keys: OnceLock<Arc<BuildKeys>>,
    tested: AtomicU64,
    passed: AtomicU64,
    given_up: AtomicBool,
}

impl RuntimeFilterSlot {
    /// Called once the build side is whole; later calls change nothing.
    pub fn publish(&self, keys: Arc<BuildKeys>) {
        let _ = self.keys.set(keys);
    }

    /// Rows tested and rows kept so far.
    pub fn counts(&self) -> (u64, u64) {
        (
            self.tested.load(Ordering::Relaxed),
            self.passed.load(Ordering::Relaxed),
        )
    }

    /// The published keys, whether or not it still tests rows: statistics are
    /// checked against them once per row group or page, which costs next to nothing.
    pub fn keys(&self) -> Option<&BuildKeys> {
        self.keys.get().map(Arc::as_ref)
    }

    /// Whether its keys are published and it still tests rows.
    pub fn is_active(&self) -> bool {
        self.active().is_some()
    }

    fn active(&self) -> Option<&BuildKeys> {
        if self.given_up.load(Ordering::Relaxed) {
            return None;
        }
        self.keys.get().map(Arc::as_ref)
    }

    fn observe(&self, tested: usize, passed: usize) {
        let tested = self.tested.fetch_add(tested as u64, Ordering::Relaxed) + tested as u64;
        let passed = self.passed.fetch_add(passed as u64, Ordering::Relaxed) + passed as u64;
        if tested >= TRIAL_ROWS && passed as f64 > USELESS_ABOVE * tested as f64 {
            self.given_up.store(true, Ordering::Relaxed);
        }
    }
}

/// A scan's test of one of its columns against a join's build keys.
#[derive(Debug, Clone)]
pub struct RuntimeFilter {
    /// The column's index in the batches the scan filters.
    pub column: usize,
    pub slot: Arc<RuntimeFilterSlot>,
}

impl RuntimeFilter {
    /// Of `selection`'s rows of `batch`, those whose key some build row has (all of
    /// them while the build is not done).
    pub fn refine(&self, batch: &RecordBatch, selection: Selection) -> Selection {
        let Some(keys) = self.slot.active() else {
            return selection;
        };
        let column = batch.column(self.column).as_ref();
        let rows = batch.num_rows();
        let (tested, refined) = match selection {
            Selection::All => (
                rows,
                Selection::of_mask(BooleanArray::from(whole_mask(column, keys))),
            ),
            Selection::Mask(mask) => {
                let selected = mask.true_count();
                if selected as f64 >= TEST_ROWS_BELOW * rows as f64 {
                    let both = mask.values() & &whole_mask(column, keys);
                    (selected, Selection::of_mask(BooleanArray::from(both)))
                } else {
                    let positions = mask.values().set_indices_u32().collect();
                    (
                        selected,
                        Selection::Rows(kept_rows(column, keys, positions)),
                    )
                }
            }
            Selection::Rows(positions) => {
                let positions: Vec<u32> = positions.values().to_vec();
                (
                    positions.len(),
                    Selection::Rows(kept_rows(column, keys, positions)),
                )
            }
        };
        self.slot.observe(tested, refined.count(rows));
        refined
    }
}

/// Which rows hold a key of the build side of the partition each is routed to
/// (`targets[row]`, an index into `slots`); rows routed where no filter is
/// published are kept. `None` when no filter is published or the type is not a key's.
pub fn kept_where_routed(
    column: &dyn Array,
    targets: &[usize],
    slots: &[Option<Arc<RuntimeFilterSlot>>],
) -> Option<BooleanBuffer> {
    fn typed<T: ArrowPrimitiveType>(
        column: &dyn Array,
        targets: &[usize],
        keys: &[Option<&BuildKeys>],
        counts: &mut [(usize, usize)],
    ) -> BooleanBuffer
    where
        T::Native: Into<i64>,
    {
        let column: &PrimitiveArray<T> = column.as_primitive();
        let values = column.values();
        BooleanBuffer::collect_bool(values.len(), |row| {
            let target = targets[row];
            let Some(keys) = keys[target] else {
                return true;
            };
            let kept = column.is_valid(row) && keys.contains(values[row].into());
            counts[target].0 += 1;
            counts[target].1 += usize::from(kept);
            kept
        })
    }
    let keys: Vec<Option<&BuildKeys>> = slots
        .iter()
        .map(|slot| slot.as_deref().and_then(RuntimeFilterSlot::active))
        .collect();
    if keys.iter().all(Option::is_none) {
        return None;
    }
    let mut counts = vec![(0, 0); keys.len()];
    let mask = by_key_type!(
        column.data_type(),
        typed(column, targets, &keys, &mut counts),
        return None
    );
    for (slot, (tested, passed)) in slots.iter().zip(counts) {
        if let (Some(slot), true) = (slot, tested > 0) {
            slot.observe(tested, passed);
        }
    }
    Some(mask)
}

/// Which rows of `column` hold a build key (NULL never does).
fn whole_mask(column: &dyn Array, keys: &BuildKeys) -> BooleanBuffer {
    fn typed<T: ArrowPrimitiveType>(column: &dyn Array, keys: &BuildKeys) -> BooleanBuffer
    where
        T::Native: Into<i64>,
    {
        let column: &PrimitiveArray<T> = column.as_primitive();
        let values = column.values();
        let mask =
            BooleanBuffer::collect_bool(values.len(), |row| keys.contains(values[row].into()));
        match column.nulls() {
            Some(nulls) => &mask & nulls.inner(),
            None => mask,
        }
    }
    // The join checked the type; an unexpected one keeps every row.
    by_key_type!(
        column.data_type(),
        typed(column, keys),
        BooleanBuffer::new_set(column.len())
    )
}

/// Of the rows at `positions` (ascending), those holding a build key.
fn kept_rows(column: &dyn Array, keys: &BuildKeys, mut positions: Vec<u32>) -> UInt32Array {
    fn typed<T: ArrowPrimitiveType>(column: &dyn Array, keys: &BuildKeys, positions: &mut Vec<u32>)
    where
        T::Native: Into<i64>,
    {
        let column: &PrimitiveArray<T> = column.as_primitive();
        let values = column.values();
        positions.retain(|&row| {
            let row = row as usize;
            column.is_valid(row) && keys.contains(values[row].into())
        });
    }
    // The join checked the type; an unexpected one keeps every row.
    by_key_type!(column.data_type(), typed(column, keys, &mut positions), ());
    UInt32Array::from(positions)
}

/// Calls `visit` with each non-NULL value of `column`; `None` for a type
/// [`supports`] refuses.
fn for_each_key(column: &dyn Array, visit: &mut dyn FnMut(i64)) -> Option<()> {
    fn typed<T: ArrowPrimitiveType>(column: &dyn Array, visit: &mut dyn FnMut(i64))
    where
        T::Native: Into<i64>,
    {
        let column: &PrimitiveArray<T> = column.as_primitive();
        column.iter().flatten().for_each(|key| visit(key.into()));
    }
    by_key_type!(column.data_type(), typed(column, visit), return None);
    Some(())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{Date32Array, Int32Array, Int64Array};
    use arrow::datatypes::{Field, Schema};

    use super::*;

    fn filter_of(build: ArrayRef) -> RuntimeFilter {
        let slot = Arc::new(RuntimeFilterSlot::default());
        slot.publish(Arc::new(BuildKeys::of(&[build]).expect("an integer key")));
        RuntimeFilter { column: 0, slot }
    }

    fn batch(column: ArrayRef) -> RecordBatch {
        let schema = Schema::new(vec![Field::new("k", column.data_type().clone(), true)]);
        RecordBatch::try_new(Arc::new(schema), vec![column]).unwrap()
    }

    fn kept(selection: Selection, rows: usize) -> Vec<usize> {
        let mask = selection.into_mask(rows);
        (0..rows).filter(|&row| mask.value(row)).collect()
    }

    #[test]
    fn keeps_the_rows_whose_key_a_build_row_has_whatever_the_selection_so_far() {
        let filter = filter_of(Arc::new(Int64Array::from(vec![Some(-2), None, Some(7)])));
        let probe = batch(Arc::new(Int64Array::from(vec![
            Some(7),
            None,
            Some(-2),
            Some(3),
            Some(7),
            Some(i64::MIN),
        ])));
        let all = filter.refine(&probe, Selection::All);
        assert_eq!(kept(all, 6), vec![0, 2, 4]);
        // A mask keeping most rows is and-ed; one keeping few is tested row by row.
        let most = BooleanArray::from(vec![true, true, true, false, true, true]);
        assert_eq!(
            kept(filter.refine(&probe, Selection::Mask(most)), 6),
            vec![0, 2, 4]
        );
        let few = BooleanArray::from(vec![false, false, false, false, true, false]);
        assert_eq!(
            kept(filter.refine(&probe, Selection::Mask(few)), 6),
            vec![4]
        );
        let rows = Selection::Rows(UInt32Array::from(vec![1, 2, 3]));
        assert_eq!(kept(filter.refine(&probe, rows), 6), vec![2]);
    }

    #[test]
    fn keys_too_far_apart_for_a_bitmap_are_tested_by_their_range() {
        let filter = filter_of(Arc::new(Int64Array::from(vec![-(1 << 50), 1 << 50])));
        let probe = batch(Arc::new(Int64Array::from(vec![0, 1 << 51, -(1 << 51)])));
        assert_eq!(kept(filter.refine(&probe, Selection::All), 3), vec![0]);
    }

    #[test]
    fn a_build_side_without_keys_keeps_nothing_and_an_unpublished_filter_everything() {
        let filter = filter_of(Arc::new(Int32Array::from(vec![None, None])));
        let probe = batch(Arc::new(Int32Array::from(vec![0, 1])));
        assert!(filter.refine(&probe, Selection::All).is_none());

        let waiting = RuntimeFilter {
            column: 0,
            slot: Arc::new(RuntimeFilterSlot::default()),
        };
        assert!(matches!(
            waiting.refine(&probe, Selection::All),
            Selection::All
        ));
    }

    #[test]
    fn statistics_ranges_holding_no_build_key_are_ruled_out() {
        let build: ArrayRef = Arc::new(Int32Array::from(vec![10, 20, 500]));
        let keys = BuildKeys::of(&[build]).unwrap();
        let bounds = |values: Vec<Option<i32>>| Arc::new(Int32Array::from(values)) as ArrayRef;
        let mins = bounds(vec![Some(0), Some(11), Some(21), Some(501), None, Some(15)]);
        let maxes = bounds(vec![
            Some(9),
            Some(19),
            Some(600),
            Some(900),
            Some(5),
            Some(20),
        ]);
        assert_eq!(
            keys.within_ranges(&mins, &maxes).unwrap(),
            BooleanArray::from(vec![
                Some(false),
                Some(false),
                Some(true),
                Some(false),
                None,
                Some(true)
            ])
        );
        // Far apart keys (no bitmap) rule out by their range alone.
        let far: ArrayRef = Arc::new(Int64Array::from(vec![0, 1 << 50]));
        let keys = BuildKeys::of(&[far]).unwrap();
        let mins: ArrayRef = Arc::new(Int64Array::from(vec![-5, 1]));
        let maxes: ArrayRef = Arc::new(Int64Array::from(vec![-1, 100]));
        assert_eq!(
            keys.within_ranges(&mins, &maxes).unwrap(),
            BooleanArray::from(vec![false, true])
        );
    }

    #[test]
    fn dates_are_keys_and_other_types_are_not() {
        assert!(supports(&DataType::Date32));
        assert!(!supports(&DataType::Utf8));
        assert!(!supports(&DataType::UInt64));
        let filter = filter_of(Arc::new(Date32Array::from(vec![10, 12])));
        let probe = batch(Arc::new(Date32Array::from(vec![10, 11, 12])));
        assert_eq!(kept(filter.refine(&probe, Selection::All), 3), vec![0, 2]);
    }

    #[test]
    fn a_filter_that_keeps_nearly_every_row_stops_testing() {
        let filter = filter_of(Arc::new(Int64Array::from_iter_values(0..1000)));
        let mut values: Vec<i64> = (0..1000).collect();
        values.push(5000);
        let probe = batch(Arc::new(Int64Array::from(values)));
        let rounds = (TRIAL_ROWS as usize).div_ceil(probe.num_rows());
        for _ in 0..rounds {
            assert_eq!(filter.refine(&probe, Selection::All).count(1001), 1000);
        }
        // Given up: the row it would drop now passes, and the join drops it.
        assert!(matches!(
            filter.refine(&probe, Selection::All),
            Selection::All
        ));
        let (tested, passed) = filter.slot.counts();
        assert_eq!(tested, rounds as u64 * 1001);
        assert_eq!(passed, rounds as u64 * 1000);
    }
}
