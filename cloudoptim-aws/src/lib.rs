//! # cloudoptim-aws
//!
//! The AWS side of CloudOptim: observe an account (EC2 instances, EBS
//! volumes, spot price history) into [`cloudoptim_core::inventory`] types,
//! consume EventBridge spot interruption events from SQS, and execute the
//! EC2 steps of a [`cloudoptim_core::Plan`].
//!
//! **Status:** the crate is a placeholder in the workspace; the EC2/SQS
//! clients arrive with the Spot arbitrage and interruption handling work.
//! Until then it only re-exports the core types it will produce.

pub use cloudoptim_core::inventory::{AwsInventory, Instance, Volume};
