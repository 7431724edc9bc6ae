"""Open the DuckDB warehouse (waiting while another process writes), migrate it, and load named SQL."""

from __future__ import annotations

import functools
import logging
import re
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from functools import cache
from pathlib import Path

import duckdb

from newsdag.tasks.errors import WarehouseBusy, WarehouseError

# A logger of its own, which a Prefect flow run also sends to the UI (PREFECT_LOGGING_EXTRA_LOGGERS, set by the CLI).
logger = logging.getLogger("newsdag.warehouse")
SQL_DIR = Path(__file__).parent
# Each migration is a SQL file; its position in this list is the schema version it brings.
# Add new migrations at the end; never edit one that has landed.
MIGRATIONS = (
    "schema.sql",
    "002_stories.sql",
    "003_fetch.sql",
    "004_minhash_multiply_shift.sql",
    "005_file_stamps.sql",
    "006_run_process.sql",
    "007_unkeyed_articles_documents.sql",
    "008_article_flags.sql",
    "009_rights.sql",
    "010_health.sql",
    "011_warc.sql",
    "012_events.sql",
    "013_key_gate.sql",
    "014_drop_sources.sql",
)


def migration_version(filename: str) -> int:
    """A migration's version is the number its file name starts with (schema.sql is 1), not its place in
    MIGRATIONS: branches reserve numbers, and one that lands later still gets its own."""
    return 1 if filename == "schema.sql" else int(filename.split("_", 1)[0])


SCHEMA_VERSION = max(map(migration_version, MIGRATIONS))
LOCK_RETRY_SECONDS = 0.2
# One open connection per process at a time: a run reads the file on one thread (what is unchanged)
# while it writes on another, and DuckDB's per-process database instance is not safe to open on one
# thread while another closes it (seen as "python_arrow_scan does not exist" mid-query).
PROCESS_LOCK = threading.RLock()
NAMED_STATEMENT = re.compile(r"^-- name: (\S+)\s*$", re.MULTILINE)
LOCK_MESSAGES = ("Could not set lock", "Conflicting lock", "database is locked")


@cache
def named_queries(filename: str = "load.sql") -> dict[str, str]:
    """The statements of a SQL file, by the name in their `-- name:` line."""
    parts = NAMED_STATEMENT.split((SQL_DIR / filename).read_text(encoding="utf-8"))
    return {name: body.strip() for name, body in zip(parts[1::2], parts[2::2], strict=True)}


def is_lock_error(error: Exception) -> bool:
    return any(message in str(error) for message in LOCK_MESSAGES)


# DuckDB names the process holding the lock: 'Conflicting lock is held in /usr/bin/python3 (PID 1723)'.
LOCK_HOLDER = re.compile(r"lock is held in (.+?) \(PID (\d+)\)")
HOLDER_COMMAND_CHARS = 80


def lock_holder(error: Exception) -> str:
    """Who holds the file, as far as can be told: the process DuckDB names, with its command line. Any DuckDB
    connection locks the file (a notebook, the DuckDB CLI), not only newsdag's, so none is assumed."""
    found = LOCK_HOLDER.search(str(error))
    if found is None:
        return "another process"
    program, pid = found.group(1), found.group(2)
    try:
        command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:  # not Linux, or another user's process
        command = program
    command = command or program
    if len(command) > HOLDER_COMMAND_CHARS:
        command = command[: HOLDER_COMMAND_CHARS - 1] + "…"
    return f"process {pid} ({command})"


def log_waiting(path: Path, wait_seconds: float, holder: str) -> None:
    """What a writer says, at once, when it finds the file locked (its run goes on after the wait)."""
    logger.warning("waiting up to %g s for %s: %s holds it", wait_seconds, path, holder)


def open_database(
    path: Path, *, read_only: bool, wait_seconds: float, on_wait: Callable[[str], None] | None = None
) -> duckdb.DuckDBPyConnection:
    """A connection, retrying while another process holds the file; WarehouseBusy after `wait_seconds`.

    `on_wait` is called once, with who holds the file, when it is first found locked (a reader tells its user
    it waits); a writer without one logs it (log_waiting).
    """
    if on_wait is None and not read_only:
        on_wait = functools.partial(log_waiting, path, wait_seconds)
    if read_only and not path.exists():
        raise WarehouseError("no warehouse here yet; run `newsdag ingest` first", subject=str(path))
    if not read_only:
        path.parent.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + wait_seconds
    while True:
        try:
            connection = duckdb.connect(str(path), read_only=read_only)
            break
        except duckdb.IOException as error:
            if not is_lock_error(error):
                raise WarehouseError(f"cannot open the database: {error}", subject=str(path)) from None
            holder = lock_holder(error)
            if on_wait is not None:
                on_wait(holder)
                on_wait = None
            if time.monotonic() >= deadline:
                raise WarehouseBusy(
                    f"{holder} holds the file; gave up after {wait_seconds:g} s", subject=str(path)
                ) from None
            time.sleep(LOCK_RETRY_SECONDS)
        except duckdb.Error as error:
            raise WarehouseError(f"cannot open the database: {error}", subject=str(path)) from None
    connection.execute("SET TimeZone = 'UTC'")
    return connection


@contextmanager
def connect(
    path: Path,
    *,
    read_only: bool = False,
    wait_seconds: float = 60.0,
    on_wait: Callable[[str], None] | None = None,
) -> Iterator[duckdb.DuckDBPyConnection]:
    """Open (and, for writers, migrate) the warehouse for the span of a `with` block, then release the file.

    Writers hold the file only this long, so other runs and readers get their turn between batches.
    """
    with PROCESS_LOCK:
        connection = open_database(path, read_only=read_only, wait_seconds=wait_seconds, on_wait=on_wait)
        try:
            if not read_only:
                migrate(connection)
            yield connection
        finally:
            connection.close()


def applied_versions(connection: duckdb.DuckDBPyConnection) -> set[int]:
    connection.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER, applied_at TIMESTAMPTZ)")
    return {int(row[0]) for row in connection.execute("SELECT version FROM schema_version").fetchall()}


def migrate(connection: duckdb.DuckDBPyConnection) -> None:
    """Apply the migrations this file has not seen (by version, so one numbered below the latest still
    applies), then recreate the views, in one transaction."""
    if {migration_version(filename) for filename in MIGRATIONS} <= applied_versions(connection):
        return
    connection.execute("BEGIN TRANSACTION")
    try:
        applied = applied_versions(connection)
        for filename in MIGRATIONS:
            version = migration_version(filename)
            if version not in applied:
                connection.execute((SQL_DIR / filename).read_text(encoding="utf-8"))
                connection.execute(
                    "INSERT INTO schema_version VALUES ($version, $applied_at)",
                    {"version": version, "applied_at": datetime.now(UTC)},
                )
        connection.execute((SQL_DIR / "views.sql").read_text(encoding="utf-8"))
        connection.execute("COMMIT")
    except duckdb.Error:
        connection.execute("ROLLBACK")
        raise
