//! What the store keeps for the controller besides runs: instance events
//! (spot warnings, rebalance recommendations, …) and what became of each,
//! and cycles asked for through the API.
//!
//! Both are level-triggered through PostgreSQL, so the process that asks
//! (the API) need not be the one that acts (the cluster's lease holder):
//! an event handed in is written `pending` and the holder picks it up; a
//! trigger sets a column the holder clears when it starts the cycle.

use std::fmt;

use cloudoptim_core::spot::events::InstanceEvent;
use jiff::Timestamp;

use super::store::{lost, ClusterId, Lease, RunId, Store, StoreError};

/// An event's row id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EventId(pub i64);

impl fmt::Display for EventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// Where an event stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventStatus {
    /// Handed in through the API; the lease holder has not taken it yet.
    Pending,
    /// Taken by the lease holder; its plan has not completed.
    Received,
    /// Its plan completed.
    Handled,
    /// Nothing to do (a duplicate, an event CloudOptim does not act on).
    Ignored,
    /// Its plan failed; the event is handled again when delivered again.
    Failed,
}

impl EventStatus {
    /// The name stored (and served by the API).
    pub fn as_str(self) -> &'static str {
        match self {
            EventStatus::Pending => "pending",
            EventStatus::Received => "received",
            EventStatus::Handled => "handled",
            EventStatus::Ignored => "ignored",
            EventStatus::Failed => "failed",
        }
    }

    fn parse(text: &str) -> EventStatus {
        match text {
            "pending" => EventStatus::Pending,
            "handled" => EventStatus::Handled,
            "ignored" => EventStatus::Ignored,
            "failed" => EventStatus::Failed,
            _ => EventStatus::Received,
        }
    }
}

/// An event as recorded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EventRecord {
    /// Row id.
    pub id: EventId,
    /// The cluster.
    pub cluster: ClusterId,
    /// EventBridge's id.
    pub event_id: String,
    /// What kind ([`EventKind::name`](cloudoptim_core::spot::events::EventKind::name)).
    pub kind: String,
    /// The (first) instance it is about.
    pub instance_id: String,
    /// When it happened.
    pub event_time: Timestamp,
    /// Where it stands.
    pub status: EventStatus,
    /// The run that handles it.
    pub run: Option<RunId>,
    /// What was decided (why ignored, what failed).
    pub detail: String,
}

/// `ok`: the lease's cluster (`held_id`), when the lease (`$1` cluster,
/// `$2` holder, `$3` epoch) still holds; locked against a takeover while
/// the statement runs. A statement that acts through it does nothing for a
/// lost lease.
const HELD: &str = "ok AS (SELECT id AS held_id FROM clusters WHERE id = $1 AND lease_holder = $2
    AND lease_epoch = $3 AND lease_expires_at > now() FOR SHARE)";

/// The columns of an [`EventRecord`], in order.
const EVENT_COLUMNS: &str = r#"id, cluster_id, event_id, kind, instance_id,
    to_char(event_time AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'), status, run_id, detail"#;

fn event_row(r: &tokio_postgres::Row) -> Result<EventRecord, StoreError> {
    let time: String = r.get(5);
    let id = EventId(r.get(0));
    Ok(EventRecord {
        id,
        cluster: ClusterId(r.get(1)),
        event_id: r.get(2),
        kind: r.get(3),
        instance_id: r.get(4),
        event_time: time.parse().map_err(|e| StoreError::Corrupt {
            run: RunId(0),
            what: format!("event {id}: event_time {time:?}: {e}"),
        })?,
        status: EventStatus::parse(&r.get::<_, String>(6)),
        run: r.get::<_, Option<i64>>(7).map(RunId),
        detail: r.get(8),
    })
}

impl Store {
    /// Hand an event in for `cluster` (the API's `POST /events/process`):
    /// written `pending` with its body for the lease holder to handle. The
    /// same event handed in twice is one row; its id and status either way
    /// (an event already handled is not handled again).
    pub async fn submit_event(
        &self,
        cluster: ClusterId,
        event: &InstanceEvent,
        body: &str,
    ) -> Result<(EventId, EventStatus), StoreError> {
        self.cluster(cluster).await?;
        let row = self
            .client
            .query_one(
                "WITH new AS (
                    INSERT INTO spot_warnings (cluster_id, event_id, kind, instance_id, event_time, body, status)
                    VALUES ($1, $2, $3, $4, $5::TEXT::TIMESTAMPTZ, $6, 'pending')
                    ON CONFLICT (cluster_id, event_id) DO NOTHING RETURNING id, status)
                 SELECT id, status FROM new
                 UNION ALL SELECT id, status FROM spot_warnings WHERE cluster_id = $1 AND event_id = $2
                 LIMIT 1",
                &[
                    &cluster.0,
                    &event.id,
                    &event.kind.name(),
                    &first_instance(event),
                    &event.time.to_string(),
                    &body,
                ],
            )
            .await?;
        Ok((
            EventId(row.get(0)),
            EventStatus::parse(&row.get::<_, String>(1)),
        ))
    }

    /// The lease holder takes an event delivered by its queue: recorded
    /// `received` if new; the record as it stands either way (a redelivered
    /// event whose plan completed is acknowledged, not handled again).
    pub async fn receive_event(
        &self,
        lease: &Lease,
        event: &InstanceEvent,
    ) -> Result<EventRecord, StoreError> {
        let rows = self
            .client
            .query(
                &format!(
                    "WITH {HELD},
                     new AS (
                        INSERT INTO spot_warnings (cluster_id, event_id, kind, instance_id, event_time, status)
                        SELECT held_id, $4, $5, $6, $7::TEXT::TIMESTAMPTZ, 'received' FROM ok
                        ON CONFLICT (cluster_id, event_id) DO NOTHING RETURNING {EVENT_COLUMNS})
                     SELECT * FROM new
                     UNION ALL SELECT {EVENT_COLUMNS} FROM spot_warnings
                        WHERE cluster_id = $1 AND event_id = $4 AND EXISTS (SELECT 1 FROM ok)
                     LIMIT 1"
                ),
                &[
                    &lease.cluster.0,
                    &lease.holder,
                    &lease.epoch,
                    &event.id,
                    &event.kind.name(),
                    &first_instance(event),
                    &event.time.to_string(),
                ],
            )
            .await?;
        match rows.first() {
            Some(r) => event_row(r),
            None => Err(lost(lease)),
        }
    }

    /// Events handed in through the API and not yet taken, oldest first,
    /// with their bodies; they become `received`.
    pub async fn take_pending_events(
        &self,
        lease: &Lease,
    ) -> Result<Vec<(EventRecord, String)>, StoreError> {
        let rows = self
            .client
            .query(
                &format!(
                    "WITH {HELD}
                     UPDATE spot_warnings SET status = 'received'
                     FROM ok WHERE cluster_id = held_id AND status = 'pending'
                     RETURNING {EVENT_COLUMNS}, body"
                ),
                &[&lease.cluster.0, &lease.holder, &lease.epoch],
            )
            .await?;
        let mut out = rows
            .iter()
            .map(|r| {
                Ok((
                    event_row(r)?,
                    r.get::<_, Option<String>>(9).unwrap_or_default(),
                ))
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        out.sort_by_key(|(e, _)| e.id);
        Ok(out)
    }

    /// Record what became of an event: its status, the run handling it,
    /// and why.
    pub async fn settle_event(
        &self,
        lease: &Lease,
        event: EventId,
        status: EventStatus,
        run: Option<RunId>,
        detail: &str,
    ) -> Result<(), StoreError> {
        let n = self
            .client
            .execute(
                &format!(
                    "WITH {HELD}
                     UPDATE spot_warnings SET status = $5, run_id = COALESCE($6, run_id), detail = $7
                     FROM ok WHERE id = $4 AND cluster_id = held_id"
                ),
                &[
                    &lease.cluster.0,
                    &lease.holder,
                    &lease.epoch,
                    &event.0,
                    &status.as_str(),
                    &run.map(|r| r.0),
                    &detail,
                ],
            )
            .await?;
        if n == 1 {
            return Ok(());
        }
        self.check_lease(lease).await?;
        Err(StoreError::NoSuchCluster(lease.cluster))
    }

    /// The latest `limit` events (of one cluster, or of all), newest first.
    pub async fn events(
        &self,
        cluster: Option<ClusterId>,
        limit: usize,
    ) -> Result<Vec<EventRecord>, StoreError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = self
            .client
            .query(
                &format!(
                    "SELECT {EVENT_COLUMNS} FROM spot_warnings
                     WHERE ($1::BIGINT IS NULL OR cluster_id = $1) ORDER BY id DESC LIMIT $2"
                ),
                &[&cluster.map(|c| c.0), &limit],
            )
            .await?;
        rows.iter().map(event_row).collect()
    }

    /// Ask for an optimization cycle of `cluster` now (its lease holder
    /// runs it at its next look, whichever process that is).
    pub async fn request_cycle(&self, cluster: ClusterId) -> Result<(), StoreError> {
        let n = self
            .client
            .execute(
                "UPDATE clusters SET cycle_requested_at = COALESCE(cycle_requested_at, now())
                 WHERE id = $1",
                &[&cluster.0],
            )
            .await?;
        if n == 1 {
            Ok(())
        } else {
            Err(StoreError::NoSuchCluster(cluster))
        }
    }

    /// Whether a cycle was asked for; the request is cleared (the holder
    /// runs the cycle now).
    pub async fn take_cycle_request(&self, lease: &Lease) -> Result<bool, StoreError> {
        let taken = self
            .client
            .query_opt(
                "UPDATE clusters SET cycle_requested_at = NULL
                 WHERE id = $1 AND lease_holder = $2 AND lease_epoch = $3
                   AND lease_expires_at > now() AND cycle_requested_at IS NOT NULL
                 RETURNING 1",
                &[&lease.cluster.0, &lease.holder, &lease.epoch],
            )
            .await?;
        if taken.is_some() {
            return Ok(true);
        }
        self.check_lease(lease).await?;
        Ok(false)
    }
}

fn first_instance(event: &InstanceEvent) -> &str {
    event.instance_ids.first().map_or("", String::as_str)
}
