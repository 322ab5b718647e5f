//! The sending side: one connection per (core, peer node), opened on first use and kept
//! for later queries, and a [`RemoteSender`] per stream that waits for credit.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::{Rc, Weak};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use arrow::datatypes::SchemaRef;
use arrow::ipc::writer::StreamWriter;
use arrow::record_batch::RecordBatch;
use futures_lite::io::{AsyncReadExt, AsyncWriteExt};
use glommio::net::TcpStream;
use glommio::sync::Semaphore;
use percore_net::auth::{ClientAuth, ClusterSecret, SERVER_ANSWER_BYTES};
use percore_net::{FrameHeader, FrameKind, StreamId, HEADER_BYTES};

use super::{Transport, DATA_HELLO};
use crate::error::{ErrorCode, TaskError, TaskResult};
use crate::exec::query::QueryState;
use crate::operators::compact::{compact_views, Compact};

thread_local! {
    /// This core's connections, by peer node.
    static LINKS: RefCell<HashMap<usize, Rc<PeerLink>>> = RefCell::new(HashMap::new());
}

/// How often a sender waiting for credit looks at the cancel flag.
const CANCEL_POLL: Duration = Duration::from_millis(50);
/// Frames queued for the socket per connection before senders wait.
const OUTBOX_FRAMES: usize = 16;
/// Replies (credits, ends) are a few bytes; anything bigger is a broken peer.
const MAX_REPLY_BYTES: usize = 64;

struct StreamCredits {
    credits: Semaphore,
    /// The consumer hung up (its LIMIT was satisfied): stop sending.
    closed: Cell<bool>,
}

struct Outgoing {
    header: [u8; HEADER_BYTES],
    payload: Vec<u8>,
}

struct PeerLink {
    node: usize,
    outbox: flume::Sender<Outgoing>,
    streams: RefCell<HashMap<StreamId, Rc<StreamCredits>>>,
    broken: RefCell<Option<String>>,
}

impl PeerLink {
    fn lost(&self) -> Option<TaskError> {
        self.broken.borrow().as_ref().map(|why| {
            TaskError::new(
                ErrorCode::NodeLost,
                format!("connection to node {} lost: {why}", self.node),
            )
        })
    }

    /// Marks the link dead, wakes every waiting sender, and forgets it so the next
    /// query reconnects.
    fn break_with(self: &Rc<Self>, why: String) {
        self.broken.borrow_mut().get_or_insert(why);
        for credits in self.streams.borrow().values() {
            credits.credits.close();
        }
        LINKS.with(|links| {
            let mut links = links.borrow_mut();
            if links.get(&self.node).is_some_and(|l| Rc::ptr_eq(l, self)) {
                links.remove(&self.node);
            }
        });
    }

    async fn send(&self, kind: FrameKind, stream: StreamId, payload: Vec<u8>) -> TaskResult<()> {
        let header = FrameHeader::encode(kind, stream, &payload);
        if self
            .outbox
            .send_async(Outgoing { header, payload })
            .await
            .is_err()
        {
            return Err(self.lost().unwrap_or_else(|| {
                TaskError::new(ErrorCode::NodeLost, format!("node {} closed", self.node))
            }));
        }
        Ok(())
    }
}

async fn link_to(transport: &Transport, node: usize) -> TaskResult<Rc<PeerLink>> {
    if let Some(link) = LINKS.with(|links| links.borrow().get(&node).cloned()) {
        return Ok(link);
    }
    let address = transport
        .peer_address(node)
        .ok_or_else(|| TaskError::internal(format!("no address for node {node}")))?;
    let unreachable = |error: &dyn std::fmt::Display| {
        TaskError::new(
            ErrorCode::NodeLost,
            format!("cannot reach node {node} at {address}: {error}"),
        )
    };
    let mut stream = TcpStream::connect(address)
        .await
        .map_err(|e| unreachable(&e))?;
    stream.set_nodelay(true).map_err(|e| unreachable(&e))?;
    if let Some(secret) = &transport.secret {
        authenticate(&mut stream, secret, transport.node())
            .await
            .map_err(|e| {
                unreachable(&format!(
                    "{e} during the cluster handshake (do both nodes have the same cluster secret?)"
                ))
            })?;
    }
    let mut hello = DATA_HELLO.to_vec();
    hello.extend_from_slice(&(transport.node() as u32).to_le_bytes());
    stream
        .write_all(&hello)
        .await
        .map_err(|e| unreachable(&e))?;
    // Another task on this core may have connected while this one waited.
    if let Some(link) = LINKS.with(|links| links.borrow().get(&node).cloned()) {
        return Ok(link);
    }
    let (reader, writer) = futures_lite::io::split(stream);
    let (outbox, queued) = flume::bounded(OUTBOX_FRAMES);
    let link = Rc::new(PeerLink {
        node,
        outbox,
        streams: RefCell::new(HashMap::new()),
        broken: RefCell::new(None),
    });
    let sent = Arc::clone(&transport.stats.bytes_sent);
    glommio::spawn_local(write_loop(writer, queued, Rc::downgrade(&link), sent)).detach();
    glommio::spawn_local(read_replies(reader, Rc::downgrade(&link))).detach();
    LINKS.with(|links| links.borrow_mut().insert(node, Rc::clone(&link)));
    Ok(link)
}

/// The client's side of `percore_net::auth` on this core's connection.
async fn authenticate(
    stream: &mut TcpStream,
    secret: &ClusterSecret,
    me: usize,
) -> std::io::Result<()> {
    let (auth, opening) = ClientAuth::start(secret, me)?;
    stream.write_all(&opening).await?;
    let mut answer = [0u8; SERVER_ANSWER_BYTES];
    stream.read_exact(&mut answer).await?;
    let proof = auth.answer(&answer)?;
    stream.write_all(&proof).await
}

async fn write_loop(
    mut writer: futures_lite::io::WriteHalf<TcpStream>,
    queued: flume::Receiver<Outgoing>,
    link: Weak<PeerLink>,
    sent: Arc<AtomicU64>,
) {
    while let Ok(frame) = queued.recv_async().await {
        let written = async {
            writer.write_all(&frame.header).await?;
            writer.write_all(&frame.payload).await
        }
        .await;
        sent.fetch_add(
            (frame.header.len() + frame.payload.len()) as u64,
            Ordering::Relaxed,
        );
        if let Err(error) = written {
            if let Some(link) = link.upgrade() {
                link.break_with(error.to_string());
            }
            return;
        }
    }
}

/// Reads credits and consumer hang-ups coming back from the peer.
async fn read_replies(mut reader: futures_lite::io::ReadHalf<TcpStream>, link: Weak<PeerLink>) {
    let why = loop {
        let mut header = [0u8; HEADER_BYTES];
        if let Err(error) = reader.read_exact(&mut header).await {
            break error.to_string();
        }
        let header = match FrameHeader::parse(&header, MAX_REPLY_BYTES) {
            Ok(header) => header,
            Err(error) => break error.to_string(),
        };
        let mut payload = vec![0u8; header.payload_bytes];
        if let Err(error) = reader.read_exact(&mut payload).await {
            break error.to_string();
        }
        if let Err(error) = header.verify(&payload) {
            break error.to_string();
        }
        let Some(link) = link.upgrade() else { return };
        let credits = link.streams.borrow().get(&header.stream).cloned();
        match (header.kind, credits) {
            (FrameKind::Credit, Some(credits)) => {
                let count = payload
                    .get(..4)
                    .map_or(1, |b| u32::from_le_bytes(b.try_into().expect("4 bytes")));
                credits.credits.signal(u64::from(count));
            }
            (FrameKind::End, Some(credits)) => {
                credits.closed.set(true);
                credits.credits.signal(1);
            }
            (FrameKind::Credit | FrameKind::End, None) => {}
            (kind, _) => break format!("unexpected {kind:?} frame from the receiver"),
        }
    };
    if let Some(link) = link.upgrade() {
        link.break_with(why);
    }
}

/// One producer task's stream to one consumer task on another node.
pub(crate) struct RemoteSender {
    link: Rc<PeerLink>,
    stream: StreamId,
    credits: Rc<StreamCredits>,
    writer: StreamWriter<Vec<u8>>,
    transport: Arc<Transport>,
}

impl RemoteSender {
    /// Opens (or reuses) this core's connection to `node` and starts a stream on it.
    pub async fn open(
        transport: &Arc<Transport>,
        node: usize,
        stream: StreamId,
        schema: &SchemaRef,
    ) -> TaskResult<RemoteSender> {
        let link = link_to(transport, node).await?;
        let credits = Rc::new(StreamCredits {
            credits: Semaphore::new(u64::from(transport.config().credit_window.max(1))),
            closed: Cell::new(false),
        });
        link.streams
            .borrow_mut()
            .insert(stream, Rc::clone(&credits));
        Ok(RemoteSender {
            link,
            stream,
            credits,
            writer: StreamWriter::try_new(Vec::new(), schema)?,
            transport: Arc::clone(transport),
        })
    }

    /// Sends a batch, split so frames stay near the target size. Returns whether the
    /// consumer still listens, and the bytes written.
    pub async fn send(
        &mut self,
        batch: &RecordBatch,
        query: &QueryState,
    ) -> TaskResult<(bool, u64)> {
        let target = self.transport.config().target_frame_bytes.max(1);
        // Size the pieces by what the rows use, not by buffers they merely share.
        let batch = &compact_views(batch, Compact::Wasteful)?;
        let pieces = batch.get_array_memory_size().div_ceil(target).max(1);
        let rows_per_piece = batch.num_rows().div_ceil(pieces).max(1);
        let (mut offset, mut bytes) = (0, 0u64);
        while offset < batch.num_rows() {
            let length = rows_per_piece.min(batch.num_rows() - offset);
            if !self.acquire_credit(query).await? {
                return Ok((false, bytes));
            }
            if pieces == 1 {
                self.writer.write(batch)?;
            } else {
                // A slice shares the whole batch's view buffers again.
                self.writer.write(&compact_views(
                    &batch.slice(offset, length),
                    Compact::Wasteful,
                )?)?;
            }
            let payload = std::mem::take(self.writer.get_mut());
            bytes += (payload.len() + HEADER_BYTES) as u64;
            self.link
                .send(FrameKind::Data, self.stream, payload)
                .await?;
            offset += length;
        }
        Ok((true, bytes))
    }

    /// Tells the consumer this source is done.
    pub async fn finish(&mut self) -> TaskResult<()> {
        self.link
            .send(FrameKind::End, self.stream, Vec::new())
            .await
    }

    async fn acquire_credit(&self, query: &QueryState) -> TaskResult<bool> {
        loop {
            if self.credits.closed.get() {
                return Ok(false);
            }
            if let Some(error) = self.link.lost() {
                return Err(error);
            }
            query.check_cancelled()?;
            let acquired = futures_lite::future::or(
                async { self.credits.credits.acquire(1).await.is_ok() },
                async {
                    glommio::timer::sleep(CANCEL_POLL).await;
                    false
                },
            )
            .await;
            if acquired && !self.credits.closed.get() {
                return Ok(true);
            }
        }
    }
}

impl Drop for RemoteSender {
    fn drop(&mut self) {
        self.link.streams.borrow_mut().remove(&self.stream);
    }
}
