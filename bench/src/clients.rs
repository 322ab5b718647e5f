//! Many clients at once over the PostgreSQL port: at each level of concurrency every
//! client connects at the same moment and runs one statement a few times. Reports
//! throughput, latency percentiles and failures (under admission control a query
//! that has to wait for memory waits; none should fail).

use std::net::SocketAddr;
use std::sync::{Barrier, Mutex};
use std::time::{Duration, Instant};

use percore_server::pgwire::client::{Client, Reply};

use crate::harness::{latency_histogram, quantile_ms};

/// One level of concurrency, measured.
#[derive(Debug, Clone, serde::Serialize)]
pub struct LevelReport {
    pub clients: usize,
    /// Statements that returned rows.
    pub succeeded: usize,
    /// Statements that failed, connections that failed counting as all their runs.
    pub failed: usize,
    /// The first failure, to say what went wrong.
    pub first_error: Option<String>,
    /// From the first connect to the last answer.
    pub wall_s: f64,
    pub per_second: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

/// Client threads run a small loop: a small stack is plenty and keeps 256 cheap.
const CLIENT_STACK: usize = 256 << 10;

/// Runs `sql` `runs` times on each of `clients` connections, spread over
/// `addresses` in turn, all connecting at once.
pub fn measure_level(
    addresses: &[SocketAddr],
    clients: usize,
    runs: usize,
    sql: &str,
) -> LevelReport {
    let histogram = Mutex::new(latency_histogram());
    let failures = Mutex::new((0usize, None::<String>));
    let start = Barrier::new(clients + 1);
    let mut started = Instant::now();
    std::thread::scope(|scope| {
        for client in 0..clients {
            let address = addresses[client % addresses.len()];
            let (histogram, failures, start) = (&histogram, &failures, &start);
            std::thread::Builder::new()
                .stack_size(CLIENT_STACK)
                .spawn_scoped(scope, move || {
                    start.wait();
                    let fail = |error: String, count: usize| {
                        let mut failures = failures.lock().unwrap_or_else(|e| e.into_inner());
                        failures.0 += count;
                        failures.1.get_or_insert(error);
                    };
                    let mut connection = match Client::connect(address, Duration::from_secs(30)) {
                        Ok(connection) => connection,
                        Err(error) => return fail(format!("connect: {error}"), runs),
                    };
                    for _ in 0..runs {
                        let began = Instant::now();
                        match connection.query(sql) {
                            Ok(replies) => match replies.first() {
                                Some(Reply::Rows { .. }) => {
                                    let micros = began.elapsed().as_micros() as u64;
                                    histogram
                                        .lock()
                                        .unwrap_or_else(|e| e.into_inner())
                                        .saturating_record(micros.max(1));
                                }
                                Some(Reply::Error {
                                    sqlstate, message, ..
                                }) => {
                                    fail(format!("{sqlstate}: {message}"), 1);
                                }
                                other => fail(format!("no rows: {other:?}"), 1),
                            },
                            Err(error) => return fail(format!("connection: {error}"), runs),
                        }
                    }
                })
                .expect("a client thread");
        }
        start.wait();
        started = Instant::now();
    });
    let wall_s = started.elapsed().as_secs_f64();
    let histogram = histogram.into_inner().unwrap_or_else(|e| e.into_inner());
    let (failed, first_error) = failures.into_inner().unwrap_or_else(|e| e.into_inner());
    let succeeded = histogram.len() as usize;
    LevelReport {
        clients,
        succeeded,
        failed,
        first_error,
        wall_s,
        per_second: succeeded as f64 / wall_s.max(1e-9),
        p50_ms: quantile_ms(&histogram, 0.5),
        p99_ms: quantile_ms(&histogram, 0.99),
        max_ms: histogram.max() as f64 / 1e3,
    }
}

/// The reports as a table, one level per line.
pub fn format_levels(levels: &[LevelReport]) -> String {
    let mut out = format!(
        "{:>8} {:>9} {:>7} {:>8} {:>8} {:>9} {:>9} {:>9}\n",
        "clients", "queries", "failed", "wall s", "q/s", "p50 ms", "p99 ms", "max ms"
    );
    for level in levels {
        out.push_str(&format!(
            "{:>8} {:>9} {:>7} {:>8.2} {:>8.1} {:>9.1} {:>9.1} {:>9.1}\n",
            level.clients,
            level.succeeded,
            level.failed,
            level.wall_s,
            level.per_second,
            level.p50_ms,
            level.p99_ms,
            level.max_ms
        ));
    }
    for level in levels {
        if let Some(error) = &level.first_error {
            out.push_str(&format!(
                "{} clients: first failure: {error}\n",
                level.clients
            ));
        }
    }
    out
}

/// The reports as JSON, for scripts comparing runs.
pub fn levels_json(levels: &[LevelReport]) -> String {
    serde_json::to_string_pretty(levels).expect("plain data serializes")
}
