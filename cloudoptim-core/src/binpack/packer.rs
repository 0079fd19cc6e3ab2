//! The LP-guided best-fit-decreasing packer.

use std::collections::HashMap;

use super::candidates::{candidates, Candidate};
use super::classes::{classify, slot_labels, too_large, Class};
use super::column_generation::{best_farley_bound, resolve, Configurations, Kind, Pattern};
use super::local_search;
use super::lower_bound::{
    dual_weights, lower_bound, per_pod_bound, round_down, value, Row, Solved,
};
use super::requirement::PodRequirement;
use super::{
    ConfigurationLp, PackError, PackedNode, Packer, Packing, PackingPolicy, PackingReport,
    Unplaced, Unschedulable,
};
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
    /// Rounds of column generation on the configuration LP (0: none),
    /// whose solution is rounded into a second packing and whose dual
    /// certifies a tighter bound.
    pub column_generation_rounds: usize,
    /// Patterns added to the configuration LP per round at most.
    pub columns_per_round: usize,
    /// About how many knapsack LP relaxations column generation may solve
    /// in all (a deterministic time budget).
    pub column_generation_work: usize,
    /// Column generation runs only when the pods form at most this many
    /// kinds (identical requests and constraints): its master LP grows
    /// with them.
    pub column_generation_max_kinds: usize,
    /// About how many fit checks the local search on the final packing
    /// may make (0: none; see `local_search`), a deterministic time budget.
    pub local_search_work: usize,
}

impl Default for LpGuidedPacker {
    fn default() -> Self {
        LpGuidedPacker {
            types_per_node: 12,
            scan_per_node: 256,
            bound_steps: 150,
            repack_per_mille: 100,
            column_generation_rounds: 1_000,
            columns_per_round: 60,
            column_generation_work: 300_000,
            column_generation_max_kinds: 200,
            local_search_work: 600_000_000,
        }
    }
}

impl LpGuidedPacker {
    /// The packer for consolidation, which repacks a few nodes' pods many
    /// times per plan (every group size tried, every plan of a steady-state
    /// iteration) and reads only the packing's cost: column generation and
    /// the per-pod bound's search off, a local search of 10 million fit
    /// checks. On a generated 300-node cluster 30–50% full
    /// (`binpack --until-steady --underutilized 300`) it reaches the same
    /// steady state as the default packer in 2.7 s instead of 140 s.
    ///
    /// ```
    /// use cloudoptim_core::binpack::LpGuidedPacker;
    ///
    /// let packer = LpGuidedPacker::for_consolidation();
    /// assert_eq!(packer.column_generation_rounds, 0);
    /// assert!(packer.local_search_work < LpGuidedPacker::default().local_search_work);
    /// ```
    pub fn for_consolidation() -> Self {
        LpGuidedPacker {
            column_generation_rounds: 0,
            bound_steps: 0,
            local_search_work: 10_000_000,
            ..LpGuidedPacker::default()
        }
    }
}

/// A node being filled.
#[derive(Clone)]
pub(super) struct Open {
    pub(super) candidate: usize,
    pub(super) zone: usize,
    pub(super) free: Resources,
    pub(super) pods: Vec<usize>,
    pub(super) groups: Vec<u32>,
    pub(super) classes: Vec<usize>,
}

/// Everything the placement loop needs about the problem.
pub(super) struct Problem<'a> {
    pub(super) pods: &'a [PodRequirement],
    pub(super) candidates: &'a [Candidate],
    pub(super) classes: &'a [Class],
    pub(super) of_pod: &'a [usize],
    pub(super) zones: usize,
    /// Anti-affinity group id of each pod.
    pub(super) group: Vec<Option<u32>>,
    /// Zone each spread pod must go to.
    pub(super) zone_of: Vec<Option<usize>>,
    /// Dual resource prices per class.
    prices: Vec<[f64; 5]>,
    /// Dual prices of the cluster-wide rows.
    global: [f64; 5],
}

impl Open {
    /// A node of candidate `candidate` in `zone` with nothing on it yet.
    pub(super) fn empty(candidate: usize, zone: usize, allocatable: Resources) -> Open {
        Open {
            candidate,
            zone,
            free: allocatable,
            pods: Vec::new(),
            groups: Vec::new(),
            classes: Vec::new(),
        }
    }
}

impl Problem<'_> {
    pub(super) fn fits(&self, pod: usize, node: &Open) -> bool {
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

    /// The prices that measure room on a node for `pod`: the cluster-wide
    /// duals, or the pod's class duals when the cluster-wide ones are all
    /// zero (every pod restricted to some types puts the price in class rows).
    fn room_prices(&self, pod: usize) -> [f64; 5] {
        if self.global.iter().any(|p| *p > 0.0) {
            self.global
        } else {
            self.prices_of(pod)
        }
    }

    pub(super) fn prices_of(&self, pod: usize) -> [f64; 5] {
        self.of_pod
            .get(pod)
            .and_then(|&k| self.prices.get(k))
            .copied()
            .unwrap_or([0.0; 5])
    }

    pub(super) fn place(&self, pod: usize, node: &mut Open) {
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

        // Anti-affinity groups.
        let mut group_ids: HashMap<&str, u32> = HashMap::new();
        let mut group = vec![None; pods.len()];
        for &i in &placeable {
            if let Some(name) = pods.get(i).and_then(|p| p.anti_affinity_group.as_deref()) {
                let next = group_ids.len() as u32;
                let id = *group_ids.entry(name).or_insert(next);
                if let Some(slot) = group.get_mut(i) {
                    *slot = Some(id);
                }
            }
        }

        let (mut solved, class_rows, mut relaxations) = relax(
            pods,
            &placeable,
            &classified.of_pod,
            classes,
            &cands,
            &group,
            self.bound_steps,
        );
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

        // Zone spread: each pod, largest first, goes to the least-loaded zone
        // of its group among those where a type of its class can hold it.
        let mut zone_of = vec![None; pods.len()];
        let mut spread_counts: HashMap<&str, Vec<u32>> = HashMap::new();
        for &(_, i) in &order {
            let Some(pod) = pods.get(i) else { continue };
            let Some((name, _)) = pod.zone_spread.as_ref() else {
                continue;
            };
            let Some(class) = classified.of_pod.get(i).and_then(|&k| classes.get(k)) else {
                continue;
            };
            let holds = |z: usize| {
                class.types.iter().any(|&t| {
                    class
                        .compatible
                        .get(t * zones + z)
                        .copied()
                        .unwrap_or(false)
                        && cands
                            .get(t)
                            .is_some_and(|c| pod.requests.fits_within(&c.allocatable))
                })
            };
            let counts = spread_counts
                .entry(name.as_str())
                .or_insert_with(|| vec![0; zones]);
            let best = (0..zones)
                .filter(|&z| holds(z))
                .min_by_key(|&z| (counts.get(z).copied().unwrap_or(u32::MAX), z));
            if let Some(z) = best {
                if let Some(c) = counts.get_mut(z) {
                    *c += 1;
                }
                if let Some(slot) = zone_of.get_mut(i) {
                    *slot = Some(z);
                }
            }
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
            global,
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
        if !stuck.is_empty() {
            // The bound covers exactly the pods the packing could place.
            let rest: Vec<usize> = placeable
                .iter()
                .copied()
                .filter(|i| !stuck.contains(i))
                .collect();
            let (again, _, again_relaxations) = relax(
                pods,
                &rest,
                &classified.of_pod,
                classes,
                &cands,
                &problem.group,
                self.bound_steps,
            );
            solved.bound = again.bound;
            relaxations = again_relaxations;
        }
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
        let mut nodes = shrink(&problem, nodes);
        let greedy_usd_per_hour = cost(&cands, &nodes);
        let mut bound = solved.bound;
        let mut configuration_lp = ConfigurationLp::Off;
        if self.column_generation_rounds > 0 {
            let mut is_unplaced = vec![false; pods.len()];
            for u in &unplaced {
                if let Some(slot) = is_unplaced.get_mut(u.pod) {
                    *slot = true;
                }
            }
            let sorted_placed: Vec<usize> = sorted
                .iter()
                .copied()
                .filter(|&i| !is_unplaced.get(i).copied().unwrap_or(true))
                .collect();
            match pack_by_configurations(
                &problem,
                &nodes,
                &sorted_placed,
                &open_order,
                &pod_values,
                self,
            ) {
                Ok((cg_nodes, cg_bound, master_usd_per_hour)) => {
                    let packing_usd_per_hour = cg_nodes.as_deref().map(|n| cost(&cands, n));
                    if let Some(cg_nodes) =
                        cg_nodes.filter(|n| cost(&cands, n) < cost(&cands, &nodes))
                    {
                        nodes = cg_nodes;
                    }
                    let bound_usd_per_hour = round_down(cg_bound);
                    if bound_usd_per_hour > bound.usd_per_hour {
                        bound.usd_per_hour = bound_usd_per_hour;
                        bound.method = "configuration-lp".into();
                    }
                    configuration_lp = ConfigurationLp::Solved {
                        bound_usd_per_hour,
                        master_usd_per_hour,
                        packing_usd_per_hour,
                    };
                }
                Err(not_run) => configuration_lp = not_run,
            }
        }

        let before_local_search_usd_per_hour = cost(&cands, &nodes);
        let (nodes, local_search_fit_checks) =
            local_search::improve(&problem, nodes, &pod_values, self.local_search_work);
        let mut out = Vec::with_capacity(nodes.len());
        for node in nodes {
            let Some(c) = cands.get(node.candidate) else {
                continue;
            };
            let requested = c.allocatable.saturating_sub(node.free);
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
            lower_bound: bound,
            report: PackingReport {
                greedy_usd_per_hour,
                configuration_lp,
                before_local_search_usd_per_hour,
                local_search_fit_checks,
                lp_bound_usd_per_hour: relaxations[0],
                per_pod_bound_usd_per_hour: relaxations[1],
            },
        })
    }
}

/// Per class, its rows in the relaxation and their dimension.
type ClassRows = Vec<Vec<(usize, Dimension)>>;

/// The relaxation of packing `placeable` (cluster-wide rows, a row per
/// class that may use only some types, a row per anti-affinity group), its
/// certified dual, and the better of that bound and the per-pod bound.
/// Also returns, per class, its rows and their dimension, and the two
/// bounds (aggregate LP, per-pod) on their own.
#[allow(clippy::too_many_arguments)]
fn relax(
    pods: &[PodRequirement],
    placeable: &[usize],
    of_pod: &[usize],
    classes: &[Class],
    cands: &[Candidate],
    group: &[Option<u32>],
    steps: usize,
) -> (Solved, ClassRows, [UsdPerHour; 2]) {
    let mut group_members: Vec<Vec<usize>> = Vec::new();
    for &i in placeable {
        if let Some(id) = group.get(i).copied().flatten() {
            while group_members.len() <= id as usize {
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
    for &i in placeable {
        if let Some(v) = of_pod.get(i).and_then(|&k| by_class.get_mut(k)) {
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
            .filter_map(|&i| of_pod.get(i).and_then(|&k| classes.get(k)))
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
    let mut solved = lower_bound(&rows, cands);
    let weights = dual_weights(&rows, &solved.duals, cands);
    let class_types: Vec<&[usize]> = classes.iter().map(|c| c.types.as_slice()).collect();
    let per_pod = per_pod_bound(
        placeable
            .iter()
            .filter_map(|&i| Some((&pods.get(i)?.requests, *of_pod.get(i)?))),
        &class_types,
        cands,
        &weights,
        steps,
    );
    let lp = solved.bound.usd_per_hour;
    let per_pod = round_down(per_pod);
    if per_pod > solved.bound.usd_per_hour {
        solved.bound.usd_per_hour = per_pod;
        solved.bound.method = "per-pod".into();
    }
    (solved, class_rows, [lp, per_pod])
}

/// Shape buckets: pods are sorted into this many groups by the angle of
/// their (CPU value, memory value) vector, so a node can be filled with
/// pods whose shape complements what it has left.
const SHAPES: usize = 6;

/// The shape bucket of a resource vector at the given prices.
fn shape(prices: &[f64; 5], r: &Resources) -> usize {
    let cpu = prices.first().copied().unwrap_or(0.0) * r.cpu_millis as f64;
    let memory = prices.get(1).copied().unwrap_or(0.0)
        * (r.memory_bytes as f64 / (1u64 << 30) as f64)
        * 1000.0;
    let angle = memory.atan2(cpu); // 0 = all CPU, π/2 = all memory.
    let b = (angle / std::f64::consts::FRAC_PI_2 * SHAPES as f64) as usize;
    b.min(SHAPES - 1)
}

/// The unplaced pods of one shape, largest first, with their LP values, so
/// a node can jump straight to the largest pods that could still fit.
struct ShapeList {
    pods: Vec<usize>,
    values: Vec<f64>,
    /// Union-find "next unplaced position at or after i" (`len` = none).
    next_alive: Vec<usize>,
}

impl ShapeList {
    fn new(pods: Vec<usize>, pod_values: &[f64]) -> ShapeList {
        let values: Vec<f64> = pods
            .iter()
            .map(|&p| pod_values.get(p).copied().unwrap_or(0.0))
            .collect();
        ShapeList {
            next_alive: (0..=pods.len()).collect(),
            pods,
            values,
        }
    }

    /// The first unplaced position at or after `pos`.
    fn alive_from(&mut self, pos: usize) -> usize {
        let len = self.pods.len();
        let mut root = pos.min(len);
        while let Some(&n) = self.next_alive.get(root) {
            if n == root {
                break;
            }
            root = n;
        }
        // Path compression.
        let mut cur = pos.min(len);
        while let Some(&n) = self.next_alive.get(cur) {
            if n == cur {
                break;
            }
            if let Some(slot) = self.next_alive.get_mut(cur) {
                *slot = root;
            }
            cur = n;
        }
        root
    }

    fn remove(&mut self, pos: usize) {
        if let Some(slot) = self.next_alive.get_mut(pos) {
            *slot = pos + 1;
        }
    }

    /// The first position whose value is at most `value` (values descend).
    fn first_at_most(&self, value: f64) -> usize {
        self.values.partition_point(|&v| v > value)
    }
}

/// Build nodes one at a time for the largest unplaced pod: for each of its
/// `types_per_node` most LP-efficient instance types, simulate a node
/// holding it, then fill the node from the shape buckets that best match
/// the room it has left, starting in each at the largest pods small enough
/// to fit (`scan` pods looked at in all), and keep the node that packs the
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
    // One list per (shape, zone the pod is pinned to, or none).
    let slots = problem.zones + 1;
    let list_of = |p: usize| {
        let req = problem.pods.get(p).map(|x| x.requests).unwrap_or_default();
        let prices = problem.room_prices(p);
        let zone = problem
            .zone_of
            .get(p)
            .copied()
            .flatten()
            .unwrap_or(problem.zones);
        shape(&prices, &req) * slots + zone
    };
    let mut by_list: Vec<Vec<usize>> = vec![Vec::new(); SHAPES * slots];
    for &p in sorted {
        if let Some(l) = by_list.get_mut(list_of(p)) {
            l.push(p);
        }
    }
    let mut lists: Vec<ShapeList> = by_list
        .into_iter()
        .map(|pods| ShapeList::new(pods, pod_values))
        .collect();
    let mut stamp: Vec<Vec<u32>> = lists.iter().map(|l| vec![0u32; l.pods.len()]).collect();
    let mut generation = 0u32;
    let mut nodes = Vec::new();
    let mut stuck = Vec::new();
    let mut next_zone = 0usize;
    let mut taken: Vec<(usize, usize)> = Vec::new();
    let mut best_taken: Vec<(usize, usize)> = Vec::new();
    let per_round = (scan / SHAPES).max(1);

    loop {
        // The largest unplaced pod over all shapes.
        let mut first: Option<(usize, usize, usize, f64)> = None;
        for (b, l) in lists.iter_mut().enumerate() {
            let pos = l.alive_from(0);
            if let (Some(&p), Some(&v)) = (l.pods.get(pos), l.values.get(pos)) {
                if first.is_none_or(|(_, _, q, w)| v > w || (v == w && p < q)) {
                    first = Some((b, pos, p, v));
                }
            }
        }
        let Some((b0, pos0, p0, _)) = first else {
            break;
        };
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
            let mut node = Open::empty(t, zone, c.allocatable);
            let mut packed_value = 0.0;
            let mut take = |lists: &[ShapeList],
                            b: usize,
                            pos: usize,
                            node: &mut Open,
                            taken: &mut Vec<(usize, usize)>| {
                let Some(&p) = lists.get(b).and_then(|l| l.pods.get(pos)) else {
                    return false;
                };
                let Some(s) = stamp.get_mut(b).and_then(|s| s.get_mut(pos)) else {
                    return false;
                };
                if *s == generation || !problem.fits(p, node) {
                    return false;
                }
                *s = generation;
                problem.place(p, node);
                taken.push((b, pos));
                packed_value += pod_values.get(p).copied().unwrap_or(0.0);
                true
            };
            take(&lists, b0, pos0, &mut node, &mut taken);
            // Fill from the shape that best matches the room left, largest
            // pods that could still fit first.
            let mut looked = 0;
            // Lists this node can take from: its zone's and the unpinned ones.
            let mut exhausted: Vec<bool> = (0..lists.len())
                .map(|l| {
                    let z = l % slots;
                    z != node.zone && z != problem.zones
                })
                .collect();
            let prices0 = problem.room_prices(p0);
            while looked < scan && node.free.pods > 0 {
                let room = shape(&prices0, &node.free);
                let room_value = value(&prices0, &node.free);
                let Some(b) = (0..lists.len())
                    .filter(|&l| !exhausted.get(l).copied().unwrap_or(true))
                    .min_by_key(|&l| ((l / slots) as isize - room as isize).unsigned_abs())
                else {
                    break;
                };
                let (mut pos, len) = match lists.get_mut(b) {
                    Some(list) => {
                        let start = list.first_at_most(room_value * (1.0 + 1e-9));
                        (list.alive_from(start), list.pods.len())
                    }
                    None => break,
                };
                let mut n = 0;
                let mut took = false;
                while pos < len && n < per_round {
                    took |= take(&lists, b, pos, &mut node, &mut taken);
                    n += 1;
                    pos = lists.get_mut(b).map_or(len, |l| l.alive_from(pos + 1));
                }
                looked += n.max(1);
                if !took {
                    if let Some(e) = exhausted.get_mut(b) {
                        *e = true;
                    }
                }
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
                for &(b, pos) in &best_taken {
                    if let Some(l) = lists.get_mut(b) {
                        l.remove(pos);
                    }
                }
                nodes.push(node);
            }
            None => {
                stuck.push(p0);
                if let Some(l) = lists.get_mut(b0) {
                    l.remove(pos0);
                }
            }
        }
    }
    (nodes, stuck)
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
    // Receivers, fullest first: the order is computed once; moving a few
    // small pods changes it little, and fit is re-checked on every move.
    let mut receivers: Vec<(f64, usize)> = by_fill.iter().rev().copied().collect();
    receivers.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    for &(_, victim) in by_fill.iter().take(tries) {
        let pods: Vec<usize> = match nodes.get(victim) {
            Some(n) if !n.pods.is_empty() => n.pods.clone(),
            _ => continue,
        };
        // Receivers: the other non-empty nodes with the most room, trying the fullest that fits first.
        let mut moves: Vec<(usize, usize)> = Vec::with_capacity(pods.len());
        let mut scratch: Vec<(usize, Resources, Vec<u32>)> = Vec::new();
        let mut ok = true;
        for &p in &pods {
            let mut placed = false;
            for &(_, r) in receivers.iter().filter(|(_, r)| *r != victim) {
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

/// Every node moved to the cheapest type that holds its pods in its zone
/// and that all of them accept; empty nodes dropped.
fn shrink(problem: &Problem<'_>, nodes: Vec<Open>) -> Vec<Open> {
    let mut out = Vec::with_capacity(nodes.len());
    for mut node in nodes.into_iter().filter(|n| !n.pods.is_empty()) {
        let requested = node
            .pods
            .iter()
            .filter_map(|&i| problem.pods.get(i))
            .fold(Resources::ZERO, |a, p| a.saturating_add(p.requests));
        let cheapest = problem.candidates.iter().enumerate().find(|(t, c)| {
            requested.fits_within(&c.allocatable)
                && node.classes.iter().all(|&k| {
                    problem
                        .classes
                        .get(k)
                        .and_then(|cl| cl.compatible.get(t * problem.zones + node.zone))
                        .copied()
                        .unwrap_or(false)
                })
        });
        if let Some((t, c)) = cheapest {
            node.candidate = t;
            node.free = c.allocatable.saturating_sub(requested);
        }
        out.push(node);
    }
    out
}

/// The kinds of the pods in `pods` (identical requests, class, zone and
/// anti-affinity group), and the pods of each kind.
fn kinds(problem: &Problem<'_>, pods: &[usize]) -> (Vec<Kind>, Vec<Vec<usize>>) {
    type Key = (Resources, usize, Option<usize>, Option<u32>);
    let mut index: HashMap<Key, usize> = HashMap::new();
    let mut kinds: Vec<Kind> = Vec::new();
    let mut members: Vec<Vec<usize>> = Vec::new();
    let slots = problem.candidates.len() * problem.zones;
    for &i in pods {
        let (Some(pod), Some(&class)) = (problem.pods.get(i), problem.of_pod.get(i)) else {
            continue;
        };
        let zone = problem.zone_of.get(i).copied().flatten();
        let group = problem.group.get(i).copied().flatten();
        let key = (pod.requests, class, zone, group);
        let k = *index.entry(key).or_insert_with(|| {
            let relaxed = problem
                .classes
                .get(class)
                .map(|c| c.compatible.clone())
                .unwrap_or_else(|| vec![false; slots]);
            let compatible = relaxed
                .iter()
                .enumerate()
                .map(|(s, &ok)| ok && zone.is_none_or(|z| s % problem.zones.max(1) == z))
                .collect();
            kinds.push(Kind {
                requests: pod.requests,
                count: 0,
                per_node: if group.is_some() { 1 } else { u32::MAX },
                compatible,
                relaxed,
            });
            members.push(Vec::new());
            kinds.len() - 1
        });
        if let (Some(kind), Some(m)) = (kinds.get_mut(k), members.get_mut(k)) {
            kind.count += 1;
            m.push(i);
        }
    }
    (kinds, members)
}

/// Times the configuration LP is re-solved for the pods its rounded-down
/// solution left over.
const RESOLVE_ROUNDS: usize = 8;

/// Up to `copies` nodes of pattern `p`, filled with pods of its kinds
/// taken from `left`; stops at the first node that would be empty. The
/// nodes take turns (`turn`) among the zones every kind of the pattern
/// allows, so nodes spread over zones instead of all going to the first.
fn materialize(
    problem: &Problem<'_>,
    kinds: &[Kind],
    p: &Pattern,
    copies: usize,
    left: &mut [std::collections::VecDeque<usize>],
    nodes: &mut Vec<Open>,
    turn: &mut usize,
) {
    let Some(c) = problem.candidates.get(p.candidate) else {
        return;
    };
    let zones: Vec<usize> = (0..problem.zones)
        .filter(|z| {
            p.counts.iter().all(|&(k, _)| {
                kinds
                    .get(k)
                    .and_then(|kind| kind.compatible.get(p.candidate * problem.zones + z))
                    .copied()
                    .unwrap_or(false)
            })
        })
        .collect();
    for _ in 0..copies {
        let zone = match zones.get(*turn % zones.len().max(1)) {
            Some(&z) => {
                *turn += 1;
                z
            }
            None => p.zone,
        };
        let mut node = Open::empty(p.candidate, zone, c.allocatable);
        for &(k, n) in &p.counts {
            for _ in 0..n {
                let Some(queue) = left.get_mut(k) else { break };
                let Some(&i) = queue.front() else { break };
                if !problem.fits(i, &node) {
                    break;
                }
                problem.place(i, &mut node);
                queue.pop_front();
            }
        }
        if node.pods.is_empty() {
            // This pattern's pods are used up; more copies stay empty.
            return;
        }
        nodes.push(node);
    }
}

/// A second packing from the configuration LP: column generation from the
/// greedy packing's nodes, its solution rounded down into nodes (re-solved
/// for the pods left over while that makes nodes), the rest packed
/// greedily, then repacked and shrunk; with the LP's certified bound
/// ($/h). The packing is `None` if the pods left over could not all be
/// placed; the error says why the LP did not run or could not be solved.
fn pack_by_configurations(
    problem: &Problem<'_>,
    greedy: &[Open],
    sorted: &[usize],
    open_order: &[Vec<usize>],
    pod_values: &[f64],
    packer: &LpGuidedPacker,
) -> Result<(Option<Vec<Open>>, f64, UsdPerHour), ConfigurationLp> {
    let (kinds, members) = kinds(problem, sorted);
    if kinds.len() > packer.column_generation_max_kinds {
        return Err(ConfigurationLp::TooManyKinds {
            kinds: kinds.len(),
            limit: packer.column_generation_max_kinds,
        });
    }
    if kinds.is_empty() {
        return Err(ConfigurationLp::NotSolved);
    }
    let mut kind_of = vec![usize::MAX; problem.pods.len()];
    for (k, m) in members.iter().enumerate() {
        for &i in m {
            if let Some(slot) = kind_of.get_mut(i) {
                *slot = k;
            }
        }
    }
    // The greedy packing's nodes are the first patterns.
    let mut initial: Vec<Pattern> = Vec::new();
    for node in greedy {
        let mut counts: Vec<(usize, u32)> = Vec::new();
        for &i in &node.pods {
            let k = kind_of.get(i).copied().unwrap_or(usize::MAX);
            match counts.iter_mut().find(|(x, _)| *x == k) {
                Some((_, n)) => *n += 1,
                None => counts.push((k, 1)),
            }
        }
        counts.sort_unstable();
        let p = Pattern {
            candidate: node.candidate,
            zone: node.zone,
            counts,
        };
        if !initial.contains(&p) {
            initial.push(p);
        }
    }
    let demand: Vec<u32> = kinds.iter().map(|k| k.count).collect();
    let conf = Configurations::new(problem.candidates, problem.zones, &kinds);
    let master = conf
        .generate(
            initial,
            &demand,
            packer.column_generation_rounds,
            packer.columns_per_round.max(1),
            packer.column_generation_work,
            0.005,
        )
        .ok_or(ConfigurationLp::NotSolved)?;
    let bound = best_farley_bound(problem.candidates, problem.zones, &kinds, &master);
    // Rounded up to the micro-dollar: the LP's optimum is at most this.
    let master_usd_per_hour = UsdPerHour::from_micro_usd(
        (master.objective * 1_000_000.0)
            .ceil()
            .clamp(0.0, i64::MAX as f64) as i64,
    );

    // Round down: floor(x_p) nodes of each pattern, filled with real pods;
    // then re-solve the master over the known patterns for the pods left
    // and round down again, while that still makes nodes.
    let mut left: Vec<std::collections::VecDeque<usize>> =
        members.into_iter().map(Into::into).collect();
    let mut nodes = Vec::new();
    let mut copies = master.copies.clone();
    let mut turn = 0;
    for _ in 0..RESOLVE_ROUNDS {
        let before = nodes.len();
        // The patterns the LP uses most first: an over-covered kind then
        // runs out in the patterns that matter least.
        let mut order: Vec<usize> = (0..copies.len()).collect();
        order.sort_by(|&a, &b| {
            let (xa, xb) = (
                copies.get(a).copied().unwrap_or(0.0),
                copies.get(b).copied().unwrap_or(0.0),
            );
            xb.total_cmp(&xa).then(a.cmp(&b))
        });
        for (p, &xp) in order
            .iter()
            .filter_map(|&j| Some((master.patterns.get(j)?, copies.get(j)?)))
        {
            // At most one node per pod, whatever the LP says.
            let n = ((xp + 1e-6).floor() as usize).min(problem.pods.len());
            materialize(problem, &kinds, p, n, &mut left, &mut nodes, &mut turn);
        }
        let residual: Vec<u32> = left
            .iter()
            .map(|q| u32::try_from(q.len()).unwrap_or(u32::MAX))
            .collect();
        if nodes.len() == before || residual.iter().all(|&d| d == 0) {
            break;
        }
        match resolve(problem.candidates, &master.patterns, &residual) {
            Some(x) => copies = x,
            None => break,
        }
    }
    let mut rest = vec![false; problem.pods.len()];
    for q in &left {
        for &i in q {
            if let Some(slot) = rest.get_mut(i) {
                *slot = true;
            }
        }
    }
    let residual: Vec<usize> = sorted
        .iter()
        .copied()
        .filter(|&i| rest.get(i).copied().unwrap_or(false))
        .collect();
    let (more, stuck) = fill_by_patterns(
        problem,
        &residual,
        open_order,
        pod_values,
        packer.types_per_node.max(1),
        packer.scan_per_node.max(2),
    );
    if !stuck.is_empty() {
        // No second packing, but the bound holds.
        return Ok((None, bound, master_usd_per_hour));
    }
    nodes.extend(more);
    repack(problem, &mut nodes, packer.repack_per_mille);
    Ok((Some(shrink(problem, nodes)), bound, master_usd_per_hour))
}

/// What the nodes cost.
fn cost(candidates: &[Candidate], nodes: &[Open]) -> UsdPerHour {
    nodes
        .iter()
        .filter_map(|n| candidates.get(n.candidate))
        .map(|c| c.usd_per_hour)
        .sum()
}
