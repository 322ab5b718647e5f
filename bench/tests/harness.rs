//! Goal: the harness measures what it says: concurrent clients all get verified
//! answers, and the exchanged-row count follows the plan (none on one core).

use percore_bench::harness::{run, BenchOptions, Check};

fn options(cores: usize, concurrency: usize) -> BenchOptions {
    BenchOptions {
        scale_factor: 0.01,
        iterations: 2,
        cores,
        queries: vec![3, 9, 18],
        batch_rows: 8192,
        concurrency,
    }
}

#[test]
fn concurrent_clients_are_all_verified_and_exchanges_are_counted() {
    let (reports, _) = run(&options(2, 3), |_| {}).expect("cluster starts");
    for report in &reports {
        assert!(matches!(report.check, Check::Passed), "{report:?}");
        assert!(report.p99_ms >= report.p50_ms, "{report:?}");
    }
    // Q9 joins lineitem with part and partsupp on keys lineitem is not partitioned by.
    let q9 = reports.iter().find(|r| r.query == 9).unwrap();
    assert!(
        q9.exchanged_rows.is_some_and(|rows| rows > 10_000),
        "{q9:?}"
    );

    let (reports, _) = run(&options(1, 1), |_| {}).expect("cluster starts");
    for report in &reports {
        assert!(matches!(report.check, Check::Passed), "{report:?}");
        assert_eq!(report.exchanged_rows, Some(0), "{report:?}");
    }
}
