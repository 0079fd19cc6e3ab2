//! What one pod needs from the node it lands on.

use serde::{Deserialize, Serialize};

use crate::resources::Resources;
use crate::snapshot::{node_labels, Labels, NodeAffinity, Pod, WhenUnsatisfiable};

/// The requirements of one pod, as far as packing goes.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PodRequirement {
    /// `namespace/name`, for explanations.
    pub name: String,
    /// What it requests (one pod slot included).
    pub requests: Resources,
    /// `spec.nodeSelector`.
    pub node_selector: Labels,
    /// Required node affinity (preferred terms are ignored by the packer).
    pub node_affinity: NodeAffinity,
    /// Pods with the same group may not share a node (required pod
    /// anti-affinity on `kubernetes.io/hostname` that selects its own kind).
    pub anti_affinity_group: Option<String>,
    /// Pods with the same group are spread over zones with this maximum skew
    /// (a `DoNotSchedule` topology spread constraint on the zone).
    pub zone_spread: Option<(String, u32)>,
}

impl PodRequirement {
    /// A pod that only has requests.
    pub fn new(name: impl Into<String>, requests: Resources) -> PodRequirement {
        let mut requests = requests;
        requests.pods = requests.pods.max(1);
        PodRequirement {
            name: name.into(),
            requests,
            ..Default::default()
        }
    }

    /// The requirements of a pod from a snapshot.
    pub fn from_pod(pod: &Pod) -> PodRequirement {
        let group = |selector: &crate::snapshot::LabelSelector| selector_group(pod, selector);
        let anti_affinity_group = anti_affinity_group(pod);
        let zone_spread = pod
            .topology_spread
            .iter()
            .filter(|c| {
                c.topology_key == node_labels::ZONE
                    && c.when_unsatisfiable == WhenUnsatisfiable::DoNotSchedule
            })
            .find_map(|c| {
                let selector = c.label_selector.as_ref()?;
                selector.matches(&pod.labels).then(|| {
                    (
                        group(selector),
                        u32::try_from(c.max_skew).unwrap_or(1).max(1),
                    )
                })
            });
        PodRequirement {
            name: pod.key(),
            requests: pod.requests(),
            node_selector: pod.node_selector.clone(),
            node_affinity: NodeAffinity {
                required: pod.node_affinity.required.clone(),
                preferred: Vec::new(),
            },
            anti_affinity_group,
            zone_spread,
        }
    }
}

/// The group of pods that a selector of `pod`'s names: its namespace and
/// the selector.
fn selector_group(pod: &Pod, selector: &crate::snapshot::LabelSelector) -> String {
    format!(
        "{}/{}",
        pod.namespace,
        serde_json::to_string(selector).unwrap_or_default()
    )
}

/// The [`PodRequirement::anti_affinity_group`] of a pod, without building
/// the rest of its requirement.
pub(crate) fn anti_affinity_group(pod: &Pod) -> Option<String> {
    // A term or constraint without a label selector selects no pod: no group.
    pod.pod_affinity
        .anti_required
        .iter()
        .filter(|t| t.topology_key == node_labels::HOSTNAME)
        .find_map(|t| {
            let selector = t.label_selector.as_ref()?;
            selector
                .matches(&pod.labels)
                .then(|| selector_group(pod, selector))
        })
}
