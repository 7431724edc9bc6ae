-- Named statements for the end-of-run summary that `newsdag ingest` prints (flows/cli.py), read-only.
-- Each starts with "-- name: <name>"; $run_id is bound.

-- name: run_rejects
-- A run's rejects by stage and rule, most frequent first, with one example input and its detail.
SELECT stage, rule, count(*) AS rejects, min(input || ': ' || detail) AS example
FROM rejects
WHERE run_id = $run_id
GROUP BY stage, rule
ORDER BY rejects DESC, stage, rule;

-- name: run_flags
-- The flags a run's validation recorded on articles that loaded, by rule, most frequent first, with one
-- example article's input and the flag's detail.
WITH flags AS (SELECT article_id, rule, detail FROM article_flags WHERE run_id = $run_id),
     articles AS (SELECT article_id, input FROM articles WHERE article_id IN (SELECT article_id FROM flags))
SELECT f.rule, count(*) AS articles, min(a.input || ': ' || f.detail) AS example
FROM flags AS f
JOIN articles AS a USING (article_id)
GROUP BY f.rule
ORDER BY articles DESC, f.rule;
