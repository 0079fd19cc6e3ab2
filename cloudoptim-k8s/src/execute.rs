//! Carrying out the cluster steps of a plan: cordon, uncordon, evict,
//! drain, delete node, patch container resources, scale, label/annotate.
//!
//! Dry-run is the default mode; in dry-run every change is still sent, as a
//! server-side dry run, so validation, admission and RBAC answer for real
//! while nothing changes. Before each step the executor re-reads what the
//! step's [`Precondition`]s talk about and skips the step (saying why) when
//! one no longer holds. Every step is idempotent: a cordoned node, an
//! evicted pod, a deleted node or a workload already at its replica count
//! is reported done, so re-running a half-finished plan completes it.
//!
//! A node CloudOptim cordons carries the annotation
//! [`CORDONED_ANNOTATION`] naming the plan, so a node is never left
//! cordoned by us without the plan step that says so; uncordoning removes it.

use std::collections::BTreeMap;
use std::time::Duration;

use cloudoptim_core::drain::{
    Drain, DrainNext, DrainOptions, DrainPod, EvictRequest, EvictionAnswer, PodState,
};
use cloudoptim_core::plan::{Mode, ObjectRef, ResourcePatch, StepOutcome, WorkloadRef, ZoneSpread};
use cloudoptim_core::quantity::{format_bytes, format_millis};
use cloudoptim_core::snapshot::{
    node_labels, LabelSelector, WeightedNodeSelectorTerm, WorkloadKind,
};
use jiff::Timestamp;
use k8s_openapi::api::apps::v1::{Deployment, StatefulSet};
use k8s_openapi::api::batch::v1::CronJob;
use k8s_openapi::api::core::v1::{Node, Pod, Service};
use kube::api::{DeleteParams, ListParams, Patch, PatchParams};
use kube::Api;
use serde_json::{json, Map, Value};

use crate::client::{KubeClient, Op};
use crate::error::K8sError;

/// Where a controller's pod template keeps its preferred node affinity.
pub(crate) const PREFERRED_NODE_AFFINITY: &str =
    "/spec/template/spec/affinity/nodeAffinity/preferredDuringSchedulingIgnoredDuringExecution";

/// Whether a workload (as JSON) has this preferred node-affinity list and,
/// when given, this `DoNotSchedule` zone spread.
pub(crate) fn template_has(
    workload: &Value,
    preferred: &Value,
    spread: Option<&ZoneSpread>,
) -> bool {
    let now = workload
        .pointer(PREFERRED_NODE_AFFINITY)
        .cloned()
        .unwrap_or(json!([]));
    if now != *preferred {
        return false;
    }
    let Some(spread) = spread else { return true };
    workload
        .pointer("/spec/template/spec/topologySpreadConstraints")
        .and_then(Value::as_array)
        .is_some_and(|list| {
            list.iter().any(|c| {
                c["topologyKey"] == node_labels::ZONE
                    && c["whenUnsatisfiable"] == "DoNotSchedule"
                    && c["maxSkew"] == spread.max_skew.max(1)
                    && serde_json::from_value::<LabelSelector>(c["labelSelector"].clone()).ok()
                        == Some(spread.selector.clone())
            })
        })
}

/// Annotation on a node CloudOptim cordoned: which plan did it.
pub const CORDONED_ANNOTATION: &str = "cloudoptim.io/cordoned-by";
/// Annotation on a workload CloudOptim scaled: its replica count before
/// (the core's office-hours plans write and read the same one).
pub use cloudoptim_core::office_hours::ORIGINAL_REPLICAS_ANNOTATION;
/// Field manager named on every change.
const FIELD_MANAGER: &str = "cloudoptim";

/// How drains behave.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DrainSettings {
    /// Deadline of a drain whose step has no `Before` precondition.
    pub timeout: Duration,
    /// How often to retry evictions refused by a PDB and to check whether
    /// evicted pods are gone.
    pub poll_interval: Duration,
    /// Evict pods annotated do-not-disrupt and pods without a controller
    /// too (a node that is going away regardless, a Spot interruption).
    pub force: bool,
}

impl Default for DrainSettings {
    /// Five minutes, polling every 2 s, never forcing.
    fn default() -> Self {
        DrainSettings {
            timeout: Duration::from_secs(300),
            poll_interval: Duration::from_secs(2),
            force: false,
        }
    }
}

/// Executes the Kubernetes steps of plans.
#[derive(Clone, Debug)]
pub struct KubeExecutor {
    client: KubeClient,
    mode: Mode,
    /// How drains behave.
    pub drain: DrainSettings,
}

impl KubeExecutor {
    /// An executor in `mode`.
    pub fn new(client: KubeClient, mode: Mode) -> KubeExecutor {
        KubeExecutor {
            client,
            mode,
            drain: DrainSettings::default(),
        }
    }

    /// The mode.
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// Change the mode.
    pub fn set_mode(&mut self, mode: Mode) {
        self.mode = mode;
    }

    pub(crate) fn client(&self) -> &KubeClient {
        &self.client
    }

    pub(crate) fn dry_run(&self) -> bool {
        self.mode == Mode::DryRun
    }

    fn patch_params(&self) -> PatchParams {
        let params = PatchParams {
            field_manager: Some(FIELD_MANAGER.into()),
            ..PatchParams::default()
        };
        if self.dry_run() {
            params.dry_run()
        } else {
            params
        }
    }

    pub(crate) async fn get_node(&self, name: &str) -> Result<Option<Node>, K8sError> {
        let api: Api<Node> = Api::all(self.client.kube().clone());
        let op = Op::new("get", "nodes", name);
        self.client
            .call(&op, |_| {
                let api = api.clone();
                async move { api.get_opt(name).await }
            })
            .await
    }

    pub(crate) async fn get_pod(
        &self,
        namespace: &str,
        name: &str,
    ) -> Result<Option<Pod>, K8sError> {
        let api: Api<Pod> = Api::namespaced(self.client.kube().clone(), namespace);
        let op = Op::new("get", "pods", format!("{namespace}/{name}"));
        self.client
            .call(&op, |_| {
                let api = api.clone();
                async move { api.get_opt(name).await }
            })
            .await
    }

    async fn patch_node(&self, name: &str, patch: &Value) -> Result<(), K8sError> {
        let api: Api<Node> = Api::all(self.client.kube().clone());
        let params = self.patch_params();
        let op = Op::new("patch", "nodes", name);
        self.client
            .call(&op, |_| {
                let (api, params) = (api.clone(), params.clone());
                async move { api.patch(name, &params, &Patch::Merge(patch)).await }
            })
            .await
            .map(drop)
    }

    /// Mark a node unschedulable, annotating it with the plan that did it.
    pub async fn cordon(&self, node: &str, plan_label: &str) -> Result<StepOutcome, K8sError> {
        let Some(current) = self.get_node(node).await? else {
            return Ok(StepOutcome::Skipped(format!(
                "node {node} no longer exists"
            )));
        };
        if current.spec.as_ref().and_then(|s| s.unschedulable) == Some(true) {
            return Ok(StepOutcome::Done(format!("node {node} already cordoned")));
        }
        let patch = json!({
            "metadata": {"annotations": {CORDONED_ANNOTATION: plan_label}},
            "spec": {"unschedulable": true},
        });
        self.patch_node(node, &patch).await?;
        Ok(self.outcome(format!("cordon node {node}")))
    }

    /// Mark a node schedulable again, removing CloudOptim's annotation.
    pub async fn uncordon(&self, node: &str) -> Result<StepOutcome, K8sError> {
        let Some(current) = self.get_node(node).await? else {
            return Ok(StepOutcome::Skipped(format!(
                "node {node} no longer exists"
            )));
        };
        let cordoned = current.spec.as_ref().and_then(|s| s.unschedulable) == Some(true);
        let annotated = current
            .metadata
            .annotations
            .as_ref()
            .is_some_and(|a| a.contains_key(CORDONED_ANNOTATION));
        if !cordoned && !annotated {
            return Ok(StepOutcome::Done(format!(
                "node {node} already schedulable"
            )));
        }
        if cordoned && !annotated {
            return Ok(StepOutcome::Skipped(format!(
                "node {node} was cordoned by someone else, not by CloudOptim; it stays cordoned"
            )));
        }
        let patch = json!({
            "metadata": {"annotations": {CORDONED_ANNOTATION: null}},
            "spec": {"unschedulable": null},
        });
        self.patch_node(node, &patch).await?;
        Ok(self.outcome(format!("uncordon node {node}")))
    }

    /// The pods a drain must evict: everything on the node except DaemonSet
    /// pods, mirror (static) pods and pods that already finished.
    async fn pods_to_drain(&self, node: &str) -> Result<Vec<Pod>, K8sError> {
        let mut pods = self.node_pods(node).await?;
        pods.retain(must_drain);
        Ok(pods)
    }

    /// Every pod bound to `node`.
    async fn node_pods(&self, node: &str) -> Result<Vec<Pod>, K8sError> {
        let params = ListParams::default()
            .fields(&format!("spec.nodeName={node}"))
            .limit(500);
        let mut pods = Vec::new();
        self.client
            .list_each("/api/v1/pods", "pods", &params, |item| {
                let pod: Pod = serde_json::from_value(item).map_err(|e| K8sError::Client {
                    verb: "list",
                    resource: "pods".into(),
                    target: format!("spec.nodeName={node}"),
                    message: e.to_string(),
                })?;
                pods.push(pod);
                Ok(())
            })
            .await?
            .consistent("pods")?;
        Ok(pods)
    }

    /// Ask the Eviction API to evict one pod (only the pod with `uid`, not
    /// a replacement of the same name), and say what it answered. An answer
    /// waiting will not change (403 or 500: more than one PDB covers the
    /// pod) is an error.
    async fn request_eviction(
        &self,
        namespace: &str,
        name: &str,
        uid: Option<&str>,
    ) -> Result<EvictionAnswer, K8sError> {
        // The body is written here: kube-rs 5's `Api::evict` sends its
        // delete options under a key the API server ignores.
        let mut path = format!("/api/v1/namespaces/{namespace}/pods/{name}/eviction");
        let mut delete_options = serde_json::Map::new();
        if let Some(uid) = uid {
            delete_options.insert("preconditions".into(), json!({ "uid": uid }));
        }
        if self.dry_run() {
            path.push_str("?dryRun=All");
            delete_options.insert("dryRun".into(), json!(["All"]));
        }
        let body = json!({
            "apiVersion": "policy/v1",
            "kind": "Eviction",
            "metadata": {"name": name, "namespace": namespace},
            "deleteOptions": delete_options,
        });
        let body = serde_json::to_vec(&body).map_err(|e| K8sError::Client {
            verb: "create",
            resource: "pods/eviction".into(),
            target: format!("{namespace}/{name}"),
            message: e.to_string(),
        })?;
        let mut op = Op::new("create", "pods/eviction", format!("{namespace}/{name}"));
        op.eviction = true;
        let result = self
            .client
            .call(&op, |client| {
                let request = http::Request::post(&path)
                    .header(http::header::CONTENT_TYPE, "application/json")
                    .body(body.clone());
                async move {
                    let request = request.map_err(kube::Error::HttpError)?;
                    client.request::<Value>(request).await
                }
            })
            .await;
        match result {
            Ok(_) => Ok(EvictionAnswer::Accepted),
            Err(K8sError::Api { code: 404, .. }) => Ok(EvictionAnswer::Gone),
            // 429: a PDB allows no disruption now. 409: the pod changed
            // under the request (or was replaced); look again next round.
            Err(K8sError::Api {
                code: 429, message, ..
            }) => Ok(EvictionAnswer::Refused(message)),
            Err(K8sError::Api {
                code: 409, message, ..
            }) => Ok(EvictionAnswer::Conflict(message)),
            Err(K8sError::Api {
                code: 403 | 500,
                message,
                ..
            }) => Err(K8sError::EvictionRefused {
                pod: format!("{namespace}/{name}"),
                message,
            }),
            Err(e) => Err(e),
        }
    }

    /// Evict one pod, retrying while a PDB refuses until `deadline`, then
    /// wait for it to be gone. Only the pod seen first is evicted: a
    /// replacement with the same name (a StatefulSet's) is left alone. The
    /// decisions are [`Drain::pod`]'s; this only does the I/O.
    pub async fn evict(
        &self,
        namespace: &str,
        pod: &str,
        deadline: Timestamp,
    ) -> Result<StepOutcome, K8sError> {
        let key = format!("{namespace}/{pod}");
        let mut drain = Drain::pod(namespace, pod, deadline, self.drain_options());
        let mut node = String::new();
        loop {
            match drain.poll(Timestamp::now()) {
                DrainNext::Observe => {
                    let current = self.get_pod(namespace, pod).await?;
                    if let Some(p) = &current {
                        node = node_of(p);
                    }
                    drain.observed(current.iter().map(drain_pod).collect());
                }
                DrainNext::Cordon(_) => {}
                DrainNext::Evict(requests) => self.send_evictions(&mut drain, requests).await?,
                DrainNext::WaitUntil(until) => self.sleep_to(until).await,
                DrainNext::Done(report) => {
                    return Ok(if !report.evicted.is_empty() {
                        self.outcome(if self.dry_run() {
                            format!("evict pod {key}")
                        } else {
                            format!("evicted pod {key}")
                        })
                    } else if let Some((_, state)) = report.not_evicted.first() {
                        StepOutcome::WouldDo(format!("evict pod {key} ({})", right_now(state)))
                    } else {
                        StepOutcome::Done(format!("pod {key} already gone"))
                    })
                }
                DrainNext::Refused(_) => {
                    return Ok(StepOutcome::Skipped(format!(
                        "pod {key} must not be evicted"
                    )))
                }
                DrainNext::DeadlineExceeded { remaining } => {
                    return Err(K8sError::DrainDeadline {
                        node,
                        deadline,
                        remaining: remaining
                            .iter()
                            .map(|(k, s)| format!("{k} ({s})"))
                            .collect(),
                    })
                }
            }
        }
    }

    /// Drain a node: cordon it, evict every pod but DaemonSet and mirror
    /// pods through the Eviction API (retrying those a PDB protects), and
    /// wait until they are gone, all before `deadline`. A node running a
    /// pod annotated do-not-disrupt, or one no controller would recreate,
    /// is not drained (skipped, not even cordoned) unless
    /// [`DrainSettings::force`] is set, as `kubectl drain` refuses
    /// unmanaged pods without `--force`. The decisions are
    /// [`Drain::node`]'s; this only does the I/O.
    pub async fn drain_node(
        &self,
        node: &str,
        plan_label: &str,
        deadline: Timestamp,
    ) -> Result<StepOutcome, K8sError> {
        if self.get_node(node).await?.is_none() {
            return Ok(StepOutcome::Done(format!("node {node} already gone")));
        }
        let mut drain = Drain::node(node, deadline, self.drain_options());
        let mut cordon = None;
        loop {
            match drain.poll(Timestamp::now()) {
                DrainNext::Observe => {
                    let pods = self.node_pods(node).await?;
                    drain.observed(pods.iter().map(drain_pod).collect());
                }
                DrainNext::Cordon(_) => cordon = Some(self.cordon(node, plan_label).await?),
                DrainNext::Evict(requests) => self.send_evictions(&mut drain, requests).await?,
                DrainNext::WaitUntil(until) => self.sleep_to(until).await,
                DrainNext::Done(report) if self.dry_run() => {
                    let would = match cordon {
                        Some(StepOutcome::WouldDo(_)) => format!("cordon node {node}, then "),
                        _ => String::new(),
                    };
                    let pods: Vec<String> = report
                        .evicted
                        .iter()
                        .map(ToString::to_string)
                        .chain(
                            report
                                .not_evicted
                                .iter()
                                .map(|(k, s)| format!("{k} ({})", right_now(s))),
                        )
                        .collect();
                    return Ok(StepOutcome::WouldDo(format!(
                        "{would}evict from node {node}: {}",
                        if pods.is_empty() {
                            "no pod".to_owned()
                        } else {
                            pods.join(", ")
                        }
                    )));
                }
                DrainNext::Done(report) => {
                    return Ok(StepOutcome::Done(format!(
                        "drained node {node}: {} pod(s) evicted",
                        report.evicted.len()
                    )))
                }
                DrainNext::Refused(pods) => {
                    let pods: Vec<String> =
                        pods.iter().map(|(k, why)| format!("{k} ({why})")).collect();
                    return Ok(StepOutcome::Skipped(format!(
                        "node {node} runs pods a drain must not evict: {}",
                        pods.join(", ")
                    )));
                }
                DrainNext::DeadlineExceeded { remaining } => {
                    return Err(K8sError::DrainDeadline {
                        node: node.to_owned(),
                        deadline,
                        remaining: remaining
                            .iter()
                            .map(|(k, s)| format!("{k} ({s})"))
                            .collect(),
                    })
                }
            }
        }
    }

    /// The core drain's options: the settings, and dry-run from the mode.
    fn drain_options(&self) -> DrainOptions {
        DrainOptions {
            force: self.drain.force,
            poll_interval: self.drain.poll_interval,
            dry_run: self.dry_run(),
        }
    }

    /// Send `requests` one by one, telling `drain` each answer.
    async fn send_evictions(
        &self,
        drain: &mut Drain,
        requests: Vec<EvictRequest>,
    ) -> Result<(), K8sError> {
        for r in requests {
            let answer = self
                .request_eviction(&r.namespace, &r.name, r.uid.as_deref())
                .await?;
            drain.answered(&r.namespace, &r.name, answer);
        }
        Ok(())
    }

    /// Sleep until `until` (at least 10 ms, so a zero poll interval does
    /// not spin).
    async fn sleep_to(&self, until: Timestamp) {
        let left = until.duration_since(Timestamp::now());
        let left = Duration::try_from(left).unwrap_or(Duration::ZERO);
        tokio::time::sleep(left.max(Duration::from_millis(10))).await;
    }

    /// Delete a Node object whose instance is gone. Refused (skipped) while
    /// the node still runs pods that are not DaemonSet pods, and while it is
    /// still Ready, which means its kubelet, so its instance, still runs:
    /// it waits for that until `deadline` (the node lifecycle controller
    /// marks a node whose kubelet stopped NotReady or Unknown in under a
    /// minute), then skips.
    pub async fn delete_node(
        &self,
        node: &str,
        deadline: Timestamp,
    ) -> Result<StepOutcome, K8sError> {
        loop {
            let Some(current) = self.get_node(node).await? else {
                return Ok(StepOutcome::Done(format!("node {node} already deleted")));
            };
            let left = self.pods_to_drain(node).await?;
            if !left.is_empty() {
                return Ok(StepOutcome::Skipped(format!(
                    "node {node} still runs {} pod(s) that are not DaemonSet pods",
                    left.len()
                )));
            }
            if !is_ready(&current) {
                break;
            }
            if self.dry_run() {
                return Ok(StepOutcome::WouldDo(format!(
                    "delete node {node} once it is no longer Ready (its instance terminated)"
                )));
            }
            if Timestamp::now() >= deadline {
                return Ok(StepOutcome::Skipped(format!(
                    "node {node} is still Ready: its kubelet still reports, so its instance \
                     probably still runs; delete the Node once the instance is terminated"
                )));
            }
            self.sleep_until(deadline).await;
        }
        let api: Api<Node> = Api::all(self.client.kube().clone());
        let params = DeleteParams {
            dry_run: self.dry_run(),
            ..DeleteParams::default()
        };
        let op = Op::new("delete", "nodes", node);
        let result = self
            .client
            .call(&op, |_| {
                let (api, params) = (api.clone(), params.clone());
                async move { api.delete(node, &params).await }
            })
            .await;
        match result {
            Ok(_) => Ok(self.outcome(format!("delete node {node}"))),
            Err(K8sError::Api { code: 404, .. }) => {
                Ok(StepOutcome::Done(format!("node {node} already deleted")))
            }
            Err(e) => Err(e),
        }
    }

    pub(crate) async fn get_workload(
        &self,
        workload: &WorkloadRef,
    ) -> Result<Option<Value>, K8sError> {
        match workload.kind {
            WorkloadKind::Deployment => {
                self.get_typed::<Deployment>(workload, "deployments.apps")
                    .await
            }
            WorkloadKind::StatefulSet => {
                self.get_typed::<StatefulSet>(workload, "statefulsets.apps")
                    .await
            }
            WorkloadKind::CronJob => self.get_typed::<CronJob>(workload, "cronjobs.batch").await,
            other => Err(unsupported_kind(other)),
        }
    }

    async fn get_typed<K>(
        &self,
        workload: &WorkloadRef,
        resource: &str,
    ) -> Result<Option<Value>, K8sError>
    where
        K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
            + Clone
            + serde::de::DeserializeOwned
            + serde::Serialize
            + std::fmt::Debug,
    {
        let (namespace, name) = (workload.namespace.as_str(), workload.name.as_str());
        let api: Api<K> = Api::namespaced(self.client.kube().clone(), namespace);
        let op = Op::new("get", resource, format!("{namespace}/{name}"));
        let found = self
            .client
            .call(&op, |_| {
                let api = api.clone();
                async move { api.get_opt(name).await }
            })
            .await?;
        Ok(found.and_then(|object| serde_json::to_value(object).ok()))
    }

    async fn patch_workload(
        &self,
        workload: &WorkloadRef,
        patch: Patch<Value>,
    ) -> Result<(), K8sError> {
        match workload.kind {
            WorkloadKind::Deployment => {
                self.patch_typed::<Deployment>(workload, "deployments.apps", patch)
                    .await
            }
            WorkloadKind::StatefulSet => {
                self.patch_typed::<StatefulSet>(workload, "statefulsets.apps", patch)
                    .await
            }
            WorkloadKind::CronJob => {
                self.patch_typed::<CronJob>(workload, "cronjobs.batch", patch)
                    .await
            }
            other => Err(unsupported_kind(other)),
        }
    }

    async fn patch_typed<K>(
        &self,
        workload: &WorkloadRef,
        resource: &str,
        patch: Patch<Value>,
    ) -> Result<(), K8sError>
    where
        K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
            + Clone
            + serde::de::DeserializeOwned
            + std::fmt::Debug,
    {
        let (namespace, name) = (workload.namespace.as_str(), workload.name.as_str());
        let api: Api<K> = Api::namespaced(self.client.kube().clone(), namespace);
        let params = self.patch_params();
        let op = Op::new("patch", resource, format!("{namespace}/{name}"));
        self.client
            .call(&op, |_| {
                let (api, params, patch) = (api.clone(), params.clone(), patch.clone());
                async move { api.patch(name, &params, &patch).await }
            })
            .await
            .map(drop)
    }

    /// Change a container's requests and limits on the controller's pod
    /// template (a strategic merge by container name; the controller rolls
    /// the pods).
    pub async fn patch_resources(
        &self,
        workload: &WorkloadRef,
        container: &str,
        patch: &ResourcePatch,
    ) -> Result<StepOutcome, K8sError> {
        let key = workload_key(workload);
        let Some(current) = self.get_workload(workload).await? else {
            return Ok(StepOutcome::Skipped(format!("{key} no longer exists")));
        };
        let containers = current
            .pointer("/spec/template/spec/containers")
            .and_then(Value::as_array);
        let Some(existing) = containers
            .into_iter()
            .flatten()
            .find(|c| c.get("name").and_then(Value::as_str) == Some(container))
        else {
            return Ok(StepOutcome::Skipped(format!(
                "{key} has no container {container}"
            )));
        };
        let mut requests = Map::new();
        let mut limits = Map::new();
        if let Some(cpu) = patch.cpu_request_millis {
            requests.insert("cpu".into(), format_millis(cpu).into());
        }
        if let Some(memory) = patch.memory_request_bytes {
            requests.insert("memory".into(), format_bytes(memory).into());
        }
        if let Some(cpu) = patch.cpu_limit_millis {
            limits.insert("cpu".into(), format_millis(cpu).into());
        }
        if let Some(memory) = patch.memory_limit_bytes {
            limits.insert("memory".into(), format_bytes(memory).into());
        }
        let resources = json!({"requests": requests, "limits": limits});
        if resources_already(existing.get("resources"), &resources) {
            return Ok(StepOutcome::Done(format!(
                "{key} container {container} already has these resources"
            )));
        }
        let body = json!({"spec": {"template": {"spec": {"containers": [
            {"name": container, "resources": resources}
        ]}}}});
        self.patch_workload(workload, Patch::Strategic(body))
            .await?;
        Ok(self.outcome(format!(
            "set resources of {key} container {container} to {resources}"
        )))
    }

    /// Scale a Deployment or StatefulSet from `from` replicas (when given;
    /// otherwise from whatever it has) to `to`, remembering the count before the
    /// first change in [`ORIGINAL_REPLICAS_ANNOTATION`]; scaling back to it
    /// removes the annotation.
    pub async fn scale(
        &self,
        workload: &WorkloadRef,
        from: Option<u32>,
        to: u32,
    ) -> Result<StepOutcome, K8sError> {
        let key = workload_key(workload);
        let Some(current) = self.get_workload(workload).await? else {
            return Ok(StepOutcome::Skipped(format!("{key} no longer exists")));
        };
        let replicas = current
            .pointer("/spec/replicas")
            .and_then(Value::as_u64)
            .unwrap_or(1);
        if replicas == u64::from(to) {
            return Ok(StepOutcome::Done(format!(
                "{key} already has {to} replicas"
            )));
        }
        if let Some(from) = from.filter(|from| u64::from(*from) != replicas) {
            return Ok(StepOutcome::Skipped(format!(
                "{key} has {replicas} replicas, not {from}: the plan was made for another state"
            )));
        }
        let original = current
            .pointer("/metadata/annotations")
            .and_then(|a| a.get(ORIGINAL_REPLICAS_ANNOTATION))
            .and_then(Value::as_str)
            .map(str::to_owned);
        let annotation = match original {
            Some(original) if original == to.to_string() => Value::Null,
            Some(original) => Value::from(original),
            None => Value::from(replicas.to_string()),
        };
        let body = json!({
            "metadata": {"annotations": {ORIGINAL_REPLICAS_ANNOTATION: annotation}},
            "spec": {"replicas": to},
        });
        self.patch_workload(workload, Patch::Merge(body)).await?;
        Ok(self.outcome(format!("scale {key} from {replicas} to {to} replicas")))
    }

    /// Suspend (`true`) or resume (`false`) a CronJob: `spec.suspend`.
    /// Running Jobs are left to finish.
    pub async fn set_cron_job_suspend(
        &self,
        workload: &WorkloadRef,
        suspend: bool,
    ) -> Result<StepOutcome, K8sError> {
        let key = workload_key(workload);
        if workload.kind != WorkloadKind::CronJob {
            return Err(K8sError::Unsupported(format!(
                "suspending {key}: only CronJobs are suspended"
            )));
        }
        let Some(current) = self.get_workload(workload).await? else {
            return Ok(StepOutcome::Skipped(format!("{key} no longer exists")));
        };
        let now = current
            .pointer("/spec/suspend")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        let verb = if suspend { "suspend" } else { "resume" };
        if now == suspend {
            return Ok(StepOutcome::Done(format!(
                "{key} already has suspend={suspend}"
            )));
        }
        let body = json!({"spec": {"suspend": suspend}});
        self.patch_workload(workload, Patch::Merge(body)).await?;
        Ok(self.outcome(format!("{verb} {key}")))
    }

    /// Replace the preferred node affinity of a controller's pod template
    /// and, when given, its `DoNotSchedule` zone spread, in one strategic
    /// merge patch (one rollout). Done already when the template has both.
    pub async fn set_preferred_node_affinity(
        &self,
        workload: &WorkloadRef,
        preferred: &[WeightedNodeSelectorTerm],
        zone_spread: Option<&ZoneSpread>,
    ) -> Result<StepOutcome, K8sError> {
        let key = workload_key(workload);
        let Some(current) = self.get_workload(workload).await? else {
            return Ok(StepOutcome::Skipped(format!("{key} no longer exists")));
        };
        let wanted = serde_json::to_value(preferred).map_err(|e| K8sError::Client {
            verb: "patch",
            resource: workload.kind.as_str().into(),
            target: key.clone(),
            message: e.to_string(),
        })?;
        if template_has(&current, &wanted, zone_spread) {
            return Ok(StepOutcome::Done(format!(
                "{key} already has this preferred node affinity{}",
                if zone_spread.is_some() {
                    " and zone spread"
                } else {
                    ""
                }
            )));
        }
        let list = if preferred.is_empty() {
            Value::Null
        } else {
            wanted
        };
        let mut pod_spec = json!({"affinity": {"nodeAffinity": {
            "preferredDuringSchedulingIgnoredDuringExecution": list
        }}});
        if let (Some(spread), Some(spec)) = (zone_spread, pod_spec.as_object_mut()) {
            // The list merges on topologyKey: an entry for the zone that is
            // there has its selector replaced, not merged with ours (the
            // directive is only valid there: on a new entry the API server
            // drops the selector it is in).
            let mut selector = serde_json::to_value(&spread.selector).unwrap_or(json!({}));
            let has_zone_entry = current
                .pointer("/spec/template/spec/topologySpreadConstraints")
                .and_then(Value::as_array)
                .is_some_and(|list| list.iter().any(|c| c["topologyKey"] == node_labels::ZONE));
            if let (true, Some(m)) = (has_zone_entry, selector.as_object_mut()) {
                m.insert("$patch".into(), json!("replace"));
            }
            spec.insert(
                "topologySpreadConstraints".into(),
                json!([{
                    "topologyKey": node_labels::ZONE,
                    "whenUnsatisfiable": "DoNotSchedule",
                    "maxSkew": spread.max_skew.max(1),
                    "labelSelector": selector,
                }]),
            );
        }
        let body = json!({"spec": {"template": {"spec": pod_spec}}});
        self.patch_workload(workload, Patch::Strategic(body))
            .await?;
        Ok(self.outcome(format!(
            "set the preferred node affinity of {key} ({} terms){}; it rolls its pods",
            preferred.len(),
            zone_spread.map_or(String::new(), |s| format!(
                " and its zone spread (maxSkew {})",
                s.max_skew
            ))
        )))
    }

    /// A Service as JSON, `None` when it does not exist.
    pub(crate) async fn get_service(
        &self,
        namespace: &str,
        name: &str,
    ) -> Result<Option<Value>, K8sError> {
        let api: Api<Service> = Api::namespaced(self.client.kube().clone(), namespace);
        let op = Op::new("get", "services", format!("{namespace}/{name}"));
        let found = self
            .client
            .call(&op, |_| {
                let api = api.clone();
                async move { api.get_opt(name).await }
            })
            .await?;
        Ok(found.and_then(|s| serde_json::to_value(s).ok()))
    }

    /// Set or clear a Service's `spec.trafficDistribution`.
    pub async fn set_traffic_distribution(
        &self,
        namespace: &str,
        name: &str,
        value: Option<&str>,
    ) -> Result<StepOutcome, K8sError> {
        let key = format!("Service {namespace}/{name}");
        let Some(current) = self.get_service(namespace, name).await? else {
            return Ok(StepOutcome::Skipped(format!("{key} no longer exists")));
        };
        let now = current
            .pointer("/spec/trafficDistribution")
            .and_then(Value::as_str);
        if now == value {
            return Ok(StepOutcome::Done(format!(
                "{key} already has trafficDistribution {value:?}"
            )));
        }
        let api: Api<Service> = Api::namespaced(self.client.kube().clone(), namespace);
        let params = self.patch_params();
        let patch = Patch::Merge(json!({"spec": {"trafficDistribution": value}}));
        let op = Op::new("patch", "services", format!("{namespace}/{name}"));
        self.client
            .call(&op, |_| {
                let (api, params, patch) = (api.clone(), params.clone(), patch.clone());
                async move { api.patch(name, &params, &patch).await }
            })
            .await?;
        Ok(self.outcome(match value {
            Some(v) => format!("set trafficDistribution of {key} to {v}"),
            None => format!("clear trafficDistribution of {key}"),
        }))
    }

    /// Set or remove labels and annotations.
    pub async fn set_metadata(
        &self,
        object: &ObjectRef,
        labels: &BTreeMap<String, Option<String>>,
        annotations: &BTreeMap<String, Option<String>>,
    ) -> Result<StepOutcome, K8sError> {
        let body = json!({"metadata": {"labels": labels, "annotations": annotations}});
        let what = format!(
            "set {} label(s) and {} annotation(s) on {}",
            labels.len(),
            annotations.len(),
            object_key(object)
        );
        let result = match object {
            ObjectRef::Node { name } => self.patch_node(name, &body).await,
            ObjectRef::Pod { namespace, name } => {
                let api: Api<Pod> = Api::namespaced(self.client.kube().clone(), namespace);
                let params = self.patch_params();
                let op = Op::new("patch", "pods", format!("{namespace}/{name}"));
                self.client
                    .call(&op, |_| {
                        let (api, params) = (api.clone(), params.clone());
                        let body = &body;
                        async move { api.patch(name, &params, &Patch::Merge(body)).await }
                    })
                    .await
                    .map(drop)
            }
            ObjectRef::Workload(workload) => {
                self.patch_workload(workload, Patch::Merge(body.clone()))
                    .await
            }
        };
        match result {
            Ok(()) => Ok(self.outcome(what)),
            Err(K8sError::Api { code: 404, .. }) => Ok(StepOutcome::Skipped(format!(
                "{} no longer exists",
                object_key(object)
            ))),
            Err(e) => Err(e),
        }
    }

    fn outcome(&self, what: String) -> StepOutcome {
        if self.dry_run() {
            StepOutcome::WouldDo(what)
        } else {
            StepOutcome::Done(what)
        }
    }

    async fn sleep_until(&self, deadline: Timestamp) {
        let left = deadline.duration_since(Timestamp::now());
        let left = Duration::try_from(left).unwrap_or(Duration::ZERO);
        tokio::time::sleep(
            self.drain
                .poll_interval
                .min(left)
                .max(Duration::from_millis(10)),
        )
        .await;
    }
}

/// A drain evicts a pod unless a DaemonSet owns it, it is a mirror pod, or
/// it has finished (the core decides: [`DrainPod::must_evict`]).
fn must_drain(pod: &Pod) -> bool {
    drain_pod(pod).must_evict()
}

/// The pod as the core drain sees it.
fn drain_pod(pod: &Pod) -> DrainPod {
    let daemonset = pod
        .metadata
        .owner_references
        .iter()
        .flatten()
        .any(|o| o.kind == "DaemonSet" && o.controller == Some(true));
    let mirror = pod
        .metadata
        .annotations
        .as_ref()
        .is_some_and(|a| a.contains_key("kubernetes.io/config.mirror"));
    let finished = matches!(
        pod.status.as_ref().and_then(|s| s.phase.as_deref()),
        Some("Succeeded" | "Failed")
    );
    DrainPod {
        namespace: pod
            .metadata
            .namespace
            .clone()
            .unwrap_or_else(|| "default".into()),
        name: pod.metadata.name.clone().unwrap_or_default(),
        uid: pod.metadata.uid.clone(),
        terminating: pod.metadata.deletion_timestamp.is_some(),
        daemonset,
        mirror,
        finished,
        do_not_disrupt: do_not_disrupt(pod),
        has_controller: has_controller(pod),
    }
}

/// A pod a dry-run round did not evict, and why, as of now.
fn right_now(state: &PodState) -> String {
    match state {
        PodState::Refused(message) => format!("refused right now: {message}"),
        PodState::Conflict(message) => format!("conflict right now: {message}"),
        other => other.to_string(),
    }
}

/// The node's Ready condition is True.
fn is_ready(node: &Node) -> bool {
    node.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .into_iter()
        .flatten()
        .any(|c| c.type_ == "Ready" && c.status == "True")
}

fn has_controller(pod: &Pod) -> bool {
    pod.metadata
        .owner_references
        .iter()
        .flatten()
        .any(|o| o.controller == Some(true))
}

/// The core's one do-not-disrupt rule (both keys, `true` in any case).
fn do_not_disrupt(pod: &Pod) -> bool {
    pod.metadata.annotations.as_ref().is_some_and(|a| {
        cloudoptim_core::snapshot::is_do_not_disrupt_by(|k| a.get(k).map(String::as_str))
    })
}

fn node_of(pod: &Pod) -> String {
    pod.spec
        .as_ref()
        .and_then(|s| s.node_name.clone())
        .unwrap_or_default()
}

fn workload_key(workload: &WorkloadRef) -> String {
    format!(
        "{} {}/{}",
        workload.kind.as_str(),
        workload.namespace,
        workload.name
    )
}

fn object_key(object: &ObjectRef) -> String {
    match object {
        ObjectRef::Node { name } => format!("node {name}"),
        ObjectRef::Pod { namespace, name } => format!("pod {namespace}/{name}"),
        ObjectRef::Workload(w) => workload_key(w),
    }
}

fn unsupported_kind(kind: WorkloadKind) -> K8sError {
    K8sError::Unsupported(format!(
        "changing a {} (CloudOptim's ClusterRole patches Deployments, StatefulSets and CronJobs only)",
        kind.as_str()
    ))
}

/// Whether `current` already holds every value in `wanted` (quantities
/// compared as the API prints them back, which is canonical).
fn resources_already(current: Option<&Value>, wanted: &Value) -> bool {
    ["requests", "limits"].iter().all(|section| {
        let Some(wanted) = wanted.get(section).and_then(Value::as_object) else {
            return true;
        };
        wanted
            .iter()
            .all(|(k, v)| current.and_then(|c| c.get(section)).and_then(|s| s.get(k)) == Some(v))
    })
}
