//! [`KubeExecutor`] as an [`Executor`]: the cluster's side of the one
//! executor contract.
//!
//! It claims the actions on Kubernetes objects (cordon, uncordon, evict,
//! drain, delete node, labels and annotations, resources, replicas) and
//! observes the cluster's facts (nodes, pods, PDBs, the pods on a node,
//! the node behind an instance, the PV on an EBS volume, Deployments and
//! StatefulSets), converting each API object into the core's types with
//! the same reader the snapshot uses. CronJobs are observed and suspended
//! or resumed (office hours). It judges nothing: the
//! [`PlanRunner`](cloudoptim_core::execute::PlanRunner) evaluates every
//! precondition in the core.

use async_trait::async_trait;
use cloudoptim_core::execute::{
    ApplyContext, Executor, ExecutorError, Fact, Observation, PlanRun, PlanRunner, Refused,
};
use cloudoptim_core::kubectl::ListReader;
use cloudoptim_core::plan::{Action, Mode, Plan, StepOutcome};
use cloudoptim_core::snapshot::{ClusterSnapshot, Node, WorkloadKind};
use jiff::Timestamp;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use kube::api::ListParams;
use kube::Api;
use serde_json::Value;

use crate::client::Op;
use crate::error::K8sError;
use crate::execute::{template_has, KubeExecutor};

/// Read API objects (as JSON, `kind` set) into a snapshot of the core's types.
fn read(
    items: impl IntoIterator<Item = (&'static str, &'static str, Value)>,
) -> Result<ClusterSnapshot, K8sError> {
    let mut reader = ListReader::new();
    for (kind, api_version, mut item) in items {
        if let Value::Object(map) = &mut item {
            map.insert("kind".into(), Value::from(kind));
            map.insert("apiVersion".into(), Value::from(api_version));
        }
        reader.push(item)?;
    }
    Ok(reader.finish().snapshot)
}

fn to_value(
    object: impl serde::Serialize,
    resource: &str,
    target: &str,
) -> Result<Value, K8sError> {
    serde_json::to_value(object).map_err(|e| K8sError::Client {
        verb: "get",
        resource: resource.to_owned(),
        target: target.to_owned(),
        message: e.to_string(),
    })
}

impl KubeExecutor {
    /// This executor with the runner's mode for one step.
    fn in_mode(&self, mode: Mode) -> KubeExecutor {
        let mut this = self.clone();
        this.set_mode(mode);
        this
    }

    /// Run a plan of Kubernetes steps only, through the
    /// [`PlanRunner`] in this executor's mode, on the system clock. A plan
    /// with EC2 steps is refused: run it with a `PlanRunner` holding both
    /// executors.
    pub async fn run(&self, plan: &Plan) -> Result<PlanRun, Refused> {
        let clock = Timestamp::now;
        PlanRunner::new(&clock)
            .with(self)
            .mode(self.mode())
            .run(plan)
            .await
    }

    async fn observe_fact(&self, fact: &Fact) -> Result<Observation, K8sError> {
        Ok(match fact {
            Fact::Node { name } => {
                let node = match self.get_node(name).await? {
                    Some(n) => read([("Node", "v1", to_value(n, "nodes", name)?)])?
                        .nodes
                        .pop(),
                    None => None,
                };
                Observation::Node(node.map(Box::new))
            }
            Fact::Pod { namespace, name } => {
                let key = format!("{namespace}/{name}");
                let pod = match self.get_pod(namespace, name).await? {
                    Some(p) => read([("Pod", "v1", to_value(p, "pods", &key)?)])?
                        .pods
                        .pop(),
                    None => None,
                };
                Observation::Pod(pod.map(Box::new))
            }
            Fact::Pdb { namespace, name } => {
                let key = format!("{namespace}/{name}");
                let api: Api<PodDisruptionBudget> =
                    Api::namespaced(self.client().kube().clone(), namespace);
                let op = Op::new("get", "poddisruptionbudgets.policy", key.clone());
                let found = self
                    .client()
                    .call(&op, |_| {
                        let api = api.clone();
                        async move { api.get_opt(name).await }
                    })
                    .await?;
                let pdb = match found {
                    Some(b) => read([(
                        "PodDisruptionBudget",
                        "policy/v1",
                        to_value(b, "poddisruptionbudgets.policy", &key)?,
                    )])?
                    .pdbs
                    .pop(),
                    None => None,
                };
                Observation::Pdb(pdb.map(Box::new))
            }
            Fact::PodsOnNode { node } => {
                let params = ListParams::default()
                    .fields(&format!("spec.nodeName={node}"))
                    .limit(500);
                let mut items = Vec::new();
                self.client()
                    .list_each("/api/v1/pods", "pods", &params, |item| {
                        items.push(("Pod", "v1", item));
                        Ok(())
                    })
                    .await?
                    .consistent("pods")?;
                Observation::PodsOnNode(read(items)?.pods)
            }
            Fact::NodeOfInstance { instance_id } => {
                let params = ListParams::default().limit(500);
                let mut found = None;
                self.client()
                    .list_each("/api/v1/nodes", "nodes", &params, |item| {
                        let provider = item
                            .pointer("/spec/providerID")
                            .and_then(Value::as_str)
                            .and_then(Node::instance_id_from_provider_id);
                        if found.is_none() && provider.as_deref() == Some(instance_id.as_str()) {
                            found = item
                                .pointer("/metadata/name")
                                .and_then(Value::as_str)
                                .map(str::to_owned);
                        }
                        Ok(())
                    })
                    .await?
                    .consistent("nodes")?;
                Observation::NodeOfInstance(found)
            }
            Fact::VolumeClaim { volume_id } => {
                let params = ListParams::default().limit(500);
                let mut items = Vec::new();
                self.client()
                    .list_each(
                        "/api/v1/persistentvolumes",
                        "persistentvolumes",
                        &params,
                        |item| {
                            items.push(("PersistentVolume", "v1", item));
                            Ok(())
                        },
                    )
                    .await?
                    .consistent("persistentvolumes")?;
                let claim = read(items)?
                    .persistent_volumes
                    .into_iter()
                    .find(|pv| pv.ebs_volume_id() == Some(volume_id.as_str()))
                    .map(|pv| match pv.claim_ref {
                        Some(c) => {
                            format!("pv/{} (bound to pvc/{}/{})", pv.name, c.namespace, c.name)
                        }
                        None => format!("pv/{}", pv.name),
                    });
                Observation::VolumeClaim(claim)
            }
            Fact::Workload(workload) => {
                let object = self.get_workload(workload).await?;
                let (kind, api_version) = (workload.kind.as_str(), workload.kind.api_version());
                let found = match object {
                    Some(o) => read([(kind, api_version, o)])?.workloads.pop(),
                    None => None,
                };
                Observation::Workload(found.map(Box::new))
            }
            Fact::Service { namespace, name } => {
                let found = match self.get_service(namespace, name).await? {
                    Some(o) => read([("Service", "v1", o)])?.services.pop(),
                    None => None,
                };
                Observation::Service(found.map(Box::new))
            }
            other => {
                return Err(K8sError::Unsupported(format!(
                    "observing {other} (not a Kubernetes fact)"
                )))
            }
        })
    }

    async fn done(&self, action: &Action) -> Result<Option<String>, K8sError> {
        Ok(match action {
            Action::Cordon { node } => self
                .get_node(node)
                .await?
                .filter(|n| n.spec.as_ref().and_then(|s| s.unschedulable) == Some(true))
                .map(|_| format!("node {node} already cordoned")),
            Action::Evict { namespace, pod, .. } => self
                .get_pod(namespace, pod)
                .await?
                .is_none()
                .then(|| format!("pod {namespace}/{pod} already gone")),
            Action::Drain { node } | Action::DeleteNode { node } => self
                .get_node(node)
                .await?
                .is_none()
                .then(|| format!("node {node} already gone")),
            Action::ScaleReplicas { workload, to, .. } => {
                let replicas = self.get_workload(workload).await?.map(|o| {
                    o.pointer("/spec/replicas")
                        .and_then(Value::as_u64)
                        .unwrap_or(1)
                });
                (replicas == Some(u64::from(*to))).then(|| {
                    format!(
                        "{} {}/{} already has {to} replicas",
                        workload.kind, workload.namespace, workload.name
                    )
                })
            }
            Action::SetCronJobSuspend { workload, suspend } => {
                let now = self.get_workload(workload).await?.map(|o| {
                    o.pointer("/spec/suspend")
                        .and_then(Value::as_bool)
                        .unwrap_or(false)
                });
                (now == Some(*suspend)).then(|| {
                    format!(
                        "CronJob {}/{} already has suspend={suspend}",
                        workload.namespace, workload.name
                    )
                })
            }
            Action::SetPreferredNodeAffinity {
                workload,
                preferred,
                zone_spread,
            } => {
                let wanted = serde_json::to_value(preferred).unwrap_or(Value::Null);
                let now = self.get_workload(workload).await?;
                now.is_some_and(|o| template_has(&o, &wanted, zone_spread.as_ref()))
                    .then(|| {
                        format!(
                            "{} {}/{} already has this preferred node affinity",
                            workload.kind, workload.namespace, workload.name
                        )
                    })
            }
            Action::SetTrafficDistribution {
                namespace,
                service,
                value,
            } => self
                .get_service(namespace, service)
                .await?
                .filter(|o| {
                    o.pointer("/spec/trafficDistribution")
                        .and_then(Value::as_str)
                        == value.as_deref()
                })
                .map(|_| {
                    format!(
                        "Service {namespace}/{service} already has trafficDistribution {value:?}"
                    )
                }),
            // Uncordon, labels and resources compare before they change.
            _ => None,
        })
    }
}

#[async_trait]
impl Executor for KubeExecutor {
    fn name(&self) -> &'static str {
        "kubernetes"
    }

    fn claims(&self, action: &Action) -> bool {
        match action {
            Action::Cordon { .. }
            | Action::Uncordon { .. }
            | Action::Evict { .. }
            | Action::Drain { .. }
            | Action::SetMetadata { .. }
            | Action::DeleteNode { .. } => true,
            Action::PatchResources { workload, .. } | Action::ScaleReplicas { workload, .. } => {
                patchable(workload.kind)
            }
            Action::SetCronJobSuspend { workload, .. } => workload.kind == WorkloadKind::CronJob,
            Action::SetPreferredNodeAffinity { workload, .. } => patchable(workload.kind),
            Action::SetTrafficDistribution { .. } => true,
            // EC2's, or an action this version does not know: not ours.
            _ => false,
        }
    }

    fn observes(&self, fact: &Fact) -> bool {
        match fact {
            Fact::Node { .. }
            | Fact::Pod { .. }
            | Fact::Pdb { .. }
            | Fact::PodsOnNode { .. }
            | Fact::NodeOfInstance { .. }
            | Fact::VolumeClaim { .. }
            | Fact::Service { .. } => true,
            Fact::Workload(w) => patchable(w.kind) || w.kind == WorkloadKind::CronJob,
            _ => false,
        }
    }

    async fn observe(&self, fact: &Fact) -> Result<Observation, ExecutorError> {
        Ok(self.observe_fact(fact).await?)
    }

    async fn already_done(&self, action: &Action) -> Result<Option<String>, ExecutorError> {
        Ok(self.done(action).await?)
    }

    async fn apply(
        &self,
        action: &Action,
        context: &ApplyContext,
    ) -> Result<StepOutcome, ExecutorError> {
        let this = self.in_mode(context.mode);
        let deadline = context.deadline.unwrap_or_else(|| {
            context
                .now
                .checked_add(this.drain.timeout)
                .unwrap_or(Timestamp::MAX)
        });
        let label = context.plan_label.as_str();
        let outcome = match action {
            Action::Cordon { node } => this.cordon(node, label).await,
            Action::Uncordon { node } => this.uncordon(node).await,
            Action::Evict { namespace, pod, .. } => this.evict(namespace, pod, deadline).await,
            Action::Drain { node } => this.drain_node(node, label, deadline).await,
            Action::DeleteNode { node } => this.delete_node(node, deadline).await,
            Action::PatchResources {
                workload,
                container,
                patch,
            } => this.patch_resources(workload, container, patch).await,
            Action::ScaleReplicas { workload, from, to } => {
                this.scale(workload, Some(*from), *to).await
            }
            Action::SetCronJobSuspend { workload, suspend } => {
                this.set_cron_job_suspend(workload, *suspend).await
            }
            Action::SetMetadata {
                object,
                labels,
                annotations,
            } => this.set_metadata(object, labels, annotations).await,
            Action::SetPreferredNodeAffinity {
                workload,
                preferred,
                zone_spread,
            } => {
                this.set_preferred_node_affinity(workload, preferred, zone_spread.as_ref())
                    .await
            }
            Action::SetTrafficDistribution {
                namespace,
                service,
                value,
            } => {
                this.set_traffic_distribution(namespace, service, value.as_deref())
                    .await
            }
            other => Err(K8sError::Unsupported(format!(
                "{} is not a Kubernetes action",
                other.kind()
            ))),
        };
        Ok(outcome?)
    }
}

/// Workload kinds whose template and replicas this executor changes
/// (what `deploy/rbac.yaml` grants).
fn patchable(kind: WorkloadKind) -> bool {
    matches!(kind, WorkloadKind::Deployment | WorkloadKind::StatefulSet)
}
