//! Goal: numeric literals mean what they say. `0.1` is the exact decimal 0.1, so a
//! DECIMAL column compares with it exactly; exponent notation is a double.

use arrow::util::display::array_value_to_string;
use percore_engine::session::{Cluster, ClusterConfig};

fn cluster() -> Cluster {
    Cluster::start_tpch(0.01, ClusterConfig::new(2)).expect("cluster starts")
}

fn values(cluster: &Cluster, sql: &str) -> Vec<String> {
    let batches = cluster.sql(sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
    let batch = &batches[0];
    (0..batch.num_columns())
        .map(|column| array_value_to_string(batch.column(column), 0).unwrap())
        .collect()
}

#[test]
fn decimal_literals_are_exact() {
    let cluster = cluster();
    assert_eq!(
        values(
            &cluster,
            "select 0.1 + 0.2 = 0.3, 1.1 * 3 = 3.3, 0.3 - 0.1 = 0.2"
        ),
        ["true", "true", "true"]
    );
    assert_eq!(
        values(
            &cluster,
            "select arrow_typeof(0.1), arrow_typeof(157562.13), arrow_typeof(7)"
        ),
        ["Decimal128(1, 1)", "Decimal128(8, 2)", "Int64"]
    );
    // A float stays a float: PostgreSQL compares numeric with float8 as float8.
    assert_eq!(
        values(&cluster, "select 0.1::double + 0.2::double = 0.3::double"),
        ["false"]
    );
}

#[test]
fn exponent_literals_are_doubles() {
    let cluster = cluster();
    assert_eq!(
        values(
            &cluster,
            "select 1.5e3 + 1, 1e300 > 1e299, arrow_typeof(1e3), 2E-2 * 100"
        ),
        ["1501.0", "true", "Float64", "2.0"]
    );
    // Decimals of negative scale used to reach DataFusion's casts, which panicked.
    assert_eq!(
        values(
            &cluster,
            "select max(o_totalprice * 1e3) > 0, sum(o_totalprice + 1e2) > 0 from orders"
        ),
        ["true", "true"]
    );
}

/// Every comparison with a price taken from the data splits the rows exactly.
#[test]
fn a_decimal_column_compares_exactly_with_literals_from_its_data() {
    let cluster = cluster();
    let total: u64 = values(&cluster, "select count(*) from orders")[0]
        .parse()
        .unwrap();
    let mut prices = values(
        &cluster,
        "select min(o_totalprice), max(o_totalprice) from orders",
    );
    prices.extend(values(
        &cluster,
        "select o_totalprice from orders order by o_orderkey limit 1 offset 100",
    ));
    for price in prices {
        let count = |op: &str| -> u64 {
            let sql = format!("select count(*) from orders where o_totalprice {op} {price}");
            values(&cluster, &sql)[0].parse().unwrap()
        };
        let (below, equal, above) = (count("<"), count("="), count(">"));
        assert!(equal >= 1, "{price}: no row equals it");
        assert_eq!(below + equal + above, total, "{price}");
        assert_eq!(count("<="), below + equal, "{price}");
        assert_eq!(count("<>"), below + above, "{price}");
    }
}

/// Integer arithmetic past the type's range fails with 22003, as in PostgreSQL,
/// instead of wrapping around to a wrong value.
#[test]
fn integer_overflow_fails_instead_of_wrapping() {
    let cluster = cluster();
    for sql in [
        "select x + 1 from (values (9223372036854775807)) t(x)",
        "select x - 2 from (values (-9223372036854775807)) t(x)",
        "select x * x from (values (3037000500)) t(x)",
        "select max(l_orderkey * 4611686018427387904) from lineitem",
        "select max(cast(l_orderkey as int) * cast(2000000000 as int)) from lineitem",
        // A sum past the largest bigint (DataFusion's wrapped to a negative number).
        "select sum(x) from (values (9223372036854775807), (1)) t(x)",
        "select l_returnflag, sum(l_orderkey * 100000000000000) from lineitem group by 1",
    ] {
        let error = cluster.sql(sql).unwrap_err();
        assert_eq!(
            error.code,
            percore_engine::error::ErrorCode::NumericOutOfRange,
            "{sql}: {error}"
        );
    }
    assert_eq!(
        values(
            &cluster,
            "select x + 1, x * 1, -x - 1 from (values (9223372036854775806)) t(x)"
        ),
        [
            "9223372036854775807",
            "9223372036854775806",
            "-9223372036854775807"
        ]
    );
    assert_eq!(
        values(
            &cluster,
            "select sum(x), arrow_typeof(sum(x)) from \
             (values (9223372036854775806), (2), (-1)) t(x)"
        ),
        ["9223372036854775807", "Int64"]
    );
}

/// `^` is exponentiation (left-associative), as in PostgreSQL, not XOR.
#[test]
fn caret_is_exponentiation() {
    assert_eq!(
        values(&cluster(), "select 2 ^ 10, 2 ^ 3 ^ 2, 4 ^ 0.5, 2 ^ -1"),
        ["1024.0", "64.0", "2.0", "0.5"]
    );
}

/// Decimals and floats cast to integers round (half away from zero), as PostgreSQL
/// does for numeric, rather than truncate.
#[test]
fn casts_to_integers_round() {
    let cluster = cluster();
    assert_eq!(
        values(
            &cluster,
            "select cast(3.99 as integer) a, cast(-3.99 as integer) b, cast(2.5 as int) c, \
             cast(-2.5 as bigint) d, cast(9.5 as smallint) e, 3.7::int f, \
             cast(3.7::double as int) g, cast(-0.4 as int) h, try_cast(1.5 as int) i"
        ),
        ["4", "-4", "3", "-3", "10", "4", "4", "0", "2"]
    );
    // The rounding happens per row on columns too: at SF 0.01 the rounded prices sum
    // to this (DuckDB, which also rounds, gives the same).
    assert_eq!(
        values(
            &cluster,
            "select sum(cast(l_extendedprice as bigint)) from lineitem"
        ),
        ["2152190704"]
    );
}

/// PostgreSQL's names for functions DataFusion spells otherwise.
#[test]
fn postgresql_function_names() {
    assert_eq!(
        values(
            &cluster(),
            "select sign(-2.5) s, sign(0) z, variance(x) v from (values (1.0), (2.0), (3.0)) t(x)"
        ),
        ["-1.0", "0.0", "1.0"]
    );
}
