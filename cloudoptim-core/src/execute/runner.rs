//! The one executor contract, and the runner that carries out every plan.
//!
//! An [`Executor`] says which actions it claims and which facts it can
//! observe, observes them, and applies actions; it judges nothing. The
//! [`PlanRunner`] refuses a plan up front when any of its actions or any
//! fact its preconditions need is claimed by no executor, then runs the
//! steps in order: for each, it asks the owner whether the step's effect is
//! already there (a step already done is a success), gathers the facts,
//! judges every precondition with [`Precondition::evaluate`] (a step whose
//! precondition fails is skipped, saying why), applies the step, and stops
//! at the first error. Running a half-done plan again completes it.
//!
//! Nothing here does I/O or reads the clock: the executors do the I/O and
//! the caller hands in the clock. The runner needs no particular async
//! runtime.

use std::collections::BTreeSet;
use std::fmt;

use async_trait::async_trait;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::facts::{Fact, Facts, Observation, Unmet};
use crate::plan::{Action, Mode, Plan, Precondition, Step, StepOutcome};

/// Errors an executor returns: its own typed error, boxed.
pub type ExecutorError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// What an executor is told when it applies a step.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApplyContext {
    /// Dry-run (report, change nothing) or execute.
    pub mode: Mode,
    /// The plan, for annotations on what a step changes
    /// (`consolidation plan of 2026-12-01T12:00:00Z`).
    pub plan_label: String,
    /// The step's deadline (its [`Precondition::Before`]), if it has one.
    pub deadline: Option<Timestamp>,
    /// When the step started.
    pub now: Timestamp,
}

/// Carries out the actions of one system (the Kubernetes API, EC2 and
/// Auto Scaling, …) and observes its facts. Implementations only do I/O:
/// every judgement is the core's.
#[async_trait]
pub trait Executor: Send + Sync {
    /// A short name for reports and errors (`kubernetes`, `ec2`).
    fn name(&self) -> &'static str;

    /// Whether this executor carries out `action`.
    fn claims(&self, action: &Action) -> bool;

    /// Whether this executor can observe `fact`.
    fn observes(&self, fact: &Fact) -> bool;

    /// Observe `fact` now (only asked for facts it [`observes`](Self::observes)).
    async fn observe(&self, fact: &Fact) -> Result<Observation, ExecutorError>;

    /// Whether the effect of `action` is already there (the node already
    /// cordoned, the instance already terminated): `Some(what)` makes the
    /// step a success without applying it or judging its preconditions.
    async fn already_done(&self, action: &Action) -> Result<Option<String>, ExecutorError>;

    /// Apply `action` (only asked for actions it [`claims`](Self::claims)),
    /// idempotently; in [`Mode::DryRun`] change nothing (a server-side dry
    /// run where the API offers one) and say what would be done.
    async fn apply(
        &self,
        action: &Action,
        context: &ApplyContext,
    ) -> Result<StepOutcome, ExecutorError>;
}

/// Why a plan was refused before any step ran.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("plan refused before any step ran: {}", self.problems.join("; "))]
pub struct Refused {
    /// One line per step and what nobody owns.
    pub problems: Vec<String>,
}

/// A step that failed, and why.
#[derive(Debug, thiserror::Error)]
#[error("step {index} ({action}) failed in the {executor} executor: {source}")]
pub struct StepFailed {
    /// Index of the step in the plan.
    pub index: usize,
    /// The action's kind.
    pub action: &'static str,
    /// Which executor.
    pub executor: &'static str,
    /// What went wrong.
    #[source]
    pub source: ExecutorError,
}

/// What happened to one step.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StepReport {
    /// Index in the plan.
    pub index: usize,
    /// The action's kind.
    pub action: String,
    /// The executor that owns it.
    pub executor: String,
    /// What came of it.
    pub outcome: StepOutcome,
    /// In a dry run: preconditions that cannot hold yet because an earlier
    /// step of the plan (not carried out in a dry run) establishes them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub relies_on_earlier_steps: Vec<String>,
}

/// What running a plan did.
#[derive(Debug, Default)]
pub struct PlanRun {
    /// One report per step run, in order.
    pub steps: Vec<StepReport>,
    /// The step that failed; the steps after it were not run. Running the
    /// plan again resumes: the steps already done report so.
    pub failed: Option<StepFailed>,
}

impl PlanRun {
    /// Whether every step ran without error (skipped steps included).
    pub fn is_complete(&self) -> bool {
        self.failed.is_none()
    }

    /// Steps skipped because a precondition did not hold.
    pub fn skipped(&self) -> impl Iterator<Item = &StepReport> {
        self.steps
            .iter()
            .filter(|s| matches!(s.outcome, StepOutcome::Skipped(_)))
    }
}

impl fmt::Display for PlanRun {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for s in &self.steps {
            write!(f, "{:>3}. [{}] {}", s.index + 1, s.executor, s.outcome)?;
            if !s.relies_on_earlier_steps.is_empty() {
                write!(
                    f,
                    " (once earlier steps ran: {})",
                    s.relies_on_earlier_steps.join("; ")
                )?;
            }
            writeln!(f)?;
        }
        if let Some(failed) = &self.failed {
            writeln!(f, "stopped: {failed}")?;
        }
        Ok(())
    }
}

/// Where each step's report goes the moment the step ends, before the
/// next starts: a store that must survive the process (so a process that
/// takes the plan over knows what is done), a metrics counter, a pacing
/// pause between disruptions. An error from the journal stops the run
/// there, as a failed step does (the step itself has run).
#[async_trait]
pub trait StepJournal: Send + Sync {
    /// Step `report.index` ended with `report.outcome`.
    async fn step(&self, report: &StepReport) -> Result<(), ExecutorError>;

    /// Step `failed.index` failed; the run stops after this.
    async fn failed(&self, failed: &StepFailed) -> Result<(), ExecutorError>;
}

/// What a step recorded as done by an earlier run of the same plan reports
/// when the plan is resumed (see [`PlanRunner::resume`]).
pub const DONE_EARLIER: &str = "done by an earlier run of this plan";

/// A clock: the runner never reads the system time itself.
pub type Clock = dyn Fn() -> Timestamp + Send + Sync;

/// Runs plans through a set of executors; dry-run unless told to execute.
///
/// A plan with a step nobody carries out is refused before anything runs:
///
/// ```
/// use cloudoptim_core::execute::*;
/// use cloudoptim_core::plan::{Action, Plan, StepOutcome};
/// use cloudoptim_core::UsdPerHour;
///
/// /// Cordons nodes, observes nothing.
/// struct Cordoner;
/// #[async_trait::async_trait]
/// impl Executor for Cordoner {
///     fn name(&self) -> &'static str { "cordoner" }
///     fn claims(&self, action: &Action) -> bool { matches!(action, Action::Cordon { .. }) }
///     fn observes(&self, _: &Fact) -> bool { false }
///     async fn observe(&self, fact: &Fact) -> Result<Observation, ExecutorError> {
///         Err(format!("cannot observe {fact}").into())
///     }
///     async fn already_done(&self, _: &Action) -> Result<Option<String>, ExecutorError> { Ok(None) }
///     async fn apply(&self, _: &Action, _: &ApplyContext) -> Result<StepOutcome, ExecutorError> {
///         Ok(StepOutcome::WouldDo("cordon".into()))
///     }
/// }
///
/// let now: jiff::Timestamp = "2026-12-01T12:00:00Z".parse().unwrap();
/// let clock = move || now;
/// let mut plan = Plan::new("example", now);
/// plan.push(Action::Cordon { node: "n1".into() }, "example", vec![], UsdPerHour::ZERO);
/// plan.push(Action::DeleteNode { node: "n1".into() }, "example", vec![], UsdPerHour::ZERO);
/// let runner = PlanRunner::new(&clock).with(&Cordoner);
/// let refused = runner.check(&plan).unwrap_err();
/// assert_eq!(refused.problems, ["step 2 (delete_node): no executor carries out this action"]);
/// ```
pub struct PlanRunner<'a> {
    executors: Vec<&'a dyn Executor>,
    clock: &'a Clock,
    mode: Mode,
    journal: Option<&'a dyn StepJournal>,
    done_earlier: Option<&'a BTreeSet<usize>>,
}

impl<'a> PlanRunner<'a> {
    /// A dry-run runner over no executors, reading time from `clock`
    /// (the system clock in production, a simulated one in tests).
    pub fn new(clock: &'a Clock) -> PlanRunner<'a> {
        PlanRunner {
            executors: Vec::new(),
            clock,
            mode: Mode::DryRun,
            journal: None,
            done_earlier: None,
        }
    }

    /// Tell `journal` about every step as it ends.
    pub fn journal(mut self, journal: &'a dyn StepJournal) -> PlanRunner<'a> {
        self.journal = Some(journal);
        self
    }

    /// Resume a plan an earlier run (of another process, say) carried out
    /// in part: the steps in `done` are reported done ([`DONE_EARLIER`])
    /// without asking any executor or the journal; the others run as usual.
    pub fn resume(mut self, done: &'a BTreeSet<usize>) -> PlanRunner<'a> {
        self.done_earlier = Some(done);
        self
    }

    /// Add an executor; the first that claims an action or observes a fact owns it.
    pub fn with(mut self, executor: &'a dyn Executor) -> PlanRunner<'a> {
        self.executors.push(executor);
        self
    }

    /// Set the mode ([`Mode::DryRun`] by default).
    pub fn mode(mut self, mode: Mode) -> PlanRunner<'a> {
        self.mode = mode;
        self
    }

    fn owner_of_action(&self, action: &Action) -> Option<&'a dyn Executor> {
        self.executors.iter().copied().find(|e| e.claims(action))
    }

    fn owner_of_fact(&self, fact: &Fact) -> Option<&'a dyn Executor> {
        self.executors.iter().copied().find(|e| e.observes(fact))
    }

    /// Whether every action of `plan` and every fact its preconditions
    /// need has an owner; the list of what has none otherwise.
    pub fn check(&self, plan: &Plan) -> Result<(), Refused> {
        let mut problems = Vec::new();
        for (index, step) in plan.steps.iter().enumerate() {
            if self.owner_of_action(&step.action).is_none() {
                problems.push(format!(
                    "step {} ({}): no executor carries out this action",
                    index + 1,
                    step.action.kind()
                ));
            }
            for fact in step.preconditions.iter().flat_map(Precondition::facts) {
                if self.owner_of_fact(&fact).is_none() {
                    problems.push(format!(
                        "step {} ({}): no executor can observe {fact}",
                        index + 1,
                        step.action.kind()
                    ));
                }
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(Refused { problems })
        }
    }

    /// Run `plan`: refused whole if [`check`](Self::check) fails, then
    /// step by step, stopping at the first error.
    pub async fn run(&self, plan: &Plan) -> Result<PlanRun, Refused> {
        self.check(plan)?;
        let label = format!("{} plan of {}", plan.engine, plan.created_at);
        let mut run = PlanRun::default();
        for (index, step) in plan.steps.iter().enumerate() {
            if self.done_earlier.is_some_and(|d| d.contains(&index)) {
                run.steps.push(StepReport {
                    index,
                    action: step.action.kind().to_owned(),
                    executor: self
                        .owner_of_action(&step.action)
                        .map_or("none", |e| e.name())
                        .to_owned(),
                    outcome: StepOutcome::Done(DONE_EARLIER.to_owned()),
                    relies_on_earlier_steps: vec![],
                });
                continue;
            }
            match self.run_step(plan, index, step, &label).await {
                Ok(report) => {
                    tracing::info!(index, action = step.action.kind(), outcome = %report.outcome, "step");
                    let journaled = match self.journal {
                        Some(j) => j.step(&report).await,
                        None => Ok(()),
                    };
                    run.steps.push(report);
                    if let Err(source) = journaled {
                        run.failed = Some(StepFailed {
                            index,
                            action: step.action.kind(),
                            executor: "journal",
                            source,
                        });
                        break;
                    }
                }
                Err(failed) => {
                    tracing::warn!(index, action = step.action.kind(), error = %failed, "step failed");
                    if let Some(j) = self.journal {
                        if let Err(e) = j.failed(&failed).await {
                            tracing::warn!(index, error = %e, "the journal did not take the failure");
                        }
                    }
                    run.failed = Some(failed);
                    break;
                }
            }
        }
        Ok(run)
    }

    async fn run_step(
        &self,
        plan: &Plan,
        index: usize,
        step: &Step,
        label: &str,
    ) -> Result<StepReport, StepFailed> {
        let action = step.action.kind();
        let fail = |executor: &'static str, source: ExecutorError| StepFailed {
            index,
            action,
            executor,
            source,
        };
        let Some(owner) = self.owner_of_action(&step.action) else {
            // `check` ran first; kept as an error rather than a panic.
            return Err(fail("none", "no executor carries out this action".into()));
        };
        let report = |outcome, relies: Vec<String>| StepReport {
            index,
            action: action.to_owned(),
            executor: owner.name().to_owned(),
            outcome,
            relies_on_earlier_steps: relies,
        };
        if let Some(done) = owner
            .already_done(&step.action)
            .await
            .map_err(|e| fail(owner.name(), e))?
        {
            return Ok(report(StepOutcome::Done(done), vec![]));
        }
        let mut facts = Facts::new();
        for fact in step.preconditions.iter().flat_map(Precondition::facts) {
            if facts.contains(&fact) {
                continue;
            }
            let Some(observer) = self.owner_of_fact(&fact) else {
                return Err(fail(
                    "none",
                    format!("no executor can observe {fact}").into(),
                ));
            };
            let observed = observer
                .observe(&fact)
                .await
                .map_err(|e| fail(observer.name(), e))?;
            facts.insert(fact, observed);
        }
        let now = (self.clock)();
        let earlier = plan.steps.get(..index).unwrap_or(&[]);
        let mut relies = Vec::new();
        for precondition in &step.preconditions {
            if let Err(unmet) = precondition.evaluate(&facts, now) {
                let established = earlier
                    .iter()
                    .any(|s| precondition.established_by(&s.action));
                if self.mode == Mode::DryRun
                    && established
                    && !matches!(unmet, Unmet::NotObserved { .. })
                {
                    relies.push(unmet.to_string());
                    continue;
                }
                return Ok(report(StepOutcome::Skipped(unmet.to_string()), vec![]));
            }
        }
        let context = ApplyContext {
            mode: self.mode,
            plan_label: label.to_owned(),
            deadline: step.preconditions.iter().find_map(|p| match p {
                Precondition::Before { deadline } => Some(*deadline),
                _ => None,
            }),
            now,
        };
        let outcome = owner
            .apply(&step.action, &context)
            .await
            .map_err(|e| fail(owner.name(), e))?;
        Ok(report(outcome, relies))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;
    use crate::money::UsdPerHour;
    use crate::snapshot::ClusterSnapshot;

    /// Poll a future that never waits (the test executor answers at once).
    fn block_on<F: std::future::Future>(future: F) -> F::Output {
        let mut future = std::pin::pin!(future);
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        loop {
            if let std::task::Poll::Ready(out) = future.as_mut().poll(&mut cx) {
                return out;
            }
        }
    }

    /// A cluster held in memory, answering from and applying to a snapshot.
    struct Memory {
        snapshot: Mutex<ClusterSnapshot>,
        applied: Mutex<Vec<String>>,
    }

    #[async_trait]
    impl Executor for Memory {
        fn name(&self) -> &'static str {
            "memory"
        }
        fn claims(&self, action: &Action) -> bool {
            matches!(
                action,
                Action::Cordon { .. } | Action::Drain { .. } | Action::DeleteNode { .. }
            )
        }
        fn observes(&self, fact: &Fact) -> bool {
            matches!(fact, Fact::Node { .. } | Fact::PodsOnNode { .. })
        }
        async fn observe(&self, fact: &Fact) -> Result<Observation, ExecutorError> {
            let s = self.snapshot.lock().map_err(|e| e.to_string())?;
            Ok(match fact {
                Fact::Node { name } => Observation::Node(s.node(name).cloned().map(Box::new)),
                Fact::PodsOnNode { node } => {
                    Observation::PodsOnNode(s.pods_on(node).cloned().collect())
                }
                _ => return Err("not observed".into()),
            })
        }
        async fn already_done(&self, action: &Action) -> Result<Option<String>, ExecutorError> {
            let s = self.snapshot.lock().map_err(|e| e.to_string())?;
            Ok(match action {
                Action::DeleteNode { node } if s.node(node).is_none() => Some("gone".into()),
                _ => None,
            })
        }
        async fn apply(
            &self,
            action: &Action,
            context: &ApplyContext,
        ) -> Result<StepOutcome, ExecutorError> {
            if context.mode == Mode::DryRun {
                return Ok(StepOutcome::WouldDo(action.kind().into()));
            }
            let mut s = self.snapshot.lock().map_err(|e| e.to_string())?;
            if let Action::DeleteNode { node } = action {
                s.nodes.retain(|n| &n.name != node);
            }
            self.applied
                .lock()
                .map_err(|e| e.to_string())?
                .push(action.kind().into());
            Ok(StepOutcome::Done(action.kind().into()))
        }
    }

    fn demo() -> ClusterSnapshot {
        crate::demo::DemoEnvironment::generate(
            &crate::demo::DemoConfig::default(),
            crate::catalog::Catalog::embedded().unwrap(),
        )
        .unwrap()
        .snapshot
    }

    #[test]
    fn unowned_steps_refuse_the_plan_and_preconditions_gate_the_rest() {
        let snapshot = demo();
        let busy = snapshot
            .nodes
            .iter()
            .find(|n| snapshot.pods_on(&n.name).any(|p| p.moves_with_node()))
            .unwrap()
            .name
            .clone();
        let memory = Memory {
            snapshot: Mutex::new(snapshot),
            applied: Mutex::new(vec![]),
        };
        let now: Timestamp = "2026-12-01T12:00:00Z".parse().unwrap();
        let clock = move || now;
        let runner = PlanRunner::new(&clock).with(&memory).mode(Mode::Execute);

        let mut plan = Plan::new("test", now);
        plan.push(
            Action::Cordon { node: busy.clone() },
            "",
            vec![],
            UsdPerHour::ZERO,
        );
        plan.push(
            Action::TerminateInstance {
                instance_id: "i-1".into(),
                node: None,
                auto_scaling_group: None,
            },
            "",
            vec![Precondition::InstanceNotInCluster {
                instance_id: "i-1".into(),
            }],
            UsdPerHour::ZERO,
        );
        let refused = block_on(runner.run(&plan)).unwrap_err();
        assert_eq!(refused.problems.len(), 2, "{refused}");
        assert!(memory.applied.lock().unwrap().is_empty(), "nothing ran");

        // A node still running pods is not deleted; the deadline is judged on the clock.
        let mut plan = Plan::new("test", now);
        plan.push(
            Action::DeleteNode { node: busy.clone() },
            "",
            vec![Precondition::NodeDrained { node: busy.clone() }],
            UsdPerHour::ZERO,
        );
        plan.push(
            Action::Cordon { node: busy.clone() },
            "",
            vec![Precondition::Before {
                deadline: now - jiff::SignedDuration::from_secs(1),
            }],
            UsdPerHour::ZERO,
        );
        let run = block_on(runner.run(&plan)).unwrap();
        assert!(run.is_complete());
        assert_eq!(run.skipped().count(), 2, "{run}");
        assert!(memory.applied.lock().unwrap().is_empty());

        // In a dry run, a drain before the deletion establishes its precondition.
        let mut plan = Plan::new("test", now);
        plan.push(
            Action::Drain { node: busy.clone() },
            "",
            vec![],
            UsdPerHour::ZERO,
        );
        plan.push(
            Action::DeleteNode { node: busy.clone() },
            "",
            vec![Precondition::NodeDrained { node: busy.clone() }],
            UsdPerHour::ZERO,
        );
        let dry = block_on(PlanRunner::new(&clock).with(&memory).run(&plan)).unwrap();
        assert!(
            matches!(dry.steps[1].outcome, StepOutcome::WouldDo(_)),
            "{dry}"
        );
        assert_eq!(dry.steps[1].relies_on_earlier_steps.len(), 1);
        // Executing it without the drain having worked skips the deletion.
        let mut only_delete = plan.clone();
        only_delete.steps.remove(0);
        let run = block_on(runner.run(&only_delete)).unwrap();
        assert!(matches!(run.steps[0].outcome, StepOutcome::Skipped(_)));
    }

    /// Hears every step; refuses (like a lost lease) from `refuse_at` on.
    struct Journal {
        heard: Mutex<Vec<usize>>,
        refuse_at: usize,
    }

    #[async_trait]
    impl StepJournal for Journal {
        async fn step(&self, report: &StepReport) -> Result<(), ExecutorError> {
            if report.index >= self.refuse_at {
                return Err("lease lost".into());
            }
            self.heard
                .lock()
                .map_err(|e| e.to_string())?
                .push(report.index);
            Ok(())
        }
        async fn failed(&self, _: &StepFailed) -> Result<(), ExecutorError> {
            Ok(())
        }
    }

    #[test]
    fn the_journal_hears_each_step_and_a_resumed_plan_skips_what_was_done() {
        let snapshot = demo();
        let nodes: Vec<String> = snapshot
            .nodes
            .iter()
            .take(4)
            .map(|n| n.name.clone())
            .collect();
        let memory = Memory {
            snapshot: Mutex::new(snapshot),
            applied: Mutex::new(vec![]),
        };
        let now: Timestamp = "2026-12-01T12:00:00Z".parse().unwrap();
        let clock = move || now;
        let mut plan = Plan::new("test", now);
        for n in &nodes {
            plan.push(
                Action::Cordon { node: n.clone() },
                "",
                vec![],
                UsdPerHour::ZERO,
            );
        }
        // The journal refuses step 2: the run stops there, step 2 having run.
        let journal = Journal {
            heard: Mutex::new(vec![]),
            refuse_at: 2,
        };
        let runner = PlanRunner::new(&clock)
            .with(&memory)
            .mode(Mode::Execute)
            .journal(&journal);
        let run = block_on(runner.run(&plan)).unwrap();
        assert_eq!(
            run.failed.as_ref().map(|f| (f.index, f.executor)),
            Some((2, "journal"))
        );
        assert_eq!(*journal.heard.lock().unwrap(), [0, 1]);
        assert_eq!(memory.applied.lock().unwrap().len(), 3);

        // Another runner resumes from the two steps recorded as done: they
        // are neither applied again nor journaled again.
        let done: BTreeSet<usize> = journal.heard.lock().unwrap().iter().copied().collect();
        let journal = Journal {
            heard: Mutex::new(vec![]),
            refuse_at: usize::MAX,
        };
        let run = block_on(
            PlanRunner::new(&clock)
                .with(&memory)
                .mode(Mode::Execute)
                .journal(&journal)
                .resume(&done)
                .run(&plan),
        )
        .unwrap();
        assert!(run.is_complete(), "{run}");
        assert_eq!(run.steps[0].outcome, StepOutcome::Done(DONE_EARLIER.into()));
        assert_eq!(run.steps[1].outcome, StepOutcome::Done(DONE_EARLIER.into()));
        assert_eq!(*journal.heard.lock().unwrap(), [2, 3]);
        assert_eq!(
            memory.applied.lock().unwrap().len(),
            5,
            "steps 2 and 3 again: the memory executor has no already_done for a cordon"
        );
    }
}

/// An in-memory account executor for engine tests outside this module
/// (async methods may only be declared here: `scripts/check-core-purity`).
#[cfg(test)]
#[allow(clippy::unwrap_used)]
pub(crate) mod test_account {
    use jiff::Timestamp;

    use crate::execute::{Fact, Observation};
    use crate::inventory::AwsInventory;
    use crate::plan::{Action, Plan};

    fn block_on<F: std::future::Future>(future: F) -> F::Output {
        let mut future = std::pin::pin!(future);
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        loop {
            if let std::task::Poll::Ready(out) = future.as_mut().poll(&mut cx) {
                return out;
            }
        }
    }

    /// An account held in memory: observes volumes and instances, records
    /// what it applies.
    struct Account {
        inventory: AwsInventory,
        applied: std::sync::Mutex<Vec<String>>,
    }

    #[async_trait::async_trait]
    impl crate::execute::Executor for Account {
        fn name(&self) -> &'static str {
            "account"
        }
        fn claims(&self, _: &Action) -> bool {
            true
        }
        fn observes(&self, _: &Fact) -> bool {
            true
        }
        async fn observe(&self, fact: &Fact) -> Result<Observation, crate::execute::ExecutorError> {
            let inv = &self.inventory;
            Ok(match fact {
                Fact::Volume { volume_id } => Observation::Volume(
                    inv.volumes
                        .iter()
                        .find(|v| &v.volume_id == volume_id)
                        .cloned()
                        .map(Box::new),
                ),
                Fact::Instance { instance_id } => Observation::Instance(
                    inv.instances
                        .iter()
                        .find(|i| &i.instance_id == instance_id)
                        .cloned()
                        .map(Box::new),
                ),
                Fact::VolumeClaim { .. } => Observation::VolumeClaim(None),
                Fact::VolumeSnapshots { .. } => Observation::VolumeSnapshots(0),
                Fact::NodeOfInstance { .. } => Observation::NodeOfInstance(None),
                Fact::AutoScalingGroup { name } => Observation::AutoScalingGroup(
                    inv.auto_scaling_groups
                        .iter()
                        .find(|g| &g.name == name)
                        .cloned()
                        .map(Box::new),
                ),
                _ => return Err("not observed".into()),
            })
        }
        async fn already_done(
            &self,
            _: &Action,
        ) -> Result<Option<String>, crate::execute::ExecutorError> {
            Ok(None)
        }
        async fn apply(
            &self,
            action: &Action,
            context: &crate::execute::ApplyContext,
        ) -> Result<crate::plan::StepOutcome, crate::execute::ExecutorError> {
            if context.mode == crate::plan::Mode::DryRun {
                return Ok(crate::plan::StepOutcome::WouldDo(action.kind().into()));
            }
            self.applied
                .lock()
                .map_err(|e| e.to_string())?
                .push(action.kind().into());
            Ok(crate::plan::StepOutcome::Done(action.kind().into()))
        }
    }

    pub(crate) fn run_plan(
        plan: &Plan,
        inventory: AwsInventory,
        at: Timestamp,
        mode: crate::plan::Mode,
    ) -> (Vec<String>, crate::execute::PlanRun) {
        let account = Account {
            inventory,
            applied: std::sync::Mutex::new(vec![]),
        };
        let clock = move || at;
        let run = block_on(
            crate::execute::PlanRunner::new(&clock)
                .with(&account)
                .mode(mode)
                .run(plan),
        )
        .unwrap();
        (account.applied.into_inner().unwrap(), run)
    }
}
