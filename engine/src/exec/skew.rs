//! The run-time half of a skew join (see `plan::SkewRole`): each probe-side producer
//! samples its first rows and publishes the keys it will spread; the build-side
//! producers wait for the union of what every probe producer, on every node,
//! published, and send those keys' rows to every partition. A probe producer spreads
//! only its own hot keys, a subset of the union, so each spread row meets a complete
//! copy of its key's build rows wherever it lands.
//!
//! Probe producers publish before they send anything, and build producers wait
//! before they send anything, so the wait never depends on a full channel. A query
//! that fails or is cancelled releases every waiter (with no hot keys).

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use crate::plan::ExchangeId;

/// Where a node sends the union of its probe producers' hot keys when the query spans
/// several nodes: the coordinator unions every node's and answers with
/// [`SkewBoard::decide`] on each.
pub type HotKeyVote = Box<dyn Fn(ExchangeId, Vec<u64>) + Send + Sync>;

/// Hot-key decisions of one query on one node, by the probe side's exchange.
pub(crate) struct SkewBoard {
    groups: Mutex<HashMap<ExchangeId, Group>>,
    /// Set for a query over several nodes.
    vote: Mutex<Option<HotKeyVote>>,
}

struct Group {
    /// Probe producers on this node that have not published yet.
    unpublished: usize,
    hot: HashSet<u64>,
    decided: Option<Arc<HashSet<u64>>>,
    waiters: Vec<flume::Sender<()>>,
}

impl SkewBoard {
    /// `groups`: each spreading exchange and how many of its producers run here.
    pub fn new(groups: impl IntoIterator<Item = (ExchangeId, usize)>) -> SkewBoard {
        let groups = groups
            .into_iter()
            .map(|(exchange, producers)| {
                let group = Group {
                    unpublished: producers,
                    hot: HashSet::new(),
                    decided: None,
                    waiters: Vec::new(),
                };
                (exchange, group)
            })
            .collect();
        SkewBoard {
            groups: Mutex::new(groups),
            vote: Mutex::new(None),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }

    /// Sends this node's hot keys to `vote` instead of deciding alone.
    pub fn vote_with(&self, vote: HotKeyVote) {
        *self.vote.lock().unwrap_or_else(|e| e.into_inner()) = Some(vote);
    }

    /// Decides the groups no producer of which runs here.
    pub fn publish_empty_groups(&self) {
        let ready: Vec<ExchangeId> = self
            .lock()
            .iter()
            .filter(|(_, group)| group.unpublished == 0 && group.decided.is_none())
            .map(|(&exchange, _)| exchange)
            .collect();
        for exchange in ready {
            self.complete_here(exchange);
        }
    }

    /// A probe producer's hot keys (publish once per producer, possibly none).
    pub fn publish(&self, exchange: ExchangeId, hashes: &[u64]) {
        let complete = {
            let mut groups = self.lock();
            let Some(group) = groups.get_mut(&exchange) else {
                return;
            };
            group.hot.extend(hashes);
            group.unpublished = group.unpublished.saturating_sub(1);
            group.unpublished == 0
        };
        if complete {
            self.complete_here(exchange);
        }
    }

    /// Every probe producer here has published: decide, or vote for the cluster.
    fn complete_here(&self, exchange: ExchangeId) {
        let hot: Vec<u64> = match self.lock().get(&exchange) {
            Some(group) => group.hot.iter().copied().collect(),
            None => return,
        };
        let vote = self.vote.lock().unwrap_or_else(|e| e.into_inner());
        match vote.as_ref() {
            Some(vote) => vote(exchange, hot),
            None => {
                drop(vote);
                self.decide(exchange, hot);
            }
        }
    }

    /// The hot keys of `exchange` for the whole query; wakes its build producers.
    pub fn decide(&self, exchange: ExchangeId, hashes: Vec<u64>) {
        let mut groups = self.lock();
        if let Some(group) = groups.get_mut(&exchange) {
            if group.decided.is_none() {
                group.decided = Some(Arc::new(hashes.into_iter().collect()));
                group.waiters.clear();
            }
        }
    }

    /// Releases every waiter with no hot keys: the query failed or was cancelled.
    pub fn abandon(&self) {
        let exchanges: Vec<ExchangeId> = self.lock().keys().copied().collect();
        for exchange in exchanges {
            self.decide(exchange, Vec::new());
        }
    }

    /// The keys whose build rows go to every partition, once decided.
    pub async fn hot_keys(&self, exchange: ExchangeId) -> Arc<HashSet<u64>> {
        loop {
            let woken = {
                let mut groups = self.lock();
                let Some(group) = groups.get_mut(&exchange) else {
                    return Arc::default();
                };
                if let Some(decided) = &group.decided {
                    return Arc::clone(decided);
                }
                let (wake, woken) = flume::bounded(1);
                group.waiters.push(wake);
                woken
            };
            // Deciding drops the senders, which ends this wait.
            let _ = woken.recv_async().await;
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<ExchangeId, Group>> {
        self.groups.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decided(board: &SkewBoard, exchange: ExchangeId) -> Option<Vec<u64>> {
        let groups = board.lock();
        let mut hot: Vec<u64> = groups[&exchange]
            .decided
            .as_ref()?
            .iter()
            .copied()
            .collect();
        hot.sort_unstable();
        Some(hot)
    }

    #[test]
    fn the_union_is_decided_once_every_local_producer_published() {
        let (probe, other) = (ExchangeId(1), ExchangeId(4));
        let board = SkewBoard::new([(probe, 2), (other, 0)]);
        board.publish(probe, &[7, 9]);
        assert_eq!(decided(&board, probe), None);
        board.publish(probe, &[9, 11]);
        assert_eq!(decided(&board, probe), Some(vec![7, 9, 11]));
        assert_eq!(decided(&board, other), None);
        board.publish_empty_groups();
        assert_eq!(decided(&board, other), Some(vec![]));
    }

    #[test]
    fn several_nodes_vote_and_abandoning_releases_waiters() {
        let probe = ExchangeId(0);
        let board = SkewBoard::new([(probe, 1)]);
        let votes = Arc::new(Mutex::new(Vec::new()));
        let recorded = Arc::clone(&votes);
        board.vote_with(Box::new(move |exchange, hot| {
            recorded.lock().unwrap().push((exchange, hot));
        }));
        board.publish(probe, &[5]);
        assert_eq!(*votes.lock().unwrap(), vec![(probe, vec![5])]);
        assert_eq!(decided(&board, probe), None, "the coordinator decides");
        board.abandon();
        assert_eq!(decided(&board, probe), Some(vec![]));
        board.decide(probe, vec![1]);
        assert_eq!(decided(&board, probe), Some(vec![]), "decided once");
    }
}
