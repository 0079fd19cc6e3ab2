//! Cross-AZ traffic placement: what service-to-service traffic across
//! availability zones costs today, and a zone placement of each service's
//! replicas that costs less.
//!
//! # The cost model
//!
//! A flow `A → B` of `r` bytes/s (from [`read_traffic`]) is split by where
//! the replicas of both sides run. Each replica of `A` sends an equal share
//! `r / N_A`, and spreads its calls evenly over the replicas of `B` (what
//! kube-proxy does for a Service without `trafficDistribution`; PreferClose
//! and topology hints are not modelled, since snapshots carry no Services).
//! With `n_S[z]` replicas of `S` in zone `z`, the bytes from zone `z` to
//! zone `z'` are `r · n_A[z]/N_A · n_B[z']/N_B`, so the cross-zone part is
//!
//! ```text
//! cross(A → B) = r · (1 − Σ_z (n_A[z]/N_A) · (n_B[z]/N_B))
//! ```
//!
//! (for a flow of a service to itself, `r · (1 − Σ_z (n[z]/N)²)`). AWS
//! charges [`CROSS_AZ_USD_PER_GB_EACH_WAY`] ($0.01/GB) on the sending *and*
//! on the receiving side of a cross-zone byte, so a cross-zone GB
//! (10⁹ bytes, [`BYTES_PER_GB`]) costs $0.02:
//!
//! ```text
//! usd_per_hour = cross · 3600 / 10⁹ · 2 · 0.01
//! ```
//!
//! and a month is 730 hours ([`UsdPerHour::usd_per_month`]). Replies are
//! flows of their own (`B → A`). Replicas are the pods of the workload that
//! are active on a node; pending pods are not counted.
//!
//! # The placement
//!
//! Replica counts stay the same; only the zone of each replica changes. A
//! service that is fixed ([`Fixed`]: DaemonSets, Jobs, pods whose volume is
//! zonal, required pod affinity on the zone, too few eligible zones) keeps
//! its zones and counts as load. Every other one gets counts per zone
//! minimizing the total cross-zone traffic subject to:
//!
//! - **capacity**: in every zone and every resource dimension (cpu,
//!   memory, pods, GPU, ephemeral storage), the moved services' requests
//!   (each replica at the largest request of the service's pods) fit in the
//!   allocatable of the zone's ready, schedulable nodes minus the requests
//!   of every pod that stays. This is a zone-level bound: it ignores how
//!   pods pack onto individual nodes;
//! - **≥ 2 zones** for every service with two replicas or more, and at
//!   most [`CrossAzPolicy::max_zone_share_percent`] of its replicas
//!   (default 66%) in one zone;
//! - **existing zone constraints**: only zones where a node satisfies the
//!   pods' node selector, required node affinity and taints; the `maxSkew`
//!   of a required (`DoNotSchedule`) topology spread on the zone; at most
//!   one replica per zone under required pod anti-affinity on the zone.
//!
//! The services and flows form a [petgraph](petgraph) graph. Small problems
//! are solved exactly by branch and bound ([`place_exact`]); larger ones by
//! [`place_heuristic`] (greedy construction plus best-response refinement).
//! [`analyze`] picks the method and turns the placement into
//! [`ZonePlacementChange`]s and [`PreferCloseChange`]s.

mod build;
mod changes;
mod exact;
mod heuristic;
mod input;
mod problem;

#[cfg(test)]
mod tests;

use serde::{Deserialize, Serialize};

pub use build::{build, Built, CannotPlace, Fixed, ServiceInfo};
pub use changes::{
    fewest_per_zone, PreferCloseChange, ZonePlacementChange, MIN_ENDPOINTS_PER_ZONE, PREFER_CLOSE,
};
pub use exact::{place_exact, EXACT_NODE_BUDGET};
pub use heuristic::place_heuristic;
pub use input::{
    read_traffic, read_traffic_csv, read_traffic_json, Location, TrafficInputError,
    DEFAULT_NAMESPACE, MAX_BYTES_PER_SECOND,
};
pub use problem::{Placement, Problem, ServiceSpec};

use std::collections::{BTreeSet, HashMap};

use crate::money::UsdPerHour;
use crate::plan::{Plan, Step};
use crate::snapshot::{ClusterSnapshot, Pod, Service};
use crate::traffic::{
    ServiceRef, TrafficFlow, TrafficMatrix, BYTES_PER_GB, CROSS_AZ_USD_PER_GB_EACH_WAY,
};

/// Problems with at most this many movable services are solved exactly
/// (when the search stays within [`EXACT_NODE_BUDGET`]).
pub const EXACT_MAX_MOVABLE_SERVICES: usize = 8;

/// What the placement may do beyond the cluster's own constraints.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CrossAzPolicy {
    /// At most this share of a moving service's replicas in one zone,
    /// percent, rounded up to whole replicas (and never below what its
    /// allowed zones need to hold them all). 100 turns the cap off: then
    /// only the cluster's own constraints and the ≥ 2 zones rule hold, and
    /// the cheapest placement often puts all but one replica in one zone.
    /// Default 66: losing the fullest zone leaves a service at least a
    /// third of its replicas.
    pub max_zone_share_percent: u32,
}

impl Default for CrossAzPolicy {
    fn default() -> Self {
        CrossAzPolicy {
            max_zone_share_percent: 66,
        }
    }
}

/// What `bytes_per_second` crossing zones costs per hour, both sides paid.
pub fn cross_zone_cost(cross_zone_bytes_per_second: f64) -> UsdPerHour {
    let usd =
        cross_zone_bytes_per_second * 3600.0 / BYTES_PER_GB * 2.0 * CROSS_AZ_USD_PER_GB_EACH_WAY;
    UsdPerHour::from_usd(usd).unwrap_or(UsdPerHour::ZERO)
}

/// Cross-zone traffic and its price.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct CrossZoneCost {
    /// Bytes per second crossing zones.
    pub cross_zone_bytes_per_second: f64,
    /// What AWS charges for them, both sides.
    pub usd_per_hour: UsdPerHour,
}

impl CrossZoneCost {
    fn of(cross_zone_bytes_per_second: f64) -> Self {
        CrossZoneCost {
            cross_zone_bytes_per_second,
            usd_per_hour: cross_zone_cost(cross_zone_bytes_per_second),
        }
    }
}

/// One flow of the matrix, costed before and after.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FlowCost {
    /// The flow.
    pub flow: TrafficFlow,
    /// Today.
    pub before: CrossZoneCost,
    /// With the proposed placement.
    pub after: CrossZoneCost,
}

/// What happens to one service.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "status")]
pub enum ServiceOutcome {
    /// It cannot move.
    Fixed {
        /// Why.
        why: Fixed,
    },
    /// It may move, but its zones are already the best found.
    Unchanged,
    /// It moves.
    Moves {
        /// The change that realizes it.
        change: ZonePlacementChange,
    },
}

/// One service of the analysis.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ServicePlacement {
    /// The service.
    pub service: ServiceRef,
    /// Its workload kind.
    pub kind: String,
    /// Replicas.
    pub replicas: u32,
    /// Replicas per zone today (zones with none left out).
    pub today: Vec<(String, u32)>,
    /// Replicas per zone wanted.
    pub wanted: Vec<(String, u32)>,
    /// Same-zone share of its traffic (both directions) today, 0–1.
    pub same_zone_share_before: f64,
    /// Same-zone share wanted, 0–1.
    pub same_zone_share_after: f64,
    /// Whether and how it moves.
    pub outcome: ServiceOutcome,
    /// `trafficDistribution: PreferClose` for each Service of the snapshot
    /// whose endpoints are this workload's pods (and no other's), when it
    /// receives traffic, does not prefer its zone already, and every zone
    /// keeps at least [`MIN_ENDPOINTS_PER_ZONE`] replicas.
    pub prefer_close: Vec<PreferCloseChange>,
    /// Services of its pods that already prefer same-zone endpoints
    /// (PreferClose or topology-aware routing) while the wanted placement
    /// leaves a zone fewer than [`MIN_ENDPOINTS_PER_ZONE`] replicas: that
    /// zone's clients would crowd onto them. Review before applying.
    pub prefer_close_at_risk: Vec<ServiceRef>,
}

/// Which method found the placement.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Method {
    /// Branch and bound: the optimum.
    Exact,
    /// The heuristic.
    Heuristic,
}

/// Why no saving is proposed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "reason")]
pub enum CannotImprove {
    /// The matrix has no traffic with both sides in the snapshot.
    NoTraffic,
    /// The cluster's nodes are in fewer than two zones: nothing crosses.
    OneZone,
    /// No traffic crosses zones today.
    NothingCrosses,
    /// Every service with traffic is fixed.
    NothingMovable,
    /// No placement satisfies the constraints (capacity too tight).
    NoFeasiblePlacement,
    /// Today's placement is already the best found.
    AlreadyBest,
}

/// The analysis: cost today, the placement and its changes, cost after.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CrossAzReport {
    /// Zones of the cluster's nodes.
    pub zones: Vec<String>,
    /// Cross-zone traffic today.
    pub before: CrossZoneCost,
    /// With the proposed placement (equal to `before` when none is).
    pub after: CrossZoneCost,
    /// How it was found; `None` when nothing was searched.
    pub method: Option<Method>,
    /// Why nothing is proposed, if so.
    pub cannot_improve: Option<CannotImprove>,
    /// Every service the matrix names that has pods.
    pub services: Vec<ServicePlacement>,
    /// Flows of the matrix with both sides placed, costed.
    pub flows: Vec<FlowCost>,
    /// Flows that cannot be placed or costed, and why.
    pub cannot_place: Vec<(TrafficFlow, CannotPlace)>,
}

impl CrossAzReport {
    /// `before − after` per hour (never negative: a placement costing more
    /// is never proposed).
    pub fn savings(&self) -> UsdPerHour {
        (self.before.usd_per_hour - self.after.usd_per_hour).max_zero()
    }

    /// The workload changes, in service order.
    pub fn changes(&self) -> impl Iterator<Item = &ZonePlacementChange> {
        self.services.iter().filter_map(|s| match &s.outcome {
            ServiceOutcome::Moves { change } => Some(change),
            _ => None,
        })
    }
}

fn by_zone(zones: &[String], counts: &[u32]) -> Vec<(String, u32)> {
    zones
        .iter()
        .zip(counts)
        .filter(|(_, c)| **c > 0)
        .map(|(z, c)| (z.clone(), *c))
        .collect()
}

/// Same-zone share of all traffic touching `s`.
fn share_of(problem: &Problem, placement: &Placement, s: usize) -> f64 {
    use petgraph::visit::EdgeRef;
    let mut total = problem.self_bytes_per_second.get(s).copied().unwrap_or(0.0);
    let mut same = total * problem.same_zone_share(placement, s, s);
    for e in problem.graph.edges(petgraph::graph::NodeIndex::new(s)) {
        let t = if e.source().index() == s {
            e.target().index()
        } else {
            e.source().index()
        };
        total += e.weight();
        same += e.weight() * problem.same_zone_share(placement, s, t);
    }
    if total > 0.0 {
        same / total
    } else {
        0.0
    }
}

/// For each workload (namespace, top owner name), the Services of the
/// snapshot whose endpoints are its active pods and no other workload's.
/// Pods are looked up through their labels, so a Service costs the pods
/// carrying its rarest selector label, not the whole namespace.
fn services_fronting(snapshot: &ClusterSnapshot) -> HashMap<(&str, &str), Vec<&Service>> {
    let mut by_label: HashMap<(&str, &str, &str), Vec<&Pod>> = HashMap::new();
    for pod in snapshot.pods.iter().filter(|p| p.is_active_on_node()) {
        for (k, v) in &pod.labels {
            by_label
                .entry((pod.namespace.as_str(), k.as_str(), v.as_str()))
                .or_default()
                .push(pod);
        }
    }
    let mut out: HashMap<(&str, &str), Vec<&Service>> = HashMap::new();
    for svc in &snapshot.services {
        let Some(pods) = svc
            .selector
            .iter()
            .map(|(k, v)| {
                by_label
                    .get(&(svc.namespace.as_str(), k.as_str(), v.as_str()))
                    .map_or(&[][..], Vec::as_slice)
            })
            .min_by_key(|p| p.len())
        else {
            continue;
        };
        let owners: BTreeSet<&str> = pods
            .iter()
            .filter(|p| svc.selects(p))
            .map(|p| p.top_owner().map_or("", |o| o.name.as_str()))
            .collect();
        if let (1, Some(owner)) = (owners.len(), owners.first()) {
            if !owner.is_empty() {
                out.entry((svc.namespace.as_str(), owner))
                    .or_default()
                    .push(svc);
            }
        }
    }
    out
}

/// The plan realizing `report`: one template patch per moving workload
/// (its zone spread and zone preferences together, so one rollout), then
/// `trafficDistribution: PreferClose` on each Service that gets enough
/// endpoints per zone. Each step re-checks that what it replaces is still
/// what was read. The saving is spread over the workload steps by their
/// share of the cross-zone traffic they remove.
///
/// ```
/// use cloudoptim_core::cross_az::{analyze, plan, CrossAzPolicy};
/// use cloudoptim_core::demo::DemoEnvironment;
///
/// let demo = DemoEnvironment::generate(&Default::default(), cloudoptim_core::catalog::Catalog::embedded()?)?;
/// let report = analyze(&demo.snapshot, &demo.traffic, &CrossAzPolicy::default());
/// let plan = plan(&report, "2026-12-02T12:00:00Z".parse()?);
/// assert_eq!(plan.steps.len(), report.changes().count()
///     + report.services.iter().map(|s| s.prefer_close.len()).sum::<usize>());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn plan(report: &CrossAzReport, now: jiff::Timestamp) -> Plan {
    let moving: Vec<&ServicePlacement> = report
        .services
        .iter()
        .filter(|s| matches!(s.outcome, ServiceOutcome::Moves { .. }))
        .collect();
    let gained =
        |s: &ServicePlacement| (s.same_zone_share_after - s.same_zone_share_before).max(0.0);
    let total: f64 = moving.iter().map(|s| gained(s)).sum();
    let saving = report.savings();
    let mut steps: Vec<Step> = moving
        .iter()
        .filter_map(|s| match &s.outcome {
            ServiceOutcome::Moves { change } => {
                let share = if total > 0.0 { gained(s) / total } else { 0.0 };
                let delta = UsdPerHour::from_usd(-saving.usd() * share).unwrap_or(UsdPerHour::ZERO);
                change.step(delta)
            }
            _ => None,
        })
        .collect();
    steps.extend(
        report
            .services
            .iter()
            .flat_map(|s| &s.prefer_close)
            .map(PreferCloseChange::step),
    );
    Plan {
        engine: "cross-az".into(),
        created_at: now,
        steps,
    }
}

/// Cost today's cross-zone traffic of `traffic` over `snapshot`, place the
/// services to lower it, and say how.
///
/// ```
/// use cloudoptim_core::cross_az::{analyze, CrossAzPolicy};
/// use cloudoptim_core::demo::DemoEnvironment;
///
/// let demo = DemoEnvironment::generate(&Default::default(), cloudoptim_core::catalog::Catalog::embedded()?)?;
/// let report = analyze(&demo.snapshot, &demo.traffic, &CrossAzPolicy::default());
/// assert!(report.after.usd_per_hour <= report.before.usd_per_hour);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn analyze(
    snapshot: &ClusterSnapshot,
    traffic: &TrafficMatrix,
    policy: &CrossAzPolicy,
) -> CrossAzReport {
    let built = build(snapshot, traffic, policy);
    let problem = &built.problem;
    let current = problem.current();
    let before = CrossZoneCost::of(problem.cross_zone_bytes_per_second(&current));
    let movable = problem.services.iter().filter(|s| s.movable).count();
    let placed_traffic: f64 = traffic
        .flows
        .iter()
        .zip(&built.flows)
        .filter(|(_, r)| r.is_ok())
        .map(|(f, _)| f.bytes_per_second)
        .sum();

    let mut method = None;
    let (placement, cannot_improve) = if placed_traffic <= 0.0 {
        (None, Some(CannotImprove::NoTraffic))
    } else if problem.zones.len() < 2 {
        (None, Some(CannotImprove::OneZone))
    } else if before.cross_zone_bytes_per_second <= 0.0 {
        (None, Some(CannotImprove::NothingCrosses))
    } else if movable == 0 {
        (None, Some(CannotImprove::NothingMovable))
    } else {
        let exact = (movable <= EXACT_MAX_MOVABLE_SERVICES)
            .then(|| place_exact(problem).ok())
            .flatten();
        let found = match exact {
            Some(p) => {
                method = Some(Method::Exact);
                p
            }
            None => {
                method = Some(Method::Heuristic);
                place_heuristic(problem)
            }
        };
        match found {
            None => (None, Some(CannotImprove::NoFeasiblePlacement)),
            Some(p) => {
                let cost = problem.cross_zone_bytes_per_second(&p);
                // Keep today's placement unless the new one is cheaper by
                // more than rounding.
                if cost < before.cross_zone_bytes_per_second * (1.0 - 1e-9) {
                    (Some(p), None)
                } else {
                    (None, Some(CannotImprove::AlreadyBest))
                }
            }
        }
    };
    let wanted = placement.clone().unwrap_or_else(|| current.clone());
    let after = CrossZoneCost::of(problem.cross_zone_bytes_per_second(&wanted));
    tracing::debug!(
        services = problem.services.len(),
        movable,
        before = before.cross_zone_bytes_per_second,
        after = after.cross_zone_bytes_per_second,
        "cross-AZ placement"
    );

    let receives: std::collections::HashSet<usize> = built
        .flows
        .iter()
        .filter_map(|r| r.as_ref().ok().map(|(_, b)| *b))
        .collect();
    let fronts = services_fronting(snapshot);
    let fronting = |w: &ServiceRef| -> Vec<&Service> {
        fronts
            .get(&(w.namespace.as_str(), w.name.as_str()))
            .cloned()
            .unwrap_or_default()
    };
    let services = built
        .services
        .iter()
        .zip(&problem.services)
        .enumerate()
        .map(|(s, (info, spec))| {
            let (old, new) = (current.of(s), wanted.of(s));
            let outcome = match &info.fixed {
                Some(why) => ServiceOutcome::Fixed { why: why.clone() },
                None if old == new => ServiceOutcome::Unchanged,
                None => {
                    let mut change = ZonePlacementChange::new(
                        &info.kind,
                        info.service.clone(),
                        &problem.zones,
                        new,
                        &spec.allowed,
                        info.selector.clone(),
                        info.other_preferred.clone(),
                    );
                    change.current_preferred = info.current_preferred.clone();
                    ServiceOutcome::Moves { change }
                }
            };
            ServicePlacement {
                service: info.service.clone(),
                kind: info.kind.clone(),
                replicas: spec.replicas,
                today: by_zone(&problem.zones, old),
                wanted: by_zone(&problem.zones, new),
                same_zone_share_before: share_of(problem, &current, s),
                same_zone_share_after: share_of(problem, &wanted, s),
                outcome,
                prefer_close: if receives.contains(&s) {
                    fronting(&info.service)
                        .into_iter()
                        .filter(|svc| !svc.prefers_same_zone())
                        .filter_map(|svc| {
                            let mut c = PreferCloseChange::if_enough_endpoints(
                                ServiceRef::new(&svc.namespace, &svc.name),
                                new,
                            )?;
                            c.current = svc.traffic_distribution.clone();
                            Some(c)
                        })
                        .collect()
                } else {
                    Vec::new()
                },
                prefer_close_at_risk: if fewest_per_zone(new)
                    .is_some_and(|f| f < MIN_ENDPOINTS_PER_ZONE)
                {
                    fronting(&info.service)
                        .into_iter()
                        .filter(|svc| svc.prefers_same_zone())
                        .map(|svc| ServiceRef::new(&svc.namespace, &svc.name))
                        .collect()
                } else {
                    Vec::new()
                },
            }
        })
        .collect();
    let mut flows = Vec::new();
    let mut cannot_place = Vec::new();
    for (flow, ends) in traffic.flows.iter().zip(&built.flows) {
        match ends {
            Ok((a, b)) => {
                let cross = |p: &Placement| {
                    flow.bytes_per_second * (1.0 - problem.same_zone_share(p, *a, *b)).max(0.0)
                };
                flows.push(FlowCost {
                    flow: flow.clone(),
                    before: CrossZoneCost::of(cross(&current)),
                    after: CrossZoneCost::of(cross(&wanted)),
                });
            }
            Err(why) => cannot_place.push((flow.clone(), why.clone())),
        }
    }
    CrossAzReport {
        zones: problem.zones.clone(),
        before,
        after,
        method,
        cannot_improve,
        services,
        flows,
        cannot_place,
    }
}
