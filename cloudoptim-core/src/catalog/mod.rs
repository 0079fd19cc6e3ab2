//! The EC2 instance catalog: what each instance type offers, what it costs
//! on demand, and what the AWS Spot Instance Advisor says about running it
//! on Spot.
//!
//! A [`Catalog`] merges four public sources:
//!
//! - **instance facts** (EC2 DescribeInstanceTypes): vCPUs, memory,
//!   architecture, GPUs, generation, burstable and bare-metal flags, ENIs;
//! - **ENI limits**: the EKS max pods of each type;
//! - **on-demand prices**: Linux $/hour per region, from a CSV table, or
//!   Linux and Windows $/hour from the AWS Price List API
//!   ([`PriceListPrices`]);
//! - **the Spot Instance Advisor feed**: per region and operating system,
//!   the savings over on-demand and the interruption-frequency bucket, plus
//!   `cores` and memory for every type it lists.
//!
//! The catalog holds every type the facts table or the feed describes. The
//! facts table wins where both describe a type; types only the feed knows
//! are marked [`FactsSource::SpotAdvisor`] and carry fewer facts (no GPU
//! information in particular). On-demand prices and ENI limits only add to
//! known types.
//!
//! [`Catalog::embedded`] is a us-east-1 snapshot compiled into the crate;
//! [`Catalog::with_spot_advisor_feed`] refreshes its Spot data from a live
//! feed the caller fetched, and [`Catalog::builder`] assembles a catalog
//! from other tables. This module does no I/O: every source is a string.
//!
//! Sources come from outside, so they are read entry by entry: a source of
//! the wrong *shape* is rejected with a [`CatalogError`] naming where, and
//! an entry with an odd value (the live Spot Advisor feed has had a savings
//! figure of −62 %) is skipped and returned as a [`SkippedEntry`] with its
//! path or line and column, the value as written and what was expected,
//! for the caller to log. The rest of the source is used.
//!
//! ```
//! use cloudoptim_core::catalog::{Catalog, OperatingSystem};
//!
//! let catalog = Catalog::embedded()?;
//! let m5 = catalog.get("m5.large").ok_or("m5.large is missing")?;
//! assert_eq!(m5.vcpus, 2);
//! let on_demand = m5.on_demand_usd_per_hour("us-east-1").ok_or("no price")?;
//! let spot = m5
//!     .spot_usd_per_hour_estimate("us-east-1", OperatingSystem::Linux)
//!     .ok_or("no spot advice")?;
//! assert!(spot < on_demand);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod builder;
mod csv_table;
mod embedded;
mod eni_limits_csv;
mod error;
mod instance_facts_csv;
mod instance_type;
mod on_demand_prices_csv;
mod price_list;
mod price_list_locations;
mod skipped;
mod spot;
mod spot_advisor_feed;

#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

pub use builder::CatalogBuilder;
pub use error::CatalogError;
pub use instance_type::{
    eks_max_pods_formula, Architecture, FactsSource, InstanceType, DEFAULT_EKS_MAX_PODS,
};
pub use price_list::{PriceListPrices, PriceListQuery};
pub use skipped::{EntryLocation, SkippedEntry};
pub use spot::{InterruptionBucket, OperatingSystem, SpotAdvice};

/// Instance types by name, with their facts, prices and spot advice.
///
/// Iteration is in name order, so everything derived from a catalog is
/// deterministic. Serializes as `{"instance_types": {name: InstanceType}}`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Catalog {
    instance_types: BTreeMap<String, InstanceType>,
    /// The ENI limits table, kept so that types a fresher feed adds get
    /// their EKS max pods too.
    #[serde(skip)]
    eks_max_pods_by_type: BTreeMap<String, u32>,
}

impl Catalog {
    /// The us-east-1 snapshot embedded in the crate, parsed on first use
    /// (once per process, guarded by a [`std::sync::OnceLock`]) and shared
    /// afterwards.
    ///
    /// The snapshot holds the instance facts, ENI limits, us-east-1
    /// on-demand Linux prices and the us-east-1 Spot Advisor figures; see
    /// the crate's `data/ATTRIBUTION.md` for their sources and dates. An
    /// error here means the embedded data is broken, which the crate's
    /// tests rule out; it is returned rather than panicking all the same.
    pub fn embedded() -> Result<&'static Catalog, CatalogError> {
        embedded::embedded()
    }

    /// A builder to assemble a catalog from CSV tables and feeds.
    pub fn builder() -> CatalogBuilder {
        CatalogBuilder::new()
    }

    /// The instance type with this API name (`m5.large`), if known.
    pub fn get(&self, instance_type: &str) -> Option<&InstanceType> {
        self.instance_types.get(instance_type)
    }

    /// Every instance type, sorted by name.
    pub fn instance_types(&self) -> impl Iterator<Item = &InstanceType> {
        self.instance_types.values()
    }

    /// The number of instance types.
    pub fn len(&self) -> usize {
        self.instance_types.len()
    }

    /// Whether the catalog has no instance types (never true of a catalog
    /// from [`CatalogBuilder::build`]).
    pub fn is_empty(&self) -> bool {
        self.instance_types.is_empty()
    }

    /// The regions for which any type has an on-demand price or spot
    /// advice, sorted.
    pub fn regions(&self) -> BTreeSet<String> {
        self.instance_types
            .values()
            .flat_map(|t| {
                t.on_demand_usd_per_hour_by_region
                    .keys()
                    .chain(t.windows_on_demand_usd_per_hour_by_region.keys())
                    .chain(t.spot_advice_by_region.keys())
            })
            .cloned()
            .collect()
    }

    /// This catalog with the on-demand prices of a price file added (or
    /// replaced): a CSV in the format of the embedded one (`region,
    /// instance_type,on_demand_usd_per_hour`), for any region. Rows are
    /// read as by [`CatalogBuilder::on_demand_prices_csv`]: odd rows are
    /// skipped and returned, a wrong header is an error. Prices of types the
    /// catalog does not know are dropped (with a warning through `tracing`).
    ///
    /// Spot estimates in that region also need the Spot Advisor feed's
    /// advice for it ([`with_spot_advisor_feed`](Self::with_spot_advisor_feed)
    /// with the live feed, which covers every region).
    ///
    /// ```
    /// use cloudoptim_core::catalog::Catalog;
    /// let csv = "region,instance_type,on_demand_usd_per_hour\neu-west-1,m5.large,0.107\n";
    /// let (catalog, skipped) = Catalog::embedded()?.with_on_demand_prices_csv(csv)?;
    /// assert!(skipped.is_empty());
    /// let m5 = catalog.get("m5.large").ok_or("m5.large is missing")?;
    /// assert_eq!(m5.on_demand_usd_per_hour("eu-west-1").map(|p| p.usd()), Some(0.107));
    /// assert!(m5.on_demand_usd_per_hour("us-east-1").is_some());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn with_on_demand_prices_csv(
        &self,
        csv: &str,
    ) -> Result<(Catalog, Vec<SkippedEntry>), CatalogError> {
        let (prices, skipped) = on_demand_prices_csv::parse(csv)?;
        let mut catalog = self.clone();
        builder::apply_on_demand_prices(
            &mut catalog.instance_types,
            prices,
            OperatingSystem::Linux,
        );
        Ok((catalog, skipped))
    }

    /// This catalog with the on-demand prices read from AWS Price List
    /// GetProducts answers added (or replaced), for any region: Linux prices
    /// as the on-demand table, Windows prices as the Windows one (which
    /// [`pricing::instance_price`](crate::pricing::instance_price) then
    /// uses for Windows nodes). Prices of types the catalog does not know
    /// are dropped (with a warning through `tracing`), as for
    /// [`with_on_demand_prices_csv`](Self::with_on_demand_prices_csv).
    ///
    /// See [`PriceListPrices`] for an example.
    pub fn with_price_list(&self, prices: &PriceListPrices) -> Catalog {
        let mut catalog = self.clone();
        for os in OperatingSystem::ALL {
            let of_os: on_demand_prices_csv::OnDemandPrices = prices
                .iter()
                .filter(|(_, _, price_os, _)| *price_os == os)
                .map(|(region, name, _, price)| ((region.to_owned(), name.to_owned()), price))
                .collect();
            builder::apply_on_demand_prices(&mut catalog.instance_types, of_os, os);
        }
        catalog
    }

    /// A copy of this catalog with fresher Spot Advisor data.
    ///
    /// `feed_json` is a Spot Advisor feed in the format of the live feed
    /// (the caller fetches it; this crate does no I/O). For every region the
    /// feed has, the spot advice of every type is replaced by the feed's —
    /// a type the feed no longer lists in that region loses its advice
    /// there. Regions the feed lacks keep their advice. Types only the feed
    /// knows are added from its `cores` and `ram_gb`
    /// ([`FactsSource::SpotAdvisor`]). On-demand prices are unchanged.
    ///
    /// The feed is read as by [`CatalogBuilder::spot_advisor_feed`]: a
    /// feed of the wrong shape is an error (and `self` is untouched); an
    /// advice or instance type with an odd value is left out and returned,
    /// with its path, among the skipped entries.
    ///
    /// ```
    /// use cloudoptim_core::catalog::{Catalog, EntryLocation, OperatingSystem};
    ///
    /// let feed = r#"{
    ///   "instance_types": {"m5.large": {"cores": 2, "ram_gb": 8}},
    ///   "ranges": [{"index": 0}, {"index": 1}, {"index": 2}, {"index": 3}, {"index": 4}],
    ///   "spot_advisor": {"ca-central-1": {"Linux": {
    ///     "m5.large": {"s": 66, "r": 3}, "p5.48xlarge": {"s": -62, "r": 0}}}}}"#;
    /// let (catalog, skipped) = Catalog::embedded()?.with_spot_advisor_feed(feed)?;
    /// let m5 = catalog.get("m5.large").ok_or("m5.large is missing")?;
    /// assert!(m5.spot_advice("ca-central-1", OperatingSystem::Linux).is_some());
    /// assert_eq!(skipped.len(), 1);
    /// assert_eq!(
    ///     skipped[0].location,
    ///     EntryLocation::Feed { path: "spot_advisor.ca-central-1.Linux.p5.48xlarge.s".into() }
    /// );
    /// assert_eq!(skipped[0].value, "-62");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn with_spot_advisor_feed(
        &self,
        feed_json: &str,
    ) -> Result<(Catalog, Vec<SkippedEntry>), CatalogError> {
        let (feed, skipped) = spot_advisor_feed::parse(feed_json)?;
        let mut catalog = self.clone();
        builder::apply_spot_feed(
            &mut catalog.instance_types,
            &catalog.eks_max_pods_by_type,
            &feed,
        );
        Ok((catalog, skipped))
    }
}
