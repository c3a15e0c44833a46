-- Each key is derived from the admin key and a salt of its own (HMAC-SHA256), so the
-- server can check a tenant token signed with a key it never stored.
ALTER TABLE api_keys ADD COLUMN key_salt bytea;
