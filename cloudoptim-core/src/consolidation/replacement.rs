//! Which instance types may replace a node, and the cheapest of them that
//! holds its pods.
//!
//! The rules are written like a Karpenter NodePool's requirements (families,
//! categories, generations, architectures, capacity types) in a
//! [`ReplacementPolicy`]; consolidation's single-node replacement and node
//! rightsizing both search through [`cheapest_replacement`], so the two
//! never disagree on what a node could be replaced by.

use std::collections::{HashMap, HashSet};

use serde::{Deserialize, Serialize};

use super::{in_node_group, Blocked, ConsolidationPolicy, Replacement, NODE_GROUP_LABEL};
use crate::catalog::{Architecture, Catalog, InstanceType, InterruptionBucket, OperatingSystem};
use crate::money::UsdPerHour;
use crate::pricing::{instance_price, node_os};
use crate::resources::Resources;
use crate::snapshot::{node_labels, CapacityType, Node, Pod};

/// The instance types that may replace a node, and the room a replacement
/// must leave, in the style of a Karpenter NodePool's requirements. Every
/// list is a restriction; an empty list restricts nothing.
///
/// Whatever the lists say, a replacement keeps the node's architecture,
/// operating system and zone, and every pod of the node must accept the
/// labels the new node will have
/// ([`node_labels::for_new_node`]: instance type, family, architecture, OS,
/// region, zone and capacity type; not the old node's own labels, which a
/// launched instance does not inherit).
///
/// ```
/// use cloudoptim_core::catalog::Architecture;
/// use cloudoptim_core::consolidation::{ConsolidationPolicy, ReplacementPolicy};
///
/// // Only c, m and r types of generation 6 or later, x86-64, with 20% room.
/// let policy = ConsolidationPolicy {
///     replacement: ReplacementPolicy {
///         categories: vec!["c".into(), "m".into(), "r".into()],
///         min_generation: 6,
///         architectures: vec![Architecture::X86_64],
///         headroom_percent: 20,
///         ..ReplacementPolicy::default()
///     },
///     ..ConsolidationPolicy::default()
/// };
/// assert!(!policy.replacement.own_family_only);
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ReplacementPolicy {
    /// Only the node's own family (what consolidation did before this
    /// policy existed). When false, any family the lists below allow.
    pub own_family_only: bool,
    /// Whether the node's own family is allowed even when the lists below
    /// exclude it (a GPU or storage node keeps its kind of hardware
    /// available, whatever the lists say).
    pub always_allow_own_family: bool,
    /// Only these families (`m6i`, `c7g`); Karpenter's `instance-family`.
    pub families: Vec<String>,
    /// Only these categories (`c`, `m`, `r`, `t`, `g`; see
    /// [`InstanceType::category`]); Karpenter's `instance-category`.
    pub categories: Vec<String>,
    /// Only generations of at least this (`3` is Karpenter's
    /// `instance-generation Gt 2`); 0 allows every generation.
    pub min_generation: u32,
    /// Only these architectures (the node's own is required in any case:
    /// an arm64 node's images may exist for arm64 only).
    pub architectures: Vec<Architecture>,
    /// The capacity types a replacement may be bought as; empty keeps the
    /// node's own (a node of unknown capacity type is taken as on-demand,
    /// as it is priced).
    pub capacity_types: Vec<CapacityType>,
    /// Allow burstable (T-family) types, whose full vCPU is only a credit
    /// balance (the node's own family, when allowed, may be burstable).
    pub allow_burstable: bool,
    /// Allow bare-metal sizes.
    pub allow_bare_metal: bool,
    /// The replacement's allocatable CPU and memory must exceed what the
    /// node's pods (DaemonSet pods included) request by this much, percent.
    pub headroom_percent: u32,
    /// A spot replacement only of a type whose Spot Advisor interruption
    /// range in the region is at most this; `None`: any range the Advisor
    /// reports (a type it does not know is never bought as spot).
    pub max_spot_interruption: Option<InterruptionBucket>,
    /// At most this many replacements of one plan bought in one spot pool
    /// (instance type and zone), so that one pool reclaimed at once never
    /// takes many nodes; 0 sets no limit.
    pub max_per_spot_pool: u32,
}

impl Default for ReplacementPolicy {
    /// Any family and category of the node's architecture, of generation 3
    /// or later (Karpenter's `instance-generation Gt 2`: no `m1.small` or
    /// `t1.micro`), not burstable, not bare metal (the node's own family
    /// allowed in any case), at the node's capacity type, with 10% CPU and
    /// memory headroom.
    ///
    /// Wider than the node's own family because multi-node replacement
    /// already picks any family the packer allows, and Karpenter's
    /// single-node consolidation picks any type of the NodePool: a cheaper
    /// `m6a` for an `m5` node is the common case, and the pods' node
    /// selectors and affinity still pin what must stay. The headroom keeps
    /// a replacement from being full the moment it starts (the next pod of
    /// a scaled-up workload would otherwise need a new node).
    fn default() -> Self {
        ReplacementPolicy {
            own_family_only: false,
            always_allow_own_family: true,
            families: Vec::new(),
            categories: Vec::new(),
            min_generation: 3,
            architectures: Vec::new(),
            capacity_types: Vec::new(),
            allow_burstable: false,
            allow_bare_metal: false,
            headroom_percent: 10,
            max_spot_interruption: None,
            max_per_spot_pool: 0,
        }
    }
}

impl ReplacementPolicy {
    /// The rule consolidation had before this policy: a cheaper type of
    /// the node's own family, at its capacity type, without headroom.
    pub fn own_family() -> ReplacementPolicy {
        ReplacementPolicy {
            own_family_only: true,
            allow_burstable: true,
            allow_bare_metal: true,
            headroom_percent: 0,
            ..ReplacementPolicy::default()
        }
    }

    /// Whether `candidate` may replace a node of type `current` (capacity
    /// types aside).
    pub fn allows(&self, candidate: &InstanceType, current: &InstanceType) -> bool {
        if candidate.architecture != current.architecture
            || (!self.architectures.is_empty()
                && !self.architectures.contains(&candidate.architecture))
            // Local disks the pods may use are never replaced by none.
            || (current.has_instance_store() && !candidate.has_instance_store())
        {
            return false;
        }
        let own_family = candidate.family == current.family;
        if self.own_family_only {
            return own_family;
        }
        if own_family && self.always_allow_own_family {
            return true;
        }
        let listed =
            |list: &[String], value: &str| list.is_empty() || list.iter().any(|v| v == value);
        listed(&self.families, &candidate.family)
            && listed(&self.categories, candidate.category())
            && candidate.generation >= self.min_generation
            && (self.allow_burstable || !candidate.burstable)
            && (self.allow_bare_metal || !candidate.bare_metal)
    }

    /// The capacity types a replacement of `node` may be bought as.
    fn capacity_types_for(&self, node: &Node) -> Vec<CapacityType> {
        if self.capacity_types.is_empty() {
            vec![bought_as(node.capacity_type)]
        } else {
            let mut out: Vec<CapacityType> =
                self.capacity_types.iter().map(|c| bought_as(*c)).collect();
            out.sort();
            out.dedup();
            out
        }
    }

    /// `base` restricted to what this policy allows, for the packer that
    /// repacks several nodes (of families `own_families`) together: the
    /// allowed families, architectures, burstable and bare-metal types.
    /// The headroom is not applied there (the packer fills nodes to their
    /// allocatable), and the new nodes are on-demand.
    pub(crate) fn packing_policy(
        &self,
        catalog: &Catalog,
        own_families: &[&str],
        base: crate::binpack::PackingPolicy,
    ) -> crate::binpack::PackingPolicy {
        let mut policy = base;
        if !self.architectures.is_empty() {
            policy
                .architectures
                .retain(|a| self.architectures.contains(a));
        }
        policy.allow_burstable = self.allow_burstable;
        let by_family = self.own_family_only
            || !self.families.is_empty()
            || !self.categories.is_empty()
            || self.min_generation > 0;
        let mut allowed: Vec<String> = Vec::new();
        let mut denied: Vec<String> = Vec::new();
        for it in catalog.instance_types() {
            let own = own_families.contains(&it.family.as_str());
            let listed =
                |list: &[String], value: &str| list.is_empty() || list.iter().any(|v| v == value);
            let family_ok = (own && (self.own_family_only || self.always_allow_own_family))
                || (!self.own_family_only
                    && listed(&self.families, &it.family)
                    && listed(&self.categories, it.category())
                    && it.generation >= self.min_generation);
            if by_family && family_ok && !allowed.contains(&it.family) {
                allowed.push(it.family.clone());
            }
            if it.bare_metal && !self.allow_bare_metal && !(own && self.always_allow_own_family) {
                denied.push(it.name.clone());
            }
        }
        if by_family {
            // Nothing allowed must not read as "everything" (an empty list allows all).
            if allowed.is_empty() {
                policy.architectures.clear();
            }
            policy.allowed_instance_types = allowed;
        }
        policy.denied_instance_types.extend(denied);
        policy
    }

    /// `requests` with the headroom added to CPU and memory (saturating).
    pub fn with_headroom(&self, requests: Resources) -> Resources {
        let grow = |v: u64| {
            let extra = u128::from(v) * u128::from(self.headroom_percent) / 100;
            u64::try_from(u128::from(v) + extra).unwrap_or(u64::MAX)
        };
        Resources {
            cpu_millis: grow(requests.cpu_millis),
            memory_bytes: grow(requests.memory_bytes),
            ..requests
        }
    }
}

/// How a capacity type is bought: spot, or else on-demand.
fn bought_as(capacity: CapacityType) -> CapacityType {
    match capacity {
        CapacityType::Spot => CapacityType::Spot,
        CapacityType::OnDemand | CapacityType::Unknown => CapacityType::OnDemand,
    }
}

/// Which prices: region, capacity type, operating system.
type PriceKey = (String, CapacityType, OperatingSystem);

/// Priced instance types, cheapest first.
type ByPrice<'a> = Vec<(UsdPerHour, &'a InstanceType)>;

/// The catalog's priced types for one region, capacity type and OS,
/// cheapest first (ties by name), built once per plan and key.
pub(crate) struct PricedTypes<'a> {
    catalog: &'a Catalog,
    by_key: HashMap<PriceKey, ByPrice<'a>>,
    /// Replacements of this plan bought as spot, by (type, zone).
    spot_pools_used: HashMap<(String, String), u32>,
    /// Spot pools (type, zone) not to buy from at all.
    spot_pools_closed: HashSet<(String, String)>,
}

impl<'a> PricedTypes<'a> {
    pub(crate) fn new(catalog: &'a Catalog) -> PricedTypes<'a> {
        PricedTypes {
            catalog,
            by_key: HashMap::new(),
            spot_pools_used: HashMap::new(),
            spot_pools_closed: HashSet::new(),
        }
    }

    /// Never buy spot from these pools (type, zone) in this plan: EC2
    /// reported them out of capacity, say.
    pub(crate) fn close_spot_pools<'p>(
        &mut self,
        pools: impl IntoIterator<Item = &'p (String, String)>,
    ) {
        self.spot_pools_closed.extend(pools.into_iter().cloned());
    }

    /// What [`fill`](Self::fill) priced for the key, if it did.
    fn cached(
        &self,
        region: &str,
        capacity: CapacityType,
        os: OperatingSystem,
    ) -> &[(UsdPerHour, &'a InstanceType)] {
        self.by_key
            .get(&(region.to_owned(), capacity, os))
            .map(Vec::as_slice)
            .unwrap_or(&[])
    }

    /// Count `r` against its spot pool's share of the plan (a replacement
    /// bought on-demand counts against nothing).
    pub(crate) fn planned(&mut self, r: &Replacement) {
        if r.capacity_type == CapacityType::Spot {
            *self
                .spot_pools_used
                .entry((r.instance_type.clone(), r.zone.clone()))
                .or_default() += 1;
        }
    }

    /// Whether the policy lets one more replacement of this plan be bought
    /// as spot in `it` in `zone`: its interruption range is low enough and
    /// the pool has room left in the plan.
    fn spot_pool_open(
        &self,
        it: &InstanceType,
        zone: &str,
        region: &str,
        os: OperatingSystem,
        rules: &ReplacementPolicy,
    ) -> bool {
        let calm = match rules.max_spot_interruption {
            None => true,
            Some(ceiling) => it
                .spot_advice(region, os)
                .is_some_and(|a| a.interruption <= ceiling),
        };
        let pool = (it.name.clone(), zone.to_owned());
        let used = self.spot_pools_used.get(&pool).copied().unwrap_or(0);
        calm && !self.spot_pools_closed.contains(&pool)
            && (rules.max_per_spot_pool == 0 || used < rules.max_per_spot_pool)
    }

    /// Price the types of one region, capacity type and OS once: those
    /// with a known price (a spot type the Spot Advisor cannot estimate is
    /// no basis for a saving), cheapest first; [`cached`](Self::cached)
    /// reads them.
    fn fill(&mut self, region: &str, capacity: CapacityType, os: OperatingSystem) {
        let catalog = self.catalog;
        self.by_key
            .entry((region.to_owned(), capacity, os))
            .or_insert_with(|| {
                let mut out: Vec<(UsdPerHour, &InstanceType)> = catalog
                    .instance_types()
                    .filter_map(|it| {
                        let price = instance_price(it, region, capacity, os)
                            .filter(|p| p.is_known())?
                            .usd_per_hour;
                        (price > UsdPerHour::ZERO).then_some((price, it))
                    })
                    .collect();
                out.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.name.cmp(&b.1.name)));
                out
            });
    }
}

/// The cheapest instance type the policy allows that holds every pod of
/// `node` (`pods`, DaemonSet pods included, as they would run on the new
/// node too) with the policy's headroom, whose labels every pod accepts,
/// and that costs at least the threshold less than `price` (what the node
/// costs): bought in the node's zone and region, for its OS, at an allowed
/// capacity type.
///
/// Not for a node of a managed node group ([`Blocked::NodeGroupType`]: its
/// Auto Scaling group launches its own type) or one without a zone
/// ([`Blocked::NoZone`]); [`Blocked::NoCheaperType`] when nothing fits for
/// less.
pub(crate) fn cheapest_replacement(
    node: &Node,
    pods: &[&Pod],
    types: &mut PricedTypes<'_>,
    policy: &ConsolidationPolicy,
    price: UsdPerHour,
) -> Result<Replacement, Blocked> {
    match node_group_type(node) {
        Some(why) => Err(why),
        None => cheapest_type(node, pods, types, policy, price),
    }
}

/// [`Blocked::NodeGroupType`] for a node of a managed node group.
pub(crate) fn node_group_type(node: &Node) -> Option<Blocked> {
    in_node_group(node).then(|| Blocked::NodeGroupType {
        node_group: node
            .labels
            .get(NODE_GROUP_LABEL)
            .cloned()
            .unwrap_or_default(),
    })
}

/// [`cheapest_replacement`] for any node, one of a node group included
/// (what its group's instance type could be, for a report).
pub(crate) fn cheapest_type(
    node: &Node,
    pods: &[&Pod],
    types: &mut PricedTypes<'_>,
    policy: &ConsolidationPolicy,
    price: UsdPerHour,
) -> Result<Replacement, Blocked> {
    let Some(zone) = node.zone.clone() else {
        return Err(Blocked::NoZone);
    };
    let Some(current) = node
        .instance_type
        .as_deref()
        .and_then(|t| types.catalog.get(t))
    else {
        return Err(super::unpriced(node, types.catalog, &policy.region));
    };
    let rules = &policy.replacement;
    let need = rules.with_headroom(
        pods.iter()
            .fold(Resources::ZERO, |a, p| a.saturating_add(p.requests())),
    );
    let region = node.region.as_deref().unwrap_or(&policy.region).to_owned();
    let os = node_os(node);
    let root_volume_bytes = node.capacity.ephemeral_storage_bytes;
    let mut best: Option<Replacement> = None;
    for capacity in rules.capacity_types_for(node) {
        types.fill(&region, capacity, os);
        let types = &*types;
        for &(new_price, it) in types.cached(&region, capacity, os) {
            // Cheapest first: past the threshold, or past the best so far, nothing is better.
            if price - new_price < policy.min_savings_usd_per_hour
                || best.as_ref().is_some_and(|b| b.usd_per_hour <= new_price)
            {
                break;
            }
            if it.name == current.name
                || !rules.allows(it, current)
                || (capacity == CapacityType::Spot
                    && !types.spot_pool_open(it, &zone, &region, os, rules))
            {
                continue;
            }
            let allocatable = crate::eks::node_allocatable(it, root_volume_bytes);
            if !need.fits_within(&allocatable) {
                continue;
            }
            let labels = node_labels::for_new_node(it, &region, Some(&zone), capacity, os);
            let accepted = pods.iter().all(|p| {
                p.node_selector
                    .iter()
                    .all(|(k, v)| labels.get(k) == Some(v))
                    && p.node_affinity.required_matches("", &labels)
            });
            if accepted {
                best = Some(Replacement {
                    node: node.name.clone(),
                    from_instance_type: current.name.clone(),
                    instance_type: it.name.clone(),
                    zone: zone.clone(),
                    capacity_type: capacity,
                    allocatable,
                    usd_per_hour: new_price,
                });
                break;
            }
        }
    }
    best.ok_or(Blocked::NoCheaperType)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn catalog() -> &'static Catalog {
        match Catalog::embedded() {
            Ok(c) => c,
            Err(e) => panic!("{e}"),
        }
    }

    fn ty(name: &str) -> &'static InstanceType {
        match catalog().get(name) {
            Some(t) => t,
            None => panic!("{name} not in the catalog"),
        }
    }

    #[test]
    fn the_default_allows_other_families_of_the_same_architecture() {
        let p = ReplacementPolicy::default();
        assert!(p.allows(ty("m6a.large"), ty("m5.xlarge")));
        assert!(!p.allows(ty("m6g.large"), ty("m5.xlarge")), "arm64 for x86");
        assert!(!p.allows(ty("m5.large"), ty("m6g.xlarge")), "x86 for arm64");
        assert!(!p.allows(ty("t3.large"), ty("m5.xlarge")), "burstable");
        assert!(p.allows(ty("t3.large"), ty("t3.xlarge")), "own family");
        assert!(!p.allows(ty("m5.metal"), ty("c5.24xlarge")), "bare metal");
        assert!(!p.allows(ty("t1.micro"), ty("m5.xlarge")), "generation 1");
    }

    #[test]
    fn a_node_with_local_disks_is_replaced_only_by_a_type_with_local_disks() {
        let p = ReplacementPolicy::default();
        assert!(!p.allows(ty("m8g.large"), ty("im4gn.large")));
        assert!(!p.allows(ty("m6a.large"), ty("m5d.large")));
        assert!(p.allows(ty("m6id.large"), ty("m5d.large")));
        assert!(p.allows(ty("m5d.large"), ty("m5.large")));
    }

    #[test]
    fn requirements_restrict_like_a_node_pool() {
        let p = ReplacementPolicy {
            categories: vec!["c".into(), "m".into()],
            min_generation: 6,
            always_allow_own_family: false,
            ..ReplacementPolicy::default()
        };
        assert!(p.allows(ty("c6i.large"), ty("r5.xlarge")));
        assert!(!p.allows(ty("r6i.large"), ty("r5.xlarge")), "category r");
        assert!(!p.allows(ty("m5.large"), ty("m5.xlarge")), "generation 5");
        let own = ReplacementPolicy::own_family();
        assert!(own.allows(ty("m5.large"), ty("m5.xlarge")));
        assert!(!own.allows(ty("m6i.large"), ty("m5.xlarge")));
    }

    #[test]
    fn headroom_grows_cpu_and_memory_only() {
        let p = ReplacementPolicy {
            headroom_percent: 10,
            ..ReplacementPolicy::default()
        };
        let r = p.with_headroom(Resources {
            cpu_millis: 1000,
            memory_bytes: 1 << 30,
            pods: 7,
            ..Resources::ZERO
        });
        assert_eq!(r.cpu_millis, 1100);
        assert_eq!(r.memory_bytes, (1u64 << 30) + (1u64 << 30) / 10);
        assert_eq!(r.pods, 7);
        let huge = p.with_headroom(Resources {
            cpu_millis: u64::MAX,
            ..Resources::ZERO
        });
        assert_eq!(huge.cpu_millis, u64::MAX);
    }
}
