//! Spot: how risky a spot pool is, and what EC2 says about spot instances.
//!
//! - [`risk`]: the seed's risk score per instance type and zone,
//!   `0.60·Public_Rate + 0.25·Volatility + 0.10·Gap_Score + 0.05·Time_Score`,
//!   working on day zero from the Spot Advisor feed alone.
//! - [`events`]: EventBridge events as they arrive through SQS (spot
//!   interruption warnings, rebalance recommendations, state changes, AWS
//!   Health scheduled changes), parsed into typed values.
//! - [`pools`]: a diversified set of spot pools for a workload, cheapest
//!   expected cost (price plus risk-weighted interruption penalty) first,
//!   with on-demand fallback.
//! - [`interruption`]: from an event to the plan that drains a node within
//!   the 2-minute window, idempotent over duplicated and reordered messages.
//! - [`conversion`]: the plan that moves on-demand nodes onto spot
//!   instances within a disruption budget.
//!
//! The AWS side (SQS consumer, EC2 calls, executor) is `cloudoptim-aws`.

pub mod conversion;
pub mod events;
pub mod interruption;
pub mod pools;
pub mod risk;
