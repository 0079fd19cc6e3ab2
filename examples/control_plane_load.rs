//! Many clusters on one controller: what each costs, and how fast a spot
//! warning becomes a cordon under that load.
//!
//! ```text
//! scripts/control-plane-load                       # starts PostgreSQL, moto and kube-apiserver on loopback, then runs this
//! cargo run --release --features runtime --example control_plane_load -- --clusters 100 --nodes 3 --pods 2 --cycles 3
//! ```
//!
//! It needs the services (no embedded mode): `DATABASE_URL` (or
//! `CLOUDOPTIM_POSTGRES_URL`), an API server (`CLOUDOPTIM_KUBE_APISERVER`,
//! `CLOUDOPTIM_KUBE_ADMIN_TOKEN`, `CLOUDOPTIM_KUBE_CA`, as
//! `scripts/control-plane/start` prints them) and an AWS endpoint
//! (`AWS_ENDPOINT_URL`, moto). The clusters share the one API server, each
//! scoped to its own nodes by a label (`node_selector`); every observation
//! still reads the whole server, so an API server shared by N clusters
//! serves N times what one cluster's own would.
//!
//! Printed: memory per held cluster (resident set growth), CPU and wall
//! time per optimization cycle (observe, plan, nothing to act on: every pod
//! is annotated do-not-disrupt, so consolidation leaves the nodes), the
//! latency from a spot warning sent to the cluster's SQS queue to its node
//! seen cordoned in the API server (listed every 25 ms; p50, p99, max, warnings spread over the
//! clusters at a steady rate), and p50/p99 of the API's read endpoints under
//! a bounded local load (a fixed number of concurrent clients).

use std::collections::{BTreeMap, HashMap};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use cloudoptim::aws::{AwsSettings, SqsSettings};
use cloudoptim::k8s::{ClientSettings, KubeClient, Onboarding, SecretString};
use cloudoptim::plan::Mode;
use cloudoptim::runtime::api::{router, ApiState};
use cloudoptim::runtime::{Controller, ControllerConfig, NewCluster, Secret, Store, TokenKey};
use k8s_openapi::api::core::v1::{Namespace, Node, Pod};
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::task::JoinSet;

type Error = Box<dyn std::error::Error + Send + Sync>;

const LABEL: &str = "cloudoptim.io/load-cluster";

struct Options {
    clusters: usize,
    nodes: usize,
    pods: usize,
    cycles: usize,
    warnings_per_second: f64,
}

fn options() -> Result<Options, String> {
    let mut o = Options {
        clusters: 100,
        nodes: 3,
        pods: 2,
        cycles: 3,
        warnings_per_second: 20.0,
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let v = args.next().ok_or(format!("{a} needs a value"))?;
        let n = || {
            v.parse::<usize>()
                .map_err(|_| format!("{a} {v:?}: not a whole number"))
        };
        match a.as_str() {
            "--clusters" => o.clusters = n()?.max(1),
            "--nodes" => o.nodes = n()?.max(1),
            "--pods" => o.pods = n()?,
            "--cycles" => o.cycles = n()?,
            "--warnings-per-second" => {
                o.warnings_per_second = v
                    .parse::<f64>()
                    .ok()
                    .filter(|r| *r > 0.0)
                    .ok_or(format!("{a} {v:?}: not a positive rate"))?
            }
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    Ok(o)
}

fn var(name: &str) -> Result<String, String> {
    std::env::var(name)
        .ok()
        .filter(|v| !v.is_empty())
        .ok_or(format!(
            "{name} is not set (scripts/control-plane-load sets it)"
        ))
}

fn main() -> ExitCode {
    let result = options()
        .map_err(Error::from)
        .and_then(|o| tokio::runtime::Runtime::new()?.block_on(run(o)));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("control_plane_load: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Resident set size of this process, bytes (Linux).
fn rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .map_or(0, |kb| kb * 1024)
}

/// CPU time of this process (user + system), seconds (Linux).
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which may hold spaces) in parentheses.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    // utime and stime are fields 14 and 15 (11 and 12 after the name);
    // the kernel counts them in USER_HZ, 100 on Linux.
    (ticks(11) + ticks(12)) / 100.0
}

/// One sample's value in the text exposition, as a scraper reads it.
fn scraped(text: &str, name: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0.0)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

async fn run(o: Options) -> Result<(), Error> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let run_id = format!("{:x}", jiff::Timestamp::now().as_millisecond());
    let database = var("DATABASE_URL").or_else(|_| var("CLOUDOPTIM_POSTGRES_URL"))?;
    let endpoint = var("CLOUDOPTIM_KUBE_APISERVER")?;
    let token = var("CLOUDOPTIM_KUBE_ADMIN_TOKEN")?;
    let ca = std::fs::read_to_string(var("CLOUDOPTIM_KUBE_CA")?)?;
    let aws_endpoint = var("AWS_ENDPOINT_URL")?;
    println!(
        "{} clusters × {} nodes × {} pods on one API server, one controller (run {run_id})",
        o.clusters, o.nodes, o.pods
    );

    // The clusters' nodes and pods, each cluster labelled apart.
    let admin = KubeClient::from_onboarding(
        &Onboarding {
            endpoint: endpoint.clone(),
            token: SecretString::from(token.clone()),
            ca_pem: Some(ca.clone()),
        },
        ClientSettings::default(),
    )
    .await?;
    let kube = admin.kube().clone();
    let ns = format!("load-{run_id}");
    Api::<Namespace>::all(kube.clone())
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": ns}}))?,
        )
        .await?;
    let started = Instant::now();
    let mut creating: JoinSet<Result<(), Error>> = JoinSet::new();
    let instance = |c: usize, n: usize| format!("i-0{:0>8x}{:0>8x}", c, n);
    for c in 0..o.clusters {
        let (kube, ns, run_id) = (kube.clone(), ns.clone(), run_id.clone());
        let (nodes, pods) = (o.nodes, o.pods);
        let ids: Vec<String> = (0..nodes).map(|n| instance(c, n)).collect();
        creating.spawn(async move {
            let node_api: Api<Node> = Api::all(kube.clone());
            let pod_api: Api<Pod> = Api::namespaced(kube, &ns);
            for (n, id) in ids.iter().enumerate() {
                let name = format!("load-{run_id}-{c}-{n}");
                node_api
                    .create(
                        &PostParams::default(),
                        &serde_json::from_value(json!({
                            "metadata": {"name": name, "labels": {
                                "node.kubernetes.io/instance-type": "m5.large",
                                "topology.kubernetes.io/zone": "us-east-1a",
                                "kubernetes.io/arch": "amd64", "kubernetes.io/os": "linux",
                                "eks.amazonaws.com/capacityType": "SPOT",
                                LABEL: format!("{run_id}-{c}")}},
                            "spec": {"providerID": format!("aws:///us-east-1a/{id}")},
                        }))?,
                    )
                    .await?;
                let status = json!({"status": {
                    "allocatable": {"cpu": "1930m", "memory": "7Gi", "pods": "29"},
                    "capacity": {"cpu": "2", "memory": "8Gi", "pods": "29"}}});
                node_api
                    .patch_status(&name, &PatchParams::default(), &Patch::Merge(&status))
                    .await?;
                for p in 0..pods {
                    pod_api
                        .create(
                            &PostParams::default(),
                            &serde_json::from_value(json!({
                                "metadata": {"name": format!("{name}-{p}"),
                                    "annotations": {"karpenter.sh/do-not-disrupt": "true"},
                                    "ownerReferences": [{
                                    "apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web",
                                    "uid": "7b1c3a52-0000-4000-8000-00000000000a", "controller": true}]},
                                "spec": {"nodeName": name, "terminationGracePeriodSeconds": 0,
                                    "containers": [{"name": "web", "image": "registry.example/web:1",
                                        "resources": {"requests": {"cpu": "250m", "memory": "256Mi"}}}]},
                            }))?,
                        )
                        .await?;
                }
            }
            Ok(())
        });
        while creating.len() >= 16 {
            if let Some(r) = creating.join_next().await {
                r??;
            }
        }
    }
    while let Some(r) = creating.join_next().await {
        r??;
    }
    println!(
        "  created {} nodes and {} pods in {:.1} s",
        o.clusters * o.nodes,
        o.clusters * o.nodes * o.pods,
        started.elapsed().as_secs_f64()
    );

    // A queue per cluster, and the clusters registered.
    let aws = AwsSettings {
        region: "us-east-1".into(),
        endpoint_url: Some(aws_endpoint.clone()),
        ..AwsSettings::default()
    };
    let sdk = aws.sdk_config().await;
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let key = TokenKey::from_hex(&"4c".repeat(32))?;
    let mut store = Store::connect(&database, key).await?;
    store.migrate().await?;
    let store = Arc::new(store);
    let mut queues = Vec::with_capacity(o.clusters);
    let mut ids = Vec::with_capacity(o.clusters);
    for c in 0..o.clusters {
        let url = sqs
            .create_queue()
            .queue_name(format!("load-{run_id}-{c}"))
            .send()
            .await?
            .queue_url()
            .unwrap_or_default()
            .to_owned();
        let id = store
            .add_cluster(&NewCluster {
                name: format!("load-{run_id}-{c}"),
                region: "us-east-1".into(),
                api_endpoint: endpoint.clone(),
                ca_pem: Some(ca.clone()),
                role_arn: None,
                external_id: None,
                sqs_queue_url: Some(url.clone()),
                node_selector: BTreeMap::from([(LABEL.to_owned(), format!("{run_id}-{c}"))]),
                token: Secret::new(token.clone()),
            })
            .await?;
        ids.push(id);
        queues.push(url);
    }

    // The controller takes them all.
    let mut config = ControllerConfig::new(format!("load-{run_id}"));
    config.max_clusters = o.clusters;
    config.look_interval = Duration::from_millis(200);
    config.cycle_interval = None;
    config.mode = Mode::Execute;
    config.aws = aws;
    config.sqs = SqsSettings {
        wait_seconds: 20,
        ..SqsSettings::from_env(String::new())
    };
    let rss_before = rss_bytes();
    let controller = Arc::new(Controller::new(store.clone(), config)?);
    let metrics = controller.metrics();
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let running = {
        let c = controller.clone();
        let mut s = stopped.clone();
        tokio::spawn(async move {
            c.run(async move {
                let _ = s.wait_for(|v| *v).await;
            })
            .await
        })
    };
    let claiming = Instant::now();
    while metrics.clusters_held.get() < o.clusters as i64 {
        if claiming.elapsed() > Duration::from_secs(120) {
            return Err(format!(
                "only {} of {} clusters claimed in 120 s",
                metrics.clusters_held.get(),
                o.clusters
            )
            .into());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let claimed_s = claiming.elapsed().as_secs_f64();

    // Cycles: every cluster asked at once, `cycles` times over.
    let cycles_done = || {
        ["acted", "nothing_to_do", "failed"]
            .iter()
            .map(|o| metrics.cycles.get_or_create(&[("outcome", *o)]).get())
            .sum::<u64>()
    };
    let mut round_s = Vec::new();
    let (cpu0, cycle_s0, cycle_n0) = (
        cpu_seconds(),
        scraped(&metrics.render(), "cloudoptim_cycle_seconds_sum"),
        cycles_done(),
    );
    for _ in 0..o.cycles {
        let before = cycles_done();
        let t = Instant::now();
        for id in &ids {
            store.request_cycle(*id).await?;
        }
        while cycles_done() < before + o.clusters as u64 {
            if t.elapsed() > Duration::from_secs(300) {
                return Err("a round of cycles did not end in 300 s".into());
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        round_s.push(t.elapsed().as_secs_f64());
    }
    let cycles = cycles_done() - cycle_n0;
    let cpu_per_cycle = (cpu_seconds() - cpu0) / cycles.max(1) as f64;
    let mean_cycle = (scraped(&metrics.render(), "cloudoptim_cycle_seconds_sum") - cycle_s0)
        / cycles.max(1) as f64;
    let failed = metrics.cycles.get_or_create(&[("outcome", "failed")]).get();
    let rss_held = rss_bytes();

    // Warnings: one per cluster, spread over the clusters at a steady
    // rate; each latency ends when the node is seen cordoned.
    let nodes: Api<Node> = Api::all(kube.clone());
    // Seen cordoned: listed with `spec.unschedulable=true` every 25 ms (the
    // latency is known to within that).
    let (seen_tx, mut seen_rx) = tokio::sync::mpsc::unbounded_channel::<(String, Instant)>();
    let watching = {
        let nodes = nodes.clone();
        tokio::spawn(async move {
            let mut seen = std::collections::HashSet::new();
            let params = ListParams::default()
                .labels(LABEL)
                .fields("spec.unschedulable=true");
            loop {
                if let Ok(list) = nodes.list_metadata(&params).await {
                    let at = Instant::now();
                    for n in list.items {
                        let name = n.metadata.name.unwrap_or_default();
                        if seen.insert(name.clone()) && seen_tx.send((name, at)).is_err() {
                            return;
                        }
                    }
                }
                tokio::time::sleep(Duration::from_millis(25)).await;
            }
        })
    };
    let mut sent: HashMap<String, Instant> = HashMap::new();
    let gap = Duration::from_secs_f64(1.0 / o.warnings_per_second);
    let warn_start = Instant::now();
    for (c, url) in queues.iter().enumerate() {
        let node = format!("load-{run_id}-{c}-0");
        let body = json!({"version": "0", "id": format!("load-{run_id}-{c}"),
            "detail-type": "EC2 Spot Instance Interruption Warning", "source": "aws.ec2",
            "account": "123456789012", "time": jiff::Timestamp::now().to_string(), "region": "us-east-1",
            "resources": [], "detail": {"instance-id": instance(c, 0), "instance-action": "terminate"}});
        sent.insert(node, Instant::now());
        sqs.send_message()
            .queue_url(url)
            .message_body(body.to_string())
            .send()
            .await?;
        tokio::time::sleep(gap.saturating_sub(Duration::from_millis(1))).await;
    }
    let mut latencies = Vec::new();
    let deadline = warn_start + Duration::from_secs(120);
    while !sent.is_empty() {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, seen_rx.recv()).await {
            Ok(Some((name, at))) => {
                if let Some(t) = sent.remove(&name) {
                    latencies.push(at.duration_since(t).as_secs_f64());
                }
            }
            _ => break,
        }
    }
    watching.abort();
    let missed = sent.len();
    let text = metrics.render();
    println!(
        "  the controller counted {} warnings taken and {} cordons",
        scraped(
            &text,
            "cloudoptim_events_total{kind=\"spot_interruption_warning\"}"
        ),
        scraped(&text, "cloudoptim_warning_to_cordon_seconds_count")
    );
    latencies.sort_by(f64::total_cmp);

    // The API's read endpoints, 8 clients at once, 250 requests each.
    let api = Arc::new(ApiState {
        store: store.clone(),
        api_key: Some("load".into()),
        holder: format!("load-api-{run_id}"),
        kube_settings: ClientSettings::default(),
        metrics: Some(metrics.clone()),
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move { axum::serve(listener, router(api)).await });
    let mut reads = Vec::new();
    for path in [
        "/api/v1/admin/clusters",
        "/api/v1/optimization/history?limit=50",
        "/api/v1/events/spot-warnings?limit=50",
        "/api/v1/admin/savings",
        "/metrics",
    ] {
        let mut clients: JoinSet<Result<Vec<f64>, Error>> = JoinSet::new();
        for _ in 0..8 {
            clients.spawn(async move {
                let mut took = Vec::with_capacity(250);
                for _ in 0..250 {
                    let t = Instant::now();
                    let mut s = tokio::net::TcpStream::connect(addr).await?;
                    s.write_all(format!("GET {path} HTTP/1.1\r\nhost: load\r\nx-api-key: load\r\nconnection: close\r\n\r\n").as_bytes()).await?;
                    let mut out = Vec::new();
                    s.read_to_end(&mut out).await?;
                    if !out.starts_with(b"HTTP/1.1 200") {
                        return Err(format!("{path}: {}", String::from_utf8_lossy(&out[..out.len().min(200)])).into());
                    }
                    took.push(t.elapsed().as_secs_f64() * 1e3);
                }
                Ok(took)
            });
        }
        let mut all = Vec::new();
        while let Some(r) = clients.join_next().await {
            all.extend(r??);
        }
        all.sort_by(f64::total_cmp);
        reads.push((path, percentile(&all, 0.5), percentile(&all, 0.99)));
    }

    let _ = stop.send(true);
    running.await?;

    println!(
        "  claimed {} clusters in {claimed_s:.1} s; memory {:.2} MiB per held cluster ({:.0} MiB resident in all)",
        o.clusters,
        (rss_held.saturating_sub(rss_before)) as f64 / o.clusters as f64 / 1_048_576.0,
        rss_held as f64 / 1_048_576.0
    );
    println!(
        "  {cycles} cycles ({failed} failed): {:.0} ms CPU and {:.0} ms wall each on average; rounds of {} took {}",
        cpu_per_cycle * 1e3,
        mean_cycle * 1e3,
        o.clusters,
        round_s.iter().map(|s| format!("{s:.1} s")).collect::<Vec<_>>().join(", ")
    );
    println!(
        "  spot warning sent to SQS → node cordoned in the API server, {} warnings at {}/s: p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms{}",
        latencies.len(),
        o.warnings_per_second,
        percentile(&latencies, 0.5) * 1e3,
        percentile(&latencies, 0.99) * 1e3,
        latencies.last().copied().unwrap_or(f64::NAN) * 1e3,
        if missed > 0 { format!("; {missed} NOT cordoned within 120 s") } else { String::new() }
    );
    println!("  API reads, 8 concurrent clients × 250 requests, a new connection each:");
    for (path, p50, p99) in reads {
        println!("    {path:<40} p50 {p50:.1} ms  p99 {p99:.1} ms");
    }

    // Leave the shared server as it was.
    let _ = nodes
        .delete_collection(
            &DeleteParams::default(),
            &ListParams::default().labels(LABEL),
        )
        .await;
    Ok(())
}
