//! The TPC-H benchmark: generate data once, run each query several times, verify
//! every answer against the reference, and report latency percentiles per query.

use std::fmt::Write;
use std::time::Instant;

use hdrhistogram::Histogram;
use percore_engine::exec::stats::TaskStats;
use percore_engine::memory::MemorySettings;
use percore_engine::session::{Cluster, ClusterConfig};
use percore_server::local::{LocalCluster, LocalClusterOptions};
use percore_server::pgwire::client::first_result;
use serde::Serialize;

use crate::answers::{compare, format_rows, load_answer, Rows};
use crate::external::{run_statement, tpch_load_layout};
use crate::stragglers::{slowest_node, SlowestNode};
use crate::{query_sql, rss, tpch_dir};

#[derive(Debug, Clone)]
pub struct BenchOptions {
    pub scale_factor: f64,
    pub iterations: usize,
    pub cores: usize,
    pub queries: Vec<usize>,
    pub batch_rows: usize,
    /// Clients running each query at the same time.
    pub concurrency: usize,
    /// Budgets and spilling of the in-process cluster.
    pub memory: MemorySettings,
    /// Also run every query on this engine, same data and cores, alternating.
    pub baseline: Option<BaselineKind>,
    /// Read the tables from `<table>.parquet` files in this directory (external
    /// tables, read by every query) instead of generating them in memory.
    pub parquet: Option<std::path::PathBuf>,
    /// With `parquet`: load the files into tables partitioned on their keys
    /// (`CREATE TABLE .. PARTITIONED BY`) before the queries, instead of reading them
    /// in every query.
    pub load: bool,
}

/// An engine run beside Percore by `bench tpch --baseline`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BaselineKind {
    /// DataFusion in this process over the very same batches (needs the
    /// `datafusion-baseline` feature).
    DataFusion,
    /// DuckDB through its Python package, over Parquet files of the same data, loaded
    /// into DuckDB's own memory first.
    DuckDb,
}

/// What a baseline engine did with one query.
#[derive(Debug, Clone, Serialize)]
pub struct BaselineResult {
    pub engine: &'static str,
    pub p50_ms: f64,
    /// Its first answer against the reference.
    #[serde(flatten)]
    pub check: Check,
}

/// A baseline engine, ready with the data loaded.
pub trait BaselineEngine {
    /// Runs `sql` (TPC-H query `query`) `iterations` times and checks the first answer.
    fn measure(
        &mut self,
        scale_factor: f64,
        query: usize,
        sql: &str,
        iterations: usize,
    ) -> BaselineResult;
}

/// How a query's answer compared with the reference; in JSON `"check": "passed"`,
/// with `"error"` beside it when failed.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "check", content = "error", rename_all = "lowercase")]
pub enum Check {
    Passed,
    Failed(String),
    /// No reference answer exists at this scale factor.
    Unverified,
}

impl Check {
    /// The word for machines: passed, failed or unverified.
    pub fn label(&self) -> &'static str {
        match self {
            Check::Passed => "passed",
            Check::Failed(_) => "failed",
            Check::Unverified => "unverified",
        }
    }

    /// The column for people: ok, no reference, or the failure's first line.
    fn summary(&self) -> String {
        match self {
            Check::Passed => "ok".to_string(),
            Check::Unverified => "no reference".to_string(),
            Check::Failed(error) => format!("FAILED: {}", error.lines().next().unwrap_or("")),
        }
    }
}

/// Latencies in microseconds, up to an hour (longer runs clamp to the hour).
pub fn latency_histogram() -> Histogram<u64> {
    Histogram::<u64>::new_with_bounds(1, 3_600_000_000, 3).expect("valid bounds")
}

/// The histogram's `quantile` in milliseconds.
pub fn quantile_ms(histogram: &Histogram<u64>, quantile: f64) -> f64 {
    histogram.value_at_quantile(quantile) as f64 / 1e3
}

#[derive(Debug, Clone, Serialize)]
pub struct QueryReport {
    pub query: usize,
    pub rows: usize,
    pub p50_ms: f64,
    pub p99_ms: f64,
    #[serde(flatten)]
    pub check: Check,
    /// What the first run's tasks did (in-process runs only).
    #[serde(flatten)]
    pub run: Option<RunStats>,
    /// The process's peak resident memory over the query's runs (in-process runs).
    pub peak_rss: Option<u64>,
    /// Resident memory just before the query: the data and what the allocator kept.
    pub idle_rss: Option<u64>,
    /// The baseline engine's median on the same query, data and cores, and its check.
    pub baseline: Option<BaselineResult>,
    /// On a cluster of several nodes: the node that took longest over its own share
    /// of one more run, under EXPLAIN ANALYZE.
    pub slowest_node: Option<SlowestNode>,
}

/// What one run of a query did, from its task statistics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct RunStats {
    /// Rows that went through exchanges.
    pub exchanged_rows: u64,
    /// Bytes those rows took: their in-memory size within a node, frames on the
    /// wire between nodes.
    pub shuffled_bytes: u64,
    /// The most the query reserved on any one core at once.
    pub peak_reserved_per_core: u64,
    /// Bytes written to spill files.
    pub spilled_bytes: u64,
}

impl RunStats {
    pub fn of(stats: &[TaskStats]) -> RunStats {
        RunStats {
            exchanged_rows: exchanged_rows(stats),
            shuffled_bytes: shuffled_bytes(stats),
            peak_reserved_per_core: stats
                .iter()
                .map(|t| t.core_peak_reserved)
                .max()
                .unwrap_or(0),
            spilled_bytes: stats
                .iter()
                .flat_map(|t| &t.operators)
                .map(|o| o.spilled_bytes)
                .sum(),
        }
    }
}

impl QueryReport {
    /// p99 over p50: how far the tail is from the median (1.0 when no run was slow).
    pub fn tail_ratio(&self) -> f64 {
        if self.p50_ms > 0.0 {
            self.p99_ms / self.p50_ms
        } else {
            0.0
        }
    }
}

/// Generates the data, runs the queries, and returns one report per query.
///
/// # Errors
/// When the cluster cannot start; a failing query is reported, not returned.
pub fn run(
    options: &BenchOptions,
    mut progress: impl FnMut(&QueryReport),
) -> Result<(Vec<QueryReport>, f64), String> {
    let started = Instant::now();
    let config = ClusterConfig {
        memory: options.memory.clone(),
        ..ClusterConfig::new(options.cores).with_batch_rows(options.batch_rows)
    };
    let cluster = match &options.parquet {
        None => Cluster::start_tpch(options.scale_factor, config).map_err(|e| e.to_string())?,
        Some(dir) if options.load => tables_loaded_from_parquet(dir, config)?,
        Some(dir) => tables_from_parquet(dir, config)?,
    };
    let generation_s = started.elapsed().as_secs_f64();
    let mut baseline = start_baseline(options, &cluster)?;
    let mut reports = Vec::new();
    for &query in &options.queries {
        let clients = (0..options.concurrency.max(1))
            .map(|_| {
                // Only each client's first result is checked: format that alone.
                let mut format = true;
                let cluster = &cluster;
                move |sql: &str| {
                    let (batches, stats) =
                        cluster.sql_with_stats(sql).map_err(|e| e.to_string())?;
                    let run = Some(RunStats::of(&stats));
                    if std::mem::take(&mut format) {
                        Ok((format_rows(&batches)?, run))
                    } else {
                        let rows = batches.iter().map(|b| b.num_rows()).sum();
                        Ok((vec![Vec::new(); rows], run))
                    }
                }
            })
            .collect();
        let rss_reset = rss::reset_peak();
        let idle_rss = rss::current_bytes();
        let mut report = measure_query(options, query, clients);
        report.peak_rss = rss_reset.then(rss::peak_bytes).flatten();
        report.idle_rss = idle_rss;
        report.baseline = match baseline.as_mut() {
            Some(engine) => Some(engine.measure(
                options.scale_factor,
                query,
                &query_sql(query).map_err(|e| format!("Q{query}: {e}"))?,
                options.iterations,
            )),
            None => None,
        };
        progress(&report);
        reports.push(report);
    }
    Ok((reports, generation_s))
}

/// An empty cluster with the TPC-H tables as external tables over `dir`.
fn tables_from_parquet(dir: &std::path::Path, config: ClusterConfig) -> Result<Cluster, String> {
    let cluster = crate::external::cluster_over(dir, config, "")?;
    check_tpch_tables(&cluster, dir, "")?;
    Ok(cluster)
}

/// An empty cluster with the TPC-H tables loaded from the files in `dir` (external
/// tables `files_<table>`), each partitioned as [`tpch_load_layout`] says; says how
/// long each load took.
fn tables_loaded_from_parquet(
    dir: &std::path::Path,
    config: ClusterConfig,
) -> Result<Cluster, String> {
    let cluster = crate::external::cluster_over(dir, config, "files_")?;
    check_tpch_tables(&cluster, dir, "files_")?;
    let mut total = 0.0;
    for table in percore_engine::catalog::tpch::TABLES {
        let started = Instant::now();
        let sql = format!(
            "CREATE TABLE {table} {} AS SELECT * FROM files_{table}",
            tpch_load_layout(table)
        );
        let summary = run_statement(&cluster, &sql)?;
        let ms = started.elapsed().as_secs_f64() * 1000.0;
        total += ms;
        eprintln!("  {summary} in {ms:.0} ms");
    }
    eprintln!("Percore loaded the tables in {total:.0} ms");
    Ok(cluster)
}

fn check_tpch_tables(cluster: &Cluster, dir: &std::path::Path, prefix: &str) -> Result<(), String> {
    let catalog = cluster.catalog();
    let missing: Vec<&str> = percore_engine::catalog::tpch::TABLES
        .iter()
        .copied()
        .filter(|table| catalog.table(&format!("{prefix}{table}")).is_none())
        .collect();
    if !missing.is_empty() {
        return Err(format!(
            "{} has no {} (one <table>.parquet per TPC-H table)",
            dir.display(),
            missing.join(", ")
        ));
    }
    Ok(())
}

/// The engine to run beside Percore, when asked for (and built in).
fn start_baseline(
    options: &BenchOptions,
    cluster: &Cluster,
) -> Result<Option<Box<dyn BaselineEngine>>, String> {
    let tables = &percore_engine::catalog::tpch::TABLES;
    match options.baseline {
        None => Ok(None),
        Some(BaselineKind::DuckDb) if options.parquet.is_some() => {
            let dir = options.parquet.as_deref().expect("checked");
            if !options.load {
                return Ok(Some(Box::new(crate::duckdb::DuckDbBaseline::on_files(
                    dir,
                    tables,
                    options.cores,
                )?)));
            }
            let duckdb = crate::duckdb::DuckDbBaseline::loading_files(dir, tables, options.cores)?;
            let total: f64 = duckdb.load_ms().iter().map(|(_, ms)| ms).sum();
            for (table, ms) in duckdb.load_ms() {
                eprintln!("  DuckDB loaded {table} in {ms:.0} ms");
            }
            eprintln!("DuckDB loaded the tables in {total:.0} ms");
            Ok(Some(Box::new(duckdb)))
        }
        Some(BaselineKind::DuckDb) => {
            let dir = options.memory.spill_dir.join(format!(
                "percore-duckdb-{}-sf{}",
                std::process::id(),
                options.scale_factor
            ));
            let duckdb = crate::duckdb::DuckDbBaseline::start(
                &cluster.catalog(),
                tables,
                options.cores,
                dir,
            )?;
            Ok(Some(Box::new(duckdb)))
        }
        Some(BaselineKind::DataFusion) if options.parquet.is_some() => Err(
            "the DataFusion baseline runs over in-memory tables, not with --parquet".to_string(),
        ),
        #[cfg(feature = "datafusion-baseline")]
        Some(BaselineKind::DataFusion) => Ok(Some(Box::new(
            crate::baseline::DataFusionBaseline::new(&cluster.catalog(), tables, options.cores)?,
        ))),
        #[cfg(not(feature = "datafusion-baseline"))]
        Some(BaselineKind::DataFusion) => Err("this build has no DataFusion baseline: build \
             with `--features datafusion-baseline`"
            .to_string()),
    }
}

/// Starts `nodes` node processes of `binary` on loopback, each with `options.cores`
/// cores, runs the queries over the PostgreSQL protocol (client `k` talks to node
/// `k % nodes`, so times include encoding rows as text), and stops the nodes. With
/// several nodes, each query runs once more under EXPLAIN ANALYZE to name its
/// slowest node. `slowdown` slows nodes down (`percore node --slowdown`, a test flag).
///
/// # Errors
/// When the cluster cannot start or a node cannot be reached.
pub fn run_on_local_cluster(
    options: &BenchOptions,
    binary: &std::path::Path,
    nodes: usize,
    slowdown: &[(usize, u32)],
    mut progress: impl FnMut(&QueryReport),
) -> Result<(Vec<QueryReport>, f64), String> {
    let started = Instant::now();
    let mut cluster_options = LocalClusterOptions::new(nodes, options.cores, options.scale_factor);
    cluster_options.batch_rows = options.batch_rows;
    cluster_options.extra_args = vec![
        "--memory-per-core".into(),
        options.memory.per_core.to_string(),
        "--spill-dir".into(),
        options.memory.spill_dir.display().to_string(),
        "--spill-disk-cap".into(),
        options.memory.spill_disk_cap.to_string(),
    ];
    cluster_options.node_extra_args = slowdown
        .iter()
        .map(|&(node, factor)| (node, vec!["--slowdown".into(), factor.to_string()]))
        .collect();
    let cluster = LocalCluster::start(binary, &cluster_options)?;
    let generation_s = started.elapsed().as_secs_f64();
    let mut clients = (0..options.concurrency.max(1))
        .map(|client| cluster.connect(client % nodes).map_err(|e| e.to_string()))
        .collect::<Result<Vec<_>, _>>()?;
    let mut reports = Vec::new();
    for &query in &options.queries {
        let executors = clients
            .iter_mut()
            .map(|client| {
                move |sql: &str| {
                    let replies = client.query(sql).map_err(|e| e.to_string())?;
                    let rows = first_result(replies, "NULL")
                        .map_err(|(sqlstate, message)| format!("ERROR {sqlstate}: {message}"))?;
                    Ok((rows, None))
                }
            })
            .collect();
        let mut report = measure_query(options, query, executors);
        if nodes > 1 && !matches!(report.check, Check::Failed(_)) {
            let explained = query_sql(query)
                .map_err(|e| e.to_string())
                .and_then(|sql| {
                    let replies = clients[0]
                        .query(&format!("EXPLAIN ANALYZE {sql}"))
                        .map_err(|e| e.to_string())?;
                    first_result(replies, "")
                        .map_err(|(sqlstate, message)| format!("ERROR {sqlstate}: {message}"))
                })?;
            let text: Vec<String> = explained.into_iter().flatten().collect();
            report.slowest_node = slowest_node(&text.join("\n"));
        }
        progress(&report);
        reports.push(report);
    }
    Ok((reports, generation_s))
}

/// One client's latencies and first result, or its error.
type ClientOutcome = Result<(Histogram<u64>, Option<(Rows, Option<RunStats>)>), String>;

/// Tasks that sent into an exchange: all but the final stage's, whose rows go to the
/// client.
fn exchanging_tasks(stats: &[TaskStats]) -> impl Iterator<Item = &TaskStats> {
    let final_stage = stats.iter().map(|s| s.stage).max();
    stats.iter().filter(move |s| Some(s.stage) != final_stage)
}

fn exchanged_rows(stats: &[TaskStats]) -> u64 {
    exchanging_tasks(stats)
        .flat_map(|s| &s.rows_per_target)
        .sum()
}

fn shuffled_bytes(stats: &[TaskStats]) -> u64 {
    exchanging_tasks(stats)
        .map(|s| s.bytes_within_node + s.bytes_to_other_nodes)
        .sum()
}

/// Runs one query `options.iterations` times on each client, all clients at once
/// (each client is a function returning the result as text cells), and checks each
/// client's first result. Latencies of all clients go into one histogram.
fn measure_query<E>(options: &BenchOptions, query: usize, clients: Vec<E>) -> QueryReport
where
    E: FnMut(&str) -> Result<(Rows, Option<RunStats>), String> + Send,
{
    let mut report = QueryReport {
        query,
        rows: 0,
        p50_ms: 0.0,
        p99_ms: 0.0,
        check: Check::Unverified,
        run: None,
        peak_rss: None,
        idle_rss: None,
        baseline: None,
        slowest_node: None,
    };
    let sql = match query_sql(query) {
        Ok(sql) => sql,
        Err(error) => {
            report.check = Check::Failed(format!("cannot read the query: {error}"));
            return report;
        }
    };
    let outcomes: Vec<ClientOutcome> = std::thread::scope(|scope| {
        let handles: Vec<_> = clients
            .into_iter()
            .map(|mut execute| {
                let sql = &sql;
                scope.spawn(move || {
                    let mut histogram = latency_histogram();
                    let mut first = None;
                    for _ in 0..options.iterations.max(1) {
                        let started = Instant::now();
                        let rows = execute(sql)?;
                        histogram.saturating_record((started.elapsed().as_micros() as u64).max(1));
                        first.get_or_insert(rows);
                    }
                    Ok((histogram, first))
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|handle| {
                handle
                    .join()
                    .unwrap_or_else(|_| Err("a client thread panicked".into()))
            })
            .collect()
    });
    let mut histogram = latency_histogram();
    for (client, outcome) in outcomes.into_iter().enumerate() {
        match outcome {
            Ok((latencies, first)) => {
                let _ = histogram.add(&latencies);
                let (rows, run) = first.unwrap_or_default();
                report.rows = rows.len();
                report.run = run;
                match verify_rows(options.scale_factor, query, rows) {
                    Check::Failed(why) => {
                        report.check = Check::Failed(format!("client {client}: {why}"));
                        return report;
                    }
                    check => report.check = check,
                }
            }
            Err(error) => {
                report.check = Check::Failed(format!("client {client}: {error}"));
                return report;
            }
        }
    }
    report.p50_ms = quantile_ms(&histogram, 0.5);
    report.p99_ms = quantile_ms(&histogram, 0.99);
    report
}

/// Runs each query once on `cluster` and checks it against the reference at
/// `scale_factor`; returns one line per query that failed or had no reference.
pub fn check_queries(cluster: &Cluster, scale_factor: f64, queries: &[usize]) -> Vec<String> {
    queries
        .iter()
        .filter_map(|&query| check_query(cluster, scale_factor, query).err())
        .collect()
}

/// Runs one query and checks it against the reference; returns what its tasks did.
///
/// # Errors
/// The failure (or missing reference), naming the query.
pub fn check_query(
    cluster: &Cluster,
    scale_factor: f64,
    query: usize,
) -> Result<Vec<TaskStats>, String> {
    let outcome = query_sql(query)
        .map_err(|e| e.to_string())
        .and_then(|sql| cluster.sql_with_stats(&sql).map_err(|e| e.to_string()));
    let (batches, stats) = outcome.map_err(|error| format!("Q{query}: {error}"))?;
    match verify(scale_factor, query, &batches) {
        Check::Passed => Ok(stats),
        Check::Failed(error) => Err(format!("Q{query}: {error}")),
        Check::Unverified => Err(format!("Q{query}: no reference at SF {scale_factor}")),
    }
}

fn verify(scale_factor: f64, query: usize, batches: &[arrow::record_batch::RecordBatch]) -> Check {
    match format_rows(batches) {
        Ok(rows) => verify_rows(scale_factor, query, rows),
        Err(error) => Check::Failed(error),
    }
}

/// Checks a result given as text cells (NULL as `NULL`) against the reference.
pub fn verify_rows(scale_factor: f64, query: usize, actual: Rows) -> Check {
    let expected = match reference(scale_factor, query) {
        Ok(Some(rows)) => rows,
        Ok(None) => return Check::Unverified,
        Err(error) => return Check::Failed(error),
    };
    // The SF 1 reference truncates Q11's ps_partkey column; compare the values only.
    let (actual, expected) = if scale_factor == 1.0 && query == 11 {
        (drop_first_column(actual), drop_first_column(expected))
    } else {
        (actual, expected)
    };
    match compare(&actual, &expected, true) {
        Ok(()) => Check::Passed,
        Err(error) => Check::Failed(error),
    }
}

fn drop_first_column(rows: Rows) -> Rows {
    rows.into_iter()
        .map(|row| row.into_iter().skip(1).collect())
        .collect()
}

/// The reference answer: shipped CSVs at SF 0.01 and 0.1, tpchgen's at SF 1.
fn reference(scale_factor: f64, query: usize) -> Result<Option<Rows>, String> {
    let directory = if scale_factor == 0.01 {
        "sf0.01"
    } else if scale_factor == 0.1 {
        "sf0.1"
    } else if scale_factor == 1.0 {
        let answer = tpchgen::q_and_a::QueryAndAnswer::new(query as i32, 1.0)?;
        return Ok(Some(parse_pipe_table(answer.answer())));
    } else {
        return Ok(None);
    };
    let path = tpch_dir()
        .join("answers")
        .join(directory)
        .join(format!("q{query:02}.csv"));
    load_answer(&path).map(Some)
}

/// tpchgen's SF 1 answers: a header line, then `|`-separated, space-padded cells.
fn parse_pipe_table(text: &str) -> Rows {
    text.lines()
        .filter(|line| !line.trim().is_empty())
        .skip(1)
        .map(|line| {
            line.split('|')
                .map(|cell| cell.trim().to_string())
                .collect()
        })
        .collect()
}

/// The report as a text table with a summary line.
pub fn format_table(reports: &[QueryReport]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<6}{:>9}{:>11}{:>11}{:>9}{:>11}{:>10}{:>14}{:>10}{:>10}{:>10}{:>14}  check",
        "query",
        "rows",
        "p50 ms",
        "p99 ms",
        "p99/p50",
        "exchanged",
        "shuffled",
        "reserved/core",
        "spilled",
        "peak RSS",
        "RSS+",
        "slowest node"
    );
    let mib = |bytes: u64| format!("{:.1}M", bytes as f64 / 1_048_576.0);
    for report in reports {
        let check = report.check.summary();
        let run = |field: fn(&RunStats) -> String| report.run.as_ref().map_or("-".into(), field);
        let _ = writeln!(
            out,
            "Q{:<5}{:>9}{:>11.1}{:>11.1}{:>9.2}{:>11}{:>10}{:>14}{:>10}{:>10}{:>10}{:>14}  {check}",
            report.query,
            report.rows,
            report.p50_ms,
            report.p99_ms,
            report.tail_ratio(),
            run(|r| r.exchanged_rows.to_string()),
            run(|r| format!("{:.1}M", r.shuffled_bytes as f64 / 1_048_576.0)),
            run(|r| format!("{:.1}M", r.peak_reserved_per_core as f64 / 1_048_576.0)),
            run(|r| format!("{:.1}M", r.spilled_bytes as f64 / 1_048_576.0)),
            report.peak_rss.map_or("-".into(), mib),
            report
                .peak_rss
                .zip(report.idle_rss)
                .map_or("-".into(), |(peak, idle)| mib(peak.saturating_sub(idle))),
            report.slowest_node.map_or("-".into(), |slowest| format!(
                "{} ({:.2}x)",
                slowest.node, slowest.ratio
            )),
        );
    }
    let total: f64 = reports.iter().map(|r| r.p50_ms).sum();
    let failed = reports
        .iter()
        .filter(|r| matches!(r.check, Check::Failed(_)))
        .count();
    let passed = reports
        .iter()
        .filter(|r| matches!(r.check, Check::Passed))
        .count();
    let worst = reports
        .iter()
        .map(QueryReport::tail_ratio)
        .fold(0.0, f64::max);
    let _ = writeln!(
        out,
        "total of medians: {total:.1} ms over {} queries ({passed} verified, {failed} failed); \
         worst p99/p50 {worst:.2}",
        reports.len()
    );
    out.push_str(&format_baseline(reports));
    out
}

/// The baseline engine against Percore per query (medians), when one ran.
fn format_baseline(reports: &[QueryReport]) -> String {
    let compared: Vec<(&QueryReport, &BaselineResult)> = reports
        .iter()
        .filter_map(|r| r.baseline.as_ref().map(|baseline| (r, baseline)))
        .collect();
    let Some((_, first)) = compared.first() else {
        return String::new();
    };
    let engine = first.engine;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "\n{:<6}{:>14}{:>16}{:>20}  {engine}'s answer",
        "query",
        "Percore ms",
        format!("{engine} ms"),
        format!("{engine}/Percore")
    );
    for (report, baseline) in &compared {
        let check = baseline.check.summary();
        let _ = writeln!(
            out,
            "Q{:<5}{:>14.1}{:>16.1}{:>20.2}  {check}",
            report.query,
            report.p50_ms,
            baseline.p50_ms,
            baseline.p50_ms / report.p50_ms.max(1e-3)
        );
    }
    let percore: f64 = compared.iter().map(|(r, _)| r.p50_ms).sum();
    let other: f64 = compared.iter().map(|(_, b)| b.p50_ms).sum();
    let _ = writeln!(
        out,
        "total of medians: Percore {percore:.1} ms, {engine} {other:.1} ms, \
         {engine}/Percore {:.2}",
        other / percore.max(1e-3)
    );
    out
}

/// The report as JSON, for machines.
pub fn format_json(options: &BenchOptions, reports: &[QueryReport]) -> String {
    #[derive(Serialize)]
    struct Report<'a> {
        scale_factor: f64,
        cores: usize,
        iterations: usize,
        concurrency: usize,
        total_p50_ms: f64,
        queries: Vec<Query<'a>>,
    }
    #[derive(Serialize)]
    struct Query<'a> {
        #[serde(flatten)]
        report: &'a QueryReport,
        p99_over_p50: f64,
    }
    let report = Report {
        scale_factor: options.scale_factor,
        cores: options.cores,
        iterations: options.iterations,
        concurrency: options.concurrency,
        total_p50_ms: reports.iter().map(|r| r.p50_ms).sum(),
        queries: reports
            .iter()
            .map(|report| Query {
                report,
                p99_over_p50: report.tail_ratio(),
            })
            .collect(),
    };
    serde_json::to_string_pretty(&report).expect("plain data serializes")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pipe_tables_parse_without_padding() {
        let rows = parse_pipe_table("\na |b\n1 |x y \n");
        assert_eq!(rows, vec![vec!["1".to_string(), "x y".to_string()]]);
    }

    #[test]
    fn the_json_report_has_each_query_with_its_check_and_baseline() {
        let options = BenchOptions {
            scale_factor: 0.01,
            iterations: 3,
            cores: 2,
            queries: vec![1, 2],
            batch_rows: 8192,
            concurrency: 1,
            memory: MemorySettings::default(),
            baseline: None,
            parquet: None,
            load: false,
        };
        let report = |query, check| QueryReport {
            query,
            rows: 4,
            p50_ms: 2.0,
            p99_ms: 3.0,
            check,
            run: Some(RunStats::default()),
            peak_rss: None,
            idle_rss: Some(1 << 20),
            slowest_node: None,
            baseline: Some(BaselineResult {
                engine: "duckdb",
                p50_ms: 1.0,
                check: Check::Passed,
            }),
        };
        let reports = [
            report(1, Check::Passed),
            report(2, Check::Failed("row 3 \"differs\"".into())),
        ];
        let json: serde_json::Value =
            serde_json::from_str(&format_json(&options, &reports)).unwrap();
        assert_eq!(json["total_p50_ms"], 4.0);
        assert_eq!(json["queries"][0]["check"], "passed");
        assert_eq!(json["queries"][0]["p99_over_p50"], 1.5);
        assert_eq!(json["queries"][0]["shuffled_bytes"], 0);
        assert_eq!(json["queries"][0]["idle_rss"], 1 << 20);
        assert_eq!(json["queries"][0]["baseline"]["engine"], "duckdb");
        assert_eq!(json["queries"][0]["baseline"]["check"], "passed");
        assert_eq!(json["queries"][1]["check"], "failed");
        assert_eq!(json["queries"][1]["error"], "row 3 \"differs\"");
    }
}
