-- Collections, documents and the change log the indexer follows.
--
-- Postgres is the source of truth. Every write to `documents`, including ones made
-- with plain SQL by other programs, leaves a row in `document_changes` in the same
-- transaction, tagged with the writing transaction's id (xid8). The indexer reads
-- only changes below pg_snapshot_xmin(pg_current_snapshot()), so a transaction that
-- commits after one with a higher sequence number is never skipped.

CREATE TABLE collections (
    id                  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name                text NOT NULL UNIQUE CHECK (name ~ '^[a-z0-9_-]{1,64}$'),
    fields              jsonb NOT NULL,
    settings            jsonb NOT NULL DEFAULT '{}'::jsonb,
    -- Moves on every settings change; part of the cache epoch and the index generation.
    settings_generation bigint NOT NULL DEFAULT 1,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE documents (
    collection_id bigint NOT NULL REFERENCES collections (id) ON DELETE CASCADE,
    id            text NOT NULL,
    body          jsonb NOT NULL,
    -- Bumped by the trigger below on every update, also for plain-SQL updates.
    version       bigint NOT NULL DEFAULT 1,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (collection_id, id)
);

-- The default listing order: newest first. (Sorting by updated_at or a body field
-- scans the collection; another index here would cost every write, imports included.)
CREATE INDEX documents_collection_created_at_idx ON documents (collection_id, created_at DESC, id DESC);

CREATE TABLE document_changes (
    seq           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    collection_id bigint NOT NULL,
    document_id   text NOT NULL,
    -- The writing transaction. Changes are applied in (txid, seq) order, and only
    -- once txid is below the xmin of a fresh snapshot (the transaction has ended).
    txid          xid8 NOT NULL DEFAULT pg_current_xact_id(),
    changed_at    timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX document_changes_collection_txid_seq_idx ON document_changes (collection_id, txid, seq);

CREATE FUNCTION sift_touch_collection() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.updated_at := now();
    RETURN NEW;
END $$;

CREATE TRIGGER collections_touch BEFORE UPDATE ON collections
    FOR EACH ROW EXECUTE FUNCTION sift_touch_collection();

CREATE FUNCTION sift_touch_document() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.version := OLD.version + 1;
    NEW.updated_at := now();
    NEW.created_at := OLD.created_at;
    RETURN NEW;
END $$;

CREATE TRIGGER documents_touch BEFORE UPDATE ON documents
    FOR EACH ROW EXECUTE FUNCTION sift_touch_document();

-- Statement-level triggers with transition tables: one INSERT ... SELECT per statement
-- instead of one per row, which keeps bulk imports fast. NOTIFY is only a wake-up
-- signal for the indexer; the change rows are the truth.
CREATE FUNCTION sift_log_written_documents() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    changed bigint;
BEGIN
    INSERT INTO document_changes (collection_id, document_id)
        SELECT collection_id, id FROM changed_rows;
    FOR changed IN SELECT DISTINCT collection_id FROM changed_rows LOOP
        PERFORM pg_notify('sift_document_changes', changed::text);
    END LOOP;
    RETURN NULL;
END $$;

-- A deleted collection takes its documents with it (ON DELETE CASCADE); those rows
-- need no change entries, since the collection's index goes away too.
CREATE FUNCTION sift_log_deleted_documents() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    changed bigint;
BEGIN
    INSERT INTO document_changes (collection_id, document_id)
        SELECT o.collection_id, o.id FROM changed_rows o
        WHERE EXISTS (SELECT 1 FROM collections c WHERE c.id = o.collection_id);
    FOR changed IN
        SELECT DISTINCT o.collection_id FROM changed_rows o
        WHERE EXISTS (SELECT 1 FROM collections c WHERE c.id = o.collection_id)
    LOOP
        PERFORM pg_notify('sift_document_changes', changed::text);
    END LOOP;
    RETURN NULL;
END $$;

CREATE TRIGGER documents_log_insert AFTER INSERT ON documents
    REFERENCING NEW TABLE AS changed_rows
    FOR EACH STATEMENT EXECUTE FUNCTION sift_log_written_documents();

CREATE TRIGGER documents_log_update AFTER UPDATE ON documents
    REFERENCING NEW TABLE AS changed_rows
    FOR EACH STATEMENT EXECUTE FUNCTION sift_log_written_documents();

CREATE TRIGGER documents_log_delete AFTER DELETE ON documents
    REFERENCING OLD TABLE AS changed_rows
    FOR EACH STATEMENT EXECUTE FUNCTION sift_log_deleted_documents();
