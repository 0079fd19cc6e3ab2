#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use jiff::{SignedDuration, Timestamp};
use proptest::prelude::*;

use super::ghost_instances::{self as ghosts, GhostAction, GhostPolicy, InstanceVerdict, NodeList};
use super::zombie_volumes::{self as zombies, VolumeVerdict, ZombiePolicy};
use crate::catalog::Catalog;
use crate::execute::{Fact, Facts, Observation};
use crate::inventory::{
    tags, AutoScalingGroup, AwsInventory, Instance, InstanceState, Tags, Volume, VolumeState,
};
use crate::plan::{Action, Plan};
use crate::snapshot::{
    CapacityType, ClusterSnapshot, Labels, Node, ObjectRef, PersistentVolume,
    PersistentVolumeClaim, ReclaimPolicy, VolumePhase,
};

const CLUSTER: &str = "prod";

fn now() -> Timestamp {
    "2026-12-02T12:00:00Z".parse().unwrap()
}

fn days(n: i64) -> SignedDuration {
    SignedDuration::from_hours(24 * n)
}

fn cluster_volume(id: &str, mark: Option<Timestamp>) -> Volume {
    let mut t = Tags::new();
    t.insert(format!("{}{CLUSTER}", tags::CLUSTER_PREFIX), "owned".into());
    t.insert(tags::EBS_CSI_CLUSTER.into(), "true".into());
    t.insert(tags::CSI_VOLUME_NAME.into(), format!("pvc-{id}"));
    t.insert(tags::PVC_NAMESPACE.into(), "db".into());
    t.insert(tags::PVC_NAME.into(), format!("data-{id}"));
    if let Some(m) = mark {
        t.insert(tags::DELETE_AFTER.into(), super::mark_text(m));
    }
    Volume {
        volume_id: id.into(),
        size_gib: 1_000,
        volume_type: "gp3".into(),
        zone: "us-east-1a".into(),
        state: VolumeState::Available,
        attached_instance_ids: vec![],
        created_at: now() - days(30),
        iops: Some(6_000),
        throughput_mib_per_second: Some(250),
        tags: t,
    }
}

fn pv(name: &str, volume_id: &str, phase: VolumePhase, reclaim: ReclaimPolicy) -> PersistentVolume {
    PersistentVolume {
        name: name.into(),
        driver: Some("ebs.csi.aws.com".into()),
        volume_handle: Some(volume_id.into()),
        storage_class: None,
        capacity_bytes: 0,
        zone: None,
        phase,
        claim_ref: Some(ObjectRef {
            namespace: "db".into(),
            name: "x".into(),
        }),
        reclaim_policy: reclaim,
        labels: Labels::new(),
        annotations: Labels::new(),
        created_at: None,
    }
}

fn snapshot_with(pvs: Vec<PersistentVolume>) -> ClusterSnapshot {
    ClusterSnapshot {
        persistent_volumes: pvs,
        ..ClusterSnapshot::default()
    }
}

fn inventory(volumes: Vec<Volume>) -> AwsInventory {
    AwsInventory {
        region: "us-east-1".into(),
        volumes,
        ..AwsInventory::default()
    }
}

fn zpolicy() -> ZombiePolicy {
    ZombiePolicy::new(CLUSTER, "us-east-1")
}

fn verdicts(snapshot: &ClusterSnapshot, inv: &AwsInventory, at: Timestamp) -> Vec<VolumeVerdict> {
    zombies::classify(snapshot, inv, &zpolicy(), at)
        .unwrap()
        .decisions
        .into_iter()
        .map(|d| d.verdict)
        .collect()
}

fn deletes(plan: &Plan) -> Vec<String> {
    plan.steps
        .iter()
        .filter_map(|s| match &s.action {
            Action::DeleteVolume { volume_id } => Some(volume_id.clone()),
            Action::TerminateInstance { instance_id, .. } => Some(instance_id.clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn each_volume_case_has_its_verdict() {
    let past = now() - days(1);
    let mut attached = cluster_volume("vol-attached", Some(past));
    attached.state = VolumeState::InUse;
    attached.attached_instance_ids = vec!["i-1".into()];
    let mut protected = cluster_volume("vol-protected", Some(past));
    protected.tags.insert(tags::PROTECT.into(), "true".into());
    let mut other = cluster_volume("vol-other", Some(past));
    other
        .tags
        .remove(&format!("{}{CLUSTER}", tags::CLUSTER_PREFIX));
    let mut garbled = cluster_volume("vol-garbled", None);
    garbled
        .tags
        .insert(tags::DELETE_AFTER.into(), "soon".into());
    let inv = inventory(vec![
        cluster_volume("vol-new", None),
        cluster_volume("vol-waiting", Some(now() + days(3))),
        cluster_volume("vol-due", Some(past)),
        cluster_volume("vol-future", Some(now() + days(30))),
        cluster_volume("vol-bound", Some(past)),
        cluster_volume("vol-retained", None),
        attached,
        protected,
        other,
        garbled,
    ]);
    let snapshot = snapshot_with(vec![
        pv(
            "pv-bound",
            "vol-bound",
            VolumePhase::Bound,
            ReclaimPolicy::Delete,
        ),
        pv(
            "pv-kept",
            "aws://us-east-1a/vol-retained",
            VolumePhase::Released,
            ReclaimPolicy::Retain,
        ),
    ]);
    let v = verdicts(&snapshot, &inv, now());
    let grace_end = now() + days(7);
    assert_eq!(
        v[0],
        VolumeVerdict::NewlySeen {
            delete_after: grace_end
        }
    );
    assert_eq!(
        v[1],
        VolumeVerdict::Waiting {
            delete_after: now() + days(3)
        }
    );
    assert_eq!(v[2], VolumeVerdict::Deletable { delete_after: past });
    assert!(
        matches!(v[3], VolumeVerdict::MarkInvalid { delete_after, .. } if delete_after == grace_end)
    );
    assert!(matches!(&v[4], VolumeVerdict::MarkToRemove { why } if why.contains("pv-bound")));
    assert_eq!(
        v[5],
        VolumeVerdict::RetainReleasedKept {
            pv: "pv-kept".into()
        }
    );
    assert!(matches!(&v[6], VolumeVerdict::MarkToRemove { why } if why.contains("i-1")));
    assert_eq!(v[7], VolumeVerdict::Protected);
    assert_eq!(v[8], VolumeVerdict::NotThisCluster);
    assert!(matches!(v[9], VolumeVerdict::MarkInvalid { .. }));

    let report = zombies::classify(&snapshot, &inv, &zpolicy(), now()).unwrap();
    let plan = zombies::plan(&report, &zpolicy(), now());
    assert_eq!(deletes(&plan), vec!["vol-due".to_owned()]);
    let kinds: Vec<&str> = plan.steps.iter().map(|s| s.action.kind()).collect();
    assert_eq!(
        kinds.iter().filter(|k| **k == "tag_resource").count(),
        3,
        "{kinds:?}"
    );
    assert_eq!(
        kinds.iter().filter(|k| **k == "untag_resource").count(),
        2,
        "{kinds:?}"
    );
    // Snapshot first, then the deletion carrying every check.
    let at = kinds.iter().position(|k| *k == "delete_volume").unwrap();
    assert_eq!(kinds[at - 1], "snapshot_volume");
    let checks: Vec<String> = plan.steps[at]
        .preconditions
        .iter()
        .map(|p| format!("{p:?}"))
        .collect();
    for c in [
        "VolumeUnattached",
        "VolumeUnclaimed",
        "NotProtected",
        "TagIs",
        "GracePeriodElapsed",
        "VolumeSnapshotted",
    ] {
        assert!(
            checks.iter().any(|x| x.starts_with(c)),
            "{c} missing: {checks:?}"
        );
    }
    // $100.00/month saved, per hour.
    assert_eq!(
        plan.steps[at].usd_per_hour_delta.micro_usd(),
        -(100_000_000 / 730)
    );
}

#[test]
fn a_pvc_claiming_the_volume_by_its_tags_keeps_it() {
    let inv = inventory(vec![cluster_volume("vol-1", None)]);
    let mut snapshot = snapshot_with(vec![pv(
        "unrelated",
        "vol-9",
        VolumePhase::Bound,
        ReclaimPolicy::Delete,
    )]);
    snapshot
        .persistent_volume_claims
        .push(PersistentVolumeClaim {
            namespace: "db".into(),
            name: "data-vol-1".into(),
            volume_name: None,
            storage_class: None,
            requested_bytes: 0,
            capacity_bytes: None,
            phase: crate::snapshot::ClaimPhase::Pending,
            labels: Labels::new(),
            created_at: None,
        });
    assert_eq!(
        verdicts(&snapshot, &inv, now()),
        vec![VolumeVerdict::ClaimedByPvc {
            pvc: "db/data-vol-1".into()
        }]
    );
}

#[test]
fn cannot_tell_refuses_a_plan() {
    let mut used = cluster_volume("vol-used", None);
    used.state = VolumeState::InUse;
    let inv = inventory(vec![used, cluster_volume("vol-due", Some(now() - days(1)))]);
    assert!(matches!(
        zombies::classify(&ClusterSnapshot::default(), &inv, &zpolicy(), now()),
        Err(zombies::CannotTell::NoPersistentVolumes { in_use: 1 })
    ));
    let mut elsewhere = inv.clone();
    elsewhere.region = "eu-west-1".into();
    let policy = ZombiePolicy {
        region: "eu-west-1".into(),
        ..zpolicy()
    };
    // Region matches the policy, but prices are unknown there: "cannot tell", never another price.
    let snapshot = snapshot_with(vec![pv(
        "p",
        "vol-x",
        VolumePhase::Bound,
        ReclaimPolicy::Delete,
    )]);
    let report = zombies::classify(&snapshot, &elsewhere, &policy, now()).unwrap();
    assert!(report
        .decisions
        .iter()
        .all(|d| d.micro_usd_per_month.is_none()));
    assert!(zombies::classify(&snapshot, &elsewhere, &zpolicy(), now()).is_err());
}

#[test]
fn deletions_are_capped_costliest_first() {
    let mut vols: Vec<Volume> = (0..20)
        .map(|i| cluster_volume(&format!("vol-{i:02}"), Some(now() - days(1))))
        .collect();
    vols[7].size_gib = 5_000;
    let inv = inventory(vols);
    let snapshot = snapshot_with(vec![pv(
        "p",
        "vol-x",
        VolumePhase::Bound,
        ReclaimPolicy::Delete,
    )]);
    let policy = ZombiePolicy {
        max_deletions_per_run: 3,
        ..zpolicy()
    };
    let report = zombies::classify(&snapshot, &inv, &policy, now()).unwrap();
    let d = deletes(&zombies::plan(&report, &policy, now()));
    assert_eq!(d.len(), 3);
    assert_eq!(d[0], "vol-07");
}

#[test]
fn a_mark_rewritten_since_the_plan_stops_the_deletion() {
    let mark = now() - days(1);
    let inv = inventory(vec![cluster_volume("vol-1", Some(mark))]);
    let snapshot = snapshot_with(vec![pv(
        "p",
        "vol-x",
        VolumePhase::Bound,
        ReclaimPolicy::Delete,
    )]);
    let report = zombies::classify(&snapshot, &inv, &zpolicy(), now()).unwrap();
    let plan = zombies::plan(&report, &zpolicy(), now());
    let step = plan
        .steps
        .iter()
        .find(|s| s.action.kind() == "delete_volume")
        .unwrap();
    let tag_is = step
        .preconditions
        .iter()
        .find(|p| matches!(p, crate::plan::Precondition::TagIs { .. }))
        .unwrap();
    let observe = |v: Volume| {
        let mut f = Facts::new();
        f.insert(
            Fact::Volume {
                volume_id: "vol-1".into(),
            },
            Observation::Volume(Some(Box::new(v))),
        );
        f
    };
    assert!(tag_is
        .evaluate(&observe(inv.volumes[0].clone()), now())
        .is_ok());
    // Reattached and detached again since: a new mark.
    let remarked = cluster_volume("vol-1", Some(now() + days(7)));
    assert!(matches!(
        tag_is.evaluate(&observe(remarked), now()),
        Err(crate::execute::Unmet::TagChanged { .. })
    ));
}

proptest! {
    /// A volume referenced by any PV (any phase, any reclaim policy), or
    /// attached, or protected, is never deleted, whatever its mark; and
    /// nothing is deleted before its mark.
    #[test]
    fn never_deleted_when_used_protected_or_early(
        phase in prop_oneof![Just(VolumePhase::Bound), Just(VolumePhase::Released), Just(VolumePhase::Available), Just(VolumePhase::Failed), Just(VolumePhase::Pending)],
        retain in any::<bool>(),
        referenced in any::<bool>(),
        attached in any::<bool>(),
        protected in any::<bool>(),
        mark_offset_hours in proptest::option::of(-400i64..400),
    ) {
        let mut v = cluster_volume("vol-1", mark_offset_hours.map(|h| now() + SignedDuration::from_hours(h)));
        if attached {
            v.state = VolumeState::InUse;
            v.attached_instance_ids = vec!["i-1".into()];
        }
        if protected {
            v.tags.insert(tags::PROTECT.into(), "true".into());
        }
        let reclaim = if retain { ReclaimPolicy::Retain } else { ReclaimPolicy::Delete };
        let target = if referenced { "vol-1" } else { "vol-2" };
        let snapshot = snapshot_with(vec![pv("p", target, phase, reclaim)]);
        let inv = inventory(vec![v]);
        let report = zombies::classify(&snapshot, &inv, &zpolicy(), now()).unwrap();
        let plan = zombies::plan(&report, &zpolicy(), now());
        let deleted = !deletes(&plan).is_empty();
        let due = mark_offset_hours.is_some_and(|h| h <= 0);
        prop_assert_eq!(deleted, !referenced && !attached && !protected && due);
        // Late enough but skewed marks are re-marked, not acted on.
        if mark_offset_hours.is_some_and(|h| h > 24 * 7) && !referenced && !attached && !protected {
            let is_mark_invalid = matches!(report.decisions[0].verdict, VolumeVerdict::MarkInvalid { .. });
            prop_assert!(is_mark_invalid);
        }
    }
}

// ---- ghosts

fn node(name: &str, instance_id: &str) -> Node {
    Node {
        name: name.into(),
        provider_id: Some(format!("aws:///us-east-1a/{instance_id}")),
        instance_id: Some(instance_id.into()),
        instance_type: Some("m5.large".into()),
        zone: Some("us-east-1a".into()),
        region: Some("us-east-1".into()),
        capacity_type: CapacityType::OnDemand,
        labels: Labels::new(),
        annotations: Labels::new(),
        taints: vec![],
        capacity: Default::default(),
        allocatable: Default::default(),
        created_at: None,
        unschedulable: false,
        ready: true,
    }
}

fn instance(id: &str, launched_days_ago: i64, mark: Option<Timestamp>) -> Instance {
    let mut t = Tags::new();
    t.insert(format!("{}{CLUSTER}", tags::CLUSTER_PREFIX), "owned".into());
    if let Some(m) = mark {
        t.insert(tags::GHOST_SINCE.into(), super::mark_text(m));
    }
    Instance {
        instance_id: id.into(),
        instance_type: "m5.large".into(),
        zone: "us-east-1a".into(),
        state: InstanceState::Running,
        capacity_type: CapacityType::OnDemand,
        launched_at: now() - days(launched_days_ago),
        private_dns_name: Some(format!("ip-{id}.ec2.internal")),
        tags: t,
    }
}

fn gpolicy() -> GhostPolicy {
    GhostPolicy {
        action: GhostAction::Terminate,
        ..GhostPolicy::new(CLUSTER, "us-east-1")
    }
}

fn catalog() -> &'static Catalog {
    Catalog::embedded().unwrap()
}

#[test]
fn each_instance_case_has_its_verdict() {
    let mut protected = instance("i-protected", 10, Some(now() - days(2)));
    protected.tags.insert(tags::PROTECT.into(), "true".into());
    let mut waiting_hook = instance("i-hook", 10, Some(now() - days(2)));
    waiting_hook
        .tags
        .insert(tags::AUTOSCALING_GROUP_NAME.into(), "eks-ng".into());
    let mut in_group = instance("i-grouped", 10, Some(now() - days(2)));
    in_group
        .tags
        .remove(&format!("{}{CLUSTER}", tags::CLUSTER_PREFIX));
    in_group
        .tags
        .insert(tags::AUTOSCALING_GROUP_NAME.into(), "eks-ng".into());
    let mut bastion = instance("i-bastion", 100, None);
    bastion.tags.clear();
    let inv = AwsInventory {
        region: "us-east-1".into(),
        instances: vec![
            instance("i-node", 10, None),
            instance("i-back", 10, Some(now() - days(2))),
            instance("i-joining", 0, None),
            instance("i-new", 10, None),
            instance("i-waiting", 10, Some(now() - SignedDuration::from_hours(3))),
            instance("i-ghost", 10, Some(now() - days(2))),
            instance("i-skewed", 10, Some(now() + days(2))),
            protected,
            waiting_hook,
            in_group,
            bastion,
        ],
        auto_scaling_groups: vec![AutoScalingGroup {
            name: "eks-ng".into(),
            min_size: 0,
            max_size: 10,
            desired_capacity: 3,
            instance_ids: vec!["i-node".into(), "i-hook".into(), "i-grouped".into()],
            lifecycle_wait_instance_ids: vec!["i-hook".into()],
            tags: Tags::new(),
        }],
        ..AwsInventory::default()
    };
    // i-back's node is named like another instance's DNS name: matching is by providerID only.
    let nodes = vec![
        node("ip-i-new.ec2.internal", "i-node"),
        node("n2", "i-back"),
    ];
    let report = ghosts::classify(
        &inv,
        NodeList::Complete(&nodes),
        &gpolicy(),
        catalog(),
        now(),
    )
    .unwrap();
    let v: Vec<&InstanceVerdict> = report.decisions.iter().map(|d| &d.verdict).collect();
    assert!(matches!(v[0], InstanceVerdict::BacksNode { .. }));
    assert!(matches!(v[1], InstanceVerdict::MarkToRemove { node } if node == "n2"));
    assert!(matches!(v[2], InstanceVerdict::Joining { .. }));
    assert_eq!(v[3], &InstanceVerdict::NewlySeen);
    assert!(matches!(v[4], InstanceVerdict::Waiting { .. }));
    assert!(matches!(v[5], InstanceVerdict::Ghost { .. }));
    assert!(matches!(v[6], InstanceVerdict::MarkInvalid { .. }));
    assert_eq!(v[7], &InstanceVerdict::Protected);
    assert!(matches!(v[8], InstanceVerdict::LifecycleWait { .. }));
    assert!(
        matches!(v[9], InstanceVerdict::Ghost { .. }),
        "its group backs a node: the cluster's"
    );
    assert_eq!(v[10], &InstanceVerdict::NotThisCluster);
    assert!(report.decisions[5].usd_per_hour.is_some());

    // Fleet 10 → 10 % is one termination: the costliest ghost, id order breaks ties.
    let plan = ghosts::plan(&report, &gpolicy(), now());
    assert_eq!(deletes(&plan), vec!["i-ghost".to_owned()]);
    let wide = GhostPolicy {
        max_fleet_share_percent: 100,
        ..gpolicy()
    };
    let plan = ghosts::plan(&report, &wide, now());
    assert_eq!(
        deletes(&plan),
        vec!["i-ghost".to_owned(), "i-grouped".to_owned()]
    );
    let grouped = plan
        .steps
        .iter()
        .find(|s| {
            deletes(&Plan {
                steps: vec![(*s).clone()],
                ..Plan::new("x", now())
            }) == ["i-grouped"]
        })
        .unwrap();
    assert!(
        matches!(&grouped.action, Action::TerminateInstance { auto_scaling_group: Some(g), .. } if g == "eks-ng")
    );
    assert!(grouped
        .preconditions
        .iter()
        .any(|p| matches!(p, crate::plan::Precondition::GroupCanShrink { .. })));
    // Report-only policy: marks, never a termination.
    let report_only = GhostPolicy::new(CLUSTER, "us-east-1");
    assert!(deletes(&ghosts::plan(&report, &report_only, now())).is_empty());
}

#[test]
fn a_failed_or_empty_node_list_never_produces_ghosts() {
    let inv = AwsInventory {
        region: "us-east-1".into(),
        instances: vec![instance("i-1", 10, Some(now() - days(5)))],
        ..AwsInventory::default()
    };
    assert!(matches!(
        ghosts::classify(
            &inv,
            NodeList::Incomplete { reason: "timeout" },
            &gpolicy(),
            catalog(),
            now()
        ),
        Err(ghosts::CannotTell::IncompleteNodeList { .. })
    ));
    assert!(matches!(
        ghosts::classify(&inv, NodeList::Complete(&[]), &gpolicy(), catalog(), now()),
        Err(ghosts::CannotTell::NoNodes { running: 1 })
    ));
}

#[test]
fn termination_budget_rounds_down_and_at_least_one_only_when_allowed() {
    let p = gpolicy();
    assert_eq!(ghosts::termination_budget(9, &p), 0);
    assert_eq!(ghosts::termination_budget(25, &p), 2);
    let one = GhostPolicy {
        at_least_one: true,
        ..gpolicy()
    };
    assert_eq!(ghosts::termination_budget(9, &one), 1);
    assert_eq!(ghosts::termination_budget(0, &one), 0);
}

#[test]
fn dry_run_through_the_runner_applies_nothing() {
    let inv = inventory(vec![cluster_volume("vol-1", Some(now() - days(1)))]);
    let snapshot = snapshot_with(vec![pv(
        "p",
        "vol-x",
        VolumePhase::Bound,
        ReclaimPolicy::Delete,
    )]);
    let report = zombies::classify(&snapshot, &inv, &zpolicy(), now()).unwrap();
    let plan = zombies::plan(&report, &zpolicy(), now());
    let applied = run_dry(&plan, inv, now());
    assert!(applied.is_empty(), "{applied:?}");
}

use crate::execute::test_account::run_plan;

fn run_dry(plan: &Plan, inventory: AwsInventory, at: Timestamp) -> Vec<String> {
    let (applied, run) = run_plan(plan, inventory, at, crate::plan::Mode::DryRun);
    assert!(
        run.steps
            .iter()
            .any(|s| matches!(s.outcome, crate::plan::StepOutcome::WouldDo(_))),
        "{run}"
    );
    applied
}

#[test]
fn executed_the_deletion_waits_for_its_snapshot_and_the_mark() {
    let inv = inventory(vec![cluster_volume("vol-1", Some(now() - days(1)))]);
    let snapshot = snapshot_with(vec![pv(
        "p",
        "vol-x",
        VolumePhase::Bound,
        ReclaimPolicy::Delete,
    )]);
    let report = zombies::classify(&snapshot, &inv, &zpolicy(), now()).unwrap();
    let plan = zombies::plan(&report, &zpolicy(), now());
    // The test account never reports a completed snapshot: the deletion is skipped.
    let (applied, run) = run_plan(&plan, inv.clone(), now(), crate::plan::Mode::Execute);
    assert_eq!(applied, vec!["snapshot_volume".to_owned()], "{run}");
    // Reattached since the plan: nothing at all.
    let mut moved = inv;
    moved.volumes[0].state = VolumeState::InUse;
    moved.volumes[0].attached_instance_ids = vec!["i-1".into()];
    let (applied, _) = run_plan(&plan, moved, now(), crate::plan::Mode::Execute);
    assert!(applied.is_empty());
}
