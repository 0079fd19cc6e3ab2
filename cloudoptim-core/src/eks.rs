//! How much of an EKS node pods can actually use.
//!
//! The EKS-optimized AMIs reserve CPU and memory for the kubelet and the
//! container runtime (`kube-reserved`) and keep a hard eviction threshold;
//! the kernel and firmware hide some memory before the kubelet sees it.
//! These functions give the figures the EKS bootstrap script computes, so a
//! planned node offers what a real one would.

use crate::catalog::InstanceType;
use crate::resources::Resources;

const MIB: u64 = 1 << 20;

/// Memory the kubelet cannot see, as a fraction of the nominal memory
/// (Karpenter's default `VM_MEMORY_OVERHEAD_PERCENT`, 7.5%, a safe estimate).
pub const VM_MEMORY_OVERHEAD_FRACTION: f64 = 0.075;

/// Hard eviction threshold of the EKS AMIs (`memory.available<100Mi`).
pub const EVICTION_HARD_MEMORY_BYTES: u64 = 100 * MIB;

/// CPU reserved for the kubelet and runtime, in millicores: 6% of the first
/// core, 1% of the second, 0.5% of the third and fourth, 0.25% of the rest.
pub fn kube_reserved_cpu_millis(vcpus: u32) -> u64 {
    let cores = u64::from(vcpus);
    // Bounded: at most 2^32 cores × 60,000 < 2^48, so the sum cannot overflow.
    let mut reserved_micro = 0u64; // thousandths of a millicore
    let bands: [(u64, u64); 4] = [(1, 60_000), (1, 10_000), (2, 5_000), (u64::MAX, 2_500)];
    let mut left = cores;
    for (band, micro_per_core) in bands {
        let n = left.min(band);
        reserved_micro += n * micro_per_core;
        left -= n;
    }
    reserved_micro.div_ceil(1000)
}

/// Memory reserved for the kubelet and runtime: 255 MiB + 11 MiB per pod slot.
pub fn kube_reserved_memory_bytes(max_pods: u32) -> u64 {
    // Bounded: 11 MiB × 2^32 slots < 2^56, far below u64::MAX.
    255 * MIB + 11 * MIB * u64::from(max_pods)
}

/// Hard eviction threshold on the root filesystem (`nodefs.available<10%`), percent.
pub const EVICTION_HARD_NODEFS_PERCENT: u64 = 10;

/// What a node of this type with a root volume of `root_volume_bytes`
/// reports as `status.capacity`: memory after the VM overhead estimate,
/// ephemeral storage as the root volume, CPU, GPUs and pods as the type says.
pub fn node_capacity(instance_type: &InstanceType, root_volume_bytes: u64) -> Resources {
    let mut capacity = instance_type.capacity();
    capacity.ephemeral_storage_bytes = root_volume_bytes;
    let visible = capacity.memory_bytes as f64 * (1.0 - VM_MEMORY_OVERHEAD_FRACTION);
    capacity.memory_bytes = (visible as u64) / MIB * MIB;
    capacity
}

/// What a node of this type reports as `status.allocatable`: capacity minus
/// kube-reserved minus the eviction thresholds.
pub fn node_allocatable(instance_type: &InstanceType, root_volume_bytes: u64) -> Resources {
    let capacity = node_capacity(instance_type, root_volume_bytes);
    let reserved = Resources {
        cpu_millis: kube_reserved_cpu_millis(instance_type.vcpus),
        memory_bytes: kube_reserved_memory_bytes(instance_type.eks_max_pods)
            + EVICTION_HARD_MEMORY_BYTES,
        ephemeral_storage_bytes: root_volume_bytes / 100 * EVICTION_HARD_NODEFS_PERCENT,
        ..Resources::ZERO
    };
    capacity.saturating_sub(reserved)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::Catalog;

    #[test]
    fn matches_the_eks_bootstrap_figures() {
        // m5.xlarge: 4 vCPU → 60 + 10 + 5 + 5 = 80m reserved (EKS reports 3920m allocatable).
        assert_eq!(kube_reserved_cpu_millis(4), 80);
        assert_eq!(kube_reserved_cpu_millis(1), 60);
        // 8 vCPU → 80 + 4 × 2.5 = 90m (EKS reports 7910m).
        assert_eq!(kube_reserved_cpu_millis(8), 90);
        assert_eq!(kube_reserved_memory_bytes(58), 893 * MIB);
        let catalog = Catalog::embedded().unwrap();
        let m5 = catalog.get("m5.xlarge").unwrap();
        let alloc = node_allocatable(m5, 20 << 30);
        assert_eq!(
            alloc.ephemeral_storage_bytes,
            (20 << 30) - (20 << 30) / 100 * 10
        );
        assert_eq!(alloc.cpu_millis, 3920);
        assert_eq!(alloc.pods, 58);
        assert!(alloc.memory_bytes > 13 << 30 && alloc.memory_bytes < 15 << 30);
    }
}
