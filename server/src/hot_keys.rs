//! The coordinator's side of a skew join over several nodes. Each node's probe
//! producers publish the keys they will spread; each node sends the union as its
//! vote (`HotKeys`). Once every node voted, the coordinator sends the union of all
//! votes to every peer (`HotKeysDecided`) and decides it locally: every node's build
//! producers then replicate exactly the same keys.

use std::collections::{HashMap, HashSet};
use std::net::TcpStream;
use std::sync::{Arc, Mutex};

use percore_engine::exec::query::HotKeyDecider;
use percore_engine::plan::ExchangeId;

use crate::control::{write_message, Message};

/// One peer's control connection, written by the tally and by the query's own
/// thread (Start, Cancel): `lock` keeps their frames whole.
pub(crate) struct PeerWriter {
    pub stream: TcpStream,
    pub lock: Arc<Mutex<()>>,
}

pub(crate) struct HotKeyTally {
    nodes: usize,
    /// By probe exchange: votes so far and their union.
    votes: Mutex<HashMap<usize, (usize, HashSet<u64>)>>,
    peers: Vec<PeerWriter>,
    /// Weak: the tally is reachable from the query (its vote), see `HotKeyDecider`.
    decider: HotKeyDecider,
}

impl HotKeyTally {
    pub fn new(nodes: usize, peers: Vec<PeerWriter>, decider: HotKeyDecider) -> Self {
        HotKeyTally {
            nodes,
            votes: Mutex::new(HashMap::new()),
            peers,
            decider,
        }
    }

    /// One node's vote (this node's own included).
    pub fn vote(&self, exchange: usize, hashes: Vec<u64>) {
        let decided = {
            let mut votes = self.votes.lock().unwrap_or_else(|e| e.into_inner());
            let (count, union) = votes.entry(exchange).or_default();
            *count += 1;
            union.extend(hashes);
            (*count == self.nodes).then(|| union.iter().copied().collect::<Vec<u64>>())
        };
        let Some(hashes) = decided else {
            return;
        };
        let message = Message::HotKeysDecided {
            exchange,
            hashes: hashes.clone(),
        };
        for peer in &self.peers {
            let _held = peer.lock.lock().unwrap_or_else(|e| e.into_inner());
            // A peer that cannot be told is lost; its watcher fails the query.
            let _ = write_message(&mut &peer.stream, &message);
        }
        self.decider.decide(ExchangeId(exchange), hashes);
    }
}
