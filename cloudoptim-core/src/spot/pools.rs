//! Spot pool selection: where to run a workload's capacity on spot, spread
//! over pools, with on-demand as the fallback.
//!
//! A pool is an instance type in a zone. Its expected cost per pod-hour is
//!
//! ```text
//! (spot price + risk × interruption_penalty_usd_per_hour) / pods per node
//! ```
//!
//! where the penalty prices what an interruption costs (replacement
//! capacity, restarts, lost work). Pools riskier than the ceiling, unknown
//! to the Spot Advisor, unable to hold one pod, or reported out of capacity
//! are skipped; the rest are filled cheapest first, each with at most
//! `max_pool_share` of the pods, so one reclaimed pool never takes the
//! workload down. Pods no spot pool takes go to the cheapest on-demand type.

use std::collections::{BTreeMap, BTreeSet};

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::risk::{PoolFacts, RiskModel, RiskScore, SpotPrice};
use crate::catalog::{Architecture, Catalog, InstanceType, OperatingSystem};
use crate::eks;
use crate::money::UsdPerHour;
use crate::pricing::instance_price;
use crate::resources::Resources;
use crate::snapshot::CapacityType;

/// What a workload needs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CapacityNeed {
    /// Requests of one pod (one pod slot included or not: one is counted).
    pub pod_requests: Resources,
    /// How many pods.
    pub pods: u32,
    /// Architectures the images exist for.
    pub architectures: Vec<Architecture>,
    /// The pods' node selector, checked against each pool's node labels
    /// (instance type, family, zone, capacity type, architecture, OS).
    #[serde(default)]
    pub node_selector: crate::snapshot::Labels,
    /// The pods' required node affinity, checked the same way.
    #[serde(default)]
    pub node_affinity: crate::snapshot::NodeAffinity,
}

impl CapacityNeed {
    /// Whether a node of `it` in `zone` with `capacity` would satisfy the
    /// pods' node selector and required node affinity.
    fn accepts(
        &self,
        it: &InstanceType,
        zone: &str,
        region: &str,
        capacity: crate::snapshot::CapacityType,
        os: OperatingSystem,
    ) -> bool {
        if self.node_selector.is_empty() && self.node_affinity.required.is_empty() {
            return true;
        }
        let labels =
            crate::snapshot::node_labels::for_new_node(it, region, Some(zone), capacity, os);
        self.node_selector
            .iter()
            .all(|(k, v)| labels.get(k) == Some(v))
            && self.node_affinity.required_matches("", &labels)
    }
}

/// How pools are chosen.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PoolPolicy {
    /// Region.
    pub region: String,
    /// Zones allowed.
    pub zones: Vec<String>,
    /// Operating system.
    pub os: OperatingSystem,
    /// Pools scoring above this risk are not used.
    pub risk_ceiling: f64,
    /// At most this share of the pods in one pool (0–1).
    pub max_pool_share: f64,
    /// What an interruption costs per node-hour at risk 1, in dollars.
    pub interruption_penalty_usd_per_hour: f64,
    /// What the DaemonSets take on every node.
    pub daemonset_overhead: Resources,
    /// Root volume of a node.
    pub root_volume_bytes: u64,
    /// Never these instance types or families.
    pub denied_instance_types: Vec<String>,
}

impl Default for PoolPolicy {
    /// us-east-1 a/b/c, Linux, risk ceiling 0.6, at most 30% of the pods per
    /// pool, a $0.10 per node-hour penalty at full risk, EKS default add-ons.
    fn default() -> Self {
        PoolPolicy {
            region: "us-east-1".into(),
            zones: ["us-east-1a", "us-east-1b", "us-east-1c"]
                .map(String::from)
                .to_vec(),
            os: OperatingSystem::Linux,
            risk_ceiling: 0.6,
            max_pool_share: 0.3,
            interruption_penalty_usd_per_hour: 0.10,
            daemonset_overhead: Resources {
                cpu_millis: 125,
                pods: 2,
                ..Resources::ZERO
            },
            root_volume_bytes: 20 << 30,
            denied_instance_types: Vec::new(),
        }
    }
}

/// A spot pool with its price, risk and fit.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Pool {
    /// Instance type.
    pub instance_type: String,
    /// Zone.
    pub zone: String,
    /// Spot price used (latest observed in the zone, else the Advisor's estimate).
    pub spot_usd_per_hour: UsdPerHour,
    /// Its risk.
    pub risk: RiskScore,
    /// Pods of the workload one node holds.
    pub pods_per_node: u32,
    /// Expected cost per pod-hour, risk included, dollars.
    pub expected_usd_per_pod_hour: f64,
}

/// Nodes in one pool.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PoolShare {
    /// The pool.
    pub pool: Pool,
    /// Nodes to run there.
    pub nodes: u32,
    /// Pods they hold.
    pub pods: u32,
}

/// On-demand capacity for the pods no spot pool took.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OnDemandFallback {
    /// Instance type.
    pub instance_type: String,
    /// Nodes.
    pub nodes: u32,
    /// Pods.
    pub pods: u32,
    /// Price of one node.
    pub usd_per_hour: UsdPerHour,
    /// Why spot did not take them.
    pub reason: String,
}

/// Where a workload's pods go.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PoolAllocation {
    /// Spot pools used, cheapest expected cost first.
    pub spot: Vec<PoolShare>,
    /// On-demand for the rest, if any.
    pub on_demand: Option<OnDemandFallback>,
    /// Total price per hour (spot at the prices used, plus on-demand).
    pub usd_per_hour: UsdPerHour,
    /// The same pods all on on-demand, for comparison.
    pub all_on_demand_usd_per_hour: UsdPerHour,
}

/// Why no allocation exists.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PoolError {
    /// No instance type, spot or on-demand, can hold one pod.
    #[error("no instance type in {region} can hold one pod of {pod_requests}")]
    NothingFits {
        /// Region.
        region: String,
        /// The pod.
        pod_requests: String,
    },
    /// The policy's share or ceiling is outside its range.
    #[error("policy field {field} is {value}, expected {expected}")]
    BadPolicy {
        /// Field.
        field: &'static str,
        /// Its value.
        value: String,
        /// What it should be.
        expected: &'static str,
    },
}

/// Families with accelerators (Inferentia, Trainium, Gaudi, FPGA, video
/// transcoding) that pods without such requests should not be put on.
fn is_accelerated(family: &str) -> bool {
    ["inf", "trn", "dl", "f1", "f2", "vt"]
        .iter()
        .any(|p| family.starts_with(p))
}

fn pods_per_node(it: &InstanceType, need: &CapacityNeed, policy: &PoolPolicy) -> u32 {
    let Ok(room) =
        eks::node_allocatable(it, policy.root_volume_bytes).checked_sub(policy.daemonset_overhead)
    else {
        return 0;
    };
    let pod = Resources {
        pods: 1,
        ..need.pod_requests
    };
    crate::resources::Dimension::ALL
        .into_iter()
        .filter(|&d| pod.get(d) > 0)
        .map(|d| room.get(d) / pod.get(d))
        .min()
        .map_or(0, |n| u32::try_from(n).unwrap_or(u32::MAX))
}

/// Choose spot pools (and on-demand fallback) for `need`.
///
/// `histories` holds observed spot prices per (instance type, zone);
/// `unavailable` lists pools AWS reported out of capacity; `risk` scores
/// each pool ([`WeightedRisk`](super::risk::WeightedRisk) is the seed's
/// formula).
pub fn select_pools(
    need: &CapacityNeed,
    catalog: &Catalog,
    histories: &BTreeMap<(String, String), Vec<SpotPrice>>,
    unavailable: &BTreeSet<(String, String)>,
    risk: &dyn RiskModel,
    policy: &PoolPolicy,
    now: Timestamp,
) -> Result<PoolAllocation, PoolError> {
    if !(policy.max_pool_share > 0.0 && policy.max_pool_share <= 1.0) {
        return Err(PoolError::BadPolicy {
            field: "max_pool_share",
            value: policy.max_pool_share.to_string(),
            expected: "in (0, 1]",
        });
    }
    if !(0.0..=1.0).contains(&policy.risk_ceiling) {
        return Err(PoolError::BadPolicy {
            field: "risk_ceiling",
            value: policy.risk_ceiling.to_string(),
            expected: "in [0, 1]",
        });
    }
    let needs_gpu = need.pod_requests.gpu_millis > 0;
    let allowed = |it: &InstanceType| {
        need.architectures.contains(&it.architecture)
            && !it.burstable
            && (needs_gpu || (it.gpus == 0 && !is_accelerated(&it.family)))
            && !policy
                .denied_instance_types
                .iter()
                .any(|d| *d == it.name || *d == it.family)
    };
    let mut pools = Vec::new();
    for it in catalog.instance_types().filter(|it| allowed(it)) {
        let fit = pods_per_node(it, need, policy);
        if fit == 0 {
            continue;
        }
        let Some(estimate) = instance_price(it, &policy.region, CapacityType::Spot, policy.os)
            .filter(|p| p.is_known())
            .map(|p| p.usd_per_hour)
        else {
            continue;
        };
        for zone in &policy.zones {
            let key = (it.name.clone(), zone.clone());
            if unavailable.contains(&key)
                || !need.accepts(it, zone, &policy.region, CapacityType::Spot, policy.os)
            {
                continue;
            }
            let history = histories.get(&key).map(Vec::as_slice).unwrap_or(&[]);
            let Ok(risk) = risk.score(&PoolFacts {
                instance_type: it,
                region: &policy.region,
                zone,
                os: policy.os,
                history,
                now,
            }) else {
                continue;
            };
            if risk.score > policy.risk_ceiling {
                continue;
            }
            let price = history
                .iter()
                .filter(|p| p.at <= now)
                .max_by_key(|p| p.at)
                .map_or(estimate, |p| p.usd_per_hour);
            let expected = (price.usd() + risk.score * policy.interruption_penalty_usd_per_hour)
                / f64::from(fit);
            pools.push(Pool {
                instance_type: it.name.clone(),
                zone: zone.clone(),
                spot_usd_per_hour: price,
                risk,
                pods_per_node: fit,
                expected_usd_per_pod_hour: expected,
            });
        }
    }
    pools.sort_by(|a, b| {
        a.expected_usd_per_pod_hour
            .total_cmp(&b.expected_usd_per_pod_hour)
            .then_with(|| a.instance_type.cmp(&b.instance_type))
            .then_with(|| a.zone.cmp(&b.zone))
    });

    // Fill cheapest first, each pool at most its share, whole nodes.
    let cap = ((f64::from(need.pods) * policy.max_pool_share).ceil() as u32).max(1);
    // Rank by what the pool's share would really cost: whole nodes.
    let share = cap.min(need.pods).max(1);
    for pool in &mut pools {
        let nodes = share.div_ceil(pool.pods_per_node.max(1));
        let per_node = pool.spot_usd_per_hour.usd()
            + pool.risk.score * policy.interruption_penalty_usd_per_hour;
        pool.expected_usd_per_pod_hour = f64::from(nodes) * per_node / f64::from(share);
    }
    pools.sort_by(|a, b| {
        a.expected_usd_per_pod_hour
            .total_cmp(&b.expected_usd_per_pod_hour)
            .then_with(|| a.instance_type.cmp(&b.instance_type))
            .then_with(|| a.zone.cmp(&b.zone))
    });
    let mut left = need.pods;
    let mut spot = Vec::new();
    for pool in pools {
        if left == 0 {
            break;
        }
        let pods = left.min(cap);
        let nodes = pods.div_ceil(pool.pods_per_node);
        left -= pods;
        spot.push(PoolShare { pool, nodes, pods });
    }

    // On-demand: the type that holds the pods left (or all, for the
    // comparison) in whole nodes for the least.
    let cheapest_on_demand = |pods: u32| {
        catalog
            .instance_types()
            .filter(|it| allowed(it))
            .filter(|it| {
                policy.zones.iter().any(|z| {
                    need.accepts(
                        it,
                        z,
                        &policy.region,
                        crate::snapshot::CapacityType::OnDemand,
                        policy.os,
                    )
                })
            })
            .filter_map(|it| {
                let fit = pods_per_node(it, need, policy);
                let price = instance_price(it, &policy.region, CapacityType::OnDemand, policy.os)?
                    .usd_per_hour;
                (fit > 0).then(|| {
                    let total = price.times(u64::from(pods.max(1).div_ceil(fit)));
                    (total, it, fit, price)
                })
            })
            .min_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.name.cmp(&b.1.name)))
    };
    let on_demand_best = cheapest_on_demand(left.max(1));
    let Some((_, od_type, od_fit, od_price)) = on_demand_best else {
        return Err(PoolError::NothingFits {
            region: policy.region.clone(),
            pod_requests: need.pod_requests.to_string(),
        });
    };
    let all_on_demand = cheapest_on_demand(need.pods)
        .map(|(total, ..)| total)
        .unwrap_or(od_price.times(u64::from(need.pods.div_ceil(od_fit))));
    let on_demand = (left > 0).then(|| OnDemandFallback {
        instance_type: od_type.name.clone(),
        nodes: left.div_ceil(od_fit),
        pods: left,
        usd_per_hour: od_price,
        reason: if spot.is_empty() {
            format!(
                "no spot pool is under the risk ceiling {:.2} with capacity",
                policy.risk_ceiling
            )
        } else {
            format!(
                "the spot pools under the risk ceiling, at most {:.0}% each, hold only {} of {} pods",
                policy.max_pool_share * 100.0,
                need.pods - left,
                need.pods
            )
        },
    });
    let usd_per_hour = spot
        .iter()
        .map(|s| s.pool.spot_usd_per_hour.times(u64::from(s.nodes)))
        .sum::<UsdPerHour>()
        + on_demand.as_ref().map_or(UsdPerHour::ZERO, |o| {
            o.usd_per_hour.times(u64::from(o.nodes))
        });
    Ok(PoolAllocation {
        spot,
        on_demand,
        usd_per_hour,
        all_on_demand_usd_per_hour: all_on_demand,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spot::risk::WeightedRisk;
    use proptest::prelude::*;

    fn now() -> Timestamp {
        Timestamp::from_second(1_795_446_000).unwrap()
    }

    fn need(cpu_millis: u64, memory_gib: u64, pods: u32) -> CapacityNeed {
        CapacityNeed {
            pod_requests: Resources {
                cpu_millis,
                memory_bytes: memory_gib << 30,
                ..Resources::ZERO
            },
            pods,
            architectures: vec![Architecture::X86_64],
            node_selector: Default::default(),
            node_affinity: Default::default(),
        }
    }

    #[test]
    fn pools_honour_the_pods_node_selector() {
        let catalog = Catalog::embedded().unwrap();
        let mut n = need(500, 1, 20);
        n.node_selector
            .insert("karpenter.k8s.aws/instance-family".into(), "m6i".into());
        n.node_selector
            .insert("topology.kubernetes.io/zone".into(), "us-east-1b".into());
        let a = select_pools(
            &n,
            catalog,
            &BTreeMap::new(),
            &BTreeSet::new(),
            &WeightedRisk,
            &PoolPolicy::default(),
            now(),
        )
        .unwrap();
        assert!(!a.spot.is_empty());
        assert!(a
            .spot
            .iter()
            .all(|s| s.pool.instance_type.starts_with("m6i.") && s.pool.zone == "us-east-1b"));
        if let Some(o) = &a.on_demand {
            assert!(o.instance_type.starts_with("m6i."));
        }
    }

    #[test]
    fn diversifies_and_beats_on_demand() {
        let catalog = Catalog::embedded().unwrap();
        let a = select_pools(
            &need(500, 1, 100),
            catalog,
            &BTreeMap::new(),
            &BTreeSet::new(),
            &WeightedRisk,
            &PoolPolicy::default(),
            now(),
        )
        .unwrap();
        assert!(a.on_demand.is_none());
        assert!(a.spot.len() >= 4, "at most 30% per pool: {}", a.spot.len());
        assert!(a.spot.iter().all(|s| s.pods <= 30));
        assert_eq!(a.spot.iter().map(|s| s.pods).sum::<u32>(), 100);
        assert!(a.spot.iter().all(|s| s.pool.risk.score <= 0.6));
        assert!(a.usd_per_hour < a.all_on_demand_usd_per_hour);
        // Sorted by expected cost.
        assert!(a
            .spot
            .windows(2)
            .all(|w| w[0].pool.expected_usd_per_pod_hour <= w[1].pool.expected_usd_per_pod_hour));
    }

    #[test]
    fn falls_back_to_on_demand() {
        let catalog = Catalog::embedded().unwrap();
        let strict = PoolPolicy {
            risk_ceiling: 0.0,
            ..PoolPolicy::default()
        };
        let a = select_pools(
            &need(500, 1, 10),
            catalog,
            &BTreeMap::new(),
            &BTreeSet::new(),
            &WeightedRisk,
            &strict,
            now(),
        )
        .unwrap();
        // Only pools in the <5% bucket with no other risk could pass a ceiling of 0.
        let fallback = a.on_demand.as_ref();
        assert!(a.spot.iter().all(|s| s.pool.risk.score == 0.0));
        if a.spot.is_empty() {
            assert_eq!(fallback.unwrap().pods, 10);
        }
        // Every pool reported out of capacity: all on-demand.
        let first = select_pools(
            &need(500, 1, 10),
            catalog,
            &BTreeMap::new(),
            &BTreeSet::new(),
            &WeightedRisk,
            &PoolPolicy::default(),
            now(),
        )
        .unwrap();
        let mut gone = BTreeSet::new();
        for it in catalog.instance_types() {
            for z in &PoolPolicy::default().zones {
                gone.insert((it.name.clone(), z.clone()));
            }
        }
        let none = select_pools(
            &need(500, 1, 10),
            catalog,
            &BTreeMap::new(),
            &gone,
            &WeightedRisk,
            &PoolPolicy::default(),
            now(),
        )
        .unwrap();
        assert!(none.spot.is_empty());
        assert_eq!(none.on_demand.unwrap().pods, 10);
        assert!(first.usd_per_hour <= none.usd_per_hour);
        assert!(matches!(
            select_pools(
                &need(5_000_000, 1, 1),
                catalog,
                &BTreeMap::new(),
                &BTreeSet::new(),
                &WeightedRisk,
                &PoolPolicy::default(),
                now()
            ),
            Err(PoolError::NothingFits { .. })
        ));
        let bad = PoolPolicy {
            max_pool_share: 0.0,
            ..PoolPolicy::default()
        };
        assert!(matches!(
            select_pools(
                &need(500, 1, 1),
                catalog,
                &BTreeMap::new(),
                &BTreeSet::new(),
                &WeightedRisk,
                &bad,
                now()
            ),
            Err(PoolError::BadPolicy {
                field: "max_pool_share",
                ..
            })
        ));
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]
        #[test]
        fn every_pod_is_placed_once(cpu in 50u64..16_000, mem in 0u64..64, pods in 1u32..500, share in 0.05f64..1.0) {
            let catalog = Catalog::embedded().unwrap();
            let policy = PoolPolicy { max_pool_share: share, ..PoolPolicy::default() };
            let a = select_pools(&need(cpu, mem, pods), catalog, &BTreeMap::new(), &BTreeSet::new(), &WeightedRisk, &policy, now()).unwrap();
            let spot: u32 = a.spot.iter().map(|s| s.pods).sum();
            let od = a.on_demand.as_ref().map_or(0, |o| o.pods);
            prop_assert_eq!(spot + od, pods);
            let cap = ((f64::from(pods) * share).ceil() as u32).max(1);
            prop_assert!(a.spot.iter().all(|s| s.pods <= cap && s.nodes * s.pool.pods_per_node >= s.pods));
        }
    }
}
