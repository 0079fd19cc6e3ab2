//! How consolidation grows with the cluster: synthetic clusters of 2,000 to
//! 32,000 nodes, 15 pods a node, planned with the default budget and with
//! none (every node tried), and the default plan run through the plan
//! simulator. Run with `cargo bench --bench consolidation_scale`; sizes up
//! to 8,000 nodes by default, up to `CONSOLIDATION_SCALE_MAX_NODES` (e.g.
//! 32000) when set. Near-linear growth shows as a roughly constant time per
//! node (criterion's throughput, in nodes per second).
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::time::Duration;

use criterion::{
    criterion_group, criterion_main, BenchmarkId, Criterion, SamplingMode, Throughput,
};

use cloudoptim::binpack::LpGuidedPacker;
use cloudoptim::catalog::Catalog;
use cloudoptim::consolidation::{plan_consolidation, ConsolidationPolicy};
use cloudoptim::demo::synthetic_cluster;
use cloudoptim::simulate::simulate;

const SIZES: [usize; 5] = [2_000, 4_000, 8_000, 16_000, 32_000];
const PODS_PER_NODE: usize = 15;

fn consolidation_scale(c: &mut Criterion) {
    let catalog = Catalog::embedded().unwrap();
    let max_nodes: usize = std::env::var("CONSOLIDATION_SCALE_MAX_NODES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(8_000);
    let now: jiff::Timestamp = "2026-11-23T15:00:00Z".parse().unwrap();
    let budget = ConsolidationPolicy::default();
    let unlimited = ConsolidationPolicy {
        max_disrupted_nodes: usize::MAX,
        max_disrupted_percent: 100,
        ..ConsolidationPolicy::default()
    };
    let packer = LpGuidedPacker::default();
    let mut group = c.benchmark_group("consolidation_scale");
    // Long iterations (up to seconds): one iteration count for every sample.
    group
        .sampling_mode(SamplingMode::Flat)
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    for nodes in SIZES.into_iter().filter(|&n| n <= max_nodes) {
        let snapshot = synthetic_cluster(nodes, nodes * PODS_PER_NODE, 7, catalog);
        group.throughput(Throughput::Elements(nodes as u64));
        group.bench_with_input(BenchmarkId::new("plan", nodes), &snapshot, |b, s| {
            b.iter(|| plan_consolidation(s, None, catalog, &packer, &budget, now))
        });
        group.bench_with_input(
            BenchmarkId::new("plan, no budget", nodes),
            &snapshot,
            |b, s| b.iter(|| plan_consolidation(s, None, catalog, &packer, &unlimited, now)),
        );
        let planned = plan_consolidation(&snapshot, None, catalog, &packer, &budget, now);
        group.bench_with_input(BenchmarkId::new("simulate", nodes), &snapshot, |b, s| {
            b.iter(|| simulate(s, None, &planned.plan, catalog, now).unwrap())
        });
    }
    group.finish();
}

criterion_group!(benches, consolidation_scale);
criterion_main!(benches);
