//! Exchange benchmarks: encoding a batch into frames as a remote sender does (Arrow
//! IPC, then a checksummed frame), decoding it as the receiver does (frame check, IPC
//! decode, validation), and a whole loopback exchange between two executors.
//! `cargo bench -p percore-engine --bench exchange` (add `-- --quick` for a short run).

use std::time::Duration;

use arrow::buffer::Buffer;
use arrow::ipc::writer::StreamWriter;
use arrow::record_batch::RecordBatch;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use percore_engine::catalog::tpch;
use percore_engine::exec::remote::ipc::IpcStreamDecoder;
use percore_engine::exec::remote::throughput::measure;
use percore_engine::exec::remote::TransportConfig;
use percore_net::{FrameDecoder, FrameHeader, FrameKind, StreamId, HEADER_BYTES};

const STREAM: StreamId = StreamId {
    query: 1,
    exchange: 0,
    source_partition: 0,
    target_partition: 0,
};

/// One 8192-row batch of TPC-H lineitem: integers, decimals, dates and strings.
fn lineitem_batch() -> RecordBatch {
    let catalog = tpch::generate(0.01, 1, 8192).expect("generates");
    let lineitem = catalog.table("lineitem").expect("TPC-H has lineitem");
    lineitem.partitions[0][0].clone()
}

/// The bytes a sender puts on the wire for `batch`: a schema message and the batch
/// as Arrow IPC in one frame.
fn encode(batch: &RecordBatch) -> Vec<u8> {
    let mut writer = StreamWriter::try_new(Vec::new(), &batch.schema()).expect("writer");
    writer.write(batch).expect("encodes");
    let payload = std::mem::take(writer.get_mut());
    let mut frame = Vec::with_capacity(HEADER_BYTES + payload.len());
    frame.extend_from_slice(&FrameHeader::encode(FrameKind::Data, STREAM, &payload));
    frame.extend_from_slice(&payload);
    frame
}

fn codec(c: &mut Criterion) {
    let batch = lineitem_batch();
    let wire = encode(&batch);
    let mut group = c.benchmark_group("exchange_codec");
    group.throughput(Throughput::Bytes(wire.len() as u64));
    group.bench_function("encode_lineitem_8192", |b| b.iter(|| encode(&batch).len()));
    let frames = FrameDecoder::new(64 << 20);
    group.bench_function("decode_lineitem_8192", |b| {
        b.iter(|| {
            let (frame, used) = frames.decode(&wire).expect("valid").expect("whole frame");
            assert_eq!(used, wire.len());
            let payload = Buffer::from_vec(frame.payload);
            let decoded = IpcStreamDecoder::default()
                .decode(&payload)
                .expect("decodes");
            decoded[0].num_rows()
        })
    });
    group.finish();
}

fn loopback(c: &mut Criterion) {
    let batch = lineitem_batch();
    const BATCHES: usize = 2000;
    let config = TransportConfig::default();
    let probe = measure(&batch, 1, config).expect("loopback exchange runs");
    let per_batch = probe.wire_bytes;
    let mut group = c.benchmark_group("exchange_loopback");
    group.throughput(Throughput::Bytes(per_batch * BATCHES as u64));
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(10));
    group.bench_function("lineitem_batches_node0_to_node1", |b| {
        b.iter_custom(|runs| {
            (0..runs)
                .map(|_| measure(&batch, BATCHES, config).expect("runs").elapsed)
                .sum()
        })
    });
    group.finish();
}

criterion_group!(benches, codec, loopback);
criterion_main!(benches);
