-- Migration 005: when a run's process started, so a process that later got the same pid (after a
-- crash and a reboot, or pid wrap-around) does not keep a dead run `running` forever.
-- Numbered 005: 004 is reserved for the fetch branch's migration. IF NOT EXISTS: harmless if the
-- two land in either order.

ALTER TABLE runs ADD COLUMN IF NOT EXISTS process_started_at TIMESTAMPTZ;  -- NULL: unknown (not Linux, older run)
