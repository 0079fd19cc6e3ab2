//! Persistent volumes and claims.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::scheduling::Labels;

/// A namespaced object reference.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ObjectRef {
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
}

/// Lifecycle phase of a persistent volume.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum VolumePhase {
    /// Not yet available.
    Pending,
    /// Free, not bound to a claim.
    Available,
    /// Bound to a claim.
    Bound,
    /// The claim was deleted; the volume is not yet reclaimed.
    Released,
    /// Automatic reclamation failed.
    Failed,
    /// Phase not reported (or one this version does not know).
    #[default]
    #[serde(other)]
    Unknown,
}

/// What happens to a volume when its claim goes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ReclaimPolicy {
    /// Deleted with the claim.
    #[default]
    Delete,
    /// Kept for manual reclamation.
    Retain,
    /// Deprecated scrub-and-reuse.
    Recycle,
}

/// A PersistentVolume.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PersistentVolume {
    /// Name.
    pub name: String,
    /// CSI driver (`ebs.csi.aws.com`) or in-tree plugin (`kubernetes.io/aws-ebs`).
    pub driver: Option<String>,
    /// Backing volume handle: the EBS volume id (`vol-…`) for EBS volumes.
    pub volume_handle: Option<String>,
    /// Storage class.
    pub storage_class: Option<String>,
    /// `spec.capacity.storage` in bytes.
    pub capacity_bytes: u64,
    /// Zone, from the volume's node affinity or labels.
    pub zone: Option<String>,
    /// Phase.
    pub phase: VolumePhase,
    /// The claim it is (or was) bound to.
    pub claim_ref: Option<ObjectRef>,
    /// Reclaim policy.
    pub reclaim_policy: ReclaimPolicy,
    /// Labels.
    pub labels: Labels,
    /// Annotations.
    pub annotations: Labels,
    /// Creation time.
    pub created_at: Option<Timestamp>,
}

impl PersistentVolume {
    /// The EBS volume id behind this PV, if it is an EBS volume.
    pub fn ebs_volume_id(&self) -> Option<&str> {
        let handle = self.volume_handle.as_deref()?;
        let id = handle.rsplit('/').next()?;
        id.starts_with("vol-").then_some(id)
    }
}

/// Phase of a claim.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ClaimPhase {
    /// Not yet bound.
    Pending,
    /// Bound to a volume.
    Bound,
    /// Its volume is gone.
    Lost,
    /// Phase not reported (or one this version does not know).
    #[default]
    #[serde(other)]
    Unknown,
}

/// A PersistentVolumeClaim.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PersistentVolumeClaim {
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
    /// The bound volume's name.
    pub volume_name: Option<String>,
    /// Storage class.
    pub storage_class: Option<String>,
    /// `spec.resources.requests.storage` in bytes.
    pub requested_bytes: u64,
    /// `status.capacity.storage` in bytes, once bound.
    pub capacity_bytes: Option<u64>,
    /// Phase.
    pub phase: ClaimPhase,
    /// Labels.
    pub labels: Labels,
    /// Creation time.
    pub created_at: Option<Timestamp>,
}
