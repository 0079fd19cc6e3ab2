//! Plans carried out end to end through the one `PlanRunner`: the live
//! cluster read from a real kube-apiserver, the account from moto, the plan
//! made by the core, its cluster steps run by the Kubernetes executor and
//! its EC2 and Auto Scaling steps by the EC2 executor. A Spot interruption
//! warning, and the consolidation of a managed node group's node. Needs
//! both adapters (`--features aws,kube`) and both services that
//! `./scripts/test` starts.
#![cfg(all(feature = "aws", feature = "kube"))]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use cloudoptim::aws::{AutoScaling, AwsSettings, Ec2, Ec2Executor};
use cloudoptim::catalog::Catalog;
use cloudoptim::execute::PlanRunner;
use cloudoptim::k8s::{
    ClientSettings, KubeClient, KubeExecutor, Mode, ObserveOptions, Onboarding, SecretString,
    StepOutcome,
};
use cloudoptim::spot::events::parse_event;
use cloudoptim::spot::interruption::{InterruptionHandler, InterruptionPolicy, Outcome};
use k8s_openapi::api::core::v1::{Namespace, Node, Pod};
use kube::api::{ListParams, Patch, PatchParams, PostParams};
use kube::Api;
use serde_json::json;

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set: run ./scripts/test, which starts moto and kube-apiserver")
    })
}

#[tokio::test]
async fn a_spot_warning_cordons_drains_replaces_and_removes_the_node() {
    let client = cluster_admin().await;
    let admin = client.kube().clone();

    // A spot node with three managed pods. It has no Ready condition: no
    // kubelet reports here, as after the instance is reclaimed.
    let (node, instance) = ("spot-e2e-0", "i-0e2e0000000000001");
    let create = PostParams::default();
    Api::<Namespace>::all(admin.clone())
        .create(
            &create,
            &serde_json::from_value(json!({"metadata": {"name": "spot-e2e"}})).unwrap(),
        )
        .await
        .unwrap();
    let nodes: Api<Node> = Api::all(admin.clone());
    nodes
        .create(
            &create,
            &serde_json::from_value(json!({
                "metadata": {"name": node, "labels": {
                    "node.kubernetes.io/instance-type": "m5.large",
                    "topology.kubernetes.io/zone": "us-east-1a",
                    "kubernetes.io/arch": "amd64", "kubernetes.io/os": "linux",
                    "eks.amazonaws.com/capacityType": "SPOT"}},
                "spec": {"providerID": format!("aws:///us-east-1a/{instance}")},
            }))
            .unwrap(),
        )
        .await
        .unwrap();
    let status = json!({"status": {"allocatable": {"cpu": "1930m", "memory": "7Gi", "pods": "29"},
                                   "capacity": {"cpu": "2", "memory": "8Gi", "pods": "29"}}});
    nodes
        .patch_status(node, &PatchParams::default(), &Patch::Merge(&status))
        .await
        .unwrap();
    let pods: Api<Pod> = Api::namespaced(admin.clone(), "spot-e2e");
    for i in 0..3 {
        let pod = json!({
            "metadata": {"name": format!("web-{i}"), "ownerReferences": [{"apiVersion": "apps/v1",
                "kind": "ReplicaSet", "name": "web", "uid": "7b1c3a52-0000-4000-8000-000000000001",
                "controller": true}]},
            "spec": {"nodeName": node, "terminationGracePeriodSeconds": 0,
                "containers": [{"name": "web", "image": "registry.example/web:1",
                    "resources": {"requests": {"cpu": "250m", "memory": "256Mi"}}}]},
        });
        pods.create(&create, &serde_json::from_value(pod).unwrap())
            .await
            .unwrap();
    }

    // The warning, as EventBridge delivers it, for that node's instance.
    let now = jiff::Timestamp::now();
    let warning = json!({
        "version": "0", "id": "e2e-warning-1", "detail-type": "EC2 Spot Instance Interruption Warning",
        "source": "aws.ec2", "account": "123456789012", "time": now.to_string(), "region": "us-east-1",
        "resources": [format!("arn:aws:ec2:us-east-1a:instance/{instance}")],
        "detail": {"instance-id": instance, "instance-action": "terminate"},
    });
    let event = parse_event(&warning.to_string()).unwrap();
    let observed = client.observe(&ObserveOptions::default()).await.unwrap();
    let catalog = Catalog::embedded().unwrap();
    let outcome = InterruptionHandler::new().handle(
        &event,
        &observed.snapshot,
        catalog,
        &InterruptionPolicy::default(),
        now,
    );
    let Outcome::Plan { plan, .. } = outcome else {
        panic!("a warning for a known node gives a plan: {outcome:?}");
    };

    let config = AwsSettings {
        region: "us-east-1".into(),
        endpoint_url: Some(env("CLOUDOPTIM_MOTO_ENDPOINT")),
        ..AwsSettings::default()
    }
    .sdk_config()
    .await;
    let ec2 = Ec2::new(&config);
    let ec2_executor = Ec2Executor::new(ec2.clone());
    let executor = KubeExecutor::new(client, Mode::Execute);
    let clock = jiff::Timestamp::now;
    let run = PlanRunner::new(&clock)
        .with(&executor)
        .with(&ec2_executor)
        .mode(Mode::Execute)
        .run(&plan)
        .await
        .expect("every step of the plan has an executor");
    assert!(run.is_complete(), "{run}");
    let kinds: Vec<&str> = plan.steps.iter().map(|s| s.action.kind()).collect();
    assert_eq!(kinds.first(), Some(&"cordon"));
    assert!(
        kinds.contains(&"launch_instance") && kinds.contains(&"delete_node"),
        "{kinds:?}"
    );
    assert!(
        run.steps
            .iter()
            .all(|s| matches!(s.outcome, StepOutcome::Done(_))),
        "{run}"
    );

    // The pods are gone, the Node too, and a replacement runs in the account.
    assert!(pods
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .is_empty());
    assert!(nodes.get_opt(node).await.unwrap().is_none());
    let replacements = ec2
        .instances(&[("tag:cloudoptim.io/replaces", &[node])])
        .await
        .unwrap();
    assert_eq!(replacements.len(), 1, "{replacements:?}");
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

#[tokio::test]
async fn an_empty_node_group_node_leaves_through_its_group_which_shrinks() {
    let config = AwsSettings {
        region: "us-east-1".into(),
        endpoint_url: Some(env("CLOUDOPTIM_MOTO_ENDPOINT")),
        ..AwsSettings::default()
    }
    .sdk_config()
    .await;
    let ec2 = Ec2::new(&config);
    let autoscaling = AutoScaling::new(&config);

    // A managed node group's Auto Scaling group in moto: min 1, desired 2.
    let group = "e2e-workers";
    let ec2_sdk = aws_sdk_ec2::Client::new(&config);
    let image = ec2_sdk
        .describe_images()
        .send()
        .await
        .unwrap()
        .images
        .unwrap_or_default()
        .into_iter()
        .find_map(|i| i.image_id)
        .unwrap();
    let template = ec2_sdk
        .create_launch_template()
        .launch_template_name(group)
        .launch_template_data(
            aws_sdk_ec2::types::RequestLaunchTemplateData::builder()
                .image_id(image)
                .instance_type(aws_sdk_ec2::types::InstanceType::M5Large)
                .build(),
        )
        .send()
        .await
        .unwrap()
        .launch_template()
        .and_then(|t| t.launch_template_id.clone())
        .unwrap();
    aws_sdk_autoscaling::Client::new(&config)
        .create_auto_scaling_group()
        .auto_scaling_group_name(group)
        .min_size(1)
        .desired_capacity(2)
        .max_size(3)
        .availability_zones("us-east-1a")
        .launch_template(
            aws_sdk_autoscaling::types::LaunchTemplateSpecification::builder()
                .launch_template_id(template)
                .build(),
        )
        .send()
        .await
        .unwrap();
    let mut instances = Vec::new();
    for _ in 0..150 {
        instances = autoscaling
            .group(group)
            .await
            .unwrap()
            .unwrap()
            .instance_ids;
        if instances.len() == 2 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    assert_eq!(instances.len(), 2, "the group never got its 2 instances");

    // Their two nodes in the cluster, labelled as the node group's; one runs
    // nothing (no kubelet reports here: no Ready condition, as after its
    // instance is gone), the other holds a pod that fits nowhere else.
    let client = cluster_admin().await;
    let admin = client.kube().clone();
    let nodes: Api<Node> = Api::all(admin.clone());
    let create = PostParams::default();
    let names = ["ng-e2e-0", "ng-e2e-1"];
    for (name, instance) in names.iter().zip(&instances) {
        nodes
            .create(
                &create,
                &serde_json::from_value(json!({
                    "metadata": {"name": name, "labels": {
                        "node.kubernetes.io/instance-type": "m5.large",
                        "topology.kubernetes.io/zone": "us-east-1a",
                        "kubernetes.io/arch": "amd64", "kubernetes.io/os": "linux",
                        "eks.amazonaws.com/capacityType": "ON_DEMAND",
                        "eks.amazonaws.com/nodegroup": "workers"}},
                    "spec": {"providerID": format!("aws:///us-east-1a/{instance}")},
                }))
                .unwrap(),
            )
            .await
            .unwrap();
        let status = json!({"status": {"allocatable": {"cpu": "1930m", "memory": "7Gi", "pods": "29"},
                                       "capacity": {"cpu": "2", "memory": "8Gi", "pods": "29"}}});
        nodes
            .patch_status(name, &PatchParams::default(), &Patch::Merge(&status))
            .await
            .unwrap();
    }
    Api::<Namespace>::all(admin.clone())
        .create(
            &create,
            &serde_json::from_value(json!({"metadata": {"name": "ng-e2e"}})).unwrap(),
        )
        .await
        .unwrap();
    let pod = json!({
        "metadata": {"name": "big", "ownerReferences": [{"apiVersion": "apps/v1",
            "kind": "ReplicaSet", "name": "big", "uid": "7b1c3a52-0000-4000-8000-000000000002",
            "controller": true}]},
        "spec": {"nodeName": names[1], "terminationGracePeriodSeconds": 0,
            "containers": [{"name": "big", "image": "registry.example/big:1",
                "resources": {"requests": {"cpu": "1500m", "memory": "6Gi"}}}]},
    });
    Api::<Pod>::namespaced(admin.clone(), "ng-e2e")
        .create(&create, &serde_json::from_value(pod).unwrap())
        .await
        .unwrap();

    // Observe both sides, plan, and run the plan through one runner.
    let mut snapshot = client
        .observe(&ObserveOptions::default())
        .await
        .unwrap()
        .snapshot;
    snapshot.nodes.retain(|n| names.contains(&n.name.as_str()));
    snapshot
        .pods
        .retain(|p| p.node_name.as_deref().is_some_and(|n| names.contains(&n)));
    let account = cloudoptim::inventory::AwsInventory {
        region: "us-east-1".into(),
        auto_scaling_groups: autoscaling.groups().await.unwrap(),
        ..Default::default()
    };
    let catalog = Catalog::embedded().unwrap();
    let policy = cloudoptim::consolidation::ConsolidationPolicy {
        max_disrupted_percent: 100,
        ..Default::default()
    };
    let now = jiff::Timestamp::now();
    let c = cloudoptim::consolidation::plan_consolidation(
        &snapshot,
        Some(&account),
        catalog,
        &cloudoptim::binpack::LpGuidedPacker::default(),
        &policy,
        now,
    );
    assert_eq!(
        c.removed_nodes,
        vec![names[0].to_owned()],
        "{:?}",
        c.blocked
    );
    // The group is at 2 with a minimum of 1: the second node stays for its
    // pod, and could not go anyway.
    let executor = KubeExecutor::new(client.clone(), Mode::Execute);
    let ec2_executor = Ec2Executor::new(ec2.clone()).with_auto_scaling(autoscaling.clone());
    let clock = jiff::Timestamp::now;
    let runner = PlanRunner::new(&clock)
        .with(&executor)
        .with(&ec2_executor)
        .mode(Mode::Execute);
    // Without the Auto Scaling client the group's termination has no owner:
    // the plan is refused before anything runs.
    let plain = Ec2Executor::new(ec2.clone());
    let refused = PlanRunner::new(&clock)
        .with(&executor)
        .with(&plain)
        .check(&c.plan)
        .unwrap_err();
    assert!(
        refused.to_string().contains("terminate_instance"),
        "{refused}"
    );
    let run = runner.run(&c.plan).await.unwrap();
    assert!(run.is_complete(), "{run}");
    assert!(run.skipped().next().is_none(), "{run}");

    // The group shrank to 1, kept the other instance, launched nothing.
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    let after = autoscaling.group(group).await.unwrap().unwrap();
    assert_eq!(after.desired_capacity, 1, "{after:?}");
    assert_eq!(after.instance_ids, vec![instances[1].clone()], "{after:?}");
    assert!(nodes.get_opt(names[0]).await.unwrap().is_none());
    assert!(nodes.get_opt(names[1]).await.unwrap().is_some());

    // Running the finished plan again reports every step done or moot.
    let again = runner.run(&c.plan).await.unwrap();
    assert!(again.is_complete(), "{again}");
}
