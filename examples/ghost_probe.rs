//! Ghost instances: running EC2 instances tagged for the cluster that back
//! no Node (matched by the instance id in each Node's `spec.providerID`,
//! never by name), why each is (or is not yet) a ghost, and what it costs.
//! Reports by default; `--terminate` plans terminations, `--execute` runs
//! them.
//!
//! ```text
//! cargo run --release --example ghost_probe                      # the embedded demo
//! AWS_ENDPOINT_URL=http://127.0.0.1:5000 cargo run --release --features aws,kube \
//!     --example ghost_probe -- --kubeconfig ~/.kube/config --cluster prod [--terminate [--execute]]
//! ```
//!
//! A ghost must be seen on consecutive runs spanning the grace period (24
//! hours unless `--grace-hours`): the first sight is tagged
//! `cloudoptim.io/ghost-since` on the instance, an instance that backs a
//! node again loses the tag. Instances in an Auto Scaling lifecycle wait,
//! tagged `cloudoptim.io/protect`, or launched within the grace period
//! (joining) are skipped; a Node list that could not be read whole stops
//! the run. At most `--max-share` percent of the fleet is terminated a run.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::path::PathBuf;
use std::process::ExitCode;

use cloudoptim::catalog::Catalog;
use cloudoptim::demo::{DemoConfig, DemoEnvironment};
use cloudoptim::inventory::AwsInventory;
use cloudoptim::money::{dollars, UsdPerHour};
use cloudoptim::plan::Plan;
use cloudoptim::waste::ghost_instances::{
    classify, plan, termination_budget, GhostAction, GhostPolicy, GhostReport, InstanceVerdict,
    NodeList,
};
use jiff::Timestamp;

const USAGE: &str = "usage: ghost_probe [--kubeconfig FILE [--context NAME] --cluster NAME [--region R]] [--grace-hours N] [--terminate] [--max-share PERCENT] [--now RFC3339] [--execute]";

struct Args {
    kubeconfig: Option<PathBuf>,
    context: Option<String>,
    cluster: Option<String>,
    region: Option<String>,
    grace_hours: u64,
    terminate: bool,
    max_share_percent: u32,
    now: Option<Timestamp>,
    execute: bool,
}

fn parse_args() -> Result<Args, lexopt::Error> {
    use lexopt::prelude::*;
    let mut args = Args {
        kubeconfig: None,
        context: None,
        cluster: None,
        region: None,
        grace_hours: 24,
        terminate: false,
        max_share_percent: 10,
        now: None,
        execute: false,
    };
    let mut parser = lexopt::Parser::from_env();
    while let Some(arg) = parser.next()? {
        match arg {
            Long("kubeconfig") => args.kubeconfig = Some(parser.value()?.into()),
            Long("context") => args.context = Some(parser.value()?.string()?),
            Long("cluster") => args.cluster = Some(parser.value()?.string()?),
            Long("region") => args.region = Some(parser.value()?.string()?),
            Long("grace-hours") => args.grace_hours = parser.value()?.parse()?,
            Long("terminate") => args.terminate = true,
            Long("max-share") => args.max_share_percent = parser.value()?.parse()?,
            Long("now") => args.now = Some(parser.value()?.parse()?),
            Long("execute") => args.execute = true,
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
            eprintln!("ghost_probe: {e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let problem = if args.execute && args.kubeconfig.is_none() {
        Some("--execute needs a live cluster and account (--kubeconfig, --cluster)")
    } else if args.kubeconfig.is_some() && args.cluster.is_none() {
        Some("--kubeconfig needs --cluster NAME (the cluster's tag on its instances)")
    } else if args.max_share_percent > 100 {
        Some("--max-share is a percentage of the fleet, 0 to 100")
    } else {
        None
    };
    if let Some(problem) = problem {
        eprintln!("ghost_probe: {problem}\n{USAGE}");
        return ExitCode::from(2);
    }
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ghost_probe: {e}");
            ExitCode::FAILURE
        }
    }
}

fn policy_of(args: &Args, cluster: &str, region: &str) -> Result<GhostPolicy, String> {
    let mut policy = GhostPolicy::new(cluster, region);
    policy.grace_seconds = args
        .grace_hours
        .checked_mul(3600)
        .ok_or_else(|| format!("--grace-hours {} is too large", args.grace_hours))?;
    policy.action = if args.terminate {
        GhostAction::Terminate
    } else {
        GhostAction::Report
    };
    policy.max_fleet_share_percent = args.max_share_percent;
    Ok(policy)
}

fn run(args: &Args) -> Result<(), String> {
    if args.kubeconfig.is_some() {
        return live::run(args);
    }
    let catalog = Catalog::embedded().map_err(|e| e.to_string())?;
    let demo =
        DemoEnvironment::generate(&DemoConfig::default(), catalog).map_err(|e| e.to_string())?;
    let now = args.now.unwrap_or(demo.config.now);
    let policy = policy_of(args, &demo.config.cluster_name, &demo.region)?;
    println!(
        "Ghost instances — the embedded demo (cluster {}, {}), at {now}",
        policy.cluster_name, policy.region
    );
    let (report, plan) = decide(
        &demo.aws,
        NodeList::Complete(&demo.snapshot.nodes),
        &policy,
        catalog,
        now,
    )?;
    print_report(&report, &policy);
    print_plan(&plan);
    println!("\n(dry-run: the demo has no account to act on; give --kubeconfig and --cluster, with AWS credentials or AWS_ENDPOINT_URL, to run it)");
    Ok(())
}

fn decide(
    account: &AwsInventory,
    nodes: NodeList<'_>,
    policy: &GhostPolicy,
    catalog: &Catalog,
    now: Timestamp,
) -> Result<(GhostReport, Plan), String> {
    let report =
        classify(account, nodes, policy, catalog, now).map_err(|e| format!("cannot tell: {e}"))?;
    let plan = plan(&report, policy, now);
    Ok((report, plan))
}

fn hourly(v: Option<UsdPerHour>) -> String {
    match v {
        Some(v) => format!("{}/h", dollars(v.usd(), 3)),
        None => "price unknown".to_owned(),
    }
}

fn print_report(report: &GhostReport, policy: &GhostPolicy) {
    let mut backing = 0;
    let mut not_ours = 0;
    let mut wasted = UsdPerHour::ZERO;
    let mut unpriced = 0;
    println!(
        "\n  {:<21} {:<13} {:>12}  verdict",
        "instance", "type", "cost"
    );
    for d in &report.decisions {
        let why = match &d.verdict {
            InstanceVerdict::NotThisCluster => {
                not_ours += 1;
                continue;
            }
            InstanceVerdict::BacksNode { .. } => {
                backing += 1;
                continue;
            }
            InstanceVerdict::NotRunning => "not running".to_owned(),
            InstanceVerdict::MarkToRemove { node } => {
                format!("backs node {node} again: ghost mark removed")
            }
            InstanceVerdict::LifecycleWait { group } => {
                format!("skipped: in a lifecycle wait of Auto Scaling group {group}")
            }
            InstanceVerdict::Protected => "skipped: tagged cloudoptim.io/protect".to_owned(),
            InstanceVerdict::Joining { launched_at } => {
                format!("launched {launched_at}, within the grace period: probably joining")
            }
            InstanceVerdict::NewlySeen => {
                "backs no node, first seen now: marked (a ghost if still so after the grace period)"
                    .to_owned()
            }
            InstanceVerdict::Waiting { until } => {
                format!("backs no node since its mark; grace period runs until {until}")
            }
            InstanceVerdict::MarkInvalid { found } => {
                format!("mark {found:?} is unreadable or in the future (clock skew?): re-marked")
            }
            InstanceVerdict::Ghost { since } => {
                match d.usd_per_hour {
                    Some(v) => wasted += v,
                    None => unpriced += 1,
                }
                let what = match policy.action {
                    GhostAction::Report => "reported",
                    GhostAction::Terminate => "terminated within the run's budget",
                };
                format!("GHOST: backs no node since {since}: {what}")
            }
        };
        let group = d
            .auto_scaling_group
            .as_deref()
            .map(|g| format!(" [{g}]"))
            .unwrap_or_default();
        println!(
            "  {:<21} {:<13} {:>12}  {why}{group}",
            d.instance_id,
            d.instance_type,
            hourly(d.usd_per_hour)
        );
    }
    let unpriced = match unpriced {
        0 => String::new(),
        n => format!(" ({n} ghost(s) of unknown price not counted)"),
    };
    println!(
        "\n  {backing} instance(s) back nodes; {not_ours} instance(s) are not this cluster's. Ghosts waste {} ({}/month){unpriced}. A run may terminate {} of the fleet of {} ({}%).",
        hourly(Some(wasted)),
        dollars(wasted.usd_per_month(), 0),
        termination_budget(report.fleet, policy),
        report.fleet,
        policy.max_fleet_share_percent
    );
}

fn print_plan(plan: &Plan) {
    println!("\n  Plan ({} steps):", plan.steps.len());
    for (i, s) in plan.steps.iter().enumerate() {
        println!("  {:>3}. {:<20} {}", i + 1, s.action.kind(), s.reason);
    }
}

#[cfg(not(all(feature = "aws", feature = "kube")))]
mod live {
    pub fn run(_: &super::Args) -> Result<(), String> {
        Err("a live cluster and account need both adapters: add --features aws,kube".into())
    }
}

#[cfg(all(feature = "aws", feature = "kube"))]
mod live {
    use super::*;
    use cloudoptim::aws::{observe_account, AutoScaling, AwsSettings, Ec2, Ec2Executor};
    use cloudoptim::k8s::{ClientSettings, KubeClient, ObserveOptions};

    pub fn run(args: &Args) -> Result<(), String> {
        let runtime = tokio::runtime::Runtime::new().map_err(|e| e.to_string())?;
        runtime.block_on(async {
            let cluster = args.cluster.clone().unwrap_or_default();
            let mut settings = AwsSettings::from_env();
            if let Some(region) = &args.region {
                settings.region = region.clone();
            }
            let config = settings.sdk_config().await;
            let ec2 = Ec2::new(&config);
            let autoscaling = AutoScaling::new(&config);
            let client = KubeClient::from_kubeconfig(
                args.kubeconfig.as_deref(),
                args.context.as_deref(),
                ClientSettings::from_env().map_err(|e| e.to_string())?,
            )
            .await
            .map_err(|e| e.to_string())?;
            // A failed Node list is an error here: no ghosts without nodes.
            let observed = client
                .observe(&ObserveOptions {
                    metrics: false,
                    ..ObserveOptions::default()
                })
                .await
                .map_err(|e| format!("cannot read the cluster, so no instance is judged: {e}"))?;
            let account = observe_account(&ec2, Some(&autoscaling), &settings.region, &cluster)
                .await
                .map_err(|e| e.to_string())?;
            let nodes = if observed.is_consistent("Node") {
                NodeList::Complete(&observed.snapshot.nodes)
            } else {
                NodeList::Incomplete {
                    reason: "the Node list expired midway and was continued at a later revision",
                }
            };
            let now = args.now.unwrap_or_else(Timestamp::now);
            let policy = policy_of(args, &cluster, &settings.region)?;
            println!(
                "Ghost instances — cluster {cluster} at {} ({} nodes) and its account in {} ({} instances read), at {now}",
                client.cluster_url(),
                observed.snapshot.nodes.len(),
                settings.region,
                account.instances.len()
            );
            let catalog = Catalog::embedded().map_err(|e| e.to_string())?;
            let (report, plan) = decide(&account, nodes, &policy, catalog, now)?;
            print_report(&report, &policy);
            print_plan(&plan);
            let aws = Ec2Executor::new(ec2).with_auto_scaling(autoscaling);
            support::run_live_plan(&plan, now, args.execute, &aws, client).await
        })
    }
}
