//! A decaying histogram of usage, in the VPA recommender's shape.
//!
//! Each sample adds `weight · 2^((t − reference) / half_life)` to its bucket
//! ([`BucketScheme`]): a sample one half-life older than another counts half
//! as much. Only relative weights matter to percentiles, so the reference
//! time can move at will, which multiplies every weight by a power of two
//! (exact in floating point). It moves forward, to a multiple of the
//! half-life, whenever a sample would weigh more than 2^64, so weights never
//! overflow. No clock is read: samples carry their time, and the reference
//! follows them.
//!
//! Weights are stored as `f32` (176 buckets take 704 bytes, so a container's
//! CPU or memory history stays under 1 KiB); a batch of samples
//! ([`DecayingHistogram::add_series`]) is summed in `f64` and rounded once
//! per bucket, so a week of samples loses nothing measurable.

use std::sync::Arc;

use jiff::{SignedDuration, Timestamp};

use super::buckets::BucketScheme;

/// A sample never weighs more than `2^MAX_DECAY_EXPONENT` relative to the
/// reference; past that the reference moves forward (the VPA uses 100 with
/// `f64` weights; `f32` weights need the headroom).
const MAX_DECAY_EXPONENT: i64 = 64;

/// The largest weight one sample may carry before decay.
pub const MAX_SAMPLE_WEIGHT: f64 = 1e6;

/// Why a histogram operation was refused.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum HistogramError {
    /// The half-life must be at least one second.
    #[error("half-life {0} must be at least one second")]
    HalfLife(SignedDuration),
    /// The emptiness threshold must be finite and positive.
    #[error("epsilon {0} must be finite and positive")]
    Epsilon(f64),
    /// Histograms merge only with the same buckets and half-life.
    #[error("cannot merge histograms with different buckets or half-lives")]
    IncompatibleOptions,
    /// A sample's value must be finite and not negative.
    #[error("sample value {0} must be finite and not negative")]
    Value(f64),
    /// A sample's weight must be finite, not negative and at most [`MAX_SAMPLE_WEIGHT`].
    #[error("sample weight {0} must be finite, not negative and at most {MAX_SAMPLE_WEIGHT}")]
    Weight(f64),
}

/// Buckets, half-life and emptiness threshold shared by histograms of one
/// resource (hold them in an [`Arc`]; histograms built on equal options merge).
#[derive(Clone, Debug, PartialEq)]
pub struct HistogramOptions {
    buckets: BucketScheme,
    half_life_seconds: i64,
    epsilon: f64,
}

impl HistogramOptions {
    /// The VPA's default half-life: 24 hours.
    pub const DEFAULT_HALF_LIFE: SignedDuration = SignedDuration::from_hours(24);
    /// The VPA's default emptiness threshold: a bucket below this weight
    /// (relative to a fresh sample of weight 1) counts as empty.
    pub const DEFAULT_EPSILON: f64 = 1e-4;

    /// Options with these buckets and half-life (whole seconds; any
    /// fraction is dropped) and the default epsilon.
    pub fn new(
        buckets: BucketScheme,
        half_life: SignedDuration,
    ) -> Result<HistogramOptions, HistogramError> {
        if half_life.as_secs() < 1 {
            return Err(HistogramError::HalfLife(half_life));
        }
        Ok(HistogramOptions {
            buckets,
            half_life_seconds: half_life.as_secs(),
            epsilon: Self::DEFAULT_EPSILON,
        })
    }

    /// The same options with another emptiness threshold.
    pub fn with_epsilon(mut self, epsilon: f64) -> Result<HistogramOptions, HistogramError> {
        if !(epsilon.is_finite() && epsilon > 0.0) {
            return Err(HistogramError::Epsilon(epsilon));
        }
        self.epsilon = epsilon;
        Ok(self)
    }

    /// CPU in millicores ([`BucketScheme::cpu_millis`]), 24 h half-life.
    pub fn cpu_millis() -> HistogramOptions {
        HistogramOptions {
            buckets: BucketScheme::cpu_millis(),
            half_life_seconds: Self::DEFAULT_HALF_LIFE.as_secs(),
            epsilon: Self::DEFAULT_EPSILON,
        }
    }

    /// Memory in bytes ([`BucketScheme::memory_bytes`]), 24 h half-life.
    pub fn memory_bytes() -> HistogramOptions {
        HistogramOptions {
            buckets: BucketScheme::memory_bytes(),
            half_life_seconds: Self::DEFAULT_HALF_LIFE.as_secs(),
            epsilon: Self::DEFAULT_EPSILON,
        }
    }

    /// The bucket scheme.
    pub fn buckets(&self) -> &BucketScheme {
        &self.buckets
    }

    /// The half-life.
    pub fn half_life(&self) -> SignedDuration {
        SignedDuration::from_secs(self.half_life_seconds)
    }

    pub(super) fn half_life_seconds(&self) -> i64 {
        self.half_life_seconds
    }

    /// The emptiness threshold.
    pub fn epsilon(&self) -> f64 {
        self.epsilon
    }

    /// `second` rounded to the nearest multiple of the half-life.
    pub(super) fn align(&self, second: i64) -> i64 {
        let half_life = self.half_life_seconds;
        second
            .saturating_add(half_life / 2)
            .div_euclid(half_life)
            .saturating_mul(half_life)
    }
}

/// What a batch of samples did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SeriesReport {
    /// Samples added.
    pub added: usize,
    /// Samples skipped: a value negative, NaN or infinite, or the batch's
    /// weight invalid.
    pub skipped: usize,
}

/// A decaying histogram of one resource (see the module docs).
///
/// ```
/// use std::sync::Arc;
/// use jiff::{SignedDuration, Timestamp};
/// use cloudoptim_core::usage::{DecayingHistogram, HistogramOptions};
///
/// let options = Arc::new(HistogramOptions::cpu_millis());
/// let mut cpu = DecayingHistogram::new(options);
/// let start: Timestamp = "2026-11-16T00:00:00Z".parse().unwrap();
/// // A week of one-minute samples: 200 m, and 900 m for an hour a day.
/// let values = (0..7 * 1440).map(|minute| if minute % 1440 < 60 { 900.0 } else { 200.0 });
/// let report = cpu.add_regular_series(start, SignedDuration::from_mins(1), values, 1.0);
/// assert_eq!(report.added, 7 * 1440);
/// let p50 = cpu.percentile(0.5).unwrap();
/// let p99 = cpu.percentile(0.99).unwrap();
/// // The end of the bucket holding 200 m (215.8 m), of 900 m's (903.2 m).
/// assert!((200.0..220.0).contains(&p50), "{p50}");
/// assert!((900.0..950.0).contains(&p99), "{p99}");
/// ```
#[derive(Clone, Debug)]
pub struct DecayingHistogram {
    pub(super) options: Arc<HistogramOptions>,
    pub(super) weights: Box<[f32]>,
    pub(super) total_weight: f64,
    /// A multiple of the half-life, in seconds since the Unix epoch.
    pub(super) reference_second: i64,
    /// First bucket at or above epsilon (the last bucket when empty).
    pub(super) min_bucket: u16,
    /// Last bucket at or above epsilon (0 when empty).
    pub(super) max_bucket: u16,
}

impl PartialEq for DecayingHistogram {
    /// Same options, reference, total and bucket weights.
    fn eq(&self, other: &Self) -> bool {
        self.options == other.options
            && self.reference_second == other.reference_second
            && self.total_weight == other.total_weight
            && self.weights == other.weights
    }
}

impl DecayingHistogram {
    /// An empty histogram.
    pub fn new(options: Arc<HistogramOptions>) -> DecayingHistogram {
        let len = options.buckets.len();
        DecayingHistogram {
            weights: vec![0.0; len].into_boxed_slice(),
            total_weight: 0.0,
            reference_second: 0,
            min_bucket: (len - 1) as u16,
            max_bucket: 0,
            options,
        }
    }

    /// Its options.
    pub fn options(&self) -> &Arc<HistogramOptions> {
        &self.options
    }

    /// The time weights are relative to: a sample at this instant with
    /// weight 1 weighs 1. A multiple of the half-life since the Unix epoch.
    pub fn reference(&self) -> Timestamp {
        Timestamp::from_second(self.reference_second).unwrap_or(Timestamp::UNIX_EPOCH)
    }

    /// Sum of the decayed weights, relative to [`reference`](Self::reference).
    pub fn total_weight(&self) -> f64 {
        self.total_weight
    }

    /// The decayed weight of each bucket, relative to the reference.
    pub fn bucket_weights(&self) -> &[f32] {
        &self.weights
    }

    /// No bucket holds at least epsilon of weight.
    pub fn is_empty(&self) -> bool {
        self.weights
            .get(usize::from(self.min_bucket))
            .is_none_or(|&w| f64::from(w) < self.options.epsilon)
    }

    /// Bytes this histogram holds on the heap (its bucket weights; the
    /// shared options are not counted).
    pub fn heap_bytes(&self) -> usize {
        std::mem::size_of_val(&*self.weights)
    }

    /// Add one sample of `value` (in the resource's unit) with `weight` at `at`.
    pub fn add_sample(
        &mut self,
        value: f64,
        weight: f64,
        at: Timestamp,
    ) -> Result<(), HistogramError> {
        if !is_valid_value(value) {
            return Err(HistogramError::Value(value));
        }
        if !valid_weight(weight) {
            return Err(HistogramError::Weight(weight));
        }
        let second = at.as_second();
        self.make_room_for(second);
        let decayed = weight * self.decay(second);
        let bucket = self.options.buckets.bucket_of(value);
        self.weights[bucket] += decayed as f32;
        self.total_weight += decayed;
        self.note_bucket(bucket);
        Ok(())
    }

    /// Take back a sample [`add_sample`](Self::add_sample) added (the VPA's
    /// `SubtractSample`: an interval's peak replaced by a higher one). A
    /// bucket never goes below zero.
    pub fn subtract_sample(
        &mut self,
        value: f64,
        weight: f64,
        at: Timestamp,
    ) -> Result<(), HistogramError> {
        if !is_valid_value(value) {
            return Err(HistogramError::Value(value));
        }
        if !valid_weight(weight) {
            return Err(HistogramError::Weight(weight));
        }
        let decayed = weight * self.decay(at.as_second());
        let bucket = self.options.buckets.bucket_of(value);
        let held = f64::from(self.weights[bucket]);
        let taken = decayed.min(held);
        self.weights[bucket] = (held - taken) as f32;
        self.total_weight = (self.total_weight - taken).max(0.0);
        if f64::from(self.weights[bucket]) < self.options.epsilon {
            self.recompute_range();
        }
        Ok(())
    }

    /// Add `(time, value)` samples, each with `weight`, in any order. Values
    /// that are negative, NaN or infinite are skipped and counted.
    pub fn add_series(
        &mut self,
        samples: impl IntoIterator<Item = (Timestamp, f64)>,
        weight: f64,
    ) -> SeriesReport {
        self.add_seconds(samples.into_iter().map(|(t, v)| (t.as_second(), v)), weight)
    }

    /// Add samples taken every `interval` from `start`, each with `weight`.
    pub fn add_regular_series(
        &mut self,
        start: Timestamp,
        interval: SignedDuration,
        values: impl IntoIterator<Item = f64>,
        weight: f64,
    ) -> SeriesReport {
        let start = start.as_second();
        let step = interval.as_secs();
        self.add_seconds(
            values
                .into_iter()
                .enumerate()
                .map(|(k, v)| (start.saturating_add((k as i64).saturating_mul(step)), v)),
            weight,
        )
    }

    /// The batch path: sums in `f64` per bucket, then rounds once into the
    /// `f32` weights.
    pub(super) fn add_seconds(
        &mut self,
        samples: impl Iterator<Item = (i64, f64)>,
        weight: f64,
    ) -> SeriesReport {
        if !valid_weight(weight) {
            return SeriesReport {
                added: 0,
                skipped: samples.count(),
            };
        }
        let options = Arc::clone(&self.options);
        let buckets = &options.buckets;
        let mut batch = Batch::new(buckets.len());
        let mut report = SeriesReport::default();
        let mut limit = self.limit();
        let mut fresh = self.total_weight == 0.0;
        let mut decay = Decay::new(self.reference_second, options.half_life_seconds);
        for (second, value) in samples {
            if !is_valid_value(value) {
                report.skipped += 1;
                continue;
            }
            if second > limit || fresh {
                self.fold(&mut batch);
                self.make_room_for(second);
                limit = self.limit();
                fresh = false;
                decay = Decay::new(self.reference_second, options.half_life_seconds);
            }
            batch.weights[buckets.bucket_of(value)] += weight * decay.factor(second);
            report.added += 1;
        }
        self.fold(&mut batch);
        report
    }

    /// Add everything `other` holds. Both must have equal options; the one
    /// with the older reference is renormalized to the younger's.
    pub fn merge(&mut self, other: &DecayingHistogram) -> Result<(), HistogramError> {
        if !Arc::ptr_eq(&self.options, &other.options) && self.options != other.options {
            return Err(HistogramError::IncompatibleOptions);
        }
        if other.total_weight == 0.0 {
            return Ok(());
        }
        if self.total_weight == 0.0 {
            self.weights.copy_from_slice(&other.weights);
            self.total_weight = other.total_weight;
            self.reference_second = other.reference_second;
            self.min_bucket = other.min_bucket;
            self.max_bucket = other.max_bucket;
            return Ok(());
        }
        if self.reference_second < other.reference_second {
            self.shift_reference(other.reference_second);
        }
        // Both references are multiples of the half-life: an exact power of two.
        let factor = self.power_of_two_to(other.reference_second);
        let (lo, hi) = (usize::from(other.min_bucket), usize::from(other.max_bucket));
        if lo <= hi {
            let (mine, theirs) = (&mut self.weights[lo..=hi], &other.weights[lo..=hi]);
            if factor == 1.0 {
                for (a, b) in mine.iter_mut().zip(theirs) {
                    *a += *b;
                }
            } else {
                let factor = factor as f32;
                for (a, b) in mine.iter_mut().zip(theirs) {
                    *a += *b * factor;
                }
            }
        }
        self.total_weight += other.total_weight * factor;
        if factor == 1.0 {
            self.min_bucket = self.min_bucket.min(other.min_bucket);
            self.max_bucket = self.max_bucket.max(other.max_bucket);
        } else {
            self.recompute_range(); // scaled-down buckets may fall under epsilon
        }
        Ok(())
    }

    /// The `p`-th percentile (`p` in 0..=1, clamped), as the VPA computes
    /// it: the end of the bucket where the running weight first reaches
    /// `p` of the total (the start of the last bucket, which has no end).
    /// An upper bound of the exact weighted percentile, at most one bucket
    /// above it (with the default buckets, under 6% from 100 first-bucket
    /// widths up, i.e. 1 core or 1 GB; relatively more below). `None` when
    /// empty or `p` is NaN.
    pub fn percentile(&self, p: f64) -> Option<f64> {
        if self.is_empty() || p.is_nan() {
            return None;
        }
        let threshold = p.clamp(0.0, 1.0) * self.total_weight;
        let (lo, hi) = (usize::from(self.min_bucket), usize::from(self.max_bucket));
        let mut partial = 0.0;
        let mut bucket = lo;
        while bucket < hi {
            partial += f64::from(self.weights[bucket]);
            if partial >= threshold {
                break;
            }
            bucket += 1;
        }
        Some(self.options.buckets.bucket_end(bucket))
    }

    /// Moves the reference forward when a sample at `second` would weigh
    /// more than `2^MAX_DECAY_EXPONENT`; sets it when nothing is held yet.
    fn make_room_for(&mut self, second: i64) {
        if self.total_weight == 0.0 {
            self.reference_second = self.options.align(second);
        } else if second > self.limit() {
            self.shift_reference(second);
        }
    }

    fn limit(&self) -> i64 {
        self.reference_second.saturating_add(
            self.options
                .half_life_seconds
                .saturating_mul(MAX_DECAY_EXPONENT),
        )
    }

    fn decay(&self, second: i64) -> f64 {
        (second.saturating_sub(self.reference_second) as f64
            / self.options.half_life_seconds as f64)
            .exp2()
    }

    /// `2^((to − reference) / half_life)` for a `to` that is a multiple of the half-life.
    fn power_of_two_to(&self, to: i64) -> f64 {
        let halvings = to.saturating_sub(self.reference_second) / self.options.half_life_seconds;
        2f64.powi(halvings.clamp(-2000, 2000) as i32)
    }

    /// Move the reference to `second` (aligned), scaling every weight by
    /// the matching power of two.
    pub(super) fn shift_reference(&mut self, second: i64) {
        let new_reference = self.options.align(second);
        if new_reference <= self.reference_second {
            return; // only ever forward: older samples then weigh less, never overflow
        }
        let factor = 1.0 / self.power_of_two_to(new_reference);
        self.reference_second = new_reference;
        if factor != 1.0 {
            for w in self.weights.iter_mut() {
                *w = (f64::from(*w) * factor) as f32;
            }
            self.total_weight *= factor;
            self.recompute_range();
        }
    }

    fn fold(&mut self, batch: &mut Batch) {
        for (bucket, sum) in batch.weights.iter_mut().enumerate() {
            if *sum != 0.0 {
                self.weights[bucket] += *sum as f32;
                self.total_weight += *sum;
                *sum = 0.0;
                self.note_bucket(bucket);
            }
        }
    }

    fn note_bucket(&mut self, bucket: usize) {
        if f64::from(self.weights[bucket]) >= self.options.epsilon {
            let bucket = bucket as u16;
            self.min_bucket = self.min_bucket.min(bucket);
            self.max_bucket = self.max_bucket.max(bucket);
        }
    }

    /// First and last buckets at or above epsilon, from scratch.
    pub(super) fn recompute_range(&mut self) {
        let epsilon = self.options.epsilon;
        let held = |w: &f32| f64::from(*w) >= epsilon;
        self.min_bucket = self
            .weights
            .iter()
            .position(held)
            .unwrap_or(self.weights.len().saturating_sub(1)) as u16;
        self.max_bucket = self.weights.iter().rposition(held).unwrap_or(0) as u16;
    }
}

/// A usage value: finite and not negative.
pub(super) fn is_valid_value(value: f64) -> bool {
    (0.0..f64::INFINITY).contains(&value)
}

fn valid_weight(weight: f64) -> bool {
    (0.0..=MAX_SAMPLE_WEIGHT).contains(&weight)
}

/// Per-bucket `f64` sums of one batch.
struct Batch {
    weights: Vec<f64>,
}

impl Batch {
    fn new(len: usize) -> Batch {
        Batch {
            weights: vec![0.0; len],
        }
    }
}

/// `2^((t − reference) / half_life)` without an `exp2` per sample: while
/// samples come at a steady step (a regular series, in order), each factor
/// is the previous one times the step's; it is recomputed exactly when the
/// step changes and every [`Decay::RESYNC`] samples, so the product drifts
/// by under 10⁻¹³ (relative) before it is reset.
struct Decay {
    reference_second: i64,
    inverse_half_life: f64,
    previous_second: i64,
    previous_factor: f64,
    step_seconds: i64,
    step_factor: f64,
    run: u32,
}

impl Decay {
    const RESYNC: u32 = 256;

    fn new(reference_second: i64, half_life_seconds: i64) -> Decay {
        Decay {
            reference_second,
            inverse_half_life: 1.0 / half_life_seconds as f64,
            previous_second: i64::MIN,
            previous_factor: 0.0,
            step_seconds: 0,
            step_factor: 1.0,
            run: Self::RESYNC,
        }
    }

    #[inline]
    fn factor(&mut self, second: i64) -> f64 {
        let step = second.wrapping_sub(self.previous_second);
        if step == self.step_seconds && self.run < Self::RESYNC {
            self.previous_factor *= self.step_factor;
            self.run += 1;
        } else {
            self.previous_factor = (second.saturating_sub(self.reference_second) as f64
                * self.inverse_half_life)
                .exp2();
            if step != self.step_seconds {
                self.step_seconds = step;
                self.step_factor = (step as f64 * self.inverse_half_life).exp2();
            }
            self.run = 0;
        }
        self.previous_second = second;
        self.previous_factor
    }
}
