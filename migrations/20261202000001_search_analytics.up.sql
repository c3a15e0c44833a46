-- Search analytics: per collection, per hour and per normalized query, how many
-- searches, how many of them found nothing, and how many clicks the page reported.
-- Written in batches by the service (one statement per flush), trimmed past the
-- retention (SIFT_ANALYTICS_RETENTION).
CREATE TABLE search_analytics (
    collection_id bigint NOT NULL REFERENCES collections (id) ON DELETE CASCADE,
    bucket        timestamptz NOT NULL,
    query         text NOT NULL,
    searches      bigint NOT NULL DEFAULT 0,
    empty         bigint NOT NULL DEFAULT 0,
    clicks        bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (collection_id, bucket, query)
);

-- The retention trim deletes by age across collections.
CREATE INDEX search_analytics_bucket_idx ON search_analytics (bucket);
