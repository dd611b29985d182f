-- The outbound HTTP exchanges of a component's attempt, kept when its handler records them
-- (record_outbound_http): a replay in `recorded` mode answers the component's requests from
-- them instead of the network. NULL when nothing was recorded.
ALTER TABLE action_attempt ADD COLUMN http_exchanges JSONB;
