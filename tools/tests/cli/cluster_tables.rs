//! Goal: a cluster started with no data (`--tpch 0`) is given a user's files and
//! loads them, and every node has the same catalog at every step. DDL sent to any
//! node runs on all of them or on none; TPC-H answers come out right from external
//! Parquet tables and from tables loaded hash-partitioned on their keys; a load that
//! fails on one node leaves no table on any node.

use std::path::PathBuf;
use std::process::Command;

use percore_bench::external::tpch_load_layout;
use percore_server::local::{LocalCluster, LocalClusterOptions};

use crate::common;

use common::{check_tpch, query, start};

const TABLES: [&str; 8] = [
    "nation", "region", "part", "supplier", "partsupp", "customer", "orders", "lineitem",
];

/// TPC-H SF 0.01 as Parquet, written by `percore gen`; removed when dropped.
struct Files(PathBuf);

impl Files {
    fn generate(test: &str) -> Files {
        let dir = std::env::temp_dir().join(format!(
            "percore-cluster-files-{test}-{}",
            std::process::id()
        ));
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
    let files = Files::generate("ddl");
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

    // COPY .. TO: one file from the coordinator, or each node writing its partitions.
    let out = files.0.join("out");
    std::fs::create_dir_all(&out).unwrap();
    let file = out.join("lineitem.parquet").display().to_string();
    run(&cluster, 2, &format!("COPY lineitem TO '{file}'"));
    let parts = format!("{}/", out.join("parts").display());
    let wrote = run(
        &cluster,
        1,
        &format!("COPY (SELECT * FROM lineitem) TO '{parts}'"),
    );
    assert!(wrote[0][0].contains("part files"), "{wrote:?}");
    let mut written: Vec<String> = std::fs::read_dir(out.join("parts"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().to_string())
        .collect();
    written.sort();
    assert_eq!(
        written,
        ["part-0.parquet", "part-1.parquet", "part-2.parquet"]
    );
    for (name, location) in [("copied_file", file), ("copied_parts", parts)] {
        run(
            &cluster,
            0,
            &format!("CREATE EXTERNAL TABLE {name} STORED AS PARQUET LOCATION '{location}'"),
        );
        assert_eq!(
            run(
                &cluster,
                0,
                &format!("select count(*), sum(l_quantity) from {name}")
            ),
            run(
                &cluster,
                0,
                "select count(*), sum(l_quantity) from lineitem"
            )
        );
    }

    // A load whose query fails on one partition (on one node) leaves no table.
    let before = same_tables_everywhere(&cluster, 3);
    let (state, message) = fails(
        &cluster,
        0,
        "CREATE TABLE bad AS SELECT o_orderkey / (o_orderkey - 7) AS q FROM orders",
    );
    assert_eq!(state, "22012", "{message}");
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

/// A scratch data directory root for a cluster's nodes; removed when dropped.
struct DataDirs(PathBuf);

impl DataDirs {
    fn new(test: &str) -> DataDirs {
        let dir = std::env::temp_dir().join(format!("percore-data-{test}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        DataDirs(dir)
    }

    /// What is under node `node`'s table directory: loaded tables and anything staged.
    fn table_dirs(&self, node: usize) -> Vec<String> {
        let dir = self.0.join(format!("node-{node}")).join("tables");
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .map(|entries| {
                entries
                    .flatten()
                    .map(|e| e.file_name().to_string_lossy().to_string())
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        names
    }
}

impl Drop for DataDirs {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn nodes_restarted_with_their_data_directory_answer_as_before() {
    let files = Files::generate("restart");
    let data = DataDirs::new("restart");
    let mut options = LocalClusterOptions::new(3, 1, 0.0);
    options.extra_args = vec!["--data-dir".into(), data.0.display().to_string()];
    let mut cluster = start("restart", options);
    create_external(&cluster, &files, "files_");
    for (index, table) in TABLES.iter().enumerate() {
        let layout = tpch_load_layout(table);
        run(
            &cluster,
            index % 3,
            &format!("CREATE TABLE {table} {layout} AS SELECT * FROM files_{table}"),
        );
    }
    let queries: Vec<usize> = (1..=22).collect();
    let tables = same_tables_everywhere(&cluster, 3);
    let stats = run(&cluster, 0, "SHOW STATS orders");

    // Killed (no clean shutdown) and started again with the same flags: the node
    // reads its catalog and partitions back, and the cluster answers as before.
    let timeout = std::time::Duration::from_secs(120);
    cluster.restart(1, timeout).expect("node 1 comes back");
    assert_eq!(same_tables_everywhere(&cluster, 3), tables);
    assert_eq!(run(&cluster, 1, "SHOW STATS orders"), stats);
    let failures = check_tpch(&cluster, 3, &queries);
    assert!(
        failures.is_empty(),
        "after a restart:\n{}",
        failures.join("\n")
    );

    // A node killed while a load runs: the load fails, and once the node is back no
    // node has the table or anything staged for it.
    let before: Vec<Vec<String>> = (0..3).map(|node| data.table_dirs(node)).collect();
    let address = cluster.client_addresses()[0];
    let load = std::thread::spawn(move || {
        let mut client = percore_server::pgwire::client::Client::connect(
            address,
            std::time::Duration::from_secs(10),
        )
        .unwrap();
        query(
            &mut client,
            "CREATE TABLE crossed AS SELECT a.l_orderkey FROM lineitem a, lineitem b \
             WHERE a.l_quantity + b.l_quantity < 0",
        )
    });
    std::thread::sleep(std::time::Duration::from_millis(1500));
    cluster.kill(2);
    let (state, message) = load.join().unwrap().expect_err("the load lost a node");
    assert_eq!(state, "08006", "{message}");
    cluster.restart(2, timeout).expect("node 2 comes back");
    let after = same_tables_everywhere(&cluster, 3);
    assert_eq!(after, tables);
    assert!(!after.contains(&"crossed".to_string()));
    for (node, dirs) in before.iter().enumerate() {
        assert_eq!(&data.table_dirs(node), dirs, "node {node}");
    }
    // The name is free, and a DROP survives a restart too.
    run(
        &cluster,
        2,
        "CREATE TABLE crossed PARTITIONED BY REPLICATED AS SELECT 1 AS one",
    );
    run(&cluster, 0, "DROP TABLE files_part");
    cluster.restart(0, timeout).expect("node 0 comes back");
    let tables = same_tables_everywhere(&cluster, 3);
    assert!(tables.contains(&"crossed".to_string()), "{tables:?}");
    assert!(!tables.contains(&"files_part".to_string()), "{tables:?}");
    let failures = check_tpch(&cluster, 3, &[3, 9, 18]);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
