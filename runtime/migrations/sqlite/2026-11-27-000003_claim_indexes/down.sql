CREATE INDEX action_log_pending ON action_log (next_attempt_at)
    WHERE status IN ('created', 'processing');
DROP INDEX action_log_leased;
DROP INDEX action_log_due;
