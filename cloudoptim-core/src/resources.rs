//! Resource vectors: what a pod requests and what a node offers.
//!
//! Every dimension is an unsigned integer in the unit its name carries.
//! Arithmetic comes in two flavours: `checked_*` returns an error naming the
//! dimension that overflowed, `saturating_*` clamps; neither panics.

use std::fmt;

use serde::{Deserialize, Serialize};

/// One dimension of a [`Resources`] vector.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Dimension {
    /// CPU, in millicores.
    Cpu,
    /// Memory, in bytes.
    Memory,
    /// Pod slots (the kubelet's `pods` capacity, EKS max pods).
    Pods,
    /// GPUs, in thousandths of a GPU (`nvidia.com/gpu: 1` is 1000).
    Gpu,
    /// Ephemeral (node-local) storage, in bytes.
    EphemeralStorage,
}

impl Dimension {
    /// Every dimension, in a fixed order.
    pub const ALL: [Dimension; 5] = [
        Dimension::Cpu,
        Dimension::Memory,
        Dimension::Pods,
        Dimension::Gpu,
        Dimension::EphemeralStorage,
    ];

    /// The Kubernetes resource name of this dimension.
    pub fn kubernetes_name(self) -> &'static str {
        match self {
            Dimension::Cpu => "cpu",
            Dimension::Memory => "memory",
            Dimension::Pods => "pods",
            Dimension::Gpu => "nvidia.com/gpu",
            Dimension::EphemeralStorage => "ephemeral-storage",
        }
    }
}

impl fmt::Display for Dimension {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.kubernetes_name())
    }
}

/// Arithmetic on resources that left the `u64` range.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{dimension} overflowed")]
pub struct ResourceOverflow {
    /// The dimension that overflowed (or went below zero on subtraction).
    pub dimension: Dimension,
}

/// A vector of resources, in the units the field names carry.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(default)]
pub struct Resources {
    /// CPU in millicores (`1` core = `1000`).
    pub cpu_millis: u64,
    /// Memory in bytes.
    pub memory_bytes: u64,
    /// Pod slots.
    pub pods: u64,
    /// GPUs in thousandths of a GPU; fractional values model GPU sharing.
    pub gpu_millis: u64,
    /// Ephemeral storage in bytes.
    pub ephemeral_storage_bytes: u64,
}

impl Resources {
    /// All zero.
    pub const ZERO: Resources = Resources {
        cpu_millis: 0,
        memory_bytes: 0,
        pods: 0,
        gpu_millis: 0,
        ephemeral_storage_bytes: 0,
    };

    /// The value of one dimension.
    pub fn get(&self, dimension: Dimension) -> u64 {
        match dimension {
            Dimension::Cpu => self.cpu_millis,
            Dimension::Memory => self.memory_bytes,
            Dimension::Pods => self.pods,
            Dimension::Gpu => self.gpu_millis,
            Dimension::EphemeralStorage => self.ephemeral_storage_bytes,
        }
    }

    /// A mutable reference to one dimension.
    pub fn get_mut(&mut self, dimension: Dimension) -> &mut u64 {
        match dimension {
            Dimension::Cpu => &mut self.cpu_millis,
            Dimension::Memory => &mut self.memory_bytes,
            Dimension::Pods => &mut self.pods,
            Dimension::Gpu => &mut self.gpu_millis,
            Dimension::EphemeralStorage => &mut self.ephemeral_storage_bytes,
        }
    }

    fn zip_checked(
        self,
        other: Resources,
        op: fn(u64, u64) -> Option<u64>,
    ) -> Result<Resources, ResourceOverflow> {
        let mut out = Resources::ZERO;
        for dimension in Dimension::ALL {
            *out.get_mut(dimension) = op(self.get(dimension), other.get(dimension))
                .ok_or(ResourceOverflow { dimension })?;
        }
        Ok(out)
    }

    fn zip(self, other: Resources, op: fn(u64, u64) -> u64) -> Resources {
        let mut out = Resources::ZERO;
        for dimension in Dimension::ALL {
            *out.get_mut(dimension) = op(self.get(dimension), other.get(dimension));
        }
        out
    }

    /// `self + other`, or the first dimension that overflowed.
    pub fn checked_add(self, other: Resources) -> Result<Resources, ResourceOverflow> {
        self.zip_checked(other, u64::checked_add)
    }

    /// `self - other`, or the first dimension that would go below zero.
    pub fn checked_sub(self, other: Resources) -> Result<Resources, ResourceOverflow> {
        self.zip_checked(other, u64::checked_sub)
    }

    /// `self × factor` in every dimension, or the first that overflowed.
    pub fn checked_mul(self, factor: u64) -> Result<Resources, ResourceOverflow> {
        self.zip_checked(
            Resources {
                cpu_millis: factor,
                memory_bytes: factor,
                pods: factor,
                gpu_millis: factor,
                ephemeral_storage_bytes: factor,
            },
            u64::checked_mul,
        )
    }

    /// `self + other`, clamped at `u64::MAX`.
    pub fn saturating_add(self, other: Resources) -> Resources {
        self.zip(other, u64::saturating_add)
    }

    /// `self - other`, clamped at zero.
    pub fn saturating_sub(self, other: Resources) -> Resources {
        self.zip(other, u64::saturating_sub)
    }

    /// The per-dimension maximum.
    pub fn max(self, other: Resources) -> Resources {
        self.zip(other, u64::max)
    }

    /// The per-dimension minimum.
    pub fn min(self, other: Resources) -> Resources {
        self.zip(other, u64::min)
    }

    /// Sum of many vectors, or the first dimension that overflowed.
    pub fn checked_sum<'a>(
        items: impl IntoIterator<Item = &'a Resources>,
    ) -> Result<Resources, ResourceOverflow> {
        items
            .into_iter()
            .try_fold(Resources::ZERO, |acc, r| acc.checked_add(*r))
    }

    /// Whether `self` fits inside `capacity` in every dimension.
    pub fn fits_within(&self, capacity: &Resources) -> bool {
        self.first_exceeding(capacity).is_none()
    }

    /// The first dimension in which `self` exceeds `capacity`, if any.
    pub fn first_exceeding(&self, capacity: &Resources) -> Option<Dimension> {
        Dimension::ALL
            .into_iter()
            .find(|&d| self.get(d) > capacity.get(d))
    }

    /// Whether every dimension is zero.
    pub fn is_zero(&self) -> bool {
        *self == Resources::ZERO
    }

    /// `self / capacity` in one dimension, as a fraction (0 when the capacity is 0).
    pub fn fraction_of(&self, capacity: &Resources, dimension: Dimension) -> f64 {
        let cap = capacity.get(dimension);
        if cap == 0 {
            0.0
        } else {
            self.get(dimension) as f64 / cap as f64
        }
    }
}

impl fmt::Display for Resources {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "cpu {}m, memory {} MiB, pods {}",
            self.cpu_millis,
            self.memory_bytes / (1 << 20),
            self.pods
        )?;
        if self.gpu_millis > 0 {
            write!(f, ", gpu {}m", self.gpu_millis)?;
        }
        if self.ephemeral_storage_bytes > 0 {
            write!(
                f,
                ", ephemeral {} MiB",
                self.ephemeral_storage_bytes / (1 << 20)
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn resources() -> impl Strategy<Value = Resources> {
        (
            any::<u64>(),
            any::<u64>(),
            any::<u64>(),
            any::<u64>(),
            any::<u64>(),
        )
            .prop_map(|(c, m, p, g, e)| Resources {
                cpu_millis: c,
                memory_bytes: m,
                pods: p,
                gpu_millis: g,
                ephemeral_storage_bytes: e,
            })
    }

    /// Values small enough that sums of a few never overflow.
    fn small() -> impl Strategy<Value = Resources> {
        resources().prop_map(|r| Resources {
            cpu_millis: r.cpu_millis >> 8,
            memory_bytes: r.memory_bytes >> 8,
            pods: r.pods >> 8,
            gpu_millis: r.gpu_millis >> 8,
            ephemeral_storage_bytes: r.ephemeral_storage_bytes >> 8,
        })
    }

    proptest! {
        #[test]
        fn arithmetic_never_panics(a in resources(), b in resources(), k in any::<u64>()) {
            let _ = (a.checked_add(b), a.checked_sub(b), a.checked_mul(k));
            let _ = (a.saturating_add(b), a.saturating_sub(b), a.max(b), a.min(b));
            let _ = (a.fits_within(&b), a.first_exceeding(&b), a.to_string());
            for d in Dimension::ALL {
                let f = a.fraction_of(&b, d);
                prop_assert!(f.is_finite() && f >= 0.0);
            }
        }

        #[test]
        fn checked_errors_name_the_overflowing_dimension(a in resources(), b in resources()) {
            match a.checked_add(b) {
                Ok(sum) => for d in Dimension::ALL {
                    prop_assert_eq!(sum.get(d), a.get(d) + b.get(d));
                },
                Err(ResourceOverflow { dimension }) => {
                    prop_assert!(a.get(dimension).checked_add(b.get(dimension)).is_none());
                }
            }
            match a.checked_sub(b) {
                Ok(diff) => prop_assert_eq!(diff.checked_add(b), Ok(a)),
                Err(ResourceOverflow { dimension }) => prop_assert!(a.get(dimension) < b.get(dimension)),
            }
        }

        #[test]
        fn sums_and_fits_agree(a in small(), b in small(), c in small()) {
            let total = Resources::checked_sum([&a, &b, &c]).unwrap();
            prop_assert!(a.fits_within(&total) && b.fits_within(&total));
            prop_assert_eq!(total.saturating_sub(a).saturating_sub(b), c);
            prop_assert_eq!(a.saturating_add(b), a.checked_add(b).unwrap());
            prop_assert!(a.min(b).fits_within(&a.max(b)));
            prop_assert_eq!(a.first_exceeding(&a), None);
        }
    }

    #[test]
    fn saturates_at_the_edges() {
        let max = Resources {
            cpu_millis: u64::MAX,
            ..Resources::ZERO
        };
        let one = Resources {
            cpu_millis: 1,
            ..Resources::ZERO
        };
        assert_eq!(
            max.checked_add(one),
            Err(ResourceOverflow {
                dimension: Dimension::Cpu
            })
        );
        assert_eq!(max.saturating_add(one), max);
        assert_eq!(Resources::ZERO.saturating_sub(one), Resources::ZERO);
        assert_eq!(one.first_exceeding(&Resources::ZERO), Some(Dimension::Cpu));
    }
}
