//! The controller end to end, on the real services `./scripts/test` starts
//! (PostgreSQL, moto, kube-apiserver): a cluster registered over HTTP, a
//! spot warning delivered through EventBridge → SQS and carried out
//! (cordon, drain, replacement, node removed) and recorded; a consolidation
//! cycle asked for over HTTP, its process killed mid-cycle, and a second
//! process taking the cluster over and finishing the run without repeating
//! a done step. Every log line of the run is searched for the token.
//!
//! The clusters share the test API server: each is scoped to its own nodes
//! by a label (`node_selector`), as one of several clusters or node pools
//! behind one API server would be.
#![cfg(feature = "runtime")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod runtime_support;

use std::collections::BTreeSet;
use std::io::Write;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use cloudoptim::aws::ec2::LaunchRequest;
use cloudoptim::aws::{AwsSettings, Ec2, SqsSettings};
use cloudoptim::consolidation::ConsolidationPolicy;
use cloudoptim::inventory::{tags, Tags};
use cloudoptim::k8s::{ClientSettings, KubeClient, Onboarding, SecretString};
use cloudoptim::plan::Mode;
use cloudoptim::runtime::api::ApiState;
use cloudoptim::runtime::{Controller, ControllerConfig, Engine, Store, TokenKey};
use cloudoptim::snapshot::CapacityType;
use cloudoptim::waste::ghost_instances::{GhostAction, GhostPolicy};
use cloudoptim::waste::zombie_volumes::ZombiePolicy;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Namespace, Node, Pod};
use kube::api::{Api, Patch, PatchParams, PostParams};
use runtime_support::{call, env, fresh_database, serve};
use serde_json::{json, Value};
use tokio::sync::watch;

const KEY: Option<&str> = Some("controller-test-key");
/// The label scoping each test's cluster to its own nodes.
const SCOPE: &str = "cloudoptim.io/test-cluster";
/// Set in the child process of the takeover test: the database it uses.
const CHILD: &str = "CLOUDOPTIM_TEST_CONTROLLER_CHILD";

fn token_key() -> TokenKey {
    TokenKey::from_hex(&"5a".repeat(32)).unwrap()
}

/// A suffix no earlier run against the same API server used, and no
/// other test of this run (they start in the same millisecond).
fn unique(test: &str) -> String {
    format!("{test}{:x}", jiff::Timestamp::now().as_millisecond())
}

async fn store(url: &str) -> Arc<Store> {
    let mut store = Store::connect(url, token_key()).await.unwrap();
    store.migrate().await.unwrap();
    Arc::new(store)
}

async fn api(store: Arc<Store>, controller: Option<&Controller>) -> SocketAddr {
    serve(Arc::new(ApiState {
        store,
        api_key: KEY.map(str::to_owned),
        holder: "api".into(),
        kube_settings: ClientSettings::default(),
        metrics: controller.map(Controller::metrics),
    }))
    .await
}

async fn admin() -> KubeClient {
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

async fn aws() -> aws_config::SdkConfig {
    AwsSettings {
        region: "us-east-1".into(),
        endpoint_url: Some(env("CLOUDOPTIM_MOTO_ENDPOINT")),
        ..AwsSettings::default()
    }
    .sdk_config()
    .await
}

/// A node of the scoped cluster `scope`, with its capacity.
async fn add_node(nodes: &Api<Node>, name: &str, instance: &str, scope: &str, capacity: &str) {
    nodes
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({
                "metadata": {"name": name, "labels": {
                    "node.kubernetes.io/instance-type": "m5.large",
                    "topology.kubernetes.io/zone": "us-east-1a",
                    "kubernetes.io/arch": "amd64", "kubernetes.io/os": "linux",
                    "eks.amazonaws.com/capacityType": capacity,
                    SCOPE: scope}},
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

/// Register the cluster over HTTP, scoped to `scope`; its id.
async fn register(addr: SocketAddr, name: &str, scope: &str, queue: Option<&str>) -> i64 {
    let (status, created) = call(
        addr,
        "POST",
        "/api/v1/admin/clusters",
        KEY,
        Some(json!({"name": name, "region": "us-east-1",
            "api_endpoint": env("CLOUDOPTIM_KUBE_APISERVER"),
            "ca_pem": std::fs::read_to_string(env("CLOUDOPTIM_KUBE_CA")).unwrap(),
            "service_account_token": env("CLOUDOPTIM_KUBE_ADMIN_TOKEN"),
            "sqs_queue_url": queue, "node_selector": {SCOPE: scope}})),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    created["id"].as_i64().unwrap()
}

fn config(holder: &str, lease: Duration, step_pause: Duration) -> ControllerConfig {
    let mut c = ControllerConfig::new(holder);
    c.lease = lease;
    c.look_interval = Duration::from_millis(200);
    c.cycle_interval = None;
    c.mode = Mode::Execute;
    c.step_pause = step_pause;
    c.consolidation = Some(ConsolidationPolicy {
        max_disrupted_nodes: 10,
        max_disrupted_percent: 100,
        ..ConsolidationPolicy::default()
    });
    // The other engines have a test of their own (they would add runs of
    // their own to the history these tests read).
    c.ghost_instances = None;
    c.zombie_volumes = None;
    c.office_hours = None;
    c.sqs = SqsSettings {
        wait_seconds: 1,
        ..SqsSettings::from_env(String::new())
    };
    c.aws = AwsSettings {
        region: "us-east-1".into(),
        endpoint_url: Some(env("CLOUDOPTIM_MOTO_ENDPOINT")),
        ..AwsSettings::default()
    };
    c.max_backoff = Duration::from_secs(2);
    c
}

/// Create namespace `name`.
async fn namespace(kube: &kube::Client, name: &str) {
    Api::<Namespace>::all(kube.clone())
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": name}})).unwrap(),
        )
        .await
        .unwrap();
}

/// The cluster's runs as the history endpoint lists them, newest first.
async fn history(addr: SocketAddr, id: i64) -> Vec<Value> {
    let (status, h) = call(
        addr,
        "GET",
        &format!("/api/v1/optimization/history?cluster_id={id}"),
        KEY,
        None,
    )
    .await;
    assert_eq!(status, 200, "{h}");
    h["runs"].as_array().unwrap().clone()
}

/// Wait until `holder` holds the (only) cluster.
async fn held_by(addr: SocketAddr, holder: &str) {
    until("the cluster held", Duration::from_secs(30), || async {
        let (_, listed) = call(addr, "GET", "/api/v1/admin/clusters", KEY, None).await;
        (listed["clusters"][0]["lease_holder"] == holder).then_some(())
    })
    .await;
}

/// Ask for a cycle of cluster `id` over HTTP.
async fn trigger(addr: SocketAddr, id: i64) {
    let (status, accepted) = call(
        addr,
        "POST",
        "/api/v1/optimization/trigger",
        KEY,
        Some(json!({"cluster_id": id})),
    )
    .await;
    assert_eq!(status, 202, "{accepted}");
}

/// Poll `f` every 100 ms until it gives `Some`, for at most `limit`.
async fn until<T, F, Fut>(what: &str, limit: Duration, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let start = Instant::now();
    loop {
        if let Some(t) = f().await {
            return t;
        }
        assert!(start.elapsed() < limit, "{what}: not within {limit:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A queue and the seed's EventBridge rule (from the deployment template)
/// targeting it; the queue's URL.
async fn queue_with_rule(config: &aws_config::SdkConfig, name: &str) -> String {
    let sqs = aws_sdk_sqs::Client::new(config);
    let events = aws_sdk_eventbridge::Client::new(config);
    let url = sqs
        .create_queue()
        .queue_name(name)
        .send()
        .await
        .unwrap()
        .queue_url()
        .unwrap()
        .to_owned();
    let arn = sqs
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
        .send()
        .await
        .unwrap()
        .attributes()
        .and_then(|a| {
            a.get(&aws_sdk_sqs::types::QueueAttributeName::QueueArn)
                .cloned()
        })
        .unwrap();
    let template: Value =
        serde_json::from_str(include_str!("../deploy/cloudformation.json")).unwrap();
    let pattern =
        template["Resources"]["SpotInterruptionRule"]["Properties"]["EventPattern"].to_string();
    events
        .put_rule()
        .name(name)
        .event_pattern(pattern)
        .send()
        .await
        .unwrap();
    events
        .put_targets()
        .rule(name)
        .targets(
            aws_sdk_eventbridge::types::Target::builder()
                .id("q")
                .arn(arn)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    url
}

/// Every log line written while it is installed, kept in memory.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn a_spot_warning_through_eventbridge_is_drained_replaced_and_recorded() {
    // Every log line at every level, from every crate and every test of
    // this binary, while it runs. The subscriber is the process's (one
    // scoped to this test's thread would race with the callsite interest
    // the other tests' threads register at the same time).
    let logs = Captured::default();
    let writer = logs.clone();
    tracing::subscriber::set_global_default(
        tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .finish(),
    )
    .expect("this test is the only one to install a subscriber");

    let sfx = unique("s");
    let url = fresh_database("ctl_spot").await;
    let store = store(&url).await;
    let aws_config = aws().await;
    let queue = queue_with_rule(&aws_config, &format!("ctl-spot-{sfx}")).await;

    // The cluster: one spot node with two managed pods.
    let admin = admin().await;
    let kube = admin.kube().clone();
    let ns = format!("ctl-spot-{sfx}");
    namespace(&kube, &ns).await;
    let nodes: Api<Node> = Api::all(kube.clone());
    let node = format!("ctl-spot-{sfx}");
    let instance = format!("i-0c71{:0>13}", &sfx[1..]);
    add_node(&nodes, &node, &instance, &sfx, "SPOT").await;
    let pods: Api<Pod> = Api::namespaced(kube.clone(), &ns);
    for i in 0..2 {
        let pod = json!({
            "metadata": {"name": format!("web-{i}"), "ownerReferences": [{"apiVersion": "apps/v1",
                "kind": "ReplicaSet", "name": "web", "uid": "7b1c3a52-0000-4000-8000-000000000002",
                "controller": true}]},
            "spec": {"nodeName": node, "terminationGracePeriodSeconds": 0,
                "containers": [{"name": "web", "image": "registry.example/web:1",
                    "resources": {"requests": {"cpu": "250m", "memory": "256Mi"}}}]},
        });
        pods.create(
            &PostParams::default(),
            &serde_json::from_value(pod).unwrap(),
        )
        .await
        .unwrap();
    }

    // A controller, and the API in the same process serving its metrics.
    let controller = Controller::new(
        store.clone(),
        config("ctl-spot", Duration::from_secs(10), Duration::ZERO),
    )
    .unwrap();
    let addr = api(store.clone(), Some(&controller)).await;
    let id = register(addr, "spot", &sfx, Some(&queue)).await;
    let (stop, mut stopped) = watch::channel(false);
    let controller = Arc::new(controller);
    let running = {
        let c = controller.clone();
        tokio::spawn(async move {
            c.run(async move {
                let _ = stopped.wait_for(|v| *v).await;
            })
            .await
        })
    };

    // The node's instance is reclaimed: EC2 warns through EventBridge.
    aws_sdk_eventbridge::Client::new(&aws_config)
        .put_events()
        .entries(
            aws_sdk_eventbridge::types::PutEventsRequestEntry::builder()
                .source("aws.ec2")
                .detail_type("EC2 Spot Instance Interruption Warning")
                .detail(format!(
                    r#"{{"instance-id":"{instance}","instance-action":"terminate"}}"#
                ))
                .build(),
        )
        .send()
        .await
        .unwrap();

    // The controller drains and replaces the node, and says so.
    let warning = until("the warning handled", Duration::from_secs(90), || async {
        let (status, body) = call(
            addr,
            "GET",
            &format!("/api/v1/events/spot-warnings?cluster_id={id}"),
            KEY,
            None,
        )
        .await;
        assert_eq!(status, 200, "{body}");
        let e = body["events"].get(0)?.clone();
        assert_ne!(e["status"], "failed", "{e}");
        (e["status"] == "handled").then_some(e)
    })
    .await;
    assert_eq!(warning["instance_id"], instance.as_str());
    assert_eq!(warning["kind"], "spot_interruption_warning", "{warning}");
    let run = warning["run_id"].as_i64().unwrap();
    assert!(nodes.get_opt(&node).await.unwrap().is_none());
    assert!(pods
        .list(&Default::default())
        .await
        .unwrap()
        .items
        .is_empty());
    let replacements = Ec2::new(&aws_config)
        .instances(&[("tag:cloudoptim.io/replaces", &[node.as_str()])])
        .await
        .unwrap();
    assert_eq!(replacements.len(), 1, "{replacements:?}");

    // The run, step by step, in the history.
    let runs = history(addr, id).await;
    assert_eq!(runs.len(), 1, "{runs:#?}");
    assert_eq!(runs[0]["id"], run);
    assert_eq!(runs[0]["status"], "completed");
    assert_eq!(runs[0]["mode"], "execute");
    let steps = runs[0]["steps"].as_array().unwrap();
    assert_eq!(
        steps.len() as u64,
        runs[0]["planned_steps"].as_u64().unwrap()
    );
    assert!(steps.iter().all(|s| s["outcome"] == "done"), "{runs:#?}");

    // The message was acknowledged once the plan completed.
    let sqs = aws_sdk_sqs::Client::new(&aws_config);
    let left = sqs
        .get_queue_attributes()
        .queue_url(&queue)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::All)
        .send()
        .await
        .unwrap();
    let count = |name: aws_sdk_sqs::types::QueueAttributeName| {
        left.attributes()
            .and_then(|a| a.get(&name).cloned())
            .unwrap_or_default()
    };
    assert_eq!(
        count(aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessages),
        "0"
    );
    assert_eq!(
        count(aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessagesNotVisible),
        "0"
    );

    // The same warning handed in again through the API is not handled again.
    let event = json!({"version": "0", "id": warning["event_id"], "detail-type": "EC2 Spot Instance Interruption Warning",
        "source": "aws.ec2", "account": "123456789012", "time": warning["event_time"], "region": "us-east-1",
        "resources": [], "detail": {"instance-id": instance, "instance-action": "terminate"}});
    let (status, again) = call(
        addr,
        "POST",
        "/api/v1/events/process",
        KEY,
        Some(json!({"cluster_id": id, "event": event})),
    )
    .await;
    assert_eq!(
        (status, again["status"].as_str()),
        (202, Some("handled")),
        "{again}"
    );
    // A bad event names what is wrong; no key, no answer.
    let (status, err) = call(
        addr,
        "POST",
        "/api/v1/events/process",
        KEY,
        Some(json!({"cluster_id": id, "event": {"id": "x"}})),
    )
    .await;
    assert_eq!(status, 422, "{err}");
    assert!(
        err["reason"].as_str().unwrap().starts_with("event"),
        "{err}"
    );
    let (status, _) = call(addr, "GET", "/api/v1/events/spot-warnings", None, None).await;
    assert_eq!(status, 401);

    // A warning for another node of the same cluster, handed in through
    // the API: a new node with nothing on it is cordoned and removed.
    let other = format!("ctl-spot-{sfx}-b");
    let other_instance = format!("i-0c72{:0>13}", &sfx[1..]);
    add_node(&nodes, &other, &other_instance, &sfx, "SPOT").await;
    let (status, listed) = call(addr, "GET", &format!("/api/v1/k8s/{id}/nodes"), KEY, None).await;
    assert_eq!(status, 200, "{listed}");
    let listed = listed["nodes"].as_array().unwrap();
    assert_eq!(
        listed.len(),
        1,
        "scoped to the cluster's own nodes: {listed:?}"
    );
    assert_eq!(listed[0]["name"], other.as_str());
    assert_eq!(listed[0]["instance_id"], other_instance.as_str());
    assert_eq!(listed[0]["capacity_type"], "spot");
    let event = json!({"version": "0", "id": format!("api-{sfx}"), "detail-type": "EC2 Spot Instance Interruption Warning",
        "source": "aws.ec2", "account": "123456789012", "time": jiff::Timestamp::now().to_string(), "region": "us-east-1",
        "resources": [], "detail": {"instance-id": other_instance, "instance-action": "terminate"}});
    let (status, submitted) = call(
        addr,
        "POST",
        "/api/v1/events/process",
        KEY,
        Some(json!({"cluster_id": id, "event": event})),
    )
    .await;
    assert_eq!(
        (status, submitted["status"].as_str()),
        (202, Some("pending")),
        "{submitted}"
    );
    until(
        "the handed-in warning handled",
        Duration::from_secs(60),
        || async {
            let (_, body) = call(
                addr,
                "GET",
                &format!("/api/v1/events/spot-warnings?cluster_id={id}"),
                KEY,
                None,
            )
            .await;
            let e = body["events"]
                .as_array()?
                .iter()
                .find(|e| e["event_id"] == format!("api-{sfx}"))?
                .clone();
            assert_ne!(e["status"], "failed", "{e}");
            (e["status"] == "handled").then_some(())
        },
    )
    .await;
    assert!(nodes.get_opt(&other).await.unwrap().is_none());

    // The metrics say what happened.
    let (status, metrics) = call(addr, "GET", "/metrics", KEY, None).await;
    assert_eq!(status, 200);
    let metrics = metrics.as_str().unwrap().to_owned();
    for line in [
        "cloudoptim_events_total{kind=\"spot_interruption_warning\"}",
        "cloudoptim_steps_total{outcome=\"done\"}",
        "cloudoptim_warning_to_cordon_seconds_count 1",
        "cloudoptim_clusters_held 1",
    ] {
        assert!(metrics.contains(line), "{line} not in\n{metrics}");
    }

    let _ = stop.send(true);
    running.await.unwrap();
    // Given back on shutdown.
    let (_, listed) = call(addr, "GET", "/api/v1/admin/clusters", KEY, None).await;
    assert_eq!(
        listed["clusters"][0]["lease_holder"],
        Value::Null,
        "{listed}"
    );

    // The token was in no log line, at any level.
    let logs = String::from_utf8_lossy(&logs.0.lock().unwrap()).into_owned();
    assert!(
        logs.contains("claimed"),
        "the capture saw the controller's lines"
    );
    assert!(
        !logs.contains(&env("CLOUDOPTIM_KUBE_ADMIN_TOKEN")),
        "a token was logged"
    );
}

/// Instances in moto for the nodes of the takeover test (their terminate
/// steps act on them).
async fn instances(config: &aws_config::SdkConfig, n: i32) -> Vec<String> {
    let ec2 = aws_sdk_ec2::Client::new(config);
    let image = ec2
        .describe_images()
        .send()
        .await
        .unwrap()
        .images
        .unwrap_or_default()
        .into_iter()
        .find_map(|i| i.image_id)
        .unwrap();
    ec2.run_instances()
        .image_id(image)
        .instance_type(aws_sdk_ec2::types::InstanceType::M5Large)
        .placement(
            aws_sdk_ec2::types::Placement::builder()
                .availability_zone("us-east-1a")
                .build(),
        )
        .min_count(n)
        .max_count(n)
        .send()
        .await
        .unwrap()
        .instances
        .unwrap_or_default()
        .into_iter()
        .filter_map(|i| i.instance_id)
        .collect()
}

/// The child of the takeover test: a controller in a process of its own,
/// run until the test kills it.
async fn child(url: &str) {
    let store = store(url).await;
    let controller = Controller::new(
        store,
        config(
            "first-process",
            Duration::from_secs(3),
            Duration::from_millis(1500),
        ),
    )
    .unwrap();
    controller.run(std::future::pending()).await;
}

#[tokio::test]
async fn a_killed_controller_s_cycle_is_finished_by_the_next_without_repeating_a_step() {
    if let Ok(url) = std::env::var(CHILD) {
        return child(&url).await;
    }
    let sfx = unique("t");
    let url = fresh_database("ctl_takeover").await;
    let store = store(&url).await;
    let aws_config = aws().await;
    let addr = api(store.clone(), None).await;

    // Three empty nodes on real instances, and one that stays (its bare
    // pod has nothing to recreate it).
    let admin = admin().await;
    let kube = admin.kube().clone();
    let nodes: Api<Node> = Api::all(kube.clone());
    let ids = instances(&aws_config, 4).await;
    let names: Vec<String> = (0..4).map(|i| format!("ctl-take-{sfx}-{i}")).collect();
    for (name, id) in names.iter().zip(&ids) {
        add_node(&nodes, name, id, &sfx, "ON_DEMAND").await;
    }
    let pods: Api<Pod> = Api::namespaced(kube.clone(), "default");
    pods.create(
        &PostParams::default(),
        &serde_json::from_value(json!({"metadata": {"name": format!("ctl-take-{sfx}-bare")},
            "spec": {"nodeName": names[3], "containers": [{"name": "app", "image": "registry.example/app:1",
                "resources": {"requests": {"cpu": "1", "memory": "1Gi"}}}]}}))
        .unwrap(),
    )
    .await
    .unwrap();
    let id = register(addr, "takeover", &sfx, None).await;

    // The first process: this test binary again, running only `child`.
    let log = std::env::temp_dir().join(format!("cloudoptim-controller-child-{sfx}.log"));
    let mut first = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "a_killed_controller_s_cycle_is_finished_by_the_next_without_repeating_a_step",
            "--nocapture",
        ])
        .env(CHILD, &url)
        .env("RUST_LOG", "info")
        .stdout(std::fs::File::create(&log).unwrap())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    held_by(addr, "first-process").await;

    // A cycle, asked for over HTTP; the first process dies two steps in.
    trigger(addr, id).await;
    let history = || history(addr, id);
    let done = |run: &Value| {
        run["steps"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|s| s["outcome"] == "done")
            .count()
    };
    until("two steps done", Duration::from_secs(60), || async {
        let runs = history().await;
        runs.first().filter(|r| done(r) >= 2).map(|_| ())
    })
    .await;
    first.kill().unwrap();
    first.wait().unwrap();
    let runs = history().await;
    assert_eq!(runs.len(), 1);
    let (run, done_before, planned) = (
        runs[0]["id"].clone(),
        done(&runs[0]),
        runs[0]["planned_steps"].as_u64().unwrap() as usize,
    );
    assert_eq!(runs[0]["status"], "running", "killed mid-cycle: {runs:?}");
    assert!(done_before < planned, "{runs:?}");
    let child_log = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(!child_log.contains(&env("CLOUDOPTIM_KUBE_ADMIN_TOKEN")));

    // The second process takes the cluster once the first one's lease
    // expires, and finishes the run from where it stopped.
    let second = Arc::new(
        Controller::new(
            store.clone(),
            config("second-process", Duration::from_secs(3), Duration::ZERO),
        )
        .unwrap(),
    );
    let (stop, mut stopped) = watch::channel(false);
    let running = {
        let c = second.clone();
        tokio::spawn(async move {
            c.run(async move {
                let _ = stopped.wait_for(|v| *v).await;
            })
            .await
        })
    };
    let finished = until("the run finished", Duration::from_secs(60), || async {
        let runs = history().await;
        assert_ne!(runs[0]["status"], "failed", "{runs:?}");
        (runs[0]["status"] == "completed").then_some(runs)
    })
    .await;
    let _ = stop.send(true);
    running.await.unwrap();
    println!(
        "killed after {done_before} of {planned} steps; the second process did the other {}",
        planned - done_before
    );
    assert_eq!(
        finished.len(),
        1,
        "one run, finished, not planned again: {finished:?}"
    );
    assert_eq!(finished[0]["id"], run);
    assert_eq!(done(&finished[0]), planned, "{finished:?}");
    // The steps the first process did were not done again.
    assert_eq!(
        second.metrics().steps_with("done_earlier"),
        done_before as u64
    );
    assert_eq!(
        second.metrics().steps_with("done"),
        (planned - done_before) as u64
    );

    // The three empty nodes are gone with their instances; the fourth stays.
    for name in &names[..3] {
        assert!(nodes.get_opt(name).await.unwrap().is_none(), "{name}");
    }
    assert!(nodes.get_opt(&names[3]).await.unwrap().is_some());
    let ec2 = Ec2::new(&aws_config);
    let left: Vec<&str> = ids.iter().map(String::as_str).collect();
    let running_now = ec2
        .instances(&[
            ("instance-id", &left),
            ("instance-state-name", &["running"]),
        ])
        .await
        .unwrap();
    assert_eq!(running_now.len(), 1, "{running_now:?}");
}

/// The tags of an instance or volume in moto.
async fn tags_of(
    config: &aws_config::SdkConfig,
    id: &str,
) -> std::collections::BTreeMap<String, String> {
    aws_sdk_ec2::Client::new(config)
        .describe_tags()
        .filters(
            aws_sdk_ec2::types::Filter::builder()
                .name("resource-id")
                .values(id)
                .build(),
        )
        .send()
        .await
        .unwrap()
        .tags()
        .iter()
        .filter_map(|t| Some((t.key()?.to_owned(), t.value()?.to_owned())))
        .collect()
}

#[tokio::test]
async fn a_cycle_runs_every_engine_and_each_acts() {
    let sfx = unique("e");
    let cluster = format!("engines-{sfx}");
    let url = fresh_database("ctl_engines").await;
    let store = store(&url).await;
    let aws_config = aws().await;
    let ec2 = Ec2::new(&aws_config);
    let cluster_tag = format!("{}{cluster}", tags::CLUSTER_PREFIX);

    // The account: an instance of the cluster that backs no node (a
    // ghost), and a volume the EBS CSI driver made for a claim that is gone.
    let image = aws_sdk_ec2::Client::new(&aws_config)
        .describe_images()
        .send()
        .await
        .unwrap()
        .images()[0]
        .image_id()
        .unwrap()
        .to_owned();
    let ghost = ec2
        .launch(&LaunchRequest {
            instance_type: "m5.large".into(),
            zone: Some("us-east-1a".into()),
            capacity_type: CapacityType::OnDemand,
            count: 1,
            tags: [(cluster_tag.clone(), "owned".to_owned())]
                .into_iter()
                .collect::<Tags>(),
            launch_template_id: None,
            image_id: Some(image),
        })
        .await
        .unwrap()
        .remove(0);
    let tag = |k: &str, v: &str| aws_sdk_ec2::types::Tag::builder().key(k).value(v).build();
    let volume = aws_sdk_ec2::Client::new(&aws_config)
        .create_volume()
        .availability_zone("us-east-1a")
        .size(50)
        .volume_type(aws_sdk_ec2::types::VolumeType::Gp3)
        .tag_specifications(
            aws_sdk_ec2::types::TagSpecification::builder()
                .resource_type(aws_sdk_ec2::types::ResourceType::Volume)
                .set_tags(Some(vec![
                    tag(&cluster_tag, "owned"),
                    tag(tags::CSI_VOLUME_NAME, &format!("pvc-{sfx}")),
                    tag(tags::PVC_NAME, "data"),
                    tag(tags::PVC_NAMESPACE, "default"),
                ]))
                .build(),
        )
        .send()
        .await
        .unwrap()
        .volume_id()
        .unwrap()
        .to_owned();

    // The cluster: one on-demand node with a managed pod, and a Deployment
    // whose office hours say it is down all week.
    let admin = admin().await;
    let kube = admin.kube().clone();
    let ns = format!("ctl-engines-{sfx}");
    namespace(&kube, &ns).await;
    let nodes: Api<Node> = Api::all(kube.clone());
    let node = format!("ctl-engines-{sfx}");
    let instance = format!("i-0e71{:0>13}", &sfx[1..]);
    add_node(&nodes, &node, &instance, &sfx, "ON_DEMAND").await;
    // And one that stays where it is (annotated do-not-disrupt): a cluster
    // whose node list is empty is no ground to call an instance a ghost.
    let stays = format!("ctl-engines-{sfx}-stays");
    add_node(
        &nodes,
        &stays,
        &format!("i-0e72{:0>13}", &sfx[1..]),
        &sfx,
        "ON_DEMAND",
    )
    .await;
    nodes
        .patch(
            &stays,
            &PatchParams::default(),
            &Patch::Merge(
                json!({"metadata": {"annotations": {"cloudoptim.io/do-not-disrupt": "true"}}}),
            ),
        )
        .await
        .unwrap();
    let pods: Api<Pod> = Api::namespaced(kube.clone(), &ns);
    pods.create(
        &PostParams::default(),
        &serde_json::from_value(json!({
            "metadata": {"name": "api-0", "ownerReferences": [{"apiVersion": "apps/v1",
                "kind": "ReplicaSet", "name": "api", "uid": "7b1c3a52-0000-4000-8000-000000000003",
                "controller": true}]},
            "spec": {"nodeName": node, "terminationGracePeriodSeconds": 0,
                "containers": [{"name": "api", "image": "registry.example/api:1",
                    "resources": {"requests": {"cpu": "500m", "memory": "1Gi"}}}]},
        }))
        .unwrap(),
    )
    .await
    .unwrap();
    let deployments: Api<Deployment> = Api::namespaced(kube.clone(), &ns);
    deployments
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({
                "metadata": {"name": "batch", "annotations": {
                    "cloudoptim.io/office-hours": "downtime Mon-Sun 00:00-24:00 UTC"}},
                "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "batch"}},
                    "template": {"metadata": {"labels": {"app": "batch"}},
                        "spec": {"containers": [{"name": "batch", "image": "registry.example/batch:1"}]}}},
            }))
            .unwrap(),
        )
        .await
        .unwrap();

    // Every engine on, acting at once (no grace periods).
    let mut config = config("ctl-engines", Duration::from_secs(10), Duration::ZERO);
    config.ghost_instances = Some(GhostPolicy {
        grace_seconds: 0,
        action: GhostAction::Terminate,
        max_fleet_share_percent: 100,
        ..GhostPolicy::new("", "")
    });
    config.zombie_volumes = Some(ZombiePolicy {
        grace_seconds: 0,
        ..ZombiePolicy::new("", "")
    });
    config.office_hours = Some(Default::default());
    config.consolidation = None;
    config.spot_conversion = Some(ConsolidationPolicy::spot_conversion());
    let controller = Arc::new(Controller::new(store.clone(), config).unwrap());
    let addr = api(store.clone(), Some(&controller)).await;
    let (status, created) = call(
        addr,
        "POST",
        "/api/v1/admin/clusters",
        KEY,
        Some(json!({"name": cluster, "region": "us-east-1",
            "api_endpoint": env("CLOUDOPTIM_KUBE_APISERVER"),
            "ca_pem": std::fs::read_to_string(env("CLOUDOPTIM_KUBE_CA")).unwrap(),
            "service_account_token": env("CLOUDOPTIM_KUBE_ADMIN_TOKEN"),
            "node_selector": {SCOPE: sfx}})),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_i64().unwrap();
    let (stop, mut stopped) = watch::channel(false);
    let running = {
        let c = controller.clone();
        tokio::spawn(async move {
            c.run(async move {
                let _ = stopped.wait_for(|v| *v).await;
            })
            .await
        })
    };
    let history = || history(addr, id);
    let cycles_done = || {
        controller
            .metrics()
            .cycles
            .get_or_create(&[("outcome", "acted")])
            .get()
    };
    let cycle = |n: usize, cycles: u64| async move {
        held_by(addr, "ctl-engines").await;
        trigger(addr, id).await;
        until("the cycle's runs", Duration::from_secs(90), || async {
            let runs = history().await;
            assert!(runs.iter().all(|r| r["status"] != "failed"), "{runs:#?}");
            (runs.len() >= n
                && runs.iter().all(|r| r["status"] == "completed")
                && cycles_done() >= cycles)
                .then_some(runs)
        })
        .await
    };

    // The first cycle: each engine plans, and its plan runs, in order.
    let runs = cycle(4, 1).await;
    let mut engines: Vec<&str> = runs.iter().map(|r| r["engine"].as_str().unwrap()).collect();
    engines.reverse(); // the history is newest first
    assert_eq!(
        engines,
        [
            "ghost-instances",
            "zombie-volumes",
            "office-hours",
            "spot-conversion"
        ],
        "{runs:#?}"
    );
    assert!(tags_of(&aws_config, &ghost)
        .await
        .contains_key(tags::GHOST_SINCE));
    assert!(tags_of(&aws_config, &volume)
        .await
        .contains_key(tags::DELETE_AFTER));
    let batch = deployments.get("batch").await.unwrap();
    assert_eq!(batch.spec.unwrap().replicas, Some(0));
    assert_eq!(
        batch.metadata.annotations.unwrap()["cloudoptim.io/original-replicas"],
        "3"
    );
    // The on-demand node went to spot: a spot instance launched first, the
    // node drained and removed.
    assert!(nodes.get_opt(&node).await.unwrap().is_none());
    assert!(nodes.get_opt(&stays).await.unwrap().is_some());
    let spot = ec2
        .instances(&[("tag:cloudoptim.io/replaces", &[node.as_str()])])
        .await
        .unwrap();
    assert_eq!(spot.len(), 1, "{spot:?}");
    assert_eq!(spot[0].capacity_type, CapacityType::Spot, "{spot:?}");
    let converted = runs
        .iter()
        .find(|r| r["engine"] == "spot-conversion")
        .unwrap();
    assert_eq!(converted["steps"][0]["index"], 0, "{converted:#}");
    assert!(
        converted["steps"][0]["detail"]
            .as_str()
            .unwrap()
            .contains("(spot)"),
        "{converted:#}"
    );

    // The second cycle: the marked ghost is terminated, the marked volume
    // snapshotted and deleted; nothing else is left to do.
    let runs = cycle(6, 2).await;
    assert_eq!(runs.len(), 6, "{runs:#?}");
    let engines: BTreeSet<&str> = runs[..2]
        .iter()
        .map(|r| r["engine"].as_str().unwrap())
        .collect();
    assert_eq!(
        engines,
        ["ghost-instances", "zombie-volumes"].into(),
        "{runs:#?}"
    );
    let gone = ec2
        .instances(&[
            ("instance-id", &[ghost.as_str()]),
            ("instance-state-name", &["running"]),
        ])
        .await
        .unwrap();
    assert!(gone.is_empty(), "the ghost still runs: {gone:?}");
    assert!(
        ec2.volume(&volume).await.unwrap().is_none(),
        "the zombie volume is still there"
    );
    assert!(
        !ec2.snapshots_of(&volume).await.unwrap().is_empty(),
        "deleted without a snapshot"
    );
    for engine in [Engine::OfficeHours, Engine::SpotConversion] {
        assert!(
            controller.metrics().plans_with(engine, "nothing_to_do") >= 1,
            "{engine}"
        );
    }
    let _ = stop.send(true);
    running.await.unwrap();
}
