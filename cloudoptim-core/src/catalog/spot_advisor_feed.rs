//! Reading an AWS Spot Instance Advisor feed, entry by entry.
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
//! `ranges`.
//!
//! Two kinds of problems are told apart:
//!
//! - **the wrong shape** — not JSON, not an object, `instance_types`,
//!   `ranges` or `spot_advisor` missing or not of their kind, `ranges` not
//!   the five known buckets, no usable advice at all — rejects the whole
//!   document with a [`CatalogError`] naming the path, so a change of the
//!   feed's format shows up as an error, never as a catalog without Spot
//!   data;
//! - **an odd entry** — one advice or one instance type with a value out of
//!   range or of the wrong kind (the live feed has had a savings figure of
//!   −62 %) — is skipped and reported as a [`SkippedEntry`]; the rest is
//!   used.
//!
//! Fields this parser does not use (`emr`, `dots`, `global_rate`, other
//! operating systems, fields the feed may add) are ignored.

use std::collections::{BTreeMap, BTreeSet};

use serde::Deserialize;
use serde_json::value::RawValue;

use super::error::CatalogError;
use super::instance_type::{split_name, MAX_MEMORY_BYTES, MAX_VCPUS, MIN_MEMORY_BYTES};
use super::skipped::{EntryLocation, SkippedEntry};
use super::spot::{InterruptionBucket, OperatingSystem, SpotAdvice};

/// The name errors and skipped entries of the feed carry.
pub(super) const SOURCE_NAME: &str = "Spot Advisor feed";

const BYTES_PER_GIB: f64 = 1_073_741_824.0;
/// 2^53: below it every whole number is exact as a JSON float.
const EXACT_WHOLE_LIMIT: f64 = 9_007_199_254_740_992.0;

const TOP_LEVEL: &str = "an object with `instance_types`, `ranges` and `spot_advisor`";
const EXPECTED_ADVICE: &str = "an object with `s` (the savings percentage, 0 to 100) and `r` \
                               (the interruption range index, 0 to 4)";
const EXPECTED_SAVINGS: &str = "a savings percentage, a whole number from 0 to 100";
const EXPECTED_RANGE_INDEX: &str =
    "an interruption range index, a whole number from 0 to 4 (see `ranges`)";
const EXPECTED_INSTANCE_TYPE: &str = "an object with `cores` (vCPUs) and `ram_gb` (memory in GiB)";
const EXPECTED_NAME: &str = "an instance type name like `m5.large`";

/// A feed read entry by entry: what it says, without the skipped entries.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct SpotAdvisorFeed {
    /// Hardware facts of every type the feed lists (and did not skip).
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
struct RawInstanceType<'a> {
    #[serde(borrow)]
    cores: Option<&'a RawValue>,
    #[serde(borrow)]
    ram_gb: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct RawRange<'a> {
    #[serde(borrow)]
    index: Option<&'a RawValue>,
    #[serde(borrow)]
    label: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct RawRegion<'a> {
    #[serde(rename = "Linux", borrow)]
    linux: Option<&'a RawValue>,
    #[serde(rename = "Windows", borrow)]
    windows: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct RawAdvice<'a> {
    #[serde(borrow)]
    s: Option<&'a RawValue>,
    #[serde(borrow)]
    r: Option<&'a RawValue>,
}

type Members<'a> = BTreeMap<String, &'a RawValue>;
type AdviceByRegion = BTreeMap<String, BTreeMap<String, BTreeMap<OperatingSystem, SpotAdvice>>>;

/// Reads a feed document: its contents, and the entries skipped as odd.
pub(super) fn parse(json: &str) -> Result<(SpotAdvisorFeed, Vec<SkippedEntry>), CatalogError> {
    let top = shape_object(json, ".", TOP_LEVEL)?;
    let part = |name: &str| {
        top.get(name).copied().ok_or_else(|| CatalogError::Feed {
            path: ".".to_owned(),
            message: format!("missing field `{name}`; expected {TOP_LEVEL}"),
        })
    };
    let instance_types_raw = part("instance_types")?;
    let ranges_raw = part("ranges")?;
    let spot_advisor_raw = part("spot_advisor")?;

    let instance_types_raw = shape_object(
        instance_types_raw.get(),
        "instance_types",
        "an object of instance types",
    )?;
    let spot_advisor_raw = shape_object(
        spot_advisor_raw.get(),
        "spot_advisor",
        "an object of regions",
    )?;
    check_ranges(ranges_raw)?;

    let mut skipped = Vec::new();
    let instance_types = instance_types(&instance_types_raw, &mut skipped)?;
    let advice_by_region = advice_by_region(&spot_advisor_raw, &mut skipped)?;
    Ok((
        SpotAdvisorFeed {
            instance_types,
            advice_by_region,
        },
        skipped,
    ))
}

fn feed_error(path: impl Into<String>, message: impl Into<String>) -> CatalogError {
    CatalogError::Feed {
        path: path.into(),
        message: message.into(),
    }
}

fn invalid(field: impl Into<String>, message: impl Into<String>) -> CatalogError {
    CatalogError::Invalid {
        source_name: SOURCE_NAME,
        field: field.into(),
        message: message.into(),
    }
}

fn skip(path: String, value: &str, expected: &str) -> SkippedEntry {
    SkippedEntry::new(SOURCE_NAME, EntryLocation::Feed { path }, value, expected)
}

/// What kind of JSON value `text` is, in words.
pub(super) fn kind(text: &str) -> &'static str {
    match text.trim_start().chars().next() {
        None => "nothing",
        Some('{') => "an object",
        Some('[') => "a list",
        Some('"') => "a string",
        Some('t' | 'f') => "true or false",
        Some('n') => "null",
        Some(c) if c == '-' || c.is_ascii_digit() => "a number",
        Some(_) => "text that is not JSON",
    }
}

pub(super) fn is_object(text: &str) -> bool {
    text.trim_start().starts_with('{')
}

/// The members of the object `text` at `path`, or a shape error.
fn shape_object<'a>(
    text: &'a str,
    path: &str,
    expected: &str,
) -> Result<Members<'a>, CatalogError> {
    if !is_object(text) {
        return Err(feed_error(
            path,
            format!("expected {expected}, found {}", kind(text)),
        ));
    }
    serde_json::from_str(text).map_err(|e| feed_error(path, e.to_string()))
}

/// The fields of the object `raw`, or `None` if it is not an object (or
/// repeats a field).
fn entry<'a, T: Deserialize<'a>>(raw: &'a RawValue) -> Option<T> {
    if !is_object(raw.get()) {
        return None;
    }
    serde_json::from_str(raw.get()).ok()
}

/// `raw` as a whole number (`3` or `3.0`), if it is one and not negative.
fn whole_number(raw: &RawValue) -> Option<u64> {
    let number: serde_json::Number = serde_json::from_str(raw.get()).ok()?;
    if let Some(whole) = number.as_u64() {
        return Some(whole);
    }
    let float = number.as_f64()?;
    // Integral and in range, so the conversion is exact.
    ((0.0..EXACT_WHOLE_LIMIT).contains(&float) && float.fract() == 0.0).then_some(float as u64)
}

/// The ranges must be a list of exactly the five known buckets, each once:
/// `r` means nothing otherwise, so a change here rejects the feed.
fn check_ranges(raw: &RawValue) -> Result<(), CatalogError> {
    let text = raw.get();
    if !text.trim_start().starts_with('[') {
        return Err(feed_error(
            "ranges",
            format!(
                "expected a list of interruption ranges, found {}",
                kind(text)
            ),
        ));
    }
    let ranges: Vec<&RawValue> =
        serde_json::from_str(text).map_err(|e| feed_error("ranges", e.to_string()))?;
    if ranges.is_empty() {
        return Err(invalid("ranges", "no interruption ranges"));
    }
    let mut seen = BTreeSet::new();
    for (position, range_raw) in ranges.into_iter().enumerate() {
        let path = format!("ranges[{position}]");
        let range: RawRange<'_> = entry(range_raw).ok_or_else(|| {
            feed_error(
                &path,
                format!(
                    "expected an object with an `index`, found {}",
                    kind(range_raw.get())
                ),
            )
        })?;
        let index_path = format!("{path}.index");
        let index_raw = range
            .index
            .ok_or_else(|| feed_error(&path, "missing field `index`"))?;
        let index = whole_number(index_raw).ok_or_else(|| {
            feed_error(
                &index_path,
                format!("expected a whole number, found {}", index_raw.get()),
            )
        })?;
        let bucket = InterruptionBucket::from_index(index).ok_or_else(|| {
            invalid(
                &index_path,
                format!("{index} is not one of the five known buckets (0 to 4)"),
            )
        })?;
        if !seen.insert(bucket) {
            return Err(invalid(index_path, format!("index {index} appears twice")));
        }
        let label = range
            .label
            .and_then(|l| serde_json::from_str::<String>(l.get()).ok());
        if let Some(label) = label {
            if label != bucket.label() {
                tracing::warn!(
                    index,
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
            "ranges",
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
    raw: &Members<'_>,
    skipped: &mut Vec<SkippedEntry>,
) -> Result<BTreeMap<String, FeedInstanceType>, CatalogError> {
    if raw.is_empty() {
        return Err(invalid("instance_types", "no instance types"));
    }
    let mut types = BTreeMap::new();
    for (name, facts_raw) in raw {
        let path = format!("instance_types.{name}");
        if split_name(name).is_none() {
            skipped.push(skip(path, &quoted(name), EXPECTED_NAME));
            continue;
        }
        if let Some(facts) = instance_type(&path, facts_raw, skipped) {
            types.insert(name.clone(), facts);
        }
    }
    Ok(types)
}

/// One `instance_types` entry, or `None` (with every odd value in
/// `skipped`).
fn instance_type(
    path: &str,
    raw: &RawValue,
    skipped: &mut Vec<SkippedEntry>,
) -> Option<FeedInstanceType> {
    let Some(RawInstanceType {
        cores: Some(cores),
        ram_gb: Some(ram_gb),
    }) = entry(raw)
    else {
        skipped.push(skip(path.to_owned(), raw.get(), EXPECTED_INSTANCE_TYPE));
        return None;
    };
    let vcpus = whole_number(cores)
        .and_then(|c| u32::try_from(c).ok())
        .filter(|c| (1..=MAX_VCPUS).contains(c));
    if vcpus.is_none() {
        skipped.push(skip(
            format!("{path}.cores"),
            cores.get(),
            &format!("a number of vCPUs, a whole number from 1 to {MAX_VCPUS}"),
        ));
    }
    let memory_bytes = serde_json::from_str::<f64>(ram_gb.get())
        .ok()
        .map(|gib| (gib * BYTES_PER_GIB).round())
        .filter(|bytes| (MIN_MEMORY_BYTES as f64..=MAX_MEMORY_BYTES as f64).contains(bytes))
        // In range and integral, so the conversion is exact.
        .map(|bytes| bytes as u64);
    if memory_bytes.is_none() {
        skipped.push(skip(
            format!("{path}.ram_gb"),
            ram_gb.get(),
            &format!(
                "a memory size in GiB, from 1 MiB to {} GiB",
                MAX_MEMORY_BYTES >> 30
            ),
        ));
    }
    Some(FeedInstanceType {
        vcpus: vcpus?,
        memory_bytes: memory_bytes?,
    })
}

fn advice_by_region(
    raw: &Members<'_>,
    skipped: &mut Vec<SkippedEntry>,
) -> Result<AdviceByRegion, CatalogError> {
    if raw.is_empty() {
        return Err(invalid("spot_advisor", "no regions"));
    }
    let skipped_before = skipped.len();
    let mut by_region = BTreeMap::new();
    let mut entries = 0_usize;
    for (region, region_raw) in raw {
        let path = format!("spot_advisor.{region}");
        if region.trim().is_empty() {
            skipped.push(skip(
                "spot_advisor".to_owned(),
                &quoted(region),
                "a region name like `us-east-1`",
            ));
            continue;
        }
        let Some(RawRegion { linux, windows }) = entry(region_raw) else {
            skipped.push(skip(
                path,
                region_raw.get(),
                "an object of operating systems (`Linux`, `Windows`)",
            ));
            continue;
        };
        let mut by_type: BTreeMap<String, BTreeMap<OperatingSystem, SpotAdvice>> = BTreeMap::new();
        for (os, os_raw) in [
            (OperatingSystem::Linux, linux),
            (OperatingSystem::Windows, windows),
        ] {
            let Some(os_raw) = os_raw else { continue };
            let os_path = format!("{path}.{os}");
            let Some(advice_raw) = entry::<Members<'_>>(os_raw) else {
                skipped.push(skip(os_path, os_raw.get(), "an object of instance types"));
                continue;
            };
            for (name, raw_advice) in advice_raw {
                let entry_path = format!("{os_path}.{name}");
                if split_name(&name).is_none() {
                    skipped.push(skip(entry_path, &quoted(&name), EXPECTED_NAME));
                    continue;
                }
                if let Some(advice) = advice(&entry_path, raw_advice, skipped) {
                    by_type.entry(name).or_default().insert(os, advice);
                    entries = entries.saturating_add(1);
                }
            }
        }
        by_region.insert(region.clone(), by_type);
    }
    if entries == 0 {
        let odd = skipped.get(skipped_before..).unwrap_or_default();
        let message = match odd.first() {
            None => "no advice for any instance type in any region".to_owned(),
            Some(first) => format!(
                "no usable advice; {} odd values skipped, the first at {}: {}, expected {}",
                odd.len(),
                first.location,
                first.value,
                first.expected
            ),
        };
        return Err(invalid("spot_advisor", message));
    }
    Ok(by_region)
}

/// One advice entry, or `None` (with every odd value in `skipped`).
fn advice(path: &str, raw: &RawValue, skipped: &mut Vec<SkippedEntry>) -> Option<SpotAdvice> {
    let Some(RawAdvice {
        s: Some(s),
        r: Some(r),
    }) = entry(raw)
    else {
        skipped.push(skip(path.to_owned(), raw.get(), EXPECTED_ADVICE));
        return None;
    };
    let savings_percent = whole_number(s)
        .and_then(|s| u8::try_from(s).ok())
        .filter(|s| *s <= 100);
    if savings_percent.is_none() {
        skipped.push(skip(format!("{path}.s"), s.get(), EXPECTED_SAVINGS));
    }
    let interruption = whole_number(r).and_then(InterruptionBucket::from_index);
    if interruption.is_none() {
        skipped.push(skip(format!("{path}.r"), r.get(), EXPECTED_RANGE_INDEX));
    }
    Some(SpotAdvice {
        savings_percent: savings_percent?,
        interruption: interruption?,
    })
}

/// `text` as a JSON string, as the feed writes it.
pub(super) fn quoted(text: &str) -> String {
    serde_json::to_string(text).unwrap_or_else(|_| format!("{text:?}"))
}
