//! Goal: a CTE the statement names more than once is computed once, before the rest,
//! and answers exactly as the same statement with the CTE written out at each
//! reference; a CTE too large for every node to hold stays inline. Computed once,
//! a volatile CTE gives every reference the same rows (as in PostgreSQL); written
//! out, each reference draws its own, which is how the tests tell the two apart.

use percore_engine::session::Cluster;
use percore_engine::settings::SessionSettings;

use crate::common;

use common::{cluster, joined_rows};

/// The statement `WITH ctes body` against the same statement with every `{name}`
/// in `body` (and in the CTEs' queries) written out as its CTE's query.
fn same_as_inline(cluster: &Cluster, ctes: &[(&str, &str)], body: &str) {
    let bare = |name: &str| name.split('(').next().unwrap().trim().to_string();
    let with: Vec<String> = ctes
        .iter()
        .map(|(name, query)| format!("{name} as ({query})"))
        .collect();
    let shared = format!("with {} {body}", with.join(", ")).replace(['{', '}'], "");
    let mut inline = body.to_string();
    for (name, query) in ctes.iter().rev() {
        let written = format!("(select * from ({query}) as {name})");
        inline = inline.replace(&format!("{{{}}}", bare(name)), &written);
    }
    assert!(!inline.contains('{'), "{inline}");
    let inline_answer = joined_rows(cluster, &inline);
    assert!(!inline_answer.is_empty(), "{inline}");
    assert_eq!(joined_rows(cluster, &shared), inline_answer, "{shared}");
}

#[test]
fn ctes_named_twice_answer_as_written_out() {
    let cluster = cluster();
    // Few rows (replicated on every partition), with column names of its own.
    same_as_inline(
        &cluster,
        &[(
            "c(k, n)",
            "select o_custkey, count(*) from orders group by o_custkey",
        )],
        "select count(*), sum(n) from {c} as c where k in \
         (select k from {c} as c2 where n > 20)",
    );
    // 15,000 rows, split over the partitions, joined with itself.
    same_as_inline(
        &cluster,
        &[(
            "o",
            "select o_orderkey, o_custkey, o_totalprice from orders",
        )],
        "select count(*), sum(o1.o_totalprice - o2.o_totalprice) from {o} as o1 \
         join {o} as o2 on o1.o_custkey = o2.o_custkey and o1.o_orderkey < o2.o_orderkey",
    );
    // A CTE named twice by a later one and by the statement; the later one once.
    same_as_inline(
        &cluster,
        &[
            (
                "s",
                "select l_suppkey as k, sum(l_quantity) as q from lineitem group by l_suppkey",
            ),
            (
                "top",
                "select k from {s} as s0 where q > (select avg(q) from {s} as s1)",
            ),
        ],
        "select count(*), min(q), max(q) from {s} as s2 where k in (select k from {top} as t) \
         group by q > 1500 order by 1",
    );
}

/// Each reference keeps the rows its own conditions pass: the CTE computed first
/// holds only the rows some reference keeps, and answers as written out.
#[test]
fn a_cte_computed_first_holds_only_the_rows_its_references_keep() {
    let cluster = cluster();
    let query = "select o_custkey, o_orderstatus, o_orderpriority, count(*) from orders \
                 group by 1, 2, 3";
    let body = "select count(*), sum(a.n - b.n) from {c} as a join {c} as b on a.k = b.k \
                where a.st = 'F' and b.st = 'O' and a.n > 1 and b.pr <> '1-URGENT'";
    same_as_inline(&cluster, &[("c(k, st, pr, n)", query)], body);
    let kept = joined_rows(
        &cluster,
        &format!(
            "select count(*) from ({query}) c(k, st, pr, n) \
             where (st = 'F' and n > 1) or (st = 'O' and pr <> '1-URGENT')"
        ),
    );
    let all = joined_rows(&cluster, &format!("select count(*) from ({query}) c"));
    assert!(kept[0].parse::<u64>().unwrap() < all[0].parse::<u64>().unwrap());
    let shared = format!("with c(k, st, pr, n) as ({query}) {body}").replace(['{', '}'], "");
    let analyzed = joined_rows(&cluster, &format!("explain analyze {shared}")).join("\n");
    assert!(
        analyzed.starts_with(&format!("CTE c computed first: {} row(s)", kept[0])),
        "{analyzed}"
    );
    // A reference with no condition of its own needs every row.
    let open = "select count(*) from {c} as a join {c} as b on a.k = b.k where a.st = 'F'";
    same_as_inline(&cluster, &[("c(k, st, pr, n)", query)], open);
    let shared = format!("with c(k, st, pr, n) as ({query}) {open}").replace(['{', '}'], "");
    let analyzed = joined_rows(&cluster, &format!("explain analyze {shared}")).join("\n");
    assert!(
        analyzed.starts_with(&format!("CTE c computed first: {} row(s)", all[0])),
        "{analyzed}"
    );
}

#[test]
fn a_volatile_cte_gives_every_reference_the_same_rows() {
    let cluster = cluster();
    let sql = "with a as (select random() as r from generate_series(1, 20000)) \
               select count(*) from a x join a y on x.r = y.r";
    assert_eq!(joined_rows(&cluster, sql), ["20000"]);
    let analyzed = joined_rows(&cluster, &format!("explain analyze {sql}")).join("\n");
    assert!(
        analyzed.starts_with("CTE a computed first: 20000 row(s), held split over the partitions"),
        "{analyzed}"
    );
}

/// Under 4 MB a core, a CTE of 20,000 rows of 500 bytes does not fit: it stays
/// inline, where each reference draws its own random numbers.
#[test]
fn a_cte_over_the_memory_budget_stays_inline() {
    let cluster = cluster();
    let mut settings = SessionSettings::default();
    cluster
        .sql_in("set percore.memory_per_core = '4MB'", &mut settings)
        .unwrap();
    let sql = "with a as (select random() as r, repeat('x', 500) as pad \
               from generate_series(1, 20000)) \
               select count(*) from (select r from a) x join (select r from a) y on x.r = y.r";
    let (batches, _) = cluster.sql_in(sql, &mut settings).unwrap();
    let count = batches[0]
        .column(0)
        .as_any()
        .downcast_ref::<arrow::array::Int64Array>()
        .unwrap()
        .value(0);
    assert_eq!(count, 0);
    assert_eq!(joined_rows(&cluster, sql), ["20000"]);
}

/// PostgreSQL's `AS MATERIALIZED` and `AS NOT MATERIALIZED` are taken, with the
/// rows of the CTE written without them.
#[test]
fn materialization_hints_give_the_rows_of_the_plain_cte() {
    let cluster = cluster();
    let sql = "with c as {} (select o_custkey as k, count(*) as n from orders group by 1) \
               select count(*), sum(n) from c where k in (select k from c where n > 20)";
    let plain = joined_rows(&cluster, &sql.replace("{}", ""));
    assert!(!plain[0].starts_with("0|"), "{plain:?}");
    for hint in ["materialized", "NOT MATERIALIZED"] {
        assert_eq!(
            joined_rows(&cluster, &sql.replace("{}", hint)),
            plain,
            "{hint}"
        );
    }
}
