"""Test-only fault points: NEWSDAG_FAULT=<point>[:<n>] kills the process the n-th time it reaches <point>.

Crash tests stop a real run at a named place instead of racing it with a signal from outside, so they give the
same result on a busy machine. Unset (always, outside tests), a fault point costs one environment look-up.

Points:
    run-started         the run is recorded as running (committed, the file closed)
    load-commit         a batch's statements all ran inside its transaction; the COMMIT is next
    load-torn-commit    the batch's COMMIT wrote its WAL, then the WAL is cut to half its length, as a kill
                        while DuckDB was writing it leaves it
    load-committed      a batch's transaction committed; its WAL is not yet checkpointed
"""

from __future__ import annotations

import os
import signal
from collections import Counter
from pathlib import Path

import duckdb

from newsdag.tasks.errors import ConfigError

ENVIRONMENT_VARIABLE = "NEWSDAG_FAULT"
POINTS = ("run-started", "load-commit", "load-torn-commit", "load-committed")
# How often this process has reached each point named in NEWSDAG_FAULT (per process, as the kill is).
reached: Counter[str] = Counter()


def armed() -> tuple[str, int] | None:
    """The point NEWSDAG_FAULT names and at which arrival it fires; None when unset."""
    spec = os.environ.get(ENVIRONMENT_VARIABLE, "").strip()
    if not spec:
        return None
    point, _, nth = spec.partition(":")
    if point not in POINTS or not (nth or "1").isdigit() or int(nth or "1") < 1:
        raise ConfigError(
            f"{ENVIRONMENT_VARIABLE} must be <point>[:<n>] with a point of {', '.join(POINTS)} and n >= 1",
            subject=spec,
        )
    return point, int(nth or "1")


def fires(point: str) -> bool:
    """Count an arrival at `point`; True when NEWSDAG_FAULT says this arrival is the one to stop at."""
    spec = armed()
    if spec is None or spec[0] != point:
        return False
    reached[point] += 1
    return reached[point] == spec[1]


def die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def fault_point(point: str) -> None:
    """Kill this process here if NEWSDAG_FAULT names this point (and this arrival)."""
    if fires(point):
        die()


def commit(connection: duckdb.DuckDBPyConnection) -> None:
    """COMMIT the open transaction, with the fault points around it (load-commit, load-torn-commit)."""
    fault_point("load-commit")
    if not fires("load-torn-commit"):
        connection.execute("COMMIT")
        return
    # Keep the WAL after the commit (no automatic checkpoint), then leave only its first half, as the disk
    # holds it when the process dies while DuckDB writes it.
    [(path,)] = connection.execute(
        "SELECT path FROM duckdb_databases() WHERE database_name = current_database()"
    ).fetchall()
    connection.execute("SET checkpoint_threshold = '1TB'")
    connection.execute("COMMIT")
    wal = Path(f"{path}.wal")
    size = wal.stat().st_size
    with wal.open("r+b") as file:
        file.truncate(size // 2)
        os.fsync(file.fileno())
    die()
