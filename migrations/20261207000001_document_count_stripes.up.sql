-- Concurrent writers to one collection never wait on each other's document count.
-- 20261206000001 picked a writer's stripe by its backend (`pg_backend_pid() % 16`): two
-- writers whose backends shared a stripe queued on its row until the first committed,
-- and a client holding two transactions open, writing in the second while the first
-- was still open, waited forever (one test did so one run in sixteen). Now a writer
-- takes the first of the collection's stripes that no other transaction holds (`FOR
-- UPDATE SKIP LOCKED`: it never waits), and adds a stripe when every one is held, so a
-- collection has about as many stripes as writers that ever overlapped. The count is
-- still the sum of its stripes, exact, committed or rolled back with the write.
CREATE SEQUENCE document_count_stripes START 16;
ALTER TABLE document_counts ALTER COLUMN stripe TYPE bigint;

CREATE FUNCTION sift_add_document_count(counted_collection bigint, delta bigint)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    free bigint;
BEGIN
    SELECT stripe INTO free
      FROM document_counts
     WHERE collection_id = counted_collection
     ORDER BY stripe
     LIMIT 1
       FOR UPDATE SKIP LOCKED;
    IF FOUND THEN
        UPDATE document_counts SET documents = documents + delta
         WHERE collection_id = counted_collection AND stripe = free;
    ELSE
        INSERT INTO document_counts (collection_id, stripe, documents)
        VALUES (counted_collection, nextval('document_count_stripes'), delta);
    END IF;
END;
$$;

-- Statement-level as before, over the transition table: one change per collection
-- written, however many documents an import writes; collections in id order.
CREATE OR REPLACE FUNCTION sift_count_documents() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    written record;
BEGIN
    IF TG_OP = 'INSERT' THEN
        FOR written IN
            SELECT n.collection_id, count(*) AS documents
              FROM sift_inserted n
             WHERE EXISTS (SELECT 1 FROM collections WHERE id = n.collection_id)
             GROUP BY n.collection_id
             ORDER BY n.collection_id
        LOOP
            PERFORM sift_add_document_count(written.collection_id, written.documents);
        END LOOP;
    ELSE
        FOR written IN
            SELECT o.collection_id, count(*) AS documents
              FROM sift_deleted o
             WHERE EXISTS (SELECT 1 FROM collections WHERE id = o.collection_id)
             GROUP BY o.collection_id
             ORDER BY o.collection_id
        LOOP
            PERFORM sift_add_document_count(written.collection_id, -written.documents);
        END LOOP;
    END IF;
    RETURN NULL;
END;
$$;
