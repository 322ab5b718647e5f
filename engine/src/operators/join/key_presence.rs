//! A bitmap of the build side's keys (of their first 64-bit word, for keys packed
//! into two) where they lie in a narrow range: a probe row whose bit is clear needs
//! no hash-table lookup. TPC-H Q17 probes 6M lineitem rows against 204 parts, and
//! a lookup that misses costs several unpredictable branches; the bit test is one
//! load and a branch that goes the same way almost every time. Dimension tables
//! keyed by dense surrogate keys (TPC-DS's dates, items, stores) get one too, and
//! Q9's `(l_partkey, l_suppkey)` probes test the part first.

/// The most a bitmap may take for a build side of `rows` rows: a fixed allowance
/// (a few hundred keys spread over a table's whole key range still get one) and a
/// little per row, within what stays in a core's L2 cache.
pub(super) fn most_bytes(rows: usize) -> usize {
    const FIXED: usize = 64 << 10;
    const PER_ROW: usize = 16;
    const CACHE: usize = 1 << 20;
    (FIXED + rows.saturating_mul(PER_ROW)).min(CACHE)
}

/// Which words in `min..=min + 64 * bits.len()` are some build row's key.
#[derive(Debug)]
pub(crate) struct KeyPresence {
    min: u64,
    bits: Vec<u64>,
}

impl KeyPresence {
    /// `None` when the keys span more than `most_bytes` allow, or there are none.
    pub fn of(keys: impl Iterator<Item = u64> + Clone, rows: usize) -> Option<KeyPresence> {
        let (min, max) = keys
            .clone()
            .fold(None, |range: Option<(u64, u64)>, key| match range {
                None => Some((key, key)),
                Some((min, max)) => Some((min.min(key), max.max(key))),
            })?;
        let mut presence = KeyPresence::spanning(min, max, rows)?;
        keys.for_each(|key| presence.insert(key));
        Some(presence)
    }

    /// An empty bitmap for keys in `min..=max`; `None` when `most_bytes(rows)` does
    /// not allow one.
    pub fn spanning(min: u64, max: u64, rows: usize) -> Option<KeyPresence> {
        let words = (max - min) / 64 + 1;
        if words.saturating_mul(8) > most_bytes(rows) as u64 {
            return None;
        }
        Some(KeyPresence {
            min,
            bits: vec![0u64; words as usize],
        })
    }

    /// Adds `key`, which lies in the range the bitmap spans.
    pub fn insert(&mut self, key: u64) {
        let offset = key - self.min;
        self.bits[(offset / 64) as usize] |= 1 << (offset % 64);
    }

    /// Whether `key` is some build row's key (its first word, for two-word keys).
    #[inline]
    pub fn contains(&self, key: u64) -> bool {
        let offset = key.wrapping_sub(self.min);
        let word = (offset / 64) as usize;
        word < self.bits.len() && self.bits[word] & (1 << (offset % 64)) != 0
    }

    /// Whether some key in `low..=high` is a build row's key. Stops at the first
    /// word holding one, so it costs the width of the range only when it is empty
    /// (and then lets a whole row group or page go unread).
    pub fn any_within(&self, low: u64, high: u64) -> bool {
        let last = (self.bits.len() * 64 - 1) as u64;
        let (Some(low), Some(high)) = (
            low.checked_sub(self.min).map(|o| o.min(last + 1)),
            high.checked_sub(self.min).map(|o| o.min(last)),
        ) else {
            // `high` below the smallest key: none. `low` below it: the range starts
            // at the bitmap's first word.
            return high >= self.min && self.any_within(self.min, high);
        };
        if low > high {
            return false;
        }
        let (first, final_word) = ((low / 64) as usize, (high / 64) as usize);
        (first..=final_word).any(|word| {
            let mut bits = self.bits[word];
            if word == first {
                bits &= u64::MAX << (low % 64);
            }
            if word == final_word {
                bits &= u64::MAX >> (63 - high % 64);
            }
            bits != 0
        })
    }

    pub fn memory_bytes(&self) -> usize {
        self.bits.capacity() * 8
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holds_exactly_the_keys_it_was_built_from() {
        let keys = [5u64, 69, 1000, 7, 64 * 40 + 5];
        let presence = KeyPresence::of(keys.iter().copied(), keys.len()).unwrap();
        for key in 0..4000 {
            assert_eq!(presence.contains(key), keys.contains(&key), "{key}");
        }
        // Below the smallest key wraps to a huge offset, outside the bitmap.
        assert!(!presence.contains(u64::MAX));
        assert!(!presence.contains(4));
    }

    #[test]
    fn a_range_holds_a_key_exactly_when_one_lies_within_it() {
        let keys = [100u64, 230, 231, 1000];
        let presence = KeyPresence::of(keys.iter().copied(), keys.len()).unwrap();
        let naive = |low: u64, high: u64| keys.iter().any(|k| (low..=high).contains(k));
        let bounds = [
            0, 50, 99, 100, 101, 163, 164, 229, 230, 232, 500, 999, 1000, 1001, 5000,
        ];
        for &low in &bounds {
            for &high in &bounds {
                assert_eq!(
                    presence.any_within(low, high),
                    naive(low, high),
                    "{low}..={high}"
                );
            }
        }
        assert!(presence.any_within(0, u64::MAX));
        assert!(!presence.any_within(1001, u64::MAX));
    }

    #[test]
    fn keys_too_far_apart_get_none() {
        let spread = [0u64, 1 << 40];
        assert!(KeyPresence::of(spread.iter().copied(), 2).is_none());
        assert!(KeyPresence::of(std::iter::empty(), 0).is_none());
        // Signed keys below zero are words near u64::MAX: a narrow range still.
        let around_zero = [(-3i64) as u64, (-1i64) as u64];
        let presence = KeyPresence::of(around_zero.iter().copied(), 2).unwrap();
        assert!(presence.contains((-3i64) as u64));
        assert!(!presence.contains((-2i64) as u64));
        assert!(!presence.contains(0));
    }
}
