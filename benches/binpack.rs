//! Packing throughput at 1k, 10k, 50k and 150k pods with mixed constraints
//! over the whole embedded catalog. Run with `cargo bench --bench binpack`;
//! `cargo run --release --example binpack -- --synthetic N` prints the same
//! figure (and peak memory) for one run.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};

use cloudoptim::binpack::{LpGuidedPacker, Packer, PackingPolicy};
use cloudoptim::catalog::Catalog;
use cloudoptim::demo::synthetic_pods;

fn packing(c: &mut Criterion) {
    let catalog = Catalog::embedded().unwrap();
    let policy = PackingPolicy::default();
    let packer = LpGuidedPacker::default();
    let mut group = c.benchmark_group("pack");
    group.sample_size(10);
    for count in [1_000usize, 10_000, 50_000, 150_000] {
        let pods = synthetic_pods(count, 42);
        group.throughput(Throughput::Elements(count as u64));
        group.bench_with_input(BenchmarkId::from_parameter(count), &pods, |b, pods| {
            b.iter(|| packer.pack(pods, catalog, &policy).unwrap())
        });
    }
    group.finish();
}

criterion_group!(benches, packing);
criterion_main!(benches);
