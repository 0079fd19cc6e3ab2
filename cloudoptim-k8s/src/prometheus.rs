//! Container usage from a Prometheus server, over its HTTP API.
//!
//! What to ask and what the answers mean is in
//! [`cloudoptim_core::prometheus`]; this module only sends the queries, with
//! the retry policy of [`ClientSettings`], and reads the bodies. The server
//! is reached either directly ([`PrometheusSource::direct`], e.g. a
//! port-forward or an ingress) or, with nothing exposed, through the API
//! server's service proxy ([`PrometheusSource::via_service_proxy`]), which
//! only needs `get` on `services/proxy` in Prometheus' namespace.
//!
//! ```no_run
//! # async fn example() -> Result<(), cloudoptim_k8s::K8sError> {
//! use cloudoptim_core::prometheus::UsageMetric;
//! use cloudoptim_k8s::{ClientSettings, PrometheusSource};
//!
//! let prometheus = PrometheusSource::direct("http://127.0.0.1:9090", None, ClientSettings::default())?;
//! let end: jiff::Timestamp = "2026-12-01T00:00:00Z".parse().unwrap();
//! let start = end - jiff::SignedDuration::from_hours(7 * 24);
//! let cpu = prometheus.container_usage(UsageMetric::CpuCores, start, end, 60).await?;
//! println!("{} containers", cpu.series.len());
//! # Ok(())
//! # }
//! ```

use cloudoptim_core::prometheus::{
    container_series, parse_range_response, usage_queries, ContainerUsageSeries, PrometheusError,
    RangeAnswer, RangeQuery, UsageMetric,
};
use http_body_util::BodyExt;
use jiff::Timestamp;
use kube::client::Body;
use kube::config::AuthInfo;
use kube::Config;
use secrecy::SecretString;

use crate::client::{KubeClient, Op};
use crate::{ClientSettings, K8sError};

/// Where the Prometheus HTTP API is, and how to reach it.
#[derive(Clone)]
pub struct PrometheusSource {
    client: KubeClient,
    /// Path before `/api/v1/…`: empty, Prometheus' `--web.route-prefix`,
    /// or the API server's service-proxy path.
    prefix: String,
    /// For errors and logs.
    describe: String,
}

impl std::fmt::Debug for PrometheusSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PrometheusSource")
            .field("at", &self.describe)
            .finish_non_exhaustive()
    }
}

impl PrometheusSource {
    /// A Prometheus at `url` (`http://` or `https://`, with any path prefix
    /// it is served under), with an optional bearer token (never logged).
    /// Call it inside a Tokio runtime, as every kube-rs client is made.
    pub fn direct(
        url: &str,
        bearer_token: Option<SecretString>,
        settings: ClientSettings,
    ) -> Result<PrometheusSource, K8sError> {
        let uri: http::Uri = url.parse().map_err(|e| K8sError::Setting {
            setting: "Prometheus URL",
            value: url.to_owned(),
            message: format!("{e}"),
        })?;
        if !matches!(uri.scheme_str(), Some("http" | "https")) || uri.host().is_none() {
            return Err(K8sError::Setting {
                setting: "Prometheus URL",
                value: url.to_owned(),
                message: "expected http://HOST[:PORT][/PREFIX] or https://…".to_owned(),
            });
        }
        let prefix = uri.path().trim_end_matches('/').to_owned();
        let mut config = Config::new(uri);
        if let Some(token) = bearer_token {
            config.auth_info = AuthInfo {
                token: Some(token),
                ..AuthInfo::default()
            };
        }
        Ok(PrometheusSource {
            client: KubeClient::from_config(config, settings)?,
            prefix,
            describe: url.trim_end_matches('/').to_owned(),
        })
    }

    /// A Prometheus inside the cluster, through the API server's service
    /// proxy: `service` is `NAME:PORT` (e.g. `prometheus-k8s:9090`, or
    /// `prometheus-operated:web`).
    pub fn via_service_proxy(client: KubeClient, namespace: &str, service: &str) -> Self {
        let describe = format!("service {namespace}/{service} through the API server");
        PrometheusSource {
            client,
            prefix: format!("/api/v1/namespaces/{namespace}/services/{service}/proxy"),
            describe,
        }
    }

    /// Runs one range query.
    pub async fn query_range(&self, query: &RangeQuery) -> Result<RangeAnswer, K8sError> {
        let form = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(query.params())
            .finish();
        let op = Op::new("query", "prometheus", self.describe.clone());
        let path = format!("{}/api/v1/query_range", self.prefix);
        let (status, body) = self
            .client
            .call(&op, |client| {
                let request = http::Request::post(path.as_str())
                    .header(
                        http::header::CONTENT_TYPE,
                        "application/x-www-form-urlencoded",
                    )
                    .body(Body::from(form.clone().into_bytes()));
                async move {
                    let request = request.map_err(kube::Error::HttpError)?;
                    let response = client.send(request).await?;
                    let status = response.status();
                    let bytes = response.into_body().collect().await?.to_bytes();
                    if status.is_server_error() && status != http::StatusCode::UNPROCESSABLE_ENTITY
                    {
                        // 503 (queue full, starting up) and proxies' 502/504: retry.
                        return Err(kube::Error::Api(
                            kube::core::Status::failure(
                                &String::from_utf8_lossy(&bytes),
                                status.canonical_reason().unwrap_or("server error"),
                            )
                            .with_code(status.as_u16())
                            .boxed(),
                        ));
                    }
                    Ok((status, bytes))
                }
            })
            .await?;
        let text = String::from_utf8_lossy(&body);
        parse_range_response(&text).map_err(|error| match error {
            PrometheusError::NotAnAnswer { .. } if !status.is_success() => K8sError::Api {
                verb: op.verb,
                resource: op.resource.clone(),
                target: op.target.clone(),
                code: status.as_u16(),
                reason: status.canonical_reason().unwrap_or_default().to_owned(),
                message: cloudoptim_core::excerpt::excerpt(&text),
            },
            other => K8sError::Prometheus {
                at: self.describe.clone(),
                error: other,
            },
        })
    }

    /// One series per container of `metric` over `[start, end]` at
    /// `step_seconds`, split into as many queries as Prometheus' point limit
    /// needs and joined again.
    pub async fn container_usage(
        &self,
        metric: UsageMetric,
        start: Timestamp,
        end: Timestamp,
        step_seconds: u32,
    ) -> Result<ContainerUsageSeries, K8sError> {
        let queries = usage_queries(metric, start, end, step_seconds).map_err(|error| {
            K8sError::Prometheus {
                at: self.describe.clone(),
                error,
            }
        })?;
        let mut answers = Vec::with_capacity(queries.len());
        for query in &queries {
            answers.push(self.query_range(query).await?);
        }
        let usage = container_series(metric, answers);
        tracing::debug!(
            at = %self.describe,
            ?metric,
            queries = queries.len(),
            containers = usage.series.len(),
            skipped_series = usage.skipped_series,
            skipped_samples = usage.skipped_samples,
            "read container usage from Prometheus"
        );
        for warning in &usage.warnings {
            tracing::warn!(at = %self.describe, %warning, "Prometheus warned");
        }
        Ok(usage)
    }
}
