//! Goal: all 22 TPC-H queries return the reference answers at SF 0.01, on one core
//! and on two, with normal and tiny batches and exchange buffers.

use percore_bench::answers::{compare, format_rows, load_answer};
use percore_bench::{query_sql, tpch_dir};
use percore_engine::session::{Cluster, ClusterConfig};

fn run_all(config: ClusterConfig, queries: &[usize]) {
    let cluster = Cluster::start_tpch(0.01, config).expect("cluster starts");
    let mut failures = Vec::new();
    for &number in queries {
        let sql = query_sql(number).unwrap();
        let expected =
            load_answer(&tpch_dir().join(format!("answers/sf0.01/q{number:02}.csv"))).unwrap();
        let outcome = cluster
            .sql(&sql)
            .map_err(|e| e.to_string())
            .and_then(|batches| format_rows(&batches))
            .and_then(|rows| compare(&rows, &expected, true));
        if let Err(error) = outcome {
            failures.push(format!("Q{number}: {error}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

const ALL: [usize; 22] = [
    1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22,
];

#[test]
fn tpch_sf001_one_core() {
    run_all(ClusterConfig::new(1), &ALL);
}

#[test]
fn tpch_sf001_two_cores() {
    run_all(ClusterConfig::new(2), &ALL);
}

#[test]
fn tpch_sf001_three_partitions_single_batch_exchange_buffers() {
    run_all(
        ClusterConfig::new(3)
            .with_exchange_buffer_batches(1)
            .with_batch_rows(100),
        &ALL,
    );
}
