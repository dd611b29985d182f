-- Asynchronous deliveries happen after the request is gone: keep the query handlers receive as
-- `request_query`.
ALTER TABLE action_log ADD COLUMN request_query TEXT;
