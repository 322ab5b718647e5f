//! The machine's own limits, for comparison with the kernels: memory bandwidth as one
//! core copies and reads a buffer far larger than the caches.
//! `cargo bench -p percore-engine --bench limits` (add `-- --quick` for a short run).

use criterion::{criterion_group, criterion_main, Criterion, Throughput};

const BYTES: usize = 256 << 20;

fn memory_bandwidth(c: &mut Criterion) {
    let source = vec![1u64; BYTES / 8];
    let mut target = vec![0u64; BYTES / 8];
    let mut group = c.benchmark_group("memory");
    group.sample_size(10);
    group.throughput(Throughput::Bytes(BYTES as u64));
    group.bench_function("copy_256MiB_one_core", |b| {
        b.iter(|| target.copy_from_slice(std::hint::black_box(&source)))
    });
    group.bench_function("sum_256MiB_one_core", |b| {
        b.iter(|| {
            std::hint::black_box(&source)
                .iter()
                .fold(0u64, |a, &v| a.wrapping_add(v))
        })
    });
    group.finish();
}

criterion_group!(benches, memory_bandwidth);
criterion_main!(benches);
