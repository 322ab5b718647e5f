//! What the cluster tests share: starting a cluster whose nodes log to a scratch
//! directory, running a statement, checking TPC-H answers.

#![allow(dead_code)]

use std::path::PathBuf;
use std::time::Duration;

use percore_bench::harness::{verify_rows, Check};
use percore_bench::query_sql;
use percore_server::local::{LocalCluster, LocalClusterOptions};
use percore_server::pgwire::client::{first_result, Client};

/// Long enough to be running when a node goes or a cancel comes: a cross join of
/// 60k x 60k rows.
pub const LONG_QUERY: &str =
    "select count(*) from lineitem a, lineitem b where a.l_quantity + b.l_quantity < 0";

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

/// The body of `GET path`, and the status line.
pub fn get(address: std::net::SocketAddr, path: &str) -> (String, String) {
    use std::io::{Read, Write};
    let mut stream =
        std::net::TcpStream::connect_timeout(&address, std::time::Duration::from_secs(10)).unwrap();
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    write!(stream, "GET {path} HTTP/1.1\r\nHost: percore\r\n\r\n").unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let (head, body) = response.split_once("\r\n\r\n").unwrap();
    (head.lines().next().unwrap().to_string(), body.to_string())
}
