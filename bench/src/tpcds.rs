//! TPC-DS over Parquet files: the 99 queries (`bench/tpcds/queries`), run on tables
//! created over `<table>.parquet` files, timed, and checked against the official
//! answers where the project has them (SF 0.01 and 1, `bench/tpcds/answers`):
//! numbers within the tolerance of [`crate::answers::compare`], NULL as an empty
//! field, row order where the query orders. DuckDB can run beside it over the same
//! files.

use std::path::PathBuf;

use percore_engine::memory::MemorySettings;
use percore_engine::session::ClusterConfig;

use crate::answers::{compare, format_rows, load_answer, Rows};
pub use crate::external::{cluster_over, tables_in};
use crate::harness::{latency_histogram, quantile_ms, Check};

/// The project's TPC-DS kit: queries, answers, the SF 0.01 tables.
pub fn tpcds_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tpcds")
}

/// The text of query `number` (1..=99).
///
/// # Errors
/// When the file is missing.
pub fn query_sql(number: usize) -> std::io::Result<String> {
    std::fs::read_to_string(tpcds_dir().join(format!("queries/q{number:02}.sql")))
}

/// Checks rows (NULL printed as `NULL`) against the answer at `scale_factor`.
pub fn verify(scale_factor: f64, query: usize, sql: &str, rows: Rows) -> Check {
    let sf = if scale_factor == 1.0 {
        "sf1".to_string()
    } else {
        format!("sf{scale_factor}")
    };
    let path = tpcds_dir().join(format!("answers/{sf}/q{query:02}.csv"));
    if !path.exists() {
        return Check::Unverified;
    }
    let expected = match load_answer(&path) {
        Ok(rows) => rows,
        Err(error) => return Check::Failed(error),
    };
    let actual: Rows = rows
        .into_iter()
        .map(|row| {
            row.into_iter()
                .map(|cell| if cell == "NULL" { String::new() } else { cell })
                .collect()
        })
        .collect();
    let ordered = sql.to_ascii_lowercase().contains("order by");
    match compare(&actual, &expected, ordered) {
        Ok(()) => Check::Passed,
        Err(error) => Check::Failed(error),
    }
}

pub struct TpcdsOptions {
    pub scale_factor: f64,
    pub data: PathBuf,
    pub cores: usize,
    pub iterations: usize,
    pub queries: Vec<usize>,
    pub batch_rows: usize,
    pub memory: MemorySettings,
    /// Also run every query on DuckDB over the same files, alternating.
    pub duckdb: bool,
}

pub struct TpcdsReport {
    pub query: usize,
    pub rows: usize,
    pub p50_ms: f64,
    pub check: Check,
    /// DuckDB's median and the check of its answer.
    pub duckdb: Option<(f64, Check)>,
}

/// Runs the queries; returns one report per query.
///
/// # Errors
/// When the cluster or DuckDB cannot start; a failing query is reported, not returned.
pub fn run(
    options: &TpcdsOptions,
    mut progress: impl FnMut(&TpcdsReport),
) -> Result<Vec<TpcdsReport>, String> {
    let config = ClusterConfig {
        memory: options.memory.clone(),
        ..ClusterConfig::new(options.cores).with_batch_rows(options.batch_rows)
    };
    let cluster = cluster_over(&options.data, config, "")?;
    let mut duckdb = if options.duckdb {
        let tables = tables_in(&options.data)?;
        let tables: Vec<&str> = tables.iter().map(String::as_str).collect();
        Some(crate::duckdb::DuckDbBaseline::on_files(
            &options.data,
            &tables,
            options.cores,
        )?)
    } else {
        None
    };
    let mut reports = Vec::new();
    for &query in &options.queries {
        let sql = query_sql(query).map_err(|e| format!("q{query:02}: {e}"))?;
        let mut report = TpcdsReport {
            query,
            rows: 0,
            p50_ms: 0.0,
            check: Check::Unverified,
            duckdb: None,
        };
        let mut histogram = latency_histogram();
        for iteration in 0..options.iterations.max(1) {
            let started = std::time::Instant::now();
            match cluster.sql(&sql) {
                Ok(batches) => {
                    histogram.saturating_record((started.elapsed().as_micros() as u64).max(1));
                    if iteration == 0 {
                        report.rows = batches.iter().map(|b| b.num_rows()).sum();
                        report.check = match format_rows(&batches) {
                            Ok(rows) => verify(options.scale_factor, query, &sql, rows),
                            Err(error) => Check::Failed(error),
                        };
                    }
                }
                Err(error) => {
                    report.check = Check::Failed(error.to_string());
                    break;
                }
            }
        }
        report.p50_ms = quantile_ms(&histogram, 0.5);
        if let Some(duckdb) = duckdb.as_mut() {
            report.duckdb = Some(match duckdb.run_sql(&sql, options.iterations.max(1)) {
                Ok((times, rows)) => {
                    let mut histogram = latency_histogram();
                    for ms in times {
                        histogram.saturating_record(((ms * 1e3) as u64).max(1));
                    }
                    let check = verify(options.scale_factor, query, &sql, rows);
                    (quantile_ms(&histogram, 0.5), check)
                }
                Err(error) => (0.0, Check::Failed(format!("DuckDB: {error}"))),
            });
        }
        progress(&report);
        reports.push(report);
    }
    Ok(reports)
}

/// The per-query table and the totals (DuckDB's beside when it ran).
pub fn format_table(reports: &[TpcdsReport]) -> String {
    let mut out = format!(
        "{:<6} {:>7} {:>11} {:>11} {:>8}  check\n",
        "query", "rows", "Percore ms", "DuckDB ms", "ratio"
    );
    let (mut total, mut duck_total, mut passed, mut failed) = (0.0, 0.0, 0, 0);
    for report in reports {
        total += report.p50_ms;
        let (duck_ms, ratio) = match &report.duckdb {
            Some((ms, _)) => {
                duck_total += ms;
                (
                    format!("{ms:.1}"),
                    format!("{:.2}", ms / report.p50_ms.max(1e-9)),
                )
            }
            None => ("-".into(), "-".into()),
        };
        let check = match &report.check {
            Check::Passed => {
                passed += 1;
                "ok".to_string()
            }
            Check::Unverified => "unverified".to_string(),
            Check::Failed(why) => {
                failed += 1;
                format!("FAILED: {}", why.lines().next().unwrap_or(""))
            }
        };
        out.push_str(&format!(
            "q{:02}    {:>7} {:>11.1} {:>11} {:>8}  {check}\n",
            report.query, report.rows, report.p50_ms, duck_ms, ratio
        ));
    }
    out.push_str(&format!(
        "total of medians: Percore {total:.1} ms{}; {passed} verified, {failed} failed\n",
        if duck_total > 0.0 {
            format!(
                ", DuckDB {duck_total:.1} ms, DuckDB/Percore {:.2}",
                duck_total / total.max(1e-9)
            )
        } else {
            String::new()
        }
    ));
    out
}
