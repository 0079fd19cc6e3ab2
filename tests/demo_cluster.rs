//! The demo environment: deterministic, feasible, and full of things for
//! every feature to find.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{BTreeMap, BTreeSet};
use std::sync::OnceLock;

use cloudoptim::catalog::Catalog;
use cloudoptim::demo::{DemoConfig, DemoEnvironment, USAGE_DAYS, USAGE_INTERVAL_SECONDS};
use cloudoptim::inventory::{tags, InstanceState, VolumeState};
use cloudoptim::kubectl::{read_list, write_list};
use cloudoptim::snapshot::{
    node_labels, tolerates_all, CapacityType, PodPhase, VolumePhase, WorkloadKind,
};
use cloudoptim::Resources;

fn demo() -> &'static DemoEnvironment {
    static DEMO: OnceLock<DemoEnvironment> = OnceLock::new();
    DEMO.get_or_init(|| {
        DemoEnvironment::generate(&DemoConfig::default(), Catalog::embedded().unwrap()).unwrap()
    })
}

#[test]
fn same_seed_same_environment_byte_for_byte() {
    let again =
        DemoEnvironment::generate(&DemoConfig::default(), Catalog::embedded().unwrap()).unwrap();
    assert_eq!(
        serde_json::to_string(&again).unwrap(),
        serde_json::to_string(demo()).unwrap()
    );
    assert_eq!(
        write_list(&again.snapshot).unwrap(),
        write_list(&demo().snapshot).unwrap()
    );
    let other = DemoEnvironment::generate(
        &DemoConfig {
            seed: 7,
            ..DemoConfig::default()
        },
        Catalog::embedded().unwrap(),
    )
    .unwrap();
    assert_ne!(other.snapshot, demo().snapshot);
}

#[test]
fn demo_and_synthetic_clusters_name_every_object_once() {
    demo().snapshot.check_unique().unwrap();
    for seed in [1, 7, 42] {
        let env = DemoEnvironment::generate(
            &DemoConfig {
                seed,
                ..DemoConfig::default()
            },
            Catalog::embedded().unwrap(),
        )
        .unwrap();
        env.snapshot.check_unique().unwrap();
    }
    cloudoptim::demo::synthetic_cluster(50, 1_500, 3, Catalog::embedded().unwrap())
        .check_unique()
        .unwrap();
}

#[test]
fn export_reads_back_to_the_same_snapshot() {
    let json = write_list(&demo().snapshot).unwrap();
    let import = read_list(&json).unwrap();
    assert!(import.skipped_kinds.is_empty());
    let (got, want) = (&import.snapshot, &demo().snapshot);
    first_difference("node", &got.nodes, &want.nodes);
    first_difference("pod", &got.pods, &want.pods);
    first_difference("pdb", &got.pdbs, &want.pdbs);
    first_difference("pv", &got.persistent_volumes, &want.persistent_volumes);
    first_difference(
        "pvc",
        &got.persistent_volume_claims,
        &want.persistent_volume_claims,
    );
    first_difference("workload", &got.workloads, &want.workloads);
    assert_eq!(got, want);
}

/// Assert two lists are equal, showing only the first differing item.
fn first_difference<T: PartialEq + std::fmt::Debug>(what: &str, got: &[T], want: &[T]) {
    assert_eq!(got.len(), want.len(), "{what} count");
    if let Some((g, w)) = got.iter().zip(want).find(|(g, w)| g != w) {
        panic!("first differing {what}:\n read back: {g:#?}\n generated: {w:#?}");
    }
}

#[test]
fn shape_is_a_realistic_over_provisioned_eks_cluster() {
    let s = &demo().snapshot;
    assert!(
        (50..=100).contains(&s.nodes.len()),
        "{} nodes",
        s.nodes.len()
    );
    assert!(
        (1000..=2000).contains(&s.pods.len()),
        "{} pods",
        s.pods.len()
    );
    let top_level = s.workloads.iter().filter(|w| w.owner.is_none()).count();
    assert!((70..=90).contains(&top_level), "{top_level} workloads");
    assert!(s
        .nodes
        .iter()
        .all(|n| n.capacity_type == CapacityType::OnDemand));
    let zones: BTreeSet<_> = s.nodes.iter().filter_map(|n| n.zone.as_deref()).collect();
    assert_eq!(zones.len(), 3);
    let types: BTreeSet<_> = s
        .nodes
        .iter()
        .filter_map(|n| n.instance_type.as_deref())
        .collect();
    assert!(types.len() >= 6, "mixed families and sizes: {types:?}");
    let namespaces: BTreeSet<_> = s.pods.iter().map(|p| p.namespace.as_str()).collect();
    for ns in ["prod", "staging", "dev", "kube-system"] {
        assert!(namespaces.contains(ns), "{ns}");
    }
    let kinds: BTreeSet<_> = s.workloads.iter().map(|w| w.kind).collect();
    for kind in [
        WorkloadKind::Deployment,
        WorkloadKind::ReplicaSet,
        WorkloadKind::StatefulSet,
        WorkloadKind::DaemonSet,
        WorkloadKind::Job,
        WorkloadKind::CronJob,
    ] {
        assert!(kinds.contains(&kind), "{kind}");
    }
    // Over-provisioned: requests fill well under the allocatable.
    let requested = s
        .pods
        .iter()
        .filter(|p| p.is_active_on_node())
        .fold(Resources::ZERO, |a, p| a.saturating_add(p.requests()));
    let allocatable = s
        .nodes
        .iter()
        .fold(Resources::ZERO, |a, n| a.saturating_add(n.allocatable));
    let cpu = requested.cpu_millis as f64 / allocatable.cpu_millis as f64;
    assert!((0.3..0.7).contains(&cpu), "cpu requested/allocatable {cpu}");
}

#[test]
fn every_bound_pod_fits_and_respects_its_constraints() {
    let s = &demo().snapshot;
    for (node, requested) in s.requested_by_node() {
        let n = s.node(node).unwrap();
        assert!(
            requested.fits_within(&n.allocatable),
            "{node}: {requested} > {}",
            n.allocatable
        );
    }
    for pod in s.pods.iter().filter(|p| p.is_active_on_node()) {
        let node = s.node(pod.node_name.as_deref().unwrap()).unwrap();
        assert!(
            pod.node_selector
                .iter()
                .all(|(k, v)| node.labels.get(k) == Some(v)),
            "{} selector",
            pod.key()
        );
        assert!(tolerates_all(&pod.tolerations, &node.taints) || pod.is_daemonset_pod());
    }
    // Required anti-affinity on hostname: one pod of each such workload per node.
    let mut seen = BTreeSet::new();
    for pod in s
        .pods
        .iter()
        .filter(|p| p.is_active_on_node() && !p.pod_affinity.anti_required.is_empty())
    {
        let owner = pod.owner.clone().unwrap();
        assert!(
            seen.insert((pod.namespace.clone(), owner, pod.node_name.clone())),
            "{} shares a node with a sibling",
            pod.key()
        );
    }
    // Zone spread: maxSkew 1 holds for every spread workload.
    let mut per_zone: BTreeMap<(String, String), BTreeMap<String, usize>> = BTreeMap::new();
    for pod in s
        .pods
        .iter()
        .filter(|p| p.is_active_on_node() && !p.topology_spread.is_empty())
    {
        let zone = s
            .node(pod.node_name.as_deref().unwrap())
            .unwrap()
            .zone
            .clone()
            .unwrap();
        let owner = pod.owner.clone().unwrap().name;
        *per_zone
            .entry((pod.namespace.clone(), owner))
            .or_default()
            .entry(zone)
            .or_default() += 1;
    }
    assert!(!per_zone.is_empty());
    for (workload, zones) in per_zone {
        let counts: Vec<usize> = ["us-east-1a", "us-east-1b", "us-east-1c"]
            .iter()
            .map(|z| zones.get(*z).copied().unwrap_or(0))
            .collect();
        let skew = counts.iter().max().unwrap() - counts.iter().min().unwrap();
        assert!(skew <= 1, "{workload:?}: {counts:?}");
    }
}

#[test]
fn every_feature_finds_something() {
    let d = demo();
    let s = &d.snapshot;
    // Daemonsets on every node.
    let ds_pods = s.pods.iter().filter(|p| p.is_daemonset_pod()).count();
    assert_eq!(ds_pods, 4 * s.nodes.len());
    // PDBs, including one that allows no disruption.
    assert!(s.pdbs.len() >= 10);
    assert!(s.pdbs.iter().any(|b| b.disruptions_allowed == 0));
    // OOMKilled history, do-not-disrupt, local storage, a bare pod, a pod nothing can hold.
    assert!(s.pods.iter().filter(|p| p.was_oom_killed()).count() >= 3);
    assert!(s
        .pods
        .iter()
        .any(|p| p.do_not_disrupt() && p.annotations.contains_key("cloudoptim.io/do-not-disrupt")));
    assert!(s
        .pods
        .iter()
        .any(|p| p.do_not_disrupt() && p.annotations.contains_key("karpenter.sh/do-not-disrupt")));
    assert!(s.pods.iter().any(|p| p.has_local_storage()));
    assert!(s.pods.iter().any(|p| p.controller.is_none()));
    assert_eq!(
        s.pods
            .iter()
            .filter(|p| p.phase == PodPhase::Pending && p.node_name.is_none())
            .count(),
        1
    );
    assert!(s.nodes.iter().any(|n| n.unschedulable));
    // Nearly empty leftover nodes for consolidation.
    let requested = s.requested_by_node();
    let nearly_empty = s
        .nodes
        .iter()
        .filter(|n| requested[n.name.as_str()].cpu_millis * 5 < n.allocatable.cpu_millis)
        .count();
    assert!(nearly_empty >= 3, "{nearly_empty} nearly empty nodes");

    // Zombie volumes: unattached, their claims gone from the cluster.
    let claims: BTreeSet<_> = s
        .persistent_volume_claims
        .iter()
        .map(|c| (c.namespace.as_str(), c.name.as_str()))
        .collect();
    let zombies: Vec<_> = d
        .aws
        .volumes
        .iter()
        .filter(|v| v.state == VolumeState::Available)
        .filter(|v| {
            let ns = v
                .tags
                .get(tags::PVC_NAMESPACE)
                .map(String::as_str)
                .unwrap_or("");
            let name = v.tags.get(tags::PVC_NAME).map(String::as_str).unwrap_or("");
            !claims.contains(&(ns, name))
        })
        .collect();
    assert!(zombies.len() >= 5);
    assert!(zombies.iter().any(|v| v.tags.contains_key(tags::PROTECT)));
    assert!(s
        .persistent_volumes
        .iter()
        .any(|pv| pv.phase == VolumePhase::Released));

    // Exactly one ghost: tagged for the cluster, running, backing no node.
    let ghosts: Vec<_> = d
        .aws
        .instances
        .iter()
        .filter(|i| i.state == InstanceState::Running)
        .filter(|i| i.belongs_to_cluster(&d.config.cluster_name))
        .filter(|i| s.node_by_instance_id(&i.instance_id).is_none())
        .collect();
    assert_eq!(ghosts.len(), 1, "{ghosts:?}");
    // Every node is backed by a running instance of its type.
    for n in &s.nodes {
        let id = n.instance_id.as_deref().unwrap();
        let i = d
            .aws
            .instances
            .iter()
            .find(|i| i.instance_id == id)
            .unwrap();
        assert_eq!(Some(&i.instance_type), n.instance_type.as_ref());
        assert_eq!(n.labels.get(node_labels::ZONE), Some(&i.zone));
    }

    // Traffic that crosses zones.
    assert!(d.traffic.flows.len() >= 30);
    assert!(d.traffic.flows.iter().all(|f| f.bytes_per_second > 0.0));
}

#[test]
fn usage_covers_seven_days_mostly_below_requests() {
    let d = demo();
    let samples = (USAGE_DAYS * 86_400 / USAGE_INTERVAL_SECONDS) as usize;
    assert_eq!(samples, 672);
    assert!(d.usage.containers.len() >= 1000);
    let mut below = 0usize;
    let mut total = 0usize;
    for series in &d.usage.containers {
        assert_eq!(series.cpu_millis.len(), samples);
        assert_eq!(series.memory_bytes.len(), samples);
        let pod = d
            .snapshot
            .pods
            .iter()
            .find(|p| p.namespace == series.namespace && p.name == series.pod)
            .unwrap();
        let c = pod
            .containers
            .iter()
            .find(|c| c.name == series.container)
            .unwrap();
        for &cpu in &series.cpu_millis {
            total += 1;
            below += usize::from(u64::from(cpu) * 2 < c.requests.cpu_millis);
        }
    }
    let share = below as f64 / total as f64;
    assert!(
        share > 0.6,
        "only {share:.2} of CPU samples are below half the request"
    );
}
