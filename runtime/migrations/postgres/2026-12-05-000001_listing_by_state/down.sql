CREATE INDEX action_log_by_action ON action_log (action_name, created_at);
CREATE INDEX action_log_created ON action_log (created_at);
