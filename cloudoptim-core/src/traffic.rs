//! Service-to-service network traffic, the input to cross-AZ placement
//! ([`crate::cross_az`], which also reads it from JSON and CSV).

use std::fmt;

use serde::{Deserialize, Serialize};

/// AWS charges for data crossing availability zones in one region,
/// $0.01/GB in each direction: the sending and the receiving side of a
/// cross-zone transfer each pay it, so a cross-zone GB costs $0.02 in all.
pub const CROSS_AZ_USD_PER_GB_EACH_WAY: f64 = 0.01;

/// Bytes in the GB of AWS data-transfer prices, as CloudOptim counts it (10⁹).
pub const BYTES_PER_GB: f64 = 1e9;

/// A service: the workload of this name in this namespace (a Deployment,
/// StatefulSet, … whose pods carry it as their top owner). The Kubernetes
/// Service in front of it is assumed to have the same name.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ServiceRef {
    /// Namespace.
    pub namespace: String,
    /// Workload (and Service) name.
    pub name: String,
}

impl ServiceRef {
    /// A service in a namespace.
    pub fn new(namespace: impl Into<String>, name: impl Into<String>) -> Self {
        ServiceRef {
            namespace: namespace.into(),
            name: name.into(),
        }
    }
}

impl fmt::Display for ServiceRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)
    }
}

/// Average traffic sent by one service to another (or to itself).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrafficFlow {
    /// Sending service.
    pub from: ServiceRef,
    /// Receiving service.
    pub to: ServiceRef,
    /// Average volume sent, in bytes per second (finite, ≥ 0). The replies
    /// are a flow of their own, from `to` to `from`.
    pub bytes_per_second: f64,
}

/// Observed traffic between services: at most one flow per ordered pair.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TrafficMatrix {
    /// Flows, one per ordered pair of services.
    pub flows: Vec<TrafficFlow>,
}
