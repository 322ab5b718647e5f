//! Statistics measured from a table's rows as they are loaded: per column its nulls,
//! the range of a numeric or date column, and a HyperLogLog sketch of its distinct
//! values. Sketches of partitions (and of nodes) merge by taking each register's
//! maximum, so the whole table's distinct counts come from one pass over each
//! partition, wherever it lies. The planner orders joins by them.

use arrow::array::{Array, ArrayRef, AsArray, Float64Array};
use arrow::datatypes::{DataType, Float64Type, Schema};
use arrow::error::ArrowError;
use arrow::record_batch::RecordBatch;
use datafusion_common::hash_utils::{create_hashes, HLL_RANDOM_STATE};
use serde::{Deserialize, Serialize};

use super::TableStatistics;

/// Registers are indexed by this many bits of the hash: 4096 registers, a standard
/// error of about 1.6%.
const INDEX_BITS: u32 = 12;
const REGISTERS: usize = 1 << INDEX_BITS;

/// What a load measured of one column.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ColumnProfile {
    pub name: String,
    pub nulls: u64,
    /// Smallest and largest value of a numeric or date column (dates in days).
    pub min: Option<f64>,
    pub max: Option<f64>,
    /// HyperLogLog registers: the most leading zeros (plus one) seen per bucket. In
    /// hex on the wire (2 bytes each; a JSON array of numbers takes up to 4).
    #[serde(with = "hex_bytes")]
    registers: Vec<u8>,
}

/// What a load measured of a table (or of the partitions one node holds).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TableProfile {
    pub rows: u64,
    pub columns: Vec<ColumnProfile>,
}

impl TableProfile {
    pub fn new(schema: &Schema) -> Self {
        TableProfile {
            rows: 0,
            columns: schema
                .fields()
                .iter()
                .map(|field| ColumnProfile {
                    name: field.name().clone(),
                    nulls: 0,
                    min: None,
                    max: None,
                    registers: vec![0; REGISTERS],
                })
                .collect(),
        }
    }

    /// Counts `batch`'s rows into the profile.
    ///
    /// # Errors
    /// A column that cannot be hashed.
    pub fn add(&mut self, batch: &RecordBatch) -> Result<(), ArrowError> {
        self.rows += batch.num_rows() as u64;
        let mut hashes = vec![0u64; batch.num_rows()];
        for (column, array) in self.columns.iter_mut().zip(batch.columns()) {
            column.nulls += array.null_count() as u64;
            if let Some(numbers) = as_numbers(array) {
                let (low, high) = numbers
                    .iter()
                    .flatten()
                    .fold((f64::INFINITY, f64::NEG_INFINITY), |(low, high), value| {
                        (low.min(value), high.max(value))
                    });
                if low <= high {
                    column.min = Some(column.min.map_or(low, |min| min.min(low)));
                    column.max = Some(column.max.map_or(high, |max| max.max(high)));
                }
            }
            hashes.iter_mut().for_each(|hash| *hash = 0);
            create_hashes([array], &HLL_RANDOM_STATE, &mut hashes)
                .map_err(|e| ArrowError::ComputeError(e.to_string()))?;
            let valid = array.nulls();
            for (row, &hash) in hashes.iter().enumerate() {
                if valid.is_some_and(|nulls| nulls.is_null(row)) {
                    continue;
                }
                let bucket = (hash >> (64 - INDEX_BITS)) as usize;
                let rank = ((hash << INDEX_BITS) | (1 << (INDEX_BITS - 1))).leading_zeros() + 1;
                let register = &mut column.registers[bucket];
                *register = (*register).max(rank as u8);
            }
        }
        Ok(())
    }

    /// Adds another part of the same table (another partition, another node).
    pub fn merge(&mut self, other: &TableProfile) {
        if self.columns.is_empty() {
            *self = other.clone();
            return;
        }
        self.rows += other.rows;
        for (column, theirs) in self.columns.iter_mut().zip(&other.columns) {
            column.nulls += theirs.nulls;
            column.min = min_of(column.min, theirs.min, f64::min);
            column.max = min_of(column.max, theirs.max, f64::max);
            for (mine, their) in column.registers.iter_mut().zip(&theirs.registers) {
                *mine = (*mine).max(*their);
            }
        }
    }

    /// The planner's statistics: each column's distinct count (at most its non-null
    /// rows) and range.
    pub fn statistics(&self) -> TableStatistics {
        let mut statistics = TableStatistics::default();
        for column in &self.columns {
            let values = self.rows.saturating_sub(column.nulls) as f64;
            let distinct = column.distinct().min(values).max(1.0);
            statistics = statistics.with_distinct(&[column.name.as_str()], distinct);
            if let (Some(min), Some(max)) = (column.min, column.max) {
                statistics = statistics.with_range(&column.name, min, max);
            }
        }
        statistics
    }
}

impl ColumnProfile {
    /// The HyperLogLog estimate, with the small-range correction (linear counting
    /// while registers are still empty).
    pub fn distinct(&self) -> f64 {
        let m = REGISTERS as f64;
        let alpha = 0.7213 / (1.0 + 1.079 / m);
        let sum: f64 = self
            .registers
            .iter()
            .map(|&r| 2f64.powi(-i32::from(r)))
            .sum();
        let estimate = alpha * m * m / sum;
        let empty = self.registers.iter().filter(|&&r| r == 0).count();
        if estimate <= 2.5 * m && empty > 0 {
            m * (m / empty as f64).ln()
        } else {
            estimate
        }
    }
}

fn min_of(a: Option<f64>, b: Option<f64>, pick: fn(f64, f64) -> f64) -> Option<f64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(pick(a, b)),
        (a, None) => a,
        (None, b) => b,
    }
}

/// A numeric, decimal or date column as `f64` (dates in days since 1970-01-01);
/// `None` for other types.
pub(crate) fn as_numbers(array: &ArrayRef) -> Option<Float64Array> {
    let array = match array.data_type() {
        DataType::Date32 => arrow::compute::cast(array, &DataType::Int32).ok()?,
        DataType::Date64 => {
            let millis = arrow::compute::cast(array, &DataType::Int64).ok()?;
            arrow::compute::kernels::numeric::div(
                &millis,
                &arrow::array::Int64Array::new_scalar(86_400_000),
            )
            .ok()?
        }
        data_type if data_type.is_numeric() => array.clone(),
        _ => return None,
    };
    let numbers = arrow::compute::cast(&array, &DataType::Float64).ok()?;
    Some(numbers.as_primitive::<Float64Type>().clone())
}

mod hex_bytes {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(bytes: &[u8], serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&crate::hex::encode(bytes))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<u8>, D::Error> {
        let text = String::deserialize(deserializer)?;
        if text.len() != 2 * super::REGISTERS {
            return Err(serde::de::Error::custom("a sketch of the wrong size"));
        }
        crate::hex::decode(&text)
            .ok_or_else(|| serde::de::Error::custom("a sketch that is not hex"))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{Int64Array, StringArray};
    use arrow::datatypes::Field;

    use super::*;

    fn batch(keys: impl Iterator<Item = i64>, names: impl Fn(i64) -> String) -> RecordBatch {
        let keys: Vec<i64> = keys.collect();
        let schema = Arc::new(Schema::new(vec![
            Field::new("k", DataType::Int64, true),
            Field::new("s", DataType::Utf8, true),
        ]));
        let strings: StringArray = keys.iter().map(|&k| Some(names(k))).collect();
        RecordBatch::try_new(
            schema,
            vec![Arc::new(Int64Array::from(keys)), Arc::new(strings)],
        )
        .unwrap()
    }

    #[test]
    fn distinct_counts_are_within_a_few_percent_and_merge_across_parts() {
        let first = batch(0..60_000, |k| format!("name {}", k % 1000));
        let second = batch(40_000..100_000, |k| format!("name {}", k % 1000));
        let mut a = TableProfile::new(&first.schema());
        a.add(&first).unwrap();
        let mut b = TableProfile::new(&second.schema());
        b.add(&second).unwrap();
        a.merge(&b);
        assert_eq!(a.rows, 120_000);
        let keys = a.columns[0].distinct();
        assert!((keys - 100_000.0).abs() < 5_000.0, "{keys}");
        let names = a.columns[1].distinct();
        assert!((names - 1000.0).abs() < 50.0, "{names}");
        let statistics = a.statistics();
        assert_eq!(statistics.range("k"), Some((0.0, 99_999.0)));
        assert_eq!(statistics.range("s"), None);
        // Few values: linear counting is close to exact.
        let small = batch(0..10, |k| k.to_string());
        let mut profile = TableProfile::new(&small.schema());
        profile.add(&small).unwrap();
        profile.add(&small).unwrap();
        assert_eq!(
            profile.statistics().distinct(&["k"]).map(f64::round),
            Some(10.0)
        );
        let wire = serde_json::to_string(&profile).unwrap();
        assert_eq!(
            serde_json::from_str::<TableProfile>(&wire).unwrap(),
            profile
        );
        let damaged = wire.replacen("00", "zz", 1);
        assert!(serde_json::from_str::<TableProfile>(&damaged).is_err());
    }
}
