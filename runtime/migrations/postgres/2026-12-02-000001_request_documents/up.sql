-- A request's GraphQL document is stored once, by content, however many events it creates
-- (one request may call up to `limits.max_action_calls` actions): events name it by sha256.
-- `action_log.request_query` keeps the documents of events stored before this change.
CREATE TABLE request_document (
    sha256 TEXT PRIMARY KEY,
    document TEXT NOT NULL
);
ALTER TABLE action_log ADD COLUMN request_document TEXT;
