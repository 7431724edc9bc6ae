-- newsdag warehouse migration 7: `documents` without its PRIMARY KEY (doc_id, url). The one writer keeps
-- each (doc_id, url) once by itself (tasks/load.documents_table keeps the last of a batch, and
-- insert_new_documents inserts only pairs the table lacks, in the batch's transaction), so the key's
-- index only cost: on a table of 1M documents it took 180 of the file's 234 MB, and every batch of 200
-- paid ~30 ms loading it to insert and ~40 ms writing it at the close's checkpoint (4 + 2 ms without;
-- bench/results.md, section 3). DuckDB cannot drop a key, so the table is copied into one without it.
CREATE TABLE documents_unkeyed (
    doc_id             VARCHAR NOT NULL,
    url                VARCHAR NOT NULL,
    input              VARCHAR NOT NULL,
    final_url          VARCHAR,
    http_status        INTEGER,
    content_type       VARCHAR,
    encoding_declared  VARCHAR,
    encoding_detected  VARCHAR,
    etag               VARCHAR,
    last_modified      VARCHAR,
    bytes              BIGINT NOT NULL,
    fetched_at         TIMESTAMPTZ NOT NULL,
    run_id             VARCHAR NOT NULL,
    article_id         VARCHAR,
    article_text_sha256 VARCHAR,
    file_stamp         VARCHAR
);
INSERT INTO documents_unkeyed BY NAME SELECT * FROM documents;
DROP TABLE documents;
ALTER TABLE documents_unkeyed RENAME TO documents;
