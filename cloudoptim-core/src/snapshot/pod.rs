//! Pods, their containers and what they need from a node.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::scheduling::{Labels, NodeAffinity, PodAffinity, Toleration, TopologySpreadConstraint};
use crate::resources::{Dimension, Resources};

/// Annotations that forbid CloudOptim (or Karpenter) from disrupting a pod
/// or a node; [`is_do_not_disrupt`] is the rule that reads them.
pub const DO_NOT_DISRUPT_ANNOTATIONS: [&str; 2] = [
    "cloudoptim.io/do-not-disrupt",
    "karpenter.sh/do-not-disrupt",
];

/// Whether an annotation or tag value means "true", as Karpenter reads
/// `karpenter.sh/do-not-disrupt`: case-insensitive, surrounding whitespace
/// ignored (`true`, `True`, ` TRUE `; not `false`, `""` or `yes`).
pub fn is_true_annotation(value: &str) -> bool {
    value.trim().eq_ignore_ascii_case("true")
}

/// Whether these annotations (of a pod or a node) forbid disrupting it:
/// either of [`DO_NOT_DISRUPT_ANNOTATIONS`] with the value `true`, compared
/// without regard to case and surrounding whitespace (`"true"`, `" True "`
/// and `"TRUE"` all count; `"false"`, `""` and `"yes"` do not).
///
/// The one rule for do-not-disrupt: [`Pod::do_not_disrupt`],
/// [`Node::do_not_disrupt`](super::Node::do_not_disrupt), the engines and
/// the executors all read the annotations through it.
pub fn is_do_not_disrupt(annotations: &Labels) -> bool {
    is_do_not_disrupt_by(|key| annotations.get(key).map(String::as_str))
}

/// [`is_do_not_disrupt`] over any annotation lookup (an API object's own
/// map, say), so adapters apply the same rule without converting.
pub fn is_do_not_disrupt_by<'a>(get: impl Fn(&str) -> Option<&'a str>) -> bool {
    DO_NOT_DISRUPT_ANNOTATIONS
        .iter()
        .any(|key| get(key).is_some_and(is_true_annotation))
}

/// The kind and name of an object's owner.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct OwnerRef {
    /// Owner kind (`ReplicaSet`, `Deployment`, `Job`, …).
    pub kind: String,
    /// Owner name, in the same namespace.
    pub name: String,
}

/// Pod phase.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum PodPhase {
    /// Accepted, not all containers running (includes unscheduled pods).
    Pending,
    /// Bound to a node, at least one container running.
    Running,
    /// All containers exited successfully.
    Succeeded,
    /// All containers exited, at least one failed.
    Failed,
    /// State unknown (or a phase this version does not know).
    #[default]
    #[serde(other)]
    Unknown,
}

impl PodPhase {
    /// Whether the pod is finished and no longer holds node resources.
    pub fn is_terminal(self) -> bool {
        matches!(self, PodPhase::Succeeded | PodPhase::Failed)
    }
}

/// Resource limits; a dimension without a limit is `None` (unbounded).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(default)]
pub struct Limits {
    /// CPU limit in millicores.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpu_millis: Option<u64>,
    /// Memory limit in bytes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memory_bytes: Option<u64>,
    /// GPU limit in thousandths of a GPU.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gpu_millis: Option<u64>,
    /// Ephemeral storage limit in bytes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ephemeral_storage_bytes: Option<u64>,
}

impl Limits {
    /// The limit in `dimension`, in its unit, if one is set (`pods` never has one).
    pub fn get(&self, dimension: Dimension) -> Option<u64> {
        match dimension {
            Dimension::Cpu => self.cpu_millis,
            Dimension::Memory => self.memory_bytes,
            Dimension::Gpu => self.gpu_millis,
            Dimension::EphemeralStorage => self.ephemeral_storage_bytes,
            Dimension::Pods => None,
        }
    }
}

/// A container's name and resources.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Container {
    /// Container name.
    pub name: String,
    /// Requests (a request left out but limited defaults to the limit, as in
    /// Kubernetes). `pods` is always 0 here.
    pub requests: Resources,
    /// Limits.
    pub limits: Limits,
    /// For init containers: `restartPolicy: Always`, a native sidecar that
    /// keeps running beside the app containers.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub sidecar: bool,
}

/// How a container last terminated, or is terminated now.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Termination {
    /// Reason, e.g. `OOMKilled`, `Error`, `Completed`.
    pub reason: Option<String>,
    /// Exit code.
    pub exit_code: i32,
    /// When it finished.
    pub finished_at: Option<Timestamp>,
}

/// Observed state of one container.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ContainerStatus {
    /// Container name.
    pub name: String,
    /// Restarts so far.
    pub restart_count: u32,
    /// Readiness.
    pub ready: bool,
    /// The state now, when it is terminated.
    pub terminated: Option<Termination>,
    /// The reason it is waiting, when it is (`CrashLoopBackOff`, …).
    pub waiting_reason: Option<String>,
    /// How it terminated last time (`lastState.terminated`).
    pub last_termination: Option<Termination>,
}

impl ContainerStatus {
    /// Whether the container's current or last termination was an OOM kill.
    pub fn was_oom_killed(&self) -> bool {
        [&self.terminated, &self.last_termination]
            .into_iter()
            .flatten()
            .any(|t| t.reason.as_deref() == Some("OOMKilled"))
    }
}

/// Where a pod volume comes from, as far as scheduling and disruption care.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "type")]
pub enum VolumeSource {
    /// Node-local scratch space that is lost when the pod moves.
    EmptyDir {
        /// `medium: Memory` (tmpfs, counted against memory).
        in_memory: bool,
        /// `sizeLimit` in bytes.
        size_limit_bytes: Option<u64>,
    },
    /// A claim; the data lives in the PV.
    PersistentVolumeClaim {
        /// Claim name, in the pod's namespace.
        claim_name: String,
    },
    /// A directory on the node.
    HostPath {
        /// The path.
        path: String,
    },
    /// A generic ephemeral volume (a claim created for the pod).
    Ephemeral,
    /// ConfigMap, Secret, projected, downward API or another source that
    /// does not tie the pod to a node.
    Other {
        /// The source's field name (`configMap`, `secret`, …).
        kind: String,
    },
}

/// A pod volume.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PodVolume {
    /// Volume name.
    pub name: String,
    /// Its source.
    pub source: VolumeSource,
}

/// A pod: where it runs, what it needs and who owns it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Pod {
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
    /// `metadata.uid`: tells this pod from a later one of the same name
    /// (a StatefulSet's `db-0` recreated). `None` when the source has none
    /// (hand-written snapshots, older exports).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
    /// The direct controller (`metadata.ownerReferences` with `controller: true`).
    pub controller: Option<OwnerRef>,
    /// The top-level owner: the controller resolved through ReplicaSets and
    /// Jobs to their Deployment or CronJob when those are known.
    pub owner: Option<OwnerRef>,
    /// The node it is bound to, if scheduled.
    pub node_name: Option<String>,
    /// Phase.
    pub phase: PodPhase,
    /// Scheduling priority (`spec.priority`).
    pub priority: i32,
    /// Priority class name.
    pub priority_class_name: Option<String>,
    /// App containers.
    pub containers: Vec<Container>,
    /// Init containers (including native sidecars).
    pub init_containers: Vec<Container>,
    /// Pod overhead (`spec.overhead`, from the RuntimeClass).
    pub overhead: Resources,
    /// Labels.
    pub labels: Labels,
    /// Annotations.
    pub annotations: Labels,
    /// Tolerations.
    pub tolerations: Vec<Toleration>,
    /// `spec.nodeSelector`.
    pub node_selector: Labels,
    /// Node affinity.
    pub node_affinity: NodeAffinity,
    /// Pod affinity and anti-affinity.
    pub pod_affinity: PodAffinity,
    /// Topology spread constraints.
    pub topology_spread: Vec<TopologySpreadConstraint>,
    /// Volumes.
    pub volumes: Vec<PodVolume>,
    /// Container statuses (app containers).
    pub container_statuses: Vec<ContainerStatus>,
    /// Creation time.
    pub created_at: Option<Timestamp>,
}

impl Pod {
    /// `namespace/name`.
    pub fn key(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }

    /// The workload the pod belongs to: its top-level owner, or its direct
    /// controller when owners were not resolved; `None` for a bare pod.
    pub fn top_owner(&self) -> Option<&OwnerRef> {
        self.owner.as_ref().or(self.controller.as_ref())
    }

    /// What the scheduler reserves for this pod on a node, as Kubernetes
    /// computes it: the larger of the app containers plus native sidecars and
    /// the peak of the init sequence, plus the pod overhead, plus one pod slot.
    pub fn requests(&self) -> Resources {
        let mut sidecars = Resources::ZERO;
        let mut init_peak = Resources::ZERO;
        for init in &self.init_containers {
            if init.sidecar {
                sidecars = sidecars.saturating_add(init.requests);
                init_peak = init_peak.max(sidecars);
            } else {
                init_peak = init_peak.max(sidecars.saturating_add(init.requests));
            }
        }
        let running = self
            .containers
            .iter()
            .fold(sidecars, |acc, c| acc.saturating_add(c.requests));
        let mut total = running.max(init_peak).saturating_add(self.overhead);
        total.pods = 1;
        total
    }

    /// Whether the pod is annotated not to be disrupted (by the rule of
    /// [`is_do_not_disrupt`]).
    pub fn do_not_disrupt(&self) -> bool {
        is_do_not_disrupt(&self.annotations)
    }

    /// Whether the pod belongs to a DaemonSet.
    pub fn is_daemonset_pod(&self) -> bool {
        self.controller
            .as_ref()
            .is_some_and(|c| c.kind == "DaemonSet")
    }

    /// Whether the pod is a static (mirror) pod managed by a kubelet.
    pub fn is_mirror_pod(&self) -> bool {
        self.annotations.contains_key("kubernetes.io/config.mirror")
    }

    /// Whether the pod keeps data on its node (`emptyDir` on disk or `hostPath`)
    /// that is lost if it moves.
    pub fn has_local_storage(&self) -> bool {
        self.volumes.iter().any(|v| {
            matches!(
                v.source,
                VolumeSource::EmptyDir {
                    in_memory: false,
                    ..
                } | VolumeSource::HostPath { .. }
            )
        })
    }

    /// Whether any container was OOM killed (now or last time).
    pub fn was_oom_killed(&self) -> bool {
        self.container_statuses
            .iter()
            .any(ContainerStatus::was_oom_killed)
    }

    /// Whether the pod holds resources on a node (bound and not finished).
    pub fn is_active_on_node(&self) -> bool {
        self.node_name.is_some() && !self.phase.is_terminal()
    }

    /// Whether the pod has to move when its node goes: it is active on a
    /// node ([`is_active_on_node`](Pod::is_active_on_node)) and is neither
    /// a DaemonSet pod (its DaemonSet runs it on the other nodes already)
    /// nor a mirror pod (the kubelet's static pod, tied to that node).
    /// Finished pods hold nothing and do not move.
    ///
    /// The pods consolidation relocates and an interruption plan moves are
    /// exactly these (and those a drain of the node evicts).
    pub fn moves_with_node(&self) -> bool {
        self.is_active_on_node() && !self.is_daemonset_pod() && !self.is_mirror_pod()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn container(cpu_millis: u64, memory_bytes: u64, sidecar: bool) -> Container {
        Container {
            name: "c".into(),
            requests: Resources {
                cpu_millis,
                memory_bytes,
                ..Resources::ZERO
            },
            limits: Limits::default(),
            sidecar,
        }
    }

    #[test]
    fn limits_get_reads_each_dimension() {
        let limits = Limits {
            cpu_millis: Some(500),
            memory_bytes: None,
            gpu_millis: Some(1000),
            ephemeral_storage_bytes: Some(1 << 30),
        };
        assert_eq!(limits.get(Dimension::Cpu), Some(500));
        assert_eq!(limits.get(Dimension::Memory), None);
        assert_eq!(limits.get(Dimension::Gpu), Some(1000));
        assert_eq!(limits.get(Dimension::EphemeralStorage), Some(1 << 30));
        assert_eq!(limits.get(Dimension::Pods), None);
        assert!(Dimension::ALL
            .into_iter()
            .all(|d| Limits::default().get(d).is_none()));
    }

    fn pod() -> Pod {
        Pod {
            namespace: "ns".into(),
            name: "p".into(),
            uid: None,
            controller: None,
            owner: None,
            node_name: None,
            phase: PodPhase::Pending,
            priority: 0,
            priority_class_name: None,
            containers: vec![],
            init_containers: vec![],
            overhead: Resources::ZERO,
            labels: Labels::new(),
            annotations: Labels::new(),
            tolerations: vec![],
            node_selector: Labels::new(),
            node_affinity: NodeAffinity::default(),
            pod_affinity: PodAffinity::default(),
            topology_spread: vec![],
            volumes: vec![],
            container_statuses: vec![],
            created_at: None,
        }
    }

    #[test]
    fn requests_follow_kubernetes_init_and_sidecar_rules() {
        let pod = Pod {
            containers: vec![container(100, 100, false), container(200, 50, false)],
            init_containers: vec![container(50, 10, true), container(500, 20, false)],
            overhead: Resources {
                cpu_millis: 10,
                ..Resources::ZERO
            },
            ..pod()
        };
        let r = pod.requests();
        // cpu: max(50 + 500, 50 + 100 + 200) + 10; memory: max(10 + 20, 10 + 150)
        assert_eq!(r.cpu_millis, 560);
        assert_eq!(r.memory_bytes, 160);
        assert_eq!(r.pods, 1);
    }

    #[test]
    fn do_not_disrupt_ignores_case_and_surrounding_whitespace() {
        let annotated =
            |key: &str, value: &str| -> Labels { [(key.to_owned(), value.to_owned())].into() };
        for key in DO_NOT_DISRUPT_ANNOTATIONS {
            for yes in ["true", " True ", "TRUE", "\ttrue\n"] {
                assert!(is_do_not_disrupt(&annotated(key, yes)), "{key}: {yes:?}");
            }
            for no in ["false", "", " ", "yes", "1", "truee", "t rue"] {
                assert!(!is_do_not_disrupt(&annotated(key, no)), "{key}: {no:?}");
            }
        }
        assert!(!is_do_not_disrupt(&annotated(
            "example.com/do-not-disrupt",
            "true"
        )));
        let pod = Pod {
            annotations: annotated("karpenter.sh/do-not-disrupt", " True "),
            ..pod()
        };
        assert!(pod.do_not_disrupt());
    }

    #[test]
    fn only_active_pods_of_no_daemonset_and_no_kubelet_move_with_their_node() {
        let running = Pod {
            node_name: Some("n0".into()),
            phase: PodPhase::Running,
            controller: Some(OwnerRef {
                kind: "ReplicaSet".into(),
                name: "web-1".into(),
            }),
            ..pod()
        };
        assert!(running.moves_with_node());
        // Bare and pending-but-bound pods move too: whether they may is another question.
        assert!(Pod {
            controller: None,
            phase: PodPhase::Pending,
            ..running.clone()
        }
        .moves_with_node());
        assert!(!Pod {
            node_name: None,
            ..running.clone()
        }
        .moves_with_node());
        for phase in [PodPhase::Succeeded, PodPhase::Failed] {
            assert!(!Pod {
                phase,
                ..running.clone()
            }
            .moves_with_node());
        }
        assert!(!Pod {
            controller: Some(OwnerRef {
                kind: "DaemonSet".into(),
                name: "node-exporter".into(),
            }),
            ..running.clone()
        }
        .moves_with_node());
        assert!(!Pod {
            annotations: [("kubernetes.io/config.mirror".to_owned(), "abc".to_owned())].into(),
            ..running
        }
        .moves_with_node());
    }
}
