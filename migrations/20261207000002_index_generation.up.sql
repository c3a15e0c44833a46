-- The settings generation whose change needed a new search index. `settings_generation`
-- moves on every settings change (the answers of searches cached before it are not
-- used again); `index_generation` only when the index itself must change: its fields,
-- stop words or substring index, or a reindex. An index built at a settings generation
-- at or after it answers the collection, so changing ranking rules, the matching
-- strategy, typo tolerance, synonyms or boosts applies at once instead of rebuilding.
ALTER TABLE collections ADD COLUMN index_generation bigint NOT NULL DEFAULT 1;
-- Every settings change rebuilt the index until now.
UPDATE collections SET index_generation = settings_generation;
