//! Cancellation latency: how long a running query takes to stop once cancelled,
//! measured from the cancel to the moment its last task has ended (its memory back
//! in the pool). Each query is first run once, uncancelled (or until a cap), to
//! learn how long it runs; the cancels then land at times spread over that window,
//! so they hit every phase: building, probing, spilling, merging.

use std::time::{Duration, Instant};

use percore_engine::error::{ErrorCode, QueryError};
use percore_engine::session::{Cluster, StatementOutput};

use crate::harness::{latency_histogram, quantile_ms};

#[derive(Debug, Clone)]
pub struct CancelReport {
    pub sql: String,
    /// How long the query ran uncancelled, or the cap if it was still running then.
    pub window_ms: f64,
    /// From each cancel to the query's end.
    pub latencies_ms: Vec<f64>,
    /// Runs that ended on their own before the cancel came.
    pub finished_first: usize,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

/// Runs `sql` `cancels` times on `cluster`, cancelling each run at a point of its
/// window (at most `cap` into it).
///
/// # Errors
/// The query fails for another reason than the cancel, or memory is still reserved
/// on some core once a cancelled query has ended.
pub fn measure_cancels(
    cluster: &Cluster,
    sql: &str,
    cancels: usize,
    cap: Duration,
) -> Result<CancelReport, String> {
    let started = Instant::now();
    run_cancelled_at(cluster, sql, cap)?;
    let window = started.elapsed().min(cap);
    let mut histogram = latency_histogram();
    let mut latencies_ms = Vec::new();
    let mut finished_first = 0;
    for run in 0..cancels {
        // The golden-ratio sequence spreads the cancels evenly over the window.
        let fraction = (run as f64 * 0.618_033_988_75).fract();
        let delay = window.mul_f64(0.05 + 0.9 * fraction);
        match run_cancelled_at(cluster, sql, delay)? {
            Some(latency) => {
                histogram
                    .record(latency.as_micros().max(1) as u64)
                    .map_err(|e| e.to_string())?;
                latencies_ms.push(latency.as_secs_f64() * 1e3);
            }
            None => finished_first += 1,
        }
        let reserved: usize = (0..cluster.memory().pool.cores())
            .map(|core| cluster.memory().pool.used(core))
            .sum();
        if reserved > 0 {
            return Err(format!(
                "{reserved} bytes still reserved after a cancelled query ended"
            ));
        }
    }
    Ok(CancelReport {
        sql: sql.to_string(),
        window_ms: window.as_secs_f64() * 1e3,
        p50_ms: quantile_ms(&histogram, 0.5),
        p99_ms: quantile_ms(&histogram, 0.99),
        max_ms: latencies_ms.iter().copied().fold(0.0, f64::max),
        latencies_ms,
        finished_first,
    })
}

/// Runs `sql`, cancels it after `delay`, and returns how long it took to end after
/// the cancel (`None` if it ended on its own first).
fn run_cancelled_at(
    cluster: &Cluster,
    sql: &str,
    delay: Duration,
) -> Result<Option<Duration>, String> {
    let StatementOutput::Rows(stream) = cluster.run(sql).map_err(|e| e.to_string())? else {
        return Err(format!("not a query: {sql}"));
    };
    let canceller = stream.canceller();
    let (done, ended) = std::sync::mpsc::sync_channel(1);
    let reader = std::thread::spawn(move || {
        let outcome = stream.collect().map(|_| ());
        let _ = done.send(());
        outcome
    });
    let finished_first = ended.recv_timeout(delay).is_ok();
    let cancelled_at = Instant::now();
    if !finished_first {
        canceller.fail(QueryError::new(
            ErrorCode::Cancelled,
            "canceling statement due to user request",
        ));
    }
    let outcome = reader
        .join()
        .map_err(|_| "the reading thread panicked".to_string())?;
    let latency = cancelled_at.elapsed();
    match outcome {
        // Ended on its own (perhaps between the deadline and the cancel).
        Ok(()) => Ok(None),
        Err(error) if error.code == ErrorCode::Cancelled => Ok(Some(latency)),
        Err(error) => Err(format!("{sql}: {error}")),
    }
}
