//! Goal: constants, and what is computed from them, mean what they mean in
//! PostgreSQL. `0.1` is the exact decimal 0.1, so a DECIMAL column compares with it
//! exactly; exponent notation is a double; integer arithmetic fails rather than
//! wraps, also when the optimizer folds it; a date plus an interval keeps the
//! interval's time of day; a float meeting a decimal is compared as a float;
//! output columns may share a name; a scalar subquery answers one row or fails;
//! `generate_series` of constants is a table split over the partitions.

use arrow::util::display::array_value_to_string;
use percore_engine::error::ErrorCode;
use percore_engine::session::Cluster;

use crate::common;

use common::cluster;

fn values(cluster: &Cluster, sql: &str) -> Vec<String> {
    let batches = cluster.sql(sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
    let batch = &batches[0];
    (0..batch.num_columns())
        .map(|column| array_value_to_string(batch.column(column), 0).unwrap())
        .collect()
}

fn fails_with(cluster: &Cluster, sql: &str, code: ErrorCode) {
    let error = cluster.sql(sql).unwrap_err();
    assert_eq!(error.code, code, "{sql}: {error}");
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
        fails_with(&cluster, sql, ErrorCode::NumericOutOfRange);
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
    // Float halves go to even (PostgreSQL's rint); numeric halves away from zero.
    assert_eq!(
        values(
            &cluster,
            "select cast(2.5::float8 as int), cast(3.5::float8 as int), \
             cast(-2.5::float8 as bigint), cast(0.5::float4 as int), cast(2.6::float8 as int), \
             cast(2.5 as int)"
        ),
        ["2", "4", "-2", "0", "3", "3"]
    );
    // Alone in a SELECT list, a constant float cast keeps its column's name (the
    // rounding call renamed it and the optimizer refused the plan).
    assert_eq!(values(&cluster, "select cast(3.5::real as int)"), ["4"]);
    // So does round() of a float, as PostgreSQL's (numeric halves go away from zero).
    assert_eq!(
        values(
            &cluster,
            "select round(2.5::float8), round(-3.5::float8), round(0.5::real), \
             round(1.5::float8), round(2.5), round(-2.5)"
        ),
        ["2.0", "-4.0", "0.0", "2.0", "3", "-3"]
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
        ["-1", "0.0", "1.0"]
    );
    assert_eq!(
        values(
            &cluster(),
            "select mod(10, 3) m, mod(-7, 2) n, ceiling(1.2) = 2 c, every(x > 0) e \
             from (values (1), (2)) t(x)"
        ),
        ["1", "-1", "true", "true"]
    );
    // PostgreSQL's md5 digests as lowercase hex text.
    assert_eq!(
        values(&cluster(), "select md5('abc'), md5('')"),
        [
            "900150983cd24fb0d6963f7d28e17f72",
            "d41d8cd98f00b204e9800998ecf8427e"
        ]
    );
    // Standard SQL's FETCH FIRST, as LIMIT.
    assert_eq!(
        values(
            &cluster(),
            "select max(n) from (select n_nationkey n from nation order by n \
             offset 3 rows fetch first 2 rows only) t"
        ),
        ["4"]
    );
}

/// Constant arithmetic is folded before the query runs; folding must fail where
/// running would (DataFusion's folding wrapped `9223372036854775807 + 1` around).
#[test]
fn folded_constants_and_window_sums_fail_on_overflow() {
    let cluster = cluster();
    for sql in [
        "select 9223372036854775807 + 1",
        "select -9223372036854775807 - 2",
        "select cast(9223372036854775807 as bigint) * 2",
        "select a + 1 from (select 9223372036854775807 as a) t",
        "select n_name from nation where n_nationkey < 4611686018427387904 * 2",
        "select cast(2147483648 as int)",
        "select sum(x) over () from (values (9223372036854775807), (1)) t(x)",
        "select sum(x) over (order by x rows between 1 preceding and current row) \
         from (values (9223372036854775807), (9223372036854775806)) t(x)",
    ] {
        fails_with(&cluster, sql, ErrorCode::NumericOutOfRange);
    }
    assert_eq!(
        values(
            &cluster,
            "select 9223372036854775806 + 1, 3 * 4 - 2, \
             case when n_nationkey < 0 then 9223372036854775807 + 1 else 7 end \
             from nation order by n_nationkey limit 1"
        ),
        ["9223372036854775807", "10", "7"]
    );
    assert_eq!(
        values(
            &cluster,
            "select max(s), arrow_typeof(max(s)) from (select sum(x) over (order by x) s \
             from (values (9223372036854775806), (2), (-1)) t(x)) w"
        ),
        ["9223372036854775807", "Int64"]
    );
}

/// `to_char`, `to_date` and `to_timestamp` read PostgreSQL's templates; `to_char`
/// copied them (`to_char(o_orderdate, 'YYYY-MM')` was the text `YYYY-MM` on every
/// row, so grouping by it made one group).
#[test]
fn dates_format_and_parse_with_postgresql_templates() {
    let cluster = cluster();
    assert_eq!(
        values(
            &cluster,
            "select to_char(timestamp '2020-03-04 17:06:07.25', 'YYYY-MM-DD HH24:MI:SS.MS'), \
             to_char(date '2020-03-04', 'FMDay, FMMonth FMDDth YYYY \"Q\"Q'), \
             to_date('04 Mar 2020', 'DD Mon YYYY'), \
             to_timestamp('2020-03-04 10:11', 'YYYY-MM-DD HH24:MI')"
        ),
        [
            "2020-03-04 17:06:07.250",
            "Wednesday, March 4th 2020 Q1",
            "2020-03-04",
            "2020-03-04T10:11:00"
        ]
    );
    // One group per month: 12 a year over the seven years of orders, less the five
    // months after the last order date (1998-08-02).
    assert_eq!(
        values(
            &cluster,
            "select count(distinct to_char(o_orderdate, 'YYYY-MM')) from orders"
        ),
        ["80"]
    );
    fails_with(
        &cluster,
        "select to_date('21', 'CC')",
        ErrorCode::Unsupported,
    );
}

/// `extract(second ..)` and `extract(milliseconds ..)` keep their fractions, as
/// PostgreSQL's do (DataFusion answered whole numbers: 1 for 1.5 seconds).
#[test]
fn extract_keeps_fractions_of_seconds() {
    let cluster = cluster();
    assert_eq!(
        values(
            &cluster,
            "select extract(second from timestamp '2020-01-01 00:00:01.5'), \
             extract(milliseconds from timestamp '2020-01-01 00:00:01.5'), \
             extract(microseconds from timestamp '2020-01-01 00:00:01.5'), \
             date_part('second', timestamp '2020-01-01 10:11:12')"
        ),
        ["1.500000", "1500.000", "1500000", "12.000000"]
    );
    // Per row, and compared with a number.
    assert_eq!(
        values(
            &cluster,
            "select count(*) from orders where extract(second from o_orderdate::timestamp \
             + interval '1.25 second' * (o_orderkey % 4)) = 3.75"
        ),
        values(
            &cluster,
            "select count(*) from orders where o_orderkey % 4 = 3"
        )
    );
}

/// An interval times or divided by a number scales each field and carries fractions
/// of months into days and of days into hours, as PostgreSQL does.
#[test]
fn intervals_scale_by_numbers() {
    let cluster = cluster();
    assert_eq!(
        values(
            &cluster,
            "select interval '1 day' * 3, 2 * interval '1 month 1 day', \
             interval '1 month' * 1.5, interval '1 day' / 4, -interval '1 day' * 2.5, \
             (interval '1 day' + interval '1 hour') * 2, interval '1 hour' * null"
        ),
        [
            "3 days",
            "2 mons 2 days",
            "1 mons 15 days",
            "6 hours",
            "-2 days -12 hours",
            "2 days 2 hours",
            ""
        ]
    );
    // Per row: each order's date plus its key mod 3 in hours and mod 5 in days.
    assert_eq!(
        values(
            &cluster,
            "select count(*) filter (where extract(hour from o_orderdate \
             + interval '1 hour' * (o_orderkey % 3)) = o_orderkey % 3 and \
             (o_orderdate + (o_orderkey % 5) * interval '1 day')::date - o_orderdate \
             = o_orderkey % 5) = count(*) from orders"
        ),
        ["true"]
    );
    fails_with(
        &cluster,
        "select interval '1 day' / 0",
        ErrorCode::DivisionByZero,
    );
}

/// An interval known only by its type (a column, a difference of timestamps) scales
/// like a literal one; the planner told them apart by syntax and refused the rest.
#[test]
fn interval_columns_scale_by_numbers() {
    let cluster = cluster();
    assert_eq!(
        values(
            &cluster,
            "select cast(x * 2 as text), cast(3 * x as text), cast(x / 2 as text), \
             cast(x * 0.5 as text) from (values (interval '1 month 1 day 3 hours')) t(x)"
        ),
        // PostgreSQL 15
        [
            "2 mons 2 days 06:00:00",
            "3 mons 3 days 09:00:00",
            "15 days 13:30:00",
            "15 days 13:30:00"
        ]
    );
    // Per row, by a number that is a column too.
    assert_eq!(
        values(
            &cluster,
            "select count(*) filter (where extract(day from x * (o_orderkey % 4)) \
             = o_orderkey % 4) = count(*) from orders, (values (interval '1 day')) t(x)"
        ),
        ["true"]
    );
}

/// `avg` of intervals, as PostgreSQL divides their sum (fractions of months carried
/// into days): grouped, filtered, over a window, and of timestamp differences.
#[test]
fn intervals_average() {
    let cluster = cluster();
    assert_eq!(
        values(
            &cluster,
            "select cast(avg(x) as text), cast(avg(x) filter (where n > 1) as text), \
             cast(avg(b - a) as text) from (values (interval '1 month', 1, \
             timestamp '2020-01-01 00:00', timestamp '2020-01-02 12:00'), \
             (interval '1 day 3 hours', 2, timestamp '2020-01-01 00:00', timestamp '2020-01-01 00:00:01'), \
             (null, 3, null, null), (interval '-2 hours', 4, timestamp '2020-01-01', \
             timestamp '2019-12-31')) t(x, n, a, b)"
        ),
        // PostgreSQL 15
        ["10 days 08:20:00", "12:30:00", "04:00:00.333333"]
    );
    assert_eq!(
        common::joined_rows(
            &cluster,
            "select o_orderstatus || ' ' || cast(avg(cast(o_orderdate as timestamp) \
             + interval '1 hour' * (o_orderkey % 7) - cast(o_orderdate as timestamp)) as text) \
             from orders group by o_orderstatus order by 1"
        ),
        // PostgreSQL 15
        [
            "F 02:59:01.840088",
            "O 03:01:06.766671",
            "P 02:57:31.239669"
        ]
    );
    assert_eq!(
        common::joined_rows(
            &cluster,
            "select cast(avg(interval '1 day' * (o_orderkey % 3)) over (order by o_orderkey \
             rows between 1 preceding and current row) as text) from orders \
             order by o_orderkey limit 3"
        ),
        // PostgreSQL 15 (keys 1, 2, 3: one, two and zero days)
        ["1 day", "1 day 12:00:00", "1 day"]
    );
}

/// `-0.0` equals `0.0` in `nullif`, `CASE x WHEN` and `IN`, as in comparisons
/// (Arrow's total order told them apart: `y / nullif(x * 0, 0)` was -Infinity for a
/// negative `x`); and a decimal times zero keeps the product's type, so `nullif`
/// compares zeros of one scale.
#[test]
fn zeros_compare_equal_whatever_their_sign_or_scale() {
    let cluster = cluster();
    assert_eq!(
        values(
            &cluster,
            "select count(*) filter (where nullif((o_orderkey % 2 * 2 - 1) * 0e0, 0) is null), \
             count(*) filter (where case (o_orderkey % 2 * 2 - 1) * 0e0 when 0 then true end), \
             count(*) filter (where (o_orderkey % 2 * 2 - 1) * 0e0 in (0, 1)), \
             count(*) filter (where nullif(o_totalprice * 0 * (o_orderkey % 2 * 2 - 1), 0) is null), \
             min(o_totalprice * 0), nullif(-0e0, 0) is null, -0e0 in (0e0, 1e0) from orders"
        ),
        // PostgreSQL 15
        ["15000", "15000", "15000", "15000", "0.00", "true", "true"]
    );
}

/// A decimal cast to fewer places rounds, so comparing the cast is not comparing the
/// value: DataFusion's simplifier unwrapped `cast(x as bigint) > 3` into `x > 3.00`,
/// counting the orders whose price / 1000 rounds down to 3 as greater than 3.
#[test]
fn comparisons_of_rounding_decimal_casts_compare_the_rounded_value() {
    let cluster = cluster();
    let count = |condition: &str| {
        values(
            &cluster,
            &format!("select count(*) from orders where {condition}"),
        )
    };
    assert_eq!(
        count("cast(o_totalprice / 1000 as bigint) > 3"),
        count("round(o_totalprice / 1000) > 3")
    );
    assert_eq!(
        count("cast(o_totalprice as numeric(12, 0)) = 173666"),
        count("round(o_totalprice) = 173666")
    );
    assert_eq!(
        values(
            &cluster,
            "select cast(-2.50 as bigint) > -3, cast(x as numeric(10, 0)) > -3, \
             cast(x as numeric(10, 1)) = -2.5 from (values (-2.50)) t(x)"
        ),
        // PostgreSQL 15
        ["false", "false", "true"]
    );
}

/// PostgreSQL 15's `numeric(p, s)` with a negative scale rounds to tens, hundreds..;
/// with a scale beyond the precision it holds small fractions. The answers are
/// PostgreSQL 16's.
#[test]
fn numeric_types_with_negative_or_large_scales_round_half_away_from_zero() {
    let cluster = cluster();
    assert_eq!(
        values(
            &cluster,
            "select 15::numeric(3, -1), -15::numeric(3, -1), 14.9::numeric(3, -1), \
             1234.5::numeric(5, -2), 0.5::numeric(2, -1), '25'::numeric(3, -1), \
             14.6::float8::numeric(3, -1), cast(149 as decimal(2, -2)), \
             0.000125::numeric(2, 5), -0.000124::numeric(2, 5)"
        ),
        ["20", "-20", "10", "1200", "0", "30", "10", "100", "0.00013", "-0.00012"]
    );
    assert_eq!(
        values(
            &cluster,
            "select sum(x::numeric(3, -1)), count(*) filter (where x::numeric(3, -1) = 20), \
             max(x::numeric(3, -1)) + 1 from (values (15), (24), (25), (null)) t(x)"
        ),
        ["70", "2", "31"]
    );
    for overflowing in [
        "select 9995::numeric(3, -1)",
        "select 0.001::numeric(2, 5)",
        "select 1e30::numeric(3, -1)",
        "select x::numeric(3, -1) from (values (9999)) t(x)",
        "select 99999::numeric(4, 0)",
    ] {
        fails_with(&cluster, overflowing, ErrorCode::NumericOutOfRange);
    }
    fails_with(
        &cluster,
        "select 1::numeric(38, -1)",
        ErrorCode::Unsupported,
    );
}
/// A minus before an interval literal negates its value: DataFusion put the sign
/// into the literal's text, so `- interval '1 day -3 hours'` was -27 hours (PostgreSQL:
/// -21) and `- interval '-3 hours'` a parse error.
#[test]
fn a_negated_interval_literal_is_negated_as_a_value() {
    let cluster = cluster();
    assert_eq!(
        values(
            &cluster,
            "select cast(- interval '1 day -3 hours' as text), cast(- interval '-3 hours' as text), \
             - interval '1 month -2 days' < interval '0 days'"
        ),
        // PostgreSQL 15
        ["-1 days +03:00:00", "03:00:00", "true"]
    );
}

/// A timestamp minus a timestamp or a date is PostgreSQL's interval of days and a time
/// of day, so it scales, compares, adds to a date and reads as PostgreSQL's text;
/// DataFusion's duration refused all but the comparison.
#[test]
fn timestamp_differences_are_intervals() {
    let cluster = cluster();
    assert_eq!(
        values(
            &cluster,
            "select cast(a - b as text), cast((a - b) * 2 as text), \
             cast(date '2020-03-01' - (a - b) as text), cast(b - date '2020-03-01' as text), \
             cast(date '2020-03-01' - a as text), (a - b) > interval '1 day 5 hours', \
             extract(hour from a - b) from (values (timestamp '2020-03-02 06:00:00', \
             timestamp '2020-03-01 00:00:00')) t(a, b)"
        ),
        // PostgreSQL 15
        [
            "1 day 06:00:00",
            "2 days 12:00:00",
            "2020-02-28 18:00:00",
            "00:00:00",
            "-1 days -06:00:00",
            "true",
            "6"
        ]
    );
}

/// A timestamp, interval or float cast to text, by the user or by the analyzer
/// around `||`, reads as PostgreSQL writes it (Arrow wrote `2020-02-29T06:45:00.250`
/// and `0 secs`).
#[test]
fn values_cast_to_text_read_as_in_postgresql() {
    let cluster = cluster();
    assert_eq!(
        values(
            &cluster,
            "select cast(timestamp '2020-02-29 06:45:00.25' as text), \
             'at ' || timestamp '2020-02-29 06:45:00', cast(interval '-1 day 2 hours' as text), \
             'x' || interval '0 days', concat(cast(0.1 as double precision) \
             + cast(0.2 as double precision), cast('inf' as double precision)), \
             max(cast(o_orderdate + interval '90 minutes' as varchar)) from orders"
        ),
        // PostgreSQL 15
        [
            "2020-02-29 06:45:00.25",
            "at 2020-02-29 06:45:00",
            "-1 days +02:00:00",
            "x00:00:00",
            "0.30000000000000004Infinity",
            "1998-08-02 01:30:00"
        ]
    );
}

/// bytea reads and writes PostgreSQL's forms and is measured in bytes: Arrow's cast
/// kept `'\x6162'` as its six characters (length 6), and bytea cast to text gave the
/// raw bytes instead of `\x6162`.
#[test]
fn bytea_reads_writes_and_counts_as_in_postgresql() {
    let cluster = cluster();
    assert_eq!(
        values(
            &cluster,
            "select length('\\x6162'::bytea), octet_length('a\\\\b\\141'::bytea), \
             bit_length('\\x00ff'::bytea), cast('\\x61 62'::bytea as text), 'ab'::bytea::text, \
             count(*) filter (where '\\x41'::bytea = 'A'), length('héllo'), \
             octet_length('héllo') from (values (1)) v(x)"
        ),
        // PostgreSQL 15
        ["2", "4", "16", "\\x6162", "\\x6162", "1", "5", "6"]
    );
    for bad in ["'\\x6'", "'\\x6g'", "'a\\'", "'\\400'"] {
        let code = if bad.starts_with("'\\x") {
            ErrorCode::InvalidParameterValue
        } else {
            ErrorCode::InvalidTextRepresentation
        };
        fails_with(&cluster, &format!("select length({bad}::bytea)"), code);
    }
    // An untyped literal joined to a bytea is a bytea; one typed as text stays text.
    assert_eq!(
        values(
            &cluster,
            "select ('ab'::bytea || 'c')::text, ('c' || 'ab'::bytea)::text, \
             'ab'::bytea || 'c'::text, ('ab'::bytea || '\\x00ff' || 'z')::text"
        ),
        // PostgreSQL 15
        ["\\x616263", "\\x636162", "\\x6162c", "\\x616200ff7a"]
    );
}

/// `date + interval` is a timestamp in PostgreSQL; DataFusion's date result dropped
/// the interval's hours. Whole days keep the date type (same instant).
#[test]
fn a_date_plus_an_interval_keeps_its_time_of_day() {
    let cluster = cluster();
    assert_eq!(
        values(
            &cluster,
            "select date '2020-01-01' - interval '1 second', \
             interval '1 day 2 hours' + date '2020-01-01', \
             date '2020-01-31' + interval '1 month', date '2020-01-01' + interval '3' day"
        ),
        [
            "2019-12-31T23:59:59",
            "2020-01-02T02:00:00",
            "2020-02-29",
            "2020-01-04"
        ]
    );
    // Half a day past the last shipping date of 1994 takes in 1995-01-01's rows.
    assert_eq!(
        values(
            &cluster,
            "select count(*) filter (where l_shipdate < date '1995-01-01' + interval '12 hours') \
             = count(*) filter (where l_shipdate <= date '1995-01-01') from lineitem"
        ),
        ["true"]
    );
    assert_eq!(
        values(
            &cluster,
            "select timestamp '2020-01-01 10:00', '2020-01-01T23:59'::timestamp"
        ),
        ["2020-01-01T10:00:00", "2020-01-01T23:59:00"]
    );
}

/// Output columns may repeat a name, as in PostgreSQL; a table's may not.
#[test]
fn output_columns_may_share_a_name() {
    let cluster = cluster();
    let batches = cluster
        .sql(
            "select n_name, n_name, count(*) over (), count(*) over (), 1 as a, 2 as a, \
             cast(n_nationkey as int), n_nationkey from nation order by n_name limit 1",
        )
        .unwrap();
    let schema = batches[0].schema();
    let names: Vec<&str> = schema
        .fields()
        .iter()
        .map(|field| field.name().as_str())
        .collect();
    assert_eq!(
        names,
        [
            "n_name",
            "n_name",
            "count",
            "count",
            "a",
            "a",
            "n_nationkey",
            "n_nationkey"
        ]
    );
    assert_eq!(
        values(
            &cluster,
            "select n_name, n_name, count(*) over (), count(*) over (), 1 as a, 2 as a, \
             cast(n_nationkey as int), n_nationkey from nation order by n_name limit 1"
        ),
        ["ALGERIA", "ALGERIA", "25", "25", "1", "2", "0", "0"]
    );
    // A bare scalar subquery is named after its column, here like the outer one.
    let batches = cluster
        .sql(
            "select n_name, (select n2.n_name from nation n2 where n2.n_nationkey = 1) \
             from nation n1 order by n_name limit 1",
        )
        .unwrap();
    let schema = batches[0].schema();
    assert_eq!(schema.field(0).name(), "n_name");
    assert_eq!(schema.field(1).name(), "n_name");
    let error = cluster
        .sql("create table twice as select n_name, n_name from nation")
        .unwrap_err();
    assert!(error.message.contains("two columns named"), "{error}");
}

/// A float meets a decimal as a float (PostgreSQL converts numeric to float8);
/// DataFusion converted the float to DECIMAL(30, 15), dropping digits and failing
/// past 10^15.
#[test]
fn floats_meeting_decimals_are_compared_as_floats() {
    let cluster = cluster();
    assert_eq!(
        values(
            &cluster,
            "select 0.1::double * 3 = 0.3, 0.1::double * 3 > 0.3, \
             1e20::double in (0.5, 1e20::double), 1e20::double between 0.5 and 1e21"
        ),
        ["false", "true", "true", "true"]
    );
    assert_eq!(
        values(
            &cluster,
            "select coalesce(1e20::double, 0.5) = 1e20::double, \
             greatest(1e20::double, 0.5) = 1e20::double, \
             (case when n_nationkey >= 0 then 1.5e300::double else 0.1 end) = 1.5e300::double, \
             arrow_typeof(coalesce(0.5, 1e20::double)) from nation limit 1"
        ),
        ["true", "true", "true", "Float64"]
    );
    // VALUES and UNION columns, and join keys.
    assert_eq!(
        values(
            &cluster,
            "select (select sum(x) from (values (1e20::double), (0.5)) t(x)) = 1e20::double, \
             (select count(*) from (select 1e20::double x union all select 0.5) t), \
             (select count(*) from (values (0.1::double * 3)) a(x) join (values (0.3)) b(y) \
              on a.x = b.y)"
        ),
        ["true", "2", "0"]
    );
    // Decimals among themselves stay exact.
    assert_eq!(
        values(
            &cluster,
            "select x, arrow_typeof(x) from (values (1), (0.5)) t(x)"
        ),
        ["1.0", "Decimal128(21, 1)"]
    );
}

/// A scalar subquery answers one value or fails with 21000; DataFusion's join
/// answered one row per subquery row.
#[test]
fn a_scalar_subquery_answers_one_row_or_fails() {
    let cluster = cluster();
    for sql in [
        "select (select n_name from nation)",
        "select count(*) from region where r_regionkey = (select n_regionkey from nation)",
        "select r_name, (select n_name from nation where n_regionkey = r_regionkey) from region",
    ] {
        fails_with(&cluster, sql, ErrorCode::CardinalityViolation);
    }
    assert_eq!(
        values(
            &cluster,
            "select (select n_name from nation where n_nationkey = 3) a, \
             (select n_name from nation where n_nationkey = 99) b, \
             (select r_name from region where r_regionkey = n_regionkey) c, \
             (select r_name from region where r_regionkey = n_regionkey and n_nationkey > 5) d \
             from nation where n_nationkey = 1"
        ),
        ["CANADA", "", "AMERICA", ""]
    );
}

/// `avg` of decimals rounds its last digit (DataFusion's truncated it): checked
/// against the sum and count of each group, divided in exact integer arithmetic.
#[test]
fn decimal_averages_round_their_last_digit() {
    let cluster = cluster();
    let thirds = "from (values (0.01), (0.02), (0.02), (null)) t(x)";
    assert_eq!(
        values(
            &cluster,
            &format!(
                "select avg(x), avg(-x), avg(distinct x), avg(x) filter (where x > 0.01), \
                 arrow_typeof(avg(x)) {thirds}"
            )
        ),
        [
            "0.016667",
            "-0.016667",
            "0.015000",
            "0.020000",
            "Decimal128(6, 6)"
        ]
    );
    assert_eq!(
        values(
            &cluster,
            &format!(
                "select avg(x) over (), avg(x) over (order by x rows 1 preceding) {thirds} \
                 order by x nulls first limit 1"
            )
        ),
        ["0.016667", "0.020000"]
    );
    // Where the analyzer retyped another part of the call (a NULL in the window's
    // ORDER BY, the FILTER), it aliased the call, and the rounding passed it by.
    assert_eq!(
        values(
            &cluster,
            &format!(
                "select avg(x) over (order by x * null, x) {thirds} order by x nulls first \
                 limit 1"
            )
        ),
        ["0.016667"]
    );
    assert_eq!(
        values(
            &cluster,
            &format!("select avg(x) filter (where x * null is null) {thirds}")
        ),
        ["0.016667"]
    );
    let batches = cluster
        .sql(
            "select avg(l_discount), sum(l_discount), count(l_discount) from lineitem \
             group by l_returnflag, l_linestatus",
        )
        .unwrap();
    let mut groups = 0;
    for batch in &batches {
        for row in 0..batch.num_rows() {
            let text = |column| array_value_to_string(batch.column(column), row).unwrap();
            // The sum has scale 2 and the average scale 6: 10^4 * sum / count, rounded.
            let sum: i128 = text(1).replace('.', "").parse().unwrap();
            let count: i128 = text(2).parse().unwrap();
            let scaled = sum * 10_000;
            let rounded = (2 * scaled + count) / (2 * count);
            assert_eq!(
                text(0),
                format!("0.{rounded:06}"),
                "sum {sum} count {count}"
            );
            groups += 1;
        }
    }
    assert_eq!(groups, 4);
}

/// -0 and 0 are one key, and so are all NaNs, in grouping, DISTINCT and joins, as
/// in PostgreSQL (keys were compared by their bits: two groups, and no join match).
#[test]
fn negative_zero_and_nan_are_one_key_each() {
    let cluster = cluster();
    let odd = "(values (0.0::float8), (-0.0::float8), ('nan'::float8), ('nan'::float8), \
               (-('nan'::float8)))";
    assert_eq!(
        values(
            &cluster,
            &format!(
                "select count(*), count(distinct g) from \
                 (select x g, count(*) from {odd} t(x) group by x) groups"
            )
        ),
        ["2", "2"]
    );
    assert_eq!(
        values(
            &cluster,
            &format!("select count(*) from (select distinct x from {odd} t(x)) d")
        ),
        ["2"]
    );
    assert_eq!(
        values(
            &cluster,
            "select count(*) from (values (0.0::float8), ('nan'::float8)) a(x) \
             join (values (-0.0::float8), ('nan'::float8)) b(y) on x = y"
        ),
        ["2"]
    );
    assert_eq!(
        values(
            &cluster,
            "select max(n) from (select count(*) over (partition by x) n \
             from (values (0.0::float8), (-0.0::float8), (0.0::float8)) t(x)) w"
        ),
        ["3"]
    );
    // Two DISTINCT aggregates use distinct accumulators rather than a group table.
    assert_eq!(
        values(
            &cluster,
            "select count(distinct x), count(distinct y), count(distinct z) \
             from (values (0.0::float8, 1, 0.0::real), ('-0'::float8, 2, '-0'::real), \
             (1.5::float8, 2, 1.5::real)) t(x, y, z)"
        ),
        ["2", "2", "2"]
    );
}

/// `ceil`, `floor` and `sign` of a decimal answer a whole number even when it needs one
/// more digit than the argument's type has (DataFusion failed with "Decimal
/// overflow" on `ceil(9.5)`).
#[test]
fn ceil_and_floor_of_decimals_are_whole_numbers() {
    let cluster = cluster();
    assert_eq!(
        values(
            &cluster,
            "select ceil(9.5), floor(-9.5), ceil(-1.5), floor(-0.0000001), ceil(1.0000001), \
             ceil(cast(99.5 as decimal(3,1))), floor(99.5), ceil(-0.5)"
        ),
        ["10", "-10", "-1", "-1", "2", "100", "99", "0"]
    );
    // Per row on a column: every price rounded up, against the same in integer cents.
    assert_eq!(
        values(
            &cluster,
            "select sum(ceil(l_extendedprice)) = sum((cast(l_extendedprice * 100 as bigint) + 99) / 100), \
             sum(floor(-l_extendedprice)) = -sum((cast(l_extendedprice * 100 as bigint) + 99) / 100) \
             from lineitem"
        ),
        ["true", "true"]
    );
    // `sign` of a decimal is a decimal (it was a float: `sign(-1.5) * 0.0` was -0).
    assert_eq!(
        values(
            &cluster,
            "select sign(-2.5), sign(0.0), sign(-1.5) * 0.0, arrow_typeof(sign(1.5))"
        ),
        ["-1", "0", "0.0", "Decimal128(1, 0)"]
    );
}

/// `round` of a decimal has one type from planning to execution (DataFusion typed
/// it by whether the digits were a literal when it looked, and
/// `round(x, 1) = round(x, 0)` failed comparing Decimal128(15, 1) with (15, 0)).
#[test]
fn round_of_a_decimal_compares_with_any_other_decimal() {
    let cluster = cluster();
    assert_eq!(
        values(
            &cluster,
            "select round(8.75, 1), round(-8.5), round(1234.56, -2), round(8.75, 3), \
             round(9.5), round(cast(null as decimal(5,2)), 1)"
        ),
        ["8.8", "-9", "1200", "8.750", "10", ""]
    );
    // Per row, against the same in integer cents, in filters and compared with each other.
    assert_eq!(
        values(
            &cluster,
            "select count(*) filter (where round(o_totalprice, 1) = round(o_totalprice, 0)) \
               = count(*) filter (where cast(o_totalprice * 100 as bigint) % 100 in (0, 1, 2, 3, 4, 95, 96, 97, 98, 99)), \
             sum(round(o_totalprice, 0)) = sum((cast(o_totalprice * 100 as bigint) + 50) / 100), \
             count(*) filter (where round(o_totalprice, 0) > 1000.5) \
               = count(*) filter (where o_totalprice >= 1000.5) \
             from orders"
        ),
        ["true", "true", "true"]
    );
    // A carry past 38 digits fails, never wraps.
    fails_with(
        &cluster,
        "select round(99999999999999999999999999999999999999, -1)",
        ErrorCode::NumericOutOfRange,
    );
    // Digits from a column: the argument's scale.
    assert_eq!(
        values(
            &cluster,
            "select round(8.756, x), round(8.756, x) = 8.76 from (values (2)) t(x)"
        ),
        ["8.760", "true"]
    );
}

fn column(cluster: &Cluster, sql: &str) -> Vec<String> {
    let batches = cluster.sql(sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
    batches
        .iter()
        .flat_map(|batch| {
            (0..batch.num_rows()).map(|row| array_value_to_string(batch.column(0), row).unwrap())
        })
        .collect()
}

#[test]
fn generate_series_is_a_table_split_over_the_partitions() {
    let cluster = cluster();
    let series = |sql: &str| column(&cluster, sql);
    assert_eq!(
        series("select * from generate_series(1, 5) order by 1"),
        ["1", "2", "3", "4", "5"]
    );
    assert_eq!(
        series("select x from generate_series(10, 1, -3) t(x) order by x"),
        ["1", "4", "7", "10"]
    );
    assert!(series("select * from generate_series(5, 1)").is_empty());
    assert!(series("select * from generate_series(1, null::int)").is_empty());
    // The alias names the column too, as in PostgreSQL.
    assert_eq!(
        series("select g from generate_series(-1, 1) g order by g desc"),
        ["1", "0", "-1"]
    );
    // A million rows, generated a batch at a time on both partitions.
    assert_eq!(
        values(
            &cluster,
            "select count(*), sum(x), min(x), max(x), count(distinct x) \
             from generate_series(1, 1000000) t(x)"
        ),
        ["1000000", "500000500000", "1", "1000000", "1000000"]
    );
    // Months are added one after another: from January 31st, February 29th, March 29th.
    assert_eq!(
        series(
            "select cast(d as date) from generate_series(timestamp '2024-01-31', \
             timestamp '2024-05-01', interval '1 month') t(d) order by d"
        ),
        ["2024-01-31", "2024-02-29", "2024-03-29", "2024-04-29"]
    );
    assert_eq!(
        series(
            "select count(*) from generate_series(date '2024-01-01', date '2024-12-31', \
             interval '1 day')"
        ),
        ["366"]
    );
    assert_eq!(
        series(
            "select n_name from generate_series(0, 24, 12) t(k) join nation on n_nationkey = k \
             order by k"
        ),
        ["ALGERIA", "JAPAN", "UNITED STATES"]
    );
    for refused in [
        "select * from generate_series(1, 5, 0)",
        "select * from generate_series(1.5, 5)",
        "select * from generate_series(1)",
        "select * from no_such_function(1)",
    ] {
        let error = cluster.sql(refused).unwrap_err();
        assert!(error.code != ErrorCode::Internal, "{refused}: {error}");
    }
}

/// `(a, b) IN (SELECT x, y ..)` among WHERE conditions, against the same rows found
/// by a join; a NULL in either row never matches.
#[test]
fn a_row_of_values_in_a_subquery() {
    let cluster = cluster();
    let by_in = values(
        &cluster,
        "select count(*), sum(l_quantity) from lineitem where l_quantity > 10 \
         and (l_partkey, l_suppkey) in (select ps_partkey, ps_suppkey from partsupp \
         where ps_availqty < 500)",
    );
    let by_join = values(
        &cluster,
        "select count(*), sum(l_quantity) from lineitem join partsupp \
         on l_partkey = ps_partkey and l_suppkey = ps_suppkey \
         where l_quantity > 10 and ps_availqty < 500",
    );
    assert_eq!(by_in, by_join);
    assert_ne!(by_in[0], "0");
    // Each customer's latest orders (a grouped, correlated-looking subquery).
    let latest = values(
        &cluster,
        "select count(*) from orders where (o_custkey, o_orderdate) in \
         (select o_custkey, max(o_orderdate) from orders group by o_custkey)",
    );
    let latest_by_join = values(
        &cluster,
        "select count(*) from orders o join (select o_custkey c, max(o_orderdate) d \
         from orders group by o_custkey) m on o.o_custkey = m.c and o.o_orderdate = m.d",
    );
    assert_eq!(latest, latest_by_join);
    assert_eq!(
        values(
            &cluster,
            "select count(*) from (values (1, null), (2, 3)) t(a, b) where (a, b) in \
             (select 1, null::int union all select 2, 3)"
        ),
        ["1"]
    );
}

/// Aggregates of the same column with and without a cast are two aggregates
/// (DataFusion named both `sum(t.x)` and refused the query).
#[test]
fn aggregates_differing_by_a_cast_are_planned_apart() {
    let cluster = cluster();
    assert_eq!(
        values(
            &cluster,
            "select sum(x), sum(x::real), sum(cast(x as int)), count(distinct x::text) \
             from (values (1.25::float8), (2.5::float8)) t(x)"
        ),
        ["3.75", "3.75", "3", "2"]
    );
    let batches = cluster
        .sql(
            "select l_returnflag, sum(l_extendedprice), sum(cast(l_extendedprice as bigint)) \
             from lineitem group by 1 order by 1",
        )
        .expect("plans");
    let names: Vec<&str> = batches[0]
        .schema_ref()
        .fields()
        .iter()
        .map(|f| f.name().as_str())
        .collect();
    assert_eq!(names, ["l_returnflag", "sum", "sum"]);
    let split = values(
        &cluster,
        "select sum(l_extendedprice), sum(cast(l_extendedprice as bigint)) from lineitem",
    );
    assert_eq!(split[1], "2152190704");
}

/// GROUP BY keys DataFusion names alike: a column and its cast, two scalar subqueries
/// of one aggregate (both were refused over their repeated name).
#[test]
fn group_keys_named_alike_are_grouped_apart() {
    let cluster = cluster();
    let rows = common::rows(
        &cluster,
        "select cast(n_regionkey as text), n_regionkey, count(*) from nation \
         group by cast(n_regionkey as text), n_regionkey order by 2 limit 2",
    );
    assert_eq!(rows, [["0", "0", "5"], ["1", "1", "5"]]);
    let subquery =
        |outer: &str| format!("(select max(r_regionkey) from region where r_regionkey < {outer})");
    let (by_region, by_nation) = (subquery("n_regionkey"), subquery("n_nationkey - 20"));
    let rows = common::joined_rows(
        &cluster,
        &format!(
            "select {by_region}, {by_nation}, count(*) from nation \
             group by {by_region}, {by_nation} order by 1 nulls first, 2 nulls first"
        ),
    );
    // From PostgreSQL 15.
    assert_eq!(
        rows,
        ["||5", "0||4", "0|3|1", "1||4", "1|0|1", "2||3", "2|1|1", "2|2|1", "3||5"]
    );
}

/// PostgreSQL gives a quotient at least 16 significant digits; DataFusion's type
/// kept the dividend's scale + 4 (`1 / 300000.0` was 0.0000). Products of such
/// quotients keep their integer digits instead of overflowing.
#[test]
fn decimal_quotients_keep_sixteen_decimals_and_their_products_fit() {
    let cluster = cluster();
    // Constants (folded while planning) and a column round alike, half away from zero.
    assert_eq!(
        values(
            &cluster,
            "select 1/3.0, 2.0/3, -2/3.0, 1/300000.0, count(*) * 1.0 / 3 \
             from (values (1), (2)) t(x)"
        ),
        [
            "0.3333333333333333",
            "0.6666666666666667",
            "-0.6666666666666667",
            "0.0000033333333333",
            "0.6666666666666667"
        ]
    );
    let over_a_column = "from (values (2.0), (1.0)) t(x) where x > 1.5";
    assert_eq!(
        values(
            &cluster,
            &format!("select x / 3, (x / 3) * (x / 3) * (x / 3) {over_a_column}")
        ),
        ["0.6666666666666667", "0.296296296296296340740740740740743"]
    );
    // Squares of a price per unit: 7 integer digits at 16 decimals (the exact product
    // type, scale 32, left 6 and overflowed).
    let squares = values(
        &cluster,
        "select max((l_extendedprice / l_quantity) * (l_extendedprice / l_quantity)), \
         max(power(cast(l_extendedprice as double) / l_quantity, 2)) from lineitem",
    );
    let (exact, float): (f64, f64) = (squares[0].parse().unwrap(), squares[1].parse().unwrap());
    assert!(exact > 1e6 && (exact - float).abs() < 1e-6, "{squares:?}");
    assert_eq!(
        squares[0].split_once('.').unwrap().1.len(),
        16,
        "{squares:?}"
    );
    // A product past 38 digits fails; it does not wrap.
    fails_with(
        &cluster,
        "select x / 3 * x * x from (values (cast(99999999999999999999 as decimal(20, 0))), \
         (1.0)) t(x) where x > 1.5",
        ErrorCode::NumericOutOfRange,
    );
}

/// `= ANY (ARRAY[..])`, `<> ALL ('{..}')`, `op ANY/ALL` and `LIKE ANY` over arrays
/// written out answer as their IN lists and OR/AND chains, NULLs and empty arrays
/// as PostgreSQL.
#[test]
fn comparisons_with_every_element_of_a_written_out_array() {
    let cluster = cluster();
    let count = |condition: &str| {
        values(
            &cluster,
            &format!("select count(*) from lineitem where {condition}"),
        )
        .remove(0)
    };
    let pairs = [
        (
            "l_shipmode = any (array['MAIL', 'SHIP'])",
            "l_shipmode in ('MAIL', 'SHIP')",
        ),
        (
            "l_shipmode <> all ('{MAIL, \"SHIP\"}')",
            "l_shipmode not in ('MAIL', 'SHIP')",
        ),
        (
            "l_quantity > any ('{45, 48}'::int[])",
            "l_quantity > 45 or l_quantity > 48",
        ),
        ("l_quantity <= all (array[10, 20])", "l_quantity <= 10"),
        (
            "l_extendedprice = any ('{24710.35, 56688.120}')",
            "l_extendedprice in (24710.35, 56688.12)",
        ),
        (
            "l_shipinstruct like any (array['DELIVER%', '%RETURN'])",
            "l_shipinstruct like 'DELIVER%' or l_shipinstruct like '%RETURN'",
        ),
        (
            "l_shipinstruct ilike any ('{deliver%}')",
            "l_shipinstruct like 'DELIVER%'",
        ),
    ];
    for (array, spelled_out) in pairs {
        let (got, expected) = (count(array), count(spelled_out));
        assert_eq!(got, expected, "{array}");
        assert_ne!(got, "0", "{array}");
    }
    assert_eq!(
        values(
            &cluster,
            "select 1 = any ('{}'), 1 <> all (array[]::int[]), 2 = any (array[1, null]), \
             1 = any (array[1, null]), 2 > all (array[1, null]), 'x' = any ('{a,NULL,x}')"
        ),
        ["false", "true", "", "true", "", "true"]
    );
}

/// `~x` is PostgreSQL's bitwise NOT, of the operand's type, integers only.
#[test]
fn tilde_is_bitwise_not_of_integers() {
    let cluster = cluster();
    assert_eq!(
        values(
            &cluster,
            "select ~5, ~(-1), ~n_nationkey, ~(~3), 1 + ~2, arrow_typeof(~cast(0 as smallint)) \
             from nation where n_nationkey = 7"
        ),
        ["-6", "0", "-8", "3", "-2", "Int16"]
    );
    fails_with(&cluster, "select ~5.5", ErrorCode::Semantic);
}

/// `IS [NOT] DISTINCT FROM` binds tighter than AND, OR and NOT, as in PostgreSQL
/// (the parser read `a IS DISTINCT FROM (b AND c)`: a type error, or over booleans
/// a wrong answer).
#[test]
fn is_distinct_from_binds_tighter_than_and_or() {
    let cluster = cluster();
    assert_eq!(
        values(
            &cluster,
            "select true is distinct from false and false, \
             not false is distinct from false or true, \
             false and null is not distinct from null or true"
        ),
        ["false", "true", "true"]
    );
    assert_eq!(
        values(
            &cluster,
            "select count(*) from nation where n_regionkey is not distinct from 1 \
             and n_nationkey > 10"
        ),
        ["2"]
    );
}

/// Functions analysts reach for that DataFusion lacks, with PostgreSQL 15's answers
/// (checked side by side): `age`, `width_bucket`, EXTRACT of century, millennium
/// and decade.
#[test]
fn age_width_bucket_and_year_based_fields_answer_as_postgresql() {
    let cluster = cluster();
    let ages = values(
        &cluster,
        "select age(timestamp '2024-03-01', timestamp '2023-01-15') = interval '1 year 1 month 17 days', \
         age(date '2023-01-15', date '2024-03-01') = interval '-1 year -1 month -17 days', \
         age(timestamp '2024-02-03 12:00:00', timestamp '2023-12-31 12:00:00.5') \
           = interval '1 month 2 days 23 hours 59 minutes 59.5 seconds', \
         age(date '2001-04-10', timestamp '1957-06-13') = interval '43 years 9 months 27 days', \
         age(current_date) = interval '0 days'",
    );
    assert_eq!(ages, ["true"; 5]);
    assert_eq!(
        values(
            &cluster,
            "select width_bucket(5.35, 0.024, 10.06, 5), width_bucket(0, 0.024, 10.06, 5), \
             width_bucket(10.06, 0.024, 10.06, 5), width_bucket(-1, 10.06, 0.024, 5), \
             width_bucket(null, 0, 1, 2)"
        ),
        ["3", "0", "6", "6", ""]
    );
    fails_with(
        &cluster,
        "select width_bucket(1, 1, 1, 3)",
        ErrorCode::DataException,
    );
    assert_eq!(
        values(
            &cluster,
            "select extract(century from date '2000-12-31'), extract(century from date '2001-01-01'), \
             extract(millennium from timestamp '2001-01-01 00:00:00'), \
             extract(decade from date '1999-05-05'), date_part('century', date '1900-01-01')"
        ),
        ["20", "21", "3", "199", "19"]
    );
}

/// The standard's FETCH FIRST: `ONLY` is a LIMIT, `WITH TIES` keeps every row equal
/// in the ORDER BY to the last one (after the OFFSET rows); DataFusion refused both.
#[test]
fn fetch_first_rows_only_and_with_ties() {
    let cluster = cluster();
    let rows = |sql: &str| common::joined_rows(&cluster, sql);
    assert_eq!(
        rows("select n_name from nation order by n_name fetch first 2 rows only"),
        ["ALGERIA", "ARGENTINA"]
    );
    assert_eq!(
        rows("select n_name from nation order by n_name offset 3 rows fetch next row only"),
        ["CANADA"]
    );
    // Region 0 has five nations: asking for 3 gives all five.
    assert_eq!(
        rows(
            "select n_regionkey from nation order by n_regionkey \
             fetch first 3 rows with ties"
        ),
        ["0"; 5]
    );
    // By output name and position, after an offset: the 2 region-4 rows skipped, then
    // up to the 4th row (region 3, FRANCE), which ties with nothing.
    assert_eq!(
        rows(
            "select n_name, n_regionkey r from nation order by r desc, 1 \
             offset 2 rows fetch first 4 rows with ties"
        ),
        ["IRAQ|4", "JORDAN|4", "SAUDI ARABIA|4", "FRANCE|3"]
    );
    // Grouped: every region has five nations, so all tie.
    assert_eq!(
        rows(
            "select count(*) from nation group by n_regionkey order by 1 \
             fetch first 1 rows with ties"
        )
        .len(),
        5
    );
    fails_with(
        &cluster,
        "select n_name from nation fetch first 2 rows with ties",
        ErrorCode::Syntax,
    );
}

/// Intervals compare and sort by their length (a month as 30 days, a day as 24
/// hours), as in PostgreSQL: Arrow compared months, then days, then nanoseconds, so
/// a difference of timestamps 25 hours apart was not longer than `interval '1 day'`.
#[test]
fn intervals_compare_by_their_length() {
    let cluster = cluster();
    assert_eq!(
        values(
            &cluster,
            "select timestamp '2020-01-02 11:00' - timestamp '2020-01-01 10:00' > interval '1 day', \
             interval '25 hours' > interval '1 day', interval '24 hours' = interval '1 day', \
             interval '30 days' = interval '1 month', interval '1 month' < interval '31 days', \
             interval '1 day' between interval '23 hours' and interval '25 hours', \
             interval '-1 day' < interval '1 hour'"
        ),
        ["true", "true", "true", "true", "true", "true", "true"]
    );
    assert_eq!(
        column(
            &cluster,
            "select x from (values (interval '1 day'), (interval '25 hours'), \
             (interval '23 hours'), (interval '1 month'), (interval '29 days')) t(x) order by x"
        ),
        ["23 hours", "1 days", "25 hours", "29 days", "1 mons"]
    );
    // Per row: every order's 36 hours is longer than a day.
    assert_eq!(
        values(
            &cluster,
            "select count(*) filter (where o_orderdate + interval '36 hours' - o_orderdate > interval '1 day') \
             = count(*) from orders"
        ),
        ["true"]
    );
}

/// Intervals of one length are one group, one DISTINCT value, one join key and one
/// window partition, and `min`/`max` pick by length, as in PostgreSQL (answers from
/// PostgreSQL 15): `1 day` and `24 hours` were two groups, and `max` of `1 mon` and
/// `31 days` was `1 mon`.
#[test]
fn intervals_group_and_join_by_their_length() {
    let cluster = cluster();
    let t = "(values (interval '1 day', 1), (interval '24 hours', 2), (interval '1 month', 3), \
             (interval '30 days', 4), (interval '31 days', 5), (null, 6)) t(x, n)";
    let s = "(values (interval '86400 seconds'), (interval '720 hours')) s(y)";
    let answers = [
        (format!("select count(distinct x) from {t}"), vec!["3"]),
        (
            format!("select max(x), min(x) from {t}"),
            vec!["31 days|24 hours"],
        ),
        (
            format!("select count(*), sum(n) from {t} group by x order by 2"),
            vec!["2|3", "1|5", "1|6", "2|7"],
        ),
        (
            format!("select x, sum(n) from {t} group by x order by 2"),
            vec!["1 days|3", "31 days|5", "|6", "1 mons|7"],
        ),
        (
            format!("select count(*) from (select distinct x from {t}) d"),
            vec!["4"],
        ),
        (
            format!("select count(*), sum(n) from {t} join {s} on x = y"),
            vec!["4|10"],
        ),
        (
            format!("select count(*) from (select x from {t} intersect select y from {s}) i"),
            vec!["2"],
        ),
        (
            format!("select count(*) from (select x from {t} union select y from {s}) u"),
            vec!["4"],
        ),
        (
            format!(
                "select n, rank() over (order by x), count(*) over (partition by x), \
                 sum(n) over (order by x) from {t} order by n"
            ),
            vec![
                "1|1|2|3", "2|1|2|3", "3|3|2|10", "4|3|2|10", "5|5|1|15", "6|6|1|21",
            ],
        ),
        (
            format!(
                "select sum(n), count(*), grouping(x) from {t} group by rollup (x) \
                 order by 3, 1"
            ),
            vec!["3|2|0", "5|1|0", "6|1|0", "7|2|0", "21|6|1"],
        ),
        (
            format!(
                "select (select count(*) from {t} where t.x = q.z) from \
                 (values (interval '48 hours'), (interval '1 day')) q(z) order by 1"
            ),
            vec!["0", "2"],
        ),
        // Over partitions: lengths 0 to 3 days, written as days plus 24-hour steps.
        (
            "select count(*) from (select interval '1 day' * (o_orderkey % 3) \
             + interval '24 hours' * (o_orderkey % 2) d from orders group by 1) g"
                .to_string(),
            vec!["4"],
        ),
    ];
    for (sql, expected) in answers {
        assert_eq!(common::joined_rows(&cluster, &sql), expected, "{sql}");
    }
}

/// A window ordered by a type DataFusion's RANGE frames cannot add an offset to (a
/// time of day, an interval) runs with its default frame: peers of the current row
/// share it (answers from PostgreSQL 15).
#[test]
fn windows_ordered_by_times_of_day() {
    let cluster = cluster();
    assert_eq!(
        common::joined_rows(
            &cluster,
            "select n, rank() over (order by t), sum(n) over (order by t desc), \
             from (values (time '10:00', 1), (time '10:00', 2), (time '09:00', 3)) v(t, n) \
             order by n"
        ),
        ["1|2|3", "2|2|3", "3|1|6"]
    );
}
