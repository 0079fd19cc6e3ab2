//! Spot conversion: move on-demand nodes onto spot instances, one node at
//! a time, with consolidation's disruption rules.
//!
//! For each on-demand node the planner looks for the cheapest spot
//! instance that holds its pods: any type the policy's
//! [`ReplacementPolicy`](crate::consolidation::ReplacementPolicy) allows,
//! in the node's zone, whose labels (capacity type included) every pod
//! accepts, whose Spot Advisor interruption range is at most
//! [`max_spot_interruption`](crate::consolidation::ReplacementPolicy::max_spot_interruption),
//! and whose pool (type and zone) has not already taken
//! [`max_per_spot_pool`](crate::consolidation::ReplacementPolicy::max_per_spot_pool)
//! nodes of this plan. The saving is the node's on-demand price minus the
//! Spot Advisor's estimate for the new type; below the threshold nothing
//! is planned.
//!
//! A workload that must stay on on-demand says so the Kubernetes way: a
//! node selector or required node affinity on `karpenter.sh/capacity-type:
//! on-demand` (or `eks.amazonaws.com/capacityType: ON_DEMAND`), which no
//! spot instance's labels satisfy. Everything else consolidation promises
//! holds: do-not-disrupt nodes and pods, bare pods, local storage and PDBs
//! keep a node where it is ([`Blocked`](crate::consolidation::Blocked)
//! says why), at most the policy's budget of nodes is converted per plan,
//! and each plan launches the spot instance before it cordons the node.
//! A node of a managed node group is left to its group (its Auto Scaling
//! group launches its own capacity type).
//!
//! The fallback is the interruption handler's
//! ([`InterruptionHandler`](super::interruption::InterruptionHandler)):
//! when a converted node is reclaimed, its replacement goes to the next
//! spot pool or to on-demand. When the spot launch itself fails (no
//! capacity), the plan stops at its first step and nothing was disrupted;
//! the caller passes that pool as `unavailable` to the next plans (as the
//! runtime's controller does, for a while), which then buy elsewhere.
//!
//! ```
//! use std::collections::BTreeSet;
//! use cloudoptim_core::catalog::Catalog;
//! use cloudoptim_core::consolidation::ConsolidationPolicy;
//! use cloudoptim_core::demo::{DemoConfig, DemoEnvironment};
//! use cloudoptim_core::snapshot::CapacityType;
//! use cloudoptim_core::spot::conversion::plan_spot_conversion;
//!
//! let catalog = Catalog::embedded()?;
//! let demo = DemoEnvironment::generate(&DemoConfig::default(), catalog)?;
//! let now = "2026-11-23T15:00:00Z".parse()?;
//! let policy = ConsolidationPolicy::spot_conversion();
//! let unavailable = BTreeSet::new(); // pools EC2 said were out of capacity
//! let c = plan_spot_conversion(&demo.snapshot, Some(&demo.aws), catalog, &policy, &unavailable, now);
//! // Every replacement is spot, and saves what the plan says.
//! assert!(c.replacements.iter().all(|r| r.capacity_type == CapacityType::Spot));
//! assert!(c.replacements.len() <= policy.max_disrupted_nodes);
//! assert_eq!(c.plan.engine, "spot-conversion");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::collections::BTreeSet;

use jiff::Timestamp;

use crate::catalog::{Catalog, InterruptionBucket};
use crate::consolidation::{plan, Consolidation, ConsolidationPolicy, Methods};
use crate::inventory::AwsInventory;
use crate::snapshot::{CapacityType, ClusterSnapshot};

impl ConsolidationPolicy {
    /// Defaults for [`plan_spot_conversion`]: at most 2 nodes (and 10 % of
    /// the cluster) converted per plan, each saving at least $0.01/h, onto
    /// types the Spot Advisor puts in its two calmest ranges (under 10 %
    /// interrupted a month), at most one node of a plan per spot pool; the
    /// replacement rules otherwise as
    /// [`ReplacementPolicy::default`](crate::consolidation::ReplacementPolicy::default).
    pub fn spot_conversion() -> ConsolidationPolicy {
        let mut policy = ConsolidationPolicy {
            max_disrupted_nodes: 2,
            ..ConsolidationPolicy::default()
        };
        policy.replacement.capacity_types = vec![CapacityType::Spot];
        policy.replacement.max_spot_interruption = Some(InterruptionBucket::From5To10Percent);
        policy.replacement.max_per_spot_pool = 1;
        policy
    }
}

/// The plan that moves on-demand nodes of `snapshot` onto spot instances,
/// within `policy`'s budget (see the [module](self) documentation),
/// buying from no pool (instance type, zone) of `unavailable`.
///
/// Whatever `policy.replacement.capacity_types` says, replacements are
/// bought as spot. Nodes that are already spot, or whose capacity type is
/// unknown, are [`Blocked::NotOnDemand`](crate::consolidation::Blocked::NotOnDemand);
/// a snapshot consolidation refuses (duplicate objects, no pods) gets an
/// empty plan and every node its reason.
pub fn plan_spot_conversion(
    snapshot: &ClusterSnapshot,
    account: Option<&AwsInventory>,
    catalog: &Catalog,
    policy: &ConsolidationPolicy,
    unavailable: &BTreeSet<(String, String)>,
    now: Timestamp,
) -> Consolidation {
    let mut policy = policy.clone();
    policy.replacement.capacity_types = vec![CapacityType::Spot];
    let methods = Methods::ToSpot { unavailable };
    plan(snapshot, account, catalog, methods, &policy, now)
}
