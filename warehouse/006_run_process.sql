-- Migration 6: when a run's process started, so a process that later got the same pid (after a
-- crash and a reboot, or pid wrap-around) does not keep a dead run `running` forever.

ALTER TABLE runs ADD COLUMN IF NOT EXISTS process_started_at TIMESTAMPTZ;  -- NULL: unknown (not Linux, older run)
