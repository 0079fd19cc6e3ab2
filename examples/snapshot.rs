//! Write a cluster's snapshot as `kubectl get … -o json`-style JSON, for
//! offline analysis (`tour --snapshot`, `binpack --snapshot`).
//!
//! ```text
//! cargo run --release --example snapshot                          # the embedded demo cluster
//! cargo run --release --features kube --example snapshot -- --kubeconfig ~/.kube/config [--context NAME]
//! KUBECONFIG=~/.kube/config cargo run --release --features kube --example snapshot
//! ```
//!
//! Options: `--out FILE` (default `cluster-snapshot.json`, `-` for stdout),
//! `--page-size N` (objects per list page, default 500). The live cluster is
//! read as the identity in the kubeconfig; `deploy/rbac.yaml` lists what
//! that identity needs.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::path::PathBuf;
use std::process::ExitCode;

use cloudoptim::catalog::Catalog;
use cloudoptim::demo::{DemoConfig, DemoEnvironment};
use cloudoptim::kubectl;
use cloudoptim::ClusterSnapshot;

const USAGE: &str =
    "usage: snapshot [--kubeconfig FILE] [--context NAME] [--out FILE|-] [--page-size N]";

struct Args {
    kubeconfig: Option<PathBuf>,
    context: Option<String>,
    out: String,
    page_size: u32,
}

fn parse_args() -> Result<Args, lexopt::Error> {
    use lexopt::prelude::*;
    let mut args = Args {
        kubeconfig: None,
        context: None,
        out: "cluster-snapshot.json".into(),
        page_size: 500,
    };
    let mut parser = lexopt::Parser::from_env();
    while let Some(arg) = parser.next()? {
        match arg {
            Long("kubeconfig") => args.kubeconfig = Some(parser.value()?.into()),
            Long("context") => args.context = Some(parser.value()?.string()?),
            Long("out") => args.out = parser.value()?.string()?,
            Long("page-size") => args.page_size = parser.value()?.parse()?,
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
            eprintln!("snapshot: {e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("snapshot: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    let live = args.kubeconfig.is_some() || std::env::var_os("KUBECONFIG").is_some();
    let (snapshot, source) = if live {
        live_snapshot(&args)?
    } else {
        let demo = DemoEnvironment::generate(&DemoConfig::default(), Catalog::embedded()?)?;
        (demo.snapshot, "the embedded demo cluster".to_owned())
    };
    let json = kubectl::write_list(&snapshot)?;
    if args.out == "-" {
        println!("{json}");
        return Ok(());
    }
    std::fs::write(&args.out, &json).map_err(|e| format!("cannot write {}: {e}", args.out))?;
    println!(
        "Wrote {source} to {} ({} KiB): {} nodes, {} pods, {} workloads, {} PDBs, {} PVs, {} PVCs.",
        args.out,
        json.len() / 1024,
        snapshot.nodes.len(),
        snapshot.pods.len(),
        snapshot.workloads.len(),
        snapshot.pdbs.len(),
        snapshot.persistent_volumes.len(),
        snapshot.persistent_volume_claims.len(),
    );
    println!(
        "Analyze it offline: cargo run --release --example tour -- --snapshot {}",
        args.out
    );
    Ok(())
}

#[cfg(not(feature = "kube"))]
fn live_snapshot(_: &Args) -> Result<(ClusterSnapshot, String), Box<dyn std::error::Error>> {
    Err("reading a live cluster needs the Kubernetes adapter: add --features kube".into())
}

#[cfg(feature = "kube")]
fn live_snapshot(args: &Args) -> Result<(ClusterSnapshot, String), Box<dyn std::error::Error>> {
    use cloudoptim::k8s::{ClientSettings, KubeClient, Metrics, ObserveOptions};
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async {
        let client = KubeClient::from_kubeconfig(
            args.kubeconfig.as_deref(),
            args.context.as_deref(),
            ClientSettings::from_env()?,
        )
        .await?;
        let started = std::time::Instant::now();
        let observed = client
            .observe(&ObserveOptions {
                page_size: args.page_size,
                metrics: true,
            })
            .await?;
        let metrics = match &observed.metrics {
            Metrics::Served(sample) => format!(
                "metrics for {} nodes and {} containers",
                sample.nodes.len(),
                sample.containers.len()
            ),
            Metrics::Unavailable { reason } => format!("no metrics: {reason}"),
        };
        println!(
            "Read {} in {} list pages, {:.1} s; {metrics}.",
            client.cluster_url(),
            observed.pages,
            started.elapsed().as_secs_f64()
        );
        Ok((
            observed.snapshot,
            format!("cluster {}", client.cluster_url()),
        ))
    })
}
