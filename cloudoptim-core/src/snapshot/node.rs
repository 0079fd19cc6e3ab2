//! Nodes of a cluster.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::scheduling::{Labels, Taint};
use crate::resources::Resources;

/// Well-known node labels CloudOptim reads and writes.
pub mod labels {
    /// Node name label.
    pub const HOSTNAME: &str = "kubernetes.io/hostname";
    /// EC2 instance type.
    pub const INSTANCE_TYPE: &str = "node.kubernetes.io/instance-type";
    /// Legacy instance type label.
    pub const INSTANCE_TYPE_BETA: &str = "beta.kubernetes.io/instance-type";
    /// Availability zone.
    pub const ZONE: &str = "topology.kubernetes.io/zone";
    /// Legacy availability zone label.
    pub const ZONE_BETA: &str = "failure-domain.beta.kubernetes.io/zone";
    /// Region.
    pub const REGION: &str = "topology.kubernetes.io/region";
    /// Legacy region label (clusters before Kubernetes 1.17 carry only it).
    pub const REGION_BETA: &str = "failure-domain.beta.kubernetes.io/region";
    /// CPU architecture (`amd64`, `arm64`).
    pub const ARCH: &str = "kubernetes.io/arch";
    /// Operating system (`linux`, `windows`).
    pub const OS: &str = "kubernetes.io/os";
    /// EKS managed node group capacity type (`ON_DEMAND`, `SPOT`).
    pub const EKS_CAPACITY_TYPE: &str = "eks.amazonaws.com/capacityType";
    /// Karpenter capacity type (`on-demand`, `spot`).
    pub const KARPENTER_CAPACITY_TYPE: &str = "karpenter.sh/capacity-type";
    /// Karpenter's instance family label.
    pub const INSTANCE_FAMILY: &str = "karpenter.k8s.aws/instance-family";
    /// The EBS CSI driver's zone label.
    pub const EBS_CSI_ZONE: &str = "topology.ebs.csi.aws.com/zone";
    /// Lifecycle label kops, kube-spot-termination-notice and many node
    /// bootstrap scripts set (`spot`, `Ec2Spot`, `on-demand`, `normal`).
    pub const LIFECYCLE: &str = "node.kubernetes.io/lifecycle";
    /// The bare `lifecycle` label of AWS's spot workshops and eksctl examples.
    pub const LIFECYCLE_BARE: &str = "lifecycle";
    /// The labels that tell a node's capacity type, most specific first.
    pub const CAPACITY_TYPE_KEYS: [&str; 4] = [
        EKS_CAPACITY_TYPE,
        KARPENTER_CAPACITY_TYPE,
        LIFECYCLE,
        LIFECYCLE_BARE,
    ];

    /// The labels a new node of an instance type gets in `zone` (if given),
    /// `region`, at a capacity type and OS: what node selectors and node
    /// affinity of pods are matched against before the node exists.
    pub fn for_new_node(
        instance_type: &crate::catalog::InstanceType,
        region: &str,
        zone: Option<&str>,
        capacity: super::CapacityType,
        os: crate::catalog::OperatingSystem,
    ) -> super::Labels {
        let spot = capacity == super::CapacityType::Spot;
        let mut labels: super::Labels = [
            (INSTANCE_TYPE, instance_type.name.as_str()),
            (INSTANCE_TYPE_BETA, instance_type.name.as_str()),
            (INSTANCE_FAMILY, instance_type.family.as_str()),
            (REGION, region),
            (ARCH, instance_type.architecture.kubernetes_name()),
            (OS, os.kubernetes_name()),
            (EKS_CAPACITY_TYPE, capacity.eks_label()),
            (
                KARPENTER_CAPACITY_TYPE,
                if spot { "spot" } else { "on-demand" },
            ),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        if let Some(zone) = zone {
            insert_zone(&mut labels, zone);
        }
        labels
    }

    /// Add the zone labels (current, legacy and the EBS CSI driver's).
    pub fn insert_zone(labels: &mut super::Labels, zone: &str) {
        for key in [ZONE, ZONE_BETA, EBS_CSI_ZONE] {
            labels.insert(key.to_owned(), zone.to_owned());
        }
    }
}

/// How an instance is bought.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum CapacityType {
    /// On-demand.
    OnDemand,
    /// Spot.
    Spot,
    /// Not told by the node's labels.
    #[default]
    Unknown,
}

impl CapacityType {
    /// From a capacity-type label value: EKS (`ON_DEMAND`/`SPOT`), Karpenter
    /// (`on-demand`/`spot`) or a lifecycle label (`spot`, `Ec2Spot`,
    /// `on-demand`, `OnDemand`, `normal`), compared case-insensitively.
    pub fn from_label(value: &str) -> CapacityType {
        match value
            .trim()
            .to_ascii_lowercase()
            .replace(['_', '-'], "")
            .as_str()
        {
            "ondemand" | "normal" | "ec2ondemand" => CapacityType::OnDemand,
            "spot" | "ec2spot" => CapacityType::Spot,
            _ => CapacityType::Unknown,
        }
    }

    /// The label value EKS writes (`ON_DEMAND`, `SPOT`).
    pub fn eks_label(self) -> &'static str {
        match self {
            CapacityType::OnDemand => "ON_DEMAND",
            CapacityType::Spot => "SPOT",
            CapacityType::Unknown => "UNKNOWN",
        }
    }
}

impl std::fmt::Display for CapacityType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            CapacityType::OnDemand => "on-demand",
            CapacityType::Spot => "spot",
            CapacityType::Unknown => "unknown",
        })
    }
}

/// A Kubernetes node, with what CloudOptim derives from it.
///
/// `instance_id`, `instance_type`, `zone`, `region` and `capacity_type` are
/// derived from `labels` and `provider_id` by [`Node::derive_from_labels`],
/// which [`crate::kubectl::read_list`] calls for every node it reads; code
/// that builds or edits a `Node` otherwise calls it after setting those.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Node {
    /// Node name.
    pub name: String,
    /// `spec.providerID`, e.g. `aws:///us-east-1a/i-0abc…`.
    pub provider_id: Option<String>,
    /// EC2 instance id, derived from `provider_id` by
    /// [`derive_from_labels`](Node::derive_from_labels).
    pub instance_id: Option<String>,
    /// EC2 instance type, derived from the `node.kubernetes.io/instance-type`
    /// label (or its beta form) by [`derive_from_labels`](Node::derive_from_labels).
    pub instance_type: Option<String>,
    /// Availability zone, derived from the `topology.kubernetes.io/zone`
    /// label (or its beta form) by [`derive_from_labels`](Node::derive_from_labels).
    pub zone: Option<String>,
    /// Region, derived from the `topology.kubernetes.io/region` label (or
    /// its beta form, or the zone) by [`derive_from_labels`](Node::derive_from_labels).
    pub region: Option<String>,
    /// On-demand or spot, derived from the EKS or Karpenter capacity-type
    /// label by [`derive_from_labels`](Node::derive_from_labels).
    pub capacity_type: CapacityType,
    /// All labels.
    pub labels: Labels,
    /// All annotations.
    pub annotations: Labels,
    /// Taints.
    pub taints: Vec<Taint>,
    /// `status.capacity`.
    pub capacity: Resources,
    /// `status.allocatable`: what pods can request.
    pub allocatable: Resources,
    /// Creation time.
    pub created_at: Option<Timestamp>,
    /// Cordoned (`spec.unschedulable`).
    pub unschedulable: bool,
    /// The `Ready` condition is `True`.
    pub ready: bool,
}

impl Node {
    /// Whether the node carries every label of `selector` (`key = value`,
    /// as a Kubernetes equality selector; an empty one selects every node).
    pub fn matches(&self, selector: &std::collections::BTreeMap<String, String>) -> bool {
        selector
            .iter()
            .all(|(k, v)| self.labels.get(k).is_some_and(|have| have == v))
    }

    /// Whether the node is annotated not to be disrupted, by the same rule
    /// as pods ([`is_do_not_disrupt`](super::is_do_not_disrupt)): either of
    /// `cloudoptim.io/do-not-disrupt` and `karpenter.sh/do-not-disrupt` set
    /// to `true`, in any case, surrounding whitespace ignored.
    pub fn do_not_disrupt(&self) -> bool {
        super::pod::is_do_not_disrupt(&self.annotations)
    }

    /// The EC2 instance id in an AWS provider id
    /// (`aws:///us-east-1a/i-0abc` or `aws:///i-0abc`), if it has one.
    pub fn instance_id_from_provider_id(provider_id: &str) -> Option<String> {
        let rest = provider_id.strip_prefix("aws://")?;
        let id = rest.rsplit('/').next()?;
        (id.starts_with("i-") && id.len() > 2).then(|| id.to_owned())
    }

    /// Set the derived fields from `labels` and `provider_id`, overwriting
    /// them: `instance_type` (`node.kubernetes.io/instance-type`, else
    /// `beta.kubernetes.io/instance-type`), `zone` (`topology.kubernetes.io/zone`,
    /// else `failure-domain.beta.kubernetes.io/zone`), `region`
    /// (`topology.kubernetes.io/region`, else
    /// `failure-domain.beta.kubernetes.io/region`, else the zone's region),
    /// `capacity_type` (the EKS label, else
    /// the Karpenter one; `Unknown` without either) and `instance_id` (from an
    /// AWS provider id). A field whose source is missing becomes `None`.
    ///
    /// [`crate::kubectl::read_list`] calls this for every node; adapters that
    /// build nodes from the Kubernetes API call it too.
    pub fn derive_from_labels(&mut self) {
        let label = |keys: &[&str]| keys.iter().find_map(|k| self.labels.get(*k).cloned());
        self.instance_type = label(&[labels::INSTANCE_TYPE, labels::INSTANCE_TYPE_BETA]);
        self.zone = label(&[labels::ZONE, labels::ZONE_BETA]).or_else(|| {
            self.provider_id
                .as_deref()
                .and_then(Node::zone_from_provider_id)
                .map(str::to_owned)
        });
        self.region = label(&[labels::REGION, labels::REGION_BETA]).or_else(|| {
            self.zone
                .as_deref()
                .and_then(region_of_zone)
                .map(str::to_owned)
        });
        self.capacity_type = labels::CAPACITY_TYPE_KEYS
            .iter()
            .filter_map(|k| self.labels.get(*k))
            .map(|v| CapacityType::from_label(v))
            .find(|c| *c != CapacityType::Unknown)
            .unwrap_or_default();
        self.instance_id = self
            .provider_id
            .as_deref()
            .and_then(Node::instance_id_from_provider_id);
    }

    /// The availability zone in an AWS provider id (`aws:///us-east-1a/i-…`).
    pub fn zone_from_provider_id(provider_id: &str) -> Option<&str> {
        let rest = provider_id.strip_prefix("aws://")?.trim_start_matches('/');
        let (zone, _) = rest.split_once('/')?;
        (!zone.is_empty()).then_some(zone)
    }
}

/// The AWS region of an AWS availability zone, local zone or Wavelength
/// zone name (`us-east-1a` → `us-east-1`, `us-west-2-lax-1a` → `us-west-2`,
/// `us-gov-west-1a` → `us-gov-west-1`); `None` for names of another shape
/// (another cloud's zones, a zone id such as `use1-az1`).
///
/// ```
/// use cloudoptim_core::snapshot::region_of_zone;
/// assert_eq!(region_of_zone("eu-west-1b"), Some("eu-west-1"));
/// assert_eq!(region_of_zone("us-east-1-bos-1a"), Some("us-east-1"));
/// assert_eq!(region_of_zone("us-central1-a"), None);
/// ```
pub fn region_of_zone(zone: &str) -> Option<&str> {
    // area(-gov|-iso…)?-direction-number, then the zone's own suffix.
    let parts: Vec<&str> = zone.split('-').collect();
    let area = parts.first()?;
    if area.len() != 2 || !area.bytes().all(|b| b.is_ascii_lowercase()) {
        return None;
    }
    let mut i = 1;
    if parts
        .get(1)
        .is_some_and(|p| *p == "gov" || p.starts_with("iso"))
    {
        i = 2;
    }
    let direction = parts.get(i)?;
    if direction.is_empty() || !direction.bytes().all(|b| b.is_ascii_lowercase()) {
        return None;
    }
    let last = parts.get(i + 1)?;
    let digits = last.bytes().take_while(u8::is_ascii_digit).count();
    let suffix = last.get(digits..)?;
    let zone_suffix_ok = if parts.len() == i + 2 {
        // `us-east-1a`: digits, then the zone letter(s).
        !suffix.is_empty() && suffix.bytes().all(|b| b.is_ascii_lowercase())
    } else {
        // Local or Wavelength zone: the region's number stands alone.
        suffix.is_empty()
    };
    if digits == 0 || !zone_suffix_ok {
        return None;
    }
    let end: usize = parts.iter().take(i + 1).map(|p| p.len() + 1).sum::<usize>() + digits;
    zone.get(..end)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instance_id_from_provider_id() {
        assert_eq!(
            Node::instance_id_from_provider_id("aws:///us-east-1a/i-0abc123").as_deref(),
            Some("i-0abc123")
        );
        assert_eq!(
            Node::instance_id_from_provider_id("aws:///i-0abc123").as_deref(),
            Some("i-0abc123")
        );
        assert_eq!(Node::instance_id_from_provider_id("gce://p/z/n"), None);
        assert_eq!(
            Node::instance_id_from_provider_id("aws:///us-east-1a/"),
            None
        );
        assert_eq!(
            CapacityType::from_label("ON_DEMAND"),
            CapacityType::OnDemand
        );
        assert_eq!(CapacityType::from_label("spot"), CapacityType::Spot);
    }

    #[test]
    fn regions_of_zones() {
        for (zone, region) in [
            ("us-east-1a", Some("us-east-1")),
            ("ap-southeast-2c", Some("ap-southeast-2")),
            ("us-gov-west-1a", Some("us-gov-west-1")),
            ("us-west-2-lax-1a", Some("us-west-2")),
            ("us-east-1-wl1-bos-wlz-1", Some("us-east-1")),
            ("us-iso-east-1a", Some("us-iso-east-1")),
            ("us-central1-a", None),
            ("use1-az1", None),
            ("us-east-1", None),
            ("", None),
            ("eu-west-", None),
            ("ée-west-1a", None),
        ] {
            assert_eq!(region_of_zone(zone), region, "{zone}");
        }
    }

    #[test]
    fn region_and_zone_without_topology_labels_and_lifecycle_labels() {
        let mut node: Node = serde_json::from_value(serde_json::json!({
            "name": "ip-10-0-0-1", "provider_id": "aws:///eu-west-1b/i-0abc",
            "instance_id": null, "instance_type": null, "zone": null, "region": null,
            "capacity_type": "unknown",
            "labels": {"node.kubernetes.io/lifecycle": "Ec2Spot"},
            "annotations": {}, "taints": [],
            "capacity": {"cpu_millis": 0, "memory_bytes": 0, "ephemeral_storage_bytes": 0, "pods": 0, "gpu_millis": 0},
            "allocatable": {"cpu_millis": 0, "memory_bytes": 0, "ephemeral_storage_bytes": 0, "pods": 0, "gpu_millis": 0},
            "created_at": null, "unschedulable": false, "ready": true
        }))
        .unwrap();
        node.derive_from_labels();
        assert_eq!(node.zone.as_deref(), Some("eu-west-1b"));
        assert_eq!(node.region.as_deref(), Some("eu-west-1"));
        assert_eq!(node.capacity_type, CapacityType::Spot);
        node.labels.insert("lifecycle".into(), "normal".into());
        node.labels.remove("node.kubernetes.io/lifecycle");
        node.derive_from_labels();
        assert_eq!(node.capacity_type, CapacityType::OnDemand);
    }

    /// Regression: a node with only the legacy labels and a zone that names
    /// no AWS region (Azure's fault domains `0`, `1`, …) had no region, and
    /// the tour priced it in its default region.
    #[test]
    fn the_legacy_region_label_is_read() {
        let mut node: Node = serde_json::from_value(serde_json::json!({
            "name": "fg0ge-worker-000000", "provider_id": null,
            "instance_id": null, "instance_type": null, "zone": null, "region": null,
            "capacity_type": "unknown",
            "labels": {
                "failure-domain.beta.kubernetes.io/region": "westeurope",
                "failure-domain.beta.kubernetes.io/zone": "0",
            },
            "annotations": {}, "taints": [],
            "capacity": {}, "allocatable": {},
            "created_at": null, "unschedulable": false, "ready": true
        }))
        .unwrap();
        node.derive_from_labels();
        assert_eq!(node.zone.as_deref(), Some("0"));
        assert_eq!(node.region.as_deref(), Some("westeurope"));
        node.labels
            .insert(labels::REGION.into(), "westeurope-new".into());
        node.derive_from_labels();
        assert_eq!(node.region.as_deref(), Some("westeurope-new"));
    }

    #[test]
    fn derive_from_labels_fills_and_clears_the_derived_fields() {
        let mut node = Node {
            name: "n1".into(),
            provider_id: Some("aws:///us-east-1c/i-04c8f1e2a6b9d3e57".into()),
            instance_id: None,
            instance_type: None,
            zone: Some("stale".into()),
            region: None,
            capacity_type: CapacityType::OnDemand,
            labels: [
                (labels::INSTANCE_TYPE_BETA, "m5.large"),
                (labels::ZONE, "us-east-1c"),
                (labels::ZONE_BETA, "us-east-1a"),
                (labels::REGION, "us-east-1"),
                (labels::KARPENTER_CAPACITY_TYPE, "spot"),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect(),
            annotations: Labels::new(),
            taints: vec![],
            capacity: Resources::ZERO,
            allocatable: Resources::ZERO,
            created_at: None,
            unschedulable: false,
            ready: true,
        };
        node.derive_from_labels();
        assert_eq!(node.instance_id.as_deref(), Some("i-04c8f1e2a6b9d3e57"));
        assert_eq!(node.instance_type.as_deref(), Some("m5.large"));
        assert_eq!(node.zone.as_deref(), Some("us-east-1c"));
        assert_eq!(node.region.as_deref(), Some("us-east-1"));
        assert_eq!(node.capacity_type, CapacityType::Spot);

        node.labels.clear();
        node.provider_id = None;
        node.derive_from_labels();
        assert_eq!(node.instance_id, None);
        assert_eq!(node.instance_type, None);
        assert_eq!(node.zone, None);
        assert_eq!(node.region, None);
        assert_eq!(node.capacity_type, CapacityType::Unknown);
    }
}
