ALTER TABLE action_attempt DROP COLUMN http_exchanges;
