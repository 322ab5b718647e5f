//! Goal: what PostgreSQL users write means here what it means in PostgreSQL, where
//! DataFusion would read it differently or not at all: interval literals in
//! PostgreSQL's own output form (and ISO 8601, years-months, `ago`), casts to
//! bounded strings that truncate, `ORDER BY name` that looks at the output columns
//! first, `div`, `BETWEEN SYMMETRIC`, `trim(LEADING FROM x)`, `to_char` of numbers,
//! `make_timestamp`, and casts of text that fail as PostgreSQL's do. Every expected
//! value is PostgreSQL 15's answer.

use crate::common;

use common::{cluster, rows};
use percore_engine::error::ErrorCode;

#[test]
fn interval_literals_in_postgresql_forms() {
    let cluster = cluster();
    let forms = [
        (
            "interval '1 month 2 days 23:59:59.5'",
            "interval '1 month 2 days 86399.5 seconds'",
        ),
        ("interval '1 day 02:03'", "interval '26 hours 3 minutes'"),
        ("interval '-1:30'", "interval '-90 minutes'"),
        ("interval '1-2'", "interval '14 months'"),
        (
            "interval 'P1Y2M3DT4H5M6S'",
            "interval '14 months 3 days 14706 seconds'",
        ),
        ("interval '@ 2 hours ago'", "interval '-2 hours'"),
        ("'1 day, 1:00:00'::interval", "interval '1 day 1 hour'"),
        ("interval '10'", "interval '10 seconds'"),
    ];
    for (form, meaning) in forms {
        let sql = format!("select date '2024-01-31' + {form} = date '2024-01-31' + {meaning}");
        assert_eq!(rows(&cluster, &sql), [["true"]], "{sql}");
    }
    // Filtering with one: the orders of the last 2 days 12 hours of the data.
    assert_eq!(
        rows(
            &cluster,
            "select count(*) = count(*) filter (where o_orderdate > date '1998-08-02' - \
             interval '2 days 12:00:00') from orders where o_orderdate >= date '1998-07-31'"
        ),
        [["true"]]
    );
}

#[test]
fn casts_to_bounded_strings_truncate() {
    let cluster = cluster();
    assert_eq!(
        rows(
            &cluster,
            "select cast(12345 as varchar(2)), 'abc'::char, 'abcdef'::char(3), \
             cast('abcdef' as character varying(4)), cast('ab' as varchar(5)), \
             cast('ab' as char(4)) = 'ab'"
        ),
        [["12", "a", "abc", "abcd", "ab", "true"]]
    );
    assert_eq!(
        rows(
            &cluster,
            "select n_name::varchar(3) from nation where n_nationkey < 3 order by 1"
        ),
        [["ALG"], ["ARG"], ["BRA"]]
    );
}

#[test]
fn order_by_a_name_prefers_the_output_column() {
    let cluster = cluster();
    // The text column is named n_nationkey, so the sort is by text: 10 before 2.
    assert_eq!(
        rows(
            &cluster,
            "select n_nationkey::text from nation order by n_nationkey limit 4"
        ),
        [["0"], ["1"], ["10"], ["11"]]
    );
    // Qualified, the name is the input column.
    assert_eq!(
        rows(
            &cluster,
            "select n_nationkey::text from nation order by nation.n_nationkey limit 3"
        ),
        [["0"], ["1"], ["2"]]
    );
    assert_eq!(
        rows(
            &cluster,
            "select lower(n_name) from nation order by lower desc limit 2"
        ),
        [["vietnam"], ["united states"]]
    );
}

#[test]
fn div_between_symmetric_and_trim_of_blanks() {
    let cluster = cluster();
    assert_eq!(
        rows(
            &cluster,
            "select div(7, 2), div(-7, 2), div(7.5, 2), div(-7.5, 2.5), \
             1 between symmetric 2 and 0, 1 between 2 and 0, 5 not between symmetric 10 and 1, \
             3 between asymmetric 1 and 4, null between symmetric 1 and 2, \
             trim(leading from '  a  ') || '|', trim(trailing from '  a  ') || '|', \
             trim(both from '  a  ') || '|'"
        ),
        [["3", "-3", "3", "-3", "true", "false", "false", "true", "", "a  |", "  a|", "a|"]]
    );
    assert_eq!(
        rows(
            &cluster,
            "select count(*) from nation where n_nationkey between symmetric 10 and 5 \
             and n_regionkey between symmetric n_nationkey and 0"
        ),
        rows(
            &cluster,
            "select count(*) from nation where n_nationkey between 5 and 10 \
             and n_regionkey between 0 and n_nationkey"
        )
    );
    assert!(cluster.sql("select div(1, 0)").is_err());
}

#[test]
fn sharp_is_bitwise_xor() {
    let cluster = cluster();
    // `5#3` was `5 AS "#3"`: the generic dialect lets `#` start an identifier.
    assert_eq!(
        rows(&cluster, "select 5 # 3, 5#3, 12 # 10 + 1, -1 # 1"),
        [["6", "6", "7", "-2"]]
    );
    assert_eq!(
        rows(
            &cluster,
            "select count(*) from nation where n_nationkey#1 = n_nationkey + 1"
        ),
        [["13"]]
    );
}

/// `NULL || NULL` is a NULL text (it failed: "Cannot infer common string type").
#[test]
fn concatenated_nulls_are_a_null_text() {
    let cluster = cluster();
    assert_eq!(
        rows(
            &cluster,
            "select (null || null) is null, coalesce(null || null, 'x'), \
             replace((null || null), 'A', 'xy') is null"
        ),
        [["true", "x", "true"]]
    );
}

#[test]
fn output_columns_have_postgresqls_names() {
    let cluster = cluster();
    let sql = "select 1::int, 'a'::text, 2.5::numeric(5,2), max(x)::bigint, \
               extract(year from date '2020-01-01'), substring('abc' from 2), trim(' a '), \
               date '2020-01-01', exists(select 1), coalesce(1, 2), \
               case when true then 1 end, count(*), 1 + 1, cast(1 as varchar(3)), \
               x as named from (select 1 x) t group by x";
    let batches = cluster.sql(sql).unwrap();
    let schema = batches[0].schema();
    let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    // PostgreSQL 15's names for these columns.
    assert_eq!(
        names,
        [
            "int4",
            "text",
            "numeric",
            "max",
            "extract",
            "substring",
            "btrim",
            "date",
            "exists",
            "coalesce",
            "case",
            "count",
            "?column?",
            "varchar",
            "named"
        ]
    );
    // A set operation takes its first SELECT's names; `*` keeps the table's.
    let batches = cluster
        .sql("select count(*) from nation union all select sum(n_regionkey) from nation")
        .unwrap();
    assert_eq!(batches[0].schema().field(0).name(), "count");
    let batches = cluster.sql("select * from region limit 1").unwrap();
    assert_eq!(batches[0].schema().field(1).name(), "r_name");
}

/// A derived table's or CTE's column list names its columns whatever its SELECT
/// calls them: one column twice and two `count(*)` failed ("Projections require
/// unique expression names"), and a list shorter than the columns (PostgreSQL names
/// the rest as the SELECT does) failed as too short. Answers from PostgreSQL 15.
#[test]
fn column_lists_name_derived_tables() {
    let cluster = cluster();
    let answers = [
        (
            "select q.a, q.b from (select n_name, n_name from nation) q(a, b) \
             order by 1 limit 1",
            vec![vec!["ALGERIA", "ALGERIA"]],
        ),
        (
            "select c1 + c2 from (select count(*), count(*) from nation) q(c1, c2)",
            vec![vec!["50"]],
        ),
        (
            "select q.k, q.count from (select n_regionkey, count(*) from nation \
             group by 1) q(k) where k = 1",
            vec![vec!["1", "5"]],
        ),
        (
            "with w(a, b) as (select n_regionkey, n_regionkey from nation) \
             select count(distinct a), sum(b) from w",
            vec![vec!["5", "50"]],
        ),
        (
            "select y, x from (select n_regionkey as r, count(*) from nation group by r \
             order by r) q(x, y) where x = 4",
            vec![vec!["5", "4"]],
        ),
    ];
    for (sql, expected) in answers {
        assert_eq!(rows(&cluster, sql), expected, "{sql}");
    }
}

/// `to_char` of numbers lays them out with PostgreSQL's templates (it was refused).
/// The expected texts are PostgreSQL 15's for the same rows.
#[test]
fn numbers_format_with_postgresql_templates() {
    let cluster = cluster();
    assert_eq!(
        rows(
            &cluster,
            "select to_char(o_totalprice, 'FM999,999,990.00'), to_char(o_orderkey, '00000th'), \
             to_char(o_totalprice::float8, '9.99EEEE'), to_char(-o_totalprice, '999999.9PR') \
             from orders order by o_orderkey limit 3"
        ),
        [
            ["172,799.49", " 00001st", " 1.73e+05", "<172799.5>"],
            ["38,426.09", " 00002nd", " 3.84e+04", " <38426.1>"],
            ["205,654.30", " 00003rd", " 2.06e+05", "<205654.3>"],
        ]
    );
    assert_eq!(
        rows(
            &cluster,
            "select to_char(0, '9999.99'), to_char(12, 'FM9999.99'), to_char(12345, '999'), \
             to_char(1234.5, 'RN'), to_char(-12, 'MI9999'), to_char(null::int, '99')"
        ),
        [["     .00", "12.", " ###", "        MCCXXXV", "-  12", ""]]
    );
    // The template may differ per row; a malformed one fails as PostgreSQL's does.
    assert_eq!(
        rows(
            &cluster,
            "select to_char(n_nationkey, case when n_nationkey % 2 = 0 then '00' else 'FMRN' end) \
             from nation where n_nationkey between 3 and 4 order by n_nationkey"
        ),
        [["III"], [" 04"]]
    );
    let error = cluster
        .sql("select to_char(n_nationkey, '9.9.9') from nation")
        .expect_err("two decimal points");
    assert_eq!(error.code, ErrorCode::Syntax, "{error}");
    assert!(error.message.contains("multiple decimal points"), "{error}");
}

/// `make_timestamp` builds a timestamp from its fields as PostgreSQL does (it was an
/// unknown function); impossible fields fail with 22008 and PostgreSQL's words.
#[test]
fn make_timestamp_from_fields() {
    let cluster = cluster();
    assert_eq!(
        rows(
            &cluster,
            "select make_timestamp(2024, 2, 29, 12, 30, 15.5), \
             make_timestamp(2024, 1, 1, 23, 59, 60), make_timestamp(null, 1, 1, 0, 0, 0), \
             make_timestamp(1990 + n_regionkey, 1, 1, 0, 0, 0) \
             from nation where n_nationkey = 4"
        ),
        [[
            "2024-02-29T12:30:15.500",
            "2024-01-02T00:00:00",
            "",
            "1994-01-01T00:00:00"
        ]]
    );
    let error = cluster
        .sql("select make_timestamp(2024, 2, 30, 0, 0, n_nationkey) from nation")
        .expect_err("February 30th");
    assert_eq!(error.code, ErrorCode::DatetimeFieldOverflow, "{error}");
    assert!(
        error
            .message
            .starts_with("date field value out of range: 2024-02-30"),
        "{error}"
    );
}

/// Text that does not read as the type it is cast to fails with 22P02 in
/// PostgreSQL's words, whether the cast is folded at planning or runs on rows.
#[test]
fn invalid_text_casts_say_so_as_postgresql_does() {
    let cluster = cluster();
    for (sql, message) in [
        (
            "select cast('abc' as int)",
            "invalid input syntax for type integer: \"abc\"",
        ),
        (
            "select 'x'::boolean",
            "invalid input syntax for type boolean: \"x\"",
        ),
        (
            "select cast('1.2.3' as decimal(5,2))",
            "invalid input syntax for type numeric: \"1.2.3\"",
        ),
        (
            "select cast(n_name as bigint) from nation where n_nationkey = 0",
            "invalid input syntax for type bigint: \"ALGERIA\"",
        ),
    ] {
        let error = cluster.sql(sql).expect_err(sql);
        assert_eq!(
            error.code,
            ErrorCode::InvalidTextRepresentation,
            "{sql}: {error}"
        );
        assert!(error.message.starts_with(message), "{sql}: {error}");
    }
}
