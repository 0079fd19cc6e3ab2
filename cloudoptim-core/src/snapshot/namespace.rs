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
    /// What it scales on: `spec.metrics` (autoscaling/v2), or
    /// `spec.targetCPUUtilizationPercentage` (v1). Empty means what
    /// Kubernetes does then: average CPU utilization (80%).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub metrics: Vec<HpaMetric>,
}

/// One metric an HPA scales on.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum HpaMetric {
    /// `type: Resource`: a resource's utilization or value averaged over
    /// the pods (`cpu`, `memory`, …).
    Resource {
        /// Resource name.
        resource: String,
    },
    /// `type: ContainerResource`: a resource of one container.
    ContainerResource {
        /// Resource name.
        resource: String,
        /// Container name.
        container: String,
    },
    /// `Pods`, `Object`, `External`: a custom or external metric, which
    /// requests do not enter.
    Other {
        /// The metric's `type`.
        kind: String,
    },
}

impl HorizontalPodAutoscaler {
    /// Whether its scaling depends on container `container`'s request of
    /// `resource` (`cpu`, `memory`): utilization targets are a share of
    /// the request, so changing the request changes what the HPA does.
    ///
    /// ```
    /// use cloudoptim_core::snapshot::{HorizontalPodAutoscaler, HpaMetric};
    ///
    /// let mut hpa = HorizontalPodAutoscaler {
    ///     namespace: "prod".into(), name: "web".into(),
    ///     target_kind: "Deployment".into(), target_name: "web".into(),
    ///     min_replicas: 2, max_replicas: 10, metrics: vec![],
    /// };
    /// // No metrics: Kubernetes scales on CPU.
    /// assert!(hpa.scales_on("cpu", "app") && !hpa.scales_on("memory", "app"));
    /// hpa.metrics = vec![HpaMetric::ContainerResource {
    ///     resource: "memory".into(), container: "app".into() }];
    /// assert!(hpa.scales_on("memory", "app") && !hpa.scales_on("memory", "sidecar"));
    /// assert!(!hpa.scales_on("cpu", "app"));
    /// ```
    pub fn scales_on(&self, resource: &str, container: &str) -> bool {
        if self.metrics.is_empty() {
            return resource == "cpu";
        }
        self.metrics.iter().any(|m| match m {
            HpaMetric::Resource { resource: r } => r == resource,
            HpaMetric::ContainerResource {
                resource: r,
                container: c,
            } => r == resource && c == container,
            HpaMetric::Other { .. } => false,
        })
    }

    /// Whether it scales this workload.
    pub fn targets(&self, kind: WorkloadKind, namespace: &str, name: &str) -> bool {
        self.target_kind == kind.as_str() && self.namespace == namespace && self.target_name == name
    }
}
