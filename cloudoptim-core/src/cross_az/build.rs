//! From a snapshot and a traffic matrix to a [`Problem`]: which pods make
//! up each service, where they run, what may move, and the zones' room.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::{Deserialize, Serialize};

use super::problem::{Problem, ServiceSpec};
use super::CrossAzPolicy;
use crate::resources::Resources;
use crate::snapshot::{
    node_labels, tolerates_all, ClusterSnapshot, Node, Pod, VolumeSource, WhenUnsatisfiable,
    WorkloadKind,
};
use crate::traffic::{ServiceRef, TrafficMatrix};

/// Why a service's replicas stay where they are.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "reason")]
pub enum Fixed {
    /// A DaemonSet runs one pod per node wherever its nodes are.
    DaemonSet,
    /// Jobs and CronJobs are short-lived; they are placed when they start.
    ShortLived {
        /// The kind.
        kind: String,
    },
    /// A pod's volume lives in one zone (a bound PV with a zone).
    ZonalVolume {
        /// `namespace/name` of the pod.
        pod: String,
        /// The claim.
        claim: String,
        /// The volume's zone.
        zone: String,
    },
    /// Required pod affinity on the zone ties it to other pods.
    PodAffinityOnZone,
    /// Its pods can run in fewer zones than it must use (node affinity,
    /// node selector or taints leave too few).
    TooFewZones {
        /// Zones its pods may run in.
        allowed: Vec<String>,
    },
}

/// Why a flow cannot be placed or costed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "reason")]
pub enum CannotPlace {
    /// No running pod in the snapshot belongs to this service.
    NoPods {
        /// The service.
        service: ServiceRef,
    },
    /// Pods of several workload kinds carry this name.
    Ambiguous {
        /// The service.
        service: ServiceRef,
        /// The kinds.
        kinds: Vec<String>,
    },
    /// A pod of the service runs on a node whose zone is unknown (or on a
    /// node the snapshot does not list).
    ZoneUnknown {
        /// The service.
        service: ServiceRef,
        /// `namespace/name` of the pod.
        pod: String,
    },
}

impl std::fmt::Display for Fixed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Fixed::DaemonSet => write!(f, "a DaemonSet runs where its nodes are"),
            Fixed::ShortLived { kind } => write!(f, "a {kind} is placed when it starts"),
            Fixed::ZonalVolume { pod, claim, zone } => {
                write!(f, "pod {pod} has volume {claim} in {zone}")
            }
            Fixed::PodAffinityOnZone => write!(f, "required pod affinity on the zone"),
            Fixed::TooFewZones { allowed } if allowed.is_empty() => {
                write!(f, "no zone has a node its pods may run on")
            }
            Fixed::TooFewZones { allowed } => {
                write!(f, "its pods may run only in {}", allowed.join(", "))
            }
        }
    }
}

impl std::fmt::Display for CannotPlace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CannotPlace::NoPods { service } => {
                write!(f, "no running pod of the snapshot belongs to {service}")
            }
            CannotPlace::Ambiguous { service, kinds } => {
                write!(
                    f,
                    "{service} names workloads of several kinds ({})",
                    kinds.join(", ")
                )
            }
            CannotPlace::ZoneUnknown { service, pod } => {
                write!(f, "{service}: pod {pod} runs on a node of no known zone")
            }
        }
    }
}

/// What is known of one service of the problem.
#[derive(Clone, Debug, PartialEq)]
pub struct ServiceInfo {
    /// The service.
    pub service: ServiceRef,
    /// Kind of its workload (`Deployment`, …).
    pub kind: String,
    /// Why it stays, if it does.
    pub fixed: Option<Fixed>,
    /// Label selector of its pods for a spread constraint: the workload's
    /// selector when the snapshot has the workload, else the labels all its
    /// pods share (hashes of revisions left out).
    pub selector: crate::snapshot::LabelSelector,
    /// Preferred node-affinity terms of its pods that are not about the
    /// zone (kept in the patch, which replaces the list).
    pub other_preferred: Vec<crate::snapshot::WeightedNodeSelectorTerm>,
    /// The whole preferred list of its template as read (the workload's
    /// when the snapshot has it, else its first pod's).
    pub current_preferred: Vec<crate::snapshot::WeightedNodeSelectorTerm>,
}

/// The problem and what maps it back to the cluster.
#[derive(Clone, Debug)]
pub struct Built {
    /// The numbers.
    pub problem: Problem,
    /// One per service of the problem, same index.
    pub services: Vec<ServiceInfo>,
    /// For each flow of the matrix: the indices of its two services, or why not.
    pub flows: Vec<Result<(usize, usize), CannotPlace>>,
}

/// Labels that differ between pods of one workload by design.
const REVISION_LABELS: [&str; 3] = [
    "pod-template-hash",
    "controller-revision-hash",
    "statefulset.kubernetes.io/pod-name",
];

fn schedulable(node: &Node) -> bool {
    node.ready && !node.unschedulable && node.zone.is_some()
}

/// Whether `pod` may run on `node` as far as the node is concerned.
fn fits_node(pod: &Pod, node: &Node) -> bool {
    schedulable(node)
        && tolerates_all(&pod.tolerations, &node.taints)
        && pod
            .node_selector
            .iter()
            .all(|(k, v)| node.labels.get(k) == Some(v))
        && pod.node_affinity.required_matches(&node.name, &node.labels)
}

/// Build the placement problem of the services `traffic` names.
pub fn build(snapshot: &ClusterSnapshot, traffic: &TrafficMatrix, policy: &CrossAzPolicy) -> Built {
    let zone_of_node: HashMap<&str, &str> = snapshot
        .nodes
        .iter()
        .filter_map(|n| n.zone.as_deref().map(|z| (n.name.as_str(), z)))
        .collect();
    let zones: Vec<String> = snapshot
        .nodes
        .iter()
        .filter_map(|n| n.zone.clone())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let zone_index: HashMap<&str, usize> = zones
        .iter()
        .enumerate()
        .map(|(i, z)| (z.as_str(), i))
        .collect();

    // Active pods by (namespace, owner name), with their owner kinds.
    let mut pods_of: HashMap<(&str, &str), Vec<&Pod>> = HashMap::new();
    for pod in snapshot.pods.iter().filter(|p| p.is_active_on_node()) {
        if let Some(owner) = pod.top_owner() {
            pods_of
                .entry((pod.namespace.as_str(), owner.name.as_str()))
                .or_default()
                .push(pod);
        }
    }
    let volume_zone: HashMap<&str, &str> = snapshot
        .persistent_volumes
        .iter()
        .filter_map(|v| v.zone.as_deref().map(|z| (v.name.as_str(), z)))
        .collect();
    let claim_zone: HashMap<(&str, &str), &str> = snapshot
        .persistent_volume_claims
        .iter()
        .filter_map(|c| {
            let zone = volume_zone.get(c.volume_name.as_deref()?)?;
            Some(((c.namespace.as_str(), c.name.as_str()), *zone))
        })
        .collect();

    let mut problem_services: Vec<(ServiceSpec, ServiceInfo, Vec<&Pod>)> = Vec::new();
    let mut index_of: BTreeMap<ServiceRef, Result<usize, CannotPlace>> = BTreeMap::new();
    let mut resolve = |service: &ServiceRef| -> Result<usize, CannotPlace> {
        if let Some(known) = index_of.get(service) {
            return known.clone();
        }
        let result = (|| {
            let pods = pods_of
                .get(&(service.namespace.as_str(), service.name.as_str()))
                .filter(|p| !p.is_empty())
                .ok_or_else(|| CannotPlace::NoPods {
                    service: service.clone(),
                })?;
            let kinds: BTreeSet<&str> = pods
                .iter()
                .filter_map(|p| p.top_owner().map(|o| o.kind.as_str()))
                .collect();
            if kinds.len() > 1 {
                return Err(CannotPlace::Ambiguous {
                    service: service.clone(),
                    kinds: kinds.iter().map(|k| (*k).to_owned()).collect(),
                });
            }
            let mut current = vec![0u32; zones.len()];
            for pod in pods {
                let zone = pod
                    .node_name
                    .as_deref()
                    .and_then(|n| zone_of_node.get(n))
                    .and_then(|z| zone_index.get(z))
                    .and_then(|&i| current.get_mut(i))
                    .ok_or_else(|| CannotPlace::ZoneUnknown {
                        service: service.clone(),
                        pod: pod.key(),
                    })?;
                *zone += 1;
            }
            let kind = kinds.first().copied().unwrap_or("").to_owned();
            let (spec, info) = describe(
                snapshot,
                service,
                kind,
                pods,
                current,
                &zones,
                &zone_index,
                &claim_zone,
                policy,
            );
            problem_services.push((spec, info, pods.clone()));
            Ok(problem_services.len() - 1)
        })();
        index_of.insert(service.clone(), result.clone());
        result
    };
    let flows: Vec<Result<(usize, usize), CannotPlace>> = traffic
        .flows
        .iter()
        .map(|f| Ok((resolve(&f.from)?, resolve(&f.to)?)))
        .collect();

    // Room per zone: schedulable allocatable minus every pod that stays.
    let mut capacity = vec![Resources::ZERO; zones.len()];
    for node in snapshot.nodes.iter().filter(|n| schedulable(n)) {
        if let Some(c) = node
            .zone
            .as_deref()
            .and_then(|z| zone_index.get(z))
            .and_then(|&i| capacity.get_mut(i))
        {
            *c = c.saturating_add(node.allocatable);
        }
    }
    let moving: BTreeSet<(&str, &str)> = problem_services
        .iter()
        .filter(|(spec, _, _)| spec.movable)
        .flat_map(|(_, _, pods)| pods.iter().map(|p| (p.namespace.as_str(), p.name.as_str())))
        .collect();
    for pod in snapshot.pods.iter().filter(|p| p.is_active_on_node()) {
        if moving.contains(&(pod.namespace.as_str(), pod.name.as_str())) {
            continue;
        }
        let on_schedulable = pod
            .node_name
            .as_deref()
            .and_then(|n| snapshot.node(n))
            .is_some_and(schedulable);
        if !on_schedulable {
            continue;
        }
        if let Some(c) = pod
            .node_name
            .as_deref()
            .and_then(|n| zone_of_node.get(n))
            .and_then(|z| zone_index.get(z))
            .and_then(|&i| capacity.get_mut(i))
        {
            *c = c.saturating_sub(pod.requests());
        }
    }

    let mut problem = Problem::new(zones, capacity);
    let mut services = Vec::new();
    for (spec, info, _) in problem_services {
        problem.add_service(spec);
        services.push(info);
    }
    for (flow, ends) in traffic.flows.iter().zip(&flows) {
        if let Ok((a, b)) = ends {
            problem.add_traffic(*a, *b, flow.bytes_per_second);
        }
    }
    Built {
        problem,
        services,
        flows,
    }
}

#[allow(clippy::too_many_arguments)]
fn describe(
    snapshot: &ClusterSnapshot,
    service: &ServiceRef,
    kind: String,
    pods: &[&Pod],
    current: Vec<u32>,
    zones: &[String],
    zone_index: &HashMap<&str, usize>,
    claim_zone: &HashMap<(&str, &str), &str>,
    policy: &CrossAzPolicy,
) -> (ServiceSpec, ServiceInfo) {
    let replicas = u32::try_from(pods.len()).unwrap_or(u32::MAX);
    let per_replica = pods
        .iter()
        .fold(Resources::ZERO, |acc, p| acc.max(p.requests()));
    // Zones where every pod of the service could run.
    let mut allowed = vec![true; zones.len()];
    for pod in pods {
        let mut here = vec![false; zones.len()];
        for node in snapshot.nodes.iter().filter(|n| fits_node(pod, n)) {
            if let Some(h) = node
                .zone
                .as_deref()
                .and_then(|z| zone_index.get(z))
                .and_then(|&i| here.get_mut(i))
            {
                *h = true;
            }
        }
        for (a, h) in allowed.iter_mut().zip(here) {
            *a &= h;
        }
    }
    let zone_key = |key: &str| key == node_labels::ZONE || key == node_labels::ZONE_BETA;
    let max_skew = pods
        .iter()
        .flat_map(|p| &p.topology_spread)
        .filter(|c| {
            zone_key(&c.topology_key) && c.when_unsatisfiable == WhenUnsatisfiable::DoNotSchedule
        })
        .map(|c| u32::try_from(c.max_skew.max(1)).unwrap_or(1))
        .min();
    let max_per_zone = pods
        .iter()
        .any(|p| {
            p.pod_affinity.anti_required.iter().any(|t| {
                zone_key(&t.topology_key)
                    && t.label_selector
                        .as_ref()
                        .is_some_and(|s| s.matches(&p.labels))
            })
        })
        .then_some(1);

    let mut fixed = None;
    if kind == WorkloadKind::DaemonSet.as_str() {
        fixed = Some(Fixed::DaemonSet);
    } else if kind == WorkloadKind::Job.as_str() || kind == WorkloadKind::CronJob.as_str() {
        fixed = Some(Fixed::ShortLived { kind: kind.clone() });
    } else if pods.iter().any(|p| {
        p.pod_affinity
            .required
            .iter()
            .any(|t| zone_key(&t.topology_key))
    }) {
        fixed = Some(Fixed::PodAffinityOnZone);
    }
    if fixed.is_none() {
        fixed = pods.iter().find_map(|p| {
            p.volumes.iter().find_map(|v| match &v.source {
                VolumeSource::PersistentVolumeClaim { claim_name } => claim_zone
                    .get(&(p.namespace.as_str(), claim_name.as_str()))
                    .map(|zone| Fixed::ZonalVolume {
                        pod: p.key(),
                        claim: claim_name.clone(),
                        zone: (*zone).to_owned(),
                    }),
                _ => None,
            })
        });
    }
    let allowed_count = allowed.iter().filter(|a| **a).count();
    let needed = if replicas >= 2 { 2 } else { 1 };
    if fixed.is_none() && allowed_count < needed {
        fixed = Some(Fixed::TooFewZones {
            allowed: zones
                .iter()
                .zip(&allowed)
                .filter(|(_, a)| **a)
                .map(|(z, _)| z.clone())
                .collect(),
        });
    }
    // The policy's share cap, for the services that move; never below
    // what the allowed zones need to hold every replica.
    let max_per_zone = match (fixed.is_none(), policy.max_zone_share_percent) {
        (true, percent @ 1..=99) if replicas >= 2 => {
            let share = (u64::from(replicas) * u64::from(percent)).div_ceil(100);
            let needed = u64::from(replicas).div_ceil(allowed_count.max(1) as u64);
            let cap = u32::try_from(share.max(needed).max(1)).unwrap_or(u32::MAX);
            Some(max_per_zone.map_or(cap, |m| m.min(cap)))
        }
        _ => max_per_zone,
    };
    let workload = WorkloadKind::from_kind(&kind)
        .and_then(|k| snapshot.workload(k, &service.namespace, &service.name));
    let selector = match workload {
        Some(w) if !w.selector.is_empty() => w.selector.clone(),
        _ => {
            let mut shared = pods.first().map(|p| p.labels.clone()).unwrap_or_default();
            shared.retain(|k, v| {
                !REVISION_LABELS.contains(&k.as_str())
                    && pods.iter().all(|p| p.labels.get(k) == Some(&*v))
            });
            crate::snapshot::LabelSelector {
                match_labels: shared,
                match_expressions: Vec::new(),
            }
        }
    };
    let current_preferred = match workload {
        Some(w) => w.template.node_affinity.preferred.clone(),
        None => pods
            .first()
            .map(|p| p.node_affinity.preferred.clone())
            .unwrap_or_default(),
    };
    let other_preferred = pods
        .first()
        .map(|p| {
            p.node_affinity
                .preferred
                .iter()
                .filter(|t| {
                    !t.preference
                        .match_expressions
                        .iter()
                        .any(|r| zone_key(&r.key))
                })
                .cloned()
                .collect()
        })
        .unwrap_or_default();
    let spec = ServiceSpec {
        replicas,
        per_replica,
        movable: fixed.is_none(),
        current,
        allowed,
        max_per_zone,
        max_skew,
    };
    let info = ServiceInfo {
        service: service.clone(),
        kind,
        fixed,
        selector,
        other_preferred,
        current_preferred,
    };
    (spec, info)
}
