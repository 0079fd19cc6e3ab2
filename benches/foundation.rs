//! Benchmarks of the foundation: catalog parsing, demo generation, kubectl
//! import and export. Run with `cargo bench --bench foundation`.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use criterion::{criterion_group, criterion_main, Criterion};

use cloudoptim::catalog::Catalog;
use cloudoptim::demo::{DemoConfig, DemoEnvironment};
use cloudoptim::kubectl::{read_list, write_list};
use cloudoptim::summary::ClusterSummary;

const FEED: &str = include_str!("../cloudoptim-core/data/spot-advisor-us-east-1.json");

fn foundation(c: &mut Criterion) {
    let catalog = Catalog::embedded().unwrap();
    c.bench_function("catalog: apply a Spot Advisor feed (us-east-1)", |b| {
        b.iter(|| catalog.with_spot_advisor_feed(FEED).unwrap().0)
    });
    let config = DemoConfig::default();
    let mut group = c.benchmark_group("demo");
    group.sample_size(10);
    group.bench_function("generate (86 nodes, 1.2k pods, 7 days of usage)", |b| {
        b.iter(|| DemoEnvironment::generate(&config, catalog).unwrap())
    });
    group.finish();
    let demo = DemoEnvironment::generate(&config, catalog).unwrap();
    let json = write_list(&demo.snapshot).unwrap();
    let mut group = c.benchmark_group("kubectl");
    group.throughput(criterion::Throughput::Bytes(json.len() as u64));
    group.bench_function("read_list (demo export)", |b| {
        b.iter(|| read_list(&json).unwrap())
    });
    group.bench_function("write_list (demo)", |b| {
        b.iter(|| write_list(&demo.snapshot).unwrap())
    });
    group.finish();
    c.bench_function("summary of the demo cluster", |b| {
        b.iter(|| ClusterSummary::new(&demo.snapshot, catalog, "us-east-1"))
    });
}

criterion_group!(benches, foundation);
criterion_main!(benches);
