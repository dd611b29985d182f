-- The key-value state of WebAssembly handlers (`hookwing:action/kv`): one namespace per
-- handler name. `size_bytes` is the key's and the value's length together, summed for the
-- namespace's byte quota. An expired row is as good as absent: reads skip it, writes
-- replace it, and housekeeping deletes it.
CREATE TABLE handler_state (
    namespace TEXT NOT NULL,
    key TEXT NOT NULL,
    value BLOB NOT NULL,
    size_bytes INTEGER NOT NULL,
    expires_at TEXT,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (namespace, key)
);
CREATE INDEX handler_state_expiry ON handler_state (expires_at) WHERE expires_at IS NOT NULL;
