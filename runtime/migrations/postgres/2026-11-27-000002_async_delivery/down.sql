ALTER TABLE action_log DROP COLUMN request_query;
