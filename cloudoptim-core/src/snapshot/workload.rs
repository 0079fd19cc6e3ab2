//! Workload controllers: Deployments, StatefulSets, DaemonSets, CronJobs and
//! the ReplicaSets and Jobs through which pods are owned.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::pod::{Container, OwnerRef};
use super::scheduling::{LabelSelector, Labels, NodeAffinity, Toleration};

/// Kind of a workload controller.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum WorkloadKind {
    /// apps/v1 Deployment.
    Deployment,
    /// apps/v1 ReplicaSet (usually owned by a Deployment).
    ReplicaSet,
    /// apps/v1 StatefulSet.
    StatefulSet,
    /// apps/v1 DaemonSet.
    DaemonSet,
    /// batch/v1 Job (often owned by a CronJob).
    Job,
    /// batch/v1 CronJob.
    CronJob,
}

impl WorkloadKind {
    /// The Kubernetes kind name.
    pub fn as_str(self) -> &'static str {
        match self {
            WorkloadKind::Deployment => "Deployment",
            WorkloadKind::ReplicaSet => "ReplicaSet",
            WorkloadKind::StatefulSet => "StatefulSet",
            WorkloadKind::DaemonSet => "DaemonSet",
            WorkloadKind::Job => "Job",
            WorkloadKind::CronJob => "CronJob",
        }
    }

    /// The `apiVersion` of this kind (`apps/v1`, `batch/v1`).
    pub fn api_version(self) -> &'static str {
        match self {
            WorkloadKind::Deployment
            | WorkloadKind::ReplicaSet
            | WorkloadKind::StatefulSet
            | WorkloadKind::DaemonSet => "apps/v1",
            WorkloadKind::Job | WorkloadKind::CronJob => "batch/v1",
        }
    }

    /// From the Kubernetes kind name.
    pub fn from_kind(kind: &str) -> Option<WorkloadKind> {
        Some(match kind {
            "Deployment" => WorkloadKind::Deployment,
            "ReplicaSet" => WorkloadKind::ReplicaSet,
            "StatefulSet" => WorkloadKind::StatefulSet,
            "DaemonSet" => WorkloadKind::DaemonSet,
            "Job" => WorkloadKind::Job,
            "CronJob" => WorkloadKind::CronJob,
            _ => return None,
        })
    }
}

impl std::fmt::Display for WorkloadKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The pod template of a workload, as far as resources and placement go.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PodTemplate {
    /// Template labels.
    pub labels: Labels,
    /// Template annotations.
    pub annotations: Labels,
    /// App containers.
    pub containers: Vec<Container>,
    /// Init containers.
    pub init_containers: Vec<Container>,
    /// Node selector.
    pub node_selector: Labels,
    /// Node affinity.
    pub node_affinity: NodeAffinity,
    /// Tolerations.
    pub tolerations: Vec<Toleration>,
    /// Priority class name.
    pub priority_class_name: Option<String>,
}

/// A workload controller.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Workload {
    /// Kind.
    pub kind: WorkloadKind,
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
    /// The controller that owns this one (Deployment of a ReplicaSet, CronJob of a Job).
    pub owner: Option<OwnerRef>,
    /// Desired replicas (`spec.replicas`; `spec.parallelism` for Jobs; none
    /// for DaemonSets and CronJobs).
    pub replicas: Option<u32>,
    /// Ready replicas as reported in the status.
    pub ready_replicas: Option<u32>,
    /// Pod selector.
    pub selector: LabelSelector,
    /// Pod template.
    pub template: PodTemplate,
    /// Labels.
    pub labels: Labels,
    /// Annotations.
    pub annotations: Labels,
    /// CronJob schedule.
    pub schedule: Option<String>,
    /// CronJob suspended.
    pub suspend: bool,
    /// Creation time.
    pub created_at: Option<Timestamp>,
}

impl Workload {
    /// `Kind namespace/name`.
    pub fn key(&self) -> String {
        format!("{} {}/{}", self.kind, self.namespace, self.name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_know_their_api_version() {
        let versions: Vec<(&str, &str)> = [
            WorkloadKind::Deployment,
            WorkloadKind::ReplicaSet,
            WorkloadKind::StatefulSet,
            WorkloadKind::DaemonSet,
            WorkloadKind::Job,
            WorkloadKind::CronJob,
        ]
        .into_iter()
        .map(|k| (k.as_str(), k.api_version()))
        .collect();
        assert_eq!(
            versions,
            [
                ("Deployment", "apps/v1"),
                ("ReplicaSet", "apps/v1"),
                ("StatefulSet", "apps/v1"),
                ("DaemonSet", "apps/v1"),
                ("Job", "batch/v1"),
                ("CronJob", "batch/v1"),
            ]
        );
    }
}
