//! # CloudOptim
//!
//! Agentless Kubernetes cost optimization on AWS, as a library: observe a
//! cluster through its remote Kubernetes API and an account through EC2 and
//! SQS, decide with pure engines, and act through executors that re-check
//! every step.
//!
//! This facade re-exports [`cloudoptim_core`] (always) and the adapters
//! behind features, the way `kube` re-exports `kube-core`/`kube-client`:
//!
//! | feature | crate | what it adds |
//! |---|---|---|
//! | *(none)* | [`cloudoptim_core`] | domain model, catalog, kubectl snapshots, engines |
//! | `aws` | `cloudoptim-aws` | EC2 and SQS adapter |
//! | `kube` | `cloudoptim-k8s` | Kubernetes API adapter |
//! | `runtime` | this crate | the control plane's state in PostgreSQL ([`runtime`]) |
//!
//! ```
//! use cloudoptim::catalog::Catalog;
//!
//! let catalog = Catalog::embedded()?;
//! let m5 = catalog.get("m5.large").expect("m5.large is in the embedded catalog");
//! assert_eq!(m5.vcpus, 2);
//! # Ok::<(), cloudoptim::catalog::CatalogError>(())
//! ```

pub use cloudoptim_core::*;

/// The AWS adapter (feature `aws`).
#[cfg(feature = "aws")]
pub use cloudoptim_aws as aws;

/// The Kubernetes adapter (feature `kube`).
#[cfg(feature = "kube")]
pub use cloudoptim_k8s as k8s;

#[cfg(feature = "runtime")]
pub mod runtime;
