//! `percore node` and `percore cluster up`.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use percore_server::local::{LocalCluster, LocalClusterOptions};
use percore_server::{Node, NodeConfig};

#[derive(clap::Args)]
pub struct NodeArgs {
    /// Cluster file (TOML) listing every node; see the README. Flags below override
    /// nothing in it: use either the file or the flags.
    #[arg(long)]
    config: Option<std::path::PathBuf>,
    /// This node's index in the node list.
    #[arg(long, default_value_t = 0)]
    node_id: usize,
    /// Internal (node-to-node) address of every node, in node-id order.
    #[arg(long, value_delimiter = ',')]
    peers: Vec<SocketAddr>,
    /// Where this node serves PostgreSQL clients.
    #[arg(long, default_value = "127.0.0.1:5432")]
    listen: SocketAddr,
    /// Executors on this node (every node must have the same number).
    #[arg(long, default_value_t = 1)]
    cores: usize,
    /// TPC-H scale factor; each node generates only its own partitions.
    #[arg(long, default_value_t = 0.1)]
    tpch: f64,
    /// Rows per batch.
    #[arg(long, default_value_t = 8192)]
    batch_size: usize,
    /// Batches each local exchange channel buffers before producers wait.
    #[arg(long, default_value_t = 4)]
    exchange_buffer: usize,
    /// Frames in flight per stream between nodes before the sender waits for credit.
    #[arg(long, default_value_t = 4)]
    credit_window: u32,
    /// Keep the catalog and loaded tables here across restarts (this node uses
    /// `node-<id>` under it). Default: in memory only.
    #[arg(long)]
    data_dir: Option<std::path::PathBuf>,
    /// Every client session starts with this statement timeout (e.g. 30s; SET
    /// statement_timeout changes it). Default: none.
    #[arg(long)]
    statement_timeout: Option<String>,
    /// A peer that has not answered heartbeats for this long is unavailable: new
    /// queries fail at once naming it (08006), running ones that need it fail.
    /// Default: 5s.
    #[arg(long)]
    peer_timeout: Option<String>,
    /// Serve Prometheus metrics here (`GET /metrics`: queries, errors by SQLSTATE
    /// class, latency, memory per core, spill and exchange bytes, peers).
    #[arg(long)]
    metrics_listen: Option<std::net::SocketAddr>,
    /// A file holding the cluster secret (at least 16 bytes; every node gives the
    /// same). Nodes prove they hold it before any plan or data is exchanged; a
    /// connection without it is refused and logged. Default: no secret.
    #[arg(long)]
    cluster_secret_file: Option<std::path::PathBuf>,
    /// Clients must sign in (SCRAM-SHA-256, as PostgreSQL) as a user of this file:
    /// `user:password` lines, or `user:SCRAM-SHA-256$...` verifiers that `percore
    /// password USER` prints. Default: clients are trusted.
    #[arg(long)]
    password_file: Option<std::path::PathBuf>,
    /// For testing: this node's tasks take this many times as long as their work
    /// needs (they wait the rest), so it is a straggler EXPLAIN ANALYZE names.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=1000))]
    slowdown: u32,
    #[command(flatten)]
    memory: crate::memory_args::MemoryArgs,
}

#[derive(clap::Subcommand)]
pub enum ClusterAction {
    /// Start a cluster of node processes on loopback and keep it up until Ctrl-C.
    Up(UpArgs),
}

#[derive(clap::Args)]
pub struct UpArgs {
    #[arg(long, default_value_t = 3)]
    nodes: usize,
    #[arg(long, default_value_t = 1)]
    cores_per_node: usize,
    /// TPC-H scale factor.
    #[arg(long, default_value_t = 0.1)]
    tpch: f64,
    /// Keep each node's catalog and loaded tables under this directory across
    /// restarts.
    #[arg(long)]
    data_dir: Option<std::path::PathBuf>,
    /// Every node proves it holds this secret to the others (see `node`).
    #[arg(long)]
    cluster_secret_file: Option<std::path::PathBuf>,
    /// Clients sign in as a user of this file (see `node`).
    #[arg(long)]
    password_file: Option<std::path::PathBuf>,
    #[command(flatten)]
    memory: crate::memory_args::MemoryArgs,
}

fn node_config(args: &NodeArgs) -> Result<NodeConfig, String> {
    if let Some(path) = &args.config {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        return NodeConfig::from_toml(&text, args.node_id)
            .map_err(|e| format!("{}: {e}", path.display()));
    }
    let config = NodeConfig {
        node_id: args.node_id,
        peers: args.peers.clone(),
        client: args.listen,
        cores_per_node: args.cores,
        tpch_scale: args.tpch,
        batch_rows: args.batch_size,
        exchange_buffer_batches: args.exchange_buffer,
        credit_window: args.credit_window,
        memory: args.memory.settings()?,
        data_dir: args.data_dir.clone(),
        session_defaults: percore_server::config::session_defaults(
            args.statement_timeout.as_deref(),
        )
        .map_err(|e| format!("--statement-timeout: {e}"))?,
        peer_timeout: percore_server::config::peer_timeout(args.peer_timeout.as_deref())
            .map_err(|e| format!("--peer-timeout: {e}"))?,
        metrics_listen: args.metrics_listen,
        cluster_secret: percore_server::config::cluster_secret(args.cluster_secret_file.as_deref())
            .map_err(|e| format!("--cluster-secret-file: {e}"))?,
        client_passwords: percore_server::config::client_passwords(args.password_file.as_deref())
            .map_err(|e| format!("--password-file: {e}"))?,
        slowdown: args.slowdown,
    };
    config.validate()?;
    Ok(config)
}

pub fn run_node(args: NodeArgs) -> ExitCode {
    let config = match node_config(&args) {
        Ok(config) => config,
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::from(2);
        }
    };
    let (id, nodes, cores) = (config.node_id, config.peers.len(), config.cores_per_node);
    let started = std::time::Instant::now();
    let node = match Node::start(config) {
        Ok(node) => node,
        Err(error) => {
            eprintln!("error: node {id} cannot start: {error}");
            return ExitCode::from(2);
        }
    };
    eprintln!(
        "percore node {id} of {nodes}: {cores} cores, ready in {:.2}s; clients: psql -h {} -p {}",
        started.elapsed().as_secs_f64(),
        node.client_address().ip(),
        node.client_address().port()
    );
    match node.run_until_signalled() {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::from(2)
        }
    }
}

pub fn run(action: ClusterAction) -> ExitCode {
    let ClusterAction::Up(args) = action;
    if args.nodes == 0 || args.cores_per_node == 0 {
        eprintln!("error: --nodes and --cores-per-node must be at least 1");
        return ExitCode::from(2);
    }
    let binary = match std::env::current_exe() {
        Ok(binary) => binary,
        Err(error) => {
            eprintln!("error: cannot find the percore binary: {error}");
            return ExitCode::from(2);
        }
    };
    if let Err(error) = args.memory.settings() {
        eprintln!("error: {error}");
        return ExitCode::from(2);
    }
    let mut options = LocalClusterOptions::new(args.nodes, args.cores_per_node, args.tpch);
    options.extra_args = args.memory.to_args();
    if let Some(dir) = &args.data_dir {
        options
            .extra_args
            .extend(["--data-dir".to_string(), dir.display().to_string()]);
    }
    if let Some(file) = &args.cluster_secret_file {
        // Checked here, so a bad file is one error instead of one per node.
        if let Err(error) = percore_server::config::cluster_secret(Some(file)) {
            eprintln!("error: --cluster-secret-file: {error}");
            return ExitCode::from(2);
        }
        options.extra_args.extend([
            "--cluster-secret-file".to_string(),
            file.display().to_string(),
        ]);
    }
    if let Some(file) = &args.password_file {
        if let Err(error) = percore_server::config::client_passwords(Some(file)) {
            eprintln!("error: --password-file: {error}");
            return ExitCode::from(2);
        }
        options
            .extra_args
            .extend(["--password-file".to_string(), file.display().to_string()]);
    }
    let mut cluster = match LocalCluster::start(&binary, &options) {
        Ok(cluster) => cluster,
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::from(2);
        }
    };
    eprintln!(
        "percore cluster up: {} nodes x {} cores, TPC-H SF {}",
        args.nodes, args.cores_per_node, args.tpch
    );
    for (node, address) in cluster.client_addresses().iter().enumerate() {
        eprintln!(
            "  node {node}: percore sql --connect {address}   (or psql -h {} -p {})",
            address.ip(),
            address.port()
        );
    }
    eprintln!("Ctrl-C stops the cluster.");
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        if let Err(error) = signal_hook::flag::register(signal, Arc::clone(&stop)) {
            eprintln!("error: {error}");
            return ExitCode::from(2);
        }
    }
    while !stop.load(Ordering::Relaxed) {
        std::thread::sleep(Duration::from_millis(100));
    }
    cluster.stop();
    eprintln!("percore cluster stopped");
    ExitCode::SUCCESS
}
