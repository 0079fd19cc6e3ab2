//! The exact placement for small problems: branch and bound over every
//! admissible distribution of every movable service. It is the oracle the
//! heuristic is tested against.

use petgraph::visit::EdgeRef;

use super::problem::{saturating_mul, Placement, Problem, ServiceSpec};
use crate::resources::Resources;

/// Search nodes the exact method visits at most before giving up.
pub const EXACT_NODE_BUDGET: u64 = 20_000_000;

/// Every count vector `spec` admits (capacity aside), in lexicographic order.
pub(super) fn distributions(spec: &ServiceSpec, zones: usize) -> Vec<Vec<u32>> {
    fn go(spec: &ServiceSpec, z: usize, left: u32, row: &mut Vec<u32>, out: &mut Vec<Vec<u32>>) {
        if z + 1 == row.len() {
            if let Some(last) = row.get_mut(z) {
                *last = left;
            }
            if spec.admits(row) {
                out.push(row.clone());
            }
            return;
        }
        for c in 0..=left {
            if let Some(slot) = row.get_mut(z) {
                *slot = c;
            }
            go(spec, z + 1, left - c, row, out);
        }
    }
    if !spec.movable {
        return vec![spec.current.clone()];
    }
    let mut out = Vec::new();
    if zones > 0 {
        go(spec, 0, spec.replicas, &mut vec![0; zones], &mut out);
    }
    out
}

struct Search<'a> {
    problem: &'a Problem,
    order: Vec<usize>,
    options: Vec<Vec<Vec<u32>>>,
    /// Edges (with own traffic) still open once the first `d` services of
    /// `order` are set: an upper bound on the same-zone traffic left.
    open_after: Vec<f64>,
    /// Edges closed when the `d`-th service of `order` is set: (other, weight).
    closing: Vec<Vec<(usize, f64)>>,
    placement: Placement,
    load: Vec<Resources>,
    best: Option<(f64, Placement)>,
    nodes: u64,
}

impl Search<'_> {
    fn go(&mut self, depth: usize, same_zone: f64) -> bool {
        self.nodes += 1;
        if self.nodes > EXACT_NODE_BUDGET {
            return false;
        }
        let Some(&s) = self.order.get(depth) else {
            if self.best.as_ref().is_none_or(|(b, _)| same_zone > *b) {
                self.best = Some((same_zone, self.placement.clone()));
            }
            return true;
        };
        let bound = same_zone + self.open_after.get(depth).copied().unwrap_or(0.0);
        if self.best.as_ref().is_some_and(|(b, _)| bound <= *b) {
            return true;
        }
        let Some(spec) = self.problem.services.get(s) else {
            return true;
        };
        let options = self.options.get(depth).cloned().unwrap_or_default();
        for counts in options {
            let fits = counts
                .iter()
                .zip(&self.load)
                .zip(&self.problem.capacity)
                .all(|((&c, load), cap)| {
                    !spec.movable
                        || load
                            .saturating_add(saturating_mul(spec.per_replica, c))
                            .fits_within(cap)
                });
            if !fits {
                continue;
            }
            self.placement.set(s, &counts);
            if spec.movable {
                for (l, &c) in self.load.iter_mut().zip(&counts) {
                    *l = l.saturating_add(saturating_mul(spec.per_replica, c));
                }
            }
            let mut gained = 0.0;
            for &(t, w) in self.closing.get(depth).map(Vec::as_slice).unwrap_or(&[]) {
                gained += w * self.problem.same_zone_share(&self.placement, s, t);
            }
            let finished = self.go(depth + 1, same_zone + gained);
            if spec.movable {
                for (l, &c) in self.load.iter_mut().zip(&counts) {
                    *l = l.saturating_sub(saturating_mul(spec.per_replica, c));
                }
            }
            if !finished {
                return false;
            }
        }
        true
    }
}

/// The placement with the least cross-zone traffic, by exhaustive branch
/// and bound. `Err(())` when the search would visit more than
/// [`EXACT_NODE_BUDGET`] nodes (the problem is not small); `Ok(None)` when
/// no placement satisfies the constraints.
#[allow(clippy::result_unit_err)]
pub fn place_exact(problem: &Problem) -> Result<Option<Placement>, ()> {
    let zones = problem.zones.len();
    let n = problem.services.len();
    // Fixed services first (one option each), then the most connected.
    let mut order: Vec<usize> = (0..n).collect();
    let degree = |s: usize| {
        problem
            .graph
            .neighbors(petgraph::graph::NodeIndex::new(s))
            .count()
    };
    order.sort_by_key(|&s| {
        (
            problem.services.get(s).is_some_and(|x| x.movable),
            std::cmp::Reverse(degree(s)),
            s,
        )
    });
    let mut position = vec![0usize; n];
    for (d, &s) in order.iter().enumerate() {
        if let Some(p) = position.get_mut(s) {
            *p = d;
        }
    }
    let mut closing = vec![Vec::new(); n];
    let mut closes_at = vec![0.0; n + 1];
    for edge in problem.graph.edge_references() {
        let (a, b) = (edge.source().index(), edge.target().index());
        let (pa, pb) = (
            position.get(a).copied().unwrap_or(0),
            position.get(b).copied().unwrap_or(0),
        );
        let (late, early) = if pa >= pb { (a, b) } else { (b, a) };
        let d = pa.max(pb);
        if let Some(c) = closing.get_mut(d) {
            c.push((early, *edge.weight()));
        }
        let _ = late;
        if let Some(c) = closes_at.get_mut(d) {
            *c += edge.weight();
        }
    }
    for (s, &w) in problem.self_bytes_per_second.iter().enumerate() {
        if w > 0.0 {
            let d = position.get(s).copied().unwrap_or(0);
            if let Some(c) = closing.get_mut(d) {
                c.push((s, w));
            }
            if let Some(c) = closes_at.get_mut(d) {
                *c += w;
            }
        }
    }
    // open_after[d] = Σ of what closes at depth ≥ d.
    let mut open_after = vec![0.0; n + 1];
    for d in (0..n).rev() {
        let next = open_after.get(d + 1).copied().unwrap_or(0.0);
        if let Some(o) = open_after.get_mut(d) {
            *o = next + closes_at.get(d).copied().unwrap_or(0.0);
        }
    }
    let options = order
        .iter()
        .map(|&s| {
            problem
                .services
                .get(s)
                .map(|spec| distributions(spec, zones))
                .unwrap_or_default()
        })
        .collect();
    let mut search = Search {
        problem,
        order,
        options,
        open_after,
        closing,
        placement: Placement {
            zones,
            counts: vec![0; n * zones],
        },
        load: vec![Resources::ZERO; zones],
        best: None,
        nodes: 0,
    };
    if !search.go(0, 0.0) {
        return Err(());
    }
    Ok(search.best.map(|(_, p)| p))
}
