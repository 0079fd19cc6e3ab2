//! OOMKilled remediation: per container killed for memory, the evidence
//! (pod, run, when), the memory request and limit now and after the bump,
//! why, and the plan. Dry-run unless `--execute`.
//!
//! ```text
//! cargo run --release --example oom_remediation                       # the embedded demo
//! cargo run --release --example oom_remediation -- --snapshot FILE    # kubectl get pods,deploy,rs,sts,nodes -A -o json
//! cargo run --release --features kube --example oom_remediation -- --kubeconfig ~/.kube/config [--context NAME] [--execute]
//! ```
//!
//! `--ledger FILE` keeps what was counted and bumped between runs (read if
//! it exists, written after an `--execute` run), so a kill counts once and
//! a workload is bumped at most 3 times an hour. Peaks come from the demo's
//! 7 days of usage, or one `metrics.k8s.io` reading on a live cluster; a
//! snapshot file has none, so the request is the base there.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::path::PathBuf;
use std::process::ExitCode;

use cloudoptim::catalog::Catalog;
use cloudoptim::demo::{DemoConfig, DemoEnvironment};
use cloudoptim::oom::{format_memory, remediate, MemoryPeaks, OomLedger, OomPolicy, OomReport};

const USAGE: &str = "usage: oom_remediation [--snapshot FILE | --kubeconfig FILE [--context NAME]] [--ledger FILE] [--execute] [--max-memory-mib N]";

struct Args {
    snapshot: Option<PathBuf>,
    kubeconfig: Option<PathBuf>,
    context: Option<String>,
    ledger: Option<PathBuf>,
    execute: bool,
    max_memory_mib: Option<u64>,
}

fn parse_args() -> Result<Args, lexopt::Error> {
    use lexopt::prelude::*;
    let mut args = Args {
        snapshot: None,
        kubeconfig: None,
        context: None,
        ledger: None,
        execute: false,
        max_memory_mib: None,
    };
    let mut parser = lexopt::Parser::from_env();
    while let Some(arg) = parser.next()? {
        match arg {
            Long("snapshot") => args.snapshot = Some(parser.value()?.into()),
            Long("kubeconfig") => args.kubeconfig = Some(parser.value()?.into()),
            Long("context") => args.context = Some(parser.value()?.string()?),
            Long("ledger") => args.ledger = Some(parser.value()?.into()),
            Long("execute") => args.execute = true,
            Long("max-memory-mib") => args.max_memory_mib = Some(parser.value()?.parse()?),
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
            eprintln!("oom_remediation: {e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("oom_remediation: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &Args) -> Result<(), Box<dyn std::error::Error>> {
    let catalog = Catalog::embedded()?;
    let ledger = match &args.ledger {
        Some(path) if path.exists() => serde_json::from_str(
            &std::fs::read_to_string(path)
                .map_err(|e| format!("cannot read {}: {e}", path.display()))?,
        )
        .map_err(|e| format!("{}: {e}", path.display()))?,
        _ => OomLedger::new(),
    };
    let policy = OomPolicy {
        max_memory_request_bytes: args.max_memory_mib.map(|m| m << 20),
        ..OomPolicy::default()
    };
    if args.kubeconfig.is_some() {
        return live(args, catalog, &policy, &ledger);
    }
    let (snapshot, peaks, now, source) = match &args.snapshot {
        Some(path) => {
            let import = support::read_kubectl_file(path)?;
            (
                import.snapshot,
                MemoryPeaks::new(),
                jiff::Timestamp::now(),
                path.display().to_string(),
            )
        }
        None => {
            let config = DemoConfig::default();
            let demo = DemoEnvironment::generate(&config, catalog)?;
            let peaks = MemoryPeaks::from_usage(&demo.usage, None);
            (
                demo.snapshot,
                peaks,
                config.now,
                "the embedded demo cluster".to_owned(),
            )
        }
    };
    let report = remediate(&snapshot, catalog, &peaks, &policy, &ledger, now);
    println!(
        "OOM kills in {source} at {now} ({} containers with memory peaks known)",
        peaks.len()
    );
    print_report(&report);
    if args.execute {
        println!("\n--execute needs a live cluster (--kubeconfig): nothing was changed.");
    }
    Ok(())
}

fn print_report(report: &OomReport) {
    if let Some(cap) = &report.node_cap {
        println!("Node cap: {cap}");
    }
    for note in &report.notes {
        println!("Note: {note}");
    }
    if report.findings.is_empty() {
        println!("\nNo container was OOMKilled.");
    }
    for f in &report.findings {
        let owner = f
            .owner
            .as_ref()
            .map_or("bare pod".to_owned(), |o| format!("{} {}", o.kind, o.name));
        println!(
            "\n{}/{} ({owner}), container {}: {}",
            f.namespace,
            f.workload.as_ref().map_or("-", |w| w.name.as_str()),
            f.container,
            f.decision.kind()
        );
        for k in &f.kills {
            println!(
                "  killed: pod {} run {} (restarts {}, exit {}) {}",
                k.pod,
                k.key.restart,
                k.restart_count,
                k.exit_code,
                k.finished_at
                    .map_or("at an unknown time".to_owned(), |t| format!("at {t}"))
            );
        }
        let limit = |l: Option<u64>| l.map_or("none".to_owned(), format_memory);
        println!(
            "  request {} -> {}   limit {} -> {}   (peak {}, base {}, needed {})",
            format_memory(f.current_request_bytes),
            format_memory(f.new_request_bytes),
            limit(f.current_limit_bytes),
            limit(f.new_limit_bytes),
            f.peak_bytes.map_or("unknown".to_owned(), format_memory),
            format_memory(f.base_bytes),
            format_memory(f.needed_bytes),
        );
        println!("  why: {}", f.reason);
    }
    println!("\nPlan ({} step(s)):", report.plan.steps.len());
    for (i, step) in report.plan.steps.iter().enumerate() {
        println!(
            "{}. {}",
            i + 1,
            serde_json::to_string(&step.action).unwrap()
        );
        println!(
            "   only if: {}",
            serde_json::to_string(&step.preconditions).unwrap()
        );
    }
}

#[cfg(not(feature = "kube"))]
fn live(
    _: &Args,
    _: &Catalog,
    _: &OomPolicy,
    _: &OomLedger,
) -> Result<(), Box<dyn std::error::Error>> {
    Err("a live cluster needs the Kubernetes adapter: add --features kube".into())
}

#[cfg(feature = "kube")]
fn live(
    args: &Args,
    catalog: &Catalog,
    policy: &OomPolicy,
    ledger: &OomLedger,
) -> Result<(), Box<dyn std::error::Error>> {
    use cloudoptim::k8s::{
        ClientSettings, KubeClient, KubeExecutor, Metrics, Mode, ObserveOptions,
    };

    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async {
        let client = KubeClient::from_kubeconfig(
            args.kubeconfig.as_deref(),
            args.context.as_deref(),
            ClientSettings::from_env()?,
        )
        .await?;
        let observed = client.observe(&ObserveOptions::default()).await?;
        let mut peaks = MemoryPeaks::new();
        match &observed.metrics {
            Metrics::Served(sample) => {
                for c in &sample.containers {
                    peaks.observe(&c.namespace, &c.pod, &c.container, c.memory_bytes);
                }
            }
            Metrics::Unavailable { reason } => println!("No memory peaks: {reason}"),
        }
        let now = jiff::Timestamp::now();
        let report = remediate(&observed.snapshot, catalog, &peaks, policy, ledger, now);
        println!("OOM kills on {} at {now}", client.cluster_url());
        print_report(&report);
        let mode = if args.execute {
            Mode::Execute
        } else {
            Mode::DryRun
        };
        if report.plan.steps.is_empty() {
            return Ok(());
        }
        let run = KubeExecutor::new(client, mode).run(&report.plan).await?;
        print!("{run}");
        if let Some(failed) = run.failed {
            return Err(failed.into());
        }
        if args.execute {
            if let Some(path) = &args.ledger {
                std::fs::write(path, serde_json::to_string_pretty(&report.ledger)?)
                    .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
            }
        } else {
            println!("Dry run (server-side): nothing changed; add --execute to patch.");
        }
        Ok(())
    })
}
