"""Source health: compare a source's last run with its own trailing baseline and raise drift alerts.

A news site that is redesigned rarely fails loudly: its pages still answer 200, and the extraction finds no body,
no date or no author where it found them yesterday. Only the source's own history says what is normal for it
(one site never names authors, another's feed is mostly briefs), so every figure of the last run is judged
against the median of the same figure over the source's earlier runs in a trailing window:

- volume: the run saw no article at all (loaded, updated, unchanged or not modified) where the baseline saw some;
- reject, blocked and empty-text rates, missing-date and missing-author shares: the run's value is higher than
  the baseline's by at least the threshold, in absolute points (a rate from 0 % to 30 % is +0.30);
- median words: the run's median is lower than the baseline's by at least the threshold, as a fraction.

The median, not the mean: one odd run in the window (a day of live blogs) does not move it. A figure the run
gives no evidence for (no request made, no article extracted) is not judged, and neither is a figure with fewer
than `min_history` earlier values. A source that stays broken keeps raising alerts until the broken runs are
most of its window; then its new state is its baseline, and the alerts already raised stay in `source_alerts`.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import duckdb

from newsdag.tasks.models import Alert
from newsdag.warehouse.db import named_queries

# At most this many earlier runs make a baseline: a source polled every 15 minutes has ~1,300 runs in two weeks,
# and the median of the latest 200 is as good and reads less.
BASELINE_MAX_RUNS = 200
# Runs without a declared source (`newsdag ingest PATH`) are not one source with a history of its own.
UNDECLARED_SOURCE = "cli"


@dataclass(frozen=True)
class DriftPolicy:
    """The drift thresholds (flows/settings.py documents each setting and its default)."""

    window_days: int = 14
    min_history: int = 3
    reject_rate_rise: float = 0.25
    blocked_rate_rise: float = 0.20
    empty_text_rate_rise: float = 0.20
    missing_date_rise: float = 0.30
    missing_author_rise: float = 0.30
    median_words_drop: float = 0.50


@dataclass(frozen=True)
class RunHealth:
    """One run's figures as the view stg_run_health gives them (None: no evidence in this run)."""

    run_id: str
    source: str
    status: str
    started_at: datetime
    volume: int
    reject_rate: float | None
    blocked_rate: float | None
    empty_text_rate: float | None
    missing_date_share: float | None
    missing_author_share: float | None
    median_words: float | None


@dataclass(frozen=True)
class DriftCheck:
    """What one check found: the alerts, and the figures it could judge (an open alert of a judged figure that
    no longer crosses is closed; one of a figure without evidence in this run stays open)."""

    alerts: tuple[Alert, ...]
    judged: tuple[str, ...]


# (metric, its name in messages, the policy's threshold): figures that alert when they rise.
RISING = (
    ("reject_rate", "reject rate", "reject_rate_rise"),
    ("blocked_rate", "blocked rate", "blocked_rate_rise"),
    ("empty_text_rate", "empty-text rate", "empty_text_rate_rise"),
    ("missing_date_share", "share without a date", "missing_date_rise"),
    ("missing_author_share", "share without an author", "missing_author_rise"),
)
RUN_COLUMNS = tuple(RunHealth.__dataclass_fields__)


def drift(last: RunHealth, baseline: Sequence[RunHealth], policy: DriftPolicy) -> DriftCheck:
    """The figures of `last` that crossed a threshold against the median of `baseline` (earlier runs)."""
    alerts: list[Alert] = []
    judged: list[str] = []

    def alert(metric: str, value: float, base: float, threshold: float, runs: int, message: str) -> None:
        alerts.append(Alert(last.source, last.run_id, metric, value, base, threshold, runs, message))

    volumes = [run.volume for run in baseline]
    if len(volumes) >= policy.min_history:
        judged.append("volume")
        base = statistics.median(volumes)
        if last.volume == 0 and base > 0:
            message = f"volume dropped to 0 articles (baseline median {base:g} over {len(volumes)} runs)"
            alert("volume", 0, base, 0, len(volumes), message)
    for metric, name, setting in RISING:
        value = getattr(last, metric)
        history = [getattr(run, metric) for run in baseline if getattr(run, metric) is not None]
        if value is None or len(history) < policy.min_history:
            continue
        judged.append(metric)
        base, threshold = statistics.median(history), getattr(policy, setting)
        if value - base >= threshold:
            message = (
                f"{name} {value:.0%} (baseline {base:.0%} over {len(history)} runs; alert at +{threshold * 100:g} "
                "points)"
            )
            alert(metric, value, base, threshold, len(history), message)
    words = [run.median_words for run in baseline if run.median_words is not None]
    if last.median_words is not None and len(words) >= policy.min_history:
        judged.append("median_words")
        base = statistics.median(words)
        if base > 0 and last.median_words <= base * (1 - policy.median_words_drop):
            message = (
                f"median words {last.median_words:g} (baseline {base:g} over {len(words)} runs; alert at a "
                f"{policy.median_words_drop:.0%} drop)"
            )
            alert("median_words", last.median_words, base, policy.median_words_drop, len(words), message)
    return DriftCheck(tuple(alerts), tuple(judged))


def read_run(connection: duckdb.DuckDBPyConnection, run_id: str) -> RunHealth | None:
    rows = connection.execute(named_queries("health.sql")["run_health"], {"run_id": run_id}).fetchall()
    return RunHealth(*rows[0]) if rows else None


def read_baseline(connection: duckdb.DuckDBPyConnection, last: RunHealth, policy: DriftPolicy) -> list[RunHealth]:
    """The source's completed runs that started in the window before `last`, newest first."""
    parameters = {
        "source": last.source,
        "run_id": last.run_id,
        "before": last.started_at,
        "since": last.started_at - timedelta(days=policy.window_days),
        "limit": BASELINE_MAX_RUNS,
    }
    rows = connection.execute(named_queries("health.sql")["baseline_runs"], parameters).fetchall()
    return [RunHealth(*row) for row in rows]


def record_drift(connection: duckdb.DuckDBPyConnection, run_id: str, policy: DriftPolicy, now: datetime) -> list[Alert]:
    """Judge the finished run `run_id` against its source's baseline, in one transaction: a `source_alerts` row
    per figure that crossed, and the source's open alerts of judged figures that no longer cross closed.
    Runs of no declared source are not judged."""
    last = read_run(connection, run_id)
    if last is None or last.source in (None, UNDECLARED_SOURCE):
        return []
    check = drift(last, read_baseline(connection, last, policy), policy)
    queries = named_queries("health.sql")
    connection.execute("BEGIN TRANSACTION")
    try:
        fine = [metric for metric in check.judged if metric not in {alert.metric for alert in check.alerts}]
        if fine:
            connection.execute(
                queries["close_alerts"], {"source": last.source, "metrics": fine, "run_id": run_id, "now": now}
            )
        for alert in check.alerts:
            connection.execute(
                queries["insert_alert"],
                {
                    "alert_id": f"{alert.run_id}:{alert.metric}",
                    "source": alert.source,
                    "run_id": alert.run_id,
                    "metric": alert.metric,
                    "value": alert.value,
                    "baseline": alert.baseline,
                    "threshold": alert.threshold,
                    "baseline_runs": alert.baseline_runs,
                    "message": alert.message,
                    "now": now,
                },
            )
        connection.execute("COMMIT")
    except BaseException:
        connection.execute("ROLLBACK")
        raise
    return list(check.alerts)
