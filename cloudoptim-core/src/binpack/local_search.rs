//! Local search on a finished packing: ruin and recreate.
//!
//! It needs no kinds, so it works the same whether every pod has its own
//! shape or all share one. Each step takes a few nodes out (the *ruin*: one
//! of the more wasteful of two drawn at random, and up to three more), picks
//! a few others that may receive pods (the *fillers*), and puts the removed
//! pods back one at a time, largest first, where they add the least cost:
//! into a filler or a node opened in this step if they fit, or into one
//! whose type grows to the cheapest that holds it (any type its pods
//! accept in its zone, so a node can change family), or onto a new node of
//! the cheapest type that holds the pod. The step is kept when it costs no
//! more than what it replaced (equal cost moves too, so the search can
//! cross plateaus, as long as they need no more nodes), and dropped otherwise.
//! In the first half of the budget a step that costs a little more (up to
//! 5% of the mean node's price, falling to nothing) is kept too, if it
//! needs no more nodes, so the search can leave a local optimum; then it
//! only descends, and the start is returned if it ends up dearer.
//!
//! Every node is kept at the cheapest type that holds its pods, so a node
//! can only grow into types after its own in price order. The work is
//! counted in fit checks, not seconds: same input, same packing, on any
//! machine. Every check of [`Problem::fits`] holds for every move (the
//! pod's class, its spread zone, its anti-affinity group, every
//! dimension), so the packing stays feasible.

use super::packer::{Open, Problem};
use crate::demo::rng::Rng;
use crate::resources::Resources;

/// Steps in a row that save nothing after which the search stops: this
/// many, plus this many per node.
const PATIENCE_STEPS: usize = 2_000;
const PATIENCE_STEPS_PER_NODE: usize = 8;

/// Work counted per pod moved and per filler copied in a step, beside its
/// fit checks, so the budget follows time when the checks are few.
const STEP_WORK: usize = 64;

/// How much more than what it replaces a step may cost early on, as a share
/// of the mean node's price.
const TOLERANCE: f64 = 0.05;

/// Nodes that may receive pods in one step, besides those it opens.
const FILLERS: usize = 12;

/// Nodes taken out in one step, besides the wasteful one it starts from.
const MORE_RUINED: u64 = 3;

fn price(problem: &Problem<'_>, node: &Open) -> i64 {
    problem
        .candidates
        .get(node.candidate)
        .map(|c| c.usd_per_hour.micro_usd())
        .unwrap_or(i64::MAX / 1024)
}

fn requested(problem: &Problem<'_>, node: &Open) -> Resources {
    problem
        .candidates
        .get(node.candidate)
        .map(|c| c.allocatable.saturating_sub(node.free))
        .unwrap_or_default()
}

fn accepts(problem: &Problem<'_>, class: usize, t: usize, zone: usize) -> bool {
    problem
        .classes
        .get(class)
        .and_then(|c| c.compatible.get(t * problem.zones + zone))
        .copied()
        .unwrap_or(false)
}

/// The cheapest type at index `from` or later that holds `requested` in
/// `zone` and that every class of `classes` (and `extra`) accepts there.
fn cheapest(
    problem: &Problem<'_>,
    from: usize,
    requested: &Resources,
    classes: &[usize],
    extra: Option<usize>,
    zone: usize,
    work: &mut usize,
) -> Option<usize> {
    for (t, c) in problem.candidates.iter().enumerate().skip(from) {
        *work += 1;
        if requested.fits_within(&c.allocatable)
            && classes.iter().all(|&k| accepts(problem, k, t, zone))
            && extra.is_none_or(|k| accepts(problem, k, t, zone))
        {
            return Some(t);
        }
    }
    None
}

/// Per pod and zone, the cheapest type that holds the pod alone there (the
/// first in candidate order), found once. No type before it holds the pod,
/// so none before it holds a node with the pod either: searches start there.
struct Alone {
    zones: usize,
    /// `UNKNOWN`, `NONE` or the type.
    slots: Vec<u32>,
}

const UNKNOWN: u32 = u32::MAX;
const NONE: u32 = u32::MAX - 1;

impl Alone {
    fn new(problem: &Problem<'_>) -> Alone {
        Alone {
            zones: problem.zones.max(1),
            slots: vec![UNKNOWN; problem.pods.len() * problem.zones.max(1)],
        }
    }

    fn get(
        &mut self,
        problem: &Problem<'_>,
        pod: usize,
        zone: usize,
        work: &mut usize,
    ) -> Option<usize> {
        let slot = self.slots.get_mut(pod * self.zones + zone)?;
        if *slot == UNKNOWN {
            let class = problem.of_pod.get(pod).copied();
            let found = problem
                .pods
                .get(pod)
                .and_then(|p| cheapest(problem, 0, &p.requests, &[], class, zone, work));
            *slot = found.and_then(|t| u32::try_from(t).ok()).unwrap_or(NONE);
        }
        (*slot != NONE).then_some(*slot as usize)
    }
}

/// Move `node` to the cheapest type that holds its pods (it keeps its own
/// if none is cheaper).
fn shrink(problem: &Problem<'_>, node: &mut Open, alone: &mut Alone, work: &mut usize) {
    let req = requested(problem, node);
    let from = node
        .pods
        .iter()
        .filter_map(|&p| alone.get(problem, p, node.zone, work))
        .max()
        .unwrap_or(0);
    if let Some(t) = cheapest(problem, from, &req, &node.classes, None, node.zone, work) {
        if t < node.candidate {
            if let Some(c) = problem.candidates.get(t) {
                node.candidate = t;
                node.free = c.allocatable.saturating_sub(req);
            }
        }
    }
}

/// The cost (µ$/h) of putting `pod` on `node`, and the type it then has;
/// `None` if it cannot go there at any type.
fn insertion(
    problem: &Problem<'_>,
    pod: usize,
    node: &Open,
    alone: &mut Alone,
    work: &mut usize,
) -> Option<(i64, usize)> {
    *work += 1;
    if problem.fits(pod, node) {
        return Some((0, node.candidate));
    }
    let req = problem.pods.get(pod)?.requests;
    let class = problem.of_pod.get(pod).copied()?;
    let pinned = problem.zone_of.get(pod).copied().flatten();
    let group = problem.group.get(pod).copied().flatten();
    if pinned.is_some_and(|z| z != node.zone) || group.is_some_and(|g| node.groups.contains(&g)) {
        return None;
    }
    let total = requested(problem, node).saturating_add(req);
    let from = alone.get(problem, pod, node.zone, work)?;
    let t = cheapest(
        problem,
        from.max(node.candidate + 1),
        &total,
        &node.classes,
        Some(class),
        node.zone,
        work,
    )?;
    let grown = problem.candidates.get(t)?.usd_per_hour.micro_usd();
    Some((grown - price(problem, node), t))
}

/// Put `pod` on `node` as type `t` (the node's own or one it grows to).
fn put(problem: &Problem<'_>, pod: usize, node: &mut Open, t: usize) {
    if t != node.candidate {
        if let Some(c) = problem.candidates.get(t) {
            let req = requested(problem, node);
            node.candidate = t;
            node.free = c.allocatable.saturating_sub(req);
        }
    }
    problem.place(pod, node);
}

/// `count` distinct indices below `len` other than those in `taken`, drawn
/// from `rng` (fewer if there are not enough).
fn draw(rng: &mut Rng, len: usize, count: usize, taken: &mut Vec<usize>) -> Vec<usize> {
    let mut out = Vec::with_capacity(count);
    let mut tries = 0;
    while out.len() < count && taken.len() < len && tries < 4 * count + 8 {
        tries += 1;
        let i = rng.range(0, len as u64 - 1) as usize;
        if !taken.contains(&i) {
            taken.push(i);
            out.push(i);
        }
    }
    out
}

/// Improve `nodes` by ruin and recreate (see the module docs) for about
/// `work` fit checks, or until many steps in a row (2,000 and 8 per node)
/// saved nothing. Empty nodes are dropped; the result costs no more.
/// Also returns the fit checks made.
pub(super) fn improve(
    problem: &Problem<'_>,
    nodes: Vec<Open>,
    pod_values: &[f64],
    work: usize,
) -> (Vec<Open>, usize) {
    let mut spent = 0usize;
    let mut alone = Alone::new(problem);
    let mut nodes: Vec<Open> = nodes.into_iter().filter(|n| !n.pods.is_empty()).collect();
    for node in &mut nodes {
        shrink(problem, node, &mut alone, &mut spent);
    }
    let value = |i: usize| pod_values.get(i).copied().unwrap_or(0.0);
    let waste =
        |n: &Open| price(problem, n) as f64 / 1e6 - n.pods.iter().map(|&i| value(i)).sum::<f64>();
    let mut rng = Rng::new(0x005E_ED0F_BA55);
    let total = |nodes: &[Open]| nodes.iter().map(|n| price(problem, n)).sum::<i64>();
    let start_cost = total(&nodes);
    let start_nodes = nodes.clone();
    // In the first half of the budget a step may cost up to this much more
    // (a share of the mean node's price, falling to 0), to leave a local
    // optimum; the second half only accepts what saves.
    let tolerance = start_cost as f64 / nodes.len().max(1) as f64 * TOLERANCE;
    let mut cost = start_cost;
    let mut best = start_cost;
    // Stop early after many steps in a row that found no new best.
    let patience = PATIENCE_STEPS + PATIENCE_STEPS_PER_NODE * nodes.len();
    let mut idle = 0usize;
    let mut wandering = true;
    while spent < work && nodes.len() >= 2 {
        idle += 1;
        let left = 1.0 - 2.0 * spent as f64 / work.max(1) as f64;
        if idle > patience || left <= 0.0 {
            if !wandering && idle > patience {
                break;
            }
            if wandering {
                // Descend from here: only what saves from now on.
                wandering = false;
                idle = 0;
                best = cost;
            }
        }
        let allowed = if wandering {
            (tolerance * left) as i64
        } else {
            0
        };
        let len = nodes.len();
        let a = rng.range(0, len as u64 - 1) as usize;
        let b = rng.range(0, len as u64 - 1) as usize;
        let start = match (nodes.get(a), nodes.get(b)) {
            (Some(x), Some(y)) if waste(y) > waste(x) => b,
            _ => a,
        };
        let mut taken = vec![start];
        let more = rng.range(0, MORE_RUINED) as usize;
        let mut ruined = vec![start];
        ruined.extend(draw(&mut rng, len, more, &mut taken));
        let fillers = draw(&mut rng, len, FILLERS, &mut taken);

        let before: i64 = ruined
            .iter()
            .chain(&fillers)
            .filter_map(|&i| nodes.get(i))
            .map(|n| price(problem, n))
            .sum();
        // The removed pods, largest first, with the zone they came from.
        let mut moving: Vec<(usize, usize)> = ruined
            .iter()
            .filter_map(|&i| nodes.get(i))
            .flat_map(|n| n.pods.iter().map(move |&p| (p, n.zone)))
            .collect();
        moving.sort_by(|x, y| value(y.0).total_cmp(&value(x.0)).then(x.0.cmp(&y.0)));
        let mut trial: Vec<Open> = fillers
            .iter()
            .filter_map(|&i| nodes.get(i).cloned())
            .collect();
        // Copying the fillers and sorting the pods count as work too.
        spent += STEP_WORK * (moving.len() + trial.len());
        let mut ok = true;
        for &(p, from_zone) in &moving {
            let mut best: Option<(i64, usize, usize)> = None;
            for (j, node) in trial.iter().enumerate() {
                if let Some((cost, t)) = insertion(problem, p, node, &mut alone, &mut spent) {
                    if best.is_none_or(|(c, _, _)| cost < c) {
                        best = Some((cost, j, t));
                    }
                }
            }
            let zone = problem
                .zone_of
                .get(p)
                .copied()
                .flatten()
                .unwrap_or(from_zone);
            let single = alone.get(problem, p, zone, &mut spent);
            let new_cost = single
                .and_then(|t| problem.candidates.get(t))
                .map(|c| c.usd_per_hour.micro_usd());
            match (best, single, new_cost) {
                (Some((cost, j, t)), _, new) if new.is_none_or(|n| cost <= n) => {
                    if let Some(node) = trial.get_mut(j) {
                        put(problem, p, node, t);
                    }
                }
                (_, Some(t), Some(_)) => {
                    let Some(c) = problem.candidates.get(t) else {
                        ok = false;
                        break;
                    };
                    let mut node = Open::empty(t, zone, c.allocatable);
                    problem.place(p, &mut node);
                    trial.push(node);
                }
                _ => {
                    ok = false;
                    break;
                }
            }
        }
        if !ok {
            continue;
        }
        for node in &mut trial {
            shrink(problem, node, &mut alone, &mut spent);
        }
        let after: i64 = trial.iter().map(|n| price(problem, n)).sum();
        // A step that costs no less is kept only if it needs no more nodes.
        if after > before + allowed
            || (after >= before && trial.len() > ruined.len() + fillers.len())
        {
            continue;
        }
        cost += after - before;
        if cost < best {
            best = cost;
            idle = 0;
        }
        // Write the trial back: fillers and new nodes into the slots of the
        // nodes they replace, the slots left over removed.
        let slots: Vec<usize> = fillers.iter().chain(&ruined).copied().collect();
        let mut trial = trial.into_iter();
        let mut freed = Vec::new();
        for &s in &slots {
            match trial.next() {
                Some(node) => {
                    if let Some(slot) = nodes.get_mut(s) {
                        *slot = node;
                    }
                }
                None => freed.push(s),
            }
        }
        nodes.extend(trial);
        freed.sort_unstable_by(|x, y| y.cmp(x));
        for s in freed {
            if s < nodes.len() {
                nodes.swap_remove(s);
            }
        }
    }
    if total(&nodes) > start_cost {
        return (start_nodes, spent);
    }
    (nodes, spent)
}
