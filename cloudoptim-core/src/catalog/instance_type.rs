//! One EC2 instance type: its hardware facts, EKS pod limit, prices and spot
//! advice.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use super::spot::{OperatingSystem, SpotAdvice};
use crate::money::UsdPerHour;
use crate::resources::Resources;

/// The pod limit of a node whose type neither the ENI limits table nor the
/// instance facts table knows: 110, the kubelet's default `maxPods`.
///
/// The EKS VPC CNI limit is `ENIs × (IPv4 addresses per ENI − 1) + 2`; it
/// cannot be computed without the two ENI figures, so such a type gets the
/// value a kubelet uses when nothing else is configured.
pub const DEFAULT_EKS_MAX_PODS: u32 = 110;

/// The EKS max-pods formula of the VPC CNI without prefix delegation:
/// `max_enis × (ipv4_per_eni − 1) + 2`, saturating.
pub fn eks_max_pods_formula(max_enis: u32, ipv4_per_eni: u32) -> u32 {
    max_enis
        .saturating_mul(ipv4_per_eni.saturating_sub(1))
        .saturating_add(2)
}

/// A CPU architecture an instance type runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Architecture {
    /// 64-bit x86 (Intel, AMD); includes types that also run `i386`.
    X86_64,
    /// 64-bit Arm (AWS Graviton, Apple silicon).
    Arm64,
}

impl Architecture {
    /// The Kubernetes `kubernetes.io/arch` label value (`amd64`, `arm64`).
    pub fn kubernetes_name(self) -> &'static str {
        match self {
            Architecture::X86_64 => "amd64",
            Architecture::Arm64 => "arm64",
        }
    }

    /// The architecture of a DescribeInstanceTypes `architectures` list,
    /// with entries separated by `|` or `;` (`i386|x86_64` is x86-64,
    /// `arm64_mac` is Arm64), or `None` if it names no known architecture.
    pub fn from_ec2_list(architectures: &str) -> Option<Architecture> {
        let mut found = None;
        for entry in architectures.split(['|', ';']).map(str::trim) {
            match entry {
                "x86_64" | "x86_64_mac" => return Some(Architecture::X86_64),
                "arm64" | "arm64_mac" => found = Some(Architecture::Arm64),
                _ => {}
            }
        }
        found
    }

    /// A best guess from the family name alone, for types known only from
    /// the Spot Advisor feed: Graviton families carry a `g` after their
    /// generation digit (`m6g`, `c6gn`, `x2gd`, `is4gen`, `p6e-gb200`), and
    /// `a1` is Arm64 too; everything else is taken as x86-64.
    pub fn guess_from_family(family: &str) -> Architecture {
        let after_generation = family
            .find(|c: char| c.is_ascii_digit())
            .and_then(|start| family.get(start..))
            .map(|rest| rest.trim_start_matches(|c: char| c.is_ascii_digit()))
            .unwrap_or("");
        if family == "a1" || after_generation.contains('g') {
            Architecture::Arm64
        } else {
            Architecture::X86_64
        }
    }
}

impl fmt::Display for Architecture {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Architecture::X86_64 => "x86_64",
            Architecture::Arm64 => "arm64",
        })
    }
}

/// Where an instance type's hardware facts come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FactsSource {
    /// The instance facts table (EC2 DescribeInstanceTypes): every field is
    /// as EC2 reports it.
    DescribeInstanceTypes,
    /// Only the Spot Advisor feed knows the type: `vcpus` and
    /// `memory_bytes` come from its `cores` and `ram_gb`; GPUs are
    /// **unknown** and reported as none; the architecture is guessed from the
    /// family name ([`Architecture::guess_from_family`]); `burstable` is
    /// true for `t` families, `bare_metal` for `metal` sizes, and
    /// `current_generation` is unknown and reported as false.
    SpotAdvisor,
}

/// An EC2 instance type, with what CloudOptim needs to place pods on it and
/// price it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct InstanceType {
    /// The API name, e.g. `m5.large`.
    pub name: String,
    /// The part before the dot, e.g. `m5`, `c6gn`, `u-6tb1`.
    pub family: String,
    /// The first run of digits in the family (`5` for `m5`, `6` for
    /// `u-6tb1`), 0 if it has none.
    pub generation: u32,
    /// The part after the dot, e.g. `xlarge`, `metal`, `metal-24xl`.
    pub size: String,
    /// The CPU architecture.
    pub architecture: Architecture,
    /// Virtual CPUs (hyperthreads).
    pub vcpus: u32,
    /// Memory, in bytes.
    pub memory_bytes: u64,
    /// Whole GPUs attached. Zero for fractional-GPU types (`g6f`, `gr6f`),
    /// which still have a [`gpu_model`](Self::gpu_model) and GPU memory.
    pub gpus: u32,
    /// The GPU model as EC2 names it (`T4`, `A10G`, `V100`), if any.
    pub gpu_model: Option<String>,
    /// GPU memory of the whole instance (all GPUs together), in bytes.
    pub gpu_memory_bytes: u64,
    /// Pods a node of this type can run on EKS with the VPC CNI default (no
    /// prefix delegation): from the ENI limits table, else computed with
    /// [`eks_max_pods_formula`] from the facts table's ENI figures, else
    /// [`DEFAULT_EKS_MAX_PODS`].
    pub eks_max_pods: u32,
    /// Whether the type runs on CPU credits (`t2`, `t3`, `t4g`…).
    pub burstable: bool,
    /// Whether the type is a whole physical server (`metal` sizes).
    pub bare_metal: bool,
    /// Whether EC2 flags the type as current generation.
    pub current_generation: bool,
    /// Which table the hardware facts above come from.
    pub facts_source: FactsSource,
    /// On-demand Linux price per region, in dollars per hour.
    pub on_demand_usd_per_hour_by_region: BTreeMap<String, UsdPerHour>,
    /// On-demand Windows price (license included) per region, in dollars
    /// per hour, where one was loaded (the AWS Price List API,
    /// [`Catalog::with_price_list`](super::Catalog::with_price_list)); the
    /// embedded snapshot has none. Left out of the serialized form when
    /// empty.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub windows_on_demand_usd_per_hour_by_region: BTreeMap<String, UsdPerHour>,
    /// Spot Advisor figures per region and operating system.
    pub spot_advice_by_region: BTreeMap<String, BTreeMap<OperatingSystem, SpotAdvice>>,
}

impl InstanceType {
    /// The on-demand Linux price in `region`, if the catalog has one.
    pub fn on_demand_usd_per_hour(&self, region: &str) -> Option<UsdPerHour> {
        self.on_demand_usd_per_hour_by_region.get(region).copied()
    }

    /// The on-demand price in `region` for `os`: for Windows, the Windows
    /// price where the catalog has one, else the Linux price (a low figure:
    /// it lacks the license); for Linux, the Linux price. `None` when the
    /// catalog has no price in `region`: never another region's.
    pub fn on_demand_usd_per_hour_for(
        &self,
        region: &str,
        os: OperatingSystem,
    ) -> Option<UsdPerHour> {
        let windows = match os {
            OperatingSystem::Windows => self.windows_on_demand_usd_per_hour_by_region.get(region),
            OperatingSystem::Linux => None,
        };
        windows
            .copied()
            .or_else(|| self.on_demand_usd_per_hour(region))
    }

    /// The instance category, as Karpenter's `karpenter.k8s.aws/instance-category`
    /// label has it: the letters of the family before its generation digit
    /// (`m` for `m6i`, `c` for `c6gn`, `inf` for `inf2`, `u` for `u-6tb1`);
    /// the whole family when it has no digit.
    ///
    /// ```
    /// use cloudoptim_core::catalog::Catalog;
    /// let catalog = Catalog::embedded()?;
    /// assert_eq!(catalog.get("c6gn.large").map(|t| t.category()), Some("c"));
    /// assert_eq!(catalog.get("inf2.xlarge").map(|t| t.category()), Some("inf"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn category(&self) -> &str {
        let end = self
            .family
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(self.family.len());
        self.family
            .get(..end)
            .unwrap_or(&self.family)
            .trim_end_matches('-')
    }

    /// Whether the type comes with local instance-store disks, by AWS's
    /// naming convention: the storage-optimized categories (`i`, `im`,
    /// `is`, `d`, `h`) and a `d` among the attributes after the generation
    /// (`m5d`, `c6gd`, `r6idn`). Pods on such a node may rely on those
    /// disks (local PVs, emptyDir on NVMe), so a replacement must keep them.
    pub fn has_instance_store(&self) -> bool {
        let attributes = self
            .family
            .find(|c: char| c.is_ascii_digit())
            .and_then(|at| self.family.get(at..))
            .map(|rest| rest.trim_start_matches(|c: char| c.is_ascii_digit()))
            .unwrap_or("");
        let attributes = attributes.split('-').next().unwrap_or("");
        matches!(self.category(), "i" | "im" | "is" | "d" | "h") || attributes.contains('d')
    }

    /// The Spot Advisor figures for `region` and `os`, if the feed has them.
    pub fn spot_advice(&self, region: &str, os: OperatingSystem) -> Option<&SpotAdvice> {
        self.spot_advice_by_region.get(region)?.get(&os)
    }

    /// An estimate of the Spot price in `region` for `os`: the on-demand
    /// price ([`on_demand_usd_per_hour_for`](Self::on_demand_usd_per_hour_for))
    /// × (1 − savings / 100), rounded to the micro-dollar, when the catalog
    /// has both the on-demand price and the Spot Advisor's savings.
    ///
    /// Without a Windows on-demand price, the Windows estimate is the Linux
    /// on-demand price at the Windows savings rate — a rough figure.
    /// Prefer a live Spot price when one is known.
    pub fn spot_usd_per_hour_estimate(
        &self,
        region: &str,
        os: OperatingSystem,
    ) -> Option<UsdPerHour> {
        let on_demand = self.on_demand_usd_per_hour_for(region, os)?;
        let advice = self.spot_advice(region, os)?;
        let paid_percent = 100_u8.saturating_sub(advice.savings_percent);
        Some(on_demand.percent(f64::from(paid_percent)))
    }

    /// What a node of this type offers, as a scheduling vector:
    /// `cpu_millis` = vCPUs × 1000, `memory_bytes`, `pods` =
    /// [`eks_max_pods`](Self::eks_max_pods), `gpu_millis` = GPUs × 1000, and
    /// `ephemeral_storage_bytes` = 0, because the size of the EBS root
    /// volume is a property of the node group, not of the type.
    ///
    /// This is raw capacity, before the kubelet's and system reservations.
    pub fn capacity(&self) -> Resources {
        Resources {
            cpu_millis: u64::from(self.vcpus).saturating_mul(1000),
            memory_bytes: self.memory_bytes,
            pods: u64::from(self.eks_max_pods),
            gpu_millis: u64::from(self.gpus).saturating_mul(1000),
            ephemeral_storage_bytes: 0,
        }
    }
}

/// The most vCPUs a catalog source may give one instance type: a larger
/// figure is taken as a typo and its entry skipped. The largest EC2 types
/// have 896 today; this leaves room for ten times that.
pub(super) const MAX_VCPUS: u32 = 10_000;

/// The least memory a catalog source may give one instance type (1 MiB): a
/// smaller figure is taken as a typo or a wrong unit and its entry skipped.
pub(super) const MIN_MEMORY_BYTES: u64 = 1 << 20;

/// The most memory a catalog source may give one instance type (1 PiB,
/// 32 times the largest EC2 type today); beyond it the entry is skipped.
pub(super) const MAX_MEMORY_BYTES: u64 = 1 << 50;

/// The family, generation and size of an instance type name, or `None` if
/// it is not `family.size` with both parts non-empty.
pub(super) fn split_name(name: &str) -> Option<(&str, u32, &str)> {
    let (family, size) = name.split_once('.')?;
    let well_formed = !family.is_empty()
        && !size.is_empty()
        && !size.contains('.')
        && !name.contains(char::is_whitespace);
    if !well_formed {
        return None;
    }
    Some((family, generation_of(family), size))
}

/// The first run of digits in `family`, 0 if none (or too long for `u32`).
fn generation_of(family: &str) -> u32 {
    let digits: String = family
        .chars()
        .skip_while(|c| !c.is_ascii_digit())
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_names() {
        assert_eq!(split_name("m5.large"), Some(("m5", 5, "large")));
        assert_eq!(split_name("c6gn.16xlarge"), Some(("c6gn", 6, "16xlarge")));
        assert_eq!(
            split_name("u-6tb1.112xlarge"),
            Some(("u-6tb1", 6, "112xlarge"))
        );
        assert_eq!(split_name("m7i.metal-24xl"), Some(("m7i", 7, "metal-24xl")));
        assert_eq!(split_name("mac2-m2.metal"), Some(("mac2-m2", 2, "metal")));
        assert_eq!(split_name("x.large"), Some(("x", 0, "large")));
        assert_eq!(split_name("m5"), None);
        assert_eq!(split_name(".large"), None);
        assert_eq!(split_name("m5."), None);
        assert_eq!(split_name("m5.large.x"), None);
        assert_eq!(split_name("m5 .large"), None);
    }

    #[test]
    fn instance_store_follows_the_naming_convention() {
        let catalog = crate::catalog::Catalog::embedded().unwrap_or_else(|e| panic!("{e}"));
        let has = |name: &str| {
            catalog
                .get(name)
                .unwrap_or_else(|| panic!("{name} is not in the catalog"))
                .has_instance_store()
        };
        for name in [
            "m5d.large",
            "c6gd.large",
            "r6idn.large",
            "im4gn.large",
            "i3.large",
            "d3.xlarge",
            "z1d.large",
            "x2idn.16xlarge",
        ] {
            assert!(has(name), "{name}");
        }
        for name in [
            "m5.large",
            "c6g.large",
            "r6in.large",
            "m7i-flex.large",
            "t3.large",
            "m8g.large",
        ] {
            assert!(!has(name), "{name}");
        }
    }

    #[test]
    fn reads_and_guesses_architectures() {
        assert_eq!(
            Architecture::from_ec2_list("i386;x86_64"),
            Some(Architecture::X86_64)
        );
        assert_eq!(
            Architecture::from_ec2_list("i386|x86_64"),
            Some(Architecture::X86_64)
        );
        assert_eq!(
            Architecture::from_ec2_list("arm64_mac"),
            Some(Architecture::Arm64)
        );
        assert_eq!(Architecture::from_ec2_list("i386"), None);
        assert_eq!(Architecture::from_ec2_list(""), None);
        for (family, arch) in [
            ("m5", Architecture::X86_64),
            ("g4ad", Architecture::X86_64),
            ("u-6tb1", Architecture::X86_64),
            ("c6gn", Architecture::Arm64),
            ("g5g", Architecture::Arm64),
            ("is4gen", Architecture::Arm64),
            ("a1", Architecture::Arm64),
        ] {
            assert_eq!(Architecture::guess_from_family(family), arch, "{family}");
        }
    }

    #[test]
    fn max_pods_formula_matches_eks() {
        assert_eq!(eks_max_pods_formula(3, 10), 29);
        assert_eq!(eks_max_pods_formula(15, 50), 737);
        assert_eq!(eks_max_pods_formula(0, 0), 2);
        assert_eq!(eks_max_pods_formula(u32::MAX, u32::MAX), u32::MAX);
    }
}
