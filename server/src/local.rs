//! A local cluster of real `percore node` processes on loopback, for trying Percore
//! out (`percore cluster up`) and for tests. Ports are picked free at start; the
//! nodes are stopped (SIGTERM, then SIGKILL after a grace period) when it is dropped,
//! also when a test fails.

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::pgwire::client::Client;

#[derive(Debug, Clone)]
pub struct LocalClusterOptions {
    pub nodes: usize,
    pub cores_per_node: usize,
    pub tpch_scale: f64,
    pub batch_rows: usize,
    pub exchange_buffer_batches: usize,
    pub credit_window: u32,
    /// Flags passed to every node as they are (`--memory-per-core 64MiB`, ...).
    pub extra_args: Vec<String>,
    /// Flags for one node only, by node id (`(2, ["--slowdown", "8"])`).
    pub node_extra_args: Vec<(usize, Vec<String>)>,
    /// Each node's stderr goes to `node-N.log` here; inherited when `None`.
    pub log_dir: Option<PathBuf>,
    pub startup_timeout: Duration,
    /// Each node serves Prometheus metrics on a port of its own.
    pub metrics: bool,
}

impl LocalClusterOptions {
    pub fn new(nodes: usize, cores_per_node: usize, tpch_scale: f64) -> Self {
        LocalClusterOptions {
            nodes,
            cores_per_node,
            tpch_scale,
            batch_rows: 8192,
            exchange_buffer_batches: 4,
            credit_window: 4,
            extra_args: Vec::new(),
            node_extra_args: Vec::new(),
            log_dir: None,
            startup_timeout: Duration::from_secs(300),
            metrics: false,
        }
    }
}

pub struct LocalCluster {
    children: Vec<Child>,
    clients: Vec<SocketAddr>,
    internal: Vec<SocketAddr>,
    metrics: Vec<SocketAddr>,
    log_dir: Option<PathBuf>,
    binary: PathBuf,
    /// Each node's command line, to start it again the same way.
    node_args: Vec<Vec<String>>,
}

impl LocalCluster {
    /// Starts the nodes with `binary` (the `percore` executable) and waits until every
    /// node accepts clients.
    ///
    /// # Errors
    /// A node that exits or does not come up in time; its log tail is in the message.
    pub fn start(binary: &Path, options: &LocalClusterOptions) -> Result<LocalCluster, String> {
        // A port picked free can be taken by someone else before the node binds it:
        // try again with new ports.
        let mut last_error = String::new();
        for _ in 0..3 {
            match LocalCluster::try_start(binary, options) {
                Ok(cluster) => return Ok(cluster),
                Err(error) => last_error = error,
            }
        }
        Err(last_error)
    }

    fn try_start(binary: &Path, options: &LocalClusterOptions) -> Result<LocalCluster, String> {
        let per_node = if options.metrics { 3 } else { 2 };
        let ports =
            free_ports(options.nodes * per_node).map_err(|e| format!("no free ports: {e}"))?;
        let address = |port: u16| SocketAddr::from(([127, 0, 0, 1], port));
        let n = options.nodes;
        let internal: Vec<SocketAddr> = ports[..n].iter().map(|&p| address(p)).collect();
        let clients: Vec<SocketAddr> = ports[n..2 * n].iter().map(|&p| address(p)).collect();
        let metrics: Vec<SocketAddr> = ports[2 * n..].iter().map(|&p| address(p)).collect();
        let peers = internal
            .iter()
            .map(SocketAddr::to_string)
            .collect::<Vec<_>>()
            .join(",");
        let node_args = clients
            .iter()
            .enumerate()
            .map(|(node, client)| {
                let mut args: Vec<String> = [
                    "node",
                    "--node-id",
                    &node.to_string(),
                    "--peers",
                    &peers,
                    "--listen",
                    &client.to_string(),
                    "--cores",
                    &options.cores_per_node.to_string(),
                    "--tpch",
                    &options.tpch_scale.to_string(),
                    "--batch-size",
                    &options.batch_rows.to_string(),
                    "--exchange-buffer",
                    &options.exchange_buffer_batches.to_string(),
                    "--credit-window",
                    &options.credit_window.to_string(),
                ]
                .iter()
                .map(ToString::to_string)
                .collect();
                if let Some(address) = metrics.get(node) {
                    args.extend(["--metrics-listen".to_string(), address.to_string()]);
                }
                args.extend(options.extra_args.iter().cloned());
                for (only, extra) in &options.node_extra_args {
                    if *only == node {
                        args.extend(extra.iter().cloned());
                    }
                }
                args
            })
            .collect();
        let mut cluster = LocalCluster {
            children: Vec::new(),
            clients: clients.clone(),
            internal: internal.clone(),
            metrics,
            log_dir: options.log_dir.clone(),
            binary: binary.to_path_buf(),
            node_args,
        };
        for node in 0..options.nodes {
            let child = cluster.spawn(node, false)?;
            cluster.children.push(child);
        }
        for node in 0..options.nodes {
            cluster.wait_until_ready(node, options.startup_timeout)?;
        }
        Ok(cluster)
    }

    /// Starts node `node`'s process; its log is appended to when `again`.
    fn spawn(&self, node: usize, again: bool) -> Result<Child, String> {
        let stderr = match &self.log_dir {
            Some(dir) => {
                std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
                let log = std::fs::OpenOptions::new()
                    .create(true)
                    .write(true)
                    .append(again)
                    .truncate(!again)
                    .open(dir.join(format!("node-{node}.log")))
                    .map_err(|e| e.to_string())?;
                Stdio::from(log)
            }
            None => Stdio::inherit(),
        };
        Command::new(&self.binary)
            .args(&self.node_args[node])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", self.binary.display()))
    }

    /// Kills node `node` (SIGKILL: no clean shutdown) and waits for it to be gone.
    pub fn kill(&mut self, node: usize) {
        let _ = self.children[node].kill();
        let _ = self.children[node].wait();
    }

    /// Starts a node that was killed again, with the same flags and ports, and waits
    /// until it accepts clients.
    ///
    /// # Errors
    /// When it exits or does not come up in time.
    pub fn restart(&mut self, node: usize, timeout: Duration) -> Result<(), String> {
        self.kill(node);
        self.children[node] = self.spawn(node, true)?;
        self.wait_until_ready(node, timeout)
    }

    fn wait_until_ready(&mut self, node: usize, timeout: Duration) -> Result<(), String> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok(Some(status)) = self.children[node].try_wait() {
                return Err(format!(
                    "node {node} exited during startup ({status}){}",
                    self.log_tail(node)
                ));
            }
            // A node that refuses our sign-in is up too: its client port answered.
            match Client::connect(self.clients[node], Duration::from_secs(1)) {
                Ok(_) => return Ok(()),
                Err(error) if error.kind() == std::io::ErrorKind::PermissionDenied => return Ok(()),
                Err(_) => {}
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "node {node} did not accept clients within {timeout:?}{}",
                    self.log_tail(node)
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The last lines of a node's log, for error messages.
    pub fn log_tail(&self, node: usize) -> String {
        let Some(dir) = &self.log_dir else {
            return String::new();
        };
        let text =
            std::fs::read_to_string(dir.join(format!("node-{node}.log"))).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        format!(
            "\n--- node {node} log ---\n{}",
            lines[lines.len().saturating_sub(20)..].join("\n")
        )
    }

    /// The client (PostgreSQL) address of each node.
    pub fn client_addresses(&self) -> &[SocketAddr] {
        &self.clients
    }

    /// The internal (node-to-node) address of each node.
    pub fn internal_addresses(&self) -> &[SocketAddr] {
        &self.internal
    }

    /// Where each node serves metrics (empty unless asked for).
    pub fn metrics_addresses(&self) -> &[SocketAddr] {
        &self.metrics
    }

    /// Connects a client to `node`.
    ///
    /// # Errors
    /// When the node does not answer.
    pub fn connect(&self, node: usize) -> std::io::Result<Client> {
        Client::connect(self.clients[node], Duration::from_secs(10))
    }

    /// Waits for a node to exit by itself; `None` if it is still running at the end.
    pub fn wait_for_exit(
        &mut self,
        node: usize,
        timeout: Duration,
    ) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok(Some(status)) = self.children[node].try_wait() {
                return Some(status);
            }
            if Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The OS process id of a node.
    pub fn pid(&self, node: usize) -> u32 {
        self.children[node].id()
    }

    /// Stops every node and waits for them.
    pub fn stop(&mut self) {
        for child in &self.children {
            terminate(child);
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        for child in &mut self.children {
            while matches!(child.try_wait(), Ok(None)) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
            if matches!(child.try_wait(), Ok(None)) {
                let _ = child.kill();
            }
            let _ = child.wait();
        }
        self.children.clear();
    }
}

impl Drop for LocalCluster {
    fn drop(&mut self) {
        self.stop();
    }
}

fn terminate(child: &Child) {
    // SAFETY: kill(2) on a child we spawned and have not yet reaped.
    unsafe {
        libc::kill(child.id() as libc::pid_t, libc::SIGTERM);
    }
}

/// Ports free right now, all distinct (the listeners are held until all are picked).
///
/// # Errors
/// When the OS has no port to give.
pub fn free_ports(count: usize) -> std::io::Result<Vec<u16>> {
    let listeners = (0..count)
        .map(|_| TcpListener::bind("127.0.0.1:0"))
        .collect::<std::io::Result<Vec<_>>>()?;
    listeners
        .iter()
        .map(|l| l.local_addr().map(|a| a.port()))
        .collect()
}
