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
//! than its node costs. The master ([`super::master`]) is a primal revised
//! simplex that keeps its basis from round to round, so each round only
//! pivots the new patterns in; its first columns are one pod of each kind
//! on the cheapest node that takes it, so it is always feasible. Column
//! generation stops after a number of rounds or of knapsack LP solves (a
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

use std::collections::HashSet;

use super::candidates::Candidate;
use super::knapsack::{self, Item};
use super::master::{CoverLp, Stop};
use crate::resources::Resources;

/// Pivots the master may make per solve before column generation goes on
/// with the feasible basis it has (a safety net; it is not reached in practice).
const MASTER_PIVOTS: usize = 100_000;

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
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
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
    /// How many nodes of each pattern the master's solution uses.
    pub copies: Vec<f64>,
    /// What that solution costs ($/h): the configuration LP's optimum lies
    /// between Farley's bound and this.
    pub objective: f64,
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

    /// Price every slot group at `duals`: the patterns found worth more
    /// than their node, and `θ`, the largest upper bound on a pattern's
    /// value per dollar. A group's search stops as soon as no pattern
    /// worth more than its price is left. `work` counts LP solves.
    fn price_out(
        &self,
        duals: &[f64],
        demand: &[u32],
        node_limit: usize,
        work: &mut usize,
    ) -> (f64, Vec<Pattern>) {
        let mut theta: f64 = 0.0;
        let mut found = Vec::new();
        for g in &self.groups {
            let Some(c) = self.candidates.get(g.candidate) else {
                continue;
            };
            let items = self.items(g, duals, demand);
            let s = knapsack::solve(&items, &c.allocatable, node_limit, 16, g.price);
            *work += s.work;
            theta = theta.max(s.upper / g.price);
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
        (theta, found)
    }

    /// Column generation from `initial` patterns: at most `rounds` rounds
    /// of at most `per_round` new patterns, and about `budget` LP solves
    /// in the pricing knapsacks. Prices are smoothed (Wentges): a round
    /// first prices every slot group at the midpoint of the master's duals
    /// and the best-bounding duals so far (which also bounds the LP there);
    /// if that finds no pattern the master's own duals undervalue, it
    /// prices at the master's duals, with longer searches before giving
    /// up. Stops
    /// early when the bound comes within `gap` (relative) of the master.
    /// `None` if a kind has no slot at all or the master's basis breaks
    /// down numerically.
    pub(crate) fn generate(
        &self,
        initial: Vec<Pattern>,
        demand: &[u32],
        rounds: usize,
        per_round: usize,
        budget: usize,
        gap: f64,
    ) -> Option<Master> {
        // Column k of the master: one pod of kind k on the cheapest slot
        // that takes it.
        let mut patterns: Vec<Pattern> = Vec::with_capacity(self.kinds.len() + initial.len());
        let mut singles = Vec::with_capacity(self.kinds.len());
        for k in 0..self.kinds.len() {
            let g = self
                .groups
                .iter()
                .filter(|g| g.kinds.binary_search(&k).is_ok())
                .min_by(|a, b| a.price.total_cmp(&b.price))?;
            patterns.push(Pattern {
                candidate: g.candidate,
                zone: g.zones.first().copied().unwrap_or(0),
                counts: vec![(k, 1)],
            });
            singles.push(g.price);
        }
        let mut known: HashSet<Pattern> = patterns.iter().cloned().collect();
        let mut lp = CoverLp::new(demand, &singles);
        let add = |p: Pattern,
                   lp: &mut CoverLp,
                   patterns: &mut Vec<Pattern>,
                   known: &mut HashSet<Pattern>| {
            if known.insert(p.clone()) {
                let entries: Vec<(usize, f64)> =
                    p.counts.iter().map(|&(k, n)| (k, f64::from(n))).collect();
                lp.add_column(price(self.candidates, p.candidate), &entries);
                patterns.push(p);
            }
        };
        for p in initial {
            add(p, &mut lp, &mut patterns, &mut known);
        }
        // The duals and solution of the last master solved; if a later
        // basis breaks down numerically, generation stops with these.
        let solve = |lp: &mut CoverLp| match lp.solve(MASTER_PIVOTS) {
            Ok(_) | Err(Stop::Pivots) => Some((lp.duals(), lp.primal(), lp.objective())),
            Err(Stop::Singular) => None,
        };
        let mut good = solve(&mut lp)?;
        let total =
            |y: &[f64]| -> f64 { y.iter().zip(demand).map(|(v, d)| v * f64::from(*d)).sum() };
        let mut center: Option<(f64, Vec<f64>)> = None;
        let mut work = 0usize;
        let mut limit = 4usize;
        for _ in 0..rounds {
            let current: Vec<f64> = good.0.iter().map(|v| v.max(0.0)).collect();
            let objective = lp.objective();
            if work >= budget
                || center
                    .as_ref()
                    .is_some_and(|(lb, _)| objective - lb <= gap * objective)
            {
                break;
            }
            let mut columns: Vec<(f64, Pattern)> = Vec::new();
            // Smoothed first (once there is a center to smooth towards).
            let mut attempts: Vec<(bool, usize)> = vec![(false, limit)];
            if center.is_some() {
                attempts.insert(0, (true, limit));
            }
            let mut l = limit;
            while l < 512 {
                l *= 8;
                attempts.push((false, l));
            }
            for (smoothed, node_limit) in attempts {
                let y: Vec<f64> = match (&center, smoothed) {
                    (Some((_, c)), true) => {
                        c.iter().zip(&current).map(|(a, b)| 0.5 * (a + b)).collect()
                    }
                    _ => current.clone(),
                };
                let (theta, found) = self.price_out(&y, demand, node_limit, &mut work);
                if theta > 0.0 {
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
                    if ratio > 1.0 + 1e-9 && !known.contains(&p) {
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
            columns.dedup_by(|a, b| a.1 == b.1);
            for (_, p) in columns.into_iter().take(per_round) {
                add(p, &mut lp, &mut patterns, &mut known);
            }
            match solve(&mut lp) {
                Some(solved) => good = solved,
                None => break,
            }
        }
        let (duals, mut copies, objective) = good;
        copies.resize(patterns.len(), 0.0);
        Some(Master {
            duals: duals.into_iter().map(|v| v.max(0.0)).collect(),
            copies,
            objective,
            patterns,
            center: center.map(|(_, y)| y),
        })
    }
}

/// The best of Farley's bounds at the master's final duals, at the
/// best-bounding duals column generation saw (its center) and at points
/// between them, each searched briefly, the best then searched longer. A
/// degenerate master's duals and the center both bound worse than some
/// mix of them, in practice.
pub(crate) fn best_farley_bound(
    candidates: &[Candidate],
    zones: usize,
    kinds: &[Kind],
    master: &Master,
) -> f64 {
    let mut tries: Vec<Vec<f64>> = vec![master.duals.clone()];
    if let Some(center) = &master.center {
        for lambda in [0.25, 0.5, 0.75, 1.0] {
            tries.push(
                center
                    .iter()
                    .zip(&master.duals)
                    .map(|(c, m)| lambda * c + (1.0 - lambda) * m)
                    .collect(),
            );
        }
    }
    // The bound's problem: every slot a kind's selectors allow.
    let relaxed = Configurations {
        candidates,
        kinds,
        groups: slot_groups(candidates, zones, kinds, true),
    };
    let mut best: Option<(f64, &Vec<f64>)> = None;
    for y in &tries {
        let b = relaxed.farley_bound(y, 100);
        if best.is_none_or(|(v, _)| b > v) {
            best = Some((b, y));
        }
    }
    best.map(|(b, y)| b.max(relaxed.farley_bound(y, 2_000)))
        .unwrap_or(0.0)
}

/// Deep searches (four times the node limit) that
/// [`Configurations::farley_bound`] may spend on the groups that set θ.
const DEEP_SEARCHES: usize = 4;

impl Configurations<'_> {
    /// Farley's bound (see the module docs) for the dual prices `duals`:
    /// `Σ_k d_k y_k / θ`, in $/h, or 0 if it cannot be established. Each slot
    /// group's bound comes from its root LP, then from searches of
    /// `node_limit` nodes and a few of four times that, spent on whichever
    /// group sets θ.
    fn farley_bound(&self, duals: &[f64], node_limit: usize) -> f64 {
        let (candidates, kinds, groups) = (self.candidates, self.kinds, &self.groups);
        let demand: Vec<u32> = kinds.iter().map(|k| k.count).collect();
        let y: Vec<f64> = duals
            .iter()
            .map(|v| if v.is_finite() && *v > 0.0 { *v } else { 0.0 })
            .collect();
        // Every group starts with its cheap bound (the root LP). Then the
        // group that sets θ is searched harder, level by level, until the one
        // setting θ has had the deepest search or the deep searches run out.
        let mut uppers: Vec<(f64, usize)> = groups
            .iter()
            .map(|g| {
                candidates
                    .get(g.candidate)
                    .map(|c| {
                        let s = knapsack::solve(
                            &self.items(g, &y, &demand),
                            &c.allocatable,
                            0,
                            1,
                            -1.0,
                        );
                        (s.upper / g.price, 0)
                    })
                    .unwrap_or((0.0, usize::MAX))
            })
            .collect();
        let levels = [0, node_limit, 4 * node_limit];
        let mut deep_left = DEEP_SEARCHES;
        while let Some((i, &(u, level))) = uppers
            .iter()
            .enumerate()
            .max_by(|a, b| a.1 .0.total_cmp(&b.1 .0).then(b.0.cmp(&a.0)))
        {
            let Some(&limit) = levels.get(level + 1) else {
                break;
            };
            if level + 2 == levels.len() {
                if deep_left == 0 {
                    break;
                }
                deep_left -= 1;
            }
            let (Some(g), Some(slot)) = (groups.get(i), uppers.get_mut(i)) else {
                break;
            };
            let Some(c) = candidates.get(g.candidate) else {
                *slot = (u, usize::MAX);
                continue;
            };
            let s = knapsack::solve(&self.items(g, &y, &demand), &c.allocatable, limit, 1, -1.0);
            *slot = ((s.upper / g.price).min(u), level + 1);
        }
        let theta = uppers.iter().map(|u| u.0).fold(0.0f64, f64::max);
        let total: f64 = y.iter().zip(&demand).map(|(v, d)| v * f64::from(*d)).sum();
        if theta > 0.0 && total.is_finite() {
            total / (theta * (1.0 + 1e-9))
        } else {
            0.0
        }
    }
}

/// The master re-solved over the known `patterns` (no new ones) for the
/// `residual` demand: how many nodes of each pattern its solution uses.
/// The first `residual.len()` patterns must be the one-pod patterns
/// [`Configurations::generate`] starts from.
pub(crate) fn resolve(
    candidates: &[Candidate],
    patterns: &[Pattern],
    residual: &[u32],
) -> Option<Vec<f64>> {
    let rows = residual.len();
    let singles: Vec<f64> = patterns
        .get(..rows)?
        .iter()
        .map(|p| price(candidates, p.candidate))
        .collect();
    let mut lp = CoverLp::new(residual, &singles);
    for p in patterns.get(rows..)? {
        // Only the kinds still wanted count; a pattern of none is useless.
        let entries: Vec<(usize, f64)> = p
            .counts
            .iter()
            .filter(|&&(k, _)| residual.get(k).is_some_and(|&d| d > 0))
            .map(|&(k, n)| (k, f64::from(n.min(residual.get(k).copied().unwrap_or(0)))))
            .collect();
        lp.add_column(price(candidates, p.candidate), &entries);
    }
    match lp.solve(MASTER_PIVOTS) {
        // Out of pivots, the basis is still a feasible (if costlier) cover.
        Ok(_) | Err(Stop::Pivots) => Some(lp.primal()),
        Err(Stop::Singular) => None,
    }
}
