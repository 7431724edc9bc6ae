"""`newsdag ...`: argument parsing, progress and user-facing messages; the work happens in flows/ and tasks/."""

from __future__ import annotations

import argparse
import atexit
import csv
import gc
import json
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict
from datetime import date, datetime
from pathlib import Path
from typing import Any

from newsdag.flows.progress import ProgressLines
from newsdag.flows.settings import PREFECT_LOGGING_DEFAULTS, PREFECT_PRIVACY_DEFAULTS, Settings
from newsdag.tasks.errors import ConfigError, InputError, NewsdagError, RunFailed
from newsdag.tasks.export import DEFAULT_PARTITION_BY, EXPORT_FORMATS, EXPORT_TABLES
from newsdag.tasks.models import strip_userinfo

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
DEFAULT_RUNS_SHOWN = 10
DEFAULT_STORIES_SHOWN = 20
DEFAULT_EVENTS_SHOWN = 50
GENRES = ("news", "opinion", "analysis", "background", "review", "satire")
# Table cells longer than this are cut (use --format csv/json for whole values).
MAX_CELL_CHARS = 80
RUN_ERROR_CHARS = 40
# Shown in `newsdag runs` (and `trigger --wait`), in this order: what a person scans for, in ~120 columns (every
# column had made ~200). The run id holds the start time (UTC); short names for the counts, said under the table.
RUN_COLUMNS = (
    "run_id, source, trigger, status, seconds AS secs, discovered AS found, loaded AS new, updated AS changed, "
    "unchanged AS same, rejected, flagged, "
    f"CASE WHEN length(error) > {RUN_ERROR_CHARS} THEN left(error, {RUN_ERROR_CHARS - 1}) || '…' "
    "ELSE error END AS error"
)
RUN_LEGEND = "found = discovered, new = loaded, changed = updated, same = unchanged; every column: newsdag runs --all"


class UsageError(NewsdagError):
    """The command line itself is wrong (exit 2)."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="newsdag",
        description="Ingest news articles into DuckDB: extract, validate, load, query.",
        epilog="Exit status: 0 when the run completed (rejects are data), 2 for a usage error (bad flag, missing "
        "path, bad SQL, bad sources file), 1 when the run itself failed (for example the database stayed locked, "
        "or every fetch failed).",
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks for errors")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    ingest = commands.add_parser(
        "ingest",
        help="load files, directories, globs, web pages, feeds, sitemaps or a declared source",
        description="Load files, directories, globs and http(s) page URLs, the links of feeds, sitemaps and URL "
        "lists, WARC files, or everything of a declared source. --since/--until and --domain limit the links taken "
        "from feeds and sitemaps and the records of WARC files; --language and --max-articles what is kept. "
        "Extraction always runs in worker processes (a page that hangs or crashes its worker is rejected). "
        "Running the same command again resumes a killed run and loads only what changed.",
    )
    ingest.add_argument(
        "inputs", nargs="*", metavar="PATH|URL", help="a file, a directory (recursive), a glob, or an http(s) page URL"
    )
    ingest.add_argument("--feed", action="append", default=[], metavar="URL", help="an RSS/Atom feed (repeatable)")
    ingest.add_argument(
        "--sitemap", action="append", default=[], metavar="URL", help="a sitemap or sitemap index (repeatable)"
    )
    ingest.add_argument(
        "--urls-file",
        action="append",
        default=[],
        metavar="FILE",
        help="a file of page URLs, one per line (repeatable)",
    )
    ingest.add_argument(
        "--warc-list",
        action="append",
        default=[],
        metavar="FILE",
        help="a file of WARC files, one path or http(s) URL per line, e.g. a CC-NEWS warc.paths(.gz) (repeatable)",
    )
    ingest.add_argument(
        "--domain",
        action="append",
        default=[],
        metavar="DOMAIN",
        help="only pages on this domain or its subdomains: WARC records and feed/sitemap links (repeatable)",
    )
    ingest.add_argument(
        "--language",
        action="append",
        default=[],
        metavar="CODE",
        help="keep only articles in this ISO 639-1 language, e.g. de; others are rejected (repeatable)",
    )
    ingest.add_argument("--source", metavar="NAME", help="a source declared in the sources file")
    add_sources_option(ingest)
    ingest.add_argument(
        "--since",
        type=date.fromisoformat,
        metavar="DATE",
        help="only feed/sitemap links dated, and WARC records fetched (WARC-Date), on or after DATE",
    )
    ingest.add_argument(
        "--until",
        type=date.fromisoformat,
        metavar="DATE",
        help="only feed/sitemap links dated, and WARC records fetched (WARC-Date), on or before DATE",
    )
    ingest.add_argument(
        "--max-articles",
        type=int,
        metavar="N",
        help="take at most N page URLs (URLs and URL lists first, then the newest feed and sitemap links)",
    )
    add_allow_network_option(ingest)
    add_db_option(ingest)
    ingest.add_argument("--workers", type=int, metavar="N", help="extraction processes (default: CPU cores)")
    ingest.add_argument(
        "--dask-address",
        metavar="ADDRESS",
        help="extract on this Dask scheduler, e.g. tcp://10.0.0.5:8786 (default: $NEWSDAG_DASK_ADDRESS; none)",
    )
    ingest.add_argument(
        "--respect-tdm",
        action="store_true",
        help="reject pages whose text-and-data-mining rights are reserved (TDMRep) instead of storing their text "
        "(default: record the reservation only; also respect_tdm on a source or $NEWSDAG_RESPECT_TDM)",
    )
    ingest.add_argument("--json", action="store_true", help="print one JSON object: run_id, status and counts")
    ingest.add_argument(
        "--prefect",
        choices=("auto", "always", "never"),
        default="auto",
        help="run as a Prefect flow run: auto = when PREFECT_API_URL names a server (default); "
        "always = also start a temporary server (~10 s); never = in this process only",
    )

    server = commands.add_parser(
        "server",
        help="start a local Prefect server (analytics off) for serve and trigger",
        description="Start a local Prefect server with usage analytics off and print its UI URL. SIGTERM or SIGHUP "
        "to `newsdag server` stops its Prefect server too.",
    )
    server.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    server.add_argument("--port", type=int, default=4200, help="port to listen on (default: 4200)")

    serve = commands.add_parser(
        "serve",
        help="run each source of the sources file on its schedule until Ctrl-C",
        description="Register the deployment ingest/<source> for every source of the sources file, with its "
        "schedule (cron) or interval, and run their flow runs until Ctrl-C; a source without either runs only "
        "when triggered.",
    )
    add_sources_option(serve)
    add_db_option(serve)
    serve.add_argument(
        "--export",
        type=Path,
        metavar="DIR",
        help="after each completed run, export what it added to DIR (as `newsdag export --to DIR`)",
    )
    add_allow_network_option(serve)
    serve.add_argument(
        "--notify-url",
        metavar="URL",
        help="register a Prefect automation that POSTs each drift alert as JSON {subject, body} to this webhook",
    )

    demo = commands.add_parser(
        "demo",
        help="serve the bundled samples as a news site on 127.0.0.1 and serve its source (works offline)",
        description="Serve the bundled samples as a small news site with an RSS feed on 127.0.0.1, write "
        "demo-sources.toml beside the database (one source, demo-news, the site's feed) and run `newsdag serve` on "
        "it, allowing fetching from 127.0.0.1 for its runs only: the scheduled loop on a machine with no network.",
    )
    add_db_option(demo)
    demo.add_argument("--port", type=int, default=8765, help="the site's port on 127.0.0.1 (default: 8765)")
    demo.add_argument(
        "--site-only", action="store_true", help="only the site and its sources file, no Prefect (Ctrl-C to stop)"
    )

    trigger = commands.add_parser(
        "trigger",
        help="start a run of a served source now (like Quick run in the UI)",
        description="Start a run of a served source now, like the UI's Quick run or Custom run, and print its UI "
        "link. With --wait, print each state as it comes, then the run's row of `runs`, read from the database "
        "the run wrote; the exit status is 0 only if it completed. An unknown source or parameter is a one-line "
        "error (exit 2).",
    )
    trigger.add_argument("source", metavar="SOURCE", help="a source name, as served by `newsdag serve`")
    trigger.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a parameter: since=DATE, until=DATE, max_articles=N, workers=N (repeatable)",
    )
    trigger.add_argument("--wait", action="store_true", help="follow the run to its end and print its summary")

    sql = commands.add_parser(
        "sql",
        help="run a read-only SQL query against the warehouse",
        description="Run a read-only SQL query against the warehouse. The connection cannot write the database, "
        "read or write other files, attach databases, install or load extensions, or change settings.",
    )
    sql.add_argument("query", help='e.g. "select title, published_at from articles"')
    add_db_option(sql)
    sql.add_argument("--format", choices=("table", "csv", "json"), default="table", help="output format")

    runs = commands.add_parser(
        "runs",
        help="the latest runs with their counts and status",
        description="The latest runs with their source, trigger, status and counts in ~120 columns; --all shows "
        "every column of latest_runs.",
    )
    add_db_option(runs)
    runs.add_argument("--limit", type=int, default=DEFAULT_RUNS_SHOWN, help="how many runs to show")
    runs.add_argument("--all", action="store_true", help="every column of latest_runs (wide), not the usual few")

    stories = commands.add_parser(
        "stories",
        help="the latest stories, each with its events",
        description="The latest stories, each followed by its events in the order they happened, with their days, "
        "article counts and outlets (docs/stories.md).",
    )
    add_db_option(stories)
    stories.add_argument(
        "--since", type=date.fromisoformat, metavar="DATE", help="stories active on or after DATE (YYYY-MM-DD)"
    )
    stories.add_argument("--limit", type=int, default=DEFAULT_STORIES_SHOWN, help="how many stories to show")

    events = commands.add_parser(
        "events",
        help="the latest events with their outlets",
        description="The latest events with their story, days, counts, genres and outlets (docs/stories.md).",
    )
    add_db_option(events)
    events.add_argument(
        "--since", type=date.fromisoformat, metavar="DATE", help="events active on or after DATE (YYYY-MM-DD)"
    )
    events.add_argument("--limit", type=int, default=DEFAULT_EVENTS_SHOWN, help="how many events to show")
    events.add_argument(
        "--genre",
        choices=GENRES,
        help="only events with an article of this genre (news: reported as news, or the page does not say)",
    )

    export = commands.add_parser(
        "export",
        help="write the warehouse's tables as Parquet (or JSONL, CSV) files, only what is new; "
        "or runs' raw pages as WARC files (--warc DIR)",
        description="With --to DIR: write the tables as Hive-partitioned Parquet (zstd), or JSONL or CSV; again "
        "into the same DIR, only what is new (docs/export.md). With --warc DIR: the HTML pages each run recorded as "
        "one gzipped WARC file per run, DIR/newsdag-RUN.warc.gz, a page read from an archive as its original record, "
        "any other with the HTTP headers newsdag kept; ingesting the files gives the same articles (docs/warc.md).",
    )
    target = export.add_mutually_exclusive_group(required=True)
    target.add_argument("--to", metavar="DIR", help="the export directory (created if missing)")
    target.add_argument(
        "--warc",
        type=Path,
        metavar="DIR",
        help="write the raw pages of runs as WARC files instead, one per run, to DIR (created if missing)",
    )
    export.add_argument(
        "--run",
        action="append",
        default=[],
        metavar="RUN",
        help="with --warc: a run_id to export (repeatable; default: every run)",
    )
    export.add_argument(
        "--format", choices=tuple(EXPORT_FORMATS), default="parquet", help="file format (default: parquet, zstd)"
    )
    export.add_argument(
        "--tables",
        type=comma_list,
        default=tuple(EXPORT_TABLES),
        metavar="LIST",
        help=f"comma-separated tables (default: {','.join(EXPORT_TABLES)})",
    )
    export.add_argument(
        "--partition-by",
        type=comma_list,
        default=DEFAULT_PARTITION_BY,
        metavar="LIST",
        help=f"Hive partition columns, '' for none (default: {','.join(DEFAULT_PARTITION_BY)}; "
        "tables without a column are not split by it)",
    )
    export.add_argument(
        "--since-run", metavar="RUN", help="only rows written or seen by run RUN (a run_id) and later runs"
    )
    add_db_option(export)
    export.add_argument("--json", action="store_true", help="print one JSON object: the export's number and counts")
    report = commands.add_parser(
        "report",
        help="write one self-contained HTML page: articles, rejects, source health, alerts, stories",
        description="Write one self-contained HTML page of the days from --since (default: the last 14): open "
        "drift alerts, charts of articles per source and rejects by rule per day, the source-health table with "
        "trend lines, the largest stories (docs/health.md).",
    )
    add_db_option(report)
    report.add_argument(
        "--since", type=date.fromisoformat, metavar="DATE", help="the first day shown (default: 13 days ago)"
    )
    report.add_argument(
        "--out",
        type=Path,
        metavar="FILE",
        help="where to write it (default: $NEWSDAG_REPORT or report.html beside the database)",
    )

    evaluate = commands.add_parser(
        "eval",
        help="extract a dataset of saved pages for scoring (no database)",
        description="Run the production extraction over a dataset laid out like ../shared/eval/dev/* (truth.jsonl "
        "and pages/) and write one JSON line per page (id, text, title, date, author) for score.py. No database is "
        "touched.",
    )
    evaluate.add_argument("dataset", metavar="DATASET_DIR", help="a directory with truth.jsonl and pages/")
    evaluate.add_argument("--out", required=True, metavar="PREDICTIONS.jsonl", help="where to write predictions")
    evaluate.add_argument("--workers", type=int, metavar="N", help="extraction processes (default: CPU cores)")
    return parser


def add_sources_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--sources",
        type=Path,
        metavar="FILE",
        help="the sources file (default: $NEWSDAG_SOURCES or seeds/sources.toml)",
    )


def comma_list(value: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in value.split(",") if part.strip())


def add_allow_network_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--allow-network",
        action="append",
        default=[],
        metavar="CIDR",
        help="let fetching reach this non-public network, e.g. 127.0.0.0/8 (repeatable; adds to "
        "$NEWSDAG_ALLOW_NETWORKS)",
    )


def allowed_networks(args: argparse.Namespace) -> tuple[str, ...] | None:
    """--allow-network added to NEWSDAG_ALLOW_NETWORKS; None (the environment's alone) without the flag."""
    return (*Settings.from_env().allow_networks, *args.allow_network) if args.allow_network else None


def add_db_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--db", type=Path, metavar="PATH", help="the DuckDB file (default: $NEWSDAG_DB or warehouse/news.duckdb)"
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    for name, value in {**PREFECT_PRIVACY_DEFAULTS, **PREFECT_LOGGING_DEFAULTS}.items():  # before Prefect's import
        os.environ.setdefault(name, value)
    handlers = {
        "ingest": command_ingest,
        "server": command_server,
        "serve": command_serve,
        "demo": command_demo,
        "trigger": command_trigger,
        "sql": command_sql,
        "runs": command_runs,
        "stories": command_stories,
        "events": command_events,
        "report": command_report,
        "eval": command_eval,
        "export": command_export,
    }
    try:
        return handlers[args.command](args)
    except KeyboardInterrupt:
        error_line("interrupted")
        return EXIT_FAILED
    except (UsageError, ConfigError, InputError) as error:
        if args.debug:
            raise
        error_line(str(error))
        return EXIT_USAGE
    except (NewsdagError, OSError) as error:
        if args.debug:
            raise
        error_line(str(error))
        return EXIT_FAILED


def error_line(message: str) -> None:
    print(f"newsdag: error: {message}", file=sys.stderr)


def command_ingest(args: argparse.Namespace) -> int:
    given = args.inputs or args.feed or args.sitemap or args.urls_file or args.warc_list
    if args.source and given:
        raise UsageError("--source takes its pages from the sources file; give no paths, URLs, feeds or sitemaps")
    if not (args.source or given):
        raise UsageError(
            "nothing to ingest: give paths or URLs, --feed, --sitemap, --urls-file, --warc-list or --source"
        )
    if args.max_articles is not None and args.max_articles < 1:
        raise UsageError(f"--max-articles must be at least 1, got {args.max_articles}")
    allow_networks = allowed_networks(args)
    settings = Settings.from_env(
        db_path=args.db,
        workers=args.workers,
        sources_file=args.sources,
        allow_networks=allow_networks,
        dask_address=args.dask_address,
    )
    orchestrated = args.prefect == "always" or (args.prefect == "auto" and bool(os.environ.get("PREFECT_API_URL")))
    if orchestrated:
        os.environ.setdefault("PREFECT_SERVER_ALLOW_EPHEMERAL_MODE", "true")
    from newsdag.flows import run

    # Credentials in URLs are never used; removed here, they reach neither the run nor Prefect's parameters.
    inputs = [strip_userinfo(value) for value in args.inputs]
    what = {
        "feeds": [strip_userinfo(url) for url in args.feed],
        "sitemaps": [strip_userinfo(url) for url in args.sitemap],
        "url_files": args.urls_file,
        "source": args.source,
        "since": args.since,
        "until": args.until,
        "max_articles": args.max_articles,
        "respect_tdm": args.respect_tdm,
        "warc_lists": args.warc_list,
        "domains": [domain.strip().lower().rstrip(".") for domain in args.domain],
        "languages": [language.strip().lower() for language in args.language],
    }
    request = run.build_request(inputs, settings=settings, **what)  # a bad source fails here, before a run
    started = time.monotonic()
    # A flow run reports its progress through its own logger (in the Prefect UI, and here on stderr):
    # a bar or lines of ours would only repeat it.
    progress = ProgressDisplay(enabled=not args.json and not orchestrated)
    try:
        if orchestrated:
            from newsdag.flows.ingest import run_from_command_line  # imports Prefect (~1.2 s): only for a flow run

            try:
                summary = run_from_command_line(
                    inputs=inputs,
                    sources=str(settings.sources_file),
                    db=str(settings.db_path),
                    workers=settings.workers,
                    dask_address=settings.dask_address,
                    allow_networks=list(allow_networks) if allow_networks else None,
                    trigger="cli",
                    **what,
                )
            except RunFailed as failed:
                summary = failed.summary
        else:
            summary = run.run_ingest(request, settings, trigger="cli", progress=progress.update)
    finally:
        progress.close()
    if args.json:
        print(json.dumps(summary))
    else:
        print_summary(summary, settings, time.monotonic() - started)
    return EXIT_OK if summary["status"] == "completed" else EXIT_FAILED


def command_server(args: argparse.Namespace) -> int:
    from newsdag.flows.serve import run_server

    # 0, or ended by the Ctrl-C (SIGINT) or SIGTERM it was sent: a stop, not a failure
    return EXIT_OK if run_server(args.host, args.port) in (0, -2, 130, -15, 143) else EXIT_FAILED


def command_serve(args: argparse.Namespace) -> int:
    from newsdag.flows.serve import serve_sources

    settings = Settings.from_env(db_path=args.db, sources_file=args.sources, allow_networks=allowed_networks(args))
    serve_sources(settings, export_to=args.export, notify_url=args.notify_url)
    return EXIT_OK


def command_demo(args: argparse.Namespace) -> int:
    import threading

    from newsdag.flows.demo import DEMO_SOURCE, DemoSite
    from newsdag.flows.serve import serve_sources

    settings = Settings.from_env(db_path=args.db)
    site = DemoSite(args.port).start()
    try:
        sources = site.write_sources(Path(settings.db_path).parent / "demo-sources.toml")
        print(f"demo news site: {site.base}/  (feed {site.feed_url}; sources file {sources})", flush=True)
        if args.site_only:
            print(f"try: newsdag ingest --source {DEMO_SOURCE} --sources {sources} --allow-network 127.0.0.1/32")
            threading.Event().wait()  # until Ctrl-C
        print(
            f"serving the source {DEMO_SOURCE}; in another terminal: newsdag trigger {DEMO_SOURCE} --wait", flush=True
        )
        # The site is on loopback, which fetching refuses unless allowed: allowed for this source's runs only.
        allowed = (*settings.allow_networks, "127.0.0.1/32")
        serve_sources(Settings.from_env(db_path=args.db, sources_file=sources, allow_networks=allowed))
    finally:
        site.stop()
    return EXIT_OK


def command_trigger(args: argparse.Namespace) -> int:
    from newsdag.flows.serve import flow_run_url, follow_flow_run, parse_parameters, trigger_source

    parameters = parse_parameters(args.param)
    flow_run = trigger_source(args.source, parameters)
    print(f"started flow run {flow_run.name} ({flow_run.id}) of ingest/{args.source}", flush=True)
    print(f"  {flow_run_url(flow_run.id)}", flush=True)
    if not args.wait:
        return EXIT_OK
    started = time.monotonic()

    def say_state(run: Any) -> None:  # each change as it happens: a queued run is visibly queued, not stuck
        print(f"  {time.monotonic() - started:5.1f} s  {run.state.name}  {run.name}", flush=True)

    flow_run = follow_flow_run(flow_run, say_state)
    state = flow_run.state
    print(f"flow run {flow_run.name} ({flow_run.id}): {state.name if state else 'unknown'}")
    # The run wrote where its deployment's `db` parameter says, wherever this command runs from.
    db = (flow_run.parameters or {}).get("db")
    query = f"SELECT {RUN_COLUMNS} FROM latest_runs WHERE run_id IN (SELECT run_id FROM runs WHERE flow_run_id = $id)"
    columns, rows = run_query(Path(db) if db else None, query, {"id": str(flow_run.id)})
    write_rows(columns, rows, "table")
    return EXIT_OK if state is not None and state.is_completed() else EXIT_FAILED


class ProgressDisplay:
    """A progress bar with an ETA on a terminal; one line per batch (done/total, rate, ETA) when stderr is
    not a terminal (a pipe, a log file, a journal)."""

    def __init__(self, *, enabled: bool) -> None:
        self.enabled = enabled
        self.interactive = enabled and sys.stderr.isatty()
        self.bar: Any = None
        self.task_id: Any = None
        self.lines = ProgressLines()

    def update(self, progress: Any) -> None:
        if not self.enabled:
            return
        if not self.interactive:
            if line := self.lines.line(progress):
                print(f"  {line}", file=sys.stderr, flush=True)
            return
        if self.bar is None:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

            self.bar = Progress(
                TextColumn("ingesting"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeRemainingColumn(),
                TextColumn("{task.fields[status]}"),
                transient=True,
            )
            self.bar.start()
            self.task_id = self.bar.add_task("ingest", total=progress.total, status="")
        counts = progress.counts
        status = f"loaded {counts['loaded']}  unchanged {counts['unchanged']}  rejected {counts['rejected']}"
        self.bar.update(self.task_id, completed=progress.done, total=progress.total, status=status)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.stop()


def print_summary(summary: dict[str, Any], settings: Settings, seconds: float) -> None:
    print(
        f"run {summary['run_id']} {summary['status']} in {seconds:.1f} s: "
        f"{summary['discovered']} discovered, {summary['extracted']} extracted, {summary['loaded']} loaded, "
        f"{summary['updated']} updated, {summary['unchanged']} unchanged, {summary['rejected']} rejected, "
        f"{summary['flagged']} flagged"
        + (f", {summary['not_modified']} not modified" if summary["not_modified"] else "")
    )
    if summary.get("error"):
        print(f"  {summary['error']}")
    steps = summary.get("seconds_by_step") or {}
    if steps:
        print("  time by step: " + ", ".join(f"{name} {seconds:.1f} s" for name, seconds in steps.items()))
    if orchestration := summary.get("orchestration"):
        print(
            f"  Prefect orchestration: {orchestration['seconds']:.2f} s over {orchestration['task_runs']} task runs "
            f"({orchestration['ms_per_task_run']:.1f} ms each)"
        )
    if summary["rejected"]:
        for stage, rule, count, example in run_summary_rows(settings, "run_rejects", summary["run_id"]):
            print(f"  rejected {count} x {stage}/{rule}, e.g. {example}")
    for alert in summary.get("alerts") or []:
        print(f"  drift alert: {alert['message']}")
    if summary["flagged"]:
        # Flagged articles loaded: a doubtful value was left out or noted, the article kept (article_flags).
        for rule, count, example in run_summary_rows(settings, "run_flags", summary["run_id"]):
            print(f"  flagged {count} x {rule}, e.g. {example}")
        print('  flags by source and rule: newsdag sql "select * from flags_by_source"')
    print(f'warehouse: {settings.db_path}   try: newsdag sql "select title, published_at from articles"')


def run_summary_rows(settings: Settings, statement: str, run_id: str) -> list[tuple[Any, ...]]:
    """The rows of one of warehouse/summary.sql's statements for a run (its rejects or flags by rule)."""
    from newsdag.warehouse.db import connect, named_queries

    with connect(Path(settings.db_path), read_only=True, wait_seconds=settings.lock_timeout_seconds) as con:
        return con.execute(named_queries("summary.sql")[statement], {"run_id": run_id}).fetchall()


def command_sql(args: argparse.Namespace) -> int:
    columns, rows = run_query(args.db, args.query)
    write_rows(columns, rows, args.format)
    return EXIT_OK


def command_runs(args: argparse.Namespace) -> int:
    if args.limit < 1:
        raise UsageError("--limit must be at least 1")
    shown = "*" if args.all else RUN_COLUMNS
    columns, rows = run_query(args.db, f"SELECT {shown} FROM latest_runs LIMIT $limit", {"limit": args.limit})
    write_rows(columns, rows, "table")
    if not args.all:
        print(RUN_LEGEND)
    return EXIT_OK


def command_stories(args: argparse.Namespace) -> int:
    if args.limit < 1:
        raise UsageError("--limit must be at least 1")
    _, stories = run_query(
        args.db,
        "SELECT story_id, first_day, last_day, event_count, article_count, outlets, title FROM latest_stories "
        "WHERE $since IS NULL OR last_day >= $since LIMIT $limit",
        {"since": args.since, "limit": args.limit},
    )
    _, events = run_query(
        args.db,
        "SELECT story_id, event_id, first_day, last_day, article_count, outlets, title FROM story_timeline "
        "WHERE story_id IN (SELECT unnest($ids))",
        {"ids": [story[0] for story in stories]},
    )
    by_story: dict[str, list[tuple[Any, ...]]] = {}
    for event in events:
        by_story.setdefault(event[0], []).append(event)
    # A story's row, then its events in the order they happened, indented under it.
    rows = []
    for story_id, first_day, last_day, event_count, articles, outlets, title in stories:
        rows.append([story_id, "", first_day, last_day, event_count, articles, outlets, title])
        for _, event_id, event_first, event_last, event_articles, event_outlets, event_title in by_story.get(
            story_id, []
        ):
            rows.append(["", event_id, event_first, event_last, "", event_articles, event_outlets, event_title])
    columns = ["story_id", "event_id", "first_day", "last_day", "events", "articles", "outlets", "title"]
    print(format_table(columns, [[display_value(value) for value in row] for row in rows]))
    stories_said = f"{len(stories)} stor{'ies' if len(stories) != 1 else 'y'}"
    print(f"({stories_said}, {len(events)} event{'s' if len(events) != 1 else ''})")
    return EXIT_OK


def command_events(args: argparse.Namespace) -> int:
    if args.limit < 1:
        raise UsageError("--limit must be at least 1")
    columns, rows = run_query(
        args.db,
        "SELECT event_id, story_id, first_day, last_day, article_count, outlet_count, news_articles, genres, outlets, "
        "title FROM latest_events WHERE ($since IS NULL OR last_day >= $since) AND ($genre IS NULL "
        "OR ($genre = 'news' AND news_articles > 0) OR list_contains(genres, $genre)) LIMIT $limit",
        {"since": args.since, "genre": args.genre, "limit": args.limit},
    )
    write_rows(columns, rows, "table")
    return EXIT_OK


def command_report(args: argparse.Namespace) -> int:
    from newsdag.flows.report import write_report_page

    if args.since is not None and args.since > date.today():
        raise UsageError(f"--since {args.since} is in the future")
    path = write_report_page(Settings.from_env(db_path=args.db), since=args.since, out=args.out)
    print(f"wrote {path} (open {path.resolve().as_uri()})")
    return EXIT_OK


def run_query(
    db: Path | None, query: str, parameters: dict[str, Any] | None = None
) -> tuple[list[str], list[tuple[Any, ...]]]:
    """Run a query on a read-only connection that cannot touch files, extensions or settings;
    `db` None: the configured database."""
    import duckdb

    from newsdag.warehouse.db import connect

    settings = Settings.from_env(db_path=db)

    def say_waiting(holder: str) -> None:
        print(
            f"newsdag: waiting up to {settings.lock_timeout_seconds:g} s for {settings.db_path}: {holder} holds it",
            file=sys.stderr,
            flush=True,
        )

    with connect(
        Path(settings.db_path), read_only=True, wait_seconds=settings.lock_timeout_seconds, on_wait=say_waiting
    ) as con:
        con.execute("SET enable_external_access = false")
        con.execute("SET lock_configuration = true")
        try:
            cursor = con.execute(query, parameters)
        except duckdb.Error as error:
            raise UsageError(f"SQL error: {' '.join(str(error).split())}") from None
        if cursor.description is None:
            return [], []
        return [column[0] for column in cursor.description], cursor.fetchall()


def write_rows(columns: list[str], rows: list[tuple[Any, ...]], output_format: str) -> None:
    if output_format == "json":
        print(
            json.dumps([dict(zip(columns, row, strict=True)) for row in rows], default=json_value, ensure_ascii=False)
        )
    elif output_format == "csv":
        writer = csv.writer(sys.stdout)
        writer.writerow(columns)
        writer.writerows([[csv_value(value) for value in row] for row in rows])
    else:
        print(format_table(columns, [[display_value(value) for value in row] for row in rows]))
        print(f"({len(rows)} row{'s' if len(rows) != 1 else ''})")


def format_table(columns: list[str], rows: list[list[str]]) -> str:
    """Aligned plain-text columns: readable in a terminal, in a pipe and in a log alike."""
    widths = [max([len(column), *(len(row[i]) for row in rows)]) for i, column in enumerate(columns)]
    lines = [
        " | ".join(column.ljust(width) for column, width in zip(columns, widths, strict=True)).rstrip(),
        "-+-".join("-" * width for width in widths),
    ]
    lines += [" | ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip() for row in rows]
    return "\n".join(lines)


def json_value(value: Any) -> Any:
    return value.isoformat() if isinstance(value, date | datetime) else str(value)


def csv_value(value: Any) -> Any:
    return json_value(value) if isinstance(value, date | datetime) else value


def display_value(value: Any) -> str:
    """One cell: timestamps to the second (milliseconds when present), long text cut, newlines folded."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat(sep=" ", timespec="milliseconds" if value.microsecond else "seconds")
    if isinstance(value, date):
        return value.isoformat()
    text = " ".join(str(value).split())
    return text if len(text) <= MAX_CELL_CHARS else text[: MAX_CELL_CHARS - 3] + "..."


def command_export(args: argparse.Namespace) -> int:
    if args.warc is not None:
        return command_export_warc(args)
    if args.run:
        raise UsageError("--run chooses the runs of a WARC export: give it with --warc DIR")
    # tasks.export directly, not through flows.run, whose imports (trafilatura, Great Expectations' rules)
    # would triple the time of an export that finds nothing new.
    from newsdag.tasks.export import ExportOptions, export_warehouse

    if args.to.startswith("ducklake:"):
        raise UsageError(
            "DuckLake needs DuckDB's ducklake extension, which no package provides for this DuckDB "
            "(see docs/export.md, 'DuckLake'); export Parquet to a directory instead"
        )
    settings = Settings.from_env(db_path=args.db)
    options = ExportOptions(
        tables=args.tables, format=args.format, partition_by=args.partition_by, since_run=args.since_run
    )
    summary = export_warehouse(
        Path(settings.db_path),
        Path(args.to),
        options,
        chunk_rows=settings.export_chunk_rows,
        lock_timeout_seconds=settings.lock_timeout_seconds,
    )
    if args.json:
        print(json.dumps(asdict(summary)))
    elif summary.export is None:
        print(f"nothing new to export to {summary.directory} ({summary.seconds:.1f} s)")
    else:
        rows = ", ".join(f"{count} {table}" for table, count in summary.rows.items())
        print(
            f"export {summary.export} to {summary.directory} in {summary.seconds:.1f} s: {rows} "
            f"({summary.files} files, {summary.bytes / 1e6:.1f} MB; "
            f"runs ended since the last export: {len(summary.runs)})"
        )
    return EXIT_OK


def command_export_warc(args: argparse.Namespace) -> int:
    from newsdag.flows.run import fetch_policy  # a saved page's file: URI is re-read under the fetch rules
    from newsdag.tasks.warc_export import export_warc
    from newsdag.warehouse.db import connect

    settings = Settings.from_env(db_path=args.db)
    with connect(Path(settings.db_path), read_only=True, wait_seconds=settings.lock_timeout_seconds) as connection:
        written = export_warc(
            connection,
            args.warc,
            runs=args.run,
            archive_dir=settings.archive_path,
            fetch_policy=fetch_policy(settings),
        )
    gone = f"; {written.missing} pages whose bytes are gone" if written.missing else ""
    print(f"wrote {written.records} records to {len(written.files)} WARC files in {args.warc}{gone}")
    return EXIT_OK


def command_eval(args: argparse.Namespace) -> int:
    from newsdag.flows.evaluate import evaluate_dataset

    settings = Settings.from_env(workers=args.workers)
    count = evaluate_dataset(Path(args.dataset), Path(args.out), settings)
    print(f"wrote {count} predictions to {args.out}")
    return EXIT_OK


def console_main() -> None:
    """The `newsdag` command: main, then an exit that skips the interpreter's last full garbage
    collection (about a second after a large ingest, walking objects that are about to vanish anyway)."""
    atexit.register(gc.freeze)  # atexit handlers run before that collection; frozen objects are skipped
    sys.exit(main())


if __name__ == "__main__":
    console_main()
