//! Compact checkpoints of decaying histograms, as the VPA stores them.
//!
//! Bucket weights are scaled so the heaviest is [`MAX_CHECKPOINT_WEIGHT`]
//! and rounded to integers (a bucket under 1/20,000 of the heaviest is
//! dropped); the total weight and the reference time are kept as they are.
//! Loading rescales the integers to the saved total, so each bucket comes
//! back within half a unit (1/10,000 of the heaviest bucket) plus that
//! rescaling, which moves weights by well under 1%.
//! Only the span from the first to the last held bucket is written.
//!
//! Loading never trusts the checkpoint: a wrong bucket count, a span past
//! the last bucket, a negative, NaN, infinite or huge total, an oversized
//! bucket weight or a reference that is not a multiple of the half-life is a
//! [`CheckpointError`] naming the field and the value.

use std::sync::Arc;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::histogram::{DecayingHistogram, HistogramOptions};

/// The heaviest bucket's weight in a checkpoint (the VPA's `MaxCheckpointWeight`).
pub const MAX_CHECKPOINT_WEIGHT: u32 = 10_000;

/// The largest total weight a checkpoint may declare. Weights are relative
/// to a reference at most 64 half-lives behind the newest sample, so real
/// totals stay far below this.
pub const MAX_TOTAL_WEIGHT: f64 = 1e30;

/// A decaying histogram's state, serializable (see the module docs).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HistogramCheckpoint {
    /// The reference time the weights are relative to.
    pub reference: Timestamp,
    /// Sum of the decayed weights, relative to `reference`.
    pub total_weight: f64,
    /// Buckets of the scheme it was taken with.
    pub bucket_count: u32,
    /// Index of the first bucket in `bucket_weights`.
    pub first_bucket: u32,
    /// Scaled weights of consecutive buckets from `first_bucket`, the
    /// heaviest at [`MAX_CHECKPOINT_WEIGHT`].
    pub bucket_weights: Vec<u32>,
}

/// Why a checkpoint cannot be loaded.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum CheckpointError {
    /// It was taken with another bucket scheme.
    #[error("checkpoint field bucket_count is {found}, but the histogram has {expected} buckets")]
    BucketCount {
        /// Buckets of the histogram loading it.
        expected: usize,
        /// Buckets the checkpoint declares.
        found: u32,
    },
    /// Its buckets run past the last one.
    #[error("checkpoint buckets {first_bucket}..{first_bucket}+{len} run past the last of {bucket_count} buckets")]
    BucketsOutOfRange {
        /// `first_bucket`.
        first_bucket: u32,
        /// Length of `bucket_weights`.
        len: usize,
        /// Buckets of the scheme.
        bucket_count: usize,
    },
    /// A bucket weighs more than [`MAX_CHECKPOINT_WEIGHT`].
    #[error("checkpoint field bucket_weights[{index}] is {value}, above the maximum {MAX_CHECKPOINT_WEIGHT}")]
    BucketWeight {
        /// Index in `bucket_weights`.
        index: usize,
        /// Its value.
        value: u32,
    },
    /// The total weight is negative, NaN, infinite or above [`MAX_TOTAL_WEIGHT`].
    #[error("checkpoint field total_weight is {0}, not a finite weight in 0..={MAX_TOTAL_WEIGHT}")]
    TotalWeight(f64),
    /// Buckets hold weight but the total is zero, or the other way round.
    #[error("checkpoint field total_weight is {total_weight} but the bucket weights sum to {sum}")]
    Inconsistent {
        /// `total_weight`.
        total_weight: f64,
        /// Sum of `bucket_weights`.
        sum: u64,
    },
    /// The reference is not a multiple of the half-life (another half-life's checkpoint).
    #[error("checkpoint field reference {reference} is not a multiple of the half-life of {half_life_seconds} s")]
    Reference {
        /// `reference`.
        reference: Timestamp,
        /// The histogram's half-life in seconds.
        half_life_seconds: i64,
    },
}

impl DecayingHistogram {
    /// Its checkpoint (see the module docs).
    pub fn checkpoint(&self) -> HistogramCheckpoint {
        let (lo, hi) = (usize::from(self.min_bucket), usize::from(self.max_bucket));
        let span = if self.is_empty() || lo > hi {
            &[][..]
        } else {
            &self.weights[lo..=hi]
        };
        let heaviest = span.iter().copied().fold(0.0f32, f32::max);
        let ratio = if heaviest > 0.0 {
            f64::from(MAX_CHECKPOINT_WEIGHT) / f64::from(heaviest)
        } else {
            0.0
        };
        let mut scaled: Vec<u32> = span
            .iter()
            .map(|&w| {
                (f64::from(w) * ratio)
                    .round()
                    .min(f64::from(MAX_CHECKPOINT_WEIGHT)) as u32
            })
            .collect();
        // Trim buckets that rounded to zero at either end.
        let first = scaled.iter().position(|&w| w > 0).unwrap_or(scaled.len());
        let last = scaled.iter().rposition(|&w| w > 0).map_or(first, |i| i + 1);
        scaled.truncate(last);
        scaled.drain(..first);
        HistogramCheckpoint {
            reference: self.reference(),
            total_weight: if scaled.is_empty() {
                0.0
            } else {
                self.total_weight
            },
            bucket_count: self.weights.len() as u32,
            first_bucket: (lo + first) as u32,
            bucket_weights: scaled,
        }
    }

    /// The histogram a checkpoint describes, on these options.
    pub fn from_checkpoint(
        options: Arc<HistogramOptions>,
        checkpoint: &HistogramCheckpoint,
    ) -> Result<DecayingHistogram, CheckpointError> {
        let mut histogram = DecayingHistogram::new(options);
        let bucket_count = histogram.weights.len();
        if usize::try_from(checkpoint.bucket_count).ok() != Some(bucket_count) {
            return Err(CheckpointError::BucketCount {
                expected: bucket_count,
                found: checkpoint.bucket_count,
            });
        }
        let first = checkpoint.first_bucket as usize;
        let len = checkpoint.bucket_weights.len();
        if first.saturating_add(len) > bucket_count {
            return Err(CheckpointError::BucketsOutOfRange {
                first_bucket: checkpoint.first_bucket,
                len,
                bucket_count,
            });
        }
        let total = checkpoint.total_weight;
        if !(0.0..=MAX_TOTAL_WEIGHT).contains(&total) {
            return Err(CheckpointError::TotalWeight(total));
        }
        if let Some((index, &value)) = checkpoint
            .bucket_weights
            .iter()
            .enumerate()
            .find(|(_, &w)| w > MAX_CHECKPOINT_WEIGHT)
        {
            return Err(CheckpointError::BucketWeight { index, value });
        }
        let sum: u64 = checkpoint
            .bucket_weights
            .iter()
            .map(|&w| u64::from(w))
            .sum();
        if (sum == 0) != (total == 0.0) {
            return Err(CheckpointError::Inconsistent {
                total_weight: total,
                sum,
            });
        }
        let reference_second = checkpoint.reference.as_second();
        let half_life_seconds = histogram.options.half_life_seconds();
        if reference_second.rem_euclid(half_life_seconds) != 0
            || checkpoint.reference.subsec_nanosecond() != 0
        {
            return Err(CheckpointError::Reference {
                reference: checkpoint.reference,
                half_life_seconds,
            });
        }
        histogram.reference_second = reference_second;
        if sum == 0 {
            return Ok(histogram);
        }
        let unit = total / sum as f64;
        for (slot, &w) in histogram.weights[first..first + len]
            .iter_mut()
            .zip(&checkpoint.bucket_weights)
        {
            *slot = (f64::from(w) * unit) as f32;
        }
        histogram.total_weight = total;
        histogram.recompute_range();
        Ok(histogram)
    }
}
