//! A cluster that consolidation should shrink a lot: mixed-family nodes
//! left 30–50% full, as a cluster is after a scale-down that no one
//! consolidated, for measuring how far consolidation reaches.

use super::rng::Rng;
use super::synthetic::{running_node, running_pod};
use crate::catalog::Catalog;
use crate::resources::Resources;
use crate::snapshot::ClusterSnapshot;

const GIB: f64 = (1u64 << 30) as f64;

/// Instance types the nodes are drawn from: general purpose, compute and
/// memory optimized, large to 4xlarge.
const TYPES: [&str; 12] = [
    "m5.large",
    "m5.xlarge",
    "m5.2xlarge",
    "m5.4xlarge",
    "c5.large",
    "c5.xlarge",
    "c5.2xlarge",
    "c5.4xlarge",
    "r5.large",
    "r5.xlarge",
    "r5.2xlarge",
    "r5.4xlarge",
];

/// Candidate nodes a replica tries before it is left out.
const TRIES: usize = 8;

/// `node_count` on-demand nodes of m5, c5 and r5 types (large to 4xlarge)
/// over three us-east-1 zones, each filled to a random 30–50% (of its CPU
/// or memory, whichever fills first) with replicas of Deployments. Every
/// Deployment has its own shape: 100m to 4 cores, 1 to 8 GiB per core
/// (both log-uniform), 1 to 12 replicas placed on random nodes. No PDB,
/// no annotation, no local storage: every pod may move, so what stays is
/// consolidation's reach, not its rules. Same arguments, same cluster.
///
/// ```
/// use cloudoptim_core::catalog::Catalog;
/// use cloudoptim_core::demo::underutilized_cluster;
///
/// let cluster = underutilized_cluster(30, 1, Catalog::embedded()?);
/// assert_eq!(cluster.nodes.len(), 30);
/// assert!(cluster.pods.len() > 30);
/// assert_eq!(cluster, underutilized_cluster(30, 1, Catalog::embedded()?));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn underutilized_cluster(node_count: usize, seed: u64, catalog: &Catalog) -> ClusterSnapshot {
    let mut rng = Rng::new(seed);
    let zones = ["us-east-1a", "us-east-1b", "us-east-1c"];
    let mut nodes = Vec::new();
    // Per node: what it may still take before it reaches its target fill.
    let mut room: Vec<Resources> = Vec::new();
    for i in 0..node_count {
        let type_name = *rng.pick(&TYPES);
        let Some(it) = catalog.get(type_name) else {
            continue;
        };
        let allocatable = crate::eks::node_allocatable(it, 20 << 30);
        let zone = zones.get(i % zones.len()).copied().unwrap_or("us-east-1a");
        let fill = rng.between(0.30, 0.50);
        room.push(Resources {
            cpu_millis: (allocatable.cpu_millis as f64 * fill) as u64,
            memory_bytes: (allocatable.memory_bytes as f64 * fill) as u64,
            ..allocatable
        });
        nodes.push(running_node(
            format!("node-{i:05}"),
            type_name,
            zone,
            allocatable,
            &mut rng,
        ));
    }
    // Nodes still below their target.
    let mut open: Vec<usize> = (0..nodes.len()).collect();
    let mut pods = Vec::new();
    let mut service = 0usize;
    let mut misses = 0usize;
    while !open.is_empty() && misses < 64 {
        service += 1;
        let app = format!("svc-{service}");
        let cores = (rng.between(0.1f64.ln(), 4.0f64.ln())).exp();
        let gib_per_core = (rng.between(0.0, 8.0f64.ln())).exp();
        let requests = Resources {
            cpu_millis: ((cores * 1000.0) as u64).max(10),
            memory_bytes: (cores * gib_per_core * GIB) as u64,
            pods: 1,
            ..Resources::ZERO
        };
        let replicas = rng.range(1, 12) as usize;
        let before = pods.len();
        for r in 0..replicas {
            let mut placed = false;
            for _ in 0..TRIES.min(open.len()) {
                let at = rng.range(0, open.len().saturating_sub(1) as u64) as usize;
                let Some(&n) = open.get(at) else { break };
                let Some(left) = room.get_mut(n) else { break };
                if !requests.fits_within(left) {
                    continue;
                }
                *left = left.saturating_sub(requests);
                // Full enough once it has room for less than half another
                // replica of this shape.
                if left.cpu_millis < requests.cpu_millis / 2
                    || left.memory_bytes < requests.memory_bytes / 2
                {
                    open.swap_remove(at);
                }
                let node = nodes.get(n).map(|x| x.name.clone());
                pods.push(running_pod(&app, r, node, requests));
                placed = true;
                break;
            }
            if !placed {
                break;
            }
        }
        // Stop after many Deployments in a row found no room at all.
        misses = if pods.len() == before { misses + 1 } else { 0 };
    }
    let mut snapshot = ClusterSnapshot {
        nodes,
        pods,
        ..ClusterSnapshot::default()
    };
    snapshot.resolve_owners();
    snapshot
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nodes_are_real_instances_filled_a_third_to_a_half() {
        let catalog = Catalog::embedded().expect("embedded catalog");
        let cluster = underutilized_cluster(300, 7, catalog);
        assert_eq!(cluster.nodes.len(), 300);
        assert!(cluster.why_pods_unknown().is_none());
        let requested = cluster.requested_by_node();
        let mut fills = Vec::new();
        for node in &cluster.nodes {
            assert!(node.instance_id.is_some(), "{}", node.name);
            assert!(catalog
                .get(node.instance_type.as_deref().unwrap_or(""))
                .is_some());
            let used = requested
                .get(node.name.as_str())
                .copied()
                .unwrap_or_default();
            assert!(
                used.fits_within(&node.allocatable),
                "{} overfilled",
                node.name
            );
            let fill = used
                .fraction_of(&node.allocatable, crate::resources::Dimension::Cpu)
                .max(used.fraction_of(&node.allocatable, crate::resources::Dimension::Memory));
            fills.push(fill);
        }
        fills.sort_by(f64::total_cmp);
        let median = fills[fills.len() / 2];
        assert!((0.25..=0.55).contains(&median), "median fill {median}");
        assert!(cluster.pods.iter().all(|p| p.controller.is_some()));
    }
}
