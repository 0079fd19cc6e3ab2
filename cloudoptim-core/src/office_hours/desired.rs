//! Desired replicas of one workload at one instant: a pure, level-triggered
//! function of the schedule, the instant, the replicas the object has now
//! and the original count stored on it (if any).
//!
//! Level-triggered: nothing depends on the previous run. A missed run, a
//! run twice, or a run after a crash all land on the same answer, so the
//! next run heals whatever the last one left half done.
//!
//! | phase      | stored original | replicas now | desired | annotation         | why |
//! |------------|-----------------|--------------|---------|--------------------|-----|
//! | down       | none            | 0            | 0       | unchanged          | [`Why::AlreadyAtZero`]: stays at 0, and is never "restored" |
//! | down       | none            | n > 0        | 0       | set to n           | [`Why::ScaleDown`] |
//! | down       | m               | 0            | 0       | unchanged          | [`Why::AlreadyDown`] |
//! | down       | m               | k > 0        | 0       | unchanged (m)      | [`Why::ScaledUpDuringDowntime`] |
//! | up/prewarm | none            | any          | as now  | unchanged          | [`Why::NotScaledByUs`] |
//! | up/prewarm | m               | 0            | m       | removed            | [`Why::Restore`] |
//! | up/prewarm | m               | k > 0        | k       | removed            | [`Why::AlreadyUp`] (k = m) or [`Why::ChangedByOthers`] |
//!
//! ```
//! use cloudoptim_core::office_hours::{desired_replicas, Phase, Schedule, Why};
//! use jiff::SignedDuration;
//!
//! let s = Schedule::parse("Mon-Fri 09:00-18:00 UTC").unwrap();
//! let lead = SignedDuration::from_mins(15);
//! // Monday 20:00: down; 3 replicas, nothing stored yet.
//! let d = desired_replicas(&s, "2026-11-23T20:00:00Z".parse().unwrap(), lead, 3, None).unwrap();
//! assert_eq!((d.phase, d.replicas, d.store_original, d.why), (Phase::Down, 0, Some(3), Why::ScaleDown));
//! // Tuesday 08:50: pre-warm; restore exactly the stored 3.
//! let d = desired_replicas(&s, "2026-11-24T08:50:00Z".parse().unwrap(), lead, 0, Some("3")).unwrap();
//! assert_eq!((d.phase, d.replicas, d.why), (Phase::PreWarm, 3, Why::Restore));
//! assert!(d.clear_original);
//! ```

use jiff::{SignedDuration, Timestamp};
use serde::Serialize;

use super::schedule::Schedule;

/// Where an instant falls in a schedule.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// Business hours.
    Up,
    /// Not business hours yet, but they start within the pre-warm lead.
    PreWarm,
    /// Outside business hours.
    Down,
}

impl Phase {
    /// The phase of `t` with business hours starting `prewarm` early.
    pub fn at(schedule: &Schedule, t: Timestamp, prewarm: SignedDuration) -> Phase {
        if schedule.is_up(t) {
            Phase::Up
        } else if schedule.is_up_within(t, prewarm) {
            Phase::PreWarm
        } else {
            Phase::Down
        }
    }

    /// Whether workloads run in this phase.
    pub fn runs(self) -> bool {
        self != Phase::Down
    }
}

impl std::fmt::Display for Phase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Phase::Up => "up",
            Phase::PreWarm => "pre-warm",
            Phase::Down => "down",
        })
    }
}

/// Why the desired count is what it is (the rows of the module's table).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Why {
    /// Down, at 0 without a stored original: someone else put it there; it
    /// stays at 0 and will not be scaled up.
    AlreadyAtZero,
    /// Down: scale to 0, storing the count it has.
    ScaleDown,
    /// Down and already scaled down by us.
    AlreadyDown,
    /// Down, scaled down by us, but scaled up since (by hand, by a deploy):
    /// scale to 0 again; the stored original stays what it was.
    ScaledUpDuringDowntime,
    /// Up, and we never scaled it down: leave it.
    NotScaledByUs,
    /// Up (or pre-warm) after our scale-down: restore exactly the stored count.
    Restore,
    /// Up, already at the stored count (a restore half done): clear the annotation.
    AlreadyUp,
    /// Up, scaled down by us but changed since to another non-zero count:
    /// keep that count, clear the stale annotation.
    ChangedByOthers,
}

/// What a workload should look like now.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Desired {
    /// The phase of the instant.
    pub phase: Phase,
    /// Replicas wanted.
    pub replicas: u32,
    /// Store this original count before scaling down (no annotation yet).
    pub store_original: Option<u32>,
    /// Remove the stored original (after restoring it).
    pub clear_original: bool,
    /// Why.
    pub why: Why,
}

/// The stored original replicas annotation is not a count.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("stored original replicas `{value}` is not a replica count")]
pub struct BadOriginal {
    /// The annotation's value.
    pub value: String,
}

/// Desired replicas at `t` (see the module's table). `stored_original` is
/// the raw value of the original-replicas annotation, if the object has
/// one; a value that is not a count is an error (nothing should then be
/// done to the object: we cannot tell what to restore).
pub fn desired_replicas(
    schedule: &Schedule,
    t: Timestamp,
    prewarm: SignedDuration,
    current: u32,
    stored_original: Option<&str>,
) -> Result<Desired, BadOriginal> {
    let stored = stored_original
        .map(|v| {
            v.trim().parse::<u32>().map_err(|_| BadOriginal {
                value: v.to_owned(),
            })
        })
        .transpose()?;
    let phase = Phase::at(schedule, t, prewarm);
    let d = |replicas, store_original, clear_original, why| Desired {
        phase,
        replicas,
        store_original,
        clear_original,
        why,
    };
    Ok(match (phase.runs(), stored, current) {
        (false, None, 0) => d(0, None, false, Why::AlreadyAtZero),
        (false, None, n) => d(0, Some(n), false, Why::ScaleDown),
        (false, Some(_), 0) => d(0, None, false, Why::AlreadyDown),
        (false, Some(_), _) => d(0, None, false, Why::ScaledUpDuringDowntime),
        (true, None, n) => d(n, None, false, Why::NotScaledByUs),
        (true, Some(m), 0) => d(m, None, true, Why::Restore),
        (true, Some(m), k) if k == m => d(k, None, true, Why::AlreadyUp),
        (true, Some(_), k) => d(k, None, true, Why::ChangedByOthers),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    /// Apply a decision to an object (replicas, annotation) as an executor would.
    fn apply(d: Desired, annotation: &mut Option<String>) -> u32 {
        if let Some(n) = d.store_original {
            *annotation = Some(n.to_string());
        }
        if d.clear_original {
            *annotation = None;
        }
        d.replicas
    }

    proptest! {
        /// Down then up restores exactly the count before; a workload at 0
        /// stays at 0; running a step twice changes nothing (level-triggered).
        #[test]
        fn down_then_up_restores_exactly(replicas in 0u32..50, twice in any::<bool>(), zone in 0usize..4) {
            let zones = ["Europe/Berlin", "America/New_York", "Australia/Sydney", "Asia/Kolkata"];
            let s = Schedule::parse(&format!("Mon-Fri 09:00-18:00 {}", zones[zone])).unwrap();
            let lead = SignedDuration::from_mins(10);
            let (night, morning) = (ts("2026-11-25T12:00:00Z"), ts("2026-11-26T12:00:00Z"));
            // Find a down and an up instant for this zone on those days.
            let down = (0..48).map(|h| night + SignedDuration::from_hours(h)).find(|t| !s.is_up_within(*t, lead)).unwrap();
            let up = (0..48).map(|h| morning + SignedDuration::from_hours(h)).find(|t| s.is_up(*t)).unwrap();
            let mut annotation = None;
            let mut current = replicas;
            for _ in 0..(1 + usize::from(twice)) {
                let d = desired_replicas(&s, down, lead, current, annotation.as_deref()).unwrap();
                current = apply(d, &mut annotation);
            }
            prop_assert_eq!(current, 0);
            prop_assert_eq!(annotation.is_some(), replicas > 0);
            for _ in 0..(1 + usize::from(twice)) {
                let d = desired_replicas(&s, up, lead, current, annotation.as_deref()).unwrap();
                current = apply(d, &mut annotation);
            }
            prop_assert_eq!(current, replicas);
            prop_assert_eq!(annotation, None);
        }
    }

    #[test]
    fn manual_changes_are_respected_or_undone_as_documented() {
        let s = Schedule::parse("Mon-Fri 09:00-18:00 UTC").unwrap();
        let lead = SignedDuration::ZERO;
        let night = ts("2026-11-23T22:00:00Z");
        let day = ts("2026-11-24T10:00:00Z");
        let d = desired_replicas(&s, night, lead, 2, Some("5")).unwrap();
        assert_eq!(
            (d.replicas, d.store_original, d.why),
            (0, None, Why::ScaledUpDuringDowntime)
        );
        let d = desired_replicas(&s, day, lead, 2, Some("5")).unwrap();
        assert_eq!(
            (d.replicas, d.clear_original, d.why),
            (2, true, Why::ChangedByOthers)
        );
        let d = desired_replicas(&s, day, lead, 0, None).unwrap();
        assert_eq!((d.replicas, d.why), (0, Why::NotScaledByUs));
        assert_eq!(
            desired_replicas(&s, day, lead, 0, Some("three")),
            Err(BadOriginal {
                value: "three".into()
            })
        );
    }
}
