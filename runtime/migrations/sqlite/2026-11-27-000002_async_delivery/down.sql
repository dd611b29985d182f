ALTER TABLE action_log DROP COLUMN retry_base;
ALTER TABLE action_log DROP COLUMN request_query;
