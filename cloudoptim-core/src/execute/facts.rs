//! What an executor observed, and every precondition judged against it.
//!
//! A [`Precondition`] names the [`Fact`]s it depends on
//! ([`Precondition::facts`]); an executor observes each one into an
//! [`Observation`] made of the core's own types (a [`Node`], a [`Pod`], an
//! [`Instance`], …), and [`Precondition::evaluate`] decides, here and only
//! here, whether the step may run. Adapters never judge a precondition
//! themselves: they fetch, convert and apply. A fact nobody observed is
//! [`Unmet::NotObserved`]: the check fails closed.

use std::collections::BTreeMap;

use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};

use crate::inventory::{tags, AutoScalingGroup, Instance, InstanceState, Volume, VolumeState};
use crate::plan::{Precondition, Resource, WorkloadRef};
use crate::snapshot::{is_true_annotation, Node, Pod, PodDisruptionBudget, Service, Workload};

/// Something an executor can be asked about the world, now.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(tag = "fact", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Fact {
    /// A Node object, by name.
    Node {
        /// Node name.
        name: String,
    },
    /// A pod, by namespace and name.
    Pod {
        /// Namespace.
        namespace: String,
        /// Name.
        name: String,
    },
    /// A PodDisruptionBudget with its status.
    Pdb {
        /// Namespace.
        namespace: String,
        /// Name.
        name: String,
    },
    /// Every pod bound to a node.
    PodsOnNode {
        /// Node name.
        node: String,
    },
    /// The Node object (if any) an EC2 instance backs.
    NodeOfInstance {
        /// Instance id.
        instance_id: String,
    },
    /// An EC2 instance.
    Instance {
        /// Instance id.
        instance_id: String,
    },
    /// An EBS volume.
    Volume {
        /// Volume id.
        volume_id: String,
    },
    /// The PersistentVolume or claim (if any) that refers to an EBS volume.
    VolumeClaim {
        /// Volume id.
        volume_id: String,
    },
    /// Completed snapshots of an EBS volume.
    VolumeSnapshots {
        /// Volume id.
        volume_id: String,
    },
    /// A workload controller.
    Workload(WorkloadRef),
    /// A Service.
    Service {
        /// Namespace.
        namespace: String,
        /// Name.
        name: String,
    },
    /// An Auto Scaling group.
    AutoScalingGroup {
        /// Group name.
        name: String,
    },
}

impl std::fmt::Display for Fact {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Fact::Node { name } => write!(f, "node {name}"),
            Fact::Pod { namespace, name } => write!(f, "pod {namespace}/{name}"),
            Fact::Pdb { namespace, name } => write!(f, "PDB {namespace}/{name}"),
            Fact::PodsOnNode { node } => write!(f, "the pods on node {node}"),
            Fact::NodeOfInstance { instance_id } => write!(f, "the node of instance {instance_id}"),
            Fact::Instance { instance_id } => write!(f, "instance {instance_id}"),
            Fact::Volume { volume_id } => write!(f, "volume {volume_id}"),
            Fact::VolumeClaim { volume_id } => write!(f, "the claim on volume {volume_id}"),
            Fact::VolumeSnapshots { volume_id } => write!(f, "the snapshots of volume {volume_id}"),
            Fact::Workload(w) => write!(f, "{} {}/{}", w.kind, w.namespace, w.name),
            Fact::Service { namespace, name } => write!(f, "Service {namespace}/{name}"),
            Fact::AutoScalingGroup { name } => write!(f, "Auto Scaling group {name}"),
        }
    }
}

/// What an executor saw when it observed a [`Fact`]: `None` where the
/// object does not exist.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "observation", content = "value", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Observation {
    /// For [`Fact::Node`].
    Node(Option<Box<Node>>),
    /// For [`Fact::Pod`].
    Pod(Option<Box<Pod>>),
    /// For [`Fact::Pdb`].
    Pdb(Option<Box<PodDisruptionBudget>>),
    /// For [`Fact::PodsOnNode`]: every pod bound to the node.
    PodsOnNode(Vec<Pod>),
    /// For [`Fact::NodeOfInstance`]: the node's name.
    NodeOfInstance(Option<String>),
    /// For [`Fact::Instance`].
    Instance(Option<Box<Instance>>),
    /// For [`Fact::Volume`].
    Volume(Option<Box<Volume>>),
    /// For [`Fact::VolumeClaim`]: what refers to the volume
    /// (`pv/NAME` or `pvc/NAMESPACE/NAME`).
    VolumeClaim(Option<String>),
    /// For [`Fact::VolumeSnapshots`]: how many completed snapshots exist.
    VolumeSnapshots(u32),
    /// For [`Fact::Workload`].
    Workload(Option<Box<Workload>>),
    /// For [`Fact::Service`].
    Service(Option<Box<Service>>),
    /// For [`Fact::AutoScalingGroup`].
    AutoScalingGroup(Option<Box<AutoScalingGroup>>),
}

/// Observations gathered for one step.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Facts {
    observed: BTreeMap<Fact, Observation>,
}

impl Facts {
    /// No observations.
    pub fn new() -> Facts {
        Facts::default()
    }

    /// Record what was observed of `fact`.
    pub fn insert(&mut self, fact: Fact, observation: Observation) {
        self.observed.insert(fact, observation);
    }

    /// What was observed of `fact`, if it was.
    pub fn get(&self, fact: &Fact) -> Option<&Observation> {
        self.observed.get(fact)
    }

    /// Whether `fact` was observed.
    pub fn contains(&self, fact: &Fact) -> bool {
        self.observed.contains_key(fact)
    }
}

/// Why a precondition does not hold.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(tag = "unmet", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Unmet {
    /// Nobody observed what the check needs: it fails closed.
    #[error("{fact} was not observed (no executor could tell), so the check fails closed")]
    NotObserved {
        /// The fact.
        fact: String,
    },
    /// The node is gone.
    #[error("node {node} no longer exists")]
    NodeGone {
        /// Node name.
        node: String,
    },
    /// The pod is gone.
    #[error("pod {pod} no longer exists")]
    PodGone {
        /// `namespace/name`.
        pod: String,
    },
    /// The pod runs elsewhere now.
    #[error("pod {pod} is no longer on node {node}")]
    PodMoved {
        /// `namespace/name`.
        pod: String,
        /// The node the plan expected.
        node: String,
    },
    /// The pod is now annotated do-not-disrupt.
    #[error("pod {pod} is annotated do-not-disrupt")]
    PodDoNotDisrupt {
        /// `namespace/name`.
        pod: String,
    },
    /// The PDB allows no disruption now.
    #[error("PDB {pdb} allows no disruption now")]
    PdbExhausted {
        /// `namespace/name`.
        pdb: String,
    },
    /// Pods that must move are still on the node.
    #[error("node {node} still runs {} pod(s) that must move first: {}", pods.len(), pods.join(", "))]
    NodeNotDrained {
        /// Node name.
        node: String,
        /// `namespace/name` of each.
        pods: Vec<String>,
    },
    /// The instance backs a node of the cluster.
    #[error("instance {instance_id} backs node {node} of the cluster")]
    InstanceInCluster {
        /// Instance id.
        instance_id: String,
        /// The node.
        node: String,
    },
    /// The volume is attached.
    #[error("volume {volume_id} is {state} (attached to {})", if attached_to.is_empty() { "nothing".to_owned() } else { attached_to.join(", ") })]
    VolumeInUse {
        /// Volume id.
        volume_id: String,
        /// Its state.
        state: String,
        /// Instances it is attached to.
        attached_to: Vec<String>,
    },
    /// The volume is gone.
    #[error("volume {volume_id} no longer exists")]
    VolumeGone {
        /// Volume id.
        volume_id: String,
    },
    /// Something in the cluster refers to the volume.
    #[error("volume {volume_id} is claimed by {by}")]
    VolumeClaimed {
        /// Volume id.
        volume_id: String,
        /// `pv/NAME` or `pvc/NAMESPACE/NAME`.
        by: String,
    },
    /// No completed snapshot of the volume.
    #[error("volume {volume_id} has no completed snapshot")]
    VolumeNotSnapshotted {
        /// Volume id.
        volume_id: String,
    },
    /// The resource is protected (tag `cloudoptim.io/protect=true`, or a
    /// node annotated do-not-disrupt or protect).
    #[error("{resource} is protected: {why}")]
    Protected {
        /// The resource.
        resource: String,
        /// Which tag or annotation.
        why: String,
    },
    /// The grace period has not elapsed yet.
    #[error("the grace period runs until {until}")]
    GracePeriodRunning {
        /// When it ends.
        until: Timestamp,
    },
    /// The deadline has passed.
    #[error("its deadline {deadline} has passed")]
    DeadlinePassed {
        /// The deadline.
        deadline: Timestamp,
    },
    /// The workload is gone.
    #[error("{workload} no longer exists")]
    WorkloadGone {
        /// `Kind namespace/name`.
        workload: String,
    },
    /// The workload's replica count changed since the plan was made.
    #[error(
        "{workload} has {found} replicas, not {expected}: the plan was made for another state"
    )]
    ReplicasChanged {
        /// `Kind namespace/name`.
        workload: String,
        /// What the plan expected.
        expected: u32,
        /// What there is.
        found: u32,
    },
    /// The workload's template has no such container any more.
    #[error("{workload} has no container {container}")]
    ContainerGone {
        /// `Kind namespace/name`.
        workload: String,
        /// Container name.
        container: String,
    },
    /// A template container's memory changed since the plan was made.
    #[error(
        "{workload} container {container} has memory request {found_request} and limit {found_limit}, \
         not {expected_request} and {expected_limit}: the plan was made for another state"
    )]
    ContainerMemoryChanged {
        /// `Kind namespace/name`.
        workload: String,
        /// Container name.
        container: String,
        /// Request the plan expected, bytes.
        expected_request: u64,
        /// Limit the plan expected (`none` when unset), as text.
        expected_limit: String,
        /// Request there is, bytes.
        found_request: u64,
        /// Limit there is, as text.
        found_limit: String,
    },
    /// The container's CPU request or limit changed since the plan was made.
    #[error(
        "container {container} of {workload} has CPU request {found_request}m and limit {found_limit}, \
         not {expected_request}m and {expected_limit}: the plan was made for another state"
    )]
    ContainerCpuChanged {
        /// `Kind namespace/name`.
        workload: String,
        /// Container name.
        container: String,
        /// Request the plan expected, millicores.
        expected_request: u64,
        /// Limit the plan expected (`none` when unset), as text.
        expected_limit: String,
        /// Request there is, millicores.
        found_request: u64,
        /// Limit there is, as text.
        found_limit: String,
    },
    /// A field of the controller's pod template changed since the plan was
    /// made.
    #[error("{workload} changed its {field} since the plan was made")]
    TemplateChanged {
        /// `Kind namespace/name`.
        workload: String,
        /// The field.
        field: String,
    },
    /// The instance or volume is gone.
    #[error("{resource} no longer exists")]
    ResourceGone {
        /// The resource.
        resource: String,
    },
    /// A tag changed since the plan was made.
    #[error(
        "{resource} has tag {key}={found:?}, not {expected:?}: the plan was made for another state"
    )]
    TagChanged {
        /// The resource.
        resource: String,
        /// Tag key.
        key: String,
        /// What the plan expected (`None`: absent).
        expected: Option<String>,
        /// What there is.
        found: Option<String>,
    },
    /// The Service is gone.
    #[error("Service {service} no longer exists")]
    ServiceGone {
        /// `namespace/name`.
        service: String,
    },
    /// The Service's `spec.trafficDistribution` changed since the plan was
    /// made.
    #[error("Service {service} has trafficDistribution {found:?}, not {expected:?}: the plan was made for another state")]
    TrafficDistributionChanged {
        /// `namespace/name`.
        service: String,
        /// What the plan expected.
        expected: Option<String>,
        /// What there is.
        found: Option<String>,
    },
    /// The CronJob's `spec.suspend` changed since the plan was made.
    #[error("{workload} has suspend={found}, not {expected}: the plan was made for another state")]
    SuspendChanged {
        /// `Kind namespace/name`.
        workload: String,
        /// What the plan expected.
        expected: bool,
        /// What there is.
        found: bool,
    },
    /// The Auto Scaling group cannot shrink below its minimum.
    #[error("Auto Scaling group {group} is at its minimum size ({min_size}): removing an instance would make it launch another")]
    GroupAtMinimum {
        /// Group name.
        group: String,
        /// Its minimum size.
        min_size: u32,
    },
    /// The instance is in a lifecycle-hook wait or warm pool.
    #[error(
        "instance {instance_id} is in a lifecycle wait or warm pool of Auto Scaling group {group}"
    )]
    InLifecycleWait {
        /// Instance id.
        instance_id: String,
        /// Group name.
        group: String,
    },
    /// The Auto Scaling group is gone.
    #[error("Auto Scaling group {group} no longer exists")]
    GroupGone {
        /// Group name.
        group: String,
    },
    /// The instance is no longer in the Auto Scaling group.
    #[error("instance {instance_id} is no longer in Auto Scaling group {group}")]
    NotInGroup {
        /// Instance id.
        instance_id: String,
        /// Group name.
        group: String,
    },
}

impl Precondition {
    /// The facts this precondition is judged on (none for checks of time).
    pub fn facts(&self) -> Vec<Fact> {
        match self {
            Precondition::NodeExists { node } => vec![Fact::Node { name: node.clone() }],
            Precondition::PodOnNode { namespace, pod, .. }
            | Precondition::PodDisruptable { namespace, pod } => vec![Fact::Pod {
                namespace: namespace.clone(),
                name: pod.clone(),
            }],
            Precondition::PdbAllows { namespace, name } => vec![Fact::Pdb {
                namespace: namespace.clone(),
                name: name.clone(),
            }],
            Precondition::NodeDrained { node } => vec![Fact::PodsOnNode { node: node.clone() }],
            Precondition::InstanceNotInCluster { instance_id } => vec![Fact::NodeOfInstance {
                instance_id: instance_id.clone(),
            }],
            Precondition::VolumeUnattached { volume_id } => vec![Fact::Volume {
                volume_id: volume_id.clone(),
            }],
            Precondition::VolumeUnclaimed { volume_id } => vec![Fact::VolumeClaim {
                volume_id: volume_id.clone(),
            }],
            Precondition::VolumeSnapshotted { volume_id } => vec![Fact::VolumeSnapshots {
                volume_id: volume_id.clone(),
            }],
            Precondition::NotProtected { resource } | Precondition::TagIs { resource, .. } => {
                vec![resource.fact()]
            }
            Precondition::GracePeriodElapsed { .. } | Precondition::Before { .. } => vec![],
            Precondition::ReplicasAre { workload, .. }
            | Precondition::ContainerMemoryIs { workload, .. }
            | Precondition::ContainerCpuIs { workload, .. }
            | Precondition::CronJobSuspendIs { workload, .. }
            | Precondition::PreferredNodeAffinityIs { workload, .. } => {
                vec![Fact::Workload(workload.clone())]
            }
            Precondition::TrafficDistributionIs {
                namespace, service, ..
            } => vec![Fact::Service {
                namespace: namespace.clone(),
                name: service.clone(),
            }],
            Precondition::GroupCanShrink { group, .. }
            | Precondition::NotInLifecycleWait { group, .. } => vec![Fact::AutoScalingGroup {
                name: group.clone(),
            }],
        }
    }

    /// Whether the precondition holds, judged on `facts` at `now`. A fact
    /// it needs that is missing from `facts` fails the check.
    ///
    /// ```
    /// use cloudoptim_core::execute::{Fact, Facts, Observation, Unmet};
    /// use cloudoptim_core::Precondition;
    ///
    /// let now = "2026-12-01T12:00:00Z".parse().unwrap();
    /// let check = Precondition::NodeExists { node: "n1".into() };
    /// // Nobody looked: fails closed.
    /// assert!(matches!(check.evaluate(&Facts::new(), now), Err(Unmet::NotObserved { .. })));
    /// let mut facts = Facts::new();
    /// facts.insert(Fact::Node { name: "n1".into() }, Observation::Node(None));
    /// assert_eq!(check.evaluate(&facts, now), Err(Unmet::NodeGone { node: "n1".into() }));
    /// ```
    pub fn evaluate(&self, facts: &Facts, now: Timestamp) -> Result<(), Unmet> {
        let fact = |f: Fact| -> Result<&Observation, Unmet> {
            facts.get(&f).ok_or_else(|| Unmet::NotObserved {
                fact: f.to_string(),
            })
        };
        // A fact answered with the wrong kind of observation counts as not observed.
        let wrong = |f: Fact| Unmet::NotObserved {
            fact: f.to_string(),
        };
        match self {
            Precondition::NodeExists { node } => {
                let f = Fact::Node { name: node.clone() };
                match fact(f.clone())? {
                    Observation::Node(Some(_)) => Ok(()),
                    Observation::Node(None) => Err(Unmet::NodeGone { node: node.clone() }),
                    _ => Err(wrong(f)),
                }
            }
            Precondition::PodOnNode {
                namespace,
                pod,
                node,
            } => {
                let key = format!("{namespace}/{pod}");
                let f = Fact::Pod {
                    namespace: namespace.clone(),
                    name: pod.clone(),
                };
                match fact(f.clone())? {
                    Observation::Pod(None) => Err(Unmet::PodGone { pod: key }),
                    Observation::Pod(Some(p))
                        if p.node_name.as_deref() != Some(node.as_str())
                            || p.phase.is_terminal() =>
                    {
                        Err(Unmet::PodMoved {
                            pod: key,
                            node: node.clone(),
                        })
                    }
                    Observation::Pod(Some(_)) => Ok(()),
                    _ => Err(wrong(f)),
                }
            }
            Precondition::PodDisruptable { namespace, pod } => {
                let f = Fact::Pod {
                    namespace: namespace.clone(),
                    name: pod.clone(),
                };
                match fact(f.clone())? {
                    // A pod that is gone needs no protecting.
                    Observation::Pod(None) => Ok(()),
                    Observation::Pod(Some(p)) if p.do_not_disrupt() => {
                        Err(Unmet::PodDoNotDisrupt { pod: p.key() })
                    }
                    Observation::Pod(Some(_)) => Ok(()),
                    _ => Err(wrong(f)),
                }
            }
            Precondition::PdbAllows { namespace, name } => {
                let f = Fact::Pdb {
                    namespace: namespace.clone(),
                    name: name.clone(),
                };
                match fact(f.clone())? {
                    // A budget that was deleted protects nothing any more.
                    Observation::Pdb(None) => Ok(()),
                    Observation::Pdb(Some(b)) if b.disruptions_allowed == 0 => {
                        Err(Unmet::PdbExhausted {
                            pdb: format!("{namespace}/{name}"),
                        })
                    }
                    Observation::Pdb(Some(_)) => Ok(()),
                    _ => Err(wrong(f)),
                }
            }
            Precondition::NodeDrained { node } => {
                let f = Fact::PodsOnNode { node: node.clone() };
                match fact(f.clone())? {
                    Observation::PodsOnNode(pods) => {
                        let left: Vec<String> = pods
                            .iter()
                            .filter(|p| p.moves_with_node())
                            .map(Pod::key)
                            .collect();
                        if left.is_empty() {
                            Ok(())
                        } else {
                            Err(Unmet::NodeNotDrained {
                                node: node.clone(),
                                pods: left,
                            })
                        }
                    }
                    _ => Err(wrong(f)),
                }
            }
            Precondition::InstanceNotInCluster { instance_id } => {
                let f = Fact::NodeOfInstance {
                    instance_id: instance_id.clone(),
                };
                match fact(f.clone())? {
                    Observation::NodeOfInstance(None) => Ok(()),
                    Observation::NodeOfInstance(Some(node)) => Err(Unmet::InstanceInCluster {
                        instance_id: instance_id.clone(),
                        node: node.clone(),
                    }),
                    _ => Err(wrong(f)),
                }
            }
            Precondition::VolumeUnattached { volume_id } => {
                let f = Fact::Volume {
                    volume_id: volume_id.clone(),
                };
                match fact(f.clone())? {
                    Observation::Volume(None) => Err(Unmet::VolumeGone {
                        volume_id: volume_id.clone(),
                    }),
                    Observation::Volume(Some(v))
                        if v.state == VolumeState::Available
                            && v.attached_instance_ids.is_empty() =>
                    {
                        Ok(())
                    }
                    Observation::Volume(Some(v)) => Err(Unmet::VolumeInUse {
                        volume_id: volume_id.clone(),
                        state: format!("{:?}", v.state).to_lowercase(),
                        attached_to: v.attached_instance_ids.clone(),
                    }),
                    _ => Err(wrong(f)),
                }
            }
            Precondition::VolumeUnclaimed { volume_id } => {
                let f = Fact::VolumeClaim {
                    volume_id: volume_id.clone(),
                };
                match fact(f.clone())? {
                    Observation::VolumeClaim(None) => Ok(()),
                    Observation::VolumeClaim(Some(by)) => Err(Unmet::VolumeClaimed {
                        volume_id: volume_id.clone(),
                        by: by.clone(),
                    }),
                    _ => Err(wrong(f)),
                }
            }
            Precondition::VolumeSnapshotted { volume_id } => {
                let f = Fact::VolumeSnapshots {
                    volume_id: volume_id.clone(),
                };
                match fact(f.clone())? {
                    Observation::VolumeSnapshots(0) => Err(Unmet::VolumeNotSnapshotted {
                        volume_id: volume_id.clone(),
                    }),
                    Observation::VolumeSnapshots(_) => Ok(()),
                    _ => Err(wrong(f)),
                }
            }
            Precondition::NotProtected { resource } => {
                let f = resource.fact();
                let observation = fact(f.clone())?;
                match protection(resource, observation) {
                    Some(Ok(())) => Ok(()),
                    Some(Err(why)) => Err(Unmet::Protected {
                        resource: resource.to_string(),
                        why,
                    }),
                    None => Err(wrong(f)),
                }
            }
            Precondition::TagIs {
                resource,
                key,
                value,
            } => {
                let f = resource.fact();
                let found = match fact(f.clone())? {
                    Observation::Instance(Some(i)) => i.tags.get(key).cloned(),
                    Observation::Volume(Some(v)) => v.tags.get(key).cloned(),
                    Observation::Instance(None) | Observation::Volume(None) => {
                        return Err(Unmet::ResourceGone {
                            resource: resource.to_string(),
                        })
                    }
                    _ => return Err(wrong(f)),
                };
                if &found == value {
                    Ok(())
                } else {
                    Err(Unmet::TagChanged {
                        resource: resource.to_string(),
                        key: key.clone(),
                        expected: value.clone(),
                        found,
                    })
                }
            }
            Precondition::GracePeriodElapsed {
                since,
                grace_seconds,
            } => {
                let grace =
                    SignedDuration::from_secs(i64::try_from(*grace_seconds).unwrap_or(i64::MAX));
                let until = since.checked_add(grace).unwrap_or(Timestamp::MAX);
                if now >= until {
                    Ok(())
                } else {
                    Err(Unmet::GracePeriodRunning { until })
                }
            }
            Precondition::Before { deadline } => {
                if now <= *deadline {
                    Ok(())
                } else {
                    Err(Unmet::DeadlinePassed {
                        deadline: *deadline,
                    })
                }
            }
            Precondition::ReplicasAre { workload, replicas } => {
                let key = format!("{} {}/{}", workload.kind, workload.namespace, workload.name);
                let f = Fact::Workload(workload.clone());
                match fact(f.clone())? {
                    Observation::Workload(None) => Err(Unmet::WorkloadGone { workload: key }),
                    Observation::Workload(Some(w)) => {
                        // `spec.replicas` left out means 1, as the API server defaults it.
                        let found = w.replicas.unwrap_or(1);
                        if found == *replicas {
                            Ok(())
                        } else {
                            Err(Unmet::ReplicasChanged {
                                workload: key,
                                expected: *replicas,
                                found,
                            })
                        }
                    }
                    _ => Err(wrong(f)),
                }
            }
            Precondition::ContainerMemoryIs {
                workload,
                container,
                request_bytes,
                limit_bytes,
            } => {
                let key = format!("{} {}/{}", workload.kind, workload.namespace, workload.name);
                let f = Fact::Workload(workload.clone());
                match fact(f.clone())? {
                    Observation::Workload(None) => Err(Unmet::WorkloadGone { workload: key }),
                    Observation::Workload(Some(w)) => {
                        let Some(c) = w.template.containers.iter().find(|c| &c.name == container)
                        else {
                            return Err(Unmet::ContainerGone {
                                workload: key,
                                container: container.clone(),
                            });
                        };
                        let (found_request, found_limit) =
                            (c.requests.memory_bytes, c.limits.memory_bytes);
                        if found_request == *request_bytes && found_limit == *limit_bytes {
                            Ok(())
                        } else {
                            let text =
                                |l: Option<u64>| l.map_or("none".to_owned(), |b| b.to_string());
                            Err(Unmet::ContainerMemoryChanged {
                                workload: key,
                                container: container.clone(),
                                expected_request: *request_bytes,
                                expected_limit: text(*limit_bytes),
                                found_request,
                                found_limit: text(found_limit),
                            })
                        }
                    }
                    _ => Err(wrong(f)),
                }
            }
            Precondition::ContainerCpuIs {
                workload,
                container,
                request_millis,
                limit_millis,
            } => {
                let key = format!("{} {}/{}", workload.kind, workload.namespace, workload.name);
                let f = Fact::Workload(workload.clone());
                match fact(f.clone())? {
                    Observation::Workload(None) => Err(Unmet::WorkloadGone { workload: key }),
                    Observation::Workload(Some(w)) => {
                        let Some(c) = w.template.containers.iter().find(|c| &c.name == container)
                        else {
                            return Err(Unmet::ContainerGone {
                                workload: key,
                                container: container.clone(),
                            });
                        };
                        let (found_request, found_limit) =
                            (c.requests.cpu_millis, c.limits.cpu_millis);
                        if found_request == *request_millis && found_limit == *limit_millis {
                            Ok(())
                        } else {
                            let text =
                                |l: Option<u64>| l.map_or("none".to_owned(), |m| format!("{m}m"));
                            Err(Unmet::ContainerCpuChanged {
                                workload: key,
                                container: container.clone(),
                                expected_request: *request_millis,
                                expected_limit: text(*limit_millis),
                                found_request,
                                found_limit: text(found_limit),
                            })
                        }
                    }
                    _ => Err(wrong(f)),
                }
            }
            Precondition::CronJobSuspendIs {
                workload,
                suspended,
            } => {
                let key = format!("{} {}/{}", workload.kind, workload.namespace, workload.name);
                let f = Fact::Workload(workload.clone());
                match fact(f.clone())? {
                    Observation::Workload(None) => Err(Unmet::WorkloadGone { workload: key }),
                    Observation::Workload(Some(w)) if w.suspend == *suspended => Ok(()),
                    Observation::Workload(Some(w)) => Err(Unmet::SuspendChanged {
                        workload: key,
                        expected: *suspended,
                        found: w.suspend,
                    }),
                    _ => Err(wrong(f)),
                }
            }
            Precondition::PreferredNodeAffinityIs {
                workload,
                preferred,
            } => {
                let key = format!("{} {}/{}", workload.kind, workload.namespace, workload.name);
                let f = Fact::Workload(workload.clone());
                match fact(f.clone())? {
                    Observation::Workload(None) => Err(Unmet::WorkloadGone { workload: key }),
                    Observation::Workload(Some(w)) => {
                        if &w.template.node_affinity.preferred == preferred {
                            Ok(())
                        } else {
                            Err(Unmet::TemplateChanged {
                                workload: key,
                                field: "template's preferred node affinity".into(),
                            })
                        }
                    }
                    _ => Err(wrong(f)),
                }
            }
            Precondition::TrafficDistributionIs {
                namespace,
                service,
                value,
            } => {
                let f = Fact::Service {
                    namespace: namespace.clone(),
                    name: service.clone(),
                };
                let key = format!("{namespace}/{service}");
                match fact(f.clone())? {
                    Observation::Service(None) => Err(Unmet::ServiceGone { service: key }),
                    Observation::Service(Some(s)) if &s.traffic_distribution == value => Ok(()),
                    Observation::Service(Some(s)) => Err(Unmet::TrafficDistributionChanged {
                        service: key,
                        expected: value.clone(),
                        found: s.traffic_distribution.clone(),
                    }),
                    _ => Err(wrong(f)),
                }
            }
            Precondition::GroupCanShrink { group, instance_id } => {
                let f = Fact::AutoScalingGroup {
                    name: group.clone(),
                };
                match fact(f.clone())? {
                    Observation::AutoScalingGroup(None) => Err(Unmet::GroupGone {
                        group: group.clone(),
                    }),
                    Observation::AutoScalingGroup(Some(g))
                        if !g.instance_ids.iter().any(|i| i == instance_id) =>
                    {
                        Err(Unmet::NotInGroup {
                            instance_id: instance_id.clone(),
                            group: group.clone(),
                        })
                    }
                    Observation::AutoScalingGroup(Some(g)) if !g.can_shrink() => {
                        Err(Unmet::GroupAtMinimum {
                            group: group.clone(),
                            min_size: g.min_size,
                        })
                    }
                    Observation::AutoScalingGroup(Some(_)) => Ok(()),
                    _ => Err(wrong(f)),
                }
            }
            Precondition::NotInLifecycleWait { group, instance_id } => {
                let f = Fact::AutoScalingGroup {
                    name: group.clone(),
                };
                match fact(f.clone())? {
                    Observation::AutoScalingGroup(Some(g)) if g.in_lifecycle_wait(instance_id) => {
                        Err(Unmet::InLifecycleWait {
                            instance_id: instance_id.clone(),
                            group: group.clone(),
                        })
                    }
                    Observation::AutoScalingGroup(_) => Ok(()),
                    _ => Err(wrong(f)),
                }
            }
        }
    }

    /// Whether an earlier step `action` of the same plan is what makes
    /// this precondition true (a drain empties its node, a snapshot step
    /// snapshots its volume). In a dry run such a precondition cannot hold
    /// yet, and is reported as relying on that step instead of failing.
    pub fn established_by(&self, action: &crate::plan::Action) -> bool {
        use crate::plan::Action;
        match (self, action) {
            (Precondition::NodeDrained { node }, Action::Drain { node: n })
            | (Precondition::NodeDrained { node }, Action::Evict { node: n, .. }) => node == n,
            (
                Precondition::VolumeSnapshotted { volume_id },
                Action::SnapshotVolume { volume_id: v },
            ) => volume_id == v,
            (
                Precondition::InstanceNotInCluster { instance_id },
                Action::TerminateInstance { instance_id: i, .. },
            ) => instance_id == i,
            _ => false,
        }
    }
}

/// `Some(Ok)` when `resource` is not protected, `Some(Err(why))` when it
/// is, `None` when the observation is not about it.
fn protection(resource: &Resource, observation: &Observation) -> Option<Result<(), String>> {
    let tagged = |t: &crate::inventory::Tags| match t.get(tags::PROTECT) {
        Some(v) if is_true_annotation(v) => Err(format!("tagged {}={v}", tags::PROTECT)),
        _ => Ok(()),
    };
    Some(match (resource, observation) {
        // A node that is gone is no longer protected by anything.
        (Resource::Node { .. }, Observation::Node(None)) => Ok(()),
        (Resource::Node { .. }, Observation::Node(Some(node))) => {
            if node.do_not_disrupt() {
                Err("annotated do-not-disrupt".to_owned())
            } else if let Some(v) = node
                .annotations
                .get(tags::PROTECT)
                .or_else(|| node.labels.get(tags::PROTECT))
                .filter(|v| is_true_annotation(v))
            {
                Err(format!("marked {}={v}", tags::PROTECT))
            } else {
                Ok(())
            }
        }
        (Resource::Instance { .. }, Observation::Instance(None)) => Ok(()),
        (Resource::Instance { .. }, Observation::Instance(Some(i))) => {
            if matches!(i.state, InstanceState::Terminated) {
                Ok(())
            } else {
                tagged(&i.tags)
            }
        }
        (Resource::Volume { .. }, Observation::Volume(None)) => Ok(()),
        (Resource::Volume { .. }, Observation::Volume(Some(v))) => tagged(&v.tags),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::Action;

    fn demo() -> crate::demo::DemoEnvironment {
        crate::demo::DemoEnvironment::generate(
            &crate::demo::DemoConfig::default(),
            crate::catalog::Catalog::embedded().unwrap(),
        )
        .unwrap()
    }

    fn now() -> Timestamp {
        "2026-12-01T12:00:00Z".parse().unwrap()
    }

    #[test]
    fn every_check_fails_closed_without_its_facts() {
        let checks = vec![
            Precondition::NodeExists { node: "n".into() },
            Precondition::PodOnNode {
                namespace: "a".into(),
                pod: "p".into(),
                node: "n".into(),
            },
            Precondition::PodDisruptable {
                namespace: "a".into(),
                pod: "p".into(),
            },
            Precondition::PdbAllows {
                namespace: "a".into(),
                name: "b".into(),
            },
            Precondition::NodeDrained { node: "n".into() },
            Precondition::InstanceNotInCluster {
                instance_id: "i-1".into(),
            },
            Precondition::VolumeUnattached {
                volume_id: "vol-1".into(),
            },
            Precondition::VolumeUnclaimed {
                volume_id: "vol-1".into(),
            },
            Precondition::VolumeSnapshotted {
                volume_id: "vol-1".into(),
            },
            Precondition::NotProtected {
                resource: Resource::Node { name: "n".into() },
            },
            Precondition::NotProtected {
                resource: Resource::Instance {
                    instance_id: "i-1".into(),
                },
            },
            Precondition::ReplicasAre {
                workload: WorkloadRef {
                    kind: crate::snapshot::WorkloadKind::Deployment,
                    namespace: "a".into(),
                    name: "w".into(),
                },
                replicas: 2,
            },
            Precondition::ContainerMemoryIs {
                workload: WorkloadRef {
                    kind: crate::snapshot::WorkloadKind::Deployment,
                    namespace: "a".into(),
                    name: "w".into(),
                },
                container: "app".into(),
                request_bytes: 1 << 30,
                limit_bytes: None,
            },
            Precondition::ContainerCpuIs {
                workload: WorkloadRef {
                    kind: crate::snapshot::WorkloadKind::Deployment,
                    namespace: "a".into(),
                    name: "w".into(),
                },
                container: "app".into(),
                request_millis: 500,
                limit_millis: Some(1000),
            },
            Precondition::GroupCanShrink {
                group: "g".into(),
                instance_id: "i-1".into(),
            },
            Precondition::TagIs {
                resource: Resource::Volume {
                    volume_id: "vol-1".into(),
                },
                key: tags::DELETE_AFTER.into(),
                value: Some("2026-12-01T00:00:00Z".into()),
            },
            Precondition::PreferredNodeAffinityIs {
                workload: WorkloadRef {
                    kind: crate::snapshot::WorkloadKind::Deployment,
                    namespace: "a".into(),
                    name: "w".into(),
                },
                preferred: vec![],
            },
            Precondition::TrafficDistributionIs {
                namespace: "a".into(),
                service: "s".into(),
                value: None,
            },
        ];
        for check in checks {
            assert!(!check.facts().is_empty(), "{check:?}");
            assert!(
                matches!(
                    check.evaluate(&Facts::new(), now()),
                    Err(Unmet::NotObserved { .. })
                ),
                "{check:?}"
            );
            // An observation of the wrong kind is no answer either.
            let mut facts = Facts::new();
            for f in check.facts() {
                facts.insert(f, Observation::VolumeClaim(Some("x".into())));
            }
            if !matches!(check, Precondition::VolumeUnclaimed { .. }) {
                assert!(
                    matches!(
                        check.evaluate(&facts, now()),
                        Err(Unmet::NotObserved { .. })
                    ),
                    "{check:?}"
                );
            }
        }
    }

    #[test]
    fn a_tag_check_holds_only_on_the_value_the_plan_read() {
        let demo = demo();
        let mut volume = demo.aws.volumes[0].clone();
        let resource = Resource::Volume {
            volume_id: volume.volume_id.clone(),
        };
        let check = |value: Option<&str>| Precondition::TagIs {
            resource: resource.clone(),
            key: tags::DELETE_AFTER.into(),
            value: value.map(str::to_owned),
        };
        let facts = |v: Option<&Volume>| {
            let mut f = Facts::new();
            f.insert(
                resource.fact(),
                Observation::Volume(v.cloned().map(Box::new)),
            );
            f
        };
        volume.tags.remove(tags::DELETE_AFTER);
        assert_eq!(check(None).evaluate(&facts(Some(&volume)), now()), Ok(()));
        assert!(matches!(
            check(Some("2026-12-01T00:00:00Z")).evaluate(&facts(Some(&volume)), now()),
            Err(Unmet::TagChanged { found: None, .. })
        ));
        volume
            .tags
            .insert(tags::DELETE_AFTER.into(), "2026-12-09T00:00:00Z".into());
        assert!(matches!(
            check(Some("2026-12-01T00:00:00Z")).evaluate(&facts(Some(&volume)), now()),
            Err(Unmet::TagChanged { found: Some(_), .. })
        ));
        assert_eq!(
            check(Some("2026-12-09T00:00:00Z")).evaluate(&facts(Some(&volume)), now()),
            Ok(())
        );
        assert!(matches!(
            check(None).evaluate(&facts(None), now()),
            Err(Unmet::ResourceGone { .. })
        ));
    }

    #[test]
    fn time_checks_need_no_facts() {
        let before = Precondition::Before {
            deadline: now() + SignedDuration::from_secs(10),
        };
        assert_eq!(before.evaluate(&Facts::new(), now()), Ok(()));
        assert!(matches!(
            before.evaluate(&Facts::new(), now() + SignedDuration::from_secs(11)),
            Err(Unmet::DeadlinePassed { .. })
        ));
        let grace = Precondition::GracePeriodElapsed {
            since: now(),
            grace_seconds: 60,
        };
        assert!(matches!(
            grace.evaluate(&Facts::new(), now()),
            Err(Unmet::GracePeriodRunning { .. })
        ));
        assert_eq!(
            grace.evaluate(&Facts::new(), now() + SignedDuration::from_secs(60)),
            Ok(())
        );
        let huge = Precondition::GracePeriodElapsed {
            since: now(),
            grace_seconds: u64::MAX,
        };
        assert!(huge.evaluate(&Facts::new(), now()).is_err());
    }

    #[test]
    fn protection_reads_tags_and_node_annotations() {
        let demo = demo();
        let mut node = demo.snapshot.nodes[0].clone();
        let resource = Resource::Node {
            name: node.name.clone(),
        };
        let check = Precondition::NotProtected {
            resource: resource.clone(),
        };
        let judge = |node: &Node| {
            let mut facts = Facts::new();
            facts.insert(
                resource.fact(),
                Observation::Node(Some(Box::new(node.clone()))),
            );
            check.evaluate(&facts, now())
        };
        assert_eq!(judge(&node), Ok(()));
        node.annotations
            .insert("karpenter.sh/do-not-disrupt".into(), " True ".into());
        assert!(matches!(judge(&node), Err(Unmet::Protected { .. })));
        node.annotations.clear();
        node.labels.insert(tags::PROTECT.into(), "TRUE".into());
        assert!(matches!(judge(&node), Err(Unmet::Protected { .. })));

        let mut instance = demo.aws.instances[0].clone();
        let resource = Resource::Instance {
            instance_id: instance.instance_id.clone(),
        };
        let check = Precondition::NotProtected {
            resource: resource.clone(),
        };
        let judge = |i: &Instance| {
            let mut facts = Facts::new();
            facts.insert(
                resource.fact(),
                Observation::Instance(Some(Box::new(i.clone()))),
            );
            check.evaluate(&facts, now())
        };
        assert_eq!(judge(&instance), Ok(()));
        instance.tags.insert(tags::PROTECT.into(), "true".into());
        assert!(matches!(judge(&instance), Err(Unmet::Protected { .. })));
    }

    #[test]
    fn drained_means_no_pod_that_moves_with_the_node() {
        let demo = demo();
        let node = demo
            .snapshot
            .nodes
            .iter()
            .find(|n| demo.snapshot.pods_on(&n.name).any(|p| p.moves_with_node()))
            .unwrap();
        let pods: Vec<Pod> = demo.snapshot.pods_on(&node.name).cloned().collect();
        let check = Precondition::NodeDrained {
            node: node.name.clone(),
        };
        let mut facts = Facts::new();
        facts.insert(
            Fact::PodsOnNode {
                node: node.name.clone(),
            },
            Observation::PodsOnNode(pods.clone()),
        );
        assert!(matches!(
            check.evaluate(&facts, now()),
            Err(Unmet::NodeNotDrained { .. })
        ));
        let left: Vec<Pod> = pods.into_iter().filter(|p| !p.moves_with_node()).collect();
        facts.insert(
            Fact::PodsOnNode {
                node: node.name.clone(),
            },
            Observation::PodsOnNode(left),
        );
        assert_eq!(check.evaluate(&facts, now()), Ok(()));
        assert!(check.established_by(&Action::Drain {
            node: node.name.clone()
        }));
        assert!(!check.established_by(&Action::Drain {
            node: "other".into()
        }));
    }
}
