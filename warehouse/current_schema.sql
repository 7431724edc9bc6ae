-- The newsdag warehouse as the migrations leave it (schema version 14): every table, its columns in their
-- order, keys and defaults, in one place to read. It is not applied: the migrations (schema.sql, 002_*.sql,
-- ... in warehouse/db.py MIGRATIONS) build a warehouse, and tests/test_schema.py checks that applying them
-- gives exactly these tables and columns. A new migration changes this file in the same commit.
-- Views (staging stg_*, then analysis views) are in views.sql.
--
-- Timestamps are UTC instants (TIMESTAMPTZ); *_local keeps a date exactly as the page wrote it (its wall-clock
-- time and UTC offset, or only the day); *_date is that calendar day, never shifted.

-- Applied migrations, by the number their file name starts with (schema.sql is 1).
CREATE TABLE schema_version (
    version     INTEGER,
    applied_at  TIMESTAMPTZ
);

-- Runs ------------------------------------------------------------------------------------------------------

CREATE TABLE runs (
    run_id              VARCHAR PRIMARY KEY,
    flow_run_id         VARCHAR,
    trigger             VARCHAR NOT NULL,        -- cli | manual | schedule
    source              VARCHAR,                 -- the source's name in the sources file
    inputs              VARCHAR[],
    host                VARCHAR,                 -- where the run's process ran, to tell a crash from a live run
    pid                 INTEGER,
    started_at          TIMESTAMPTZ NOT NULL,
    finished_at         TIMESTAMPTZ,
    status              VARCHAR NOT NULL,        -- running | completed | failed | crashed
    discovered          INTEGER DEFAULT 0,
    fetched             INTEGER DEFAULT 0,
    not_modified        INTEGER DEFAULT 0,
    extracted           INTEGER DEFAULT 0,
    loaded              INTEGER DEFAULT 0,
    updated             INTEGER DEFAULT 0,
    unchanged           INTEGER DEFAULT 0,
    rejected            INTEGER DEFAULT 0,
    failed              INTEGER DEFAULT 0,
    error               VARCHAR,
    process_started_at  TIMESTAMPTZ,             -- NULL: unknown; a later process with the same pid is not this run
    flagged             INTEGER DEFAULT 0,       -- articles loaded with at least one flag
    skipped             INTEGER DEFAULT 0        -- WARC records skipped unread
);

-- Documents, articles, rejects ------------------------------------------------------------------------------

-- One row per raw document version and address; the bytes are in the archive under doc_id. No key: the one
-- writer keeps (doc_id, url) unique (migration 7 says why).
CREATE TABLE documents (
    doc_id               VARCHAR NOT NULL,       -- sha256 of the bytes
    url                  VARCHAR NOT NULL,       -- file:// URI for local files
    input                VARCHAR NOT NULL,
    final_url            VARCHAR,
    http_status          INTEGER,
    content_type         VARCHAR,
    encoding_declared    VARCHAR,
    encoding_detected    VARCHAR,
    etag                 VARCHAR,
    last_modified        VARCHAR,
    bytes                BIGINT NOT NULL,
    fetched_at           TIMESTAMPTZ NOT NULL,
    run_id               VARCHAR NOT NULL,
    article_id           VARCHAR,                -- the article these bytes produced (NULL: rejected)
    article_text_sha256  VARCHAR,                -- and its text: unchanged only while the article still has it
    file_stamp           VARCHAR,                -- a local file's size:mtime:ctime when read (re-runs skip it)
    warc_file            VARCHAR,                -- read from a WARC/ARC file: which, and where in it
    warc_offset          BIGINT,
    warc_record_id       VARCHAR
);

-- No key either: the one writer keeps article_id unique.
CREATE TABLE articles (
    article_id           VARCHAR NOT NULL,       -- from the canonical URL, else the URL, else the text
    doc_id               VARCHAR NOT NULL,
    input                VARCHAR NOT NULL,
    url                  VARCHAR NOT NULL,
    canonical_url        VARCHAR,
    source               VARCHAR NOT NULL,
    site_name            VARCHAR,
    title                VARCHAR,
    description          VARCHAR,
    text                 VARCHAR NOT NULL,
    author               VARCHAR,                -- authors joined with ', '
    authors              VARCHAR[],
    language             VARCHAR,
    published_at         TIMESTAMPTZ,            -- NULL unless the page gave a time with an offset
    published_local      VARCHAR,                -- as written: 2022-01-07T08:36+00:00 or 2022-01-07
    published_date       DATE,                   -- the day as written
    modified_at          TIMESTAMPTZ,
    modified_local       VARCHAR,
    date_source          VARCHAR,                -- json-ld | meta | time | url | text | header | hint | htmldate
    date_precision       VARCHAR,                -- day | minute | second
    tags                 VARCHAR[],
    word_count           INTEGER NOT NULL,
    text_sha256          VARCHAR NOT NULL,
    first_seen_run       VARCHAR NOT NULL,
    last_seen_run        VARCHAR NOT NULL,
    version              INTEGER NOT NULL,       -- bumps when the text changes
    updated_at           TIMESTAMPTZ NOT NULL,
    duplicate_of         VARCHAR,                -- the original this is an exact copy of (clustering); NULL: original
    tdm_reserved         BOOLEAN,                -- TDMRep: NULL when undeclared
    tdm_policy           VARCHAR,                -- TDMRep policy URL (reserved only)
    ai_optout            VARCHAR[],              -- 'noai', 'noimageai', 'robots:GPTBot', ...
    license_url          VARCHAR,                -- rel=license or JSON-LD license
    accessible_for_free  BOOLEAN,                -- isAccessibleForFree / content tier
    rights_source        VARCHAR,                -- header | tdmrep.json | meta | robots
    genre                VARCHAR                 -- opinion | analysis | background | review | satire | news; NULL: unsaid
);

-- Earlier texts of changed articles: nothing is lost on update.
CREATE TABLE article_versions (
    article_id         VARCHAR NOT NULL,
    version            INTEGER NOT NULL,
    doc_id             VARCHAR NOT NULL,
    title              VARCHAR,
    text               VARCHAR NOT NULL,
    text_sha256        VARCHAR NOT NULL,
    published_local    VARCHAR,
    modified_local     VARCHAR,
    first_seen_run     VARCHAR NOT NULL,
    last_seen_run      VARCHAR NOT NULL,
    superseded_by_run  VARCHAR NOT NULL,
    superseded_at      TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (article_id, version)
);

-- Every input that did not become an article, with the stage and rule that stopped it.
CREATE TABLE rejects (
    run_id       VARCHAR NOT NULL,
    input        VARCHAR NOT NULL,               -- the URL, or the file path (path:line for JSONL)
    url          VARCHAR,
    stage        VARCHAR NOT NULL,               -- discover | fetch | extract | validate | load
    rule         VARCHAR NOT NULL,
    detail       VARCHAR NOT NULL,
    doc_id       VARCHAR,
    rejected_at  TIMESTAMPTZ NOT NULL
);

-- Doubtful values of loaded articles, one row per failed warning expectation; the latest validation's replace
-- the earlier ones.
CREATE TABLE article_flags (
    article_id  VARCHAR NOT NULL,
    run_id      VARCHAR NOT NULL,                -- the run whose validation flagged it
    doc_id      VARCHAR NOT NULL,                -- the document the flagged values were extracted from
    rule        VARCHAR NOT NULL,                -- the failed expectation, named as in rejects.rule
    detail      VARCHAR NOT NULL,                -- one line, with the value as written
    left_out    VARCHAR,                         -- published | modified | language | title; NULL: none left out
    value       VARCHAR,                         -- the judged value exactly as the page wrote it
    flagged_at  TIMESTAMPTZ NOT NULL
);

-- The warehouse's record of its key index (warehouse/keys.py); one row.
CREATE TABLE key_gate (
    gate_id     VARCHAR NOT NULL,                -- random, new at each write
    generation  BIGINT NOT NULL,                 -- of the last batch written with it
    articles    BIGINT,                          -- rows that batch left; NULL: no index yet
    documents   BIGINT
);

-- Fetching and rights ---------------------------------------------------------------------------------------

-- One row per URL request a run made; a failure's reason is also a rejects row.
CREATE TABLE fetches (
    run_id       VARCHAR NOT NULL,
    url          VARCHAR NOT NULL,               -- as requested (normalised)
    host         VARCHAR NOT NULL,
    outcome      VARCHAR NOT NULL,               -- fetched | not_modified | failed
    final_url    VARCHAR,                        -- after redirects
    http_status  INTEGER,
    attempts     INTEGER NOT NULL,               -- 1 + retries
    conditional  BOOLEAN NOT NULL,               -- sent If-None-Match / If-Modified-Since
    rule         VARCHAR,                        -- the reject rule when failed
    doc_id       VARCHAR,
    seconds      DOUBLE NOT NULL,
    fetched_at   TIMESTAMPTZ NOT NULL
);

-- What each run saw of a host's site-wide rights declarations.
CREATE TABLE site_rights (
    run_id         VARCHAR NOT NULL,
    host           VARCHAR NOT NULL,             -- scheme://host[:port]
    tdmrep_found   BOOLEAN NOT NULL,             -- /.well-known/tdmrep.json was a rules file
    tdmrep_rules   VARCHAR,                      -- the file as served (its first 64 KiB)
    ai_disallowed  VARCHAR[],                    -- AI crawlers robots.txt keeps out of the site root
    seen_at        TIMESTAMPTZ NOT NULL
);

-- Web archives ----------------------------------------------------------------------------------------------

-- One row per WARC or ARC file ever read: where the next run resumes, and what its records became.
CREATE TABLE warc_files (
    warc_file    VARCHAR PRIMARY KEY,            -- resolved path or URL
    next_offset  BIGINT NOT NULL,
    next_skip    INTEGER NOT NULL,
    file_stamp   VARCHAR,                        -- a local file's size:mtime:ctime, a remote one's ETag
    finished     BOOLEAN NOT NULL,
    documents    BIGINT NOT NULL,
    rejected     BIGINT NOT NULL,
    skipped      BIGINT NOT NULL,
    first_run    VARCHAR NOT NULL,
    last_run     VARCHAR NOT NULL,
    updated_at   TIMESTAMPTZ NOT NULL
);

-- Records skipped unread, per run, file and reason.
CREATE TABLE warc_skips (
    run_id      VARCHAR NOT NULL,
    warc_file   VARCHAR NOT NULL,
    reason      VARCHAR NOT NULL,                -- not-response | revisit | not-http | not-200 | not-html | ...
    records     BIGINT NOT NULL,
    counted_at  TIMESTAMPTZ NOT NULL
);

-- Health ----------------------------------------------------------------------------------------------------

-- Great Expectations' results per run and expectation, summed over the run's batches.
CREATE TABLE validation_results (
    run_id      VARCHAR NOT NULL,
    rule        VARCHAR NOT NULL,                -- named as in rejects.rule and article_flags.rule
    severity    VARCHAR NOT NULL,                -- critical (a failure rejects) | warning (a failure flags)
    batches     INTEGER NOT NULL,
    evaluated   BIGINT NOT NULL,
    unexpected  BIGINT NOT NULL,
    PRIMARY KEY (run_id, rule)
);

-- A source's run that crossed a drift threshold against its own trailing baseline (tasks/health.py).
CREATE TABLE source_alerts (
    alert_id       VARCHAR NOT NULL,             -- <run_id>:<metric>
    source         VARCHAR NOT NULL,
    run_id         VARCHAR NOT NULL,             -- the run that crossed
    metric         VARCHAR NOT NULL,             -- volume | reject_rate | blocked_rate | empty_text_rate | ...
    value          DOUBLE,
    baseline       DOUBLE,                       -- the median of the same figure over the baseline runs
    threshold      DOUBLE NOT NULL,
    baseline_runs  INTEGER NOT NULL,
    message        VARCHAR NOT NULL,
    raised_at      TIMESTAMPTZ NOT NULL,
    closed_at      TIMESTAMPTZ,                  -- NULL: open
    closed_by_run  VARCHAR
);

-- Clustering: duplicates, events, stories (tasks/stories.py, statements in stories.sql) ---------------------

-- What clustering knows about an article; a row whose text_sha256 differs from the article's is stale.
CREATE TABLE article_signatures (
    article_id    VARCHAR PRIMARY KEY,
    text_sha256   VARCHAR NOT NULL,              -- the article text this row was computed from
    norm_sha256   VARCHAR NOT NULL,              -- sha256 of the normalised text: equal means exact duplicate
    minhash       BLOB NOT NULL,                 -- MinHash signature of word shingles (uint32 little-endian)
    day           DATE NOT NULL,                 -- published_date as written, else the day first seen
    outlet        VARCHAR NOT NULL,              -- site name, else the URL's host, else the source
    clustered_at  TIMESTAMPTZ NOT NULL
);

-- LSH buckets of the signatures: articles sharing a bucket are near-duplicate candidates.
CREATE TABLE minhash_bands (
    band_key    BIGINT NOT NULL,                 -- hash of (band number, the band's signature values)
    article_id  VARCHAR NOT NULL
);

-- Pairs of lightly edited copies; article_id < other_id; similarity = estimated Jaccard of word shingles.
CREATE TABLE near_duplicates (
    article_id  VARCHAR NOT NULL,
    other_id    VARCHAR NOT NULL,
    similarity  DOUBLE NOT NULL,
    PRIMARY KEY (article_id, other_id)
);

-- Story keywords of each article (title + lead) by day, and their document frequency for IDF weights.
CREATE TABLE story_terms (
    term        VARCHAR NOT NULL,
    day         DATE NOT NULL,
    article_id  VARCHAR NOT NULL,
    boost       DOUBLE NOT NULL                  -- > 1 for headline words
);

CREATE TABLE story_term_df (
    term  VARCHAR PRIMARY KEY,
    df    INTEGER NOT NULL
);

-- An event is what happened, reported within about a day; a story chains events about one subject.
CREATE TABLE events (
    event_id          VARCHAR PRIMARY KEY,       -- named after the article that founded it
    story_id          VARCHAR NOT NULL,          -- never changes
    story_method      VARCHAR NOT NULL,          -- founder | similar | kept
    story_similarity  DOUBLE,                    -- for similar: the cosine that linked it to the story
    title             VARCHAR,                   -- the earliest original article's title
    first_published   TIMESTAMPTZ,
    last_published    TIMESTAMPTZ,
    first_day         DATE NOT NULL,             -- days as written (else first seen)
    last_day          DATE NOT NULL,
    article_count     INTEGER NOT NULL,          -- exact duplicates not counted
    outlet_count      INTEGER NOT NULL,
    updated_at        TIMESTAMPTZ NOT NULL
);

CREATE TABLE event_articles (
    article_id  VARCHAR PRIMARY KEY,             -- an article is in one event
    event_id    VARCHAR NOT NULL,
    method      VARCHAR NOT NULL,                -- founder | duplicate | near-duplicate | similar
    similarity  DOUBLE,                          -- the score that made it join (NULL for a founder)
    joined_run  VARCHAR,
    joined_at   TIMESTAMPTZ NOT NULL
);

CREATE TABLE stories (
    story_id         VARCHAR PRIMARY KEY,
    title            VARCHAR,                    -- the earliest original article's title
    first_published  TIMESTAMPTZ,
    last_published   TIMESTAMPTZ,
    first_day        DATE NOT NULL,
    last_day         DATE NOT NULL,
    article_count    INTEGER NOT NULL,           -- exact duplicates not counted
    outlet_count     INTEGER NOT NULL,
    updated_at       TIMESTAMPTZ NOT NULL,
    event_count      INTEGER DEFAULT 0
);

CREATE TABLE story_articles (
    article_id  VARCHAR PRIMARY KEY,             -- an article is in one story
    story_id    VARCHAR NOT NULL,
    method      VARCHAR NOT NULL,                -- founder | duplicate | near-duplicate | similar | kept
    similarity  DOUBLE,
    joined_run  VARCHAR,
    joined_at   TIMESTAMPTZ NOT NULL
);
