//! What an AWS account holds, as plain data: EC2 instances, EBS volumes and
//! the Auto Scaling groups node groups run on.
//!
//! The AWS adapter observes an account into an [`AwsInventory`]; the demo
//! environment generates one. Engines compare it with a cluster snapshot to
//! find ghost instances and zombie volumes, and look up an instance's
//! [`AutoScalingGroup`] to know whether removing it shrinks the group or
//! makes the group launch a replacement.

use std::collections::{BTreeMap, HashMap};

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::snapshot::CapacityType;

/// Tags on an AWS resource.
pub type Tags = BTreeMap<String, String>;

/// Tag keys CloudOptim understands.
pub mod tags {
    /// Set to `owned`/`shared` on resources of an EKS cluster (suffix: cluster name).
    pub const CLUSTER_PREFIX: &str = "kubernetes.io/cluster/";
    /// EKS cluster name on managed node group instances.
    pub const EKS_CLUSTER_NAME: &str = "eks:cluster-name";
    /// EKS managed node group name on its instances and its Auto Scaling group.
    pub const EKS_NODEGROUP_NAME: &str = "eks:nodegroup-name";
    /// Set by EC2 Auto Scaling on the instances of a group: the group's name.
    pub const AUTOSCALING_GROUP_NAME: &str = "aws:autoscaling:groupName";
    /// PVC namespace on volumes created by the EBS CSI driver.
    pub const PVC_NAMESPACE: &str = "kubernetes.io/created-for/pvc/namespace";
    /// PVC name on volumes created by the EBS CSI driver.
    pub const PVC_NAME: &str = "kubernetes.io/created-for/pvc/name";
    /// PV name on volumes created by the EBS CSI driver.
    pub const PV_NAME: &str = "kubernetes.io/created-for/pv/name";
    /// `true` protects a resource from every CloudOptim action.
    pub const PROTECT: &str = "cloudoptim.io/protect";
    /// On a volume CloudOptim found unused: when it may be deleted (RFC 3339
    /// UTC, first sight + the grace period), in the manner of Cloud
    /// Custodian's mark-for-op.
    pub const DELETE_AFTER: &str = "cloudoptim.io/delete-after";
    /// On an instance tagged for the cluster that backs no node: when it
    /// was first seen so (RFC 3339 UTC).
    pub const GHOST_SINCE: &str = "cloudoptim.io/ghost-since";
    /// EKS cluster name on instances Karpenter launches (with the
    /// [`CLUSTER_PREFIX`] tag).
    pub const EKS_EKS_CLUSTER_NAME: &str = "eks:eks-cluster-name";
    /// The Karpenter NodePool an instance was launched for.
    pub const KARPENTER_NODEPOOL: &str = "karpenter.sh/nodepool";
    /// `true` on volumes the EBS CSI driver created for a cluster (with the
    /// [`CLUSTER_PREFIX`] tag naming which one).
    pub const EBS_CSI_CLUSTER: &str = "ebs.csi.aws.com/cluster";
    /// The PV name on volumes the EBS CSI driver created.
    pub const CSI_VOLUME_NAME: &str = "CSIVolumeName";
    /// On an EBS snapshot CloudOptim took before deleting a volume: the
    /// volume's id. Only these snapshots count as "snapshotted first".
    pub const SNAPSHOT_OF: &str = "cloudoptim.io/snapshot-of";
}

/// EC2 instance state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum InstanceState {
    /// Launching.
    Pending,
    /// Running (and billed).
    Running,
    /// Stopping.
    Stopping,
    /// Stopped (EBS still billed).
    Stopped,
    /// Terminating.
    ShuttingDown,
    /// Terminated.
    Terminated,
}

/// An EC2 instance.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Instance {
    /// Instance id (`i-…`).
    pub instance_id: String,
    /// Instance type.
    pub instance_type: String,
    /// Availability zone.
    pub zone: String,
    /// State.
    pub state: InstanceState,
    /// On-demand or spot.
    pub capacity_type: CapacityType,
    /// Launch time.
    pub launched_at: Timestamp,
    /// Private DNS name (EKS node names are these).
    pub private_dns_name: Option<String>,
    /// Tags.
    pub tags: Tags,
}

impl Instance {
    /// Whether the instance is tagged as belonging to `cluster_name`.
    pub fn belongs_to_cluster(&self, cluster_name: &str) -> bool {
        self.tags
            .keys()
            .any(|k| k.strip_prefix(tags::CLUSTER_PREFIX) == Some(cluster_name))
            || self.tags.get(tags::EKS_CLUSTER_NAME).map(String::as_str) == Some(cluster_name)
    }
}

/// EBS volume state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum VolumeState {
    /// Being created.
    Creating,
    /// Not attached to any instance.
    Available,
    /// Attached.
    InUse,
    /// Being deleted.
    Deleting,
    /// Deleted.
    Deleted,
    /// Failed.
    Error,
}

/// An EBS volume.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Volume {
    /// Volume id (`vol-…`).
    pub volume_id: String,
    /// Size in GiB.
    pub size_gib: u32,
    /// Volume type (`gp3`, `gp2`, `io2`, …).
    pub volume_type: String,
    /// Provisioned IOPS (gp3, io1, io2; gp2's baseline as AWS reports it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iops: Option<u32>,
    /// Provisioned throughput, MiB/s (gp3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub throughput_mib_per_second: Option<u32>,
    /// Availability zone.
    pub zone: String,
    /// State.
    pub state: VolumeState,
    /// Instances it is attached to.
    pub attached_instance_ids: Vec<String>,
    /// Creation time.
    pub created_at: Timestamp,
    /// Tags.
    pub tags: Tags,
}

/// An EC2 Auto Scaling group, such as the one an EKS managed node group
/// runs on.
///
/// Terminating one of its instances with EC2 `TerminateInstances` leaves its
/// desired capacity as it was, so the group launches a replacement; only
/// terminating it through the group with the desired capacity decremented
/// makes the group smaller, and the group refuses to go below `min_size`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AutoScalingGroup {
    /// Group name (EKS names its groups `eks-<node group>-<uuid>`).
    pub name: String,
    /// The group never holds fewer instances than this.
    pub min_size: u32,
    /// Nor more than this.
    pub max_size: u32,
    /// How many instances the group keeps running.
    pub desired_capacity: u32,
    /// Instances in the group, not counting those on their way out
    /// (terminating, terminated, detaching, detached).
    pub instance_ids: Vec<String>,
    /// Instances held in a lifecycle hook's wait state (`Pending:Wait`,
    /// `Terminating:Wait`) or in the warm pool (`Warmed:*`): on their way
    /// in or out, never ghosts.
    #[serde(default)]
    pub lifecycle_wait_instance_ids: Vec<String>,
    /// Tags of the group.
    pub tags: Tags,
}

impl AutoScalingGroup {
    /// Whether an instance can leave the group without a replacement: its
    /// desired capacity is above its minimum.
    pub fn can_shrink(&self) -> bool {
        self.desired_capacity > self.min_size
    }

    /// Whether the group holds the instance.
    pub fn contains(&self, instance_id: &str) -> bool {
        self.instance_ids.iter().any(|id| id == instance_id)
    }

    /// Whether the instance is in a lifecycle-hook wait or a warm pool.
    pub fn in_lifecycle_wait(&self, instance_id: &str) -> bool {
        self.lifecycle_wait_instance_ids
            .iter()
            .any(|id| id == instance_id)
    }
}

/// The EC2 side of an account in one region.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct AwsInventory {
    /// Region.
    pub region: String,
    /// Instances.
    pub instances: Vec<Instance>,
    /// EBS volumes.
    pub volumes: Vec<Volume>,
    /// Auto Scaling groups (absent from inventories written before they
    /// were observed: empty then).
    #[serde(default)]
    pub auto_scaling_groups: Vec<AutoScalingGroup>,
}

impl AwsInventory {
    /// The Auto Scaling group holding the instance, if any.
    pub fn group_of(&self, instance_id: &str) -> Option<&AutoScalingGroup> {
        self.auto_scaling_groups
            .iter()
            .find(|g| g.contains(instance_id))
    }

    /// Every grouped instance's Auto Scaling group, for lookups of many
    /// instances ([`AwsInventory::group_of`] scans every group): the same
    /// answer, the first group holding it.
    pub fn groups_by_instance(&self) -> HashMap<&str, &AutoScalingGroup> {
        let mut index = HashMap::new();
        for group in &self.auto_scaling_groups {
            for id in &group.instance_ids {
                index.entry(id.as_str()).or_insert(group);
            }
        }
        index
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;

    fn group(name: &str, min: u32, desired: u32, ids: &[&str]) -> AutoScalingGroup {
        AutoScalingGroup {
            name: name.into(),
            min_size: min,
            max_size: desired + 2,
            desired_capacity: desired,
            instance_ids: ids.iter().map(|s| (*s).to_owned()).collect(),
            lifecycle_wait_instance_ids: Vec::new(),
            tags: Tags::new(),
        }
    }

    #[test]
    fn a_group_shrinks_only_above_its_minimum() {
        assert!(group("a", 1, 2, &["i-1", "i-2"]).can_shrink());
        assert!(!group("a", 2, 2, &["i-1", "i-2"]).can_shrink());
        assert!(!group("a", 0, 0, &[]).can_shrink());
    }

    #[test]
    fn group_of_finds_the_group_holding_an_instance() {
        let inventory = AwsInventory {
            region: "us-east-1".into(),
            auto_scaling_groups: vec![
                group("a", 1, 2, &["i-1", "i-2"]),
                group("b", 0, 1, &["i-3"]),
            ],
            ..AwsInventory::default()
        };
        assert_eq!(
            inventory.group_of("i-3").map(|g| g.name.as_str()),
            Some("b")
        );
        assert_eq!(
            inventory.group_of("i-2").map(|g| g.name.as_str()),
            Some("a")
        );
        assert!(inventory.group_of("i-9").is_none());
        let index = inventory.groups_by_instance();
        for id in ["i-1", "i-2", "i-3", "i-9"] {
            assert_eq!(
                index.get(id).map(|g| &g.name),
                inventory.group_of(id).map(|g| &g.name)
            );
        }
    }

    #[test]
    fn inventories_without_groups_still_read() {
        let json = r#"{"region":"us-east-1","instances":[],"volumes":[]}"#;
        let inventory: AwsInventory = serde_json::from_str(json).unwrap();
        assert!(inventory.auto_scaling_groups.is_empty());
    }
}
