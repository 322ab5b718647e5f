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

/// Runs the shell on `input` (stdin, not a terminal); its stdout and stderr.
fn shell(args: &[&str], input: &str) -> (String, String) {
    let mut shell = Command::new(env!("CARGO_BIN_EXE_percore"))
        .args(["sql", "--tpch", "0.01", "--cores", "1"])
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the shell starts");
    shell
        .stdin
        .take()
        .expect("piped")
        .write_all(input.as_bytes())
        .expect("input written");
    let output = shell.wait_with_output().expect("the shell ends");
    assert!(output.status.success(), "{output:?}");
    (
        String::from_utf8_lossy(&output.stdout).to_string(),
        String::from_utf8_lossy(&output.stderr).to_string(),
    )
}

#[test]
fn backslash_commands_change_how_results_look_and_where_they_go() {
    let dir = std::env::temp_dir().join(format!("percore-shell-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("out.md");
    let input = format!(
        "\\maxrows 3\nselect n_nationkey from nation\n  order by 1;\n\
         \\x on\nselect r_regionkey, r_name from region where r_regionkey = 1;\n\\x off\n\
         \\format markdown\n\\o {}\nselect r_name from region order by 1 limit 2;\n\\o\n\
         \\format ndjson\nselect r_regionkey from region order by 1 limit 1;\n\
         \\timing\nselect 1;\n\\format xml\n\\nosuch\n\\?\n",
        file.display()
    );
    let (stdout, stderr) = shell(&[], &input);
    // At most 3 rows of 25, and the footer says so.
    assert!(stdout.contains("| 2           |"), "{stdout}");
    assert!(!stdout.contains("| 3           |"), "{stdout}");
    assert!(stdout.contains("(25 rows, 3 shown;"), "{stdout}");
    // Expanded: one block per record.
    assert!(
        stdout.contains("-[ RECORD 1 ]-\nr_regionkey | 1\nr_name      | AMERICA\n"),
        "{stdout}"
    );
    // \o wrote the Markdown table to the file, not to stdout.
    let written = std::fs::read_to_string(&file).unwrap();
    assert_eq!(written, "| r_name |\n|---|\n| AFRICA |\n| AMERICA |\n");
    assert!(!stdout.contains("| AFRICA |"), "{stdout}");
    assert!(stdout.contains("{\"r_regionkey\":0}\n"), "{stdout}");
    assert!(
        stderr.contains("Timing is on.") && stderr.contains("(1 rows, "),
        "{stderr}"
    );
    assert!(stderr.contains("unknown format `xml`"), "{stderr}");
    assert!(stderr.contains("unknown command \\nosuch"), "{stderr}");
    assert!(stdout.contains("\\timing [on|off]"), "{stdout}");
    let _ = std::fs::remove_dir_all(&dir);

    // -c takes backslash commands on their own lines too; TSV by flag.
    let (stdout, _) = shell(
        &[
            "--format",
            "tsv",
            "-c",
            "select 1 as a, 'x' as b;\n\\format csv\nselect 2 as c",
        ],
        "",
    );
    assert_eq!(stdout, "a\tb\n1\tx\nc\n2\n");
}

#[test]
fn on_a_terminal_lines_are_edited_recalled_completed_and_kept() {
    // `script` (util-linux) gives the shell a pseudo-terminal.
    if Command::new("script").arg("--version").output().is_err() {
        eprintln!("SKIPPED: `script` (util-linux) is not installed: no pseudo-terminal");
        return;
    }
    let home = std::env::temp_dir().join(format!("percore-shell-home-{}", std::process::id()));
    std::fs::create_dir_all(&home).unwrap();
    let command = format!(
        "{} sql --tpch 0.01 --cores 1",
        env!("CARGO_BIN_EXE_percore")
    );
    let mut terminal = Command::new("script")
        .args(["-qfec", &command, "/dev/null"])
        .env("HOME", &home)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("script starts");
    let mut keys = terminal.stdin.take().expect("piped");
    // Typed as a person would, a pause between lines so each is read on its own:
    // a statement, the up arrow to run it again, Tab to complete a keyword and a
    // table name, then \q.
    for typed in [
        "select 41+1 as answer;\n",
        "\x1b[A\n",
        "sel\t count(*) from reg\t;\n",
        "\\q\n",
    ] {
        std::thread::sleep(std::time::Duration::from_millis(1500));
        keys.write_all(typed.as_bytes()).expect("keys typed");
    }
    drop(keys);
    let output = terminal.wait_with_output().expect("the shell ends");
    let screen = String::from_utf8_lossy(&output.stdout).replace('\r', "");
    assert_eq!(screen.matches("| 42     |").count(), 2, "{screen}");
    assert!(screen.contains("select count(*) from region"), "{screen}");
    assert!(screen.contains("| count |"), "{screen}");
    assert!(screen.contains("| 5     |"), "{screen}");
    let history = std::fs::read_to_string(home.join(".percore_history")).unwrap_or_default();
    assert!(history.contains("select 41+1 as answer;"), "{history}");
    let _ = std::fs::remove_dir_all(&home);
}

#[test]
fn show_gives_one_setting_or_all_of_them() {
    let (stdout, stderr) = shell(
        &["--format", "csv"],
        "set statement_timeout = '5s';\nshow statement_timeout;\n\
         show transaction isolation level;\nshow all;\nshow work_mem;\n",
    );
    let lines: Vec<&str> = stdout.lines().collect();
    assert!(
        lines.windows(2).any(|w| w == ["statement_timeout", "5s"]),
        "{stdout}"
    );
    assert!(lines.contains(&"read committed"), "{stdout}");
    assert!(lines.contains(&"name,setting,description"), "{stdout}");
    assert!(
        lines
            .iter()
            .any(|line| line.starts_with("server_version,16.0 (Percore),")),
        "{stdout}"
    );
    assert!(
        stderr.contains("42704: unrecognized configuration parameter \"work_mem\""),
        "{stderr}"
    );
}
