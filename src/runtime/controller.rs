//! The controller: one process managing many clusters, several processes
//! sharing them through the [`Store`]'s leases.
//!
//! [`Controller::run`] claims clusters nobody holds (up to
//! [`ControllerConfig::max_clusters`]) and runs one task per cluster held:
//!
//! - **Interruption loop.** Long-polls the cluster's SQS queue, records
//!   each event ([`Store::receive_event`]: a redelivered event whose plan
//!   completed is acknowledged, not handled again), turns it into a plan
//!   with the core's [`InterruptionHandler`], runs the plan, and deletes the
//!   message only when the plan completed. While a plan runs longer than
//!   the queue's visibility timeout the message's visibility is extended;
//!   a message that is not an event is deleted or left for the dead-letter
//!   queue ([`MalformedPolicy`](cloudoptim_aws::MalformedPolicy)). Events
//!   handed in through the API (`POST /api/v1/events/process`) are taken
//!   from the store the same way.
//! - **Optimization cycle.** Every [`ControllerConfig::cycle_interval`],
//!   or at once when the API asked ([`Store::request_cycle`]): observe the
//!   cluster (scoped to its node selector) and its account, then each
//!   enabled [`Engine`] in turn plans with its own policy and budget and
//!   its plan runs: ghost instances, zombie volumes, office hours,
//!   consolidation, spot conversion (opt-in). After a plan that changed
//!   the cluster, the next engine plans on a new observation. An engine
//!   that cannot tell (no account observation, a list read in pieces at
//!   different revisions) makes no plan, and says why. A spot pool whose
//!   launch failed is left out of the next plans for
//!   [`ControllerConfig::spot_pool_unavailable_for`].
//!   Level-triggered: every cycle starts from what is there, so a missed
//!   cycle heals at the next one.
//!
//! Every plan goes through the one [`PlanRunner`] with the Kubernetes and
//! EC2 executors, dry-run unless [`ControllerConfig::mode`] says execute,
//! and is recorded step by step as each step ends. The lease is renewed in
//! the background; when it is lost (or on shutdown) the step in flight
//! finishes, the run stops, and it stays `running` in the store: whoever
//! takes the cluster next resumes it from the steps recorded as done
//! ([`PlanRunner::resume`]) instead of repeating them.

use std::collections::{BTreeSet, HashMap};
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use cloudoptim_aws::{AutoScaling, AwsSettings, Ec2, Ec2Executor, SqsConsumer, SqsSettings};
use cloudoptim_core::catalog::Catalog;
use cloudoptim_core::consolidation::ConsolidationPolicy;
use cloudoptim_core::execute::{
    ExecutorError, PlanRunner, StepFailed, StepJournal, StepReport, DONE_EARLIER,
};
use cloudoptim_core::inventory::AwsInventory;
use cloudoptim_core::office_hours::OfficeHoursPolicy;
use cloudoptim_core::plan::{Mode, Plan, StepOutcome};
use cloudoptim_core::spot::events::{parse_event, InstanceEvent};
use cloudoptim_core::spot::interruption::{InterruptionHandler, InterruptionPolicy, Outcome};
use cloudoptim_core::waste::ghost_instances::GhostPolicy;
use cloudoptim_core::waste::zombie_volumes::ZombiePolicy;
use cloudoptim_k8s::{
    ClientSettings, KubeClient, KubeExecutor, ObserveOptions, ObservedKinds, Onboarding,
    SecretString,
};
use tokio::sync::{watch, Mutex};
use tokio::task::JoinSet;
use tracing::Instrument;

use super::engines::{self, Engine, Observed};
use super::events::{EventRecord, EventStatus};
use super::metrics::Metrics;
use super::store::{outcome_kind, ClusterRecord, Lease, RunId, RunStatus, Store, StoreError};

/// How the controller works. [`ControllerConfig::new`] gives the defaults.
#[derive(Clone, Debug)]
pub struct ControllerConfig {
    /// This process's name as a lease holder (unique per process).
    pub holder: String,
    /// How long a lease lasts without renewal; renewed every third of it.
    pub lease: Duration,
    /// At most this many clusters held by this process.
    pub max_clusters: usize,
    /// How often to look for free clusters, cycles asked for and events
    /// handed in through the API.
    pub look_interval: Duration,
    /// Optimization cycle every this long (the seed's defragmentation runs
    /// every 10 minutes); `None`: only when asked through the API.
    pub cycle_interval: Option<Duration>,
    /// Dry-run (the default) or execute.
    pub mode: Mode,
    /// Ghost instances in each cycle ([`Engine::GhostInstances`]), with
    /// its policy; the cluster name and region come from each cluster's
    /// record. `None` leaves it out.
    pub ghost_instances: Option<GhostPolicy>,
    /// Zombie volumes in each cycle ([`Engine::ZombieVolumes`]), with its
    /// policy (cluster name and region from the record); `None` leaves it
    /// out.
    pub zombie_volumes: Option<ZombiePolicy>,
    /// Office hours in each cycle ([`Engine::OfficeHours`]); `None` leaves
    /// it out.
    pub office_hours: Option<OfficeHoursPolicy>,
    /// Consolidation in each cycle, with its policy and budget (the region
    /// from the record); `None` leaves it out.
    pub consolidation: Option<ConsolidationPolicy>,
    /// Spot conversion in each cycle, with its policy and budget
    /// ([`ConsolidationPolicy::spot_conversion`]'s defaults); `None`
    /// leaves it out.
    pub spot_conversion: Option<ConsolidationPolicy>,
    /// Interruption handling; `None` leaves the queues unread.
    pub interruption: Option<InterruptionPolicy>,
    /// How long a spot pool (instance type, zone) whose launch failed is
    /// left out of the cluster's spot conversion plans (default 30
    /// minutes): the next cycle buys from the next pool instead.
    pub spot_pool_unavailable_for: Duration,
    /// A pause after each step that changed something, before the next
    /// (disruption pacing; zero by default).
    pub step_pause: Duration,
    /// How queues are read (the queue URL is each cluster's own).
    pub sqs: SqsSettings,
    /// Between empty receives when long polling is off
    /// (`SQS_POLL_INTERVAL_SECONDS`, default 5 s).
    pub sqs_poll_interval: Duration,
    /// AWS endpoint and region defaults (each cluster's region and role
    /// come from its record).
    pub aws: AwsSettings,
    /// Timeouts and retries of the Kubernetes clients.
    pub kube: ClientSettings,
    /// Longest wait after repeated failures (doubling from
    /// `look_interval`).
    pub max_backoff: Duration,
}

impl ControllerConfig {
    /// Defaults for `holder`: 30 s leases, 100 clusters, a look every 2 s,
    /// a cycle every 10 minutes, dry-run, the `SQS_*` and `AWS_*`
    /// variables of the environment, and every engine with its default
    /// policy except spot conversion, which is opt-in (it changes how the
    /// cluster's nodes can fail): ghost instances reported (marked, never
    /// terminated), zombie volumes marked and, a week later, snapshotted
    /// and deleted, office hours for the workloads that opt in,
    /// consolidation, and interruption handling.
    pub fn new(holder: impl Into<String>) -> ControllerConfig {
        let poll = std::env::var("SQS_POLL_INTERVAL_SECONDS")
            .ok()
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(5);
        ControllerConfig {
            holder: holder.into(),
            lease: Duration::from_secs(30),
            max_clusters: 100,
            look_interval: Duration::from_secs(2),
            cycle_interval: Some(Duration::from_secs(600)),
            mode: Mode::DryRun,
            ghost_instances: Some(GhostPolicy::new("", "")),
            zombie_volumes: Some(ZombiePolicy::new("", "")),
            office_hours: Some(OfficeHoursPolicy::default()),
            consolidation: Some(ConsolidationPolicy::default()),
            spot_conversion: None,
            spot_pool_unavailable_for: Duration::from_secs(30 * 60),
            interruption: Some(InterruptionPolicy::default()),
            step_pause: Duration::ZERO,
            sqs: SqsSettings::from_env(String::new()),
            sqs_poll_interval: Duration::from_secs(poll.max(1)),
            aws: AwsSettings::from_env(),
            kube: ClientSettings::default(),
            max_backoff: Duration::from_secs(300),
        }
    }
}

impl ControllerConfig {
    /// Run exactly `engines` in each cycle: a listed engine keeps its
    /// policy, or gets its default one; the others are left out.
    ///
    /// ```
    /// use cloudoptim::runtime::{ControllerConfig, Engine};
    ///
    /// let config = ControllerConfig::new("host-a")
    ///     .with_engines(&[Engine::Consolidation, Engine::SpotConversion]);
    /// assert_eq!(config.engines(), [Engine::Consolidation, Engine::SpotConversion]);
    /// assert!(config.office_hours.is_none());
    /// ```
    pub fn with_engines(mut self, engines: &[Engine]) -> ControllerConfig {
        let on = |e: Engine| engines.contains(&e);
        fn keep<T>(policy: Option<T>, on: bool, default: impl FnOnce() -> T) -> Option<T> {
            on.then(|| policy.unwrap_or_else(default))
        }
        self.ghost_instances = keep(self.ghost_instances, on(Engine::GhostInstances), || {
            GhostPolicy::new("", "")
        });
        self.zombie_volumes = keep(self.zombie_volumes, on(Engine::ZombieVolumes), || {
            ZombiePolicy::new("", "")
        });
        self.office_hours = keep(
            self.office_hours,
            on(Engine::OfficeHours),
            OfficeHoursPolicy::default,
        );
        self.consolidation = keep(
            self.consolidation,
            on(Engine::Consolidation),
            ConsolidationPolicy::default,
        );
        self.spot_conversion = keep(
            self.spot_conversion,
            on(Engine::SpotConversion),
            ConsolidationPolicy::spot_conversion,
        );
        self
    }

    /// The engines each cycle runs, in their order.
    pub fn engines(&self) -> Vec<Engine> {
        Engine::ALL
            .into_iter()
            .filter(|e| match e {
                Engine::GhostInstances => self.ghost_instances.is_some(),
                Engine::ZombieVolumes => self.zombie_volumes.is_some(),
                Engine::OfficeHours => self.office_hours.is_some(),
                Engine::Consolidation => self.consolidation.is_some(),
                Engine::SpotConversion => self.spot_conversion.is_some(),
            })
            .collect()
    }
}

/// Why the controller stopped.
#[derive(Debug, thiserror::Error)]
pub enum ControllerError {
    /// The embedded catalog does not load.
    #[error("catalog: {0}")]
    Catalog(String),
}

/// The controller over a store. See the [module](self) documentation.
pub struct Controller {
    store: Arc<Store>,
    config: Arc<ControllerConfig>,
    catalog: &'static Catalog,
    metrics: Arc<Metrics>,
}

impl std::fmt::Debug for Controller {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Controller")
            .field("holder", &self.config.holder)
            .finish_non_exhaustive()
    }
}

/// Stop signals a cluster task heeds between steps: shutdown, or the lease
/// lost.
#[derive(Clone)]
struct Halt {
    shutdown: watch::Receiver<bool>,
    lost: watch::Receiver<bool>,
}

impl Halt {
    fn is_set(&self) -> bool {
        *self.shutdown.borrow() || *self.lost.borrow()
    }

    /// Resolves once either is set.
    async fn wait(&self) {
        let mut a = self.shutdown.clone();
        let mut b = self.lost.clone();
        tokio::select! {
            _ = a.wait_for(|v| *v) => {}
            _ = b.wait_for(|v| *v) => {}
        }
    }

    /// Sleep `d`, or less when halted; whether halted.
    async fn sleep(&self, d: Duration) -> bool {
        tokio::select! {
            _ = tokio::time::sleep(d) => self.is_set(),
            _ = self.wait() => true,
        }
    }
}

impl Controller {
    /// A controller over `store` (shared with the API, say).
    pub fn new(store: Arc<Store>, config: ControllerConfig) -> Result<Controller, ControllerError> {
        let catalog = Catalog::embedded().map_err(|e| ControllerError::Catalog(e.to_string()))?;
        Ok(Controller {
            store,
            config: Arc::new(config),
            catalog,
            metrics: Arc::new(Metrics::new()),
        })
    }

    /// Its metrics (serve them with [`Metrics::render`]).
    pub fn metrics(&self) -> Arc<Metrics> {
        self.metrics.clone()
    }

    /// Claim and manage clusters until `shutdown` resolves; then every
    /// cluster task finishes its step in flight, its lease is released
    /// (another process may take it at once), and this returns.
    pub async fn run(&self, shutdown: impl Future<Output = ()>) {
        let (stop, stopped) = watch::channel(false);
        let mut tasks: JoinSet<()> = JoinSet::new();
        let mut held: HashMap<tokio::task::Id, Lease> = HashMap::new();
        let mut failures = 0u32;
        tokio::pin!(shutdown);
        loop {
            let wait = backoff(self.config.look_interval, failures, self.config.max_backoff);
            tokio::select! {
                _ = &mut shutdown => break,
                Some(done) = tasks.join_next_with_id(), if !tasks.is_empty() => {
                    let id = match &done { Ok((id, ())) => *id, Err(e) => e.id() };
                    if let Some(lease) = held.remove(&id) {
                        if let Err(e) = &done {
                            tracing::error!(cluster = %lease.cluster, error = %e, "cluster task ended abnormally");
                            let _ = self.store.release(&lease).await;
                        }
                    }
                    self.metrics.clusters_held.set(held.len() as i64);
                    continue;
                }
                _ = tokio::time::sleep(wait) => {}
            }
            while held.len() < self.config.max_clusters {
                match self
                    .store
                    .claim(&self.config.holder, self.config.lease)
                    .await
                {
                    Ok(Some(lease)) => {
                        failures = 0;
                        tracing::info!(cluster = %lease.cluster, name = %lease.cluster_name, epoch = lease.epoch, "claimed");
                        let task = ClusterTask {
                            store: self.store.clone(),
                            config: self.config.clone(),
                            catalog: self.catalog,
                            metrics: self.metrics.clone(),
                            lease: lease.clone(),
                            shutdown: stopped.clone(),
                        };
                        let span = tracing::info_span!("cluster", id = %lease.cluster, name = %lease.cluster_name);
                        let handle = tasks.spawn(task.manage().instrument(span));
                        held.insert(handle.id(), lease);
                    }
                    Ok(None) => break,
                    Err(e) => {
                        failures = failures.saturating_add(1);
                        self.metrics.error("store");
                        tracing::warn!(error = %e, "claiming clusters");
                        break;
                    }
                }
            }
            self.metrics.clusters_held.set(held.len() as i64);
        }
        tracing::info!(
            clusters = held.len(),
            "shutting down: finishing the steps in flight"
        );
        let _ = stop.send(true);
        while tasks.join_next().await.is_some() {}
        self.metrics.clusters_held.set(0);
    }
}

/// `base` doubled per failure, at most `max`.
fn backoff(base: Duration, failures: u32, max: Duration) -> Duration {
    base.saturating_mul(1u32 << failures.min(16))
        .min(max.max(base))
}

/// One held cluster.
struct ClusterTask {
    store: Arc<Store>,
    config: Arc<ControllerConfig>,
    catalog: &'static Catalog,
    metrics: Arc<Metrics>,
    lease: Lease,
    shutdown: watch::Receiver<bool>,
}

/// What a held cluster acts with.
struct Acting {
    record: ClusterRecord,
    client: KubeClient,
    kube: KubeExecutor,
    ec2: Ec2Executor,
    ec2_client: Ec2,
    autoscaling: AutoScaling,
    sdk: aws_config::SdkConfig,
    /// One plan at a time on the cluster.
    busy: Mutex<()>,
    /// Spot pools (type, zone) whose launch failed, until when they are
    /// left out of plans.
    unavailable_spot: Mutex<HashMap<(String, String), Instant>>,
    handler: Mutex<InterruptionHandler>,
}

/// How a run ended.
#[derive(Debug, PartialEq, Eq)]
enum RunEnd {
    /// Every step ran.
    Completed,
    /// A step failed (its index) or the plan was refused (`None`);
    /// recorded as failed.
    Failed(String, Option<usize>),
    /// Stopped between steps (shutdown or lease lost): left running for the
    /// next holder to resume.
    Interrupted,
}

impl ClusterTask {
    async fn manage(self) {
        let (lost_tx, lost) = watch::channel(false);
        let halt = Halt {
            shutdown: self.shutdown.clone(),
            lost,
        };
        let renewing = {
            let store = self.store.clone();
            let lease = self.lease.clone();
            let every = self.config.lease / 3;
            let duration = self.config.lease;
            let metrics = self.metrics.clone();
            let halt = halt.clone();
            async move {
                loop {
                    if halt.sleep(every).await {
                        return;
                    }
                    match store.renew(&lease, duration).await {
                        Ok(()) => {}
                        Err(StoreError::LeaseLost { .. }) => {
                            tracing::warn!("lease lost: stopping after the step in flight");
                            let _ = lost_tx.send(true);
                            return;
                        }
                        Err(e) => {
                            // The lease still runs until it expires; the next
                            // renewal says whether it is lost.
                            metrics.error("store");
                            tracing::warn!(error = %e, "renewing the lease");
                        }
                    }
                }
            }
        };
        let work = async {
            let mut failures = 0;
            let acting = loop {
                match self.connect().await {
                    Ok(a) => break a,
                    Err(e) => {
                        failures += 1;
                        tracing::warn!(error = %e, "connecting to the cluster");
                        let wait =
                            backoff(self.config.look_interval, failures, self.config.max_backoff);
                        if halt.sleep(wait).await {
                            return;
                        }
                    }
                }
            };
            self.resume_unfinished(&acting, &halt).await;
            tokio::join!(
                self.interruptions(&acting, &halt),
                self.cycles(&acting, &halt)
            );
        };
        tokio::select! {
            () = work => {}
            () = renewing => {
                // Renewal ends only when halted; let the work see it.
            }
        }
        if !*halt.lost.borrow() {
            if let Err(e) = self.store.release(&self.lease).await {
                tracing::warn!(error = %e, "releasing the lease");
            }
        }
        tracing::info!("released");
    }

    async fn connect(&self) -> Result<Acting, String> {
        let record = self
            .store
            .cluster(self.lease.cluster)
            .await
            .map_err(|e| e.to_string())?;
        let token = self
            .store
            .token(self.lease.cluster)
            .await
            .map_err(|e| e.to_string())?;
        let onboarding = Onboarding {
            endpoint: record.api_endpoint.clone(),
            token: SecretString::from(token.expose().to_owned()),
            ca_pem: record.ca_pem.clone(),
        };
        let client = KubeClient::from_onboarding(&onboarding, self.config.kube.clone())
            .await
            .map_err(|e| {
                self.metrics.error("kubernetes");
                e.to_string()
            })?;
        let sdk = AwsSettings {
            region: record.region.clone(),
            endpoint_url: self.config.aws.endpoint_url.clone(),
            assume_role_arn: record.role_arn.clone(),
            external_id: record.external_id.clone(),
        }
        .sdk_config()
        .await;
        let ec2_client = Ec2::new(&sdk);
        let autoscaling = AutoScaling::new(&sdk);
        Ok(Acting {
            kube: KubeExecutor::new(client.clone(), self.config.mode),
            ec2: Ec2Executor::new(ec2_client.clone()).with_auto_scaling(autoscaling.clone()),
            client,
            ec2_client,
            autoscaling,
            sdk,
            record,
            busy: Mutex::new(()),
            unavailable_spot: Mutex::new(HashMap::new()),
            handler: Mutex::new(InterruptionHandler::new()),
        })
    }

    /// A run the last holder left `running`: resumed from its done steps
    /// when it acted; a dry-run is marked failed (it changed nothing).
    async fn resume_unfinished(&self, acting: &Acting, halt: &Halt) {
        let run = match self.store.unfinished_run(self.lease.cluster).await {
            Ok(Some(run)) => run,
            Ok(None) => return,
            Err(e) => {
                self.metrics.error("store");
                tracing::warn!(error = %e, "reading the unfinished run");
                return;
            }
        };
        if run.mode != self.config.mode {
            tracing::info!(run = %run.id, "an unfinished run of another mode: marked failed");
            let _ = self
                .store
                .finish_run(&self.lease, run.id, RunStatus::Failed)
                .await;
            return;
        }
        let done = run.done_steps();
        tracing::info!(run = %run.id, engine = %run.engine, done = done.len(), steps = run.plan.steps.len(), "resuming");
        let _busy = acting.busy.lock().await;
        self.run_plan(acting, halt, run.id, &run.plan, Some(&done), None)
            .await;
    }

    /// Run `plan` as run `run`, recorded step by step.
    async fn run_plan(
        &self,
        acting: &Acting,
        halt: &Halt,
        run: RunId,
        plan: &Plan,
        done: Option<&BTreeSet<usize>>,
        warned_at: Option<jiff::Timestamp>,
    ) -> RunEnd {
        let journal = Journal {
            warned_at,
            store: &self.store,
            lease: &self.lease,
            run,
            metrics: &self.metrics,
            halt,
            pause: if self.config.mode == Mode::Execute {
                self.config.step_pause
            } else {
                Duration::ZERO
            },
        };
        let clock = jiff::Timestamp::now;
        let mut runner = PlanRunner::new(&clock)
            .with(&acting.kube)
            .with(&acting.ec2)
            .mode(self.config.mode)
            .journal(&journal);
        if let Some(done) = done {
            runner = runner.resume(done);
        }
        // What the steps done (now or by an earlier run) change in the bill,
        // as the ledger counts it: skipped steps change nothing.
        let mut saved_usd_per_hour = 0.0;
        let end = match runner.run(plan).await {
            Err(refused) => RunEnd::Failed(refused.to_string(), None),
            Ok(ran) => {
                saved_usd_per_hour = ran
                    .steps
                    .iter()
                    .filter(|s| matches!(s.outcome, StepOutcome::Done(_)))
                    .filter_map(|s| plan.steps.get(s.index))
                    .map(|s| -s.usd_per_hour_delta.usd())
                    .sum();
                let earlier = ran
                    .steps
                    .iter()
                    .filter(|s| matches!(&s.outcome, StepOutcome::Done(d) if d == DONE_EARLIER))
                    .count();
                for _ in 0..earlier {
                    self.metrics.step("done_earlier");
                }
                match ran.failed {
                    Some(f) if f.executor == "journal" => RunEnd::Interrupted,
                    Some(f) => RunEnd::Failed(f.to_string(), Some(f.index)),
                    None => RunEnd::Completed,
                }
            }
        };
        let status = match &end {
            RunEnd::Completed => RunStatus::Completed,
            RunEnd::Failed(..) => RunStatus::Failed,
            RunEnd::Interrupted => return end,
        };
        match self.store.finish_run(&self.lease, run, status).await {
            Ok(()) => {
                if status == RunStatus::Completed && self.config.mode == Mode::Execute {
                    self.metrics.saved_usd_per_hour.inc_by(saved_usd_per_hour);
                }
                tracing::info!(run = %run, engine = %plan.engine, status = status.as_str(), "run finished");
                end
            }
            Err(e) => {
                self.metrics.error("store");
                tracing::warn!(run = %run, error = %e, "recording the end of the run");
                RunEnd::Interrupted
            }
        }
    }

    /// Start a run of `plan` and carry it out; `None` when the store
    /// refused the start (lease lost).
    async fn start_and_run(
        &self,
        acting: &Acting,
        halt: &Halt,
        plan: &Plan,
    ) -> Option<(RunId, RunEnd)> {
        let run = match self
            .store
            .start_run(&self.lease, plan, self.config.mode)
            .await
        {
            Ok(run) => run,
            Err(e) => {
                self.metrics.error("store");
                tracing::warn!(error = %e, "starting a run");
                return None;
            }
        };
        Some((
            run,
            self.run_plan(acting, halt, run, plan, None, None).await,
        ))
    }

    // ----- interruptions -----

    async fn interruptions(&self, acting: &Acting, halt: &Halt) {
        let Some(policy) = &self.config.interruption else {
            return;
        };
        let Some(url) = acting.record.sqs_queue_url.clone() else {
            return;
        };
        let settings = SqsSettings {
            queue_url: url,
            ..self.config.sqs.clone()
        };
        let consumer = SqsConsumer::new(&acting.sdk, settings.clone());
        let mut failures = 0;
        loop {
            if halt.is_set() {
                return;
            }
            let batch = tokio::select! {
                b = consumer.receive() => b,
                () = halt.wait() => return,
            };
            let batch = match batch {
                Ok(b) => {
                    failures = 0;
                    b
                }
                Err(e) => {
                    failures += 1;
                    self.metrics.error("aws");
                    tracing::warn!(error = %e, "receiving from the queue");
                    let wait =
                        backoff(self.config.look_interval, failures, self.config.max_backoff);
                    if halt.sleep(wait).await {
                        return;
                    }
                    continue;
                }
            };
            if batch.is_empty()
                && settings.wait_seconds == 0
                && halt.sleep(self.config.sqs_poll_interval).await
            {
                return;
            }
            for m in batch {
                if halt.is_set() {
                    // Not acknowledged: SQS shows it again to the next holder.
                    return;
                }
                let event = match &m.event {
                    Ok(event) => event,
                    Err(e) => {
                        let removed = consumer.discard_malformed(&m).await;
                        tracing::warn!(message = %m.message_id, error = %e, removed = ?removed.ok(), "a message that is not an event");
                        continue;
                    }
                };
                if let Some(sent) = m.sent_at {
                    let lag = jiff::Timestamp::now().duration_since(sent).as_secs_f64();
                    self.metrics.event_lag_seconds.observe(lag.max(0.0));
                }
                let handled = {
                    let extending = async {
                        let every = Duration::from_secs(
                            u64::try_from(settings.visibility_timeout_seconds / 2)
                                .unwrap_or(1)
                                .max(1),
                        );
                        loop {
                            tokio::time::sleep(every).await;
                            if let Err(e) = consumer
                                .extend_visibility(
                                    &m.receipt_handle,
                                    settings.visibility_timeout_seconds,
                                )
                                .await
                            {
                                self.metrics.error("aws");
                                tracing::warn!(error = %e, "extending the message's visibility");
                            }
                        }
                    };
                    tokio::select! {
                        h = self.handle_event(acting, halt, policy, event, None, m.sent_at) => h,
                        () = extending => false,
                    }
                };
                if handled {
                    if let Err(e) = consumer.ack(&m.receipt_handle).await {
                        self.metrics.error("aws");
                        tracing::warn!(error = %e, "acknowledging the message");
                    }
                }
            }
        }
    }

    /// Handle one event; whether it is settled (acknowledge it).
    /// `warned_at`: when its message was sent to the queue.
    async fn handle_event(
        &self,
        acting: &Acting,
        halt: &Halt,
        policy: &InterruptionPolicy,
        event: &InstanceEvent,
        taken: Option<EventRecord>,
        warned_at: Option<jiff::Timestamp>,
    ) -> bool {
        let span = tracing::info_span!("event", id = %event.id, kind = event.kind.name());
        async {
            self.metrics.events.get_or_create(&[("kind", event.kind.name())]).inc();
            let record = match taken {
                Some(r) => r,
                None => match self.store.receive_event(&self.lease, event).await {
                    Ok(r) => r,
                    Err(e) => {
                        self.metrics.error("store");
                        tracing::warn!(error = %e, "recording the event");
                        return false;
                    }
                },
            };
            if matches!(record.status, EventStatus::Handled | EventStatus::Ignored) {
                tracing::info!(status = record.status.as_str(), "already settled");
                return true;
            }
            let _busy = acting.busy.lock().await;
            // An event whose plan was started before (by this process or
            // the last holder): carry that plan on instead of planning anew.
            let (run, end) = if let Some(run) = record.run {
                let earlier = match self.store.run(self.lease.cluster, run).await {
                    Ok(r) => r,
                    Err(e) => {
                        self.metrics.error("store");
                        tracing::warn!(error = %e, "reading the event's run");
                        return false;
                    }
                };
                match earlier.status {
                    RunStatus::Completed => (run, RunEnd::Completed),
                    RunStatus::Running => {
                        let done = earlier.done_steps();
                        (run, self.run_plan(acting, halt, run, &earlier.plan, Some(&done), None).await)
                    }
                    RunStatus::Failed => match self.start_and_run(acting, halt, &earlier.plan).await {
                        Some(r) => r,
                        None => return false,
                    },
                }
            } else {
                let snapshot = match self.observe_managed(acting).await {
                    Ok(s) => s,
                    Err(e) => {
                        tracing::warn!(error = %e, "observing the cluster for the event");
                        return false;
                    }
                };
                let outcome = acting.handler.lock().await.handle(
                    event,
                    &snapshot,
                    self.catalog,
                    policy,
                    jiff::Timestamp::now(),
                );
                let plan = match outcome {
                    Outcome::Plan { plan, .. } if !plan.steps.is_empty() => plan,
                    Outcome::Plan { .. } => return self.settle(&record, EventStatus::Ignored, None, "nothing to do: the node is left alone").await,
                    Outcome::Duplicate { reason } | Outcome::Ignored { reason } => {
                        return self.settle(&record, EventStatus::Ignored, None, &reason).await;
                    }
                    Outcome::InvalidSnapshot { duplicate } => {
                        tracing::warn!(%duplicate, "invalid snapshot: the event is handled again when delivered again");
                        return false;
                    }
                };
                let run = match self.store.start_run(&self.lease, &plan, self.config.mode).await {
                    Ok(run) => run,
                    Err(e) => {
                        self.metrics.error("store");
                        tracing::warn!(error = %e, "starting the event's run");
                        return false;
                    }
                };
                // The event knows its run before any step: a holder taking
                // over resumes this run rather than planning again.
                if !self.settle(&record, EventStatus::Received, Some(run), "").await {
                    return false;
                }
                (run, self.run_plan(acting, halt, run, &plan, None, warned_at).await)
            };
            match end {
                RunEnd::Completed => self.settle(&record, EventStatus::Handled, Some(run), "").await,
                RunEnd::Failed(why, _) => {
                    self.settle(&record, EventStatus::Failed, Some(run), &why).await;
                    false
                }
                RunEnd::Interrupted => false,
            }
        }
        .instrument(span)
        .await
    }

    async fn settle(
        &self,
        record: &EventRecord,
        status: EventStatus,
        run: Option<RunId>,
        detail: &str,
    ) -> bool {
        match self
            .store
            .settle_event(&self.lease, record.id, status, run, detail)
            .await
        {
            Ok(()) => true,
            Err(e) => {
                self.metrics.error("store");
                tracing::warn!(error = %e, "recording what became of the event");
                false
            }
        }
    }

    /// Events handed in through the API.
    async fn pending_events(&self, acting: &Acting, halt: &Halt) {
        let Some(policy) = &self.config.interruption else {
            return;
        };
        let pending = match self.store.take_pending_events(&self.lease).await {
            Ok(p) => p,
            Err(e) => {
                self.metrics.error("store");
                tracing::warn!(error = %e, "reading events handed in");
                return;
            }
        };
        for (record, body) in pending {
            if halt.is_set() {
                return;
            }
            match parse_event(&body) {
                Ok(event) => {
                    self.handle_event(acting, halt, policy, &event, Some(record), None)
                        .await;
                }
                Err(e) => {
                    self.settle(
                        &record,
                        EventStatus::Ignored,
                        None,
                        &format!("not an event: {e}"),
                    )
                    .await;
                }
            }
        }
    }

    // ----- optimization cycles -----

    async fn cycles(&self, acting: &Acting, halt: &Halt) {
        let mut next = self.config.cycle_interval.map(|_| Instant::now());
        let mut failures = 0;
        loop {
            let look = self.config.look_interval;
            let until_due = next.map_or(look, |at| {
                at.saturating_duration_since(Instant::now()).min(look)
            });
            if halt.sleep(until_due).await {
                return;
            }
            self.pending_events(acting, halt).await;
            let asked = match self.store.take_cycle_request(&self.lease).await {
                Ok(asked) => asked,
                Err(StoreError::LeaseLost { .. }) => return,
                Err(e) => {
                    self.metrics.error("store");
                    tracing::warn!(error = %e, "reading cycle requests");
                    false
                }
            };
            let due = next.is_some_and(|at| Instant::now() >= at);
            if !(asked || due) {
                continue;
            }
            let ok = self.cycle(acting, halt).await;
            failures = if ok { 0 } else { failures + 1 };
            next = self.config.cycle_interval.map(|every| {
                Instant::now()
                    + if ok {
                        every
                    } else {
                        backoff(look, failures, self.config.max_backoff).min(every)
                    }
            });
        }
    }

    /// The cluster as the engines see it: read whole, and scoped to the
    /// managed nodes.
    async fn observe(&self, acting: &Acting) -> Result<Observed, String> {
        let observation = self.read_cluster(acting, ObservedKinds::All).await?;
        let selector = &acting.record.node_selector;
        let scoped = (!selector.is_empty()).then(|| {
            let mut s = observation.snapshot.clone();
            s.restrict_to_nodes(selector);
            s
        });
        Ok(Observed {
            whole: observation.snapshot,
            scoped,
            inconsistent: observation.resumed_kinds,
            account: None,
        })
    }

    /// The managed nodes, their pods and the PDBs only: what an event's
    /// plan needs, in 3 lists instead of 14 (the warning's 2 minutes run).
    async fn observe_managed(
        &self,
        acting: &Acting,
    ) -> Result<cloudoptim_core::ClusterSnapshot, String> {
        let mut snapshot = self
            .read_cluster(acting, ObservedKinds::ForDrains)
            .await?
            .snapshot;
        snapshot.restrict_to_nodes(&acting.record.node_selector);
        Ok(snapshot)
    }

    async fn read_cluster(
        &self,
        acting: &Acting,
        kinds: ObservedKinds,
    ) -> Result<cloudoptim_k8s::Observation, String> {
        let options = ObserveOptions {
            metrics: false,
            kinds,
            ..ObserveOptions::default()
        };
        acting.client.observe(&options).await.map_err(|e| {
            self.metrics.error("kubernetes");
            e.to_string()
        })
    }

    /// The account's side of the cluster; `None` (and a warning) when it
    /// cannot be read: node-group nodes are then left alone, and the
    /// account's engines cannot tell.
    async fn observe_account(&self, acting: &Acting) -> Option<AwsInventory> {
        match cloudoptim_aws::observe_account(
            &acting.ec2_client,
            Some(&acting.autoscaling),
            &acting.record.region,
            &acting.record.name,
        )
        .await
        {
            Ok(a) => Some(a),
            Err(e) => {
                self.metrics.error("aws");
                tracing::warn!(error = %e, "observing the account: node groups are left alone");
                None
            }
        }
    }

    /// One cycle: observe, then each enabled engine in
    /// [`Engine::ALL`]'s order plans and its plan runs. After a plan that
    /// changed the cluster, the next engine plans on a new observation.
    /// Whether it went through (no observation or run failed).
    async fn cycle(&self, acting: &Acting, halt: &Halt) -> bool {
        let span = tracing::info_span!("cycle");
        async {
            let started = Instant::now();
            let _busy = acting.busy.lock().await;
            let mut ok = true;
            let mut acted = false;
            let mut seen: Option<Observed> = None;
            // Spot pools whose launch failed lately (only the last engine,
            // spot conversion, buys spot: read once a cycle).
            let unavailable = {
                let mut pools = acting.unavailable_spot.lock().await;
                let now = Instant::now();
                pools.retain(|_, until| *until > now);
                pools.keys().cloned().collect()
            };
            for engine in Engine::ALL {
                if halt.is_set() {
                    break;
                }
                if seen.is_none() {
                    let observed = match self.observe(acting).await {
                        Ok(o) => o,
                        Err(e) => {
                            tracing::warn!(error = %e, "observing the cluster");
                            ok = false;
                            break;
                        }
                    };
                    seen = Some(Observed {
                        account: self.observe_account(acting).await,
                        ..observed
                    });
                }
                let Some(observed) = &seen else {
                    break;
                };
                let planned = engines::plan(
                    engine,
                    &self.config,
                    &acting.record,
                    observed,
                    &unavailable,
                    self.catalog,
                    jiff::Timestamp::now(),
                );
                let plan = match planned {
                    Ok(Some(plan)) => plan,
                    Ok(None) => continue,
                    Err(why) => {
                        self.metrics.plan(engine, "cannot_tell");
                        tracing::info!(engine = %engine, %why, "cannot tell: no plan");
                        continue;
                    }
                };
                if plan.steps.is_empty() {
                    self.metrics.plan(engine, "nothing_to_do");
                    continue;
                }
                self.metrics.plan(engine, "planned");
                tracing::info!(engine = %engine, steps = plan.steps.len(), "planned");
                match self.start_and_run(acting, halt, &plan).await {
                    Some((_, RunEnd::Completed)) => {
                        acted = true;
                        if self.config.mode == Mode::Execute {
                            // What the next engine plans on has changed.
                            seen = None;
                        }
                    }
                    Some((_, RunEnd::Interrupted)) => break,
                    Some((_, RunEnd::Failed(_, step))) => {
                        ok = false;
                        seen = None;
                        if let Some(pool) = step.and_then(|i| engines::spot_pool_launched(&plan, i)) {
                            tracing::warn!(instance_type = %pool.0, zone = %pool.1, "a spot launch failed: the pool is left out for a while");
                            acting.unavailable_spot.lock().await.insert(pool, Instant::now() + self.config.spot_pool_unavailable_for);
                        }
                    }
                    None => {
                        ok = false;
                        seen = None;
                    }
                }
            }
            let outcome = match (ok, acted) {
                (false, _) => "failed",
                (true, true) => "acted",
                (true, false) => "nothing_to_do",
            };
            self.metrics
                .cycles
                .get_or_create(&[("outcome", outcome)])
                .inc();
            self.metrics
                .cycle_seconds
                .observe(started.elapsed().as_secs_f64());
            ok
        }
        .instrument(span)
        .await
    }
}

/// Records each step as it ends, counts it, paces disruptions, and stops
/// the run between steps when halted.
struct Journal<'a> {
    store: &'a Store,
    lease: &'a Lease,
    run: RunId,
    metrics: &'a Metrics,
    halt: &'a Halt,
    pause: Duration,
    /// When the warning this plan answers was sent to the queue: the
    /// warning-to-cordon latency is measured from it.
    warned_at: Option<jiff::Timestamp>,
}

#[async_trait::async_trait]
impl StepJournal for Journal<'_> {
    async fn step(&self, report: &StepReport) -> Result<(), ExecutorError> {
        self.metrics.step(outcome_kind(&report.outcome));
        self.store
            .record_step(self.lease, self.run, report.index, Ok(&report.outcome))
            .await?;
        if let (Some(sent), StepOutcome::Done(_)) = (self.warned_at, &report.outcome) {
            if report.action == "cordon" {
                let lag = jiff::Timestamp::now().duration_since(sent).as_secs_f64();
                self.metrics.warning_to_cordon_seconds.observe(lag.max(0.0));
            }
        }
        if matches!(report.outcome, StepOutcome::Done(_)) && !self.pause.is_zero() {
            self.halt.sleep(self.pause).await;
        }
        if self.halt.is_set() {
            return Err(
                "stopped between steps (shutdown or lease lost): the next holder resumes the run"
                    .into(),
            );
        }
        Ok(())
    }

    async fn failed(&self, failed: &StepFailed) -> Result<(), ExecutorError> {
        self.metrics.step("failed");
        self.store
            .record_step(
                self.lease,
                self.run,
                failed.index,
                Err(&failed.source.to_string()),
            )
            .await?;
        Ok(())
    }
}
