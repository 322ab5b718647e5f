//! Skewed data for the skew benchmarks: a fact table whose key follows a Zipf law
//! over `keys` keys (key 1 the most frequent, key r with weight 1/r^s), and the
//! dimension table with every key once. Deterministic: the same parameters give
//! the same rows on every machine.
//!
//! `facts(f_key BIGINT, f_row BIGINT, f_amount DOUBLE)` and
//! `dims(d_key BIGINT, d_group BIGINT, d_name VARCHAR)`, where `d_group` is
//! `d_key % 100`.

use std::sync::Arc;

use arrow::array::{Float64Array, Int64Array, StringArray};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use arrow::record_batch::RecordBatch;

/// Rows per generated batch.
const BATCH_ROWS: usize = 65_536;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ZipfSpec {
    /// The exponent: 0 is uniform, 1 classic Zipf, larger is more skewed.
    pub exponent: f64,
    pub keys: u64,
    pub rows: u64,
}

impl ZipfSpec {
    /// # Errors
    /// An exponent that is negative or not finite, or no keys.
    pub fn validate(&self) -> Result<(), String> {
        if !(self.exponent.is_finite() && self.exponent >= 0.0) {
            return Err(format!(
                "the Zipf exponent must be a finite number >= 0, got {}",
                self.exponent
            ));
        }
        if self.keys == 0 || self.keys > 100_000_000 {
            return Err(format!(
                "--keys must be between 1 and 100000000, got {}",
                self.keys
            ));
        }
        Ok(())
    }

    /// The share of the rows key `rank` (1-based) is expected to hold.
    pub fn share(&self, rank: u64) -> f64 {
        let total: f64 = (1..=self.keys).map(|r| weight(r, self.exponent)).sum();
        weight(rank, self.exponent) / total
    }
}

fn weight(rank: u64, exponent: f64) -> f64 {
    (rank as f64).powf(-exponent)
}

pub fn facts_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("f_key", DataType::Int64, false),
        Field::new("f_row", DataType::Int64, false),
        Field::new("f_amount", DataType::Float64, false),
    ]))
}

pub fn dims_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("d_key", DataType::Int64, false),
        Field::new("d_group", DataType::Int64, false),
        Field::new("d_name", DataType::Utf8, false),
    ]))
}

/// The fact rows, batch by batch.
pub fn facts(spec: ZipfSpec) -> impl Iterator<Item = RecordBatch> {
    // Cumulative weights: a uniform draw finds its key by binary search.
    let mut cumulative = Vec::with_capacity(spec.keys as usize);
    let mut sum = 0.0;
    for rank in 1..=spec.keys {
        sum += weight(rank, spec.exponent);
        cumulative.push(sum);
    }
    let mut random = SplitMix64(0x5eed_2026);
    let mut next_row = 0u64;
    std::iter::from_fn(move || {
        if next_row >= spec.rows {
            return None;
        }
        let rows = (spec.rows - next_row).min(BATCH_ROWS as u64) as usize;
        let mut keys = Vec::with_capacity(rows);
        let mut amounts = Vec::with_capacity(rows);
        for _ in 0..rows {
            let draw = random.unit() * sum;
            let rank = cumulative
                .partition_point(|&c| c < draw)
                .min(cumulative.len() - 1);
            keys.push(rank as i64 + 1);
            amounts.push((random.unit() * 100_000.0).round() / 100.0);
        }
        let row_numbers = (next_row as i64..(next_row + rows as u64) as i64).collect::<Vec<_>>();
        next_row += rows as u64;
        Some(
            RecordBatch::try_new(
                facts_schema(),
                vec![
                    Arc::new(Int64Array::from(keys)),
                    Arc::new(Int64Array::from(row_numbers)),
                    Arc::new(Float64Array::from(amounts)),
                ],
            )
            .expect("columns match the schema"),
        )
    })
}

/// Every key once, batch by batch.
pub fn dims(spec: ZipfSpec) -> impl Iterator<Item = RecordBatch> {
    let mut next_key = 1u64;
    std::iter::from_fn(move || {
        if next_key > spec.keys {
            return None;
        }
        let last = (next_key + BATCH_ROWS as u64 - 1).min(spec.keys);
        let keys: Vec<i64> = (next_key as i64..=last as i64).collect();
        next_key = last + 1;
        let groups: Vec<i64> = keys.iter().map(|k| k % 100).collect();
        let names: StringArray = keys.iter().map(|k| Some(format!("key-{k}"))).collect();
        Some(
            RecordBatch::try_new(
                dims_schema(),
                vec![
                    Arc::new(Int64Array::from(keys)),
                    Arc::new(Int64Array::from(groups)),
                    Arc::new(names),
                ],
            )
            .expect("columns match the schema"),
        )
    })
}

/// A small, fast, seedable generator (Steele et al.), good enough for test data.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key_counts(spec: ZipfSpec) -> Vec<u64> {
        let mut counts = vec![0u64; spec.keys as usize + 1];
        for batch in facts(spec) {
            let keys = batch
                .column(0)
                .as_any()
                .downcast_ref::<Int64Array>()
                .unwrap();
            for key in keys.values() {
                counts[*key as usize] += 1;
            }
        }
        counts
    }

    #[test]
    fn keys_follow_the_law_and_every_row_is_there() {
        let spec = ZipfSpec {
            exponent: 1.0,
            keys: 1_000,
            rows: 200_000,
        };
        let counts = key_counts(spec);
        assert_eq!(counts.iter().sum::<u64>(), spec.rows);
        assert_eq!(counts[0], 0, "keys start at 1");
        for rank in [1u64, 2, 10] {
            let expected = spec.share(rank) * spec.rows as f64;
            let seen = counts[rank as usize] as f64;
            assert!(
                (seen - expected).abs() < 5.0 * expected.sqrt() + 1.0,
                "key {rank}: {seen} rows, expected about {expected:.0}"
            );
        }
        // Exponent 0 is uniform: no key far above the mean.
        let uniform = key_counts(ZipfSpec {
            exponent: 0.0,
            ..spec
        });
        assert!(uniform.iter().max().copied().unwrap() < 320, "{uniform:?}");
        assert_eq!(key_counts(spec), counts, "deterministic");
    }

    #[test]
    fn dims_hold_every_key_once_and_bad_specs_are_named() {
        let spec = ZipfSpec {
            exponent: 1.5,
            keys: 70_000,
            rows: 0,
        };
        let keys: Vec<i64> = dims(spec)
            .flat_map(|batch| {
                let keys = batch
                    .column(0)
                    .as_any()
                    .downcast_ref::<Int64Array>()
                    .unwrap()
                    .clone();
                keys.values().to_vec()
            })
            .collect();
        assert_eq!(keys, (1..=70_000).collect::<Vec<i64>>());
        assert_eq!(facts(spec).count(), 0);
        let bad = ZipfSpec {
            exponent: -1.0,
            ..spec
        };
        assert!(bad.validate().unwrap_err().contains("exponent"));
        let none = ZipfSpec { keys: 0, ..spec };
        assert!(none.validate().unwrap_err().contains("--keys"));
    }
}
