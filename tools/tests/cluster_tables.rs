//! Goal: a cluster started with no data (`--tpch 0`) is given a user's files and
//! loads them, and every node has the same catalog at every step. DDL sent to any
//! node runs on all of them or on none; TPC-H answers come out right from external
//! Parquet tables and from tables loaded hash-partitioned on their keys; a load that
//! fails on one node leaves no table on any node.

use std::path::PathBuf;
use std::process::Command;

use percore_bench::external::tpch_load_layout;
use percore_server::local::{LocalCluster, LocalClusterOptions};

mod common;

use common::{check_tpch, query, start};

const TABLES: [&str; 8] = [
    "nation", "region", "part", "supplier", "partsupp", "customer", "orders", "lineitem",
];

/// TPC-H SF 0.01 as Parquet, written by `percore gen`; removed when dropped.
struct Files(PathBuf);

impl Files {
    fn generate() -> Files {
        let dir =
            std::env::temp_dir().join(format!("percore-cluster-files-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let output = Command::new(env!("CARGO_BIN_EXE_percore"))
            .args(["gen", "--sf", "0.01", "--cores", "2", "--out"])
            .arg(&dir)
            .output()
            .expect("percore gen runs");
        assert!(output.status.success(), "{output:?}");
        Files(dir)
    }

    fn path(&self, table: &str) -> String {
        self.0
            .join(format!("{table}.parquet"))
            .display()
            .to_string()
    }
}

impl Drop for Files {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Runs `sql` through `node`, which must succeed; its rows.
fn run(cluster: &LocalCluster, node: usize, sql: &str) -> Vec<Vec<String>> {
    let mut client = cluster.connect(node).expect("node accepts clients");
    query(&mut client, sql).unwrap_or_else(|error| panic!("{sql} via node {node}: {error:?}"))
}

/// Runs `sql` through `node`, which must fail; its SQLSTATE and message.
fn fails(cluster: &LocalCluster, node: usize, sql: &str) -> (String, String) {
    let mut client = cluster.connect(node).expect("node accepts clients");
    match query(&mut client, sql) {
        Ok(rows) => panic!("{sql} via node {node} succeeded: {rows:?}"),
        Err(error) => error,
    }
}

/// Every node's table names: they must be the same on all of them.
fn same_tables_everywhere(cluster: &LocalCluster, nodes: usize) -> Vec<String> {
    let listed: Vec<Vec<String>> = (0..nodes)
        .map(|node| {
            run(cluster, node, "SHOW TABLES")
                .into_iter()
                .map(|row| row[0].clone())
                .collect()
        })
        .collect();
    for (node, tables) in listed.iter().enumerate() {
        assert_eq!(tables, &listed[0], "node {node} differs from node 0");
    }
    listed[0].clone()
}

fn create_external(cluster: &LocalCluster, files: &Files, prefix: &str) {
    for (index, table) in TABLES.iter().enumerate() {
        // Each node coordinates some of the DDL.
        run(
            cluster,
            index % 3,
            &format!(
                "CREATE EXTERNAL TABLE {prefix}{table} STORED AS PARQUET LOCATION '{}'",
                files.path(table)
            ),
        );
    }
}

#[test]
fn ddl_and_loads_run_on_every_node_or_none() {
    let files = Files::generate();
    let cluster = start("tables", LocalClusterOptions::new(3, 1, 0.0));
    assert!(same_tables_everywhere(&cluster, 3).is_empty());

    // External tables, created through different nodes, are on every node.
    create_external(&cluster, &files, "");
    assert_eq!(same_tables_everywhere(&cluster, 3).len(), 8);
    let failures = check_tpch(&cluster, 3, &(1..=22).collect::<Vec<_>>());
    assert!(failures.is_empty(), "external:\n{}", failures.join("\n"));

    // A location that does not exist fails everywhere; the name stays free.
    let (state, message) = fails(
        &cluster,
        1,
        "CREATE EXTERNAL TABLE ghost STORED AS PARQUET LOCATION '/nonexistent/ghost.parquet'",
    );
    assert!(message.contains("ghost.parquet"), "{state} {message}");
    let (_, message) = fails(
        &cluster,
        2,
        &format!(
            "CREATE EXTERNAL TABLE orders STORED AS PARQUET LOCATION '{}'",
            files.path("orders")
        ),
    );
    assert!(message.contains("already exists"), "{message}");

    // Drop them all, through node 2, and load the tables from files, partitioned.
    for table in TABLES {
        run(&cluster, 2, &format!("DROP TABLE {table}"));
    }
    assert!(same_tables_everywhere(&cluster, 3).is_empty());
    create_external(&cluster, &files, "files_");
    for (index, table) in TABLES.iter().enumerate() {
        let layout = tpch_load_layout(table);
        let created = run(
            &cluster,
            index % 3,
            &format!("CREATE TABLE {table} {layout} AS SELECT * FROM files_{table}"),
        );
        assert!(
            created[0][0].starts_with(&format!("created table {table}: ")),
            "{created:?}"
        );
    }
    assert_eq!(same_tables_everywhere(&cluster, 3).len(), 16);
    let failures = check_tpch(&cluster, 3, &(1..=22).collect::<Vec<_>>());
    assert!(failures.is_empty(), "loaded:\n{}", failures.join("\n"));
    let plan = run(
        &cluster,
        1,
        "explain select count(*) from orders join lineitem on o_orderkey = l_orderkey",
    );
    let plan: Vec<String> = plan.into_iter().map(|row| row.join(" ")).collect();
    assert!(
        plan.iter()
            .any(|line| line.contains("inputs already co-partitioned")),
        "{plan:#?}"
    );
    // Every node counted the same rows and plans with the same statistics.
    let stats = run(&cluster, 0, "SHOW STATS lineitem");
    for node in 1..3 {
        assert_eq!(run(&cluster, node, "SHOW STATS lineitem"), stats);
    }
    for node in 0..3 {
        assert_eq!(
            run(&cluster, node, "select count(*) from lineitem"),
            run(&cluster, node, "select count(*) from files_lineitem")
        );
    }

    // A load whose query fails on one partition (on one node) leaves no table.
    let before = same_tables_everywhere(&cluster, 3);
    let (state, message) = fails(
        &cluster,
        0,
        "CREATE TABLE bad AS SELECT o_orderkey / (o_orderkey - 7) AS q FROM orders",
    );
    assert_eq!(state, "22000", "{message}");
    assert_eq!(same_tables_everywhere(&cluster, 3), before);
    // The name is free on every node afterwards.
    run(
        &cluster,
        1,
        "CREATE TABLE bad PARTITIONED BY REPLICATED AS SELECT 1 AS one",
    );
    for node in 0..3 {
        assert_eq!(run(&cluster, node, "select count(*) from bad"), [["1"]]);
    }
}
