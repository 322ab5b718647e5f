//! Goal: GROUPING SETS, ROLLUP and CUBE give PostgreSQL's rows on TPC-H data spread
//! over partitions: a NULL where a set lacks a column, `grouping()` saying so, a set
//! named twice answered twice, and the grand total present even over no rows.

use arrow::util::display::array_value_to_string;
use percore_engine::session::{Cluster, ClusterConfig};

fn rows(cluster: &Cluster, sql: &str) -> Vec<Vec<String>> {
    let batches = cluster.sql(sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
    let mut rows = Vec::new();
    for batch in &batches {
        for row in 0..batch.num_rows() {
            rows.push(
                batch
                    .columns()
                    .iter()
                    .map(|column| array_value_to_string(column, row).unwrap())
                    .collect(),
            );
        }
    }
    rows
}

#[test]
fn rollup_cube_and_grouping_sets_answer_like_postgresql() {
    let cluster = Cluster::start_tpch(0.01, ClusterConfig::new(2)).expect("cluster starts");
    let rollup = rows(
        &cluster,
        "select n_regionkey, count(*), grouping(n_regionkey) from nation \
         where n_regionkey < 2 group by rollup(n_regionkey) order by 1 nulls last",
    );
    assert_eq!(
        rollup,
        [["0", "5", "0"], ["1", "5", "0"], ["", "10", "1"]].map(|r| r.map(String::from).to_vec())
    );
    let cube = rows(
        &cluster,
        "select r_name, n_regionkey, count(*) from nation join region \
         on n_regionkey = r_regionkey group by cube(r_name, n_regionkey)",
    );
    // 5 (name, key) pairs, 5 names, 5 keys and the total.
    assert_eq!(cube.len(), 16);
    let twice = rows(
        &cluster,
        "select n_regionkey, count(*) from nation group by grouping sets \
         ((n_regionkey), (n_regionkey), ()) order by 1 nulls last, 2",
    );
    assert_eq!(twice.len(), 11);
    assert_eq!(twice[0], twice[1]);
    let empty = rows(
        &cluster,
        "select n_regionkey, count(*), sum(n_nationkey) from nation where n_nationkey < 0 \
         group by rollup(n_regionkey)",
    );
    assert_eq!(empty, [["", "0", ""].map(String::from).to_vec()]);
}
