//! Arithmetic on values that come from outside (requests, allocatable,
//! counts): clusters with the largest values the kubectl reader accepts go
//! through every engine the tour runs, and none may panic (test builds keep
//! overflow checks on) or report a wrapped-around figure.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use cloudoptim::binpack::{LpGuidedPacker, Packer, PackingPolicy, PodRequirement};
use cloudoptim::catalog::Catalog;
use cloudoptim::consolidation::{plan_consolidation, ConsolidationPolicy};
use cloudoptim::environment::NodeEnvironment;
use cloudoptim::kubectl::read_list;
use cloudoptim::spot::pools::{select_pools, CapacityNeed, PoolPolicy};
use cloudoptim::spot::risk::WeightedRisk;
use cloudoptim::summary::ClusterSummary;
use cloudoptim::ClusterSnapshot;
use serde_json::{json, Value};

fn now() -> jiff::Timestamp {
    "2026-12-01T00:00:00Z".parse().unwrap()
}

fn node(name: &str, instance_type: &str, allocatable: Value) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": name, "labels": {
            "node.kubernetes.io/instance-type": instance_type,
            "topology.kubernetes.io/region": "us-east-1",
            "topology.kubernetes.io/zone": "us-east-1a",
            "kubernetes.io/arch": "amd64",
            "kubernetes.io/os": "linux",
        }},
        "spec": {"providerID": format!("aws:///us-east-1a/i-{name}")},
        "status": {"allocatable": allocatable.clone(), "capacity": allocatable},
    })
}

fn pod(name: &str, node: &str, requests: Value) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": "default",
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet",
                "name": "web-1", "controller": true}]},
        "spec": {"nodeName": node, "containers": [{"name": "c", "resources": {"requests": requests}}]},
        "status": {"phase": "Running"},
    })
}

fn snapshot(items: Vec<Value>) -> ClusterSnapshot {
    let text = json!({"apiVersion": "v1", "kind": "List", "items": items}).to_string();
    read_list(&text).unwrap().snapshot
}

/// Every engine the tour runs on a snapshot, as the tour runs them.
fn run_engines(s: &ClusterSnapshot) {
    let catalog = Catalog::embedded().unwrap();
    let env = NodeEnvironment::of(s);
    let region = env.region_or("us-east-1").to_owned();
    let summary = ClusterSummary::new(s, catalog, &region);
    let _ = format!("{:?}", summary);
    let policy = ConsolidationPolicy {
        region: region.clone(),
        max_disrupted_percent: 100,
        ..ConsolidationPolicy::default()
    };
    let c = plan_consolidation(s, None, catalog, &LpGuidedPacker::default(), &policy, now());
    if !c.plan.steps.is_empty() {
        let _ = cloudoptim::simulate::simulate(s, None, &c.plan, catalog, now());
    }
    let pods: Vec<PodRequirement> = s.pods.iter().map(PodRequirement::from_pod).collect();
    let packing = env.packing_policy(PackingPolicy {
        region: region.clone(),
        ..PackingPolicy::default()
    });
    let _ = LpGuidedPacker::default().pack(&pods, catalog, &packing);
    let pools = env.pool_policy(PoolPolicy {
        region,
        ..PoolPolicy::default()
    });
    for p in &s.pods {
        let need = CapacityNeed {
            pod_requests: p.requests(),
            pods: u32::MAX,
            architectures: env.architectures.clone(),
            node_selector: Default::default(),
            node_affinity: Default::default(),
        };
        let _ = select_pools(
            &need,
            catalog,
            &Default::default(),
            &Default::default(),
            &WeightedRisk,
            &pools,
            now(),
        );
    }
}

/// The most CPU a quantity holds (`i64::MAX` millicores, as in
/// Kubernetes); three of them overflow a `u64`.
const HUGE_CPU: &str = "9223372036854775807m";

/// Regression: consolidation ranked the nodes of a zone it might replace
/// together by a plain sum of their pods' CPU requests, which overflowed
/// (a panic in debug builds, a wrapped-around ranking in release builds)
/// for three pods of the largest CPU request on one node.
#[test]
fn three_huge_pods_on_a_node_do_not_overflow_consolidation() {
    let s = snapshot(vec![
        node(
            "a",
            "m5.large",
            json!({"cpu": "2", "memory": "8Gi", "pods": "29"}),
        ),
        node(
            "b",
            "m5.large",
            json!({"cpu": "2", "memory": "8Gi", "pods": "29"}),
        ),
        pod("a1", "a", json!({"cpu": HUGE_CPU})),
        pod("a2", "a", json!({"cpu": HUGE_CPU})),
        pod("a3", "a", json!({"cpu": HUGE_CPU})),
        pod("b1", "b", json!({"cpu": HUGE_CPU})),
        pod("b2", "b", json!({"cpu": HUGE_CPU})),
        pod("b3", "b", json!({"cpu": HUGE_CPU})),
    ]);
    assert_eq!(s.pods[0].requests().cpu_millis, i64::MAX as u64);
    let catalog = Catalog::embedded().unwrap();
    let policy = ConsolidationPolicy {
        max_disrupted_percent: 100,
        ..ConsolidationPolicy::default()
    };
    let c = plan_consolidation(
        &s,
        None,
        catalog,
        &LpGuidedPacker::default(),
        &policy,
        now(),
    );
    assert!(c.plan.steps.is_empty(), "{:#?}", c.plan.steps);
    assert_eq!(c.blocked.len(), 2);
    run_engines(&s);
}

/// The largest quantities the reader takes, in every dimension, on nodes
/// and on pods, through every engine.
#[test]
fn the_largest_values_the_reader_takes_go_through_every_engine() {
    // Quantities hold an i64, as in Kubernetes.
    let max = json!({
        "cpu": "9223372036854775807m",
        "memory": "9223372036854775807",
        "pods": "9223372036854775807",
        "ephemeral-storage": "9223372036854775807",
        "nvidia.com/gpu": "9223372036854775",
    });
    let half = json!({
        "cpu": "4611686018427387903m",
        "memory": "4Ei",
        "ephemeral-storage": "4Ei",
        "nvidia.com/gpu": "4611686018427387",
    });
    for (alloc, req) in [
        (max.clone(), max.clone()),
        (max.clone(), half.clone()),
        (json!({}), half.clone()),
        (json!({"cpu": "0", "memory": "0", "pods": "0"}), json!({})),
        (half.clone(), json!({"cpu": "1m"})),
    ] {
        let mut items = Vec::new();
        for (n, it) in [("a", "m5.large"), ("b", "m5.large"), ("c", "c5.xlarge")] {
            items.push(node(n, it, alloc.clone()));
            for k in 0..3 {
                items.push(pod(&format!("{n}{k}"), n, req.clone()));
            }
        }
        let s = snapshot(items);
        run_engines(&s);
    }
}
