-- Named statements of tasks/health.py (drift alerts) and the run report (flows/report.py, the Prefect artifact).
-- Each starts with "-- name: <name>"; every value is a bound parameter.

-- name: run_health
-- One run's figures, in tasks/health.RunHealth's field order.
SELECT run_id, source, status, started_at, volume, reject_rate, blocked_rate, empty_text_rate,
       missing_date_share, missing_author_share, median_words
FROM stg_run_health
WHERE run_id = $run_id;

-- name: baseline_runs
-- The source's completed runs that started in the window before the judged run, newest first.
SELECT run_id, source, status, started_at, volume, reject_rate, blocked_rate, empty_text_rate,
       missing_date_share, missing_author_share, median_words
FROM stg_run_health
WHERE source = $source AND run_id <> $run_id AND status = 'completed'
  AND started_at < $before AND started_at >= $since
ORDER BY started_at DESC
LIMIT $limit;

-- name: close_alerts
-- A judged figure that no longer crosses closes the source's open alerts of that figure.
UPDATE source_alerts SET closed_at = $now, closed_by_run = $run_id
WHERE source = $source AND closed_at IS NULL AND list_contains($metrics, metric);

-- name: insert_alert
INSERT INTO source_alerts (alert_id, source, run_id, metric, value, baseline, threshold, baseline_runs, message,
                           raised_at)
VALUES ($alert_id, $source, $run_id, $metric, $value, $baseline, $threshold, $baseline_runs, $message, $now);

-- name: run_alerts
-- The alerts a run raised, in the order they were judged.
SELECT metric, message FROM source_alerts WHERE run_id = $run_id ORDER BY raised_at, alert_id;

-- name: slowest_hosts
-- A run's hosts by the time their requests took, slowest first.
SELECT host, count(*) AS requests, count(*) FILTER (WHERE outcome = 'failed') AS failed,
       round(sum(seconds), 2) AS seconds, round(avg(seconds), 3) AS mean_seconds, round(max(seconds), 2) AS max_seconds
FROM fetches
WHERE run_id = $run_id
GROUP BY host
ORDER BY sum(seconds) DESC, host
LIMIT $limit;
