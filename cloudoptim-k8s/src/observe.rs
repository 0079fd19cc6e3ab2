//! Reading a live cluster into a [`ClusterSnapshot`].
//!
//! Every kind the engines use is listed page by page (`limit`/`continue`),
//! and each page goes straight into [`ListReader`], so a cluster of 150,000
//! pods never needs one giant response nor the whole cluster held as JSON.
//! Node and pod usage comes from `metrics.k8s.io` when the cluster serves
//! it; when it does not, [`Observation::metrics`] says why and nothing fails.

use std::collections::BTreeMap;

use cloudoptim_core::kubectl::ListReader;
use cloudoptim_core::quantity::{parse_millis, parse_units};
use cloudoptim_core::ClusterSnapshot;
use jiff::Timestamp;
use kube::api::ListParams;
use serde::Deserialize;
use serde_json::Value;

use crate::client::{KubeClient, Op};
use crate::error::K8sError;

/// One kind the snapshot reads: its `kind`, `apiVersion`, collection path
/// and the resource name RBAC knows it by.
struct Listed {
    kind: &'static str,
    api_version: &'static str,
    path: &'static str,
    resource: &'static str,
}

/// What a snapshot lists, in this order: workloads before pods is not
/// needed (owners are resolved at the end), nodes first reads best in logs.
const LISTED: [Listed; 14] = [
    Listed {
        kind: "Node",
        api_version: "v1",
        path: "/api/v1/nodes",
        resource: "nodes",
    },
    Listed {
        kind: "Pod",
        api_version: "v1",
        path: "/api/v1/pods",
        resource: "pods",
    },
    Listed {
        kind: "PodDisruptionBudget",
        api_version: "policy/v1",
        path: "/apis/policy/v1/poddisruptionbudgets",
        resource: "poddisruptionbudgets.policy",
    },
    Listed {
        kind: "PersistentVolume",
        api_version: "v1",
        path: "/api/v1/persistentvolumes",
        resource: "persistentvolumes",
    },
    Listed {
        kind: "PersistentVolumeClaim",
        api_version: "v1",
        path: "/api/v1/persistentvolumeclaims",
        resource: "persistentvolumeclaims",
    },
    Listed {
        kind: "Deployment",
        api_version: "apps/v1",
        path: "/apis/apps/v1/deployments",
        resource: "deployments.apps",
    },
    Listed {
        kind: "ReplicaSet",
        api_version: "apps/v1",
        path: "/apis/apps/v1/replicasets",
        resource: "replicasets.apps",
    },
    Listed {
        kind: "StatefulSet",
        api_version: "apps/v1",
        path: "/apis/apps/v1/statefulsets",
        resource: "statefulsets.apps",
    },
    Listed {
        kind: "DaemonSet",
        api_version: "apps/v1",
        path: "/apis/apps/v1/daemonsets",
        resource: "daemonsets.apps",
    },
    Listed {
        kind: "Job",
        api_version: "batch/v1",
        path: "/apis/batch/v1/jobs",
        resource: "jobs.batch",
    },
    Listed {
        kind: "CronJob",
        api_version: "batch/v1",
        path: "/apis/batch/v1/cronjobs",
        resource: "cronjobs.batch",
    },
    Listed {
        kind: "Namespace",
        api_version: "v1",
        path: "/api/v1/namespaces",
        resource: "namespaces",
    },
    Listed {
        kind: "HorizontalPodAutoscaler",
        api_version: "autoscaling/v2",
        path: "/apis/autoscaling/v2/horizontalpodautoscalers",
        resource: "horizontalpodautoscalers.autoscaling",
    },
    Listed {
        kind: "Service",
        api_version: "v1",
        path: "/api/v1/services",
        resource: "services",
    },
];

/// How to observe.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObserveOptions {
    /// Objects per page of a list (`limit`).
    pub page_size: u32,
    /// Read `metrics.k8s.io` too.
    pub metrics: bool,
    /// Which kinds to list.
    pub kinds: ObservedKinds,
}

impl Default for ObserveOptions {
    /// 500 objects per page (what kubectl asks for), with metrics, every
    /// kind.
    fn default() -> Self {
        ObserveOptions {
            page_size: 500,
            metrics: true,
            kinds: ObservedKinds::All,
        }
    }
}

/// Which kinds an observation lists.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ObservedKinds {
    /// Every kind the engines use.
    #[default]
    All,
    /// Nodes, pods and PDBs only: what a node's drain is planned from (an
    /// interruption plan, say), in 3 lists instead of 14. The snapshot's
    /// other lists are empty, so it is no ground for the other engines.
    ForDrains,
}

impl ObservedKinds {
    fn lists(self, kind: &str) -> bool {
        match self {
            ObservedKinds::All => true,
            ObservedKinds::ForDrains => {
                matches!(kind, "Node" | "Pod" | "PodDisruptionBudget")
            }
        }
    }
}

/// A live cluster, read.
#[derive(Clone, Debug, PartialEq)]
pub struct Observation {
    /// The snapshot the engines work on.
    pub snapshot: ClusterSnapshot,
    /// Objects read, by kind.
    pub objects_by_kind: BTreeMap<&'static str, usize>,
    /// List pages fetched.
    pub pages: usize,
    /// Usage from `metrics.k8s.io`, or why there is none.
    pub metrics: Metrics,
    /// Kinds whose list outlived etcd's compaction window and was continued
    /// from a later revision: what they hold is not one consistent view (an
    /// object created meanwhile may be missing). Engines that conclude from
    /// an absence (ghost instances: "no Node has this instance") must not
    /// run on these kinds.
    pub resumed_kinds: Vec<&'static str>,
}

impl Observation {
    /// Whether the list of `kind` (`"Node"`, …) is one consistent view.
    pub fn is_consistent(&self, kind: &str) -> bool {
        !self.resumed_kinds.contains(&kind)
    }
}

/// What a paged list read.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct ListRead {
    /// Pages fetched.
    pub pages: usize,
    /// The list expired midway and was continued from a later revision.
    pub resumed: bool,
}

impl ListRead {
    /// Refuse a resumed list where an absence is concluded from it.
    pub fn consistent(self, resource: &str) -> Result<ListRead, K8sError> {
        if self.resumed {
            return Err(K8sError::Api {
                verb: "list",
                resource: resource.into(),
                target: String::new(),
                code: 410,
                reason: "Expired".into(),
                message: "the list expired midway and was continued from a later revision, \
                          so an object missing from it may exist; observe again"
                    .into(),
            });
        }
        Ok(self)
    }
}

/// Usage from `metrics.k8s.io`.
#[derive(Clone, Debug, PartialEq)]
pub enum Metrics {
    /// Not read: not asked for, not served (no metrics-server), or refused.
    Unavailable {
        /// Why.
        reason: String,
    },
    /// What the metrics API reported.
    Served(MetricsSample),
}

/// One reading of the metrics API.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct MetricsSample {
    /// Per node.
    pub nodes: Vec<NodeUsage>,
    /// Per container.
    pub containers: Vec<ContainerUsageSample>,
}

impl MetricsSample {
    /// The containers' readings for [`UsageHistograms::add_readings`]
    /// (`cloudoptim_core::usage`), dated by the window's end, or `observed_at`
    /// when metrics-server gave none. Polled every minute and kept with a
    /// checkpoint, they build a week's histograms from metrics-server alone.
    ///
    /// [`UsageHistograms::add_readings`]: cloudoptim_core::usage::UsageHistograms::add_readings
    pub fn readings(&self, observed_at: Timestamp) -> Vec<cloudoptim_core::usage::UsageReading> {
        self.containers
            .iter()
            .map(|c| cloudoptim_core::usage::UsageReading {
                namespace: c.namespace.clone(),
                pod: c.pod.clone(),
                container: c.container.clone(),
                at: c.timestamp.unwrap_or(observed_at),
                cpu_millis: c.cpu_millis as f64,
                memory_bytes: c.memory_bytes as f64,
            })
            .collect()
    }
}

/// A node's usage.
#[derive(Clone, Debug, PartialEq)]
pub struct NodeUsage {
    /// Node name.
    pub node: String,
    /// End of the measurement window.
    pub timestamp: Option<Timestamp>,
    /// CPU in use, millicores (rounded up).
    pub cpu_millis: u64,
    /// Memory in use (working set), bytes.
    pub memory_bytes: u64,
}

/// A container's usage.
#[derive(Clone, Debug, PartialEq)]
pub struct ContainerUsageSample {
    /// Pod namespace.
    pub namespace: String,
    /// Pod name.
    pub pod: String,
    /// Container name.
    pub container: String,
    /// End of the measurement window.
    pub timestamp: Option<Timestamp>,
    /// CPU in use, millicores (rounded up).
    pub cpu_millis: u64,
    /// Memory in use (working set), bytes.
    pub memory_bytes: u64,
}

#[derive(Deserialize)]
struct Page {
    #[serde(default)]
    metadata: PageMeta,
    #[serde(default)]
    items: Vec<Value>,
    /// The continue token had expired (410 Gone): no items; `metadata`
    /// holds the server's token for continuing from the current revision.
    #[serde(skip)]
    expired: bool,
}

#[derive(Default, Deserialize)]
struct PageMeta {
    #[serde(rename = "continue", default)]
    continue_token: Option<String>,
}

impl KubeClient {
    /// Read the cluster: nodes, pods, PDBs, PVs, PVCs and the workload
    /// controllers, page by page, then metrics when served.
    /// Objects of one identity read twice (see
    /// [`ClusterSnapshot::check_unique`]) are an error,
    /// [`K8sError::DuplicateObject`]: no engine plans on such a snapshot.
    pub async fn observe(&self, options: &ObserveOptions) -> Result<Observation, K8sError> {
        let mut reader = ListReader::new();
        let mut objects_by_kind = BTreeMap::new();
        let mut pages = 0;
        let mut resumed_kinds = Vec::new();
        for listed in LISTED.iter().filter(|l| options.kinds.lists(l.kind)) {
            let (read, count) = self
                .list_into(listed, options.page_size, &mut reader)
                .await?;
            pages += read.pages;
            if read.resumed {
                resumed_kinds.push(listed.kind);
            }
            tracing::debug!(kind = listed.kind, count, "listed");
            objects_by_kind.insert(listed.kind, count);
        }
        let snapshot = reader.finish().snapshot;
        // An overlapping list (across an expired continue token, say)
        // must not reach the engines.
        snapshot.check_unique()?;
        let metrics = if options.metrics {
            self.metrics().await
        } else {
            Metrics::Unavailable {
                reason: "not requested".into(),
            }
        };
        Ok(Observation {
            snapshot,
            objects_by_kind,
            pages,
            metrics,
            resumed_kinds,
        })
    }

    /// Only the nodes, as the engines see them (for a node listing; the
    /// engines themselves need [`observe`](Self::observe)).
    pub async fn nodes(
        &self,
        page_size: u32,
    ) -> Result<Vec<cloudoptim_core::snapshot::Node>, K8sError> {
        let mut reader = ListReader::new();
        let (read, _) = self.list_into(&LISTED[0], page_size, &mut reader).await?;
        read.consistent(LISTED[0].resource)?;
        Ok(reader.finish().snapshot.nodes)
    }

    /// List one kind into `reader`; what was read and how many objects.
    async fn list_into(
        &self,
        listed: &Listed,
        page_size: u32,
        reader: &mut ListReader,
    ) -> Result<(ListRead, usize), K8sError> {
        let mut count = 0;
        let params = ListParams::default().limit(page_size);
        let read = self
            .list_each(listed.path, listed.resource, &params, |mut item| {
                if let Value::Object(map) = &mut item {
                    map.insert("kind".into(), Value::from(listed.kind));
                    map.insert("apiVersion".into(), Value::from(listed.api_version));
                }
                count += 1;
                Ok(reader.push(item)?)
            })
            .await?;
        Ok((read, count))
    }

    /// Every object of a collection, page by page (`params` carries the
    /// page size and any selectors), each handed to `each` as it arrives.
    /// A continue token that expired (410 Gone) is followed by the one the
    /// server offers, and the answer says so ([`ListRead::resumed`]).
    pub(crate) async fn list_each(
        &self,
        path: &str,
        resource: &str,
        params: &ListParams,
        mut each: impl FnMut(Value) -> Result<(), K8sError>,
    ) -> Result<ListRead, K8sError> {
        let mut pages = 0;
        let mut resumed = false;
        let mut continue_token: Option<String> = None;
        loop {
            let page = self
                .list_page(path, resource, params, continue_token.as_deref())
                .await?;
            pages += 1;
            let token = page.metadata.continue_token.filter(|t| !t.is_empty());
            if page.expired {
                // The list outlived etcd's compaction window. Continue from
                // the current revision (what the server offers): objects
                // already read stay, later pages are newer.
                let Some(token) = token else {
                    return Err(K8sError::Api {
                        verb: "list",
                        resource: resource.into(),
                        target: String::new(),
                        code: 410,
                        reason: "Expired".into(),
                        message: "the list expired and the server offered no way to continue; \
                                  observe again"
                            .into(),
                    });
                };
                tracing::warn!(
                    resource,
                    "list expired; continuing from the current revision"
                );
                continue_token = Some(token);
                resumed = true;
                continue;
            }
            for item in page.items {
                each(item)?;
            }
            match token {
                Some(token) => continue_token = Some(token),
                None => return Ok(ListRead { pages, resumed }),
            }
        }
    }

    async fn list_page(
        &self,
        path: &str,
        resource: &str,
        params: &ListParams,
        continue_token: Option<&str>,
    ) -> Result<Page, K8sError> {
        let mut params = params.clone();
        params.limit = Some(params.limit.unwrap_or(500).max(1));
        if let Some(token) = continue_token {
            params = params.continue_token(token);
        }
        let op = Op::new("list", resource, "");
        self.call(&op, |client| {
            let params = params.clone();
            async move {
                let request = kube::core::Request::new(path)
                    .list(&params)
                    .map_err(kube::Error::BuildRequest)?;
                match client.request::<Page>(request).await {
                    Err(kube::Error::Api(status)) if status.code == 410 => Ok(Page {
                        metadata: PageMeta {
                            continue_token: status.metadata.and_then(|m| m.continue_),
                        },
                        items: Vec::new(),
                        expired: true,
                    }),
                    other => other,
                }
            }
        })
        .await
    }

    /// Usage from `metrics.k8s.io`, or why it is unavailable. Never fails:
    /// a cluster without metrics-server is a normal cluster.
    pub async fn metrics(&self) -> Metrics {
        match self.read_metrics().await {
            Ok(sample) => Metrics::Served(sample),
            Err(e) => {
                let reason = match e.status_code() {
                    Some(404) => "metrics.k8s.io is not served (no metrics-server)".to_owned(),
                    _ => e.to_string(),
                };
                tracing::info!(%reason, "no metrics");
                Metrics::Unavailable { reason }
            }
        }
    }

    async fn read_metrics(&self) -> Result<MetricsSample, K8sError> {
        const NODES: &str = "/apis/metrics.k8s.io/v1beta1/nodes";
        const PODS: &str = "/apis/metrics.k8s.io/v1beta1/pods";
        let mut sample = MetricsSample::default();
        let params = ListParams::default().limit(500);
        self.list_each(NODES, "nodes.metrics.k8s.io", &params, |item| {
            let usage = item.get("usage");
            sample.nodes.push(NodeUsage {
                node: str_at(&item, &["metadata", "name"]).to_owned(),
                timestamp: timestamp(&item),
                cpu_millis: usage_quantity(usage, "cpu", parse_millis),
                memory_bytes: usage_quantity(usage, "memory", parse_units),
            });
            Ok(())
        })
        .await?;
        self.list_each(PODS, "pods.metrics.k8s.io", &params, |item| {
            let containers = item.get("containers").and_then(Value::as_array);
            for container in containers.into_iter().flatten() {
                let usage = container.get("usage");
                sample.containers.push(ContainerUsageSample {
                    namespace: str_at(&item, &["metadata", "namespace"]).to_owned(),
                    pod: str_at(&item, &["metadata", "name"]).to_owned(),
                    container: str_at(container, &["name"]).to_owned(),
                    timestamp: timestamp(&item),
                    cpu_millis: usage_quantity(usage, "cpu", parse_millis),
                    memory_bytes: usage_quantity(usage, "memory", parse_units),
                });
            }
            Ok(())
        })
        .await?;
        Ok(sample)
    }
}

fn str_at<'a>(value: &'a Value, path: &[&str]) -> &'a str {
    path.iter()
        .try_fold(value, |v, key| v.get(key))
        .and_then(Value::as_str)
        .unwrap_or_default()
}

fn timestamp(item: &Value) -> Option<Timestamp> {
    str_at(item, &["timestamp"]).parse().ok()
}

/// A usage quantity; a missing or unreadable one counts as 0 (and is logged),
/// since metrics only inform rightsizing, they never gate an action.
fn usage_quantity(
    usage: Option<&Value>,
    key: &str,
    parse: fn(&str) -> Result<u64, cloudoptim_core::quantity::QuantityError>,
) -> u64 {
    let raw = usage.and_then(|u| u.get(key)).and_then(Value::as_str);
    match raw.map(parse) {
        Some(Ok(value)) => value,
        Some(Err(e)) => {
            tracing::warn!(key, error = %e, "unreadable usage quantity");
            0
        }
        None => 0,
    }
}
