//! What the cluster tests share: starting a cluster whose nodes log to a scratch
//! directory, running a statement, checking TPC-H answers.

#![allow(dead_code)]

use std::path::PathBuf;
use std::time::Duration;

use percore_bench::harness::{verify_rows, Check};
use percore_bench::query_sql;
use percore_server::local::{LocalCluster, LocalClusterOptions};
use percore_server::pgwire::client::{first_result, Client};

pub type Outcome = Result<Vec<Vec<String>>, (String, String)>;

pub fn start(name: &str, options: LocalClusterOptions) -> LocalCluster {
    let mut options = options;
    let dir = std::env::temp_dir().join(format!("percore-{name}-{}", std::process::id()));
    options.log_dir = Some(dir);
    options.startup_timeout = Duration::from_secs(180);
    LocalCluster::start(&PathBuf::from(env!("CARGO_BIN_EXE_percore")), &options)
        .unwrap_or_else(|error| panic!("cluster did not start: {error}"))
}

/// Runs one statement; rows as text cells with NULL as `NULL`, or the error.
pub fn query(client: &mut Client, sql: &str) -> Outcome {
    let replies = client.query(sql).expect("the connection works");
    first_result(replies, "NULL")
}

/// Runs TPC-H queries, each coordinated by a different node in turn, and checks the
/// answers; returns the failures.
pub fn check_tpch(cluster: &LocalCluster, nodes: usize, queries: &[usize]) -> Vec<String> {
    let mut clients: Vec<Client> = (0..nodes)
        .map(|node| cluster.connect(node).expect("node accepts clients"))
        .collect();
    let mut failures = Vec::new();
    for &number in queries {
        let sql = query_sql(number).expect("query file");
        let coordinator = number % nodes;
        match query(&mut clients[coordinator], &sql) {
            Ok(rows) => match verify_rows(0.01, number, rows) {
                Check::Passed => {}
                Check::Failed(why) => {
                    failures.push(format!("Q{number} via node {coordinator}: {why}"))
                }
                Check::Unverified => failures.push(format!("Q{number}: no reference")),
            },
            Err((state, message)) => failures.push(format!(
                "Q{number} via node {coordinator}: {state} {message}"
            )),
        }
    }
    failures
}
