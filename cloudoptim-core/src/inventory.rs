//! What an AWS account holds, as plain data: EC2 instances and EBS volumes.
//!
//! The AWS adapter observes an account into an [`AwsInventory`]; the demo
//! environment generates one. Engines compare it with a cluster snapshot to
//! find ghost instances and zombie volumes.

use std::collections::BTreeMap;

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
    /// PVC namespace on volumes created by the EBS CSI driver.
    pub const PVC_NAMESPACE: &str = "kubernetes.io/created-for/pvc/namespace";
    /// PVC name on volumes created by the EBS CSI driver.
    pub const PVC_NAME: &str = "kubernetes.io/created-for/pvc/name";
    /// PV name on volumes created by the EBS CSI driver.
    pub const PV_NAME: &str = "kubernetes.io/created-for/pv/name";
    /// `true` protects a resource from every CloudOptim action.
    pub const PROTECT: &str = "cloudoptim.io/protect";
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
            .contains_key(&format!("{}{cluster_name}", tags::CLUSTER_PREFIX))
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

/// An EC2 Auto Scaling group (what backs an EKS managed node group).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AutoScalingGroup {
    /// Group name.
    pub name: String,
    /// Minimum size.
    pub min_size: u32,
    /// Maximum size.
    pub max_size: u32,
    /// Desired capacity.
    pub desired_capacity: u32,
    /// Instances in the group.
    pub instance_ids: Vec<String>,
    /// Tags.
    pub tags: Tags,
}

impl AutoScalingGroup {
    /// Whether removing one instance (decrementing the desired capacity)
    /// keeps the group at or above its minimum size.
    pub fn can_shrink(&self) -> bool {
        self.desired_capacity > self.min_size
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
    /// Auto Scaling groups.
    #[serde(default)]
    pub auto_scaling_groups: Vec<AutoScalingGroup>,
}

impl AwsInventory {
    /// The Auto Scaling group an instance belongs to.
    pub fn group_of(&self, instance_id: &str) -> Option<&AutoScalingGroup> {
        self.auto_scaling_groups
            .iter()
            .find(|g| g.instance_ids.iter().any(|i| i == instance_id))
    }
}
