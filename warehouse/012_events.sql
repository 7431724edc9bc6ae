-- newsdag warehouse migration 12: events inside stories (issue 27). An event is what happened, reported within
-- about a day; a story chains events about one subject over days or weeks. Articles join events, events join
-- stories; ids never move (tasks/stories.py). Self-contained and idempotent: it may be renumbered when branches
-- merge (011 is the WARC branch's).

-- What a page says it is: opinion, analysis, background, review, satire or news, from its JSON-LD type, its
-- section or its URL (tasks/htmlmeta.read_genre); NULL when it does not say. Articles loaded before keep NULL
-- until a run extracts them again. Usable to filter events.
ALTER TABLE articles ADD COLUMN IF NOT EXISTS genre VARCHAR;

CREATE TABLE IF NOT EXISTS events (
    event_id          VARCHAR PRIMARY KEY,   -- named after the article that founded it
    story_id          VARCHAR NOT NULL,      -- the story it is in (never changes)
    story_method      VARCHAR NOT NULL,      -- founder (it founded the story) | similar (joined it) | kept (its
                                             -- articles were in the story before events existed)
    story_similarity  DOUBLE,                -- for similar: the cosine that linked it to the story
    title             VARCHAR,               -- the earliest original article's title
    first_published   TIMESTAMPTZ,           -- UTC instants, when the articles gave a time
    last_published    TIMESTAMPTZ,
    first_day         DATE NOT NULL,         -- days as written (else first seen)
    last_day          DATE NOT NULL,
    article_count     INTEGER NOT NULL,      -- exact duplicates (duplicate_of) not counted
    outlet_count      INTEGER NOT NULL,
    updated_at        TIMESTAMPTZ NOT NULL
);

CREATE TABLE IF NOT EXISTS event_articles (
    article_id  VARCHAR PRIMARY KEY,         -- an article is in one event
    event_id    VARCHAR NOT NULL,
    method      VARCHAR NOT NULL,            -- founder | duplicate | near-duplicate | similar
    similarity  DOUBLE,                      -- the score that made it join (NULL for a founder)
    joined_run  VARCHAR,
    joined_at   TIMESTAMPTZ NOT NULL
);

ALTER TABLE stories ADD COLUMN IF NOT EXISTS event_count INTEGER DEFAULT 0;

-- Story terms are now words cut to six letters and numbers, no longer consonant skeletons, so the stored ones
-- cannot be compared with new ones. Dropping them with the signatures makes every article pending: the next
-- cluster step fingerprints them again and gives each an event inside the story it already has. Story
-- assignments, duplicates and near-duplicate pairs are kept.
DELETE FROM story_terms;
DELETE FROM story_term_df;
DELETE FROM minhash_bands;
DELETE FROM article_signatures;
