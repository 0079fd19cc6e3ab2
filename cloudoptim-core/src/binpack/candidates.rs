//! The instance types a packing may open, with what they offer and cost.

use serde::{Deserialize, Serialize};

use super::{PackError, PackingPolicy};
use crate::catalog::{Catalog, InstanceType};
use crate::eks;
use crate::money::UsdPerHour;
use crate::resources::Resources;
use crate::snapshot::{node_labels, CapacityType, Labels};

/// An instance type the policy allows, priced and sized for packing.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Candidate {
    /// Instance type name.
    pub instance_type: String,
    /// Price per hour at the policy's capacity type.
    pub usd_per_hour: UsdPerHour,
    /// What pods can use: allocatable minus the DaemonSet overhead.
    pub allocatable: Resources,
    /// The labels a node of this type carries, zone and hostname aside.
    pub labels: Labels,
}

fn matches_entry(it: &InstanceType, entry: &str) -> bool {
    it.name == entry || it.family == entry
}

fn check_entries(
    catalog: &Catalog,
    list: &'static str,
    entries: &[String],
) -> Result<(), PackError> {
    for entry in entries {
        if !catalog.instance_types().any(|it| matches_entry(it, entry)) {
            return Err(PackError::UnknownInstanceType {
                list,
                name: entry.clone(),
            });
        }
    }
    Ok(())
}

/// The allowed, priced instance types, cheapest first (ties by name).
pub(crate) fn candidates(
    catalog: &Catalog,
    policy: &PackingPolicy,
) -> Result<Vec<Candidate>, PackError> {
    if policy.zones.is_empty() {
        return Err(PackError::NoZones);
    }
    check_entries(
        catalog,
        "allowed_instance_types",
        &policy.allowed_instance_types,
    )?;
    check_entries(
        catalog,
        "denied_instance_types",
        &policy.denied_instance_types,
    )?;
    let mut out = Vec::new();
    for it in catalog.instance_types() {
        let allowed = policy.allowed_instance_types.is_empty()
            || policy
                .allowed_instance_types
                .iter()
                .any(|e| matches_entry(it, e));
        let denied = policy
            .denied_instance_types
            .iter()
            .any(|e| matches_entry(it, e));
        if !allowed
            || denied
            || !policy.architectures.contains(&it.architecture)
            || (it.burstable && !policy.allow_burstable)
        {
            continue;
        }
        // A spot type the Spot Advisor cannot price is not bought blind.
        let price =
            crate::pricing::instance_price(it, &policy.region, policy.capacity_type, policy.os)
                .filter(|p| p.is_known())
                .map(|p| p.usd_per_hour);
        let Some(usd_per_hour) = price.filter(|p| *p > UsdPerHour::ZERO) else {
            continue;
        };
        let Ok(allocatable) = eks::node_allocatable(it, policy.root_volume_bytes)
            .checked_sub(policy.daemonset_overhead)
        else {
            continue; // The DaemonSets alone do not fit.
        };
        if allocatable.cpu_millis == 0 || allocatable.memory_bytes == 0 || allocatable.pods == 0 {
            continue;
        }
        let capacity = if policy.capacity_type == CapacityType::Spot {
            CapacityType::Spot
        } else {
            CapacityType::OnDemand
        };
        let labels = node_labels::for_new_node(it, &policy.region, None, capacity, policy.os);
        out.push(Candidate {
            instance_type: it.name.clone(),
            usd_per_hour,
            allocatable,
            labels,
        });
    }
    if out.is_empty() {
        return Err(PackError::NoInstanceTypes(format!(
            "none of the catalog's {} types is allowed and priced for {} {} in {}",
            catalog.len(),
            policy.capacity_type,
            policy.os.kubernetes_name(),
            policy.region
        )));
    }
    out.sort_by(|a, b| {
        a.usd_per_hour
            .cmp(&b.usd_per_hour)
            .then_with(|| a.instance_type.cmp(&b.instance_type))
    });
    Ok(out)
}

/// The largest node for pods the cluster could launch: of the instance
/// types `policy` allows and can price, the one that offers pods the most
/// of `dimension` (allocatable after kube-reserved, the eviction thresholds
/// and the policy's DaemonSet overhead, as [`Candidate::allocatable`]),
/// the cheapest of equals. No container can use more than this in that
/// dimension, wherever it is scheduled, so it caps every recommendation
/// (OOM bumps, rightsizing).
///
/// Build `policy` with [`NodeEnvironment::packing_policy`](crate::environment::NodeEnvironment::packing_policy)
/// so that it holds the cluster's region, architectures and DaemonSets.
///
/// ```
/// use cloudoptim_core::binpack::{largest_candidate, PackingPolicy};
/// use cloudoptim_core::catalog::Catalog;
/// use cloudoptim_core::Dimension;
///
/// let catalog = Catalog::embedded()?;
/// let policy = PackingPolicy {
///     allowed_instance_types: vec!["m5".into()],
///     ..PackingPolicy::default()
/// };
/// let largest = largest_candidate(&catalog, &policy, Dimension::Memory)?;
/// assert_eq!(largest.instance_type, "m5.24xlarge");
/// assert!(largest.allocatable.memory_bytes < 384 << 30);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn largest_candidate(
    catalog: &Catalog,
    policy: &PackingPolicy,
    dimension: crate::resources::Dimension,
) -> Result<Candidate, PackError> {
    // Cheapest first, so the first of the largest is the cheapest of them.
    let mut best: Option<Candidate> = None;
    for candidate in candidates(catalog, policy)? {
        let more = best
            .as_ref()
            .is_none_or(|b| candidate.allocatable.get(dimension) > b.allocatable.get(dimension));
        if more {
            best = Some(candidate);
        }
    }
    best.ok_or_else(|| PackError::NoInstanceTypes("no candidate".into()))
}
