//! Goal: `CREATE TABLE .. AS` loads a query's rows once, laid out for the joins to
//! come. TPC-H loaded from Parquet files, hash-partitioned on its join keys, answers
//! all 22 queries; a join of two tables loaded on the same key runs without an
//! exchange; a load that fails (bad data, memory) leaves no table; bad statements are
//! named.

use percore_bench::external::tpch_load_layout;
use percore_bench::harness::check_queries;
use percore_engine::error::ErrorCode;
use percore_engine::session::{Cluster, ClusterConfig};

use crate::common;

use common::{empty_cluster, run, tpch_files, Dir, TABLES};

/// External tables `files_<name>` over the TPC-H Parquet files, then each loaded as
/// `<name>`.
fn load_tpch(cluster: &Cluster, dir: &Dir) {
    for table in TABLES {
        run(
            cluster,
            &format!(
                "CREATE EXTERNAL TABLE files_{table} STORED AS PARQUET LOCATION '{}'",
                dir.path(&format!("{table}.parquet"))
            ),
        )
        .expect("external table");
        let loaded = run(
            cluster,
            &format!(
                "CREATE TABLE {table} {} AS SELECT * FROM files_{table}",
                tpch_load_layout(table)
            ),
        )
        .expect("table loaded");
        assert!(
            loaded[0][0].starts_with(&format!("created table {table}: ")),
            "{loaded:?}"
        );
    }
}

#[test]
fn tpch_loaded_partitioned_on_its_keys_gives_the_reference_answers() {
    let dir = Dir::new("load");
    tpch_files(&dir.0);
    for cores in [1, 2, 3] {
        let cluster = empty_cluster(cores);
        load_tpch(&cluster, &dir);
        let counted = run(&cluster, "select count(*) from lineitem").unwrap();
        let from_files = run(&cluster, "select count(*) from files_lineitem").unwrap();
        assert_eq!(counted, from_files);
        // Statistics measured at load: distinct counts within a few percent.
        let stats = run(&cluster, "SHOW STATS orders").unwrap();
        let distinct = |column: &str| -> f64 {
            let row = stats.iter().find(|row| row[0] == column).unwrap();
            row[1].parse().unwrap()
        };
        assert!(
            (distinct("o_orderkey") - 15_000.0).abs() < 750.0,
            "{stats:?}"
        );
        assert!((distinct("o_custkey") - 1_000.0).abs() < 50.0, "{stats:?}");
        assert_eq!(distinct("o_orderstatus"), 3.0, "{stats:?}");
        let key = stats.iter().find(|row| row[0] == "o_orderkey").unwrap();
        assert_eq!(key[2..], ["1.0".to_string(), "60000.0".to_string()]);
        let failures = check_queries(&cluster, 0.01, &(1..=22).collect::<Vec<_>>());
        assert!(
            failures.is_empty(),
            "{cores} cores:\n{}",
            failures.join("\n")
        );
    }
}

#[test]
fn tables_loaded_on_one_key_join_without_an_exchange() {
    let dir = Dir::new("co-partitioned");
    tpch_files(&dir.0);
    let cluster = empty_cluster(2);
    load_tpch(&cluster, &dir);
    let explain = |sql: &str| {
        run(&cluster, &format!("EXPLAIN {sql}"))
            .unwrap()
            .into_iter()
            .map(|row| row.join(" "))
            .collect::<Vec<_>>()
            .join("\n")
    };
    let join = "select o_orderpriority, count(*) from orders join lineitem \
                on l_orderkey = o_orderkey group by o_orderpriority";
    let plan = explain(join);
    assert!(
        plan.contains("inputs already co-partitioned (hash on"),
        "{plan}"
    );
    assert!(
        !plan.contains("hash(o_orderkey") && !plan.contains("hash(l_orderkey"),
        "{plan}"
    );
    // The same join over the files needs both sides moved.
    let files = explain(
        &join
            .replace("orders", "files_orders")
            .replace("lineitem", "files_lineitem"),
    );
    assert!(files.contains("hash("), "{files}");
    // An aggregation on the key needs no exchange either.
    let grouped = explain("select l_orderkey, sum(l_quantity) from lineitem group by l_orderkey");
    assert!(!grouped.contains("hash("), "{grouped}");
    // Loading from a table already laid out on the key moves nothing.
    let reload =
        explain("CREATE TABLE again PARTITIONED BY HASH (o_orderkey) AS SELECT * FROM orders");
    assert!(
        reload.contains("store into again: rows already hashed"),
        "{reload}"
    );
    assert!(
        reload.contains("kept as table again (hash on (o_orderkey))"),
        "{reload}"
    );
    // A replicated dimension joins where the other side lies.
    let replicated = explain("select n_name, count(*) from customer join nation on c_nationkey = n_nationkey group by n_name");
    assert!(
        replicated.contains("replicated on every partition"),
        "{replicated}"
    );
    // Same answers as the files.
    let answer = run(&cluster, join).unwrap();
    let expected = run(
        &cluster,
        &join
            .replace("orders", "files_orders")
            .replace("lineitem", "files_lineitem"),
    )
    .unwrap();
    let sorted = |mut rows: Vec<Vec<String>>| {
        rows.sort();
        rows
    };
    assert_eq!(sorted(answer), sorted(expected));
}

#[test]
fn a_load_without_a_layout_keeps_the_query_partitioning() {
    let dir = Dir::new("as-computed");
    tpch_files(&dir.0);
    let cluster = empty_cluster(2);
    load_tpch(&cluster, &dir);
    let tables = |cluster: &Cluster| run(cluster, "SHOW TABLES").unwrap();
    run(
        &cluster,
        "CREATE TABLE by_key AS SELECT l_orderkey, l_quantity FROM lineitem",
    )
    .unwrap();
    run(
        &cluster,
        "CREATE TABLE sorted AS SELECT o_orderkey FROM files_orders ORDER BY o_orderkey LIMIT 100",
    )
    .unwrap();
    run(
        &cluster,
        "CREATE TABLE totals AS SELECT count(*) AS n FROM files_orders",
    )
    .unwrap();
    let listed = tables(&cluster);
    let source = |name: &str| {
        listed
            .iter()
            .find(|row| row[0] == name)
            .unwrap_or_else(|| panic!("{name} in {listed:?}"))
            .clone()
    };
    assert_eq!(source("by_key")[3], "memory, hash on (l_orderkey)");
    assert_eq!(source("sorted")[1], "100");
    assert_eq!(source("totals")[1], "1");
    assert_eq!(
        run(&cluster, "select n from totals").unwrap(),
        [["15000".to_string()]]
    );
    assert_eq!(
        run(&cluster, "select count(*), min(o_orderkey), max(o_orderkey) from sorted").unwrap(),
        run(&cluster, "select count(*), min(o_orderkey), max(o_orderkey) from (select o_orderkey from orders order by o_orderkey limit 100) t").unwrap()
    );
}

#[test]
fn a_failed_load_leaves_no_table_and_bad_statements_are_named() {
    let dir = Dir::new("load-errors");
    tpch_files(&dir.0);
    let cluster = empty_cluster(2);
    load_tpch(&cluster, &dir);
    let before = run(&cluster, "SHOW TABLES").unwrap();
    // One row of one partition fails: nothing is registered.
    let error = run(
        &cluster,
        "CREATE TABLE bad AS SELECT o_orderkey / (o_orderkey - 7) AS q FROM orders",
    )
    .unwrap_err();
    assert_eq!(error.code, ErrorCode::DivisionByZero, "{error}");
    assert_eq!(run(&cluster, "SHOW TABLES").unwrap(), before);
    let error = run(
        &cluster,
        "CREATE TABLE t PARTITIONED BY HASH (nope) AS SELECT * FROM nation",
    )
    .unwrap_err();
    assert!(
        error.message.contains("nope") && error.message.contains("n_nationkey"),
        "{error}"
    );
    let error = run(
        &cluster,
        "CREATE TABLE t AS SELECT a.n_name, b.n_name FROM nation a JOIN nation b ON a.n_nationkey = b.n_nationkey",
    )
    .unwrap_err();
    assert!(error.message.contains("two columns named"), "{error}");
    let error = run(&cluster, "CREATE TABLE nation AS SELECT 1 AS one").unwrap_err();
    assert!(error.message.contains("already exists"), "{error}");
    let same = run(
        &cluster,
        "CREATE TABLE IF NOT EXISTS nation AS SELECT 1 AS one",
    )
    .unwrap();
    assert_eq!(same, [["table nation exists".to_string()]]);
    run(
        &cluster,
        "CREATE OR REPLACE TABLE nation PARTITIONED BY REPLICATED AS SELECT 1 AS one",
    )
    .unwrap();
    assert_eq!(
        run(&cluster, "select * from nation").unwrap(),
        [["1".to_string()]]
    );
    let error = run(&cluster, "CREATE TABLE t (a INT)").unwrap_err();
    assert_eq!(error.code, ErrorCode::Unsupported, "{error}");
    assert_eq!(run(&cluster, "select 1").unwrap(), [["1".to_string()]]);
}

#[test]
fn a_load_beyond_the_query_budget_fails_clearly_and_frees_its_memory() {
    let dir = Dir::new("load-memory");
    tpch_files(&dir.0);
    // Too little to gather one batch of lineitem's rows.
    let config = ClusterConfig::new(2).with_memory_per_core(256 << 10);
    let cluster = Cluster::start(
        std::sync::Arc::new(percore_engine::catalog::Catalog::new(2)),
        config,
    )
    .unwrap();
    run(
        &cluster,
        &format!(
            "CREATE EXTERNAL TABLE files_lineitem STORED AS PARQUET LOCATION '{}'",
            dir.path("lineitem.parquet")
        ),
    )
    .unwrap();
    let error = run(
        &cluster,
        "CREATE TABLE lineitem AS SELECT * FROM files_lineitem",
    )
    .unwrap_err();
    assert_eq!(error.code, ErrorCode::ResourcesExhausted, "{error}");
    assert!(run(&cluster, "select count(*) from lineitem").is_err());
    for core in 0..2 {
        assert_eq!(cluster.memory().pool.used(core), 0, "core {core}");
        assert_eq!(cluster.memory().tables.used(core), 0, "core {core}");
    }
}

/// Files under `dir`, recursively.
fn files_under(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir).map_or(0, |entries| {
        entries
            .flatten()
            .map(|entry| {
                if entry.path().is_dir() {
                    files_under(&entry.path())
                } else {
                    1
                }
            })
            .sum()
    })
}

#[test]
fn tables_beyond_their_memory_live_on_disk_and_answer_the_same() {
    let dir = Dir::new("load-disk");
    tpch_files(&dir.0);
    let spill = dir.0.join("spill");
    let data = dir.0.join("data");
    std::fs::create_dir_all(&spill).unwrap();
    let table_memory = 256 << 10;
    let start = |data: Option<std::path::PathBuf>| {
        let config = ClusterConfig::new(2)
            .with_table_memory_per_core(table_memory)
            .with_spill_dir(spill.clone())
            .with_data_dir(data);
        Cluster::start(
            std::sync::Arc::new(percore_engine::catalog::Catalog::new(2)),
            config,
        )
        .unwrap()
    };
    let memory_within_bounds = |cluster: &Cluster| {
        for core in 0..2 {
            let used = cluster.memory().tables.used(core);
            assert!(used > 0 && used <= table_memory, "core {core}: {used}");
        }
    };
    for data_dir in [None, Some(data)] {
        let mut cluster = start(data_dir.clone());
        load_tpch(&cluster, &dir);
        memory_within_bounds(&cluster);
        assert!(
            files_under(&spill) > 0,
            "rows beyond table memory are on disk"
        );
        let failures = check_queries(&cluster, 0.01, &(1..=22).collect::<Vec<_>>());
        assert!(failures.is_empty(), "{}", failures.join("\n"));
        if data_dir.is_some() {
            // Restarted: the first rows of each partition are read into table
            // memory, the rest scanned from the data directory's files.
            drop(cluster);
            cluster = start(data_dir);
            memory_within_bounds(&cluster);
            let failures = check_queries(&cluster, 0.01, &(1..=22).collect::<Vec<_>>());
            assert!(failures.is_empty(), "{}", failures.join("\n"));
        }
        let replicated = run(
            &cluster,
            "CREATE TABLE everywhere PARTITIONED BY REPLICATED AS SELECT * FROM files_orders",
        )
        .unwrap();
        assert!(replicated[0][0].contains("on disk"), "{replicated:?}");
        assert_eq!(
            run(
                &cluster,
                "select count(*), sum(o_totalprice) from everywhere"
            )
            .unwrap(),
            run(
                &cluster,
                "select count(*), sum(o_totalprice) from files_orders"
            )
            .unwrap()
        );
        // What a table holds is given back when it goes.
        for table in TABLES.iter().chain(&["everywhere"]) {
            run(&cluster, &format!("DROP TABLE {table}")).unwrap();
        }
        for core in 0..2 {
            assert_eq!(cluster.memory().tables.used(core), 0, "core {core}");
        }
        assert_eq!(files_under(&spill), 0, "dropped tables leave no files");
        drop(cluster);
    }
}

#[test]
fn a_data_directory_keeps_tables_across_restarts_and_refuses_another_layout() {
    let dir = Dir::new("data-dir");
    tpch_files(&dir.0);
    let data = dir.0.join("data");
    let start = |cores: usize| {
        let config = ClusterConfig::new(cores).with_data_dir(Some(data.clone()));
        Cluster::start(
            std::sync::Arc::new(percore_engine::catalog::Catalog::new(cores)),
            config,
        )
    };
    let cluster = start(2).unwrap();
    load_tpch(&cluster, &dir);
    run(&cluster, "DROP TABLE files_part").unwrap();
    let tables = run(&cluster, "SHOW TABLES").unwrap();
    let stats = run(&cluster, "SHOW STATS lineitem").unwrap();
    drop(cluster);

    let cluster = start(2).unwrap();
    assert_eq!(run(&cluster, "SHOW TABLES").unwrap(), tables);
    assert_eq!(run(&cluster, "SHOW STATS lineitem").unwrap(), stats);
    let failures = check_queries(&cluster, 0.01, &(1..=22).collect::<Vec<_>>());
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    drop(cluster);

    // Partitions written for 2 cores cannot serve 3.
    let error = start(3).err().expect("another layout is refused");
    assert!(error.message.contains("with 2 cores"), "{error}");
    // A damaged catalog is named, not ignored.
    std::fs::write(data.join("catalog.json"), b"{ not json").unwrap();
    let error = start(2).err().expect("a damaged catalog is refused");
    assert!(error.message.contains("catalog.json is damaged"), "{error}");
}

#[test]
fn copy_to_writes_files_that_read_back_as_the_same_rows() {
    let dir = Dir::new("copy-to");
    tpch_files(&dir.0);
    let cluster = empty_cluster(2);
    load_tpch(&cluster, &dir);
    let out = |name: &str| dir.path(&format!("out/{name}"));
    std::fs::create_dir_all(dir.0.join("out")).unwrap();
    let summary = "select count(*), sum(o_totalprice), min(o_orderdate), max(o_comment) from";
    let expected = run(&cluster, &format!("{summary} orders")).unwrap();
    // One file, written by the coordinator, in each format.
    let wrote = run(
        &cluster,
        &format!("COPY orders TO '{}'", out("orders.parquet")),
    )
    .unwrap();
    assert_eq!(
        wrote[0][0],
        format!("wrote 15000 rows to parquet file {}", out("orders.parquet"))
    );
    run(
        &cluster,
        &format!(
            "COPY (SELECT * FROM orders) TO '{}' (FORMAT csv, HEADER true)",
            out("orders.csv")
        ),
    )
    .unwrap();
    // One file per partition, written where the rows are.
    let wrote = run(
        &cluster,
        &format!(
            "COPY (SELECT * FROM orders WHERE o_orderkey > 0) TO '{}'",
            out("parts/")
        ),
    )
    .unwrap();
    assert!(
        wrote[0][0].starts_with("wrote 15000 rows to parquet part files"),
        "{wrote:?}"
    );
    let parts = std::fs::read_dir(dir.0.join("out/parts")).unwrap().count();
    assert_eq!(parts, 2);
    for (name, format, location) in [
        ("from_parquet", "PARQUET", out("orders.parquet")),
        ("from_csv", "CSV", out("orders.csv")),
        ("from_parts", "PARQUET", out("parts")),
    ] {
        let options = if format == "CSV" {
            " OPTIONS (header = 'true')"
        } else {
            ""
        };
        run(
            &cluster,
            &format!(
                "CREATE EXTERNAL TABLE {name} STORED AS {format} LOCATION '{location}'{options}"
            ),
        )
        .unwrap();
        let read = run(&cluster, &format!("{summary} {name}")).unwrap();
        if format == "CSV" {
            // CSV has no decimals or dates: the inferred types print differently.
            assert_eq!(read[0][0], expected[0][0], "{name}");
        } else {
            assert_eq!(read, expected, "{name}");
        }
    }
    // A failed query writes nothing; COPY FROM is not how files are read.
    let error = run(
        &cluster,
        &format!(
            "COPY (SELECT 1 / (o_orderkey - 7) FROM orders) TO '{}'",
            out("bad.parquet")
        ),
    )
    .unwrap_err();
    assert_eq!(error.code, ErrorCode::DivisionByZero, "{error}");
    let left: Vec<String> = std::fs::read_dir(dir.0.join("out"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().to_string())
        .collect();
    assert!(!left.iter().any(|name| name.contains("bad")), "{left:?}");
    let error = run(
        &cluster,
        &format!("COPY orders FROM '{}'", out("orders.csv")),
    )
    .unwrap_err();
    assert_eq!(error.code, ErrorCode::Unsupported, "{error}");
    let error = run(
        &cluster,
        &format!("COPY orders TO '{}' (FORMAT json)", out("o.json")),
    )
    .unwrap_err();
    assert!(error.message.contains("json"), "{error}");
}
