-- newsdag warehouse migration 10: what each run's validation found, and the drift alerts of sources (issue 21).
-- Self-contained and idempotent: it may be renumbered when branches merge.

-- Great Expectations' results per run and expectation, summed over the run's batches: how many values the
-- expectation evaluated and how many it found unexpected (rows GX skipped as missing are not evaluated).
-- A few rows per run (one per expectation), so the key costs nothing and lets each batch add to its run's row.
CREATE TABLE IF NOT EXISTS validation_results (
    run_id      VARCHAR NOT NULL,
    rule        VARCHAR NOT NULL,          -- the expectation, named as in rejects.rule and article_flags.rule
    severity    VARCHAR NOT NULL,          -- critical (a failure rejects) | warning (a failure flags)
    batches     INTEGER NOT NULL,
    evaluated   BIGINT NOT NULL,
    unexpected  BIGINT NOT NULL,
    PRIMARY KEY (run_id, rule)
);

-- A source's run that crossed a drift threshold against the source's own trailing baseline (tasks/health.py).
-- One row per run and figure that crossed; a later run of the source that no longer crosses closes it.
CREATE TABLE IF NOT EXISTS source_alerts (
    alert_id        VARCHAR NOT NULL,      -- <run_id>:<metric>
    source          VARCHAR NOT NULL,
    run_id          VARCHAR NOT NULL,      -- the run that crossed
    metric          VARCHAR NOT NULL,      -- volume | reject_rate | blocked_rate | empty_text_rate |
                                           -- missing_date_share | missing_author_share | median_words
    value           DOUBLE,                -- the run's figure
    baseline        DOUBLE,                -- the median of the same figure over the baseline runs
    threshold       DOUBLE NOT NULL,       -- the setting that was crossed
    baseline_runs   INTEGER NOT NULL,      -- how many earlier runs the baseline is made of
    message         VARCHAR NOT NULL,      -- one line, as in the run's artifact and the Prefect event
    raised_at       TIMESTAMPTZ NOT NULL,
    closed_at       TIMESTAMPTZ,           -- NULL: open
    closed_by_run   VARCHAR
);
