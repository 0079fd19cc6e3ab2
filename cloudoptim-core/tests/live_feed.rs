//! The whole live Spot Advisor feed (`tests/data/spot-advisor-data.json`, a
//! 2025-06-28 snapshot of all 33 regions), odd entry included, through the
//! public catalog API.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use cloudoptim_core::catalog::{
    Catalog, EntryLocation, InterruptionBucket, OperatingSystem, SkippedEntry, SpotAdvice,
};

const LIVE_FEED: &str = include_str!("data/spot-advisor-data.json");

fn refreshed() -> (Catalog, Vec<SkippedEntry>) {
    Catalog::embedded()
        .unwrap()
        .with_spot_advisor_feed(LIVE_FEED)
        .unwrap()
}

fn advice(catalog: &Catalog, name: &str, region: &str, os: OperatingSystem) -> Option<SpotAdvice> {
    catalog.get(name).unwrap().spot_advice(region, os).copied()
}

#[test]
fn the_live_feed_loads_skipping_exactly_its_odd_entry() {
    let (_, skipped) = refreshed();
    assert_eq!(
        skipped,
        [SkippedEntry {
            source_name: "Spot Advisor feed",
            location: EntryLocation::Feed {
                path: "spot_advisor.ca-central-1.Linux.p5.48xlarge.s".to_owned(),
            },
            value: "-62".to_owned(),
            expected: "a savings percentage, a whole number from 0 to 100".to_owned(),
        }]
    );
    assert_eq!(
        skipped[0].to_string(),
        "Spot Advisor feed, at spot_advisor.ca-central-1.Linux.p5.48xlarge.s: -62, \
         expected a savings percentage, a whole number from 0 to 100"
    );
}

#[test]
fn the_rest_of_the_live_feed_is_used() {
    let (catalog, _) = refreshed();
    assert_eq!(catalog.regions().len(), 33);
    assert!(catalog.regions().contains("ca-central-1"));
    assert_eq!(
        advice(&catalog, "m5.large", "us-east-1", OperatingSystem::Linux),
        Some(SpotAdvice {
            savings_percent: 66,
            interruption: InterruptionBucket::From15To20Percent,
        })
    );
    assert_eq!(
        advice(&catalog, "m5.large", "ca-central-1", OperatingSystem::Linux),
        Some(SpotAdvice {
            savings_percent: 65,
            interruption: InterruptionBucket::Over20Percent,
        })
    );
    assert_eq!(
        advice(&catalog, "m5.large", "eu-west-1", OperatingSystem::Windows),
        Some(SpotAdvice {
            savings_percent: 29,
            interruption: InterruptionBucket::Over20Percent,
        })
    );
    assert_eq!(
        advice(&catalog, "m7g.large", "eu-west-1", OperatingSystem::Linux),
        Some(SpotAdvice {
            savings_percent: 53,
            interruption: InterruptionBucket::From5To10Percent,
        })
    );
    // The odd entry is left out; the same type elsewhere is not.
    assert_eq!(
        advice(
            &catalog,
            "p5.48xlarge",
            "ca-central-1",
            OperatingSystem::Linux
        ),
        None
    );
    assert_eq!(
        advice(&catalog, "p5.48xlarge", "us-east-1", OperatingSystem::Linux),
        Some(SpotAdvice {
            savings_percent: 52,
            interruption: InterruptionBucket::Over20Percent,
        })
    );
    let advised_in_ca_central_1 = catalog
        .instance_types()
        .filter(|t| {
            t.spot_advice("ca-central-1", OperatingSystem::Linux)
                .is_some()
        })
        .count();
    // 530 Linux entries in ca-central-1, less the odd one.
    assert_eq!(advised_in_ca_central_1, 529);
}

#[test]
fn the_live_feed_builds_a_catalog_on_its_own() {
    let (catalog, skipped) = Catalog::builder()
        .spot_advisor_feed(LIVE_FEED)
        .unwrap()
        .build()
        .unwrap();
    assert_eq!(skipped.len(), 1);
    assert_eq!(catalog.len(), 929);
    let m5 = catalog.get("m5.large").unwrap();
    assert_eq!((m5.vcpus, m5.memory_bytes), (2, 8 << 30));
}
