//! Reading AWS Price List GetProducts answers into the catalog: a recorded
//! answer, two pages in the recorded format (see `tests/data/README.md`),
//! and odd or hostile products.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use cloudoptim_core::catalog::{
    Catalog, CatalogError, EntryLocation, OperatingSystem, PriceListPrices, PriceListQuery,
    SkippedEntry,
};
use cloudoptim_core::pricing::{instance_price, PriceSource};
use cloudoptim_core::snapshot::CapacityType;
use proptest::prelude::*;
use serde_json::{json, Value};

const RECORDED: &str = include_str!("data/price-list/aws-cli-get-products-example.json");
/// A recorded product document: one `PriceList` element, m5.large Linux in
/// us-east-1, of 2021, from before documents carried `regionCode`.
const RECORDED_M5_LARGE: &str = include_str!("data/price-list/ec2-instance-selector-m5-large.json");
const PAGE_1: &str = include_str!("data/price-list/eu-west-1-page-1.json");
const PAGE_2: &str = include_str!("data/price-list/eu-west-1-page-2.json");
const LIVE_FEED: &str = include_str!("data/spot-advisor-data.json");
const EU_WEST_1: &str = "eu-west-1";

/// The product documents of a recorded page, as JSON values.
fn documents(answer: &str) -> Vec<Value> {
    let answer: Value = serde_json::from_str(answer).unwrap();
    answer["PriceList"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| serde_json::from_str(s.as_str().unwrap()).unwrap())
        .collect()
}

/// A kept product (m5.large, Linux, eu-west-1, $0.107) from page 1, to mutate.
fn template() -> Value {
    documents(PAGE_1).swap_remove(0)
}

fn read(products: &[Value]) -> (PriceListPrices, Vec<SkippedEntry>) {
    let texts: Vec<String> = products.iter().map(Value::to_string).collect();
    let mut prices = PriceListPrices::new();
    let skipped = prices.add_page(0, &texts);
    (prices, skipped)
}

fn path_of(entry: &SkippedEntry) -> &str {
    match &entry.location {
        EntryLocation::Feed { path } => path,
        other => panic!("expected a JSON path, found {other:?}"),
    }
}

/// The one skipped entry of reading `product`, which yields no price.
fn only_skipped(product: Value) -> SkippedEntry {
    let (prices, mut skipped) = read(&[product]);
    assert!(prices.is_empty(), "{prices:?}");
    assert_eq!(skipped.len(), 1, "{skipped:#?}");
    let entry = skipped.remove(0);
    assert_eq!(entry.source_name, "Price List GetProducts");
    entry
}

fn pages() -> PriceListPrices {
    let mut prices = PriceListPrices::new();
    for (page, answer) in [PAGE_1, PAGE_2].into_iter().enumerate() {
        let skipped = prices.add_get_products_answer(page, answer).unwrap();
        assert!(skipped.is_empty(), "{skipped:#?}");
    }
    prices
}

/// The price the page's product states, read with the test's own means.
fn stated_price(answer: &str, instance_type: &str, os: &str, family: &str) -> f64 {
    let found: Vec<f64> = documents(answer)
        .iter()
        .filter(|d| {
            let a = &d["product"]["attributes"];
            a["instanceType"] == instance_type
                && a["operatingSystem"] == os
                && d["product"]["productFamily"] == family
                && a["capacitystatus"] == "Used"
                && a["preInstalledSw"] == "NA"
                && a["licenseModel"] == "No License required"
        })
        .flat_map(|d| {
            d["terms"]["OnDemand"]
                .as_object()
                .unwrap()
                .values()
                .flat_map(|t| t["priceDimensions"].as_object().unwrap().values())
                .map(|dim| {
                    dim["pricePerUnit"]["USD"]
                        .as_str()
                        .unwrap()
                        .parse()
                        .unwrap()
                })
                .collect::<Vec<f64>>()
        })
        .collect();
    assert_eq!(found.len(), 1, "{instance_type} {os}: {found:?}");
    found[0]
}

#[test]
fn the_recorded_answer_is_read_and_its_storage_product_left_out() {
    let mut prices = PriceListPrices::new();
    let skipped = prices.add_get_products_answer(0, RECORDED).unwrap();
    assert!(skipped.is_empty(), "{skipped:#?}");
    assert!(prices.is_empty());
    assert_eq!(prices.products_left_out(), 1);
}

#[test]
fn a_recorded_instance_product_is_priced_in_the_region_its_location_names() {
    let document: Value = serde_json::from_str(RECORDED_M5_LARGE).unwrap();
    let attributes = &document["product"]["attributes"];
    // The document as recorded: no `regionCode`, the region by name only.
    assert!(attributes.get("regionCode").is_none());
    assert_eq!(attributes["location"], "US East (N. Virginia)");
    // Its own statement of the on-demand price, read with the test's means.
    let on_demand = document["terms"]["OnDemand"].as_object().unwrap();
    assert_eq!(on_demand.len(), 1);
    let dimensions = on_demand.values().next().unwrap()["priceDimensions"]
        .as_object()
        .unwrap();
    assert_eq!(dimensions.len(), 1);
    let dimension = dimensions.values().next().unwrap();
    assert_eq!(dimension["unit"], "Hrs");
    let stated: f64 = dimension["pricePerUnit"]["USD"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();

    let mut prices = PriceListPrices::new();
    let skipped = prices.add_page(0, &[RECORDED_M5_LARGE]);
    assert!(skipped.is_empty(), "{skipped:#?}");
    assert_eq!(prices.products_left_out(), 0);
    assert_eq!(
        prices.iter().collect::<Vec<_>>(),
        [(
            "us-east-1",
            "m5.large",
            OperatingSystem::Linux,
            cloudoptim_core::money::UsdPerHour::from_usd(stated).unwrap()
        )]
    );
    assert_eq!(
        prices
            .get("m5.large", "us-east-1", OperatingSystem::Linux)
            .map(|p| p.usd()),
        Some(0.096)
    );
    // The reserved terms' hourly rates (0.019 to 0.071) are not read as it.
    assert_eq!(
        prices.get("m5.large", "us-east-1", OperatingSystem::Windows),
        None
    );

    // As an SDK hands it over: the document as one string of `PriceList`.
    let answer = json!({"FormatVersion": "aws_v1", "PriceList": [RECORDED_M5_LARGE]}).to_string();
    let mut from_answer = PriceListPrices::new();
    assert!(from_answer
        .add_get_products_answer(0, &answer)
        .unwrap()
        .is_empty());
    assert_eq!(from_answer, prices);

    let catalog = Catalog::embedded().unwrap().with_price_list(&prices);
    let m5 = catalog.get("m5.large").unwrap();
    let price = instance_price(
        m5,
        "us-east-1",
        CapacityType::OnDemand,
        OperatingSystem::Linux,
    )
    .unwrap();
    assert_eq!(price.usd_per_hour.usd(), stated);
    assert_eq!(price.source, PriceSource::OnDemand);
}

#[test]
fn without_region_code_a_location_that_is_no_region_is_skipped() {
    let mut document: Value = serde_json::from_str(RECORDED_M5_LARGE).unwrap();
    document["product"]["attributes"]["location"] = json!("US East (Boston)");
    let entry = only_skipped(document.clone());
    assert_eq!(
        path_of(&entry),
        "pages[0].PriceList[0].product.attributes.location"
    );
    assert_eq!(entry.value, "\"US East (Boston)\"");
    assert!(entry.expected.contains("regionCode"), "{}", entry.expected);

    // Neither `regionCode` nor `location`.
    document["product"]["attributes"]
        .as_object_mut()
        .unwrap()
        .remove("location");
    let entry = only_skipped(document.clone());
    assert_eq!(
        path_of(&entry),
        "pages[0].PriceList[0].product.attributes.regionCode"
    );
    assert_eq!(entry.value, "(missing)");

    // `regionCode`, where there is one, is the region, whatever `location` says.
    document["product"]["attributes"]["regionCode"] = json!("us-west-2");
    document["product"]["attributes"]["location"] = json!("EU (Ireland)");
    let (prices, skipped) = read(&[document]);
    assert!(skipped.is_empty(), "{skipped:#?}");
    assert_eq!(
        prices.regions().into_iter().collect::<Vec<_>>(),
        ["us-west-2"]
    );
}

#[test]
fn both_pages_price_linux_windows_and_metal_and_leave_the_rest_out() {
    let prices = pages();
    let expected = [
        (
            "m5.large",
            OperatingSystem::Linux,
            PAGE_1,
            "Compute Instance",
        ),
        (
            "m5.large",
            OperatingSystem::Windows,
            PAGE_1,
            "Compute Instance",
        ),
        (
            "m5.xlarge",
            OperatingSystem::Linux,
            PAGE_1,
            "Compute Instance",
        ),
        (
            "m5.xlarge",
            OperatingSystem::Windows,
            PAGE_1,
            "Compute Instance",
        ),
        (
            "m5.metal",
            OperatingSystem::Linux,
            PAGE_2,
            "Compute Instance (bare metal)",
        ),
        (
            "c5.large",
            OperatingSystem::Linux,
            PAGE_2,
            "Compute Instance",
        ),
    ];
    for (name, os, page, family) in expected {
        let got = prices.get(name, EU_WEST_1, os).map(|p| p.usd());
        let stated = stated_price(page, name, os.feed_name(), family);
        assert_eq!(got, Some(stated), "{name} {os}");
    }
    assert_eq!(prices.len(), expected.len(), "{prices:?}");
    let all = documents(PAGE_1).len() + documents(PAGE_2).len();
    assert_eq!(prices.products_left_out(), all - expected.len());
    assert_eq!(
        prices.regions().into_iter().collect::<Vec<_>>(),
        [EU_WEST_1]
    );
    // The dedicated m5.large (not metal) and the capacity reservation's idle
    // part are not read as the m5.large price.
    assert_eq!(
        prices.get("m5.large", EU_WEST_1, OperatingSystem::Linux),
        Some(cloudoptim_core::money::UsdPerHour::from_usd(0.107).unwrap())
    );
}

#[test]
fn the_catalog_prices_the_new_region_per_operating_system_and_no_other() {
    let prices = pages();
    let base = Catalog::embedded().unwrap();
    let catalog = base.with_price_list(&prices);
    assert!(catalog.regions().contains(EU_WEST_1));
    for (name, os, price) in prices.iter().map(|(_, n, os, p)| (n, os, p)) {
        let it = catalog.get(name).unwrap();
        let got = instance_price(it, EU_WEST_1, CapacityType::OnDemand, os).unwrap();
        assert_eq!(got.usd_per_hour, price, "{name} {os}");
        assert_eq!(got.source, PriceSource::OnDemand);
    }
    // Windows is priced from the Windows table, not the Linux one.
    let m5 = catalog.get("m5.large").unwrap();
    let linux = instance_price(
        m5,
        EU_WEST_1,
        CapacityType::OnDemand,
        OperatingSystem::Linux,
    );
    let windows = instance_price(
        m5,
        EU_WEST_1,
        CapacityType::OnDemand,
        OperatingSystem::Windows,
    );
    assert!(windows.unwrap().usd_per_hour > linux.unwrap().usd_per_hour);
    // us-east-1 keeps its embedded prices.
    for it in base.instance_types() {
        assert_eq!(
            catalog
                .get(&it.name)
                .unwrap()
                .on_demand_usd_per_hour("us-east-1"),
            it.on_demand_usd_per_hour("us-east-1")
        );
    }
    // A type the pages do not price has no eu-west-1 price, not us-east-1's.
    let m5_2xl = catalog.get("m5.2xlarge").unwrap();
    assert!(m5_2xl.on_demand_usd_per_hour("us-east-1").is_some());
    for os in OperatingSystem::ALL {
        assert_eq!(
            instance_price(m5_2xl, EU_WEST_1, CapacityType::OnDemand, os),
            None
        );
    }
}

#[test]
fn windows_spot_estimates_start_from_the_windows_on_demand_price() {
    let (with_feed, _) = Catalog::embedded()
        .unwrap()
        .with_spot_advisor_feed(LIVE_FEED)
        .unwrap();
    let catalog = with_feed.with_price_list(&pages());
    let m5 = catalog.get("m5.large").unwrap();
    for os in OperatingSystem::ALL {
        let advice = m5.spot_advice(EU_WEST_1, os).unwrap();
        let on_demand = pages().get("m5.large", EU_WEST_1, os).unwrap();
        let spot = instance_price(m5, EU_WEST_1, CapacityType::Spot, os).unwrap();
        assert_eq!(spot.source, PriceSource::SpotEstimate);
        assert_eq!(
            spot.usd_per_hour,
            on_demand.percent(f64::from(100 - advice.savings_percent)),
            "{os}"
        );
    }
}

#[test]
fn the_filters_asked_for_are_the_filters_kept() {
    for query in PriceListQuery::ALL {
        for os in OperatingSystem::ALL {
            let mut product = template();
            let attributes = product["product"]["attributes"].as_object_mut().unwrap();
            for (field, value) in query.filters("ap-south-2", os) {
                if field == "productFamily" {
                    continue;
                }
                attributes.insert(field.to_owned(), json!(value));
            }
            product["product"]["productFamily"] = json!(query.product_family);
            let (prices, skipped) = read(&[product]);
            assert!(skipped.is_empty(), "{skipped:#?}");
            assert!(
                prices.get("m5.large", "ap-south-2", os).is_some(),
                "{query:?} {os}"
            );
        }
    }
}

#[test]
fn each_filter_leaves_a_product_out_without_a_report() {
    let changes = [
        ("productFamily", json!("Dedicated Host")),
        ("operatingSystem", json!("SUSE")),
        ("tenancy", json!("Host")),
        ("preInstalledSw", json!("SQL Ent")),
        ("capacitystatus", json!("AllocatedCapacityReservation")),
        ("licenseModel", json!("Bring your own license")),
        ("marketoption", json!("CapacityBlock")),
    ];
    for (field, value) in changes {
        let mut product = template();
        if field == "productFamily" {
            product["product"]["productFamily"] = value;
        } else {
            product["product"]["attributes"][field] = value;
        }
        let (prices, skipped) = read(&[product]);
        assert!(prices.is_empty() && skipped.is_empty(), "{field}");
        assert_eq!(prices.products_left_out(), 1, "{field}");
    }
    // Older documents have no `marketoption`: still kept.
    let mut product = template();
    product["product"]["attributes"]
        .as_object_mut()
        .unwrap()
        .remove("marketoption");
    assert_eq!(read(&[product]).0.len(), 1);
}

fn set_price(product: &mut Value, price: Value) {
    for term in product["terms"]["OnDemand"]
        .as_object_mut()
        .unwrap()
        .values_mut()
    {
        for dim in term["priceDimensions"]
            .as_object_mut()
            .unwrap()
            .values_mut()
        {
            dim["pricePerUnit"]["USD"] = price.clone();
        }
    }
}

#[test]
fn odd_prices_are_skipped_with_their_path_and_value() {
    let cases = [
        json!("-1"),
        json!("abc"),
        json!("NaN"),
        json!("1e400"),
        json!("200000"),
        json!(0.107),
        json!(null),
    ];
    for price in cases {
        let mut product = template();
        set_price(&mut product, price.clone());
        let entry = only_skipped(product);
        let path = path_of(&entry);
        assert!(
            path.starts_with("pages[0].PriceList[0].terms.OnDemand.")
                && path.ends_with(".pricePerUnit.USD"),
            "{path}"
        );
        // `null` reads as no `USD` at all: the whole `pricePerUnit` is shown.
        let shown = if price.is_null() {
            json!({ "USD": null }).to_string()
        } else {
            price.to_string()
        };
        assert_eq!(entry.value, shown);
        assert!(
            entry.expected.contains("USD per hour"),
            "{}",
            entry.expected
        );
    }
}

#[test]
fn a_zero_price_is_left_out_silently() {
    let mut product = template();
    set_price(&mut product, json!("0.0000000000"));
    let (prices, skipped) = read(&[product]);
    assert!(prices.is_empty() && skipped.is_empty());
    assert_eq!(prices.products_left_out(), 1);
}

#[test]
fn odd_attributes_are_skipped_with_their_path() {
    let attribute_path = |name: &str| format!("pages[0].PriceList[0].product.attributes.{name}");
    // A missing `regionCode` is read from `location`: see
    // `without_region_code_a_location_that_is_no_region_is_skipped`.
    let cases: [(&str, Option<Value>, &str); 4] = [
        ("instanceType", Some(json!("m5")), "\"m5\""),
        ("instanceType", Some(json!(5)), "5"),
        // Shown with its whitespace run as one space, as every skipped value.
        ("regionCode", Some(json!("  ")), "\" \""),
        ("tenancy", None, "(missing)"),
    ];
    for (name, value, shown) in cases {
        let mut product = template();
        let attributes = product["product"]["attributes"].as_object_mut().unwrap();
        match value {
            Some(value) => attributes.insert(name.to_owned(), value),
            None => attributes.remove(name),
        };
        let entry = only_skipped(product);
        assert_eq!(path_of(&entry), attribute_path(name), "{name}");
        assert_eq!(entry.value, shown, "{name}");
    }
}

#[test]
fn products_without_one_hourly_price_are_skipped() {
    let mut no_terms = template();
    no_terms["terms"] = json!({"Reserved": {}});
    let entry = only_skipped(no_terms);
    assert_eq!(path_of(&entry), "pages[0].PriceList[0].terms.OnDemand");
    assert_eq!(entry.value, "(missing)");

    let mut not_hourly = template();
    for term in not_hourly["terms"]["OnDemand"]
        .as_object_mut()
        .unwrap()
        .values_mut()
    {
        for dim in term["priceDimensions"]
            .as_object_mut()
            .unwrap()
            .values_mut()
        {
            dim["unit"] = json!("Quantity");
        }
    }
    let entry = only_skipped(not_hourly);
    assert_eq!(path_of(&entry), "pages[0].PriceList[0].terms.OnDemand");

    let mut two = template();
    let term = two["terms"]["OnDemand"]
        .as_object_mut()
        .unwrap()
        .values_mut()
        .next()
        .unwrap();
    let dims = term["priceDimensions"].as_object_mut().unwrap();
    let mut second = dims.values().next().unwrap().clone();
    second["pricePerUnit"]["USD"] = json!("0.2140000000");
    dims.insert("SECOND.RATE".to_owned(), second);
    let entry = only_skipped(two);
    assert_eq!(path_of(&entry), "pages[0].PriceList[0].terms.OnDemand");
    assert!(entry.expected.contains("one hourly"), "{}", entry.expected);
}

#[test]
fn a_conflicting_second_price_is_skipped_and_the_first_kept() {
    let first = template();
    let same = template();
    let mut other = template();
    set_price(&mut other, json!("0.5000000000"));
    let (prices, skipped) = read(&[first, same, other]);
    assert_eq!(prices.len(), 1);
    assert_eq!(
        prices
            .get("m5.large", EU_WEST_1, OperatingSystem::Linux)
            .map(|p| p.usd()),
        Some(0.107)
    );
    assert_eq!(skipped.len(), 1, "{skipped:#?}");
    assert_eq!(
        path_of(&skipped[0]),
        "pages[0].PriceList[2].product.attributes.instanceType"
    );
    assert!(
        skipped[0].expected.contains("pages[0].PriceList[0]"),
        "{}",
        skipped[0].expected
    );
}

#[test]
fn hostile_documents_are_skipped_and_the_rest_of_the_page_used() {
    let deep = format!(
        "{{\"product\": {}{}}}",
        "[".repeat(100_000),
        "]".repeat(100_000)
    );
    let huge_name = "x".repeat(1 << 20);
    let mut huge = template();
    huge["product"]["attributes"]["instanceType"] = json!(huge_name);
    let texts = [
        "{not json".to_owned(),
        "[]".to_owned(),
        String::new(),
        deep,
        json!({"product": "m5.large", "terms": {}}).to_string(),
        json!({"product": {"productFamily": 7, "attributes": {}}, "terms": {}}).to_string(),
        huge.to_string(),
        template().to_string(),
    ];
    let mut prices = PriceListPrices::new();
    let skipped = prices.add_page(3, &texts);
    assert_eq!(prices.len(), 1, "{skipped:#?}");
    assert_eq!(skipped.len(), texts.len() - 1, "{skipped:#?}");
    for (index, entry) in skipped.iter().enumerate() {
        let path = path_of(entry);
        assert!(
            path.starts_with(&format!("pages[3].PriceList[{index}]")),
            "{path}"
        );
        assert!(entry.value.len() < 200, "{} bytes", entry.value.len());
    }
    assert!(skipped[6].value.ends_with("bytes)"), "{}", skipped[6].value);
}

#[test]
fn answers_of_the_wrong_shape_are_errors_naming_the_path() {
    let cases = [
        ("not json", "pages[0]"),
        ("[]", "pages[0]"),
        (r#"{"FormatVersion": "aws_v1"}"#, "pages[0]"),
        (r#"{"PriceList": "m5.large"}"#, "pages[0].PriceList"),
        (r#"{"PriceList": [1]}"#, "pages[0].PriceList"),
        (r#"{"PriceList": [{"product": {}}]}"#, "pages[0].PriceList"),
    ];
    for (text, expected_path) in cases {
        let mut prices = PriceListPrices::new();
        match prices.add_get_products_answer(0, text) {
            Err(CatalogError::PriceList { path, message }) => {
                assert_eq!(path, expected_path, "{text}: {message}");
            }
            other => panic!("{text}: {other:?}"),
        }
        assert!(prices.is_empty() && prices.products_left_out() == 0);
    }
}

proptest! {
    #[test]
    fn any_text_is_a_product_skipped_left_out_or_priced(text in ".{0,300}") {
        let mut prices = PriceListPrices::new();
        let skipped = prices.add_page(0, &[text.as_str()]);
        prop_assert!(skipped.len() + prices.len() + prices.products_left_out() >= 1);
        prop_assert!(prices.len() <= 1);
    }

    #[test]
    fn a_price_is_kept_exactly_when_it_reads_as_a_sane_number(price in "[-+0-9.eE]{0,12}") {
        let mut product = template();
        set_price(&mut product, json!(price));
        let (prices, skipped) = read(&[product]);
        let sane = price.trim().parse::<f64>().ok().filter(|p| (0.0..=100_000.0).contains(p));
        match sane {
            Some(p) if p > 0.0 && (p * 1e6).round() != 0.0 => {
                let got = prices.get("m5.large", EU_WEST_1, OperatingSystem::Linux);
                prop_assert_eq!(got.map(|g| g.micro_usd()), Some((p * 1e6).round() as i64));
            }
            Some(_) => prop_assert!(prices.is_empty() && skipped.is_empty()),
            None => prop_assert!(prices.is_empty() && skipped.len() == 1),
        }
    }
}
