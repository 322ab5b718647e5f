//! Goal: a join whose probe side has a hot key spreads that key's rows over every
//! partition at run time (replicating its build rows), gives the same answers as
//! without, and says so in EXPLAIN ANALYZE; a join whose output partitioning a later
//! operator relies on keeps every key in one place.

use std::sync::Arc;

use percore_bench::answers::format_rows;
use percore_bench::tables::key_value_table;
use percore_engine::catalog::{Catalog, Table};
use percore_engine::session::{Cluster, ClusterConfig};
use percore_engine::settings::SessionSettings;

const PARTITIONS: usize = 3;
const ROWS: i64 = 90_000;

/// `hot` tenths of the rows have key 1, the others key = row number; v = row number.
fn keyed_table(name: &str, hot: i64) -> Table {
    let rows: Vec<(Option<i64>, i64)> = (0..ROWS)
        .map(|i| (Some(if i % 10 < hot { 1 } else { i }), i))
        .collect();
    key_value_table(name, PARTITIONS, 4096, &rows)
}

fn cluster() -> Cluster {
    let cluster = Cluster::start(
        Arc::new(Catalog::new(PARTITIONS)),
        ClusterConfig::new(PARTITIONS),
    )
    .unwrap();
    // Equal sizes: the planner hashes both sides rather than broadcast one.
    cluster.register_table(keyed_table("skewed", 7)).unwrap();
    cluster.register_table(keyed_table("uniform", 0)).unwrap();
    cluster
}

fn lines(cluster: &Cluster, sql: &str, session: &mut SessionSettings) -> Vec<String> {
    let (batches, _) = cluster
        .sql_in(sql, session)
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    format_rows(&batches)
        .unwrap()
        .into_iter()
        .map(|row| row.join(" ").trim().to_string())
        .collect()
}

/// The skew max/mean of the exchange whose line starts with `exchange`.
fn exchange_skew(lines: &[String], exchange: &str) -> f64 {
    let line = lines
        .iter()
        .find(|line| line.starts_with(exchange))
        .unwrap_or_else(|| panic!("no {exchange} in {lines:#?}"));
    line.rsplit("skew max/mean ")
        .next()
        .and_then(|ratio| ratio.parse().ok())
        .unwrap_or_else(|| panic!("{line}"))
}

#[test]
fn a_hot_probe_key_is_spread_over_every_partition_with_the_same_answers() {
    let cluster = cluster();
    let sql = "SELECT count(*), sum(s.v), sum(u.v) FROM skewed s JOIN uniform u ON s.k = u.k";
    let mut on = SessionSettings::default();
    let mut off = SessionSettings::default();
    cluster
        .sql_in("SET percore.skew_join = off", &mut off)
        .unwrap();
    // Every skewed row meets one uniform row: the hot ones meet u.v = 1.
    let cold: Vec<i64> = (0..ROWS).filter(|i| i % 10 >= 7).collect();
    let hot_rows = ROWS - cold.len() as i64;
    let expected = format!(
        "{ROWS} {} {}",
        (0..ROWS).sum::<i64>(),
        hot_rows + cold.iter().sum::<i64>()
    );
    assert_eq!(lines(&cluster, sql, &mut on), vec![expected.clone()]);
    assert_eq!(lines(&cluster, sql, &mut off), vec![expected]);

    let plan = lines(&cluster, &format!("EXPLAIN {sql}"), &mut on).join("\n");
    assert!(
        plan.contains("hot keys found in its first rows go round-robin"),
        "{plan}"
    );
    assert!(
        plan.contains("rows of the keys exchange #0 spreads go to every partition"),
        "{plan}"
    );

    let analyzed = lines(&cluster, &format!("EXPLAIN ANALYZE {sql}"), &mut on);
    let spread = exchange_skew(&analyzed, "exchange #0 hash");
    assert!(
        spread < 1.1,
        "spread probe side, skew {spread}: {analyzed:#?}"
    );
    assert!(analyzed
        .iter()
        .any(|l| l == "hot keys of 90000 sampled rows: 1 (70.0%)"));
    assert!(
        analyzed.iter().any(|l| l
            == "skew join: 1 hot key(s) for the whole query; 1 build rows of them sent to \
                every partition"),
        "{analyzed:#?}"
    );
    let hot_spread = format!("skew join: {hot_rows} rows of hot keys sent round-robin");
    assert!(
        analyzed.iter().any(|l| l.starts_with(&hot_spread)),
        "{analyzed:#?}"
    );

    let unspread = lines(&cluster, &format!("EXPLAIN ANALYZE {sql}"), &mut off);
    let hashed = exchange_skew(&unspread, "exchange #0 hash");
    assert!(
        hashed > 1.8,
        "one partition holds the hot key, skew {hashed}"
    );
    assert!(!unspread.iter().any(|l| l.starts_with("skew join")));
}

#[test]
fn a_join_whose_partitioning_is_used_above_it_keeps_keys_together() {
    let cluster = cluster();
    let mut session = SessionSettings::default();
    // The aggregation runs where the join's rows are, relying on them being hashed on k.
    let sql = "SELECT s.k, count(*) FROM skewed s JOIN uniform u ON s.k = u.k \
               GROUP BY s.k ORDER BY count(*) DESC LIMIT 2";
    let plan = lines(&cluster, &format!("EXPLAIN {sql}"), &mut session).join("\n");
    assert!(!plan.contains("round-robin"), "{plan}");
    let counts = lines(&cluster, sql, &mut session);
    assert_eq!(counts.len(), 2, "{counts:?}");
    assert_eq!(counts[0], "1 63000");
    assert!(counts[1].ends_with(" 1"), "{counts:?}");
}
