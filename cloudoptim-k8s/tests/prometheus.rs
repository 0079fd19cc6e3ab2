//! The Prometheus source against a real Prometheus (Debian's package),
//! started on loopback by `scripts/test` (`scripts/prometheus/start`) with
//! its TSDB backfilled by `promtool tsdb create-blocks-from openmetrics`
//! from generated cAdvisor-style series. The tests read the same
//! OpenMetrics file and check that what comes back is what went in.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::time::Duration;

use cloudoptim_core::prometheus::{
    ContainerKey, PrometheusError, RangeQuery, UsageMetric, MAX_POINTS_PER_QUERY,
};
use cloudoptim_k8s::{ClientSettings, K8sError, PrometheusSource};
use jiff::{SignedDuration, Timestamp};

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!(
            "{name} is not set: these tests need the Prometheus that ./scripts/test \
             starts on loopback (scripts/prometheus/start)"
        )
    })
}

fn settings() -> ClientSettings {
    ClientSettings {
        timeout: Duration::from_secs(20),
        retry_attempts: 1,
        retry_base_delay: Duration::from_millis(100),
    }
}

fn source() -> PrometheusSource {
    PrometheusSource::direct(&env("CLOUDOPTIM_PROMETHEUS_URL"), None, settings()).unwrap()
}

/// The backfilled samples: metric → container → (seconds, value).
type Backfill = BTreeMap<String, BTreeMap<ContainerKey, Vec<(i64, f64)>>>;

fn backfill() -> Backfill {
    let text = std::fs::read_to_string(env("CLOUDOPTIM_PROMETHEUS_BACKFILL")).unwrap();
    let mut out = Backfill::new();
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let (name, rest) = line.split_once('{').unwrap();
        let (labels, rest) = rest.split_once("} ").unwrap();
        let labels: BTreeMap<&str, &str> = labels
            .split(',')
            .map(|pair| {
                let (k, v) = pair.split_once('=').unwrap();
                (k, v.trim_matches('"'))
            })
            .collect();
        let (value, seconds) = rest.split_once(' ').unwrap();
        let key = ContainerKey {
            namespace: labels["namespace"].to_owned(),
            pod: labels["pod"].to_owned(),
            container: labels["container"].to_owned(),
        };
        out.entry(name.to_owned())
            .or_default()
            .entry(key)
            .or_default()
            .push((seconds.parse().unwrap(), value.parse().unwrap()));
    }
    out
}

fn real(key: &ContainerKey) -> bool {
    !key.container.is_empty() && key.container != "POD"
}

fn window(samples: &[(i64, f64)]) -> (Timestamp, Timestamp) {
    let at = |s: i64| Timestamp::from_second(s).unwrap();
    (at(samples[0].0), at(samples[samples.len() - 1].0))
}

#[tokio::test]
async fn memory_comes_back_exactly_as_backfilled_and_only_for_real_containers() {
    let backfill = backfill();
    let memory = &backfill["container_memory_working_set_bytes"];
    let (start, end) = window(memory.values().next().unwrap());
    let usage = source()
        .container_usage(UsageMetric::MemoryWorkingSetBytes, start, end, 60)
        .await
        .unwrap();
    let expected: Vec<&ContainerKey> = memory.keys().filter(|k| real(k)).collect();
    let got: Vec<&ContainerKey> = usage.series.iter().map(|s| &s.key).collect();
    assert_eq!(
        got, expected,
        "the pod cgroup and the pause container are left out"
    );
    assert_eq!((usage.skipped_series, usage.skipped_samples), (0, 0));
    for series in &usage.series {
        let want: Vec<(i64, f64)> = memory[&series.key].clone();
        let have: Vec<(i64, f64)> = series
            .samples
            .iter()
            .map(|s| (s.at.as_second(), s.value))
            .collect();
        assert_eq!(have, want, "{:?}", series.key);
    }
}

#[tokio::test]
async fn a_window_over_the_point_limit_is_split_and_joined_without_duplicates() {
    let backfill = backfill();
    let memory = &backfill["container_memory_working_set_bytes"];
    let (start, end) = window(memory.values().next().unwrap());
    let step = 10;
    let points = (end - start).as_secs() / step + 1;
    assert!(points > i64::from(MAX_POINTS_PER_QUERY), "{points}");
    let usage = source()
        .container_usage(UsageMetric::MemoryWorkingSetBytes, start, end, step as u32)
        .await
        .unwrap();
    for series in &usage.series {
        assert_eq!(series.samples.len() as i64, points, "{:?}", series.key);
        // Between scrapes, Prometheus answers with the last sample.
        let want = &memory[&series.key];
        for sample in &series.samples {
            let t = sample.at.as_second();
            let last = want.iter().rev().find(|(s, _)| *s <= t).unwrap();
            assert_eq!(sample.value, last.1, "{:?} at {t}", series.key);
        }
    }
}

#[tokio::test]
async fn cpu_is_the_counter_rate_in_cores_across_a_restart() {
    let backfill = backfill();
    let counters = &backfill["container_cpu_usage_seconds_total"];
    let (start, end) = window(counters.values().next().unwrap());
    let usage = source()
        .container_usage(UsageMetric::CpuCores, start, end, 300)
        .await
        .unwrap();
    assert_eq!(
        usage.series.len(),
        counters.keys().filter(|k| real(k)).count()
    );
    let mut compared = 0;
    for series in &usage.series {
        let counter = &counters[&series.key];
        for sample in &series.samples {
            let t = sample.at.as_second();
            // rate() over 5 minutes sees the samples in (t-300, t]: the
            // increase between the first and the last of them, per second.
            let inside: Vec<&(i64, f64)> = counter
                .iter()
                .filter(|(s, _)| *s > t - 300 && *s <= t)
                .collect();
            if inside.len() < 2 || inside.windows(2).any(|w| w[1].1 < w[0].1) {
                continue; // the window start, or the counter reset
            }
            let (first, last) = (inside[0], inside[inside.len() - 1]);
            let cores = (last.1 - first.1) / (last.0 - first.0) as f64;
            let error = (sample.value - cores).abs() / cores;
            assert!(
                error < 0.01,
                "{:?} at {t}: {} vs {cores}",
                series.key,
                sample.value
            );
            compared += 1;
        }
        // Across the reset the rate stays a rate, never a negative jump.
        assert!(series.samples.iter().all(|s| s.value >= 0.0));
    }
    assert!(compared > 1_000, "{compared}");
}

#[tokio::test]
async fn a_bad_query_is_refused_in_prometheus_words() {
    let now = Timestamp::from_second(1_700_000_000).unwrap();
    let query = RangeQuery {
        query: "rate(container_cpu_usage_seconds_total[5m]".to_owned(),
        start: now - SignedDuration::from_secs(600),
        end: now,
        step_seconds: 60,
    };
    let error = source().query_range(&query).await.unwrap_err();
    match error {
        K8sError::Prometheus {
            error:
                PrometheusError::Refused {
                    error_type,
                    message,
                },
            ..
        } => {
            assert_eq!(error_type, "bad_data");
            assert!(message.contains("parse error"), "{message}");
        }
        other => panic!("expected Prometheus' refusal, got {other}"),
    }
}

#[tokio::test]
async fn an_unreachable_server_is_unavailable_and_a_bad_url_is_named() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let closed =
        PrometheusSource::direct(&format!("http://127.0.0.1:{port}"), None, settings()).unwrap();
    let now = Timestamp::from_second(1_700_000_000).unwrap();
    let error = closed
        .container_usage(UsageMetric::CpuCores, now, now, 60)
        .await
        .unwrap_err();
    assert!(error.is_unavailable(), "{error}");
    for bad in ["127.0.0.1:9090", "ftp://host", "http://"] {
        let error = PrometheusSource::direct(bad, None, settings()).unwrap_err();
        assert!(error.to_string().contains(bad), "{error}");
    }
}

/// The backfilled series, read back from Prometheus, become histograms
/// keyed by each pod's workload, and the rightsizing engine recommends from
/// them: memory never below the largest working set that was backfilled.
#[tokio::test]
async fn series_from_prometheus_feed_the_histograms_and_the_recommendation() {
    use cloudoptim_core::catalog::Catalog;
    use cloudoptim_core::rightsizing::{recommend, RightsizingPolicy};
    use cloudoptim_core::usage::{UsageHistograms, UsageOptions};

    let backfill = backfill();
    let memory = &backfill["container_memory_working_set_bytes"];
    let (start, end) = window(memory.values().next().unwrap());
    let source = source();
    let mut usage = UsageHistograms::new(UsageOptions::default());
    // Every pod of the backfill is a replica of one Deployment per namespace.
    let mut pods = std::collections::BTreeSet::new();
    for key in memory.keys().filter(|k| real(k)) {
        pods.insert((key.namespace.clone(), key.pod.clone()));
    }
    let items: Vec<serde_json::Value> = pods
        .iter()
        .map(|(namespace, pod)| {
            serde_json::json!({"kind": "Pod", "apiVersion": "v1",
                "metadata": {"name": pod, "namespace": namespace, "ownerReferences": [
                    {"apiVersion": "apps/v1", "kind": "Deployment", "name": "app",
                     "uid": "u", "controller": true}]},
                "spec": {"containers": []}, "status": {"phase": "Running"}})
        })
        .collect();
    let list = serde_json::json!({"kind": "List", "apiVersion": "v1", "items": items});
    let snapshot = cloudoptim_core::kubectl::read_list(&list.to_string())
        .unwrap()
        .snapshot;
    let mut samples = 0;
    for metric in [UsageMetric::CpuCores, UsageMetric::MemoryWorkingSetBytes] {
        let series = source
            .container_usage(metric, start, end, 60)
            .await
            .unwrap();
        let report = usage.ingest_container_series(&series, &snapshot);
        assert_eq!(report.pods_not_in_snapshot, 0);
        assert_eq!(report.series, series.series.len());
        samples += report.cpu_samples + report.memory_samples;
    }
    assert!(samples > 0);
    // One key per namespace and container: the pods' samples merged.
    let containers: std::collections::BTreeSet<(String, String)> = memory
        .keys()
        .filter(|k| real(k))
        .map(|k| (k.namespace.clone(), k.container.clone()))
        .collect();
    assert_eq!(usage.len(), containers.len());
    for (key, h) in usage.iter() {
        assert_eq!(key.owner.kind, "Deployment");
        let peak = memory
            .iter()
            .filter(|(k, _)| k.namespace == key.namespace && k.container == key.container)
            .flat_map(|(_, s)| s.iter().map(|(_, v)| *v))
            .fold(0.0, f64::max);
        assert_eq!(h.max_memory_bytes, peak, "{key}");
        assert!(h.cpu_samples > 0, "{key}");
    }
    let policy = RightsizingPolicy {
        force: true,
        ..RightsizingPolicy::default()
    };
    let report = recommend(
        &snapshot,
        Catalog::embedded().unwrap(),
        "us-east-1",
        &usage,
        &policy,
        end,
    );
    assert_eq!(report.findings.len(), usage.len());
    for f in &report.findings {
        let peak = usage.get(&f.key).unwrap().max_memory_bytes;
        assert!(f.memory.target as f64 >= peak, "{}: {:?}", f.key, f.memory);
    }
}
