//! Goal: the harness measures what it says: concurrent clients all get verified
//! answers, the exchanged-row count follows the plan (none on one core), and a small
//! budget shows up as spilled bytes and reservations held near it.

use percore_bench::harness::{run, BenchOptions, Check};
use percore_engine::memory::MemorySettings;

fn options(cores: usize, concurrency: usize) -> BenchOptions {
    BenchOptions {
        scale_factor: 0.01,
        iterations: 2,
        cores,
        queries: vec![3, 9, 18],
        batch_rows: 8192,
        concurrency,
        memory: MemorySettings::default(),
        baseline: None,
        parquet: None,
        load: false,
    }
}

#[test]
fn concurrent_clients_are_all_verified_and_exchanges_are_counted() {
    let (reports, _) = run(&options(2, 3), |_| {}).expect("cluster starts");
    for report in &reports {
        assert!(matches!(report.check, Check::Passed), "{report:?}");
        assert!(report.p99_ms >= report.p50_ms, "{report:?}");
    }
    // Q9 broadcasts the green parts' partsupp rows (with their suppliers) to every
    // core and hashes its partial groups.
    let q9 = reports.iter().find(|r| r.query == 9).unwrap();
    assert!(q9.run.is_some_and(|run| run.exchanged_rows > 500), "{q9:?}");
    // Every exchanged row takes bytes: at least its 8-byte key.
    assert!(
        q9.run
            .is_some_and(|run| run.shuffled_bytes >= 8 * run.exchanged_rows),
        "{q9:?}"
    );

    let (reports, _) = run(&options(1, 1), |_| {}).expect("cluster starts");
    for report in &reports {
        assert!(matches!(report.check, Check::Passed), "{report:?}");
        assert_eq!(
            report
                .run
                .map(|run| (run.exchanged_rows, run.shuffled_bytes)),
            Some((0, 0)),
            "{report:?}"
        );
    }
}

#[test]
fn a_small_budget_is_reported_as_spills_and_bounded_reservations() {
    let budget = 1 << 20;
    let mut small = options(2, 1);
    small.scale_factor = 0.1;
    small.iterations = 1;
    // Joins building large sides (Q9's orders side, Q10's customers) and Q18's
    // aggregation by order.
    small.queries = vec![9, 10, 18];
    small.memory.per_core = budget;
    let (reports, _) = run(&small, |_| {}).expect("cluster starts");
    for report in &reports {
        assert!(matches!(report.check, Check::Passed), "{report:?}");
        let run = report.run.expect("in-process runs report their tasks");
        // Beyond the budget: the batches waiting in channels, each operator's first
        // batch and its spill buffers (the fixed overhead in the README).
        assert!(
            run.peak_reserved_per_core <= (budget + (16 << 20)) as u64,
            "{report:?}"
        );
        assert!(report.peak_rss.is_some(), "{report:?}");
    }
    let spilled: Vec<u64> = reports
        .iter()
        .map(|r| r.run.unwrap().spilled_bytes)
        .collect();
    assert!(
        spilled.iter().all(|&bytes| bytes > 0),
        "Q9, Q10 and Q18 spill: {spilled:?}"
    );
}
