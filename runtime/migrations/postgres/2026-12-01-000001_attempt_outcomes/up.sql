-- Two more ways an attempt can end: `interrupted` (this node's shutdown cut it short; it does
-- not count against the retry budget) and `abandoned` (the node delivering it was lost, and
-- another replica finished the event).
ALTER TABLE action_attempt DROP CONSTRAINT action_attempt_outcome_check;
ALTER TABLE action_attempt ADD CONSTRAINT action_attempt_outcome_check CHECK (outcome IN
    ('success', 'rejected', 'failed', 'invalid_output', 'interrupted', 'abandoned'));
