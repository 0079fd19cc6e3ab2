//! The control plane's state in PostgreSQL: clusters and their onboarding
//! data (token sealed), leases that let several processes share the
//! clusters, optimization runs with their plans and every step's outcome.
//!
//! **Leases.** [`Store::claim`] takes one cluster nobody holds (or whose
//! lease expired) with `SELECT … FOR UPDATE SKIP LOCKED`, so concurrent
//! processes never take the same one, and bumps the cluster's epoch (a
//! fencing number). Every write about a cluster's runs carries the lease
//! and is refused ([`StoreError::LeaseLost`]) once the lease expired or
//! someone else holds it, checked in the same statement: a process that
//! stalled past its lease cannot record a step after the one that took
//! over. PostgreSQL's clock decides expiry, so processes' clocks need not
//! agree.
//!
//! **Resuming.** A run left `running` by a process that died is found by
//! [`Store::unfinished_run`] with the steps it recorded as done; the new
//! holder carries on from there instead of repeating them.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::time::Duration;

use cloudoptim_core::money::UsdPerHour;
use cloudoptim_core::plan::{Mode, Plan, StepOutcome};
use jiff::Timestamp;
use tokio_postgres::{Client, NoTls};

use super::seal::{SealError, Secret, TokenKey};

/// The migrations, in order: (version, SQL). Applied once each.
const MIGRATIONS: &[(i32, &str)] = &[
    (1, include_str!("../../migrations/0001_control_plane.sql")),
    (2, include_str!("../../migrations/0002_controller.sql")),
];

/// Serializes concurrent migrators (any constant shared by all processes).
const MIGRATION_LOCK: i64 = 0x636c_6f75_646f_7074;

/// A cluster's row id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ClusterId(pub i64);

impl fmt::Display for ClusterId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// An optimization run's row id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RunId(pub i64);

impl fmt::Display for RunId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// What onboarding a cluster takes.
#[derive(Clone, Debug)]
pub struct NewCluster {
    /// A unique name (1–253 characters: letters, digits, `-`, `.`, `_`).
    pub name: String,
    /// The AWS region it runs in.
    pub region: String,
    /// Its Kubernetes API endpoint (`https://…`).
    pub api_endpoint: String,
    /// The API server's CA certificate (PEM), when not publicly trusted.
    pub ca_pem: Option<String>,
    /// The IAM role to assume in its account, and the external id.
    pub role_arn: Option<String>,
    /// External id for the role.
    pub external_id: Option<String>,
    /// Its spot-interruption SQS queue.
    pub sqs_queue_url: Option<String>,
    /// Manage only the nodes carrying all these labels (a node pool);
    /// empty manages every node.
    pub node_selector: BTreeMap<String, String>,
    /// The service account token CloudOptim uses (sealed before it is
    /// stored; never returned by listings).
    pub token: Secret,
}

/// A cluster as listed: everything but the token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClusterRecord {
    /// Row id.
    pub id: ClusterId,
    /// Name.
    pub name: String,
    /// Region.
    pub region: String,
    /// API endpoint.
    pub api_endpoint: String,
    /// CA certificate.
    pub ca_pem: Option<String>,
    /// IAM role.
    pub role_arn: Option<String>,
    /// External id.
    pub external_id: Option<String>,
    /// SQS queue.
    pub sqs_queue_url: Option<String>,
    /// The nodes managed: those carrying all these labels.
    pub node_selector: BTreeMap<String, String>,
    /// Who holds its lease now, if the lease has not expired.
    pub lease_holder: Option<String>,
}

/// The right to act on one cluster until the lease expires.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lease {
    /// The cluster.
    pub cluster: ClusterId,
    /// Its name.
    pub cluster_name: String,
    /// Who holds it.
    pub holder: String,
    /// The fencing number of this lease.
    pub epoch: i64,
}

/// How a run ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RunStatus {
    /// Still running (or its process died; see [`Store::unfinished_run`]).
    Running,
    /// Every step ran.
    Completed,
    /// A step failed.
    Failed,
}

impl RunStatus {
    /// The name stored (and served by the API).
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Running => "running",
            RunStatus::Completed => "completed",
            RunStatus::Failed => "failed",
        }
    }

    fn parse(text: &str) -> Option<RunStatus> {
        Some(match text {
            "running" => RunStatus::Running,
            "completed" => RunStatus::Completed,
            "failed" => RunStatus::Failed,
            _ => return None,
        })
    }
}

/// What a step's row says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StepRecord {
    /// The step's outcome.
    Outcome(StepOutcome),
    /// It failed, with this error.
    Failed(String),
}

/// A run as read back: the plan, how it ended, every recorded step.
#[derive(Clone, Debug)]
pub struct RunRecord {
    /// Row id.
    pub id: RunId,
    /// The cluster.
    pub cluster: ClusterId,
    /// The engine that made the plan.
    pub engine: String,
    /// The plan.
    pub plan: Plan,
    /// Dry-run or for real.
    pub mode: Mode,
    /// Status.
    pub status: RunStatus,
    /// When it started (PostgreSQL's clock).
    pub started_at: Timestamp,
    /// (step index, what happened), in index order.
    pub steps: Vec<(usize, StepRecord)>,
}

impl RunRecord {
    /// The steps recorded as done: what a resumed run skips
    /// ([`PlanRunner::resume`](cloudoptim_core::execute::PlanRunner::resume)).
    pub fn done_steps(&self) -> std::collections::BTreeSet<usize> {
        self.steps
            .iter()
            .filter(|(_, s)| matches!(s, StepRecord::Outcome(StepOutcome::Done(_))))
            .map(|(i, _)| *i)
            .collect()
    }
}

/// Why the store refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// PostgreSQL refused or the connection broke.
    #[error("PostgreSQL: {0}")]
    Db(#[from] tokio_postgres::Error),
    /// A migration failed; nothing of it is applied.
    #[error("migration {version}: {source}")]
    Migration {
        /// Its version.
        version: i32,
        /// Why.
        source: tokio_postgres::Error,
    },
    /// A field of a new cluster is not acceptable.
    #[error("cluster field {field} = {value:?}: {reason}")]
    Invalid {
        /// The field.
        field: &'static str,
        /// Its value (never a token).
        value: String,
        /// Why.
        reason: &'static str,
    },
    /// A cluster of that name exists.
    #[error("a cluster named {0:?} is already registered")]
    Duplicate(String),
    /// No cluster with this id.
    #[error("no cluster with id {0}")]
    NoSuchCluster(ClusterId),
    /// No run with this id for the lease's cluster.
    #[error("no run {run} of cluster {cluster}")]
    NoSuchRun {
        /// The run.
        run: RunId,
        /// The cluster.
        cluster: ClusterId,
    },
    /// The lease expired or another process holds the cluster now: nothing
    /// was written.
    #[error("the lease of {holder} on cluster {cluster} (epoch {epoch}) is lost: it expired or another process took the cluster over")]
    LeaseLost {
        /// The cluster.
        cluster: ClusterId,
        /// Who held it.
        holder: String,
        /// The lease's epoch.
        epoch: i64,
    },
    /// A stored token does not open.
    #[error(transparent)]
    Seal(#[from] SealError),
    /// A stored row does not read back.
    #[error("run {run}: {what}")]
    Corrupt {
        /// The run.
        run: RunId,
        /// What does not read.
        what: String,
    },
}

/// Timestamps as RFC 3339 in UTC, which `jiff` reads.
const UTC_TEXT: &str = r#"to_char(started_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')"#;

/// The state store over one PostgreSQL connection.
pub struct Store {
    pub(super) client: Client,
    key: TokenKey,
}

impl fmt::Debug for Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Store").finish_non_exhaustive()
    }
}

impl Store {
    /// Connect (`postgres://user@host:port/db`; no TLS: run it on loopback
    /// or a private network) and seal tokens with `key`.
    pub async fn connect(url: &str, key: TokenKey) -> Result<Store, StoreError> {
        let (client, connection) = tokio_postgres::connect(url, NoTls).await?;
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::warn!(error = %e, "PostgreSQL connection ended");
            }
        });
        Ok(Store { client, key })
    }

    /// Apply the migrations not applied yet, each in its own transaction,
    /// one migrator at a time (an advisory lock); returns the versions
    /// applied now (none when up to date).
    pub async fn migrate(&mut self) -> Result<Vec<i32>, StoreError> {
        let tx = self.client.transaction().await?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
            .await?;
        tx.batch_execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations (
                version INT PRIMARY KEY,
                applied_at TIMESTAMPTZ NOT NULL DEFAULT now())",
        )
        .await?;
        let done: BTreeSet<i32> = tx
            .query("SELECT version FROM schema_migrations", &[])
            .await?
            .iter()
            .map(|r| r.get(0))
            .collect();
        let mut applied = Vec::new();
        for &(version, sql) in MIGRATIONS {
            if done.contains(&version) {
                continue;
            }
            tx.batch_execute(sql)
                .await
                .map_err(|source| StoreError::Migration { version, source })?;
            tx.execute(
                "INSERT INTO schema_migrations (version) VALUES ($1)",
                &[&version],
            )
            .await?;
            applied.push(version);
        }
        tx.commit().await?;
        tracing::info!(?applied, "migrations");
        Ok(applied)
    }

    /// Register a cluster; its token is sealed before it is written.
    pub async fn add_cluster(&self, new: &NewCluster) -> Result<ClusterId, StoreError> {
        validate(new)?;
        let sealed = self.key.seal(new.token.expose(), &new.name);
        let selector = serde_json::Value::Object(
            new.node_selector
                .iter()
                .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
                .collect(),
        );
        let row = self
            .client
            .query_opt(
                "INSERT INTO clusters (name, region, api_endpoint, ca_pem, role_arn, external_id,
                                       sqs_queue_url, token_sealed, node_selector)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
                 ON CONFLICT (name) DO NOTHING RETURNING id",
                &[
                    &new.name,
                    &new.region,
                    &new.api_endpoint,
                    &new.ca_pem,
                    &new.role_arn,
                    &new.external_id,
                    &new.sqs_queue_url,
                    &sealed,
                    &selector,
                ],
            )
            .await?;
        match row {
            Some(r) => Ok(ClusterId(r.get(0))),
            None => Err(StoreError::Duplicate(new.name.clone())),
        }
    }

    /// Every cluster, by id, without tokens.
    pub async fn clusters(&self) -> Result<Vec<ClusterRecord>, StoreError> {
        self.cluster_rows(None).await
    }

    async fn cluster_rows(&self, id: Option<ClusterId>) -> Result<Vec<ClusterRecord>, StoreError> {
        let rows = self
            .client
            .query(
                "SELECT id, name, region, api_endpoint, ca_pem, role_arn, external_id, sqs_queue_url,
                        CASE WHEN lease_expires_at > now() THEN lease_holder END, node_selector
                 FROM clusters WHERE ($1::BIGINT IS NULL OR id = $1) ORDER BY id",
                &[&id.map(|c| c.0)],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|r| ClusterRecord {
                id: ClusterId(r.get(0)),
                name: r.get(1),
                region: r.get(2),
                api_endpoint: r.get(3),
                ca_pem: r.get(4),
                role_arn: r.get(5),
                external_id: r.get(6),
                sqs_queue_url: r.get(7),
                lease_holder: r.get(8),
                node_selector: match r.get::<_, serde_json::Value>(9) {
                    serde_json::Value::Object(m) => m
                        .into_iter()
                        .filter_map(|(k, v)| Some((k, v.as_str()?.to_owned())))
                        .collect(),
                    _ => BTreeMap::new(),
                },
            })
            .collect())
    }

    /// One cluster, without its token.
    pub async fn cluster(&self, id: ClusterId) -> Result<ClusterRecord, StoreError> {
        self.cluster_rows(Some(id))
            .await?
            .pop()
            .ok_or(StoreError::NoSuchCluster(id))
    }

    /// Take the lease of this cluster if nobody holds it (or its lease
    /// expired); `None` when another process holds it.
    pub async fn claim_cluster(
        &self,
        id: ClusterId,
        holder: &str,
        duration: Duration,
    ) -> Result<Option<Lease>, StoreError> {
        let row = self
            .client
            .query_opt(
                "UPDATE clusters c
                 SET lease_holder = $2,
                     lease_expires_at = now() + make_interval(secs => $3),
                     lease_epoch = c.lease_epoch + 1
                 WHERE c.id = $1 AND (c.lease_holder IS NULL OR c.lease_expires_at <= now())
                 RETURNING c.id, c.name, c.lease_epoch",
                &[&id.0, &holder, &duration.as_secs_f64()],
            )
            .await?;
        Ok(row.map(|r| Lease {
            cluster: ClusterId(r.get(0)),
            cluster_name: r.get(1),
            holder: holder.to_owned(),
            epoch: r.get(2),
        }))
    }

    /// The cluster's token, opened (for the Kubernetes client only).
    pub async fn token(&self, cluster: ClusterId) -> Result<Secret, StoreError> {
        let row = self
            .client
            .query_opt(
                "SELECT name, token_sealed FROM clusters WHERE id = $1",
                &[&cluster.0],
            )
            .await?
            .ok_or(StoreError::NoSuchCluster(cluster))?;
        let name: String = row.get(0);
        let sealed: Vec<u8> = row.get(1);
        Ok(self.key.open(&sealed, &name)?)
    }

    /// Take the lease of one cluster nobody holds (or whose lease expired),
    /// for `duration`: the one waiting longest first. `None` when every
    /// cluster is held.
    pub async fn claim(
        &self,
        holder: &str,
        duration: Duration,
    ) -> Result<Option<Lease>, StoreError> {
        let row = self
            .client
            .query_opt(
                "WITH free AS (
                    SELECT id FROM clusters
                    WHERE lease_holder IS NULL OR lease_expires_at <= now()
                    ORDER BY lease_expires_at NULLS FIRST, id
                    LIMIT 1
                    FOR UPDATE SKIP LOCKED)
                 UPDATE clusters c
                 SET lease_holder = $1,
                     lease_expires_at = now() + make_interval(secs => $2),
                     lease_epoch = c.lease_epoch + 1
                 FROM free WHERE c.id = free.id
                 RETURNING c.id, c.name, c.lease_epoch",
                &[&holder, &duration.as_secs_f64()],
            )
            .await?;
        Ok(row.map(|r| Lease {
            cluster: ClusterId(r.get(0)),
            cluster_name: r.get(1),
            holder: holder.to_owned(),
            epoch: r.get(2),
        }))
    }

    /// Extend the lease by `duration` from now; [`StoreError::LeaseLost`]
    /// if it expired or was taken over.
    pub async fn renew(&self, lease: &Lease, duration: Duration) -> Result<(), StoreError> {
        let n = self
            .client
            .execute(
                "UPDATE clusters SET lease_expires_at = now() + make_interval(secs => $4)
                 WHERE id = $1 AND lease_holder = $2 AND lease_epoch = $3 AND lease_expires_at > now()",
                &[&lease.cluster.0, &lease.holder, &lease.epoch, &duration.as_secs_f64()],
            )
            .await?;
        held(n, lease)
    }

    /// Give the cluster back (nothing happens if the lease is already lost).
    pub async fn release(&self, lease: &Lease) -> Result<(), StoreError> {
        self.client
            .execute(
                "UPDATE clusters SET lease_holder = NULL, lease_expires_at = NULL
                 WHERE id = $1 AND lease_holder = $2 AND lease_epoch = $3",
                &[&lease.cluster.0, &lease.holder, &lease.epoch],
            )
            .await?;
        Ok(())
    }

    /// Record that `plan` starts running on the lease's cluster, in `mode`.
    pub async fn start_run(
        &self,
        lease: &Lease,
        plan: &Plan,
        mode: Mode,
    ) -> Result<RunId, StoreError> {
        let json = serde_json::to_value(plan).map_err(|e| StoreError::Corrupt {
            run: RunId(0),
            what: format!("the plan does not serialize: {e}"),
        })?;
        let row = self
            .client
            .query_opt(
                "INSERT INTO optimization_runs (cluster_id, engine, plan, dry_run, status, lease_epoch)
                 SELECT $1, $4, $5, $6, 'running', $3 FROM clusters
                 WHERE id = $1 AND lease_holder = $2 AND lease_epoch = $3 AND lease_expires_at > now()
                 FOR SHARE
                 RETURNING id",
                &[
                    &lease.cluster.0,
                    &lease.holder,
                    &lease.epoch,
                    &plan.engine,
                    &json,
                    &(mode == Mode::DryRun),
                ],
            )
            .await?;
        row.map(|r| RunId(r.get(0))).ok_or_else(|| lost(lease))
    }

    /// Record what step `index` of `run` did (`Err` text when it failed).
    /// Recording a step twice keeps the first record.
    pub async fn record_step(
        &self,
        lease: &Lease,
        run: RunId,
        index: usize,
        outcome: Result<&StepOutcome, &str>,
    ) -> Result<(), StoreError> {
        let (kind, detail) = match outcome {
            Ok(o) => (outcome_kind(o), outcome_detail(o)),
            Err(e) => ("failed", e),
        };
        let index = i32::try_from(index).map_err(|_| StoreError::Corrupt {
            run,
            what: format!("step index {index} out of range"),
        })?;
        let fenced = self
            .client
            .query_opt(
                "WITH ok AS (
                    SELECT r.id FROM optimization_runs r JOIN clusters c ON c.id = r.cluster_id
                    WHERE r.id = $4 AND c.id = $1 AND c.lease_holder = $2 AND c.lease_epoch = $3
                      AND c.lease_expires_at > now()
                    FOR SHARE OF c)
                 INSERT INTO run_steps (run_id, step_index, outcome, detail)
                 SELECT id, $5, $6, $7 FROM ok
                 ON CONFLICT (run_id, step_index) DO NOTHING
                 RETURNING 1",
                &[
                    &lease.cluster.0,
                    &lease.holder,
                    &lease.epoch,
                    &run.0,
                    &index,
                    &kind,
                    &detail,
                ],
            )
            .await?;
        if fenced.is_some() {
            return Ok(());
        }
        // Nothing inserted: the lease is lost, the run is not this
        // cluster's, or the step was recorded already (kept).
        self.check_lease(lease).await?;
        self.check_run(lease, run).await
    }

    async fn check_run(&self, lease: &Lease, run: RunId) -> Result<(), StoreError> {
        let found = self
            .client
            .query_opt(
                "SELECT 1 FROM optimization_runs WHERE id = $1 AND cluster_id = $2",
                &[&run.0, &lease.cluster.0],
            )
            .await?;
        match found {
            Some(_) => Ok(()),
            None => Err(StoreError::NoSuchRun {
                run,
                cluster: lease.cluster,
            }),
        }
    }

    /// Mark `run`, still running, finished.
    pub async fn finish_run(
        &self,
        lease: &Lease,
        run: RunId,
        status: RunStatus,
    ) -> Result<(), StoreError> {
        let n = self
            .client
            .execute(
                "WITH ok AS (
                    SELECT c.id FROM clusters c
                    WHERE c.id = $1 AND c.lease_holder = $2 AND c.lease_epoch = $3
                      AND c.lease_expires_at > now()
                    FOR SHARE)
                 UPDATE optimization_runs r SET status = $5, finished_at = now(), lease_epoch = $3
                 FROM ok WHERE r.id = $4 AND r.cluster_id = ok.id AND r.status = 'running'",
                &[
                    &lease.cluster.0,
                    &lease.holder,
                    &lease.epoch,
                    &run.0,
                    &status.as_str(),
                ],
            )
            .await?;
        if n == 1 {
            if status == RunStatus::Completed {
                self.enter_savings(lease, run).await?;
            }
            return Ok(());
        }
        self.check_lease(lease).await?;
        self.check_run(lease, run).await?;
        // The run exists and the lease holds: it was finished already.
        Ok(())
    }

    /// Enter a completed run's change to the bill in the ledger: the
    /// deltas of the steps recorded as done, for runs that acted (a
    /// dry-run changes nothing).
    async fn enter_savings(&self, lease: &Lease, run: RunId) -> Result<(), StoreError> {
        let Some(record) = self.runs(Some(lease.cluster), Some(run), 1).await?.pop() else {
            return Ok(());
        };
        if record.mode != Mode::Execute {
            return Ok(());
        }
        let delta: UsdPerHour = record
            .done_steps()
            .into_iter()
            .filter_map(|i| record.plan.steps.get(i))
            .map(|step| step.usd_per_hour_delta)
            .sum();
        if delta == UsdPerHour::ZERO {
            return Ok(());
        }
        self.client
            .execute(
                "INSERT INTO savings_ledger (cluster_id, run_id, usd_per_hour_delta_micro)
                 VALUES ($1, $2, $3)",
                &[&lease.cluster.0, &run.0, &delta.micro_usd()],
            )
            .await?;
        Ok(())
    }

    /// What the completed runs changed in each cluster's hourly bill, by
    /// cluster id (negative is a saving); clusters with no entry left out.
    pub async fn savings(&self) -> Result<Vec<(ClusterId, UsdPerHour)>, StoreError> {
        let rows = self
            .client
            .query(
                "SELECT cluster_id, sum(usd_per_hour_delta_micro)::BIGINT FROM savings_ledger
                 GROUP BY cluster_id ORDER BY cluster_id",
                &[],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|r| (ClusterId(r.get(0)), UsdPerHour::from_micro_usd(r.get(1))))
            .collect())
    }

    /// The cluster's run still marked running (its process stopped or
    /// died), if any, with what it recorded: the new lease holder resumes
    /// it, skipping the steps recorded as done.
    pub async fn unfinished_run(
        &self,
        cluster: ClusterId,
    ) -> Result<Option<RunRecord>, StoreError> {
        let id: Option<i64> = self
            .client
            .query_opt(
                "SELECT id FROM optimization_runs WHERE cluster_id = $1 AND status = 'running'
                 ORDER BY id DESC LIMIT 1",
                &[&cluster.0],
            )
            .await?
            .map(|r| r.get(0));
        match id {
            Some(id) => Ok(self.runs(Some(cluster), Some(RunId(id)), 1).await?.pop()),
            None => Ok(None),
        }
    }

    /// One run of `cluster`, with its recorded steps.
    pub async fn run(&self, cluster: ClusterId, run: RunId) -> Result<RunRecord, StoreError> {
        self.runs(Some(cluster), Some(run), 1)
            .await?
            .pop()
            .ok_or(StoreError::NoSuchRun { run, cluster })
    }

    /// The latest `limit` runs (of one cluster, or of all), newest first.
    pub async fn history(
        &self,
        cluster: Option<ClusterId>,
        limit: usize,
    ) -> Result<Vec<RunRecord>, StoreError> {
        self.runs(cluster, None, limit).await
    }

    async fn runs(
        &self,
        cluster: Option<ClusterId>,
        run: Option<RunId>,
        limit: usize,
    ) -> Result<Vec<RunRecord>, StoreError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = self
            .client
            .query(
                &format!(
                    "SELECT id, cluster_id, engine, plan, status, {UTC_TEXT}, dry_run FROM optimization_runs
                     WHERE ($1::BIGINT IS NULL OR cluster_id = $1) AND ($2::BIGINT IS NULL OR id = $2)
                     ORDER BY id DESC LIMIT $3"
                ),
                &[&cluster.map(|c| c.0), &run.map(|r| r.0), &limit],
            )
            .await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            let id = RunId(r.get(0));
            let corrupt = |what: String| StoreError::Corrupt { run: id, what };
            let plan: Plan =
                serde_json::from_value(r.get(3)).map_err(|e| corrupt(format!("plan: {e}")))?;
            let status_text: String = r.get(4);
            let status = RunStatus::parse(&status_text)
                .ok_or_else(|| corrupt(format!("status {status_text:?}")))?;
            let started: String = r.get(5);
            let dry_run: bool = r.get(6);
            let started_at = started
                .parse()
                .map_err(|e| corrupt(format!("started_at {started:?}: {e}")))?;
            let steps = self
                .client
                .query(
                    "SELECT step_index, outcome, detail FROM run_steps WHERE run_id = $1
                     ORDER BY step_index",
                    &[&id.0],
                )
                .await?
                .iter()
                .map(|s| {
                    let index: i32 = s.get(0);
                    let kind: String = s.get(1);
                    let detail: String = s.get(2);
                    let record = match kind.as_str() {
                        "done" => StepRecord::Outcome(StepOutcome::Done(detail)),
                        "would_do" => StepRecord::Outcome(StepOutcome::WouldDo(detail)),
                        "skipped" => StepRecord::Outcome(StepOutcome::Skipped(detail)),
                        _ => StepRecord::Failed(detail),
                    };
                    (usize::try_from(index).unwrap_or(0), record)
                })
                .collect();
            out.push(RunRecord {
                id,
                cluster: ClusterId(r.get(1)),
                engine: r.get(2),
                plan,
                mode: if dry_run { Mode::DryRun } else { Mode::Execute },
                status,
                started_at,
                steps,
            });
        }
        Ok(out)
    }

    pub(super) async fn check_lease(&self, lease: &Lease) -> Result<(), StoreError> {
        let n = self
            .client
            .execute(
                "SELECT 1 FROM clusters WHERE id = $1 AND lease_holder = $2 AND lease_epoch = $3
                 AND lease_expires_at > now()",
                &[&lease.cluster.0, &lease.holder, &lease.epoch],
            )
            .await?;
        held(n, lease)
    }
}

/// The name a step's outcome is stored (and served) under.
pub fn outcome_kind(outcome: &StepOutcome) -> &'static str {
    match outcome {
        StepOutcome::Done(_) => "done",
        StepOutcome::WouldDo(_) => "would_do",
        StepOutcome::Skipped(_) => "skipped",
    }
}

fn outcome_detail(outcome: &StepOutcome) -> &str {
    match outcome {
        StepOutcome::Done(d) | StepOutcome::WouldDo(d) | StepOutcome::Skipped(d) => d,
    }
}

pub(super) fn lost(lease: &Lease) -> StoreError {
    StoreError::LeaseLost {
        cluster: lease.cluster,
        holder: lease.holder.clone(),
        epoch: lease.epoch,
    }
}

pub(super) fn held(rows: u64, lease: &Lease) -> Result<(), StoreError> {
    if rows == 1 {
        Ok(())
    } else {
        Err(lost(lease))
    }
}

fn validate(new: &NewCluster) -> Result<(), StoreError> {
    let invalid = |field, value: &str, reason| StoreError::Invalid {
        field,
        value: value.to_owned(),
        reason,
    };
    let name_ok = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_');
    if new.name.is_empty() || new.name.len() > 253 || !new.name.chars().all(name_ok) {
        return Err(invalid(
            "name",
            &new.name,
            "1-253 letters, digits, '-', '.' or '_'",
        ));
    }
    if new.region.is_empty()
        || !new
            .region
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    {
        return Err(invalid(
            "region",
            &new.region,
            "an AWS region such as us-east-1",
        ));
    }
    if !new.api_endpoint.starts_with("https://") || new.api_endpoint.len() <= "https://".len() {
        return Err(invalid(
            "api_endpoint",
            &new.api_endpoint,
            "an https:// URL",
        ));
    }
    for (k, v) in &new.node_selector {
        let label_ok = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_' | '/');
        if k.is_empty() || k.len() > 317 || !k.chars().all(label_ok) {
            return Err(invalid(
                "node_selector",
                k,
                "a label key such as karpenter.sh/nodepool",
            ));
        }
        if v.len() > 63
            || !v
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_'))
        {
            return Err(invalid(
                "node_selector",
                v,
                "a label value: at most 63 letters, digits, '-', '.' or '_'",
            ));
        }
    }
    if new.token.expose().trim().is_empty() {
        return Err(invalid("token", "", "empty"));
    }
    Ok(())
}
