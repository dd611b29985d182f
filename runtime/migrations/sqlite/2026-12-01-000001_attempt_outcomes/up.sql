-- Two more ways an attempt can end: `interrupted` (this node's shutdown cut it short; it does
-- not count against the retry budget) and `abandoned` (the node delivering it was lost, and
-- another replica finished the event). SQLite cannot alter a CHECK: the table is rebuilt.
CREATE TABLE action_attempt_new (
    event_id TEXT NOT NULL REFERENCES action_log (id) ON DELETE CASCADE,
    attempt INTEGER NOT NULL,
    started_at TEXT NOT NULL,
    finished_at TEXT NOT NULL,
    duration_ms BIGINT NOT NULL,
    outcome TEXT NOT NULL CHECK (outcome IN
        ('success', 'rejected', 'failed', 'invalid_output', 'interrupted', 'abandoned')),
    status_code INTEGER,
    detail TEXT,
    logs TEXT NOT NULL,
    PRIMARY KEY (event_id, attempt)
);
INSERT INTO action_attempt_new SELECT * FROM action_attempt;
DROP TABLE action_attempt;
ALTER TABLE action_attempt_new RENAME TO action_attempt;
