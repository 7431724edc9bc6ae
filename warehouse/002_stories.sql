-- newsdag warehouse migration 2: duplicates and stories (issue 9). Idempotent statements.

-- The canonical article this one is an exact copy of (same normalised text, another URL); NULL if original.
ALTER TABLE articles ADD COLUMN IF NOT EXISTS duplicate_of VARCHAR;

-- What clustering knows about an article; a row whose text_sha256 differs from the article's is stale.
CREATE TABLE IF NOT EXISTS article_signatures (
    article_id    VARCHAR PRIMARY KEY,
    text_sha256   VARCHAR NOT NULL,        -- the article text this row was computed from
    norm_sha256   VARCHAR NOT NULL,        -- sha256 of the normalised text: equal means exact duplicate
    minhash       BLOB NOT NULL,           -- MinHash signature of word shingles (uint32 little-endian)
    day           DATE NOT NULL,           -- published_date as written, else the day first seen
    outlet        VARCHAR NOT NULL,        -- site name, else the URL's host, else the source
    clustered_at  TIMESTAMPTZ NOT NULL
);

-- LSH buckets of the MinHash signatures: articles sharing a bucket are near-duplicate candidates.
CREATE TABLE IF NOT EXISTS minhash_bands (
    band_key    BIGINT NOT NULL,           -- hash of (band number, the band's signature values)
    article_id  VARCHAR NOT NULL
);

-- Pairs of lightly edited copies; article_id < other_id; similarity = estimated Jaccard of word shingles.
CREATE TABLE IF NOT EXISTS near_duplicates (
    article_id  VARCHAR NOT NULL,
    other_id    VARCHAR NOT NULL,
    similarity  DOUBLE NOT NULL,
    PRIMARY KEY (article_id, other_id)
);

-- Story keywords of each article (title + lead), keyed by a transliteration-tolerant form, by day.
CREATE TABLE IF NOT EXISTS story_terms (
    term        VARCHAR NOT NULL,
    day         DATE NOT NULL,
    article_id  VARCHAR NOT NULL,
    boost       DOUBLE NOT NULL            -- > 1 for names (capitalised) and headline words
);

-- Document frequency of each story term, kept incrementally for IDF weights.
CREATE TABLE IF NOT EXISTS story_term_df (
    term  VARCHAR PRIMARY KEY,
    df    INTEGER NOT NULL
);

CREATE TABLE IF NOT EXISTS stories (
    story_id         VARCHAR PRIMARY KEY,
    title            VARCHAR,              -- the earliest original article's title
    first_published  TIMESTAMPTZ,          -- UTC instants, when the articles gave a time
    last_published   TIMESTAMPTZ,
    first_day        DATE NOT NULL,
    last_day         DATE NOT NULL,
    article_count    INTEGER NOT NULL,     -- exact duplicates (duplicate_of) not counted
    outlet_count     INTEGER NOT NULL,
    updated_at       TIMESTAMPTZ NOT NULL
);

CREATE TABLE IF NOT EXISTS story_articles (
    article_id  VARCHAR PRIMARY KEY,       -- an article is in one story
    story_id    VARCHAR NOT NULL,
    method      VARCHAR NOT NULL,          -- founder | duplicate | near-duplicate | similar
    similarity  DOUBLE,                    -- the score that made it join (NULL for a founder)
    joined_run  VARCHAR,
    joined_at   TIMESTAMPTZ NOT NULL
);
