-- newsdag warehouse migration 11: web archives in (issue 23, tasks/warc.py). Idempotent, like every migration
-- from 8 on.

-- Where a document read from a WARC or ARC file lies there: the archive keeps no copy of its bytes, a
-- re-read takes the record at its offset (the offset of its compressed member; the record id finds it there).
ALTER TABLE documents ADD COLUMN IF NOT EXISTS warc_file VARCHAR;         -- resolved path or URL
ALTER TABLE documents ADD COLUMN IF NOT EXISTS warc_offset BIGINT;
ALTER TABLE documents ADD COLUMN IF NOT EXISTS warc_record_id VARCHAR;

-- One row per WARC or ARC file ever read: where the next run resumes reading it, committed with each batch
-- (at the record (member) at next_offset, past its first next_skip records), and what its records became.
CREATE TABLE IF NOT EXISTS warc_files (
    warc_file    VARCHAR PRIMARY KEY,     -- resolved path or URL; few rows, so a key is cheap here
    next_offset  BIGINT NOT NULL,
    next_skip    INTEGER NOT NULL,
    file_stamp   VARCHAR,                 -- a local file's size:mtime:ctime, a remote one's ETag: a new one restarts
    finished     BOOLEAN NOT NULL,        -- read to its end: the next run does not read it again
    documents    BIGINT NOT NULL,         -- HTML responses read (articles, unchanged or rejected later)
    rejected     BIGINT NOT NULL,         -- broken parts and records rejected while reading
    skipped      BIGINT NOT NULL,         -- records skipped (warc_skips says why)
    first_run    VARCHAR NOT NULL,
    last_run     VARCHAR NOT NULL,
    updated_at   TIMESTAMPTZ NOT NULL
);

-- Records skipped unread, per run, file and reason (not-response, revisit, not-http, not-200, not-html,
-- off-domain, outside-window): counted, never a reject row each (a CC-NEWS file holds ~150k records).
CREATE TABLE IF NOT EXISTS warc_skips (
    run_id      VARCHAR NOT NULL,
    warc_file   VARCHAR NOT NULL,
    reason      VARCHAR NOT NULL,
    records     BIGINT NOT NULL,
    counted_at  TIMESTAMPTZ NOT NULL
);

ALTER TABLE runs ADD COLUMN IF NOT EXISTS skipped INTEGER DEFAULT 0;
