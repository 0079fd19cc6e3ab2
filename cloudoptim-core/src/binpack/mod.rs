//! The Tetris engine: pack pods onto the cheapest set of new nodes, and say
//! how close to optimal the answer is.
//!
//! A [`Packer`] takes pod requirements, the instance [`Catalog`] and a
//! [`PackingPolicy`] and returns a [`Packing`]: the nodes to run (type, zone,
//! capacity type, price, pods), every pod that could not be placed with the
//! constraint or resource that stopped it, and a certified
//! [`LowerBound`] on the cost of *any* feasible packing of the same pods.
//!
//! Fit is checked in every dimension (CPU, memory, pod slots, GPUs,
//! ephemeral storage) against what a node really offers: its allocatable
//! after the EKS kube-reserved formula and eviction thresholds
//! ([`crate::eks`]), minus the DaemonSet pods that land on every node.
//! Constraints honoured: node selectors and required node affinity on the
//! well-known labels (instance type, family, zone, region, capacity type,
//! architecture, OS), required pod anti-affinity on the hostname, zone
//! topology spread, and the policy's instance-type allow and deny lists.
//! New nodes carry no taints, so tolerations never stop a pod here.
//!
//! The built-in packer is [`LpGuidedPacker`]: it solves the linear
//! relaxation first, uses its resource prices to order pods and to choose
//! which instance type to open, packs best-fit decreasing, empties the
//! least-filled nodes into the others where they fit, and finally shrinks
//! every node to the cheapest type that still holds its pods. Then, when
//! the pods form few enough kinds, it solves the configuration LP by
//! column generation (`column_generation`, with a knapsack per instance
//! type in `knapsack` and a warm-started simplex for the master in
//! `master`), starting from that packing's nodes: the LP's solution
//! rounded down (re-solved for the pods left over), the rest packed as
//! before, gives a second packing (the cheaper one is kept), and the LP's
//! duals certify Farley's bound, usually far tighter than the aggregate
//! relaxation's. Last, a local search (`local_search`: ruin and recreate,
//! which needs no kinds) improves the packing within a budget of fit
//! checks. Every [`Packing`] carries a [`PackingReport`]: what each stage
//! cost and what each bound proved.

mod candidates;
mod classes;
mod column_generation;
mod knapsack;
mod local_search;
mod lower_bound;
mod master;
mod packer;
mod pod_list;
mod requirement;

use serde::{Deserialize, Serialize};

pub(crate) use candidates::candidates;
pub use candidates::{largest_candidate, Candidate};
pub(crate) use lower_bound::capacity_bound;
pub use lower_bound::LowerBound;
pub use packer::LpGuidedPacker;
pub use pod_list::{read_openb_pods, PodListError};
pub(crate) use requirement::anti_affinity_group;
pub use requirement::PodRequirement;

use crate::catalog::{Architecture, Catalog, OperatingSystem};
use crate::money::UsdPerHour;
use crate::resources::{Dimension, Resources};
use crate::snapshot::CapacityType;

/// What the packer may use.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PackingPolicy {
    /// Region whose prices apply.
    pub region: String,
    /// Availability zones new nodes may go to.
    pub zones: Vec<String>,
    /// Buy on-demand or spot (spot priced at the Spot Advisor's average discount).
    pub capacity_type: CapacityType,
    /// Operating system of the nodes.
    pub os: OperatingSystem,
    /// Only these instance types or families (`m5.large`, `m5`); empty allows all.
    pub allowed_instance_types: Vec<String>,
    /// Never these instance types or families.
    pub denied_instance_types: Vec<String>,
    /// CPU architectures nodes may have (container images must exist for them).
    pub architectures: Vec<Architecture>,
    /// Allow burstable (T-family) types, whose full vCPU is only a credit balance.
    pub allow_burstable: bool,
    /// What the DaemonSets put on every node.
    pub daemonset_overhead: Resources,
    /// Root volume of a node, the ephemeral storage pods share.
    pub root_volume_bytes: u64,
}

impl Default for PackingPolicy {
    /// us-east-1, three zones, on-demand Linux, every x86-64 type that is not
    /// burstable (images are amd64 unless said otherwise; T-family CPU is
    /// credit-limited), the EKS default
    /// add-ons on every node (aws-node 25m CPU, kube-proxy 100m CPU) and a
    /// 20 GiB root volume (the EKS and Karpenter default).
    fn default() -> Self {
        PackingPolicy {
            region: "us-east-1".into(),
            zones: ["us-east-1a", "us-east-1b", "us-east-1c"]
                .map(String::from)
                .to_vec(),
            capacity_type: CapacityType::OnDemand,
            os: OperatingSystem::Linux,
            allowed_instance_types: Vec::new(),
            denied_instance_types: Vec::new(),
            architectures: vec![Architecture::X86_64],
            allow_burstable: false,
            daemonset_overhead: Resources {
                cpu_millis: 125,
                pods: 2,
                ..Resources::ZERO
            },
            root_volume_bytes: 20 << 30,
        }
    }
}

/// A node the packing asks for.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PackedNode {
    /// Instance type.
    pub instance_type: String,
    /// Availability zone.
    pub zone: String,
    /// On-demand or spot.
    pub capacity_type: CapacityType,
    /// Its price.
    pub usd_per_hour: UsdPerHour,
    /// What pods can use on it (after kube-reserved, eviction thresholds and DaemonSets).
    pub allocatable: Resources,
    /// What the pods placed on it request.
    pub requested: Resources,
    /// Indices (into the input) of the pods placed on it.
    pub pods: Vec<usize>,
}

/// Why a pod could not be placed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, thiserror::Error)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum Unschedulable {
    /// No allowed instance type in any allowed zone satisfies the pod's
    /// node selector or required node affinity.
    #[error("no allowed instance type and zone satisfies {constraint}")]
    NoMatchingInstanceType {
        /// The constraint, as Kubernetes writes it.
        constraint: String,
    },
    /// The pod needs GPUs and no allowed instance type has any.
    #[error("needs GPUs and no allowed instance type has any")]
    NoGpuInstanceType,
    /// The pod's zone spread put it in a zone where no matching type holds it.
    #[error("no matching instance type that holds it is offered in {zone}, the zone its topology spread requires")]
    NoFitInZone {
        /// The zone.
        zone: String,
    },
    /// Matching types exist, but none is large enough.
    #[error("requests {requested} of {dimension}, the largest matching node offers {largest}")]
    TooLarge {
        /// The dimension that does not fit.
        dimension: Dimension,
        /// What the pod requests in it.
        requested: u64,
        /// The most any matching node offers in it.
        largest: u64,
    },
}

/// A pod the packing could not place, and why.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Unplaced {
    /// Index of the pod in the input.
    pub pod: usize,
    /// Why.
    pub reason: Unschedulable,
}

/// What the configuration LP did for a packing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum ConfigurationLp {
    /// Turned off (`column_generation_rounds` is 0).
    Off,
    /// Not run: the pods form more kinds (distinct requests and
    /// constraints) than its limit, so the bound is the relaxations' only.
    TooManyKinds {
        /// Kinds the pods form.
        kinds: usize,
        /// `column_generation_max_kinds`.
        limit: usize,
    },
    /// Could not be set up or solved numerically.
    NotSolved,
    /// Solved by column generation. Where the gap is: `master_usd_per_hour
    /// − bound_usd_per_hour` is the LP left open (the LP's optimum lies
    /// between them), the packing's cost above `master_usd_per_hour` is
    /// what whole nodes cost over the LP's fractional ones (integrality)
    /// and what the rounding lost.
    Solved {
        /// The Farley bound it certified.
        bound_usd_per_hour: UsdPerHour,
        /// What the restricted master's last solution costs (at least the
        /// LP's optimum).
        master_usd_per_hour: UsdPerHour,
        /// What the packing rounded from its solution cost, if that
        /// placed every pod (the cheaper of it and the greedy one goes on).
        packing_usd_per_hour: Option<UsdPerHour>,
    },
}

/// Where a packing's cost and its bound come from, stage by stage, so the
/// gap between them can be read: a packing far above the relaxations but
/// close to the configuration LP's bound is held back by the bound; one
/// that the local search still improved a lot had a weak start.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PackingReport {
    /// Cost of the LP-guided best-fit packing (repacked and shrunk).
    pub greedy_usd_per_hour: UsdPerHour,
    /// What the configuration LP did.
    pub configuration_lp: ConfigurationLp,
    /// Cost when the local search started (the cheaper packing so far).
    pub before_local_search_usd_per_hour: UsdPerHour,
    /// Fit checks the local search made (its budget is
    /// `LpGuidedPacker::local_search_work`).
    pub local_search_fit_checks: usize,
    /// The aggregate LP relaxation's certified bound.
    pub lp_bound_usd_per_hour: UsdPerHour,
    /// The per-pod bound (a pod's resources come from one node).
    pub per_pod_bound_usd_per_hour: UsdPerHour,
}

/// The answer of a packer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Packing {
    /// Nodes to run.
    pub nodes: Vec<PackedNode>,
    /// Pods that could not be placed.
    pub unplaced: Vec<Unplaced>,
    /// Total price of the nodes.
    pub usd_per_hour: UsdPerHour,
    /// A certified lower bound on the price of any packing of the placeable pods.
    pub lower_bound: LowerBound,
    /// How the cost and the bound were reached.
    pub report: PackingReport,
}

impl Packing {
    /// `usd_per_hour / lower_bound` (1.0 is provably optimal; `inf` if the bound is 0 and the cost is not).
    pub fn ratio(&self) -> f64 {
        let lb = self.lower_bound.usd_per_hour.usd();
        let cost = self.usd_per_hour.usd();
        if lb > 0.0 {
            cost / lb
        } else if cost == 0.0 {
            1.0
        } else {
            f64::INFINITY
        }
    }

    /// Number of pods placed.
    pub fn placed_pods(&self) -> usize {
        self.nodes.iter().map(|n| n.pods.len()).sum()
    }
}

/// Bad input to a packer.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PackError {
    /// The catalog, after the policy's filters, has no priced instance type.
    #[error("no instance type is available: {0}")]
    NoInstanceTypes(String),
    /// The policy names an instance type or family the catalog does not know.
    #[error("policy {list} names {name:?}, which is no instance type or family in the catalog")]
    UnknownInstanceType {
        /// `allowed_instance_types` or `denied_instance_types`.
        list: &'static str,
        /// The unknown name.
        name: String,
    },
    /// The policy allows no zone.
    #[error("the policy allows no availability zone")]
    NoZones,
}

/// A strategy that packs pods onto new nodes.
pub trait Packer {
    /// Pack `pods` onto nodes from `catalog` under `policy`.
    fn pack(
        &self,
        pods: &[PodRequirement],
        catalog: &Catalog,
        policy: &PackingPolicy,
    ) -> Result<Packing, PackError>;
}
