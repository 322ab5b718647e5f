//! Goal: `WITH RECURSIVE` answers as PostgreSQL's iteration defines it, over
//! generated rows and over the partitioned TPC-H tables, and a recursion that would
//! not end fails within the memory budget instead of growing without bound. Expected
//! values come from arithmetic or from the same question asked without recursion.

use percore_engine::error::{ErrorCode, QueryError};
use percore_engine::session::Cluster;
use percore_engine::settings::SessionSettings;

use crate::common;

use common::{cluster, rows};

fn value(cluster: &Cluster, sql: &str) -> String {
    rows(cluster, sql).remove(0).remove(0)
}

#[test]
fn counting_and_two_column_recursions() {
    let cluster = cluster();
    assert_eq!(
        rows(
            &cluster,
            "with recursive t(n) as (select 1 union all select n + 1 from t where n < 100) \
             select sum(n), count(*), max(n) from t"
        ),
        [["5050", "100", "100"]]
    );
    // Fibonacci: the 50th number needs 64 bits.
    assert_eq!(
        rows(
            &cluster,
            "with recursive fib(i, a, b) as (select 1, 0::bigint, 1::bigint union all \
             select i + 1, b, a + b from fib where i < 50) \
             select a from fib where i = 50"
        ),
        [["7778742049"]]
    );
    // The names come from the first term when the CTE gives none; text grows.
    assert_eq!(
        rows(
            &cluster,
            "with recursive s as (select 'a' as word, 1 as len union all \
             select word || 'b', len + 1 from s where len < 4) \
             select word from s order by len"
        ),
        [["a"], ["ab"], ["abb"], ["abbb"]]
    );
}

#[test]
fn union_drops_rows_seen_before_so_a_cycle_ends() {
    let cluster = cluster();
    // 0 -> 1 -> .. -> 24 -> 0: UNION ALL would go round forever.
    assert_eq!(
        rows(
            &cluster,
            "with recursive reach(k) as (select 0 union select (k + 1) % 25 from reach) \
             select count(*), sum(k) from reach"
        ),
        [["25", "300"]]
    );
    // Duplicates inside the non-recursive term go too.
    assert_eq!(
        value(
            &cluster,
            "with recursive r(k) as (select n_regionkey from nation union \
             select k from r) select count(*) from r"
        ),
        "5"
    );
}

#[test]
fn the_recursive_term_joins_partitioned_tables() {
    let cluster = cluster();
    // Each step joins the working table with lineitem, which every core holds a part
    // of: depth 0 the orders, depth 1 their lines, depth 2 the lines again per line.
    let recursive = rows(
        &cluster,
        "with recursive r(ok, d) as (select o_orderkey, 0 from orders where o_orderkey < 200 \
         union all select l_orderkey, d + 1 from r join lineitem on l_orderkey = ok \
         where d < 2) select d, count(*) from r group by d order by d",
    );
    let orders = value(
        &cluster,
        "select count(*) from orders where o_orderkey < 200",
    );
    let lines = value(
        &cluster,
        "select count(*) from lineitem where l_orderkey < 200",
    );
    let squares = value(
        &cluster,
        "select sum(c * c) from (select count(*) c from lineitem where l_orderkey < 200 \
         group by l_orderkey) t",
    );
    assert_eq!(
        recursive,
        [["0", &orders], ["1", &lines], ["2", &squares]],
        "per depth"
    );
    // Walking a region's nations: the same as the join written out.
    let walked = rows(
        &cluster,
        "with recursive w(region, nation) as (select r_regionkey, -1 from region \
         union all select region, n_nationkey from w join nation on n_regionkey = region \
         where nation = -1) select region, count(*), sum(nation) from w where nation >= 0 \
         group by region order by region",
    );
    let joined = rows(
        &cluster,
        "select n_regionkey, count(*), sum(n_nationkey) from nation group by n_regionkey \
         order by n_regionkey",
    );
    assert_eq!(walked, joined);
}

#[test]
fn several_recursive_ctes_and_plain_ones_together() {
    let cluster = cluster();
    assert_eq!(
        rows(
            &cluster,
            "with recursive limits as (select 5 as top), \
             a(n) as (select 1 union all select n + 1 from a, limits where n < top), \
             b(n) as (select n * 10 from a union all select n + 1 from b where n % 10 < 2) \
             select (select count(*) from a), count(*), sum(n) from b"
        ),
        // a = 1..5; b = each of 10..50 and its +1, +2: 15 rows.
        [["5", "15", "465"]]
    );
    // The recursive CTE used twice in the final query, and in CREATE TABLE .. AS.
    assert_eq!(
        value(
            &cluster,
            "with recursive t(n) as (select 1 union all select n + 1 from t where n < 10) \
             select count(*) from t x join t y on x.n = y.n + 1"
        ),
        "9"
    );
    assert_eq!(
        value(
            &cluster,
            "create table squares as with recursive t(n) as (select 1 union all \
             select n + 1 from t where n < 10) select n, n * n as sq from t"
        ),
        "created table squares: 10 rows, replicated"
    );
    assert_eq!(
        rows(&cluster, "select count(*), sum(sq) from squares"),
        [["10", "385"]]
    );
}

#[test]
fn steps_are_cast_to_the_first_terms_types() {
    let cluster = cluster();
    let batches = cluster
        .sql(
            "with recursive t(n) as (select 1::int union all select n + 1 from t where n < 3) \
             select n from t",
        )
        .unwrap();
    assert_eq!(
        batches[0].schema().field(0).data_type(),
        &arrow::datatypes::DataType::Int32
    );
    let error = cluster
        .sql(
            "with recursive t(n) as (select 2147483600::int union all \
             select n + 10 from t) select count(*) from t",
        )
        .unwrap_err();
    assert_eq!(error.code, ErrorCode::NumericOutOfRange, "{error}");
}

/// The error of `reader` over a recursion that never ends and grows a hundredfold a
/// step, in a session whose cores have 4 MB each.
fn growing_recursion_under_4mb(cluster: &Cluster, reader: &str) -> QueryError {
    let mut settings = SessionSettings::default();
    cluster
        .sql_in("set percore.memory_per_core = '4MB'", &mut settings)
        .unwrap();
    let sql = format!(
        "with recursive t(n) as (select 1 union all \
         select n + g from t, generate_series(1, 100) s(g)) {reader}"
    );
    cluster.sql_in(&sql, &mut settings).unwrap_err()
}

#[test]
fn a_recursion_that_does_not_end_fails_within_the_budget() {
    let cluster = cluster();
    let error = growing_recursion_under_4mb(&cluster, "select count(*) from t");
    assert_eq!(error.code, ErrorCode::ResourcesExhausted, "{error}");
    assert!(error.message.contains("recursive query \"t\""), "{error}");
    // The cluster answers the next statement.
    assert_eq!(value(&cluster, "select count(*) from region"), "5");
}

/// PostgreSQL evaluates a WITH query only as far as its reader fetches: a recursion
/// without an end, read under a LIMIT, answers (its manual's own example).
#[test]
fn a_limit_over_the_recursion_stops_it() {
    let cluster = cluster();
    let endless = "with recursive t(n) as (values (1) union all select n + 1 from t)";
    assert_eq!(
        rows(
            &cluster,
            &format!("{endless} select n from t limit 3 offset 2")
        ),
        [["3"], ["4"], ["5"]]
    );
    assert_eq!(
        rows(
            &cluster,
            &format!("{endless} select n * 10 as m from t limit 2")
        ),
        [["10"], ["20"]]
    );
    // A recursion that ends first answers all it has.
    assert_eq!(
        rows(
            &cluster,
            "with recursive t(n) as (values (1) union all select n + 1 from t where n < 3) \
             select n from t limit 10"
        ),
        [["1"], ["2"], ["3"]]
    );
    // A reader that needs every row (here a filter) still runs the recursion to its
    // end: the budget stops this one.
    let error = growing_recursion_under_4mb(&cluster, "select n from t where n > 0 limit 1");
    assert_eq!(error.code, ErrorCode::ResourcesExhausted, "{error}");
}

#[test]
fn malformed_recursion_gets_postgresqls_errors() {
    let cluster = cluster();
    let code = |sql: &str| cluster.sql(sql).unwrap_err().code;
    assert_eq!(
        code("with recursive t(n) as (select n from t union all select 1) select * from t"),
        ErrorCode::InvalidRecursion
    );
    assert_eq!(
        code(
            "with recursive t(n) as (select 1 union all select t.n from t, t u) \
             select * from t"
        ),
        ErrorCode::InvalidRecursion
    );
    assert_eq!(
        code("with recursive t(n, m) as (select 1 union all select n from t) select * from t"),
        ErrorCode::Syntax
    );
}

#[test]
fn parameters_are_typed_from_every_step() {
    let cluster = cluster();
    let types = cluster
        .parameter_types(
            "with recursive t(n) as (select $1::bigint union all \
             select n + 1 from t where n < $2) select n from t where n <> $3",
        )
        .unwrap();
    let int64 = Some(arrow::datatypes::DataType::Int64);
    assert_eq!(types, [int64.clone(), int64.clone(), int64]);
}
