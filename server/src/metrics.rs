//! Prometheus metrics: `GET /metrics` on `--metrics-listen` answers the node's state
//! in the text exposition format. Counters of what ended (queries by outcome, errors
//! by SQLSTATE class, a latency histogram) are kept here; the rest (memory per core,
//! spill disk, exchange bytes, peers) is read from the node when scraped.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::node::Node;

/// Upper bounds (seconds) of the query latency histogram's buckets.
const LATENCY_BUCKETS: [f64; 10] = [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0, 60.0];

/// What ended on this node, counted as it happens.
#[derive(Default)]
pub struct NodeMetrics {
    queries_succeeded: AtomicU64,
    queries_failed: AtomicU64,
    /// Errors sent to clients, by the first two characters of their SQLSTATE.
    errors: Mutex<BTreeMap<String, u64>>,
    /// Queries coordinated here, by latency bucket (the last is +Inf).
    latency: [AtomicU64; LATENCY_BUCKETS.len() + 1],
    latency_micros: AtomicU64,
}

impl NodeMetrics {
    /// A query this node coordinated ended, well or not, after `elapsed`.
    pub fn query_ended(&self, elapsed: Duration, succeeded: bool) {
        let counter = if succeeded {
            &self.queries_succeeded
        } else {
            &self.queries_failed
        };
        counter.fetch_add(1, Ordering::Relaxed);
        let seconds = elapsed.as_secs_f64();
        let bucket = LATENCY_BUCKETS
            .iter()
            .position(|&bound| seconds <= bound)
            .unwrap_or(LATENCY_BUCKETS.len());
        self.latency[bucket].fetch_add(1, Ordering::Relaxed);
        let micros = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
        self.latency_micros.fetch_add(micros, Ordering::Relaxed);
    }

    /// An error went to a client.
    pub fn error_sent(&self, sqlstate: &str) {
        let class: String = sqlstate.chars().take(2).collect();
        *self
            .errors
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(class)
            .or_default() += 1;
    }
}

/// Serves `GET /metrics` until the process ends; one short-lived thread per scrape.
pub fn serve(node: Arc<Node>, listener: TcpListener) {
    for connection in listener.incoming() {
        let Ok(connection) = connection else { continue };
        let node = Arc::clone(&node);
        let _ = std::thread::Builder::new()
            .name("percore-metrics".into())
            .spawn(move || {
                let _ = answer(&node, connection);
            });
    }
}

/// Reads one request (its line and headers, bounded) and answers it.
fn answer(node: &Node, connection: TcpStream) -> std::io::Result<()> {
    connection.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut reader = BufReader::new(connection.try_clone()?).take(16 << 10);
    let mut request = String::new();
    reader.read_line(&mut request)?;
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header)? == 0 || header.trim().is_empty() {
            break;
        }
    }
    let mut connection = connection;
    let (status, body) = match request.split_whitespace().collect::<Vec<_>>().as_slice() {
        ["GET", "/metrics", ..] => ("200 OK", render(node)),
        _ => ("404 Not Found", "try GET /metrics\n".to_string()),
    };
    write!(
        connection,
        "HTTP/1.1 {status}\r\nContent-Type: text/plain; version=0.0.4\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    connection.flush()
}

/// The node's metrics in Prometheus' text format.
pub fn render(node: &Node) -> String {
    let mut out = String::new();
    let metrics = &node.metrics;
    let memory = node.cluster.memory();
    let queries = memory.admission.queries();
    let running = queries.iter().filter(|q| q.state == "running").count();
    gauge(
        &mut out,
        "percore_queries_running",
        "Queries holding memory on this node now.",
        running,
    );
    gauge(
        &mut out,
        "percore_queries_queued",
        "Queries waiting for memory on this node now.",
        queries.len() - running,
    );
    help(
        &mut out,
        "percore_queries_total",
        "counter",
        "Queries this node coordinated, by outcome.",
    );
    for (outcome, counter) in [
        ("succeeded", &metrics.queries_succeeded),
        ("failed", &metrics.queries_failed),
    ] {
        let _ = writeln!(
            out,
            "percore_queries_total{{outcome=\"{outcome}\"}} {}",
            counter.load(Ordering::Relaxed)
        );
    }
    help(
        &mut out,
        "percore_errors_total",
        "counter",
        "Errors sent to clients, by SQLSTATE class.",
    );
    for (class, count) in metrics
        .errors
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
    {
        let _ = writeln!(
            out,
            "percore_errors_total{{sqlstate_class=\"{class}\"}} {count}"
        );
    }
    help(
        &mut out,
        "percore_query_duration_seconds",
        "histogram",
        "Time from start to end of the queries this node coordinated.",
    );
    let mut cumulative = 0;
    for (index, counter) in metrics.latency.iter().enumerate() {
        cumulative += counter.load(Ordering::Relaxed);
        let bound = LATENCY_BUCKETS
            .get(index)
            .map_or("+Inf".to_string(), |b| b.to_string());
        let _ = writeln!(
            out,
            "percore_query_duration_seconds_bucket{{le=\"{bound}\"}} {cumulative}"
        );
    }
    let _ = writeln!(
        out,
        "percore_query_duration_seconds_sum {}\npercore_query_duration_seconds_count {cumulative}",
        metrics.latency_micros.load(Ordering::Relaxed) as f64 / 1e6
    );
    let cores = memory.pool.cores();
    per_core(
        &mut out,
        "percore_memory_reserved_bytes",
        "Bytes queries hold on each core now.",
        cores,
        |c| memory.pool.used(c),
    );
    per_core(
        &mut out,
        "percore_memory_peak_bytes",
        "The most queries held on each core at once.",
        cores,
        |c| memory.pool.peak(c),
    );
    per_core(
        &mut out,
        "percore_memory_budget_bytes",
        "Each core's query budget.",
        cores,
        |_| memory.pool.budget_per_core(),
    );
    per_core(
        &mut out,
        "percore_table_memory_bytes",
        "Loaded tables' rows in memory on each core.",
        cores,
        |c| memory.tables.used(c),
    );
    gauge(
        &mut out,
        "percore_spill_disk_bytes",
        "Bytes in spill and table files now.",
        memory.disk.used(),
    );
    help(
        &mut out,
        "percore_spilled_bytes_total",
        "counter",
        "Bytes ever written to spill and table files.",
    );
    let _ = writeln!(out, "percore_spilled_bytes_total {}", memory.disk.written());
    let stats = &node.transport.stats;
    help(
        &mut out,
        "percore_exchange_sent_bytes_total",
        "counter",
        "Bytes of exchange frames sent to other nodes.",
    );
    let _ = writeln!(
        out,
        "percore_exchange_sent_bytes_total {}",
        stats.bytes_sent.load(Ordering::Relaxed)
    );
    help(
        &mut out,
        "percore_exchange_received_bytes_total",
        "counter",
        "Bytes of exchange frames received from other nodes.",
    );
    let _ = writeln!(
        out,
        "percore_exchange_received_bytes_total {}",
        stats.bytes_received.load(Ordering::Relaxed)
    );
    help(
        &mut out,
        "percore_peer_up",
        "gauge",
        "1 while a node answers heartbeats within peer_timeout.",
    );
    for peer in 0..node.config.peers.len() {
        let up = u8::from(node.membership.check(peer).is_ok());
        let _ = writeln!(out, "percore_peer_up{{node=\"{peer}\"}} {up}");
    }
    out
}

fn help(out: &mut String, name: &str, kind: &str, text: &str) {
    let _ = writeln!(out, "# HELP {name} {text}\n# TYPE {name} {kind}");
}

fn gauge(out: &mut String, name: &str, text: &str, value: impl std::fmt::Display) {
    help(out, name, "gauge", text);
    let _ = writeln!(out, "{name} {value}");
}

fn per_core(
    out: &mut String,
    name: &str,
    text: &str,
    cores: usize,
    value: impl Fn(usize) -> usize,
) {
    help(out, name, "gauge", text);
    for core in 0..cores {
        let _ = writeln!(out, "{name}{{core=\"{core}\"}} {}", value(core));
    }
}
