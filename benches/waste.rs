//! Zombie-volume and ghost-instance classification of 100,000 volumes and
//! 100,000 instances against a 5,000-node cluster (target: ≤ 100 ms).
//! Run with `cargo bench --bench waste`.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::time::Instant;

use criterion::{criterion_group, criterion_main, Criterion};
use jiff::{SignedDuration, Timestamp};

use cloudoptim::catalog::Catalog;
use cloudoptim::demo::synthetic_cluster;
use cloudoptim::inventory::{
    tags, AutoScalingGroup, AwsInventory, Instance, InstanceState, Tags, Volume, VolumeState,
};
use cloudoptim::snapshot::{
    CapacityType, ClaimPhase, ClusterSnapshot, Labels, Node, ObjectRef, PersistentVolume,
    PersistentVolumeClaim, ReclaimPolicy, VolumePhase,
};
use cloudoptim::waste::{ghost_instances, zombie_volumes};

const CLUSTER: &str = "prod";
const REGION: &str = "us-east-1";

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

fn now() -> Timestamp {
    "2026-12-02T12:00:00Z".parse().unwrap()
}

fn ago(hours: i64) -> Timestamp {
    now()
        .checked_sub(SignedDuration::from_hours(hours))
        .unwrap()
}

fn tagged(pairs: &[(&str, &str)]) -> Tags {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// A 5,000-node cluster with 20,000 EBS-backed PVs (one in ten Released
/// under Retain) and their claims, and an account of 100,000 instances and
/// 100,000 volumes: the nodes' instances, 100 Auto Scaling groups, ghosts
/// at every stage of their grace period, other clusters' instances; PV
/// volumes, orphans marked and not, protected ones, node root volumes and
/// other clusters' volumes.
fn world(seed: u64) -> (ClusterSnapshot, AwsInventory) {
    let catalog = Catalog::embedded().unwrap();
    let mut rng = Rng(seed);
    let mut snapshot = synthetic_cluster(5_000, 5_000, seed, catalog);
    for node in &mut snapshot.nodes {
        node.instance_id = node
            .provider_id
            .as_deref()
            .and_then(Node::instance_id_from_provider_id);
    }
    let cluster_tag = format!("{}{CLUSTER}", tags::CLUSTER_PREFIX);
    let mut inventory = AwsInventory {
        region: REGION.into(),
        ..AwsInventory::default()
    };
    let groups = 100usize;
    for g in 0..groups {
        inventory.auto_scaling_groups.push(AutoScalingGroup {
            name: format!("eks-ng-{g}"),
            min_size: 1,
            max_size: 100,
            desired_capacity: 50,
            tags: tagged(&[(cluster_tag.as_str(), "owned")]),
            ..AutoScalingGroup::default()
        });
    }
    let instance = |id: String, tags: Tags, launched_hours_ago: i64| Instance {
        instance_id: id,
        instance_type: "m5.xlarge".into(),
        zone: "us-east-1a".into(),
        state: InstanceState::Running,
        capacity_type: CapacityType::OnDemand,
        launched_at: ago(launched_hours_ago),
        private_dns_name: None,
        tags,
    };
    for (n, node) in snapshot.nodes.iter().enumerate() {
        let id = node.instance_id.clone().unwrap();
        let group = &mut inventory.auto_scaling_groups[n % groups];
        group.instance_ids.push(id.clone());
        let group = group.name.clone();
        inventory.instances.push(instance(
            id,
            tagged(&[
                (cluster_tag.as_str(), "owned"),
                (tags::AUTOSCALING_GROUP_NAME, group.as_str()),
            ]),
            500,
        ));
    }
    let marks = [ago(2), ago(30), ago(-5)].map(|t| t.to_string());
    for i in snapshot.nodes.len()..100_000 {
        let id = format!("i-1{i:016x}");
        let tags = match rng.next() % 10 {
            // Other clusters and untagged instances.
            0..=4 => tagged(&[("kubernetes.io/cluster/other", "owned")]),
            5 => Tags::new(),
            // Ours by tag, in a group, a lifecycle wait now and then.
            6 => {
                let g = &mut inventory.auto_scaling_groups[i % groups];
                g.instance_ids.push(id.clone());
                if i % 7 == 0 {
                    g.lifecycle_wait_instance_ids.push(id.clone());
                }
                tagged(&[(tags::AUTOSCALING_GROUP_NAME, g.name.as_str())])
            }
            // Ghosts: new, marked 2 h or 30 h ago, marked in the future,
            // protected.
            7 => tagged(&[(cluster_tag.as_str(), "owned")]),
            8 => tagged(&[
                (tags::EKS_CLUSTER_NAME, CLUSTER),
                (tags::GHOST_SINCE, marks[(rng.next() % 3) as usize].as_str()),
            ]),
            _ => tagged(&[(cluster_tag.as_str(), "owned"), (tags::PROTECT, "true")]),
        };
        let launched = (rng.next() % 200) as i64;
        inventory.instances.push(instance(id, tags, launched));
    }
    for p in 0..20_000usize {
        let name = format!("pvc-{p:08x}");
        let (namespace, claim) = (format!("ns-{}", p % 50), format!("data-{p}"));
        let released = p % 10 == 0;
        snapshot.persistent_volumes.push(PersistentVolume {
            name: name.clone(),
            driver: Some("ebs.csi.aws.com".into()),
            volume_handle: Some(format!("vol-0{p:016x}")),
            storage_class: Some("gp3".into()),
            capacity_bytes: 100 << 30,
            zone: Some("us-east-1a".into()),
            phase: if released {
                VolumePhase::Released
            } else {
                VolumePhase::Bound
            },
            claim_ref: Some(ObjectRef {
                namespace: namespace.clone(),
                name: claim.clone(),
            }),
            reclaim_policy: if released {
                ReclaimPolicy::Retain
            } else {
                ReclaimPolicy::Delete
            },
            labels: Labels::new(),
            annotations: Labels::new(),
            created_at: None,
        });
        if !released {
            snapshot
                .persistent_volume_claims
                .push(PersistentVolumeClaim {
                    namespace,
                    name: claim,
                    volume_name: Some(name),
                    storage_class: Some("gp3".into()),
                    requested_bytes: 100 << 30,
                    capacity_bytes: Some(100 << 30),
                    phase: ClaimPhase::Bound,
                    labels: Labels::new(),
                    created_at: None,
                });
        }
    }
    let marks = [ago(24), ago(24 * 10), ago(-24 * 30)].map(|t| t.to_string());
    for v in 0..100_000usize {
        let (id, mut tags, attached) = if v < 20_000 {
            // The PVs' volumes, attached or not.
            (
                format!("vol-0{v:016x}"),
                tagged(&[
                    (tags::EBS_CSI_CLUSTER, "true"),
                    (cluster_tag.as_str(), "owned"),
                    (tags::CSI_VOLUME_NAME, format!("pvc-{v:08x}").as_str()),
                ]),
                v % 3 != 0,
            )
        } else {
            let id = format!("vol-1{v:016x}");
            match rng.next() % 4 {
                // Orphans of this cluster, claimed by a PVC or not.
                0 | 1 => (
                    id,
                    tagged(&[
                        (cluster_tag.as_str(), "owned"),
                        (tags::CSI_VOLUME_NAME, format!("pvc-gone-{v}").as_str()),
                        (tags::PVC_NAMESPACE, format!("ns-{}", v % 50).as_str()),
                        (tags::PVC_NAME, format!("data-{}", v % 40_000).as_str()),
                    ]),
                    false,
                ),
                // Node root volumes.
                2 => (id, tagged(&[(cluster_tag.as_str(), "owned")]), true),
                _ => (
                    id,
                    tagged(&[("kubernetes.io/cluster/other", "owned")]),
                    false,
                ),
            }
        };
        match rng.next() % 8 {
            0 => {
                tags.insert(tags::PROTECT.into(), "true".into());
            }
            1..=3 => {
                let mark = marks[(rng.next() % 3) as usize].clone();
                tags.insert(tags::DELETE_AFTER.into(), mark);
            }
            _ => {}
        }
        let volume_type = ["gp3", "gp2", "io2", "st1"][(rng.next() % 4) as usize];
        inventory.volumes.push(Volume {
            volume_id: id,
            size_gib: 10 + (rng.next() % 2_000) as u32,
            volume_type: volume_type.into(),
            iops: (volume_type == "io2").then_some(4_000),
            throughput_mib_per_second: None,
            zone: "us-east-1a".into(),
            state: if attached {
                VolumeState::InUse
            } else {
                VolumeState::Available
            },
            attached_instance_ids: if attached {
                vec![format!("i-2{v:016x}")]
            } else {
                Vec::new()
            },
            created_at: ago(24 * 60),
            tags,
        });
    }
    (snapshot, inventory)
}

fn classification(c: &mut Criterion) {
    let catalog = Catalog::embedded().unwrap();
    let (snapshot, inventory) = world(7);
    let zombies = zombie_volumes::ZombiePolicy::new(CLUSTER, REGION);
    let ghosts = ghost_instances::GhostPolicy::new(CLUSTER, REGION);
    let nodes = || ghost_instances::NodeList::Complete(&snapshot.nodes);

    let started = Instant::now();
    let volumes = zombie_volumes::classify(&snapshot, &inventory, &zombies, now()).unwrap();
    let instances =
        ghost_instances::classify(&inventory, nodes(), &ghosts, catalog, now()).unwrap();
    let took = started.elapsed();
    let (wasted, unpriced) = volumes.wasted_micro_usd_per_month();
    let zombie_count = volumes
        .decisions
        .iter()
        .filter(|d| {
            use zombie_volumes::VolumeVerdict as V;
            matches!(
                d.verdict,
                V::Deletable { .. }
                    | V::Waiting { .. }
                    | V::NewlySeen { .. }
                    | V::MarkInvalid { .. }
            )
        })
        .count();
    let ghost_count = instances
        .decisions
        .iter()
        .filter(|d| matches!(d.verdict, ghost_instances::InstanceVerdict::Ghost { .. }))
        .count();
    println!(
        "{} volumes, {} instances, {} nodes: {zombie_count} zombie candidates (${:.0}/month, \
         {unpriced} unpriced), {ghost_count} ghosts past grace, classified in {:.1} ms (one cold run)",
        inventory.volumes.len(),
        inventory.instances.len(),
        snapshot.nodes.len(),
        wasted as f64 / 1e6,
        took.as_secs_f64() * 1e3,
    );

    let mut group = c.benchmark_group("waste");
    group.sample_size(10);
    group.bench_function("zombie volumes, 100k volumes vs 5k nodes", |b| {
        b.iter(|| zombie_volumes::classify(&snapshot, &inventory, &zombies, now()).unwrap())
    });
    group.bench_function("ghost instances, 100k instances vs 5k nodes", |b| {
        b.iter(|| ghost_instances::classify(&inventory, nodes(), &ghosts, catalog, now()).unwrap())
    });
    group.finish();
}

criterion_group!(benches, classification);
criterion_main!(benches);
