//! Consolidation: remove nodes whose pods fit on the others.
//!
//! From a snapshot, the planner finds nodes that are empty (DaemonSet pods
//! only), whose movable pods all fit on the remaining nodes, or that a
//! cheaper instance type could replace, and writes the plan: launch replacements, cordon every node it removes, evict (largest pods first),
//! terminate the instance, delete the Node object, each step with its
//! reason, preconditions and $/h effect.
//!
//! The pods of a node that move are those of [`Pod::moves_with_node`]. A
//! node is never touched when it is annotated do-not-disrupt, or when one
//! of its pods cannot move: no controller (a bare pod), a do-not-disrupt
//! annotation (`cloudoptim.io/do-not-disrupt` or `karpenter.sh/do-not-disrupt`
//! set to `true`, by the rule of [`is_do_not_disrupt`](crate::snapshot::is_do_not_disrupt),
//! on the pod or the node), local storage (`emptyDir` on disk, `hostPath`)
//! unless the policy allows it, or a PDB that holds it under the policy's
//! [`PdbRule`] (by default, one with fewer disruptions left than the node's
//! pods it covers).
//!
//! A snapshot with two objects of one identity (two Nodes named alike, two
//! PDBs of one namespace and name, …; see [`ClusterSnapshot::check_unique`])
//! is not planned on: the plan is empty and every node is reported
//! [`Blocked::InvalidSnapshot`]. A destination must satisfy the
//! pod's node selector, required node affinity, taints, hostname
//! anti-affinity, and keep zone-spread pods in their zone. At most
//! `max_disrupted_nodes` (and `max_disrupted_percent` of the nodes) are
//! removed per plan, and only nodes worth at least `min_savings_usd_per_hour`.
//!
//! A node whose pods do not fit elsewhere is replaced when a cheaper
//! instance type holds all of them, DaemonSet pods included, with the
//! policy's headroom: any type the [`ReplacementPolicy`] allows (by
//! default any family of the node's architecture), in the node's zone, for
//! its OS, whose labels every pod accepts; launch the replacement first,
//! then drain and remove the old node. [`node_rightsizing`](crate::node_rightsizing)
//! plans such replacements alone, for every node. Nodes of one zone whose pods fit nowhere else
//! (and that belong to no managed node group) are also tried together: the
//! packer repacks their pods onto new nodes, and when that takes fewer
//! nodes and saves at least the threshold, the new nodes are launched
//! before the old ones are drained (Karpenter's multi-node consolidation).

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::binpack::{Packer, PodRequirement};
use crate::catalog::Catalog;
use crate::environment::NodeEnvironment;
use crate::inventory::{AutoScalingGroup, AwsInventory};
use crate::money::UsdPerHour;
use crate::plan::{Action, Plan, Precondition, SavingsReport};
use crate::pricing::node_price;
use crate::resources::Resources;
use crate::snapshot::{
    tolerates_all, CapacityType, ClusterSnapshot, DuplicateObject, Node, Pod, PodDisruptionBudget,
};

mod bound;
mod replacement;
mod steady;

pub use bound::{consolidation_bound, ConsolidationBound};
pub use replacement::ReplacementPolicy;
pub(crate) use replacement::{cheapest_replacement, cheapest_type, node_group_type, PricedTypes};
pub use steady::{until_steady, Round, SteadyState};

/// The largest group of nodes replaced together.
const MAX_GROUP: usize = 16;

/// How many candidate destinations are examined per pod.
const MAX_DESTINATIONS_PER_POD: usize = 512;

/// Limits on what one consolidation plan may do.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ConsolidationPolicy {
    /// Region whose prices apply.
    pub region: String,
    /// At most this many nodes removed per plan.
    pub max_disrupted_nodes: usize,
    /// And at most this share of the cluster's nodes, percent (rounded up).
    pub max_disrupted_percent: u32,
    /// Only remove a node that saves at least this much.
    pub min_savings_usd_per_hour: UsdPerHour,
    /// Allow evicting pods with node-local storage (their data is lost).
    pub allow_local_storage_eviction: bool,
    /// Which instance types may replace a node, and the headroom they leave.
    #[serde(default)]
    pub replacement: ReplacementPolicy,
    /// How PodDisruptionBudgets limit which nodes a plan may drain.
    #[serde(default)]
    pub pdb_rule: PdbRule,
}

/// How PodDisruptionBudgets limit which nodes a plan may drain. Either way
/// the API server enforces every PDB on each eviction (a refused eviction
/// is retried until the step's deadline), so neither rule lets a plan break
/// one; they differ in what a plan tries.
///
/// ```
/// use cloudoptim_core::consolidation::{ConsolidationPolicy, PdbRule};
///
/// // Drain like Karpenter: one disruption left is enough, evictions wait.
/// let policy = ConsolidationPolicy { pdb_rule: PdbRule::OneAtATime, ..ConsolidationPolicy::default() };
/// assert_ne!(policy, ConsolidationPolicy::default());
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PdbRule {
    /// A node is drained only if every pod of it that a PDB covers is
    /// within the disruptions the PDB allows now, counted over the whole
    /// plan: no eviction ever has to wait. A service whose PDB allows one
    /// disruption holds every node with two of its pods.
    #[default]
    WholeNode,
    /// Karpenter's rule: a node is drained if every PDB covering its pods
    /// allows at least one disruption now. The drain evicts one pod at a
    /// time as the PDBs allow, each eviction waiting (until the step's
    /// deadline) for the replacement of the one before to be ready. More
    /// nodes can go; drains take longer.
    OneAtATime,
}

impl PdbRule {
    /// Whether a PDB allowing `allowed` disruptions (what is left of it in
    /// the plan) holds a node with `needed` of its pods.
    fn blocks(self, allowed: u32, needed: u32) -> bool {
        match self {
            PdbRule::WholeNode => needed > allowed,
            PdbRule::OneAtATime => needed > 0 && allowed == 0,
        }
    }
}

impl Default for ConsolidationPolicy {
    /// us-east-1; at most 10% of the nodes and no more than 10 per plan
    /// (Karpenter's default budget is 10%); nodes worth at least $0.01/h;
    /// pods with local storage stay; replacements as
    /// [`ReplacementPolicy::default`].
    fn default() -> Self {
        ConsolidationPolicy {
            region: "us-east-1".into(),
            max_disrupted_nodes: 10,
            max_disrupted_percent: 10,
            min_savings_usd_per_hour: UsdPerHour::from_micro_usd(10_000),
            allow_local_storage_eviction: false,
            replacement: ReplacementPolicy::default(),
            pdb_rule: PdbRule::WholeNode,
        }
    }
}

/// Why a node is not consolidated.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum Blocked {
    /// A pod has no controller to recreate it.
    #[error("pod {pod} has no controller")]
    BarePod {
        /// `namespace/name`.
        pod: String,
    },
    /// A pod is annotated do-not-disrupt.
    #[error("pod {pod} is annotated do-not-disrupt")]
    DoNotDisrupt {
        /// `namespace/name`.
        pod: String,
    },
    /// The node is annotated do-not-disrupt.
    #[error("the node is annotated do-not-disrupt")]
    NodeDoNotDisrupt,
    /// A pod keeps data on the node.
    #[error("pod {pod} has local storage")]
    LocalStorage {
        /// `namespace/name`.
        pod: String,
    },
    /// A PDB has fewer disruptions left (in this plan) than the node's pods
    /// it covers ([`PdbRule::WholeNode`]), or none ([`PdbRule::OneAtATime`]).
    #[error("PDB {pdb} allows {allowed} disruption(s), the node has {needed} of its pods")]
    Pdb {
        /// `namespace/name` of the PDB.
        pdb: String,
        /// Disruptions it allows.
        allowed: u32,
        /// Pods of the node it covers.
        needed: u32,
    },
    /// The node has no EC2 instance id (its providerID is not AWS), so
    /// nothing would stop paying for it.
    #[error("the node has no EC2 instance id")]
    NoInstance,
    /// The node's Auto Scaling group is at its minimum size (counting the
    /// removals already in this plan): removing it would make the group
    /// launch another.
    #[error("its Auto Scaling group {group} is at its minimum size ({min_size})")]
    GroupAtMinimum {
        /// Group name.
        group: String,
        /// The group's minimum size.
        min_size: u32,
    },
    /// The node belongs to a node group, but no observed Auto Scaling group
    /// holds its instance: removing it cannot be planned honestly.
    #[error("it belongs to node group {node_group}, but no observed Auto Scaling group holds its instance (observe the account to consolidate it)")]
    GroupUnknown {
        /// The node group label's value.
        node_group: String,
    },
    /// Pods of a node removed in this plan are to land here.
    #[error("it receives pods of a node removed in this plan")]
    Receiving,
    /// A pod has a constraint the simulation does not model.
    #[error("pod {pod} has {constraint}, which consolidation does not simulate")]
    Unsupported {
        /// `namespace/name`.
        pod: String,
        /// The constraint.
        constraint: String,
    },
    /// A pod fits on no other node.
    #[error("pod {pod} fits on no other node")]
    NoRoom {
        /// `namespace/name`.
        pod: String,
    },
    /// No instance type the replacement policy allows holds the node's pods
    /// with the headroom, is accepted by every pod and saves the threshold.
    #[error("no allowed instance type holds its pods with the headroom for less")]
    NoCheaperType,
    /// The node belongs to a managed node group, whose Auto Scaling group
    /// launches its own instance type: replacing it by another type is the
    /// node group's business.
    #[error("it belongs to node group {node_group}, which launches its own instance type")]
    NodeGroupType {
        /// The node group label's value.
        node_group: String,
    },
    /// The node has no zone label: nothing tells where a replacement would go.
    #[error("the node has no zone, so nothing tells where a replacement would go")]
    NoZone,
    /// Removing the node saves less than the threshold.
    #[error("removing it saves less than the threshold")]
    BelowThreshold,
    /// The node cannot be priced, so no saving can be claimed for it: its
    /// instance type is not in the catalog, the catalog has no price for
    /// it in the node's region, or it is spot and the Spot Advisor has no
    /// estimate.
    #[error("cannot tell what it costs: {why}")]
    Unpriced {
        /// What is missing, e.g. `no price for hpc6a.48xlarge in us-east-2`.
        why: String,
    },
    /// Not converted to spot: the node is not on-demand (already spot, or
    /// its capacity type is unknown, so what it costs cannot be told).
    #[error("it is not on-demand (capacity type {capacity_type:?})")]
    NotOnDemand {
        /// What its labels say.
        capacity_type: CapacityType,
    },
    /// Not considered: the disruption budget of this plan is used up (its
    /// pods may move freely; whether they fit is decided in a later plan).
    #[error("not considered: the disruption budget of this plan is used up")]
    Budget,
    /// Not considered: the snapshot has two objects of one identity, so
    /// nothing in it can be trusted (every node gets this, and the plan is
    /// empty).
    #[error("not considered: the snapshot is invalid: {duplicate}")]
    InvalidSnapshot {
        /// The first repeat found.
        duplicate: DuplicateObject,
    },
    /// Not considered: the snapshot does not tell which pods run where (a
    /// `kubectl get nodes` file, say), so every node would look empty
    /// (every node gets this, and the plan is empty; see
    /// [`ClusterSnapshot::why_pods_unknown`]).
    #[error("not considered: {why}")]
    PodsUnknown {
        /// What is missing.
        why: String,
    },
}

impl Blocked {
    /// A short name of the reason (`bare_pod`, `pdb`, `no_room`, …).
    pub fn kind(&self) -> &'static str {
        match self {
            Blocked::BarePod { .. } => "bare_pod",
            Blocked::DoNotDisrupt { .. } => "do_not_disrupt",
            Blocked::NodeDoNotDisrupt => "node_do_not_disrupt",
            Blocked::LocalStorage { .. } => "local_storage",
            Blocked::Pdb { .. } => "pdb",
            Blocked::NoRoom { .. } => "no_room",
            Blocked::NoCheaperType => "no_cheaper_type",
            Blocked::NodeGroupType { .. } => "node_group_type",
            Blocked::NoZone => "no_zone",
            Blocked::BelowThreshold => "below_threshold",
            Blocked::Unpriced { .. } => "unpriced",
            Blocked::NoInstance => "no_instance",
            Blocked::GroupAtMinimum { .. } => "group_at_minimum",
            Blocked::GroupUnknown { .. } => "group_unknown",
            Blocked::Receiving => "receiving",
            Blocked::Unsupported { .. } => "unsupported_constraint",
            Blocked::NotOnDemand { .. } => "not_on_demand",
            Blocked::Budget => "budget",
            Blocked::InvalidSnapshot { .. } => "invalid_snapshot",
            Blocked::PodsUnknown { .. } => "pods_unknown",
        }
    }
}

/// A node replaced by a cheaper one that holds all its pods.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Replacement {
    /// The node replaced.
    pub node: String,
    /// Its instance type.
    pub from_instance_type: String,
    /// The new node's instance type.
    pub instance_type: String,
    /// The new node's zone (the old one's).
    pub zone: String,
    /// How the new node is bought.
    pub capacity_type: CapacityType,
    /// What pods could use on the new node.
    pub allocatable: Resources,
    /// The new node's price.
    pub usd_per_hour: UsdPerHour,
}

/// Several nodes of one zone replaced together by new nodes that the
/// packer chose for their pods.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MultiReplacement {
    /// The nodes replaced.
    pub nodes: Vec<String>,
    /// What they cost.
    pub old_usd_per_hour: UsdPerHour,
    /// The new nodes (type, zone, allocatable, price, pods placed).
    pub new_nodes: Vec<crate::binpack::PackedNode>,
    /// What the new nodes cost.
    pub new_usd_per_hour: UsdPerHour,
}

/// Where a pod is expected to go when its node is removed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Move {
    /// `namespace/name`.
    pub pod: String,
    /// Node it leaves.
    pub from: String,
    /// Node it fits on.
    pub to: String,
}

/// A consolidation plan and what it found.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Consolidation {
    /// The steps.
    pub plan: Plan,
    /// Nodes the plan removes (deleted outright, or replaced).
    pub removed_nodes: Vec<String>,
    /// Nodes replaced by a cheaper instance type, and by which.
    pub replacements: Vec<Replacement>,
    /// Groups of nodes replaced together by fewer or cheaper new ones.
    pub multi_replacements: Vec<MultiReplacement>,
    /// Where each evicted pod fits.
    pub moves: Vec<Move>,
    /// Nodes left alone, and why.
    pub blocked: Vec<(String, Blocked)>,
    /// The plan's effect on the bill.
    pub savings: SavingsReport,
}

/// The PDBs covering each pod, found through an index rather than a scan
/// of them all.
struct PdbIndex<'a> {
    pdbs: &'a [PodDisruptionBudget],
    index: crate::snapshot::PdbIndex<'a>,
}

impl<'a> PdbIndex<'a> {
    fn new(pdbs: &'a [PodDisruptionBudget]) -> PdbIndex<'a> {
        PdbIndex {
            pdbs,
            index: crate::snapshot::PdbIndex::new(pdbs),
        }
    }

    /// The PDBs covering `pod`, in a stable order.
    fn for_pod(&self, pod: &Pod) -> Vec<&'a PodDisruptionBudget> {
        let mut out: Vec<&PodDisruptionBudget> = self
            .index
            .covering(self.pdbs, &pod.namespace, &pod.labels)
            .into_iter()
            .filter_map(|at| self.pdbs.get(at))
            .collect();
        out.sort_by(|a, b| a.name.cmp(&b.name));
        out.dedup_by(|a, b| a.name == b.name);
        out
    }
}

/// Room left on one node during the simulation.
struct Room<'a> {
    node: &'a Node,
    free: Resources,
    groups: Vec<String>,
    removed: bool,
    /// Pods of a removed node are planned to land here: it stays.
    received: bool,
}

/// Plan the removal of nodes whose pods fit elsewhere.
///
/// `account` is the observed AWS account: its Auto Scaling groups decide
/// how a node-group node is removed (through its group, the desired
/// capacity decremented, never below the group's minimum). Without it, a
/// node labelled as a node group's is left alone ([`Blocked::GroupUnknown`])
/// rather than terminated into a group that would launch it again.
/// `packer` repacks the pods of several nodes replaced together.
///
/// Every node of the snapshot ends up either in
/// [`removed_nodes`](Consolidation::removed_nodes) or in
/// [`blocked`](Consolidation::blocked). A snapshot that fails
/// [`ClusterSnapshot::check_unique`] gets an empty plan, with every node
/// blocked by [`Blocked::InvalidSnapshot`].
pub fn plan_consolidation(
    snapshot: &ClusterSnapshot,
    account: Option<&AwsInventory>,
    catalog: &Catalog,
    packer: &dyn Packer,
    policy: &ConsolidationPolicy,
    now: Timestamp,
) -> Consolidation {
    plan(
        snapshot,
        account,
        catalog,
        Methods::All { packer },
        policy,
        now,
    )
}

/// What a plan may do with a node.
#[derive(Clone, Copy)]
pub(crate) enum Methods<'p> {
    /// Delete a node whose pods fit on the others, else replace it by a
    /// cheaper type, else (with the packer) replace several together.
    All {
        /// Repacks the pods of several nodes replaced together.
        packer: &'p dyn Packer,
    },
    /// Only replace single nodes by cheaper types (node rightsizing).
    ReplaceOnly,
    /// Only replace on-demand nodes by spot instances
    /// ([`plan_spot_conversion`](crate::spot::conversion::plan_spot_conversion)).
    ToSpot {
        /// Spot pools (type, zone) not to buy from.
        unavailable: &'p BTreeSet<(String, String)>,
    },
}

impl Methods<'_> {
    fn plan_name(self) -> &'static str {
        match self {
            Methods::All { .. } => "consolidation",
            Methods::ReplaceOnly => "node-rightsizing",
            Methods::ToSpot { .. } => "spot-conversion",
        }
    }
}

/// The planner behind [`plan_consolidation`] and
/// [`node_rightsizing`](crate::node_rightsizing::node_rightsizing).
pub(crate) fn plan(
    snapshot: &ClusterSnapshot,
    account: Option<&AwsInventory>,
    catalog: &Catalog,
    methods: Methods<'_>,
    policy: &ConsolidationPolicy,
    now: Timestamp,
) -> Consolidation {
    let refuse = |why: Blocked| {
        let plan = Plan::new(methods.plan_name(), now);
        Consolidation {
            savings: plan.savings(),
            plan,
            removed_nodes: Vec::new(),
            replacements: Vec::new(),
            multi_replacements: Vec::new(),
            moves: Vec::new(),
            blocked: snapshot
                .nodes
                .iter()
                .map(|n| (n.name.clone(), why.clone()))
                .collect(),
        }
    };
    if let Err(duplicate) = snapshot.check_unique() {
        return refuse(Blocked::InvalidSnapshot { duplicate });
    }
    if let Some(why) = snapshot.why_pods_unknown() {
        return refuse(Blocked::PodsUnknown { why });
    }
    let pdbs = PdbIndex::new(&snapshot.pdbs);
    // Each node's Auto Scaling group, and how many more removals each group
    // takes before it reaches its minimum size.
    let node_groups: Vec<Result<Option<&AutoScalingGroup>, Blocked>> = snapshot
        .nodes
        .iter()
        .map(|n| auto_scaling_group(n, account))
        .collect();
    let mut group_room: HashMap<&str, u32> = account
        .map(|a| {
            a.auto_scaling_groups
                .iter()
                .map(|g| {
                    (
                        g.name.as_str(),
                        g.desired_capacity.saturating_sub(g.min_size),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    // Active pods by node, in snapshot order (DaemonSet and mirror pods
    // included: they take room, though they do not move).
    let mut on_node: HashMap<&str, Vec<&Pod>> = HashMap::new();
    for pod in snapshot.pods.iter().filter(|p| p.is_active_on_node()) {
        if let Some(node) = pod.node_name.as_deref() {
            on_node.entry(node).or_default().push(pod);
        }
    }
    let pods_of = |n: &Node| {
        on_node
            .get(n.name.as_str())
            .map(Vec::as_slice)
            .unwrap_or(&[])
    };
    let movable = |n: &Node| -> Vec<&Pod> {
        pods_of(n)
            .iter()
            .copied()
            .filter(|p| p.moves_with_node())
            .collect()
    };
    let mut rooms: Vec<Room<'_>> = snapshot
        .nodes
        .iter()
        .map(|n| {
            let requested = pods_of(n)
                .iter()
                .fold(Resources::ZERO, |a, p| a.saturating_add(p.requests()));
            Room {
                node: n,
                free: n.allocatable.saturating_sub(requested),
                groups: pods_of(n)
                    .iter()
                    .filter_map(|p| crate::binpack::anti_affinity_group(p))
                    .collect(),
                removed: false,
                received: false,
            }
        })
        .collect();
    // Disruptions each PDB has left over the whole plan.
    let mut pdb_left: HashMap<(&str, &str), u32> = snapshot
        .pdbs
        .iter()
        .map(|b| {
            (
                (b.namespace.as_str(), b.name.as_str()),
                b.disruptions_allowed,
            )
        })
        .collect();
    let mut by_cpu: BTreeSet<(u64, usize)> = rooms
        .iter()
        .enumerate()
        .map(|(i, r)| (r.free.cpu_millis, i))
        .collect();

    let budget = policy.max_disrupted_nodes.min(
        (snapshot.nodes.len())
            .saturating_mul(usize::try_from(policy.max_disrupted_percent).unwrap_or(usize::MAX))
            .div_ceil(100),
    );
    // Cheapest to disrupt first: fewest movable pods, then the most expensive.
    let mut order: Vec<(usize, Option<UsdPerHour>, usize)> = snapshot
        .nodes
        .iter()
        .enumerate()
        .map(|(i, n)| {
            let price = node_price(n, catalog, &policy.region)
                .filter(|p| p.is_known())
                .map(|p| p.usd_per_hour);
            (movable(n).len(), price, i)
        })
        .collect();
    order.sort_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)).then(a.2.cmp(&b.2)));

    // Each node's position by name (names are unique: checked above).
    let position: HashMap<&str, usize> = snapshot
        .nodes
        .iter()
        .enumerate()
        .map(|(i, n)| (n.name.as_str(), i))
        .collect();

    let mut plan = Plan::new(methods.plan_name(), now);
    let mut types = PricedTypes::new(catalog);
    if let Methods::ToSpot { unavailable } = methods {
        types.close_spot_pools(unavailable);
    }
    let mut removed_nodes = Vec::new();
    let mut moves = Vec::new();
    let mut blocked = Vec::new();
    let mut replacements = Vec::new();
    for (_, price, i) in order {
        let Some(node) = snapshot.nodes.get(i) else {
            continue;
        };
        if matches!(methods, Methods::ToSpot { .. }) && node.capacity_type != CapacityType::OnDemand
        {
            blocked.push((
                node.name.clone(),
                Blocked::NotOnDemand {
                    capacity_type: node.capacity_type,
                },
            ));
            continue;
        }
        let Some(price) = price else {
            blocked.push((node.name.clone(), unpriced(node, catalog, &policy.region)));
            continue;
        };
        if price < policy.min_savings_usd_per_hour || price == UsdPerHour::ZERO {
            blocked.push((node.name.clone(), Blocked::BelowThreshold));
            continue;
        }
        let pods = movable(node);
        if rooms.get(i).is_some_and(|r| r.received) {
            blocked.push((node.name.clone(), Blocked::Receiving));
            continue;
        }
        if let Some(reason) = why_not(node, &pods, &pdbs, &pdb_left, policy) {
            blocked.push((node.name.clone(), reason));
            continue;
        }
        let group = match node_groups.get(i) {
            Some(Ok(group)) => *group,
            Some(Err(reason)) => {
                blocked.push((node.name.clone(), reason.clone()));
                continue;
            }
            None => None,
        };
        if let Some(g) = group {
            if group_room.get(g.name.as_str()).copied().unwrap_or(0) == 0 {
                blocked.push((
                    node.name.clone(),
                    Blocked::GroupAtMinimum {
                        group: g.name.clone(),
                        min_size: g.min_size,
                    },
                ));
                continue;
            }
        }
        let group_name = group.map(|g| g.name.as_str());
        if removed_nodes.len() >= budget {
            blocked.push((node.name.clone(), Blocked::Budget));
            continue;
        }
        let fits_elsewhere = match methods {
            Methods::All { .. } => find_room(i, &pods, &mut rooms, &mut by_cpu).map_err(Some),
            Methods::ReplaceOnly | Methods::ToSpot { .. } => Err(None),
        };
        match fits_elsewhere {
            Err(pod) => {
                match cheapest_replacement(node, pods_of(node), &mut types, policy, price) {
                    Ok(r) => {
                        if let Some(room) = rooms.get_mut(i) {
                            room.removed = true;
                        }
                        if let Some(room) = rooms.get(i) {
                            by_cpu.remove(&(room.free.cpu_millis, i));
                        }
                        push_replacement_steps(
                            &mut plan, node, group_name, &pods, &pdbs, price, &r,
                        );
                        types.planned(&r);
                        shrink(&mut group_room, group_name);
                        for p in &pods {
                            moves.push(Move {
                                pod: p.key(),
                                from: node.name.clone(),
                                to: format!("new {} in {}", r.instance_type, r.zone),
                            });
                        }
                        replacements.push(r);
                        removed_nodes.push(node.name.clone());
                        consume_pdbs(&pods, &pdbs, &mut pdb_left, policy.pdb_rule);
                    }
                    Err(why) => blocked.push((
                        node.name.clone(),
                        match pod {
                            Some(pod) => Blocked::NoRoom { pod },
                            None => why,
                        },
                    )),
                }
            }
            Ok(targets) => {
                if let Some(room) = rooms.get_mut(i) {
                    room.removed = true;
                }
                let why = if pods.is_empty() {
                    format!("{} runs only DaemonSet pods", node.name)
                } else {
                    format!(
                        "the {} pod(s) on {} fit on the other nodes",
                        pods.len(),
                        node.name
                    )
                };
                push_steps(&mut plan, node, group_name, &pods, &pdbs, price, why);
                shrink(&mut group_room, group_name);
                for (pod, to) in pods.iter().zip(targets) {
                    moves.push(Move {
                        pod: pod.key(),
                        from: node.name.clone(),
                        to,
                    });
                }
                removed_nodes.push(node.name.clone());
                consume_pdbs(&pods, &pdbs, &mut pdb_left, policy.pdb_rule);
            }
        }
    }
    // Several nodes whose pods fit nowhere else, replaced by fewer or
    // cheaper new ones in their zone.
    let mut multi_replacements = Vec::new();
    let left = budget.saturating_sub(removed_nodes.len());
    // The new nodes of a group are bought on-demand.
    let on_demand_allowed = policy.replacement.capacity_types.is_empty()
        || policy
            .replacement
            .capacity_types
            .contains(&CapacityType::OnDemand);
    if let (Methods::All { packer }, true) = (methods, left >= 2 && on_demand_allowed) {
        let stuck: Vec<usize> = blocked
            .iter()
            .filter(|(_, b)| matches!(b, Blocked::NoRoom { .. }))
            .filter_map(|(name, _)| position.get(name.as_str()).copied())
            .filter(|&i| rooms.get(i).is_some_and(|r| !r.received && !r.removed))
            .filter(|&i| {
                snapshot
                    .nodes
                    .get(i)
                    .is_some_and(|n| !in_node_group(n) && n.capacity_type != CapacityType::Spot)
                    && matches!(node_groups.get(i), Some(Ok(None)))
            })
            .collect();
        let mut zones: BTreeMap<String, Vec<usize>> = BTreeMap::new();
        for i in stuck {
            if let Some(zone) = snapshot.nodes.get(i).and_then(|n| n.zone.clone()) {
                zones.entry(zone).or_default().push(i);
            }
        }
        let mut budget_left = left;
        for (zone, nodes) in zones {
            if budget_left < 2 {
                break;
            }
            let Some(m) = replace_several(
                snapshot,
                catalog,
                packer,
                policy,
                &zone,
                &nodes,
                budget_left,
                &pdbs,
                &pdb_left,
                &movable,
            ) else {
                continue;
            };
            budget_left = budget_left.saturating_sub(m.nodes.len());
            for name in &m.nodes {
                let Some(node) = position
                    .get(name.as_str())
                    .and_then(|&i| snapshot.nodes.get(i))
                else {
                    continue;
                };
                let pods = movable(node);
                let price = node_price(node, catalog, &policy.region)
                    .map(|p| p.usd_per_hour)
                    .unwrap_or(UsdPerHour::ZERO);
                let why = format!(
                    "{} nodes in {zone} are replaced by {} new one(s)",
                    m.nodes.len(),
                    m.new_nodes.len()
                );
                push_steps(&mut plan, node, None, &pods, &pdbs, price, why);
                for p in &pods {
                    moves.push(Move {
                        pod: p.key(),
                        from: node.name.clone(),
                        to: format!("new node in {zone}"),
                    });
                }
                consume_pdbs(&pods, &pdbs, &mut pdb_left, policy.pdb_rule);
                removed_nodes.push(node.name.clone());
            }
            let replaced: HashSet<&str> = m.nodes.iter().map(String::as_str).collect();
            blocked.retain(|(n, _)| !replaced.contains(n.as_str()));
            multi_replacements.push(m);
        }
        // The launches come first in the plan.
        let launches: Vec<crate::plan::Step> = multi_replacements
            .iter()
            .flat_map(|m: &MultiReplacement| {
                m.new_nodes.iter().map(move |n| crate::plan::Step {
                    action: Action::LaunchInstance {
                        instance_type: n.instance_type.clone(),
                        zone: n.zone.clone(),
                        capacity_type: CapacityType::OnDemand,
                        count: 1,
                        tags: [("cloudoptim.io/replaces".to_owned(), m.nodes.join(","))].into(),
                    },
                    reason: format!(
                        "{} holds its share of the pods of {} for less",
                        n.instance_type,
                        m.nodes.join(", ")
                    ),
                    preconditions: m
                        .nodes
                        .iter()
                        .map(|node| Precondition::NodeExists { node: node.clone() })
                        .collect(),
                    usd_per_hour_delta: n.usd_per_hour,
                })
            })
            .collect();
        if !launches.is_empty() {
            let first_drain = plan
                .steps
                .iter()
                .position(|s| match &s.action {
                    Action::Cordon { node } => {
                        multi_replacements.iter().any(|m| m.nodes.contains(node))
                    }
                    _ => false,
                })
                .unwrap_or(plan.steps.len());
            let tail = plan.steps.split_off(first_drain);
            plan.steps.extend(launches);
            plan.steps.extend(tail);
        }
    }
    // Launches first, then every cordon, then the evictions: pods evicted
    // from one node must not land on another that the plan removes later
    // (the plan simulator showed the scheduler doing exactly that).
    plan.steps.sort_by_key(|s| match s.action {
        Action::LaunchInstance { .. } => 0,
        Action::Cordon { .. } => 1,
        _ => 2,
    });
    let savings = plan.savings();
    Consolidation {
        plan,
        removed_nodes,
        replacements,
        multi_replacements,
        moves,
        blocked,
        savings,
    }
}

/// Why the node's pods cannot all be evicted, if they cannot.
fn why_not(
    node: &Node,
    pods: &[&Pod],
    pdbs: &PdbIndex<'_>,
    pdb_left: &HashMap<(&str, &str), u32>,
    policy: &ConsolidationPolicy,
) -> Option<Blocked> {
    if node.instance_id.is_none() {
        return Some(Blocked::NoInstance);
    }
    if node.do_not_disrupt() {
        return Some(Blocked::NodeDoNotDisrupt);
    }
    for pod in pods {
        if pod.controller.is_none() {
            return Some(Blocked::BarePod { pod: pod.key() });
        }
        if pod.do_not_disrupt() {
            return Some(Blocked::DoNotDisrupt { pod: pod.key() });
        }
        if pod.has_local_storage() && !policy.allow_local_storage_eviction {
            return Some(Blocked::LocalStorage { pod: pod.key() });
        }
        if let Some(constraint) = unsupported_constraint(pod) {
            return Some(Blocked::Unsupported {
                pod: pod.key(),
                constraint,
            });
        }
    }
    let mut per_pdb: BTreeMap<(&str, &str), (u32, u32)> = BTreeMap::new();
    for pod in pods {
        for pdb in pdbs.for_pod(pod) {
            let key = (pdb.namespace.as_str(), pdb.name.as_str());
            let left = pdb_left.get(&key).copied().unwrap_or(0);
            per_pdb.entry(key).or_insert((left, 0)).1 += 1;
        }
    }
    per_pdb
        .into_iter()
        .find(|(_, (allowed, needed))| policy.pdb_rule.blocks(*allowed, *needed))
        .map(|((ns, name), (allowed, needed))| Blocked::Pdb {
            pdb: format!("{ns}/{name}"),
            allowed,
            needed,
        })
}

/// The node's Auto Scaling group in `account`; an error when the node is
/// labelled as a node group's but no observed group holds its instance.
fn auto_scaling_group<'a>(
    node: &Node,
    account: Option<&'a AwsInventory>,
) -> Result<Option<&'a AutoScalingGroup>, Blocked> {
    let group = node
        .instance_id
        .as_deref()
        .and_then(|id| account.and_then(|a| a.group_of(id)));
    match (group, node.labels.get(NODE_GROUP_LABEL)) {
        (Some(g), _) => Ok(Some(g)),
        (None, Some(node_group)) => Err(Blocked::GroupUnknown {
            node_group: node_group.clone(),
        }),
        (None, None) => Ok(None),
    }
}

/// One removal more from `group`.
fn shrink(room: &mut HashMap<&str, u32>, group: Option<&str>) {
    if let Some(n) = group.and_then(|g| room.get_mut(g)) {
        *n = n.saturating_sub(1);
    }
}

/// Node label EKS managed node groups put on their nodes (backed by an
/// Auto Scaling group).
const NODE_GROUP_LABEL: &str = "eks.amazonaws.com/nodegroup";

/// Whether the node belongs to an EKS managed node group (an Auto Scaling group).
fn in_node_group(node: &Node) -> bool {
    node.labels.contains_key(NODE_GROUP_LABEL)
}

/// Count the node's evictions against the PDBs covering its pods.
fn consume_pdbs<'a>(
    pods: &[&Pod],
    pdbs: &PdbIndex<'a>,
    left: &mut HashMap<(&'a str, &'a str), u32>,
    rule: PdbRule,
) {
    // One at a time, each replacement gives its PDB the disruption back.
    if rule == PdbRule::OneAtATime {
        return;
    }
    for pod in pods {
        for pdb in pdbs.for_pod(pod) {
            if let Some(n) = left.get_mut(&(pdb.namespace.as_str(), pdb.name.as_str())) {
                *n = n.saturating_sub(1);
            }
        }
    }
}

/// A scheduling constraint the simulation does not model, so a pod that
/// has it is not moved: required pod affinity, anti-affinity on another
/// key than the hostname, or topology spread on another key than the zone.
fn unsupported_constraint(pod: &Pod) -> Option<String> {
    use crate::snapshot::{node_labels, WhenUnsatisfiable};
    if let Some(t) = pod.pod_affinity.required.first() {
        return Some(format!("required pod affinity on {}", t.topology_key));
    }
    if let Some(t) = pod
        .pod_affinity
        .anti_required
        .iter()
        .find(|t| t.topology_key != node_labels::HOSTNAME)
    {
        return Some(format!("required pod anti-affinity on {}", t.topology_key));
    }
    pod.topology_spread
        .iter()
        .find(|c| {
            c.when_unsatisfiable == WhenUnsatisfiable::DoNotSchedule
                && c.topology_key != node_labels::ZONE
        })
        .map(|c| format!("topology spread on {}", c.topology_key))
}

/// Whether `pod` may run on `room`'s node, given `free` room and the
/// anti-affinity groups already there (`groups` plus `extra`).
fn accepts(
    room: &Room<'_>,
    free: &Resources,
    extra: &[&str],
    pod: &Pod,
    requirement: &PodRequirement,
    from_zone: Option<&str>,
) -> bool {
    let node = room.node;
    !room.removed
        && !node.unschedulable
        && node.ready
        && requirement.requests.fits_within(free)
        && pod
            .node_selector
            .iter()
            .all(|(k, v)| node.labels.get(k) == Some(v))
        && pod.node_affinity.required_matches(&node.name, &node.labels)
        && tolerates_all(&pod.tolerations, &node.taints)
        && requirement
            .anti_affinity_group
            .as_ref()
            .is_none_or(|g| !room.groups.contains(g) && !extra.contains(&g.as_str()))
        && ((requirement.zone_spread.is_none() && !has_claim(pod))
            || node.zone.as_deref() == from_zone)
}

/// Whether the pod mounts a persistent volume claim (EBS volumes are zonal:
/// the pod must stay in its zone).
fn has_claim(pod: &Pod) -> bool {
    pod.volumes.iter().any(|v| {
        matches!(
            v.source,
            crate::snapshot::VolumeSource::PersistentVolumeClaim { .. }
                | crate::snapshot::VolumeSource::Ephemeral
        )
    })
}

/// Find a node for every pod (largest first), best fit by CPU among the
/// nodes indexed in `by_cpu`; commit the room they take only if all fit.
/// Returns each pod's destination, in `pods` order, or the pod that fits
/// nowhere.
fn find_room(
    victim: usize,
    pods: &[&Pod],
    rooms: &mut [Room<'_>],
    by_cpu: &mut BTreeSet<(u64, usize)>,
) -> Result<Vec<String>, String> {
    let from_zone = rooms.get(victim).and_then(|r| r.node.zone.clone());
    let requirements: Vec<PodRequirement> =
        pods.iter().map(|p| PodRequirement::from_pod(p)).collect();
    let mut order: Vec<usize> = (0..pods.len()).collect();
    order.sort_by_key(|&i| {
        let r = requirements.get(i).map(|r| r.requests).unwrap_or_default();
        (
            std::cmp::Reverse(r.cpu_millis),
            std::cmp::Reverse(r.memory_bytes),
            i,
        )
    });
    // Tentative use of each destination: room taken and groups added.
    let mut tentative: HashMap<usize, (Resources, Vec<&str>)> = HashMap::new();
    let mut targets = vec![String::new(); pods.len()];
    for &i in &order {
        let (Some(pod), Some(req)) = (pods.get(i), requirements.get(i)) else {
            continue;
        };
        let mut found = None;
        // Look at a bounded number of destinations: a cluster short of
        // memory must not make planning quadratic.
        for &(_, r) in by_cpu
            .range((req.requests.cpu_millis, 0)..)
            .take(MAX_DESTINATIONS_PER_POD)
        {
            let Some(room) = rooms.get(r) else { continue };
            if r == victim {
                continue;
            }
            let (free, extra) = match tentative.get(&r) {
                Some((used, extra)) => (room.free.saturating_sub(*used), extra.as_slice()),
                None => (room.free, &[][..]),
            };
            if accepts(room, &free, extra, pod, req, from_zone.as_deref()) {
                found = Some(r);
                break;
            }
        }
        let Some(r) = found else {
            return Err(pod.key());
        };
        let entry = tentative.entry(r).or_insert((Resources::ZERO, Vec::new()));
        entry.0 = entry.0.saturating_add(req.requests);
        if let Some(g) = &req.anti_affinity_group {
            entry.1.push(g.as_str());
        }
        if let (Some(t), Some(room)) = (targets.get_mut(i), rooms.get(r)) {
            *t = room.node.name.clone();
        }
    }
    let commits: Vec<(usize, Resources, Vec<String>)> = tentative
        .into_iter()
        .map(|(r, (used, groups))| (r, used, groups.into_iter().map(str::to_owned).collect()))
        .collect();
    for (r, used, groups) in commits {
        if let Some(room) = rooms.get_mut(r) {
            by_cpu.remove(&(room.free.cpu_millis, r));
            room.free = room.free.saturating_sub(used);
            room.groups.extend(groups);
            room.received = true;
            by_cpu.insert((room.free.cpu_millis, r));
        }
    }
    if let Some(room) = rooms.get(victim) {
        by_cpu.remove(&(room.free.cpu_millis, victim));
    }
    Ok(targets)
}

/// Try replacing the `k` least-loaded of `nodes` (all in `zone`) by a
/// fresh packing of their pods, for `k` from `min(max_nodes, 16)` halving
/// down to 2; keep
/// the largest `k` that saves at least the threshold and leaves no pod out
/// and no PDB over its plan-wide budget.
#[allow(clippy::too_many_arguments)]
fn replace_several<'a>(
    snapshot: &'a ClusterSnapshot,
    catalog: &Catalog,
    packer: &dyn Packer,
    policy: &ConsolidationPolicy,
    zone: &str,
    nodes: &[usize],
    max_nodes: usize,
    pdbs: &PdbIndex<'a>,
    pdb_left: &HashMap<(&'a str, &'a str), u32>,
    movable: &dyn Fn(&Node) -> Vec<&'a Pod>,
) -> Option<MultiReplacement> {
    use crate::binpack::{PackingPolicy, PodRequirement};
    use crate::snapshot::{node_labels, NodeSelectorTerm, SelectorOperator, SelectorRequirement};
    let mut ranked: Vec<(usize, u64, usize)> = nodes
        .iter()
        .filter_map(|&i| {
            let n = snapshot.nodes.get(i)?;
            // Only nodes whose price is known: the saving is a sum of them.
            node_price(n, catalog, &policy.region).filter(|p| p.is_known())?;
            // Saturating: requests come from the input, and two pods of
            // 10^16 cores each would overflow a plain sum.
            let used = movable(n)
                .iter()
                .fold(0u64, |a, p| a.saturating_add(p.requests().cpu_millis));
            Some((movable(n).len(), used, i))
        })
        .collect();
    ranked.sort();
    // New nodes like the zone's nodes: same region, OS, architectures,
    // DaemonSets and root volume.
    let env = NodeEnvironment::of_nodes(
        snapshot,
        nodes.iter().filter_map(|&i| snapshot.nodes.get(i)),
    );
    let packing_policy = env.packing_policy(PackingPolicy {
        region: policy.region.clone(),
        ..PackingPolicy::default()
    });
    let own_families: Vec<&str> = nodes
        .iter()
        .filter_map(|&i| snapshot.nodes.get(i)?.instance_type.as_deref())
        .filter_map(|t| Some(catalog.get(t)?.family.as_str()))
        .collect();
    let packing_policy = policy.replacement.packing_policy(
        catalog,
        &own_families,
        PackingPolicy {
            zones: vec![zone.to_owned()],
            ..packing_policy
        },
    );
    if packing_policy.architectures.is_empty() {
        return None;
    }
    // Like Karpenter: at most MAX_GROUP nodes, sizes halving from there.
    let mut sizes = Vec::new();
    let mut k = max_nodes.min(ranked.len()).min(MAX_GROUP);
    while k >= 2 {
        sizes.push(k);
        k /= 2;
    }
    for k in sizes {
        let chosen: Vec<&Node> = ranked
            .iter()
            .take(k)
            .filter_map(|&(_, _, i)| snapshot.nodes.get(i))
            .collect();
        let pods: Vec<&Pod> = chosen.iter().flat_map(|n| movable(n)).collect();
        // All of them evicted in this plan must fit each PDB's budget.
        let mut per_pdb: BTreeMap<(&str, &str), u32> = BTreeMap::new();
        for pod in &pods {
            for pdb in pdbs.for_pod(pod) {
                *per_pdb
                    .entry((pdb.namespace.as_str(), pdb.name.as_str()))
                    .or_default() += 1;
            }
        }
        if per_pdb.iter().any(|(key, n)| {
            policy
                .pdb_rule
                .blocks(pdb_left.get(key).copied().unwrap_or(0), *n)
        }) {
            continue;
        }
        let requirements: Vec<PodRequirement> = pods
            .iter()
            .map(|p| {
                let mut r = PodRequirement::from_pod(p);
                // The new nodes are in the old ones' zone; say so for the packer's labels.
                r.node_affinity.required.push(NodeSelectorTerm {
                    match_expressions: vec![SelectorRequirement {
                        key: node_labels::ZONE.into(),
                        operator: SelectorOperator::In,
                        values: vec![zone.to_owned()],
                    }],
                    match_fields: vec![],
                });
                r
            })
            .collect();
        let Ok(packing) = packer.pack(&requirements, catalog, &packing_policy) else {
            continue;
        };
        let old: UsdPerHour = chosen
            .iter()
            .filter_map(|n| node_price(n, catalog, &policy.region).map(|p| p.usd_per_hour))
            .sum();
        if packing.unplaced.is_empty()
            && packing.nodes.len() < k
            && old - packing.usd_per_hour >= policy.min_savings_usd_per_hour
        {
            return Some(MultiReplacement {
                nodes: chosen.iter().map(|n| n.name.clone()).collect(),
                old_usd_per_hour: old,
                new_usd_per_hour: packing.usd_per_hour,
                new_nodes: packing.nodes,
            });
        }
    }
    None
}

/// Why `node` has no price that a saving could be claimed from.
pub(crate) fn unpriced(node: &Node, catalog: &Catalog, region: &str) -> Blocked {
    let region = node.region.as_deref().unwrap_or(region);
    let why = match node.instance_type.as_deref() {
        None => "the node has no instance type label".to_owned(),
        Some(t) if catalog.get(t).is_none() => format!("{t} is not in the instance catalog"),
        Some(t) => match node_price(node, catalog, region) {
            None => format!("the price list has no price for {t} in {region}"),
            Some(_) => format!("the Spot Advisor has no estimate for {t} in {region}"),
        },
    };
    Blocked::Unpriced { why }
}

/// Launch the replacement, then drain and remove the old node.
fn push_replacement_steps(
    plan: &mut Plan,
    node: &Node,
    group: Option<&str>,
    pods: &[&Pod],
    pdbs: &PdbIndex<'_>,
    price: UsdPerHour,
    r: &Replacement,
) {
    let mut tags = crate::inventory::Tags::new();
    tags.insert("cloudoptim.io/replaces".into(), node.name.clone());
    plan.push(
        Action::LaunchInstance {
            instance_type: r.instance_type.clone(),
            zone: r.zone.clone(),
            capacity_type: r.capacity_type,
            count: 1,
            tags,
        },
        if r.capacity_type == CapacityType::Spot && node.capacity_type != CapacityType::Spot {
            format!(
                "{} ({}, on-demand) goes to spot: a {} spot instance holds its pods for {} less (at the Spot Advisor's estimate)",
                node.name,
                r.from_instance_type,
                r.instance_type,
                price - r.usd_per_hour
            )
        } else {
            format!(
                "{} ({}) is larger than its pods need; {} holds them for {} less",
                node.name,
                r.from_instance_type,
                r.instance_type,
                price - r.usd_per_hour
            )
        },
        vec![Precondition::NodeExists {
            node: node.name.clone(),
        }],
        r.usd_per_hour,
    );
    let why = format!("its pods move to the new {}", r.instance_type);
    push_steps(plan, node, group, pods, pdbs, price, why);
}

/// Cordon, evict (largest first, the order the planner found them room),
/// terminate the instance (through its Auto Scaling group, shrinking it,
/// when it has one) and delete the Node object.
fn push_steps(
    plan: &mut Plan,
    node: &Node,
    group: Option<&str>,
    pods: &[&Pod],
    pdbs: &PdbIndex<'_>,
    price: UsdPerHour,
    why: String,
) {
    let name = node.name.clone();
    // Before cordoning, everything that would stop the drain is re-checked.
    let mut before_cordon = vec![
        Precondition::NodeExists { node: name.clone() },
        Precondition::NotProtected {
            resource: crate::plan::Resource::Node { name: name.clone() },
        },
    ];
    let mut covering: Vec<(String, String)> = Vec::new();
    for pod in pods {
        before_cordon.push(Precondition::PodDisruptable {
            namespace: pod.namespace.clone(),
            pod: pod.name.clone(),
        });
        for b in pdbs.for_pod(pod) {
            let key = (b.namespace.clone(), b.name.clone());
            if !covering.contains(&key) {
                covering.push(key);
            }
        }
    }
    before_cordon.extend(
        covering
            .into_iter()
            .map(|(namespace, name)| Precondition::PdbAllows { namespace, name }),
    );
    plan.push(
        Action::Cordon { node: name.clone() },
        format!("{why}; stop new pods landing there"),
        before_cordon,
        UsdPerHour::ZERO,
    );
    let mut ordered: Vec<&&Pod> = pods.iter().collect();
    // Largest first, the order in which the planner found them room: the
    // scheduler places the replacements one by one as they are evicted,
    // and the plan simulator showed other orders leaving a pod pending.
    ordered.sort_by_key(|p| {
        let r = p.requests();
        (
            std::cmp::Reverse(r.cpu_millis),
            std::cmp::Reverse(r.memory_bytes),
            p.key(),
        )
    });
    for pod in ordered {
        plan.push_evict(
            pod,
            &name,
            pdbs.for_pod(pod),
            format!("move {} off {name}", pod.key()),
            vec![Precondition::PodDisruptable {
                namespace: pod.namespace.clone(),
                pod: pod.name.clone(),
            }],
        );
    }
    if let Some(instance_id) = &node.instance_id {
        let mut preconditions = vec![
            Precondition::NodeDrained { node: name.clone() },
            Precondition::NotProtected {
                resource: crate::plan::Resource::Instance {
                    instance_id: instance_id.clone(),
                },
            },
        ];
        let why = match group {
            Some(group) => {
                preconditions.push(Precondition::GroupCanShrink {
                    group: group.to_owned(),
                    instance_id: instance_id.clone(),
                });
                format!("{name} is drained; stop paying for it and shrink {group} by one")
            }
            None => format!("{name} is drained; stop paying for it"),
        };
        plan.push(
            Action::TerminateInstance {
                instance_id: instance_id.clone(),
                node: Some(name.clone()),
                auto_scaling_group: group.map(str::to_owned),
            },
            why,
            preconditions,
            -price,
        );
    }
    plan.push(
        Action::DeleteNode { node: name.clone() },
        format!("{name}'s instance is gone"),
        vec![Precondition::NodeDrained { node: name }],
        UsdPerHour::ZERO,
    );
}
