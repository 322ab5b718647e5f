//! DuckDB as a baseline, through its Python package: the catalog's tables are written
//! as Parquet (the very rows Percore scans), a `python3` child process loads them into
//! DuckDB's own memory with as many threads as Percore has cores, and then runs one
//! query per request, timing each run inside DuckDB's process (no pipe or Python
//! start-up in the figures; converting the first run's rows to text is not timed).

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

use percore_engine::catalog::Catalog;
use serde_json::Value;

use crate::export::{write_tables, FileFormat};
use crate::harness::{
    latency_histogram, quantile_ms, verify_rows, BaselineEngine, BaselineResult, Check,
};

const RUNNER: &str = include_str!("duckdb_runner.py");

pub struct DuckDbBaseline {
    child: Child,
    requests: ChildStdin,
    replies: BufReader<ChildStdout>,
    /// The Parquet files it wrote, removed when the baseline is dropped.
    written: Option<PathBuf>,
    load_ms: Vec<(String, f64)>,
}

impl DuckDbBaseline {
    /// Writes `tables` to `data` as Parquet and starts DuckDB over them.
    ///
    /// # Errors
    /// When the files cannot be written, `python3` cannot start, or the `duckdb`
    /// package is missing (the message says how to install it).
    pub fn start(
        catalog: &Catalog,
        tables: &[&str],
        cores: usize,
        data: PathBuf,
    ) -> Result<Self, String> {
        write_tables(catalog, tables, &data, FileFormat::Parquet)?;
        Self::spawn(&data, tables, cores, "load", Some(data.clone()))
    }

    /// Starts DuckDB over the `<table>.parquet` files in `dir`, read by every query
    /// (views, not loaded), as Percore's external tables read them.
    ///
    /// # Errors
    /// As for [`DuckDbBaseline::start`].
    pub fn on_files(dir: &std::path::Path, tables: &[&str], cores: usize) -> Result<Self, String> {
        Self::spawn(dir, tables, cores, "files", None)
    }

    /// Starts DuckDB with the `<table>.parquet` files in `dir` loaded into its own
    /// tables (`CREATE TABLE .. AS SELECT * FROM read_parquet(..)`), timed per table.
    ///
    /// # Errors
    /// As for [`DuckDbBaseline::start`].
    pub fn loading_files(
        dir: &std::path::Path,
        tables: &[&str],
        cores: usize,
    ) -> Result<Self, String> {
        Self::spawn(dir, tables, cores, "load", None)
    }

    /// Milliseconds DuckDB took to create each table at start.
    pub fn load_ms(&self) -> &[(String, f64)] {
        &self.load_ms
    }

    fn spawn(
        data: &std::path::Path,
        tables: &[&str],
        cores: usize,
        mode: &str,
        written: Option<PathBuf>,
    ) -> Result<Self, String> {
        let spawned = Command::new("python3")
            .arg("-c")
            .arg(RUNNER)
            .arg(data)
            .arg(cores.max(1).to_string())
            .arg(tables.join(","))
            .arg(mode)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn();
        let mut child = match spawned {
            Ok(child) => child,
            Err(error) => {
                if let Some(written) = &written {
                    let _ = std::fs::remove_dir_all(written);
                }
                return Err(format!(
                    "cannot run python3 for the DuckDB baseline: {error}"
                ));
            }
        };
        let requests = child.stdin.take().expect("stdin is piped");
        let replies = BufReader::new(child.stdout.take().expect("stdout is piped"));
        let mut baseline = DuckDbBaseline {
            child,
            requests,
            replies,
            written,
            load_ms: Vec::new(),
        };
        let ready = baseline.reply()?;
        if ready.get("ready").is_none() {
            return Err(format!("DuckDB did not start: {}", describe_error(&ready)));
        }
        if let Some(Value::Object(times)) = ready.get("load_ms") {
            baseline.load_ms = times
                .iter()
                .filter_map(|(table, ms)| Some((table.clone(), ms.as_f64()?)))
                .collect();
        }
        Ok(baseline)
    }

    fn reply(&mut self) -> Result<Value, String> {
        let mut line = String::new();
        let read = self
            .replies
            .read_line(&mut line)
            .map_err(|e| format!("reading from DuckDB: {e}"))?;
        if read == 0 {
            return Err("DuckDB's process ended (see its output above)".into());
        }
        serde_json::from_str(&line).map_err(|e| format!("DuckDB replied with bad JSON: {e}"))
    }

    /// Runs `sql` `iterations` times: each run's milliseconds and the first run's
    /// rows as text (NULL as `NULL`).
    ///
    /// # Errors
    /// DuckDB's error, or a broken pipe to it.
    pub fn run_sql(
        &mut self,
        sql: &str,
        iterations: usize,
    ) -> Result<(Vec<f64>, Vec<Vec<String>>), String> {
        let request = serde_json::json!({ "sql": sql, "iterations": iterations });
        writeln!(self.requests, "{request}")
            .and_then(|()| self.requests.flush())
            .map_err(|e| format!("writing to DuckDB: {e}"))?;
        let reply = self.reply()?;
        if reply.get("error").is_some() {
            return Err(describe_error(&reply));
        }
        let times = reply["ms"]
            .as_array()
            .ok_or("DuckDB replied without times")?
            .iter()
            .filter_map(Value::as_f64)
            .collect();
        let rows = reply["rows"]
            .as_array()
            .ok_or("DuckDB replied without rows")?
            .iter()
            .map(|row| {
                row.as_array()
                    .map(|cells| {
                        cells
                            .iter()
                            .map(|c| c.as_str().unwrap_or("").to_string())
                            .collect()
                    })
                    .unwrap_or_default()
            })
            .collect();
        Ok((times, rows))
    }
}

fn describe_error(reply: &Value) -> String {
    reply
        .get("error")
        .and_then(Value::as_str)
        .unwrap_or("no reason given")
        .to_string()
}

impl BaselineEngine for DuckDbBaseline {
    fn measure(
        &mut self,
        scale_factor: f64,
        query: usize,
        sql: &str,
        iterations: usize,
    ) -> BaselineResult {
        let (p50_ms, check) = match self.run_sql(sql, iterations.max(1)) {
            Ok((times, rows)) => {
                let mut histogram = latency_histogram();
                for ms in times {
                    histogram.saturating_record(((ms * 1e3) as u64).max(1));
                }
                let p50 = quantile_ms(&histogram, 0.5);
                (p50, verify_rows(scale_factor, query, rows))
            }
            Err(error) => (0.0, Check::Failed(format!("DuckDB: {error}"))),
        };
        BaselineResult {
            engine: "DuckDB",
            p50_ms,
            check,
        }
    }
}

impl Drop for DuckDbBaseline {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(written) = &self.written {
            let _ = std::fs::remove_dir_all(written);
        }
    }
}
