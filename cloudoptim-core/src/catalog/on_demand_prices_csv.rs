//! The on-demand price table: `region,instance_type,on_demand_usd_per_hour`.

use std::collections::BTreeMap;

use super::csv_table::for_each_row;
use super::error::CatalogError;
use super::instance_type::split_name;
use super::skipped::SkippedEntry;
use crate::money::UsdPerHour;

/// The name errors about this table carry.
pub(super) const SOURCE_NAME: &str = "on-demand prices CSV";

/// The highest hourly price a row may give (the dearest EC2 types cost a
/// few hundred dollars an hour); above it the row is skipped as a typo.
pub(super) const MAX_USD_PER_HOUR: f64 = 100_000.0;

/// Prices keyed by `(region, instance type)`.
pub(super) type OnDemandPrices = BTreeMap<(String, String), UsdPerHour>;

/// Parses the table, with the rows skipped as odd: an empty region, a bad
/// name, a price that is negative, not a number or absurdly high, or a
/// region and type listed again (the first row counts). A price of zero
/// (the Price List's figure for something not actually sold) is left out
/// without a report.
pub(super) fn parse(text: &str) -> Result<(OnDemandPrices, Vec<SkippedEntry>), CatalogError> {
    let mut prices = BTreeMap::new();
    let mut zero_priced = 0_usize;
    let skipped = for_each_row(
        SOURCE_NAME,
        text,
        &["region", "instance_type", "on_demand_usd_per_hour"],
        |row| {
            let region = row.text("region");
            if region.is_empty() {
                return Err(row.odd("region", "a region name like `us-east-1`"));
            }
            let name = row.text("instance_type");
            if split_name(name).is_none() {
                return Err(row.odd("instance_type", "an instance type name like `m5.large`"));
            }
            let column = "on_demand_usd_per_hour";
            let expected = format!("a price in USD per hour, from 0 to {MAX_USD_PER_HOUR}");
            let usd: f64 = row.parse(column, &expected)?;
            if !(0.0..=MAX_USD_PER_HOUR).contains(&usd) {
                return Err(row.odd(column, expected));
            }
            let price = UsdPerHour::from_usd(usd).map_err(|_| row.odd(column, &expected))?;
            if price == UsdPerHour::ZERO {
                zero_priced = zero_priced.saturating_add(1);
                return Ok(());
            }
            let key = (region.to_owned(), name.to_owned());
            if prices.contains_key(&key) {
                return Err(row.odd(
                    "instance_type",
                    "each instance type once per region (listed above)",
                ));
            }
            prices.insert(key, price);
            Ok(())
        },
    )?;
    if zero_priced > 0 {
        tracing::debug!(zero_priced, "skipped on-demand prices of zero");
    }
    Ok((prices, skipped))
}
