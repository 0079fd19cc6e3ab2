//! `--feed FILE`, `--prices FILE` and `--prices-from-api` for the examples:
//! the embedded catalog with the Spot data of a Spot Advisor feed file a
//! user downloaded (the live feed's format), with on-demand prices for any
//! region (a CSV in the embedded table's format:
//! `region,instance_type,on_demand_usd_per_hour`), or with the on-demand
//! prices of the cluster's regions fetched from the AWS Price List API
//! (feature `aws`).
//!
//! Included by path (`#[path = "support/catalog_files.rs"] mod catalog_files;`)
//! by the examples that take these flags, not through `support/mod.rs`, so
//! the others do not compile it.

use std::path::Path;

use cloudoptim::catalog::{Catalog, SkippedEntry};

/// How many skipped feed entries the summary line names.
const SKIPPED_SHOWN: usize = 3;

/// `embedded` with the Spot data of the feed file at `path`,
/// after a line saying what was skipped. Errors name the file.
pub fn with_feed(embedded: &Catalog, path: &Path) -> Result<Catalog, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read the feed {}: {e}", path.display()))?;
    let (catalog, skipped) = embedded
        .with_spot_advisor_feed(&text)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    println!("{}", skipped_line(path, &skipped));
    Ok(catalog)
}

/// `catalog` with the on-demand prices of the CSV file at `path`, after a
/// line saying what was skipped. Errors name the file.
#[allow(dead_code)] // Not every example that includes this takes --prices.
pub fn with_prices(catalog: &Catalog, path: &Path) -> Result<Catalog, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read the price file {}: {e}", path.display()))?;
    let (catalog, skipped) = catalog
        .with_on_demand_prices_csv(&text)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    print!(
        "{}",
        skipped_line(path, &skipped).replacen("feed ", "prices ", 1)
    );
    Ok(catalog)
}

/// `catalog` with the on-demand prices of `regions` for `oses` fetched from
/// the AWS Price List API (the standard AWS environment: credentials,
/// `AWS_ENDPOINT_URL`), after a line per region and OS saying how many were
/// read and skipped. Any failure is an error naming the region: the
/// catalog is never completed with another region's prices.
#[cfg(feature = "aws")]
#[allow(dead_code)] // Not every example that includes this takes --prices-from-api.
pub fn with_prices_from_api(
    catalog: &Catalog,
    regions: &std::collections::BTreeSet<String>,
    oses: &[cloudoptim::catalog::OperatingSystem],
) -> Result<Catalog, String> {
    use cloudoptim::aws::{AwsSettings, PriceListFetcher};
    let runtime = tokio::runtime::Runtime::new().map_err(|e| format!("no async runtime: {e}"))?;
    let mut catalog = catalog.clone();
    runtime.block_on(async {
        let config = AwsSettings::from_env().sdk_config().await;
        for region in regions {
            let fail = |e: &dyn std::fmt::Display| format!("--prices-from-api, {region}: {e}");
            let fetcher = PriceListFetcher::new(&config, region).map_err(|e| fail(&e))?;
            for os in oses {
                let (prices, skipped) = fetcher
                    .on_demand_prices(region, *os)
                    .await
                    .map_err(|e| fail(&e))?;
                let source = format!("Price List {region} {os}");
                print!(
                    "{}",
                    skipped_line(Path::new(&source), &skipped).replacen(
                        "feed ",
                        &format!("{} prices from the ", prices.len()),
                        1
                    )
                );
                catalog = catalog.with_price_list(&prices);
            }
        }
        Ok(catalog)
    })
}

/// `feed FILE: skipped 1 odd entry: spot_advisor.….s = -62`, naming the
/// first few.
fn skipped_line(path: &Path, skipped: &[SkippedEntry]) -> String {
    let mut line = format!("feed {}: ", path.display());
    match skipped.len() {
        0 => line.push_str("no odd entries skipped"),
        1 => line.push_str("skipped 1 odd entry: "),
        n => line.push_str(&format!("skipped {n} odd entries: ")),
    }
    let shown: Vec<String> = skipped
        .iter()
        .take(SKIPPED_SHOWN)
        .map(|entry| format!("{} = {}", entry.location, entry.value))
        .collect();
    line.push_str(&shown.join(", "));
    if skipped.len() > SKIPPED_SHOWN {
        line.push_str(", …");
    }
    line.push('\n');
    line
}
