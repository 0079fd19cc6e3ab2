//! What a cluster's nodes say about where new nodes would run: region,
//! zones, operating systems, architectures, what the DaemonSets take on
//! every node, and the root volume. Derived once here and handed to every
//! engine that buys capacity (the packer, consolidation's replacements, spot
//! pools), so that they agree with each other and with the cluster.
//!
//! ```
//! use cloudoptim_core::binpack::PackingPolicy;
//! use cloudoptim_core::catalog::{Architecture, Catalog};
//! use cloudoptim_core::demo::{DemoConfig, DemoEnvironment};
//! use cloudoptim_core::environment::NodeEnvironment;
//!
//! let catalog = Catalog::embedded()?;
//! let demo = DemoEnvironment::generate(&DemoConfig::default(), catalog)?;
//! let env = NodeEnvironment::of(&demo.snapshot);
//! assert_eq!(env.region.as_deref(), Some("us-east-1"));
//! assert_eq!(env.architectures, vec![Architecture::X86_64]);
//! let policy = env.packing_policy(PackingPolicy::default());
//! assert_eq!(policy.zones, env.zones);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::binpack::PackingPolicy;
use crate::catalog::{Architecture, OperatingSystem};
use crate::pricing::node_os;
use crate::resources::Resources;
use crate::snapshot::{node_labels, ClusterSnapshot, Node};
use crate::spot::pools::PoolPolicy;

/// The shared context of a set of nodes. Fields are `None` or empty when the
/// nodes do not tell; [`NodeEnvironment::packing_policy`] and
/// [`NodeEnvironment::pool_policy`] then keep the caller's defaults.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct NodeEnvironment {
    /// The region every node that tells one is in. `None` when no node
    /// says, or when they disagree (see [`regions`](Self::regions)).
    pub region: Option<String>,
    /// Every region the nodes name.
    pub regions: BTreeSet<String>,
    /// Zones of the nodes, sorted.
    pub zones: Vec<String>,
    /// Operating systems of the nodes (`kubernetes.io/os`), sorted.
    pub operating_systems: Vec<OperatingSystem>,
    /// Architectures of the nodes (`kubernetes.io/arch`), sorted: pods
    /// running there prove their images exist for them.
    pub architectures: Vec<Architecture>,
    /// Nodes whose architecture label is missing or unknown.
    pub nodes_without_architecture: usize,
    /// What the DaemonSets put on every node: the sum of the DaemonSets'
    /// template requests, one pod slot each; when the snapshot has no
    /// DaemonSet objects but DaemonSet pods, the most any node carries.
    /// `None` when there are neither.
    pub daemonset_overhead: Option<Resources>,
    /// The nodes' root volume (the median ephemeral-storage capacity of the
    /// nodes that report one).
    pub root_volume_bytes: Option<u64>,
}

impl NodeEnvironment {
    /// The environment of every node in `snapshot`.
    pub fn of(snapshot: &ClusterSnapshot) -> NodeEnvironment {
        NodeEnvironment::of_nodes(snapshot, snapshot.nodes.iter())
    }

    /// The environment of some nodes of `snapshot` (DaemonSets are the
    /// snapshot's).
    pub fn of_nodes<'a>(
        snapshot: &'a ClusterSnapshot,
        nodes: impl IntoIterator<Item = &'a Node>,
    ) -> NodeEnvironment {
        let mut env = NodeEnvironment::default();
        let mut zones = BTreeSet::new();
        let mut oses = BTreeSet::new();
        let mut arches = BTreeSet::new();
        let mut roots = Vec::new();
        let mut names = BTreeSet::new();
        for node in nodes {
            names.insert(node.name.as_str());
            if let Some(r) = &node.region {
                env.regions.insert(r.clone());
            }
            if let Some(z) = &node.zone {
                zones.insert(z.clone());
            }
            oses.insert(node_os(node));
            match node_architecture(node) {
                Some(a) => {
                    arches.insert(a);
                }
                None => env.nodes_without_architecture += 1,
            }
            if node.capacity.ephemeral_storage_bytes > 0 {
                roots.push(node.capacity.ephemeral_storage_bytes);
            }
        }
        if env.regions.len() == 1 {
            env.region = env.regions.first().cloned();
        }
        env.zones = zones.into_iter().collect();
        env.operating_systems = oses.into_iter().collect();
        env.architectures = arches.into_iter().collect();
        roots.sort_unstable();
        env.root_volume_bytes = roots.get(roots.len() / 2).copied();
        env.daemonset_overhead = daemonset_overhead(snapshot, &names);
        env
    }

    /// The region, else `fallback`.
    pub fn region_or<'a>(&'a self, fallback: &'a str) -> &'a str {
        self.region.as_deref().unwrap_or(fallback)
    }

    /// The one operating system of the nodes, if they have one.
    pub fn operating_system(&self) -> Option<OperatingSystem> {
        match self.operating_systems.as_slice() {
            [os] => Some(*os),
            _ => None,
        }
    }

    /// `base` with what the nodes tell put in: region, zones, operating
    /// system (when there is one), architectures, DaemonSet overhead and
    /// root volume.
    pub fn packing_policy(&self, base: PackingPolicy) -> PackingPolicy {
        PackingPolicy {
            region: self.region.clone().unwrap_or(base.region),
            zones: if self.zones.is_empty() {
                base.zones
            } else {
                self.zones.clone()
            },
            os: self.operating_system().unwrap_or(base.os),
            architectures: if self.architectures.is_empty() {
                base.architectures
            } else {
                self.architectures.clone()
            },
            daemonset_overhead: self.daemonset_overhead.unwrap_or(base.daemonset_overhead),
            root_volume_bytes: self.root_volume_bytes.unwrap_or(base.root_volume_bytes),
            ..base
        }
    }

    /// `base` with what the nodes tell put in (as
    /// [`packing_policy`](Self::packing_policy)).
    pub fn pool_policy(&self, base: PoolPolicy) -> PoolPolicy {
        PoolPolicy {
            region: self.region.clone().unwrap_or(base.region),
            zones: if self.zones.is_empty() {
                base.zones
            } else {
                self.zones.clone()
            },
            os: self.operating_system().unwrap_or(base.os),
            daemonset_overhead: self.daemonset_overhead.unwrap_or(base.daemonset_overhead),
            root_volume_bytes: self.root_volume_bytes.unwrap_or(base.root_volume_bytes),
            ..base
        }
    }
}

/// A node's architecture from its `kubernetes.io/arch` label.
pub fn node_architecture(node: &Node) -> Option<Architecture> {
    let arch = node.labels.get(node_labels::ARCH)?;
    [Architecture::X86_64, Architecture::Arm64]
        .into_iter()
        .find(|a| a.kubernetes_name().eq_ignore_ascii_case(arch.trim()))
}

fn daemonset_overhead(snapshot: &ClusterSnapshot, nodes: &BTreeSet<&str>) -> Option<Resources> {
    use crate::snapshot::WorkloadKind;
    if snapshot
        .workloads
        .iter()
        .any(|w| w.kind == WorkloadKind::DaemonSet)
    {
        return Some(snapshot.daemonset_overhead());
    }
    let mut per_node: std::collections::BTreeMap<&str, Resources> = Default::default();
    for pod in snapshot
        .pods
        .iter()
        .filter(|p| p.is_daemonset_pod() && p.is_active_on_node())
    {
        let Some(node) = pod.node_name.as_deref().filter(|n| nodes.contains(n)) else {
            continue;
        };
        let entry = per_node.entry(node).or_default();
        *entry = entry.saturating_add(Resources {
            pods: 1,
            ..pod.requests()
        });
    }
    per_node.into_values().reduce(|a, b| a.max(b))
}
