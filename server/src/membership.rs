//! Which peers are alive. A thread per peer keeps a control connection open and
//! trades a heartbeat each second; a peer that has not answered for `peer_timeout`
//! is unavailable. A stopped process (SIGSTOP, a hung machine, a partition) still
//! completes TCP handshakes in its kernel, so only an answer counts: without this a
//! new query would connect, send Prepare and wait minutes for a reply. New queries
//! check here first and fail at once with 08006 naming the node; one that answers
//! again is available again with no other step.
//!
//! Silence is the time a heartbeat (or a connection for one) has waited for its
//! answer, not the time since the last answer: a node that was itself frozen or
//! starved of CPU asked nothing during its pause, so on waking it does not blame
//! peers whose answers it simply had not read yet.

use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use percore_engine::error::{ErrorCode, QueryError, QueryResult};

use percore_net::auth::{client_handshake, ClusterSecret};

use crate::control::{read_message, write_message, Message, CONTROL_HELLO};
use crate::worker::HEARTBEAT_EVERY;

/// The default bound on a peer's silence.
pub const DEFAULT_PEER_TIMEOUT: Duration = Duration::from_secs(5);

pub struct Membership {
    me: usize,
    peer_timeout: Duration,
    /// Proved to each peer before the heartbeat connection's hello.
    secret: Option<ClusterSecret>,
    /// Per node, since when a heartbeat to it waits for its answer (this node's
    /// entry stays `None`).
    asking_since: Vec<Mutex<Option<Instant>>>,
    stopped: AtomicBool,
}

impl Membership {
    /// Starts watching every peer of `peers` but `me`.
    pub fn start(
        me: usize,
        peers: &[SocketAddr],
        peer_timeout: Duration,
        secret: Option<ClusterSecret>,
    ) -> Arc<Membership> {
        let membership = Arc::new(Membership {
            me,
            peer_timeout,
            secret,
            asking_since: peers.iter().map(|_| Mutex::new(None)).collect(),
            stopped: AtomicBool::new(false),
        });
        for (node, &address) in peers.iter().enumerate() {
            if node == me {
                continue;
            }
            let watching = Arc::clone(&membership);
            let _ = std::thread::Builder::new()
                .name(format!("percore-watch-{node}"))
                .spawn(move || watching.watch(node, address));
        }
        membership
    }

    pub fn peer_timeout(&self) -> Duration {
        self.peer_timeout
    }

    /// Stops the watching threads (at shutdown).
    pub fn stop(&self) {
        self.stopped.store(true, Ordering::Relaxed);
    }

    /// Ok when every node answered within the peer timeout; else 08006 naming the
    /// first that did not.
    pub fn check_all(&self) -> QueryResult<()> {
        (0..self.asking_since.len()).try_for_each(|node| self.check(node))
    }

    /// Ok when `node` answered within the peer timeout; else 08006 naming it.
    pub fn check(&self, node: usize) -> QueryResult<()> {
        match self.silence(node) {
            Some(silent) => Err(unavailable(node, silent, self.peer_timeout)),
            None => Ok(()),
        }
    }

    /// How long a heartbeat to `node` has waited for its answer, if longer than the
    /// peer timeout.
    fn silence(&self, node: usize) -> Option<Duration> {
        let silent = self.asking_since(node).as_ref()?.elapsed();
        (silent > self.peer_timeout).then_some(silent)
    }

    fn asking_since(&self, node: usize) -> std::sync::MutexGuard<'_, Option<Instant>> {
        self.asking_since[node]
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }

    fn asking(&self, node: usize) {
        self.asking_since(node).get_or_insert_with(Instant::now);
    }

    fn answered(&self, node: usize) {
        *self.asking_since(node) = None;
    }

    /// Trades heartbeats with `node` until stopped, reconnecting after any failure.
    fn watch(&self, node: usize, address: SocketAddr) {
        // At least two heartbeats within the bound, so a lost peer is declared at
        // most half a bound late.
        let wait = HEARTBEAT_EVERY
            .min(self.peer_timeout / 2)
            .max(Duration::from_millis(10));
        let mut connection: Option<TcpStream> = None;
        while !self.stopped.load(Ordering::Relaxed) {
            let started = Instant::now();
            self.asking(node);
            if connection.is_none() {
                connection = self.connect(address, wait).ok();
            }
            if let Some(stream) = connection.as_mut() {
                let answered =
                    write_message(stream, &Message::Heartbeat).and_then(|()| read_message(stream));
                match answered {
                    Ok(Message::Heartbeat) => self.answered(node),
                    _ => connection = None,
                }
            }
            std::thread::sleep(wait.saturating_sub(started.elapsed()));
        }
    }

    fn connect(&self, address: SocketAddr, wait: Duration) -> std::io::Result<TcpStream> {
        use std::io::Write;
        let mut stream = TcpStream::connect_timeout(&address, wait)?;
        stream.set_nodelay(true)?;
        stream.set_read_timeout(Some(wait))?;
        stream.set_write_timeout(Some(wait))?;
        client_handshake(&mut stream, self.secret.as_ref(), self.me)?;
        let mut hello = CONTROL_HELLO.to_vec();
        hello.extend_from_slice(&(self.me as u32).to_le_bytes());
        stream.write_all(&hello)?;
        Ok(stream)
    }
}

fn unavailable(node: usize, silent: Duration, peer_timeout: Duration) -> QueryError {
    QueryError::new(
        ErrorCode::NodeLost,
        format!(
            "node {node} unavailable: no answer for {:.1} s (peer_timeout {:?})",
            silent.as_secs_f64(),
            peer_timeout
        ),
    )
}
