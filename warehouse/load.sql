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

-- Clustering (tasks/stories.py): duplicates, near-duplicates, events and stories, one transaction per chunk.
-- Registered relations: batch_signatures, batch_bands, batch_terms (the chunk's fingerprints), then
-- batch_duplicates, batch_near_duplicates, batch_event_articles, batch_story_articles, batch_new_events
-- (the decisions).

-- name: pending_articles
-- Articles never clustered, or whose text changed since; the day is as written, else the day first seen.
SELECT a.article_id, a.url, a.site_name, a.source, a.title, a.description, a.text, a.text_sha256,
       coalesce(a.published_date, CAST(r.started_at AS DATE), $today) AS day
FROM articles AS a
LEFT JOIN article_signatures AS s USING (article_id)
LEFT JOIN runs AS r ON r.run_id = a.first_seen_run
WHERE s.article_id IS NULL OR s.text_sha256 <> a.text_sha256
ORDER BY day, a.published_at NULLS LAST, a.article_id
LIMIT $limit;

-- name: exact_originals
-- An original (not itself a duplicate) outside the chunk with the same normalised text, the earliest first,
-- with its event and story.
SELECT b.article_id, first(s.article_id ORDER BY s.day, s.article_id) AS original_id,
       first(ea.event_id ORDER BY s.day, s.article_id) AS event_id,
       first(sa.story_id ORDER BY s.day, s.article_id) AS story_id
FROM batch_signatures AS b
JOIN article_signatures AS s ON s.norm_sha256 = b.norm_sha256
JOIN articles AS a ON a.article_id = s.article_id
LEFT JOIN event_articles AS ea ON ea.article_id = s.article_id
LEFT JOIN story_articles AS sa ON sa.article_id = s.article_id
WHERE a.duplicate_of IS NULL AND s.article_id NOT IN (SELECT article_id FROM batch_signatures)
GROUP BY b.article_id;

-- name: lsh_candidates
-- Articles outside the chunk sharing at least one LSH bucket with a chunk article, with their signature.
SELECT DISTINCT b.article_id, s.article_id AS other_id, s.minhash, s.norm_sha256, ea.event_id, sa.story_id
FROM batch_bands AS b
JOIN minhash_bands AS m ON m.band_key = b.band_key
JOIN article_signatures AS s ON s.article_id = m.article_id
LEFT JOIN event_articles AS ea ON ea.article_id = s.article_id
LEFT JOIN story_articles AS sa ON sa.article_id = s.article_id
WHERE s.article_id NOT IN (SELECT article_id FROM batch_signatures);

-- name: current_events
SELECT article_id, event_id FROM event_articles WHERE article_id IN (SELECT article_id FROM batch_signatures);

-- name: current_stories
-- Also articles clustered before events existed (migration 12): they keep their story.
SELECT article_id, story_id FROM story_articles WHERE article_id IN (SELECT article_id FROM batch_signatures);

-- name: neighbour_events
-- The events a chunk article may join as a copy (of an original, of a near-duplicate) or keeps: their story,
-- days and size. Events of similar articles come with story_candidates.
WITH neighbours AS (
    SELECT s.article_id
    FROM batch_signatures AS b JOIN article_signatures AS s ON s.norm_sha256 = b.norm_sha256
    UNION SELECT m.article_id
    FROM batch_bands AS b JOIN minhash_bands AS m ON m.band_key = b.band_key
    UNION SELECT article_id FROM batch_signatures
)
SELECT e.event_id, e.story_id, e.first_day, e.last_day, e.article_count
FROM events AS e
WHERE e.event_id IN (
    SELECT event_id FROM event_articles WHERE article_id IN (SELECT article_id FROM neighbours)
);

-- name: forget_term_counts
-- A changed article's old terms no longer count towards document frequencies.
UPDATE story_term_df AS d SET df = d.df - c.n
FROM (
    SELECT term, count(*) AS n FROM story_terms
    WHERE article_id IN (SELECT article_id FROM batch_signatures) GROUP BY term
) AS c
WHERE d.term = c.term;

-- name: forget_terms
DELETE FROM story_terms WHERE article_id IN (SELECT article_id FROM batch_signatures);

-- name: forget_bands
DELETE FROM minhash_bands WHERE article_id IN (SELECT article_id FROM batch_signatures);

-- name: forget_near_duplicates
DELETE FROM near_duplicates
WHERE article_id IN (SELECT article_id FROM batch_signatures) OR other_id IN (SELECT article_id FROM batch_signatures);

-- name: insert_signatures
INSERT INTO article_signatures BY NAME SELECT * FROM batch_signatures
ON CONFLICT (article_id) DO UPDATE SET
    text_sha256 = excluded.text_sha256, norm_sha256 = excluded.norm_sha256, minhash = excluded.minhash,
    day = excluded.day, outlet = excluded.outlet, clustered_at = excluded.clustered_at;

-- name: insert_bands
INSERT INTO minhash_bands BY NAME SELECT band_key, article_id FROM batch_bands;

-- name: insert_terms
INSERT INTO story_terms BY NAME SELECT term, day, article_id, boost FROM batch_terms;

-- name: count_terms
INSERT INTO story_term_df SELECT term, count(*) FROM batch_terms GROUP BY term
ON CONFLICT (term) DO UPDATE SET df = story_term_df.df + excluded.df;

-- name: story_candidates
-- Articles sharing story terms with a chunk article within +-$window days (blocked on (term, day), so the
-- work per article depends on that window's size, never on the whole table), scored by cosine similarity
-- of IDF-weighted term vectors (IDF: ln((docs + 1) / (df + 1)) + 1 over the clustered articles), with their
-- day, and their event (its story, days and size) once they have one.
WITH offsets AS (SELECT unnest(range(-$window, $window + 1)) AS shift),
probes AS (
    SELECT b.article_id, b.term, b.day + CAST(o.shift AS INTEGER) AS day
    FROM batch_terms AS b, offsets AS o
),
matches AS (
    SELECT p.article_id, t.article_id AS other_id, t.day AS other_day, p.term
    FROM probes AS p
    JOIN story_terms AS t ON t.term = p.term AND t.day = p.day
    WHERE t.article_id <> p.article_id
),
involved AS (SELECT article_id FROM batch_terms UNION SELECT other_id FROM matches),
docs AS (SELECT count(*) AS n FROM article_signatures),
weights AS (
    SELECT t.article_id, t.term, t.boost * (ln((docs.n + 1.0) / (d.df + 1.0)) + 1.0) AS w
    FROM story_terms AS t
    JOIN story_term_df AS d USING (term)
    CROSS JOIN docs
    WHERE t.day BETWEEN $first_day AND $last_day AND t.article_id IN (SELECT article_id FROM involved)
),
norms AS (SELECT article_id, sqrt(sum(w * w)) AS norm FROM weights GROUP BY article_id),
shared AS (
    SELECT m.article_id, m.other_id, m.other_day, sum(wa.w * wb.w) AS dot
    FROM matches AS m
    JOIN weights AS wa ON wa.article_id = m.article_id AND wa.term = m.term
    JOIN weights AS wb ON wb.article_id = m.other_id AND wb.term = m.term
    GROUP BY ALL
),
scored AS (
    SELECT s.article_id, s.other_id, s.other_day, s.dot / (na.norm * nb.norm) AS score
    FROM shared AS s
    JOIN norms AS na ON na.article_id = s.article_id
    JOIN norms AS nb ON nb.article_id = s.other_id
    WHERE s.dot / (na.norm * nb.norm) >= $min_score
)
SELECT c.article_id, c.other_id, c.other_day, c.score, ea.event_id, coalesce(e.story_id, sa.story_id) AS story_id,
       e.first_day, e.last_day, e.article_count
FROM scored AS c
LEFT JOIN event_articles AS ea ON ea.article_id = c.other_id
LEFT JOIN events AS e ON e.event_id = ea.event_id
LEFT JOIN story_articles AS sa ON sa.article_id = c.other_id;

-- name: set_duplicates
UPDATE articles SET duplicate_of = d.duplicate_of
FROM batch_duplicates AS d
WHERE articles.article_id = d.article_id AND articles.duplicate_of IS DISTINCT FROM d.duplicate_of;

-- name: insert_near_duplicates
INSERT INTO near_duplicates BY NAME SELECT article_id, other_id, similarity FROM batch_near_duplicates
ON CONFLICT (article_id, other_id) DO UPDATE SET similarity = excluded.similarity;

-- name: insert_event_articles
INSERT INTO event_articles BY NAME SELECT * FROM batch_event_articles
ON CONFLICT (article_id) DO NOTHING;

-- name: insert_story_articles
INSERT INTO story_articles BY NAME SELECT * FROM batch_story_articles
ON CONFLICT (article_id) DO NOTHING;

-- name: refresh_events
-- Recompute the events this chunk touched from their articles (duplicates not counted); a new event takes
-- its story from batch_new_events, a stored one keeps its own.
INSERT INTO events BY NAME
WITH members AS (
    SELECT ea.event_id, a.article_id, a.title, a.published_at, a.duplicate_of, s.day, s.outlet
    FROM event_articles AS ea
    JOIN articles AS a USING (article_id)
    JOIN article_signatures AS s USING (article_id)
    WHERE ea.event_id IN (SELECT event_id FROM batch_event_articles)
),
counted AS (
    SELECT event_id,
           first(title ORDER BY day, published_at NULLS LAST, article_id) FILTER (WHERE duplicate_of IS NULL) AS title,
           min(published_at) AS first_published,
           max(published_at) AS last_published,
           min(day) AS first_day,
           max(day) AS last_day,
           count(*) FILTER (WHERE duplicate_of IS NULL) AS article_count,
           count(DISTINCT outlet) FILTER (WHERE duplicate_of IS NULL) AS outlet_count
    FROM members
    GROUP BY event_id
)
SELECT c.*, coalesce(n.story_id, e.story_id) AS story_id, coalesce(n.story_method, e.story_method) AS story_method,
       coalesce(n.story_similarity, e.story_similarity) AS story_similarity, $now AS updated_at
FROM counted AS c
LEFT JOIN batch_new_events AS n USING (event_id)
LEFT JOIN events AS e USING (event_id)
ON CONFLICT (event_id) DO UPDATE SET
    title = excluded.title, first_published = excluded.first_published,
    last_published = excluded.last_published, first_day = excluded.first_day, last_day = excluded.last_day,
    article_count = excluded.article_count, outlet_count = excluded.outlet_count, updated_at = excluded.updated_at;

-- name: refresh_stories
-- Recompute the stories this chunk touched from their articles and events; duplicates are not counted.
INSERT INTO stories BY NAME
WITH event_counts AS (
    SELECT story_id, count(*) AS event_count FROM events
    WHERE story_id IN (SELECT story_id FROM batch_story_articles)
    GROUP BY story_id
)
SELECT sa.story_id,
       first(a.title ORDER BY s.day, a.published_at NULLS LAST, a.article_id)
           FILTER (WHERE a.duplicate_of IS NULL) AS title,
       min(a.published_at) AS first_published,
       max(a.published_at) AS last_published,
       min(s.day) AS first_day,
       max(s.day) AS last_day,
       count(*) FILTER (WHERE a.duplicate_of IS NULL) AS article_count,
       count(DISTINCT s.outlet) FILTER (WHERE a.duplicate_of IS NULL) AS outlet_count,
       coalesce(any_value(ec.event_count), 0) AS event_count,
       $now AS updated_at
FROM story_articles AS sa
JOIN articles AS a USING (article_id)
JOIN article_signatures AS s USING (article_id)
LEFT JOIN event_counts AS ec USING (story_id)
WHERE sa.story_id IN (SELECT story_id FROM batch_story_articles)
GROUP BY sa.story_id
ON CONFLICT (story_id) DO UPDATE SET
    title = excluded.title, first_published = excluded.first_published,
    last_published = excluded.last_published, first_day = excluded.first_day, last_day = excluded.last_day,
    article_count = excluded.article_count, outlet_count = excluded.outlet_count,
    event_count = excluded.event_count, updated_at = excluded.updated_at;
