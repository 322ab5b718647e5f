//! Goal: arrays are values, as in PostgreSQL: `ARRAY[..]`, `'{..}'::T[]`,
//! `ARRAY(subquery)` (correlated too, in the subquery's order, `{}` for no rows),
//! subscripts, `array_upper`, comparisons with a text literal read as an array of
//! the other side's element type; and a SELECT over a table the catalog knows to be
//! empty plans even where its select list has a subquery Percore cannot plan.

use crate::common;

use common::{cluster, joined_rows, rows};

#[test]
fn written_out_arrays_are_values() {
    let cluster = cluster();
    assert_eq!(
        rows(
            &cluster,
            "select array[1, 2], '{x,\"y z\",NULL}'::text[], (array[10, 20, 30])[2], \
             cardinality('{}'::int[]), array[1, 2] || array[3]"
        ),
        [["[1, 2]", "[x, y z, ]", "20", "0", "[1, 2, 3]"]]
    );
    assert_eq!(
        rows(
            &cluster,
            "select array_upper(array[5, 6, 7], 1), array_lower(array[5, 6], 1), \
             array_upper('{}'::int[], 1), array_lower('{}'::int[], 1), \
             array_to_string(array['a', null, 'b'], '-')"
        ),
        [["3", "1", "", "", "a-b"]]
    );
}

#[test]
fn array_subqueries_collect_their_column_in_order() {
    let cluster = cluster();
    // Correlated, against the same lists built by string_agg.
    let arrays = joined_rows(
        &cluster,
        "select r_name, array_to_string(array(select n_name from nation \
         where n_regionkey = r_regionkey order by n_name desc), ',') from region order by 1",
    );
    let aggregated = joined_rows(
        &cluster,
        "select r_name, string_agg(n_name, ',' order by n_name desc) from region \
         join nation on n_regionkey = r_regionkey group by r_name order by 1",
    );
    assert_eq!(arrays.len(), 5);
    assert_eq!(arrays, aggregated);
    // Limited: the subquery is kept whole, its sort key computed beside the value.
    assert_eq!(
        rows(
            &cluster,
            "select array(select n_nationkey from nation order by n_name desc limit 3)"
        ),
        [["[21, 24, 23]"]]
    );
    // Aggregated in the subquery, and no rows at all.
    assert_eq!(
        rows(
            &cluster,
            "select cardinality(array(select count(*) from nation group by n_regionkey)), \
             cardinality(array(select 1 where false))"
        ),
        [["5", "0"]]
    );
    let error = cluster
        .sql("select array(select n_name, n_nationkey from nation)")
        .unwrap_err();
    assert!(error.message.contains("one column"), "{error:?}");
}

#[test]
fn text_compared_with_an_array_is_read_as_one() {
    let cluster = cluster();
    assert_eq!(
        rows(
            &cluster,
            "select array[1, 2] = '{1,2}', '{1,3}' > array[1, 2], \
             array['a'] <> '{\"a\"}'"
        ),
        [["true", "true", "false"]]
    );
    for malformed in ["'{1,x}'", "'1,2'"] {
        let sql = format!("select array[1, 2] = {malformed}");
        let error = cluster.sql(&sql).unwrap_err();
        assert!(
            error.message.contains("array") || error.message.contains("x"),
            "{sql}: {error:?}"
        );
    }
}

#[test]
fn blocks_over_empty_catalog_tables_need_no_plan_for_their_subqueries() {
    let cluster = cluster();
    // A lateral call in a select-list subquery, over pg_publication_rel (empty):
    // psql's `\d TABLE` asks this.
    let sql = "select pubname, (select string_agg(attname, ', ') \
               from pg_catalog.generate_series(0, pg_catalog.array_upper(pr.prattrs::pg_catalog.int2[], 1)) s, \
               pg_catalog.pg_attribute where attrelid = pr.prrelid and attnum = prattrs[s]) \
               from pg_catalog.pg_publication p join pg_catalog.pg_publication_rel pr \
               on p.oid = pr.prpubid";
    assert_eq!(rows(&cluster, sql), Vec::<Vec<String>>::new());
    // The same subquery over a table with rows is still refused.
    let over_rows = sql
        .replace(
            "pg_catalog.pg_publication_rel pr",
            "(select 1 as prpubid, 1 as prrelid, array[1] as prattrs) pr",
        )
        .replace(
            "pg_catalog.pg_publication p",
            "(select 1 as oid, 'x' as pubname) p",
        );
    assert!(cluster.sql(&over_rows).is_err(), "{over_rows}");
    // A join that keeps the other side's rows keeps its subqueries too.
    assert_eq!(
        rows(
            &cluster,
            "select r_name, (select count(*) from nation where n_regionkey = r_regionkey) \
             from pg_catalog.pg_policy pol right join region on pol.polrelid = r_regionkey \
             order by 1 limit 1"
        ),
        [["AFRICA", "5"]]
    );
    // psql's query for a table's row-level policies.
    let policies = "SELECT pol.polname, pol.polpermissive, \
        CASE WHEN pol.polroles = '{0}' THEN NULL ELSE pg_catalog.array_to_string(array(select \
        rolname from pg_catalog.pg_roles where oid = any (pol.polroles) order by 1),',') END, \
        pg_catalog.pg_get_expr(pol.polqual, pol.polrelid) \
        FROM pg_catalog.pg_policy pol WHERE pol.polrelid = '16385' ORDER BY 1";
    assert_eq!(rows(&cluster, policies), Vec::<Vec<String>>::new());
}

#[test]
fn unnest_makes_a_row_of_each_element() {
    let cluster = cluster();
    // In the select list, next to the row's other columns; NULL elements stay rows.
    assert_eq!(
        joined_rows(
            &cluster,
            "select n_nationkey, unnest(array[n_nationkey * 10, n_regionkey, null]) \
             from nation where n_nationkey < 2 order by 1, 2"
        ),
        ["0|0", "0|0", "0|", "1|1", "1|10", "1|"]
    );
    // Two in one list zip, the shorter padded with NULL, as in PostgreSQL.
    assert_eq!(
        joined_rows(
            &cluster,
            "select unnest(array[1, 2]) a, unnest(array['x', 'y', 'z']) b order by 2"
        ),
        ["1|x", "2|y", "|z"]
    );
    // A NULL or empty array makes no row.
    assert_eq!(
        rows(
            &cluster,
            "select count(*) from (select unnest(case when n_nationkey % 3 = 0 then null \
             when n_nationkey % 3 = 1 then '{}'::int[] else array[n_nationkey] end) \
             from nation) t"
        ),
        [["8"]]
    );
    // Over every row of a table, on both cores: every key twice.
    assert_eq!(
        rows(
            &cluster,
            "select count(*), sum(v) - 2 * (select sum(o_orderkey) from orders) \
             from (select unnest(array[o_orderkey, o_orderkey]) v from orders) t"
        ),
        [["30000", "0"]]
    );
    // In FROM, with the alias naming the column, as psql's `\d+` writes it.
    assert_eq!(
        joined_rows(
            &cluster,
            "select 'toast.' || x from pg_catalog.unnest(array['a', 'b']) x order by 1"
        ),
        ["toast.a", "toast.b"]
    );
    assert_eq!(
        joined_rows(
            &cluster,
            "select u.v from unnest(array[3, 4]) as u(v) order by 1"
        ),
        ["3", "4"]
    );
}

#[test]
fn unnest_reads_the_from_items_before_it() {
    let cluster = cluster();
    let array = "case when n_nationkey = 1 then null when n_nationkey = 2 then '{}'::bigint[] \
                 else array[n_nationkey, n_regionkey * 100] end";
    // A NULL or empty array makes no row; a LEFT JOIN LATERAL keeps its row.
    assert_eq!(
        joined_rows(
            &cluster,
            &format!(
                "select n_nationkey, u from nation, unnest({array}) u \
                 where n_nationkey < 4 order by 1, 2"
            )
        ),
        ["0|0", "0|0", "3|3", "3|100"]
    );
    assert_eq!(
        joined_rows(
            &cluster,
            &format!(
                "select n_nationkey, u from nation left join lateral unnest({array}) u on true \
                 where n_nationkey < 4 order by 1, 2"
            )
        ),
        ["0|0", "0|0", "1|", "2|", "3|3", "3|100"]
    );
    // Over every row of a table: each row's own elements, none lost or repeated.
    assert_eq!(
        rows(
            &cluster,
            "select count(*), sum(v - o_orderkey) from orders \
             cross join lateral unnest(array[o_orderkey, o_orderkey + 1]) as u(v)"
        ),
        [["30000", "15000"]]
    );
    // WITH ORDINALITY numbers each row's elements from 1.
    assert_eq!(
        joined_rows(
            &cluster,
            "select n_nationkey, x, n from nation \
             cross join lateral unnest(array[n_nationkey * 2, n_nationkey * 3]) \
             with ordinality as u(x, n) where n_nationkey in (5, 6) order by 1, 3"
        ),
        ["5|10|1", "5|15|2", "6|12|1", "6|18|2"]
    );
    assert_eq!(
        joined_rows(
            &cluster,
            "select * from unnest(array['a', 'b'], array[true]) with ordinality as u(s, b, n)"
        ),
        ["a|true|1", "b||2"]
    );
}

#[test]
fn subqueries_unnest_the_outer_row_arrays() {
    let cluster = cluster();
    // psql's `\d+` reads `array(select .. from pg_catalog.unnest(tc.reloptions) x)`.
    assert_eq!(
        joined_rows(
            &cluster,
            "select n_nationkey, \
             (select count(*) from unnest(array[n_nationkey, n_regionkey, null]) x where x > 0), \
             array_to_string(array(select 'x' || x from unnest(array[n_nationkey, n_regionkey]) x \
             order by x desc), ',') from nation where n_nationkey < 3 order by 1"
        ),
        ["0|0|x0,x0", "1|2|x1,x1", "2|2|x2,x1"]
    );
    assert_eq!(
        joined_rows(
            &cluster,
            "select n_nationkey from nation where exists \
             (select 1 from unnest(array[n_nationkey, n_regionkey]) x where x = 3) order by 1"
        ),
        ["3", "6", "7", "19", "22", "23"]
    );
    assert_eq!(
        rows(
            &cluster,
            "select count(*) from nation where not exists \
             (select 1 from unnest(array[n_nationkey, n_regionkey]) x where x = 3)"
        ),
        [["19"]]
    );
}

#[test]
fn generate_series_in_a_select_list_makes_rows() {
    let cluster = cluster();
    assert_eq!(
        joined_rows(&cluster, "select generate_series(1, 3) + 1 order by 1"),
        ["2", "3", "4"]
    );
    // A series of no numbers leaves its row out, as in PostgreSQL.
    assert_eq!(
        joined_rows(
            &cluster,
            "select n_nationkey, generate_series(1, n_regionkey) from nation \
             where n_nationkey < 3 order by 1, 2"
        ),
        ["1|1", "2|1"]
    );
    assert_eq!(
        joined_rows(
            &cluster,
            "select n_nationkey, g from nation, lateral (select generate_series(n_regionkey, 2) g) s \
             where n_nationkey in (0, 6) order by 1, 2"
        ),
        ["0|0", "0|1", "0|2"]
    );
}

#[test]
fn array_subqueries_hold_subqueries_of_their_own() {
    let cluster = cluster();
    // The inner count is correlated through `<` (evaluated over the nations' keys),
    // inside a subquery correlated with the region (psql's `\dp` has this shape).
    assert_eq!(
        joined_rows(
            &cluster,
            "select r_name, array_to_string(array(select n_name || ':' || \
             (select count(*) from supplier where s_nationkey < n_nationkey) \
             from nation where n_regionkey = r_regionkey order by n_name), ',') \
             from region where r_regionkey in (0, 3) order by 1"
        ),
        [
            "AFRICA|ALGERIA:0,ETHIOPIA:17,KENYA:46,MOROCCO:52,MOZAMBIQUE:54",
            "EUROPE|FRANCE:20,GERMANY:22,ROMANIA:72,RUSSIA:84,UNITED KINGDOM:89"
        ]
    );
    // An aggregate inside the column's subquery is not the column's own.
    assert_eq!(
        joined_rows(
            &cluster,
            "select r_name, array_to_string(array(select n_name || ':' || \
             (select count(*) from supplier where s_nationkey = n_nationkey) \
             from nation where n_regionkey = r_regionkey order by n_name), ',') \
             from region where r_regionkey = 0"
        ),
        ["AFRICA|ALGERIA:3,ETHIOPIA:3,KENYA:6,MOROCCO:2,MOZAMBIQUE:7"]
    );
}
