//! The packer's quality report: for pod lists where almost every pod has its
//! own shape (and for openb traces given with `--pods`), the cost of the
//! packing, its certified lower bound, their ratio, which bound won and the
//! time, side by side so a regression shows.
//!
//! ```sh
//! cargo run --release --example packing_quality                       # generated lists, 300–10,000 pods, 3 seeds
//! cargo run --release --example packing_quality -- --sizes 150000 --mixes mixed --seeds 1
//! cargo run --release --example packing_quality -- --pods openb_pod_list_default.csv --jitter 0.6
//! cargo run --release --example packing_quality -- --work 0            # without the local search
//! cargo run --release --example packing_quality -- --sizes 300 --kinds 400   # column generation on more kinds
//! ```
//!
//! Columns: the greedy packing's cost, the final cost (after the
//! configuration LP's packing, when it runs, and the local search), the
//! aggregate LP, per-pod and configuration-LP bounds, the best of them,
//! cost/bound and the time. A cost far above every bound points at the
//! packing; bounds far apart point at the relaxation. When column
//! generation ran, the last column splits the gap: how far the LP is from
//! closed (its restricted master's value over its bound) and how far the
//! packing is above that value (whole nodes and rounding).
//!
//! Every generated list comes from `cloudoptim::demo::shaped_pods`
//! (openb-like base shapes, each request jittered by ±60%); `--pods FILE`
//! adds a trace as it is and, with `--jitter F`, jittered by ±F with each seed.
#![allow(clippy::print_stdout)]

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use cloudoptim::binpack::{ConfigurationLp, LpGuidedPacker, Packer, PackingPolicy, PodRequirement};
use cloudoptim::catalog::Catalog;
use cloudoptim::demo::{jitter, shaped_pods, PodMix};

const USAGE: &str = "usage: packing_quality [--sizes N,N,..] [--mixes cpu,mixed,gpu-heavy] [--seeds K] [--jitter F] [--pods FILE.csv]... [--work FIT_CHECKS] [--kinds MAX]";

struct Args {
    sizes: Vec<usize>,
    mixes: Vec<PodMix>,
    seeds: u64,
    jitter: f64,
    pods: Vec<PathBuf>,
    work: usize,
    kinds: usize,
}

fn parse_args() -> Result<Args, lexopt::Error> {
    use lexopt::prelude::*;
    let mut args = Args {
        sizes: vec![300, 3_000, 10_000],
        mixes: PodMix::ALL.to_vec(),
        seeds: 3,
        jitter: 0.6,
        pods: Vec::new(),
        work: LpGuidedPacker::default().local_search_work,
        kinds: LpGuidedPacker::default().column_generation_max_kinds,
    };
    let mut jitter_given = false;
    let mut parser = lexopt::Parser::from_env();
    while let Some(arg) = parser.next()? {
        match arg {
            Long("sizes") => {
                args.sizes = parser
                    .value()?
                    .string()?
                    .split(',')
                    .map(|s| s.trim().parse::<usize>())
                    .collect::<Result<_, _>>()
                    .map_err(|e| lexopt::Error::Custom(format!("--sizes: {e}").into()))?
            }
            Long("mixes") => {
                args.mixes = parser
                    .value()?
                    .string()?
                    .split(',')
                    .map(|s| {
                        PodMix::ALL
                            .into_iter()
                            .find(|m| m.name() == s.trim())
                            .ok_or_else(|| {
                                lexopt::Error::Custom(
                                    format!("--mixes: {s:?} is not cpu, mixed or gpu-heavy").into(),
                                )
                            })
                    })
                    .collect::<Result<_, _>>()?
            }
            Long("seeds") => args.seeds = parser.value()?.parse()?,
            Long("jitter") => {
                args.jitter = parser.value()?.parse()?;
                jitter_given = true;
            }
            Long("pods") => args.pods.push(parser.value()?.into()),
            Long("work") => args.work = parser.value()?.parse()?,
            Long("kinds") => args.kinds = parser.value()?.parse()?,
            Long("help") | Short('h') => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            _ => return Err(arg.unexpected()),
        }
    }
    if !args.pods.is_empty() && !jitter_given {
        args.jitter = 0.0;
    }
    Ok(args)
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &Args) -> Result<(), Box<dyn std::error::Error>> {
    let catalog = Catalog::embedded()?;
    let policy = PackingPolicy::default();
    let packer = LpGuidedPacker {
        local_search_work: args.work,
        column_generation_max_kinds: args.kinds,
        ..LpGuidedPacker::default()
    };
    let mut lists: Vec<(String, Vec<PodRequirement>)> = Vec::new();
    for path in &args.pods {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let pods = cloudoptim::binpack::read_openb_pods(&text)
            .map_err(|e| format!("{}: {e}", path.display()))?;
        let name = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        if args.jitter > 0.0 {
            for seed in 1..=args.seeds {
                lists.push((
                    format!("{name} ±{:.0}% seed {seed}", args.jitter * 100.0),
                    jitter(&pods, args.jitter, seed),
                ));
            }
        } else {
            lists.push((name, pods));
        }
    }
    if args.pods.is_empty() {
        for &mix in &args.mixes {
            for &size in &args.sizes {
                for seed in 1..=args.seeds {
                    lists.push((
                        format!(
                            "{} {size} ±{:.0}% seed {seed}",
                            mix.name(),
                            args.jitter * 100.0
                        ),
                        shaped_pods(mix, size, args.jitter, seed),
                    ));
                }
            }
        }
    }
    println!(
        "{:<34} {:>6} {:>6} {:>10} {:>10} {:>10} {:>10} {:>10} {:>10} {:>7} {:>7}  lp gap, packing over lp",
        "pod list",
        "pods",
        "kinds",
        "greedy",
        "cost",
        "lp bound",
        "per-pod",
        "config-lp",
        "bound",
        "ratio",
        "time",
    );
    let mut worst: f64 = 1.0;
    for (name, pods) in &lists {
        let started = Instant::now();
        let packing = packer.pack(pods, catalog, &policy)?;
        let seconds = started.elapsed().as_secs_f64();
        let mut kinds: Vec<_> = pods.iter().map(|p| p.requests).collect();
        kinds.sort_by_key(|r| (r.cpu_millis, r.memory_bytes, r.gpu_millis));
        kinds.dedup();
        worst = worst.max(packing.ratio());
        let report = &packing.report;
        let (configuration, gaps) = match report.configuration_lp {
            ConfigurationLp::Solved {
                bound_usd_per_hour,
                master_usd_per_hour,
                ..
            } => (
                format!("{:.2}", bound_usd_per_hour.usd()),
                // LP left open, then the packing above the LP's value.
                format!(
                    "{:.1}% {:.1}%",
                    (master_usd_per_hour.usd() / bound_usd_per_hour.usd().max(1e-9) - 1.0) * 100.0,
                    (packing.usd_per_hour.usd() / master_usd_per_hour.usd().max(1e-9) - 1.0)
                        * 100.0
                ),
            ),
            ConfigurationLp::TooManyKinds { .. } => ("too many".into(), "-".into()),
            ConfigurationLp::NotSolved => ("failed".into(), "-".into()),
            ConfigurationLp::Off => ("off".into(), "-".into()),
        };
        println!(
            "{:<34} {:>6} {:>6} {:>10.2} {:>10.2} {:>10.2} {:>10.2} {:>10} {:>10.2} {:>7.4} {:>6.2}s  {}",
            name,
            pods.len(),
            kinds.len(),
            report.greedy_usd_per_hour.usd(),
            packing.usd_per_hour.usd(),
            report.lp_bound_usd_per_hour.usd(),
            report.per_pod_bound_usd_per_hour.usd(),
            configuration,
            packing.lower_bound.usd_per_hour.usd(),
            packing.ratio(),
            seconds,
            gaps
        );
    }
    println!("worst cost/bound: {worst:.4}");
    Ok(())
}
