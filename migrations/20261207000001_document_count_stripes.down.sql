-- Back to stripes by backend: each collection's stripes folded into stripe 0.
CREATE OR REPLACE FUNCTION sift_count_documents() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO document_counts AS c (collection_id, stripe, documents)
        SELECT n.collection_id, pg_backend_pid() % 16, count(*)
          FROM sift_inserted n
         WHERE EXISTS (SELECT 1 FROM collections WHERE id = n.collection_id)
         GROUP BY n.collection_id
        ON CONFLICT (collection_id, stripe) DO UPDATE SET documents = c.documents + EXCLUDED.documents;
    ELSE
        INSERT INTO document_counts AS c (collection_id, stripe, documents)
        SELECT o.collection_id, pg_backend_pid() % 16, -count(*)
          FROM sift_deleted o
         WHERE EXISTS (SELECT 1 FROM collections WHERE id = o.collection_id)
         GROUP BY o.collection_id
        ON CONFLICT (collection_id, stripe) DO UPDATE SET documents = c.documents + EXCLUDED.documents;
    END IF;
    RETURN NULL;
END;
$$;
DROP FUNCTION IF EXISTS sift_add_document_count(bigint, bigint);

CREATE TEMPORARY TABLE sift_folded_counts ON COMMIT DROP AS
SELECT collection_id, sum(documents)::bigint AS documents
  FROM document_counts
 GROUP BY collection_id;
DELETE FROM document_counts;
INSERT INTO document_counts (collection_id, stripe, documents)
SELECT collection_id, 0, documents FROM sift_folded_counts;
ALTER TABLE document_counts ALTER COLUMN stripe TYPE smallint;
DROP SEQUENCE IF EXISTS document_count_stripes;
