//! Plans: what an engine decided, as ordered steps an executor carries out.
//!
//! Every [`Step`] says what to do ([`Action`]), why (`reason`), what must
//! still be true when it is executed ([`Precondition`]s, re-checked by the
//! executor at that moment) and what it does to the bill (`usd_per_hour_delta`,
//! negative for a saving). A [`SavingsReport`] adds them up.

use std::collections::BTreeMap;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::inventory::Tags;
use crate::money::UsdPerHour;
use crate::snapshot::{
    CapacityType, LabelSelector, OwnerRef, WeightedNodeSelectorTerm, WorkloadKind,
};

/// A workload controller, by kind, namespace and name.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct WorkloadRef {
    /// Kind.
    pub kind: WorkloadKind,
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
}

impl WorkloadRef {
    /// The controller whose pod template carries the requests of a pod
    /// owned by `owner` (its [`Pod::top_owner`](crate::snapshot::Pod::top_owner)),
    /// or why there is none CloudOptim patches: only Deployments and
    /// StatefulSets are (what `deploy/rbac.yaml` grants). A bare pod has no
    /// template; a Job's template cannot change; a ReplicaSet without its
    /// Deployment would not roll its pods; DaemonSets and other kinds are
    /// left to their owners. Every engine that changes requests (OOM
    /// remediation, rightsizing) asks this one rule.
    ///
    /// ```
    /// use cloudoptim_core::plan::WorkloadRef;
    /// use cloudoptim_core::snapshot::{OwnerRef, WorkloadKind};
    ///
    /// let web = OwnerRef { kind: "Deployment".into(), name: "web".into() };
    /// let target = WorkloadRef::patchable_owner(Some(&web), "prod").unwrap();
    /// assert_eq!(target.kind, WorkloadKind::Deployment);
    /// let job = OwnerRef { kind: "Job".into(), name: "backup".into() };
    /// assert!(WorkloadRef::patchable_owner(Some(&job), "prod").is_err());
    /// assert!(WorkloadRef::patchable_owner(None, "prod").is_err());
    /// ```
    pub fn patchable_owner(
        owner: Option<&OwnerRef>,
        namespace: &str,
    ) -> Result<WorkloadRef, String> {
        let Some(owner) = owner else {
            return Err(
                "a bare pod (no controller): its requests change only when it is recreated".into(),
            );
        };
        match WorkloadKind::from_kind(&owner.kind) {
            Some(kind @ (WorkloadKind::Deployment | WorkloadKind::StatefulSet)) => Ok(WorkloadRef {
                kind,
                namespace: namespace.to_owned(),
                name: owner.name.clone(),
            }),
            Some(WorkloadKind::Job) => Err(format!(
                "owned by Job {}: a Job's pod template cannot change; change the requests where it is defined",
                owner.name
            )),
            Some(WorkloadKind::ReplicaSet) => Err(format!(
                "owned by ReplicaSet {} with no Deployment in the snapshot: patching it would not roll its pods",
                owner.name
            )),
            Some(other) => Err(format!(
                "owned by {other} {}: CloudOptim patches Deployments and StatefulSets only",
                owner.name
            )),
            None => Err(format!(
                "owned by {} {}, which CloudOptim does not patch",
                owner.kind, owner.name
            )),
        }
    }
}

/// A Kubernetes object whose labels or annotations a plan changes.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(tag = "object", rename_all = "snake_case")]
pub enum ObjectRef {
    /// A node.
    Node {
        /// Node name.
        name: String,
    },
    /// A pod.
    Pod {
        /// Namespace.
        namespace: String,
        /// Pod name.
        name: String,
    },
    /// A workload controller.
    Workload(WorkloadRef),
}

/// New requests and limits for one container; `None` leaves a value unchanged.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ResourcePatch {
    /// New CPU request, millicores.
    pub cpu_request_millis: Option<u64>,
    /// New memory request, bytes.
    pub memory_request_bytes: Option<u64>,
    /// New CPU limit, millicores.
    pub cpu_limit_millis: Option<u64>,
    /// New memory limit, bytes.
    pub memory_limit_bytes: Option<u64>,
}

/// Whether an executor acts or only reports.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Re-check preconditions and report what would be done; change
    /// nothing (the default). Where the API offers it, the change is sent
    /// as a server-side dry run, so validation and admission still apply.
    #[default]
    DryRun,
    /// Act.
    Execute,
}

/// What an executor did with one step.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", content = "detail", rename_all = "snake_case")]
pub enum StepOutcome {
    /// Dry-run: this is what would be done.
    WouldDo(String),
    /// Done (or found already done).
    Done(String),
    /// Not done: a precondition no longer holds.
    Skipped(String),
}

impl std::fmt::Display for StepOutcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StepOutcome::WouldDo(what) => write!(f, "would {what}"),
            StepOutcome::Done(what) => write!(f, "done: {what}"),
            StepOutcome::Skipped(why) => write!(f, "skipped: {why}"),
        }
    }
}

/// One thing to do to the cluster or the account.
///
/// Every action is carried out by the [`crate::execute::Executor`] that
/// claims it; a plan with an action nobody claims is refused whole.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Action {
    /// Mark a node unschedulable.
    Cordon {
        /// Node name.
        node: String,
    },
    /// Mark a node schedulable again.
    Uncordon {
        /// Node name.
        node: String,
    },
    /// Evict a pod through the Eviction API (PDBs apply).
    Evict {
        /// Pod namespace.
        namespace: String,
        /// Pod name.
        pod: String,
        /// The node it is evicted from.
        node: String,
    },
    /// Cordon a node (if it is not already), evict every pod on it except
    /// DaemonSet and mirror pods, then wait for them to terminate (what
    /// `kubectl drain` does). A [`Precondition::Before`] on the step is the
    /// drain's deadline. Plans put a [`Action::Cordon`] step before it, so
    /// the cordon is a step of its own that a reader sees.
    Drain {
        /// Node name.
        node: String,
    },
    /// Set or remove labels and annotations on a Kubernetes object.
    SetMetadata {
        /// The object.
        object: ObjectRef,
        /// Labels to set (`Some`) or remove (`None`).
        labels: BTreeMap<String, Option<String>>,
        /// Annotations to set (`Some`) or remove (`None`).
        annotations: BTreeMap<String, Option<String>>,
    },
    /// Launch EC2 instances.
    LaunchInstance {
        /// Instance type.
        instance_type: String,
        /// Availability zone.
        zone: String,
        /// On-demand or spot.
        capacity_type: CapacityType,
        /// How many.
        count: u32,
        /// Tags to set at launch.
        tags: Tags,
    },
    /// Terminate an EC2 instance.
    TerminateInstance {
        /// Instance id.
        instance_id: String,
        /// The node it backs, if any.
        node: Option<String>,
        /// The Auto Scaling group the instance belongs to (an EKS managed
        /// node group's, say): it is terminated through the group with its
        /// desired capacity decremented, or the group would launch it again.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        auto_scaling_group: Option<String>,
    },
    /// Delete a Node object whose instance is gone.
    DeleteNode {
        /// Node name.
        node: String,
    },
    /// Change a container's requests/limits on the owning controller's template.
    PatchResources {
        /// The controller.
        workload: WorkloadRef,
        /// Container name.
        container: String,
        /// New values.
        patch: ResourcePatch,
    },
    /// Change a controller's replica count.
    ScaleReplicas {
        /// The controller.
        workload: WorkloadRef,
        /// Replicas expected now (a precondition).
        from: u32,
        /// Replicas wanted.
        to: u32,
    },
    /// Replace the preferred node affinity of a controller's pod template
    /// (`preferredDuringSchedulingIgnoredDuringExecution`, an atomic list)
    /// and, when `zone_spread` is given, its `DoNotSchedule` topology
    /// spread on the zone, in one patch (one rollout): cross-AZ placement
    /// weights the zones a workload should run in and bounds how uneven
    /// they may get. The controller rolls its pods, which the scheduler
    /// then places by the new template.
    SetPreferredNodeAffinity {
        /// The controller.
        workload: WorkloadRef,
        /// The whole new list (terms not about zones kept as they were).
        preferred: Vec<WeightedNodeSelectorTerm>,
        /// The zone spread to set with it (replacing the template's
        /// `DoNotSchedule` constraint on `topology.kubernetes.io/zone`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        zone_spread: Option<ZoneSpread>,
    },
    /// Set (`Some`) or clear (`None`) a Service's `spec.trafficDistribution`
    /// (`PreferClose`: kube-proxy prefers endpoints in the caller's zone).
    SetTrafficDistribution {
        /// Service namespace.
        namespace: String,
        /// Service name.
        service: String,
        /// The value wanted.
        value: Option<String>,
    },
    /// Suspend a CronJob (`spec.suspend: true`: no new Jobs start; running
    /// ones finish) or resume it (`false`).
    SetCronJobSuspend {
        /// The CronJob.
        workload: WorkloadRef,
        /// Suspended wanted.
        suspend: bool,
    },
    /// Set tags on an AWS resource.
    TagResource {
        /// Resource id (`i-…`, `vol-…`).
        resource_id: String,
        /// Tags to set.
        tags: Tags,
    },
    /// Remove tags (by key) from an AWS resource: a mark whose condition no
    /// longer holds (a volume attached again, an instance that joined).
    UntagResource {
        /// Resource id (`i-…`, `vol-…`).
        resource_id: String,
        /// Tag keys to remove.
        keys: Vec<String>,
    },
    /// Snapshot an EBS volume before anything destructive happens to it.
    SnapshotVolume {
        /// Volume id.
        volume_id: String,
    },
    /// Delete an EBS volume.
    DeleteVolume {
        /// Volume id.
        volume_id: String,
    },
}

impl Action {
    /// Whether the action loses capacity or data if it is wrong (evict,
    /// terminate, delete, scale down). Executors run these in dry-run unless
    /// told otherwise.
    pub fn is_destructive(&self) -> bool {
        match self {
            Action::Evict { .. }
            | Action::Drain { .. }
            | Action::TerminateInstance { .. }
            | Action::DeleteNode { .. }
            | Action::DeleteVolume { .. } => true,
            Action::ScaleReplicas { from, to, .. } => to < from,
            Action::SetCronJobSuspend { suspend, .. } => *suspend,
            Action::SetPreferredNodeAffinity { .. } | Action::SetTrafficDistribution { .. } => {
                false
            }
            Action::Cordon { .. }
            | Action::Uncordon { .. }
            | Action::SetMetadata { .. }
            | Action::LaunchInstance { .. }
            | Action::PatchResources { .. }
            | Action::TagResource { .. }
            | Action::UntagResource { .. }
            | Action::SnapshotVolume { .. } => false,
        }
    }

    /// A short name of the kind of action (`cordon`, `evict`, …).
    pub fn kind(&self) -> &'static str {
        match self {
            Action::Cordon { .. } => "cordon",
            Action::Uncordon { .. } => "uncordon",
            Action::Evict { .. } => "evict",
            Action::Drain { .. } => "drain",
            Action::SetMetadata { .. } => "set_metadata",
            Action::LaunchInstance { .. } => "launch_instance",
            Action::TerminateInstance { .. } => "terminate_instance",
            Action::DeleteNode { .. } => "delete_node",
            Action::PatchResources { .. } => "patch_resources",
            Action::ScaleReplicas { .. } => "scale_replicas",
            Action::SetCronJobSuspend { .. } => "set_cron_job_suspend",
            Action::SetPreferredNodeAffinity { .. } => "set_preferred_node_affinity",
            Action::SetTrafficDistribution { .. } => "set_traffic_distribution",
            Action::TagResource { .. } => "tag_resource",
            Action::UntagResource { .. } => "untag_resource",
            Action::SnapshotVolume { .. } => "snapshot_volume",
            Action::DeleteVolume { .. } => "delete_volume",
        }
    }
}

/// A `whenUnsatisfiable: DoNotSchedule` topology spread constraint on
/// `topology.kubernetes.io/zone` over a workload's pods: no zone may hold
/// more than `max_skew` replicas above the emptiest eligible one.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ZoneSpread {
    /// `maxSkew` (at least 1).
    pub max_skew: u32,
    /// The pods it counts: the workload's own selector.
    pub selector: LabelSelector,
}

/// A resource that a protection tag or annotation can cover.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(tag = "resource", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Resource {
    /// A Node (annotated `cloudoptim.io/do-not-disrupt`,
    /// `karpenter.sh/do-not-disrupt` or `cloudoptim.io/protect`).
    Node {
        /// Node name.
        name: String,
    },
    /// An EC2 instance (tagged `cloudoptim.io/protect`).
    Instance {
        /// Instance id.
        instance_id: String,
    },
    /// An EBS volume (tagged `cloudoptim.io/protect`).
    Volume {
        /// Volume id.
        volume_id: String,
    },
}

impl Resource {
    /// The fact that tells whether it is protected.
    pub fn fact(&self) -> crate::execute::Fact {
        use crate::execute::Fact;
        match self {
            Resource::Node { name } => Fact::Node { name: name.clone() },
            Resource::Instance { instance_id } => Fact::Instance {
                instance_id: instance_id.clone(),
            },
            Resource::Volume { volume_id } => Fact::Volume {
                volume_id: volume_id.clone(),
            },
        }
    }
}

impl std::fmt::Display for Resource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Resource::Node { name } => write!(f, "node {name}"),
            Resource::Instance { instance_id } => write!(f, "instance {instance_id}"),
            Resource::Volume { volume_id } => write!(f, "volume {volume_id}"),
        }
    }
}

/// Something that must still hold when a step is executed. The runner
/// observes the [`facts`](Precondition::facts) it needs through the
/// executors, [`evaluates`](Precondition::evaluate) it in the core, and
/// skips the step (reporting why) when it does not hold.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "check", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Precondition {
    /// The node still exists (by name).
    NodeExists {
        /// Node name.
        node: String,
    },
    /// The pod is still on this node.
    PodOnNode {
        /// Pod namespace.
        namespace: String,
        /// Pod name.
        pod: String,
        /// Node name.
        node: String,
    },
    /// No do-not-disrupt annotation on the pod.
    PodDisruptable {
        /// Pod namespace.
        namespace: String,
        /// Pod name.
        pod: String,
    },
    /// The PDB allows at least one more disruption.
    PdbAllows {
        /// PDB namespace.
        namespace: String,
        /// PDB name.
        name: String,
    },
    /// No non-DaemonSet pod is left on the node.
    NodeDrained {
        /// Node name.
        node: String,
    },
    /// The instance backs no node of the cluster.
    InstanceNotInCluster {
        /// Instance id.
        instance_id: String,
    },
    /// The volume is attached to nothing.
    VolumeUnattached {
        /// Volume id.
        volume_id: String,
    },
    /// No PVC in the cluster refers to the volume.
    VolumeUnclaimed {
        /// Volume id.
        volume_id: String,
    },
    /// A snapshot of the volume has completed.
    VolumeSnapshotted {
        /// Volume id.
        volume_id: String,
    },
    /// The instance's or volume's tag `key` still has `value` (`None`:
    /// the tag is absent). A deletion carries the mark it was planned on,
    /// so a mark rewritten since (a volume attached and detached again,
    /// marked anew) is never acted on.
    TagIs {
        /// The resource ([`Resource::Instance`] or [`Resource::Volume`]).
        resource: Resource,
        /// Tag key.
        key: String,
        /// Expected value.
        value: Option<String>,
    },
    /// The resource is not protected (see [`Resource`]).
    NotProtected {
        /// The resource.
        resource: Resource,
    },
    /// A grace period has elapsed since the condition was first seen.
    GracePeriodElapsed {
        /// When it was first seen.
        since: Timestamp,
        /// The grace period, seconds.
        grace_seconds: u64,
    },
    /// The step is still before this deadline (a spot instance's end).
    Before {
        /// The deadline.
        deadline: Timestamp,
    },
    /// The controller still has this many replicas.
    ReplicasAre {
        /// The controller.
        workload: WorkloadRef,
        /// Expected replicas.
        replicas: u32,
    },
    /// A container of the controller's pod template still has the memory
    /// request and limit the plan was made from (so a bump planned on
    /// stale figures never lowers what someone raised since).
    ContainerMemoryIs {
        /// The controller.
        workload: WorkloadRef,
        /// Container name.
        container: String,
        /// Memory request, bytes (0 when none is set).
        request_bytes: u64,
        /// Memory limit, bytes (`None` when none is set).
        limit_bytes: Option<u64>,
    },
    /// A container of the controller's pod template still has the CPU
    /// request and limit the plan was made from.
    ContainerCpuIs {
        /// The controller.
        workload: WorkloadRef,
        /// Container name.
        container: String,
        /// CPU request, millicores (0 when none is set).
        request_millis: u64,
        /// CPU limit, millicores (`None` when none is set).
        limit_millis: Option<u64>,
    },
    /// The controller's pod template still has this preferred node affinity
    /// (so a placement planned on a stale template never overwrites what
    /// someone changed since).
    PreferredNodeAffinityIs {
        /// The controller.
        workload: WorkloadRef,
        /// The list as it was read.
        preferred: Vec<WeightedNodeSelectorTerm>,
    },
    /// The Service still has this `spec.trafficDistribution`.
    TrafficDistributionIs {
        /// Service namespace.
        namespace: String,
        /// Service name.
        service: String,
        /// The value as it was read.
        value: Option<String>,
    },
    /// The CronJob is still suspended (`true`) or not (`false`).
    CronJobSuspendIs {
        /// The CronJob.
        workload: WorkloadRef,
        /// Expected `spec.suspend`.
        suspended: bool,
    },
    /// The instance is not in a lifecycle-hook wait or warm pool of the
    /// Auto Scaling group (a group that no longer exists, or no longer
    /// holds it, is no wait).
    NotInLifecycleWait {
        /// Group name.
        group: String,
        /// Instance id.
        instance_id: String,
    },
    /// The instance is still in the Auto Scaling group, and the group is
    /// above its minimum size (so removing the instance shrinks it rather
    /// than making it launch another).
    GroupCanShrink {
        /// Group name.
        group: String,
        /// The instance to remove.
        instance_id: String,
    },
}

/// One step of a plan.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Step {
    /// What to do.
    pub action: Action,
    /// Why, for a person reading the plan.
    pub reason: String,
    /// What must still hold when it runs.
    pub preconditions: Vec<Precondition>,
    /// Change to the hourly bill once done; negative is a saving.
    pub usd_per_hour_delta: UsdPerHour,
}

/// An ordered list of steps produced by one engine at one instant.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    /// The engine that made it (`consolidation`, `spot-interruption`, …).
    pub engine: String,
    /// The "now" the engine was given.
    pub created_at: Timestamp,
    /// Steps, in execution order.
    pub steps: Vec<Step>,
}

impl Plan {
    /// An empty plan.
    pub fn new(engine: impl Into<String>, created_at: Timestamp) -> Plan {
        Plan {
            engine: engine.into(),
            created_at,
            steps: Vec::new(),
        }
    }

    /// Append a step.
    pub fn push(
        &mut self,
        action: Action,
        reason: impl Into<String>,
        preconditions: Vec<Precondition>,
        usd_per_hour_delta: UsdPerHour,
    ) {
        self.steps.push(Step {
            action,
            reason: reason.into(),
            preconditions,
            usd_per_hour_delta,
        });
    }

    /// Append the eviction of `pod` from `node`: it must still be on the
    /// node, `extra` must hold, and every PDB in `pdbs` (those covering the
    /// pod) must allow one more disruption.
    pub fn push_evict<'a>(
        &mut self,
        pod: &crate::snapshot::Pod,
        node: &str,
        pdbs: impl IntoIterator<Item = &'a crate::snapshot::PodDisruptionBudget>,
        reason: impl Into<String>,
        extra: Vec<Precondition>,
    ) {
        let mut preconditions = vec![Precondition::PodOnNode {
            namespace: pod.namespace.clone(),
            pod: pod.name.clone(),
            node: node.to_owned(),
        }];
        preconditions.extend(extra);
        preconditions.extend(pdbs.into_iter().map(|b| Precondition::PdbAllows {
            namespace: b.namespace.clone(),
            name: b.name.clone(),
        }));
        self.push(
            Action::Evict {
                namespace: pod.namespace.clone(),
                pod: pod.name.clone(),
                node: node.to_owned(),
            },
            reason,
            preconditions,
            UsdPerHour::ZERO,
        );
    }

    /// What the plan does to the bill.
    pub fn savings(&self) -> SavingsReport {
        SavingsReport::from_steps(&self.steps)
    }
}

/// Costs and savings of one or more plans, added up.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SavingsReport {
    /// Sum of negative deltas, as a positive figure.
    pub saved_usd_per_hour: UsdPerHour,
    /// Sum of positive deltas (replacement capacity, …).
    pub added_usd_per_hour: UsdPerHour,
    /// `saved − added`: what the bill goes down by (negative if it goes up).
    pub net_saved_usd_per_hour: UsdPerHour,
    /// Net saving by kind of action.
    pub net_saved_by_action: BTreeMap<String, UsdPerHour>,
    /// Steps counted.
    pub steps: usize,
    /// Of which destructive.
    pub destructive_steps: usize,
}

impl SavingsReport {
    /// Add up steps.
    pub fn from_steps<'a>(steps: impl IntoIterator<Item = &'a Step>) -> SavingsReport {
        let mut report = SavingsReport::default();
        for step in steps {
            report.add(step);
        }
        report
    }

    fn add(&mut self, step: &Step) {
        let delta = step.usd_per_hour_delta;
        if delta < UsdPerHour::ZERO {
            self.saved_usd_per_hour += -delta;
        } else {
            self.added_usd_per_hour += delta;
        }
        self.net_saved_usd_per_hour -= delta;
        *self
            .net_saved_by_action
            .entry(step.action.kind().to_owned())
            .or_default() -= delta;
        self.steps += 1;
        self.destructive_steps += usize::from(step.action.is_destructive());
    }

    /// Combine with another report (for example the reports of several plans).
    pub fn merge(&mut self, other: &SavingsReport) {
        self.saved_usd_per_hour += other.saved_usd_per_hour;
        self.added_usd_per_hour += other.added_usd_per_hour;
        self.net_saved_usd_per_hour += other.net_saved_usd_per_hour;
        for (kind, v) in &other.net_saved_by_action {
            *self.net_saved_by_action.entry(kind.clone()).or_default() += *v;
        }
        self.steps += other.steps;
        self.destructive_steps += other.destructive_steps;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn savings_add_up_by_kind() {
        let now: Timestamp = "2026-11-25T12:00:00Z".parse().unwrap();
        let mut plan = Plan::new("test", now);
        plan.push(
            Action::LaunchInstance {
                instance_type: "m5.large".into(),
                zone: "us-east-1a".into(),
                capacity_type: CapacityType::Spot,
                count: 1,
                tags: Tags::new(),
            },
            "replacement",
            vec![],
            UsdPerHour::from_micro_usd(40_000),
        );
        plan.push(
            Action::TerminateInstance {
                instance_id: "i-1".into(),
                node: Some("n1".into()),
                auto_scaling_group: None,
            },
            "replaced",
            vec![Precondition::NodeDrained { node: "n1".into() }],
            UsdPerHour::from_micro_usd(-192_000),
        );
        let r = plan.savings();
        assert_eq!(r.saved_usd_per_hour.micro_usd(), 192_000);
        assert_eq!(r.added_usd_per_hour.micro_usd(), 40_000);
        assert_eq!(r.net_saved_usd_per_hour.micro_usd(), 152_000);
        assert_eq!(
            r.net_saved_by_action["launch_instance"].micro_usd(),
            -40_000
        );
        assert_eq!(r.destructive_steps, 1);
        let json = serde_json::to_string(&plan).unwrap();
        assert_eq!(serde_json::from_str::<Plan>(&json).unwrap(), plan);
    }
}
