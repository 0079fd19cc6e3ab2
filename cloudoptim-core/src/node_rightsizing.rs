//! Node rightsizing: for every node, the cheapest instance type that still
//! holds its pods with headroom, the $/h replacing it saves, and the plan
//! that replaces the nodes it may.
//!
//! The candidates and the plan are consolidation's own: the types a node
//! may become are those of the policy's
//! [`ReplacementPolicy`](crate::consolidation::ReplacementPolicy) (the
//! node's architecture, OS and zone; every pod's node selector and required
//! node affinity matched against the labels the new node will carry; the
//! headroom on CPU and memory), and the plan launches each replacement
//! before it cordons, drains and terminates the node, with consolidation's
//! disruption rules and budgets (PDBs, do-not-disrupt, local storage, bare
//! pods, at most `max_disrupted_nodes` per plan). Nodes are only replaced,
//! never deleted: removing nodes whose pods fit elsewhere is
//! [`plan_consolidation`](crate::consolidation::plan_consolidation)'s job.
//!
//! ```
//! use cloudoptim_core::catalog::Catalog;
//! use cloudoptim_core::consolidation::ConsolidationPolicy;
//! use cloudoptim_core::demo::{DemoConfig, DemoEnvironment};
//! use cloudoptim_core::node_rightsizing::node_rightsizing;
//!
//! let catalog = Catalog::embedded()?;
//! let demo = DemoEnvironment::generate(&DemoConfig::default(), catalog)?;
//! let now = "2026-11-23T15:00:00Z".parse()?;
//! let r = node_rightsizing(&demo.snapshot, Some(&demo.aws), catalog, &ConsolidationPolicy::default(), now);
//! assert_eq!(r.nodes.len(), demo.snapshot.nodes.len());
//! for n in &r.nodes {
//!     // Either a cheaper type, or why there is none.
//!     assert!(n.replacement.is_some() || n.why_not.is_some());
//!     if let (Some(saved), Some(r)) = (n.saved_usd_per_hour(), &n.replacement) {
//!         assert!(saved > cloudoptim_core::UsdPerHour::ZERO, "{} → {}", n.node, r.instance_type);
//!     }
//! }
//! // What the plan does, it says (and it replaces at most the budget).
//! assert!(r.plan.replacements.len() <= 10);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::collections::HashMap;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::catalog::Catalog;
use crate::consolidation::{
    cheapest_type, node_group_type, plan, unpriced, Blocked, Consolidation, ConsolidationPolicy,
    Methods, PricedTypes, Replacement,
};
use crate::inventory::AwsInventory;
use crate::money::UsdPerHour;
use crate::pricing::node_price;
use crate::snapshot::{ClusterSnapshot, Pod};

/// What one node could be replaced by.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NodeRecommendation {
    /// The node.
    pub node: String,
    /// Its instance type, if it has one.
    pub instance_type: Option<String>,
    /// What it costs, when that is known.
    pub usd_per_hour: Option<UsdPerHour>,
    /// The cheapest allowed type that holds its pods with the headroom and
    /// saves at least the threshold, if there is one (whether or not this
    /// plan replaces the node: for a node of a managed node group, what
    /// the group's instance type could be).
    pub replacement: Option<Replacement>,
    /// Whether the plan replaces it.
    pub planned: bool,
    /// Why the plan does not replace it: there is no replacement (no
    /// cheaper type, unpriced: "cannot tell"), the node belongs to a
    /// managed node group (change the group's type instead), or the node
    /// may not be disrupted now (a pod that cannot move, a PDB, the
    /// budget). `None` when [`planned`](Self::planned).
    pub why_not: Option<Blocked>,
}

impl NodeRecommendation {
    /// What replacing it saves per hour, when there is a replacement.
    pub fn saved_usd_per_hour(&self) -> Option<UsdPerHour> {
        Some(self.usd_per_hour? - self.replacement.as_ref()?.usd_per_hour)
    }
}

/// Node rightsizing of a cluster.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NodeRightsizing {
    /// Every node of the snapshot, in snapshot order.
    pub nodes: Vec<NodeRecommendation>,
    /// The replacement plan (consolidation's, replacing only), its steps,
    /// replacements, moves, blocked nodes and savings.
    pub plan: Consolidation,
}

impl NodeRightsizing {
    /// What replacing every node that has a replacement would save per
    /// hour, planned in this plan or not; `None` ("cannot tell") when no
    /// node has a known price, rather than a confident $0.
    pub fn possible_saved_usd_per_hour(&self) -> Option<UsdPerHour> {
        if self.nodes.iter().all(|n| n.usd_per_hour.is_none()) {
            return None;
        }
        Some(
            self.nodes
                .iter()
                .filter_map(NodeRecommendation::saved_usd_per_hour)
                .sum(),
        )
    }

    /// How many nodes have no known price (their savings are not counted).
    pub fn unpriced_nodes(&self) -> usize {
        self.nodes
            .iter()
            .filter(|n| n.usd_per_hour.is_none())
            .count()
    }
}

/// For every node of `snapshot`, the cheapest instance type that holds its
/// pods with `policy.replacement`'s headroom, and a plan that replaces
/// those the disruption rules and budget of `policy` allow.
///
/// A snapshot consolidation refuses (duplicate objects, or no pods: a
/// `kubectl get nodes` file) gets an empty plan and every node its reason;
/// a node that cannot be priced gets [`Blocked::Unpriced`] ("cannot tell
/// what it costs") and no replacement.
pub fn node_rightsizing(
    snapshot: &ClusterSnapshot,
    account: Option<&AwsInventory>,
    catalog: &Catalog,
    policy: &ConsolidationPolicy,
    now: Timestamp,
) -> NodeRightsizing {
    let consolidation = plan(
        snapshot,
        account,
        catalog,
        Methods::ReplaceOnly,
        policy,
        now,
    );
    let blocked: HashMap<&str, &Blocked> = consolidation
        .blocked
        .iter()
        .map(|(n, b)| (n.as_str(), b))
        .collect();
    let planned: HashMap<&str, &Replacement> = consolidation
        .replacements
        .iter()
        .map(|r| (r.node.as_str(), r))
        .collect();
    let refused = snapshot.check_unique().is_err() || snapshot.why_pods_unknown().is_some();
    let mut on_node: HashMap<&str, Vec<&Pod>> = HashMap::new();
    for pod in snapshot.pods.iter().filter(|p| p.is_active_on_node()) {
        if let Some(node) = pod.node_name.as_deref() {
            on_node.entry(node).or_default().push(pod);
        }
    }
    let mut types = PricedTypes::new(catalog);
    let nodes = snapshot
        .nodes
        .iter()
        .map(|node| {
            let price = node_price(node, catalog, &policy.region)
                .filter(|p| p.is_known())
                .map(|p| p.usd_per_hour);
            let plan_reason = blocked.get(node.name.as_str()).map(|b| (*b).clone());
            let (replacement, why_not) = if let Some(r) = planned.get(node.name.as_str()) {
                (Some((*r).clone()), None)
            } else if refused {
                (None, plan_reason)
            } else if let Some(price) = price {
                let pods = on_node
                    .get(node.name.as_str())
                    .map(Vec::as_slice)
                    .unwrap_or(&[]);
                // A node group's node gets what its group's type could be,
                // though the plan cannot launch it.
                match cheapest_type(node, pods, &mut types, policy, price) {
                    Ok(r) => (Some(r), node_group_type(node).or(plan_reason)),
                    Err(why) => (None, Some(why)),
                }
            } else {
                (None, Some(unpriced(node, catalog, &policy.region)))
            };
            NodeRecommendation {
                node: node.name.clone(),
                instance_type: node.instance_type.clone(),
                usd_per_hour: price,
                planned: planned.contains_key(node.name.as_str()),
                replacement,
                why_not,
            }
        })
        .collect();
    NodeRightsizing {
        nodes,
        plan: consolidation,
    }
}
