-- The controller: which of a cluster's nodes it manages, cycles asked for
-- through the API, and what became of each instance event.

-- Only nodes carrying every label of this object are managed (a node
-- pool, say); {} manages them all.
ALTER TABLE clusters ADD COLUMN node_selector JSONB NOT NULL DEFAULT '{}'::jsonb
    CHECK (jsonb_typeof(node_selector) = 'object');
-- Set by POST /api/v1/optimization/trigger, cleared by the lease holder
-- when it starts the cycle.
ALTER TABLE clusters ADD COLUMN cycle_requested_at TIMESTAMPTZ;

-- Events are told apart by EventBridge's id (one instance may get a
-- rebalance recommendation and a warning at the same second).
ALTER TABLE spot_warnings DROP CONSTRAINT spot_warnings_cluster_id_instance_id_event_time_key;
ALTER TABLE spot_warnings ADD COLUMN event_id TEXT;
UPDATE spot_warnings SET event_id = id::TEXT;
ALTER TABLE spot_warnings ALTER COLUMN event_id SET NOT NULL;
ALTER TABLE spot_warnings ADD CONSTRAINT spot_warnings_one_per_event UNIQUE (cluster_id, event_id);
ALTER TABLE spot_warnings ADD COLUMN kind TEXT NOT NULL DEFAULT 'spot_interruption_warning';
-- The event as delivered, for events handed in through the API and not
-- yet handled by the lease holder.
ALTER TABLE spot_warnings ADD COLUMN body TEXT;
ALTER TABLE spot_warnings ADD COLUMN status TEXT NOT NULL DEFAULT 'received'
    CHECK (status IN ('pending', 'received', 'handled', 'ignored', 'failed'));
ALTER TABLE spot_warnings ADD COLUMN detail TEXT NOT NULL DEFAULT '';
CREATE INDEX spot_warnings_pending ON spot_warnings (cluster_id) WHERE status = 'pending';
