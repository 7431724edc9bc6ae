-- newsdag warehouse migration 14: the `sources` table goes. Nothing ever wrote a row to it: the configured
-- sources live in the sources file (sources.toml, read and checked by tasks/sources.py before each run), and
-- each run records its source's name in runs.source. A copy in the warehouse would be a second truth that
-- drifts from the file. Applying this migration also recreates the views (warehouse/views.sql), which now
-- build on the staging views stg_articles and stg_rejects.
DROP TABLE IF EXISTS sources;
