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

const ALL: [&str; 12] = [
    "eks-hpc6a-us-east-2-flux.json",
    "eks-im4gn-us-east-1-flux.json",
    "eks-t3small-us-east-1-cluster-info-dump.json",
    "giantswarm-aws-eu-central-1.NodeList.json",
    "giantswarm-azure-westeurope.NodeList.json",
    "kind-pods-list.kubectl-neat.json",
    "managedkube-gke-preemptible.json",
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

/// A raw NodeList of an AWS cluster in eu-central-1 with only the legacy
/// labels: the region comes from the zones, the embedded prices (us-east-1)
/// do not apply, a price file for the region does, and a file of nodes
/// alone plans nothing.
#[test]
fn an_eu_central_1_node_list_is_priced_only_with_that_regions_prices() {
    let import = read("giantswarm-aws-eu-central-1.NodeList.json");
    assert!(
        import.skipped_kinds.is_empty(),
        "{:?}",
        import.skipped_kinds
    );
    let s = import.snapshot;
    assert_eq!(s.nodes.len(), 6);
    assert!(s.pods.is_empty());
    let env = NodeEnvironment::of(&s);
    assert_eq!(env.region.as_deref(), Some("eu-central-1"));
    assert_eq!(env.zones.len(), 3);
    assert_eq!(env.architectures, [Architecture::X86_64]);
    let types = |t: &str| {
        s.nodes
            .iter()
            .filter(|n| n.instance_type.as_deref() == Some(t))
            .count()
    };
    assert_eq!((types("m5.large"), types("m5.xlarge")), (3, 3));
    assert_eq!(s.nodes.iter().filter(|n| !n.taints.is_empty()).count(), 3);
    assert!(s
        .nodes
        .iter()
        .all(|n| n.capacity_type == CapacityType::Unknown));
    // Allocatable as written: 7662240Ki and 2 cores on the masters.
    assert!(s.nodes.iter().any(
        |n| n.allocatable.memory_bytes == 7_662_240 * 1024 && n.allocatable.cpu_millis == 2000
    ));

    let region = env.region_or("us-east-1");
    let embedded = ClusterSummary::new(&s, catalog(), region);
    assert_eq!(embedded.unpriced_nodes.len(), 6);
    assert_eq!(embedded.usd_per_hour, cloudoptim::UsdPerHour::ZERO);

    let csv = "region,instance_type,on_demand_usd_per_hour\n\
               eu-central-1,m5.large,0.115\n\
               eu-central-1,m5.xlarge,0.23\n";
    let (priced, skipped) = catalog().with_on_demand_prices_csv(csv).unwrap();
    assert!(skipped.is_empty());
    let summary = ClusterSummary::new(&s, &priced, region);
    assert!(
        summary.unpriced_nodes.is_empty(),
        "{:?}",
        summary.unpriced_nodes
    );
    let price = |t: &str| {
        priced
            .get(t)
            .and_then(|it| it.on_demand_usd_per_hour("eu-central-1"))
            .unwrap()
    };
    assert_eq!(
        summary.usd_per_hour,
        price("m5.large").times(3) + price("m5.xlarge").times(3)
    );

    let policy = ConsolidationPolicy {
        region: region.to_owned(),
        max_disrupted_percent: 100,
        ..ConsolidationPolicy::default()
    };
    let c = plan_consolidation(
        &s,
        None,
        &priced,
        &LpGuidedPacker::default(),
        &policy,
        now(),
    );
    assert!(c.plan.steps.is_empty(), "{:#?}", c.plan.steps);
    assert!(c
        .blocked
        .iter()
        .all(|(_, b)| matches!(b, Blocked::PodsUnknown { .. })));
}

/// A bare node object without `kind` is refused in words, not guessed at.
#[test]
fn a_node_without_kind_is_refused_plainly() {
    let path = format!(
        "{}/tests/fixtures/kubectl-real/giantswarm-aws-node-without-kind.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let e = read_list(&std::fs::read_to_string(path).unwrap()).unwrap_err();
    assert!(
        matches!(e, cloudoptim::kubectl::KubectlError::NotAList { .. }),
        "{e:?}"
    );
    assert!(e.to_string().contains("kind"), "{e}");
}

/// Azure nodes: the region is the legacy label's (their zones are fault
/// domains `0`, `1`, … that name no region), nothing is priced, and the
/// tour's default region is not used in its place.
#[test]
fn azure_nodes_keep_their_region_and_stay_unpriced() {
    let s = read("giantswarm-azure-westeurope.NodeList.json").snapshot;
    assert_eq!(s.nodes.len(), 4);
    assert!(s
        .nodes
        .iter()
        .all(|n| n.instance_id.is_none() && n.instance_type.as_deref() == Some("Standard_D2s_v3")));
    let env = NodeEnvironment::of(&s);
    assert_eq!(env.region.as_deref(), Some("westeurope"));
    let summary = ClusterSummary::new(&s, catalog(), env.region_or("us-east-1"));
    assert_eq!(summary.region, "westeurope");
    assert_eq!(summary.unpriced_nodes.len(), 4);
    assert_eq!(summary.usd_per_hour, cloudoptim::UsdPerHour::ZERO);
    // 1400m on the master, 1500m on the workers, as written.
    let mut cpu: Vec<u64> = s.nodes.iter().map(|n| n.allocatable.cpu_millis).collect();
    cpu.sort_unstable();
    assert_eq!(cpu, [1400, 1500, 1500, 1500]);
}

/// A GKE node and a pod of another node: the node's emptiness is unknown
/// (its pods are not in the file), so no engine may treat it as empty.
#[test]
fn a_node_whose_pods_are_elsewhere_is_not_an_empty_node() {
    let s = read("managedkube-gke-preemptible.json").snapshot;
    assert_eq!((s.nodes.len(), s.pods.len()), (1, 1));
    assert_eq!(
        s.pods_on_missing_nodes(),
        ["test-ns/cost-attribution-prometheus-5dd645756b-w4n7s"]
    );
    let why = s
        .why_pods_unknown()
        .expect("the node's pods are not in the file");
    assert!(
        why.contains("1 pod(s) run on nodes the file does not list"),
        "{why}"
    );
    let pod = &s.pods[0];
    assert_eq!(
        (pod.requests().cpu_millis, pod.requests().memory_bytes),
        (250, 250 << 20)
    );
    let env = NodeEnvironment::of(&s);
    assert_eq!(env.region.as_deref(), Some("us-central1"));
    let c = consolidate(&s);
    assert!(c.plan.steps.is_empty());
    assert!(c
        .blocked
        .iter()
        .all(|(_, b)| matches!(b, Blocked::PodsUnknown { .. })));
}
