-- newsdag warehouse migration 5: a local file's stamp (size, modification and change time) when its
-- document was read, so a re-run skips reading files that did not change (the file system's 304).
ALTER TABLE documents ADD COLUMN IF NOT EXISTS file_stamp VARCHAR;
