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
    let fresh = old.with_spot_advisor_feed(&small_feed()).unwrap();

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
    let fresh = embedded().with_spot_advisor_feed(&feed).unwrap();
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
    let again = embedded().with_spot_advisor_feed(feed).unwrap();
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
    let fresh = embedded().with_spot_advisor_feed(&feed).unwrap();
    assert_eq!(
        fresh
            .get("m5.large")
            .unwrap()
            .spot_advice(US_EAST_1, OperatingSystem::Linux)
            .map(|a| a.savings_percent),
        Some(10)
    );
}

// ---- wrong-shape feeds ----

#[test]
fn spot_advisor_as_a_list_is_rejected() {
    assert_feed_error_at(&feed_with_spot_advisor("[]"), "spot_advisor");
    let error = feed_error(&feed_with_spot_advisor(r#"[{"us-east-1":{}}]"#));
    assert!(error.to_string().contains("spot_advisor"), "{error}");
}

#[test]
fn r_as_a_string_is_rejected_with_its_path() {
    let feed = feed_with_spot_advisor(r#"{"us-east-1":{"Linux":{"m5.large":{"s":66,"r":"3"}}}}"#);
    assert_feed_error_at(&feed, "spot_advisor.us-east-1.Linux.m5.large.r");
    let message = feed_error(&feed).to_string();
    assert!(
        message.contains("spot_advisor.us-east-1.Linux.m5.large.r"),
        "{message}"
    );
}

#[test]
fn r_out_of_range_is_rejected() {
    let feed = feed_with_spot_advisor(r#"{"us-east-1":{"Linux":{"m5.large":{"s":66,"r":9}}}}"#);
    assert_invalid_field(&feed, "spot_advisor.us-east-1.Linux.m5.large.r");
    let feed = feed_with_spot_advisor(r#"{"us-east-1":{"Linux":{"m5.large":{"s":66,"r":-1}}}}"#);
    assert_feed_error_at(&feed, "spot_advisor.us-east-1.Linux.m5.large.r");
}

#[test]
fn savings_above_100_is_rejected() {
    let feed = feed_with_spot_advisor(r#"{"us-east-1":{"Windows":{"m5.large":{"s":101,"r":0}}}}"#);
    assert_invalid_field(&feed, "spot_advisor.us-east-1.Windows.m5.large.s");
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

    let no_s = feed_with_spot_advisor(r#"{"us-east-1":{"Linux":{"m5.large":{"r":0}}}}"#);
    let error = feed_error(&no_s);
    assert!(error.to_string().contains("missing field `s`"), "{error}");
    assert_feed_error_at(&no_s, "spot_advisor.us-east-1.Linux.m5.large");
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
    let fresh = embedded()
        .with_spot_advisor_feed(&with_ranges(
            r#"[{"index":4},{"index":3},{"index":2},{"index":1},{"index":0}]"#,
        ))
        .unwrap();
    assert!(fresh.get("zz9.large").is_some());
}

#[test]
fn bad_instance_types_are_rejected() {
    let zero_cores = small_feed().replacen(r#""cores":4"#, r#""cores":0"#, 1);
    assert_invalid_field(&zero_cores, "instance_types.zz9.large.cores");
    let zero_ram = small_feed().replacen(r#""ram_gb":12.5"#, r#""ram_gb":0"#, 1);
    assert_invalid_field(&zero_ram, "instance_types.zz9.large.ram_gb");
    let string_ram = small_feed().replacen(r#""ram_gb":12.5"#, r#""ram_gb":"12.5""#, 1);
    assert_feed_error_at(&string_ram, "instance_types.zz9.large.ram_gb");
    let bad_name = small_feed().replacen(r#""zz9.large":{"emr""#, r#""zz9large":{"emr""#, 1);
    assert_invalid_field(&bad_name, "instance_types.zz9large");
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

#[test]
fn bad_csv_line_is_reported_with_line_and_column() {
    let csv = format!(
        "{FACTS_HEADER}\nm5.large,2,8192,x86_64,0,,,true,false,false,3,10\n\
         m5.xlarge,two,16384,x86_64,0,,,true,false,false,4,15\n"
    );
    let error = Catalog::builder().instance_facts_csv(&csv).unwrap_err();
    match &error {
        CatalogError::Csv {
            source_name,
            line,
            column,
            ..
        } => {
            assert_eq!(*source_name, "instance facts CSV");
            assert_eq!(*line, 3);
            assert_eq!(column.as_deref(), Some("vcpu"));
        }
        other => panic!("{other:?}"),
    }
    let message = error.to_string();
    assert!(
        message.contains("line 3") && message.contains("`vcpu`"),
        "{message}"
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
    let unknown_arch =
        format!("{FACTS_HEADER}\nm5.large,2,8192,riscv64,0,,,true,false,false,3,10\n");
    assert!(matches!(
        Catalog::builder().instance_facts_csv(&unknown_arch),
        Err(CatalogError::Csv { line: 2, column: Some(c), .. }) if c == "architectures"
    ));
    let duplicate = format!(
        "{FACTS_HEADER}\nm5.large,2,8192,x86_64,0,,,true,false,false,3,10\n\
         m5.large,2,8192,x86_64,0,,,true,false,false,3,10\n"
    );
    assert!(matches!(
        Catalog::builder().instance_facts_csv(&duplicate),
        Err(CatalogError::Csv { line: 3, .. })
    ));
}

#[test]
fn bad_prices_and_eni_limits_are_rejected() {
    let header = "region,instance_type,on_demand_usd_per_hour\n";
    for bad in ["-0.1", "NaN", "inf", "abc", ""] {
        let csv = format!("{header}us-east-1,m5.large,0.096\nus-east-1,m5.xlarge,{bad}\n");
        match Catalog::builder().on_demand_prices_csv(&csv) {
            Err(CatalogError::Csv {
                source_name,
                line: 3,
                column: Some(c),
                ..
            }) => {
                assert_eq!(source_name, "on-demand prices CSV");
                assert_eq!(c, "on_demand_usd_per_hour");
            }
            other => panic!("{bad:?}: {other:?}"),
        }
    }
    let eni = "instance_type,eks_max_pods\nm5.large,29\nm5.xlarge,lots\n";
    assert!(matches!(
        Catalog::builder().eni_limits_csv(eni),
        Err(CatalogError::Csv {
            source_name: "ENI limits CSV",
            line: 3,
            ..
        })
    ));
}

#[test]
fn builder_merges_sources() {
    let catalog = Catalog::builder()
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
