//! Reading answers of the AWS Price List API (`GetProducts` for
//! `AmazonEC2`), product by product, into on-demand hourly prices.
//!
//! A GetProducts answer is a page of products: `{"FormatVersion":
//! "aws_v1", "NextToken": …, "PriceList": ["…", "…"]}`, each `PriceList`
//! string one JSON product document:
//!
//! ```json
//! {"product": {"productFamily": "Compute Instance", "sku": "…",
//!              "attributes": {"instanceType": "m5.large", "regionCode": "eu-west-1",
//!                             "operatingSystem": "Linux", "tenancy": "Shared",
//!                             "preInstalledSw": "NA", "capacitystatus": "Used",
//!                             "licenseModel": "No License required", "marketoption": "OnDemand"}},
//!  "serviceCode": "AmazonEC2",
//!  "terms": {"OnDemand": {"SKU.JRTCKXETXF": {"priceDimensions": {"SKU.JRTCKXETXF.6YS6EN2CT7":
//!            {"unit": "Hrs", "pricePerUnit": {"USD": "0.1070000000"}}}}},
//!            "Reserved": {}}}
//! ```
//!
//! Only the products Karpenter prices nodes with are kept (its pricing
//! provider asks GetProducts for them with these filters): family `Compute
//! Instance` with tenancy `Shared`, or `Compute Instance (bare metal)` with
//! tenancy `Dedicated`; operating system `Linux` or `Windows`;
//! `preInstalledSw` `NA` (no SQL Server and the like); `capacitystatus`
//! `Used` (not the idle part of a capacity reservation); `licenseModel` `No
//! License required` (for Windows, the license included, not BYOL); and
//! `marketoption` `OnDemand` where the product has one. Other products are
//! *left out*, counted but not reported: an unfiltered page holds thousands
//! of them. Prices of zero are left out likewise, as Karpenter does.
//!
//! As for the Spot Advisor feed, two kinds of problems are told apart:
//!
//! - **the wrong shape** of an answer — not JSON, not an object, no
//!   `PriceList` list of strings — is a [`CatalogError::PriceList`] naming
//!   the path;
//! - **an odd product** — not a JSON object, a kept product with an
//!   attribute missing or not a string, a bad instance type name, no
//!   region (no `regionCode`, nor, in a document older than `regionCode`, a
//!   `location` naming an AWS Region), no hourly USD price, a price that is not a number or out
//!   of range, two different hourly prices, a second different price for a
//!   type, region and operating system already read — is skipped and
//!   reported as a [`SkippedEntry`] with its path (e.g.
//!   `pages[0].PriceList[3].terms.OnDemand`) and value; the rest is used.

use std::collections::{BTreeMap, BTreeSet};

use serde::Deserialize;
use serde_json::value::RawValue;

use super::error::CatalogError;
use super::instance_type::split_name;
use super::on_demand_prices_csv::MAX_USD_PER_HOUR;
use super::price_list_locations::region_of_location;
use super::skipped::{EntryLocation, SkippedEntry};
use super::spot::OperatingSystem;
use super::spot_advisor_feed::{is_object, kind, quoted};
use crate::money::UsdPerHour;

/// The name skipped entries of the Price List carry.
pub(super) const SOURCE_NAME: &str = "Price List GetProducts";

/// The unit of hourly price dimensions.
const HOURLY_UNIT: &str = "Hrs";

const EXPECTED_DOCUMENT: &str = "a product document: an object with `product` and `terms`";
const EXPECTED_PRODUCT: &str = "an object with `productFamily` and `attributes`";
const EXPECTED_ATTRIBUTE: &str = "a string";
const EXPECTED_NAME: &str = "an instance type name like `m5.large`";
const EXPECTED_REGION: &str = "a `regionCode` like `eu-west-1`, or without one a `location` \
                               naming an AWS Region like `EU (Ireland)`";
const EXPECTED_ON_DEMAND: &str = "an `OnDemand` term with an hourly (`Hrs`) price in USD";

/// The Price List's attributes this reader uses, as the API spells them.
mod attribute {
    pub(super) const INSTANCE_TYPE: &str = "instanceType";
    pub(super) const REGION_CODE: &str = "regionCode";
    pub(super) const LOCATION: &str = "location";
    pub(super) const OPERATING_SYSTEM: &str = "operatingSystem";
    pub(super) const TENANCY: &str = "tenancy";
    pub(super) const PRE_INSTALLED_SW: &str = "preInstalledSw";
    pub(super) const CAPACITY_STATUS: &str = "capacitystatus";
    pub(super) const LICENSE_MODEL: &str = "licenseModel";
    pub(super) const MARKET_OPTION: &str = "marketoption";
}

/// A product family whose products price nodes, and the tenancy that goes
/// with it (Karpenter's two queries).
const KEPT_FAMILIES: [(&str, &str); 2] = [
    ("Compute Instance", "Shared"),
    ("Compute Instance (bare metal)", "Dedicated"),
];

/// The attribute values a product must have to be kept, beyond its family,
/// tenancy and operating system.
const KEPT_VALUES: [(&str, &str); 3] = [
    (attribute::PRE_INSTALLED_SW, "NA"),
    (attribute::CAPACITY_STATUS, "Used"),
    (attribute::LICENSE_MODEL, "No License required"),
];

/// What a GetProducts request for the products this reader keeps filters
/// on (`TERM_MATCH` each), for `region` and `os`: the API then returns
/// only them, and far fewer pages. The bare-metal family is a second query
/// with `productFamily` `Compute Instance (bare metal)` and `tenancy`
/// `Dedicated` instead (see [`PriceListQuery::ALL`]).
///
/// ```
/// use cloudoptim_core::catalog::{OperatingSystem, PriceListQuery};
/// let filters = PriceListQuery::ALL[0].filters("eu-west-1", OperatingSystem::Windows);
/// assert!(filters.contains(&("operatingSystem", "Windows".to_owned())));
/// assert!(filters.contains(&("regionCode", "eu-west-1".to_owned())));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PriceListQuery {
    /// The `productFamily` asked for.
    pub product_family: &'static str,
    /// The `tenancy` asked for.
    pub tenancy: &'static str,
}

impl PriceListQuery {
    /// The two queries that together cover every kept product: shared
    /// instances, and bare-metal ones (listed with dedicated tenancy).
    pub const ALL: [PriceListQuery; 2] = [
        PriceListQuery {
            product_family: KEPT_FAMILIES[0].0,
            tenancy: KEPT_FAMILIES[0].1,
        },
        PriceListQuery {
            product_family: KEPT_FAMILIES[1].0,
            tenancy: KEPT_FAMILIES[1].1,
        },
    ];

    /// The `(field, value)` pairs to filter on (all `TERM_MATCH`).
    pub fn filters(self, region: &str, os: OperatingSystem) -> Vec<(&'static str, String)> {
        let mut filters = vec![
            (attribute::REGION_CODE, region.to_owned()),
            ("productFamily", self.product_family.to_owned()),
            (attribute::TENANCY, self.tenancy.to_owned()),
            (attribute::OPERATING_SYSTEM, os.feed_name().to_owned()),
            (attribute::MARKET_OPTION, "OnDemand".to_owned()),
        ];
        filters.extend(KEPT_VALUES.iter().map(|(f, v)| (*f, (*v).to_owned())));
        filters
    }
}

/// On-demand hourly prices read from Price List GetProducts answers, by
/// region, instance type and operating system.
///
/// Fill it page by page with [`add_page`](Self::add_page) (the `PriceList`
/// strings an SDK returns) or [`add_get_products_answer`](Self::add_get_products_answer)
/// (a whole answer as JSON text, as `aws pricing get-products` prints it),
/// then give it to [`Catalog::with_price_list`](super::Catalog::with_price_list).
///
/// ```
/// use cloudoptim_core::catalog::{Catalog, OperatingSystem, PriceListPrices};
/// use cloudoptim_core::pricing::instance_price;
/// use cloudoptim_core::snapshot::CapacityType;
///
/// let product = r#"{"product": {"productFamily": "Compute Instance", "attributes": {
///     "instanceType": "m5.large", "regionCode": "eu-west-1", "operatingSystem": "Linux",
///     "tenancy": "Shared", "preInstalledSw": "NA", "capacitystatus": "Used",
///     "licenseModel": "No License required"}},
///   "terms": {"OnDemand": {"T": {"priceDimensions": {"D": {
///     "unit": "Hrs", "pricePerUnit": {"USD": "0.1070000000"}}}}}}}"#;
/// let mut prices = PriceListPrices::new();
/// let skipped = prices.add_page(0, &[product]);
/// assert!(skipped.is_empty());
///
/// let catalog = Catalog::embedded()?.with_price_list(&prices);
/// let m5 = catalog.get("m5.large").ok_or("m5.large is missing")?;
/// let price = instance_price(m5, "eu-west-1", CapacityType::OnDemand, OperatingSystem::Linux)
///     .ok_or("no price in eu-west-1")?;
/// assert_eq!(price.usd_per_hour.usd(), 0.107);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PriceListPrices {
    /// Prices by `(region, instance type, operating system)`.
    prices: BTreeMap<(String, String, OperatingSystem), UsdPerHour>,
    /// Where each price was read, for the report of a conflicting one.
    read_at: BTreeMap<(String, String, OperatingSystem), String>,
    products_left_out: usize,
}

#[derive(Deserialize)]
struct RawDocument<'a> {
    #[serde(borrow)]
    product: Option<&'a RawValue>,
    #[serde(borrow)]
    terms: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct RawProduct<'a> {
    #[serde(rename = "productFamily", borrow)]
    product_family: Option<&'a RawValue>,
    #[serde(borrow)]
    attributes: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct RawTerms<'a> {
    #[serde(rename = "OnDemand", borrow)]
    on_demand: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct RawTerm<'a> {
    #[serde(rename = "priceDimensions", borrow)]
    price_dimensions: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct RawDimension<'a> {
    #[serde(borrow)]
    unit: Option<&'a RawValue>,
    #[serde(rename = "pricePerUnit", borrow)]
    price_per_unit: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct RawPricePerUnit<'a> {
    #[serde(rename = "USD", borrow)]
    usd: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct RawAnswer<'a> {
    #[serde(rename = "PriceList", borrow)]
    price_list: Option<&'a RawValue>,
}

type Members<'a> = BTreeMap<String, &'a RawValue>;

/// What one product document gives.
enum Product {
    /// A price to keep.
    Priced {
        region: String,
        instance_type: String,
        os: OperatingSystem,
        price: UsdPerHour,
    },
    /// Not a product this reader keeps, or priced at zero.
    LeftOut,
    /// Odd; the reasons are in the skipped entries.
    Odd,
}

impl PriceListPrices {
    /// No prices yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Reads one GetProducts page: its `PriceList` strings, each a product
    /// document. `page` numbers the page (from 0) in the paths of skipped
    /// entries, `pages[{page}].PriceList[{i}]…`.
    ///
    /// Returns the products skipped as odd; the others are kept or left
    /// out as the [module](self) says. A type, region and operating
    /// system read again with the same price is not an error; with a
    /// different price, the later product is skipped.
    pub fn add_page<S: AsRef<str>>(&mut self, page: usize, price_list: &[S]) -> Vec<SkippedEntry> {
        let mut skipped = Vec::new();
        for (index, document) in price_list.iter().enumerate() {
            let path = format!("pages[{page}].PriceList[{index}]");
            match product(&path, document.as_ref(), &mut skipped) {
                Product::Priced {
                    region,
                    instance_type,
                    os,
                    price,
                } => {
                    let key = (region, instance_type, os);
                    match self.prices.get(&key) {
                        None => {
                            self.prices.insert(key.clone(), price);
                            self.read_at.insert(key, path);
                        }
                        Some(known) if *known == price => {}
                        Some(known) => {
                            let first = self.read_at.get(&key).map_or("", String::as_str);
                            skipped.push(skip(
                                format!("{path}.product.attributes.{}", attribute::INSTANCE_TYPE),
                                &quoted(&key.1),
                                &format!(
                                    "each instance type once per region and operating system \
                                     ({} {} in {} is ${} an hour at {first})",
                                    key.1,
                                    key.2,
                                    key.0,
                                    known.usd()
                                ),
                            ));
                        }
                    }
                }
                Product::LeftOut => {
                    self.products_left_out = self.products_left_out.saturating_add(1);
                }
                Product::Odd => {}
            }
        }
        skipped
    }

    /// Reads a whole GetProducts answer given as JSON text (`{"FormatVersion":
    /// …, "NextToken": …, "PriceList": [...]}`, what `aws pricing
    /// get-products` prints), as [`add_page`](Self::add_page) reads its
    /// `PriceList`.
    ///
    /// An answer that is not JSON, not an object, or has no `PriceList`
    /// list of strings is a [`CatalogError::PriceList`], and `self` is
    /// unchanged.
    pub fn add_get_products_answer(
        &mut self,
        page: usize,
        json: &str,
    ) -> Result<Vec<SkippedEntry>, CatalogError> {
        let top = format!("pages[{page}]");
        if !is_object(json) {
            return Err(shape_error(
                &top,
                format!(
                    "expected a GetProducts answer (an object with `PriceList`), found {}",
                    kind(json)
                ),
            ));
        }
        let answer: RawAnswer<'_> =
            serde_json::from_str(json).map_err(|e| shape_error(&top, e.to_string()))?;
        let path = format!("{top}.PriceList");
        let list = answer
            .price_list
            .ok_or_else(|| shape_error(&top, "missing field `PriceList`"))?;
        if !list.get().trim_start().starts_with('[') {
            return Err(shape_error(
                &path,
                format!(
                    "expected a list of product documents as strings, found {}",
                    kind(list.get())
                ),
            ));
        }
        let strings: Vec<String> = serde_json::from_str(list.get()).map_err(|e| {
            shape_error(
                &path,
                format!("expected a list of product documents as strings: {e}"),
            )
        })?;
        Ok(self.add_page(page, &strings))
    }

    /// The on-demand price of `instance_type` for `os` in `region`, if read.
    pub fn get(
        &self,
        instance_type: &str,
        region: &str,
        os: OperatingSystem,
    ) -> Option<UsdPerHour> {
        self.prices
            .get(&(region.to_owned(), instance_type.to_owned(), os))
            .copied()
    }

    /// Every price: region, instance type, operating system, price; sorted.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str, OperatingSystem, UsdPerHour)> {
        self.prices
            .iter()
            .map(|((region, name, os), price)| (region.as_str(), name.as_str(), *os, *price))
    }

    /// The number of prices.
    pub fn len(&self) -> usize {
        self.prices.len()
    }

    /// Whether no price was read.
    pub fn is_empty(&self) -> bool {
        self.prices.is_empty()
    }

    /// The regions with at least one price, sorted.
    pub fn regions(&self) -> BTreeSet<&str> {
        self.prices
            .keys()
            .map(|(region, _, _)| region.as_str())
            .collect()
    }

    /// How many products were read but not kept: another product family,
    /// operating system, tenancy, license or capacity status, software
    /// pre-installed, or priced at zero.
    pub fn products_left_out(&self) -> usize {
        self.products_left_out
    }
}

/// Reads one product document at `path`.
fn product(path: &str, text: &str, skipped: &mut Vec<SkippedEntry>) -> Product {
    let Some(RawDocument {
        product: Some(product_raw),
        terms: Some(terms_raw),
    }) = entry(text)
    else {
        skipped.push(skip(path.to_owned(), text, EXPECTED_DOCUMENT));
        return Product::Odd;
    };
    let product_path = format!("{path}.product");
    let Some(RawProduct {
        product_family: Some(family_raw),
        attributes: Some(attributes_raw),
    }) = entry(product_raw.get())
    else {
        skipped.push(skip(product_path, product_raw.get(), EXPECTED_PRODUCT));
        return Product::Odd;
    };
    let Some(family) = string(family_raw) else {
        skipped.push(skip(
            format!("{product_path}.productFamily"),
            family_raw.get(),
            EXPECTED_ATTRIBUTE,
        ));
        return Product::Odd;
    };
    let Some(&(_, tenancy_kept)) = KEPT_FAMILIES.iter().find(|(f, _)| *f == family) else {
        return Product::LeftOut;
    };
    let attributes_path = format!("{product_path}.attributes");
    let Some(attributes) = entry::<Members<'_>>(attributes_raw.get()) else {
        skipped.push(skip(
            attributes_path,
            attributes_raw.get(),
            "an object of attributes",
        ));
        return Product::Odd;
    };
    let mut odd = false;
    let mut text_of = |name: &str, required: bool, skipped: &mut Vec<SkippedEntry>| {
        attribute_text(
            &attributes,
            &attributes_path,
            name,
            required,
            skipped,
            &mut odd,
        )
    };
    let os = text_of(attribute::OPERATING_SYSTEM, true, skipped);
    let tenancy = text_of(attribute::TENANCY, true, skipped);
    let kept_values: Vec<Option<String>> = KEPT_VALUES
        .iter()
        .map(|(name, _)| text_of(name, true, skipped))
        .collect();
    let market = text_of(attribute::MARKET_OPTION, false, skipped);
    let instance_type = text_of(attribute::INSTANCE_TYPE, true, skipped);
    if odd {
        return Product::Odd;
    }
    let os = match os.as_deref() {
        Some("Linux") => OperatingSystem::Linux,
        Some("Windows") => OperatingSystem::Windows,
        _ => return Product::LeftOut,
    };
    let kept = tenancy.as_deref() == Some(tenancy_kept)
        && KEPT_VALUES
            .iter()
            .zip(&kept_values)
            .all(|((_, want), got)| got.as_deref() == Some(*want))
        && market.as_deref().is_none_or(|m| m == "OnDemand");
    if !kept {
        return Product::LeftOut;
    }

    let region = region(&attributes, &attributes_path, skipped);
    let instance_type = instance_type.filter(|name| {
        let valid = split_name(name).is_some();
        if !valid {
            skipped.push(skip(
                format!("{attributes_path}.{}", attribute::INSTANCE_TYPE),
                &quoted(name),
                EXPECTED_NAME,
            ));
        }
        valid
    });
    let price = hourly_price(&format!("{path}.terms"), terms_raw, skipped);
    let (Some(region), Some(instance_type), Some(price)) = (region, instance_type, price) else {
        return Product::Odd;
    };
    match price {
        Some(price) => Product::Priced {
            region,
            instance_type,
            os,
            price,
        },
        None => Product::LeftOut,
    }
}

/// The product's region: its `regionCode`, or, in a document without one
/// (older ones, of 2021 and before), the region its `location` names; `None`
/// and a skipped entry when neither says.
fn region(
    attributes: &Members<'_>,
    attributes_path: &str,
    skipped: &mut Vec<SkippedEntry>,
) -> Option<String> {
    let (name, raw) = match attributes.get(attribute::REGION_CODE) {
        Some(raw) => (attribute::REGION_CODE, Some(*raw)),
        None => match attributes.get(attribute::LOCATION) {
            Some(raw) => (attribute::LOCATION, Some(*raw)),
            None => (attribute::REGION_CODE, None),
        },
    };
    let text = raw.and_then(string);
    let region = match name {
        attribute::LOCATION => text
            .as_deref()
            .and_then(region_of_location)
            .map(str::to_owned),
        _ => text.filter(|region| !region.trim().is_empty()),
    };
    if region.is_none() {
        skipped.push(skip(
            format!("{attributes_path}.{name}"),
            raw.map_or("(missing)", RawValue::get),
            EXPECTED_REGION,
        ));
    }
    region
}

/// The attribute `name` of a kept product as a string; a skipped entry
/// (and `odd` set) when it is not a string, or missing and `required`.
fn attribute_text(
    attributes: &Members<'_>,
    attributes_path: &str,
    name: &str,
    required: bool,
    skipped: &mut Vec<SkippedEntry>,
    odd: &mut bool,
) -> Option<String> {
    let value = match attributes.get(name) {
        Some(raw) => string(raw).ok_or(raw.get()),
        None if required => Err("(missing)"),
        None => return None,
    };
    value
        .map_err(|text| {
            skipped.push(skip(
                format!("{attributes_path}.{name}"),
                text,
                EXPECTED_ATTRIBUTE,
            ));
            *odd = true;
        })
        .ok()
}

/// The product's hourly on-demand price: `Some(Some(price))`, or
/// `Some(None)` when it is zero (left out), or `None` when odd (reported).
fn hourly_price(
    path: &str,
    terms_raw: &RawValue,
    skipped: &mut Vec<SkippedEntry>,
) -> Option<Option<UsdPerHour>> {
    let on_demand_path = format!("{path}.OnDemand");
    let Some(on_demand_raw) = entry::<RawTerms<'_>>(terms_raw.get()).and_then(|t| t.on_demand)
    else {
        skipped.push(skip(on_demand_path, "(missing)", EXPECTED_ON_DEMAND));
        return None;
    };
    let Some(terms) = entry::<Members<'_>>(on_demand_raw.get()) else {
        skipped.push(skip(
            on_demand_path,
            on_demand_raw.get(),
            "an object of on-demand terms",
        ));
        return None;
    };
    let expected_price =
        format!("a price in USD per hour as a decimal string, from 0 to {MAX_USD_PER_HOUR}");
    let mut prices = BTreeSet::new();
    let mut hourly = 0_usize;
    let mut odd = false;
    for (term_key, term_raw) in &terms {
        let term_path = format!("{on_demand_path}.{term_key}");
        let Some(dimensions) = entry::<RawTerm<'_>>(term_raw.get())
            .and_then(|t| t.price_dimensions)
            .and_then(|d| entry::<Members<'_>>(d.get()))
        else {
            skipped.push(skip(
                term_path,
                term_raw.get(),
                "an object with `priceDimensions`",
            ));
            odd = true;
            continue;
        };
        for (dimension_key, dimension_raw) in &dimensions {
            let dimension_path = format!("{term_path}.priceDimensions.{dimension_key}");
            let Some(RawDimension {
                unit,
                price_per_unit,
            }) = entry(dimension_raw.get())
            else {
                skipped.push(skip(
                    dimension_path,
                    dimension_raw.get(),
                    "an object with `unit` and `pricePerUnit`",
                ));
                odd = true;
                continue;
            };
            if unit.and_then(string).as_deref() != Some(HOURLY_UNIT) {
                continue;
            }
            hourly = hourly.saturating_add(1);
            let usd_path = format!("{dimension_path}.pricePerUnit.USD");
            let Some(usd_raw) = price_per_unit
                .and_then(|p| entry::<RawPricePerUnit<'_>>(p.get()))
                .and_then(|p| p.usd)
            else {
                let value = price_per_unit.map_or("(missing)", RawValue::get);
                skipped.push(skip(usd_path, value, &expected_price));
                odd = true;
                continue;
            };
            let price = string(usd_raw)
                .and_then(|text| text.trim().parse::<f64>().ok())
                .filter(|usd| (0.0..=MAX_USD_PER_HOUR).contains(usd))
                .and_then(|usd| UsdPerHour::from_usd(usd).ok());
            match price {
                Some(price) => {
                    prices.insert(price);
                }
                None => {
                    skipped.push(skip(usd_path, usd_raw.get(), &expected_price));
                    odd = true;
                }
            }
        }
    }
    if odd {
        return None;
    }
    if hourly == 0 {
        skipped.push(skip(
            on_demand_path,
            on_demand_raw.get(),
            EXPECTED_ON_DEMAND,
        ));
        return None;
    }
    prices.remove(&UsdPerHour::ZERO);
    let mut prices = prices.into_iter();
    match (prices.next(), prices.next()) {
        (None, _) => Some(None),
        (Some(price), None) => Some(Some(price)),
        (Some(_), Some(_)) => {
            skipped.push(skip(
                on_demand_path,
                on_demand_raw.get(),
                "one hourly on-demand price (this product has several)",
            ));
            None
        }
    }
}

fn shape_error(path: &str, message: impl Into<String>) -> CatalogError {
    CatalogError::PriceList {
        path: path.to_owned(),
        message: message.into(),
    }
}

fn skip(path: String, value: &str, expected: &str) -> SkippedEntry {
    SkippedEntry::new(SOURCE_NAME, EntryLocation::Feed { path }, value, expected)
}

/// The fields of the object `text`, or `None` if it is not an object (or
/// not JSON, or repeats a field).
fn entry<'a, T: Deserialize<'a>>(text: &'a str) -> Option<T> {
    if !is_object(text) {
        return None;
    }
    serde_json::from_str(text).ok()
}

/// `raw` as a string, if it is one.
fn string(raw: &RawValue) -> Option<String> {
    serde_json::from_str(raw.get()).ok()
}
