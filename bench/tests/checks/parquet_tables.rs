//! Goal: a user's Parquet files are tables. An empty cluster (`--tpch 0`) given the
//! TPC-H tables as Parquet files answers all 22 queries like the generated tables;
//! a directory or a wildcard names several files; bad files and locations get clear
//! errors naming them, and the node stays up.

use percore_bench::export::{write_tables, FileFormat};
use percore_bench::harness::check_queries;
use percore_engine::catalog::tpch;
use percore_engine::error::ErrorCode;
use percore_engine::session::{Cluster, ClusterConfig};
use std::sync::Arc;

use crate::common;

use common::{empty_cluster, run, tpch_files, Dir, TABLES};

#[test]
fn tpch_over_parquet_files_gives_the_reference_answers() {
    let dir = Dir::new("tpch");
    tpch_files(&dir.0);
    for cores in [1, 2] {
        let cluster = empty_cluster(cores);
        for table in TABLES {
            let sql = format!(
                "CREATE EXTERNAL TABLE {table} STORED AS PARQUET LOCATION '{}'",
                dir.path(&format!("{table}.parquet"))
            );
            let created = run(&cluster, &sql).expect("table created");
            assert!(
                created[0][0].starts_with(&format!("created table {table}")),
                "{created:?}"
            );
        }
        let failures = check_queries(&cluster, 0.01, &(1..=22).collect::<Vec<_>>());
        assert!(
            failures.is_empty(),
            "{} cores:\n{}",
            cores,
            failures.join("\n")
        );
    }
}

#[test]
fn directories_and_wildcards_name_several_files() {
    let dir = Dir::new("locations");
    tpch_files(&dir.0);
    let both = dir.0.join("both");
    std::fs::create_dir_all(&both).unwrap();
    for copy in ["a.parquet", "b.parquet"] {
        std::fs::copy(dir.0.join("orders.parquet"), both.join(copy)).unwrap();
    }
    std::fs::write(both.join("notes.txt"), "not a table").unwrap();
    let cluster = empty_cluster(2);
    run(
        &cluster,
        &format!(
            "CREATE EXTERNAL TABLE twice STORED AS PARQUET LOCATION '{}'",
            both.display()
        ),
    )
    .unwrap();
    run(
        &cluster,
        &format!(
            "CREATE EXTERNAL TABLE once STORED AS PARQUET LOCATION '{}'",
            dir.path("ord*.parquet")
        ),
    )
    .unwrap();
    let counts = run(
        &cluster,
        "select (select count(*) from twice) as a, (select count(*) from once) as b",
    )
    .unwrap();
    assert_eq!(counts, [["30000".to_string(), "15000".to_string()]]);
    let tables = run(&cluster, "SHOW TABLES").unwrap();
    assert_eq!(tables.len(), 2, "{tables:?}");
    let described = run(&cluster, "DESCRIBE twice").unwrap();
    assert_eq!(described.len(), 9, "{described:?}");
    assert_eq!(
        described[0][..2],
        ["o_orderkey".to_string(), "Int64".to_string()]
    );
    assert_eq!(
        described[8][..2],
        ["o_comment".to_string(), "Utf8View".to_string()]
    );
    let error = run(
        &cluster,
        &format!(
            "CREATE EXTERNAL TABLE once STORED AS PARQUET LOCATION '{}'",
            dir.path("orders.parquet")
        ),
    )
    .unwrap_err();
    assert!(error.message.contains("already exists"), "{error}");
    run(&cluster, "DROP TABLE once").unwrap();
    assert!(run(&cluster, "select count(*) from once").is_err());
}

#[test]
fn row_groups_outside_a_filter_are_skipped_by_their_statistics() {
    let dir = Dir::new("prune");
    let catalog = tpch::generate(0.01, 2, 8192).expect("TPC-H generates");
    let orders = catalog.table("orders").unwrap();
    // Orders in key order, 1000 rows per row group: 15 row groups.
    write_table(orders, &dir.0.join("orders.parquet"), groups_of_1000_rows());
    let cluster = empty_cluster(2);
    run(
        &cluster,
        &format!(
            "CREATE EXTERNAL TABLE orders STORED AS PARQUET LOCATION '{}'",
            dir.path("orders.parquet")
        ),
    )
    .unwrap();
    // Order keys are 1..60000 with gaps: keys below 4000 sit in the first row group.
    let sql = "select count(*), max(o_orderkey) from orders where o_orderkey < 4000";
    let pruned = run(&cluster, sql).unwrap();
    let expected = run(&cluster, "select count(*), max(o_orderkey) from (select o_orderkey from orders) t where o_orderkey + 0 < 4000").unwrap();
    assert_eq!(pruned, expected);
    let line = scan_line(&cluster, sql);
    assert!(line.contains("1 row group(s) read, 14 skipped"), "{line}");
}

/// CREATE EXTERNAL TABLE measures each column's distinct values (footers carry none),
/// strings too: the planner's share of rows for `o_orderstatus = 'F'` is a third, not
/// a guessed tenth. A table of this size is read whole, so the counts are the HLL's.
#[test]
fn distinct_counts_of_a_file_are_measured_when_its_table_is_created() {
    let dir = Dir::new("distinct");
    let catalog = tpch::generate(0.01, 2, 8192).expect("TPC-H generates");
    write_table(
        catalog.table("orders").unwrap(),
        &dir.0.join("orders.parquet"),
        groups_of_1000_rows(),
    );
    let cluster = empty_cluster(2);
    let sql = format!(
        "CREATE EXTERNAL TABLE orders STORED AS PARQUET LOCATION '{}'",
        dir.path("orders.parquet")
    );
    run(&cluster, &sql).unwrap();
    let stats = run(&cluster, "SHOW STATS orders").unwrap();
    let distinct = |column: &str| -> f64 {
        let row = stats.iter().find(|row| row[0] == column).unwrap();
        row[1].parse().unwrap_or_else(|_| panic!("{stats:?}"))
    };
    let exact = |sql: &str| -> f64 { run(&cluster, sql).unwrap()[0][0].parse().unwrap() };
    for column in ["o_orderstatus", "o_orderpriority", "o_clerk", "o_custkey"] {
        let count = exact(&format!("select count(distinct {column}) from orders"));
        assert!(
            (distinct(column) - count).abs() <= count * 0.03,
            "{column}: {count} distinct, {stats:?}"
        );
    }
    assert_eq!(distinct("o_orderstatus"), 3.0, "{stats:?}");
    // Dates and keys keep their ranges from the footers.
    let key = stats.iter().find(|row| row[0] == "o_orderkey").unwrap();
    assert_eq!(key[2..], ["1.0".to_string(), "60000.0".to_string()]);
}

/// A join's build keys, once built, rule out the probe side's row groups and pages
/// whose key range holds none of them: a table written in key order joined with a
/// few keys reads only where they lie. Answers as without the files.
#[test]
fn row_groups_and_pages_without_a_join_key_are_skipped() {
    let dir = Dir::new("join-keys");
    let catalog = tpch::generate(0.01, 2, 8192).expect("TPC-H generates");
    let orders = catalog.table("orders").unwrap();
    let groups = groups_of_1000_rows();
    write_table(orders, &dir.0.join("groups.parquet"), groups);
    let pages = one_group_in_pages_of_1000_rows();
    write_table(orders, &dir.0.join("pages.parquet"), pages);
    let memory = Cluster::start(Arc::new(catalog), ClusterConfig::new(2)).expect("starts");
    let files = empty_cluster(2);
    for name in ["groups", "pages"] {
        let sql = format!(
            "CREATE EXTERNAL TABLE {name} STORED AS PARQUET LOCATION '{}'",
            dir.path(&format!("{name}.parquet"))
        );
        run(&files, &sql).unwrap();
    }
    // Keys 1..=3000 sit in the first 1000 rows (a row group, or a page); 59974 in
    // the last. The keys come from a table so that no filter is planned on orders.
    let sql = "with wanted as (select k from (values (1), (7), (2950), (59974), (70000)) v(k) \
               union all select k from (values (3)) w(k)) \
               select count(*), sum(o_totalprice), min(o_comment) from orders \
               join wanted on o_orderkey = k";
    for table in ["groups", "pages"] {
        let over_file = sql.replace("from orders", &format!("from {table}"));
        let answer = run(&files, &over_file).unwrap();
        assert_eq!(answer, run(&memory, sql).unwrap(), "{table}");
        assert_eq!(answer[0][0], "5", "{answer:?}");
        let line = scan_line(&files, &over_file);
        if table == "groups" {
            assert!(
                line.contains(
                    "2 row group(s) read, 13 skipped by their statistics (13 by a join's keys)"
                ),
                "{line}"
            );
        } else {
            // Two pages of about 1000 rows are read (where a batch ended, a page may
            // be shorter).
            let skipped: usize = line
                .split("; ")
                .find_map(|part| part.strip_suffix(" row(s) skipped by the page index"))
                .and_then(|rows| rows.parse().ok())
                .unwrap_or_else(|| panic!("{line}"));
            assert!((13_000..15_000).contains(&skipped), "{line}");
        }
    }
}

/// A file of one row group is cut between the cores, with or without an offset index
/// (then each core decompresses the whole chunks and decodes its own rows).
#[test]
fn one_large_row_group_is_read_by_every_core() {
    use parquet::file::properties::{EnabledStatistics, WriterProperties};
    let dir = Dir::new("one-group");
    let catalog = tpch::generate(0.01, 1, 8192).expect("TPC-H generates");
    let lineitem = catalog.table("lineitem").unwrap();
    let one_group = || {
        WriterProperties::builder()
            .set_max_row_group_row_count(Some(100_000))
            .set_data_page_row_count_limit(1000)
            .set_write_batch_size(1000)
    };
    write_table(
        lineitem,
        &dir.0.join("indexed.parquet"),
        one_group().build(),
    );
    let unindexed = one_group()
        .set_statistics_enabled(EnabledStatistics::Chunk)
        .set_offset_index_disabled(true)
        .build();
    write_table(lineitem, &dir.0.join("unindexed.parquet"), unindexed);
    let memory = Cluster::start(Arc::new(catalog), ClusterConfig::new(1)).expect("starts");
    let queries = [
        "select count(*), sum(l_orderkey), sum(l_extendedprice), min(l_comment), \
         max(l_shipdate) from lineitem",
        "select l_returnflag, l_linestatus, count(*), sum(l_quantity) from lineitem \
         group by 1, 2 order by 1, 2",
        "select count(*), sum(l_quantity) from lineitem where l_orderkey < 30000",
    ];
    for cores in [1, 2, 3] {
        let files = empty_cluster(cores);
        for name in ["indexed", "unindexed"] {
            let sql = format!(
                "CREATE EXTERNAL TABLE {name} STORED AS PARQUET LOCATION '{}'",
                dir.path(&format!("{name}.parquet"))
            );
            let created = run(&files, &sql).unwrap();
            assert!(created[0][0].contains("1 row group(s)"), "{created:?}");
            let over_file = |sql: &str| sql.replace("from lineitem", &format!("from {name}"));
            for sql in queries {
                let expected = run(&memory, sql).unwrap();
                let answer = run(&files, &over_file(sql)).unwrap();
                assert_eq!(answer, expected, "{name}, {cores} cores: {sql}");
            }
            // Every core reads a part of the one row group, as EXPLAIN says.
            let explained = run(&files, &format!("explain {}", over_file(queries[2]))).unwrap();
            let layout = format!("1 row group(s) of 1 file(s) read in {cores} part(s)");
            assert!(
                explained
                    .iter()
                    .flatten()
                    .any(|line| line.contains(&layout)),
                "{explained:?}"
            );
            let line = scan_line(&files, &over_file(queries[0]));
            let parts = format!("{cores} row group(s) read, 0 skipped");
            assert!(line.contains(&parts), "{name}, {cores} cores: {line}");
        }
    }
}

/// The EXPLAIN ANALYZE line of the scan's row groups.
fn scan_line(cluster: &Cluster, sql: &str) -> String {
    let analyzed = run(cluster, &format!("explain analyze {sql}")).unwrap();
    analyzed
        .iter()
        .map(|row| row.join(" "))
        .find(|line| line.contains("row group(s) read"))
        .unwrap_or_else(|| panic!("{analyzed:?}"))
}

/// Writes `table`'s partitions in order (a TPC-H table in key order) to `path`,
/// laid out by `properties`.
fn write_table(
    table: &percore_engine::catalog::Table,
    path: &std::path::Path,
    properties: parquet::file::properties::WriterProperties,
) {
    let file = std::fs::File::create(path).unwrap();
    let mut writer =
        parquet::arrow::ArrowWriter::try_new(file, table.schema.clone(), Some(properties)).unwrap();
    for batch in table.partitions.iter().flatten() {
        writer.write(batch).unwrap();
    }
    writer.close().unwrap();
}

/// Row groups of 1000 rows.
fn groups_of_1000_rows() -> parquet::file::properties::WriterProperties {
    parquet::file::properties::WriterProperties::builder()
        .set_max_row_group_row_count(Some(1000))
        .build()
}

/// One row group (of up to 20,000 rows) in pages of 1000 rows, without
/// dictionaries, so that the pages hold the values.
fn one_group_in_pages_of_1000_rows() -> parquet::file::properties::WriterProperties {
    parquet::file::properties::WriterProperties::builder()
        .set_dictionary_enabled(false)
        .set_max_row_group_row_count(Some(20_000))
        .set_data_page_row_count_limit(1000)
        .set_write_batch_size(1000)
        .build()
}

/// The bytes a scan line says were read from files.
fn read_bytes(line: &str) -> f64 {
    let read = line
        .split("; ")
        .find_map(|part| part.trim_end_matches([' ', '|']).strip_suffix(" read"))
        .unwrap_or_else(|| panic!("{line}"));
    let (number, unit) = read.split_once(' ').unwrap_or_else(|| panic!("{line}"));
    let scale = match unit {
        "B" => 1.0,
        "KiB" => 1024.0,
        "MiB" => 1024.0 * 1024.0,
        _ => panic!("{line}"),
    };
    number.parse::<f64>().unwrap() * scale
}

#[test]
fn pages_outside_a_filter_are_skipped_and_filters_run_before_the_other_columns() {
    use parquet::file::properties::WriterProperties;
    let dir = Dir::new("pages");
    let catalog = tpch::generate(0.01, 1, 8192).expect("TPC-H generates");
    let orders = catalog.table("orders").unwrap();
    // One row group of 15000 rows in pages of 1000 rows (no dictionaries, so the
    // pages hold the values); and row groups of 1000 rows.
    let pages = one_group_in_pages_of_1000_rows();
    write_table(orders, &dir.0.join("pages.parquet"), pages);
    let dictionary_pages = WriterProperties::builder()
        .set_max_row_group_row_count(Some(20_000))
        .set_data_page_row_count_limit(1000)
        .set_write_batch_size(1000)
        .build();
    write_table(orders, &dir.0.join("dictionary.parquet"), dictionary_pages);
    let groups = groups_of_1000_rows();
    write_table(orders, &dir.0.join("groups.parquet"), groups);
    let memory = Cluster::start(Arc::new(catalog), ClusterConfig::new(1)).expect("starts");
    let files = empty_cluster(1);
    for name in ["pages", "dictionary", "groups"] {
        let sql = format!(
            "CREATE EXTERNAL TABLE {name} STORED AS PARQUET LOCATION '{}'",
            dir.path(&format!("{name}.parquet"))
        );
        run(&files, &sql).unwrap();
    }
    let same = |sql: &str, table: &str| {
        let over_file = sql.replace("from orders", &format!("from {table}"));
        assert_eq!(
            run(&files, &over_file).unwrap(),
            run(&memory, sql).unwrap(),
            "{sql}"
        );
        scan_line(&files, &over_file)
    };

    // Order keys below 4000 are the first 1000 rows: one page of each column.
    let sql =
        "select count(*), max(o_orderkey), min(o_comment) from orders where o_orderkey < 4000";
    let line = same(sql, "dictionary");
    assert!(
        line.contains("14000 row(s) skipped by the page index"),
        "{line}"
    );
    let line = same(sql, "pages");
    assert!(
        line.contains(
            "1 row group(s) read, 0 skipped by their statistics (0 by a join's keys); 14000 row(s) skipped by the page index"
        ),
        "{line}"
    );
    // Only the pages holding those rows are read.
    let unpruned = scan_line(
        &files,
        "select count(*), max(o_orderkey), min(o_comment) from pages where o_orderkey + 0 < 4000",
    );
    assert!(
        read_bytes(&line) * 10.0 < read_bytes(&unpruned),
        "{line}\n{unpruned}"
    );

    // Few orders pass: the first row group decodes the other columns for those
    // alone, the second decodes them whole, and the rest the way that was faster.
    let line = same(
        "select o_orderkey, o_comment, o_totalprice from orders \
         where o_orderdate < date '1992-03-01' and o_orderstatus = 'F' order by 1",
        "groups",
    );
    let first: usize = line
        .split("; ")
        .find_map(|part| part.strip_suffix(" row group(s) read filters first"))
        .and_then(|count| count.parse().ok())
        .unwrap_or_else(|| panic!("{line}"));
    assert!((1..=14).contains(&first), "{line}");
    // Most pass: after the first row group the filter runs on whole batches.
    let line = same(
        "select o_orderpriority, count(*), sum(o_totalprice), max(o_comment) from orders \
         where o_orderdate > date '1992-03-01' group by 1 order by 1",
        "groups",
    );
    assert!(line.contains("1 row group(s) read filters first"), "{line}");

    // An error raised by a filter inside the decoder keeps its SQLSTATE. Read
    // filters-first (the one row group of `pages`) or whole, a filter sees the rows
    // that passed the filters before it: those that cannot fail first, then the
    // others as written.
    let division = "o_totalprice / (o_orderkey - o_orderkey) > 1";
    for (filters, fails) in [
        (division.to_string(), true),
        (format!("{division} and o_orderkey + 0 < 0"), true),
        (format!("o_orderkey + 0 < 0 and {division}"), false),
        (format!("{division} and o_orderkey < 0"), false),
    ] {
        for table in ["groups", "pages"] {
            let over_file = run(
                &files,
                &format!("select o_comment from {table} where {filters}"),
            );
            let in_memory = run(
                &memory,
                &format!("select o_comment from orders where {filters}"),
            );
            if fails {
                for outcome in [over_file, in_memory] {
                    let error = outcome.unwrap_err();
                    assert_eq!(
                        error.code,
                        ErrorCode::DivisionByZero,
                        "{filters}: {error:?}"
                    );
                }
            } else {
                let rows = over_file.unwrap();
                assert_eq!(rows, in_memory.unwrap(), "{filters}");
                assert_eq!(rows.len(), 0, "{filters}");
            }
        }
    }
}

#[test]
fn bad_files_and_locations_are_named_and_the_node_lives() {
    let dir = Dir::new("bad");
    tpch_files(&dir.0);
    let cluster = empty_cluster(2);
    let create = |name: &str, location: &str| {
        run(
            &cluster,
            &format!("CREATE EXTERNAL TABLE {name} STORED AS PARQUET LOCATION '{location}'"),
        )
    };
    let missing = create("t", &dir.path("missing.parquet")).unwrap_err();
    assert!(missing.message.contains("missing.parquet"), "{missing}");
    let nothing = create("t", &dir.path("*.csv")).unwrap_err();
    assert!(
        nothing.message.contains("matches no .parquet file"),
        "{nothing}"
    );
    std::fs::write(dir.0.join("garbage.parquet"), b"this is not parquet at all").unwrap();
    let garbage = create("t", &dir.path("garbage.parquet")).unwrap_err();
    assert!(garbage.message.contains("garbage.parquet"), "{garbage}");
    let bytes = std::fs::read(dir.0.join("orders.parquet")).unwrap();
    std::fs::write(dir.0.join("truncated.parquet"), &bytes[..bytes.len() / 2]).unwrap();
    let truncated = create("t", &dir.path("truncated.parquet")).unwrap_err();
    assert!(
        truncated.message.contains("truncated.parquet"),
        "{truncated}"
    );
    let mixed = dir.0.join("mixed");
    std::fs::create_dir_all(&mixed).unwrap();
    std::fs::copy(dir.0.join("orders.parquet"), mixed.join("a.parquet")).unwrap();
    std::fs::copy(dir.0.join("nation.parquet"), mixed.join("b.parquet")).unwrap();
    let disagree = create("t", &mixed.display().to_string()).unwrap_err();
    assert!(
        disagree.message.contains("disagree on the schema"),
        "{disagree}"
    );
    // Data damaged after the footer was read: the query fails naming the file.
    let mut damaged = bytes.clone();
    for byte in &mut damaged[8..bytes.len() / 2] {
        *byte = !*byte;
    }
    std::fs::write(dir.0.join("damaged.parquet"), &bytes).unwrap();
    create("damaged", &dir.path("damaged.parquet")).expect("the footer is intact");
    std::fs::write(dir.0.join("damaged.parquet"), &damaged).unwrap();
    let error = run(
        &cluster,
        "select sum(o_totalprice), max(o_comment) from damaged",
    )
    .unwrap_err();
    assert_eq!(error.code, ErrorCode::DataException, "{error}");
    assert!(error.message.contains("damaged.parquet"), "{error}");
    assert_eq!(run(&cluster, "select 1").unwrap(), [["1".to_string()]]);
}

#[test]
fn tpch_over_csv_files_gives_the_reference_answers() {
    let dir = Dir::new("csv");
    let catalog = tpch::generate(0.01, 2, 8192).expect("TPC-H generates");
    write_tables(&catalog, &TABLES, &dir.0, FileFormat::Csv).expect("files written");
    let cluster = empty_cluster(2);
    for table in TABLES {
        let sql = format!(
            "CREATE EXTERNAL TABLE {table} STORED AS CSV LOCATION '{}' OPTIONS (header = 'true')",
            dir.path(&format!("{table}.csv"))
        );
        run(&cluster, &sql).expect("table created");
    }
    let failures = check_queries(&cluster, 0.01, &(1..=22).collect::<Vec<_>>());
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn csv_options_and_values_that_do_not_parse() {
    let dir = Dir::new("csv-bad");
    std::fs::write(dir.0.join("pipes.csv"), "1|a\n2|b\n3|c\n").unwrap();
    let cluster = empty_cluster(2);
    run(&cluster, &format!("CREATE EXTERNAL TABLE pipes STORED AS CSV LOCATION '{}' OPTIONS (header = 'false', delimiter = '|')", dir.path("pipes.csv"))).unwrap();
    assert_eq!(
        run(
            &cluster,
            "select count(*), sum(column_1), max(column_2) from pipes"
        )
        .unwrap(),
        [["3", "6", "c"].map(String::from).to_vec()]
    );
    // The schema comes from the first MiB: a later line that does not fit is named.
    let mut text = String::from("id,name\n");
    for i in 0..100_000 {
        text.push_str(&format!("{i},name{i}\n"));
    }
    text.push_str("oops,late\n");
    std::fs::write(dir.0.join("late.csv"), text).unwrap();
    run(
        &cluster,
        &format!(
            "CREATE EXTERNAL TABLE late STORED AS CSV LOCATION '{}'",
            dir.path("late.csv")
        ),
    )
    .unwrap();
    let error = run(&cluster, "select sum(id) from late").unwrap_err();
    assert_eq!(error.code, ErrorCode::DataException, "{error}");
    assert!(
        error.message.contains("late.csv") && error.message.contains("oops"),
        "{error}"
    );
    let error = run(
        &cluster,
        &format!(
            "CREATE EXTERNAL TABLE t STORED AS CSV LOCATION '{}' OPTIONS (delimiter = 'ab')",
            dir.path("pipes.csv")
        ),
    )
    .unwrap_err();
    assert!(error.message.contains("one ASCII character"), "{error}");
    assert_eq!(run(&cluster, "select 1").unwrap(), [["1".to_string()]]);
}

#[test]
fn declared_csv_columns_type_the_values_and_refuse_what_does_not_fit() {
    let dir = Dir::new("csv-declared");
    // Inferred, `id` would be an integer and `code` too; declared, they are what the
    // statement says.
    std::fs::write(
        dir.0.join("items.csv"),
        "id,code,price,sold\n1,007,1.10,2024-01-02\n2,010,2.25,\n3,,0.05,2024-03-04\n",
    )
    .unwrap();
    let data = dir.0.join("data");
    let start = || {
        Cluster::start(
            std::sync::Arc::new(percore_engine::catalog::Catalog::new(2)),
            ClusterConfig::new(2).with_data_dir(Some(data.clone())),
        )
        .unwrap()
    };
    let cluster = start();
    run(
        &cluster,
        &format!(
            "CREATE EXTERNAL TABLE items (id SMALLINT NOT NULL, code VARCHAR, price DECIMAL(10, 2), \
             sold DATE) STORED AS CSV LOCATION '{}' OPTIONS (header = 'true')",
            dir.path("items.csv")
        ),
    )
    .unwrap();
    let described = run(&cluster, "DESCRIBE items").unwrap();
    let types: Vec<&str> = described.iter().map(|row| row[1].as_str()).collect();
    assert_eq!(types, ["Int16", "Utf8View", "Decimal128(10, 2)", "Date32"]);
    assert_eq!(described[0][2], "false", "NOT NULL is kept: {described:?}");
    let expected = [["6", "007", "3.40", "1"].map(String::from).to_vec()];
    let query = "select sum(id), min(code), sum(price), count(*) filter (where sold is null) \
                 from items";
    assert_eq!(run(&cluster, query).unwrap(), expected);
    drop(cluster);
    // The declared columns are part of the catalog kept across restarts.
    let cluster = start();
    assert_eq!(run(&cluster, "DESCRIBE items").unwrap(), described);
    assert_eq!(run(&cluster, query).unwrap(), expected);

    // A value that does not parse as its column's type, or a null in a NOT NULL
    // column, fails the query naming file and value; the wrong number of columns
    // fails the statement.
    std::fs::write(
        dir.0.join("bad.csv"),
        "id,code,price,sold\n1,a,1.5,2024-01-02\n,b,2,\n",
    )
    .unwrap();
    let location = dir.path("bad.csv");
    let create = |columns: &str| {
        run(
            &cluster,
            &format!("CREATE OR REPLACE EXTERNAL TABLE bad ({columns}) STORED AS CSV LOCATION '{location}'"),
        )
    };
    create("id INT, code INT, price DOUBLE, sold DATE").unwrap();
    let error = run(&cluster, "select * from bad").unwrap_err();
    assert_eq!(error.code, ErrorCode::DataException, "{error}");
    assert!(
        error.message.contains("bad.csv") && error.message.contains("'a'"),
        "{error}"
    );
    create("id INT NOT NULL, code VARCHAR, price DOUBLE, sold DATE").unwrap();
    let error = run(&cluster, "select * from bad").unwrap_err();
    assert_eq!(error.code, ErrorCode::DataException, "{error}");
    assert!(error.message.contains("non-nullable"), "{error}");
    let error = create("id INT, code VARCHAR").unwrap_err();
    assert!(
        error
            .message
            .contains("4 columns per line, but the table declares 2"),
        "{error}"
    );
    let error = create("id INT, ID INT, price DOUBLE, sold DATE").unwrap_err();
    assert!(error.message.contains("declared twice"), "{error}");
    // Read as written, `15` in a numeric(3, -1) column would be 150.
    let error = create("id INT, code VARCHAR, price NUMERIC(3, -1), sold DATE").unwrap_err();
    assert_eq!(error.code, ErrorCode::Unsupported, "{error}");
    assert!(error.message.contains("price"), "{error}");
    let error = create("id INT, code VARCHAR, price NOSUCHTYPE, sold DATE").unwrap_err();
    assert!(
        error.message.to_lowercase().contains("nosuchtype"),
        "{error}"
    );
    let error = run(
        &cluster,
        &format!("CREATE EXTERNAL TABLE p (a INT) STORED AS PARQUET LOCATION '{location}'"),
    )
    .unwrap_err();
    assert_eq!(error.code, ErrorCode::Unsupported, "{error}");
    assert_eq!(run(&cluster, "select 1").unwrap(), [["1".to_string()]]);
}

#[test]
fn one_large_csv_file_is_read_by_every_core_in_byte_ranges() {
    let dir = Dir::new("csv-ranges");
    // About 9 MiB of lines of different lengths: cut into ranges at arbitrary bytes.
    let mut text = String::from("id,name,amount\n");
    let rows = 300_000u64;
    for i in 0..rows {
        let name = "x".repeat((i % 17) as usize);
        text.push_str(&format!("{i},\"{name}\",{}\n", i % 1000));
    }
    std::fs::write(dir.0.join("big.csv"), &text).unwrap();
    // The same rows with a newline inside a quoted value, read whole.
    let quoted = text.replacen("\"xx\"", "\"x\nx\"", 1);
    std::fs::write(dir.0.join("quoted.csv"), &quoted).unwrap();
    let expected = [
        rows.to_string(),
        (rows * (rows - 1) / 2).to_string(),
        (0..rows).map(|i| i % 1000).sum::<u64>().to_string(),
        (0..rows).map(|i| i % 17).sum::<u64>().to_string(),
    ];
    for cores in [1, 2, 3] {
        let cluster = empty_cluster(cores);
        run(
            &cluster,
            &format!(
                "CREATE EXTERNAL TABLE big STORED AS CSV LOCATION '{}'",
                dir.path("big.csv")
            ),
        )
        .unwrap();
        run(&cluster, &format!("CREATE EXTERNAL TABLE quoted STORED AS CSV LOCATION '{}' OPTIONS (newlines_in_values = 'true')", dir.path("quoted.csv"))).unwrap();
        for table in ["big", "quoted"] {
            let sums = run(
                &cluster,
                &format!("select count(*), sum(id), sum(amount), sum(length(name)) from {table}"),
            )
            .unwrap();
            let mut expected = expected.clone();
            if table == "quoted" {
                // The newline inside the quotes is one more character.
                expected[3] = (expected[3].parse::<u64>().unwrap() + 1).to_string();
            }
            assert_eq!(sums[0], expected, "{table} on {cores} cores");
        }
    }
}
