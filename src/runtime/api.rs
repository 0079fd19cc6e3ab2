//! The seal's core-platform HTTP API over the [`Store`] (the part built so
//! far): clusters registered and listed, optimization history, and a node
//! cordoned or drained through the same plan runner and preconditions as
//! the engines (dry-run unless the request asks to execute), recorded as a
//! run.
//!
//! Errors are JSON, `{"error": KIND, "reason": TEXT}`, with the status that
//! fits (400 unreadable body, 401 no or wrong API key, 404 unknown cluster,
//! 409 duplicate or cluster held by another process, 422 a field refused,
//! 502 the cluster's API failed, 503 the database failed). When an API key
//! is configured every request must carry it (`x-api-key: KEY` or
//! `authorization: Bearer KEY`). Tokens are accepted, sealed, and never
//! returned.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use cloudoptim_core::plan::{Mode, Plan, Precondition};
use cloudoptim_k8s::{ClientSettings, KubeClient, KubeExecutor, Onboarding, SecretString};
use serde::Deserialize;
use serde_json::{json, Value};

use super::metrics::Metrics;
use super::seal::Secret;
use super::store::{outcome_kind, ClusterId, NewCluster, RunStatus, StepRecord, Store, StoreError};

/// How long a request holds a cluster's lease at most.
const REQUEST_LEASE: Duration = Duration::from_secs(120);

/// What the handlers share.
pub struct ApiState {
    /// The state store (shared with a controller in the same process).
    pub store: Arc<Store>,
    /// The key requests must carry; `None` lets every request in.
    pub api_key: Option<String>,
    /// This process's name as a lease holder.
    pub holder: String,
    /// Timeouts and retries of the Kubernetes clients it builds.
    pub kube_settings: ClientSettings,
    /// The metrics `/metrics` serves: a controller's in the same process.
    pub metrics: Option<Arc<Metrics>>,
}

/// The routes, with the API key check in front when one is configured.
pub fn router(state: Arc<ApiState>) -> Router {
    Router::new()
        .route(
            "/api/v1/admin/clusters",
            get(list_clusters).post(add_cluster),
        )
        .route("/api/v1/admin/savings", get(savings))
        .route("/api/v1/optimization/history", get(history))
        .route("/api/v1/optimization/trigger", post(trigger))
        .route("/api/v1/events/spot-warnings", get(spot_warnings))
        .route("/api/v1/events/process", post(process_event))
        .route("/api/v1/k8s/{cluster_id}/nodes", get(nodes))
        .route("/api/v1/k8s/{cluster_id}/nodes/cordon", post(cordon))
        .route("/api/v1/k8s/{cluster_id}/nodes/drain", post(drain))
        .route("/api/v1/openapi.json", get(openapi))
        .route("/metrics", get(metrics))
        .layer(middleware::from_fn_with_state(state.clone(), require_key))
        .with_state(state)
}

/// A JSON error with its status.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    kind: &'static str,
    reason: String,
}

impl ApiError {
    fn new(status: StatusCode, kind: &'static str, reason: impl Into<String>) -> ApiError {
        ApiError {
            status,
            kind,
            reason: reason.into(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (
            self.status,
            Json(json!({"error": self.kind, "reason": self.reason})),
        )
            .into_response()
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> ApiError {
        let (status, kind) = match &e {
            StoreError::Invalid { .. } => (StatusCode::UNPROCESSABLE_ENTITY, "invalid"),
            StoreError::Duplicate(_) => (StatusCode::CONFLICT, "duplicate"),
            StoreError::NoSuchCluster(_) | StoreError::NoSuchRun { .. } => {
                (StatusCode::NOT_FOUND, "not_found")
            }
            StoreError::LeaseLost { .. } => (StatusCode::CONFLICT, "lease_lost"),
            StoreError::Db(_) | StoreError::Migration { .. } => {
                (StatusCode::SERVICE_UNAVAILABLE, "database")
            }
            StoreError::Seal(_) | StoreError::Corrupt { .. } => {
                (StatusCode::INTERNAL_SERVER_ERROR, "stored_state")
            }
        };
        ApiError::new(status, kind, e.to_string())
    }
}

async fn require_key(
    State(state): State<Arc<ApiState>>,
    headers: HeaderMap,
    request: Request,
    next: Next,
) -> Response {
    if let Some(key) = &state.api_key {
        let given = headers
            .get("x-api-key")
            .and_then(|v| v.to_str().ok())
            .or_else(|| {
                headers
                    .get("authorization")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.strip_prefix("Bearer "))
            });
        if !given.is_some_and(|g| same(g.as_bytes(), key.as_bytes())) {
            return ApiError::new(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "this server needs its API key (x-api-key or authorization: Bearer)",
            )
            .into_response();
        }
    }
    next.run(request).await
}

/// Equal in time independent of where they differ.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Read a JSON body into `T`, naming what is wrong.
fn body<T: for<'de> Deserialize<'de>>(bytes: &Bytes) -> Result<T, ApiError> {
    serde_json::from_slice(bytes).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_request",
            format!("request body: {e}"),
        )
    })
}

/// The OpenAPI 3.1 document of the routes above.
pub fn openapi_document() -> Value {
    let error = json!({"$ref": "#/components/schemas/Error"});
    let errors = |codes: &[&str]| -> Value {
        codes
            .iter()
            .map(|c| ((*c).to_owned(), json!({"description": "error", "content": {"application/json": {"schema": error}}})))
            .collect::<serde_json::Map<String, Value>>()
            .into()
    };
    let with = |mut ok: Value, codes: &[&str]| {
        if let (Some(o), Value::Object(e)) = (ok.as_object_mut(), errors(codes)) {
            o.extend(e);
        }
        ok
    };
    json!({
        "openapi": "3.1.0",
        "info": {"title": "CloudOptim control plane", "version": env!("CARGO_PKG_VERSION")},
        "components": {
            "securitySchemes": {"apiKey": {"type": "apiKey", "in": "header", "name": "x-api-key"}},
            "schemas": {
                "Error": {"type": "object", "required": ["error", "reason"],
                    "properties": {"error": {"type": "string"}, "reason": {"type": "string"}}},
                "NewCluster": {"type": "object", "additionalProperties": false,
                    "required": ["name", "region", "api_endpoint", "service_account_token"],
                    "properties": {
                        "name": {"type": "string", "pattern": "^[A-Za-z0-9._-]{1,253}$"},
                        "region": {"type": "string"},
                        "api_endpoint": {"type": "string", "pattern": "^https://"},
                        "ca_pem": {"type": "string"}, "role_arn": {"type": "string"},
                        "external_id": {"type": "string"}, "sqs_queue_url": {"type": "string"},
                        "node_selector": {"type": "object", "additionalProperties": {"type": "string"},
                            "description": "labels (key = value) picking the nodes managed; empty: every node"},
                        "service_account_token": {"type": "string", "writeOnly": true}}},
                "ClusterRef": {"type": "object", "additionalProperties": false, "required": ["cluster_id"],
                    "properties": {"cluster_id": {"type": "integer"}}},
                "ProcessEvent": {"type": "object", "additionalProperties": false, "required": ["cluster_id", "event"],
                    "properties": {"cluster_id": {"type": "integer"},
                        "event": {"type": "object", "description": "the EC2 event as EventBridge delivers it"}}},
                "Cordon": {"type": "object", "additionalProperties": false, "required": ["node"],
                    "properties": {"node": {"type": "string"}, "execute": {"type": "boolean", "default": false}}}
            }
        },
        "security": [{"apiKey": []}],
        "paths": {
            "/api/v1/admin/clusters": {
                "get": {"summary": "Clusters under management (never their tokens)",
                    "responses": with(json!({"200": {"description": "the clusters"}}), &["401", "503"])},
                "post": {"summary": "Register a cluster (its token is sealed at rest)",
                    "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/NewCluster"}}}},
                    "responses": with(json!({"201": {"description": "its id"}}), &["400", "401", "409", "422", "503"])}
            },
            "/api/v1/admin/savings": {
                "get": {"summary": "What completed runs saved per cluster (the ledger)",
                    "responses": with(json!({"200": {"description": "savings per cluster"}}), &["401", "503"])}
            },
            "/api/v1/optimization/history": {
                "get": {"summary": "Runs, newest first, with every step's outcome",
                    "parameters": [
                        {"name": "cluster_id", "in": "query", "schema": {"type": "integer"}},
                        {"name": "limit", "in": "query", "schema": {"type": "integer", "maximum": 1000}}],
                    "responses": with(json!({"200": {"description": "the runs"}}), &["401", "503"])}
            },
            "/api/v1/optimization/trigger": {
                "post": {"summary": "Ask for an optimization cycle now (run by the cluster's lease holder at its next look)",
                    "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ClusterRef"}}}},
                    "responses": with(json!({"202": {"description": "requested"}}), &["400", "401", "404", "503"])}
            },
            "/api/v1/events/spot-warnings": {
                "get": {"summary": "Instance events received, newest first, and what became of each (pending, received, handled, ignored, failed)",
                    "parameters": [
                        {"name": "cluster_id", "in": "query", "schema": {"type": "integer"}},
                        {"name": "limit", "in": "query", "schema": {"type": "integer", "maximum": 1000}}],
                    "responses": with(json!({"200": {"description": "the events"}}), &["400", "401", "503"])}
            },
            "/api/v1/events/process": {
                "post": {"summary": "Hand an EC2 event in, as if the cluster's queue had delivered it (the same event twice is handled once)",
                    "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ProcessEvent"}}}},
                    "responses": with(json!({"202": {"description": "recorded; its status"}}), &["400", "401", "404", "422", "503"])}
            },
            "/api/v1/k8s/{cluster_id}/nodes": {
                "get": {"summary": "The cluster's nodes (those its node selector picks), read live",
                    "parameters": [{"name": "cluster_id", "in": "path", "required": true, "schema": {"type": "integer"}}],
                    "responses": with(json!({"200": {"description": "the nodes"}}), &["400", "401", "404", "502", "503"])}
            },
            "/metrics": {
                "get": {"summary": "The controller's metrics in Prometheus' text format (when a controller runs in this process)",
                    "responses": with(json!({"200": {"description": "OpenMetrics text"}}), &["401", "404"])}
            },
            "/api/v1/k8s/{cluster_id}/nodes/drain": {
                "post": {"summary": "Cordon then drain a node through the plan runner (dry-run unless execute)",
                    "parameters": [{"name": "cluster_id", "in": "path", "required": true, "schema": {"type": "integer"}}],
                    "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Cordon"}}}},
                    "responses": with(json!({"200": {"description": "the run and its steps"}}), &["400", "401", "404", "409", "422", "502", "503"])}
            },
            "/api/v1/k8s/{cluster_id}/nodes/cordon": {
                "post": {"summary": "Cordon a node through the plan runner (dry-run unless execute)",
                    "parameters": [{"name": "cluster_id", "in": "path", "required": true, "schema": {"type": "integer"}}],
                    "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Cordon"}}}},
                    "responses": with(json!({"200": {"description": "the run and its steps"}}), &["400", "401", "404", "409", "422", "502", "503"])}
            }
        }
    })
}

async fn openapi() -> Json<Value> {
    Json(openapi_document())
}

async fn metrics(State(state): State<Arc<ApiState>>) -> Result<Response, ApiError> {
    let m = state.metrics.as_ref().ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "no controller runs in this process: its metrics are served by the process that runs it",
        )
    })?;
    Ok((
        [(
            axum::http::header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        m.render(),
    )
        .into_response())
}

/// A cluster id from the path.
fn cluster_path(p: Result<Path<i64>, PathRejection>) -> Result<ClusterId, ApiError> {
    let Path(id) =
        p.map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "bad_request", e.body_text()))?;
    Ok(ClusterId(id))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TriggerBody {
    cluster_id: i64,
}

/// Ask for a cycle now: the cluster's lease holder, in whichever process,
/// runs it at its next look (202: accepted, not yet run).
async fn trigger(
    State(state): State<Arc<ApiState>>,
    bytes: Bytes,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let b: TriggerBody = body(&bytes)?;
    state.store.request_cycle(ClusterId(b.cluster_id)).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({"cluster_id": b.cluster_id, "cycle": "requested",
            "see": format!("/api/v1/optimization/history?cluster_id={}", b.cluster_id)})),
    ))
}

#[derive(Deserialize)]
struct EventsQuery {
    cluster_id: Option<i64>,
    limit: Option<usize>,
}

async fn spot_warnings(
    State(state): State<Arc<ApiState>>,
    q: Result<Query<EventsQuery>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(q) =
        q.map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "bad_request", e.body_text()))?;
    let events = state
        .store
        .events(
            q.cluster_id.map(ClusterId),
            q.limit.unwrap_or(50).min(1_000),
        )
        .await?;
    Ok(Json(json!({
        "events": events.iter().map(|e| json!({
            "id": e.id.0,
            "cluster_id": e.cluster.0,
            "event_id": e.event_id,
            "kind": e.kind,
            "instance_id": e.instance_id,
            "event_time": e.event_time.to_string(),
            "status": e.status.as_str(),
            "run_id": e.run.map(|r| r.0),
            "detail": e.detail,
        })).collect::<Vec<_>>()
    })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ProcessBody {
    cluster_id: i64,
    /// The event as EventBridge delivers it.
    event: Value,
}

/// Hand an EventBridge event in: recorded `pending` for the cluster's
/// lease holder, which plans and runs it as if its queue had delivered it
/// (202; `GET /events/spot-warnings` tells what became of it).
async fn process_event(
    State(state): State<Arc<ApiState>>,
    bytes: Bytes,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let b: ProcessBody = body(&bytes)?;
    let text = b.event.to_string();
    let event = cloudoptim_core::spot::events::parse_event(&text).map_err(|e| {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid",
            format!("event: {e}"),
        )
    })?;
    let (id, status) = state
        .store
        .submit_event(ClusterId(b.cluster_id), &event, &text)
        .await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({"id": id.0, "event_id": event.id, "status": status.as_str()})),
    ))
}

/// The cluster's nodes (those its node selector picks) as the engines see
/// them (read-only: no lease).
async fn nodes(
    State(state): State<Arc<ApiState>>,
    cluster_id: Result<Path<i64>, PathRejection>,
) -> Result<Json<Value>, ApiError> {
    let cluster = cluster_path(cluster_id)?;
    let record = state.store.cluster(cluster).await?;
    let client = connect(&state, &record.api_endpoint, record.ca_pem.clone(), cluster).await?;
    let nodes = client
        .nodes(500)
        .await
        .map_err(|e| ApiError::new(StatusCode::BAD_GATEWAY, "cluster_api", e.to_string()))?;
    Ok(Json(json!({
        "nodes": nodes.iter().filter(|n| n.matches(&record.node_selector)).map(|n| json!({
            "name": n.name,
            "instance_id": n.instance_id,
            "instance_type": n.instance_type,
            "zone": n.zone,
            "capacity_type": n.capacity_type,
            "unschedulable": n.unschedulable,
            "ready": n.ready,
        })).collect::<Vec<_>>()
    })))
}

/// A Kubernetes client for the cluster, with its token opened.
async fn connect(
    state: &ApiState,
    endpoint: &str,
    ca_pem: Option<String>,
    cluster: ClusterId,
) -> Result<KubeClient, ApiError> {
    let token = state.store.token(cluster).await?;
    let onboarding = Onboarding {
        endpoint: endpoint.to_owned(),
        token: SecretString::from(token.expose().to_owned()),
        ca_pem,
    };
    KubeClient::from_onboarding(&onboarding, state.kube_settings.clone())
        .await
        .map_err(|e| ApiError::new(StatusCode::BAD_GATEWAY, "cluster_api", e.to_string()))
}

async fn list_clusters(State(state): State<Arc<ApiState>>) -> Result<Json<Value>, ApiError> {
    let clusters = state.store.clusters().await?;
    Ok(Json(json!({
        "clusters": clusters.iter().map(|c| json!({
            "id": c.id.0,
            "name": c.name,
            "region": c.region,
            "api_endpoint": c.api_endpoint,
            "has_ca": c.ca_pem.is_some(),
            "role_arn": c.role_arn,
            "external_id": c.external_id,
            "sqs_queue_url": c.sqs_queue_url,
            "node_selector": c.node_selector,
            "lease_holder": c.lease_holder,
        })).collect::<Vec<_>>()
    })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ClusterBody {
    name: String,
    region: String,
    api_endpoint: String,
    #[serde(default)]
    ca_pem: Option<String>,
    #[serde(default)]
    role_arn: Option<String>,
    #[serde(default)]
    external_id: Option<String>,
    #[serde(default)]
    sqs_queue_url: Option<String>,
    #[serde(default)]
    node_selector: std::collections::BTreeMap<String, String>,
    service_account_token: String,
}

async fn add_cluster(
    State(state): State<Arc<ApiState>>,
    bytes: Bytes,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let b: ClusterBody = body(&bytes)?;
    let id = state
        .store
        .add_cluster(&NewCluster {
            name: b.name,
            region: b.region,
            api_endpoint: b.api_endpoint,
            ca_pem: b.ca_pem,
            role_arn: b.role_arn,
            external_id: b.external_id,
            sqs_queue_url: b.sqs_queue_url,
            node_selector: b.node_selector,
            token: Secret::new(b.service_account_token),
        })
        .await?;
    Ok((StatusCode::CREATED, Json(json!({"id": id.0}))))
}

async fn savings(State(state): State<Arc<ApiState>>) -> Result<Json<Value>, ApiError> {
    let by_cluster = state.store.savings().await?;
    let saved = |d: cloudoptim_core::money::UsdPerHour| -d.usd();
    let total: f64 = by_cluster.iter().map(|(_, d)| saved(*d)).sum();
    Ok(Json(json!({
        "clusters": by_cluster.iter().map(|(id, d)| json!({
            "cluster_id": id.0,
            "usd_per_hour_saved": saved(*d),
            "usd_per_month_saved": -d.usd_per_month(),
        })).collect::<Vec<_>>(),
        "total_usd_per_hour_saved": total,
    })))
}

#[derive(Deserialize)]
struct HistoryQuery {
    cluster_id: Option<i64>,
    limit: Option<usize>,
}

async fn history(
    State(state): State<Arc<ApiState>>,
    q: Result<Query<HistoryQuery>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(q) =
        q.map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "bad_request", e.body_text()))?;
    let runs = state
        .store
        .history(
            q.cluster_id.map(ClusterId),
            q.limit.unwrap_or(50).min(1_000),
        )
        .await?;
    Ok(Json(json!({
        "runs": runs.iter().map(|r| json!({
            "id": r.id.0,
            "cluster_id": r.cluster.0,
            "engine": r.engine,
            "mode": if r.mode == Mode::DryRun { "dry_run" } else { "execute" },
            "status": r.status.as_str(),
            "started_at": r.started_at.to_string(),
            "planned_steps": r.plan.steps.len(),
            "steps": r.steps.iter().map(|(i, s)| {
                let (outcome, detail) = match s {
                    StepRecord::Outcome(o) => (outcome_kind(o), o.to_string()),
                    StepRecord::Failed(e) => ("failed", e.clone()),
                };
                json!({"index": i, "outcome": outcome, "detail": detail})
            }).collect::<Vec<_>>(),
        })).collect::<Vec<_>>()
    })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CordonBody {
    node: String,
    /// Act (default: a server-side dry-run).
    #[serde(default)]
    execute: bool,
}

/// What a node request does.
#[derive(Clone, Copy, PartialEq, Eq)]
enum NodeRequest {
    /// Cordon only.
    Cordon,
    /// Cordon, then drain (the drain protocol of the Kubernetes adapter:
    /// evictions under PDBs, DaemonSet and mirror pods left, a deadline).
    Drain,
}

async fn cordon(
    state: State<Arc<ApiState>>,
    cluster_id: Result<Path<i64>, PathRejection>,
    bytes: Bytes,
) -> Result<Json<Value>, ApiError> {
    node_request(state, cluster_id, bytes, NodeRequest::Cordon).await
}

async fn drain(
    state: State<Arc<ApiState>>,
    cluster_id: Result<Path<i64>, PathRejection>,
    bytes: Bytes,
) -> Result<Json<Value>, ApiError> {
    node_request(state, cluster_id, bytes, NodeRequest::Drain).await
}

async fn node_request(
    State(state): State<Arc<ApiState>>,
    cluster_id: Result<Path<i64>, PathRejection>,
    bytes: Bytes,
    request: NodeRequest,
) -> Result<Json<Value>, ApiError> {
    let Path(cluster_id) = cluster_id
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "bad_request", e.body_text()))?;
    let b: CordonBody = body(&bytes)?;
    if b.node.is_empty() || b.node.len() > 253 {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid",
            format!("node {:?}: a node name of 1-253 characters", b.node),
        ));
    }
    let cluster = ClusterId(cluster_id);
    let record = state.store.cluster(cluster).await?;
    let lease = state
        .store
        .claim_cluster(cluster, &state.holder, REQUEST_LEASE)
        .await?
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::CONFLICT,
                "cluster_busy",
                format!("cluster {cluster} is held by another process; try again"),
            )
        })?;
    let result = node_request_held(
        &state,
        &record.api_endpoint,
        record.ca_pem,
        &lease,
        &b,
        request,
    )
    .await;
    // A failed release only delays the next holder until the lease expires;
    // it does not change what was done.
    if let Err(e) = state.store.release(&lease).await {
        tracing::warn!(cluster = %cluster, error = %e, "releasing the lease");
    }
    result
}

/// Run `plan` while renewing the lease (so a slow cluster API cannot
/// outlast it: the run stops when a renewal fails), then record its steps.
async fn run_recorded(
    state: &ApiState,
    lease: &super::store::Lease,
    run_id: super::store::RunId,
    client: KubeClient,
    mode: Mode,
    plan: &Plan,
) -> Result<cloudoptim_core::execute::PlanRun, ApiError> {
    let executor = KubeExecutor::new(client, mode);
    let renewing = async {
        loop {
            tokio::time::sleep(REQUEST_LEASE / 4).await;
            if let Err(e) = state.store.renew(lease, REQUEST_LEASE).await {
                return e;
            }
        }
    };
    let ran = tokio::select! {
        ran = executor.run(plan) => ran.map_err(|e| {
            ApiError::new(StatusCode::BAD_GATEWAY, "cluster_api", format!("plan refused: {e}"))
        })?,
        lost = renewing => return Err(lost.into()),
    };
    for step in &ran.steps {
        state
            .store
            .record_step(lease, run_id, step.index, Ok(&step.outcome))
            .await?;
    }
    if let Some(f) = &ran.failed {
        state
            .store
            .record_step(lease, run_id, f.index, Err(&f.source.to_string()))
            .await?;
    }
    Ok(ran)
}

async fn node_request_held(
    state: &ApiState,
    endpoint: &str,
    ca_pem: Option<String>,
    lease: &super::store::Lease,
    b: &CordonBody,
    request: NodeRequest,
) -> Result<Json<Value>, ApiError> {
    let upstream = |e: String| ApiError::new(StatusCode::BAD_GATEWAY, "cluster_api", e);
    let client = connect(state, endpoint, ca_pem, lease.cluster).await?;
    let engine = match request {
        NodeRequest::Cordon => "api-cordon",
        NodeRequest::Drain => "api-drain",
    };
    let mut plan = Plan::new(engine, jiff::Timestamp::now());
    let exists = || {
        vec![Precondition::NodeExists {
            node: b.node.clone(),
        }]
    };
    plan.push(
        cloudoptim_core::plan::Action::Cordon {
            node: b.node.clone(),
        },
        "cordon requested through the API",
        exists(),
        Default::default(),
    );
    if request == NodeRequest::Drain {
        plan.push(
            cloudoptim_core::plan::Action::Drain {
                node: b.node.clone(),
            },
            "drain requested through the API",
            exists(),
            Default::default(),
        );
    }
    let mode = if b.execute {
        Mode::Execute
    } else {
        Mode::DryRun
    };
    let run_id = state.store.start_run(lease, &plan, mode).await?;
    let recorded = run_recorded(state, lease, run_id, client, mode, &plan).await;
    let status = match &recorded {
        Ok(ran) if ran.failed.is_none() => RunStatus::Completed,
        _ => RunStatus::Failed,
    };
    // Finished whatever happened; when the run itself failed, its error is
    // the answer.
    let finished = state.store.finish_run(lease, run_id, status).await;
    let ran = recorded?;
    finished?;
    if let Some(f) = ran.failed {
        return Err(upstream(format!("run {run_id}: {}", f.source)));
    }
    Ok(Json(json!({
        "run_id": run_id.0,
        "mode": if b.execute { "execute" } else { "dry_run" },
        "steps": ran.steps.iter().map(|s| json!({
            "index": s.index, "outcome": outcome_kind(&s.outcome), "detail": s.outcome.to_string()
        })).collect::<Vec<_>>(),
    })))
}
