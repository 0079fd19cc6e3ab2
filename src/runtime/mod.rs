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

pub mod api;
mod controller;
mod events;
mod metrics;
mod seal;
mod store;

pub use controller::{Controller, ControllerConfig, ControllerError};
pub use events::{EventId, EventRecord, EventStatus};
pub use metrics::Metrics;
pub use seal::{SealError, Secret, TokenKey};
pub use store::{
    ClusterId, ClusterRecord, Lease, NewCluster, RunId, RunRecord, RunStatus, StepRecord, Store,
    StoreError,
};
