//! Service-to-service network traffic, the input to cross-AZ placement.

use serde::{Deserialize, Serialize};

use crate::snapshot::OwnerRef;

/// AWS charges for data crossing availability zones in one region,
/// $0.01/GB in each direction.
pub const CROSS_AZ_USD_PER_GB_EACH_WAY: f64 = 0.01;

/// Average traffic from one workload to another.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrafficFlow {
    /// Sending namespace (the namespace of `from`).
    pub from_namespace: String,
    /// Sending workload.
    pub from: OwnerRef,
    /// Receiving namespace.
    pub to_namespace: String,
    /// Receiving workload.
    pub to: OwnerRef,
    /// Average volume sent, in gigabytes (10⁹ bytes) per hour.
    pub gb_per_hour: f64,
}

/// Observed traffic between workloads.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TrafficMatrix {
    /// Flows, one per ordered pair of workloads.
    pub flows: Vec<TrafficFlow>,
}
