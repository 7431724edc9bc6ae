-- Views over the raw tables, recreated on every migration: staging views (stg_*) first, one per table an
-- analysis view reads, saying once what a row is (a duplicate, a fetch failure, ...); then the analysis views,
-- built on them. A staging view keeps every column of its table and adds the derived ones.

-- Each article with whether it is an exact copy of another (same normalised text, another URL: its
-- duplicate_of is set by clustering) and the host of its URL (NULL for a local file).
CREATE OR REPLACE VIEW stg_articles AS
SELECT *,
       duplicate_of IS NOT NULL AS is_duplicate,
       nullif(lower(regexp_extract(url, '^[a-z][a-z0-9+.-]*://([^/?#]+)', 1)), '') AS host
FROM articles;

-- Each reject with the host of its URL and what kind of failure it is:
-- is_fetch_failure: a page that could not be fetched (stage 'fetch': timeouts, 5xx after retries, blocks,
--   robots, ...), or a feed or sitemap that could not be (stage 'discover' with a URL, except the rules of one
--   that was fetched but held no usable links: DiscoveryError's in tasks/errors.py, links refused in
--   tasks/crawl.py);
-- is_blocked: a page the site answered with a block (a captcha, a 403 wall);
-- is_empty_text: a page whose extraction found no main text, or too few words (under NEWSDAG_MIN_WORDS).
CREATE OR REPLACE VIEW stg_rejects AS
SELECT *,
       nullif(lower(regexp_extract(url, '^[a-z][a-z0-9+.-]*://([^/?#]+)', 1)), '') AS host,
       stage = 'fetch' OR (stage = 'discover' AND url IS NOT NULL AND rule NOT IN (
           'not-a-feed', 'not-a-sitemap', 'bad-xml', 'bad-gzip', 'xml-entities',
           'off-domain', 'sitemap-too-deep', 'too-many-sitemaps'
       )) AS is_fetch_failure,
       rule = 'blocked' AS is_blocked,
       rule IN ('no-text', 'no-body', 'expect_column_values_to_not_be_null:text',
                'expect_column_values_to_be_between:word_count') AS is_empty_text
FROM rejects;

-- Articles per source per day, by the day the page wrote (no time-zone shift).
CREATE OR REPLACE VIEW articles_per_source_day AS
-- Exact duplicates are not counted: a syndicated text counts once.
WITH articles AS (SELECT source, site_name, published_date FROM stg_articles WHERE NOT is_duplicate)
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
WITH rejects AS (SELECT stage, rule, run_id, input FROM stg_rejects)
SELECT stage, rule, count(*) AS rejects, count(DISTINCT run_id) AS runs, any_value(input) AS example_input
FROM rejects
GROUP BY ALL
ORDER BY rejects DESC;

-- Doubtful values of loaded articles by source and rule, most frequent first: how many articles each rule
-- flagged, how many had the value left out of their columns (kept as written in article_flags.value).
CREATE OR REPLACE VIEW flags_by_source AS
WITH flags AS (SELECT article_id, rule, left_out, detail FROM article_flags),
     articles AS (SELECT article_id, source FROM stg_articles)
SELECT a.source, f.rule, count(*) AS articles, count(f.left_out) AS left_out,
       any_value(a.article_id) AS example_article_id, any_value(f.detail) AS example_detail
FROM flags AS f
JOIN articles AS a USING (article_id)
GROUP BY ALL
ORDER BY articles DESC, a.source, f.rule;

-- Articles whose text is identical to another article's (syndication, moved pages).
CREATE OR REPLACE VIEW duplicate_texts AS
WITH articles AS (SELECT article_id, url, title, text_sha256 FROM stg_articles)
SELECT text_sha256, count(*) AS copies, list(url ORDER BY url) AS urls, any_value(title) AS title
FROM articles
GROUP BY text_sha256
HAVING count(*) > 1
ORDER BY copies DESC;

-- Staging: one row per article in an event, with what the analysis views need of it (its outlet, the day it
-- counts on, its genre, whether it is an exact copy) and its story.
CREATE OR REPLACE VIEW stg_event_articles AS
WITH event_articles AS (SELECT article_id, event_id, method, similarity FROM event_articles),
     events AS (SELECT event_id, story_id FROM events),
     articles AS (SELECT article_id, url, title, genre, published_at, is_duplicate FROM stg_articles),
     signatures AS (SELECT article_id, outlet, day FROM article_signatures)
SELECT ea.event_id, e.story_id, ea.article_id, s.outlet, s.day, a.published_at, a.genre, a.url, a.title,
       a.is_duplicate AS is_copy, ea.method, ea.similarity
FROM event_articles AS ea
JOIN events AS e USING (event_id)
JOIN articles AS a USING (article_id)
JOIN signatures AS s USING (article_id);

-- Events per day they started: how many, how many articles (copies not counted), how many were reported by
-- more than one outlet, and how many opinion or analysis pieces they hold.
CREATE OR REPLACE VIEW events_by_day AS
WITH events AS (SELECT event_id, first_day, article_count, outlet_count FROM events),
     commentary AS (
         SELECT event_id, count(*) AS articles FROM stg_event_articles
         WHERE genre IN ('opinion', 'analysis') AND NOT is_copy GROUP BY event_id
     )
SELECT e.first_day AS day, count(*) AS events, sum(e.article_count) AS articles,
       count(*) FILTER (WHERE e.outlet_count > 1) AS cross_outlet_events,
       coalesce(sum(c.articles), 0) AS opinion_and_analysis
FROM events AS e
LEFT JOIN commentary AS c USING (event_id)
GROUP BY e.first_day
ORDER BY day DESC;

-- Which outlets covered which event: each event's outlets with their articles (copies shown, not counted),
-- genres and URLs.
CREATE OR REPLACE VIEW event_outlets AS
SELECT event_id, story_id, outlet, count(*) FILTER (WHERE NOT is_copy) AS articles,
       count(*) FILTER (WHERE is_copy) AS copies, min(published_at) AS first_published, min(day) AS first_day,
       list(DISTINCT genre ORDER BY genre) FILTER (WHERE genre IS NOT NULL) AS genres, list(url ORDER BY url) AS urls
FROM stg_event_articles
GROUP BY ALL
ORDER BY event_id, first_day, outlet;

-- Events with their outlets in one cell, latest first (`newsdag events`); `news_articles` leaves out what the
-- pages call opinion, analysis, review or satire, so `WHERE news_articles > 1` keeps events reported as news.
CREATE OR REPLACE VIEW latest_events AS
WITH events AS (SELECT * FROM events),
     outlets AS (
         SELECT event_id, string_agg(outlet, ', ' ORDER BY first_day, outlet) AS outlets,
                list(DISTINCT g ORDER BY g) FILTER (WHERE g IS NOT NULL) AS genres
         FROM event_outlets, unnest(coalesce(genres, [NULL])) AS u(g)
         GROUP BY event_id
     ),
     news AS (
         SELECT event_id, count(*) AS news_articles FROM stg_event_articles
         WHERE NOT is_copy AND coalesce(genre, 'news') IN ('news', 'background') GROUP BY event_id
     )
SELECT e.event_id, e.story_id, e.first_day, e.last_day, e.article_count, e.outlet_count,
       coalesce(n.news_articles, 0) AS news_articles, o.genres, o.outlets, e.title
FROM events AS e
JOIN outlets AS o USING (event_id)
LEFT JOIN news AS n USING (event_id)
ORDER BY e.last_day DESC, e.article_count DESC, e.event_id;

-- Events reported by more than one outlet, latest first.
CREATE OR REPLACE VIEW cross_outlet_events AS
SELECT * FROM latest_events WHERE outlet_count > 1;

-- A story's timeline: its events in the order they happened, each with its articles and outlets.
CREATE OR REPLACE VIEW story_timeline AS
WITH events AS (SELECT * FROM events),
     outlets AS (SELECT event_id, outlets FROM latest_events)
SELECT e.story_id, e.event_id, e.first_day, e.last_day, e.article_count, e.outlet_count, e.story_method,
       e.story_similarity, o.outlets, e.title
FROM events AS e
JOIN outlets AS o USING (event_id)
ORDER BY e.story_id, e.first_day, e.first_published NULLS LAST, e.event_id;

-- Stories per day they started: how many, how many articles (duplicates not counted), how many cross-outlet.
CREATE OR REPLACE VIEW stories_by_day AS
WITH stories AS (SELECT story_id, first_day, article_count, outlet_count, event_count FROM stories)
SELECT first_day AS day, count(*) AS stories, sum(article_count) AS articles, sum(event_count) AS events,
       count(*) FILTER (WHERE outlet_count > 1) AS multi_outlet_stories
FROM stories
GROUP BY first_day
ORDER BY day DESC;

-- Each story's outlets with their articles; syndicated copies (exact duplicates) shown but not counted.
CREATE OR REPLACE VIEW story_outlets AS
WITH story_articles AS (SELECT story_id, article_id FROM story_articles),
     articles AS (SELECT article_id, url, published_at, is_duplicate FROM stg_articles),
     signatures AS (SELECT article_id, outlet, day FROM article_signatures)
SELECT sa.story_id, s.outlet, count(*) FILTER (WHERE NOT a.is_duplicate) AS articles,
       count(*) FILTER (WHERE a.is_duplicate) AS duplicates,
       min(a.published_at) AS first_published, min(s.day) AS first_day, list(a.url ORDER BY a.url) AS urls
FROM story_articles AS sa
JOIN articles AS a USING (article_id)
JOIN signatures AS s USING (article_id)
GROUP BY ALL
ORDER BY sa.story_id, first_day, s.outlet;

-- Stories, latest first, with their outlets in one cell (`newsdag stories`, which lists each one's events).
CREATE OR REPLACE VIEW latest_stories AS
WITH stories AS (SELECT * FROM stories),
     outlets AS (SELECT story_id, string_agg(outlet, ', ' ORDER BY first_day, outlet) AS outlets
                 FROM story_outlets GROUP BY story_id)
SELECT s.story_id, s.first_day, s.last_day, s.event_count, s.article_count, s.outlet_count,
       o.outlets, s.title
FROM stories AS s
JOIN outlets AS o USING (story_id)
ORDER BY s.last_day DESC, s.article_count DESC, s.story_id;

-- Fetch failures by host and rule (timeouts, 5xx after retries, blocks, robots, ...), most frequent first:
-- pages, and feeds and sitemaps that could not be fetched (stg_rejects.is_fetch_failure).
CREATE OR REPLACE VIEW fetch_failures_by_host AS
WITH failures AS (SELECT host, rule, run_id, url, detail FROM stg_rejects WHERE is_fetch_failure)
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
WITH articles AS (
    SELECT source, tdm_reserved, ai_optout, license_url, accessible_for_free, rights_source FROM stg_articles
)
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

-- Source health (issue 21). Staging views per run, then the analysis view per source and day.

-- Each article with the run that read the bytes of its stored version (its document's first run): the run
-- whose extraction the article's values show. An article unchanged since is not counted again.
CREATE OR REPLACE VIEW stg_run_articles AS
WITH documents AS (SELECT DISTINCT run_id, doc_id, article_id FROM documents WHERE article_id IS NOT NULL),
     articles AS (SELECT article_id, doc_id, source, published_date, author, word_count FROM stg_articles)
SELECT DISTINCT d.run_id, a.article_id, a.source, a.published_date, a.author, a.word_count
FROM documents AS d
JOIN articles AS a ON a.article_id = d.article_id AND a.doc_id = d.doc_id;

-- One row per run with the figures a source's health is judged by (tasks/health.py reads its source's rows).
-- Rates are NULL when their denominator is zero (no request, nothing extracted, no article): no evidence.
-- blocked and empty_text: rejects so marked in stg_rejects.
-- short_text: an article of fewer than 100 words (a brief, a teaser, or a body cut short by a redesign).
CREATE OR REPLACE VIEW stg_run_health AS
WITH runs AS (
    SELECT run_id, source, trigger, status, started_at, discovered, fetched, not_modified, extracted, loaded,
           updated, unchanged, rejected, flagged, failed
    FROM runs
),
rejects AS (
    SELECT run_id,
           count(*) FILTER (WHERE stage = 'discover') AS rejects_discover,
           count(*) FILTER (WHERE stage = 'fetch') AS rejects_fetch,
           count(*) FILTER (WHERE stage = 'extract') AS rejects_extract,
           count(*) FILTER (WHERE stage = 'validate') AS rejects_validate,
           count(*) FILTER (WHERE stage = 'load') AS rejects_load,
           count(*) FILTER (WHERE is_blocked) AS blocked,
           count(*) FILTER (WHERE is_empty_text) AS empty_text
    FROM stg_rejects
    GROUP BY run_id
),
fetches AS (
    SELECT run_id, count(*) AS requests, count(*) FILTER (WHERE outcome = 'failed') AS fetch_failures
    FROM fetches
    GROUP BY run_id
),
articles AS (
    SELECT run_id, count(*) AS articles,
           count(*) FILTER (WHERE published_date IS NULL) AS without_date,
           count(*) FILTER (WHERE author IS NULL) AS without_author,
           count(*) FILTER (WHERE word_count < 100) AS short_text,
           median(word_count) AS median_words
    FROM stg_run_articles
    GROUP BY run_id
),
counted AS (
    SELECT r.*, CAST(r.started_at AS DATE) AS day,
           r.loaded + r.updated + r.unchanged + r.not_modified AS volume,
           coalesce(j.rejects_discover, 0) AS rejects_discover, coalesce(j.rejects_fetch, 0) AS rejects_fetch,
           coalesce(j.rejects_extract, 0) AS rejects_extract, coalesce(j.rejects_validate, 0) AS rejects_validate,
           coalesce(j.rejects_load, 0) AS rejects_load, coalesce(j.blocked, 0) AS blocked,
           coalesce(j.empty_text, 0) AS empty_text,
           coalesce(f.requests, 0) AS requests, coalesce(f.fetch_failures, 0) AS fetch_failures,
           coalesce(a.articles, 0) AS articles, coalesce(a.without_date, 0) AS without_date,
           coalesce(a.without_author, 0) AS without_author, coalesce(a.short_text, 0) AS short_text,
           a.median_words
    FROM runs AS r
    LEFT JOIN rejects AS j USING (run_id)
    LEFT JOIN fetches AS f USING (run_id)
    LEFT JOIN articles AS a USING (run_id)
)
SELECT *,
       rejected / nullif(discovered, 0) AS reject_rate,
       fetch_failures / nullif(requests, 0) AS fetch_failure_rate,
       blocked / nullif(requests, 0) AS blocked_rate,
       empty_text / nullif(extracted + rejects_extract, 0) AS empty_text_rate,
       without_date / nullif(articles, 0) AS missing_date_share,
       without_author / nullif(articles, 0) AS missing_author_share,
       short_text / nullif(articles, 0) AS short_text_share
FROM counted;

-- Per source and day (UTC, of the runs' start): what came in, what was rejected at which stage, how fetching
-- went, and what the extracted articles look like. Shares are over the articles those runs extracted.
CREATE OR REPLACE VIEW source_health AS
WITH runs AS (SELECT * FROM stg_run_health),
     words AS (
         SELECT r.source, r.day, median(a.word_count) AS median_words
         FROM stg_run_articles AS a
         JOIN runs AS r USING (run_id)
         GROUP BY ALL
     ),
     alerts AS (
         SELECT source, CAST(raised_at AS DATE) AS day, count(*) AS alerts FROM source_alerts GROUP BY ALL
     )
SELECT r.source, r.day, count(*) AS runs,
       count(*) FILTER (WHERE r.status NOT IN ('completed', 'running')) AS runs_failed,
       sum(r.discovered) AS discovered, sum(r.loaded) AS loaded, sum(r.updated) AS updated,
       sum(r.unchanged) AS unchanged, sum(r.rejected) AS rejected,
       sum(r.rejects_discover) AS rejects_discover, sum(r.rejects_fetch) AS rejects_fetch,
       sum(r.rejects_extract) AS rejects_extract, sum(r.rejects_validate) AS rejects_validate,
       sum(r.rejects_load) AS rejects_load,
       sum(r.requests) AS requests,
       round(sum(r.fetch_failures) / nullif(sum(r.requests), 0), 3) AS fetch_failure_rate,
       round(sum(r.blocked) / nullif(sum(r.requests), 0), 3) AS blocked_rate,
       round(sum(r.empty_text) / nullif(sum(r.extracted + r.rejects_extract), 0), 3) AS empty_text_rate,
       sum(r.articles) AS articles,
       round(sum(r.without_date) / nullif(sum(r.articles), 0), 3) AS missing_date_share,
       round(sum(r.without_author) / nullif(sum(r.articles), 0), 3) AS missing_author_share,
       round(sum(r.short_text) / nullif(sum(r.articles), 0), 3) AS short_text_share,
       any_value(w.median_words) AS median_words,
       sum(r.flagged) AS flagged,
       coalesce(any_value(al.alerts), 0) AS alerts
FROM runs AS r
LEFT JOIN words AS w ON w.source = r.source AND w.day = r.day
LEFT JOIN alerts AS al ON al.source = r.source AND al.day = r.day
GROUP BY r.source, r.day
ORDER BY r.day DESC, r.source;

-- Alerts still open: per source and figure, the latest crossing that no later run of the source has closed.
CREATE OR REPLACE VIEW open_alerts AS
WITH alerts AS (SELECT * FROM source_alerts WHERE closed_at IS NULL)
SELECT source, metric, run_id, value, baseline, threshold, baseline_runs, message, raised_at,
       count(*) OVER (PARTITION BY source, metric) AS runs_crossed
FROM alerts
QUALIFY row_number() OVER (PARTITION BY source, metric ORDER BY raised_at DESC) = 1
ORDER BY raised_at DESC, source, metric;
