//! Namespaces (their labels and annotations opt whole namespaces in or out
//! of policies such as office hours) and HorizontalPodAutoscalers (which
//! workloads something else scales).

use serde::{Deserialize, Serialize};

use super::scheduling::Labels;
use super::workload::WorkloadKind;

/// A namespace.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Namespace {
    /// Name.
    pub name: String,
    /// Labels.
    #[serde(default)]
    pub labels: Labels,
    /// Annotations.
    #[serde(default)]
    pub annotations: Labels,
}

/// A HorizontalPodAutoscaler (autoscaling/v1 or v2), as far as which
/// workload it scales and within which bounds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HorizontalPodAutoscaler {
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
    /// Kind of the scaled object (`spec.scaleTargetRef.kind`: `Deployment`,
    /// `StatefulSet`, or another scalable kind).
    pub target_kind: String,
    /// Name of the scaled object.
    pub target_name: String,
    /// `spec.minReplicas` (Kubernetes defaults it to 1).
    pub min_replicas: u32,
    /// `spec.maxReplicas`.
    pub max_replicas: u32,
}

impl HorizontalPodAutoscaler {
    /// Whether it scales this workload.
    pub fn targets(&self, kind: WorkloadKind, namespace: &str, name: &str) -> bool {
        self.target_kind == kind.as_str() && self.namespace == namespace && self.target_name == name
    }
}
