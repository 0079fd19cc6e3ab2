//! The consolidation planner: never moves what cannot move, never overfills
//! a node, never breaks a PDB, stays within its budget.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{BTreeMap, BTreeSet};

use proptest::prelude::*;

use cloudoptim::catalog::Catalog;
use cloudoptim::consolidation::{
    plan_consolidation, Blocked, Consolidation, ConsolidationPolicy, PdbRule,
};
use cloudoptim::demo::{DemoConfig, DemoEnvironment};
use cloudoptim::inventory::AwsInventory;
use cloudoptim::pricing::node_price;
use cloudoptim::simulate::{simulate, SimulatedStep};
use cloudoptim::snapshot::{
    CapacityType, ClusterSnapshot, Container, LabelSelector, Labels, Limits, Node, NodeAffinity,
    OwnerRef, Pod, PodAffinity, PodDisruptionBudget, PodPhase, PodVolume, VolumeSource,
};
use cloudoptim::{Action, Resources};

/// Run the plan in the simulator: nothing lost, stranded, do-not-disrupt
/// evicted or over budget; every removed node gone, no node overfilled, and
/// the bill goes down by what the plan says.
fn assert_safe_after(
    snapshot: &ClusterSnapshot,
    account: Option<&AwsInventory>,
    policy: &ConsolidationPolicy,
    c: &Consolidation,
    strict: bool,
) {
    let after = simulate(snapshot, account, &c.plan, catalog(), now()).unwrap();
    assert!(after.lost.is_empty(), "{:?}", after.lost);
    assert!(after.disrupted_do_not_disrupt.is_empty());
    assert!(after.pdbs_exceeded.is_empty(), "{:?}", after.pdbs_exceeded);
    if !strict && !after.pending.is_empty() {
        // Known gap (issue 10 note): the plan fits offline, but the
        // scheduler placing evicted pods one at a time can strand one.
        return;
    }
    assert!(after.is_safe(), "{after:#?}");
    assert!(
        after
            .steps
            .iter()
            .all(|s| matches!(s, SimulatedStep::Applied | SimulatedStep::AlreadyDone)),
        "every step applies on the snapshot it was planned for: {:?}",
        after.steps
    );
    for removed in &c.removed_nodes {
        assert!(
            after.snapshot.node(removed).is_none(),
            "{removed} is still there"
        );
    }
    let requested = after.snapshot.requested_by_node();
    for n in &after.snapshot.nodes {
        assert!(
            requested[n.name.as_str()].fits_within(&n.allocatable),
            "{} overfilled after the plan",
            n.name
        );
    }
    let bill = |s: &ClusterSnapshot| -> i64 {
        s.nodes
            .iter()
            .filter_map(|n| node_price(n, catalog(), &policy.region))
            .map(|p| p.usd_per_hour.micro_usd())
            .sum()
    };
    assert_eq!(
        bill(snapshot) - bill(&after.snapshot),
        c.savings.net_saved_usd_per_hour.micro_usd(),
        "the saving the plan reports is what the applied result saves"
    );
    if let Some(account) = account {
        // Node-group nodes leave through their group: it shrinks, never below its minimum.
        let groups = &after.account.as_ref().unwrap().auto_scaling_groups;
        for g in groups {
            assert!(
                g.desired_capacity >= g.min_size,
                "{} below its minimum",
                g.name
            );
        }
        for (before, after) in account.auto_scaling_groups.iter().zip(groups) {
            let removed = before.instance_ids.len() - after.instance_ids.len();
            assert_eq!(
                before.desired_capacity - after.desired_capacity,
                removed as u32
            );
        }
    }
}

fn catalog() -> &'static Catalog {
    Catalog::embedded().unwrap()
}

fn now() -> jiff::Timestamp {
    "2026-11-23T15:00:00Z".parse().unwrap()
}

/// Check every promise of a consolidation against its snapshot, and on the
/// cluster the plan leaves behind (the simulator's applied result).
fn assert_safe(
    snapshot: &ClusterSnapshot,
    account: Option<&AwsInventory>,
    policy: &ConsolidationPolicy,
    c: &Consolidation,
) {
    assert_safe_offline(snapshot, policy, c);
    assert_safe_after(snapshot, account, policy, c, true);
}

/// The planner's own promises, checked on its side report.
fn assert_safe_offline(
    snapshot: &ClusterSnapshot,
    policy: &ConsolidationPolicy,
    c: &Consolidation,
) {
    let removed: BTreeSet<&str> = c.removed_nodes.iter().map(String::as_str).collect();
    let budget = policy
        .max_disrupted_nodes
        .min((snapshot.nodes.len() * policy.max_disrupted_percent as usize).div_ceil(100));
    assert!(
        removed.len() <= budget,
        "{} removed, budget {budget}",
        removed.len()
    );

    // Every evicted pod may move, and has a destination that is not removed.
    let moves: BTreeMap<&str, &str> = c
        .moves
        .iter()
        .map(|m| (m.pod.as_str(), m.to.as_str()))
        .collect();
    let mut requested: BTreeMap<&str, Resources> =
        snapshot.requested_by_node().into_iter().collect();
    let mut per_node_pdb: BTreeMap<(&str, String), u32> = BTreeMap::new();
    for pod in snapshot.pods.iter().filter(|p| p.is_active_on_node()) {
        let node = pod.node_name.as_deref().unwrap();
        if !removed.contains(node) || !pod.moves_with_node() {
            continue;
        }
        assert!(pod.controller.is_some(), "{} is bare", pod.key());
        assert!(!pod.do_not_disrupt(), "{} is do-not-disrupt", pod.key());
        assert!(!pod.has_local_storage(), "{} has local storage", pod.key());
        let to = moves
            .get(pod.key().as_str())
            .copied()
            .unwrap_or_else(|| panic!("{} has no destination", pod.key()));
        if let Some(r) = c.replacements.iter().find(|r| r.node == node) {
            assert_eq!(to, format!("new {} in {}", r.instance_type, r.zone));
            continue;
        }
        if c.multi_replacements
            .iter()
            .any(|m| m.nodes.iter().any(|n| n == node))
        {
            assert!(to.starts_with("new node in "), "{to}");
            continue;
        }
        assert!(
            !removed.contains(to),
            "{} moves to a removed node",
            pod.key()
        );
        let dest = snapshot.node(to).unwrap();
        assert!(!dest.unschedulable);
        assert!(pod
            .node_selector
            .iter()
            .all(|(k, v)| dest.labels.get(k) == Some(v)));
        let r = pod.requests();
        *requested.get_mut(to).unwrap() = requested[to].saturating_add(r);
        for pdb in snapshot.pdbs_for(pod) {
            *per_node_pdb
                .entry((node, format!("{}/{}", pdb.namespace, pdb.name)))
                .or_default() += 1;
        }
    }
    // Evictions per PDB over the whole plan stay within what it allows.
    let mut per_pdb: BTreeMap<String, u32> = BTreeMap::new();
    for ((_, pdb), n) in per_node_pdb {
        *per_pdb.entry(pdb).or_default() += n;
    }
    for (pdb, n) in per_pdb {
        let (ns, name) = pdb.split_once('/').unwrap();
        let b = snapshot
            .pdbs
            .iter()
            .find(|b| b.namespace == ns && b.name == name)
            .unwrap();
        match policy.pdb_rule {
            PdbRule::WholeNode => assert!(
                n <= b.disruptions_allowed,
                "{n} pods of {pdb} evicted in one plan, {} allowed",
                b.disruptions_allowed
            ),
            // Evictions wait for each other; the PDB must allow one now.
            PdbRule::OneAtATime => assert!(
                b.disruptions_allowed > 0,
                "{n} pods of {pdb} evicted, none allowed"
            ),
        }
    }
    for n in snapshot
        .nodes
        .iter()
        .filter(|n| !removed.contains(n.name.as_str()))
    {
        assert!(
            requested[n.name.as_str()].fits_within(&n.allocatable),
            "{} overfilled: {} > {}",
            n.name,
            requested[n.name.as_str()],
            n.allocatable
        );
    }

    // A replacement holds all of its node's pods, DaemonSets included, for less.
    for r in &c.replacements {
        let need = snapshot
            .pods_on(&r.node)
            .fold(Resources::ZERO, |a, p| a.saturating_add(p.requests()));
        assert!(
            need.fits_within(&r.allocatable),
            "{}: {need} > {}",
            r.node,
            r.allocatable
        );
        let old = node_price(snapshot.node(&r.node).unwrap(), catalog(), &policy.region)
            .unwrap()
            .usd_per_hour;
        assert!(r.usd_per_hour < old);
    }
    // Per node: cordon, then evictions, then terminate and delete.
    for node in &removed {
        let positions: Vec<(usize, &str)> = c
            .plan
            .steps
            .iter()
            .enumerate()
            .filter_map(|(i, s)| match &s.action {
                Action::Cordon { node: n } if n == node => Some((i, "cordon")),
                Action::Evict { node: n, .. } if n == node => Some((i, "evict")),
                Action::TerminateInstance { node: Some(n), .. } if n == node => {
                    Some((i, "terminate"))
                }
                Action::DeleteNode { node: n } if n == node => Some((i, "delete")),
                _ => None,
            })
            .collect();
        let kinds: Vec<&str> = positions.iter().map(|(_, k)| *k).collect();
        assert_eq!(kinds.first(), Some(&"cordon"), "{node}: {kinds:?}");
        assert_eq!(kinds.last(), Some(&"delete"), "{node}: {kinds:?}");
        let terminate = kinds.iter().position(|k| *k == "terminate").unwrap();
        assert!(kinds[..terminate].iter().skip(1).all(|k| *k == "evict"));
    }
    // The saving is what the removed nodes cost, less their replacements.
    let expected: i64 = removed
        .iter()
        .map(|n| {
            node_price(snapshot.node(n).unwrap(), catalog(), &policy.region)
                .unwrap()
                .usd_per_hour
                .micro_usd()
        })
        .sum::<i64>()
        - c.replacements
            .iter()
            .map(|r| r.usd_per_hour.micro_usd())
            .sum::<i64>()
        - c.multi_replacements
            .iter()
            .map(|m| m.new_usd_per_hour.micro_usd())
            .sum::<i64>();
    // A group replacement places every pod of its nodes on fewer new nodes, for less.
    for m in &c.multi_replacements {
        assert!(m.new_nodes.len() < m.nodes.len());
        assert!(m.new_usd_per_hour < m.old_usd_per_hour);
        let moved: usize = m.new_nodes.iter().map(|n| n.pods.len()).sum();
        let expected_pods: usize = m
            .nodes
            .iter()
            .map(|n| snapshot.pods_on(n).filter(|p| p.moves_with_node()).count())
            .sum();
        assert_eq!(moved, expected_pods);
        for n in &m.new_nodes {
            assert!(n.requested.fits_within(&n.allocatable));
        }
    }
    assert_eq!(c.savings.net_saved_usd_per_hour.micro_usd(), expected);
    assert!(c.savings.net_saved_usd_per_hour.micro_usd() >= 0);
    assert!(c.plan.steps.iter().all(|s| !s.reason.is_empty()));
}

#[test]
fn demo_cluster_consolidates_safely() {
    let demo = DemoEnvironment::generate(&DemoConfig::default(), catalog()).unwrap();
    let policy = ConsolidationPolicy::default();
    let c = plan_consolidation(
        &demo.snapshot,
        Some(&demo.aws),
        catalog(),
        &cloudoptim::binpack::LpGuidedPacker::default(),
        &policy,
        now(),
    );
    assert_safe(&demo.snapshot, Some(&demo.aws), &policy, &c);
    assert!(!c.removed_nodes.is_empty());
    let kinds: BTreeSet<&str> = c.blocked.iter().map(|(_, b)| b.kind()).collect();
    for k in ["bare_pod", "do_not_disrupt", "local_storage"] {
        assert!(kinds.contains(k), "{k} missing from {kinds:?}");
    }
    let again = plan_consolidation(
        &demo.snapshot,
        Some(&demo.aws),
        catalog(),
        &cloudoptim::binpack::LpGuidedPacker::default(),
        &policy,
        now(),
    );
    assert_eq!(c, again);
    // A bigger budget removes more, still safely.
    let wide = ConsolidationPolicy {
        max_disrupted_nodes: 100,
        max_disrupted_percent: 100,
        ..policy
    };
    let w = plan_consolidation(
        &demo.snapshot,
        Some(&demo.aws),
        catalog(),
        &cloudoptim::binpack::LpGuidedPacker::default(),
        &wide,
        now(),
    );
    assert_safe(&demo.snapshot, Some(&demo.aws), &wide, &w);
    assert!(w.removed_nodes.len() > c.removed_nodes.len());
    assert!(!w.moves.is_empty());
}

#[test]
fn a_synthetic_cluster_consolidates_safely_with_no_budget() {
    let snapshot = cloudoptim::demo::synthetic_cluster(300, 9_000, 3, catalog());
    let policy = ConsolidationPolicy {
        max_disrupted_nodes: usize::MAX,
        max_disrupted_percent: 100,
        ..ConsolidationPolicy::default()
    };
    let c = plan_consolidation(
        &snapshot,
        None,
        catalog(),
        &cloudoptim::binpack::LpGuidedPacker::default(),
        &policy,
        now(),
    );
    assert_safe(&snapshot, None, &policy, &c);
    assert!(!c.removed_nodes.is_empty());
    // A tiny cluster asked for more pods than it holds still comes back.
    let small = cloudoptim::demo::synthetic_cluster(1, 10_000, 3, catalog());
    assert!(small.pods.len() < 10_000);
}

#[test]
fn several_small_nodes_are_replaced_by_fewer() {
    // Six m6i.large in one zone, each running one 1.2-core pod: no pod fits
    // in the room another node has left, and m6i.large is the smallest of
    // its family, so only repacking the group onto fewer nodes saves.
    let nodes: Vec<Node> = (0..6).map(|i| node(i * 2, "m6i.large")).collect();
    let pods: Vec<Pod> = nodes
        .iter()
        .enumerate()
        .map(|(n, node)| {
            let spec = PodSpec {
                cpu_millis: 1200,
                memory_mib: 1024,
                app: n as u8,
                flag: 4,
            };
            pod(n, &node.name, &spec)
        })
        .collect();
    let mut snapshot = ClusterSnapshot {
        nodes,
        pods,
        ..ClusterSnapshot::default()
    };
    snapshot.resolve_owners();
    // Own family only: a cheaper c6a.large would replace each node alone.
    let policy = ConsolidationPolicy {
        max_disrupted_nodes: 6,
        max_disrupted_percent: 100,
        replacement: cloudoptim::consolidation::ReplacementPolicy::own_family(),
        ..ConsolidationPolicy::default()
    };
    let c = plan_consolidation(
        &snapshot,
        None,
        catalog(),
        &cloudoptim::binpack::LpGuidedPacker::default(),
        &policy,
        now(),
    );
    assert_safe(&snapshot, None, &policy, &c);
    assert_eq!(c.multi_replacements.len(), 1, "{c:#?}");
    assert_eq!(c.removed_nodes.len(), 6);
    // The new nodes are launched before the first cordon.
    let first_launch = c
        .plan
        .steps
        .iter()
        .position(|s| matches!(s.action, Action::LaunchInstance { .. }))
        .unwrap();
    let first_cordon = c
        .plan
        .steps
        .iter()
        .position(|s| matches!(s.action, Action::Cordon { .. }))
        .unwrap();
    assert!(first_launch < first_cordon);
}

#[test]
fn the_fixture_spot_node_with_only_daemonsets_goes() {
    let text = include_str!("fixtures/kubectl-get-all.json");
    let snapshot = cloudoptim::kubectl::read_list(text).unwrap().snapshot;
    let policy = ConsolidationPolicy {
        max_disrupted_percent: 100,
        ..ConsolidationPolicy::default()
    };
    let c = plan_consolidation(
        &snapshot,
        None,
        catalog(),
        &cloudoptim::binpack::LpGuidedPacker::default(),
        &policy,
        now(),
    );
    assert_safe(&snapshot, None, &policy, &c);
    // A node group's node, and nobody said what its Auto Scaling group allows:
    // left alone rather than terminated into a group that would refill it.
    let spot = "ip-10-0-71-9.ec2.internal";
    assert!(!c.removed_nodes.contains(&spot.to_owned()));
    assert!(
        c.blocked.iter().any(|(n, b)| n == spot
            && matches!(b, Blocked::GroupUnknown { node_group } if node_group == "spot-workers")),
        "{:?}",
        c.blocked
    );
    // With the account observed, it leaves through its group, which shrinks.
    let group = |min_size| AwsInventory {
        region: "us-east-1".into(),
        auto_scaling_groups: vec![cloudoptim::inventory::AutoScalingGroup {
            name: "eks-spot-workers".into(),
            min_size,
            max_size: 3,
            desired_capacity: 1,
            instance_ids: vec!["i-04c8f1e2a6b9d3e57".into()],
            lifecycle_wait_instance_ids: vec![],
            tags: Default::default(),
        }],
        ..AwsInventory::default()
    };
    let account = group(0);
    let packer = cloudoptim::binpack::LpGuidedPacker::default();
    let c = plan_consolidation(
        &snapshot,
        Some(&account),
        catalog(),
        &packer,
        &policy,
        now(),
    );
    assert_safe(&snapshot, Some(&account), &policy, &c);
    assert!(c.removed_nodes.contains(&spot.to_owned()));
    assert!(c.plan.steps.iter().any(|s| matches!(&s.action,
        Action::TerminateInstance { auto_scaling_group: Some(g), .. } if g == "eks-spot-workers")));
    // At its minimum, the group keeps it, and the report says why.
    let at_min = group(1);
    let c = plan_consolidation(&snapshot, Some(&at_min), catalog(), &packer, &policy, now());
    assert!(!c.removed_nodes.contains(&spot.to_owned()));
    assert!(c.blocked.iter().any(|(n, b)| n == spot
        && matches!(b, Blocked::GroupAtMinimum { group, min_size: 1 } if group == "eks-spot-workers")));
    let blocked: BTreeMap<&str, &Blocked> =
        c.blocked.iter().map(|(n, b)| (n.as_str(), b)).collect();
    // Every other node has a pod that cannot move.
    assert!(
        matches!(blocked.get("ip-10-0-17-142.ec2.internal"), Some(Blocked::DoNotDisrupt { pod }) if pod == "prod/notifier-75c8b6f9d4-jv24s")
    );
    assert!(
        matches!(blocked.get("ip-10-0-45-23.ec2.internal"), Some(Blocked::BarePod { pod }) if pod == "dev/debug-shell")
    );
    assert!(matches!(
        blocked.get("ip-10-0-88-201.ec2.internal"),
        Some(Blocked::LocalStorage { .. })
    ));
}

// ---------------------------------------------------------------- invalid snapshots

/// Three m6i.xlarge nodes, each with one small pod of `app-0`: the first
/// two nodes' pods fit elsewhere, so a valid snapshot removes a node.
fn small_cluster() -> ClusterSnapshot {
    let nodes: Vec<Node> = (0..3).map(|i| node(i, "m6i.xlarge")).collect();
    let spec = PodSpec {
        cpu_millis: 200,
        memory_mib: 256,
        app: 0,
        flag: 0,
    };
    let pods = nodes
        .iter()
        .enumerate()
        .map(|(i, n)| pod(i, &n.name, &spec))
        .collect();
    let mut s = ClusterSnapshot {
        nodes,
        pods,
        ..ClusterSnapshot::default()
    };
    s.resolve_owners();
    s
}

fn wide_policy() -> ConsolidationPolicy {
    ConsolidationPolicy {
        max_disrupted_nodes: 10,
        max_disrupted_percent: 100,
        ..ConsolidationPolicy::default()
    }
}

fn pdb(name: &str, app: &str, disruptions_allowed: u32) -> PodDisruptionBudget {
    PodDisruptionBudget {
        namespace: "ns".into(),
        name: name.into(),
        selector: Some(LabelSelector {
            match_labels: [("app".to_owned(), app.to_owned())].into(),
            match_expressions: vec![],
        }),
        min_available: None,
        max_unavailable: None,
        disruptions_allowed,
        current_healthy: 0,
        desired_healthy: 0,
        expected_pods: 0,
        labels: Labels::new(),
    }
}

/// The plan is empty and every node is blocked by the repeat.
fn assert_rejected(c: &Consolidation, snapshot: &ClusterSnapshot, kind: &str, identity: &str) {
    assert!(c.plan.steps.is_empty(), "{:#?}", c.plan.steps);
    assert!(c.removed_nodes.is_empty() && c.moves.is_empty());
    assert_eq!(c.blocked.len(), snapshot.nodes.len());
    for (_, b) in &c.blocked {
        let Blocked::InvalidSnapshot { duplicate } = b else {
            panic!("expected invalid_snapshot, got {b:?}");
        };
        assert_eq!(
            (duplicate.kind.as_str(), duplicate.identity.as_str()),
            (kind, identity)
        );
        assert_eq!(b.kind(), "invalid_snapshot");
    }
}

#[test]
fn the_small_cluster_consolidates_when_valid() {
    let snapshot = small_cluster();
    let c = plan_consolidation(
        &snapshot,
        None,
        catalog(),
        &cloudoptim::binpack::LpGuidedPacker::default(),
        &wide_policy(),
        now(),
    );
    assert_safe(&snapshot, None, &wide_policy(), &c);
    assert!(!c.removed_nodes.is_empty());
    assert!(c
        .plan
        .steps
        .iter()
        .any(|s| matches!(s.action, Action::Evict { .. })));
}

#[test]
fn two_pdbs_of_one_name_block_the_plan() {
    // The first allows no disruption, the second one: today the second
    // wins and the pods the first protects are evicted.
    let mut snapshot = small_cluster();
    snapshot.pdbs = vec![pdb("app-0", "app-0", 0), pdb("app-0", "app-0", 1)];
    let c = plan_consolidation(
        &snapshot,
        None,
        catalog(),
        &cloudoptim::binpack::LpGuidedPacker::default(),
        &wide_policy(),
        now(),
    );
    assert!(
        !c.plan
            .steps
            .iter()
            .any(|s| matches!(s.action, Action::Evict { .. })),
        "a pod the 0-disruption PDB covers is evicted"
    );
    assert_rejected(&c, &snapshot, "PodDisruptionBudget", "ns/app-0");
    match &c.blocked[0].1 {
        Blocked::InvalidSnapshot { duplicate } => {
            assert_eq!((duplicate.first, duplicate.second), (0, 1));
            assert_eq!(
                duplicate.to_string(),
                "PodDisruptionBudget ns/app-0 appears twice in the snapshot: pdbs[0] and pdbs[1]"
            );
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn two_nodes_of_one_name_block_the_plan() {
    let mut snapshot = small_cluster();
    let mut twin = node(7, "m6i.xlarge");
    twin.name = "n0".into();
    snapshot.nodes[0].name = "n0".into();
    snapshot.pods[0].node_name = Some("n0".into());
    snapshot.nodes.push(twin);
    let c = plan_consolidation(
        &snapshot,
        None,
        catalog(),
        &cloudoptim::binpack::LpGuidedPacker::default(),
        &wide_policy(),
        now(),
    );
    assert_rejected(&c, &snapshot, "Node", "n0");
}

#[test]
fn two_pods_of_one_name_on_one_node_block_the_plan() {
    let mut snapshot = small_cluster();
    let twin = snapshot.pods[0].clone();
    snapshot.pods.push(twin);
    let c = plan_consolidation(
        &snapshot,
        None,
        catalog(),
        &cloudoptim::binpack::LpGuidedPacker::default(),
        &wide_policy(),
        now(),
    );
    assert_rejected(&c, &snapshot, "Pod", "ns/pod-0");
}

#[test]
fn a_node_annotated_karpenter_do_not_disrupt_in_any_case_stays() {
    let mut snapshot = small_cluster();
    for n in &mut snapshot.nodes {
        n.annotations
            .insert("karpenter.sh/do-not-disrupt".into(), " True ".into());
    }
    // One node without it, for contrast: it has the room to go.
    snapshot.nodes[2].annotations.clear();
    let c = plan_consolidation(
        &snapshot,
        None,
        catalog(),
        &cloudoptim::binpack::LpGuidedPacker::default(),
        &wide_policy(),
        now(),
    );
    assert_safe(&snapshot, None, &wide_policy(), &c);
    let blocked: BTreeMap<&str, &Blocked> =
        c.blocked.iter().map(|(n, b)| (n.as_str(), b)).collect();
    for n in ["node-0", "node-1"] {
        assert_eq!(blocked.get(n), Some(&&Blocked::NodeDoNotDisrupt), "{n}");
        assert!(!c.removed_nodes.iter().any(|r| r == n));
    }
    assert_eq!(c.removed_nodes, ["node-2"]);
}

// ---------------------------------------------------------------- random clusters

fn node(i: usize, instance_type: &str) -> Node {
    let it = catalog().get(instance_type).unwrap();
    let allocatable = cloudoptim::eks::node_allocatable(it, 20 << 30);
    let name = format!("node-{i}");
    let labels: Labels = [
        ("kubernetes.io/hostname", name.as_str()),
        ("node.kubernetes.io/instance-type", instance_type),
        (
            "topology.kubernetes.io/zone",
            ["us-east-1a", "us-east-1b"][i % 2],
        ),
        ("eks.amazonaws.com/capacityType", "ON_DEMAND"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    let mut n = Node {
        name,
        provider_id: Some(format!("aws:///us-east-1a/i-{i:016x}")),
        instance_id: None,
        instance_type: None,
        zone: None,
        region: None,
        capacity_type: CapacityType::Unknown,
        labels,
        annotations: Labels::new(),
        taints: vec![],
        capacity: allocatable,
        allocatable,
        created_at: None,
        unschedulable: false,
        ready: true,
    };
    n.derive_from_labels();
    n
}

#[derive(Clone, Debug)]
struct PodSpec {
    cpu_millis: u64,
    memory_mib: u64,
    app: u8,
    flag: u8,
}

fn pod(i: usize, node: &str, spec: &PodSpec) -> Pod {
    let app = format!("app-{}", spec.app);
    Pod {
        namespace: "ns".into(),
        name: format!("pod-{i}"),
        uid: None,
        controller: (spec.flag != 1).then(|| OwnerRef {
            kind: "ReplicaSet".into(),
            name: format!("{app}-rs"),
        }),
        owner: None,
        node_name: Some(node.to_owned()),
        phase: PodPhase::Running,
        priority: 0,
        priority_class_name: None,
        containers: vec![Container {
            name: "c".into(),
            requests: Resources {
                cpu_millis: spec.cpu_millis,
                memory_bytes: spec.memory_mib << 20,
                ..Resources::ZERO
            },
            limits: Limits::default(),
            sidecar: false,
        }],
        init_containers: vec![],
        overhead: Resources::ZERO,
        labels: [("app".to_owned(), app)].into(),
        annotations: if spec.flag == 2 {
            [("karpenter.sh/do-not-disrupt".to_owned(), "true".to_owned())].into()
        } else {
            Labels::new()
        },
        tolerations: vec![],
        node_selector: Labels::new(),
        node_affinity: NodeAffinity::default(),
        pod_affinity: PodAffinity::default(),
        topology_spread: vec![],
        volumes: if spec.flag == 3 {
            vec![PodVolume {
                name: "scratch".into(),
                source: VolumeSource::EmptyDir {
                    in_memory: false,
                    size_limit_bytes: None,
                },
            }]
        } else {
            vec![]
        },
        container_statuses: vec![],
        created_at: None,
    }
}

fn cluster() -> impl Strategy<Value = ClusterSnapshot> {
    let types = prop::collection::vec(
        prop::sample::select(vec!["m6i.large", "m6i.xlarge", "c6i.2xlarge", "r6i.large"]),
        2..10,
    );
    let pods = prop::collection::vec(
        (50u64..2_000, 64u64..6_000, 0u8..4, 0u8..12).prop_map(
            |(cpu_millis, memory_mib, app, flag)| PodSpec {
                cpu_millis,
                memory_mib,
                app,
                flag,
            },
        ),
        0..60,
    );
    (types, pods, prop::collection::vec(0u32..3, 4)).prop_map(|(types, specs, allowed)| {
        let nodes: Vec<Node> = types.iter().enumerate().map(|(i, t)| node(i, t)).collect();
        let mut free: Vec<Resources> = nodes.iter().map(|n| n.allocatable).collect();
        let mut pods = Vec::new();
        // Place pods first-fit, so the cluster is feasible to begin with.
        for (i, spec) in specs.iter().enumerate() {
            let candidate = pod(i, "", spec);
            let need = candidate.requests();
            if let Some(n) = free.iter().position(|f| need.fits_within(f)) {
                free[n] = free[n].saturating_sub(need);
                pods.push(pod(i, &nodes[n].name, spec));
            }
        }
        let pdbs = (0..4u8)
            .map(|app| PodDisruptionBudget {
                namespace: "ns".into(),
                name: format!("app-{app}"),
                selector: Some(LabelSelector {
                    match_labels: [("app".to_owned(), format!("app-{app}"))].into(),
                    match_expressions: vec![],
                }),
                min_available: None,
                max_unavailable: None,
                disruptions_allowed: allowed[app as usize],
                current_healthy: 0,
                desired_healthy: 0,
                expected_pods: 0,
                labels: Labels::new(),
            })
            .collect();
        let mut s = ClusterSnapshot {
            nodes,
            pods,
            pdbs,
            ..ClusterSnapshot::default()
        };
        s.resolve_owners();
        s
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn every_plan_is_safe(snapshot in cluster(), budget in 1usize..5, paced in any::<bool>()) {
        let pdb_rule = if paced { PdbRule::OneAtATime } else { PdbRule::WholeNode };
        let policy = ConsolidationPolicy { max_disrupted_nodes: budget, max_disrupted_percent: 100, pdb_rule, ..ConsolidationPolicy::default() };
        let c = plan_consolidation(&snapshot, None, catalog(), &cloudoptim::binpack::LpGuidedPacker::default(), &policy, now());
        assert_safe_offline(&snapshot, &policy, &c);
        assert_safe_after(&snapshot, None, &policy, &c, false);
        prop_assert_eq!(c.removed_nodes.len() + c.blocked.len(), snapshot.nodes.len());
    }
}

#[test]
fn nodes_in_a_region_without_prices_are_unpriced_not_removed() {
    let mut snapshot = small_cluster();
    for n in &mut snapshot.nodes {
        n.labels
            .insert("topology.kubernetes.io/zone".into(), "eu-west-1a".into());
        n.derive_from_labels();
        assert_eq!(n.region.as_deref(), Some("eu-west-1"));
    }
    let c = plan_consolidation(
        &snapshot,
        None,
        catalog(),
        &cloudoptim::binpack::LpGuidedPacker::default(),
        &wide_policy(),
        now(),
    );
    assert!(c.plan.steps.is_empty(), "{:#?}", c.plan.steps);
    assert_eq!(c.blocked.len(), snapshot.nodes.len());
    for (_, b) in &c.blocked {
        let Blocked::Unpriced { why } = b else {
            panic!("expected unpriced, got {b:?}");
        };
        assert!(
            why.contains("eu-west-1") && why.contains("m6i.xlarge"),
            "{why}"
        );
    }
}

#[test]
fn the_environment_comes_from_the_nodes() {
    use cloudoptim::binpack::PackingPolicy;
    use cloudoptim::catalog::Architecture;
    use cloudoptim::environment::NodeEnvironment;
    let mut snapshot = small_cluster();
    for n in &mut snapshot.nodes {
        n.labels.insert("kubernetes.io/arch".into(), "arm64".into());
    }
    let env = NodeEnvironment::of(&snapshot);
    assert_eq!(env.region.as_deref(), Some("us-east-1"));
    assert_eq!(env.zones, ["us-east-1a", "us-east-1b"]);
    assert_eq!(env.architectures, [Architecture::Arm64]);
    // No DaemonSet objects or pods: the caller's default stays.
    assert_eq!(env.daemonset_overhead, None);
    let policy = env.packing_policy(PackingPolicy::default());
    assert_eq!(policy.architectures, [Architecture::Arm64]);
    assert_eq!(
        policy.daemonset_overhead,
        PackingPolicy::default().daemonset_overhead
    );
    // Nodes that disagree on the region: none is assumed.
    snapshot.nodes[0]
        .labels
        .insert("topology.kubernetes.io/region".into(), "us-west-2".into());
    snapshot.nodes[0].derive_from_labels();
    let env = NodeEnvironment::of(&snapshot);
    assert_eq!(env.region, None);
    assert_eq!(env.regions.len(), 2);
    assert_eq!(env.region_or("ap-south-1"), "ap-south-1");
    // DaemonSet pods without DaemonSet objects: the most any node carries.
    let mut ds = snapshot.pods[0].clone();
    ds.name = "ds-0".into();
    ds.controller = Some(OwnerRef {
        kind: "DaemonSet".into(),
        name: "agent".into(),
    });
    snapshot.pods.push(ds.clone());
    let overhead = NodeEnvironment::of(&snapshot).daemonset_overhead.unwrap();
    assert_eq!(overhead.cpu_millis, ds.requests().cpu_millis);
    assert_eq!(overhead.pods, 1);
}

// ---------------------------------------------------------------- node rightsizing

use cloudoptim::catalog::Architecture;
use cloudoptim::consolidation::ReplacementPolicy;
use cloudoptim::node_rightsizing::{node_rightsizing, NodeRightsizing};

/// One `instance_type` node in us-east-1a running one pod of `cpu_millis`
/// and `memory_mib` plus a DaemonSet pod of 100m / 128 MiB.
fn one_node(instance_type: &str, cpu_millis: u64, memory_mib: u64) -> ClusterSnapshot {
    let n = node(0, instance_type);
    let spec = PodSpec {
        cpu_millis,
        memory_mib,
        app: 0,
        flag: 0,
    };
    let mut ds = pod(
        1,
        &n.name,
        &PodSpec {
            cpu_millis: 100,
            memory_mib: 128,
            app: 9,
            flag: 0,
        },
    );
    ds.controller = Some(OwnerRef {
        kind: "DaemonSet".into(),
        name: "agent".into(),
    });
    let pods = vec![pod(0, &n.name, &spec), ds];
    let mut s = ClusterSnapshot {
        nodes: vec![n],
        pods,
        ..ClusterSnapshot::default()
    };
    s.resolve_owners();
    s
}

fn rightsize(snapshot: &ClusterSnapshot, policy: &ConsolidationPolicy) -> NodeRightsizing {
    let r = node_rightsizing(snapshot, None, catalog(), policy, now());
    assert_eq!(r.nodes.len(), snapshot.nodes.len());
    // The plan is consolidation's: every promise holds, on the simulated result too.
    assert_safe_offline(snapshot, policy, &r.plan);
    assert_safe_after(snapshot, None, policy, &r.plan, true);
    for n in &r.nodes {
        assert_eq!(n.planned, n.why_not.is_none(), "{n:?}");
        assert_eq!(
            n.planned,
            r.plan.replacements.iter().any(|p| p.node == n.node),
            "{n:?}"
        );
    }
    r
}

/// What a node's pods (DaemonSet pods included) request.
fn need_of(snapshot: &ClusterSnapshot, node: &str) -> Resources {
    snapshot
        .pods_on(node)
        .fold(Resources::ZERO, |a, p| a.saturating_add(p.requests()))
}

fn with_headroom(r: Resources, percent: u64) -> Resources {
    Resources {
        cpu_millis: r.cpu_millis + r.cpu_millis * percent / 100,
        memory_bytes: r.memory_bytes + r.memory_bytes * percent / 100,
        ..r
    }
}

#[test]
fn an_oversized_node_is_replaced_by_a_cheaper_type_of_another_family() {
    let snapshot = one_node("m5.4xlarge", 500, 1024);
    let r = rightsize(&snapshot, &wide_policy());
    let n = &r.nodes[0];
    let to = n.replacement.as_ref().expect("a cheaper type fits");
    assert!(n.planned);
    assert_ne!(catalog().get(&to.instance_type).unwrap().family, "m5");
    assert!(n.saved_usd_per_hour().unwrap() >= wide_policy().min_savings_usd_per_hour);
    assert_eq!(
        r.plan.savings.net_saved_usd_per_hour,
        n.saved_usd_per_hour().unwrap()
    );
    // The launch comes before the cordon.
    let kinds: Vec<&str> = r.plan.plan.steps.iter().map(|s| s.action.kind()).collect();
    let launch = kinds.iter().position(|k| *k == "launch_instance").unwrap();
    let cordon = kinds.iter().position(|k| *k == "cordon").unwrap();
    assert!(launch < cordon, "{kinds:?}");
    // Today's rule (own family only) finds a smaller m5 instead, saving less.
    let own = ConsolidationPolicy {
        replacement: ReplacementPolicy::own_family(),
        ..wide_policy()
    };
    let o = rightsize(&snapshot, &own);
    let to_own = o.nodes[0].replacement.as_ref().unwrap();
    assert_eq!(catalog().get(&to_own.instance_type).unwrap().family, "m5");
    assert!(to_own.usd_per_hour >= to.usd_per_hour);
}

#[test]
fn a_node_selector_pinning_a_family_keeps_it() {
    let mut snapshot = one_node("m5.4xlarge", 500, 1024);
    snapshot.pods[0]
        .node_selector
        .insert("karpenter.k8s.aws/instance-family".into(), "m5".into());
    let r = rightsize(&snapshot, &wide_policy());
    let to = r.nodes[0].replacement.as_ref().expect("a smaller m5 fits");
    assert_eq!(catalog().get(&to.instance_type).unwrap().family, "m5");
    // A selector on a label the new node would not carry (the old node's
    // own label): no replacement can promise it.
    let mut custom = one_node("m5.4xlarge", 500, 1024);
    custom.nodes[0]
        .labels
        .insert("team".into(), "payments".into());
    custom.pods[0]
        .node_selector
        .insert("team".into(), "payments".into());
    let r = rightsize(&custom, &wide_policy());
    assert!(r.nodes[0].replacement.is_none());
    assert_eq!(r.nodes[0].why_not, Some(Blocked::NoCheaperType));
    // Required node affinity on the instance type is honoured the same way.
    let mut pinned = one_node("m5.4xlarge", 500, 1024);
    use cloudoptim::snapshot::{NodeSelectorTerm, SelectorOperator, SelectorRequirement};
    pinned.pods[0].node_affinity.required = vec![NodeSelectorTerm {
        match_expressions: vec![SelectorRequirement {
            key: "node.kubernetes.io/instance-type".into(),
            operator: SelectorOperator::In,
            values: vec!["m5.2xlarge".into(), "m5.4xlarge".into()],
        }],
        match_fields: vec![],
    }];
    let r = rightsize(&pinned, &wide_policy());
    assert_eq!(
        r.nodes[0]
            .replacement
            .as_ref()
            .map(|t| t.instance_type.as_str()),
        Some("m5.2xlarge")
    );
}

#[test]
fn an_arm64_node_never_gets_an_x86_type() {
    let mut snapshot = one_node("m6g.4xlarge", 500, 1024);
    snapshot.nodes[0]
        .labels
        .insert("kubernetes.io/arch".into(), "arm64".into());
    let r = rightsize(&snapshot, &wide_policy());
    let to = r.nodes[0]
        .replacement
        .as_ref()
        .expect("a cheaper arm64 type fits");
    assert_eq!(
        catalog().get(&to.instance_type).unwrap().architecture,
        Architecture::Arm64
    );
    // And an x86-only requirement leaves it with nothing, rather than x86.
    let x86_only = ConsolidationPolicy {
        replacement: ReplacementPolicy {
            architectures: vec![Architecture::X86_64],
            ..ReplacementPolicy::default()
        },
        ..wide_policy()
    };
    let r = rightsize(&snapshot, &x86_only);
    assert!(r.nodes[0].replacement.is_none());
    assert!(r.plan.plan.steps.is_empty());
}

#[test]
fn the_headroom_is_respected() {
    // 1.8 cores + 0.1 for the DaemonSet fit a 2-vCPU node's 1.93 allocatable
    // cores, but not with 10% on top.
    let snapshot = one_node("m5.4xlarge", 1800, 1024);
    let need = need_of(&snapshot, "node-0");
    let tight = ConsolidationPolicy {
        replacement: ReplacementPolicy {
            headroom_percent: 0,
            ..ReplacementPolicy::default()
        },
        ..wide_policy()
    };
    let t = rightsize(&snapshot, &tight);
    let t = t.nodes[0].replacement.clone().unwrap();
    assert!(need.fits_within(&t.allocatable));
    assert!(
        !with_headroom(need, 10).fits_within(&t.allocatable),
        "the test needs a type that only fits without headroom"
    );
    let r = rightsize(&snapshot, &wide_policy());
    let h = r.nodes[0].replacement.clone().unwrap();
    assert!(with_headroom(need, 10).fits_within(&h.allocatable));
    assert!(h.usd_per_hour > t.usd_per_hour);
}

#[test]
fn an_unpriced_region_gives_no_plan_and_says_it_cannot_tell() {
    let mut snapshot = small_cluster();
    for n in &mut snapshot.nodes {
        n.labels
            .insert("topology.kubernetes.io/zone".into(), "eu-west-1a".into());
        n.derive_from_labels();
    }
    let r = rightsize(&snapshot, &wide_policy());
    assert!(r.plan.plan.steps.is_empty());
    for n in &r.nodes {
        assert!(n.replacement.is_none() && n.usd_per_hour.is_none());
        let Some(Blocked::Unpriced { why }) = &n.why_not else {
            panic!("{n:?}");
        };
        assert!(why.contains("eu-west-1"), "{why}");
        assert!(n
            .why_not
            .as_ref()
            .unwrap()
            .to_string()
            .starts_with("cannot tell"));
    }
}

#[test]
fn a_snapshot_without_pods_is_refused() {
    let mut snapshot = small_cluster();
    snapshot.pods.clear();
    let r = rightsize(&snapshot, &wide_policy());
    assert!(r.plan.plan.steps.is_empty());
    assert!(
        r.nodes
            .iter()
            .all(|n| n.replacement.is_none()
                && matches!(n.why_not, Some(Blocked::PodsUnknown { .. })))
    );
}

#[test]
fn a_blocked_node_still_gets_its_recommendation_and_the_reason() {
    let mut snapshot = one_node("m5.4xlarge", 500, 1024);
    snapshot.pods[0].controller = None;
    let r = rightsize(&snapshot, &wide_policy());
    let n = &r.nodes[0];
    assert!(n.replacement.is_some() && !n.planned);
    assert!(matches!(n.why_not, Some(Blocked::BarePod { .. })), "{n:?}");
}

#[test]
fn the_demo_cluster_rightsizes_within_its_budget() {
    let demo = DemoEnvironment::generate(&DemoConfig::default(), catalog()).unwrap();
    let policy = ConsolidationPolicy::default();
    let r = node_rightsizing(&demo.snapshot, Some(&demo.aws), catalog(), &policy, now());
    assert_safe(&demo.snapshot, Some(&demo.aws), &policy, &r.plan);
    assert!(r.plan.removed_nodes.len() <= 9, "10% of 86 nodes");
    assert!(r.plan.multi_replacements.is_empty());
    assert_eq!(r.plan.removed_nodes.len(), r.plan.replacements.len());
    assert!(r.possible_saved_usd_per_hour().unwrap() >= r.plan.savings.net_saved_usd_per_hour);
}

#[test]
fn node_rightsizing_of_unpriced_nodes_cannot_tell_its_savings() {
    let demo = DemoEnvironment::generate(&DemoConfig::default(), catalog()).unwrap();
    let mut snapshot = demo.snapshot.clone();
    for n in &mut snapshot.nodes {
        n.instance_type = Some("x9.unknown".into());
    }
    let r = node_rightsizing(
        &snapshot,
        None,
        catalog(),
        &ConsolidationPolicy::default(),
        now(),
    );
    assert_eq!(r.possible_saved_usd_per_hour(), None);
    assert_eq!(r.unpriced_nodes(), snapshot.nodes.len());
    assert!(r.plan.replacements.is_empty());
}

/// The cheapest type that may replace `node` by the rules of the default
/// [`ReplacementPolicy`], found by brute force: the oracle of the planner's search.
fn cheapest_by_brute_force(
    snapshot: &ClusterSnapshot,
    node: &Node,
    policy: &ConsolidationPolicy,
) -> Option<(String, i64)> {
    use cloudoptim::catalog::OperatingSystem;
    use cloudoptim::pricing::instance_price;
    let current = catalog().get(node.instance_type.as_deref()?)?;
    let price = node_price(node, catalog(), &policy.region)?.usd_per_hour;
    let need = with_headroom(need_of(snapshot, &node.name), 10);
    let region = node.region.as_deref().unwrap_or(&policy.region);
    let mut best: Option<(String, i64)> = None;
    for it in catalog().instance_types() {
        let allowed = it.architecture == current.architecture
            && it.name != current.name
            && (it.family == current.family
                || (!it.burstable && !it.bare_metal && it.generation >= 3));
        let Some(p) = instance_price(it, region, CapacityType::OnDemand, OperatingSystem::Linux)
        else {
            continue;
        };
        let p = p.usd_per_hour;
        if !allowed
            || p.micro_usd() <= 0
            || price - p < policy.min_savings_usd_per_hour
            || !need.fits_within(&cloudoptim::eks::node_allocatable(
                it,
                node.capacity.ephemeral_storage_bytes,
            ))
        {
            continue;
        }
        let labels = cloudoptim::snapshot::node_labels::for_new_node(
            it,
            region,
            node.zone.as_deref(),
            CapacityType::OnDemand,
            OperatingSystem::Linux,
        );
        let accepted = snapshot.pods_on(&node.name).all(|pod| {
            pod.node_selector
                .iter()
                .all(|(k, v)| labels.get(k) == Some(v))
        });
        let better = best
            .as_ref()
            .is_none_or(|(name, b)| (p.micro_usd(), it.name.as_str()) < (*b, name.as_str()));
        if accepted && better {
            best = Some((it.name.clone(), p.micro_usd()));
        }
    }
    best
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn every_proposed_replacement_fits_its_pods_and_is_the_cheapest(
        snapshot in cluster(),
        pinned in prop::collection::vec(any::<bool>(), 60),
        budget in 1usize..5,
    ) {
        // Some pods pin their node's family.
        let mut snapshot = snapshot;
        let families: BTreeMap<String, String> = snapshot
            .nodes
            .iter()
            .map(|n| {
                let t = n.instance_type.clone().unwrap();
                (n.name.clone(), catalog().get(&t).unwrap().family.clone())
            })
            .collect();
        for (pod, pin) in snapshot.pods.iter_mut().zip(&pinned) {
            if *pin {
                let family = families[pod.node_name.as_deref().unwrap()].clone();
                pod.node_selector
                    .insert("karpenter.k8s.aws/instance-family".into(), family);
            }
        }
        let policy = ConsolidationPolicy {
            max_disrupted_nodes: budget,
            max_disrupted_percent: 100,
            ..ConsolidationPolicy::default()
        };
        let r = node_rightsizing(&snapshot, None, catalog(), &policy, now());
        assert_safe_offline(&snapshot, &policy, &r.plan);
        assert_safe_after(&snapshot, None, &policy, &r.plan, false);
        prop_assert!(r.plan.replacements.len() <= budget);
        if snapshot.why_pods_unknown().is_some() {
            // No pod anywhere: refused, as consolidation refuses it.
            prop_assert!(r.plan.plan.steps.is_empty());
            let refused = r.nodes.iter().all(|n| {
                n.replacement.is_none() && matches!(n.why_not, Some(Blocked::PodsUnknown { .. }))
            });
            prop_assert!(refused);
            return Ok(());
        }
        for n in &r.nodes {
            let node = snapshot.node(&n.node).unwrap();
            let oracle = cheapest_by_brute_force(&snapshot, node, &policy);
            match &n.replacement {
                Some(to) => {
                    let it = catalog().get(&to.instance_type).unwrap();
                    let need = with_headroom(need_of(&snapshot, &n.node), 10);
                    prop_assert!(need.fits_within(&to.allocatable), "{need} > {}", to.allocatable);
                    prop_assert!(n.saved_usd_per_hour().unwrap() >= policy.min_savings_usd_per_hour);
                    prop_assert_eq!(
                        it.architecture,
                        catalog().get(node.instance_type.as_deref().unwrap()).unwrap().architecture
                    );
                    for pod in snapshot.pods_on(&n.node) {
                        if let Some(f) = pod.node_selector.get("karpenter.k8s.aws/instance-family") {
                            prop_assert_eq!(f, &it.family);
                        }
                    }
                    prop_assert_eq!(
                        oracle.map(|(_, p)| p),
                        Some(to.usd_per_hour.micro_usd()),
                        "{} → {}", n.node, to.instance_type
                    );
                }
                None => {
                    prop_assert_eq!(oracle, None, "{}: {:?}", n.node, n.why_not);
                    prop_assert_eq!(n.why_not.clone(), Some(Blocked::NoCheaperType));
                }
            }
        }
    }
}

#[test]
fn a_node_group_node_is_told_its_cheaper_type_but_not_replaced() {
    let mut snapshot = one_node("m5.4xlarge", 500, 1024);
    snapshot.nodes[0]
        .labels
        .insert("eks.amazonaws.com/nodegroup".into(), "general".into());
    let group = cloudoptim::inventory::AutoScalingGroup {
        name: "eks-general".into(),
        min_size: 0,
        max_size: 3,
        desired_capacity: 1,
        instance_ids: vec![snapshot.nodes[0].instance_id.clone().unwrap()],
        lifecycle_wait_instance_ids: vec![],
        tags: Default::default(),
    };
    let account = AwsInventory {
        region: "us-east-1".into(),
        auto_scaling_groups: vec![group],
        ..AwsInventory::default()
    };
    let policy = wide_policy();
    let r = node_rightsizing(&snapshot, Some(&account), catalog(), &policy, now());
    assert_safe(&snapshot, Some(&account), &policy, &r.plan);
    let n = &r.nodes[0];
    assert!(n.replacement.is_some() && !n.planned, "{n:?}");
    assert!(
        matches!(&n.why_not, Some(Blocked::NodeGroupType { node_group }) if node_group == "general"),
        "{n:?}"
    );
    assert!(r.plan.plan.steps.is_empty());
}

// ---------------------------------------------------------------- spot conversion

use cloudoptim::spot::conversion::plan_spot_conversion;

fn to_spot(snapshot: &ClusterSnapshot, policy: &ConsolidationPolicy) -> Consolidation {
    let c = plan_spot_conversion(snapshot, None, catalog(), policy, &BTreeSet::new(), now());
    assert_eq!(c.plan.engine, "spot-conversion");
    assert_safe(snapshot, None, policy, &c);
    assert_eq!(
        c.removed_nodes.len() + c.blocked.len(),
        snapshot.nodes.len()
    );
    assert!(c.moves.iter().all(|m| m.to.starts_with("new ")));
    for r in &c.replacements {
        assert_eq!(r.capacity_type, CapacityType::Spot, "{r:?}");
        let it = catalog().get(&r.instance_type).unwrap();
        let advice = it
            .spot_advice("us-east-1", cloudoptim::catalog::OperatingSystem::Linux)
            .expect("only types the Spot Advisor knows");
        if let Some(ceiling) = policy.replacement.max_spot_interruption {
            assert!(advice.interruption <= ceiling, "{r:?}: {advice:?}");
        }
    }
    c
}

#[test]
fn an_on_demand_node_goes_to_spot_launch_first() {
    let snapshot = one_node("m6i.xlarge", 1_500, 4096);
    let policy = ConsolidationPolicy::spot_conversion();
    let c = to_spot(&snapshot, &policy);
    assert_eq!(c.removed_nodes, ["node-0"]);
    let r = &c.replacements[0];
    assert_eq!(r.zone, "us-east-1a");
    let need = with_headroom(need_of(&snapshot, "node-0"), 10);
    assert!(need.fits_within(&r.allocatable), "{r:?}");
    let old = node_price(&snapshot.nodes[0], catalog(), "us-east-1").unwrap();
    assert!(r.usd_per_hour < old.usd_per_hour);
    assert_eq!(
        c.savings.net_saved_usd_per_hour,
        old.usd_per_hour - r.usd_per_hour
    );
    let kinds: Vec<&str> = c.plan.steps.iter().map(|s| s.action.kind()).collect();
    assert_eq!(kinds[0], "launch_instance", "{kinds:?}");
    assert!(kinds.contains(&"cordon") && kinds.contains(&"terminate_instance"));
    assert!(matches!(
        &c.plan.steps[0].action,
        Action::LaunchInstance {
            capacity_type: CapacityType::Spot,
            ..
        }
    ));
    assert!(c.plan.steps[0].reason.contains("goes to spot"));
}

#[test]
fn a_pool_out_of_capacity_is_not_bought_from() {
    let snapshot = one_node("m6i.xlarge", 1_500, 4096);
    let policy = ConsolidationPolicy::spot_conversion();
    let first = to_spot(&snapshot, &policy);
    let r = &first.replacements[0];
    let unavailable: BTreeSet<(String, String)> =
        [(r.instance_type.clone(), r.zone.clone())].into();
    let next = plan_spot_conversion(&snapshot, None, catalog(), &policy, &unavailable, now());
    assert_safe(&snapshot, None, &policy, &next);
    let other = &next.replacements[0];
    assert_ne!(other.instance_type, r.instance_type);
    assert_eq!(other.zone, r.zone);
    assert!(other.usd_per_hour >= r.usd_per_hour, "the next cheapest");
}

#[test]
fn spot_nodes_and_pods_pinned_to_on_demand_stay() {
    // Already spot: nothing to convert.
    let mut snapshot = one_node("m6i.xlarge", 1_500, 4096);
    snapshot.nodes[0]
        .labels
        .insert("eks.amazonaws.com/capacityType".into(), "SPOT".into());
    snapshot.nodes[0].derive_from_labels();
    let c = to_spot(&snapshot, &ConsolidationPolicy::spot_conversion());
    assert!(matches!(
        c.blocked[0].1,
        Blocked::NotOnDemand {
            capacity_type: CapacityType::Spot
        }
    ));
    assert!(c.plan.steps.is_empty());
    // A pod that must run on on-demand keeps its node, as Karpenter's label says.
    for (key, value) in [
        ("karpenter.sh/capacity-type", "on-demand"),
        ("eks.amazonaws.com/capacityType", "ON_DEMAND"),
    ] {
        let mut snapshot = one_node("m6i.xlarge", 1_500, 4096);
        snapshot.pods[0]
            .node_selector
            .insert(key.into(), value.into());
        let c = to_spot(&snapshot, &ConsolidationPolicy::spot_conversion());
        assert!(c.plan.steps.is_empty(), "{key}");
        assert_eq!(c.blocked[0].1, Blocked::NoCheaperType, "{key}");
    }
    // An unknown capacity type cannot be priced as on-demand: left alone.
    let mut snapshot = one_node("m6i.xlarge", 1_500, 4096);
    snapshot.nodes[0]
        .labels
        .remove("eks.amazonaws.com/capacityType");
    snapshot.nodes[0].capacity_type = CapacityType::Unknown;
    let c = to_spot(&snapshot, &ConsolidationPolicy::spot_conversion());
    assert!(matches!(c.blocked[0].1, Blocked::NotOnDemand { .. }));
}

#[test]
fn one_spot_pool_takes_at_most_its_share_of_a_plan() {
    // Four alike nodes in two zones: with one node per pool, no two
    // replacements share a type and zone.
    let mut nodes = Vec::new();
    let mut pods = Vec::new();
    for i in 0..4 {
        let n = node(i, "m6i.xlarge");
        pods.push(pod(
            i,
            &n.name,
            &PodSpec {
                cpu_millis: 1_200,
                memory_mib: 3_000,
                app: 0,
                flag: 0,
            },
        ));
        nodes.push(n);
    }
    let mut snapshot = ClusterSnapshot {
        nodes,
        pods,
        ..ClusterSnapshot::default()
    };
    snapshot.resolve_owners();
    let policy = ConsolidationPolicy {
        max_disrupted_nodes: 4,
        max_disrupted_percent: 100,
        ..ConsolidationPolicy::spot_conversion()
    };
    let c = to_spot(&snapshot, &policy);
    assert_eq!(c.replacements.len(), 4);
    let pools: BTreeSet<(&str, &str)> = c
        .replacements
        .iter()
        .map(|r| (r.instance_type.as_str(), r.zone.as_str()))
        .collect();
    assert_eq!(pools.len(), 4, "{pools:?}");
    // Without the limit the cheapest pool of each zone takes both of its nodes.
    let mut unlimited = policy.clone();
    unlimited.replacement.max_per_spot_pool = 0;
    let u = to_spot(&snapshot, &unlimited);
    let pools: BTreeSet<(&str, &str)> = u
        .replacements
        .iter()
        .map(|r| (r.instance_type.as_str(), r.zone.as_str()))
        .collect();
    assert_eq!(pools.len(), 2, "{pools:?}");
    assert!(u.savings.net_saved_usd_per_hour >= c.savings.net_saved_usd_per_hour);
    // The budget holds.
    let two = ConsolidationPolicy {
        max_disrupted_nodes: 2,
        ..policy
    };
    let t = to_spot(&snapshot, &two);
    assert_eq!(t.replacements.len(), 2);
    assert_eq!(
        t.blocked
            .iter()
            .filter(|(_, b)| *b == Blocked::Budget)
            .count(),
        2
    );
}

#[test]
fn the_demo_cluster_converts_safely() {
    // The demo's nodes are all on-demand, most in node groups (whose Auto
    // Scaling group launches its own capacity type) or holding pods that
    // cannot move: none of those is touched, and each says why.
    let demo = DemoEnvironment::generate(&DemoConfig::default(), catalog()).unwrap();
    let policy = ConsolidationPolicy {
        max_disrupted_nodes: 100,
        max_disrupted_percent: 100,
        ..ConsolidationPolicy::spot_conversion()
    };
    let c = plan_spot_conversion(
        &demo.snapshot,
        Some(&demo.aws),
        catalog(),
        &policy,
        &BTreeSet::new(),
        now(),
    );
    assert_safe(&demo.snapshot, Some(&demo.aws), &policy, &c);
    let kinds: BTreeSet<&str> = c.blocked.iter().map(|(_, b)| b.kind()).collect();
    for k in ["node_group_type", "do_not_disrupt"] {
        assert!(kinds.contains(k), "{k} missing from {kinds:?}");
    }
    for n in &c.removed_nodes {
        let labels = &demo.snapshot.node(n).unwrap().labels;
        assert!(!labels.contains_key("eks.amazonaws.com/nodegroup"), "{n}");
    }
    // A synthetic cluster of plain on-demand nodes: converted within the
    // budget, each onto a calm pool of its own.
    let snapshot = cloudoptim::demo::synthetic_cluster(60, 1_200, 7, catalog());
    let policy = ConsolidationPolicy {
        max_disrupted_nodes: 20,
        max_disrupted_percent: 100,
        ..ConsolidationPolicy::spot_conversion()
    };
    let c = to_spot(&snapshot, &policy);
    assert!(!c.replacements.is_empty(), "{:?}", c.blocked);
    assert!(c.replacements.len() <= 20);
    assert!(c.savings.net_saved_usd_per_hour > cloudoptim::UsdPerHour::ZERO);
    for n in &c.removed_nodes {
        let node = snapshot.node(n).unwrap();
        assert_eq!(node.capacity_type, CapacityType::OnDemand, "{n}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn every_spot_conversion_is_safe(snapshot in cluster(), budget in 1usize..5, per_pool in 0u32..3) {
        let mut policy = ConsolidationPolicy { max_disrupted_nodes: budget, max_disrupted_percent: 100, ..ConsolidationPolicy::spot_conversion() };
        policy.replacement.max_per_spot_pool = per_pool;
        let c = plan_spot_conversion(&snapshot, None, catalog(), &policy, &BTreeSet::new(), now());
        assert_safe_offline(&snapshot, &policy, &c);
        assert_safe_after(&snapshot, None, &policy, &c, false);
        prop_assert!(c.replacements.len() <= budget);
        prop_assert!(c.replacements.iter().all(|r| r.capacity_type == CapacityType::Spot));
        if per_pool > 0 {
            let mut per: BTreeMap<(&str, &str), u32> = BTreeMap::new();
            for r in &c.replacements {
                *per.entry((r.instance_type.as_str(), r.zone.as_str())).or_default() += 1;
            }
            prop_assert!(per.values().all(|&n| n <= per_pool), "{:?}", per);
        }
    }
}

// ---------------------------------------------------------------- steady state

use cloudoptim::consolidation::until_steady;

fn bill(s: &ClusterSnapshot) -> i64 {
    s.nodes
        .iter()
        .filter_map(|n| node_price(n, catalog(), "us-east-1"))
        .map(|p| p.usd_per_hour.micro_usd())
        .sum()
}

#[test]
fn iterating_reaches_a_fixed_point_on_the_demo() {
    let demo = DemoEnvironment::generate(&DemoConfig::default(), catalog()).unwrap();
    let policy = ConsolidationPolicy::default();
    let packer = cloudoptim::binpack::LpGuidedPacker::default();
    let steady = until_steady(
        &demo.snapshot,
        Some(&demo.aws),
        catalog(),
        &packer,
        &policy,
        now(),
        100,
    )
    .unwrap();
    assert!(steady.converged, "{:?}", steady.stopped);
    assert!(
        steady.rounds.len() > 1,
        "one plan's budget is not the whole way"
    );
    // The fixed point: one more plan on the result finds nothing worth it.
    let again = plan_consolidation(
        &steady.snapshot,
        steady.account.as_ref(),
        catalog(),
        &packer,
        &policy,
        now(),
    );
    assert!(
        again.plan.steps.is_empty()
            || again.savings.net_saved_usd_per_hour < policy.min_savings_usd_per_hour
    );
    // What the rounds say they save is what the bill says.
    assert_eq!(
        bill(&demo.snapshot) - bill(&steady.snapshot),
        steady.saved_usd_per_hour().micro_usd()
    );
    let first = plan_consolidation(
        &demo.snapshot,
        Some(&demo.aws),
        catalog(),
        &packer,
        &policy,
        now(),
    );
    assert!(steady.saved_usd_per_hour() >= first.savings.net_saved_usd_per_hour);
    // No pod lost on the way (DaemonSet and mirror pods go with their node).
    let running = |s: &ClusterSnapshot| s.pods.iter().filter(|p| p.moves_with_node()).count();
    assert_eq!(running(&steady.snapshot), running(&demo.snapshot));
    // The bound holds for the steady state and for the cluster as it was.
    let bound = steady
        .bound
        .as_ref()
        .expect("the demo's pods and prices are known");
    assert!(bound.usd_per_hour.micro_usd() <= bill(&steady.snapshot));
    assert!(bound.usd_per_hour.micro_usd() <= bill(&demo.snapshot));
    assert!(bound.staying_nodes > 0 && bound.staying_usd_per_hour <= bound.usd_per_hour);
    eprintln!(
        "demo: {} rounds, ${:.2}/h → ${:.2}/h, saves ${:.2}/h (one plan: ${:.2}/h)",
        steady.rounds.len(),
        bill(&demo.snapshot) as f64 / 1e6,
        bill(&steady.snapshot) as f64 / 1e6,
        steady.saved_usd_per_hour().usd(),
        first.savings.net_saved_usd_per_hour.usd()
    );
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn iterating_stays_safe_and_stops(snapshot in cluster(), budget in 1usize..4, paced in any::<bool>()) {
        let pdb_rule = if paced { PdbRule::OneAtATime } else { PdbRule::WholeNode };
        let policy = ConsolidationPolicy { max_disrupted_nodes: budget, max_disrupted_percent: 100, pdb_rule, ..ConsolidationPolicy::default() };
        let packer = cloudoptim::binpack::LpGuidedPacker::default();
        let steady = until_steady(&snapshot, None, catalog(), &packer, &policy, now(), 40).unwrap();
        prop_assert!(steady.converged || steady.stopped.is_some());
        prop_assert!(steady.rounds.len() <= snapshot.nodes.len() * 2 + 1);
        // Every pod that moves with its node still runs.
        let running = |s: &ClusterSnapshot| s.pods.iter().filter(|p| p.moves_with_node()).count();
        prop_assert_eq!(running(&steady.snapshot), running(&snapshot));
        prop_assert_eq!(bill(&snapshot) - bill(&steady.snapshot), steady.saved_usd_per_hour().micro_usd());
        // No state the iteration reached, first or last, costs less than the
        // bound; a cluster with nodes but no pods cannot tell.
        if snapshot.why_pods_unknown().is_some() {
            prop_assert!(steady.bound.is_none());
            return Ok(());
        }
        let bound = steady.bound.as_ref().expect("random clusters are priced");
        prop_assert!(bound.usd_per_hour.micro_usd() <= bill(&steady.snapshot));
        prop_assert!(bound.usd_per_hour.micro_usd() <= bill(&snapshot));
        prop_assert_eq!(bound.usd_per_hour, bound.staying_usd_per_hour + bound.movable_usd_per_hour);
    }
}

// ------------------------------------------------------------ consolidation bound

use cloudoptim::consolidation::consolidation_bound;

/// A do-not-disrupt node (an m6i.xlarge with a 1-core pod) and an m6i.large
/// with one movable pod of `cpu_millis`.
fn one_staying_one_movable(cpu_millis: u64) -> ClusterSnapshot {
    let pinned = PodSpec {
        cpu_millis: 1_000,
        memory_mib: 1_024,
        app: 0,
        flag: 2,
    };
    let movable = PodSpec {
        cpu_millis,
        memory_mib: 1_024,
        app: 1,
        flag: 0,
    };
    ClusterSnapshot {
        nodes: vec![node(0, "m6i.xlarge"), node(1, "m6i.large")],
        pods: vec![pod(0, "node-0", &pinned), pod(1, "node-1", &movable)],
        ..ClusterSnapshot::default()
    }
}

fn bound_of(snapshot: &ClusterSnapshot) -> cloudoptim::consolidation::ConsolidationBound {
    let policy = wide_policy();
    let plan = plan_consolidation(
        snapshot,
        None,
        catalog(),
        &cloudoptim::binpack::LpGuidedPacker::default(),
        &policy,
        now(),
    );
    consolidation_bound(snapshot, catalog(), &policy, &plan).expect("priced, pods known")
}

#[test]
fn the_consolidation_bound_is_the_staying_nodes_when_the_rest_fits_on_them() {
    let snapshot = one_staying_one_movable(500);
    let b = bound_of(&snapshot);
    let xlarge = node_price(&snapshot.nodes[0], catalog(), "us-east-1")
        .unwrap()
        .usd_per_hour;
    assert_eq!((b.staying_nodes, b.movable_pods), (1, 1));
    assert_eq!(b.staying_usd_per_hour, xlarge);
    // Half a core fits in the pinned node's free room: nothing more is needed.
    assert_eq!(b.movable_usd_per_hour, cloudoptim::UsdPerHour::ZERO);
    assert_eq!(b.usd_per_hour, xlarge);
}

#[test]
fn the_consolidation_bound_prices_what_does_not_fit_on_the_staying_nodes() {
    // 3.5 cores of the xlarge's ~3.9 allocatable are taken: 1.9 cores of the
    // movable pod need another node, which costs something, but no more than
    // the m6i.large that holds it today.
    let mut snapshot = one_staying_one_movable(1_900);
    snapshot.pods[0].containers[0].requests.cpu_millis = 3_500;
    let b = bound_of(&snapshot);
    let large = node_price(&snapshot.nodes[1], catalog(), "us-east-1")
        .unwrap()
        .usd_per_hour;
    assert!(
        b.movable_usd_per_hour > cloudoptim::UsdPerHour::ZERO,
        "{b:?}"
    );
    assert!(b.movable_usd_per_hour <= large, "{b:?}");
    assert_eq!(
        b.usd_per_hour.micro_usd(),
        b.staying_usd_per_hour.micro_usd() + b.movable_usd_per_hour.micro_usd()
    );
    assert!(b.usd_per_hour.micro_usd() <= bill(&snapshot));
}

#[test]
fn the_consolidation_bound_cannot_tell_without_prices() {
    let mut snapshot = one_staying_one_movable(500);
    for n in &mut snapshot.nodes {
        n.labels
            .insert("topology.kubernetes.io/zone".into(), "eu-west-1a".into());
        n.derive_from_labels();
    }
    let policy = wide_policy();
    let plan = plan_consolidation(
        &snapshot,
        None,
        catalog(),
        &cloudoptim::binpack::LpGuidedPacker::default(),
        &policy,
        now(),
    );
    assert_eq!(
        consolidation_bound(&snapshot, catalog(), &policy, &plan),
        None
    );
}

// ---------------------------------------------------------------- PDB rules

/// The small cluster with a second replica of app-0 on node-0, and
/// app-0's PDB allowing one disruption.
fn one_pdb_two_pods_on_a_node() -> ClusterSnapshot {
    let mut s = small_cluster();
    let spec = PodSpec {
        cpu_millis: 200,
        memory_mib: 256,
        app: 0,
        flag: 0,
    };
    s.pods.push(pod(3, "node-0", &spec));
    s.pdbs = vec![pdb("app-0", "app-0", 1)];
    s.resolve_owners();
    s
}

#[test]
fn one_at_a_time_drains_nodes_a_whole_node_pdb_holds_and_the_simulator_agrees() {
    let snapshot = one_pdb_two_pods_on_a_node();
    let packer = cloudoptim::binpack::LpGuidedPacker::default();
    let whole = wide_policy();
    let c = plan_consolidation(&snapshot, None, catalog(), &packer, &whole, now());
    assert_safe(&snapshot, None, &whole, &c);
    // Whole node: one disruption for the whole plan, so one 1-pod node goes.
    assert_eq!(c.removed_nodes.len(), 1, "{:?}", c.removed_nodes);
    assert!(
        c.blocked.iter().any(|(_, b)| b.kind() == "pdb"),
        "{:?}",
        c.blocked
    );

    let paced = ConsolidationPolicy {
        pdb_rule: PdbRule::OneAtATime,
        ..wide_policy()
    };
    let c = plan_consolidation(&snapshot, None, catalog(), &packer, &paced, now());
    assert_safe(&snapshot, None, &paced, &c);
    // One at a time: all four pods fit on one node, so two nodes go.
    assert_eq!(
        c.removed_nodes.len(),
        2,
        "{:?} {:?}",
        c.removed_nodes,
        c.blocked
    );
    // Every eviction is its own step, after which the simulator places the
    // replacement and gives the PDB its disruption back: never exceeded.
    let after = simulate(&snapshot, None, &c.plan, catalog(), now()).unwrap();
    assert!(after.is_safe(), "{:?}", after.pdbs_exceeded);
}

#[test]
fn one_at_a_time_still_stops_at_a_pdb_that_allows_nothing() {
    let mut snapshot = one_pdb_two_pods_on_a_node();
    snapshot.pdbs = vec![pdb("app-0", "app-0", 0)];
    let paced = ConsolidationPolicy {
        pdb_rule: PdbRule::OneAtATime,
        ..wide_policy()
    };
    let c = plan_consolidation(
        &snapshot,
        None,
        catalog(),
        &cloudoptim::binpack::LpGuidedPacker::default(),
        &paced,
        now(),
    );
    assert!(c.removed_nodes.is_empty(), "{:?}", c.removed_nodes);
    assert!(
        c.blocked.iter().all(|(_, b)| b.kind() == "pdb"),
        "{:?}",
        c.blocked
    );
}

/// Consolidation until steady with the consolidation packer, which must
/// converge within 500 rounds.
fn converged(
    snapshot: &ClusterSnapshot,
    account: Option<&AwsInventory>,
    policy: &ConsolidationPolicy,
) -> cloudoptim::consolidation::SteadyState {
    let steady = until_steady(
        snapshot,
        account,
        catalog(),
        &cloudoptim::binpack::LpGuidedPacker::for_consolidation(),
        policy,
        now(),
        500,
    )
    .unwrap();
    assert!(steady.converged, "{:?}", steady.stopped);
    steady
}

#[test]
fn an_underutilized_cluster_shrinks_to_near_its_bound_and_launched_nodes_stay_removable() {
    let snapshot = cloudoptim::demo::underutilized_cluster(90, 3, catalog());
    let steady = converged(&snapshot, None, &ConsolidationPolicy::default());
    // Rounds launch nodes; every node of the end state has its own name and
    // instance (a later simulation must not reuse an earlier one's).
    let launched: usize = steady.rounds.iter().map(|r| r.launched_nodes).sum();
    assert!(
        steady
            .rounds
            .iter()
            .filter(|r| r.launched_nodes > 0)
            .count()
            >= 2,
        "{launched} launched"
    );
    let names: BTreeSet<&str> = steady
        .snapshot
        .nodes
        .iter()
        .map(|n| n.name.as_str())
        .collect();
    assert_eq!(names.len(), steady.snapshot.nodes.len());
    let ids: BTreeSet<&str> = steady
        .snapshot
        .nodes
        .iter()
        .map(|n| {
            n.instance_id
                .as_deref()
                .expect("every node has an instance")
        })
        .collect();
    assert_eq!(ids.len(), steady.snapshot.nodes.len());
    let running = |s: &ClusterSnapshot| s.pods.iter().filter(|p| p.moves_with_node()).count();
    assert_eq!(running(&steady.snapshot), running(&snapshot));
    // Nothing must stay, so the bound is the movable pods' alone; the
    // steady state is well below the start and within reach of the bound.
    let bound = steady.bound.as_ref().expect("priced and known");
    assert_eq!(bound.staying_nodes, 0);
    let (start, end) = (bill(&snapshot), bill(&steady.snapshot));
    assert!(bound.usd_per_hour.micro_usd() <= end);
    assert!(end * 2 < start, "${start} → ${end}");
    eprintln!(
        "underutilized 90: ${:.2}/h → ${:.2}/h in {} rounds, bound ${:.2}/h",
        start as f64 / 1e6,
        end as f64 / 1e6,
        steady.rounds.len(),
        bound.usd_per_hour.usd()
    );
}

/// What our rules cost on the demo, against Karpenter's consolidation run on
/// the same cluster (issue 16): Karpenter reads only its own do-not-disrupt
/// annotation, knows no Auto Scaling group minimum and paces evictions by
/// PDB. Under those rules the steady state saves what Karpenter saved
/// ($17.2/h; $23.1/h with emptyDir pods moved).
#[test]
fn under_karpenters_rules_the_demo_saves_what_karpenter_saves() {
    let demo = DemoEnvironment::generate(&DemoConfig::default(), catalog()).unwrap();
    let mut snapshot = demo.snapshot.clone();
    for p in &mut snapshot.pods {
        p.annotations.remove("cloudoptim.io/do-not-disrupt");
    }
    let mut aws = demo.aws.clone();
    for g in &mut aws.auto_scaling_groups {
        g.min_size = 0;
    }
    let run = |allow_local_storage_eviction: bool| {
        let policy = ConsolidationPolicy {
            pdb_rule: PdbRule::OneAtATime,
            allow_local_storage_eviction,
            ..ConsolidationPolicy::default()
        };
        let steady = converged(&snapshot, Some(&aws), &policy);
        let bound = steady.bound.as_ref().unwrap();
        assert!(bound.usd_per_hour.micro_usd() <= bill(&steady.snapshot));
        eprintln!(
            "Karpenter's rules, local storage moves {allow_local_storage_eviction}: saves ${:.2}/h in {} rounds, bound ${:.2}/h",
            steady.saved_usd_per_hour().usd(),
            steady.rounds.len(),
            bound.usd_per_hour.usd()
        );
        steady.saved_usd_per_hour().micro_usd()
    };
    assert!(run(false) >= 17_200_000);
    // Karpenter: $23.1/h.
    assert!(run(true) >= 22_500_000);
}
