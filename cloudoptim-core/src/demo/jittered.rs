//! Pod lists where almost every pod has its own shape, as in clusters whose
//! requests are set by hand, by VPA or by rightsizing: the packer's quality
//! report and its any-shape tests run on them.
//!
//! ```
//! use cloudoptim_core::demo::{jitter, shaped_pods, PodMix};
//!
//! let pods = shaped_pods(PodMix::Mixed, 500, 0.6, 7);
//! assert_eq!(pods.len(), 500);
//! assert_eq!(pods, shaped_pods(PodMix::Mixed, 500, 0.6, 7));
//! // Jitter keeps the list's length and never asks for nothing.
//! let again = jitter(&pods, 0.6, 8);
//! assert!(again.iter().all(|p| p.requests.cpu_millis > 0 && p.requests.memory_bytes > 0));
//! ```

use super::rng::Rng;
use crate::binpack::PodRequirement;
use crate::resources::Resources;

const MIB: u64 = 1 << 20;

/// What a generated pod list is made of.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PodMix {
    /// CPU pods only, 1–32 cores, 1–8 GiB per core.
    Cpu,
    /// About one pod in five needs a GPU (a share of one, or whole ones).
    Mixed,
    /// Three pods in four need a GPU.
    GpuHeavy,
}

impl PodMix {
    /// Every mix.
    pub const ALL: [PodMix; 3] = [PodMix::Cpu, PodMix::Mixed, PodMix::GpuHeavy];

    /// Its name on command lines and in reports.
    pub fn name(self) -> &'static str {
        match self {
            PodMix::Cpu => "cpu",
            PodMix::Mixed => "mixed",
            PodMix::GpuHeavy => "gpu-heavy",
        }
    }

    fn gpu_share(self) -> f64 {
        match self {
            PodMix::Cpu => 0.0,
            PodMix::Mixed => 0.2,
            PodMix::GpuHeavy => 0.75,
        }
    }
}

/// `count` pods of the mix whose base shapes resemble the Alibaba openb
/// traces' (CPU 1–32 cores with 1–8 GiB per core; GPU pods with a share of
/// one GPU or 1–8 whole ones), every request then [`jitter`]ed by up to
/// `±fraction`. Same arguments, same pods.
pub fn shaped_pods(mix: PodMix, count: usize, fraction: f64, seed: u64) -> Vec<PodRequirement> {
    let mut rng = Rng::new(seed);
    let base: Vec<PodRequirement> = (0..count.min(1 << 24))
        .map(|i| {
            let gpu_millis = if rng.chance(mix.gpu_share()) {
                if rng.chance(0.6) {
                    *rng.pick(&[230, 320, 470, 500, 650, 810, 1000])
                } else {
                    1000 * *rng.pick(&[1, 1, 2, 4, 8])
                }
            } else {
                0
            };
            let cpu_millis = 1000 * *rng.pick(&[1, 2, 3, 4, 6, 8, 12, 16, 24, 32]);
            let gib_per_core = *rng.pick(&[1, 2, 2, 4, 4, 8]);
            PodRequirement::new(
                format!("{}-{i:06}", mix.name()),
                Resources {
                    cpu_millis,
                    memory_bytes: cpu_millis / 1000 * gib_per_core * 1024 * MIB,
                    pods: 1,
                    gpu_millis,
                    ephemeral_storage_bytes: 0,
                },
            )
        })
        .collect();
    jitter(&base, fraction, seed ^ 0x5EED)
}

/// The same pods with CPU, memory and shared-GPU requests each multiplied by
/// an independent factor uniform in `[1 - fraction, 1 + fraction]`
/// (`fraction` clamped to `[0, 0.95]`), rounded to whole millicores and
/// MiB and never below one. Whole GPUs stay whole: a pod asks for one GPU or
/// two, not 1.3. Same arguments, same pods.
pub fn jitter(pods: &[PodRequirement], fraction: f64, seed: u64) -> Vec<PodRequirement> {
    let f = if fraction.is_finite() {
        fraction.clamp(0.0, 0.95)
    } else {
        0.0
    };
    let mut rng = Rng::new(seed);
    let mut scale = |v: u64, unit: u64| -> u64 {
        let factor = rng.between(1.0 - f, 1.0 + f);
        let units = (v as f64 / unit as f64 * factor).round().max(1.0);
        (units as u64).saturating_mul(unit)
    };
    pods.iter()
        .map(|p| {
            let mut q = p.clone();
            let r = &mut q.requests;
            if r.cpu_millis > 0 {
                r.cpu_millis = scale(r.cpu_millis, 1);
            }
            if r.memory_bytes > 0 {
                r.memory_bytes = scale(r.memory_bytes, MIB);
            }
            if r.gpu_millis > 0 && r.gpu_millis < 1000 {
                r.gpu_millis = scale(r.gpu_millis, 1).min(1000);
            }
            q
        })
        .collect()
}
