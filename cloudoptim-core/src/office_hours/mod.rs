//! Office hours: scale non-production workloads to zero outside business
//! hours, and back exactly as they were.
//!
//! - [`schedule`]: the schedule grammar (`Mon-Fri 09:00-18:00 Europe/Berlin`,
//!   holidays, exceptions, DST rules) and whether an instant is up.
//! - [`desired`]: desired replicas of one workload at one instant, pure and
//!   level-triggered, with a pre-warm lead.
//! - [`plan`](mod@plan): which workloads opted in, and the plan that gets them there,
//!   with the reason of every step and the savings per week.
//!
//! # Opting in
//!
//! By annotation, on a namespace (every workload in it) or on a workload
//! (which overrides its namespace):
//!
//! | annotation                            | value                          |
//! |---------------------------------------|--------------------------------|
//! | [`SCHEDULE_ANNOTATION`] `cloudoptim.io/office-hours`                    | a schedule |
//! | [`HOLIDAYS_ANNOTATION`] `cloudoptim.io/office-hours-holidays`           | `2026-12-25,2026-12-31` (added to the schedule's `off` dates) |
//! | [`EXCLUDE_ANNOTATION`] `cloudoptim.io/office-hours-exclude`             | `true`: never scaled |
//!
//! A workload's own schedule wins over its namespace's (and over a namespace
//! exclusion); a workload's exclusion wins over everything. What is written
//! on the objects by the plan:
//! [`ORIGINAL_REPLICAS_ANNOTATION`] (the count before scale-down) and
//! [`ORIGINAL_SUSPEND_ANNOTATION`] (a CronJob's `suspend` before we
//! suspended it).

pub mod desired;
pub mod plan;
pub mod schedule;

pub use desired::{desired_replicas, BadOriginal, Desired, Phase, Why};
pub use plan::{
    plan_office_hours, ArgoCd, OfficeHoursPolicy, OfficeHoursReport, Outcome, WorkloadVerdict,
};
pub use schedule::{Form, Problem, Schedule, ScheduleError};

use crate::snapshot::{is_true_annotation, Labels, Namespace, Workload};

/// The schedule a namespace or workload runs on.
pub const SCHEDULE_ANNOTATION: &str = "cloudoptim.io/office-hours";
/// Extra holidays, `YYYY-MM-DD,YYYY-MM-DD`.
pub const HOLIDAYS_ANNOTATION: &str = "cloudoptim.io/office-hours-holidays";
/// `true`: leave this namespace or workload alone.
pub const EXCLUDE_ANNOTATION: &str = "cloudoptim.io/office-hours-exclude";
/// The replicas a workload had before office hours scaled it down; the
/// Kubernetes executor's scale step maintains the same annotation.
pub const ORIGINAL_REPLICAS_ANNOTATION: &str = "cloudoptim.io/original-replicas";
/// A CronJob's `spec.suspend` before office hours suspended it (`false`).
pub const ORIGINAL_SUSPEND_ANNOTATION: &str = "cloudoptim.io/original-suspend";

/// Where an opt-in or exclusion came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// The workload's own annotation.
    Workload,
    /// Its namespace's annotation.
    Namespace,
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Source::Workload => "workload",
            Source::Namespace => "namespace",
        })
    }
}

/// Whether and how a workload takes part.
#[derive(Clone, Debug, PartialEq)]
pub enum OptIn {
    /// On this schedule.
    Scheduled {
        /// The schedule, with any holidays annotation applied.
        schedule: Box<Schedule>,
        /// Where it was set.
        source: Source,
    },
    /// Excluded by annotation.
    Excluded {
        /// Where.
        source: Source,
    },
    /// Annotated, but the schedule or the holidays do not parse.
    Invalid {
        /// Why.
        error: ScheduleError,
        /// Where.
        source: Source,
    },
    /// No annotation on the workload nor its namespace.
    NotOptedIn,
}

/// How `workload` (in `namespace`, when the snapshot lists it) takes part.
///
/// ```
/// use cloudoptim_core::office_hours::{opt_in, OptIn, Source, SCHEDULE_ANNOTATION};
/// use cloudoptim_core::snapshot::Namespace;
/// use cloudoptim_core::snapshot::{Workload, WorkloadKind};
///
/// let mut w = Workload {
///     kind: WorkloadKind::Deployment, namespace: "dev".into(), name: "web".into(),
///     owner: None, replicas: Some(2), ready_replicas: Some(2),
///     selector: Default::default(), template: Default::default(),
///     labels: Default::default(), annotations: Default::default(),
///     schedule: None, suspend: false, created_at: None,
/// };
/// let ns = Namespace {
///     name: "dev".into(),
///     annotations: [(SCHEDULE_ANNOTATION.into(), "Mon-Fri 08:00-19:00 UTC".into())].into(),
///     ..Namespace::default()
/// };
/// assert!(matches!(opt_in(&w, Some(&ns)), OptIn::Scheduled { source: Source::Namespace, .. }));
/// w.annotations.insert("cloudoptim.io/office-hours-exclude".into(), "true".into());
/// assert_eq!(opt_in(&w, Some(&ns)), OptIn::Excluded { source: Source::Workload });
/// ```
pub fn opt_in(workload: &Workload, namespace: Option<&Namespace>) -> OptIn {
    let excluded = |a: &Labels| {
        a.get(EXCLUDE_ANNOTATION)
            .is_some_and(|v| is_true_annotation(v))
    };
    if excluded(&workload.annotations) {
        return OptIn::Excluded {
            source: Source::Workload,
        };
    }
    let ns = namespace.map(|n| &n.annotations);
    let (text, source) = match (workload.annotations.get(SCHEDULE_ANNOTATION), ns) {
        (Some(text), _) => (text, Source::Workload),
        (None, Some(ns)) if excluded(ns) => {
            return OptIn::Excluded {
                source: Source::Namespace,
            }
        }
        (None, Some(ns)) => match ns.get(SCHEDULE_ANNOTATION) {
            Some(text) => (text, Source::Namespace),
            None => return OptIn::NotOptedIn,
        },
        (None, None) => return OptIn::NotOptedIn,
    };
    let holidays = [Some(&workload.annotations), ns]
        .into_iter()
        .flatten()
        .filter_map(|a| a.get(HOLIDAYS_ANNOTATION));
    let parsed = holidays.fold(Schedule::parse(text), |s, dates| {
        s.and_then(|s| s.with_holidays(dates))
    });
    match parsed {
        Ok(schedule) => OptIn::Scheduled {
            schedule: Box::new(schedule),
            source,
        },
        Err(error) => OptIn::Invalid { error, source },
    }
}
