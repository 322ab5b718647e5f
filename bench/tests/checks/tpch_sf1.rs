//! Goal: all 22 TPC-H queries match tpchgen's official SF 1 answers, through the same
//! harness `percore bench tpch` uses, on two cores.

use percore_bench::harness::{format_table, run, BenchOptions, Check};

#[test]
fn tpch_sf1_two_cores_match_the_official_answers() {
    let options = BenchOptions {
        scale_factor: 1.0,
        iterations: 1,
        cores: 2,
        queries: (1..=22).collect(),
        batch_rows: 8192,
        concurrency: 1,
        memory: Default::default(),
        baseline: None,
        parquet: None,
        load: false,
    };
    let (reports, _) = run(&options, |_| {}).expect("cluster starts");
    let failed: Vec<_> = reports
        .iter()
        .filter(|r| !matches!(r.check, Check::Passed))
        .collect();
    assert!(failed.is_empty(), "{}", format_table(&reports));
}
