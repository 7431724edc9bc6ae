-- newsdag warehouse migration 8: doubtful values of loaded articles (issue 20). A reject means "this is
-- not an article"; an article with a doubtful value (a modified date before the published one, a date out
-- of range, no title, an unknown language) loads, and each expectation it failed as a warning is a row here.
-- A row describes the article as stored: the flags of its latest validation replace the earlier ones.
CREATE TABLE IF NOT EXISTS article_flags (
    article_id  VARCHAR NOT NULL,
    run_id      VARCHAR NOT NULL,          -- the run whose validation flagged it
    doc_id      VARCHAR NOT NULL,          -- the document the flagged values were extracted from
    rule        VARCHAR NOT NULL,          -- the failed expectation, named as in rejects.rule
    detail      VARCHAR NOT NULL,          -- one line, with the value as written
    left_out    VARCHAR,                   -- the value left out of articles: published (published_*, date_source,
                                           -- date_precision) | modified (modified_*) | language | title; NULL: none
    value       VARCHAR,                   -- the judged value exactly as the page wrote it
    flagged_at  TIMESTAMPTZ NOT NULL
);

-- How many of a run's articles loaded with at least one flag (newsdag runs, the run summary).
ALTER TABLE runs ADD COLUMN IF NOT EXISTS flagged INTEGER DEFAULT 0;
