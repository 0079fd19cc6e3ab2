//! The LP-guided best-fit-decreasing packer.

use std::collections::HashMap;

use super::candidates::{candidates, Candidate};
use super::classes::{classify, slot_labels, too_large, Class};
use super::lower_bound::{lower_bound, value, Row};
use super::requirement::PodRequirement;
use super::{PackError, PackedNode, Packer, Packing, PackingPolicy, Unplaced};
use crate::catalog::Catalog;
use crate::money::UsdPerHour;
use crate::resources::{Dimension, Resources};
use crate::snapshot::CapacityType;

/// Best-fit decreasing guided by the linear relaxation (see the module docs
/// of [`crate::binpack`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LpGuidedPacker {
    /// How many of the most recently opened, not yet full nodes each pod
    /// tries before a new node is opened. Larger is slower and tighter.
    pub search_window: usize,
    /// Try to empty this share (per mille) of the least-filled nodes into
    /// the others after packing.
    pub repack_per_mille: usize,
}

impl Default for LpGuidedPacker {
    fn default() -> Self {
        LpGuidedPacker {
            search_window: 48,
            repack_per_mille: 100,
        }
    }
}

/// A node being filled.
struct Open {
    candidate: usize,
    zone: usize,
    free: Resources,
    pods: Vec<usize>,
    groups: Vec<u32>,
    classes: Vec<usize>,
}

/// Everything the placement loop needs about the problem.
struct Problem<'a> {
    pods: &'a [PodRequirement],
    candidates: &'a [Candidate],
    classes: &'a [Class],
    of_pod: &'a [usize],
    zones: usize,
    /// Anti-affinity group id of each pod.
    group: Vec<Option<u32>>,
    /// Zone each spread pod must go to.
    zone_of: Vec<Option<usize>>,
    /// Dual resource prices per class.
    prices: Vec<[f64; 5]>,
}

impl Problem<'_> {
    fn fits(&self, pod: usize, node: &Open) -> bool {
        let Some(req) = self.pods.get(pod) else {
            return false;
        };
        let class = self.of_pod.get(pod).and_then(|&k| self.classes.get(k));
        class.is_some_and(|c| {
            c.compatible
                .get(node.candidate * self.zones + node.zone)
                .copied()
                .unwrap_or(false)
        }) && self
            .zone_of
            .get(pod)
            .copied()
            .flatten()
            .is_none_or(|z| z == node.zone)
            && req.requests.fits_within(&node.free)
            && self
                .group
                .get(pod)
                .copied()
                .flatten()
                .is_none_or(|g| !node.groups.contains(&g))
    }

    fn prices_of(&self, pod: usize) -> [f64; 5] {
        self.of_pod
            .get(pod)
            .and_then(|&k| self.prices.get(k))
            .copied()
            .unwrap_or([0.0; 5])
    }

    fn place(&self, pod: usize, node: &mut Open) {
        if let Some(req) = self.pods.get(pod) {
            node.free = node.free.saturating_sub(req.requests);
        }
        node.pods.push(pod);
        if let Some(g) = self.group.get(pod).copied().flatten() {
            node.groups.push(g);
        }
        if let Some(&k) = self.of_pod.get(pod) {
            if !node.classes.contains(&k) {
                node.classes.push(k);
            }
        }
    }

    /// The node among `window` where `pod` leaves the least value free.
    fn best_fit(&self, pod: usize, nodes: &[Open], window: &[usize]) -> Option<usize> {
        let prices = self.prices_of(pod);
        let req = self.pods.get(pod)?.requests;
        let mut best: Option<(usize, f64)> = None;
        for &n in window {
            let Some(node) = nodes.get(n) else { continue };
            if !self.fits(pod, node) {
                continue;
            }
            let left = value(&prices, &node.free.saturating_sub(req));
            if best.is_none_or(|(_, b)| left < b) {
                best = Some((n, left));
            }
        }
        best.map(|(n, _)| n)
    }
}

impl Packer for LpGuidedPacker {
    fn pack(
        &self,
        pods: &[PodRequirement],
        catalog: &Catalog,
        policy: &PackingPolicy,
    ) -> Result<Packing, PackError> {
        let cands = candidates(catalog, policy)?;
        let zones = policy.zones.len();
        let labels = slot_labels(&cands, &policy.zones);
        let classified = classify(pods, &cands, &policy.zones, &labels);
        let classes = &classified.classes;

        // Which pods can be placed at all.
        let mut unplaced = Vec::new();
        let mut placeable = Vec::with_capacity(pods.len());
        for (i, pod) in pods.iter().enumerate() {
            let Some(class) = classified.of_pod.get(i).and_then(|&k| classes.get(k)) else {
                continue;
            };
            if let Some(reason) = class.no_match.clone() {
                unplaced.push(Unplaced { pod: i, reason });
            } else if let Some(reason) = too_large(pod, class, &cands) {
                unplaced.push(Unplaced { pod: i, reason });
            } else {
                placeable.push(i);
            }
        }

        // Anti-affinity groups and zone spread.
        let mut group_ids: HashMap<&str, u32> = HashMap::new();
        let mut group = vec![None; pods.len()];
        let mut group_members: Vec<Vec<usize>> = Vec::new();
        for &i in &placeable {
            if let Some(name) = pods.get(i).and_then(|p| p.anti_affinity_group.as_deref()) {
                let next = group_ids.len() as u32;
                let id = *group_ids.entry(name).or_insert(next);
                if let Some(slot) = group.get_mut(i) {
                    *slot = Some(id);
                }
                if group_members.len() <= id as usize {
                    group_members.push(Vec::new());
                }
                if let Some(m) = group_members.get_mut(id as usize) {
                    m.push(i);
                }
            }
        }

        // The relaxation: cluster-wide rows, class rows, anti-affinity rows.
        let mut rows = Vec::new();
        let demand = |members: &mut dyn Iterator<Item = &usize>| {
            members
                .filter_map(|&i| pods.get(i))
                .fold(Resources::ZERO, |a, p| a.saturating_add(p.requests))
        };
        let total = demand(&mut placeable.iter());
        for d in Dimension::ALL {
            rows.push(Row::Resource {
                types: None,
                dimension: d,
                demand: total.get(d),
            });
        }
        let mut class_rows: Vec<Vec<(usize, Dimension)>> = vec![Vec::new(); classes.len()];
        let mut by_class: Vec<Vec<usize>> = vec![Vec::new(); classes.len()];
        for &i in &placeable {
            if let Some(v) = classified.of_pod.get(i).and_then(|&k| by_class.get_mut(k)) {
                v.push(i);
            }
        }
        for (k, class) in classes.iter().enumerate() {
            let members = by_class.get(k).map(Vec::as_slice).unwrap_or(&[]);
            if members.is_empty() || class.types.len() == cands.len() {
                continue;
            }
            let class_demand = demand(&mut members.iter());
            for d in Dimension::ALL {
                if class_demand.get(d) > 0 {
                    if let Some(r) = class_rows.get_mut(k) {
                        r.push((rows.len(), d));
                    }
                    rows.push(Row::Resource {
                        types: Some(class.types.clone()),
                        dimension: d,
                        demand: class_demand.get(d),
                    });
                }
            }
        }
        for members in &group_members {
            let mut types: Vec<usize> = members
                .iter()
                .filter_map(|&i| classified.of_pod.get(i).and_then(|&k| classes.get(k)))
                .flat_map(|c| c.types.iter().copied())
                .collect();
            types.sort_unstable();
            types.dedup();
            if members.len() > 1 {
                rows.push(Row::Nodes {
                    types,
                    nodes: members.len() as u64,
                });
            }
        }
        let solved = lower_bound(&rows, &cands);
        let global: [f64; 5] = std::array::from_fn(|d| solved.duals.get(d).copied().unwrap_or(0.0));
        let prices: Vec<[f64; 5]> = class_rows
            .iter()
            .map(|rs| {
                let mut p = global;
                for &(row, d) in rs {
                    if let (Some(slot), Some(y)) = (
                        Dimension::ALL
                            .iter()
                            .position(|x| *x == d)
                            .and_then(|i| p.get_mut(i)),
                        solved.duals.get(row),
                    ) {
                        *slot += y;
                    }
                }
                p
            })
            .collect();

        // Largest first, by LP value, then by the pod's index for determinism.
        let key = |i: usize| {
            let p = classified
                .of_pod
                .get(i)
                .and_then(|&k| prices.get(k))
                .copied()
                .unwrap_or(global);
            pods.get(i)
                .map(|pod| value(&p, &pod.requests))
                .unwrap_or(0.0)
        };
        let mut order: Vec<(f64, usize)> = placeable.iter().map(|&i| (key(i), i)).collect();
        order.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));

        // Zone spread: round-robin over the class's zones in that order.
        let mut zone_of = vec![None; pods.len()];
        let mut spread_next: HashMap<&str, usize> = HashMap::new();
        for &(_, i) in &order {
            let Some(pod) = pods.get(i) else { continue };
            let Some((name, _)) = pod.zone_spread.as_ref() else {
                continue;
            };
            let Some(class) = classified.of_pod.get(i).and_then(|&k| classes.get(k)) else {
                continue;
            };
            let allowed: Vec<usize> = (0..zones)
                .filter(|&z| {
                    class.types.iter().any(|&t| {
                        class
                            .compatible
                            .get(t * zones + z)
                            .copied()
                            .unwrap_or(false)
                    })
                })
                .collect();
            let n = spread_next.entry(name.as_str()).or_insert(0);
            if let Some(&z) = allowed.get(*n % allowed.len().max(1)) {
                if let Some(slot) = zone_of.get_mut(i) {
                    *slot = Some(z);
                }
            }
            *n += 1;
        }

        // Per class, the types to open in order: most LP value per dollar first, then larger.
        let open_order: Vec<Vec<usize>> = classes
            .iter()
            .zip(&prices)
            .map(|(class, p)| {
                let mut ts: Vec<(f64, f64, usize)> = class
                    .types
                    .iter()
                    .filter_map(|&t| cands.get(t).map(|c| (t, c)))
                    .map(|(t, c)| {
                        let v = value(p, &c.allocatable);
                        (v / c.usd_per_hour.usd(), v, t)
                    })
                    .collect();
                ts.sort_by(|a, b| {
                    let eff = (b.0 * 1e6).round().total_cmp(&(a.0 * 1e6).round());
                    eff.then(b.1.total_cmp(&a.1)).then(a.2.cmp(&b.2))
                });
                ts.into_iter().map(|(_, _, t)| t).collect()
            })
            .collect();

        let problem = Problem {
            pods,
            candidates: &cands,
            classes,
            of_pod: &classified.of_pod,
            zones,
            group,
            zone_of,
            prices,
        };

        let mut nodes: Vec<Open> = Vec::new();
        let mut open: Vec<usize> = Vec::new();
        let mut next_zone = 0usize;
        for &(_, i) in &order {
            let start = open.len().saturating_sub(self.search_window.max(1));
            let target = open
                .get(start..)
                .and_then(|w| problem.best_fit(i, &nodes, w));
            let n = match target {
                Some(n) => n,
                None => {
                    let Some(node) = new_node(&problem, &open_order, i, &mut next_zone) else {
                        continue;
                    };
                    nodes.push(node);
                    open.push(nodes.len() - 1);
                    nodes.len() - 1
                }
            };
            if let Some(node) = nodes.get_mut(n) {
                problem.place(i, node);
            }
            // Retire nodes that cannot take even a tiny pod any more.
            if nodes
                .get(n)
                .is_some_and(|node| node.free.pods == 0 || node.free.cpu_millis < 10)
            {
                open.retain(|&x| x != n);
            }
        }

        repack(&problem, &mut nodes, self.repack_per_mille);

        // Shrink every node to the cheapest type that still holds its pods.
        let mut out = Vec::with_capacity(nodes.len());
        for node in nodes.into_iter().filter(|n| !n.pods.is_empty()) {
            let requested = node
                .pods
                .iter()
                .filter_map(|&i| pods.get(i))
                .fold(Resources::ZERO, |a, p| a.saturating_add(p.requests));
            let cheapest = cands.iter().enumerate().find(|(t, c)| {
                requested.fits_within(&c.allocatable)
                    && node.classes.iter().all(|&k| {
                        classes
                            .get(k)
                            .and_then(|cl| cl.compatible.get(t * zones + node.zone))
                            .copied()
                            .unwrap_or(false)
                    })
            });
            let t = cheapest.map(|(t, _)| t).unwrap_or(node.candidate);
            let Some(c) = cands.get(t) else { continue };
            out.push(PackedNode {
                instance_type: c.instance_type.clone(),
                zone: policy.zones.get(node.zone).cloned().unwrap_or_default(),
                capacity_type: if policy.capacity_type == CapacityType::Spot {
                    CapacityType::Spot
                } else {
                    CapacityType::OnDemand
                },
                usd_per_hour: c.usd_per_hour,
                allocatable: c.allocatable,
                requested,
                pods: node.pods,
            });
        }
        let usd_per_hour = out.iter().map(|n| n.usd_per_hour).sum::<UsdPerHour>();
        unplaced.sort_by_key(|u| u.pod);
        Ok(Packing {
            nodes: out,
            unplaced,
            usd_per_hour,
            lower_bound: solved.bound,
        })
    }
}

/// Open a node for `pod`: the first type in its class's order that fits it
/// in an allowed zone.
fn new_node(
    problem: &Problem<'_>,
    open_order: &[Vec<usize>],
    pod: usize,
    next_zone: &mut usize,
) -> Option<Open> {
    let k = *problem.of_pod.get(pod)?;
    let class = problem.classes.get(k)?;
    let req = problem.pods.get(pod)?.requests;
    let fixed_zone = problem.zone_of.get(pod).copied().flatten();
    for &t in open_order.get(k)? {
        let c = problem.candidates.get(t)?;
        if !req.fits_within(&c.allocatable) {
            continue;
        }
        let zone = match fixed_zone {
            Some(z) => class
                .compatible
                .get(t * problem.zones + z)
                .copied()
                .unwrap_or(false)
                .then_some(z),
            None => (0..problem.zones)
                .map(|o| (*next_zone + o) % problem.zones)
                .find(|&z| {
                    class
                        .compatible
                        .get(t * problem.zones + z)
                        .copied()
                        .unwrap_or(false)
                }),
        };
        if let Some(zone) = zone {
            *next_zone = (zone + 1) % problem.zones.max(1);
            return Some(Open {
                candidate: t,
                zone,
                free: c.allocatable,
                pods: Vec::new(),
                groups: Vec::new(),
                classes: Vec::new(),
            });
        }
    }
    None
}

/// Empty the least-filled nodes into the others where every pod fits.
fn repack(problem: &Problem<'_>, nodes: &mut [Open], per_mille: usize) {
    let fill = |n: &Open| {
        let alloc = problem
            .candidates
            .get(n.candidate)
            .map(|c| c.allocatable)
            .unwrap_or_default();
        let used = alloc.saturating_sub(n.free);
        Dimension::ALL
            .into_iter()
            .map(|d| used.fraction_of(&alloc, d))
            .fold(0.0, f64::max)
    };
    let mut by_fill: Vec<(f64, usize)> = nodes
        .iter()
        .enumerate()
        .map(|(i, n)| (fill(n), i))
        .collect();
    by_fill.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    let tries = (nodes.len() * per_mille).div_ceil(1000);
    for &(_, victim) in by_fill.iter().take(tries) {
        let pods: Vec<usize> = match nodes.get(victim) {
            Some(n) if !n.pods.is_empty() => n.pods.clone(),
            _ => continue,
        };
        // Receivers: the other non-empty nodes with the most room, trying the fullest that fits first.
        let mut moves: Vec<(usize, usize)> = Vec::with_capacity(pods.len());
        let mut scratch: Vec<(usize, Resources, Vec<u32>)> = Vec::new();
        let mut ok = true;
        let mut receivers: Vec<(f64, usize)> = nodes
            .iter()
            .enumerate()
            .filter(|(i, n)| *i != victim && !n.pods.is_empty())
            .map(|(i, n)| (fill(n), i))
            .collect();
        receivers.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        for &p in &pods {
            let mut placed = false;
            for &(_, r) in &receivers {
                let Some(node) = nodes.get(r) else { continue };
                // Apply tentative moves already made to this receiver.
                let (free, groups) = match scratch.iter().find(|(i, _, _)| *i == r) {
                    Some((_, f, g)) => (*f, g.clone()),
                    None => (node.free, node.groups.clone()),
                };
                let probe = Open {
                    candidate: node.candidate,
                    zone: node.zone,
                    free,
                    pods: Vec::new(),
                    groups,
                    classes: Vec::new(),
                };
                if problem.fits(p, &probe) {
                    let req = problem.pods.get(p).map(|x| x.requests).unwrap_or_default();
                    let group = problem.group.get(p).copied().flatten();
                    match scratch.iter_mut().find(|(i, _, _)| *i == r) {
                        Some((_, f, g)) => {
                            *f = f.saturating_sub(req);
                            g.extend(group);
                        }
                        None => {
                            let mut g = probe.groups;
                            g.extend(group);
                            scratch.push((r, free.saturating_sub(req), g));
                        }
                    }
                    moves.push((p, r));
                    placed = true;
                    break;
                }
            }
            if !placed {
                ok = false;
                break;
            }
        }
        if !ok {
            continue;
        }
        for (p, r) in moves {
            if let Some(node) = nodes.get_mut(r) {
                problem.place(p, node);
            }
        }
        if let Some(v) = nodes.get_mut(victim) {
            v.pods.clear();
            v.groups.clear();
            v.classes.clear();
        }
    }
}
