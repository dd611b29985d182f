-- One row, the whole metadata document; resource_version guards concurrent writers.
CREATE TABLE hdb_metadata (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    resource_version BIGINT NOT NULL,
    metadata JSONB NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);

-- Column names follow Hasura's hdb_catalog.hdb_action_log, so existing queries keep working.
CREATE TABLE action_log (
    id UUID PRIMARY KEY,
    action_name TEXT NOT NULL,
    input_payload JSONB NOT NULL,
    request_headers JSONB NOT NULL,
    session_variables JSONB NOT NULL,
    response_payload JSONB,
    errors JSONB,
    created_at TIMESTAMPTZ NOT NULL,
    response_received_at TIMESTAMPTZ,
    status TEXT NOT NULL CHECK (status IN ('created', 'processing', 'completed', 'error')),
    kind TEXT NOT NULL CHECK (kind IN ('synchronous', 'asynchronous')),
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TIMESTAMPTZ,
    locked_by TEXT,
    lease_expires_at TIMESTAMPTZ
);
CREATE INDEX action_log_pending ON action_log (next_attempt_at)
    WHERE status IN ('created', 'processing');
CREATE INDEX action_log_by_action ON action_log (action_name, created_at);

CREATE TABLE action_attempt (
    event_id UUID NOT NULL REFERENCES action_log (id) ON DELETE CASCADE,
    attempt INTEGER NOT NULL,
    started_at TIMESTAMPTZ NOT NULL,
    finished_at TIMESTAMPTZ NOT NULL,
    duration_ms BIGINT NOT NULL,
    outcome TEXT NOT NULL CHECK (outcome IN ('success', 'rejected', 'failed', 'invalid_output')),
    status_code INTEGER,
    detail TEXT,
    logs JSONB NOT NULL,
    PRIMARY KEY (event_id, attempt)
);
