//! On-demand prices of any region from the AWS Price List API
//! (`GetProducts`), the way Karpenter refreshes its prices: the Linux or
//! Windows instance products of one region, every page, read by
//! [`cloudoptim_core::catalog::PriceListPrices`] and given to the catalog
//! with [`Catalog::with_price_list`].
//!
//! The API is served from three regions only ([`ENDPOINT_REGIONS`]); the
//! fetcher calls the one Karpenter picks for the cluster's region
//! ([`endpoint_region`]), and the answers name the cluster's region, not the
//! endpoint's. The China regions (priced in CNY by their own endpoint) and
//! GovCloud (not served) are refused with [`AwsError::PriceListUnavailable`]
//! rather than priced from another region.
//!
//! [`Catalog::with_price_list`]: cloudoptim_core::catalog::Catalog::with_price_list

use aws_config::SdkConfig;
use aws_sdk_pricing::config::Region;
use aws_sdk_pricing::types::{Filter, FilterType};
use cloudoptim_core::catalog::{OperatingSystem, PriceListPrices, PriceListQuery, SkippedEntry};

use crate::error::{from_sdk, AwsError};

/// The regions the Price List API is served from.
pub const ENDPOINT_REGIONS: [&str; 3] = ["us-east-1", "ap-south-1", "eu-central-1"];

/// The largest page GetProducts returns.
const PAGE_SIZE: i32 = 100;

/// How many skipped entries a log line names; the rest are counted.
const SKIPPED_LOGGED: usize = 5;

/// The Price List endpoint region for a cluster in `cluster_region`, as
/// Karpenter picks it: `ap-south-1` for `ap-…`, `eu-central-1` for
/// `eu-…`, `us-east-1` for the rest. The China (`cn-…`) and GovCloud
/// (`us-gov-…`) regions are [`AwsError::PriceListUnavailable`].
///
/// ```
/// use cloudoptim_aws::price_list::endpoint_region;
/// assert_eq!(endpoint_region("eu-west-3").ok(), Some("eu-central-1"));
/// assert_eq!(endpoint_region("ap-southeast-2").ok(), Some("ap-south-1"));
/// assert_eq!(endpoint_region("sa-east-1").ok(), Some("us-east-1"));
/// assert!(endpoint_region("cn-north-1").is_err());
/// ```
pub fn endpoint_region(cluster_region: &str) -> Result<&'static str, AwsError> {
    let unavailable = |reason: &str| AwsError::PriceListUnavailable {
        region: cluster_region.to_owned(),
        reason: reason.to_owned(),
    };
    if cluster_region.starts_with("cn-") {
        return Err(unavailable(
            "the China regions are priced in CNY by their own Price List endpoint, which is not read",
        ));
    }
    if cluster_region.starts_with("us-gov-") {
        return Err(unavailable(
            "the Price List API is not served in the GovCloud partition",
        ));
    }
    if cluster_region.trim().is_empty() {
        return Err(unavailable("no region given"));
    }
    Ok(if cluster_region.starts_with("ap-") {
        "ap-south-1"
    } else if cluster_region.starts_with("eu-") {
        "eu-central-1"
    } else {
        "us-east-1"
    })
}

/// Fetches on-demand prices from the Price List API.
///
/// ```no_run
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// use cloudoptim_aws::{AwsSettings, PriceListFetcher};
/// use cloudoptim_core::catalog::{Catalog, OperatingSystem};
///
/// let config = AwsSettings::from_env().sdk_config().await;
/// let fetcher = PriceListFetcher::new(&config, "eu-west-1")?;
/// let (prices, _skipped) = fetcher.on_demand_prices("eu-west-1", OperatingSystem::Linux).await?;
/// let catalog = Catalog::embedded()?.with_price_list(&prices);
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct PriceListFetcher {
    client: aws_sdk_pricing::Client,
}

impl PriceListFetcher {
    /// A fetcher for a cluster in `cluster_region`: `config`'s credentials
    /// (and endpoint override, if any), the region set to the
    /// [`endpoint_region`] for `cluster_region`.
    pub fn new(config: &SdkConfig, cluster_region: &str) -> Result<PriceListFetcher, AwsError> {
        let region = endpoint_region(cluster_region)?;
        let conf = aws_sdk_pricing::config::Builder::from(config)
            .region(Region::new(region))
            .build();
        Ok(PriceListFetcher {
            client: aws_sdk_pricing::Client::from_conf(conf),
        })
    }

    /// The on-demand prices of `os` in `region`: every page of the two
    /// GetProducts queries ([`PriceListQuery::ALL`], shared and bare-metal
    /// instances), with the products skipped as odd (also logged with
    /// `tracing::warn!`: how many, and the first few).
    ///
    /// An answer without a single price for `region` (a region the Price
    /// List does not know, or a typo) is [`AwsError::NoPrices`]: never
    /// another region's prices. An endpoint that does not serve the
    /// Price List (moto, for one) is [`AwsError::Unsupported`].
    pub async fn on_demand_prices(
        &self,
        region: &str,
        os: OperatingSystem,
    ) -> Result<(PriceListPrices, Vec<SkippedEntry>), AwsError> {
        endpoint_region(region)?;
        let mut prices = PriceListPrices::new();
        let mut skipped = Vec::new();
        let mut page = 0_usize;
        for query in PriceListQuery::ALL {
            let filters = query
                .filters(region, os)
                .into_iter()
                .map(|(field, value)| {
                    Filter::builder()
                        .r#type(FilterType::TermMatch)
                        .field(field)
                        .value(value)
                        .build()
                        .map_err(|e| AwsError::Service {
                            operation: "GetProducts",
                            message: e.to_string(),
                        })
                })
                .collect::<Result<Vec<_>, _>>()?;
            let mut pages = self
                .client
                .get_products()
                .service_code("AmazonEC2")
                .format_version("aws_v1")
                .set_filters(Some(filters))
                .max_results(PAGE_SIZE)
                .into_paginator()
                .send();
            while let Some(answer) = pages.next().await {
                let answer = answer.map_err(|e| from_sdk("GetProducts", e))?;
                skipped.extend(prices.add_page(page, answer.price_list()));
                page = page.saturating_add(1);
            }
        }
        if !skipped.is_empty() {
            let first: Vec<String> = skipped
                .iter()
                .take(SKIPPED_LOGGED)
                .map(ToString::to_string)
                .collect();
            tracing::warn!(
                region,
                os = %os,
                count = skipped.len(),
                first = ?first,
                "skipped odd Price List products"
            );
        }
        if prices.is_empty() {
            return Err(AwsError::NoPrices {
                region: region.to_owned(),
                os: os.feed_name(),
                pages: page,
                left_out: prices.products_left_out(),
                skipped: skipped.len(),
            });
        }
        tracing::info!(
            region,
            os = %os,
            prices = prices.len(),
            pages = page,
            left_out = prices.products_left_out(),
            "read on-demand prices from the Price List"
        );
        Ok((prices, skipped))
    }
}
