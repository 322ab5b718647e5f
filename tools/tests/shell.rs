//! Goal: the interactive shell takes psql's `\d` (the tables) and `\d name` (a
//! table's columns) beside SQL, and `\q` ends it.

use std::io::Write;
use std::process::{Command, Stdio};

#[test]
fn backslash_d_lists_tables_and_columns() {
    let mut shell = Command::new(env!("CARGO_BIN_EXE_percore"))
        .args(["sql", "--tpch", "0.01", "--cores", "1", "--format", "csv"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the shell starts");
    shell
        .stdin
        .take()
        .expect("piped")
        .write_all(b"\\d\n\\d region\nselect count(*) from region;\n\\q\nselect 'not run';\n")
        .expect("input written");
    let output = shell.wait_with_output().expect("the shell ends");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{output:?}");
    assert!(stdout.contains("lineitem,"), "{stdout}");
    assert!(stdout.contains("r_regionkey,Int64,false"), "{stdout}");
    assert!(stdout.lines().any(|line| line == "5"), "{stdout}");
    assert!(!stdout.contains("not run"), "{stdout}");
}
