-- Operators list events newest first, by any mix of action and status (`GET /v1/events`); each
-- filter reads its own index in order and stops at the page's end, so a listing costs the
-- same at a million rows as at a hundred. (`action_log_by_action` serves the action alone.)
CREATE INDEX action_log_created ON action_log (created_at);
CREATE INDEX action_log_by_status ON action_log (status, created_at);
CREATE INDEX action_log_by_action_status ON action_log (action_name, status, created_at);
