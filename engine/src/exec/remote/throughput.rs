//! Measures the data plane alone: one producer task on node 0 streams batches to one
//! consumer task on node 1 over loopback, through the same sender, frames, credits
//! and receiver that queries use. `percore bench exchange` compares it with raw
//! loopback TCP on the same machine.

use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow::record_batch::RecordBatch;
use percore_net::StreamId;

use super::{adopt_data_connection, RemoteSender, Transport, TransportConfig, DATA_HELLO};
use crate::error::{QueryError, QueryResult};
use crate::exec::query::QueryState;
use crate::exec::runtime::Runtime;

#[derive(Debug, Clone, Copy)]
pub struct ExchangeThroughput {
    pub batches: usize,
    pub rows: u64,
    /// Bytes on the wire: frame headers and Arrow IPC payloads.
    pub wire_bytes: u64,
    pub elapsed: Duration,
}

impl ExchangeThroughput {
    pub fn wire_bytes_per_second(&self) -> f64 {
        self.wire_bytes as f64 / self.elapsed.as_secs_f64()
    }
}

/// Sends `batch` `count` times from node 0 to node 1 and waits until node 1's
/// consumer has taken every row.
///
/// # Errors
/// When executors cannot start or the loopback connection fails.
pub fn measure(
    batch: &RecordBatch,
    count: usize,
    config: TransportConfig,
) -> QueryResult<ExchangeThroughput> {
    let io = |e: std::io::Error| QueryError::internal(format!("loopback: {e}"));
    let listener = TcpListener::bind("127.0.0.1:0").map_err(io)?;
    let receiver_address = listener.local_addr().map_err(io)?;
    let unused = SocketAddr::from(([127, 0, 0, 1], 9));
    let sender_side = Transport::new(0, vec![unused, receiver_address], config);
    let receiver_side = Transport::new(1, vec![unused, receiver_address], config);
    // As two nodes would: on different CPUs (where the machine has two).
    let (sending, receiving) = (Runtime::start_at(1, 0)?, Arc::new(Runtime::start_at(1, 1)?));
    let stream = StreamId {
        query: 1,
        exchange: 0,
        source_partition: 0,
        target_partition: 0,
    };
    let (deliver, delivered) = flume::unbounded();
    let receiving_query = QueryState::standalone(1);
    receiver_side.register_inbound(
        1,
        0,
        0,
        deliver,
        1,
        (Arc::clone(receiving_query.memory()), 0),
    );
    let accepting = {
        let (receiving, transport) = (Arc::clone(&receiving), Arc::clone(&receiver_side));
        std::thread::spawn(move || -> std::io::Result<()> {
            let (mut connection, _) = listener.accept()?;
            let mut hello = [0u8; 12];
            std::io::Read::read_exact(&mut connection, &mut hello)?;
            if &hello[..8] != DATA_HELLO {
                return Err(std::io::Error::other("not a data connection"));
            }
            adopt_data_connection(&receiving, 0, connection, transport)
                .map_err(|e| std::io::Error::other(e.message))
        })
    };
    let (done, finished) = flume::bounded(1);
    receiving.spawn_on(
        0,
        Box::new(move || {
            Box::pin(async move {
                let mut rows = 0u64;
                while let Ok(remote) = delivered.recv_async().await {
                    rows += remote.batch.num_rows() as u64;
                }
                let _ = done.send(rows);
            })
        }),
    )?;
    let started = Instant::now();
    let (sent, outcome) = flume::bounded(1);
    let batch = batch.clone();
    sending.spawn_on(
        0,
        Box::new(move || {
            Box::pin(async move {
                let query = QueryState::standalone(1);
                let result = async {
                    let schema = batch.schema();
                    let mut sender = RemoteSender::open(&sender_side, 1, stream, &schema).await?;
                    let mut bytes = 0;
                    for _ in 0..count {
                        bytes += sender.send(&batch, &query).await?.1;
                    }
                    sender.finish().await?;
                    Ok::<u64, crate::error::TaskError>(bytes)
                }
                .await;
                let _ = sent.send(result);
            })
        }),
    )?;
    let wire_bytes = outcome
        .recv()
        .map_err(|_| QueryError::internal("the sender stopped"))?
        .map_err(QueryError::from)?;
    let rows = finished
        .recv()
        .map_err(|_| QueryError::internal("the receiver stopped"))?;
    let elapsed = started.elapsed();
    accepting
        .join()
        .map_err(|_| QueryError::internal("the acceptor panicked"))?
        .map_err(io)?;
    Ok(ExchangeThroughput {
        batches: count,
        rows,
        wire_bytes,
        elapsed,
    })
}
