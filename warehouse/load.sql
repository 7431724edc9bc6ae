-- Named statements used by tasks/load.py and warehouse/db.py. Each starts with "-- name: <name>".
-- Batch relations (batch_articles, batch_flags, batch_documents, batch_rejects, batch_keys, batch_fetches, batch_urls, batch_stamps) are Arrow tables
-- registered by the caller; everything else is a bound parameter.

-- name: start_run
INSERT INTO runs (run_id, flow_run_id, trigger, source, inputs, host, pid, process_started_at, started_at, status)
VALUES ($run_id, $flow_run_id, $trigger, $source, $inputs, $host, $pid, $process_started_at, $started_at, 'running');

-- name: finish_run
UPDATE runs SET
    finished_at = $finished_at, status = $status, error = $error,
    discovered = $discovered, fetched = $fetched, not_modified = $not_modified,
    extracted = $extracted, loaded = $loaded, updated = $updated, unchanged = $unchanged,
    rejected = $rejected, flagged = $flagged, failed = $failed, skipped = $skipped
WHERE run_id = $run_id;

-- name: running_runs
SELECT run_id, host, pid, process_started_at FROM runs WHERE status = 'running';

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
-- Not rejects that say more about the machine than the bytes (a worker that died or ran out of
-- time, a lost Dask worker): those documents are extracted again.
SELECT k.doc_id, k.input,
       arg_max(r.stage, r.rejected_at) AS stage,
       arg_max(r.rule, r.rejected_at) AS rule,
       arg_max(r.detail, r.rejected_at) AS detail,
       arg_max(r.url, r.rejected_at) AS url
FROM batch_keys AS k
JOIN rejects AS r ON r.doc_id = k.doc_id AND r.input = k.input
WHERE r.stage IN ('extract', 'validate')
  AND r.rule NOT IN ('worker-crashed', 'extract-timeout', 'worker-failed')
GROUP BY k.doc_id, k.input;

-- name: unchanged_files
-- Files of the batch (batch_stamps: url, current stamp) whose latest document was read with the same
-- stamp and is still its article's text: (url, doc_id).
WITH latest AS (
    SELECT d.url, d.doc_id, d.file_stamp, d.article_id, d.article_text_sha256, s.file_stamp AS current_stamp
    FROM batch_stamps AS s
    JOIN documents AS d ON d.url = s.url
    QUALIFY row_number() OVER (PARTITION BY d.url ORDER BY d.fetched_at DESC) = 1
)
SELECT l.url, l.doc_id
FROM latest AS l
JOIN articles AS a ON a.article_id = l.article_id AND a.text_sha256 = l.article_text_sha256
WHERE l.file_stamp = l.current_stamp;

-- name: key_gate
SELECT gate_id, generation, articles, documents FROM key_gate;

-- name: stored_counts
SELECT (SELECT count(*) FROM articles), (SELECT count(*) FROM documents);

-- name: stored_keys
-- Every key the warehouse holds, as warehouse/keys.py's key_of computes it (15 hex digits of the md5 of
-- "family:value"), ascending: what the key index is built from.
WITH keyed AS (
    SELECT 'article:' || article_id AS name FROM articles
    UNION ALL SELECT 'doc:' || doc_id FROM documents
    UNION ALL SELECT 'url:' || url FROM documents
    UNION ALL SELECT 'doc:' || doc_id FROM rejects WHERE doc_id IS NOT NULL
)
SELECT DISTINCT CAST('0x' || left(md5(name), 15) AS BIGINT) AS key FROM keyed ORDER BY key;

-- name: set_key_gate
UPDATE key_gate SET gate_id = $gate_id, generation = $generation, articles = $articles, documents = $documents;

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

-- name: stage_replaced_articles
-- Stored articles whose text or metadata the batch changes, with what their new rows keep of the old: a
-- changed text bumps the version (keep_old_versions kept the old text), changed metadata only refreshes
-- the row (a re-extract may read it better). They replace the stored rows by delete + insert, which DuckDB
-- does over three times faster than an UPDATE or MERGE rewriting the same long rows; only these few
-- columns are staged, not the rows' texts (bench/load_rate.py).
CREATE OR REPLACE TEMP TABLE replaced_articles AS
SELECT article_id,
       t.first_seen_run,
       t.version + CASE WHEN t.text_sha256 <> s.text_sha256 THEN 1 ELSE 0 END AS version,
       t.duplicate_of
FROM batch_articles AS s
JOIN articles AS t USING (article_id)
WHERE t.text_sha256 <> s.text_sha256
   OR (t.doc_id, t.input, t.url, t.canonical_url, t.source, t.site_name, t.title, t.description, t.authors,
       t.language, t.published_local, t.modified_local, t.date_source, t.date_precision, t.tags, t.genre,
       t.tdm_reserved, t.tdm_policy, t.ai_optout, t.license_url, t.accessible_for_free, t.rights_source)
      IS DISTINCT FROM
      (s.doc_id, s.input, s.url, s.canonical_url, s.source, s.site_name, s.title, s.description, s.authors,
       s.language, s.published_local, s.modified_local, s.date_source, s.date_precision, s.tags, s.genre,
       s.tdm_reserved, s.tdm_policy, s.ai_optout, s.license_url, s.accessible_for_free, s.rights_source);

-- name: replace_articles
DELETE FROM articles WHERE article_id IN (SELECT article_id FROM replaced_articles);
INSERT INTO articles BY NAME
SELECT s.* REPLACE (r.first_seen_run AS first_seen_run, r.version AS version), r.duplicate_of
FROM batch_articles AS s
JOIN replaced_articles AS r USING (article_id);
DROP TABLE replaced_articles;

-- name: touch_seen_articles
-- Articles of the batch with the same text and metadata: only seen again by this run.
UPDATE articles SET last_seen_run = s.last_seen_run
FROM batch_articles AS s
WHERE articles.article_id = s.article_id AND articles.last_seen_run <> s.last_seen_run;

-- name: insert_articles
-- Articles the warehouse has not seen (batch rows carry version = 1); run after replace_articles.
INSERT INTO articles BY NAME
SELECT * FROM batch_articles WHERE article_id NOT IN (SELECT article_id FROM articles);

-- name: insert_all_articles
-- The batch's articles when classify_articles found none of them stored: no anti-join, which scans the
-- whole table (110-160 ms a batch at 1M articles, bench/load_rate.py --existing).
INSERT INTO articles BY NAME SELECT * FROM batch_articles;

-- name: forget_flags
-- The flags of the batch's stored articles make way for the batch's: an article's flags are those of its
-- latest validation, which its row follows (a row whose values change is rewritten). So a validation that
-- finds the same doubts leaves as many rows as before, and a changed article keeps no flag of its old
-- values. An article found unchanged before extraction (same bytes, same place) is not validated again
-- and keeps its flags. Scans article_flags only, which holds the few flagged articles.
DELETE FROM article_flags WHERE article_id IN (SELECT article_id FROM batch_articles);

-- name: insert_flags
INSERT INTO article_flags BY NAME SELECT * FROM batch_flags;

-- name: update_seen_documents
-- A document seen again keeps its row; it gains the article it produced if it did not have one, and a
-- file's latest stamp (a file rewritten with the same bytes is then not read again next time).
-- An UPDATE of the seen ones and a plain INSERT of the rest: half the cost of one INSERT ... ON CONFLICT
-- over a batch of new documents (bench/load_rate.py).
UPDATE documents SET
    article_id = coalesce(b.article_id, documents.article_id),
    article_text_sha256 = coalesce(b.article_text_sha256, documents.article_text_sha256),
    file_stamp = coalesce(b.file_stamp, documents.file_stamp)
FROM batch_documents AS b
WHERE documents.doc_id = b.doc_id AND documents.url = b.url;

-- name: insert_new_documents
-- batch_documents holds each (doc_id, url) once (tasks/load.documents_table keeps the last).
INSERT INTO documents BY NAME
SELECT * FROM batch_documents AS b
WHERE NOT EXISTS (SELECT 1 FROM documents AS d WHERE d.doc_id = b.doc_id AND d.url = b.url);

-- name: insert_all_documents
-- The batch's documents when update_seen_documents found none of them stored: no anti-join, which scans
-- the whole table (~80 ms a batch at 1M documents).
INSERT INTO documents BY NAME SELECT * FROM batch_documents;

-- name: insert_rejects
INSERT INTO rejects BY NAME SELECT * FROM batch_rejects;

-- name: insert_site_rights
INSERT INTO site_rights BY NAME SELECT * FROM batch_site_rights;

-- name: save_warc_progress
-- Where reading each WARC file of the batch resumes, committed with the batch's documents: a run killed after
-- this batch goes on at the next unread record. batch_warc_files holds each file once (tasks/run's gather).
INSERT INTO warc_files BY NAME SELECT * FROM batch_warc_files
ON CONFLICT (warc_file) DO UPDATE SET
    next_offset = excluded.next_offset, next_skip = excluded.next_skip, file_stamp = excluded.file_stamp,
    finished = excluded.finished, documents = warc_files.documents + excluded.documents,
    rejected = warc_files.rejected + excluded.rejected, skipped = warc_files.skipped + excluded.skipped,
    last_run = excluded.last_run, updated_at = excluded.updated_at;

-- name: insert_warc_skips
INSERT INTO warc_skips BY NAME SELECT * FROM batch_warc_skips;

-- name: warc_resume_points
-- Where reading a WARC file resumes (batch_warc_names: the files about to be read).
SELECT f.warc_file, f.next_offset, f.next_skip, f.file_stamp, f.finished
FROM warc_files AS f
JOIN batch_warc_names AS n USING (warc_file);
-- name: add_validation_results
-- A batch's expectation counts add to its run's row (validation_results: one row per run and expectation).
INSERT INTO validation_results BY NAME SELECT * FROM batch_validation
ON CONFLICT (run_id, rule) DO UPDATE SET
    batches = validation_results.batches + excluded.batches,
    evaluated = validation_results.evaluated + excluded.evaluated,
    unexpected = validation_results.unexpected + excluded.unexpected;

-- name: insert_fetches
INSERT INTO fetches BY NAME SELECT * FROM batch_fetches;

-- name: url_validators
-- Per URL of the batch, the validators of its latest document that is still its article's text, all
-- from that one row: arg_max column by column skips NULLs, and would pair an older document's ETag
-- with the latest one's Last-Modified. A latest document with neither validator gets a plain GET.
WITH latest AS (
    SELECT d.url,
           arg_max({'doc_id': d.doc_id, 'etag': d.etag, 'last_modified': d.last_modified}, d.fetched_at) AS document
    FROM batch_urls AS u
    JOIN documents AS d ON d.url = u.url
    JOIN articles AS a ON a.article_id = d.article_id AND a.text_sha256 = d.article_text_sha256
    GROUP BY d.url
)
SELECT url, document.doc_id, document.etag, document.last_modified
FROM latest
WHERE document.etag IS NOT NULL OR document.last_modified IS NOT NULL;
