//! The memory arithmetic of an OOM bump, in whole bytes.

use serde::{Deserialize, Serialize};

const MIB: u64 = 1 << 20;

/// How much to add after an OOM kill: the VPA recommender's rule,
/// `max(base × (1 + percent/100), base + min_bytes)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BumpRule {
    /// Relative bump, percent (VPA's `oom-bump-up-ratio` 1.2 is 20).
    pub percent: u32,
    /// Smallest bump, bytes (VPA's `oom-min-bump-up-bytes`, 100 MiB).
    pub min_bytes: u64,
}

impl Default for BumpRule {
    /// The VPA's defaults: ×1.2, at least +100 MiB.
    fn default() -> Self {
        BumpRule {
            percent: 20,
            min_bytes: 100 * MIB,
        }
    }
}

impl BumpRule {
    /// The memory needed after an OOM kill at `base_bytes`, rounded up to a
    /// whole MiB (so the quantity written is `…Mi`); saturates at
    /// `u64::MAX` rather than overflowing.
    ///
    /// ```
    /// use cloudoptim_core::oom::BumpRule;
    /// let rule = BumpRule::default();
    /// let mib = 1u64 << 20;
    /// assert_eq!(rule.bumped(1000 * mib), 1200 * mib); // ×1.2 wins
    /// assert_eq!(rule.bumped(300 * mib), 400 * mib);   // +100 MiB wins
    /// ```
    pub fn bumped(&self, base_bytes: u64) -> u64 {
        let base = u128::from(base_bytes);
        let scaled = (base * (100 + u128::from(self.percent))).div_ceil(100);
        let added = base + u128::from(self.min_bytes);
        let needed = scaled.max(added);
        let rounded = needed.div_ceil(u128::from(MIB)) * u128::from(MIB);
        u64::try_from(rounded).unwrap_or(u64::MAX)
    }
}

/// `limit × new_request / old_request`, rounded up to a whole MiB: the
/// limit keeping its ratio to the request (what the VPA does with limits).
/// A request of 0 leaves the limit as it was.
pub fn scaled_limit(limit_bytes: u64, old_request_bytes: u64, new_request_bytes: u64) -> u64 {
    if old_request_bytes == 0 {
        return limit_bytes;
    }
    let scaled = (u128::from(limit_bytes) * u128::from(new_request_bytes))
        .div_ceil(u128::from(old_request_bytes))
        .div_ceil(u128::from(MIB))
        * u128::from(MIB);
    u64::try_from(scaled).unwrap_or(u64::MAX)
}

/// `bytes` as Kubernetes would write them when they are whole MiB or GiB
/// (`1536Mi`, `2Gi`), else in bytes.
pub fn format_memory(bytes: u64) -> String {
    const GIB: u64 = 1 << 30;
    if bytes > 0 && bytes.is_multiple_of(GIB) {
        format!("{}Gi", bytes / GIB)
    } else if bytes > 0 && bytes.is_multiple_of(MIB) {
        format!("{}Mi", bytes / MIB)
    } else {
        format!("{bytes}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn the_larger_of_ratio_and_minimum_wins_exactly() {
        let rule = BumpRule::default();
        // The cross-over: 500 MiB × 1.2 = 600 MiB = 500 MiB + 100 MiB.
        assert_eq!(rule.bumped(500 * MIB), 600 * MIB);
        assert_eq!(rule.bumped(499 * MIB), 599 * MIB);
        assert_eq!(rule.bumped(501 * MIB), 602 * MIB); // 601.2 MiB rounded up
        assert_eq!(rule.bumped(0), 100 * MIB);
        // Not whole MiB: 1 GB × 1.2 = 1.2 GB = 1144.409… MiB → 1145 MiB.
        assert_eq!(rule.bumped(1_000_000_000), 1145 * MIB);
        assert_eq!(rule.bumped(u64::MAX), u64::MAX);
    }

    #[test]
    fn limits_keep_their_ratio() {
        const GIB_: u64 = 1 << 30;
        assert_eq!(scaled_limit(1024 * MIB, 512 * MIB, 640 * MIB), 1280 * MIB);
        // 3:2 kept, rounded up to the MiB: 1536 × 615/512 = 1845 Mi exactly.
        assert_eq!(scaled_limit(1536 * MIB, 512 * MIB, 615 * MIB), 1845 * MIB);
        // 3 Gi × 3687/2048 = 5530.5 Mi → 5531 Mi.
        assert_eq!(scaled_limit(3 * GIB_, 2048 * MIB, 3687 * MIB), 5531 * MIB);
        assert_eq!(scaled_limit(700, 0, 900), 700);
    }

    #[test]
    fn memory_is_written_as_kubernetes_does() {
        assert_eq!(format_memory(2 << 30), "2Gi");
        assert_eq!(format_memory(1536 * MIB), "1536Mi");
        assert_eq!(format_memory(1_000_000_000), "1000000000");
        assert_eq!(format_memory(0), "0");
    }

    proptest! {
        #[test]
        fn a_bump_adds_at_least_the_minimum_and_the_percentage(base in 0u64..(1 << 50), percent in 0u32..300, min_mib in 0u64..4096) {
            let rule = BumpRule { percent, min_bytes: min_mib * MIB };
            let new = rule.bumped(base);
            prop_assert!(new >= base + rule.min_bytes);
            prop_assert!(u128::from(new) * 100 >= u128::from(base) * u128::from(100 + percent));
            prop_assert_eq!(new % MIB, 0);
            // …and less than one MiB more than the larger of the two.
            let exact = (u128::from(base) * u128::from(100 + percent)).div_ceil(100)
                .max(u128::from(base + rule.min_bytes));
            prop_assert!(u128::from(new) < exact + u128::from(MIB));
        }
    }
}
