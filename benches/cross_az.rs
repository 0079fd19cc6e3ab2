//! Cross-AZ placement of a 10,000-service graph with 100,000 edges over
//! three zones (target: ≤ 1 s). Run with `cargo bench --bench cross_az`.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use criterion::{criterion_group, criterion_main, Criterion};

use cloudoptim::cross_az::{place_heuristic, Problem, ServiceSpec};
use cloudoptim::resources::Resources;

/// A seeded graph: services of 1–6 replicas spread round-robin over the
/// zones today, a few with a zone spread, edges with log-uniform rates,
/// zones with 40% to spare.
fn graph(services: usize, edges: usize, seed: u64) -> Problem {
    let mut state = seed;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let zones = 3usize;
    let mut specs = Vec::with_capacity(services);
    for s in 0..services {
        let replicas = 1 + (next() % 6) as u32;
        let mut current = vec![0u32; zones];
        for r in 0..replicas {
            current[(s + r as usize) % zones] += 1;
        }
        let cpu = 100 + next() % 900;
        specs.push(ServiceSpec {
            replicas,
            per_replica: Resources {
                cpu_millis: cpu,
                memory_bytes: cpu << 21,
                pods: 1,
                ..Resources::ZERO
            },
            current,
            movable: next() % 20 != 0,
            allowed: vec![true; zones],
            max_per_zone: None,
            max_skew: (next() % 10 == 0).then_some(1),
        });
    }
    let mut load = vec![0u64; zones];
    for s in &specs {
        for (z, c) in s.current.iter().enumerate() {
            load[z] += s.per_replica.cpu_millis * u64::from(*c);
        }
    }
    let capacity = load
        .iter()
        .map(|l| {
            let cpu = l * 14 / 10;
            Resources {
                cpu_millis: cpu,
                memory_bytes: cpu << 21,
                pods: 1_000_000,
                ..Resources::ZERO
            }
        })
        .collect();
    let mut p = Problem::new(vec!["a".into(), "b".into(), "c".into()], capacity);
    for s in specs {
        p.add_service(s);
    }
    let mut seen = std::collections::HashSet::new();
    let mut added = 0;
    while added < edges {
        let a = (next() % services as u64) as usize;
        let b = (next() % services as u64) as usize;
        if a == b || !seen.insert((a.min(b), a.max(b))) {
            continue;
        }
        let rate = (next() % 1_000_000) as f64 + 1.0;
        p.add_traffic(a, b, rate);
        added += 1;
    }
    p
}

fn placement(c: &mut Criterion) {
    let problem = graph(10_000, 100_000, 42);
    let before = problem.cross_zone_bytes_per_second(&problem.current());
    let after = problem.cross_zone_bytes_per_second(&place_heuristic(&problem).unwrap());
    println!(
        "10,000 services, 100,000 edges: cross-zone {before:.0} -> {after:.0} bytes/s ({:.1}% less)",
        100.0 * (1.0 - after / before)
    );
    let mut group = c.benchmark_group("cross_az");
    group.sample_size(10);
    group.bench_function("place_10k_services_100k_edges", |b| {
        b.iter(|| place_heuristic(&problem).unwrap())
    });
    group.finish();
}

criterion_group!(benches, placement);
criterion_main!(benches);
