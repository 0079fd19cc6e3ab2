//! The placement heuristic for graphs of any size: a greedy construction,
//! then Fiduccia–Mattheyses-style refinement by best-response moves under
//! capacity.
//!
//! With every other service held still, the same-zone traffic of service
//! `s` is linear in its replica counts: Σ_z n_s[z] · g_s[z] / N_s with
//! g_s[z] = Σ_t w_st · n_t[z] / N_t (plus its own traffic, linearized).
//! The best counts under `s`'s constraints (allowed zones, per-zone
//! maximum, ≥ 2 zones, `maxSkew`, and the replicas each zone still has room
//! for) are found exactly by [`best_counts`]: fix the fewest replicas per
//! allowed zone `L`, fill the rest into the zones of highest gain up to
//! `L + maxSkew`, keep the best `L`. A move is kept only if it lowers the
//! exact cross-zone traffic, and the services next to a moved one are
//! queued again (the gain bookkeeping of FM, moving whole distributions
//! instead of single vertices), so the refinement ends at a placement no
//! single service can improve. It runs from today's placement (when it is
//! feasible) and from a greedy construction that places the heaviest
//! services first, and keeps the cheaper result.

use std::collections::VecDeque;

use petgraph::graph::NodeIndex;
use petgraph::visit::EdgeRef;

use super::problem::{total, Placement, Problem, ServiceSpec};
use crate::resources::{Dimension, Resources};

/// Signed free capacity per zone and dimension (today's placement may be
/// over capacity, which the refinement may not make worse).
#[derive(Clone, Debug)]
struct Free(Vec<[i128; 5]>);

impl Free {
    fn new(problem: &Problem, placement: &Placement) -> Free {
        let mut free: Vec<[i128; 5]> = problem.capacity.iter().map(signed).collect();
        for (s, spec) in problem.services.iter().enumerate() {
            if spec.movable {
                let row = placement.of(s).to_vec();
                let mut f = Free(free);
                f.apply(spec, &row, -1);
                free = f.0;
            }
        }
        Free(free)
    }

    /// Add (`sign` = 1) or take (`sign` = -1) `counts` replicas of `spec`.
    fn apply(&mut self, spec: &ServiceSpec, counts: &[u32], sign: i128) {
        for (zone, &count) in self.0.iter_mut().zip(counts) {
            for (slot, d) in zone.iter_mut().zip(Dimension::ALL) {
                *slot += sign * i128::from(spec.per_replica.get(d)) * i128::from(count);
            }
        }
    }

    /// What zone `z` has left, in its tightest dimension that `spec` uses,
    /// once `count` replicas of `spec` are added (in units of requests: it
    /// compares zones for one service).
    fn slack_after(&self, spec: &ServiceSpec, z: usize, count: u32) -> f64 {
        let Some(zone) = self.0.get(z) else {
            return f64::NEG_INFINITY;
        };
        let mut slack = f64::INFINITY;
        for (&free, d) in zone.iter().zip(Dimension::ALL) {
            let need = i128::from(spec.per_replica.get(d));
            if need > 0 {
                let left = free - need * i128::from(count);
                slack = slack.min(left as f64 / need as f64);
            }
        }
        slack
    }

    /// Replicas of `spec` zone `z` has room for, on top of `already` of them.
    fn room(&self, spec: &ServiceSpec, z: usize, already: u32) -> u32 {
        let Some(zone) = self.0.get(z) else { return 0 };
        let mut room = i128::from(spec.replicas);
        for (&free, d) in zone.iter().zip(Dimension::ALL) {
            let need = i128::from(spec.per_replica.get(d));
            if need > 0 {
                let have = free + need * i128::from(already);
                room = room.min(if have < 0 { 0 } else { have / need });
            }
        }
        u32::try_from(room.max(0)).unwrap_or(u32::MAX)
    }
}

fn signed(r: &Resources) -> [i128; 5] {
    let mut out = [0i128; 5];
    for (slot, d) in out.iter_mut().zip(Dimension::ALL) {
        *slot = i128::from(r.get(d));
    }
    out
}

/// For each floor `L` (fewest replicas per allowed zone), the counts
/// maximizing Σ n[z]·gain[z] under `spec`'s constraints with at most
/// `room[z]` replicas in zone `z`; the caller picks among them by the exact
/// objective. Empty if no counts satisfy the constraints.
pub(super) fn best_counts(spec: &ServiceSpec, gain: &[f64], room: &[u32]) -> Vec<Vec<u32>> {
    let zones = gain.len();
    let upper: Vec<u32> = (0..zones)
        .map(|z| {
            let allowed = spec.allowed.get(z).copied().unwrap_or(false);
            let r = room.get(z).copied().unwrap_or(0);
            if allowed {
                spec.max_per_zone.map_or(r, |m| r.min(m)).min(spec.replicas)
            } else {
                0
            }
        })
        .collect();
    let allowed: Vec<usize> = (0..zones)
        .filter(|&z| spec.allowed.get(z).copied().unwrap_or(false))
        .collect();
    let mut order: Vec<usize> = allowed.clone();
    // Best gain first; on a tie the zone with more room (packing), then
    // the lower index.
    order.sort_by(|&a, &b| {
        let (ga, gb) = (
            gain.get(a).copied().unwrap_or(0.0),
            gain.get(b).copied().unwrap_or(0.0),
        );
        let (ra, rb) = (
            room.get(a).copied().unwrap_or(0),
            room.get(b).copied().unwrap_or(0),
        );
        gb.total_cmp(&ga).then(rb.cmp(&ra)).then(a.cmp(&b))
    });
    let n = spec.replicas;
    let count = u32::try_from(allowed.len()).unwrap_or(u32::MAX).max(1);
    // Without a skew bound a floor above zero only restricts.
    let floors = if spec.max_skew.is_some() {
        n / count
    } else {
        0
    };
    let mut out: Vec<Vec<u32>> = Vec::new();
    for floor in 0..=floors {
        if allowed
            .iter()
            .any(|&z| upper.get(z).copied().unwrap_or(0) < floor)
        {
            break;
        }
        let ceiling = spec.max_skew.map_or(u32::MAX, |k| floor.saturating_add(k));
        let mut counts = vec![0u32; zones];
        let mut left = n;
        for &z in &allowed {
            if let Some(c) = counts.get_mut(z) {
                *c = floor;
            }
        }
        left = left.saturating_sub(floor.saturating_mul(u32::try_from(allowed.len()).unwrap_or(0)));
        let limit = |z: usize| upper.get(z).copied().unwrap_or(0).min(ceiling);
        // With a zero floor, one replica in each of the best zones with room
        // first, as many as the zone minimum asks.
        if floor == 0 {
            let mut reserved = 0usize;
            for &z in &order {
                if reserved >= spec.min_zones() || left == 0 {
                    break;
                }
                if limit(z) >= 1 {
                    if let Some(c) = counts.get_mut(z) {
                        *c = 1;
                    }
                    left -= 1;
                    reserved += 1;
                }
            }
            if reserved < spec.min_zones() {
                continue;
            }
        }
        for &z in &order {
            if left == 0 {
                break;
            }
            if let Some(c) = counts.get_mut(z) {
                let add = limit(z).saturating_sub(*c).min(left);
                *c += add;
                left -= add;
            }
        }
        if left > 0 || !spec.admits(&counts) {
            continue;
        }
        if !out.contains(&counts) {
            out.push(counts);
        }
    }
    out
}

/// Same-zone traffic bookkeeping, the gain table of Fiduccia–Mattheyses:
/// for each service `s` and zone `z`, Σ over its neighbours `t` of
/// w_st · n_t[z] / N_t. Kept up to date as rows change (one pass over the
/// moved service's neighbours), so valuing a candidate costs one pass over
/// the zones instead of one over the neighbours.
#[derive(Clone, Debug)]
struct Gains {
    zones: usize,
    table: Vec<f64>,
}

impl Gains {
    fn new(problem: &Problem, placement: &Placement) -> Gains {
        let zones = problem.zones.len();
        let mut gains = Gains {
            zones,
            table: vec![0.0; problem.services.len().saturating_mul(zones)],
        };
        for edge in problem.graph.raw_edges() {
            let (a, b) = (edge.source().index(), edge.target().index());
            gains.add(b, placement.of(a), edge.weight);
            gains.add(a, placement.of(b), edge.weight);
        }
        gains
    }

    fn row(&self, s: usize) -> &[f64] {
        let start = s.saturating_mul(self.zones);
        self.table
            .get(start..start.saturating_add(self.zones))
            .unwrap_or(&[])
    }

    /// Add `weight` × the zone shares of `counts` to the row of `s`.
    fn add(&mut self, s: usize, counts: &[u32], weight: f64) {
        let start = s.saturating_mul(self.zones);
        if let Some(row) = self.table.get_mut(start..start.saturating_add(self.zones)) {
            add_shares(row, counts, weight);
        }
    }

    /// Service `s` goes from `old` to `new`: its neighbours' rows follow.
    fn moved(&mut self, problem: &Problem, s: usize, old: &[u32], new: &[u32]) {
        for edge in problem.graph.edges(NodeIndex::new(s)) {
            let t = if edge.source().index() == s {
                edge.target().index()
            } else {
                edge.source().index()
            };
            self.add(t, old, -edge.weight());
            self.add(t, new, *edge.weight());
        }
    }

    /// Same-zone bytes/s between `s` (with `counts`) and everything else,
    /// its own traffic included.
    fn value(&self, problem: &Problem, s: usize, counts: &[u32]) -> f64 {
        value_with(self.row(s), own(problem, s), counts)
    }
}

/// Traffic of `s` with itself, bytes/s.
fn own(problem: &Problem, s: usize) -> f64 {
    problem.self_bytes_per_second.get(s).copied().unwrap_or(0.0)
}

/// Same-zone bytes/s of a service with `counts`, given its gain row and its
/// own traffic: Σ_z n[z]·row[z] / N + own · Σ_z n[z]² / N².
fn value_with(row: &[f64], own: f64, counts: &[u32]) -> f64 {
    let n = total(counts) as f64;
    if n == 0.0 {
        return 0.0;
    }
    let mut sum: f64 = counts
        .iter()
        .zip(row)
        .map(|(&c, &g)| f64::from(c) * g)
        .sum::<f64>()
        / n;
    if own > 0.0 {
        let squares: u64 = counts.iter().map(|&c| u64::from(c) * u64::from(c)).sum();
        sum += own * squares as f64 / (n * n);
    }
    sum
}

/// Gain per replica in each zone for [`best_counts`]: the gain row plus its
/// own traffic linearized around `mine`.
fn linear(row: &[f64], own: f64, mine: &[u32]) -> Vec<f64> {
    let n = total(mine) as f64;
    row.iter()
        .zip(mine)
        .map(|(&g, &c)| {
            if own > 0.0 && n > 0.0 {
                g + 2.0 * own * f64::from(c) / n
            } else {
                g
            }
        })
        .collect()
}

/// The candidate counts of a service now at `old`, given its per-replica
/// gains and room: [`best_counts`] and every admissible move of one replica
/// from one zone to another.
fn candidates(spec: &ServiceSpec, old: &[u32], gain: &[f64], room: &[u32]) -> Vec<Vec<u32>> {
    let mut out = best_counts(spec, gain, room);
    if total(old) == u64::from(spec.replicas) {
        for from in 0..old.len() {
            for to in 0..old.len() {
                if from == to || old.get(from).copied().unwrap_or(0) == 0 {
                    continue;
                }
                let mut counts = old.to_vec();
                if let (Some(_), Some(&r)) = (counts.get(to), room.get(to)) {
                    counts[from] -= 1;
                    counts[to] += 1;
                    if counts[to] <= r && spec.admits(&counts) && !out.contains(&counts) {
                        out.push(counts);
                    }
                }
            }
        }
    }
    out
}

/// The candidates of `s` under `placement`, valued with `gains`.
fn candidates_of(
    problem: &Problem,
    placement: &Placement,
    gains: &Gains,
    s: usize,
    room: &[u32],
) -> Vec<Vec<u32>> {
    let Some(spec) = problem.services.get(s) else {
        return Vec::new();
    };
    let mine = placement.of(s);
    candidates(
        spec,
        mine,
        &linear(gains.row(s), own(problem, s), mine),
        room,
    )
}

/// The candidate with the most same-zone traffic for a service with this
/// gain row and own traffic (the first on a tie).
fn best_candidate(row: &[f64], own: f64, candidates: Vec<Vec<u32>>) -> Option<(f64, Vec<u32>)> {
    let mut best: Option<(f64, Vec<u32>)> = None;
    for counts in candidates {
        let value = value_with(row, own, &counts);
        if best.as_ref().is_none_or(|(v, _)| value > *v) {
            best = Some((value, counts));
        }
    }
    best
}

/// Give `s` the row `new`, keeping the free capacity and the gain table in step.
fn move_to(
    problem: &Problem,
    placement: &mut Placement,
    free: &mut Free,
    gains: &mut Gains,
    s: usize,
    new: &[u32],
) {
    let Some(spec) = problem.services.get(s) else {
        return;
    };
    let old = placement.of(s).to_vec();
    free.apply(spec, &old, 1);
    free.apply(spec, new, -1);
    gains.moved(problem, s, &old, new);
    placement.set(s, new);
}

fn weighted_degree(problem: &Problem, s: usize) -> f64 {
    problem
        .graph
        .edges(NodeIndex::new(s))
        .map(|e| *e.weight())
        .sum::<f64>()
        + problem.self_bytes_per_second.get(s).copied().unwrap_or(0.0)
}

/// Movable services, heaviest first (ties by index).
fn heaviest_first(problem: &Problem) -> Vec<usize> {
    let degree: Vec<f64> = (0..problem.services.len())
        .map(|s| weighted_degree(problem, s))
        .collect();
    let mut order: Vec<usize> = (0..problem.services.len())
        .filter(|&s| problem.services.get(s).is_some_and(|x| x.movable))
        .collect();
    order.sort_by(|&a, &b| {
        let (da, db) = (
            degree.get(a).copied().unwrap_or(0.0),
            degree.get(b).copied().unwrap_or(0.0),
        );
        db.total_cmp(&da).then(a.cmp(&b))
    });
    order
}

/// Movable services, the hardest to fit first: fewest allowed zones, then
/// the largest total request (in its largest share of a zone's capacity).
fn hardest_first(problem: &Problem) -> Vec<usize> {
    let mut total = Resources::ZERO;
    for c in &problem.capacity {
        total = total.saturating_add(*c);
    }
    let size = |spec: &ServiceSpec| {
        Dimension::ALL
            .iter()
            .map(|&d| {
                let need = spec.per_replica.get(d) as f64 * f64::from(spec.replicas);
                let have = total.get(d) as f64;
                if have > 0.0 {
                    need / have
                } else if need > 0.0 {
                    f64::INFINITY
                } else {
                    0.0
                }
            })
            .fold(0.0, f64::max)
    };
    let mut order: Vec<(usize, usize, f64)> = problem
        .services
        .iter()
        .enumerate()
        .filter(|(_, s)| s.movable)
        .map(|(i, s)| (i, s.allowed.iter().filter(|a| **a).count(), size(s)))
        .collect();
    order.sort_by(|a, b| a.1.cmp(&b.1).then(b.2.total_cmp(&a.2)).then(a.0.cmp(&b.0)));
    order.into_iter().map(|(i, _, _)| i).collect()
}

/// Place the services of `order` one by one, each where its already placed
/// neighbours are, starting from `start` with those services taken out.
/// `None` if one finds no room.
fn construct(problem: &Problem, start: &Placement, order: &[usize]) -> Option<Placement> {
    let mut placement = start.clone();
    for &s in order {
        placement.set(s, &vec![0; problem.zones.len()]);
    }
    let mut free = Free::new(problem, &placement);
    let mut gains = Gains::new(problem, &placement);
    for &s in order {
        let spec = problem.services.get(s)?;
        let room: Vec<u32> = (0..problem.zones.len())
            .map(|z| free.room(spec, z, 0))
            .collect();
        let options = best_counts(spec, gains.row(s), &room);
        let (_, counts) = best_candidate(gains.row(s), own(problem, s), options)?;
        move_to(problem, &mut placement, &mut free, &mut gains, s, &counts);
    }
    Some(placement)
}

/// Spread each service of `order` over the allowed zones with the most room
/// left (worst fit), ignoring traffic: a start for when capacity is tight
/// and the traffic-led constructions leave no room for a later service.
fn construct_balanced(problem: &Problem, start: &Placement, order: &[usize]) -> Option<Placement> {
    let mut placement = start.clone();
    for &s in order {
        placement.set(s, &vec![0; problem.zones.len()]);
    }
    let mut free = Free::new(problem, &placement);
    for &s in order {
        let spec = problem.services.get(s)?;
        let room: Vec<u32> = (0..problem.zones.len())
            .map(|z| free.room(spec, z, 0))
            .collect();
        let mut counts = vec![0u32; problem.zones.len()];
        for placed in 0..spec.replicas {
            // The first replicas each open a new zone, as many as it must use.
            let opening = (placed as usize) < spec.min_zones();
            let zone = (0..counts.len())
                .filter(|&z| !opening || counts.get(z) == Some(&0))
                .filter(|&z| {
                    spec.allowed.get(z).copied().unwrap_or(false)
                        && counts.get(z) < room.get(z)
                        && spec
                            .max_per_zone
                            .is_none_or(|m| counts.get(z).copied().unwrap_or(0) < m)
                })
                .map(|z| {
                    (
                        z,
                        free.slack_after(spec, z, counts.get(z).copied().unwrap_or(0) + 1),
                    )
                })
                .max_by(|a, b| a.1.total_cmp(&b.1).then(b.0.cmp(&a.0)))
                .map(|(z, _)| z)?;
            if let Some(c) = counts.get_mut(zone) {
                *c += 1;
            }
        }
        if !spec.admits(&counts) {
            return None;
        }
        free.apply(spec, &counts, -1);
        placement.set(s, &counts);
    }
    Some(placement)
}

/// Today's placement with the services that break their own constraints
/// placed again, and then, while a zone is over capacity, the services
/// there (smallest first) moved out.
fn repair(problem: &Problem) -> Option<Placement> {
    let current = problem.current();
    let broken: Vec<usize> = hardest_first(problem)
        .into_iter()
        .filter(|&s| {
            problem
                .services
                .get(s)
                .is_some_and(|spec| !spec.admits(current.of(s)))
        })
        .collect();
    let mut placement = construct(problem, &current, &broken)?;
    for _ in 0..problem.services.len() {
        let over: Vec<usize> = problem
            .load(&placement)
            .iter()
            .zip(&problem.capacity)
            .enumerate()
            .filter(|(_, (l, c))| !l.fits_within(c))
            .map(|(z, _)| z)
            .collect();
        let Some(&zone) = over.first() else { break };
        let mut there: Vec<usize> = (0..problem.services.len())
            .filter(|&s| {
                problem.services.get(s).is_some_and(|x| x.movable)
                    && placement.of(s).get(zone).copied().unwrap_or(0) > 0
            })
            .collect();
        there.sort_by_key(|&s| std::cmp::Reverse(weighted_degree(problem, s) as u64));
        let victim = *there.last()?;
        placement = construct(problem, &placement, &[victim])?;
    }
    Some(placement)
}
/// Give `s` the counts `wanted` (worth `gain` in same-zone traffic), then
/// while a zone is over capacity move the one replica of another service
/// out of it that loses the least. Kept, returning the services touched,
/// only if the total gain still exceeds `must_beat`; else undone.
#[allow(clippy::too_many_arguments)]
fn make_room(
    problem: &Problem,
    placement: &mut Placement,
    free: &mut Free,
    gains: &mut Gains,
    s: usize,
    wanted: &[u32],
    gain: f64,
    must_beat: f64,
) -> Option<Vec<usize>> {
    let spec = problem.services.get(s)?;
    let mut saved_rows: Vec<(usize, Vec<u32>)> = vec![(s, placement.of(s).to_vec())];
    move_to(problem, placement, free, gains, s, wanted);
    let mut total_gain = gain;
    let steps = 4 * spec.replicas as usize + 4;
    let mut ok = false;
    for _ in 0..steps {
        let Some(zone) = free.0.iter().position(|z| z.iter().any(|&f| f < 0)) else {
            ok = true;
            break;
        };
        let mut best: Option<(f64, usize, Vec<u32>)> = None;
        for (t, tspec) in problem.services.iter().enumerate() {
            let row = placement.of(t);
            if t == s || !tspec.movable || row.get(zone).copied().unwrap_or(0) == 0 {
                continue;
            }
            let here = gains.value(problem, t, row);
            for to in 0..row.len() {
                if to == zone {
                    continue;
                }
                let mut counts = row.to_vec();
                counts[zone] -= 1;
                counts[to] += 1;
                let fits = free.room(tspec, to, row.get(to).copied().unwrap_or(0))
                    >= counts.get(to).copied().unwrap_or(0);
                if !fits || !tspec.admits(&counts) {
                    continue;
                }
                let loss = here - gains.value(problem, t, &counts);
                if best.as_ref().is_none_or(|(l, _, _)| loss < *l) {
                    best = Some((loss, t, counts));
                }
            }
        }
        let Some((loss, t, counts)) = best else { break };
        total_gain -= loss;
        if total_gain <= must_beat {
            break;
        }
        if !saved_rows.iter().any(|(x, _)| *x == t) {
            saved_rows.push((t, placement.of(t).to_vec()));
        }
        move_to(problem, placement, free, gains, t, &counts);
    }
    if ok && total_gain > must_beat {
        let touched: Vec<usize> = saved_rows.iter().map(|(t, _)| *t).collect();
        let mut around = Vec::new();
        for &t in &touched {
            around.extend(
                problem
                    .graph
                    .neighbors(NodeIndex::new(t))
                    .map(|n| n.index()),
            );
        }
        around.retain(|t| problem.services.get(*t).is_some_and(|x| x.movable));
        around.extend(touched);
        return Some(around);
    }
    for (t, row) in saved_rows.into_iter().rev() {
        move_to(problem, placement, free, gains, t, &row);
    }
    None
}

/// Gains below this are rounding, not improvement.
fn tolerance(problem: &Problem) -> f64 {
    let scale: f64 = problem
        .graph
        .raw_edges()
        .iter()
        .map(|e| e.weight)
        .sum::<f64>()
        + problem.self_bytes_per_second.iter().sum::<f64>();
    scale * 1e-12
}

/// Heaviest edges tried by [`pair_moves`] per pass.
const PAIR_MOVE_EDGES: usize = 5_000;

/// The [`PAIR_MOVE_EDGES`] heaviest edges between movable services,
/// heaviest first: (bytes/s, one end, the other).
fn heavy_edges(problem: &Problem) -> Vec<(f64, usize, usize)> {
    let mut edges: Vec<(f64, usize, usize)> = problem
        .graph
        .raw_edges()
        .iter()
        .map(|e| (e.weight, e.source().index(), e.target().index()))
        .filter(|(_, a, b)| {
            problem.services.get(*a).is_some_and(|x| x.movable)
                && problem.services.get(*b).is_some_and(|x| x.movable)
        })
        .collect();
    edges.sort_by(|x, y| y.0.total_cmp(&x.0).then(x.1.cmp(&y.1)).then(x.2.cmp(&y.2)));
    edges.truncate(PAIR_MOVE_EDGES);
    edges
}

/// Joint moves of the two ends of each of `edges` (the coarsening step of
/// multilevel partitioning, one level deep): `a` takes each of its
/// candidate counts, `b` its best answer to it; the best pair is kept if it
/// lowers the cross-zone traffic. Returns whether anything moved.
fn pair_moves(
    problem: &Problem,
    placement: &mut Placement,
    edges: &[(f64, usize, usize)],
    tolerance: f64,
) -> bool {
    let zones = problem.zones.len();
    let mut free = Free::new(problem, placement);
    let mut gains = Gains::new(problem, placement);
    let mut moved = false;
    for &(weight, a, b) in edges {
        let (Some(sa), Some(sb)) = (problem.services.get(a), problem.services.get(b)) else {
            continue;
        };
        let old_a = placement.of(a).to_vec();
        let old_b = placement.of(b).to_vec();
        let own_b = own(problem, b);
        let base_a = gains.value(problem, a, &old_a);
        let room_a: Vec<u32> = (0..zones)
            .map(|z| free.room(sa, z, old_a.get(z).copied().unwrap_or(0)))
            .collect();
        let row_b = gains.row(b).to_vec();
        let mut best: Option<(f64, Vec<u32>, Vec<u32>)> = None;
        for ca in candidates_of(problem, placement, &gains, a, &room_a) {
            if ca == old_a {
                continue;
            }
            let gain_a = gains.value(problem, a, &ca) - base_a;
            // b's gain row with a at `ca`.
            let mut shifted = row_b.clone();
            add_shares(&mut shifted, &old_a, -weight);
            add_shares(&mut shifted, &ca, weight);
            free.apply(sa, &old_a, 1);
            free.apply(sa, &ca, -1);
            let room_b: Vec<u32> = (0..zones)
                .map(|z| free.room(sb, z, old_b.get(z).copied().unwrap_or(0)))
                .collect();
            let options = candidates(sb, &old_b, &linear(&shifted, own_b, &old_b), &room_b);
            if let Some((after_b, cb)) = best_candidate(&shifted, own_b, options) {
                let gain = gain_a + after_b - value_with(&shifted, own_b, &old_b);
                if best.as_ref().is_none_or(|(g, _, _)| gain > *g) {
                    best = Some((gain, ca.clone(), cb));
                }
            }
            free.apply(sa, &ca, 1);
            free.apply(sa, &old_a, -1);
        }
        if let Some((gain, ca, cb)) = best {
            if gain > tolerance {
                move_to(problem, placement, &mut free, &mut gains, a, &ca);
                move_to(problem, placement, &mut free, &mut gains, b, &cb);
                moved = true;
            }
        }
    }
    moved
}

/// Add `weight` × the zone shares of `counts` to `row`.
fn add_shares(row: &mut [f64], counts: &[u32], weight: f64) {
    let n = total(counts);
    if n > 0 {
        let scale = weight / n as f64;
        for (g, &c) in row.iter_mut().zip(counts) {
            *g += scale * f64::from(c);
        }
    }
}

/// Move services to their best counts while that lowers the cross-zone
/// traffic, neighbours of a moved service queued again.
fn refine(problem: &Problem, placement: &mut Placement) {
    let order = heaviest_first(problem);
    let tolerance = tolerance(problem);
    let zones = problem.zones.len();
    let mut free = Free::new(problem, placement);
    let mut gains = Gains::new(problem, placement);
    let mut queued = vec![false; problem.services.len()];
    let mut queue: VecDeque<usize> = order.iter().copied().collect();
    for &s in &order {
        if let Some(q) = queued.get_mut(s) {
            *q = true;
        }
    }
    // Each kept move lowers the objective; the bounds only guard the clock.
    let mut budget = order.len().saturating_mul(64).max(64);
    let mut eviction_work: usize = 4_000_000;
    while let Some(s) = queue.pop_front() {
        if let Some(q) = queued.get_mut(s) {
            *q = false;
        }
        budget = budget.saturating_sub(1);
        if budget == 0 {
            break;
        }
        let Some(spec) = problem.services.get(s) else {
            continue;
        };
        let old = placement.of(s).to_vec();
        let room: Vec<u32> = (0..zones)
            .map(|z| free.room(spec, z, old.get(z).copied().unwrap_or(0)))
            .collect();
        let own_s = own(problem, s);
        let before = gains.value(problem, s, &old);
        let fitting = best_candidate(
            gains.row(s),
            own_s,
            candidates_of(problem, placement, &gains, s, &room),
        );
        let fitting_gain = fitting.as_ref().map_or(0.0, |(after, _)| after - before);
        // What `s` would do with room everywhere; if that is better, try to
        // make the room by moving single replicas of others out.
        let open = vec![spec.replicas; zones];
        let unbounded = best_candidate(
            gains.row(s),
            own_s,
            candidates_of(problem, placement, &gains, s, &open),
        );
        let mut moved = false;
        if let Some((after_open, wanted)) = unbounded {
            if after_open - before > fitting_gain.max(0.0) + tolerance
                && Some(&wanted) != fitting.as_ref().map(|(_, c)| c)
                && eviction_work > 0
            {
                eviction_work = eviction_work.saturating_sub(problem.services.len().max(1) * 8);
                if let Some(touched) = make_room(
                    problem,
                    placement,
                    &mut free,
                    &mut gains,
                    s,
                    &wanted,
                    after_open - before,
                    fitting_gain.max(0.0) + tolerance,
                ) {
                    moved = true;
                    for t in touched {
                        if !queued.get(t).copied().unwrap_or(true) {
                            if let Some(q) = queued.get_mut(t) {
                                *q = true;
                            }
                            queue.push_back(t);
                        }
                    }
                }
            }
        }
        if !moved {
            let Some((after, new)) = fitting else {
                continue;
            };
            if new == old || after <= before + tolerance {
                continue;
            }
            move_to(problem, placement, &mut free, &mut gains, s, &new);
        }
        for edge in problem.graph.edges(NodeIndex::new(s)) {
            let t = if edge.source().index() == s {
                edge.target().index()
            } else {
                edge.source().index()
            };
            if problem.services.get(t).is_some_and(|x| x.movable)
                && !queued.get(t).copied().unwrap_or(true)
            {
                if let Some(q) = queued.get_mut(t) {
                    *q = true;
                }
                queue.push_back(t);
            }
        }
    }
}

/// The heuristic placement: refined from several starts, the cheapest kept
/// (the first on a tie): today's placement (repaired when it breaks a
/// constraint), a greedy construction heaviest traffic first, one
/// hardest to fit first, and when none of those fits, a traffic-blind
/// worst-fit spread. `None` if no start is feasible: capacity so tight
/// that greedy packing fails (bin packing is NP-hard; the exact method
/// decides small cases).
pub fn place_heuristic(problem: &Problem) -> Option<Placement> {
    let current = problem.current();
    let mut starts = Vec::new();
    if problem.violation(&current).is_none() {
        starts.push(current.clone());
    } else if let Some(p) = repair(problem) {
        starts.push(p);
    }
    let heaviest = heaviest_first(problem);
    starts.extend(construct(problem, &current, &heaviest));
    let hardest = hardest_first(problem);
    starts.extend(construct(problem, &current, &hardest));
    if starts.iter().all(|p| problem.violation(p).is_some()) {
        starts.extend(construct_balanced(problem, &current, &hardest));
    }
    let edges = heavy_edges(problem);
    let tolerance = tolerance(problem);
    let mut best: Option<(f64, Placement)> = None;
    for mut p in starts {
        if problem.violation(&p).is_some() {
            continue;
        }
        refine(problem, &mut p);
        for _ in 0..3 {
            if !pair_moves(problem, &mut p, &edges, tolerance) {
                break;
            }
            refine(problem, &mut p);
        }
        let cost = problem.cross_zone_bytes_per_second(&p);
        if best.as_ref().is_none_or(|(c, _)| cost < *c) {
            best = Some((cost, p));
        }
    }
    best.map(|(_, p)| p)
}
