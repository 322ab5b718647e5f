//! Goal: queries finish within a per-core memory budget by spilling (sort, aggregation
//! and hash join), give the answers they give without one, survive skewed keys, and
//! leave no spill file behind, whether they succeed, fail or are cancelled.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use percore_bench::answers::{compare, format_rows};
use percore_bench::cancel::measure_cancels;
use percore_bench::harness::check_query;
use percore_bench::tables::key_value_table;
use percore_engine::catalog::Table;
use percore_engine::error::ErrorCode;
use percore_engine::exec::stats::TaskStats;
use percore_engine::session::{Cluster, ClusterConfig};
use percore_engine::settings::SessionSettings;

const MIB: usize = 1 << 20;

/// A fresh spill directory for one test, removed at the end.
struct SpillDir(PathBuf);

impl SpillDir {
    fn new(test: &str) -> SpillDir {
        let dir = std::env::temp_dir().join(format!("percore-test-{test}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("spill dir");
        SpillDir(dir)
    }

    /// Files under the directory (spill files live in per-query subdirectories).
    fn files(&self) -> usize {
        fn count(dir: &Path) -> usize {
            std::fs::read_dir(dir)
                .map(|entries| {
                    entries
                        .flatten()
                        .map(|e| {
                            if e.path().is_dir() {
                                count(&e.path())
                            } else {
                                1
                            }
                        })
                        .sum()
                })
                .unwrap_or(0)
        }
        count(&self.0)
    }

    /// Waits for the tasks of an abandoned query to end and remove their files.
    fn wait_empty(&self) -> usize {
        let deadline = Instant::now() + Duration::from_secs(20);
        while self.files() > 0 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        self.files()
    }
}

impl Drop for SpillDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn tpch(scale_factor: f64, budget: Option<usize>, dir: &SpillDir) -> Cluster {
    let mut config = ClusterConfig::new(2).with_spill_dir(dir.0.clone());
    if let Some(budget) = budget {
        config = config.with_memory_per_core(budget);
    }
    Cluster::start_tpch(scale_factor, config).expect("cluster starts")
}

/// Spill files written by operators whose name starts with `operator`.
fn spills(stats: &[TaskStats], operator: &str) -> u64 {
    stats
        .iter()
        .flat_map(|task| &task.operators)
        .filter(|o| o.operator.starts_with(operator))
        .map(|o| o.spills)
        .sum()
}

fn nothing_reserved(cluster: &Cluster) -> bool {
    let pool = &cluster.memory().pool;
    (0..pool.cores()).all(|core| pool.used(core) == 0)
}

#[test]
fn tpch_sf01_answers_under_a_budget_that_forces_spilling() {
    let dir = SpillDir::new("tpch");
    let cluster = tpch(0.1, Some(2 * MIB), &dir);
    let mut failures = Vec::new();
    // stats[q] is what query q's tasks did (stats[0] stays empty).
    let mut stats = vec![Vec::new()];
    for query in 1..=22 {
        match check_query(&cluster, 0.1, query) {
            Ok(done) => stats.push(done),
            Err(error) => {
                failures.push(error);
                stats.push(Vec::new());
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    // The joins that build large sides. (Q7 was one until join ordering: its
    // largest build is now the filtered customers of two nations; Q13's left join
    // builds the customers now, not their orders.)
    for query in [9, 10] {
        assert!(
            spills(&stats[query], "HashJoin") > 0,
            "Q{query}'s joins spilled"
        );
    }
    assert!(
        spills(&stats[18], "Aggregate") > 0,
        "Q18's aggregation spilled"
    );
    assert_eq!(dir.files(), 0, "spill files removed");
    assert!(nothing_reserved(&cluster));
}

/// Runs `sql` on both clusters; the bounded one must spill in `operator` and agree.
fn agree(unbounded: &Cluster, bounded: &Cluster, sql: &str, operator: &str, ordered: bool) {
    let expected = format_rows(&unbounded.sql(sql).expect("unbounded run")).unwrap();
    let (batches, stats) = bounded.sql_with_stats(sql).expect("bounded run");
    compare(&format_rows(&batches).unwrap(), &expected, ordered)
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    assert!(spills(&stats, operator) > 0, "{operator} spilled in {sql}");
    assert!(!expected.is_empty());
}

#[test]
fn sort_aggregation_and_joins_spill_and_agree_with_an_unbounded_run() {
    let dir = SpillDir::new("agree");
    let unbounded = tpch(0.05, None, &dir);
    let bounded = tpch(0.05, Some(MIB), &dir);
    agree(
        &unbounded,
        &bounded,
        "SELECT l_orderkey, l_linenumber, l_comment FROM lineitem \
         ORDER BY l_comment DESC, l_orderkey, l_linenumber",
        "Sort",
        true,
    );
    agree(
        &unbounded,
        &bounded,
        "SELECT l_orderkey, l_suppkey, count(*), sum(l_quantity) FROM lineitem \
         GROUP BY l_orderkey, l_suppkey",
        "Aggregate",
        false,
    );
    agree(
        &unbounded,
        &bounded,
        "SELECT l_comment, count(*), sum(l_extendedprice), min(l_shipdate), max(l_partkey) \
         FROM lineitem GROUP BY l_comment",
        "Aggregate(Final)",
        false,
    );
    agree(
        &unbounded,
        &bounded,
        "SELECT o_orderkey, o_orderdate, l_linenumber, l_comment FROM orders \
         JOIN lineitem ON l_orderkey = o_orderkey WHERE l_quantity < 40",
        "HashJoin",
        false,
    );
    agree(
        &unbounded,
        &bounded,
        // The smaller left side is built; its rows without a partner (orders with
        // fewer than four lineitems) come out after the probe side, also when spilled.
        "SELECT o_orderkey, o_comment, l_linenumber FROM orders LEFT JOIN lineitem \
         ON l_orderkey = o_orderkey AND l_linenumber > o_shippriority + 3",
        "HashJoin",
        false,
    );
    // Semi and anti joins whose left side is the smaller build their left side and
    // output its rows by match, also when that side spills.
    for (sql, operator) in [
        (
            "SELECT o_orderkey, o_comment FROM orders WHERE EXISTS (SELECT 1 FROM lineitem \
             WHERE l_orderkey = o_orderkey AND l_commitdate < l_receiptdate)",
            "HashJoin(LeftSemi)",
        ),
        (
            "SELECT o_orderkey, o_comment FROM orders WHERE NOT EXISTS (SELECT 1 FROM lineitem \
             WHERE l_orderkey = o_orderkey AND l_commitdate < l_receiptdate)",
            "HashJoin(LeftAnti)",
        ),
    ] {
        agree(&unbounded, &bounded, sql, operator, false);
        let plan = format_rows(&bounded.sql(&format!("EXPLAIN {sql}")).unwrap()).unwrap();
        assert!(
            plan.iter()
                .flatten()
                .any(|line| line.contains(operator) && line.contains("build=left")),
            "{plan:?}"
        );
    }
    assert_eq!(dir.files(), 0);
}

/// `rows` rows of (k, v) where k is 1 for `hot` of every 10 rows and unique otherwise,
/// dealt over two partitions in batches of 8192.
fn keyed_table(name: &str, rows: i64, hot: i64) -> Table {
    let rows: Vec<(Option<i64>, i64)> = (0..rows)
        .map(|i| (Some(if i % 10 < hot { 1 } else { i }), i))
        .collect();
    key_value_table(name, 2, 8192, &rows)
}

fn single_row(cluster: &Cluster, sql: &str) -> (Vec<String>, Vec<TaskStats>) {
    let (batches, stats) = cluster
        .sql_with_stats(sql)
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    let mut rows = format_rows(&batches).unwrap();
    assert_eq!(rows.len(), 1, "{sql}");
    (rows.remove(0), stats)
}

#[test]
fn a_key_holding_most_rows_spills_and_finishes_in_joins_and_aggregations() {
    let dir = SpillDir::new("skew");
    let config = ClusterConfig::new(2)
        .with_memory_per_core(MIB)
        .with_spill_dir(dir.0.clone());
    let catalog = percore_engine::catalog::Catalog::new(2);
    let cluster = Cluster::start(Arc::new(catalog), config).unwrap();
    // 90% of `skewed` has key 1 (180k rows in one partition after the exchange);
    // `probe` has every key once (1 included), and is larger, so `skewed` is built.
    let (skewed_rows, probe_rows) = (200_000_i64, 300_000_i64);
    cluster
        .register_table(keyed_table("skewed", skewed_rows, 9))
        .unwrap();
    cluster
        .register_table(keyed_table("probe", probe_rows, 0))
        .unwrap();
    let hot = skewed_rows * 9 / 10;
    // Inner: every hot row meets probe key 1; cold keys i (i % 10 == 9) meet probe row i.
    let cold = skewed_rows / 10;
    let (row, stats) = single_row(
        &cluster,
        "SELECT count(*), sum(s.v) FROM skewed s JOIN probe p ON s.k = p.k",
    );
    let sum_all: i64 = (0..skewed_rows).sum();
    assert_eq!(row, vec![(hot + cold).to_string(), sum_all.to_string()]);
    assert!(spills(&stats, "HashJoin") > 0, "the join spilled");
    // Left join from the probe side: probe rows without a skewed partner still count.
    let (row, _) = single_row(
        &cluster,
        "SELECT count(*), count(s.v) FROM probe p LEFT JOIN skewed s ON s.k = p.k",
    );
    let probe_unmatched = probe_rows - 1 - cold;
    assert_eq!(
        row,
        vec![
            (hot + cold + probe_unmatched).to_string(),
            (hot + cold).to_string()
        ]
    );
    // Semi and anti joins of the skewed side against the probe keys.
    let (row, _) = single_row(
        &cluster,
        "SELECT count(*) FROM probe p WHERE NOT EXISTS (SELECT 1 FROM skewed s WHERE s.k = p.k)",
    );
    assert_eq!(row, vec![probe_unmatched.to_string()]);
    let (row, _) = single_row(
        &cluster,
        "SELECT count(*), sum(c) FROM (SELECT k, count(*) AS c FROM skewed GROUP BY k) t \
         WHERE c > 1",
    );
    assert_eq!(row, vec!["1".to_string(), hot.to_string()]);
    assert_eq!(dir.files(), 0);
    assert!(nothing_reserved(&cluster));
}

#[test]
fn explain_analyze_names_the_hot_key_of_a_hash_exchange() {
    let cluster = Cluster::start(
        Arc::new(percore_engine::catalog::Catalog::new(2)),
        ClusterConfig::new(2),
    )
    .unwrap();
    // 70% of `skewed` has key 1; `uniform` has every key once.
    cluster
        .register_table(keyed_table("skewed", 100_000, 7))
        .unwrap();
    cluster
        .register_table(keyed_table("uniform", 100_000, 0))
        .unwrap();
    // A window partitioned by k hash-exchanges the raw rows on k.
    let hot_keys_line = |table: &str| {
        let sql = format!(
            "EXPLAIN ANALYZE SELECT max(r) FROM \
             (SELECT row_number() OVER (PARTITION BY k ORDER BY v) AS r FROM {table}) t"
        );
        let batches = cluster.sql(&sql).unwrap();
        let lines: Vec<String> = format_rows(&batches)
            .unwrap()
            .into_iter()
            .map(|row| row.join(" "))
            .collect();
        lines
            .iter()
            .find(|line| line.contains("hot keys"))
            .unwrap_or_else(|| panic!("{lines:#?}"))
            .trim()
            .to_string()
    };
    assert_eq!(
        hot_keys_line("skewed"),
        "hot keys of 100000 sampled rows: 1 (70.0%)"
    );
    assert_eq!(
        hot_keys_line("uniform"),
        "hot keys: none over 1% of 100000 sampled rows"
    );
}

#[test]
fn a_session_budget_applies_to_its_queries_until_reset() {
    let dir = SpillDir::new("session");
    let cluster = tpch(0.05, None, &dir);
    let sql = "SELECT l_orderkey, l_suppkey, count(*) FROM lineitem GROUP BY l_orderkey, l_suppkey";
    let mut session = SessionSettings::default();
    let spilled = |session: &mut SessionSettings| {
        let (_, stats) = cluster.sql_in(sql, session).unwrap();
        spills(&stats, "Aggregate")
    };
    assert_eq!(
        spilled(&mut session),
        0,
        "the node's default budget is ample"
    );
    let (reply, _) = cluster
        .sql_in("SET percore.memory_per_core = '512KiB'", &mut session)
        .unwrap();
    assert_eq!(
        format_rows(&reply).unwrap(),
        vec![vec!["percore.memory_per_core = 512.0 KiB".to_string()]]
    );
    assert!(
        spilled(&mut session) > 0,
        "the session's budget makes it spill"
    );
    let error = cluster
        .sql_in("SET percore.memory_per_core = 'plenty'", &mut session)
        .unwrap_err();
    assert_eq!(error.code, ErrorCode::Semantic);
    cluster
        .sql_in("SET percore.memory_per_core TO DEFAULT", &mut session)
        .unwrap();
    assert_eq!(spilled(&mut session), 0);
}

#[test]
fn spill_files_go_when_a_query_fails_or_is_cancelled() {
    let dir = SpillDir::new("cleanup");
    let mut config = ClusterConfig::new(2)
        .with_memory_per_core(MIB)
        .with_spill_dir(dir.0.clone());
    config.memory.spill_disk_cap = 256 << 10;
    let cluster = Cluster::start_tpch(0.05, config).unwrap();
    let sort = "SELECT l_comment, l_orderkey FROM lineitem ORDER BY l_comment";
    let error = cluster.sql(sort).unwrap_err();
    assert_eq!(error.code, ErrorCode::ResourcesExhausted);
    assert!(error.message.contains("spill disk cap"), "{error}");
    assert_eq!(dir.wait_empty(), 0, "a failed query's files are removed");
    assert_eq!(cluster.memory().disk.used(), 0);

    let dir = SpillDir::new("cancel");
    let cluster = tpch(0.05, Some(MIB), &dir);
    let percore_engine::session::StatementOutput::Rows(mut stream) = cluster.run(sort).unwrap()
    else {
        panic!("a query");
    };
    stream.next_batch().expect("a first batch").unwrap();
    assert!(dir.files() > 0, "the sort spilled before its first batch");
    drop(stream);
    assert_eq!(dir.wait_empty(), 0, "a cancelled query's files are removed");
}

#[test]
fn a_cancelled_fan_out_join_stops_and_releases_its_memory() {
    let dir = SpillDir::new("cancel-fan-out");
    let cluster = tpch(0.05, Some(64 * MIB), &dir);
    // Every probe row matches ~300 rows: 90 million pairs, seconds of work.
    let fan_out = "SELECT count(*), max(length(a.l_comment) + length(b.l_comment)) \
                   FROM lineitem a JOIN lineitem b ON a.l_suppkey = b.l_suppkey";
    let report = measure_cancels(&cluster, fan_out, 4, Duration::from_millis(400))
        .expect("each run stops with a cancel error and no memory left reserved");
    assert_eq!(report.latencies_ms.len(), 4, "{report:?}");
    assert_eq!(dir.wait_empty(), 0);
}

#[test]
fn admission_holds_queries_whose_minimum_does_not_fit_and_show_queries_lists_them() {
    let dir = SpillDir::new("admission");
    let mut config = ClusterConfig::new(2)
        .with_memory_per_core(64 * MIB)
        .with_spill_dir(dir.0.clone());
    config.memory.admission_timeout = Duration::from_secs(2);
    let cluster = Cluster::start_tpch(0.01, config).unwrap();
    // Each query holds a quarter of the budget from admission to its end: four fit.
    let heavy = "SELECT o_orderkey, count(*) FROM orders JOIN lineitem ON l_orderkey = o_orderkey \
                 GROUP BY o_orderkey ORDER BY 2 DESC";
    let mut running = Vec::new();
    for _ in 0..4 {
        let percore_engine::session::StatementOutput::Rows(stream) = cluster.run(heavy).unwrap()
        else {
            panic!("a query");
        };
        running.push(stream);
    }
    let shown = format_rows(&cluster.sql("SHOW QUERIES").unwrap()).unwrap();
    assert_eq!(shown.len(), 4, "{shown:?}");
    assert!(shown
        .iter()
        .all(|row| row[1] == "running" && row[4] == heavy));
    let error = cluster.sql(heavy).unwrap_err();
    assert_eq!(error.code, ErrorCode::ResourcesExhausted);
    assert!(error.message.contains("waited"), "{error}");
    // A waiting query shows as queued, then runs once a running one ends.
    let waiter = std::thread::scope(|scope| {
        let waiter = scope.spawn(|| cluster.sql(heavy).map(|rows| rows.len()));
        let deadline = Instant::now() + Duration::from_secs(5);
        let mut queued = false;
        while !queued && Instant::now() < deadline {
            let shown = format_rows(&cluster.sql("SHOW QUERIES").unwrap()).unwrap();
            queued = shown.iter().any(|row| row[1] == "queued");
        }
        assert!(queued, "the fifth query waits in the queue");
        running.pop().unwrap().collect().unwrap();
        waiter.join().unwrap()
    });
    assert!(waiter.expect("admitted once a query ended") > 0);
    drop(running);
    assert!(format_rows(&cluster.sql("SHOW QUERIES").unwrap())
        .unwrap()
        .is_empty());
}
