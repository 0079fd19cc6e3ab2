//! The demo environment: a seeded, realistic, over-provisioned EKS cluster
//! in us-east-1 and the AWS account around it.
//!
//! It is what the examples and the tour run on when no cluster is given, and
//! what golden tests pin. Every feature of CloudOptim finds something real in
//! it:
//!
//! - 60–90 on-demand nodes of mixed families and sizes in managed node groups
//!   over three zones, requested at roughly half their allocatable, a few of
//!   them nearly empty leftovers of an old scale-up, one cordoned;
//! - an Auto Scaling group per node group, its desired capacity its instance
//!   count, its minimum below that except for `memory`, which sits at its
//!   minimum (so its nodes cannot go without a replacement);
//! - about 80 workloads (Deployments, StatefulSets with volumes, DaemonSets,
//!   CronJobs with their last Job) and 1,000–2,000 pods over `prod`,
//!   `staging`, `dev`, `kube-system` and `monitoring`, with PDBs, topology
//!   spread, anti-affinity, node selectors, init containers and sidecars,
//!   `emptyDir` scratch space, do-not-disrupt annotations, one bare pod and
//!   one pod too large for any node;
//! - pods with OOMKilled history and usage that runs into their limits;
//! - EBS volumes whose claims are gone (past and within a 7-day grace
//!   period, one protected by tag), and one EC2 instance tagged for the
//!   cluster that never became a node (plus an unrelated bastion that is not
//!   the cluster's);
//! - a service-to-service traffic matrix whose pods spread over zones, so
//!   most of it crosses AZs;
//! - 7 days of usage per container every 15 minutes, mostly well below the
//!   requests, with a weekday business-hours peak.
//!
//! Same [`DemoConfig`], same environment, byte for byte.

mod jittered;
pub(crate) mod rng;
mod synthetic;
mod underutilized;

pub use jittered::{jitter, shaped_pods, PodMix};
pub use synthetic::{synthetic_cluster, synthetic_pods};
pub use underutilized::underutilized_cluster;

use std::collections::BTreeMap;

use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};

use self::rng::Rng;
use crate::catalog::{Catalog, InstanceType};
use crate::eks;
use crate::inventory::{
    tags, AutoScalingGroup, AwsInventory, Instance, InstanceState, Tags, Volume, VolumeState,
};
use crate::resources::Resources;
use crate::snapshot::{
    node_labels, CapacityType, ClaimPhase, ClusterSnapshot, Container, ContainerStatus,
    IntOrPercent, LabelSelector, Labels, Limits, Node, NodeAffinity, ObjectRef, OwnerRef,
    PersistentVolume, PersistentVolumeClaim, Pod, PodAffinity, PodAffinityTerm,
    PodDisruptionBudget, PodPhase, PodTemplate, PodVolume, ReclaimPolicy, Taint, TaintEffect,
    Termination, Toleration, TolerationOperator, TopologySpreadConstraint, VolumePhase,
    VolumeSource, WhenUnsatisfiable, Workload, WorkloadKind,
};
use crate::traffic::{ServiceRef, TrafficFlow, TrafficMatrix, BYTES_PER_GB};
use crate::usage::{ContainerUsage, UsageHistory};

const MIB: u64 = 1 << 20;
const GIB: u64 = 1 << 30;
const REGION: &str = "us-east-1";
const ZONES: [&str; 3] = ["us-east-1a", "us-east-1b", "us-east-1c"];
const ROOT_VOLUME_BYTES: u64 = 80 * GIB;
/// Seconds between usage samples.
pub const USAGE_INTERVAL_SECONDS: u32 = 900;
/// Days of usage history.
pub const USAGE_DAYS: u32 = 7;

/// What to generate.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DemoConfig {
    /// Seed of every random choice.
    pub seed: u64,
    /// The instant the snapshot is taken; everything else is dated before it.
    pub now: Timestamp,
    /// EKS cluster name.
    pub cluster_name: String,
}

impl Default for DemoConfig {
    /// Seed 2026, taken Monday 2026-11-23 15:00 UTC, cluster `shop-prod-use1`.
    fn default() -> Self {
        DemoConfig {
            seed: 2026,
            now: Timestamp::from_second(1_795_446_000).unwrap_or(Timestamp::UNIX_EPOCH),
            cluster_name: "shop-prod-use1".into(),
        }
    }
}

/// A cluster, its account, its traffic and its usage history.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DemoEnvironment {
    /// How it was generated.
    pub config: DemoConfig,
    /// Region of the cluster and the account.
    pub region: String,
    /// The cluster.
    pub snapshot: ClusterSnapshot,
    /// The account: instances, volumes and Auto Scaling groups.
    pub aws: AwsInventory,
    /// Service-to-service traffic.
    pub traffic: TrafficMatrix,
    /// Per-container usage over the last [`USAGE_DAYS`] days.
    pub usage: UsageHistory,
}

/// Why the demo could not be generated from a catalog.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DemoError {
    /// The catalog lacks an instance type, or its us-east-1 price, the demo uses.
    #[error("the catalog has no us-east-1 on-demand price for instance type {0}")]
    MissingInstanceType(String),
}

/// A managed node group: its name, instance types, how often it is chosen,
/// and the minimum of its Auto Scaling group in percent of its size.
struct NodeGroup {
    name: &'static str,
    instance_types: &'static [&'static str],
    weight: u32,
    min_percent: u32,
}

const NODE_GROUPS: [NodeGroup; 4] = [
    NodeGroup {
        name: "general",
        instance_types: &[
            "m5.2xlarge",
            "m5.4xlarge",
            "m6i.2xlarge",
            "m6i.4xlarge",
            "m5.xlarge",
        ],
        weight: 6,
        min_percent: 30,
    },
    NodeGroup {
        name: "compute",
        instance_types: &["c5.2xlarge", "c5.4xlarge", "c6i.4xlarge"],
        weight: 2,
        min_percent: 50,
    },
    NodeGroup {
        name: "memory",
        instance_types: &["r5.xlarge", "r5.2xlarge", "r6i.2xlarge"],
        weight: 2,
        min_percent: 100,
    },
    NodeGroup {
        name: "system",
        instance_types: &["m5.large", "t3.xlarge"],
        weight: 1,
        min_percent: 34,
    },
];

const PROD_SERVICES: [&str; 30] = [
    "gateway",
    "frontend",
    "checkout",
    "cart",
    "payments",
    "catalog",
    "search",
    "recommendations",
    "auth",
    "users",
    "orders",
    "inventory",
    "shipping",
    "notifications",
    "email",
    "pricing",
    "reviews",
    "admin",
    "billing",
    "ledger",
    "fraud-model",
    "analytics",
    "media",
    "thumbnails",
    "feed",
    "sessions",
    "config",
    "audit",
    "loyalty",
    "returns",
];

/// How a workload is generated.
#[derive(Clone)]
struct Spec {
    namespace: &'static str,
    name: String,
    kind: WorkloadKind,
    replicas: u32,
    containers: Vec<Container>,
    init_containers: Vec<Container>,
    annotations: Labels,
    node_selector: Labels,
    tolerations: Vec<Toleration>,
    spread_zones: bool,
    anti_affinity_hostname: bool,
    empty_dir: bool,
    volume_gib: Option<u32>,
    priority: i32,
    priority_class: Option<&'static str>,
    oom_pods: u32,
    cpu_use: f64,
    memory_use: f64,
}

impl Spec {
    fn new(namespace: &'static str, name: &str, kind: WorkloadKind, replicas: u32) -> Spec {
        Spec {
            namespace,
            name: name.to_owned(),
            kind,
            replicas,
            containers: Vec::new(),
            init_containers: Vec::new(),
            annotations: Labels::new(),
            node_selector: Labels::new(),
            tolerations: Vec::new(),
            spread_zones: false,
            anti_affinity_hostname: false,
            empty_dir: false,
            volume_gib: None,
            priority: 0,
            priority_class: None,
            oom_pods: 0,
            cpu_use: 0.3,
            memory_use: 0.5,
        }
    }

    fn labels(&self) -> Labels {
        labels(&[("app", &self.name), ("app.kubernetes.io/name", &self.name)])
    }
}

fn labels(pairs: &[(&str, &str)]) -> Labels {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn container(name: &str, cpu_millis: u64, memory_bytes: u64, limits: Limits) -> Container {
    Container {
        name: name.to_owned(),
        requests: Resources {
            cpu_millis,
            memory_bytes,
            ..Resources::ZERO
        },
        limits,
        sidecar: false,
    }
}

/// A stable, UUID-shaped `metadata.uid` for a demo object, derived from its
/// namespace and name (FNV-1a), so that it draws nothing from the seeded
/// random stream and the rest of the demo stays as it was.
fn demo_uid(namespace: &str, name: &str) -> String {
    let fnv = |salt: u8| {
        [salt, b'/']
            .iter()
            .chain(namespace.as_bytes())
            .chain(b"/")
            .chain(name.as_bytes())
            .fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
                (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3)
            })
    };
    let (a, b) = (fnv(1), fnv(2));
    format!(
        "{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0xfff,
        b >> 52,
        b & 0xffff_ffff_ffff
    )
}

fn ago(now: Timestamp, seconds: u64) -> Timestamp {
    now.checked_sub(SignedDuration::from_secs(
        i64::try_from(seconds).unwrap_or(0),
    ))
    .unwrap_or(now)
}

/// Tolerate everything, as DaemonSets do.
fn tolerate_all() -> Vec<Toleration> {
    vec![Toleration {
        operator: TolerationOperator::Exists,
        ..Default::default()
    }]
}

impl DemoEnvironment {
    /// Generate the demo environment. The catalog supplies instance facts
    /// and prices; [`Catalog::embedded`] is the usual choice.
    pub fn generate(config: &DemoConfig, catalog: &Catalog) -> Result<DemoEnvironment, DemoError> {
        let mut g = Generator {
            rng: Rng::new(config.seed),
            now: config.now,
            cluster: config.cluster_name.clone(),
            catalog,
            snapshot: ClusterSnapshot::default(),
            aws: AwsInventory {
                region: REGION.into(),
                ..Default::default()
            },
            usage: UsageHistory {
                start: Some(ago(config.now, u64::from(USAGE_DAYS) * 86_400)),
                interval_seconds: USAGE_INTERVAL_SECONDS,
                containers: Vec::new(),
            },
            use_by_pod: BTreeMap::new(),
        };
        let specs = g.workload_specs();
        g.build(&specs)?;
        let traffic = g.traffic(&specs);
        g.usage_history();
        Ok(DemoEnvironment {
            config: config.clone(),
            region: REGION.into(),
            snapshot: g.snapshot,
            aws: g.aws,
            traffic,
            usage: g.usage,
        })
    }
}

struct Generator<'a> {
    rng: Rng,
    now: Timestamp,
    cluster: String,
    catalog: &'a Catalog,
    snapshot: ClusterSnapshot,
    aws: AwsInventory,
    usage: UsageHistory,
    /// (cpu use fraction, memory use fraction, OOM-prone) per pod index.
    use_by_pod: BTreeMap<usize, (f64, f64, bool)>,
}

/// A node being filled during placement.
struct Slot {
    free: Resources,
    zone: usize,
    group: &'static str,
    leftover: bool,
    workloads: Vec<String>,
}

impl<'a> Generator<'a> {
    fn instance_type(&self, name: &str) -> Result<&'a InstanceType, DemoError> {
        let catalog: &'a Catalog = self.catalog;
        catalog
            .get(name)
            .filter(|t| t.on_demand_usd_per_hour(REGION).is_some())
            .ok_or_else(|| DemoError::MissingInstanceType(name.to_owned()))
    }

    fn app_container(
        &mut self,
        name: &str,
        cpu_choices: &[u64],
        memory_mib_choices: &[u64],
    ) -> Container {
        let cpu = *self.rng.pick(cpu_choices);
        let memory = *self.rng.pick(memory_mib_choices) * MIB;
        let limits = Limits {
            cpu_millis: self.rng.chance(0.4).then_some(cpu * 2),
            memory_bytes: Some(if self.rng.chance(0.5) {
                memory
            } else {
                memory * 3 / 2
            }),
            ..Limits::default()
        };
        container(name, cpu, memory, limits)
    }

    fn workload_specs(&mut self) -> Vec<Spec> {
        let mut specs = Vec::new();
        let sidecar = |rng: &mut Rng| {
            rng.chance(0.45).then(|| {
                container(
                    "envoy",
                    50,
                    64 * MIB,
                    Limits {
                        cpu_millis: Some(500),
                        memory_bytes: Some(256 * MIB),
                        ..Limits::default()
                    },
                )
            })
        };
        for (i, name) in PROD_SERVICES.iter().enumerate() {
            let replicas = match i {
                0..=2 => self.rng.range(30, 60),
                3..=12 => self.rng.range(12, 40),
                _ => self.rng.range(4, 24),
            } as u32;
            let mut s = Spec::new("prod", name, WorkloadKind::Deployment, replicas);
            let app = self.app_container(
                name,
                &[100, 200, 250, 300, 500, 750, 1000],
                &[256, 384, 512, 768, 1024, 1536, 2048],
            );
            s.containers.push(app);
            s.containers.extend(sidecar(&mut self.rng));
            s.spread_zones = i < 12;
            s.cpu_use = self.rng.between(0.08, 0.45);
            s.memory_use = self.rng.between(0.3, 0.65);
            match *name {
                "ledger" => {
                    s.annotations
                        .insert("cloudoptim.io/do-not-disrupt".into(), "true".into());
                }
                "fraud-model" => {
                    s.annotations
                        .insert("karpenter.sh/do-not-disrupt".into(), "true".into());
                }
                "thumbnails" | "media" => s.empty_dir = true,
                "recommendations" | "search" => {
                    s.oom_pods = 2;
                    s.node_selector
                        .insert("eks.amazonaws.com/nodegroup".into(), "memory".into());
                }
                "analytics" => {
                    s.init_containers
                        .push(container("migrate", 500, 512 * MIB, Limits::default()));
                }
                _ => {}
            }
            specs.push(s);
        }
        for (name, replicas, gib, cpu, mem_gib) in [
            ("postgres", 3, 200, 2000, 8),
            ("redis", 3, 20, 500, 4),
            ("kafka", 3, 500, 1000, 6),
        ] {
            let mut s = Spec::new("prod", name, WorkloadKind::StatefulSet, replicas);
            s.containers.push(container(
                name,
                cpu,
                mem_gib * GIB,
                Limits {
                    cpu_millis: Some(cpu),
                    memory_bytes: Some(mem_gib * GIB),
                    ..Limits::default()
                },
            ));
            s.anti_affinity_hostname = true;
            s.volume_gib = Some(gib);
            s.cpu_use = self.rng.between(0.2, 0.5);
            s.memory_use = self.rng.between(0.5, 0.8);
            specs.push(s);
        }
        for name in ["report-nightly", "billing-export"] {
            let mut s = Spec::new("prod", name, WorkloadKind::CronJob, 1);
            s.containers
                .push(container(name, 1000, 2 * GIB, Limits::default()));
            specs.push(s);
        }
        // One pod nothing can hold: a batch job asking for 96 cores.
        let mut big = Spec::new("prod", "ml-batch", WorkloadKind::Deployment, 1);
        big.containers
            .push(container("trainer", 96_000, 64 * GIB, Limits::default()));
        specs.push(big);

        for (namespace, count, replica_range, use_range) in [
            ("staging", 18usize, (2u64, 10u64), (0.03, 0.2)),
            ("dev", 14, (1, 4), (0.02, 0.15)),
        ] {
            for name in PROD_SERVICES.iter().take(count) {
                let replicas = self.rng.range(replica_range.0, replica_range.1) as u32;
                let mut s = Spec::new(namespace, name, WorkloadKind::Deployment, replicas);
                let app = self.app_container(name, &[100, 250, 500, 1000], &[256, 512, 1024, 2048]);
                s.containers.push(app);
                s.cpu_use = self.rng.between(use_range.0, use_range.1);
                s.memory_use = self.rng.between(0.25, 0.5);
                if namespace == "staging" && *name == "orders" {
                    s.oom_pods = 1;
                }
                specs.push(s);
            }
        }
        let mut pg = Spec::new("staging", "postgres", WorkloadKind::StatefulSet, 1);
        pg.containers
            .push(container("postgres", 1000, 4 * GIB, Limits::default()));
        pg.volume_gib = Some(50);
        specs.push(pg);
        let mut cleanup = Spec::new("dev", "cleanup", WorkloadKind::CronJob, 1);
        cleanup
            .containers
            .push(container("cleanup", 100, 128 * MIB, Limits::default()));
        specs.push(cleanup);

        // Cluster add-ons.
        let mut coredns = Spec::new("kube-system", "coredns", WorkloadKind::Deployment, 2);
        coredns.containers.push(container(
            "coredns",
            100,
            70 * MIB,
            Limits {
                memory_bytes: Some(170 * MIB),
                ..Limits::default()
            },
        ));
        coredns.priority = 2_000_000_000;
        coredns.priority_class = Some("system-cluster-critical");
        coredns.anti_affinity_hostname = true;
        specs.push(coredns);
        for (ns, name, replicas, cpu, mem_mib) in [
            ("kube-system", "ebs-csi-controller", 2, 60, 240),
            ("kube-system", "metrics-server", 1, 100, 200),
            ("monitoring", "grafana", 1, 250, 512),
            ("monitoring", "kube-state-metrics", 1, 100, 256),
        ] {
            let mut s = Spec::new(ns, name, WorkloadKind::Deployment, replicas);
            s.containers
                .push(container(name, cpu, mem_mib * MIB, Limits::default()));
            specs.push(s);
        }
        let mut prometheus = Spec::new("monitoring", "prometheus", WorkloadKind::StatefulSet, 1);
        prometheus
            .containers
            .push(container("prometheus", 1000, 8 * GIB, Limits::default()));
        prometheus.volume_gib = Some(100);
        prometheus.memory_use = 0.7;
        specs.push(prometheus);
        for (ns, name, cpu, mem_mib) in [
            ("kube-system", "aws-node", 25, 0),
            ("kube-system", "kube-proxy", 100, 0),
            ("kube-system", "ebs-csi-node", 30, 120),
            ("monitoring", "node-exporter", 50, 64),
        ] {
            let mut s = Spec::new(ns, name, WorkloadKind::DaemonSet, 0);
            s.containers
                .push(container(name, cpu, mem_mib * MIB, Limits::default()));
            s.tolerations = tolerate_all();
            s.priority = 2_000_001_000;
            s.priority_class = Some("system-node-critical");
            s.cpu_use = 0.5;
            specs.push(s);
        }
        specs
    }

    /// Nodes, placement, pods, workloads, PDBs, storage and instances.
    fn build(&mut self, specs: &[Spec]) -> Result<(), DemoError> {
        let daemon: Resources = specs
            .iter()
            .filter(|s| s.kind == WorkloadKind::DaemonSet)
            .fold(Resources::ZERO, |acc, s| {
                acc.saturating_add(pod_requests(s))
            });
        let needed = specs
            .iter()
            .filter(|s| !matches!(s.kind, WorkloadKind::DaemonSet | WorkloadKind::CronJob))
            .filter(|s| s.name != "ml-batch")
            .fold(Resources::ZERO, |acc, s| {
                acc.saturating_add(
                    pod_requests(s)
                        .checked_mul(u64::from(s.replicas))
                        .unwrap_or(acc),
                )
            });

        // Node groups grow until requests fill about half of what they offer.
        let mut slots: Vec<Slot> = Vec::new();
        let mut offered = Resources::ZERO;
        let weights: Vec<&NodeGroup> = NODE_GROUPS
            .iter()
            .flat_map(|g| std::iter::repeat_n(g, g.weight as usize))
            .collect();
        while offered.cpu_millis < needed.cpu_millis * 2
            || offered.memory_bytes < needed.memory_bytes * 2
        {
            let group = *self.rng.pick(&weights);
            let type_name = *self.rng.pick(group.instance_types);
            let it = self.instance_type(type_name)?;
            let allocatable = eks::node_allocatable(it, ROOT_VOLUME_BYTES);
            let zone = slots.len() % ZONES.len();
            offered = offered.saturating_add(allocatable.saturating_sub(daemon));
            let name = self.add_node(it, group.name, zone)?;
            slots.push(Slot {
                free: allocatable.saturating_sub(daemon),
                zone,
                group: group.name,
                leftover: false,
                workloads: vec![name],
            });
        }
        // Leftovers of an old scale-up: a few more nodes that stay nearly empty.
        for i in 0..5 {
            let it = self.instance_type(if i % 2 == 0 {
                "m5.4xlarge"
            } else {
                "c5.4xlarge"
            })?;
            let allocatable = eks::node_allocatable(it, ROOT_VOLUME_BYTES);
            let zone = i % ZONES.len();
            let name = self.add_node(it, if i % 2 == 0 { "general" } else { "compute" }, zone)?;
            slots.push(Slot {
                free: allocatable.saturating_sub(daemon),
                zone,
                group: if i % 2 == 0 { "general" } else { "compute" },
                leftover: true,
                workloads: vec![name],
            });
        }
        // One node someone cordoned by hand and forgot.
        let cordoned = self.rng.range(0, slots.len() as u64 / 2) as usize;
        if let Some(node) = self.snapshot.nodes.get_mut(cordoned) {
            node.unschedulable = true;
            node.taints.push(Taint {
                key: "node.kubernetes.io/unschedulable".into(),
                value: None,
                effect: TaintEffect::NoSchedule,
            });
        }

        for spec in specs {
            self.add_workload(spec, &mut slots, cordoned)?;
        }
        // A pod someone started by hand to debug and never deleted.
        let debug_node = self.snapshot.nodes.get(1).map(|n| n.name.clone());
        let debug = self.pod(
            "dev",
            "debug-shell",
            None,
            &Spec {
                containers: vec![container("shell", 0, 0, Limits::default())],
                ..Spec::new("dev", "debug-shell", WorkloadKind::Deployment, 1)
            },
            debug_node,
            PodPhase::Running,
            86_400 * 12,
        );
        self.use_by_pod
            .insert(self.snapshot.pods.len(), (0.0, 0.0, false));
        self.snapshot.pods.push(debug);

        self.snapshot.resolve_owners();
        self.orphan_volumes();
        self.other_instances();
        self.auto_scaling_groups();
        Ok(())
    }

    fn add_node(
        &mut self,
        it: &InstanceType,
        group: &str,
        zone: usize,
    ) -> Result<String, DemoError> {
        let index = self.snapshot.nodes.len();
        let octet = zone * 64 + 2 + (index / ZONES.len()) % 60;
        let host = self.rng.range(4, 250);
        let name = format!("ip-10-0-{octet}-{host}.ec2.internal");
        let instance_id = format!("i-0{}", self.rng.hex(16));
        let zone_name = ZONES[zone];
        let age_seconds = self.rng.range(86_400 * 2, 86_400 * 60);
        let created_at = ago(self.now, age_seconds);
        let node_label_map = labels(&[
            (node_labels::HOSTNAME, &name),
            (node_labels::INSTANCE_TYPE, &it.name),
            (node_labels::INSTANCE_TYPE_BETA, &it.name),
            (node_labels::ZONE, zone_name),
            (node_labels::REGION, REGION),
            ("topology.ebs.csi.aws.com/zone", zone_name),
            (node_labels::ARCH, it.architecture.kubernetes_name()),
            (node_labels::OS, "linux"),
            (
                node_labels::EKS_CAPACITY_TYPE,
                CapacityType::OnDemand.eks_label(),
            ),
            ("eks.amazonaws.com/nodegroup", group),
        ]);
        let mut node = Node {
            name: name.clone(),
            provider_id: Some(format!("aws:///{zone_name}/{instance_id}")),
            instance_id: None,
            instance_type: None,
            zone: None,
            region: None,
            capacity_type: CapacityType::Unknown,
            labels: node_label_map,
            annotations: labels(&[(
                "alpha.kubernetes.io/provided-node-ip",
                &format!("10.0.{octet}.{host}"),
            )]),
            taints: Vec::new(),
            capacity: eks::node_capacity(it, ROOT_VOLUME_BYTES),
            allocatable: eks::node_allocatable(it, ROOT_VOLUME_BYTES),
            created_at: Some(created_at),
            unschedulable: false,
            ready: true,
        };
        node.derive_from_labels();
        self.snapshot.nodes.push(node);

        let mut instance_tags = self.node_group_tags(group);
        instance_tags.insert("Name".into(), format!("{}-{group}", self.cluster));
        self.aws.instances.push(Instance {
            instance_id: instance_id.clone(),
            instance_type: it.name.clone(),
            zone: zone_name.into(),
            state: InstanceState::Running,
            capacity_type: CapacityType::OnDemand,
            launched_at: created_at,
            private_dns_name: Some(name.clone()),
            tags: instance_tags,
        });
        self.aws.volumes.push(Volume {
            volume_id: format!("vol-0{}", self.rng.hex(16)),
            size_gib: (ROOT_VOLUME_BYTES / GIB) as u32,
            volume_type: "gp3".into(),
            iops: Some(3_000),
            throughput_mib_per_second: Some(125),
            zone: zone_name.into(),
            state: VolumeState::InUse,
            attached_instance_ids: vec![instance_id],
            created_at,
            tags: self.cluster_tags(),
        });
        Ok(name)
    }

    /// Tags of an instance launched by a node group's Auto Scaling group.
    fn node_group_tags(&self, group: &str) -> Tags {
        let mut t = self.cluster_tags();
        t.insert(tags::EKS_NODEGROUP_NAME.into(), group.to_owned());
        t.insert(
            tags::AUTOSCALING_GROUP_NAME.into(),
            auto_scaling_group_name(&self.cluster, group),
        );
        t
    }

    /// One Auto Scaling group per node group, holding the instances its
    /// tags name (the ghost included). Draws nothing from the generator.
    fn auto_scaling_groups(&mut self) {
        for g in &NODE_GROUPS {
            let name = auto_scaling_group_name(&self.cluster, g.name);
            let instance_ids: Vec<String> = self
                .aws
                .instances
                .iter()
                .filter(|i| i.tags.get(tags::AUTOSCALING_GROUP_NAME) == Some(&name))
                .map(|i| i.instance_id.clone())
                .collect();
            let desired = u32::try_from(instance_ids.len()).unwrap_or(u32::MAX);
            if desired == 0 {
                continue;
            }
            let min_size = desired
                .saturating_mul(g.min_percent)
                .div_ceil(100)
                .clamp(1, desired);
            let mut group_tags = self.cluster_tags();
            group_tags.insert(tags::EKS_NODEGROUP_NAME.into(), g.name.into());
            group_tags.insert("k8s.io/cluster-autoscaler/enabled".into(), "true".into());
            group_tags.insert(
                format!("k8s.io/cluster-autoscaler/{}", self.cluster),
                "owned".into(),
            );
            self.aws.auto_scaling_groups.push(AutoScalingGroup {
                name,
                min_size,
                max_size: desired.saturating_mul(2),
                desired_capacity: desired,
                instance_ids,
                lifecycle_wait_instance_ids: Vec::new(),
                tags: group_tags,
            });
        }
    }

    fn cluster_tags(&self) -> Tags {
        let mut t = Tags::new();
        t.insert(
            format!("{}{}", tags::CLUSTER_PREFIX, self.cluster),
            "owned".into(),
        );
        t.insert(tags::EKS_CLUSTER_NAME.into(), self.cluster.clone());
        t
    }

    /// Choose a node for one pod of `spec`, or none if nothing fits.
    fn place(
        &mut self,
        spec: &Spec,
        ordinal: u32,
        slots: &mut [Slot],
        cordoned: usize,
    ) -> Option<usize> {
        let need = pod_requests(spec);
        let want_zone = spec.spread_zones.then_some(ordinal as usize % ZONES.len());
        let small = need.cpu_millis <= 250 && spec.namespace == "dev";
        let mut best: Option<(usize, u64)> = None;
        for (i, slot) in slots.iter().enumerate() {
            let fits = need.fits_within(&slot.free)
                && i != cordoned
                && want_zone.is_none_or(|z| z == slot.zone)
                && (!slot.leftover || (small && self.rng.chance(0.3)))
                && spec
                    .node_selector
                    .get("eks.amazonaws.com/nodegroup")
                    .is_none_or(|g| g == slot.group)
                && !(spec.anti_affinity_hostname && slot.workloads.contains(&spec.name));
            if !fits {
                continue;
            }
            // Least allocated first, as the default scheduler scores.
            let score = slot.free.cpu_millis / 10 + slot.free.memory_bytes / (16 * MIB);
            if best.is_none_or(|(_, s)| score > s) {
                best = Some((i, score));
            }
        }
        let (i, _) = best?;
        let slot = &mut slots[i];
        slot.free = slot.free.saturating_sub(need);
        slot.workloads.push(spec.name.clone());
        Some(i)
    }

    fn add_workload(
        &mut self,
        spec: &Spec,
        slots: &mut [Slot],
        cordoned: usize,
    ) -> Result<(), DemoError> {
        let age = self.rng.range(86_400 * 3, 86_400 * 200);
        let created = ago(self.now, age);
        let selector = LabelSelector {
            match_labels: spec.labels(),
            match_expressions: vec![],
        };
        let template = PodTemplate {
            labels: spec.labels(),
            annotations: spec.annotations.clone(),
            containers: spec.containers.clone(),
            init_containers: spec.init_containers.clone(),
            node_selector: spec.node_selector.clone(),
            node_affinity: NodeAffinity::default(),
            tolerations: spec.tolerations.clone(),
            priority_class_name: spec.priority_class.map(str::to_owned),
        };
        let workload =
            |kind, name: &str, owner: Option<OwnerRef>, replicas, selector: LabelSelector| {
                Workload {
                    kind,
                    namespace: spec.namespace.to_owned(),
                    name: name.to_owned(),
                    owner,
                    replicas,
                    ready_replicas: replicas,
                    selector,
                    template: template.clone(),
                    labels: spec.labels(),
                    annotations: Labels::new(),
                    schedule: None,
                    suspend: false,
                    created_at: Some(created),
                }
            };
        match spec.kind {
            WorkloadKind::Deployment => {
                let rs_name = format!("{}-{}", spec.name, self.rng.suffix(10));
                let hash = rs_name.rsplit('-').next().unwrap_or("").to_owned();
                self.snapshot.workloads.push(workload(
                    WorkloadKind::Deployment,
                    &spec.name,
                    None,
                    Some(spec.replicas),
                    selector.clone(),
                ));
                let mut rs_selector = selector.clone();
                rs_selector
                    .match_labels
                    .insert("pod-template-hash".into(), hash.clone());
                self.snapshot.workloads.push(workload(
                    WorkloadKind::ReplicaSet,
                    &rs_name,
                    Some(OwnerRef {
                        kind: "Deployment".into(),
                        name: spec.name.clone(),
                    }),
                    Some(spec.replicas),
                    rs_selector,
                ));
                let owner = OwnerRef {
                    kind: "ReplicaSet".into(),
                    name: rs_name.clone(),
                };
                for i in 0..spec.replicas {
                    let name = format!("{rs_name}-{}", self.rng.suffix(5));
                    let mut extra = labels(&[("pod-template-hash", &hash)]);
                    if spec.name == "ml-batch" {
                        extra.clear();
                    }
                    self.add_pod(spec, &name, &owner, i, slots, cordoned, extra);
                }
            }
            WorkloadKind::StatefulSet => {
                self.snapshot.workloads.push(workload(
                    WorkloadKind::StatefulSet,
                    &spec.name,
                    None,
                    Some(spec.replicas),
                    selector,
                ));
                let owner = OwnerRef {
                    kind: "StatefulSet".into(),
                    name: spec.name.clone(),
                };
                for i in 0..spec.replicas {
                    let name = format!("{}-{i}", spec.name);
                    self.add_pod(spec, &name, &owner, i, slots, cordoned, Labels::new());
                }
            }
            WorkloadKind::DaemonSet => {
                self.snapshot.workloads.push(workload(
                    WorkloadKind::DaemonSet,
                    &spec.name,
                    None,
                    None,
                    selector,
                ));
                let owner = OwnerRef {
                    kind: "DaemonSet".into(),
                    name: spec.name.clone(),
                };
                let nodes: Vec<String> =
                    self.snapshot.nodes.iter().map(|n| n.name.clone()).collect();
                for node in nodes {
                    let name = format!("{}-{}", spec.name, self.rng.suffix(5));
                    let pod = self.pod(
                        spec.namespace,
                        &name,
                        Some(&owner),
                        spec,
                        Some(node),
                        PodPhase::Running,
                        age,
                    );
                    self.use_by_pod.insert(
                        self.snapshot.pods.len(),
                        (spec.cpu_use, spec.memory_use, false),
                    );
                    self.snapshot.pods.push(pod);
                }
                if let Some(w) = self.snapshot.workloads.last_mut() {
                    w.ready_replicas = Some(self.snapshot.nodes.len() as u32);
                }
            }
            WorkloadKind::CronJob => {
                let mut cron = workload(
                    WorkloadKind::CronJob,
                    &spec.name,
                    None,
                    None,
                    LabelSelector::default(),
                );
                cron.schedule = Some(
                    if spec.namespace == "dev" {
                        "0 3 * * *"
                    } else {
                        "30 2 * * *"
                    }
                    .into(),
                );
                self.snapshot.workloads.push(cron);
                // Its last run: a Job that finished this morning, and its Succeeded pod.
                let job_name = format!("{}-{}", spec.name, 29_000_000 + self.rng.range(0, 999_999));
                let job_selector = LabelSelector {
                    match_labels: labels(&[("job-name", &job_name)]),
                    match_expressions: vec![],
                };
                let mut job = workload(
                    WorkloadKind::Job,
                    &job_name,
                    Some(OwnerRef {
                        kind: "CronJob".into(),
                        name: spec.name.clone(),
                    }),
                    Some(1),
                    job_selector,
                );
                job.ready_replicas = None;
                self.snapshot.workloads.push(job);
                let pod_name = format!("{job_name}-{}", self.rng.suffix(5));
                let node = self.snapshot.nodes.get(2).map(|n| n.name.clone());
                let mut pod = self.pod(
                    spec.namespace,
                    &pod_name,
                    Some(&OwnerRef {
                        kind: "Job".into(),
                        name: job_name.clone(),
                    }),
                    spec,
                    node,
                    PodPhase::Succeeded,
                    3600 * 12,
                );
                pod.labels.insert("job-name".into(), job_name);
                for status in &mut pod.container_statuses {
                    status.ready = false;
                    status.terminated = Some(Termination {
                        reason: Some("Completed".into()),
                        exit_code: 0,
                        finished_at: Some(ago(self.now, 3600 * 11)),
                    });
                }
                self.use_by_pod
                    .insert(self.snapshot.pods.len(), (0.0, 0.0, false));
                self.snapshot.pods.push(pod);
            }
            WorkloadKind::ReplicaSet | WorkloadKind::Job => {}
        }
        self.pdb_for(spec);
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn add_pod(
        &mut self,
        spec: &Spec,
        name: &str,
        owner: &OwnerRef,
        ordinal: u32,
        slots: &mut [Slot],
        cordoned: usize,
        extra_labels: Labels,
    ) {
        let slot = self.place(spec, ordinal, slots, cordoned);
        let node = slot
            .and_then(|i| self.snapshot.nodes.get(i))
            .map(|n| n.name.clone());
        let zone = slot.and_then(|i| slots.get(i)).map(|s| ZONES[s.zone]);
        let phase = if node.is_some() {
            PodPhase::Running
        } else {
            PodPhase::Pending
        };
        let age = self.rng.range(3600, 86_400 * 20);
        let mut pod = self.pod(
            spec.namespace,
            name,
            Some(owner),
            spec,
            node.clone(),
            phase,
            age,
        );
        pod.labels.extend(extra_labels);
        let oom = ordinal < spec.oom_pods;
        if oom {
            if let Some(status) = pod.container_statuses.first_mut() {
                status.restart_count = 2 + (self.rng.range(0, 7) as u32);
                status.last_termination = Some(Termination {
                    reason: Some("OOMKilled".into()),
                    exit_code: 137,
                    finished_at: Some(ago(self.now, self.rng.range(600, 86_400))),
                });
            }
        }
        if let (Some(gib), Some(zone), Some(node)) = (spec.volume_gib, zone, node.as_deref()) {
            let claim = format!("data-{name}");
            pod.volumes.push(PodVolume {
                name: "data".into(),
                source: VolumeSource::PersistentVolumeClaim {
                    claim_name: claim.clone(),
                },
            });
            self.add_claim(spec.namespace, &claim, gib, zone, node, pod.created_at);
        }
        self.use_by_pod.insert(
            self.snapshot.pods.len(),
            (
                spec.cpu_use * self.rng.between(0.8, 1.2),
                spec.memory_use,
                oom,
            ),
        );
        self.snapshot.pods.push(pod);
    }

    #[allow(clippy::too_many_arguments)]
    fn pod(
        &mut self,
        namespace: &str,
        name: &str,
        owner: Option<&OwnerRef>,
        spec: &Spec,
        node: Option<String>,
        phase: PodPhase,
        age_seconds: u64,
    ) -> Pod {
        let mut volumes = vec![PodVolume {
            name: "kube-api-access".into(),
            source: VolumeSource::Other {
                kind: "projected".into(),
            },
        }];
        if spec.empty_dir {
            volumes.push(PodVolume {
                name: "scratch".into(),
                source: VolumeSource::EmptyDir {
                    in_memory: false,
                    size_limit_bytes: Some(10 * GIB),
                },
            });
        }
        let running = phase == PodPhase::Running;
        let mut pod_affinity = PodAffinity::default();
        if spec.anti_affinity_hostname {
            pod_affinity.anti_required.push(PodAffinityTerm {
                label_selector: Some(LabelSelector {
                    match_labels: labels(&[("app", &spec.name)]),
                    match_expressions: vec![],
                }),
                namespaces: vec![],
                namespace_selector: None,
                topology_key: node_labels::HOSTNAME.into(),
                weight: None,
            });
        }
        let topology_spread = if spec.spread_zones {
            vec![TopologySpreadConstraint {
                max_skew: 1,
                topology_key: node_labels::ZONE.into(),
                when_unsatisfiable: WhenUnsatisfiable::DoNotSchedule,
                label_selector: Some(LabelSelector {
                    match_labels: labels(&[("app", &spec.name)]),
                    match_expressions: vec![],
                }),
                min_domains: None,
            }]
        } else {
            vec![]
        };
        Pod {
            namespace: namespace.to_owned(),
            name: name.to_owned(),
            uid: Some(demo_uid(namespace, name)),
            controller: owner.cloned(),
            owner: None,
            node_name: node,
            phase,
            priority: spec.priority,
            priority_class_name: spec.priority_class.map(str::to_owned),
            containers: spec.containers.clone(),
            init_containers: spec.init_containers.clone(),
            overhead: Resources::ZERO,
            labels: spec.labels(),
            annotations: spec.annotations.clone(),
            tolerations: spec.tolerations.clone(),
            node_selector: spec.node_selector.clone(),
            node_affinity: NodeAffinity::default(),
            pod_affinity,
            topology_spread,
            volumes,
            container_statuses: spec
                .containers
                .iter()
                .map(|c| ContainerStatus {
                    name: c.name.clone(),
                    restart_count: 0,
                    ready: running,
                    terminated: None,
                    waiting_reason: None,
                    last_termination: None,
                })
                .filter(|_| phase != PodPhase::Pending)
                .collect(),
            created_at: Some(ago(self.now, age_seconds)),
        }
    }

    fn pdb_for(&mut self, spec: &Spec) {
        let (min_available, max_unavailable) = match (spec.namespace, spec.kind) {
            ("prod", WorkloadKind::StatefulSet) => (None, Some(IntOrPercent::Count(0))),
            ("prod", WorkloadKind::Deployment) if spec.name == "ledger" => {
                (Some(IntOrPercent::Percent(100)), None)
            }
            ("prod", WorkloadKind::Deployment) if spec.replicas >= 6 => {
                if self.rng.chance(0.5) {
                    (Some(IntOrPercent::Percent(50)), None)
                } else {
                    (None, Some(IntOrPercent::Count(1)))
                }
            }
            ("kube-system", WorkloadKind::Deployment) if spec.name == "coredns" => {
                (None, Some(IntOrPercent::Count(1)))
            }
            _ => return,
        };
        let expected = spec.replicas;
        let desired = match (min_available, max_unavailable) {
            (Some(m), _) => m.resolve(expected),
            (None, Some(m)) => expected.saturating_sub(m.resolve(expected)),
            (None, None) => 0,
        };
        self.snapshot.pdbs.push(PodDisruptionBudget {
            namespace: spec.namespace.into(),
            name: format!("{}-pdb", spec.name),
            selector: Some(LabelSelector {
                match_labels: labels(&[("app", &spec.name)]),
                match_expressions: vec![],
            }),
            min_available,
            max_unavailable,
            disruptions_allowed: expected.saturating_sub(desired),
            current_healthy: expected,
            desired_healthy: desired,
            expected_pods: expected,
            labels: Labels::new(),
        });
    }

    fn add_claim(
        &mut self,
        namespace: &str,
        claim: &str,
        gib: u32,
        zone: &str,
        node: &str,
        created: Option<Timestamp>,
    ) {
        let pv_name = format!(
            "pvc-{}-{}-{}-{}-{}",
            self.rng.hex(8),
            self.rng.hex(4),
            self.rng.hex(4),
            self.rng.hex(4),
            self.rng.hex(12)
        );
        let volume_id = format!("vol-0{}", self.rng.hex(16));
        let bytes = u64::from(gib) * GIB;
        self.snapshot.persistent_volumes.push(PersistentVolume {
            name: pv_name.clone(),
            driver: Some("ebs.csi.aws.com".into()),
            volume_handle: Some(volume_id.clone()),
            storage_class: Some("gp3".into()),
            capacity_bytes: bytes,
            zone: Some(zone.into()),
            phase: VolumePhase::Bound,
            claim_ref: Some(ObjectRef {
                namespace: namespace.into(),
                name: claim.into(),
            }),
            reclaim_policy: ReclaimPolicy::Delete,
            labels: Labels::new(),
            annotations: labels(&[("pv.kubernetes.io/provisioned-by", "ebs.csi.aws.com")]),
            created_at: created,
        });
        self.snapshot
            .persistent_volume_claims
            .push(PersistentVolumeClaim {
                namespace: namespace.into(),
                name: claim.into(),
                volume_name: Some(pv_name.clone()),
                storage_class: Some("gp3".into()),
                requested_bytes: bytes,
                capacity_bytes: Some(bytes),
                phase: ClaimPhase::Bound,
                labels: Labels::new(),
                created_at: created,
            });
        let attached = self
            .snapshot
            .node(node)
            .and_then(|n| n.instance_id.clone())
            .into_iter()
            .collect();
        let mut t = self.cluster_tags();
        t.insert(tags::PVC_NAMESPACE.into(), namespace.into());
        t.insert(tags::PVC_NAME.into(), claim.into());
        t.insert(tags::PV_NAME.into(), pv_name);
        self.aws.volumes.push(Volume {
            volume_id,
            size_gib: gib,
            volume_type: "gp3".into(),
            iops: Some(3_000),
            throughput_mib_per_second: Some(125),
            zone: zone.into(),
            state: VolumeState::InUse,
            attached_instance_ids: attached,
            created_at: created.unwrap_or(self.now),
            tags: t,
        });
    }

    /// EBS volumes whose claims are gone.
    fn orphan_volumes(&mut self) {
        // (namespace, claim, GiB, days since created, keep PV as Released,
        // protected, marked for deletion after: days from now, if marked)
        type Orphan = (
            &'static str,
            &'static str,
            u32,
            u64,
            bool,
            bool,
            Option<i64>,
        );
        let orphans: [Orphan; 7] = [
            ("prod", "data-elasticsearch-0", 500, 140, true, false, None),
            ("prod", "data-elasticsearch-1", 500, 140, true, false, None),
            ("staging", "data-mongo-0", 100, 90, false, false, Some(-3)),
            ("dev", "data-postgres-old-0", 50, 60, false, false, Some(5)),
            ("prod", "data-kafka-3", 500, 30, false, false, None),
            ("dev", "scratch-build-cache", 200, 3, false, false, None),
            ("prod", "data-legal-hold-0", 250, 400, false, true, None),
        ];
        for (namespace, claim, gib, days, keep_pv, protected, marked) in orphans {
            let zone = *self.rng.pick(&ZONES);
            let volume_id = format!("vol-0{}", self.rng.hex(16));
            let pv_name = format!(
                "pvc-{}-{}-{}-{}-{}",
                self.rng.hex(8),
                self.rng.hex(4),
                self.rng.hex(4),
                self.rng.hex(4),
                self.rng.hex(12)
            );
            let created = ago(self.now, days * 86_400);
            if keep_pv {
                self.snapshot.persistent_volumes.push(PersistentVolume {
                    name: pv_name.clone(),
                    driver: Some("ebs.csi.aws.com".into()),
                    volume_handle: Some(volume_id.clone()),
                    storage_class: Some("gp3-retain".into()),
                    capacity_bytes: u64::from(gib) * GIB,
                    zone: Some(zone.into()),
                    phase: VolumePhase::Released,
                    claim_ref: Some(ObjectRef {
                        namespace: namespace.into(),
                        name: claim.into(),
                    }),
                    reclaim_policy: ReclaimPolicy::Retain,
                    labels: Labels::new(),
                    annotations: Labels::new(),
                    created_at: Some(created),
                });
            }
            let mut t = self.cluster_tags();
            t.insert(tags::PVC_NAMESPACE.into(), namespace.into());
            t.insert(tags::PVC_NAME.into(), claim.into());
            t.insert(tags::PV_NAME.into(), pv_name);
            if protected {
                t.insert(tags::PROTECT.into(), "true".into());
            }
            if let Some(days) = marked {
                let after = self
                    .now
                    .checked_add(jiff::SignedDuration::from_hours(24 * days))
                    .unwrap_or(self.now);
                t.insert(tags::DELETE_AFTER.into(), after.to_string());
            }
            let gp2 = gib >= 500;
            self.aws.volumes.push(Volume {
                volume_id,
                size_gib: gib,
                volume_type: if gp2 { "gp2" } else { "gp3" }.into(),
                // gp2's IOPS are 3 per GiB (100 to 16,000), as AWS reports them.
                iops: Some(if gp2 {
                    (3 * gib).clamp(100, 16_000)
                } else {
                    3000
                }),
                throughput_mib_per_second: (!gp2).then_some(125),
                zone: zone.into(),
                state: VolumeState::Available,
                attached_instance_ids: vec![],
                created_at: created,
                tags: t,
            });
        }
    }

    /// The ghost instance (tagged for the cluster, never a node) and an
    /// unrelated bastion that is not the cluster's.
    fn other_instances(&mut self) {
        // Launched by the group like its nodes; it just never joined.
        let mut ghost_tags = self.node_group_tags("general");
        ghost_tags.insert("Name".into(), format!("{}-general", self.cluster));
        // An earlier run saw it back no node two days ago.
        ghost_tags.insert(
            tags::GHOST_SINCE.into(),
            ago(self.now, 2 * 86_400).to_string(),
        );
        let ghost_id = format!("i-0{}", self.rng.hex(16));
        self.aws.instances.push(Instance {
            instance_id: ghost_id,
            instance_type: "m5.4xlarge".into(),
            zone: "us-east-1b".into(),
            state: InstanceState::Running,
            capacity_type: CapacityType::OnDemand,
            launched_at: ago(self.now, 86_400 * 9),
            private_dns_name: Some("ip-10-0-77-31.ec2.internal".into()),
            tags: ghost_tags,
        });
        let bastion_id = format!("i-0{}", self.rng.hex(16));
        self.aws.instances.push(Instance {
            instance_id: bastion_id,
            instance_type: "t3.micro".into(),
            zone: "us-east-1a".into(),
            state: InstanceState::Running,
            capacity_type: CapacityType::OnDemand,
            launched_at: ago(self.now, 86_400 * 300),
            private_dns_name: Some("ip-10-0-250-10.ec2.internal".into()),
            tags: labels(&[("Name", "bastion"), ("team", "platform")]).into(),
        });
    }

    /// Calls between prod services: each calls a few of the ones after it.
    fn traffic(&mut self, specs: &[Spec]) -> TrafficMatrix {
        let services: Vec<&Spec> = specs
            .iter()
            .filter(|s| {
                s.namespace == "prod" && s.kind != WorkloadKind::CronJob && s.name != "ml-batch"
            })
            .collect();
        let service = |s: &Spec| ServiceRef::new(s.namespace, s.name.clone());
        // Each called service has a Service in front of it, named after it.
        for s in &services {
            self.snapshot.services.push(crate::snapshot::Service {
                namespace: s.namespace.to_owned(),
                name: s.name.clone(),
                selector: [("app".to_owned(), s.name.clone())].into_iter().collect(),
                ..crate::snapshot::Service::default()
            });
        }
        let mut flows = Vec::new();
        for (i, from) in services.iter().enumerate() {
            let later = &services[i + 1..];
            if later.is_empty() {
                continue;
            }
            let calls = self.rng.range(1, 4).min(later.len() as u64);
            let mut called: Vec<usize> = Vec::new();
            for _ in 0..calls {
                let j = self.rng.range(0, later.len() as u64 - 1) as usize;
                if called.contains(&j) {
                    continue;
                }
                called.push(j);
                let to = later[j];
                // Heavier near the front door; log-uniform between 0.05 and 20 GB/h.
                let gb_per_hour = (0.05f64.ln() + self.rng.unit() * (400f64).ln()).exp()
                    * if i < 3 { 3.0 } else { 1.0 };
                let gb_per_hour = (gb_per_hour * 1000.0).round() / 1000.0;
                flows.push(TrafficFlow {
                    from: service(from),
                    to: service(to),
                    bytes_per_second: (gb_per_hour * BYTES_PER_GB / 3600.0).round(),
                });
            }
        }
        TrafficMatrix { flows }
    }

    /// 7 days of 15-minute samples per container of every active pod.
    fn usage_history(&mut self) {
        let samples = (u64::from(USAGE_DAYS) * 86_400 / u64::from(USAGE_INTERVAL_SECONDS)) as usize;
        let start_second = self.usage.start.map(|t| t.as_second()).unwrap_or(0);
        let mut containers = Vec::new();
        for (index, pod) in self.snapshot.pods.iter().enumerate() {
            if !pod.is_active_on_node() {
                continue;
            }
            let (cpu_use, memory_use, oom) = self
                .use_by_pod
                .get(&index)
                .copied()
                .unwrap_or((0.2, 0.4, false));
            for (c_index, c) in pod.containers.iter().enumerate() {
                let main = c_index == 0;
                let cpu_base =
                    c.requests.cpu_millis.max(5) as f64 * if main { cpu_use } else { 0.2 };
                let mem_base = c.requests.memory_bytes.max(16 * MIB) as f64
                    * if main { memory_use } else { 0.4 };
                let mem_limit = c.limits.memory_bytes.unwrap_or(u64::MAX) as f64;
                let mut cpu_millis = Vec::with_capacity(samples);
                let mut memory_bytes = Vec::with_capacity(samples);
                for s in 0..samples {
                    let t = start_second + (s as i64) * i64::from(USAGE_INTERVAL_SECONDS);
                    let hour_utc = (t.rem_euclid(86_400) / 3600) as u32;
                    let weekday = ((t.div_euclid(86_400) + 3).rem_euclid(7)) < 5; // 1970-01-01 was a Thursday
                    let busy = weekday && (13..22).contains(&hour_utc);
                    let load = if busy { 1.6 } else { 0.7 };
                    let noise = self.rng.between(0.75, 1.25);
                    cpu_millis.push((cpu_base * load * noise).round() as u32);
                    let mut mem =
                        mem_base * self.rng.between(0.95, 1.05) * if busy { 1.1 } else { 1.0 };
                    if oom && main && busy {
                        // Runs into its limit at the peak.
                        mem = mem_limit
                            .min(c.requests.memory_bytes as f64 * self.rng.between(1.2, 1.6));
                    }
                    memory_bytes.push(mem.round() as u64);
                }
                containers.push(ContainerUsage {
                    namespace: pod.namespace.clone(),
                    pod: pod.name.clone(),
                    container: c.name.clone(),
                    cpu_millis,
                    memory_bytes,
                });
            }
        }
        self.usage.containers = containers;
    }
}

/// The Auto Scaling group EKS would create for a node group:
/// `eks-<node group>-<uuid>`, the uuid derived from the names (FNV-1a), so
/// it is the same in every run and needs no random draw.
fn auto_scaling_group_name(cluster: &str, group: &str) -> String {
    let fnv = |salt: u8| {
        cluster
            .bytes()
            .chain([0, salt])
            .chain(group.bytes())
            .fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
                (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
            })
    };
    let (a, b) = (fnv(1), fnv(2));
    format!(
        "eks-{group}-{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0xffff,
        b >> 48,
        b & 0xffff_ffff_ffff
    )
}

/// Requests of one pod of a spec (template semantics, one pod slot).
fn pod_requests(spec: &Spec) -> Resources {
    let running = spec
        .containers
        .iter()
        .fold(Resources::ZERO, |acc, c| acc.saturating_add(c.requests));
    let init = spec
        .init_containers
        .iter()
        .fold(Resources::ZERO, |acc, c| acc.max(c.requests));
    let mut r = running.max(init);
    r.pods = 1;
    r
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;

    #[test]
    fn node_group_instances_belong_to_their_auto_scaling_groups() {
        let d = DemoEnvironment::generate(&DemoConfig::default(), Catalog::embedded().unwrap())
            .unwrap();
        let groups = &d.aws.auto_scaling_groups;
        assert_eq!(groups.len(), NODE_GROUPS.len());
        for i in &d.aws.instances {
            let group = d.aws.group_of(&i.instance_id);
            match i.tags.get(tags::EKS_NODEGROUP_NAME) {
                Some(node_group) => {
                    let group = group.unwrap();
                    assert_eq!(group.tags.get(tags::EKS_NODEGROUP_NAME), Some(node_group));
                    assert_eq!(i.tags.get(tags::AUTOSCALING_GROUP_NAME), Some(&group.name));
                    assert!(group.name.starts_with(&format!("eks-{node_group}-")));
                }
                None => assert!(group.is_none(), "{} is in no node group", i.instance_id),
            }
        }
        for g in groups {
            assert_eq!(g.desired_capacity as usize, g.instance_ids.len());
            assert!(g.min_size >= 1 && g.min_size <= g.desired_capacity);
            assert!(g.desired_capacity <= g.max_size);
        }
        // Most can shrink; one sits at its minimum.
        let shrinkable = groups.iter().filter(|g| g.can_shrink()).count();
        assert_eq!(shrinkable, groups.len() - 1);
        let at_minimum: Vec<_> = groups.iter().filter(|g| !g.can_shrink()).collect();
        assert_eq!(
            at_minimum[0]
                .tags
                .get(tags::EKS_NODEGROUP_NAME)
                .map(String::as_str),
            Some("memory")
        );
        // Every node's instance is in a group.
        for n in &d.snapshot.nodes {
            assert!(d.aws.group_of(n.instance_id.as_deref().unwrap()).is_some());
        }
    }

    #[test]
    fn auto_scaling_group_names_look_like_eks_ones() {
        let name = auto_scaling_group_name("shop-prod-use1", "general");
        assert_eq!(name, auto_scaling_group_name("shop-prod-use1", "general"));
        assert_ne!(name, auto_scaling_group_name("shop-prod-use1", "compute"));
        let uuid = name.strip_prefix("eks-general-").unwrap();
        let parts: Vec<usize> = uuid.split('-').map(str::len).collect();
        assert_eq!(parts, [8, 4, 4, 4, 12]);
    }
}
