//! Goal: all 22 TPC-H queries return the reference answers at SF 0.01, on one core
//! and on two, with normal and tiny batches and exchange buffers.

use percore_bench::harness::check_queries;
use percore_engine::session::{Cluster, ClusterConfig};

fn run_all(config: ClusterConfig) {
    let cluster = Cluster::start_tpch(0.01, config).expect("cluster starts");
    let failures = check_queries(&cluster, 0.01, &(1..=22).collect::<Vec<_>>());
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn tpch_sf001_one_core() {
    run_all(ClusterConfig::new(1));
}

#[test]
fn tpch_sf001_two_cores() {
    run_all(ClusterConfig::new(2));
}

#[test]
fn tpch_sf001_three_partitions_single_batch_exchange_buffers() {
    run_all(
        ClusterConfig::new(3)
            .with_exchange_buffer_batches(1)
            .with_batch_rows(100),
    );
}
