"""The ingest run without Prefect: discover -> read -> extract -> validate -> load, batch by batch.

flows/ingest.py wraps each step as a Prefect task; `newsdag ingest` without a Prefect server calls
`run_ingest` with the plain steps, so both paths run the same code.
"""

from __future__ import annotations

import logging
import threading
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
VALIDATION_WARM_UP_THREAD = "newsdag-validation-warm-up"
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
) -> tuple[list[RawDocument], list[RawDocument], list[Reject]]:
    """(to extract, unchanged, repeated rejects): bytes an earlier run already read from the same place
    are not extracted again; they are unchanged articles, or the same reject as last time."""
    if not Path(settings.db_path).exists() or not documents:
        return list(documents), [], []
    with connect(Path(settings.db_path), read_only=True, wait_seconds=settings.lock_timeout_seconds) as connection:
        seen = load.find_seen(connection, documents)
    fresh, unchanged, rejects = [], [], []
    for document in documents:
        if (document.doc_id, document.url) in seen.loaded:
            unchanged.append(document)
        elif (document.doc_id, document.input) in seen.rejects:
            rejects.append(seen.rejects[(document.doc_id, document.input)])
        else:
            fresh.append(document)
    return fresh, unchanged, rejects


def extract_batch(documents: Sequence[RawDocument], settings: Settings) -> tuple[list[Article], list[Reject]]:
    if settings.workers > 1 and len(documents) >= settings.parallel_min_docs:
        start_validation_warm_up()
    results = extract.extract_batch(
        documents,
        workers=settings.workers,
        parallel_min_docs=settings.parallel_min_docs,
        timeout_seconds=settings.extract_timeout_seconds,
    )
    articles = [result for result in results if isinstance(result, Article)]
    return articles, [result for result in results if isinstance(result, Reject)]


def start_validation_warm_up() -> None:
    """Import Great Expectations (~3 s of one core) on a thread while worker processes extract.

    The main process only waits for the workers then, so the import costs no wall time; with
    in-process extraction the two would just take turns, so it is not started for small batches.
    """
    if not any(thread.name == VALIDATION_WARM_UP_THREAD for thread in threading.enumerate()):
        threading.Thread(target=warm_up_validation, name=VALIDATION_WARM_UP_THREAD, daemon=True).start()


def warm_up_validation() -> None:
    from expectations.validate import warm_up

    warm_up()


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
    split_unchanged: Callable[..., tuple[list[RawDocument], list[RawDocument], list[Reject]]] = split_unchanged
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
    fresh, unchanged, repeated_rejects = steps.split_unchanged(documents, settings)
    articles, extract_rejects = steps.extract(fresh, settings)
    passed, validate_rejects = steps.validate(articles, settings)
    rejects = read_rejects + repeated_rejects + extract_rejects + validate_rejects
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
