//! Exponential bucket boundaries, the VPA recommender's scheme.
//!
//! Bucket 0 covers `[0, first)`; bucket `n ≥ 1` starts at
//! `first · (ratioⁿ − 1) / (ratio − 1)`, so each bucket is `ratio` times
//! wider than the one before; the last bucket has no upper bound. The number
//! of buckets is the smallest that makes the last one start at or above the
//! largest value of interest.
//!
//! Finding a value's bucket is O(1) and exact to the boundaries: a table
//! indexed by the exponent and top mantissa bits of `value · (ratio − 1) /
//! first + 1` (a base-2 logarithm read off the `f64` bits) gives a bucket at
//! most one away, and one or two comparisons with the precomputed starts
//! settle it. No logarithm or power is computed per value.

/// Why a bucket scheme cannot be built.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum BucketSchemeError {
    /// The first bucket's width must be finite and positive.
    #[error("first bucket size {0} must be finite and positive")]
    FirstBucketSize(f64),
    /// Each bucket must be wider than the one before, and not absurdly so.
    #[error("bucket growth ratio {0} must be above 1 and at most 16")]
    Ratio(f64),
    /// The largest value must be finite and reach past the first bucket.
    #[error("largest value {max_value} must be finite and above the first bucket size {first}")]
    MaxValue {
        /// The largest value asked for.
        max_value: f64,
        /// The first bucket's width.
        first: f64,
    },
    /// The scheme would need more buckets than a histogram holds.
    #[error("the scheme needs {needed} buckets, more than the {max} a histogram holds")]
    TooManyBuckets {
        /// Buckets the parameters need.
        needed: f64,
        /// The most a histogram holds.
        max: usize,
    },
}

/// Most buckets a scheme may have (bucket indices fit a `u16`).
pub const MAX_BUCKETS: usize = 4096;

/// Exponentially growing bucket boundaries (see the module docs).
#[derive(Clone, Debug)]
pub struct BucketScheme {
    first_bucket_size: f64,
    ratio: f64,
    /// `starts[n]` is where bucket `n` starts; `starts[0] == 0`.
    starts: Box<[f64]>,
    /// `value · scale + 1` is `ratio^bucket` at bucket starts.
    scale: f64,
    /// Mantissa bits of the lookup table's index.
    mantissa_bits: u32,
    /// A bucket at most one away, by exponent and top mantissa bits.
    guess: Box<[u16]>,
}

impl PartialEq for BucketScheme {
    /// Schemes are equal when their parameters are (everything else derives from them).
    fn eq(&self, other: &Self) -> bool {
        self.first_bucket_size == other.first_bucket_size
            && self.ratio == other.ratio
            && self.starts.len() == other.starts.len()
    }
}

impl BucketScheme {
    /// Buckets from `[0, first_bucket_size)` up, each `ratio` times wider,
    /// the last starting at or above `max_value` (the VPA's
    /// `NewExponentialHistogramOptions`).
    ///
    /// ```
    /// use cloudoptim_core::usage::BucketScheme;
    /// // CPU in millicores: 10 m first, 5% wider each, up to 1,000 cores.
    /// let cpu = BucketScheme::exponential(10.0, 1.05, 1_000_000.0).unwrap();
    /// assert_eq!(cpu.len(), 176);
    /// assert_eq!(cpu.bucket_of(9.9), 0);
    /// assert_eq!(cpu.bucket_of(10.0), 1);
    /// ```
    pub fn exponential(
        first_bucket_size: f64,
        ratio: f64,
        max_value: f64,
    ) -> Result<BucketScheme, BucketSchemeError> {
        if !(first_bucket_size.is_finite() && first_bucket_size > 0.0) {
            return Err(BucketSchemeError::FirstBucketSize(first_bucket_size));
        }
        if !(ratio > 1.0 && ratio <= 16.0) {
            return Err(BucketSchemeError::Ratio(ratio));
        }
        if !(max_value.is_finite() && max_value > first_bucket_size) {
            return Err(BucketSchemeError::MaxValue {
                max_value,
                first: first_bucket_size,
            });
        }
        let scale = (ratio - 1.0) / first_bucket_size;
        let needed = ((max_value * scale + 1.0).ln() / ratio.ln()).ceil() + 1.0;
        if needed.is_nan() || needed > MAX_BUCKETS as f64 {
            return Err(BucketSchemeError::TooManyBuckets {
                needed,
                max: MAX_BUCKETS,
            });
        }
        let count = needed as usize;
        let starts: Box<[f64]> = (0..count)
            .map(|n| {
                if n == 0 {
                    0.0
                } else {
                    first_bucket_size * (ratio.powi(n as i32) - 1.0) / (ratio - 1.0)
                }
            })
            .collect();
        // Enough mantissa bits that a table cell spans less than one bucket
        // (in log space): 2^-bits ≤ ratio − 1.
        let mantissa_bits = (-(ratio - 1.0).log2()).ceil().clamp(1.0, 12.0) as u32;
        // Cover every octave of `value · scale + 1` up to twice the last start's.
        let last_x = starts[count - 1] * scale + 1.0;
        let octaves = last_x.log2().floor() as u32 + 2;
        let cells = (octaves as usize) << mantissa_bits;
        let mut scheme = BucketScheme {
            first_bucket_size,
            ratio,
            starts,
            scale,
            mantissa_bits,
            guess: Box::new([]),
        };
        let guess = (0..cells)
            .map(|cell| {
                let exponent = (cell >> mantissa_bits) as i32;
                let mantissa = (cell & ((1 << mantissa_bits) - 1)) as f64;
                let x = 2f64.powi(exponent) * (1.0 + mantissa / f64::from(1u32 << mantissa_bits));
                scheme.search((x - 1.0) / scale) as u16
            })
            .collect();
        scheme.guess = guess;
        Ok(scheme)
    }

    /// CPU in millicores: first bucket 10 m (0.01 cores), each 5% wider,
    /// up to 1,000 cores: 176 buckets, the VPA recommender's CPU scheme.
    pub fn cpu_millis() -> BucketScheme {
        Self::exponential(10.0, 1.05, 1_000_000.0).unwrap_or_else(|_| Self::fallback())
    }

    /// Memory in bytes: first bucket 10 MB (10⁷ bytes), each 5% wider, up to
    /// 1 TB: 176 buckets, the VPA recommender's memory scheme.
    pub fn memory_bytes() -> BucketScheme {
        Self::exponential(1e7, 1.05, 1e12).unwrap_or_else(|_| Self::fallback())
    }

    /// Unreachable (the defaults are valid), but no `unwrap` in library code.
    fn fallback() -> BucketScheme {
        BucketScheme {
            first_bucket_size: 1.0,
            ratio: 2.0,
            starts: Box::new([0.0]),
            scale: 1.0,
            mantissa_bits: 1,
            guess: Box::new([]),
        }
    }

    /// Number of buckets.
    #[allow(clippy::len_without_is_empty)] // a scheme always has a bucket
    pub fn len(&self) -> usize {
        self.starts.len()
    }

    /// Width of the first bucket, in the resource's unit.
    pub fn first_bucket_size(&self) -> f64 {
        self.first_bucket_size
    }

    /// How much wider each bucket is than the one before.
    pub fn ratio(&self) -> f64 {
        self.ratio
    }

    /// Where bucket `bucket` starts (0 for bucket 0; the last start for
    /// indices past the end).
    pub fn bucket_start(&self, bucket: usize) -> f64 {
        self.starts
            .get(bucket.min(self.starts.len() - 1))
            .copied()
            .unwrap_or(0.0)
    }

    /// Where bucket `bucket` ends: the next one's start; the last bucket has
    /// no end, so its start is returned (as the VPA does).
    pub fn bucket_end(&self, bucket: usize) -> f64 {
        self.bucket_start(bucket.saturating_add(1))
    }

    /// The bucket of a value: the `n` with `start(n) ≤ value < start(n + 1)`.
    /// Values below the first bucket's end, negative values and NaN fall in
    /// bucket 0, values past the last start in the last bucket.
    #[inline]
    pub fn bucket_of(&self, value: f64) -> usize {
        if value < self.first_bucket_size || value.is_nan() {
            return 0;
        }
        let x = value * self.scale + 1.0; // ≥ ratio > 1, so the exponent is ≥ 0
        let bits = x.to_bits();
        let exponent = ((bits >> 52) & 0x7ff) as usize - 1023;
        let mantissa =
            ((bits >> (52 - self.mantissa_bits)) & ((1 << self.mantissa_bits) - 1)) as usize;
        let last = self.starts.len() - 1;
        let Some(&guess) = self.guess.get((exponent << self.mantissa_bits) | mantissa) else {
            return last;
        };
        let mut bucket = usize::from(guess);
        // The guess is within one bucket; rounding in `x` may leave it one
        // off either way. Settle on the starts themselves.
        while bucket < last && self.starts[bucket + 1] <= value {
            bucket += 1;
        }
        while bucket > 0 && value < self.starts[bucket] {
            bucket -= 1;
        }
        bucket
    }

    /// The bucket of a value by binary search over the starts (the
    /// reference `bucket_of` is checked against).
    fn search(&self, value: f64) -> usize {
        self.starts
            .partition_point(|&start| start <= value)
            .saturating_sub(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn defaults_have_the_vpa_bucket_count() {
        assert_eq!(BucketScheme::cpu_millis().len(), 176);
        assert_eq!(BucketScheme::memory_bytes().len(), 176);
        let memory = BucketScheme::memory_bytes();
        assert_eq!(memory.bucket_start(1), 1e7);
        assert!((memory.bucket_start(2) - 2.05e7).abs() < 1e-3);
        assert!(memory.bucket_start(175) >= 1e12);
        assert!(memory.bucket_start(174) < 1e12);
    }

    #[test]
    fn bad_parameters_are_errors() {
        assert!(BucketScheme::exponential(0.0, 1.05, 1e3).is_err());
        assert!(BucketScheme::exponential(f64::NAN, 1.05, 1e3).is_err());
        assert!(BucketScheme::exponential(1.0, 1.0, 1e3).is_err());
        assert!(BucketScheme::exponential(1.0, 1.05, 0.5).is_err());
        assert!(BucketScheme::exponential(1.0, 1.000_001, 1e300).is_err());
    }

    #[test]
    fn every_boundary_and_its_neighbours_land_where_the_starts_say() {
        for scheme in [
            BucketScheme::cpu_millis(),
            BucketScheme::memory_bytes(),
            BucketScheme::exponential(1.0, 1.01, 1e6).unwrap(),
            BucketScheme::exponential(3.0, 2.5, 1e9).unwrap(),
        ] {
            for n in 1..scheme.len() {
                let start = scheme.bucket_start(n);
                assert_eq!(scheme.bucket_of(start), n, "start of {n}");
                let below = f64::from_bits(start.to_bits() - 1);
                assert_eq!(scheme.bucket_of(below), n - 1, "just below {n}");
            }
            assert_eq!(scheme.bucket_of(f64::INFINITY), scheme.len() - 1);
            assert_eq!(scheme.bucket_of(f64::MAX), scheme.len() - 1);
            assert_eq!(scheme.bucket_of(-1.0), 0);
            assert_eq!(scheme.bucket_of(f64::NAN), 0);
        }
    }

    proptest! {
        #[test]
        fn lookup_agrees_with_binary_search(exponent in -3.0f64..11.0, ratio in 1.01f64..4.0) {
            let scheme = BucketScheme::exponential(1.0, ratio, 1e10).unwrap();
            let value = 10f64.powf(exponent);
            prop_assert_eq!(scheme.bucket_of(value), scheme.search(value));
        }
    }
}
