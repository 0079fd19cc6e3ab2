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
//! - **≥ 2 zones** for every service with two replicas or more;
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
pub use changes::{PreferCloseChange, ZonePlacementChange, MIN_ENDPOINTS_PER_ZONE};
pub use exact::{place_exact, EXACT_NODE_BUDGET};
pub use heuristic::place_heuristic;
pub use input::{
    read_traffic, read_traffic_csv, read_traffic_json, Location, TrafficInputError,
    DEFAULT_NAMESPACE, MAX_BYTES_PER_SECOND,
};
pub use problem::{Placement, Problem, ServiceSpec};

use crate::money::UsdPerHour;
use crate::snapshot::ClusterSnapshot;
use crate::traffic::{
    ServiceRef, TrafficFlow, TrafficMatrix, BYTES_PER_GB, CROSS_AZ_USD_PER_GB_EACH_WAY,
};

/// Problems with at most this many movable services are solved exactly
/// (when the search stays within [`EXACT_NODE_BUDGET`]).
pub const EXACT_MAX_MOVABLE_SERVICES: usize = 8;

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
    /// `trafficDistribution: PreferClose` for its Service, when it receives
    /// traffic and every zone keeps enough endpoints.
    pub prefer_close: Option<PreferCloseChange>,
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

/// Cost today's cross-zone traffic of `traffic` over `snapshot`, place the
/// services to lower it, and say how.
///
/// ```
/// use cloudoptim_core::cross_az::analyze;
/// use cloudoptim_core::demo::DemoEnvironment;
///
/// let demo = DemoEnvironment::generate(&Default::default(), cloudoptim_core::catalog::Catalog::embedded()?)?;
/// let report = analyze(&demo.snapshot, &demo.traffic);
/// assert!(report.after.usd_per_hour <= report.before.usd_per_hour);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn analyze(snapshot: &ClusterSnapshot, traffic: &TrafficMatrix) -> CrossAzReport {
    let built = build(snapshot, traffic);
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
                None => ServiceOutcome::Moves {
                    change: ZonePlacementChange::new(
                        &info.kind,
                        info.service.clone(),
                        &problem.zones,
                        new,
                        &spec.allowed,
                        info.selector.clone(),
                        info.other_preferred.clone(),
                    ),
                },
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
                prefer_close: receives
                    .contains(&s)
                    .then(|| PreferCloseChange::if_enough_endpoints(info.service.clone(), new))
                    .flatten(),
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
