//! Cross-AZ traffic: what service-to-service traffic across availability
//! zones costs today, a zone placement of the replicas that costs less
//! (within zone capacity, every service of two replicas or more in two
//! zones or more, its zone constraints kept), and the patches that
//! realize it.
//!
//! ```text
//! cargo run --release --example cross_az                         # the embedded demo
//! cargo run --release --example cross_az -- --snapshot cluster.json --traffic flows.csv
//! cargo run --release --features kube --example cross_az -- --kubeconfig ~/.kube/config \
//!     --traffic flows.csv [--execute]
//! ```
//!
//! The traffic is CSV (`from,to,bytes_per_second` with optional
//! `from_namespace,to_namespace` columns; `#` lines are comments) or JSON
//! (`{"flows": [{"from": …, "to": …, "bytes_per_second": …}]}`), e.g.
//! derived from VPC flow logs or mesh metrics. AWS charges $0.01/GB on each
//! side of a cross-zone byte. No zone holds more than `--max-zone-share`
//! percent (default 66) of a moving service's replicas. The plan is
//! printed; against a live cluster it runs through the plan runner as a
//! server-side dry-run, and changes the templates and Services only with
//! `--execute` (each step re-checks that what it replaces is unchanged).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use cloudoptim::catalog::Catalog;
use cloudoptim::cross_az::{
    analyze, plan, read_traffic, CannotImprove, CrossAzPolicy, CrossAzReport, Method,
    ServiceOutcome, MIN_ENDPOINTS_PER_ZONE,
};
use cloudoptim::demo::{DemoConfig, DemoEnvironment};
use cloudoptim::money::{dollars, UsdPerHour};
use cloudoptim::plan::Plan;
use cloudoptim::snapshot::ClusterSnapshot;
use cloudoptim::traffic::TrafficMatrix;

const USAGE: &str =
    "usage: cross_az [--snapshot FILE.json | --kubeconfig FILE [--context NAME] [--execute]] \
                     [--traffic FILE.csv|FILE.json] [--max-zone-share PERCENT] [--patches] [--all]";

struct Args {
    snapshot: Option<PathBuf>,
    kubeconfig: Option<PathBuf>,
    context: Option<String>,
    traffic: Option<PathBuf>,
    max_zone_share_percent: u32,
    execute: bool,
    patches: bool,
    all: bool,
}

fn parse_args() -> Result<Args, lexopt::Error> {
    use lexopt::prelude::*;
    let mut args = Args {
        snapshot: None,
        kubeconfig: std::env::var_os("KUBECONFIG").map(PathBuf::from),
        context: None,
        traffic: None,
        max_zone_share_percent: CrossAzPolicy::default().max_zone_share_percent,
        execute: false,
        patches: false,
        all: false,
    };
    let mut kubeconfig_given = false;
    let mut parser = lexopt::Parser::from_env();
    while let Some(arg) = parser.next()? {
        match arg {
            Long("snapshot") => args.snapshot = Some(parser.value()?.into()),
            Long("kubeconfig") => {
                args.kubeconfig = Some(parser.value()?.into());
                kubeconfig_given = true;
            }
            Long("context") => args.context = Some(parser.value()?.string()?),
            Long("traffic") => args.traffic = Some(parser.value()?.into()),
            Long("max-zone-share") => {
                let v: u32 = parser.value()?.parse()?;
                if !(1..=100).contains(&v) {
                    return Err(lexopt::Error::Custom(
                        format!("--max-zone-share {v}: a percentage from 1 to 100").into(),
                    ));
                }
                args.max_zone_share_percent = v;
            }
            Long("execute") => args.execute = true,
            Long("patches") => args.patches = true,
            Long("all") => args.all = true,
            Long("help") | Short('h') => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            _ => return Err(arg.unexpected()),
        }
    }
    // KUBECONFIG from the environment is used only with --traffic and no
    // --snapshot (a file given on the command line wins).
    if !kubeconfig_given && (args.snapshot.is_some() || args.traffic.is_none()) {
        args.kubeconfig = None;
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
    let live = args.kubeconfig.is_some();
    let problem = if args.snapshot.is_some() && live {
        Some("--snapshot and --kubeconfig are two sources: give one")
    } else if (args.snapshot.is_some() || live) != args.traffic.is_some() {
        Some("--traffic goes with --snapshot or --kubeconfig (what pods send, and where they run)")
    } else if args.execute && !live {
        Some("--execute needs a live cluster (--kubeconfig)")
    } else {
        None
    };
    if let Some(problem) = problem {
        eprintln!("cross_az: {problem}\n{USAGE}");
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

fn read_traffic_file(path: &std::path::Path) -> Result<TrafficMatrix, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    read_traffic(&text).map_err(|e| format!("{}: {e}", path.display()))
}

fn run(args: &Args) -> Result<(), String> {
    if args.kubeconfig.is_some() {
        return live(args);
    }
    let (snapshot, traffic, source): (ClusterSnapshot, TrafficMatrix, String) =
        match (&args.snapshot, &args.traffic) {
            (Some(s), Some(t)) => (
                support::read_kubectl_file(s)?.snapshot,
                read_traffic_file(t)?,
                format!("{} and {}", s.display(), t.display()),
            ),
            _ => {
                let catalog = Catalog::embedded().map_err(|e| e.to_string())?;
                let demo = DemoEnvironment::generate(&DemoConfig::default(), catalog)
                    .map_err(|e| e.to_string())?;
                (demo.snapshot, demo.traffic, "the embedded demo".to_owned())
            }
        };
    let plan = analyze_and_plan(args, &snapshot, &traffic, &source);
    if !plan.steps.is_empty() {
        println!("  (a plan only: run against a live cluster with --kubeconfig to apply it)");
    }
    Ok(())
}

/// Analyze, print the report and the plan; return the plan.
fn analyze_and_plan(
    args: &Args,
    snapshot: &ClusterSnapshot,
    traffic: &TrafficMatrix,
    source: &str,
) -> Plan {
    let policy = CrossAzPolicy {
        max_zone_share_percent: args.max_zone_share_percent,
    };
    let started = Instant::now();
    let report = analyze(snapshot, traffic, &policy);
    let ms = started.elapsed().as_secs_f64() * 1e3;
    print_report(&report, source, traffic.flows.len(), ms, args, &policy);
    let plan = plan(&report, jiff::Timestamp::now());
    print_plan(&report, &plan, snapshot, args.patches);
    plan
}

#[cfg(not(feature = "kube"))]
fn live(_: &Args) -> Result<(), String> {
    Err("a live cluster needs the Kubernetes adapter: add --features kube".into())
}

#[cfg(feature = "kube")]
fn live(args: &Args) -> Result<(), String> {
    use cloudoptim::k8s::{ClientSettings, KubeClient, KubeExecutor, Mode, ObserveOptions};
    let traffic_path = args.traffic.as_deref().ok_or("--traffic is needed")?;
    let traffic = read_traffic_file(traffic_path)?;
    let runtime = tokio::runtime::Runtime::new().map_err(|e| e.to_string())?;
    runtime.block_on(async {
        let settings = ClientSettings::from_env().map_err(|e| e.to_string())?;
        let client = KubeClient::from_kubeconfig(
            args.kubeconfig.as_deref(),
            args.context.as_deref(),
            settings,
        )
        .await
        .map_err(|e| e.to_string())?;
        let observed = client
            .observe(&ObserveOptions::default())
            .await
            .map_err(|e| e.to_string())?;
        let source = format!("{} and {}", client.cluster_url(), traffic_path.display());
        let plan = analyze_and_plan(args, &observed.snapshot, &traffic, &source);
        if plan.steps.is_empty() {
            return Ok(());
        }
        let mode = if args.execute {
            Mode::Execute
        } else {
            Mode::DryRun
        };
        let run = KubeExecutor::new(client, mode)
            .run(&plan)
            .await
            .map_err(|e| format!("plan refused: {e}"))?;
        print!("{run}");
        if let Some(failed) = run.failed {
            return Err(format!(
                "step {} failed: {}",
                failed.index + 1,
                failed.source
            ));
        }
        if !args.execute {
            println!("Dry run (server-side): nothing changed; add --execute to patch.");
        }
        Ok(())
    })
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

fn print_report(
    report: &CrossAzReport,
    source: &str,
    flows: usize,
    ms: f64,
    args: &Args,
    policy: &CrossAzPolicy,
) {
    let all = args.all;
    let zone_list = if report.zones.is_empty() {
        "none (no node has a zone label)".to_owned()
    } else {
        report.zones.join(", ")
    };
    println!(
        "Cross-AZ traffic — {source}: {flows} flows, zones {zone_list}; at most {}% of a moving service in one zone",
        policy.max_zone_share_percent
    );
    for (flow, why) in &report.cannot_place {
        println!("  cannot place {} -> {}: {why}", flow.from, flow.to);
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
    for s in &report.services {
        let note = match &s.outcome {
            ServiceOutcome::Fixed { why } => format!("stays: {why}"),
            ServiceOutcome::Unchanged => "already best".to_owned(),
            ServiceOutcome::Moves { .. } => "moves".to_owned(),
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
    }
    if !all {
        println!("  (services that stay are left out; --all lists them)");
    }
}

fn print_plan(report: &CrossAzReport, plan: &Plan, snapshot: &ClusterSnapshot, patches: bool) {
    for s in &report.services {
        for svc in &s.prefer_close_at_risk {
            println!(
                "  warning: Service {svc} already prefers same-zone endpoints, and {} would keep \
                 fewer than {MIN_ENDPOINTS_PER_ZONE} replicas in a zone: review before applying",
                s.service
            );
        }
    }
    if snapshot.services.is_empty() && !plan.steps.is_empty() {
        println!(
            "  PreferClose: cannot tell which Services front the workloads (the snapshot has no \
             Services), so none is proposed"
        );
    }
    if plan.steps.is_empty() {
        return;
    }
    println!(
        "\n  Plan ({} steps, each re-checked when it runs):",
        plan.steps.len()
    );
    for (i, step) in plan.steps.iter().enumerate() {
        println!("  {:>3}. {}", i + 1, step.reason);
    }
    if patches {
        println!("\n  Patches (strategic merge):");
        for s in &report.services {
            if let ServiceOutcome::Moves { change } = &s.outcome {
                println!(
                    "    {} {}: {}",
                    change.kind,
                    change.workload,
                    change.to_patch_json()
                );
            }
            for p in &s.prefer_close {
                println!("    Service {}: {}", p.service, p.to_patch_json());
            }
        }
    } else {
        println!("  (--patches prints the patch bodies)");
    }
}
