//! The office-hours plan: for every workload that opted in, what it should
//! look like now, the steps that get it there, and what that saves a week.
//!
//! - **Deployments and StatefulSets** are scaled. Scale-down first stores
//!   the count on the object ([`ORIGINAL_REPLICAS_ANNOTATION`], a
//!   [`Action::SetMetadata`] step), then scales to 0 ([`Action::ScaleReplicas`]);
//!   both re-check [`Precondition::ReplicasAre`] when executed, so a
//!   workload someone changed in between is skipped, not clobbered.
//!   Scale-up restores exactly the stored count, then removes the
//!   annotation. A workload already at 0 without the annotation stays at 0
//!   and is never "restored" (see [`super::desired`]).
//! - **CronJobs** are suspended ([`Action::SetCronJobSuspend`]: no new Jobs;
//!   running ones finish) after storing [`ORIGINAL_SUSPEND_ANNOTATION`]
//!   `false`, and resumed after; one already suspended by someone stays so.
//!   Their savings are not estimated (their pods run intermittently).
//! - **HorizontalPodAutoscalers.** A workload an HPA scales is scaled to 0
//!   directly, and the HPA is left alone: Kubernetes' HPA controller does
//!   not act on a target whose replicas are 0 (it reports
//!   `ScalingActive=False`, `ScalingDisabled`) and resumes from the restored
//!   count, so the two never fight and no HPA field is ever patched. The
//!   stored count is the HPA's choice at scale-down. An HPA with
//!   `minReplicas: 0` (the alpha `HPAScaleToZero` gate) does act at zero and
//!   would scale the workload back up: such workloads are skipped and reported.
//! - **Argo CD.** Objects carrying `argocd.argoproj.io/*` annotations or
//!   labels, or the `app.kubernetes.io/instance` label (Argo CD's default
//!   tracking label; Helm sets it too), are reported: an Application with
//!   self-heal puts `spec.replicas` back to git's value unless it ignores
//!   that field (`ignoreDifferences`). [`ArgoCd::Warn`] (the default) plans
//!   them anyway with the warning; [`ArgoCd::Skip`] leaves them alone.
//! - DaemonSets cannot be scaled and are reported; ReplicaSets and Jobs
//!   owned by a Deployment or CronJob are handled through their owner.

use std::collections::BTreeMap;

use jiff::{SignedDuration, Timestamp};
use serde::Serialize;

use super::desired::{desired_replicas, Desired, Phase, Why};
use super::schedule::Schedule;
use super::{opt_in, OptIn, Source, ORIGINAL_REPLICAS_ANNOTATION, ORIGINAL_SUSPEND_ANNOTATION};
use crate::money::UsdPerHour;
use crate::plan::{Action, ObjectRef, Plan, Precondition, WorkloadRef};
use crate::pricing::ResourceRates;
use crate::resources::Resources;
use crate::snapshot::{ClusterSnapshot, Workload, WorkloadKind};

/// The engine name on the plans.
pub const ENGINE: &str = "office-hours";

/// Hours in a week.
const HOURS_PER_WEEK: f64 = 168.0;

/// What to do with Argo CD-managed objects.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ArgoCd {
    /// Plan them, with a warning in the reason and the report.
    #[default]
    Warn,
    /// Leave them alone and report why.
    Skip,
}

/// How office hours are applied.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct OfficeHoursPolicy {
    /// Scale up this long before business hours start (pods need time to
    /// be scheduled, pull images and pass readiness). Default 15 minutes.
    pub prewarm: SignedDuration,
    /// Argo CD-managed objects.
    pub argo_cd: ArgoCd,
}

impl Default for OfficeHoursPolicy {
    fn default() -> Self {
        OfficeHoursPolicy {
            prewarm: SignedDuration::from_mins(15),
            argo_cd: ArgoCd::Warn,
        }
    }
}

/// What happened to one workload.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", content = "detail", rename_all = "snake_case")]
pub enum Outcome {
    /// Steps are in the plan.
    Planned,
    /// Already as it should be.
    Unchanged,
    /// Left alone, and why.
    Skipped(String),
    /// Excluded by annotation.
    Excluded,
}

/// One workload's verdict.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct WorkloadVerdict {
    /// The workload.
    pub workload: WorkloadRef,
    /// Its schedule, as written (none when excluded).
    pub schedule: Option<String>,
    /// Where the opt-in or exclusion came from.
    pub source: Source,
    /// The phase now (none when excluded or invalid).
    pub phase: Option<Phase>,
    /// Replicas now (a CronJob: 1 running, 0 suspended).
    pub current: u32,
    /// Replicas wanted now.
    pub desired: u32,
    /// Why, when a decision was made.
    pub why: Option<Why>,
    /// What happened.
    pub outcome: Outcome,
    /// Warnings and remarks (HPA, Argo CD).
    pub notes: Vec<String>,
    /// The replicas business hours run with: the stored original, else the
    /// count now.
    pub business_replicas: u32,
    /// What one pod's requests cost (zero without rates, and for CronJobs).
    pub pod_usd_per_hour: UsdPerHour,
    /// Hours in the 7 days from now during which it is down.
    pub down_hours_per_week: f64,
    /// `business_replicas × down_hours_per_week`.
    pub replica_hours_removed_per_week: f64,
    /// What that saves, at `pod_usd_per_hour`.
    pub saved_usd_per_week: f64,
    /// What it costs a week running all the time at `business_replicas`.
    pub always_on_usd_per_week: f64,
    /// The next change of phase after now, within 8 days.
    pub next_change: Option<Timestamp>,
}

/// The plan and the verdict of every workload that opted in or out.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct OfficeHoursReport {
    /// Steps, in order.
    pub plan: Plan,
    /// One per annotated workload (not-opted-in ones are left out).
    pub workloads: Vec<WorkloadVerdict>,
}

/// Savings of one namespace.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct NamespaceSavings {
    /// Saved a week.
    pub saved_usd_per_week: f64,
    /// Cost a week of the same workloads always on.
    pub always_on_usd_per_week: f64,
}

impl NamespaceSavings {
    /// Saved, as a percentage of always on (0 when nothing is costed).
    pub fn percent(&self) -> f64 {
        if self.always_on_usd_per_week > 0.0 {
            100.0 * self.saved_usd_per_week / self.always_on_usd_per_week
        } else {
            0.0
        }
    }
}

impl OfficeHoursReport {
    /// Saved a week over every workload.
    pub fn saved_usd_per_week(&self) -> f64 {
        self.workloads.iter().map(|w| w.saved_usd_per_week).sum()
    }

    /// Savings by namespace.
    pub fn by_namespace(&self) -> BTreeMap<String, NamespaceSavings> {
        let mut out: BTreeMap<String, NamespaceSavings> = BTreeMap::new();
        for w in &self.workloads {
            let s = out.entry(w.workload.namespace.clone()).or_default();
            s.saved_usd_per_week += w.saved_usd_per_week;
            s.always_on_usd_per_week += w.always_on_usd_per_week;
        }
        out
    }
}

/// What a schedule looks like from `now`: computed once per schedule text.
struct Outlook {
    down_hours_per_week: f64,
    next_change: Option<Timestamp>,
}

fn outlook(schedule: &Schedule, now: Timestamp, prewarm: SignedDuration) -> Outlook {
    let phase_now = Phase::at(schedule, now, prewarm).runs();
    let start = now.as_second().div_euclid(60);
    let at = |minute: i64| Timestamp::from_second(minute.saturating_mul(60)).ok();
    let mut down_minutes = 0u32;
    let mut next_change = None;
    for k in 0..(8 * 24 * 60) {
        let Some(t) = at(start + k) else { break };
        let runs = Phase::at(schedule, t, prewarm).runs();
        if k < 7 * 24 * 60 && !runs {
            down_minutes += 1;
        }
        if next_change.is_none() && k > 0 && runs != phase_now {
            next_change = Some(t);
        }
    }
    Outlook {
        down_hours_per_week: f64::from(down_minutes) / 60.0,
        next_change,
    }
}

/// Why an object looks Argo CD-managed, if it does.
fn argo_cd_marker(w: &Workload) -> Option<String> {
    let argo = |(k, v): (&String, &String)| {
        k.starts_with("argocd.argoproj.io/")
            .then(|| format!("{k}={v}"))
    };
    if let Some(m) = w.annotations.iter().find_map(argo) {
        return Some(format!("annotation {m}"));
    }
    if let Some(m) = w.labels.iter().find_map(argo) {
        return Some(format!("label {m}"));
    }
    w.labels
        .get("app.kubernetes.io/instance")
        .map(|v| format!("label app.kubernetes.io/instance={v} (Argo CD's default tracking label; Helm sets it too)"))
}

fn pod_requests(w: &Workload) -> Resources {
    w.template
        .containers
        .iter()
        .fold(Resources::ZERO, |a, c| a.saturating_add(c.requests))
}

/// The office-hours plan for `snapshot` at `now`. `rates` price the
/// savings (none: every figure is zero but the plan is the same).
///
/// ```
/// use cloudoptim_core::office_hours::{plan_office_hours, OfficeHoursPolicy, Outcome};
/// use cloudoptim_core::snapshot::{ClusterSnapshot, Namespace, Workload, WorkloadKind};
///
/// let web = Workload {
///     kind: WorkloadKind::Deployment, namespace: "dev".into(), name: "web".into(),
///     owner: None, replicas: Some(3), ready_replicas: Some(3),
///     selector: Default::default(), template: Default::default(),
///     labels: Default::default(), annotations: Default::default(),
///     schedule: None, suspend: false, created_at: None,
/// };
/// let snapshot = ClusterSnapshot {
///     workloads: vec![web],
///     namespaces: vec![Namespace {
///         name: "dev".into(),
///         annotations: [("cloudoptim.io/office-hours".into(), "Mon-Fri 08:00-20:00 UTC".into())].into(),
///         ..Namespace::default()
///     }],
///     ..ClusterSnapshot::default()
/// };
/// // Monday 23:00 UTC: store the 3 replicas, then scale to 0.
/// let now = "2026-11-23T23:00:00Z".parse().unwrap();
/// let report = plan_office_hours(&snapshot, now, &OfficeHoursPolicy::default(), None);
/// assert_eq!(report.workloads[0].outcome, Outcome::Planned);
/// let kinds: Vec<&str> = report.plan.steps.iter().map(|s| s.action.kind()).collect();
/// assert_eq!(kinds, ["set_metadata", "scale_replicas"]);
/// ```
pub fn plan_office_hours(
    snapshot: &ClusterSnapshot,
    now: Timestamp,
    policy: &OfficeHoursPolicy,
    rates: Option<&ResourceRates>,
) -> OfficeHoursReport {
    let mut plan = Plan::new(ENGINE, now);
    let mut verdicts = Vec::new();
    let mut outlooks: BTreeMap<String, Outlook> = BTreeMap::new();
    for w in &snapshot.workloads {
        // Owned ReplicaSets and Jobs go with their Deployment or CronJob.
        if matches!(w.kind, WorkloadKind::ReplicaSet | WorkloadKind::Job) && w.owner.is_some() {
            continue;
        }
        let (schedule, source) = match opt_in(w, snapshot.namespace(&w.namespace)) {
            OptIn::NotOptedIn => continue,
            OptIn::Excluded { source } => {
                verdicts.push(verdict(w, None, source, Outcome::Excluded));
                continue;
            }
            OptIn::Invalid { error, source } => {
                tracing::warn!(workload = %w.key(), %error, "office hours: schedule does not parse");
                let mut v = verdict(
                    w,
                    None,
                    source,
                    Outcome::Skipped(format!("{source} annotation: {error}")),
                );
                v.schedule = Some(error.schedule.clone());
                verdicts.push(v);
                continue;
            }
            OptIn::Scheduled { schedule, source } => (schedule, source),
        };
        let mut v = verdict(w, Some(&schedule), source, Outcome::Unchanged);
        let skip = |v: &mut WorkloadVerdict, why: String| v.outcome = Outcome::Skipped(why);
        if !matches!(
            w.kind,
            WorkloadKind::Deployment | WorkloadKind::StatefulSet | WorkloadKind::CronJob
        ) {
            skip(
                &mut v,
                format!("a {} cannot be scaled to zero by office hours", w.kind),
            );
            verdicts.push(v);
            continue;
        }
        let hpas: Vec<_> = snapshot
            .autoscalers_of(w.kind, &w.namespace, &w.name)
            .collect();
        if let Some(h) = hpas.iter().find(|h| h.min_replicas == 0) {
            skip(&mut v, format!(
                "HPA {}/{} has minReplicas 0 (scale-to-zero): it acts at zero replicas and would scale the workload back up",
                h.namespace, h.name
            ));
            verdicts.push(v);
            continue;
        }
        for h in &hpas {
            v.notes.push(format!(
                "HPA {}/{} (min {}, max {}) pauses while the workload is at 0 replicas and resumes from the restored count; it is not patched",
                h.namespace, h.name, h.min_replicas, h.max_replicas
            ));
        }
        if let Some(marker) = argo_cd_marker(w) {
            let warning = format!(
                "looks Argo CD-managed ({marker}): with self-heal, Argo CD restores spec.replicas from git unless the Application ignores it (ignoreDifferences)"
            );
            if policy.argo_cd == ArgoCd::Skip {
                skip(&mut v, warning);
                verdicts.push(v);
                continue;
            }
            v.notes.push(warning);
        }
        let outlook = outlooks
            .entry(schedule.text().to_owned())
            .or_insert_with(|| outlook(&schedule, now, policy.prewarm));
        v.down_hours_per_week = outlook.down_hours_per_week;
        v.next_change = outlook.next_change;
        let cronjob = w.kind == WorkloadKind::CronJob;
        let (current, stored) = if cronjob {
            let stored = w.annotations.get(ORIGINAL_SUSPEND_ANNOTATION).map(|s| {
                match s.trim().to_ascii_lowercase().as_str() {
                    "false" => "1".to_owned(),
                    "true" => "0".to_owned(),
                    _ => s.clone(),
                }
            });
            (u32::from(!w.suspend), stored)
        } else {
            (
                w.replicas.unwrap_or(1),
                w.annotations.get(ORIGINAL_REPLICAS_ANNOTATION).cloned(),
            )
        };
        v.current = current;
        let desired =
            match desired_replicas(&schedule, now, policy.prewarm, current, stored.as_deref()) {
                Ok(d) => d,
                Err(e) => {
                    skip(
                        &mut v,
                        format!("{e}: cannot tell what to restore; fix or remove the annotation"),
                    );
                    verdicts.push(v);
                    continue;
                }
            };
        v.phase = Some(desired.phase);
        v.desired = desired.replicas;
        v.why = Some(desired.why);
        let original: Option<u32> = stored.as_deref().and_then(|s| s.trim().parse().ok());
        v.business_replicas = original.unwrap_or(current);
        if !cronjob {
            if let Some(rates) = rates {
                v.pod_usd_per_hour = rates.usd_per_hour(pod_requests(w));
            }
            let pod = v.pod_usd_per_hour.usd();
            v.replica_hours_removed_per_week =
                f64::from(v.business_replicas) * v.down_hours_per_week;
            v.saved_usd_per_week = v.replica_hours_removed_per_week * pod;
            v.always_on_usd_per_week = f64::from(v.business_replicas) * HOURS_PER_WEEK * pod;
        }
        let steps_before = plan.steps.len();
        let context = Context {
            workload: WorkloadRef {
                kind: w.kind,
                namespace: w.namespace.clone(),
                name: w.name.clone(),
            },
            schedule: &schedule,
            source,
            next_change: v.next_change,
            notes: &v.notes,
            pod: v.pod_usd_per_hour,
        };
        if cronjob {
            push_cronjob_steps(&mut plan, &context, &desired, current);
        } else {
            push_replica_steps(&mut plan, &context, &desired, current, original);
        }
        if plan.steps.len() > steps_before {
            v.outcome = Outcome::Planned;
        }
        verdicts.push(v);
    }
    OfficeHoursReport {
        plan,
        workloads: verdicts,
    }
}

fn verdict(
    w: &Workload,
    schedule: Option<&Schedule>,
    source: Source,
    outcome: Outcome,
) -> WorkloadVerdict {
    WorkloadVerdict {
        workload: WorkloadRef {
            kind: w.kind,
            namespace: w.namespace.clone(),
            name: w.name.clone(),
        },
        schedule: schedule.map(|s| s.text().to_owned()),
        source,
        phase: None,
        current: w.replicas.unwrap_or(0),
        desired: w.replicas.unwrap_or(0),
        why: None,
        outcome,
        notes: Vec::new(),
        business_replicas: 0,
        pod_usd_per_hour: UsdPerHour::ZERO,
        down_hours_per_week: 0.0,
        replica_hours_removed_per_week: 0.0,
        saved_usd_per_week: 0.0,
        always_on_usd_per_week: 0.0,
        next_change: None,
    }
}

struct Context<'a> {
    workload: WorkloadRef,
    schedule: &'a Schedule,
    source: Source,
    next_change: Option<Timestamp>,
    notes: &'a [String],
    pod: UsdPerHour,
}

impl Context<'_> {
    /// The common part of every reason.
    fn why(&self, phase: Phase, what: &str) -> String {
        let until = self
            .next_change
            .map(|t| {
                let local = t.to_zoned_datetime(self.schedule.zone().clone());
                format!(" until {}", local.strftime("%a %Y-%m-%d %H:%M %Z"))
            })
            .unwrap_or_default();
        let mut reason = format!(
            "office hours `{}` ({} annotation): {phase}{until}; {what}",
            self.schedule, self.source
        );
        for note in self.notes {
            reason.push_str("; ");
            reason.push_str(note);
        }
        reason
    }

    fn object(&self) -> ObjectRef {
        ObjectRef::Workload(self.workload.clone())
    }

    fn replicas_are(&self, replicas: u32) -> Vec<Precondition> {
        vec![Precondition::ReplicasAre {
            workload: self.workload.clone(),
            replicas,
        }]
    }

    fn suspend_is(&self, suspended: bool) -> Vec<Precondition> {
        vec![Precondition::CronJobSuspendIs {
            workload: self.workload.clone(),
            suspended,
        }]
    }
}

fn annotation(key: &str, value: Option<String>) -> BTreeMap<String, Option<String>> {
    [(key.to_owned(), value)].into()
}

fn push_replica_steps(
    plan: &mut Plan,
    c: &Context<'_>,
    d: &Desired,
    current: u32,
    original: Option<u32>,
) {
    let delta = |from: u32, to: u32| {
        let diff = i64::from(to) - i64::from(from);
        UsdPerHour::from_micro_usd(c.pod.micro_usd().saturating_mul(diff))
    };
    if let Some(n) = d.store_original {
        plan.push(
            Action::SetMetadata {
                object: c.object(),
                labels: BTreeMap::new(),
                annotations: annotation(ORIGINAL_REPLICAS_ANNOTATION, Some(n.to_string())),
            },
            c.why(
                d.phase,
                &format!("remember its {n} replicas, to restore exactly them"),
            ),
            c.replicas_are(current),
            UsdPerHour::ZERO,
        );
    }
    if d.replicas != current {
        let what = match d.why {
            Why::Restore => format!("restore the {} replicas stored before scale-down", d.replicas),
            Why::ScaledUpDuringDowntime => format!(
                "scaled up to {current} during downtime: back to 0 (the stored original, {}, is kept)",
                original.map_or_else(|| "?".to_owned(), |o| o.to_string())
            ),
            _ => format!("scale from {current} to {} replicas", d.replicas),
        };
        plan.push(
            Action::ScaleReplicas {
                workload: c.workload.clone(),
                from: current,
                to: d.replicas,
            },
            c.why(d.phase, &what),
            c.replicas_are(current),
            delta(current, d.replicas),
        );
    }
    if d.clear_original {
        let what = match d.why {
            Why::ChangedByOthers => format!(
                "changed to {} replicas by someone else since scale-down: keep them, drop the stale stored original",
                d.replicas
            ),
            _ => "restored: drop the stored original".to_owned(),
        };
        plan.push(
            Action::SetMetadata {
                object: c.object(),
                labels: BTreeMap::new(),
                annotations: annotation(ORIGINAL_REPLICAS_ANNOTATION, None),
            },
            c.why(d.phase, &what),
            c.replicas_are(d.replicas),
            UsdPerHour::ZERO,
        );
    }
}

fn push_cronjob_steps(plan: &mut Plan, c: &Context<'_>, d: &Desired, current: u32) {
    let suspended_now = current == 0;
    let suspend = d.replicas == 0;
    if d.store_original.is_some() {
        plan.push(
            Action::SetMetadata {
                object: c.object(),
                labels: BTreeMap::new(),
                annotations: annotation(ORIGINAL_SUSPEND_ANNOTATION, Some("false".into())),
            },
            c.why(d.phase, "remember it was not suspended, to resume it"),
            c.suspend_is(suspended_now),
            UsdPerHour::ZERO,
        );
    }
    if suspend != suspended_now {
        let what = if suspend {
            "suspend it (no new Jobs; running ones finish)"
        } else {
            "resume it, as it was before office hours suspended it"
        };
        plan.push(
            Action::SetCronJobSuspend {
                workload: c.workload.clone(),
                suspend,
            },
            c.why(d.phase, what),
            c.suspend_is(suspended_now),
            UsdPerHour::ZERO,
        );
    }
    if d.clear_original {
        plan.push(
            Action::SetMetadata {
                object: c.object(),
                labels: BTreeMap::new(),
                annotations: annotation(ORIGINAL_SUSPEND_ANNOTATION, None),
            },
            c.why(d.phase, "resumed: drop the stored original"),
            c.suspend_is(suspend),
            UsdPerHour::ZERO,
        );
    }
}

#[cfg(test)]
mod tests;
