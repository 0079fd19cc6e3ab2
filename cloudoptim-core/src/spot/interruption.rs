//! From an EC2 event to the plan that gets a node's pods out in time.
//!
//! The [`InterruptionHandler`] keeps what it has seen (event ids,
//! instances being drained, instances already terminated) as plain data,
//! so duplicated or reordered messages produce one drain:
//!
//! - the same event id twice → [`Outcome::Duplicate`];
//! - a second warning for an instance already draining → `Duplicate`;
//! - a warning for an instance already reported terminated, or that backs
//!   no node → [`Outcome::Ignored`], to be acknowledged with no action;
//! - a spot interruption warning → cordon, launch replacement capacity (the
//!   next spot pool, or on-demand), evict the node's pods most important
//!   first within the 2-minute window (PDBs apply), delete the Node object
//!   once the instance is gone;
//! - a rebalance recommendation or an AWS Health scheduled change → the
//!   same without the deadline (for rebalance, evictions only if the policy
//!   drains on rebalance), and without forcing anything: a node annotated
//!   do-not-disrupt is left alone, and the plan does not evict a pod
//!   annotated do-not-disrupt, a bare pod (no controller to recreate it),
//!   nor more pods covered by a PDB than its `disruptions_allowed`. What
//!   stays is listed in [`Outcome::Plan`]'s `left`; each eviction carries
//!   [`Precondition::PodDisruptable`] and the covering PDBs'
//!   [`Precondition::PdbAllows`];
//! - a state change to `shutting-down`/`terminated` → delete the stale Node;
//! - a snapshot with two objects of one identity (see
//!   [`ClusterSnapshot::check_unique`]) → [`Outcome::InvalidSnapshot`], and
//!   the event is not recorded as seen.
//!
//! Only the 2-minute spot interruption warning forces: the instance goes
//! whatever the plan does, so every pod that
//! [moves with the node](Pod::moves_with_node) is evicted before the
//! deadline, annotations and bare pods notwithstanding.

use std::collections::{BTreeSet, HashMap};

use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};

use super::events::{EventKind, InstanceEvent};
use super::pools::{select_pools, CapacityNeed, PoolPolicy};
use super::risk::{RiskModel, WeightedRisk};
use crate::catalog::Catalog;
use crate::inventory::Tags;
use crate::money::UsdPerHour;
use crate::plan::{Action, Plan, Precondition};
use crate::pricing::node_price;
use crate::resources::Resources;
use crate::snapshot::{CapacityType, ClusterSnapshot, DuplicateObject, Node, Pod};

/// Seconds between a spot interruption warning and the instance's end.
pub const SPOT_WARNING_SECONDS: i64 = 120;

/// How interruptions are handled.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct InterruptionPolicy {
    /// Also evict pods on a rebalance recommendation (not only cordon and
    /// launch replacement capacity).
    pub drain_on_rebalance: bool,
    /// How replacement spot pools are chosen.
    pub pools: PoolPolicy,
}

impl Default for InterruptionPolicy {
    /// Drain on rebalance; default pool policy.
    fn default() -> Self {
        InterruptionPolicy {
            drain_on_rebalance: true,
            pools: PoolPolicy::default(),
        }
    }
}

/// Why a plan for a rebalance recommendation or a scheduled change leaves
/// a pod on its node.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum StayReason {
    /// The node is annotated do-not-disrupt: nothing is planned for it.
    #[error("the node is annotated do-not-disrupt")]
    NodeDoNotDisrupt,
    /// The pod is annotated do-not-disrupt.
    #[error("the pod is annotated do-not-disrupt")]
    DoNotDisrupt,
    /// The pod has no controller to recreate it.
    #[error("the pod has no controller to recreate it")]
    BarePod,
    /// A PDB covering the pod has no disruption left for it in this plan.
    #[error("PDB {pdb} has no disruption left for it in this plan (it allows {allowed})")]
    Pdb {
        /// `namespace/name` of the PDB.
        pdb: String,
        /// Its `disruptions_allowed`.
        allowed: u32,
    },
}

/// A pod a plan would move off a node, but leaves there.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeftPod {
    /// `namespace/name`.
    pub pod: String,
    /// The node it stays on.
    pub node: String,
    /// Why.
    pub reason: StayReason,
}

/// What to do about one event.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Outcome {
    /// Run this plan.
    Plan {
        /// The plan (for a node left alone, it may have no steps).
        plan: Plan,
        /// The pods the plan would move but leaves where they are, and why
        /// (rebalance recommendations and scheduled changes only: the spot
        /// warning moves every pod).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        left: Vec<LeftPod>,
    },
    /// Already handled: acknowledge the message.
    Duplicate {
        /// Why it is a duplicate.
        reason: String,
    },
    /// Nothing to do: acknowledge the message.
    Ignored {
        /// Why.
        reason: String,
    },
    /// The snapshot has two objects of one identity, so no plan is made.
    /// The event is not recorded as seen: do not acknowledge the message;
    /// observe the cluster again and handle the event again.
    InvalidSnapshot {
        /// The first repeat found.
        duplicate: DuplicateObject,
    },
}

/// Memory of handled events, so repeats and reorderings plan one drain.
///
/// Replacement capacity goes to spot pools ranked by a [`RiskModel`]: the
/// seed's [`WeightedRisk`] unless [`with_risk_model`](Self::with_risk_model)
/// says otherwise. The model is not part of the serialized memory.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct InterruptionHandler<R = WeightedRisk> {
    #[serde(skip)]
    risk: R,
    seen_event_ids: BTreeSet<String>,
    /// Instances being drained, and whether for a spot warning (a warning
    /// after a rebalance-only drain still plans the evictions and deadline).
    draining: std::collections::BTreeMap<String, bool>,
    terminated: BTreeSet<String>,
}

impl InterruptionHandler {
    /// A handler that has seen nothing, ranking pools by [`WeightedRisk`].
    pub fn new() -> InterruptionHandler {
        InterruptionHandler::default()
    }
}

impl<R: RiskModel> InterruptionHandler<R> {
    /// This handler's memory, ranking replacement pools by `risk`.
    pub fn with_risk_model<S: RiskModel>(self, risk: S) -> InterruptionHandler<S> {
        InterruptionHandler {
            risk,
            seen_event_ids: self.seen_event_ids,
            draining: self.draining,
            terminated: self.terminated,
        }
    }

    /// Decide what to do about `event`, given the cluster as it is.
    ///
    /// A snapshot that fails [`ClusterSnapshot::check_unique`] gets
    /// [`Outcome::InvalidSnapshot`], and the handler forgets the event.
    pub fn handle(
        &mut self,
        event: &InstanceEvent,
        snapshot: &ClusterSnapshot,
        catalog: &Catalog,
        policy: &InterruptionPolicy,
        now: Timestamp,
    ) -> Outcome {
        if let Err(duplicate) = snapshot.check_unique() {
            return Outcome::InvalidSnapshot { duplicate };
        }
        if !self.seen_event_ids.insert(event.id.clone()) {
            return Outcome::Duplicate {
                reason: format!("event {} was handled already", event.id),
            };
        }
        match &event.kind {
            EventKind::Other {
                source,
                detail_type,
            } => Outcome::Ignored {
                reason: format!("{source} {detail_type:?} is not an event CloudOptim acts on"),
            },
            EventKind::StateChange { state } => {
                if !matches!(state.as_str(), "shutting-down" | "terminated") {
                    return Outcome::Ignored {
                        reason: format!("state {state} needs no action"),
                    };
                }
                let mut plan = Plan::new("spot-interruption", now);
                for id in &event.instance_ids {
                    self.terminated.insert(id.clone());
                    self.draining.remove(id);
                    if let Some(node) = snapshot.node_by_instance_id(id) {
                        plan.push(
                            Action::DeleteNode {
                                node: node.name.clone(),
                            },
                            format!("instance {id} is {state}; its Node object is stale"),
                            vec![Precondition::NodeExists {
                                node: node.name.clone(),
                            }],
                            UsdPerHour::ZERO,
                        );
                    }
                }
                if plan.steps.is_empty() {
                    Outcome::Ignored {
                        reason: "the instance backs no node of this cluster".into(),
                    }
                } else {
                    Outcome::Plan {
                        plan,
                        left: Vec::new(),
                    }
                }
            }
            kind => {
                let deadline = match kind {
                    EventKind::SpotInterruptionWarning { .. } => event
                        .time
                        .checked_add(SignedDuration::from_secs(SPOT_WARNING_SECONDS))
                        .ok(),
                    _ => None,
                };
                let evict = !matches!(kind, EventKind::RebalanceRecommendation)
                    || policy.drain_on_rebalance;
                let mut plan = Plan::new("spot-interruption", now);
                let mut notes = Vec::new();
                let mut left = Vec::new();
                // Disruptions each PDB has left over the whole plan.
                let mut pdb_left: PdbBudget<'_> = snapshot
                    .pdbs
                    .iter()
                    .map(|b| {
                        (
                            (b.namespace.as_str(), b.name.as_str()),
                            b.disruptions_allowed,
                        )
                    })
                    .collect();
                for id in &event.instance_ids {
                    if self.terminated.contains(id) {
                        notes.push(format!("{id} is already terminated"));
                        continue;
                    }
                    let is_warning = deadline.is_some();
                    if self
                        .draining
                        .get(id)
                        .is_some_and(|warned| *warned || !is_warning)
                    {
                        notes.push(format!("{id} is already being drained"));
                        continue;
                    }
                    let Some(node) = snapshot.node_by_instance_id(id) else {
                        notes.push(format!("{id} backs no node of this cluster"));
                        continue;
                    };
                    if !is_warning && node.do_not_disrupt() {
                        // Not even cordoned: the annotation says hands off,
                        // and only the spot warning overrides it.
                        notes.push(format!("{} is annotated do-not-disrupt", node.name));
                        left.extend(
                            snapshot
                                .pods_on(&node.name)
                                .filter(|p| p.moves_with_node())
                                .map(|p| LeftPod {
                                    pod: p.key(),
                                    node: node.name.clone(),
                                    reason: StayReason::NodeDoNotDisrupt,
                                }),
                        );
                        continue;
                    }
                    self.draining.insert(id.clone(), is_warning);
                    let drain = NodeDrainPlan {
                        snapshot,
                        catalog,
                        risk: &self.risk,
                        policy,
                        kind,
                        deadline,
                        evict,
                        now,
                    };
                    drain.plan(&mut plan, node, &mut pdb_left, &mut left);
                }
                if !plan.steps.is_empty() || !left.is_empty() {
                    Outcome::Plan { plan, left }
                } else if notes.iter().any(|n| n.ends_with("being drained")) {
                    Outcome::Duplicate {
                        reason: notes.join("; "),
                    }
                } else {
                    Outcome::Ignored {
                        reason: notes.join("; "),
                    }
                }
            }
        }
    }
}

/// Disruptions each PDB (by namespace and name) has left in a plan.
type PdbBudget<'a> = HashMap<(&'a str, &'a str), u32>;

/// What one event's drains share.
struct NodeDrainPlan<'a> {
    snapshot: &'a ClusterSnapshot,
    catalog: &'a Catalog,
    risk: &'a dyn RiskModel,
    policy: &'a InterruptionPolicy,
    kind: &'a EventKind,
    /// The spot warning's deadline; `None` for the events that do not force.
    deadline: Option<Timestamp>,
    /// Whether to evict at all (not on a rebalance when the policy says so).
    evict: bool,
    now: Timestamp,
}

impl<'a> NodeDrainPlan<'a> {
    /// Which of `pods` (most important first) the plan evicts. With a
    /// deadline, all of them; otherwise not the do-not-disrupt pods, the
    /// bare pods, nor more pods of a PDB than it has disruptions left in
    /// `pdb_left` (which the evicted ones use up). The others are pushed
    /// to `left`.
    fn choose(
        &self,
        node: &Node,
        pods: Vec<&'a Pod>,
        pdb_left: &mut PdbBudget<'a>,
        left: &mut Vec<LeftPod>,
    ) -> Vec<&'a Pod> {
        if self.deadline.is_some() {
            return pods;
        }
        let mut movers = Vec::new();
        for pod in pods {
            let reason = if pod.controller.is_none() {
                Some(StayReason::BarePod)
            } else if pod.do_not_disrupt() {
                Some(StayReason::DoNotDisrupt)
            } else {
                let covering: Vec<_> = self.snapshot.pdbs_for(pod).collect();
                let exhausted = covering.iter().find(|b| {
                    pdb_left
                        .get(&(b.namespace.as_str(), b.name.as_str()))
                        .is_none_or(|n| *n == 0)
                });
                match exhausted {
                    Some(b) => Some(StayReason::Pdb {
                        pdb: format!("{}/{}", b.namespace, b.name),
                        allowed: b.disruptions_allowed,
                    }),
                    None => {
                        for b in covering {
                            if let Some(n) =
                                pdb_left.get_mut(&(b.namespace.as_str(), b.name.as_str()))
                            {
                                *n = n.saturating_sub(1);
                            }
                        }
                        None
                    }
                }
            };
            match reason {
                Some(reason) => left.push(LeftPod {
                    pod: pod.key(),
                    node: node.name.clone(),
                    reason,
                }),
                None => movers.push(pod),
            }
        }
        movers
    }

    /// Cordon, launch replacement capacity, evict (most important first),
    /// and delete the Node once the instance is gone.
    fn plan(
        &self,
        plan: &mut Plan,
        node: &'a Node,
        pdb_left: &mut PdbBudget<'a>,
        left: &mut Vec<LeftPod>,
    ) {
        let NodeDrainPlan {
            snapshot,
            catalog,
            risk,
            policy,
            kind,
            deadline,
            evict,
            now,
        } = *self;
        let name = node.name.clone();
        let mut pods: Vec<&Pod> = snapshot
            .pods_on(&node.name)
            .filter(|p| p.moves_with_node())
            .collect();
        pods.sort_by_key(|p| (std::cmp::Reverse(p.priority), p.key()));
        // What a failed launch must not use up: the node is then left as it is.
        let (budget_before, left_before) = (pdb_left.clone(), left.len());
        if evict {
            pods = self.choose(node, pods, pdb_left, left);
        }
        let why = match kind {
            EventKind::SpotInterruptionWarning { action } => {
                format!("EC2 will {action} spot instance behind {name} within 2 minutes")
            }
            EventKind::RebalanceRecommendation => {
                format!("EC2 recommends moving off {name}: its spot pool is at elevated risk")
            }
            EventKind::ScheduledChange { code, .. } => {
                format!("AWS Health scheduled {code} for {name}")
            }
            _ => format!("{name} is going away"),
        };
        let deadline_check = |mut pre: Vec<Precondition>| {
            if let Some(d) = deadline {
                pre.push(Precondition::Before { deadline: d });
            }
            pre
        };
        plan.push(
            Action::Cordon { node: name.clone() },
            format!("{why}; no new pods there"),
            deadline_check(vec![Precondition::NodeExists { node: name.clone() }]),
            UsdPerHour::ZERO,
        );

        // Replacement capacity for the pods, away from the interrupted pool.
        let need = pods
            .iter()
            .fold(Resources::ZERO, |a, p| a.saturating_add(p.requests()));
        if !pods.is_empty() {
            let mut unavailable = BTreeSet::new();
            if let (Some(t), Some(z)) = (&node.instance_type, &node.zone) {
                unavailable.insert((t.clone(), z.clone()));
            }
            let capacity = CapacityNeed {
                pod_requests: Resources { pods: 0, ..need },
                pods: 1,
                architectures: vec![crate::environment::node_architecture(node)
                    .unwrap_or(crate::catalog::Architecture::X86_64)],
                node_selector: Default::default(),
                node_affinity: Default::default(),
            };
            let old_price = node_price(node, catalog, &policy.pools.region)
                .map(|p| p.usd_per_hour)
                .unwrap_or(UsdPerHour::ZERO);
            match select_pools(
                &capacity,
                catalog,
                &Default::default(),
                &unavailable,
                risk,
                &policy.pools,
                now,
            ) {
                Ok(allocation) => {
                    let mut tags = Tags::new();
                    tags.insert("cloudoptim.io/replaces".into(), name.clone());
                    let (instance_type, zone, capacity_type, price, reason) =
                        match (allocation.spot.first(), &allocation.on_demand) {
                            (Some(s), _) => (
                                s.pool.instance_type.clone(),
                                s.pool.zone.clone(),
                                CapacityType::Spot,
                                s.pool.spot_usd_per_hour,
                                format!(
                                    "replacement capacity in the next spot pool (risk {:.2})",
                                    s.pool.risk.score
                                ),
                            ),
                            (None, Some(o)) => (
                                o.instance_type.clone(),
                                node.zone.clone().unwrap_or_default(),
                                CapacityType::OnDemand,
                                o.usd_per_hour,
                                format!("replacement capacity on on-demand: {}", o.reason),
                            ),
                            (None, None) => (
                                String::new(),
                                String::new(),
                                CapacityType::OnDemand,
                                UsdPerHour::ZERO,
                                String::new(),
                            ),
                        };
                    if !instance_type.is_empty() {
                        plan.push(
                            Action::LaunchInstance {
                                instance_type,
                                zone,
                                capacity_type,
                                count: 1,
                                tags,
                            },
                            reason,
                            vec![],
                            price - old_price,
                        );
                    }
                }
                // No replacement capacity: the pods must still leave a node
                // that EC2 reclaims; otherwise leave the node as it is.
                Err(e) if deadline.is_some() => {
                    tracing::warn!(node = %name, error = %e, "no replacement capacity");
                }
                Err(e) => {
                    // Nothing is evicted: the PDBs keep their disruptions,
                    // and the Uncordon step says why the pods stay.
                    *pdb_left = budget_before;
                    left.truncate(left_before);
                    plan.push(
                        Action::Uncordon { node: name.clone() },
                        format!("no replacement capacity ({e}); the node is left as it is"),
                        vec![Precondition::NodeExists { node: name }],
                        UsdPerHour::ZERO,
                    );
                    return;
                }
            }
        }

        if evict {
            for pod in &pods {
                // Unless forced, the pod must still be disruptable when evicted.
                let extra = match deadline {
                    Some(_) => vec![],
                    None => vec![Precondition::PodDisruptable {
                        namespace: pod.namespace.clone(),
                        pod: pod.name.clone(),
                    }],
                };
                plan.push_evict(
                    pod,
                    &name,
                    snapshot.pdbs_for(pod),
                    format!(
                        "move {} (priority {}) before {name} goes",
                        pod.key(),
                        pod.priority
                    ),
                    deadline_check(extra),
                );
            }
        }
        if deadline.is_some() {
            plan.push(
                Action::DeleteNode { node: name.clone() },
                format!("{name}'s instance is reclaimed"),
                vec![Precondition::NodeDrained { node: name }],
                UsdPerHour::ZERO,
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spot::events::parse_event;

    fn fixture() -> ClusterSnapshot {
        let text = include_str!("../../../tests/fixtures/kubectl-get-all.json");
        crate::kubectl::read_list(text).unwrap().snapshot
    }

    fn now() -> Timestamp {
        "2026-11-24T10:00:30Z".parse().unwrap()
    }

    fn event(id: &str, detail_type: &str, instance: &str, extra: &str) -> InstanceEvent {
        parse_event(&format!(
            r#"{{"version":"0","id":"{id}","detail-type":"{detail_type}","source":"aws.ec2","time":"2026-11-24T10:00:00Z","region":"us-east-1","detail":{{"instance-id":"{instance}"{extra}}}}}"#
        ))
        .unwrap()
    }

    #[test]
    fn a_warning_drains_once_and_repeats_are_duplicates() {
        let snapshot = fixture();
        let catalog = Catalog::embedded().unwrap();
        let policy = InterruptionPolicy::default();
        let node = snapshot.node("ip-10-0-45-23.ec2.internal").unwrap();
        let id = node.instance_id.clone().unwrap();
        let mut h = InterruptionHandler::new();
        let warning = event(
            "e1",
            "EC2 Spot Instance Interruption Warning",
            &id,
            r#","instance-action":"terminate""#,
        );
        let Outcome::Plan { plan, .. } = h.handle(&warning, &snapshot, catalog, &policy, now())
        else {
            panic!("expected a plan");
        };
        let kinds: Vec<&str> = plan.steps.iter().map(|s| s.action.kind()).collect();
        assert_eq!(kinds.first(), Some(&"cordon"));
        assert_eq!(kinds.get(1), Some(&"launch_instance"));
        assert_eq!(kinds.last(), Some(&"delete_node"));
        let evictions = kinds.iter().filter(|k| **k == "evict").count();
        let movable = snapshot
            .pods_on(&node.name)
            .filter(|p| p.moves_with_node())
            .count();
        assert_eq!(evictions, movable);
        // Most important first, and every step before the 2-minute deadline.
        let priorities: Vec<i32> = plan
            .steps
            .iter()
            .filter_map(|s| match &s.action {
                Action::Evict { namespace, pod, .. } => snapshot
                    .pods
                    .iter()
                    .find(|p| &p.namespace == namespace && &p.name == pod)
                    .map(|p| p.priority),
                _ => None,
            })
            .collect();
        assert!(priorities.windows(2).all(|w| w[0] >= w[1]));
        assert!(plan
            .steps
            .iter()
            .filter(|s| s.action.kind() == "evict")
            .all(|s| s
                .preconditions
                .iter()
                .any(|p| matches!(p, Precondition::Before { .. }))));
        // The same event again, and another warning for the same instance.
        assert!(matches!(
            h.handle(&warning, &snapshot, catalog, &policy, now()),
            Outcome::Duplicate { .. }
        ));
        let again = event(
            "e2",
            "EC2 Spot Instance Interruption Warning",
            &id,
            r#","instance-action":"terminate""#,
        );
        assert!(matches!(
            h.handle(&again, &snapshot, catalog, &policy, now()),
            Outcome::Duplicate { .. }
        ));
    }

    #[test]
    fn gone_and_unknown_instances_are_acknowledged_without_action() {
        let snapshot = fixture();
        let catalog = Catalog::embedded().unwrap();
        let policy = InterruptionPolicy::default();
        let mut h = InterruptionHandler::new();
        let unknown = event(
            "u1",
            "EC2 Spot Instance Interruption Warning",
            "i-0000000000000000f",
            r#","instance-action":"terminate""#,
        );
        assert!(matches!(
            h.handle(&unknown, &snapshot, catalog, &policy, now()),
            Outcome::Ignored { .. }
        ));
        // Reordered: the termination arrives before the warning.
        let id = snapshot
            .node("ip-10-0-71-9.ec2.internal")
            .unwrap()
            .instance_id
            .clone()
            .unwrap();
        let terminated = event(
            "t1",
            "EC2 Instance State-change Notification",
            &id,
            r#","state":"terminated""#,
        );
        let Outcome::Plan { plan, .. } = h.handle(&terminated, &snapshot, catalog, &policy, now())
        else {
            panic!("expected the stale node to be deleted");
        };
        assert_eq!(plan.steps.len(), 1);
        assert_eq!(plan.steps[0].action.kind(), "delete_node");
        let late = event(
            "w1",
            "EC2 Spot Instance Interruption Warning",
            &id,
            r#","instance-action":"terminate""#,
        );
        assert!(matches!(
            h.handle(&late, &snapshot, catalog, &policy, now()),
            Outcome::Ignored { .. }
        ));
        let running = event(
            "r1",
            "EC2 Instance State-change Notification",
            &id,
            r#","state":"running""#,
        );
        assert!(matches!(
            h.handle(&running, &snapshot, catalog, &policy, now()),
            Outcome::Ignored { .. }
        ));
    }

    #[test]
    fn rebalance_without_drain_only_cordons_and_launches() {
        let snapshot = fixture();
        let catalog = Catalog::embedded().unwrap();
        let policy = InterruptionPolicy {
            drain_on_rebalance: false,
            ..InterruptionPolicy::default()
        };
        let id = snapshot
            .node("ip-10-0-45-23.ec2.internal")
            .unwrap()
            .instance_id
            .clone()
            .unwrap();
        let mut h = InterruptionHandler::new();
        let rebalance = event("b1", "EC2 Instance Rebalance Recommendation", &id, "");
        let Outcome::Plan { plan, .. } = h.handle(&rebalance, &snapshot, catalog, &policy, now())
        else {
            panic!("expected a plan");
        };
        let kinds: Vec<&str> = plan.steps.iter().map(|s| s.action.kind()).collect();
        assert_eq!(kinds, vec!["cordon", "launch_instance"]);
        // The 2-minute warning that follows still drains, against its deadline.
        let warning = event(
            "w2",
            "EC2 Spot Instance Interruption Warning",
            &id,
            r#","instance-action":"terminate""#,
        );
        let Outcome::Plan { plan, .. } = h.handle(&warning, &snapshot, catalog, &policy, now())
        else {
            panic!("a warning after a rebalance must drain");
        };
        assert!(plan.steps.iter().any(|s| s.action.kind() == "evict"));
        // And a second warning is a duplicate.
        let again = event(
            "w3",
            "EC2 Spot Instance Interruption Warning",
            &id,
            r#","instance-action":"terminate""#,
        );
        assert!(matches!(
            h.handle(&again, &snapshot, catalog, &policy, now()),
            Outcome::Duplicate { .. }
        ));
    }

    fn instance(snapshot: &ClusterSnapshot, node: &str) -> String {
        snapshot.node(node).unwrap().instance_id.clone().unwrap()
    }

    fn scheduled_change(id: &str, instances: &[String]) -> InstanceEvent {
        let entities: Vec<String> = instances
            .iter()
            .map(|i| format!(r#"{{"entityValue":"{i}"}}"#))
            .collect();
        parse_event(&format!(
            r#"{{"version":"0","id":"{id}","detail-type":"AWS Health Event","source":"aws.health","time":"2026-11-24T10:00:00Z","region":"us-east-1","detail":{{"service":"EC2","eventTypeCategory":"scheduledChange","eventTypeCode":"AWS_EC2_INSTANCE_RETIREMENT_SCHEDULED","startTime":"Tue, 1 Dec 2026 10:00:00 GMT","affectedEntities":[{}]}}}}"#,
            entities.join(",")
        ))
        .unwrap()
    }

    /// `namespace/name` of the pods the plan evicts, in order.
    fn evictions(plan: &Plan) -> Vec<String> {
        plan.steps
            .iter()
            .filter_map(|s| match &s.action {
                Action::Evict { namespace, pod, .. } => Some(format!("{namespace}/{pod}")),
                _ => None,
            })
            .collect()
    }

    fn left_of(left: &[LeftPod]) -> Vec<(&str, &StayReason)> {
        left.iter().map(|l| (l.pod.as_str(), &l.reason)).collect()
    }

    #[test]
    fn a_rebalance_leaves_do_not_disrupt_and_bare_pods_and_says_so() {
        let snapshot = fixture();
        let catalog = Catalog::embedded().unwrap();
        let policy = InterruptionPolicy::default();
        let id = instance(&snapshot, "ip-10-0-45-23.ec2.internal");
        let rebalance = event("b1", "EC2 Instance Rebalance Recommendation", &id, "");
        let mut h = InterruptionHandler::new();
        let outcome = h.handle(&rebalance, &snapshot, catalog, &policy, now());
        let Outcome::Plan { plan, left } = &outcome else {
            panic!("expected a plan");
        };
        let evicted = evictions(plan);
        assert!(!evicted.contains(&"prod/search-indexer-9d5b7f8c64-k8fht".to_owned()));
        assert!(!evicted.contains(&"dev/debug-shell".to_owned()));
        assert!(evicted.contains(&"kube-system/coredns-5b8cc885bc-6zgxm".to_owned()));
        let left = left_of(left);
        assert!(left.contains(&(
            "prod/search-indexer-9d5b7f8c64-k8fht",
            &StayReason::DoNotDisrupt
        )));
        assert!(left.contains(&("dev/debug-shell", &StayReason::BarePod)));
        // Each eviction is re-checked: still disruptable, and its PDBs allow it.
        for step in plan.steps.iter().filter(|s| s.action.kind() == "evict") {
            let Action::Evict { namespace, pod, .. } = &step.action else {
                unreachable!()
            };
            assert!(step.preconditions.contains(&Precondition::PodDisruptable {
                namespace: namespace.clone(),
                pod: pod.clone(),
            }));
            let p = snapshot
                .pods
                .iter()
                .find(|p| &p.namespace == namespace && &p.name == pod)
                .unwrap();
            for b in snapshot.pdbs_for(p) {
                assert!(step.preconditions.contains(&Precondition::PdbAllows {
                    namespace: b.namespace.clone(),
                    name: b.name.clone(),
                }));
            }
            assert!(!step
                .preconditions
                .iter()
                .any(|p| matches!(p, Precondition::Before { .. })));
        }
        // The outcome, `left` included, survives serde.
        let json = serde_json::to_string(&outcome).unwrap();
        assert_eq!(serde_json::from_str::<Outcome>(&json).unwrap(), outcome);
    }

    /// The plan applied to the snapshot by the simulator.
    fn applied(snapshot: &ClusterSnapshot, plan: &Plan) -> crate::simulate::Simulation {
        let catalog = Catalog::embedded().unwrap();
        crate::simulate::simulate(snapshot, None, plan, catalog, now()).unwrap()
    }

    #[test]
    fn applied_rebalance_and_scheduled_change_plans_are_safe() {
        let snapshot = fixture();
        let catalog = Catalog::embedded().unwrap();
        let policy = InterruptionPolicy::default();
        let ids = [
            instance(&snapshot, "ip-10-0-17-142.ec2.internal"),
            instance(&snapshot, "ip-10-0-45-23.ec2.internal"),
        ];
        let rebalance = event("b1", "EC2 Instance Rebalance Recommendation", &ids[1], "");
        for ev in [rebalance, scheduled_change("h1", &ids)] {
            let Outcome::Plan { plan, left } =
                InterruptionHandler::new().handle(&ev, &snapshot, catalog, &policy, now())
            else {
                panic!("expected a plan for {:?}", ev.kind);
            };
            let after = applied(&snapshot, &plan);
            assert!(after.pdbs_exceeded.is_empty(), "{:?}", after.pdbs_exceeded);
            assert!(
                after.disrupted_do_not_disrupt.is_empty(),
                "{:?}",
                after.disrupted_do_not_disrupt
            );
            assert!(after.lost.is_empty(), "{:?}", after.lost);
            // What stays is still on its node in the applied result.
            for l in &left {
                let (ns, name) = l.pod.split_once('/').unwrap();
                assert!(
                    after
                        .snapshot
                        .pods
                        .iter()
                        .any(|p| p.namespace == ns && p.name == name && p.node_name.is_some()),
                    "{} should stay on its node",
                    l.pod
                );
            }
        }
    }

    #[test]
    fn an_applied_spot_warning_moves_every_pod_the_eviction_api_lets_go() {
        let snapshot = fixture();
        let catalog = Catalog::embedded().unwrap();
        let policy = InterruptionPolicy::default();
        let node = "ip-10-0-45-23.ec2.internal";
        let warning = event(
            "w1",
            "EC2 Spot Instance Interruption Warning",
            &instance(&snapshot, node),
            r#","instance-action":"terminate""#,
        );
        let Outcome::Plan { plan, .. } =
            InterruptionHandler::new().handle(&warning, &snapshot, catalog, &policy, now())
        else {
            panic!("expected a plan");
        };
        let after = applied(&snapshot, &plan);
        // The warning forces past do-not-disrupt, but evictions go through
        // the Eviction API, which keeps PDBs: a pod whose PDB has no budget
        // stays and dies with the instance at the deadline; the node then
        // stays too (its Node object goes on the state-change event).
        let kept: Vec<String> = plan
            .steps
            .iter()
            .zip(&after.steps)
            .filter_map(|(step, sim)| match (&step.action, sim) {
                (
                    Action::Evict { namespace, pod, .. },
                    crate::simulate::SimulatedStep::Skipped(crate::execute::Unmet::PdbExhausted {
                        ..
                    }),
                ) => Some(format!("{namespace}/{pod}")),
                _ => None,
            })
            .collect();
        assert_eq!(kept, ["prod/postgres-1"]);
        let still: Vec<String> = after
            .snapshot
            .pods
            .iter()
            .filter(|p| p.node_name.as_deref() == Some(node) && p.moves_with_node())
            .map(Pod::key)
            .collect();
        assert_eq!(still, kept, "every other pod left the node");
        assert!(after.snapshot.node(node).is_some_and(|n| n.unschedulable));
        // Only pods nothing recreates are lost.
        for key in &after.lost {
            let pod = snapshot.pods.iter().find(|p| &p.key() == key).unwrap();
            assert!(
                pod.controller.is_none(),
                "{key} has a controller yet was lost"
            );
        }
        assert!(after
            .disrupted_do_not_disrupt
            .contains(&"prod/search-indexer-9d5b7f8c64-k8fht".to_owned()));
    }

    #[test]
    fn a_scheduled_change_evicts_no_more_than_each_pdb_allows() {
        let snapshot = fixture();
        let catalog = Catalog::embedded().unwrap();
        let policy = InterruptionPolicy::default();
        // Both nodes with a postgres pod (postgres-pdb allows 0) and a
        // checkout pod (checkout-pdb allows 1), in one event.
        let ids = [
            instance(&snapshot, "ip-10-0-17-142.ec2.internal"),
            instance(&snapshot, "ip-10-0-45-23.ec2.internal"),
        ];
        let change = scheduled_change("h1", &ids);
        let Outcome::Plan { plan, left } =
            InterruptionHandler::new().handle(&change, &snapshot, catalog, &policy, now())
        else {
            panic!("expected a plan");
        };
        let evicted = evictions(&plan);
        assert!(!evicted.iter().any(|p| p.starts_with("prod/postgres-")));
        let checkouts: Vec<&String> = evicted
            .iter()
            .filter(|p| p.starts_with("prod/checkout-"))
            .collect();
        assert_eq!(checkouts, ["prod/checkout-7c9d8f6b5d-fjn5q"]);
        let postgres = StayReason::Pdb {
            pdb: "prod/postgres-pdb".into(),
            allowed: 0,
        };
        let checkout = StayReason::Pdb {
            pdb: "prod/checkout-pdb".into(),
            allowed: 1,
        };
        let left = left_of(&left);
        assert!(left.contains(&("prod/postgres-0", &postgres)));
        assert!(left.contains(&("prod/postgres-1", &postgres)));
        assert!(left.contains(&("prod/checkout-7c9d8f6b5d-n7wh5", &checkout)));
        assert!(left.contains(&("prod/notifier-75c8b6f9d4-jv24s", &StayReason::DoNotDisrupt)));
        // The spot warning still forces: postgres-0 goes before the deadline.
        let warning = event(
            "w1",
            "EC2 Spot Instance Interruption Warning",
            &ids[0],
            r#","instance-action":"terminate""#,
        );
        let Outcome::Plan { plan, left } =
            InterruptionHandler::new().handle(&warning, &snapshot, catalog, &policy, now())
        else {
            panic!("expected a plan");
        };
        assert!(left.is_empty());
        let evicted = evictions(&plan);
        for pod in ["prod/postgres-0", "prod/notifier-75c8b6f9d4-jv24s"] {
            assert!(evicted.contains(&pod.to_owned()), "{pod}: {evicted:?}");
        }
    }

    #[test]
    fn a_node_annotated_do_not_disrupt_is_drained_only_by_the_spot_warning() {
        let mut snapshot = fixture();
        let name = "ip-10-0-45-23.ec2.internal";
        snapshot
            .nodes
            .iter_mut()
            .find(|n| n.name == name)
            .unwrap()
            .annotations
            .insert("karpenter.sh/do-not-disrupt".into(), " True ".into());
        let catalog = Catalog::embedded().unwrap();
        let policy = InterruptionPolicy::default();
        let id = instance(&snapshot, name);
        let movers: Vec<String> = snapshot
            .pods_on(name)
            .filter(|p| p.moves_with_node())
            .map(Pod::key)
            .collect();
        assert!(!movers.is_empty());
        let mut h = InterruptionHandler::new();
        for event in [
            event("b1", "EC2 Instance Rebalance Recommendation", &id, ""),
            scheduled_change("h1", std::slice::from_ref(&id)),
        ] {
            let Outcome::Plan { plan, left } = h.handle(&event, &snapshot, catalog, &policy, now())
            else {
                panic!("expected a plan that says what stays");
            };
            assert!(plan.steps.is_empty(), "{:?}", plan.steps);
            assert_eq!(
                left.iter().map(|l| l.pod.clone()).collect::<Vec<_>>(),
                movers
            );
            assert!(left
                .iter()
                .all(|l| l.reason == StayReason::NodeDoNotDisrupt && l.node == name));
        }
        let warning = event(
            "w1",
            "EC2 Spot Instance Interruption Warning",
            &id,
            r#","instance-action":"terminate""#,
        );
        let Outcome::Plan { plan, left } = h.handle(&warning, &snapshot, catalog, &policy, now())
        else {
            panic!("the spot warning drains");
        };
        assert!(left.is_empty());
        assert_eq!(evictions(&plan).len(), movers.len());
    }

    #[test]
    fn a_snapshot_with_duplicates_gets_no_plan_and_the_event_stays_new() {
        let clean = fixture();
        let mut snapshot = clean.clone();
        let copy = snapshot.pods.first().unwrap().clone();
        snapshot.pods.push(copy);
        let catalog = Catalog::embedded().unwrap();
        let policy = InterruptionPolicy::default();
        let id = instance(&snapshot, "ip-10-0-45-23.ec2.internal");
        let warning = event(
            "w1",
            "EC2 Spot Instance Interruption Warning",
            &id,
            r#","instance-action":"terminate""#,
        );
        let mut h = InterruptionHandler::new();
        let Outcome::InvalidSnapshot { duplicate } =
            h.handle(&warning, &snapshot, catalog, &policy, now())
        else {
            panic!("expected the snapshot to be rejected");
        };
        assert_eq!(duplicate.kind, "Pod");
        assert_eq!(duplicate.second, clean.pods.len());
        // Handled again with a good snapshot, the same event plans the drain.
        assert!(matches!(
            h.handle(&warning, &clean, catalog, &policy, now()),
            Outcome::Plan { .. }
        ));
    }
}
