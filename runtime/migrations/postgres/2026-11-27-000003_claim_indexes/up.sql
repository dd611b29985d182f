-- Claiming reads waiting events in due order and expired leases separately, each from its own
-- partial index, so a claim touches only the rows it takes however long the queue is. The
-- two replace the index that covered both states at once.
CREATE INDEX action_log_due ON action_log (next_attempt_at) WHERE status = 'created';
CREATE INDEX action_log_leased ON action_log (lease_expires_at) WHERE status = 'processing';
DROP INDEX action_log_pending;
