-- Named statements of tasks/warc_export.py: the raw pages of runs as WARC records. Bound parameters only.

-- name: export_runs
-- The runs asked for ($runs; every run when empty) that exist, oldest first.
SELECT run_id FROM runs
WHERE len($runs) = 0 OR list_contains($runs, run_id)
ORDER BY started_at;

-- name: export_documents
-- The HTML pages a run recorded (documents it read first: a page seen again keeps its first row), in the
-- order they were read; a page of a WARC file with where it lies there.
SELECT doc_id, url, http_status, content_type, encoding_detected, etag, last_modified, fetched_at,
       warc_file, warc_offset, warc_record_id
FROM documents
WHERE run_id = $run_id
  AND (content_type IS NULL OR content_type IN ('text/html', 'application/xhtml+xml'))
ORDER BY fetched_at, warc_file, warc_offset, url;
