//! Goal: joins answer as PostgreSQL's do where SQL gives them a meaning of their own:
//! the column a RIGHT or FULL JOIN .. USING merges, subqueries in ON, and correlated
//! subqueries that become joins, whatever condition correlates them.

use percore_engine::error::ErrorCode;
use percore_engine::session::{Cluster, ClusterConfig};

use crate::common;

use common::{cluster, joined_rows as rows};

const LOW: &str = "(select n_nationkey, n_regionkey, n_name from nation where n_nationkey < 3)";
const MID: &str = "(select n_nationkey, n_regionkey, n_name from nation \
                   where n_nationkey between 2 and 4)";

/// An unqualified USING column is COALESCE(left, right) over a FULL join and the
/// right side's over a RIGHT join (it was the left side's: NULL for rows found only
/// on the right); qualified, each side's own value.
#[test]
fn using_columns_of_outer_joins_are_merged() {
    let cluster = cluster();
    let sql = format!(
        "select n_nationkey, a.n_nationkey, b.n_name from {LOW} a full join {MID} b \
         using (n_nationkey) order by n_nationkey"
    );
    assert_eq!(
        rows(&cluster, &sql),
        ["0|0|", "1|1|", "2|2|BRAZIL", "3||CANADA", "4||EGYPT"]
    );
    let sql = format!(
        "select n_nationkey, count(*) from {LOW} a right join {MID} b using (n_nationkey) \
         group by n_nationkey order by 1"
    );
    assert_eq!(rows(&cluster, &sql), ["2|1", "3|1", "4|1"]);
    // `*` lists the merged columns once, first, then each side's others.
    let sql = format!(
        "select * from {LOW} a full join {MID} b using (n_nationkey, n_regionkey) \
         order by 1"
    );
    assert_eq!(
        rows(&cluster, &sql),
        [
            "0|0|ALGERIA|",
            "1|1|ARGENTINA|",
            "2|1|BRAZIL|BRAZIL",
            "3|1||CANADA",
            "4|4||EGYPT"
        ]
    );
    // The rows missing from one side are found through that side's own column.
    let sql = format!(
        "select n_nationkey from {LOW} a full join {MID} b using (n_nationkey) \
         where a.n_nationkey is null order by 1"
    );
    assert_eq!(rows(&cluster, &sql), ["3", "4"]);
    // Inside a subquery, the name is the subquery's own column.
    let sql = format!(
        "select n_nationkey from {LOW} a full join {MID} b using (n_nationkey) \
         where n_nationkey in (select n_nationkey from nation where n_regionkey = 4) \
         order by 1"
    );
    assert_eq!(rows(&cluster, &sql), ["4"]);
    // NATURAL RIGHT and FULL joins would need the columns' names: refused, not wrong.
    let error = cluster
        .sql(&format!(
            "select count(*) from {LOW} a natural full join {MID} b"
        ))
        .unwrap_err();
    assert_eq!(error.code, ErrorCode::Unsupported, "{error}");
}

/// A subquery in ON: over an inner join it filters the joined rows, over an outer
/// join it filters the side whose unmatched rows are dropped (counts from DuckDB);
/// a scalar one reading one side is computed as a column of that side.
#[test]
fn subqueries_in_join_conditions() {
    let cluster = cluster();
    let rich = "(select s_nationkey from supplier where s_acctbal > 9000)";
    let count = |sql: &str| rows(&cluster, sql).join(",");
    assert_eq!(
        count(&format!(
            "select count(*) from nation a join nation b on a.n_regionkey = b.n_regionkey \
             and b.n_nationkey in {rich}"
        )),
        "45"
    );
    assert_eq!(
        count(
            "select count(*) from nation a join nation b on a.n_regionkey = b.n_regionkey \
             and exists (select 1 from supplier where s_nationkey = b.n_nationkey \
             and s_acctbal > a.n_nationkey * 400)"
        ),
        "93"
    );
    assert_eq!(
        count(&format!(
            "select count(*), count(b.n_nationkey) from nation a left join nation b \
             on a.n_regionkey = b.n_regionkey and b.n_nationkey in {rich}"
        )),
        "55|45"
    );
    assert_eq!(
        count(&format!(
            "select count(*), count(a.n_nationkey) from nation a right join nation b \
             on a.n_regionkey = b.n_regionkey and a.n_nationkey in {rich}"
        )),
        "55|45"
    );
    // On the preserved side it would decide which rows match, not which exist.
    let error = cluster
        .sql(&format!(
            "select count(*) from nation a left join nation b \
             on a.n_regionkey = b.n_regionkey and a.n_nationkey in {rich}"
        ))
        .unwrap_err();
    assert_eq!(error.code, ErrorCode::Unsupported, "{error}");
    // A correlated scalar subquery that reads one side is that side's value, on any
    // join (the analyzer refused it; counts from PostgreSQL 15).
    let suppliers = |side: &str| {
        format!("(select count(*) from supplier where s_nationkey = {side}.n_nationkey)")
    };
    assert_eq!(
        count(&format!(
            "select count(*), count(b.n_nationkey) from nation a left join nation b \
             on {} = b.n_regionkey + 2",
            suppliers("a")
        )),
        "105|100"
    );
    assert_eq!(
        count(
            "select count(*), count(a.n_nationkey), count(b.n_nationkey) from nation a \
             full join nation b on a.n_regionkey = (select max(s_nationkey) % 5 \
             from supplier where s_nationkey = b.n_nationkey and s_acctbal > 5000)"
        ),
        "113|110|113"
    );
    assert_eq!(
        count(&format!(
            "select count(*), count(a.n_nationkey) from nation a right join nation b \
             on a.n_regionkey = b.n_regionkey and {} > {}",
            suppliers("a"),
            suppliers("b")
        )),
        "49|42"
    );
}

/// IN, NOT IN, ANY and ALL over subqueries as values in a SELECT list, correlated or
/// not, with PostgreSQL's NULLs (they were refused, or failed with an internal
/// error); answers from PostgreSQL 15.
#[test]
fn quantified_comparisons_as_values() {
    let cluster = cluster();
    let s = |rows: &str| format!("(select y from (values {rows}) s(y)");
    let sql = format!(
        "select x, x in {}), x not in {}), x > all {}), x <= any {} where y > x), \
         x = all {} where y < 0) from (values (1), (3), (null)) t(x) order by x",
        s("(1), (2), (null)"),
        s("(1), (2)"),
        s("(1), (2), (null)"),
        s("(1), (2)"),
        s("(1)"),
    );
    assert_eq!(
        rows(&cluster, &sql),
        [
            "1|true|false|false|true|true",
            "3||true||false|true",
            "||||false|true"
        ]
    );
    assert_eq!(
        rows(
            &cluster,
            "select n_regionkey, n_nationkey in (select s_nationkey from supplier \
             where s_acctbal > 9000) as rich, n_nationkey < all (select n2.n_nationkey \
             from nation n2 where n2.n_regionkey = nation.n_regionkey \
             and n2.n_nationkey <> nation.n_nationkey) as first, count(*) \
             from nation group by 1, 2, 3 order by 1, 2, 3"
        )
        .join(" "),
        "0|false|false|3 0|true|false|1 0|true|true|1 1|false|false|1 1|false|true|1 \
         1|true|false|3 2|false|false|4 2|false|true|1 3|false|false|1 3|true|false|3 \
         3|true|true|1 4|false|false|4 4|false|true|1"
    );
    // A correlated scalar subquery compared with ANY, IN or NOT IN in WHERE: computed
    // first, so that its outer column is not two levels out inside the comparison's
    // subquery.
    for (comparison, count) in [("= any", "15"), ("in", "15"), ("not in", "10")] {
        assert_eq!(
            rows(
                &cluster,
                &format!(
                    "select count(*) from nation y where (select max(m.n_regionkey) \
                     from nation m where m.n_nationkey = y.n_regionkey * 6) {comparison} \
                     (select r_regionkey from region where r_regionkey > 1)"
                )
            ),
            [count],
            "{comparison}"
        );
    }
    // Inside an aggregate's FILTER (it was refused).
    assert_eq!(
        rows(
            &cluster,
            "select n_regionkey, count(*) filter (where n_nationkey in (select s_nationkey \
             from supplier where s_acctbal > 9000)), sum(n_nationkey) filter (where \
             n_nationkey not in (select s_nationkey from supplier where s_acctbal > 9000)) \
             from nation group by 1 order by 1"
        ),
        ["0|2|35", "1|3|18", "2|0|68", "3|4|23", "4|0|58"]
    );
}

/// A correlated subquery picking one row by its order runs as a join to the first
/// value in that order (it was refused); values and count from DuckDB.
#[test]
fn a_subquery_picking_the_first_row_in_an_order() {
    let cluster = cluster();
    assert_eq!(
        rows(
            &cluster,
            "select c_custkey, (select o_orderdate from orders where o_custkey = c_custkey \
             order by o_orderdate desc limit 1), (select o_totalprice p from orders \
             where o_custkey = c_custkey order by p, o_orderkey limit 1) \
             from customer order by 1 limit 4"
        ),
        [
            "1|1998-03-29|28599.83",
            "2|1998-05-18|37156.97",
            "3||",
            "4|1998-06-24|6829.14"
        ]
    );
    assert_eq!(
        rows(
            &cluster,
            "select count(*) from customer where c_acctbal > (select o_totalprice / 100 \
             from orders where o_custkey = c_custkey order by o_orderdate desc limit 1)"
        ),
        ["783"]
    );
}

/// A subquery correlated through a comparison other than equality (it was refused)
/// answers as PostgreSQL's per-row evaluation does: a count over no rows is 0, a sum
/// NULL, and an outer NULL gets the subquery's answer for NULL.
#[test]
fn subqueries_correlated_through_inequalities() {
    let cluster = cluster();
    let inner = "(values (1), (2), (3), (null)) s(y)";
    let sql = format!(
        "select x, (select count(*) from {inner} where y < x), \
         (select sum(y) from {inner} where y <= x), \
         (select count(*) from {inner} where y is not distinct from x or y < x) \
         from (values (1), (3), (null), (3)) t(x) order by x"
    );
    assert_eq!(
        rows(&cluster, &sql),
        ["1|0|1|1", "3|2|6|3", "3|2|6|3", "|0||1"]
    );

    // Against the same answers written without a correlated subquery, over data
    // spread across both cores.
    let pairs = [
        (
            "select o_orderkey, (select count(*) from lineitem where l_orderkey = o_orderkey \
             and l_linenumber > o_shippriority + 3) from orders order by 1",
            "select o_orderkey, count(l_orderkey) from orders left join lineitem \
             on l_orderkey = o_orderkey and l_linenumber > o_shippriority + 3 \
             group by o_orderkey order by 1",
        ),
        (
            "select n_nationkey, (select sum(n2.n_nationkey) from nation n2 \
             where n2.n_nationkey <= nation.n_nationkey) from nation order by 1",
            "select n_nationkey, sum(n_nationkey) over (order by n_nationkey) \
             from nation order by 1",
        ),
        // In WHERE; regions are numbered 0 to 4, so the count is the region key.
        (
            "select n_nationkey from nation where n_nationkey > 5 * \
             (select count(*) from region where r_regionkey < n_regionkey) order by 1",
            "select n_nationkey from nation where n_nationkey > 5 * n_regionkey order by 1",
        ),
        // Outer columns inside the aggregate and above it, and a filter in a
        // derived table.
        (
            "select n_nationkey, (select sum(r_regionkey * n_nationkey) + n_regionkey \
             from region where r_regionkey < n_regionkey), \
             (select count(*) from (select r_regionkey from region \
             where r_regionkey < n_regionkey) s) from nation order by 1",
            "select n_nationkey, case when n_regionkey > 0 then n_nationkey * n_regionkey \
             * (n_regionkey - 1) / 2 + n_regionkey end, n_regionkey from nation order by 1",
        ),
        // Over a CTE whose rows come from a correlated subquery of their own: the
        // nested subquery's outer columns are the CTE's, not the outer query's (such
        // a subquery was left to DataFusion, which failed with "No field named").
        (
            "with w as (select n_nationkey as k from nation x where n_nationkey < 6 + 2 * \
             (select count(*) from region where r_regionkey < x.n_regionkey)) \
             select k, (select count(*) from w w2 where w2.k is not distinct from w.k \
             or w2.k < w.k) from w order by 1",
            "select n_nationkey, row_number() over (order by n_nationkey) from nation \
             where n_nationkey < 6 + 2 * n_regionkey order by 1",
        ),
    ];
    for (correlated, reference) in pairs {
        let answer = rows(&cluster, correlated);
        assert!(answer.len() > 5, "{correlated}: {answer:?}");
        assert_eq!(answer, rows(&cluster, reference), "{correlated}");
    }
}

/// `ORDER BY (subquery)`, correlated or not, beside ordinals and output names; the
/// order PostgreSQL gives.
#[test]
fn order_by_a_subquery() {
    let cluster = cluster();
    let names = |sql: &str| -> Vec<String> {
        common::rows(&cluster, sql)
            .into_iter()
            .map(|mut row| row.swap_remove(0))
            .collect()
    };
    let by_subquery = names(
        "select n_name as Name, n_regionkey from nation \
         order by (select count(*) from supplier where s_nationkey = n_nationkey) desc, \
         name limit 6",
    );
    let by_join = names(
        "select n_name from nation join supplier on s_nationkey = n_nationkey \
         group by n_name order by count(*) desc, n_name limit 6",
    );
    assert_eq!(by_subquery, by_join);
    assert_eq!(
        names("select r_name from region order by (select max(n_name) from nation), 1 limit 2"),
        ["AFRICA", "AMERICA"]
    );
}

/// A FULL join on a condition without equality keys (it failed: "FULL JOIN without
/// equality keys" on partitioned inputs, an internal error on complete ones): its
/// rows are the inner join's, each left row that matched nothing, and each right
/// row that matched nothing, as the same query in other words counts them.
#[test]
fn full_joins_without_equality_keys_keep_both_sides_unmatched_rows() {
    let cluster = cluster();
    let condition = "n_regionkey < r_regionkey and n_nationkey > 20";
    let sql = format!(
        "select count(*), count(n_nationkey), count(r_regionkey) \
         from nation full join region on {condition}"
    );
    let inner = format!("(select count(*) from nation, region where {condition})");
    let left_only = format!(
        "(select count(*) from nation where not exists (select 1 from region where {condition}))"
    );
    let right_only = format!(
        "(select count(*) from region where not exists (select 1 from nation where {condition}))"
    );
    let expected = format!(
        "select {inner} + {left_only} + {right_only}, {inner} + {left_only}, {inner} + {right_only}"
    );
    let answer = rows(&cluster, &sql);
    assert_eq!(answer, rows(&cluster, &expected));
    assert_eq!(answer, ["30|28|9"], "{condition}");
    // Partitioned inputs, on a condition that is always true or never.
    assert_eq!(
        rows(
            &cluster,
            "select count(*), count(o_orderkey), count(c_custkey) from orders \
             full join customer on o_totalprice < 0"
        ),
        ["16500|15000|1500"]
    );
    assert_eq!(
        rows(
            &cluster,
            "select count(*) from (select * from region where r_regionkey < 2) a \
             full join (select * from nation where n_nationkey < 3) b on true"
        ),
        ["6"]
    );
}

/// `x NOT IN (subquery)` as PostgreSQL answers it where the null-aware anti join
/// did not: a correlated subquery's NULLs count only for the outer rows that see
/// them (a NULL in one group emptied every group), a constant `x` still sees the
/// subquery's NULLs (they were filtered out with the pushed-down `a = 7`), and an
/// aggregate without groups answers one row even over no rows.
#[test]
fn not_in_subqueries_are_null_for_the_outer_rows_that_see_a_null() {
    let cluster = cluster();
    let with = "with t(k, b) as (values (1, 1), (2, null), (3, 3), (4, 4), (5, 5), (6, 7)), \
                s(k, a) as (values (1, 2), (1, null), (3, 3), (2, 5), (5, 6), (6, null))";
    let keys = |condition: &str| {
        rows(
            &cluster,
            &format!("{with} select t.k from t where {condition} order by 1"),
        )
    };
    // Answers checked against PostgreSQL 15.
    assert_eq!(
        keys("t.b not in (select s.a from s where s.k = t.k)"),
        ["4", "5"]
    );
    assert_eq!(
        keys("5 not in (select s.a from s where s.k = t.k)"),
        ["3", "4", "5"]
    );
    assert!(keys("6 not in (select s.a from s)").is_empty());
    // A constant only once simplified: no key to hash on, a nested loop.
    assert!(keys("coalesce(7, t.b) not in (select s.a from s)").is_empty());
    assert_eq!(
        keys("coalesce(7, t.b) not in (select s.a from s where s.a is not null)"),
        ["1", "2", "3", "4", "5", "6"]
    );
    assert_eq!(
        keys("t.b not in (select max(s.a) from s where s.k = t.k)"),
        ["1", "5"]
    );
    assert_eq!(
        keys("t.k > 1 and t.b + 1 not in (select s.a from s where s.k < t.k and s.a is not null)"),
        ["3", "5", "6"]
    );
    // On partitioned tables: region 2's subquery answers NULL, so its nations drop.
    assert_eq!(
        rows(
            &cluster,
            "select count(*) from nation n where n.n_nationkey not in \
             (select case when r_regionkey = 2 then null else r_regionkey end from region r \
              where r.r_regionkey = n.n_regionkey)"
        ),
        rows(
            &cluster,
            "select count(*) from nation where n_regionkey <> 2 and n_nationkey <> n_regionkey"
        )
    );
}

/// An operand of NOT IN that can be NULL over columns that cannot (`nullif(k, 2)`
/// over a NOT NULL `k`) is unknown against a non-empty subquery, so its rows drop;
/// the anti join kept them because only columns were checked for nullability.
#[test]
fn not_in_drops_rows_whose_operand_expression_is_null() {
    let cluster = cluster();
    let count = |condition: &str| {
        rows(
            &cluster,
            &format!("select count(*) from nation where {condition}"),
        )
    };
    // Answers checked against PostgreSQL 15.
    assert_eq!(
        count("nullif(n_regionkey, 2) not in (select r_regionkey + 10 from region)"),
        ["20"]
    );
    assert_eq!(
        count("nullif(n_regionkey, 2) not in (select r_regionkey + 10 from region where false)"),
        ["25"]
    );
    assert_eq!(
        count(
            "n_nationkey > 0 and case when n_nationkey < 5 then null else n_nationkey end \
             not in (select r_regionkey from region)"
        ),
        ["20"]
    );
}

/// A join on `IS NOT DISTINCT FROM` matches NULL keys; an `=` from the WHERE clause
/// beside it does not match NULLs (it was made a key of the same NULL-matching join).
#[test]
fn equalities_beside_null_matching_keys_do_not_match_nulls() {
    let cluster = cluster();
    let with = "with x(b, c) as (values (1, null), (null, 2), (-3, 3), (4, 4)), \
                y(b, a) as (values (1, null), (null, 5), (3, 3), (null, 2))";
    let count = |join: &str| {
        rows(
            &cluster,
            &format!(
                "{with} select count(*) from x {join} y on y.b is not distinct from abs(x.b) \
                 where x.c = y.a"
            ),
        )
    };
    // Answers checked against PostgreSQL 15.
    assert_eq!(count("join"), ["2"]);
    assert_eq!(count("full join"), ["2"]);
    assert_eq!(
        rows(
            &cluster,
            &format!(
                "{with} select count(*) from x join y on y.b is not distinct from x.b \
                 and x.c = y.a"
            )
        ),
        ["1"]
    );
}

/// A LATERAL subquery whose select list reads the outer row (it was refused) answers
/// per outer row: over a LEFT join, a row the subquery or the ON condition leaves
/// unmatched has NULL for every subquery column, even one computed from the outer
/// row alone (`coalesce(x.n_name, ..)`), and ON may read such a column.
#[test]
fn lateral_select_lists_read_the_outer_row() {
    let cluster = cluster();
    assert_eq!(
        rows(
            &cluster,
            "select x.n_name, y.k, y.r, y.c from nation x left join lateral \
             (select x.n_nationkey * 10 + r.r_regionkey as k, r.r_name as r, \
             coalesce(x.n_name, r.r_name) as c from region r \
             where r.r_regionkey = x.n_regionkey and r.r_regionkey < 2) y on y.k < 30 \
             where x.n_nationkey < 6 order by x.n_nationkey"
        ),
        [
            "ALGERIA|0|AFRICA|ALGERIA",
            "ARGENTINA|11|AMERICA|ARGENTINA",
            "BRAZIL|21|AMERICA|BRAZIL",
            // Matched by the subquery, refused by ON (k = 31).
            "CANADA|||",
            // EGYPT is in region 4: no row of the subquery.
            "EGYPT|||",
            "ETHIOPIA|||"
        ]
    );
    // Only the outer row, no FROM.
    assert_eq!(
        rows(
            &cluster,
            "select n_name, y.z from nation n, lateral (select n.n_nationkey + 1 as z) y \
             where n_nationkey < 3 order by 1"
        ),
        ["ALGERIA|1", "ARGENTINA|2", "BRAZIL|3"]
    );
    // An alias named as the column the correlation reads (DataFusion's rewrite made
    // the two ambiguous).
    assert_eq!(
        rows(
            &cluster,
            "select x.n_name, y.r_regionkey from nation x join lateral \
             (select l.r_name as r_regionkey from region l \
             where l.r_regionkey = x.n_regionkey) y on true \
             where x.n_nationkey < 3 order by 1"
        ),
        ["ALGERIA|AFRICA", "ARGENTINA|AMERICA", "BRAZIL|AMERICA"]
    );
    // Over an aggregate, a count over no rows is 0: the same answers as the scalar
    // subquery.
    let lateral = rows(
        &cluster,
        "select x.n_nationkey, y.c from nation x cross join lateral \
         (select x.n_nationkey * 100 + count(*) as c from supplier s \
         where s.s_nationkey = x.n_nationkey and s.s_acctbal > 8000) y order by 1",
    );
    let scalar = rows(
        &cluster,
        "select x.n_nationkey, x.n_nationkey * 100 + (select count(*) from supplier s \
         where s.s_nationkey = x.n_nationkey and s.s_acctbal > 8000) from nation x order by 1",
    );
    assert_eq!(lateral.len(), 25);
    assert!(lateral.contains(&"5|500".to_string()), "{lateral:?}");
    assert_eq!(lateral, scalar);
    // Its outer references folded away (`null <= x.n_nationkey`), a plain join.
    assert_eq!(
        rows(
            &cluster,
            "select count(*) from nation x join lateral (select r_name from region \
             where null <= x.n_nationkey) y on true"
        ),
        ["0"]
    );
}

/// A LATERAL subquery that orders and limits its rows, aggregates, or numbers them
/// with a window answers per outer row (it was refused), as the same query written
/// with a window over the join does.
#[test]
fn lateral_subqueries_limit_and_number_rows_per_outer_row() {
    let cluster = cluster();
    // The two best-funded suppliers of each nation, and the second one past 9000.
    let lateral = rows(
        &cluster,
        "select n_nationkey, y.s, y.b from nation n cross join lateral (select s_name as s, \
         s_acctbal as b from supplier where s_nationkey = n.n_nationkey \
         order by s_acctbal desc limit 2) y order by 1, 3 desc, 2",
    );
    let windowed = rows(
        &cluster,
        "select n_nationkey, s_name, s_acctbal from (select n_nationkey, s_name, s_acctbal, \
         row_number() over (partition by n_nationkey order by s_acctbal desc) rn from nation \
         join supplier on s_nationkey = n_nationkey) t where rn <= 2 order by 1, 3 desc, 2",
    );
    assert!(lateral.len() > 25, "{lateral:?}");
    assert_eq!(lateral, windowed);
    let second = rows(
        &cluster,
        "select n_nationkey, y.s from nation n left join lateral (select s_name as s from \
         supplier where s_nationkey = n.n_nationkey and s_acctbal > 7000 \
         order by s_acctbal desc limit 1 offset 1) y on true order by 1",
    );
    let windowed = rows(
        &cluster,
        "select n_nationkey, t.s_name from nation left join (select s_nationkey, s_name, \
         row_number() over (partition by s_nationkey order by s_acctbal desc) rn \
         from supplier where s_acctbal > 7000) t on s_nationkey = n_nationkey and rn = 2 \
         order by 1",
    );
    assert_eq!(second.len(), 25);
    assert!(second.iter().any(|row| row.ends_with('|')), "{second:?}");
    assert_eq!(second, windowed);
    // A window inside: numbered within each nation's suppliers.
    let numbered = rows(
        &cluster,
        "select n_nationkey, y.s, y.place from nation n join lateral (select s_name as s, \
         row_number() over (order by s_acctbal desc) as place from supplier \
         where s_nationkey = n.n_nationkey) y on y.place <= 2 order by 1, 3",
    );
    let windowed = rows(
        &cluster,
        "select n_nationkey, s_name, rn from (select n_nationkey, s_name, row_number() over \
         (partition by n_nationkey order by s_acctbal desc) rn from nation \
         join supplier on s_nationkey = n_nationkey) t where rn <= 2 order by 1, 3",
    );
    assert!(
        numbered.iter().any(|row| row.ends_with("|2")),
        "{numbered:?}"
    );
    assert_eq!(numbered, windowed);
    // A grouped subquery whose HAVING reads the outer row, and ORDER BY without LIMIT.
    let having = rows(
        &cluster,
        "select n_nationkey, y.r from nation n join lateral (select r_regionkey as r \
         from region group by r_regionkey having r_regionkey = n.n_regionkey \
         order by 1) y on true order by 1",
    );
    let joined = rows(
        &cluster,
        "select n_nationkey, n_regionkey from nation order by 1",
    );
    assert_eq!(having, joined);
    // Inside a correlated subquery (a CTE read twice), the LATERAL's reads of its
    // left input are its own, not a correlation two levels out.
    // Correlated by `=`, which DataFusion decorrelates, and by IS NOT DISTINCT FROM
    // and `<=`, which go over the distinct outer values (domain_subqueries).
    for correlation in [
        "w2.c0 = w.c0",
        "w2.c0 is not distinct from w.c0",
        "w2.c0 <= w.c0",
    ] {
        let query = |from: &str| {
            format!(
                "with w as (select x.n_nationkey as c0 from nation x {from}) select w.c0, \
                 (select count(*) from w w2 where {correlation}) from w order by 1, 2"
            )
        };
        let lateral = rows(
            &cluster,
            &query(
                "join lateral (select r_name from region r \
                 where r.r_regionkey < x.n_regionkey) z on true",
            ),
        );
        let joined = rows(
            &cluster,
            &query("join region r on r.r_regionkey < x.n_regionkey"),
        );
        assert!(lateral.len() > 25, "{correlation}: {lateral:?}");
        assert_eq!(lateral, joined, "{correlation}");
    }
}

/// `(select n.x + 1)`, a subquery with no FROM, is its expression over the outer
/// row, wherever it stands and however deep (DataFusion refused it).
#[test]
fn subqueries_without_from_read_the_outer_row() {
    let cluster = cluster();
    assert_eq!(
        rows(
            &cluster,
            "select n_nationkey, (select n_nationkey + 1), (select n_name) from nation \
             where (select n_regionkey) = 1 order by (select -n_nationkey) limit 2"
        ),
        ["24|25|UNITED STATES", "17|18|PERU"]
    );
    assert_eq!(
        rows(
            &cluster,
            "select count(*) from nation n where exists (select 1 from region \
             where r_regionkey = (select n.n_regionkey) and r_name like 'A%')"
        ),
        ["15"]
    );
    assert_eq!(
        rows(
            &cluster,
            "select n_nationkey, (select (select n_nationkey * 2)), \
             (select max(r_regionkey + (select n.n_regionkey)) from region) \
             from nation n order by 1 limit 2"
        ),
        ["0|0|4", "1|2|5"]
    );
}

/// A join's build keys filter the scan under its probe side (a runtime filter): the
/// answers are those of the same joins on a computed key, which no filter reaches,
/// and EXPLAIN ANALYZE says how many scanned rows the filter kept.
#[test]
fn runtime_filters_change_no_answer_and_are_reported() {
    let cluster = cluster();
    let cases = [
        "select count(*), sum(l_quantity) from lineitem join part on {l} = p_partkey \
         where p_size = 1",
        "select count(*) from lineitem where {l} in (select p_partkey from part where p_size = 1)",
        "select count(*) from part where p_size = 1 \
         and not exists (select 1 from lineitem where {l} = p_partkey)",
        "select count(*), sum(o_totalprice) from orders join lineitem on o_orderkey = l_orderkey \
         join part on {l} = p_partkey where p_size < 3 and l_quantity > 40",
        "select count(*) from lineitem left join orders on l_orderkey = o_orderkey \
         and o_orderstatus = 'F' join part on {l} = p_partkey where p_size = 2",
        "select p_size, count(l_orderkey) from part left join lineitem on {l} = p_partkey \
         where p_size < 3 group by p_size order by p_size",
        // Through the group key of an aggregation: the groups of other parts go.
        "select count(*), sum(q) from part join (select {l} as k, sum(l_quantity) as q \
         from lineitem group by {l}) t on k = p_partkey where p_size = 1",
        "select count(*) from part where p_size = 1 and p_partkey in \
         (select {l} from lineitem group by {l} having sum(l_quantity) > 100)",
        // Through both branches of a union.
        "select count(*), sum(q) from part join (select {l} as k, l_quantity as q \
         from lineitem where l_quantity < 10 union all select {l}, l_quantity \
         from lineitem where l_quantity > 45) t on k = p_partkey where p_size = 1",
    ];
    for case in cases {
        let filtered = case.replace("{l}", "l_partkey");
        let unfiltered = case.replace("{l}", "(l_partkey + 0)");
        assert_eq!(
            rows(&cluster, &filtered),
            rows(&cluster, &unfiltered),
            "{filtered}"
        );
    }
    // Through the partition key of a window over part, partitioned on it already.
    let windowed = "select count(*), sum(r) from (select {p} as k, row_number() over \
                    (partition by {p} order by p_size, p_name) as r from part) t \
                    join partsupp on k = ps_partkey where ps_availqty < 100";
    assert_eq!(
        rows(&cluster, &windowed.replace("{p}", "p_partkey")),
        rows(&cluster, &windowed.replace("{p}", "(p_partkey + 0)")),
    );
    // Parts of one size are 2% of lineitem's rows.
    for case in [cases[0], cases[6], cases[8]] {
        let case = case.replace("{l}", "l_partkey");
        assert_filtered(&cluster, &case, 10);
    }
}

/// A probe key read from a hash exchange is tested by the exchange's producers:
/// every order goes to the anti join of a fifth of the customers (TPC-H Q22), or to
/// a semi join. Keys cast to decimals carry no filter. Producers send what the
/// channels hold before the join's build is done; with one small batch per channel,
/// most rows wait for the filter.
#[test]
fn runtime_filters_reach_the_producers_of_an_exchange() {
    let cluster = Cluster::start_tpch(
        0.01,
        ClusterConfig::new(2)
            .with_batch_rows(256)
            .with_exchange_buffer_batches(1),
    )
    .expect("cluster starts");
    let exchanged = [
        "select count(*), sum(c_acctbal) from customer where c_mktsegment = 'BUILDING' \
         and not exists (select 1 from orders where {o} = {c})",
        "select count(*), sum(o_totalprice) from orders where {o} in \
         (select {c} from customer where c_mktsegment = 'BUILDING')",
    ];
    for case in exchanged {
        let filtered = case.replace("{o}", "o_custkey").replace("{c}", "c_custkey");
        let unfiltered = case
            .replace("{o}", "o_custkey::numeric")
            .replace("{c}", "c_custkey::numeric");
        assert_eq!(
            rows(&cluster, &filtered),
            rows(&cluster, &unfiltered),
            "{filtered}"
        );
    }
    let anti = exchanged[0]
        .replace("{o}", "o_custkey")
        .replace("{c}", "c_custkey");
    let analyzed = assert_filtered(&cluster, &anti, 3);
    // The orders are hashed to the join: only their producers could test them.
    assert!(analyzed.contains("hash(o_custkey"), "{analyzed}");
}

/// Asserts EXPLAIN ANALYZE of `case` reports a runtime filter that kept fewer than
/// one in `fewer_by` of the rows it tested; returns the report.
fn assert_filtered(cluster: &Cluster, case: &str, fewer_by: u64) -> String {
    let analyzed = rows(cluster, &format!("explain analyze {case}")).join("\n");
    let line = analyzed
        .lines()
        .find(|line| line.contains("runtime filter"))
        .unwrap_or_else(|| panic!("no runtime filter in {analyzed}"));
    let counts: Vec<u64> = line
        .split_whitespace()
        .filter_map(|word| word.parse().ok())
        .collect();
    let [.., kept, tested] = counts[..] else {
        panic!("no counts in {line}");
    };
    assert!(kept * fewer_by < tested, "{case}: {line}");
    analyzed
}

/// A column compared with an uncorrelated scalar subquery joins the subquery's one row
/// as a key, first, so the filter cuts its table before the other joins (EXPLAIN: the
/// join on `c_nationkey` has customer on one side and nation on the other). Answers
/// as the constant written out; no row where the subquery has none, and 21000 where
/// it has several.
#[test]
fn a_column_compared_with_a_scalar_subquery_is_filtered_before_the_joins() {
    let cluster = cluster();
    let query = |nation: &str| {
        format!(
            "select count(*), sum(l_quantity) from lineitem, orders, customer \
             where l_orderkey = o_orderkey and o_custkey = c_custkey \
             and c_nationkey = {nation}"
        )
    };
    let subquery = query("(select n_nationkey from nation where n_name = 'FRANCE')");
    let answer = rows(&cluster, &subquery);
    assert_eq!(answer, rows(&cluster, &query("6")));
    assert_ne!(answer[0].split('|').next(), Some("0"), "{answer:?}");
    let plan = rows(&cluster, &format!("explain {subquery}")).join("\n");
    let join = plan
        .lines()
        .position(|line| line.contains("HashJoin(Inner) on [c_nationkey"))
        .unwrap_or_else(|| panic!("{plan}"));
    let below: Vec<&str> = plan.lines().skip(join + 1).take(3).collect();
    assert!(
        below.iter().any(|line| line.contains("Scan customer"))
            && !below.iter().any(|line| line.contains("lineitem")),
        "{plan}"
    );
    let none = query("(select n_nationkey from nation where n_name = 'ATLANTIS')");
    assert_eq!(rows(&cluster, &none), ["0|"]);
    let several = query("(select n_nationkey from nation where n_regionkey = 0)");
    let error = cluster.sql(&several).unwrap_err();
    assert_eq!(error.code, ErrorCode::CardinalityViolation, "{error}");
}
