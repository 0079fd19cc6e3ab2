//! Carrying out plans: the one seam between what the engines decide and
//! the systems that act.
//!
//! - [`facts`]: the [`Fact`]s a step's preconditions depend on, what an
//!   executor [`Observation`] of each looks like, and
//!   [`Precondition::evaluate`](crate::Precondition::evaluate), the one
//!   place every precondition is judged.
//! - [`Executor`]: the contract every adapter implements (claims, observes,
//!   observe, already done, apply); [`PlanRunner`]: the one way a plan is
//!   run, refusing a plan whole when any action or fact has no owner.

pub mod facts;
mod runner;

pub use facts::{Fact, Facts, Observation, Unmet};
#[cfg(test)]
pub(crate) use runner::test_account;
pub use runner::{
    ApplyContext, Clock, Executor, ExecutorError, PlanRun, PlanRunner, Refused, StepFailed,
    StepJournal, StepReport, DONE_EARLIER,
};
