UPDATE action_log SET request_query = (
    SELECT document FROM request_document WHERE sha256 = action_log.request_document
) WHERE request_document IS NOT NULL;
ALTER TABLE action_log DROP COLUMN request_document;
DROP TABLE request_document;
