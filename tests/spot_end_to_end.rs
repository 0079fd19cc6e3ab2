//! A Spot interruption warning handled end to end: the live cluster read
//! from a real kube-apiserver, the plan made by the core, its cluster steps
//! run by the Kubernetes executor and its EC2 steps by the EC2 executor
//! against moto, in one `KubeExecutor::run_with`. Needs both adapters
//! (`--features aws,kube`) and both services that `./scripts/test` starts.
#![cfg(all(feature = "aws", feature = "kube"))]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use cloudoptim::aws::{AwsSettings, Ec2, Ec2Executor};
use cloudoptim::catalog::Catalog;
use cloudoptim::k8s::{
    ClientSettings, KubeClient, KubeExecutor, Mode, ObserveOptions, Onboarding, SecretString,
    StepOutcome,
};
use cloudoptim::plan::Step;
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
    let client = KubeClient::from_onboarding(
        &Onboarding {
            endpoint: env("CLOUDOPTIM_KUBE_APISERVER"),
            token: SecretString::from(env("CLOUDOPTIM_KUBE_ADMIN_TOKEN")),
            ca_pem: Some(std::fs::read_to_string(env("CLOUDOPTIM_KUBE_CA")).unwrap()),
        },
        ClientSettings::default(),
    )
    .await
    .unwrap();
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
    let ec2_executor = Ec2Executor::new(ec2.clone(), Mode::Execute);
    let mut executor = KubeExecutor::new(client, Mode::Execute);
    executor.drain.force = true;
    let run = executor
        .run_with(&plan, async |step: &Step| {
            ec2_executor.execute_step(step).await
        })
        .await;
    assert!(run.is_complete(), "{:?}", run.failed);
    let kinds: Vec<&str> = plan.steps.iter().map(|s| s.action.kind()).collect();
    assert_eq!(kinds.first(), Some(&"cordon"));
    assert!(
        kinds.contains(&"launch_instance") && kinds.contains(&"delete_node"),
        "{kinds:?}"
    );
    assert!(
        run.outcomes
            .iter()
            .all(|o| matches!(o, StepOutcome::Done(_))),
        "{:?}",
        run.outcomes
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
