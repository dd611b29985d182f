-- Asynchronous deliveries happen after the request is gone: keep the query handlers receive as
-- `request_query`. `retry_base` is the attempt count when the event was last (re)queued by an
-- operator, so a redelivery gets the action's whole retry budget again.
ALTER TABLE action_log ADD COLUMN request_query TEXT;
ALTER TABLE action_log ADD COLUMN retry_base INTEGER NOT NULL DEFAULT 0;
