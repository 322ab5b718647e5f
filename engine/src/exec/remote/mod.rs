//! Exchanges between nodes. A producer task sends its batches to a consumer on another
//! node as Arrow IPC messages in checksummed frames over an io_uring TCP connection,
//! one connection per (sending core, peer node), shared by every stream between them.
//!
//! Flow control is per stream (query, exchange, source task, target task): a sender
//! starts with `credit_window` frames of credit and sends one frame per credit; the
//! receiver returns a credit when the consumer task takes the batch. A slow consumer
//! therefore stops its producers without holding up other streams on the socket, and
//! at most `credit_window` frames per stream sit in the consumer's memory.

pub mod ipc;
mod link;
mod receive;
pub mod throughput;
mod validate;

use percore_net::auth::ClusterSecret;
use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use arrow::record_batch::RecordBatch;
use percore_net::{FrameKind, StreamId};

use crate::memory::{QueryMemory, Reservation};

pub(crate) use link::RemoteSender;
pub use receive::adopt_data_connection;

/// The first bytes on a data connection, before any frame.
pub const DATA_HELLO: &[u8; 8] = b"PCRDATA1";

#[derive(Debug, Clone, Copy)]
pub struct TransportConfig {
    /// Frames a stream may have in flight before its sender waits for credit.
    pub credit_window: u32,
    /// Frames larger than this are refused by the receiver before allocation.
    pub max_frame_bytes: usize,
    /// Senders split batches so that frames stay near this size.
    pub target_frame_bytes: usize,
}

impl Default for TransportConfig {
    fn default() -> Self {
        TransportConfig {
            credit_window: 4,
            max_frame_bytes: 256 << 20,
            target_frame_bytes: 8 << 20,
        }
    }
}

/// A batch that came over the network; dropping it returns its frame's credit.
pub(crate) struct RemoteBatch {
    pub batch: RecordBatch,
    /// The partition that sent it.
    pub source_partition: usize,
    pub(crate) _credit: Option<CreditReturn>,
    /// The batch's memory, charged to the consumer's core until it takes the batch.
    pub(crate) _charge: Reservation,
}

/// Where a stream's batches are delivered and charged. Both handles are weak: a
/// data connection outlives queries and remembers their streams, and a query
/// cancelled before its peers sent their ends must still end, memory and all.
#[derive(Clone)]
pub(crate) struct InboundTarget {
    pub sender: flume::WeakSender<RemoteBatch>,
    pub memory: std::sync::Weak<QueryMemory>,
    pub core: usize,
}

/// Sends one credit back to the stream's sender when dropped.
pub(crate) struct CreditReturn {
    stream: StreamId,
    replies: flume::Sender<(FrameKind, StreamId)>,
    transport: Arc<Transport>,
}

impl CreditReturn {
    fn new(
        stream: StreamId,
        replies: flume::Sender<(FrameKind, StreamId)>,
        transport: &Arc<Transport>,
    ) -> CreditReturn {
        let stats = &transport.stats;
        let in_flight = stats.frames_in_flight.fetch_add(1, Ordering::Relaxed) + 1;
        stats
            .peak_frames_in_flight
            .fetch_max(in_flight, Ordering::Relaxed);
        CreditReturn {
            stream,
            replies,
            transport: Arc::clone(transport),
        }
    }
}

impl Drop for CreditReturn {
    fn drop(&mut self) {
        let _ = self.replies.send((FrameKind::Credit, self.stream));
        self.transport
            .stats
            .frames_in_flight
            .fetch_sub(1, Ordering::Relaxed);
    }
}

/// The consumer side of one (query, exchange, target task): the channel remote batches
/// go into, open until every remote source task has sent its end.
struct Inbound {
    sender: flume::Sender<RemoteBatch>,
    remaining_sources: usize,
    memory: Arc<QueryMemory>,
    core: usize,
}

type InboundKey = (u64, u32, u16);

fn inbound_key(stream: StreamId) -> InboundKey {
    (stream.query, stream.exchange, stream.target_partition)
}

/// This node's end of the data plane: peer addresses and the inbound streams of the
/// queries running here. Shared by all cores.
pub struct Transport {
    node: usize,
    peers: Vec<SocketAddr>,
    config: TransportConfig,
    secret: Option<ClusterSecret>,
    inbound: Mutex<HashMap<InboundKey, Inbound>>,
    pub stats: TransportStats,
}

/// What the data plane holds right now (per-query traffic is in the task stats).
#[derive(Debug, Default)]
pub struct TransportStats {
    /// Received data frames whose batches no consumer has taken yet: what remote
    /// producers hold in this node's memory. Credits bound it.
    pub frames_in_flight: AtomicU64,
    pub peak_frames_in_flight: AtomicU64,
    /// Bytes of frames written to other nodes (shared with the writing tasks).
    pub bytes_sent: Arc<AtomicU64>,
    /// Bytes of frames read from other nodes.
    pub bytes_received: AtomicU64,
}

impl Transport {
    /// `peers[n]` is the internal address of node `n` (this node included).
    pub fn new(node: usize, peers: Vec<SocketAddr>, config: TransportConfig) -> Arc<Transport> {
        Transport::with_secret(node, peers, config, None)
    }

    /// Like [`Transport::new`]; data connections this node opens first prove it holds
    /// `secret` (see `percore_net::auth`).
    pub fn with_secret(
        node: usize,
        peers: Vec<SocketAddr>,
        config: TransportConfig,
        secret: Option<ClusterSecret>,
    ) -> Arc<Transport> {
        Arc::new(Transport {
            node,
            peers,
            config,
            secret,
            inbound: Mutex::new(HashMap::new()),
            stats: TransportStats::default(),
        })
    }

    pub fn node(&self) -> usize {
        self.node
    }

    pub fn config(&self) -> TransportConfig {
        self.config
    }

    fn peer_address(&self, node: usize) -> Option<SocketAddr> {
        self.peers.get(node).copied()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<InboundKey, Inbound>> {
        self.inbound.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Opens the receiving end of a stream group before any peer may send to it.
    pub(crate) fn register_inbound(
        &self,
        query: u64,
        exchange: u32,
        target: u16,
        sender: flume::Sender<RemoteBatch>,
        remote_sources: usize,
        charge_to: (Arc<QueryMemory>, usize),
    ) {
        self.lock().insert(
            (query, exchange, target),
            Inbound {
                memory: charge_to.0,
                core: charge_to.1,
                sender,
                remaining_sources: remote_sources,
            },
        );
    }

    /// A weak handle: once the query is forgotten the channel closes even while a
    /// connection still remembers the stream.
    fn inbound_target(&self, stream: StreamId) -> Option<InboundTarget> {
        self.lock()
            .get(&inbound_key(stream))
            .map(|inbound| InboundTarget {
                sender: inbound.sender.downgrade(),
                memory: Arc::downgrade(&inbound.memory),
                core: inbound.core,
            })
    }

    /// A remote source task finished; the last one closes the consumer's channel.
    fn source_finished(&self, stream: StreamId) {
        let mut inbound = self.lock();
        let key = inbound_key(stream);
        if let Some(entry) = inbound.get_mut(&key) {
            entry.remaining_sources = entry.remaining_sources.saturating_sub(1);
            if entry.remaining_sources == 0 {
                inbound.remove(&key);
            }
        }
    }

    /// Drops every inbound stream of a query: its consumers see their inputs end (and
    /// then the cancel flag), late frames are refused.
    pub fn forget_query(&self, query: u64) {
        self.lock().retain(|(q, _, _), _| *q != query);
    }

    /// The (query, exchange, target) groups still receiving: a data connection keeps
    /// decoders only for streams of these.
    fn open_inbound_keys(&self) -> HashSet<InboundKey> {
        self.lock().keys().copied().collect()
    }

    /// Inbound streams still open, for tests that check nothing leaks.
    pub fn open_inbound_streams(&self) -> usize {
        self.lock().len()
    }
}
