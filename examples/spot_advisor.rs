//! Risk-ranked spot pools for a resource need, from the embedded Spot
//! Advisor data (no AWS account needed).
//!
//! ```text
//! cargo run --release --example spot_advisor                                  # 20 pods of 500m / 1Gi
//! cargo run --release --example spot_advisor -- --cpu 2000m --memory 8Gi --pods 50 [--risk-ceiling 0.5] [--max-share 0.3]
//! cargo run --release --example spot_advisor -- --feed spot-advisor-data.json   # a feed you downloaded
//! ```
//!
//! `--feed FILE` replaces the embedded us-east-1 Spot data with a Spot
//! Advisor feed file (the live feed's format, e.g. saved from
//! `https://spot-bid-advisor.s3.amazonaws.com/spot-advisor-data.json`); its
//! odd entries are skipped and listed in one line. On-demand prices stay
//! the embedded us-east-1 ones.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::process::ExitCode;

use cloudoptim::catalog::{Architecture, Catalog};
use cloudoptim::money::dollars;
use cloudoptim::quantity::{parse_millis, parse_units};
use cloudoptim::spot::pools::{select_pools, CapacityNeed, PoolPolicy};
use cloudoptim::spot::risk::WeightedRisk;
use cloudoptim::Resources;

const USAGE: &str = "usage: spot_advisor [--cpu 500m] [--memory 1Gi] [--pods 20] [--region us-east-1] [--risk-ceiling 0.6] [--max-share 0.3] [--feed FILE]";

#[path = "support/catalog_files.rs"]
mod catalog_files;

fn main() -> ExitCode {
    support::exit_quietly_on_broken_pipe();
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("spot_advisor: {e}\n{USAGE}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    use lexopt::prelude::*;
    let mut cpu = "500m".to_owned();
    let mut memory = "1Gi".to_owned();
    let mut pods: u32 = 20;
    let mut policy = PoolPolicy::default();
    let mut feed: Option<PathBuf> = None;
    let mut parser = lexopt::Parser::from_env();
    while let Some(arg) = parser.next()? {
        match arg {
            Long("cpu") => cpu = parser.value()?.string()?,
            Long("memory") => memory = parser.value()?.string()?,
            Long("pods") => pods = parser.value()?.parse()?,
            Long("region") => policy.region = parser.value()?.string()?,
            Long("risk-ceiling") => policy.risk_ceiling = parser.value()?.parse()?,
            Long("max-share") => policy.max_pool_share = parser.value()?.parse()?,
            Long("feed") => feed = Some(parser.value()?.into()),
            Long("help") | Short('h') => {
                println!("{USAGE}");
                return Ok(());
            }
            _ => return Err(arg.unexpected().into()),
        }
    }
    if policy.region != "us-east-1" {
        policy.zones = ["a", "b", "c"]
            .iter()
            .map(|z| format!("{}{z}", policy.region))
            .collect();
    }
    let need = CapacityNeed {
        pod_requests: Resources {
            cpu_millis: parse_millis(&cpu)?,
            memory_bytes: parse_units(&memory)?,
            ..Resources::ZERO
        },
        pods,
        architectures: vec![Architecture::X86_64, Architecture::Arm64],
        node_selector: Default::default(),
        node_affinity: Default::default(),
    };
    let embedded = Catalog::embedded()?;
    let fed;
    let catalog = match &feed {
        None => embedded,
        Some(path) => {
            fed = catalog_files::with_feed(embedded, path)?;
            &fed
        }
    };
    // Day zero: no price history, so the Advisor's figures carry the score.
    let now = jiff::Timestamp::from_second(1_795_446_000)?;
    let a = select_pools(
        &need,
        catalog,
        &BTreeMap::new(),
        &BTreeSet::new(),
        &WeightedRisk,
        &policy,
        now,
    )?;
    println!(
        "{pods} pods of {cpu} CPU / {memory} in {} (risk ceiling {:.2}, at most {:.0}% per pool)\n",
        policy.region,
        policy.risk_ceiling,
        policy.max_pool_share * 100.0
    );
    println!(
        "  {:<16} {:<12} {:>5} {:>5} {:>9} {:>6}  {:<26}",
        "instance type",
        "zone",
        "nodes",
        "pods",
        "$/h each",
        "risk",
        "components (rate vol gap time)"
    );
    for s in &a.spot {
        let r = &s.pool.risk;
        println!(
            "  {:<16} {:<12} {:>5} {:>5} {:>9.4} {:>6.3}  {:.2} {:.2} {:.2} {:.2}{}",
            s.pool.instance_type,
            s.pool.zone,
            s.nodes,
            s.pods,
            s.pool.spot_usd_per_hour.usd(),
            r.score,
            r.public_rate,
            r.volatility,
            r.gap,
            r.time,
            if r.fallbacks.is_empty() {
                ""
            } else {
                "  (no price history: advisor fallbacks)"
            }
        );
    }
    if let Some(o) = &a.on_demand {
        println!(
            "  on-demand: {} × {} for {} pods ({})",
            o.nodes, o.instance_type, o.pods, o.reason
        );
    }
    let saved = a.all_on_demand_usd_per_hour - a.usd_per_hour;
    println!(
        "\n  spot plan {}/h vs all on-demand {}/h: saves {}/h ({}/month)",
        dollars(a.usd_per_hour.usd(), 2),
        dollars(a.all_on_demand_usd_per_hour.usd(), 2),
        dollars(saved.usd(), 2),
        dollars(saved.usd_per_month(), 0)
    );
    Ok(())
}
