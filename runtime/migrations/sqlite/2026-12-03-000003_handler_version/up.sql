-- Which version of a WebAssembly handler each attempt ran (its sha256; NULL for webhooks): an
-- event's retries run the version its first attempt ran, even if another was uploaded since.
-- `action_log.handler_version` is the version a redelivery asked the event to keep (`same`);
-- NULL lets its next attempt run the active version and its retries keep that one.
ALTER TABLE action_attempt ADD COLUMN handler_version TEXT;
ALTER TABLE action_log ADD COLUMN handler_version TEXT;
