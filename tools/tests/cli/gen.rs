//! Goal: `percore gen` writes every TPC-H table, as Parquet or CSV, with every row,
//! and refuses bad arguments with a clear error.

use std::path::PathBuf;
use std::process::Command;

fn percore() -> Command {
    Command::new(env!("CARGO_BIN_EXE_percore"))
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("percore-gen-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

#[test]
fn writes_every_table_as_parquet_and_csv() {
    let dir = scratch("files");
    let parquet = percore()
        .args(["gen", "--sf", "0.01", "--cores", "2", "--out"])
        .arg(dir.join("parquet"))
        .output()
        .unwrap();
    assert!(parquet.status.success(), "{parquet:?}");
    for table in [
        "customer", "lineitem", "nation", "orders", "part", "partsupp", "region", "supplier",
    ] {
        let bytes = std::fs::read(dir.join("parquet").join(format!("{table}.parquet"))).unwrap();
        assert!(
            bytes.starts_with(b"PAR1") && bytes.ends_with(b"PAR1"),
            "{table}"
        );
    }
    let csv = percore()
        .args([
            "gen", "--sf", "0.01", "--cores", "2", "--format", "csv", "--out",
        ])
        .arg(dir.join("csv"))
        .output()
        .unwrap();
    assert!(csv.status.success(), "{csv:?}");
    let lines = |table: &str| {
        std::fs::read_to_string(dir.join("csv").join(format!("{table}.csv")))
            .unwrap()
            .lines()
            .count()
    };
    // A header, then each row once (nation is replicated on both cores).
    assert_eq!(lines("nation"), 26);
    assert_eq!(lines("orders"), 15_001);
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn bad_arguments_get_a_clear_error() {
    let dir = scratch("bad");
    let zero = percore()
        .args(["gen", "--sf", "0", "--out"])
        .arg(&dir)
        .output()
        .unwrap();
    assert_eq!(zero.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&zero.stderr).contains("scale factor"),
        "{zero:?}"
    );
    std::fs::write(&dir, b"a file, not a directory").unwrap();
    let blocked = percore()
        .args(["gen", "--sf", "0.01", "--out"])
        .arg(dir.join("under-a-file"))
        .output()
        .unwrap();
    assert!(!blocked.status.success());
    assert!(
        String::from_utf8_lossy(&blocked.stderr).contains("cannot create"),
        "{blocked:?}"
    );
    std::fs::remove_file(dir).unwrap();
}

#[test]
fn zipf_facts_and_dims_are_tables_whose_hot_key_explain_analyze_names() {
    let dir = scratch("zipf");
    let generated = percore()
        .args([
            "gen", "--zipf", "1.5", "--rows", "200000", "--keys", "1000", "--out",
        ])
        .arg(&dir)
        .output()
        .unwrap();
    assert!(generated.status.success(), "{generated:?}");
    let script = dir.join("queries.sql");
    std::fs::write(
        &script,
        format!(
            "create external table facts stored as parquet location '{0}/facts.parquet';\n\
             create external table dims stored as parquet location '{0}/dims.parquet';\n\
             select count(*), min(f_key), max(f_key) <= 1000 from facts;\n\
             select count(*), count(distinct d_key) from dims;\n\
             select count(*) from facts join dims on f_key = d_key where d_key = 1;\n\
             explain analyze select max(r) from \
             (select row_number() over (partition by f_key order by f_row) r from facts) t;\n",
            dir.display()
        ),
    )
    .unwrap();
    let output = percore()
        .args([
            "sql", "--tpch", "0", "--cores", "2", "--format", "csv", "-f",
        ])
        .arg(&script)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{output:?}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert!(lines.contains(&"200000,1,true"), "{stdout}");
    assert!(lines.contains(&"1000,1000"), "{stdout}");
    // Zipf 1.5 over 1000 keys gives key 1 about 38.6% of the rows.
    let hot = lines
        .iter()
        .find(|line| line.contains("hot keys of 200000 sampled rows: 1 ("))
        .unwrap_or_else(|| panic!("{stdout}"));
    let share: f64 = hot
        .split("1 (")
        .nth(1)
        .and_then(|rest| rest.split('%').next())
        .and_then(|number| number.parse().ok())
        .unwrap_or_else(|| panic!("{hot}"));
    assert!((37.0..40.0).contains(&share), "{hot}");
    let joined: u64 = lines
        .iter()
        .filter_map(|line| line.parse().ok())
        .find(|&rows: &u64| (74_000..80_000).contains(&rows))
        .unwrap_or_else(|| panic!("key 1 joins about 77k rows: {stdout}"));
    assert!(joined > 0);
    let bad = percore()
        .args(["gen", "--zipf=-1", "--out"])
        .arg(&dir)
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("Zipf exponent"));
    std::fs::remove_dir_all(dir).unwrap();
}
