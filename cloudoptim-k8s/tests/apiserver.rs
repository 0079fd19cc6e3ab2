//! The Kubernetes adapter against a real kube-apiserver and etcd, built from
//! upstream Go modules and started on loopback by `scripts/test`
//! (`scripts/control-plane/`). Everything the adapter does here, it does as
//! the ServiceAccount of `deploy/rbac.yaml`, so a missing permission fails.
//!
//! There is no kubelet, scheduler or controller-manager: pods are created
//! bound to their node, a small loop plays the kubelet's part of finishing
//! graceful deletions, and the tests set PDB status as the disruption
//! controller would. The Eviction API, RBAC, pagination, dry-run and
//! admission are the real API server's.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::time::Duration;

use cloudoptim_core::plan::{Action, ObjectRef, Plan, Precondition, ResourcePatch, WorkloadRef};
use cloudoptim_core::snapshot::WorkloadKind;
use cloudoptim_k8s::{
    ClientSettings, K8sError, KubeClient, KubeExecutor, Metrics, Mode, ObserveOptions,
    ObservedKinds, Onboarding, SecretString, StepOutcome, CORDONED_ANNOTATION,
    ORIGINAL_REPLICAS_ANNOTATION,
};
use jiff::Timestamp;
use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::core::v1::{
    Namespace, Node, PersistentVolume, PersistentVolumeClaim, Pod, ServiceAccount,
};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{
    ApiResource, DeleteParams, DynamicObject, ListParams, Patch, PatchParams, PostParams,
};
use kube::core::GroupVersionKind;
use kube::{Api, Client};
use serde::de::DeserializeOwned;
use serde_json::{json, Value};

// ---------------------------------------------------------------- harness

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!(
            "{name} is not set: these tests need the kube-apiserver and etcd that \
             ./scripts/test builds and starts on loopback (scripts/control-plane/)"
        )
    })
}

fn endpoint() -> String {
    env("CLOUDOPTIM_KUBE_APISERVER")
}

fn ca_pem() -> String {
    std::fs::read_to_string(env("CLOUDOPTIM_KUBE_CA")).unwrap()
}

fn fast_settings() -> ClientSettings {
    ClientSettings {
        timeout: Duration::from_secs(10),
        retry_attempts: 2,
        retry_base_delay: Duration::from_millis(100),
    }
}

async fn client_with_token(endpoint: &str, token: &str, settings: ClientSettings) -> KubeClient {
    let onboarding = Onboarding {
        endpoint: endpoint.to_owned(),
        token: SecretString::from(token.to_owned()),
        ca_pem: Some(ca_pem()),
    };
    KubeClient::from_onboarding(&onboarding, settings)
        .await
        .unwrap()
}

/// Cluster admin (system:masters), for setting the stage.
async fn admin() -> Client {
    admin_at(&endpoint()).await
}

async fn admin_at(endpoint: &str) -> Client {
    client_with_token(
        endpoint,
        &env("CLOUDOPTIM_KUBE_ADMIN_TOKEN"),
        fast_settings(),
    )
    .await
    .kube()
    .clone()
}

async fn create<K>(api: &Api<K>, object: Value) -> K
where
    K: kube::Resource + Clone + DeserializeOwned + serde::Serialize + std::fmt::Debug,
{
    let object: K = serde_json::from_value(object).unwrap();
    match api.create(&PostParams::default(), &object).await {
        Ok(created) => created,
        Err(kube::Error::Api(status)) if status.code == 409 => {
            let name = object.meta().name.clone().unwrap();
            api.get(&name).await.unwrap()
        }
        Err(e) => panic!("creating {:?}: {e}", object.meta().name),
    }
}

/// Apply `deploy/rbac.yaml` (idempotent).
async fn apply_rbac(admin: &Client, yaml: &str) {
    let docs: Vec<Value> = serde_saphyr::from_multiple(yaml).unwrap();
    for doc in docs {
        match doc["kind"].as_str().unwrap() {
            "ServiceAccount" => {
                let ns = doc["metadata"]["namespace"].as_str().unwrap().to_owned();
                create::<ServiceAccount>(&Api::namespaced(admin.clone(), &ns), doc).await;
            }
            "ClusterRole" => {
                // Rules as the file has them now, on a control plane kept
                // from an earlier run too.
                let name = doc["metadata"]["name"].as_str().unwrap().to_owned();
                let rules = json!({"rules": doc["rules"].clone()});
                let api: Api<ClusterRole> = Api::all(admin.clone());
                create::<ClusterRole>(&api, doc).await;
                api.patch(&name, &PatchParams::default(), &Patch::Merge(rules))
                    .await
                    .unwrap();
            }
            "ClusterRoleBinding" => {
                create::<ClusterRoleBinding>(&Api::all(admin.clone()), doc).await;
            }
            other => panic!("unexpected kind {other} in deploy/rbac.yaml"),
        }
    }
}

/// A token for a ServiceAccount, from the TokenRequest API.
async fn service_account_token(admin: &Client, namespace: &str, name: &str) -> String {
    let body = json!({"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
                      "spec": {"expirationSeconds": 3600}});
    let request = http::Request::post(format!(
        "/api/v1/namespaces/{namespace}/serviceaccounts/{name}/token"
    ))
    .header("content-type", "application/json")
    .body(serde_json::to_vec(&body).unwrap())
    .unwrap();
    let response: Value = admin.request(request).await.unwrap();
    response["status"]["token"].as_str().unwrap().to_owned()
}

/// The adapter as CloudOptim's ServiceAccount, with exactly deploy/rbac.yaml.
async fn cloudoptim(settings: ClientSettings) -> KubeClient {
    cloudoptim_at(&endpoint(), settings).await
}

async fn cloudoptim_at(endpoint: &str, settings: ClientSettings) -> KubeClient {
    let admin = admin_at(endpoint).await;
    apply_rbac(&admin, include_str!("../../deploy/rbac.yaml")).await;
    let token = service_account_token(&admin, "kube-system", "cloudoptim").await;
    client_with_token(endpoint, &token, settings).await
}

async fn namespace(admin: &Client, name: &str) {
    create::<Namespace>(
        &Api::all(admin.clone()),
        json!({"metadata": {"name": name}}),
    )
    .await;
}

async fn node(admin: &Client, name: &str, instance_type: &str, zone: &str) -> Node {
    let hash = name
        .bytes()
        .fold(0u64, |h, b| h.wrapping_mul(31).wrapping_add(u64::from(b)));
    let id = format!("i-0{hash:016x}");
    let node: Node = create(
        &Api::all(admin.clone()),
        json!({
            "metadata": {"name": name, "labels": {
                "kubernetes.io/hostname": name,
                "node.kubernetes.io/instance-type": instance_type,
                "topology.kubernetes.io/zone": zone,
                "topology.kubernetes.io/region": "us-east-1",
                "kubernetes.io/arch": "amd64",
                "kubernetes.io/os": "linux",
                "eks.amazonaws.com/capacityType": "ON_DEMAND",
            }},
            "spec": {"providerID": format!("aws:///{zone}/{id}")},
        }),
    )
    .await;
    // Capacity is status; set it as the kubelet would.
    let api: Api<Node> = Api::all(admin.clone());
    let status = json!({"status": {
        "capacity": {"cpu": "4", "memory": "16Gi", "pods": "58", "ephemeral-storage": "20Gi"},
        "allocatable": {"cpu": "3920m", "memory": "15Gi", "pods": "58", "ephemeral-storage": "18Gi"},
        "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady",
                        "lastHeartbeatTime": "2026-11-25T00:00:00Z", "lastTransitionTime": "2026-11-25T00:00:00Z"}],
    }});
    api.patch_status(name, &PatchParams::default(), &Patch::Merge(&status))
        .await
        .unwrap();
    node
}

/// Set the node's Ready condition, as the kubelet or the node lifecycle
/// controller would.
async fn set_node_ready(admin: &Client, name: &str, status: &str) {
    let api: Api<Node> = Api::all(admin.clone());
    let patch = json!({"status": {"conditions": [{"type": "Ready", "status": status,
        "reason": "Test", "lastHeartbeatTime": "2026-11-25T00:00:00Z",
        "lastTransitionTime": "2026-11-25T00:00:00Z"}]}});
    api.patch_status(name, &PatchParams::default(), &Patch::Strategic(&patch))
        .await
        .unwrap();
}

struct PodSpec<'a> {
    namespace: &'a str,
    name: &'a str,
    node: &'a str,
    owner: Option<(&'a str, &'a str, &'a str)>,
    labels: Value,
    grace_seconds: i64,
    annotations: Value,
}

impl<'a> PodSpec<'a> {
    fn new(namespace: &'a str, name: &'a str, node: &'a str) -> Self {
        PodSpec {
            namespace,
            name,
            node,
            // Managed by a controller unless a test says otherwise.
            owner: Some(("ReplicaSet", "app", "0b0e9f5e-2f7c-4a55-9d0e-5c1f6c7c0001")),
            labels: json!({}),
            grace_seconds: 0,
            annotations: json!({}),
        }
    }
}

async fn pod(admin: &Client, spec: PodSpec<'_>) -> Pod {
    let api: Api<Pod> = Api::namespaced(admin.clone(), spec.namespace);
    let name = spec.name.to_owned();
    let owner = spec.owner.map(|(kind, name, uid)| {
        let api_version = if kind == "Job" { "batch/v1" } else { "apps/v1" };
        json!([{"apiVersion": api_version, "kind": kind, "name": name, "uid": uid,
                "controller": true, "blockOwnerDeletion": true}])
    });
    create::<Pod>(
        &api,
        json!({
            "metadata": {"name": spec.name, "namespace": spec.namespace, "labels": spec.labels,
                         "annotations": spec.annotations, "ownerReferences": owner.unwrap_or(json!([]))},
            "spec": {
                "nodeName": spec.node,
                "terminationGracePeriodSeconds": spec.grace_seconds,
                "containers": [{"name": "app", "image": "registry.example/app:1",
                                "resources": {"requests": {"cpu": "250m", "memory": "256Mi"}}}],
            },
        }),
    )
    .await;
    // Running and ready, as the kubelet would report: PDBs only protect
    // healthy pods (pending ones are evicted regardless).
    let status = json!({"status": {"phase": "Running", "conditions": [
        {"type": "Ready", "status": "True", "lastTransitionTime": "2026-11-25T00:00:00Z"}]}});
    api.patch_status(&name, &PatchParams::default(), &Patch::Merge(&status))
        .await
        .unwrap()
}

async fn deployment(admin: &Client, namespace: &str, name: &str, replicas: i32) -> Deployment {
    create(
        &Api::namespaced(admin.clone(), namespace),
        json!({
            "metadata": {"name": name, "namespace": namespace},
            "spec": {
                "replicas": replicas,
                "selector": {"matchLabels": {"app": name}},
                "template": {
                    "metadata": {"labels": {"app": name}},
                    "spec": {"containers": [{"name": "app", "image": "registry.example/app:1",
                        "resources": {"requests": {"cpu": "500m", "memory": "512Mi"}}}]},
                },
            },
        }),
    )
    .await
}

async fn replicaset(
    admin: &Client,
    namespace: &str,
    name: &str,
    deployment: &Deployment,
) -> ReplicaSet {
    let app = deployment.metadata.name.clone().unwrap();
    create(
        &Api::namespaced(admin.clone(), namespace),
        json!({
            "metadata": {"name": name, "namespace": namespace,
                "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": app,
                    "uid": deployment.metadata.uid, "controller": true}]},
            "spec": {
                "replicas": 1,
                "selector": {"matchLabels": {"app": app}},
                "template": {"metadata": {"labels": {"app": app}},
                    "spec": {"containers": [{"name": "app", "image": "registry.example/app:1"}]}},
            },
        }),
    )
    .await
}

async fn daemonset(admin: &Client, namespace: &str, name: &str) -> DaemonSet {
    create(
        &Api::namespaced(admin.clone(), namespace),
        json!({
            "metadata": {"name": name, "namespace": namespace},
            "spec": {
                "selector": {"matchLabels": {"app": name}},
                "template": {"metadata": {"labels": {"app": name}},
                    "spec": {"containers": [{"name": "agent", "image": "registry.example/agent:1"}]}},
            },
        }),
    )
    .await
}

/// A PDB over `app=<app>` whose status says `allowed` disruptions, as the
/// disruption controller (not running here) would.
async fn pdb(admin: &Client, namespace: &str, name: &str, app: &str, pods: i32, allowed: i32) {
    let api: Api<PodDisruptionBudget> = Api::namespaced(admin.clone(), namespace);
    let created: PodDisruptionBudget = create(
        &api,
        json!({
            "metadata": {"name": name, "namespace": namespace},
            "spec": {"minAvailable": pods - allowed, "selector": {"matchLabels": {"app": app}}},
        }),
    )
    .await;
    set_pdb_allowed(
        admin,
        namespace,
        name,
        created.metadata.generation.unwrap_or(1),
        pods,
        allowed,
    )
    .await;
}

async fn set_pdb_allowed(
    admin: &Client,
    namespace: &str,
    name: &str,
    generation: i64,
    pods: i32,
    allowed: i32,
) {
    let api: Api<PodDisruptionBudget> = Api::namespaced(admin.clone(), namespace);
    let status = json!({"status": {
        "observedGeneration": generation,
        "disruptionsAllowed": allowed,
        "currentHealthy": pods,
        "desiredHealthy": pods - allowed,
        "expectedPods": pods,
    }});
    api.patch_status(name, &PatchParams::default(), &Patch::Merge(&status))
        .await
        .unwrap();
}

/// Plays the kubelet's part: a pod marked for deletion is finished `delay`
/// after it is first seen so, the way a kubelet confirms a pod has stopped.
fn kubelet(admin: Client, namespace: String, delay: Duration) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let api: Api<Pod> = Api::namespaced(admin, &namespace);
        let mut seen: BTreeMap<String, tokio::time::Instant> = BTreeMap::new();
        loop {
            if let Ok(pods) = api.list(&ListParams::default()).await {
                for pod in pods.items {
                    if pod.metadata.deletion_timestamp.is_none() {
                        continue;
                    }
                    let name = pod.metadata.name.unwrap();
                    let first = *seen
                        .entry(name.clone())
                        .or_insert_with(tokio::time::Instant::now);
                    if first.elapsed() >= delay {
                        let _ = api
                            .delete(&name, &DeleteParams::default().grace_period(0))
                            .await;
                    }
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
}

async fn pods_in(admin: &Client, namespace: &str) -> Vec<String> {
    let api: Api<Pod> = Api::namespaced(admin.clone(), namespace);
    let mut names: Vec<String> = api
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|p| p.metadata.name.unwrap())
        .collect();
    names.sort();
    names
}

async fn node_state(admin: &Client, name: &str) -> (bool, Option<String>) {
    let api: Api<Node> = Api::all(admin.clone());
    let node = api.get(name).await.unwrap();
    (
        node.spec.and_then(|s| s.unschedulable) == Some(true),
        node.metadata
            .annotations
            .and_then(|a| a.get(CORDONED_ANNOTATION).cloned()),
    )
}

/// What running a plan through the runner did, with the Kubernetes
/// executor's errors unboxed.
struct Ran {
    outcomes: Vec<StepOutcome>,
    failed: Option<(usize, K8sError)>,
}

impl Ran {
    fn is_complete(&self) -> bool {
        self.failed.is_none()
    }
}

async fn run_plan(executor: &KubeExecutor, plan: &Plan) -> Ran {
    let run = executor
        .run(plan)
        .await
        .expect("a plan of cluster steps is not refused");
    Ran {
        outcomes: run.steps.into_iter().map(|s| s.outcome).collect(),
        failed: run.failed.map(|f| {
            let index = f.index;
            let error = f
                .source
                .downcast::<K8sError>()
                .map(|e| *e)
                .unwrap_or_else(|e| panic!("not a K8sError: {e}"));
            (index, error)
        }),
    }
}

fn plan(actions: Vec<(Action, Vec<Precondition>)>) -> Plan {
    let mut plan = Plan::new("test", Timestamp::UNIX_EPOCH);
    for (action, preconditions) in actions {
        plan.push(action, "test", preconditions, Default::default());
    }
    plan
}

fn deployment_ref(namespace: &str, name: &str) -> WorkloadRef {
    WorkloadRef {
        kind: WorkloadKind::Deployment,
        namespace: namespace.into(),
        name: name.into(),
    }
}

// ---------------------------------------------------------------- observe

#[tokio::test]
async fn observe_reads_every_kind_page_by_page_as_the_service_account() {
    let admin = admin().await;
    let ns = "observe";
    namespace(&admin, ns).await;
    for (i, zone) in ["us-east-1a", "us-east-1b", "us-east-1c"]
        .iter()
        .enumerate()
    {
        node(&admin, &format!("observe-{i}"), "m5.xlarge", zone).await;
    }
    let web = deployment(&admin, ns, "web", 12).await;
    let rs = replicaset(&admin, ns, "web-7d9f", &web).await;
    let rs_uid = rs.metadata.uid.clone().unwrap();
    for i in 0..12 {
        let name = format!("web-7d9f-{i}");
        let mut spec = PodSpec::new(ns, &name, "observe-0");
        spec.node = ["observe-0", "observe-1", "observe-2"][i % 3];
        spec.owner = Some(("ReplicaSet", "web-7d9f", &rs_uid));
        spec.labels = json!({"app": "web"});
        pod(&admin, spec).await;
    }
    let ds = daemonset(&admin, ns, "agent").await;
    let ds_uid = ds.metadata.uid.clone().unwrap();
    for i in 0..3 {
        let name = format!("agent-{i}");
        let mut spec = PodSpec::new(ns, &name, "observe-0");
        spec.node = ["observe-0", "observe-1", "observe-2"][i];
        spec.owner = Some(("DaemonSet", "agent", &ds_uid));
        pod(&admin, spec).await;
    }
    create::<StatefulSet>(
        &Api::namespaced(admin.clone(), ns),
        json!({"metadata": {"name": "db"}, "spec": {"replicas": 1, "serviceName": "db",
            "selector": {"matchLabels": {"app": "db"}},
            "template": {"metadata": {"labels": {"app": "db"}},
                "spec": {"containers": [{"name": "db", "image": "registry.example/db:1"}]}}}}),
    )
    .await;
    pdb(&admin, ns, "web", "web", 12, 2).await;
    create::<k8s_openapi::api::core::v1::Service>(
        &Api::namespaced(admin.clone(), ns),
        json!({"metadata": {"name": "web", "annotations": {"service.kubernetes.io/topology-mode": "Auto"}},
            "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}]}}),
    )
    .await;
    create::<PersistentVolume>(
        &Api::all(admin.clone()),
        json!({"metadata": {"name": "observe-pv"}, "spec": {
            "capacity": {"storage": "10Gi"}, "accessModes": ["ReadWriteOnce"],
            "csi": {"driver": "ebs.csi.aws.com", "volumeHandle": "vol-0123456789abcdef0"}}}),
    )
    .await;
    create::<PersistentVolumeClaim>(
        &Api::namespaced(admin.clone(), ns),
        json!({"metadata": {"name": "data"}, "spec": {"accessModes": ["ReadWriteOnce"],
            "resources": {"requests": {"storage": "10Gi"}}, "volumeName": "observe-pv"}}),
    )
    .await;

    let client = cloudoptim(fast_settings()).await;
    let observed = client
        .observe(&ObserveOptions {
            page_size: 4,
            metrics: true,
            kinds: ObservedKinds::All,
        })
        .await
        .unwrap();
    let snapshot = &observed.snapshot;

    // 15 pods at 4 a page take 4 pages at least: pagination was followed.
    assert!(observed.objects_by_kind["Pod"] >= 15);
    assert!(observed.pages >= 11 + 3, "{} pages", observed.pages);

    let nodes: Vec<_> = snapshot
        .nodes
        .iter()
        .filter(|n| n.name.starts_with("observe-"))
        .collect();
    assert_eq!(nodes.len(), 3);
    assert!(observed.resumed_kinds.is_empty());
    let web_service = snapshot
        .services
        .iter()
        .find(|s| s.namespace == ns && s.name == "web")
        .unwrap();
    assert!(web_service.prefers_same_zone());
    let endpoints = snapshot
        .pods
        .iter()
        .filter(|p| web_service.selects(p))
        .count();
    assert_eq!(endpoints, 12);
    let first = nodes.iter().find(|n| n.name == "observe-0").unwrap();
    assert_eq!(first.instance_type.as_deref(), Some("m5.xlarge"));
    assert_eq!(first.zone.as_deref(), Some("us-east-1a"));
    assert!(first.instance_id.as_deref().unwrap().starts_with("i-"));
    assert_eq!(first.allocatable.cpu_millis, 3920);

    let pods: Vec<_> = snapshot.pods.iter().filter(|p| p.namespace == ns).collect();
    assert_eq!(pods.len(), 15);
    let web_pod = pods.iter().find(|p| p.name == "web-7d9f-0").unwrap();
    let owner = web_pod.owner.as_ref().unwrap();
    assert_eq!(
        (owner.kind.as_str(), owner.name.as_str()),
        ("Deployment", "web")
    );
    assert_eq!(web_pod.containers[0].requests.cpu_millis, 250);
    let agent = pods.iter().find(|p| p.name == "agent-1").unwrap();
    assert_eq!(agent.owner.as_ref().unwrap().kind, "DaemonSet");

    let pdb = snapshot
        .pdbs
        .iter()
        .find(|p| p.namespace == ns && p.name == "web")
        .unwrap();
    assert_eq!(pdb.disruptions_allowed, 2);
    // For a drain: the nodes, pods and PDBs alike, and nothing else listed.
    let for_drains = client
        .observe(&ObserveOptions {
            page_size: 4,
            metrics: false,
            kinds: ObservedKinds::ForDrains,
        })
        .await
        .unwrap();
    assert_eq!(
        for_drains
            .objects_by_kind
            .keys()
            .copied()
            .collect::<Vec<_>>(),
        ["Node", "Pod", "PodDisruptionBudget"]
    );
    assert_eq!(for_drains.snapshot.nodes, snapshot.nodes);
    assert_eq!(for_drains.snapshot.pdbs, snapshot.pdbs);
    assert_eq!(for_drains.snapshot.pods.len(), snapshot.pods.len());
    assert!(for_drains.snapshot.workloads.is_empty() && for_drains.snapshot.services.is_empty());
    assert!(snapshot
        .persistent_volumes
        .iter()
        .any(|pv| pv.name == "observe-pv"));
    assert!(snapshot
        .persistent_volume_claims
        .iter()
        .any(|pvc| pvc.namespace == ns && pvc.name == "data"));
    for kind in ["Deployment", "ReplicaSet", "StatefulSet", "DaemonSet"] {
        assert!(
            snapshot
                .workloads
                .iter()
                .any(|w| w.namespace == ns && w.kind.as_str() == kind),
            "{kind} missing"
        );
    }

    // No metrics-server here: the observation says so and nothing failed.
    match &observed.metrics {
        Metrics::Unavailable { reason } => assert!(reason.contains("not served"), "{reason}"),
        Metrics::Served(_) => panic!("this control plane serves no metrics"),
    }
}

#[tokio::test]
async fn a_missing_permission_is_an_error_naming_verb_and_resource() {
    // The onboarding ClusterRole without the rules CloudOptim added: the
    // snapshot needs them, and the refusal says exactly what was refused.
    let admin = admin().await;
    let yaml = include_str!("../../deploy/rbac.yaml");
    let seed_only: String = {
        let cut = yaml.find("  # Added:").unwrap();
        let rest = &yaml[cut..];
        let binding = rest.find("---").unwrap();
        format!("{}{}", &yaml[..cut], &rest[binding..])
    }
    .replace("name: cloudoptim\n", "name: cloudoptim-seed\n");
    apply_rbac(&admin, &seed_only).await;
    let token = service_account_token(&admin, "kube-system", "cloudoptim-seed").await;
    let client = client_with_token(&endpoint(), &token, fast_settings()).await;

    let error = client
        .observe(&ObserveOptions::default())
        .await
        .unwrap_err();
    match &error {
        K8sError::Forbidden { verb, resource, .. } => {
            assert_eq!(*verb, "list");
            assert_eq!(resource, "poddisruptionbudgets.policy");
        }
        other => panic!("expected Forbidden, got {other:?}"),
    }
    let message = error.to_string();
    assert!(
        message.contains("`list` on `poddisruptionbudgets.policy`"),
        "{message}"
    );
}

#[tokio::test]
async fn a_kubeconfig_file_works_and_tokens_stay_out_of_debug_output() {
    let token = env("CLOUDOPTIM_KUBE_ADMIN_TOKEN");
    let dir = std::env::temp_dir().join(format!("cloudoptim-kubeconfig-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("config");
    let kubeconfig = format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: test\n  cluster:\n    server: {}\n    certificate-authority: {}\n\
         users:\n- name: admin\n  user:\n    token: {token}\ncontexts:\n- name: test\n  context:\n    cluster: test\n    user: admin\n\
         current-context: test\n",
        endpoint(),
        env("CLOUDOPTIM_KUBE_CA"),
    );
    std::fs::write(&path, kubeconfig).unwrap();
    let client = KubeClient::from_kubeconfig(Some(&path), None, fast_settings())
        .await
        .unwrap();
    let observed = client
        .observe(&ObserveOptions {
            page_size: 500,
            metrics: false,
            ..ObserveOptions::default()
        })
        .await
        .unwrap();
    assert!(observed.objects_by_kind.contains_key("Node"));
    let shown = format!("{client:?}");
    assert!(!shown.contains(&token), "{shown}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn metrics_are_read_when_metrics_k8s_io_is_served() {
    // A cluster of its own (its own etcd prefix) serving metrics.k8s.io
    // through CustomResourceDefinitions of the metrics API's shape, so the
    // shared cluster keeps serving none.
    let port = free_port();
    let private = format!("https://127.0.0.1:{port}");
    let _server = start_apiserver(port, "/metrics-test").await;
    let admin = admin_at(&private).await;
    let crds: Api<CustomResourceDefinition> = Api::all(admin.clone());
    for (plural, kind, scope) in [
        ("nodes", "NodeMetrics", "Cluster"),
        ("pods", "PodMetrics", "Namespaced"),
    ] {
        create(
            &crds,
            json!({
                "metadata": {"name": format!("{plural}.metrics.k8s.io"),
                    "annotations": {"api-approved.kubernetes.io": "unapproved, test only"}},
                "spec": {"group": "metrics.k8s.io", "scope": scope,
                    "names": {"plural": plural, "kind": kind},
                    "versions": [{"name": "v1beta1", "served": true, "storage": true,
                        "schema": {"openAPIV3Schema": {"type": "object",
                            "x-kubernetes-preserve-unknown-fields": true}}}]},
            }),
        )
        .await;
    }
    let gvk = |kind| GroupVersionKind::gvk("metrics.k8s.io", "v1beta1", kind);
    let node_metrics = ApiResource::from_gvk_with_plural(&gvk("NodeMetrics"), "nodes");
    let pod_metrics = ApiResource::from_gvk_with_plural(&gvk("PodMetrics"), "pods");
    let nodes: Api<DynamicObject> = Api::all_with(admin.clone(), &node_metrics);
    let pods: Api<DynamicObject> = Api::namespaced_with(admin.clone(), "default", &pod_metrics);
    let node = json!({"apiVersion": "metrics.k8s.io/v1beta1", "kind": "NodeMetrics",
        "metadata": {"name": "metrics-0"}, "timestamp": "2026-11-25T10:00:00Z", "window": "20s",
        "usage": {"cpu": "1250000001n", "memory": "2Gi"}});
    let pod = json!({"apiVersion": "metrics.k8s.io/v1beta1", "kind": "PodMetrics",
        "metadata": {"name": "web-0", "namespace": "default"}, "timestamp": "2026-11-25T10:00:00Z", "window": "20s",
        "containers": [{"name": "app", "usage": {"cpu": "2m", "memory": "300Mi"}},
                       {"name": "proxy", "usage": {"cpu": "15123u", "memory": "40Mi"}}]});
    // The CRDs take a moment to be established.
    let mut created = 0;
    for _ in 0..100 {
        let node: DynamicObject = serde_json::from_value(node.clone()).unwrap();
        let pod: DynamicObject = serde_json::from_value(pod.clone()).unwrap();
        if created == 0 && nodes.create(&PostParams::default(), &node).await.is_ok() {
            created = 1;
        }
        if created == 1 && pods.create(&PostParams::default(), &pod).await.is_ok() {
            created = 2;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(created, 2, "the metrics CRDs were never established");

    let client = cloudoptim_at(&private, fast_settings()).await;
    let Metrics::Served(sample) = client.metrics().await else {
        panic!("metrics.k8s.io is served here");
    };
    assert_eq!(sample.nodes.len(), 1);
    assert_eq!(sample.nodes[0].node, "metrics-0");
    assert_eq!(
        sample.nodes[0].cpu_millis, 1251,
        "nanocores round up to millicores"
    );
    assert_eq!(sample.nodes[0].memory_bytes, 2 << 30);
    assert_eq!(
        sample.nodes[0].timestamp,
        Some("2026-11-25T10:00:00Z".parse().unwrap())
    );
    let usage: Vec<(&str, u64, u64)> = sample
        .containers
        .iter()
        .map(|c| (c.container.as_str(), c.cpu_millis, c.memory_bytes))
        .collect();
    assert_eq!(usage, vec![("app", 2, 300 << 20), ("proxy", 16, 40 << 20)]);
    assert!(sample
        .containers
        .iter()
        .all(|c| c.namespace == "default" && c.pod == "web-0"));
    // The readings feed the usage histograms, one key per container.
    let mut usage = cloudoptim_core::usage::UsageHistograms::new(
        cloudoptim_core::usage::UsageOptions::default(),
    );
    // No snapshot of this cluster: each pod is its own owner.
    let snapshot = cloudoptim_core::snapshot::ClusterSnapshot::default();
    let added = usage.add_readings(sample.readings(Timestamp::now()), &snapshot);
    assert_eq!((added.series, added.cpu_samples, added.skipped), (2, 2, 0));
    let maxima: Vec<(String, f64)> = usage
        .iter()
        .map(|(k, h)| (k.container.clone(), h.max_memory_bytes))
        .collect();
    assert_eq!(
        maxima,
        vec![
            ("app".into(), 300.0 * 1048576.0),
            ("proxy".into(), 40.0 * 1048576.0)
        ]
    );
}

// ---------------------------------------------------------------- act

#[tokio::test]
async fn cordon_and_uncordon_are_idempotent_and_annotated() {
    let admin = admin().await;
    node(&admin, "cordon-0", "m5.large", "us-east-1a").await;
    let executor = KubeExecutor::new(cloudoptim(fast_settings()).await, Mode::Execute);

    let cordon = plan(vec![(
        Action::Cordon {
            node: "cordon-0".into(),
        },
        vec![],
    )]);
    let first = run_plan(&executor, &cordon).await;
    assert!(first.is_complete(), "{:?}", first.failed);
    assert!(matches!(&first.outcomes[0], StepOutcome::Done(m) if m.contains("cordon node")));
    let (cordoned, by) = node_state(&admin, "cordon-0").await;
    assert!(cordoned);
    assert!(by.unwrap().contains("test plan"));
    let again = run_plan(&executor, &cordon).await;
    assert!(matches!(&again.outcomes[0], StepOutcome::Done(m) if m.contains("already")));

    let uncordon = plan(vec![(
        Action::Uncordon {
            node: "cordon-0".into(),
        },
        vec![],
    )]);
    run_plan(&executor, &uncordon).await;
    assert_eq!(node_state(&admin, "cordon-0").await, (false, None));
    let again = run_plan(&executor, &uncordon).await;
    assert!(matches!(&again.outcomes[0], StepOutcome::Done(m) if m.contains("already")));

    // A step whose node is gone is skipped, not failed.
    let missing = plan(vec![(
        Action::Cordon {
            node: "cordon-missing".into(),
        },
        vec![Precondition::NodeExists {
            node: "cordon-missing".into(),
        }],
    )]);
    let run = run_plan(&executor, &missing).await;
    assert!(matches!(&run.outcomes[0], StepOutcome::Skipped(m) if m.contains("no longer exists")));
}

#[tokio::test]
async fn drain_evicts_all_but_daemonset_and_mirror_pods_and_waits_for_them() {
    let admin = admin().await;
    let ns = "drain";
    namespace(&admin, ns).await;
    node(&admin, "drain-0", "m5.large", "us-east-1a").await;
    let ds = daemonset(&admin, ns, "agent").await;
    let ds_uid = ds.metadata.uid.clone().unwrap();
    let mut agent = PodSpec::new(ns, "agent-x", "drain-0");
    agent.owner = Some(("DaemonSet", "agent", &ds_uid));
    pod(&admin, agent).await;
    let mut mirror = PodSpec::new(ns, "static-x", "drain-0");
    mirror.annotations = json!({"kubernetes.io/config.mirror": "abc"});
    pod(&admin, mirror).await;
    for i in 0..3 {
        let name = format!("app-{i}");
        let mut spec = PodSpec::new(ns, &name, "drain-0");
        spec.grace_seconds = 30; // the kubelet below finishes them after 1 s
        pod(&admin, spec).await;
    }
    let kubelet = kubelet(admin.clone(), ns.into(), Duration::from_secs(1));

    // Dry-run first: the server checks each eviction, nothing changes.
    let client = cloudoptim(fast_settings()).await;
    let drain = plan(vec![(
        Action::Drain {
            node: "drain-0".into(),
        },
        vec![],
    )]);
    let dry = run_plan(&KubeExecutor::new(client.clone(), Mode::DryRun), &drain).await;
    assert!(dry.is_complete(), "{:?}", dry.failed);
    match &dry.outcomes[0] {
        StepOutcome::WouldDo(m) => {
            assert!(
                m.contains("drain/app-0") && !m.contains("agent-x") && !m.contains("static-x"),
                "{m}"
            )
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(node_state(&admin, "drain-0").await, (false, None));
    assert_eq!(pods_in(&admin, ns).await.len(), 5);

    let mut executor = KubeExecutor::new(client, Mode::Execute);
    executor.drain.poll_interval = Duration::from_millis(200);
    let run = run_plan(&executor, &drain).await;
    assert!(run.is_complete(), "{:?}", run.failed);
    assert!(
        matches!(&run.outcomes[0], StepOutcome::Done(m) if m.contains("3 pod(s) evicted")),
        "{:?}",
        run.outcomes
    );
    assert_eq!(pods_in(&admin, ns).await, vec!["agent-x", "static-x"]);
    let (cordoned, by) = node_state(&admin, "drain-0").await;
    assert!(cordoned && by.is_some());

    // Re-running a finished drain is a no-op.
    let again = run_plan(&executor, &drain).await;
    assert!(matches!(&again.outcomes[0], StepOutcome::Done(m) if m.contains("0 pod(s) evicted")));
    kubelet.abort();
}

#[tokio::test]
async fn a_pdb_blocked_drain_backs_off_and_completes_when_the_budget_allows() {
    let admin = admin().await;
    let ns = "pdb-wait";
    namespace(&admin, ns).await;
    node(&admin, "pdb-wait-0", "m5.large", "us-east-1a").await;
    for i in 0..2 {
        let name = format!("api-{i}");
        let mut spec = PodSpec::new(ns, &name, "pdb-wait-0");
        spec.labels = json!({"app": "api"});
        pod(&admin, spec).await;
    }
    // One disruption allowed: the API server lets the first eviction through
    // and refuses the second with 429 until the budget allows another.
    pdb(&admin, ns, "api", "api", 2, 1).await;
    let client = cloudoptim(fast_settings()).await;
    let mut executor = KubeExecutor::new(client, Mode::Execute);
    executor.drain.poll_interval = Duration::from_millis(200);
    let drain = plan(vec![(
        Action::Drain {
            node: "pdb-wait-0".into(),
        },
        vec![],
    )]);

    let admin2 = admin.clone();
    let controller = tokio::spawn(async move {
        // The disruption controller, late: the replacement became healthy.
        tokio::time::sleep(Duration::from_secs(2)).await;
        set_pdb_allowed(&admin2, "pdb-wait", "api", 1, 2, 1).await;
    });
    let started = std::time::Instant::now();
    let run = run_plan(&executor, &drain).await;
    controller.await.unwrap();
    assert!(run.is_complete(), "{:?}", run.failed);
    assert!(
        started.elapsed() >= Duration::from_secs(2),
        "the second eviction waited for the budget"
    );
    assert!(pods_in(&admin, ns).await.is_empty());
}

#[tokio::test]
async fn a_drain_past_its_deadline_fails_typed_and_leaves_the_node_cordoned_by_the_plan() {
    let admin = admin().await;
    let ns = "pdb-deadline";
    namespace(&admin, ns).await;
    node(&admin, "pdb-deadline-0", "m5.large", "us-east-1a").await;
    for i in 0..2 {
        let name = format!("db-{i}");
        let mut spec = PodSpec::new(ns, &name, "pdb-deadline-0");
        spec.labels = json!({"app": "db"});
        pod(&admin, spec).await;
    }
    pdb(&admin, ns, "db", "db", 2, 0).await;
    let mut executor = KubeExecutor::new(cloudoptim(fast_settings()).await, Mode::Execute);
    executor.drain.poll_interval = Duration::from_millis(200);
    let deadline = Timestamp::now()
        .checked_add(Duration::from_secs(2))
        .unwrap();
    let drain = plan(vec![
        (
            Action::Cordon {
                node: "pdb-deadline-0".into(),
            },
            vec![],
        ),
        (
            Action::Drain {
                node: "pdb-deadline-0".into(),
            },
            vec![Precondition::Before { deadline }],
        ),
        (
            Action::DeleteNode {
                node: "pdb-deadline-0".into(),
            },
            vec![],
        ),
    ]);
    let run = run_plan(&executor, &drain).await;
    let (index, error) = run.failed.expect("the PDB allows no disruption");
    assert_eq!(index, 1);
    match &error {
        K8sError::DrainDeadline {
            node, remaining, ..
        } => {
            assert_eq!(node, "pdb-deadline-0");
            assert_eq!(remaining.len(), 2);
            assert!(remaining[0].contains("disruption budget"), "{remaining:?}");
        }
        other => panic!("expected DrainDeadline, got {other:?}"),
    }
    // Nothing after the failed step ran; the node is cordoned, and says by which plan.
    assert_eq!(run.outcomes.len(), 1);
    assert_eq!(pods_in(&admin, ns).await.len(), 2);
    let (cordoned, by) = node_state(&admin, "pdb-deadline-0").await;
    assert!(cordoned);
    assert!(by.unwrap().contains("test plan"));

    // A deadline already past skips the drain instead of starting it.
    let late = plan(vec![(
        Action::Drain {
            node: "pdb-deadline-0".into(),
        },
        vec![Precondition::Before { deadline }],
    )]);
    let run = run_plan(&executor, &late).await;
    assert!(matches!(&run.outcomes[0], StepOutcome::Skipped(m) if m.contains("deadline")));
}

#[tokio::test]
async fn evict_and_delete_node_recheck_their_preconditions() {
    let admin = admin().await;
    let ns = "evict";
    namespace(&admin, ns).await;
    node(&admin, "evict-0", "m5.large", "us-east-1a").await;
    pod(&admin, PodSpec::new(ns, "worker", "evict-0")).await;
    let mut pinned = PodSpec::new(ns, "pinned", "evict-0");
    pinned.annotations = json!({"karpenter.sh/do-not-disrupt": "true"});
    pod(&admin, pinned).await;
    let executor = KubeExecutor::new(cloudoptim(fast_settings()).await, Mode::Execute);

    let evict = |pod: &str| {
        (
            Action::Evict {
                namespace: ns.into(),
                pod: pod.into(),
                node: "evict-0".into(),
            },
            vec![
                Precondition::PodOnNode {
                    namespace: ns.into(),
                    pod: pod.into(),
                    node: "evict-0".into(),
                },
                Precondition::PodDisruptable {
                    namespace: ns.into(),
                    pod: pod.into(),
                },
            ],
        )
    };
    let delete = (
        Action::DeleteNode {
            node: "evict-0".into(),
        },
        vec![Precondition::NodeDrained {
            node: "evict-0".into(),
        }],
    );
    let steps = plan(vec![evict("worker"), evict("pinned"), delete.clone()]);
    let run = run_plan(&executor, &steps).await;
    assert!(run.is_complete(), "{:?}", run.failed);
    assert!(
        matches!(&run.outcomes[0], StepOutcome::Done(_)),
        "{:?}",
        run.outcomes
    );
    assert!(matches!(&run.outcomes[1], StepOutcome::Skipped(m) if m.contains("do-not-disrupt")));
    assert!(matches!(&run.outcomes[2], StepOutcome::Skipped(m) if m.contains("still runs 1 pod")));
    assert_eq!(pods_in(&admin, ns).await, vec!["pinned"]);

    // Once the node is empty, the Node object goes; again, it is already gone.
    Api::<Pod>::namespaced(admin.clone(), ns)
        .delete("pinned", &DeleteParams::default().grace_period(0))
        .await
        .unwrap();
    let delete_only = plan(vec![delete]);
    let dry = run_plan(
        &KubeExecutor::new(cloudoptim(fast_settings()).await, Mode::DryRun),
        &delete_only,
    )
    .await;
    assert!(
        matches!(&dry.outcomes[0], StepOutcome::WouldDo(_)),
        "{:?}",
        dry.outcomes
    );
    assert!(Api::<Node>::all(admin.clone())
        .get_opt("evict-0")
        .await
        .unwrap()
        .is_some());
    // Still Ready: its kubelet (so its instance) still runs; not deleted.
    let soon = Timestamp::now()
        .checked_add(Duration::from_millis(500))
        .unwrap();
    let ready = plan(vec![(
        Action::DeleteNode {
            node: "evict-0".into(),
        },
        vec![Precondition::Before { deadline: soon }],
    )]);
    let run = run_plan(&executor, &ready).await;
    assert!(
        matches!(&run.outcomes[0], StepOutcome::Skipped(m) if m.contains("still Ready")),
        "{:?}",
        run.outcomes
    );
    // The instance is terminated: the node lifecycle controller marks it Unknown.
    set_node_ready(&admin, "evict-0", "Unknown").await;
    let run = run_plan(&executor, &delete_only).await;
    assert!(
        matches!(&run.outcomes[0], StepOutcome::Done(m) if m.contains("delete node")),
        "{:?}",
        run.outcomes
    );
    assert!(Api::<Node>::all(admin.clone())
        .get_opt("evict-0")
        .await
        .unwrap()
        .is_none());
    let again = run_plan(
        &executor,
        &plan(vec![(
            Action::DeleteNode {
                node: "evict-0".into(),
            },
            vec![],
        )]),
    )
    .await;
    assert!(matches!(&again.outcomes[0], StepOutcome::Done(m) if m.contains("already")));
}

#[tokio::test]
async fn scale_remembers_the_original_count_and_patches_resources_on_the_template() {
    let admin = admin().await;
    let ns = "workloads";
    namespace(&admin, ns).await;
    deployment(&admin, ns, "office", 3).await;
    let executor = KubeExecutor::new(cloudoptim(fast_settings()).await, Mode::Execute);
    let office = deployment_ref(ns, "office");
    let deployments: Api<Deployment> = Api::namespaced(admin.clone(), ns);
    let state = || async {
        let d = deployments.get("office").await.unwrap();
        let original = d
            .metadata
            .annotations
            .and_then(|a| a.get(ORIGINAL_REPLICAS_ANNOTATION).cloned());
        (d.spec.unwrap().replicas.unwrap(), original)
    };

    let down = plan(vec![(
        Action::ScaleReplicas {
            workload: office.clone(),
            from: 3,
            to: 0,
        },
        vec![Precondition::ReplicasAre {
            workload: office.clone(),
            replicas: 3,
        }],
    )]);
    // Dry-run is checked by the server and changes nothing.
    let dry = run_plan(
        &KubeExecutor::new(cloudoptim(fast_settings()).await, Mode::DryRun),
        &down,
    )
    .await;
    assert!(matches!(&dry.outcomes[0], StepOutcome::WouldDo(_)));
    assert_eq!(state().await, (3, None));

    run_plan(&executor, &down).await;
    assert_eq!(state().await, (0, Some("3".into())));
    // Re-running a step already done reports it done (before its
    // precondition, 3 replicas, which no longer holds, is judged).
    let again = run_plan(&executor, &down).await;
    assert!(
        matches!(&again.outcomes[0], StepOutcome::Done(m) if m.contains("already has 0 replicas")),
        "{:?}",
        again.outcomes
    );
    // A step not done whose precondition no longer holds is skipped.
    let other = plan(vec![(
        Action::ScaleReplicas {
            workload: office.clone(),
            from: 3,
            to: 2,
        },
        vec![Precondition::ReplicasAre {
            workload: office.clone(),
            replicas: 3,
        }],
    )]);
    let skipped = run_plan(&executor, &other).await;
    assert!(
        matches!(&skipped.outcomes[0], StepOutcome::Skipped(m) if m.contains("has 0 replicas, not 3")),
        "{:?}",
        skipped.outcomes
    );
    // Without a ReplicasAre precondition, `from` still guards the change.
    let stale = plan(vec![(
        Action::ScaleReplicas {
            workload: office.clone(),
            from: 7,
            to: 1,
        },
        vec![],
    )]);
    let run = run_plan(&executor, &stale).await;
    assert!(
        matches!(&run.outcomes[0], StepOutcome::Skipped(m) if m.contains("not 7")),
        "{:?}",
        run.outcomes
    );
    assert_eq!(state().await, (0, Some("3".into())));
    let up = plan(vec![(
        Action::ScaleReplicas {
            workload: office.clone(),
            from: 0,
            to: 3,
        },
        vec![],
    )]);
    run_plan(&executor, &up).await;
    assert_eq!(state().await, (3, None));

    let patch = ResourcePatch {
        cpu_request_millis: Some(250),
        memory_request_bytes: Some(384 * 1024 * 1024),
        cpu_limit_millis: None,
        memory_limit_bytes: Some(768 * 1024 * 1024),
    };
    let rightsize = plan(vec![(
        Action::PatchResources {
            workload: office.clone(),
            container: "app".into(),
            patch,
        },
        vec![],
    )]);
    let run = run_plan(&executor, &rightsize).await;
    assert!(
        matches!(&run.outcomes[0], StepOutcome::Done(_)),
        "{:?}",
        run.outcomes
    );
    let d = deployments.get("office").await.unwrap();
    let resources =
        serde_json::to_value(&d.spec.unwrap().template.spec.unwrap().containers[0].resources)
            .unwrap();
    assert_eq!(
        resources["requests"],
        json!({"cpu": "250m", "memory": "384Mi"})
    );
    assert_eq!(resources["limits"], json!({"memory": "768Mi"}));
    let again = run_plan(&executor, &rightsize).await;
    assert!(
        matches!(&again.outcomes[0], StepOutcome::Done(m) if m.contains("already")),
        "{:?}",
        again.outcomes
    );

    let missing = plan(vec![(
        Action::PatchResources {
            workload: office,
            container: "sidecar".into(),
            patch: ResourcePatch::default(),
        },
        vec![],
    )]);
    let run = run_plan(&executor, &missing).await;
    assert!(
        matches!(&run.outcomes[0], StepOutcome::Skipped(m) if m.contains("no container sidecar"))
    );
}

/// Rightsizing end to end: the cluster observed as the service account,
/// two days of usage, the engine's plan carried out on the template, and
/// the same plan again refused by its preconditions (the figures changed).
#[tokio::test]
async fn a_rightsizing_plan_patches_the_template_it_was_made_from_and_only_that() {
    use cloudoptim_core::catalog::Catalog;
    use cloudoptim_core::rightsizing::{recommend, Decision, RightsizingPolicy};
    use cloudoptim_core::snapshot::OwnerRef;
    use cloudoptim_core::usage::{ContainerKey, UsageHistograms, UsageOptions};

    let admin = admin().await;
    let ns = "rightsizing";
    namespace(&admin, ns).await;
    deployment(&admin, ns, "api", 2).await;
    let client = cloudoptim(fast_settings()).await;
    let observed = client.observe(&ObserveOptions::default()).await.unwrap();
    let now = Timestamp::now();
    let key = ContainerKey {
        namespace: ns.into(),
        owner: OwnerRef {
            kind: "Deployment".into(),
            name: "api".into(),
        },
        container: "app".into(),
    };
    let mut usage = UsageHistograms::new(UsageOptions::default());
    let start = now
        .checked_sub(jiff::SignedDuration::from_hours(48))
        .unwrap();
    let at = |m: i64| {
        start
            .checked_add(jiff::SignedDuration::from_mins(m))
            .unwrap()
    };
    usage.add_cpu_series(key.clone(), (0..48 * 60).map(|m| (at(m), 50.0)));
    usage.add_memory_series(
        key.clone(),
        (0..48 * 60).map(|m| (at(m), 200.0 * 1048576.0)),
    );
    let report = recommend(
        &observed.snapshot,
        Catalog::embedded().unwrap(),
        "us-east-1",
        &usage,
        &RightsizingPolicy::default(),
        now,
    );
    let finding = report.findings.iter().find(|f| f.key == key).unwrap();
    assert_eq!(finding.decision, Decision::Patch, "{finding:?}");
    // No pod runs here (no controller manager): the template's figures.
    assert_eq!(
        (finding.cpu.current_request, finding.memory.current_request),
        (500, 512 << 20)
    );
    let (cpu, memory) = (finding.cpu.new_request, finding.memory.new_request);
    assert!(cpu < 100 && memory < 300 << 20, "{cpu}m {memory}");
    let step: Vec<_> = report
        .plan
        .steps
        .iter()
        .filter(|s| matches!(&s.action, Action::PatchResources { workload, .. } if workload.namespace == ns))
        .cloned()
        .collect();
    assert_eq!(step.len(), 1);
    let mut plan = Plan::new("rightsizing", now);
    plan.steps = step;

    let executor = KubeExecutor::new(client, Mode::Execute);
    let run = run_plan(&executor, &plan).await;
    assert!(
        matches!(&run.outcomes[0], StepOutcome::Done(_)),
        "{:?}",
        run.outcomes
    );
    let deployments: Api<Deployment> = Api::namespaced(admin.clone(), ns);
    let d = deployments.get("api").await.unwrap();
    let resources =
        serde_json::to_value(&d.spec.unwrap().template.spec.unwrap().containers[0].resources)
            .unwrap();
    assert_eq!(
        resources["requests"],
        json!({"cpu": format!("{cpu}m"), "memory": format!("{}Mi", memory >> 20)})
    );
    // The plan was made for 500m/512Mi: run again, it is refused.
    let again = run_plan(&executor, &plan).await;
    assert!(
        matches!(&again.outcomes[0], StepOutcome::Skipped(m) if m.contains("500")),
        "{:?}",
        again.outcomes
    );
}

#[tokio::test]
async fn labels_and_annotations_are_set_and_removed() {
    let admin = admin().await;
    node(&admin, "labels-0", "m5.large", "us-east-1a").await;
    let executor = KubeExecutor::new(cloudoptim(fast_settings()).await, Mode::Execute);
    let object = ObjectRef::Node {
        name: "labels-0".into(),
    };
    let set = plan(vec![(
        Action::SetMetadata {
            object: object.clone(),
            labels: BTreeMap::from([("cloudoptim.io/pool".into(), Some("spot".into()))]),
            annotations: BTreeMap::from([("cloudoptim.io/note".into(), Some("checked".into()))]),
        },
        vec![],
    )]);
    run_plan(&executor, &set).await;
    let node = Api::<Node>::all(admin.clone())
        .get("labels-0")
        .await
        .unwrap();
    assert_eq!(node.metadata.labels.unwrap()["cloudoptim.io/pool"], "spot");
    assert_eq!(
        node.metadata.annotations.unwrap()["cloudoptim.io/note"],
        "checked"
    );
    let remove = plan(vec![(
        Action::SetMetadata {
            object,
            labels: BTreeMap::from([("cloudoptim.io/pool".into(), None)]),
            annotations: BTreeMap::new(),
        },
        vec![],
    )]);
    run_plan(&executor, &remove).await;
    let node = Api::<Node>::all(admin.clone())
        .get("labels-0")
        .await
        .unwrap();
    assert!(!node
        .metadata
        .labels
        .unwrap()
        .contains_key("cloudoptim.io/pool"));
}

// ---------------------------------------------------------------- faults

#[tokio::test]
async fn the_api_server_stopping_mid_drain_is_a_typed_error_and_a_rerun_completes() {
    let admin = admin().await;
    let ns = "fault";
    namespace(&admin, ns).await;
    node(&admin, "fault-0", "m5.large", "us-east-1a").await;
    for i in 0..2 {
        let name = format!("slow-{i}");
        let mut spec = PodSpec::new(ns, &name, "fault-0");
        spec.grace_seconds = 30;
        pod(&admin, spec).await;
    }
    // A private API server on the same etcd, which this test stops and restarts.
    let port = free_port();
    let private = format!("https://127.0.0.1:{port}");
    let mut server = start_apiserver(port, "/registry").await;

    let settings = ClientSettings {
        timeout: Duration::from_secs(2),
        retry_attempts: 2,
        retry_base_delay: Duration::from_millis(100),
    };
    let mut executor = KubeExecutor::new(cloudoptim_at(&private, settings).await, Mode::Execute);
    executor.drain.poll_interval = Duration::from_millis(200);
    let drain = plan(vec![
        (
            Action::Cordon {
                node: "fault-0".into(),
            },
            vec![],
        ),
        (
            Action::Drain {
                node: "fault-0".into(),
            },
            vec![],
        ),
    ]);
    // No kubelet yet: the evicted pods stay terminating, the drain waits...
    let running = tokio::spawn({
        let executor = executor.clone();
        let drain = drain.clone();
        async move { run_plan(&executor, &drain).await }
    });
    tokio::time::sleep(Duration::from_secs(2)).await;
    // ...and the API server goes away under it.
    server.kill().await.unwrap();
    let run = running.await.unwrap();
    let (index, error) = run
        .failed
        .expect("the drain cannot finish without the API server");
    assert_eq!(index, 1);
    assert!(error.is_unavailable(), "{error:?}");
    assert!(error.to_string().contains("did not answer"), "{error}");
    let (cordoned, by) = node_state(&admin, "fault-0").await;
    assert!(
        cordoned && by.is_some(),
        "cordoned by the plan's cordon step, and annotated so"
    );

    // Back up, with a kubelet finishing pods: the same plan, run again, completes.
    let mut server = start_apiserver(port, "/registry").await;
    let kubelet = kubelet(admin.clone(), ns.into(), Duration::from_millis(200));
    let run = run_plan(&executor, &drain).await;
    assert!(run.is_complete(), "{:?}", run.failed);
    assert!(matches!(&run.outcomes[0], StepOutcome::Done(m) if m.contains("already cordoned")));
    assert!(pods_in(&admin, ns).await.is_empty());
    kubelet.abort();
    server.kill().await.unwrap();
}

fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// Another kube-apiserver on this run's etcd, under `etcd_prefix` (another
/// prefix is another, empty cluster); killed when dropped.
async fn start_apiserver(port: u16, etcd_prefix: &str) -> tokio::process::Child {
    let child = tokio::process::Command::new(env("CLOUDOPTIM_KUBE_LAUNCHER"))
        .arg(port.to_string())
        .arg(etcd_prefix)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    wait_ready(&format!("https://127.0.0.1:{port}")).await;
    child
}

async fn wait_ready(endpoint: &str) {
    let client = client_with_token(
        endpoint,
        &env("CLOUDOPTIM_KUBE_ADMIN_TOKEN"),
        fast_settings(),
    )
    .await;
    for _ in 0..240 {
        let request = http::Request::get("/readyz").body(Vec::new()).unwrap();
        if client.kube().request_text(request).await.is_ok() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    panic!("the private kube-apiserver on {endpoint} did not become ready");
}

// ---------------------------------------------------------------- safety

#[tokio::test]
async fn uncordon_leaves_a_cordon_someone_else_set() {
    let admin = admin().await;
    node(&admin, "foreign-cordon", "m5.large", "us-east-1a").await;
    Api::<Node>::all(admin.clone())
        .patch(
            "foreign-cordon",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"unschedulable": true}})),
        )
        .await
        .unwrap();
    let executor = KubeExecutor::new(cloudoptim(fast_settings()).await, Mode::Execute);
    let steps = plan(vec![
        (
            Action::Cordon {
                node: "foreign-cordon".into(),
            },
            vec![],
        ),
        (
            Action::Uncordon {
                node: "foreign-cordon".into(),
            },
            vec![],
        ),
    ]);
    let run = run_plan(&executor, &steps).await;
    assert!(matches!(&run.outcomes[0], StepOutcome::Done(m) if m.contains("already cordoned")));
    assert!(
        matches!(&run.outcomes[1], StepOutcome::Skipped(m) if m.contains("someone else")),
        "{:?}",
        run.outcomes
    );
    assert_eq!(node_state(&admin, "foreign-cordon").await, (true, None));
}

#[tokio::test]
async fn drain_refuses_unmanaged_and_do_not_disrupt_pods_unless_forced() {
    let admin = admin().await;
    let ns = "drain-refuse";
    namespace(&admin, ns).await;
    node(&admin, "drain-refuse-0", "m5.large", "us-east-1a").await;
    let mut bare = PodSpec::new(ns, "bare", "drain-refuse-0");
    bare.owner = None;
    pod(&admin, bare).await;
    let mut pinned = PodSpec::new(ns, "pinned", "drain-refuse-0");
    pinned.annotations = json!({"cloudoptim.io/do-not-disrupt": "true"});
    pod(&admin, pinned).await;
    pod(&admin, PodSpec::new(ns, "managed", "drain-refuse-0")).await;
    let mut executor = KubeExecutor::new(cloudoptim(fast_settings()).await, Mode::Execute);
    executor.drain.poll_interval = Duration::from_millis(200);
    let drain = plan(vec![(
        Action::Drain {
            node: "drain-refuse-0".into(),
        },
        vec![],
    )]);

    let run = run_plan(&executor, &drain).await;
    match &run.outcomes[0] {
        StepOutcome::Skipped(m) => assert!(
            m.contains("drain-refuse/bare (no controller")
                && m.contains("drain-refuse/pinned (do-not-disrupt)"),
            "{m}"
        ),
        other => panic!("{other:?}"),
    }
    // Nothing happened: not cordoned, no pod evicted.
    assert_eq!(node_state(&admin, "drain-refuse-0").await, (false, None));
    assert_eq!(pods_in(&admin, ns).await.len(), 3);

    // A node going away regardless (a Spot interruption) is drained whole.
    executor.drain.force = true;
    let run = run_plan(&executor, &drain).await;
    assert!(run.is_complete(), "{:?}", run.failed);
    assert!(pods_in(&admin, ns).await.is_empty());
}

#[tokio::test]
async fn a_pod_under_two_pdbs_is_an_eviction_refused_error_not_a_retry() {
    let admin = admin().await;
    let ns = "two-pdbs";
    namespace(&admin, ns).await;
    node(&admin, "two-pdbs-0", "m5.large", "us-east-1a").await;
    let mut spec = PodSpec::new(ns, "shared", "two-pdbs-0");
    spec.labels = json!({"app": "shared"});
    pod(&admin, spec).await;
    pdb(&admin, ns, "first", "shared", 1, 1).await;
    pdb(&admin, ns, "second", "shared", 1, 1).await;
    let executor = KubeExecutor::new(cloudoptim(fast_settings()).await, Mode::Execute);
    let evict = plan(vec![(
        Action::Evict {
            namespace: ns.into(),
            pod: "shared".into(),
            node: "two-pdbs-0".into(),
        },
        vec![],
    )]);
    let started = std::time::Instant::now();
    let run = run_plan(&executor, &evict).await;
    let (_, error) = run.failed.expect("two PDBs on one pod is refused");
    match &error {
        K8sError::EvictionRefused { pod, message } => {
            assert_eq!(pod, "two-pdbs/shared");
            assert!(message.contains("more than one"), "{message}");
        }
        other => panic!("expected EvictionRefused, got {other:?}"),
    }
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "not retried until a deadline"
    );
}

#[tokio::test]
async fn evict_leaves_a_same_name_replacement_alone() {
    let admin = admin().await;
    let ns = "replacement";
    namespace(&admin, ns).await;
    node(&admin, "replacement-0", "m5.large", "us-east-1a").await;
    node(&admin, "replacement-1", "m5.large", "us-east-1b").await;
    let mut db = PodSpec::new(ns, "db-0", "replacement-0");
    db.grace_seconds = 30;
    pod(&admin, db).await;
    let mut executor = KubeExecutor::new(cloudoptim(fast_settings()).await, Mode::Execute);
    executor.drain.poll_interval = Duration::from_millis(200);
    // The StatefulSet controller's part: once db-0 is gone, a new db-0
    // appears on another node.
    let controller = tokio::spawn({
        let admin = admin.clone();
        async move {
            let api: Api<Pod> = Api::namespaced(admin.clone(), "replacement");
            loop {
                let current = api.get_opt("db-0").await.unwrap();
                if let Some(p) = &current {
                    if p.metadata.deletion_timestamp.is_some() {
                        api.delete("db-0", &DeleteParams::default().grace_period(0))
                            .await
                            .ok();
                        let mut again = PodSpec::new("replacement", "db-0", "replacement-1");
                        again.grace_seconds = 30;
                        pod(&admin, again).await;
                        return;
                    }
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    });
    let evict = plan(vec![(
        Action::Evict {
            namespace: ns.into(),
            pod: "db-0".into(),
            node: "replacement-0".into(),
        },
        vec![],
    )]);
    let run = run_plan(&executor, &evict).await;
    controller.await.unwrap();
    assert!(run.is_complete(), "{:?}", run.failed);
    assert!(
        matches!(&run.outcomes[0], StepOutcome::Done(m) if m.contains("evicted pod")),
        "{:?}",
        run.outcomes
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    let replacement = Api::<Pod>::namespaced(admin.clone(), ns)
        .get("db-0")
        .await
        .unwrap();
    assert!(
        replacement.metadata.deletion_timestamp.is_none(),
        "the replacement was not evicted"
    );
    assert_eq!(
        replacement.spec.unwrap().node_name.as_deref(),
        Some("replacement-1")
    );
}

#[tokio::test]
async fn a_dry_run_eviction_a_pdb_refuses_answers_at_once() {
    let admin = admin().await;
    let ns = "dry-pdb";
    namespace(&admin, ns).await;
    node(&admin, "dry-pdb-0", "m5.large", "us-east-1a").await;
    let mut spec = PodSpec::new(ns, "api", "dry-pdb-0");
    spec.labels = json!({"app": "api"});
    pod(&admin, spec).await;
    pdb(&admin, ns, "api", "api", 1, 0).await;
    let executor = KubeExecutor::new(cloudoptim(fast_settings()).await, Mode::DryRun);
    let evict = plan(vec![(
        Action::Evict {
            namespace: ns.into(),
            pod: "api".into(),
            node: "dry-pdb-0".into(),
        },
        vec![],
    )]);
    let started = std::time::Instant::now();
    let run = run_plan(&executor, &evict).await;
    assert!(
        matches!(&run.outcomes[0], StepOutcome::WouldDo(m) if m.contains("refused right now")),
        "{:?}",
        run.outcomes
    );
    assert!(started.elapsed() < Duration::from_secs(5));
    let status = Api::<PodDisruptionBudget>::namespaced(admin.clone(), ns)
        .get("api")
        .await
        .unwrap()
        .status
        .unwrap();
    assert!(
        status.disrupted_pods.unwrap_or_default().is_empty(),
        "a dry run disrupts nothing"
    );
}

#[tokio::test]
async fn a_plan_with_a_step_no_executor_claims_is_refused_before_any_step_runs() {
    let admin = admin().await;
    node(&admin, "refused-0", "m5.large", "us-east-1a").await;
    let executor = KubeExecutor::new(cloudoptim(fast_settings()).await, Mode::Execute);
    let steps = plan(vec![
        (
            Action::Cordon {
                node: "refused-0".into(),
            },
            vec![],
        ),
        (
            Action::TerminateInstance {
                instance_id: "i-0000000000000000a".into(),
                node: Some("refused-0".into()),
                auto_scaling_group: None,
            },
            vec![Precondition::NodeDrained {
                node: "refused-0".into(),
            }],
        ),
    ]);
    let refused = executor.run(&steps).await.unwrap_err();
    assert!(
        refused
            .problems
            .iter()
            .any(|p| p.contains("step 2 (terminate_instance)")),
        "{refused}"
    );
    assert_eq!(
        node_state(&admin, "refused-0").await,
        (false, None),
        "nothing ran: the node is not cordoned"
    );
}

// ----------------------------------------------------------- office hours

/// Office hours end to end, as the ServiceAccount: a namespace opted in by
/// annotation is read by `observe`, the core plans the night, the executor
/// stores the original count, scales to 0 and suspends the CronJob; the
/// morning plan, made from a fresh observation, restores exactly the 3
/// replicas and resumes the CronJob, and the annotations are gone.
#[tokio::test]
async fn office_hours_scale_down_then_restore_exactly() {
    use cloudoptim_core::office_hours::{
        plan_office_hours, OfficeHoursPolicy, ORIGINAL_SUSPEND_ANNOTATION, SCHEDULE_ANNOTATION,
    };
    use k8s_openapi::api::batch::v1::CronJob;

    let admin = admin().await;
    let ns = "office-hours";
    create::<Namespace>(
        &Api::all(admin.clone()),
        json!({"metadata": {"name": ns, "annotations": {
            SCHEDULE_ANNOTATION: "Mon-Fri 08:00-20:00 America/New_York"}}}),
    )
    .await;
    deployment(&admin, ns, "web", 3).await;
    let cronjobs: Api<CronJob> = Api::namespaced(admin.clone(), ns);
    create(
        &cronjobs,
        json!({"metadata": {"name": "report", "namespace": ns},
            "spec": {"schedule": "0 * * * *", "jobTemplate": {"spec": {"template": {"spec": {
                "restartPolicy": "Never",
                "containers": [{"name": "report", "image": "registry.example/report:1"}]}}}}}}),
    )
    .await;
    let client = cloudoptim(fast_settings()).await;
    let executor = KubeExecutor::new(client.clone(), Mode::Execute);
    let deployments: Api<Deployment> = Api::namespaced(admin.clone(), ns);
    let state = || async {
        let d = deployments.get("web").await.unwrap();
        let c = cronjobs.get("report").await.unwrap();
        let annotation =
            |a: Option<BTreeMap<String, String>>, key: &str| a.and_then(|a| a.get(key).cloned());
        (
            d.spec.unwrap().replicas.unwrap(),
            annotation(d.metadata.annotations, ORIGINAL_REPLICAS_ANNOTATION),
            c.spec.unwrap().suspend.unwrap_or(false),
            annotation(c.metadata.annotations, ORIGINAL_SUSPEND_ANNOTATION),
        )
    };
    let observe = || async {
        client
            .observe(&ObserveOptions {
                metrics: false,
                ..ObserveOptions::default()
            })
            .await
            .unwrap()
            .snapshot
    };
    let policy = OfficeHoursPolicy::default();
    let only_ours = |mut plan: Plan| {
        plan.steps.retain(|s| match &s.action {
            Action::ScaleReplicas { workload, .. } | Action::SetCronJobSuspend { workload, .. } => {
                workload.namespace == ns
            }
            Action::SetMetadata {
                object: ObjectRef::Workload(w),
                ..
            } => w.namespace == ns,
            _ => false,
        });
        plan
    };

    // Tuesday 2026-11-24 23:00 in New York.
    let night = only_ours(
        plan_office_hours(
            &observe().await,
            "2026-11-25T04:00:00Z".parse().unwrap(),
            &policy,
            None,
        )
        .plan,
    );
    assert_eq!(night.steps.len(), 4, "{:#?}", night.steps);
    let ran = run_plan(&executor, &night).await;
    assert!(ran.failed.is_none(), "{:?}", ran.failed);
    assert_eq!(
        state().await,
        (0, Some("3".into()), true, Some("false".into()))
    );

    // Wednesday 07:50: pre-warm.
    let morning = only_ours(
        plan_office_hours(
            &observe().await,
            "2026-11-25T12:50:00Z".parse().unwrap(),
            &policy,
            None,
        )
        .plan,
    );
    assert_eq!(morning.steps.len(), 4, "{:#?}", morning.steps);
    let ran = run_plan(&executor, &morning).await;
    assert!(ran.failed.is_none(), "{:?}", ran.failed);
    assert_eq!(state().await, (3, None, false, None));
    // Level-triggered: planning again in business hours changes nothing.
    let again = only_ours(
        plan_office_hours(
            &observe().await,
            "2026-11-25T15:00:00Z".parse().unwrap(),
            &policy,
            None,
        )
        .plan,
    );
    assert!(again.steps.is_empty(), "{:#?}", again.steps);
}

// ---------------------------------------------------------------- cross-AZ placement

#[tokio::test]
async fn zone_preferences_and_traffic_distribution_are_set_on_the_template_and_service_read() {
    use cloudoptim_core::snapshot::WeightedNodeSelectorTerm;

    let admin = admin().await;
    let ns = "placement";
    namespace(&admin, ns).await;
    let deployments: Api<Deployment> = Api::namespaced(admin.clone(), ns);
    create::<Deployment>(
        &deployments,
        json!({"metadata": {"name": "api"}, "spec": {"replicas": 3,
            "selector": {"matchLabels": {"app": "api"}},
            "template": {"metadata": {"labels": {"app": "api"}}, "spec": {
                "affinity": {"nodeAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
                    {"weight": 10, "preference": {"matchExpressions": [
                        {"key": "disk", "operator": "In", "values": ["ssd"]}]}}]}},
                "topologySpreadConstraints": [
                    {"maxSkew": 1, "topologyKey": "kubernetes.io/hostname",
                     "whenUnsatisfiable": "ScheduleAnyway",
                     "labelSelector": {"matchLabels": {"app": "api"}}},
                    {"maxSkew": 1, "topologyKey": "topology.kubernetes.io/zone",
                     "whenUnsatisfiable": "DoNotSchedule",
                     "labelSelector": {"matchLabels": {"app": "api", "tier": "old"}}}],
                "containers": [{"name": "app", "image": "registry.example/app:1"}]}}}}),
    )
    .await;
    create::<k8s_openapi::api::core::v1::Service>(
        &Api::namespaced(admin.clone(), ns),
        json!({"metadata": {"name": "api"},
            "spec": {"selector": {"app": "api"}, "ports": [{"port": 80}]}}),
    )
    .await;
    let client = cloudoptim(fast_settings()).await;
    let observed = client.observe(&ObserveOptions::default()).await.unwrap();
    let workload = observed
        .snapshot
        .workloads
        .iter()
        .find(|w| w.namespace == ns && w.name == "api")
        .unwrap();
    let before = workload.template.node_affinity.preferred.clone();
    assert_eq!(before.len(), 1);
    let zone_term: WeightedNodeSelectorTerm = serde_json::from_value(json!({"weight": 80,
        "preference": {"matchExpressions": [
            {"key": "topology.kubernetes.io/zone", "operator": "In", "values": ["us-east-1b"]}]}}))
    .unwrap();
    let mut after = before.clone();
    after.push(zone_term);
    let api = deployment_ref(ns, "api");
    let steps = plan(vec![
        (
            Action::SetPreferredNodeAffinity {
                workload: api.clone(),
                preferred: after.clone(),
                zone_spread: Some(cloudoptim_core::plan::ZoneSpread {
                    max_skew: 2,
                    selector: serde_json::from_value(json!({"matchLabels": {"app": "api"}}))
                        .unwrap(),
                }),
            },
            vec![Precondition::PreferredNodeAffinityIs {
                workload: api.clone(),
                preferred: before.clone(),
            }],
        ),
        (
            Action::SetTrafficDistribution {
                namespace: ns.into(),
                service: "api".into(),
                value: Some("PreferClose".into()),
            },
            vec![Precondition::TrafficDistributionIs {
                namespace: ns.into(),
                service: "api".into(),
                value: None,
            }],
        ),
    ]);
    let template_terms = |d: Deployment| {
        serde_json::to_value(d.spec.unwrap().template.spec.unwrap().affinity.unwrap()).unwrap()
            ["nodeAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"]
            .clone()
    };
    let services: Api<k8s_openapi::api::core::v1::Service> = Api::namespaced(admin.clone(), ns);
    let distribution =
        |s: k8s_openapi::api::core::v1::Service| s.spec.unwrap().traffic_distribution;

    // Dry-run (server-side): nothing changes.
    let dry = run_plan(&KubeExecutor::new(client.clone(), Mode::DryRun), &steps).await;
    assert!(
        dry.outcomes
            .iter()
            .all(|o| matches!(o, StepOutcome::WouldDo(_))),
        "{:?}",
        dry.outcomes
    );
    assert_eq!(
        template_terms(deployments.get("api").await.unwrap())
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(distribution(services.get("api").await.unwrap()), None);

    // Execute: the other preference is kept, the zone one added.
    let executor = KubeExecutor::new(client.clone(), Mode::Execute);
    let run = run_plan(&executor, &steps).await;
    assert!(
        run.outcomes
            .iter()
            .all(|o| matches!(o, StepOutcome::Done(_))),
        "{:?}",
        run.outcomes
    );
    assert_eq!(
        template_terms(deployments.get("api").await.unwrap()),
        serde_json::to_value(&after).unwrap()
    );
    // In the same patch: the zone spread replaced (its selector too), the
    // hostname spread kept.
    let spreads = serde_json::to_value(
        deployments
            .get("api")
            .await
            .unwrap()
            .spec
            .unwrap()
            .template
            .spec
            .unwrap()
            .topology_spread_constraints
            .unwrap(),
    )
    .unwrap();
    assert_eq!(
        spreads,
        json!([
            {"maxSkew": 1, "topologyKey": "kubernetes.io/hostname",
             "whenUnsatisfiable": "ScheduleAnyway",
             "labelSelector": {"matchLabels": {"app": "api"}}},
            {"maxSkew": 2, "topologyKey": "topology.kubernetes.io/zone",
             "whenUnsatisfiable": "DoNotSchedule",
             "labelSelector": {"matchLabels": {"app": "api"}}}]),
        "{spreads:#}"
    );
    assert_eq!(
        distribution(services.get("api").await.unwrap()).as_deref(),
        Some("PreferClose")
    );

    // Again: both already done.
    let again = run_plan(&executor, &steps).await;
    assert!(
        again
            .outcomes
            .iter()
            .all(|o| matches!(o, StepOutcome::Done(m) if m.contains("already"))),
        "{:?}",
        again.outcomes
    );

    // Someone changes the template: a plan made before is refused, not applied.
    deployments
        .patch(
            "api",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"template": {"spec": {"affinity": null}}}})),
        )
        .await
        .unwrap();
    let stale = run_plan(&executor, &steps).await;
    assert!(
        matches!(&stale.outcomes[0], StepOutcome::Skipped(m) if m.contains("changed")),
        "{:?}",
        stale.outcomes
    );
    assert!(deployments
        .get("api")
        .await
        .unwrap()
        .spec
        .unwrap()
        .template
        .spec
        .unwrap()
        .affinity
        .is_none());
}

#[tokio::test]
async fn a_cross_az_plan_made_from_the_observed_cluster_is_applied_through_the_runner() {
    use cloudoptim_core::cross_az::{analyze, plan as placement_plan, CrossAzPolicy};
    use cloudoptim_core::traffic::{ServiceRef, TrafficFlow, TrafficMatrix};

    let admin = admin().await;
    let ns = "crossaz";
    namespace(&admin, ns).await;
    let nodes = ["caz-a", "caz-b", "caz-c"];
    let node_api: Api<Node> = Api::all(admin.clone());
    for (name, zone) in nodes.iter().zip(["us-east-1a", "us-east-1b", "us-east-1c"]) {
        node(&admin, name, "m5.xlarge", zone).await;
        // Admission taints a new node not-ready; the node lifecycle
        // controller (not run here) lifts it once the node is Ready.
        node_api
            .patch(
                name,
                &PatchParams::default(),
                &Patch::Merge(json!({"spec": {"taints": null}})),
            )
            .await
            .unwrap();
    }
    // web and api, six replicas each, two per zone: a third of web → api
    // stays in its zone.
    for app in ["web", "api"] {
        let d = deployment(&admin, ns, app, 6).await;
        let rs_name = format!("{app}-5d8f");
        let rs = replicaset(&admin, ns, &rs_name, &d).await;
        let uid = rs.metadata.uid.clone().unwrap();
        for i in 0..6 {
            let name = format!("{app}-{i}");
            let mut spec = PodSpec::new(ns, &name, nodes[i % 3]);
            spec.owner = Some(("ReplicaSet", &rs_name, &uid));
            spec.labels = json!({"app": app});
            pod(&admin, spec).await;
        }
    }
    let services: Api<k8s_openapi::api::core::v1::Service> = Api::namespaced(admin.clone(), ns);
    create(
        &services,
        json!({"metadata": {"name": "api-svc"},
            "spec": {"selector": {"app": "api"}, "ports": [{"port": 80}]}}),
    )
    .await;

    let client = cloudoptim(fast_settings()).await;
    let observed = client.observe(&ObserveOptions::default()).await.unwrap();
    let traffic = TrafficMatrix {
        flows: vec![TrafficFlow {
            from: ServiceRef::new(ns, "web"),
            to: ServiceRef::new(ns, "api"),
            bytes_per_second: 1e8,
        }],
    };
    let half = CrossAzPolicy {
        max_zone_share_percent: 50,
    };
    let report = analyze(&observed.snapshot, &traffic, &half);
    assert!(report.savings().micro_usd() > 0, "{report:#?}");
    let steps = placement_plan(&report, Timestamp::now());
    let changes: Vec<_> = report.changes().cloned().collect();
    assert!(!changes.is_empty());
    assert!(
        steps.steps.iter().any(|s| matches!(&s.action,
            Action::SetTrafficDistribution { service, .. } if service == "api-svc")),
        "{:#?}",
        steps.steps
    );

    // Dry-run (server-side): nothing changes.
    let dry = run_plan(&KubeExecutor::new(client.clone(), Mode::DryRun), &steps).await;
    assert!(
        dry.outcomes
            .iter()
            .all(|o| matches!(o, StepOutcome::WouldDo(_))),
        "{:?}",
        dry.outcomes
    );
    let deployments: Api<Deployment> = Api::namespaced(admin.clone(), ns);
    let template = |d: Deployment| serde_json::to_value(d.spec.unwrap().template.spec).unwrap();
    for c in &changes {
        let t = template(deployments.get(&c.workload.name).await.unwrap());
        assert!(t.get("topologySpreadConstraints").is_none(), "{t:#}");
    }

    // Execute: each moving template carries the wanted zones, api-svc PreferClose.
    let executor = KubeExecutor::new(client.clone(), Mode::Execute);
    let run = run_plan(&executor, &steps).await;
    assert!(
        run.outcomes
            .iter()
            .all(|o| matches!(o, StepOutcome::Done(_))),
        "{:?}",
        run.outcomes
    );
    for c in &changes {
        let t = template(deployments.get(&c.workload.name).await.unwrap());
        assert_eq!(
            t["affinity"]["nodeAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"],
            serde_json::to_value(c.preferred()).unwrap()
        );
        assert_eq!(
            t["topologySpreadConstraints"],
            json!([{"maxSkew": c.max_skew, "topologyKey": "topology.kubernetes.io/zone",
                "whenUnsatisfiable": "DoNotSchedule",
                "labelSelector": {"matchLabels": {"app": c.workload.name}}}])
        );
    }
    assert_eq!(
        services
            .get("api-svc")
            .await
            .unwrap()
            .spec
            .unwrap()
            .traffic_distribution
            .as_deref(),
        Some("PreferClose")
    );

    // Again: every step already done, nothing patched twice.
    let again = run_plan(&executor, &steps).await;
    assert!(
        again
            .outcomes
            .iter()
            .all(|o| matches!(o, StepOutcome::Done(m) if m.contains("already"))),
        "{:?}",
        again.outcomes
    );
}
