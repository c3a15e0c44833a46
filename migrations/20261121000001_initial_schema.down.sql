DROP TABLE IF EXISTS document_changes;
DROP TABLE IF EXISTS documents;
DROP TABLE IF EXISTS collections;
DROP FUNCTION IF EXISTS sift_log_deleted_documents();
DROP FUNCTION IF EXISTS sift_log_written_documents();
DROP FUNCTION IF EXISTS sift_touch_document();
DROP FUNCTION IF EXISTS sift_touch_collection();
