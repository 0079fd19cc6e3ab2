//! Zombie EBS volumes: volumes created for this cluster's persistent
//! volumes that nothing attaches, no PersistentVolume refers to and no
//! claim asks for any more — still billed every month.
//!
//! [`classify`] gives every cluster volume a [`VolumeVerdict`]; [`plan`]
//! turns the verdicts into tag marks, unmarks, and for volumes whose mark
//! is older than the grace period a snapshot then a deletion, each step
//! re-checked when it runs.

use std::collections::{HashMap, HashSet};

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::{after, ebs_prices, mark_text};
use crate::inventory::{tags, AwsInventory, Tags, Volume, VolumeState};
use crate::money::UsdPerHour;
use crate::plan::{Action, Plan, Precondition, Resource};
use crate::snapshot::{is_true_annotation, ClusterSnapshot, ReclaimPolicy, VolumePhase};

/// Seven days.
pub const DEFAULT_GRACE_SECONDS: u64 = 7 * 24 * 3600;

/// What the zombie-volume engine may do.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ZombiePolicy {
    /// The cluster (its `kubernetes.io/cluster/NAME` tag).
    pub cluster_name: String,
    /// The region the snapshot's cluster runs in; an inventory of another
    /// region is refused.
    pub region: String,
    /// How long a volume stays marked before it may be deleted, seconds.
    pub grace_seconds: u64,
    /// Snapshot a volume before deleting it (default).
    pub snapshot_first: bool,
    /// At most this many deletions per run.
    pub max_deletions_per_run: usize,
}

impl ZombiePolicy {
    /// Defaults: 7 days' grace, snapshot first, at most 10 deletions a run.
    pub fn new(cluster_name: impl Into<String>, region: impl Into<String>) -> ZombiePolicy {
        ZombiePolicy {
            cluster_name: cluster_name.into(),
            region: region.into(),
            grace_seconds: DEFAULT_GRACE_SECONDS,
            snapshot_first: true,
            max_deletions_per_run: 10,
        }
    }

    /// Whether the volume was created for a persistent volume of this
    /// cluster: it carries the cluster tag (`kubernetes.io/cluster/NAME`)
    /// and a tag the EBS CSI driver (`CSIVolumeName`,
    /// `kubernetes.io/created-for/pvc/name`) or the in-tree plugin
    /// (`kubernetes.io/created-for/pv/name`) sets on the volumes it
    /// creates. Root volumes of nodes carry the cluster tag only and are
    /// never candidates.
    pub fn owns(&self, volume: &Volume) -> bool {
        let t = &volume.tags;
        t.keys()
            .any(|k| k.strip_prefix(tags::CLUSTER_PREFIX) == Some(self.cluster_name.as_str()))
            && (t.contains_key(tags::CSI_VOLUME_NAME)
                || t.contains_key(tags::PVC_NAME)
                || t.contains_key(tags::PV_NAME))
    }
}

/// What to do with one volume, and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "verdict", rename_all = "snake_case")]
pub enum VolumeVerdict {
    /// Attached (or not in the `available` state).
    InUse {
        /// EC2 state.
        state: VolumeState,
        /// Instances it is attached to.
        attached_to: Vec<String>,
    },
    /// A PersistentVolume refers to it (any phase).
    ClaimedByPv {
        /// PV name.
        pv: String,
    },
    /// A claim asks for it by its tags.
    ClaimedByPvc {
        /// `namespace/name`.
        pvc: String,
    },
    /// A Released PV with reclaim policy Retain refers to it: someone
    /// chose to keep it.
    RetainReleasedKept {
        /// PV name.
        pv: String,
    },
    /// Tagged `cloudoptim.io/protect=true`.
    Protected,
    /// Not created for this cluster (see [`ZombiePolicy::owns`]).
    NotThisCluster,
    /// Unused, seen for the first time: mark it.
    NewlySeen {
        /// The mark to write.
        delete_after: Timestamp,
    },
    /// Marked, grace period running.
    Waiting {
        /// When it may be deleted.
        delete_after: Timestamp,
    },
    /// Marked, but used again: remove the mark.
    MarkToRemove {
        /// What uses it now.
        why: String,
    },
    /// The mark is unreadable or further ahead than one grace period
    /// (clock skew, hand edit): rewritten from now, never acted on.
    MarkInvalid {
        /// The tag's value.
        found: String,
        /// The mark to write.
        delete_after: Timestamp,
    },
    /// Marked, and the grace period is over.
    Deletable {
        /// The mark it carries.
        delete_after: Timestamp,
    },
}

/// One volume's verdict.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VolumeDecision {
    /// Volume id.
    pub volume_id: String,
    /// Size, GiB.
    pub size_gib: u32,
    /// The mark tag's current value, if any.
    pub mark: Option<String>,
    /// Monthly price, micro-dollars; `None`: cannot tell (unknown type or region).
    pub micro_usd_per_month: Option<u64>,
    /// The verdict.
    pub verdict: VolumeVerdict,
}

/// Every volume's verdict.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ZombieReport {
    /// When it was made.
    pub now: Timestamp,
    /// Region.
    pub region: String,
    /// One per volume of the inventory, in inventory order.
    pub decisions: Vec<VolumeDecision>,
}

impl ZombieReport {
    /// Monthly price of the deletable and waiting volumes, micro-dollars,
    /// and how many of them have no price.
    pub fn wasted_micro_usd_per_month(&self) -> (u64, usize) {
        let mut total = 0u64;
        let mut unknown = 0;
        for d in &self.decisions {
            if matches!(
                d.verdict,
                VolumeVerdict::Deletable { .. }
                    | VolumeVerdict::Waiting { .. }
                    | VolumeVerdict::NewlySeen { .. }
                    | VolumeVerdict::MarkInvalid { .. }
            ) {
                match d.micro_usd_per_month {
                    Some(m) => total = total.saturating_add(m),
                    None => unknown += 1,
                }
            }
        }
        (total, unknown)
    }
}

/// Why no verdicts can be given.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(tag = "cannot_tell", rename_all = "snake_case")]
pub enum CannotTell {
    /// The snapshot has no PersistentVolumes while cluster volumes are in
    /// use: it was probably not allowed to list them.
    #[error("the snapshot lists no PersistentVolumes while {in_use} of the cluster's volumes are in use: it cannot tell which volumes are unclaimed")]
    NoPersistentVolumes {
        /// Cluster volumes attached.
        in_use: usize,
    },
    /// The inventory is of another region than the cluster's.
    #[error("the inventory is of region {inventory}, the cluster runs in {cluster}")]
    OtherRegion {
        /// Inventory region.
        inventory: String,
        /// Policy region.
        cluster: String,
    },
}

/// A verdict for every volume of `inventory`.
///
/// ```
/// use cloudoptim_core::inventory::AwsInventory;
/// use cloudoptim_core::snapshot::ClusterSnapshot;
/// use cloudoptim_core::waste::zombie_volumes::{classify, ZombiePolicy};
///
/// let policy = ZombiePolicy::new("prod", "us-east-1");
/// let inventory = AwsInventory { region: "eu-west-1".into(), ..AwsInventory::default() };
/// let now = "2026-12-02T12:00:00Z".parse().unwrap();
/// // An inventory of another region: refused.
/// assert!(classify(&ClusterSnapshot::default(), &inventory, &policy, now).is_err());
/// ```
pub fn classify(
    snapshot: &ClusterSnapshot,
    inventory: &AwsInventory,
    policy: &ZombiePolicy,
    now: Timestamp,
) -> Result<ZombieReport, CannotTell> {
    if inventory.region != policy.region {
        return Err(CannotTell::OtherRegion {
            inventory: inventory.region.clone(),
            cluster: policy.region.clone(),
        });
    }
    let in_use =
        |v: &Volume| v.state != VolumeState::Available || !v.attached_instance_ids.is_empty();
    if snapshot.persistent_volumes.is_empty() {
        let n = inventory
            .volumes
            .iter()
            .filter(|v| policy.owns(v) && in_use(v))
            .count();
        if n > 0 {
            return Err(CannotTell::NoPersistentVolumes { in_use: n });
        }
    }
    // Volume id → the PV referring to it (the first, by name).
    let mut pv_of: HashMap<&str, &crate::snapshot::PersistentVolume> = HashMap::new();
    for pv in &snapshot.persistent_volumes {
        if let Some(id) = pv.ebs_volume_id() {
            pv_of.entry(id).or_insert(pv);
        }
    }
    let pv_names: HashSet<&str> = snapshot
        .persistent_volumes
        .iter()
        .map(|p| p.name.as_str())
        .collect();
    let claims: HashSet<(&str, &str)> = snapshot
        .persistent_volume_claims
        .iter()
        .map(|c| (c.namespace.as_str(), c.name.as_str()))
        .collect();
    let decisions = inventory
        .volumes
        .iter()
        .map(|v| {
            let mark = v.tags.get(tags::DELETE_AFTER).cloned();
            VolumeDecision {
                volume_id: v.volume_id.clone(),
                size_gib: v.size_gib,
                micro_usd_per_month: ebs_prices::volume_micro_usd_per_month(v, &inventory.region),
                verdict: verdict(v, mark.as_deref(), &pv_of, &pv_names, &claims, policy, now),
                mark,
            }
        })
        .collect();
    Ok(ZombieReport {
        now,
        region: inventory.region.clone(),
        decisions,
    })
}

fn verdict(
    v: &Volume,
    mark: Option<&str>,
    pv_of: &HashMap<&str, &crate::snapshot::PersistentVolume>,
    pv_names: &HashSet<&str>,
    claims: &HashSet<(&str, &str)>,
    policy: &ZombiePolicy,
    now: Timestamp,
) -> VolumeVerdict {
    if !policy.owns(v) {
        return VolumeVerdict::NotThisCluster;
    }
    let used = if v.state != VolumeState::Available || !v.attached_instance_ids.is_empty() {
        Some(VolumeVerdict::InUse {
            state: v.state,
            attached_to: v.attached_instance_ids.clone(),
        })
    } else if let Some(pv) = pv_of.get(v.volume_id.as_str()) {
        Some(
            if pv.phase == VolumePhase::Released && pv.reclaim_policy == ReclaimPolicy::Retain {
                VolumeVerdict::RetainReleasedKept {
                    pv: pv.name.clone(),
                }
            } else {
                VolumeVerdict::ClaimedByPv {
                    pv: pv.name.clone(),
                }
            },
        )
    } else if let Some(pv) = [tags::CSI_VOLUME_NAME, tags::PV_NAME]
        .iter()
        .filter_map(|k| v.tags.get(*k))
        .find(|name| pv_names.contains(name.as_str()))
    {
        // A PV of that name exists but names another handle: leave it.
        Some(VolumeVerdict::ClaimedByPv { pv: pv.clone() })
    } else if let (Some(ns), Some(name)) =
        (v.tags.get(tags::PVC_NAMESPACE), v.tags.get(tags::PVC_NAME))
    {
        claims
            .contains(&(ns.as_str(), name.as_str()))
            .then(|| VolumeVerdict::ClaimedByPvc {
                pvc: format!("{ns}/{name}"),
            })
    } else {
        None
    };
    if let Some(used) = used {
        return match mark {
            Some(_) => VolumeVerdict::MarkToRemove {
                why: describe(&used),
            },
            None => used,
        };
    }
    if v.tags
        .get(tags::PROTECT)
        .is_some_and(|t| is_true_annotation(t))
    {
        return VolumeVerdict::Protected;
    }
    let fresh = after(now, policy.grace_seconds);
    match mark {
        None => VolumeVerdict::NewlySeen {
            delete_after: fresh,
        },
        Some(text) => match text.parse::<Timestamp>() {
            Ok(at) if at > fresh => VolumeVerdict::MarkInvalid {
                found: text.to_owned(),
                delete_after: fresh,
            },
            Ok(at) if at > now => VolumeVerdict::Waiting { delete_after: at },
            Ok(at) => VolumeVerdict::Deletable { delete_after: at },
            Err(_) => VolumeVerdict::MarkInvalid {
                found: text.to_owned(),
                delete_after: fresh,
            },
        },
    }
}

fn describe(used: &VolumeVerdict) -> String {
    match used {
        VolumeVerdict::InUse { attached_to, .. } => {
            format!("attached to {}", attached_to.join(", "))
        }
        VolumeVerdict::ClaimedByPv { pv } => format!("referred to by PV {pv}"),
        VolumeVerdict::ClaimedByPvc { pvc } => format!("claimed by PVC {pvc}"),
        VolumeVerdict::RetainReleasedKept { pv } => format!("kept by Retain-released PV {pv}"),
        _ => "in use".to_owned(),
    }
}

fn per_hour(micro_usd_per_month: u64) -> UsdPerHour {
    let hours = crate::money::HOURS_PER_MONTH as u64;
    UsdPerHour::from_micro_usd(i64::try_from(micro_usd_per_month / hours).unwrap_or(i64::MAX))
}

/// The steps for a report: a `delete-after` mark on each newly seen (or
/// wrongly marked) volume, the mark removed from each volume used again,
/// and for at most `max_deletions_per_run` deletable volumes (the
/// costliest first) a snapshot (when `snapshot_first`) then the deletion.
/// Both carry every check again: unattached, unclaimed, not protected,
/// the mark unchanged, the grace elapsed, and for the deletion the
/// snapshot completed.
pub fn plan(report: &ZombieReport, policy: &ZombiePolicy, now: Timestamp) -> Plan {
    let mut plan = Plan::new("zombie-volumes", now);
    let mut deletable = Vec::new();
    for d in &report.decisions {
        let id = &d.volume_id;
        match &d.verdict {
            VolumeVerdict::NewlySeen { delete_after }
            | VolumeVerdict::MarkInvalid { delete_after, .. } => {
                let mut t = Tags::new();
                t.insert(tags::DELETE_AFTER.to_owned(), mark_text(*delete_after));
                plan.push(
                    Action::TagResource {
                        resource_id: id.clone(),
                        tags: t,
                    },
                    format!(
                        "volume {id} is unattached and unclaimed: may be deleted after {}",
                        mark_text(*delete_after)
                    ),
                    vec![
                        Precondition::VolumeUnattached {
                            volume_id: id.clone(),
                        },
                        Precondition::TagIs {
                            resource: Resource::Volume {
                                volume_id: id.clone(),
                            },
                            key: tags::DELETE_AFTER.to_owned(),
                            value: d.mark.clone(),
                        },
                    ],
                    UsdPerHour::ZERO,
                );
            }
            VolumeVerdict::MarkToRemove { why } => plan.push(
                Action::UntagResource {
                    resource_id: id.clone(),
                    keys: vec![tags::DELETE_AFTER.to_owned()],
                },
                format!("volume {id} is {why} again"),
                vec![],
                UsdPerHour::ZERO,
            ),
            VolumeVerdict::Deletable { delete_after } => deletable.push((d, *delete_after)),
            _ => {}
        }
    }
    deletable.sort_by(|a, b| {
        b.0.micro_usd_per_month
            .cmp(&a.0.micro_usd_per_month)
            .then_with(|| a.0.volume_id.cmp(&b.0.volume_id))
    });
    for (d, delete_after) in deletable.into_iter().take(policy.max_deletions_per_run) {
        let id = &d.volume_id;
        let since = delete_after
            .checked_sub(jiff::SignedDuration::from_secs(
                i64::try_from(policy.grace_seconds).unwrap_or(i64::MAX),
            ))
            .unwrap_or(Timestamp::MIN);
        let mut checks = vec![
            Precondition::VolumeUnattached {
                volume_id: id.clone(),
            },
            Precondition::VolumeUnclaimed {
                volume_id: id.clone(),
            },
            Precondition::NotProtected {
                resource: Resource::Volume {
                    volume_id: id.clone(),
                },
            },
            Precondition::TagIs {
                resource: Resource::Volume {
                    volume_id: id.clone(),
                },
                key: tags::DELETE_AFTER.to_owned(),
                value: d.mark.clone(),
            },
            Precondition::GracePeriodElapsed {
                since,
                grace_seconds: policy.grace_seconds,
            },
        ];
        let price = d.micro_usd_per_month.map_or_else(
            || "an unknown price".to_owned(),
            |m| crate::money::dollars(m as f64 / 1e6, 2) + "/month",
        );
        if policy.snapshot_first {
            plan.push(
                Action::SnapshotVolume {
                    volume_id: id.clone(),
                },
                format!("keep a copy of volume {id} before deleting it"),
                checks.clone(),
                ebs_prices::snapshot_micro_usd_per_month(d.size_gib, &report.region)
                    .map_or(UsdPerHour::ZERO, per_hour),
            );
            checks.push(Precondition::VolumeSnapshotted {
                volume_id: id.clone(),
            });
        }
        plan.push(
            Action::DeleteVolume {
                volume_id: id.clone(),
            },
            format!(
                "volume {id} ({} GiB) unattached and unclaimed since before {}: {price}",
                d.size_gib,
                mark_text(delete_after)
            ),
            checks,
            -d.micro_usd_per_month.map_or(UsdPerHour::ZERO, per_hour),
        );
    }
    plan
}
