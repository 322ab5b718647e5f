//! The coordinator's side of a query: whichever node a client talks to plans the
//! query, has every peer plan it too and compares plan fingerprints before anything
//! runs, starts all nodes, streams the final stage's rows to the client as they come,
//! and turns the first failure anywhere into a cancel everywhere.
//!
//! Every node plans from the SQL text rather than receiving a serialized plan: the
//! plan holds DataFusion expressions and UDFs that have no stable wire form here, the
//! catalog and planner are deterministic (same data statistics on every node), and the
//! fingerprint check turns any divergence into a clear error instead of wrong rows.

use std::io::Write;
use std::net::TcpStream;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use percore_engine::catalog::bound::{computed_first, BoundRelation};
use percore_engine::catalog::profile::TableProfile;
use percore_engine::error::{ErrorCode, QueryError, QueryResult};
use percore_engine::exec::query::{PreparedQuery, QueryCanceller, QueryStream, RemoteParts};
use percore_engine::exec::statement_cancel::StatementCancel;
use percore_engine::exec::stats::TaskStats;
use percore_engine::exec::table_sink::KeptPartitions;
use percore_engine::output_files::{copied_summary, write_file};
use percore_engine::plan::analyze::{self, RunSummary};
use percore_engine::plan::explain::explain;
use percore_engine::plan::DistributedPlan;
use percore_engine::session::{
    explain_batch, lines_batch, recursion_limit, text_batch, StatementKind,
};
use percore_engine::settings::SessionSettings;
use percore_engine::sql::recursive_ctes::StepRows;
use percore_engine::sql::ParsedStatement;

use percore_net::auth::{client_handshake, ClusterSecret};

use crate::bound_relations::relation_messages;
use crate::control::{fingerprint, read_message, write_message, Message, WireError, CONTROL_HELLO};
use crate::hot_keys::{HotKeyTally, PeerWriter};
use crate::membership::Membership;
use crate::node::Node;
use crate::worker::HEARTBEAT_EVERY;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Planning on a busy peer can take a while; a peer silent this long is lost.
const PREPARE_TIMEOUT: Duration = Duration::from_secs(120);

/// What a statement produced.
pub enum Outcome {
    Rows(ClusterQuery),
    Explain(RecordBatch),
}

/// How a peer's part of the query ended, what its tasks did, and for a load what it
/// measured of the rows it kept.
struct PeerOutcome {
    result: QueryResult<()>,
    stats: Vec<TaskStats>,
    profile: Option<TableProfile>,
}

pub(crate) struct Peer {
    pub(crate) node: usize,
    pub(crate) connection: TcpStream,
    watcher: Option<JoinHandle<PeerOutcome>>,
    /// Held while writing a message: the hot-key tally writes from other threads.
    sending: Arc<Mutex<()>>,
}

impl Peer {
    pub(crate) fn new(node: usize, connection: TcpStream) -> Peer {
        Peer {
            node,
            connection,
            watcher: None,
            sending: Arc::default(),
        }
    }

    pub(crate) fn send(&mut self, message: &Message) -> std::io::Result<()> {
        let _held = self.sending.lock().unwrap_or_else(|e| e.into_inner());
        write_message(&mut self.connection, message)
    }
}

/// A running query, read batch by batch. Dropping it cancels the query everywhere.
pub struct ClusterQuery {
    node: Arc<Node>,
    query_id: u64,
    stream: QueryStream,
    peers: Vec<Peer>,
    peer_stats: Vec<TaskStats>,
    /// For a load: what each peer measured of the rows it kept.
    peer_profiles: Vec<TableProfile>,
    /// A load keeps its peer connections open after the query for the commit.
    keep_peers: bool,
    done: bool,
    started: Instant,
}

impl Node {
    /// Runs one statement on the whole cluster, this node coordinating.
    ///
    /// # Errors
    /// Planning errors, unreachable peers, or peers that planned differently.
    pub fn run(self: &Arc<Self>, sql: &str) -> QueryResult<Outcome> {
        self.run_in(
            sql,
            &mut SessionSettings::default(),
            &StatementCancel::default(),
        )
    }

    /// Runs one statement of a session (`SET` changes `settings`); `cancel` reaches
    /// its query at any point.
    ///
    /// # Errors
    /// As [`Node::run`].
    pub fn run_in(
        self: &Arc<Self>,
        sql: &str,
        settings: &mut SessionSettings,
        cancel: &StatementCancel,
    ) -> QueryResult<Outcome> {
        self.refuse_if_shutting_down()?;
        let statement = match self.cluster.parse(sql)? {
            ParsedStatement::Session(statement) if statement.changes_catalog() => {
                return self.run_ddl(sql, &statement);
            }
            ParsedStatement::Session(statement) => {
                let batch = self.cluster.session_statement(&statement, settings)?;
                return Ok(Outcome::Explain(batch));
            }
            ParsedStatement::Plannable(statement) => statement,
        };
        let deadline = settings.deadline();
        let step_settings = *settings;
        let mut run_step = |sql: &str, relations: &[BoundRelation], limit: usize| {
            let (plan, _) = self.cluster.plan_with(sql, relations)?;
            let settings = step_settings.until(deadline);
            let mut query = self.start_query(sql, relations, &plan, &settings, cancel)?;
            let rows = StepRows::collect(|| query.next_batch(), limit)?;
            Ok((plan.schema, rows))
        };
        let limit = recursion_limit(&self.cluster, settings);
        let (bound, plan, kind) = self
            .cluster
            .plan_statement(*statement, limit, &mut run_step)?;
        let (sql, relations) = match &bound {
            Some(bound) => (bound.sql.as_str(), bound.relations.as_slice()),
            None => (sql, &[][..]),
        };
        // The steps of a recursion spent part of the statement's time.
        let settings = &settings.until(deadline);
        match kind {
            StatementKind::Explain => Ok(Outcome::Explain(explain_batch(&plan)?)),
            StatementKind::Query => Ok(Outcome::Rows(
                self.start_query(sql, relations, &plan, settings, cancel)?,
            )),
            StatementKind::CreateTable => self.run_load(sql, relations, &plan, settings, cancel),
            StatementKind::CopyTo => {
                let target = plan
                    .copy_to
                    .clone()
                    .ok_or_else(|| QueryError::internal("COPY without a target"))?;
                let mut query = self.start_query(sql, relations, &plan, settings, cancel)?;
                let batches = std::iter::from_fn(|| query.next_batch());
                let rows = write_file(&target.path, target.format, &plan.schema, batches)?;
                let summary = copied_summary(rows, &target);
                Ok(Outcome::Explain(lines_batch("result", &summary)?))
            }
            StatementKind::ExplainAnalyze => {
                let started = Instant::now();
                let mut query = self.start_query(sql, relations, &plan, settings, cancel)?;
                let mut rows = 0;
                while let Some(batch) = query.next_batch() {
                    rows += batch?.num_rows() as u64;
                }
                let summary = RunSummary {
                    nodes: self.config.peers.len(),
                    cores_per_node: self.config.cores_per_node,
                    rows,
                    elapsed: started.elapsed(),
                };
                let text =
                    computed_first(relations) + &analyze::render(&plan, &query.stats(), summary);
                Ok(Outcome::Explain(text_batch(&text)?))
            }
        }
    }

    /// Prepares the query on every node, checks their plans match, and starts it
    /// (and fails it at once if `cancel` was requested meanwhile).
    pub(crate) fn start_query(
        self: &Arc<Self>,
        sql: &str,
        relations: &[BoundRelation],
        plan: &DistributedPlan,
        settings: &SessionSettings,
        cancel: &StatementCancel,
    ) -> QueryResult<ClusterQuery> {
        // The coordinator admits for the cluster: its peers take their share at once,
        // so two coordinators never wait on each other's peers.
        self.membership.check_all()?;
        let admitted = self
            .cluster
            .admit(sql, plan, settings, false, Some(cancel))?;
        let waited = admitted.waited;
        let query_id = self.new_query_id();
        let me = self.config.node_id;
        let ours = fingerprint(&explain(plan));
        let relation_messages = relation_messages(relations)?;
        let mut peers = Vec::new();
        for (node, &address) in self.config.peers.iter().enumerate() {
            if node == me {
                continue;
            }
            let prepare = Message::Prepare {
                query_id,
                coordinator: me,
                sql: sql.to_string(),
                cluster: self.config.cluster_signature(),
                memory_per_core: settings.memory_per_core,
                skew_join: settings.skew_join,
                relations: relation_messages.len(),
            };
            let connection = dispatch(
                node,
                address,
                me,
                self.config.cluster_secret.as_ref(),
                &prepare,
                &relation_messages,
            )
            .inspect_err(|error| {
                cancel_all(&mut peers, error);
            })?;
            peers.push(Peer::new(node, connection));
        }
        let remote = RemoteParts {
            transport: Arc::clone(&self.transport),
            query_id,
            coordinator: me,
        };
        let mut prepared = self
            .cluster
            .prepare(plan, Some(remote), admitted, settings)
            .inspect_err(|error| cancel_all(&mut peers, error))?;
        let tally = if prepared.has_skew_joins() {
            let tally = hot_key_tally(&peers, &prepared)
                .inspect_err(|error| cancel_all(&mut peers, error))?;
            let voter = Arc::clone(&tally);
            prepared.vote_hot_keys_with(Box::new(move |exchange, hashes| {
                voter.vote(exchange.0, hashes);
            }));
            Some(tally)
        } else {
            None
        };
        for index in 0..peers.len() {
            let prepared = await_prepared(
                &mut peers[index],
                ours,
                PLANNED_DIFFERENTLY,
                &self.membership,
            );
            if let Err(error) = prepared {
                cancel_all(&mut peers, &error);
                return Err(error);
            }
        }
        for peer in &mut peers {
            if let Err(error) = peer.send(&Message::Start) {
                let error = lost(peer.node, &error);
                cancel_all(&mut peers, &error);
                return Err(error);
            }
        }
        let mut stream = prepared
            .start(self.cluster.runtime())
            .inspect_err(|error| {
                cancel_all(&mut peers, error);
            })?;
        if let Some(timeout) = settings.statement_timeout {
            stream.cancel_after(timeout.saturating_sub(waited));
        }
        let canceller = stream.canceller();
        for peer in &mut peers {
            peer.watcher = Some(watch(
                peer,
                canceller.clone(),
                self.membership.peer_timeout(),
                tally.clone(),
            )?);
        }
        cancel.attach(canceller.clone());
        self.track(query_id, canceller);
        Ok(ClusterQuery {
            node: Arc::clone(self),
            query_id,
            stream,
            peers,
            peer_stats: Vec::new(),
            peer_profiles: Vec::new(),
            keep_peers: plan.store.is_some(),
            done: false,
            started: Instant::now(),
        })
    }
}

/// Connects to a peer's internal port and sends it the statement: `first`, then
/// the messages that go with it (its bound relations).
pub(crate) fn dispatch(
    node: usize,
    address: std::net::SocketAddr,
    me: usize,
    secret: Option<&ClusterSecret>,
    first: &Message,
    then: &[Message],
) -> QueryResult<TcpStream> {
    let unreachable = |error: std::io::Error| {
        QueryError::new(
            ErrorCode::NodeLost,
            format!("cannot reach node {node} at {address}: {error}"),
        )
    };
    let mut connection =
        TcpStream::connect_timeout(&address, CONNECT_TIMEOUT).map_err(unreachable)?;
    let _ = connection.set_nodelay(true);
    // A peer that stops answering mid-handshake must not hold the query forever.
    let _ = connection.set_read_timeout(Some(CONNECT_TIMEOUT));
    client_handshake(&mut connection, secret, me).map_err(|error| {
        QueryError::new(
            ErrorCode::NodeLost,
            format!(
                "node {node} at {address} did not complete the cluster handshake: {error} \
                 (do both nodes have the same cluster secret?)"
            ),
        )
    })?;
    let _ = connection.set_read_timeout(None);
    let mut hello = CONTROL_HELLO.to_vec();
    hello.extend_from_slice(&(me as u32).to_le_bytes());
    connection.write_all(&hello).map_err(unreachable)?;
    for message in std::iter::once(first).chain(then) {
        write_message(&mut connection, message).map_err(unreachable)?;
    }
    Ok(connection)
}

/// What a peer whose plan differs is told.
const PLANNED_DIFFERENTLY: &str = "planned the query differently; are all nodes running the \
     same build and data?";

/// Waits for a peer's `Prepared` and checks its fingerprint is ours; `mismatch` says
/// what a different one means.
pub(crate) fn await_prepared(
    peer: &mut Peer,
    ours: u64,
    mismatch: &str,
    membership: &Membership,
) -> QueryResult<()> {
    wait_for_answer(peer, membership)?;
    peer.connection
        .set_read_timeout(Some(PREPARE_TIMEOUT))
        .map_err(|e| lost(peer.node, &e))?;
    match read_message(&mut peer.connection).map_err(|e| lost(peer.node, &e))? {
        Message::Prepared { fingerprint } if fingerprint == ours => Ok(()),
        Message::Prepared { fingerprint } => Err(QueryError::internal(format!(
            "node {} {mismatch} (fingerprint {fingerprint:016x}, the coordinator's {ours:016x})",
            peer.node
        ))),
        Message::Finished {
            error: Some(error), ..
        } => Err(QueryError::from(error)),
        other => Err(QueryError::internal(format!(
            "node {} answered Prepare with {other:?}",
            peer.node
        ))),
    }
}

/// Waits until the peer's answer starts to arrive: as long as planning takes (up to
/// the prepare timeout) while the peer answers heartbeats, and no longer than the
/// peer timeout once it stops.
fn wait_for_answer(peer: &mut Peer, membership: &Membership) -> QueryResult<()> {
    let node = peer.node;
    let started = Instant::now();
    peer.connection
        .set_read_timeout(Some(
            membership.peer_timeout().max(Duration::from_millis(100)) / 2,
        ))
        .map_err(|e| lost(node, &e))?;
    loop {
        match peer.connection.peek(&mut [0u8; 1]) {
            Ok(0) => {
                let closed = std::io::Error::from(std::io::ErrorKind::UnexpectedEof);
                return Err(lost(node, &closed));
            }
            Ok(_) => return Ok(()),
            // A signal landing during the wait (EINTR) is no answer either.
            Err(error)
                if matches!(
                    error.kind(),
                    std::io::ErrorKind::WouldBlock
                        | std::io::ErrorKind::TimedOut
                        | std::io::ErrorKind::Interrupted
                ) =>
            {
                membership.check(node)?;
                if started.elapsed() > PREPARE_TIMEOUT {
                    return Err(lost(node, &error));
                }
            }
            Err(error) => return Err(lost(node, &error)),
        }
    }
}

/// Follows a running peer: heartbeats keep it alive, its end or failure is recorded,
/// and a failure or silence fails the query here (which wakes every local task).
fn watch(
    peer: &Peer,
    canceller: QueryCanceller,
    peer_timeout: Duration,
    tally: Option<Arc<HotKeyTally>>,
) -> QueryResult<JoinHandle<PeerOutcome>> {
    let node = peer.node;
    let mut reader = peer.connection.try_clone().map_err(|e| lost(node, &e))?;
    reader
        .set_read_timeout(Some(peer_timeout.max(HEARTBEAT_EVERY * 2)))
        .map_err(|e| lost(node, &e))?;
    Ok(std::thread::spawn(move || {
        let (mut stats, mut profile) = (Vec::new(), None);
        let outcome = loop {
            match read_message(&mut reader) {
                Ok(Message::Heartbeat) => continue,
                Ok(Message::HotKeys { exchange, hashes }) if tally.is_some() => {
                    if let Some(tally) = &tally {
                        tally.vote(exchange, hashes);
                    }
                    continue;
                }
                Ok(Message::Finished {
                    error,
                    stats: reported,
                    profile: kept,
                }) => {
                    (stats, profile) = (reported, kept);
                    break error.map_or(Ok(()), |error| Err(QueryError::from(error)));
                }
                Ok(other) => {
                    break Err(QueryError::internal(format!(
                        "node {node} sent {other:?} while running"
                    )))
                }
                Err(error) => break Err(lost(node, &error)),
            }
        };
        if let Err(error) = &outcome {
            canceller.fail(error.clone());
        }
        PeerOutcome {
            result: outcome,
            stats,
            profile,
        }
    }))
}

pub(crate) fn lost(node: usize, error: &std::io::Error) -> QueryError {
    QueryError::new(
        ErrorCode::NodeLost,
        format!("node {node} lost during the query: {error}"),
    )
}

/// Best effort: a peer that cannot be told will notice its coordinator is gone.
pub(crate) fn cancel_all(peers: &mut [Peer], error: &QueryError) {
    let cancel = Message::Cancel {
        error: WireError::from(error),
    };
    for peer in peers {
        let _ = peer.send(&cancel);
    }
}

/// Collects every node's hot keys of the query's skew joins and answers them all.
fn hot_key_tally(peers: &[Peer], prepared: &PreparedQuery) -> QueryResult<Arc<HotKeyTally>> {
    let writers = peers
        .iter()
        .map(|peer| {
            Ok(PeerWriter {
                stream: peer
                    .connection
                    .try_clone()
                    .map_err(|e| lost(peer.node, &e))?,
                lock: Arc::clone(&peer.sending),
            })
        })
        .collect::<QueryResult<Vec<_>>>()?;
    let decider = prepared
        .canceller()
        .ok_or_else(|| QueryError::internal("a started query has no hot-key tally"))?
        .hot_key_decider();
    Ok(Arc::new(HotKeyTally::new(
        peers.len() + 1,
        writers,
        decider,
    )))
}

impl ClusterQuery {
    pub fn schema(&self) -> SchemaRef {
        self.stream.schema()
    }

    /// Fails the query from another thread (a client's cancel request); the failure
    /// reaches every node as any other would.
    pub fn canceller(&self) -> QueryCanceller {
        self.stream.canceller()
    }

    /// The next result batch; `None` at the end, after every node has finished.
    pub fn next_batch(&mut self) -> Option<QueryResult<RecordBatch>> {
        if self.done {
            return None;
        }
        match self.stream.next_batch() {
            Some(Ok(batch)) => Some(Ok(batch)),
            Some(Err(error)) => {
                cancel_all(&mut self.peers, &error);
                let _ = self.wait_for_peers();
                self.finish(false);
                Some(Err(error))
            }
            None => {
                let outcome = self.wait_for_peers();
                self.finish(outcome.is_ok());
                outcome.err().map(Err)
            }
        }
    }

    /// Reads every batch.
    ///
    /// # Errors
    /// The first error anywhere in the cluster.
    pub fn collect(mut self) -> QueryResult<Vec<RecordBatch>> {
        let mut batches = Vec::new();
        while let Some(batch) = self.next_batch() {
            batches.push(batch?);
        }
        Ok(batches)
    }

    /// What every task on every node did; complete once the query has ended.
    pub fn stats(&self) -> Vec<TaskStats> {
        let mut stats = self.stream.stats();
        stats.extend(self.peer_stats.iter().cloned());
        stats
    }

    /// Waits for every peer's Finished; the first error wins.
    fn wait_for_peers(&mut self) -> QueryResult<()> {
        let mut first = Ok(());
        for peer in &mut self.peers {
            let outcome = match peer.watcher.take().map(JoinHandle::join) {
                Some(Ok(outcome)) => {
                    self.peer_stats.extend(outcome.stats);
                    self.peer_profiles.extend(outcome.profile);
                    outcome.result
                }
                Some(Err(_)) => Err(QueryError::internal("a peer watcher panicked")),
                None => Ok(()),
            };
            if first.is_ok() {
                first = outcome;
            }
        }
        first
    }

    fn finish(&mut self, succeeded: bool) {
        self.done = true;
        self.node
            .metrics
            .query_ended(self.started.elapsed(), succeeded);
        self.node.untrack(self.query_id);
        if !self.keep_peers {
            for peer in &self.peers {
                let _ = peer.connection.shutdown(std::net::Shutdown::Both);
            }
        }
    }

    /// For a load that ended without error: this node's partitions of the new table,
    /// and what every peer measured of its own.
    pub(crate) fn take_table(&mut self) -> Option<(KeptPartitions, Vec<TableProfile>)> {
        let kept = self.stream.take_table()?;
        Some((kept, std::mem::take(&mut self.peer_profiles)))
    }

    /// The peers' connections, for a load's commit.
    pub(crate) fn peers_mut(&mut self) -> &mut [Peer] {
        &mut self.peers
    }
}

impl Drop for ClusterQuery {
    fn drop(&mut self) {
        if !self.done {
            let error = QueryError::new(ErrorCode::Cancelled, "the client went away");
            cancel_all(&mut self.peers, &error);
            self.stream.canceller().fail(error);
            self.finish(false);
        }
    }
}
