//! The configuration LP (Gilmore–Gomory), solved by column generation, and
//! the lower bound it certifies.
//!
//! Pods with identical requests and constraints form a **kind** `k` with
//! `d_k` pods. A **pattern** `p` is one node: a slot (instance type and
//! zone) and how many pods of each kind it holds, `n_p,k`, within the
//! type's allocatable in every dimension. The configuration LP
//!
//! ```text
//! minimize   Σ_p price_p · x_p
//! subject to Σ_p n_p,k · x_p ≥ d_k     every kind k
//!            x_p ≥ 0
//! ```
//!
//! relaxes packing far more tightly than the aggregate LP of
//! [`super::lower_bound`]: it knows pods are indivisible and that each
//! comes from one node. It has too many patterns to write down, so it is
//! solved by column generation: a restricted master over the patterns found
//! so far gives dual prices `y_k`, and for every slot a knapsack
//! ([`super::knapsack`]) looks for a pattern worth more at those prices
//! than its node costs. The master is solved in its dual form
//! (`maximize Σ_k d_k y_k` subject to `Σ_k n_p,k y_k ≤ price_p` for every
//! known pattern) over the patterns that bind; the others wait in a pool
//! and come back whenever the prices undervalue them. Column generation
//! stops after a number of rounds or of knapsack LP solves (a
//! deterministic budget), or when the bound comes close to the master.
//!
//! # The bound (Farley)
//!
//! For any `y ≥ 0`, let `θ = max_slots U_s(y) / price_s`, where `U_s(y)`
//! is an **upper** bound on the value `Σ_k n_k y_k` of any pattern of slot
//! `s`. Then `y / θ` is feasible for the dual of the *full* configuration
//! LP (every pattern, known or not, is worth at most its price), so by weak
//! duality `Σ_k d_k y_k / θ` is at most the LP's optimum, which is at most
//! the cost of any feasible packing. Everything here only needs
//! `U_s` to be an upper bound: the knapsack search returns one even when
//! stopped early. Relaxations only loosen it, never break it: a kind may
//! use a slot whenever its class's selectors allow it (the zone that
//! topology spread chose is ignored), anti-affinity only caps a kind at one
//! pod per node, and no pattern holds more pods of a kind than it has.
//! A slot may be skipped if another slot is at most as expensive, offers at
//! least as much in every dimension and accepts every kind it does: its
//! patterns are that slot's patterns too, at no lower price, so its ratio
//! is no larger. The value is finally divided by `θ (1 + 10⁻⁹)` against
//! rounding.

use std::collections::HashMap;

use super::candidates::Candidate;
use super::knapsack::{self, Item};
use crate::resources::Resources;

/// Pods with identical requests and constraints.
pub(crate) struct Kind {
    /// What one requests.
    pub requests: Resources,
    /// How many there are.
    pub count: u32,
    /// At most this many on one node (1 under hostname anti-affinity).
    pub per_node: u32,
    /// The slots (`candidate * zones + zone`) its pods may use.
    pub compatible: Vec<bool>,
    /// The slots its selectors allow, whatever zone the packer chose (for the bound).
    pub relaxed: Vec<bool>,
}

/// One node's worth of pods.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Pattern {
    /// Instance type (index into the candidates).
    pub candidate: usize,
    /// Zone.
    pub zone: usize,
    /// `(kind, count)`, by kind.
    pub counts: Vec<(usize, u32)>,
}

/// A set of slots of one instance type that accept the same kinds.
struct SlotGroup {
    candidate: usize,
    zones: Vec<usize>,
    kinds: Vec<usize>,
    price: f64,
}

/// The problem column generation works on.
pub(crate) struct Configurations<'a> {
    candidates: &'a [Candidate],
    kinds: &'a [Kind],
    /// Slot groups kinds may use as the packer placed them.
    groups: Vec<SlotGroup>,
}

/// The restricted master's solution.
pub(crate) struct Master {
    /// The patterns found.
    pub patterns: Vec<Pattern>,
    /// Dual price of each kind.
    pub duals: Vec<f64>,
    /// The duals that gave the best bound while generating, if any.
    pub center: Option<Vec<f64>>,
}

fn price(candidates: &[Candidate], t: usize) -> f64 {
    candidates
        .get(t)
        .map(|c| c.usd_per_hour.usd())
        .unwrap_or(f64::INFINITY)
}

/// The slot groups, without the dominated ones.
fn slot_groups(
    candidates: &[Candidate],
    zones: usize,
    kinds: &[Kind],
    relaxed: bool,
) -> Vec<SlotGroup> {
    let mut groups: Vec<SlotGroup> = Vec::new();
    for (t, c) in candidates.iter().enumerate() {
        let mut by_signature: Vec<(Vec<usize>, Vec<usize>)> = Vec::new();
        for z in 0..zones {
            let slot = t * zones + z;
            let accepted: Vec<usize> = kinds
                .iter()
                .enumerate()
                .filter(|(_, k)| {
                    let map = if relaxed { &k.relaxed } else { &k.compatible };
                    map.get(slot).copied().unwrap_or(false)
                        && k.requests.fits_within(&c.allocatable)
                })
                .map(|(i, _)| i)
                .collect();
            if accepted.is_empty() {
                continue;
            }
            match by_signature.iter_mut().find(|(s, _)| *s == accepted) {
                Some((_, zs)) => zs.push(z),
                None => by_signature.push((accepted, vec![z])),
            }
        }
        for (accepted, zs) in by_signature {
            groups.push(SlotGroup {
                candidate: t,
                zones: zs,
                kinds: accepted,
                price: c.usd_per_hour.usd(),
            });
        }
    }
    // Candidates come cheapest first, so a dominating group comes earlier.
    let dominates = |a: &SlotGroup, b: &SlotGroup| {
        let (Some(ca), Some(cb)) = (candidates.get(a.candidate), candidates.get(b.candidate))
        else {
            return false;
        };
        a.price <= b.price
            && cb.allocatable.fits_within(&ca.allocatable)
            && b.kinds.iter().all(|k| a.kinds.binary_search(k).is_ok())
    };
    let mut kept: Vec<SlotGroup> = Vec::new();
    for g in groups {
        if !kept.iter().any(|k| dominates(k, &g)) {
            kept.push(g);
        }
    }
    kept
}

impl<'a> Configurations<'a> {
    /// The problem for these kinds.
    pub(crate) fn new(candidates: &'a [Candidate], zones: usize, kinds: &'a [Kind]) -> Self {
        Configurations {
            candidates,
            kinds,
            groups: slot_groups(candidates, zones, kinds, false),
        }
    }

    fn items(&self, group: &SlotGroup, duals: &[f64], demand: &[u32]) -> Vec<Item> {
        group
            .kinds
            .iter()
            .map(|&k| {
                let kind = self.kinds.get(k);
                Item {
                    value: duals.get(k).copied().unwrap_or(0.0),
                    size: kind.map(|x| x.requests).unwrap_or_default(),
                    cap: kind
                        .map(|x| x.per_node)
                        .unwrap_or(0)
                        .min(demand.get(k).copied().unwrap_or(0)),
                }
            })
            .collect()
    }

    /// Price the slot groups at `duals`: the patterns found worth more than
    /// their node, and `θ`, the largest upper bound on a pattern's value per
    /// dollar, when every group was priced. With `only_hot`, only the
    /// groups whose last bound exceeded their price are (`ratios` keeps
    /// each group's last bound per dollar). `work` counts LP solves.
    fn price_out(
        &self,
        duals: &[f64],
        demand: &[u32],
        node_limit: usize,
        only_hot: bool,
        ratios: &mut [f64],
        work: &mut usize,
    ) -> (Option<f64>, Vec<Pattern>) {
        let mut theta: f64 = 0.0;
        let mut found = Vec::new();
        for (g, ratio) in self.groups.iter().zip(ratios.iter_mut()) {
            if only_hot && *ratio <= 1.0 + 1e-9 {
                continue;
            }
            let Some(c) = self.candidates.get(g.candidate) else {
                continue;
            };
            let items = self.items(g, duals, demand);
            let s = knapsack::solve(&items, &c.allocatable, node_limit, 16, g.price);
            *work += s.work;
            *ratio = s.upper / g.price;
            theta = theta.max(*ratio);
            for counts in &s.others {
                let counts: Vec<(usize, u32)> = g
                    .kinds
                    .iter()
                    .zip(counts)
                    .filter(|(_, &n)| n > 0)
                    .map(|(&k, &n)| (k, n))
                    .collect();
                found.push(Pattern {
                    candidate: g.candidate,
                    zone: g.zones.first().copied().unwrap_or(0),
                    counts,
                });
            }
        }
        ((!only_hot).then_some(theta), found)
    }

    /// Column generation from `initial` patterns: at most `rounds` rounds
    /// of at most `per_round` new patterns, and about `budget` LP solves
    /// in the pricing knapsacks. Prices are smoothed (Wentges): a round
    /// first prices, at the midpoint of the master's duals and the
    /// best-bounding duals so far, the slot groups that last had room for
    /// a better pattern; if that finds nothing, every group at the
    /// master's own duals, with longer searches before giving up. Stops
    /// early when the bound comes within `gap` (relative) of the master.
    pub(crate) fn generate(
        &self,
        initial: Vec<Pattern>,
        demand: &[u32],
        rounds: usize,
        per_round: usize,
        budget: usize,
        gap: f64,
    ) -> Option<Master> {
        let mut patterns = initial;
        // The master holds the patterns that bind (plus the new ones); the
        // others wait in `patterns` and come back when the prices make
        // them worth more than their node.
        let mut active: Vec<usize> = (0..patterns.len()).collect();
        let mut duals = self.solve_master(demand, &patterns, &mut active)?;
        let total =
            |y: &[f64]| -> f64 { y.iter().zip(demand).map(|(v, d)| v * f64::from(*d)).sum() };
        let mut center: Option<(f64, Vec<f64>)> = None;
        let mut ratios = vec![f64::INFINITY; self.groups.len()];
        let mut work = 0usize;
        let mut limit = 4usize;
        for _ in 0..rounds {
            let current = duals.clone();
            let objective = total(&current);
            if work >= budget
                || center
                    .as_ref()
                    .is_some_and(|(lb, _)| objective - lb <= gap * objective)
            {
                break;
            }
            let mut columns: Vec<(f64, Pattern)> = Vec::new();
            let mut attempts: Vec<(bool, usize)> = vec![(true, limit), (false, limit)];
            let mut l = limit;
            while l < 512 {
                l *= 8;
                attempts.push((false, l));
            }
            for (hot, node_limit) in attempts {
                let y: Vec<f64> = match (&center, hot) {
                    (Some((_, c)), true) => {
                        c.iter().zip(&current).map(|(a, b)| 0.5 * (a + b)).collect()
                    }
                    _ => current.clone(),
                };
                let (theta, found) =
                    self.price_out(&y, demand, node_limit, hot, &mut ratios, &mut work);
                if let Some(theta) = theta.filter(|t| *t > 0.0) {
                    let lb = total(&y) / theta;
                    if center.as_ref().is_none_or(|(best, _)| lb > *best) {
                        center = Some((lb, y.clone()));
                    }
                }
                for p in found {
                    let value: f64 = p
                        .counts
                        .iter()
                        .map(|&(k, n)| current.get(k).copied().unwrap_or(0.0) * f64::from(n))
                        .sum();
                    let ratio = value / price(self.candidates, p.candidate);
                    if ratio > 1.0 + 1e-9 && !patterns.contains(&p) {
                        columns.push((ratio, p));
                    }
                }
                if !columns.is_empty() {
                    limit = node_limit;
                    break;
                }
                if work >= budget {
                    break;
                }
            }
            if columns.is_empty() {
                break;
            }
            columns.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.candidate.cmp(&b.1.candidate)));
            let mut added = 0;
            for (_, p) in columns {
                if added >= per_round {
                    break;
                }
                if patterns.contains(&p) {
                    continue;
                }
                active.push(patterns.len());
                patterns.push(p);
                added += 1;
            }
            duals = self.solve_master(demand, &patterns, &mut active)?;
        }
        Some(Master {
            patterns,
            duals,
            center: center.map(|(_, y)| y),
        })
    }

    /// Solve the master over the `active` patterns, bring back every other
    /// pattern the duals undervalue and solve again, until none is; then
    /// keep active only the patterns that bind. Returns the duals.
    fn solve_master(
        &self,
        demand: &[u32],
        patterns: &[Pattern],
        active: &mut Vec<usize>,
    ) -> Option<Vec<f64>> {
        let mut is_active = vec![false; patterns.len()];
        for &a in active.iter() {
            if let Some(x) = is_active.get_mut(a) {
                *x = true;
            }
        }
        let slack = |p: &Pattern, y: &[f64]| {
            let value: f64 = p
                .counts
                .iter()
                .map(|&(k, n)| y.get(k).copied().unwrap_or(0.0) * f64::from(n))
                .sum();
            price(self.candidates, p.candidate) - value
        };
        loop {
            let rows: Vec<&Pattern> = active.iter().filter_map(|&a| patterns.get(a)).collect();
            let duals = solve_dual_master(self, demand, &rows)?;
            let mut more = false;
            for (i, p) in patterns.iter().enumerate() {
                if !is_active.get(i).copied().unwrap_or(true)
                    && slack(p, &duals) < -1e-9 * price(self.candidates, p.candidate)
                {
                    active.push(i);
                    if let Some(x) = is_active.get_mut(i) {
                        *x = true;
                    }
                    more = true;
                }
            }
            if !more {
                active.retain(|&a| {
                    patterns.get(a).is_some_and(|p| {
                        slack(p, &duals) <= 1e-7 * price(self.candidates, p.candidate)
                    })
                });
                return Some(duals);
            }
        }
    }
}

fn catch<T>(f: impl FnOnce() -> Result<microlp::SolveOutcome, T>) -> Option<microlp::Solution> {
    // The solver is third-party code; a failure of it must not take the caller down.
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f))
        .ok()?
        .ok()?
    {
        microlp::SolveOutcome::Solution(s) => Some(s),
        microlp::SolveOutcome::Interrupted(_) => None,
    }
}

/// The master in dual form over `patterns`: the dual price of every kind.
fn solve_dual_master(
    conf: &Configurations<'_>,
    demand: &[u32],
    patterns: &[&Pattern],
) -> Option<Vec<f64>> {
    use microlp::{ComparisonOp, OptimizationDirection, Problem};
    let mut problem = Problem::new(OptimizationDirection::Maximize);
    // y_k is at most the price of the cheapest node that holds one pod of
    // kind k (that one-pod pattern is always there).
    let vars: Vec<_> = (0..conf.kinds.len())
        .map(|k| {
            let single = conf
                .groups
                .iter()
                .filter(|g| g.kinds.binary_search(&k).is_ok())
                .map(|g| g.price)
                .fold(f64::INFINITY, f64::min);
            let d = f64::from(demand.get(k).copied().unwrap_or(0));
            problem.add_var(d, (0.0, if single.is_finite() { single } else { 0.0 }))
        })
        .collect();
    for p in patterns {
        let terms: Vec<_> = p
            .counts
            .iter()
            .filter_map(|&(k, n)| Some((*vars.get(k)?, f64::from(n))))
            .collect();
        if !terms.is_empty() {
            problem.add_constraint(terms, ComparisonOp::Le, price(conf.candidates, p.candidate));
        }
    }
    let solution = catch(|| problem.solve())?;
    Some(
        vars.iter()
            .map(|v| solution.var_value(*v).max(0.0))
            .collect(),
    )
}

/// Farley's bound (see the module docs) for the dual prices `duals`:
/// `Σ_k d_k y_k / θ`, in $/h, or 0 if it cannot be established.
pub(crate) fn farley_bound(
    candidates: &[Candidate],
    zones: usize,
    kinds: &[Kind],
    duals: &[f64],
    node_limit: usize,
) -> f64 {
    let groups = slot_groups(candidates, zones, kinds, true);
    let conf = Configurations {
        candidates,
        kinds,
        groups: Vec::new(),
    };
    let demand: Vec<u32> = kinds.iter().map(|k| k.count).collect();
    let y: Vec<f64> = duals
        .iter()
        .map(|v| if v.is_finite() && *v > 0.0 { *v } else { 0.0 })
        .collect();
    // Cheap bounds first, then the groups that set θ searched harder.
    let mut ratios: Vec<(f64, usize)> = groups
        .iter()
        .enumerate()
        .filter_map(|(i, g)| {
            let c = candidates.get(g.candidate)?;
            let s = knapsack::solve(
                &conf.items(g, &y, &demand),
                &c.allocatable,
                0,
                1,
                f64::INFINITY,
            );
            Some((s.upper / g.price, i))
        })
        .collect();
    ratios.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    let mut theta: f64 = 0.0;
    for &(r, i) in &ratios {
        if r <= theta {
            break;
        }
        let Some(g) = groups.get(i) else { continue };
        let Some(c) = candidates.get(g.candidate) else {
            continue;
        };
        let s = knapsack::solve(
            &conf.items(g, &y, &demand),
            &c.allocatable,
            node_limit,
            1,
            f64::INFINITY,
        );
        theta = theta.max((s.upper / g.price).min(r));
    }
    let total: f64 = y.iter().zip(&demand).map(|(v, d)| v * f64::from(*d)).sum();
    if theta > 0.0 && total.is_finite() {
        total / (theta * (1.0 + 1e-9))
    } else {
        0.0
    }
}

/// The cheapest fractional combination of `patterns` that covers `demand`
/// (the multiplicity of each pattern), if the solver finds one.
pub(crate) fn cover(
    candidates: &[Candidate],
    patterns: &[Pattern],
    demand: &[u32],
) -> Option<Vec<f64>> {
    use microlp::{ComparisonOp, OptimizationDirection, Problem};
    let mut problem = Problem::new(OptimizationDirection::Minimize);
    let vars: Vec<_> = patterns
        .iter()
        .map(|p| problem.add_var(price(candidates, p.candidate), (0.0, f64::INFINITY)))
        .collect();
    let mut rows: HashMap<usize, Vec<(microlp::Variable, f64)>> = HashMap::new();
    for (p, v) in patterns.iter().zip(&vars) {
        for &(k, n) in &p.counts {
            rows.entry(k).or_default().push((*v, f64::from(n)));
        }
    }
    for (k, &d) in demand.iter().enumerate() {
        if d == 0 {
            continue;
        }
        let terms = rows.remove(&k)?;
        problem.add_constraint(terms, ComparisonOp::Ge, f64::from(d));
    }
    let solution = catch(|| problem.solve())?;
    Some(
        vars.iter()
            .map(|v| solution.var_value(*v).max(0.0))
            .collect(),
    )
}
