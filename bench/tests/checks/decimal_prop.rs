//! Goal: comparisons and arithmetic of a DECIMAL column with literals agree with exact
//! arithmetic. Literals are taken from the data and nudged by a unit of the column's
//! scale or a finer one, written with extra trailing zeros or as integers, on either
//! side of the operator: the boundaries where a binary float would go wrong.

use std::sync::Arc;

use arrow::array::{Decimal128Array, RecordBatch};
use arrow::datatypes::{DataType, Field, Schema};
use percore_engine::catalog::{Catalog, Table};
use percore_engine::session::{Cluster, ClusterConfig};
use proptest::prelude::*;

const PARTITIONS: usize = 2;
/// The column is DECIMAL(15, 2): values in cents.
const SCALE: u32 = 2;

thread_local! {
    static CLUSTER: Cluster = Cluster::start(
        Arc::new(Catalog::new(PARTITIONS)),
        ClusterConfig::new(PARTITIONS).with_batch_rows(3),
    )
    .expect("cluster starts");
}

fn table(cents: &[Option<i64>]) -> Table {
    let schema = Arc::new(Schema::new(vec![Field::new(
        "p",
        DataType::Decimal128(15, SCALE as i8),
        true,
    )]));
    let partitions = (0..PARTITIONS)
        .map(|partition| {
            let column: Decimal128Array = cents
                .iter()
                .skip(partition)
                .step_by(PARTITIONS)
                .map(|c| c.map(i128::from))
                .collect();
            let column = column.with_precision_and_scale(15, SCALE as i8).unwrap();
            vec![RecordBatch::try_new(Arc::clone(&schema), vec![Arc::new(column)]).unwrap()]
        })
        .collect();
    Table::unkeyed("d", schema, partitions)
}

/// An exact decimal: `units / 10^scale`.
#[derive(Debug, Clone, Copy)]
struct Exact {
    units: i128,
    scale: u32,
}

impl Exact {
    fn at_scale(self, scale: u32) -> i128 {
        self.units * 10i128.pow(scale - self.scale)
    }

    /// SQL text, with `padding` extra trailing zeros after the point.
    fn literal(self, padding: u32) -> String {
        let scale = self.scale + padding;
        let units = self.at_scale(scale);
        let digits = units.unsigned_abs().to_string();
        let sign = if units < 0 { "-" } else { "" };
        if scale == 0 {
            return format!("{sign}{digits}");
        }
        let digits = format!("{digits:0>width$}", width = scale as usize + 1);
        let (whole, fraction) = digits.split_at(digits.len() - scale as usize);
        format!("{sign}{whole}.{fraction}")
    }
}

fn compare(left: i128, op: &str, right: i128) -> bool {
    match op {
        "<" => left < right,
        "<=" => left <= right,
        "=" => left == right,
        "<>" => left != right,
        ">" => left > right,
        ">=" => left >= right,
        _ => unreachable!("operators come from OPERATORS"),
    }
}

const OPERATORS: [&str; 6] = ["<", "<=", "=", "<>", ">", ">="];

fn count(sql: &str) -> Result<i64, TestCaseError> {
    CLUSTER.with(|cluster| {
        let batches = cluster
            .sql(sql)
            .map_err(|e| TestCaseError::fail(format!("{sql}: {e}")))?;
        let text = arrow::util::display::array_value_to_string(batches[0].column(0), 0)
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        text.parse()
            .map_err(|e| TestCaseError::fail(format!("{sql}: {text}: {e}")))
    })
}

fn register(cents: &[Option<i64>]) {
    CLUSTER.with(|cluster| cluster.register_table(table(cents)).unwrap());
}

/// Cents near a few centres, so that picked literals often equal other rows too.
fn data() -> impl Strategy<Value = Vec<Option<i64>>> {
    prop::collection::vec(
        prop::option::weighted(
            0.9,
            prop_oneof![
                -3i64..3,
                15_756_210i64..15_756_216,
                -99_999_999_999_999i64..99_999_999_999_999
            ],
        ),
        1..40,
    )
}

/// A literal near a data value: the value itself, a cent or a finer step away, or
/// its integer part.
fn literal_near(cents: i64) -> impl Strategy<Value = (Exact, u32)> {
    let value = Exact {
        units: i128::from(cents),
        scale: SCALE,
    };
    prop_oneof![
        Just(value),
        (-1i128..=1, 1u32..=6).prop_map(move |(step, scale)| Exact {
            units: value.at_scale(SCALE + scale) + step,
            scale: SCALE + scale,
        }),
        Just(Exact {
            units: i128::from(cents.div_euclid(100)),
            scale: 0
        }),
    ]
    .prop_flat_map(|exact| (Just(exact), 0u32..3))
}

fn case() -> impl Strategy<Value = (Vec<Option<i64>>, Exact, u32, &'static str, bool)> {
    data().prop_flat_map(|rows| {
        let present: Vec<i64> = rows.iter().flatten().copied().collect();
        let pick = if present.is_empty() { vec![0] } else { present };
        (
            Just(rows),
            prop::sample::select(pick).prop_flat_map(literal_near),
            prop::sample::select(OPERATORS.to_vec()),
            any::<bool>(),
        )
            .prop_map(|(rows, (exact, padding), op, swapped)| (rows, exact, padding, op, swapped))
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn comparisons_with_literals_are_exact((rows, literal, padding, op, swapped) in case()) {
        register(&rows);
        let text = literal.literal(padding);
        let scale = literal.scale.max(SCALE);
        let expected = rows
            .iter()
            .flatten()
            .filter(|&&cents| {
                let column = i128::from(cents) * 10i128.pow(scale - SCALE);
                let literal = literal.at_scale(scale);
                if swapped {
                    compare(literal, op, column)
                } else {
                    compare(column, op, literal)
                }
            })
            .count() as i64;
        let condition = if swapped { format!("{text} {op} p") } else { format!("p {op} {text}") };
        let sql = format!("select count(*) from d where {condition}");
        prop_assert_eq!(count(&sql)?, expected, "{}", sql);
    }

    #[test]
    fn sums_and_products_with_literals_compare_exactly(
        (rows, literal, padding, op, _swapped) in case(),
        addend in -1000i64..1000,
        factor in -3i64..4,
    ) {
        register(&rows);
        // p * factor + addend / 1000 compared with the literal, in thousandths or finer.
        let addend = Exact { units: i128::from(addend), scale: 3 };
        let scale = literal.scale.max(3);
        let expected = rows
            .iter()
            .flatten()
            .filter(|&&cents| {
                let left = i128::from(cents) * i128::from(factor) * 10i128.pow(scale - SCALE)
                    + addend.at_scale(scale);
                compare(left, op, literal.at_scale(scale))
            })
            .count() as i64;
        let sql = format!(
            "select count(*) from d where p * {factor} + {} {op} {}",
            addend.literal(0),
            literal.literal(padding)
        );
        prop_assert_eq!(count(&sql)?, expected, "{}", sql);
    }
}
