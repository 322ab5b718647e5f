//! Tables over a directory of Parquet files: an empty cluster with one external
//! table per `<table>.parquet`, as the harnesses and tests that read files use it.

use std::path::Path;
use std::sync::Arc;

use percore_engine::catalog::Catalog;
use percore_engine::session::{Cluster, ClusterConfig};

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

/// An empty cluster with one external table per file of `data`, named
/// `<prefix><file name>`.
///
/// # Errors
/// When the cluster cannot start or a table cannot be created.
pub fn cluster_over(data: &Path, config: ClusterConfig, prefix: &str) -> Result<Cluster, String> {
    let catalog = Catalog::new(config.cores);
    let cluster = Cluster::start(Arc::new(catalog), config).map_err(|e| e.to_string())?;
    for name in tables_in(data)? {
        let sql = format!(
            "CREATE EXTERNAL TABLE {prefix}{name} STORED AS PARQUET LOCATION '{}'",
            data.join(format!("{name}.parquet")).display()
        );
        run_statement(&cluster, &sql).map_err(|e| format!("{name}: {e}"))?;
    }
    Ok(cluster)
}

/// How `CREATE TABLE .. AS` lays out each TPC-H table for its joins: hashed on the
/// key most joins use, the two tiny tables on every partition.
pub fn tpch_load_layout(table: &str) -> &'static str {
    match table {
        "nation" | "region" => "PARTITIONED BY REPLICATED",
        "part" => "PARTITIONED BY HASH (p_partkey)",
        "supplier" => "PARTITIONED BY HASH (s_suppkey)",
        "partsupp" => "PARTITIONED BY HASH (ps_partkey)",
        "customer" => "PARTITIONED BY HASH (c_custkey)",
        "orders" => "PARTITIONED BY HASH (o_orderkey)",
        "lineitem" => "PARTITIONED BY HASH (l_orderkey)",
        _ => "",
    }
}

/// Runs a statement that answers with a few lines (DDL, a load); its first line.
///
/// # Errors
/// The statement's error, as text.
pub fn run_statement(cluster: &Cluster, sql: &str) -> Result<String, String> {
    let batches = cluster.sql(sql).map_err(|e| e.to_string())?;
    let rows = crate::answers::format_rows(&batches)?;
    Ok(rows
        .first()
        .and_then(|row| row.first())
        .cloned()
        .unwrap_or_default())
}
