//! `pg_size_pretty(bigint)`: a byte count as PostgreSQL shows it, in the largest
//! unit that keeps at least ten of it (`10 kB` from 10240 bytes), rounding half
//! away from zero: `9999 bytes`, `10 kB`, `1536 MB`, `20 GB`.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, StringArray};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Int64Type};
use datafusion_common::{exec_err, Result};
use datafusion_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};

use super::call_values::Arguments;

const NAME: &str = "pg_size_pretty";

pub fn function() -> Arc<ScalarUDF> {
    Arc::new(ScalarUDF::from(SizePretty {
        signature: Signature::uniform(1, vec![DataType::Int64], Volatility::Immutable),
    }))
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct SizePretty {
    signature: Signature,
}

impl ScalarUDFImpl for SizePretty {
    fn name(&self) -> &str {
        NAME
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _args: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let arguments = Arguments::of(&args.args)?;
        let [values] = arguments.arrays.as_slice() else {
            return exec_err!("{NAME} takes one value");
        };
        let sizes = cast(values, &DataType::Int64)?;
        let sizes = sizes.as_primitive::<Int64Type>();
        let pretty: StringArray = (0..sizes.len())
            .map(|row| sizes.is_valid(row).then(|| pretty(sizes.value(row))))
            .collect();
        let pretty: ArrayRef = Arc::new(pretty);
        arguments.answer(pretty)
    }
}

/// PostgreSQL 15's `pg_size_pretty`: each unit holds up to twice ten of it less one
/// (bytes: under 10 kB), and the value is shifted to the next unit keeping one more
/// bit, which the final half-rounding drops.
fn pretty(size: i64) -> String {
    // (name, below this many of it, rounded when shown)
    const UNITS: [(&str, i64, bool); 6] = [
        ("bytes", 10 * 1024, false),
        ("kB", 20 * 1024 - 1, true),
        ("MB", 20 * 1024 - 1, true),
        ("GB", 20 * 1024 - 1, true),
        ("TB", 20 * 1024 - 1, true),
        ("PB", 20 * 1024 - 1, true),
    ];
    let half_rounded = |x: i64| (x + if x < 0 { -1 } else { 1 }) / 2;
    let mut size = size;
    for (index, (name, limit, round)) in UNITS.iter().enumerate() {
        if index + 1 == UNITS.len() || size.unsigned_abs() < limit.unsigned_abs() {
            if *round {
                size = half_rounded(size);
            }
            return format!("{size} {name}");
        }
        // From bytes to kB: 10 bits less one kept for rounding; from one rounded
        // unit to the next: 10 bits.
        let bits = if *round { 10 } else { 9 };
        size /= 1 << bits;
    }
    unreachable!("the last unit always answers")
}

#[cfg(test)]
mod tests {
    use super::pretty;

    #[test]
    fn sizes_read_as_in_postgresql() {
        // PostgreSQL 15
        for (size, shown) in [
            (0, "0 bytes"),
            (10239, "10239 bytes"),
            (10240, "10 kB"),
            (20_971_519, "20 MB"),
            (20_971_520, "20 MB"),
            (1_610_612_736, "1536 MB"),
            (-10240, "-10 kB"),
            (123_456_789_012, "115 GB"),
            (i64::MAX, "8192 PB"),
        ] {
            assert_eq!(pretty(size), shown, "{size}");
        }
    }
}
