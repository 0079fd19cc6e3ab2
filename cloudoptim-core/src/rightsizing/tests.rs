use jiff::SignedDuration;
use proptest::prelude::*;
use serde_json::{json, Value};

use super::*;
use crate::execute::{Fact, Facts, Observation, Unmet};
use crate::kubectl::ListReader;
use crate::snapshot::{HorizontalPodAutoscaler, HpaMetric, OwnerRef, WorkloadKind};
use crate::usage::UsageOptions;

const GIB: u64 = 1 << 30;

fn now() -> Timestamp {
    "2026-12-01T12:00:00Z".parse().unwrap()
}

fn node(name: &str, region: &str) -> Value {
    json!({"kind": "Node", "apiVersion": "v1",
        "metadata": {"name": name, "labels": {
            "node.kubernetes.io/instance-type": "m5.xlarge",
            "topology.kubernetes.io/region": region,
            "topology.kubernetes.io/zone": format!("{region}a"),
            "kubernetes.io/arch": "amd64", "kubernetes.io/os": "linux"}},
        "status": {"capacity": {"cpu": "4", "memory": "16Gi", "pods": "58"},
                   "allocatable": {"cpu": "3920m", "memory": "14Gi", "pods": "58"}}})
}

fn resources(cpu: &str, memory: &str, limits: Option<(&str, &str)>) -> Value {
    match limits {
        Some((c, m)) => json!({"requests": {"cpu": cpu, "memory": memory},
                               "limits": {"cpu": c, "memory": m}}),
        None => json!({"requests": {"cpu": cpu, "memory": memory}}),
    }
}

/// A Deployment `api` with two pods on one node in `region`, container `app`.
fn cluster_in(
    region: &str,
    r: Value,
    owner_kind: &str,
    oom_minutes_ago: Option<i64>,
) -> ClusterSnapshot {
    let mut items = vec![node("n1", region)];
    items.push(json!({"kind": "Deployment", "apiVersion": "apps/v1",
        "metadata": {"name": "api", "namespace": "prod"},
        "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "api"}},
            "template": {"metadata": {"labels": {"app": "api"}},
                "spec": {"containers": [{"name": "app", "resources": r.clone()}]}}}}));
    items.push(json!({"kind": "ReplicaSet", "apiVersion": "apps/v1",
        "metadata": {"name": "api-rs", "namespace": "prod",
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": "api",
                "uid": "d1", "controller": true}]},
        "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "api"}},
            "template": {"metadata": {"labels": {"app": "api"}},
                "spec": {"containers": [{"name": "app", "resources": r.clone()}]}}}}));
    let owner = if owner_kind == "Job" {
        ("Job", "batch")
    } else {
        ("ReplicaSet", "api-rs")
    };
    for (i, name) in ["api-rs-a", "api-rs-b"].iter().enumerate() {
        let last = match oom_minutes_ago.filter(|_| i == 0) {
            Some(m) => json!({"terminated": {"reason": "OOMKilled", "exitCode": 137,
                "finishedAt": now().checked_sub(SignedDuration::from_mins(m)).unwrap().to_string()}}),
            None => json!({}),
        };
        items.push(json!({"kind": "Pod", "apiVersion": "v1",
            "metadata": {"name": name, "namespace": "prod", "uid": format!("uid-{i}"),
                "ownerReferences": [{"apiVersion": "apps/v1", "kind": owner.0, "name": owner.1,
                    "uid": "x", "controller": true}]},
            "spec": {"nodeName": "n1", "containers": [{"name": "app", "resources": r.clone()}]},
            "status": {"phase": "Running", "containerStatuses": [{"name": "app", "ready": true,
                "restartCount": 1, "state": {"running": {}}, "lastState": last}]}}));
    }
    let mut reader = ListReader::new();
    for item in items {
        reader.push(item).unwrap();
    }
    reader.finish().snapshot
}

fn cluster(r: Value) -> ClusterSnapshot {
    cluster_in("us-east-1", r, "ReplicaSet", None)
}

fn key(owner_kind: &str, owner: &str) -> ContainerKey {
    ContainerKey {
        namespace: "prod".into(),
        owner: OwnerRef {
            kind: owner_kind.into(),
            name: owner.into(),
        },
        container: "app".into(),
    }
}

/// `hours` of one-minute samples ending at `now()`, from two replicas.
fn usage_for(
    k: ContainerKey,
    hours: i64,
    cpu: impl Fn(i64) -> f64,
    memory: impl Fn(i64) -> f64,
) -> UsageHistograms {
    let mut usage = UsageHistograms::new(UsageOptions::default());
    let start = now()
        .checked_sub(SignedDuration::from_hours(hours))
        .unwrap();
    for _replica in 0..2 {
        let at = |m: i64| start.checked_add(SignedDuration::from_mins(m)).unwrap();
        usage.add_cpu_series(k.clone(), (0..hours * 60).map(|m| (at(m), cpu(m))));
        usage.add_memory_series(k.clone(), (0..hours * 60).map(|m| (at(m), memory(m))));
    }
    usage
}

fn run(
    s: &ClusterSnapshot,
    usage: &UsageHistograms,
    policy: &RightsizingPolicy,
) -> RightsizingReport {
    recommend(
        s,
        Catalog::embedded().unwrap(),
        "us-east-1",
        usage,
        policy,
        now(),
    )
}

/// What the rule gives for a steady 500Mi: the p95 bucket's end × 1.15,
/// rounded up to a MiB.
fn memory_target(f: &RightsizingFinding) -> u64 {
    let mib = (1u64 << 20) as f64;
    ((f.memory.percentile.unwrap() * 1.15 / mib).ceil() * mib) as u64
}

fn steady(hours: i64) -> UsageHistograms {
    usage_for(
        key("Deployment", "api"),
        hours,
        |_| 100.0,
        |_| 500.0 * (1 << 20) as f64,
    )
}

#[test]
fn an_oversized_deployment_is_shrunk_to_p95_plus_margin_with_both_preconditions() {
    let s = cluster(resources("1", "2Gi", None));
    let report = run(&s, &steady(7 * 24), &RightsizingPolicy::default());
    assert_eq!(report.findings.len(), 1);
    let f = &report.findings[0];
    assert_eq!(f.decision, Decision::Patch, "{f:?}");
    assert_eq!(f.replicas, 2);
    // 100m read back at its bucket's end (≤ 10% above), × 1.15, rounded up.
    let p = f.cpu.percentile.unwrap();
    assert!((100.0..=110.5).contains(&p), "{p}");
    assert_eq!(f.cpu.new_request, (p * 1.15).ceil() as u64, "{:?}", f.cpu);
    // Memory: the bucket's end × 1.15, rounded up to a MiB, and at least the
    // largest sample 500Mi × 1.15.
    assert_eq!(f.memory.new_request, memory_target(f), "{:?}", f.memory);
    assert!(f.memory.new_request >= 575 << 20);
    assert!(f.cpu.bounds.lower <= f.cpu.target && f.cpu.target <= f.cpu.bounds.upper);
    assert!((f.confidence - 7.0).abs() < 0.01, "{}", f.confidence);
    let saved = f.usd_per_hour_saved.unwrap();
    assert!(saved > UsdPerHour::ZERO, "{saved:?}");
    assert_eq!(report.usd_per_hour_saved(), Some(saved));

    assert_eq!(report.plan.steps.len(), 1);
    let step = &report.plan.steps[0];
    assert_eq!(step.usd_per_hour_delta, -saved);
    let Action::PatchResources {
        workload,
        container,
        patch,
    } = &step.action
    else {
        panic!("{:?}", step.action)
    };
    assert_eq!(
        (workload.kind, workload.name.as_str(), container.as_str()),
        (WorkloadKind::Deployment, "api", "app")
    );
    assert_eq!(patch.cpu_request_millis, Some(f.cpu.new_request));
    assert_eq!(patch.memory_request_bytes, Some(f.memory.new_request));
    assert_eq!(
        (patch.cpu_limit_millis, patch.memory_limit_bytes),
        (None, None)
    );
    assert!(
        step.reason.contains("cpu 1000m →") && step.reason.contains("memory 2Gi → "),
        "{}",
        step.reason
    );

    // The preconditions hold on the snapshot's template, and fail once someone changed it.
    let w = s
        .workload(WorkloadKind::Deployment, "prod", "api")
        .unwrap()
        .clone();
    let mut facts = Facts::new();
    facts.insert(
        Fact::Workload(workload.clone()),
        Observation::Workload(Some(Box::new(w.clone()))),
    );
    for check in &step.preconditions {
        assert_eq!(check.evaluate(&facts, now()), Ok(()), "{check:?}");
    }
    let mut raised = w;
    raised.template.containers[0].requests.cpu_millis = 2000;
    facts.insert(
        Fact::Workload(workload.clone()),
        Observation::Workload(Some(Box::new(raised))),
    );
    assert!(step.preconditions.iter().any(|c| matches!(
        c.evaluate(&facts, now()),
        Err(Unmet::ContainerCpuChanged {
            found_request: 2000,
            ..
        })
    )));
}

#[test]
fn under_a_day_of_history_gives_no_plan_unless_forced() {
    let s = cluster(resources("1", "2Gi", None));
    let usage = steady(6);
    let report = run(&s, &usage, &RightsizingPolicy::default());
    assert_eq!(
        report.findings[0].decision,
        Decision::NotEnoughHistory { hours: 5 }
    );
    assert!(report.plan.steps.is_empty());
    assert_eq!(report.findings[0].cpu.change, Change::NotApplied);
    assert_eq!(
        report.findings[0].usd_per_hour_saved,
        Some(UsdPerHour::ZERO)
    );
    let forced = run(
        &s,
        &usage,
        &RightsizingPolicy {
            force: true,
            ..Default::default()
        },
    );
    assert_eq!(forced.findings[0].decision, Decision::Patch);
    // Six hours of samples: confidence 0.25, so the bounds are wider.
    let f = &forced.findings[0];
    assert!(
        f.confidence < 0.26 && f.cpu.bounds.upper > 2 * f.cpu.target,
        "{f:?}"
    );
}

#[test]
fn a_change_under_the_threshold_is_not_proposed() {
    // 120m is within 10% of the ~127m target; 600Mi of the ~600Mi one.
    let s = cluster(resources("120m", "600Mi", None));
    let report = run(&s, &steady(48), &RightsizingPolicy::default());
    assert_eq!(report.findings[0].decision, Decision::NoChange);
    assert_eq!(report.findings[0].cpu.change, Change::WithinThreshold);
    assert!(report.plan.steps.is_empty());
}

#[test]
fn a_container_without_requests_gets_them() {
    let s = cluster(json!({}));
    let report = run(&s, &steady(48), &RightsizingPolicy::default());
    let f = &report.findings[0];
    assert_eq!(f.decision, Decision::Patch);
    assert_eq!((f.cpu.current_request, f.memory.current_request), (0, 0));
    // Requests appear: the cluster pays more, and says so.
    assert!(f.usd_per_hour_saved.unwrap() < UsdPerHour::ZERO);
}

#[test]
fn an_hpa_on_cpu_keeps_the_cpu_request_and_memory_is_still_rightsized() {
    let mut s = cluster(resources("1", "2Gi", None));
    s.horizontal_pod_autoscalers.push(HorizontalPodAutoscaler {
        namespace: "prod".into(),
        name: "api-hpa".into(),
        target_kind: "Deployment".into(),
        target_name: "api".into(),
        min_replicas: 2,
        max_replicas: 10,
        metrics: vec![HpaMetric::Resource {
            resource: "cpu".into(),
        }],
    });
    let report = run(&s, &steady(48), &RightsizingPolicy::default());
    let f = &report.findings[0];
    assert_eq!(
        f.cpu.change,
        Change::HpaScalesOn {
            hpa: "api-hpa".into()
        }
    );
    assert_eq!(f.cpu.new_request, 1000);
    assert_eq!(f.memory.change, Change::Patch);
    let Action::PatchResources { patch, .. } = &report.plan.steps[0].action else {
        panic!()
    };
    assert_eq!(
        (patch.cpu_request_millis, patch.memory_request_bytes),
        (None, Some(memory_target(f)))
    );
    // An HPA on both: reported, no step.
    s.horizontal_pod_autoscalers[0]
        .metrics
        .push(HpaMetric::Resource {
            resource: "memory".into(),
        });
    let report = run(&s, &steady(48), &RightsizingPolicy::default());
    assert_eq!(report.findings[0].decision, Decision::NoChange);
    assert!(report.plan.steps.is_empty());
}

#[test]
fn jobs_and_bare_pods_are_reported_not_patched() {
    let s = cluster_in("us-east-1", resources("1", "2Gi", None), "Job", None);
    let report = run(
        &s,
        &usage_for(key("Job", "batch"), 48, |_| 100.0, |_| 1e8),
        &RightsizingPolicy::default(),
    );
    let f = &report.findings[0];
    assert!(
        matches!(&f.decision, Decision::NotPatched { why } if why.contains("Job batch")),
        "{:?}",
        f.decision
    );
    assert!(report.plan.steps.is_empty());
    // The figures are still shown.
    assert!(f.cpu.target < 200);
}

#[test]
fn a_recent_oom_kill_keeps_memory_at_its_bump() {
    let s = cluster_in(
        "us-east-1",
        resources("1", "2Gi", None),
        "ReplicaSet",
        Some(30),
    );
    let report = run(&s, &steady(48), &RightsizingPolicy::default());
    let f = &report.findings[0];
    // max(2Gi × 1.2, 2Gi + 100Mi) = 2458Mi (rounded up): above the request, so memory grows.
    assert_eq!(f.memory.target, BumpRule::default().bumped(2 * GIB));
    assert!(f.memory.why.contains("recent OOM kill"), "{}", f.memory.why);
    // A kill two days ago no longer counts.
    let old = cluster_in(
        "us-east-1",
        resources("1", "2Gi", None),
        "ReplicaSet",
        Some(48 * 60),
    );
    let f = &run(&old, &steady(48), &RightsizingPolicy::default()).findings[0];
    assert_eq!(f.memory.target, memory_target(f));
}

#[test]
fn caps_and_floors_bound_the_target() {
    let s = cluster(resources("1", "2Gi", None));
    let tiny = usage_for(key("Deployment", "api"), 48, |_| 1.0, |_| 1e6);
    let f = &run(&s, &tiny, &RightsizingPolicy::default()).findings[0];
    // 1m reads back as the first bucket's end, 10m; × 1.15 is 12m. 1 MB is below the floor.
    assert_eq!((f.cpu.target, f.memory.target), (12, 100 << 20));
    assert!(f.memory.why.contains("floor"), "{}", f.memory.why);
    let floors = RightsizingPolicy {
        min_cpu_millis: 50,
        ..Default::default()
    };
    let f = &run(&s, &tiny, &floors).findings[0];
    assert_eq!(f.cpu.target, 50);
    assert!(f.cpu.why.contains("floor 50m"), "{}", f.cpu.why);
    let huge = usage_for(
        key("Deployment", "api"),
        48,
        |_| 9000.0,
        |_| 40.0 * GIB as f64,
    );
    let policy = RightsizingPolicy {
        max_memory_bytes: Some(8 * GIB),
        ..Default::default()
    };
    let f = &run(&s, &huge, &policy).findings[0];
    assert_eq!(f.memory.target, 8 * GIB);
    assert!(f.memory.why.contains("capped"), "{}", f.memory.why);
}

#[test]
fn limits_keep_their_ratio_or_are_kept() {
    let s = cluster(resources("1", "2Gi", Some(("2", "4Gi"))));
    let f = &run(&s, &steady(48), &RightsizingPolicy::default()).findings[0];
    assert_eq!(f.memory.new_limit, Some(2 * f.memory.new_request));
    assert_eq!(f.cpu.new_limit, Some(2 * f.cpu.new_request));
    let keep = RightsizingPolicy {
        limits: LimitPolicy::Keep,
        ..Default::default()
    };
    let f = &run(&s, &steady(48), &keep).findings[0];
    assert_eq!(
        (f.cpu.new_limit, f.memory.new_limit),
        (Some(2000), Some(4 * GIB))
    );
}

#[test]
fn an_unpriced_region_recommends_but_cannot_tell_the_saving() {
    let s = cluster_in(
        "ap-nowhere-9",
        resources("1", "2Gi", None),
        "ReplicaSet",
        None,
    );
    let report = recommend(
        &s,
        Catalog::embedded().unwrap(),
        "ap-nowhere-9",
        &steady(48),
        &RightsizingPolicy::default(),
        now(),
    );
    assert_eq!(report.findings[0].decision, Decision::Patch);
    assert_eq!(report.findings[0].usd_per_hour_saved, None);
    assert_eq!(report.usd_per_hour_saved(), None);
    assert!(
        report.notes.iter().any(|n| n.contains("cannot be told")),
        "{:?}",
        report.notes
    );
}

#[test]
fn the_demo_has_recommendations_and_never_goes_below_peaks() {
    let config = crate::demo::DemoConfig::default();
    let catalog = Catalog::embedded().unwrap();
    let demo = crate::demo::DemoEnvironment::generate(&config, catalog).unwrap();
    let mut usage = UsageHistograms::new(UsageOptions::default());
    usage.ingest_history(&demo.usage, &demo.snapshot).unwrap();
    let report = recommend(
        &demo.snapshot,
        catalog,
        &demo.region,
        &usage,
        &RightsizingPolicy::default(),
        config.now,
    );
    assert!(!report.plan.steps.is_empty());
    for f in &report.findings {
        let peak = usage.get(&f.key).unwrap().max_memory_bytes;
        assert!(
            f.memory.target as f64 >= peak.min((report.memory_cap.as_ref().unwrap().0) as f64),
            "{}",
            f.key
        );
        assert!(f.cpu.target >= 10 && f.memory.target >= 100 << 20);
    }
    let saved = report.usd_per_hour_saved().unwrap();
    let from_steps: UsdPerHour = report
        .plan
        .steps
        .iter()
        .fold(UsdPerHour::ZERO, |a, s| a - s.usd_per_hour_delta);
    assert_eq!(saved, from_steps);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// Whatever the usage and the request: memory is never below the
    /// largest sample × margin (unless capped), never below the floors, the
    /// bounds hold the target, and a change is proposed only past 10%.
    #[test]
    fn targets_respect_peaks_floors_bounds_and_threshold(
        cpu_millis in 0.0f64..20_000.0,
        spike in 1.0f64..5.0,
        memory_mib in 0.0f64..30_000.0,
        request_millis in 0u64..16_000,
        request_mib in 0u64..32_000,
        hours in 1i64..72,
    ) {
        let r = json!({"requests": {"cpu": format!("{request_millis}m"), "memory": format!("{request_mib}Mi")}});
        let s = cluster(r);
        let usage = usage_for(
            key("Deployment", "api"), hours,
            |m| if m % 97 == 0 { cpu_millis * spike } else { cpu_millis },
            |m| memory_mib * (1 << 20) as f64 * if m % 89 == 0 { spike } else { 1.0 },
        );
        let policy = RightsizingPolicy { force: true, ..Default::default() };
        let report = run(&s, &usage, &policy);
        let f = &report.findings[0];
        let h = usage.get(&f.key).unwrap();
        let cap = report.memory_cap.as_ref().unwrap().0;
        prop_assert!(f.memory.target as f64 >= (h.max_memory_bytes * 1.15).min(cap as f64) - 1.0);
        prop_assert!(f.memory.target >= (100u64 << 20).min(cap));
        prop_assert!(f.cpu.target >= 10);
        for r in [&f.cpu, &f.memory] {
            prop_assert!(r.bounds.lower <= r.target && r.target <= r.bounds.upper);
            if r.change == Change::Patch && r.current_request > 0 {
                prop_assert!(r.target.abs_diff(r.current_request) * 10 >= r.current_request);
            }
            if r.change == Change::WithinThreshold {
                prop_assert_eq!(r.new_request, r.current_request);
            }
        }
    }
}
