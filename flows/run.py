"""The ingest run without Prefect: discover -> fetch/read -> extract -> validate -> load, batch by batch.

flows/ingest.py wraps each of the run's tasks (IngestTasks) as a Prefect task; `newsdag ingest` without
a Prefect server calls `run_ingest` with the plain functions, so both paths run the same code.
"""

from __future__ import annotations

import contextvars
import ctypes
import functools
import itertools
import logging
import os
import threading
import time
import uuid
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import AbstractContextManager, ExitStack, contextmanager
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import duckdb

from newsdag.expectations.suite import critical_rules
from newsdag.flows.settings import Settings
from newsdag.tasks import (
    crawl,
    discover,
    export,
    extract,
    extract_pool,
    faults,
    fetch,
    health,
    load,
    loaders,
    rights,
    scaleout,
    sources,
    stories,
    warc,
)
from newsdag.tasks.errors import ConfigError, InputError, WarehouseError
from newsdag.tasks.models import (
    COUNT_NAMES,
    Alert,
    Article,
    BatchCounts,
    ExportSummary,
    FetchBatch,
    Flag,
    IngestRequest,
    NotModified,
    RawDocument,
    Reject,
    Validation,
    WarcProgress,
    WarcResume,
    WarcRules,
    WorkItem,
)
from newsdag.warehouse.db import connect
from newsdag.warehouse.keys import close_key_indexes, key_index

logger = logging.getLogger("newsdag")
# glibc's malloc arenas in an ingest process (glibc's MALLOC_ARENA_MAX, when set, wins). Its default, an arena
# per allocating thread up to 8 per core, let the run's threads (gather, extract, load) each keep memory
# the others freed: the ingest process grew ~50 MB per 10,000 pages; with 2 it stays flat (bench/results.md).
MALLOC_ARENAS = 2
M_ARENA_MAX = -8  # mallopt's parameter number, from glibc's malloc.h
VALIDATION_WARM_UP_THREAD = "newsdag-validation-warm-up"
T = TypeVar("T")


@dataclass(frozen=True)
class Progress:
    """What a run has done so far; sent to listeners after discovery and after each batch. `total` is
    None while the inputs are still being counted (see Listing)."""

    run_id: str
    total: int | None
    done: int
    counts: dict[str, int]


# What a run tells about its progress (the CLI draws a bar, a flow run logs); flows never print.
ProgressListener = Callable[[Progress], None]


def ignore_progress(progress: Progress) -> None:
    """The listener of a run nobody watches."""


def open_warehouse(settings: Settings) -> AbstractContextManager[duckdb.DuckDBPyConnection]:
    """The database file for writing, waiting up to lock_timeout_seconds while another process holds it."""
    return connect(Path(settings.db_path), wait_seconds=settings.lock_timeout_seconds)


# Each step takes a whole batch: inside a Prefect task run (IngestTasks) a step costs nothing per
# article, and a task run costs tens of ms, so none runs once per article.


def read_batch(
    items: Sequence[WorkItem], settings: Settings
) -> tuple[list[RawDocument], list[NotModified], list[Reject]]:
    """(documents read, files skipped as unchanged, rejects): a file with the stamp of its loaded
    document is not read again."""
    # A JSONL line has no stamp of its own: its bytes, once read, tell whether it is unchanged.
    uris = {item.location: loaders.file_uri(Path(item.location)) for item in items if item.line is None}
    unchanged_ids = find_unchanged_files(uris, settings)
    documents: list[RawDocument] = []
    unchanged: list[NotModified] = []
    rejects: list[Reject] = []
    for item in items:
        uri = uris.get(item.location)
        if uri is not None and uri in unchanged_ids:
            unchanged.append(NotModified(item.location, uri, unchanged_ids[uri]))
            continue
        for result in loaders.load_documents(
            item,
            max_file_bytes=settings.max_file_bytes,
            max_decompressed_bytes=settings.max_decompressed_bytes,
        ):
            (rejects if isinstance(result, Reject) else documents).append(result)
    return documents, unchanged, rejects


def find_unchanged_files(uris: dict[str, str], settings: Settings) -> dict[str, str]:
    """doc_id by file URI of the files (URI by path) whose stamp is that of their loaded document."""
    if not uris or not Path(settings.db_path).exists():
        return {}
    stamps = {}
    for location, uri in uris.items():
        if (stamp := loaders.file_stamp(Path(location))) is not None:
            stamps[uri] = stamp
    with open_warehouse(settings) as connection:
        return load.find_unchanged_files(connection, stamps, key_index(settings.db_path))


def build_request(
    inputs: Sequence[str] = (),
    *,
    feeds: Sequence[str] = (),
    sitemaps: Sequence[str] = (),
    url_files: Sequence[str] = (),
    source: str | None = None,
    since: date | None = None,
    until: date | None = None,
    max_articles: int | None = None,
    respect_tdm: bool = False,
    warc_lists: Sequence[str] = (),
    domains: Sequence[str] = (),
    languages: Sequence[str] = (),
    settings: Settings,
) -> IngestRequest:
    """What to ingest: the named source of the sources file, or the given paths, URLs, feeds, sitemaps,
    URL lists and WARC lists. `since`, `until` and `max_articles` override the source's own values, `domains`
    its allow_domains; `respect_tdm` (or the source's own) makes TDM-reserved pages rejects; `languages` keeps
    articles in those languages only."""
    limits = {"since": since, "until": until, "languages": tuple(languages)}
    if source is None:
        lists = {
            "feeds": tuple(feeds),
            "sitemaps": tuple(sitemaps),
            "url_files": tuple(url_files),
            "warc_lists": tuple(warc_lists),
            "allow_domains": tuple(domains),
        }
        return IngestRequest.from_inputs(inputs, max_articles=max_articles, respect_tdm=respect_tdm, **lists, **limits)
    declared = find_source(sources.load_sources(settings.sources_file), source, settings)
    return IngestRequest(
        paths=(str(declared.path),) if declared.path else (),
        urls=declared.urls,
        feeds=(declared.feed,) if declared.feed else (),
        sitemaps=(declared.sitemap,) if declared.sitemap else (),
        url_files=(str(declared.urls_file),) if declared.urls_file else (),
        source=declared.name,
        max_articles=max_articles or declared.max_articles,
        allow_domains=tuple(domains) or declared.allow_domains,
        respect_tdm=respect_tdm or declared.respect_tdm,
        **limits,
    )


def find_source(declared: Sequence[sources.Source], name: str, settings: Settings) -> sources.Source:
    for candidate in declared:
        if candidate.name == name:
            return candidate
    known = ", ".join(candidate.name for candidate in declared) or "none"
    raise ConfigError(f"no source named {name!r} (declared: {known})", subject=str(settings.sources_file))


def fetch_policy(settings: Settings) -> fetch.FetchPolicy:
    return fetch.FetchPolicy(
        user_agent=settings.effective_user_agent,
        connect_timeout=settings.connect_timeout,
        read_timeout=settings.read_timeout,
        retries=settings.fetch_retries,
        backoff_seconds=settings.backoff_seconds,
        max_retry_after=settings.max_retry_after,
        per_host_delay=settings.per_host_delay,
        max_crawl_delay=settings.max_crawl_delay,
        threads=settings.fetch_threads,
        max_bytes=settings.max_fetch_bytes,
        max_decompressed_bytes=settings.max_decompressed_bytes,
        allow_networks=settings.allow_networks,
        max_redirects=settings.max_redirects,
        deadline=settings.fetch_deadline,
    )


def fetch_batch(run_id: str, items: Sequence[WorkItem], settings: Settings) -> FetchBatch:
    """Fetch a batch of page URLs; a URL whose last page is loaded is asked for conditionally (304 = unchanged)."""
    if not items:
        return FetchBatch()
    validators = {}
    if Path(settings.db_path).exists():
        with open_warehouse(settings) as connection:
            urls = [item.location for item in items]
            validators = load.find_validators(connection, urls, key_index(settings.db_path))
    return fetch.fetcher_for(run_id, fetch_policy(settings)).fetch_batch(items, validators)


def discover_links(run_id: str, request: IngestRequest, settings: Settings) -> tuple[list[WorkItem], list[Reject]]:
    return crawl.discover_links(
        request,
        fetch.fetcher_for(run_id, fetch_policy(settings)),
        sitemap_max_depth=settings.sitemap_max_depth,
        sitemap_max_count=settings.sitemap_max_count,
    )


def split_unchanged(
    documents: Sequence[RawDocument], settings: Settings
) -> tuple[list[RawDocument], list[RawDocument], list[Reject]]:
    """(to extract, unchanged, repeated rejects): bytes an earlier run already read from the same place
    are not extracted again; they are unchanged articles, or the same reject as last time (if it holds)."""
    if not Path(settings.db_path).exists() or not documents:
        return list(documents), [], []
    with open_warehouse(settings) as connection:
        seen = load.find_seen(connection, documents, key_index(settings.db_path))
    fresh, unchanged, rejects = [], [], []
    for document in documents:
        earlier_reject = seen.rejects.get((document.doc_id, document.input))
        if (document.doc_id, document.url) in seen.loaded:
            unchanged.append(document)
        elif earlier_reject is not None and still_rejects(earlier_reject):
            rejects.append(earlier_reject)
        else:
            fresh.append(document)
    return fresh, unchanged, rejects


def still_rejects(reject: Reject) -> bool:
    """Whether an earlier run's reject of the same bytes holds now: one of extraction does, one of
    validation only under a rule that still rejects. An earlier newsdag rejected articles for a doubtful
    value (a modified date before the published one, no title, an unknown language); those rules are
    warnings now, so the document is extracted again and its article loads, flagged."""
    if reject.stage != "validate":
        return True
    return reject.rule in critical_rules()


def extract_batch(documents: Sequence[RawDocument], settings: Settings) -> tuple[list[Article], list[Reject]]:
    """Extract in local worker processes, or on the Dask cluster at `dask_address`: either way the
    articles come back here, to the one process that writes the database.

    The documents come without their bytes, which gather_batch archived: a local worker reads each
    document's bytes from the archive itself (tasks.extract.extract_archived), usually from the page
    cache; for Dask workers, which may not see this disk, they are read back here and sent.
    """
    if settings.dask_address and documents:
        start_validation_warm_up()
        with_bytes = [loaders.with_archived_content(document, settings.archive_path) for document in documents]
        results = scaleout.extract_on_dask(with_bytes, settings.dask_address, chunk_docs=settings.dask_chunk_docs)
    else:
        if settings.workers > 1 and len(documents) >= settings.parallel_min_docs:
            start_validation_warm_up()
        results = extract_pool.extract_batch(
            documents,
            workers=settings.workers,
            parallel_min_docs=settings.parallel_min_docs,
            timeout_seconds=settings.extract_timeout_seconds,
            extractor=functools.partial(extract.extract_archived, settings.archive_path),
        )
    articles = [result for result in results if isinstance(result, Article)]
    rejects = [result for result in results if isinstance(result, Reject)]
    return kept_articles(articles, rejects, settings)


def kept_articles(
    articles: list[Article], rejects: list[Reject], settings: Settings
) -> tuple[list[Article], list[Reject]]:
    """The extracted articles the run keeps, and the rejects with those it does not: other languages than
    --language asks for, and with --respect-tdm the pages whose rights are reserved."""
    if settings.languages:
        articles, other = extract.without_other_languages(articles, settings.languages)
        rejects = rejects + other
    if settings.respect_tdm:
        articles, reserved = rights.without_reserved(articles)
        rejects = rejects + reserved
    return articles, rejects


def start_validation_warm_up() -> None:
    """Import Great Expectations (~3 s of one core) on a thread while worker processes extract.

    The main process only waits for the workers then, so the import costs no wall time; with
    in-process extraction the two would just take turns, so it is not started for small batches.
    """
    if not any(thread.name == VALIDATION_WARM_UP_THREAD for thread in threading.enumerate()):
        threading.Thread(target=warm_up_validation, name=VALIDATION_WARM_UP_THREAD, daemon=True).start()


def warm_up_validation() -> None:
    from newsdag.expectations.validate import warm_up

    warm_up()


def validate_batch(articles: Sequence[Article], settings: Settings) -> Validation:
    """The articles that load, rejects, flags and each expectation's counts: a row that is not an article is
    rejected; an article with a doubtful value loads, flagged, with an impossible value left out
    (expectations/validate.py)."""
    if not articles:
        return Validation()
    from newsdag.expectations.validate import validation_of  # Great Expectations costs ~2 s to import

    return validation_of(
        articles,
        min_words=settings.min_words,
        earliest=settings.earliest_date,
        latest=datetime.now(UTC) + timedelta(hours=settings.future_skew_hours),
    )


def write_prepared(
    connection: duckdb.DuckDBPyConnection,
    run_id: str,
    settings: Settings,
    batch: PreparedBatch,
    articles: Sequence[Article],
    rejects: Sequence[Reject],
    flags: Sequence[Flag] = (),
    validation: Validation | None = None,
) -> BatchCounts:
    """Write the batch's documents (their bytes are archived already, see gather_batch), `articles` (with
    their `flags`), `rejects` and what each expectation found (`validation`) in one transaction.

    The bytes of a page rejected for its reserved TDM rights leave the archive first, when this run put
    them there (a run without --respect-tdm may have archived the same bytes before; they stay): with
    --respect-tdm its text is stored nowhere."""
    reserved = {reject.doc_id for reject in rejects if reject.rule == rights.TDM_RESERVED_RULE}
    load.unarchive_documents(reserved & batch.archived, settings.archive_path)
    return load.write_batch(
        connection,
        run_id,
        documents=batch.documents,
        articles=articles,
        rejects=rejects,
        flags=flags,
        unchanged=batch.unchanged,
        not_modified=batch.fetched.not_modified,
        fetches=batch.fetched.records,
        site_rights=batch.fetched.site_rights,
        warc=batch.warc,
        validation=validation.results if validation else (),
        keys=key_index(settings.db_path),
    )


def batched(items: Iterable[WorkItem], settings: Settings) -> Iterator[list[WorkItem]]:
    """Batches of `batch_size` pages (files, URLs) and of `line_batch_size` JSONL lines holding at most
    `line_batch_bytes`. Pages and lines fill batches of their own, each in the order given, so pages and
    small dumps side by side in a directory still make full batches.

    A line is one small record: what a batch costs besides its articles (validation's setup, database
    connections, a flow run's task runs) is paid per batch, so lines come many to a batch.
    """
    pages: list[WorkItem] = []
    lines: list[WorkItem] = []
    line_bytes = 0
    for item in items:
        if item.line is None:
            pages.append(item)
            if len(pages) >= settings.batch_size:
                yield pages
                pages = []
            continue
        # A line over max_file_bytes is rejected unread: it holds no memory.
        size = item.line.length if item.line.length <= settings.max_file_bytes else 0
        if lines and line_bytes + size > settings.line_batch_bytes:
            yield lines
            lines, line_bytes = [], 0
        lines.append(item)
        line_bytes += size
        if len(lines) >= settings.line_batch_size:
            yield lines
            lines, line_bytes = [], 0
    yield from (batch for batch in (pages, lines) if batch)


class Listing:
    """A run's work items as a stream: the local inputs as discovery walks them, then the web's links.

    It knows how many it has handed out (`listed`) and, for progress, the `total`: counted by a pass of
    its own over the same inputs on a thread (a dump of ten million lines takes it ~2 s, bench/big_inputs.py)
    while the first batches are already loading; exact once the stream has ended.
    """

    def __init__(self, paths: Iterator[WorkItem], count: Callable[[threading.Event], int | None] | None) -> None:
        self.paths = paths
        self.links: list[WorkItem] = []
        self.listed = 0
        self.ended = False
        self.counted: int | None = None if count is not None else 0
        self.stop = threading.Event()
        # WARC files left to the Dask cluster whole (archive_steps), read there after the listed items.
        self.archives: list[str] = []
        if count is not None:
            threading.Thread(target=self.count_with, args=(count,), name="newsdag-count", daemon=True).start()

    @classmethod
    def of_paths(cls, request: IngestRequest, settings: Settings) -> Listing:
        """The request's local inputs, WARC files read record by record (archive_steps); InputError now,
        before the run is recorded, if one names nothing."""
        warc_files = listed_warc_files(request)
        if not request.paths and not warc_files:
            return cls(iter(()), None)
        paths: Iterator[WorkItem] = iter(())
        if request.paths:
            paths = discover.discover_paths(request.paths, source=request.source, skip=settings.warehouse_files)

        def count(stop: threading.Event) -> int | None:
            return discover.count_work_items(request.paths, skip=settings.warehouse_files, stop=stop)

        archives: list[str] = []
        listing = cls(archive_steps(paths, warc_files, request, settings, archives), None if warc_files else count)
        listing.archives = archives
        return listing

    def count_with(self, count: Callable[[threading.Event], int | None]) -> None:
        self.counted = count(self.stop)

    def add_links(self, links: Sequence[WorkItem]) -> None:
        """Page URLs from the web's discovery, listed after the local inputs."""
        self.links.extend(links)

    @property
    def total(self) -> int | None:
        if self.ended:
            return self.listed
        if self.counted is None:
            return None
        # The inputs may have changed since they were counted: never fewer than were listed.
        return max(self.counted + len(self.links), self.listed)

    def __iter__(self) -> Iterator[WorkItem]:
        for item in itertools.chain(self.paths, self.links):
            self.listed += 1
            yield item
        self.ended = True

    def close(self) -> None:
        """Stop the count if it still runs (a run that ends early)."""
        self.stop.set()


def listed_warc_files(request: IngestRequest) -> list[str]:
    """The WARC files the request's WARC lists name (paths and URLs), each once; InputError for a list that
    cannot be read. A line naming no archive file is skipped with a warning (a list of thousands of files
    should not fail on one)."""
    files: dict[str, None] = {}
    for name in request.warc_lists:
        path = Path(name)
        try:
            text = warc.read_warc_list(path)
        except OSError as error:
            raise InputError(f"cannot read the WARC list: {error.strerror or error}", subject=name) from None
        entries, bad = warc.parse_warc_list(text, name, path.parent)
        for reject in bad:
            logger.warning("%s: %s", reject.input, reject.detail)
        files.update(dict.fromkeys(entries))
    return list(files)


def warc_rules(request: IngestRequest, settings: Settings) -> WarcRules:
    return WarcRules(
        domains=request.allow_domains,
        since=request.since,
        until=request.until,
        max_record_bytes=settings.max_fetch_bytes,
        max_decompressed_bytes=settings.max_decompressed_bytes,
    )


def archive_steps(
    items: Iterator[WorkItem],
    warc_files: Sequence[str],
    request: IngestRequest,
    settings: Settings,
    to_cluster: list[str],
) -> Iterator[WorkItem]:
    """The work items, with each WARC or ARC file among them replaced by its steps (tasks/warc.py: one item
    per HTML response record or broken part, read as the batches need them), then the files of the WARC
    lists. Each file is read from where the warehouse says the last run stopped; a file named twice, once.
    With a Dask cluster, the files go to `to_cluster` instead, to be read there whole (run_archives)."""
    rules = warc_rules(request, settings)
    remote = any("://" in name for name in warc_files) and not settings.dask_address
    fetcher = fetch.Fetcher(fetch_policy(settings)) if remote else None
    read: set[str] = set()

    def steps(name: str, archive: Callable[[], warc.ArchiveSource]) -> Iterator[WorkItem]:
        if name in read:
            return iter(())
        read.add(name)
        if settings.dask_address:
            to_cluster.append(name)
            return iter(())
        return warc.archive_items(archive(), rules, source=request.source, resume=warc_resume(name, settings))

    try:
        for item in items:
            if item.kind == "file" and item.line is None and warc.is_archive(item.location):
                path = Path(item.location)
                yield from steps(str(path.resolve()), lambda path=path: warc.LocalArchive(path))
            else:
                yield item
        for name in warc_files:
            if name.lower().startswith(("http://", "https://")):
                yield from steps(name, lambda name=name: warc.RemoteArchive(name, fetcher))  # type: ignore[misc, arg-type]
            else:
                yield from steps(str(Path(name).resolve()), lambda name=name: warc.LocalArchive(Path(name)))  # type: ignore[misc]
    finally:
        if fetcher is not None:
            fetcher.close()


def warc_resume(name: str, settings: Settings) -> WarcResume | None:
    if not Path(settings.db_path).exists():
        return None
    with open_warehouse(settings) as connection:
        return load.find_warc_resume(connection, [name]).get(name)


def new_run_id(now: datetime) -> str:
    """Sortable by start time, unique across processes."""
    return f"{now:%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:6]}"


@dataclass(frozen=True)
class IngestTasks:
    """What a run calls, each on a whole batch: plain functions here, Prefect tasks in flows/ingest.py.

    Each groups the steps one thread does with a batch in turn (gather: read or fetch, then find what is
    unchanged; load: validate, write, cluster), so a batch of 200 pages is three task runs, not six: a
    task run costs tens of ms of CPU between the client and a local server (bench/results.md, section 5).
    Every step inside is still timed on its own by the run's StepClock (`seconds_by_step`). `cluster` is
    called once at a run's end, when no batch loaded anything.
    """

    discover: Callable[[str, IngestRequest, Settings, StepClock], tuple[list[WorkItem], list[Reject]]]
    gather: Callable[[str, Sequence[WorkItem], Settings, StepClock], GatheredBatch]
    extract: Callable[[Sequence[RawDocument], Settings, StepClock], tuple[list[Article], list[Reject]]]
    load: Callable[[str, PreparedBatch, Settings, StepClock], BatchCounts]
    cluster: Callable[[str, Settings, StepClock], stories.ClusterCounts]


def run_ingest(
    request: IngestRequest,
    settings: Settings,
    *,
    trigger: str = "cli",
    flow_run_id: str | None = None,
    tasks: IngestTasks | None = None,
    run_id: str | None = None,
    progress: ProgressListener | None = None,
) -> dict[str, Any]:
    """The body of the ingest flow: every input ends as an article, an unchanged article, or a reject.
    `run_id`: one chosen by the caller (a flow run named after it), else a new one. `progress` is told
    the counts after discovery and after each batch."""
    report: ProgressListener = progress or ignore_progress
    tasks = tasks or PLAIN_TASKS
    if request.respect_tdm and not settings.respect_tdm:  # --respect-tdm, or a source that asks for it
        settings = replace(settings, respect_tdm=True)
    if request.languages:  # --language: extraction keeps articles in these languages only
        settings = replace(settings, languages=request.languages)
    share_malloc_arenas()
    started_at = datetime.now(UTC)
    run = load.RunRecord(
        run_id=run_id or new_run_id(started_at),
        trigger=trigger,
        source=request.source,
        inputs=request.inputs,
        started_at=started_at,
        flow_run_id=flow_run_id,
    )
    # Local inputs are checked before the run is recorded: a typo fails the command, not a run.
    items = Listing.of_paths(request, settings)
    with open_warehouse(settings) as connection:
        load.start_run(connection, run)
    faults.fault_point("run-started")
    load.remove_stale_partials(settings.archive_path)  # what a killed run left half-written
    counts: Counter[str] = Counter(dict.fromkeys(COUNT_NAMES, 0))
    flags_by_rule: Counter[str] = Counter()
    status, error = "completed", None
    clock = StepClock()
    try:
        discover_rejects: list[Reject] = []
        if request.urls or request.url_files or request.feeds or request.sitemaps:
            links, discover_rejects = tasks.discover(run.run_id, request, settings, clock)
            items.add_links(links)
            if discover_rejects:
                written = tasks.load(run.run_id, PreparedBatch.of_rejects(discover_rejects), settings, clock)
                counts["rejected"] += written.rejected
        report(Progress(run.run_id, items.total, 0, dict(counts)))
        run_batches(run, items, settings, counts, flags_by_rule, tasks, clock, report)
        counts["discovered"] = items.listed
        if items.archives:
            run_archives(run, items.archives, request, settings, counts, flags_by_rule, tasks, clock, report)
        if not (counts["loaded"] or counts["updated"]):
            # No batch clustered, but articles may wait from before: a cluster step that failed, or a
            # migration that dropped their signatures. Cheap when none is pending.
            tasks.cluster(run.run_id, settings, clock)
        if items.listed and counts["failed"] == items.listed:
            status, error = "failed", "every URL failed to fetch; see the view fetch_failures_by_host"
        elif not items.listed and discover_rejects:
            status, error = "failed", "no page found: every feed or sitemap failed; see the rejects table"
    except BaseException as failure:
        status, error = "failed", f"{type(failure).__name__}: {failure}"
        raise
    finally:
        items.close()
        extract_pool.shutdown_pools()
        scaleout.close_clients()
        fetch.close_fetcher(run.run_id)
        close_key_indexes()
        finish_quietly(settings, run.run_id, status, dict(counts), error)
    logger.info("run %s %s: %s", run.run_id, status, dict(counts))
    alerts = judge_drift(settings, run.run_id)
    return {
        "run_id": run.run_id,
        "status": status,
        "error": error,
        **counts,
        "flags_by_rule": dict(flags_by_rule.most_common()),
        "seconds_by_step": clock.summary(),
        "alerts": [asdict(alert) for alert in alerts],
    }


def judge_drift(settings: Settings, run_id: str) -> list[Alert]:
    """The run's figures against its source's baseline (tasks/health.py): the alerts raised, also recorded in
    `source_alerts`. A database that stays locked costs the check, never the run: the next run judges again."""
    try:
        with open_warehouse(settings) as connection:
            return health.record_drift(connection, run_id, settings.drift_policy, datetime.now(UTC))
    except (WarehouseError, duckdb.Error) as error:
        logger.warning("run %s: drift not judged: %s", run_id, error)
        return []


def share_malloc_arenas() -> None:
    """Cap glibc's malloc arenas at MALLOC_ARENAS for this process, unless MALLOC_ARENA_MAX says otherwise;
    nothing where malloc is not glibc's (macOS has no mallopt; musl's ignores it)."""
    if "MALLOC_ARENA_MAX" in os.environ:
        return
    mallopt = getattr(ctypes.CDLL(None), "mallopt", None)
    if mallopt is not None:
        mallopt(M_ARENA_MAX, MALLOC_ARENAS)


class StepClock:
    """Wall seconds per step over a run (`seconds_by_step` in the summary): where the time goes.

    Steps of consecutive batches overlap (see run_batches), so the sum can exceed the run's wall time.
    """

    def __init__(self) -> None:
        self.seconds: Counter[str] = Counter()
        self.calls: Counter[str] = Counter()
        self.lock = threading.Lock()

    def __call__(self, name: str, step: Callable[..., T], *args: Any) -> T:
        with self.timing(name):
            return step(*args)

    @contextmanager
    def timing(self, name: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            with self.lock:
                self.seconds[name] += time.perf_counter() - started
                self.calls[name] += 1

    def summary(self) -> dict[str, float]:
        return {name: round(seconds, 3) for name, seconds in self.seconds.items()}

    def overhead_of(self, outer: StepClock) -> dict[str, float]:
        """What wrapping cost, given the same calls timed from outside (this clock timed their bodies)."""
        task_runs = sum(self.calls.values())
        seconds = max(0.0, sum(outer.seconds.values()) - sum(self.seconds.values()))
        per_task_run = seconds / task_runs if task_runs else 0.0
        return {"task_runs": task_runs, "seconds": round(seconds, 3), "ms_per_task_run": round(per_task_run * 1000, 2)}


@dataclass(frozen=True)
class GatheredBatch:
    """A batch read or fetched and sorted: `fresh` documents to extract, the rest known already; every
    document without its bytes, which are in the archive (see gather_batch)."""

    size: int
    documents: list[RawDocument]
    fetched: FetchBatch
    fresh: list[RawDocument]
    unchanged: list[RawDocument | NotModified]
    rejects: list[Reject]
    # The documents whose bytes this batch put in the archive (not there before).
    archived: frozenset[str] = frozenset()
    warc: list[WarcProgress] = field(default_factory=list)

    def prepared(self, articles: list[Article], extract_rejects: list[Reject]) -> PreparedBatch:
        return PreparedBatch(
            self.size,
            self.documents,
            self.fetched,
            self.unchanged,
            articles,
            self.rejects + extract_rejects,
            self.archived,
            self.warc,
        )


@dataclass(frozen=True)
class PreparedBatch:
    """A batch read or fetched and extracted, waiting to be validated and loaded."""

    size: int
    documents: list[RawDocument]
    fetched: FetchBatch
    unchanged: list[RawDocument | NotModified]
    articles: list[Article]
    rejects: list[Reject]
    archived: frozenset[str] = frozenset()
    # Where reading each WARC file of the batch resumes after it, committed with it.
    warc: list[WarcProgress] = field(default_factory=list)

    @classmethod
    def of_rejects(cls, rejects: list[Reject]) -> PreparedBatch:
        """A batch of rejects alone (feeds or sitemaps that failed at discovery), to be written."""
        return cls(0, [], FetchBatch(), [], [], rejects)


# Batches in flight: one being extracted while the next is read (or fetched) and sorted, so the
# extraction workers go from batch to batch without waiting for files, the network or the database.
BATCHES_AHEAD = 2


def run_batches(
    run: load.RunRecord,
    items: Listing,
    settings: Settings,
    counts: Counter[str],
    flags_by_rule: Counter[str],
    tasks: IngestTasks,
    clock: StepClock,
    report: ProgressListener,
) -> None:
    """Every batch through three threads at once: one reads or fetches batch k+2 and finds what is
    unchanged, one extracts batch k+1, and this one validates, loads and clusters batch k.

    Batches are cut from the listing as they are needed (on this thread), so the first is read while
    discovery has listed little more than it.
    """
    batches = batched(items, settings)
    gathering = ThreadPoolExecutor(max_workers=1, thread_name_prefix="newsdag-gather")
    extracting = ThreadPoolExecutor(max_workers=1, thread_name_prefix="newsdag-extract")

    def extract_when_gathered(gathered: Future[GatheredBatch]) -> PreparedBatch:
        batch = gathered.result()
        articles, rejects = tasks.extract(batch.fresh, settings, clock) if batch.fresh else ([], [])
        return batch.prepared(articles, rejects)

    def prepare_next() -> Future[PreparedBatch] | None:
        batch = next(batches, None)
        if batch is None:
            return None
        # A Prefect task run needs the flow run's context, on whatever thread it runs.
        gathered = gathering.submit(contextvars.copy_context().run, tasks.gather, run.run_id, batch, settings, clock)
        return extracting.submit(contextvars.copy_context().run, extract_when_gathered, gathered)

    # The workers start at the first batch with something to extract: a run whose pages are all unchanged
    # starts none (starting them, the forkserver's imports included, took ~1.5 s it then waited for).
    done = 0
    try:
        in_flight = deque(future for future in (prepare_next() for _ in range(BATCHES_AHEAD)) if future)
        while in_flight:
            prepared = in_flight.popleft().result()
            if (following := prepare_next()) is not None:
                in_flight.append(following)
            written = tasks.load(run.run_id, prepared, settings, clock)
            add_counts(counts, prepared, written)
            flags_by_rule.update(written.flags_by_rule)
            done += prepared.size
            counts["discovered"] = items.listed
            report(Progress(run.run_id, items.total, done, dict(counts)))
    finally:
        for pool in (gathering, extracting):
            pool.shutdown(wait=False, cancel_futures=True)


def run_archives(
    run: load.RunRecord,
    files: Sequence[str],
    request: IngestRequest,
    settings: Settings,
    counts: Counter[str],
    flags_by_rule: Counter[str],
    tasks: IngestTasks,
    clock: StepClock,
    report: ProgressListener,
) -> None:
    """WARC files read whole on the Dask cluster (tasks/scaleout.py): each segment a worker sends back (read,
    filtered and extracted there) is validated and loaded here, by the one writer, with the point reading its
    file resumes at, as a batch of a local read would be."""
    assert settings.dask_address is not None
    policy = fetch_policy(settings)
    rules = warc_rules(request, settings)
    jobs = [scaleout.ArchiveJob(name, rules, request.source, policy, settings.batch_size) for name in files]
    done = 0
    segments = scaleout.read_archives_on_dask(jobs, lambda name: warc_resume(name, settings), settings.dask_address)
    for segment in segments:
        articles, rejects = kept_articles(list(segment.articles), list(segment.rejects), settings)
        progress = [segment.progress] if segment.progress is not None else []
        batch = PreparedBatch(
            segment.steps, list(segment.documents), FetchBatch(), [], articles, rejects, warc=progress
        )
        written = tasks.load(run.run_id, batch, settings, clock)
        add_counts(counts, batch, written)
        flags_by_rule.update(written.flags_by_rule)
        done += segment.steps
        counts["discovered"] += segment.steps
        report(Progress(run.run_id, None, done, dict(counts)))


def discover_inputs(
    run_id: str, request: IngestRequest, settings: Settings, clock: StepClock
) -> tuple[list[WorkItem], list[Reject]]:
    return clock("discover", discover_links, run_id, request, settings)


def gather_batch(run_id: str, items: Sequence[WorkItem], settings: Settings, clock: StepClock) -> GatheredBatch:
    """Read the batch's files and fetch its URLs, archive their bytes, then sort out what earlier runs
    loaded already.

    The bytes are archived here, and the batch keeps its documents without them: the workers read them
    back from the archive (extract_batch), the other steps need only their number. With three batches in
    flight the ingest process held three batches of page bytes (~40 MB per 200 pages of the bench corpus
    each); now it holds one batch's only while reading it (bench/results.md, section 4). A run stopped
    before the batch's load leaves its bytes archived with no documents row, as a failed load always did:
    harmless, since the archive is addressed by content.

    A step with nothing to do is not called (no fetch for a batch of files, no look-up when nothing was
    read): each would open the database or show as an empty step in `seconds_by_step`.
    """
    files = [item for item in items if item.kind == "file"]
    urls = [item for item in items if item.kind == "url"]
    steps = [item for item in items if item.kind == "warc"]
    documents, unchanged_files, read_rejects = clock("read", read_batch, files, settings) if files else ([], [], [])
    progress: list[WarcProgress] = []
    if steps:
        records, record_rejects, progress = clock("read", warc.read_steps, steps, settings.max_decompressed_bytes)
        documents.extend(records)
        read_rejects.extend(record_rejects)
    fetched = clock("fetch", fetch_batch, run_id, urls, settings) if urls else FetchBatch()
    documents.extend(fetched.documents)
    archived: frozenset[str] = frozenset()
    if documents:
        archived = frozenset(clock("archive", load.archive_documents, documents, settings.archive_path))
        # A WARC record keeps its bytes: it is not copied into the archive (its file holds it).
        documents = [document if document.warc else document.without_content() for document in documents]
        fetched = replace(fetched, documents=())  # the same documents, in `documents` now
    fresh, unchanged, repeated_rejects = (
        clock("find_unchanged", split_unchanged, documents, settings) if documents else ([], [], [])
    )
    rejects = read_rejects + list(fetched.rejects) + repeated_rejects
    return GatheredBatch(
        len(items), documents, fetched, fresh, [*unchanged, *unchanged_files], rejects, archived, progress
    )


def extract_documents(
    documents: Sequence[RawDocument], settings: Settings, clock: StepClock
) -> tuple[list[Article], list[Reject]]:
    return clock("extract", extract_batch, documents, settings)


def load_batch(run_id: str, batch: PreparedBatch, settings: Settings, clock: StepClock) -> BatchCounts:
    """Validate the batch's articles, write the batch in one transaction, then cluster what it added or
    changed (transactions of their own: if clustering fails, those articles stay pending for the next
    run's cluster step), all over one connection: each open (migration check) and close (checkpoint) of
    the file costs tens of ms.

    One task. It is retried only on a transient error, which only opening the file raises (WarehouseBusy,
    before anything is written); the retry validates again, which is deterministic and writes nothing.
    """
    validation = clock("validate", validate_batch, batch.articles, settings) if batch.articles else Validation()
    with ExitStack() as database:
        with clock.timing("load"):
            connection = database.enter_context(open_warehouse(settings))
            rejects = batch.rejects + list(validation.rejects)
            written = write_prepared(
                connection, run_id, settings, batch, validation.articles, rejects, validation.flags, validation
            )
        if written.loaded or written.updated:
            clock("cluster", stories.cluster_pending, connection, run_id)
    return written


def cluster_pending(run_id: str, settings: Settings, clock: StepClock) -> stories.ClusterCounts:
    """Cluster articles an earlier run left pending (a cluster step that failed, a migration)."""
    with clock.timing("cluster"), open_warehouse(settings) as connection:
        return stories.cluster_pending(connection, run_id)


PLAIN_TASKS = IngestTasks(
    discover=discover_inputs,
    gather=gather_batch,
    extract=extract_documents,
    load=load_batch,
    cluster=cluster_pending,
)


def add_counts(counts: Counter[str], batch: PreparedBatch, written: BatchCounts) -> None:
    fetched = batch.fetched
    counts["fetched"] += len(batch.documents)
    counts["not_modified"] += len(fetched.not_modified)
    counts["failed"] += sum(1 for record in fetched.records if record.outcome == "failed")
    counts["extracted"] += len(batch.articles)
    counts["loaded"] += written.loaded
    counts["updated"] += written.updated
    counts["unchanged"] += written.unchanged
    counts["rejected"] += written.rejected
    counts["flagged"] += written.flagged
    counts["skipped"] += sum(count for progress in batch.warc for _, count in progress.skipped)


def finish_quietly(settings: Settings, run_id: str, status: str, counts: dict[str, int], error: str | None) -> None:
    """Record the run's end; if even that fails, the next run will find it and mark it crashed."""
    try:
        with open_warehouse(settings) as connection:
            load.finish_run(connection, run_id, status=status, counts=counts, error=error)
    except Exception:  # the original failure, if any, is what the user must see
        logger.exception("could not record the end of run %s", run_id)


def export_warehouse(settings: Settings, directory: Path, options: export.ExportOptions | None = None) -> ExportSummary:
    """The export after each completed run of `newsdag serve --export DIR` (flows/ingest.py's `export` task):
    what the warehouse holds and `directory` lacks, on read-only connections of export_chunk_rows rows each.
    (`newsdag export` calls tasks.export itself, without this module's imports.)"""
    return export.export_warehouse(
        Path(settings.db_path),
        directory,
        options or export.ExportOptions(),
        chunk_rows=settings.export_chunk_rows,
        lock_timeout_seconds=settings.lock_timeout_seconds,
    )
