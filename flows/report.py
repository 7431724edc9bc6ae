"""The report page and a run's artifact text, from the warehouse (no Prefect here: flows/ingest.py and the CLI
call these)."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb

from newsdag.flows.settings import Settings
from newsdag.tasks import report
from newsdag.tasks.errors import WarehouseError
from newsdag.warehouse.db import connect

logger = logging.getLogger("newsdag")
# `newsdag report` without --since: the last two weeks, the drift baseline's default window.
DEFAULT_REPORT_DAYS = 14


def write_report_page(settings: Settings, *, since: date | None = None, out: Path | None = None) -> Path:
    """Write the report of the days from `since` (default: two weeks ago) to today; its path."""
    now = datetime.now(UTC)
    until = now.date()
    since = since or until - timedelta(days=DEFAULT_REPORT_DAYS - 1)
    path = out or settings.report_path
    with connect(Path(settings.db_path), read_only=True, wait_seconds=settings.lock_timeout_seconds) as connection:
        data = report.read_report(connection, since, until, now, str(Path(settings.db_path).resolve()))
    report.write_report(path, report.render_html(data))
    return path


def run_artifact(settings: Settings, summary: Mapping[str, Any], source: str) -> str:
    """The markdown of a finished run's artifact, with a link to the report page (rewritten first)."""
    again = f"`newsdag report --db {settings.db_path}` writes it again"
    try:
        page = write_report_page(settings)
        # Markdown renderers (the Prefect UI's too) drop file: links, and browsers would not follow one from an
        # http page: the file's address is shown to copy, or the address where it is published is linked.
        if settings.report_url:
            link = f"[{settings.report_url}]({settings.report_url}) (written after this run; {again})"
        else:
            link = f"`{page.resolve().as_uri()}` (written after this run; open it in a browser; {again})"
    except Exception as error:  # the report is a convenience; the run's own figures still go out
        logger.warning("run %s: the report page was not written: %s", summary["run_id"], error)
        link = f"`newsdag report --db {settings.db_path}` writes it"
    try:
        with connect(Path(settings.db_path), read_only=True, wait_seconds=settings.lock_timeout_seconds) as db:
            details = report.read_run_details(db, summary["run_id"])
    except (WarehouseError, duckdb.Error) as error:  # the counts and alerts of the summary still go out
        logger.warning(
            "run %s: its rejects, flags and hosts were not read for the artifact: %s", summary["run_id"], error
        )
        details = report.RunDetails((), (), ())
    return report.run_markdown(summary, source, details, link)
