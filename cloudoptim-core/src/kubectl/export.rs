//! Snapshot → kubectl JSON.

use serde::Serialize;
use serde_json::{json, Map, Value};

use super::wire::{self, IntOrString, RawQuantity, ResourceMap};
use crate::quantity::{format_bytes, format_millis};
use crate::resources::{Dimension, Resources};
use crate::snapshot::{
    ClusterSnapshot, Container, HorizontalPodAutoscaler, HpaMetric, IntOrPercent, Namespace, Node,
    NodeAffinity, OwnerRef, PersistentVolume, PersistentVolumeClaim, Pod, PodAffinity,
    PodAffinityTerm, PodDisruptionBudget, PodTemplate, SelectorOperator, SelectorRequirement,
    Service, ServiceType, Termination, VolumeSource, Workload, WorkloadKind,
};

/// Write a snapshot as the `v1 List` that
/// `kubectl get nodes,pods,pdb,pv,pvc,deploy,rs,sts,ds,job,cronjob -A -o json`
/// prints, pretty-printed. [`super::read_list`] reads it back to the same snapshot.
///
/// Items are converted one at a time as they are written, so memory beyond
/// the output itself stays that of one object, however large the cluster.
pub fn write_list(snapshot: &ClusterSnapshot) -> Result<String, serde_json::Error> {
    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    struct List<'a> {
        api_version: &'static str,
        items: Items<'a>,
        kind: &'static str,
        metadata: ListMeta,
    }
    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    struct ListMeta {
        resource_version: &'static str,
    }
    serde_json::to_string_pretty(&List {
        api_version: "v1",
        items: Items(snapshot),
        kind: "List",
        metadata: ListMeta {
            resource_version: "",
        },
    })
}

/// The items of a snapshot, serialized as they are converted.
struct Items<'a>(&'a ClusterSnapshot);

impl Serialize for Items<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::{Error, SerializeSeq};
        let snapshot = self.0;
        let mut seq = serializer.serialize_seq(None)?;
        let mut put = |value: Result<Value, serde_json::Error>| {
            seq.serialize_element(&value.map_err(S::Error::custom)?)
        };
        for n in &snapshot.nodes {
            put(item("v1", "Node", node(n)))?;
        }
        for p in &snapshot.pods {
            put(item("v1", "Pod", pod(p)))?;
        }
        for b in &snapshot.pdbs {
            put(item("policy/v1", "PodDisruptionBudget", pdb(b)))?;
        }
        for v in &snapshot.persistent_volumes {
            put(item("v1", "PersistentVolume", pv(v)))?;
        }
        for c in &snapshot.persistent_volume_claims {
            put(item("v1", "PersistentVolumeClaim", pvc(c)))?;
        }
        for w in &snapshot.workloads {
            put(item(w.kind.api_version(), w.kind.as_str(), workload(w)))?;
        }
        for n in &snapshot.namespaces {
            put(item("v1", "Namespace", namespace(n)))?;
        }
        for s in &snapshot.services {
            put(item("v1", "Service", service(s)))?;
        }
        for h in &snapshot.horizontal_pod_autoscalers {
            put(item(
                "autoscaling/v2",
                "HorizontalPodAutoscaler",
                autoscaler(h),
            ))?;
        }
        seq.end()
    }
}

fn item(api_version: &str, kind: &str, body: impl Serialize) -> Result<Value, serde_json::Error> {
    let mut map = Map::new();
    map.insert("apiVersion".into(), api_version.into());
    map.insert("kind".into(), kind.into());
    if let Value::Object(fields) = serde_json::to_value(body)? {
        map.extend(fields);
    }
    Ok(Value::Object(map))
}

/// The `apiVersion` of an owner's kind: a workload's, else `v1` (the core
/// group, where the other owners CloudOptim meets, such as Nodes, live).
fn owner_api_version(kind: &str) -> &'static str {
    WorkloadKind::from_kind(kind).map_or("v1", WorkloadKind::api_version)
}

fn owner_refs(owner: &Option<OwnerRef>) -> Vec<wire::OwnerReference> {
    owner
        .iter()
        .map(|o| wire::OwnerReference {
            api_version: owner_api_version(&o.kind).to_owned(),
            kind: o.kind.clone(),
            name: o.name.clone(),
            uid: None,
            controller: Some(true),
        })
        .collect()
}

fn q(s: String) -> RawQuantity {
    RawQuantity(s)
}

fn format(d: Dimension, v: u64) -> RawQuantity {
    q(match d {
        Dimension::Cpu | Dimension::Gpu => format_millis(v),
        Dimension::Memory | Dimension::EphemeralStorage => format_bytes(v),
        Dimension::Pods => v.to_string(),
    })
}

/// Node capacity: every dimension but GPUs, which only when present.
fn node_resources(r: &Resources) -> ResourceMap {
    Dimension::ALL
        .into_iter()
        .filter(|&d| d != Dimension::Gpu || r.gpu_millis > 0)
        .map(|d| (d.kubernetes_name().to_owned(), format(d, r.get(d))))
        .collect()
}

fn container(c: &Container) -> wire::Container {
    let mut requests = ResourceMap::new();
    let mut limits = ResourceMap::new();
    for d in Dimension::ALL.into_iter().filter(|&d| d != Dimension::Pods) {
        let limit = c.limits.get(d);
        let request = c.requests.get(d);
        // A zero request is written only when a limit exists (else it would default to it).
        if request > 0 || limit.is_some() {
            requests.insert(d.kubernetes_name().to_owned(), format(d, request));
        }
        if let Some(l) = limit {
            limits.insert(d.kubernetes_name().to_owned(), format(d, l));
        }
    }
    wire::Container {
        name: c.name.clone(),
        image: None,
        resources: wire::ResourceRequirements { requests, limits },
        restart_policy: c.sidecar.then(|| "Always".to_owned()),
    }
}

fn node(n: &Node) -> wire::Node {
    wire::Node {
        metadata: wire::ObjectMeta {
            name: n.name.clone(),
            labels: n.labels.clone(),
            annotations: n.annotations.clone(),
            creation_timestamp: n.created_at,
            ..Default::default()
        },
        spec: wire::NodeSpec {
            provider_id: n.provider_id.clone(),
            unschedulable: n.unschedulable,
            taints: n.taints.clone(),
        },
        status: wire::NodeStatus {
            capacity: node_resources(&n.capacity),
            allocatable: node_resources(&n.allocatable),
            conditions: vec![wire::Condition {
                type_: "Ready".into(),
                status: if n.ready { "True" } else { "False" }.into(),
            }],
        },
    }
}

fn affinity(node_affinity: &NodeAffinity, pod_affinity: &PodAffinity) -> Option<wire::Affinity> {
    let unweighted = |terms: &[PodAffinityTerm]| terms.to_vec();
    let weighted = |terms: &[PodAffinityTerm]| {
        terms
            .iter()
            .map(|t| wire::WeightedPodAffinityTerm {
                weight: t.weight.unwrap_or(1),
                pod_affinity_term: PodAffinityTerm {
                    weight: None,
                    ..t.clone()
                },
            })
            .collect::<Vec<_>>()
    };
    let pods = |required: &[PodAffinityTerm], preferred: &[PodAffinityTerm]| {
        (!required.is_empty() || !preferred.is_empty()).then(|| wire::WirePodAffinity {
            required: unweighted(required),
            preferred: weighted(preferred),
        })
    };
    let nodes =
        (!node_affinity.required.is_empty() || !node_affinity.preferred.is_empty()).then(|| {
            wire::WireNodeAffinity {
                required: (!node_affinity.required.is_empty()).then(|| {
                    wire::RequiredNodeSelector {
                        node_selector_terms: node_affinity.required.clone(),
                    }
                }),
                preferred: node_affinity.preferred.clone(),
            }
        });
    let out = wire::Affinity {
        node_affinity: nodes,
        pod_affinity: pods(&pod_affinity.required, &pod_affinity.preferred),
        pod_anti_affinity: pods(&pod_affinity.anti_required, &pod_affinity.anti_preferred),
    };
    (out != wire::Affinity::default()).then_some(out)
}

fn volume(name: &str, source: &VolumeSource) -> wire::Volume {
    let (kind, body) = match source {
        VolumeSource::EmptyDir {
            in_memory,
            size_limit_bytes,
        } => {
            let mut body = Map::new();
            if *in_memory {
                body.insert("medium".into(), "Memory".into());
            }
            if let Some(limit) = size_limit_bytes {
                body.insert("sizeLimit".into(), format_bytes(*limit).into());
            }
            ("emptyDir", Value::Object(body))
        }
        VolumeSource::PersistentVolumeClaim { claim_name } => {
            ("persistentVolumeClaim", json!({ "claimName": claim_name }))
        }
        VolumeSource::HostPath { path } => ("hostPath", json!({ "path": path })),
        VolumeSource::Ephemeral => ("ephemeral", json!({})),
        VolumeSource::Other { kind } => (kind.as_str(), json!({})),
    };
    wire::Volume {
        name: name.to_owned(),
        source: [(kind.to_owned(), body)].into(),
    }
}

fn terminated(t: &Option<Termination>) -> Option<wire::TerminatedState> {
    t.as_ref().map(|t| wire::TerminatedState {
        reason: t.reason.clone(),
        exit_code: t.exit_code,
        finished_at: t.finished_at,
    })
}

fn non_zero(r: &Resources) -> ResourceMap {
    Dimension::ALL
        .into_iter()
        .filter(|&d| d != Dimension::Pods && r.get(d) > 0)
        .map(|d| (d.kubernetes_name().to_owned(), format(d, r.get(d))))
        .collect()
}

fn pod(p: &Pod) -> wire::Pod {
    wire::Pod {
        metadata: wire::ObjectMeta {
            name: p.name.clone(),
            namespace: Some(p.namespace.clone()),
            uid: p.uid.clone(),
            labels: p.labels.clone(),
            annotations: p.annotations.clone(),
            owner_references: owner_refs(&p.controller),
            creation_timestamp: p.created_at,
        },
        spec: wire::PodSpec {
            node_name: p.node_name.clone(),
            containers: p.containers.iter().map(container).collect(),
            init_containers: p.init_containers.iter().map(container).collect(),
            overhead: non_zero(&p.overhead),
            priority: Some(p.priority),
            priority_class_name: p.priority_class_name.clone(),
            tolerations: p.tolerations.clone(),
            node_selector: p.node_selector.clone(),
            affinity: affinity(&p.node_affinity, &p.pod_affinity),
            topology_spread_constraints: p.topology_spread.clone(),
            volumes: p
                .volumes
                .iter()
                .map(|v| volume(&v.name, &v.source))
                .collect(),
        },
        status: wire::PodStatus {
            phase: p.phase,
            container_statuses: p
                .container_statuses
                .iter()
                .map(|s| wire::ContainerStatus {
                    name: s.name.clone(),
                    restart_count: s.restart_count,
                    ready: s.ready,
                    state: wire::ContainerState {
                        terminated: terminated(&s.terminated),
                        waiting: s.waiting_reason.clone().map(|reason| wire::WaitingState {
                            reason: Some(reason),
                        }),
                        running: (s.terminated.is_none() && s.waiting_reason.is_none())
                            .then(|| json!({})),
                    },
                    last_state: wire::ContainerState {
                        terminated: terminated(&s.last_termination),
                        ..Default::default()
                    },
                })
                .collect(),
        },
    }
}

fn int_or_string(v: Option<IntOrPercent>) -> Option<IntOrString> {
    v.map(|v| match v {
        IntOrPercent::Count(n) => IntOrString::Int(i64::from(n)),
        IntOrPercent::Percent(p) => IntOrString::Str(format!("{p}%")),
    })
}

fn service(s: &Service) -> wire::Service {
    let service_type = match s.service_type {
        ServiceType::ClusterIP => "ClusterIP",
        ServiceType::NodePort => "NodePort",
        ServiceType::LoadBalancer => "LoadBalancer",
        ServiceType::ExternalName => "ExternalName",
    };
    wire::Service {
        metadata: wire::ObjectMeta {
            name: s.name.clone(),
            namespace: Some(s.namespace.clone()),
            annotations: s.annotations.clone(),
            ..Default::default()
        },
        spec: wire::ServiceSpec {
            service_type: Some(service_type.into()),
            selector: (!s.selector.is_empty()).then(|| s.selector.clone()),
            traffic_distribution: s.traffic_distribution.clone(),
        },
    }
}

fn namespace(n: &Namespace) -> wire::Namespace {
    wire::Namespace {
        metadata: wire::ObjectMeta {
            name: n.name.clone(),
            labels: n.labels.clone(),
            annotations: n.annotations.clone(),
            ..Default::default()
        },
    }
}

fn hpa_metric(m: &HpaMetric) -> wire::HpaMetricSpec {
    let resource = |name: &str, container: Option<&str>| wire::HpaMetricResource {
        name: name.to_owned(),
        container: container.map(str::to_owned),
    };
    match m {
        HpaMetric::Resource { resource: r } => wire::HpaMetricSpec {
            kind: "Resource".into(),
            resource: Some(resource(r, None)),
            container_resource: None,
        },
        HpaMetric::ContainerResource {
            resource: r,
            container,
        } => wire::HpaMetricSpec {
            kind: "ContainerResource".into(),
            resource: None,
            container_resource: Some(resource(r, Some(container))),
        },
        HpaMetric::Other { kind } => wire::HpaMetricSpec {
            kind: kind.clone(),
            resource: None,
            container_resource: None,
        },
    }
}

fn autoscaler(h: &HorizontalPodAutoscaler) -> wire::HorizontalPodAutoscaler {
    wire::HorizontalPodAutoscaler {
        metadata: wire::ObjectMeta {
            name: h.name.clone(),
            namespace: Some(h.namespace.clone()),
            ..Default::default()
        },
        spec: wire::HpaSpec {
            scale_target_ref: wire::ScaleTargetRef {
                api_version: WorkloadKind::from_kind(&h.target_kind)
                    .map(|k| k.api_version().to_owned())
                    .unwrap_or_default(),
                kind: h.target_kind.clone(),
                name: h.target_name.clone(),
            },
            min_replicas: Some(i64::from(h.min_replicas)),
            max_replicas: i64::from(h.max_replicas),
            metrics: h.metrics.iter().map(hpa_metric).collect(),
            target_cpu_utilization_percentage: None,
        },
    }
}

fn pdb(b: &PodDisruptionBudget) -> wire::PodDisruptionBudget {
    wire::PodDisruptionBudget {
        metadata: wire::ObjectMeta {
            name: b.name.clone(),
            namespace: Some(b.namespace.clone()),
            labels: b.labels.clone(),
            ..Default::default()
        },
        spec: wire::PdbSpec {
            selector: b.selector.clone(),
            min_available: int_or_string(b.min_available),
            max_unavailable: int_or_string(b.max_unavailable),
        },
        status: wire::PdbStatus {
            disruptions_allowed: i64::from(b.disruptions_allowed),
            current_healthy: i64::from(b.current_healthy),
            desired_healthy: i64::from(b.desired_healthy),
            expected_pods: i64::from(b.expected_pods),
        },
    }
}

fn storage(bytes: u64) -> ResourceMap {
    [("storage".to_owned(), q(format_bytes(bytes)))].into()
}

fn pv(v: &PersistentVolume) -> wire::PersistentVolume {
    let ebs_in_tree = v.driver.as_deref() == Some("kubernetes.io/aws-ebs");
    let zone_key = if v.driver.as_deref() == Some("ebs.csi.aws.com") {
        "topology.ebs.csi.aws.com/zone"
    } else {
        "topology.kubernetes.io/zone"
    };
    wire::PersistentVolume {
        metadata: wire::ObjectMeta {
            name: v.name.clone(),
            labels: v.labels.clone(),
            annotations: v.annotations.clone(),
            creation_timestamp: v.created_at,
            ..Default::default()
        },
        spec: wire::PvSpec {
            capacity: storage(v.capacity_bytes),
            csi: v
                .driver
                .as_ref()
                .filter(|_| !ebs_in_tree)
                .map(|driver| wire::CsiSource {
                    driver: driver.clone(),
                    volume_handle: v.volume_handle.clone().unwrap_or_default(),
                }),
            aws_elastic_block_store: ebs_in_tree.then(|| wire::AwsEbsSource {
                volume_id: v.volume_handle.clone().unwrap_or_default(),
            }),
            storage_class_name: v.storage_class.clone(),
            persistent_volume_reclaim_policy: Some(v.reclaim_policy),
            claim_ref: v.claim_ref.as_ref().map(|c| wire::ClaimRef {
                namespace: c.namespace.clone(),
                name: c.name.clone(),
            }),
            node_affinity: v.zone.as_ref().map(|zone| wire::VolumeNodeAffinity {
                required: Some(wire::RequiredNodeSelector {
                    node_selector_terms: vec![crate::snapshot::NodeSelectorTerm {
                        match_expressions: vec![SelectorRequirement {
                            key: zone_key.to_owned(),
                            operator: SelectorOperator::In,
                            values: vec![zone.clone()],
                        }],
                        match_fields: vec![],
                    }],
                }),
            }),
        },
        status: wire::PvStatus { phase: v.phase },
    }
}

fn pvc(c: &PersistentVolumeClaim) -> wire::PersistentVolumeClaim {
    wire::PersistentVolumeClaim {
        metadata: wire::ObjectMeta {
            name: c.name.clone(),
            namespace: Some(c.namespace.clone()),
            labels: c.labels.clone(),
            creation_timestamp: c.created_at,
            ..Default::default()
        },
        spec: wire::PvcSpec {
            volume_name: c.volume_name.clone(),
            storage_class_name: c.storage_class.clone(),
            resources: wire::ResourceRequirements {
                requests: storage(c.requested_bytes),
                limits: ResourceMap::new(),
            },
        },
        status: wire::PvcStatus {
            phase: c.phase,
            capacity: c.capacity_bytes.map(storage).unwrap_or_default(),
        },
    }
}

fn template(t: &PodTemplate) -> wire::PodTemplateSpec {
    wire::PodTemplateSpec {
        metadata: wire::TemplateMeta {
            labels: t.labels.clone(),
            annotations: t.annotations.clone(),
        },
        spec: wire::PodSpec {
            containers: t.containers.iter().map(container).collect(),
            init_containers: t.init_containers.iter().map(container).collect(),
            priority_class_name: t.priority_class_name.clone(),
            tolerations: t.tolerations.clone(),
            node_selector: t.node_selector.clone(),
            affinity: affinity(&t.node_affinity, &PodAffinity::default()),
            ..Default::default()
        },
    }
}

fn workload(w: &Workload) -> wire::Workload {
    let replicas = w.replicas.map(i64::from);
    let ready = w.ready_replicas.map(i64::from);
    let mut spec = wire::WorkloadSpec {
        selector: (w.kind != WorkloadKind::CronJob).then(|| w.selector.clone()),
        ..Default::default()
    };
    let mut status = wire::WorkloadStatus::default();
    match w.kind {
        WorkloadKind::CronJob => {
            spec.schedule = w.schedule.clone();
            spec.suspend = w.suspend.then_some(true);
            spec.job_template = Some(wire::JobTemplate {
                spec: wire::JobSpec {
                    parallelism: None,
                    template: Some(template(&w.template)),
                },
            });
        }
        WorkloadKind::Job => {
            spec.parallelism = replicas;
            spec.suspend = w.suspend.then_some(true);
            spec.template = Some(template(&w.template));
        }
        WorkloadKind::DaemonSet => {
            spec.template = Some(template(&w.template));
            status.number_ready = ready;
        }
        WorkloadKind::Deployment | WorkloadKind::ReplicaSet | WorkloadKind::StatefulSet => {
            spec.replicas = replicas;
            spec.template = Some(template(&w.template));
            status.ready_replicas = ready;
        }
    }
    wire::Workload {
        metadata: wire::ObjectMeta {
            name: w.name.clone(),
            namespace: Some(w.namespace.clone()),
            labels: w.labels.clone(),
            annotations: w.annotations.clone(),
            owner_references: owner_refs(&w.owner),
            creation_timestamp: w.created_at,
            ..Default::default()
        },
        spec,
        status,
    }
}
