//! The control plane's runtime (feature `runtime`).
//!
//! State lives in PostgreSQL ([`Store`]): the clusters under management
//! with their onboarding data (service account tokens sealed at rest with
//! a key from the environment, [`TokenKey`]), leases that let several
//! processes share the clusters so that exactly one acts on a cluster at a
//! time, and optimization runs with their plans and every step's outcome,
//! so a process that takes over a cluster finishes what the last one
//! started without repeating done steps.
//!
//! The migrations are in the repository (`migrations/`) and embedded;
//! [`Store::migrate`] applies those not applied yet.
//!
//! The [`Controller`] runs the library continuously over the store's
//! clusters (spot warnings from each cluster's SQS queue, optimization
//! cycles), [`api`] serves the seed's core-platform API over the same
//! store, and [`Metrics`] counts what the controller did. A process that
//! runs both:
//!
//! ```no_run
//! # async fn example() -> Result<(), Box<dyn std::error::Error>> {
//! use std::sync::Arc;
//! use cloudoptim::runtime::{Controller, ControllerConfig, Store, TokenKey};
//!
//! let mut store = Store::connect("postgres://cloudoptim@127.0.0.1/cloudoptim", TokenKey::from_env()?).await?;
//! store.migrate().await?;
//! let controller = Controller::new(Arc::new(store), ControllerConfig::new("host-a"))?;
//! // Dry-runs every plan until Ctrl-C; `config.mode = Mode::Execute` acts.
//! controller.run(async { let _ = tokio::signal::ctrl_c().await; }).await;
//! # Ok(()) }
//! ```

pub mod api;
mod controller;
mod engines;
mod events;
mod metrics;
mod seal;
mod store;

pub use controller::{Controller, ControllerConfig, ControllerError};
pub use engines::Engine;
pub use events::{EventId, EventRecord, EventStatus};
pub use metrics::Metrics;
pub use seal::{SealError, Secret, TokenKey};
pub use store::{
    ClusterId, ClusterRecord, Lease, NewCluster, RunId, RunRecord, RunStatus, StepRecord, Store,
    StoreError,
};
