-- Named statements used by tasks/load.py and warehouse/db.py. Each starts with "-- name: <name>".
-- Batch relations (batch_articles, batch_documents, batch_rejects, batch_keys) are Arrow tables
-- registered by the caller; everything else is a bound parameter.

-- name: start_run
INSERT INTO runs (run_id, flow_run_id, trigger, source, inputs, host, pid, started_at, status)
VALUES ($run_id, $flow_run_id, $trigger, $source, $inputs, $host, $pid, $started_at, 'running');

-- name: finish_run
UPDATE runs SET
    finished_at = $finished_at, status = $status, error = $error,
    discovered = $discovered, fetched = $fetched, not_modified = $not_modified,
    extracted = $extracted, loaded = $loaded, updated = $updated, unchanged = $unchanged,
    rejected = $rejected, failed = $failed
WHERE run_id = $run_id;

-- name: running_runs
SELECT run_id, host, pid FROM runs WHERE status = 'running';

-- name: mark_crashed
UPDATE runs SET status = 'crashed', finished_at = $found_at,
    error = 'its process ended without finishing; found by run ' || $found_by
WHERE run_id = $run_id AND status = 'running';

-- name: known_documents
-- Documents of this batch whose bytes, read from the same address, produced an article that still
-- has the text they produced: unchanged, so they skip extraction. (Copies of one article under
-- several addresses each count; a page reverted to old bytes does not, since the text moved on.)
SELECT DISTINCT k.doc_id, k.url
FROM batch_keys AS k
JOIN documents AS d ON d.doc_id = k.doc_id AND d.url = k.url
JOIN articles AS a ON a.article_id = d.article_id AND a.text_sha256 = d.article_text_sha256;

-- name: known_rejects
-- Documents of this batch that an earlier run read from the same input and rejected after reading
-- (extract or validate): the same bytes get the same verdict, so the latest reject is repeated.
SELECT k.doc_id, k.input,
       arg_max(r.stage, r.rejected_at) AS stage,
       arg_max(r.rule, r.rejected_at) AS rule,
       arg_max(r.detail, r.rejected_at) AS detail,
       arg_max(r.url, r.rejected_at) AS url
FROM batch_keys AS k
JOIN rejects AS r ON r.doc_id = k.doc_id AND r.input = k.input
WHERE r.stage IN ('extract', 'validate')
GROUP BY k.doc_id, k.input;

-- name: touch_unchanged
UPDATE articles SET last_seen_run = $run_id
WHERE article_id IN (
    SELECT d.article_id FROM batch_keys AS k JOIN documents AS d ON d.doc_id = k.doc_id AND d.url = k.url
);

-- name: classify_articles
SELECT
    count(*) FILTER (WHERE a.article_id IS NULL) AS new,
    count(*) FILTER (WHERE a.article_id IS NOT NULL AND a.text_sha256 <> s.text_sha256) AS changed,
    count(*) FILTER (WHERE a.text_sha256 = s.text_sha256) AS same
FROM batch_articles AS s
LEFT JOIN articles AS a USING (article_id);

-- name: keep_old_versions
INSERT INTO article_versions
SELECT a.article_id, a.version, a.doc_id, a.title, a.text, a.text_sha256, a.published_local,
       a.modified_local, a.first_seen_run, a.last_seen_run, s.last_seen_run, s.updated_at
FROM articles AS a
JOIN batch_articles AS s USING (article_id)
WHERE a.text_sha256 <> s.text_sha256;

-- name: merge_articles
MERGE INTO articles AS t
USING batch_articles AS s
ON t.article_id = s.article_id
WHEN MATCHED AND t.text_sha256 <> s.text_sha256 THEN UPDATE SET
    doc_id = s.doc_id, input = s.input, url = s.url, canonical_url = s.canonical_url, source = s.source,
    site_name = s.site_name, title = s.title, description = s.description, text = s.text,
    author = s.author, authors = s.authors, language = s.language,
    published_at = s.published_at, published_local = s.published_local, published_date = s.published_date,
    modified_at = s.modified_at, modified_local = s.modified_local,
    date_source = s.date_source, date_precision = s.date_precision, tags = s.tags,
    word_count = s.word_count, text_sha256 = s.text_sha256,
    last_seen_run = s.last_seen_run, version = t.version + 1, updated_at = s.updated_at
WHEN MATCHED THEN UPDATE SET
    -- Same text: refresh metadata (a re-extract may read it better) without a new version.
    doc_id = s.doc_id, input = s.input, canonical_url = s.canonical_url, site_name = s.site_name,
    title = s.title, description = s.description, author = s.author, authors = s.authors,
    language = s.language, published_at = s.published_at, published_local = s.published_local,
    published_date = s.published_date, modified_at = s.modified_at, modified_local = s.modified_local,
    date_source = s.date_source, date_precision = s.date_precision, tags = s.tags,
    last_seen_run = s.last_seen_run
WHEN NOT MATCHED THEN INSERT BY NAME;  -- batch rows carry version = 1

-- name: insert_documents
-- A document seen again keeps its row; it gains the article it produced if it did not have one.
INSERT INTO documents BY NAME SELECT * FROM batch_documents
ON CONFLICT (doc_id, url) DO UPDATE SET
    article_id = coalesce(EXCLUDED.article_id, documents.article_id),
    article_text_sha256 = coalesce(EXCLUDED.article_text_sha256, documents.article_text_sha256);

-- name: insert_rejects
INSERT INTO rejects BY NAME SELECT * FROM batch_rejects;
