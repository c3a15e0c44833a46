DROP TRIGGER IF EXISTS documents_count_inserted ON documents;
DROP TRIGGER IF EXISTS documents_count_deleted ON documents;
DROP FUNCTION IF EXISTS sift_count_documents();
DROP TABLE IF EXISTS document_counts;
