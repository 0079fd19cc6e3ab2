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
