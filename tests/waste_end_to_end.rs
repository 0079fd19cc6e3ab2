//! Zombie volumes and ghost instances end to end: the cluster read from a
//! real kube-apiserver, the account from moto, the verdicts and plans made
//! by the core with the clock passed in, and every step carried out by the
//! one `PlanRunner` (EC2 steps and facts by the EC2 executor, PV facts by
//! the Kubernetes executor). Needs both adapters (`--features aws,kube`)
//! and both services that `./scripts/test` starts.
#![cfg(all(feature = "aws", feature = "kube"))]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use aws_config::SdkConfig;
use cloudoptim::aws::ec2::LaunchRequest;
use cloudoptim::aws::{observe_account, AutoScaling, AwsSettings, Ec2, Ec2Executor};
use cloudoptim::catalog::Catalog;
use cloudoptim::execute::PlanRunner;
use cloudoptim::inventory::{tags, AwsInventory, InstanceState, Tags};
use cloudoptim::k8s::{
    ClientSettings, KubeClient, KubeExecutor, Mode, ObserveOptions, Onboarding, SecretString,
    StepOutcome,
};
use cloudoptim::plan::{Action, Plan};
use cloudoptim::snapshot::{CapacityType, ClusterSnapshot};
use cloudoptim::waste::ghost_instances::{
    self, GhostAction, GhostPolicy, InstanceVerdict, NodeList,
};
use cloudoptim::waste::zombie_volumes::{self, VolumeVerdict, ZombiePolicy};
use jiff::{SignedDuration, Timestamp};
use k8s_openapi::api::core::v1::{Node, PersistentVolume};
use kube::api::{DeleteParams, PostParams};
use kube::Api;
use serde_json::json;

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set: run ./scripts/test, which starts moto and kube-apiserver")
    })
}

fn unique(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{prefix}-{nanos}")
}

async fn aws() -> SdkConfig {
    AwsSettings {
        region: "us-east-1".into(),
        endpoint_url: Some(env("CLOUDOPTIM_MOTO_ENDPOINT")),
        ..AwsSettings::default()
    }
    .sdk_config()
    .await
}

async fn cluster_admin() -> KubeClient {
    KubeClient::from_onboarding(
        &Onboarding {
            endpoint: env("CLOUDOPTIM_KUBE_APISERVER"),
            token: SecretString::from(env("CLOUDOPTIM_KUBE_ADMIN_TOKEN")),
            ca_pem: Some(std::fs::read_to_string(env("CLOUDOPTIM_KUBE_CA")).unwrap()),
        },
        ClientSettings::default(),
    )
    .await
    .unwrap()
}

async fn observe(client: &KubeClient, ec2: &Ec2, cluster: &str) -> (ClusterSnapshot, AwsInventory) {
    let observed = client
        .observe(&ObserveOptions {
            metrics: false,
            ..ObserveOptions::default()
        })
        .await
        .unwrap();
    assert!(observed.is_consistent("Node"));
    let account = observe_account(
        ec2,
        Some(&AutoScaling::new(&aws().await)),
        "us-east-1",
        cluster,
    )
    .await
    .unwrap();
    (observed.snapshot, account)
}

/// A PVC-backed volume of `cluster`, unattached (what the EBS CSI driver
/// leaves behind when a claim goes and its PV with it).
async fn csi_volume(config: &SdkConfig, cluster: &str, claim: &str) -> String {
    let tag = |k: &str, v: &str| aws_sdk_ec2::types::Tag::builder().key(k).value(v).build();
    aws_sdk_ec2::Client::new(config)
        .create_volume()
        .availability_zone("us-east-1a")
        .size(100)
        .volume_type(aws_sdk_ec2::types::VolumeType::Gp3)
        .tag_specifications(
            aws_sdk_ec2::types::TagSpecification::builder()
                .resource_type(aws_sdk_ec2::types::ResourceType::Volume)
                .set_tags(Some(vec![
                    tag(&format!("kubernetes.io/cluster/{cluster}"), "owned"),
                    tag("ebs.csi.aws.com/cluster", "true"),
                    tag("CSIVolumeName", &format!("pvc-{claim}")),
                    tag("kubernetes.io/created-for/pvc/name", claim),
                    tag("kubernetes.io/created-for/pvc/namespace", "default"),
                ]))
                .build(),
        )
        .send()
        .await
        .unwrap()
        .volume_id()
        .unwrap()
        .to_owned()
}

async fn run(
    plan: &Plan,
    at: Timestamp,
    mode: Mode,
    ec2: &Ec2,
    kube: &KubeClient,
) -> Vec<StepOutcome> {
    let aws = Ec2Executor::new(ec2.clone()).with_auto_scaling(AutoScaling::new(&aws().await));
    let mut aws = aws;
    aws.snapshot_poll = std::time::Duration::from_millis(50);
    let k8s = KubeExecutor::new(kube.clone(), mode);
    let clock = move || at;
    let ran = PlanRunner::new(&clock)
        .with(&aws)
        .with(&k8s)
        .mode(mode)
        .run(plan)
        .await
        .unwrap();
    assert!(ran.is_complete(), "{ran}");
    ran.steps.into_iter().map(|s| s.outcome).collect()
}

fn verdict<'a>(report: &'a zombie_volumes::ZombieReport, id: &str) -> &'a VolumeVerdict {
    &report
        .decisions
        .iter()
        .find(|d| d.volume_id == id)
        .unwrap_or_else(|| panic!("no verdict for {id}: {report:?}"))
        .verdict
}

fn mark_of(account: &AwsInventory, id: &str) -> Option<String> {
    account
        .volumes
        .iter()
        .find(|v| v.volume_id == id)
        .and_then(|v| v.tags.get(tags::DELETE_AFTER).cloned())
}

#[tokio::test]
async fn a_zombie_volume_is_marked_waits_its_grace_is_snapshotted_then_deleted() {
    let config = aws().await;
    let ec2 = Ec2::new(&config);
    let kube = cluster_admin().await;
    let cluster = unique("zombie-e2e");
    let zombie = csi_volume(&config, &cluster, "data-old-0").await;
    let reclaimed = csi_volume(&config, &cluster, "data-back-0").await;
    let policy = ZombiePolicy::new(&cluster, "us-east-1");
    let t0: Timestamp = "2026-12-01T00:00:00Z".parse().unwrap();
    let day = |n: i64| t0.checked_add(SignedDuration::from_hours(24 * n)).unwrap();

    // Day 0: both unused, first seen: marked, nothing deleted.
    let (snapshot, account) = observe(&kube, &ec2, &cluster).await;
    let report = zombie_volumes::classify(&snapshot, &account, &policy, t0).unwrap();
    assert!(matches!(
        verdict(&report, &zombie),
        VolumeVerdict::NewlySeen { .. }
    ));
    let plan = zombie_volumes::plan(&report, &policy, t0);
    assert!(
        plan.steps.iter().all(|s| !s.action.is_destructive()),
        "{plan:?}"
    );
    run(&plan, t0, Mode::Execute, &ec2, &kube).await;
    let (_, account) = observe(&kube, &ec2, &cluster).await;
    let mark = mark_of(&account, &zombie).unwrap();
    assert_eq!(mark.parse::<Timestamp>().unwrap(), day(7));
    assert!(mark_of(&account, &reclaimed).is_some());

    // Day 3: a PV refers to the second one again: its mark goes. The
    // first waits out its grace period.
    let pvs: Api<PersistentVolume> = Api::all(kube.kube().clone());
    let pv_name = format!("{cluster}-back");
    pvs.create(
        &PostParams::default(),
        &serde_json::from_value(json!({"metadata": {"name": pv_name}, "spec": {
            "capacity": {"storage": "100Gi"}, "accessModes": ["ReadWriteOnce"],
            "persistentVolumeReclaimPolicy": "Retain",
            "csi": {"driver": "ebs.csi.aws.com", "volumeHandle": reclaimed}}}))
        .unwrap(),
    )
    .await
    .unwrap();
    let (snapshot, account) = observe(&kube, &ec2, &cluster).await;
    let report = zombie_volumes::classify(&snapshot, &account, &policy, day(3)).unwrap();
    assert!(matches!(
        verdict(&report, &zombie),
        VolumeVerdict::Waiting { .. }
    ));
    assert!(matches!(
        verdict(&report, &reclaimed),
        VolumeVerdict::MarkToRemove { .. }
    ));
    let plan = zombie_volumes::plan(&report, &policy, day(3));
    assert!(
        plan.steps.iter().all(|s| !s.action.is_destructive()),
        "{plan:?}"
    );
    run(&plan, day(3), Mode::Execute, &ec2, &kube).await;
    let (_, account) = observe(&kube, &ec2, &cluster).await;
    assert_eq!(mark_of(&account, &reclaimed), None);
    assert!(mark_of(&account, &zombie).is_some());

    // Day 8: past its mark. A dry run changes nothing...
    let (snapshot, account) = observe(&kube, &ec2, &cluster).await;
    let report = zombie_volumes::classify(&snapshot, &account, &policy, day(8)).unwrap();
    assert!(matches!(
        verdict(&report, &zombie),
        VolumeVerdict::Deletable { .. }
    ));
    assert!(matches!(
        verdict(&report, &reclaimed),
        VolumeVerdict::ClaimedByPv { .. }
    ));
    let plan = zombie_volumes::plan(&report, &policy, day(8));
    let kinds: Vec<&str> = plan.steps.iter().map(|s| s.action.kind()).collect();
    assert_eq!(kinds, ["snapshot_volume", "delete_volume"], "{plan:?}");
    assert!(
        matches!(&plan.steps[1].action, Action::DeleteVolume { volume_id } if volume_id == &zombie)
    );
    let dry = run(&plan, day(8), Mode::DryRun, &ec2, &kube).await;
    assert!(
        dry.iter().all(|o| !matches!(o, StepOutcome::Done(_))),
        "{dry:?}"
    );
    assert!(ec2.volume(&zombie).await.unwrap().is_some());
    assert!(ec2.snapshots_of(&zombie).await.unwrap().is_empty());

    // ...the same plan run at day 6 (a skewed clock) deletes nothing...
    let early = run(&plan, day(6), Mode::Execute, &ec2, &kube).await;
    assert!(matches!(&early[1], StepOutcome::Skipped(_)), "{early:?}");
    assert!(ec2.volume(&zombie).await.unwrap().is_some());

    // ...and at day 8 it snapshots, then deletes; again, all already done.
    let done = run(&plan, day(8), Mode::Execute, &ec2, &kube).await;
    assert!(
        done.iter().all(|o| matches!(o, StepOutcome::Done(_))),
        "{done:?}"
    );
    assert!(ec2.volume(&zombie).await.unwrap().is_none());
    assert_eq!(ec2.snapshots_of(&zombie).await.unwrap().len(), 1);
    let again = run(&plan, day(8), Mode::Execute, &ec2, &kube).await;
    assert!(
        again
            .iter()
            .all(|o| matches!(o, StepOutcome::Done(m) if m.contains("already"))),
        "{again:?}"
    );
    // The reclaimed one is still there, kept by its PV.
    assert!(ec2.volume(&reclaimed).await.unwrap().is_some());
    pvs.delete(&pv_name, &DeleteParams::default())
        .await
        .unwrap();
    ec2.delete_volume(&reclaimed).await.unwrap();
}

#[tokio::test]
async fn a_ghost_is_marked_then_terminated_after_its_grace_and_never_on_a_failed_node_list() {
    let config = aws().await;
    let ec2 = Ec2::new(&config);
    let kube = cluster_admin().await;
    let cluster = unique("ghost-e2e");
    let image = aws_sdk_ec2::Client::new(&config)
        .describe_images()
        .send()
        .await
        .unwrap()
        .images()[0]
        .image_id()
        .unwrap()
        .to_owned();
    let launch = || LaunchRequest {
        instance_type: "m5.large".into(),
        zone: Some("us-east-1a".into()),
        capacity_type: CapacityType::OnDemand,
        count: 1,
        tags: [(
            format!("kubernetes.io/cluster/{cluster}"),
            "owned".to_owned(),
        )]
        .into_iter()
        .collect::<Tags>(),
        launch_template_id: None,
        image_id: Some(image.clone()),
    };
    let backing = ec2.launch(&launch()).await.unwrap().remove(0);
    let ghost = ec2.launch(&launch()).await.unwrap().remove(0);
    // The node of the first instance; its name is the ghost's id, so a
    // match by name would be wrong: only providerID counts.
    let nodes: Api<Node> = Api::all(kube.kube().clone());
    let node_name = format!("{cluster}-node");
    nodes
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": node_name, "labels": {
                    "topology.kubernetes.io/zone": "us-east-1a"}},
                "spec": {"providerID": format!("aws:///us-east-1a/{backing}")}}))
            .unwrap(),
        )
        .await
        .unwrap();
    let catalog = Catalog::embedded().unwrap();
    let mut policy = GhostPolicy::new(&cluster, "us-east-1");
    policy.action = GhostAction::Terminate;
    policy.at_least_one = true;
    let (snapshot, account) = observe(&kube, &ec2, &cluster).await;
    let launched = account
        .instances
        .iter()
        .find(|i| i.instance_id == ghost)
        .unwrap()
        .launched_at;
    let hours = |n: i64| launched.checked_add(SignedDuration::from_hours(n)).unwrap();
    let verdict_of = |report: &ghost_instances::GhostReport, id: &str| {
        report
            .decisions
            .iter()
            .find(|d| d.instance_id == id)
            .unwrap()
            .verdict
            .clone()
    };

    // A failed node list gives no verdict at all.
    let failed = NodeList::Incomplete {
        reason: "403 listing nodes",
    };
    assert!(ghost_instances::classify(&account, failed, &policy, catalog, hours(48)).is_err());

    // Just launched: joining. A day on: first sight, marked.
    let nodes_now = NodeList::Complete(&snapshot.nodes);
    let report =
        ghost_instances::classify(&account, nodes_now, &policy, catalog, hours(1)).unwrap();
    assert!(matches!(
        verdict_of(&report, &ghost),
        InstanceVerdict::Joining { .. }
    ));
    assert!(matches!(
        verdict_of(&report, &backing),
        InstanceVerdict::BacksNode { .. }
    ));
    let report =
        ghost_instances::classify(&account, nodes_now, &policy, catalog, hours(25)).unwrap();
    assert_eq!(verdict_of(&report, &ghost), InstanceVerdict::NewlySeen);
    let plan = ghost_instances::plan(&report, &policy, hours(25));
    assert!(
        plan.steps.iter().all(|s| !s.action.is_destructive()),
        "{plan:?}"
    );
    run(&plan, hours(25), Mode::Execute, &ec2, &kube).await;

    // A day after its mark: a ghost, terminated.
    let (snapshot, account) = observe(&kube, &ec2, &cluster).await;
    let nodes_now = NodeList::Complete(&snapshot.nodes);
    let report =
        ghost_instances::classify(&account, nodes_now, &policy, catalog, hours(50)).unwrap();
    assert!(matches!(
        verdict_of(&report, &ghost),
        InstanceVerdict::Ghost { .. }
    ));
    let plan = ghost_instances::plan(&report, &policy, hours(50));
    assert!(
        plan.steps.iter().any(|s| matches!(&s.action,
            Action::TerminateInstance { instance_id, .. } if instance_id == &ghost)),
        "{plan:?}"
    );
    assert!(plan.steps.iter().all(|s| !matches!(&s.action,
        Action::TerminateInstance { instance_id, .. } if instance_id == &backing)));
    run(&plan, hours(50), Mode::Execute, &ec2, &kube).await;
    let ids = [ghost.as_str(), backing.as_str()];
    let after = ec2.instances(&[("instance-id", &ids)]).await.unwrap();
    let state = |id: &str| after.iter().find(|i| i.instance_id == id).unwrap().state;
    assert!(matches!(
        state(&ghost),
        InstanceState::Terminated | InstanceState::ShuttingDown
    ));
    assert_eq!(state(&backing), InstanceState::Running);
    nodes
        .delete(&node_name, &DeleteParams::default())
        .await
        .unwrap();
    ec2.terminate(&[backing]).await.unwrap();
}
