//! Real clusters' `kubectl` output (tests/fixtures/kubectl-real, with its
//! provenance): every file reads, and what the reports and engines make of
//! each is what a person reading the file would say.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use cloudoptim::binpack::{LpGuidedPacker, PackingPolicy};
use cloudoptim::catalog::{Architecture, Catalog};
use cloudoptim::consolidation::{plan_consolidation, Blocked, ConsolidationPolicy};
use cloudoptim::environment::NodeEnvironment;
use cloudoptim::kubectl::{read_list, KubectlImport};
use cloudoptim::snapshot::CapacityType;
use cloudoptim::summary::ClusterSummary;
use cloudoptim::ClusterSnapshot;

fn read(name: &str) -> KubectlImport {
    let path = format!(
        "{}/tests/fixtures/kubectl-real/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap();
    read_list(&text).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn catalog() -> &'static Catalog {
    Catalog::embedded().unwrap()
}

fn now() -> jiff::Timestamp {
    "2026-12-01T00:00:00Z".parse().unwrap()
}

fn consolidate(s: &ClusterSnapshot) -> cloudoptim::consolidation::Consolidation {
    let policy = ConsolidationPolicy {
        max_disrupted_percent: 100,
        ..ConsolidationPolicy::default()
    };
    plan_consolidation(
        s,
        None,
        catalog(),
        &LpGuidedPacker::default(),
        &policy,
        now(),
    )
}

const ALL: [&str; 9] = [
    "eks-hpc6a-us-east-2-flux.json",
    "eks-im4gn-us-east-1-flux.json",
    "eks-t3small-us-east-1-cluster-info-dump.json",
    "kind-pods-list.kubectl-neat.json",
    "qovery-engine-mixed-eks.json",
    "sonobuoy-kubeadm-1.19.json",
    "troubleshoot-analyze-nodes.List.json",
    "troubleshoot-analyze-nodes.NodeList.json",
    "troubleshoot-k3s-support-bundle.json",
];

#[test]
fn every_file_reads_and_no_engine_plans_a_removal_it_cannot_justify() {
    for name in ALL {
        let s = read(name).snapshot;
        let c = consolidate(&s);
        // None of these clusters has a node that is both priced and idle
        // with room elsewhere; a plan here would be a wrong answer.
        assert!(c.plan.steps.is_empty(), "{name}: {:#?}", c.plan.steps);
        assert_eq!(
            c.blocked.len() + c.removed_nodes.len(),
            s.nodes.len(),
            "{name}: every node is accounted for"
        );
        let _ = ClusterSummary::new(&s, catalog(), "us-east-1");
    }
}

#[test]
fn a_raw_node_list_gives_its_items_the_list_kind() {
    let raw = read("troubleshoot-analyze-nodes.NodeList.json");
    let listed = read("troubleshoot-analyze-nodes.List.json");
    assert_eq!(raw.snapshot.nodes.len(), 7);
    assert!(raw.skipped_kinds.is_empty(), "{:?}", raw.skipped_kinds);
    assert_eq!(raw.snapshot, listed.snapshot);
}

#[test]
fn nodes_without_pods_are_not_empty_nodes() {
    let s = read("troubleshoot-analyze-nodes.NodeList.json").snapshot;
    assert!(s.why_pods_unknown().is_some());
    let c = consolidate(&s);
    assert!(c.plan.steps.is_empty());
    assert_eq!(c.blocked.len(), 7);
    assert!(c
        .blocked
        .iter()
        .all(|(_, b)| matches!(b, Blocked::PodsUnknown { .. })));
}

#[test]
fn us_east_2_nodes_are_unpriced_not_priced_at_us_east_1() {
    let s = read("eks-hpc6a-us-east-2-flux.json").snapshot;
    assert_eq!(s.nodes.len(), 8);
    let env = NodeEnvironment::of(&s);
    assert_eq!(env.region.as_deref(), Some("us-east-2"));
    let summary = ClusterSummary::new(&s, catalog(), env.region_or("us-east-1"));
    assert_eq!(summary.unpriced_nodes.len(), 8);
    assert_eq!(summary.usd_per_hour, cloudoptim::UsdPerHour::ZERO);
    let c = consolidate(&s);
    for (_, b) in &c.blocked {
        let Blocked::Unpriced { why } = b else {
            panic!("expected unpriced, got {b:?}");
        };
        assert!(
            why.contains("hpc6a.48xlarge") && why.contains("us-east-2"),
            "{why}"
        );
    }
}

#[test]
fn an_arm64_cluster_packs_on_arm64() {
    let s = read("eks-im4gn-us-east-1-flux.json").snapshot;
    let env = NodeEnvironment::of(&s);
    assert_eq!(env.architectures, [Architecture::Arm64]);
    let policy = env.packing_policy(PackingPolicy::default());
    assert_eq!(policy.architectures, [Architecture::Arm64]);
    assert!(s
        .nodes
        .iter()
        .all(|n| n.instance_type.as_deref() == Some("im4gn.16xlarge")));
}

#[test]
fn pods_on_nodes_the_file_lacks_are_reported() {
    let kind = read("kind-pods-list.kubectl-neat.json").snapshot;
    assert!(kind.nodes.is_empty());
    assert_eq!(kind.pods_on_missing_nodes().len(), 2);
    let qovery = read("qovery-engine-mixed-eks.json").snapshot;
    assert_eq!(
        ClusterSummary::new(&qovery, catalog(), "us-east-1")
            .pods_on_missing_nodes
            .len(),
        1
    );
}

#[test]
fn kubeadm_and_k3s_nodes_without_an_instance_type_are_unpriced() {
    for name in [
        "sonobuoy-kubeadm-1.19.json",
        "troubleshoot-k3s-support-bundle.json",
    ] {
        let s = read(name).snapshot;
        assert!(!s.nodes.is_empty());
        for (node, b) in consolidate(&s).blocked {
            match b {
                Blocked::Unpriced { why } => assert!(
                    why.contains("instance type") || why.contains("not in the instance catalog"),
                    "{name} {node}: {why}"
                ),
                other => panic!("{name} {node}: expected unpriced, got {other:?}"),
            }
        }
    }
}

#[test]
fn eks_managed_nodes_say_their_capacity_type() {
    let s = read("eks-t3small-us-east-1-cluster-info-dump.json").snapshot;
    assert_eq!(s.nodes.len(), 2);
    assert!(s
        .nodes
        .iter()
        .all(|n| n.capacity_type == CapacityType::OnDemand));
}

/// `kubectl cluster-info dump` prints one list after another, with container
/// logs between them, and the API server's lists carry no item kinds.
#[test]
fn a_cluster_info_dump_reads_like_the_list_it_holds() {
    let listed = read("eks-t3small-us-east-1-cluster-info-dump.json");
    let path = format!(
        "{}/tests/fixtures/kubectl-real/eks-t3small-us-east-1-cluster-info-dump.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let list: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let items = list["items"].as_array().unwrap();
    let of = |kind: &str, api: &str| {
        let items: Vec<serde_json::Value> = items
            .iter()
            .filter(|i| i["kind"] == kind)
            .map(|i| {
                let mut i = i.clone();
                let o = i.as_object_mut().unwrap();
                o.remove("kind");
                o.remove("apiVersion");
                i
            })
            .collect();
        serde_json::to_string_pretty(&serde_json::json!({
            "kind": format!("{kind}List"), "apiVersion": api,
            "metadata": {"resourceVersion": "1"}, "items": items,
        }))
        .unwrap()
    };
    let dump = [
        of("Node", "v1"),
        of("DaemonSet", "apps/v1"),
        of("Deployment", "apps/v1"),
        of("ReplicaSet", "apps/v1"),
        of("Pod", "v1"),
        "==== START logs for container aws-node of pod kube-system/aws-node-abc ====\n\
         {\"level\":\"info\",\"msg\":\"not JSON we read\"\n\
         ==== END logs for container aws-node of pod kube-system/aws-node-abc ====\n"
            .to_owned(),
        r#"{"kind":"EventList","apiVersion":"v1","metadata":{},"items":[]}"#.to_owned(),
    ]
    .join("\n");
    let dumped = read_list(&dump).unwrap();
    let by_key = |s: &ClusterSnapshot| {
        let mut pods: Vec<String> = s.pods.iter().map(|p| p.key()).collect();
        pods.sort();
        let mut nodes: Vec<String> = s.nodes.iter().map(|n| n.name.clone()).collect();
        nodes.sort();
        (nodes, pods, s.workloads.len())
    };
    assert_eq!(by_key(&dumped.snapshot), by_key(&listed.snapshot));
    assert_eq!(dumped.snapshot.nodes.len(), 2);
    assert_eq!(dumped.snapshot.pods.len(), 6);
}
