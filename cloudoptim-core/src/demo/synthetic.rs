//! Seeded pod lists of any size with a realistic mix of sizes and
//! constraints, for benchmarks and scale tests of the packers.

use super::rng::Rng;
use crate::binpack::PodRequirement;
use crate::resources::Resources;
use crate::snapshot::{
    node_labels, NodeAffinity, NodeSelectorTerm, SelectorOperator, SelectorRequirement,
};

const MIB: u64 = 1 << 20;

/// At most this many items are reserved up front: the counts come from the
/// command line, and `Vec::with_capacity` panics when a count's bytes
/// exceed `isize::MAX` (a larger count grows the vector as it fills).
const RESERVE_AT_MOST: usize = 1 << 20;

/// `count` pods in services of 2–60 replicas: requests from 50m/64Mi to
/// 8 cores/32Gi, 2% needing a GPU; per service, about 15% spread over
/// zones, 5% with hostname anti-affinity, 10% pinned to an instance family,
/// 5% limited to two zones, and 1% selecting arm64 nodes (which an amd64-only
/// policy cannot offer, so explanations are exercised too).
/// Same `(count, seed)`, same pods.
pub fn synthetic_pods(count: usize, seed: u64) -> Vec<PodRequirement> {
    let mut rng = Rng::new(seed);
    let mut pods = Vec::with_capacity(count.min(RESERVE_AT_MOST));
    let mut service = 0usize;
    while pods.len() < count {
        service += 1;
        let replicas = rng.range(2, 60) as usize;
        let cpu_millis = *rng.pick(&[50, 100, 250, 500, 1000, 1500, 2000, 4000, 8000]);
        let memory_bytes =
            *rng.pick(&[64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384, 32768]) * MIB;
        let gpu_millis = if rng.chance(0.02) { 1000 } else { 0 };
        let kind = rng.unit();
        let family = *rng.pick(&["m6i", "c6i", "r6i", "m5", "c5a"]);
        for r in 0..replicas.min(count - pods.len()) {
            let mut p = PodRequirement::new(
                format!("svc-{service}/pod-{r}"),
                Resources {
                    cpu_millis,
                    memory_bytes,
                    pods: 1,
                    gpu_millis,
                    ephemeral_storage_bytes: 0,
                },
            );
            let group = format!("svc-{service}");
            match kind {
                k if k < 0.15 => p.zone_spread = Some((group, 1)),
                k if k < 0.20 => p.anti_affinity_group = Some(group),
                k if k < 0.30 => {
                    p.node_selector
                        .insert(node_labels::INSTANCE_FAMILY.into(), family.into());
                }
                k if k < 0.35 => {
                    p.node_affinity = NodeAffinity {
                        required: vec![NodeSelectorTerm {
                            match_expressions: vec![SelectorRequirement {
                                key: node_labels::ZONE.into(),
                                operator: SelectorOperator::In,
                                values: vec!["us-east-1a".into(), "us-east-1b".into()],
                            }],
                            match_fields: vec![],
                        }],
                        preferred: vec![],
                    }
                }
                k if k < 0.36 => {
                    p.node_selector
                        .insert(node_labels::ARCH.into(), "arm64".into());
                }
                _ => {}
            }
            pods.push(p);
        }
    }
    pods
}

/// A running cluster of `node_count` nodes (m6i/c6i/r6i 2xlarge–8xlarge in
/// three zones) and about `pod_count` pods placed on them first-fit, with
/// a PDB per service, some do-not-disrupt and local-storage pods, for scale
/// tests of consolidation. Same arguments, same cluster.
pub fn synthetic_cluster(
    node_count: usize,
    pod_count: usize,
    seed: u64,
    catalog: &crate::catalog::Catalog,
) -> crate::snapshot::ClusterSnapshot {
    use crate::snapshot::{
        ClusterSnapshot, LabelSelector, Labels, PodDisruptionBudget, PodVolume, VolumeSource,
    };
    let mut rng = Rng::new(seed);
    let types = [
        "m6i.2xlarge",
        "m6i.4xlarge",
        "m6i.8xlarge",
        "c6i.4xlarge",
        "r6i.4xlarge",
    ];
    let zones = ["us-east-1a", "us-east-1b", "us-east-1c"];
    let mut nodes = Vec::with_capacity(node_count.min(RESERVE_AT_MOST));
    let mut free = Vec::with_capacity(node_count.min(RESERVE_AT_MOST));
    for i in 0..node_count {
        let type_name = *rng.pick(&types);
        let Some(it) = catalog.get(type_name) else {
            continue;
        };
        let allocatable = crate::eks::node_allocatable(it, 80 << 30);
        let zone = zones.get(i % zones.len()).copied().unwrap_or("us-east-1a");
        let node = running_node(
            format!("node-{i:05}"),
            type_name,
            zone,
            allocatable,
            &mut rng,
        );
        nodes.push(node);
        free.push(allocatable);
    }
    let mut pods = Vec::with_capacity(pod_count.min(RESERVE_AT_MOST));
    let mut pdbs = Vec::new();
    let mut service = 0usize;
    let mut cursor = 0usize;
    while pods.len() < pod_count && !nodes.is_empty() {
        service += 1;
        let app = format!("svc-{service}");
        let replicas = rng.range(2, 40) as usize;
        let requests = Resources {
            cpu_millis: *rng.pick(&[50, 100, 200, 250, 500, 750, 1000]),
            memory_bytes: *rng.pick(&[128, 256, 512, 768, 1024, 2048]) * MIB,
            ..Resources::ZERO
        };
        let special = rng.unit();
        let labels: Labels = [("app".to_owned(), app.clone())].into();
        let before = pods.len();
        for r in 0..replicas.min(pod_count - pods.len()) {
            // Spread over the nodes: next node with room.
            let mut placed = None;
            for step in 0..nodes.len() {
                let n = (cursor + step) % nodes.len();
                let need = Resources {
                    pods: 1,
                    ..requests
                };
                if free.get(n).is_some_and(|f| need.fits_within(f)) {
                    if let Some(f) = free.get_mut(n) {
                        *f = f.saturating_sub(need);
                    }
                    placed = Some(n);
                    cursor = n + 1;
                    break;
                }
            }
            let Some(n) = placed else { break };
            let annotations: Labels = if special < 0.003 {
                [("cloudoptim.io/do-not-disrupt".to_owned(), "true".to_owned())].into()
            } else {
                Labels::new()
            };
            let volumes = if (0.003..0.008).contains(&special) {
                vec![PodVolume {
                    name: "scratch".into(),
                    source: VolumeSource::EmptyDir {
                        in_memory: false,
                        size_limit_bytes: None,
                    },
                }]
            } else {
                Vec::new()
            };
            let node_name = nodes.get(n).map(|x| x.name.clone());
            let mut pod = running_pod(&app, r, node_name, requests);
            pod.annotations = annotations;
            pod.volumes = volumes;
            pods.push(pod);
        }
        if pods.len() == before {
            break; // The nodes are full.
        }
        pdbs.push(PodDisruptionBudget {
            namespace: "default".into(),
            name: app.clone(),
            selector: Some(LabelSelector {
                match_labels: labels,
                match_expressions: Vec::new(),
            }),
            min_available: None,
            max_unavailable: Some(crate::snapshot::IntOrPercent::Count(1)),
            disruptions_allowed: 1,
            current_healthy: replicas as u32,
            desired_healthy: replicas.saturating_sub(1) as u32,
            expected_pods: replicas as u32,
            labels: Labels::new(),
        });
    }
    let mut snapshot = ClusterSnapshot {
        nodes,
        pods,
        pdbs,
        ..ClusterSnapshot::default()
    };
    snapshot.resolve_owners();
    snapshot
}

/// A Ready, on-demand node of `instance_type` in `zone` (us-east-1), with
/// the well-known labels and an EC2 provider id, as EKS registers one.
pub(super) fn running_node(
    name: String,
    instance_type: &str,
    zone: &str,
    allocatable: Resources,
    rng: &mut Rng,
) -> crate::snapshot::Node {
    use crate::snapshot::{Labels, Node};
    let labels: Labels = [
        (node_labels::HOSTNAME, name.as_str()),
        (node_labels::INSTANCE_TYPE, instance_type),
        (node_labels::ZONE, zone),
        (node_labels::REGION, "us-east-1"),
        (node_labels::EKS_CAPACITY_TYPE, "ON_DEMAND"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    let mut node = Node {
        name,
        provider_id: Some(format!("aws:///{zone}/i-0{:016x}", rng.next_u64())),
        instance_id: None,
        instance_type: None,
        zone: None,
        region: None,
        capacity_type: crate::snapshot::CapacityType::Unknown,
        labels,
        annotations: Default::default(),
        taints: Vec::new(),
        capacity: allocatable,
        allocatable,
        created_at: None,
        unschedulable: false,
        ready: true,
    };
    node.derive_from_labels();
    node
}

/// Replica `replica` of Deployment `app` (namespace `default`, label
/// `app`), running on `node` with one container requesting `requests`.
pub(super) fn running_pod(
    app: &str,
    replica: usize,
    node: Option<String>,
    requests: Resources,
) -> crate::snapshot::Pod {
    use crate::snapshot::{Container, Limits, NodeAffinity, OwnerRef, Pod, PodAffinity, PodPhase};
    Pod {
        namespace: "default".into(),
        name: format!("{app}-{replica}"),
        uid: None,
        controller: Some(OwnerRef {
            kind: "ReplicaSet".into(),
            name: format!("{app}-rs"),
        }),
        owner: None,
        node_name: node,
        phase: PodPhase::Running,
        priority: 0,
        priority_class_name: None,
        containers: vec![Container {
            name: "app".into(),
            requests,
            limits: Limits::default(),
            sidecar: false,
        }],
        init_containers: Vec::new(),
        overhead: Resources::ZERO,
        labels: [("app".to_owned(), app.to_owned())].into(),
        annotations: Default::default(),
        tolerations: Vec::new(),
        node_selector: Default::default(),
        node_affinity: NodeAffinity::default(),
        pod_affinity: PodAffinity::default(),
        topology_spread: Vec::new(),
        volumes: Vec::new(),
        container_statuses: Vec::new(),
        created_at: None,
    }
}
