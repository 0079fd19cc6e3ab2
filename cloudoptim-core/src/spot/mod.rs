//! Spot: how risky a spot pool is, and what EC2 says about spot instances.
//!
//! - [`risk`]: the seed's risk score per instance type and zone,
//!   `0.60·Public_Rate + 0.25·Volatility + 0.10·Gap_Score + 0.05·Time_Score`,
//!   working on day zero from the Spot Advisor feed alone.
//! - [`events`]: EventBridge events as they arrive through SQS (spot
//!   interruption warnings, rebalance recommendations, state changes, AWS
//!   Health scheduled changes), parsed into typed values.
//!
//! Pool selection and the interruption plan build on these (issue #4).

pub mod events;
pub mod risk;
