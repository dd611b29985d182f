DROP TABLE action_attempt;
DROP TABLE action_log;
DROP TABLE hdb_metadata;
