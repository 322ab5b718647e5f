//! Goal: all 22 TPC-H queries return the reference answers at SF 0.1: enough data for
//! every partition to hold many batches and every join to probe thousands of keys.

use percore_bench::harness::check_queries;
use percore_engine::session::{Cluster, ClusterConfig};

fn run_at(cores: usize) {
    let cluster = Cluster::start_tpch(0.1, ClusterConfig::new(cores)).expect("cluster starts");
    let failures = check_queries(&cluster, 0.1, &(1..=22).collect::<Vec<_>>());
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn tpch_sf01_one_core() {
    run_at(1);
}

#[test]
fn tpch_sf01_two_cores() {
    run_at(2);
}
