//! # cloudoptim-k8s
//!
//! The Kubernetes side of CloudOptim, through the cluster's remote API only
//! (no agent in the cluster), with the narrow permissions of
//! `deploy/rbac.yaml`:
//!
//! - [`KubeClient`]: from a kubeconfig, in-cluster configuration, or the
//!   onboarding inputs (endpoint, ServiceAccount token, CA), with the
//!   configured timeout and retries ([`ClientSettings`]).
//! - [`KubeClient::observe`]: a [`cloudoptim_core::ClusterSnapshot`] of the
//!   live cluster, read with paginated lists, plus `metrics.k8s.io` usage
//!   when it is served.
//! - [`PrometheusSource`]: weeks of per-container usage from the cluster's
//!   Prometheus, directly or through the API server's service proxy.
//! - [`KubeExecutor`]: the cluster steps of a [`cloudoptim_core::Plan`]
//!   (cordon, drain, evict, delete node, patch resources, scale, labels),
//!   dry-run by default, each precondition re-checked, each step idempotent.
//!
//! ```no_run
//! # async fn example() -> Result<(), cloudoptim_k8s::K8sError> {
//! use cloudoptim_k8s::{ClientSettings, KubeClient, ObserveOptions};
//!
//! let client = KubeClient::from_kubeconfig(None, None, ClientSettings::from_env()?).await?;
//! let observed = client.observe(&ObserveOptions::default()).await?;
//! println!("{} nodes, {} pods", observed.snapshot.nodes.len(), observed.snapshot.pods.len());
//! # Ok(())
//! # }
//! ```

mod client;
mod error;
mod execute;
mod executor;
mod observe;
mod prometheus;

pub use client::{ClientSettings, KubeClient, Onboarding};
pub use cloudoptim_core::plan::{Mode, StepOutcome};
pub use error::K8sError;
pub use execute::{DrainSettings, KubeExecutor, CORDONED_ANNOTATION, ORIGINAL_REPLICAS_ANNOTATION};
pub use observe::{
    ContainerUsageSample, Metrics, MetricsSample, NodeUsage, Observation, ObserveOptions,
    ObservedKinds,
};
pub use prometheus::PrometheusSource;
/// Re-exported so callers can build [`Onboarding`] tokens.
pub use secrecy::SecretString;
