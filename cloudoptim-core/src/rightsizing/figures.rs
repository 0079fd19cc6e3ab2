//! The arithmetic of one resource: percentile, margin, floors, caps, bounds,
//! the threshold and the limit.

use serde::{Deserialize, Serialize};

use super::{Change, LimitPolicy, Recommendation, RightsizingPolicy, MIB};
use crate::oom::{format_memory, CapSource};
use crate::resources::Dimension;
use crate::usage::{ContainerHistograms, DecayingHistogram};

/// Lower and upper bounds of a recommendation, in the resource's unit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bounds {
    /// Below this the container is likely starved.
    pub lower: u64,
    /// Above this the request is likely wasted.
    pub upper: u64,
}

/// The VPA's confidence in a recommendation: `min(days of history,
/// samples / 1440)` (1440 is a day of one-minute samples). Lower
/// confidence widens the bounds.
///
/// ```
/// use cloudoptim_core::rightsizing::confidence;
/// assert_eq!(confidence(7 * 86_400, 7 * 1440), 7.0);
/// // A week of 15-minute samples: 672 samples, confidence 0.47.
/// assert!((confidence(7 * 86_400, 672) - 0.4667).abs() < 1e-3);
/// assert_eq!(confidence(0, 0), 0.0);
/// ```
pub fn confidence(history_seconds: i64, samples: u64) -> f64 {
    let days = history_seconds.max(0) as f64 / 86_400.0;
    days.min(samples as f64 / 1440.0)
}

/// `x` rounded up to a multiple of `step`, saturating; NaN and negatives are 0.
fn ceil_to(x: f64, step: u64) -> u64 {
    if x.is_nan() || x <= 0.0 {
        return 0;
    }
    let steps = (x / step as f64).ceil();
    if steps >= (u64::MAX / step) as f64 {
        u64::MAX / step * step
    } else {
        steps as u64 * step
    }
}

/// The VPA's confidence multipliers: `(1 + m / c)^e`, infinite at `c = 0`
/// for a positive exponent.
fn with_confidence(value: f64, confidence: f64, multiplier: f64, exponent: f64) -> f64 {
    if confidence <= 0.0 {
        return if exponent > 0.0 { f64::INFINITY } else { 0.0 };
    }
    value * (1.0 + multiplier / confidence).powf(exponent)
}

struct Limits<'a> {
    floor: u64,
    policy_max: Option<u64>,
    node: Option<&'a (u64, CapSource)>,
    step: u64,
}

impl Limits<'_> {
    fn cap(&self) -> u64 {
        self.policy_max
            .unwrap_or(u64::MAX)
            .min(self.node.map_or(u64::MAX, |c| c.0))
    }

    /// Floors, then caps (a cap below the floor wins: no request above a node).
    fn apply(&self, value: u64) -> u64 {
        value.max(self.floor).min(self.cap())
    }
}

fn empty(resource: Dimension, request: u64, limit: Option<u64>) -> Recommendation {
    Recommendation {
        resource,
        current_request: request,
        current_limit: limit,
        percentile: None,
        target: request,
        bounds: Bounds {
            lower: request,
            upper: request,
        },
        new_request: request,
        new_limit: limit,
        change: Change::NoData,
        why: "no samples".into(),
    }
}

#[allow(clippy::too_many_arguments)]
fn finish(
    resource: Dimension,
    policy: &RightsizingPolicy,
    limits: &Limits<'_>,
    raw_target: u64,
    (p50, p95): (f64, f64),
    margin: f64,
    confidence: f64,
    percentile: f64,
    request: u64,
    limit: Option<u64>,
    mut why: String,
) -> Recommendation {
    let target = limits.apply(raw_target);
    if target < raw_target {
        let source = match limits.node {
            Some((amount, source)) if *amount == limits.cap() => match source {
                CapSource::Policy => "the policy's maximum".to_owned(),
                CapSource::LargestNode { instance_type } => {
                    format!("what a {instance_type} offers pods")
                }
                CapSource::ExistingNode { node } => format!("what node {node} offers pods"),
            },
            _ => "the policy's maximum".to_owned(),
        };
        why.push_str(&format!(
            "; capped at {} ({source})",
            super::format_amount(resource, target)
        ));
    } else if target > raw_target {
        why.push_str(&format!(
            "; floor {}",
            super::format_amount(resource, limits.floor)
        ));
    }
    let lower = limits.apply(ceil_to(
        with_confidence(p50 * margin, confidence, 0.001, -2.0),
        limits.step,
    ));
    let upper = limits.apply(ceil_to(
        with_confidence(p95 * margin, confidence, 1.0, 1.0),
        limits.step,
    ));
    let bounds = Bounds {
        lower: lower.min(target),
        upper: upper.max(target),
    };
    let moved = u128::from(target.abs_diff(request)) * 100;
    let change =
        if request == 0 || moved >= u128::from(policy.min_change_percent) * u128::from(request) {
            if target == request {
                Change::WithinThreshold
            } else {
                Change::Patch
            }
        } else {
            Change::WithinThreshold
        };
    let new_limit = limit.map(|l| match policy.limits {
        LimitPolicy::Keep => l.max(target),
        LimitPolicy::KeepRatio if request == 0 => l.max(target),
        LimitPolicy::KeepRatio => {
            let scaled = (u128::from(l) * u128::from(target)).div_ceil(u128::from(request));
            let scaled = scaled.div_ceil(u128::from(limits.step)) * u128::from(limits.step);
            u64::try_from(scaled).unwrap_or(u64::MAX).max(target)
        }
    });
    Recommendation {
        resource,
        current_request: request,
        current_limit: limit,
        percentile: Some(percentile),
        target,
        bounds,
        new_request: target,
        new_limit,
        change,
        why,
    }
}

fn quantiles(h: &DecayingHistogram, p: f64) -> Option<(f64, f64, f64)> {
    Some((
        h.percentile(p)?,
        h.percentile(0.5)?,
        h.percentile(p.max(0.95))?,
    ))
}

pub(super) fn cpu(
    h: &DecayingHistogram,
    policy: &RightsizingPolicy,
    margin: f64,
    confidence: f64,
    node: Option<&(u64, CapSource)>,
    request: u64,
    limit: Option<u64>,
) -> Recommendation {
    let Some((p, p50, p95)) = quantiles(h, policy.cpu_percentile) else {
        return empty(Dimension::Cpu, request, limit);
    };
    let limits = Limits {
        floor: policy.min_cpu_millis,
        policy_max: policy.max_cpu_millis,
        node,
        step: 1,
    };
    let raw = ceil_to(p * margin, 1);
    let why = format!(
        "p{} {:.0}m × {margin:.2}",
        percent(policy.cpu_percentile),
        p
    );
    finish(
        Dimension::Cpu,
        policy,
        &limits,
        raw,
        (p50, p95),
        margin,
        confidence,
        p,
        request,
        limit,
        why,
    )
}

#[allow(clippy::too_many_arguments)]
pub(super) fn memory(
    h: &ContainerHistograms,
    policy: &RightsizingPolicy,
    margin: f64,
    confidence: f64,
    node: Option<&(u64, CapSource)>,
    oom_floor: Option<u64>,
    request: u64,
    limit: Option<u64>,
) -> Recommendation {
    let Some((p, p50, p95)) = quantiles(&h.memory_peak_bytes, policy.memory_percentile) else {
        return empty(Dimension::Memory, request, limit);
    };
    let limits = Limits {
        floor: policy.min_memory_bytes,
        policy_max: policy.max_memory_bytes,
        node,
        step: MIB,
    };
    let from_percentile = ceil_to(p * margin, MIB);
    let from_peak = ceil_to(h.max_memory_bytes * margin, MIB);
    let mut raw = from_percentile.max(from_peak);
    let mut why = format!(
        "p{} of peaks {} × {margin:.2}",
        percent(policy.memory_percentile),
        format_memory(ceil_to(p, MIB))
    );
    if from_peak > from_percentile {
        why.push_str(&format!(
            "; raised to the largest sample {} × {margin:.2}",
            format_memory(ceil_to(h.max_memory_bytes, MIB))
        ));
    }
    if let Some(floor) = oom_floor.filter(|f| *f > raw) {
        raw = floor;
        why.push_str(&format!(
            "; raised to {} for a recent OOM kill",
            format_memory(floor)
        ));
    }
    finish(
        Dimension::Memory,
        policy,
        &limits,
        raw,
        (p50, p95),
        margin,
        confidence,
        p,
        request,
        limit,
        why,
    )
}

fn percent(p: f64) -> String {
    let v = (p * 100.0 * 10.0).round() / 10.0;
    if v.fract() == 0.0 {
        format!("{v:.0}")
    } else {
        format!("{v}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounding_saturates_and_refuses_nan() {
        assert_eq!(ceil_to(f64::NAN, 1), 0);
        assert_eq!(ceil_to(-3.0, MIB), 0);
        assert_eq!(ceil_to(1.0, MIB), MIB);
        assert_eq!(ceil_to(f64::INFINITY, MIB), u64::MAX / MIB * MIB);
        assert_eq!(ceil_to(2.000_1, 1), 3);
    }

    #[test]
    fn no_confidence_means_an_unbounded_upper_and_a_zero_lower_bound() {
        assert_eq!(with_confidence(100.0, 0.0, 1.0, 1.0), f64::INFINITY);
        assert_eq!(with_confidence(100.0, 0.0, 0.001, -2.0), 0.0);
        assert_eq!(with_confidence(100.0, 1.0, 1.0, 1.0), 200.0);
    }
}
