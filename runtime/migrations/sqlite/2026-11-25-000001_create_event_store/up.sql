-- Same tables as on PostgreSQL. Ids are hyphenated uuid text, JSON is text, and times are
-- fixed-width RFC 3339 UTC text so that text order is time order.
CREATE TABLE hdb_metadata (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    resource_version BIGINT NOT NULL,
    metadata TEXT NOT NULL,
    updated_at TEXT NOT NULL
);

CREATE TABLE action_log (
    id TEXT PRIMARY KEY NOT NULL,
    action_name TEXT NOT NULL,
    input_payload TEXT NOT NULL,
    request_headers TEXT NOT NULL,
    session_variables TEXT NOT NULL,
    response_payload TEXT,
    errors TEXT,
    created_at TEXT NOT NULL,
    response_received_at TEXT,
    status TEXT NOT NULL CHECK (status IN ('created', 'processing', 'completed', 'error')),
    kind TEXT NOT NULL CHECK (kind IN ('synchronous', 'asynchronous')),
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT,
    locked_by TEXT,
    lease_expires_at TEXT
);
CREATE INDEX action_log_pending ON action_log (next_attempt_at)
    WHERE status IN ('created', 'processing');
CREATE INDEX action_log_by_action ON action_log (action_name, created_at);

CREATE TABLE action_attempt (
    event_id TEXT NOT NULL REFERENCES action_log (id) ON DELETE CASCADE,
    attempt INTEGER NOT NULL,
    started_at TEXT NOT NULL,
    finished_at TEXT NOT NULL,
    duration_ms BIGINT NOT NULL,
    outcome TEXT NOT NULL CHECK (outcome IN ('success', 'rejected', 'failed', 'invalid_output')),
    status_code INTEGER,
    detail TEXT,
    logs TEXT NOT NULL,
    PRIMARY KEY (event_id, attempt)
);
