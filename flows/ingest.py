"""The ingest flow: discover -> load -> extract -> validate -> load into DuckDB, in batches."""

from __future__ import annotations

import logging
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import islice
from pathlib import Path
from typing import Any, TypeVar

from prefect import flow, task
from prefect.cache_policies import NO_CACHE
from prefect.context import FlowRunContext

from flows.settings import Settings
from tasks import discover, extract, load, loaders
from tasks.models import Article, BatchCounts, RawDocument, Reject, WorkItem
from warehouse.db import connect

logger = logging.getLogger("newsdag")
T = TypeVar("T")

COUNT_NAMES = (
    "discovered",
    "fetched",
    "not_modified",
    "extracted",
    "loaded",
    "updated",
    "unchanged",
    "rejected",
    "failed",
)


@dataclass(frozen=True)
class Progress:
    """What a run has done so far; sent to listeners after discovery and after each batch."""

    run_id: str
    total: int
    done: int
    counts: dict[str, int]


ProgressListener = Callable[[Progress], None]
# The CLI registers a listener here to draw its progress bar; flows never print.
PROGRESS_LISTENERS: list[ProgressListener] = []


def report(progress: Progress) -> None:
    for listener in PROGRESS_LISTENERS:
        listener(progress)


def run_step(step: Any, *args: Any, **kwargs: Any) -> Any:
    """Call a task: as a Prefect task run inside an orchestrated flow run, as a plain function otherwise."""
    if FlowRunContext.get() is None:
        return step.fn(*args, **kwargs)
    return step(*args, **kwargs)


# Tasks take whole batches: a task run costs milliseconds of orchestration, an article must not.
# NO_CACHE: inputs are large byte strings; hashing them for a cache key would cost more than the work.


@task(name="read-files", cache_policy=NO_CACHE)
def read_batch(items: Sequence[WorkItem], settings: Settings) -> tuple[list[RawDocument], list[Reject]]:
    documents: list[RawDocument] = []
    rejects: list[Reject] = []
    for item in items:
        for result in loaders.load_documents(
            item,
            max_file_bytes=settings.max_file_bytes,
            max_decompressed_bytes=settings.max_decompressed_bytes,
        ):
            (rejects if isinstance(result, Reject) else documents).append(result)
    return documents, rejects


@task(name="find-unchanged", cache_policy=NO_CACHE)
def split_unchanged(
    documents: Sequence[RawDocument], settings: Settings
) -> tuple[list[RawDocument], list[RawDocument]]:
    """(to extract, unchanged): documents whose bytes were already loaded from the same address skip extraction."""
    if not Path(settings.db_path).exists() or not documents:
        return list(documents), []
    with connect(Path(settings.db_path), wait_seconds=settings.lock_timeout_seconds) as connection:
        known = load.find_unchanged(connection, documents)
    fresh = [d for d in documents if (d.doc_id, d.url) not in known]
    return fresh, [d for d in documents if (d.doc_id, d.url) in known]


@task(name="extract", cache_policy=NO_CACHE)
def extract_batch(documents: Sequence[RawDocument], settings: Settings) -> tuple[list[Article], list[Reject]]:
    results = extract.extract_batch(documents, workers=settings.workers, parallel_min_docs=settings.parallel_min_docs)
    articles = [result for result in results if isinstance(result, Article)]
    return articles, [result for result in results if isinstance(result, Reject)]


@task(name="validate", cache_policy=NO_CACHE)
def validate_batch(articles: Sequence[Article], settings: Settings) -> tuple[list[Article], list[Reject]]:
    if not articles:
        return [], []
    from expectations.validate import validate_articles  # Great Expectations costs ~2 s to import

    return validate_articles(
        articles,
        min_words=settings.min_words,
        earliest=settings.earliest_date,
        latest=datetime.now(UTC) + timedelta(hours=settings.future_skew_hours),
    )


@task(name="load", cache_policy=NO_CACHE)
def write_batch(
    run_id: str,
    settings: Settings,
    documents: Sequence[RawDocument],
    articles: Sequence[Article],
    rejects: Sequence[Reject],
    unchanged: Sequence[RawDocument],
) -> BatchCounts:
    load.archive_documents(documents, settings.archive_path)
    with connect(Path(settings.db_path), wait_seconds=settings.lock_timeout_seconds) as connection:
        return load.write_batch(
            connection, run_id, documents=documents, articles=articles, rejects=rejects, unchanged=unchanged
        )


def batched(items: Sequence[T], size: int) -> Iterator[list[T]]:
    iterator = iter(items)
    while batch := list(islice(iterator, size)):
        yield batch


def new_run_id(now: datetime) -> str:
    """Sortable by start time, unique across processes."""
    return f"{now:%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:6]}"


@flow(name="ingest", persist_result=False, log_prints=False)
def ingest_flow(
    inputs: list[str],
    db: str | None = None,
    workers: int | None = None,
    source: str = "cli",
    trigger: str = "manual",
) -> dict[str, Any]:
    """Ingest local files, directories or globs into the warehouse; returns the run id, status and counts."""
    settings = Settings.from_env(db_path=Path(db) if db else None, workers=workers)
    context = FlowRunContext.get()
    flow_run_id = str(context.flow_run.id) if context and context.flow_run else None
    return run_ingest(inputs, settings, source=source, trigger=trigger, flow_run_id=flow_run_id)


def run_ingest(
    inputs: Sequence[str],
    settings: Settings,
    *,
    source: str = "cli",
    trigger: str = "cli",
    flow_run_id: str | None = None,
) -> dict[str, Any]:
    """The body of the ingest flow: every input ends as an article, an unchanged article, or a reject."""
    started_at = datetime.now(UTC)
    run = load.RunRecord(
        run_id=new_run_id(started_at),
        trigger=trigger,
        source=source,
        inputs=tuple(inputs),
        started_at=started_at,
        flow_run_id=flow_run_id,
    )
    items = list(discover.discover_paths(inputs, source=source))  # InputError before the run is recorded
    db_path = Path(settings.db_path)
    with connect(db_path, wait_seconds=settings.lock_timeout_seconds) as connection:
        load.start_run(connection, run)
    counts: Counter[str] = Counter(dict.fromkeys(COUNT_NAMES, 0))
    counts["discovered"] = len(items)
    report(Progress(run.run_id, len(items), 0, dict(counts)))
    status, error = "completed", None
    try:
        done = 0
        for items_batch in batched(items, settings.batch_size):
            ingest_batch(run.run_id, items_batch, settings, counts)
            done += len(items_batch)
            report(Progress(run.run_id, len(items), done, dict(counts)))
    except BaseException as failure:
        status, error = "failed", f"{type(failure).__name__}: {failure}"
        raise
    finally:
        extract.shutdown_pools()
        finish_quietly(db_path, settings, run.run_id, status, dict(counts), error)
    logger.info("run %s %s: %s", run.run_id, status, dict(counts))
    return {"run_id": run.run_id, "status": status, **counts}


def ingest_batch(run_id: str, items: Sequence[WorkItem], settings: Settings, counts: Counter[str]) -> None:
    documents, read_rejects = run_step(read_batch, items, settings)
    fresh, unchanged = run_step(split_unchanged, documents, settings)
    articles, extract_rejects = run_step(extract_batch, fresh, settings)
    passed, validate_rejects = run_step(validate_batch, articles, settings)
    rejects = read_rejects + extract_rejects + validate_rejects
    written: BatchCounts = run_step(write_batch, run_id, settings, documents, passed, rejects, unchanged)
    counts["fetched"] += len(documents)
    counts["extracted"] += len(articles)
    counts["loaded"] += written.loaded
    counts["updated"] += written.updated
    counts["unchanged"] += written.unchanged
    counts["rejected"] += written.rejected


def finish_quietly(
    db_path: Path, settings: Settings, run_id: str, status: str, counts: dict[str, int], error: str | None
) -> None:
    """Record the run's end; if even that fails, the next run will find it and mark it crashed."""
    try:
        with connect(db_path, wait_seconds=settings.lock_timeout_seconds) as connection:
            load.finish_run(connection, run_id, status=status, counts=counts, error=error)
    except Exception:  # the original failure, if any, is what the user must see
        logger.exception("could not record the end of run %s", run_id)
