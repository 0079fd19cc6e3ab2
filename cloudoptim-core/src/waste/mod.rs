//! Resources the account pays for that the cluster no longer uses: EBS
//! volumes nothing refers to ([`zombie_volumes`]) and running instances
//! that back no node ([`ghost_instances`]).
//!
//! Both work the same way: the first sight of a candidate is recorded as
//! a tag on the resource itself (so the grace period survives restarts and
//! is visible in the console), a resource that is used again has the tag
//! removed, and only a resource whose mark is older than the grace period
//! is acted on, with the mark carried as a
//! [`Precondition::TagIs`](crate::plan::Precondition::TagIs) so a mark
//! rewritten since the plan was made is not acted on. A mark in the
//! future (clock skew, or a hand-edited tag) is rewritten from now, never
//! acted on.

pub mod ebs_prices;
pub mod ghost_instances;
pub mod zombie_volumes;

use jiff::{SignedDuration, Timestamp};

/// `now + grace`, saturating.
fn after(now: Timestamp, grace_seconds: u64) -> Timestamp {
    let grace = SignedDuration::from_secs(i64::try_from(grace_seconds).unwrap_or(i64::MAX));
    now.checked_add(grace).unwrap_or(Timestamp::MAX)
}

/// A mark tag's timestamp, in the whole seconds it is written with.
fn mark_text(at: Timestamp) -> String {
    // Whole seconds, UTC, RFC 3339 (`2026-12-02T13:00:00Z`).
    Timestamp::from_second(at.as_second())
        .unwrap_or(at)
        .to_string()
}

#[cfg(test)]
mod tests;
