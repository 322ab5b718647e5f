//! Goal: TPC-DS runs on a cluster as on one process. Three node processes (one core
//! each, small batches and one-batch exchange buffers, so every exchange crosses
//! nodes in many frames) read the SF 0.01 Parquet tables as external tables created
//! through one node, and a subset of the queries covering each kind of plan (window
//! functions, ROLLUP and grouping(), INTERSECT / EXCEPT, correlated subqueries, CTEs
//! read twice, the heavy joins of q72), each coordinated by a node in turn, gives the
//! official answers. The whole set runs in-process in `bench/tests/tpcds.rs`.

use percore_bench::harness::Check;
use percore_bench::tpcds::{query_sql, tpcds_dir, verify};
use percore_server::local::LocalClusterOptions;

use crate::common;

use common::{query, start};

/// One or more of every kind of plan TPC-DS has.
const QUERIES: [usize; 24] = [
    1, 4, 5, 8, 12, 14, 18, 20, 22, 27, 30, 36, 38, 47, 51, 57, 67, 70, 72, 77, 81, 86, 87, 98,
];

#[test]
fn tpcds_subset_on_three_nodes_gives_the_official_answers() {
    let mut options = LocalClusterOptions::new(3, 1, 0.0);
    options.batch_rows = 256;
    options.exchange_buffer_batches = 1;
    let cluster = start("tpcds", options);
    let mut clients: Vec<_> = (0..3)
        .map(|node| cluster.connect(node).expect("node accepts clients"))
        .collect();
    let data = tpcds_dir().join("data/sf0.01");
    let mut tables = 0;
    for entry in std::fs::read_dir(&data).expect("TPC-DS data") {
        let path = entry.expect("entry").path();
        let Some(name) = path
            .file_name()
            .and_then(|name| name.to_str())
            .and_then(|name| name.strip_suffix(".parquet"))
        else {
            continue;
        };
        query(
            &mut clients[0],
            &format!(
                "CREATE EXTERNAL TABLE {name} STORED AS PARQUET LOCATION '{}'",
                path.display()
            ),
        )
        .unwrap_or_else(|error| panic!("{name}: {error:?}"));
        tables += 1;
    }
    assert_eq!(tables, 24);
    let mut failures = Vec::new();
    for (turn, &number) in QUERIES.iter().enumerate() {
        let sql = query_sql(number).expect("query file");
        let node = turn % 3;
        match query(&mut clients[node], &sql) {
            Ok(rows) => match verify(0.01, number, &sql, rows) {
                Check::Passed => {}
                Check::Failed(why) => failures.push(format!("q{number:02} via node {node}: {why}")),
                Check::Unverified => failures.push(format!("q{number:02}: no answer file")),
            },
            Err((state, message)) => {
                failures.push(format!("q{number:02} via node {node}: {state} {message}"))
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
