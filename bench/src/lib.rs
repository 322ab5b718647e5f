//! TPC-H harness support: the 22 queries, reference answers, and result comparison.

pub mod answers;
#[cfg(feature = "datafusion-baseline")]
pub mod baseline;
pub mod cancel;
pub mod clients;
pub mod duckdb;
pub mod export;
pub mod external;
pub mod harness;
pub mod rss;
pub mod stragglers;
pub mod tables;
pub mod tpcds;
pub mod zipf;

use std::path::PathBuf;

/// Directory holding `queries/` and `answers/` (shipped with the repository).
pub fn tpch_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tpch")
}

/// The SQL text of TPC-H query `number` (1..=22).
///
/// # Errors
/// When the file is missing.
pub fn query_sql(number: usize) -> std::io::Result<String> {
    std::fs::read_to_string(tpch_dir().join("queries").join(format!("q{number:02}.sql")))
}
