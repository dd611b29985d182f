DELETE FROM action_attempt WHERE outcome IN ('interrupted', 'abandoned');
ALTER TABLE action_attempt DROP CONSTRAINT action_attempt_outcome_check;
ALTER TABLE action_attempt ADD CONSTRAINT action_attempt_outcome_check CHECK (outcome IN
    ('success', 'rejected', 'failed', 'invalid_output'));
