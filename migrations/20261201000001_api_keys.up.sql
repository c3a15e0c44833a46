-- API keys: what each may do, on which collections, until when. Only a SHA-256 digest
-- of a key is kept; the key itself is shown once, when it is created.
CREATE TABLE api_keys (
    id          uuid PRIMARY KEY,
    name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    description text,
    key_digest  bytea NOT NULL UNIQUE,
    -- The first characters of the key, to tell keys apart in a listing.
    key_prefix  text NOT NULL,
    actions     text[] NOT NULL,
    collections text[] NOT NULL,
    expires_at  timestamptz,
    created_at  timestamptz NOT NULL DEFAULT now()
);
