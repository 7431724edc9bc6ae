-- Named statements of the report page and the run artifact (tasks/report.py), read-only.
-- Each starts with "-- name: <name>"; $since (a day, UTC) and the others are bound parameters.

-- name: articles_by_day
-- Articles per source and the day newsdag first loaded them (exact duplicates not counted).
WITH articles AS (SELECT source, first_seen_run FROM stg_articles WHERE NOT is_duplicate),
     runs AS (SELECT run_id, CAST(started_at AS DATE) AS day FROM runs WHERE started_at >= $since)
SELECT a.source, r.day, count(*) AS articles
FROM articles AS a
JOIN runs AS r ON r.run_id = a.first_seen_run
GROUP BY ALL
ORDER BY r.day, a.source;

-- name: rejects_by_day
-- Rejects per rule and the day they were recorded.
SELECT rule, CAST(rejected_at AS DATE) AS day, count(*) AS rejects
FROM rejects
WHERE rejected_at >= $since
GROUP BY ALL
ORDER BY day, rule;

-- name: health_by_source
-- Each source over the period, from its runs' figures (stg_run_health); rates over the period's sums.
WITH runs AS (SELECT * FROM stg_run_health WHERE started_at >= $since)
SELECT source, count(*) AS runs, count(*) FILTER (WHERE status NOT IN ('completed', 'running')) AS runs_failed,
       max(started_at) AS last_run, sum(discovered) AS discovered, sum(loaded) AS loaded, sum(updated) AS updated,
       sum(rejected) AS rejected,
       sum(rejected) / nullif(sum(discovered), 0) AS reject_rate,
       sum(fetch_failures) / nullif(sum(requests), 0) AS fetch_failure_rate,
       sum(blocked) / nullif(sum(requests), 0) AS blocked_rate,
       sum(empty_text) / nullif(sum(extracted + rejects_extract), 0) AS empty_text_rate,
       sum(without_date) / nullif(sum(articles), 0) AS missing_date_share,
       sum(without_author) / nullif(sum(articles), 0) AS missing_author_share,
       sum(flagged) AS flagged
FROM runs
GROUP BY source
ORDER BY source;

-- name: health_by_day
-- The daily figures behind each source's trend lines.
SELECT source, day, loaded + updated AS articles, rejected / nullif(discovered, 0) AS reject_rate, empty_text_rate,
       median_words
FROM source_health
WHERE day >= $since
ORDER BY source, day;

-- name: open_alerts
SELECT source, metric, message, raised_at, runs_crossed FROM open_alerts ORDER BY raised_at DESC, source, metric;

-- name: largest_stories
-- The stories that gained articles in the period, largest first.
WITH joined AS (SELECT DISTINCT story_id FROM story_articles WHERE joined_at >= $since)
SELECT s.title, s.first_day, s.last_day, s.article_count, s.outlet_count, o.outlets
FROM stories AS s
JOIN joined USING (story_id)
LEFT JOIN latest_stories AS o USING (story_id)
ORDER BY s.article_count DESC, s.outlet_count DESC, s.last_day DESC, s.story_id
LIMIT $limit;

-- name: recent_runs
SELECT run_id, source, trigger, status, started_at, seconds, discovered, loaded, updated, rejected, flagged, error
FROM latest_runs
WHERE started_at >= $since
LIMIT $limit;
