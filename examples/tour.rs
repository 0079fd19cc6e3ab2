//! The CloudOptim tour: what a cluster is made of, what it costs, and what
//! each optimization finds in it.
//!
//! ```text
//! cargo run --release --example tour                         # embedded demo cluster, no network
//! cargo run --release --example tour -- --snapshot FILE.json # kubectl get … -A -o json output
//! cargo run --release --example tour -- --export-demo FILE   # write the demo as kubectl JSON
//! cargo run --release --example tour -- --feed FILE.json     # Spot data from a downloaded Spot Advisor feed
//! cargo run --release --example tour -- --prices FILE.csv    # on-demand prices for other regions (region,instance_type,on_demand_usd_per_hour)
//! cargo run --release --features aws --example tour -- --snapshot FILE.json --prices-from-api  # the cluster's regions, from the AWS Price List API
//! cargo run --release --features kube --example tour -- --kubeconfig ~/.kube/config  # a live cluster
//! ```
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;

use cloudoptim::catalog::Catalog;
use cloudoptim::demo::{DemoConfig, DemoEnvironment};
use cloudoptim::environment::NodeEnvironment;
use cloudoptim::inventory::{AwsInventory, InstanceState, VolumeState};
use cloudoptim::kubectl;
use cloudoptim::money::dollars;
use cloudoptim::office_hours::{plan_office_hours, OfficeHoursPolicy, SCHEDULE_ANNOTATION};
use cloudoptim::oom::{format_memory, remediate, MemoryPeaks, OomLedger, OomPolicy};
use cloudoptim::pricing::ResourceRates;
use cloudoptim::snapshot::Namespace;
use cloudoptim::summary::{ClusterSummary, NodeGroupCost};
use cloudoptim::usage::{UsageHistograms, UsageHistory, UsageOptions};
use cloudoptim::{ClusterSnapshot, Dimension, UsdPerHour};

const USAGE: &str =
    "usage: tour [--snapshot FILE.json | --kubeconfig FILE [--context NAME]] [--region REGION] [--seed N] [--export-demo FILE] [--feed FILE] [--prices FILE.csv] [--prices-from-api]";

/// The demo's what-if schedule for its non-production namespaces.
const DEMO_SCHEDULE: &str = "Mon-Fri 08:00-20:00 America/New_York";

#[path = "support/catalog_files.rs"]
mod catalog_files;

struct Args {
    snapshot: Option<PathBuf>,
    kubeconfig: Option<PathBuf>,
    context: Option<String>,
    export_demo: Option<PathBuf>,
    region: String,
    seed: Option<u64>,
    feed: Option<PathBuf>,
    prices: Option<PathBuf>,
    prices_from_api: bool,
}

fn parse_args() -> Result<Args, lexopt::Error> {
    use lexopt::prelude::*;
    let mut args = Args {
        snapshot: None,
        kubeconfig: None,
        context: None,
        export_demo: None,
        region: "us-east-1".into(),
        seed: None,
        feed: None,
        prices: None,
        prices_from_api: false,
    };
    let mut parser = lexopt::Parser::from_env();
    while let Some(arg) = parser.next()? {
        match arg {
            Long("snapshot") => args.snapshot = Some(parser.value()?.into()),
            Long("kubeconfig") => args.kubeconfig = Some(parser.value()?.into()),
            Long("context") => args.context = Some(parser.value()?.string()?),
            Long("export-demo") => args.export_demo = Some(parser.value()?.into()),
            Long("region") => args.region = parser.value()?.string()?,
            Long("seed") => args.seed = Some(parser.value()?.parse()?),
            Long("feed") => args.feed = Some(parser.value()?.into()),
            Long("prices") => args.prices = Some(parser.value()?.into()),
            Long("prices-from-api") => args.prices_from_api = true,
            Long("help") | Short('h') => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            _ => return Err(arg.unexpected()),
        }
    }
    let conflict = |msg: &str| Err(lexopt::Error::Custom(msg.into()));
    if args.snapshot.is_some() && args.kubeconfig.is_some() {
        return conflict("--snapshot and --kubeconfig both name a cluster; give one");
    }
    if args.export_demo.is_some() && (args.snapshot.is_some() || args.kubeconfig.is_some()) {
        return conflict("--export-demo writes the embedded demo cluster; it cannot be combined with --snapshot or --kubeconfig");
    }
    if args.seed.is_some() && (args.snapshot.is_some() || args.kubeconfig.is_some()) {
        return conflict("--seed chooses the demo cluster; it cannot be combined with --snapshot or --kubeconfig");
    }
    if args.prices_from_api && args.export_demo.is_some() {
        return conflict("--prices-from-api prices a cluster; --export-demo only writes the demo");
    }
    if args.context.is_some() && args.kubeconfig.is_none() {
        return conflict("--context needs --kubeconfig");
    }
    Ok(args)
}

fn main() -> ExitCode {
    support::exit_quietly_on_broken_pipe();
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("tour: {e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tour: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    let embedded = Catalog::embedded()?;
    let fed = match &args.feed {
        Some(path) => Some(catalog_files::with_feed(embedded, path)?),
        None => None,
    };
    let priced = match &args.prices {
        Some(path) => Some(catalog_files::with_prices(
            fed.as_ref().unwrap_or(embedded),
            path,
        )?),
        None => None,
    };
    let catalog = priced.as_ref().or(fed.as_ref()).unwrap_or(embedded);
    let (snapshot, source, aws, usage, traffic) = match &args.snapshot {
        None if args.kubeconfig.is_some() => {
            let (snapshot, source) = live_snapshot(&args)?;
            (snapshot, source, None, None, None)
        }
        Some(path) => {
            let import = support::read_kubectl_file(path)?;
            let mut source = format!("kubectl snapshot {}", path.display());
            if !import.skipped_kinds.is_empty() {
                let skipped: Vec<String> = import
                    .skipped_kinds
                    .iter()
                    .map(|(k, n)| format!("{n} {k}"))
                    .collect();
                source += &format!(" (skipped: {})", skipped.join(", "));
            }
            (import.snapshot, source, None, None, None)
        }
        None => {
            let mut config = DemoConfig::default();
            if let Some(seed) = args.seed {
                config.seed = seed;
            }
            let demo = DemoEnvironment::generate(&config, catalog)?;
            if let Some(path) = &args.export_demo {
                std::fs::write(path, kubectl::write_list(&demo.snapshot)?)
                    .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
                println!(
                    "wrote the demo cluster as kubectl JSON to {}",
                    path.display()
                );
            }
            let source = format!(
                "embedded demo cluster {} (seed {}, taken {})",
                config.cluster_name,
                config.seed,
                config.now.strftime("%Y-%m-%d %H:%M UTC")
            );
            (
                demo.snapshot,
                source,
                Some(demo.aws),
                Some(demo.usage),
                Some(demo.traffic),
            )
        }
    };
    // Region, zones, architectures, DaemonSets: what the nodes say, once.
    let env = NodeEnvironment::of(&snapshot);
    let region = env.region_or(&args.region).to_owned();
    let from_api = match args.prices_from_api {
        true => Some(prices_from_api(catalog, &env, &region)?),
        false => None,
    };
    let catalog = from_api.as_ref().unwrap_or(catalog);
    let summary = ClusterSummary::new(&snapshot, catalog, &region);
    println!("CloudOptim tour — {source}");
    let told = match (&env.region, env.regions.len()) {
        (Some(_), _) => "from the nodes' labels".to_owned(),
        (None, 0) => "no node names its region; --region".to_owned(),
        (None, _) => format!(
            "the nodes name {} regions ({}); each node is priced in its own, others in --region",
            env.regions.len(),
            env.regions.iter().cloned().collect::<Vec<_>>().join(", ")
        ),
    };
    println!(
        "Region {region} ({told}); prices from the embedded catalog{}{} ({} instance types, on-demand Linux)",
        args.prices
            .as_ref()
            .map(|p| format!(" and {}", p.display()))
            .unwrap_or_default(),
        if args.prices_from_api {
            " and the AWS Price List API"
        } else {
            ""
        },
        catalog.len(),
    );
    if !env.architectures.is_empty() {
        let arches: Vec<&str> = env
            .architectures
            .iter()
            .map(|a| a.kubernetes_name())
            .collect();
        println!(
            "Architectures of the nodes: {} (new nodes may use these)",
            arches.join(", ")
        );
    }
    inventory(&snapshot, &summary);
    if let Some(aws) = &aws {
        account(aws);
    }
    let now = snapshot
        .newest_timestamp()
        .unwrap_or(jiff::Timestamp::UNIX_EPOCH);
    bin_packing(&snapshot, aws.as_ref(), catalog, &env, &summary, now);
    spot_section(&snapshot, aws.as_ref(), catalog, &env, &region);
    oom_section(&snapshot, catalog, usage.as_ref(), now);
    rightsizing_section(&snapshot, catalog, &region, usage.as_ref(), now);
    office_hours_section(&snapshot, catalog, &region, aws.is_some(), now);
    waste_section(&snapshot, aws.as_ref(), catalog, &region, now);
    cross_az_section(&snapshot, traffic.as_ref());
    Ok(())
}

#[cfg(not(feature = "kube"))]
fn live_snapshot(_: &Args) -> Result<(ClusterSnapshot, String), Box<dyn std::error::Error>> {
    Err("--kubeconfig needs the Kubernetes adapter: add --features kube".into())
}

/// Read a live cluster through its API (the kubeconfig's identity).
#[cfg(feature = "kube")]
fn live_snapshot(args: &Args) -> Result<(ClusterSnapshot, String), Box<dyn std::error::Error>> {
    use cloudoptim::k8s::{ClientSettings, KubeClient, Metrics, ObserveOptions};
    tokio::runtime::Runtime::new()?.block_on(async {
        let client = KubeClient::from_kubeconfig(
            args.kubeconfig.as_deref(),
            args.context.as_deref(),
            ClientSettings::from_env()?,
        )
        .await?;
        let observed = client.observe(&ObserveOptions::default()).await?;
        let metrics = match &observed.metrics {
            Metrics::Served(sample) => format!("metrics for {} nodes", sample.nodes.len()),
            Metrics::Unavailable { reason } => format!("no metrics: {reason}"),
        };
        let source = format!("live cluster {} ({metrics})", client.cluster_url());
        Ok((observed.snapshot, source))
    })
}

/// `catalog` with the Price List's on-demand prices of every region the
/// tour prices nodes in (the nodes' regions, and `region` for the others)
/// for the nodes' operating systems (Linux if none says).
#[cfg(feature = "aws")]
fn prices_from_api(
    catalog: &Catalog,
    env: &NodeEnvironment,
    region: &str,
) -> Result<Catalog, Box<dyn std::error::Error>> {
    let mut regions = env.regions.clone();
    regions.insert(region.to_owned());
    let mut oses = env.operating_systems.clone();
    if oses.is_empty() {
        oses.push(cloudoptim::catalog::OperatingSystem::Linux);
    }
    Ok(catalog_files::with_prices_from_api(
        catalog, &regions, &oses,
    )?)
}

#[cfg(not(feature = "aws"))]
fn prices_from_api(
    _: &Catalog,
    _: &NodeEnvironment,
    _: &str,
) -> Result<Catalog, Box<dyn std::error::Error>> {
    Err("--prices-from-api needs the AWS adapter: add --features aws".into())
}

fn usd(v: UsdPerHour) -> String {
    cloudoptim::money::dollars(v.usd(), 2)
}

fn month(v: UsdPerHour) -> String {
    cloudoptim::money::dollars(v.usd_per_month(), 0)
}

fn table(title: &str, rows: &BTreeMap<String, NodeGroupCost>, total: UsdPerHour) {
    println!(
        "\n  {title:<22} {:>6} {:>10} {:>12} {:>7}",
        "nodes", "$/hour", "$/month", "share"
    );
    let mut rows: Vec<_> = rows.iter().collect();
    rows.sort_by(|a, b| b.1.usd_per_hour.cmp(&a.1.usd_per_hour).then(a.0.cmp(b.0)));
    for (key, c) in rows {
        let share = if total.micro_usd() > 0 {
            100.0 * c.usd_per_hour.usd() / total.usd()
        } else {
            0.0
        };
        println!(
            "  {key:<22} {:>6} {:>10} {:>12} {:>6.1}%",
            c.nodes,
            usd(c.usd_per_hour),
            month(c.usd_per_hour),
            share
        );
    }
}

fn inventory(snapshot: &ClusterSnapshot, s: &ClusterSummary) {
    println!("\n== Inventory");
    let top_level = snapshot
        .workloads
        .iter()
        .filter(|w| w.owner.is_none())
        .count();
    let phases: Vec<String> = s
        .pods_by_phase
        .iter()
        .map(|(p, n)| format!("{n} {}", p.to_lowercase()))
        .collect();
    println!(
        "  {} nodes ({} cordoned), {} pods ({}), {} workloads, {} PDBs, {} PVs, {} PVCs",
        s.nodes,
        s.cordoned_nodes,
        snapshot.pods.len(),
        phases.join(", "),
        top_level,
        snapshot.pdbs.len(),
        snapshot.persistent_volumes.len(),
        snapshot.persistent_volume_claims.len()
    );
    table("instance type", &s.by_instance_type, s.usd_per_hour);
    table("zone", &s.by_zone, s.usd_per_hour);
    table("capacity type", &s.by_capacity_type, s.usd_per_hour);
    // Unpriced nodes are not $0: say what is known.
    let unpriced = s.unpriced_nodes.len();
    if s.nodes > 0 && unpriced == s.nodes {
        println!("\n  Compute cost: cannot tell (no node could be priced; see below)");
    } else {
        println!(
            "\n  Compute cost: {}{}/hour, {}/month (730 h)",
            if unpriced > 0 { "at least " } else { "" },
            usd(s.usd_per_hour),
            month(s.usd_per_hour)
        );
    }
    if s.spot_estimated_nodes > 0 {
        println!(
            "  ({} spot nodes priced at the Spot Advisor's average discount)",
            s.spot_estimated_nodes
        );
    }
    if s.spot_priced_at_on_demand_nodes > 0 {
        println!(
            "  ({} spot nodes without Spot Advisor advice priced at on-demand: an upper bound)",
            s.spot_priced_at_on_demand_nodes
        );
    }
    if !s.unpriced_nodes.is_empty() {
        println!(
            "  {} nodes could not be priced (unknown type or no price in {}): {}",
            s.unpriced_nodes.len(),
            s.region,
            s.unpriced_nodes.join(", ")
        );
    }
    println!("\n  Requested vs allocatable:");
    for (d, unit, scale) in [
        (Dimension::Cpu, "cores", 1000.0),
        (Dimension::Memory, "GiB", (1u64 << 30) as f64),
        (Dimension::Pods, "pods", 1.0),
    ] {
        println!(
            "    {:<8} {:>9.1} of {:>9.1} {unit:<5} {:>5.1}%",
            d.to_string(),
            s.requested.get(d) as f64 / scale,
            s.allocatable.get(d) as f64 / scale,
            100.0 * s.requested.fraction_of(&s.allocatable, d)
        );
    }
    if !s.pods_on_missing_nodes.is_empty() {
        println!(
            "  {} pod(s) on nodes the file does not have (e.g. {}): the file holds only some of the cluster",
            s.pods_on_missing_nodes.len(),
            s.pods_on_missing_nodes[0]
        );
    }
    if s.unscheduled_pods > 0 {
        println!("  {} pod(s) waiting for a node", s.unscheduled_pods);
    }
    let oom = snapshot.pods.iter().filter(|p| p.was_oom_killed()).count();
    if oom > 0 {
        println!("  {oom} pod(s) with an OOMKilled container in their history");
    }
}

fn account(aws: &AwsInventory) {
    println!("\n== AWS account ({}, demo)", aws.region);
    let running = aws
        .instances
        .iter()
        .filter(|i| i.state == InstanceState::Running)
        .count();
    let unattached: Vec<_> = aws
        .volumes
        .iter()
        .filter(|v| v.state == VolumeState::Available)
        .collect();
    let unattached_gib: u64 = unattached.iter().map(|v| u64::from(v.size_gib)).sum();
    println!(
        "  {running} running instances, {} EBS volumes",
        aws.volumes.len()
    );
    println!(
        "  {} EBS volumes attached to nothing ({unattached_gib} GiB)",
        unattached.len()
    );
}

/// The bin-packing section: consolidation of the running cluster, and what
/// the same pods would cost packed from scratch.
fn bin_packing(
    snapshot: &ClusterSnapshot,
    account: Option<&cloudoptim::inventory::AwsInventory>,
    catalog: &Catalog,
    env: &NodeEnvironment,
    summary: &ClusterSummary,
    now: jiff::Timestamp,
) {
    use cloudoptim::binpack::{LpGuidedPacker, Packer, PackingPolicy, PodRequirement};
    use cloudoptim::consolidation::{plan_consolidation, ConsolidationPolicy};
    println!("\n== Bin packing and consolidation");
    if let Some(why) = snapshot.why_pods_unknown() {
        println!("  Cannot tell: {why}");
        return;
    }
    let policy = ConsolidationPolicy {
        region: summary.region.clone(),
        ..ConsolidationPolicy::default()
    };
    let c = plan_consolidation(
        snapshot,
        account,
        catalog,
        &LpGuidedPacker::for_consolidation(),
        &policy,
        now,
    );
    let evictions = c
        .plan
        .steps
        .iter()
        .filter(|s| matches!(s.action, cloudoptim::Action::Evict { .. }))
        .count();
    println!(
        "  Consolidation: remove {} node(s) now ({} pod evictions), saving {}/h, {}/month",
        c.removed_nodes.len(),
        evictions,
        usd(c.savings.net_saved_usd_per_hour),
        month(c.savings.net_saved_usd_per_hour)
    );
    // The cluster as the plan would leave it (the plan simulator).
    if !c.plan.steps.is_empty() {
        match cloudoptim::simulate::simulate(snapshot, account, &c.plan, catalog, now) {
            Ok(after) => println!(
                "  After the plan: {} nodes (from {}); {} pod(s) left pending, {} lost, {} PDB(s) exceeded",
                after.snapshot.nodes.len(),
                snapshot.nodes.len(),
                after.pending.len(),
                after.lost.len(),
                after.pdbs_exceeded.len()
            ),
            Err(e) => println!("  After the plan: cannot tell ({e})"),
        }
    }
    let count = |f: fn(&cloudoptim::consolidation::Blocked) -> bool| {
        c.blocked.iter().filter(|(_, b)| f(b)).count()
    };
    use cloudoptim::consolidation::Blocked;
    let at_minimum = count(|b| matches!(b, Blocked::GroupAtMinimum { .. }));
    if at_minimum > 0 {
        println!("  ({at_minimum} node-group node(s) stay: their Auto Scaling group is at its minimum size)");
    }
    let unpriced = count(|b| matches!(b, Blocked::Unpriced { .. }));
    if unpriced > 0 {
        println!(
            "  ({unpriced} node(s) not considered: cannot tell what they cost: no known instance type, or no price in their region)"
        );
    }
    let unknown = count(|b| matches!(b, Blocked::GroupUnknown { .. }));
    if unknown > 0 {
        println!(
            "  ({unknown} node-group node(s) not considered: without the account's Auto Scaling groups, \
             removing them cannot be planned (the group could launch them again))"
        );
    }
    let budget = c
        .blocked
        .iter()
        .filter(|(_, b)| matches!(b, cloudoptim::consolidation::Blocked::Budget))
        .count();
    if budget > 0 {
        println!(
            "  ({budget} more node(s) with nothing blocking them wait for a later plan: at most {} nodes or {}% per plan)",
            policy.max_disrupted_nodes, policy.max_disrupted_percent
        );
    }
    let pods: Vec<PodRequirement> = snapshot
        .pods
        .iter()
        .filter(|p| !p.is_daemonset_pod() && !p.phase.is_terminal())
        .map(PodRequirement::from_pod)
        .collect();
    // New nodes like the cluster's: region, zones, architectures, DaemonSets.
    let packing_policy = env.packing_policy(PackingPolicy {
        region: summary.region.clone(),
        ..PackingPolicy::default()
    });
    match LpGuidedPacker::default().pack(&pods, catalog, &packing_policy) {
        Ok(p) => {
            println!(
                "  From scratch: {} of {} pods on {} new node(s) for {}/h ({}/month); no packing of those pods costs less than {}/h (ratio {:.2})",
                p.placed_pods(),
                pods.len(),
                p.nodes.len(),
                usd(p.usd_per_hour),
                month(p.usd_per_hour),
                usd(p.lower_bound.usd_per_hour),
                p.ratio()
            );
            if !p.unplaced.is_empty() {
                println!(
                    "  ({} pods need labels or sizes new nodes would not have; see `--example binpack`)",
                    p.unplaced.len()
                );
            }
        }
        Err(e) => println!("  From scratch: cannot pack: {e}"),
    }
    if !c.replacements.is_empty() {
        println!(
            "  ({} of them replaced by a cheaper type that holds their pods)",
            c.replacements.len()
        );
    }
    for m in &c.multi_replacements {
        println!(
            "  ({} nodes replaced together by {} new one(s): {}/h → {}/h)",
            m.nodes.len(),
            m.new_nodes.len(),
            usd(m.old_usd_per_hour),
            usd(m.new_usd_per_hour)
        );
    }
}

/// The Spot section: which workloads could run on spot, for how much less,
/// at what risk (day zero: Spot Advisor data only).
fn spot_section(
    snapshot: &ClusterSnapshot,
    account: Option<&AwsInventory>,
    catalog: &Catalog,
    env: &NodeEnvironment,
    region: &str,
) {
    use cloudoptim::snapshot::{VolumeSource, WorkloadKind};
    use cloudoptim::spot::pools::{select_pools, CapacityNeed, PoolPolicy};
    use cloudoptim::spot::risk::WeightedRisk;
    println!("\n== Spot");
    let policy = env.pool_policy(PoolPolicy {
        region: region.to_owned(),
        ..PoolPolicy::default()
    });
    let now = snapshot
        .newest_timestamp()
        .unwrap_or(jiff::Timestamp::UNIX_EPOCH);
    // Candidates: Deployments with 2+ replicas, no claims, not do-not-disrupt.
    let mut rows = Vec::new();
    for w in snapshot.workloads.iter().filter(|w| {
        w.kind == WorkloadKind::Deployment && w.replicas.unwrap_or(0) >= 2 && w.owner.is_none()
    }) {
        let pods: Vec<_> = snapshot
            .pods
            .iter()
            .filter(|p| p.is_active_on_node() && p.namespace == w.namespace)
            .filter(|p| {
                p.owner
                    .as_ref()
                    .is_some_and(|o| o.kind == "Deployment" && o.name == w.name)
            })
            .collect();
        let Some(first) = pods.first() else { continue };
        if pods.iter().any(|p| {
            p.do_not_disrupt()
                || p.volumes
                    .iter()
                    .any(|v| matches!(v.source, VolumeSource::PersistentVolumeClaim { .. }))
        }) {
            continue;
        }
        let need = CapacityNeed {
            pod_requests: cloudoptim::Resources {
                pods: 0,
                ..first.requests()
            },
            pods: pods.len() as u32,
            architectures: if env.architectures.is_empty() {
                vec![cloudoptim::catalog::Architecture::X86_64]
            } else {
                env.architectures.clone()
            },
            node_selector: first.node_selector.clone(),
            node_affinity: first.node_affinity.clone(),
        };
        let Ok(a) = select_pools(
            &need,
            catalog,
            &Default::default(),
            &Default::default(),
            &WeightedRisk,
            &policy,
            now,
        ) else {
            continue;
        };
        let spot_pods: u32 = a.spot.iter().map(|s| s.pods).sum();
        // Only where spot costs less.
        if spot_pods == 0 || a.usd_per_hour >= a.all_on_demand_usd_per_hour {
            continue;
        }
        let risk = a
            .spot
            .iter()
            .map(|s| s.pool.risk.score * f64::from(s.pods))
            .sum::<f64>()
            / f64::from(spot_pods);
        rows.push((
            a.all_on_demand_usd_per_hour - a.usd_per_hour,
            format!("{}/{}", w.namespace, w.name),
            pods.len(),
            risk,
            a.spot.len(),
        ));
    }
    rows.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    let total: UsdPerHour = rows.iter().map(|r| r.0).sum();
    println!(
        "  {} Deployments (2+ replicas, no volumes, disruptable) could run on spot: {}/h, {}/month less than on fresh on-demand nodes",
        rows.len(),
        usd(total),
        month(total)
    );
    println!("  (day zero: Spot Advisor rates and discounts; at most 30% of a workload per pool, risk ceiling 0.6)");
    for (saved, name, pods, risk, pools) in rows.iter().take(5) {
        println!(
            "    {name:<34} {pods:>3} pods over {pools} pools, saves {}/h, risk {risk:.2}",
            usd(*saved)
        );
    }
    spot_conversion(snapshot, account, catalog, region, now);
}

/// The nodes themselves: which on-demand nodes the next spot conversion
/// plan would move onto spot instances, and why the others stay.
fn spot_conversion(
    snapshot: &ClusterSnapshot,
    account: Option<&AwsInventory>,
    catalog: &Catalog,
    region: &str,
    now: jiff::Timestamp,
) {
    use cloudoptim::consolidation::ConsolidationPolicy;
    use cloudoptim::spot::conversion::plan_spot_conversion;
    if let Some(why) = snapshot.why_pods_unknown() {
        println!("  Spot conversion of nodes: cannot tell: {why}");
        return;
    }
    let policy = ConsolidationPolicy {
        region: region.to_owned(),
        ..ConsolidationPolicy::spot_conversion()
    };
    let c = plan_spot_conversion(
        snapshot,
        account,
        catalog,
        &policy,
        &Default::default(),
        now,
    );
    println!(
        "  Spot conversion of nodes (one plan: at most {} nodes, types under 10% interrupted a month, one node per pool): {} node(s) now, saving {}/h",
        policy.max_disrupted_nodes,
        c.replacements.len(),
        usd(c.savings.net_saved_usd_per_hour)
    );
    for r in &c.replacements {
        println!(
            "    {:<34} {} on-demand → {} spot in {}, {}/h",
            r.node,
            r.from_instance_type,
            r.instance_type,
            r.zone,
            usd(r.usd_per_hour)
        );
    }
    let mut stays: BTreeMap<&str, usize> = BTreeMap::new();
    for (_, b) in &c.blocked {
        *stays.entry(b.kind()).or_default() += 1;
    }
    if !stays.is_empty() {
        let list: Vec<String> = stays.iter().map(|(k, n)| format!("{k} {n}")).collect();
        println!("    stay: {}", list.join(", "));
    }
    if stays.contains_key("node_group_type") {
        println!("    (a node group's nodes go to spot through the group: a spot node group, or its launch template)");
    }
}

/// OOMKilled remediation: the VPA's bump for every container the kernel
/// killed, from the pods' statuses (and, on the demo, its usage peaks).
fn oom_section(
    snapshot: &ClusterSnapshot,
    catalog: &Catalog,
    usage: Option<&UsageHistory>,
    now: jiff::Timestamp,
) {
    println!("\n== OOMKilled remediation");
    if snapshot.pods.is_empty() {
        println!("  Cannot tell: the input has no pods, so no container status to read.");
        return;
    }
    if let Some(why) = snapshot.why_pods_unknown() {
        println!("  Cannot tell: {why}");
        return;
    }
    let peaks = usage.map_or_else(MemoryPeaks::new, |u| MemoryPeaks::from_usage(u, None));
    let report = remediate(
        snapshot,
        catalog,
        &peaks,
        &OomPolicy::default(),
        &OomLedger::default(),
        now,
    );
    if report.findings.is_empty() {
        println!("  No container was OOMKilled.");
        return;
    }
    for f in &report.findings {
        let workload = f.workload.as_ref().map_or_else(
            || "(bare pod)".to_owned(),
            |w| format!("{} {}/{}", w.kind, w.namespace, w.name),
        );
        println!(
            "  {:<44} {:<10} {} kill(s), {}: memory request {} -> {}",
            format!("{workload} container"),
            f.container,
            f.kills.len(),
            f.decision.kind(),
            format_memory(f.current_request_bytes),
            format_memory(f.new_request_bytes),
        );
    }
    println!(
        "  {} bump(s) planned (cargo run --example oom_remediation for the reasons and the plan)",
        report.plan.steps.len()
    );
}

/// Rightsizing: requests against 7 days of usage (the demo's), or "cannot
/// tell" when the input holds no usage.
fn rightsizing_section(
    snapshot: &ClusterSnapshot,
    catalog: &Catalog,
    region: &str,
    usage: Option<&UsageHistory>,
    now: jiff::Timestamp,
) {
    use cloudoptim::rightsizing::{format_amount, recommend, Decision, RightsizingPolicy};

    println!("\n== Rightsizing (p95 of usage + 15%, VPA-style bounds)");
    let Some(history) = usage.filter(|u| !u.containers.is_empty()) else {
        println!(
            "  Cannot tell: the input holds requests but no usage history \
             (cargo run --example rightsize -- --kubeconfig … --prometheus URL reads it live)."
        );
        return;
    };
    let mut histograms = UsageHistograms::new(UsageOptions::default());
    if let Err(e) = histograms.ingest_history(history, snapshot) {
        println!("  Cannot tell: the usage history is unusable: {e}");
        return;
    }
    let report = recommend(
        snapshot,
        catalog,
        region,
        &histograms,
        &RightsizingPolicy::default(),
        now,
    );
    let mut patched: Vec<_> = report
        .findings
        .iter()
        .filter(|f| f.decision == Decision::Patch)
        .collect();
    patched.sort_by_key(|f| std::cmp::Reverse(f.usd_per_hour_saved));
    for f in patched.iter().take(5) {
        println!(
            "  {:<40} cpu {:>6} -> {:<6} memory {:>7} -> {:<7} confidence {:.1}  {}/month",
            format!(
                "{}/{}/{}",
                f.key.namespace, f.key.owner.name, f.key.container
            ),
            format_amount(f.cpu.resource, f.cpu.current_request),
            format_amount(f.cpu.resource, f.cpu.new_request),
            format_amount(f.memory.resource, f.memory.current_request),
            format_amount(f.memory.resource, f.memory.new_request),
            f.confidence,
            f.usd_per_hour_saved.map_or("?".to_owned(), month),
        );
    }
    let others = report.findings.len() - patched.len();
    println!(
        "  {} of {} containers patched ({others} kept: within 10%, HPA-managed, too little history or not patchable)",
        patched.len(),
        report.findings.len()
    );
    match report.usd_per_hour_saved() {
        Some(s) => println!(
            "  Requests freed: {}/h ({}/month); the bill falls once consolidation removes the nodes they free",
            usd(s),
            month(s)
        ),
        None => println!("  Savings cannot be told: no node is priced in {region}."),
    }
    println!("  (cargo run --example rightsize for bounds, reasons and the plan)");
}

/// Office hours: workloads that opted in by annotation; on the demo, what
/// its dev and staging namespaces would save on weekday business hours.
fn office_hours_section(
    snapshot: &ClusterSnapshot,
    catalog: &Catalog,
    region: &str,
    demo: bool,
    now: jiff::Timestamp,
) {
    println!("\n== Office hours");
    let mut snapshot = snapshot.clone();
    if demo {
        for name in ["dev", "staging"] {
            if snapshot.namespace(name).is_none() {
                snapshot.namespaces.push(Namespace {
                    name: name.into(),
                    annotations: [(SCHEDULE_ANNOTATION.into(), DEMO_SCHEDULE.into())].into(),
                    ..Namespace::default()
                });
            }
        }
        println!("  If dev and staging opted in with {SCHEDULE_ANNOTATION}: {DEMO_SCHEDULE}");
    }
    let rates = ResourceRates::of_cluster(&snapshot.nodes, catalog, region);
    let report = plan_office_hours(
        &snapshot,
        now,
        &OfficeHoursPolicy::default(),
        rates.as_ref(),
    );
    if report.workloads.is_empty() {
        println!(
            "  No workload opted in (annotate namespaces or workloads with {SCHEDULE_ANNOTATION})."
        );
        return;
    }
    if rates.is_none() {
        println!(
            "  {} workload(s) opted in; savings: cannot tell (no node could be priced)",
            report.workloads.len()
        );
        return;
    }
    for (namespace, s) in report.by_namespace() {
        println!(
            "  {namespace:<12} saves {}/week of {}/week always on ({:.1}%)",
            dollars(s.saved_usd_per_week, 2),
            dollars(s.always_on_usd_per_week, 2),
            s.percent()
        );
    }
    println!(
        "  {} workload(s), {}/week in all; the plan at {} has {} step(s) (cargo run --example office_hours)",
        report.workloads.len(),
        dollars(report.saved_usd_per_week(), 2),
        now.strftime("%a %H:%M UTC"),
        report.plan.steps.len()
    );
}

fn waste_section(
    snapshot: &ClusterSnapshot,
    aws: Option<&AwsInventory>,
    catalog: &Catalog,
    region: &str,
    now: jiff::Timestamp,
) {
    use cloudoptim::waste::{ghost_instances, zombie_volumes};
    println!("\n== Zombie volumes and ghost instances");
    let Some(aws) = aws else {
        println!("  needs the account (the demo's, or a live one: cargo run --features aws,kube --example zombie_volumes / ghost_probe)");
        return;
    };
    let cluster = aws
        .instances
        .iter()
        .find_map(|i| i.tags.get(cloudoptim::inventory::tags::EKS_CLUSTER_NAME))
        .cloned()
        .unwrap_or_default();
    match zombie_volumes::classify(
        snapshot,
        aws,
        &zombie_volumes::ZombiePolicy::new(&cluster, region),
        now,
    ) {
        Ok(r) => {
            let deletable = r
                .decisions
                .iter()
                .filter(|d| matches!(d.verdict, zombie_volumes::VolumeVerdict::Deletable { .. }))
                .count();
            let (wasted, unpriced) = r.wasted_micro_usd_per_month();
            println!(
                "  {deletable} zombie volume(s) past their 7-day mark; unused volumes cost {}/month{} (cargo run --example zombie_volumes)",
                dollars(wasted as f64 / 1e6, 2),
                if unpriced > 0 { format!(", {unpriced} unpriced") } else { String::new() }
            );
        }
        Err(e) => println!("  zombie volumes: cannot tell: {e}"),
    }
    let policy = ghost_instances::GhostPolicy::new(&cluster, region);
    match ghost_instances::classify(
        aws,
        ghost_instances::NodeList::Complete(&snapshot.nodes),
        &policy,
        catalog,
        now,
    ) {
        Ok(r) => {
            let ghosts: Vec<_> = r
                .decisions
                .iter()
                .filter(|d| matches!(d.verdict, ghost_instances::InstanceVerdict::Ghost { .. }))
                .collect();
            let wasted: UsdPerHour = ghosts.iter().filter_map(|d| d.usd_per_hour).sum();
            println!(
                "  {} ghost instance(s) (tagged for the cluster, backing no node for over 24 h): {}/h ({}/month), reported (cargo run --example ghost_probe)",
                ghosts.len(),
                usd(wasted),
                month(wasted)
            );
        }
        Err(e) => println!("  ghost instances: cannot tell: {e}"),
    }
}

fn cross_az_section(
    snapshot: &ClusterSnapshot,
    traffic: Option<&cloudoptim::traffic::TrafficMatrix>,
) {
    println!("\n== Cross-AZ traffic");
    let Some(traffic) = traffic else {
        println!("  needs a traffic matrix: cargo run --example cross_az -- --snapshot FILE --traffic FLOWS.csv");
        return;
    };
    let r = cloudoptim::cross_az::analyze(snapshot, traffic, &Default::default());
    println!(
        "  today {}/h ({}/month) crosses zones; placed, {}/h ({}/month): saves {}/month (cargo run --example cross_az)",
        usd(r.before.usd_per_hour),
        month(r.before.usd_per_hour),
        usd(r.after.usd_per_hour),
        month(r.after.usd_per_hour),
        month(r.savings())
    );
}
