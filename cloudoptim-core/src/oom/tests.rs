use serde_json::{json, Value};

use super::*;
use crate::execute::{Fact, Facts, Observation, Unmet};
use crate::kubectl::ListReader;
use crate::snapshot::WorkloadKind;

const MIB: u64 = 1 << 20;
const GIB: u64 = 1 << 30;

fn now() -> Timestamp {
    "2026-12-01T12:00:00Z".parse().unwrap()
}

fn minutes_ago(m: i64) -> String {
    now()
        .checked_sub(SignedDuration::from_mins(m))
        .unwrap()
        .to_string()
}

fn node(name: &str) -> Value {
    json!({"kind": "Node", "apiVersion": "v1",
        "metadata": {"name": name, "labels": {
            "node.kubernetes.io/instance-type": "m5.xlarge",
            "topology.kubernetes.io/region": "us-east-1",
            "topology.kubernetes.io/zone": "us-east-1a",
            "kubernetes.io/arch": "amd64", "kubernetes.io/os": "linux"}},
        "status": {"capacity": {"cpu": "4", "memory": "16Gi", "pods": "58"},
                   "allocatable": {"cpu": "3920m", "memory": "14Gi", "pods": "58"}}})
}

fn resources(request: &str, limit: Option<&str>) -> Value {
    match limit {
        Some(l) => json!({"requests": {"cpu": "100m", "memory": request}, "limits": {"memory": l}}),
        None => json!({"requests": {"cpu": "100m", "memory": request}}),
    }
}

fn deployment(name: &str, request: &str, limit: Option<&str>) -> Vec<Value> {
    vec![
        json!({"kind": "Deployment", "apiVersion": "apps/v1",
            "metadata": {"name": name, "namespace": "prod"},
            "spec": {"replicas": 2, "selector": {"matchLabels": {"app": name}},
                "template": {"metadata": {"labels": {"app": name}},
                    "spec": {"containers": [{"name": "app", "resources": resources(request, limit)}]}}}}),
        json!({"kind": "ReplicaSet", "apiVersion": "apps/v1",
            "metadata": {"name": format!("{name}-rs"), "namespace": "prod",
                "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": name,
                    "uid": "d1", "controller": true}]},
            "spec": {"replicas": 2, "selector": {"matchLabels": {"app": name}},
                "template": {"metadata": {"labels": {"app": name}},
                    "spec": {"containers": [{"name": "app", "resources": resources(request, limit)}]}}}}),
    ]
}

struct PodArgs<'a> {
    name: &'a str,
    uid: Option<&'a str>,
    owner: Option<(&'a str, &'a str)>,
    request: &'a str,
    limit: Option<&'a str>,
    restarts: u32,
    /// (current, minutes ago)
    kill: Option<(bool, i64)>,
}

fn pod(a: PodArgs<'_>) -> Value {
    let owners = a.owner.map_or(json!([]), |(kind, name)| {
        json!([{"apiVersion": "apps/v1", "kind": kind, "name": name, "uid": "x", "controller": true}])
    });
    let terminated = a.kill.map(
        |(_, m)| json!({"reason": "OOMKilled", "exitCode": 137, "finishedAt": minutes_ago(m)}),
    );
    let (state, last) = match (a.kill, terminated) {
        (Some((true, _)), Some(t)) => (json!({"terminated": t}), json!({})),
        (Some((false, _)), Some(t)) => (json!({"running": {}}), json!({"terminated": t})),
        _ => (json!({"running": {}}), json!({})),
    };
    let mut metadata = json!({"name": a.name, "namespace": "prod", "ownerReferences": owners});
    if let Some(uid) = a.uid {
        metadata["uid"] = json!(uid);
    }
    json!({"kind": "Pod", "apiVersion": "v1", "metadata": metadata,
        "spec": {"nodeName": "n1", "containers": [{"name": "app", "resources": resources(a.request, a.limit)}]},
        "status": {"phase": "Running", "containerStatuses": [{"name": "app", "ready": true,
            "restartCount": a.restarts, "state": state, "lastState": last}]}})
}

fn api_pod(restarts: u32, kill: Option<(bool, i64)>) -> Value {
    pod(PodArgs {
        name: "api-rs-a",
        uid: Some("uid-a"),
        owner: Some(("ReplicaSet", "api-rs")),
        request: "512Mi",
        limit: Some("1Gi"),
        restarts,
        kill,
    })
}

fn snapshot(items: Vec<Value>) -> ClusterSnapshot {
    let mut reader = ListReader::new();
    for item in items {
        reader.push(item).unwrap();
    }
    reader.finish().snapshot
}

fn cluster(pods: Vec<Value>, request: &str, limit: Option<&str>) -> ClusterSnapshot {
    let mut items = vec![node("n1")];
    items.extend(deployment("api", request, limit));
    items.extend(pods);
    snapshot(items)
}

fn catalog() -> &'static Catalog {
    Catalog::embedded().unwrap()
}

fn run(
    s: &ClusterSnapshot,
    peaks: &MemoryPeaks,
    policy: &OomPolicy,
    ledger: &OomLedger,
) -> OomReport {
    remediate(s, catalog(), peaks, policy, ledger, now())
}

fn only_patch(report: &OomReport) -> (&WorkloadRef, &ResourcePatch) {
    assert_eq!(report.plan.steps.len(), 1, "{:#?}", report.findings);
    match &report.plan.steps[0].action {
        Action::PatchResources {
            workload, patch, ..
        } => (workload, patch),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_kill_bumps_the_deployment_template_by_the_vpa_rule_with_the_limit_ratio_kept() {
    let s = cluster(vec![api_pod(3, Some((false, 30)))], "512Mi", Some("1Gi"));
    let report = run(
        &s,
        &MemoryPeaks::new(),
        &OomPolicy::default(),
        &OomLedger::new(),
    );
    let (workload, patch) = only_patch(&report);
    assert_eq!(
        (workload.kind, workload.name.as_str()),
        (WorkloadKind::Deployment, "api")
    );
    // max(512 Mi × 1.2 = 614.4 Mi → 615 Mi, 512 Mi + 100 Mi = 612 Mi).
    assert_eq!(patch.memory_request_bytes, Some(615 * MIB));
    // 1 Gi × 615/512 = 1230 Mi.
    assert_eq!(patch.memory_limit_bytes, Some(1230 * MIB));
    assert_eq!(patch.cpu_request_millis, None);
    let step = &report.plan.steps[0];
    assert_eq!(
        step.preconditions,
        vec![Precondition::ContainerMemoryIs {
            workload: workload.clone(),
            container: "app".into(),
            request_bytes: 512 * MIB,
            limit_bytes: Some(GIB),
        }]
    );
    for figure in [
        "512Mi",
        "615Mi",
        "1230Mi",
        "api-rs-a run 3",
        "bump 1 of at most 3",
    ] {
        assert!(step.reason.contains(figure), "{figure}: {}", step.reason);
    }
    assert_eq!(report.findings[0].decision, Decision::Bump);
}

#[test]
fn the_observed_peak_beats_the_request_when_higher_and_not_when_lower() {
    let s = cluster(vec![api_pod(1, Some((false, 5)))], "512Mi", None);
    let mut peaks = MemoryPeaks::new();
    peaks.observe("prod", "api-rs-a", "app", 700 * MIB);
    let report = run(&s, &peaks, &OomPolicy::default(), &OomLedger::new());
    // base 700 Mi: max(840 Mi, 800 Mi).
    assert_eq!(only_patch(&report).1.memory_request_bytes, Some(840 * MIB));
    assert_eq!(only_patch(&report).1.memory_limit_bytes, None);
    assert_eq!(report.findings[0].peak_bytes, Some(700 * MIB));
    // A peak of another replica of the same workload counts too.
    let mut peaks = MemoryPeaks::new();
    peaks.observe("prod", "api-rs-b", "app", 900 * MIB);
    let mut items = vec![api_pod(1, Some((false, 5)))];
    items.push(pod(PodArgs {
        name: "api-rs-b",
        uid: Some("uid-b"),
        owner: Some(("ReplicaSet", "api-rs")),
        request: "512Mi",
        limit: None,
        restarts: 0,
        kill: None,
    }));
    let s2 = cluster(items, "512Mi", None);
    let report = run(&s2, &peaks, &OomPolicy::default(), &OomLedger::new());
    assert_eq!(only_patch(&report).1.memory_request_bytes, Some(1080 * MIB));
    // Below the request, the request is the base.
    let mut low = MemoryPeaks::new();
    low.observe("prod", "api-rs-a", "app", 100 * MIB);
    let report = run(&s, &low, &OomPolicy::default(), &OomLedger::new());
    assert_eq!(only_patch(&report).1.memory_request_bytes, Some(615 * MIB));
}

#[test]
fn a_kill_counts_once_across_observations_and_states() {
    // Seen while down (restart count 2), then after the restart (3).
    let down = cluster(vec![api_pod(2, Some((true, 10)))], "512Mi", None);
    let up = cluster(vec![api_pod(3, Some((false, 10)))], "512Mi", None);
    let first = run(
        &down,
        &MemoryPeaks::new(),
        &OomPolicy::default(),
        &OomLedger::new(),
    );
    assert_eq!(first.plan.steps.len(), 1);
    assert_eq!(first.ledger.kills_counted(), 1);
    let second = run(
        &up,
        &MemoryPeaks::new(),
        &OomPolicy::default(),
        &first.ledger,
    );
    assert!(second.plan.steps.is_empty(), "{:#?}", second.findings);
    assert_eq!(second.findings[0].decision, Decision::AlreadyCounted);
    assert_eq!(second.ledger.kills_counted(), 1);
    // JSON round trip of the ledger keeps it.
    let kept: OomLedger =
        serde_json::from_str(&serde_json::to_string(&first.ledger).unwrap()).unwrap();
    assert!(run(&up, &MemoryPeaks::new(), &OomPolicy::default(), &kept)
        .plan
        .steps
        .is_empty());
    // A new pod (new uid) of the same name is a new kill.
    let mut replaced = up.clone();
    replaced.pods[0].uid = Some("uid-new".into());
    assert_eq!(
        run(
            &replaced,
            &MemoryPeaks::new(),
            &OomPolicy::default(),
            &first.ledger
        )
        .plan
        .steps
        .len(),
        1
    );
}

#[test]
fn without_uid_kills_are_keyed_by_name_and_a_note_says_so() {
    let s = cluster(
        vec![pod(PodArgs {
            name: "api-rs-a",
            uid: None,
            owner: Some(("ReplicaSet", "api-rs")),
            request: "512Mi",
            limit: None,
            restarts: 1,
            kill: Some((false, 5)),
        })],
        "512Mi",
        None,
    );
    let report = run(
        &s,
        &MemoryPeaks::new(),
        &OomPolicy::default(),
        &OomLedger::new(),
    );
    assert!(matches!(
        report.findings[0].kills[0].key.pod,
        PodIdentity::Name { .. }
    ));
    assert!(
        report.notes.iter().any(|n| n.contains("no metadata.uid")),
        "{:?}",
        report.notes
    );
    assert_eq!(report.plan.steps.len(), 1);
}

/// Apply a plan's patches to the snapshot's templates and pods, as the
/// controller would after a rollout.
fn apply(s: &mut ClusterSnapshot, report: &OomReport) {
    for step in &report.plan.steps {
        if let Action::PatchResources {
            workload,
            container,
            patch,
        } = &step.action
        {
            for w in s.workloads.iter_mut().filter(|w| w.name == workload.name) {
                for c in w
                    .template
                    .containers
                    .iter_mut()
                    .filter(|c| &c.name == container)
                {
                    c.requests.memory_bytes = patch.memory_request_bytes.unwrap();
                }
            }
            for p in &mut s.pods {
                p.containers[0].requests.memory_bytes = patch.memory_request_bytes.unwrap();
            }
        }
    }
}

#[test]
fn at_most_three_bumps_an_hour_then_an_oom_loop_is_reported() {
    let policy = OomPolicy::default();
    let mut s = cluster(vec![api_pod(1, Some((false, 50)))], "512Mi", None);
    let mut ledger = OomLedger::new();
    let mut requests = Vec::new();
    for round in 0..4u32 {
        let at = now()
            .checked_add(SignedDuration::from_mins(i64::from(round) * 10))
            .unwrap();
        let kill = pod(PodArgs {
            name: "api-rs-a",
            uid: Some("uid-a"),
            owner: Some(("ReplicaSet", "api-rs")),
            request: "512Mi",
            limit: None,
            restarts: round + 1,
            kill: Some((false, 0)),
        });
        let mut fresh = snapshot(vec![kill]).pods.remove(0);
        fresh.containers[0].requests.memory_bytes = s.pods[0].containers[0].requests.memory_bytes;
        fresh.owner = s.pods[0].owner.clone();
        s.pods[0] = fresh;
        let report = remediate(&s, catalog(), &MemoryPeaks::new(), &policy, &ledger, at);
        if round < 3 {
            let (_, patch) = only_patch(&report);
            requests.push(patch.memory_request_bytes.unwrap() / MIB);
            apply(&mut s, &report);
        } else {
            assert!(report.plan.steps.is_empty());
            assert_eq!(report.findings[0].decision, Decision::OomLoop { bumps: 3 });
            assert!(report.findings[0].reason.contains("OOM loop"));
        }
        ledger = report.ledger;
    }
    // 512 → 615 (×1.2) → 738 → 886: each bump from the request the last one set.
    assert_eq!(requests, vec![615, 738, 886]);
    // An hour after the first bump, bumping may go on.
    let later = now().checked_add(SignedDuration::from_mins(61)).unwrap();
    let mut next = s.clone();
    next.pods[0].container_statuses[0].restart_count = 9;
    let report = remediate(
        &next,
        catalog(),
        &MemoryPeaks::new(),
        &policy,
        &ledger,
        later,
    );
    assert_eq!(
        report.findings[0].decision,
        Decision::Bump,
        "{}",
        report.findings[0].reason
    );
}

#[test]
fn caps_bound_the_bump_and_never_lower_a_request() {
    let s = cluster(vec![api_pod(1, Some((false, 5)))], "512Mi", Some("1Gi"));
    let capped = OomPolicy {
        max_memory_request_bytes: Some(600 * MIB),
        ..OomPolicy::default()
    };
    let report = run(&s, &MemoryPeaks::new(), &capped, &OomLedger::new());
    let (_, patch) = only_patch(&report);
    assert_eq!(patch.memory_request_bytes, Some(600 * MIB));
    assert_eq!(patch.memory_limit_bytes, Some(1200 * MIB));
    assert!(report.plan.steps[0].reason.contains("policy's maximum"));
    // A cap below the current request leaves it (and the limit) alone.
    let below = OomPolicy {
        max_memory_request_bytes: Some(256 * MIB),
        ..OomPolicy::default()
    };
    let report = run(&s, &MemoryPeaks::new(), &below, &OomLedger::new());
    assert!(report.plan.steps.is_empty());
    let f = &report.findings[0];
    assert_eq!(f.decision, Decision::AtCap);
    assert_eq!(
        (f.new_request_bytes, f.new_limit_bytes),
        (512 * MIB, Some(GIB))
    );
    // The largest node the cluster could launch caps a huge peak.
    let mut peaks = MemoryPeaks::new();
    peaks.observe("prod", "api-rs-a", "app", 100 << 40);
    let report = run(&s, &peaks, &OomPolicy::default(), &OomLedger::new());
    let (_, patch) = only_patch(&report);
    let cap = report.node_cap.clone().unwrap();
    assert!(
        matches!(cap.source, CapSource::LargestNode { .. }),
        "{cap:?}"
    );
    assert_eq!(patch.memory_request_bytes, Some(cap.bytes));
    // The node's figure is the packer's: allocatable less the DaemonSets.
    let env = NodeEnvironment::of(&s);
    let largest = largest_candidate(
        catalog(),
        &env.packing_policy(PackingPolicy::default()),
        Dimension::Memory,
    )
    .unwrap();
    assert_eq!(cap.bytes, largest.allocatable.memory_bytes);
    // The limit is capped there too, never below the request.
    assert_eq!(patch.memory_limit_bytes, Some(cap.bytes));
}

#[test]
fn a_template_already_raised_is_not_bumped_again() {
    let s = cluster(vec![api_pod(1, Some((false, 5)))], "1Gi", None);
    let report = run(
        &s,
        &MemoryPeaks::new(),
        &OomPolicy::default(),
        &OomLedger::new(),
    );
    assert!(report.plan.steps.is_empty());
    assert_eq!(report.findings[0].decision, Decision::AlreadyRaised);
}

#[test]
fn bare_pods_jobs_and_daemonsets_are_reported_not_patched() {
    let mut items = vec![node("n1")];
    for (name, owner) in [
        ("lonely", None),
        ("batch-x", Some(("Job", "batch"))),
        ("agent-x", Some(("DaemonSet", "agent"))),
    ] {
        items.push(pod(PodArgs {
            name,
            uid: Some(name),
            owner,
            request: "256Mi",
            limit: None,
            restarts: 1,
            kill: Some((false, 5)),
        }));
    }
    let report = run(
        &snapshot(items),
        &MemoryPeaks::new(),
        &OomPolicy::default(),
        &OomLedger::new(),
    );
    assert!(report.plan.steps.is_empty());
    assert_eq!(report.findings.len(), 3);
    for f in &report.findings {
        assert!(matches!(f.decision, Decision::NotPatched { .. }), "{f:?}");
        // The figures are still shown: max(256 Mi × 1.2, 356 Mi).
        assert_eq!(f.needed_bytes, 356 * MIB);
    }
    // Counted all the same.
    assert_eq!(report.ledger.kills_counted(), 3);
}

#[test]
fn kills_older_than_a_day_are_shown_not_acted_on() {
    let s = cluster(vec![api_pod(1, Some((false, 25 * 60)))], "512Mi", None);
    let report = run(
        &s,
        &MemoryPeaks::new(),
        &OomPolicy::default(),
        &OomLedger::new(),
    );
    assert!(report.plan.steps.is_empty());
    assert_eq!(report.findings[0].decision, Decision::Stale);
}

#[test]
fn the_precondition_is_judged_on_the_template_now() {
    let s = cluster(vec![], "512Mi", Some("1Gi"));
    let workload = WorkloadRef {
        kind: WorkloadKind::Deployment,
        namespace: "prod".into(),
        name: "api".into(),
    };
    let check = |request_bytes, limit_bytes| Precondition::ContainerMemoryIs {
        workload: workload.clone(),
        container: "app".into(),
        request_bytes,
        limit_bytes,
    };
    let mut facts = Facts::new();
    let observed = s
        .workload(WorkloadKind::Deployment, "prod", "api")
        .cloned()
        .unwrap();
    facts.insert(
        Fact::Workload(workload.clone()),
        Observation::Workload(Some(Box::new(observed))),
    );
    assert_eq!(check(512 * MIB, Some(GIB)).evaluate(&facts, now()), Ok(()));
    assert!(matches!(
        check(512 * MIB, None).evaluate(&facts, now()),
        Err(Unmet::ContainerMemoryChanged { .. })
    ));
    assert!(matches!(
        check(615 * MIB, Some(GIB)).evaluate(&facts, now()),
        Err(Unmet::ContainerMemoryChanged { .. })
    ));
    let other = Precondition::ContainerMemoryIs {
        workload: workload.clone(),
        container: "sidecar".into(),
        request_bytes: 0,
        limit_bytes: None,
    };
    assert!(matches!(
        other.evaluate(&facts, now()),
        Err(Unmet::ContainerGone { .. })
    ));
    let mut gone = Facts::new();
    gone.insert(
        Fact::Workload(workload.clone()),
        Observation::Workload(None),
    );
    assert!(matches!(
        check(512 * MIB, Some(GIB)).evaluate(&gone, now()),
        Err(Unmet::WorkloadGone { .. })
    ));
}

#[test]
fn the_demo_has_oom_kills_to_remediate() {
    let config = crate::demo::DemoConfig::default();
    let demo = crate::demo::DemoEnvironment::generate(&config, catalog()).unwrap();
    let peaks = MemoryPeaks::from_usage(&demo.usage, None);
    let report = remediate(
        &demo.snapshot,
        catalog(),
        &peaks,
        &OomPolicy::default(),
        &OomLedger::new(),
        config.now,
    );
    assert!(!report.findings.is_empty());
    for f in report
        .findings
        .iter()
        .filter(|f| f.decision == Decision::Bump)
    {
        assert!(f.new_request_bytes > f.current_request_bytes);
        assert!(f.new_request_bytes >= f.needed_bytes.min(f.cap.as_ref().unwrap().bytes));
    }
    assert!(report
        .plan
        .steps
        .iter()
        .all(|s| matches!(s.action, Action::PatchResources { .. })));
}
