//! What the cluster tests share: starting a cluster whose nodes log to a scratch
//! directory, running a statement, checking TPC-H answers.

use std::path::PathBuf;
use std::time::{Duration, Instant};

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

/// The sum of every sample of `name` (all its labels) in a `/metrics` body.
pub fn metric_total(body: &str, name: &str) -> f64 {
    body.lines()
        .filter(|line| line.starts_with(name) && !line.starts_with('#'))
        .filter_map(|line| line.rsplit_once(' ')?.1.parse::<f64>().ok())
        .sum()
}

/// Waits until every node of `cluster` (started with metrics) holds no reserved
/// memory, spill files or running queries; panics naming what a node still holds
/// after `patience`. Tasks on other nodes stop a moment after a client hears of a
/// failure, so a moment's holding is no leak.
pub fn assert_nothing_held(cluster: &LocalCluster, patience: Duration) {
    let deadline = Instant::now() + patience;
    for (node, &address) in cluster.metrics_addresses().iter().enumerate() {
        loop {
            let body = get(address, "/metrics").1;
            let held = [
                (
                    "reserved bytes",
                    metric_total(&body, "percore_memory_reserved_bytes"),
                ),
                (
                    "spill file bytes",
                    metric_total(&body, "percore_spill_disk_bytes"),
                ),
                (
                    "running queries",
                    metric_total(&body, "percore_queries_running"),
                ),
            ];
            if held.iter().all(|(_, value)| *value == 0.0) {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "node {node} still holds {held:?} {patience:?} after the last statement"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// A small deterministic generator: a run's choices are the same every time.
pub struct Lcg(pub u64);

impl Lcg {
    pub fn below(&mut self, bound: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % bound
    }

    /// A duration of `low` to `high` milliseconds.
    pub fn millis(&mut self, low: u64, high: u64) -> Duration {
        Duration::from_millis(low + self.below(high - low))
    }
}
