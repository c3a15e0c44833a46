-- Retention of the change log. Every replica reports, per collection, how far its
-- index has applied the log (a heartbeat); a janitor deletes the changes every live
-- replica has applied, and records per collection how far it went, so a replica that
-- was away longer and finds the log trimmed past its watermark rebuilds instead of
-- missing changes.
CREATE TABLE index_progress (
    -- A replica is its index directory (a UUID kept in it).
    replica       text NOT NULL,
    collection_id bigint NOT NULL REFERENCES collections (id) ON DELETE CASCADE,
    -- The watermark: every change up to (txid, seq) is applied. (0, 0) while the
    -- replica builds the index: it holds back the trim until the build has caught up.
    txid          xid8 NOT NULL,
    seq           bigint NOT NULL,
    seen_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (replica, collection_id)
);

CREATE TABLE change_log_trims (
    collection_id bigint PRIMARY KEY REFERENCES collections (id) ON DELETE CASCADE,
    -- Changes up to (txid, seq) may be gone.
    txid          xid8 NOT NULL,
    seq           bigint NOT NULL,
    trimmed_at    timestamptz NOT NULL DEFAULT now()
);
