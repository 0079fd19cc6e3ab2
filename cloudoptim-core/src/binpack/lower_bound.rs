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
    /// How it was obtained: `lp-dual`, `per-pod`, `configuration-lp` or,
    /// if the solver failed, `single-resource`.
    pub method: String,
    /// The dual prices of the cluster-wide resource rows, $ per unit-hour
    /// (cores, GiB, pods, GPUs, GiB of ephemeral storage).
    pub resource_prices: Vec<(Dimension, f64)>,
}

/// A bound in $/h rounded down to the micro-dollar, so it stays a bound
/// (0 if it is not a finite positive number).
pub(crate) fn round_down(usd_per_hour: f64) -> UsdPerHour {
    let micro = (usd_per_hour * 1_000_000.0).floor();
    if micro.is_finite() && micro > 0.0 {
        UsdPerHour::from_micro_usd(micro as i64)
    } else {
        UsdPerHour::ZERO
    }
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
    let usd_per_hour = round_down(value);
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

/// A certified lower bound ($/h) on any set of nodes of the `candidates`
/// whose allocatable adds up to at least `demand` in CPU, memory and GPUs
/// (pod slots and ephemeral storage are left out: a relaxation, so the
/// bound only loosens). The aggregate LP of [`lower_bound`], for callers
/// outside the packer (consolidation's bound).
pub(crate) fn capacity_bound(demand: Resources, candidates: &[Candidate]) -> UsdPerHour {
    let rows: Vec<Row> = [Dimension::Cpu, Dimension::Memory, Dimension::Gpu]
        .into_iter()
        .filter(|&d| demand.get(d) > 0)
        .map(|dimension| Row::Resource {
            types: None,
            dimension,
            demand: demand.get(dimension),
        })
        .collect();
    if rows.is_empty() || candidates.is_empty() {
        return UsdPerHour::ZERO;
    }
    lower_bound(&rows, candidates).bound.usd_per_hour
}

/// The value of a resource vector at the given per-dimension dual prices.
pub(crate) fn value(prices: &[f64; 5], r: &Resources) -> f64 {
    Dimension::ALL
        .iter()
        .zip(prices)
        .map(|(d, p)| p * r.get(*d) as f64 / unit(*d))
        .sum()
}

/// Round each dimension down to its `bits` most significant bits, so pods
/// of nearly equal size share one bucket. Rounding down keeps a bound valid.
fn bucket(r: &Resources, bits: u32) -> Resources {
    let mut out = *r;
    for d in Dimension::ALL {
        let v = r.get(d);
        let width = 64 - v.leading_zeros();
        let keep = if width > bits {
            !((1u64 << (width - bits)) - 1)
        } else {
            u64::MAX
        };
        *out.get_mut(d) = v & keep;
    }
    out
}

/// Bits kept when pods are bucketed to certify the per-pod bound.
const CERTIFY_BITS: u32 = 8;

/// Bits kept when pods are bucketed to search the weights: coarser, so the
/// many steps stay cheap when every pod has its own shape. The weights
/// found are then evaluated on the fine buckets, which alone certify.
const SEARCH_BITS: u32 = 3;

/// Pods bucketed by rounded-down requests and class: per bucket, its pod
/// count, its requests (in each dimension's LP unit) and the types that
/// hold it.
struct Group<'a> {
    count: f64,
    requests: Resources,
    r: [f64; 5],
    types: &'a [usize],
}

fn groups<'a>(
    pods: &[(&Resources, usize)],
    bits: u32,
    class_types: &[&'a [usize]],
) -> Vec<Group<'a>> {
    let mut counts: std::collections::HashMap<(Resources, usize), f64> =
        std::collections::HashMap::new();
    for &(r, class) in pods {
        *counts.entry((bucket(r, bits), class)).or_default() += 1.0;
    }
    let mut out: Vec<Group<'a>> = counts
        .into_iter()
        .map(|((requests, k), count)| Group {
            count,
            requests,
            r: std::array::from_fn(|i| {
                Dimension::ALL
                    .get(i)
                    .map(|&d| requests.get(d) as f64)
                    .unwrap_or(0.0)
            }),
            types: class_types.get(k).copied().unwrap_or(&[]),
        })
        .collect();
    // Deterministic order (the sum is order-sensitive in floating point).
    out.sort_by(|a, b| {
        let key = |r: &Resources| {
            (
                r.cpu_millis,
                r.memory_bytes,
                r.pods,
                r.gpu_millis,
                r.ephemeral_storage_bytes,
            )
        };
        key(&a.requests)
            .cmp(&key(&b.requests))
            .then_with(|| a.types.cmp(b.types))
    });
    out
}

fn dot(a: &[f64; 5], b: &[f64; 5]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum::<f64>()
}

/// `Σ_bucket count · min_t price_t ⟨w_t, r / a_t⟩` over the types that
/// hold the bucket's pods, and its supergradient in `grad` when given.
fn evaluate(
    groups: &[Group<'_>],
    candidates: &[Candidate],
    w: &[[f64; 5]],
    mut grad: Option<&mut [[f64; 5]]>,
) -> f64 {
    // price_t · w_t,d / a_t,d, per type: a bucket's share is its dot with r.
    let per_unit: Vec<[f64; 5]> = candidates
        .iter()
        .enumerate()
        .map(|(t, c)| {
            let wt = w.get(t).copied().unwrap_or([0.0; 5]);
            let price = c.usd_per_hour.usd();
            std::array::from_fn(|i| {
                let a = Dimension::ALL
                    .get(i)
                    .map(|&d| c.allocatable.get(d))
                    .unwrap_or(0);
                if a == 0 {
                    0.0
                } else {
                    price * wt.get(i).copied().unwrap_or(0.0) / a as f64
                }
            })
        })
        .collect();
    if let Some(g) = grad.as_deref_mut() {
        g.iter_mut().for_each(|x| *x = [0.0; 5]);
    }
    let mut bound = 0.0;
    for g in groups {
        let mut min = f64::INFINITY;
        let mut arg = None;
        for &t in g.types {
            let (Some(c), Some(u)) = (candidates.get(t), per_unit.get(t)) else {
                continue;
            };
            if !g.requests.fits_within(&c.allocatable) {
                continue;
            }
            let share = dot(u, &g.r);
            if share < min {
                min = share;
                arg = Some((t, c));
            }
        }
        if let Some((t, c)) = arg {
            bound += g.count * min;
            if let Some(slot) = grad.as_deref_mut().and_then(|gr| gr.get_mut(t)) {
                let price = c.usd_per_hour.usd();
                for (i, gi) in slot.iter_mut().enumerate() {
                    let a = Dimension::ALL
                        .get(i)
                        .map(|&d| c.allocatable.get(d))
                        .unwrap_or(0);
                    if a > 0 {
                        *gi += g.count * price * g.r.get(i).copied().unwrap_or(0.0) / a as f64;
                    }
                }
            }
        }
    }
    bound
}

/// The per-pod bound: for any weights `w_t` on the simplex, one per type,
/// a node of type `t` holding pods `P` satisfies `Σ_p Σ_d w_t,d · r_p,d / a_t,d ≤ 1`,
/// so its price is at least `Σ_p price_t · ⟨w_t, r_p / a_t⟩`, and every
/// packing costs at least `Σ_p min_{t that can hold p} price_t · ⟨w_t, r_p / a_t⟩`.
/// Unlike the aggregate relaxation it knows that a pod's CPU, memory and
/// GPUs must come from the *same* node. The weights start from the LP dual
/// (which reproduces its bound) and improve by projected supergradient
/// ascent on pods bucketed coarsely (cheap when every pod has its own
/// shape); the best weights found are then evaluated with pods rounded
/// down only slightly, which is the bound (any weights give a valid one;
/// the caller keeps the LP dual's own bound, the starting point's, too).
///
/// `pods` are `(requests, class)`; `class_types[class]` are the candidate
/// types pods of that class may use.
pub(crate) fn per_pod_bound<'a>(
    pods: impl Iterator<Item = (&'a Resources, usize)>,
    class_types: &[&[usize]],
    candidates: &[Candidate],
    start_weights: &[[f64; 5]],
    steps: usize,
) -> f64 {
    let pods: Vec<(&Resources, usize)> = pods.collect();
    let fine = groups(&pods, CERTIFY_BITS, class_types);
    let coarse = groups(&pods, SEARCH_BITS, class_types);
    drop(pods);

    let mut w: Vec<[f64; 5]> = start_weights.to_vec();
    w.resize(candidates.len(), [0.2; 5]);
    let mut best: (f64, Vec<[f64; 5]>) = (f64::NEG_INFINITY, w.clone());
    let mut grad = vec![[0.0f64; 5]; candidates.len()];
    for step in 0..=steps {
        let bound = evaluate(&coarse, candidates, &w, Some(&mut grad));
        if bound.is_finite() && bound > best.0 {
            best = (bound, w.clone());
        }
        if step == steps {
            break;
        }
        let eta = 0.5 / ((step + 1) as f64).sqrt();
        for (wt, g) in w.iter_mut().zip(&grad) {
            let norm = g.iter().map(|x| x * x).sum::<f64>().sqrt();
            if norm > 0.0 {
                for (wi, gi) in wt.iter_mut().zip(g) {
                    *wi += eta * gi / norm;
                }
                project_to_simplex(wt);
            }
        }
    }
    let certified = evaluate(&fine, candidates, &best.1, None);
    if certified.is_finite() {
        certified.max(0.0)
    } else {
        0.0
    }
}

/// Euclidean projection onto `{w ≥ 0, Σ w = 1}`.
fn project_to_simplex(w: &mut [f64; 5]) {
    let mut sorted = *w;
    sorted.sort_by(|a, b| b.total_cmp(a));
    let mut cumulative = 0.0;
    let mut theta = 0.0;
    for (i, v) in sorted.iter().enumerate() {
        cumulative += v;
        let t = (cumulative - 1.0) / (i + 1) as f64;
        if v - t > 0.0 {
            theta = t;
        }
    }
    for x in w.iter_mut() {
        *x = (*x - theta).max(0.0);
    }
}

/// Starting weights for [`per_pod_bound`]: each type's share of its price
/// that the LP dual attributes to each dimension, normalized to sum 1.
pub(crate) fn dual_weights(rows: &[Row], duals: &[f64], candidates: &[Candidate]) -> Vec<[f64; 5]> {
    candidates
        .iter()
        .enumerate()
        .map(|(t, c)| {
            let mut w = [0.0; 5];
            for (row, y) in rows.iter().zip(duals) {
                if let Row::Resource { dimension, .. } = row {
                    if let Some(i) = Dimension::ALL.iter().position(|d| d == dimension) {
                        if let Some(slot) = w.get_mut(i) {
                            *slot += coefficient(row, t, c) * y / c.usd_per_hour.usd();
                        }
                    }
                }
            }
            let sum: f64 = w.iter().sum();
            if sum > 0.0 {
                w.iter_mut().for_each(|x| *x /= sum);
            } else {
                w = [0.2; 5];
            }
            w
        })
        .collect()
}
