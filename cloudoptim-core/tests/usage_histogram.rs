//! Decaying usage histograms: percentiles against the exact decayed
//! percentile, merge, decay, memory peaks and checkpoints.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::sync::Arc;

use cloudoptim_core::catalog::Catalog;
use cloudoptim_core::demo::{DemoConfig, DemoEnvironment};
use cloudoptim_core::snapshot::OwnerRef;
use cloudoptim_core::usage::{
    BucketScheme, CheckpointError, ContainerKey, DecayingHistogram, HistogramCheckpoint,
    HistogramError, HistogramOptions, UsageHistograms, UsageOptions, MAX_CHECKPOINT_WEIGHT,
};
use jiff::{SignedDuration, Timestamp};
use proptest::prelude::*;

const MINUTE: i64 = 60;
const WEEK_OF_MINUTES: usize = 7 * 1440;

fn start() -> Timestamp {
    "2026-11-16T00:00:00Z".parse().unwrap()
}

/// A small deterministic generator (SplitMix64).
struct Rng(u64);
impl Rng {
    fn unit(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[derive(Clone, Copy, Debug)]
enum Shape {
    /// Business-hours cycle with noise.
    Diurnal,
    /// A few level changes over the week.
    Steps,
    /// A flat base with rare spikes of 5–20×.
    Spikes,
    /// All three at once.
    Mixed,
}

/// A week of one-minute samples around `base`.
fn week(shape: Shape, base: f64, seed: u64) -> Vec<(Timestamp, f64)> {
    let mut rng = Rng(seed);
    let levels: Vec<f64> = (0..6).map(|_| 0.3 + 2.5 * rng.unit()).collect();
    let spike_rate = 0.001 + 0.01 * rng.unit();
    (0..WEEK_OF_MINUTES)
        .map(|minute| {
            let t = start() + SignedDuration::from_secs(minute as i64 * MINUTE);
            let hour = (minute % 1440) as f64 / 60.0;
            let diurnal = 1.0
                + 0.8
                    * (std::f64::consts::TAU * (hour - 9.0) / 24.0)
                        .sin()
                        .max(-0.6);
            let step = levels[minute * levels.len() / WEEK_OF_MINUTES];
            let spike = if rng.unit() < spike_rate {
                5.0 + 15.0 * rng.unit()
            } else {
                1.0
            };
            let noise = 0.9 + 0.2 * rng.unit();
            let factor = match shape {
                Shape::Diurnal => diurnal,
                Shape::Steps => step,
                Shape::Spikes => spike,
                Shape::Mixed => diurnal * step * spike,
            };
            (t, base * factor * noise)
        })
        .collect()
}

/// The exact weighted `p`-th percentile of samples decayed with `half_life`:
/// the smallest value whose running weight reaches `p` of the total.
fn exact_percentile(samples: &[(Timestamp, f64)], half_life: SignedDuration, p: f64) -> f64 {
    let newest = samples.iter().map(|s| s.0).max().unwrap();
    let mut weighted: Vec<(f64, f64)> = samples
        .iter()
        .map(|&(t, v)| {
            let age = newest.duration_since(t).as_secs_f64();
            (v, (-age / half_life.as_secs_f64()).exp2())
        })
        .collect();
    weighted.sort_by(|a, b| a.0.total_cmp(&b.0));
    let total: f64 = weighted.iter().map(|w| w.1).sum();
    let mut running = 0.0;
    for &(v, w) in &weighted {
        running += w;
        if running >= p * total {
            return v;
        }
    }
    weighted.last().unwrap().0
}

/// The histogram's answer is the end of the exact percentile's bucket (the
/// bucket rounding), to within 1%; the rank may move by a millionth for the
/// `f32` rounding of the stored weights.
fn assert_close(histogram: &DecayingHistogram, samples: &[(Timestamp, f64)], p: f64) {
    let scheme = histogram.options().buckets();
    let half_life = histogram.options().half_life();
    let got = histogram.percentile(p).unwrap();
    let exact = exact_percentile(samples, half_life, p);
    let low = scheme.bucket_end(scheme.bucket_of(exact_percentile(
        samples,
        half_life,
        (p - 1e-6).max(0.0),
    )));
    let high = scheme.bucket_end(scheme.bucket_of(exact_percentile(
        samples,
        half_life,
        (p + 1e-6).min(1.0),
    )));
    assert!(
        got >= low * 0.99 && got <= high * 1.01,
        "p{p}: histogram {got}, exact {exact} (bucket end {} .. {})",
        low,
        high
    );
    // And it is an upper bound: the end of a bucket, never below the value.
    assert!(got >= exact * 0.99, "p{p}: {got} below exact {exact}");
}

fn cpu_histogram(samples: &[(Timestamp, f64)]) -> DecayingHistogram {
    let mut histogram = DecayingHistogram::new(Arc::new(HistogramOptions::cpu_millis()));
    let report = histogram.add_series(samples.iter().copied(), 1.0);
    assert_eq!(report.added, samples.len());
    histogram
}

fn shapes() -> impl Strategy<Value = Shape> {
    prop_oneof![
        Just(Shape::Diurnal),
        Just(Shape::Steps),
        Just(Shape::Spikes),
        Just(Shape::Mixed)
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn cpu_percentiles_match_the_exact_decayed_percentile(shape in shapes(), seed: u64, base in 5.0f64..5_000.0) {
        let samples = week(shape, base, seed);
        let histogram = cpu_histogram(&samples);
        for p in [0.0, 0.5, 0.9, 0.95, 0.99, 1.0] {
            assert_close(&histogram, &samples, p);
        }
    }

    #[test]
    fn memory_percentiles_match_the_exact_decayed_percentile(shape in shapes(), seed: u64, base in 2e7f64..3e10) {
        let samples = week(shape, base, seed);
        let options = HistogramOptions::new(BucketScheme::memory_bytes(), SignedDuration::from_hours(12)).unwrap();
        let mut histogram = DecayingHistogram::new(Arc::new(options));
        histogram.add_series(samples.iter().copied(), 1.0);
        for p in [0.5, 0.95, 0.99] {
            assert_close(&histogram, &samples, p);
        }
    }

    #[test]
    fn merge_is_associative_and_commutative_in_effect(shape in shapes(), seed: u64) {
        let samples = week(shape, 300.0, seed);
        // Three replicas over different days: different references.
        let (a, rest) = samples.split_at(2 * 1440);
        let (b, c) = rest.split_at(3 * 1440);
        let [ha, hb, hc] = [a, b, c].map(cpu_histogram);
        let merged = |order: [&DecayingHistogram; 3]| {
            let mut m = order[0].clone();
            m.merge(order[1]).unwrap();
            m.merge(order[2]).unwrap();
            m
        };
        let left = merged([&ha, &hb, &hc]);
        let mut bc = hb.clone();
        bc.merge(&hc).unwrap();
        let mut right = ha.clone();
        right.merge(&bc).unwrap();
        let reversed = merged([&hc, &hb, &ha]);
        let whole = cpu_histogram(&samples);
        // The merges agree exactly on the reference; the single histogram of
        // every sample has an older reference, so compare shares of the total.
        prop_assert_eq!(right.reference(), left.reference());
        prop_assert_eq!(reversed.reference(), left.reference());
        for other in [&right, &reversed, &whole] {
            let (lt, ot) = (left.total_weight(), other.total_weight());
            for (x, y) in left.bucket_weights().iter().zip(other.bucket_weights()) {
                let (x, y) = (f64::from(*x) / lt, f64::from(*y) / ot);
                prop_assert!((x - y).abs() <= 1e-6 * x.max(1e-6), "{} vs {}", x, y);
            }
        }
        for p in [0.5, 0.95, 0.99] {
            assert_close(&left, &samples, p);
            assert_close(&reversed, &samples, p);
        }
    }

    /// Any checkpoint, however hostile, loads or gives an error: no panic.
    #[test]
    fn hostile_checkpoints_never_panic(
        total in prop_oneof![any::<f64>(), 0.0f64..1e6],
        bucket_count in prop_oneof![Just(176u32), any::<u32>()],
        first_bucket in prop_oneof![0u32..200, any::<u32>()],
        weights in proptest::collection::vec(prop_oneof![0u32..=10_000, any::<u32>()], 0..200),
        reference in -10_000_000i64..10_000_000,
    ) {
        let checkpoint = HistogramCheckpoint {
            reference: Timestamp::from_second(reference * 3600).unwrap(),
            total_weight: total,
            bucket_count,
            first_bucket,
            bucket_weights: weights,
        };
        if let Ok(h) = DecayingHistogram::from_checkpoint(Arc::new(HistogramOptions::cpu_millis()), &checkpoint) {
            prop_assert!(h.total_weight().is_finite());
            let _ = h.percentile(0.95);
            let _ = h.checkpoint();
        }
    }
}

#[test]
fn a_sample_one_half_life_older_weighs_half() {
    let options = Arc::new(HistogramOptions::cpu_millis());
    let scheme = options.buckets().clone();
    let mut histogram = DecayingHistogram::new(options);
    let t0 = start();
    histogram.add_sample(100.0, 1.0, t0).unwrap();
    histogram
        .add_sample(1000.0, 1.0, t0 + SignedDuration::from_hours(24))
        .unwrap();
    histogram
        .add_sample(5000.0, 1.0, t0 + SignedDuration::from_hours(48))
        .unwrap();
    let w = |v: f64| histogram.bucket_weights()[scheme.bucket_of(v)];
    assert_eq!(w(1000.0) / w(100.0), 2.0);
    assert_eq!(w(5000.0) / w(1000.0), 2.0);
    // Weights 1:2:4 of 7: the median is the newest sample's bucket.
    assert_eq!(
        histogram.percentile(0.5),
        Some(scheme.bucket_end(scheme.bucket_of(5000.0)))
    );
    assert_eq!(
        histogram.percentile(0.1),
        Some(scheme.bucket_end(scheme.bucket_of(100.0)))
    );
}

#[test]
fn the_reference_moves_forward_before_weights_overflow() {
    let options = Arc::new(
        HistogramOptions::new(BucketScheme::cpu_millis(), SignedDuration::from_hours(1)).unwrap(),
    );
    let mut histogram = DecayingHistogram::new(options);
    // A year of hourly samples: 8,760 half-lives, far past any float's range.
    let samples: Vec<(Timestamp, f64)> = (0..8760)
        .map(|h| {
            (
                start() + SignedDuration::from_hours(h),
                if h % 2 == 0 { 100.0 } else { 200.0 },
            )
        })
        .collect();
    histogram.add_series(samples.iter().copied(), 1.0);
    assert!(histogram.total_weight().is_finite() && histogram.total_weight() > 0.0);
    assert!(histogram.bucket_weights().iter().all(|w| w.is_finite()));
    assert!(histogram.reference() > start() + SignedDuration::from_hours(8000));
    // The last sample (200) weighs twice the one before (100).
    let scheme = BucketScheme::cpu_millis();
    let (w100, w200) = (
        histogram.bucket_weights()[scheme.bucket_of(100.0)],
        histogram.bucket_weights()[scheme.bucket_of(200.0)],
    );
    assert!((w200 / w100 - 2.0).abs() < 1e-5, "{w200} / {w100}");
    // One at a time gives the same.
    let mut one_by_one = DecayingHistogram::new(histogram.options().clone());
    for &(t, v) in &samples {
        one_by_one.add_sample(v, 1.0, t).unwrap();
    }
    assert_eq!(one_by_one.reference(), histogram.reference());
    assert!((one_by_one.total_weight() / histogram.total_weight() - 1.0).abs() < 1e-6);
}

#[test]
fn bad_samples_and_merges_are_errors() {
    let options = Arc::new(HistogramOptions::cpu_millis());
    let mut histogram = DecayingHistogram::new(options);
    assert!(
        matches!(histogram.add_sample(f64::NAN, 1.0, start()), Err(HistogramError::Value(v)) if v.is_nan())
    );
    assert!(matches!(
        histogram.add_sample(-1.0, 1.0, start()),
        Err(HistogramError::Value(_))
    ));
    assert!(matches!(
        histogram.add_sample(1.0, -1.0, start()),
        Err(HistogramError::Weight(_))
    ));
    assert!(matches!(
        histogram.add_sample(1.0, f64::INFINITY, start()),
        Err(HistogramError::Weight(_))
    ));
    let report = histogram.add_series([(start(), 1.0), (start(), f64::NAN), (start(), -3.0)], 1.0);
    assert_eq!((report.added, report.skipped), (1, 2));
    let memory = DecayingHistogram::new(Arc::new(HistogramOptions::memory_bytes()));
    assert_eq!(
        histogram.merge(&memory),
        Err(HistogramError::IncompatibleOptions)
    );
    assert!(
        HistogramOptions::new(BucketScheme::cpu_millis(), SignedDuration::from_millis(10)).is_err()
    );
    assert_eq!(
        DecayingHistogram::new(Arc::new(HistogramOptions::cpu_millis())).percentile(0.5),
        None
    );
}

#[test]
fn checkpoints_round_trip_through_json() {
    for (shape, seed) in [(Shape::Mixed, 1), (Shape::Spikes, 2), (Shape::Steps, 3)] {
        let samples = week(shape, 250.0, seed);
        let histogram = cpu_histogram(&samples);
        let json = serde_json::to_string(&histogram.checkpoint()).unwrap();
        let checkpoint: HistogramCheckpoint = serde_json::from_str(&json).unwrap();
        let loaded =
            DecayingHistogram::from_checkpoint(histogram.options().clone(), &checkpoint).unwrap();
        assert_eq!(loaded.reference(), histogram.reference());
        assert_eq!(loaded.total_weight(), histogram.total_weight());
        // Each bucket within half a checkpoint unit of the heaviest bucket,
        // plus what renormalizing to the total moves it.
        let heaviest = histogram
            .bucket_weights()
            .iter()
            .copied()
            .fold(0.0, f32::max);
        let unit = f64::from(heaviest) / f64::from(MAX_CHECKPOINT_WEIGHT);
        let scaled_sum: u32 = checkpoint.bucket_weights.iter().sum();
        let loaded_unit = histogram.total_weight() / f64::from(scaled_sum);
        let mut moved = 0.0;
        for (bucket, (before, after)) in histogram
            .bucket_weights()
            .iter()
            .zip(loaded.bucket_weights())
            .enumerate()
        {
            let (before, after) = (f64::from(*before), f64::from(*after));
            let scaled = bucket
                .checked_sub(checkpoint.first_bucket as usize)
                .and_then(|i| checkpoint.bucket_weights.get(i))
                .map_or(0.0, |&w| f64::from(w));
            let bound = 0.5 * unit + scaled * (loaded_unit - unit).abs();
            assert!(
                (after - before).abs() <= bound * 1.0001 + 1e-6,
                "{before} → {after} (bound {bound})"
            );
            moved += (after - before).abs();
        }
        assert!(
            (loaded_unit / unit - 1.0).abs() < 0.01,
            "renormalization moves weights by under 1%"
        );
        // A percentile can only move by as much rank as the rounding moved weight.
        let rank_slack = moved / histogram.total_weight();
        for p in [0.5, 0.9, 0.95, 0.99] {
            let got = loaded.percentile(p).unwrap();
            let low = histogram.percentile((p - rank_slack).max(0.0)).unwrap();
            let high = histogram.percentile((p + rank_slack).min(1.0)).unwrap();
            assert!(
                low <= got && got <= high,
                "p{p}: {got} not in {low}..{high}"
            );
        }
        // And again: a loaded checkpoint saves as itself.
        assert_eq!(
            loaded.checkpoint().bucket_weights,
            checkpoint.bucket_weights
        );
    }
    // Empty histograms too.
    let empty = DecayingHistogram::new(Arc::new(HistogramOptions::cpu_millis()));
    let loaded =
        DecayingHistogram::from_checkpoint(empty.options().clone(), &empty.checkpoint()).unwrap();
    assert!(loaded.is_empty());
}

#[test]
fn hostile_checkpoints_are_typed_errors() {
    let options = Arc::new(HistogramOptions::cpu_millis());
    let good = cpu_histogram(&week(Shape::Diurnal, 100.0, 7)).checkpoint();
    let load = |edit: &dyn Fn(&mut HistogramCheckpoint)| {
        let mut c = good.clone();
        edit(&mut c);
        DecayingHistogram::from_checkpoint(options.clone(), &c).unwrap_err()
    };
    assert_eq!(
        load(&|c| c.bucket_count = 175),
        CheckpointError::BucketCount {
            expected: 176,
            found: 175
        }
    );
    assert!(matches!(
        load(&|c| c.first_bucket = 170),
        CheckpointError::BucketsOutOfRange {
            first_bucket: 170,
            ..
        }
    ));
    assert!(matches!(
        load(&|c| c.first_bucket = u32::MAX),
        CheckpointError::BucketsOutOfRange { .. }
    ));
    assert!(
        matches!(load(&|c| c.total_weight = f64::NAN), CheckpointError::TotalWeight(w) if w.is_nan())
    );
    assert_eq!(
        load(&|c| c.total_weight = -1.0),
        CheckpointError::TotalWeight(-1.0)
    );
    assert_eq!(
        load(&|c| c.total_weight = f64::INFINITY),
        CheckpointError::TotalWeight(f64::INFINITY)
    );
    assert_eq!(
        load(&|c| c.total_weight = 1e300),
        CheckpointError::TotalWeight(1e300)
    );
    assert_eq!(
        load(&|c| c.bucket_weights[0] = u32::MAX),
        CheckpointError::BucketWeight {
            index: 0,
            value: u32::MAX
        }
    );
    assert!(matches!(
        load(&|c| c.bucket_weights.iter_mut().for_each(|w| *w = 0)),
        CheckpointError::Inconsistent { .. }
    ));
    assert!(matches!(
        load(&|c| c.total_weight = 0.0),
        CheckpointError::Inconsistent { .. }
    ));
    assert!(matches!(
        load(&|c| c.reference += SignedDuration::from_secs(1)),
        CheckpointError::Reference { .. }
    ));
    // Negative bucket weights cannot even be read: the JSON is refused by its type.
    let json = serde_json::to_string(&good).unwrap().replacen(
        "\"bucket_weights\":[",
        "\"bucket_weights\":[-1,",
        1,
    );
    assert!(serde_json::from_str::<HistogramCheckpoint>(&json).is_err());
    // Errors name the field and the value.
    assert_eq!(
        load(&|c| c.total_weight = -1.0).to_string(),
        "checkpoint field total_weight is -1, not a finite weight in 0..=1000000000000000000000000000000"
    );
}

fn key(name: &str) -> ContainerKey {
    ContainerKey {
        namespace: "prod".into(),
        owner: OwnerRef {
            kind: "Deployment".into(),
            name: name.into(),
        },
        container: "app".into(),
    }
}

/// What the module docs say "p95 over 7 days" means for memory.
#[test]
fn memory_peaks_per_interval() {
    // Flat 1 GB over the UTC days 0..=6, with one 4 GB minute on day 1 and day 5.
    let gb = 1e9;
    let spike_minutes = [1440 + 600, 5 * 1440 + 600];
    let samples: Vec<(Timestamp, f64)> = (0..WEEK_OF_MINUTES as i64)
        .map(|minute| {
            let value = if spike_minutes.contains(&minute) {
                4.0 * gb
            } else {
                gb
            };
            (start() + SignedDuration::from_mins(minute), value)
        })
        .collect();
    let scheme = BucketScheme::memory_bytes();
    let end_of = |v: f64| scheme.bucket_end(scheme.bucket_of(v));
    // (peaks added, p95 of the peaks, largest sample)
    let p95 = |interval_hours: i64, samples: &[(Timestamp, f64)]| {
        let interval = SignedDuration::from_hours(interval_hours);
        let mut usage =
            UsageHistograms::new(UsageOptions::with_memory_peak_interval(interval).unwrap());
        let report = usage.add_memory_series(key("web"), samples.iter().copied());
        let container = usage.get(&key("web")).unwrap();
        (
            report.added,
            container.memory_peak_bytes.percentile(0.95).unwrap(),
            container.max_memory_bytes,
        )
    };
    // 24 h: 7 peaks weighing 1/64 … 1 (day 0 … day 6), 1.98 in all; day 5's
    // spike weighs 1/2, a quarter of the total: p95 is the spike.
    assert_eq!(p95(24, &samples), (7, end_of(4.0 * gb), 4.0 * gb));
    // 1 h: 168 peaks; the two spiky hours weigh about 1% of the total: p95 is the base.
    assert_eq!(p95(1, &samples), (168, end_of(gb), 4.0 * gb));
    // Only day 1's spike: it weighs 1/32 of 1.98 (1.6%), and p95 passes over it.
    let old_only: Vec<_> = samples
        .iter()
        .map(|&(t, v)| {
            (
                t,
                if t > start() + SignedDuration::from_hours(72) {
                    v.min(gb)
                } else {
                    v
                },
            )
        })
        .collect();
    assert_eq!(
        p95(24, &old_only),
        (7, end_of(gb), 4.0 * gb),
        "the raw peak is still known"
    );
    // A day-aligned interval: a series starting mid-day touches 8 UTC days.
    let shifted: Vec<_> = samples
        .iter()
        .map(|&(t, v)| (t + SignedDuration::from_hours(15), v))
        .collect();
    assert_eq!(p95(24, &shifted).0, 8);
}

#[test]
fn the_demo_becomes_histograms_per_workload_container_under_1_kib_each() {
    let demo =
        DemoEnvironment::generate(&DemoConfig::default(), Catalog::embedded().unwrap()).unwrap();
    let mut usage = UsageHistograms::new(UsageOptions::default());
    let report = usage.ingest_history(&demo.usage, &demo.snapshot).unwrap();
    assert_eq!(report.series, demo.usage.containers.len());
    assert_eq!(report.skipped, 0);
    assert_eq!(report.pods_not_in_snapshot, 0);
    assert_eq!(
        report.cpu_samples,
        demo.usage
            .containers
            .iter()
            .map(|c| c.cpu_millis.len())
            .sum::<usize>()
    );
    // Replicas are aggregated: fewer keys than series, and a key's sample
    // count is the sum over its replicas.
    assert!(
        usage.len() < report.series,
        "{} keys for {} series",
        usage.len(),
        report.series
    );
    let (key, container) = usage.iter().max_by_key(|(_, c)| c.cpu_samples).unwrap();
    assert!(
        container.cpu_samples > 7 * 96,
        "{key}: {}",
        container.cpu_samples
    );
    // 7 days of 15-minute samples from 15:00 UTC touch 8 UTC days: 8 peaks a series.
    assert_eq!(report.memory_peaks, 8 * report.series);
    // Every workload's memory p100 is at least its largest peak's bucket start.
    for (key, c) in usage.iter() {
        let top = c.memory_peak_bytes.percentile(1.0).unwrap();
        let scheme = c.memory_peak_bytes.options().buckets();
        assert!(
            top >= scheme.bucket_start(scheme.bucket_of(c.max_memory_bytes)),
            "{key}"
        );
        // State: struct + heap, per resource, under 1 KiB; and each checkpoint too.
        assert!(
            c.state_bytes() / 2 <= 1024,
            "{key}: {} bytes",
            c.state_bytes()
        );
    }
    let checkpoints = usage.checkpoint();
    for c in &checkpoints {
        for h in [&c.cpu_millis, &c.memory_peak_bytes] {
            let json = serde_json::to_string(h).unwrap();
            assert!(json.len() <= 1024, "{}: {} bytes", c.key, json.len());
        }
    }
    // The whole state survives a restart through JSON.
    let json = serde_json::to_string(&checkpoints).unwrap();
    let restored = UsageHistograms::from_checkpoint(
        UsageOptions::default(),
        &serde_json::from_str::<Vec<_>>(&json).unwrap(),
    )
    .unwrap();
    assert_eq!(restored.len(), usage.len());
    for (key, c) in usage.iter() {
        let r = restored.get(key).unwrap();
        assert_eq!(r.cpu_samples, c.cpu_samples);
        assert_eq!(r.max_memory_bytes, c.max_memory_bytes);
        assert_eq!(
            r.memory_peak_bytes.percentile(1.0),
            c.memory_peak_bytes.percentile(1.0)
        );
    }
    // Ingesting the history in two halves and merging equals ingesting it once.
    let (first, second) = demo
        .usage
        .containers
        .split_at(demo.usage.containers.len() / 2);
    let mut a = UsageHistograms::new(UsageOptions::default());
    let mut b = UsageHistograms::new(UsageOptions::default());
    let mut half = demo.usage.clone();
    half.containers = first.to_vec();
    a.ingest_history(&half, &demo.snapshot).unwrap();
    half.containers = second.to_vec();
    b.ingest_history(&half, &demo.snapshot).unwrap();
    a.merge(&b).unwrap();
    for (key, c) in usage.iter() {
        let m = a.get(key).unwrap();
        assert_eq!(m.cpu_samples, c.cpu_samples);
        assert_eq!(
            m.cpu_millis.percentile(0.95),
            c.cpu_millis.percentile(0.95),
            "{key}"
        );
    }
}
