//! Spot interruption handling, agentless: EventBridge → SQS → plan.
//!
//! ```text
//! cargo run --release --example spot_interruption                      # embedded demo: one warning, its plan
//! AWS_ENDPOINT_URL=http://127.0.0.1:5000 cargo run --release --features aws --example spot_interruption -- --self-test 100
//! cargo run --release --features aws --example spot_interruption -- --queue-url URL --snapshot cluster.json [--execute]
//! cargo run --release --features aws,kube --example spot_interruption -- --queue-url URL --kubeconfig FILE [--execute]
//! ```
//!
//! With `--queue-url` it consumes a real (or moto) queue, prints each event
//! and its plan, and runs the plan's EC2 steps in dry-run unless
//! `--execute`; with `--kubeconfig` it reads the live cluster and runs the
//! whole plan (cordon, drain, EC2 steps once their node is drained). `--self-test N` creates a rule and a queue at the endpoint,
//! puts N spot warnings for the demo cluster's nodes through EventBridge,
//! consumes them and prints the latency from message visible in SQS to the
//! cordon step issued (p50, p99, max).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::process::ExitCode;

use cloudoptim::catalog::Catalog;
use cloudoptim::demo::{DemoConfig, DemoEnvironment};
use cloudoptim::spot::events::parse_event;
use cloudoptim::spot::interruption::{InterruptionHandler, InterruptionPolicy, Outcome};

fn main() -> ExitCode {
    support::exit_quietly_on_broken_pipe();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = if args.is_empty() {
        demo()
    } else {
        with_aws(&args)
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("spot_interruption: {e}");
            ExitCode::FAILURE
        }
    }
}

fn print_outcome(outcome: &Outcome) {
    match outcome {
        Outcome::Plan { plan, left } => {
            println!("  plan ({} steps):", plan.steps.len());
            for s in &plan.steps {
                println!("    {:<16} {}", s.action.kind(), s.reason);
            }
            for l in left {
                println!("    {:<16} {} on {}: {}", "stays", l.pod, l.node, l.reason);
            }
        }
        Outcome::Duplicate { reason } => println!("  duplicate: {reason}"),
        Outcome::Ignored { reason } => println!("  ignored: {reason}"),
        Outcome::InvalidSnapshot { duplicate } => {
            println!("  not planned: the snapshot is invalid: {duplicate}")
        }
    }
}

/// No endpoint: one warning for a node of the embedded demo cluster.
fn demo() -> Result<(), Box<dyn std::error::Error>> {
    let catalog = Catalog::embedded()?;
    let env = DemoEnvironment::generate(&DemoConfig::default(), catalog)?;
    let node = env
        .snapshot
        .nodes
        .iter()
        .find(|n| env.snapshot.pods_on(&n.name).count() > 6)
        .ok_or("the demo has no busy node")?;
    let id = node.instance_id.clone().ok_or("node without instance id")?;
    let body = format!(
        r#"{{"version":"0","id":"demo-1","detail-type":"EC2 Spot Instance Interruption Warning","source":"aws.ec2","time":"{}","region":"us-east-1","detail":{{"instance-id":"{id}","instance-action":"terminate"}}}}"#,
        env.config.now
    );
    println!(
        "An interruption warning for {} ({id}), from the embedded demo:",
        node.name
    );
    let event = parse_event(&body)?;
    let mut handler = InterruptionHandler::new();
    let policy = InterruptionPolicy::default();
    print_outcome(&handler.handle(&event, &env.snapshot, catalog, &policy, env.config.now));
    println!("The same event again:");
    print_outcome(&handler.handle(&event, &env.snapshot, catalog, &policy, env.config.now));
    println!("\n(give --queue-url URL, or AWS_ENDPOINT_URL and --self-test N, to consume a queue; needs --features aws)");
    Ok(())
}

#[cfg(not(feature = "aws"))]
fn with_aws(_: &[String]) -> Result<(), Box<dyn std::error::Error>> {
    Err("consuming a queue needs the AWS adapter: add --features aws".into())
}

#[cfg(feature = "aws")]
fn with_aws(args: &[String]) -> Result<(), Box<dyn std::error::Error>> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(aws::run(args))
}

#[cfg(feature = "aws")]
mod aws {
    use std::time::Duration;

    use cloudoptim::aws::{AwsSettings, Ec2, Ec2Executor, Mode, SqsConsumer, SqsSettings};
    use cloudoptim::catalog::Catalog;
    use cloudoptim::spot::interruption::{InterruptionHandler, InterruptionPolicy, Outcome};

    pub async fn run(args: &[String]) -> Result<(), Box<dyn std::error::Error>> {
        let mut queue_url = None;
        let mut self_test = None;
        let mut execute = false;
        let mut snapshot_path: Option<String> = None;
        let mut kubeconfig: Option<String> = None;
        let mut it = args.iter();
        while let Some(a) = it.next() {
            match a.as_str() {
                "--queue-url" => queue_url = it.next().cloned(),
                "--self-test" => {
                    let n = it.next().map(String::as_str).unwrap_or_default();
                    self_test = Some(n.parse::<usize>().map_err(|_| {
                        format!("--self-test takes a number of warnings, not {n:?}")
                    })?);
                }
                "--execute" => execute = true,
                "--snapshot" => snapshot_path = it.next().cloned(),
                "--kubeconfig" => kubeconfig = it.next().cloned(),
                other => return Err(format!("unknown argument {other}").into()),
            }
        }
        let settings = AwsSettings::from_env();
        let config = settings.sdk_config().await;
        let catalog = Catalog::embedded()?;
        // The cluster the events are about: kubectl output for a real queue,
        // a synthetic cluster (one node per warning) for a self-test.
        let cluster = Cluster::connect(kubeconfig.as_deref(), execute).await?;
        let snapshot = match (self_test, &snapshot_path) {
            (Some(n), _) => {
                let pods = n
                    .checked_mul(20)
                    .ok_or_else(|| format!("--self-test {n}: too many warnings"))?;
                cloudoptim::demo::synthetic_cluster(n, pods, 7, catalog)
            }
            (None, _) if cluster.is_live() => cluster.snapshot().await?,
            (None, Some(path)) => crate::support::read_kubectl_file(path.as_ref())?.snapshot,
            (None, None) => return Err(
                "--queue-url needs --kubeconfig FILE (with --features kube) or --snapshot FILE.json \
                 (kubectl get … -A -o json of the cluster)"
                    .into(),
            ),
        };
        let snapshot = &snapshot;
        if let Some(n) = self_test {
            queue_url = Some(set_up(&config).await?);
            // Warnings arrive while the consumer runs, 10 ms apart.
            let ids: Vec<String> = snapshot
                .nodes
                .iter()
                .filter_map(|n| n.instance_id.clone())
                .collect();
            tokio::spawn(produce(config.clone(), n, ids));
        }
        let queue_url = queue_url.ok_or("--queue-url URL or --self-test N")?;
        let consumer = SqsConsumer::new(
            &config,
            SqsSettings {
                wait_seconds: if self_test.is_some() { 1 } else { 20 },
                ..SqsSettings::from_env(queue_url)
            },
        );
        let executor = Ec2Executor::new(Ec2::new(&config));
        let policy = InterruptionPolicy::default();
        let mut handler = InterruptionHandler::new();
        let mut latencies_ms = Vec::new();
        let expected = self_test
            .map(|n| n.min(snapshot.nodes.len()))
            .unwrap_or(usize::MAX);
        let mut idle = 0;
        while latencies_ms.len() < expected && idle < 3 {
            let batch = consumer.receive().await?;
            if batch.is_empty() {
                idle += 1;
                continue;
            }
            idle = 0;
            for m in batch {
                match &m.event {
                    Ok(event) => {
                        let outcome = handler.handle(event, snapshot, catalog, &policy, event.time);
                        // The plan, with its cordon, exists now; the latency ends here.
                        let issued = jiff::Timestamp::now();
                        if let (Outcome::Plan { .. }, Some(sent)) = (&outcome, m.sent_at) {
                            latencies_ms
                                .push((issued.as_millisecond() - sent.as_millisecond()) as f64);
                        }
                        if self_test.is_none() {
                            println!(
                                "event {} ({:?}) for {:?}",
                                event.id, event.kind, event.instance_ids
                            );
                            super::print_outcome(&outcome);
                            if let Outcome::InvalidSnapshot { .. } = &outcome {
                                // The handler forgot the event: it is handled
                                // again once SQS shows it again.
                                println!("  not acknowledged: observe the cluster again");
                                continue;
                            }
                            if let Outcome::Plan { plan, .. } = &outcome {
                                let failed = cluster.run(plan, &executor).await;
                                if failed {
                                    // Leave it: SQS shows it again after the visibility timeout.
                                    println!("  not acknowledged: a step failed");
                                    continue;
                                }
                            }
                        }
                    }
                    Err(e) => {
                        let removed = consumer.discard_malformed(&m).await?;
                        println!(
                            "malformed message {} {}: {e}",
                            m.message_id,
                            if removed {
                                "removed"
                            } else {
                                "left for the dead-letter queue"
                            }
                        );
                        continue;
                    }
                }
                consumer.ack(&m.receipt_handle).await?;
            }
        }
        if !latencies_ms.is_empty() {
            latencies_ms.sort_by(f64::total_cmp);
            let pct =
                |p: f64| latencies_ms[((latencies_ms.len() as f64 - 1.0) * p).round() as usize];
            println!(
                "{} interruption warnings: message visible → cordon issued: p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms",
                latencies_ms.len(),
                pct(0.5),
                pct(0.99),
                latencies_ms.last().copied().unwrap_or(0.0)
            );
        }
        Ok(())
    }

    /// A queue and the seed's rule targeting it.
    async fn set_up(config: &aws_config::SdkConfig) -> Result<String, Box<dyn std::error::Error>> {
        let sqs = aws_sdk_sqs::Client::new(config);
        let events = aws_sdk_eventbridge::Client::new(config);
        let name = format!(
            "cloudoptim-selftest-{}",
            jiff::Timestamp::now().as_millisecond()
        );
        let url = sqs
            .create_queue()
            .queue_name(&name)
            .send()
            .await?
            .queue_url()
            .unwrap_or_default()
            .to_owned();
        let arn = sqs
            .get_queue_attributes()
            .queue_url(&url)
            .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
            .send()
            .await?
            .attributes()
            .and_then(|a| {
                a.get(&aws_sdk_sqs::types::QueueAttributeName::QueueArn)
                    .cloned()
            })
            .ok_or("no queue ARN")?;
        let template: serde_json::Value =
            serde_json::from_str(include_str!("../deploy/cloudformation.json"))?;
        let pattern =
            template["Resources"]["SpotInterruptionRule"]["Properties"]["EventPattern"].to_string();
        events
            .put_rule()
            .name(&name)
            .event_pattern(pattern)
            .send()
            .await?;
        events
            .put_targets()
            .rule(&name)
            .targets(
                aws_sdk_eventbridge::types::Target::builder()
                    .id("q")
                    .arn(arn)
                    .build()?,
            )
            .send()
            .await?;
        Ok(url)
    }

    /// `n` spot warnings for the given instances (one per instance: a
    /// repeated instance would be a duplicate drain), 10 ms apart.
    async fn produce(config: aws_config::SdkConfig, n: usize, ids: Vec<String>) {
        let events = aws_sdk_eventbridge::Client::new(&config);
        for i in 0..n.min(ids.len()) {
            let id = &ids[i % ids.len()];
            let detail = format!(r#"{{"instance-id":"{id}","instance-action":"terminate"}}"#);
            events
                .put_events()
                .entries(
                    aws_sdk_eventbridge::types::PutEventsRequestEntry::builder()
                        .source("aws.ec2")
                        .detail_type("EC2 Spot Instance Interruption Warning")
                        .detail(detail)
                        .build(),
                )
                .send()
                .await
                .ok();
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// The cluster the warnings are about: a live one through the
    /// Kubernetes adapter (`--kubeconfig`, feature `kube`), whose executor
    /// runs the whole plan (cordon, drain, and the EC2 steps once their
    /// cluster preconditions hold), or none (EC2 steps only).
    pub struct Cluster {
        #[cfg(feature = "kube")]
        client: Option<cloudoptim::k8s::KubeClient>,
        execute: bool,
    }

    impl Cluster {
        pub async fn connect(
            kubeconfig: Option<&str>,
            execute: bool,
        ) -> Result<Cluster, Box<dyn std::error::Error>> {
            #[cfg(feature = "kube")]
            {
                let client = match kubeconfig {
                    Some(path) => Some(
                        cloudoptim::k8s::KubeClient::from_kubeconfig(
                            Some(std::path::Path::new(path)),
                            None,
                            cloudoptim::k8s::ClientSettings::from_env()?,
                        )
                        .await?,
                    ),
                    None => None,
                };
                Ok(Cluster { client, execute })
            }
            #[cfg(not(feature = "kube"))]
            match kubeconfig {
                Some(_) => {
                    Err("--kubeconfig needs the Kubernetes adapter: add --features kube".into())
                }
                None => Ok(Cluster { execute }),
            }
        }

        pub fn is_live(&self) -> bool {
            #[cfg(feature = "kube")]
            return self.client.is_some();
            #[cfg(not(feature = "kube"))]
            false
        }

        pub async fn snapshot(
            &self,
        ) -> Result<cloudoptim::ClusterSnapshot, Box<dyn std::error::Error>> {
            #[cfg(feature = "kube")]
            if let Some(client) = &self.client {
                let options = cloudoptim::k8s::ObserveOptions::default();
                return Ok(client.observe(&options).await?.snapshot);
            }
            Err("no cluster to read".into())
        }

        /// Run `plan` through the one runner (the cluster's executor when
        /// there is a cluster, and the EC2 executor); true when it did not
        /// complete. Without a cluster its cordon and evictions have no
        /// executor, so the plan is refused whole: nothing half-done.
        pub async fn run(&self, plan: &cloudoptim::plan::Plan, ec2: &Ec2Executor) -> bool {
            let mode = if self.execute {
                Mode::Execute
            } else {
                Mode::DryRun
            };
            let clock = jiff::Timestamp::now;
            #[cfg(feature = "kube")]
            let kube = self
                .client
                .clone()
                .map(|client| cloudoptim::k8s::KubeExecutor::new(client, mode));
            let mut runner = cloudoptim::execute::PlanRunner::new(&clock)
                .with(ec2)
                .mode(mode);
            #[cfg(feature = "kube")]
            if let Some(kube) = &kube {
                runner = runner.with(kube);
            }
            match runner.run(plan).await {
                Ok(run) => {
                    print!("{run}");
                    !run.is_complete()
                }
                Err(refused) => {
                    println!("    {refused} (pass --kubeconfig for the cluster steps)");
                    true
                }
            }
        }
    }
}
