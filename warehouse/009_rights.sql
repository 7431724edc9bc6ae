-- newsdag warehouse migration 9: what publishers declared about their content's rights (issue 25,
-- tasks/rights.py). Recorded per article and per host; deciding with it is the user's (--respect-tdm).
ALTER TABLE articles ADD COLUMN IF NOT EXISTS tdm_reserved BOOLEAN;          -- TDMRep: NULL when undeclared
ALTER TABLE articles ADD COLUMN IF NOT EXISTS tdm_policy VARCHAR;            -- TDMRep policy URL (reserved only)
ALTER TABLE articles ADD COLUMN IF NOT EXISTS ai_optout VARCHAR[];           -- 'noai', 'noimageai', 'robots:GPTBot', ...
ALTER TABLE articles ADD COLUMN IF NOT EXISTS license_url VARCHAR;           -- rel=license or JSON-LD license
ALTER TABLE articles ADD COLUMN IF NOT EXISTS accessible_for_free BOOLEAN;   -- isAccessibleForFree / content tier
ALTER TABLE articles ADD COLUMN IF NOT EXISTS rights_source VARCHAR;         -- header | tdmrep.json | meta | robots

-- What each run saw of a host's site-wide declarations (one row per run and host it fetched from).
CREATE TABLE IF NOT EXISTS site_rights (
    run_id         VARCHAR NOT NULL,
    host           VARCHAR NOT NULL,     -- scheme://host[:port]
    tdmrep_found   BOOLEAN NOT NULL,     -- /.well-known/tdmrep.json was a rules file
    tdmrep_rules   VARCHAR,              -- the file as served (its first 64 KiB)
    ai_disallowed  VARCHAR[],            -- AI crawlers robots.txt keeps out of the site root
    seen_at        TIMESTAMPTZ NOT NULL
);
