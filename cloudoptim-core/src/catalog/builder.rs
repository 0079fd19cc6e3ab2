//! Assembling a [`Catalog`] from its sources.

use std::collections::BTreeMap;

use super::error::CatalogError;
use super::instance_facts_csv::{self, InstanceFacts};
use super::instance_type::{
    eks_max_pods_formula, split_name, Architecture, FactsSource, InstanceType, DEFAULT_EKS_MAX_PODS,
};
use super::on_demand_prices_csv::{self, OnDemandPrices};
use super::skipped::SkippedEntry;
use super::spot::OperatingSystem;
use super::spot_advisor_feed::{self, FeedInstanceType, SpotAdvisorFeed};
use super::{eni_limits_csv, Catalog};

/// Builds a [`Catalog`] from CSV tables and Spot Advisor feeds held in
/// memory.
///
/// Each source is parsed and validated when it is added, so an error points
/// at the source it is in. A source of the wrong shape (a CSV header without
/// a column read, a feed missing `spot_advisor`…) is an error; an entry with
/// an odd value (a negative price, zero memory, a savings figure of −62 %)
/// is skipped, kept as a [`SkippedEntry`] and returned by
/// [`build`](Self::build) for the caller to log. Every source is optional,
/// but the result must describe at least one instance type. Adding a table
/// twice merges the two, the later row winning for the same type (and
/// region); adding a second feed replaces the advice of the regions it has.
///
/// ```
/// use cloudoptim_core::catalog::{Catalog, OperatingSystem};
///
/// let (catalog, skipped) = Catalog::builder()
///     .instance_facts_csv(
///         "instance_type,vcpu,memory_mib,architectures,gpu_count,gpu_name,gpu_memory_mib,\
///          current_generation,bare_metal,burstable,max_enis,ipv4_per_eni\n\
///          m5.large,2,8192,x86_64,0,,,true,false,false,3,10\n",
///     )?
///     .on_demand_prices_csv(
///         "region,instance_type,on_demand_usd_per_hour\n\
///          us-east-1,m5.large,0.096\nus-east-1,m5.xlarge,-1\n",
///     )?
///     .build()?;
/// assert_eq!(skipped.len(), 1); // line 3: a negative price
/// assert!(skipped[0].to_string().starts_with("on-demand prices CSV, line 3"));
/// let m5 = catalog.get("m5.large").ok_or("m5.large is missing")?;
/// assert_eq!(m5.eks_max_pods, 29);
/// assert_eq!(m5.spot_advice("us-east-1", OperatingSystem::Linux), None);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, Default)]
pub struct CatalogBuilder {
    facts: BTreeMap<String, InstanceFacts>,
    eks_max_pods: BTreeMap<String, u32>,
    on_demand: OnDemandPrices,
    feeds: Vec<SpotAdvisorFeed>,
    skipped: Vec<SkippedEntry>,
}

impl CatalogBuilder {
    /// An empty builder.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds an instance facts table (EC2 DescribeInstanceTypes, the format
    /// of the embedded `instance-types.csv`).
    ///
    /// Columns read, in any order (others are ignored): `instance_type`,
    /// `vcpu`, `memory_mib`, `architectures` (`|`- or `;`-separated),
    /// `gpu_count`, `gpu_name`, `gpu_memory_mib` (the instance's total),
    /// `current_generation`, `bare_metal`, `burstable` (`true`/`false`),
    /// `max_enis`, `ipv4_per_eni`. The GPU and ENI cells may be empty.
    ///
    /// A row with an odd value — a bad name, zero vCPUs or memory (or more
    /// than 10,000 vCPUs or 1 PiB), no known architecture, a cell that is
    /// not a number or boolean where one is expected, a type listed again
    /// — is skipped and reported by [`build`](Self::build). A header
    /// without one of these columns, a line with more or fewer fields than
    /// the header, a table without rows or with no usable row is an error.
    pub fn instance_facts_csv(mut self, csv: &str) -> Result<Self, CatalogError> {
        let (facts, skipped) = instance_facts_csv::parse(csv)?;
        self.facts.extend(facts);
        self.skipped.extend(skipped);
        Ok(self)
    }

    /// Adds an ENI limits table with the EKS max pods of each type
    /// (columns `instance_type` and `eks_max_pods`; others are ignored).
    ///
    /// Rows with a bad name, a pod count of zero or not a whole number, or
    /// a type listed again are skipped and reported by
    /// [`build`](Self::build); shape errors are as for
    /// [`instance_facts_csv`](Self::instance_facts_csv).
    pub fn eni_limits_csv(mut self, csv: &str) -> Result<Self, CatalogError> {
        let (max_pods, skipped) = eni_limits_csv::parse(csv)?;
        self.eks_max_pods.extend(max_pods);
        self.skipped.extend(skipped);
        Ok(self)
    }

    /// Adds an on-demand price table with the columns `region`,
    /// `instance_type` and `on_demand_usd_per_hour`.
    ///
    /// Rows with an empty region, a bad name, a negative, non-numeric or
    /// absurd price (above $100,000 an hour), or a region and type listed
    /// again are skipped and reported by [`build`](Self::build); shape
    /// errors are as for [`instance_facts_csv`](Self::instance_facts_csv).
    /// Prices of zero are left out silently. Prices of types no other
    /// source describes are dropped when the catalog is built (with a
    /// warning through `tracing`).
    pub fn on_demand_prices_csv(mut self, csv: &str) -> Result<Self, CatalogError> {
        let (prices, skipped) = on_demand_prices_csv::parse(csv)?;
        self.on_demand.extend(prices);
        self.skipped.extend(skipped);
        Ok(self)
    }

    /// Adds a Spot Advisor feed, in the format of the live feed.
    ///
    /// The feed's shape is checked strictly: a document that is not an
    /// object with `instance_types` and `spot_advisor` objects and a
    /// `ranges` list of the five known buckets is an error
    /// ([`CatalogError::Feed`], [`CatalogError::Invalid`]), as is a feed
    /// without a single usable advice. Within that shape, each advice and
    /// each instance type is read on its own: one with an odd value (a
    /// savings figure outside 0 to 100, an unknown range index, a string
    /// where a number belongs, zero or absurd `cores` or `ram_gb`) is
    /// skipped and reported by [`build`](Self::build). Fields the feed may
    /// gain in the future are ignored. Types it lists that the facts table
    /// does not know are added from its `cores` and `ram_gb`, with the
    /// caveats of [`FactsSource::SpotAdvisor`].
    pub fn spot_advisor_feed(mut self, feed_json: &str) -> Result<Self, CatalogError> {
        let (feed, skipped) = spot_advisor_feed::parse(feed_json)?;
        self.feeds.push(feed);
        self.skipped.extend(skipped);
        Ok(self)
    }

    /// Merges the sources into a catalog, and returns it with the entries
    /// skipped as odd, source by source in the order they were added (empty
    /// when every entry was usable).
    ///
    /// Fails with [`CatalogError::Empty`] if no source describes an
    /// instance type.
    pub fn build(self) -> Result<(Catalog, Vec<SkippedEntry>), CatalogError> {
        let mut types: BTreeMap<String, InstanceType> = self
            .facts
            .iter()
            .filter_map(|(name, facts)| {
                from_facts(name, facts, &self.eks_max_pods).map(|t| (name.clone(), t))
            })
            .collect();
        for feed in &self.feeds {
            apply_spot_feed(&mut types, &self.eks_max_pods, feed);
        }
        apply_on_demand_prices(&mut types, self.on_demand, OperatingSystem::Linux);
        if types.is_empty() {
            return Err(CatalogError::Empty);
        }
        Ok((
            Catalog {
                instance_types: types,
                eks_max_pods_by_type: self.eks_max_pods,
            },
            self.skipped,
        ))
    }
}

/// Replaces the spot advice of every region `feed` has, and adds the types
/// only the feed knows.
pub(super) fn apply_spot_feed(
    types: &mut BTreeMap<String, InstanceType>,
    eks_max_pods: &BTreeMap<String, u32>,
    feed: &SpotAdvisorFeed,
) {
    for (name, facts) in &feed.instance_types {
        if !types.contains_key(name) {
            if let Some(instance_type) = from_feed(name, *facts, eks_max_pods) {
                types.insert(name.clone(), instance_type);
            }
        }
    }
    for (region, advice_by_type) in &feed.advice_by_region {
        for instance_type in types.values_mut() {
            instance_type.spot_advice_by_region.remove(region);
        }
        let mut unknown = Vec::new();
        for (name, advice_by_os) in advice_by_type {
            match types.get_mut(name) {
                Some(instance_type) => {
                    instance_type
                        .spot_advice_by_region
                        .insert(region.clone(), advice_by_os.clone());
                }
                None => unknown.push(name.as_str()),
            }
        }
        if !unknown.is_empty() {
            tracing::warn!(
                region = %region,
                count = unknown.len(),
                types = ?unknown,
                "dropped Spot Advisor advice for instance types no source describes"
            );
        }
    }
}

/// Adds (or replaces) the on-demand prices of `os` of the known types.
pub(super) fn apply_on_demand_prices(
    types: &mut BTreeMap<String, InstanceType>,
    prices: OnDemandPrices,
    os: OperatingSystem,
) {
    let mut unknown = Vec::new();
    for ((region, name), price) in prices {
        match types.get_mut(&name) {
            Some(instance_type) => {
                let table = match os {
                    OperatingSystem::Linux => &mut instance_type.on_demand_usd_per_hour_by_region,
                    OperatingSystem::Windows => {
                        &mut instance_type.windows_on_demand_usd_per_hour_by_region
                    }
                };
                table.insert(region, price);
            }
            None => unknown.push(name),
        }
    }
    if !unknown.is_empty() {
        tracing::warn!(
            count = unknown.len(),
            types = ?unknown,
            os = %os,
            "dropped on-demand prices of instance types no source describes"
        );
    }
}

fn max_pods(
    name: &str,
    eni_shape: Option<(u32, u32)>,
    eks_max_pods: &BTreeMap<String, u32>,
) -> u32 {
    eks_max_pods
        .get(name)
        .copied()
        .or_else(|| eni_shape.map(|(enis, ips)| eks_max_pods_formula(enis, ips)))
        .unwrap_or(DEFAULT_EKS_MAX_PODS)
}

fn from_facts(
    name: &str,
    facts: &InstanceFacts,
    eks_max_pods: &BTreeMap<String, u32>,
) -> Option<InstanceType> {
    let (family, generation, size) = split_name(name)?;
    Some(InstanceType {
        name: name.to_owned(),
        family: family.to_owned(),
        generation,
        size: size.to_owned(),
        architecture: facts.architecture,
        vcpus: facts.vcpus,
        memory_bytes: facts.memory_bytes,
        gpus: facts.gpus,
        gpu_model: facts.gpu_model.clone(),
        gpu_memory_bytes: facts.gpu_memory_bytes,
        eks_max_pods: max_pods(name, facts.eni_shape, eks_max_pods),
        burstable: facts.burstable,
        bare_metal: facts.bare_metal,
        current_generation: facts.current_generation,
        facts_source: FactsSource::DescribeInstanceTypes,
        on_demand_usd_per_hour_by_region: BTreeMap::new(),
        windows_on_demand_usd_per_hour_by_region: BTreeMap::new(),
        spot_advice_by_region: BTreeMap::new(),
    })
}

fn from_feed(
    name: &str,
    facts: FeedInstanceType,
    eks_max_pods: &BTreeMap<String, u32>,
) -> Option<InstanceType> {
    let (family, generation, size) = split_name(name)?;
    let burstable = family.starts_with('t') && generation > 0 && family.len() <= 3;
    Some(InstanceType {
        name: name.to_owned(),
        family: family.to_owned(),
        generation,
        size: size.to_owned(),
        architecture: Architecture::guess_from_family(family),
        vcpus: facts.vcpus,
        memory_bytes: facts.memory_bytes,
        gpus: 0,
        gpu_model: None,
        gpu_memory_bytes: 0,
        eks_max_pods: max_pods(name, None, eks_max_pods),
        burstable,
        bare_metal: size.starts_with("metal"),
        current_generation: false,
        facts_source: FactsSource::SpotAdvisor,
        on_demand_usd_per_hour_by_region: BTreeMap::new(),
        windows_on_demand_usd_per_hour_by_region: BTreeMap::new(),
        spot_advice_by_region: BTreeMap::new(),
    })
}
