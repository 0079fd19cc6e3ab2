//! The Kubernetes changes that realize a zone placement, as strategic-merge
//! patch bodies the lead's executor can apply.
//!
//! A Deployment cannot ask for "3 replicas in zone a and 1 in zone b"
//! directly. [`ZonePlacementChange`] gets there with two fields of its pod
//! template, replacing what is there for the zone:
//!
//! - a **topology spread** on `topology.kubernetes.io/zone`,
//!   `whenUnsatisfiable: DoNotSchedule`, `maxSkew` = most − fewest wanted
//!   replicas over the zones its pods may run in (at least 1): no zone may
//!   get more than that above the emptiest one;
//! - **preferred node affinity** for each wanted zone, weight proportional
//!   to its wanted replicas (100 for the largest): the scheduler fills the
//!   heaviest zone until the skew bound stops it, then the next one.
//!
//! When the wanted counts are already even (skew ≤ 1) only the spread is
//! set. Preferred node-affinity terms that are not about the zone are kept
//! (the list is replaced as a whole by a strategic merge). The counts hold
//! as pods are created one by one (a rollout, a scale-up); the scheduler
//! re-decides at each, so the next analysis re-checks them.
//!
//! [`PreferCloseChange`] sets `spec.trafficDistribution: PreferClose` on the
//! Service (Kubernetes 1.31+), so clients are routed to endpoints in their
//! own zone. It is proposed only when every zone the service runs in keeps
//! at least [`MIN_ENDPOINTS_PER_ZONE`] replicas: PreferClose has no
//! safeguard of its own and would pour a whole zone's clients onto one or
//! two endpoints. Three per zone is the Kubernetes documentation's figure
//! for topology-aware routing ("Topology Aware Routing", *When it works
//! best*, 2: "The Service has 3 or more endpoints per zone"; with fewer the
//! EndpointSlice controller likely falls back to cluster-wide routing):
//! the same endpoint count makes same-zone routing safe for PreferClose.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::money::UsdPerHour;
use crate::plan::{Action, Precondition, Step, WorkloadRef, ZoneSpread};
use crate::snapshot::{
    node_labels, LabelSelector, NodeSelectorTerm, SelectorOperator, SelectorRequirement,
    WeightedNodeSelectorTerm, WorkloadKind,
};
use crate::traffic::ServiceRef;

/// Replicas each zone of a service must keep for [`PreferCloseChange`].
pub const MIN_ENDPOINTS_PER_ZONE: u32 = 3;

/// Zone placement of one workload's replicas.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ZonePlacementChange {
    /// The workload's kind (`Deployment`, `StatefulSet`).
    pub kind: String,
    /// Its namespace and name.
    pub workload: ServiceRef,
    /// Replicas wanted per zone (zones with none left out).
    pub replicas_by_zone: Vec<(String, u32)>,
    /// `maxSkew` of the zone spread constraint.
    pub max_skew: u32,
    /// Preferred node-affinity weight per zone (empty when the spread alone does it).
    pub zone_weights: Vec<(String, i32)>,
    /// Selector of the workload's pods, counted by the spread constraint.
    pub selector: LabelSelector,
    /// Preferred node-affinity terms kept from today's template.
    pub kept_preferred: Vec<WeightedNodeSelectorTerm>,
    /// The template's whole preferred list as it was read (the plan step
    /// re-checks it is still so before patching).
    #[serde(default)]
    pub current_preferred: Vec<WeightedNodeSelectorTerm>,
}

impl ZonePlacementChange {
    /// The change realizing `wanted` (replicas per zone, `zones` names them;
    /// `allowed` marks the zones the pods may run in).
    pub fn new(
        kind: &str,
        workload: ServiceRef,
        zones: &[String],
        wanted: &[u32],
        allowed: &[bool],
        selector: LabelSelector,
        kept_preferred: Vec<WeightedNodeSelectorTerm>,
    ) -> Self {
        let eligible: Vec<u32> = wanted
            .iter()
            .zip(allowed)
            .filter(|(_, a)| **a)
            .map(|(w, _)| *w)
            .collect();
        let most = eligible.iter().copied().max().unwrap_or(0);
        let fewest = eligible.iter().copied().min().unwrap_or(0);
        let max_skew = most.saturating_sub(fewest).max(1);
        let replicas_by_zone: Vec<(String, u32)> = zones
            .iter()
            .zip(wanted)
            .filter(|(_, w)| **w > 0)
            .map(|(z, w)| (z.clone(), *w))
            .collect();
        let zone_weights = if most.saturating_sub(fewest) <= 1 {
            Vec::new()
        } else {
            replicas_by_zone
                .iter()
                .map(|(z, w)| {
                    let weight = (f64::from(*w) * 100.0 / f64::from(most.max(1))).round();
                    (z.clone(), (weight as i32).clamp(1, 100))
                })
                .collect()
        };
        ZonePlacementChange {
            kind: kind.to_owned(),
            workload,
            replicas_by_zone,
            max_skew,
            zone_weights,
            selector,
            kept_preferred,
            current_preferred: Vec::new(),
        }
    }

    /// The template's whole new preferred list: the kept terms, then one
    /// term per wanted zone (none when the spread alone does it).
    pub fn preferred(&self) -> Vec<WeightedNodeSelectorTerm> {
        let mut terms = self.kept_preferred.clone();
        terms.extend(
            self.zone_weights
                .iter()
                .map(|(zone, weight)| WeightedNodeSelectorTerm {
                    weight: *weight,
                    preference: NodeSelectorTerm {
                        match_expressions: vec![SelectorRequirement {
                            key: node_labels::ZONE.to_owned(),
                            operator: SelectorOperator::In,
                            values: vec![zone.clone()],
                        }],
                        match_fields: Vec::new(),
                    },
                }),
        );
        terms
    }

    /// The zone spread constraint of the template.
    pub fn zone_spread(&self) -> ZoneSpread {
        ZoneSpread {
            max_skew: self.max_skew,
            selector: self.selector.clone(),
        }
    }

    /// The strategic-merge patch of the workload that makes the change.
    ///
    /// ```
    /// use cloudoptim_core::cross_az::ZonePlacementChange;
    /// use cloudoptim_core::snapshot::LabelSelector;
    /// use cloudoptim_core::traffic::ServiceRef;
    ///
    /// let zones = ["a".to_string(), "b".to_string(), "c".to_string()];
    /// let change = ZonePlacementChange::new("Deployment", ServiceRef::new("shop", "api"),
    ///     &zones, &[4, 1, 0], &[true; 3], LabelSelector::default(), vec![]);
    /// let patch = change.to_patch_json();
    /// let spec = &patch["spec"]["template"]["spec"];
    /// assert_eq!(spec["topologySpreadConstraints"][0]["maxSkew"], 4);
    /// let terms = &spec["affinity"]["nodeAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"];
    /// assert_eq!(terms[0]["weight"], 100);
    /// assert_eq!(terms[1]["weight"], 25);
    /// ```
    pub fn to_patch_json(&self) -> Value {
        let spread = self.zone_spread();
        json!({ "spec": { "template": { "spec": {
            "topologySpreadConstraints": [{
                "maxSkew": spread.max_skew,
                "topologyKey": node_labels::ZONE,
                "whenUnsatisfiable": "DoNotSchedule",
                "labelSelector": spread.selector,
            }],
            "affinity": { "nodeAffinity": {
                "preferredDuringSchedulingIgnoredDuringExecution": self.preferred(),
            }},
        }}}})
    }

    /// The plan step making the change: one patch of the template (one
    /// rollout), run only while its preferred list is still what was read.
    pub fn step(&self, usd_per_hour_delta: UsdPerHour) -> Option<Step> {
        let kind = WorkloadKind::from_kind(&self.kind)?;
        let workload = WorkloadRef {
            kind,
            namespace: self.workload.namespace.clone(),
            name: self.workload.name.clone(),
        };
        let zones: Vec<String> = self
            .replicas_by_zone
            .iter()
            .map(|(z, n)| format!("{z}:{n}"))
            .collect();
        Some(Step {
            reason: format!(
                "{} {} to {} (zone spread maxSkew {}) for less cross-zone traffic",
                self.kind,
                self.workload,
                zones.join(" "),
                self.max_skew
            ),
            preconditions: vec![Precondition::PreferredNodeAffinityIs {
                workload: workload.clone(),
                preferred: self.current_preferred.clone(),
            }],
            action: Action::SetPreferredNodeAffinity {
                workload,
                preferred: self.preferred(),
                zone_spread: Some(self.zone_spread()),
            },
            usd_per_hour_delta,
        })
    }
}

/// `trafficDistribution: PreferClose` on a Service.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PreferCloseChange {
    /// The Service.
    pub service: ServiceRef,
    /// Its fewest endpoints in a zone its workload runs in, once placed.
    pub fewest_per_zone: u32,
    /// Its `spec.trafficDistribution` as read (the step re-checks it).
    #[serde(default)]
    pub current: Option<String>,
}

impl PreferCloseChange {
    /// The change, if every zone with replicas in `wanted` keeps at least
    /// [`MIN_ENDPOINTS_PER_ZONE`] of them.
    pub fn if_enough_endpoints(service: ServiceRef, wanted: &[u32]) -> Option<Self> {
        let fewest = fewest_per_zone(wanted)?;
        (fewest >= MIN_ENDPOINTS_PER_ZONE).then_some(PreferCloseChange {
            service,
            fewest_per_zone: fewest,
            current: None,
        })
    }

    /// The strategic-merge patch of the Service.
    pub fn to_patch_json(&self) -> Value {
        json!({ "spec": { "trafficDistribution": PREFER_CLOSE } })
    }

    /// The plan step making the change, run only while the Service's
    /// `trafficDistribution` is still what was read.
    pub fn step(&self) -> Step {
        Step {
            reason: format!(
                "Service {}: trafficDistribution PreferClose (at least {} endpoints in each of its zones)",
                self.service, self.fewest_per_zone
            ),
            preconditions: vec![Precondition::TrafficDistributionIs {
                namespace: self.service.namespace.clone(),
                service: self.service.name.clone(),
                value: self.current.clone(),
            }],
            action: Action::SetTrafficDistribution {
                namespace: self.service.namespace.clone(),
                service: self.service.name.clone(),
                value: Some(PREFER_CLOSE.to_owned()),
            },
            usd_per_hour_delta: UsdPerHour::ZERO,
        }
    }
}

/// The `trafficDistribution` value proposed.
pub const PREFER_CLOSE: &str = "PreferClose";

/// The fewest replicas in a zone that has any; `None` when none has.
pub fn fewest_per_zone(counts: &[u32]) -> Option<u32> {
    counts.iter().copied().filter(|&c| c > 0).min()
}
