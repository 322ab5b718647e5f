//! A peer's side of a query the coordinator dispatched: plan, wire, report the
//! fingerprint, run on `Start`, heartbeat while running, report how it ended.

use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use percore_engine::error::{ErrorCode, QueryError, QueryResult};
use percore_engine::exec::query::{PreparedQuery, RemoteParts};
use percore_engine::plan::explain::explain;
use percore_engine::session::StatementKind;
use percore_engine::settings::SessionSettings;

use crate::control::{fingerprint, read_message, write_message, Message, WireError};
use crate::node::{peer_name, Node};

/// How long a prepared query waits for `Start` before it is abandoned.
const START_TIMEOUT: Duration = Duration::from_secs(120);
pub(crate) const HEARTBEAT_EVERY: Duration = Duration::from_secs(1);

pub(crate) fn serve(node: &Arc<Node>, connection: TcpStream) {
    let peer = peer_name(&connection);
    if let Err(error) = serve_query(node, connection) {
        eprintln!("percore: control connection from {peer} ended: {error}");
    }
}

fn serve_query(node: &Arc<Node>, mut connection: TcpStream) -> std::io::Result<()> {
    connection.set_read_timeout(Some(START_TIMEOUT))?;
    let Message::Prepare {
        query_id,
        coordinator,
        sql,
        cluster,
        memory_per_core,
    } = read_message(&mut connection)?
    else {
        return Err(std::io::Error::other("expected Prepare"));
    };
    let prepared = match prepare(node, query_id, coordinator, &sql, &cluster, memory_per_core) {
        Ok((prepared, fingerprint)) => {
            write_message(&mut connection, &Message::Prepared { fingerprint })?;
            prepared
        }
        Err(error) => return finished_with(&mut connection, &error),
    };
    // Dropping `prepared` on any early return forgets its inbound streams.
    match read_message(&mut connection)? {
        Message::Start => {}
        _ => return Ok(()),
    }
    let stream = match prepared.start(node.cluster.runtime()) {
        Ok(stream) => stream,
        Err(error) => return finished_with(&mut connection, &error),
    };
    let canceller = stream.canceller();
    node.track(query_id, canceller.clone());
    connection.set_read_timeout(None)?;
    let writer = Arc::new(Mutex::new(connection.try_clone()?));
    let done = Arc::new(AtomicBool::new(false));
    // Listens for Cancel; a coordinator that vanished cancels the query too.
    let listener = {
        let (done, canceller) = (Arc::clone(&done), canceller.clone());
        let mut reader = connection.try_clone()?;
        std::thread::spawn(move || {
            let error = match read_message(&mut reader) {
                Ok(Message::Cancel { error }) => QueryError::from(error),
                Ok(other) => QueryError::internal(format!("unexpected {other:?} while running")),
                Err(error) => QueryError::new(
                    ErrorCode::NodeLost,
                    format!("coordinator node {coordinator} lost: {error}"),
                ),
            };
            if !done.load(Ordering::Relaxed) {
                canceller.fail(error);
            }
        })
    };
    // Stopped through a channel, so that a finished query does not wait out a sleep.
    let (stop_heartbeat, heartbeat_stopped) = std::sync::mpsc::channel::<()>();
    let heartbeat = {
        let (done, writer) = (Arc::clone(&done), Arc::clone(&writer));
        std::thread::spawn(move || {
            while !done.load(Ordering::Relaxed) {
                if heartbeat_stopped.recv_timeout(HEARTBEAT_EVERY)
                    != Err(std::sync::mpsc::RecvTimeoutError::Timeout)
                {
                    return;
                }
                let mut writer = writer.lock().unwrap_or_else(|e| e.into_inner());
                if done.load(Ordering::Relaxed)
                    || write_message(&mut *writer, &Message::Heartbeat).is_err()
                {
                    return;
                }
            }
        })
    };
    // This node runs no final stage (unless it coordinates, which it does not
    // here): collecting only waits for its tasks and brings back their first error.
    let mut stream = stream;
    let mut outcome = Ok(());
    while let Some(batch) = stream.next_batch() {
        if let Err(error) = batch {
            outcome = Err(error);
        }
    }
    node.untrack(query_id);
    let finished = Message::Finished {
        error: outcome.err().map(|e| WireError::from(&e)),
        stats: stream.stats(),
    };
    // The query's memory, spill files and SHOW QUERIES entry go now, not when the
    // coordinator gets around to closing the connection.
    drop(stream);
    let finished = {
        let mut writer = writer.lock().unwrap_or_else(|e| e.into_inner());
        done.store(true, Ordering::Relaxed);
        write_message(&mut *writer, &finished)
    };
    let _ = stop_heartbeat.send(());
    let _ = heartbeat.join();
    // The coordinator closes the connection once it has every Finished.
    let _ = listener.join();
    finished
}

fn finished_with(connection: &mut TcpStream, error: &QueryError) -> std::io::Result<()> {
    let finished = Message::Finished {
        error: Some(WireError::from(error)),
        stats: Vec::new(),
    };
    write_message(connection, &finished)
}

/// Plans the query exactly as the coordinator did and wires this node's exchanges.
fn prepare(
    node: &Arc<Node>,
    query_id: u64,
    coordinator: usize,
    sql: &str,
    cluster: &str,
    memory_per_core: Option<usize>,
) -> QueryResult<(PreparedQuery, u64)> {
    node.refuse_if_shutting_down()?;
    let ours = node.config.cluster_signature();
    if cluster != ours {
        return Err(QueryError::internal(format!(
            "node {} is configured differently: coordinator has `{cluster}`, this node `{ours}`",
            node.config.node_id
        )));
    }
    let (plan, kind) = node.cluster.plan(sql)?;
    if kind == StatementKind::Explain {
        return Err(QueryError::internal(
            "EXPLAIN is answered by the coordinator",
        ));
    }
    let fingerprint = fingerprint(&explain(&plan));
    let remote = RemoteParts {
        transport: Arc::clone(&node.transport),
        query_id,
        coordinator,
    };
    let settings = SessionSettings { memory_per_core };
    let admitted = node.cluster.admit(sql, &plan, &settings, true)?;
    Ok((
        node.cluster.prepare(&plan, Some(remote), admitted)?,
        fingerprint,
    ))
}
