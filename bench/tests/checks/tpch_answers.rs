//! Goal: all 22 TPC-H queries return the reference answers at SF 0.01 (on one, two and
//! three partitions, with tiny batches and exchange buffers) and at SF 0.1 (enough data
//! for every partition to hold many batches and every join to probe thousands of keys).

use percore_bench::harness::check_queries;
use percore_engine::session::{Cluster, ClusterConfig};

fn run_all(scale_factor: f64, config: ClusterConfig) {
    let cluster = Cluster::start_tpch(scale_factor, config).expect("cluster starts");
    let failures = check_queries(&cluster, scale_factor, &(1..=22).collect::<Vec<_>>());
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn tpch_sf001_one_core() {
    run_all(0.01, ClusterConfig::new(1));
}

#[test]
fn tpch_sf001_two_cores() {
    run_all(0.01, ClusterConfig::new(2));
}

#[test]
fn tpch_sf001_three_partitions_single_batch_exchange_buffers() {
    let config = ClusterConfig::new(3)
        .with_exchange_buffer_batches(1)
        .with_batch_rows(100);
    run_all(0.01, config);
}

#[test]
fn tpch_sf01_one_core() {
    run_all(0.1, ClusterConfig::new(1));
}

#[test]
fn tpch_sf01_two_cores() {
    run_all(0.1, ClusterConfig::new(2));
}
