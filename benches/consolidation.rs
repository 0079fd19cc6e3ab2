//! Consolidation of a 5,000-node / 150,000-pod cluster. Run with
//! `cargo bench --bench consolidation`.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use criterion::{criterion_group, criterion_main, Criterion};

use cloudoptim::catalog::Catalog;
use cloudoptim::consolidation::{plan_consolidation, ConsolidationPolicy};
use cloudoptim::demo::synthetic_cluster;

fn consolidation(c: &mut Criterion) {
    let catalog = Catalog::embedded().unwrap();
    let snapshot = synthetic_cluster(5_000, 150_000, 7, catalog);
    let policy = ConsolidationPolicy::default();
    let now: jiff::Timestamp = "2026-11-23T15:00:00Z".parse().unwrap();
    let mut group = c.benchmark_group("consolidate");
    group.sample_size(10);
    group.bench_function("5000 nodes, 150000 pods", |b| {
        b.iter(|| {
            plan_consolidation(
                &snapshot,
                None,
                catalog,
                &cloudoptim::binpack::LpGuidedPacker::default(),
                &policy,
                now,
            )
        })
    });
    let unlimited = ConsolidationPolicy {
        max_disrupted_nodes: usize::MAX,
        max_disrupted_percent: 100,
        ..ConsolidationPolicy::default()
    };
    group.bench_function("5000 nodes, 150000 pods, no budget", |b| {
        b.iter(|| {
            plan_consolidation(
                &snapshot,
                None,
                catalog,
                &cloudoptim::binpack::LpGuidedPacker::default(),
                &unlimited,
                now,
            )
        })
    });
    group.finish();
}

criterion_group!(benches, consolidation);
criterion_main!(benches);
