//! What a cluster is made of and what it costs: the inventory section of
//! every report.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::catalog::Catalog;
use crate::money::UsdPerHour;
use crate::pricing::{node_price, Price, PriceSource};
use crate::resources::Resources;
use crate::snapshot::{ClusterSnapshot, PodPhase};

/// Nodes of one group and what they cost.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct NodeGroupCost {
    /// Node count.
    pub nodes: usize,
    /// Their hourly cost (unpriced nodes count as zero).
    pub usd_per_hour: UsdPerHour,
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
    /// Pods bound to a node the snapshot does not have (`namespace/name`):
    /// the file holds only some of the nodes.
    pub pods_on_missing_nodes: Vec<String>,
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
                Some(Price {
                    usd_per_hour: usd,
                    source,
                }) => {
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
        s.pods_on_missing_nodes = snapshot.pods_on_missing_nodes();
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
