//! Goal: all 22 TPC-H queries return the reference answers at SF 0.1 on two cores:
//! enough data for every partition to hold many batches and every join to probe
//! thousands of keys.

use percore_bench::answers::{compare, format_rows, load_answer};
use percore_bench::{query_sql, tpch_dir};
use percore_engine::session::{Cluster, ClusterConfig};

#[test]
fn tpch_sf01_two_cores() {
    run_at(0.1, 2);
}

fn run_at(scale_factor: f64, cores: usize) {
    let cluster =
        Cluster::start_tpch(scale_factor, ClusterConfig::new(cores)).expect("cluster starts");
    let mut failures = Vec::new();
    for number in 1..=22 {
        let sql = query_sql(number).unwrap();
        let path = tpch_dir().join(format!("answers/sf{scale_factor}/q{number:02}.csv"));
        let expected = load_answer(&path).unwrap();
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

#[test]
fn tpch_sf01_one_core() {
    run_at(0.1, 1);
}
