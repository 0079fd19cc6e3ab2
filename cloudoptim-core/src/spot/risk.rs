//! The spot risk score.
//!
//! `Risk = 0.60·Public_Rate + 0.25·Volatility + 0.10·Gap_Score + 0.05·Time_Score`,
//! every component in `[0, 1]`, higher is riskier:
//!
//! - **Public_Rate**: the Spot Advisor's interruption-frequency bucket for
//!   the type in the region, mapped linearly: `<5%` → 0, `5-10%` → 0.25,
//!   `10-15%` → 0.5, `15-20%` → 0.75, `>20%` → 1.
//! - **Volatility**: the coefficient of variation (standard deviation over
//!   mean) of the spot price over the window, divided by
//!   [`VOLATILITY_SATURATION`] and capped at 1.
//! - **Gap_Score**: how close the spot price sits to on-demand,
//!   `spot / on-demand` capped at 1: a spot price near on-demand means the
//!   pool is contended and the saving small.
//! - **Time_Score**: how recently and how often the price moved: each price
//!   change in the window counts with a weight that halves every
//!   [`TIME_HALF_LIFE_HOURS`] hours before "now"; the sum is divided by
//!   [`TIME_SATURATION`] and capped at 1. A pool whose price moved several
//!   times in the last hours scores high; one flat for a week scores 0.
//!
//! On day zero there is no price history: Volatility and Time_Score fall
//! back to Public_Rate (the best prior there is), and Gap_Score to
//! `1 − savings/100` from the Spot Advisor. The result says which
//! components fell back.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::catalog::{InstanceType, OperatingSystem};
use crate::money::UsdPerHour;

/// Weight of Public_Rate.
pub const PUBLIC_RATE_WEIGHT: f64 = 0.60;
/// Weight of Volatility.
pub const VOLATILITY_WEIGHT: f64 = 0.25;
/// Weight of Gap_Score.
pub const GAP_WEIGHT: f64 = 0.10;
/// Weight of Time_Score.
pub const TIME_WEIGHT: f64 = 0.05;
/// Coefficient of variation at which Volatility reaches 1.
pub const VOLATILITY_SATURATION: f64 = 0.25;
/// Half-life of a price change's weight in Time_Score, hours.
pub const TIME_HALF_LIFE_HOURS: f64 = 24.0;
/// Decayed count of price changes at which Time_Score reaches 1.
pub const TIME_SATURATION: f64 = 4.0;

/// One observed spot price.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct SpotPrice {
    /// When it took effect.
    pub at: Timestamp,
    /// The price.
    pub usd_per_hour: UsdPerHour,
}

/// A risk component.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Component {
    /// The Spot Advisor interruption bucket.
    PublicRate,
    /// Price volatility.
    Volatility,
    /// Spot price relative to on-demand.
    Gap,
    /// Recency and frequency of price moves.
    Time,
}

/// A risk score and how it was made.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RiskScore {
    /// The weighted score in `[0, 1]`.
    pub score: f64,
    /// Public_Rate.
    pub public_rate: f64,
    /// Volatility.
    pub volatility: f64,
    /// Gap_Score.
    pub gap: f64,
    /// Time_Score.
    pub time: f64,
    /// Components computed from a fallback rather than their own data.
    pub fallbacks: Vec<Component>,
}

/// Why a score cannot be computed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RiskError {
    /// The Spot Advisor has no advice for the type in the region and OS.
    #[error("the Spot Advisor has no advice for {instance_type} in {region} ({os})")]
    NoAdvice {
        /// Instance type.
        instance_type: String,
        /// Region.
        region: String,
        /// Operating system.
        os: OperatingSystem,
    },
}

/// One spot pool (instance type × zone) as a [`RiskModel`] sees it.
#[derive(Clone, Copy, Debug)]
pub struct PoolFacts<'a> {
    /// The instance type, with its Spot Advisor advice and on-demand prices.
    pub instance_type: &'a InstanceType,
    /// Region.
    pub region: &'a str,
    /// Availability zone.
    pub zone: &'a str,
    /// Operating system.
    pub os: OperatingSystem,
    /// Observed spot prices of the pool (any order; may be empty).
    pub history: &'a [SpotPrice],
    /// The time "now".
    pub now: Timestamp,
}

/// How risky a spot pool is: what spot pool selection
/// ([`select_pools`](super::pools::select_pools)) and interruption
/// replacements rank pools by. [`WeightedRisk`] is the seed's formula;
/// the ML layer, or a user with their own interruption data, plugs in
/// another.
///
/// A model returns a score in `[0, 1]` (higher is riskier); components it
/// does not compute may repeat the score and be listed in
/// [`RiskScore::fallbacks`].
///
/// ```
/// use cloudoptim_core::spot::risk::{PoolFacts, RiskError, RiskModel, RiskScore, WeightedRisk};
///
/// /// Trust the seed's formula, but never below a floor.
/// struct Cautious(f64);
/// impl RiskModel for Cautious {
///     fn score(&self, pool: &PoolFacts<'_>) -> Result<RiskScore, RiskError> {
///         let mut r = WeightedRisk.score(pool)?;
///         r.score = r.score.max(self.0);
///         Ok(r)
///     }
/// }
/// ```
pub trait RiskModel {
    /// The pool's risk, or why it cannot be scored (the pool is then not used).
    fn score(&self, pool: &PoolFacts<'_>) -> Result<RiskScore, RiskError>;
}

/// The seed's risk formula ([`risk_score`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WeightedRisk;

impl RiskModel for WeightedRisk {
    fn score(&self, pool: &PoolFacts<'_>) -> Result<RiskScore, RiskError> {
        risk_score(
            pool.instance_type,
            pool.region,
            pool.os,
            pool.history,
            pool.now,
        )
    }
}

/// The risk of running `instance_type` on spot in `region`, given its price
/// history there (any order; may be empty) and the time "now".
pub fn risk_score(
    instance_type: &InstanceType,
    region: &str,
    os: OperatingSystem,
    history: &[SpotPrice],
    now: Timestamp,
) -> Result<RiskScore, RiskError> {
    let advice = instance_type
        .spot_advice(region, os)
        .ok_or_else(|| RiskError::NoAdvice {
            instance_type: instance_type.name.clone(),
            region: region.to_owned(),
            os,
        })?;
    let public_rate = f64::from(advice.interruption.index()) / 4.0;
    let mut fallbacks = Vec::new();

    let mut prices: Vec<SpotPrice> = history
        .iter()
        .copied()
        .filter(|p| p.at <= now && p.usd_per_hour > UsdPerHour::ZERO)
        .collect();
    prices.sort_by_key(|p| p.at);

    let volatility = match coefficient_of_variation(&prices) {
        Some(cv) => (cv / VOLATILITY_SATURATION).min(1.0),
        None => {
            fallbacks.push(Component::Volatility);
            public_rate
        }
    };

    let on_demand = instance_type.on_demand_usd_per_hour(region);
    let gap = match (prices.last(), on_demand) {
        (Some(latest), Some(od)) if od > UsdPerHour::ZERO => {
            (latest.usd_per_hour.usd() / od.usd()).clamp(0.0, 1.0)
        }
        _ => {
            fallbacks.push(Component::Gap);
            (1.0 - f64::from(advice.savings_percent) / 100.0).clamp(0.0, 1.0)
        }
    };

    let time = if prices.len() >= 2 {
        let decayed: f64 = prices
            .windows(2)
            .filter_map(|w| match w {
                [a, b] if a.usd_per_hour != b.usd_per_hour => Some(b.at),
                _ => None,
            })
            .map(|at| {
                let hours = (now.as_second() - at.as_second()).max(0) as f64 / 3600.0;
                0.5f64.powf(hours / TIME_HALF_LIFE_HOURS)
            })
            .sum();
        (decayed / TIME_SATURATION).min(1.0)
    } else {
        fallbacks.push(Component::Time);
        public_rate
    };

    let score = PUBLIC_RATE_WEIGHT * public_rate
        + VOLATILITY_WEIGHT * volatility
        + GAP_WEIGHT * gap
        + TIME_WEIGHT * time;
    Ok(RiskScore {
        score: score.clamp(0.0, 1.0),
        public_rate,
        volatility,
        gap,
        time,
        fallbacks,
    })
}

/// Standard deviation over mean of the prices, if there are at least two.
fn coefficient_of_variation(prices: &[SpotPrice]) -> Option<f64> {
    if prices.len() < 2 {
        return None;
    }
    let values: Vec<f64> = prices.iter().map(|p| p.usd_per_hour.usd()).collect();
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    if mean <= 0.0 {
        return None;
    }
    let variance = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n;
    Some(variance.sqrt() / mean)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::Catalog;
    use proptest::prelude::*;

    fn at(hours_before_now: i64) -> Timestamp {
        Timestamp::from_second(1_795_446_000 - hours_before_now * 3600).unwrap()
    }

    fn now() -> Timestamp {
        at(0)
    }

    fn flat(price: f64, points: usize) -> Vec<SpotPrice> {
        (0..points)
            .map(|i| SpotPrice {
                at: at(168 - i as i64 * 24),
                usd_per_hour: UsdPerHour::from_usd(price).unwrap(),
            })
            .collect()
    }

    #[test]
    fn day_zero_uses_the_advisor_and_says_so() {
        let m5 = Catalog::embedded().unwrap().get("m5.large").unwrap();
        let r = risk_score(m5, "us-east-1", OperatingSystem::Linux, &[], now()).unwrap();
        assert_eq!(
            r.fallbacks,
            vec![Component::Volatility, Component::Gap, Component::Time]
        );
        let advice = m5.spot_advice("us-east-1", OperatingSystem::Linux).unwrap();
        assert_eq!(r.public_rate, f64::from(advice.interruption.index()) / 4.0);
        assert!((r.gap - (1.0 - f64::from(advice.savings_percent) / 100.0)).abs() < 1e-12);
        assert!((0.0..=1.0).contains(&r.score));
        assert!(matches!(
            risk_score(m5, "mars-east-1", OperatingSystem::Linux, &[], now()),
            Err(RiskError::NoAdvice { .. })
        ));
    }

    #[test]
    fn components_move_the_right_way() {
        let m5 = Catalog::embedded().unwrap().get("m5.large").unwrap();
        let score = |h: &[SpotPrice]| {
            risk_score(m5, "us-east-1", OperatingSystem::Linux, h, now()).unwrap()
        };
        // A flat price: no volatility, no recent moves.
        let calm = score(&flat(0.03, 8));
        assert_eq!(calm.volatility, 0.0);
        assert_eq!(calm.time, 0.0);
        assert!(calm.fallbacks.is_empty());
        // The same prices jumping about: more volatile.
        let mut jumpy = flat(0.03, 8);
        for (i, p) in jumpy.iter_mut().enumerate() {
            if i % 2 == 1 {
                p.usd_per_hour = UsdPerHour::from_usd(0.05).unwrap();
            }
        }
        assert!(score(&jumpy).volatility > calm.volatility);
        // Moves in the last hours count more than a week ago.
        let recent: Vec<SpotPrice> = [(3, 0.03), (2, 0.031), (1, 0.032)]
            .iter()
            .map(|&(h, p)| SpotPrice {
                at: at(h),
                usd_per_hour: UsdPerHour::from_usd(p).unwrap(),
            })
            .collect();
        let old: Vec<SpotPrice> = [(160, 0.03), (159, 0.031), (158, 0.032)]
            .iter()
            .map(|&(h, p)| SpotPrice {
                at: at(h),
                usd_per_hour: UsdPerHour::from_usd(p).unwrap(),
            })
            .collect();
        assert!(score(&recent).time > score(&old).time);
        // Spot near on-demand: a bigger gap score than deep discount.
        assert!(score(&flat(0.09, 4)).gap > score(&flat(0.02, 4)).gap);
        assert!(score(&flat(0.09, 4)).score > score(&flat(0.02, 4)).score);
        // A riskier bucket scores higher, other things equal.
        let catalog = Catalog::embedded().unwrap();
        let mut by_bucket: Vec<(u8, f64)> = catalog
            .instance_types()
            .filter_map(|it| {
                let a = it.spot_advice("us-east-1", OperatingSystem::Linux)?;
                let r = risk_score(
                    it,
                    "us-east-1",
                    OperatingSystem::Linux,
                    &flat(0.05, 4),
                    now(),
                )
                .ok()?;
                Some((a.interruption.index(), r.public_rate))
            })
            .collect();
        by_bucket.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.total_cmp(&b.1)));
        assert!(by_bucket.windows(2).all(|w| w[0].1 <= w[1].1));
    }

    proptest! {
        #[test]
        fn scores_stay_in_range(points in prop::collection::vec((0i64..400, 0.0001f64..20.0), 0..40)) {
            let catalog = Catalog::embedded().unwrap();
            let it = catalog.get("c5.xlarge").unwrap();
            let history: Vec<SpotPrice> = points
                .iter()
                .map(|&(h, p)| SpotPrice { at: at(h - 100), usd_per_hour: UsdPerHour::from_usd(p).unwrap() })
                .collect();
            let r = risk_score(it, "us-east-1", OperatingSystem::Linux, &history, now()).unwrap();
            for v in [r.score, r.public_rate, r.volatility, r.gap, r.time] {
                prop_assert!((0.0..=1.0).contains(&v), "{r:?}");
            }
        }
    }
}
