ALTER TABLE action_attempt DROP COLUMN handler_version;
ALTER TABLE action_log DROP COLUMN handler_version;
