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
