//! A peer's side of a query the coordinator dispatched: plan, wire, report the
//! fingerprint, run on `Start`, heartbeat while running, report how it ended.

use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use arrow::datatypes::SchemaRef;
use percore_engine::catalog::bound::BoundRelation;
use percore_engine::error::{ErrorCode, QueryError, QueryResult};
use percore_engine::exec::query::{PreparedQuery, QueryCanceller, RemoteParts};
use percore_engine::plan::explain::explain;
use percore_engine::plan::{ExchangeId, StoreTarget};
use percore_engine::session::StatementKind;
use percore_engine::settings::SessionSettings;
use percore_engine::sql::ParsedStatement;

use crate::bound_relations::read_relations;
use crate::control::{fingerprint, read_message, write_message, Message, WireError};
use crate::node::{peer_name, Node};

/// How long a prepared query waits for `Start` before it is abandoned.
const START_TIMEOUT: Duration = Duration::from_secs(120);
pub(crate) const HEARTBEAT_EVERY: Duration = Duration::from_secs(1);

pub(crate) fn serve(node: &Arc<Node>, mut connection: TcpStream) {
    let peer = peer_name(&connection);
    let served = connection
        .set_read_timeout(Some(START_TIMEOUT))
        .and_then(|()| read_message(&mut connection))
        .and_then(|first| match first {
            Message::Prepare {
                query_id,
                coordinator,
                sql,
                cluster,
                memory_per_core,
                skew_join,
                relations,
            } => {
                let limit = memory_per_core.unwrap_or(node.cluster.memory().settings.per_core);
                let relations = read_relations(&mut connection, relations, limit)?;
                let query = QueryRequest {
                    query_id,
                    coordinator,
                    sql: &sql,
                    cluster: &cluster,
                    memory_per_core,
                    skew_join,
                    relations,
                };
                serve_query(node, connection, &query)
            }
            Message::Ddl { sql, cluster } => serve_ddl(node, connection, &sql, &cluster),
            Message::Heartbeat => answer_heartbeats(connection),
            other => Err(std::io::Error::other(format!(
                "expected Prepare or Ddl, got {other:?}"
            ))),
        });
    if let Err(error) = served {
        eprintln!("percore: control connection from {peer} ended: {error}");
    }
}

/// A peer watching whether this node is alive: each heartbeat answered, until it
/// hangs up.
fn answer_heartbeats(mut connection: TcpStream) -> std::io::Result<()> {
    loop {
        write_message(&mut connection, &Message::Heartbeat)?;
        match read_message(&mut connection) {
            Ok(Message::Heartbeat) => {}
            _ => return Ok(()),
        }
    }
}

/// A query the coordinator asked this node to prepare.
struct QueryRequest<'a> {
    query_id: u64,
    coordinator: usize,
    sql: &'a str,
    cluster: &'a str,
    memory_per_core: Option<usize>,
    skew_join: Option<bool>,
    /// The statement's bound relations, or why they could not be taken.
    relations: QueryResult<Vec<BoundRelation>>,
}

/// A DDL statement: check and build the change, report its fingerprint, make it on
/// Commit. The DDL lock is held throughout; Cancel or a lost coordinator drops it.
fn serve_ddl(
    node: &Arc<Node>,
    mut connection: TcpStream,
    sql: &str,
    cluster: &str,
) -> std::io::Result<()> {
    let prepared = check_cluster(node, cluster)
        .and_then(|()| node.cluster.lock_ddl())
        .and_then(|guard| {
            let ParsedStatement::Session(statement) = node.cluster.parse(sql)? else {
                return Err(QueryError::internal("Ddl with a statement that is not DDL"));
            };
            Ok((guard, node.cluster.prepare_change(&statement)?))
        });
    let (_ddl, change) = match prepared {
        Ok(prepared) => prepared,
        Err(error) => return finished_with(&mut connection, &error),
    };
    let fingerprint = fingerprint(&change.identity);
    write_message(&mut connection, &Message::Prepared { fingerprint })?;
    match read_message(&mut connection)? {
        Message::Commit { .. } => {
            let applied = node.cluster.apply_change(change).map(|_| ());
            finished_or(&mut connection, applied)
        }
        _ => Ok(()),
    }
}

fn serve_query(
    node: &Arc<Node>,
    mut connection: TcpStream,
    request: &QueryRequest<'_>,
) -> std::io::Result<()> {
    let (query_id, coordinator) = (request.query_id, request.coordinator);
    let (prepared, load, _ddl) = match prepare(node, request) {
        Ok(Prepared {
            query,
            fingerprint,
            load,
            ddl,
        }) => {
            write_message(&mut connection, &Message::Prepared { fingerprint })?;
            (query, load, ddl)
        }
        Err(error) => return finished_with(&mut connection, &error),
    };
    // Dropping `prepared` on any early return forgets its inbound streams.
    match read_message(&mut connection)? {
        Message::Start => {}
        _ => return Ok(()),
    }
    let writer = Arc::new(Mutex::new(connection.try_clone()?));
    let mut prepared = prepared;
    if prepared.has_skew_joins() {
        let writer = Arc::clone(&writer);
        prepared.vote_hot_keys_with(Box::new(move |exchange, hashes| {
            let vote = Message::HotKeys {
                exchange: exchange.0,
                hashes,
            };
            // A coordinator that cannot be told is gone: the listener cancels.
            let _ = write_message(
                &mut *writer.lock().unwrap_or_else(|e| e.into_inner()),
                &vote,
            );
        }));
    }
    let stream = match prepared.start(node.cluster.runtime()) {
        Ok(stream) => stream,
        Err(error) => return finished_with(&mut connection, &error),
    };
    let canceller = stream.canceller();
    node.track(query_id, canceller.clone());
    connection.set_read_timeout(None)?;
    let done = Arc::new(AtomicBool::new(false));
    // Listens for Cancel; a coordinator that vanished cancels the query too.
    let listener = {
        let (done, canceller) = (Arc::clone(&done), canceller.clone());
        let mut reader = connection.try_clone()?;
        std::thread::spawn(move || {
            let (error, commit) = match read_decisions(&mut reader, &canceller) {
                Ok(Message::Cancel { error }) => (QueryError::from(error), None),
                Ok(Message::Commit { profile }) => {
                    (QueryError::internal("committed"), Some(profile))
                }
                Ok(other) => (
                    QueryError::internal(format!("unexpected {other:?} while running")),
                    None,
                ),
                Err(error) => (
                    QueryError::new(
                        ErrorCode::NodeLost,
                        format!("coordinator node {coordinator} lost: {error}"),
                    ),
                    None,
                ),
            };
            if !done.load(Ordering::Relaxed) {
                canceller.fail(error);
            }
            commit
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
    // A load's partitions are written to the data directory before this node says
    // it succeeded: the commit then only renames them into place.
    let mut kept = None;
    if let (Some(load), true) = (&load, outcome.is_ok()) {
        let taken = stream.take_table().unwrap_or_default();
        match node
            .cluster
            .stage_load(&load.store, &load.schema, &taken.partitions)
        {
            Ok(staged) => kept = Some((taken, staged)),
            Err(error) => outcome = Err(error),
        }
    }
    let profile = match (&load, &kept) {
        (Some(load), Some((kept, _))) => Some(kept.profile(&load.store.partitioning)),
        _ => None,
    };
    let finished = Message::Finished {
        error: outcome.err().map(|e| WireError::from(&e)),
        stats: stream.stats(),
        profile,
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
    // The coordinator closes the connection once it has every Finished, or (for a
    // load that ended well everywhere) sends Commit.
    let commit = listener.join().ok().flatten();
    finished?;
    if let (Some(load), Some((kept, staged)), Some(Some(profile))) = (load, kept, commit) {
        let change =
            node.cluster
                .loaded_change(&load.store, load.schema, kept.partitions, &profile, staged);
        let applied = node.cluster.apply_change(change).map(|_| ());
        let mut writer = writer.lock().unwrap_or_else(|e| e.into_inner());
        return finished_or(&mut writer, applied);
    }
    Ok(())
}

/// Reads past the coordinator's hot-key decisions (handing them to the query) to
/// the next other message.
fn read_decisions(reader: &mut TcpStream, canceller: &QueryCanceller) -> std::io::Result<Message> {
    loop {
        match read_message(reader)? {
            Message::HotKeysDecided { exchange, hashes } => {
                canceller.decide_hot_keys(ExchangeId(exchange), hashes);
            }
            other => return Ok(other),
        }
    }
}

fn finished_with(connection: &mut TcpStream, error: &QueryError) -> std::io::Result<()> {
    finished_or(connection, Err(error.clone()))
}

fn finished_or(connection: &mut TcpStream, outcome: QueryResult<()>) -> std::io::Result<()> {
    let finished = Message::Finished {
        error: outcome.err().map(|error| WireError::from(&error)),
        stats: Vec::new(),
        profile: None,
    };
    write_message(connection, &finished)
}

fn check_cluster(node: &Node, cluster: &str) -> QueryResult<()> {
    node.refuse_if_shutting_down()?;
    let ours = node.config.cluster_signature();
    if cluster != ours {
        return Err(QueryError::internal(format!(
            "node {} is configured differently: coordinator has `{cluster}`, this node `{ours}`",
            node.config.node_id
        )));
    }
    Ok(())
}

/// The table a load on this node fills.
struct Load {
    store: StoreTarget,
    schema: SchemaRef,
}

/// A query planned and wired on this node.
struct Prepared<'a> {
    query: PreparedQuery,
    fingerprint: u64,
    load: Option<Load>,
    /// Held through a load, as on the coordinator.
    ddl: Option<MutexGuard<'a, ()>>,
}

/// Plans the query exactly as the coordinator did and wires this node's exchanges.
fn prepare<'a>(node: &'a Arc<Node>, request: &QueryRequest<'_>) -> QueryResult<Prepared<'a>> {
    check_cluster(node, request.cluster)?;
    let relations = request.relations.as_ref().map_err(Clone::clone)?;
    let (plan, kind) = node.cluster.plan_with(request.sql, relations)?;
    if kind == StatementKind::Explain {
        return Err(QueryError::internal(
            "EXPLAIN is answered by the coordinator",
        ));
    }
    let (load, ddl) = match &plan.store {
        Some(store) => {
            let guard = node.cluster.lock_ddl()?;
            // The coordinator found the name free; a node that has it differs.
            let mut checked = store.clone();
            checked.if_not_exists = false;
            node.cluster.check_new_table(&checked).map_err(|error| {
                QueryError::internal(format!(
                    "node {}: {} (its catalog differs from the coordinator's)",
                    node.config.node_id, error.message
                ))
            })?;
            let load = Load {
                store: store.clone(),
                schema: Arc::clone(&plan.schema),
            };
            (Some(load), Some(guard))
        }
        None => (None, None),
    };
    let fingerprint = fingerprint(&explain(&plan));
    let remote = RemoteParts {
        transport: Arc::clone(&node.transport),
        query_id: request.query_id,
        coordinator: request.coordinator,
    };
    let settings = SessionSettings {
        memory_per_core: request.memory_per_core,
        skew_join: request.skew_join,
        ..SessionSettings::default()
    };
    let admitted = node
        .cluster
        .admit(request.sql, &plan, &settings, true, None)?;
    Ok(Prepared {
        query: node
            .cluster
            .prepare(&plan, Some(remote), admitted, &settings)?,
        fingerprint,
        load,
        ddl,
    })
}
