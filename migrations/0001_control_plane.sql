-- The control plane's state: clusters with their onboarding data and
-- leases, optimization runs with their plans and every step's outcome,
-- spot warnings, and the savings ledger.

CREATE TABLE clusters (
    id               BIGSERIAL PRIMARY KEY,
    name             TEXT NOT NULL UNIQUE,
    region           TEXT NOT NULL,
    api_endpoint     TEXT NOT NULL,
    ca_pem           TEXT,
    role_arn         TEXT,
    external_id      TEXT,
    sqs_queue_url    TEXT,
    -- The service account token, sealed (nonce || ChaCha20-Poly1305
    -- ciphertext, the cluster name as associated data). Never plaintext.
    token_sealed     BYTEA NOT NULL,
    created_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
    -- Who acts on the cluster, until when, and a fencing number that grows
    -- with every new lease: writes carry it and are refused once it is old.
    lease_holder     TEXT,
    lease_expires_at TIMESTAMPTZ,
    lease_epoch      BIGINT NOT NULL DEFAULT 0
);

CREATE TABLE optimization_runs (
    id           BIGSERIAL PRIMARY KEY,
    cluster_id   BIGINT NOT NULL REFERENCES clusters (id) ON DELETE CASCADE,
    engine       TEXT NOT NULL,
    plan         JSONB NOT NULL,
    -- A dry-run is never resumed as a real run.
    dry_run      BOOLEAN NOT NULL,
    status       TEXT NOT NULL CHECK (status IN ('running', 'completed', 'failed')),
    started_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    finished_at  TIMESTAMPTZ,
    lease_epoch  BIGINT NOT NULL
);
CREATE INDEX optimization_runs_by_cluster ON optimization_runs (cluster_id, id);

CREATE TABLE run_steps (
    run_id       BIGINT NOT NULL REFERENCES optimization_runs (id) ON DELETE CASCADE,
    step_index   INT NOT NULL CHECK (step_index >= 0),
    outcome      TEXT NOT NULL CHECK (outcome IN ('done', 'would_do', 'skipped', 'failed')),
    detail       TEXT NOT NULL,
    recorded_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (run_id, step_index)
);

CREATE TABLE spot_warnings (
    id            BIGSERIAL PRIMARY KEY,
    cluster_id    BIGINT NOT NULL REFERENCES clusters (id) ON DELETE CASCADE,
    instance_id   TEXT NOT NULL,
    event_time    TIMESTAMPTZ NOT NULL,
    received_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    run_id        BIGINT REFERENCES optimization_runs (id),
    UNIQUE (cluster_id, instance_id, event_time)
);

CREATE TABLE savings_ledger (
    id                     BIGSERIAL PRIMARY KEY,
    cluster_id             BIGINT NOT NULL REFERENCES clusters (id) ON DELETE CASCADE,
    run_id                 BIGINT REFERENCES optimization_runs (id),
    recorded_at            TIMESTAMPTZ NOT NULL DEFAULT now(),
    -- Change to the hourly bill, micro-dollars; negative is a saving.
    usd_per_hour_delta_micro BIGINT NOT NULL
);
