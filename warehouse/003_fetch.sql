-- Migration 3: web fetching. One row per URL request a run made: fetched, not_modified or failed.
-- The page's bytes (when fetched) are in `documents`; a failure's reason is also a `rejects` row.

CREATE TABLE IF NOT EXISTS fetches (
    run_id        VARCHAR NOT NULL,
    url           VARCHAR NOT NULL,        -- as requested (normalised)
    host          VARCHAR NOT NULL,
    outcome       VARCHAR NOT NULL,        -- fetched | not_modified | failed
    final_url     VARCHAR,                 -- after redirects
    http_status   INTEGER,
    attempts      INTEGER NOT NULL,        -- 1 + retries
    conditional   BOOLEAN NOT NULL,        -- sent If-None-Match / If-Modified-Since
    rule          VARCHAR,                 -- the reject rule when failed
    doc_id        VARCHAR,
    seconds       DOUBLE NOT NULL,
    fetched_at    TIMESTAMPTZ NOT NULL
);
