//! What a cluster is made of and what it costs: the inventory section of
//! every report.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::catalog::{Catalog, OperatingSystem};
use crate::money::UsdPerHour;
use crate::resources::Resources;
use crate::snapshot::{node_labels, CapacityType, ClusterSnapshot, Node, PodPhase};

/// Nodes of one group and what they cost.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct NodeGroupCost {
    /// Node count.
    pub nodes: usize,
    /// Their hourly cost (unpriced nodes count as zero).
    pub usd_per_hour: UsdPerHour,
}

/// Where a node's price came from.
///
/// The catalog's on-demand prices are Linux prices, the only on-demand table
/// it has: Windows nodes are priced from it too, so their figures are low.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PriceSource {
    /// The on-demand list price, for a node that is not spot.
    OnDemand,
    /// A spot node: the Spot Advisor's average discount for the node's
    /// operating system (`kubernetes.io/os`) applied to the on-demand price.
    SpotEstimate,
    /// A spot node the Spot Advisor has no advice for (type, region or
    /// operating system missing from the feed), priced at the on-demand
    /// price: an upper bound, not its real price.
    SpotAtOnDemand,
}

/// Inventory, cost and utilization of a cluster.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ClusterSummary {
    /// Region used for prices.
    pub region: String,
    /// Nodes.
    pub nodes: usize,
    /// Cordoned nodes.
    pub cordoned_nodes: usize,
    /// By instance type.
    pub by_instance_type: BTreeMap<String, NodeGroupCost>,
    /// By availability zone.
    pub by_zone: BTreeMap<String, NodeGroupCost>,
    /// By capacity type (`on-demand`, `spot`, `unknown`).
    pub by_capacity_type: BTreeMap<String, NodeGroupCost>,
    /// Total hourly cost of the nodes.
    pub usd_per_hour: UsdPerHour,
    /// Spot nodes whose price is an estimate from the Spot Advisor discount
    /// ([`PriceSource::SpotEstimate`]).
    pub spot_estimated_nodes: usize,
    /// Spot nodes without Spot Advisor advice, priced at the on-demand price
    /// ([`PriceSource::SpotAtOnDemand`]): the total overstates their cost.
    pub spot_priced_at_on_demand_nodes: usize,
    /// Nodes that could not be priced (unknown instance type, or no price in the region).
    pub unpriced_nodes: Vec<String>,
    /// Pods by phase.
    pub pods_by_phase: BTreeMap<String, usize>,
    /// Pods bound to no node and not finished.
    pub unscheduled_pods: usize,
    /// Sum of active pod requests.
    pub requested: Resources,
    /// Sum of node allocatable.
    pub allocatable: Resources,
}

impl ClusterSummary {
    /// Summarize a snapshot, pricing nodes from `catalog` in `region`
    /// (each node's own region label wins when present).
    pub fn new(snapshot: &ClusterSnapshot, catalog: &Catalog, region: &str) -> ClusterSummary {
        let mut s = ClusterSummary {
            region: region.to_owned(),
            nodes: snapshot.nodes.len(),
            ..Default::default()
        };
        for node in &snapshot.nodes {
            let price = node_price(node, catalog, region);
            let usd = match price {
                Some((usd, source)) => {
                    match source {
                        PriceSource::OnDemand => {}
                        PriceSource::SpotEstimate => s.spot_estimated_nodes += 1,
                        PriceSource::SpotAtOnDemand => s.spot_priced_at_on_demand_nodes += 1,
                    }
                    usd
                }
                None => {
                    s.unpriced_nodes.push(node.name.clone());
                    UsdPerHour::ZERO
                }
            };
            let add = |map: &mut BTreeMap<String, NodeGroupCost>, key: String| {
                let entry = map.entry(key).or_default();
                entry.nodes += 1;
                entry.usd_per_hour += usd;
            };
            add(
                &mut s.by_instance_type,
                node.instance_type
                    .clone()
                    .unwrap_or_else(|| "unknown".into()),
            );
            add(
                &mut s.by_zone,
                node.zone.clone().unwrap_or_else(|| "unknown".into()),
            );
            add(&mut s.by_capacity_type, node.capacity_type.to_string());
            s.usd_per_hour += usd;
            s.cordoned_nodes += usize::from(node.unschedulable);
            s.allocatable = s.allocatable.saturating_add(node.allocatable);
        }
        for pod in &snapshot.pods {
            *s.pods_by_phase
                .entry(format!("{:?}", pod.phase))
                .or_default() += 1;
            if pod.is_active_on_node() {
                s.requested = s.requested.saturating_add(pod.requests());
            } else if pod.node_name.is_none() && pod.phase == PodPhase::Pending {
                s.unscheduled_pods += 1;
            }
        }
        s
    }
}

/// A node's hourly price in its region (its region label, else `region`):
/// the on-demand list price; for spot nodes the Spot Advisor estimate for
/// the node's operating system (the `kubernetes.io/os` label: `windows`, else
/// Linux), or the on-demand price marked [`PriceSource::SpotAtOnDemand`]
/// when the feed has no advice. `None` when the instance type is unknown or
/// has no on-demand price in the region.
///
/// The on-demand table is the catalog's Linux one, for Windows nodes too.
pub fn node_price(
    node: &Node,
    catalog: &Catalog,
    region: &str,
) -> Option<(UsdPerHour, PriceSource)> {
    let it = catalog.get(node.instance_type.as_deref()?)?;
    let region = node.region.as_deref().unwrap_or(region);
    let on_demand = it.on_demand_usd_per_hour(region)?;
    if node.capacity_type != CapacityType::Spot {
        return Some((on_demand, PriceSource::OnDemand));
    }
    Some(
        match it.spot_usd_per_hour_estimate(region, operating_system(node)) {
            Some(spot) => (spot, PriceSource::SpotEstimate),
            None => (on_demand, PriceSource::SpotAtOnDemand),
        },
    )
}

/// The node's operating system from its `kubernetes.io/os` label; Linux
/// unless it says `windows`.
fn operating_system(node: &Node) -> OperatingSystem {
    match node.labels.get(node_labels::OS).map(String::as_str) {
        Some(os) if os == OperatingSystem::Windows.kubernetes_name() => OperatingSystem::Windows,
        _ => OperatingSystem::Linux,
    }
}
