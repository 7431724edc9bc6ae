-- Analysis views over the raw tables (recreated on every migration).

-- Articles per source per day, by the day the page wrote (no time-zone shift).
CREATE OR REPLACE VIEW articles_per_source_day AS
-- Exact duplicates (duplicate_of) are not counted: a syndicated text counts once.
WITH articles AS (SELECT source, site_name, published_date FROM articles WHERE duplicate_of IS NULL)
SELECT source, published_date AS day, count(*) AS articles, count(DISTINCT site_name) AS sites
FROM articles
GROUP BY ALL
ORDER BY day DESC NULLS LAST, source;

-- The latest runs with their counts and duration.
CREATE OR REPLACE VIEW latest_runs AS
WITH runs AS (SELECT * FROM runs)
SELECT run_id, trigger, source, status, started_at, finished_at,
       round(epoch(finished_at) - epoch(started_at), 2) AS seconds,
       discovered, fetched, not_modified, extracted, loaded, updated, unchanged, rejected, flagged, failed, error
FROM runs
ORDER BY started_at DESC;

-- Why inputs were rejected, most frequent first.
CREATE OR REPLACE VIEW reject_reasons AS
WITH rejects AS (SELECT stage, rule, run_id, input FROM rejects)
SELECT stage, rule, count(*) AS rejects, count(DISTINCT run_id) AS runs, any_value(input) AS example_input
FROM rejects
GROUP BY ALL
ORDER BY rejects DESC;

-- Doubtful values of loaded articles by source and rule, most frequent first: how many articles each rule
-- flagged, how many had the value left out of their columns (kept as written in article_flags.value).
CREATE OR REPLACE VIEW flags_by_source AS
WITH flags AS (SELECT article_id, rule, left_out, detail FROM article_flags),
     articles AS (SELECT article_id, source FROM articles)
SELECT a.source, f.rule, count(*) AS articles, count(f.left_out) AS left_out,
       any_value(a.article_id) AS example_article_id, any_value(f.detail) AS example_detail
FROM flags AS f
JOIN articles AS a USING (article_id)
GROUP BY ALL
ORDER BY articles DESC, a.source, f.rule;

-- Articles whose text is identical to another article's (syndication, moved pages).
CREATE OR REPLACE VIEW duplicate_texts AS
WITH articles AS (SELECT article_id, url, title, text_sha256 FROM articles)
SELECT text_sha256, count(*) AS copies, list(url ORDER BY url) AS urls, any_value(title) AS title
FROM articles
GROUP BY text_sha256
HAVING count(*) > 1
ORDER BY copies DESC;

-- Stories per day they started: how many, how many articles (duplicates not counted), how many cross-outlet.
CREATE OR REPLACE VIEW stories_by_day AS
WITH stories AS (SELECT story_id, first_day, article_count, outlet_count FROM stories)
SELECT first_day AS day, count(*) AS stories, sum(article_count) AS articles,
       count(*) FILTER (WHERE outlet_count > 1) AS multi_outlet_stories
FROM stories
GROUP BY first_day
ORDER BY day DESC;

-- Each story's outlets with their articles; syndicated copies (duplicate_of) shown but not counted.
CREATE OR REPLACE VIEW story_outlets AS
WITH story_articles AS (SELECT story_id, article_id FROM story_articles),
     articles AS (SELECT article_id, url, published_at, duplicate_of FROM articles),
     signatures AS (SELECT article_id, outlet, day FROM article_signatures)
SELECT sa.story_id, s.outlet, count(*) FILTER (WHERE a.duplicate_of IS NULL) AS articles,
       count(*) FILTER (WHERE a.duplicate_of IS NOT NULL) AS duplicates,
       min(a.published_at) AS first_published, min(s.day) AS first_day, list(a.url ORDER BY a.url) AS urls
FROM story_articles AS sa
JOIN articles AS a USING (article_id)
JOIN signatures AS s USING (article_id)
GROUP BY ALL
ORDER BY sa.story_id, first_day, s.outlet;

-- Stories, latest first, with their outlets in one cell (`newsdag stories`).
CREATE OR REPLACE VIEW latest_stories AS
WITH stories AS (SELECT * FROM stories),
     outlets AS (SELECT story_id, string_agg(outlet, ', ' ORDER BY first_day, outlet) AS outlets
                 FROM story_outlets GROUP BY story_id)
SELECT s.story_id, s.first_day, s.last_day, s.article_count, s.outlet_count,
       o.outlets, s.title
FROM stories AS s
JOIN outlets AS o USING (story_id)
ORDER BY s.last_day DESC, s.article_count DESC, s.story_id;

-- Fetch failures by host and rule (timeouts, 5xx after retries, blocks, robots, ...), most frequent first:
-- pages (stage 'fetch'), and feeds and sitemaps that could not be fetched (stage 'discover' with a fetch
-- rule; not the rules of a feed or sitemap that was fetched but held no usable links, which are excluded).
CREATE OR REPLACE VIEW fetch_failures_by_host AS
WITH failures AS (
    SELECT regexp_extract(url, '^[a-z]+://([^/?#]+)', 1) AS host, rule, run_id, url, detail
    FROM rejects
    WHERE stage = 'fetch'
       OR (stage = 'discover' AND url IS NOT NULL AND rule NOT IN (
           'not-a-feed', 'not-a-sitemap', 'bad-xml', 'bad-gzip', 'xml-entities',  -- DiscoveryError (tasks/errors.py)
           'off-domain', 'sitemap-too-deep', 'too-many-sitemaps'                   -- links refused (tasks/crawl.py)
       ))
)
SELECT host, rule, count(*) AS failures, count(DISTINCT run_id) AS runs,
       any_value(url) AS example_url, any_value(detail) AS example_detail
FROM failures
GROUP BY ALL
ORDER BY failures DESC, host, rule;

-- Per run and host: requests, how many were conditional / not modified / failed, retries and time spent.
CREATE OR REPLACE VIEW fetch_summary AS
SELECT run_id, host, count(*) AS requests,
       count(*) FILTER (WHERE outcome = 'fetched') AS fetched,
       count(*) FILTER (WHERE outcome = 'not_modified') AS not_modified,
       count(*) FILTER (WHERE outcome = 'failed') AS failed,
       count(*) FILTER (WHERE conditional) AS conditional,
       sum(attempts - 1) AS retries,
       round(sum(seconds), 2) AS seconds
FROM fetches
GROUP BY ALL
ORDER BY run_id DESC, requests DESC;

-- What each source's articles declare about their rights: the reserved share for text and data mining,
-- AI opt-outs, licences and paywalls (tasks/rights.py; NULL tdm_reserved = undeclared).
CREATE OR REPLACE VIEW rights_by_source AS
WITH articles AS (SELECT source, tdm_reserved, ai_optout, license_url, accessible_for_free, rights_source FROM articles)
SELECT source,
       count(*) AS articles,
       count(*) FILTER (WHERE tdm_reserved) AS tdm_reserved,
       count(*) FILTER (WHERE tdm_reserved = false) AS tdm_not_reserved,
       count(*) FILTER (WHERE tdm_reserved IS NULL) AS tdm_undeclared,
       round(count(*) FILTER (WHERE tdm_reserved) / count(*), 3) AS reserved_share,
       count(*) FILTER (WHERE len(ai_optout) > 0) AS ai_optout,
       count(*) FILTER (WHERE license_url IS NOT NULL) AS licensed,
       count(*) FILTER (WHERE accessible_for_free = false) AS paywalled,
       list(DISTINCT rights_source) FILTER (WHERE rights_source IS NOT NULL) AS declared_by
FROM articles
GROUP BY source
ORDER BY source;
