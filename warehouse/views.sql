-- Analysis views over the raw tables (recreated on every migration).

-- Articles per source per day, by the day the page wrote (no time-zone shift).
CREATE OR REPLACE VIEW articles_per_source_day AS
WITH articles AS (SELECT source, site_name, published_date FROM articles)
SELECT source, published_date AS day, count(*) AS articles, count(DISTINCT site_name) AS sites
FROM articles
GROUP BY ALL
ORDER BY day DESC NULLS LAST, source;

-- The latest runs with their counts and duration.
CREATE OR REPLACE VIEW latest_runs AS
WITH runs AS (SELECT * FROM runs)
SELECT run_id, trigger, source, status, started_at, finished_at,
       round(epoch(finished_at) - epoch(started_at), 2) AS seconds,
       discovered, fetched, not_modified, extracted, loaded, updated, unchanged, rejected, failed, error
FROM runs
ORDER BY started_at DESC;

-- Why inputs were rejected, most frequent first.
CREATE OR REPLACE VIEW reject_reasons AS
WITH rejects AS (SELECT stage, rule, run_id, input FROM rejects)
SELECT stage, rule, count(*) AS rejects, count(DISTINCT run_id) AS runs, any_value(input) AS example_input
FROM rejects
GROUP BY ALL
ORDER BY rejects DESC;

-- Articles whose text is identical to another article's (syndication, moved pages).
CREATE OR REPLACE VIEW duplicate_texts AS
WITH articles AS (SELECT article_id, url, title, text_sha256 FROM articles)
SELECT text_sha256, count(*) AS copies, list(url ORDER BY url) AS urls, any_value(title) AS title
FROM articles
GROUP BY text_sha256
HAVING count(*) > 1
ORDER BY copies DESC;
