//! Workload rightsizing: per container, the CPU and memory requests now and
//! recommended (p95 of the usage + 15%, VPA-style bounds and confidence),
//! what an HPA or a short history leaves alone, $/month, and the plan of
//! `PatchResources` steps. Dry-run unless `--execute`.
//!
//! ```text
//! cargo run --release --example rightsize                        # the embedded demo and its 7 days of usage
//! cargo run --release --features kube --example rightsize -- --kubeconfig ~/.kube/config \
//!     --prometheus http://prometheus.example:9090 [--days 7] [--execute]
//! cargo run --release --example rightsize -- --snapshot FILE     # requests only: says what usage it needs
//! ```
//!
//! `--checkpoint FILE` keeps the histograms between runs (read if it
//! exists, written after the run); on a live cluster each run also adds one
//! `metrics.k8s.io` reading, so a run every minute builds the history from
//! metrics-server alone (no recommendation before 24 h of it). `--force` recommends from under 24 h of history (the output
//! still shows how much there was).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::path::PathBuf;
use std::process::ExitCode;

use cloudoptim::catalog::Catalog;
use cloudoptim::demo::{DemoConfig, DemoEnvironment};
use cloudoptim::money::dollars;
use cloudoptim::rightsizing::{
    describe, format_amount, recommend, Decision, RightsizingPolicy, RightsizingReport,
};
use cloudoptim::usage::{ContainerCheckpoint, UsageHistograms, UsageOptions};

const USAGE: &str = "usage: rightsize [--snapshot FILE | --kubeconfig FILE [--context NAME] --prometheus URL [--days N]] [--checkpoint FILE] [--force] [--percentile P] [--execute] [--all]";

struct Args {
    snapshot: Option<PathBuf>,
    kubeconfig: Option<PathBuf>,
    context: Option<String>,
    prometheus: Option<String>,
    days: u32,
    checkpoint: Option<PathBuf>,
    force: bool,
    percentile: f64,
    execute: bool,
    all: bool,
}

fn parse_args() -> Result<Args, lexopt::Error> {
    use lexopt::prelude::*;
    let mut args = Args {
        snapshot: None,
        kubeconfig: None,
        context: None,
        prometheus: None,
        days: 7,
        checkpoint: None,
        force: false,
        percentile: 0.95,
        execute: false,
        all: false,
    };
    let mut parser = lexopt::Parser::from_env();
    while let Some(arg) = parser.next()? {
        match arg {
            Long("snapshot") => args.snapshot = Some(parser.value()?.into()),
            Long("kubeconfig") => args.kubeconfig = Some(parser.value()?.into()),
            Long("context") => args.context = Some(parser.value()?.string()?),
            Long("prometheus") => args.prometheus = Some(parser.value()?.string()?),
            Long("days") => args.days = parser.value()?.parse()?,
            Long("checkpoint") => args.checkpoint = Some(parser.value()?.into()),
            Long("force") => args.force = true,
            Long("percentile") => args.percentile = parser.value()?.parse()?,
            Long("execute") => args.execute = true,
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
            eprintln!("rightsize: {e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    if let Err(e) = check(&args) {
        eprintln!("rightsize: {e}\n{USAGE}");
        return ExitCode::from(2);
    }
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("rightsize: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Flags that conflict are errors, never silently ignored.
fn check(args: &Args) -> Result<(), String> {
    if args.snapshot.is_some() && args.kubeconfig.is_some() {
        return Err("--snapshot and --kubeconfig are two sources: give one".into());
    }
    if args.prometheus.is_some() && args.kubeconfig.is_none() {
        return Err(
            "--prometheus needs --kubeconfig (the cluster whose pods the series name)".into(),
        );
    }
    if args.execute && args.kubeconfig.is_none() {
        return Err("--execute needs a live cluster (--kubeconfig)".into());
    }
    if !(0.0..=1.0).contains(&args.percentile) || args.percentile.is_nan() {
        return Err(format!(
            "--percentile {} is not between 0 and 1 (0.95 is p95)",
            args.percentile
        ));
    }
    if args.days == 0 {
        return Err("--days 0: at least one day of history is needed".into());
    }
    Ok(())
}

fn policy(args: &Args) -> RightsizingPolicy {
    RightsizingPolicy {
        cpu_percentile: args.percentile,
        memory_percentile: args.percentile,
        force: args.force,
        ..RightsizingPolicy::default()
    }
}

fn load_checkpoint(args: &Args) -> Result<UsageHistograms, Box<dyn std::error::Error>> {
    let Some(path) = args.checkpoint.as_ref().filter(|p| p.exists()) else {
        return Ok(UsageHistograms::new(UsageOptions::default()));
    };
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let saved: Vec<ContainerCheckpoint> =
        serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(
        UsageHistograms::from_checkpoint(UsageOptions::default(), &saved)
            .map_err(|e| format!("{}: {e}", path.display()))?,
    )
}

fn save_checkpoint(args: &Args, usage: &UsageHistograms) -> Result<(), Box<dyn std::error::Error>> {
    if let Some(path) = &args.checkpoint {
        std::fs::write(path, serde_json::to_string(&usage.checkpoint())?)
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        println!(
            "\nHistograms of {} container(s) saved to {}.",
            usage.len(),
            path.display()
        );
    }
    Ok(())
}

fn run(args: &Args) -> Result<(), Box<dyn std::error::Error>> {
    let catalog = Catalog::embedded()?;
    let mut usage = load_checkpoint(args)?;
    if args.kubeconfig.is_some() {
        return live(args, catalog, usage);
    }
    let (snapshot, region, now, source) = match &args.snapshot {
        Some(path) => {
            let import = support::read_kubectl_file(path)?;
            let env = cloudoptim::environment::NodeEnvironment::of(&import.snapshot);
            let region = env.region_or("us-east-1").to_owned();
            (
                import.snapshot,
                region,
                jiff::Timestamp::now(),
                path.display().to_string(),
            )
        }
        None => {
            let config = DemoConfig::default();
            let demo = DemoEnvironment::generate(&config, catalog)?;
            let ingest = usage.ingest_history(&demo.usage, &demo.snapshot)?;
            println!(
                "Usage: the demo's 7 days, {} CPU samples and {} memory peaks of {} container series.",
                ingest.cpu_samples, ingest.memory_peaks, ingest.series
            );
            (
                demo.snapshot,
                demo.region,
                config.now,
                "the embedded demo cluster".to_owned(),
            )
        }
    };
    if usage.is_empty() {
        println!(
            "Cannot tell: {source} holds requests but no usage. Rightsizing needs usage history: \
             run against the live cluster with --kubeconfig and --prometheus, or keep histograms \
             with --checkpoint."
        );
        return Ok(());
    }
    let report = recommend(&snapshot, catalog, &region, &usage, &policy(args), now);
    println!("Rightsizing {source} at {now}, prices of {region}");
    print_report(&report, args.all);
    save_checkpoint(args, &usage)
}

fn print_report(report: &RightsizingReport, all: bool) {
    match &report.rates {
        Some(r) => println!(
            "Prices: ${:.4}/core-hour and ${:.4}/GiB-hour, from {} priced node(s)",
            r.usd_per_cpu_hour, r.usd_per_gib_hour, r.priced_nodes
        ),
        None => println!("Prices: none known for these nodes: savings cannot be told."),
    }
    for note in &report.notes {
        println!("Note: {note}");
    }
    let mut counts = std::collections::BTreeMap::new();
    for f in &report.findings {
        *counts.entry(f.decision.kind()).or_insert(0usize) += 1;
    }
    println!(
        "\n{} container(s): {}",
        report.findings.len(),
        counts
            .iter()
            .map(|(k, n)| format!("{n} {k}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    println!(
        "\n{:<44} {:>15} {:>17} {:>5} {:>10}  decision",
        "namespace/workload/container", "cpu now → rec", "memory now → rec", "conf", "$/month"
    );
    let mut shown: Vec<_> = report
        .findings
        .iter()
        .filter(|f| all || f.decision == Decision::Patch)
        .collect();
    shown.sort_by_key(|f| std::cmp::Reverse(f.usd_per_hour_saved));
    for f in &shown {
        let name = format!(
            "{}/{}/{}",
            f.key.namespace, f.key.owner.name, f.key.container
        );
        let pair = |r: &cloudoptim::rightsizing::Recommendation| {
            format!(
                "{} → {}",
                format_amount(r.resource, r.current_request),
                format_amount(r.resource, r.target)
            )
        };
        let month = f
            .usd_per_hour_saved
            .map_or("?".to_owned(), |s| dollars(s.usd_per_month(), 0));
        let decision = match &f.decision {
            Decision::NotEnoughHistory { hours } => format!("not enough history ({hours} h)"),
            Decision::NotPatched { why } => format!("not patched: {why}"),
            d => d.kind().to_owned(),
        };
        println!(
            "{:<44} {:>15} {:>17} {:>5.2} {:>10}  {decision}",
            truncate(&name, 44),
            pair(&f.cpu),
            pair(&f.memory),
            f.confidence,
            month
        );
    }
    if !all && shown.len() < report.findings.len() {
        println!(
            "({} more not changed; --all lists them)",
            report.findings.len() - shown.len()
        );
    }
    if let Some(f) = shown.first() {
        println!("\nWhy, for the first one:");
        println!("  {}", describe(&f.cpu));
        println!("  {}", describe(&f.memory));
    }
    println!("\nPlan: {} PatchResources step(s)", report.plan.steps.len());
    match report.usd_per_hour_saved() {
        Some(s) => println!(
            "Requests freed are worth {}/h ({}/month) at the cluster's node prices; \
             the bill falls when consolidation removes the nodes they free.",
            dollars(s.usd(), 2),
            dollars(s.usd_per_month(), 0)
        ),
        None => println!("Savings cannot be told: no node is priced."),
    }
}

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_owned()
    } else {
        let mut out: String = s.chars().take(n - 1).collect();
        out.push('…');
        out
    }
}

#[cfg(not(feature = "kube"))]
fn live(_: &Args, _: &Catalog, _: UsageHistograms) -> Result<(), Box<dyn std::error::Error>> {
    Err("a live cluster needs the Kubernetes adapter: add --features kube".into())
}

#[cfg(feature = "kube")]
fn live(
    args: &Args,
    catalog: &Catalog,
    mut usage: UsageHistograms,
) -> Result<(), Box<dyn std::error::Error>> {
    use cloudoptim::k8s::{
        ClientSettings, KubeClient, KubeExecutor, Mode, ObserveOptions, PrometheusSource,
    };
    use cloudoptim::prometheus::UsageMetric;

    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async {
        let client = KubeClient::from_kubeconfig(
            args.kubeconfig.as_deref(),
            args.context.as_deref(),
            ClientSettings::from_env()?,
        )
        .await?;
        let observed = client.observe(&ObserveOptions::default()).await?;
        let snapshot = &observed.snapshot;
        let now = jiff::Timestamp::now();
        if let Some(url) = &args.prometheus {
            let source = PrometheusSource::direct(url, None, ClientSettings::from_env()?)?;
            let start = now
                .checked_sub(jiff::SignedDuration::from_hours(24 * i64::from(args.days)))?;
            for metric in [UsageMetric::CpuCores, UsageMetric::MemoryWorkingSetBytes] {
                let series = source.container_usage(metric, start, now, 60).await?;
                let ingest = usage.ingest_container_series(&series, snapshot);
                println!(
                    "{metric:?}: {} series, {} samples from {url} ({} skipped, {} of pods no longer running)",
                    ingest.series,
                    ingest.cpu_samples + ingest.memory_samples,
                    ingest.skipped,
                    ingest.pods_not_in_snapshot
                );
            }
        }
        // metrics.k8s.io: one reading per run; with --checkpoint, runs every
        // minute (cron) build the history with nothing but metrics-server.
        match &observed.metrics {
            cloudoptim::k8s::Metrics::Served(sample) => {
                let added = usage.add_readings(sample.readings(now), snapshot);
                println!(
                    "metrics.k8s.io: {} container reading(s) added to the histograms",
                    added.series
                );
            }
            cloudoptim::k8s::Metrics::Unavailable { reason } => {
                println!("metrics.k8s.io: {reason}");
            }
        }
        if usage.is_empty() {
            println!(
                "Cannot tell: no usage history. Give --prometheus URL (any Prometheus scraping \
                 cAdvisor), or run with --checkpoint FILE every minute to build it from metrics-server."
            );
            return Ok(());
        }
        let env = cloudoptim::environment::NodeEnvironment::of(snapshot);
        let region = env.region_or("us-east-1").to_owned();
        let report = recommend(snapshot, catalog, &region, &usage, &policy(args), now);
        println!("Rightsizing {} at {now}, prices of {region}", client.cluster_url());
        print_report(&report, args.all);
        save_checkpoint(args, &usage)?;
        if report.plan.steps.is_empty() {
            return Ok(());
        }
        let mode = if args.execute { Mode::Execute } else { Mode::DryRun };
        let run = KubeExecutor::new(client, mode).run(&report.plan).await?;
        print!("{run}");
        if let Some(failed) = run.failed {
            return Err(failed.into());
        }
        if !args.execute {
            println!("Dry run (server-side): nothing changed; add --execute to patch.");
        }
        Ok(())
    })
}
