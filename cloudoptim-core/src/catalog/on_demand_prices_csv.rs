//! The on-demand price table: `region,instance_type,on_demand_usd_per_hour`.

use std::collections::BTreeMap;

use super::csv_table::for_each_row;
use super::error::CatalogError;
use super::instance_type::split_name;
use crate::money::UsdPerHour;

/// The name errors about this table carry.
pub(super) const SOURCE_NAME: &str = "on-demand prices CSV";

/// Prices keyed by `(region, instance type)`.
pub(super) type OnDemandPrices = BTreeMap<(String, String), UsdPerHour>;

/// Parses the table. A negative or non-finite price, or a region and type
/// listed twice, is an error; a price of zero (the Price List's figure for
/// something not actually sold) is skipped.
pub(super) fn parse(text: &str) -> Result<OnDemandPrices, CatalogError> {
    let mut prices = BTreeMap::new();
    let mut zero_priced = 0_usize;
    for_each_row(
        SOURCE_NAME,
        text,
        &["region", "instance_type", "on_demand_usd_per_hour"],
        |row| {
            let region = row.text("region")?;
            if region.is_empty() {
                return Err(row.error(Some("region"), "missing value"));
            }
            let name = row.text("instance_type")?;
            if split_name(name).is_none() {
                return Err(row.error(
                    Some("instance_type"),
                    format!("{name:?} is not an instance type name like `m5.large`"),
                ));
            }
            let usd: f64 = row.parse("on_demand_usd_per_hour")?;
            if usd.is_nan() || usd < 0.0 {
                return Err(row.error(
                    Some("on_demand_usd_per_hour"),
                    format!("{usd} is not a price"),
                ));
            }
            let price = UsdPerHour::from_usd(usd)
                .map_err(|e| row.error(Some("on_demand_usd_per_hour"), e.to_string()))?;
            if price == UsdPerHour::ZERO {
                zero_priced = zero_priced.saturating_add(1);
                return Ok(());
            }
            if prices
                .insert((region.to_owned(), name.to_owned()), price)
                .is_some()
            {
                return Err(row.error(
                    Some("instance_type"),
                    format!("{name} in {region} is listed twice"),
                ));
            }
            Ok(())
        },
    )?;
    if zero_priced > 0 {
        tracing::debug!(zero_priced, "skipped on-demand prices of zero");
    }
    Ok(prices)
}
