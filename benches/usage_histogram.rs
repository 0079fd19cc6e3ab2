//! Benchmarks of the usage histograms: ingest rate on one core, merge and
//! percentile times, and (printed once) the state and checkpoint sizes.
//! Run with `cargo bench --bench usage_histogram`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stderr,
    missing_docs
)]

use std::hint::black_box;
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use jiff::{SignedDuration, Timestamp};

use cloudoptim::catalog::Catalog;
use cloudoptim::demo::{DemoConfig, DemoEnvironment};
use cloudoptim::usage::{DecayingHistogram, HistogramOptions, UsageHistograms, UsageOptions};

/// 7 days of one-minute CPU samples (millicores): a diurnal cycle with noise and spikes.
fn week_of_minutes() -> Vec<f64> {
    let mut state = 2026u64;
    (0..7 * 1440)
        .map(|minute| {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let noise = (state >> 11) as f64 / (1u64 << 53) as f64;
            let hour = (minute % 1440) as f64 / 60.0;
            let diurnal = 1.0 + 0.8 * (std::f64::consts::TAU * (hour - 9.0) / 24.0).sin();
            let spike = if noise > 0.995 { 8.0 } else { 1.0 };
            250.0 * diurnal * spike * (0.9 + 0.2 * noise)
        })
        .collect()
}

fn histograms(c: &mut Criterion) {
    let start: Timestamp = "2026-11-16T00:00:00Z".parse().unwrap();
    let minute = SignedDuration::from_mins(1);
    let values = week_of_minutes();
    let options = Arc::new(HistogramOptions::cpu_millis());

    let mut group = c.benchmark_group("usage histogram");
    group.throughput(Throughput::Elements(values.len() as u64));
    group.bench_function("ingest 7 days of 1-minute samples (regular series)", |b| {
        b.iter_batched_ref(
            || DecayingHistogram::new(options.clone()),
            |h| h.add_regular_series(start, minute, values.iter().copied(), 1.0),
            BatchSize::SmallInput,
        )
    });
    let timed: Vec<(Timestamp, f64)> = values
        .iter()
        .enumerate()
        .map(|(k, &v)| (start + minute * k as i32, v))
        .collect();
    group.bench_function(
        "ingest 7 days of 1-minute samples ((timestamp, value) series)",
        |b| {
            b.iter_batched_ref(
                || DecayingHistogram::new(options.clone()),
                |h| h.add_series(timed.iter().copied(), 1.0),
                BatchSize::SmallInput,
            )
        },
    );
    group.finish();

    let mut a = DecayingHistogram::new(options.clone());
    a.add_regular_series(start, minute, values.iter().copied(), 1.0);
    let mut b_later = DecayingHistogram::new(options.clone());
    b_later.add_regular_series(
        start + SignedDuration::from_hours(72),
        minute,
        values.iter().copied(),
        1.0,
    );
    let mut accumulator = a.clone();
    c.bench_function("usage histogram: merge two (same reference)", |b| {
        b.iter(|| accumulator.merge(black_box(&a)).unwrap())
    });
    c.bench_function(
        "usage histogram: merge two (references 3 half-lives apart)",
        |b| {
            b.iter_batched_ref(
                || a.clone(),
                |m| m.merge(black_box(&b_later)).unwrap(),
                BatchSize::SmallInput,
            )
        },
    );
    c.bench_function("usage histogram: p95", |b| {
        b.iter(|| black_box(&a).percentile(black_box(0.95)))
    });
    c.bench_function("usage histogram: checkpoint", |b| {
        b.iter(|| black_box(&a).checkpoint())
    });

    // The demo: 7 days every 15 minutes, every container, replicas aggregated.
    let demo =
        DemoEnvironment::generate(&DemoConfig::default(), Catalog::embedded().unwrap()).unwrap();
    let mut usage = UsageHistograms::new(UsageOptions::default());
    let report = usage.ingest_history(&demo.usage, &demo.snapshot).unwrap();
    let mut group = c.benchmark_group("usage histogram: demo");
    group.sample_size(20);
    group.throughput(Throughput::Elements(demo.usage.sample_count() as u64));
    group.bench_function("ingest_history (CPU samples and memory peaks)", |b| {
        b.iter(|| {
            let mut u = UsageHistograms::new(UsageOptions::default());
            u.ingest_history(&demo.usage, &demo.snapshot).unwrap()
        })
    });
    group.finish();

    // Sizes, printed once: state per container and resource, and checkpoints.
    let one = usage.iter().next().unwrap().1;
    let checkpoints = usage.checkpoint();
    let json_sizes: Vec<usize> = checkpoints
        .iter()
        .flat_map(|c| [&c.cpu_millis, &c.memory_peak_bytes])
        .map(|h| serde_json::to_string(h).unwrap().len())
        .collect();
    let week_json = serde_json::to_string(&a.checkpoint()).unwrap().len();
    eprintln!(
        "sizes: DecayingHistogram {} B + {} B heap = {} B per container and resource; \
         ContainerHistograms {} B for both; \
         JSON checkpoint of one histogram: demo mean {:.0} B, max {} B; \
         7 days of 1-minute CPU samples {} B ({} keys from {} series)",
        std::mem::size_of::<DecayingHistogram>(),
        one.cpu_millis.heap_bytes(),
        std::mem::size_of::<DecayingHistogram>() + one.cpu_millis.heap_bytes(),
        one.state_bytes(),
        json_sizes.iter().sum::<usize>() as f64 / json_sizes.len() as f64,
        json_sizes.iter().max().unwrap(),
        week_json,
        usage.len(),
        report.series,
    );
}

criterion_group!(benches, histograms);
criterion_main!(benches);
