//! How far consolidation could go at best: a certified lower bound on the
//! cost of any cluster that keeps the nodes that must stay and places every
//! other pod.
//!
//! A node **must stay** when a plan leaves it for a reason no later plan
//! can lift: a pod that cannot move (bare, do-not-disrupt, local storage,
//! a constraint consolidation does not simulate), the node's own
//! do-not-disrupt annotation, no EC2 instance behind it, an Auto Scaling
//! group at its minimum or unobserved, or no price (what it costs cannot
//! be told, so it is left out of every figure, as the cluster summary does).
//! Every other node may go: its pods (those of [`Pod::moves_with_node`])
//! are the **movable** demand `D`.
//!
//! In any cluster that keeps the staying nodes, the movable pods that do
//! not land in the staying nodes' free room `F` (allocatable minus what
//! their pods request) are on other nodes, so those nodes' allocatable adds
//! up to at least `D − F` in every dimension. Any node costs at least what
//! the aggregate LP prices its capacity at, over every node the end state
//! can have: a type the [`ReplacementPolicy`](super::ReplacementPolicy) lets
//! consolidation launch (at the capacity types the nodes have or the policy
//! allows, sized as the packer sizes a new node), or a removable node kept
//! as it is (its price, its allocatable), so
//!
//! ```text
//! cost ≥ Σ staying nodes' prices + LP(D − F)
//! ```
//!
//! It relaxes architectures, zones, selectors, anti-affinity, pod slots and
//! every pod's indivisibility, so it only errs low: a steady state close to
//! it is provably close to the best any consolidation could reach.
//!
//! ```
//! use cloudoptim_core::binpack::LpGuidedPacker;
//! use cloudoptim_core::catalog::Catalog;
//! use cloudoptim_core::consolidation::{consolidation_bound, plan_consolidation, ConsolidationPolicy};
//! use cloudoptim_core::demo::{DemoConfig, DemoEnvironment};
//!
//! let catalog = Catalog::embedded()?;
//! let demo = DemoEnvironment::generate(&DemoConfig::default(), catalog)?;
//! let policy = ConsolidationPolicy::default();
//! let plan = plan_consolidation(&demo.snapshot, Some(&demo.aws), catalog,
//!     &LpGuidedPacker::default(), &policy, demo.config.now);
//! let bound = consolidation_bound(&demo.snapshot, catalog, &policy, &plan).expect("pods are known");
//! // The cluster as it is keeps the staying nodes and places every pod.
//! let today = cloudoptim_core::summary::ClusterSummary::new(&demo.snapshot, catalog, &policy.region);
//! assert!(bound.usd_per_hour <= today.usd_per_hour);
//! assert!(bound.staying_nodes > 0);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::collections::{HashMap, HashSet};

use serde::{Deserialize, Serialize};

use super::{Blocked, Consolidation, ConsolidationPolicy};
use crate::binpack::{candidates, capacity_bound, Candidate, PackingPolicy};
use crate::catalog::Catalog;
use crate::environment::NodeEnvironment;
use crate::money::UsdPerHour;
use crate::pricing::node_price;
use crate::resources::Resources;
use crate::snapshot::{CapacityType, ClusterSnapshot, Labels, Pod};

/// A lower bound on the cost of any cluster consolidation could reach
/// (see the module docs).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ConsolidationBound {
    /// The bound: `staying_usd_per_hour + movable_usd_per_hour`.
    pub usd_per_hour: UsdPerHour,
    /// Nodes that must stay.
    pub staying_nodes: usize,
    /// What the priced ones among them cost.
    pub staying_usd_per_hour: UsdPerHour,
    /// Pods that may move (on the nodes that may go).
    pub movable_pods: usize,
    /// The least any nodes holding the movable pods beyond the staying
    /// nodes' free room can cost.
    pub movable_usd_per_hour: UsdPerHour,
}

/// Whether a plan's reason for leaving a node holds for every later plan
/// too (the node must stay).
fn stays(why: &Blocked) -> bool {
    matches!(
        why,
        Blocked::BarePod { .. }
            | Blocked::DoNotDisrupt { .. }
            | Blocked::NodeDoNotDisrupt
            | Blocked::LocalStorage { .. }
            | Blocked::NoInstance
            | Blocked::GroupAtMinimum { .. }
            | Blocked::GroupUnknown { .. }
            | Blocked::Unsupported { .. }
            | Blocked::Unpriced { .. }
    )
}

/// The bound for `snapshot`, from the reasons `consolidation` (a plan made
/// on that snapshot under `policy`) gave for the nodes it left. `None`
/// when that plan could not look at the cluster (an invalid snapshot, or
/// one that does not tell which pods run where), or when the catalog prices
/// no instance type or none of the nodes in the cluster's region (a file
/// without nodes included): nothing can be told.
pub fn consolidation_bound(
    snapshot: &ClusterSnapshot,
    catalog: &Catalog,
    policy: &ConsolidationPolicy,
    consolidation: &Consolidation,
) -> Option<ConsolidationBound> {
    if consolidation.blocked.iter().any(|(_, why)| {
        matches!(
            why,
            Blocked::InvalidSnapshot { .. } | Blocked::PodsUnknown { .. }
        )
    }) {
        return None;
    }
    let staying: HashSet<&str> = consolidation
        .blocked
        .iter()
        .filter(|(_, why)| stays(why))
        .map(|(node, _)| node.as_str())
        .collect();
    let mut on_node: HashMap<&str, Vec<&Pod>> = HashMap::new();
    for pod in &snapshot.pods {
        if let Some(node) = pod.node_name.as_deref().filter(|_| pod.is_active_on_node()) {
            on_node.entry(node).or_default().push(pod);
        }
    }
    let mut bound = ConsolidationBound {
        usd_per_hour: UsdPerHour::ZERO,
        staying_nodes: 0,
        staying_usd_per_hour: UsdPerHour::ZERO,
        movable_pods: 0,
        movable_usd_per_hour: UsdPerHour::ZERO,
    };
    // The cluster's region (the policy's when the nodes do not say).
    let env = NodeEnvironment::of(snapshot);
    let region = env.region_or(&policy.region);
    let mut priced = 0usize;
    let mut demand = Resources::ZERO;
    let mut free = Resources::ZERO;
    // What a node of the end state can be: a type the replacement policy
    // lets consolidation launch, at a capacity type it may buy (the nodes'
    // own, or the policy's), as the packer sizes it; or a node kept as it is.
    let own_families: Vec<&str> = snapshot
        .nodes
        .iter()
        .filter_map(|n| Some(catalog.get(n.instance_type.as_deref()?)?.family.as_str()))
        .collect();
    let launchable = policy.replacement.packing_policy(
        catalog,
        &own_families,
        env.packing_policy(PackingPolicy {
            region: region.to_owned(),
            ..PackingPolicy::default()
        }),
    );
    let mut capacity_types: Vec<CapacityType> = policy.replacement.capacity_types.clone();
    for node in &snapshot.nodes {
        // Priced as on-demand when unknown, as the node is.
        let c = match node.capacity_type {
            CapacityType::Spot => CapacityType::Spot,
            _ => CapacityType::OnDemand,
        };
        if !capacity_types.contains(&c) {
            capacity_types.push(c);
        }
    }
    let mut types: Vec<Candidate> = Vec::new();
    for capacity_type in capacity_types {
        let launch = PackingPolicy {
            capacity_type,
            ..launchable.clone()
        };
        // No type allowed or priced: nothing of that kind can be launched.
        types.extend(candidates(catalog, &launch).unwrap_or_default());
    }
    for node in &snapshot.nodes {
        let pods = on_node
            .get(node.name.as_str())
            .map(Vec::as_slice)
            .unwrap_or(&[]);
        let price = node_price(node, catalog, region);
        priced += usize::from(price.is_some());
        if staying.contains(node.name.as_str()) {
            bound.staying_nodes += 1;
            if let Some(p) = price {
                bound.staying_usd_per_hour += p.usd_per_hour;
            }
            let used = pods
                .iter()
                .fold(Resources::ZERO, |a, p| a.saturating_add(p.requests()));
            free = free.saturating_add(node.allocatable.saturating_sub(used));
        } else {
            for pod in pods.iter().filter(|p| p.moves_with_node()) {
                bound.movable_pods += 1;
                demand = demand.saturating_add(pod.requests());
            }
            if let Some(p) = price {
                let capacity = node
                    .instance_type
                    .as_deref()
                    .and_then(|t| catalog.get(t))
                    .map(|it| it.capacity())
                    .unwrap_or_default();
                types.push(Candidate {
                    instance_type: node.name.clone(),
                    usd_per_hour: p.usd_per_hour,
                    allocatable: node.allocatable.max(capacity),
                    labels: Labels::default(),
                });
            }
        }
    }
    // A node priced at nothing would make every bound 0; none is, but a
    // hostile catalog could say so.
    types.retain(|c| c.usd_per_hour > UsdPerHour::ZERO);
    let rest = demand.saturating_sub(free);
    if (types.is_empty() && !rest.is_zero()) || priced == 0 {
        // No price for any type in the region: a bound of the staying nodes
        // alone would be true but say nothing.
        return None;
    }
    bound.movable_usd_per_hour = capacity_bound(rest, &types);
    bound.usd_per_hour = bound.staying_usd_per_hour + bound.movable_usd_per_hour;
    Some(bound)
}
