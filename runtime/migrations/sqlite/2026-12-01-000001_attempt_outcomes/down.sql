CREATE TABLE action_attempt_old (
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
INSERT INTO action_attempt_old SELECT * FROM action_attempt
    WHERE outcome NOT IN ('interrupted', 'abandoned');
DROP TABLE action_attempt;
ALTER TABLE action_attempt_old RENAME TO action_attempt;
