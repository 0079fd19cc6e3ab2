//! The simulated cluster's nodes and pods, indexed so that a step of a plan
//! costs time in proportion to what it touches (a node, its pods, a pod),
//! not to the size of the cluster.
//!
//! Nodes and pods sit in slots, in the snapshot's order, new ones after:
//! one that goes leaves a dead slot behind, so positions never shift, and
//! [`Cluster::into_parts`] gives back the lists a `Vec` would hold had each
//! removal been a `Vec::remove` and each arrival a `push`. Every lookup
//! answers as a front-to-back scan of those lists would (the first node of
//! a name, the first pod of a namespace and name), so the simulation is the
//! same step by step, repeats in a snapshot included.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::hash::{BuildHasherDefault, DefaultHasher, Hash, Hasher};

use crate::resources::Resources;
use crate::snapshot::{Node, Pod};

/// Slot numbers in ascending order (usually one, or a node's few dozen pods).
#[derive(Clone, Debug, Default)]
struct Slots(Vec<usize>);

impl Slots {
    fn insert(&mut self, slot: usize) {
        if let Err(at) = self.0.binary_search(&slot) {
            self.0.insert(at, slot);
        }
    }

    fn remove(&mut self, slot: usize) {
        if let Ok(at) = self.0.binary_search(&slot) {
            self.0.remove(at);
        }
    }

    fn iter(&self) -> impl Iterator<Item = usize> + '_ {
        self.0.iter().copied()
    }
}

/// A pod's namespace and name, hashed: the key of the pod index (whose
/// entries are checked against the pods themselves, so a collision costs a
/// comparison, never a wrong answer).
fn pod_key(namespace: &str, name: &str) -> u64 {
    let mut hasher = DefaultHasher::new();
    (namespace, name).hash(&mut hasher);
    hasher.finish()
}

/// Hashes a key that is a hash already ([`pod_key`]) by passing it through.
#[derive(Default)]
struct PassThrough(u64);

impl Hasher for PassThrough {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*b);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

/// Nodes and pods of the simulated cluster, with their indexes.
pub(super) struct Cluster {
    nodes: Vec<Option<Node>>,
    /// The pods, those gone too (`pod_live` says which are there): the
    /// snapshot's list is kept as it is, not moved pod by pod.
    pods: Vec<Pod>,
    pod_live: Vec<bool>,
    /// Slots of the nodes of each name.
    node_by_name: HashMap<String, Slots>,
    /// Slots of the nodes of each instance id.
    node_by_instance: HashMap<String, Slots>,
    /// Slots of the pods of each [`pod_key`].
    pod_by_key: HashMap<u64, Slots, BuildHasherDefault<PassThrough>>,
    /// Slots of the pods naming each node (any phase, the node there or not).
    pods_by_node: HashMap<String, Slots>,
    /// For each name of a node in the cluster, what the active pods naming
    /// it request (what [`ClusterSnapshot::requested_by_node`] says), plus
    /// what inactive pods placed since [`Cluster::end_round`] request.
    ///
    /// [`ClusterSnapshot::requested_by_node`]: crate::snapshot::ClusterSnapshot::requested_by_node
    requested: HashMap<String, Resources>,
    /// Names whose `requested` counts inactive pods placed this round.
    counted_inactive: BTreeSet<String>,
    /// Nodes that take pods (ready, not cordoned), by CPU left (most
    /// first), then name, then slot.
    roomiest: BTreeSet<(Reverse<u64>, String, usize)>,
    /// The CPU left each node in `roomiest` is filed under, by slot.
    filed: Vec<Option<u64>>,
    /// Root volume sizes (`capacity.ephemeral_storage_bytes`) of the nodes, counted.
    root_volumes: BTreeMap<u64, usize>,
}

impl Cluster {
    /// Index `nodes` and `pods`.
    pub(super) fn new(nodes: Vec<Node>, pods: Vec<Pod>) -> Cluster {
        let mut cluster = Cluster {
            nodes: Vec::with_capacity(nodes.len()),
            pods: Vec::new(),
            pod_live: vec![true; pods.len()],
            node_by_name: HashMap::with_capacity(nodes.len()),
            node_by_instance: HashMap::with_capacity(nodes.len()),
            pod_by_key: HashMap::with_capacity_and_hasher(pods.len(), Default::default()),
            pods_by_node: HashMap::with_capacity(nodes.len()),
            requested: HashMap::with_capacity(nodes.len()),
            counted_inactive: BTreeSet::new(),
            roomiest: BTreeSet::new(),
            filed: Vec::with_capacity(nodes.len()),
            root_volumes: BTreeMap::new(),
        };
        for (slot, pod) in pods.iter().enumerate() {
            cluster.index_pod(slot, pod);
        }
        cluster.pods = pods;
        for node in nodes {
            cluster.file_node(node);
        }
        // What each node's pods request, then where each node stands.
        let names: Vec<String> = cluster.node_by_name.keys().cloned().collect();
        for name in names {
            cluster.recount(&name);
        }
        cluster
    }

    /// The nodes and the pods, in order.
    pub(super) fn into_parts(self) -> (Vec<Node>, Vec<Pod>) {
        let mut pods = self.pods;
        let mut live = self.pod_live.into_iter();
        // `retain` visits the pods once each, in order.
        pods.retain(|_| live.next().unwrap_or(false));
        (self.nodes.into_iter().flatten().collect(), pods)
    }

    /// Index the pod in `slot`.
    fn index_pod(&mut self, slot: usize, pod: &Pod) {
        self.pod_by_key
            .entry(pod_key(&pod.namespace, &pod.name))
            .or_default()
            .insert(slot);
        if let Some(node) = &pod.node_name {
            match self.pods_by_node.get_mut(node) {
                Some(slots) => slots.insert(slot),
                None => {
                    self.pods_by_node.insert(node.clone(), Slots(vec![slot]));
                }
            }
        }
    }

    fn file_pod(&mut self, pod: Pod) -> usize {
        let slot = self.pods.len();
        self.index_pod(slot, &pod);
        self.pods.push(pod);
        self.pod_live.push(true);
        slot
    }

    fn file_node(&mut self, node: Node) -> usize {
        let slot = self.nodes.len();
        self.node_by_name
            .entry(node.name.clone())
            .or_default()
            .insert(slot);
        if let Some(id) = &node.instance_id {
            self.node_by_instance
                .entry(id.clone())
                .or_default()
                .insert(slot);
        }
        *self
            .root_volumes
            .entry(node.capacity.ephemeral_storage_bytes)
            .or_default() += 1;
        self.nodes.push(Some(node));
        self.filed.push(None);
        slot
    }

    fn node_at(&self, slot: usize) -> Option<&Node> {
        self.nodes.get(slot).and_then(Option::as_ref)
    }

    fn pod_at(&self, slot: usize) -> Option<&Pod> {
        self.pods
            .get(slot)
            .filter(|_| self.pod_live.get(slot).copied().unwrap_or(false))
    }

    fn node_slot(&self, name: &str) -> Option<usize> {
        self.node_by_name.get(name).and_then(|s| s.iter().next())
    }

    fn pod_slot(&self, namespace: &str, name: &str) -> Option<usize> {
        self.pod_by_key
            .get(&pod_key(namespace, name))?
            .iter()
            .find(|&slot| {
                self.pod_at(slot)
                    .is_some_and(|p| p.namespace == namespace && p.name == name)
            })
    }

    /// The first node named `name`.
    pub(super) fn node(&self, name: &str) -> Option<&Node> {
        self.node_slot(name).and_then(|slot| self.node_at(slot))
    }

    /// The first node running the instance `instance_id`.
    pub(super) fn node_by_instance_id(&self, instance_id: &str) -> Option<&Node> {
        self.node_by_instance
            .get(instance_id)
            .and_then(|s| s.iter().next())
            .and_then(|slot| self.node_at(slot))
    }

    /// The names of the nodes running the instance `instance_id`.
    pub(super) fn names_of_instance(&self, instance_id: &str) -> Vec<String> {
        self.node_by_instance
            .get(instance_id)
            .into_iter()
            .flat_map(Slots::iter)
            .filter_map(|slot| self.node_at(slot).map(|n| n.name.clone()))
            .collect()
    }

    /// The largest root volume of the nodes.
    pub(super) fn largest_root_volume(&self) -> Option<u64> {
        self.root_volumes.keys().next_back().copied()
    }

    /// The first node named `name`, to change its labels or annotations
    /// (nothing indexed: not its name, instance, readiness or cordon).
    pub(super) fn node_metadata_mut(&mut self, name: &str) -> Option<&mut Node> {
        let slot = self.node_slot(name)?;
        self.nodes.get_mut(slot).and_then(Option::as_mut)
    }

    /// Cordon (or uncordon) the first node named `name`.
    pub(super) fn set_unschedulable(&mut self, name: &str, unschedulable: bool) {
        let Some(slot) = self.node_slot(name) else {
            return;
        };
        if let Some(n) = self.nodes.get_mut(slot).and_then(Option::as_mut) {
            n.unschedulable = unschedulable;
        }
        self.refile(slot);
    }

    /// Mark the first node running `instance_id` not ready.
    pub(super) fn set_not_ready(&mut self, instance_id: &str) {
        let Some(slot) = self
            .node_by_instance
            .get(instance_id)
            .and_then(|s| s.iter().next())
        else {
            return;
        };
        if let Some(n) = self.nodes.get_mut(slot).and_then(Option::as_mut) {
            n.ready = false;
        }
        self.refile(slot);
    }

    /// Add a node after the others.
    pub(super) fn push_node(&mut self, node: Node) {
        let name = node.name.clone();
        self.file_node(node);
        self.recount(&name);
    }

    /// Remove every node named `name`.
    pub(super) fn remove_nodes(&mut self, name: &str) {
        let Some(slots) = self.node_by_name.remove(name) else {
            return;
        };
        for slot in slots.iter() {
            self.unfile(slot);
            let Some(node) = self.nodes.get_mut(slot).and_then(Option::take) else {
                continue;
            };
            if let Some(id) = &node.instance_id {
                if let Some(s) = self.node_by_instance.get_mut(id) {
                    s.remove(slot);
                    if s.0.is_empty() {
                        self.node_by_instance.remove(id);
                    }
                }
            }
            let size = node.capacity.ephemeral_storage_bytes;
            if let Some(count) = self.root_volumes.get_mut(&size) {
                *count = count.saturating_sub(1);
                if *count == 0 {
                    self.root_volumes.remove(&size);
                }
            }
        }
        self.requested.remove(name);
        self.counted_inactive.remove(name);
    }

    /// The first pod `namespace/name`.
    pub(super) fn pod(&self, namespace: &str, name: &str) -> Option<&Pod> {
        self.pod_slot(namespace, name)
            .and_then(|slot| self.pod_at(slot))
    }

    /// The first pod `namespace/name`, to change its labels or annotations
    /// (nothing indexed: not its namespace, name or node).
    pub(super) fn pod_metadata_mut(&mut self, namespace: &str, name: &str) -> Option<&mut Pod> {
        let slot = self.pod_slot(namespace, name)?;
        self.pods.get_mut(slot)
    }

    /// The active pods on the node named `node`, in order.
    pub(super) fn pods_on<'a>(&'a self, node: &str) -> impl Iterator<Item = &'a Pod> + 'a {
        self.pods_by_node
            .get(node)
            .into_iter()
            .flat_map(Slots::iter)
            .filter_map(|slot| self.pod_at(slot))
            .filter(|p| p.is_active_on_node())
    }

    /// Take the first pod `namespace/name` out of the cluster.
    pub(super) fn take_pod(&mut self, namespace: &str, name: &str) -> Option<Pod> {
        let slot = self.pod_slot(namespace, name)?;
        let pod = self.unfile_pod(slot)?;
        if let Some(node) = &pod.node_name {
            self.recount(node);
        }
        Some(pod)
    }

    /// Take out, in order, the pods naming one of `nodes` that `which` selects.
    pub(super) fn take_pods_on(
        &mut self,
        nodes: &[String],
        which: impl Fn(&Pod) -> bool,
    ) -> Vec<Pod> {
        let mut slots: Vec<usize> = nodes
            .iter()
            .filter_map(|n| self.pods_by_node.get(n))
            .flat_map(Slots::iter)
            .filter(|&slot| self.pod_at(slot).is_some_and(&which))
            .collect();
        slots.sort_unstable();
        slots.dedup();
        let pods: Vec<Pod> = slots
            .into_iter()
            .filter_map(|slot| self.unfile_pod(slot))
            .collect();
        for node in nodes {
            self.recount(node);
        }
        pods
    }

    /// Take the pod in `slot` out (a copy leaves; the slot stays, dead).
    fn unfile_pod(&mut self, slot: usize) -> Option<Pod> {
        let pod = self.pod_at(slot)?.clone();
        if let Some(live) = self.pod_live.get_mut(slot) {
            *live = false;
        }
        let key = pod_key(&pod.namespace, &pod.name);
        if let Some(s) = self.pod_by_key.get_mut(&key) {
            s.remove(slot);
            if s.0.is_empty() {
                self.pod_by_key.remove(&key);
            }
        }
        if let Some(node) = &pod.node_name {
            if let Some(s) = self.pods_by_node.get_mut(node) {
                s.remove(slot);
                if s.0.is_empty() {
                    self.pods_by_node.remove(node);
                }
            }
        }
        Some(pod)
    }

    /// Nodes that take pods, most CPU left first (ties by name), as far as
    /// those with at least `cpu_millis` left: each with what it has left.
    pub(super) fn roomiest(
        &self,
        cpu_millis: u64,
    ) -> impl Iterator<Item = (&Node, Resources)> + '_ {
        self.roomiest
            .iter()
            .take_while(move |(Reverse(left), _, _)| *left >= cpu_millis)
            .filter_map(|&(_, _, slot)| {
                let node = self.node_at(slot)?;
                Some((node, self.free(node)))
            })
    }

    /// Place `pod` (its node name set) after the other pods; what it
    /// requests counts on its node at once (until the end of the round
    /// only, if it is not active there).
    pub(super) fn place(&mut self, pod: Pod, requests: Resources) {
        let node = pod.node_name.clone();
        let active = pod.is_active_on_node();
        self.file_pod(pod);
        let Some(node) = node else {
            return;
        };
        let Some(total) = self.requested.get_mut(&node) else {
            return;
        };
        *total = total.saturating_add(requests);
        if !active {
            self.counted_inactive.insert(node.clone());
        }
        self.refile_name(&node);
    }

    /// End a scheduling round: inactive pods placed during it stop counting.
    pub(super) fn end_round(&mut self) {
        for name in std::mem::take(&mut self.counted_inactive) {
            self.recount(&name);
        }
    }

    /// What `node` has left.
    fn free(&self, node: &Node) -> Resources {
        node.allocatable
            .saturating_sub(self.requested.get(&node.name).copied().unwrap_or_default())
    }

    /// Add up again what the active pods naming `name` request, if a node
    /// has that name, and file its nodes again.
    fn recount(&mut self, name: &str) {
        if !self.node_by_name.contains_key(name) {
            return;
        }
        let total = self
            .pods_on(name)
            .fold(Resources::ZERO, |a, p| a.saturating_add(p.requests()));
        self.requested.insert(name.to_owned(), total);
        self.counted_inactive.remove(name);
        self.refile_name(name);
    }

    fn refile_name(&mut self, name: &str) {
        let slots: Vec<usize> = self
            .node_by_name
            .get(name)
            .into_iter()
            .flat_map(Slots::iter)
            .collect();
        for slot in slots {
            self.refile(slot);
        }
    }

    fn unfile(&mut self, slot: usize) {
        if let Some(left) = self.filed.get_mut(slot).and_then(Option::take) {
            if let Some(node) = self.node_at(slot) {
                let entry = (Reverse(left), node.name.clone(), slot);
                self.roomiest.remove(&entry);
            }
        }
    }

    /// File the node in `slot` under what it has left, if it takes pods.
    fn refile(&mut self, slot: usize) {
        self.unfile(slot);
        let Some(node) = self.node_at(slot) else {
            return;
        };
        if !node.ready || node.unschedulable {
            return;
        }
        let left = self.free(node).cpu_millis;
        let entry = (Reverse(left), node.name.clone(), slot);
        self.roomiest.insert(entry);
        if let Some(filed) = self.filed.get_mut(slot) {
            *filed = Some(left);
        }
    }
}
