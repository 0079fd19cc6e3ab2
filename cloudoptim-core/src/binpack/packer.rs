//! The LP-guided best-fit-decreasing packer.

use std::collections::HashMap;

use super::candidates::{candidates, Candidate};
use super::classes::{classify, slot_labels, too_large, Class};
use super::lower_bound::{dual_weights, lower_bound, per_pod_bound, value, Row};
use super::requirement::PodRequirement;
use super::{PackError, PackedNode, Packer, Packing, PackingPolicy, Unplaced, Unschedulable};
use crate::catalog::Catalog;
use crate::money::UsdPerHour;
use crate::resources::{Dimension, Resources};
use crate::snapshot::CapacityType;

/// Best-fit decreasing guided by the linear relaxation (see the module docs
/// of [`crate::binpack`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LpGuidedPacker {
    /// How many instance types are tried for each new node (the most
    /// LP-efficient ones that hold its first pod).
    pub types_per_node: usize,
    /// How many unplaced pods are looked at while filling one trial node.
    pub scan_per_node: usize,
    /// Supergradient steps spent on the per-pod lower bound.
    pub bound_steps: usize,
    /// Try to empty this share (per mille) of the least-filled nodes into
    /// the others after packing.
    pub repack_per_mille: usize,
}

impl Default for LpGuidedPacker {
    fn default() -> Self {
        LpGuidedPacker {
            types_per_node: 12,
            scan_per_node: 256,
            bound_steps: 60,
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
        let mut solved = lower_bound(&rows, &cands);
        let weights = dual_weights(&rows, &solved.duals, &cands);
        let per_pod = per_pod_bound(
            placeable.iter().filter_map(|&i| {
                let req = &pods.get(i)?.requests;
                let class = classified.of_pod.get(i).and_then(|&k| classes.get(k))?;
                Some((req, class.types.as_slice()))
            }),
            &cands,
            &weights,
            self.bound_steps,
        );
        let per_pod_micro = (per_pod * 1_000_000.0).floor();
        if per_pod_micro.is_finite() && per_pod_micro as i64 > solved.bound.usd_per_hour.micro_usd()
        {
            solved.bound.usd_per_hour = UsdPerHour::from_micro_usd(per_pod_micro as i64);
            solved.bound.method = "per-pod".into();
        }
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

        let pod_values: Vec<f64> = (0..pods.len())
            .map(|i| {
                let p = problem.prices_of(i);
                pods.get(i)
                    .map(|pod| value(&p, &pod.requests))
                    .unwrap_or(0.0)
            })
            .collect();
        let sorted: Vec<usize> = order.iter().map(|&(_, i)| i).collect();
        let (mut nodes, stuck) = fill_by_patterns(
            &problem,
            &sorted,
            &open_order,
            &pod_values,
            self.types_per_node.max(1),
            self.scan_per_node.max(2),
        );
        for i in stuck {
            let zone = problem
                .zone_of
                .get(i)
                .copied()
                .flatten()
                .and_then(|z| policy.zones.get(z))
                .cloned()
                .unwrap_or_default();
            unplaced.push(Unplaced {
                pod: i,
                reason: Unschedulable::NoFitInZone { zone },
            });
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

/// Marker for "no position" in the linked list of unplaced pods.
const NONE: usize = usize::MAX;

/// Build nodes one at a time, largest unplaced pod first: for each of the
/// pod's `types_per_node` most LP-efficient instance types, simulate filling
/// a node with that pod, then the following unplaced pods and the smallest
/// ones (`scan` pods looked at in all), and keep the node that packs the
/// most LP value per dollar. Returns the nodes and the pods that fit no
/// type in the zone their spread constraint assigned.
fn fill_by_patterns(
    problem: &Problem<'_>,
    sorted: &[usize],
    open_order: &[Vec<usize>],
    pod_values: &[f64],
    types_per_node: usize,
    scan: usize,
) -> (Vec<Open>, Vec<usize>) {
    let n = sorted.len();
    // A doubly linked list over positions in `sorted` of the unplaced pods.
    let mut next: Vec<usize> = (1..=n).map(|i| if i == n { NONE } else { i }).collect();
    let mut prev: Vec<usize> = (0..n).map(|i| if i == 0 { NONE } else { i - 1 }).collect();
    let mut head = if n == 0 { NONE } else { 0 };
    let mut tail = if n == 0 { NONE } else { n - 1 };
    let mut stamp = vec![0u32; n];
    let mut generation = 0u32;
    let mut nodes = Vec::new();
    let mut stuck = Vec::new();
    let mut next_zone = 0usize;
    let mut taken: Vec<usize> = Vec::new();
    let mut best_taken: Vec<usize> = Vec::new();

    let get = |v: &[usize], i: usize| v.get(i).copied().unwrap_or(NONE);

    while head != NONE {
        let Some(&p0) = sorted.get(head) else { break };
        let k = problem.of_pod.get(p0).copied().unwrap_or(0);
        let req0 = problem.pods.get(p0).map(|p| p.requests).unwrap_or_default();
        let fixed_zone = problem.zone_of.get(p0).copied().flatten();
        let class = problem.classes.get(k);
        let mut best: Option<(f64, Open)> = None;
        let mut tried = 0usize;
        for &t in open_order.get(k).map(Vec::as_slice).unwrap_or(&[]) {
            if tried >= types_per_node {
                break;
            }
            let Some(c) = problem.candidates.get(t) else {
                continue;
            };
            if !req0.fits_within(&c.allocatable) {
                continue;
            }
            let compatible = |z: usize| {
                class
                    .and_then(|cl| cl.compatible.get(t * problem.zones + z))
                    .copied()
                    .unwrap_or(false)
            };
            let zone = match fixed_zone {
                Some(z) => compatible(z).then_some(z),
                None => (0..problem.zones)
                    .map(|o| (next_zone + o) % problem.zones)
                    .find(|&z| compatible(z)),
            };
            let Some(zone) = zone else { continue };
            tried += 1;

            generation = generation.wrapping_add(1);
            taken.clear();
            let mut node = Open {
                candidate: t,
                zone,
                free: c.allocatable,
                pods: Vec::new(),
                groups: Vec::new(),
                classes: Vec::new(),
            };
            let mut packed_value = 0.0;
            let mut take = |pos: usize, node: &mut Open, taken: &mut Vec<usize>| {
                let Some(&p) = sorted.get(pos) else { return };
                if stamp.get(pos).copied() == Some(generation) {
                    return; // Already in this trial node.
                }
                if problem.fits(p, node) {
                    problem.place(p, node);
                    taken.push(pos);
                    packed_value += pod_values.get(p).copied().unwrap_or(0.0);
                    if let Some(s) = stamp.get_mut(pos) {
                        *s = generation;
                    }
                }
            };
            take(head, &mut node, &mut taken);
            // The largest pods after it, then the smallest ones as filler.
            let mut pos = get(&next, head);
            let mut looked = 0;
            while pos != NONE && looked < scan / 2 && node.free.pods > 0 {
                take(pos, &mut node, &mut taken);
                looked += 1;
                pos = get(&next, pos);
            }
            let mut pos = tail;
            while pos != NONE && looked < scan && node.free.pods > 0 {
                take(pos, &mut node, &mut taken);
                looked += 1;
                pos = get(&prev, pos);
            }
            let score = packed_value / c.usd_per_hour.usd();
            if best.as_ref().is_none_or(|(s, _)| score > *s) {
                best = Some((score, node));
                std::mem::swap(&mut best_taken, &mut taken);
            }
        }
        match best {
            Some((_, node)) => {
                next_zone = (node.zone + 1) % problem.zones.max(1);
                for &pos in &best_taken {
                    unlink(pos, &mut next, &mut prev, &mut head, &mut tail);
                }
                nodes.push(node);
            }
            None => {
                stuck.push(p0);
                unlink(head, &mut next, &mut prev, &mut head, &mut tail);
            }
        }
    }
    (nodes, stuck)
}

/// Remove `pos` from the linked list.
fn unlink(pos: usize, next: &mut [usize], prev: &mut [usize], head: &mut usize, tail: &mut usize) {
    let (p, n) = (
        prev.get(pos).copied().unwrap_or(NONE),
        next.get(pos).copied().unwrap_or(NONE),
    );
    match next.get_mut(p) {
        Some(slot) => *slot = n,
        None => *head = n,
    }
    match prev.get_mut(n) {
        Some(slot) => *slot = p,
        None => *tail = p,
    }
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
