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
//!   drains on rebalance);
//! - a state change to `shutting-down`/`terminated` → delete the stale Node.

use std::collections::BTreeSet;

use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};

use super::events::{EventKind, InstanceEvent};
use super::pools::{select_pools, CapacityNeed, PoolPolicy};
use crate::catalog::Catalog;
use crate::inventory::Tags;
use crate::money::UsdPerHour;
use crate::plan::{Action, Plan, Precondition};
use crate::resources::Resources;
use crate::snapshot::{CapacityType, ClusterSnapshot, Node, Pod};
use crate::summary::node_price;

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

/// What to do about one event.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Outcome {
    /// Run this plan.
    Plan {
        /// The plan.
        plan: Plan,
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
}

/// Memory of handled events, so repeats and reorderings plan one drain.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct InterruptionHandler {
    seen_event_ids: BTreeSet<String>,
    /// Instances being drained, and whether for a spot warning (a warning
    /// after a rebalance-only drain still plans the evictions and deadline).
    draining: std::collections::BTreeMap<String, bool>,
    terminated: BTreeSet<String>,
}

impl InterruptionHandler {
    /// A handler that has seen nothing.
    pub fn new() -> InterruptionHandler {
        InterruptionHandler::default()
    }

    /// Decide what to do about `event`, given the cluster as it is.
    pub fn handle(
        &mut self,
        event: &InstanceEvent,
        snapshot: &ClusterSnapshot,
        catalog: &Catalog,
        policy: &InterruptionPolicy,
        now: Timestamp,
    ) -> Outcome {
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
                    Outcome::Plan { plan }
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
                    self.draining.insert(id.clone(), is_warning);
                    drain(
                        &mut plan, node, snapshot, catalog, policy, kind, deadline, evict, now,
                    );
                }
                if !plan.steps.is_empty() {
                    Outcome::Plan { plan }
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

/// Cordon, launch replacement capacity, evict (most important first), and
/// delete the Node once the instance is gone.
#[allow(clippy::too_many_arguments)]
fn drain(
    plan: &mut Plan,
    node: &Node,
    snapshot: &ClusterSnapshot,
    catalog: &Catalog,
    policy: &InterruptionPolicy,
    kind: &EventKind,
    deadline: Option<Timestamp>,
    evict: bool,
    now: Timestamp,
) {
    let name = node.name.clone();
    let mut pods: Vec<&Pod> = snapshot
        .pods_on(&name)
        .filter(|p| !p.is_daemonset_pod() && !p.is_mirror_pod())
        .collect();
    pods.sort_by_key(|p| (std::cmp::Reverse(p.priority), p.key()));
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
        let arch = node
            .labels
            .get(crate::snapshot::node_labels::ARCH)
            .map(String::as_str);
        let capacity = CapacityNeed {
            pod_requests: Resources { pods: 0, ..need },
            pods: 1,
            architectures: vec![match arch {
                Some("arm64") => crate::catalog::Architecture::Arm64,
                _ => crate::catalog::Architecture::X86_64,
            }],
            node_selector: Default::default(),
            node_affinity: Default::default(),
        };
        let old_price = node_price(node, catalog, &policy.pools.region)
            .map(|(p, _)| p)
            .unwrap_or(UsdPerHour::ZERO);
        match select_pools(
            &capacity,
            catalog,
            &Default::default(),
            &unavailable,
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
            plan.push_evict(
                pod,
                &name,
                snapshot.pdbs_for(pod),
                format!(
                    "move {} (priority {}) before {name} goes",
                    pod.key(),
                    pod.priority
                ),
                deadline_check(vec![]),
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
        let Outcome::Plan { plan } = h.handle(&warning, &snapshot, catalog, &policy, now()) else {
            panic!("expected a plan");
        };
        let kinds: Vec<&str> = plan.steps.iter().map(|s| s.action.kind()).collect();
        assert_eq!(kinds.first(), Some(&"cordon"));
        assert_eq!(kinds.get(1), Some(&"launch_instance"));
        assert_eq!(kinds.last(), Some(&"delete_node"));
        let evictions = kinds.iter().filter(|k| **k == "evict").count();
        let movable = snapshot
            .pods_on(&node.name)
            .filter(|p| !p.is_daemonset_pod())
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
        let Outcome::Plan { plan } = h.handle(&terminated, &snapshot, catalog, &policy, now())
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
        let Outcome::Plan { plan } = h.handle(&rebalance, &snapshot, catalog, &policy, now())
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
        let Outcome::Plan { plan } = h.handle(&warning, &snapshot, catalog, &policy, now()) else {
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
}
