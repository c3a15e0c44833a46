-- The GIN index behind `engine=fts` became a collection setting, `ftsIndex`, off for new
-- collections (it makes every document write compute a tsvector). Collections that
-- have the index keep it, and their settings now say so.
UPDATE collections c
   SET settings = c.settings || '{"ftsIndex": true}'::jsonb
 WHERE EXISTS (SELECT 1 FROM pg_indexes i WHERE i.indexname = 'documents_fts_' || c.id);
