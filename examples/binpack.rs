//! Bin packing: the cheapest set of nodes for a list of pods, and how close
//! to optimal it is.
//!
//! ```text
//! cargo run --release --example binpack -- --pods FILE.csv [--region us-east-1] [--capacity on-demand|spot]
//! cargo run --release --example binpack                    # the demo cluster's pods, readable
//! cargo run --release --example binpack -- --snapshot FILE.json [--rightsize-nodes]
//! cargo run --release --example binpack -- --until-steady [--snapshot FILE.json]   # plan after plan until none saves
//! cargo run --release --example binpack -- --until-steady --underutilized 300 [--seed K]   # a generated cluster 30–50% full
//! ```
//!
//! On the demo (and with `--rightsize-nodes` on a snapshot) it also prints
//! node rightsizing: per node, its type and $/h against the cheapest type
//! that holds its pods with 10% headroom, and the replacement plan.
//!
//! `--pods` reads the Alibaba openb pod-list format
//! (`name,cpu_milli,memory_mib,num_gpu,gpu_milli,...`; pods needing GPUs go
//! only to GPU instance types) and prints one JSON line:
//! `{"pods":N,"placed":N,"nodes":N,"usd_per_hour":X,"lower_bound_usd_per_hour":Y,"ratio":R,"plan_ms":T}`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use cloudoptim::binpack::{LpGuidedPacker, Packer, Packing, PackingPolicy, PodRequirement};
use cloudoptim::catalog::Catalog;
use cloudoptim::consolidation::{ConsolidationPolicy, PdbRule};
use cloudoptim::demo::{DemoConfig, DemoEnvironment};
use cloudoptim::environment::NodeEnvironment;
use cloudoptim::money::dollars;
use cloudoptim::snapshot::CapacityType;
use cloudoptim::summary::ClusterSummary;

const USAGE: &str =
    "usage: binpack [--pods FILE.csv | --synthetic N | --snapshot FILE.json [--rightsize-nodes] | --underutilized NODES [--seed K]] [--until-steady [--pdb whole-node|one-at-a-time] [--move-local-storage]] [--region REGION] [--capacity on-demand|spot]";

struct Args {
    pods: Option<PathBuf>,
    synthetic: Option<usize>,
    snapshot: Option<PathBuf>,
    region: String,
    capacity: CapacityType,
    rightsize_nodes: bool,
    until_steady: bool,
    underutilized: Option<usize>,
    seed: u64,
    pdb_rule: PdbRule,
    move_local_storage: bool,
}

fn parse_args() -> Result<Args, lexopt::Error> {
    use lexopt::prelude::*;
    let mut args = Args {
        pods: None,
        synthetic: None,
        snapshot: None,
        region: "us-east-1".into(),
        capacity: CapacityType::OnDemand,
        rightsize_nodes: false,
        until_steady: false,
        underutilized: None,
        seed: 1,
        pdb_rule: PdbRule::default(),
        move_local_storage: false,
    };
    let mut parser = lexopt::Parser::from_env();
    while let Some(arg) = parser.next()? {
        match arg {
            Long("pods") => args.pods = Some(parser.value()?.into()),
            Long("snapshot") => args.snapshot = Some(parser.value()?.into()),
            Long("synthetic") => args.synthetic = Some(parser.value()?.parse()?),
            Long("rightsize-nodes") => args.rightsize_nodes = true,
            Long("until-steady") => args.until_steady = true,
            Long("underutilized") => args.underutilized = Some(parser.value()?.parse()?),
            Long("seed") => args.seed = parser.value()?.parse()?,
            Long("pdb") => {
                args.pdb_rule = match parser.value()?.string()?.as_str() {
                    "whole-node" => PdbRule::WholeNode,
                    "one-at-a-time" => PdbRule::OneAtATime,
                    other => {
                        return Err(lexopt::Error::Custom(
                            format!("--pdb must be whole-node or one-at-a-time, not {other:?}")
                                .into(),
                        ))
                    }
                }
            }
            Long("move-local-storage") => args.move_local_storage = true,
            Long("region") => args.region = parser.value()?.string()?,
            Long("capacity") => {
                args.capacity = match parser.value()?.string()?.as_str() {
                    "on-demand" => CapacityType::OnDemand,
                    "spot" => CapacityType::Spot,
                    other => {
                        return Err(lexopt::Error::Custom(
                            format!("--capacity must be on-demand or spot, not {other:?}").into(),
                        ))
                    }
                }
            }
            Long("help") | Short('h') => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            _ => return Err(arg.unexpected()),
        }
    }
    if args.underutilized.is_some()
        && (args.snapshot.is_some() || args.pods.is_some() || args.synthetic.is_some())
    {
        return Err(lexopt::Error::Custom(
            "--underutilized generates the cluster; it cannot be combined with --snapshot, --pods or --synthetic".into(),
        ));
    }
    if args.underutilized.is_some() && !args.until_steady {
        return Err(lexopt::Error::Custom(
            "--underutilized is consolidated until steady: add --until-steady".into(),
        ));
    }
    if args.snapshot.is_some() && (args.pods.is_some() || args.synthetic.is_some()) {
        return Err(lexopt::Error::Custom(
            "--snapshot consolidates a running cluster; it cannot be combined with --pods or --synthetic".into(),
        ));
    }
    Ok(args)
}

fn main() -> ExitCode {
    support::exit_quietly_on_broken_pipe();
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("binpack: {e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("binpack: {e}");
            ExitCode::FAILURE
        }
    }
}

fn read_pods(path: &PathBuf) -> Result<Vec<PodRequirement>, Box<dyn std::error::Error>> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    Ok(cloudoptim::binpack::read_openb_pods(&text)
        .map_err(|e| format!("{}: {e}", path.display()))?)
}

fn run(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    let catalog = Catalog::embedded()?;
    let policy = PackingPolicy {
        region: args.region.clone(),
        capacity_type: args.capacity,
        ..PackingPolicy::default()
    };
    if let Ok(spec) = std::env::var("BINPACK_CLUSTER") {
        // Scale check: BINPACK_CLUSTER=NODES,PODS consolidates a synthetic
        // cluster (with --until-steady, until steady).
        let (n, p) = spec.split_once(',').ok_or("BINPACK_CLUSTER=NODES,PODS")?;
        let snapshot = cloudoptim::demo::synthetic_cluster(n.parse()?, p.parse()?, 7, catalog);
        if args.until_steady {
            return steady(
                &snapshot,
                None,
                catalog,
                &steady_policy(&args, &args.region),
            );
        }
        let started = Instant::now();
        let (plan, simulation) = consolidate(&snapshot, None, catalog, &args.region);
        println!(
            "{} nodes, {} pods consolidated in {:.0} ms (plan {:.0} ms, simulation {:.0} ms), peak RSS {:?} MiB",
            snapshot.nodes.len(),
            snapshot.pods.len(),
            started.elapsed().as_secs_f64() * 1000.0,
            plan.as_secs_f64() * 1000.0,
            simulation.as_secs_f64() * 1000.0,
            peak_rss_mib()
        );
        return Ok(());
    }
    if let Some(n) = args.underutilized {
        let snapshot = cloudoptim::demo::underutilized_cluster(n, args.seed, catalog);
        return steady(
            &snapshot,
            None,
            catalog,
            &steady_policy(&args, &args.region),
        );
    }
    if args.until_steady && args.pods.is_none() && args.synthetic.is_none() {
        return match &args.snapshot {
            Some(path) => {
                let snapshot = support::read_kubectl_file(path)?.snapshot;
                let region = NodeEnvironment::of(&snapshot)
                    .region_or(&args.region)
                    .to_owned();
                steady(&snapshot, None, catalog, &steady_policy(&args, &region))
            }
            None => {
                let demo = DemoEnvironment::generate(&DemoConfig::default(), catalog)?;
                steady(
                    &demo.snapshot,
                    Some(&demo.aws),
                    catalog,
                    &steady_policy(&args, &args.region),
                )
            }
        };
    }
    if let Some(path) = &args.snapshot {
        let snapshot = support::read_kubectl_file(path)?.snapshot;
        let env = NodeEnvironment::of(&snapshot);
        consolidate(&snapshot, None, catalog, env.region_or(&args.region));
        if args.rightsize_nodes {
            rightsize_nodes(&snapshot, None, catalog, env.region_or(&args.region));
        }
        return Ok(());
    }
    let env = |name: &str| std::env::var(name).ok().and_then(|v| v.parse().ok());
    let defaults = LpGuidedPacker::default();
    // Tuning knobs, for experiments: BINPACK_TYPES, BINPACK_SCAN, BINPACK_STEPS,
    // BINPACK_CG_ROUNDS, BINPACK_CG_COLUMNS, BINPACK_CG_WORK, BINPACK_CG_KINDS.
    let packer = LpGuidedPacker {
        types_per_node: env("BINPACK_TYPES").unwrap_or(defaults.types_per_node),
        scan_per_node: env("BINPACK_SCAN").unwrap_or(defaults.scan_per_node),
        bound_steps: env("BINPACK_STEPS").unwrap_or(defaults.bound_steps),
        column_generation_rounds: env("BINPACK_CG_ROUNDS")
            .unwrap_or(defaults.column_generation_rounds),
        columns_per_round: env("BINPACK_CG_COLUMNS").unwrap_or(defaults.columns_per_round),
        column_generation_work: env("BINPACK_CG_WORK").unwrap_or(defaults.column_generation_work),
        column_generation_max_kinds: env("BINPACK_CG_KINDS")
            .unwrap_or(defaults.column_generation_max_kinds),
        ..defaults
    };
    let pods = match (&args.pods, args.synthetic) {
        (Some(path), _) => Some(read_pods(path)?),
        (None, Some(n)) => Some(cloudoptim::demo::synthetic_pods(n, 42)),
        (None, None) => None,
    };
    match pods {
        Some(pods) => {
            let started = Instant::now();
            let packing = packer.pack(&pods, catalog, &policy)?;
            let plan_ms = started.elapsed().as_secs_f64() * 1000.0;
            if std::env::var_os("BINPACK_DEBUG").is_some() {
                report(&packing, &pods, plan_ms);
            }
            println!(
                "{}",
                serde_json::json!({
                    "pods": pods.len(),
                    "placed": packing.placed_pods(),
                    "nodes": packing.nodes.len(),
                    "usd_per_hour": round4(packing.usd_per_hour.usd()),
                    "lower_bound_usd_per_hour": round4(packing.lower_bound.usd_per_hour.usd()),
                    "ratio": round4(packing.ratio()),
                    "plan_ms": (plan_ms * 10.0).round() / 10.0,
                    "pods_per_second": (pods.len() as f64 / (plan_ms / 1000.0)).round(),
                    "peak_rss_mib": peak_rss_mib(),
                    "report": packing.report,
                })
            );
        }
        None => demo(&packer, catalog, &policy)?,
    }
    Ok(())
}

/// Peak resident memory of this process, from /proc (Linux), in MiB.
fn peak_rss_mib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024)
}

/// The default consolidation policy in `region`, with the rules the
/// command line changes.
fn steady_policy(args: &Args, region: &str) -> ConsolidationPolicy {
    ConsolidationPolicy {
        region: region.to_owned(),
        pdb_rule: args.pdb_rule,
        allow_local_storage_eviction: args.move_local_storage,
        ..ConsolidationPolicy::default()
    }
}

/// Consolidation plan after plan, each applied in the simulator, until
/// none saves the threshold: every round and the cost the cluster settles at.
fn steady(
    snapshot: &cloudoptim::ClusterSnapshot,
    account: Option<&cloudoptim::inventory::AwsInventory>,
    catalog: &Catalog,
    policy: &ConsolidationPolicy,
) -> Result<(), Box<dyn std::error::Error>> {
    use cloudoptim::consolidation::until_steady;
    if let Some(why) = snapshot.why_pods_unknown() {
        return Err(format!("cannot tell: {why}").into());
    }
    let region = policy.region.as_str();
    let started = Instant::now();
    let s = until_steady(
        snapshot,
        account,
        catalog,
        &LpGuidedPacker::for_consolidation(),
        policy,
        snapshot
            .newest_timestamp()
            .unwrap_or(jiff::Timestamp::UNIX_EPOCH),
        1_000,
    )?;
    let ms = started.elapsed().as_secs_f64() * 1000.0;
    let before = ClusterSummary::new(snapshot, catalog, region);
    let after = ClusterSummary::new(&s.snapshot, catalog, region);
    println!(
        "Consolidation until steady ({} nodes or {}% per plan, PDBs {}, local storage {}, each plan applied in the simulator):",
        policy.max_disrupted_nodes,
        policy.max_disrupted_percent,
        match policy.pdb_rule {
            PdbRule::WholeNode => "whole node",
            PdbRule::OneAtATime => "one at a time",
        },
        if policy.allow_local_storage_eviction { "moves" } else { "stays" }
    );
    // With no node priced, a total would be a confident $0: say so instead.
    let cost = |s: &ClusterSummary| {
        if s.nodes > 0 && s.unpriced_nodes.len() == s.nodes {
            "cannot tell what it costs".to_owned()
        } else {
            format!("{}/h", dollars(s.usd_per_hour.usd(), 2))
        }
    };
    println!("  today:  {} nodes, {}", before.nodes, cost(&before));
    for (i, r) in s.rounds.iter().enumerate() {
        println!(
            "  round {:>2}: {:>3} steps, {:>2} node(s) removed, {:>2} launched, saves {}/h",
            i + 1,
            r.steps,
            r.removed_nodes,
            r.launched_nodes,
            dollars(r.saved_usd_per_hour.usd(), 2)
        );
    }
    println!(
        "  steady: {} nodes, {}: saves {}/h in {} round(s), {ms:.0} ms",
        after.nodes,
        cost(&after),
        dollars(s.saved_usd_per_hour().usd(), 2),
        s.rounds.len()
    );
    if let Some(why) = &s.stopped {
        println!("  not converged: {why}");
    }
    let mut reasons: std::collections::BTreeMap<&str, (usize, String)> = Default::default();
    for (_, why) in &s.last_plan.blocked {
        let e = reasons.entry(why.kind()).or_insert((0, why.to_string()));
        e.0 += 1;
    }
    let mut reasons: Vec<_> = reasons.into_iter().collect();
    reasons.sort_by(|a, b| b.1 .0.cmp(&a.1 .0).then(a.0.cmp(b.0)));
    match &s.bound {
        Some(b) if b.usd_per_hour > cloudoptim::UsdPerHour::ZERO => println!(
            "  bound:  {}/h for any cluster keeping the {} node(s) that must stay ({}/h) and placing the {} pod(s) that may move (≥ {}/h); steady is {:.1}% above it",
            dollars(b.usd_per_hour.usd(), 2),
            b.staying_nodes,
            dollars(b.staying_usd_per_hour.usd(), 2),
            b.movable_pods,
            dollars(b.movable_usd_per_hour.usd(), 2),
            (after.usd_per_hour.usd() / b.usd_per_hour.usd() - 1.0) * 100.0
        ),
        Some(_) => println!("  bound:  $0/h (nothing must stay and nothing needs to move)"),
        None => println!(
            "  bound:  cannot tell (no node or instance type priced in the region, or the pods are unknown)"
        ),
    }
    if !reasons.is_empty() {
        println!("  why the other nodes stay (last plan):");
    }
    for (kind, (n, example)) in reasons {
        println!("    {n:>3} node(s): {kind} (e.g. {example})");
    }
    if !before.unpriced_nodes.is_empty() {
        println!(
            "  ({} node(s) cannot be priced and are not in these figures)",
            before.unpriced_nodes.len()
        );
    }
    Ok(())
}

fn round4(x: f64) -> f64 {
    (x * 10_000.0).round() / 10_000.0
}

fn demo(
    packer: &LpGuidedPacker,
    catalog: &Catalog,
    policy: &PackingPolicy,
) -> Result<(), Box<dyn std::error::Error>> {
    let demo = DemoEnvironment::generate(&DemoConfig::default(), catalog)?;
    let snapshot = &demo.snapshot;
    let pods: Vec<PodRequirement> = snapshot
        .pods
        .iter()
        .filter(|p| !p.is_daemonset_pod() && !p.phase.is_terminal())
        .map(PodRequirement::from_pod)
        .collect();
    // New nodes like the demo's: its zones, architectures and DaemonSets.
    let policy = NodeEnvironment::of(snapshot).packing_policy(policy.clone());
    let started = Instant::now();
    let packing = packer.pack(&pods, catalog, &policy)?;
    let ms = started.elapsed().as_secs_f64() * 1000.0;
    let current = ClusterSummary::new(snapshot, catalog, &policy.region);
    println!(
        "Bin packing of the demo cluster {} ({} pods, DaemonSets excluded)",
        demo.config.cluster_name,
        pods.len()
    );
    println!(
        "  today:     {} nodes, {}/h ({}/month)",
        current.nodes,
        dollars(current.usd_per_hour.usd(), 2),
        dollars(current.usd_per_hour.usd_per_month(), 0)
    );
    report(&packing, &pods, ms);
    println!("  (the cost of placing the same pods on new nodes from scratch)\n");
    consolidate(snapshot, Some(&demo.aws), catalog, &policy.region);
    println!();
    rightsize_nodes(snapshot, Some(&demo.aws), catalog, &policy.region);
    Ok(())
}

/// Print node rightsizing: per node, current against recommended type and
/// $/h, and what the plan replaces.
fn rightsize_nodes(
    snapshot: &cloudoptim::ClusterSnapshot,
    account: Option<&cloudoptim::inventory::AwsInventory>,
    catalog: &Catalog,
    region: &str,
) {
    use cloudoptim::consolidation::{Blocked, ConsolidationPolicy};
    use cloudoptim::node_rightsizing::node_rightsizing;
    let policy = ConsolidationPolicy {
        region: region.to_owned(),
        ..ConsolidationPolicy::default()
    };
    let now = snapshot
        .newest_timestamp()
        .unwrap_or(jiff::Timestamp::UNIX_EPOCH);
    let started = Instant::now();
    let r = node_rightsizing(snapshot, account, catalog, &policy, now);
    let ms = started.elapsed().as_secs_f64() * 1000.0;
    let with: Vec<_> = r.nodes.iter().filter(|n| n.replacement.is_some()).collect();
    println!(
        "Node rightsizing (the cheapest type of the node's architecture that holds its pods with {}% headroom; planned in {ms:.1} ms):",
        policy.replacement.headroom_percent
    );
    let possible = match r.possible_saved_usd_per_hour() {
        Some(saved) => format!(
            "saving {}/h ({}/month) in all",
            dollars(saved.usd(), 2),
            dollars(saved.usd_per_month(), 0)
        ),
        None => "saving: cannot tell (no node has a known price)".to_owned(),
    };
    let unpriced = match r.unpriced_nodes() {
        0 => String::new(),
        n => format!(" ({n} unpriced node(s) not counted)"),
    };
    println!(
        "  {} of {} node(s) could be replaced for less, {possible}{unpriced}; this plan replaces {} (budget {} nodes or {}%), saving {}/h",
        with.len(),
        r.nodes.len(),
        r.plan.replacements.len(),
        policy.max_disrupted_nodes,
        policy.max_disrupted_percent,
        dollars(r.plan.savings.net_saved_usd_per_hour.usd(), 2),
    );
    for n in &with {
        let (Some(to), Some(from_usd), Some(saved)) =
            (&n.replacement, n.usd_per_hour, n.saved_usd_per_hour())
        else {
            continue;
        };
        let status = match &n.why_not {
            None => "planned".to_owned(),
            Some(why @ Blocked::NodeGroupType { .. }) => format!("not planned: {why}"),
            Some(why) => format!("not now: {why}"),
        };
        println!(
            "    {:<28} {:<14} {:>8}/h -> {:<14} {:>8}/h  saves {:>7}/h  {status}",
            n.node,
            n.instance_type.as_deref().unwrap_or("?"),
            dollars(from_usd.usd(), 3),
            to.instance_type,
            dollars(to.usd_per_hour.usd(), 3),
            dollars(saved.usd(), 3),
        );
    }
    let mut reasons: BTreeMap<&str, (usize, String)> = BTreeMap::new();
    for n in r.nodes.iter().filter(|n| n.replacement.is_none()) {
        if let Some(why) = &n.why_not {
            let entry = reasons
                .entry(why.kind())
                .or_insert_with(|| (0, format!("{}: {why}", n.node)));
            entry.0 += 1;
        }
    }
    println!("  no replacement:");
    for (kind, (n, example)) in reasons {
        println!("    {n:>3} × {kind:<16} e.g. {example}");
    }
}

/// Print the consolidation plan for a running cluster; returns how long
/// planning and simulating the plan took.
fn consolidate(
    snapshot: &cloudoptim::ClusterSnapshot,
    account: Option<&cloudoptim::inventory::AwsInventory>,
    catalog: &Catalog,
    region: &str,
) -> (Duration, Duration) {
    use cloudoptim::consolidation::{plan_consolidation, ConsolidationPolicy};
    let budget = std::env::var("BINPACK_BUDGET")
        .ok()
        .and_then(|v| v.parse().ok());
    let policy = ConsolidationPolicy {
        region: region.to_owned(),
        max_disrupted_nodes: budget.unwrap_or(ConsolidationPolicy::default().max_disrupted_nodes),
        max_disrupted_percent: if budget.is_some() { 100 } else { 10 },
        ..ConsolidationPolicy::default()
    };
    // The snapshot's own time: the newest creation timestamp in it.
    let now = snapshot
        .newest_timestamp()
        .unwrap_or(jiff::Timestamp::UNIX_EPOCH);
    let packer = LpGuidedPacker::for_consolidation();
    let started = Instant::now();
    let result = plan_consolidation(snapshot, account, catalog, &packer, &policy, now);
    let planned = started.elapsed();
    println!(
        "Consolidation (removing nodes whose pods fit elsewhere; at most {} nodes or {}% per plan):",
        policy.max_disrupted_nodes, policy.max_disrupted_percent
    );
    println!(
        "  removes {} node(s), saving {}/h ({}/month); {} steps, {} destructive (executors run them in dry-run unless told otherwise)",
        result.removed_nodes.len(),
        dollars(result.savings.net_saved_usd_per_hour.usd(), 2),
        dollars(result.savings.net_saved_usd_per_hour.usd_per_month(), 0),
        result.savings.steps,
        result.savings.destructive_steps
    );
    for step in result
        .plan
        .steps
        .iter()
        .filter(|s| !matches!(s.action, cloudoptim::Action::Evict { .. }))
    {
        println!("    {:<20} {}", step.action.kind(), step.reason);
    }
    let evictions = result
        .plan
        .steps
        .iter()
        .filter(|s| matches!(s.action, cloudoptim::Action::Evict { .. }))
        .count();
    println!("    (+ {evictions} evictions, pods without a PDB first)");
    let mut reasons: BTreeMap<&str, (usize, String)> = BTreeMap::new();
    for (node, why) in &result.blocked {
        let entry = reasons
            .entry(why.kind())
            .or_insert_with(|| (0, format!("{node}: {why}")));
        entry.0 += 1;
    }
    println!("  nodes left alone:");
    for (kind, (n, example)) in reasons {
        println!("    {n:>3} × {kind:<16} e.g. {example}");
    }
    if result.plan.steps.is_empty() {
        return (planned, Duration::ZERO);
    }
    // What the cluster would look like after the plan (the plan simulator).
    let started = Instant::now();
    let simulated = cloudoptim::simulate::simulate(snapshot, account, &result.plan, catalog, now);
    let simulation = started.elapsed();
    match simulated {
        Ok(after) => {
            let before = ClusterSummary::new(snapshot, catalog, region);
            let cost = ClusterSummary::new(&after.snapshot, catalog, region);
            println!(
                "  after the plan: {} nodes, {}/h (from {} nodes, {}/h); {} pod(s) pending, {} lost, {} do-not-disrupt pod(s) moved, {} PDB(s) exceeded",
                cost.nodes,
                dollars(cost.usd_per_hour.usd(), 2),
                before.nodes,
                dollars(before.usd_per_hour.usd(), 2),
                after.pending.len(),
                after.lost.len(),
                after.disrupted_do_not_disrupt.len(),
                after.pdbs_exceeded.len()
            );
            for pod in after.pending.iter().take(5) {
                println!("    pending: {pod}");
            }
        }
        Err(e) => println!("  after the plan: cannot tell ({e})"),
    }
    (planned, simulation)
}

fn report(packing: &Packing, pods: &[PodRequirement], ms: f64) {
    println!(
        "  packed:    {} nodes, {}/h ({}/month), {} of {} pods placed, in {:.1} ms",
        packing.nodes.len(),
        dollars(packing.usd_per_hour.usd(), 2),
        dollars(packing.usd_per_hour.usd_per_month(), 0),
        packing.placed_pods(),
        pods.len(),
        ms
    );
    println!(
        "  bound:     no packing of these pods costs less than {}/h ({}); this one is {:.3}× that",
        dollars(packing.lower_bound.usd_per_hour.usd(), 2),
        packing.lower_bound.method,
        packing.ratio()
    );
    let mut by_type: BTreeMap<(&str, &str), usize> = BTreeMap::new();
    for n in &packing.nodes {
        *by_type
            .entry((n.instance_type.as_str(), n.zone.as_str()))
            .or_default() += 1;
    }
    println!("  nodes by type and zone:");
    for ((t, z), n) in by_type {
        println!("    {n:>4} × {t:<14} {z}");
    }
    if std::env::var_os("BINPACK_DEBUG").is_some() {
        for n in &packing.nodes {
            println!(
                "    {} {} pods={} req=[{}] alloc=[{}] {}",
                n.instance_type,
                n.zone,
                n.pods.len(),
                n.requested,
                n.allocatable,
                dollars(n.usd_per_hour.usd(), 3)
            );
        }
        println!("  prices: {:?}", packing.lower_bound.resource_prices);
    }
    let mut reasons: BTreeMap<String, (usize, &str)> = BTreeMap::new();
    for u in &packing.unplaced {
        let name = pods.get(u.pod).map(|p| p.name.as_str()).unwrap_or("?");
        let entry = reasons.entry(u.reason.to_string()).or_insert((0, name));
        entry.0 += 1;
    }
    for (reason, (count, example)) in reasons {
        println!("  not placed: {count} pod(s), e.g. {example}: {reason}");
    }
}
