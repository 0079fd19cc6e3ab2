//! Cross-AZ traffic: what service-to-service traffic across availability
//! zones costs today, a zone placement of the replicas that costs less
//! (within zone capacity, every service of two replicas or more in two
//! zones or more, its zone constraints kept), and the patches that
//! realize it.
//!
//! ```text
//! cargo run --release --example cross_az                         # the embedded demo
//! cargo run --release --example cross_az -- --snapshot cluster.json --traffic flows.csv
//! ```
//!
//! The traffic is CSV (`from,to,bytes_per_second` with optional
//! `from_namespace,to_namespace` columns; `#` lines are comments) or JSON
//! (`{"flows": [{"from": …, "to": …, "bytes_per_second": …}]}`), e.g.
//! derived from VPC flow logs or mesh metrics. AWS charges $0.01/GB on each
//! side of a cross-zone byte. The patches are printed, not applied.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use cloudoptim::catalog::Catalog;
use cloudoptim::cross_az::{
    analyze, read_traffic, CannotImprove, CrossAzReport, Method, ServiceOutcome,
};
use cloudoptim::demo::{DemoConfig, DemoEnvironment};
use cloudoptim::money::{dollars, UsdPerHour};
use cloudoptim::snapshot::ClusterSnapshot;
use cloudoptim::traffic::TrafficMatrix;

const USAGE: &str = "usage: cross_az [--snapshot FILE.json --traffic FILE.csv|FILE.json] [--all]";

struct Args {
    snapshot: Option<PathBuf>,
    traffic: Option<PathBuf>,
    all: bool,
}

fn parse_args() -> Result<Args, lexopt::Error> {
    use lexopt::prelude::*;
    let mut args = Args {
        snapshot: None,
        traffic: None,
        all: false,
    };
    let mut parser = lexopt::Parser::from_env();
    while let Some(arg) = parser.next()? {
        match arg {
            Long("snapshot") => args.snapshot = Some(parser.value()?.into()),
            Long("traffic") => args.traffic = Some(parser.value()?.into()),
            Long("all") => args.all = true,
            Long("help") | Short('h') => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            _ => return Err(arg.unexpected()),
        }
    }
    Ok(args)
}

fn main() -> ExitCode {
    support::exit_quietly_on_broken_pipe();
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("cross_az: {e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    if args.snapshot.is_some() != args.traffic.is_some() {
        eprintln!("cross_az: --snapshot and --traffic go together (where pods run, and what they send)\n{USAGE}");
        return ExitCode::from(2);
    }
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("cross_az: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &Args) -> Result<(), String> {
    let (snapshot, traffic, source): (ClusterSnapshot, TrafficMatrix, String) =
        match (&args.snapshot, &args.traffic) {
            (Some(s), Some(t)) => {
                let import = support::read_kubectl_file(s)?;
                let text = std::fs::read_to_string(t)
                    .map_err(|e| format!("cannot read {}: {e}", t.display()))?;
                let traffic = read_traffic(&text).map_err(|e| format!("{}: {e}", t.display()))?;
                (
                    import.snapshot,
                    traffic,
                    format!("{} and {}", s.display(), t.display()),
                )
            }
            _ => {
                let catalog = Catalog::embedded().map_err(|e| e.to_string())?;
                let demo = DemoEnvironment::generate(&DemoConfig::default(), catalog)
                    .map_err(|e| e.to_string())?;
                (demo.snapshot, demo.traffic, "the embedded demo".to_owned())
            }
        };
    let started = Instant::now();
    let report = analyze(&snapshot, &traffic);
    let ms = started.elapsed().as_secs_f64() * 1e3;
    print_report(&report, &source, traffic.flows.len(), ms, args.all);
    Ok(())
}

fn cost(v: UsdPerHour) -> String {
    format!(
        "{}/h ({}/month)",
        dollars(v.usd(), 2),
        dollars(v.usd_per_month(), 0)
    )
}

fn zones(counts: &[(String, u32)]) -> String {
    counts
        .iter()
        .map(|(z, n)| format!("{z}:{n}"))
        .collect::<Vec<_>>()
        .join(" ")
}

fn print_report(report: &CrossAzReport, source: &str, flows: usize, ms: f64, all: bool) {
    println!(
        "Cross-AZ traffic — {source}: {flows} flows, zones {}",
        report.zones.join(", ")
    );
    for (flow, why) in &report.cannot_place {
        println!("  cannot place {} -> {}: {why:?}", flow.from, flow.to);
    }
    if report.cannot_improve == Some(CannotImprove::NoTraffic) {
        println!("  cannot tell: no flow has both sides in the snapshot, so no cost is claimed");
        return;
    }
    if !report.cannot_place.is_empty() {
        println!(
            "  (the {} flow(s) above are not counted in the figures below)",
            report.cannot_place.len()
        );
    }
    println!(
        "  today:  {:>10.1} MB/s cross zones, {}",
        report.before.cross_zone_bytes_per_second / 1e6,
        cost(report.before.usd_per_hour)
    );
    let method = match report.method {
        Some(Method::Exact) => "exact (branch and bound)",
        Some(Method::Heuristic) => "heuristic",
        None => "none",
    };
    println!(
        "  placed: {:>10.1} MB/s cross zones, {}  [{method}, {ms:.1} ms]",
        report.after.cross_zone_bytes_per_second / 1e6,
        cost(report.after.usd_per_hour)
    );
    match &report.cannot_improve {
        Some(why) => {
            let why = match why {
                CannotImprove::NoTraffic => "no flow has both sides in the snapshot",
                CannotImprove::OneZone => "the nodes are in fewer than two zones: nothing crosses",
                CannotImprove::NothingCrosses => "no traffic crosses zones today",
                CannotImprove::NothingMovable => {
                    "every service with traffic is pinned to its zones"
                }
                CannotImprove::NoFeasiblePlacement => "no placement fits the zones' capacity",
                CannotImprove::AlreadyBest => "today's placement is already the best found",
            };
            println!("  no saving proposed: {why}");
        }
        None => println!("  saves {}", cost(report.savings())),
    }
    println!(
        "\n  {:<32} {:>4}  {:<34} {:<34} same-zone share",
        "service", "pods", "today", "wanted"
    );
    let mut patches = Vec::new();
    for s in &report.services {
        let note = match &s.outcome {
            ServiceOutcome::Fixed { why } => format!("stays: {why:?}"),
            ServiceOutcome::Unchanged => "already best".to_owned(),
            ServiceOutcome::Moves { change } => {
                patches.push((
                    format!("{} {}", change.kind, change.workload),
                    change.to_patch_json(),
                ));
                "moves".to_owned()
            }
        };
        if !all && !matches!(s.outcome, ServiceOutcome::Moves { .. }) {
            continue;
        }
        println!(
            "  {:<32} {:>4}  {:<34} {:<34} {:>3.0}% -> {:>3.0}%  {note}",
            s.service.to_string(),
            s.replicas,
            zones(&s.today),
            zones(&s.wanted),
            s.same_zone_share_before * 100.0,
            s.same_zone_share_after * 100.0,
        );
        if let Some(p) = &s.prefer_close {
            patches.push((format!("Service {}", p.service), p.to_patch_json()));
        }
    }
    if !all {
        println!("  (services that stay are left out; --all lists them)");
    }
    println!("\n  Patches (strategic merge; printed, not applied):");
    for (target, patch) in patches {
        println!("    {target}: {patch}");
    }
}
