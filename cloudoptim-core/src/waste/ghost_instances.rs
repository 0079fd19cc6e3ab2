//! Ghost instances: running EC2 instances tagged for this cluster that
//! back no node of it (a kubelet that never joined, a node deleted while
//! its instance kept running) — billed every hour for nothing.
//!
//! An instance is matched to a node by the instance id in the node's
//! `spec.providerID` only, never by name. The node list must be complete:
//! a failed or partial observation blocks the run ([`CannotTell`]).

use std::collections::{BTreeSet, HashMap, HashSet};

use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};

use super::{after, mark_text};
use crate::catalog::{Catalog, OperatingSystem};
use crate::inventory::{tags, AutoScalingGroup, AwsInventory, Instance, InstanceState, Tags};
use crate::money::UsdPerHour;
use crate::plan::{Action, Plan, Precondition, Resource};
use crate::pricing::instance_price;
use crate::snapshot::{is_true_annotation, Node};

/// 24 hours.
pub const DEFAULT_GRACE_SECONDS: u64 = 24 * 3600;

/// The cluster's nodes as observed, with how complete the observation is.
#[derive(Clone, Copy, Debug)]
pub enum NodeList<'a> {
    /// Every node of the cluster.
    Complete(&'a [Node]),
    /// The list could not be read whole (an error, a truncated page).
    Incomplete {
        /// Why.
        reason: &'a str,
    },
}

/// What to do with a ghost once its grace period is over.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GhostAction {
    /// Report it only (the default).
    #[default]
    Report,
    /// Terminate it (through its Auto Scaling group when it is in one).
    Terminate,
}

/// What the ghost-instance engine may do.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GhostPolicy {
    /// The cluster name.
    pub cluster_name: String,
    /// The cluster's region; an inventory of another is refused.
    pub region: String,
    /// Grace period: an instance launched less than this ago is joining;
    /// a ghost is acted on this long after its first sight. Seconds.
    pub grace_seconds: u64,
    /// Report or terminate.
    pub action: GhostAction,
    /// At most this share of the cluster's running instances terminated per run, percent.
    pub max_fleet_share_percent: u32,
    /// Terminate one even when the share rounds down to none.
    pub at_least_one: bool,
}

impl GhostPolicy {
    /// Defaults: 24 h grace, report only, at most 10 % of the fleet a run.
    pub fn new(cluster_name: impl Into<String>, region: impl Into<String>) -> GhostPolicy {
        GhostPolicy {
            cluster_name: cluster_name.into(),
            region: region.into(),
            grace_seconds: DEFAULT_GRACE_SECONDS,
            action: GhostAction::Report,
            max_fleet_share_percent: 10,
            at_least_one: false,
        }
    }
}

/// One instance's verdict.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "verdict", rename_all = "snake_case")]
pub enum InstanceVerdict {
    /// Not tagged for this cluster.
    NotThisCluster,
    /// Not running.
    NotRunning,
    /// Backs a node.
    BacksNode {
        /// Node name.
        node: String,
    },
    /// Backs a node again: remove the ghost mark.
    MarkToRemove {
        /// Node name.
        node: String,
    },
    /// In a lifecycle-hook wait or warm pool of its group.
    LifecycleWait {
        /// Group name.
        group: String,
    },
    /// Tagged `cloudoptim.io/protect=true`.
    Protected,
    /// Launched less than the grace period ago: probably joining.
    Joining {
        /// Launch time.
        launched_at: Timestamp,
    },
    /// Backs no node, first sight: mark it.
    NewlySeen,
    /// Marked; the grace period runs until `until`.
    Waiting {
        /// End of the grace period.
        until: Timestamp,
    },
    /// The mark is unreadable or in the future: rewritten from now.
    MarkInvalid {
        /// The tag's value.
        found: String,
    },
    /// Backs no node since `since`, longer than the grace period.
    Ghost {
        /// First sight.
        since: Timestamp,
    },
}

/// One instance's decision.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstanceDecision {
    /// Instance id.
    pub instance_id: String,
    /// Instance type.
    pub instance_type: String,
    /// Its Auto Scaling group, if any.
    pub auto_scaling_group: Option<String>,
    /// The ghost mark's value, if any.
    pub mark: Option<String>,
    /// Hourly price; `None`: cannot tell.
    pub usd_per_hour: Option<UsdPerHour>,
    /// The verdict.
    pub verdict: InstanceVerdict,
}

/// Every instance's decision.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GhostReport {
    /// When it was made.
    pub now: Timestamp,
    /// Running instances of the cluster (the fleet the share applies to).
    pub fleet: usize,
    /// One per instance of the inventory, in inventory order.
    pub decisions: Vec<InstanceDecision>,
}

/// Why no verdicts can be given.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(tag = "cannot_tell", rename_all = "snake_case")]
pub enum CannotTell {
    /// The node list is not complete.
    #[error("the node list is incomplete ({reason}): every instance would look like a ghost")]
    IncompleteNodeList {
        /// Why.
        reason: String,
    },
    /// No nodes while cluster instances run.
    #[error("the node list is empty while {running} of the cluster's instances run")]
    NoNodes {
        /// Running cluster instances.
        running: usize,
    },
    /// The inventory is of another region.
    #[error("the inventory is of region {inventory}, the cluster runs in {cluster}")]
    OtherRegion {
        /// Inventory region.
        inventory: String,
        /// Policy region.
        cluster: String,
    },
}

/// The Auto Scaling groups the cluster uses: tagged for it, or holding an
/// instance that backs one of its nodes.
fn cluster_groups<'a>(
    inventory: &'a AwsInventory,
    cluster: &str,
    node_ids: &HashSet<&str>,
) -> BTreeSet<&'a str> {
    let tag = format!("{}{cluster}", tags::CLUSTER_PREFIX);
    let autoscaler = format!("k8s.io/cluster-autoscaler/{cluster}");
    inventory
        .auto_scaling_groups
        .iter()
        .filter(|g| {
            g.tags.contains_key(&tag)
                || g.tags.contains_key(&autoscaler)
                || g.tags.get(tags::EKS_CLUSTER_NAME).map(String::as_str) == Some(cluster)
                || g.instance_ids.iter().any(|i| node_ids.contains(i.as_str()))
        })
        .map(|g| g.name.as_str())
        .collect()
}

/// Whether the instance is tagged for the cluster: the cluster tag,
/// `eks:cluster-name` or `eks:eks-cluster-name`, or the
/// `aws:autoscaling:groupName` of a group the cluster uses.
/// (`eks:nodegroup-name` and `karpenter.sh/nodepool` do not name a cluster
/// on their own; the instances they are on carry one of those.)
fn is_clusters(i: &Instance, cluster: &str, groups: &BTreeSet<&str>) -> bool {
    i.belongs_to_cluster(cluster)
        || i.tags.get(tags::EKS_EKS_CLUSTER_NAME).map(String::as_str) == Some(cluster)
        || i.tags
            .get(tags::AUTOSCALING_GROUP_NAME)
            .is_some_and(|g| groups.contains(g.as_str()))
}

/// A verdict for every instance of `inventory`.
///
/// ```
/// use cloudoptim_core::inventory::AwsInventory;
/// use cloudoptim_core::waste::ghost_instances::{classify, GhostPolicy, NodeList};
///
/// let policy = GhostPolicy::new("prod", "us-east-1");
/// let inventory = AwsInventory { region: "us-east-1".into(), ..AwsInventory::default() };
/// let now = "2026-12-02T12:00:00Z".parse().unwrap();
/// let catalog = cloudoptim_core::catalog::Catalog::embedded().unwrap();
/// let failed = NodeList::Incomplete { reason: "403 listing nodes" };
/// assert!(classify(&inventory, failed, &policy, catalog, now).is_err());
/// ```
pub fn classify(
    inventory: &AwsInventory,
    nodes: NodeList<'_>,
    policy: &GhostPolicy,
    catalog: &Catalog,
    now: Timestamp,
) -> Result<GhostReport, CannotTell> {
    if inventory.region != policy.region {
        return Err(CannotTell::OtherRegion {
            inventory: inventory.region.clone(),
            cluster: policy.region.clone(),
        });
    }
    let nodes = match nodes {
        NodeList::Complete(n) => n,
        NodeList::Incomplete { reason } => {
            return Err(CannotTell::IncompleteNodeList {
                reason: reason.to_owned(),
            })
        }
    };
    let node_of: HashMap<&str, &str> = nodes
        .iter()
        .filter_map(|n| Some((n.instance_id.as_deref()?, n.name.as_str())))
        .collect();
    let node_ids: HashSet<&str> = node_of.keys().copied().collect();
    let groups = cluster_groups(inventory, &policy.cluster_name, &node_ids);
    let ours = |i: &Instance| is_clusters(i, &policy.cluster_name, &groups);
    let fleet = inventory
        .instances
        .iter()
        .filter(|i| i.state == InstanceState::Running && ours(i))
        .count();
    if nodes.is_empty() && fleet > 0 {
        return Err(CannotTell::NoNodes { running: fleet });
    }
    let grace = SignedDuration::from_secs(i64::try_from(policy.grace_seconds).unwrap_or(i64::MAX));
    let group_of = inventory.groups_by_instance();
    let decisions = inventory
        .instances
        .iter()
        .map(|i| {
            let group = group_of.get(i.instance_id.as_str()).copied();
            let mark = i.tags.get(tags::GHOST_SINCE).cloned();
            let verdict = verdict(
                i,
                mark.as_deref(),
                group,
                &node_of,
                ours(i),
                grace,
                policy,
                now,
            );
            InstanceDecision {
                instance_id: i.instance_id.clone(),
                instance_type: i.instance_type.clone(),
                auto_scaling_group: group.map(|g| g.name.clone()),
                usd_per_hour: catalog
                    .get(&i.instance_type)
                    .and_then(|t| {
                        instance_price(
                            t,
                            &inventory.region,
                            i.capacity_type,
                            OperatingSystem::Linux,
                        )
                    })
                    .filter(|p| p.is_known())
                    .map(|p| p.usd_per_hour),
                mark,
                verdict,
            }
        })
        .collect();
    Ok(GhostReport {
        now,
        fleet,
        decisions,
    })
}

#[allow(clippy::too_many_arguments)]
fn verdict(
    i: &Instance,
    mark: Option<&str>,
    group: Option<&AutoScalingGroup>,
    node_of: &HashMap<&str, &str>,
    ours: bool,
    grace: SignedDuration,
    policy: &GhostPolicy,
    now: Timestamp,
) -> InstanceVerdict {
    if !ours {
        return InstanceVerdict::NotThisCluster;
    }
    if let Some(node) = node_of.get(i.instance_id.as_str()) {
        let node = (*node).to_owned();
        return if mark.is_some() {
            InstanceVerdict::MarkToRemove { node }
        } else {
            InstanceVerdict::BacksNode { node }
        };
    }
    if i.state != InstanceState::Running {
        return InstanceVerdict::NotRunning;
    }
    if let Some(g) = group.filter(|g| g.in_lifecycle_wait(&i.instance_id)) {
        return InstanceVerdict::LifecycleWait {
            group: g.name.clone(),
        };
    }
    if i.tags
        .get(tags::PROTECT)
        .is_some_and(|t| is_true_annotation(t))
    {
        return InstanceVerdict::Protected;
    }
    // A launch time in the future (skew) counts as joining too.
    if i.launched_at.checked_add(grace).map_or(true, |t| t > now) {
        return InstanceVerdict::Joining {
            launched_at: i.launched_at,
        };
    }
    match mark.map(|m| (m, m.parse::<Timestamp>())) {
        None => InstanceVerdict::NewlySeen,
        Some((m, Ok(since))) if since > now => InstanceVerdict::MarkInvalid {
            found: m.to_owned(),
        },
        Some((_, Ok(since))) => {
            let until = after(since, policy.grace_seconds);
            if until > now {
                InstanceVerdict::Waiting { until }
            } else {
                InstanceVerdict::Ghost { since }
            }
        }
        Some((m, Err(_))) => InstanceVerdict::MarkInvalid {
            found: m.to_owned(),
        },
    }
}

/// How many ghosts a run may terminate.
pub fn termination_budget(fleet: usize, policy: &GhostPolicy) -> usize {
    let share = fleet.saturating_mul(policy.max_fleet_share_percent as usize) / 100;
    if share == 0 && policy.at_least_one && fleet > 0 {
        1
    } else {
        share
    }
}

/// The steps for a report: the `ghost-since` mark on each newly seen (or
/// wrongly marked) instance, the mark removed from each that backs a node
/// again, and — when the policy terminates — at most
/// [`termination_budget`] ghosts (the costliest first) terminated, through
/// their Auto Scaling group when they are in one.
pub fn plan(report: &GhostReport, policy: &GhostPolicy, now: Timestamp) -> Plan {
    let mut plan = Plan::new("ghost-instances", now);
    let mut ghosts = Vec::new();
    for d in &report.decisions {
        let id = &d.instance_id;
        let resource = Resource::Instance {
            instance_id: id.clone(),
        };
        match &d.verdict {
            InstanceVerdict::NewlySeen | InstanceVerdict::MarkInvalid { .. } => {
                let mut t = Tags::new();
                t.insert(tags::GHOST_SINCE.to_owned(), mark_text(now));
                plan.push(
                    Action::TagResource {
                        resource_id: id.clone(),
                        tags: t,
                    },
                    format!("instance {id} runs but backs no node of the cluster"),
                    vec![
                        Precondition::InstanceNotInCluster {
                            instance_id: id.clone(),
                        },
                        Precondition::TagIs {
                            resource,
                            key: tags::GHOST_SINCE.to_owned(),
                            value: d.mark.clone(),
                        },
                    ],
                    UsdPerHour::ZERO,
                );
            }
            InstanceVerdict::MarkToRemove { node } => plan.push(
                Action::UntagResource {
                    resource_id: id.clone(),
                    keys: vec![tags::GHOST_SINCE.to_owned()],
                },
                format!("instance {id} backs node {node} again"),
                vec![],
                UsdPerHour::ZERO,
            ),
            InstanceVerdict::Ghost { since } => ghosts.push((d, *since)),
            _ => {}
        }
    }
    if policy.action != GhostAction::Terminate {
        return plan;
    }
    ghosts.sort_by(|a, b| {
        b.0.usd_per_hour
            .cmp(&a.0.usd_per_hour)
            .then_with(|| a.0.instance_id.cmp(&b.0.instance_id))
    });
    for (d, since) in ghosts
        .into_iter()
        .take(termination_budget(report.fleet, policy))
    {
        let id = &d.instance_id;
        let mut checks = vec![
            Precondition::InstanceNotInCluster {
                instance_id: id.clone(),
            },
            Precondition::NotProtected {
                resource: Resource::Instance {
                    instance_id: id.clone(),
                },
            },
            Precondition::TagIs {
                resource: Resource::Instance {
                    instance_id: id.clone(),
                },
                key: tags::GHOST_SINCE.to_owned(),
                value: d.mark.clone(),
            },
            Precondition::GracePeriodElapsed {
                since,
                grace_seconds: policy.grace_seconds,
            },
        ];
        if let Some(group) = &d.auto_scaling_group {
            checks.push(Precondition::NotInLifecycleWait {
                group: group.clone(),
                instance_id: id.clone(),
            });
            checks.push(Precondition::GroupCanShrink {
                group: group.clone(),
                instance_id: id.clone(),
            });
        }
        let price = d.usd_per_hour.map_or_else(
            || "an unknown price (cannot tell)".to_owned(),
            |p| format!("{p}"),
        );
        plan.push(
            Action::TerminateInstance {
                instance_id: id.clone(),
                node: None,
                auto_scaling_group: d.auto_scaling_group.clone(),
            },
            format!(
                "instance {id} ({}) has backed no node since {}: {price}",
                d.instance_type,
                mark_text(since)
            ),
            checks,
            -d.usd_per_hour.unwrap_or(UsdPerHour::ZERO),
        );
    }
    plan
}
