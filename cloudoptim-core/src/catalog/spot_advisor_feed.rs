//! Reading and validating an AWS Spot Instance Advisor feed.
//!
//! The feed is one JSON document:
//!
//! ```json
//! {
//!   "instance_types": { "m5.large": { "emr": false, "cores": 2, "ram_gb": 8.0 } },
//!   "ranges": [ { "index": 0, "label": "<5%", "dots": 0, "max": 5 } ],
//!   "spot_advisor": { "us-east-1": { "Linux": { "m5.large": { "s": 66, "r": 3 } } } },
//!   "global_rate": "<10%"
//! }
//! ```
//!
//! `s` is the savings percentage over on-demand, `r` an index into
//! `ranges`. A document of any other shape is rejected with the path of the
//! first offending value, so a change in the live feed shows up as an error,
//! never as a catalog without Spot data. Fields this parser does not use
//! (`emr`, `dots`, `global_rate`, other operating systems, fields the feed
//! may add) are ignored.

use std::collections::{BTreeMap, BTreeSet};

use serde::Deserialize;

use super::error::CatalogError;
use super::instance_type::split_name;
use super::spot::{InterruptionBucket, OperatingSystem, SpotAdvice};

/// The name errors about the feed carry.
pub(super) const SOURCE_NAME: &str = "Spot Advisor feed";

const BYTES_PER_GIB: f64 = 1_073_741_824.0;
/// 2^64, the first byte count a `u64` cannot hold.
const U64_LIMIT_AS_F64: f64 = 18_446_744_073_709_551_616.0;

/// A validated feed.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct SpotAdvisorFeed {
    /// Hardware facts of every type the feed lists.
    pub(super) instance_types: BTreeMap<String, FeedInstanceType>,
    /// Advice by region, then instance type, then operating system. Every
    /// region of the feed is present, even one without advice.
    pub(super) advice_by_region:
        BTreeMap<String, BTreeMap<String, BTreeMap<OperatingSystem, SpotAdvice>>>,
}

/// The facts the feed gives about an instance type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct FeedInstanceType {
    /// The feed's `cores` (which are vCPUs).
    pub(super) vcpus: u32,
    /// The feed's `ram_gb` (GiB), in bytes.
    pub(super) memory_bytes: u64,
}

#[derive(Deserialize)]
struct RawFeed {
    instance_types: BTreeMap<String, RawInstanceType>,
    ranges: Vec<RawRange>,
    spot_advisor: BTreeMap<String, RawRegion>,
}

#[derive(Deserialize)]
struct RawInstanceType {
    cores: u64,
    ram_gb: f64,
}

#[derive(Deserialize)]
struct RawRange {
    index: u64,
    #[serde(default)]
    label: Option<String>,
}

#[derive(Deserialize)]
struct RawRegion {
    #[serde(rename = "Linux", default)]
    linux: BTreeMap<String, RawAdvice>,
    #[serde(rename = "Windows", default)]
    windows: BTreeMap<String, RawAdvice>,
}

#[derive(Deserialize)]
struct RawAdvice {
    s: u64,
    r: u64,
}

fn invalid(field: String, message: impl Into<String>) -> CatalogError {
    CatalogError::Invalid {
        source_name: SOURCE_NAME,
        field,
        message: message.into(),
    }
}

/// Parses and validates a feed document.
pub(super) fn parse(json: &str) -> Result<SpotAdvisorFeed, CatalogError> {
    let mut deserializer = serde_json::Deserializer::from_str(json);
    let raw: RawFeed =
        serde_path_to_error::deserialize(&mut deserializer).map_err(|e| CatalogError::Feed {
            path: e.path().to_string(),
            message: e.inner().to_string(),
        })?;
    deserializer.end().map_err(|e| CatalogError::Feed {
        path: ".".to_owned(),
        message: e.to_string(),
    })?;

    check_ranges(&raw.ranges)?;
    Ok(SpotAdvisorFeed {
        instance_types: instance_types(raw.instance_types)?,
        advice_by_region: advice_by_region(raw.spot_advisor)?,
    })
}

/// The ranges must be exactly the five known buckets, each once.
fn check_ranges(ranges: &[RawRange]) -> Result<(), CatalogError> {
    if ranges.is_empty() {
        return Err(invalid("ranges".to_owned(), "no interruption ranges"));
    }
    let mut seen = BTreeSet::new();
    for (position, range) in ranges.iter().enumerate() {
        let field = format!("ranges[{position}].index");
        let bucket = InterruptionBucket::from_index(range.index).ok_or_else(|| {
            invalid(
                field.clone(),
                format!(
                    "{} is not one of the five known buckets (0 to 4)",
                    range.index
                ),
            )
        })?;
        if !seen.insert(bucket) {
            return Err(invalid(
                field,
                format!("index {} appears twice", range.index),
            ));
        }
        if let Some(label) = &range.label {
            if label != bucket.label() {
                tracing::warn!(
                    index = range.index,
                    feed_label = %label,
                    known_label = bucket.label(),
                    "Spot Advisor range label differs from the known one"
                );
            }
        }
    }
    if let Some(missing) = InterruptionBucket::ALL
        .iter()
        .find(|bucket| !seen.contains(bucket))
    {
        return Err(invalid(
            "ranges".to_owned(),
            format!(
                "no range with index {} ({})",
                missing.index(),
                missing.label()
            ),
        ));
    }
    Ok(())
}

fn instance_types(
    raw: BTreeMap<String, RawInstanceType>,
) -> Result<BTreeMap<String, FeedInstanceType>, CatalogError> {
    if raw.is_empty() {
        return Err(invalid("instance_types".to_owned(), "no instance types"));
    }
    let mut types = BTreeMap::new();
    for (name, facts) in raw {
        if split_name(&name).is_none() {
            return Err(invalid(
                format!("instance_types.{name}"),
                "not an instance type name like `m5.large`",
            ));
        }
        let vcpus = match u32::try_from(facts.cores) {
            Ok(0) => Err("zero cores".to_owned()),
            Ok(vcpus) => Ok(vcpus),
            Err(_) => Err(format!("{} cores is too many", facts.cores)),
        }
        .map_err(|message| invalid(format!("instance_types.{name}.cores"), message))?;
        let bytes = (facts.ram_gb * BYTES_PER_GIB).round();
        if !(1.0..U64_LIMIT_AS_F64).contains(&bytes) {
            return Err(invalid(
                format!("instance_types.{name}.ram_gb"),
                format!("{} GiB is not a memory size", facts.ram_gb),
            ));
        }
        // In range and integral, so the conversion is exact.
        let memory_bytes = bytes as u64;
        types.insert(
            name,
            FeedInstanceType {
                vcpus,
                memory_bytes,
            },
        );
    }
    Ok(types)
}

type AdviceByRegion = BTreeMap<String, BTreeMap<String, BTreeMap<OperatingSystem, SpotAdvice>>>;

fn advice_by_region(raw: BTreeMap<String, RawRegion>) -> Result<AdviceByRegion, CatalogError> {
    if raw.is_empty() {
        return Err(invalid("spot_advisor".to_owned(), "no regions"));
    }
    let mut by_region = BTreeMap::new();
    let mut entries = 0_usize;
    for (region, raw_region) in raw {
        if region.trim().is_empty() {
            return Err(invalid(
                "spot_advisor".to_owned(),
                "a region with an empty name",
            ));
        }
        let mut by_type: BTreeMap<String, BTreeMap<OperatingSystem, SpotAdvice>> = BTreeMap::new();
        for (os, raw_advice) in [
            (OperatingSystem::Linux, raw_region.linux),
            (OperatingSystem::Windows, raw_region.windows),
        ] {
            for (name, advice) in raw_advice {
                let field = format!("spot_advisor.{region}.{os}.{name}");
                if split_name(&name).is_none() {
                    return Err(invalid(field, "not an instance type name like `m5.large`"));
                }
                let advice = validate_advice(&field, &advice)?;
                by_type.entry(name).or_default().insert(os, advice);
                entries = entries.saturating_add(1);
            }
        }
        by_region.insert(region, by_type);
    }
    if entries == 0 {
        return Err(invalid(
            "spot_advisor".to_owned(),
            "no advice for any instance type in any region",
        ));
    }
    Ok(by_region)
}

fn validate_advice(field: &str, raw: &RawAdvice) -> Result<SpotAdvice, CatalogError> {
    let savings_percent = u8::try_from(raw.s)
        .ok()
        .filter(|s| *s <= 100)
        .ok_or_else(|| {
            invalid(
                format!("{field}.s"),
                format!("savings of {}% is above 100%", raw.s),
            )
        })?;
    let interruption = InterruptionBucket::from_index(raw.r).ok_or_else(|| {
        invalid(
            format!("{field}.r"),
            format!("{} is not an index into `ranges` (0 to 4)", raw.r),
        )
    })?;
    Ok(SpotAdvice {
        savings_percent,
        interruption,
    })
}
