//! Tests of the catalog: the embedded snapshot, feed validation, CSV errors.

// Tests may unwrap and panic; the workspace lints only forbid it in library code.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use proptest::prelude::*;

use super::*;
use crate::money::UsdPerHour;
use crate::resources::Resources;

const GIB: u64 = 1 << 30;
const US_EAST_1: &str = "us-east-1";

fn embedded() -> &'static Catalog {
    Catalog::embedded().unwrap()
}

fn get(name: &str) -> &'static InstanceType {
    embedded()
        .get(name)
        .unwrap_or_else(|| panic!("{name} missing"))
}

/// A small feed in the live shape, with `spot_advisor` given as raw JSON.
fn feed_with_spot_advisor(spot_advisor: &str) -> String {
    format!(
        r#"{{"instance_types":{{"m5.large":{{"emr":false,"cores":2,"ram_gb":8.0}},
            "zz9.large":{{"emr":false,"cores":4,"ram_gb":12.5}}}},
          "ranges":[{{"index":0,"label":"<5%","dots":0,"max":5}},
                    {{"index":1,"label":"5-10%","dots":1,"max":11}},
                    {{"index":2,"label":"10-15%","dots":2,"max":16}},
                    {{"index":3,"label":"15-20%","dots":3,"max":22}},
                    {{"index":4,"label":">20%","dots":4,"max":100}}],
          "spot_advisor":{spot_advisor},
          "global_rate":"<10%"}}"#
    )
}

fn small_feed() -> String {
    feed_with_spot_advisor(
        r#"{"us-east-1":{"Linux":{"m5.large":{"s":10,"r":0},"zz9.large":{"s":50,"r":2}},
                         "Windows":{"m5.large":{"s":20,"r":1}}}}"#,
    )
}

/// The embedded catalog refreshed with `json`, and what was skipped.
fn refreshed(json: &str) -> (Catalog, Vec<SkippedEntry>) {
    embedded().with_spot_advisor_feed(json).unwrap()
}

/// The embedded catalog refreshed with `json`, which skips nothing.
fn refreshed_cleanly(json: &str) -> Catalog {
    let (catalog, skipped) = refreshed(json);
    assert_eq!(skipped, [], "nothing should be skipped");
    catalog
}

/// The paths and values of what refreshing with `json` skips.
fn skipped_in_feed(json: &str) -> Vec<(String, String)> {
    refreshed(json)
        .1
        .into_iter()
        .map(|entry| {
            assert_eq!(entry.source_name, "Spot Advisor feed");
            match entry.location {
                EntryLocation::Feed { path } => (path, entry.value),
                other => panic!("a feed entry located by {other:?}"),
            }
        })
        .collect()
}

/// `(path, value)` pairs, for comparing with [`skipped_in_feed`].
fn pairs(expected: &[(&str, &str)]) -> Vec<(String, String)> {
    expected
        .iter()
        .map(|(path, value)| ((*path).to_owned(), (*value).to_owned()))
        .collect()
}

/// The spot advice of m5.large in us-east-1 for Linux after refreshing.
fn m5_linux_advice(catalog: &Catalog) -> Option<SpotAdvice> {
    catalog
        .get("m5.large")
        .unwrap()
        .spot_advice(US_EAST_1, OperatingSystem::Linux)
        .copied()
}

fn feed_error(json: &str) -> CatalogError {
    Catalog::embedded()
        .unwrap()
        .with_spot_advisor_feed(json)
        .unwrap_err()
}

fn assert_feed_error_at(json: &str, expected_path: &str) {
    match feed_error(json) {
        CatalogError::Feed { path, .. } => assert_eq!(path, expected_path),
        other => panic!("expected a Feed error at {expected_path}, got {other:?}"),
    }
}

fn assert_invalid_field(json: &str, expected_field: &str) {
    match feed_error(json) {
        CatalogError::Invalid { field, .. } => assert_eq!(field, expected_field),
        other => panic!("expected an Invalid error for {expected_field}, got {other:?}"),
    }
}

const FACTS_HEADER: &str = "instance_type,vcpu,memory_mib,architectures,gpu_count,gpu_name,\
    gpu_memory_mib,current_generation,bare_metal,burstable,max_enis,ipv4_per_eni";

// ---- the embedded snapshot ----

#[test]
fn embedded_catalog_loads_and_is_shared() {
    let catalog = embedded();
    assert!(catalog.len() > 800, "only {} types", catalog.len());
    assert!(!catalog.is_empty());
    assert!(std::ptr::eq(catalog, Catalog::embedded().unwrap()));
    assert_eq!(
        catalog.regions().into_iter().collect::<Vec<_>>(),
        [US_EAST_1]
    );
    let names: Vec<&str> = catalog.instance_types().map(|t| t.name.as_str()).collect();
    assert!(names.windows(2).all(|w| w[0] < w[1]), "not sorted by name");
}

#[test]
fn m5_large_facts_price_and_capacity() {
    let m5 = get("m5.large");
    assert_eq!(
        (m5.family.as_str(), m5.generation, m5.size.as_str()),
        ("m5", 5, "large")
    );
    assert_eq!(m5.architecture, Architecture::X86_64);
    assert_eq!(m5.vcpus, 2);
    assert_eq!(m5.memory_bytes, 8 * GIB);
    assert_eq!(m5.eks_max_pods, 29);
    assert_eq!((m5.gpus, m5.gpu_model.as_deref()), (0, None));
    assert!(!m5.burstable && !m5.bare_metal);
    assert_eq!(m5.facts_source, FactsSource::DescribeInstanceTypes);
    assert_eq!(
        m5.on_demand_usd_per_hour(US_EAST_1),
        Some(UsdPerHour::from_micro_usd(96_000))
    );
    assert_eq!(m5.on_demand_usd_per_hour("eu-west-1"), None);
    assert_eq!(
        m5.capacity(),
        Resources {
            cpu_millis: 2000,
            memory_bytes: 8 * GIB,
            pods: 29,
            gpu_millis: 0,
            ephemeral_storage_bytes: 0,
        }
    );
}

#[test]
fn m5_large_spot_advice_and_estimate() {
    let m5 = get("m5.large");
    let advice = m5.spot_advice(US_EAST_1, OperatingSystem::Linux).unwrap();
    assert!(advice.savings_percent > 0 && advice.savings_percent <= 100);
    assert_eq!(advice.interruption.index(), 3, "snapshot says 15-20%");
    assert_eq!(advice.interruption.label(), "15-20%");
    let on_demand = m5.on_demand_usd_per_hour(US_EAST_1).unwrap();
    let spot = m5
        .spot_usd_per_hour_estimate(US_EAST_1, OperatingSystem::Linux)
        .unwrap();
    assert!(spot < on_demand && spot > UsdPerHour::ZERO);
    // 0.096 × (1 − 0.66)
    assert_eq!(spot, UsdPerHour::from_micro_usd(32_640));
    assert!(m5
        .spot_advice(US_EAST_1, OperatingSystem::Windows)
        .is_some());
    assert_eq!(m5.spot_advice("eu-west-1", OperatingSystem::Linux), None);
    assert_eq!(
        m5.spot_usd_per_hour_estimate("eu-west-1", OperatingSystem::Linux),
        None
    );
}

#[test]
fn architectures() {
    assert_eq!(get("m7g.large").architecture, Architecture::Arm64);
    assert_eq!(get("t2.micro").architecture, Architecture::X86_64); // i386|x86_64
    assert_eq!(get("mac2.metal").architecture, Architecture::Arm64); // arm64_mac
    assert_eq!(get("mac1.metal").architecture, Architecture::X86_64); // x86_64_mac
                                                                      // Only in the Spot Advisor feed: guessed from the family name.
    let c6gn_metal = get("c6gn.metal");
    assert_eq!(c6gn_metal.facts_source, FactsSource::SpotAdvisor);
    assert_eq!(c6gn_metal.architecture, Architecture::Arm64);
    assert!(c6gn_metal.bare_metal);
}

#[test]
fn gpus() {
    // The facts table's only V100 type is p3dn.24xlarge.
    let p3dn = get("p3dn.24xlarge");
    assert_eq!(p3dn.gpus, 8);
    assert_eq!(p3dn.gpu_model.as_deref(), Some("V100"));
    assert_eq!(p3dn.gpu_memory_bytes, 256 * GIB);
    assert_eq!(p3dn.capacity().gpu_millis, 8000);

    let g4dn = get("g4dn.xlarge");
    assert_eq!((g4dn.gpus, g4dn.gpu_model.as_deref()), (1, Some("T4")));

    // p3.2xlarge is only in the Spot Advisor feed (and the price and ENI
    // tables), which carries no GPU facts: its GPU is unknown.
    let p3 = get("p3.2xlarge");
    assert_eq!(p3.facts_source, FactsSource::SpotAdvisor);
    assert_eq!((p3.vcpus, p3.memory_bytes), (8, 61 * GIB));
    assert_eq!((p3.gpus, p3.gpu_model.as_deref()), (0, None));
    assert_eq!(p3.eks_max_pods, 58);
    assert_eq!(
        p3.on_demand_usd_per_hour(US_EAST_1),
        Some(UsdPerHour::from_micro_usd(3_060_000))
    );

    // Fractional GPUs: a model and memory, but no whole GPU.
    let g6f = get("g6f.large");
    assert_eq!((g6f.gpus, g6f.gpu_model.as_deref()), (0, Some("L4")));
    assert!(g6f.gpu_memory_bytes > 0);
}

#[test]
fn max_pods_sources() {
    // From the facts table's ENI figures (not in the ENI limits table).
    let r9g = get("r9g.large");
    assert_eq!(r9g.eks_max_pods, eks_max_pods_formula(3, 20));
    assert_eq!(r9g.eks_max_pods, 59);
    // Neither table knows it.
    assert_eq!(get("u-9tb1.112xlarge").eks_max_pods, DEFAULT_EKS_MAX_PODS);
}

#[test]
fn names_families_and_sizes() {
    let t = get("u-6tb1.112xlarge");
    assert_eq!(
        (t.family.as_str(), t.generation, t.size.as_str()),
        ("u-6tb1", 6, "112xlarge")
    );
    let t = get("c6gn.medium");
    assert_eq!((t.family.as_str(), t.generation), ("c6gn", 6));
    let t = get("m7i.metal-24xl");
    assert_eq!(t.size, "metal-24xl");
    assert!(t.bare_metal);
    assert!(get("t3.micro").burstable);
}

#[test]
fn every_embedded_price_and_advice_lands_on_a_type() {
    let catalog = embedded();
    let priced = catalog
        .instance_types()
        .filter(|t| t.on_demand_usd_per_hour(US_EAST_1).is_some())
        .count();
    let price_rows = include_str!("../../data/on-demand-prices-us-east-1.csv")
        .lines()
        .skip(1)
        .filter(|l| !l.trim().is_empty())
        .count();
    assert_eq!(priced, price_rows);
    let advised = catalog
        .instance_types()
        .filter(|t| t.spot_advice(US_EAST_1, OperatingSystem::Linux).is_some())
        .count();
    assert!(advised > 800, "{advised}");
}

#[test]
fn instance_type_round_trips_through_json() {
    let m5 = get("m5.large");
    let json = serde_json::to_string(m5).unwrap();
    assert!(json.contains(r#""interruption":"15-20%""#), "{json}");
    assert!(json.contains(r#""architecture":"x86_64""#), "{json}");
    let back: InstanceType = serde_json::from_str(&json).unwrap();
    assert_eq!(&back, m5);
}

#[test]
fn interruption_buckets() {
    for (i, bucket) in InterruptionBucket::ALL.into_iter().enumerate() {
        assert_eq!(usize::from(bucket.index()), i);
        assert_eq!(InterruptionBucket::from_index(i as u64), Some(bucket));
    }
    assert_eq!(InterruptionBucket::from_index(5), None);
    let bounds: Vec<u8> = InterruptionBucket::ALL
        .iter()
        .map(|b| b.upper_bound_percent())
        .collect();
    assert_eq!(bounds, [5, 11, 16, 22, 100]);
    assert_eq!(InterruptionBucket::Over20Percent.label(), ">20%");
}

// ---- refreshing spot data ----

#[test]
fn fresher_feed_replaces_advice_and_adds_types() {
    let old = embedded();
    let fresh = refreshed_cleanly(&small_feed());

    let m5 = fresh.get("m5.large").unwrap();
    assert_eq!(
        m5.spot_advice(US_EAST_1, OperatingSystem::Linux),
        Some(&SpotAdvice {
            savings_percent: 10,
            interruption: InterruptionBucket::Under5Percent
        })
    );
    assert_eq!(
        m5.spot_advice(US_EAST_1, OperatingSystem::Windows)
            .map(|a| a.interruption),
        Some(InterruptionBucket::From5To10Percent)
    );
    assert_eq!(
        m5.spot_usd_per_hour_estimate(US_EAST_1, OperatingSystem::Linux),
        Some(UsdPerHour::from_micro_usd(86_400))
    );
    // Facts and prices are untouched.
    assert_eq!(m5.vcpus, 2);
    assert_eq!(
        m5.on_demand_usd_per_hour(US_EAST_1),
        old.get("m5.large")
            .unwrap()
            .on_demand_usd_per_hour(US_EAST_1)
    );

    // The region is replaced wholesale: types the feed omits lose advice.
    let m6i = fresh.get("m6i.2xlarge").unwrap();
    assert_eq!(m6i.spot_advice(US_EAST_1, OperatingSystem::Linux), None);
    assert!(old
        .get("m6i.2xlarge")
        .unwrap()
        .spot_advice(US_EAST_1, OperatingSystem::Linux)
        .is_some());

    // A type only the feed knows is added from cores and ram_gb.
    let zz = fresh.get("zz9.large").unwrap();
    assert_eq!(zz.facts_source, FactsSource::SpotAdvisor);
    assert_eq!((zz.vcpus, zz.memory_bytes), (4, 12 * GIB + GIB / 2));
    assert_eq!(zz.eks_max_pods, DEFAULT_EKS_MAX_PODS);
    assert_eq!(zz.on_demand_usd_per_hour(US_EAST_1), None);
    assert_eq!(fresh.len(), old.len() + 1);
    assert!(old.get("zz9.large").is_none());
}

#[test]
fn fresher_feed_keeps_regions_it_lacks() {
    let feed = feed_with_spot_advisor(r#"{"eu-west-1":{"Linux":{"m5.large":{"s":40,"r":4}}}}"#);
    let fresh = refreshed_cleanly(&feed);
    let m5 = fresh.get("m5.large").unwrap();
    assert_eq!(
        m5.spot_advice(US_EAST_1, OperatingSystem::Linux),
        get("m5.large").spot_advice(US_EAST_1, OperatingSystem::Linux)
    );
    assert_eq!(
        m5.spot_advice("eu-west-1", OperatingSystem::Linux)
            .map(|a| a.savings_percent),
        Some(40)
    );
    let regions: Vec<String> = fresh.regions().into_iter().collect();
    assert_eq!(regions, ["eu-west-1", US_EAST_1]);
}

#[test]
fn the_embedded_feed_reads_back_identically() {
    let feed = include_str!("../../data/spot-advisor-us-east-1.json");
    let again = refreshed_cleanly(feed);
    assert_eq!(&again, embedded());
}

#[test]
fn unknown_fields_are_tolerated() {
    let feed = small_feed().replacen(
        r#""global_rate":"<10%""#,
        r#""global_rate":"<10%","new_top_level":[1,2],"spot_advisor_v2":{}"#,
        1,
    );
    let feed = feed.replacen(r#"{"s":10,"r":0}"#, r#"{"s":10,"r":0,"p":0.01}"#, 1);
    let feed = feed.replacen(
        r#""Windows":"#,
        r#""macOS":{"m5.large":{"s":1,"r":0}},"Windows":"#,
        1,
    );
    let fresh = refreshed_cleanly(&feed);
    assert_eq!(m5_linux_advice(&fresh).map(|a| a.savings_percent), Some(10));
}

// ---- odd entries: skipped, reported, the rest used ----

#[test]
fn negative_savings_is_skipped_with_its_path() {
    let feed = feed_with_spot_advisor(
        r#"{"us-east-1":{"Linux":{"m5.large":{"s":10,"r":0},"zz9.large":{"s":-62,"r":0}}}}"#,
    );
    let (fresh, skipped) = refreshed(&feed);
    assert_eq!(
        skipped,
        [SkippedEntry {
            source_name: "Spot Advisor feed",
            location: EntryLocation::Feed {
                path: "spot_advisor.us-east-1.Linux.zz9.large.s".to_owned()
            },
            value: "-62".to_owned(),
            expected: "a savings percentage, a whole number from 0 to 100".to_owned(),
        }]
    );
    assert_eq!(
        skipped[0].to_string(),
        "Spot Advisor feed, at spot_advisor.us-east-1.Linux.zz9.large.s: -62, \
         expected a savings percentage, a whole number from 0 to 100"
    );
    // The rest is used: m5.large has its advice, zz9.large has none.
    assert_eq!(m5_linux_advice(&fresh).map(|a| a.savings_percent), Some(10));
    let zz = fresh.get("zz9.large").unwrap();
    assert_eq!(zz.spot_advice(US_EAST_1, OperatingSystem::Linux), None);
}

#[test]
fn odd_savings_and_ranges_are_skipped() {
    let feed = feed_with_spot_advisor(
        r#"{"us-east-1":{"Linux":{"m5.large":{"s":10,"r":0},
              "m5.xlarge":{"s":101,"r":0}, "m5.2xlarge":{"s":66,"r":9},
              "m5.4xlarge":{"s":66,"r":"3"}, "m5.8xlarge":{"s":66.5,"r":1},
              "m5.12xlarge":{"s":"66","r":-1}, "m5.16xlarge":{"s":40.0,"r":2.0},
              "m5.24xlarge":{"s":1e400,"r":true}},
            "Windows":{"m5.large":{"s":300,"r":0}}}}"#,
    );
    assert_eq!(
        skipped_in_feed(&feed),
        pairs(&[
            ("spot_advisor.us-east-1.Linux.m5.12xlarge.s", r#""66""#),
            ("spot_advisor.us-east-1.Linux.m5.12xlarge.r", "-1"),
            ("spot_advisor.us-east-1.Linux.m5.24xlarge.s", "1e400"),
            ("spot_advisor.us-east-1.Linux.m5.24xlarge.r", "true"),
            ("spot_advisor.us-east-1.Linux.m5.2xlarge.r", "9"),
            ("spot_advisor.us-east-1.Linux.m5.4xlarge.r", r#""3""#),
            ("spot_advisor.us-east-1.Linux.m5.8xlarge.s", "66.5"),
            ("spot_advisor.us-east-1.Linux.m5.xlarge.s", "101"),
            ("spot_advisor.us-east-1.Windows.m5.large.s", "300"),
        ])
    );
    let (fresh, _) = refreshed(&feed);
    // Whole numbers written as floats are fine.
    let m5_16 = fresh.get("m5.16xlarge").unwrap();
    assert_eq!(
        m5_16.spot_advice(US_EAST_1, OperatingSystem::Linux),
        Some(&SpotAdvice {
            savings_percent: 40,
            interruption: InterruptionBucket::From10To15Percent
        })
    );
    let m5 = fresh.get("m5.large").unwrap();
    assert!(m5.spot_advice(US_EAST_1, OperatingSystem::Linux).is_some());
    assert_eq!(m5.spot_advice(US_EAST_1, OperatingSystem::Windows), None);
}

#[test]
fn odd_advice_objects_regions_and_names_are_skipped() {
    let feed = feed_with_spot_advisor(
        r#"{"us-east-1":{"Linux":{"m5.large":{"s":10,"r":0},"m5.xlarge":{"r":0},
              "m5.2xlarge":[66,3],"m5.4xlarge":null,"m5large":{"s":1,"r":0}},
            "Windows":"none"},
           "eu-west-1":[],
           "":{"Linux":{}}}"#,
    );
    assert_eq!(
        skipped_in_feed(&feed),
        pairs(&[
            ("spot_advisor", r#""""#),
            ("spot_advisor.eu-west-1", "[]"),
            ("spot_advisor.us-east-1.Linux.m5.2xlarge", "[66,3]"),
            ("spot_advisor.us-east-1.Linux.m5.4xlarge", "null"),
            ("spot_advisor.us-east-1.Linux.m5.xlarge", r#"{"r":0}"#),
            ("spot_advisor.us-east-1.Linux.m5large", r#""m5large""#),
            ("spot_advisor.us-east-1.Windows", r#""none""#),
        ])
    );
    let (fresh, skipped) = refreshed(&feed);
    assert!(
        skipped[4].expected.contains("`s`") && skipped[4].expected.contains("`r`"),
        "{}",
        skipped[4]
    );
    assert_eq!(m5_linux_advice(&fresh).map(|a| a.savings_percent), Some(10));
    // A skipped region is not a region of the feed: eu-west-1 is untouched.
    assert_eq!(fresh.regions().into_iter().collect::<Vec<_>>(), [US_EAST_1]);
}

#[test]
fn odd_instance_types_are_skipped() {
    let zz9 = r#""zz9.large":{"emr":false,"cores":4,"ram_gb":12.5}"#;
    let with_zz9 = |facts: &str| small_feed().replacen(zz9, &format!(r#""zz9.large":{facts}"#), 1);
    for (facts, path, value) in [
        (
            r#"{"cores":0,"ram_gb":12.5}"#,
            "instance_types.zz9.large.cores",
            "0",
        ),
        (
            r#"{"cores":-4,"ram_gb":12.5}"#,
            "instance_types.zz9.large.cores",
            "-4",
        ),
        (
            r#"{"cores":4.5,"ram_gb":12.5}"#,
            "instance_types.zz9.large.cores",
            "4.5",
        ),
        (
            r#"{"cores":20000,"ram_gb":12.5}"#,
            "instance_types.zz9.large.cores",
            "20000",
        ),
        (
            r#"{"cores":4,"ram_gb":0}"#,
            "instance_types.zz9.large.ram_gb",
            "0",
        ),
        (
            r#"{"cores":4,"ram_gb":-1}"#,
            "instance_types.zz9.large.ram_gb",
            "-1",
        ),
        (
            r#"{"cores":4,"ram_gb":"12.5"}"#,
            "instance_types.zz9.large.ram_gb",
            r#""12.5""#,
        ),
        (
            r#"{"cores":4,"ram_gb":1e300}"#,
            "instance_types.zz9.large.ram_gb",
            "1e300",
        ),
        (
            r#"{"cores":4}"#,
            "instance_types.zz9.large",
            r#"{"cores":4}"#,
        ),
        ("12", "instance_types.zz9.large", "12"),
    ] {
        let feed = with_zz9(facts);
        assert_eq!(skipped_in_feed(&feed), pairs(&[(path, value)]), "{facts}");
        // Not added from the feed; its advice has no type to land on.
        let (fresh, _) = refreshed(&feed);
        assert!(fresh.get("zz9.large").is_none(), "{facts}");
        assert!(m5_linux_advice(&fresh).is_some());
    }
    let bad_name = small_feed().replacen(r#""zz9.large":{"emr""#, r#""zz9large":{"emr""#, 1);
    assert_eq!(
        skipped_in_feed(&bad_name),
        pairs(&[("instance_types.zz9large", r#""zz9large""#)])
    );
    let both = with_zz9(r#"{"cores":0,"ram_gb":0}"#);
    assert_eq!(skipped_in_feed(&both).len(), 2);
}

#[test]
fn huge_values_are_cut_in_the_report() {
    let digits = "9".repeat(5_000);
    let feed = feed_with_spot_advisor(&format!(
        r#"{{"us-east-1":{{"Linux":{{"m5.large":{{"s":10,"r":0}},"m5.xlarge":{{"s":{digits},"r":0}}}}}}}}"#
    ));
    let (_, skipped) = refreshed(&feed);
    assert_eq!(skipped.len(), 1);
    let value = &skipped[0].value;
    assert!(value.starts_with(&"9".repeat(64)), "{value}");
    assert!(value.ends_with("… (5000 bytes)"), "{value}");
    assert!(value.chars().count() < 100, "{value}");
    let message = skipped[0].to_string();
    assert!(message.chars().count() < 250, "{message}");

    let long_object = format!(r#"{{"s":"{}","r":0}}"#, "x".repeat(1_000));
    let feed = feed_with_spot_advisor(&format!(
        r#"{{"us-east-1":{{"Linux":{{"m5.large":{{"s":10,"r":0}},"m5.xlarge":{long_object}}}}}}}"#
    ));
    let (_, skipped) = refreshed(&feed);
    assert!(
        skipped[0].value.ends_with("… (1002 bytes)"),
        "{}",
        skipped[0].value
    );
}

#[test]
fn a_pretty_printed_value_is_reported_on_one_line() {
    let feed = feed_with_spot_advisor(
        "{\"us-east-1\":{\"Linux\":{\"m5.large\":{\"s\":10,\"r\":0},\n  \"m5.xlarge\": {\n    \"r\": 0\n  }}}}",
    );
    assert_eq!(
        skipped_in_feed(&feed),
        pairs(&[("spot_advisor.us-east-1.Linux.m5.xlarge", r#"{ "r": 0 }"#)])
    );
}

#[test]
fn reports_speak_in_user_terms() {
    let feed = feed_with_spot_advisor(
        r#"{"us-east-1":{"Linux":{"m5.large":{"s":10,"r":0},"m5.xlarge":{"s":-1,"r":-1},
              "m5.2xlarge":[1],"m5.4xlarge":{"s":"a","r":{}}}, "Windows":7}, "eu-west-1":1}"#,
    )
    .replacen(
        r#""cores":4,"ram_gb":12.5"#,
        r#""cores":-4,"ram_gb":"x""#,
        1,
    );
    let mut texts: Vec<String> = refreshed(&feed)
        .1
        .iter()
        .map(|e| format!("{} {}", e, e.expected))
        .collect();
    assert_eq!(texts.len(), 9, "{texts:#?}");
    for json in [
        "[]",
        "\"x\"",
        "42",
        r#"{"instance_types":[],"ranges":[],"spot_advisor":{}}"#,
        r#"{"instance_types":{},"ranges":{},"spot_advisor":{}}"#,
        r#"{"instance_types":{"m5.large":{}},"ranges":[{"index":"0"}],"spot_advisor":{}}"#,
        r#"{"instance_types":{"m5.large":{}},"ranges":[1],"spot_advisor":{}}"#,
    ] {
        texts.push(feed_error(json).to_string());
    }
    texts.push(feed_error(&feed_with_spot_advisor("[]")).to_string());
    for text in &texts {
        for rust_word in [
            "u8", "u32", "u64", "i64", "f64", "usize", "map", "sequence", "struct", "Option",
        ] {
            let words: Vec<&str> = text
                .split(|c: char| !c.is_ascii_alphanumeric() && c != '_')
                .collect();
            assert!(!words.contains(&rust_word), "{rust_word:?} in {text:?}");
        }
    }
}

#[test]
fn no_usable_advice_is_rejected_naming_the_first_odd_value() {
    let feed = feed_with_spot_advisor(r#"{"us-east-1":{"Linux":{"m5.large":{"s":-62,"r":0}}}}"#);
    let error = feed_error(&feed);
    match &error {
        CatalogError::Invalid { field, message, .. } => {
            assert_eq!(field, "spot_advisor");
            assert!(
                message.contains("spot_advisor.us-east-1.Linux.m5.large.s")
                    && message.contains("-62"),
                "{message}"
            );
        }
        other => panic!("{other:?}"),
    }
}

// ---- wrong-shape feeds ----

#[test]
fn spot_advisor_as_a_list_is_rejected() {
    assert_feed_error_at(&feed_with_spot_advisor("[]"), "spot_advisor");
    let error = feed_error(&feed_with_spot_advisor(r#"[{"us-east-1":{}}]"#));
    assert!(error.to_string().contains("spot_advisor"), "{error}");
    assert!(error.to_string().contains("found a list"), "{error}");
}

#[test]
fn top_level_parts_of_the_wrong_kind_are_rejected() {
    for (json, path) in [
        (r#"["instance_types"]"#, "."),
        (r#""spot_advisor""#, "."),
        ("7", "."),
        (
            r#"{"instance_types":[],"ranges":[],"spot_advisor":{}}"#,
            "instance_types",
        ),
        (
            r#"{"instance_types":{"m5.large":{}},"ranges":"<5%","spot_advisor":{}}"#,
            "ranges",
        ),
        (
            r#"{"instance_types":{"m5.large":{}},"ranges":[{"index":0}],"spot_advisor":null}"#,
            "spot_advisor",
        ),
    ] {
        assert_feed_error_at(json, path);
        // In the user's terms: what was expected there and what was found.
        let message = feed_error(json).to_string();
        assert!(
            message.contains("expected ") && message.contains(", found "),
            "{message}"
        );
    }
    assert!(feed_error("<html>")
        .to_string()
        .contains("found text that is not JSON"));
    let no_spot_advisor = small_feed().replacen(r#""spot_advisor""#, r#""spot_adviser""#, 1);
    let error = feed_error(&no_spot_advisor);
    assert!(
        error.to_string().contains("missing field `spot_advisor`"),
        "{error}"
    );
}

#[test]
fn missing_fields_are_rejected_by_name() {
    let no_ranges = small_feed().replacen(r#""ranges""#, r#""ranges_old""#, 1);
    let error = feed_error(&no_ranges);
    assert!(matches!(error, CatalogError::Feed { .. }), "{error:?}");
    assert!(
        error.to_string().contains("missing field `ranges`"),
        "{error}"
    );

    let no_instance_types = small_feed().replacen(r#""instance_types""#, r#""types""#, 1);
    assert!(feed_error(&no_instance_types)
        .to_string()
        .contains("missing field `instance_types`"));
}

#[test]
fn empty_documents_are_rejected() {
    for json in ["{}", "", "null", "[]", "   "] {
        let error = feed_error(json);
        assert!(
            matches!(error, CatalogError::Feed { .. }),
            "{json:?}: {error:?}"
        );
    }
    let error = feed_error("{}");
    assert!(error.to_string().contains("missing field"), "{error}");
}

#[test]
fn empty_spot_advisor_is_rejected() {
    assert_invalid_field(&feed_with_spot_advisor("{}"), "spot_advisor");
    assert_invalid_field(
        &feed_with_spot_advisor(r#"{"us-east-1":{"Linux":{},"Windows":{}}}"#),
        "spot_advisor",
    );
    assert_invalid_field(
        &feed_with_spot_advisor(r#"{"us-east-1":{}}"#),
        "spot_advisor",
    );
}

#[test]
fn bad_ranges_are_rejected() {
    let feed = small_feed();
    let start = feed.find(r#""ranges":["#).unwrap();
    let end = feed.find(r#"],"#).unwrap();
    let with_ranges =
        |ranges: &str| format!("{}\"ranges\":{ranges},{}", &feed[..start], &feed[end + 2..]);
    assert_invalid_field(&with_ranges("[]"), "ranges");
    assert_invalid_field(
        &with_ranges(r#"[{"index":0},{"index":1},{"index":2},{"index":3}]"#),
        "ranges",
    );
    assert_invalid_field(
        &with_ranges(r#"[{"index":0},{"index":1},{"index":2},{"index":3},{"index":7}]"#),
        "ranges[4].index",
    );
    assert_invalid_field(
        &with_ranges(r#"[{"index":0},{"index":1},{"index":1},{"index":3},{"index":4}]"#),
        "ranges[2].index",
    );
    assert_feed_error_at(&with_ranges(r#"{"0":{"index":0}}"#), "ranges");
    // Labels and extra fields are not required.
    let fresh = refreshed_cleanly(&with_ranges(
        r#"[{"index":4},{"index":3},{"index":2},{"index":1},{"index":0}]"#,
    ));
    assert!(fresh.get("zz9.large").is_some());
    // An index must be a whole number.
    assert_feed_error_at(
        &with_ranges(r#"[{"index":"0"},{"index":1},{"index":2},{"index":3},{"index":4}]"#),
        "ranges[0].index",
    );
    assert_feed_error_at(
        &with_ranges(r#"[3,{"index":1},{"index":2},{"index":3},{"index":4}]"#),
        "ranges[0]",
    );
}

#[test]
fn an_empty_instance_types_object_is_rejected() {
    let none = small_feed().replacen(
        r#"{"m5.large":{"emr":false,"cores":2,"ram_gb":8.0},"#,
        "{",
        1,
    );
    let none = none.replacen(
        r#""zz9.large":{"emr":false,"cores":4,"ram_gb":12.5}"#,
        "",
        1,
    );
    assert_invalid_field(&none, "instance_types");
}

#[test]
fn trailing_garbage_is_rejected() {
    let feed = format!("{} {{}}", small_feed());
    assert!(matches!(feed_error(&feed), CatalogError::Feed { .. }));
}

// ---- CSV sources ----

/// What a builder fed `add` skips, as `(source, line, column, value)`.
fn skipped_in_csv(
    add: impl FnOnce(CatalogBuilder) -> Result<CatalogBuilder, CatalogError>,
) -> Vec<(&'static str, u64, String, String)> {
    let (_, skipped) = add(Catalog::builder().spot_advisor_feed(&small_feed()).unwrap())
        .unwrap()
        .build()
        .unwrap();
    skipped
        .into_iter()
        .map(|entry| match entry.location {
            EntryLocation::Csv { line, column } => (entry.source_name, line, column, entry.value),
            other => panic!("a CSV entry located by {other:?}"),
        })
        .collect()
}

fn csv_skip(
    source: &'static str,
    line: u64,
    column: &str,
    value: &str,
) -> (&'static str, u64, String, String) {
    (source, line, column.to_owned(), value.to_owned())
}

#[test]
fn odd_csv_rows_are_skipped_with_line_and_column() {
    let facts = "instance facts CSV";
    let csv = format!(
        "{FACTS_HEADER}\nm5.large,2,8192,x86_64,0,,,true,false,false,3,10\n\
         m5.xlarge,two,16384,x86_64,0,,,true,false,false,4,15\n\
         m5.2xlarge,8,0,x86_64,0,,,true,false,false,4,15\n\
         m5.4xlarge,0,65536,x86_64,0,,,true,false,false,8,30\n\
         m5.8xlarge,32,-1,x86_64,0,,,true,false,false,8,30\n\
         m5.12xlarge,48,196608,riscv64,0,,,true,false,false,8,30\n\
         m5.16xlarge,64,262144,x86_64,0,,,maybe,false,false,15,50\n\
         m5.24xlarge,96,393216,x86_64,-1,,,true,false,false,15,50\n\
         m5.large,2,8192,x86_64,0,,,true,false,false,3,10\n\
         m5large,2,8192,x86_64,0,,,true,false,false,3,10\n\
         c5.large,2,4096,x86_64,0,,,true,false,false,3,10\n"
    );
    assert_eq!(
        skipped_in_csv(|b| b.instance_facts_csv(&csv)),
        [
            csv_skip(facts, 3, "vcpu", "two"),
            csv_skip(facts, 4, "memory_mib", "0"),
            csv_skip(facts, 5, "vcpu", "0"),
            csv_skip(facts, 6, "memory_mib", "-1"),
            csv_skip(facts, 7, "architectures", "riscv64"),
            csv_skip(facts, 8, "current_generation", "maybe"),
            csv_skip(facts, 9, "gpu_count", "-1"),
            csv_skip(facts, 10, "instance_type", "m5.large"),
            csv_skip(facts, 11, "instance_type", "m5large"),
        ]
    );
    let (catalog, skipped) = Catalog::builder()
        .instance_facts_csv(&csv)
        .unwrap()
        .build()
        .unwrap();
    let names: Vec<&str> = catalog.instance_types().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["c5.large", "m5.large"]);
    let message = skipped[0].to_string();
    assert_eq!(
        message,
        "instance facts CSV, line 3, column `vcpu`: \"two\", \
         expected a number of vCPUs, a whole number from 1 to 10000"
    );
    assert!(
        skipped[1]
            .to_string()
            .contains("expected a memory size in MiB"),
        "{}",
        skipped[1]
    );
}

#[test]
fn csv_shape_errors_name_the_line() {
    let short_row = format!("{FACTS_HEADER}\nm5.large,2,8192\n");
    assert!(matches!(
        Catalog::builder().instance_facts_csv(&short_row),
        Err(CatalogError::Csv { line: 2, .. })
    ));
    let missing_column = "instance_type,vcpu\nm5.large,2\n";
    assert!(matches!(
        Catalog::builder().instance_facts_csv(missing_column),
        Err(CatalogError::Csv {
            line: 1,
            column: Some(_),
            ..
        })
    ));
    assert!(matches!(
        Catalog::builder().instance_facts_csv(FACTS_HEADER),
        Err(CatalogError::Csv { line: 1, .. })
    ));
    // A table whose every row is odd: likely not what its header says.
    let unknown_arch =
        format!("{FACTS_HEADER}\nm5.large,2,8192,riscv64,0,,,true,false,false,3,10\n");
    let error = Catalog::builder()
        .instance_facts_csv(&unknown_arch)
        .unwrap_err();
    assert!(
        matches!(&error, CatalogError::Csv { line: 2, column: Some(c), .. } if c == "architectures"),
        "{error:?}"
    );
    assert!(error.to_string().contains("no usable row"), "{error}");
    let swapped = "region,instance_type,on_demand_usd_per_hour\nm5.large,us-east-1,0.096\n";
    assert!(matches!(
        Catalog::builder().on_demand_prices_csv(swapped),
        Err(CatalogError::Csv { line: 2, .. })
    ));
    let wrong_header = "region,type,price\nus-east-1,m5.large,0.096\n";
    assert!(matches!(
        Catalog::builder().on_demand_prices_csv(wrong_header),
        Err(CatalogError::Csv { line: 1, column: Some(c), .. }) if c == "instance_type"
    ));
    assert!(matches!(
        Catalog::builder().eni_limits_csv("instance_type,max_pods\nm5.large,29\n"),
        Err(CatalogError::Csv { line: 1, column: Some(c), .. }) if c == "eks_max_pods"
    ));
}

#[test]
fn odd_prices_and_eni_limits_are_skipped() {
    let prices = "on-demand prices CSV";
    let header = "region,instance_type,on_demand_usd_per_hour\n";
    for bad in ["-0.1", "NaN", "inf", "-inf", "abc", "", "1e300", "100001"] {
        let csv = format!("{header}us-east-1,m5.large,0.096\nus-east-1,m5.xlarge,{bad}\n");
        assert_eq!(
            skipped_in_csv(|b| b.on_demand_prices_csv(&csv)),
            [csv_skip(prices, 3, "on_demand_usd_per_hour", bad)],
            "{bad:?}"
        );
    }
    let csv = format!(
        "{header}us-east-1,m5.large,0.096\n,m5.xlarge,0.192\nus-east-1,m5large,1\n\
         us-east-1,m5.large,0.1\neu-west-1,m5.large,0.107\n"
    );
    assert_eq!(
        skipped_in_csv(|b| b.on_demand_prices_csv(&csv)),
        [
            csv_skip(prices, 3, "region", ""),
            csv_skip(prices, 4, "instance_type", "m5large"),
            csv_skip(prices, 5, "instance_type", "m5.large"),
        ]
    );
    let (catalog, _) = Catalog::builder()
        .spot_advisor_feed(&small_feed())
        .unwrap()
        .on_demand_prices_csv(&csv)
        .unwrap()
        .build()
        .unwrap();
    let m5 = catalog.get("m5.large").unwrap();
    assert_eq!(
        m5.on_demand_usd_per_hour(US_EAST_1),
        Some(UsdPerHour::from_micro_usd(96_000)),
        "the first row counts"
    );
    assert!(m5.on_demand_usd_per_hour("eu-west-1").is_some());

    let eni = "ENI limits CSV";
    let csv = "instance_type,eks_max_pods\nm5.large,29\nm5.xlarge,lots\nm5.2xlarge,0\n\
               m5.4xlarge,-5\nm5.large,30\nzz9.large,17\n";
    assert_eq!(
        skipped_in_csv(|b| b.eni_limits_csv(csv)),
        [
            csv_skip(eni, 3, "eks_max_pods", "lots"),
            csv_skip(eni, 4, "eks_max_pods", "0"),
            csv_skip(eni, 5, "eks_max_pods", "-5"),
            csv_skip(eni, 6, "instance_type", "m5.large"),
        ]
    );
    let (catalog, _) = Catalog::builder()
        .eni_limits_csv(csv)
        .unwrap()
        .spot_advisor_feed(&small_feed())
        .unwrap()
        .build()
        .unwrap();
    assert_eq!(catalog.get("m5.large").unwrap().eks_max_pods, 29);
    assert_eq!(catalog.get("zz9.large").unwrap().eks_max_pods, 17);
}

#[test]
fn skipped_entries_come_source_by_source() {
    let feed = feed_with_spot_advisor(
        r#"{"us-east-1":{"Linux":{"m5.large":{"s":10,"r":0},"zz9.large":{"s":-62,"r":0}}}}"#,
    );
    let (_, skipped) = Catalog::builder()
        .on_demand_prices_csv("region,instance_type,on_demand_usd_per_hour\nus-east-1,m5.large,-1\nus-east-1,m5.xlarge,1\n")
        .unwrap()
        .spot_advisor_feed(&feed)
        .unwrap()
        .eni_limits_csv("instance_type,eks_max_pods\nm5.large,0\nm5.xlarge,58\n")
        .unwrap()
        .build()
        .unwrap();
    let sources: Vec<&str> = skipped.iter().map(|e| e.source_name).collect();
    assert_eq!(
        sources,
        [
            "on-demand prices CSV",
            "Spot Advisor feed",
            "ENI limits CSV"
        ]
    );
}

#[test]
fn the_embedded_sources_skip_nothing() {
    let (catalog, skipped) = embedded::builder().unwrap().build().unwrap();
    assert_eq!(skipped, []);
    assert_eq!(&catalog, embedded());
}

#[test]
fn builder_merges_sources() {
    let (catalog, skipped) = Catalog::builder()
        .instance_facts_csv(&format!(
            "{FACTS_HEADER}\nm5.large,2,8192,x86_64,0,,,true,false,false,3,10\n\
             g4dn.xlarge,4,16384,x86_64,1,T4,16384,true,false,false,3,10\n"
        ))
        .unwrap()
        .eni_limits_csv("instance_type,eks_max_pods\ng4dn.xlarge,33\nother.large,5\n")
        .unwrap()
        .on_demand_prices_csv(
            "region,instance_type,on_demand_usd_per_hour\n\
             us-east-1,m5.large,0.096\neu-west-1,m5.large,0.107\n\
             us-east-1,zz9.large,1.5\nus-east-1,unknown.large,9\nus-east-1,g4dn.xlarge,0\n",
        )
        .unwrap()
        .spot_advisor_feed(&small_feed())
        .unwrap()
        .build()
        .unwrap();
    assert_eq!(skipped, []);
    assert_eq!(catalog.len(), 3);
    let names: Vec<&str> = catalog.instance_types().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["g4dn.xlarge", "m5.large", "zz9.large"]);
    let g4dn = catalog.get("g4dn.xlarge").unwrap();
    assert_eq!(g4dn.eks_max_pods, 33);
    assert_eq!(g4dn.gpu_memory_bytes, 16 * GIB);
    assert_eq!(
        g4dn.on_demand_usd_per_hour(US_EAST_1),
        None,
        "zero price skipped"
    );
    let m5 = catalog.get("m5.large").unwrap();
    assert_eq!(m5.eks_max_pods, 29, "computed from the facts' ENIs");
    assert_eq!(
        m5.on_demand_usd_per_hour("eu-west-1"),
        Some(UsdPerHour::from_micro_usd(107_000))
    );
    assert_eq!(
        catalog
            .get("zz9.large")
            .unwrap()
            .spot_usd_per_hour_estimate(US_EAST_1, OperatingSystem::Linux),
        Some(UsdPerHour::from_micro_usd(750_000))
    );
    assert!(catalog.get("unknown.large").is_none());
    let regions: Vec<String> = catalog.regions().into_iter().collect();
    assert_eq!(regions, ["eu-west-1", US_EAST_1]);
}

#[test]
fn an_empty_builder_is_rejected() {
    assert_eq!(Catalog::builder().build(), Err(CatalogError::Empty));
    let prices_only = Catalog::builder()
        .on_demand_prices_csv("region,instance_type,on_demand_usd_per_hour\nus-east-1,m5.large,1\n")
        .unwrap()
        .build();
    assert_eq!(prices_only, Err(CatalogError::Empty));
}

// ---- never panic ----

proptest! {
    #[test]
    fn arbitrary_text_never_panics(text in any::<String>()) {
        let _ = spot_advisor_feed::parse(&text);
        let _ = instance_facts_csv::parse(&text);
        let _ = eni_limits_csv::parse(&text);
        let _ = on_demand_prices_csv::parse(&text);
    }

    #[test]
    fn arbitrary_csv_rows_never_panic(row in "[a-z0-9.,|;\"\\- \n]{0,120}") {
        let _ = instance_facts_csv::parse(&format!("{FACTS_HEADER}\n{row}"));
        let _ = eni_limits_csv::parse(&format!("instance_type,eks_max_pods\n{row}"));
        let _ = on_demand_prices_csv::parse(
            &format!("region,instance_type,on_demand_usd_per_hour\n{row}"),
        );
    }

    #[test]
    fn advice_is_kept_or_skipped_by_its_range(s in any::<i64>(), r in -3_i64..8) {
        let feed = feed_with_spot_advisor(&format!(
            r#"{{"us-east-1":{{"Linux":{{"m5.large":{{"s":10,"r":0}},"m5.xlarge":{{"s":{s},"r":{r}}}}}}}}}"#
        ));
        let (parsed, skipped) = spot_advisor_feed::parse(&feed).unwrap();
        let odd_s = !(0..=100).contains(&s);
        let odd_r = !(0..=4).contains(&r);
        prop_assert_eq!(skipped.len(), usize::from(odd_s) + usize::from(odd_r));
        for entry in &skipped {
            let path = entry.location.to_string();
            prop_assert!(path.starts_with("spot_advisor.us-east-1.Linux.m5.xlarge."), "{}", path);
        }
        let kept = parsed.advice_by_region[US_EAST_1].contains_key("m5.xlarge");
        prop_assert_eq!(kept, !odd_s && !odd_r);
    }

    #[test]
    fn arbitrary_feed_values_never_panic(
        s in any::<i64>(),
        r in any::<i64>(),
        cores in any::<i64>(),
        ram_gb in any::<f64>(),
        name in "[a-z0-9.\\-]{0,12}",
    ) {
        let ram = if ram_gb.is_finite() { ram_gb.to_string() } else { "1".to_owned() };
        let feed = feed_with_spot_advisor(&format!(
            r#"{{"us-east-1":{{"Linux":{{"{name}":{{"s":{s},"r":{r}}}}}}}}}"#
        ))
        .replacen(r#""cores":4,"ram_gb":12.5"#, &format!(r#""cores":{cores},"ram_gb":{ram}"#), 1);
        let _ = spot_advisor_feed::parse(&feed);
        let _ = embedded().with_spot_advisor_feed(&feed);
    }
}
