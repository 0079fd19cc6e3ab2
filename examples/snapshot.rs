//! Write a cluster's snapshot as `kubectl get … -o json`-style JSON, for
//! offline analysis (`tour --snapshot`, `binpack --snapshot`).
//!
//! ```text
//! cargo run --release --example snapshot                          # the embedded demo cluster
//! cargo run --release --features kube --example snapshot -- --kubeconfig ~/.kube/config [--context NAME]
//! KUBECONFIG=~/.kube/config cargo run --release --features kube --example snapshot
//! ```
//!
//! `--synthetic NODES,PODS` writes a generated cluster of that size instead
//! (for scale checks: `tour --snapshot` on 200,000 pods, say).
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
    "usage: snapshot [--kubeconfig FILE [--context NAME] | --synthetic NODES,PODS] [--out FILE|-] [--page-size N] | --check FILE";

struct Args {
    kubeconfig: Option<PathBuf>,
    context: Option<String>,
    out: String,
    page_size: u32,
    synthetic: Option<(usize, usize)>,
    check: Option<PathBuf>,
}

fn parse_args() -> Result<Args, lexopt::Error> {
    use lexopt::prelude::*;
    let mut args = Args {
        kubeconfig: None,
        context: None,
        out: "cluster-snapshot.json".into(),
        page_size: 500,
        synthetic: None,
        check: None,
    };
    let mut parser = lexopt::Parser::from_env();
    while let Some(arg) = parser.next()? {
        match arg {
            Long("kubeconfig") => args.kubeconfig = Some(parser.value()?.into()),
            Long("context") => args.context = Some(parser.value()?.string()?),
            Long("out") => args.out = parser.value()?.string()?,
            Long("page-size") => args.page_size = parser.value()?.parse()?,
            Long("check") => args.check = Some(parser.value()?.into()),
            Long("synthetic") => {
                let spec = parser.value()?.string()?;
                let parsed = spec
                    .split_once(',')
                    .and_then(|(n, p)| Some((n.parse().ok()?, p.parse().ok()?)));
                args.synthetic = Some(parsed.ok_or_else(|| {
                    lexopt::Error::Custom(
                        format!("--synthetic takes NODES,PODS, not {spec:?}").into(),
                    )
                })?);
            }
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
    if let Some(path) = &args.check {
        return check(path);
    }
    let live = args.kubeconfig.is_some() || std::env::var_os("KUBECONFIG").is_some();
    let (snapshot, source) = if let Some((nodes, pods)) = args.synthetic {
        if args.kubeconfig.is_some() {
            return Err(
                "--synthetic writes a generated cluster; it cannot be combined with --kubeconfig"
                    .into(),
            );
        }
        let snapshot = cloudoptim::demo::synthetic_cluster(nodes, pods, 7, Catalog::embedded()?);
        (
            snapshot,
            format!("a synthetic cluster ({nodes} nodes, {pods} pods)"),
        )
    } else if live {
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

/// Read a kubectl file as the tour would, and say what is in it, how long
/// it took and how much memory.
fn check(path: &std::path::Path) -> Result<(), Box<dyn std::error::Error>> {
    let started = std::time::Instant::now();
    let file_bytes = std::fs::metadata(path).map_or(0, |m| m.len());
    let file_mib = file_bytes >> 20;
    let import = support::read_kubectl_file(path)?;
    let elapsed = started.elapsed();
    let s = &import.snapshot;
    println!(
        "{}: {} MiB; {} nodes, {} pods, {} workloads, {} PDBs, {} PVs, {} PVCs; skipped {:?}",
        path.display(),
        file_mib,
        s.nodes.len(),
        s.pods.len(),
        s.workloads.len(),
        s.pdbs.len(),
        s.persistent_volumes.len(),
        s.persistent_volume_claims.len(),
        import.skipped_kinds
    );
    if let Some(why) = s.why_pods_unknown() {
        println!("  note: {why}");
    }
    let missing = s.pods_on_missing_nodes();
    if !missing.is_empty() {
        println!(
            "  note: {} pod(s) on nodes the file does not have",
            missing.len()
        );
    }
    let peak = peak_rss_mib();
    println!(
        "  read in {:.2} s, peak memory {} MiB{} (the file itself: {file_mib} MiB)",
        elapsed.as_secs_f64(),
        peak.map_or("?".into(), |m| m.to_string()),
        match peak {
            Some(peak) if file_bytes > 0 =>
                format!(", {:.2}x the file", (peak << 20) as f64 / file_bytes as f64),
            _ => String::new(),
        },
    );
    Ok(())
}

/// Peak resident memory of this process, from /proc (Linux), in MiB.
fn peak_rss_mib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024)
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
                ..ObserveOptions::default()
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
