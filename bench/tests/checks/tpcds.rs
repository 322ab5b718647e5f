//! Goal: the 99 TPC-DS queries over the SF 0.01 tables (Parquet files in
//! `bench/tpcds/data/sf0.01`, DuckDB's dsdgen output) as external tables give the
//! official answers (`bench/tpcds/answers/sf0.01`), on 1, 2 and 3 partitions (the
//! last with batches of 100 rows and one-batch exchange buffers). Queries that do not
//! pass yet would be listed with the reason; one of them passing fails the test too,
//! so the list stays true.

use percore_bench::answers::format_rows;
use percore_bench::harness::Check;
use percore_bench::tpcds::{cluster_over, query_sql, tpcds_dir, verify};
use percore_engine::session::ClusterConfig;

/// Queries that fail today, and why.
const KNOWN_FAILING: &[(usize, &str)] = &[];

fn check_all(config: ClusterConfig) {
    let cluster = cluster_over(&tpcds_dir().join("data/sf0.01"), config, "").expect("tables");
    let mut unexpected = Vec::new();
    let mut passed = 0;
    for query in 1..=99 {
        let sql = query_sql(query).expect("query file");
        let outcome = match cluster.sql(&sql) {
            Ok(batches) => match verify(0.01, query, &sql, format_rows(&batches).unwrap()) {
                Check::Passed => Ok(()),
                Check::Failed(why) => Err(why),
                Check::Unverified => Err("no answer file".to_string()),
            },
            Err(error) => Err(error.to_string()),
        };
        let known = KNOWN_FAILING.iter().find(|(q, _)| *q == query);
        match (outcome, known) {
            (Ok(()), None) => passed += 1,
            (Ok(()), Some(_)) => {
                unexpected.push(format!("q{query:02} passes now: take it off KNOWN_FAILING"))
            }
            (Err(_), Some(_)) => {}
            (Err(error), None) => {
                let error: String = error.chars().take(400).collect();
                unexpected.push(format!("q{query:02}: {error}"));
            }
        }
    }
    eprintln!(
        "TPC-DS SF 0.01: {passed} of 99 pass ({} known failing)",
        KNOWN_FAILING.len()
    );
    assert!(unexpected.is_empty(), "{}", unexpected.join("\n"));
}

#[test]
fn tpcds_sf001_two_cores() {
    check_all(ClusterConfig::new(2));
}

#[test]
fn tpcds_sf001_one_core() {
    check_all(ClusterConfig::new(1));
}

#[test]
fn tpcds_sf001_three_partitions_small_batches_one_batch_exchanges() {
    check_all(
        ClusterConfig::new(3)
            .with_batch_rows(100)
            .with_exchange_buffer_batches(1),
    );
}
