//! Zombie EBS volumes: per volume of the cluster, why it is (or is not yet)
//! waste and what it costs a month; then the mark → grace → snapshot →
//! delete plan. Dry-run unless `--execute`.
//!
//! ```text
//! cargo run --release --example zombie_volumes                 # the embedded demo
//! AWS_ENDPOINT_URL=http://127.0.0.1:5000 cargo run --release --features aws,kube \
//!     --example zombie_volumes -- --kubeconfig ~/.kube/config --cluster prod [--execute]
//! ```
//!
//! A volume is a candidate only when it is attached to nothing, was
//! created for this cluster's persistent volumes, and no PV or PVC refers
//! to it. Its first sight is recorded as a `cloudoptim.io/delete-after`
//! tag on the volume (first sight + the grace period, 7 days unless
//! `--grace-days`); a volume used again loses the tag; one past its mark is
//! snapshotted, then deleted, at most `--max-deletions` a run. `--now
//! RFC3339` replaces the clock (to replay a run later).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::path::PathBuf;
use std::process::ExitCode;

use cloudoptim::catalog::Catalog;
use cloudoptim::demo::{DemoConfig, DemoEnvironment};
use cloudoptim::inventory::AwsInventory;
use cloudoptim::money::dollars;
use cloudoptim::plan::Plan;
use cloudoptim::snapshot::ClusterSnapshot;
use cloudoptim::waste::zombie_volumes::{
    classify, plan, VolumeVerdict, ZombiePolicy, ZombieReport,
};
use jiff::Timestamp;

const USAGE: &str = "usage: zombie_volumes [--kubeconfig FILE [--context NAME] --cluster NAME [--region R]] [--grace-days N] [--no-snapshot] [--max-deletions N] [--now RFC3339] [--execute]";

struct Args {
    kubeconfig: Option<PathBuf>,
    context: Option<String>,
    cluster: Option<String>,
    region: Option<String>,
    grace_days: u64,
    snapshot_first: bool,
    max_deletions: usize,
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
        grace_days: 7,
        snapshot_first: true,
        max_deletions: 10,
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
            Long("grace-days") => args.grace_days = parser.value()?.parse()?,
            Long("no-snapshot") => args.snapshot_first = false,
            Long("max-deletions") => args.max_deletions = parser.value()?.parse()?,
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
            eprintln!("zombie_volumes: {e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    if args.execute && args.kubeconfig.is_none() {
        eprintln!("zombie_volumes: --execute needs a live cluster and account (--kubeconfig, --cluster)\n{USAGE}");
        return ExitCode::from(2);
    }
    if args.kubeconfig.is_some() && args.cluster.is_none() {
        eprintln!("zombie_volumes: --kubeconfig needs --cluster NAME (the cluster's tag on its volumes)\n{USAGE}");
        return ExitCode::from(2);
    }
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("zombie_volumes: {e}");
            ExitCode::FAILURE
        }
    }
}

fn policy_of(args: &Args, cluster: &str, region: &str) -> Result<ZombiePolicy, String> {
    let mut policy = ZombiePolicy::new(cluster, region);
    policy.grace_seconds = args
        .grace_days
        .checked_mul(86_400)
        .ok_or_else(|| format!("--grace-days {} is too large", args.grace_days))?;
    policy.snapshot_first = args.snapshot_first;
    policy.max_deletions_per_run = args.max_deletions;
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
        "Zombie volumes — the embedded demo (cluster {}, {}), at {now}",
        policy.cluster_name, policy.region
    );
    let (report, plan) = decide(&demo.snapshot, &demo.aws, &policy, now)?;
    print_report(&report, &policy);
    print_plan(&plan);
    println!("\n(dry-run: the demo has no account to act on; give --kubeconfig and --cluster, with AWS credentials or AWS_ENDPOINT_URL, to run it)");
    Ok(())
}

/// The verdicts and the plan; "cannot tell" is an error that says why.
fn decide(
    snapshot: &ClusterSnapshot,
    account: &AwsInventory,
    policy: &ZombiePolicy,
    now: Timestamp,
) -> Result<(ZombieReport, Plan), String> {
    let report =
        classify(snapshot, account, policy, now).map_err(|e| format!("cannot tell: {e}"))?;
    let plan = plan(&report, policy, now);
    Ok((report, plan))
}

fn month(micro_usd: Option<u64>) -> String {
    match micro_usd {
        Some(m) => format!("{}/month", dollars(m as f64 / 1e6, 2)),
        None => "price unknown".to_owned(),
    }
}

fn print_report(report: &ZombieReport, policy: &ZombiePolicy) {
    let mut not_ours = 0;
    println!("\n  {:<24} {:>7} {:>16}  verdict", "volume", "GiB", "cost");
    for d in &report.decisions {
        let why = match &d.verdict {
            VolumeVerdict::NotThisCluster => {
                not_ours += 1;
                continue;
            }
            VolumeVerdict::InUse { attached_to, .. } if !attached_to.is_empty() => {
                format!("in use (attached to {})", attached_to.join(", "))
            }
            VolumeVerdict::InUse { state, .. } => format!("not available ({state:?})"),
            VolumeVerdict::ClaimedByPv { pv } => format!("kept: PersistentVolume {pv} refers to it"),
            VolumeVerdict::ClaimedByPvc { pvc } => format!("kept: claim {pvc} asks for it"),
            VolumeVerdict::RetainReleasedKept { pv } => {
                format!("kept: PV {pv} is Released under Retain (someone chose to keep it)")
            }
            VolumeVerdict::Protected => "kept: tagged cloudoptim.io/protect".to_owned(),
            VolumeVerdict::NewlySeen { delete_after } => {
                format!("unused, first seen now: marked, deletable after {delete_after}")
            }
            VolumeVerdict::Waiting { delete_after } => {
                format!("unused, marked: grace period runs until {delete_after}")
            }
            VolumeVerdict::MarkToRemove { why } => format!("used again ({why}): mark removed"),
            VolumeVerdict::MarkInvalid { found, delete_after } => format!(
                "mark {found:?} is unreadable or beyond one grace period (clock skew?): re-marked, deletable after {delete_after}"
            ),
            VolumeVerdict::Deletable { delete_after } => {
                if policy.snapshot_first {
                    format!("ZOMBIE: unused since before {delete_after} (mark passed): snapshot, then delete")
                } else {
                    format!("ZOMBIE: unused since before {delete_after} (mark passed): delete")
                }
            }
        };
        println!(
            "  {:<24} {:>7} {:>16}  {why}",
            d.volume_id,
            d.size_gib,
            month(d.micro_usd_per_month)
        );
    }
    let (wasted, unpriced) = report.wasted_micro_usd_per_month();
    let unpriced = match unpriced {
        0 => String::new(),
        n => format!(" ({n} unused volume(s) of unknown price not counted)"),
    };
    println!(
        "\n  Unused volumes (marked or deletable) cost {}{unpriced}. Left out: {not_ours} volume(s) not created for this cluster's PersistentVolumes (node root volumes, other clusters').",
        month(Some(wasted))
    );
}

fn print_plan(plan: &Plan) {
    println!("\n  Plan ({} steps):", plan.steps.len());
    for (i, s) in plan.steps.iter().enumerate() {
        println!("  {:>3}. {:<16} {}", i + 1, s.action.kind(), s.reason);
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
    use cloudoptim::aws::{observe_account, AwsSettings, Ec2, Ec2Executor};
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
            let client = KubeClient::from_kubeconfig(
                args.kubeconfig.as_deref(),
                args.context.as_deref(),
                ClientSettings::from_env().map_err(|e| e.to_string())?,
            )
            .await
            .map_err(|e| e.to_string())?;
            let observed = client
                .observe(&ObserveOptions {
                    metrics: false,
                    ..ObserveOptions::default()
                })
                .await
                .map_err(|e| e.to_string())?;
            let account = observe_account(&ec2, None, &settings.region, &cluster)
                .await
                .map_err(|e| e.to_string())?;
            let now = args.now.unwrap_or_else(Timestamp::now);
            let policy = policy_of(args, &cluster, &settings.region)?;
            println!(
                "Zombie volumes — cluster {cluster} at {} and its account in {} ({} volumes read), at {now}",
                client.cluster_url(),
                settings.region,
                account.volumes.len()
            );
            let (report, plan) = decide(&observed.snapshot, &account, &policy, now)?;
            print_report(&report, &policy);
            print_plan(&plan);
            let aws = Ec2Executor::new(ec2);
            support::run_live_plan(&plan, now, args.execute, &aws, client).await
        })
    }
}
