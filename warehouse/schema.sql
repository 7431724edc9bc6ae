-- newsdag warehouse, schema version 1: raw tables. Views live in views.sql.
-- Timestamps are UTC instants (TIMESTAMPTZ); *_local keeps the date exactly as the page wrote it
-- (its wall-clock time and UTC offset, or only the day); *_date is that calendar day, never shifted.

CREATE TABLE IF NOT EXISTS sources (
    name        VARCHAR PRIMARY KEY,
    kind        VARCHAR NOT NULL,          -- feed | sitemap | urls | path
    location    VARCHAR NOT NULL,
    schedule    VARCHAR,
    settings    JSON
);

CREATE TABLE IF NOT EXISTS runs (
    run_id        VARCHAR PRIMARY KEY,
    flow_run_id   VARCHAR,
    trigger       VARCHAR NOT NULL,        -- cli | manual | schedule
    source        VARCHAR,
    inputs        VARCHAR[],
    host          VARCHAR,                 -- where the run's process ran, to tell a crash from a live run
    pid           INTEGER,
    started_at    TIMESTAMPTZ NOT NULL,
    finished_at   TIMESTAMPTZ,
    status        VARCHAR NOT NULL,        -- running | completed | failed | crashed
    discovered    INTEGER DEFAULT 0,
    fetched       INTEGER DEFAULT 0,
    not_modified  INTEGER DEFAULT 0,
    extracted     INTEGER DEFAULT 0,
    loaded        INTEGER DEFAULT 0,
    updated       INTEGER DEFAULT 0,
    unchanged     INTEGER DEFAULT 0,
    rejected      INTEGER DEFAULT 0,
    failed        INTEGER DEFAULT 0,
    error         VARCHAR
);

-- One row per raw document version and address; the bytes are in the archive under doc_id.
-- (Migration 7 drops this table's key and articles': the one writer keeps them unique, at less cost.)
CREATE TABLE IF NOT EXISTS documents (
    doc_id             VARCHAR NOT NULL,   -- sha256 of the bytes
    url                VARCHAR NOT NULL,   -- file:// URI for local files
    input              VARCHAR NOT NULL,
    final_url          VARCHAR,
    http_status        INTEGER,
    content_type       VARCHAR,
    encoding_declared  VARCHAR,
    encoding_detected  VARCHAR,
    etag               VARCHAR,
    last_modified      VARCHAR,
    bytes              BIGINT NOT NULL,
    fetched_at         TIMESTAMPTZ NOT NULL,
    run_id             VARCHAR NOT NULL,
    article_id         VARCHAR,            -- the article these bytes produced (NULL: rejected)
    article_text_sha256 VARCHAR,           -- and its text: unchanged only while the article still has it
    PRIMARY KEY (doc_id, url)
);

CREATE TABLE IF NOT EXISTS articles (
    article_id       VARCHAR PRIMARY KEY,  -- from the canonical URL, else the URL, else the text
    doc_id           VARCHAR NOT NULL,
    input            VARCHAR NOT NULL,
    url              VARCHAR NOT NULL,
    canonical_url    VARCHAR,
    source           VARCHAR NOT NULL,
    site_name        VARCHAR,
    title            VARCHAR,
    description      VARCHAR,
    text             VARCHAR NOT NULL,
    author           VARCHAR,              -- authors joined with ', '
    authors          VARCHAR[],
    language         VARCHAR,
    published_at     TIMESTAMPTZ,          -- NULL unless the page gave a time with an offset
    published_local  VARCHAR,              -- as written: 2022-01-07T08:36+00:00 or 2022-01-07
    published_date   DATE,                 -- the day as written
    modified_at      TIMESTAMPTZ,
    modified_local   VARCHAR,
    date_source      VARCHAR,              -- json-ld | meta | time | url | text | header | hint | htmldate
    date_precision   VARCHAR,              -- day | minute | second
    tags             VARCHAR[],
    word_count       INTEGER NOT NULL,
    text_sha256      VARCHAR NOT NULL,
    first_seen_run   VARCHAR NOT NULL,
    last_seen_run    VARCHAR NOT NULL,
    version          INTEGER NOT NULL,     -- bumps when the text changes
    updated_at       TIMESTAMPTZ NOT NULL
);

-- Earlier texts of changed articles: nothing is lost on update.
CREATE TABLE IF NOT EXISTS article_versions (
    article_id       VARCHAR NOT NULL,
    version          INTEGER NOT NULL,
    doc_id           VARCHAR NOT NULL,
    title            VARCHAR,
    text             VARCHAR NOT NULL,
    text_sha256      VARCHAR NOT NULL,
    published_local  VARCHAR,
    modified_local   VARCHAR,
    first_seen_run   VARCHAR NOT NULL,
    last_seen_run    VARCHAR NOT NULL,
    superseded_by_run VARCHAR NOT NULL,
    superseded_at    TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (article_id, version)
);

-- Every input that did not become an article, with the stage and rule that stopped it.
CREATE TABLE IF NOT EXISTS rejects (
    run_id       VARCHAR NOT NULL,
    input        VARCHAR NOT NULL,         -- the URL, or the file path (path:line for JSONL)
    url          VARCHAR,
    stage        VARCHAR NOT NULL,         -- discover | fetch | extract | validate | load
    rule         VARCHAR NOT NULL,
    detail       VARCHAR NOT NULL,
    doc_id       VARCHAR,
    rejected_at  TIMESTAMPTZ NOT NULL
);
