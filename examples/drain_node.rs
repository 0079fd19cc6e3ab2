//! Drain one node the way CloudOptim does: cordon it, evict its pods through
//! the Eviction API (PodDisruptionBudgets apply; DaemonSet and mirror pods
//! stay), wait for them to go. Dry-run unless `--execute`.
//!
//! ```text
//! cargo run --release --example drain_node [NODE]            # embedded demo: what a drain would do
//! cargo run --release --features kube --example drain_node -- NODE --kubeconfig ~/.kube/config [--execute] [--timeout-seconds 300]
//! ```
//!
//! Against a live cluster the dry run is a server-side dry run: every
//! eviction is checked by the API server (RBAC, PDBs, admission) and
//! nothing changes. With `--execute` a drain that cannot finish before the
//! timeout stops with the pods that remain; the node stays cordoned, with
//! the annotation `cloudoptim.io/cordoned-by`, and running the command
//! again resumes.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::path::PathBuf;
use std::process::ExitCode;

use cloudoptim::catalog::Catalog;
use cloudoptim::demo::{DemoConfig, DemoEnvironment};
use cloudoptim::ClusterSnapshot;

const USAGE: &str =
    "usage: drain_node [NODE] [--kubeconfig FILE] [--context NAME] [--execute] [--timeout-seconds N]";

struct Args {
    node: Option<String>,
    kubeconfig: Option<PathBuf>,
    context: Option<String>,
    execute: bool,
    timeout_seconds: u64,
}

fn parse_args() -> Result<Args, lexopt::Error> {
    use lexopt::prelude::*;
    let mut args = Args {
        node: None,
        kubeconfig: None,
        context: None,
        execute: false,
        timeout_seconds: 300,
    };
    let mut parser = lexopt::Parser::from_env();
    while let Some(arg) = parser.next()? {
        match arg {
            Value(node) if args.node.is_none() => args.node = Some(node.string()?),
            Long("kubeconfig") => args.kubeconfig = Some(parser.value()?.into()),
            Long("context") => args.context = Some(parser.value()?.string()?),
            Long("execute") => args.execute = true,
            Long("timeout-seconds") => args.timeout_seconds = parser.value()?.parse()?,
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
            eprintln!("drain_node: {e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let live = args.kubeconfig.is_some() || std::env::var_os("KUBECONFIG").is_some();
    let result = if live { live_drain(&args) } else { demo(&args) };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("drain_node: {e}");
            ExitCode::FAILURE
        }
    }
}

/// On the embedded demo: what draining the node would evict, what stays,
/// and which budgets would make the drain wait.
fn demo(args: &Args) -> Result<(), Box<dyn std::error::Error>> {
    let demo = DemoEnvironment::generate(&DemoConfig::default(), Catalog::embedded()?)?;
    let snapshot = &demo.snapshot;
    let node = match &args.node {
        Some(name) => snapshot
            .node(name)
            .ok_or_else(|| format!("no node {name} in the demo cluster"))?,
        None => snapshot
            .nodes
            .iter()
            .max_by_key(|n| snapshot.pods_on(&n.name).count())
            .ok_or("the demo cluster has no nodes")?,
    };
    println!(
        "Draining {} ({}, {}) in the embedded demo cluster — a simulation; give --kubeconfig to drain a real node.",
        node.name,
        node.instance_type.as_deref().unwrap_or("unknown type"),
        node.zone.as_deref().unwrap_or("unknown zone"),
    );
    describe(snapshot, &node.name);
    Ok(())
}

fn describe(snapshot: &ClusterSnapshot, node: &str) {
    let mut evict = Vec::new();
    let mut stay = Vec::new();
    for pod in snapshot.pods_on(node) {
        let key = format!("{}/{}", pod.namespace, pod.name);
        if pod.owner.as_ref().is_some_and(|o| o.kind == "DaemonSet") {
            stay.push(format!("{key} (DaemonSet)"));
            continue;
        }
        let waits: Vec<String> = snapshot
            .pdbs_for(pod)
            .filter(|pdb| pdb.disruptions_allowed == 0)
            .map(|pdb| {
                format!(
                    "waits for PDB {}/{} (0 disruptions allowed now)",
                    pdb.namespace, pdb.name
                )
            })
            .collect();
        evict.push(if waits.is_empty() {
            key
        } else {
            format!("{key}: {}", waits.join("; "))
        });
    }
    println!("\n1. cordon {node} (annotated cloudoptim.io/cordoned-by)");
    println!("2. evict {} pod(s) through the Eviction API:", evict.len());
    for line in &evict {
        println!("     {line}");
    }
    println!("3. wait until they are gone; {} pod(s) stay:", stay.len());
    for line in &stay {
        println!("     {line}");
    }
}

#[cfg(not(feature = "kube"))]
fn live_drain(_: &Args) -> Result<(), Box<dyn std::error::Error>> {
    Err("draining a live node needs the Kubernetes adapter: add --features kube".into())
}

#[cfg(feature = "kube")]
fn live_drain(args: &Args) -> Result<(), Box<dyn std::error::Error>> {
    use cloudoptim::k8s::{ClientSettings, KubeClient, KubeExecutor, Mode};
    use cloudoptim::plan::{Action, Plan, Precondition};
    use cloudoptim::UsdPerHour;

    let node = args.node.clone().ok_or("which node? give its name")?;
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async {
        let client = KubeClient::from_kubeconfig(
            args.kubeconfig.as_deref(),
            args.context.as_deref(),
            ClientSettings::from_env()?,
        )
        .await?;
        let mode = if args.execute {
            Mode::Execute
        } else {
            Mode::DryRun
        };
        let now = jiff::Timestamp::now();
        let deadline = now.checked_add(std::time::Duration::from_secs(args.timeout_seconds))?;
        let mut plan = Plan::new("drain_node", now);
        let reason = "drain requested by an operator";
        plan.push(
            Action::Cordon { node: node.clone() },
            reason,
            vec![Precondition::NodeExists { node: node.clone() }],
            UsdPerHour::ZERO,
        );
        plan.push(
            Action::Drain { node: node.clone() },
            reason,
            vec![Precondition::Before { deadline }],
            UsdPerHour::ZERO,
        );
        println!(
            "{} node {node} on {} (deadline {deadline})",
            if args.execute {
                "Draining"
            } else {
                "Dry run: draining"
            },
            client.cluster_url()
        );
        let started = std::time::Instant::now();
        let run = KubeExecutor::new(client, mode).run(&plan).await?;
        print!("{run}");
        if let Some(failed) = run.failed {
            return Err(failed.into());
        }
        println!(
            "Finished in {:.1} s.{}",
            started.elapsed().as_secs_f64(),
            if args.execute {
                ""
            } else {
                " Nothing changed; add --execute to drain."
            }
        );
        Ok(())
    })
}
