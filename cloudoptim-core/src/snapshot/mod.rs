//! Cluster snapshots: everything CloudOptim knows about a cluster at one
//! instant, as plain data.
//!
//! A snapshot is built by the Kubernetes adapter from the live API, or
//! offline from `kubectl get … -o json` output with [`crate::kubectl`].

mod disruption;
mod labels;
mod namespace;
mod node;
mod pod;
mod scheduling;
mod service;
mod storage;
mod validate;
mod workload;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub(crate) use disruption::PdbIndex;
pub use disruption::{IntOrPercent, PodDisruptionBudget};
pub use namespace::{HorizontalPodAutoscaler, HpaMetric, Namespace};
pub use node::{labels as node_labels, region_of_zone, CapacityType, Node};
pub use pod::{
    is_do_not_disrupt, is_do_not_disrupt_by, is_true_annotation, Container, ContainerStatus,
    Limits, OwnerRef, Pod, PodPhase, PodVolume, Termination, VolumeSource,
    DO_NOT_DISRUPT_ANNOTATIONS,
};
pub use scheduling::{
    tolerates_all, LabelSelector, Labels, NodeAffinity, NodeSelectorTerm, PodAffinity,
    PodAffinityTerm, SelectorOperator, SelectorRequirement, Taint, TaintEffect, Toleration,
    TolerationOperator, TopologySpreadConstraint, WeightedNodeSelectorTerm, WhenUnsatisfiable,
};
pub use service::{Service, ServiceType, TOPOLOGY_AWARE_HINTS, TOPOLOGY_MODE};
pub use storage::{
    ClaimPhase, ObjectRef, PersistentVolume, PersistentVolumeClaim, ReclaimPolicy, VolumePhase,
};
pub use validate::{DuplicateObject, SnapshotList};
pub use workload::{PodTemplate, Workload, WorkloadKind};

use crate::resources::Resources;

/// The state of a cluster at one instant.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ClusterSnapshot {
    /// Nodes.
    pub nodes: Vec<Node>,
    /// Pods.
    pub pods: Vec<Pod>,
    /// Pod disruption budgets.
    pub pdbs: Vec<PodDisruptionBudget>,
    /// Persistent volumes.
    pub persistent_volumes: Vec<PersistentVolume>,
    /// Persistent volume claims.
    pub persistent_volume_claims: Vec<PersistentVolumeClaim>,
    /// Workload controllers.
    pub workloads: Vec<Workload>,
    /// Namespaces (read when listed: `kubectl get namespaces`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub namespaces: Vec<Namespace>,
    /// HorizontalPodAutoscalers (read when listed: `kubectl get hpa`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub horizontal_pod_autoscalers: Vec<HorizontalPodAutoscaler>,
    /// Services (read when listed: `kubectl get services`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub services: Vec<Service>,
}

impl ClusterSnapshot {
    /// The node with this name.
    pub fn node(&self, name: &str) -> Option<&Node> {
        self.nodes.iter().find(|n| n.name == name)
    }

    /// The node running the EC2 instance with this id.
    pub fn node_by_instance_id(&self, instance_id: &str) -> Option<&Node> {
        self.nodes
            .iter()
            .find(|n| n.instance_id.as_deref() == Some(instance_id))
    }

    /// Pods bound to `node_name` that still hold resources there.
    pub fn pods_on<'a>(&'a self, node_name: &'a str) -> impl Iterator<Item = &'a Pod> + 'a {
        self.pods
            .iter()
            .filter(move |p| p.is_active_on_node() && p.node_name.as_deref() == Some(node_name))
    }

    /// Sum of the requests of the active pods on each node, by node name.
    pub fn requested_by_node(&self) -> BTreeMap<&str, Resources> {
        let mut out: BTreeMap<&str, Resources> = self
            .nodes
            .iter()
            .map(|n| (n.name.as_str(), Resources::ZERO))
            .collect();
        for pod in self.pods.iter().filter(|p| p.is_active_on_node()) {
            if let Some(total) = pod.node_name.as_deref().and_then(|n| out.get_mut(n)) {
                *total = total.saturating_add(pod.requests());
            }
        }
        out
    }

    /// The workload of this kind and name.
    pub fn workload(&self, kind: WorkloadKind, namespace: &str, name: &str) -> Option<&Workload> {
        self.workloads
            .iter()
            .find(|w| w.kind == kind && w.namespace == namespace && w.name == name)
    }

    /// The namespace of this name, if the snapshot lists namespaces.
    pub fn namespace(&self, name: &str) -> Option<&Namespace> {
        self.namespaces.iter().find(|n| n.name == name)
    }

    /// The HorizontalPodAutoscalers scaling this workload.
    pub fn autoscalers_of<'a>(
        &'a self,
        kind: WorkloadKind,
        namespace: &'a str,
        name: &'a str,
    ) -> impl Iterator<Item = &'a HorizontalPodAutoscaler> + 'a {
        self.horizontal_pod_autoscalers
            .iter()
            .filter(move |h| h.targets(kind, namespace, name))
    }

    /// PDBs covering a pod.
    pub fn pdbs_for<'a>(&'a self, pod: &'a Pod) -> impl Iterator<Item = &'a PodDisruptionBudget> {
        self.pdbs
            .iter()
            .filter(move |b| b.covers(&pod.namespace, &pod.labels))
    }

    /// What the DaemonSets put on every node they run on: the sum of their
    /// template requests, and one pod slot each.
    pub fn daemonset_overhead(&self) -> Resources {
        self.workloads
            .iter()
            .filter(|w| w.kind == WorkloadKind::DaemonSet)
            .fold(Resources::ZERO, |acc, w| {
                let pod = w
                    .template
                    .containers
                    .iter()
                    .fold(Resources::ZERO, |a, c| a.saturating_add(c.requests));
                acc.saturating_add(Resources { pods: 1, ..pod })
            })
    }

    /// Why this snapshot cannot tell which pods run on its nodes, if so:
    /// it has nodes but no pod bound to any of them. A running node always
    /// carries some pod (kube-proxy, the CNI agent, …), so that is a list of
    /// nodes without its pods (`kubectl get nodes -o json`), or of some pods
    /// only; engines that would remove "empty" nodes refuse it.
    pub fn why_pods_unknown(&self) -> Option<String> {
        if self.nodes.is_empty() {
            return None;
        }
        let names: std::collections::HashSet<&str> =
            self.nodes.iter().map(|n| n.name.as_str()).collect();
        let bound = self.pods.iter().filter_map(|p| p.node_name.as_deref());
        let mut elsewhere = 0usize;
        for node in bound {
            if names.contains(node) {
                return None;
            }
            elsewhere = elsewhere.saturating_add(1);
        }
        let lists = if elsewhere == 0 {
            "(a `kubectl get nodes` file?)".to_owned()
        } else {
            format!("({elsewhere} pod(s) run on nodes the file does not list: pods of another part of the cluster?)")
        };
        Some(format!(
            "the snapshot lists {} node(s) but no pod on any of them {lists}; \
             every node would look empty: list pods too (kubectl get nodes,pods,pdb,… -A -o json)",
            self.nodes.len()
        ))
    }

    /// Pods bound to a node the snapshot does not have, as `namespace/name`.
    pub fn pods_on_missing_nodes(&self) -> Vec<String> {
        let nodes: std::collections::BTreeSet<&str> =
            self.nodes.iter().map(|n| n.name.as_str()).collect();
        self.pods
            .iter()
            .filter(|p| p.node_name.as_deref().is_some_and(|n| !nodes.contains(n)))
            .map(Pod::key)
            .collect()
    }

    /// Keep only the nodes carrying every label of `selector` (`key =
    /// value`, as a Kubernetes equality selector) and the pods bound to
    /// them; pods not bound to a node are dropped too, since the scheduler
    /// may place them anywhere. Everything else (PDBs, workloads, Services,
    /// volumes) stays whole. An empty selector keeps everything.
    ///
    /// This is how one managed cluster is scoped to a node pool (or how
    /// several simulated clusters share one API server):
    ///
    /// ```
    /// use cloudoptim_core::snapshot::ClusterSnapshot;
    /// let mut s = ClusterSnapshot::default();
    /// let selector = [("pool".to_owned(), "batch".to_owned())].into();
    /// s.restrict_to_nodes(&selector);
    /// assert!(s.nodes.is_empty());
    /// ```
    pub fn restrict_to_nodes(&mut self, selector: &BTreeMap<String, String>) {
        if selector.is_empty() {
            return;
        }
        self.nodes.retain(|n| n.matches(selector));
        let kept: std::collections::BTreeSet<&str> =
            self.nodes.iter().map(|n| n.name.as_str()).collect();
        self.pods
            .retain(|p| p.node_name.as_deref().is_some_and(|n| kept.contains(n)));
    }

    /// The newest creation time of any pod or node: a stand-in for "when
    /// the snapshot was taken" when the caller has no better one.
    pub fn newest_timestamp(&self) -> Option<jiff::Timestamp> {
        self.pods
            .iter()
            .filter_map(|p| p.created_at)
            .chain(self.nodes.iter().filter_map(|n| n.created_at))
            .max()
    }

    /// Set every pod's top-level [`Pod::owner`] by following its controller
    /// through ReplicaSets and Jobs to the Deployment or CronJob that owns
    /// them, as far as the snapshot knows them.
    pub fn resolve_owners(&mut self) {
        let parents: BTreeMap<(&str, &str, &str), &OwnerRef> = self
            .workloads
            .iter()
            .filter_map(|w| {
                w.owner
                    .as_ref()
                    .map(|o| ((w.kind.as_str(), w.namespace.as_str(), w.name.as_str()), o))
            })
            .collect();
        // In place: a list of owners aside would double them for a moment.
        for pod in &mut self.pods {
            pod.owner = pod.controller.as_ref().map(|controller| {
                let mut owner = controller;
                // Owner chains are short (Pod → ReplicaSet → Deployment); the
                // bound guards against cycles in malformed input.
                for _ in 0..8 {
                    match parents.get(&(
                        owner.kind.as_str(),
                        pod.namespace.as_str(),
                        owner.name.as_str(),
                    )) {
                        Some(parent) => owner = *parent,
                        None => break,
                    }
                }
                owner.clone()
            });
        }
    }
}
