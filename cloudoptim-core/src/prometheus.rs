//! Prometheus' HTTP API without the HTTP: the range queries CloudOptim asks
//! for container usage, and the parser for Prometheus' answers.
//!
//! Most clusters already run a Prometheus scraping cAdvisor, so weeks of
//! per-container usage are one query away. The Kubernetes adapter
//! (`cloudoptim_k8s::prometheus`) sends these queries; everything that
//! decides what to ask and what the answer means lives here, pure.
//!
//! ```
//! use cloudoptim_core::prometheus::{parse_range_response, usage_queries, UsageMetric};
//! use jiff::Timestamp;
//!
//! let end: Timestamp = "2026-12-01T00:00:00Z".parse().unwrap();
//! let start = end - jiff::SignedDuration::from_hours(7 * 24);
//! // Seven days at one-minute steps is 10,081 points: one query.
//! let queries = usage_queries(UsageMetric::MemoryWorkingSetBytes, start, end, 60).unwrap();
//! assert_eq!(queries.len(), 1);
//!
//! let body = r#"{"status":"success","data":{"resultType":"matrix","result":[
//!   {"metric":{"namespace":"shop","pod":"web-1","container":"web"},
//!    "values":[[1796083200,"314572800"],[1796083260,"NaN"]]}]}}"#;
//! let answer = parse_range_response(body).unwrap();
//! let usage = answer.container_series(UsageMetric::MemoryWorkingSetBytes);
//! assert_eq!(usage.series[0].samples.len(), 1); // NaN is "no data", not a sample
//! assert_eq!(usage.skipped_samples, 1);
//! ```

use std::collections::BTreeMap;

use jiff::{SignedDuration, Timestamp};
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::excerpt::excerpt;

/// Prometheus refuses range queries of more than 11,000 points per series.
pub const MAX_POINTS_PER_QUERY: u32 = 11_000;

/// Window of the CPU counter's `rate()`: five minutes, so that it spans at
/// least four scrapes at the usual 15–60 s scrape intervals.
pub const CPU_RATE_WINDOW_SECONDS: u32 = 300;

/// A container usage metric, as cAdvisor exports it through the kubelet.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum UsageMetric {
    /// CPU in cores: the per-second rate of `container_cpu_usage_seconds_total`.
    CpuCores,
    /// `container_memory_working_set_bytes`, what the kubelet evicts and the
    /// OOM killer acts on (the VPA's memory signal too).
    MemoryWorkingSetBytes,
}

impl UsageMetric {
    /// The PromQL expression, one series per (namespace, pod, container).
    ///
    /// The pod-level cgroup (`container=""`) and the pause container
    /// (`container="POD"`) are excluded: neither is a container anyone sets
    /// requests for.
    pub fn promql(self) -> String {
        const REAL: &str = r#"container!="",container!="POD""#;
        match self {
            Self::CpuCores => format!(
                "sum by (namespace, pod, container) \
                 (rate(container_cpu_usage_seconds_total{{{REAL}}}[{CPU_RATE_WINDOW_SECONDS}s]))"
            ),
            Self::MemoryWorkingSetBytes => format!(
                "max by (namespace, pod, container) (container_memory_working_set_bytes{{{REAL}}})"
            ),
        }
    }
}

/// One `GET /api/v1/query_range` request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RangeQuery {
    /// The PromQL expression.
    pub query: String,
    /// First evaluation instant.
    pub start: Timestamp,
    /// Last evaluation instant (inclusive).
    pub end: Timestamp,
    /// Seconds between evaluation instants.
    pub step_seconds: u32,
}

impl RangeQuery {
    /// The request's parameters, in the form Prometheus reads them
    /// (RFC 3339 instants, the step in seconds); the adapter URL-encodes them.
    pub fn params(&self) -> [(&'static str, String); 4] {
        [
            ("query", self.query.clone()),
            ("start", self.start.to_string()),
            ("end", self.end.to_string()),
            ("step", format!("{}s", self.step_seconds)),
        ]
    }
}

/// Why queries could not be built or an answer not read.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum PrometheusError {
    /// The step is zero.
    #[error("a Prometheus query step must be at least 1 second")]
    ZeroStep,
    /// The window ends before it starts.
    #[error("the query window ends ({end}) before it starts ({start})")]
    EmptyWindow {
        /// Start asked for.
        start: Timestamp,
        /// End asked for.
        end: Timestamp,
    },
    /// The body is not the JSON Prometheus answers with.
    #[error("Prometheus' answer is not its API's JSON ({why}): {body}")]
    NotAnAnswer {
        /// What did not match.
        why: String,
        /// The body, shortened.
        body: String,
    },
    /// Prometheus answered with an error.
    #[error("Prometheus refused the query ({error_type}): {message}")]
    Refused {
        /// `errorType`, e.g. `bad_data`, `timeout`, `execution`.
        error_type: String,
        /// `error`, Prometheus' own words.
        message: String,
    },
    /// A range query answered with another result type.
    #[error("expected a range query's `matrix` result, got `{found}`")]
    NotAMatrix {
        /// The `resultType` found.
        found: String,
    },
    /// A sample is not `[seconds, "value"]`.
    #[error("series {series} sample {index}: {why}: {value}")]
    BadSample {
        /// The series' labels, as PromQL would print them.
        series: String,
        /// Position of the sample in the series.
        index: usize,
        /// The sample as written, shortened.
        value: String,
        /// What was expected.
        why: &'static str,
    },
}

/// The range queries that cover `[start, end]` at `step_seconds` for
/// `metric`, split so that none asks for more than
/// [`MAX_POINTS_PER_QUERY`] points; consecutive queries never share an
/// instant, so their answers concatenate without duplicates.
pub fn usage_queries(
    metric: UsageMetric,
    start: Timestamp,
    end: Timestamp,
    step_seconds: u32,
) -> Result<Vec<RangeQuery>, PrometheusError> {
    if step_seconds == 0 {
        return Err(PrometheusError::ZeroStep);
    }
    if end < start {
        return Err(PrometheusError::EmptyWindow { start, end });
    }
    let step = SignedDuration::from_secs(i64::from(step_seconds));
    let span = step * (i32::try_from(MAX_POINTS_PER_QUERY - 1).unwrap_or(i32::MAX));
    let query = metric.promql();
    let mut out = Vec::new();
    let mut from = start;
    while from <= end {
        let to = from.checked_add(span).map_or(end, |t| t.min(end));
        out.push(RangeQuery {
            query: query.clone(),
            start: from,
            end: to,
            step_seconds,
        });
        match to.checked_add(step) {
            Ok(next) => from = next,
            Err(_) => break,
        }
    }
    Ok(out)
}

/// One observation of a series.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Sample {
    /// Evaluation instant.
    pub at: Timestamp,
    /// The value (`NaN` and infinities are kept here; see
    /// [`RangeAnswer::container_series`]).
    pub value: f64,
}

/// One series of a matrix answer.
#[derive(Clone, Debug, PartialEq)]
pub struct Series {
    /// The series' labels.
    pub labels: BTreeMap<String, String>,
    /// Its samples, in time order.
    pub samples: Vec<Sample>,
}

/// A range query's answer.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RangeAnswer {
    /// Every series returned.
    pub series: Vec<Series>,
    /// Prometheus' warnings (e.g. a partial answer from a federated store).
    pub warnings: Vec<String>,
}

/// Which container a usage series belongs to.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ContainerKey {
    /// Pod namespace.
    pub namespace: String,
    /// Pod name.
    pub pod: String,
    /// Container name.
    pub container: String,
}

/// One container's usage over time.
#[derive(Clone, Debug, PartialEq)]
pub struct ContainerSeries {
    /// The container.
    pub key: ContainerKey,
    /// What was measured.
    pub metric: UsageMetric,
    /// Finite, non-negative samples in time order, one per instant.
    pub samples: Vec<Sample>,
}

/// Container series read from one or more answers, with what was left out.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ContainerUsageSeries {
    /// One entry per container, sorted by key.
    pub series: Vec<ContainerSeries>,
    /// Series without a `namespace`, `pod` or `container` label.
    pub skipped_series: usize,
    /// Samples that were `NaN`, infinite or negative (no data, not usage).
    pub skipped_samples: usize,
    /// Warnings Prometheus sent with the answers.
    pub warnings: Vec<String>,
}

impl RangeAnswer {
    /// This answer's series as container usage (see [`container_series`]).
    pub fn container_series(self, metric: UsageMetric) -> ContainerUsageSeries {
        container_series(metric, [self])
    }
}

/// Joins the answers of the queries [`usage_queries`] built into one series
/// per container. A sample that is `NaN`, infinite or negative is no data
/// (a stale series, a counter glitch) and is counted, not kept; a repeated
/// instant keeps its first value.
pub fn container_series(
    metric: UsageMetric,
    answers: impl IntoIterator<Item = RangeAnswer>,
) -> ContainerUsageSeries {
    let mut out = ContainerUsageSeries::default();
    let mut by_key: BTreeMap<ContainerKey, Vec<Sample>> = BTreeMap::new();
    for answer in answers {
        out.warnings.extend(answer.warnings);
        for series in answer.series {
            let label = |name: &str| series.labels.get(name).filter(|v| !v.is_empty()).cloned();
            let (Some(namespace), Some(pod), Some(container)) =
                (label("namespace"), label("pod"), label("container"))
            else {
                out.skipped_series += 1;
                continue;
            };
            let samples = by_key
                .entry(ContainerKey {
                    namespace,
                    pod,
                    container,
                })
                .or_default();
            for sample in series.samples {
                if sample.value.is_finite() && sample.value >= 0.0 {
                    samples.push(sample);
                } else {
                    out.skipped_samples += 1;
                }
            }
        }
    }
    out.series = by_key
        .into_iter()
        .map(|(key, mut samples)| {
            samples.sort_by_key(|s| s.at);
            samples.dedup_by_key(|s| s.at);
            ContainerSeries {
                key,
                metric,
                samples,
            }
        })
        .collect();
    out
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Envelope<'a> {
    status: String,
    #[serde(borrow)]
    data: Option<&'a RawValue>,
    error_type: Option<String>,
    error: Option<String>,
    #[serde(default)]
    warnings: Vec<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Data<'a> {
    result_type: String,
    #[serde(borrow)]
    result: Vec<RawSeries<'a>>,
}

#[derive(Deserialize)]
struct RawSeries<'a> {
    #[serde(default)]
    metric: BTreeMap<String, String>,
    #[serde(default, borrow)]
    values: Vec<&'a RawValue>,
}

/// Reads the body of a `query_range` answer (success or error).
///
/// Values are Prometheus' strings: decimal numbers, `NaN`, `+Inf`, `-Inf`.
pub fn parse_range_response(body: &str) -> Result<RangeAnswer, PrometheusError> {
    let not_an_answer = |why: String| PrometheusError::NotAnAnswer {
        why,
        body: excerpt(body),
    };
    let envelope: Envelope<'_> =
        serde_json::from_str(body).map_err(|e| not_an_answer(e.to_string()))?;
    match envelope.status.as_str() {
        "success" => {}
        "error" => {
            return Err(PrometheusError::Refused {
                error_type: envelope.error_type.unwrap_or_default(),
                message: envelope.error.unwrap_or_default(),
            })
        }
        other => return Err(not_an_answer(format!("status `{}`", excerpt(other)))),
    }
    let data = envelope
        .data
        .ok_or_else(|| not_an_answer("no `data`".to_owned()))?;
    let data: Data<'_> =
        serde_json::from_str(data.get()).map_err(|e| not_an_answer(format!("data: {e}")))?;
    if data.result_type != "matrix" {
        return Err(PrometheusError::NotAMatrix {
            found: excerpt(&data.result_type),
        });
    }
    let series = data
        .result
        .into_iter()
        .map(|raw| {
            let samples = raw
                .values
                .iter()
                .enumerate()
                .map(|(index, value)| {
                    parse_sample(value.get()).map_err(|why| PrometheusError::BadSample {
                        series: promql_labels(&raw.metric),
                        index,
                        value: excerpt(value.get()),
                        why,
                    })
                })
                .collect::<Result<Vec<_>, _>>()?;
            Ok(Series {
                labels: raw.metric,
                samples,
            })
        })
        .collect::<Result<Vec<_>, PrometheusError>>()?;
    Ok(RangeAnswer {
        series,
        warnings: envelope.warnings,
    })
}

fn parse_sample(text: &str) -> Result<Sample, &'static str> {
    let (seconds, value): (f64, String) =
        serde_json::from_str(text).map_err(|_| "expected [seconds since the epoch, \"value\"]")?;
    if !seconds.is_finite() {
        return Err("the instant is not a number of seconds");
    }
    let whole = seconds.floor();
    // Prometheus instants carry milliseconds at most.
    let millis = ((seconds - whole) * 1000.0).round();
    let at = if (-8.0e12..8.0e12).contains(&whole) {
        Timestamp::from_second(whole as i64)
            .and_then(|t| t.checked_add(SignedDuration::from_millis(millis as i64)))
            .map_err(|_| "the instant is out of range")?
    } else {
        return Err("the instant is out of range");
    };
    let value = match value.as_str() {
        "NaN" => f64::NAN,
        "+Inf" | "Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        text => text
            .parse::<f64>()
            .map_err(|_| "the value is not a number")?,
    };
    Ok(Sample { at, value })
}

fn promql_labels(labels: &BTreeMap<String, String>) -> String {
    let inner: Vec<String> = labels
        .iter()
        .map(|(k, v)| format!("{k}={}", excerpt(&format!("{v:?}"))))
        .collect();
    format!("{{{}}}", inner.join(","))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn queries_cover_the_window_without_overlap() {
        let start = at("2026-11-01T00:00:00Z");
        let end = at("2026-11-15T00:00:00Z");
        let queries = usage_queries(UsageMetric::CpuCores, start, end, 60).unwrap();
        assert_eq!(queries.len(), 2);
        assert_eq!(queries[0].start, start);
        assert_eq!(queries[1].end, end);
        for q in &queries {
            let points = (q.end - q.start).as_secs() / 60 + 1;
            assert!(points <= i64::from(MAX_POINTS_PER_QUERY), "{points}");
        }
        assert_eq!(
            queries[1].start,
            queries[0].end + SignedDuration::from_secs(60)
        );
        assert!(queries[0]
            .query
            .contains("container_cpu_usage_seconds_total"));
        assert!(queries[0].query.contains(r#"container!="POD""#));
    }

    #[test]
    fn degenerate_windows_are_errors_not_loops() {
        let t = at("2026-11-01T00:00:00Z");
        assert_eq!(
            usage_queries(UsageMetric::CpuCores, t, t, 0),
            Err(PrometheusError::ZeroStep)
        );
        assert!(matches!(
            usage_queries(
                UsageMetric::CpuCores,
                t,
                t - SignedDuration::from_secs(1),
                60
            ),
            Err(PrometheusError::EmptyWindow { .. })
        ));
        assert_eq!(
            usage_queries(UsageMetric::CpuCores, t, t, 60)
                .unwrap()
                .len(),
            1
        );
        let last = Timestamp::MAX - SignedDuration::from_secs(30);
        assert_eq!(
            usage_queries(UsageMetric::CpuCores, last, Timestamp::MAX, 60)
                .unwrap()
                .len(),
            1
        );
    }

    #[test]
    fn errors_are_prometheus_own_words() {
        let body = r#"{"status":"error","errorType":"bad_data","error":"invalid parameter \"query\": 1:5: parse error"}"#;
        assert_eq!(
            parse_range_response(body),
            Err(PrometheusError::Refused {
                error_type: "bad_data".into(),
                message: r#"invalid parameter "query": 1:5: parse error"#.into()
            })
        );
        let vector = r#"{"status":"success","data":{"resultType":"vector","result":[]}}"#;
        assert_eq!(
            parse_range_response(vector),
            Err(PrometheusError::NotAMatrix {
                found: "vector".into()
            })
        );
        let html = "<html>404 page not found</html>";
        assert!(matches!(
            parse_range_response(html),
            Err(PrometheusError::NotAnAnswer { .. })
        ));
    }

    #[test]
    fn bad_samples_name_their_series_and_position() {
        let body = r#"{"status":"success","data":{"resultType":"matrix","result":[
            {"metric":{"pod":"a"},"values":[[1,"1"],[2,"one"]]}]}}"#;
        let Err(PrometheusError::BadSample {
            series,
            index,
            value,
            ..
        }) = parse_range_response(body)
        else {
            panic!("accepted a bad sample")
        };
        assert_eq!(
            (series.as_str(), index, value.as_str()),
            (r#"{pod="a"}"#, 1, r#"[2,"one"]"#)
        );
        for bad in [r#"[1e300,"1"]"#, r#"["1","1"]"#, r#"[1]"#, r#"{"t":1}"#] {
            let body = format!(
                r#"{{"status":"success","data":{{"resultType":"matrix","result":[{{"metric":{{}},"values":[{bad}]}}]}}}}"#
            );
            assert!(
                matches!(
                    parse_range_response(&body),
                    Err(PrometheusError::BadSample { .. })
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn container_series_join_chunks_and_drop_no_data() {
        let body = |values: &str| {
            format!(
                r#"{{"status":"success","warnings":["partial"],"data":{{"resultType":"matrix","result":[
                {{"metric":{{"namespace":"n","pod":"p","container":"c"}},"values":{values}}},
                {{"metric":{{"namespace":"n","pod":"p"}},"values":[[1,"5"]]}}]}}}}"#
            )
        };
        let first = parse_range_response(&body(r#"[[60,"1.5"],[120,"+Inf"]]"#)).unwrap();
        let second = parse_range_response(&body(r#"[[120.25,"-1"],[180,"2"],[60,"9"]]"#)).unwrap();
        let usage = container_series(UsageMetric::CpuCores, [first, second]);
        assert_eq!(usage.skipped_series, 2);
        assert_eq!(usage.skipped_samples, 2);
        assert_eq!(usage.warnings.len(), 2);
        let values: Vec<f64> = usage.series[0].samples.iter().map(|s| s.value).collect();
        assert_eq!(values, [1.5, 2.0]);
    }
}
