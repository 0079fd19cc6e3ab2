//! A client for a cluster's remote API, with the timeouts and retries the
//! operator configured.
//!
//! Three ways in, the ones a platform engineer expects:
//! [`KubeClient::from_kubeconfig`], [`KubeClient::in_cluster`], and
//! [`KubeClient::from_onboarding`] for what a customer hands over at
//! onboarding (API endpoint, ServiceAccount token, CA). Tokens are held as
//! [`SecretString`]s: they never appear in `Debug` output or logs.
//!
//! Every request goes through the same policy: a per-request timeout
//! (`K8S_API_TIMEOUT_SECONDS`, 30 s by default) and up to
//! `K8S_API_RETRY_ATTEMPTS` retries (3 by default) with exponential backoff
//! on 429, 5xx and transport failures. A 403 becomes
//! [`K8sError::Forbidden`] naming the verb and resource refused.

use std::fmt;
use std::future::Future;
use std::path::Path;
use std::time::Duration;

use base64::prelude::{Engine as _, BASE64_STANDARD};
use kube::config::{
    AuthInfo, Cluster, Context, KubeConfigOptions, Kubeconfig, NamedAuthInfo, NamedCluster,
    NamedContext,
};
use kube::{Client, Config};
use secrecy::SecretString;

use crate::error::K8sError;

/// Timeouts and retries for every request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientSettings {
    /// How long one request may take (`K8S_API_TIMEOUT_SECONDS`).
    pub timeout: Duration,
    /// Retries after a first failed attempt (`K8S_API_RETRY_ATTEMPTS`).
    pub retry_attempts: u32,
    /// First backoff delay; it doubles on each retry, up to 5 s.
    pub retry_base_delay: Duration,
}

impl Default for ClientSettings {
    /// 30 s timeout, 3 retries from 250 ms: the seed's configuration.
    fn default() -> Self {
        ClientSettings {
            timeout: Duration::from_secs(30),
            retry_attempts: 3,
            retry_base_delay: Duration::from_millis(250),
        }
    }
}

impl ClientSettings {
    /// The defaults, overridden by `K8S_API_TIMEOUT_SECONDS` and
    /// `K8S_API_RETRY_ATTEMPTS` when they are set.
    pub fn from_env() -> Result<ClientSettings, K8sError> {
        ClientSettings::from_vars(|name| std::env::var(name).ok())
    }

    /// The defaults, overridden by the variables `var` returns (the
    /// environment, a config file, a test's map).
    pub fn from_vars(
        var: impl Fn(&'static str) -> Option<String>,
    ) -> Result<ClientSettings, K8sError> {
        let number = |name: &'static str| -> Result<Option<u64>, K8sError> {
            match var(name) {
                None => Ok(None),
                Some(value) => {
                    value
                        .trim()
                        .parse::<u64>()
                        .map(Some)
                        .map_err(|e| K8sError::Setting {
                            setting: name,
                            value,
                            message: e.to_string(),
                        })
                }
            }
        };
        let mut settings = ClientSettings::default();
        if let Some(seconds) = number("K8S_API_TIMEOUT_SECONDS")? {
            if seconds == 0 {
                return Err(K8sError::Setting {
                    setting: "K8S_API_TIMEOUT_SECONDS",
                    value: "0".into(),
                    message: "a timeout must be at least 1 second".into(),
                });
            }
            settings.timeout = Duration::from_secs(seconds);
        }
        if let Some(attempts) = number("K8S_API_RETRY_ATTEMPTS")? {
            settings.retry_attempts = u32::try_from(attempts).map_err(|_| K8sError::Setting {
                setting: "K8S_API_RETRY_ATTEMPTS",
                value: attempts.to_string(),
                message: "too many retries".into(),
            })?;
        }
        Ok(settings)
    }

    fn backoff(&self, retry: u32) -> Duration {
        let factor = 1u32 << retry.min(8);
        self.retry_base_delay
            .saturating_mul(factor)
            .min(Duration::from_secs(5))
    }
}

/// What a customer hands over at onboarding: the API endpoint, a
/// ServiceAccount token and the cluster's CA certificate.
#[derive(Clone)]
pub struct Onboarding {
    /// API server URL (`https://…`).
    pub endpoint: String,
    /// The ServiceAccount's bearer token.
    pub token: SecretString,
    /// The cluster CA, PEM; `None` trusts the system roots.
    pub ca_pem: Option<String>,
}

impl fmt::Debug for Onboarding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Onboarding")
            .field("endpoint", &self.endpoint)
            .field("token", &"<redacted>")
            .field("ca_pem", &self.ca_pem.as_ref().map(|_| "<PEM>"))
            .finish()
    }
}

/// A client for one cluster.
#[derive(Clone)]
pub struct KubeClient {
    client: Client,
    settings: ClientSettings,
    cluster_url: String,
}

impl fmt::Debug for KubeClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KubeClient")
            .field("cluster_url", &self.cluster_url)
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl KubeClient {
    /// From a kubeconfig file (`None`: `$KUBECONFIG` or `~/.kube/config`),
    /// with its current context or the one named.
    pub async fn from_kubeconfig(
        path: Option<&Path>,
        context: Option<&str>,
        settings: ClientSettings,
    ) -> Result<KubeClient, K8sError> {
        let kubeconfig = match path {
            Some(path) => Kubeconfig::read_from(path),
            None => Kubeconfig::read(),
        }
        .map_err(|e| K8sError::Config(format!("reading the kubeconfig: {e}")))?;
        let options = KubeConfigOptions {
            context: context.map(str::to_owned),
            ..KubeConfigOptions::default()
        };
        let config = Config::from_custom_kubeconfig(kubeconfig, &options)
            .await
            .map_err(|e| K8sError::Config(format!("using the kubeconfig: {e}")))?;
        KubeClient::from_config(config, settings)
    }

    /// From inside a pod: the mounted ServiceAccount token and CA.
    pub fn in_cluster(settings: ClientSettings) -> Result<KubeClient, K8sError> {
        let config = Config::incluster()
            .map_err(|e| K8sError::Config(format!("in-cluster configuration: {e}")))?;
        KubeClient::from_config(config, settings)
    }

    /// From onboarding inputs: endpoint, ServiceAccount token, CA.
    pub async fn from_onboarding(
        onboarding: &Onboarding,
        settings: ClientSettings,
    ) -> Result<KubeClient, K8sError> {
        const NAME: &str = "cloudoptim";
        let kubeconfig = Kubeconfig {
            clusters: vec![NamedCluster {
                name: NAME.into(),
                cluster: Some(Cluster {
                    server: Some(onboarding.endpoint.clone()),
                    certificate_authority_data: onboarding
                        .ca_pem
                        .as_deref()
                        .map(|pem| BASE64_STANDARD.encode(pem)),
                    ..Cluster::default()
                }),
                other: Default::default(),
            }],
            auth_infos: vec![NamedAuthInfo {
                name: NAME.into(),
                auth_info: Some(AuthInfo {
                    token: Some(onboarding.token.clone()),
                    ..AuthInfo::default()
                }),
                other: Default::default(),
            }],
            contexts: vec![NamedContext {
                name: NAME.into(),
                context: Some(Context {
                    cluster: NAME.into(),
                    user: Some(NAME.into()),
                    ..Context::default()
                }),
                other: Default::default(),
            }],
            current_context: Some(NAME.into()),
            ..Kubeconfig::default()
        };
        let config = Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
            .await
            .map_err(|e| K8sError::Config(format!("onboarding inputs: {e}")))?;
        KubeClient::from_config(config, settings)
    }

    /// From a kube-rs [`Config`] built some other way. The settings'
    /// timeout replaces the config's; kube-rs's own retries are turned off
    /// (these settings retry instead).
    pub fn from_config(
        mut config: Config,
        settings: ClientSettings,
    ) -> Result<KubeClient, K8sError> {
        config.connect_timeout = Some(settings.timeout.min(Duration::from_secs(10)));
        config.read_timeout = Some(settings.timeout);
        config.write_timeout = Some(settings.timeout);
        config.reset_reader_on_write = true;
        config.default_retry = false;
        let cluster_url = config.cluster_url.to_string();
        let client = Client::try_from(config)
            .map_err(|e| K8sError::Config(format!("building the client: {e}")))?;
        Ok(KubeClient {
            client,
            settings,
            cluster_url,
        })
    }

    /// The kube-rs client underneath, for requests this crate does not make.
    pub fn kube(&self) -> &Client {
        &self.client
    }

    /// The timeouts and retries in use.
    pub fn settings(&self) -> &ClientSettings {
        &self.settings
    }

    /// The API server's URL.
    pub fn cluster_url(&self) -> &str {
        &self.cluster_url
    }

    /// Run one request with the retry policy; errors name `op`.
    pub(crate) async fn call<T, F, Fut>(&self, op: &Op, mut request: F) -> Result<T, K8sError>
    where
        F: FnMut(Client) -> Fut,
        Fut: Future<Output = Result<T, kube::Error>>,
    {
        let mut retry = 0;
        loop {
            let attempt = tokio::time::timeout(self.settings.timeout, request(self.client.clone()));
            let failure = match attempt.await {
                Ok(Ok(value)) => return Ok(value),
                Ok(Err(e)) => Some(e),
                Err(_) => None,
            };
            let message = match failure {
                None => format!("no answer within {} s", self.settings.timeout.as_secs_f64()),
                Some(kube::Error::Api(status)) => {
                    let code = status.code;
                    // An eviction's 403 can come from the PDB (too many
                    // disrupted pods recorded), not from RBAC.
                    let from_pdb = status
                        .details
                        .as_ref()
                        .is_some_and(|d| d.kind.eq_ignore_ascii_case("poddisruptionbudget"));
                    if code == 403 && !(op.eviction && from_pdb) {
                        return Err(K8sError::Forbidden {
                            verb: op.verb,
                            resource: op.resource.clone(),
                            target: op.target.clone(),
                            message: status.message,
                        });
                    }
                    // For evictions, 429 is a PDB saying no and 500 a PDB
                    // misconfiguration (more than one PDB): not transient.
                    let retryable = matches!(code, 502..=504)
                        || (code == 500 && !op.eviction)
                        || (code == 429 && !op.eviction);
                    if !retryable {
                        return Err(K8sError::Api {
                            verb: op.verb,
                            resource: op.resource.clone(),
                            target: op.target.clone(),
                            code,
                            reason: status.reason,
                            message: status.message,
                        });
                    }
                    format!("HTTP {code} {}: {}", status.reason, status.message)
                }
                Some(kube::Error::HyperError(e)) => e.to_string(),
                Some(kube::Error::Service(e)) => e.to_string(),
                Some(other) => {
                    return Err(K8sError::Client {
                        verb: op.verb,
                        resource: op.resource.clone(),
                        target: op.target.clone(),
                        message: other.to_string(),
                    })
                }
            };
            if retry >= self.settings.retry_attempts {
                return Err(K8sError::Unavailable {
                    verb: op.verb,
                    resource: op.resource.clone(),
                    target: op.target.clone(),
                    attempts: retry + 1,
                    message,
                });
            }
            let delay = self.settings.backoff(retry);
            tracing::debug!(
                verb = op.verb,
                resource = %op.resource,
                target = %op.target,
                retry = retry + 1,
                delay_ms = delay.as_millis() as u64,
                %message,
                "retrying Kubernetes API request"
            );
            tokio::time::sleep(delay).await;
            retry += 1;
        }
    }
}

/// What a request does, for errors and logs.
#[derive(Clone, Debug)]
pub(crate) struct Op {
    pub verb: &'static str,
    pub resource: String,
    pub target: String,
    /// An eviction: a 429 or 500 is a PodDisruptionBudget's answer, not
    /// returned to the retry loop, and a 403 may be the PDB's too.
    pub eviction: bool,
}

impl Op {
    pub fn new(verb: &'static str, resource: impl Into<String>, target: impl Into<String>) -> Op {
        Op {
            verb,
            resource: resource.into(),
            target: target.into(),
            eviction: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn onboarding_debug_never_shows_the_token() {
        let onboarding = Onboarding {
            endpoint: "https://example:6443".into(),
            token: SecretString::from("s3cr3t-token"),
            ca_pem: Some("-----BEGIN CERTIFICATE-----".into()),
        };
        let shown = format!("{onboarding:?}");
        assert!(!shown.contains("s3cr3t"), "{shown}");
        assert!(shown.contains("redacted"));
    }

    #[test]
    fn settings_come_from_the_seed_variables_and_bad_values_are_named() {
        let vars = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &'static str| {
                pairs
                    .iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| (*v).to_owned())
            }
        };
        assert_eq!(
            ClientSettings::from_vars(vars(&[])).unwrap(),
            ClientSettings::default()
        );
        let set = ClientSettings::from_vars(vars(&[
            ("K8S_API_TIMEOUT_SECONDS", "5"),
            ("K8S_API_RETRY_ATTEMPTS", " 0 "),
        ]))
        .unwrap();
        assert_eq!(
            (set.timeout, set.retry_attempts),
            (Duration::from_secs(5), 0)
        );
        for (name, value) in [
            ("K8S_API_TIMEOUT_SECONDS", "thirty"),
            ("K8S_API_TIMEOUT_SECONDS", "0"),
            ("K8S_API_RETRY_ATTEMPTS", "-1"),
        ] {
            let pairs: &'static [(&'static str, &'static str)] =
                Box::leak(vec![(name, value)].into_boxed_slice());
            let error = ClientSettings::from_vars(vars(pairs)).unwrap_err();
            let message = error.to_string();
            assert!(
                message.starts_with(&format!("{name}={value:?}")),
                "{message}"
            );
        }
    }

    #[test]
    fn backoff_doubles_and_caps() {
        let s = ClientSettings::default();
        assert_eq!(s.backoff(0), Duration::from_millis(250));
        assert_eq!(s.backoff(1), Duration::from_millis(500));
        assert_eq!(s.backoff(10), Duration::from_secs(5));
    }
}
