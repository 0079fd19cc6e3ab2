//! Office hours: which workloads opted in, current vs desired replicas now,
//! the plan that gets them there, and what it saves a week.
//!
//! ```text
//! cargo run --release --example office_hours                                  # embedded demo, now
//! cargo run --release --example office_hours -- --at 2026-11-24T04:00:00Z     # the demo at night
//! cargo run --release --example office_hours -- --snapshot FILE.json          # kubectl get …,ns,hpa -A -o json
//! cargo run --release --features kube --example office_hours -- --kubeconfig ~/.kube/config [--execute]
//! ```
//!
//! The demo has no namespace objects: its `dev` and `staging` namespaces are
//! opted in with `--schedule` (default `Mon-Fri 08:00-20:00
//! America/New_York`, the demo's region's time). A snapshot or live cluster
//! is taken as it is annotated (`cloudoptim.io/office-hours` on namespaces
//! or workloads). Against a live cluster the plan runs as a server-side dry
//! run unless `--execute`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::path::PathBuf;
use std::process::ExitCode;

use cloudoptim::catalog::Catalog;
use cloudoptim::demo::{DemoConfig, DemoEnvironment};
use cloudoptim::money::dollars;
use cloudoptim::office_hours::{
    plan_office_hours, OfficeHoursPolicy, OfficeHoursReport, Outcome, SCHEDULE_ANNOTATION,
};
use cloudoptim::pricing::ResourceRates;
use cloudoptim::snapshot::Namespace;
use cloudoptim::ClusterSnapshot;
use jiff::{SignedDuration, Timestamp};

const USAGE: &str = "usage: office_hours [--snapshot FILE.json | --kubeconfig FILE [--context NAME] [--execute]] [--at TIMESTAMP] [--schedule TEXT] [--prewarm-minutes N] [--region REGION]";
const DEMO_SCHEDULE: &str = "Mon-Fri 08:00-20:00 America/New_York";

struct Args {
    snapshot: Option<PathBuf>,
    kubeconfig: Option<PathBuf>,
    context: Option<String>,
    execute: bool,
    at: Option<Timestamp>,
    schedule: String,
    prewarm_minutes: i64,
    region: String,
}

fn parse_args() -> Result<Args, lexopt::Error> {
    use lexopt::prelude::*;
    let mut args = Args {
        snapshot: None,
        kubeconfig: None,
        context: None,
        execute: false,
        at: None,
        schedule: DEMO_SCHEDULE.into(),
        prewarm_minutes: 15,
        region: "us-east-1".into(),
    };
    let mut parser = lexopt::Parser::from_env();
    while let Some(arg) = parser.next()? {
        match arg {
            Long("snapshot") => args.snapshot = Some(parser.value()?.into()),
            Long("kubeconfig") => args.kubeconfig = Some(parser.value()?.into()),
            Long("context") => args.context = Some(parser.value()?.string()?),
            Long("execute") => args.execute = true,
            Long("at") => args.at = Some(parser.value()?.parse()?),
            Long("schedule") => args.schedule = parser.value()?.string()?,
            Long("prewarm-minutes") => args.prewarm_minutes = parser.value()?.parse()?,
            Long("region") => args.region = parser.value()?.string()?,
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
            eprintln!("office_hours: {e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("office_hours: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &Args) -> Result<(), Box<dyn std::error::Error>> {
    if args.snapshot.is_some() && args.kubeconfig.is_some() {
        return Err("--snapshot and --kubeconfig both name a cluster; give one".into());
    }
    if args.execute && args.kubeconfig.is_none() {
        return Err("--execute acts on a live cluster: give --kubeconfig".into());
    }
    let catalog = Catalog::embedded()?;
    let now = args.at.unwrap_or_else(Timestamp::now);
    let (snapshot, region, source) = if let Some(path) = &args.snapshot {
        let import = support::read_kubectl_file(path)?;
        (
            import.snapshot,
            args.region.clone(),
            format!("kubectl snapshot {}", path.display()),
        )
    } else if args.kubeconfig.is_some() {
        let snapshot = live::snapshot(args)?;
        (snapshot, args.region.clone(), "live cluster".to_owned())
    } else {
        let demo = DemoEnvironment::generate(&DemoConfig::default(), catalog)?;
        let mut snapshot = demo.snapshot;
        for name in ["dev", "staging"] {
            snapshot.namespaces.push(Namespace {
                name: name.into(),
                annotations: [(SCHEDULE_ANNOTATION.into(), args.schedule.clone())].into(),
                ..Namespace::default()
            });
        }
        let source = format!("demo cluster (dev and staging on `{}`)", args.schedule);
        (snapshot, demo.region, source)
    };
    let policy = OfficeHoursPolicy {
        prewarm: SignedDuration::from_mins(args.prewarm_minutes),
        ..OfficeHoursPolicy::default()
    };
    let rates = ResourceRates::of_cluster(&snapshot.nodes, catalog, &region);
    let report = plan_office_hours(&snapshot, now, &policy, rates.as_ref());
    println!(
        "Office hours on the {source}, at {now}, pre-warm {} min",
        args.prewarm_minutes
    );
    match &rates {
        Some(r) => println!(
            "Pod prices from {} priced node(s) ({} unpriced): ${:.4}/core-hour, ${:.5}/GiB-hour",
            r.priced_nodes, r.unpriced_nodes, r.usd_per_cpu_hour, r.usd_per_gib_hour
        ),
        None => println!("No node could be priced: savings are not estimated"),
    }
    print_workloads(&report);
    print_plan(&report);
    print_savings(&report);
    if args.kubeconfig.is_some() {
        live::run(args, &report)?;
    }
    Ok(())
}

fn print_workloads(report: &OfficeHoursReport) {
    if report.workloads.is_empty() {
        println!(
            "\nNo workload opted in (annotate namespaces or workloads with {SCHEDULE_ANNOTATION})."
        );
        return;
    }
    println!(
        "\n  {:<34} {:<9} {:>3} {:>4}  {:<18} {:>10}  schedule",
        "workload", "phase", "now", "want", "next change (UTC)", "$/week"
    );
    for v in &report.workloads {
        let w = &v.workload;
        let phase = v.phase.map_or("-".to_owned(), |p| p.to_string());
        let next = v
            .next_change
            .map_or("-".to_owned(), |t| t.strftime("%a %m-%d %H:%M").to_string());
        println!(
            "  {:<34} {:<9} {:>3} {:>4}  {:<18} {:>10}  {} ({})",
            format!("{} {}/{}", w.kind, w.namespace, w.name),
            phase,
            v.current,
            v.desired,
            next,
            dollars(v.saved_usd_per_week, 2),
            v.schedule.as_deref().unwrap_or("-"),
            v.source,
        );
        match &v.outcome {
            Outcome::Skipped(why) => println!("      skipped: {why}"),
            Outcome::Excluded => println!("      excluded by annotation"),
            Outcome::Planned | Outcome::Unchanged => {}
        }
        for note in &v.notes {
            println!("      note: {note}");
        }
    }
}

fn print_plan(report: &OfficeHoursReport) {
    println!("\nPlan ({} steps):", report.plan.steps.len());
    for (i, step) in report.plan.steps.iter().enumerate() {
        let what = match &step.action {
            cloudoptim::Action::ScaleReplicas { workload, from, to } => format!(
                "scale {} {}/{} {from} -> {to}",
                workload.kind, workload.namespace, workload.name
            ),
            cloudoptim::Action::SetCronJobSuspend { workload, suspend } => format!(
                "{} CronJob {}/{}",
                if *suspend { "suspend" } else { "resume" },
                workload.namespace,
                workload.name
            ),
            cloudoptim::Action::SetMetadata {
                object: cloudoptim::plan::ObjectRef::Workload(w),
                annotations,
                ..
            } => {
                let changes: Vec<String> = annotations
                    .iter()
                    .map(|(k, v)| match v {
                        Some(v) => format!("{k}={v}"),
                        None => format!("remove {k}"),
                    })
                    .collect();
                format!(
                    "annotate {} {}/{}: {}",
                    w.kind,
                    w.namespace,
                    w.name,
                    changes.join(", ")
                )
            }
            other => serde_json::to_string(other).unwrap_or_else(|_| other.kind().to_owned()),
        };
        println!(
            "  {:>3}. {what}  [{:+.3} $/h]",
            i + 1,
            step.usd_per_hour_delta.usd()
        );
        println!("       why: {}", step.reason);
    }
}

fn print_savings(report: &OfficeHoursReport) {
    println!("\nSavings over the 7 days from now (pod cost of the replica-hours removed):");
    println!(
        "  {:<14} {:>12} {:>14} {:>7}",
        "namespace", "saved/week", "always-on/week", "share"
    );
    for (ns, s) in report.by_namespace() {
        println!(
            "  {ns:<14} {:>12} {:>14} {:>6.1}%",
            dollars(s.saved_usd_per_week, 2),
            dollars(s.always_on_usd_per_week, 2),
            s.percent()
        );
    }
    println!(
        "  total saved: {} a week; the bill goes down by it once consolidation removes the nodes the pods leave free",
        dollars(report.saved_usd_per_week(), 2)
    );
}

#[cfg(not(feature = "kube"))]
mod live {
    use super::*;

    pub fn snapshot(_: &Args) -> Result<ClusterSnapshot, Box<dyn std::error::Error>> {
        Err("--kubeconfig needs the Kubernetes adapter: add --features kube".into())
    }

    pub fn run(_: &Args, _: &OfficeHoursReport) -> Result<(), Box<dyn std::error::Error>> {
        Err("--kubeconfig needs the Kubernetes adapter: add --features kube".into())
    }
}

#[cfg(feature = "kube")]
mod live {
    use super::*;
    use cloudoptim::k8s::{ClientSettings, KubeClient, KubeExecutor, Mode, ObserveOptions};

    async fn client(args: &Args) -> Result<KubeClient, Box<dyn std::error::Error>> {
        Ok(KubeClient::from_kubeconfig(
            args.kubeconfig.as_deref(),
            args.context.as_deref(),
            ClientSettings::from_env()?,
        )
        .await?)
    }

    pub fn snapshot(args: &Args) -> Result<ClusterSnapshot, Box<dyn std::error::Error>> {
        tokio::runtime::Runtime::new()?.block_on(async {
            let observed = client(args)
                .await?
                .observe(&ObserveOptions {
                    metrics: false,
                    ..ObserveOptions::default()
                })
                .await?;
            Ok(observed.snapshot)
        })
    }

    pub fn run(args: &Args, report: &OfficeHoursReport) -> Result<(), Box<dyn std::error::Error>> {
        if report.plan.steps.is_empty() {
            return Ok(());
        }
        let mode = if args.execute {
            Mode::Execute
        } else {
            Mode::DryRun
        };
        tokio::runtime::Runtime::new()?.block_on(async {
            let executor = KubeExecutor::new(client(args).await?, mode);
            let run = executor.run(&report.plan).await?;
            println!(
                "\n{} ({mode:?}):",
                if args.execute { "Executed" } else { "Dry run" }
            );
            print!("{run}");
            match &run.failed {
                None => Ok(()),
                Some(failed) => Err(format!("the plan stopped: {failed}").into()),
            }
        })
    }
}
