//! # cloudoptim-aws
//!
//! The AWS side of CloudOptim, a thin layer over the AWS SDK: observe an
//! account (EC2 instances, EBS volumes, spot price history, Auto Scaling
//! groups) into [`cloudoptim_core::inventory`] types, read on-demand prices
//! of any region from the Price List API ([`price_list`]), consume EventBridge
//! events from SQS, and call EC2 and Auto Scaling for the steps of a plan.
//! Decisions stay in `cloudoptim-core`.
//!
//! Configuration is the AWS way ([`config`]): the default credential chain,
//! the region, `AWS_ENDPOINT_URL` (moto in the tests), and assume-role with
//! an external id into a customer's account.

pub mod account;
pub mod advisor;
pub mod autoscaling;
pub mod config;
pub mod ec2;
pub mod error;
pub mod executor;
pub mod price_list;
pub mod sqs;

pub use account::observe_account;
pub use advisor::{AdvisorFetcher, FeedCache, FeedSource};
pub use autoscaling::{AutoScaling, GroupTermination};
pub use cloudoptim_core::plan::{Mode, StepOutcome};
pub use config::AwsSettings;
pub use ec2::Ec2;
pub use error::AwsError;
pub use executor::Ec2Executor;
pub use price_list::PriceListFetcher;
pub use sqs::{MalformedPolicy, Received, SqsConsumer, SqsSettings};
