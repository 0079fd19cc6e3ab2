//! The price book: what a running node or a new instance costs per hour.
//!
//! Every report and engine prices through these functions (the summary,
//! consolidation, the packer's candidates, spot pool selection, interruption
//! replacements), so one rule holds everywhere:
//!
//! - on-demand (and unknown capacity type): the catalog's on-demand list
//!   price in the region;
//! - spot: the Spot Advisor's average savings for the type, region and
//!   operating system applied to that price ([`PriceSource::SpotEstimate`]),
//!   or the on-demand price marked [`PriceSource::SpotAtOnDemand`] when the
//!   feed has no advice: an upper bound, never presented as the price;
//! - no on-demand price in the region: no price (`None`), never another
//!   region's price or zero.
//!
//! Windows nodes are priced from the catalog's Windows on-demand table where
//! it has one (loaded from the AWS Price List API with
//! [`Catalog::with_price_list`]); otherwise from the Linux table (their
//! Spot estimate at the Windows savings rate), so their figures are low.
//!
//! ```
//! use cloudoptim_core::catalog::{Catalog, OperatingSystem};
//! use cloudoptim_core::pricing::{instance_price, PriceSource};
//! use cloudoptim_core::snapshot::CapacityType;
//!
//! let catalog = Catalog::embedded().expect("the embedded catalog loads");
//! let m5 = catalog.get("m5.large").expect("in the catalog");
//! let od = instance_price(m5, "us-east-1", CapacityType::OnDemand, OperatingSystem::Linux)
//!     .expect("priced in us-east-1");
//! assert_eq!(od.source, PriceSource::OnDemand);
//! let spot = instance_price(m5, "us-east-1", CapacityType::Spot, OperatingSystem::Linux)
//!     .expect("priced in us-east-1");
//! assert!(spot.usd_per_hour < od.usd_per_hour);
//! // No table for the region: no price, not us-east-1's.
//! assert_eq!(instance_price(m5, "xx-nowhere-1", CapacityType::OnDemand, OperatingSystem::Linux), None);
//! ```

use serde::{Deserialize, Serialize};

use crate::catalog::{Catalog, InstanceType, OperatingSystem};
use crate::money::UsdPerHour;
use crate::snapshot::{node_labels, CapacityType, Node};

/// Where a price came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PriceSource {
    /// The on-demand list price, for capacity that is not spot.
    OnDemand,
    /// Spot: the Spot Advisor's average discount for the operating system
    /// applied to the on-demand price.
    SpotEstimate,
    /// Spot the Spot Advisor has no advice for (type, region or operating
    /// system missing from the feed), priced at the on-demand price: an
    /// upper bound, not its real price.
    SpotAtOnDemand,
}

/// An hourly price and where it came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Price {
    /// Dollars per hour.
    pub usd_per_hour: UsdPerHour,
    /// How it was found.
    pub source: PriceSource,
}

impl Price {
    /// Whether this is the price itself, not an upper bound standing in
    /// for a spot price nobody knows.
    pub fn is_known(self) -> bool {
        self.source != PriceSource::SpotAtOnDemand
    }
}

/// What an instance of `instance_type` bought as `capacity` for `os` costs
/// per hour in `region`; `None` when the catalog has no on-demand price for
/// the type there.
pub fn instance_price(
    instance_type: &InstanceType,
    region: &str,
    capacity: CapacityType,
    os: OperatingSystem,
) -> Option<Price> {
    let on_demand = instance_type.on_demand_usd_per_hour_for(region, os)?;
    if capacity != CapacityType::Spot {
        return Some(Price {
            usd_per_hour: on_demand,
            source: PriceSource::OnDemand,
        });
    }
    Some(match instance_type.spot_usd_per_hour_estimate(region, os) {
        Some(spot) => Price {
            usd_per_hour: spot,
            source: PriceSource::SpotEstimate,
        },
        None => Price {
            usd_per_hour: on_demand,
            source: PriceSource::SpotAtOnDemand,
        },
    })
}

/// A running node's hourly price: its instance type, bought as its capacity
/// type, for its operating system, in its region (the node's own region,
/// else `region`). `None` when the type is unknown to the catalog or has no
/// price in that region.
pub fn node_price(node: &Node, catalog: &Catalog, region: &str) -> Option<Price> {
    let it = catalog.get(node.instance_type.as_deref()?)?;
    let region = node.region.as_deref().unwrap_or(region);
    instance_price(it, region, node.capacity_type, node_os(node))
}

/// The node's operating system from its `kubernetes.io/os` label; Linux
/// unless it says `windows`.
pub fn node_os(node: &Node) -> OperatingSystem {
    match node.labels.get(node_labels::OS).map(String::as_str) {
        Some(os) if os.eq_ignore_ascii_case(OperatingSystem::Windows.kubernetes_name()) => {
            OperatingSystem::Windows
        }
        _ => OperatingSystem::Linux,
    }
}

/// How many GiB-hours of memory cost as much as one CPU-hour, for splitting
/// a node's price between its cores and its memory. EC2's on-demand list
/// prices imply about 10: in us-east-1, c5.large (2 vCPU, 4 GiB) is $0.085/h
/// and r5.large (2 vCPU, 16 GiB) $0.126/h, so 12 GiB cost $0.041/h
/// ($0.0034 per GiB-hour) and a vCPU $0.0357/h; m5.large (2 vCPU, 8 GiB,
/// $0.096/h) then comes out within 3%.
pub const CPU_HOUR_IN_GIB_HOURS: f64 = 10.0;

/// What a core and a GiB of the cluster cost per hour: the price of its
/// priced nodes split between their allocatable cores and memory, a core
/// costing [`CPU_HOUR_IN_GIB_HOURS`] GiB-hours. What a pod's requests cost
/// ([`ResourceRates::usd_per_hour`]) is then its share of the nodes it
/// needs; engines that remove or shrink pods (office hours, rightsizing)
/// price their savings with it.
///
/// ```
/// use cloudoptim_core::pricing::ResourceRates;
/// use cloudoptim_core::Resources;
///
/// // $0.096/h for 2 cores and 8 GiB: g = 0.096 / (2 × 10 + 8).
/// let rates = ResourceRates::from_totals(0.096, 2000, 8 << 30).unwrap();
/// let half = Resources { cpu_millis: 1000, memory_bytes: 4 << 30, ..Resources::ZERO };
/// assert_eq!(rates.usd_per_hour(half).micro_usd(), 48_000);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct ResourceRates {
    /// Dollars per core-hour.
    pub usd_per_cpu_hour: f64,
    /// Dollars per GiB-hour.
    pub usd_per_gib_hour: f64,
    /// Nodes whose price went into the rates.
    pub priced_nodes: usize,
    /// Nodes left out: no known price (unknown type, no price in the region,
    /// spot without advice) or nothing allocatable.
    pub unpriced_nodes: usize,
}

const BYTES_PER_GIB: f64 = (1u64 << 30) as f64;

impl ResourceRates {
    /// Rates from a total hourly price and the cores (millicores) and
    /// memory (bytes) it buys; `None` when there is nothing to divide by.
    pub fn from_totals(usd_per_hour: f64, cpu_millis: u64, memory_bytes: u64) -> Option<Self> {
        let cores = cpu_millis as f64 / 1000.0;
        let gib = memory_bytes as f64 / BYTES_PER_GIB;
        let weight = CPU_HOUR_IN_GIB_HOURS * cores + gib;
        if weight.is_nan() || weight <= 0.0 || !usd_per_hour.is_finite() || usd_per_hour < 0.0 {
            return None;
        }
        let usd_per_gib_hour = usd_per_hour / weight;
        Some(ResourceRates {
            usd_per_cpu_hour: usd_per_gib_hour * CPU_HOUR_IN_GIB_HOURS,
            usd_per_gib_hour,
            priced_nodes: 0,
            unpriced_nodes: 0,
        })
    }

    /// The rates of a cluster's nodes, priced with [`node_price`] (only
    /// known prices: a spot node without advice is left out rather than
    /// counted at its on-demand upper bound). `None` when no node is priced.
    pub fn of_cluster(nodes: &[Node], catalog: &Catalog, region: &str) -> Option<Self> {
        let (mut usd, mut cpu, mut memory, mut priced) = (0.0, 0u64, 0u64, 0usize);
        for node in nodes {
            let Some(price) = node_price(node, catalog, region).filter(|p| p.is_known()) else {
                continue;
            };
            if node.allocatable.cpu_millis == 0 && node.allocatable.memory_bytes == 0 {
                continue;
            }
            usd += price.usd_per_hour.usd();
            cpu = cpu.saturating_add(node.allocatable.cpu_millis);
            memory = memory.saturating_add(node.allocatable.memory_bytes);
            priced += 1;
        }
        let mut rates = ResourceRates::from_totals(usd, cpu, memory)?;
        rates.priced_nodes = priced;
        rates.unpriced_nodes = nodes.len() - priced;
        Some(rates)
    }

    /// What these requests (CPU and memory) cost per hour.
    pub fn usd_per_hour(&self, requests: crate::resources::Resources) -> UsdPerHour {
        let usd = requests.cpu_millis as f64 / 1000.0 * self.usd_per_cpu_hour
            + requests.memory_bytes as f64 / BYTES_PER_GIB * self.usd_per_gib_hour;
        UsdPerHour::from_usd(usd).unwrap_or(UsdPerHour::ZERO)
    }
}
