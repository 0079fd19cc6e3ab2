//! A certified lower bound on the cost of any feasible packing.
//!
//! The linear relaxation: with `x_t ≥ 0` nodes of each type `t`,
//!
//! ```text
//! minimize   Σ_t price_t · x_t
//! subject to Σ_t alloc_t,d · x_t          ≥ demand_d        every dimension d (all pods)
//!            Σ_{t ∈ T_k} alloc_t,d · x_t  ≥ demand_k,d      every class k whose pods may use only T_k
//!            Σ_{t ∈ T_g} x_t              ≥ |g|             every anti-affinity group g (one pod per node)
//! ```
//!
//! Every feasible packing satisfies these rows, so the relaxation's optimum
//! is a lower bound. We solve its **dual** (`maximize Σ demand · y` subject
//! to `Σ_r alloc_r,t · y_r ≤ price_t`, `y ≥ 0`) and then *verify* the dual
//! solution, scaling it down until every type's constraint holds exactly in
//! floating point: by weak duality any feasible `y` bounds the optimum, so
//! the bound stands even if the solver were imprecise. The dual values are
//! also the resource prices ($ per core-hour, per GiB-hour, …) the packer
//! uses to order pods and choose instance types.

use serde::{Deserialize, Serialize};

use super::candidates::Candidate;
use crate::money::UsdPerHour;
use crate::resources::{Dimension, Resources};

/// Units the LP works in, so its numbers stay near 1.
fn unit(d: Dimension) -> f64 {
    match d {
        Dimension::Cpu | Dimension::Gpu => 1000.0,
        Dimension::Memory | Dimension::EphemeralStorage => (1u64 << 30) as f64,
        Dimension::Pods => 1.0,
    }
}

/// One row of the relaxation: the types it covers and what they must supply.
pub(crate) enum Row {
    /// `Σ_{t ∈ types} alloc_t,d · x_t ≥ demand`.
    Resource {
        /// Covered types (all when `None`).
        types: Option<Vec<usize>>,
        /// Dimension.
        dimension: Dimension,
        /// Demand, in the dimension's unit.
        demand: u64,
    },
    /// `Σ_{t ∈ types} x_t ≥ nodes`.
    Nodes {
        /// Covered types.
        types: Vec<usize>,
        /// Nodes needed.
        nodes: u64,
    },
}

/// A lower bound on the hourly price of any packing.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct LowerBound {
    /// The bound.
    pub usd_per_hour: UsdPerHour,
    /// How it was obtained: `lp-dual` or, if the solver failed, `single-resource`.
    pub method: String,
    /// The dual prices of the cluster-wide resource rows, $ per unit-hour
    /// (cores, GiB, pods, GPUs, GiB of ephemeral storage).
    pub resource_prices: Vec<(Dimension, f64)>,
}

/// The bound and the dual value of every row.
pub(crate) struct Solved {
    pub bound: LowerBound,
    pub duals: Vec<f64>,
}

fn coefficient(row: &Row, t: usize, candidate: &Candidate) -> f64 {
    match row {
        Row::Resource {
            types, dimension, ..
        } => {
            let covered = types.as_ref().is_none_or(|ts| ts.binary_search(&t).is_ok());
            if covered {
                candidate.allocatable.get(*dimension) as f64 / unit(*dimension)
            } else {
                0.0
            }
        }
        Row::Nodes { types, .. } => {
            if types.binary_search(&t).is_ok() {
                1.0
            } else {
                0.0
            }
        }
    }
}

fn demand(row: &Row) -> f64 {
    match row {
        Row::Resource {
            dimension, demand, ..
        } => *demand as f64 / unit(*dimension),
        Row::Nodes { nodes, .. } => *nodes as f64,
    }
}

/// Scale `duals` until they are feasible for every candidate, and return the bound.
fn certify(rows: &[Row], candidates: &[Candidate], duals: &mut [f64]) -> f64 {
    for y in duals.iter_mut() {
        if !y.is_finite() || *y < 0.0 {
            *y = 0.0;
        }
    }
    let mut worst: f64 = 0.0;
    for (t, c) in candidates.iter().enumerate() {
        let used: f64 = rows
            .iter()
            .zip(duals.iter())
            .map(|(r, y)| coefficient(r, t, c) * y)
            .sum();
        worst = worst.max(used / c.usd_per_hour.usd());
    }
    if worst > 1.0 {
        // A hair more than needed, so rounding cannot push it back over.
        let scale = 1.0 / (worst * (1.0 + 1e-12));
        duals.iter_mut().for_each(|y| *y *= scale);
    }
    rows.iter()
        .zip(duals.iter())
        .map(|(r, y)| demand(r) * y)
        .sum()
}

/// The best single-row bound: the cheapest price per unit of one dimension
/// times the demand for it. Always valid; used when the LP cannot be solved.
fn single_resource(rows: &[Row], candidates: &[Candidate]) -> Vec<f64> {
    let mut best = (0.0, vec![0.0; rows.len()]);
    for (r, row) in rows.iter().enumerate() {
        let cheapest = candidates
            .iter()
            .enumerate()
            .filter_map(|(t, c)| {
                let a = coefficient(row, t, c);
                (a > 0.0).then(|| c.usd_per_hour.usd() / a)
            })
            .fold(f64::INFINITY, f64::min);
        if cheapest.is_finite() {
            let value = cheapest * demand(row);
            if value > best.0 {
                let mut duals = vec![0.0; rows.len()];
                if let Some(y) = duals.get_mut(r) {
                    *y = cheapest;
                }
                best = (value, duals);
            }
        }
    }
    best.1
}

fn solve_dual(rows: &[Row], candidates: &[Candidate]) -> Option<Vec<f64>> {
    use microlp::{ComparisonOp, OptimizationDirection, Problem};
    let mut problem = Problem::new(OptimizationDirection::Maximize);
    let vars: Vec<_> = rows
        .iter()
        .map(|r| problem.add_var(demand(r), (0.0, f64::INFINITY)))
        .collect();
    for (t, c) in candidates.iter().enumerate() {
        let terms: Vec<_> = rows
            .iter()
            .zip(&vars)
            .filter_map(|(r, v)| {
                let a = coefficient(r, t, c);
                (a > 0.0).then_some((*v, a))
            })
            .collect();
        if !terms.is_empty() {
            problem.add_constraint(terms, ComparisonOp::Le, c.usd_per_hour.usd());
        }
    }
    // The solver is third-party code; a failure of it must not take the
    // caller down, and the fallback bound is always available.
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| problem.solve()))
        .ok()?
        .ok()?;
    match outcome {
        microlp::SolveOutcome::Solution(solution) => {
            Some(vars.iter().map(|v| solution[*v]).collect())
        }
        microlp::SolveOutcome::Interrupted(_) => None,
    }
}

/// Solve the relaxation's dual and certify it.
pub(crate) fn lower_bound(rows: &[Row], candidates: &[Candidate]) -> Solved {
    let fallback = single_resource(rows, candidates);
    let (method, mut duals) = match solve_dual(rows, candidates) {
        Some(d) => ("lp-dual", d),
        None => ("single-resource", fallback.clone()),
    };
    let mut value = certify(rows, candidates, &mut duals);
    let mut fallback = fallback;
    let fallback_value = certify(rows, candidates, &mut fallback);
    let method = if fallback_value > value {
        value = fallback_value;
        duals = fallback;
        "single-resource"
    } else {
        method
    };
    // Round down to the micro-dollar so the bound stays a bound.
    let micro = (value * 1_000_000.0).floor();
    let usd_per_hour = UsdPerHour::from_micro_usd(if micro.is_finite() && micro > 0.0 {
        micro as i64
    } else {
        0
    });
    let resource_prices = rows
        .iter()
        .zip(&duals)
        .filter_map(|(r, y)| match r {
            Row::Resource {
                types: None,
                dimension,
                ..
            } => Some((*dimension, *y)),
            _ => None,
        })
        .collect();
    Solved {
        bound: LowerBound {
            usd_per_hour,
            method: method.into(),
            resource_prices,
        },
        duals,
    }
}

/// The value of a resource vector at the given per-dimension dual prices.
pub(crate) fn value(prices: &[f64; 5], r: &Resources) -> f64 {
    Dimension::ALL
        .iter()
        .zip(prices)
        .map(|(d, p)| p * r.get(*d) as f64 / unit(*d))
        .sum()
}
