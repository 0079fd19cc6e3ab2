//! The simulator as it was before its lists were indexed, kept for one
//! commit to check the indexed one against: same result on the demo's and
//! synthetic clusters' consolidation plans, and on random plans over a
//! snapshot with repeated names, finished pods and pods on missing nodes.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    missing_docs,
    dead_code
)]

use std::collections::BTreeMap;

use jiff::Timestamp;

use super::{has_claim, SimulatedStep, Simulation, SimulationError};
use crate::binpack::PodRequirement;
use crate::catalog::{Catalog, OperatingSystem};
use crate::execute::{Fact, Facts, Observation};
use crate::inventory::{AwsInventory, InstanceState};
use crate::plan::{Action, ObjectRef, Plan, Precondition};
use crate::resources::Resources;
use crate::snapshot::{node_labels, tolerates_all, ClusterSnapshot, Node, Pod};

pub(super) fn simulate_reference(
    snapshot: &ClusterSnapshot,
    account: Option<&AwsInventory>,
    plan: &Plan,
    catalog: &Catalog,
    now: Timestamp,
) -> Result<Simulation, SimulationError> {
    let mut sim = State {
        snapshot: snapshot.clone(),
        account: Some(
            account
                .cloned()
                .unwrap_or_else(|| assumed_account(snapshot)),
        ),
        catalog,
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
    Ok(Simulation {
        pending: sim.pending.iter().map(|(p, _)| p.key()).collect(),
        snapshot: sim.snapshot,
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
    snapshot: ClusterSnapshot,
    account: Option<AwsInventory>,
    catalog: &'a Catalog,
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
        let s = &self.snapshot;
        Some(match fact {
            Fact::Node { name } => Observation::Node(s.node(name).cloned().map(Box::new)),
            Fact::Pod { namespace, name } => Observation::Pod(
                s.pods
                    .iter()
                    .find(|p| &p.namespace == namespace && &p.name == name)
                    .cloned()
                    .map(Box::new),
            ),
            Fact::Pdb { namespace, name } => Observation::Pdb(
                s.pdbs
                    .iter()
                    .find(|b| &b.namespace == namespace && &b.name == name)
                    .cloned()
                    .map(Box::new),
            ),
            Fact::PodsOnNode { node } => {
                Observation::PodsOnNode(s.pods_on(node).cloned().collect())
            }
            Fact::NodeOfInstance { instance_id } => Observation::NodeOfInstance(
                s.node_by_instance_id(instance_id).map(|n| n.name.clone()),
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
            Fact::Instance { instance_id } => Observation::Instance(
                self.account
                    .as_ref()?
                    .instances
                    .iter()
                    .find(|i| &i.instance_id == instance_id)
                    .cloned()
                    .map(Box::new),
            ),
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
        let s = &self.snapshot;
        match action {
            Action::Cordon { node } => s.node(node).is_some_and(|n| n.unschedulable),
            Action::Evict { namespace, pod, .. } => !s
                .pods
                .iter()
                .any(|p| &p.namespace == namespace && &p.name == pod),
            Action::DeleteNode { node } | Action::Drain { node } => s.node(node).is_none(),
            _ => false,
        }
    }

    fn apply(&mut self, action: &Action) -> Result<(), String> {
        match action {
            Action::Cordon { node } | Action::Uncordon { node } => {
                let cordon = matches!(action, Action::Cordon { .. });
                if let Some(n) = self.snapshot.nodes.iter_mut().find(|n| &n.name == node) {
                    n.unschedulable = cordon;
                }
            }
            Action::Evict { namespace, pod, .. } => self.evict(namespace, pod),
            Action::Drain { node } => {
                let pods: Vec<(String, String)> = self
                    .snapshot
                    .pods_on(node)
                    .filter(|p| p.moves_with_node())
                    .map(|p| (p.namespace.clone(), p.name.clone()))
                    .collect();
                if let Some(n) = self.snapshot.nodes.iter_mut().find(|n| &n.name == node) {
                    n.unschedulable = true;
                }
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
                        if let Some(n) = self.snapshot.nodes.iter_mut().find(|n| &n.name == name) {
                            apply(&mut n.labels, labels);
                            apply(&mut n.annotations, annotations);
                        }
                    }
                    ObjectRef::Pod { namespace, name } => {
                        if let Some(p) = self
                            .snapshot
                            .pods
                            .iter_mut()
                            .find(|p| &p.namespace == namespace && &p.name == name)
                        {
                            apply(&mut p.labels, labels);
                            apply(&mut p.annotations, annotations);
                        }
                    }
                    ObjectRef::Workload(w) => {
                        if let Some(w) = self.snapshot.workloads.iter_mut().find(|x| {
                            x.kind == w.kind && x.namespace == w.namespace && x.name == w.name
                        }) {
                            apply(&mut w.labels, labels);
                        }
                    }
                }
            }
            Action::LaunchInstance {
                instance_type,
                zone,
                capacity_type,
                count,
                ..
            } => {
                let it = self.catalog.get(instance_type).ok_or_else(|| {
                    format!("instance type {instance_type} is not in the catalog")
                })?;
                let region = zone
                    .get(..zone.len().saturating_sub(1))
                    .unwrap_or_default()
                    .to_owned();
                let root = self
                    .snapshot
                    .nodes
                    .iter()
                    .map(|n| n.capacity.ephemeral_storage_bytes)
                    .max()
                    .unwrap_or(20 << 30)
                    .max(20 << 30);
                let overhead = self.snapshot.daemonset_overhead();
                for _ in 0..*count {
                    self.launched += 1;
                    let name = format!("simulated-{}-{}", instance_type, self.launched);
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
                    self.snapshot.nodes.push(Node {
                        name: name.clone(),
                        provider_id: None,
                        instance_id: None,
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
                if let Some(n) = self
                    .snapshot
                    .nodes
                    .iter_mut()
                    .find(|n| n.instance_id.as_deref() == Some(instance_id))
                {
                    n.ready = false;
                }
                if let Some(account) = &mut self.account {
                    if let Some(i) = account
                        .instances
                        .iter_mut()
                        .find(|i| &i.instance_id == instance_id)
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
                self.strand(|n| n.instance_id.as_deref() == Some(instance_id));
            }
            Action::DeleteNode { node } => {
                self.strand(|n| &n.name == node);
                self.snapshot
                    .pods
                    .retain(|p| p.node_name.as_deref() != Some(node));
                self.snapshot.nodes.retain(|n| &n.name != node);
            }
            Action::PatchResources {
                workload,
                container,
                patch,
            } => {
                if let Some(w) = self.snapshot.workloads.iter_mut().find(|w| {
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
            }
            Action::ScaleReplicas { workload, to, .. } => {
                if let Some(w) = self.snapshot.workloads.iter_mut().find(|w| {
                    w.kind == workload.kind
                        && w.namespace == workload.namespace
                        && w.name == workload.name
                }) {
                    w.replicas = Some(*to);
                }
            }
            Action::TagResource { resource_id, tags } => {
                if let Some(account) = &mut self.account {
                    for i in account
                        .instances
                        .iter_mut()
                        .filter(|i| &i.instance_id == resource_id)
                    {
                        i.tags.extend(tags.clone());
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
            Action::SnapshotVolume { .. } => {}
            Action::DeleteVolume { volume_id } => {
                if let Some(account) = &mut self.account {
                    account.volumes.retain(|v| &v.volume_id != volume_id);
                }
            }
        }
        Ok(())
    }

    /// Evict a pod: its PDBs lose a disruption, its controller recreates it
    /// (pending until placed), a bare pod is lost.
    fn evict(&mut self, namespace: &str, name: &str) {
        let Some(at) = self
            .snapshot
            .pods
            .iter()
            .position(|p| p.namespace == namespace && p.name == name)
        else {
            return;
        };
        let pod = self.snapshot.pods.remove(at);
        if pod.do_not_disrupt() {
            self.disrupted.push(pod.key());
        }
        for pdb in self
            .snapshot
            .pdbs
            .iter_mut()
            .filter(|b| b.covers(&pod.namespace, &pod.labels))
        {
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
                .and_then(|n| self.snapshot.node(n))
                .and_then(|n| n.zone.clone())
        } else {
            None
        };
        pod.node_name = None;
        self.pending.push((pod, zone));
    }

    /// Pods still bound to the nodes `gone` selects lose their node: those
    /// that move with a node are recreated elsewhere.
    fn strand(&mut self, gone: impl Fn(&Node) -> bool) {
        let names: Vec<String> = self
            .snapshot
            .nodes
            .iter()
            .filter(|n| gone(n))
            .map(|n| n.name.clone())
            .collect();
        let (stranded, kept): (Vec<Pod>, Vec<Pod>) = std::mem::take(&mut self.snapshot.pods)
            .into_iter()
            .partition(|p| {
                p.moves_with_node() && p.node_name.as_ref().is_some_and(|n| names.contains(n))
            });
        self.snapshot.pods = kept;
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
        // What each node's pods request, kept up to date as pods land.
        let mut requested: BTreeMap<String, Resources> = self
            .snapshot
            .requested_by_node()
            .into_iter()
            .map(|(n, r)| (n.to_owned(), r))
            .collect();
        for (mut pod, zone) in pending {
            let requirement = PodRequirement::from_pod(&pod);
            let best = self
                .snapshot
                .nodes
                .iter()
                .filter(|n| n.ready && !n.unschedulable)
                .filter_map(|n| {
                    let free = n
                        .allocatable
                        .saturating_sub(requested.get(&n.name).copied().unwrap_or_default());
                    let fits = requirement.requests.fits_within(&free)
                        && pod
                            .node_selector
                            .iter()
                            .all(|(k, v)| n.labels.get(k) == Some(v))
                        && pod.node_affinity.required_matches(&n.name, &n.labels)
                        && tolerates_all(&pod.tolerations, &n.taints)
                        && zone.as_ref().is_none_or(|z| n.zone.as_ref() == Some(z))
                        && requirement.anti_affinity_group.as_ref().is_none_or(|g| {
                            !self.snapshot.pods_on(&n.name).any(|p| {
                                PodRequirement::from_pod(p).anti_affinity_group.as_ref() == Some(g)
                            })
                        });
                    fits.then_some((
                        free.cpu_millis,
                        std::cmp::Reverse(n.name.clone()),
                        n.name.clone(),
                    ))
                })
                .max();
            match best {
                Some((_, _, node)) => {
                    if let Some(r) = requested.get_mut(&node) {
                        *r = r.saturating_add(requirement.requests);
                    }
                    pod.node_name = Some(node);
                    // The replacement is healthy again: its PDBs get the disruption back.
                    for pdb in self
                        .snapshot
                        .pdbs
                        .iter_mut()
                        .filter(|b| b.covers(&pod.namespace, &pod.labels))
                    {
                        pdb.disruptions_allowed = pdb.disruptions_allowed.saturating_add(1);
                    }
                    self.snapshot.pods.push(pod);
                }
                None => self.pending.push((pod, zone)),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::binpack::LpGuidedPacker;
    use crate::consolidation::{plan_consolidation, ConsolidationPolicy};
    use crate::demo::{synthetic_cluster, DemoConfig, DemoEnvironment};
    use crate::money::UsdPerHour;
    use crate::snapshot::{CapacityType, PodPhase};

    struct R(u64);
    impl R {
        fn next(&mut self) -> u64 {
            self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        }
        fn below(&mut self, n: usize) -> usize {
            (self.next() % n.max(1) as u64) as usize
        }
        fn chance(&mut self, pct: u64) -> bool {
            self.next() % 100 < pct
        }
    }

    fn same(
        snapshot: &ClusterSnapshot,
        account: Option<&AwsInventory>,
        plan: &Plan,
        catalog: &Catalog,
        now: Timestamp,
    ) {
        let new = super::super::simulate(snapshot, account, plan, catalog, now);
        let old = simulate_reference(snapshot, account, plan, catalog, now);
        assert!(
            new == old,
            "simulations differ for plan of {} steps",
            plan.steps.len()
        );
    }

    fn policies() -> Vec<ConsolidationPolicy> {
        vec![
            ConsolidationPolicy::default(),
            ConsolidationPolicy {
                max_disrupted_nodes: usize::MAX,
                max_disrupted_percent: 100,
                ..ConsolidationPolicy::default()
            },
            ConsolidationPolicy {
                max_disrupted_nodes: usize::MAX,
                max_disrupted_percent: 100,
                allow_local_storage_eviction: true,
                min_savings_usd_per_hour: UsdPerHour::ZERO,
                ..ConsolidationPolicy::default()
            },
        ]
    }

    #[test]
    fn consolidation_plans_simulate_alike() {
        let catalog = Catalog::embedded().unwrap();
        let demo = DemoEnvironment::generate(&DemoConfig::default(), catalog).unwrap();
        let now = demo.config.now;
        for policy in policies() {
            for account in [Some(&demo.aws), None] {
                let c = plan_consolidation(
                    &demo.snapshot,
                    account,
                    catalog,
                    &LpGuidedPacker::default(),
                    &policy,
                    now,
                );
                same(&demo.snapshot, account, &c.plan, catalog, now);
            }
        }
        for (nodes, pods) in [(200, 3000), (200, 9000), (400, 6000)] {
            let s = synthetic_cluster(nodes, pods, 7, catalog);
            for policy in policies() {
                let c =
                    plan_consolidation(&s, None, catalog, &LpGuidedPacker::default(), &policy, now);
                same(&s, None, &c.plan, catalog, now);
            }
        }
    }

    /// Random plans on a messy snapshot (repeated names, finished pods, …).
    #[test]
    fn random_plans_simulate_alike() {
        let catalog = Catalog::embedded().unwrap();
        let demo = DemoEnvironment::generate(&DemoConfig::default(), catalog).unwrap();
        let now = demo.config.now;
        let types: Vec<String> = [
            "m5.large",
            "m6i.2xlarge",
            "c6i.4xlarge",
            "r6i.xlarge",
            "nope.large",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        for seed in 0..300u64 {
            let mut r = R(seed);
            let mut s = demo.snapshot.clone();
            let mut account = demo.aws.clone();
            // Mess: repeated nodes and pods, finished pods, pods on missing nodes.
            if r.chance(50) {
                for _ in 0..3 {
                    let n = s.nodes[r.below(s.nodes.len())].clone();
                    let at = r.below(s.nodes.len());
                    s.nodes.insert(at, n);
                }
            }
            for _ in 0..r.below(10) {
                let mut p = s.pods[r.below(s.pods.len())].clone();
                match r.below(4) {
                    0 => p.phase = PodPhase::Succeeded,
                    1 => p.node_name = Some("ghost".into()),
                    2 => p.node_name = Some(format!("simulated-m5.large-{}", 1 + r.below(3))),
                    _ => {}
                }
                let at = r.below(s.pods.len());
                s.pods.insert(at, p);
            }
            for _ in 0..r.below(6) {
                let at = r.below(s.pods.len());
                s.pods[at].phase = PodPhase::Failed;
            }
            if r.chance(30) {
                let ids: Vec<String> = s
                    .nodes
                    .iter()
                    .filter_map(|n| n.instance_id.clone())
                    .collect();
                if let Some(g) = account.auto_scaling_groups.first_mut() {
                    g.instance_ids.push(ids[r.below(ids.len())].clone());
                }
            }
            let names: Vec<String> = s
                .nodes
                .iter()
                .map(|n| n.name.clone())
                .chain(["ghost".to_string(), "simulated-m5.large-1".to_string()])
                .collect();
            let ids: Vec<String> = s
                .nodes
                .iter()
                .filter_map(|n| n.instance_id.clone())
                .collect();
            let pods: Vec<(String, String, String)> = s
                .pods
                .iter()
                .map(|p| {
                    (
                        p.namespace.clone(),
                        p.name.clone(),
                        p.node_name.clone().unwrap_or_default(),
                    )
                })
                .collect();
            let pdbs: Vec<(String, String)> = s
                .pdbs
                .iter()
                .map(|b| (b.namespace.clone(), b.name.clone()))
                .collect();
            let mut plan = Plan::new("random", now);
            for _ in 0..(5 + r.below(120)) {
                let node = names[r.below(names.len())].clone();
                let (namespace, pod, on) = pods[r.below(pods.len())].clone();
                let action = match r.below(12) {
                    0 => Action::Cordon { node },
                    1 => Action::Uncordon { node },
                    2..=4 => Action::Evict {
                        namespace,
                        pod,
                        node: on,
                    },
                    5 => Action::Drain { node },
                    6 => Action::DeleteNode { node },
                    7 => Action::TerminateInstance {
                        instance_id: ids[r.below(ids.len())].clone(),
                        node: None,
                        auto_scaling_group: None,
                    },
                    8 => Action::LaunchInstance {
                        instance_type: {
                            let k = types.len() - usize::from(r.chance(95));
                            types[r.below(k)].clone()
                        },
                        zone: ["us-east-1a", "us-east-1b", "us-east-1c"][r.below(3)].to_owned(),
                        capacity_type: CapacityType::OnDemand,
                        count: 1 + r.below(3) as u32,
                        tags: Default::default(),
                    },
                    9 => Action::SetMetadata {
                        object: ObjectRef::Pod {
                            namespace,
                            name: pod,
                        },
                        labels: [(
                            "app".to_owned(),
                            if r.chance(50) {
                                None
                            } else {
                                Some("other".to_owned())
                            },
                        )]
                        .into(),
                        annotations: [(
                            "kubernetes.io/config.mirror".to_owned(),
                            r.chance(30).then(|| "x".to_owned()),
                        )]
                        .into(),
                    },
                    10 => Action::SetMetadata {
                        object: ObjectRef::Node { name: node },
                        labels: [("kubernetes.io/arch".to_owned(), Some("arm64".to_owned()))]
                            .into(),
                        annotations: Default::default(),
                    },
                    _ => Action::TagResource {
                        resource_id: ids[r.below(ids.len())].clone(),
                        tags: [("a".to_owned(), "b".to_owned())].into(),
                    },
                };
                let mut pre = Vec::new();
                if r.chance(20) {
                    pre.push(Precondition::NodeExists {
                        node: names[r.below(names.len())].clone(),
                    });
                }
                if r.chance(20) {
                    let (namespace, pod, _) = pods[r.below(pods.len())].clone();
                    pre.push(Precondition::PodDisruptable { namespace, pod });
                }
                if r.chance(20) && !pdbs.is_empty() {
                    let (namespace, name) = pdbs[r.below(pdbs.len())].clone();
                    pre.push(Precondition::PdbAllows { namespace, name });
                }
                if r.chance(10) {
                    pre.push(Precondition::NodeDrained {
                        node: names[r.below(names.len())].clone(),
                    });
                }
                if r.chance(10) {
                    pre.push(Precondition::InstanceNotInCluster {
                        instance_id: ids[r.below(ids.len())].clone(),
                    });
                }
                plan.push(action, "random", pre, UsdPerHour::ZERO);
            }
            let acc = if r.chance(70) { Some(&account) } else { None };
            same(&s, acc, &plan, catalog, now);
        }
    }
}
