"""The ingest run without Prefect: discover -> read -> extract -> validate -> load, batch by batch.

flows/ingest.py wraps each step as a Prefect task; `newsdag ingest` without a Prefect server calls
`run_ingest` with the plain steps, so both paths run the same code.
"""

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

from flows.settings import Settings
from tasks import discover, extract, load, loaders, stories
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


# Each step takes a whole batch: as a Prefect task a step costs milliseconds of orchestration,
# so it must never run once per article.


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


def extract_batch(documents: Sequence[RawDocument], settings: Settings) -> tuple[list[Article], list[Reject]]:
    results = extract.extract_batch(documents, workers=settings.workers, parallel_min_docs=settings.parallel_min_docs)
    articles = [result for result in results if isinstance(result, Article)]
    return articles, [result for result in results if isinstance(result, Reject)]


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


def cluster_batch(run_id: str, settings: Settings) -> stories.ClusterCounts:
    """Duplicates, near-duplicates and stories for the articles the last write added or changed."""
    with connect(Path(settings.db_path), wait_seconds=settings.lock_timeout_seconds) as connection:
        return stories.cluster_pending(connection, run_id)


def batched(items: Sequence[T], size: int) -> Iterator[list[T]]:
    iterator = iter(items)
    while batch := list(islice(iterator, size)):
        yield batch


def new_run_id(now: datetime) -> str:
    """Sortable by start time, unique across processes."""
    return f"{now:%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:6]}"


@dataclass(frozen=True)
class IngestSteps:
    """The steps of a run; plain functions here, Prefect tasks in flows/ingest.py."""

    read: Callable[..., tuple[list[RawDocument], list[Reject]]] = read_batch
    split_unchanged: Callable[..., tuple[list[RawDocument], list[RawDocument]]] = split_unchanged
    extract: Callable[..., tuple[list[Article], list[Reject]]] = extract_batch
    validate: Callable[..., tuple[list[Article], list[Reject]]] = validate_batch
    write: Callable[..., BatchCounts] = write_batch
    cluster: Callable[..., stories.ClusterCounts] = cluster_batch


PLAIN_STEPS = IngestSteps()


def run_ingest(
    inputs: Sequence[str],
    settings: Settings,
    *,
    source: str = "cli",
    trigger: str = "cli",
    flow_run_id: str | None = None,
    steps: IngestSteps = PLAIN_STEPS,
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
            ingest_batch(run.run_id, items_batch, settings, counts, steps)
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


def ingest_batch(
    run_id: str, items: Sequence[WorkItem], settings: Settings, counts: Counter[str], steps: IngestSteps
) -> None:
    documents, read_rejects = steps.read(items, settings)
    fresh, unchanged = steps.split_unchanged(documents, settings)
    articles, extract_rejects = steps.extract(fresh, settings)
    passed, validate_rejects = steps.validate(articles, settings)
    rejects = read_rejects + extract_rejects + validate_rejects
    written = steps.write(run_id, settings, documents, passed, rejects, unchanged)
    if written.loaded or written.updated:
        # Its own transaction after the load: a clustering failure leaves the articles pending, and the
        # next run's cluster step picks them up (pending = not clustered or text changed since).
        steps.cluster(run_id, settings)
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
