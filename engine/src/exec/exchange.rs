//! The consuming end of an exchange for one task: batches from producers on this
//! node (a bounded channel: they wait when it is full) and from producers on other
//! nodes (a channel bounded by their credit windows).

use std::rc::Rc;
use std::sync::Arc;
use std::time::Instant;

use arrow::record_batch::RecordBatch;

use super::remote::RemoteBatch;
use super::stats::{self, TaskCounters};
use super::stream::{BatchStream, BoxFuture};
use crate::error::TaskResult;
use crate::memory::{QueryMemory, Reservation};
use crate::plan::ExchangeId;

/// A batch waiting in a channel (an exchange or the results) with the memory it
/// holds, charged to the producer's core until the consumer takes it.
pub(crate) struct Charged {
    pub batch: RecordBatch,
    reservation: Reservation,
}

impl Charged {
    pub fn new(batch: RecordBatch, memory: &Arc<QueryMemory>, core: usize) -> Charged {
        Charged {
            reservation: Reservation::for_batch(memory, core, &batch),
            batch,
        }
    }

    pub fn bytes(&self) -> usize {
        self.reservation.size()
    }
}

pub(crate) struct ExchangeInput {
    pub local: flume::Receiver<Charged>,
    pub remote: Option<flume::Receiver<RemoteBatch>>,
}

/// The inputs of one task, by exchange.
pub(crate) type TaskInputs = Vec<(ExchangeId, ExchangeInput)>;

pub(crate) struct ExchangeStream {
    local: Option<flume::Receiver<Charged>>,
    remote: Option<flume::Receiver<RemoteBatch>>,
    /// Alternates which side is polled first, so neither starves the other.
    remote_first: bool,
    /// The partition whose batch from another node came last: the wait for the end
    /// of the remote side is charged to it (the sender that finished last).
    last_remote_source: usize,
    counters: Rc<TaskCounters>,
}

impl ExchangeStream {
    pub fn new(input: ExchangeInput, counters: Rc<TaskCounters>) -> Self {
        ExchangeStream {
            local: Some(input.local),
            remote: input.remote,
            remote_first: false,
            last_remote_source: 0,
            counters,
        }
    }

    async fn next_batch(&mut self) -> Option<RecordBatch> {
        let waiting = Instant::now();
        let batch = self.receive(waiting).await;
        stats::add_time(&self.counters.input_wait, waiting.elapsed());
        batch
    }

    /// The next batch from either side. A wait that ends with news from another
    /// node is charged to the network and to the partition that sent it; after the
    /// remote side ended, the rest of the wait is for this node's producers only.
    async fn receive(&mut self, started: Instant) -> Option<RecordBatch> {
        let mut uncharged_since = started;
        loop {
            let received = match (&self.local, &self.remote) {
                (None, None) => return None,
                (Some(local), None) => {
                    Received::Local(local.recv_async().await.ok().map(|c| c.batch))
                }
                (None, Some(remote)) => Received::Remote(remote.recv_async().await.ok()),
                (Some(local), Some(remote)) => {
                    let local =
                        async { Received::Local(local.recv_async().await.ok().map(|c| c.batch)) };
                    let remote = async { Received::Remote(remote.recv_async().await.ok()) };
                    self.remote_first = !self.remote_first;
                    if self.remote_first {
                        futures_lite::future::or(remote, local).await
                    } else {
                        futures_lite::future::or(local, remote).await
                    }
                }
            };
            // A closed side means all its producers finished (or failed, which the
            // query records and reports instead of this task's partial result).
            match received {
                Received::Local(Some(batch)) => return Some(batch),
                Received::Remote(Some(delivered)) => {
                    self.last_remote_source = delivered.source_partition;
                    self.counters
                        .waited_for(delivered.source_partition, uncharged_since.elapsed());
                    return Some(delivered.batch);
                }
                Received::Local(None) => self.local = None,
                Received::Remote(None) => {
                    self.counters
                        .waited_for(self.last_remote_source, uncharged_since.elapsed());
                    uncharged_since = Instant::now();
                    self.remote = None;
                }
            }
        }
    }
}

enum Received {
    Local(Option<RecordBatch>),
    Remote(Option<RemoteBatch>),
}

impl BatchStream for ExchangeStream {
    fn next(&mut self) -> BoxFuture<'_, TaskResult<Option<RecordBatch>>> {
        Box::pin(async move { Ok(self.next_batch().await) })
    }
}
