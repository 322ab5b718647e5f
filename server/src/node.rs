//! The node process: generates its partitions, starts its executors, and serves two
//! ports: the internal one (control and data connections from peers, told apart by
//! their hello) and the client one (PostgreSQL protocol).

use std::collections::HashMap;
use std::io::Read;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use datafusion_expr::ScalarUDF;
use percore_engine::catalog::tpch;
use percore_engine::error::{ErrorCode, QueryError, QueryResult};
use percore_engine::exec::query::QueryCanceller;
use percore_engine::exec::remote::{adopt_data_connection, Transport, TransportConfig, DATA_HELLO};
use percore_engine::exec::topology::Topology;
use percore_engine::session::{Cluster, ClusterConfig};

use crate::config::NodeConfig;
use crate::control::CONTROL_HELLO;
use crate::membership::Membership;
use crate::metrics::NodeMetrics;
use crate::pgwire::Sessions;
use crate::{pgwire, worker};
use percore_net::auth::{server_handshake, AUTH_HELLO};

/// The remote address of a connection, for log lines.
pub(crate) fn peer_name(connection: &TcpStream) -> String {
    connection
        .peer_addr()
        .map_or_else(|_| "?".into(), |a| a.to_string())
}

/// A peer must say what it is within this time, or its connection is dropped.
const HELLO_TIMEOUT: Duration = Duration::from_secs(10);

pub struct Node {
    pub(crate) config: NodeConfig,
    pub(crate) cluster: Cluster,
    pub(crate) transport: Arc<Transport>,
    next_query: AtomicU64,
    /// Queries with tasks on this node, to fail them on shutdown.
    running: Mutex<HashMap<u64, QueryCanceller>>,
    shutting_down: AtomicBool,
    next_data_core: AtomicUsize,
    client_address: SocketAddr,
    sessions: Sessions,
    /// Which peers answer.
    pub(crate) membership: Arc<Membership>,
    pub(crate) metrics: NodeMetrics,
}

impl Node {
    /// Generates this node's data, starts its executors and listeners.
    ///
    /// # Errors
    /// A bad configuration, a port in use, or executors that cannot start (io_uring or
    /// locked memory unavailable), each said plainly.
    pub fn start(config: NodeConfig) -> Result<Arc<Node>, String> {
        Node::start_with_functions(config, Vec::new())
    }

    /// Like [`Node::start`], with extra scalar functions SQL can call. Every node of
    /// the cluster must register the same ones, or plans will not match.
    ///
    /// # Errors
    /// As [`Node::start`].
    pub fn start_with_functions(
        config: NodeConfig,
        functions: Vec<Arc<ScalarUDF>>,
    ) -> Result<Arc<Node>, String> {
        config.validate()?;
        let topology = Topology {
            node: config.node_id,
            nodes: config.peers.len(),
            cores_per_node: config.cores_per_node,
        };
        let catalog = tpch::generate_partitions(
            config.tpch_scale,
            topology.partitions(),
            topology.local_partitions(),
            config.batch_rows.max(1024),
        )
        .map_err(|e| format!("cannot generate TPC-H: {e}"))?;
        let transport = Transport::with_secret(
            config.node_id,
            config.peers.clone(),
            TransportConfig {
                credit_window: config.credit_window,
                ..TransportConfig::default()
            },
            config.cluster_secret.clone(),
        );
        let cluster_config = ClusterConfig::new(config.cores_per_node)
            .with_batch_rows(config.batch_rows)
            .with_exchange_buffer_batches(config.exchange_buffer_batches)
            .with_slowdown(config.slowdown);
        let cluster_config = ClusterConfig {
            memory: config.memory.clone(),
            ..cluster_config.with_data_dir(config.node_data_dir())
        };
        let mut cluster = Cluster::start_node(
            Arc::new(catalog),
            cluster_config,
            topology,
            Some(Arc::clone(&transport)),
        )
        .map_err(|e| e.message)?;
        for function in functions {
            cluster.register_scalar_function(function);
        }
        let internal_address = config.peers[config.node_id];
        let internal = TcpListener::bind(internal_address)
            .map_err(|e| format!("cannot listen on {internal_address} (internal): {e}"))?;
        let client = TcpListener::bind(config.client)
            .map_err(|e| format!("cannot listen on {} (clients): {e}", config.client))?;
        let client_address = client.local_addr().map_err(|e| e.to_string())?;
        let metrics = config
            .metrics_listen
            .map(|address| {
                TcpListener::bind(address)
                    .map_err(|e| format!("cannot listen on {address} (metrics): {e}"))
            })
            .transpose()?;
        let (config_node_id, config_peers, config_peer_timeout) =
            (config.node_id, config.peers.clone(), config.peer_timeout);
        let secret = config.cluster_secret.clone();
        let node = Arc::new(Node {
            config,
            cluster,
            transport,
            next_query: AtomicU64::new(first_query_number()),
            running: Mutex::new(HashMap::new()),
            shutting_down: AtomicBool::new(false),
            next_data_core: AtomicUsize::new(0),
            client_address,
            sessions: Sessions::default(),
            membership: Membership::start(
                config_node_id,
                &config_peers,
                config_peer_timeout,
                secret,
            ),
            metrics: NodeMetrics::default(),
        });
        let accepting = Arc::clone(&node);
        std::thread::Builder::new()
            .name("percore-internal".into())
            .spawn(move || accepting.accept_internal(&internal))
            .map_err(|e| e.to_string())?;
        if let Some(listener) = metrics {
            let serving = Arc::clone(&node);
            std::thread::Builder::new()
                .name("percore-metrics".into())
                .spawn(move || crate::metrics::serve(serving, listener))
                .map_err(|e| e.to_string())?;
        }
        let accepting = Arc::clone(&node);
        std::thread::Builder::new()
            .name("percore-clients".into())
            .spawn(move || pgwire::server::accept_clients(&accepting, &client))
            .map_err(|e| e.to_string())?;
        Ok(node)
    }

    pub fn client_address(&self) -> SocketAddr {
        self.client_address
    }

    pub fn config(&self) -> &NodeConfig {
        &self.config
    }

    /// PostgreSQL client sessions, by cancel key.
    pub fn sessions(&self) -> &Sessions {
        &self.sessions
    }

    /// This node's data plane, for its counters.
    pub fn transport(&self) -> &Arc<Transport> {
        &self.transport
    }

    /// A query id no other node hands out, nor this node before a restart: the node
    /// id in the top 16 bits.
    pub(crate) fn new_query_id(&self) -> u64 {
        ((self.config.node_id as u64) << 48)
            | (self.next_query.fetch_add(1, Ordering::Relaxed) & ((1 << 48) - 1))
    }

    /// Refuses new work once the node is shutting down.
    ///
    /// # Errors
    /// The error running queries get on shutdown.
    pub(crate) fn refuse_if_shutting_down(&self) -> QueryResult<()> {
        if self.shutting_down.load(Ordering::Relaxed) {
            return Err(self.shutting_down_error());
        }
        Ok(())
    }

    fn shutting_down_error(&self) -> QueryError {
        QueryError::new(
            ErrorCode::NodeLost,
            format!("node {} is shutting down", self.config.node_id),
        )
    }

    pub(crate) fn track(&self, query_id: u64, canceller: QueryCanceller) {
        self.lock_running().insert(query_id, canceller);
    }

    pub(crate) fn untrack(&self, query_id: u64) {
        self.lock_running().remove(&query_id);
    }

    fn lock_running(&self) -> std::sync::MutexGuard<'_, HashMap<u64, QueryCanceller>> {
        self.running.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Fails every running query with a clear error and waits (up to `grace`) for
    /// them to report it. New queries are refused from now on.
    pub fn shutdown(&self, grace: Duration) {
        self.shutting_down.store(true, Ordering::Relaxed);
        self.membership.stop();
        let error = self.shutting_down_error();
        for canceller in self.lock_running().values() {
            canceller.fail(error.clone());
        }
        let deadline = Instant::now() + grace;
        while !self.lock_running().is_empty() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        // Their failed queries answered; every client learns why it is cut off.
        self.sessions().terminate_all();
    }

    /// Blocks until SIGTERM or SIGINT, then shuts down.
    ///
    /// # Errors
    /// When the signal handlers cannot be installed.
    pub fn run_until_signalled(&self) -> Result<(), String> {
        let stop = Arc::new(AtomicBool::new(false));
        for signal in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
            signal_hook::flag::register(signal, Arc::clone(&stop)).map_err(|e| e.to_string())?;
        }
        while !stop.load(Ordering::Relaxed) {
            std::thread::sleep(Duration::from_millis(50));
        }
        eprintln!("percore node {}: shutting down", self.config.node_id);
        self.shutdown(Duration::from_secs(5));
        Ok(())
    }

    fn accept_internal(self: &Arc<Self>, listener: &TcpListener) {
        for connection in listener.incoming() {
            let Ok(connection) = connection else { continue };
            let node = Arc::clone(self);
            let _ = std::thread::Builder::new()
                .name("percore-peer".into())
                .spawn(move || node.serve_internal(connection));
        }
    }

    /// With a cluster secret, the peer must prove it holds it before its usual
    /// hello (which follows) is read; without one, a peer offering a secret is
    /// refused too (the two nodes are configured differently).
    fn authenticated(
        &self,
        connection: &mut TcpStream,
        hello: [u8; 12],
    ) -> Result<[u8; 12], String> {
        match &self.config.cluster_secret {
            Some(secret) => {
                let node =
                    server_handshake(connection, secret, &hello).map_err(|e| e.to_string())?;
                let mut inner = [0u8; 12];
                connection.read_exact(&mut inner).map_err(|e| {
                    format!("node {node} proved the secret, then sent no hello ({e})")
                })?;
                Ok(inner)
            }
            None if &hello[..8] == AUTH_HELLO => {
                Err("it offers a cluster secret and this node has none".into())
            }
            None => Ok(hello),
        }
    }

    /// Reads the hello and hands the connection to the data plane or the control
    /// plane. Anything else is dropped; the node carries on.
    fn serve_internal(self: &Arc<Self>, mut connection: TcpStream) {
        let peer = peer_name(&connection);
        let mut hello = [0u8; 12];
        let read = connection
            .set_read_timeout(Some(HELLO_TIMEOUT))
            .and_then(|()| connection.read_exact(&mut hello));
        if let Err(error) = read {
            eprintln!("percore: dropped internal connection from {peer}: no hello ({error})");
            return;
        }
        let hello = match self.authenticated(&mut connection, hello) {
            Ok(hello) => hello,
            Err(error) => {
                eprintln!("percore: refused internal connection from {peer}: {error}");
                return;
            }
        };
        let _ = connection.set_read_timeout(None);
        if &hello[..8] == DATA_HELLO {
            let core =
                self.next_data_core.fetch_add(1, Ordering::Relaxed) % self.config.cores_per_node;
            let transport = Arc::clone(&self.transport);
            if let Err(error) =
                adopt_data_connection(self.cluster.runtime(), core, connection, transport)
            {
                eprintln!("percore: dropped data connection from {peer}: {error}");
            }
        } else if &hello[..8] == CONTROL_HELLO {
            worker::serve(self, connection);
        } else {
            eprintln!("percore: dropped internal connection from {peer}: not a Percore peer");
        }
    }
}

/// Where this process starts numbering its queries: the microseconds since the Unix
/// epoch (48 bits: 8.9 years before they wrap). A node restarted after a crash must
/// not reuse the ids of its earlier life, whose streams and cancellations its peers
/// may still hold; one query per microsecond of uptime never catches up with that.
fn first_query_number() -> u64 {
    let micros = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(1, |since| since.as_micros() as u64);
    (micros & ((1 << 48) - 1)).max(1)
}
