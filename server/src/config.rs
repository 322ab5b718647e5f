//! A node's configuration: from a TOML file shared by the whole cluster (each node
//! picks its entry with `--node-id`), or from flags alone.
//!
//! ```toml
//! cores_per_node = 1
//! tpch = 0.01               # generate TPC-H at this scale factor
//! memory_per_core = "1GiB"  # optional: each core's budget, shared by its queries
//! table_memory_per_core = "1GiB"  # optional: loaded tables in memory per core; the
//!                                 # rest on disk (default 2GiB)
//! spill_dir = "/var/tmp"    # optional: where operators spill (default: /var/tmp)
//! statement_timeout = "30s"  # optional: sessions start with this timeout (SET changes it)
//! peer_timeout = "5s"         # optional: a peer silent this long is unavailable
//! cluster_secret_file = "/etc/percore/secret"  # optional: nodes prove they hold it
//!                                # (HMAC challenge-response) before any other byte
//! password_file = "/etc/percore/passwords"  # optional: clients sign in (SCRAM-SHA-256)
//!                                # as a user:password (or verifier) line of it
//! data_dir = "/var/lib/percore"  # optional: catalog and loaded tables, kept across
//!                                # restarts (node n uses node-n under it)
//! spill_disk_cap = "100GiB" # optional: the most spilled at once on this node
//! admission_queue = 4096    # optional: queries that may wait for memory at once
//! admission_timeout = "60s" # optional: how long one may wait before it fails
//! [[nodes]]
//! internal = "127.0.0.1:7100"   # control and data between nodes
//! client = "127.0.0.1:5432"     # PostgreSQL protocol for clients
//! metrics = "127.0.0.1:9187"    # optional: Prometheus metrics (GET /metrics)
//! [[nodes]]
//! internal = "127.0.0.1:7101"
//! client = "127.0.0.1:5433"
//! ```

use std::net::SocketAddr;

use percore_engine::memory::{parse_byte_size, MemorySettings};
use percore_engine::settings::{parse_duration, SessionSettings, STATEMENT_TIMEOUT};
use percore_net::auth::ClusterSecret;

use crate::membership::DEFAULT_PEER_TIMEOUT;
use crate::pgwire::passwords::ClientPasswords;
use serde::Deserialize;

/// Memory settings as written in a file or on a command line; `None` keeps the
/// default.
#[derive(Debug, Clone, Default)]
pub struct MemoryOptions {
    pub per_core: Option<String>,
    pub table_memory_per_core: Option<String>,
    pub spill_dir: Option<std::path::PathBuf>,
    pub spill_disk_cap: Option<String>,
    /// Queries that may wait for memory at once; more fail at once.
    pub admission_queue: Option<usize>,
    /// How long a query may wait for memory before it fails (`60s`, `500ms`).
    pub admission_timeout: Option<String>,
}

/// Memory settings from their text forms.
///
/// # Errors
/// A size that does not parse, or a zero budget.
pub fn memory_settings(options: &MemoryOptions) -> Result<MemorySettings, String> {
    let mut settings = MemorySettings::default();
    if let Some(text) = &options.per_core {
        settings.per_core = parse_byte_size(text).map_err(|e| format!("memory_per_core: {e}"))?;
        if settings.per_core == 0 {
            return Err("memory_per_core must be more than 0".into());
        }
    }
    if let Some(text) = &options.table_memory_per_core {
        settings.table_memory_per_core =
            parse_byte_size(text).map_err(|e| format!("table_memory_per_core: {e}"))?;
    }
    if let Some(dir) = &options.spill_dir {
        settings.spill_dir = dir.clone();
    }
    if let Some(text) = &options.spill_disk_cap {
        settings.spill_disk_cap =
            parse_byte_size(text).map_err(|e| format!("spill_disk_cap: {e}"))? as u64;
    }
    if let Some(queue) = options.admission_queue {
        if queue == 0 {
            return Err("admission_queue must be at least 1".into());
        }
        settings.admission_queue = queue;
    }
    if let Some(text) = &options.admission_timeout {
        settings.admission_timeout = parse_duration(text).ok_or_else(|| {
            format!("admission_timeout: `{text}` is not a duration (try 60s or 500ms)")
        })?;
    }
    Ok(settings)
}

/// Everything a node needs to start; every node of a cluster must agree on all of it
/// but `node_id` (checked when a query is prepared).
#[derive(Debug, Clone, PartialEq)]
pub struct NodeConfig {
    pub node_id: usize,
    /// Internal (control and data) address of every node, this one included.
    pub peers: Vec<SocketAddr>,
    /// Where this node serves PostgreSQL clients.
    pub client: SocketAddr,
    pub cores_per_node: usize,
    /// TPC-H scale factor of the generated data; each node generates its partitions.
    pub tpch_scale: f64,
    pub batch_rows: usize,
    pub exchange_buffer_batches: usize,
    /// Frames in flight per stream between nodes before the sender waits.
    pub credit_window: u32,
    /// Memory budget per core and spilling; may differ between nodes.
    pub memory: MemorySettings,
    /// Root of the nodes' data directories: node `n` keeps its catalog and loaded
    /// tables in `node-n` under it, across restarts. In memory only when `None`.
    pub data_dir: Option<std::path::PathBuf>,
    /// What every client session starts with (its `statement_timeout`).
    pub session_defaults: SessionSettings,
    /// A peer silent this long is unavailable: new queries fail at once naming it,
    /// running ones that need it fail.
    pub peer_timeout: std::time::Duration,
    /// Where this node serves Prometheus metrics (`GET /metrics`), if anywhere.
    pub metrics_listen: Option<SocketAddr>,
    /// When set, every connection between nodes starts with proof of it both ways,
    /// and one without is refused before anything else is read.
    pub cluster_secret: Option<ClusterSecret>,
    /// When set, clients must sign in as one of its users (SCRAM-SHA-256).
    pub client_passwords: Option<ClientPasswords>,
    /// Each task on this node takes this many times as long as its work needs (a
    /// test flag that makes a straggler; 1 is full speed).
    pub slowdown: u32,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    cores_per_node: usize,
    tpch: f64,
    #[serde(default)]
    batch_rows: Option<usize>,
    #[serde(default)]
    exchange_buffer_batches: Option<usize>,
    #[serde(default)]
    credit_window: Option<u32>,
    #[serde(default)]
    memory_per_core: Option<String>,
    #[serde(default)]
    table_memory_per_core: Option<String>,
    #[serde(default)]
    spill_dir: Option<std::path::PathBuf>,
    #[serde(default)]
    spill_disk_cap: Option<String>,
    #[serde(default)]
    admission_queue: Option<usize>,
    #[serde(default)]
    admission_timeout: Option<String>,
    #[serde(default)]
    data_dir: Option<std::path::PathBuf>,
    #[serde(default)]
    statement_timeout: Option<String>,
    #[serde(default)]
    peer_timeout: Option<String>,
    #[serde(default)]
    cluster_secret_file: Option<std::path::PathBuf>,
    #[serde(default)]
    password_file: Option<std::path::PathBuf>,
    nodes: Vec<FileNode>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileNode {
    internal: SocketAddr,
    client: SocketAddr,
    /// Prometheus metrics (`GET /metrics`).
    #[serde(default)]
    metrics: Option<SocketAddr>,
    /// A test flag: this node's tasks run this many times slower.
    #[serde(default)]
    slowdown: Option<u32>,
}

/// The settings sessions start with: a node-wide `statement_timeout`, if given.
///
/// # Errors
/// A timeout that does not parse.
pub fn session_defaults(statement_timeout: Option<&str>) -> Result<SessionSettings, String> {
    let mut settings = SessionSettings::default();
    if let Some(text) = statement_timeout {
        settings
            .set(STATEMENT_TIMEOUT, Some(text))
            .map_err(|e| e.message)?;
    }
    Ok(settings)
}

/// The bound on a peer's silence from its text (`5s`, `500ms`, ...); the default
/// when `None`.
///
/// # Errors
/// Text that is not a duration, or one under 100 ms (heartbeats are a second apart,
/// so less would call every busy peer lost).
pub fn peer_timeout(text: Option<&str>) -> Result<std::time::Duration, String> {
    let Some(text) = text else {
        return Ok(DEFAULT_PEER_TIMEOUT);
    };
    let timeout = parse_duration(text)
        .ok_or_else(|| format!("`{text}` is not a duration (try 5s or 1500ms)"))?;
    if timeout < std::time::Duration::from_millis(100) {
        return Err(format!("{text} is too short (at least 100ms)"));
    }
    Ok(timeout)
}

/// The secret in `path`, if one is named.
///
/// # Errors
/// A file that cannot be read or holds too short a secret.
pub fn cluster_secret(path: Option<&std::path::Path>) -> Result<Option<ClusterSecret>, String> {
    path.map(ClusterSecret::from_file).transpose()
}

/// The users clients may sign in as, if a password file is named.
///
/// # Errors
/// A file that cannot be read or has a bad line.
pub fn client_passwords(path: Option<&std::path::Path>) -> Result<Option<ClientPasswords>, String> {
    path.map(ClientPasswords::from_file).transpose()
}

impl NodeConfig {
    /// This node's own data directory, if it keeps one.
    pub fn node_data_dir(&self) -> Option<std::path::PathBuf> {
        self.data_dir
            .as_ref()
            .map(|root| root.join(format!("node-{}", self.node_id)))
    }

    /// Reads the cluster file and picks node `node_id`'s entry.
    ///
    /// # Errors
    /// A file that cannot be read or parsed, or a node id not in it.
    pub fn from_toml(text: &str, node_id: usize) -> Result<NodeConfig, String> {
        let file: FileConfig = toml::from_str(text).map_err(|e| e.to_string())?;
        let node = file.nodes.get(node_id).ok_or_else(|| {
            format!(
                "--node-id {node_id} is not in the file, which lists {} nodes",
                file.nodes.len()
            )
        })?;
        let defaults = NodeConfig::defaults();
        let config = NodeConfig {
            node_id,
            peers: file.nodes.iter().map(|n| n.internal).collect(),
            client: node.client,
            cores_per_node: file.cores_per_node,
            tpch_scale: file.tpch,
            batch_rows: file.batch_rows.unwrap_or(defaults.batch_rows),
            exchange_buffer_batches: file
                .exchange_buffer_batches
                .unwrap_or(defaults.exchange_buffer_batches),
            credit_window: file.credit_window.unwrap_or(defaults.credit_window),
            memory: memory_settings(&MemoryOptions {
                per_core: file.memory_per_core,
                table_memory_per_core: file.table_memory_per_core,
                spill_dir: file.spill_dir,
                spill_disk_cap: file.spill_disk_cap,
                admission_queue: file.admission_queue,
                admission_timeout: file.admission_timeout,
            })?,
            data_dir: file.data_dir,
            session_defaults: session_defaults(file.statement_timeout.as_deref())?,
            peer_timeout: peer_timeout(file.peer_timeout.as_deref())
                .map_err(|e| format!("peer_timeout: {e}"))?,
            metrics_listen: node.metrics,
            cluster_secret: cluster_secret(file.cluster_secret_file.as_deref())?,
            client_passwords: client_passwords(file.password_file.as_deref())
                .map_err(|e| format!("password_file: {e}"))?,
            slowdown: node.slowdown.unwrap_or(1),
        };
        config.validate()?;
        Ok(config)
    }

    /// A single node with default settings; callers fill in what they know.
    pub fn defaults() -> NodeConfig {
        NodeConfig {
            node_id: 0,
            peers: Vec::new(),
            client: SocketAddr::from(([127, 0, 0, 1], 5432)),
            cores_per_node: 1,
            tpch_scale: 0.1,
            batch_rows: 8192,
            exchange_buffer_batches: 4,
            credit_window: 4,
            memory: MemorySettings::default(),
            data_dir: None,
            session_defaults: SessionSettings::default(),
            peer_timeout: DEFAULT_PEER_TIMEOUT,
            metrics_listen: None,
            cluster_secret: None,
            client_passwords: None,
            slowdown: 1,
        }
    }

    /// # Errors
    /// The first setting that cannot work, named.
    pub fn validate(&self) -> Result<(), String> {
        if self.peers.is_empty() {
            return Err("the cluster has no nodes (give --peers or a config file)".into());
        }
        if self.node_id >= self.peers.len() {
            return Err(format!(
                "node id {} is out of range for {} nodes",
                self.node_id,
                self.peers.len()
            ));
        }
        if self.cores_per_node == 0 || self.batch_rows == 0 || self.exchange_buffer_batches == 0 {
            return Err("cores, batch rows and exchange buffers must be at least 1".into());
        }
        if self.credit_window == 0 {
            return Err("the credit window must be at least 1 frame".into());
        }
        if self.peers.len() * self.cores_per_node > usize::from(u16::MAX) {
            return Err(format!(
                "{} partitions is more than the wire format's {}",
                self.peers.len() * self.cores_per_node,
                u16::MAX
            ));
        }
        if !(self.tpch_scale.is_finite() && self.tpch_scale >= 0.0) {
            return Err(format!(
                "the TPC-H scale factor must be positive (0: no TPC-H tables), got {}",
                self.tpch_scale
            ));
        }
        Ok(())
    }

    /// What every node of one cluster must share; compared when a query is prepared.
    pub fn cluster_signature(&self) -> String {
        format!(
            "nodes={} cores_per_node={} tpch={} batch_rows={}",
            self.peers.len(),
            self.cores_per_node,
            self.tpch_scale,
            self.batch_rows
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_example_is_valid() {
        let text = include_str!("../../config/cluster.toml");
        for node in 0..3 {
            let config = NodeConfig::from_toml(text, node).unwrap();
            assert_eq!(config.peers.len(), 3);
            assert_eq!(config.client.port(), 5432 + node as u16);
        }
    }

    #[test]
    fn reads_a_cluster_file() {
        let text = r#"
            cores_per_node = 2
            tpch = 0.01
            [[nodes]]
            internal = "127.0.0.1:7100"
            client = "127.0.0.1:5432"
            [[nodes]]
            internal = "127.0.0.1:7101"
            client = "127.0.0.1:5433"
        "#;
        let config = NodeConfig::from_toml(text, 1).unwrap();
        assert_eq!(config.peers.len(), 2);
        assert_eq!(config.client.port(), 5433);
        assert_eq!(config.cores_per_node, 2);
        let error = NodeConfig::from_toml(text, 2).unwrap_err();
        assert!(error.contains("lists 2 nodes"), "{error}");
        let error = NodeConfig::from_toml("cores_per_node = 1\ntpch = 1\nbogus = 3\nnodes = []", 0)
            .unwrap_err();
        assert!(error.contains("bogus"), "{error}");
    }

    #[test]
    fn reads_memory_settings_and_names_bad_ones() {
        let nodes = "[[nodes]]\ninternal = \"127.0.0.1:7100\"\nclient = \"127.0.0.1:5432\"";
        let text = format!(
            "cores_per_node = 1\ntpch = 0.01\nmemory_per_core = \"64MiB\"\n\
             spill_dir = \"/var/tmp\"\nspill_disk_cap = \"2GiB\"\n\
             table_memory_per_core = \"16MiB\"\nadmission_queue = 10000\n\
             admission_timeout = \"5min\"\n{nodes}"
        );
        let config = NodeConfig::from_toml(&text, 0).unwrap();
        assert_eq!(config.memory.per_core, 64 << 20);
        assert_eq!(config.memory.admission_queue, 10_000);
        assert_eq!(
            config.memory.admission_timeout,
            std::time::Duration::from_secs(300)
        );
        assert_eq!(config.memory.table_memory_per_core, 16 << 20);
        assert_eq!(
            config.memory.spill_dir,
            std::path::PathBuf::from("/var/tmp")
        );
        assert_eq!(config.memory.spill_disk_cap, 2 << 30);
        let text = format!("cores_per_node = 1\ntpch = 0.01\nmemory_per_core = \"lots\"\n{nodes}");
        let error = NodeConfig::from_toml(&text, 0).unwrap_err();
        assert!(error.contains("memory_per_core"), "{error}");
        for bad in ["admission_queue = 0", "admission_timeout = \"later\""] {
            let text = format!("cores_per_node = 1\ntpch = 0.01\n{bad}\n{nodes}");
            let error = NodeConfig::from_toml(&text, 0).unwrap_err();
            assert!(error.contains("admission_"), "{error}");
        }
        let text = format!("cores_per_node = 1\ntpch = 0.01\nstatement_timeout = \"30s\"\n{nodes}");
        let config = NodeConfig::from_toml(&text, 0).unwrap();
        assert_eq!(
            config.session_defaults.statement_timeout,
            Some(std::time::Duration::from_secs(30))
        );
        let text =
            format!("cores_per_node = 1\ntpch = 0.01\nstatement_timeout = \"soon\"\n{nodes}");
        let error = NodeConfig::from_toml(&text, 0).unwrap_err();
        assert!(error.contains("statement_timeout"), "{error}");
    }

    #[test]
    fn reads_a_cluster_secret_file_and_names_a_bad_one() {
        let dir = std::env::temp_dir().join(format!("percore-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let nodes = "[[nodes]]\ninternal = \"127.0.0.1:7100\"\nclient = \"127.0.0.1:5432\"";
        let with_file = |contents: &str| {
            let path = dir.join("secret");
            std::fs::write(&path, contents).unwrap();
            let text = format!(
                "cores_per_node = 1\ntpch = 0.01\ncluster_secret_file = \"{}\"\n{nodes}",
                path.display()
            );
            NodeConfig::from_toml(&text, 0)
        };
        let config = with_file("0123456789abcdef0123\n").unwrap();
        assert_eq!(
            config.cluster_secret,
            Some(ClusterSecret::new(b"0123456789abcdef0123".to_vec()).unwrap())
        );
        let error = with_file("too short\n").unwrap_err();
        assert!(error.contains("at least 16"), "{error}");
        std::fs::remove_dir_all(&dir).unwrap();
        let text = format!(
            "cores_per_node = 1\ntpch = 0.01\ncluster_secret_file = \"{}\"\n{nodes}",
            dir.join("secret").display()
        );
        let error = NodeConfig::from_toml(&text, 0).unwrap_err();
        assert!(error.contains("cannot read the cluster secret"), "{error}");
    }

    #[test]
    fn reads_a_password_file_and_names_a_bad_line() {
        let dir = std::env::temp_dir().join(format!("percore-passwords-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let nodes = "[[nodes]]\ninternal = \"127.0.0.1:7100\"\nclient = \"127.0.0.1:5432\"";
        let with_file = |contents: &str| {
            let path = dir.join("passwords");
            std::fs::write(&path, contents).unwrap();
            let text = format!(
                "cores_per_node = 1\ntpch = 0.01\npassword_file = \"{}\"\n{nodes}",
                path.display()
            );
            NodeConfig::from_toml(&text, 0)
        };
        let config = with_file("alice:pencil\n").unwrap();
        assert_eq!(
            format!("{:?}", config.client_passwords),
            "Some(ClientPasswords(1 users))"
        );
        let error = with_file("alice:pencil\nbob\n").unwrap_err();
        assert!(error.starts_with("password_file: "), "{error}");
        assert!(error.contains("line 2: expected user:password"), "{error}");
        assert!(!error.contains("pencil"), "{error}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
