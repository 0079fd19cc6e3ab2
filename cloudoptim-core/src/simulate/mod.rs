//! The plan simulator: what a cluster (and its account) would look like
//! after a plan ran.
//!
//! [`simulate`] applies a plan's steps to a copy of a snapshot, in order,
//! as the [`PlanRunner`](crate::execute::PlanRunner) would run them: each
//! step's preconditions are judged with the same
//! [`Precondition::evaluate`](crate::Precondition::evaluate), on facts read
//! from the simulated state, and a step whose preconditions fail is skipped.
//! Evicted pods that have a controller are recreated and placed one at a
//! time, as the scheduler would, on the roomiest node that takes them
//! (capacity, node selector, required node affinity, taints, hostname
//! anti-affinity, claims kept in their zone); pods nothing can hold stay
//! pending. Engines' tests assert their safety on the applied result
//! (capacity, PDBs, do-not-disrupt, no pod lost) rather than on what the
//! planner says it did, and the examples print the cluster after a dry run.
//!
//! The copy is indexed (nodes by name and instance, pods by name and node,
//! the nodes that take pods by the CPU they have left, PDBs by the labels
//! they select): a cordon, eviction, termination or deletion costs time in
//! proportion to the node and pods it touches, and placing a pod looks at
//! the roomiest nodes only until one takes it, so simulating a
//! consolidation plan grows with the cluster only through the copy (Auto
//! Scaling groups, volumes and workloads are still searched in full). The
//! result is the one a scan of the snapshot's lists, front to back, gives.

mod cluster;

use std::collections::{BTreeMap, HashMap};

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::binpack::{anti_affinity_group, PodRequirement};
use crate::catalog::{Catalog, OperatingSystem};
use crate::execute::{Fact, Facts, Observation, Unmet};
use crate::inventory::{AwsInventory, InstanceState};
use crate::plan::{Action, ObjectRef, Plan, Precondition};
use crate::resources::Resources;
use crate::snapshot::{
    node_labels, tolerates_all, ClusterSnapshot, Node, PdbIndex, Pod, VolumeSource,
};
use cluster::Cluster;

/// What became of one step in the simulation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "outcome", content = "detail", rename_all = "snake_case")]
pub enum SimulatedStep {
    /// Applied.
    Applied,
    /// Its effect was already there.
    AlreadyDone,
    /// A precondition did not hold: skipped, as the runner would.
    Skipped(Unmet),
}

/// A step the simulator cannot apply (an instance type the catalog does
/// not know, say).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("step {} ({action}) cannot be simulated: {why}", index + 1)]
pub struct SimulationError {
    /// Index of the step.
    pub index: usize,
    /// The action's kind.
    pub action: String,
    /// Why.
    pub why: String,
}

/// The cluster and account after a plan.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Simulation {
    /// The cluster after the plan.
    pub snapshot: ClusterSnapshot,
    /// The account after the plan (when one was given).
    pub account: Option<AwsInventory>,
    /// What became of each step, in order.
    pub steps: Vec<SimulatedStep>,
    /// Pods evicted (or left on a removed node) that no node can hold now:
    /// they stay pending.
    pub pending: Vec<String>,
    /// Pods evicted that nothing recreates (no controller): gone for good.
    pub lost: Vec<String>,
    /// Pods covered by a do-not-disrupt annotation that the plan evicted.
    pub disrupted_do_not_disrupt: Vec<String>,
    /// PDBs whose budget the plan's evictions went past, with how far.
    pub pdbs_exceeded: Vec<(String, u32)>,
}

impl Simulation {
    /// Whether the plan loses or strands no pod, evicts no do-not-disrupt
    /// pod and respects every PDB.
    pub fn is_safe(&self) -> bool {
        self.pending.is_empty()
            && self.lost.is_empty()
            && self.disrupted_do_not_disrupt.is_empty()
            && self.pdbs_exceeded.is_empty()
    }
}

/// Apply `plan` to `snapshot` (and `account`, when given) at `now`, new
/// nodes described by `catalog`. Without an account, one is assumed in
/// which every node's instance runs, untagged, in no Auto Scaling group
/// (what a kubectl dump alone suggests; the runner re-checks for real).
///
/// ```
/// use cloudoptim_core::catalog::Catalog;
/// use cloudoptim_core::demo::{DemoConfig, DemoEnvironment};
/// use cloudoptim_core::binpack::LpGuidedPacker;
/// use cloudoptim_core::consolidation::{plan_consolidation, ConsolidationPolicy};
/// use cloudoptim_core::simulate::simulate;
///
/// let catalog = Catalog::embedded().unwrap();
/// let demo = DemoEnvironment::generate(&DemoConfig::default(), catalog).unwrap();
/// let now = demo.config.now;
/// let c = plan_consolidation(&demo.snapshot, Some(&demo.aws), catalog,
///     &LpGuidedPacker::default(), &ConsolidationPolicy::default(), now);
/// let after = simulate(&demo.snapshot, Some(&demo.aws), &c.plan, catalog, now).unwrap();
/// assert!(after.is_safe());
/// assert_eq!(after.snapshot.nodes.len(), demo.snapshot.nodes.len() - c.removed_nodes.len()
///     + c.replacements.len()
///     + c.multi_replacements.iter().map(|m| m.new_nodes.len()).sum::<usize>());
/// ```
pub fn simulate(
    snapshot: &ClusterSnapshot,
    account: Option<&AwsInventory>,
    plan: &Plan,
    catalog: &Catalog,
    now: Timestamp,
) -> Result<Simulation, SimulationError> {
    let mut rest = snapshot.clone();
    let cluster = Cluster::new(
        std::mem::take(&mut rest.nodes),
        std::mem::take(&mut rest.pods),
    );
    let account = account
        .cloned()
        .unwrap_or_else(|| assumed_account(snapshot));
    let mut instances: HashMap<String, Vec<usize>> = HashMap::new();
    for (at, i) in account.instances.iter().enumerate() {
        instances.entry(i.instance_id.clone()).or_default().push(at);
    }
    let mut pdb_by_name: HashMap<(&str, &str), usize> = HashMap::new();
    for (at, b) in snapshot.pdbs.iter().enumerate() {
        pdb_by_name
            .entry((b.namespace.as_str(), b.name.as_str()))
            .or_insert(at);
    }
    let mut sim = State {
        rest,
        cluster,
        pdbs: PdbIndex::new(&snapshot.pdbs),
        pdb_by_name,
        account: Some(account),
        instances,
        catalog,
        daemonset_overhead: None,
        launched: 0,
        pending: Vec::new(),
        lost: Vec::new(),
        disrupted: Vec::new(),
        pdb_over: BTreeMap::new(),
    };
    let mut steps = Vec::with_capacity(plan.steps.len());
    for (index, step) in plan.steps.iter().enumerate() {
        if sim.already_done(&step.action) {
            steps.push(SimulatedStep::AlreadyDone);
            continue;
        }
        let mut facts = Facts::new();
        for fact in step.preconditions.iter().flat_map(Precondition::facts) {
            if let Some(o) = sim.observe(&fact) {
                facts.insert(fact, o);
            }
        }
        match step
            .preconditions
            .iter()
            .try_for_each(|p| p.evaluate(&facts, now))
        {
            Err(unmet) => steps.push(SimulatedStep::Skipped(unmet)),
            Ok(()) => {
                sim.apply(&step.action).map_err(|why| SimulationError {
                    index,
                    action: step.action.kind().to_owned(),
                    why,
                })?;
                sim.schedule_pending();
                steps.push(SimulatedStep::Applied);
            }
        }
    }
    let (nodes, pods) = sim.cluster.into_parts();
    Ok(Simulation {
        pending: sim.pending.iter().map(|(p, _)| p.key()).collect(),
        snapshot: ClusterSnapshot {
            nodes,
            pods,
            ..sim.rest
        },
        account: sim.account,
        steps,
        lost: sim.lost,
        disrupted_do_not_disrupt: sim.disrupted,
        pdbs_exceeded: sim.pdb_over.into_iter().collect(),
    })
}

/// The account a snapshot alone suggests: each node's instance running, untagged.
fn assumed_account(snapshot: &ClusterSnapshot) -> AwsInventory {
    AwsInventory {
        region: snapshot
            .nodes
            .iter()
            .find_map(|n| n.region.clone())
            .unwrap_or_default(),
        instances: snapshot
            .nodes
            .iter()
            .filter_map(|n| {
                Some(crate::inventory::Instance {
                    instance_id: n.instance_id.clone()?,
                    instance_type: n.instance_type.clone().unwrap_or_default(),
                    zone: n.zone.clone().unwrap_or_default(),
                    state: InstanceState::Running,
                    capacity_type: n.capacity_type,
                    launched_at: n.created_at.unwrap_or(Timestamp::UNIX_EPOCH),
                    private_dns_name: None,
                    tags: Default::default(),
                })
            })
            .collect(),
        ..AwsInventory::default()
    }
}

struct State<'a> {
    /// The snapshot but its nodes and pods, which are in `cluster`.
    rest: ClusterSnapshot,
    cluster: Cluster,
    /// The PDBs of `rest` (the snapshot's, in its order) by what they cover…
    pdbs: PdbIndex<'a>,
    /// … and by namespace and name (the first of each).
    pdb_by_name: HashMap<(&'a str, &'a str), usize>,
    account: Option<AwsInventory>,
    /// Positions of the account's instances by id (the list never changes length).
    instances: HashMap<String, Vec<usize>>,
    catalog: &'a Catalog,
    /// What the DaemonSets put on a node, once asked (until a workload changes).
    daemonset_overhead: Option<Resources>,
    launched: usize,
    /// Pods waiting for a node, recreated by their controller, with the
    /// zone they must stay in (a pod with a claim).
    pending: Vec<(Pod, Option<String>)>,
    lost: Vec<String>,
    disrupted: Vec<String>,
    pdb_over: BTreeMap<String, u32>,
}

impl State<'_> {
    fn observe(&self, fact: &Fact) -> Option<Observation> {
        let s = &self.rest;
        let c = &self.cluster;
        Some(match fact {
            Fact::Node { name } => Observation::Node(c.node(name).cloned().map(Box::new)),
            Fact::Pod { namespace, name } => {
                Observation::Pod(c.pod(namespace, name).cloned().map(Box::new))
            }
            Fact::Pdb { namespace, name } => Observation::Pdb(
                self.pdb_by_name
                    .get(&(namespace.as_str(), name.as_str()))
                    .and_then(|&at| s.pdbs.get(at))
                    .cloned()
                    .map(Box::new),
            ),
            Fact::PodsOnNode { node } => {
                Observation::PodsOnNode(c.pods_on(node).cloned().collect())
            }
            Fact::NodeOfInstance { instance_id } => Observation::NodeOfInstance(
                c.node_by_instance_id(instance_id).map(|n| n.name.clone()),
            ),
            Fact::VolumeClaim { volume_id } => Observation::VolumeClaim(
                s.persistent_volumes
                    .iter()
                    .find(|pv| pv.ebs_volume_id() == Some(volume_id.as_str()))
                    .map(|pv| format!("pv/{}", pv.name)),
            ),
            Fact::Workload(w) => Observation::Workload(
                s.workload(w.kind, &w.namespace, &w.name)
                    .cloned()
                    .map(Box::new),
            ),
            Fact::Service { namespace, name } => Observation::Service(
                s.services
                    .iter()
                    .find(|x| &x.namespace == namespace && &x.name == name)
                    .cloned()
                    .map(Box::new),
            ),
            Fact::Instance { instance_id } => {
                let account = self.account.as_ref()?;
                Observation::Instance(
                    self.instances
                        .get(instance_id)
                        .and_then(|at| at.first())
                        .and_then(|&at| account.instances.get(at))
                        .cloned()
                        .map(Box::new),
                )
            }
            Fact::Volume { volume_id } => Observation::Volume(
                self.account
                    .as_ref()?
                    .volumes
                    .iter()
                    .find(|v| &v.volume_id == volume_id)
                    .cloned()
                    .map(Box::new),
            ),
            Fact::AutoScalingGroup { name } => Observation::AutoScalingGroup(
                self.account
                    .as_ref()?
                    .auto_scaling_groups
                    .iter()
                    .find(|g| &g.name == name)
                    .cloned()
                    .map(Box::new),
            ),
            // Snapshots are not in a snapshot: not observable here.
            Fact::VolumeSnapshots { .. } => return None,
        })
    }

    fn already_done(&self, action: &Action) -> bool {
        let c = &self.cluster;
        match action {
            Action::Cordon { node } => c.node(node).is_some_and(|n| n.unschedulable),
            Action::Evict { namespace, pod, .. } => c.pod(namespace, pod).is_none(),
            Action::DeleteNode { node } | Action::Drain { node } => c.node(node).is_none(),
            _ => false,
        }
    }

    fn apply(&mut self, action: &Action) -> Result<(), String> {
        match action {
            Action::Cordon { node } | Action::Uncordon { node } => {
                let cordon = matches!(action, Action::Cordon { .. });
                self.cluster.set_unschedulable(node, cordon);
            }
            Action::Evict { namespace, pod, .. } => self.evict(namespace, pod),
            Action::Drain { node } => {
                let pods: Vec<(String, String)> = self
                    .cluster
                    .pods_on(node)
                    .filter(|p| p.moves_with_node())
                    .map(|p| (p.namespace.clone(), p.name.clone()))
                    .collect();
                self.cluster.set_unschedulable(node, true);
                for (namespace, pod) in pods {
                    self.evict(&namespace, &pod);
                }
            }
            Action::SetMetadata {
                object,
                labels,
                annotations,
            } => {
                let apply =
                    |target: &mut crate::snapshot::Labels,
                     changes: &BTreeMap<String, Option<String>>| {
                        for (k, v) in changes {
                            match v {
                                Some(v) => target.insert(k.clone(), v.clone()),
                                None => target.remove(k),
                            };
                        }
                    };
                match object {
                    ObjectRef::Node { name } => {
                        if let Some(n) = self.cluster.node_metadata_mut(name) {
                            apply(&mut n.labels, labels);
                            apply(&mut n.annotations, annotations);
                        }
                    }
                    ObjectRef::Pod { namespace, name } => {
                        if let Some(p) = self.cluster.pod_metadata_mut(namespace, name) {
                            apply(&mut p.labels, labels);
                            apply(&mut p.annotations, annotations);
                        }
                    }
                    ObjectRef::Workload(w) => {
                        if let Some(w) = self.rest.workloads.iter_mut().find(|x| {
                            x.kind == w.kind && x.namespace == w.namespace && x.name == w.name
                        }) {
                            apply(&mut w.labels, labels);
                            apply(&mut w.annotations, annotations);
                        }
                    }
                }
            }
            Action::LaunchInstance {
                instance_type,
                zone,
                capacity_type,
                count,
                tags,
            } => {
                let it = self.catalog.get(instance_type).ok_or_else(|| {
                    format!("instance type {instance_type} is not in the catalog")
                })?;
                let region = zone
                    .get(..zone.len().saturating_sub(1))
                    .unwrap_or_default()
                    .to_owned();
                let root = self
                    .cluster
                    .largest_root_volume()
                    .unwrap_or(20 << 30)
                    .max(20 << 30);
                let overhead = *self
                    .daemonset_overhead
                    .get_or_insert_with(|| self.rest.daemonset_overhead());
                for _ in 0..*count {
                    // A name and an instance id no node has yet: the cluster
                    // may hold nodes an earlier simulation launched.
                    let (name, instance_id) = loop {
                        self.launched += 1;
                        let name = format!("simulated-{}-{}", instance_type, self.launched);
                        let id = format!("i-5{:016x}", self.launched);
                        if self.cluster.node(&name).is_none() && !self.instances.contains_key(&id) {
                            break (name, id);
                        }
                    };
                    // An instance like any other, so later plans (and the
                    // consolidation bound) can remove what this one launched.
                    if let Some(account) = &mut self.account {
                        self.instances
                            .entry(instance_id.clone())
                            .or_default()
                            .push(account.instances.len());
                        account.instances.push(crate::inventory::Instance {
                            instance_id: instance_id.clone(),
                            instance_type: instance_type.clone(),
                            zone: zone.clone(),
                            state: InstanceState::Running,
                            capacity_type: *capacity_type,
                            launched_at: Timestamp::UNIX_EPOCH,
                            private_dns_name: Some(name.clone()),
                            tags: tags.clone(),
                        });
                    }
                    let mut labels = node_labels::for_new_node(
                        it,
                        &region,
                        Some(zone),
                        *capacity_type,
                        OperatingSystem::Linux,
                    );
                    labels.insert(node_labels::HOSTNAME.into(), name.clone());
                    let capacity = crate::eks::node_capacity(it, root);
                    let allocatable = crate::eks::node_allocatable(it, root);
                    self.cluster.push_node(Node {
                        name: name.clone(),
                        provider_id: Some(format!("aws:///{zone}/{instance_id}")),
                        instance_id: Some(instance_id),
                        instance_type: Some(instance_type.clone()),
                        zone: Some(zone.clone()),
                        region: Some(region.clone()),
                        capacity_type: *capacity_type,
                        labels,
                        annotations: Default::default(),
                        taints: Vec::new(),
                        capacity,
                        // DaemonSet pods are not simulated on new nodes: their room is taken off.
                        allocatable: allocatable.saturating_sub(Resources {
                            pods: overhead.pods,
                            ..overhead
                        }),
                        created_at: None,
                        unschedulable: false,
                        ready: true,
                    });
                }
            }
            Action::TerminateInstance { instance_id, .. } => {
                self.cluster.set_not_ready(instance_id);
                if let Some(account) = &mut self.account {
                    if let Some(i) = self
                        .instances
                        .get(instance_id)
                        .and_then(|at| at.first())
                        .and_then(|&at| account.instances.get_mut(at))
                    {
                        i.state = InstanceState::Terminated;
                    }
                    for g in &mut account.auto_scaling_groups {
                        if let Some(at) = g.instance_ids.iter().position(|i| i == instance_id) {
                            g.instance_ids.remove(at);
                            g.desired_capacity = g.desired_capacity.saturating_sub(1);
                        }
                    }
                }
                let names = self.cluster.names_of_instance(instance_id);
                self.strand(&names);
            }
            Action::DeleteNode { node } => {
                let names = [node.clone()];
                self.strand(&names);
                // What stays bound to it (DaemonSet and mirror pods, finished pods) goes with it.
                self.cluster.take_pods_on(&names, |_| true);
                self.cluster.remove_nodes(node);
            }
            Action::PatchResources {
                workload,
                container,
                patch,
            } => {
                if let Some(w) = self.rest.workloads.iter_mut().find(|w| {
                    w.kind == workload.kind
                        && w.namespace == workload.namespace
                        && w.name == workload.name
                }) {
                    if let Some(c) = w
                        .template
                        .containers
                        .iter_mut()
                        .find(|c| &c.name == container)
                    {
                        if let Some(v) = patch.cpu_request_millis {
                            c.requests.cpu_millis = v;
                        }
                        if let Some(v) = patch.memory_request_bytes {
                            c.requests.memory_bytes = v;
                        }
                    }
                }
                self.daemonset_overhead = None;
            }
            Action::ScaleReplicas { workload, to, .. } => {
                if let Some(w) = self.rest.workloads.iter_mut().find(|w| {
                    w.kind == workload.kind
                        && w.namespace == workload.namespace
                        && w.name == workload.name
                }) {
                    w.replicas = Some(*to);
                }
            }
            Action::SetCronJobSuspend { workload, suspend } => {
                if let Some(w) = self.rest.workloads.iter_mut().find(|w| {
                    w.kind == workload.kind
                        && w.namespace == workload.namespace
                        && w.name == workload.name
                }) {
                    w.suspend = *suspend;
                }
            }
            Action::SetPreferredNodeAffinity {
                workload,
                preferred,
                zone_spread: _,
            } => {
                // The template changes; running pods stay where they are
                // until the controller's rollout, which is not simulated
                // (nor is the template's zone spread, which the simulated
                // template does not carry).
                if let Some(w) = self.rest.workloads.iter_mut().find(|w| {
                    w.kind == workload.kind
                        && w.namespace == workload.namespace
                        && w.name == workload.name
                }) {
                    w.template.node_affinity.preferred = preferred.clone();
                }
            }
            Action::SetTrafficDistribution {
                namespace,
                service,
                value,
            } => {
                if let Some(s) = self
                    .rest
                    .services
                    .iter_mut()
                    .find(|s| &s.namespace == namespace && &s.name == service)
                {
                    s.traffic_distribution = value.clone();
                }
            }
            Action::TagResource { resource_id, tags } => {
                if let Some(account) = &mut self.account {
                    for &at in self.instances.get(resource_id).into_iter().flatten() {
                        if let Some(i) = account.instances.get_mut(at) {
                            i.tags.extend(tags.clone());
                        }
                    }
                    for v in account
                        .volumes
                        .iter_mut()
                        .filter(|v| &v.volume_id == resource_id)
                    {
                        v.tags.extend(tags.clone());
                    }
                }
            }
            Action::UntagResource { resource_id, keys } => {
                if let Some(account) = &mut self.account {
                    for &at in self.instances.get(resource_id).into_iter().flatten() {
                        if let Some(i) = account.instances.get_mut(at) {
                            i.tags.retain(|k, _| !keys.contains(k));
                        }
                    }
                    for v in account
                        .volumes
                        .iter_mut()
                        .filter(|v| &v.volume_id == resource_id)
                    {
                        v.tags.retain(|k, _| !keys.contains(k));
                    }
                }
            }
            Action::SnapshotVolume { .. } => {}
            Action::DeleteVolume { volume_id } => {
                if let Some(account) = &mut self.account {
                    account.volumes.retain(|v| &v.volume_id != volume_id);
                }
            }
        }
        Ok(())
    }

    /// The PDBs covering a pod of `namespace` with `labels`, by position.
    fn pdbs_covering(&self, namespace: &str, labels: &crate::snapshot::Labels) -> Vec<usize> {
        self.pdbs.covering(&self.rest.pdbs, namespace, labels)
    }

    /// Evict a pod: its PDBs lose a disruption, its controller recreates it
    /// (pending until placed), a bare pod is lost.
    fn evict(&mut self, namespace: &str, name: &str) {
        let Some(pod) = self.cluster.take_pod(namespace, name) else {
            return;
        };
        if pod.do_not_disrupt() {
            self.disrupted.push(pod.key());
        }
        for at in self.pdbs_covering(&pod.namespace, &pod.labels) {
            let Some(pdb) = self.rest.pdbs.get_mut(at) else {
                continue;
            };
            if pdb.disruptions_allowed == 0 {
                *self
                    .pdb_over
                    .entry(format!("{}/{}", pdb.namespace, pdb.name))
                    .or_default() += 1;
            }
            pdb.disruptions_allowed = pdb.disruptions_allowed.saturating_sub(1);
        }
        self.recreate(pod);
    }

    fn recreate(&mut self, mut pod: Pod) {
        if pod.controller.is_none() {
            self.lost.push(pod.key());
            return;
        }
        let zone = if has_claim(&pod) {
            pod.node_name
                .as_deref()
                .and_then(|n| self.cluster.node(n))
                .and_then(|n| n.zone.clone())
        } else {
            None
        };
        pod.node_name = None;
        self.pending.push((pod, zone));
    }

    /// Pods still bound to the nodes named `gone` lose their node: those
    /// that move with a node are recreated elsewhere.
    fn strand(&mut self, gone: &[String]) {
        let stranded = self.cluster.take_pods_on(gone, Pod::moves_with_node);
        for pod in stranded {
            self.recreate(pod);
        }
    }

    /// Place every pending pod that a node can hold now, one at a time, on
    /// the feasible node with the most CPU left (the default kube-scheduler
    /// spreads, too). Placed one by one, pods can strand where the
    /// planner's offline packing fitted them all.
    fn schedule_pending(&mut self) {
        let pending = std::mem::take(&mut self.pending);
        for (mut pod, zone) in pending {
            let requirement = PodRequirement::from_pod(&pod);
            // The roomiest nodes first (ties by name): the first that takes
            // the pod is the one with the most CPU left.
            let best = self
                .cluster
                .roomiest(requirement.requests.cpu_millis)
                .find(|(n, free)| {
                    requirement.requests.fits_within(free)
                        && pod
                            .node_selector
                            .iter()
                            .all(|(k, v)| n.labels.get(k) == Some(v))
                        && pod.node_affinity.required_matches(&n.name, &n.labels)
                        && tolerates_all(&pod.tolerations, &n.taints)
                        && zone.as_ref().is_none_or(|z| n.zone.as_ref() == Some(z))
                        && requirement.anti_affinity_group.as_ref().is_none_or(|g| {
                            !self
                                .cluster
                                .pods_on(&n.name)
                                .any(|p| anti_affinity_group(p).as_ref() == Some(g))
                        })
                })
                .map(|(n, _)| n.name.clone());
            match best {
                Some(node) => {
                    pod.node_name = Some(node);
                    // The replacement is healthy again: its PDBs get the disruption back.
                    for at in self.pdbs_covering(&pod.namespace, &pod.labels) {
                        if let Some(pdb) = self.rest.pdbs.get_mut(at) {
                            pdb.disruptions_allowed = pdb.disruptions_allowed.saturating_add(1);
                        }
                    }
                    self.cluster.place(pod, requirement.requests);
                }
                None => self.pending.push((pod, zone)),
            }
        }
        self.cluster.end_round();
    }
}

/// Whether the pod mounts a claim: its EBS volume is zonal, so a
/// replacement must land in the zone it leaves.
fn has_claim(pod: &Pod) -> bool {
    pod.volumes.iter().any(|v| {
        matches!(
            v.source,
            VolumeSource::PersistentVolumeClaim { .. } | VolumeSource::Ephemeral
        )
    })
}
