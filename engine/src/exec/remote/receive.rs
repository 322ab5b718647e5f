//! The receiving side: a peer's data connection, served on one core. Frames are
//! decoded as they arrive and handed to the consumer tasks' channels (on any core);
//! credits and hang-ups go back on the same connection.

use std::collections::hash_map::Entry;
use std::collections::HashMap;
use std::sync::Arc;

use arrow::buffer::Buffer;
use futures_lite::io::{AsyncReadExt, AsyncWriteExt};
use glommio::net::TcpStream;
use percore_net::{FrameHeader, FrameKind, StreamId, HEADER_BYTES};

use super::ipc::IpcStreamDecoder;
use super::{inbound_key, CreditReturn, InboundTarget, RemoteBatch, Transport};
use crate::error::QueryResult;
use crate::exec::runtime::Runtime;
use crate::memory::Reservation;

/// Serves a data connection whose hello the caller has read, on `core`'s executor.
///
/// # Errors
/// When that executor has stopped.
pub fn adopt_data_connection(
    runtime: &Runtime,
    core: usize,
    connection: std::net::TcpStream,
    transport: Arc<Transport>,
) -> QueryResult<()> {
    runtime.spawn_on(
        core,
        Box::new(move || {
            Box::pin(async move {
                let peer = connection
                    .peer_addr()
                    .map_or_else(|_| "?".to_string(), |a| a.to_string());
                if let Err(why) = serve(connection, &transport).await {
                    eprintln!("percore: data connection from {peer} dropped: {why}");
                }
            })
        }),
    )
}

struct OpenStream {
    decoder: IpcStreamDecoder,
    /// `None` once the consumer is gone: later frames are answered, not decoded.
    channel: Option<InboundTarget>,
}

/// How many frames a connection serves between looks for streams whose query has
/// gone (cancelled before their senders sent an end): their decoders are dropped.
const SWEEP_EVERY: u32 = 1024;

async fn serve(connection: std::net::TcpStream, transport: &Arc<Transport>) -> Result<(), String> {
    connection
        .set_nonblocking(true)
        .map_err(|e| e.to_string())?;
    let _ = connection.set_nodelay(true);
    // SAFETY: the descriptor comes from a socket this function owns and gives up here.
    let socket = unsafe {
        use std::os::fd::{FromRawFd, IntoRawFd};
        TcpStream::from_raw_fd(connection.into_raw_fd())
    };
    let (mut reader, writer) = futures_lite::io::split(socket);
    let (replies, outgoing) = flume::unbounded::<(FrameKind, StreamId)>();
    // Ends once every batch still holding a credit is consumed or dropped.
    glommio::spawn_local(write_replies(writer, outgoing)).detach();
    let max_frame_bytes = transport.config().max_frame_bytes;
    let mut streams: HashMap<StreamId, OpenStream> = HashMap::new();
    let mut frames_since_sweep = 0u32;
    let outcome = loop {
        let mut header = [0u8; HEADER_BYTES];
        match reader.read_exact(&mut header).await {
            Ok(()) => {}
            // The peer closed between frames: a clean end.
            Err(error) if error.kind() == std::io::ErrorKind::UnexpectedEof => break Ok(()),
            Err(error) => break Err(error.to_string()),
        }
        let header = match FrameHeader::parse(&header, max_frame_bytes) {
            Ok(header) => header,
            Err(error) => break Err(error.to_string()),
        };
        // Bounded by `max_frame_bytes`, checked above before this allocation.
        let mut payload = vec![0u8; header.payload_bytes];
        if let Err(error) = reader.read_exact(&mut payload).await {
            break Err(error.to_string());
        }
        if let Err(error) = header.verify(&payload) {
            break Err(error.to_string());
        }
        transport.stats.bytes_received.fetch_add(
            (HEADER_BYTES + payload.len()) as u64,
            std::sync::atomic::Ordering::Relaxed,
        );
        let stream = header.stream;
        match header.kind {
            FrameKind::Data => {
                let open = match streams.entry(stream) {
                    Entry::Occupied(open) => Some(open.into_mut()),
                    Entry::Vacant(vacant) => transport.inbound_target(stream).map(|target| {
                        vacant.insert(OpenStream {
                            decoder: IpcStreamDecoder::default(),
                            channel: Some(target),
                        })
                    }),
                };
                match open {
                    Some(open) => {
                        if let Err(error) = deliver(open, stream, payload, &replies, transport) {
                            break Err(error);
                        }
                    }
                    // A query that ended here (or never ran): the sender stops.
                    None => {
                        let _ = replies.send((FrameKind::End, stream));
                    }
                }
            }
            FrameKind::End => {
                streams.remove(&stream);
                transport.source_finished(stream);
            }
            kind => break Err(format!("unexpected {kind:?} frame on a data connection")),
        }
        frames_since_sweep += 1;
        if frames_since_sweep >= SWEEP_EVERY {
            frames_since_sweep = 0;
            let open = transport.open_inbound_keys();
            streams.retain(|&stream, _| open.contains(&inbound_key(stream)));
        }
        glommio::yield_if_needed().await;
    };
    outcome
}

/// Decodes one data frame and hands its batch to the consumer; the batch carries the
/// frame's credit. A consumer that is gone gets an end back, so its sender stops.
fn deliver(
    open: &mut OpenStream,
    stream: StreamId,
    payload: Vec<u8>,
    replies: &flume::Sender<(FrameKind, StreamId)>,
    transport: &Arc<Transport>,
) -> Result<(), String> {
    if open.channel.is_none() {
        let _ = replies.send((FrameKind::End, stream));
        return Ok(());
    }
    let batches = open
        .decoder
        .decode(&Buffer::from_vec(payload))
        .map_err(|error| format!("stream {stream:?}: {error}"))?;
    if batches.is_empty() {
        let _ = replies.send((FrameKind::Credit, stream));
        return Ok(());
    }
    let target = open.channel.as_ref();
    let consumer = target.and_then(|target| {
        Some((
            target.sender.upgrade()?,
            target.memory.upgrade()?,
            target.core,
        ))
    });
    let Some((consumer, memory, core)) = consumer else {
        open.channel = None;
        let _ = replies.send((FrameKind::End, stream));
        return Ok(());
    };
    let last = batches.len().saturating_sub(1);
    for (index, batch) in batches.into_iter().enumerate() {
        let credit = (index == last).then(|| CreditReturn::new(stream, replies.clone(), transport));
        let charge = Reservation::for_batch(&memory, core, &batch);
        if consumer
            .send(RemoteBatch {
                batch,
                source_partition: usize::from(stream.source_partition),
                _credit: credit,
                _charge: charge,
            })
            .is_err()
        {
            open.channel = None;
            let _ = replies.send((FrameKind::End, stream));
            return Ok(());
        }
    }
    Ok(())
}

async fn write_replies(
    mut writer: futures_lite::io::WriteHalf<TcpStream>,
    outgoing: flume::Receiver<(FrameKind, StreamId)>,
) {
    while let Ok((kind, stream)) = outgoing.recv_async().await {
        let payload = if kind == FrameKind::Credit {
            1u32.to_le_bytes().to_vec()
        } else {
            Vec::new()
        };
        let header = FrameHeader::encode(kind, stream, &payload);
        let written = async {
            writer.write_all(&header).await?;
            writer.write_all(&payload).await
        }
        .await;
        if written.is_err() {
            return;
        }
    }
}
