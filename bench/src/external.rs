//! Tables over a directory of Parquet files: an empty cluster with one external
//! table per `<table>.parquet`, as the harnesses and tests that read files use it.

use std::path::Path;
use std::sync::Arc;

use percore_engine::catalog::Catalog;
use percore_engine::session::{Cluster, ClusterConfig};
use percore_engine::settings::SessionSettings;
use percore_engine::sql::ParsedStatement;

/// The tables of a data directory: every `<table>.parquet` in it, sorted.
///
/// # Errors
/// When the directory cannot be read or holds no Parquet file.
pub fn tables_in(data: &Path) -> Result<Vec<String>, String> {
    let entries =
        std::fs::read_dir(data).map_err(|e| format!("cannot list {}: {e}", data.display()))?;
    let mut names: Vec<String> = entries
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().to_string();
            name.strip_suffix(".parquet").map(str::to_string)
        })
        .collect();
    names.sort();
    if names.is_empty() {
        return Err(format!("no .parquet files in {}", data.display()));
    }
    Ok(names)
}

/// An empty cluster with one external table per file of `data`.
///
/// # Errors
/// When the cluster cannot start or a table cannot be created.
pub fn cluster_over(data: &Path, config: ClusterConfig) -> Result<Cluster, String> {
    let catalog = Catalog::new(config.cores);
    let cluster = Cluster::start(Arc::new(catalog), config).map_err(|e| e.to_string())?;
    let mut settings = SessionSettings::default();
    for name in tables_in(data)? {
        let sql = format!(
            "CREATE EXTERNAL TABLE {name} STORED AS PARQUET LOCATION '{}'",
            data.join(format!("{name}.parquet")).display()
        );
        let ParsedStatement::Session(statement) = cluster.parse(&sql).map_err(|e| e.to_string())?
        else {
            return Err(format!("not DDL: {sql}"));
        };
        cluster
            .session_statement(&statement, &mut settings)
            .map_err(|e| format!("{name}: {e}"))?;
    }
    Ok(cluster)
}
