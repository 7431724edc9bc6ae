-- Named statements of tasks/export.py: what `newsdag export` reads, table by table, on a read-only connection.
-- Each exported table has two statements (tasks/export.py's EXPORT_TABLES declares the table and its columns):
--   <table>_keys: per row, the columns that identify it and change when it changes (its key, then its
--     change columns), then the partition columns the table may be split by; tasks/export.py drops the keys
--     already exported (the state in the export directory) and exports the rest in chunks.
--   <table>_rows: the rows of the registered relation `export_keys` (a chunk of those keys), whole.
-- A table exported whole (its rows can be deleted in the warehouse) has <table>_checksum and <table>_rows.
-- $since is the start of the run given to --since-run (NULL: every row): rows written or seen by that run or a
-- later one.

-- name: since_run_started
SELECT started_at FROM runs WHERE run_id = $run_id;

-- name: finished_runs
-- Runs that ended (completed, failed or crashed): an export covers what they wrote.
SELECT run_id FROM runs WHERE status <> 'running' ORDER BY started_at, run_id;

-- name: articles_keys
-- A changed article is a new row (version bumped when its text changed, updated_at when its row was rewritten);
-- being seen again by a run (last_seen_run) or linked as a duplicate by clustering does not rewrite it.
SELECT article_id, version, updated_at, source, published_date
FROM articles
WHERE $since IS NULL OR last_seen_run IN (SELECT run_id FROM runs WHERE started_at >= $since);

-- name: articles_rows
SELECT a.* FROM articles AS a SEMI JOIN export_keys AS k USING (article_id, version, updated_at);

-- name: article_versions_keys
-- Earlier texts never change once kept.
SELECT article_id, version
FROM article_versions
WHERE $since IS NULL OR superseded_by_run IN (SELECT run_id FROM runs WHERE started_at >= $since);

-- name: article_versions_rows
SELECT v.* FROM article_versions AS v SEMI JOIN export_keys AS k USING (article_id, version);

-- name: stories_keys
-- A story's row is recomputed (updated_at) whenever an article joins it.
SELECT story_id, updated_at
FROM stories
WHERE $since IS NULL OR updated_at >= $since;

-- name: stories_rows
SELECT s.* FROM stories AS s SEMI JOIN export_keys AS k USING (story_id, updated_at);

-- name: story_articles_keys
-- Assignments never move: an article's row is written once.
SELECT article_id
FROM story_articles
WHERE $since IS NULL OR joined_run IN (SELECT run_id FROM runs WHERE started_at >= $since);

-- name: story_articles_rows
SELECT sa.* FROM story_articles AS sa SEMI JOIN export_keys AS k USING (article_id);

-- name: rejects_keys
-- Rejects are only ever added; no column alone identifies one, these together do.
SELECT run_id, input, stage, rule, rejected_at
FROM rejects
WHERE $since IS NULL OR run_id IN (SELECT run_id FROM runs WHERE started_at >= $since);

-- name: rejects_rows
SELECT r.* FROM rejects AS r SEMI JOIN export_keys AS k USING (run_id, input, stage, rule, rejected_at);

-- name: runs_keys
-- Only runs that ended: a running run's row still changes (its counts, status and end), a finished one never.
SELECT run_id
FROM runs
WHERE status <> 'running' AND ($since IS NULL OR started_at >= $since);

-- name: runs_rows
SELECT r.* FROM runs AS r SEMI JOIN export_keys AS k USING (run_id);

-- name: article_flags_checksum
-- Flags are replaced, and removed, by each validation of their article: the table is exported whole, and
-- again only when this changes. hash() of the whole row; the sum (not xor) so that equal rows do not cancel.
SELECT count(*) AS row_count, CAST(coalesce(sum(hash(f)), 0) AS VARCHAR) AS checksum FROM article_flags AS f;

-- name: article_flags_rows
SELECT * FROM article_flags ORDER BY article_id, rule;
