//! The catalog snapshot compiled into the crate (us-east-1).
//!
//! The data files live in the crate's `data/` directory, with their
//! provenance in `data/ATTRIBUTION.md`.

use std::sync::OnceLock;

use super::{Catalog, CatalogBuilder, CatalogError};

/// EC2 DescribeInstanceTypes facts.
const INSTANCE_FACTS_CSV: &str = include_str!("../../data/instance-types.csv");
/// EKS max pods per type.
const ENI_LIMITS_CSV: &str = include_str!("../../data/eni-limits.csv");
/// On-demand Linux prices, us-east-1.
const ON_DEMAND_PRICES_CSV: &str = include_str!("../../data/on-demand-prices-us-east-1.csv");
/// The Spot Advisor feed with only its us-east-1 advice.
const SPOT_ADVISOR_FEED_JSON: &str = include_str!("../../data/spot-advisor-us-east-1.json");

static EMBEDDED: OnceLock<Result<Catalog, CatalogError>> = OnceLock::new();

/// The embedded catalog, built on first use and shared afterwards.
pub(super) fn embedded() -> Result<&'static Catalog, CatalogError> {
    EMBEDDED.get_or_init(build).as_ref().map_err(Clone::clone)
}

/// Builds the catalog. The crate's tests check that no entry of the
/// embedded data is skipped; should one be, it is logged.
fn build() -> Result<Catalog, CatalogError> {
    let (catalog, skipped) = builder()?.build()?;
    for entry in &skipped {
        tracing::warn!(%entry, "skipped an entry of the embedded catalog data");
    }
    Ok(catalog)
}

/// A builder holding every embedded source.
pub(super) fn builder() -> Result<CatalogBuilder, CatalogError> {
    Catalog::builder()
        .instance_facts_csv(INSTANCE_FACTS_CSV)?
        .eni_limits_csv(ENI_LIMITS_CSV)?
        .on_demand_prices_csv(ON_DEMAND_PRICES_CSV)?
        .spot_advisor_feed(SPOT_ADVISOR_FEED_JSON)
}
