//! Rightsizing 10,000 containers after 7 days of one-minute samples were
//! ingested: the target is ≤ 1 s for `recommend`. The ingest itself is
//! timed too (printed once) so both halves of the job are visible.
//! Run with `cargo bench --bench rightsizing`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stderr,
    missing_docs
)]

use std::hint::black_box;
use std::time::Instant;

use criterion::{criterion_group, criterion_main, Criterion};
use jiff::{SignedDuration, Timestamp};
use serde_json::json;

use cloudoptim::catalog::Catalog;
use cloudoptim::kubectl::ListReader;
use cloudoptim::rightsizing::{recommend, RightsizingPolicy};
use cloudoptim::snapshot::{ClusterSnapshot, OwnerRef};
use cloudoptim::usage::{ContainerKey, UsageHistograms, UsageOptions};

const CONTAINERS: usize = 10_000;

/// 100 nodes and one Deployment per container, each with one pod.
fn cluster() -> ClusterSnapshot {
    let mut reader = ListReader::new();
    for n in 0..100 {
        reader
            .push(json!({"kind": "Node", "apiVersion": "v1",
                "metadata": {"name": format!("n{n}"), "labels": {
                    "node.kubernetes.io/instance-type": "m5.4xlarge",
                    "topology.kubernetes.io/region": "us-east-1",
                    "topology.kubernetes.io/zone": "us-east-1a",
                    "kubernetes.io/arch": "amd64", "kubernetes.io/os": "linux"}},
                "status": {"allocatable": {"cpu": "15890m", "memory": "60Gi", "pods": "234"}}}))
            .unwrap();
    }
    for i in 0..CONTAINERS {
        let name = format!("w{i}");
        let r = json!({"requests": {"cpu": "500m", "memory": "1Gi"}});
        reader
            .push(json!({"kind": "Deployment", "apiVersion": "apps/v1",
                "metadata": {"name": name, "namespace": "bench"},
                "spec": {"replicas": 1, "selector": {"matchLabels": {"app": name}},
                    "template": {"spec": {"containers": [{"name": "app", "resources": r}]}}}}))
            .unwrap();
        reader
            .push(json!({"kind": "Pod", "apiVersion": "v1",
                "metadata": {"name": format!("{name}-0"), "namespace": "bench",
                    "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment",
                        "name": name, "uid": "u", "controller": true}]},
                "spec": {"nodeName": format!("n{}", i % 100),
                    "containers": [{"name": "app", "resources": r}]},
                "status": {"phase": "Running"}}))
            .unwrap();
    }
    reader.finish().snapshot
}

/// 7 days of one-minute samples per container: diurnal CPU with spikes,
/// memory with a slow step.
fn usage(start: Timestamp) -> UsageHistograms {
    let mut usage = UsageHistograms::new(UsageOptions::default());
    let minutes: i64 = 7 * 1440;
    let mut state = 2026u64;
    for i in 0..CONTAINERS {
        let key = ContainerKey {
            namespace: "bench".into(),
            owner: OwnerRef {
                kind: "Deployment".into(),
                name: format!("w{i}"),
            },
            container: "app".into(),
        };
        let scale = 50.0 + (i % 400) as f64;
        let cpu: Vec<(Timestamp, f64)> = (0..minutes)
            .map(|m| {
                state = state
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                let noise = (state >> 11) as f64 / (1u64 << 53) as f64;
                let hour = (m % 1440) as f64 / 60.0;
                let diurnal = 1.0 + 0.8 * (std::f64::consts::TAU * (hour - 9.0) / 24.0).sin();
                let spike = if noise > 0.995 { 6.0 } else { 1.0 };
                let at = start.checked_add(SignedDuration::from_mins(m)).unwrap();
                (at, scale * diurnal * spike)
            })
            .collect();
        let memory = cpu.iter().enumerate().map(|(m, (at, _))| {
            (
                *at,
                (200.0 + scale + if m as i64 > minutes / 2 { 100.0 } else { 0.0 }) * 1048576.0,
            )
        });
        usage.add_cpu_series(key.clone(), cpu.iter().copied());
        usage.add_memory_series(key, memory);
    }
    usage
}

fn rightsizing(c: &mut Criterion) {
    let catalog = Catalog::embedded().unwrap();
    let snapshot = cluster();
    let start: Timestamp = "2026-11-24T00:00:00Z".parse().unwrap();
    let now = start
        .checked_add(SignedDuration::from_hours(7 * 24))
        .unwrap();
    let began = Instant::now();
    let usage = usage(start);
    eprintln!(
        "ingest: {CONTAINERS} containers × 7 days of 1-minute CPU and memory samples ({} samples) in {:.2} s (generation included)",
        2 * CONTAINERS * 7 * 1440,
        began.elapsed().as_secs_f64()
    );
    let policy = RightsizingPolicy::default();
    let report = recommend(&snapshot, catalog, "us-east-1", &usage, &policy, now);
    eprintln!(
        "{} findings, {} patch steps, {:?}/h freed",
        report.findings.len(),
        report.plan.steps.len(),
        report.usd_per_hour_saved().map(|s| s.usd())
    );
    let mut group = c.benchmark_group("rightsizing");
    group.sample_size(10);
    group.bench_function("recommend_10k_containers_7d", |b| {
        b.iter(|| {
            black_box(recommend(
                &snapshot,
                catalog,
                "us-east-1",
                black_box(&usage),
                &policy,
                now,
            ))
        })
    });
    group.finish();
}

criterion_group!(benches, rightsizing);
criterion_main!(benches);
