//! The bounded multi-dimensional integer knapsack: which pods, and how many
//! of each kind, make the most valuable single node.
//!
//! ```text
//! maximize   Σ_j value_j · n_j
//! subject to Σ_j size_j,d · n_j ≤ capacity_d     every dimension d
//!            n_j ∈ {0, 1, …, cap_j}
//! ```
//!
//! Solved by best-bound-first branch and bound on the LP relaxation: each
//! node's LP (a small bounded simplex over at most five rows) is rounded
//! down and completed greedily for a good packing early, and branches on
//! its most fractional valuable count. A node is bounded by the least of
//! what fits of each remaining item, summed, and the Lagrangian bound
//! `μ·room + Σ_j most_j · max(0, value_j − μ·size_j)` at the LP's
//! multipliers `μ`. Both only relax the problem, and the Lagrangian one
//! holds for any `μ ≥ 0`, so an imprecise LP solve cannot break it.
//!
//! The search stops after a node budget. It then still returns a valid
//! **upper bound** on the optimum: the largest bound among the nodes not
//! yet expanded (best first, that is the top of the heap), or the best
//! solution if larger. When the search finishes, the bound is the optimum.

use crate::resources::{Dimension, Resources};

/// One kind of item.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Item {
    /// Value of one.
    pub value: f64,
    /// Size of one.
    pub size: Resources,
    /// At most this many.
    pub cap: u32,
}

/// The best packing found and what no packing can beat.
#[derive(Clone, Debug)]
pub(crate) struct Solution {
    /// An upper bound on the optimum (at least the best packing found's
    /// value; equal to it when the search finished).
    pub upper: f64,
    /// The best packings found, as asked for, best first.
    pub others: Vec<Vec<u32>>,
    /// LP relaxations solved (the work done).
    pub work: usize,
}

fn dims(r: &Resources) -> [u64; 5] {
    Dimension::ALL.map(|d| r.get(d))
}

/// The heap entry of a node: highest bound first, then oldest.
struct Open {
    bound: f64,
    seq: usize,
}

impl PartialEq for Open {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == std::cmp::Ordering::Equal
    }
}
impl Eq for Open {}
impl PartialOrd for Open {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Open {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.bound
            .total_cmp(&other.bound)
            .then(other.seq.cmp(&self.seq))
    }
}

/// The LP relaxation `max Σ v_j x_j, Σ_j s_j x_j ≤ room, 0 ≤ x_j ≤ caps_j`
/// by a bounded primal simplex on the (at most five) rows: its dual
/// multipliers per unit of each dimension, and its solution.
fn lp_relaxation(
    values: &[f64],
    sizes: &[[u64; 5]],
    caps: &[u32],
    room: &[u64; 5],
) -> ([f64; 5], Vec<f64>) {
    // Rows: the dimensions with room, scaled to 1; columns: the items, then
    // one slack per row (column n + r is row r's slack).
    let rows: Vec<usize> = (0..5)
        .filter(|&d| room.get(d).copied().unwrap_or(0) > 0)
        .collect();
    let m = rows.len();
    let n = values.len();
    let scaled: Vec<[f64; 5]> = sizes
        .iter()
        .map(|size| {
            let mut a = [0.0; 5];
            for (slot, &d) in a.iter_mut().zip(&rows) {
                *slot = size.get(d).copied().unwrap_or(0) as f64
                    / room.get(d).copied().unwrap_or(1) as f64;
            }
            a
        })
        .collect();
    let entry = |j: usize, r: usize| -> f64 {
        if j < n {
            scaled.get(j).and_then(|a| a.get(r)).copied().unwrap_or(0.0)
        } else if j - n == r {
            1.0
        } else {
            0.0
        }
    };
    let cost = |j: usize| values.get(j).copied().unwrap_or(0.0);
    let upper = |j: usize| {
        if j < n {
            f64::from(caps.get(j).copied().unwrap_or(0))
        } else {
            f64::INFINITY
        }
    };
    // Basis: the slacks. `inverse` is B⁻¹, row-major, m × m.
    let mut basis: Vec<usize> = (n..n + m).collect();
    let mut in_basis = vec![false; n + m];
    for b in in_basis.iter_mut().skip(n) {
        *b = true;
    }
    let mut inverse = [0.0f64; 25];
    for r in 0..m {
        if let Some(v) = inverse.get_mut(r * m + r) {
            *v = 1.0;
        }
    }
    let mut x = vec![0.0f64; n + m];
    for xr in x.iter_mut().skip(n) {
        *xr = 1.0;
    }
    let mut at_upper = vec![false; n + m];
    let mut duals = [0.0f64; 5];
    let mut candidates: Vec<(f64, usize)> = Vec::with_capacity(n + m);
    let mut pivots = 0;
    'outer: while pivots < 4 * (n + m) + 20 {
        pivots += 1;
        // μ = c_B B⁻¹.
        for (r, y) in duals.iter_mut().enumerate().take(m) {
            *y = basis
                .iter()
                .enumerate()
                .map(|(i, &b)| cost(b) * inverse.get(i * m + r).copied().unwrap_or(0.0))
                .sum();
        }
        // The improving columns at these duals, best first. The duals only
        // change when the basis does, so bound flips go on down this list.
        candidates.clear();
        for j in 0..n + m {
            if in_basis.get(j).copied().unwrap_or(true) {
                continue;
            }
            let d = cost(j)
                - duals
                    .iter()
                    .take(m)
                    .enumerate()
                    .map(|(r, y)| entry(j, r) * y)
                    .sum::<f64>();
            let gain = if at_upper.get(j).copied().unwrap_or(false) {
                -d
            } else {
                d
            };
            if gain > 1e-12 {
                candidates.push((gain, j));
            }
        }
        if candidates.is_empty() {
            break;
        }
        candidates.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        for ci in 0..candidates.len() {
            let Some(&(_, q)) = candidates.get(ci) else {
                break;
            };
            let direction = if at_upper.get(q).copied().unwrap_or(false) {
                -1.0
            } else {
                1.0
            };
            // α = B⁻¹ A_q.
            let mut alpha = [0.0f64; 5];
            for (i, a) in alpha.iter_mut().enumerate().take(m) {
                *a = (0..m)
                    .map(|k| inverse.get(i * m + k).copied().unwrap_or(0.0) * entry(q, k))
                    .sum();
            }
            // Ratio test: x_B moves by −direction · t · α.
            let mut step = upper(q);
            let mut leaving: Option<(usize, bool)> = None;
            for (i, &a) in alpha.iter().enumerate().take(m) {
                let change = direction * a;
                let Some(&b) = basis.get(i) else { continue };
                let xb = x.get(b).copied().unwrap_or(0.0);
                if change > 1e-12 {
                    let t = xb.max(0.0) / change;
                    if t < step {
                        step = t;
                        leaving = Some((i, false));
                    }
                } else if change < -1e-12 {
                    let t = (upper(b) - xb).max(0.0) / -change;
                    if t < step {
                        step = t;
                        leaving = Some((i, true));
                    }
                }
            }
            if !step.is_finite() {
                break 'outer; // Cannot happen with capacity rows; stop safely.
            }
            for (i, &a) in alpha.iter().enumerate().take(m) {
                if let Some(xb) = basis.get(i).and_then(|&b| x.get_mut(b)) {
                    *xb -= direction * step * a;
                }
            }
            if let Some(xq) = x.get_mut(q) {
                *xq += direction * step;
            }
            let Some((r, to_upper)) = leaving else {
                // A bound flip: same basis, same duals; next candidate.
                if let Some(u) = at_upper.get_mut(q) {
                    *u = !*u;
                }
                continue;
            };
            let Some(&out) = basis.get(r) else {
                break 'outer;
            };
            let pivot = alpha.get(r).copied().unwrap_or(0.0);
            if pivot.abs() < 1e-12 {
                break 'outer;
            }
            if let Some(u) = at_upper.get_mut(out) {
                *u = to_upper;
            }
            if let Some(xo) = x.get_mut(out) {
                *xo = if to_upper { upper(out) } else { 0.0 };
            }
            if let Some(u) = at_upper.get_mut(q) {
                *u = false;
            }
            if let Some(b) = basis.get_mut(r) {
                *b = q;
            }
            if let Some(b) = in_basis.get_mut(out) {
                *b = false;
            }
            if let Some(b) = in_basis.get_mut(q) {
                *b = true;
            }
            // Pivot B⁻¹ on row r.
            let mut pivot_row = [0.0f64; 5];
            for (k, p) in pivot_row.iter_mut().enumerate().take(m) {
                *p = inverse.get(r * m + k).copied().unwrap_or(0.0) / pivot;
            }
            for i in 0..m {
                let factor = alpha.get(i).copied().unwrap_or(0.0);
                for (k, p) in pivot_row.iter().enumerate().take(m) {
                    if let Some(v) = inverse.get_mut(i * m + k) {
                        *v = if i == r { *p } else { *v - factor * p };
                    }
                }
            }
            continue 'outer;
        }
        // Every candidate was a bound flip: price again at the same basis.
    }
    let mut out = [0.0; 5];
    for (&d, y) in rows.iter().zip(&duals) {
        if let Some(o) = out.get_mut(d) {
            let c = room.get(d).copied().unwrap_or(1) as f64;
            *o = if y.is_finite() && *y > 0.0 {
                y / c
            } else {
                0.0
            };
        }
    }
    x.truncate(n);
    (out, x)
}

/// Keep the `keep` best distinct packings worth more than `value`.
fn remember(pool: &mut Vec<(f64, Vec<u32>)>, value: f64, counts: &[u32], keep: usize) {
    if pool.iter().any(|(_, c)| c == counts) {
        return;
    }
    if pool.len() >= keep {
        match pool.last() {
            Some((worst, _)) if *worst < value => {
                pool.pop();
            }
            _ => return,
        }
    }
    let at = pool.partition_point(|(v, _)| *v >= value);
    pool.insert(at, (value, counts.to_vec()));
}

/// The most copies of an item of `size` that fit in `room`, at most `cap`.
fn fit(size: &[u64; 5], room: &[u64; 5], cap: u32) -> u32 {
    let mut most = u64::from(cap);
    for (s, r) in size.iter().zip(room) {
        if *s > 0 {
            most = most.min(r / s);
        }
    }
    u32::try_from(most).unwrap_or(u32::MAX)
}

/// A node of the LP-based search: bounds on every count.
struct Box_ {
    lo: Vec<u32>,
    hi: Vec<u32>,
}

/// What the LP says about a node.
struct Evaluated {
    bound: f64,
    value: f64,
    counts: Vec<u32>,
    /// The item to branch on and its LP value, unless the LP is integral.
    branch: Option<(usize, f64)>,
}

/// Bound a node by its LP relaxation, round the LP down and fill greedily.
fn evaluate(
    values: &[f64],
    sizes: &[[u64; 5]],
    capacity: &[u64; 5],
    b: &Box_,
) -> Option<Evaluated> {
    let mut room = *capacity;
    let mut base = 0.0;
    for ((size, v), &lo) in sizes.iter().zip(values).zip(&b.lo) {
        for (r, s) in room.iter_mut().zip(size) {
            *r = r.checked_sub(s.checked_mul(u64::from(lo))?)?;
        }
        base += v * f64::from(lo);
    }
    let caps: Vec<u32> = sizes
        .iter()
        .zip(b.lo.iter().zip(&b.hi))
        .map(|(size, (lo, hi))| fit(size, &room, hi.saturating_sub(*lo)))
        .collect();
    let (mu, x) = lp_relaxation(values, sizes, &caps, &room);
    // The Lagrangian at μ: valid whatever μ ≥ 0 the simplex returned.
    let mut lagrangian: f64 = mu.iter().zip(&room).map(|(m, r)| m * *r as f64).sum();
    let mut all = 0.0;
    for ((size, v), &c) in sizes.iter().zip(values).zip(&caps) {
        let reduced = v - mu.iter().zip(size).map(|(m, s)| m * *s as f64).sum::<f64>();
        lagrangian += reduced.max(0.0) * f64::from(c);
        all += v * f64::from(c);
    }
    let bound = base + lagrangian.min(all);
    // Round down, then fill greedily (items are in density order).
    let mut counts = b.lo.clone();
    let mut left = room;
    let mut branch: Option<(usize, f64, f64)> = None;
    for (j, (&xj, size)) in x.iter().zip(sizes).enumerate() {
        let whole = (xj + 1e-9).floor().max(0.0);
        let frac = xj - whole;
        if frac > 1e-6 {
            let score = values.get(j).copied().unwrap_or(0.0) * frac.min(1.0 - frac);
            if branch.is_none_or(|(_, _, s)| score > s) {
                branch = Some((j, xj, score));
            }
        }
        let cap = caps.get(j).copied().unwrap_or(0);
        let take = fit(size, &left, (whole as u32).min(cap));
        for (r, s) in left.iter_mut().zip(size) {
            *r = r.saturating_sub(s.saturating_mul(u64::from(take)));
        }
        if let Some(c) = counts.get_mut(j) {
            *c += take;
        }
    }
    for (j, size) in sizes.iter().enumerate() {
        let (Some(&hi), Some(c)) = (b.hi.get(j), counts.get_mut(j)) else {
            continue;
        };
        let take = fit(size, &left, hi.saturating_sub(*c));
        for (r, s) in left.iter_mut().zip(size) {
            *r = r.saturating_sub(s.saturating_mul(u64::from(take)));
        }
        *c += take;
    }
    let value = counts
        .iter()
        .zip(values)
        .map(|(c, v)| v * f64::from(*c))
        .sum();
    Some(Evaluated {
        bound,
        value,
        counts,
        branch: branch.map(|(j, xj, _)| (j, xj)),
    })
}

/// Solve the knapsack, expanding at most `node_limit` nodes best bound
/// first, and keep up to `keep` of the best distinct packings found that
/// are worth more than `keep_above` (in [`Solution::others`]). The search
/// also stops once no open node can hold a packing worth more than
/// `keep_above`: [`Solution::upper`] is then that node's bound, still an
/// upper bound but no longer the optimum (pass `-1.0` for the optimum).
pub(crate) fn solve(
    items: &[Item],
    capacity: &Resources,
    node_limit: usize,
    keep: usize,
    keep_above: f64,
) -> Solution {
    let cap = dims(capacity);
    let mut order: Vec<(f64, usize)> = items
        .iter()
        .enumerate()
        .filter(|(_, it)| it.value > 0.0 && it.cap > 0 && it.size.fits_within(capacity))
        .map(|(j, it)| {
            let use_: f64 = dims(&it.size)
                .iter()
                .zip(&cap)
                .map(|(s, c)| if *c > 0 { *s as f64 / *c as f64 } else { 0.0 })
                .fold(0.0, f64::max);
            let density = if use_ > 0.0 {
                it.value / use_
            } else {
                f64::INFINITY
            };
            (density, j)
        })
        .collect();
    order.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    let chosen: Vec<&Item> = order.iter().filter_map(|&(_, j)| items.get(j)).collect();
    let values: Vec<f64> = chosen.iter().map(|it| it.value).collect();
    let sizes: Vec<[u64; 5]> = chosen.iter().map(|it| dims(&it.size)).collect();
    let n = values.len();
    let root = Box_ {
        lo: vec![0; n],
        hi: chosen.iter().map(|it| it.cap).collect(),
    };
    let mut best_value = 0.0;
    let mut upper = f64::INFINITY;
    // Boxes not branched on because their LP answer looked whole: the LP
    // may have stopped before its optimum, so only their bound is known.
    let mut dropped_bound: f64 = 0.0;
    let mut boxes: Vec<(Box_, Option<(usize, f64)>)> = Vec::new();
    let mut heap = std::collections::BinaryHeap::new();
    let mut pool: Vec<(f64, Vec<u32>)> = Vec::new();
    if let Some(e) = evaluate(&values, &sizes, &cap, &root) {
        if e.value > keep_above {
            remember(&mut pool, e.value, &e.counts, keep);
        }
        best_value = e.value;
        heap.push(Open {
            bound: e.bound,
            seq: 0,
        });
        boxes.push((root, e.branch));
    } else {
        upper = 0.0;
    }
    let mut expanded = 0usize;
    let mut work = 1usize;
    while let Some(top) = heap.pop() {
        if top.bound <= best_value {
            upper = best_value;
            break;
        }
        if top.bound <= keep_above {
            // Nothing worth keeping is left; the bound still holds.
            upper = top.bound;
            break;
        }
        if expanded >= node_limit {
            upper = top.bound;
            break;
        }
        expanded += 1;
        let Some((b, branch)) = boxes.get(top.seq) else {
            continue;
        };
        let Some((j, xj)) = *branch else {
            // A whole LP answer: its value is the box's best if the LP was
            // solved to optimality; its bound holds in any case.
            dropped_bound = dropped_bound.max(top.bound);
            continue;
        };
        // The LP counts are above the box's lower bounds.
        let whole =
            b.lo.get(j)
                .copied()
                .unwrap_or(0)
                .saturating_add(xj.floor().max(0.0) as u32);
        let mut down = Box_ {
            lo: b.lo.clone(),
            hi: b.hi.clone(),
        };
        if let Some(h) = down.hi.get_mut(j) {
            *h = whole;
        }
        let mut up = Box_ {
            lo: b.lo.clone(),
            hi: b.hi.clone(),
        };
        if let Some(l) = up.lo.get_mut(j) {
            *l = whole.saturating_add(1);
        }
        for child in [down, up] {
            if child.lo.iter().zip(&child.hi).any(|(l, h)| l > h) {
                continue;
            }
            work += 1;
            let Some(e) = evaluate(&values, &sizes, &cap, &child) else {
                continue;
            };
            if e.value > keep_above {
                remember(&mut pool, e.value, &e.counts, keep);
            }
            if e.value > best_value {
                best_value = e.value;
            }
            if e.bound > best_value && e.branch.is_some() {
                heap.push(Open {
                    bound: e.bound,
                    seq: boxes.len(),
                });
                boxes.push((child, e.branch));
            } else if e.branch.is_none() {
                dropped_bound = dropped_bound.max(e.bound);
            }
        }
    }
    if heap.is_empty() && upper.is_infinite() {
        upper = best_value;
    }
    let in_input_order = |found: &[u32]| {
        let mut counts = vec![0; items.len()];
        for (&(_, j), &k) in order.iter().zip(found) {
            if let Some(c) = counts.get_mut(j) {
                *c = k;
            }
        }
        counts
    };
    Solution {
        upper: upper.max(best_value).max(dropped_bound),
        others: pool.iter().map(|(_, c)| in_input_order(c)).collect(),
        work,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn brute(items: &[Item], cap: &Resources) -> f64 {
        fn go(items: &[Item], room: Resources) -> f64 {
            let Some((first, rest)) = items.split_first() else {
                return 0.0;
            };
            let mut best = 0.0f64;
            let mut used = Resources::ZERO;
            for k in 0..=first.cap {
                if !used.fits_within(&room) {
                    break;
                }
                let v = first.value * f64::from(k) + go(rest, room.saturating_sub(used));
                best = best.max(v);
                used = used.saturating_add(first.size);
            }
            best
        }
        go(items, *cap)
    }

    fn item() -> impl Strategy<Value = Item> {
        (0.0f64..10.0, 1u64..40, 0u64..40, 0u64..3, 1u32..6).prop_map(|(v, c, m, g, cap)| Item {
            value: v,
            size: Resources {
                cpu_millis: c,
                memory_bytes: m,
                pods: 1,
                gpu_millis: g,
                ephemeral_storage_bytes: 0,
            },
            cap,
        })
    }

    proptest! {
        #[test]
        fn bound_and_value_bracket_the_optimum(
            items in prop::collection::vec(item(), 0..6),
            cpu in 1u64..100, memory in 0u64..100, pods in 1u64..12, gpu in 0u64..4,
            limit in 0usize..50,
        ) {
            let cap = Resources { cpu_millis: cpu, memory_bytes: memory, pods, gpu_millis: gpu, ephemeral_storage_bytes: 0 };
            let optimum = brute(&items, &cap);
            let s = solve(&items, &cap, limit, 3, -1.0);
            prop_assert!(s.upper >= optimum - 1e-9, "upper {} < optimum {optimum}", s.upper);
            prop_assert!(!s.others.is_empty());
            // The packings kept are feasible, best first, and no better than the optimum.
            let mut last = f64::INFINITY;
            for counts in &s.others {
                let mut used = Resources::ZERO;
                let mut value = 0.0;
                for (it, &k) in items.iter().zip(counts) {
                    prop_assert!(k <= it.cap);
                    for _ in 0..k { used = used.saturating_add(it.size); }
                    value += it.value * f64::from(k);
                }
                prop_assert!(used.fits_within(&cap));
                prop_assert!(value <= optimum + 1e-9);
                prop_assert!(value <= last + 1e-9);
                last = value;
            }
            // Run to the end, the search is exact.
            let exact = solve(&items, &cap, usize::MAX, 1, -1.0);
            let best: f64 = exact.others.first().map(|c| {
                items.iter().zip(c).map(|(it, &k)| it.value * f64::from(k)).sum()
            }).unwrap_or(0.0);
            prop_assert!((best - optimum).abs() < 1e-9, "search {best} != {optimum}");
            prop_assert!((exact.upper - optimum).abs() < 1e-9);
        }
    }
}
