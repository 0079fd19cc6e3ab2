//! Seeded pod lists of any size with a realistic mix of sizes and
//! constraints, for benchmarks and scale tests of the packers.

use super::rng::Rng;
use crate::binpack::PodRequirement;
use crate::resources::Resources;
use crate::snapshot::{
    node_labels, NodeAffinity, NodeSelectorTerm, SelectorOperator, SelectorRequirement,
};

const MIB: u64 = 1 << 20;

/// `count` pods in services of 2–60 replicas: requests from 50m/64Mi to
/// 8 cores/32Gi, 2% needing a GPU; per service, about 15% spread over
/// zones, 5% with hostname anti-affinity, 10% pinned to an instance family,
/// 5% limited to two zones, and 1% selecting arm64 nodes (which an amd64-only
/// policy cannot offer, so explanations are exercised too).
/// Same `(count, seed)`, same pods.
pub fn synthetic_pods(count: usize, seed: u64) -> Vec<PodRequirement> {
    let mut rng = Rng::new(seed);
    let mut pods = Vec::with_capacity(count);
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
