DROP INDEX action_log_created;
DROP INDEX action_log_by_status;
DROP INDEX action_log_by_action_status;
