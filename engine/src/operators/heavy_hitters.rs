//! The hottest keys a hash exchange sends: a space-saving sketch (Metwally et al.)
//! over the key hashes of a task's first batches. Each of the tracked counters
//! holds a count that may overstate its key by at most its error; a key that holds
//! more than 1/TRACKED of the rows is always tracked. A key gets its text (to be
//! named in EXPLAIN ANALYZE) once it certainly holds 0.5% of the rows so far, so
//! uniform keys, which keep replacing each other, are never rendered.

use serde::{Deserialize, Serialize};

/// Counters kept: any key above 1/16 of the sampled rows is among them.
const TRACKED: usize = 16;
/// Batches each task samples; skew shows in the first ones, and the sketch costs
/// nothing after them.
const SAMPLED_BATCHES: usize = 32;

/// A key and how many of the sampled rows certainly held it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct HotKey {
    pub key: String,
    pub rows: u64,
}

#[derive(Default)]
pub struct HeavyHitters {
    hashes: Vec<u64>,
    counts: Vec<u64>,
    errors: Vec<u64>,
    keys: Vec<Option<String>>,
    rows: u64,
    batches: usize,
}

impl HeavyHitters {
    /// Whether the next batch is sampled.
    pub fn wants_batch(&self) -> bool {
        self.batches < SAMPLED_BATCHES
    }

    pub fn batch_done(&mut self) {
        self.batches += 1;
    }

    /// Rows sampled so far.
    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// Counts one row's key hash; the counter's index when it wants its key's text.
    pub fn add(&mut self, hash: u64) -> Option<usize> {
        self.rows += 1;
        let slot = match self.hashes.iter().position(|&h| h == hash) {
            Some(slot) => {
                self.counts[slot] += 1;
                slot
            }
            None if self.hashes.len() < TRACKED => {
                self.hashes.push(hash);
                self.counts.push(1);
                self.errors.push(0);
                self.keys.push(None);
                self.hashes.len() - 1
            }
            None => {
                // Replace the smallest counter: its count becomes the new key's error.
                let (slot, &smallest) = self
                    .counts
                    .iter()
                    .enumerate()
                    .min_by_key(|(_, &count)| count)
                    .expect("TRACKED counters");
                self.hashes[slot] = hash;
                self.counts[slot] = smallest + 1;
                self.errors[slot] = smallest;
                self.keys[slot] = None;
                slot
            }
        };
        let certain = self.counts[slot] - self.errors[slot];
        // Naming costs a formatted string: only for keys that could be reported
        // (reports start at 1% of all producers' rows; half that here).
        (self.keys[slot].is_none() && certain >= 2 && certain * 200 >= self.rows).then_some(slot)
    }

    pub fn name(&mut self, slot: usize, key: String) {
        self.keys[slot] = Some(key);
    }

    /// Hashes of the keys that certainly held at least `share` of the rows sampled,
    /// and at least `min_rows` rows.
    pub fn hashes_over(&self, share: f64, min_rows: u64) -> Vec<u64> {
        let least = ((share * self.rows as f64).ceil() as u64)
            .max(min_rows)
            .max(1);
        (0..self.hashes.len())
            .filter(|&slot| self.counts[slot] - self.errors[slot] >= least)
            .map(|slot| self.hashes[slot])
            .collect()
    }

    /// The named keys by rows they certainly held, most first.
    pub fn hot_keys(&self) -> Vec<HotKey> {
        let mut hot: Vec<HotKey> = (0..self.hashes.len())
            .filter_map(|slot| {
                Some(HotKey {
                    key: self.keys[slot].clone()?,
                    rows: self.counts[slot] - self.errors[slot],
                })
            })
            .collect();
        hot.sort_by(|a, b| b.rows.cmp(&a.rows).then_with(|| a.key.cmp(&b.key)));
        hot
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_with_most_rows_is_found_among_uniform_ones() {
        let mut sketch = HeavyHitters::default();
        for row in 0..10_000u64 {
            // Every other row has key 7; the rest are all different.
            let hash = if row % 2 == 0 { 7 } else { 1_000 + row };
            if let Some(slot) = sketch.add(hash) {
                sketch.name(slot, format!("k{hash}"));
            }
        }
        assert_eq!(sketch.hashes_over(0.25, 1), vec![7]);
        assert_eq!(sketch.hashes_over(0.25, 6_000), Vec::<u64>::new());
        assert_eq!(sketch.hashes_over(0.6, 1), Vec::<u64>::new());
        let hot = sketch.hot_keys();
        assert_eq!(hot[0].key, "k7");
        assert!(hot[0].rows >= 4_900 && hot[0].rows <= 5_000, "{hot:?}");
        assert!(hot.iter().skip(1).all(|key| key.rows < 100), "{hot:?}");
        assert_eq!(sketch.rows(), 10_000);
    }
}
