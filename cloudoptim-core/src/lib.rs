//! # cloudoptim-core
//!
//! The pure heart of CloudOptim: the domain model (resources, money, the
//! instance catalog, cluster snapshots, AWS inventories, plans) and the
//! engines that turn them into decisions.
//!
//! Nothing in this crate performs I/O, reads the clock or the environment,
//! spawns threads or needs an async runtime: every input, including "now",
//! is passed in, so every decision is reproducible in a test. The adapters
//! (`cloudoptim-aws`, `cloudoptim-k8s`) observe the world into these types
//! and execute the plans that come out.
//!
//! The same holds for output: nothing here prints. `clippy.toml` in this
//! crate disallows the file, environment, clock and thread functions.

#![deny(clippy::print_stdout, clippy::print_stderr)]

pub mod binpack;
pub mod catalog;
pub mod consolidation;
pub mod cross_az;
pub mod demo;
pub mod drain;
pub mod eks;
pub mod environment;
pub mod excerpt;
pub mod execute;
pub mod inventory;
pub mod kubectl;
pub mod money;
pub mod node_rightsizing;
pub mod office_hours;
pub mod oom;
pub mod plan;
pub mod pricing;
pub mod prometheus;
pub mod quantity;
pub mod resources;
pub mod rightsizing;
pub mod simulate;
pub mod snapshot;
pub mod spot;
pub mod summary;
pub mod traffic;
pub mod usage;
pub mod waste;

pub use money::UsdPerHour;
pub use plan::{Action, Plan, Precondition, SavingsReport, Step};
pub use resources::{Dimension, Resources};
pub use snapshot::ClusterSnapshot;
