//! `kubectl get … -A -o json` output to a `ClusterSnapshot` and back, against
//! the realistic 4-node EKS cluster in `tests/fixtures/kubectl-get-all.json`
//! (see `tests/fixtures/README.md`).

use std::collections::BTreeMap;
use std::sync::LazyLock;

use cloudoptim::binpack::PodRequirement;
use cloudoptim::kubectl::{read_list, write_list, KubectlError, KubectlImport};
use cloudoptim::snapshot::{
    node_labels, tolerates_all, CapacityType, ClaimPhase, Container, IntOrPercent, LabelSelector,
    Limits, NodeSelectorTerm, ObjectRef, OwnerRef, Pod, PodAffinityTerm, PodPhase, PodVolume,
    ReclaimPolicy, SelectorOperator, SelectorRequirement, Taint, TaintEffect, Toleration,
    TolerationOperator, TopologySpreadConstraint, VolumePhase, VolumeSource, WhenUnsatisfiable,
    WorkloadKind,
};
use cloudoptim::Resources;
use proptest::prelude::*;
use serde_json::{json, Value};

const FIXTURE: &str = include_str!("fixtures/kubectl-get-all.json");

/// m5.xlarge, us-east-1a, on-demand.
const GENERAL: &str = "ip-10-0-17-142.ec2.internal";
/// m5.2xlarge, us-east-1b, on-demand.
const LARGE: &str = "ip-10-0-45-23.ec2.internal";
/// m5.large, us-east-1c, spot, tainted `spot=true:NoSchedule`.
const SPOT: &str = "ip-10-0-71-9.ec2.internal";
/// c6i.2xlarge, us-east-1c, on-demand, cordoned.
const CORDONED: &str = "ip-10-0-88-201.ec2.internal";

const KI: u64 = 1 << 10;
const MI: u64 = 1 << 20;
const GI: u64 = 1 << 30;

/// Items in the fixture's `List`.
const FIXTURE_ITEMS: usize = 50;

/// Fixture accessors that panic with a useful message (clippy allows
/// panics in tests only inside `#[cfg(test)]` items).
#[cfg(test)]
mod support {
    use std::sync::LazyLock;

    use cloudoptim::kubectl::{read_list, KubectlError, KubectlImport};
    use cloudoptim::snapshot::{Pod, Workload, WorkloadKind};
    use cloudoptim::ClusterSnapshot;
    use serde_json::Value;

    use super::FIXTURE;

    pub fn fixture() -> KubectlImport {
        read_list(FIXTURE).expect("the fixture is valid kubectl output")
    }

    /// The fixture as JSON, parsed once.
    pub static FIXTURE_JSON: LazyLock<Value> =
        LazyLock::new(|| serde_json::from_str(FIXTURE).expect("the fixture is JSON"));

    pub fn fixture_items() -> &'static [Value] {
        FIXTURE_JSON["items"]
            .as_array()
            .expect("the fixture has items")
    }

    /// A copy of one raw fixture item.
    pub fn fixture_item(kind: &str, name: &str) -> Value {
        fixture_items()
            .iter()
            .find(|i| i["kind"] == kind && i["metadata"]["name"] == name)
            .unwrap_or_else(|| panic!("no {kind} {name} in the fixture"))
            .clone()
    }

    pub fn pod<'a>(snapshot: &'a ClusterSnapshot, namespace: &str, name: &str) -> &'a Pod {
        snapshot
            .pods
            .iter()
            .find(|p| p.namespace == namespace && p.name == name)
            .unwrap_or_else(|| panic!("no pod {namespace}/{name}"))
    }

    pub fn workload<'a>(
        snapshot: &'a ClusterSnapshot,
        kind: WorkloadKind,
        namespace: &str,
        name: &str,
    ) -> &'a Workload {
        snapshot
            .workload(kind, namespace, name)
            .unwrap_or_else(|| panic!("no {kind} {namespace}/{name}"))
    }

    /// The `KubectlError::Object` fields, or a panic naming what came instead.
    pub fn object_error(json: &str) -> (usize, String, String, String, String) {
        match read_list(json) {
            Err(KubectlError::Object {
                index,
                kind,
                name,
                field,
                message,
            }) => (index, kind, name, field, message),
            other => panic!("expected KubectlError::Object, got {other:?}"),
        }
    }

    /// The `KubectlError::Duplicate` fields of reading these items.
    pub fn duplicate_error(items: Vec<Value>) -> (usize, usize, String, String) {
        match read_list(&super::list(items)) {
            Err(KubectlError::Duplicate {
                index,
                first_index,
                kind,
                name,
            }) => (index, first_index, kind, name),
            other => panic!("expected KubectlError::Duplicate, got {other:?}"),
        }
    }
}

use support::{
    duplicate_error, fixture, fixture_item, fixture_items, object_error, pod, workload,
    FIXTURE_JSON,
};

/// A `v1 List` of these items, as kubectl prints it.
fn list(items: Vec<Value>) -> String {
    json!({
        "apiVersion": "v1",
        "items": items,
        "kind": "List",
        "metadata": { "resourceVersion": "" }
    })
    .to_string()
}

fn owner(kind: &str, name: &str) -> Option<OwnerRef> {
    Some(OwnerRef {
        kind: kind.into(),
        name: name.into(),
    })
}

fn labels(pairs: &[(&str, &str)]) -> cloudoptim::snapshot::Labels {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn match_labels(pairs: &[(&str, &str)]) -> LabelSelector {
    LabelSelector {
        match_labels: labels(pairs),
        match_expressions: vec![],
    }
}

/// The containers of the checkout pods and their Deployment's template.
fn checkout_containers() -> Vec<Container> {
    vec![
        Container {
            name: "checkout".into(),
            requests: Resources {
                cpu_millis: 250,
                memory_bytes: 512 * MI,
                ..Resources::ZERO
            },
            limits: Limits {
                cpu_millis: Some(1000),
                memory_bytes: Some(GI),
                gpu_millis: None,
                ephemeral_storage_bytes: None,
            },
            sidecar: false,
        },
        Container {
            name: "envoy".into(),
            requests: Resources {
                cpu_millis: 50,
                memory_bytes: 128_974_848,
                ..Resources::ZERO
            },
            limits: Limits {
                cpu_millis: Some(500),
                // `256M` is decimal: 256 × 10^6 bytes.
                memory_bytes: Some(256_000_000),
                gpu_millis: None,
                ephemeral_storage_bytes: None,
            },
            sidecar: false,
        },
    ]
}

fn checkout_init_containers() -> Vec<Container> {
    let r = Resources {
        cpu_millis: 100,
        memory_bytes: 64 * MI,
        ..Resources::ZERO
    };
    vec![Container {
        name: "envoy-init".into(),
        requests: r,
        limits: Limits {
            cpu_millis: Some(100),
            memory_bytes: Some(64 * MI),
            gpu_millis: None,
            ephemeral_storage_bytes: None,
        },
        sidecar: false,
    }]
}

// ------------------------------------------------------------------ counts

#[test]
fn fixture_has_every_kind_counted_and_nothing_skipped() {
    let import = fixture();
    let s = &import.snapshot;
    assert_eq!(s.nodes.len(), 4);
    assert_eq!(s.pods.len(), 21);
    assert_eq!(s.pdbs.len(), 2);
    assert_eq!(s.persistent_volumes.len(), 3);
    assert_eq!(s.persistent_volume_claims.len(), 2);

    let mut workloads: BTreeMap<WorkloadKind, usize> = BTreeMap::new();
    for w in &s.workloads {
        *workloads.entry(w.kind).or_default() += 1;
    }
    assert_eq!(
        workloads,
        BTreeMap::from([
            (WorkloadKind::Deployment, 6),
            (WorkloadKind::ReplicaSet, 7),
            (WorkloadKind::StatefulSet, 1),
            (WorkloadKind::DaemonSet, 2),
            (WorkloadKind::Job, 1),
            (WorkloadKind::CronJob, 1),
        ])
    );
    assert!(
        import.skipped_kinds.is_empty(),
        "skipped: {:?}",
        import.skipped_kinds
    );
    assert_eq!(fixture_items().len(), FIXTURE_ITEMS);

    // Items keep the order of the List.
    let node_names: Vec<&str> = s.nodes.iter().map(|n| n.name.as_str()).collect();
    assert_eq!(node_names, [GENERAL, LARGE, SPOT, CORDONED]);
}

// ------------------------------------------------------------------- nodes

#[test]
fn nodes_carry_instance_zone_capacity_type_and_exact_allocatable() {
    let s = fixture().snapshot;

    let general = s.node(GENERAL).expect("general node");
    assert_eq!(
        general.provider_id.as_deref(),
        Some("aws:///us-east-1a/i-0a3f9c2b7d14e8561")
    );
    assert_eq!(general.instance_id.as_deref(), Some("i-0a3f9c2b7d14e8561"));
    assert_eq!(general.instance_type.as_deref(), Some("m5.xlarge"));
    assert_eq!(general.zone.as_deref(), Some("us-east-1a"));
    assert_eq!(general.region.as_deref(), Some("us-east-1"));
    assert_eq!(general.capacity_type, CapacityType::OnDemand);
    assert!(!general.unschedulable);
    assert!(general.taints.is_empty());
    assert!(general.ready);
    assert_eq!(
        general.allocatable,
        Resources {
            cpu_millis: 3920,
            memory_bytes: 14_902_172 * KI,
            pods: 58,
            gpu_millis: 0,
            ephemeral_storage_bytes: 76_224_326_324,
        }
    );
    assert_eq!(
        general.capacity,
        Resources {
            cpu_millis: 4000,
            memory_bytes: 15_896_988 * KI,
            pods: 58,
            gpu_millis: 0,
            ephemeral_storage_bytes: 83_873_772 * KI,
        }
    );
    assert_eq!(
        general
            .labels
            .get(node_labels::HOSTNAME)
            .map(String::as_str),
        Some(GENERAL)
    );
    assert_eq!(
        general.created_at.map(|t| t.to_string()).as_deref(),
        Some("2026-11-02T14:21:33Z")
    );
    assert_eq!(
        s.node_by_instance_id("i-0a3f9c2b7d14e8561")
            .map(|n| n.name.as_str()),
        Some(GENERAL)
    );

    let large = s.node(LARGE).expect("large node");
    assert_eq!(large.instance_id.as_deref(), Some("i-07be41d95c2a3f0e8"));
    assert_eq!(large.instance_type.as_deref(), Some("m5.2xlarge"));
    assert_eq!(large.zone.as_deref(), Some("us-east-1b"));
    assert_eq!(large.capacity_type, CapacityType::OnDemand);
    assert_eq!(large.allocatable.memory_bytes, 31_391_588 * KI);

    let spot = s.node(SPOT).expect("spot node");
    assert_eq!(spot.instance_id.as_deref(), Some("i-04c8f1e2a6b9d3e57"));
    assert_eq!(spot.instance_type.as_deref(), Some("m5.large"));
    assert_eq!(spot.zone.as_deref(), Some("us-east-1c"));
    assert_eq!(spot.capacity_type, CapacityType::Spot);
    assert!(!spot.unschedulable);
    assert!(spot.ready);
    assert_eq!(
        spot.taints,
        [Taint {
            key: "spot".into(),
            value: Some("true".into()),
            effect: TaintEffect::NoSchedule,
        }]
    );
    assert_eq!(
        spot.allocatable,
        Resources {
            cpu_millis: 1930,
            memory_bytes: 7_220_188 * KI,
            pods: 29,
            gpu_millis: 0,
            ephemeral_storage_bytes: 18_181_869_977,
        }
    );

    let cordoned = s.node(CORDONED).expect("cordoned node");
    assert_eq!(cordoned.instance_id.as_deref(), Some("i-0d92e6a1f7c35b204"));
    assert_eq!(cordoned.instance_type.as_deref(), Some("c6i.2xlarge"));
    assert_eq!(cordoned.zone.as_deref(), Some("us-east-1c"));
    assert_eq!(cordoned.capacity_type, CapacityType::OnDemand);
    assert!(cordoned.unschedulable);
    assert!(cordoned.ready, "cordoned is not NotReady");
    assert_eq!(
        cordoned.taints,
        [Taint {
            key: "node.kubernetes.io/unschedulable".into(),
            value: None,
            effect: TaintEffect::NoSchedule,
        }]
    );
    assert_eq!(cordoned.allocatable.cpu_millis, 7910);

    let cordoned_names: Vec<&str> = s
        .nodes
        .iter()
        .filter(|n| n.unschedulable)
        .map(|n| n.name.as_str())
        .collect();
    assert_eq!(cordoned_names, [CORDONED]);
    assert!(s.nodes.iter().all(|n| n.ready));
}

// -------------------------------------------------------------------- pods

#[test]
fn derive_from_labels_is_public_and_follows_label_edits() {
    let s = fixture().snapshot;
    let mut node = s.node(SPOT).expect("node").clone();
    // `read_list` derived them already.
    assert_eq!(node.instance_type.as_deref(), Some("m5.large"));
    assert_eq!(node.capacity_type, CapacityType::Spot);
    node.labels
        .insert(node_labels::INSTANCE_TYPE.into(), "m6i.large".into());
    node.labels
        .insert(node_labels::EKS_CAPACITY_TYPE.into(), "ON_DEMAND".into());
    node.derive_from_labels();
    assert_eq!(node.instance_type.as_deref(), Some("m6i.large"));
    assert_eq!(node.capacity_type, CapacityType::OnDemand);
    assert_eq!(node.instance_id.as_deref(), Some("i-04c8f1e2a6b9d3e57"));
}

#[test]
fn pods_resolve_to_their_top_level_owner() {
    let s = fixture().snapshot;

    let checkout = pod(&s, "prod", "checkout-7c9d8f6b5d-n7wh5");
    assert_eq!(
        checkout.controller,
        owner("ReplicaSet", "checkout-7c9d8f6b5d")
    );
    assert_eq!(checkout.owner, owner("Deployment", "checkout"));

    let job_pod = pod(&s, "prod", "report-29925240-5xs7p");
    assert_eq!(job_pod.controller, owner("Job", "report-29925240"));
    assert_eq!(job_pod.owner, owner("CronJob", "report"));

    let postgres = pod(&s, "prod", "postgres-0");
    assert_eq!(postgres.controller, owner("StatefulSet", "postgres"));
    assert_eq!(postgres.owner, owner("StatefulSet", "postgres"));

    let coredns = pod(&s, "kube-system", "coredns-5b8cc885bc-6zgxm");
    assert_eq!(coredns.owner, owner("Deployment", "coredns"));

    let bare = pod(&s, "dev", "debug-shell");
    assert_eq!(bare.controller, None);
    assert_eq!(bare.owner, None);

    let daemon_pods: Vec<&Pod> = s.pods.iter().filter(|p| p.is_daemonset_pod()).collect();
    assert_eq!(daemon_pods.len(), 8, "aws-node and kube-proxy on 4 nodes");
    for p in daemon_pods {
        let ds = if p.name.starts_with("aws-node-") {
            "aws-node"
        } else {
            "kube-proxy"
        };
        assert_eq!(p.controller, owner("DaemonSet", ds), "{}", p.key());
        assert_eq!(p.owner, owner("DaemonSet", ds), "{}", p.key());
    }

    // Every pod but the bare one has an owner.
    let ownerless: Vec<String> = s
        .pods
        .iter()
        .filter(|p| p.owner.is_none())
        .map(Pod::key)
        .collect();
    assert_eq!(ownerless, ["dev/debug-shell"]);
}

#[test]
fn only_the_controller_owner_reference_is_the_controller() {
    let with_refs = |refs: Value| {
        let mut p = fixture_item("Pod", "debug-shell");
        p["metadata"]["ownerReferences"] = refs;
        let s = read_list(&list(vec![p])).expect("read").snapshot;
        (s.pods[0].controller.clone(), s.pods[0].owner.clone())
    };
    // A ConfigMap owning a pod (for garbage collection) does not control it.
    assert_eq!(
        with_refs(json!([{
            "apiVersion": "v1", "kind": "ConfigMap", "name": "shell-config", "uid": "0f6c"
        }])),
        (None, None)
    );
    assert_eq!(
        with_refs(json!([{
            "apiVersion": "v1", "kind": "ConfigMap", "name": "shell-config",
            "uid": "0f6c", "controller": false
        }])),
        (None, None)
    );
    // The reference with `controller: true` wins wherever it is in the list.
    assert_eq!(
        with_refs(json!([
            { "apiVersion": "v1", "kind": "ConfigMap", "name": "shell-config", "uid": "0f6c" },
            { "apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "shell-5d9f",
              "uid": "7a21", "controller": true }
        ])),
        (
            owner("ReplicaSet", "shell-5d9f"),
            owner("ReplicaSet", "shell-5d9f")
        )
    );
}

#[test]
fn checkout_pod_requests_follow_kubernetes_rules() {
    let s = fixture().snapshot;
    let checkout = pod(&s, "prod", "checkout-7c9d8f6b5d-n7wh5");
    assert_eq!(checkout.containers, checkout_containers());
    assert_eq!(checkout.init_containers, checkout_init_containers());
    assert_eq!(checkout.overhead, Resources::ZERO);

    // App containers run together: 250m + 50m and 512Mi + 128974848 bytes.
    // The init container (100m, 64Mi) runs alone before them and is smaller
    // in every dimension, so the app containers set the request.
    assert_eq!(
        checkout.requests(),
        Resources {
            cpu_millis: 300,
            memory_bytes: 512 * MI + 128_974_848,
            pods: 1,
            gpu_millis: 0,
            ephemeral_storage_bytes: 0,
        }
    );

    // A request defaults to nothing when neither request nor limit is set.
    let bare = pod(&s, "dev", "debug-shell");
    assert_eq!(
        bare.requests(),
        Resources {
            pods: 1,
            ..Resources::ZERO
        }
    );

    // Decimal suffixes are exact: `4G` is 4 × 10^9 bytes; no CPU limit is `None`.
    let fraud = pod(&s, "prod", "fraud-scorer-6b9f7d4c8d-vnchz");
    assert_eq!(fraud.requests().cpu_millis, 2000);
    assert_eq!(fraud.requests().memory_bytes, 4_000_000_000);
    assert_eq!(fraud.containers[0].limits.cpu_millis, None);
    assert_eq!(fraud.containers[0].limits.memory_bytes, Some(4_000_000_000));

    // As the API server defaults: a limit without a request is the request.
    let mut item = fixture_item("Pod", "checkout-7c9d8f6b5d-n7wh5");
    item["spec"]["containers"][0]["resources"]
        .as_object_mut()
        .expect("resources")
        .remove("requests");
    let defaulted = read_list(&list(vec![item])).expect("read").snapshot;
    assert_eq!(
        defaulted.pods[0].containers[0].requests,
        Resources {
            cpu_millis: 1000,
            memory_bytes: GI,
            ..Resources::ZERO
        }
    );
}

#[test]
fn oom_kills_are_detected_with_their_restart_count() {
    let s = fixture().snapshot;
    let checkout = pod(&s, "prod", "checkout-7c9d8f6b5d-n7wh5");
    assert!(checkout.was_oom_killed());
    let status = &checkout.container_statuses[0];
    assert_eq!(status.name, "checkout");
    assert_eq!(status.restart_count, 3);
    assert!(status.ready);
    assert!(status.terminated.is_none(), "it is running again");
    let last = status.last_termination.as_ref().expect("last termination");
    assert_eq!(last.reason.as_deref(), Some("OOMKilled"));
    assert_eq!(last.exit_code, 137);
    assert_eq!(
        last.finished_at.map(|t| t.to_string()).as_deref(),
        Some("2026-11-24T09:41:18Z")
    );
    assert!(!checkout.container_statuses[1].was_oom_killed(), "envoy");

    let oom: Vec<String> = s
        .pods
        .iter()
        .filter(|p| p.was_oom_killed())
        .map(Pod::key)
        .collect();
    assert_eq!(oom, ["prod/checkout-7c9d8f6b5d-n7wh5"]);
}

#[test]
fn do_not_disrupt_is_read_from_both_annotations() {
    let s = fixture().snapshot;
    let notifier = pod(&s, "prod", "notifier-75c8b6f9d4-jv24s");
    assert_eq!(
        notifier
            .annotations
            .get("cloudoptim.io/do-not-disrupt")
            .map(String::as_str),
        Some("true")
    );
    assert!(notifier.do_not_disrupt());

    let indexer = pod(&s, "prod", "search-indexer-9d5b7f8c64-k8fht");
    assert_eq!(
        indexer
            .annotations
            .get("karpenter.sh/do-not-disrupt")
            .map(String::as_str),
        Some("true")
    );
    assert!(indexer.do_not_disrupt());

    let protected: Vec<String> = s
        .pods
        .iter()
        .filter(|p| p.do_not_disrupt())
        .map(Pod::key)
        .collect();
    assert_eq!(
        protected,
        [
            "prod/notifier-75c8b6f9d4-jv24s",
            "prod/search-indexer-9d5b7f8c64-k8fht"
        ]
    );
}

#[test]
fn empty_dir_pod_has_local_storage() {
    let s = fixture().snapshot;
    let resizer = pod(&s, "prod", "image-resizer-84f6c9d7b5-jrsrr");
    assert!(resizer.has_local_storage());
    assert_eq!(
        resizer.volumes[0],
        PodVolume {
            name: "scratch".into(),
            source: VolumeSource::EmptyDir {
                in_memory: false,
                size_limit_bytes: Some(5 * GI),
            },
        }
    );
    // The service-account token is a projected volume: not local storage.
    assert_eq!(
        resizer.volumes[1].source,
        VolumeSource::Other {
            kind: "projected".into()
        }
    );

    for (ns, name) in [
        ("prod", "checkout-7c9d8f6b5d-n7wh5"),
        ("prod", "postgres-0"),
        ("dev", "debug-shell"),
    ] {
        assert!(!pod(&s, ns, name).has_local_storage(), "{ns}/{name}");
    }
    let postgres = pod(&s, "prod", "postgres-0");
    assert_eq!(
        postgres.volumes[0].source,
        VolumeSource::PersistentVolumeClaim {
            claim_name: "data-postgres-0".into()
        }
    );
    // DaemonSet pods mount host paths.
    assert!(pod(&s, "kube-system", "kube-proxy-58m2h").has_local_storage());
}

#[test]
fn pending_pod_is_unbound_and_its_zone_affinity_matches_only_that_zone() {
    let s = fixture().snapshot;
    let fraud = pod(&s, "prod", "fraud-scorer-6b9f7d4c8d-vnchz");
    assert_eq!(fraud.phase, PodPhase::Pending);
    assert_eq!(fraud.node_name, None);
    assert!(!fraud.is_active_on_node());
    assert_eq!(
        fraud.node_affinity.required,
        [NodeSelectorTerm {
            match_expressions: vec![SelectorRequirement {
                key: node_labels::ZONE.into(),
                operator: SelectorOperator::In,
                values: vec!["us-east-1c".into()],
            }],
            match_fields: vec![],
        }]
    );
    assert!(fraud.node_affinity.preferred.is_empty());

    for name in [SPOT, CORDONED] {
        let node = s.node(name).expect("node");
        assert_eq!(node.zone.as_deref(), Some("us-east-1c"));
        assert!(
            fraud
                .node_affinity
                .required_matches(&node.name, &node.labels),
            "{name}"
        );
    }
    for name in [GENERAL, LARGE] {
        let node = s.node(name).expect("node");
        assert!(
            !fraud
                .node_affinity
                .required_matches(&node.name, &node.labels),
            "{name}"
        );
    }
    let us_east_1a = labels(&[(node_labels::ZONE, "us-east-1a")]);
    let us_east_1c = labels(&[(node_labels::ZONE, "us-east-1c")]);
    assert!(!fraud.node_affinity.required_matches("any", &us_east_1a));
    assert!(fraud.node_affinity.required_matches("any", &us_east_1c));

    // DaemonSet pods are pinned to their node by `matchFields`.
    let proxy = pod(&s, "kube-system", "kube-proxy-58m2h");
    assert_eq!(proxy.node_name.as_deref(), Some(CORDONED));
    let cordoned = s.node(CORDONED).expect("node");
    let spot = s.node(SPOT).expect("node");
    assert!(proxy
        .node_affinity
        .required_matches(CORDONED, &cordoned.labels));
    assert!(!proxy.node_affinity.required_matches(SPOT, &spot.labels));
}

#[test]
fn anti_affinity_and_topology_spread_are_parsed() {
    let s = fixture().snapshot;
    for name in ["postgres-0", "postgres-1"] {
        let p = pod(&s, "prod", name);
        assert_eq!(
            p.pod_affinity.anti_required,
            [PodAffinityTerm {
                label_selector: Some(match_labels(&[("app.kubernetes.io/name", "postgres")])),
                namespaces: vec![],
                namespace_selector: None,
                topology_key: "kubernetes.io/hostname".into(),
                weight: None,
            }],
            "{name}"
        );
        assert!(p.pod_affinity.required.is_empty());
        assert!(p.pod_affinity.preferred.is_empty());
        assert!(p.pod_affinity.anti_preferred.is_empty());
        assert_eq!(
            p.volumes[0].source,
            VolumeSource::PersistentVolumeClaim {
                claim_name: format!("data-{name}")
            }
        );
    }

    let coredns = pod(&s, "kube-system", "coredns-5b8cc885bc-6zgxm");
    assert!(coredns.pod_affinity.anti_required.is_empty());
    assert_eq!(
        coredns.pod_affinity.anti_preferred,
        [PodAffinityTerm {
            label_selector: Some(LabelSelector {
                match_labels: cloudoptim::snapshot::Labels::new(),
                match_expressions: vec![SelectorRequirement {
                    key: "k8s-app".into(),
                    operator: SelectorOperator::In,
                    values: vec!["kube-dns".into()],
                }],
            }),
            namespaces: vec![],
            namespace_selector: None,
            topology_key: "kubernetes.io/hostname".into(),
            weight: Some(100),
        }]
    );

    let checkout_pods: Vec<&Pod> = s
        .pods
        .iter()
        .filter(|p| p.name.starts_with("checkout-"))
        .collect();
    assert_eq!(checkout_pods.len(), 3);
    for p in checkout_pods {
        assert_eq!(
            p.topology_spread,
            [TopologySpreadConstraint {
                max_skew: 1,
                topology_key: node_labels::ZONE.into(),
                when_unsatisfiable: WhenUnsatisfiable::DoNotSchedule,
                label_selector: Some(match_labels(&[("app", "checkout")])),
                min_domains: None,
            }],
            "{}",
            p.key()
        );
        assert!(p.pod_affinity.is_empty());
    }
}

#[test]
fn affinity_terms_keep_missing_and_empty_selectors_apart() {
    let mut p = fixture_item("Pod", "postgres-0");
    let anti = &mut p["spec"]["affinity"]["podAntiAffinity"];
    anti["requiredDuringSchedulingIgnoredDuringExecution"][0]["namespaceSelector"] = json!({});
    anti["preferredDuringSchedulingIgnoredDuringExecution"] = json!([{
        "weight": 10,
        "podAffinityTerm": {
            "topologyKey": "topology.kubernetes.io/zone",
            "namespaceSelector": { "matchLabels": { "team": "data" } }
        }
    }]);
    p["spec"]["topologySpreadConstraints"] = json!([{
        "maxSkew": 1,
        "topologyKey": "topology.kubernetes.io/zone",
        "whenUnsatisfiable": "DoNotSchedule"
    }]);
    let original = read_list(&list(vec![p])).expect("read").snapshot;
    let pod = &original.pods[0];

    let required = &pod.pod_affinity.anti_required[0];
    assert_eq!(
        required.label_selector,
        Some(match_labels(&[("app.kubernetes.io/name", "postgres")]))
    );
    // `{}`: every namespace.
    assert_eq!(required.namespace_selector, Some(LabelSelector::default()));
    let preferred = &pod.pod_affinity.anti_preferred[0];
    assert_eq!(
        preferred.label_selector, None,
        "no labelSelector selects no pod"
    );
    assert_eq!(
        preferred.namespace_selector,
        Some(match_labels(&[("team", "data")]))
    );
    assert_eq!(preferred.weight, Some(10));
    assert_eq!(pod.topology_spread[0].label_selector, None);

    let text = write_list(&original).expect("write");
    let written: Value = serde_json::from_str(&text).expect("JSON");
    let anti = &written["items"][0]["spec"]["affinity"]["podAntiAffinity"];
    assert_eq!(
        anti["requiredDuringSchedulingIgnoredDuringExecution"][0]["namespaceSelector"],
        json!({})
    );
    let term = &anti["preferredDuringSchedulingIgnoredDuringExecution"][0]["podAffinityTerm"];
    assert_eq!(term.get("labelSelector"), None);
    assert_eq!(
        written["items"][0]["spec"]["topologySpreadConstraints"][0].get("labelSelector"),
        None
    );
    assert_eq!(read_list(&text).expect("read back").snapshot, original);
}

#[test]
fn packing_groups_come_only_from_terms_with_a_selector() {
    let s = fixture().snapshot;
    let postgres = pod(&s, "prod", "postgres-0").clone();
    let checkout = pod(&s, "prod", "checkout-7c9d8f6b5d-zlcvj").clone();
    assert!(PodRequirement::from_pod(&postgres)
        .anti_affinity_group
        .is_some());
    assert!(PodRequirement::from_pod(&checkout).zone_spread.is_some());

    let mut postgres = postgres;
    postgres.pod_affinity.anti_required[0].label_selector = None;
    assert_eq!(
        PodRequirement::from_pod(&postgres).anti_affinity_group,
        None
    );
    let mut checkout = checkout;
    checkout.topology_spread[0].label_selector = None;
    assert_eq!(PodRequirement::from_pod(&checkout).zone_spread, None);
}

#[test]
fn priorities_and_tolerations_of_system_and_job_pods() {
    let s = fixture().snapshot;
    let coredns = pod(&s, "kube-system", "coredns-5b8cc885bc-q26l4");
    assert_eq!(coredns.priority, 2_000_000_000);
    assert_eq!(
        coredns.priority_class_name.as_deref(),
        Some("system-cluster-critical")
    );
    let aws_node = pod(&s, "kube-system", "aws-node-j9gqg");
    assert_eq!(aws_node.priority, 2_000_001_000);
    assert_eq!(
        aws_node.priority_class_name.as_deref(),
        Some("system-node-critical")
    );
    assert_eq!(pod(&s, "prod", "postgres-0").priority, 0);

    let spot = s.node(SPOT).expect("spot node");
    let cordoned = s.node(CORDONED).expect("cordoned node");
    for p in s.pods.iter().filter(|p| p.is_daemonset_pod()) {
        assert_eq!(
            p.tolerations[0],
            Toleration {
                operator: TolerationOperator::Exists,
                ..Toleration::default()
            },
            "{}",
            p.key()
        );
        assert!(tolerates_all(&p.tolerations, &spot.taints), "{}", p.key());
        assert!(
            tolerates_all(&p.tolerations, &cordoned.taints),
            "{}",
            p.key()
        );
    }

    // An ordinary pod tolerates neither; the spot Job pod tolerates the spot taint.
    let checkout = pod(&s, "prod", "checkout-7c9d8f6b5d-fjn5q");
    assert!(!tolerates_all(&checkout.tolerations, &spot.taints));
    assert!(!tolerates_all(&checkout.tolerations, &cordoned.taints));
    assert_eq!(
        checkout.tolerations[0],
        Toleration {
            key: Some("node.kubernetes.io/not-ready".into()),
            operator: TolerationOperator::Exists,
            value: None,
            effect: Some(TaintEffect::NoExecute),
            toleration_seconds: Some(300),
        }
    );

    let job_pod = pod(&s, "prod", "report-29925240-5xs7p");
    assert!(tolerates_all(&job_pod.tolerations, &spot.taints));
    assert!(!tolerates_all(&job_pod.tolerations, &cordoned.taints));
    assert_eq!(job_pod.phase, PodPhase::Succeeded);
    assert_eq!(job_pod.node_name.as_deref(), Some(SPOT));
    assert!(
        !job_pod.is_active_on_node(),
        "a succeeded pod holds nothing"
    );
    assert_eq!(
        job_pod.node_selector,
        labels(&[(node_labels::EKS_CAPACITY_TYPE, "SPOT")])
    );
    let done = job_pod.container_statuses[0]
        .terminated
        .as_ref()
        .expect("terminated");
    assert_eq!(done.reason.as_deref(), Some("Completed"));
    assert_eq!(done.exit_code, 0);
}

#[test]
fn requested_by_node_counts_only_active_pods() {
    let s = fixture().snapshot;
    let by_node = s.requested_by_node();
    assert_eq!(by_node.len(), 4);
    // On the spot node: aws-node (25m + 25m; the 25m init container runs
    // alone) and kube-proxy (100m); the succeeded report pod holds nothing.
    let spot = by_node[SPOT];
    assert_eq!(spot.pods, 2);
    assert_eq!(spot.cpu_millis, 50 + 100);
    // The pending pod is nowhere.
    let placed: u64 = by_node.values().map(|r| r.pods).sum();
    assert_eq!(
        placed, 19,
        "21 pods, minus the pending and the succeeded one"
    );
}

// -------------------------------------------------- disruption and storage

#[test]
fn pdbs_are_read_with_their_budgets_and_selectors() {
    let s = fixture().snapshot;
    let checkout = s
        .pdbs
        .iter()
        .find(|b| b.name == "checkout-pdb")
        .expect("checkout-pdb");
    assert_eq!(checkout.namespace, "prod");
    assert_eq!(
        checkout.selector,
        Some(match_labels(&[("app", "checkout")]))
    );
    assert_eq!(checkout.min_available, Some(IntOrPercent::Count(2)));
    assert_eq!(checkout.max_unavailable, None);
    assert_eq!(checkout.disruptions_allowed, 1);
    assert_eq!(checkout.current_healthy, 3);
    assert_eq!(checkout.desired_healthy, 2);
    assert_eq!(checkout.expected_pods, 3);

    let postgres = s
        .pdbs
        .iter()
        .find(|b| b.name == "postgres-pdb")
        .expect("postgres-pdb");
    assert_eq!(postgres.min_available, None);
    assert_eq!(postgres.max_unavailable, Some(IntOrPercent::Count(0)));
    assert_eq!(postgres.disruptions_allowed, 0);
    assert_eq!(
        postgres.selector,
        Some(LabelSelector {
            match_labels: labels(&[("app.kubernetes.io/name", "postgres")]),
            match_expressions: vec![SelectorRequirement {
                key: "app.kubernetes.io/component".into(),
                operator: SelectorOperator::In,
                values: vec!["database".into()],
            }],
        })
    );

    let covering = |ns: &str, name: &str| -> Vec<String> {
        s.pdbs_for(pod(&s, ns, name))
            .map(|b| b.name.clone())
            .collect()
    };
    assert_eq!(
        covering("prod", "checkout-7c9d8f6b5d-zlcvj"),
        ["checkout-pdb"]
    );
    assert_eq!(covering("prod", "postgres-1"), ["postgres-pdb"]);
    assert!(covering("prod", "notifier-75c8b6f9d4-jv24s").is_empty());
}

#[test]
fn a_pdb_without_selector_covers_nothing_and_an_empty_one_its_namespace() {
    let with_selector = |selector: Option<Value>| {
        let mut b = fixture_item("PodDisruptionBudget", "checkout-pdb");
        match selector {
            Some(v) => b["spec"]["selector"] = v,
            None => {
                b["spec"].as_object_mut().expect("spec").remove("selector");
            }
        }
        let p = fixture_item("Pod", "checkout-7c9d8f6b5d-zlcvj");
        let s = read_list(&list(vec![b, p])).expect("read").snapshot;
        (
            s.pdbs[0].selector.clone(),
            s.pdbs_for(&s.pods[0]).count(),
            s,
        )
    };

    let (selector, covering, none) = with_selector(None);
    assert_eq!(selector, None);
    assert_eq!(covering, 0, "a PDB without a selector covers no pod");
    let (null_selector, _, _) = with_selector(Some(Value::Null));
    assert_eq!(null_selector, None);

    let (selector, covering, empty) = with_selector(Some(json!({})));
    assert_eq!(selector, Some(LabelSelector::default()));
    assert_eq!(
        covering, 1,
        "an empty selector covers every pod of the namespace"
    );

    // The round trip keeps "no selector" and "empty selector" apart.
    for original in [none, empty] {
        let text = write_list(&original).expect("write");
        let written: Value = serde_json::from_str(&text).expect("JSON");
        let pdb = written["items"]
            .as_array()
            .and_then(|items| items.iter().find(|i| i["kind"] == "PodDisruptionBudget"))
            .expect("the PDB is written");
        assert_eq!(
            pdb["spec"].get("selector").cloned(),
            original.pdbs[0].selector.as_ref().map(|_| json!({})),
        );
        assert_eq!(read_list(&text).expect("read back").snapshot, original);
    }
}

#[test]
fn persistent_volumes_and_claims_are_read() {
    let s = fixture().snapshot;
    let pv = |name: &str| {
        s.persistent_volumes
            .iter()
            .find(|v| v.name == name)
            .unwrap_or_else(|| panic!("no PV {name}"))
    };

    let released = pv("pvc-87c2da88-c325-4e4f-9882-b4aa0b86c288");
    assert_eq!(released.driver.as_deref(), Some("ebs.csi.aws.com"));
    assert_eq!(
        released.volume_handle.as_deref(),
        Some("vol-0e46a9b3c2f17d805")
    );
    assert_eq!(released.ebs_volume_id(), Some("vol-0e46a9b3c2f17d805"));
    assert_eq!(released.zone.as_deref(), Some("us-east-1c"));
    assert_eq!(released.phase, VolumePhase::Released);
    assert_eq!(released.reclaim_policy, ReclaimPolicy::Retain);
    assert_eq!(released.capacity_bytes, 20 * GI);
    assert_eq!(released.storage_class.as_deref(), Some("gp3"));
    let claim = ObjectRef {
        namespace: "prod".into(),
        name: "data-postgres-2".into(),
    };
    assert_eq!(released.claim_ref.as_ref(), Some(&claim));
    assert!(
        !s.persistent_volume_claims
            .iter()
            .any(|c| c.namespace == claim.namespace && c.name == claim.name),
        "the claim of the released volume is gone"
    );

    for (name, volume_id, zone, claim) in [
        (
            "pvc-b4e11e69-aed3-4006-a84c-7ece7e1f30d7",
            "vol-0b7e2f4c91d3a6e58",
            "us-east-1a",
            "data-postgres-0",
        ),
        (
            "pvc-c15f4c61-e7e0-4ce1-a3a5-0b4d96e94797",
            "vol-03d81c5a7e9f2b460",
            "us-east-1b",
            "data-postgres-1",
        ),
    ] {
        let bound = pv(name);
        assert_eq!(bound.phase, VolumePhase::Bound, "{name}");
        assert_eq!(bound.reclaim_policy, ReclaimPolicy::Delete, "{name}");
        assert_eq!(bound.ebs_volume_id(), Some(volume_id), "{name}");
        assert_eq!(bound.zone.as_deref(), Some(zone), "{name}");
        assert_eq!(
            bound.claim_ref,
            Some(ObjectRef {
                namespace: "prod".into(),
                name: claim.into(),
            }),
            "{name}"
        );

        let pvc = s
            .persistent_volume_claims
            .iter()
            .find(|c| c.name == claim)
            .unwrap_or_else(|| panic!("no PVC {claim}"));
        assert_eq!(pvc.namespace, "prod");
        assert_eq!(pvc.requested_bytes, 20 * GI);
        assert_eq!(pvc.capacity_bytes, Some(20 * GI));
        assert_eq!(pvc.volume_name.as_deref(), Some(name));
        assert_eq!(pvc.storage_class.as_deref(), Some("gp3"));
        assert_eq!(pvc.phase, ClaimPhase::Bound);
        assert_eq!(
            pvc.labels,
            labels(&[
                ("app.kubernetes.io/component", "database"),
                ("app.kubernetes.io/name", "postgres"),
            ])
        );
    }
}

// --------------------------------------------------------------- workloads

#[test]
fn workloads_carry_replicas_templates_schedules_and_owners() {
    let s = fixture().snapshot;

    let checkout = workload(&s, WorkloadKind::Deployment, "prod", "checkout");
    assert_eq!(checkout.replicas, Some(3));
    assert_eq!(checkout.ready_replicas, Some(3));
    assert_eq!(checkout.owner, None);
    assert_eq!(checkout.selector, match_labels(&[("app", "checkout")]));
    assert_eq!(checkout.template.containers, checkout_containers());
    assert_eq!(
        checkout.template.init_containers,
        checkout_init_containers()
    );
    assert_eq!(
        checkout.template.labels.get("version").map(String::as_str),
        Some("2.14.1")
    );
    assert_eq!(checkout.key(), "Deployment prod/checkout");

    let fraud = workload(&s, WorkloadKind::Deployment, "prod", "fraud-scorer");
    assert_eq!(fraud.replicas, Some(1));
    assert_eq!(fraud.ready_replicas, None, "none ready, field absent");
    assert_eq!(
        fraud.template.node_affinity,
        pod(&s, "prod", "fraud-scorer-6b9f7d4c8d-vnchz").node_affinity
    );

    let notifier = workload(&s, WorkloadKind::Deployment, "prod", "notifier");
    assert_eq!(
        notifier
            .template
            .annotations
            .get("cloudoptim.io/do-not-disrupt")
            .map(String::as_str),
        Some("true")
    );

    let old_rs = workload(&s, WorkloadKind::ReplicaSet, "prod", "checkout-58d4f7c9b6");
    assert_eq!(old_rs.owner, owner("Deployment", "checkout"));
    assert_eq!(old_rs.replicas, Some(0), "scaled down by the rollout");
    let rs = workload(&s, WorkloadKind::ReplicaSet, "prod", "checkout-7c9d8f6b5d");
    assert_eq!(rs.owner, owner("Deployment", "checkout"));
    assert_eq!(rs.replicas, Some(3));
    assert_eq!(rs.template.containers, checkout_containers());

    let postgres = workload(&s, WorkloadKind::StatefulSet, "prod", "postgres");
    assert_eq!(postgres.replicas, Some(2));
    assert_eq!(postgres.ready_replicas, Some(2));
    assert_eq!(postgres.owner, None);

    let aws_node = workload(&s, WorkloadKind::DaemonSet, "kube-system", "aws-node");
    assert_eq!(aws_node.replicas, None);
    assert_eq!(aws_node.ready_replicas, Some(4));
    assert_eq!(
        aws_node.template.priority_class_name.as_deref(),
        Some("system-node-critical")
    );
    assert_eq!(
        aws_node.template.tolerations,
        [Toleration {
            operator: TolerationOperator::Exists,
            ..Toleration::default()
        }]
    );
    let cpu: Vec<u64> = aws_node
        .template
        .containers
        .iter()
        .map(|c| c.requests.cpu_millis)
        .collect();
    assert_eq!(cpu, [25, 25]);

    let job = workload(&s, WorkloadKind::Job, "prod", "report-29925240");
    assert_eq!(job.owner, owner("CronJob", "report"));
    assert_eq!(job.replicas, Some(1), "a Job's parallelism");
    assert_eq!(job.ready_replicas, None);
    assert!(!job.suspend);

    let spot_only = labels(&[(node_labels::EKS_CAPACITY_TYPE, "SPOT")]);
    let report_container = Container {
        name: "report".into(),
        requests: Resources {
            cpu_millis: 500,
            memory_bytes: 768 * MI,
            ..Resources::ZERO
        },
        limits: Limits {
            cpu_millis: Some(1000),
            memory_bytes: Some(GI),
            gpu_millis: None,
            ephemeral_storage_bytes: None,
        },
        sidecar: false,
    };
    let cron = workload(&s, WorkloadKind::CronJob, "prod", "report");
    assert_eq!(cron.schedule.as_deref(), Some("0 * * * *"));
    assert!(!cron.suspend);
    assert_eq!(cron.replicas, None);
    assert_eq!(cron.owner, None);
    assert_eq!(
        cron.template.containers,
        std::slice::from_ref(&report_container)
    );
    assert_eq!(cron.template.node_selector, spot_only);
    assert_eq!(
        cron.template.tolerations,
        [Toleration {
            key: Some("spot".into()),
            operator: TolerationOperator::Equal,
            value: Some("true".into()),
            effect: Some(TaintEffect::NoSchedule),
            toleration_seconds: None,
        }]
    );
    assert_eq!(cron.template.labels, labels(&[("app", "report")]));
    assert_eq!(job.template.containers, [report_container]);
    assert_eq!(job.template.node_selector, spot_only);
}

// -------------------------------------------------------------- round trip

#[test]
fn write_then_read_gives_the_same_snapshot() {
    let original = fixture().snapshot;
    let text = write_list(&original).expect("write");

    let doc: Value = serde_json::from_str(&text).expect("write_list prints JSON");
    assert_eq!(doc["kind"], "List");
    assert_eq!(doc["apiVersion"], "v1");
    assert_eq!(
        doc["items"].as_array().map(Vec::len),
        Some(FIXTURE_ITEMS),
        "one item per object"
    );

    let again = read_list(&text).expect("read back");
    assert!(again.skipped_kinds.is_empty(), "{:?}", again.skipped_kinds);
    assert_eq!(again.snapshot, original);

    // Deterministic: writing twice, or writing what was read back, is byte-identical.
    assert_eq!(write_list(&original).expect("write again"), text);
    assert_eq!(write_list(&again.snapshot).expect("write read-back"), text);
}

#[test]
fn exported_owner_references_carry_the_owner_api_version() {
    let mut s = fixture().snapshot;
    let bare = s
        .pods
        .iter_mut()
        .find(|p| p.name == "debug-shell")
        .expect("debug-shell");
    bare.controller = owner("Node", GENERAL);
    let written: Value = serde_json::from_str(&write_list(&s).expect("write")).expect("JSON");
    let item = |kind: &str, name: &str| -> (Value, Value) {
        let i = written["items"]
            .as_array()
            .and_then(|items| {
                items
                    .iter()
                    .find(|i| i["kind"] == kind && i["metadata"]["name"] == name)
            })
            .unwrap_or_else(|| panic!("{kind} {name} is written"));
        (
            i["apiVersion"].clone(),
            i["metadata"]["ownerReferences"][0]["apiVersion"].clone(),
        )
    };
    let v = |s: &str| json!(s);
    assert_eq!(
        item("Pod", "checkout-7c9d8f6b5d-n7wh5"),
        (v("v1"), v("apps/v1"))
    );
    assert_eq!(
        item("Pod", "report-29925240-5xs7p"),
        (v("v1"), v("batch/v1"))
    );
    // Owners that are not workloads are in the core group.
    assert_eq!(item("Pod", "debug-shell"), (v("v1"), v("v1")));
    assert_eq!(
        item("ReplicaSet", "checkout-7c9d8f6b5d"),
        (v("apps/v1"), v("apps/v1"))
    );
    assert_eq!(
        item("Job", "report-29925240"),
        (v("batch/v1"), v("batch/v1"))
    );
    assert_eq!(item("Deployment", "checkout"), (v("apps/v1"), Value::Null));
}

#[test]
fn suspended_job_round_trips() {
    let mut job = fixture_item("Job", "report-29925240");
    job["spec"]["suspend"] = json!(true);
    let import = read_list(&list(vec![job])).expect("read");
    let original = import.snapshot;
    assert!(original.workloads[0].suspend, "spec.suspend of the Job");

    let text = write_list(&original).expect("write");
    let again = read_list(&text).expect("read back").snapshot;
    // Jobs can be suspended too (`spec.suspend`), and the export keeps it.
    assert!(again.workloads[0].suspend, "the Job is still suspended");
    assert_eq!(again, original);
}

// ----------------------------------------------------------- unknown kinds

#[test]
fn unknown_kinds_are_skipped_and_counted() {
    let service = json!({
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": { "name": "checkout", "namespace": "prod" },
        "spec": { "type": "ClusterIP", "ports": [{ "port": 80, "targetPort": 8080 }] }
    });
    let config_map = |name: &str| {
        json!({
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": { "name": name, "namespace": "prod" },
            "data": { "envoy.yaml": "static_resources: {}" }
        })
    };
    let text = list(vec![
        config_map("checkout-envoy"),
        service,
        fixture_item("Node", SPOT),
        config_map("kube-root-ca.crt"),
    ]);
    let import = read_list(&text).expect("read");
    // Services are read (cross-AZ placement uses them); ConfigMaps are not.
    assert_eq!(
        import.skipped_kinds,
        BTreeMap::from([("v1/ConfigMap".to_owned(), 2)])
    );
    assert_eq!(import.snapshot.services.len(), 1);
    assert_eq!(import.snapshot.services[0].name, "checkout");
    assert_eq!(import.snapshot.nodes.len(), 1);
    assert_eq!(import.snapshot.nodes[0].name, SPOT);
    assert!(import.snapshot.pods.is_empty());
    assert!(import.snapshot.workloads.is_empty());
}

#[test]
fn a_single_object_reads_as_a_one_item_list() {
    let node = fixture_item("Node", GENERAL);
    let single = read_list(&node.to_string()).expect("single object");
    let listed = read_list(&list(vec![node])).expect("list");
    assert_eq!(single, listed);
    assert_eq!(single.snapshot.nodes.len(), 1);
    assert_eq!(single.snapshot.nodes[0].allocatable.cpu_millis, 3920);

    let pod_item = fixture_item("Pod", "checkout-7c9d8f6b5d-n7wh5");
    let single = read_list(&pod_item.to_string()).expect("single pod");
    assert_eq!(single.snapshot.pods.len(), 1);
    // Without its ReplicaSet in the input, the owner stops at the ReplicaSet.
    assert_eq!(
        single.snapshot.pods[0].owner,
        owner("ReplicaSet", "checkout-7c9d8f6b5d")
    );
}

// ------------------------------------------------------------------ errors

#[test]
fn two_items_of_one_identity_are_an_error_naming_both() {
    // The fixture with a second copy of a pod at the end.
    let mut items = fixture_items().to_vec();
    let notifier = fixture_item("Pod", "notifier-75c8b6f9d4-jv24s");
    let first = items
        .iter()
        .position(|i| *i == notifier)
        .expect("the notifier pod");
    items.push(notifier.clone());
    let (index, first_index, kind, name) = duplicate_error(items);
    assert_eq!(
        (index, first_index, kind.as_str(), name.as_str()),
        (
            FIXTURE_ITEMS,
            first,
            "Pod",
            "prod/notifier-75c8b6f9d4-jv24s"
        )
    );
    let message = read_list(&list(vec![notifier.clone(), notifier.clone()]))
        .unwrap_err()
        .to_string();
    assert_eq!(
        message,
        "item 1 (Pod prod/notifier-75c8b6f9d4-jv24s) repeats item 0: the same Pod twice"
    );

    // Positions count every item, skipped kinds included.
    let node = fixture_item("Node", GENERAL);
    let other = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}});
    assert_eq!(
        duplicate_error(vec![node.clone(), other.clone(), notifier, other, node]),
        (4, 0, "Node".to_owned(), GENERAL.to_owned())
    );

    // PDBs by namespace and name, whatever their budgets.
    let pdb = fixture_item("PodDisruptionBudget", "postgres-pdb");
    let mut looser = pdb.clone();
    looser["status"]["disruptionsAllowed"] = json!(1);
    assert_eq!(
        duplicate_error(vec![pdb, looser]),
        (
            1,
            0,
            "PodDisruptionBudget".to_owned(),
            "prod/postgres-pdb".to_owned()
        )
    );

    // Workloads by kind, namespace and name.
    let deployment = fixture_item("Deployment", "checkout");
    assert_eq!(
        duplicate_error(vec![deployment.clone(), deployment.clone()]),
        (1, 0, "Deployment".to_owned(), "prod/checkout".to_owned())
    );
    let mut statefulset = deployment.clone();
    statefulset["kind"] = json!("StatefulSet");
    let mut elsewhere = deployment.clone();
    elsewhere["metadata"]["namespace"] = json!("staging");
    let read = read_list(&list(vec![deployment, statefulset, elsewhere])).expect("distinct");
    assert_eq!(read.snapshot.workloads.len(), 3);

    // PVs by name, PVCs by namespace and name.
    let pv = fixture_items()
        .iter()
        .find(|i| i["kind"] == "PersistentVolume")
        .expect("a PV")
        .clone();
    let pv_name = pv["metadata"]["name"].as_str().expect("named").to_owned();
    assert_eq!(
        duplicate_error(vec![pv.clone(), pv]),
        (1, 0, "PersistentVolume".to_owned(), pv_name)
    );
    let pvc = fixture_item("PersistentVolumeClaim", "data-postgres-0");
    assert_eq!(
        duplicate_error(vec![pvc.clone(), pvc]),
        (
            1,
            0,
            "PersistentVolumeClaim".to_owned(),
            "prod/data-postgres-0".to_owned()
        )
    );
}

#[test]
fn bad_cpu_request_names_the_pod_and_the_exact_field() {
    let mut p = fixture_item("Pod", "checkout-7c9d8f6b5d-n7wh5");
    p["spec"]["containers"][0]["resources"]["requests"]["cpu"] = json!("12x");
    let (index, kind, name, field, message) =
        object_error(&list(vec![fixture_item("Node", GENERAL), p]));
    assert_eq!(index, 1);
    assert_eq!(kind, "Pod");
    assert_eq!(name, "prod/checkout-7c9d8f6b5d-n7wh5");
    assert_eq!(field, "spec.containers[0].resources.requests.cpu");
    assert!(message.contains("12x"), "{message}");
}

#[test]
fn bad_quantity_in_a_template_names_the_template_field() {
    let mut d = fixture_item("Deployment", "checkout");
    d["spec"]["template"]["spec"]["initContainers"][0]["resources"]["limits"]["memory"] =
        json!("64Mb");
    let (index, kind, name, field, _) = object_error(&list(vec![d]));
    assert_eq!(index, 0);
    assert_eq!(kind, "Deployment");
    assert_eq!(name, "prod/checkout");
    assert_eq!(
        field,
        "spec.template.spec.initContainers[0].resources.limits.memory"
    );
}

#[test]
fn negative_allocatable_memory_names_the_node_and_field() {
    let mut n = fixture_item("Node", GENERAL);
    n["status"]["allocatable"]["memory"] = json!("-1Gi");
    let (index, kind, name, field, message) = object_error(&list(vec![n]));
    assert_eq!(index, 0);
    assert_eq!(kind, "Node");
    assert_eq!(name, GENERAL);
    assert_eq!(field, "status.allocatable.memory");
    assert!(message.contains("-1Gi"), "{message}");
    assert!(message.contains("negative"), "{message}");
}

#[test]
fn containers_of_the_wrong_type_name_the_field() {
    let mut p = fixture_item("Pod", "debug-shell");
    p["spec"]["containers"] = json!("debug-shell");
    let items = vec![
        fixture_item("Node", GENERAL),
        fixture_item("Node", LARGE),
        p,
    ];
    let (index, kind, name, field, _) = object_error(&list(items));
    assert_eq!(index, 2);
    assert_eq!(kind, "Pod");
    assert_eq!(name, "dev/debug-shell");
    assert!(field.contains("spec.containers"), "{field}");
}

#[test]
fn missing_name_is_a_typed_error_on_that_item() {
    let mut p = fixture_item("Pod", "debug-shell");
    p["metadata"]
        .as_object_mut()
        .expect("metadata")
        .remove("name");
    let items = vec![fixture_item("Node", GENERAL), p];
    let (index, kind, name, field, message) = object_error(&list(items));
    assert_eq!(index, 1);
    assert_eq!(kind, "Pod");
    assert_eq!(name, "<unnamed>");
    assert!(field.starts_with("metadata"), "{field}");
    assert!(message.contains("name"), "{message}");
}

#[test]
fn missing_name_error_points_at_metadata_name() {
    let mut no_name = fixture_item("Pod", "debug-shell");
    no_name["metadata"]
        .as_object_mut()
        .expect("metadata")
        .remove("name");
    let mut no_metadata = fixture_item("Pod", "debug-shell");
    no_metadata.as_object_mut().expect("pod").remove("metadata");
    for item in [no_name, no_metadata] {
        let (index, kind, name, field, _) = object_error(&list(vec![item]));
        assert_eq!(
            (index, kind.as_str(), name.as_str()),
            (0, "Pod", "<unnamed>")
        );
        // A missing name is reported like an empty one, on `metadata.name`.
        assert_eq!(field, "metadata.name");
    }
}

#[test]
fn empty_name_is_an_error_on_metadata_name() {
    let mut pdb = fixture_item("PodDisruptionBudget", "checkout-pdb");
    pdb["metadata"]["name"] = json!("");
    let (index, kind, _, field, _) = object_error(&list(vec![pdb]));
    assert_eq!(index, 0);
    assert_eq!(kind, "PodDisruptionBudget");
    assert_eq!(field, "metadata.name");
}

#[test]
fn negative_ready_replicas_names_the_status_field() {
    let mut d = fixture_item("Deployment", "checkout");
    d["status"]["readyReplicas"] = json!(-1);
    let (index, kind, name, field, message) = object_error(&list(vec![d]));
    assert_eq!(index, 0);
    assert_eq!(kind, "Deployment");
    assert_eq!(name, "prod/checkout");
    assert!(message.contains("-1"), "{message}");
    assert_eq!(field, "status.readyReplicas");

    let mut ds = fixture_item("DaemonSet", "aws-node");
    ds["status"]["numberReady"] = json!(-4);
    let (_, _, _, field, _) = object_error(&list(vec![ds]));
    assert_eq!(field, "status.numberReady");
}

#[test]
fn bad_min_available_names_the_pdb_and_field() {
    let mut pdb = fixture_item("PodDisruptionBudget", "checkout-pdb");
    pdb["spec"]["minAvailable"] = json!("abc%");
    let items = vec![fixture_item("PodDisruptionBudget", "postgres-pdb"), pdb];
    let (index, kind, name, field, message) = object_error(&list(items));
    assert_eq!(index, 1);
    assert_eq!(kind, "PodDisruptionBudget");
    assert_eq!(name, "prod/checkout-pdb");
    assert_eq!(field, "spec.minAvailable");
    assert!(message.contains("abc%"), "{message}");
}

#[test]
fn non_json_input_is_a_json_error_with_its_line() {
    let text = "{\n  \"apiVersion\": \"v1\",\n  \"items\": [\n    oops\n  ]\n}\n";
    match read_list(text) {
        Err(KubectlError::Json { line, column, .. }) => {
            assert_eq!(line, 4);
            assert!(column > 0);
        }
        other => panic!("expected KubectlError::Json, got {other:?}"),
    }
    // kubectl's table output is not JSON either.
    let table = "NAME                          STATUS   ROLES    AGE\nip-10-0-17-142.ec2.internal   Ready    <none>   22d\n";
    assert!(matches!(
        read_list(table),
        Err(KubectlError::Json { line: 1, .. })
    ));
    assert!(matches!(read_list(""), Err(KubectlError::Json { .. })));
    // Truncated output.
    assert!(matches!(
        read_list(&FIXTURE[..FIXTURE.len() / 2]),
        Err(KubectlError::Json { .. })
    ));
}

#[test]
fn json_that_is_not_a_list_is_not_a_list() {
    let array = list(vec![fixture_item("Node", GENERAL)]);
    let items = serde_json::from_str::<Value>(&array).expect("json")["items"].to_string();
    assert!(matches!(
        read_list(&items),
        Err(KubectlError::NotAList { .. })
    ));
    match read_list(r#"{"items": 5}"#) {
        Err(KubectlError::NotAList { found }) => assert!(found.contains("number"), "{found}"),
        other => panic!("expected NotAList, got {other:?}"),
    }
    for text in [r#""List""#, "42", "null", "true", r#"{"metadata": {}}"#] {
        assert!(
            matches!(read_list(text), Err(KubectlError::NotAList { .. })),
            "{text}"
        );
    }
    // An empty List is fine.
    let empty = read_list(&list(vec![])).expect("empty list");
    assert_eq!(empty, KubectlImport::default());
}

// ---------------------------------------------------------------- proptest

/// One step of a path into a JSON value.
#[derive(Clone, Debug)]
enum Step {
    Key(String),
    Index(usize),
}

/// Every path to a value inside `value`, the empty path excluded.
fn paths(value: &Value, prefix: &mut Vec<Step>, out: &mut Vec<Vec<Step>>) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                prefix.push(Step::Key(k.clone()));
                out.push(prefix.clone());
                paths(v, prefix, out);
                prefix.pop();
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                prefix.push(Step::Index(i));
                out.push(prefix.clone());
                paths(v, prefix, out);
                prefix.pop();
            }
        }
        _ => {}
    }
}

/// For each fixture item, every path inside it.
static ITEM_PATHS: LazyLock<Vec<Vec<Vec<Step>>>> = LazyLock::new(|| {
    fixture_items()
        .iter()
        .map(|item| {
            let mut out = Vec::new();
            paths(item, &mut Vec::new(), &mut out);
            out
        })
        .collect()
});

fn at_path<'a>(value: &'a mut Value, path: &[Step]) -> &'a mut Value {
    path.iter().fold(value, |v, step| match step {
        Step::Key(k) => &mut v[k.as_str()],
        Step::Index(i) => &mut v[*i],
    })
}

fn json_scalar() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        ".{0,16}".prop_map(Value::String),
        // Strings that look like quantities, percentages, timestamps or enums.
        "[-+]?[0-9]{0,25}(\\.[0-9]{0,25})?([numkMGTPE]|[KMGTPE]i|[eE][-+]?[0-9]{1,11})?%?"
            .prop_map(Value::String),
        "20[0-9]{2}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]{1,9})?(Z|[+-][0-9]{2}:[0-9]{2})?"
            .prop_map(Value::String),
        prop::sample::select(vec![
            "", "Always", "Exists", "Equal", "In", "NoSchedule", "Running", "Released",
            "Retain", "DoNotSchedule", "Ready", "True", "Pod", "Node", "List",
        ])
        .prop_map(Value::from),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn read_list_never_panics_on_arbitrary_strings(s in any::<String>()) {
        let _ = read_list(&s);
    }

    #[test]
    fn read_list_never_panics_on_json_like_strings(
        s in "[\\[\\]{}\":,. 0-9a-zA-Z%-]{0,120}",
    ) {
        let _ = read_list(&s);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// Replace one value anywhere inside one fixture item by a scalar: the
    /// result is a snapshot or an error about that very item, never a panic.
    #[test]
    fn a_mutated_fixture_item_never_panics(
        item in 0..FIXTURE_ITEMS,
        path in any::<prop::sample::Index>(),
        scalar in json_scalar(),
    ) {
        let paths = &ITEM_PATHS[item];
        let path = path.get(paths);
        let mut doc = FIXTURE_JSON.clone();
        *at_path(&mut doc["items"][item], path) = scalar;
        let text = doc.to_string();
        match read_list(&text) {
            Ok(import) => {
                let s = &import.snapshot;
                let read = s.nodes.len()
                    + s.pods.len()
                    + s.pdbs.len()
                    + s.persistent_volumes.len()
                    + s.persistent_volume_claims.len()
                    + s.workloads.len()
                    + import.skipped_kinds.values().sum::<usize>();
                prop_assert_eq!(read, FIXTURE_ITEMS, "every item is read or skipped");
            }
            Err(KubectlError::Object { index, .. }) => prop_assert_eq!(index, item),
            // Renamed or re-kinded into another item's identity.
            Err(KubectlError::Duplicate { index, first_index, .. }) => {
                prop_assert!(index == item || first_index == item)
            }
            Err(other) => prop_assert!(false, "unexpected error {:?}", other),
        }
    }
}

/// A Job carrying `spec.schedule` (no such field in Kubernetes) reads as a
/// Job without one, so writing it back and reading again is the same.
#[test]
fn a_job_with_a_schedule_round_trips() {
    let text = r#"{"apiVersion":"v1","kind":"List","items":[
        {"apiVersion":"batch/v1","kind":"Job","metadata":{"name":"j","namespace":"ns"},
         "spec":{"schedule":"*/5 * * * *","template":{"spec":{"containers":[{"name":"c"}]}}}}]}"#;
    let first = read_list(text).expect("read").snapshot;
    assert_eq!(first.workloads[0].schedule, None);
    let again = read_list(&write_list(&first).expect("write"))
        .expect("read back")
        .snapshot;
    assert_eq!(again, first);
}
