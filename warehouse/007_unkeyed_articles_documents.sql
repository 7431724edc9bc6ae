-- newsdag warehouse migration 7: `articles` and `documents` without their PRIMARY KEYs (article_id;
-- doc_id, url). The one writer keeps each key once by itself: a batch is deduplicated before its write,
-- and in the batch's transaction classify_articles / update_seen_documents find what is stored, so only
-- the rest is inserted (tasks/load.write_batch). The keys' indexes only cost: in a warehouse of 1M
-- articles and documents a batch of 200 took 191 ms with both (loading the indexes to insert, writing
-- them at the close's checkpoint) and 122 without articles' (bench/results.md, section 3); documents'
-- took 180 of the file's 234 MB. DuckDB cannot drop a key, so each table is copied into one without it.
CREATE TABLE articles_unkeyed (
    article_id       VARCHAR NOT NULL,
    doc_id           VARCHAR NOT NULL,
    input            VARCHAR NOT NULL,
    url              VARCHAR NOT NULL,
    canonical_url    VARCHAR,
    source           VARCHAR NOT NULL,
    site_name        VARCHAR,
    title            VARCHAR,
    description      VARCHAR,
    text             VARCHAR NOT NULL,
    author           VARCHAR,
    authors          VARCHAR[],
    language         VARCHAR,
    published_at     TIMESTAMPTZ,
    published_local  VARCHAR,
    published_date   DATE,
    modified_at      TIMESTAMPTZ,
    modified_local   VARCHAR,
    date_source      VARCHAR,
    date_precision   VARCHAR,
    tags             VARCHAR[],
    word_count       INTEGER NOT NULL,
    text_sha256      VARCHAR NOT NULL,
    first_seen_run   VARCHAR NOT NULL,
    last_seen_run    VARCHAR NOT NULL,
    version          INTEGER NOT NULL,
    updated_at       TIMESTAMPTZ NOT NULL,
    duplicate_of     VARCHAR
);
INSERT INTO articles_unkeyed BY NAME SELECT * FROM articles;
DROP TABLE articles;
ALTER TABLE articles_unkeyed RENAME TO articles;

CREATE TABLE documents_unkeyed (
    doc_id             VARCHAR NOT NULL,
    url                VARCHAR NOT NULL,
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
    article_id         VARCHAR,
    article_text_sha256 VARCHAR,
    file_stamp         VARCHAR
);
INSERT INTO documents_unkeyed BY NAME SELECT * FROM documents;
DROP TABLE documents;
ALTER TABLE documents_unkeyed RENAME TO documents;
