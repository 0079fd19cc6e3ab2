//! What a snapshot must satisfy before an engine trusts it: no two objects
//! with one identity.
//!
//! Kubernetes never holds two Nodes named alike, nor two pods of one
//! namespace and name; a snapshot that does (merged by hand, read from a
//! list that overlapped itself) makes every lookup by name ambiguous, and a
//! plan built on it can evict what a PDB protects. The entry points that
//! build snapshots ([`crate::kubectl::read_list`], the Kubernetes adapter's
//! `observe`) reject such snapshots; the engines refuse to plan on them.

use std::collections::hash_map::Entry;
use std::collections::HashMap;
use std::hash::Hash;

use serde::{Deserialize, Serialize};

use super::ClusterSnapshot;

/// One of the lists of a [`ClusterSnapshot`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SnapshotList {
    /// [`ClusterSnapshot::nodes`].
    Nodes,
    /// [`ClusterSnapshot::pods`].
    Pods,
    /// [`ClusterSnapshot::pdbs`].
    Pdbs,
    /// [`ClusterSnapshot::persistent_volumes`].
    PersistentVolumes,
    /// [`ClusterSnapshot::persistent_volume_claims`].
    PersistentVolumeClaims,
    /// [`ClusterSnapshot::workloads`].
    Workloads,
    /// [`ClusterSnapshot::namespaces`].
    Namespaces,
    /// [`ClusterSnapshot::horizontal_pod_autoscalers`].
    HorizontalPodAutoscalers,
    /// [`ClusterSnapshot::services`].
    Services,
}

impl SnapshotList {
    /// The field name of the list (`nodes`, `pods`, `pdbs`, …).
    pub fn field(self) -> &'static str {
        match self {
            SnapshotList::Nodes => "nodes",
            SnapshotList::Pods => "pods",
            SnapshotList::Pdbs => "pdbs",
            SnapshotList::PersistentVolumes => "persistent_volumes",
            SnapshotList::PersistentVolumeClaims => "persistent_volume_claims",
            SnapshotList::Workloads => "workloads",
            SnapshotList::Namespaces => "namespaces",
            SnapshotList::HorizontalPodAutoscalers => "horizontal_pod_autoscalers",
            SnapshotList::Services => "services",
        }
    }
}

impl std::fmt::Display for SnapshotList {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.field())
    }
}

/// Two objects of a snapshot with the same identity: what
/// [`ClusterSnapshot::check_unique`] rejects.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{kind} {identity} appears twice in the snapshot: {list}[{first}] and {list}[{second}]")]
pub struct DuplicateObject {
    /// The list both objects are in.
    pub list: SnapshotList,
    /// Their Kubernetes kind (`Node`, `Pod`, `PodDisruptionBudget`,
    /// `Deployment`, …).
    pub kind: String,
    /// Their identity: the name of a cluster-scoped object (Node,
    /// PersistentVolume), `namespace/name` otherwise.
    pub identity: String,
    /// Index of the first of them in the list.
    pub first: usize,
    /// Index of the second.
    pub second: usize,
}

/// The indexes of the first two equal keys, if two are equal.
fn first_repeat<K: Eq + Hash>(keys: impl IntoIterator<Item = K>) -> Option<(usize, usize)> {
    let keys = keys.into_iter();
    // Sized up front: growing the table as it fills rehashes every key seen.
    let mut seen: HashMap<K, usize> = HashMap::with_capacity(keys.size_hint().0);
    for (i, key) in keys.enumerate() {
        match seen.entry(key) {
            Entry::Occupied(first) => return Some((*first.get(), i)),
            Entry::Vacant(slot) => {
                slot.insert(i);
            }
        }
    }
    None
}

impl ClusterSnapshot {
    /// Check that no two objects share an identity: Nodes and
    /// PersistentVolumes by name; pods, PDBs and PersistentVolumeClaims by
    /// namespace and name; workloads by kind, namespace and name. The error
    /// names the first repeat found (lists in the order above), its kind,
    /// identity and both positions in its list.
    pub fn check_unique(&self) -> Result<(), DuplicateObject> {
        let duplicate = |list, kind: &str, identity: String, (first, second)| DuplicateObject {
            list,
            kind: kind.to_owned(),
            identity,
            first,
            second,
        };
        if let Some(at) = first_repeat(self.nodes.iter().map(|n| n.name.as_str())) {
            let name = self.nodes.get(at.1).map(|n| n.name.clone());
            return Err(duplicate(
                SnapshotList::Nodes,
                "Node",
                name.unwrap_or_default(),
                at,
            ));
        }
        if let Some(at) = first_repeat(
            self.pods
                .iter()
                .map(|p| (p.namespace.as_str(), p.name.as_str())),
        ) {
            let key = self.pods.get(at.1).map(|p| p.key());
            return Err(duplicate(
                SnapshotList::Pods,
                "Pod",
                key.unwrap_or_default(),
                at,
            ));
        }
        if let Some(at) = first_repeat(
            self.pdbs
                .iter()
                .map(|b| (b.namespace.as_str(), b.name.as_str())),
        ) {
            let key = self
                .pdbs
                .get(at.1)
                .map(|b| format!("{}/{}", b.namespace, b.name));
            return Err(duplicate(
                SnapshotList::Pdbs,
                "PodDisruptionBudget",
                key.unwrap_or_default(),
                at,
            ));
        }
        if let Some(at) = first_repeat(self.persistent_volumes.iter().map(|v| v.name.as_str())) {
            let name = self.persistent_volumes.get(at.1).map(|v| v.name.clone());
            return Err(duplicate(
                SnapshotList::PersistentVolumes,
                "PersistentVolume",
                name.unwrap_or_default(),
                at,
            ));
        }
        if let Some(at) = first_repeat(
            self.persistent_volume_claims
                .iter()
                .map(|c| (c.namespace.as_str(), c.name.as_str())),
        ) {
            let key = self
                .persistent_volume_claims
                .get(at.1)
                .map(|c| format!("{}/{}", c.namespace, c.name));
            return Err(duplicate(
                SnapshotList::PersistentVolumeClaims,
                "PersistentVolumeClaim",
                key.unwrap_or_default(),
                at,
            ));
        }
        if let Some(at) = first_repeat(
            self.workloads
                .iter()
                .map(|w| (w.kind, w.namespace.as_str(), w.name.as_str())),
        ) {
            if let Some(w) = self.workloads.get(at.1) {
                return Err(duplicate(
                    SnapshotList::Workloads,
                    w.kind.as_str(),
                    format!("{}/{}", w.namespace, w.name),
                    at,
                ));
            }
        }
        if let Some(at) = first_repeat(self.namespaces.iter().map(|n| n.name.as_str())) {
            let name = self.namespaces.get(at.1).map(|n| n.name.clone());
            return Err(duplicate(
                SnapshotList::Namespaces,
                "Namespace",
                name.unwrap_or_default(),
                at,
            ));
        }
        if let Some(at) = first_repeat(
            self.horizontal_pod_autoscalers
                .iter()
                .map(|h| (h.namespace.as_str(), h.name.as_str())),
        ) {
            let key = self
                .horizontal_pod_autoscalers
                .get(at.1)
                .map(|h| format!("{}/{}", h.namespace, h.name));
            return Err(duplicate(
                SnapshotList::HorizontalPodAutoscalers,
                "HorizontalPodAutoscaler",
                key.unwrap_or_default(),
                at,
            ));
        }
        if let Some(at) = first_repeat(
            self.services
                .iter()
                .map(|s| (s.namespace.as_str(), s.name.as_str())),
        ) {
            let key = self
                .services
                .get(at.1)
                .map(|s| format!("{}/{}", s.namespace, s.name));
            return Err(duplicate(
                SnapshotList::Services,
                "Service",
                key.unwrap_or_default(),
                at,
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::snapshot::{
        LabelSelector, Labels, PodDisruptionBudget, PodTemplate, Workload, WorkloadKind,
    };

    fn workload(kind: WorkloadKind, namespace: &str, name: &str) -> Workload {
        Workload {
            kind,
            namespace: namespace.into(),
            name: name.into(),
            owner: None,
            replicas: Some(1),
            ready_replicas: Some(1),
            selector: LabelSelector::default(),
            template: PodTemplate::default(),
            labels: Labels::new(),
            annotations: Labels::new(),
            schedule: None,
            suspend: false,
            created_at: None,
        }
    }

    fn pdb(namespace: &str, name: &str) -> PodDisruptionBudget {
        PodDisruptionBudget {
            namespace: namespace.into(),
            name: name.into(),
            selector: None,
            min_available: None,
            max_unavailable: None,
            disruptions_allowed: 0,
            current_healthy: 0,
            desired_healthy: 0,
            expected_pods: 0,
            labels: Labels::new(),
        }
    }

    #[test]
    fn the_same_name_in_another_namespace_or_kind_is_no_repeat() {
        let s = ClusterSnapshot {
            pdbs: vec![pdb("prod", "web"), pdb("dev", "web")],
            workloads: vec![
                workload(WorkloadKind::Deployment, "prod", "web"),
                workload(WorkloadKind::StatefulSet, "prod", "web"),
                workload(WorkloadKind::Deployment, "dev", "web"),
            ],
            ..ClusterSnapshot::default()
        };
        assert_eq!(s.check_unique(), Ok(()));
        assert_eq!(ClusterSnapshot::default().check_unique(), Ok(()));
    }

    #[test]
    fn a_repeat_names_its_kind_identity_and_both_positions() {
        let s = ClusterSnapshot {
            workloads: vec![
                workload(WorkloadKind::Deployment, "prod", "web"),
                workload(WorkloadKind::StatefulSet, "prod", "db"),
                workload(WorkloadKind::StatefulSet, "prod", "web"),
                workload(WorkloadKind::Deployment, "prod", "web"),
            ],
            ..ClusterSnapshot::default()
        };
        let e = s.check_unique().unwrap_err();
        assert_eq!(
            e,
            DuplicateObject {
                list: SnapshotList::Workloads,
                kind: "Deployment".into(),
                identity: "prod/web".into(),
                first: 0,
                second: 3,
            }
        );
        assert_eq!(
            e.to_string(),
            "Deployment prod/web appears twice in the snapshot: workloads[0] and workloads[3]"
        );
        let s = ClusterSnapshot {
            pdbs: vec![pdb("prod", "a"), pdb("prod", "b"), pdb("prod", "a")],
            ..ClusterSnapshot::default()
        };
        let e = s.check_unique().unwrap_err();
        assert_eq!(
            (
                e.list,
                e.kind.as_str(),
                e.identity.as_str(),
                e.first,
                e.second
            ),
            (SnapshotList::Pdbs, "PodDisruptionBudget", "prod/a", 0, 2)
        );
    }
}
